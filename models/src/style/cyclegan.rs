//! The CycleGAN ResNet generator (Zhu et al. 2017), in the layout of the reference
//! implementation (junyanz/pytorch-CycleGAN-and-pix2pix, `networks.ResnetGenerator`):
//!
//! ```text
//! ReflectionPad(3) · Conv 7×7 3→ngf · IN · ReLU                      model.0 .. model.3
//! Conv 3×3/2 ngf→2ngf · IN · ReLU, Conv 3×3/2 2ngf→4ngf · IN · ReLU   model.4 .. model.9
//! n × ResnetBlock(4ngf): x + [RPad(1) Conv3×3 IN ReLU (Dropout) RPad(1) Conv3×3 IN]
//!                                                                    model.10 .. model.(9+n)
//! ConvT 3×3/2 (out pad 1) 4ngf→2ngf · IN · ReLU, ConvT 2ngf→ngf · IN · ReLU
//!                                                                    model.(10+n) .. (15+n)
//! ReflectionPad(3) · Conv 7×7 ngf→3 · Tanh                            model.(16+n) .. (18+n)
//! ```
//!
//! Instance norm has eps 1e-5 and no affine parameters in the reference (`norm='instance'`);
//! checkpoints from derived projects that use affine norms (e.g. vintagify: `model.2.weight`)
//! load too. Residual blocks are `model.K.conv_block.*` in the reference and `model.K.block.*`
//! in vintagify; with dropout (pix2pix) the second conv is `.6` instead of `.5`. Everything
//! (ngf, block count, affine, names) is read from the checkpoint's keys, `.pth` (PyTorch zip or
//! legacy pickle, read by Candle) or safetensors. Images are 0..1 outside, −1..1 inside
//! (the reference's `Normalize(0.5, 0.5)`); any frame size runs (reflect-padded to a multiple
//! of 4 and cropped back).
//!
//! Wick's `unpaired` training mode trains this same network (small ngf / few blocks) and writes
//! it under the same key names, so trained models load through [`ResnetGenerator::load`].

use std::path::Path;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::ops::{self, Conv2dParams, ConvTranspose2dParams, NormActivation, PadMode};
use crate::ModelError;

const EPS: f64 = 1e-5;

/// `wick.arch[0]` of a generator written by `wick.train mode=unpaired`: `[4, ngf, blocks,
/// residual]`.
pub const RESNET_ARCH: f32 = 4.0;

/// Conv weights N(0, 0.02), biases 0 (the reference's `init_type='normal'`).
const W_INIT: Init = Init::Randn {
    mean: 0.0,
    stdev: 0.02,
};

/// What the checkpoint's keys say about the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Filters of the first layer (64 in the paper).
    pub ngf: usize,
    /// Residual blocks (9 or 6 in the paper).
    pub blocks: usize,
    /// Instance norms with weight/bias.
    pub affine: bool,
    /// `conv_block` (reference) or `block` (vintagify).
    pub block_key: String,
    /// Index of a block's second conv: 5, or 6 with dropout.
    pub second_conv: usize,
    /// Wick's residual variant (`wick.arch` = [4, ngf, blocks, 1]): the output is the input
    /// plus tanh of the last conv, clamped to −1..1 (the range of real frames, so a discriminator
    /// cannot tell fakes by their range), the last conv starting at zero, so training starts from
    /// the untouched frame. The reference (and every pretrained file) has `false`.
    pub residual: bool,
}

impl Layout {
    /// The layout Wick trains: reference names, no affine norms, no dropout.
    pub fn reference(ngf: usize, blocks: usize) -> Self {
        Layout {
            ngf,
            blocks,
            affine: false,
            block_key: "conv_block".into(),
            second_conv: 5,
            residual: false,
        }
    }

    /// Reads the layout from tensor names and the first conv's shape; `None` when the names
    /// are not a ResNet generator's.
    pub fn detect(has: &dyn Fn(&str) -> bool, first_conv: Option<Vec<usize>>) -> Option<Self> {
        let first = first_conv?;
        if first.len() != 4 || first[1] != 3 || first[2] != 7 || first[3] != 7 {
            return None;
        }
        if !has("model.4.weight") || !has("model.7.weight") {
            return None;
        }
        let block_key = ["conv_block", "block"]
            .into_iter()
            .find(|k| has(&format!("model.10.{k}.1.weight")))?;
        let second_conv = if has(&format!("model.10.{block_key}.5.weight")) {
            5
        } else if has(&format!("model.10.{block_key}.6.weight")) {
            6
        } else {
            return None;
        };
        let blocks = (0..)
            .take_while(|i| has(&format!("model.{}.{block_key}.1.weight", 10 + i)))
            .count();
        let l = Layout {
            ngf: first[0],
            blocks,
            affine: has("model.2.weight"),
            block_key: block_key.to_string(),
            second_conv,
            residual: false,
        };
        has(&format!("model.{}.weight", l.last_index())).then_some(l)
    }

    fn up_index(&self, i: usize) -> usize {
        10 + self.blocks + 3 * i
    }

    fn last_index(&self) -> usize {
        17 + self.blocks
    }
}

/// Conv (optionally reflection-padded) with bias.
#[derive(Debug, Clone)]
struct Conv {
    w: Tensor,
    b: Tensor,
    p: Conv2dParams,
    mode: PadMode,
}

impl Conv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        vb: &VarBuilder,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        mode: PadMode,
    ) -> Result<Self> {
        Self::with_init(vb, name, (cin, cout, k), stride, pad, mode, W_INIT)
    }

    fn with_init(
        vb: &VarBuilder,
        name: &str,
        (cin, cout, k): (usize, usize, usize),
        stride: usize,
        pad: usize,
        mode: PadMode,
        init: Init,
    ) -> Result<Self> {
        let vb = vb.pp(name);
        Ok(Conv {
            w: vb.get_with_hints((cout, cin, k, k), "weight", init)?,
            b: vb.get_with_hints(cout, "bias", Init::Const(0.0))?,
            p: Conv2dParams {
                stride,
                padding: pad,
                ..Default::default()
            },
            mode,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::conv2d_padded(x, &self.w, Some(&self.b), self.p, self.mode)
    }
}

/// Instance norm, affine or not, fused with an optional ReLU.
#[derive(Debug, Clone)]
struct Norm(Option<(Tensor, Tensor)>);

impl Norm {
    fn new(vb: &VarBuilder, name: &str, c: usize, affine: bool) -> Result<Self> {
        if !affine {
            return Ok(Norm(None));
        }
        let vb = vb.pp(name);
        Ok(Norm(Some((
            vb.get_with_hints(c, "weight", Init::Const(1.0))?,
            vb.get_with_hints(c, "bias", Init::Const(0.0))?,
        ))))
    }

    fn forward(&self, x: &Tensor, relu: bool) -> Result<Tensor> {
        let act = if relu {
            NormActivation::Relu
        } else {
            NormActivation::Identity
        };
        let (g, b) = match &self.0 {
            Some((g, b)) => (Some(g), Some(b)),
            None => (None, None),
        };
        ops::instance_norm_act(x, g, b, EPS, act)
    }
}

#[derive(Debug, Clone)]
struct Block {
    c1: Conv,
    n1: Norm,
    c2: Conv,
    n2: Norm,
}

impl Block {
    fn new(vb: &VarBuilder, l: &Layout, idx: usize, dim: usize) -> Result<Self> {
        let p = format!("model.{idx}.{}", l.block_key);
        let s = l.second_conv;
        Ok(Block {
            c1: Conv::new(vb, &format!("{p}.1"), dim, dim, 3, 1, 1, PadMode::Reflect)?,
            n1: Norm::new(vb, &format!("{p}.2"), dim, l.affine)?,
            c2: Conv::new(vb, &format!("{p}.{s}"), dim, dim, 3, 1, 1, PadMode::Reflect)?,
            n2: Norm::new(vb, &format!("{p}.{}", s + 1), dim, l.affine)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.n1.forward(&self.c1.forward(x)?, true)?;
        x + self.n2.forward(&self.c2.forward(&h)?, false)?
    }
}

#[derive(Debug, Clone)]
struct Up {
    w: Tensor,
    b: Tensor,
    n: Norm,
}

impl Up {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = ConvTranspose2dParams {
            stride: 2,
            padding: 1,
            output_padding: 1,
            ..Default::default()
        };
        let y = ops::conv_transpose2d(x, &self.w, Some(&self.b), p)?;
        self.n.forward(&y, true)
    }
}

/// The generator (see the module docs).
#[derive(Debug, Clone)]
pub struct ResnetGenerator {
    pub layout: Layout,
    first: (Conv, Norm),
    downs: Vec<(Conv, Norm)>,
    blocks: Vec<Block>,
    ups: Vec<Up>,
    last: Conv,
}

impl ResnetGenerator {
    /// Builds the network from `vb` (a checkpoint, or a training store: conv weights are then
    /// drawn N(0, 0.02), biases 0, norm scales 1).
    pub fn new(vb: VarBuilder, l: &Layout) -> Result<Self> {
        let g = l.ngf;
        let first = (
            Conv::new(&vb, "model.1", 3, g, 7, 1, 3, PadMode::Reflect)?,
            Norm::new(&vb, "model.2", g, l.affine)?,
        );
        let downs = vec![
            (
                Conv::new(&vb, "model.4", g, 2 * g, 3, 2, 1, PadMode::Zero)?,
                Norm::new(&vb, "model.5", 2 * g, l.affine)?,
            ),
            (
                Conv::new(&vb, "model.7", 2 * g, 4 * g, 3, 2, 1, PadMode::Zero)?,
                Norm::new(&vb, "model.8", 4 * g, l.affine)?,
            ),
        ];
        let blocks = (0..l.blocks)
            .map(|i| Block::new(&vb, l, 10 + i, 4 * g))
            .collect::<Result<Vec<_>>>()?;
        let mut ups = Vec::new();
        for (i, (cin, cout)) in [(4 * g, 2 * g), (2 * g, g)].into_iter().enumerate() {
            let k = l.up_index(i);
            let v = vb.pp(format!("model.{k}"));
            ups.push(Up {
                w: v.get_with_hints((cin, cout, 3, 3), "weight", W_INIT)?,
                b: v.get_with_hints(cout, "bias", Init::Const(0.0))?,
                n: Norm::new(&vb, &format!("model.{}", k + 1), cout, l.affine)?,
            });
        }
        let last = Conv::with_init(
            &vb,
            &format!("model.{}", l.last_index()),
            (g, 3, 7),
            1,
            3,
            PadMode::Reflect,
            if l.residual { Init::Const(0.0) } else { W_INIT },
        )?;
        Ok(ResnetGenerator {
            layout: l.clone(),
            first,
            downs,
            blocks,
            ups,
            last,
        })
    }

    /// The layout of a checkpoint file, from its tensor names (safetensors header or `.pth`
    /// pickle only; no weights are read). `None` when it is not a ResNet generator.
    pub fn detect(path: &Path) -> Option<Layout> {
        if is_safetensors(path) {
            // The header alone (and the few bytes of `wick.arch`): no weights are read.
            let mut h = crate::weights::SafetensorsHeader::open(path).ok()?;
            let first = h.tensors.get("model.1.weight").map(|t| t.shape.clone());
            let mut l = Layout::detect(&|n| h.tensors.contains_key(n), first)?;
            let arch = h.read_small_f32("wick.arch", 64).unwrap_or_default();
            l.residual = arch.len() >= 4 && arch[0] == RESNET_ARCH && arch[3] == 1.0;
            Some(l)
        } else {
            let pth = crate::weights::check_pth(path).ok()?;
            let infos = pth.tensor_infos();
            let first = infos
                .get("model.1.weight")
                .map(|i| i.layout.dims().to_vec());
            Layout::detect(&|n| infos.contains_key(n), first)
        }
    }

    /// Loads a generator checkpoint (`.safetensors`, validated, or a PyTorch `.pth`).
    pub fn load(path: &Path, device: &Device) -> std::result::Result<Self, ModelError> {
        if !path.exists() {
            return Err(ModelError::weights(path, "file not found"));
        }
        let layout = Self::detect(path).ok_or_else(|| {
            ModelError::weights(
                path,
                "not a CycleGAN ResNet generator (model.1 … model.N keys)",
            )
        })?;
        let vb = if is_safetensors(path) {
            crate::weights::var_builder(path, device)?
        } else {
            crate::weights::pth_var_builder(path, device)?
        };
        let g = Self::new(vb, &layout).map_err(|e| {
            ModelError::weights(path, format!("not a CycleGAN ResNet generator: {e}"))
        })?;
        if !is_safetensors(path) {
            g.check_finite()
                .map_err(|e| ModelError::weights(path, e.to_string()))?;
        }
        Ok(g)
    }

    fn tensors(&self) -> Vec<&Tensor> {
        let mut v = vec![&self.first.0.w, &self.first.0.b, &self.last.w, &self.last.b];
        for (c, _) in &self.downs {
            v.extend([&c.w, &c.b]);
        }
        for b in &self.blocks {
            v.extend([&b.c1.w, &b.c1.b, &b.c2.w, &b.c2.b]);
        }
        for u in &self.ups {
            v.extend([&u.w, &u.b]);
        }
        v
    }

    /// `.pth` weights are not validated on read (safetensors are): refuse NaN/∞.
    fn check_finite(&self) -> Result<()> {
        for t in self.tensors() {
            let s = t
                .abs()?
                .sum_all()?
                .to_dtype(DType::F32)?
                .to_scalar::<f32>()?;
            if !s.is_finite() {
                candle_core::bail!("the checkpoint holds non-finite weights");
            }
        }
        Ok(())
    }

    /// The raw network: `x` in −1..1 `[N, 3, H, W]`, H and W multiples of 4 → −1..1.
    pub fn forward_raw(&self, x: &Tensor) -> Result<Tensor> {
        let (c, n) = &self.first;
        let mut h = n.forward(&c.forward(x)?, true)?;
        for (c, n) in &self.downs {
            h = n.forward(&c.forward(&h)?, true)?;
        }
        for b in &self.blocks {
            h = b.forward(&h)?;
        }
        for u in &self.ups {
            h = u.forward(&h)?;
        }
        let y = self.last.forward(&h)?;
        if self.layout.residual {
            (x + y.tanh()?)?.clamp(-1f32, 1f32)
        } else {
            y.tanh()
        }
    }

    /// RGB 0..1 `[N, 3, H, W]` of any size (small frames are padded to 8 and cropped back) →
    /// 0..1 of the same size.
    pub fn forward(&self, image: &Tensor) -> std::result::Result<Tensor, ModelError> {
        super::check_image(image, 1)?;
        let (x, size) = super::pad_to_multiple(image, 4)?;
        let y = self.forward_raw(&((x * 2.0)? - 1.0)?)?;
        Ok(super::crop_to(
            &((y + 1.0)? * 0.5)?.clamp(0f32, 1f32)?,
            size,
        )?)
    }
}

fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.eq_ignore_ascii_case("safetensors"))
        .unwrap_or(false)
}
