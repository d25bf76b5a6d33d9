//! Convolutions (NCHW input, OIHW weights), with bias.
//!
//! On the CPU (f32/f64) both directions run Wick's own kernels: for f32 forward convolutions
//! with groups 1, stride 1–2 and k > 1 on x86_64, a direct register-blocked AVX-512 / AVX2+FMA
//! kernel with the padding fused (`ops::direct`); otherwise (`ops::cpu`) tiled im2col into
//! `gemm` with the output pixels as the long matrix dimension, a direct depthwise kernel, and a
//! gemm + col2im transposed convolution. Gradients are expressed with the same kernels, so
//! `backward()` works for any stride/padding/parity. Other devices and dtypes use Candle's ops.

use super::cpu::{self, ConvGeom, Elem};
pub(crate) use super::direct::{Epilogue, PackCache};
use super::pad::{pad2d, PadMode};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};

/// Parameters of [`conv2d`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Self {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

/// Parameters of [`conv_transpose2d`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dParams {
    pub stride: usize,
    pub padding: usize,
    pub output_padding: usize,
    pub dilation: usize,
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        Self {
            stride: 1,
            padding: 0,
            output_padding: 0,
            dilation: 1,
        }
    }
}

fn add_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => {
            let c = b.dim(0)?;
            y.broadcast_add(&b.reshape((1, c, 1, 1))?)
        }
        None => Ok(y),
    }
}

/// True when `t` runs on Wick's CPU kernels (CPU device, f32 or f64).
pub(crate) fn fast_path(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}

fn check_bias(bias: Option<&Tensor>, o: usize, what: &str) -> Result<()> {
    if let Some(b) = bias {
        if b.dims() != [o] {
            candle_core::bail!("{what}: bias must be [{o}], got {:?}", b.dims());
        }
    }
    Ok(())
}

/// Which direction a [`ConvOp`] computes for its geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// `x [n,c,h,w] ⊛ w [o,c/g,kh,kw] → [n,o,oh,ow]`.
    Forward,
    /// The adjoint: `y [n,o,oh,ow]`, same weight → `[n,c,h,w]` (transposed convolution).
    Adjoint,
}

struct ConvOp {
    g: ConvGeom,
    dir: Dir,
}

impl ConvOp {
    fn out_shape(&self) -> Shape {
        let g = &self.g;
        match self.dir {
            Dir::Forward => (g.n, g.o, g.oh, g.ow).into(),
            Dir::Adjoint => (g.n, g.c, g.h, g.w).into(),
        }
    }

    fn run<T: Elem>(
        &self,
        a: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let x = cpu::slice::<T>(a.0, a.1, "conv2d input")?;
        let wt = cpu::slice::<T>(w.0, w.1, "conv2d weight")?;
        let bias = match b {
            Some((s, l)) => Some(cpu::slice::<T>(s, l, "conv2d bias")?),
            None => None,
        };
        let y = match self.dir {
            Dir::Forward => cpu::conv2d_fwd(x, wt, bias, &self.g),
            Dir::Adjoint => cpu::conv2d_adjoint(x, wt, bias, &self.g),
        };
        Ok((T::to_cpu_storage_owned(y), self.out_shape()))
    }

    fn dispatch(
        &self,
        a: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        match a.0 {
            CpuStorage::F32(_) => self.run::<f32>(a, w, b),
            CpuStorage::F64(_) => self.run::<f64>(a, w, b),
            s => candle_core::bail!(
                "conv2d: unsupported dtype {:?} on the CPU path",
                candle_core::backend::BackendStorage::dtype(s)
            ),
        }
    }

    /// Gradients of input and weight for output gradient `gy`.
    fn grads(&self, arg: &Tensor, w: &Tensor, gy: &Tensor) -> Result<(Tensor, Tensor)> {
        let gy = gy.contiguous()?;
        let g = self.g;
        match self.dir {
            Dir::Forward if g.mode != PadMode::Zero => {
                // Gradient w.r.t. the padded input (a plain adjoint), folded back by the pad's
                // own adjoint.
                let gp = ConvGeom {
                    h: g.h + 2 * g.pad,
                    w: g.w + 2 * g.pad,
                    pad: 0,
                    mode: PadMode::Zero,
                    ..g
                };
                let gxp = gy.apply_op2(
                    w,
                    ConvOp {
                        g: gp,
                        dir: Dir::Adjoint,
                    },
                )?;
                let gx = super::pad::pad2d_adjoint(&gxp, g.pad, g.pad, g.pad, g.pad, g.mode)?;
                let gw = arg.apply_op2_no_bwd(&gy, &WeightGrad { g })?;
                Ok((gx, gw))
            }
            Dir::Forward => {
                let gx = gy.apply_op2(
                    w,
                    ConvOp {
                        g,
                        dir: Dir::Adjoint,
                    },
                )?;
                let gw = arg.apply_op2_no_bwd(&gy, &WeightGrad { g })?;
                Ok((gx, gw))
            }
            Dir::Adjoint => {
                // arg is y-shaped [n,o,oh,ow]; output x-shaped. d/d arg = forward conv of gy.
                let garg = gy.apply_op2(
                    w,
                    ConvOp {
                        g,
                        dir: Dir::Forward,
                    },
                )?;
                let gw = gy.apply_op2_no_bwd(arg, &WeightGrad { g })?;
                Ok((garg, gw))
            }
        }
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        match self.dir {
            Dir::Forward => "wick-conv2d",
            Dir::Adjoint => "wick-conv-transpose2d",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.dispatch((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        arg: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (ga, gw) = self.grads(arg, w, gy)?;
        Ok((Some(ga), Some(gw)))
    }
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        <Self as CustomOp2>::name(self)
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.dispatch((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (ga, gw) = self.grads(arg, w, gy)?;
        let gb = gy.sum((0, 2, 3))?;
        Ok((Some(ga), Some(gw), Some(gb)))
    }
}

/// Weight gradient `[o, c/g, kh, kw]` of the forward convolution from input `x` and `gy`.
struct WeightGrad {
    g: ConvGeom,
}

impl CustomOp2 for WeightGrad {
    fn name(&self) -> &'static str {
        "wick-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        let shape: Shape = (g.o, g.cg(), g.kh, g.kw).into();
        match s1 {
            CpuStorage::F32(_) => {
                let gw = cpu::conv2d_wgrad(
                    cpu::slice::<f32>(s1, l1, "conv2d input")?,
                    cpu::slice::<f32>(s2, l2, "conv2d grad")?,
                    g,
                );
                Ok((CpuStorage::F32(gw), shape))
            }
            CpuStorage::F64(_) => {
                let gw = cpu::conv2d_wgrad(
                    cpu::slice::<f64>(s1, l1, "conv2d input")?,
                    cpu::slice::<f64>(s2, l2, "conv2d grad")?,
                    g,
                );
                Ok((CpuStorage::F64(gw), shape))
            }
            s => candle_core::bail!(
                "conv2d grad: unsupported dtype {:?}",
                candle_core::backend::BackendStorage::dtype(s)
            ),
        }
    }
}

fn apply(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, op: ConvOp) -> Result<Tensor> {
    let x = x.contiguous()?;
    let w = w.contiguous()?.to_dtype(x.dtype())?;
    match bias {
        Some(b) => {
            let b = b.contiguous()?.to_dtype(x.dtype())?;
            x.apply_op3(&w, &b, op)
        }
        None => x.apply_op2(&w, op),
    }
}

/// Forward 2-D convolution of a contiguous f32 NCHW slice `x` ([n, c, h, w]) by `w`
/// ([o, c, k, k]), zero padding `pad`, no groups or dilation: the CPU kernels without a tensor
/// round trip, for inference code that keeps its activations in plain slices (the RIFE CPU
/// path). `cache` keeps the direct kernel's packed weights between calls (one per `wt`, `bias`);
/// `epi` is applied to the output (fused into the direct kernel's row loop where it runs).
/// Returns the output [n, o, oh, ow] and (oh, ow). Panics on inconsistent sizes (callers
/// build them from checked tensors).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_f32_slice(
    x: &[f32],
    (n, c, h, w): (usize, usize, usize, usize),
    wt: &[f32],
    (o, k): (usize, usize),
    stride: usize,
    pad: usize,
    bias: Option<&[f32]>,
    cache: &PackCache,
    epi: Epilogue,
) -> (Vec<f32>, usize, usize) {
    assert!(x.len() == n * c * h * w && wt.len() == o * c * k * k && stride > 0 && k > 0);
    assert!(h + 2 * pad >= k && w + 2 * pad >= k);
    let g = ConvGeom {
        n,
        c,
        h,
        w,
        o,
        kh: k,
        kw: k,
        stride,
        pad,
        dil: 1,
        groups: 1,
        mode: PadMode::Zero,
        oh: (h + 2 * pad - k) / stride + 1,
        ow: (w + 2 * pad - k) / stride + 1,
    };
    let y = super::direct::conv2d_f32_cached(x, wt, bias, &g, cache, epi).unwrap_or_else(|| {
        let mut y = cpu::conv2d_fwd(x, wt, bias, &g);
        epi.apply(&mut y);
        y
    });
    (y, g.oh, g.ow)
}

/// 2-D convolution: `x` [N, C, H, W], `w` [O, C/groups, kh, kw], `bias` [O].
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: Conv2dParams) -> Result<Tensor> {
    conv2d_padded(x, w, bias, p, PadMode::Zero)
}

/// [`conv2d`] whose `p.padding` border is filled per `mode`: `conv2d_padded(x, w, b, p, Reflect)`
/// equals `conv2d(&reflect_pad2d(x, p.padding, ..)?, w, b, Conv2dParams { padding: 0, ..p })`, but
/// on the CPU the padding is read inside the im2col instead of materialising a padded copy.
pub fn conv2d_padded(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: Conv2dParams,
    mode: PadMode,
) -> Result<Tensor> {
    let (n, c, h, wd) = x.dims4()?;
    let (o, cg, kh, kw) = w.dims4()?;
    if p.groups == 0 || p.stride == 0 || p.dilation == 0 {
        candle_core::bail!("conv2d: stride, dilation and groups must be ≥ 1, got {p:?}");
    }
    if c % p.groups != 0 || o % p.groups != 0 || cg * p.groups != c {
        candle_core::bail!(
            "conv2d: input has {c} channels and weight is {:?}, which does not fit groups = {}",
            w.dims(),
            p.groups
        );
    }
    check_bias(bias, o, "conv2d")?;
    let eh = p.dilation * (kh.max(1) - 1) + 1;
    let ew = p.dilation * (kw.max(1) - 1) + 1;
    if h + 2 * p.padding < eh || wd + 2 * p.padding < ew || kh == 0 || kw == 0 {
        candle_core::bail!(
            "conv2d: kernel {kh}×{kw} (dilation {}) is larger than the padded input {}×{}",
            p.dilation,
            h + 2 * p.padding,
            wd + 2 * p.padding
        );
    }
    let direct_depthwise = p.groups == c && o == c && p.groups > 1;
    if mode != PadMode::Zero && p.padding > 0 && (!fast_path(x) || direct_depthwise) {
        let pd = p.padding;
        let xp = pad2d(x, pd, pd, pd, pd, mode)?;
        return conv2d(&xp, w, bias, Conv2dParams { padding: 0, ..p });
    }
    if mode == PadMode::Reflect && (p.padding >= h || p.padding >= wd) {
        candle_core::bail!(
            "conv2d: reflection padding {} needs an input larger than {h}×{wd}",
            p.padding
        );
    }
    if !fast_path(x) {
        let y = x.conv2d(w, p.padding, p.stride, p.dilation, p.groups)?;
        return add_bias(y, bias);
    }
    let g = ConvGeom {
        n,
        c,
        h,
        w: wd,
        o,
        kh,
        kw,
        stride: p.stride,
        pad: p.padding,
        dil: p.dilation,
        groups: p.groups,
        mode: if p.padding == 0 { PadMode::Zero } else { mode },
        oh: (h + 2 * p.padding - eh) / p.stride + 1,
        ow: (wd + 2 * p.padding - ew) / p.stride + 1,
    };
    apply(
        x,
        w,
        bias,
        ConvOp {
            g,
            dir: Dir::Forward,
        },
    )
}

/// 2-D transposed convolution: `x` [N, C, H, W], `w` [C, O, kh, kw], `bias` [O].
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: ConvTranspose2dParams,
) -> Result<Tensor> {
    let (n, cin, h, wd) = x.dims4()?;
    let (wc, cout, kh, kw) = w.dims4()?;
    if wc != cin {
        candle_core::bail!(
            "conv_transpose2d: input has {cin} channels but weight is {:?} ([Cin, Cout, kh, kw])",
            w.dims()
        );
    }
    if p.stride == 0 || p.dilation == 0 || kh == 0 || kw == 0 {
        candle_core::bail!("conv_transpose2d: stride, dilation and kernel must be ≥ 1, got {p:?}");
    }
    if p.output_padding >= p.stride.max(p.dilation) {
        candle_core::bail!(
            "conv_transpose2d: output_padding {} must be smaller than stride or dilation",
            p.output_padding
        );
    }
    check_bias(bias, cout, "conv_transpose2d")?;
    let full = |i: usize, k: usize| {
        (i.max(1) - 1) * p.stride + p.dilation * (k - 1) + 1 + p.output_padding
    };
    let (fh, fw) = (full(h, kh), full(wd, kw));
    if h == 0 || wd == 0 || fh <= 2 * p.padding || fw <= 2 * p.padding {
        candle_core::bail!(
            "conv_transpose2d: padding {} leaves no output for a {h}×{wd} input",
            p.padding
        );
    }
    if !fast_path(x) {
        let y = x.conv_transpose2d(w, p.padding, p.output_padding, p.stride, p.dilation)?;
        return add_bias(y, bias);
    }
    // The adjoint of a convolution from [cout, oh, ow] to [cin, h, w] with weight [cin, cout, k, k].
    let g = ConvGeom {
        n,
        c: cout,
        h: fh - 2 * p.padding,
        w: fw - 2 * p.padding,
        o: cin,
        kh,
        kw,
        stride: p.stride,
        pad: p.padding,
        dil: p.dilation,
        groups: 1,
        mode: PadMode::Zero,
        oh: h,
        ow: wd,
    };
    apply(
        x,
        w,
        bias,
        ConvOp {
            g,
            dir: Dir::Adjoint,
        },
    )
}
