//! Training material: image files (folders, single files, frame patterns) and video files
//! (every frame, numbered from 1, decoded by FFmpeg through `wick-video`) loaded as tensors,
//! and seeded sampling of random crops with flips (identical for an input and its target).

use std::path::{Path, PathBuf};

use wick_common::pattern::FramePattern;

use candle_core::{DType, Device, Result, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::ops;
use crate::weights::ModelError;

/// Training material handed to a mode. Images are RGB 0..1 `[3, H, W]` tensors (any device).
/// The variants are shapes of material, shared by modes (see [`super::mode::DataKind`]).
pub enum TrainData {
    /// Inputs and their targets, same sizes pairwise.
    Pairs {
        inputs: Vec<Tensor>,
        targets: Vec<Tensor>,
    },
    /// One style image and content frames.
    Style { style: Tensor, content: Vec<Tensor> },
    /// Images for a generator.
    Images(Vec<Tensor>),
    /// Two sets not matched to each other (domain A, domain B), any counts and sizes.
    Unpaired { a: Vec<Tensor>, b: Vec<Tensor> },
}

impl TrainData {
    /// What the variant is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            TrainData::Pairs { .. } => "input/target pairs",
            TrainData::Style { .. } => "a style image and content frames",
            TrainData::Images(_) => "a set of images",
            TrainData::Unpaired { .. } => "two unpaired sets",
        }
    }
}

/// How images are brought to the crop size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Upscaled only where the short side is below the crop (image-to-image modes).
    AtLeast,
    /// Short side resized to exactly the crop (generators: a crop is most of the picture).
    ShortSide,
}

/// A set of training images (and optionally their matched targets) on the device, with their
/// sizes, from which seeded random crops are cut.
pub struct CropSet {
    pub images: Vec<Tensor>,
    pub targets: Vec<Tensor>,
    pub sizes: Vec<(usize, usize)>,
    pub crop: usize,
    pub batch: usize,
    pub vflip: bool,
    device: Device,
}

impl CropSet {
    /// Moves `images` (and `targets`, empty or one per image) to `device` as f32, fitted per
    /// `fit` to `crop`.
    pub fn new(
        images: Vec<Tensor>,
        targets: Vec<Tensor>,
        crop: usize,
        batch: usize,
        vflip: bool,
        fit: Fit,
        device: &Device,
    ) -> Result<Self> {
        let prep = |v: Vec<Tensor>| -> Result<Vec<Tensor>> {
            v.into_iter()
                .map(|t| {
                    let t = t.to_dtype(DType::F32)?.to_device(device)?.contiguous()?;
                    match fit {
                        Fit::ShortSide => resize_short_side(&t, crop),
                        Fit::AtLeast => ensure_min_side(&t, crop),
                    }
                })
                .collect()
        };
        let images = prep(images)?;
        let targets = prep(targets)?;
        let sizes = images
            .iter()
            .map(|t| Ok((t.dim(1)?, t.dim(2)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(CropSet {
            images,
            targets,
            sizes,
            crop,
            batch,
            vflip,
            device: device.clone(),
        })
    }

    /// Draws this batch's crop positions from `rng` (in a data-parallel step, the whole batch
    /// is drawn and this rank's share returned: [`super::dist::shard`]).
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> Vec<CropSpec> {
        super::dist::shard(draw_crops(
            rng,
            &self.sizes,
            self.crop,
            self.batch,
            self.vflip,
        ))
    }

    /// The image crops `[B, 3, crop, crop]`.
    pub fn cut(&self, specs: &[CropSpec]) -> Result<Tensor> {
        cut(&self.images, specs, self.crop, &self.device)
    }

    /// The matching target crops (the images again when there are no targets).
    pub fn cut_targets(&self, specs: &[CropSpec]) -> Result<Tensor> {
        if self.targets.is_empty() {
            self.cut(specs)
        } else {
            cut(&self.targets, specs, self.crop, &self.device)
        }
    }

    /// (inputs, targets) of one draw.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
        let specs = self.draw(rng);
        Ok((self.cut(&specs)?, self.cut_targets(&specs)?))
    }
}

// ---------------------------------------------------------------------------------------------
// Image files

/// File extensions read as training images.
pub const EXTS: [&str; 6] = ["png", "jpg", "jpeg", "tif", "tiff", "exr"];

/// Where one training image comes from: an image file, or frame `frame` (from 1) of a video.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Src {
    File(PathBuf),
    Video { path: PathBuf, frame: usize },
}

impl Src {
    /// The file (the image, or the video holding the frame).
    pub fn path(&self) -> &Path {
        match self {
            Src::File(p) | Src::Video { path: p, .. } => p,
        }
    }
    /// For messages: `a/b.png` or `shot.mp4 frame 12`.
    pub fn display(&self) -> String {
        match self {
            Src::File(p) => p.display().to_string(),
            Src::Video { path, frame } => format!("{} frame {frame}", path.display()),
        }
    }
}

/// One listed training image: its matching key (file stem or frame number) and source.
pub type Item = (String, Src);

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::BadInput(msg.into())
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| EXTS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// Splits a frame pattern's file name into (prefix, digits, suffix): `f.%04d.png` → ("f.", 4,
/// ".png"), `f.####.png` → ("f.", 4, ".png"), `f.%d.png` → ("f.", 0, ".png"). The one
/// frame-pattern parser is `wick_common::pattern::FramePattern`; this is its parts.
pub fn split_pattern(name: &str) -> Option<(String, usize, String)> {
    FramePattern::parse(name)
        .ok()
        .flatten()
        .map(|p| (p.prefix, p.width, p.suffix))
}

/// The images named by `spec` (folder, file, frame pattern or video file), sorted, each with
/// its matching key (file stem for folders and files, frame number for patterns and videos).
/// `what` names the param in errors.
pub fn list_images(what: &str, spec: &str) -> std::result::Result<Vec<Item>, ModelError> {
    if spec.is_empty() {
        return Err(bad(format!(
            "param '{what}' is empty: give a folder, an image, a frame pattern or a video"
        )));
    }
    let p = Path::new(spec);
    if wick_video::is_video_path(p) {
        let info = wick_video::probe(p).map_err(|e| bad(format!("{what}: {e}")))?;
        return Ok((1..=info.frames)
            .map(|n| {
                (
                    n.to_string(),
                    Src::Video {
                        path: p.to_path_buf(),
                        frame: n,
                    },
                )
            })
            .collect());
    }
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    if p.is_dir() {
        let rd = std::fs::read_dir(p).map_err(|e| bad(format!("{what} folder {spec}: {e}")))?;
        for e in rd.flatten() {
            let f = e.path();
            if f.is_file() && is_image(&f) {
                out.push((stem(&f), Src::File(f)));
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1));
    } else if p.is_file() {
        out.push((stem(p), Src::File(p.to_path_buf())));
    } else {
        let pattern = match FramePattern::parse(spec) {
            Ok(Some(pattern)) => pattern,
            Ok(None) => return Err(bad(format!("{what}: no such folder or file: {spec}"))),
            Err(e) => return Err(bad(format!("{what}: {e}"))),
        };
        let nums = pattern.scan().map_err(|e| bad(format!("{what}: {e}")))?;
        out = nums
            .into_iter()
            .map(|(k, f)| (k.to_string(), Src::File(f)))
            .collect();
    }
    if out.is_empty() {
        return Err(bad(format!(
            "{what}: no images found in {spec} ({})",
            EXTS.join(", ")
        )));
    }
    Ok(out)
}

/// An image file as RGB 0..1 `[3, H, W]` (CPU), its long side scaled down to `max_side`
/// (0: as it is).
pub fn load_rgb(path: &Path, max_side: usize) -> std::result::Result<Tensor, ModelError> {
    let img = wick_common::imagefile::open(path)
        .map_err(|e| bad(format!("cannot read image {}: {e}", path.display())))?;
    image_rgb(img, &path.display().to_string(), max_side)
}

/// A decoded image as RGB 0..1 `[3, H, W]` (CPU), its long side scaled down to `max_side`.
fn image_rgb(
    img: image::DynamicImage,
    name: &str,
    max_side: usize,
) -> std::result::Result<Tensor, ModelError> {
    let img = if max_side > 0 && img.width().max(img.height()) as usize > max_side {
        let s = max_side as f64 / img.width().max(img.height()) as f64;
        let (w, h) = (
            ((img.width() as f64 * s).round() as u32).max(1),
            ((img.height() as f64 * s).round() as u32).max(1),
        );
        img.resize_exact(w, h, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let rgb = img.to_rgb32f();
    let (w, h) = rgb.dimensions();
    if rgb.as_raw().iter().any(|v| !v.is_finite()) {
        return Err(bad(format!("image {name} has non-finite pixel values")));
    }
    let t = Tensor::from_vec(rgb.into_raw(), (h as usize, w as usize, 3), &Device::Cpu)?;
    Ok(t.permute((2, 0, 1))?.contiguous()?)
}

/// Frame `frame` of a decoder as an image (8-bit, or 16-bit for deeper video).
fn video_image(
    dec: &mut wick_video::Decoder,
    frame: usize,
) -> std::result::Result<image::DynamicImage, ModelError> {
    let data = dec.read(frame).map_err(|e| bad(e.to_string()))?;
    let (w, h) = (dec.info().width, dec.info().height);
    let corrupt = || {
        bad(format!(
            "{}: frame {frame} has a bad size",
            dec.path().display()
        ))
    };
    Ok(if dec.layout().deep {
        let v: Vec<u16> = data
            .chunks_exact(2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .collect();
        image::DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(corrupt)?)
    } else {
        image::DynamicImage::ImageRgb8(
            image::ImageBuffer::from_raw(w, h, data).ok_or_else(corrupt)?,
        )
    })
}

/// One listed image as RGB 0..1 `[3, H, W]` (see [`load_rgb`]).
pub fn load_src(src: &Src, max_side: usize) -> std::result::Result<Tensor, ModelError> {
    match src {
        Src::File(p) => load_rgb(p, max_side),
        Src::Video { path, frame } => {
            let layout = video_layout(path)?;
            let mut dec =
                wick_video::Decoder::open_as(path, layout).map_err(|e| bad(e.to_string()))?;
            image_rgb(video_image(&mut dec, *frame)?, &src.display(), max_side)
        }
    }
}

/// RGB, 16-bit for deep sources (alpha is not trained on).
fn video_layout(path: &Path) -> std::result::Result<wick_video::Layout, ModelError> {
    let info = wick_video::probe(path).map_err(|e| bad(e.to_string()))?;
    Ok(wick_video::Layout {
        deep: info.layout.deep,
        alpha: false,
    })
}

/// [`load_src`] of every listed item; the frames of one video stream through one decoder.
pub fn load_all(files: &[Item], max_side: usize) -> std::result::Result<Vec<Tensor>, ModelError> {
    let mut decoders: Vec<(PathBuf, wick_video::Decoder)> = Vec::new();
    let mut out = Vec::with_capacity(files.len());
    for (_, src) in files {
        match src {
            Src::File(p) => out.push(load_rgb(p, max_side)?),
            Src::Video { path, frame } => {
                let k = match decoders.iter().position(|(p, _)| p == path) {
                    Some(k) => k,
                    None => {
                        let layout = video_layout(path)?;
                        let dec = wick_video::Decoder::open_as(path, layout)
                            .map_err(|e| bad(e.to_string()))?;
                        decoders.push((path.clone(), dec));
                        decoders.len() - 1
                    }
                };
                let img = video_image(&mut decoders[k].1, *frame)?;
                out.push(image_rgb(img, &src.display(), max_side)?);
            }
        }
    }
    Ok(out)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_patterns_split() {
        assert_eq!(
            split_pattern("f.%04d.png"),
            Some(("f.".into(), 4, ".png".into()))
        );
        assert_eq!(
            split_pattern("f.####.png"),
            Some(("f.".into(), 4, ".png".into()))
        );
        assert_eq!(
            split_pattern("x%d.jpg"),
            Some(("x".into(), 0, ".jpg".into()))
        );
        assert_eq!(split_pattern("plain.png"), None);
    }
}
