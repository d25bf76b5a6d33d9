//! Training core, independent of any host: losses, a saveable Adam, seeded crop sampling, the
//! training networks and a [`Trainer`] for Wick's three modes:
//!
//! - **pairs** (CopyCat-style): input/target frames → [`img2img::Img2Img`], L1 + perceptual
//!   (SqueezeNet `fire5` features) loss on matching random crops with flips.
//! - **style**: one style image + content frames → [`img2img::Img2Img`], Gram-matrix style loss
//!   on SqueezeNet taps + content loss + total variation.
//! - **generator**: a set of images → a [`gan`] DCGAN or a [`vae::Vae`].
//!
//! Determinism: parameters are drawn from `seed` (ChaCha stream 0), and step `s` draws its crops
//! and noise from stream `s + 1` of the same seed, so a run resumed from a checkpoint written after
//! step `s` (parameters, Adam moments and step count) continues exactly as an uninterrupted run.
//!
//! Files: [`Trainer::save_checkpoint`] writes the model tensors under their plain names, the
//! optimiser state under `opt.<k>.`, `train.step`/`train.seed`, and `wick.arch` (what network
//! it is); the inference loaders ([`load_img2img`], [`load_generator`]) read only what they
//! need, so a checkpoint is also a model file. [`Trainer::save_model`] writes the slim version.

pub mod data;
pub mod gan;
pub mod img2img;
pub mod loss;
pub mod optim;
pub mod params;
pub mod plot;
pub mod vae;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::squeezenet::SqueezeNet;
use crate::weights::{load_safetensors, save_safetensors_atomic, ModelError};
use gan::{softplus, Discriminator, Generator};
use img2img::{Img2Img, ModelSize};
use loss::Perceptual;
use optim::{Adam, AdamConfig};
use params::ParamStore;
use vae::Vae;

/// `wick.arch[0]` of an image-to-image model: `[1, width]`.
pub const ARCH_IMG2IMG: f32 = 1.0;
/// `wick.arch[0]` of a DCGAN: `[2, nz, g, res]`.
pub const ARCH_DCGAN: f32 = 2.0;
/// `wick.arch[0]` of a VAE: `[3, nz, g, res]`.
pub const ARCH_VAE: f32 = 3.0;

/// Encodes a u64 exactly as four f32 16-bit chunks (Wick weight files are f32 only).
pub fn u64_to_tensor(v: u64, dev: &Device) -> Result<Tensor> {
    let c: Vec<f32> = (0..4).map(|i| ((v >> (16 * i)) & 0xffff) as f32).collect();
    Tensor::from_vec(c, 4, dev)
}

/// Inverse of [`u64_to_tensor`].
pub fn tensor_to_u64(t: &Tensor) -> Result<u64> {
    let c = t.flatten_all()?.to_vec1::<f32>()?;
    if c.len() != 4
        || c.iter()
            .any(|&x| !(0.0..65536.0).contains(&x) || x.fract() != 0.0)
    {
        candle_core::bail!("malformed counter tensor {c:?}");
    }
    Ok(c.iter()
        .enumerate()
        .fold(0u64, |acc, (i, &x)| acc | ((x as u64) << (16 * i))))
}

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pairs,
    Style,
    Dcgan,
    Vae,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "pairs" => Some(Mode::Pairs),
            "style" => Some(Mode::Style),
            "dcgan" | "generator" | "gan" => Some(Mode::Dcgan),
            "vae" => Some(Mode::Vae),
            _ => None,
        }
    }
}

/// Hyper-parameters. Start from [`TrainConfig::new`] for a mode's defaults.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub mode: Mode,
    pub seed: u64,
    pub batch: usize,
    /// Crop side for pairs/style; output resolution (32, 64, 128) for dcgan/vae.
    pub crop: usize,
    pub lr: f64,
    /// Image-to-image network size (pairs, style).
    pub model_size: ModelSize,
    /// Latent dims and base width (dcgan, vae).
    pub nz: usize,
    pub width: usize,
    /// pairs: weight of the L1 loss and of the perceptual loss.
    pub l1_weight: f64,
    pub perceptual_weight: f64,
    /// style: weights of content, style and total-variation losses.
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
    /// vae: weight of the KL term.
    pub kl_beta: f64,
    /// Also flip crops vertically (pairs/style).
    pub vflip: bool,
}

impl TrainConfig {
    pub fn new(mode: Mode) -> Self {
        let base = TrainConfig {
            mode,
            seed: 0,
            batch: 4,
            crop: 128,
            lr: 1e-3,
            model_size: ModelSize::Small,
            nz: 64,
            width: 32,
            l1_weight: 1.0,
            perceptual_weight: 0.1,
            content_weight: 1.0,
            style_weight: 1e4,
            tv_weight: 0.05,
            kl_beta: 1.0,
            vflip: false,
        };
        match mode {
            Mode::Pairs | Mode::Style => base,
            Mode::Dcgan => TrainConfig {
                crop: 64,
                batch: 16,
                lr: 2e-4,
                ..base
            },
            Mode::Vae => TrainConfig {
                crop: 64,
                batch: 16,
                ..base
            },
        }
    }
}

/// Training material. Images are RGB 0..1 `[3, H, W]` tensors (any device).
pub enum TrainData {
    /// Inputs and their targets, same sizes pairwise.
    Pairs {
        inputs: Vec<Tensor>,
        targets: Vec<Tensor>,
    },
    /// One style image and content frames.
    Style { style: Tensor, content: Vec<Tensor> },
    /// Images for a generator.
    Images(Vec<Tensor>),
}

/// What one step did.
#[derive(Debug, Clone)]
pub struct StepStats {
    /// Steps done after this one.
    pub step: u64,
    /// The optimised loss (for a GAN: the generator's).
    pub loss: f32,
    /// Named components.
    pub parts: Vec<(&'static str, f32)>,
}

#[allow(clippy::large_enum_variant)] // one per trainer, never moved in a hot loop
enum Net {
    Img(Img2Img),
    Gan(Generator, Discriminator),
    Vae(Vae),
}

/// A training run (see the module docs).
pub struct Trainer {
    pub cfg: TrainConfig,
    device: Device,
    params: ParamStore,
    net: Net,
    opts: Vec<Adam>,
    step: u64,
    images: Vec<Tensor>,
    targets: Vec<Tensor>,
    sizes: Vec<(usize, usize)>,
    perceptual: Option<Perceptual>,
    style_grams: Vec<Tensor>,
}

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::BadInput(msg.into())
}

impl Trainer {
    /// Sets up a run. `loss_net` is required for pairs (when `perceptual_weight > 0`) and style.
    pub fn new(
        cfg: TrainConfig,
        data: TrainData,
        loss_net: Option<Arc<SqueezeNet>>,
        device: &Device,
    ) -> std::result::Result<Self, ModelError> {
        if cfg.batch == 0 {
            return Err(bad("batch must be at least 1"));
        }
        let mut params = ParamStore::new(cfg.seed, device);
        let (images, targets, style) = match (cfg.mode, data) {
            (Mode::Pairs, TrainData::Pairs { inputs, targets }) => {
                if inputs.is_empty() || inputs.len() != targets.len() {
                    return Err(bad(format!(
                        "pairs mode needs as many targets as inputs (got {} and {})",
                        inputs.len(),
                        targets.len()
                    )));
                }
                for (i, (a, b)) in inputs.iter().zip(&targets).enumerate() {
                    if a.dims() != b.dims() {
                        return Err(bad(format!(
                            "pair {i}: input {:?} and target {:?} differ in size",
                            a.dims(),
                            b.dims()
                        )));
                    }
                }
                (inputs, targets, None)
            }
            (Mode::Style, TrainData::Style { style, content }) => {
                if content.is_empty() {
                    return Err(bad("style mode needs at least one content frame"));
                }
                (content, vec![], Some(style))
            }
            (Mode::Dcgan | Mode::Vae, TrainData::Images(images)) => {
                if images.is_empty() {
                    return Err(bad("generator mode needs at least one image"));
                }
                (images, vec![], None)
            }
            (m, _) => return Err(bad(format!("training data does not match mode {m:?}"))),
        };
        let crop = cfg.crop;
        if matches!(cfg.mode, Mode::Pairs | Mode::Style) && (crop < 32 || !crop.is_multiple_of(4)) {
            return Err(bad(format!(
                "crop size must be a multiple of 4 and at least 32, got {crop}"
            )));
        }
        // Bring every image to the device, large enough for the crop (generators: short side =
        // resolution, so a crop is most of the picture).
        let prep = |v: Vec<Tensor>| -> Result<Vec<Tensor>> {
            v.into_iter()
                .map(|t| {
                    let t = t.to_dtype(DType::F32)?.to_device(device)?.contiguous()?;
                    match cfg.mode {
                        Mode::Dcgan | Mode::Vae => data::resize_short_side(&t, crop),
                        _ => data::ensure_min_side(&t, crop),
                    }
                })
                .collect()
        };
        let images = prep(images)?;
        let targets = prep(targets)?;
        let sizes = images
            .iter()
            .map(|t| Ok((t.dim(1)?, t.dim(2)?)))
            .collect::<Result<Vec<_>>>()?;

        let (net, groups): (Net, Vec<&str>) = match cfg.mode {
            Mode::Pairs | Mode::Style => (
                Net::Img(Img2Img::new(&mut params, cfg.model_size)?),
                vec![""],
            ),
            Mode::Dcgan => {
                let g = Generator::new(&mut params, cfg.nz, cfg.width, crop)?;
                let d = Discriminator::new(&mut params, cfg.width, crop)?;
                (Net::Gan(g, d), vec!["g.", "d."])
            }
            Mode::Vae => (
                Net::Vae(Vae::new(&mut params, cfg.nz, cfg.width, crop)?),
                vec![""],
            ),
        };
        let adam = AdamConfig {
            lr: cfg.lr,
            beta1: if cfg.mode == Mode::Dcgan { 0.5 } else { 0.9 },
            ..Default::default()
        };
        let opts = groups
            .iter()
            .map(|p| {
                let vars = params
                    .vars()
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Adam::new(vars, adam)
            })
            .collect::<Result<Vec<_>>>()?;

        let needs_net =
            cfg.mode == Mode::Style || (cfg.mode == Mode::Pairs && cfg.perceptual_weight > 0.0);
        let perceptual = match (needs_net, loss_net) {
            (true, Some(n)) => Some(Perceptual::new(n)),
            (true, None) => return Err(bad("this mode needs the SqueezeNet loss network")),
            (false, _) => None,
        };
        let style_grams = match (&style, &perceptual) {
            (Some(s), Some(p)) => {
                let s = s.to_dtype(DType::F32)?.to_device(device)?;
                let s = data::ensure_min_side(&s, 64)?;
                p.style_targets(&s.unsqueeze(0)?)?
            }
            _ => vec![],
        };
        Ok(Trainer {
            cfg,
            device: device.clone(),
            params,
            net,
            opts,
            step: 0,
            images,
            targets,
            sizes,
            perceptual,
            style_grams,
        })
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.params.count()
    }

    fn step_rng(&self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(self.step + 1);
        rng
    }

    fn normal(&self, rng: &mut ChaCha8Rng, n: usize, d: usize) -> Result<Tensor> {
        let v: Vec<f32> = (0..n * d).map(|_| StandardNormal.sample(rng)).collect();
        Tensor::from_vec(v, (n, d), &self.device)
    }

    /// One optimisation step.
    pub fn step(&mut self) -> std::result::Result<StepStats, ModelError> {
        let mut rng = self.step_rng();
        let c = &self.cfg;
        let specs = data::draw_crops(&mut rng, &self.sizes, c.crop, c.batch, c.vflip);
        let x = data::cut(&self.images, &specs, c.crop, &self.device)?;
        let (loss, parts) = match &self.net {
            Net::Img(net) => {
                let pred = net.forward(&x)?;
                match c.mode {
                    Mode::Pairs => {
                        let y = data::cut(&self.targets, &specs, c.crop, &self.device)?;
                        let l1 = loss::l1(&pred, &y)?;
                        let mut total = (&l1 * c.l1_weight)?;
                        let mut parts = vec![("l1", l1.to_scalar::<f32>()?)];
                        if let Some(p) = &self.perceptual {
                            let pl = p.content(&pred, &y)?;
                            total = (total + (&pl * c.perceptual_weight)?)?;
                            parts.push(("perceptual", pl.to_scalar::<f32>()?));
                        }
                        self.opts[0].step(&total.backward()?)?;
                        (total, parts)
                    }
                    _ => {
                        let p = self.perceptual.as_ref().expect("style mode has a loss net");
                        let (content, style) = p.content_and_style(&pred, &x, &self.style_grams)?;
                        let tv = loss::total_variation(&pred)?;
                        let total = (((&content * c.content_weight)?
                            + (&style * c.style_weight)?)?
                            + (&tv * c.tv_weight)?)?;
                        self.opts[0].step(&total.backward()?)?;
                        let parts = vec![
                            ("content", content.to_scalar::<f32>()?),
                            ("style", style.to_scalar::<f32>()?),
                            ("tv", tv.to_scalar::<f32>()?),
                        ];
                        (total, parts)
                    }
                }
            }
            Net::Gan(g, d) => {
                let real = ((&x * 2.0)? - 1.0)?;
                let z = self.normal(&mut rng, c.batch, c.nz)?;
                let fake = g.forward(&z)?;
                let d_loss = (softplus(&d.forward(&real)?.neg()?)?.mean_all()?
                    + softplus(&d.forward(&fake.detach())?)?.mean_all()?)?;
                self.opts[1].step(&d_loss.backward()?)?;
                let g_loss = softplus(&d.forward(&fake)?.neg()?)?.mean_all()?;
                self.opts[0].step(&g_loss.backward()?)?;
                let dl = d_loss.to_scalar::<f32>()?;
                (
                    g_loss.clone(),
                    vec![("g", g_loss.to_scalar::<f32>()?), ("d", dl)],
                )
            }
            Net::Vae(v) => {
                let eps = self.normal(&mut rng, c.batch, c.nz)?;
                let (total, recon, kl) = v.loss(&x, &eps, c.kl_beta)?;
                self.opts[0].step(&total.backward()?)?;
                (
                    total,
                    vec![
                        ("recon", recon.to_scalar::<f32>()?),
                        ("kl", kl.to_scalar::<f32>()?),
                    ],
                )
            }
        };
        self.step += 1;
        let loss = loss.to_scalar::<f32>()?;
        if !loss.is_finite() {
            return Err(ModelError::BadInput(format!(
                "loss became {loss} at step {}",
                self.step
            )));
        }
        Ok(StepStats {
            step: self.step,
            loss,
            parts,
        })
    }

    fn arch(&self) -> Vec<f32> {
        let c = &self.cfg;
        match c.mode {
            Mode::Pairs | Mode::Style => vec![ARCH_IMG2IMG, c.model_size.width() as f32],
            Mode::Dcgan => vec![ARCH_DCGAN, c.nz as f32, c.width as f32, c.crop as f32],
            Mode::Vae => vec![ARCH_VAE, c.nz as f32, c.width as f32, c.crop as f32],
        }
    }

    fn model_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut t = self.params.tensors();
        t.insert("wick.arch".into(), Tensor::new(self.arch(), &self.device)?);
        Ok(t)
    }

    /// Writes the inference model (parameters + `wick.arch`) atomically.
    pub fn save_model(&self, path: &Path) -> std::result::Result<(), ModelError> {
        save_safetensors_atomic(&self.model_tensors()?, path)
    }

    /// Writes everything needed to resume exactly (parameters, Adam state, step, seed), atomically.
    pub fn save_checkpoint(&self, path: &Path) -> std::result::Result<(), ModelError> {
        let mut t = self.model_tensors()?;
        for (i, o) in self.opts.iter().enumerate() {
            t.extend(o.state(&format!("opt.{i}."))?);
        }
        t.insert("train.step".into(), u64_to_tensor(self.step, &self.device)?);
        t.insert(
            "train.seed".into(),
            u64_to_tensor(self.cfg.seed, &self.device)?,
        );
        save_safetensors_atomic(&t, path)
    }

    /// Restores a checkpoint written by [`Trainer::save_checkpoint`] for the same configuration.
    /// On error the trainer is unchanged only if the file fails validation before any tensor is
    /// set (a file that loads but does not match reports which tensor is wrong).
    pub fn resume(&mut self, path: &Path) -> std::result::Result<(), ModelError> {
        let t = load_safetensors(path, &self.device)?;
        let wrap = |e: candle_core::Error| ModelError::weights(path, e.to_string());
        let arch = t
            .get("wick.arch")
            .ok_or_else(|| {
                ModelError::weights(path, "not a Wick training checkpoint (no wick.arch)")
            })?
            .to_vec1::<f32>()?;
        if arch != self.arch() {
            return Err(ModelError::weights(
                path,
                format!(
                    "checkpoint is for network {arch:?}, this run trains {:?}",
                    self.arch()
                ),
            ));
        }
        let get = |k: &str| {
            t.get(k)
                .ok_or_else(|| ModelError::weights(path, format!("checkpoint has no '{k}'")))
                .and_then(|v| tensor_to_u64(v).map_err(wrap))
        };
        let (step, seed) = (get("train.step")?, get("train.seed")?);
        if seed != self.cfg.seed {
            return Err(ModelError::weights(
                path,
                format!(
                    "checkpoint was trained with seed {seed}, this run uses {}",
                    self.cfg.seed
                ),
            ));
        }
        // Validate everything before changing anything.
        self.check_tensors(&t, path, "checkpoint")?;
        for (i, o) in self.opts.iter_mut().enumerate() {
            o.load_state(&t, &format!("opt.{i}.")).map_err(wrap)?;
        }
        self.params.set_from(&t, "").map_err(wrap)?;
        self.step = step;
        Ok(())
    }

    /// Checks that `t` (read from `path`, described as `what` in errors) holds every trainable
    /// tensor with this network's shape.
    fn check_tensors(
        &self,
        t: &std::collections::HashMap<String, Tensor>,
        path: &Path,
        what: &str,
    ) -> std::result::Result<(), ModelError> {
        for (name, v) in self.params.vars() {
            match t.get(name) {
                Some(x) if x.dims() == v.dims() => {}
                Some(x) => {
                    return Err(ModelError::weights(
                        path,
                        format!(
                            "tensor '{name}' has shape {:?}, expected {:?}",
                            x.dims(),
                            v.dims()
                        ),
                    ))
                }
                None => {
                    return Err(ModelError::weights(
                        path,
                        format!("{what}: no tensor '{name}'"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Starts from the weights of a model (or checkpoint) file written for the same network
    /// (`wick.arch` must match); the optimiser state and step count are untouched. Everything
    /// is validated before any parameter changes.
    pub fn init_from(&mut self, path: &Path) -> std::result::Result<(), ModelError> {
        let t = load_safetensors(path, &self.device)?;
        let arch = read_arch(&t, path)?;
        if arch != self.arch() {
            return Err(ModelError::weights(
                path,
                format!(
                    "initial weights are for network {arch:?}, this run trains {:?}",
                    self.arch()
                ),
            ));
        }
        self.check_tensors(&t, path, "initial weights")?;
        self.params
            .set_from(&t, "")
            .map_err(|e| ModelError::weights(path, e.to_string()))
    }

    /// The current network applied to `x` (pairs/style: RGB 0..1 `[N, 3, H, W]`, any size) or,
    /// for generators, samples from `x` used as latents `[N, nz]`. Output RGB 0..1.
    pub fn preview(&self, x: &Tensor) -> std::result::Result<Tensor, ModelError> {
        Ok(match &self.net {
            Net::Img(n) => n
                .forward_any(&x.to_device(&self.device)?)?
                .clamp(0f32, 1f32)?,
            Net::Gan(g, _) => g.sample(&x.to_device(&self.device)?)?,
            Net::Vae(v) => v.decode(&x.to_device(&self.device)?)?,
        })
    }

    /// A crop batch of the training data as step `at` would draw it: (inputs, targets) for pairs,
    /// (content, content) for style, (images, images) for generators. For contact sheets.
    pub fn sample_batch(&self, at: u64) -> std::result::Result<(Tensor, Tensor), ModelError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(at + 1);
        let specs = data::draw_crops(
            &mut rng,
            &self.sizes,
            self.cfg.crop,
            self.cfg.batch,
            self.cfg.vflip,
        );
        let x = data::cut(&self.images, &specs, self.cfg.crop, &self.device)?;
        let y = if self.targets.is_empty() {
            x.clone()
        } else {
            data::cut(&self.targets, &specs, self.cfg.crop, &self.device)?
        };
        Ok((x, y))
    }
}

fn read_arch(
    t: &HashMap<String, Tensor>,
    path: &Path,
) -> std::result::Result<Vec<f32>, ModelError> {
    Ok(t.get("wick.arch")
        .ok_or_else(|| {
            ModelError::weights(path, "not a Wick trained model (no 'wick.arch' tensor)")
        })?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

/// `wick.arch` of a Wick trained model or checkpoint, read from the file header only; `None`
/// when the file is missing, not safetensors, or has no `wick.arch` (then it is some other kind
/// of model and its own loader reports what is wrong).
pub fn trained_arch(path: &Path) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    let st = safetensors::SafeTensors::deserialize(&bytes).ok()?;
    let v = st.tensor("wick.arch").ok()?;
    if v.dtype() != safetensors::Dtype::F32 {
        return None;
    }
    Some(
        v.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Loads an image-to-image model written by the pairs or style mode.
pub fn load_img2img(path: &Path, device: &Device) -> std::result::Result<Img2Img, ModelError> {
    let t = load_safetensors(path, device)?;
    let arch = read_arch(&t, path)?;
    if arch.len() != 2 || arch[0] != ARCH_IMG2IMG {
        return Err(ModelError::weights(
            path,
            format!("not an image-to-image model (wick.arch {arch:?})"),
        ));
    }
    let size = ModelSize::from_width(arch[1] as usize)
        .ok_or_else(|| ModelError::weights(path, format!("unknown model width {}", arch[1])))?;
    let mut ps = ParamStore::from_tensors(t, device);
    Img2Img::new(&mut ps, size).map_err(|e| ModelError::weights(path, e.to_string()))
}

/// A trained generator: DCGAN or VAE decoder.
pub enum GeneratorModel {
    Dcgan(Generator),
    Vae(Vae),
}

impl GeneratorModel {
    /// Latent dims.
    pub fn nz(&self) -> usize {
        match self {
            GeneratorModel::Dcgan(g) => g.nz,
            GeneratorModel::Vae(v) => v.nz,
        }
    }

    /// Output side in pixels.
    pub fn resolution(&self) -> usize {
        match self {
            GeneratorModel::Dcgan(g) => g.res,
            GeneratorModel::Vae(v) => v.res,
        }
    }

    /// Latents `[N, nz]` → RGB 0..1 `[N, 3, res, res]`.
    pub fn sample(&self, z: &Tensor) -> Result<Tensor> {
        match self {
            GeneratorModel::Dcgan(g) => g.sample(z),
            GeneratorModel::Vae(v) => v.decode(z),
        }
    }
}

/// A trained DCGAN/VAE as a [`crate::generator::Generator`] for `wick.generate`: the sample at
/// the model's resolution, `zoom` > 1 crops its centre (1/zoom of each side), then a bilinear
/// resize to the frame size.
impl crate::generator::Generator for GeneratorModel {
    fn latent_dim(&self) -> usize {
        self.nz()
    }

    fn generate(&self, z: &[f32], width: usize, height: usize, zoom: f64) -> Result<Tensor> {
        let dev = match self {
            GeneratorModel::Dcgan(g) => g.device(),
            GeneratorModel::Vae(v) => v.device(),
        };
        let z = Tensor::from_vec(z.to_vec(), (1, self.nz()), &dev)?;
        let mut img = self.sample(&z)?;
        let res = self.resolution();
        if zoom > 1.0 {
            let side = ((res as f64 / zoom).round() as usize).clamp(1, res);
            let o = (res - side) / 2;
            img = img.narrow(2, o, side)?.narrow(3, o, side)?;
        }
        let img = crate::ops::upsample_bilinear2d(&img.contiguous()?, height, width, false)?;
        img.squeeze(0)?
            .permute((1, 2, 0))?
            .clamp(0f32, 1f32)?
            .contiguous()
    }
}

/// Loads a DCGAN or VAE written by the generator mode (only the sampling half is read).
pub fn load_generator(
    path: &Path,
    device: &Device,
) -> std::result::Result<GeneratorModel, ModelError> {
    let t = load_safetensors(path, device)?;
    let arch = read_arch(&t, path)?;
    if arch.len() != 4 || (arch[0] != ARCH_DCGAN && arch[0] != ARCH_VAE) {
        return Err(ModelError::weights(
            path,
            format!("not a generator model (wick.arch {arch:?})"),
        ));
    }
    let (nz, g, res) = (arch[1] as usize, arch[2] as usize, arch[3] as usize);
    let wrap = |e: candle_core::Error| ModelError::weights(path, e.to_string());
    if arch[0] == ARCH_DCGAN {
        let mut ps = ParamStore::from_tensors(t, device);
        Ok(GeneratorModel::Dcgan(
            Generator::new(&mut ps, nz, g, res).map_err(wrap)?,
        ))
    } else {
        // The VAE constructor builds the encoder too; its tensors are in the file as well.
        let mut ps = ParamStore::from_tensors(t, device);
        Ok(GeneratorModel::Vae(
            Vae::new(&mut ps, nz, g, res).map_err(wrap)?,
        ))
    }
}

/// Tiles `[N, 3, h, w]` images into one `[3, rows·h, cols·w]` sheet (row-major, black fill).
pub fn contact_sheet(images: &Tensor, cols: usize) -> Result<Tensor> {
    let (n, c, h, w) = images.dims4()?;
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let mut out_rows = Vec::with_capacity(rows);
    for r in 0..rows {
        let mut row = Vec::with_capacity(cols);
        for k in 0..cols {
            let i = r * cols + k;
            row.push(if i < n {
                images.get(i)?
            } else {
                Tensor::zeros((c, h, w), images.dtype(), images.device())?
            });
        }
        out_rows.push(Tensor::cat(&row, 2)?);
    }
    Tensor::cat(&out_rows, 1)
}
