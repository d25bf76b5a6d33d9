//! Temporally stable video stylisation (issue #15): a motion-compensated mean of the
//! stylisations of a fixed window of frames, its texture restored, for any per-frame
//! stylisation.
//!
//! A per-frame style network answers small changes of its input (noise, compression, a pixel of
//! motion) with different brush strokes, so its output flickers. Here each output frame is
//! instead the mean of the stylisations of the last [`WINDOW`] frames, each carried along the
//! motion of the input frames to the current one:
//!
//! 1. **Flow** ([`estimate_flow`]): Wick's RIFE IFNet on the two input frames at quarter size
//!    (each side resized to a nearby multiple of 64, or stretched to one of [`NET_ALIGN`]), at
//!    the midpoint (its endpoint flows, t = 0 or 1, are unusable: measured 18 dB where the
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
//! 3. **Chains** ([`Chain`]): walking back from the current frame, the flows of consecutive
//!    frames are composed into one flow to each earlier frame of the window and the confidences
//!    multiplied, so each earlier stylisation is sampled *once* (bilinear, at full size, the
//!    chain's flow and weight sampled bilinearly from the work size) however far back it is.
//! 4. **Window mean** ([`carried_sum`], [`Window::render`]): per pixel, the current frame's
//!    stylisation (weight 1) and every earlier one carried to it (weight: its chain's), divided
//!    by the weights' sum. Where no earlier frame is trusted the current frame's own
//!    stylisation shows. Moving to the next frame changes one twelfth of the mix, so brush
//!    strokes that differ from frame to frame average out instead of flickering.
//! 5. **Look** ([`restore_texture`]): averaging strokes that do not line up also averages the
//!    texture away. The mean is split into colour (its blur, σ = [`DETAIL_SIGMA`]) and detail;
//!    the detail gets a local gain so that the local gradient energy (σ = [`ENERGY_SIGMA`])
//!    matches the current frame's stylisation, then one gain for the frame so that its gradient
//!    energy is [`TEXTURE_TARGET`] of the per-frame stylisation's; the colour takes the per-frame
//!    stylisation's mean (the carried frames keep their own, which drifts as the light changes).
//! 6. **Farm-safe window** ([`Window`]): the output of a frame depends only on its input frames
//!    `t - (WINDOW - 1) ..= t` (and not on the frame number): a node declares `WINDOW - 1`
//!    past-frame inputs, and renders of `1-12` then `13-24` equal a render of `1-24`. The window
//!    starts later where it is cut short: at the first frame after a scene cut
//!    ([`crate::rife::cuts`]) or at the earliest frame the host could give (clip start, a seek).
//!
//! Everything here is plain `f32` planar CPU code (3 × h × w frames, values 0..1; flows
//! 2 × h × w in pixels, channel 0 = x), but for the kept stylisations (interleaved half floats,
//! [`Rgbx`]); only the flow network runs on the caller's device. Results are deterministic (no
//! reductions across threads), so a frame computed twice, or from a cache, is the same to the
//! bit.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use half::f16;
use rayon::prelude::*;

use crate::ops::buffers::{give, take};
use crate::rife::{cuts, IfNet};
use crate::ModelError;

/// Colour distance (RGB, 0..1, Euclidean, blurred) up to which the motion is fully trusted;
/// the weight reaches 0 at twice this.
pub const TAU: f32 = 0.05;
/// Frames in a window, the current one included: frame `t` is built from the stylisations of
/// frames `t - (WINDOW - 1) ..= t` (a node declares `WINDOW - 1` past-frame inputs).
pub const WINDOW: usize = 12;
/// The stabilised frame's gradient energy as a share of the per-frame stylisation's, at
/// `temporal = 1` ([`Window::render`]): the texture the window mean averaged away is put back up
/// to this level. 0.85 keeps the gradient-energy goal (0.8–1.25) with a margin; more costs E_warp.
pub const TEXTURE_TARGET: f32 = 0.85;
/// σ (full-size pixels) of the blur that splits the window mean into colour and detail.
pub const DETAIL_SIGMA: f32 = 1.0;
/// σ (full-size pixels) of the local gradient energies that shape the detail's gain.
pub const ENERGY_SIGMA: f32 = 8.0;
/// The largest gain on the window mean's detail (locally and overall).
pub const DETAIL_GAIN_MAX: f32 = 5.0;

/// A planar frame size.
pub type Size = (usize, usize);

/// One pixel of an interleaved RGB frame in half floats (the fourth value unused, 0): the
/// stylisations the stabiliser keeps and samples, so one bilinear tap reads every channel (8
/// bytes: half the memory traffic of f32, which bounds the sampling; a half float keeps 11
/// significant bits, an error under 0.07/255 on 0..1 values, and each earlier frame weighs at
/// most 1/2 in the mean).
pub type Rgbx = [f16; 4];

/// Planar RGB (3 × n) to interleaved half-float pixels.
pub fn interleave(planar: &[f32], n: usize) -> Vec<Rgbx> {
    let (r, g, b) = (&planar[..n], &planar[n..2 * n], &planar[2 * n..3 * n]);
    let mut out = vec![[f16::ZERO; 4]; n];
    out.par_chunks_mut(4096)
        .zip(
            r.par_chunks(4096)
                .zip(g.par_chunks(4096))
                .zip(b.par_chunks(4096)),
        )
        .for_each(|(o, ((r, g), b))| {
            for (o, ((r, g), b)) in o.iter_mut().zip(r.iter().zip(g).zip(b)) {
                *o = [
                    f16::from_f32(*r),
                    f16::from_f32(*g),
                    f16::from_f32(*b),
                    f16::ZERO,
                ];
            }
        });
    out
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

/// The luma (BT.601 weights) of a planar RGB frame of `n` pixels (at least 3 planes).
pub fn luma(planar: &[f32], n: usize) -> Vec<f32> {
    (0..n)
        .into_par_iter()
        .map(|k| 0.299 * planar[k] + 0.587 * planar[n + k] + 0.114 * planar[2 * n + k])
        .collect()
}

/// A buffer of `len` values all 0 from the process-wide pool ([`crate::ops::buffers`]): the
/// render's full-size maps are the same sizes every frame, and fresh allocations cost page
/// faults (the kernel maps and clears every page on first touch, frees it again on drop).
fn zeroed(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.fill(0.0);
    v
}

/// Separable Gaussian blur of one plane, edges repeated.
pub fn blur(src: &[f32], size: Size, sigma: f32) -> Vec<f32> {
    let mut out = vec![0f32; size.0 * size.1];
    blur_into(src, size, sigma, &mut out);
    out
}

/// [`blur`] into `out` (h × w, zeros).
fn blur_into(src: &[f32], (h, w): Size, sigma: f32, out: &mut [f32]) {
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
    out.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        for (t, kv) in k.iter().enumerate() {
            let ii = (i + t).saturating_sub(r).min(h - 1);
            for (o, v) in row.iter_mut().zip(&tmp[ii * w..][..w]) {
                *o += kv * v;
            }
        }
    });
}

/// The sum of a row, eight lanes summed in a fixed order (vectorises; the same whatever the
/// threads).
fn lane_sum(r: &[f32]) -> f64 {
    let mut lanes = [0f32; 8];
    let c = r.chunks_exact(8);
    let rest = c.remainder();
    for x in c {
        for k in 0..8 {
            lanes[k] += x[k];
        }
    }
    for (k, v) in rest.iter().enumerate() {
        lanes[k] += v;
    }
    lanes.iter().map(|&v| v as f64).sum()
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

/// Backward warp of a planar image (`c` planes) by `flow` (2 planes): output pixel `(i, j)`
/// samples the image bilinearly at `(j + flow_x, i + flow_y)`, edges repeated (the op layer's
/// warp kernel: taps shared by channels, AVX2 rows).
pub fn warp(img: &[f32], c: usize, (h, w): Size, flow: &[f32]) -> Vec<f32> {
    let hw = h * w;
    let mut out = vec![0f32; c * hw];
    crate::ops::warp::warp_planes(img, (c, h, w), &flow[..hw], &flow[hw..2 * hw], &mut out);
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
        q = warp(f1, 2, size, &q);
        q.iter_mut().for_each(|v| *v = -*v);
    }
    let a = warp(f0, 2, size, &q);
    let b = warp(f1, 2, size, &q);
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
        let xw = warp(prev, 3, size, flow);
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
    let luma = luma(frame, n);
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

/// The flow network's input: each side resized (bilinear) to the nearest multiple of 64 where
/// that changes it by at most 1.25× (where each of the network's five blocks resizes exactly),
/// else stretched to the next multiple of this — never padded, so no pixel of the network's work
/// is wasted. At 32 the coarsest block (1/16 scale) rounds its grid up on a side of an odd
/// multiple of 32 (6 cells computed as 8 on 96 px), which the four finer blocks correct.
/// bigbuckbunny's quarter-size 90 × 160 becomes 96 × 192 (it was padded to 128 × 192: 25 % fewer
/// network pixels); 640 × 272 (bikes) gives 64 × 192 and 640 × 480 128 × 192, as before.
pub const NET_ALIGN: usize = 32;

/// The backward flow from `cur` to `prev` at their [`work_size`] (2 planes, in work-size pixels):
/// `prev` warped by it lines up with `cur`. See the module doc (step 1).
pub fn estimate_flow(
    net: &IfNet,
    dev: &Device,
    prev: &Levels,
    cur: &Levels,
) -> Result<Vec<f32>, ModelError> {
    let ((prev_net, s0), (cur_net, _)) = (prev.net(), cur.net());
    // Each side resized to the nearest multiple of 64 where that changes it by at most 1.25×,
    // else stretched to the next multiple of NET_ALIGN (module doc, step 1).
    let side = |v: usize| {
        let m = (((v as f64) / 64.0).round() as usize).max(1) * 64;
        if (0.8..=1.25).contains(&(m as f64 / v as f64)) {
            m
        } else {
            v.next_multiple_of(NET_ALIGN)
        }
    };
    let s2 = (side(s0.0), side(s0.1));
    let input = |x: &[f32]| -> Result<Tensor, ModelError> {
        let t = planar_tensor(x, s0, dev)?;
        if s2 == s0 {
            return Ok(t);
        }
        // The op layer's bilinear resize (PyTorch semantics, pixel centres aligned).
        Ok(crate::ops::upsample_bilinear2d(&t, s2.0, s2.1, false)?)
    };
    let e = net.estimate_aligned(&input(prev_net)?, &input(cur_net)?, 0.5, 1.0)?;
    let e = e.flow;
    let fl: Vec<f32> = e.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
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
    let xw = warp(prev, 3, size, flow);
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
/// (current → previous, in work-size pixels, 2 planes) and the confidence in it (1 plane), kept
/// as one 3-plane buffer (a chain step warps all three at once).
pub struct Step {
    planes: Vec<f32>,
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
        Ok(Self::from_parts(flow, &conf))
    }

    /// A step from its flow (2 planes) and confidence (1 plane).
    pub fn from_parts(mut flow: Vec<f32>, conf: &[f32]) -> Self {
        flow.extend_from_slice(conf);
        Self { planes: flow }
    }
}

/// A flow composed from a frame back to an earlier frame of its window, and the weight of that
/// frame there (the product of the confidences along the way).
#[derive(Clone)]
pub struct Chain {
    pub flow: Vec<f32>,
    pub weight: Vec<f32>,
}

impl Chain {
    /// The chain from a frame to itself: no motion, full weight.
    pub fn identity(size: Size) -> Self {
        let n = size.0 * size.1;
        Self {
            flow: vec![0.0; 2 * n],
            weight: vec![1.0; n],
        }
    }

    /// One frame further back: `self` leads from the current frame to frame `u`, `s` is the step
    /// from `u` to `u - 1`; the result leads to `u - 1`: `F'(p) = F(p) + f(p + F(p))`,
    /// `w'(p) = w(p) · c(p + F(p))`.
    pub fn back(&self, s: &Step, size: Size) -> Self {
        let n = size.0 * size.1;
        // The step's flow and confidence sampled where the chain points (one warp, 3 planes).
        let mut flow = warp(&s.planes, 3, size, &self.flow);
        let weight = flow[2 * n..]
            .iter()
            .zip(&self.weight)
            .map(|(c, w)| w * c)
            .collect();
        flow.truncate(2 * n);
        flow.iter_mut().zip(&self.flow).for_each(|(a, f)| *a += f);
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

/// The stabiliser of one node instance: caches of frame levels and steps (flows) keyed by frame
/// content, so a sequential render computes one flow per frame. The caches only hold what the
/// last window used; results never depend on them.
#[derive(Default)]
pub struct Window {
    levels: HashMap<u64, Arc<Levels>>,
    steps: HashMap<(u64, u64), Arc<Step>>,
    cuts: HashMap<(u64, u64), bool>,
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

/// Row `row` (`(y0, y1, a)` from [`bilinear_axis`]) of a work-size field `p` (`ww` wide) sampled
/// bilinearly at every full-size column (`cols`), times `scale`, into `out`: down the column
/// first into `vert` (a work-size row, vectorised), then along the row — for exactly twice the
/// work size (the usual case) full-size columns 2m + 1 and 2m + 2 lie a quarter of a work pixel
/// either side of work columns m and m + 1 (edges repeated).
fn upsample_row(
    p: &[f32],
    ww: usize,
    (y0, y1, a): (usize, usize, f32),
    cols: &[(usize, usize, f32)],
    scale: f32,
    vert: &mut Vec<f32>,
    out: &mut [f32],
) {
    let (r0, r1) = (&p[y0 * ww..][..ww], &p[y1 * ww..][..ww]);
    vert.clear();
    vert.extend(r0.iter().zip(r1).map(|(u, w)| (u + a * (w - u)) * scale));
    let w = cols.len();
    if w == 2 * ww && ww >= 2 {
        out[0] = vert[0];
        out[w - 1] = vert[ww - 1];
        // Pairs of outputs from neighbouring inputs (interleaved stores: vectorises).
        let pairs = out[1..w - 1].chunks_exact_mut(2);
        for ((o, a), b) in pairs.zip(&vert[..ww - 1]).zip(&vert[1..]) {
            o[0] = 0.75 * a + 0.25 * b;
            o[1] = 0.25 * a + 0.75 * b;
        }
        return;
    }
    for (o, &(x0, x1, b)) in out.iter_mut().zip(cols) {
        *o = vert[x0] + b * (vert[x1] - vert[x0]);
    }
}

/// Row `row` of a work-size chain sampled bilinearly at every full-size column ([`upsample_row`]):
/// its flow (scaled to full-size pixels) into `dx`, `dy` and its weight × `amount` into `wt`.
fn chain_row(
    chain: &Chain,
    (wh, ww): Size,
    row: (usize, usize, f32),
    cols: &[(usize, usize, f32)],
    (fsx, fsy, amount): (f32, f32, f32),
    vert: &mut Vec<f32>,
    [dx, dy, wt]: [&mut [f32]; 3],
) {
    let wn = wh * ww;
    upsample_row(&chain.flow[..wn], ww, row, cols, fsx, vert, dx);
    upsample_row(&chain.flow[wn..], ww, row, cols, fsy, vert, dy);
    upsample_row(&chain.weight, ww, row, cols, amount, vert, wt);
}

/// One row's bilinear taps into an earlier frame's stylisation ([`carried_sum`]): per pixel,
/// the index of the top-left tap, the offsets of the lower and right ones (0 on the last row /
/// column: edges repeated, the fraction is then 0) and the fractions.
struct Taps {
    k00: Vec<u32>,
    k10: Vec<u32>,
    k01: Vec<u32>,
    ax: Vec<f32>,
    ay: Vec<f32>,
}

impl Taps {
    fn new(w: usize) -> Self {
        Self {
            k00: vec![0; w],
            k10: vec![0; w],
            k01: vec![0; w],
            ax: vec![0.0; w],
            ay: vec![0.0; w],
        }
    }

    /// The taps of row `i` of an `h × w` frame displaced by `dx`, `dy` (full-size pixels),
    /// positions clamped to the frame (every pixel at once: vectorises).
    fn fill(&mut self, i: usize, dx: &[f32], dy: &[f32], (h, w): Size) {
        let (xmax, ymax) = ((w - 1) as f32, (h - 1) as f32);
        let (wi, last_row, last_col) = (w as i32, h as i32 - 1, w as i32 - 1);
        // Slices of the row's length up front: no bounds checks in the loop (it vectorises).
        let (dx, dy) = (&dx[..w], &dy[..w]);
        let (k00, k10, k01) = (&mut self.k00[..w], &mut self.k10[..w], &mut self.k01[..w]);
        let (ax, ay) = (&mut self.ax[..w], &mut self.ay[..w]);
        for j in 0..w {
            // max/min (not clamp) send NaN to 0: finite and in range below.
            let x = (j as f32 + dx[j]).max(0.0).min(xmax);
            let y = (i as f32 + dy[j]).max(0.0).min(ymax);
            // SAFETY: x and y are finite, 0 ≤ x ≤ w - 1 and 0 ≤ y ≤ h - 1, which i32 holds
            // (frames are far smaller than 2³¹ pixels); truncation is the floor as they are
            // non-negative. (The checked `as` kept this loop from vectorising: 3× slower.)
            let (x0, y0) = unsafe { (x.to_int_unchecked::<i32>(), y.to_int_unchecked::<i32>()) };
            ax[j] = x - x0 as f32;
            ay[j] = y - y0 as f32;
            k00[j] = (y0 * wi + x0) as u32;
            k10[j] = ((y0 < last_row) as i32 * wi) as u32;
            k01[j] = (x0 < last_col) as u32;
        }
    }
}

/// `acc += sh · bilinear(a, b, c, d; fx, fy)`, per channel (top, bottom, then between them;
/// multiplications and additions apart, no fused multiply-add: the vector path gives the same
/// bits).
#[inline(always)]
fn lerp_add(acc: &mut [f32; 4], [a, b, c, d]: [&Rgbx; 4], fx: f32, fy: f32, sh: f32) {
    for k in 0..4 {
        let (a, b, c, d) = (a[k].to_f32(), b[k].to_f32(), c[k].to_f32(), d[k].to_f32());
        let top = a + fx * (b - a);
        let bot = c + fx * (d - c);
        acc[k] += sh * (top + fy * (bot - top));
    }
}

/// Adds `share × styled(taps)` to `acc` and `share` to `total` where `share > 0`, one row.
fn carry_row(acc: &mut [[f32; 4]], total: &mut [f32], styled: &[Rgbx], t: &Taps, share: &[f32]) {
    let w = acc.len();
    let n = styled.len();
    // Every tap is in `styled` (checked once for the row: the vector path reads unchecked).
    let last = (0..w)
        .map(|j| t.k00[j] as usize + t.k10[j] as usize + t.k01[j] as usize)
        .max()
        .unwrap_or(0);
    assert!(last < n && total.len() >= w && share.len() >= w && t.ax.len() >= w && t.ay.len() >= w);
    let mut j = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F checked; the taps are in `styled` and the per-pixel slices hold
            // `w` values (asserted above).
            j = unsafe { carry_row_avx512(acc, total, styled, t, share) };
        }
        if is_x86_feature_detected!("avx") && is_x86_feature_detected!("f16c") {
            // SAFETY: AVX and F16C checked; as above.
            j = unsafe { carry_row_avx(acc, total, styled, t, share, j) };
        }
    }
    for j in j..w {
        let sh = share[j];
        if sh > 0.0 {
            let (k, down) = (t.k00[j] as usize, t.k10[j] as usize);
            let r = k + t.k01[j] as usize;
            let (d, e) = (k + down, r + down);
            lerp_add(
                &mut acc[j],
                [&styled[k], &styled[r], &styled[d], &styled[e]],
                t.ax[j],
                t.ay[j],
                sh,
            );
            total[j] += sh;
        }
    }
}

/// How far ahead (pixels) the carrying asks for the rows it will sample ([`prefetch_taps`]).
/// The earlier frames' stylisations (11 × 1.8 MB at 640×360) are read from memory, not cache
/// (the stylisation before it streams far more than the cache holds), and the gathers alone
/// did not start the loads early enough: 64 pixels ahead took the carrying from 21 to 15.6 ms
/// a 640×360 frame on one thread (16, 32, 48, 96, 128: 17.0, 16.3, 15.8, 15.9, 16.4).
#[cfg(target_arch = "x86_64")]
const CARRY_PREFETCH: usize = 64;

/// Prefetches the cache lines of pixel `q`'s top-left tap and of the tap below it.
///
/// # Safety
/// `q` < the taps' length and its taps are in the frame `sp` points to.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn prefetch_taps(sp: *const i64, t: &Taps, q: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    let k = *t.k00.get_unchecked(q) as usize;
    _mm_prefetch::<_MM_HINT_T0>(sp.add(k) as *const i8);
    _mm_prefetch::<_MM_HINT_T0>(sp.add(k + *t.k10.get_unchecked(q) as usize) as *const i8);
}

/// [`carry_row`]'s pixels eight at a time (AVX-512: the four taps of eight pixels gathered, 8
/// bytes each, widened to four registers of four pixels' channels; the fractions and weights
/// spread to their pixel's four lanes), the same operations in the same order as [`lerp_add`]:
/// the same bits. Returns how many pixels it did (the rest: [`carry_row_avx`], then the scalar
/// loop).
///
/// # Safety
/// AVX-512F available; every tap index `k00 + k10 + k01` < `styled.len()` (< 2³¹); `t`'s
/// vectors, `total` and `share` hold at least `acc.len()` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn carry_row_avx512(
    acc: &mut [[f32; 4]],
    total: &mut [f32],
    styled: &[Rgbx],
    t: &Taps,
    share: &[f32],
) -> usize {
    use std::arch::x86_64::*;
    let w = acc.len();
    let sp = styled.as_ptr() as *const i64;
    let ap = acc.as_mut_ptr() as *mut f32;
    // Lane l of a four-pixel register holds channel l % 4 of pixel l / 4 (+ 4 for the second).
    let spread = [
        _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
        _mm512_set_epi32(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4),
    ];
    let (zero8, zero16) = (_mm256_setzero_ps(), _mm512_setzero_ps());
    let mut j = 0;
    while j + 8 <= w {
        prefetch_taps(sp, t, (j + CARRY_PREFETCH).min(w - 1));
        let sh = _mm256_loadu_ps(share.as_ptr().add(j));
        let keep8 = _mm256_cmp_ps::<_CMP_GT_OQ>(sh, zero8);
        if _mm256_movemask_ps(keep8) != 0 {
            let ld = |v: &[u32]| _mm256_loadu_si256(v.as_ptr().add(j) as *const __m256i);
            let (k, down, right) = (ld(&t.k00), ld(&t.k10), ld(&t.k01));
            let r = _mm256_add_epi32(k, right);
            let (d, e) = (_mm256_add_epi32(k, down), _mm256_add_epi32(r, down));
            let g = |idx: __m256i| _mm512_i32gather_epi64::<8>(idx, sp);
            let (ga, gb, gc, gd) = (g(k), g(r), g(d), g(e));
            let wide = |v: __m256| _mm512_castps256_ps512(v);
            let (fx8, fy8) = (
                wide(_mm256_loadu_ps(t.ax.as_ptr().add(j))),
                wide(_mm256_loadu_ps(t.ay.as_ptr().add(j))),
            );
            let sh16 = wide(sh);
            let tp = total.as_mut_ptr().add(j);
            let old = _mm256_loadu_ps(tp);
            _mm256_storeu_ps(tp, _mm256_blendv_ps(old, _mm256_add_ps(old, sh), keep8));
            for (half, idx) in spread.iter().enumerate() {
                // Four pixels' taps (the gathers' lower or upper 256 bits), widened.
                let part = |x: __m512i| {
                    _mm512_cvtph_ps(if half == 0 {
                        _mm512_castsi512_si256(x)
                    } else {
                        _mm512_extracti64x4_epi64::<1>(x)
                    })
                };
                let (a, b, c, dd) = (part(ga), part(gb), part(gc), part(gd));
                let fx = _mm512_permutexvar_ps(*idx, fx8);
                let fy = _mm512_permutexvar_ps(*idx, fy8);
                let s = _mm512_permutexvar_ps(*idx, sh16);
                let top = _mm512_add_ps(a, _mm512_mul_ps(fx, _mm512_sub_ps(b, a)));
                let bot = _mm512_add_ps(c, _mm512_mul_ps(fx, _mm512_sub_ps(dd, c)));
                let v = _mm512_add_ps(top, _mm512_mul_ps(fy, _mm512_sub_ps(bot, top)));
                let p = ap.add(4 * (j + 4 * half));
                let old = _mm512_loadu_ps(p);
                // Only where the weight is positive (as the scalar loop: a NaN weight adds
                // nothing).
                let keep = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(s, zero16);
                _mm512_storeu_ps(p, _mm512_mask_add_ps(old, keep, old, _mm512_mul_ps(s, v)));
            }
        }
        j += 8;
    }
    j
}

/// [`carry_row`]'s pixels from `j` on in pairs (one 256-bit register: two pixels' four
/// channels), the half floats widened by F16C. Returns how many pixels are done (the rest: the
/// scalar loop).
///
/// # Safety
/// AVX and F16C available; every tap index `k00 + k10 + k01` < `styled.len()`; `t`'s vectors,
/// `total` and `share` hold at least `acc.len()` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn carry_row_avx(
    acc: &mut [[f32; 4]],
    total: &mut [f32],
    styled: &[Rgbx],
    t: &Taps,
    share: &[f32],
    mut j: usize,
) -> usize {
    use std::arch::x86_64::*;
    let w = acc.len();
    let sp = styled.as_ptr() as *const i64;
    let ap = acc.as_mut_ptr() as *mut f32;
    let zero = _mm256_setzero_ps();
    while j + 2 <= w {
        if j.is_multiple_of(8) {
            prefetch_taps(sp, t, (j + CARRY_PREFETCH).min(w - 1));
        }
        let (s0, s1) = (*share.get_unchecked(j), *share.get_unchecked(j + 1));
        if s0 > 0.0 || s1 > 0.0 {
            let tap = |p: usize| {
                let k = *t.k00.get_unchecked(p) as usize;
                let down = *t.k10.get_unchecked(p) as usize;
                let r = k + *t.k01.get_unchecked(p) as usize;
                (k, r, k + down, r + down)
            };
            let (k0, r0, d0, e0) = tap(j);
            let (k1, r1, d1, e1) = tap(j + 1);
            // Two pixels' taps (8 bytes each) into one register, widened to 8 floats.
            let ld = |a: usize, b: usize| {
                _mm256_cvtph_ps(_mm_set_epi64x(
                    sp.add(b).read_unaligned(),
                    sp.add(a).read_unaligned(),
                ))
            };
            let (a, b, c, d) = (ld(k0, k1), ld(r0, r1), ld(d0, d1), ld(e0, e1));
            let pair = |x: f32, y: f32| _mm256_set_m128(_mm_set1_ps(y), _mm_set1_ps(x));
            let (fx, fy) = (
                pair(*t.ax.get_unchecked(j), *t.ax.get_unchecked(j + 1)),
                pair(*t.ay.get_unchecked(j), *t.ay.get_unchecked(j + 1)),
            );
            let sh = pair(s0, s1);
            let top = _mm256_add_ps(a, _mm256_mul_ps(fx, _mm256_sub_ps(b, a)));
            let bot = _mm256_add_ps(c, _mm256_mul_ps(fx, _mm256_sub_ps(d, c)));
            let v = _mm256_add_ps(top, _mm256_mul_ps(fy, _mm256_sub_ps(bot, top)));
            let old = _mm256_loadu_ps(ap.add(4 * j));
            let new = _mm256_add_ps(old, _mm256_mul_ps(sh, v));
            // Only where the weight is positive (as the scalar loop: a NaN weight adds nothing).
            let keep = _mm256_cmp_ps::<_CMP_GT_OQ>(sh, zero);
            _mm256_storeu_ps(ap.add(4 * j), _mm256_blendv_ps(old, new, keep));
            if s0 > 0.0 {
                *total.get_unchecked_mut(j) += s0;
            }
            if s1 > 0.0 {
                *total.get_unchecked_mut(j + 1) += s1;
            }
        }
        j += 2;
    }
    j
}

/// Rows a block of [`carried_sum`] works on (one parallel task).
const CARRY_ROWS: usize = 8;

/// The earlier frames' part of the window mean (module doc, step 4): per pixel, the sum of each
/// earlier frame's stylisation carried along its chain, weighted by `amount` × the chain's
/// weight there (planar RGB), and the sum of those weights. The chains are at `work` size: their
/// flows (scaled to full-size pixels) and weights are sampled bilinearly at each output pixel,
/// then each stylisation bilinearly where its flow points.
fn carried_sum(
    size: Size,
    work: Size,
    carried: &[(&[Rgbx], &Chain)],
    amount: f32,
) -> (Vec<f32>, Vec<f32>) {
    let ((h, w), (wh, ww)) = (size, work);
    let (cols, rows) = (bilinear_axis(w, ww), bilinear_axis(h, wh));
    let scales = (w as f32 / ww as f32, h as f32 / wh as f32, amount);
    // Every value of `sum` is written below; `total` is summed into.
    let mut sum = take(3 * h * w);
    let mut total = zeroed(h * w);
    let mut sum_rows = rows_of_planes(&mut sum, 3, (h, w));
    // Blocks of rows, each earlier frame in turn over the whole block: a frame's rows are read
    // one after the other (one stream the prefetcher follows, instead of a row of each frame in
    // turn), the block's accumulators stay in cache.
    sum_rows
        .par_chunks_mut(3 * CARRY_ROWS)
        .zip(total.par_chunks_mut(w * CARRY_ROWS))
        .enumerate()
        .for_each(|(b, (o, total))| {
            let i0 = b * CARRY_ROWS;
            let nr = total.len() / w;
            let mut acc = vec![[0f32; 4]; nr * w];
            let (mut dx, mut dy, mut share) = (vec![0f32; w], vec![0f32; w], vec![0f32; w]);
            let mut vert = Vec::with_capacity(ww);
            let mut taps = Taps::new(w);
            for (styled, chain) in carried {
                for r in 0..nr {
                    let i = i0 + r;
                    chain_row(
                        chain,
                        work,
                        rows[i],
                        &cols,
                        scales,
                        &mut vert,
                        [&mut dx, &mut dy, &mut share],
                    );
                    taps.fill(i, &dx, &dy, size);
                    let (acc, total) = (&mut acc[r * w..][..w], &mut total[r * w..][..w]);
                    carry_row(acc, total, styled, &taps, &share);
                }
            }
            for (k, o) in o.iter_mut().enumerate() {
                let (r, ch) = (k / 3, k % 3);
                for (o, a) in o.iter_mut().zip(&acc[r * w..][..w]) {
                    *o = a[ch];
                }
            }
        });
    (sum, total)
}

/// The window mean: the current frame's stylisation `cur` (planar RGB, weight 1) and the carried
/// earlier ones ([`carried_sum`]), normalised.
fn window_mean(cur: &[f32], (sum, total): (Vec<f32>, Vec<f32>)) -> Vec<f32> {
    let n = total.len();
    let mut mix = sum;
    for (m, c) in mix.chunks_exact_mut(n).zip(cur.chunks_exact(n)) {
        m.par_chunks_mut(4096)
            .zip(c.par_chunks(4096))
            .zip(total.par_chunks(4096))
            .for_each(|((m, c), t)| {
                for ((m, c), t) in m.iter_mut().zip(c).zip(t) {
                    *m = (*m + c) / (1.0 + t);
                }
            });
    }
    give(total);
    mix
}

/// Per pixel, the squared differences to the right and downward neighbours summed over the
/// planes (0 past the last column / row): the local gradient energy.
fn grad_energy_map(img: &[f32], c: usize, (h, w): Size) -> Vec<f32> {
    let n = h * w;
    let mut e = zeroed(n);
    e.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        for ch in 0..c {
            let p = &img[ch * n..][..n];
            let r = &p[i * w..][..w];
            for j in 0..w - 1 {
                row[j] += (r[j + 1] - r[j]).powi(2);
            }
            if i + 1 < h {
                let below = &p[(i + 1) * w..][..w];
                for ((o, a), b) in row.iter_mut().zip(r).zip(below) {
                    *o += (b - a).powi(2);
                }
            }
        }
    });
    e
}

/// A smooth version of a full-size map: averaged over 4 × 4 blocks, blurred there by `sigma / 4`,
/// sampled back bilinearly (a Gaussian of `sigma` at a sixteenth of the cost).
fn smooth_map(m: &[f32], (h, w): Size, sigma: f32) -> Vec<f32> {
    const B: usize = 4;
    let (hs, ws) = (h.div_ceil(B), w.div_ceil(B));
    let mut small = vec![0f32; hs * ws];
    small.par_chunks_mut(ws).enumerate().for_each(|(i, row)| {
        for (j, o) in row.iter_mut().enumerate() {
            let (mut s, mut k) = (0f32, 0f32);
            for ii in B * i..(B * i + B).min(h) {
                for v in &m[ii * w + B * j..ii * w + (B * j + B).min(w)] {
                    s += v;
                    k += 1.0;
                }
            }
            *o = s / k;
        }
    });
    let small = blur(&small, (hs, ws), sigma / B as f32);
    let (cols, rows) = (bilinear_axis(w, ws), bilinear_axis(h, hs));
    // Every row is written below.
    let mut out = take(h * w);
    out.par_chunks_mut(w).enumerate().for_each_init(
        || Vec::with_capacity(ws),
        |vert, (i, o)| upsample_row(&small, ws, rows[i], &cols, 1.0, vert, o),
    );
    out
}

/// The gradient energy of `base + s · detail` (planar, 3 planes) clamped to 0..1, as the
/// benchmark measures it (the sum of the squared differences of neighbours); rows summed in
/// order, eight lanes a row (the same whatever the threads).
fn clamped_grad_energy(base: &[f32], detail: Option<(&[f32], f32)>, (h, w): Size) -> f64 {
    let n = h * w;
    // Row `o..o + w` of the image, clamped, into `buf`.
    let row = |o: usize, buf: &mut [f32]| {
        let b = &base[o..o + w];
        match detail {
            Some((d, s)) => {
                for ((v, x), y) in buf.iter_mut().zip(b).zip(&d[o..o + w]) {
                    *v = (x + s * y).clamp(0.0, 1.0);
                }
            }
            None => {
                for (v, x) in buf.iter_mut().zip(b) {
                    *v = x.clamp(0.0, 1.0);
                }
            }
        }
    };
    // Eight lanes of squared differences `a[k] - b[k]`, summed in a fixed order.
    let add = |lanes: &mut [f32; 8], a: &[f32], b: &[f32]| {
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for k in 0..8 {
                lanes[k] += (x[k] - y[k]) * (x[k] - y[k]);
            }
        }
        for (k, (x, y)) in ra.iter().zip(rb).enumerate() {
            lanes[k] += (x - y) * (x - y);
        }
    };
    let rows: Vec<f64> = (0..h)
        .into_par_iter()
        .map(|i| {
            let mut lanes = [0f32; 8];
            let (mut r, mut below) = (vec![0f32; w], vec![0f32; w]);
            for ch in 0..3 {
                let o = ch * n + i * w;
                row(o, &mut r);
                add(&mut lanes, &r[1..], &r[..w - 1]);
                if i + 1 < h {
                    row(o + w, &mut below);
                    add(&mut lanes, &below, &r);
                }
            }
            lanes.iter().map(|&v| v as f64).sum::<f64>()
        })
        .collect();
    rows.iter().sum()
}

/// The local gradient-energy map (σ = [`ENERGY_SIGMA`]) of a planar RGB image.
fn energy_map(img: &[f32], size: Size) -> Vec<f32> {
    let e = grad_energy_map(img, 3, size);
    let m = smooth_map(&e, size, ENERGY_SIGMA);
    give(e);
    m
}

/// What [`restore_texture`] measures on `cur` alone: its local gradient-energy map and its
/// clamped gradient energy ([`Window::render`] computes them beside the carrying, which does
/// not need `cur`).
fn cur_texture(cur: &[f32], size: Size) -> (Vec<f32>, f64) {
    rayon::join(
        || energy_map(cur, size),
        || clamped_grad_energy(cur, None, size),
    )
}

/// Puts back the texture the window mean `mix` (planar RGB) averaged away, with the per-frame
/// stylisation `cur`'s mean colour (module doc, step 5): `mix` = colour (its blur, σ =
/// [`DETAIL_SIGMA`]) + detail; the detail gets a local gain so that the local gradient energy
/// (σ = [`ENERGY_SIGMA`]) would be `cur`'s, and then one gain for the frame so that the frame's
/// gradient energy (clamped to 0..1, as written) is `target` × `cur`'s. What it measures on
/// `cur` alone comes in as `cur`'s [`cur_texture`] (the caller computes it beside other work).
fn restore_texture(
    mix: Vec<f32>,
    cur: &[f32],
    size: Size,
    target: f32,
    (es, cur_energy): (Vec<f32>, f64),
) -> Vec<f32> {
    let (n, w) = (size.0 * size.1, size.1);
    // Per-channel means, rows summed in order (the same whatever the threads).
    let mean = |p: &[f32]| -> f32 {
        let rows: Vec<f64> = p.par_chunks(w).map(lane_sum).collect();
        (rows.iter().sum::<f64>() / n as f64) as f32
    };
    let shift: Vec<f32> = (0..3)
        .map(|c| mean(&cur[c * n..][..n]) - mean(&mix[c * n..][..n]))
        .collect();
    let mut low = zeroed(3 * n);
    // The three planes' blurs side by side (each blur's passes are short).
    low.par_chunks_mut(n)
        .zip(mix.par_chunks(n))
        .for_each(|(o, p)| blur_into(p, size, DETAIL_SIGMA, o));
    let mut detail = mix;
    detail
        .par_chunks_mut(w)
        .zip(low.par_chunks(w))
        .for_each(|(d, l)| d.iter_mut().zip(l).for_each(|(d, l)| *d -= l));
    let (mut gain, ed) = rayon::join(|| energy_map(&low, size), || energy_map(&detail, size));
    // The local gain (per pixel, all channels), then the colour moved to `cur`'s mean.
    let gmax2 = DETAIL_GAIN_MAX * DETAIL_GAIN_MAX;
    gain.par_chunks_mut(w)
        .zip(ed.par_chunks(w).zip(es.par_chunks(w)))
        .for_each(|(g, (ed, es))| {
            for ((g, ed), es) in g.iter_mut().zip(ed).zip(es) {
                *g = ((es - *g) / (ed + 1e-9)).clamp(0.0, gmax2).sqrt();
            }
        });
    give(ed);
    give(es);
    for (c, (d, l)) in detail
        .chunks_exact_mut(n)
        .zip(low.chunks_exact_mut(n))
        .enumerate()
    {
        d.par_chunks_mut(w)
            .zip(l.par_chunks_mut(w))
            .zip(gain.par_chunks(w))
            .for_each(|((d, l), g)| {
                for ((d, l), g) in d.iter_mut().zip(l.iter_mut()).zip(g) {
                    *d *= g;
                    *l += shift[c];
                }
            });
    }
    // One gain for the frame: a few fixed-point steps on the clamped gradient energy.
    let want = target as f64 * cur_energy;
    let mut s = 1f32;
    for _ in 0..3 {
        let e = clamped_grad_energy(&low, Some((&detail, s)), size);
        if e <= 0.0 || want <= 0.0 {
            break;
        }
        s = (s as f64 * (want / e).sqrt()).clamp(0.0, DETAIL_GAIN_MAX as f64) as f32;
    }
    low.par_chunks_mut(w)
        .zip(detail.par_chunks(w))
        .for_each(|(b, d)| b.iter_mut().zip(d).for_each(|(b, d)| *b += s * d));
    give(detail);
    give(gain);
    low
}

/// One frame's window, as [`Window::past_motion`] and [`Window::motion`] both take it (the same
/// for both calls of a frame): consecutive source frames ending at the frame, oldest first, as
/// many as the host gave up to [`WINDOW`]; their full size; the per-frame stylisations of all but
/// the last (interleaved, in the same order); how much of them to carry (the node's `temporal`,
/// 0..1).
#[derive(Clone, Copy)]
pub struct Span<'a> {
    pub frames: &'a [SourceFrame],
    pub size: Size,
    pub styled: &'a [&'a [Rgbx]],
    pub amount: f32,
}

/// What [`Window::motion`] found for one frame, for [`Window::render`].
pub struct Motion {
    /// The chain from the current frame back to each earlier frame of its shot in the window,
    /// with that frame's index in [`Span::frames`], nearest first; empty when nothing is carried.
    chains: Vec<(usize, Chain)>,
    /// [`Span::amount`], clamped to 0..1: it weighed the earlier frames and sets the texture
    /// [`Window::render`] gives up.
    amount: f32,
    /// The steps the window used (kept; the rest of the caches is dropped).
    used: Vec<(u64, u64)>,
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

    /// The index in `span.frames` of the earliest frame the current one is built from: the
    /// shot's first, at most [`WINDOW`] - 1 back.
    fn first(&mut self, span: Span) -> usize {
        let last = span.frames.len() - 1;
        let shot = self.shot_len(span.frames, span.size).min(WINDOW - 1);
        last - shot
    }

    /// The step (flow, confidence) from `frames[u]` back to `frames[u - 1]`: cached, or computed
    /// (`cancel` asked first); recorded in `used`.
    fn step(
        &mut self,
        (net, dev): (&IfNet, &Device),
        Span { frames, size, .. }: Span,
        u: usize,
        cancel: &mut dyn FnMut() -> bool,
        used: &mut Vec<(u64, u64)>,
    ) -> Result<Arc<Step>, ModelError> {
        let sk = (frames[u - 1].hash, frames[u].hash);
        used.push(sk);
        if let Some(s) = self.steps.get(&sk) {
            return Ok(Arc::clone(s));
        }
        if cancel() {
            return Err(ModelError::BadInput("cancelled".into()));
        }
        let (lp, lc) = (
            self.levels(&frames[u - 1], size),
            self.levels(&frames[u], size),
        );
        let s = Arc::new(Step::new(net, dev, &lp, &lc, size)?);
        self.steps.insert(sk, Arc::clone(&s));
        Ok(s)
    }

    /// The part of [`Window::motion`] that does not need the last frame: the flows between the
    /// earlier frames, cached for [`Window::motion`]. After a seek that is all the flows but
    /// one; in a sequential render the previous frame left them cached. Lets a caller ask
    /// `cancel` between flows, then run the rest beside other work.
    pub fn past_motion(
        &mut self,
        nets: (&IfNet, &Device),
        span: Span,
        cancel: &mut dyn FnMut() -> bool,
    ) -> Result<(), ModelError> {
        // The shot among the earlier frames only: the current frame's levels and its cut check
        // are left to `motion`, which runs beside the stylisation (a cut before the current
        // frame makes these flows unused: computed for nothing, never wrong).
        if span.frames.len() < 2 {
            return Ok(());
        }
        let last = span.frames.len() - 1;
        let earlier = Span {
            frames: &span.frames[..last],
            ..span
        };
        let first = self.first(earlier);
        let mut used = Vec::new();
        for u in first + 1..last {
            self.step(nets, span, u, cancel, &mut used)?;
        }
        Ok(())
    }

    /// The motion of the last frame of `span.frames` ([`Span`]): scene cuts, flows and the
    /// chains from the frame back to each earlier frame of its shot in the window. It needs
    /// nothing of the current frame but its source, so a caller can run it while the current
    /// frame is being stylised. `cancel` is asked before each flow estimate; when it returns true
    /// the call stops with an error. Then [`Window::render`], which carries the earlier frames'
    /// stylisations along the chains.
    pub fn motion(
        &mut self,
        nets: (&IfNet, &Device),
        span: Span,
        cancel: &mut dyn FnMut() -> bool,
    ) -> Result<Motion, ModelError> {
        let first = self.first(span);
        let last = span.frames.len() - 1;
        let work = work_size(span.size);
        let mut used = Vec::new();
        let mut chains: Vec<(usize, Chain)> = Vec::with_capacity(last - first);
        for u in (first + 1..=last).rev() {
            let s = self.step(nets, span, u, cancel, &mut used)?;
            let chain = match chains.last() {
                Some((_, c)) => c.back(&s, work),
                None => Chain::identity(work).back(&s, work),
            };
            chains.push((u - 1, chain));
        }
        let amount = span.amount.clamp(0.0, 1.0);
        if amount.is_nan() || amount <= 0.0 {
            // Nothing carried (a NaN amount as 0).
            chains.clear();
        }
        Ok(Motion {
            chains,
            amount,
            used,
            hashes: span.frames.iter().map(|f| f.hash).collect(),
        })
    }

    /// The stabilised frame (planar RGB): the window mean of the current frame's stylisation
    /// `cur` (planar RGB) and the earlier ones (`span.styled`) carried along the chains of `m`
    /// ([`Window::motion`] on the same `span`, [`carried_sum`]), its texture restored to
    /// [`TEXTURE_TARGET`] of `cur`'s — `1 - amount · (1 - TEXTURE_TARGET)` for a
    /// [`Span::amount`] below 1, which also scaled the earlier frames' weights. With no earlier
    /// frame in the shot (or `amount` 0), `cur` as it is.
    ///
    /// The carrying is here, after the stylisation, not in [`Window::motion`] beside it: both
    /// read far more memory than the cache holds, and beside each other each waited on the
    /// other's (bigbuckbunny at 640×360 on 2 cores: 5–10 ms a frame less this way, 3 runs).
    pub fn render(&mut self, m: Motion, cur: &[f32], span: Span) -> Vec<f32> {
        let size = span.size;
        let cur = &cur[..3 * size.0 * size.1];
        let Motion {
            chains,
            amount,
            used,
            hashes,
        } = m;
        let out = if chains.is_empty() {
            cur.to_vec()
        } else {
            let c: Vec<(&[Rgbx], &Chain)> =
                chains.iter().map(|(u, c)| (span.styled[*u], c)).collect();
            // What the restoration measures on the current stylisation beside the carrying
            // (which reads only the earlier ones).
            let (carried, ct) = rayon::join(
                || carried_sum(size, work_size(size), &c, amount),
                || cur_texture(cur, size),
            );
            let mix = window_mean(cur, carried);
            restore_texture(mix, cur, size, 1.0 - amount * (1.0 - TEXTURE_TARGET), ct)
        };
        // Keep only what this window used (the next frame's window reuses it).
        self.steps.retain(|k, _| used.contains(k));
        self.cuts
            .retain(|(a, b), _| hashes.contains(a) && hashes.contains(b));
        self.levels.retain(|h, _| hashes.contains(h));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_common::testing::same_bits;

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

    /// splitmix64: a repeatable pseudo-random value per integer.
    fn splitmix(k: u64) -> u64 {
        let mut z = k.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn warp_by_zero_is_identity_and_integer_shifts_move() {
        let s = (9, 11);
        let a = pattern(s, 0.0, 0.0);
        let zero = vec![0f32; 2 * 99];
        assert_eq!(warp(&a, 3, s, &zero), a);
        let id = warp(&a, 3, s, &zero);
        assert!(id.iter().zip(&a).all(|(x, y)| (x - y).abs() < 1e-6));
        // Sampling at x + 2 of the pattern shifted right by 2 gives the pattern.
        let b = pattern(s, 2.0, 0.0);
        let mut f = vec![0f32; 2 * 99];
        f[..99].iter_mut().for_each(|v| *v = 2.0);
        let back = warp(&b, 3, s, &f);
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
                    let r = (splitmix(k) >> 40) as f32 / (1u64 << 24) as f32;
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

    /// The window mean samples half-size chains at full size as upsizing them and warping
    /// would (the earlier frames as half floats): flow bilinearly upsized (vectors scaled), the earlier stylisation sampled
    /// bilinearly, weighted by the upsized weight × `amount` against the current frame's 1.
    #[test]
    fn window_mean_equals_upsize_then_warp() {
        let (size, work) = ((37, 50), (19, 25));
        let (n, wn) = (37 * 50, 19 * 25);
        let styled = pattern(size, 0.0, 0.0);
        let cur = pattern(size, 3.0, 1.0);
        let flow: Vec<f32> = (0..2 * wn)
            .map(|k| 1.5 * ((k as f32 * 0.37).sin() + 0.3))
            .collect();
        let weight: Vec<f32> = (0..wn)
            .map(|k| 0.5 + 0.5 * (k as f32 * 0.11).cos())
            .collect();
        let chain = Chain { flow, weight };
        let styled4 = interleave(&styled, n);
        let out = window_mean(&cur, carried_sum(size, work, &[(&styled4, &chain)], 0.8));
        let up = upsize_flow(&chain.flow, work, size);
        // The earlier frames are kept as half floats: the same to 1e-5 as warping the frame
        // rounded to them, within the half float's precision of warping the frame itself.
        let rounded: Vec<f32> = styled.iter().map(|v| f16::from_f32(*v).to_f32()).collect();
        let warped = warp(&rounded, 3, size, &up);
        let exact = warp(&styled, 3, size, &up);
        assert!(warped.iter().zip(&exact).all(|(a, b)| (a - b).abs() < 5e-4));
        let (sy, sx) = (work.0 as f32 / size.0 as f32, work.1 as f32 / size.1 as f32);
        for i in 0..size.0 {
            for j in 0..size.1 {
                let k = i * size.1 + j;
                let (x, y) = ((j as f32 + 0.5) * sx - 0.5, (i as f32 + 0.5) * sy - 0.5);
                let a = 0.8 * bilinear(&chain.weight, work, x, y);
                for c in 0..3 {
                    let want = (a * warped[c * n + k] + cur[c * n + k]) / (1.0 + a);
                    assert!((out[c * n + k] - want).abs() < 1e-5, "{i} {j} {c}");
                }
            }
        }
    }

    /// The texture restoration puts back what averaging took: the mean of independent noisy
    /// textures gets the gradient energy asked for (of the per-frame one), the per-frame mean
    /// colour, and the same colour (blur) as the mean.
    #[test]
    fn restoring_texture_reaches_the_target_energy() {
        let size = (48, 64);
        let n = 48 * 64;
        let tex = |seed: u64| -> Vec<f32> {
            (0..3 * n)
                .map(|k| {
                    let r = (splitmix(k as u64 * 31 + seed) >> 40) as f32 / (1u64 << 24) as f32;
                    0.3 + 0.1 * (k % 64) as f32 / 64.0 + 0.3 * r
                })
                .collect()
        };
        let frames: Vec<Vec<f32>> = (0..8).map(tex).collect();
        let mean: Vec<f32> = (0..3 * n)
            .map(|k| frames.iter().map(|f| f[k]).sum::<f32>() / 8.0)
            .collect();
        let cur = &frames[0];
        let e_cur = clamped_grad_energy(cur, None, size);
        assert!(clamped_grad_energy(&mean, None, size) < 0.3 * e_cur);
        let out = restore_texture(mean.clone(), cur, size, 0.85, cur_texture(cur, size));
        let ratio = clamped_grad_energy(&out, None, size) / e_cur;
        assert!((ratio - 0.85).abs() < 0.02, "gradient energy ratio {ratio}");
        for c in 0..3 {
            let m = |v: &[f32]| v[c * n..][..n].iter().sum::<f32>() / n as f32;
            assert!((m(&out) - m(cur)).abs() < 1e-4);
        }
        let (lo, lm) = (blur(&out[..n], size, 3.0), blur(&mean[..n], size, 3.0));
        let d = lo
            .iter()
            .zip(&lm)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 0.05, "colour moved by {d}");
    }

    /// The render's working maps come from the process-wide buffer pool with whatever an earlier
    /// user left in them: the carried mean and the restoration give the same bits when the pool
    /// holds buffers of exactly their sizes full of NaN.
    #[test]
    fn stale_pool_buffers_change_nothing() {
        // Maps of at least 4096 values (smaller ones are not pooled).
        let (size, work) = ((72, 90), (36, 45));
        let (n, wn) = (72 * 90, 36 * 45);
        let styled = interleave(&pattern(size, 0.0, 0.0), n);
        let cur = pattern(size, 3.0, 1.0);
        let chain = Chain {
            flow: (0..2 * wn).map(|k| (k as f32 * 0.37).sin()).collect(),
            weight: vec![0.7; wn],
        };
        let render = || {
            let mix = window_mean(&cur, carried_sum(size, work, &[(&styled, &chain)], 1.0));
            restore_texture(mix, &cur, size, 0.85, cur_texture(&cur, size))
        };
        let first = render();
        for _ in 0..4 {
            for len in [n, n, n, n, 3 * n, 3 * n] {
                give(vec![f32::NAN; len]);
            }
        }
        let again = render();
        assert!(first.iter().all(|v| v.is_finite()));
        assert!(same_bits(&first, &again));
    }

    /// The vector path of the carrying (pairs of pixels, half floats widened by F16C) gives
    /// the bits of the scalar one, skips weights that are not positive (0, negative, NaN) as
    /// it does, and leaves an odd last pixel to it.
    #[test]
    fn carrying_vector_path_equals_scalar() {
        // 19 pixels: two blocks of eight (AVX-512), a pair (AVX), one alone (scalar).
        let (h, w) = (5usize, 19usize);
        let n = h * w;
        let planar: Vec<f32> = (0..3 * n)
            .map(|k| ((k * 37) % 101) as f32 / 100.0)
            .collect();
        let styled = interleave(&planar, n);
        let t = Taps {
            k00: (0..w as u32).map(|j| (j * 7) % (3 * w as u32)).collect(),
            k10: vec![w as u32; w],
            k01: (0..w as u32).map(|j| j % 2).collect(),
            ax: (0..w).map(|j| j as f32 * 0.11).collect(),
            ay: (0..w).map(|j| 1.0 - j as f32 * 0.09).collect(),
        };
        let (k00, k10, k01, ax, ay) = (&t.k00, &t.k10, &t.k01, &t.ax, &t.ay);
        // The second block of eight all zero or negative (skipped whole).
        let share = [
            0.7,
            0.0,
            -0.5,
            f32::NAN,
            1.0,
            0.3,
            0.0,
            0.0,
            0.0,
            -1.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            -0.0,
            0.9,
            0.2,
            0.6,
        ];
        let (mut acc, mut total) = (vec![[0.25f32; 4]; w], vec![0.5f32; w]);
        carry_row(&mut acc, &mut total, &styled, &t, &share);
        let (mut want, mut want_total) = (vec![[0.25f32; 4]; w], vec![0.5f32; w]);
        for j in 0..w {
            if share[j] > 0.0 {
                let k = k00[j] as usize;
                let r = k + k01[j] as usize;
                let (d, e) = (k + k10[j] as usize, r + k10[j] as usize);
                let t = [&styled[k], &styled[r], &styled[d], &styled[e]];
                lerp_add(&mut want[j], t, ax[j], ay[j], share[j]);
                want_total[j] += share[j];
            }
        }
        let bits = |v: &[[f32; 4]]| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&acc), bits(&want));
        assert_eq!(total, want_total);
        assert_eq!(acc[1], [0.25; 4]);
        assert_eq!(acc[3], [0.25; 4]);
    }

    #[test]
    fn chain_composes_shifts() {
        let s = (20, 24);
        let n = 20 * 24;
        let mut f = vec![0f32; 2 * n];
        f[..n].iter_mut().for_each(|v| *v = -1.0);
        let st = Step::from_parts(f, &vec![0.5; n]);
        let c = Chain::identity(s).back(&st, s).back(&st, s);
        assert!(c.flow[..n].iter().all(|v| (*v + 2.0).abs() < 1e-6));
        assert!(c.flow[n..].iter().all(|v| v.abs() < 1e-6));
        assert!(c.weight.iter().all(|v| (*v - 0.25).abs() < 1e-6));
    }

    /// A pattern moving 1.5 px right per frame, "stylised" with strokes that change every
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
        let frames: Vec<(SourceFrame, Vec<f32>, Vec<Rgbx>)> = (0..16)
            .map(|t| {
                let input = pattern(size, 1.5 * t as f32, 0.0);
                // Strokes a few pixels wide, as a style network paints (noise blurred, σ = 1.5).
                let strokes: Vec<f32> = (0..3)
                    .flat_map(|_| {
                        let raw: Vec<f32> = (0..n).map(|_| 2.5 * noise()).collect();
                        blur(&raw, size, 1.5)
                    })
                    .collect();
                let styled: Vec<f32> = input.iter().zip(&strokes).map(|(v, s)| v + s).collect();
                let src = SourceFrame {
                    hash: t as u64 + 1,
                    input: Arc::new(input),
                };
                (src, styled.clone(), interleave(&styled, n))
            })
            .collect();
        // As the node does: the past flows, then the motion, then the render.
        let stabilise = |win: &mut Window, frames: &[(SourceFrame, Vec<f32>, Vec<Rgbx>)]| {
            let nets = (&net, &Device::Cpu);
            let src: Vec<SourceFrame> = frames.iter().map(|f| f.0.clone()).collect();
            let styled: Vec<&[Rgbx]> = frames.iter().map(|f| &f.2[..]).collect();
            let span = Span {
                frames: &src,
                size,
                styled: &styled[..styled.len() - 1],
                amount: 1.0,
            };
            win.past_motion(nets, span, &mut || false).unwrap();
            let m = win.motion(nets, span, &mut || false).unwrap();
            win.render(m, &frames[frames.len() - 1].1, span)
        };
        let mut win = Window::new();
        let mut outs = Vec::new();
        for t in 0..frames.len() {
            let lo = t.saturating_sub(WINDOW - 1);
            outs.push(stabilise(&mut win, &frames[lo..=t]));
        }
        // Flicker: frame t against frame t-1 moved by the known motion, away from the edges.
        let flicker = |seq: &dyn Fn(usize) -> Vec<f32>| {
            let mut f = vec![0f32; 2 * n];
            f[..n].iter_mut().for_each(|v| *v = -1.5);
            let mut e = 0f64;
            for t in 1..frames.len() {
                let prev = warp(&seq(t - 1), 3, size, &f);
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
        let per = flicker(&|t| frames[t].1.clone());
        let stab = flicker(&|t| outs[t].clone());
        println!("flicker: per-frame {per:.2}, stabilised {stab:.2}");
        assert!(stab < 0.2 * per, "stabilised {stab} vs per-frame {per}");
        // The caches do not change the result: a fresh window gives the same last frame.
        let last = frames.len() - 1;
        let lo = last.saturating_sub(WINDOW - 1);
        let again = stabilise(&mut Window::new(), &frames[lo..]);
        assert_eq!(again, outs[last]);
    }
}
