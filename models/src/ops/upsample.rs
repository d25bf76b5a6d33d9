//! Resizing: nearest and bilinear (PyTorch semantics), with correct gradients.
//!
//! Candle 0.11.1's `upsample_nearest2d` backward overwrites the input's gradient instead of
//! adding to it (wrong whenever the input also feeds a skip connection) and bilinear has no
//! backward. Here both are custom ops on the CPU whose backward returns a fresh gradient that
//! Candle's backprop then accumulates. On other devices nearest upsampling by integer factors is
//! written with broadcast + reshape (whose gradient is a correct sum); other cases use Candle's op.

use super::conv::fast_path;
use super::cpu::{self, Elem};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Source index of output `o` for nearest resize from `inp` to `out` (PyTorch `nearest`).
fn nearest_src(o: usize, inp: usize, out: usize) -> usize {
    ((o * inp) / out).min(inp - 1)
}

/// Bilinear taps of output `o`: `(i0, i1, λ)` with value `(1−λ)·x[i0] + λ·x[i1]`.
pub(crate) fn bilinear_taps(
    o: usize,
    inp: usize,
    out: usize,
    align_corners: bool,
) -> (usize, usize, f64) {
    let src = if align_corners {
        if out > 1 {
            o as f64 * (inp as f64 - 1.0) / (out as f64 - 1.0)
        } else {
            0.0
        }
    } else {
        ((o as f64 + 0.5) * inp as f64 / out as f64 - 0.5).max(0.0)
    };
    let i0 = (src.floor() as usize).min(inp - 1);
    let i1 = (i0 + 1).min(inp - 1);
    (i0, i1, src - i0 as f64)
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Nearest,
    Bilinear { align_corners: bool },
}

/// Resize `[N, C, h, w]` → `[N, C, oh, ow]` (forward) or its adjoint (scatter-add back).
#[derive(Clone, Copy, Debug)]
struct Resize {
    mode: Mode,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    adjoint: bool,
}

/// Per-axis taps as (i0, i1, weight0, weight1).
fn taps<T: Elem>(mode: Mode, inp: usize, out: usize) -> Vec<(usize, usize, T, T)> {
    (0..out)
        .map(|o| match mode {
            Mode::Nearest => {
                let i = nearest_src(o, inp, out);
                (i, i, T::ONE, T::ZERO)
            }
            Mode::Bilinear { align_corners } => {
                let (i0, i1, l) = bilinear_taps(o, inp, out, align_corners);
                (i0, i1, T::from_f64(1.0 - l), T::from_f64(l))
            }
        })
        .collect()
}

impl Resize {
    fn run<T: Elem>(&self, x: &[T]) -> Vec<T> {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let ty = taps::<T>(self.mode, self.h, self.oh);
        let tx = taps::<T>(self.mode, self.w, self.ow);
        let nearest = matches!(self.mode, Mode::Nearest);
        let nx: Vec<usize> = tx.iter().map(|t| t.0).collect();
        let int_factor = ((self.ow / self.w) * self.w == self.ow).then_some(self.ow / self.w);
        if !self.adjoint {
            let planes = x.len() / hw;
            let mut y = vec![T::ZERO; planes * ohw];
            y.par_chunks_mut(ohw).enumerate().for_each(|(p, out)| {
                let src = &x[p * hw..][..hw];
                for (oy, &(y0, y1, wy0, wy1)) in ty.iter().enumerate() {
                    let r0 = &src[y0 * self.w..][..self.w];
                    let r1 = &src[y1 * self.w..][..self.w];
                    let dst = &mut out[oy * self.ow..][..self.ow];
                    if nearest {
                        if oy > 0 && ty[oy - 1].0 == y0 {
                            // Same source row as the previous output row: copy it.
                            let (prev, cur) = out.split_at_mut(oy * self.ow);
                            cur[..self.ow].copy_from_slice(&prev[(oy - 1) * self.ow..]);
                        } else if let Some(f) = int_factor {
                            for (d, v) in dst.chunks_exact_mut(f).zip(r0) {
                                d.fill(*v);
                            }
                        } else {
                            for (d, &x0) in dst.iter_mut().zip(&nx) {
                                *d = r0[x0];
                            }
                        }
                        continue;
                    }
                    for (d, &(x0, x1, wx0, wx1)) in dst.iter_mut().zip(&tx) {
                        *d = wy0 * (wx0 * r0[x0] + wx1 * r0[x1])
                            + wy1 * (wx0 * r1[x0] + wx1 * r1[x1]);
                    }
                }
            });
            y
        } else {
            let planes = x.len() / ohw;
            let mut gx = vec![T::ZERO; planes * hw];
            gx.par_chunks_mut(hw).enumerate().for_each(|(p, out)| {
                let src = &x[p * ohw..][..ohw];
                for (oy, &(y0, y1, wy0, wy1)) in ty.iter().enumerate() {
                    let g = &src[oy * self.ow..][..self.ow];
                    if nearest {
                        let row = &mut out[y0 * self.w..][..self.w];
                        for (gv, &(x0, ..)) in g.iter().zip(&tx) {
                            row[x0] += *gv;
                        }
                        continue;
                    }
                    for (gv, &(x0, x1, wx0, wx1)) in g.iter().zip(&tx) {
                        out[y0 * self.w + x0] += wy0 * wx0 * *gv;
                        out[y0 * self.w + x1] += wy0 * wx1 * *gv;
                        out[y1 * self.w + x0] += wy1 * wx0 * *gv;
                        out[y1 * self.w + x1] += wy1 * wx1 * *gv;
                    }
                }
            });
            gx
        }
    }
}

impl CustomOp1 for Resize {
    fn name(&self) -> &'static str {
        match (self.mode, self.adjoint) {
            (Mode::Nearest, false) => "wick-upsample-nearest2d",
            (Mode::Nearest, true) => "wick-upsample-nearest2d-bwd",
            (Mode::Bilinear { .. }, false) => "wick-upsample-bilinear2d",
            (Mode::Bilinear { .. }, true) => "wick-upsample-bilinear2d-bwd",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, _, _) = l.shape().dims4()?;
        let shape: Shape = if self.adjoint {
            (n, c, self.h, self.w).into()
        } else {
            (n, c, self.oh, self.ow).into()
        };
        let st = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.run(cpu::slice::<f32>(s, l, self.name())?)),
            CpuStorage::F64(_) => CpuStorage::F64(self.run(cpu::slice::<f64>(s, l, self.name())?)),
            s => candle_core::bail!(
                "{}: unsupported dtype {:?}",
                self.name(),
                candle_core::backend::BackendStorage::dtype(s)
            ),
        };
        Ok((st, shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let op = Resize {
            adjoint: !self.adjoint,
            ..*self
        };
        Ok(Some(g.contiguous()?.apply_op1(op)?))
    }
}

fn check(x: &Tensor, h: usize, w: usize, what: &str) -> Result<(usize, usize, usize, usize)> {
    let dims = x.dims4()?;
    if h == 0 || w == 0 || dims.2 == 0 || dims.3 == 0 {
        candle_core::bail!("{what}: cannot resize {:?} to {h}×{w}", x.dims());
    }
    Ok(dims)
}

/// Nearest-neighbour resize of an NCHW tensor to `h` × `w` (source index `⌊dst·in/out⌋`, which is
/// PyTorch's `nearest` for integer factors).
pub fn upsample_nearest2d(x: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (n, c, ih, iw) = check(x, h, w, "upsample_nearest2d")?;
    if fast_path(x) {
        let op = Resize {
            mode: Mode::Nearest,
            h: ih,
            w: iw,
            oh: h,
            ow: w,
            adjoint: false,
        };
        return x.contiguous()?.apply_op1(op);
    }
    if (h / ih) * ih == h && (w / iw) * iw == w {
        let (sh, sw) = (h / ih, w / iw);
        return x
            .reshape((n, c, ih, 1, iw, 1))?
            .broadcast_as((n, c, ih, sh, iw, sw))?
            .reshape((n, c, h, w));
    }
    x.upsample_nearest2d(h, w)
}

/// Bilinear resize of an NCHW tensor to `h` × `w` (PyTorch `interpolate(mode="bilinear")`).
pub fn upsample_bilinear2d(x: &Tensor, h: usize, w: usize, align_corners: bool) -> Result<Tensor> {
    let (_, _, ih, iw) = check(x, h, w, "upsample_bilinear2d")?;
    if fast_path(x) {
        let op = Resize {
            mode: Mode::Bilinear { align_corners },
            h: ih,
            w: iw,
            oh: h,
            ow: w,
            adjoint: false,
        };
        return x.contiguous()?.apply_op1(op);
    }
    x.upsample_bilinear2d(h, w, align_corners)
}
