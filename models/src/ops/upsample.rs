//! Resizing: nearest and bilinear (PyTorch semantics).

use candle_core::{Result, Tensor};

/// Nearest-neighbour resize of an NCHW tensor to `h` × `w`.
pub fn upsample_nearest2d(x: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    x.upsample_nearest2d(h, w)
}

/// Bilinear resize of an NCHW tensor to `h` × `w` (PyTorch `interpolate(mode="bilinear")`).
pub fn upsample_bilinear2d(x: &Tensor, h: usize, w: usize, align_corners: bool) -> Result<Tensor> {
    x.upsample_bilinear2d(h, w, align_corners)
}
