//! Padding: zero, replicate and reflection, with independent widths on each side.
//!
//! On the CPU (f32/f64) one custom op does a single pass (forward) and a scatter-add (backward);
//! elsewhere the composite index-select version is used (its gradient is Candle's index-add).

use super::conv::fast_path;
use super::cpu::{self, Elem};
use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

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
    pad2d(x, left, right, top, bottom, PadMode::Reflect)
}

fn reflect_pad2d_composite(
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
    let (_, _, h, w) = x.dims4()?;
    if mode == PadMode::Reflect && (left.max(right) >= w || top.max(bottom) >= h) {
        candle_core::bail!(
            "reflection pad of (l {left}, r {right}, t {top}, b {bottom}) needs each pad smaller than the {h}×{w} input"
        );
    }
    if (mode == PadMode::Replicate) && (h == 0 || w == 0) {
        candle_core::bail!("replicate pad of an empty {h}×{w} input");
    }
    if fast_path(x) {
        let op = Pad {
            mode,
            l: left,
            r: right,
            t: top,
            b: bottom,
            h,
            w,
            adjoint: false,
        };
        return x.contiguous()?.apply_op1(op);
    }
    match mode {
        PadMode::Reflect => reflect_pad2d_composite(x, left, right, top, bottom),
        PadMode::Zero => x
            .pad_with_zeros(3, left, right)?
            .pad_with_zeros(2, top, bottom),
        PadMode::Replicate => x
            .pad_with_same(3, left, right)?
            .pad_with_same(2, top, bottom),
    }
}

/// Source index of padded position `i` (pad `before` on that side) in a line of `n`.
fn src_index(mode: PadMode, i: usize, before: usize, n: usize) -> Option<usize> {
    let j = i as i64 - before as i64;
    if (0..n as i64).contains(&j) {
        return Some(j as usize);
    }
    match mode {
        PadMode::Zero => None,
        PadMode::Replicate => Some(j.clamp(0, n as i64 - 1) as usize),
        PadMode::Reflect => Some(reflect_index(j, n as i64) as usize),
    }
}

/// `[N, C, h, w]` → `[N, C, t + h + b, l + w + r]` (forward) or its adjoint (sum back).
#[derive(Clone, Copy, Debug)]
struct Pad {
    mode: PadMode,
    l: usize,
    r: usize,
    t: usize,
    b: usize,
    h: usize,
    w: usize,
    adjoint: bool,
}

impl Pad {
    fn run<T: Elem>(&self, x: &[T]) -> Vec<T> {
        let (oh, ow) = (self.t + self.h + self.b, self.l + self.w + self.r);
        let (hw, ohw) = (self.h * self.w, oh * ow);
        let rows: Vec<Option<usize>> = (0..oh)
            .map(|i| src_index(self.mode, i, self.t, self.h))
            .collect();
        let cols: Vec<Option<usize>> = (0..ow)
            .map(|i| src_index(self.mode, i, self.l, self.w))
            .collect();
        let (l, w) = (self.l, self.w);
        if !self.adjoint {
            let mut y = vec![T::ZERO; x.len() / hw.max(1) * ohw];
            y.par_chunks_mut(ohw.max(1))
                .enumerate()
                .for_each(|(p, out)| {
                    let plane = &x[p * hw..][..hw];
                    for (oy, sy) in rows.iter().enumerate() {
                        let Some(sy) = sy else { continue };
                        let src = &plane[sy * w..][..w];
                        let dst = &mut out[oy * ow..][..ow];
                        dst[l..l + w].copy_from_slice(src);
                        for (ox, sx) in cols.iter().enumerate() {
                            if ox >= l && ox < l + w {
                                continue;
                            }
                            if let Some(sx) = sx {
                                dst[ox] = src[*sx];
                            }
                        }
                    }
                });
            y
        } else {
            let mut gx = vec![T::ZERO; x.len() / ohw.max(1) * hw];
            gx.par_chunks_mut(hw.max(1))
                .enumerate()
                .for_each(|(p, out)| {
                    let g = &x[p * ohw..][..ohw];
                    for (oy, sy) in rows.iter().enumerate() {
                        let Some(sy) = sy else { continue };
                        let src = &g[oy * ow..][..ow];
                        let dst = &mut out[sy * w..][..w];
                        for (d, v) in dst.iter_mut().zip(&src[l..l + w]) {
                            *d += *v;
                        }
                        for (ox, sx) in cols.iter().enumerate() {
                            if ox >= l && ox < l + w {
                                continue;
                            }
                            if let Some(sx) = sx {
                                dst[*sx] += src[ox];
                            }
                        }
                    }
                });
            gx
        }
    }
}

impl CustomOp1 for Pad {
    fn name(&self) -> &'static str {
        if self.adjoint {
            "wick-pad2d-bwd"
        } else {
            "wick-pad2d"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, _, _) = l.shape().dims4()?;
        let shape: Shape = if self.adjoint {
            (n, c, self.h, self.w).into()
        } else {
            (n, c, self.t + self.h + self.b, self.l + self.w + self.r).into()
        };
        let st = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.run(cpu::slice::<f32>(s, l, "pad2d")?)),
            CpuStorage::F64(_) => CpuStorage::F64(self.run(cpu::slice::<f64>(s, l, "pad2d")?)),
            s => candle_core::bail!(
                "pad2d: unsupported dtype {:?}",
                candle_core::backend::BackendStorage::dtype(s)
            ),
        };
        Ok((st, shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let op = Pad {
            adjoint: !self.adjoint,
            ..*self
        };
        Ok(Some(g.contiguous()?.apply_op1(op)?))
    }
}

/// The adjoint of [`pad2d`] (sums each padded position back onto its source): the input gradient
/// of a padding, for a gradient `g` shaped like the padded tensor.
pub(crate) fn pad2d_adjoint(
    g: &Tensor,
    left: usize,
    right: usize,
    top: usize,
    bottom: usize,
    mode: PadMode,
) -> Result<Tensor> {
    let (_, _, ph, pw) = g.dims4()?;
    let (h, w) = (ph - top - bottom, pw - left - right);
    let op = Pad {
        mode,
        l: left,
        r: right,
        t: top,
        b: bottom,
        h,
        w,
        adjoint: true,
    };
    g.contiguous()?.apply_op1(op)
}
