//! Backward warp: sample an image at positions displaced by a dense flow field.
//!
//! Semantics are those of PyTorch's `grid_sample(mode="bilinear", padding_mode="border",
//! align_corners=True)` fed with RIFE's grid (base grid + flow normalised by `(size - 1) / 2`):
//! output pixel `(i, j)` is the bilinear sample of `img` at `x = j + flow[0]`, `y = i + flow[1]`
//! (flow in pixels, channel 0 = x), with `x` clamped to `[0, W-1]` and `y` to `[0, H-1]`.
//!
//! On the CPU this is a Candle `CustomOp2` with its own kernel and a backward pass giving
//! gradients for both the image and the flow (the flow gradient is zero where a coordinate is
//! clamped, as in PyTorch). On other devices it is a composite of Candle ops (gather), which
//! Candle differentiates itself.

use candle_core::{
    bail, CpuStorage, CustomOp2, DType, Device, Layout, Result, Shape, Tensor, WithDType, D,
};

/// Warps `img` [N, C, H, W] by `flow` [N, 2, H, W] (pixels; channel 0 = x, 1 = y).
///
/// Supports f32 and f64 (same dtype for both inputs). Returns [N, C, H, W].
pub fn backward_warp(img: &Tensor, flow: &Tensor) -> Result<Tensor> {
    let (n, _c, h, w) = img
        .dims4()
        .map_err(|e| e.context("backward_warp: img must be NCHW"))?;
    let (fnb, fc, fh, fw) = flow
        .dims4()
        .map_err(|e| e.context("backward_warp: flow must be [N, 2, H, W]"))?;
    if fc != 2 || fnb != n || fh != h || fw != w {
        bail!(
            "backward_warp: flow shape {:?} does not match img shape {:?} (want [{n}, 2, {h}, {w}])",
            flow.dims(),
            img.dims()
        );
    }
    if img.dtype() != flow.dtype() {
        bail!(
            "backward_warp: img is {:?} but flow is {:?}",
            img.dtype(),
            flow.dtype()
        );
    }
    if !matches!(img.dtype(), DType::F32 | DType::F64) {
        bail!(
            "backward_warp: dtype {:?} unsupported (f32 or f64)",
            img.dtype()
        );
    }
    if !img.device().same_device(flow.device()) {
        bail!("backward_warp: img and flow are on different devices");
    }
    if h == 0 || w == 0 || n == 0 {
        return img.zeros_like();
    }
    match img.device() {
        Device::Cpu => img
            .contiguous()?
            .apply_op2(&flow.contiguous()?, BackwardWarp),
        _ => backward_warp_composite(img, flow),
    }
}

/// The same warp as a composite of Candle ops (any device; Candle's autograd differentiates it).
///
/// Used on CUDA/Metal; public so tests can check it against the CPU kernel.
pub fn backward_warp_composite(img: &Tensor, flow: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = img.dims4()?;
    let dev = img.device();
    let dt = img.dtype();
    let jj = Tensor::arange(0u32, w as u32, dev)?
        .to_dtype(dt)?
        .reshape((1, 1, w))?;
    let ii = Tensor::arange(0u32, h as u32, dev)?
        .to_dtype(dt)?
        .reshape((1, h, 1))?;
    let fx = flow.narrow(1, 0, 1)?.squeeze(1)?; // [N, H, W]
    let fy = flow.narrow(1, 1, 1)?.squeeze(1)?;
    let x = fx.broadcast_add(&jj)?.clamp(0f64, (w - 1) as f64)?;
    let y = fy.broadcast_add(&ii)?.clamp(0f64, (h - 1) as f64)?;
    let x0 = x.detach().floor()?.clamp(0f64, (w - 1) as f64)?;
    let y0 = y.detach().floor()?.clamp(0f64, (h - 1) as f64)?;
    let wx = (&x - &x0)?;
    let wy = (&y - &y0)?;
    let x1 = (&x0 + 1.0)?.clamp(0f64, (w - 1) as f64)?;
    let y1 = (&y0 + 1.0)?.clamp(0f64, (h - 1) as f64)?;
    let flat = img.reshape((n, c, h * w))?;
    let sample = |yy: &Tensor, xx: &Tensor| -> Result<Tensor> {
        let idx = ((yy * w as f64)? + xx)?
            .to_dtype(DType::U32)?
            .reshape((n, 1, h * w))?;
        let idx = idx.broadcast_as((n, c, h * w))?.contiguous()?;
        flat.gather(&idx, D::Minus1)?.reshape((n, c, h, w))
    };
    let wx = wx.unsqueeze(1)?;
    let wy = wy.unsqueeze(1)?;
    let one_wx = wx.affine(-1.0, 1.0)?;
    let one_wy = wy.affine(-1.0, 1.0)?;
    let top =
        (sample(&y0, &x0)?.broadcast_mul(&one_wx)? + sample(&y0, &x1)?.broadcast_mul(&wx)?)?;
    let bot =
        (sample(&y1, &x0)?.broadcast_mul(&one_wx)? + sample(&y1, &x1)?.broadcast_mul(&wx)?)?;
    top.broadcast_mul(&one_wy)? + bot.broadcast_mul(&wy)?
}

struct BackwardWarp;

/// Per-pixel sampling position: corner indices, fractional weights and whether each axis moves
/// with the flow (not clamped), which gates the flow gradient.
struct Tap {
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
    wx: f64,
    wy: f64,
    gx: bool,
    gy: bool,
}

#[inline]
fn tap(i: usize, j: usize, fx: f64, fy: f64, h: usize, w: usize) -> Tap {
    let axis = |base: usize, f: f64, size: usize| -> (usize, usize, f64, bool) {
        let lim = (size - 1) as f64;
        let raw = base as f64 + f;
        let inside = raw > 0.0 && raw < lim;
        let p = if raw.is_nan() {
            0.0
        } else {
            raw.clamp(0.0, lim)
        };
        // p ≥ 0 here, so truncation is the floor (and avoids a libm call per sample).
        let p0 = (p as usize).min(size - 1);
        let p1 = (p0 + 1).min(size - 1);
        (p0, p1, p - p0 as f64, inside)
    };
    let (x0, x1, wx, gx) = axis(j, fx, w);
    let (y0, y1, wy, gy) = axis(i, fy, h);
    Tap {
        x0,
        x1,
        y0,
        y1,
        wx,
        wy,
        gx,
        gy,
    }
}

fn contiguous<'a, T>(s: &'a [T], l: &Layout, what: &str) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s[a..b]),
        None => bail!("backward_warp: {what} must be contiguous"),
    }
}

fn fwd_kernel<T: WithDType>(img: &[T], flow: &[T], dims: (usize, usize, usize, usize)) -> Vec<T> {
    let (n, c, h, w) = dims;
    let hw = h * w;
    let mut out = vec![T::zero(); n * c * hw];
    for b in 0..n {
        let fl = &flow[b * 2 * hw..(b + 1) * 2 * hw];
        warp_planes(
            &img[b * c * hw..(b + 1) * c * hw],
            (c, h, w),
            &fl[..hw],
            &fl[hw..],
            &mut out[b * c * hw..(b + 1) * c * hw],
        );
    }
    out
}

/// One output pixel's bilinear sampling taps: the four source indices (row-major in an `h × w`
/// plane) and the fractional weights, for `x = j + fx`, `y = i + fy` clamped to the image
/// (NaN → 0), computed in T; the same positions as `tap`.
#[derive(Clone, Copy)]
pub(crate) struct PixelTap<T> {
    a: [usize; 4],
    wx: T,
    wy: T,
}

#[inline]
pub(crate) fn pixel_tap<T: WithDType>(
    i: usize,
    j: usize,
    fx: T,
    fy: T,
    h: usize,
    w: usize,
) -> PixelTap<T> {
    let zero = T::zero();
    let axis = |base: usize, f: T, size: usize| -> (usize, usize, T) {
        let lim = T::from_f64((size - 1) as f64);
        let raw = T::from_f64(base as f64) + f;
        // NaN (no ordering) maps to 0 like `tap` does.
        let p = match raw.partial_cmp(&zero) {
            None | Some(std::cmp::Ordering::Less) => zero,
            _ if raw > lim => lim,
            _ => raw,
        };
        // p ≥ 0 here, so truncation is the floor.
        let p0 = (p.to_f64() as usize).min(size - 1);
        let p1 = (p0 + 1).min(size - 1);
        (p0, p1, p - T::from_f64(p0 as f64))
    };
    let (x0, x1, wx) = axis(j, fx, w);
    let (y0, y1, wy) = axis(i, fy, h);
    PixelTap {
        a: [y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1],
        wx,
        wy,
    }
}

impl<T: WithDType> PixelTap<T> {
    /// The bilinear sample of `plane` (the `h × w` plane the tap was made for).
    #[inline]
    pub(crate) fn sample(&self, plane: &[T]) -> T {
        let one = T::one();
        let [a00, a01, a10, a11] = self.a;
        assert!(a00.max(a01).max(a10).max(a11) < plane.len());
        // SAFETY: every index was just checked against the plane's length.
        let v = |k: usize| unsafe { *plane.get_unchecked(k) };
        let top = v(a00) * (one - self.wx) + v(a01) * self.wx;
        let bot = v(a10) * (one - self.wx) + v(a11) * self.wx;
        top * (one - self.wy) + bot * self.wy
    }
}

/// The forward warp of one image: `img` and `out` are `c` planes of `h × w`, `fx`/`fy` the flow
/// planes. Rows run in parallel; each pixel's sampling taps are computed once and shared by every
/// channel (so warping an image and its features with one flow in one call costs one tap pass).
pub(crate) fn warp_planes<T: WithDType>(
    img: &[T],
    dims: (usize, usize, usize),
    fx: &[T],
    fy: &[T],
    out: &mut [T],
) {
    warp_planes_at(img, dims, fx, fy, out, None)
}

/// [`warp_planes`] at the pixels of the given rows × columns only (both strictly ascending, in
/// range);
/// the rest of `out` is left as it was. For a consumer that samples the warped image sparsely
/// (a downscaling resize reads 2 of every `s` rows and columns).
pub(crate) fn warp_planes_at<T: WithDType>(
    img: &[T],
    (c, h, w): (usize, usize, usize),
    fx: &[T],
    fy: &[T],
    out: &mut [T],
    at: Option<(&[usize], &[usize])>,
) {
    use rayon::prelude::*;
    let hw = h * w;
    assert!(img.len() == c * hw && out.len() == c * hw && fx.len() == hw && fy.len() == hw);
    if hw == 0 || c == 0 {
        return;
    }
    let (all_rows, all_cols): (Vec<usize>, Vec<usize>);
    let (rows, cols) = match at {
        Some((r, k)) => {
            assert!(r.iter().all(|&i| i < h) && k.iter().all(|&j| j < w));
            assert!(r.windows(2).all(|p| p[0] < p[1]), "rows must ascend");
            assert!(k.windows(2).all(|p| p[0] < p[1]), "columns must ascend");
            (r, k)
        }
        None => {
            (all_rows, all_cols) = ((0..h).collect(), (0..w).collect());
            (&all_rows[..], &all_cols[..])
        }
    };
    let dst = super::cpu::SendPtr(out.as_mut_ptr());
    let rows_per_job = ((1 << 13) / (cols.len() * c).max(1)).max(1);
    // f32 over whole rows: 8 pixels at a time with AVX2 gathers (same arithmetic, same result).
    // (Ascending, in range and w of them: the columns are 0..w.)
    let simd = cols.len() == w && T::DTYPE == candle_core::DType::F32 && avx2_ok() && hw < 1 << 31;
    rows.par_chunks(rows_per_job).for_each(|job| {
        for &i in job {
            let mut done = 0;
            if simd {
                // SAFETY: T is f32 (DTYPE checked), so the casts are identity; row `i` < h of
                // every plane lies in `img`/`out` (lengths asserted) and is written by this job
                // only; AVX2 + FMA were detected.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    done = warp_row_avx2(
                        img.as_ptr() as *const f32,
                        (c, h, w),
                        i,
                        fx.as_ptr().add(i * w) as *const f32,
                        fy.as_ptr().add(i * w) as *const f32,
                        dst.get() as *mut f32,
                    );
                }
            }
            for &j in &cols[done..] {
                let q = i * w + j;
                let tp = pixel_tap(i, j, fx[q], fy[q], h, w);
                for ch in 0..c {
                    let base = ch * hw;
                    // SAFETY: pixel `q` (row `i` < h, column `j` < w, asserted) of plane `ch` <
                    // c lies in `out` (length c·hw, asserted) and is written by this job only,
                    // as jobs own disjoint rows (the row list is ascending, so no repeats).
                    unsafe { *dst.get().add(base + q) = tp.sample(&img[base..base + hw]) };
                }
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
fn avx2_ok() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_ok() -> bool {
    false
}

/// How far ahead (pixels) [`warp_row_avx2`] asks for the lines it will sample.
#[cfg(target_arch = "x86_64")]
const PREFETCH: usize = 64;

/// Warps pixels 0..8·⌊w/8⌋ of row `i` of every plane (the rest is left to the scalar loop);
/// returns how many it did. The same operations in the same order as [`pixel_tap`] and
/// [`PixelTap::sample`] in f32, so the result is identical.
///
/// # Safety
/// AVX2 (gathers) available; `img` and `out` hold `c` planes of `h × w` (h·w < 2³¹), `fx`/`fy`
/// point at row `i` (< h) of the flow planes, and row `i` of `out` is not accessed by others.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn warp_row_avx2(
    img: *const f32,
    (c, h, w): (usize, usize, usize),
    i: usize,
    fx: *const f32,
    fy: *const f32,
    out: *mut f32,
) -> usize {
    use std::arch::x86_64::*;
    let hw = h * w;
    let n8 = w / 8 * 8;
    let zero = _mm256_setzero_ps();
    let one = _mm256_set1_ps(1.0);
    let (limx, limy) = (
        _mm256_set1_ps((w - 1) as f32),
        _mm256_set1_ps((h - 1) as f32),
    );
    let (wm1, hm1) = (
        _mm256_set1_epi32((w - 1) as i32),
        _mm256_set1_epi32((h - 1) as i32),
    );
    let (one_i, wv) = (_mm256_set1_epi32(1), _mm256_set1_epi32(w as i32));
    let lane = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    let row = _mm256_set1_ps(i as f32);
    // Clamped position (max first: a NaN gives the second operand, 0), floor, neighbours.
    let axis = |raw: __m256, lim: __m256, m1: __m256i| {
        let p = _mm256_min_ps(_mm256_max_ps(raw, zero), lim);
        let p0 = _mm256_cvttps_epi32(p);
        let p1 = _mm256_min_epi32(_mm256_add_epi32(p0, one_i), m1);
        (p0, p1, _mm256_sub_ps(p, _mm256_cvtepi32_ps(p0)))
    };
    let mut j = 0;
    while j < n8 {
        if j.is_multiple_of(16) {
            // The lines the row will sample PREFETCH pixels on (the nearest tap's position):
            // warps of frames larger than the cache wait on memory otherwise (the temporal
            // chains at 640×360: 7.1–7.8 → 5.2 ms a frame beside the stylisation).
            let q = (j + PREFETCH).min(w - 1);
            let x = (q as f32 + *fx.add(q)).max(0.0).min((w - 1) as f32) as usize;
            let y = (i as f32 + *fy.add(q)).max(0.0).min((h - 1) as f32) as usize;
            let y1 = (y + 1).min(h - 1);
            for ch in 0..c {
                let plane = img.add(ch * hw);
                _mm_prefetch::<_MM_HINT_T0>(plane.add(y * w + x) as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(plane.add(y1 * w + x) as *const i8);
            }
        }
        let col = _mm256_add_ps(_mm256_set1_ps(j as f32), lane);
        let (x0, x1, wx) = axis(_mm256_add_ps(col, _mm256_loadu_ps(fx.add(j))), limx, wm1);
        let (y0, y1, wy) = axis(_mm256_add_ps(row, _mm256_loadu_ps(fy.add(j))), limy, hm1);
        let (r0, r1) = (_mm256_mullo_epi32(y0, wv), _mm256_mullo_epi32(y1, wv));
        let (a00, a01) = (_mm256_add_epi32(r0, x0), _mm256_add_epi32(r0, x1));
        let (a10, a11) = (_mm256_add_epi32(r1, x0), _mm256_add_epi32(r1, x1));
        let (vx, vy) = (_mm256_sub_ps(one, wx), _mm256_sub_ps(one, wy));
        for ch in 0..c {
            let plane = img.add(ch * hw);
            let g = |a: __m256i| _mm256_i32gather_ps::<4>(plane, a);
            let top = _mm256_add_ps(_mm256_mul_ps(g(a00), vx), _mm256_mul_ps(g(a01), wx));
            let bot = _mm256_add_ps(_mm256_mul_ps(g(a10), vx), _mm256_mul_ps(g(a11), wx));
            let v = _mm256_add_ps(_mm256_mul_ps(top, vy), _mm256_mul_ps(bot, wy));
            _mm256_storeu_ps(out.add(ch * hw + i * w + j), v);
        }
        j += 8;
    }
    n8
}

/// Returns (grad_img, grad_flow).
fn bwd_kernel<T: WithDType>(
    img: &[T],
    flow: &[T],
    grad: &[T],
    dims: (usize, usize, usize, usize),
) -> (Vec<T>, Vec<T>) {
    let (n, c, h, w) = dims;
    let hw = h * w;
    let mut gimg = vec![0f64; n * c * hw];
    let mut gflow = vec![T::zero(); n * 2 * hw];
    for b in 0..n {
        let fl = &flow[b * 2 * hw..(b + 1) * 2 * hw];
        let im = &img[b * c * hw..(b + 1) * c * hw];
        let g = &grad[b * c * hw..(b + 1) * c * hw];
        let gi = &mut gimg[b * c * hw..(b + 1) * c * hw];
        let gf = &mut gflow[b * 2 * hw..(b + 1) * 2 * hw];
        for i in 0..h {
            for j in 0..w {
                let p = i * w + j;
                let t = tap(i, j, fl[p].to_f64(), fl[hw + p].to_f64(), h, w);
                let (a00, a01) = (t.y0 * w + t.x0, t.y0 * w + t.x1);
                let (a10, a11) = (t.y1 * w + t.x0, t.y1 * w + t.x1);
                let (wx, wy) = (t.wx, t.wy);
                let (mut dx, mut dy) = (0f64, 0f64);
                for ch in 0..c {
                    let go = g[ch * hw + p].to_f64();
                    let s = &im[ch * hw..(ch + 1) * hw];
                    let gs = &mut gi[ch * hw..(ch + 1) * hw];
                    gs[a00] += go * (1.0 - wx) * (1.0 - wy);
                    gs[a01] += go * wx * (1.0 - wy);
                    gs[a10] += go * (1.0 - wx) * wy;
                    gs[a11] += go * wx * wy;
                    let (v00, v01) = (s[a00].to_f64(), s[a01].to_f64());
                    let (v10, v11) = (s[a10].to_f64(), s[a11].to_f64());
                    dx += go * ((1.0 - wy) * (v01 - v00) + wy * (v11 - v10));
                    dy += go * ((1.0 - wx) * (v10 - v00) + wx * (v11 - v01));
                }
                gf[p] = T::from_f64(if t.gx { dx } else { 0.0 });
                gf[hw + p] = T::from_f64(if t.gy { dy } else { 0.0 });
            }
        }
    }
    (gimg.into_iter().map(T::from_f64).collect(), gflow)
}

impl CustomOp2 for BackwardWarp {
    fn name(&self) -> &'static str {
        "backward-warp"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = l1.shape().dims4()?;
        let out = match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(f)) => CpuStorage::F32(fwd_kernel(
                contiguous(a, l1, "img")?,
                contiguous(f, l2, "flow")?,
                dims,
            )),
            (CpuStorage::F64(a), CpuStorage::F64(f)) => CpuStorage::F64(fwd_kernel(
                contiguous(a, l1, "img")?,
                contiguous(f, l2, "flow")?,
                dims,
            )),
            _ => bail!("backward_warp: img and flow must both be f32 or both f64"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        img: &Tensor,
        flow: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dims = img.dims4()?;
        let dev = img.device();
        let (gi, gf) = match img.dtype() {
            DType::F32 => {
                let (gi, gf) = bwd_kernel(
                    &img.flatten_all()?.to_vec1::<f32>()?,
                    &flow.flatten_all()?.to_vec1::<f32>()?,
                    &grad_res.flatten_all()?.to_vec1::<f32>()?,
                    dims,
                );
                (
                    Tensor::from_vec(gi, img.shape(), dev)?,
                    Tensor::from_vec(gf, flow.shape(), dev)?,
                )
            }
            DType::F64 => {
                let (gi, gf) = bwd_kernel(
                    &img.flatten_all()?.to_vec1::<f64>()?,
                    &flow.flatten_all()?.to_vec1::<f64>()?,
                    &grad_res.flatten_all()?.to_vec1::<f64>()?,
                    dims,
                );
                (
                    Tensor::from_vec(gi, img.shape(), dev)?,
                    Tensor::from_vec(gf, flow.shape(), dev)?,
                )
            }
            dt => bail!("backward_warp: dtype {dt:?} unsupported in backward"),
        };
        Ok((Some(gi), Some(gf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 row path (whole rows) and the scalar path (an explicit column list) give
    /// bit-identical results, including flows that leave the image and NaN flows.
    #[test]
    fn simd_rows_equal_scalar_pixels() {
        let (c, h, w) = (3usize, 7usize, 29usize);
        let hw = h * w;
        let mut seed = 1u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        let img: Vec<f32> = (0..c * hw).map(|_| rnd()).collect();
        let mut fx: Vec<f32> = (0..hw).map(|_| (rnd() - 0.5) * 40.0).collect();
        let fy: Vec<f32> = (0..hw).map(|_| (rnd() - 0.5) * 20.0).collect();
        fx[5] = f32::NAN;
        fx[40] = -0.0;
        let mut a = vec![0f32; c * hw];
        let mut b = vec![0f32; c * hw];
        warp_planes(&img, (c, h, w), &fx, &fy, &mut a);
        // One column at a time takes the scalar path.
        let rows: Vec<usize> = (0..h).collect();
        for j in 0..w {
            warp_planes_at(&img, (c, h, w), &fx, &fy, &mut b, Some((&rows, &[j])));
        }
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x.to_bits(), y.to_bits(), "element {k}: {x} vs {y}");
        }
    }
}
