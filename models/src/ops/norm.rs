//! Instance normalisation, plain, affine and conditional (per-sample scale/shift), optionally
//! fused with a ReLU.
//!
//! On the CPU (f32/f64) forward and backward are single fused kernels, one pass per statistic and
//! one per output, parallel over (sample, channel) planes. Other devices use Candle ops.

// `!(a > b)` on purpose: NaN compares false and must take the 'not greater' branch.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::conv::fast_path;
use super::cpu::{self, Elem};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, InplaceOp2, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

/// Activation fused after the normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormActivation {
    /// None.
    #[default]
    Identity,
    /// `max(0, ·)`.
    Relu,
}

/// Σ f(v) over a plane: 8 independent lanes in `T` over blocks of 1024, blocks summed in f64
/// (vectorises, and keeps f32 rounding error to short runs).
fn lane_sum<T: Elem>(p: &[T], f: impl Fn(T) -> T) -> f64 {
    let mut total = 0.0f64;
    for block in p.chunks(1024) {
        let mut lanes = [T::ZERO; 8];
        let mut it = block.chunks_exact(8);
        for c in &mut it {
            for (l, v) in lanes.iter_mut().zip(c) {
                *l += f(*v);
            }
        }
        for v in it.remainder() {
            lanes[0] += f(*v);
        }
        total += lanes.iter().map(|l| l.to_f64()).sum::<f64>();
    }
    total
}

/// Mean and 1/σ of one plane (biased variance, two passes).
fn stats<T: Elem>(p: &[T], eps: f64) -> (f64, f64) {
    let n = p.len().max(1) as f64;
    let mean = lane_sum(p, |v| v) / n;
    let m = T::from_f64(mean);
    let var = lane_sum(p, |v| (v - m) * (v - m)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

#[derive(Clone, Copy, Debug)]
struct InstanceNorm {
    eps: f64,
    act: NormActivation,
    hw: usize,
}

impl InstanceNorm {
    /// `x` [N·C planes of hw], `gb` [N·C][2] (scale, shift).
    fn fwd<T: Elem>(&self, x: &[T], gb: &[T]) -> Vec<T> {
        let mut y = vec![T::ZERO; x.len()];
        let relu = self.act == NormActivation::Relu;
        y.par_chunks_mut(self.hw).enumerate().for_each(|(p, out)| {
            let src = &x[p * self.hw..][..self.hw];
            let (mean, rstd) = stats(src, self.eps);
            let a = T::from_f64(gb[2 * p].to_f64() * rstd);
            let b = T::from_f64(gb[2 * p + 1].to_f64() - mean * gb[2 * p].to_f64() * rstd);
            for (o, v) in out.iter_mut().zip(src) {
                let z = a * *v + b;
                *o = if relu && !(z > T::ZERO) { T::ZERO } else { z };
            }
        });
        y
    }

    /// [`Self::fwd`] overwriting `x`.
    fn fwd_inplace<T: Elem>(&self, x: &mut [T], gb: &[T]) {
        let relu = self.act == NormActivation::Relu;
        x.par_chunks_mut(self.hw)
            .enumerate()
            .for_each(|(p, plane)| {
                let (mean, rstd) = stats(plane, self.eps);
                let a = T::from_f64(gb[2 * p].to_f64() * rstd);
                let b = T::from_f64(gb[2 * p + 1].to_f64() - mean * gb[2 * p].to_f64() * rstd);
                for v in plane.iter_mut() {
                    let z = a * *v + b;
                    *v = if relu && !(z > T::ZERO) { T::ZERO } else { z };
                }
            });
    }

    /// Packed `[gx (len x) | ggb (len gb)]`.
    fn bwd<T: Elem>(&self, x: &[T], gb: &[T], gy: &[T]) -> Vec<T> {
        let hw = self.hw;
        let planes = x.len() / hw.max(1);
        let mut out = vec![T::ZERO; x.len() + 2 * planes];
        let (gx, ggb) = out.split_at_mut(x.len());
        let relu = self.act == NormActivation::Relu;
        gx.par_chunks_mut(hw)
            .zip(ggb.par_chunks_mut(2))
            .enumerate()
            .for_each(|(p, (gxp, ggbp))| {
                let src = &x[p * hw..][..hw];
                let g = &gy[p * hw..][..hw];
                let (mean, rstd) = stats(src, self.eps);
                let (gamma, beta) = (gb[2 * p].to_f64(), gb[2 * p + 1].to_f64());
                // Σ g' and Σ g'·x̂ where g' is the gradient before the activation.
                let (mut sg, mut sgx) = (0.0f64, 0.0f64);
                for (v, gv) in src.iter().zip(g) {
                    let xh = (v.to_f64() - mean) * rstd;
                    let gv = if relu && !(xh * gamma + beta > 0.0) {
                        0.0
                    } else {
                        gv.to_f64()
                    };
                    sg += gv;
                    sgx += gv * xh;
                }
                ggbp[0] = T::from_f64(sgx);
                ggbp[1] = T::from_f64(sg);
                let n = hw as f64;
                let k = gamma * rstd;
                for ((o, v), gv) in gxp.iter_mut().zip(src).zip(g) {
                    let xh = (v.to_f64() - mean) * rstd;
                    let gv = if relu && !(xh * gamma + beta > 0.0) {
                        0.0
                    } else {
                        gv.to_f64()
                    };
                    *o = T::from_f64(k * (gv - sg / n - xh * sgx / n));
                }
            });
        out
    }
}

impl CustomOp2 for InstanceNorm {
    fn name(&self) -> &'static str {
        "wick-instance-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let st = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(self.fwd(
                cpu::slice::<f32>(s1, l1, "instance_norm")?,
                cpu::slice::<f32>(s2, l2, "instance_norm scale")?,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(self.fwd(
                cpu::slice::<f64>(s1, l1, "instance_norm")?,
                cpu::slice::<f64>(s2, l2, "instance_norm scale")?,
            )),
            s => candle_core::bail!(
                "instance_norm: unsupported dtype {:?}",
                candle_core::backend::BackendStorage::dtype(s)
            ),
        };
        Ok((st, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gb: &Tensor,
        _res: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let packed = x.apply_op3_no_bwd(gb, &gy.contiguous()?, &InstanceNormBwd(*self))?;
        let n = x.elem_count();
        let gx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let ggb = packed.narrow(0, n, gb.elem_count())?.reshape(gb.shape())?;
        Ok((Some(gx), Some(ggb)))
    }
}

impl InplaceOp2 for InstanceNorm {
    fn name(&self) -> &'static str {
        "wick-instance-norm-inplace"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let Some((a, b)) = dst_l.contiguous_offsets() else {
            candle_core::bail!("instance_norm (in place): expected a contiguous tensor");
        };
        match dst {
            CpuStorage::F32(x) => self.fwd_inplace(
                &mut x[a..b],
                cpu::slice::<f32>(s2, l2, "instance_norm scale")?,
            ),
            CpuStorage::F64(x) => self.fwd_inplace(
                &mut x[a..b],
                cpu::slice::<f64>(s2, l2, "instance_norm scale")?,
            ),
            s => candle_core::bail!(
                "instance_norm: unsupported dtype {:?}",
                candle_core::backend::BackendStorage::dtype(s)
            ),
        }
        Ok(())
    }
}

struct InstanceNormBwd(InstanceNorm);

impl CustomOp3 for InstanceNormBwd {
    fn name(&self) -> &'static str {
        "wick-instance-norm-bwd"
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
        let n = l1.shape().elem_count() + l2.shape().elem_count();
        let st = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(self.0.bwd(
                cpu::slice::<f32>(s1, l1, "instance_norm")?,
                cpu::slice::<f32>(s2, l2, "instance_norm scale")?,
                cpu::slice::<f32>(s3, l3, "instance_norm grad")?,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(self.0.bwd(
                cpu::slice::<f64>(s1, l1, "instance_norm")?,
                cpu::slice::<f64>(s2, l2, "instance_norm scale")?,
                cpu::slice::<f64>(s3, l3, "instance_norm grad")?,
            )),
            s => candle_core::bail!(
                "instance_norm: unsupported dtype {:?}",
                candle_core::backend::BackendStorage::dtype(s)
            ),
        };
        Ok((st, Shape::from(n)))
    }
}

/// `[C]` or `[N, C]` scale/shift as an `[N, C]` tensor (broadcast, so gradients sum back).
fn per_sample(t: &Tensor, n: usize, c: usize, what: &str) -> Result<Tensor> {
    match t.dims() {
        [tc] if *tc == c => t.reshape((1, c))?.broadcast_as((n, c)),
        [tn, tc] if *tn == n && *tc == c => Ok(t.clone()),
        d => candle_core::bail!("instance_norm: {what} must be [{c}] or [{n}, {c}], got {d:?}"),
    }
}

/// Instance norm over H and W of an NCHW tensor.
///
/// `gamma`/`beta` are either `[C]` (affine) or `[N, C]` (conditional: one scale/shift per sample,
/// e.g. a blend of per-style parameters). Variance is the biased one, as PyTorch and ONNX use.
pub fn instance_norm(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    instance_norm_act(x, gamma, beta, eps, NormActivation::Identity)
}

/// [`instance_norm_act`] for inference on a tensor the caller owns outright (a fresh op output
/// nothing else references): on the CPU, when `x` tracks no gradient, it is normalised in place
/// (no second buffer of the same size); otherwise this is [`instance_norm_act`].
pub(crate) fn instance_norm_act_owned(
    x: Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
    act: NormActivation,
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (Some(g), Some(b)) = (gamma, beta) else {
        return instance_norm_act(&x, gamma, beta, eps, act);
    };
    if x.track_op()
        || g.track_op()
        || b.track_op()
        || !fast_path(&x)
        || !x.is_contiguous()
        || h * w == 0
        || !(eps >= 0.0)
    {
        return instance_norm_act(&x, gamma, beta, eps, act);
    }
    let dt = x.dtype();
    let g = per_sample(g, n, c, "gamma")?.to_dtype(dt)?;
    let b = per_sample(b, n, c, "beta")?.to_dtype(dt)?;
    let gb = Tensor::stack(&[g, b], 2)?.contiguous()?;
    let op = InstanceNorm {
        eps,
        act,
        hw: h * w,
    };
    x.inplace_op2(&gb, &op)?;
    Ok(x)
}

/// [`instance_norm`] followed by `act`, fused into one pass on the CPU.
pub fn instance_norm_act(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
    act: NormActivation,
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if !(eps >= 0.0) {
        candle_core::bail!("instance_norm: eps must be ≥ 0, got {eps}");
    }
    let gamma = gamma.map(|g| per_sample(g, n, c, "gamma")).transpose()?;
    let beta = beta.map(|b| per_sample(b, n, c, "beta")).transpose()?;
    if fast_path(x) && h * w > 0 {
        let dt = x.dtype();
        let g = match gamma {
            Some(g) => g.to_dtype(dt)?,
            None => Tensor::ones((n, c), dt, x.device())?,
        };
        let b = match beta {
            Some(b) => b.to_dtype(dt)?,
            None => Tensor::zeros((n, c), dt, x.device())?,
        };
        let gb = Tensor::stack(&[g, b], 2)?.contiguous()?;
        let op = InstanceNorm {
            eps,
            act,
            hw: h * w,
        };
        return x.contiguous()?.apply_op2(&gb, op);
    }
    let flat = x.reshape((n, c, h * w))?;
    let mean = flat.mean_keepdim(D::Minus1)?;
    let centred = flat.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let y = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    let y = match gamma {
        Some(g) => y.broadcast_mul(&g.reshape((n, c, 1))?)?,
        None => y,
    };
    let y = match beta {
        Some(b) => y.broadcast_add(&b.reshape((n, c, 1))?)?,
        None => y,
    };
    let y = y.reshape((n, c, h, w))?;
    match act {
        NormActivation::Identity => Ok(y),
        NormActivation::Relu => y.relu(),
    }
}
