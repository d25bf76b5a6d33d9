//! Max pooling with a correct backward.
//!
//! Candle 0.11.1's `max_pool2d` backward scales the gradient by 1/k². Here the CPU op routes each
//! output's gradient to the first maximum of its window (PyTorch's choice), accumulating where
//! windows overlap. Other devices use Candle's pooling for the forward.

// `!(a > b)` on purpose: NaN compares false and must take the 'not greater' branch.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::conv::fast_path;
use super::cpu::{self, Elem};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug)]
struct Pool {
    k: usize,
    stride: usize,
    pad: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Pool {
    /// Index in the plane of the first maximum of output (oy, ox)'s window (None: all padding).
    fn argmax<T: Elem>(&self, plane: &[T], oy: usize, ox: usize) -> Option<usize> {
        let mut best: Option<(usize, T)> = None;
        for ky in 0..self.k {
            let iy = (oy * self.stride + ky) as isize - self.pad as isize;
            if iy < 0 || iy >= self.h as isize {
                continue;
            }
            for kx in 0..self.k {
                let ix = (ox * self.stride + kx) as isize - self.pad as isize;
                if ix < 0 || ix >= self.w as isize {
                    continue;
                }
                let i = iy as usize * self.w + ix as usize;
                let v = plane[i];
                match best {
                    Some((_, b)) if !(v > b) => {}
                    _ => best = Some((i, v)),
                }
            }
        }
        best.map(|(i, _)| i)
    }

    fn fwd<T: Elem>(&self, x: &[T]) -> Vec<T> {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let mut y = vec![T::ZERO; x.len() / hw * ohw];
        y.par_chunks_mut(ohw).enumerate().for_each(|(p, out)| {
            let plane = &x[p * hw..][..hw];
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    out[oy * self.ow + ox] = self
                        .argmax(plane, oy, ox)
                        .map(|i| plane[i])
                        .unwrap_or(T::ZERO);
                }
            }
        });
        y
    }

    fn bwd<T: Elem>(&self, x: &[T], gy: &[T]) -> Vec<T> {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let mut gx = vec![T::ZERO; x.len()];
        gx.par_chunks_mut(hw).enumerate().for_each(|(p, out)| {
            let plane = &x[p * hw..][..hw];
            let g = &gy[p * ohw..][..ohw];
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    if let Some(i) = self.argmax(plane, oy, ox) {
                        out[i] += g[oy * self.ow + ox];
                    }
                }
            }
        });
        gx
    }
}

impl CustomOp1 for Pool {
    fn name(&self) -> &'static str {
        "wick-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, _, _) = l.shape().dims4()?;
        let st = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.fwd(cpu::slice::<f32>(s, l, "max_pool2d")?)),
            CpuStorage::F64(_) => CpuStorage::F64(self.fwd(cpu::slice::<f64>(s, l, "max_pool2d")?)),
            s => candle_core::bail!(
                "max_pool2d: unsupported dtype {:?}",
                candle_core::backend::BackendStorage::dtype(s)
            ),
        };
        Ok((st, (n, c, self.oh, self.ow).into()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            arg.apply_op2_no_bwd(&g.contiguous()?, &PoolBwd(*self))?,
        ))
    }
}

struct PoolBwd(Pool);

impl CustomOp2 for PoolBwd {
    fn name(&self) -> &'static str {
        "wick-max-pool2d-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let st = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(self.0.bwd(
                cpu::slice::<f32>(s1, l1, "max_pool2d")?,
                cpu::slice::<f32>(s2, l2, "max_pool2d grad")?,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(self.0.bwd(
                cpu::slice::<f64>(s1, l1, "max_pool2d")?,
                cpu::slice::<f64>(s2, l2, "max_pool2d grad")?,
            )),
            s => candle_core::bail!(
                "max_pool2d: unsupported dtype {:?}",
                candle_core::backend::BackendStorage::dtype(s)
            ),
        };
        Ok((st, l1.shape().clone()))
    }
}

/// Max pooling of an NCHW tensor with a `kernel`×`kernel` window, `stride` and implicit
/// `padding` (padded positions never win), PyTorch `max_pool2d` without ceil mode.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if kernel == 0 || stride == 0 || 2 * padding > kernel {
        candle_core::bail!(
            "max_pool2d: need kernel ≥ 1, stride ≥ 1 and padding ≤ kernel/2, got k={kernel} s={stride} p={padding}"
        );
    }
    if h + 2 * padding < kernel || w + 2 * padding < kernel {
        candle_core::bail!("max_pool2d: window {kernel} is larger than the {h}×{w} input");
    }
    let oh = (h + 2 * padding - kernel) / stride + 1;
    let ow = (w + 2 * padding - kernel) / stride + 1;
    if fast_path(x) {
        let op = Pool {
            k: kernel,
            stride,
            pad: padding,
            h,
            w,
            oh,
            ow,
        };
        return x.contiguous()?.apply_op1(op);
    }
    if padding > 0 {
        candle_core::bail!("max_pool2d: padding is only implemented on the CPU path");
    }
    x.max_pool2d_with_stride(kernel, stride)
}

/// Max-pool in ceil mode (Caffe/ncnn "full" windows, as SqueezeNet uses), no padding:
/// out = ceil((in − k) / s) + 1. Windows hanging over the bottom/right edge take the max of the
/// samples they cover: the input is edge-replicated (which cannot change any window's max) and
/// pooled with [`max_pool2d`], so the gradient is that op's, routed back through the pad.
pub fn max_pool2d_ceil(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if kernel == 0 || stride == 0 || h < kernel || w < kernel {
        candle_core::bail!(
            "max_pool2d_ceil: need kernel, stride ≥ 1 and a {h}×{w} input at least kernel {kernel} wide"
        );
    }
    let oh = (h - kernel).div_ceil(stride) + 1;
    let ow = (w - kernel).div_ceil(stride) + 1;
    let (ph, pw) = (
        (oh - 1) * stride + kernel - h,
        (ow - 1) * stride + kernel - w,
    );
    let xp = if ph > 0 || pw > 0 {
        super::pad2d(x, 0, pw, 0, ph, super::PadMode::Replicate)?
    } else {
        x.clone()
    };
    max_pool2d(&xp, kernel, stride, 0)
}
