//! Max-pooling with an exact gradient.
//!
//! Candle 0.11's `max_pool2d` has no backward when the kernel and stride differ (SqueezeNet's
//! pools are 3×3 stride 2) and is floor-mode only. Here every window's candidates are gathered
//! with `index_select` (backward: `index_add`), the max is picked with `argmax` and `gather`
//! (backward: `scatter_add`), so exactly one element per window — the first maximum — receives
//! the window's gradient, as in PyTorch. It runs on any Candle device.
//!
//! NOTE for the lead: this is local to training because `crate::ops` has no `max_pool2d` yet;
//! dedupe into the op layer when it gets one.

use candle_core::{Result, Tensor};

fn window_max(x: &Tensor, k: usize, s: usize, oh: usize, ow: usize) -> Result<Tensor> {
    let dev = x.device();
    let x = x.contiguous()?;
    let mut cands = Vec::with_capacity(k * k);
    for dy in 0..k {
        let rows: Vec<u32> = (0..oh).map(|i| (i * s + dy) as u32).collect();
        let r = x.index_select(&Tensor::new(rows, dev)?, 2)?;
        for dx in 0..k {
            let cols: Vec<u32> = (0..ow).map(|j| (j * s + dx) as u32).collect();
            cands.push(r.index_select(&Tensor::new(cols, dev)?, 3)?);
        }
    }
    let st = Tensor::stack(&cands, 4)?;
    let idx = st.argmax_keepdim(4)?;
    st.gather(&idx, 4)?.squeeze(4)
}

fn check(x: &Tensor, k: usize, s: usize) -> Result<(usize, usize)> {
    let (_, _, h, w) = x.dims4()?;
    if k == 0 || s == 0 {
        candle_core::bail!("max_pool2d: kernel and stride must be positive");
    }
    if h < k || w < k {
        candle_core::bail!("max_pool2d: {h}x{w} input is smaller than the {k}x{k} kernel");
    }
    Ok((h, w))
}

/// Max-pool, floor mode, no padding: out = (in − k) / s + 1.
pub fn max_pool2d(x: &Tensor, k: usize, s: usize) -> Result<Tensor> {
    let (h, w) = check(x, k, s)?;
    window_max(x, k, s, (h - k) / s + 1, (w - k) / s + 1)
}

/// Max-pool, ceil mode (Caffe/ncnn "full" padding), no padding: out = ceil((in − k) / s) + 1.
/// Windows hanging over the bottom/right edge take the max of the samples they cover.
pub fn max_pool2d_ceil(x: &Tensor, k: usize, s: usize) -> Result<Tensor> {
    let (h, w) = check(x, k, s)?;
    let oh = (h - k).div_ceil(s) + 1;
    let ow = (w - k).div_ceil(s) + 1;
    let (ph, pw) = ((oh - 1) * s + k - h, (ow - 1) * s + k - w);
    // Replicating the edge sample cannot change a window's max: every overhanging window also
    // covers that edge sample. Its gradient flows back through the copy to the edge sample.
    let xp = if ph > 0 || pw > 0 {
        x.pad_with_same(2, 0, ph)?.pad_with_same(3, 0, pw)?
    } else {
        x.clone()
    };
    window_max(&xp, k, s, oh, ow)
}
