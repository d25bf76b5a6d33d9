//! SqueezeNet v1.1 (Iandola et al., ImageNet), the loss network for Wick's training modes.
//!
//! Converted from ncnn's `squeezenet_v1.1.{param,bin}` by `tools/squeezenet_convert.py` into
//! `models/weights/squeezenet1_1.safetensors` (tensor names `conv1.weight`,
//! `fire2.squeeze1x1.weight`, …, `conv10.bias`). The network expects BGR in 0..255 minus the
//! mean [104, 117, 123] (the Caffe convention); [`SqueezeNet::preprocess`] turns Wick's RGB 0..1
//! frames into that. Max-pools are 3×3 stride 2 in ceil mode (ncnn's default "full" padding,
//! as Caffe): a 227² input gives 113² after conv1, 56² after pool1, 28² after pool3, 14² after
//! pool5.
//!
//! [`SqueezeNet::features`] returns ReLU outputs at chosen taps and stops after the deepest one,
//! so a loss that only needs `fire5` never runs the classifier. All weights are plain tensors
//! (not `Var`s): gradients flow through the network to its input, never into it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Result, Tensor, D};

use crate::ops::max_pool2d_ceil;
use crate::ops::{self, Conv2dParams};
use crate::weights::{load_safetensors, ModelError};

/// Where a feature is taken: the ReLU output of `conv1`, of a Fire block's concat (`fire2` ..
/// `fire9`), or of `conv10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tap {
    Relu1,
    Fire(u8),
    Conv10,
}

impl Tap {
    /// Order of the tap in the network (0 = conv1, 2..=9 = fires, 10 = conv10).
    fn depth(self) -> u8 {
        match self {
            Tap::Relu1 => 0,
            Tap::Fire(i) => i,
            Tap::Conv10 => 10,
        }
    }

    /// Parses `relu1`, `fire2` .. `fire9`, `conv10`.
    pub fn parse(s: &str) -> std::result::Result<Tap, ModelError> {
        match s {
            "relu1" | "conv1" => Ok(Tap::Relu1),
            "conv10" => Ok(Tap::Conv10),
            _ => s
                .strip_prefix("fire")
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| (2..=9).contains(n))
                .map(Tap::Fire)
                .ok_or_else(|| {
                    ModelError::BadInput(format!(
                        "unknown SqueezeNet tap '{s}' (use relu1, fire2..fire9, conv10)"
                    ))
                }),
        }
    }

    /// Number of channels of this tap's output.
    pub fn channels(self) -> usize {
        match self {
            Tap::Relu1 => 64,
            Tap::Fire(i) => 2 * FIRES[(i - 2) as usize].1,
            Tap::Conv10 => 1000,
        }
    }
}

/// (squeeze, expand) widths of fire2..fire9.
const FIRES: [(usize, usize); 8] = [
    (16, 64),
    (16, 64),
    (32, 128),
    (32, 128),
    (48, 192),
    (48, 192),
    (64, 256),
    (64, 256),
];

struct Conv {
    w: Tensor,
    b: Tensor,
    padding: usize,
    stride: usize,
}

impl Conv {
    fn load(
        t: &HashMap<String, Tensor>,
        path: &Path,
        name: &str,
        shape: (usize, usize, usize),
        stride: usize,
    ) -> std::result::Result<Self, ModelError> {
        let (o, i, k) = shape;
        let get = |suffix: &str, dims: &[usize]| -> std::result::Result<Tensor, ModelError> {
            let key = format!("{name}.{suffix}");
            let v = t
                .get(&key)
                .ok_or_else(|| ModelError::weights(path, format!("missing tensor '{key}'")))?;
            if v.dims() != dims {
                return Err(ModelError::weights(
                    path,
                    format!("tensor '{key}' has shape {:?}, expected {dims:?}", v.dims()),
                ));
            }
            Ok(v.clone())
        };
        // conv1 is unpadded (ncnn `4=0`); the 3×3 expand convs are padded by 1 (`4=1`).
        let padding = if stride == 1 { k / 2 } else { 0 };
        Ok(Conv {
            w: get("weight", &[o, i, k, k])?,
            b: get("bias", &[o])?,
            padding,
            stride,
        })
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = Conv2dParams {
            stride: self.stride,
            padding: self.padding,
            ..Default::default()
        };
        ops::conv2d(x, &self.w, Some(&self.b), p)?.relu()
    }
}

struct Fire {
    squeeze: Conv,
    expand1: Conv,
    expand3: Conv,
}

impl Module for Fire {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = self.squeeze.forward(x)?;
        Tensor::cat(&[self.expand1.forward(&s)?, self.expand3.forward(&s)?], 1)
    }
}

/// SqueezeNet v1.1 with frozen ImageNet weights.
pub struct SqueezeNet {
    conv1: Conv,
    fires: Vec<Fire>,
    conv10: Conv,
    device: Device,
}

/// `models/weights/squeezenet1_1.safetensors` in this source tree.
pub fn default_weights_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("weights")
        .join("squeezenet1_1.safetensors")
}

impl SqueezeNet {
    /// Loads the converted weights, checking every tensor's presence and shape.
    pub fn load(path: &Path, device: &Device) -> std::result::Result<Self, ModelError> {
        let t = load_safetensors(path, device)?;
        let conv1 = Conv::load(&t, path, "conv1", (64, 3, 3), 2)?;
        let mut fires = Vec::with_capacity(8);
        let mut cin = 64;
        for (i, &(sq, ex)) in FIRES.iter().enumerate() {
            let n = format!("fire{}", i + 2);
            fires.push(Fire {
                squeeze: Conv::load(&t, path, &format!("{n}.squeeze1x1"), (sq, cin, 1), 1)?,
                expand1: Conv::load(&t, path, &format!("{n}.expand1x1"), (ex, sq, 1), 1)?,
                expand3: Conv::load(&t, path, &format!("{n}.expand3x3"), (ex, sq, 3), 1)?,
            });
            cin = 2 * ex;
        }
        let conv10 = Conv::load(&t, path, "conv10", (1000, 512, 1), 1)?;
        Ok(SqueezeNet {
            conv1,
            fires,
            conv10,
            device: device.clone(),
        })
    }

    /// Loads [`default_weights_path`].
    pub fn load_default(device: &Device) -> std::result::Result<Self, ModelError> {
        Self::load(&default_weights_path(), device)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// RGB in 0..1, `[N, 3, H, W]` → the network's input: BGR, 0..255, minus the Caffe mean.
    pub fn preprocess(rgb: &Tensor) -> Result<Tensor> {
        let (_, c, _, _) = rgb.dims4()?;
        if c != 3 {
            candle_core::bail!("SqueezeNet input must have 3 channels, got {c}");
        }
        let bgr = rgb
            .contiguous()?
            .index_select(&Tensor::new(&[2u32, 1, 0], rgb.device())?, 1)?;
        let mean = Tensor::new(&[104f32, 117., 123.], rgb.device())?
            .to_dtype(rgb.dtype())?
            .reshape((1, 3, 1, 1))?;
        (bgr * 255.0)?.broadcast_sub(&mean)
    }

    /// ReLU outputs at `taps` (in the order asked), running the network only as deep as needed.
    /// `x` is a preprocessed input (see [`SqueezeNet::preprocess`]), at least 19×19.
    pub fn features(&self, x: &Tensor, taps: &[Tap]) -> Result<Vec<Tensor>> {
        let (_, c, h, w) = x.dims4()?;
        if c != 3 || h < 19 || w < 19 {
            candle_core::bail!(
                "SqueezeNet needs [N, 3, H>=19, W>=19] input, got {:?}",
                x.dims()
            );
        }
        let deepest = taps.iter().map(|t| t.depth()).max().unwrap_or(0);
        let mut got: HashMap<u8, Tensor> = HashMap::new();
        let mut keep = |d: u8, t: &Tensor| {
            if taps.iter().any(|tap| tap.depth() == d) {
                got.insert(d, t.clone());
            }
        };
        let mut h = self.conv1.forward(x)?;
        keep(0, &h);
        if deepest > 0 {
            h = max_pool2d_ceil(&h, 3, 2)?;
            for (i, fire) in self.fires.iter().enumerate() {
                let d = (i + 2) as u8;
                if d > deepest {
                    break;
                }
                h = fire.forward(&h)?;
                keep(d, &h);
                if (d == 3 || d == 5) && d < deepest {
                    h = max_pool2d_ceil(&h, 3, 2)?;
                }
            }
            if deepest == 10 {
                h = self.conv10.forward(&h)?;
                keep(10, &h);
            }
        }
        Ok(taps.iter().map(|t| got[&t.depth()].clone()).collect())
    }

    /// Class logits `[N, 1000]`: conv10's ReLU output averaged over space (before the softmax).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let f = self.features(x, &[Tap::Conv10])?.remove(0);
        f.flatten_from(2)?.mean(D::Minus1)
    }

    /// Top-`k` ImageNet classes of RGB 0..1 images (any size; resized bilinearly to 227²):
    /// for each image, `(class index, probability)` best first.
    pub fn classify(&self, rgb: &Tensor, k: usize) -> Result<Vec<Vec<(usize, f32)>>> {
        let x = ops::upsample_bilinear2d(rgb, 227, 227, false)?;
        let logits = self.forward(&Self::preprocess(&x)?)?;
        let probs = candle_nn::ops::softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
        let probs = probs.to_vec2::<f32>()?;
        Ok(probs
            .into_iter()
            .map(|p| {
                let mut idx: Vec<(usize, f32)> = p.into_iter().enumerate().collect();
                idx.sort_by(|a, b| b.1.total_cmp(&a.1));
                idx.truncate(k);
                idx
            })
            .collect())
    }
}
