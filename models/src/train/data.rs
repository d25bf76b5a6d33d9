//! Seeded data sampling: random crops with flips, identical for an input and its target.

use candle_core::{Device, Result, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::ops;

/// Checks `img` is `[3, H, W]` and resizes it (bilinear) so its short side is at least `min`.
pub fn ensure_min_side(img: &Tensor, min: usize) -> Result<Tensor> {
    let (c, h, w) = img.dims3()?;
    if c != 3 {
        candle_core::bail!(
            "training images must be RGB [3, H, W], got {:?}",
            img.dims()
        );
    }
    let short = h.min(w);
    if short >= min {
        return Ok(img.clone());
    }
    let s = min as f64 / short as f64;
    let (nh, nw) = (
        ((h as f64 * s).ceil() as usize).max(min),
        ((w as f64 * s).ceil() as usize).max(min),
    );
    ops::upsample_bilinear2d(&img.unsqueeze(0)?, nh, nw, false)?.squeeze(0)
}

/// Resizes `img` `[3, H, W]` (bilinear) so its short side is exactly `side`.
pub fn resize_short_side(img: &Tensor, side: usize) -> Result<Tensor> {
    let (_, h, w) = img.dims3()?;
    let s = side as f64 / h.min(w) as f64;
    let (nh, nw) = (
        ((h as f64 * s).round() as usize).max(side),
        ((w as f64 * s).round() as usize).max(side),
    );
    ops::upsample_bilinear2d(&img.unsqueeze(0)?, nh, nw, false)?.squeeze(0)
}

/// Where one crop comes from.
#[derive(Debug, Clone, Copy)]
pub struct CropSpec {
    pub image: usize,
    pub y: usize,
    pub x: usize,
    pub hflip: bool,
    pub vflip: bool,
}

/// Draws `batch` crop positions of `crop`×`crop` over `sizes` (H, W per image).
pub fn draw_crops(
    rng: &mut ChaCha8Rng,
    sizes: &[(usize, usize)],
    crop: usize,
    batch: usize,
    vflip: bool,
) -> Vec<CropSpec> {
    (0..batch)
        .map(|_| {
            let image = rng.gen_range(0..sizes.len());
            let (h, w) = sizes[image];
            CropSpec {
                image,
                y: rng.gen_range(0..=h - crop),
                x: rng.gen_range(0..=w - crop),
                hflip: rng.gen_bool(0.5),
                vflip: vflip && rng.gen_bool(0.5),
            }
        })
        .collect()
}

fn flip(t: &Tensor, dim: usize) -> Result<Tensor> {
    let n = t.dim(dim)?;
    let idx: Vec<u32> = (0..n as u32).rev().collect();
    t.index_select(&Tensor::new(idx, t.device())?, dim)
}

/// Cuts the crops out of `images` (each `[3, H, W]`) into one `[B, 3, crop, crop]` batch.
pub fn cut(images: &[Tensor], specs: &[CropSpec], crop: usize, device: &Device) -> Result<Tensor> {
    let mut out = Vec::with_capacity(specs.len());
    for s in specs {
        let mut t = images[s.image]
            .narrow(1, s.y, crop)?
            .narrow(2, s.x, crop)?
            .contiguous()?;
        if s.hflip {
            t = flip(&t, 2)?;
        }
        if s.vflip {
            t = flip(&t, 1)?;
        }
        out.push(t);
    }
    Tensor::stack(&out, 0)?.to_device(device)
}
