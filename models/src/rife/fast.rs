//! The CPU f32 path of [`IfNet::forward`](super::IfNet::forward): the same maths as the tensor
//! path, with the glue between the convolutions fused into a few passes over plain slices.
//!
//! Inference only (RIFE is not trained here), so activations stay in `Vec<f32>` and the
//! convolutions run on the op layer's CPU kernels without a tensor round trip. What is fused or
//! skipped:
//! - each frame and its head features are warped together, one sampling-tap pass per flow (AVX2
//!   gathers over whole rows), and at the coarse blocks only at the pixels the block's input
//!   resize reads;
//! - a block's input is resized straight from its sources (no full-resolution concatenation,
//!   the time channel is a constant, the flow's 1/s scaling is applied on the way);
//! - a block's output transposed convolution (run as a 3×3 convolution with 4 output phases)
//!   feeds one pass that applies both pixel shuffles, the bias, the bilinear upsampling to full
//!   resolution, the flow scaling and the residual flow update; the last block computes only the
//!   flow and mask channels (its features are never read);
//! - `beta` of each residual conv is folded into its weights, and the residual add and
//!   LeakyReLU run inside the convolution's row loop (as does every LeakyReLU);
//! - packed conv weights are kept per conv, activations come from and go back to the op layer's
//!   buffer pool (no fresh pages per frame);
//! - each frame's head features are kept for the next pairs ([`FEATURES`]): a retime's pairs
//!   (f, f+1), (f+1, f+2) share a frame, 3× and 4× retimes run each pair several times, and the
//!   temporal stabiliser's flows chain frame to frame, so the head (about 40 % of the network's
//!   multiply-adds at full resolution) runs once per frame instead of twice or more.
//!
//! `tests::fast_path_matches_tensor_path` checks it against the tensor path.

use std::sync::Arc;

use candle_core::{DType, Result, Tensor};
use rayon::prelude::*;

use super::{Conv, Head, IfBlock, IfNet, Up2};
use crate::ops::buffers::{give, take};
use crate::ops::conv::{conv2d_f32_slice, Epilogue, PackCache};
use crate::ops::upsample::bilinear_taps;
use crate::ops::warp::{warp_planes, warp_planes_at};
use crate::recent::{hash_f32, mix, Recent};

fn vec_of(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// A convolution's weights as plain f32.
struct FConv {
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    o: usize,
    c: usize,
    k: usize,
    stride: usize,
    packed: PackCache,
}

impl FConv {
    /// From a conv; `scale` multiplies each output channel (weights and bias).
    fn new(w: &Tensor, b: Option<&Tensor>, stride: usize, scale: Option<&Tensor>) -> Result<Self> {
        let (o, c, k, _) = w.dims4()?;
        let mut wv = vec_of(w)?;
        let mut bv = b.map(vec_of).transpose()?;
        if let Some(s) = scale {
            let s = vec_of(s)?;
            let per = c * k * k;
            for (oc, &f) in s.iter().enumerate().take(o) {
                wv[oc * per..(oc + 1) * per]
                    .iter_mut()
                    .for_each(|v| *v *= f);
                if let Some(b) = bv.as_mut() {
                    b[oc] *= f;
                }
            }
        }
        Ok(Self {
            w: wv,
            b: bv,
            o,
            c,
            k,
            stride,
            packed: PackCache::default(),
        })
    }

    fn of(conv: &Conv) -> Result<Self> {
        Self::new(&conv.w, Some(&conv.b), conv.p.stride, None)
    }

    /// [`Up2`]'s 3×3 four-phase convolution (output channel `4·o + 2a + b` is phase (a, b)
    /// of output channel `o`), without its bias (added after the shuffle). A 2×2 conv with
    /// padding 1 holding only each phase's non-zero taps does 2.25× fewer multiply-adds, but
    /// measured slower at these shapes (the direct kernel's per-row cost does not shrink).
    fn of_up2(up: &Up2) -> Result<(Self, Vec<f32>)> {
        Ok((Self::new(&up.w3, None, 1, None)?, vec_of(&up.b)?))
    }

    /// `x`: [c, h, w] → ([o, oh, ow], oh, ow); padding k / 2.
    fn run(&self, x: &[f32], hw: (usize, usize)) -> (Vec<f32>, usize, usize) {
        self.run_then(x, hw, Epilogue::None)
    }

    /// [`FConv::run`] with `epi` applied to the output.
    fn run_then(
        &self,
        x: &[f32],
        (h, w): (usize, usize),
        epi: Epilogue,
    ) -> (Vec<f32>, usize, usize) {
        conv2d_f32_slice(
            x,
            (1, self.c, h, w),
            &self.w,
            (self.o, self.k),
            self.stride,
            self.k / 2,
            self.b.as_deref(),
            &self.packed,
            epi,
        )
    }
}

/// The four-phase conv's output [4·o, h, w] (see [`FConv::of_up2`]) to the transposed
/// convolution's [o, 2h, 2w]: pixel shuffle by 2 plus a per-output-channel bias.
fn shuffle2_bias(y: &[f32], o: usize, (h, w): (usize, usize), bias: &[f32]) -> Vec<f32> {
    let (oh, ow) = (2 * h, 2 * w);
    let mut out = take(o * oh * ow);
    out.par_chunks_mut(ow).enumerate().for_each(|(r, row)| {
        let (oc, oy) = (r / oh, r % oh);
        let (m, a) = (oy / 2, oy % 2);
        let b = bias[oc];
        for bb in 0..2 {
            let src = &y[((oc * 4 + a * 2 + bb) * h + m) * w..][..w];
            for (n, &v) in src.iter().enumerate() {
                row[2 * n + bb] = v + b;
            }
        }
    });
    out
}

/// One input channel of a block: a full-resolution plane times a factor, or a constant.
enum Src<'a> {
    Plane(&'a [f32], f32),
    Const(f32),
}

/// The source indices a bilinear resize from `inp` to `out` samples, ascending.
fn read_by_resize(inp: usize, out: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..out)
        .flat_map(|o| {
            let (i0, i1, _) = bilinear_taps(o, inp, out, false);
            [i0, i1]
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn plane(v: &[f32], hw: usize, k: usize, m: f32) -> Src<'_> {
    Src::Plane(&v[k * hw..(k + 1) * hw], m)
}

/// Bilinear (align_corners = false) resize of every source from `h × w` to `sh × sw`, stacked.
fn gather(srcs: &[Src], (h, w): (usize, usize), (sh, sw): (usize, usize)) -> Vec<f32> {
    let taps = |inp: usize, out: usize| -> Vec<(usize, usize, f32, f32)> {
        (0..out)
            .map(|o| {
                let (i0, i1, l) = bilinear_taps(o, inp, out, false);
                (i0, i1, (1.0 - l) as f32, l as f32)
            })
            .collect()
    };
    let (ty, tx) = (taps(h, sh), taps(w, sw));
    let same = (sh, sw) == (h, w);
    let mut out = take(srcs.len() * sh * sw);
    out.par_chunks_mut(sw).enumerate().for_each(|(r, row)| {
        let (ch, oy) = (r / sh, r % sh);
        match srcs[ch] {
            Src::Const(v) => row.fill(v),
            Src::Plane(p, m) => {
                if same {
                    let src = &p[oy * w..][..w];
                    if m == 1.0 {
                        row.copy_from_slice(src);
                    } else {
                        row.iter_mut().zip(src).for_each(|(o, &v)| *o = v * m);
                    }
                    return;
                }
                let (y0, y1, wy0, wy1) = ty[oy];
                let (r0, r1) = (&p[y0 * w..][..w], &p[y1 * w..][..w]);
                for (o, &(x0, x1, wx0, wx1)) in row.iter_mut().zip(&tx) {
                    let v =
                        wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1]);
                    *o = v * m;
                }
            }
        }
    });
    out
}

/// A block's output `y` ([13·16, hy, wy]: the four-phase conv of its last transposed conv,
/// bias not added, [`FConv::of_up2`]) to the full-resolution state [13, h, w]: both pixel shuffles (→ [13, 4hy,
/// 4wy]), the bias, the bilinear upsampling to `h × w`, and on the flow channels (0..4) the
/// scaling by `s` plus the previous flow.
#[allow(clippy::too_many_arguments)]
fn tail(
    y: &[f32],
    (hy, wy): (usize, usize),
    bias: &[f32],
    s: f64,
    (h, w): (usize, usize),
    prev: Option<&[f32]>,
) -> Vec<f32> {
    let plane = hy * wy;
    // Map pixel (c, P, Q) of the shuffled map is y[k, P/4, Q/4] + bias[o] with, for
    // p = P % 4 = 2a + a' and q = Q % 4 = 2b + b': o = 4c + 2a' + b', k = 4o + 2a + b (the
    // four-phase conv's layout, [`FConv::of_up2`]). Both split into a row part and a column
    // part.
    let row_part = |pp: usize| {
        let (m, p) = (pp / 4, pp % 4);
        let (a, a2) = (p / 2, p % 2);
        ((a2 * 8 + a * 2) * plane + m * wy, a2 * 2)
    };
    let col_part = |qq: usize| {
        let (n, q) = (qq / 4, qq % 4);
        let (b, b2) = (q / 2, q % 2);
        ((b2 * 4 + b) * plane + n, b2)
    };
    let mh = 4 * hy;
    let maps = bias.len() / 4;
    let cols: Vec<_> = (0..w)
        .map(|j| {
            let (q0, q1, l) = bilinear_taps(j, 4 * wy, w, false);
            (col_part(q0), col_part(q1), (1.0 - l) as f32, l as f32)
        })
        .collect();
    // Separable: every map row resized horizontally (shuffle and bias on the way), then the
    // output rows as blends of two of those.
    let mut tmp = take(maps * mh * w);
    tmp.par_chunks_mut(w).enumerate().for_each(|(r, row)| {
        let (ch, pp) = (r / mh, r % mh);
        let (yb, bb) = (&y[ch * 16 * plane..], &bias[ch * 4..]);
        let (ry, rb) = row_part(pp);
        let at = |(cy, cb): (usize, usize)| yb[ry + cy] + bb[rb + cb];
        for (o, &(c0, c1, wx0, wx1)) in row.iter_mut().zip(&cols) {
            *o = wx0 * at(c0) + wx1 * at(c1);
        }
    });
    let rows: Vec<_> = (0..h)
        .map(|i| {
            let (p0, p1, l) = bilinear_taps(i, mh, h, false);
            (p0, p1, (1.0 - l) as f32, l as f32)
        })
        .collect();
    let hw = h * w;
    let sf = s as f32;
    let mut out = take(maps * hw);
    out.par_chunks_mut(w).enumerate().for_each(|(r, row)| {
        let (ch, i) = (r / h, r % h);
        let (p0, p1, wy0, wy1) = rows[i];
        let r0 = &tmp[(ch * mh + p0) * w..][..w];
        let r1 = &tmp[(ch * mh + p1) * w..][..w];
        if ch >= 4 {
            for ((o, &a), &b) in row.iter_mut().zip(r0).zip(r1) {
                *o = wy0 * a + wy1 * b;
            }
            return;
        }
        match prev {
            Some(p) => {
                let pr = &p[ch * hw + i * w..][..w];
                for (((o, &a), &b), &p) in row.iter_mut().zip(r0).zip(r1).zip(pr) {
                    *o = p + (wy0 * a + wy1 * b) * sf;
                }
            }
            None => {
                for ((o, &a), &b) in row.iter_mut().zip(r0).zip(r1) {
                    *o = (wy0 * a + wy1 * b) * sf;
                }
            }
        }
    });
    give(tmp);
    out
}

struct FHead {
    convs: [FConv; 3],
    up: FConv,
    up_bias: Vec<f32>,
}

impl FHead {
    fn of(h: &Head) -> Result<Self> {
        let (up, up_bias) = FConv::of_up2(&h.cnn3)?;
        Ok(Self {
            convs: [
                FConv::of(&h.cnn0)?,
                FConv::of(&h.cnn1)?,
                FConv::of(&h.cnn2)?,
            ],
            up,
            up_bias,
        })
    }

    /// RGB [3, h, w] → features [4, h, w].
    fn forward(&self, rgb: &[f32], hw: (usize, usize)) -> Vec<f32> {
        let (mut x, oh, ow) = self.convs[0].run_then(rgb, hw, Epilogue::Leaky(0.2));
        let mut size = (oh, ow);
        for c in &self.convs[1..] {
            let (y, oh, ow) = c.run_then(&x, size, Epilogue::Leaky(0.2));
            size = (oh, ow);
            give(std::mem::replace(&mut x, y));
        }
        let (y, ..) = self.up.run(&x, size);
        give(x);
        let out = shuffle2_bias(&y, self.up.o / 4, size, &self.up_bias);
        give(y);
        out
    }
}

struct FBlock {
    conv0: [FConv; 2],
    res: Vec<FConv>,
    last: FConv,
    last_bias: Vec<f32>,
}

impl FBlock {
    /// `keep`: output maps the block must produce (13: flow 4, mask 1, features 8; the last
    /// block's features are never used, so it keeps 5 and its last conv computes 80 of 208
    /// channels: the maps are a prefix of the conv's channel order).
    fn of(b: &IfBlock, keep: usize) -> Result<Self> {
        let (mut last, mut last_bias) = FConv::of_up2(&b.lastconv)?;
        if keep < 13 {
            let per = last.c * last.k * last.k;
            last.o = keep * 16;
            last.w.truncate(last.o * per);
            last_bias.truncate(keep * 4);
        }
        Ok(Self {
            conv0: [FConv::of(&b.conv0[0])?, FConv::of(&b.conv0[1])?],
            res: b
                .convblock
                .iter()
                .map(|r| FConv::new(&r.conv.w, Some(&r.conv.b), 1, Some(&r.beta)))
                .collect::<Result<_>>()?,
            last,
            last_bias,
        })
    }

    /// Input [cin, sh, sw] → (last conv output [208, hy, wy], (hy, wy)).
    fn forward(&self, x: &[f32], size: (usize, usize)) -> (Vec<f32>, (usize, usize)) {
        let (a, h1, w1) = self.conv0[0].run_then(x, size, Epilogue::Leaky(0.2));
        let (mut f, h2, w2) = self.conv0[1].run_then(&a, (h1, w1), Epilogue::Leaky(0.2));
        give(a);
        for r in &self.res {
            let (y, ..) = r.run_then(&f, (h2, w2), Epilogue::AddLeaky(&f, 0.2));
            give(std::mem::replace(&mut f, y));
        }
        let (y, ..) = self.last.run(&f, (h2, w2));
        give(f);
        (y, (h2, w2))
    }
}

/// The most recent frames' head features for every network in the process ([`Recent`]), keyed
/// by [`feature_key`]: a retime's pairs share a frame, an N× retime runs each pair N−1 times and
/// the stabiliser's flows chain, so the head runs about once per frame instead of twice or more.
/// Four frames (the mirrored ensemble's) within 128 MB, the newest two always.
static FEATURES: Recent<Arc<Vec<f32>>> = Recent::new(4, 128 << 20, |v| v.len() * 4);

/// The feature cache's key of an RGB frame `[3, h, w]` for the head whose weights hash to
/// `head` (the slice's length and the height fix the width).
fn feature_key(head: u64, rgb: &[f32], (h, _w): (usize, usize)) -> u64 {
    hash_f32(head ^ (h as u64).rotate_left(32), rgb)
}

/// IfNet's weights prepared for the CPU path.
pub(super) struct Net {
    head: FHead,
    blocks: Vec<FBlock>,
    /// A hash of the head's weights: the feature cache's key for this network.
    head_key: u64,
}

impl Net {
    pub(super) fn of(net: &IfNet) -> Result<Self> {
        let head = FHead::of(&net.encode)?;
        let head_key = [&head.convs[0], &head.convs[1], &head.convs[2], &head.up]
            .iter()
            .fold(0x4946_4e65, |k, c| {
                hash_f32(hash_f32(k, &c.w), c.b.as_deref().unwrap_or(&[]))
            })
            ^ hash_f32(1, &head.up_bias);
        Ok(Self {
            head,
            head_key,
            blocks: net
                .blocks
                .iter()
                .enumerate()
                .map(|(i, b)| FBlock::of(b, if i + 1 == net.blocks.len() { 5 } else { 13 }))
                .collect::<Result<_>>()?,
        })
    }

    /// The network's estimate for one frame pair: `img0`, `img1` are [c, h, w] (c ≥ 3, RGB
    /// first), h and w multiples of the alignment for `scale`. Returns the state [5, h, w]:
    /// the backward flows from the frame at `t` to `img0` (planes 0, 1: x, y in pixels) and to
    /// `img1` (planes 2, 3), and the blend mask's logit (plane 4; the weight of `img0` is its
    /// sigmoid). A pool buffer: hand it back with `give`.
    ///
    /// `keys`: where the caller already has a key that fixes a frame's RGB values (its
    /// prepared-input key, `super::frame_key`), the head-feature cache uses it instead of
    /// hashing the frame again; `None`: the frame is hashed here.
    pub(super) fn estimate(
        &self,
        img0: &[f32],
        img1: &[f32],
        chw: (usize, usize, usize),
        t: f64,
        scale: f64,
        keys: [Option<u64>; 2],
    ) -> Vec<f32> {
        self.estimate_in(img0, img1, chw, t, scale, Some(&FEATURES), keys)
    }

    /// [`Net::estimate`] with the head features taken from and kept in `cache` (`None`: computed
    /// every time).
    #[allow(clippy::too_many_arguments)]
    fn estimate_in(
        &self,
        img0: &[f32],
        img1: &[f32],
        (c, h, w): (usize, usize, usize),
        t: f64,
        scale: f64,
        cache: Option<&Recent<Arc<Vec<f32>>>>,
        keys: [Option<u64>; 2],
    ) -> Vec<f32> {
        let hw = h * w;
        // Each frame followed by its 4 feature planes: warped together with one flow.
        let with_features = |img: &[f32], frame: Option<u64>| {
            let mut v = take((c + 4) * hw);
            v[..c * hw].copy_from_slice(img);
            let rgb = &img[..3 * hw];
            match cache {
                Some(cache) => {
                    let key = match frame {
                        Some(k) => mix(self.head_key, k),
                        None => feature_key(self.head_key, rgb, (h, w)),
                    };
                    let f = cache.get_or(key, || Arc::new(self.head.forward(rgb, (h, w))));
                    v[c * hw..].copy_from_slice(&f);
                }
                None => {
                    let f = self.head.forward(rgb, (h, w));
                    v[c * hw..].copy_from_slice(&f);
                    give(f);
                }
            }
            v
        };
        let (src0, src1) = rayon::join(
            || with_features(img0, keys[0]),
            || with_features(img1, keys[1]),
        );
        let cs = c + 4;
        // Warped frames + features; partly written at coarse blocks, read only where written.
        let mut w0 = take(cs * hw);
        let mut w1 = take(cs * hw);
        let mut state: Option<Vec<f32>> = None;
        for (i, block) in self.blocks.iter().enumerate() {
            let s = (16 >> i) as f64 / scale;
            let size = (
                (h as f64 / s).round() as usize,
                (w as f64 / s).round() as usize,
            );
            let (a, b) = match &state {
                None => (&src0, &src1),
                Some(st) => {
                    // Only the pixels this block's input resize reads (all of them at s ≤ 2).
                    let (rows, cols) = (read_by_resize(h, size.0), read_by_resize(w, size.1));
                    let at = Some((&rows[..], &cols[..]));
                    let (f0, f1) = (&st[..hw], &st[hw..2 * hw]);
                    warp_planes_at(&src0, (cs, h, w), f0, f1, &mut w0, at);
                    let (f2, f3) = (&st[2 * hw..3 * hw], &st[3 * hw..4 * hw]);
                    warp_planes_at(&src1, (cs, h, w), f2, f3, &mut w1, at);
                    (&w0, &w1)
                }
            };
            let mut srcs: Vec<Src> = Vec::with_capacity(30);
            srcs.extend((0..3).map(|k| plane(a, hw, k, 1.0)));
            srcs.extend((0..3).map(|k| plane(b, hw, k, 1.0)));
            srcs.extend((c..c + 4).map(|k| plane(a, hw, k, 1.0)));
            srcs.extend((c..c + 4).map(|k| plane(b, hw, k, 1.0)));
            srcs.push(Src::Const(t as f32));
            if let Some(st) = &state {
                // mask, block features, then the flow in this block's pixels.
                srcs.extend((4..13).map(|k| plane(st, hw, k, 1.0)));
                srcs.extend((0..4).map(|k| plane(st, hw, k, (1.0 / s) as f32)));
            }
            let x = gather(&srcs, (h, w), size);
            let (y, ysize) = block.forward(&x, size);
            give(x);
            let next = tail(&y, ysize, &block.last_bias, s, (h, w), state.as_deref());
            give(y);
            if let Some(old) = state.replace(next) {
                give(old);
            }
        }
        for v in [src0, src1, w0, w1] {
            give(v);
        }
        let mut st = state.expect("five blocks ran");
        st.truncate(5 * hw);
        st
    }

    /// One frame pair, as RIFE composes it: the estimate, both frames warped by their flows
    /// (bilinear), blended by the sigmoid mask. Returns the frame at `t`, [c, h, w].
    pub(super) fn forward(
        &self,
        img0: &[f32],
        img1: &[f32],
        (c, h, w): (usize, usize, usize),
        t: f64,
        scale: f64,
    ) -> Vec<f32> {
        let st = self.estimate(img0, img1, (c, h, w), t, scale, [None; 2]);
        let out = compose(img0, img1, (c, h, w), &st);
        give(st);
        out
    }
}

/// RIFE's composition: both frames [c, h, w] warped by the state's flows (whole rows: the SIMD
/// warp), blended by the sigmoid of its mask logit.
pub(super) fn compose(
    img0: &[f32],
    img1: &[f32],
    (c, h, w): (usize, usize, usize),
    st: &[f32],
) -> Vec<f32> {
    let hw = h * w;
    let mut w0 = take(c * hw);
    let mut w1 = take(c * hw);
    let (f0, f1) = (&st[..hw], &st[hw..2 * hw]);
    warp_planes(&img0[..c * hw], (c, h, w), f0, f1, &mut w0);
    let (f2, f3) = (&st[2 * hw..3 * hw], &st[3 * hw..4 * hw]);
    warp_planes(&img1[..c * hw], (c, h, w), f2, f3, &mut w1);
    let (a, b, mask) = (&w0, &w1, &st[4 * hw..5 * hw]);
    let mut out = take(c * hw);
    out.par_chunks_mut(w).enumerate().for_each(|(r, row)| {
        let (ch, i) = (r / h, r % h);
        let m = &mask[i * w..][..w];
        let (p, q) = (&a[ch * hw + i * w..][..w], &b[ch * hw + i * w..][..w]);
        for (((o, &m), &p), &q) in row.iter_mut().zip(m).zip(p).zip(q) {
            let sg = 1.0 / (1.0 + (-m).exp());
            *o = p * sg + q * (1.0 - sg);
        }
    });
    give(w0);
    give(w1);
    out
}

/// Side of the box window over which the two warped frames' disagreement is averaged in
/// [`compose_agreeing`].
const AGREE_WINDOW: usize = 5;

/// The composition with the mask relaxed where the two warped frames agree.
///
/// RIFE's mask picks, pixel by pixel, how much of each warped frame to use. Where the two
/// warps agree (no occlusion), both see the same content, and their difference is noise,
/// compression error and warp error: the estimate with the least of those is the average at
/// the time weights (1 − t, t); a mask away from them keeps more of one frame's noise (measured
/// on real clips: −0.4 to −1.4 dB against that average on the slow, noisy and small ones, ~0 on
/// large motion). So the weight of warped `img0` is `g·(1 − t) + (1 − g)·sigmoid(mask)`, with
/// `g = exp(−(d / tol)²)` and `d` the mean absolute RGB difference of the two warps over a
/// [`AGREE_WINDOW`]² box: where they disagree (occlusions, flow errors) the network's mask
/// rules as before.
///
/// Where the motion is small, the two warps are averaged at the time weights whatever their
/// difference ([`Composition::still_motion`]): with `m` the largest total displacement
/// `|flow0| + |flow1|` (pixels) over the same box, `g` is at least `exp(−(m / still)²)`. An
/// occlusion is at most as wide as the motion around it, so there the mask has next to nothing
/// to choose, and what it does choose is mostly one frame's noise and compression error
/// (measured: +0.04 to +0.33 dB on small, near-static and low-resolution clips, nothing lost on
/// large motion). `still` ≤ 0 turns this off; with `tol` ≤ 0 too, this is RIFE's composition.
///
/// `img0`, `img1`: [c, h, w]; `flow`: 4 planes whose first h·w values are the [h, w] flow
/// components, `fs` apart (h·w, or a padded plane's size); `mask`: [h, w] (logits).
#[allow(clippy::too_many_arguments)]
pub(super) fn compose_agreeing(
    img0: &[f32],
    img1: &[f32],
    (c, h, w): (usize, usize, usize),
    (flow, fs): (&[f32], usize),
    mask: &[f32],
    t: f32,
    tol: f32,
    still: f32,
) -> Vec<f32> {
    let hw = h * w;
    let mut w0 = take(c * hw);
    let mut w1 = take(c * hw);
    warp_planes(
        &img0[..c * hw],
        (c, h, w),
        &flow[..hw],
        &flow[fs..fs + hw],
        &mut w0,
    );
    warp_planes(
        &img1[..c * hw],
        (c, h, w),
        &flow[2 * fs..2 * fs + hw],
        &flow[3 * fs..3 * fs + hw],
        &mut w1,
    );
    // Weight of warped img0 per pixel.
    let mut wt = take(hw);
    wt.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        for (o, &m) in row.iter_mut().zip(&mask[i * w..][..w]) {
            *o = 1.0 / (1.0 + (-m).exp());
        }
    });
    let r = (AGREE_WINDOW / 2) as isize;
    let lin = 1.0 - t;
    // Per pixel: the agreement gate's box-averaged disagreement (scaled by 1 / tol) and the
    // largest total motion in the box (scaled by 1 / still).
    let agree = (tol > 0.0).then(|| {
        let mut d = take(hw);
        d.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
            let (a, b) = (&w0[i * w..], &w1[i * w..]);
            let a = (&a[..w], &a[hw..][..w], &a[2 * hw..][..w]);
            let b = (&b[..w], &b[hw..][..w], &b[2 * hw..][..w]);
            for (j, o) in row.iter_mut().enumerate() {
                *o = ((a.0[j] - b.0[j]).abs() + (a.1[j] - b.1[j]).abs() + (a.2[j] - b.2[j]).abs())
                    / 3.0;
            }
        });
        let s = box_filter(
            &d,
            (h, w),
            r,
            |a, b| a + b,
            1.0 / (tol * AGREE_WINDOW.pow(2) as f32),
        );
        give(d);
        s
    });
    let still_gate = (still > 0.0).then(|| {
        let mut m = take(hw);
        m.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
            let f = |p: usize| &flow[p * fs + i * w..][..w];
            let (x0, y0, x1, y1) = (f(0), f(1), f(2), f(3));
            // |v| in double precision, rounded once: what `f32::hypot` computes on glibc (to
            // the bit; within an ulp elsewhere), in a form that vectorises.
            let len = |x: f32, y: f32| {
                let (x, y) = (x as f64, y as f64);
                (x * x + y * y).sqrt() as f32
            };
            for (j, o) in row.iter_mut().enumerate() {
                *o = len(x0[j], y0[j]) + len(x1[j], y1[j]);
            }
        });
        let s = box_filter(&m, (h, w), r, f32::max, 1.0 / still);
        give(m);
        s
    });
    if agree.is_some() || still_gate.is_some() {
        wt.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
            for (j, o) in row.iter_mut().enumerate() {
                let k = i * w + j;
                let gate = |x: &Option<Vec<f32>>| x.as_ref().map_or(0.0, |v| (-v[k] * v[k]).exp());
                let g = gate(&agree).max(gate(&still_gate));
                *o = g * lin + (1.0 - g) * *o;
            }
        });
    }
    for v in [agree, still_gate].into_iter().flatten() {
        give(v);
    }
    let mut out = take(c * hw);
    out.par_chunks_mut(w).enumerate().for_each(|(r, row)| {
        let (ch, i) = (r / h, r % h);
        let m = &wt[i * w..][..w];
        let (p, q) = (&w0[ch * hw + i * w..][..w], &w1[ch * hw + i * w..][..w]);
        for (((o, &m), &p), &q) in row.iter_mut().zip(m).zip(p).zip(q) {
            *o = p * m + q * (1.0 - m);
        }
    });
    for v in [w0, w1, wt] {
        give(v);
    }
    out
}

/// A separable (2r + 1)² box reduction of an [h, w] plane with `op` (sum or max), edges clamped,
/// times `scale`. A pool buffer.
///
/// Each output folds its window's values left to right, first along the row, then down the
/// column; the pixels whose window lies inside the plane take a loop without clamping (over
/// whole rows, so it vectorises), the same fold in the same order.
fn box_filter(
    x: &[f32],
    (h, w): (usize, usize),
    r: isize,
    op: impl Fn(f32, f32) -> f32 + Sync,
    scale: f32,
) -> Vec<f32> {
    let ru = r as usize;
    let mut horiz = take(h * w);
    horiz.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        let src = &x[i * w..][..w];
        let clamped = |j: usize| {
            (-r..=r)
                .map(|dj| src[(j as isize + dj).clamp(0, w as isize - 1) as usize])
                .reduce(&op)
                .unwrap_or(0.0)
        };
        if w <= 2 * ru {
            for (j, o) in row.iter_mut().enumerate() {
                *o = clamped(j);
            }
            return;
        }
        for j in (0..ru).chain(w - ru..w) {
            row[j] = clamped(j);
        }
        // Inside: output j folds src[j − r ..= j + r], i.e. window k of src from j − r.
        let n = w - 2 * ru;
        let out = &mut row[ru..w - ru];
        out.copy_from_slice(&src[..n]);
        for k in 1..=2 * ru {
            for (o, &v) in out.iter_mut().zip(&src[k..k + n]) {
                *o = op(*o, v);
            }
        }
    });
    let mut out = take(h * w);
    out.par_chunks_mut(w).enumerate().for_each(|(i, row)| {
        let rowi = |di: isize| {
            let k = (i as isize + di).clamp(0, h as isize - 1) as usize;
            &horiz[k * w..][..w]
        };
        row.copy_from_slice(rowi(-r));
        for di in -r + 1..=r {
            for (o, &v) in row.iter_mut().zip(rowi(di)) {
                *o = op(*o, v);
            }
        }
        for o in row.iter_mut() {
            *o *= scale;
        }
    });
    give(horiz);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use wick_common::testing::same_bits;

    /// The feature key tells sizes and heads apart.
    #[test]
    fn feature_key_tells_sizes_apart() {
        let v = vec![0.25f32; 3 * 4 * 6];
        let k = feature_key(1, &v, (4, 6));
        assert_ne!(k, feature_key(1, &v, (6, 4)));
        assert_ne!(k, feature_key(2, &v, (4, 6)));
        assert_eq!(k, feature_key(1, &v.clone(), (4, 6)));
    }

    /// The box filter (its inside loop unclamped) equals the clamped fold at every pixel, to the
    /// bit, for sums and maxima, on planes narrower and wider than the window.
    #[test]
    fn box_filter_equals_the_clamped_fold() {
        let naive = |x: &[f32], (h, w): (usize, usize), r: isize, op: &dyn Fn(f32, f32) -> f32| {
            let at = |i: isize, j: isize| {
                x[i.clamp(0, h as isize - 1) as usize * w + j.clamp(0, w as isize - 1) as usize]
            };
            let mut out = vec![0f32; h * w];
            for i in 0..h as isize {
                for j in 0..w as isize {
                    let row = |di: isize| (-r..=r).map(|dj| at(i + di, j + dj)).reduce(op).unwrap();
                    out[i as usize * w + j as usize] = (-r..=r).map(row).reduce(op).unwrap() * 0.37;
                }
            }
            out
        };
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for (h, w) in [(1, 1), (3, 4), (7, 5), (9, 31), (16, 64)] {
            let x: Vec<f32> = (0..h * w).map(|_| rng.gen_range(-0.3..0.7)).collect();
            for r in [1isize, 2] {
                let sum = box_filter(&x, (h, w), r, |a, b| a + b, 0.37);
                let want = naive(&x, (h, w), r, &|a, b| a + b);
                assert!(same_bits(&sum, &want));
                let max = box_filter(&x, (h, w), r, f32::max, 0.37);
                let want = naive(&x, (h, w), r, &f32::max);
                assert!(same_bits(&max, &want));
            }
        }
    }

    /// The motion length in double precision rounded once equals `f32::hypot` (glibc's), so
    /// the still gate's values are unchanged to the bit there.
    #[test]
    fn double_length_equals_hypot() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for k in 0..1_000_000 {
            let s = [0.01f32, 1.0, 30.0, 600.0][k % 4];
            let (x, y): (f32, f32) = (rng.gen_range(-s..s), rng.gen_range(-s..s));
            let d = ((x as f64) * (x as f64) + (y as f64) * (y as f64)).sqrt() as f32;
            let h = x.hypot(y);
            // glibc's hypotf is this computation; other libraries within an ulp.
            if cfg!(all(target_os = "linux", target_env = "gnu")) {
                assert_eq!(d.to_bits(), h.to_bits(), "{x} {y}");
            }
            assert!(d.to_bits().abs_diff(h.to_bits()) <= 1, "{x} {y}");
        }
    }

    /// A frame's features taken from the cache (kept from the previous pair, as in a retime)
    /// give the same estimate, to the bit, as computing them.
    #[test]
    fn cached_features_give_the_same_estimate() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/rife42.safetensors");
        let net = IfNet::load(&path, &Device::Cpu).unwrap();
        let fast = net.fast.as_ref().unwrap();
        let (h, w) = (64, 128);
        let frame = |shift: f32| -> Vec<f32> {
            (0..3 * h * w)
                .map(|k| {
                    let (c, i, j) = (k / (h * w), (k / w) % h, k % w);
                    let x = j as f32 + shift;
                    0.5 + 0.4 * ((x * 0.09 + c as f32).sin() * (i as f32 * 0.07).cos())
                })
                .collect()
        };
        let (a, b, c) = (frame(0.0), frame(4.0), frame(8.0));
        let cache = Recent::new(4, usize::MAX, |_| 0);
        let _ = fast.estimate_in(&a, &b, (3, h, w), 0.5, 1.0, Some(&cache), [None; 2]);
        assert_eq!(cache.keys().len(), 2);
        // b's features come from the cache; c's are computed and kept.
        let cached = fast.estimate_in(&b, &c, (3, h, w), 0.5, 1.0, Some(&cache), [None; 2]);
        assert_eq!(cache.keys().len(), 3);
        let computed = fast.estimate_in(&b, &c, (3, h, w), 0.5, 1.0, None, [None; 2]);
        assert!(same_bits(&cached, &computed));
        assert_eq!(cached.len(), computed.len());
    }
}
