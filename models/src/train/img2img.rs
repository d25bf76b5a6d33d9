//! Wick's compact image-to-image network for the `pairs` and `style` training modes.
//!
//! A two-level U-Net with a residual output (`y = x + f(x)`, the last layer starts at zero, so
//! an untrained network is the identity and training starts from "untouched input"):
//!
//! ```text
//! x ─ e1 (3×3, c) ─ e1b (3×3, c) ──────────────────────────────── cat ─ d1 (3×3, c) ─ out (1×1, 3) ─ + x
//!                       └ down1 (4×4/2, 2c) ─ e2 (3×3, 2c) ── cat ─ d2 (3×3, 2c) ─ up1 (4×4/2ᵀ, c) ┘
//!                                       └ down2 (4×4/2, 4c) ─ mid (3×3, 4c) ─ up2 (4×4/2ᵀ, 2c) ┘
//! ```
//! ReLU after every layer but `out`. Size `small` has c = 16 (≈ 0.15 M parameters), `medium`
//! c = 32 (≈ 0.6 M). Frames of any size run through [`Img2Img::forward_any`] (reflect-padded
//! to a multiple of 4, cropped back). Tensor names are the layer names above plus
//! `.weight`/`.bias`; a model file also holds `wick.arch` = [1, c] (see [`super::ARCH_IMG2IMG`]).

use candle_core::{Result, Tensor};

use super::params::{Conv, ConvT, Init, ParamStore};
use crate::ops;

/// Model size choice for [`Img2Img`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSize {
    Small,
    Medium,
}

impl ModelSize {
    pub fn width(self) -> usize {
        match self {
            ModelSize::Small => 16,
            ModelSize::Medium => 32,
        }
    }

    pub fn from_width(c: usize) -> Option<Self> {
        match c {
            16 => Some(ModelSize::Small),
            32 => Some(ModelSize::Medium),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "small" => Some(ModelSize::Small),
            "medium" => Some(ModelSize::Medium),
            _ => None,
        }
    }
}

/// The U-Net (see the module docs).
pub struct Img2Img {
    e1: Conv,
    e1b: Conv,
    down1: Conv,
    e2: Conv,
    down2: Conv,
    mid: Conv,
    up2: ConvT,
    d2: Conv,
    up1: ConvT,
    d1: Conv,
    out: Conv,
    pub size: ModelSize,
}

impl Img2Img {
    pub fn new(ps: &mut ParamStore, size: ModelSize) -> Result<Self> {
        let c = size.width();
        Ok(Img2Img {
            e1: Conv::new(ps, "e1", 3, c, 3, 1, 1, None)?,
            e1b: Conv::new(ps, "e1b", c, c, 3, 1, 1, None)?,
            down1: Conv::new(ps, "down1", c, 2 * c, 4, 2, 1, None)?,
            e2: Conv::new(ps, "e2", 2 * c, 2 * c, 3, 1, 1, None)?,
            down2: Conv::new(ps, "down2", 2 * c, 4 * c, 4, 2, 1, None)?,
            mid: Conv::new(ps, "mid", 4 * c, 4 * c, 3, 1, 1, None)?,
            up2: ConvT::new(ps, "up2", 4 * c, 2 * c, 4, 2, 1, None)?,
            d2: Conv::new(ps, "d2", 4 * c, 2 * c, 3, 1, 1, None)?,
            up1: ConvT::new(ps, "up1", 2 * c, c, 4, 2, 1, None)?,
            d1: Conv::new(ps, "d1", 2 * c, c, 3, 1, 1, None)?,
            out: Conv::new(ps, "out", c, 3, 1, 1, 0, Some(Init::Zeros))?,
            size,
        })
    }

    /// `x` RGB 0..1 `[N, 3, H, W]` with H and W multiples of 4 → the same shape.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        if h % 4 != 0 || w % 4 != 0 {
            candle_core::bail!(
                "Img2Img::forward needs H, W multiples of 4, got {h}x{w} (use forward_any)"
            );
        }
        let s1 = self.e1b.forward(&self.e1.forward(x)?.relu()?)?.relu()?;
        let s2 = self.e2.forward(&self.down1.forward(&s1)?.relu()?)?.relu()?;
        let m = self
            .mid
            .forward(&self.down2.forward(&s2)?.relu()?)?
            .relu()?;
        let u2 = self.up2.forward(&m)?.relu()?;
        let d2 = self.d2.forward(&Tensor::cat(&[&u2, &s2], 1)?)?.relu()?;
        let u1 = self.up1.forward(&d2)?.relu()?;
        let d1 = self.d1.forward(&Tensor::cat(&[&u1, &s1], 1)?)?.relu()?;
        x + self.out.forward(&d1)?
    }

    /// Any frame size: reflect-pads bottom/right to a multiple of 4, runs, crops back.
    pub fn forward_any(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let (ph, pw) = ((4 - h % 4) % 4, (4 - w % 4) % 4);
        if ph == 0 && pw == 0 {
            return self.forward(x);
        }
        let mode = if h > ph && w > pw {
            ops::PadMode::Reflect
        } else {
            ops::PadMode::Replicate
        };
        let xp = ops::pad2d(x, 0, pw, 0, ph, mode)?;
        self.forward(&xp)?.narrow(2, 0, h)?.narrow(3, 0, w)
    }
}
