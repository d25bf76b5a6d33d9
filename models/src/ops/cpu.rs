//! CPU kernels behind the op layer: convolution through `gemm` in the pixel-major orientation,
//! direct depthwise kernels, and the column buffers they share. Everything here works on
//! contiguous NCHW slices in `f32` or `f64`; the Candle-facing wrappers live in the op modules.

use super::pad::PadMode;
use candle_core::{CpuStorage, Layout, Result, WithDType};
use gemm::Parallelism;
use rayon::prelude::*;

/// Element types the CPU kernels are compiled for.
pub(crate) trait Elem: WithDType {
    const ZERO: Self;
    const ONE: Self;

    /// The forward convolution through a type-specific direct kernel, when one applies.
    fn direct_conv(
        _x: &[Self],
        _w: &[Self],
        _b: Option<&[Self]>,
        _g: &ConvGeom,
    ) -> Option<Vec<Self>> {
        None
    }

    /// Whether [`Elem::direct_conv`] runs a direct kernel on this machine (for any geometry it
    /// accepts): the adjoint then goes through sub-pixel convolutions instead of col2im.
    fn direct_enabled() -> bool {
        false
    }
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;

    fn direct_conv(x: &[f32], w: &[f32], b: Option<&[f32]>, g: &ConvGeom) -> Option<Vec<f32>> {
        super::direct::conv2d_f32(x, w, b, g)
    }

    fn direct_enabled() -> bool {
        super::direct::enabled()
    }
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// The contiguous slice of a CPU storage, or a clear error when the layout is strided.
pub(crate) fn slice<'a, T: Elem>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    let data = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: expected a contiguous tensor"),
    }
}

/// [`slice`] of a tensor's storage (from `Tensor::storage_and_layout`), or a clear error when
/// it is not on the CPU.
pub(crate) fn storage_slice<'a, T: Elem>(
    s: &'a candle_core::Storage,
    l: &Layout,
    what: &str,
) -> Result<&'a [T]> {
    match s {
        candle_core::Storage::Cpu(c) => slice(c, l, what),
        _ => candle_core::bail!("{what}: expected CPU data"),
    }
}

/// A raw pointer that may cross threads; every use writes a region no other thread touches.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub *mut T);
// SAFETY: a `SendPtr` is only an address; every dereference is an `unsafe` block of its own
// whose comment says why that task is the only one touching the region it writes.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as for `Send`: sharing the address is harmless, the accesses carry the invariant.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole `Send` wrapper).
    pub fn get(self) -> *mut T {
        self.0
    }
}

pub(crate) fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

fn par(threads: usize) -> Parallelism {
    if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`; `*_rs` is the stride between rows, `*_cs` between columns.
///
/// # Safety
/// Every pointer must be valid for the strides and sizes given, and `dst` must not alias.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided<T: Elem>(
    (m, n, k): (usize, usize, usize),
    dst: *mut T,
    (dst_rs, dst_cs): (isize, isize),
    accumulate: bool,
    lhs: *const T,
    (lhs_rs, lhs_cs): (isize, isize),
    rhs: *const T,
    (rhs_rs, rhs_cs): (isize, isize),
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: (i, j) < (m, n): inside `dst` by the caller's contract.
                    *dst.offset(i as isize * dst_rs + j as isize * dst_cs) = T::ZERO;
                }
            }
        }
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs,
        dst_rs,
        accumulate,
        lhs,
        lhs_cs,
        lhs_rs,
        rhs,
        rhs_cs,
        rhs_rs,
        T::ONE,
        T::ONE,
        false,
        false,
        false,
        par(threads),
    );
}

/// Shape of one convolution: input `[n, c, h, w]`, weight `[o, c/groups, kh, kw]`, output
/// `[n, o, oh, ow]`. The same geometry describes the transposed convolution that is its adjoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub dil: usize,
    pub groups: usize,
    /// How the `pad` border is filled: zeros, or (forward and weight gradient only) a mirror or
    /// the edge sample, which fuses `pad2d` into the convolution.
    pub mode: PadMode,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    pub fn cg(&self) -> usize {
        self.c / self.groups
    }
    pub fn og(&self) -> usize {
        self.o / self.groups
    }
    /// Rows of one group's column matrix: `c/groups · kh · kw`.
    pub fn kk(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// Direct depthwise kernels (zero padding only).
    pub fn is_depthwise(&self) -> bool {
        self.groups == self.c && self.o == self.c && self.groups > 1 && self.mode == PadMode::Zero
    }
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
    /// Valid output range `[lo, hi)` along one axis for kernel tap offset `off` (= k·dil − pad):
    /// the outputs `o` with `0 ≤ o·stride + off < len`.
    fn valid(&self, off: isize, len: usize, out: usize) -> (usize, usize) {
        let s = self.stride as isize;
        let lo = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
        let hi = if (len as isize) <= off {
            0
        } else {
            ((len as isize - off) + s - 1) / s
        };
        let lo = (lo as usize).min(out);
        let hi = (hi as usize).min(out);
        (lo, hi.max(lo))
    }
}

/// Source index of position `i` along an axis of length `n` under padding `mode`.
pub(crate) fn map_index(mode: PadMode, i: isize, n: usize) -> Option<usize> {
    let n = n as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        PadMode::Zero => None,
        PadMode::Replicate => Some(i.clamp(0, n - 1) as usize),
        PadMode::Reflect if n == 1 => Some(0),
        PadMode::Reflect => {
            let period = 2 * (n - 1);
            let j = i.rem_euclid(period);
            Some(if j >= n { period - j } else { j } as usize)
        }
    }
}

/// Pixels per column tile so one tile's column buffer stays near `target` elements.
fn tile_pixels(rows: usize, pix: usize, target: usize) -> usize {
    (target / rows.max(1)).max(256).min(pix.max(1))
}

/// im2col for output pixels `[p0, p0 + tl)` of sample `b`, group `g`, into `col[kk][tl]`.
fn im2col<T: Elem>(
    x: &[T],
    g: &ConvGeom,
    b: usize,
    grp: usize,
    p0: usize,
    tl: usize,
    col: &mut [T],
) {
    let (cg, hw) = (g.cg(), g.h * g.w);
    let s = g.stride;
    for ci in 0..cg {
        let plane = &x[(b * g.c + grp * cg + ci) * hw..][..hw];
        for ky in 0..g.kh {
            let offy = (ky * g.dil) as isize - g.pad as isize;
            for kx in 0..g.kw {
                let offx = (kx * g.dil) as isize - g.pad as isize;
                let (xlo, xhi) = g.valid(offx, g.w, g.ow);
                let row = &mut col[((ci * g.kh + ky) * g.kw + kx) * tl..][..tl];
                let mut p = p0;
                let end = p0 + tl;
                while p < end {
                    let oy = p / g.ow;
                    let ox0 = p % g.ow;
                    let ox1 = (ox0 + (end - p)).min(g.ow);
                    let dst = &mut row[p - p0..p - p0 + (ox1 - ox0)];
                    let iy = map_index(g.mode, (oy * s) as isize + offy, g.h);
                    let Some(iy) = iy else {
                        dst.fill(T::ZERO);
                        p += ox1 - ox0;
                        continue;
                    };
                    let src = &plane[iy * g.w..][..g.w];
                    let a = xlo.clamp(ox0, ox1);
                    let bnd = xhi.clamp(a, ox1);
                    if g.mode == PadMode::Zero {
                        dst[..a - ox0].fill(T::ZERO);
                        dst[bnd - ox0..].fill(T::ZERO);
                    } else {
                        for ox in (ox0..a).chain(bnd..ox1) {
                            let ix = map_index(g.mode, (ox * s) as isize + offx, g.w);
                            dst[ox - ox0] = ix.map(|ix| src[ix]).unwrap_or(T::ZERO);
                        }
                    }
                    let ix0 = (a * s) as isize + offx;
                    if a == bnd {
                        // The whole segment reads padding.
                    } else if s == 1 {
                        dst[a - ox0..bnd - ox0]
                            .copy_from_slice(&src[ix0 as usize..ix0 as usize + (bnd - a)]);
                    } else {
                        let src = src[ix0 as usize..].iter().step_by(s);
                        for (d, v) in dst[a - ox0..bnd - ox0].iter_mut().zip(src) {
                            *d = *v;
                        }
                    }
                    p += ox1 - ox0;
                }
            }
        }
    }
}

fn init_output<T: Elem>(y: &mut [T], bias: Option<&[T]>, o: usize, pix: usize) {
    if let Some(bias) = bias {
        for (ch, plane) in y.chunks_mut(pix).enumerate() {
            plane.fill(bias[ch % o]);
        }
    }
}

/// Target elements of one column tile (512 KiB of f32: the tile and the gemm panels stay in L2).
const COL_TILE: usize = 1 << 17;

/// Forward convolution. `x` `[n, c, h, w]`, `w` `[o, c/groups, kh, kw]`, optional `bias` `[o]`.
pub(crate) fn conv2d_fwd<T: Elem>(x: &[T], w: &[T], bias: Option<&[T]>, g: &ConvGeom) -> Vec<T> {
    if let Some(y) = T::direct_conv(x, w, bias, g) {
        return y;
    }
    let pix = g.oh * g.ow;
    let mut y = vec![T::ZERO; g.n * g.o * pix];
    init_output(&mut y, bias, g.o, pix);
    if pix == 0 || g.n == 0 || g.o == 0 {
        return y;
    }
    if g.is_depthwise() {
        depthwise_fwd(x, w, g, &mut y);
        return y;
    }
    let acc = bias.is_some();
    let (cg, og, kk, hw) = (g.cg(), g.og(), g.kk(), g.h * g.w);
    let nt = threads();
    if g.is_pointwise() {
        for b in 0..g.n {
            for grp in 0..g.groups {
                // SAFETY: 1×1 kernel, stride 1, no padding, so pix = hw. `y` is [n, o, pix]:
                // sample b, group grp's og channels start at (b·o + grp·og)·pix and span og·pix;
                // `x` is [n, c, hw]: its cg channels start at (b·c + grp·cg)·hw; `w` is
                // [o, cg·kk] with kk = 1: group grp's og rows start at grp·og·kk. All in bounds
                // by the geometry the slices were checked against; `y` is a fresh Vec (no alias).
                unsafe {
                    gemm_strided(
                        (pix, og, cg),
                        y.as_mut_ptr().add((b * g.o + grp * og) * pix),
                        (1, pix as isize),
                        acc,
                        x.as_ptr().add((b * g.c + grp * cg) * hw),
                        (1, hw as isize),
                        w.as_ptr().add(grp * og * kk),
                        (1, kk as isize),
                        nt,
                    )
                }
            }
        }
        return y;
    }
    let tl = tile_pixels(kk, pix, COL_TILE);
    let tiles = pix.div_ceil(tl);
    let jobs: Vec<(usize, usize)> = (0..g.n)
        .flat_map(|b| (0..tiles).map(move |t| (b, t)))
        .collect();
    let yp = SendPtr(y.as_mut_ptr());
    let outer = jobs.len() >= 2 * nt;
    let run = |col: &mut Vec<T>, &(b, t): &(usize, usize), inner: usize| {
        let p0 = t * tl;
        let len = tl.min(pix - p0);
        col.resize(kk * len, T::ZERO);
        for grp in 0..g.groups {
            im2col(x, g, b, grp, p0, len, col);
            // SAFETY: output pixels p0..p0 + len (< pix) of sample b's og channels of group grp
            // lie in `y` ([n, o, pix]); this job (b, tile t) is the only one writing those pixels
            // (jobs own disjoint (sample, tile) pairs). `col` holds kk·len values, `w`'s group
            // rows og·kk from grp·og·kk.
            unsafe {
                gemm_strided(
                    (len, og, kk),
                    yp.get().add((b * g.o + grp * og) * pix + p0),
                    (1, pix as isize),
                    acc,
                    col.as_ptr(),
                    (1, len as isize),
                    w.as_ptr().add(grp * og * kk),
                    (1, kk as isize),
                    inner,
                )
            }
        }
    };
    if outer {
        jobs.par_iter()
            .for_each_init(Vec::new, |col, job| run(col, job, 1));
    } else {
        let mut col = Vec::new();
        for job in &jobs {
            run(&mut col, job, nt);
        }
    }
    y
}

/// Weight gradient of [`conv2d_fwd`]: `gw[o][c/groups·kh·kw] = Σ gy · im2col(x)`.
pub(crate) fn conv2d_wgrad<T: Elem>(x: &[T], gy: &[T], g: &ConvGeom) -> Vec<T> {
    let (og, kk, pix) = (g.og(), g.kk(), g.oh * g.ow);
    let len_w = g.o * kk;
    if g.is_depthwise() {
        return depthwise_wgrad(x, gy, g);
    }
    if pix == 0 || g.n == 0 {
        return vec![T::ZERO; len_w];
    }
    let tl = tile_pixels(kk, pix, COL_TILE);
    let tiles = pix.div_ceil(tl);
    let jobs: Vec<(usize, usize)> = (0..g.n)
        .flat_map(|b| (0..tiles).map(move |t| (b, t)))
        .collect();
    let nt = threads();
    let outer = jobs.len() >= 2 * nt;
    let run = |gw: &mut Vec<T>, col: &mut Vec<T>, &(b, t): &(usize, usize), inner: usize| {
        let p0 = t * tl;
        let len = tl.min(pix - p0);
        col.resize(kk * len, T::ZERO);
        for grp in 0..g.groups {
            im2col(x, g, b, grp, p0, len, col);
            // SAFETY: `gw` is this fold's own [o, kk] buffer (len_w = o·kk), group grp's og rows
            // from grp·og·kk; `col` holds kk·len values; `gy` pixels p0..p0 + len (< pix) of
            // sample b's og channels of group grp lie in [n, o, pix].
            unsafe {
                gemm_strided(
                    (kk, og, len),
                    gw.as_mut_ptr().add(grp * og * kk),
                    (1, kk as isize),
                    true,
                    col.as_ptr(),
                    (len as isize, 1),
                    gy.as_ptr().add((b * g.o + grp * og) * pix + p0),
                    (1, pix as isize),
                    inner,
                )
            }
        }
    };
    if outer {
        jobs.par_iter()
            .fold(
                || (vec![T::ZERO; len_w], Vec::new()),
                |(mut gw, mut col), job| {
                    run(&mut gw, &mut col, job, 1);
                    (gw, col)
                },
            )
            .map(|(gw, _)| gw)
            .reduce(
                || vec![T::ZERO; len_w],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            )
    } else {
        let mut gw = vec![T::ZERO; len_w];
        let mut col = Vec::new();
        for job in &jobs {
            run(&mut gw, &mut col, job, nt);
        }
        gw
    }
}

/// Transposed convolution, the adjoint of [`conv2d_fwd`] for geometry `g`: input `gy`
/// `[n, o, oh, ow]`, weight `w` `[o, c/groups, kh, kw]` (a conv weight), output `[n, c, h, w]`.
/// With `w` read as `[Cin, Cout/groups, kh, kw]` this is PyTorch's `conv_transpose2d`.
pub(crate) fn conv2d_adjoint<T: Elem>(
    gy: &[T],
    w: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
) -> Vec<T> {
    let hw = g.h * g.w;
    let mut gx = vec![T::ZERO; g.n * g.c * hw];
    init_output(&mut gx, bias, g.c, hw);
    if hw == 0 || g.n == 0 {
        return gx;
    }
    if g.is_depthwise() {
        depthwise_adjoint(gy, w, g, &mut gx);
        return gx;
    }
    if g.groups == 1
        && g.dil == 1
        && g.mode == PadMode::Zero
        && !g.is_pointwise()
        && T::direct_enabled()
    {
        adjoint_subpixel(gy, w, g, &mut gx);
        return gx;
    }
    let (cg, og, kk, pix) = (g.cg(), g.og(), g.kk(), g.oh * g.ow);
    let nt = threads();
    if g.is_pointwise() {
        for b in 0..g.n {
            for grp in 0..g.groups {
                // gx[p][ci] += Σ_oc gy[p][oc] · w[oc][ci]
                // SAFETY: 1×1 kernel, stride 1, no padding, so pix = hw. `gx` ([n, c, hw], a
                // fresh Vec) gets group grp's cg channels of sample b; `gy` ([n, o, pix]) gives
                // its og channels; `w` ([o, cg·kk], kk = 1) its og rows. All within the lengths
                // the geometry fixes.
                unsafe {
                    gemm_strided(
                        (pix, cg, og),
                        gx.as_mut_ptr().add((b * g.c + grp * cg) * hw),
                        (1, hw as isize),
                        bias.is_some(),
                        gy.as_ptr().add((b * g.o + grp * og) * pix),
                        (1, pix as isize),
                        w.as_ptr().add(grp * og * kk),
                        (kk as isize, 1),
                        nt,
                    )
                }
            }
        }
        return gx;
    }
    // col[kk][tile] = wᵀ · gy over a tile of whole output rows, then col2im into gx.
    let rows_per_tile = (tile_pixels(kk, pix, COL_TILE * 4) / g.ow.max(1)).max(1);
    let mut col: Vec<T> = Vec::new();
    let gxp = SendPtr(gx.as_mut_ptr());
    for b in 0..g.n {
        for grp in 0..g.groups {
            let mut r0 = 0;
            while r0 < g.oh {
                let r1 = (r0 + rows_per_tile).min(g.oh);
                let p0 = r0 * g.ow;
                let len = (r1 - r0) * g.ow;
                col.resize(kk * len, T::ZERO);
                // SAFETY: `col` was just sized to kk·len; `gy` output rows r0..r1 (pixels
                // p0..p0 + len ≤ pix) of sample b's og channels of group grp lie in [n, o, pix];
                // `w`'s group rows og·kk from grp·og·kk; `col` is this loop's own buffer.
                unsafe {
                    gemm_strided(
                        (len, kk, og),
                        col.as_mut_ptr(),
                        (1, len as isize),
                        false,
                        gy.as_ptr().add((b * g.o + grp * og) * pix + p0),
                        (1, pix as isize),
                        w.as_ptr().add(grp * og * kk),
                        (kk as isize, 1),
                        nt,
                    )
                }
                let col = &col;
                (0..cg).into_par_iter().for_each(|ci| {
                    // SAFETY: plane (b, grp·cg + ci) of `gx` ([n, c, hw], hw values each) is
                    // written by task `ci` only; no other reference to `gx` is live meanwhile.
                    let plane = unsafe {
                        std::slice::from_raw_parts_mut(
                            gxp.get().add((b * g.c + grp * cg + ci) * hw),
                            hw,
                        )
                    };
                    col2im_channel(col, g, ci, r0, r1, len, plane);
                });
                r0 = r1;
            }
        }
    }
    gx
}

/// The adjoint (transposed convolution) as `stride²` ordinary stride-1 convolutions, one per
/// output phase, each run by the forward kernel (the direct kernel where it applies).
///
/// Output row `iy = s·m + ry` only meets the taps `ky ≡ (ry + pad) mod s`, `ky = ky0 + s·j`,
/// which read `gy` row `m + q − j` with `q = (ry + pad − ky0) / s`. With the taps flipped
/// (`t = J − 1 − j`) that is a correlation over `gy`; computed with padding `P` it gives phase row
/// `m` at output row `u = m + q − (J − 1) + P`. The same holds for columns. Rows or columns with
/// no tap (`J = 0`, a kernel smaller than the stride) receive nothing. Groups 1, dilation 1.
fn adjoint_subpixel<T: Elem>(gy: &[T], w: &[T], g: &ConvGeom, gx: &mut [T]) {
    let s = g.stride;
    // Per phase along one axis: (first tap, tap count, q).
    let axis = |r: usize, k: usize| {
        let k0 = (r + g.pad) % s;
        let taps = if k0 < k { (k - 1 - k0) / s + 1 } else { 0 };
        (k0, taps, (r + g.pad - k0) / s)
    };
    let hw = g.h * g.w;
    for ry in 0..s.min(g.h) {
        let (ky0, jy, qy) = axis(ry, g.kh);
        for rx in 0..s.min(g.w) {
            let (kx0, jx, qx) = axis(rx, g.kw);
            if jy == 0 || jx == 0 {
                continue;
            }
            // w'[c][o][ty][tx] = w[o][c][ky0 + s(jy−1−ty)][kx0 + s(jx−1−tx)]
            let mut ws = vec![T::ZERO; g.c * g.o * jy * jx];
            for c in 0..g.c {
                for o in 0..g.o {
                    for ty in 0..jy {
                        for tx in 0..jx {
                            let (ky, kx) = (ky0 + s * (jy - 1 - ty), kx0 + s * (jx - 1 - tx));
                            ws[((c * g.o + o) * jy + ty) * jx + tx] =
                                w[((o * g.c + c) * g.kh + ky) * g.kw + kx];
                        }
                    }
                }
            }
            let p = jy.max(jx) - 1;
            let sub = ConvGeom {
                n: g.n,
                c: g.o,
                h: g.oh,
                w: g.ow,
                o: g.c,
                kh: jy,
                kw: jx,
                stride: 1,
                pad: p,
                dil: 1,
                groups: 1,
                mode: PadMode::Zero,
                oh: g.oh + 2 * p + 1 - jy,
                ow: g.ow + 2 * p + 1 - jx,
            };
            let full = conv2d_fwd(gy, &ws, None, &sub);
            // Phase (ry, rx): rows m with s·m + ry < h, columns likewise.
            let (mh, mw) = ((g.h - ry).div_ceil(s), (g.w - rx).div_ceil(s));
            let (u0, v0) = (qy + p + 1 - jy, qx + p + 1 - jx);
            let gxp = SendPtr(gx.as_mut_ptr());
            (0..g.n * g.c).into_par_iter().for_each(|bc| {
                // SAFETY: each (sample, channel) plane is written by one task only.
                let plane = unsafe { std::slice::from_raw_parts_mut(gxp.get().add(bc * hw), hw) };
                let src = &full[bc * sub.oh * sub.ow..][..sub.oh * sub.ow];
                for m in 0..mh {
                    let u = m + u0;
                    if u >= sub.oh {
                        break;
                    }
                    let srow = &src[u * sub.ow..][..sub.ow];
                    let drow = &mut plane[(s * m + ry) * g.w..][..g.w];
                    for mx in 0..mw {
                        let v = mx + v0;
                        if v >= sub.ow {
                            break;
                        }
                        let d = &mut drow[s * mx + rx];
                        *d += srow[v];
                    }
                }
            });
        }
    }
}

/// Adds the column rows of input channel `ci` (output rows `[r0, r1)`) into its image plane.
fn col2im_channel<T: Elem>(
    col: &[T],
    g: &ConvGeom,
    ci: usize,
    r0: usize,
    r1: usize,
    len: usize,
    plane: &mut [T],
) {
    let s = g.stride;
    for ky in 0..g.kh {
        let offy = (ky * g.dil) as isize - g.pad as isize;
        for kx in 0..g.kw {
            let offx = (kx * g.dil) as isize - g.pad as isize;
            let (xlo, xhi) = g.valid(offx, g.w, g.ow);
            if xlo >= xhi {
                continue;
            }
            let row = &col[((ci * g.kh + ky) * g.kw + kx) * len..][..len];
            for oy in r0..r1 {
                let iy = (oy * s) as isize + offy;
                if iy < 0 || iy >= g.h as isize {
                    continue;
                }
                let src = &row[(oy - r0) * g.ow..][..g.ow];
                let dst = &mut plane[iy as usize * g.w..][..g.w];
                let ix0 = ((xlo * s) as isize + offx) as usize;
                if s == 1 {
                    for (d, v) in dst[ix0..ix0 + (xhi - xlo)].iter_mut().zip(&src[xlo..xhi]) {
                        *d += *v;
                    }
                } else {
                    for (d, v) in dst[ix0..].iter_mut().step_by(s).zip(&src[xlo..xhi]) {
                        *d += *v;
                    }
                }
            }
        }
    }
}

/// Depthwise forward: one plane per (sample, channel), accumulated tap by tap.
fn depthwise_fwd<T: Elem>(x: &[T], w: &[T], g: &ConvGeom, y: &mut [T]) {
    let (hw, pix, k2) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    let s = g.stride;
    let pl = g.w.div_ceil(s);
    let ranges: Vec<(usize, usize)> = (0..g.kw)
        .map(|kx| g.valid((kx * g.dil) as isize - g.pad as isize, g.w, g.ow))
        .collect();
    #[cfg(target_arch = "x86_64")]
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    // Jobs of a band of output rows of one plane: a few planes (an RGB frame's three) still
    // fill every thread. Each output sums its taps in the same order whatever the bands.
    let per_plane = (4 * threads()).div_ceil(g.n * g.c).clamp(1, g.oh.max(1));
    let band = g.oh.div_ceil(per_plane).max(1);
    y.par_chunks_mut(pix).enumerate().for_each(|(bc, plane)| {
        let ch = bc % g.c;
        let src = &x[bc * hw..][..hw];
        let wk = &w[ch * k2..][..k2];
        plane
            .par_chunks_mut(band * g.ow.max(1))
            .enumerate()
            .for_each(|(k, out)| {
                let oy0 = k * band;
                let mut phases = vec![T::ZERO; if s > 1 { s * pl } else { 0 }];
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: AVX2 and FMA were detected above.
                    unsafe { depthwise_channel_avx2(src, wk, out, oy0, g, &ranges, &mut phases) };
                    return;
                }
                depthwise_channel(src, wk, out, oy0, g, &ranges, &mut phases);
            });
    });
}

/// [`depthwise_channel`] compiled for AVX2 (the crate's baseline is SSE2; this loop is where
/// the wider vectors pay).
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_channel_avx2<T: Elem>(
    src: &[T],
    wk: &[T],
    out: &mut [T],
    oy0: usize,
    g: &ConvGeom,
    ranges: &[(usize, usize)],
    phases: &mut [T],
) {
    depthwise_channel(src, wk, out, oy0, g, ranges, phases)
}

/// One channel of the depthwise forward: `out`, output rows `oy0 ..` of the channel
/// (initialised with the bias), += taps · `src`.
/// With stride s, output column ox reads input column ox·s + off: each input row is split into
/// its s column phases once, so every tap is a contiguous multiply-add over the row (which
/// vectorises) instead of a strided walk.
#[inline(always)]
fn depthwise_channel<T: Elem>(
    src: &[T],
    wk: &[T],
    out: &mut [T],
    oy0: usize,
    g: &ConvGeom,
    ranges: &[(usize, usize)],
    phases: &mut [T],
) {
    let s = g.stride;
    let pl = g.w.div_ceil(s);
    for (oy, drow) in (oy0..).zip(out.chunks_exact_mut(g.ow.max(1))) {
        for ky in 0..g.kh {
            let iy = (oy * s + ky * g.dil) as isize - g.pad as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            let srow = &src[iy as usize * g.w..][..g.w];
            if s == 2 {
                let (ev, od) = phases.split_at_mut(pl);
                for ((e, o), pair) in ev.iter_mut().zip(od.iter_mut()).zip(srow.chunks_exact(2)) {
                    *e = pair[0];
                    *o = pair[1];
                }
                if g.w % 2 == 1 {
                    ev[g.w / 2] = srow[g.w - 1];
                }
            } else if s > 1 {
                for (p, ph) in phases.chunks_exact_mut(pl).enumerate() {
                    for (d, v) in ph.iter_mut().zip(srow[p.min(g.w)..].iter().step_by(s)) {
                        *d = *v;
                    }
                }
            }
            for (kx, &(xlo, xhi)) in ranges.iter().enumerate() {
                if xlo >= xhi {
                    continue;
                }
                let wv = wk[ky * g.kw + kx];
                let ix0 = ((xlo * s + kx * g.dil) as isize - g.pad as isize) as usize;
                let n = xhi - xlo;
                let from = if s == 1 {
                    &srow[ix0..ix0 + n]
                } else {
                    &phases[(ix0 % s) * pl + ix0 / s..][..n]
                };
                for (d, v) in drow[xlo..xhi].iter_mut().zip(from) {
                    *d += wv * *v;
                }
            }
        }
    }
}

/// Depthwise adjoint (input gradient / transposed depthwise conv): scatter each output tap.
fn depthwise_adjoint<T: Elem>(gy: &[T], w: &[T], g: &ConvGeom, gx: &mut [T]) {
    let (hw, pix, k2) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    let s = g.stride;
    gx.par_chunks_mut(hw).enumerate().for_each(|(bc, out)| {
        let ch = bc % g.c;
        let src = &gy[bc * pix..][..pix];
        let wk = &w[ch * k2..][..k2];
        for ky in 0..g.kh {
            let offy = (ky * g.dil) as isize - g.pad as isize;
            let (ylo, yhi) = g.valid(offy, g.h, g.oh);
            for kx in 0..g.kw {
                let offx = (kx * g.dil) as isize - g.pad as isize;
                let (xlo, xhi) = g.valid(offx, g.w, g.ow);
                if xlo >= xhi {
                    continue;
                }
                let wv = wk[ky * g.kw + kx];
                for oy in ylo..yhi {
                    let iy = ((oy * s) as isize + offy) as usize;
                    let srow = &src[oy * g.ow..][xlo..xhi];
                    let drow = &mut out[iy * g.w..][..g.w];
                    let ix0 = ((xlo * s) as isize + offx) as usize;
                    if s == 1 {
                        for (d, v) in drow[ix0..ix0 + (xhi - xlo)].iter_mut().zip(srow) {
                            *d += wv * *v;
                        }
                    } else {
                        for (d, v) in drow[ix0..].iter_mut().step_by(s).zip(srow) {
                            *d += wv * *v;
                        }
                    }
                }
            }
        }
    });
}

/// Depthwise weight gradient: `gw[c][ky][kx] = Σ_{n, oy, ox} gy · x`.
fn depthwise_wgrad<T: Elem>(x: &[T], gy: &[T], g: &ConvGeom) -> Vec<T> {
    let (hw, pix, k2) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    let s = g.stride;
    let mut gw = vec![T::ZERO; g.c * k2];
    gw.par_chunks_mut(k2).enumerate().for_each(|(ch, wk)| {
        for b in 0..g.n {
            let bc = b * g.c + ch;
            let src = &x[bc * hw..][..hw];
            let gys = &gy[bc * pix..][..pix];
            for ky in 0..g.kh {
                let offy = (ky * g.dil) as isize - g.pad as isize;
                let (ylo, yhi) = g.valid(offy, g.h, g.oh);
                for kx in 0..g.kw {
                    let offx = (kx * g.dil) as isize - g.pad as isize;
                    let (xlo, xhi) = g.valid(offx, g.w, g.ow);
                    if xlo >= xhi {
                        continue;
                    }
                    let mut acc = T::ZERO;
                    for oy in ylo..yhi {
                        let iy = ((oy * s) as isize + offy) as usize;
                        let srow = &src[iy * g.w..][..g.w];
                        let grow = &gys[oy * g.ow..][xlo..xhi];
                        let ix0 = ((xlo * s) as isize + offx) as usize;
                        if s == 1 {
                            for (a, b) in grow.iter().zip(&srow[ix0..ix0 + (xhi - xlo)]) {
                                acc += *a * *b;
                            }
                        } else {
                            for (a, b) in grow.iter().zip(srow[ix0..].iter().step_by(s)) {
                                acc += *a * *b;
                            }
                        }
                    }
                    wk[ky * g.kw + kx] += acc;
                }
            }
        }
    });
    gw
}
