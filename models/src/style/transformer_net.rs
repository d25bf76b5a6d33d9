//! The Johnson et al. / pytorch-examples `fast_neural_style` TransformerNet.
//!
//! Layout: reflection-padded convolutions with affine instance norm (eps 1e-5): 9×9 3→32,
//! 3×3/2 32→64, 3×3/2 64→128 (ReLU each); 5 residual blocks (conv-IN-ReLU-conv-IN + input);
//! nearest ×2 + 3×3 128→64, nearest ×2 + 3×3 64→32 (IN, ReLU); 9×9 32→3.
//! Keys are the standard ones (`conv1.conv2d.weight`, `in1.weight`, `res1.conv1.conv2d.weight`,
//! `deconv1.conv2d.weight`, `in4.bias`, `deconv3.conv2d.bias`, ...), so existing `.pth` (PyTorch
//! pickles, read by Candle) and safetensors checkpoints load as they are. Those networks work on
//! 0..255 pixel values; [`TransformerNet::forward`] takes and returns 0..1 and scales around
//! the network (output clamped to 0..1).

use std::path::Path;

use candle_core::{Device, Result, Tensor};
use candle_nn::{init, VarBuilder};

use crate::ops;
use crate::ModelError;

const EPS: f64 = 1e-5;

/// Reflection pad (k/2) and convolution with bias; optional nearest upsampling first.
#[derive(Debug, Clone)]
pub struct ConvLayer {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    upsample: usize,
    band: usize,
}

impl ConvLayer {
    pub fn new(
        vb: VarBuilder,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        upsample: usize,
    ) -> Result<Self> {
        let vb = vb.pp("conv2d");
        let weight =
            vb.get_with_hints((cout, cin, k, k), "weight", init::DEFAULT_KAIMING_NORMAL)?;
        let bias = vb.get_with_hints(cout, "bias", init::ZERO)?;
        Ok(Self {
            weight,
            bias,
            stride,
            upsample,
            band: 0,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = if self.upsample > 1 {
            let (_, _, h, w) = x.dims4()?;
            ops::upsample_nearest2d(x, h * self.upsample, w * self.upsample)?
        } else {
            x.clone()
        };
        let p = self.weight.dim(3)? / 2;
        let x = ops::reflect_pad2d(&x, p, p, p, p)?;
        super::banded_conv2d(&x, &self.weight, Some(&self.bias), self.stride, self.band)
    }
}

/// Affine instance norm (`weight` / `bias` per channel).
#[derive(Debug, Clone)]
pub struct InstanceNorm {
    weight: Tensor,
    bias: Tensor,
}

impl InstanceNorm {
    pub fn new(vb: VarBuilder, c: usize) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(c, "weight", init::ONE)?,
            bias: vb.get_with_hints(c, "bias", init::ZERO)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::instance_norm(x, Some(&self.weight), Some(&self.bias), EPS)
    }
}

/// conv-IN-ReLU-conv-IN plus the input.
#[derive(Debug, Clone)]
pub struct ResidualBlock {
    conv1: ConvLayer,
    in1: InstanceNorm,
    conv2: ConvLayer,
    in2: InstanceNorm,
}

impl ResidualBlock {
    pub fn new(vb: VarBuilder, c: usize) -> Result<Self> {
        Ok(Self {
            conv1: ConvLayer::new(vb.pp("conv1"), c, c, 3, 1, 1)?,
            in1: InstanceNorm::new(vb.pp("in1"), c)?,
            conv2: ConvLayer::new(vb.pp("conv2"), c, c, 3, 1, 1)?,
            in2: InstanceNorm::new(vb.pp("in2"), c)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.in1.forward(&self.conv1.forward(x)?)?.relu()?;
        x + self.in2.forward(&self.conv2.forward(&h)?)?
    }
}

/// The fast-neural-style network.
#[derive(Debug, Clone)]
pub struct TransformerNet {
    down: Vec<(ConvLayer, InstanceNorm)>,
    res: Vec<ResidualBlock>,
    up: Vec<(ConvLayer, InstanceNorm)>,
    out: ConvLayer,
}

impl TransformerNet {
    /// Builds the network from `vb` (a checkpoint, or a `VarMap` for training: weights are then
    /// initialised Kaiming-normal, biases 0, norm scales 1).
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let down = vec![
            (
                ConvLayer::new(vb.pp("conv1"), 3, 32, 9, 1, 1)?,
                InstanceNorm::new(vb.pp("in1"), 32)?,
            ),
            (
                ConvLayer::new(vb.pp("conv2"), 32, 64, 3, 2, 1)?,
                InstanceNorm::new(vb.pp("in2"), 64)?,
            ),
            (
                ConvLayer::new(vb.pp("conv3"), 64, 128, 3, 2, 1)?,
                InstanceNorm::new(vb.pp("in3"), 128)?,
            ),
        ];
        let res = (1..=5)
            .map(|i| ResidualBlock::new(vb.pp(format!("res{i}")), 128))
            .collect::<Result<Vec<_>>>()?;
        let up = vec![
            (
                ConvLayer::new(vb.pp("deconv1"), 128, 64, 3, 1, 2)?,
                InstanceNorm::new(vb.pp("in4"), 64)?,
            ),
            (
                ConvLayer::new(vb.pp("deconv2"), 64, 32, 3, 1, 2)?,
                InstanceNorm::new(vb.pp("in5"), 32)?,
            ),
        ];
        let out = ConvLayer::new(vb.pp("deconv3"), 32, 3, 9, 1, 1)?;
        Ok(Self { down, res, up, out })
    }

    /// Loads a checkpoint: `.safetensors` (validated) or a PyTorch pickle (`.pth`, `.pt`,
    /// `.model`), with the standard key names.
    pub fn load(path: &Path, device: &Device) -> std::result::Result<Self, ModelError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let vb = if ext == "safetensors" {
            crate::weights::var_builder(path, device)?
        } else {
            if !path.exists() {
                return Err(ModelError::weights(path, "file not found"));
            }
            crate::weights::pth_var_builder(path, device)?
        };
        Self::new(vb).map_err(|e| {
            ModelError::weights(path, format!("not a fast-neural-style TransformerNet: {e}"))
        })
    }

    /// Computes each convolution in bands of at most `rows` output rows (0: whole frame);
    /// results are unchanged, peak memory drops.
    pub fn set_tile_rows(&mut self, rows: usize) {
        let convs = self
            .down
            .iter_mut()
            .map(|(c, _)| c)
            .chain(self.up.iter_mut().map(|(c, _)| c));
        for c in convs
            .chain(
                self.res
                    .iter_mut()
                    .flat_map(|r| [&mut r.conv1, &mut r.conv2]),
            )
            .chain([&mut self.out])
        {
            c.band = rows;
        }
    }

    /// The raw network on 0..255 pixel values, as pytorch-examples runs it (no clamp).
    pub fn forward_255(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (c, n) in &self.down {
            x = n.forward(&c.forward(&x)?)?.relu()?;
        }
        for r in &self.res {
            x = r.forward(&x)?;
        }
        for (c, n) in &self.up {
            x = n.forward(&c.forward(&x)?)?.relu()?;
        }
        self.out.forward(&x)
    }

    /// Stylises `[N, 3, H, W]` 0..1 → 0..1 (sizes padded to a multiple of 4 and cropped back).
    pub fn forward(&self, image: &Tensor) -> std::result::Result<Tensor, ModelError> {
        super::check_image(image, 1)?;
        let (x, size) = super::pad_to_multiple(image, 4)?;
        let y = self.forward_255(&(x * 255.0)?)?;
        Ok(super::crop_to(&(y / 255.0)?.clamp(0f32, 1f32)?, size)?)
    }
}
