//! Temporally stable video stylisation (issue #15): flow-guided propagation inside a fixed,
//! frame-anchored window, for any per-frame stylisation.
//!
//! A per-frame style network answers small changes of its input (noise, compression, a pixel of
//! motion) with different brush strokes, so its output flickers. Here each output frame is
//! instead built from *one* earlier stylised frame, the window's anchor, carried along the
//! motion of the input frames:
//!
//! 1. **Flow** ([`estimate_flow`]): Wick's RIFE IFNet on the two input frames at quarter size
//!    (padded to its alignment, or resized to a nearby aligned size when that is cheaper),
//!    at the midpoint (its endpoint flows, t = 0 or 1, are unusable: measured 18 dB where the
//!    identity gives 37 dB), inverted into the backward flow from the current frame to the
//!    previous one, upsampled, then refined at half size by three Lucas–Kanade steps (Gaussian
//!    window σ = 2, at most 1 px each: +3 to +5 dB on the warped input), then smoothed where the
//!    frame is flat ([`smooth_flow`]: stray motion there made carried strokes slide). Flows,
//!    confidences and chains stay at this [`work_size`] (half size; full size for frames under
//!    128 px); each frame's half and quarter size and scene-cut features are computed once
//!    ([`Levels`]).
//! 2. **Confidence** ([`confidence`]): where the warped previous input differs from the current
//!    one by more than [`TAU`] (blurred colour distance), the motion is not trusted (occlusion,
//!    disocclusion, light change): the weight falls linearly to 0 at 2 [`TAU`].
//! 3. **Chains** ([`Chain`]): the flows of consecutive frames are composed into one flow from
//!    the current frame to the anchor and the confidences multiplied, so the anchor's stylised
//!    frame is sampled *once* (bicubic, at full size, the chain's flow and weight sampled
//!    bilinearly from the work size) however far back it is: repeated bilinear warps blur
//!    (gradient energy fell to 0.35–0.7 of per-frame in the measurements), one bicubic sample
//!    keeps it (0.9–1.0). Where the weight is low the current frame's own stylisation shows.
//! 4. **Look** ([`Window::render`]): mixing stylisations whose strokes do not line up (two
//!    anchors while one fades into the next, an anchor and the current frame where the weight is
//!    partial) averages their texture away; the detail (the mix minus its blur, σ =
//!    [`TEXTURE_SIGMA`]) is scaled back up by 0.4 of the loss of independent textures
//!    ([`TEXTURE_KEEP`]), and the frame gets the per-frame stylisation's mean colour
//!    ([`MATCH_MEAN`]).
//! 5. **Farm-safe window** ([`Window`]): anchors sit at absolute frame numbers that are
//!    multiples of the period `P`. Frame `t` blends the chain from the previous anchor
//!    (`m0 = m1 - P`, weight `1 - (t - m1) / P`) with the chain from the latest anchor `m1`, so
//!    each anchor fades in over `P` frames instead of popping. The output of frame `t` depends
//!    only on input frames `t - (2P - 1) ..= t`: a node declares `2P - 1` past-frame inputs, and
//!    renders of `1-12` then `13-24` equal a render of `1-24`. A chain starts later where the
//!    window is cut short: at the first frame after a scene cut ([`crate::rife::cuts`]) or at the
//!    earliest frame the host could give (clip start, a seek).
//!
//! Everything here is plain `f32` planar CPU code (3 × h × w frames, values 0..1; flows 2 × h × w
//! in pixels, channel 0 = x); only the flow network runs on the caller's device. Results are
//! deterministic (no reductions across threads), so a frame computed twice, or from a cache,
//! is the same to the bit.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::rife::{cuts, IfNet};
use crate::ModelError;

/// Colour distance (RGB, 0..1, Euclidean, blurred) up to which the motion is fully trusted;
/// the weight reaches 0 at twice this.
pub const TAU: f32 = 0.05;
/// Default anchor period `P`: a window of `2P - 1` past frames.
pub const DEFAULT_PERIOD: usize = 6;
/// How much of the contrast lost by mixing unaligned stylisations is restored (0: none, 1: all,
/// as if the textures were independent; see [`Window::render`]). 0.4 keeps the gradient energy
/// of styles 0, 3 and the blend 5:0.5,19:0.5 at ≥ 0.80× of per-frame on the four bench clips
/// (0.3: the blend 0.776 on cup) for +0.002–0.016 on the E_warp ratio.
pub const TEXTURE_KEEP: f32 = 0.4;
/// The blur (σ, pixels) that separates detail from colour for [`TEXTURE_KEEP`].
pub const TEXTURE_SIGMA: f32 = 3.0;
/// Give the stabilised frame the per-frame stylisation's mean colour.
pub const MATCH_MEAN: bool = true;

/// A planar frame size.
pub type Size = (usize, usize);

/// One pixel of an interleaved RGB frame (the fourth value unused, 0): the stylisations the
/// stabiliser samples, so one bicubic tap reads every channel.
pub type Rgbx = [f32; 4];

/// Planar RGB (3 × n) to interleaved pixels.
pub fn interleave(planar: &[f32], n: usize) -> Vec<Rgbx> {
    let (r, g, b) = (&planar[..n], &planar[n..2 * n], &planar[2 * n..3 * n]);
    r.iter()
        .zip(g)
        .zip(b)
        .map(|((r, g), b)| [*r, *g, *b, 0.0])
        .collect()
}

fn gauss_kernel(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil().max(1.0) as isize;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// Separable Gaussian blur of one plane, edges repeated.
pub fn blur(src: &[f32], (h, w): Size, sigma: f32) -> Vec<f32> {
    let k = gauss_kernel(sigma);
    let r = k.len() / 2;
    let mut tmp = vec![0f32; h * w];
    tmp.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        let s = &src[i * w..][..w];
        // The row with `r` repeated edge pixels on each side; one tap at a time over the whole
        // row (vectorises).
        let mut pad = Vec::with_capacity(w + 2 * r);
        pad.extend(std::iter::repeat_n(s[0], r));
        pad.extend_from_slice(s);
        pad.extend(std::iter::repeat_n(s[w - 1], r));
        for (t, kv) in k.iter().enumerate() {
            for (o, v) in row.iter_mut().zip(&pad[t..t + w]) {
                *o += kv * v;
            }
        }
    });
    let mut out = vec![0f32; h * w];
    out.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        for (t, kv) in k.iter().enumerate() {
            let ii = (i + t).saturating_sub(r).min(h - 1);
            for (o, v) in row.iter_mut().zip(&tmp[ii * w..][..w]) {
                *o += kv * v;
            }
        }
    });
    out
}

#[inline]
fn bilinear(p: &[f32], (h, w): Size, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let a = p[y0 * w + x0] + fx * (p[y0 * w + x1] - p[y0 * w + x0]);
    let b = p[y1 * w + x0] + fx * (p[y1 * w + x1] - p[y1 * w + x0]);
    a + fy * (b - a)
}

/// Keys' cubic convolution weights with a = -0.75 (OpenCV's INTER_CUBIC).
#[inline]
fn cubic_weights(f: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let w0 = ((A * (f + 1.0) - 5.0 * A) * (f + 1.0) + 8.0 * A) * (f + 1.0) - 4.0 * A;
    let w1 = ((A + 2.0) * f - (A + 3.0)) * f * f + 1.0;
    let g = 1.0 - f;
    let w2 = ((A + 2.0) * g - (A + 3.0)) * g * g + 1.0;
    [w0, w1, w2, 1.0 - w0 - w1 - w2]
}

/// Backward warp of a planar image (`c` planes) by `flow` (2 planes): output pixel `(i, j)`
/// samples the image at `(j + flow_x, i + flow_y)`, edges repeated; bilinear or bicubic.
pub fn warp(img: &[f32], c: usize, (h, w): Size, flow: &[f32], cubic: bool) -> Vec<f32> {
    let hw = h * w;
    let mut out = vec![0f32; c * hw];
    if !cubic {
        // The op layer's warp kernel (the same sampling: border clamp, taps shared by channels,
        // AVX2 rows).
        crate::ops::warp::warp_planes(img, (c, h, w), &flow[..hw], &flow[hw..2 * hw], &mut out);
        return out;
    }
    // Bicubic: the taps (4 rows, 4 columns, their weights) once per pixel, applied to every
    // plane (each summed by `Taps::apply`).
    let planes: Vec<&[f32]> = img.chunks_exact(hw).take(c).collect();
    let mut rows = rows_of_planes(&mut out, c, (h, w));
    rows.par_chunks_mut(c).enumerate().for_each(|(i, outs)| {
        let (fx, fy) = (&flow[i * w..][..w], &flow[hw + i * w..][..w]);
        for j in 0..w {
            let t = Taps::new((h, w), j as f32 + fx[j], i as f32 + fy[j]);
            for (o, p) in outs.iter_mut().zip(&planes) {
                o[j] = t.apply(p, w);
            }
        }
    });
    out
}

/// The rows of a planar image (`c` planes of h × w) grouped by row: row `i` of every plane at
/// `[i * c .. (i + 1) * c]`, so a parallel loop over rows writes all planes of its row.
fn rows_of_planes(img: &mut [f32], c: usize, (h, w): Size) -> Vec<&mut [f32]> {
    let mut rows = Vec::with_capacity(c * h);
    let mut by_plane: Vec<std::slice::ChunksExactMut<'_, f32>> = img
        .chunks_exact_mut(h * w)
        .take(c)
        .map(|p| p.chunks_exact_mut(w))
        .collect();
    for _ in 0..h {
        for p in by_plane.iter_mut() {
            rows.push(p.next().expect("h rows"));
        }
    }
    rows
}

/// The 4 × 4 taps of one bicubic sample: row and column indices (edges repeated) and weights.
struct Taps {
    ys: [usize; 4],
    xs: [usize; 4],
    wy: [f32; 4],
    wx: [f32; 4],
    /// The four columns are consecutive (away from the left and right edges): one bounds
    /// check per row.
    run: bool,
}

impl Taps {
    #[inline]
    fn new((h, w): Size, x: f32, y: f32) -> Self {
        let x = x.clamp(0.0, (w - 1) as f32);
        let y = y.clamp(0.0, (h - 1) as f32);
        // Non-negative after the clamp: truncation is the floor (and needs no libm call).
        let (x0, y0) = (x as usize, y as usize);
        let (wx, wy) = (cubic_weights(x - x0 as f32), cubic_weights(y - y0 as f32));
        let (x0, y0) = (x0 as isize, y0 as isize);
        Taps {
            xs: std::array::from_fn(|k| (x0 + k as isize - 1).clamp(0, w as isize - 1) as usize),
            ys: std::array::from_fn(|k| (y0 + k as isize - 1).clamp(0, h as isize - 1) as usize),
            wx,
            wy,
            run: x0 >= 1 && x0 + 2 < w as isize,
        }
    }

    /// [`Taps::apply`] on interleaved pixels: every channel at once, each summed in the same
    /// order as `apply` (the same values to the bit).
    #[inline]
    fn apply4(&self, p: &[Rgbx], w: usize) -> Rgbx {
        let xs = if self.run {
            std::array::from_fn(|k| self.xs[0] + k)
        } else {
            self.xs
        };
        let rows: [&[Rgbx]; 4] = std::array::from_fn(|k| &p[self.ys[k] * w..][..w]);
        let taps: [[&Rgbx; 4]; 4] =
            std::array::from_fn(|r| std::array::from_fn(|k| &rows[r][xs[k]]));
        sum_taps(&taps, &self.wx, &self.wy)
    }

    #[inline]
    fn apply(&self, p: &[f32], w: usize) -> f32 {
        let (xs, wx) = (&self.xs, &self.wx);
        let mut acc = 0f32;
        if self.run {
            for (yy, wyk) in self.ys.iter().zip(&self.wy) {
                let r = &p[yy * w + xs[0]..][..4];
                acc += wyk * (wx[0] * r[0] + wx[1] * r[1] + wx[2] * r[2] + wx[3] * r[3]);
            }
            return acc;
        }
        for (yy, wyk) in self.ys.iter().zip(&self.wy) {
            let row = &p[yy * w..][..w];
            acc += wyk
                * (wx[0] * row[xs[0]]
                    + wx[1] * row[xs[1]]
                    + wx[2] * row[xs[2]]
                    + wx[3] * row[xs[3]]);
        }
        acc
    }
}

/// `Σ_r wy[r] · Σ_k wx[k] · taps[r][k]` per channel, each sum from the left (as [`Taps::apply`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn sum_taps(taps: &[[&Rgbx; 4]; 4], wx: &[f32; 4], wy: &[f32; 4]) -> Rgbx {
    use std::arch::x86_64::*;
    // SAFETY: SSE is part of the x86_64 baseline; every load reads one `[f32; 4]` through a
    // reference, and the store writes one local `[f32; 4]`.
    unsafe {
        let mut acc = _mm_setzero_ps();
        for (row, &wyk) in taps.iter().zip(wy) {
            let mut o = _mm_setzero_ps();
            for (px, &wk) in row.iter().zip(wx) {
                o = _mm_add_ps(o, _mm_mul_ps(_mm_set1_ps(wk), _mm_loadu_ps(px.as_ptr())));
            }
            acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(wyk), o));
        }
        let mut out = [0f32; 4];
        _mm_storeu_ps(out.as_mut_ptr(), acc);
        out
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn sum_taps(taps: &[[&Rgbx; 4]; 4], wx: &[f32; 4], wy: &[f32; 4]) -> Rgbx {
    let mut acc = [0f32; 4];
    for (row, &wyk) in taps.iter().zip(wy) {
        let mut o = [0f32; 4];
        for (px, &wk) in row.iter().zip(wx) {
            for (o, v) in o.iter_mut().zip(px.iter()) {
                *o += wk * v;
            }
        }
        for (a, o) in acc.iter_mut().zip(o) {
            *a += wyk * o;
        }
    }
    acc
}

/// Area-average downscale by 2 (odd sizes: the last row/column averages what it has).
fn half(img: &[f32], c: usize, (h, w): Size) -> (Vec<f32>, Size) {
    let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
    let mut out = vec![0f32; c * h2 * w2];
    for (ch, plane) in out.chunks_exact_mut(h2 * w2).enumerate() {
        let p = &img[ch * h * w..][..h * w];
        plane.par_chunks_mut(w2).enumerate().for_each(|(i, row)| {
            for (j, o) in row.iter_mut().enumerate() {
                let (mut s, mut n) = (0f32, 0f32);
                for ii in 2 * i..(2 * i + 2).min(h) {
                    for jj in 2 * j..(2 * j + 2).min(w) {
                        s += p[ii * w + jj];
                        n += 1.0;
                    }
                }
                *o = s / n;
            }
        });
    }
    (out, (h2, w2))
}

/// Bilinear resize of a flow field to `(h, w)`, pixel centres aligned, vectors scaled.
fn upsize_flow(f: &[f32], (h2, w2): Size, (h, w): Size) -> Vec<f32> {
    let (sy, sx) = (h2 as f32 / h as f32, w2 as f32 / w as f32);
    let mut out = vec![0f32; 2 * h * w];
    for ch in 0..2 {
        let p = &f[ch * h2 * w2..][..h2 * w2];
        let scale = if ch == 0 { 1.0 / sx } else { 1.0 / sy };
        out[ch * h * w..][..h * w]
            .par_chunks_mut(w)
            .enumerate()
            .for_each(|(i, row)| {
                let y = (i as f32 + 0.5) * sy - 0.5;
                for (j, o) in row.iter_mut().enumerate() {
                    let x = (j as f32 + 0.5) * sx - 0.5;
                    *o = bilinear(p, (h2, w2), x, y) * scale;
                }
            });
    }
    out
}

/// The backward flow of the previous frame from the midpoint flows `f0` (mid → previous) and
/// `f1` (mid → current): for a pixel `p` of the current frame, the midpoint position `q` with
/// `q + f1(q) = p` (three fixed-point steps), then `f(p) = f0(q) - f1(q)`.
fn invert_mid(f0: &[f32], f1: &[f32], size: Size) -> Vec<f32> {
    let n = size.0 * size.1;
    let mut q = vec![0f32; 2 * n];
    for _ in 0..3 {
        q = warp(f1, 2, size, &q, false);
        q.iter_mut().for_each(|v| *v = -*v);
    }
    let a = warp(f0, 2, size, &q, false);
    let b = warp(f1, 2, size, &q, false);
    a.iter().zip(&b).map(|(x, y)| x - y).collect()
}

/// The gradient of row `i` of a plane `p` (h × w): central differences, one-sided at the edges,
/// 0 along a side of length 1. Lucas–Kanade's and the flow smoothing's structure tensors.
fn row_gradients(p: &[f32], (h, w): Size, i: usize, gx: &mut [f32], gy: &mut [f32]) {
    let (iu, id) = (i.saturating_sub(1), (i + 1).min(h - 1));
    let sy = if id - iu == 2 { 0.5 } else { 1.0 };
    let (row, up, down) = (&p[i * w..][..w], &p[iu * w..][..w], &p[id * w..][..w]);
    for j in 0..w {
        let (jl, jr) = (j.saturating_sub(1), (j + 1).min(w - 1));
        let sx = if jr - jl == 2 { 0.5 } else { 1.0 };
        gx[j] = if w > 1 { sx * (row[jr] - row[jl]) } else { 0.0 };
        gy[j] = if h > 1 { sy * (down[j] - up[j]) } else { 0.0 };
    }
}

/// Lucas–Kanade refinement of a backward flow `flow` (cur → prev) so that `prev` warped by it
/// matches `cur`: `iters` Gauss–Newton steps on all three channels (central differences of the
/// warped frame), Gaussian window σ = 2, each step at most 1 px.
pub fn refine_flow(cur: &[f32], prev: &[f32], size: Size, flow: &mut [f32], iters: usize) {
    let (h, w) = size;
    let n = h * w;
    const SIGMA: f32 = 2.0;
    const LAMBDA: f32 = 1e-4;
    for _ in 0..iters {
        let xw = warp(prev, 3, size, flow, false);
        // Per pixel: gx², gx·gy, gy², gx·r, gy·r summed over the channels (5 planes).
        let mut terms = vec![0f32; 5 * n];
        let (t0, rest) = terms.split_at_mut(n);
        let (t1, rest) = rest.split_at_mut(n);
        let (t2, rest) = rest.split_at_mut(n);
        let (t3, t4) = rest.split_at_mut(n);
        t0.par_chunks_mut(w)
            .zip(t1.par_chunks_mut(w))
            .zip(t2.par_chunks_mut(w))
            .zip(t3.par_chunks_mut(w))
            .zip(t4.par_chunks_mut(w))
            .enumerate()
            .for_each(|(i, ((((a, b), d), ex), ey))| {
                let (mut gxs, mut gys) = (vec![0f32; w], vec![0f32; w]);
                for c in 0..3 {
                    let p = &xw[c * n..][..n];
                    row_gradients(p, size, i, &mut gxs, &mut gys);
                    let row = &p[i * w..][..w];
                    let cr = &cur[c * n + i * w..][..w];
                    for j in 0..w {
                        let (gx, gy) = (gxs[j], gys[j]);
                        let r = row[j] - cr[j];
                        a[j] += gx * gx;
                        b[j] += gx * gy;
                        d[j] += gy * gy;
                        ex[j] += gx * r;
                        ey[j] += gy * r;
                    }
                }
            });
        let s: Vec<Vec<f32>> = terms.par_chunks(n).map(|t| blur(t, size, SIGMA)).collect();
        let (fx, fy) = flow.split_at_mut(n);
        fx.par_chunks_mut(w)
            .zip(fy.par_chunks_mut(w))
            .enumerate()
            .for_each(|(i, (fx, fy))| {
                for j in 0..w {
                    let k = i * w + j;
                    let (a, b, d) = (s[0][k] + LAMBDA, s[1][k], s[2][k] + LAMBDA);
                    let det = a * d - b * b;
                    let mut du = -(d * s[3][k] - b * s[4][k]) / det;
                    let mut dv = -(-b * s[3][k] + a * s[4][k]) / det;
                    let norm = (du * du + dv * dv).sqrt();
                    if norm > 1.0 {
                        du /= norm;
                        dv /= norm;
                    }
                    if du.is_finite() && dv.is_finite() {
                        fx[j] += du;
                        fy[j] += dv;
                    }
                }
            });
    }
}

/// The blur (σ, in full-size pixels) of [`smooth_flow`]. E_warp ratio with style 0 on box
/// (texture restoration 0.3): unsmoothed 0.377, plain Gaussian σ = 4 0.295 and σ = 6 0.264,
/// texture-weighted σ = 6 0.270 — which is better on bikes (0.423 vs 0.436); BENCHMARKS.md #15.
pub const FLOW_SMOOTH_SIGMA: f32 = 6.0;
/// The texture level (the structure tensor's smaller eigenvalue, frame values 0..1, gradients
/// per work-size pixel) at which a pixel's own flow counts half in [`smooth_flow`].
pub const FLOW_TEXTURE_EPS: f32 = 1e-4;

/// Smooths a flow by normalised convolution (Knutsson & Westin 1993), each pixel weighted by
/// how well the frame's texture pins its motion down: `λ / (λ + ε)`, λ the smaller eigenvalue of
/// the structure tensor of the frame's luma ([`row_gradients`], Gaussian window σ = 1),
/// ε = [`FLOW_TEXTURE_EPS`]; then `blur(w·F) / blur(w)` with a Gaussian of `sigma` pixels.
/// Where the frame is flat (a road, a sky, a white roof) its flow is photometrically free and
/// both the network's coarse flow and Lucas–Kanade leave stray motion there (bikes: a median
/// 0.2–0.4 px a frame on a road OpenCV's DIS finds still): a stylisation carried along it slides
/// (module doc, step 1). `frame`: planar RGB, 3 × h × w; `flow`: 2 × h × w.
pub fn smooth_flow(frame: &[f32], size: Size, flow: &mut [f32], sigma: f32) {
    let (h, w) = size;
    let n = h * w;
    let luma: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|k| 0.299 * frame[k] + 0.587 * frame[n + k] + 0.114 * frame[2 * n + k])
        .collect();
    // Structure tensor terms gx², gx·gy, gy² (3 planes).
    let mut terms = vec![0f32; 3 * n];
    let (txx, rest) = terms.split_at_mut(n);
    let (txy, tyy) = rest.split_at_mut(n);
    txx.par_chunks_mut(w)
        .zip(txy.par_chunks_mut(w))
        .zip(tyy.par_chunks_mut(w))
        .enumerate()
        .for_each(|(i, ((a, b), d))| {
            let (mut gx, mut gy) = (vec![0f32; w], vec![0f32; w]);
            row_gradients(&luma, size, i, &mut gx, &mut gy);
            for j in 0..w {
                a[j] = gx[j] * gx[j];
                b[j] = gx[j] * gy[j];
                d[j] = gy[j] * gy[j];
            }
        });
    let t: Vec<Vec<f32>> = terms.par_chunks(n).map(|p| blur(p, size, 1.0)).collect();
    let weight: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|k| {
            let (a, b, d) = (t[0][k], t[1][k], t[2][k]);
            let l = (0.5 * (a + d - ((a - d) * (a - d) + 4.0 * b * b).sqrt())).max(0.0);
            l / (l + FLOW_TEXTURE_EPS)
        })
        .collect();
    const OWN: f32 = 1e-3;
    let den = blur(&weight, size, sigma);
    flow.par_chunks_mut(n).for_each(|plane| {
        let num: Vec<f32> = plane.iter().zip(&weight).map(|(f, w)| f * w).collect();
        let num = blur(&num, size, sigma);
        // Each pixel keeps a little weight on its own flow, so a region with no texture
        // within reach of the blur keeps its flow instead of dividing zero by zero.
        for ((f, a), b) in plane.iter_mut().zip(&num).zip(&den) {
            *f = (a + OWN * *f) / (b + OWN);
        }
    });
}

fn planar_tensor(x: &[f32], (h, w): Size, dev: &Device) -> Result<Tensor, ModelError> {
    Ok(Tensor::from_slice(x, (1, 3, h, w), &Device::Cpu)?.to_device(dev)?)
}

/// The size flows, confidences and chains work at for frames of `size`: half size (rounded up)
/// where the short side is at least 128 px, else the frame's own size. The final render samples
/// them at full size (bilinear; [`Window::render`]).
pub fn work_size((h, w): Size) -> Size {
    if h.min(w) >= 128 {
        (h.div_ceil(2), w.div_ceil(2))
    } else {
        (h, w)
    }
}

/// Lucas–Kanade steps refining the network's flow (1 step: E_warp ratio 0.32–0.36 where 3 give
/// 0.28–0.31 on bikes and bigbuckbunny).
pub const LK_STEPS: usize = 3;

/// One input frame as the stabiliser uses it, computed once per frame content: the frame at the
/// [`work_size`], at the flow network's size (the work size halved once more where its short side
/// is still at least 128 px: quarter size for most video) and its scene-cut features.
pub struct Levels {
    pub work: Vec<f32>,
    pub work_size: Size,
    /// The network's frame where it is smaller than the work-size one (else that one).
    smaller: Option<(Vec<f32>, Size)>,
    pub cut: Option<cuts::CutFeatures>,
}

impl Levels {
    /// `input`: planar RGB, 3 × h × w.
    pub fn new(input: &[f32], size: Size) -> Self {
        let ((work, ws), cut) = rayon::join(
            || {
                if work_size(size) == size {
                    (input[..3 * size.0 * size.1].to_vec(), size)
                } else {
                    half(input, 3, size)
                }
            },
            || cuts::features(input, size),
        );
        let smaller = (ws.0.min(ws.1) >= 128).then(|| half(&work, 3, ws));
        Self {
            work,
            work_size: ws,
            smaller,
            cut,
        }
    }

    /// The frame the flow network gets, and its size.
    pub fn net(&self) -> (&[f32], Size) {
        match &self.smaller {
            Some((v, s)) => (v, *s),
            None => (&self.work, self.work_size),
        }
    }
}

/// The backward flow from `cur` to `prev` at their [`work_size`] (2 planes, in work-size pixels):
/// `prev` warped by it lines up with `cur`. See the module doc (step 1).
pub fn estimate_flow(
    net: &IfNet,
    dev: &Device,
    prev: &Levels,
    cur: &Levels,
) -> Result<Vec<f32>, ModelError> {
    let ((prev_net, mut s2), (cur_net, _)) = (prev.net(), cur.net());
    // The network pads to its 64-pixel alignment; where the nearest aligned size is smaller
    // than the padded one (a side just above a multiple of 64, as 640×272 frames give 160×68 →
    // padded 192×128) and changes no side by more than 1.25×, resize to it instead (bikes:
    // E_warp ratio 0.280 → 0.277 and 1.7–1.9× → 1.56× the per-frame CPU time; 640×360 → 160×90
    // squeezed to 192×64 lost 0.307 → 0.318, so it stays padded).
    let align = crate::rife::alignment(1.0)?;
    let near = |v: usize| ((v as f64 / align as f64).round() as usize).max(1) * align;
    let (ah, aw) = (near(s2.0), near(s2.1));
    let mild = |a: usize, v: usize| (0.8..=1.25).contains(&(a as f64 / v as f64));
    let (mut t0, mut t1) = (
        planar_tensor(prev_net, s2, dev)?,
        planar_tensor(cur_net, s2, dev)?,
    );
    if ah * aw < s2.0.next_multiple_of(align) * s2.1.next_multiple_of(align)
        && mild(ah, s2.0)
        && mild(aw, s2.1)
    {
        // The op layer's bilinear resize (PyTorch semantics, pixel centres aligned).
        t0 = crate::ops::upsample_bilinear2d(&t0, ah, aw, false)?;
        t1 = crate::ops::upsample_bilinear2d(&t1, ah, aw, false)?;
        s2 = (ah, aw);
    }
    let e = net.estimate(&t0, &t1, 0.5, 1.0)?;
    let fl: Vec<f32> = e
        .flow
        .to_device(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let n2 = s2.0 * s2.1;
    let f = invert_mid(&fl[..2 * n2], &fl[2 * n2..4 * n2], s2);
    // Lucas–Kanade at the work size (half size: a larger effective window, 4× cheaper than at
    // full size, and measured lower E_warp on 3 of 4 clips than at full size, BENCHMARKS.md #15).
    let ws = cur.work_size;
    let mut f = if s2 == ws { f } else { upsize_flow(&f, s2, ws) };
    refine_flow(&cur.work, &prev.work, ws, &mut f, LK_STEPS);
    Ok(f)
}

/// The blur (σ, in full-size pixels) of the colour distance behind [`confidence`].
pub const CONFIDENCE_SIGMA: f32 = 1.5;

/// Confidence in a backward flow, per pixel, 0..1 (module doc, step 2): `prev` warped by
/// `flow` against `cur`, their distance blurred by `sigma` pixels.
pub fn confidence(cur: &[f32], prev: &[f32], size: Size, flow: &[f32], sigma: f32) -> Vec<f32> {
    let n = size.0 * size.1;
    let xw = warp(prev, 3, size, flow, false);
    let mut d = vec![0f32; n];
    d.par_chunks_mut(size.1).enumerate().for_each(|(i, row)| {
        for (j, o) in row.iter_mut().enumerate() {
            let k = i * size.1 + j;
            *o = (0..3)
                .map(|c| (cur[c * n + k] - xw[c * n + k]).powi(2))
                .sum::<f32>()
                .sqrt();
        }
    });
    let mut c = blur(&d, size, sigma);
    c.iter_mut()
        .for_each(|d| *d = ((2.0 * TAU - *d) / TAU).clamp(0.0, 1.0));
    c
}

/// What is known about one consecutive pair, at the frames' [`work_size`]: the backward flow
/// (current → previous, in work-size pixels) and the confidence in it.
pub struct Step {
    pub flow: Vec<f32>,
    pub conf: Vec<f32>,
}

impl Step {
    /// The pair `prev` → `cur` of frames whose full size is `size`, at their [`work_size`].
    pub fn new(
        net: &IfNet,
        dev: &Device,
        prev: &Levels,
        cur: &Levels,
        size: Size,
    ) -> Result<Self, ModelError> {
        let mut flow = estimate_flow(net, dev, prev, cur)?;
        let ws = cur.work_size;
        smooth_flow(
            &cur.work,
            ws,
            &mut flow,
            FLOW_SMOOTH_SIGMA * ws.1 as f32 / size.1 as f32,
        );
        let sigma = CONFIDENCE_SIGMA * ws.1 as f32 / size.1 as f32;
        let conf = confidence(&cur.work, &prev.work, ws, &flow, sigma);
        Ok(Self { flow, conf })
    }
}

/// A flow composed from a frame back to its chain's anchor, and the weight of the anchor there
/// (the product of the confidences along the way).
#[derive(Clone)]
pub struct Chain {
    pub flow: Vec<f32>,
    pub weight: Vec<f32>,
}

impl Chain {
    /// The chain at its anchor: no motion, full weight.
    pub fn anchor(size: Size) -> Self {
        let n = size.0 * size.1;
        Self {
            flow: vec![0.0; 2 * n],
            weight: vec![1.0; n],
        }
    }

    /// One frame further: `F'(p) = f(p) + F(p + f(p))`, `w'(p) = c(p) · w(p + f(p))`.
    pub fn step(&self, s: &Step, size: Size) -> Self {
        let mut flow = warp(&self.flow, 2, size, &s.flow, false);
        flow.iter_mut().zip(&s.flow).for_each(|(a, b)| *a += b);
        let mut weight = warp(&self.weight, 1, size, &s.flow, false);
        weight.iter_mut().zip(&s.conf).for_each(|(a, b)| *a *= b);
        Self { flow, weight }
    }
}

/// One source frame of a window: a content hash (frames equal in content share cache entries)
/// and the frame, planar RGB. All [`Window::motion`] needs.
#[derive(Clone)]
pub struct SourceFrame {
    pub hash: u64,
    pub input: Arc<Vec<f32>>,
}

/// The anchors of frame `t` for period `p`: (previous anchor, latest anchor, weight of the
/// previous anchor's chain).
pub fn anchors(t: i64, p: usize) -> (i64, i64, f32) {
    let p = p.max(1) as i64;
    let m1 = t.div_euclid(p) * p;
    (m1 - p, m1, 1.0 - (t - m1) as f32 / p as f32)
}

fn mix_hash(a: u64, b: u64) -> u64 {
    // splitmix64 of the pair: a stable key for a sequence of frames.
    let mut z = a ^ b.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(a << 6);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stabiliser of one node instance: caches of frame levels, steps (flows) and chains keyed
/// by frame content, so a sequential render computes one flow and two chain steps per frame.
/// The caches only hold what the last window used; results never depend on them.
#[derive(Default)]
pub struct Window {
    levels: HashMap<u64, Arc<Levels>>,
    steps: HashMap<(u64, u64), Arc<Step>>,
    cuts: HashMap<(u64, u64), bool>,
    chains: HashMap<u64, Arc<Chain>>,
}

/// An anchor's stylisation carried to the current frame: its chain and the share it gets where
/// the chain's weight is 1.
struct Carried<'a> {
    styled: &'a [Rgbx],
    chain: &'a Chain,
    share: f32,
}

/// Per output column (or row): the two work-size samples and the weight of the second, for
/// sampling a work-size field at full-size pixel centres (pixel centres aligned, edges clamped).
fn bilinear_axis(full: usize, work: usize) -> Vec<(usize, usize, f32)> {
    let s = work as f32 / full as f32;
    (0..full)
        .map(|j| {
            let x = ((j as f32 + 0.5) * s - 0.5).clamp(0.0, (work - 1) as f32);
            let x0 = x.floor() as usize;
            (x0, (x0 + 1).min(work - 1), x - x0 as f32)
        })
        .collect()
}

/// The mix of the carried anchors and the current frame's stylisation `cur` (3 × h × w), per
/// pixel the gain that restores the detail lost by mixing ([`TEXTURE_KEEP`]), and per channel
/// the sum over the frame of `cur` minus the mix (f64, rows summed in order: the same whatever
/// the threads). The chains are at `work` size: their flows (scaled to full-size pixels) and
/// weights are sampled bilinearly at each output pixel, then each anchor bicubically at the
/// position its flow gives.
fn compose(
    size: Size,
    work: Size,
    cur: &[Rgbx],
    old: Carried,
    new: Option<Carried>,
) -> (Vec<f32>, Vec<f32>, [f64; 3]) {
    let ((h, w), (wh, ww)) = (size, work);
    let (n, wn) = (h * w, wh * ww);
    let (cols, rows) = (bilinear_axis(w, ww), bilinear_axis(h, wh));
    let (fsx, fsy) = (w as f32 / ww as f32, h as f32 / wh as f32);
    let mut out = vec![0f32; 3 * n];
    let mut gain = vec![0f32; n];
    let mut out_rows = rows_of_planes(&mut out, 3, (h, w));
    let carried: Vec<&Carried> = std::iter::once(&old).chain(new.as_ref()).collect();
    let mut row_diffs = vec![[0f64; 3]; h];
    out_rows
        .par_chunks_mut(3)
        .zip(gain.par_chunks_mut(w))
        .zip(row_diffs.par_iter_mut())
        .enumerate()
        .for_each(|(i, ((o, g_row), diff))| {
            let (y0, y1, fy) = rows[i];
            // One work-size field's row `i`, sampled at every output column.
            let row_of = |p: &[f32], scale: f32, out: &mut [f32]| {
                let (r0, r1) = (&p[y0 * ww..][..ww], &p[y1 * ww..][..ww]);
                for (o, &(x0, x1, fx)) in out.iter_mut().zip(&cols) {
                    let a = r0[x0] + fx * (r0[x1] - r0[x0]);
                    let b = r1[x0] + fx * (r1[x1] - r1[x0]);
                    *o = (a + fy * (b - a)) * scale;
                }
            };
            let mut acc = vec![[0f32; 4]; w];
            let mut rest = vec![1f32; w];
            let mut energy = vec![0f32; w];
            let (mut share, mut dx, mut dy) = (vec![0f32; w], vec![0f32; w], vec![0f32; w]);
            for c in &carried {
                row_of(&c.chain.weight, c.share, &mut share);
                row_of(&c.chain.flow[..wn], fsx, &mut dx);
                row_of(&c.chain.flow[wn..], fsy, &mut dy);
                for j in 0..w {
                    let sh = share[j];
                    if sh == 0.0 {
                        continue;
                    }
                    let px =
                        Taps::new(size, j as f32 + dx[j], i as f32 + dy[j]).apply4(c.styled, w);
                    for (a, v) in acc[j].iter_mut().zip(px) {
                        *a += sh * v;
                    }
                    rest[j] -= sh;
                    energy[j] += sh * sh;
                }
            }
            let cur = &cur[i * w..][..w];
            for (ch, d) in diff.iter_mut().enumerate() {
                for ((o, a), (r, c)) in o[ch].iter_mut().zip(&acc).zip(rest.iter().zip(cur)) {
                    *o = a[ch] + r * c[ch];
                    *d += c[ch] as f64 - *o as f64;
                }
            }
            for ((g, e), r) in g_row.iter_mut().zip(&energy).zip(&rest) {
                *g = (e + r * r).max(1e-3).powf(-0.5 * TEXTURE_KEEP);
            }
        });
    let mut diff = [0f64; 3];
    for r in &row_diffs {
        for (d, v) in diff.iter_mut().zip(r) {
            *d += v;
        }
    }
    (out, gain, diff)
}

/// One frame's window, as [`Window::past_motion`] and [`Window::motion`] both take it (the same
/// for both calls of a frame): consecutive source frames ending at the frame, oldest first, as
/// many as the host gave up to `2 * period - 1` back; their full size; the frame's number `t`;
/// the anchor period.
#[derive(Clone, Copy)]
pub struct Span<'a> {
    pub frames: &'a [SourceFrame],
    pub size: Size,
    pub t: i64,
    pub period: usize,
}

/// Where a frame's chains start ([`Window::chain_starts`]).
struct Starts {
    a0: usize,
    a1: Option<usize>,
    w_old: f32,
}

/// What [`Window::motion`] found for one frame, for [`Window::render`].
pub struct Motion {
    /// The chain from the previous anchor (its index in the window, the chain) and, during a
    /// cross-fade, from the latest one.
    old: (usize, Arc<Chain>),
    new: Option<(usize, Arc<Chain>)>,
    /// The previous anchor's share of the cross-fade.
    w_old: f32,
    /// The steps and chains the walk used (kept; the rest of the caches is dropped).
    used: (Vec<(u64, u64)>, Vec<u64>),
    hashes: Vec<u64>,
}

impl Window {
    pub fn new() -> Self {
        Self::default()
    }

    /// The levels of a frame (cached by content).
    fn levels(&mut self, f: &SourceFrame, size: Size) -> Arc<Levels> {
        Arc::clone(
            self.levels
                .entry(f.hash)
                .or_insert_with(|| Arc::new(Levels::new(&f.input, size))),
        )
    }

    /// Whether a scene cut lies between two consecutive frames.
    fn is_cut(&mut self, a: &SourceFrame, b: &SourceFrame, size: Size) -> bool {
        if let Some(&c) = self.cuts.get(&(a.hash, b.hash)) {
            return c;
        }
        let (la, lb) = (self.levels(a, size), self.levels(b, size));
        let c = match (&la.cut, &lb.cut) {
            (Some(x), Some(y)) => cuts::score(x, y) >= cuts::DEFAULT_CUT_THRESHOLD,
            _ => false,
        };
        self.cuts.insert((a.hash, b.hash), c);
        c
    }

    /// How many frames back from the last of `frames` lie in the same shot (no cut between
    /// them); the first frame of the shot is `frames[len - 1 - n]`.
    pub fn shot_len(&mut self, frames: &[SourceFrame], size: Size) -> usize {
        let mut n = 0;
        for k in (1..frames.len()).rev() {
            if self.is_cut(&frames[k - 1], &frames[k], size) {
                break;
            }
            n += 1;
        }
        n
    }

    /// Where frame `t`'s chains start (indices in `frames`: the previous and the latest anchor,
    /// or the earliest frame of the shot) and the previous anchor's share of the cross-fade.
    fn chain_starts(&mut self, span: Span) -> Starts {
        let (last, t) = (span.frames.len() - 1, span.t);
        let shot = self.shot_len(span.frames, span.size);
        let first = (last - shot) as i64; // index of the earliest usable frame
        let (m0, m1, w_old) = anchors(t, span.period);
        let idx = |m: i64| -> usize { (m - (t - last as i64)).max(first) as usize };
        let (a0, a1) = (idx(m0), idx(m1));
        Starts {
            a0,
            // The second chain only where it has weight (not at an anchor frame itself).
            a1: (a1 != a0 && w_old < 1.0).then_some(a1),
            w_old,
        }
    }

    /// The chain from `span.frames[a]` to `span.frames[end]`: cached chains reused, missing
    /// flows computed (`cancel` asked before each), what it used recorded in `used`.
    fn chain(
        &mut self,
        (net, dev): (&IfNet, &Device),
        Span { frames, size, .. }: Span,
        (a, end): (usize, usize),
        cancel: &mut dyn FnMut() -> bool,
        used: &mut (Vec<(u64, u64)>, Vec<u64>),
    ) -> Result<Arc<Chain>, ModelError> {
        let work = work_size(size);
        let mut key = mix_hash(frames[a].hash, 0x5eed);
        let mut chain = Arc::new(Chain::anchor(work));
        for u in a + 1..=end {
            key = mix_hash(key, frames[u].hash);
            if let Some(c) = self.chains.get(&key) {
                chain = Arc::clone(c);
                used.1.push(key);
                continue;
            }
            let sk = (frames[u - 1].hash, frames[u].hash);
            let step = match self.steps.get(&sk) {
                Some(s) => Arc::clone(s),
                None => {
                    if cancel() {
                        return Err(ModelError::BadInput("cancelled".into()));
                    }
                    let (lp, lc) = (
                        self.levels(&frames[u - 1], size),
                        self.levels(&frames[u], size),
                    );
                    let s = Arc::new(Step::new(net, dev, &lp, &lc, size)?);
                    self.steps.insert(sk, Arc::clone(&s));
                    s
                }
            };
            used.0.push(sk);
            chain = Arc::new(chain.step(&step, work));
            self.chains.insert(key, Arc::clone(&chain));
            used.1.push(key);
        }
        Ok(chain)
    }

    /// The part of [`Window::motion`] for frame `t` that ends before the last frame: the chains
    /// up to the previous frame, with the flows they need, cached for [`Window::motion`]. After
    /// a seek that is all the flows but one; in a sequential render the previous frame left them
    /// cached. Lets a caller ask `cancel` between flows, then run the rest beside other work.
    pub fn past_motion(
        &mut self,
        nets: (&IfNet, &Device),
        span: Span,
        cancel: &mut dyn FnMut() -> bool,
    ) -> Result<(), ModelError> {
        let st = self.chain_starts(span);
        let end = span.frames.len() - 1;
        let mut used = (Vec::new(), Vec::new());
        for a in std::iter::once(st.a0).chain(st.a1) {
            if a + 1 < end {
                self.chain(nets, span, (a, end - 1), cancel, &mut used)?;
            }
        }
        Ok(())
    }

    /// The motion of frame `span.t`, the last of `span.frames` ([`Span`]): scene cuts, flows
    /// and the chains from it back to its anchors. It needs only the source
    /// frames, so a caller can run it while the current frame is being stylised. `cancel` is
    /// asked before each flow estimate; when it returns true the call stops with an error.
    /// Then [`Window::render`].
    pub fn motion(
        &mut self,
        nets: (&IfNet, &Device),
        span: Span,
        cancel: &mut dyn FnMut() -> bool,
    ) -> Result<Motion, ModelError> {
        let st = self.chain_starts(span);
        let end = span.frames.len() - 1;
        let mut used = (Vec::new(), Vec::new());
        let old = self.chain(nets, span, (st.a0, end), cancel, &mut used)?;
        let new = match st.a1 {
            Some(a1) => Some((a1, self.chain(nets, span, (a1, end), cancel, &mut used)?)),
            None => None,
        };
        Ok(Motion {
            old: (st.a0, old),
            new,
            w_old: st.w_old,
            used,
            hashes: span.frames.iter().map(|f| f.hash).collect(),
        })
    }

    /// The stabilised frame: the anchors' stylisations carried along the chains of `m`
    /// ([`Window::motion`] on the same frames), mixed with the current frame's. `styled`: the
    /// per-frame stylisation of each frame [`Window::motion`] got, in its order (only the
    /// anchors' and the last are read). `amount` (0..1, the node's `temporal`) scales the
    /// anchors' weights: in between, the current frame's own stylisation shows through, mixed as
    /// the anchors are (texture restored, mean colour matched).
    pub fn render(&mut self, m: Motion, styled: &[&[Rgbx]], size: Size, amount: f32) -> Vec<f32> {
        let amount = amount.clamp(0.0, 1.0);
        let work = work_size(size);
        let last = styled.len() - 1;
        let n = size.0 * size.1;
        let cur = styled[last];
        let w0 = if m.new.is_some() { m.w_old } else { 1.0 };
        let (mut out, gain, diff) = compose(
            size,
            work,
            cur,
            Carried {
                styled: styled[m.old.0],
                chain: &m.old.1,
                share: amount * w0,
            },
            m.new.as_ref().map(|(a1, c)| Carried {
                styled: styled[*a1],
                chain: c,
                share: amount * (1.0 - w0),
            }),
        );
        for (c, diff) in diff.iter().enumerate() {
            // The per-frame stylisation's mean colour (per channel): the carried anchors keep
            // their own, which drifts as the light changes over the window.
            let d = if MATCH_MEAN {
                (diff / n as f64) as f32
            } else {
                0.0
            };
            let plane = &mut out[c * n..][..n];
            if TEXTURE_KEEP > 0.0 {
                // Mixing stylisations that do not line up (the two anchors, an anchor and the
                // current frame) averages their brush strokes away: a mix `a A + b B + g C` of
                // independent textures keeps `a² + b² + g²` of their contrast. Scale the detail
                // (the mix minus its blur) back up by `(a² + b² + g²)^(-TEXTURE_KEEP / 2)`.
                let low = blur(plane, size, TEXTURE_SIGMA);
                plane
                    .par_chunks_mut(size.1)
                    .zip(low.par_chunks(size.1))
                    .zip(gain.par_chunks(size.1))
                    .for_each(|((o, l), k)| {
                        for ((o, l), f) in o.iter_mut().zip(l).zip(k) {
                            *o = l + (*o - l) * f + d;
                        }
                    });
            } else {
                plane.par_iter_mut().for_each(|v| *v += d);
            }
        }
        // Keep only what this window used (the next frame's window reuses it).
        let (steps, chains) = &m.used;
        self.steps.retain(|k, _| steps.contains(k));
        self.chains.retain(|k, _| chains.contains(k));
        self.cuts
            .retain(|(a, b), _| m.hashes.contains(a) && m.hashes.contains(b));
        self.levels.retain(|h, _| m.hashes.contains(h));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern((h, w): Size, dx: f32, dy: f32) -> Vec<f32> {
        let mut v = vec![0f32; 3 * h * w];
        for c in 0..3 {
            for i in 0..h {
                for j in 0..w {
                    let (x, y) = (j as f32 - dx, i as f32 - dy);
                    v[(c * h + i) * w + j] =
                        0.5 + 0.3 * ((x * 0.21 + c as f32).sin() * (y * 0.17 - c as f32).cos());
                }
            }
        }
        v
    }

    #[test]
    fn warp_by_zero_is_identity_and_integer_shifts_move() {
        let s = (9, 11);
        let a = pattern(s, 0.0, 0.0);
        let zero = vec![0f32; 2 * 99];
        assert_eq!(warp(&a, 3, s, &zero, false), a);
        let id = warp(&a, 3, s, &zero, true);
        assert!(id.iter().zip(&a).all(|(x, y)| (x - y).abs() < 1e-6));
        // Sampling at x + 2 of the pattern shifted right by 2 gives the pattern.
        let b = pattern(s, 2.0, 0.0);
        let mut f = vec![0f32; 2 * 99];
        f[..99].iter_mut().for_each(|v| *v = 2.0);
        let back = warp(&b, 3, s, &f, true);
        for i in 0..9 {
            for j in 0..9 {
                assert!((back[i * 11 + j] - a[i * 11 + j]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn lucas_kanade_finds_a_subpixel_shift() {
        let s = (40, 48);
        let prev = pattern(s, 0.0, 0.0);
        let cur = pattern(s, 0.6, -0.4);
        let mut f = vec![0f32; 2 * 40 * 48];
        refine_flow(&cur, &prev, s, &mut f, 3);
        // cur(p) = prev(p - d): the backward flow is -d.
        let n = 40 * 48;
        let (mx, my): (f32, f32) = (
            f[..n].iter().sum::<f32>() / n as f32,
            f[n..].iter().sum::<f32>() / n as f32,
        );
        assert!(
            (mx + 0.6).abs() < 0.1 && (my - 0.4).abs() < 0.1,
            "{mx} {my}"
        );
    }

    /// A uniform flow stays as it is; stray motion on a flat part of the frame is replaced by
    /// the motion of the textured part next to it, while the textured part keeps its own.
    #[test]
    fn smooth_flow_fills_flat_regions_from_textured_ones() {
        let (h, w) = (24, 60);
        let n = h * w;
        // Columns ..30 a random texture (a hash per pixel), 30.. flat grey.
        let mut frame = vec![0.5f32; 3 * n];
        for c in 0..3 {
            for i in 0..h {
                for j in 0..30 {
                    let k = ((c * h + i) * w + j) as u64;
                    let r = (mix_hash(k, 7) >> 40) as f32 / (1u64 << 24) as f32;
                    frame[c * n + i * w + j] = 0.2 + 0.6 * r;
                }
            }
        }
        let mut uniform: Vec<f32> = [0.7f32, -0.3].iter().flat_map(|&v| vec![v; n]).collect();
        smooth_flow(&frame, (h, w), &mut uniform, 3.0);
        assert!(uniform[..n].iter().all(|v| (v - 0.7).abs() < 1e-4));
        assert!(uniform[n..].iter().all(|v| (v + 0.3).abs() < 1e-4));
        // The textured part and its edge move by 1 px; the flat part's stray motion is 2 px.
        let mut flow = vec![0f32; 2 * n];
        for i in 0..h {
            for j in 0..w {
                flow[i * w + j] = if j < 33 { 1.0 } else { 2.0 };
            }
        }
        smooth_flow(&frame, (h, w), &mut flow, 3.0);
        let at = |j: usize| flow[12 * w + j];
        assert!((at(10) - 1.0).abs() < 0.01, "textured: {}", at(10));
        // Next to the textured part the flat part takes its motion.
        assert!((at(36) - 1.0).abs() < 0.05, "flat near texture: {}", at(36));
    }

    /// The fused render samples half-size chains at full size as upsizing them and warping
    /// would: flow bilinearly upsized (vectors scaled), anchor sampled bicubic, mixed by the
    /// upsized weight with the current frame.
    #[test]
    fn compose_equals_upsize_then_warp() {
        let (size, work) = ((37, 50), (19, 25));
        let (n, wn) = (37 * 50, 19 * 25);
        let styled = pattern(size, 0.0, 0.0);
        let cur = pattern(size, 3.0, 1.0);
        let (styled4, cur4) = (interleave(&styled, n), interleave(&cur, n));
        let flow: Vec<f32> = (0..2 * wn)
            .map(|k| 1.5 * ((k as f32 * 0.37).sin() + 0.3))
            .collect();
        let weight: Vec<f32> = (0..wn)
            .map(|k| 0.5 + 0.5 * (k as f32 * 0.11).cos())
            .collect();
        let chain = Chain { flow, weight };
        let carried = Carried {
            styled: &styled4,
            chain: &chain,
            share: 0.8,
        };
        let (out, gain, _) = compose(size, work, &cur4, carried, None);
        let up = upsize_flow(&chain.flow, work, size);
        let warped = warp(&styled, 3, size, &up, true);
        let (sy, sx) = (work.0 as f32 / size.0 as f32, work.1 as f32 / size.1 as f32);
        for i in 0..size.0 {
            for j in 0..size.1 {
                let k = i * size.1 + j;
                let (x, y) = ((j as f32 + 0.5) * sx - 0.5, (i as f32 + 0.5) * sy - 0.5);
                let a = 0.8 * bilinear(&chain.weight, work, x, y);
                for c in 0..3 {
                    let want = a * warped[c * n + k] + (1.0 - a) * cur[c * n + k];
                    assert!((out[c * n + k] - want).abs() < 1e-5, "{i} {j} {c}");
                }
                let e = a * a + (1.0 - a) * (1.0 - a);
                assert!((gain[k] - e.powf(-0.5 * TEXTURE_KEEP)).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn anchors_are_absolute() {
        assert_eq!(anchors(12, 6), (6, 12, 1.0));
        assert_eq!(anchors(17, 6), (6, 12, 1.0 - 5.0 / 6.0));
        assert_eq!(anchors(-1, 6), (-12, -6, 1.0 - 5.0 / 6.0));
    }

    #[test]
    fn chain_composes_shifts() {
        let s = (20, 24);
        let n = 20 * 24;
        let mut f = vec![0f32; 2 * n];
        f[..n].iter_mut().for_each(|v| *v = -1.0);
        let st = Step {
            flow: f,
            conf: vec![1.0; n],
        };
        let c = Chain::anchor(s).step(&st, s).step(&st, s);
        assert!(c.flow[..n].iter().all(|v| (*v + 2.0).abs() < 1e-6));
        assert!(c.flow[n..].iter().all(|v| v.abs() < 1e-6));
        assert!(c.weight.iter().all(|v| *v == 1.0));
    }

    /// A pattern moving 1.5 px right per frame, "stylised" with a texture that changes every
    /// frame (a flickering style network): the stabilised frames follow the motion, the
    /// per-frame ones do not. 128 px high: the flow is refined at half size.
    #[test]
    fn stabilising_removes_flicker_on_a_moving_pattern() {
        let net = IfNet::load(
            &crate::style::bundled_weights("rife42.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        let size = (128, 144);
        let n = 128 * 144;
        let mut seed = 12345u64;
        let mut noise = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.2
        };
        let frames: Vec<(SourceFrame, Vec<Rgbx>)> = (0..10)
            .map(|t| {
                let input = pattern(size, 1.5 * t as f32, 0.0);
                let styled: Vec<f32> = input.iter().map(|v| v + noise()).collect();
                let src = SourceFrame {
                    hash: t as u64 + 1,
                    input: Arc::new(input),
                };
                (src, interleave(&styled, n))
            })
            .collect();
        // As the node does: the past flows, then the motion, then the render.
        let stabilise = |win: &mut Window, frames: &[(SourceFrame, Vec<Rgbx>)], t: usize| {
            let nets = (&net, &Device::Cpu);
            let src: Vec<SourceFrame> = frames.iter().map(|f| f.0.clone()).collect();
            let span = Span {
                frames: &src,
                size,
                t: t as i64,
                period: DEFAULT_PERIOD,
            };
            win.past_motion(nets, span, &mut || false).unwrap();
            let m = win.motion(nets, span, &mut || false).unwrap();
            let styled: Vec<&[Rgbx]> = frames.iter().map(|f| &f.1[..]).collect();
            win.render(m, &styled, size, 1.0)
        };
        let mut win = Window::new();
        let mut outs = Vec::new();
        for t in 0..frames.len() {
            let lo = t.saturating_sub(2 * DEFAULT_PERIOD - 1);
            outs.push(stabilise(&mut win, &frames[lo..=t], t));
        }
        // Flicker: frame t against frame t-1 moved by the known motion, away from the edges.
        let flicker = |seq: &dyn Fn(usize) -> Vec<f32>| {
            let mut f = vec![0f32; 2 * n];
            f[..n].iter_mut().for_each(|v| *v = -1.5);
            let mut e = 0f64;
            for t in 1..frames.len() {
                let prev = warp(&seq(t - 1), 3, size, &f, false);
                let cur = seq(t);
                for c in 0..3 {
                    for i in 4..60 {
                        for j in 8..88 {
                            let k = c * n + i * 144 + j;
                            e += ((cur[k] - prev[k]) as f64).powi(2);
                        }
                    }
                }
            }
            e
        };
        let per = flicker(&|t| {
            (0..3)
                .flat_map(|c| frames[t].1.iter().map(move |v| v[c]))
                .collect()
        });
        let stab = flicker(&|t| outs[t].clone());
        println!("flicker: per-frame {per:.2}, stabilised {stab:.2}");
        assert!(stab < 0.2 * per, "stabilised {stab} vs per-frame {per}");
        // The caches do not change the result: a fresh window gives the same last frame.
        let last = frames.len() - 1;
        let lo = last.saturating_sub(2 * DEFAULT_PERIOD - 1);
        let again = stabilise(&mut Window::new(), &frames[lo..], last);
        assert_eq!(again, outs[last]);
    }
}
