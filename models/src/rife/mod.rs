//! RIFE 4.2x-class frame interpolation (IFNet) in Candle.
//!
//! IFNet estimates, for a time `t` between two frames, the backward flows from the wanted frame
//! to each input frame plus a blend mask, coarse to fine: a small feature head encodes each frame
//! (4 channels at full resolution), then five `IFBlock`s run at 1/16 … 1/1 of the flow resolution
//! (`scale` lowers it further, like RIFE's `--scale` for 4K), each refining the flow from the
//! frames and features warped by the previous estimate. The time is fed as a constant input
//! channel, so any `t` in (0, 1) works, not only 0.5.
//!
//! Architecture learned from saibyo 0.14.0 `saibyo/modules/interpolation/ifnet.py` (RIFE by
//! hzwer, MIT); this is an independent implementation on Wick's op layer.

use std::path::Path;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use crate::ops::{self, conv2d, warp::backward_warp, Conv2dParams};
use crate::recent::{hash_f32, Recent};
use crate::ModelError;

pub mod cuts;
mod fast;
pub mod noise;

/// Default [`Composition::tolerance`] (0..1 colour units): where the two warped frames differ
/// by less than about this, they are averaged at the time weights instead of the network's mask.
/// Chosen on real clips (BENCHMARKS.md, Interpolation): 0.125 (32/255) gained +0.1 to +1.3 dB on
/// slow, noisy, compressed and small clips and cost ≤ 0.03 dB on large motion.
pub const DEFAULT_TOLERANCE: f32 = 0.125;

/// Default [`Composition::still_motion`] (pixels): where the total motion around a pixel is
/// below about this, the two warped frames are averaged at the time weights. Chosen on real
/// clips (BENCHMARKS.md, Interpolation): 4 px gained +0.04 to +0.33 dB on small, near-static and
/// low-resolution clips at no loss on large motion (8 px: −0.02 dB on bikes).
pub const DEFAULT_STILL_MOTION: f32 = 4.0;

/// Default [`Composition::prefilter`] (σ, pixels): off. Measured on real clips (BENCHMARKS.md,
/// Interpolation), σ = 1 gained +0.2 dB on sensor noise (a real static-camera clip and
/// synthetic noise) and +0.5 dB on a slow hand-held clip, but lost 0.36 dB on a clean,
/// detailed one; `wick.interpolate` chooses it per frame pair by default
/// ([`noise::auto_prefilter`]).
pub const DEFAULT_PREFILTER: f32 = 0.0;

/// How the frame at `t` is made from the network's estimate (see `fast::compose_agreeing`):
/// the network sees the frames blurred by `prefilter` (motion only: the result is composed from
/// the sharp frames); RIFE's per-pixel mask is relaxed toward the time weights (1 − t, t) where
/// the two warps agree within `tolerance` or where the motion around the pixel is below
/// `still_motion` pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Composition {
    /// Agreement tolerance, 0..1 colour units; 0 = off.
    pub tolerance: f32,
    /// Still-motion radius in pixels (both flows' lengths summed, largest over a 5×5 box);
    /// 0 = off.
    pub still_motion: f32,
    /// σ in pixels of the Gaussian blur of the frames the network estimates motion on (noise
    /// and compression blocks make a sharp-frame estimate jitter); 0 = off.
    pub prefilter: f32,
}

impl Composition {
    /// RIFE's own composition: the network's mask everywhere, on the frames as they are.
    pub const RIFE: Self = Self {
        tolerance: 0.0,
        still_motion: 0.0,
        prefilter: 0.0,
    };

    fn is_rife(&self) -> bool {
        self.tolerance <= 0.0 && self.still_motion <= 0.0 && self.prefilter <= 0.0
    }
}

impl Default for Composition {
    fn default() -> Self {
        Self {
            tolerance: DEFAULT_TOLERANCE,
            still_motion: DEFAULT_STILL_MOTION,
            prefilter: DEFAULT_PREFILTER,
        }
    }
}

/// A Gaussian blur of σ `sigma` pixels (taps to 3σ, edges repeated) of every channel of an
/// NCHW tensor; the tensor itself for σ ≤ 0.
pub fn gaussian_blur(x: &Tensor, sigma: f32) -> Result<Tensor> {
    if sigma <= 0.0 {
        return Ok(x.clone());
    }
    let c = x.dim(1)?;
    let r = (3.0 * sigma).ceil() as usize;
    let taps: Vec<f32> = (0..=2 * r)
        .map(|i| {
            let d = i as f32 - r as f32;
            (-0.5 * d * d / (sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = taps.iter().sum();
    let k = 2 * r + 1;
    let kernel: Vec<f32> = (0..c)
        .flat_map(|_| {
            taps.iter()
                .flat_map(|a| taps.iter().map(move |b| a * b / (sum * sum)))
        })
        .collect();
    let w = Tensor::from_vec(kernel, (c, 1, k, k), x.device())?.to_dtype(x.dtype())?;
    let p = Conv2dParams {
        stride: 1,
        padding: r,
        dilation: 1,
        groups: c,
    };
    ops::conv2d_padded(x, &w, None, p, ops::PadMode::Replicate)
}

/// Channels of each block's hidden features, coarse to fine (RIFE 4.2x).
const BLOCK_CHANNELS: [usize; 5] = [192, 128, 96, 64, 32];
/// Input channels of block 0 (two RGB frames, two 4-channel features, time) and of the others
/// (plus mask 1, block features 8 and the current flow 4).
const BLOCK0_IN: usize = 3 + 3 + 4 + 4 + 1;
const BLOCK_IN: usize = BLOCK0_IN + 1 + 8 + 4;

fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    x.maximum(&(x * 0.2)?)
}

/// A convolution with bias.
struct Conv {
    w: Tensor,
    b: Tensor,
    p: Conv2dParams,
}

impl Conv {
    fn new(vb: VarBuilder, cin: usize, cout: usize, k: usize, stride: usize) -> Result<Self> {
        let w = vb.get((cout, cin, k, k), "weight")?;
        let b = vb.get(cout, "bias")?;
        let p = Conv2dParams {
            stride,
            padding: k / 2,
            dilation: 1,
            groups: 1,
        };
        Ok(Self { w, b, p })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        conv2d(x, &self.w, Some(&self.b), self.p)
    }
}

/// A 4×4, stride-2, padding-1 transposed convolution (exact 2× upsampling) with bias.
///
/// Run as its sub-pixel equivalent: output pixel (2m + a, 2n + b) depends only on input pixels
/// m-1..m+1, n-1..n+1 through 4 of the 16 taps, so the four output phases are one 3×3 conv
/// (padding 1, 4·Cout outputs, unused taps zero) followed by a pixel shuffle. Same result as
/// `ops::conv_transpose2d` up to rounding; it runs on the (im2col + GEMM) conv2d path.
struct Up2 {
    w3: Tensor,
    b: Tensor,
}

/// Row (or column) `d` of the 3×3 kernel (input offset d - 1) for output phase `a`: the tap of
/// the 4×4 transposed kernel it uses, if any. From o = 2 i - 1 + k with o = 2 m + a, i = m + d - 1.
fn up2_tap(a: usize, d: usize) -> Option<usize> {
    match (a, d) {
        (0, 0) => Some(3),
        (0, 1) => Some(1),
        (1, 1) => Some(2),
        (1, 2) => Some(0),
        _ => None,
    }
}

impl Up2 {
    fn new(vb: VarBuilder, cin: usize, cout: usize) -> Result<Self> {
        let wt = vb.get((cin, cout, 4, 4), "weight")?;
        let b = vb.get(cout, "bias")?;
        let dev = wt.device().clone();
        let src = wt.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        // w3[o, a, b, c, dy, dx], reshaped to [cout * 4, cin, 3, 3] (pixel-shuffle channel order).
        let mut w3 = vec![0f32; cout * 4 * cin * 9];
        for o in 0..cout {
            for a in 0..2 {
                for bb in 0..2 {
                    for c in 0..cin {
                        for dy in 0..3 {
                            for dx in 0..3 {
                                if let (Some(ky), Some(kx)) = (up2_tap(a, dy), up2_tap(bb, dx)) {
                                    let dst =
                                        ((((o * 2 + a) * 2 + bb) * cin + c) * 3 + dy) * 3 + dx;
                                    w3[dst] = src[((c * cout + o) * 4 + ky) * 4 + kx];
                                }
                            }
                        }
                    }
                }
            }
        }
        let w3 = Tensor::from_vec(w3, (cout * 4, cin, 3, 3), &dev)?.to_dtype(wt.dtype())?;
        Ok(Self { w3, b })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = Conv2dParams {
            stride: 1,
            padding: 1,
            dilation: 1,
            groups: 1,
        };
        let y = pixel_shuffle(&conv2d(x, &self.w3, None, p)?, 2)?;
        let c = self.b.dim(0)?;
        y.broadcast_add(&self.b.reshape((1, c, 1, 1))?)
    }
}

/// Rearranges [N, C·r², H, W] to [N, C, H·r, W·r] (PyTorch `PixelShuffle`).
fn pixel_shuffle(x: &Tensor, r: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let oc = c / (r * r);
    x.reshape((n, oc, r, r, h, w))?
        .permute((0, 1, 4, 2, 5, 3))?
        .reshape((n, oc, h * r, w * r))
}

/// The feature head: frame [N, 3, H, W] → features [N, 4, H, W].
struct Head {
    cnn0: Conv,
    cnn1: Conv,
    cnn2: Conv,
    cnn3: Up2,
}

impl Head {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            cnn0: Conv::new(vb.pp("cnn0"), 3, 16, 3, 2)?,
            cnn1: Conv::new(vb.pp("cnn1"), 16, 16, 3, 1)?,
            cnn2: Conv::new(vb.pp("cnn2"), 16, 16, 3, 1)?,
            cnn3: Up2::new(vb.pp("cnn3"), 16, 4)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = leaky_relu(&self.cnn0.forward(x)?)?;
        let x = leaky_relu(&self.cnn1.forward(&x)?)?;
        let x = leaky_relu(&self.cnn2.forward(&x)?)?;
        self.cnn3.forward(&x)
    }
}

/// `relu(conv(x) * beta + x)`.
struct ResConv {
    conv: Conv,
    beta: Tensor,
}

impl ResConv {
    fn new(vb: VarBuilder, c: usize) -> Result<Self> {
        Ok(Self {
            conv: Conv::new(vb.pp("conv"), c, c, 3, 1)?,
            beta: vb.get((1, c, 1, 1), "beta")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        leaky_relu(&(self.conv.forward(x)?.broadcast_mul(&self.beta)? + x)?)
    }
}

/// One coarse-to-fine stage: works at 1/`s` resolution (two stride-2 convs take it to 1/(4s)),
/// returns flow [N, 4, H, W] (pixels at full resolution), mask logits [N, 1, H, W] and features
/// [N, 8, H, W].
struct IfBlock {
    conv0: [Conv; 2],
    convblock: Vec<ResConv>,
    lastconv: Up2,
}

struct BlockOut {
    flow: Tensor,
    mask: Tensor,
    feat: Tensor,
}

impl IfBlock {
    fn new(vb: VarBuilder, cin: usize, c: usize) -> Result<Self> {
        let conv0 = [
            Conv::new(vb.pp("conv0.0.0"), cin, c / 2, 3, 2)?,
            Conv::new(vb.pp("conv0.1.0"), c / 2, c, 3, 2)?,
        ];
        let convblock = (0..8)
            .map(|i| ResConv::new(vb.pp(format!("convblock.{i}")), c))
            .collect::<Result<_>>()?;
        let lastconv = Up2::new(vb.pp("lastconv.0"), c, 4 * 13)?;
        Ok(Self {
            conv0,
            convblock,
            lastconv,
        })
    }

    /// `x` and `flow` are at full (padded) resolution `h × w`, which is a multiple of `4 s`.
    fn forward(&self, x: &Tensor, flow: Option<&Tensor>, s: f64) -> Result<BlockOut> {
        let (_, _, h, w) = x.dims4()?;
        let (sh, sw) = (
            (h as f64 / s).round() as usize,
            (w as f64 / s).round() as usize,
        );
        let mut x = ops::upsample_bilinear2d(x, sh, sw, false)?;
        if let Some(f) = flow {
            let f = (ops::upsample_bilinear2d(f, sh, sw, false)? * (1.0 / s))?;
            x = Tensor::cat(&[&x, &f], 1)?;
        }
        let mut feat = leaky_relu(&self.conv0[0].forward(&x)?)?;
        feat = leaky_relu(&self.conv0[1].forward(&feat)?)?;
        for r in &self.convblock {
            feat = r.forward(&feat)?;
        }
        let tmp = pixel_shuffle(&self.lastconv.forward(&feat)?, 2)?;
        let tmp = ops::upsample_bilinear2d(&tmp, h, w, false)?;
        Ok(BlockOut {
            flow: (tmp.narrow(1, 0, 4)? * s)?,
            mask: tmp.narrow(1, 4, 1)?,
            feat: tmp.narrow(1, 5, 8)?,
        })
    }
}

/// The RIFE 4.2x IFNet.
pub struct IfNet {
    encode: Head,
    blocks: Vec<IfBlock>,
    /// The weights prepared for the fused CPU path (built when the weights are on the CPU).
    fast: Option<fast::Net>,
}

/// Smallest size `a` such that `a * scale` is a multiple of 64, so that every block's resize is
/// exact at that flow scale: 64 for scale 1, 128 for 0.5, 256 for 0.25. Frames are padded to a
/// multiple of it. Errors for a scale outside (0, 1] or one without an alignment ≤ 4096.
pub fn alignment(scale: f64) -> std::result::Result<usize, ModelError> {
    if !(scale > 0.0 && scale <= 1.0) {
        return Err(ModelError::BadInput(format!(
            "scale {scale} must be in (0, 1]"
        )));
    }
    (1..=4096usize)
        .find(|&a| {
            let v = a as f64 * scale / 64.0;
            v.round() >= 1.0 && (v - v.round()).abs() < 1e-6
        })
        .ok_or_else(|| {
            ModelError::BadInput(format!(
                "scale {scale} needs an alignment above 4096 px; use a simpler fraction such as 0.25, 0.5, 0.75 or 1"
            ))
        })
}

impl IfNet {
    /// Builds the network from a `VarBuilder` over RIFE's state-dict names (`encode.*`,
    /// `block0.*` … `block4.*`).
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let encode = Head::new(vb.pp("encode"))?;
        let blocks = BLOCK_CHANNELS
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let cin = if i == 0 { BLOCK0_IN } else { BLOCK_IN };
                IfBlock::new(vb.pp(format!("block{i}")), cin, c)
            })
            .collect::<Result<_>>()?;
        let mut net = Self {
            encode,
            blocks,
            fast: None,
        };
        if vb.device().is_cpu() {
            net.fast = Some(fast::Net::of(&net)?);
        }
        Ok(net)
    }

    /// Loads Wick's converted safetensors weights (e.g. `models/weights/rife42.safetensors`).
    pub fn load(path: &Path, device: &Device) -> std::result::Result<Self, ModelError> {
        let vb = crate::weights::var_builder(path, device)?;
        Self::new(vb).map_err(|e| ModelError::weights(path, format!("not RIFE 4.2x weights: {e}")))
    }

    /// Loads the original PyTorch checkpoint (`flownet.pkl`) through Candle's pickle reader.
    pub fn load_pth(path: &Path, device: &Device) -> std::result::Result<Self, ModelError> {
        let tensors = read_pth_state_dict(path)?;
        let map = tensors
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_device(device)?)))
            .collect::<Result<std::collections::HashMap<_, _>>>()?;
        let vb = VarBuilder::from_tensors(map, DType::F32, device);
        Self::new(vb).map_err(|e| ModelError::weights(path, format!("not RIFE 4.2x weights: {e}")))
    }

    /// The network proper. `img0`, `img1`: [N, C, H, W] with C ≥ 3 (RGB first; further channels
    /// such as alpha are warped and blended with the same flows and mask), values 0..1, H and W
    /// multiples of [`alignment`]`(scale)`. Returns the frame at time `t` (0 = img0, 1 = img1),
    /// [N, C, H, W], not clamped.
    pub fn forward(&self, img0: &Tensor, img1: &Tensor, t: f64, scale: f64) -> Result<Tensor> {
        let cpu_f32 = |x: &Tensor| x.device().is_cpu() && x.dtype() == DType::F32;
        match &self.fast {
            Some(f) if cpu_f32(img0) && cpu_f32(img1) && img0.dims() == img1.dims() => {
                let (n, c, h, w) = img0.dims4()?;
                // Borrow the frames' CPU storage (no copy when they are contiguous).
                let (img0, img1) = (img0.contiguous()?, img1.contiguous()?);
                let (s0, l0) = img0.storage_and_layout();
                let (s1, l1) = img1.storage_and_layout();
                let a = ops::cpu::storage_slice::<f32>(&s0, l0, "img0")?;
                let b = ops::cpu::storage_slice::<f32>(&s1, l1, "img1")?;
                let per = c * h * w;
                let mut out = Vec::with_capacity(n * per);
                for i in 0..n {
                    let (x0, x1) = (&a[i * per..][..per], &b[i * per..][..per]);
                    out.extend(f.forward(x0, x1, (c, h, w), t, scale));
                }
                Tensor::from_vec(out, (n, c, h, w), img0.device())
            }
            _ => self.forward_tensors(img0, img1, t, scale),
        }
    }

    /// [`IfNet::forward`] written with tensor ops (any device; the reference for the fused CPU
    /// path, which `forward` takes for f32 frames on the CPU).
    #[doc(hidden)]
    pub fn forward_tensors(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
    ) -> Result<Tensor> {
        let e = self.estimate_tensors(img0, img1, t, scale)?;
        compose_tensors(img0, img1, &e)
    }

    /// [`IfNet::estimate_aligned`] written with tensor ops.
    fn estimate_tensors(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
    ) -> Result<Estimate> {
        let (n, _, h, w) = img0.dims4()?;
        let rgb0 = img0.narrow(1, 0, 3)?;
        let rgb1 = img1.narrow(1, 0, 3)?;
        let time = Tensor::full(t as f32, (n, 1, h, w), img0.device())?.to_dtype(img0.dtype())?;
        let f0 = self.encode.forward(&rgb0)?;
        let f1 = self.encode.forward(&rgb1)?;
        let mut state: Option<BlockOut> = None;
        let (mut wi0, mut wi1) = (rgb0.clone(), rgb1.clone());
        for (i, block) in self.blocks.iter().enumerate() {
            let s = (16 >> i) as f64 / scale;
            let out = match &state {
                None => {
                    let x = Tensor::cat(&[&rgb0, &rgb1, &f0, &f1, &time], 1)?;
                    block.forward(&x, None, s)?
                }
                Some(prev) => {
                    let fl0 = prev.flow.narrow(1, 0, 2)?;
                    let fl1 = prev.flow.narrow(1, 2, 2)?;
                    let wf0 = backward_warp(&f0, &fl0)?;
                    let wf1 = backward_warp(&f1, &fl1)?;
                    let x =
                        Tensor::cat(&[&wi0, &wi1, &wf0, &wf1, &time, &prev.mask, &prev.feat], 1)?;
                    let d = block.forward(&x, Some(&prev.flow), s)?;
                    BlockOut {
                        flow: (&prev.flow + d.flow)?,
                        mask: d.mask,
                        feat: d.feat,
                    }
                }
            };
            if i + 1 < self.blocks.len() {
                wi0 = backward_warp(&rgb0, &out.flow.narrow(1, 0, 2)?)?;
                wi1 = backward_warp(&rgb1, &out.flow.narrow(1, 2, 2)?)?;
            }
            state = Some(out);
        }
        let last = state.expect("five blocks ran");
        Ok(Estimate {
            flow: last.flow,
            mask: last.mask,
        })
    }

    /// The network's estimate for frames whose size is a multiple of [`alignment`]`(scale)`
    /// (CPU f32 frames take the fused path). See [`Estimate`].
    pub fn estimate_aligned(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
    ) -> Result<Estimate> {
        self.estimate_aligned_keyed(img0, img1, t, scale, [None; 2])
    }

    /// [`IfNet::estimate_aligned`] with each frame's [`frame_key`] where the caller has it (one
    /// frame pair): the fused path keys its head-feature cache by it instead of hashing the
    /// frames again.
    fn estimate_aligned_keyed(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
        keys: [Option<u64>; 2],
    ) -> Result<Estimate> {
        let cpu_f32 = |x: &Tensor| x.device().is_cpu() && x.dtype() == DType::F32;
        match &self.fast {
            Some(f) if cpu_f32(img0) && cpu_f32(img1) && img0.dims() == img1.dims() => {
                let (n, c, h, w) = img0.dims4()?;
                let (img0, img1) = (img0.contiguous()?, img1.contiguous()?);
                let (s0, l0) = img0.storage_and_layout();
                let (s1, l1) = img1.storage_and_layout();
                let a = ops::cpu::storage_slice::<f32>(&s0, l0, "img0")?;
                let b = ops::cpu::storage_slice::<f32>(&s1, l1, "img1")?;
                let (per, hw) = (c * h * w, h * w);
                let (mut flow, mut mask) =
                    (Vec::with_capacity(n * 4 * hw), Vec::with_capacity(n * hw));
                for i in 0..n {
                    let st = f.estimate(
                        &a[i * per..][..per],
                        &b[i * per..][..per],
                        (c, h, w),
                        t,
                        scale,
                        if n == 1 { keys } else { [None; 2] },
                    );
                    flow.extend_from_slice(&st[..4 * hw]);
                    mask.extend_from_slice(&st[4 * hw..5 * hw]);
                    ops::buffers::give(st);
                }
                Ok(Estimate {
                    flow: Tensor::from_vec(flow, (n, 4, h, w), img0.device())?,
                    mask: Tensor::from_vec(mask, (n, 1, h, w), img0.device())?,
                })
            }
            _ => self.estimate_tensors(img0, img1, t, scale),
        }
    }

    /// The network's estimate for two frames of any size (checked, padded to the alignment by
    /// repeating the edge, cropped back). Composing it with the unpadded frames equals composing
    /// the padded ones and cropping: the warp clamps at the border, and the padding repeats it.
    pub fn estimate(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
    ) -> std::result::Result<Estimate, ModelError> {
        self.estimate_prefiltered(img0, img1, t, scale, 0.0)
    }

    /// [`IfNet::estimate`] on the frames blurred by a Gaussian of σ `prefilter` pixels
    /// ([`Composition::prefilter`]; 0 = the frames as they are).
    pub fn estimate_prefiltered(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
        prefilter: f32,
    ) -> std::result::Result<Estimate, ModelError> {
        let (_, _, h, w) = check_pair(img0, img1, t)?;
        let (e, _) = self.estimate_padded(img0, img1, (h, w), t, scale, prefilter)?;
        Ok(e.cropped(h, w)?)
    }

    /// [`IfNet::estimate_prefiltered`] before the crop, for a pair [`check_pair`] passed (frames
    /// `h × w`): the estimate at the padded size, which it also returns. Each frame's network
    /// input (its blurred, padded RGB) is kept by the frame's values for the frame's next pairs
    /// ([`PREPARED`]).
    fn estimate_padded(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        (h, w): (usize, usize),
        t: f64,
        scale: f64,
        prefilter: f32,
    ) -> std::result::Result<(Estimate, (usize, usize)), ModelError> {
        let (ph, pw) = padded_size((h, w), scale)?;
        let make =
            |x: &Tensor| pad_edges(&gaussian_blur(&x.narrow(1, 0, 3)?, prefilter)?, (ph, pw));
        let prepared = |x: &Tensor, key: Option<u64>| -> Result<Tensor> {
            match key {
                Some(key) => PREPARED.get_or_try(key, || make(x)),
                None => make(x),
            }
        };
        let keys = [
            frame_key(img0, (prefilter, ph, pw))?,
            frame_key(img1, (prefilter, ph, pw))?,
        ];
        let (p0, p1) = (prepared(img0, keys[0])?, prepared(img1, keys[1])?);
        let e = self.estimate_aligned_keyed(&p0, &p1, t, scale, keys)?;
        Ok((e, (ph, pw)))
    }

    /// Interpolates two frames of any size: checks the inputs, pads right/bottom to the
    /// network's alignment for `scale` by repeating the edge (RIFE's inference pads with zeros),
    /// runs [`IfNet::forward`] and crops back. `t` in [0, 1]; `scale` in (0, 1] (1 = full-resolution flow, 0.5 or 0.25 for
    /// 2K/4K frames).
    pub fn interpolate(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
    ) -> std::result::Result<Tensor, ModelError> {
        let (_, _, h, w) = check_pair(img0, img1, t)?;
        let size = padded_size((h, w), scale)?;
        let out = self.forward(&pad_edges(img0, size)?, &pad_edges(img1, size)?, t, scale)?;
        Ok(out.narrow(2, 0, h)?.narrow(3, 0, w)?)
    }
}

impl IfNet {
    /// Interpolates two frames of any size like [`IfNet::interpolate`], but composes the
    /// network's estimate with the mask relaxed toward the time weights where the two warped
    /// frames agree or the motion is small ([`Composition`]; `fast::compose_agreeing`);
    /// [`Composition::RIFE`] is [`IfNet::interpolate`]. Runs the composition on the CPU
    /// whatever the device.
    pub fn interpolate_fused(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
        comp: Composition,
    ) -> std::result::Result<Tensor, ModelError> {
        if comp.is_rife() {
            return self.interpolate(img0, img1, t, scale);
        }
        let (n, c, h, w) = check_pair(img0, img1, t)?;
        let (e, (ph, pw)) = self.estimate_padded(img0, img1, (h, w), t, scale, comp.prefilter)?;
        // Where only rows were padded (one frame pair), each estimate plane's first h rows are
        // the frame's: composed in place, with the padded plane's stride. Else cropped.
        let (e, ps) = if pw == w && n == 1 {
            (e, ph * w)
        } else {
            (e.cropped(h, w)?, h * w)
        };
        // On the CPU, f32 and contiguous (the usual case) the data are borrowed, not copied.
        let cpu = |x: &Tensor| -> Result<Tensor> {
            x.to_device(&Device::Cpu)?
                .to_dtype(DType::F32)?
                .contiguous()
        };
        let (a, b, flow, mask) = (cpu(img0)?, cpu(img1)?, cpu(&e.flow)?, cpu(&e.mask)?);
        let guards = [&a, &b, &flow, &mask].map(|t| t.storage_and_layout());
        let view =
            |k: usize| ops::cpu::storage_slice::<f32>(&guards[k].0, guards[k].1, "interpolate");
        let (a, b, flow, mask) = (view(0)?, view(1)?, view(2)?, view(3)?);
        let (per, hw) = (c * h * w, h * w);
        let mut out = Vec::with_capacity(n * per);
        for i in 0..n {
            let y = fast::compose_agreeing(
                &a[i * per..][..per],
                &b[i * per..][..per],
                (c, h, w),
                (&flow[i * 4 * ps..][..4 * ps], ps),
                &mask[i * ps..][..hw],
                t as f32,
                comp.tolerance,
                comp.still_motion,
            );
            out.extend_from_slice(&y);
            ops::buffers::give(y);
        }
        Ok(Tensor::from_vec(out, (n, c, h, w), &Device::Cpu)?.to_device(img0.device())?)
    }

    /// [`IfNet::interpolate`] run both ways — (img0, img1, t) and (img1, img0, 1 − t) — and
    /// averaged: a time-symmetric estimate (like RIFE's former `ensemble` option) at twice the
    /// cost. `comp` as in [`IfNet::interpolate_fused`].
    pub fn interpolate_symmetric(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
        comp: Composition,
    ) -> std::result::Result<Tensor, ModelError> {
        // The two passes are independent: run side by side (fills the cores better than one
        // pass's per-op parallelism alone).
        let (fwd, bwd) = rayon::join(
            || self.interpolate_fused(img0, img1, t, scale, comp),
            || self.interpolate_fused(img1, img0, 1.0 - t, scale, comp),
        );
        Ok(((fwd? + bwd?)? * 0.5)?)
    }

    /// [`IfNet::interpolate`] or [`IfNet::interpolate_symmetric`], and with `mirror` also run on
    /// the left-right mirrored frames (mirrored back) and averaged with it: a test-time ensemble
    /// at twice the cost again. `comp` as in [`IfNet::interpolate_fused`].
    #[allow(clippy::too_many_arguments)]
    pub fn interpolate_ensemble(
        &self,
        img0: &Tensor,
        img1: &Tensor,
        t: f64,
        scale: f64,
        symmetric: bool,
        mirror: bool,
        comp: Composition,
    ) -> std::result::Result<Tensor, ModelError> {
        let one = |a: &Tensor, b: &Tensor| {
            if symmetric {
                self.interpolate_symmetric(a, b, t, scale, comp)
            } else {
                self.interpolate_fused(a, b, t, scale, comp)
            }
        };
        if !mirror {
            return one(img0, img1);
        }
        let (y, ym) = rayon::join(
            || one(img0, img1),
            || -> std::result::Result<Tensor, ModelError> {
                Ok(flip_width(&one(&flip_width(img0)?, &flip_width(img1)?)?)?)
            },
        );
        Ok(((y? + ym?)? * 0.5)?)
    }
}

/// A frame size padded up to the network's [`alignment`] for `scale`.
fn padded_size(
    (h, w): (usize, usize),
    scale: f64,
) -> std::result::Result<(usize, usize), ModelError> {
    let a = alignment(scale)?;
    Ok((h.div_ceil(a) * a, w.div_ceil(a) * a))
}

/// `x` ([N, C, H, W]) padded right and bottom to `ph × pw` by repeating the edge, every channel
/// (RIFE's own inference zero-pads colour; repeating the edge keeps black from bleeding into the
/// bottom/right rows where the flow samples the padding: 0.11 dB better on the bikes clip), so
/// an opaque frame stays opaque. `x` itself where it has that size.
fn pad_edges(x: &Tensor, (ph, pw): (usize, usize)) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if (ph, pw) == (h, w) {
        return Ok(x.clone());
    }
    ops::pad2d(x, 0, pw - w, 0, ph - h, ops::PadMode::Replicate)
}

/// Each frame's network input (RGB blurred by the prefilter, padded to the alignment) by
/// [`frame_key`], kept for the frame's next pairs (see [`crate::recent`]): four frames within
/// 256 MB.
static PREPARED: Recent<Tensor> = Recent::new(4, 256 << 20, |t| t.elem_count() * 4);

/// The key of a single CPU f32 frame `[1, c ≥ 3, h, w]`'s RGB values under `(prefilter, ph,
/// pw)`: it fixes the frame's prepared network input and so that input's head features
/// (`fast::Net::estimate`'s `keys`); `None` for other tensors (not kept).
fn frame_key(x: &Tensor, (prefilter, ph, pw): (f32, usize, usize)) -> Result<Option<u64>> {
    let (n, c, h, w) = x.dims4()?;
    if n != 1 || c < 3 || !x.device().is_cpu() || x.dtype() != DType::F32 {
        return Ok(None);
    }
    let (st, l) = x.storage_and_layout();
    let Ok(v) = ops::cpu::storage_slice::<f32>(&st, l, "frame") else {
        return Ok(None);
    };
    let seed = (prefilter.to_bits() as u64) ^ ((ph as u64) << 20) ^ ((pw as u64) << 40);
    Ok(Some(hash_f32(seed ^ h as u64, &v[..3 * h * w])))
}

/// What IFNet estimates for a frame pair at a time `t`.
pub struct Estimate {
    /// [N, 4, H, W]: the backward flows, in pixels, from the frame at `t` to `img0` (channels
    /// 0, 1: x, y) and to `img1` (channels 2, 3).
    pub flow: Tensor,
    /// [N, 1, H, W]: the blend mask's logit; its sigmoid is the weight of warped `img0`.
    pub mask: Tensor,
}

impl Estimate {
    /// The estimate's top-left `h × w` (a padded frame pair's estimate cropped back).
    fn cropped(self, h: usize, w: usize) -> Result<Self> {
        let crop = |x: Tensor| x.narrow(2, 0, h)?.narrow(3, 0, w)?.contiguous();
        Ok(Self {
            flow: crop(self.flow)?,
            mask: crop(self.mask)?,
        })
    }
}

/// RIFE's composition of an estimate: both frames warped by their flows (bilinear), blended by
/// the sigmoid mask.
fn compose_tensors(img0: &Tensor, img1: &Tensor, e: &Estimate) -> Result<Tensor> {
    let wi0 = backward_warp(img0, &e.flow.narrow(1, 0, 2)?)?;
    let wi1 = backward_warp(img1, &e.flow.narrow(1, 2, 2)?)?;
    let mask = candle_nn::ops::sigmoid(&e.mask)?;
    let one_minus = mask.affine(-1.0, 1.0)?;
    wi0.broadcast_mul(&mask)? + wi1.broadcast_mul(&one_minus)?
}

/// Checks a frame pair for [`IfNet::interpolate`] / [`IfNet::estimate`]; returns its shape.
fn check_pair(
    img0: &Tensor,
    img1: &Tensor,
    t: f64,
) -> std::result::Result<(usize, usize, usize, usize), ModelError> {
    let bad = |m: String| Err(ModelError::BadInput(m));
    let (n, c, h, w) = img0
        .dims4()
        .map_err(|_| ModelError::BadInput(format!("img0 must be NCHW, got {:?}", img0.dims())))?;
    if img1.dims() != img0.dims() {
        return bad(format!(
            "frames differ in shape: {:?} vs {:?}",
            img0.dims(),
            img1.dims()
        ));
    }
    if c < 3 {
        return bad(format!("frames need at least 3 channels (RGB), got {c}"));
    }
    if n == 0 || h == 0 || w == 0 {
        return bad(format!("empty frame {:?}", img0.dims()));
    }
    if !(0.0..=1.0).contains(&t) {
        return bad(format!("t {t} must be in [0, 1]"));
    }
    if img0.dtype() != DType::F32 || img1.dtype() != DType::F32 {
        return bad(format!("frames must be f32, got {:?}", img0.dtype()));
    }
    Ok((n, c, h, w))
}

/// Mirrors an NCHW tensor left-right.
fn flip_width(x: &Tensor) -> Result<Tensor> {
    let w = x.dim(3)?;
    let idx: Vec<u32> = (0..w as u32).rev().collect();
    x.contiguous()?
        .index_select(&Tensor::from_vec(idx, w, x.device())?, 3)
}

/// Reads RIFE's state dict from a PyTorch checkpoint with Candle's pickle reader, keeping the
/// tensors IFNet uses (`encode.*`, `block*`; training-only `teacher.*`/`caltime.*` are dropped)
/// and stripping a `module.` prefix (checkpoints saved from DataParallel carry it).
pub fn read_pth_state_dict(path: &Path) -> std::result::Result<Vec<(String, Tensor)>, ModelError> {
    crate::weights::check_pth(path)?;
    let all = candle_core::pickle::read_all(path)
        .map_err(|e| ModelError::weights(path, format!("cannot read PyTorch checkpoint: {e}")))?;
    let mut out = Vec::new();
    for (k, t) in all {
        let k = k.strip_prefix("module.").map(str::to_string).unwrap_or(k);
        if k.starts_with("encode.") || k.starts_with("block") {
            out.push((k, t.to_dtype(DType::F32)?.contiguous()?));
        }
    }
    if out.is_empty() {
        return Err(ModelError::weights(
            path,
            "no IFNet tensors (encode.*, block*) in checkpoint",
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{conv_transpose2d, ConvTranspose2dParams};
    use crate::testing::max_abs;

    /// The fused CPU path (`IfNet::forward` on f32 CPU frames) against the tensor-op path, on a
    /// smooth moving pattern with an alpha channel, at flow scale 1 and 0.5; and at scale 1 on
    /// sides that are multiples of 32 but not 64 (the temporal stabiliser's input,
    /// `temporal::NET_ALIGN`), where the coarsest block's grid is rounded.
    #[test]
    fn fast_path_matches_tensor_path() {
        let dev = Device::Cpu;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/rife42.safetensors");
        let net = IfNet::load(&path, &dev).unwrap();
        assert!(net.fast.is_some());
        // (height, width) and the (t, scale) runs at that size.
        type Case = ((usize, usize), &'static [(f64, f64)]);
        let cases: [Case; 2] = [
            ((128, 256), &[(0.5, 1.0), (0.3, 0.5)]),
            ((96, 160), &[(0.5, 1.0)]),
        ];
        for ((h, w), runs) in cases {
            let frame = |shift: f32| {
                let mut v = Vec::with_capacity(4 * h * w);
                for c in 0..4 {
                    for i in 0..h {
                        for j in 0..w {
                            let (x, y) = (j as f32 + shift, i as f32 - 0.5 * shift);
                            v.push(match c {
                                3 => ((x * 0.05).sin() * 0.5 + 0.5).clamp(0.0, 1.0),
                                _ => 0.5 + 0.4 * ((x * 0.07 + c as f32).sin() * (y * 0.05).cos()),
                            });
                        }
                    }
                }
                Tensor::from_vec(v, (1, 4, h, w), &dev).unwrap()
            };
            let (a, b) = (frame(0.0), frame(6.0));
            for &(t, scale) in runs {
                let fast = net.forward(&a, &b, t, scale).unwrap();
                let slow = net.forward_tensors(&a, &b, t, scale).unwrap();
                let err = max_abs(&fast, &slow);
                println!("fast vs tensor path, {h}x{w}, t {t}, scale {scale}: max abs {err:.2e}");
                assert!(err < 1e-4, "{h}x{w} t {t} scale {scale}: max abs {err}");
            }
        }
    }

    /// The agreement composition: tolerance 0 is RIFE's composition exactly; a frame with itself
    /// comes back (identity); on a moving pattern it stays close to RIFE's (the warps agree, so
    /// only the mask moves toward the time weights); the still-motion gate blends a static pair
    /// at the time weights.
    #[test]
    fn fused_composition() {
        let dev = Device::Cpu;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/rife42.safetensors");
        let net = IfNet::load(&path, &dev).unwrap();
        let (h, w) = (72usize, 100usize);
        let frame = |shift: f32| {
            let v: Vec<f32> = (0..3 * h * w)
                .map(|k| {
                    let (c, i, j) = (k / (h * w), (k / w) % h, k % w);
                    let x = j as f32 + shift;
                    0.5 + 0.4 * ((x * 0.11 + c as f32).sin() * (i as f32 * 0.09).cos())
                })
                .collect();
            Tensor::from_vec(v, (1, 3, h, w), &dev).unwrap()
        };
        let (a, b) = (frame(0.0), frame(3.0));
        let rife = net.interpolate(&a, &b, 0.4, 1.0).unwrap();
        let zero = net
            .interpolate_fused(&a, &b, 0.4, 1.0, Composition::RIFE)
            .unwrap();
        assert_eq!(max_abs(&rife, &zero), 0.0);
        let agree = Composition {
            still_motion: 0.0,
            prefilter: 0.0,
            ..Composition::default()
        };
        let fused = net.interpolate_fused(&a, &b, 0.4, 1.0, agree).unwrap();
        let d = max_abs(&rife, &fused);
        println!("fused vs RIFE composition on a moving pattern: max abs {d:.2e}");
        assert!(d > 0.0 && d < 0.05, "{d}");
        let same = net
            .interpolate_fused(&a, &a, 0.4, 1.0, Composition::default())
            .unwrap();
        let e = max_abs(&same, &a);
        println!("a frame with itself: max abs {e:.2e}");
        assert!(e < 4e-3, "{e}"); // about 1/255: the flow of a frame with itself is ~0, not 0
                                  // Still motion: a static pair that differs only by fine noise (flows ~0) comes back as
                                  // the blend at the time weights, whatever the mask says; with the gate off it does not.
                                  // Fixed noise (a seeded xorshift, uniform with sigma 0.03), so the bound below is checked
                                  // on the same pair every run: Tensor::randn draws from an unseeded generator.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<f32> = (0..3 * h * w)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let u = (state >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
                (u * 2.0 - 1.0) * 0.03 * 3f32.sqrt()
            })
            .collect();
        let noise = Tensor::from_vec(noise, (1, 3, h, w), &dev).unwrap();
        let noisy = (&a + noise).unwrap();
        let blend = ((&a * 0.6).unwrap() + (&noisy * 0.4).unwrap()).unwrap();
        let still = Composition {
            tolerance: 0.0,
            still_motion: DEFAULT_STILL_MOTION,
            prefilter: 1.0,
        };
        let got = net.interpolate_fused(&a, &noisy, 0.4, 1.0, still).unwrap();
        let rife = net
            .interpolate_fused(&a, &noisy, 0.4, 1.0, Composition::RIFE)
            .unwrap();
        let (e_still, e_rife) = (max_abs(&got, &blend), max_abs(&rife, &blend));
        println!(
            "static noisy pair vs time-weighted blend: still gate {e_still:.2e}, RIFE {e_rife:.2e}"
        );
        let mean_abs = |x: &Tensor| {
            let d = (x - &blend).unwrap().abs().unwrap();
            d.mean_all().unwrap().to_scalar::<f32>().unwrap()
        };
        let (m_still, m_rife) = (mean_abs(&got), mean_abs(&rife));
        println!("  mean abs: still gate {m_still:.2e}, RIFE {m_rife:.2e}");
        assert!(
            e_still < 0.03 && e_still < 0.6 * e_rife && m_still < 0.5 * m_rife,
            "max {e_still} vs {e_rife}, mean {m_still} vs {m_rife}"
        );
    }

    /// The prefilter: a constant frame stays constant (edges repeated), an impulse spreads into
    /// a normalised Gaussian, σ 0 is the identity.
    #[test]
    fn gaussian_prefilter() {
        let dev = Device::Cpu;
        let flat = Tensor::full(0.3f32, (1, 3, 20, 24), &dev).unwrap();
        assert!(max_abs(&gaussian_blur(&flat, 1.0).unwrap(), &flat) < 1e-6);
        let mut v = vec![0f32; 21 * 21];
        v[10 * 21 + 10] = 1.0;
        let imp = Tensor::from_vec(v, (1, 1, 21, 21), &dev).unwrap();
        let b = gaussian_blur(&imp, 1.0).unwrap();
        let sum = b.sum_all().unwrap().to_scalar::<f32>().unwrap();
        let px = |i: usize, j: usize| {
            b.get(0)
                .unwrap()
                .get(0)
                .unwrap()
                .get(i)
                .unwrap()
                .get(j)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert!((sum - 1.0).abs() < 1e-5, "{sum}");
        // Separable Gaussian: centre (1/Σ)², one step off × e^(-1/2).
        let ratio = px(10, 11) / px(10, 10);
        assert!((ratio - (-0.5f32).exp()).abs() < 1e-5, "{ratio}");
        assert_eq!(max_abs(&gaussian_blur(&imp, 0.0).unwrap(), &imp), 0.0);
    }

    #[test]
    fn up2_equals_transposed_conv() {
        let dev = Device::Cpu;
        let (cin, cout) = (5, 3);
        let w = Tensor::randn(0f32, 1.0, (cin, cout, 4, 4), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, cout, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, cin, 6, 7), &dev).unwrap();
        let map = [
            ("weight".to_string(), w.clone()),
            ("bias".to_string(), b.clone()),
        ];
        let vb = VarBuilder::from_tensors(map.into_iter().collect(), DType::F32, &dev);
        let up = Up2::new(vb, cin, cout).unwrap();
        let p = ConvTranspose2dParams {
            stride: 2,
            padding: 1,
            output_padding: 0,
            dilation: 1,
        };
        let want = conv_transpose2d(&x, &w, Some(&b), p).unwrap();
        let got = up.forward(&x).unwrap();
        assert_eq!(got.dims(), want.dims());
        let err = max_abs(&got, &want);
        assert!(err < 1e-4, "max abs {err}");
    }
}
