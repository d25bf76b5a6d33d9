//! Direct, register-blocked f32 convolution for x86_64 with AVX2 + FMA.
//!
//! The networks Wick runs are dominated by convolutions with few output channels (3–32) and
//! large images, where im2col + gemm spends its time packing. This kernel computes a block of
//! `OB` output channels × `8·NV` contiguous output pixels of one output row in YMM registers:
//! for every tap (input channel, ky, kx) it loads `NV` input vectors, broadcasts `OB` weights and
//! issues `OB·NV` FMAs.
//!
//! The input is read from a per-thread *band tile*: the padded input rows a band of output rows
//! needs, for every input channel, with the padding (zero, reflect or replicate, through
//! [`map_index`]) written in once, so the hot loop has no branches. For stride `s` every tile
//! row is stored as `s` phase planes (padded columns `ph, ph + s, ph + 2s, …`), so the taps of a
//! strided convolution are contiguous loads as well.
//!
//! Only groups = 1, dilation = 1, stride 1..=2 and kernels larger than 1×1 take this path; the
//! rest (and non-x86_64 targets, CPUs without AVX2/FMA, f64) stay on im2col + gemm.

use super::cpu::{map_index, threads, ConvGeom, SendPtr};
use rayon::prelude::*;

/// Largest pixel block (`8·NV`) of any kernel variant; sizes the tile's right-hand slack.
const MAX_PB: usize = 64;

/// Floats of one band tile that we aim for (256 KiB: the tile stays in L2).
const TILE_TARGET: usize = 1 << 16;

/// Whether the direct kernel handles geometry `g` (CPU features aside).
pub(crate) fn usable(g: &ConvGeom) -> bool {
    g.groups == 1
        && g.dil == 1
        && (1..=2).contains(&g.stride)
        && g.kh * g.kw > 1
        && g.n > 0
        && g.o > 0
        && g.c > 0
        && g.oh * g.ow > 0
}

/// Forward convolution through the direct kernel, or `None` when it does not apply (geometry,
/// target or CPU features); the caller then uses im2col + gemm.
pub(crate) fn conv2d_f32(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
) -> Option<Vec<f32>> {
    if !usable(g) || !cpu_ok() {
        return None;
    }
    Some(run(x, w, bias, g))
}

#[cfg(target_arch = "x86_64")]
fn cpu_ok() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_ok() -> bool {
    false
}

/// Everything the band workers share: geometry, tile layout, tap offsets.
struct Plan {
    g: ConvGeom,
    /// Padded width `w + 2·pad`.
    wp: usize,
    /// Length of one phase plane of a tile row (≥ every column a pixel block reads).
    l: usize,
    /// Output rows per band.
    bh: usize,
    /// Tile rows per band: `(bh − 1)·s + kh`.
    tr: usize,
    /// Source column of every padded column (`usize::MAX` for a zero).
    colmap: Vec<usize>,
    /// Tile offset of every tap `(ci, ky, kx)`, in the weight's own order.
    offs: Vec<usize>,
}

impl Plan {
    fn new(g: &ConvGeom) -> Self {
        let s = g.stride;
        let wp = g.w + 2 * g.pad;
        // A block starting at ox0 < ow reads phase columns up to ox0 + (kw−1)/s + PB − 1.
        let l = (g.ow + (g.kw - 1) / s + MAX_PB + 1).div_ceil(8) * 8;
        debug_assert!(l >= wp.div_ceil(s));
        let row = g.c * s * l;
        let tr_budget = (TILE_TARGET / row.max(1)).max(g.kh);
        let mut bh = (tr_budget - g.kh) / s + 1;
        // Enough bands for every thread to have several.
        let per_image = (4 * threads()).div_ceil(g.n);
        bh = bh.min(g.oh.div_ceil(per_image)).clamp(1, g.oh);
        let tr = (bh - 1) * s + g.kh;
        let colmap = (0..wp)
            .map(|j| map_index(g.mode, j as isize - g.pad as isize, g.w).unwrap_or(usize::MAX))
            .collect();
        let mut offs = Vec::with_capacity(g.c * g.kh * g.kw);
        for ci in 0..g.c {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    offs.push(((ci * tr + ky) * s + kx % s) * l + kx / s);
                }
            }
        }
        Plan {
            g: *g,
            wp,
            l,
            bh,
            tr,
            colmap,
            offs,
        }
    }

    fn tile_len(&self) -> usize {
        self.g.c * self.tr * self.g.stride * self.l
    }

    /// Writes the padded input rows of the band starting at output row `oy0` (`bh` rows) of
    /// sample `b` into `tile`.
    fn fill(&self, x: &[f32], b: usize, oy0: usize, bh: usize, tile: &mut [f32]) {
        let g = &self.g;
        let (s, l, hw) = (g.stride, self.l, g.h * g.w);
        let rows = (bh - 1) * s + g.kh;
        for ci in 0..g.c {
            let plane = &x[(b * g.c + ci) * hw..][..hw];
            for r in 0..rows {
                let dst = &mut tile[(ci * self.tr + r) * s * l..][..s * l];
                let ry = (oy0 * s + r) as isize - g.pad as isize;
                match map_index(g.mode, ry, g.h) {
                    None => dst.fill(0.0),
                    Some(iy) => self.fill_row(&plane[iy * g.w..][..g.w], dst),
                }
            }
        }
    }

    /// One padded input row into its `s` phase planes.
    fn fill_row(&self, src: &[f32], dst: &mut [f32]) {
        let (s, l, pad, w) = (self.g.stride, self.l, self.g.pad, self.g.w);
        for j in (0..pad).chain(pad + w..self.wp) {
            let ix = self.colmap[j];
            dst[(j % s) * l + j / s] = if ix == usize::MAX { 0.0 } else { src[ix] };
        }
        if s == 1 {
            dst[pad..pad + w].copy_from_slice(src);
            return;
        }
        for ph in 0..s {
            // Source columns i with (pad + i) % s == ph.
            let i0 = (ph + s - pad % s) % s;
            if i0 >= w {
                continue;
            }
            let n = (w - i0).div_ceil(s);
            let d = &mut dst[ph * l + (pad + i0) / s..][..n];
            for (d, v) in d.iter_mut().zip(src[i0..].iter().step_by(s)) {
                *d = *v;
            }
        }
    }
}

/// Weights packed per block of `ob` output channels: `[o/ob][tap][ob]`, zero past `o`.
fn pack_weights(w: &[f32], o: usize, taps: usize, ob: usize) -> Vec<f32> {
    let blocks = o.div_ceil(ob);
    let mut p = vec![0.0; blocks * taps * ob];
    for oc in 0..o {
        let (blk, i) = (oc / ob, oc % ob);
        for t in 0..taps {
            p[(blk * taps + t) * ob + i] = w[oc * taps + t];
        }
    }
    p
}

/// Kernel variant (output channels per block, 8-pixel vectors per block) for `o` outputs; each
/// keeps `OB·NV` accumulators + `NV` inputs + 1 weight within the 16 YMM registers.
fn variant(o: usize) -> (usize, usize) {
    match o {
        1 => (1, 7),
        2 => (2, 5),
        3 => (3, 3),
        _ => (4, 3),
    }
}

fn run(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Vec<f32> {
    let plan = Plan::new(g);
    let (ob, nv) = variant(g.o);
    debug_assert!(8 * nv <= MAX_PB);
    let taps = plan.offs.len();
    debug_assert_eq!(w.len(), g.o * taps);
    let wpk = pack_weights(w, g.o, taps, ob);
    let blocks = g.o.div_ceil(ob);
    let mut bpk = vec![0.0f32; blocks * ob];
    if let Some(bias) = bias {
        bpk[..g.o].copy_from_slice(&bias[..g.o]);
    }
    let pix = g.oh * g.ow;
    let mut y = vec![0.0f32; g.n * g.o * pix];
    let yp = SendPtr(y.as_mut_ptr());
    let bands = g.oh.div_ceil(plan.bh);
    let tile_len = plan.tile_len();
    (0..g.n * bands).into_par_iter().for_each_init(
        || vec![0.0f32; tile_len],
        |tile, job| {
            let (b, band) = (job / bands, job % bands);
            let oy0 = band * plan.bh;
            let bh = plan.bh.min(g.oh - oy0);
            plan.fill(x, b, oy0, bh, tile);
            let args = Rows {
                plan: &plan,
                tile,
                wpk: &wpk,
                bias: &bpk,
                y: yp,
                b,
                oy0,
                bh,
            };
            // SAFETY: `cpu_ok()` checked AVX2 + FMA; `args` satisfies `rows`' contract (see there):
            // the tile has the plan's layout, `wpk`/`bpk` were packed for this variant, and the
            // band's output rows of sample `b` are written by this job only.
            unsafe { dispatch(nv, ob, &args) }
        },
    );
    y
}

/// One band's work for [`rows`].
struct Rows<'a> {
    plan: &'a Plan,
    tile: &'a [f32],
    wpk: &'a [f32],
    bias: &'a [f32],
    y: SendPtr<f32>,
    b: usize,
    oy0: usize,
    bh: usize,
}

/// # Safety
/// As [`avx2::rows`].
#[cfg(target_arch = "x86_64")]
unsafe fn dispatch(nv: usize, ob: usize, a: &Rows) {
    match (ob, nv) {
        (1, 7) => avx2::rows::<1, 7>(a),
        (2, 5) => avx2::rows::<2, 5>(a),
        (3, 3) => avx2::rows::<3, 3>(a),
        (4, 3) => avx2::rows::<4, 3>(a),
        _ => unreachable!("no direct-conv variant {ob}×{nv}"),
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dispatch(_nv: usize, _ob: usize, _a: &Rows) {
    unreachable!("the direct convolution is only selected on x86_64")
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Rows;
    use std::arch::x86_64::*;

    /// All output rows of one band, every output-channel block, every pixel block.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA. `a.tile` holds the band (rows `oy0..oy0 + bh`) in the
    /// plan's layout and is `plan.tile_len()` long; `a.wpk` is `[o/OB][taps][OB]`, `a.bias` is
    /// `o.div_ceil(OB)·OB` long; `a.y` points at the `[n, o, oh, ow]` output, whose rows
    /// `oy0..oy0 + bh` of sample `b` no other thread accesses meanwhile.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows<const OB: usize, const NV: usize>(a: &Rows) {
        let p = a.plan;
        let g = &p.g;
        let (s, taps) = (g.stride, p.offs.len());
        let pb = 8 * NV;
        let blocks = g.o.div_ceil(OB);
        assert!(a.tile.len() >= p.tile_len());
        assert!(a.wpk.len() >= blocks * taps * OB && a.bias.len() >= blocks * OB);
        assert!(a.oy0 + a.bh <= g.oh && a.bh <= p.bh && a.b < g.n && pb <= super::MAX_PB);
        for oyl in 0..a.bh {
            let oy = a.oy0 + oyl;
            // Tile row of tap ky for this output row: oyl·s + ky (< tr since oyl < bh).
            let row = oyl * s * s * p.l;
            let mut ox0 = 0;
            while ox0 < g.ow {
                let npix = pb.min(g.ow - ox0);
                for blk in 0..blocks {
                    let oc0 = blk * OB;
                    let nout = OB.min(g.o - oc0);
                    let mut dst = [std::ptr::null_mut(); OB];
                    for (i, d) in dst.iter_mut().enumerate().take(nout) {
                        // SAFETY: oc0 + i < o, oy < oh, ox0 < ow: inside the output.
                        *d =
                            a.y.get()
                                .add(((a.b * g.o + oc0 + i) * g.oh + oy) * g.ow + ox0);
                    }
                    // SAFETY: every tap reads tile[row + ox0 + offs[t] .. + pb]: the tile row
                    // index oyl·s + ky < tr and the column ox0 + kx/s + pb − 1 < l (Plan::new),
                    // so the read stays inside the tile. The weights read are taps·OB floats of
                    // block `blk`; the stores cover `npix` pixels of `nout` valid channels.
                    block::<OB, NV>(
                        a.tile.as_ptr().add(row + ox0),
                        &p.offs,
                        a.wpk.as_ptr().add(blk * taps * OB),
                        a.bias.as_ptr().add(oc0),
                        &dst,
                        nout,
                        npix,
                    );
                }
                ox0 += pb;
            }
        }
    }

    /// Unaligned load of 8 floats. `_mm256_loadu_ps` goes through `ptr::copy_nonoverlapping`,
    /// whose overlap check (debug assertions: the dev and test profiles) spills the accumulators
    /// in the hot loop; `vlddqu` is the same load without it.
    ///
    /// # Safety
    /// AVX2; `p + [0, 8)` readable.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load(p: *const f32) -> __m256 {
        _mm256_castsi256_ps(_mm256_lddqu_si256(p as *const __m256i))
    }

    /// `OB` output channels × `8·NV` pixels: bias + Σ_taps input · weight, stored for `nout`
    /// channels and `npix` pixels.
    ///
    /// # Safety
    /// AVX2 + FMA; `src + offs[t] + [0, 8·NV)` readable for every `t`; `wk` holds
    /// `offs.len()·OB` floats and `bias` `OB`; `dst[i] + [0, npix)` writable for `i < nout`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const OB: usize, const NV: usize>(
        src: *const f32,
        offs: &[usize],
        wk: *const f32,
        bias: *const f32,
        dst: &[*mut f32; OB],
        nout: usize,
        npix: usize,
    ) {
        let mut acc = [[_mm256_setzero_ps(); NV]; OB];
        let mut wp = wk;
        for &off in offs {
            let p = src.add(off);
            let mut v = [_mm256_setzero_ps(); NV];
            #[allow(clippy::needless_range_loop)]
            for j in 0..NV {
                v[j] = load(p.add(8 * j));
            }
            #[allow(clippy::needless_range_loop)]
            for o in 0..OB {
                let wv = _mm256_broadcast_ss(&*wp.add(o));
                for j in 0..NV {
                    acc[o][j] = _mm256_fmadd_ps(v[j], wv, acc[o][j]);
                }
            }
            wp = wp.add(OB);
        }
        for (o, acc) in acc.iter_mut().enumerate() {
            let b = _mm256_broadcast_ss(&*bias.add(o));
            for v in acc.iter_mut() {
                *v = _mm256_add_ps(*v, b);
            }
        }
        if npix == 8 * NV {
            for (d, acc) in dst.iter().zip(&acc).take(nout) {
                for (j, v) in acc.iter().enumerate() {
                    _mm256_storeu_ps(d.add(8 * j), *v);
                }
            }
        } else {
            let mut buf = [[0.0f32; 8]; NV];
            for (d, acc) in dst.iter().zip(&acc).take(nout) {
                for (b, v) in buf.iter_mut().zip(acc) {
                    _mm256_storeu_ps(b.as_mut_ptr(), *v);
                }
                let flat = buf.as_flattened();
                std::ptr::copy_nonoverlapping(flat.as_ptr(), *d, npix);
            }
        }
    }
}
