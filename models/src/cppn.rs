//! CPPN: a compositional pattern-producing network. A small random-weight MLP evaluated on pixel
//! coordinates (x, y, r) plus a latent z, batched over the whole frame as Candle tensors.
//!
//! Coordinates are normalised by the frame height, so the same network and latent give the same
//! picture at any resolution (a continuous function sampled at pixel centres).

use candle_core::{Device, Module, Result, Tensor, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::generator::Generator;

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Non-linearity of a hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    Sin,
    Gauss,
    Softsign,
}

/// Which activations the layers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationSet {
    /// Each layer draws one of tanh, sin, gauss, softsign from the pattern seed.
    Mixed,
    Tanh,
    Sin,
    Gauss,
}

impl ActivationSet {
    pub const NAMES: [&'static str; 4] = ["mixed", "tanh", "sin", "gauss"];
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "mixed" => Self::Mixed,
            "tanh" => Self::Tanh,
            "sin" => Self::Sin,
            "gauss" => Self::Gauss,
            _ => return None,
        })
    }
}

/// How the network's output becomes colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    Rgb,
    Grey,
    /// One scalar mapped through a cosine palette drawn from the pattern seed.
    Palette,
}

impl ColorMode {
    pub const NAMES: [&'static str; 3] = ["rgb", "grey", "palette"];
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "rgb" => Self::Rgb,
            "grey" => Self::Grey,
            "palette" => Self::Palette,
            _ => return None,
        })
    }
}

/// Structure of a CPPN; everything that decides its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CppnConfig {
    /// Seed of the weights (the "pattern").
    pub pattern: u64,
    /// Hidden layers.
    pub depth: usize,
    /// Units per hidden layer.
    pub width: usize,
    pub activations: ActivationSet,
    pub color: ColorMode,
}

/// Size of the latent vector z.
pub const LATENT_DIM: usize = 8;

/// One dense layer with its activation: a block of the network.
struct Dense {
    w: Tensor,
    b: Tensor,
    act: Option<Activation>,
}

impl Dense {
    fn random(rng: &mut ChaCha8Rng, fan_in: usize, fan_out: usize, gain: f64, act: Option<Activation>, dev: &Device) -> Result<Self> {
        let std = gain / (fan_in as f64).sqrt();
        let w: Vec<f32> = (0..fan_in * fan_out)
            .map(|_| (normal(rng) * std) as f32)
            .collect();
        let b: Vec<f32> = (0..fan_out)
            .map(|_| (normal(rng) * 0.5) as f32)
            .collect();
        Ok(Self {
            w: Tensor::from_vec(w, (fan_in, fan_out), dev)?,
            b: Tensor::from_vec(b, (1, fan_out), dev)?,
            act,
        })
    }
}

impl Dense {
    fn apply_act(&self, y: &Tensor) -> Result<Tensor> {
        match self.act {
            None => Ok(y.clone()),
            Some(Activation::Tanh) => y.tanh(),
            Some(Activation::Sin) => y.sin(),
            Some(Activation::Gauss) => y.sqr()?.neg()?.exp(),
            Some(Activation::Softsign) => y.div(&(y.abs()? + 1.0)?),
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.apply_act(&x.matmul(&self.w)?.broadcast_add(&self.b)?)
    }
}

/// A CPPN with fixed random weights.
pub struct Cppn {
    cfg: CppnConfig,
    /// Weights of z into the first layer (added to its bias).
    wz: Tensor,
    layers: Vec<Dense>,
    out: Dense,
    palette: [[f32; 3]; 4],
    device: Device,
}

impl Cppn {
    pub fn new(cfg: CppnConfig, device: &Device) -> Result<Self> {
        if cfg.depth == 0 || cfg.width == 0 {
            candle_core::bail!("CPPN depth and width must be at least 1");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.pattern ^ 0x5EED_C0DE_CAFE_F00D);
        let pick = |rng: &mut ChaCha8Rng| match cfg.activations {
            ActivationSet::Tanh => Activation::Tanh,
            ActivationSet::Sin => Activation::Sin,
            ActivationSet::Gauss => Activation::Gauss,
            ActivationSet::Mixed => {
                [Activation::Tanh, Activation::Sin, Activation::Gauss, Activation::Softsign]
                    [rng.gen_range(0..4)]
            }
        };
        let gain = 2.2;
        let first_act = pick(&mut rng);
        let mut layers = vec![Dense::random(&mut rng, 3, cfg.width, gain * 1.7, Some(first_act), device)?];
        let wz: Vec<f32> = (0..LATENT_DIM * cfg.width)
            .map(|_| (normal(&mut rng) * 0.9 / (LATENT_DIM as f64).sqrt()) as f32)
            .collect();
        let wz = Tensor::from_vec(wz, (LATENT_DIM, cfg.width), device)?;
        for _ in 1..cfg.depth {
            let act = pick(&mut rng);
            layers.push(Dense::random(&mut rng, cfg.width, cfg.width, gain, Some(act), device)?);
        }
        let n_out = if cfg.color == ColorMode::Rgb { 3 } else { 1 };
        let out = Dense::random(&mut rng, cfg.width, n_out, 2.5, None, device)?;
        let mut palette = [[0f32; 3]; 4];
        for (i, row) in palette.iter_mut().enumerate() {
            for v in row.iter_mut() {
                *v = match i {
                    0 => rng.gen_range(0.35..0.65),
                    1 => rng.gen_range(0.3..0.5),
                    2 => rng.gen_range(0.5..1.5),
                    _ => rng.gen_range(0.0..1.0),
                };
            }
        }
        Ok(Self { cfg, wz, layers, out, palette, device: device.clone() })
    }

    pub fn config(&self) -> &CppnConfig {
        &self.cfg
    }

    /// Coordinates (x, y, r) of every pixel centre, normalised by height and divided by zoom.
    fn coords(&self, width: usize, height: usize, zoom: f64) -> Result<Tensor> {
        let h = height as f64;
        let mut v = Vec::with_capacity(width * height * 3);
        for i in 0..height {
            let y = ((i as f64 + 0.5) / h * 2.0 - 1.0) / zoom;
            for j in 0..width {
                let x = ((j as f64 + 0.5) * 2.0 - width as f64) / h / zoom;
                v.push(x as f32);
                v.push(y as f32);
                v.push((x * x + y * y).sqrt() as f32);
            }
        }
        Tensor::from_vec(v, (width * height, 3), &self.device)
    }

    /// Renders RGB in 0..1 (sRGB-encoded), shape [height, width, 3].
    pub fn render(&self, z: &[f32], width: usize, height: usize, zoom: f64) -> Result<Tensor> {
        if z.len() != LATENT_DIM {
            candle_core::bail!("CPPN latent must have {LATENT_DIM} values, got {}", z.len());
        }
        let z = Tensor::from_slice(z, (1, LATENT_DIM), &self.device)?;
        let zb = z.matmul(&self.wz)?;
        let mut x = self.coords(width, height, zoom)?;
        for (k, layer) in self.layers.iter().enumerate() {
            x = if k == 0 {
                let pre = x.matmul(&layer.w)?.broadcast_add(&layer.b)?.broadcast_add(&zb)?;
                layer.apply_act(&pre)?
            } else {
                layer.forward(&x)?
            };
        }
        let y = self.out.forward(&x)?;
        let rgb = match self.cfg.color {
            ColorMode::Rgb => candle_nn::ops::sigmoid(&y)?,
            ColorMode::Grey => candle_nn::ops::sigmoid(&y)?.repeat((1, 3))?,
            ColorMode::Palette => {
                let s = candle_nn::ops::sigmoid(&y)?; // [N, 1]
                let p = |r: usize| Tensor::from_slice(&self.palette[r], (1, 3), &self.device);
                let phase = s.broadcast_mul(&p(2)?)?.broadcast_add(&p(3)?)?;
                let c = (phase * (2.0 * std::f64::consts::PI))?.cos()?;
                c.broadcast_mul(&p(1)?)?.broadcast_add(&p(0)?)?.clamp(0f32, 1f32)?
            }
        };
        rgb.reshape((height, width, 3))
    }
}

impl Generator for Cppn {
    fn latent_dim(&self) -> usize {
        LATENT_DIM
    }
    fn generate(&self, z: &[f32], width: usize, height: usize, zoom: f64) -> Result<Tensor> {
        self.render(z, width, height, zoom)
    }
}

/// Mean over the frame of each channel; used by tests to compare renders at different sizes.
pub fn channel_means(rgb: &Tensor) -> Result<Vec<f32>> {
    rgb.flatten_to(1)?.mean(D::Minus2)?.to_vec1()
}
