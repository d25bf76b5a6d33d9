//! Direct, register-blocked f32 convolution for x86_64: AVX-512F where the CPU has it, else
//! AVX2 + FMA (both picked at run time).
//!
//! The networks Wick runs are dominated by convolutions with few output channels (3–32) and
//! large images, where im2col + gemm spends its time packing. This kernel computes a block of
//! `OB` output channels × `NV` vectors of contiguous output pixels of one output row in
//! registers: for every tap (input channel, ky, kx) it loads `NV` input vectors, broadcasts `OB`
//! weights (packed `[block][tap][OB]`) and issues `OB·NV` FMAs.
//!
//! The input is read from a per-thread tile: a ring of the `kh` padded input rows the current
//! output row needs, for every input channel, with the padding (zero, reflect or replicate,
//! through [`map_index`]) written in once, so the hot loop has no branches. A thread computes a
//! band of consecutive output rows and fills only the `stride` new input rows per output row.
//! For stride `s` every tile row is stored as `s` phase planes (padded columns
//! `ph, ph + s, ph + 2s, …`), so the taps of a strided convolution are contiguous loads as well.
//!
//! Only groups = 1, dilation = 1 and stride 1..=2 take this path (1×1 kernels included: 58–63
//! GFLOP/s on 1×1 128→256 @64² against 35 for the pointwise gemm); the rest (and non-x86_64
//! targets, CPUs without AVX2/FMA, f64) stay on im2col + gemm.

use super::cpu::{map_index, threads, ConvGeom, SendPtr};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU8, Ordering};

/// Which f32 forward-convolution kernel runs (for tests and benchmarks; process-wide).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKernel {
    /// The fastest the CPU supports: AVX-512, else AVX2 + FMA direct kernels, else im2col + gemm.
    Auto,
    /// The AVX2 + FMA direct kernel even where AVX-512 is available (still gemm without AVX2).
    Avx2,
    /// im2col + gemm for every shape.
    Gemm,
}

static KERNEL: AtomicU8 = AtomicU8::new(0);

/// Selects the f32 convolution kernel for the whole process (tests and benchmarks compare the
/// paths with it; every path computes the same convolution).
#[doc(hidden)]
pub fn set_conv_kernel(k: ConvKernel) {
    KERNEL.store(k as u8, Ordering::Relaxed);
}

fn kernel() -> ConvKernel {
    match KERNEL.load(Ordering::Relaxed) {
        1 => ConvKernel::Avx2,
        2 => ConvKernel::Gemm,
        _ => ConvKernel::Auto,
    }
}

/// Largest pixel block (lanes · `NV`) of any kernel variant; sizes the tile's right-hand slack.
const MAX_PB: usize = 128;

/// Whether the direct kernel handles geometry `g` (CPU features aside).
pub(crate) fn usable(g: &ConvGeom) -> bool {
    g.groups == 1
        && g.dil == 1
        && (1..=2).contains(&g.stride)
        && g.kh * g.kw > 0
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
    if !usable(g) || !cpu_ok() || kernel() == ConvKernel::Gemm {
        return None;
    }
    Some(run(x, w, bias, g))
}

/// Whether forward convolutions that [`usable`] accepts run a direct kernel here.
pub(crate) fn enabled() -> bool {
    cpu_ok() && kernel() != ConvKernel::Gemm
}

#[cfg(target_arch = "x86_64")]
fn cpu_ok() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// AVX-512F: 16-float vectors and 32 registers (bigger register blocks); checked per call.
#[cfg(target_arch = "x86_64")]
fn avx512_ok() -> bool {
    kernel() == ConvKernel::Auto && is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_ok() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_ok() -> bool {
    false
}

/// Everything the band workers share: geometry and tile layout.
///
/// A worker computes a band of consecutive output rows. Its tile is a ring of `ring` padded
/// input rows per input channel; each row is `s` phase planes of `l` floats (padded columns
/// `ph, ph + s, …`). Moving to the next output row fills only the `s` new input rows.
struct Plan {
    g: ConvGeom,
    /// Padded width `w + 2·pad`.
    wp: usize,
    /// Length of one phase plane of a tile row (≥ every column a pixel block reads).
    l: usize,
    /// Output rows per band (one job).
    bh: usize,
    /// Input rows held per channel: `kh` (the rows one output row reads).
    ring: usize,
    /// Source column of every padded column (`usize::MAX` for a zero).
    colmap: Vec<usize>,
}

impl Plan {
    fn new(g: &ConvGeom) -> Self {
        let s = g.stride;
        let wp = g.w + 2 * g.pad;
        // A block starting at ox0 < ow reads phase columns up to ox0 + (kw−1)/s + PB − 1.
        let l = (g.ow + (g.kw - 1) / s + MAX_PB + 1).div_ceil(8) * 8;
        debug_assert!(l >= wp.div_ceil(s));
        // Several bands per thread (load balance); each band re-reads kh − s rows of the last.
        let per_image = (8 * threads()).div_ceil(g.n);
        let bh = g.oh.div_ceil(per_image).clamp(1, g.oh);
        let colmap = (0..wp)
            .map(|j| map_index(g.mode, j as isize - g.pad as isize, g.w).unwrap_or(usize::MAX))
            .collect();
        Plan {
            g: *g,
            wp,
            l,
            bh,
            ring: g.kh,
            colmap,
        }
    }

    fn tile_len(&self) -> usize {
        self.g.c * self.ring * self.g.stride * self.l
    }

    /// Tile offsets of every tap `(ci, ky, kx)` (the weight's order) for output row `oy`.
    fn offsets(&self, oy: usize, offs: &mut [usize]) {
        let g = &self.g;
        let (s, l) = (g.stride, self.l);
        let mut t = 0;
        for ci in 0..g.c {
            for ky in 0..g.kh {
                let slot = (oy * s + ky) % self.ring;
                let row = (ci * self.ring + slot) * s * l;
                for kx in 0..g.kw {
                    offs[t] = row + (kx % s) * l + kx / s;
                    t += 1;
                }
            }
        }
    }

    /// Writes padded input rows `[r0, r1)` (padded-row coordinates) of sample `b` into their ring
    /// slots.
    fn fill(&self, x: &[f32], b: usize, r0: usize, r1: usize, tile: &mut [f32]) {
        let (s, l) = (self.g.stride, self.l);
        let at = |ci: usize, r: usize| (ci * self.ring + r % self.ring) * s * l;
        self.fill_rows(x, b, r0..r1, tile, at, s * l);
    }

    /// Writes padded input rows `rows` of sample `b`, every channel, each (`len` floats) at
    /// `tile[at(ci, r)..]`: zeros, or the source row laid out by [`Plan::fill_row`].
    fn fill_rows(
        &self,
        x: &[f32],
        b: usize,
        rows: std::ops::Range<usize>,
        tile: &mut [f32],
        at: impl Fn(usize, usize) -> usize,
        len: usize,
    ) {
        let g = &self.g;
        let hw = g.h * g.w;
        for ci in 0..g.c {
            let plane = &x[(b * g.c + ci) * hw..][..hw];
            for r in rows.clone() {
                let dst = &mut tile[at(ci, r)..][..len];
                match map_index(g.mode, r as isize - g.pad as isize, g.h) {
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
        match s {
            1 => dst[pad..pad + w].copy_from_slice(src),
            2 => {
                // Source column i goes to phase (pad + i) % 2 at (pad + i) / 2: the even source
                // columns to phase a = pad % 2 from pad / 2 on, the odd ones to 1 − a.
                let a = pad % 2;
                let (p0, p1) = dst.split_at_mut(l);
                let (ev, od) = if a == 0 { (p0, p1) } else { (p1, p0) };
                let ev = &mut ev[pad / 2..][..w.div_ceil(2)];
                let od = &mut od[pad.div_ceil(2)..][..w / 2];
                for ((e, o), pair) in ev.iter_mut().zip(od.iter_mut()).zip(src.chunks_exact(2)) {
                    *e = pair[0];
                    *o = pair[1];
                }
                if w % 2 == 1 {
                    ev[w / 2] = src[w - 1];
                }
            }
            _ => {
                for (i, v) in src.iter().enumerate() {
                    let j = pad + i;
                    dst[(j % s) * l + j / s] = *v;
                }
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
/// keeps `OB·NV` accumulators + `NV` inputs + 2 weights within the 16 YMM registers. (4×3 fits
/// only with one weight register; LLVM then spills an accumulator every tap, and the
/// store-to-load round trip on that accumulator's chain made it 30 % slower than 4×2.)
fn variant(o: usize) -> (usize, usize) {
    match o {
        1 => (1, 7),
        2 => (2, 4),
        3 => (3, 3),
        _ => (4, 2),
    }
}

/// AVX-512 variant (output channels, 16-pixel vectors): `OB·NV` accumulators of the 32 ZMM
/// registers, at most 8 channels per block.
fn variant512(o: usize) -> (usize, usize) {
    match o {
        1 => (1, 8),
        2 => (2, 6),
        3 => (3, 5),
        4 => (4, 4),
        5..=6 => (o, 3),
        _ => (8, 2),
    }
}

/// Weights and bias packed for the direct kernel's channel blocks, kept across calls for
/// inference code that runs the same convolution many times (small feature maps otherwise spend
/// as long packing the weights as convolving). The packing depends only on the block size, so
/// one cache serves every input size.
#[derive(Default)]
pub(crate) struct PackCache(std::sync::Mutex<Vec<(usize, std::sync::Arc<Packed>)>>);

pub(crate) struct Packed {
    w: Vec<f32>,
    b: Vec<f32>,
}

fn pack(w: &[f32], bias: Option<&[f32]>, g: &ConvGeom, ob: usize) -> Packed {
    let taps = g.c * g.kh * g.kw;
    debug_assert_eq!(w.len(), g.o * taps);
    let wpk = pack_weights(w, g.o, taps, ob);
    let mut bpk = vec![0.0f32; g.o.div_ceil(ob) * ob];
    if let Some(bias) = bias {
        bpk[..g.o].copy_from_slice(&bias[..g.o]);
    }
    Packed { w: wpk, b: bpk }
}

fn run(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &ConvGeom) -> Vec<f32> {
    run_cached(x, w, bias, g, None, Epilogue::None)
}

/// What the direct kernel applies to each output after the bias, while the output row is still
/// in cache (saves a pass over the activation).
#[derive(Clone, Copy)]
pub(crate) enum Epilogue<'a> {
    None,
    /// `max(v, slope·v)`.
    Leaky(f32),
    /// `max(v + r, slope·(v + r))` with `r` the same element of a tensor shaped like the output
    /// (a residual connection).
    AddLeaky(&'a [f32], f32),
}

impl Epilogue<'_> {
    /// Applies the epilogue to a whole output tensor (for the paths without a direct kernel).
    pub(crate) fn apply(&self, y: &mut [f32]) {
        let leaky = |v: f32, s: f32| v.max(v * s);
        match *self {
            Epilogue::None => {}
            Epilogue::Leaky(s) => y.par_iter_mut().for_each(|v| *v = leaky(*v, s)),
            Epilogue::AddLeaky(r, s) => {
                assert_eq!(r.len(), y.len());
                y.par_iter_mut()
                    .zip(r.par_iter())
                    .for_each(|(v, &r)| *v = leaky(*v + r, s));
            }
        }
    }
}

/// [`conv2d_f32`] with the packed weights taken from (or added to) `cache`. The caller keeps
/// one cache per (weights, bias) pair.
pub(crate) fn conv2d_f32_cached(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    cache: &PackCache,
    epi: Epilogue,
) -> Option<Vec<f32>> {
    if !usable(g) || !cpu_ok() || kernel() == ConvKernel::Gemm {
        return None;
    }
    Some(run_cached(x, w, bias, g, Some(cache), epi))
}

fn run_cached(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeom,
    cache: Option<&PackCache>,
    epi: Epilogue,
) -> Vec<f32> {
    let plan = Plan::new(g);
    let wide = avx512_ok();
    let (lanes, (ob, nv)) = if wide {
        (16, variant512(g.o))
    } else {
        (8, variant(g.o))
    };
    let flat = flat_band(g, lanes * nv);
    let (ob, nv) = match (wide, g.o) {
        // Narrow images in rows: one 16-pixel vector per block wastes fewer lanes than two.
        (true, 8..) if g.ow <= 16 && flat.is_none() => (8, 1),
        _ => (ob, nv),
    };
    let packed = match cache {
        Some(c) => {
            let mut v = c.0.lock().unwrap_or_else(|p| p.into_inner());
            match v.iter().find(|(b, _)| *b == ob) {
                Some((_, p)) => p.clone(),
                None => {
                    let p = std::sync::Arc::new(pack(w, bias, g, ob));
                    v.push((ob, p.clone()));
                    p
                }
            }
        }
        None => std::sync::Arc::new(pack(w, bias, g, ob)),
    };
    let (wpk, bpk) = (&packed.w, &packed.b);
    let taps = g.c * g.kh * g.kw;
    let pix = g.oh * g.ow;
    // Every element is written below (all rows, channels and pixels), so a reused buffer's
    // stale contents never show.
    let mut y = super::buffers::take(g.n * g.o * pix);
    if let Epilogue::AddLeaky(r, _) = epi {
        assert_eq!(r.len(), y.len(), "residual must be shaped like the output");
    }
    let yp = SendPtr(y.as_mut_ptr());
    if let Some(bh) = flat {
        run_flat(&plan, bh, x, wpk, bpk, yp, epi, (wide, nv, ob));
        return y;
    }
    let bands = g.oh.div_ceil(plan.bh);
    let (s, kh) = (g.stride, g.kh);
    (0..g.n * bands).into_par_iter().for_each_init(
        || (vec![0.0f32; plan.tile_len()], vec![0usize; taps]),
        |(tile, offs), job| {
            let (b, band) = (job / bands, job % bands);
            let oy0 = band * plan.bh;
            let oy1 = (oy0 + plan.bh).min(g.oh);
            for oy in oy0..oy1 {
                // Padded input rows oy·s .. oy·s + kh; the earlier ones are already in the ring.
                let r1 = oy * s + kh;
                let r0 = if oy == oy0 { oy * s } else { r1 - s.min(kh) };
                plan.fill(x, b, r0, r1, tile);
                plan.offsets(oy, offs);
                let args = Row {
                    plan: &plan,
                    tile,
                    offs,
                    wpk,
                    bias: bpk,
                    y: yp,
                    b,
                    oy,
                    flat: None,
                    epi,
                };
                // SAFETY: `cpu_ok()` checked AVX2 + FMA; `args` satisfies `row`'s contract (see
                // there): the tile holds output row `oy`'s input rows at `offs`, `wpk`/`bpk` were
                // packed for this variant, and output row `oy` of sample `b` is written by this
                // job only.
                unsafe { dispatch(wide, nv, ob, &args) }
            }
        },
    );
    y
}

/// The band height of the flat layout for `g` with pixel blocks of `pb`, where it wastes
/// fewer vector lanes than the row layout; `None` to keep rows.
///
/// The row layout computes one output row per pixel block, so a narrow map wastes the lanes
/// past its width in every row (48 px in blocks of 32: a quarter). For stride 1 the flat layout
/// instead stores a band's padded input rows back to back (row pitch `wp`): tap `(ci, ky, kx)`
/// of the output at flat position `r·wp + ox` is then the input at that position plus
/// `ci·plane + ky·wp + kx`, the same offset for every output, so pixel blocks run across rows
/// and only the `wp − ow` padding columns of each row (and a band's last block) are computed
/// and dropped. Bands are taller here (about two per thread and image) to keep blocks full.
fn flat_band(g: &ConvGeom, pb: usize) -> Option<usize> {
    if g.stride != 1 {
        return None;
    }
    let wp = g.w + 2 * g.pad;
    let per_image = (2 * threads()).div_ceil(g.n);
    // A band's tile (c · (bh + kh − 1) rows of wp floats) kept within about 1 MB, the size of
    // a core's L2 here: wide, deep maps get more, shorter bands.
    let fits = ((1usize << 20) / (4 * g.c * wp))
        .saturating_sub(g.kh - 1)
        .max(1);
    let bh = g.oh.div_ceil(per_image).clamp(1, g.oh).min(fits);
    let rows = g.ow.div_ceil(pb) * pb;
    let flat = ((bh - 1) * wp + g.ow).div_ceil(pb) * pb;
    // Lanes spent per band: keep rows unless flat saves a tenth.
    (10 * flat < 9 * bh * rows).then_some(bh)
}

/// The flat layout's convolution (see [`flat_band`]): bands of `bh` output rows, each band's
/// `bh + kh − 1` padded input rows per channel filled once, then every output-channel block run
/// over the band's flat positions.
#[allow(clippy::too_many_arguments)]
fn run_flat(
    plan: &Plan,
    bh: usize,
    x: &[f32],
    wpk: &[f32],
    bpk: &[f32],
    yp: SendPtr<f32>,
    epi: Epilogue,
    (wide, nv, ob): (bool, usize, usize),
) {
    let g = &plan.g;
    let wp = plan.wp;
    let taps = g.c * g.kh * g.kw;
    // One channel's rows; the tile ends with a pixel block of slack (read by dropped lanes).
    let plane = (bh + g.kh - 1) * wp;
    let tile_len = g.c * plane + MAX_PB;
    let bands = g.oh.div_ceil(bh);
    (0..g.n * bands).into_par_iter().for_each_init(
        || (vec![0.0f32; tile_len], vec![0usize; taps]),
        |(tile, offs), job| {
            let (b, band) = (job / bands, job % bands);
            let oy0 = band * bh;
            let rows = bh.min(g.oh - oy0);
            // Padded rows oy0 .. oy0 + rows + kh − 1, back to back per channel.
            let at = |ci: usize, r: usize| ci * plane + (r - oy0) * wp;
            plan.fill_rows(x, b, oy0..oy0 + rows + g.kh - 1, tile, at, wp);
            let mut t = 0;
            for ci in 0..g.c {
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        offs[t] = ci * plane + ky * wp + kx;
                        t += 1;
                    }
                }
            }
            let args = Row {
                plan,
                tile,
                offs,
                wpk,
                bias: bpk,
                y: yp,
                b,
                oy: oy0,
                flat: Some(rows),
                epi,
            };
            // SAFETY: as in `run_cached`: the CPU features were checked, the tile holds the
            // band's input rows at `offs` (plus a pixel block of slack), and the band's output
            // rows of sample `b` are written by this job only.
            unsafe { dispatch(wide, nv, ob, &args) }
        },
    );
}

/// One output row's work for [`avx2::row`].
struct Row<'a> {
    plan: &'a Plan,
    tile: &'a [f32],
    offs: &'a [usize],
    wpk: &'a [f32],
    bias: &'a [f32],
    y: SendPtr<f32>,
    b: usize,
    /// The output row (the flat layout: the band's first).
    oy: usize,
    /// The flat layout's band height ([`flat_band`]); `None`: one row, the row layout.
    flat: Option<usize>,
    epi: Epilogue<'a>,
}

/// The epilogue as the SIMD kernels apply it in registers before the store: the residual's
/// elements at the block's outputs (one pointer per output channel) added, then
/// `max(v, slope·v)`. The same arithmetic, in the same order, as [`epilogue`].
#[derive(Clone, Copy)]
struct Fused<const OB: usize> {
    slope: Option<f32>,
    res: Option<[*const f32; OB]>,
}

impl<const OB: usize> Fused<OB> {
    const NONE: Self = Self {
        slope: None,
        res: None,
    };
}

/// One output row for the SIMD kernels (`avx2::row`, `avx512::row`): checks every bound once,
/// then runs `block(src, wk, bias, dst, nout, npix, epi)` for each output-channel block (outside:
/// one block's `taps·OB` weights stay in L1 while the pixel blocks stream through the tile) and
/// each block of `pb` pixels.
///
/// # Safety
/// `a.wpk` is `[o/OB][taps][OB]`, `a.bias` `o.div_ceil(OB)·OB` long; `a.y` points at the
/// `[n, o, oh, ow]` output, whose row `oy` of sample `b` no other thread accesses meanwhile.
/// `block` reads `src + offs[t] + [0, pb)` for every tap `t`, `taps·OB` weights from `wk` and `OB`
/// from `bias`, and writes `dst[i] + [0, npix)` for `i < nout`.
#[cfg(target_arch = "x86_64")]
unsafe fn row_blocks<const OB: usize>(
    a: &Row,
    pb: usize,
    block: impl Fn(*const f32, *const f32, *const f32, &[*mut f32; OB], usize, usize, Fused<OB>),
) {
    if let Some(rows) = a.flat {
        return flat_blocks::<OB>(a, rows, pb, block);
    }
    let p = a.plan;
    let g = &p.g;
    let taps = a.offs.len();
    let blocks = g.o.div_ceil(OB);
    assert!(a.tile.len() >= p.tile_len() && taps == g.c * g.kh * g.kw);
    // The furthest read of any tap: the last pixel block's start + pb.
    let reach = (g.ow - 1) / pb * pb + pb;
    assert!(a.offs.iter().all(|&o| o + reach <= a.tile.len()));
    assert!(a.wpk.len() >= blocks * taps * OB && a.bias.len() >= blocks * OB);
    assert!(a.oy < g.oh && a.b < g.n && pb <= MAX_PB);
    if let Epilogue::AddLeaky(r, _) = a.epi {
        assert_eq!(r.len(), g.n * g.o * g.oh * g.ow);
    }
    for blk in 0..blocks {
        let oc0 = blk * OB;
        let nout = OB.min(g.o - oc0);
        let wk = a.wpk.as_ptr().add(blk * taps * OB);
        let mut ox0 = 0;
        while ox0 < g.ow {
            let npix = pb.min(g.ow - ox0);
            // Output channel oc0 + i's element at (a.oy, ox0).
            let at = |i: usize| ((a.b * g.o + oc0 + i) * g.oh + a.oy) * g.ow + ox0;
            let mut dst = [std::ptr::null_mut(); OB];
            for (i, d) in dst.iter_mut().enumerate().take(nout) {
                // SAFETY: oc0 + i < o, oy < oh, ox0 < ow: inside the output.
                *d = a.y.get().add(at(i));
            }
            let epi = match a.epi {
                Epilogue::None => Fused::NONE,
                Epilogue::Leaky(s) => Fused {
                    slope: Some(s),
                    res: None,
                },
                Epilogue::AddLeaky(r, s) => Fused {
                    slope: Some(s),
                    // SAFETY: the residual is shaped like the output (asserted by the caller),
                    // so `at(i) + [0, npix)` is inside it for i < nout (as `dst[i]` is).
                    res: Some(std::array::from_fn(|i| {
                        r.as_ptr().add(if i < nout { at(i) } else { 0 })
                    })),
                },
            };
            // SAFETY: tap t reads tile[offs[t] + ox0 + [0, pb)] and ox0 + pb ≤ reach, so the
            // read is inside the tile (asserted above); the weights are block `blk`'s; the
            // residual pointers (if any) address `npix` elements for each of the `nout` outputs.
            block(
                a.tile.as_ptr().add(ox0),
                wk,
                a.bias.as_ptr().add(oc0),
                &dst,
                nout,
                npix,
                epi,
            );
            ox0 += pb;
        }
    }
}

/// Applies `epi` to `out`, the output's elements from flat index `at` on.
fn epilogue(epi: Epilogue, out: &mut [f32], at: usize) {
    match epi {
        Epilogue::Leaky(s) => out.iter_mut().for_each(|v| *v = v.max(*v * s)),
        Epilogue::AddLeaky(r, s) => {
            let n = out.len();
            for (v, &r) in out.iter_mut().zip(&r[at..at + n]) {
                let t = *v + r;
                *v = t.max(t * s);
            }
        }
        Epilogue::None => {}
    }
}

/// [`row_blocks`] for the flat layout ([`flat_band`]): output rows `a.oy .. a.oy + rows` as
/// one run of flat positions `r·wp + ox`, in blocks of `pb` computed into a scratch block whose
/// lanes at `ox < ow` are copied out (the epilogue applied on the way).
///
/// # Safety
/// As [`row_blocks`], with `a.tile` holding the band's padded input rows at pitch `wp`, the
/// offsets `offs[t] = ci·plane + ky·wp + kx`, and `a.tile.len() ≥ c·plane + pb` (checked).
#[cfg(target_arch = "x86_64")]
unsafe fn flat_blocks<const OB: usize>(
    a: &Row,
    rows: usize,
    pb: usize,
    block: impl Fn(*const f32, *const f32, *const f32, &[*mut f32; OB], usize, usize, Fused<OB>),
) {
    let p = a.plan;
    let g = &p.g;
    let wp = p.wp;
    let taps = a.offs.len();
    let blocks = g.o.div_ceil(OB);
    assert!(taps == g.c * g.kh * g.kw && g.stride == 1 && rows >= 1);
    assert!(a.oy + rows <= g.oh && a.b < g.n && pb <= MAX_PB);
    // Flat positions computed, rounded up to whole blocks.
    let len = ((rows - 1) * wp + g.ow).div_ceil(pb) * pb;
    assert!(a.offs.iter().all(|&o| o + len <= a.tile.len()));
    assert!(a.wpk.len() >= blocks * taps * OB && a.bias.len() >= blocks * OB);
    let mut scratch = [[0.0f32; MAX_PB]; OB];
    let sp: [*mut f32; OB] = std::array::from_fn(|i| scratch[i].as_mut_ptr());
    for blk in 0..blocks {
        let oc0 = blk * OB;
        let nout = OB.min(g.o - oc0);
        let wk = a.wpk.as_ptr().add(blk * taps * OB);
        for q0 in (0..len).step_by(pb) {
            // SAFETY: every tap reads tile[offs[t] + q0 + [0, pb)], inside the tile (asserted
            // with q0 + pb ≤ len); the scratch rows hold MAX_PB ≥ pb floats.
            block(
                a.tile.as_ptr().add(q0),
                wk,
                a.bias.as_ptr().add(oc0),
                &sp,
                nout,
                pb,
                Fused::NONE,
            );
            // The output rows this block touches, and the columns of each inside the map.
            let (r0, r1) = (q0 / wp, ((q0 + pb - 1) / wp).min(rows - 1));
            for r in r0..=r1 {
                let lo = q0.max(r * wp);
                let hi = (q0 + pb).min(r * wp + g.ow);
                if lo >= hi {
                    continue;
                }
                let ox = lo - r * wp;
                for (i, lanes) in scratch.iter().enumerate().take(nout) {
                    let at = ((a.b * g.o + oc0 + i) * g.oh + a.oy + r) * g.ow + ox;
                    // SAFETY: oc0 + i < o, a.oy + r < oh, ox + (hi − lo) ≤ ow: inside the
                    // output, in rows of this job's band.
                    let out = std::slice::from_raw_parts_mut(a.y.get().add(at), hi - lo);
                    out.copy_from_slice(&lanes[lo - q0..hi - q0]);
                    epilogue(a.epi, out, at);
                }
            }
        }
    }
}

/// # Safety
/// As [`avx2::row`] (or [`avx512::row`] when `wide`, which needs AVX-512F).
#[cfg(target_arch = "x86_64")]
unsafe fn dispatch(wide: bool, nv: usize, ob: usize, a: &Row) {
    if wide {
        return match (ob, nv) {
            (1, 8) => avx512::row::<1, 8>(a),
            (2, 6) => avx512::row::<2, 6>(a),
            (3, 5) => avx512::row::<3, 5>(a),
            (4, 4) => avx512::row::<4, 4>(a),
            (5, 3) => avx512::row::<5, 3>(a),
            (6, 3) => avx512::row::<6, 3>(a),
            (8, 2) => avx512::row::<8, 2>(a),
            (8, 1) => avx512::row::<8, 1>(a),
            _ => unreachable!("no AVX-512 direct-conv variant {ob}×{nv}"),
        };
    }
    match (ob, nv) {
        (1, 7) => avx2::row::<1, 7>(a),
        (2, 4) => avx2::row::<2, 4>(a),
        (3, 3) => avx2::row::<3, 3>(a),
        (4, 2) => avx2::row::<4, 2>(a),
        _ => unreachable!("no direct-conv variant {ob}×{nv}"),
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn dispatch(_wide: bool, _nv: usize, _ob: usize, _a: &Row) {
    unreachable!("the direct convolution is only selected on x86_64")
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Row;
    use std::arch::x86_64::*;

    /// One output row: every output-channel block, every pixel block.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA (the bounds of the reads and writes are checked here).
    /// `a.wpk` is `[o/OB][taps][OB]`, `a.bias`
    /// `o.div_ceil(OB)·OB` long; `a.y` points at the `[n, o, oh, ow]` output, whose row `oy` of
    /// sample `b` no other thread accesses meanwhile.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn row<const OB: usize, const NV: usize>(a: &Row) {
        // SAFETY: `block` is called with the pointers and counts `row_blocks` checked; this
        // function's caller guarantees the CPU features.
        super::row_blocks::<OB>(a, 8 * NV, |src, wk, bias, dst, nout, npix, epi| unsafe {
            block::<OB, NV>(src, a.offs, wk, bias, dst, nout, npix, epi)
        })
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

    /// `OB` output channels × `8·NV` pixels: bias + Σ_taps input · weight, then the epilogue,
    /// stored for `nout` channels and `npix` pixels.
    ///
    /// # Safety
    /// AVX2 + FMA; `src + offs[t] + [0, 8·NV)` readable for every `t`; `wk` holds
    /// `offs.len()·OB` floats and `bias` `OB`; `dst[i] + [0, npix)` writable and
    /// `epi.res[i] + [0, npix)` readable for `i < nout`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const OB: usize, const NV: usize>(
        src: *const f32,
        offs: &[usize],
        wk: *const f32,
        bias: *const f32,
        dst: &[*mut f32; OB],
        nout: usize,
        npix: usize,
        epi: super::Fused<OB>,
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
            for (o, (d, acc)) in dst.iter().zip(&acc).enumerate().take(nout) {
                for (j, v) in acc.iter().enumerate() {
                    let mut t = *v;
                    if let Some(r) = epi.res {
                        t = _mm256_add_ps(t, load(r[o].add(8 * j)));
                    }
                    if let Some(s) = epi.slope {
                        t = _mm256_max_ps(t, _mm256_mul_ps(t, _mm256_set1_ps(s)));
                    }
                    _mm256_storeu_ps(d.add(8 * j), t);
                }
            }
        } else {
            let mut buf = [[0.0f32; 8]; NV];
            for (o, (d, acc)) in dst.iter().zip(&acc).enumerate().take(nout) {
                for (b, v) in buf.iter_mut().zip(acc) {
                    _mm256_storeu_ps(b.as_mut_ptr(), *v);
                }
                let flat = buf.as_flattened();
                for (k, &v) in flat.iter().enumerate().take(npix) {
                    let mut t = v;
                    if let Some(r) = epi.res {
                        t += *r[o].add(k);
                    }
                    if let Some(s) = epi.slope {
                        t = t.max(t * s);
                    }
                    *d.add(k) = t;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Row;
    use std::arch::x86_64::*;

    /// As [`super::avx2::row`], with 16-float vectors: `OB` channels × `16·NV` pixels per block.
    ///
    /// # Safety
    /// The CPU supports AVX-512F (the bounds of the reads and writes are checked here).
    /// `a.wpk` is `[o/OB][taps][OB]`, `a.bias` `o.div_ceil(OB)·OB` long; `a.y` points at the
    /// `[n, o, oh, ow]` output, whose row `oy` of sample `b` no other thread accesses meanwhile.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row<const OB: usize, const NV: usize>(a: &Row) {
        // SAFETY: `block` is called with the pointers and counts `row_blocks` checked; this
        // function's caller guarantees the CPU features.
        super::row_blocks::<OB>(a, 16 * NV, |src, wk, bias, dst, nout, npix, epi| unsafe {
            block::<OB, NV>(src, a.offs, wk, bias, dst, nout, npix, epi)
        })
    }

    /// Unaligned load of 16 floats (an all-true masked load compiles to a plain `vmovups`
    /// without `_mm512_loadu_ps`'s debug-build overlap check; see `avx2::load`).
    ///
    /// # Safety
    /// AVX-512F; `p + [0, 16)` readable.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_maskz_loadu_ps(0xffff, p)
    }

    /// `OB` output channels × `16·NV` pixels: bias + Σ_taps input · weight, then the epilogue,
    /// stored (masked) for `nout` channels and `npix` pixels.
    ///
    /// # Safety
    /// AVX-512F; `src + offs[t] + [0, 16·NV)` readable for every `t`; `wk` holds
    /// `offs.len()·OB` floats and `bias` `OB`; `dst[i] + [0, npix)` writable and
    /// `epi.res[i] + [0, npix)` readable for `i < nout`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn block<const OB: usize, const NV: usize>(
        src: *const f32,
        offs: &[usize],
        wk: *const f32,
        bias: *const f32,
        dst: &[*mut f32; OB],
        nout: usize,
        npix: usize,
        epi: super::Fused<OB>,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NV]; OB];
        let mut wp = wk;
        for &off in offs {
            let p = src.add(off);
            let mut v = [_mm512_setzero_ps(); NV];
            #[allow(clippy::needless_range_loop)]
            for j in 0..NV {
                v[j] = load(p.add(16 * j));
            }
            #[allow(clippy::needless_range_loop)]
            for o in 0..OB {
                let wv = _mm512_set1_ps(*wp.add(o));
                for j in 0..NV {
                    acc[o][j] = _mm512_fmadd_ps(v[j], wv, acc[o][j]);
                }
            }
            wp = wp.add(OB);
        }
        for (o, (d, acc)) in dst.iter().zip(&acc).enumerate().take(nout) {
            let b = _mm512_set1_ps(*bias.add(o));
            for (j, v) in acc.iter().enumerate() {
                let lo = 16 * j;
                if lo >= npix {
                    break;
                }
                let m: __mmask16 = if npix - lo >= 16 {
                    0xffff
                } else {
                    (1u16 << (npix - lo)) - 1
                };
                let mut t = _mm512_add_ps(*v, b);
                if let Some(r) = epi.res {
                    t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(m, r[o].add(lo)));
                }
                if let Some(s) = epi.slope {
                    t = _mm512_max_ps(t, _mm512_mul_ps(t, _mm512_set1_ps(s)));
                }
                _mm512_mask_storeu_ps(d.add(lo), m, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::conv2d_f32_slice;
    use wick_common::testing::same_bits;

    /// The epilogue fused into the kernels' stores equals the convolution followed by
    /// [`epilogue`], to the bit, on every kernel this CPU has (AVX-512 and AVX2), for full and
    /// partial pixel blocks, the narrow kernels' variants and the flat layout (without AVX2 the
    /// fallback's separate pass is compared with itself).
    #[test]
    fn fused_epilogue_equals_the_separate_pass() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut rnd = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-0.5..0.5)).collect() };
        // (c, h, w, o, k, stride, pad): rows of full and partial blocks, 1–3 and 8+ outputs,
        // a width the flat layout takes (48), a stride-2 conv.
        let shapes = [
            (5, 7, 40, 3, 3, 1, 1),
            (4, 6, 33, 8, 3, 1, 1),
            (6, 12, 48, 16, 3, 1, 1),
            (3, 9, 20, 2, 3, 2, 1),
            (8, 5, 12, 1, 1, 1, 0),
        ];
        for kernel in [ConvKernel::Auto, ConvKernel::Avx2] {
            set_conv_kernel(kernel);
            for (i, &(c, h, w, o, k, stride, pad)) in shapes.iter().enumerate() {
                let (x, wt, b) = (rnd(c * h * w), rnd(o * c * k * k), rnd(o));
                let run = |epi| {
                    conv2d_f32_slice(
                        &x,
                        (1, c, h, w),
                        &wt,
                        (o, k),
                        stride,
                        pad,
                        Some(&b),
                        &PackCache::default(),
                        epi,
                    )
                    .0
                };
                let plain = run(Epilogue::None);
                let res = rnd(plain.len());
                for epi in [Epilogue::Leaky(0.2), Epilogue::AddLeaky(&res, 0.2)] {
                    let fused = run(epi);
                    let mut want = plain.clone();
                    epilogue(epi, &mut want, 0);
                    assert!(same_bits(&fused, &want), "{kernel:?} shape {i}");
                }
            }
        }
        set_conv_kernel(ConvKernel::Auto);
    }
}
