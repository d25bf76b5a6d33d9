//! Padding: zero, replicate and reflection, with independent widths on each side.

use candle_core::{Result, Tensor};

/// How [`pad2d`] fills the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    /// Zeros.
    Zero,
    /// Mirror without repeating the edge sample (PyTorch `reflect`).
    Reflect,
    /// Repeat the edge sample (PyTorch `replicate`).
    Replicate,
}

/// Index of the reflected sample for position `i` (may be out of range) in a line of `n`.
fn reflect_index(i: i64, n: i64) -> i64 {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - j;
    }
    j
}

fn reflect_dim(x: &Tensor, dim: usize, before: usize, after: usize) -> Result<Tensor> {
    if before == 0 && after == 0 {
        return Ok(x.clone());
    }
    let n = x.dim(dim)? as i64;
    if (before as i64) >= n || (after as i64) >= n {
        candle_core::bail!(
            "reflection pad of ({before}, {after}) needs a dimension larger than the pad, got {n}"
        );
    }
    let idx: Vec<u32> = (-(before as i64)..n + after as i64)
        .map(|i| reflect_index(i, n) as u32)
        .collect();
    let idx = Tensor::from_vec(idx, (n as usize + before + after,), x.device())?;
    x.index_select(&idx, dim)
}

/// Reflection padding of an NCHW tensor (PyTorch `ReflectionPad2d((left, right, top, bottom))`).
pub fn reflect_pad2d(
    x: &Tensor,
    left: usize,
    right: usize,
    top: usize,
    bottom: usize,
) -> Result<Tensor> {
    let x = reflect_dim(x, 3, left, right)?;
    reflect_dim(&x, 2, top, bottom)
}

/// Pads an NCHW tensor with independent widths per side (asymmetric padding allowed).
pub fn pad2d(
    x: &Tensor,
    left: usize,
    right: usize,
    top: usize,
    bottom: usize,
    mode: PadMode,
) -> Result<Tensor> {
    match mode {
        PadMode::Reflect => reflect_pad2d(x, left, right, top, bottom),
        PadMode::Zero => x
            .pad_with_zeros(3, left, right)?
            .pad_with_zeros(2, top, bottom),
        PadMode::Replicate => x
            .pad_with_same(3, left, right)?
            .pad_with_same(2, top, bottom),
    }
}
