//! Temporally stable video stylisation (issue #15): flow-guided propagation inside a fixed,
//! frame-anchored window, for any per-frame stylisation.
//!
//! A per-frame style network answers small changes of its input (noise, compression, a pixel of
//! motion) with different brush strokes, so its output flickers. Here each output frame is
//! instead built from *one* earlier stylised frame, the window's anchor, carried along the
//! motion of the input frames:
//!
//! 1. **Flow** ([`estimate_flow`]): Wick's RIFE IFNet on the two input frames at half size, at
//!    the midpoint (its endpoint flows, t = 0 or 1, are unusable: measured 18 dB where the
//!    identity gives 37 dB), inverted into the backward flow from the current frame to the
//!    previous one, upsampled, then refined at full size by three Lucas–Kanade steps (Gaussian
//!    window σ = 2, at most 1 px each): +3 to +5 dB on the warped input.
//! 2. **Confidence** ([`confidence`]): where the warped previous input differs from the current
//!    one by more than [`TAU`] (blurred colour distance), the motion is not trusted (occlusion,
//!    disocclusion, light change): the weight falls linearly to 0 at 2 [`TAU`].
//! 3. **Chains** ([`Chain`]): the flows of consecutive frames are composed into one flow from
//!    the current frame to the anchor and the confidences multiplied, so the anchor's stylised
//!    frame is sampled *once* (bicubic) however far back it is: repeated bilinear warps blur
//!    (gradient energy fell to 0.35–0.7 of per-frame in the measurements), one bicubic sample
//!    keeps it (0.9–1.0). Where the weight is low the current frame's own stylisation shows.
//! 4. **Farm-safe window** ([`Window`]): anchors sit at absolute frame numbers that are
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

/// A planar frame size.
pub type Size = (usize, usize);

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
    let r = (k.len() / 2) as isize;
    let mut tmp = vec![0f32; h * w];
    tmp.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        let s = &src[i * w..][..w];
        for (j, o) in row.iter_mut().enumerate() {
            let mut acc = 0f32;
            for (t, kv) in k.iter().enumerate() {
                let jj = (j as isize + t as isize - r).clamp(0, w as isize - 1) as usize;
                acc += kv * s[jj];
            }
            *o = acc;
        }
    });
    let mut out = vec![0f32; h * w];
    out.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        for (t, kv) in k.iter().enumerate() {
            let ii = (i as isize + t as isize - r).clamp(0, h as isize - 1) as usize;
            let s = &tmp[ii * w..][..w];
            for (o, v) in row.iter_mut().zip(s) {
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
    // Rows in parallel, every plane of a row in one task.
    let rows: Vec<(usize, Vec<f32>)> = (0..h)
        .into_par_iter()
        .map(|i| {
            let mut r = vec![0f32; c * w];
            for j in 0..w {
                let x = j as f32 + flow[i * w + j];
                let y = i as f32 + flow[hw + i * w + j];
                if !cubic {
                    for ch in 0..c {
                        r[ch * w + j] = bilinear(&img[ch * hw..][..hw], (h, w), x, y);
                    }
                    continue;
                }
                let x = x.clamp(0.0, (w - 1) as f32);
                let y = y.clamp(0.0, (h - 1) as f32);
                let (x0, y0) = (x.floor(), y.floor());
                let (wx, wy) = (cubic_weights(x - x0), cubic_weights(y - y0));
                let (x0, y0) = (x0 as isize, y0 as isize);
                let xs: [usize; 4] = std::array::from_fn(|k| {
                    (x0 + k as isize - 1).clamp(0, w as isize - 1) as usize
                });
                let ys: [usize; 4] = std::array::from_fn(|k| {
                    (y0 + k as isize - 1).clamp(0, h as isize - 1) as usize
                });
                for ch in 0..c {
                    let p = &img[ch * hw..][..hw];
                    let mut acc = 0f32;
                    for (ky, &yy) in ys.iter().enumerate() {
                        let row = &p[yy * w..][..w];
                        let s = wx[0] * row[xs[0]]
                            + wx[1] * row[xs[1]]
                            + wx[2] * row[xs[2]]
                            + wx[3] * row[xs[3]];
                        acc += wy[ky] * s;
                    }
                    r[ch * w + j] = acc;
                }
            }
            (i, r)
        })
        .collect();
    for (i, r) in rows {
        for ch in 0..c {
            out[ch * hw + i * w..][..w].copy_from_slice(&r[ch * w..][..w]);
        }
    }
    out
}

/// Area-average downscale by 2 (odd sizes: the last row/column averages what it has).
fn half(img: &[f32], c: usize, (h, w): Size) -> (Vec<f32>, Size) {
    let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
    let mut out = vec![0f32; c * h2 * w2];
    for ch in 0..c {
        let p = &img[ch * h * w..][..h * w];
        for i in 0..h2 {
            for j in 0..w2 {
                let (mut s, mut n) = (0f32, 0f32);
                for ii in 2 * i..(2 * i + 2).min(h) {
                    for jj in 2 * j..(2 * j + 2).min(w) {
                        s += p[ii * w + jj];
                        n += 1.0;
                    }
                }
                out[(ch * h2 + i) * w2 + j] = s / n;
            }
        }
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

/// Central differences (one-sided at the edges) of one plane: (d/dx, d/dy).
fn gradients(p: &[f32], (h, w): Size) -> (Vec<f32>, Vec<f32>) {
    let mut gx = vec![0f32; h * w];
    let mut gy = vec![0f32; h * w];
    for i in 0..h {
        for j in 0..w {
            let at = |ii: usize, jj: usize| p[ii * w + jj];
            gx[i * w + j] = if w < 2 {
                0.0
            } else if j == 0 {
                at(i, 1) - at(i, 0)
            } else if j == w - 1 {
                at(i, j) - at(i, j - 1)
            } else {
                0.5 * (at(i, j + 1) - at(i, j - 1))
            };
            gy[i * w + j] = if h < 2 {
                0.0
            } else if i == 0 {
                at(1, j) - at(0, j)
            } else if i == h - 1 {
                at(i, j) - at(i - 1, j)
            } else {
                0.5 * (at(i + 1, j) - at(i - 1, j))
            };
        }
    }
    (gx, gy)
}

/// Lucas–Kanade refinement of a backward flow `flow` (cur → prev) so that `prev` warped by it
/// matches `cur`: `iters` Gauss–Newton steps, Gaussian window `sigma`, each step at most 1 px.
pub fn refine_flow(cur: &[f32], prev: &[f32], size: Size, flow: &mut [f32], iters: usize) {
    let (h, w) = size;
    let n = h * w;
    const SIGMA: f32 = 2.0;
    const LAMBDA: f32 = 1e-4;
    for _ in 0..iters {
        let xw = warp(prev, 3, size, flow, false);
        let mut sxx = vec![0f32; n];
        let mut sxy = vec![0f32; n];
        let mut syy = vec![0f32; n];
        let mut sxr = vec![0f32; n];
        let mut syr = vec![0f32; n];
        for ch in 0..3 {
            let p = &xw[ch * n..][..n];
            let (gx, gy) = gradients(p, size);
            let c = &cur[ch * n..][..n];
            for k in 0..n {
                let r = p[k] - c[k];
                sxx[k] += gx[k] * gx[k];
                sxy[k] += gx[k] * gy[k];
                syy[k] += gy[k] * gy[k];
                sxr[k] += gx[k] * r;
                syr[k] += gy[k] * r;
            }
        }
        let [a, b, d, ex, ey] = [sxx, sxy, syy, sxr, syr].map(|v| blur(&v, size, SIGMA));
        for k in 0..n {
            let (a, d) = (a[k] + LAMBDA, d[k] + LAMBDA);
            let det = a * d - b[k] * b[k];
            let mut du = -(d * ex[k] - b[k] * ey[k]) / det;
            let mut dv = -(-b[k] * ex[k] + a * ey[k]) / det;
            let norm = (du * du + dv * dv).sqrt();
            if norm > 1.0 {
                du /= norm;
                dv /= norm;
            }
            if du.is_finite() && dv.is_finite() {
                flow[k] += du;
                flow[n + k] += dv;
            }
        }
    }
}

fn planar_tensor(x: &[f32], (h, w): Size, dev: &Device) -> Result<Tensor, ModelError> {
    Ok(Tensor::from_slice(x, (1, 3, h, w), &Device::Cpu)?.to_device(dev)?)
}

/// The backward flow from `cur` to `prev` (planar RGB 3 × h × w, 0..1): `prev` warped by it
/// lines up with `cur`. See the module doc (step 1).
pub fn estimate_flow(
    net: &IfNet,
    dev: &Device,
    prev: &[f32],
    cur: &[f32],
    size: Size,
) -> Result<Vec<f32>, ModelError> {
    let (h, w) = size;
    // Half size (frames of 64 px or less stay as they are).
    let ((p2, c2), s2) = if h.min(w) > 64 {
        let (a, s) = half(prev, 3, size);
        ((a, half(cur, 3, size).0), s)
    } else {
        ((prev.to_vec(), cur.to_vec()), size)
    };
    let e = net.estimate(
        &planar_tensor(&p2, s2, dev)?,
        &planar_tensor(&c2, s2, dev)?,
        0.5,
        1.0,
    )?;
    let fl: Vec<f32> = e
        .flow
        .to_device(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let n2 = s2.0 * s2.1;
    let f0 = upsize_flow(&fl[..2 * n2], s2, size);
    let f1 = upsize_flow(&fl[2 * n2..4 * n2], s2, size);
    let mut f = invert_mid(&f0, &f1, size);
    refine_flow(cur, prev, size, &mut f, 3);
    Ok(f)
}

/// Confidence in a backward flow, per pixel, 0..1 (module doc, step 2): `prev` warped by
/// `flow` against `cur`.
pub fn confidence(cur: &[f32], prev: &[f32], size: Size, flow: &[f32]) -> Vec<f32> {
    let n = size.0 * size.1;
    let xw = warp(prev, 3, size, flow, false);
    let d: Vec<f32> = (0..n)
        .map(|k| {
            (0..3)
                .map(|c| (cur[c * n + k] - xw[c * n + k]).powi(2))
                .sum::<f32>()
                .sqrt()
        })
        .collect();
    blur(&d, size, 1.5)
        .into_iter()
        .map(|d| ((2.0 * TAU - d) / TAU).clamp(0.0, 1.0))
        .collect()
}

/// What is known about one consecutive pair: the backward flow (current → previous) and the
/// confidence in it.
pub struct Step {
    pub flow: Vec<f32>,
    pub conf: Vec<f32>,
}

impl Step {
    pub fn new(
        net: &IfNet,
        dev: &Device,
        prev: &[f32],
        cur: &[f32],
        size: Size,
    ) -> Result<Self, ModelError> {
        let flow = estimate_flow(net, dev, prev, cur, size)?;
        let conf = confidence(cur, prev, size, &flow);
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

    /// The anchor's stylised frame carried to this frame (one bicubic sample), the current
    /// frame's own stylisation where the weight is low.
    pub fn render(&self, anchor: &[f32], current: &[f32], size: Size) -> Vec<f32> {
        let n = size.0 * size.1;
        let carried = warp(anchor, 3, size, &self.flow, true);
        let mut out = current.to_vec();
        for c in 0..3 {
            for k in 0..n {
                let wgt = self.weight[k];
                let o = &mut out[c * n + k];
                *o = wgt * carried[c * n + k] + (1.0 - wgt) * *o;
            }
        }
        out
    }
}

/// One frame of a window: a content hash (frames equal in content share cache entries), the
/// input and its per-frame stylisation, planar RGB.
pub struct WindowFrame {
    pub hash: u64,
    pub input: Arc<Vec<f32>>,
    pub styled: Arc<Vec<f32>>,
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

/// The stabiliser of one node instance: caches of steps (flows) and chains keyed by frame
/// content, so a sequential render computes one flow and two chain steps per frame. The caches
/// only hold what the last window used; results never depend on them.
#[derive(Default)]
pub struct Window {
    steps: HashMap<(u64, u64), Arc<Step>>,
    cuts: HashMap<(u64, u64), bool>,
    chains: HashMap<u64, Arc<Chain>>,
}

impl Window {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a scene cut lies between two consecutive frames.
    fn is_cut(&mut self, a: &WindowFrame, b: &WindowFrame, size: Size) -> bool {
        *self.cuts.entry((a.hash, b.hash)).or_insert_with(|| {
            cuts::cut_score(&a.input, &b.input, size) >= cuts::DEFAULT_CUT_THRESHOLD
        })
    }

    /// How many frames back from the last of `frames` lie in the same shot (no cut between
    /// them); the first frame of the shot is `frames[len - 1 - n]`.
    pub fn shot_len(&mut self, frames: &[WindowFrame], size: Size) -> usize {
        let mut n = 0;
        for k in (1..frames.len()).rev() {
            if self.is_cut(&frames[k - 1], &frames[k], size) {
                break;
            }
            n += 1;
        }
        n
    }

    /// The stabilised frame `t` (the last of `frames`; `frames` are consecutive frames ending
    /// at `t`, oldest first, as many as the host gave up to `2p - 1` back). `p`: the anchor
    /// period. `cancel` is called before each flow estimate; when it returns true the call
    /// stops with an error.
    pub fn stabilise(
        &mut self,
        net: &IfNet,
        dev: &Device,
        frames: &[WindowFrame],
        size: Size,
        t: i64,
        p: usize,
        cancel: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<f32>, ModelError> {
        let last = frames.len() - 1;
        let shot = self.shot_len(frames, size);
        let first = (last - shot) as i64; // index of the earliest usable frame
        let (m0, m1, w_old) = anchors(t, p);
        // Index in `frames` of each chain's start: its anchor, or the earliest usable frame.
        let idx = |m: i64| -> usize { (m - (t - last as i64)).max(first) as usize };
        let (a0, a1) = (idx(m0), idx(m1));
        let mut used_steps = Vec::new();
        let mut used_chains = Vec::new();
        let mut chain_to = |win: &mut Self, a: usize| -> Result<Arc<Chain>, ModelError> {
            let mut key = mix_hash(frames[a].hash, 0x5eed);
            let mut chain = Arc::new(Chain::anchor(size));
            for u in a + 1..=last {
                key = mix_hash(key, frames[u].hash);
                if let Some(c) = win.chains.get(&key) {
                    chain = Arc::clone(c);
                    used_chains.push(key);
                    continue;
                }
                let sk = (frames[u - 1].hash, frames[u].hash);
                let step = match win.steps.get(&sk) {
                    Some(s) => Arc::clone(s),
                    None => {
                        if cancel() {
                            return Err(ModelError::BadInput("cancelled".into()));
                        }
                        let s = Arc::new(Step::new(
                            net,
                            dev,
                            &frames[u - 1].input,
                            &frames[u].input,
                            size,
                        )?);
                        win.steps.insert(sk, Arc::clone(&s));
                        s
                    }
                };
                used_steps.push(sk);
                chain = Arc::new(chain.step(&step, size));
                win.chains.insert(key, Arc::clone(&chain));
                used_chains.push(key);
            }
            Ok(chain)
        };
        let old = chain_to(self, a0)?;
        let out_old = old.render(&frames[a0].styled, &frames[last].styled, size);
        let out = if a1 == a0 {
            out_old
        } else {
            let new = chain_to(self, a1)?;
            let out_new = new.render(&frames[a1].styled, &frames[last].styled, size);
            out_old
                .iter()
                .zip(&out_new)
                .map(|(a, b)| w_old * a + (1.0 - w_old) * b)
                .collect()
        };
        // Keep only what this window used (the next frame's window reuses it).
        self.steps.retain(|k, _| used_steps.contains(k));
        self.chains.retain(|k, _| used_chains.contains(k));
        let hashes: Vec<u64> = frames.iter().map(|f| f.hash).collect();
        self.cuts
            .retain(|(a, b), _| hashes.contains(a) && hashes.contains(b));
        Ok(out)
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
}
