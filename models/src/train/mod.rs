//! Training core, independent of any host: losses, a saveable Adam, seeded crop sampling, the
//! training networks, one [`mode::TrainMode`] trait with one file per mode in [`modes`], the
//! generic [`Trainer`] (steps, checkpoints, exact resume) and the [`run`] loop every host uses
//! (data loading, progress, cancel, time budget, checkpoints, loss log, contact sheets, plots).
//!
//! Modes (see [`modes::REGISTRY`]):
//! - **pairs** (CopyCat-style): input/target frames → [`img2img::Img2Img`], L1 + perceptual
//!   (SqueezeNet `fire5` features) loss on matching random crops with flips.
//! - **style**: one style image + content frames → [`img2img::Img2Img`], Gram-matrix style loss
//!   on SqueezeNet taps + content loss + total variation.
//! - **generator** / **vae**: a set of images → a [`gan`] DCGAN or a [`vae::Vae`].
//!
//! Determinism: parameters are drawn from `seed` (ChaCha stream 0), and step `s` draws its crops
//! and noise from stream `s + 1` of the same seed, so a run resumed from a checkpoint written after
//! step `s` (parameters, Adam moments and step count) continues exactly as an uninterrupted run.
//!
//! Files: [`Trainer::save_checkpoint`] writes the model tensors under their plain names, the
//! optimiser state under `opt.<k>.`, `train.step`/`train.seed`, and `wick.arch` (what network
//! it is); the inference loaders ([`load_img2img`], [`load_generator`]) read only what they
//! need, so a checkpoint is also a model file. [`Trainer::save_model`] writes the slim version.

pub mod colour_transfer;
pub mod data;
pub mod dist;
pub mod gan;
pub mod img2img;
pub mod loss;
pub mod mode;
pub mod modes;
pub mod optim;
pub mod params;
pub mod plot;
pub mod run;
pub mod vae;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Result, Tensor};
use once_cell::sync::Lazy;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::squeezenet::SqueezeNet;
use crate::weights::{load_safetensors, save_safetensors_atomic, ModelError};
pub use data::TrainData;
use gan::Generator;
use img2img::{Img2Img, ModelSize};
use mode::{ModeSpec, ParamKind, ParamSpec, Settings, TrainMode};
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
/// What is trained: a mode of [`modes::REGISTRY`], by name. The constants name the built-in
/// modes; any registered mode is reached with [`Mode::parse`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mode(&'static str);

#[allow(non_upper_case_globals)]
impl Mode {
    pub const Pairs: Mode = Mode("pairs");
    pub const Style: Mode = Mode("style");
    pub const Dcgan: Mode = Mode("generator");
    pub const Vae: Mode = Mode("vae");

    /// A registered mode by name or alias.
    pub fn parse(s: &str) -> Option<Mode> {
        modes::REGISTRY
            .iter()
            .find(|m| m.name == s || m.aliases.contains(&s))
            .map(|m| Mode(m.name))
    }

    /// The `mode` param's value.
    pub fn name(self) -> &'static str {
        self.0
    }

    /// The mode's registry entry.
    pub fn spec(self) -> Option<&'static ModeSpec> {
        modes::REGISTRY.iter().copied().find(|m| m.name == self.0)
    }
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The names of the registered modes, in registry order (the `mode` param's choices).
pub fn mode_names() -> &'static [&'static str] {
    static NAMES: Lazy<Vec<&'static str>> =
        Lazy::new(|| modes::REGISTRY.iter().map(|m| m.name).collect());
    &NAMES
}

/// Every param of a training run, in order: the run's own ([`run::RUN_PARAMS`]: data, output,
/// schedule, device), with each registered mode's params after `lr` (shared names once). The
/// `mode`, `input` and `target` helps list what each mode makes of them.
pub fn all_params() -> &'static [ParamSpec] {
    static ALL: Lazy<Vec<ParamSpec>> = Lazy::new(|| {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let mut out: Vec<ParamSpec> = Vec::new();
        for p in run::RUN_PARAMS {
            let mut p = p.clone();
            match p.name {
                "mode" => {
                    let list: Vec<String> = modes::REGISTRY
                        .iter()
                        .map(|m| format!("{}: {}", m.name, m.help))
                        .collect();
                    p.help = leak(format!("{}.", list.join("; ")));
                    p.kind = ParamKind::Enum {
                        choices: mode_names(),
                        default: modes::REGISTRY[0].name,
                    };
                }
                "input" | "target" => {
                    let list: Vec<String> = modes::REGISTRY
                        .iter()
                        .map(|m| {
                            (
                                m.name,
                                if p.name == "input" {
                                    m.input_help
                                } else {
                                    m.target_help
                                },
                            )
                        })
                        .filter(|(_, h)| !h.is_empty())
                        .map(|(n, h)| format!("{n}: {h}"))
                        .collect();
                    p.help = leak(format!("{} {}.", p.help, list.join("; ")));
                }
                _ => {}
            }
            let after_lr = p.name == "lr";
            out.push(p);
            if after_lr {
                for m in modes::REGISTRY {
                    for q in m.params {
                        if !out.iter().any(|o| o.name == q.name)
                            && !run::RUN_PARAMS.iter().any(|o| o.name == q.name)
                        {
                            out.push(q.clone());
                        }
                    }
                }
            }
        }
        out
    });
    &ALL
}

/// Hyper-parameters. Start from [`TrainConfig::new`] for a mode's defaults.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub mode: Mode,
    pub seed: u64,
    pub batch: usize,
    /// Crop side for image modes; output resolution (32, 64, 128) for dcgan/vae.
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
    /// Also flip crops vertically (image modes).
    pub vflip: bool,
    /// Further modes' own settings (by param name; unset ones take the registered default).
    pub extra: Settings,
}

impl TrainConfig {
    pub fn new(mode: Mode) -> Self {
        let mut c = TrainConfig {
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
            extra: Settings::default(),
        };
        if let Some(spec) = mode.spec() {
            (spec.defaults)(&mut c);
        }
        c
    }
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

/// A training run of any mode: the mode's networks, the step count and the seeded streams
/// (see the module docs).
pub struct Trainer {
    pub cfg: TrainConfig,
    device: Device,
    mode: Box<dyn TrainMode>,
    step: u64,
    /// The group of a data-parallel run ([`dist`]); `None` for one process.
    dist: Option<Arc<dist::Dist>>,
}

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::BadInput(msg.into())
}

impl Trainer {
    /// Sets up a run. `loss_net` is required by the modes that need it (pairs with
    /// `perceptual_weight > 0`, style).
    pub fn new(
        cfg: TrainConfig,
        data: TrainData,
        loss_net: Option<Arc<SqueezeNet>>,
        device: &Device,
    ) -> std::result::Result<Self, ModelError> {
        if cfg.batch == 0 {
            return Err(bad("batch must be at least 1"));
        }
        let spec = cfg
            .mode
            .spec()
            .ok_or_else(|| bad(format!("unknown training mode '{}'", cfg.mode.name())))?;
        let loss_net = match ((spec.needs_loss_net)(&cfg), loss_net) {
            (true, None) => return Err(bad("this mode needs the SqueezeNet loss network")),
            (_, n) => n,
        };
        let mode = (spec.build)(&cfg, data, loss_net, device)?;
        Ok(Trainer {
            cfg,
            device: device.clone(),
            mode,
            step: 0,
            dist: None,
        })
    }

    /// Makes this trainer one rank of a data-parallel run (see [`dist`]): its steps train on
    /// the rank's share of each batch and sync with the other ranks. `cfg.batch` is the global
    /// batch and must give every rank at least one item.
    pub fn set_dist(&mut self, d: Option<Arc<dist::Dist>>) -> std::result::Result<(), ModelError> {
        if let Some(d) = &d {
            if self.cfg.batch < d.size {
                return Err(bad(format!(
                    "batch {} is smaller than the {} ranks of this distributed run: the batch is \
                     the global batch, split between the ranks; raise 'batch' to at least {}",
                    self.cfg.batch, d.size, d.size
                )));
            }
        }
        self.dist = d;
        Ok(())
    }

    /// The data-parallel group, if any.
    pub fn dist(&self) -> Option<&Arc<dist::Dist>> {
        self.dist.as_ref()
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// Number of trainable scalars.
    pub fn param_count(&self) -> usize {
        self.mode.params().count()
    }

    /// The stream step `at` draws from (`at` = steps done before it).
    fn rng_at(&self, at: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(at + 1);
        rng
    }

    /// One optimisation step.
    pub fn step(&mut self) -> std::result::Result<StepStats, ModelError> {
        let mut rng = self.rng_at(self.step);
        let dist = self.dist.clone();
        let guard = dist.as_ref().map(|d| d.enter_step(self.cfg.batch));
        let (loss, mut parts) = self.mode.step(&mut rng)?;
        drop(guard);
        self.step += 1;
        let mut loss = loss.to_scalar::<f32>()?;
        if let Some(d) = &dist {
            loss = d.combine(loss, &mut parts, self.cfg.batch)?;
            if d.sync_every > 1 && self.step.is_multiple_of(d.sync_every) {
                d.average_state(self)?;
            }
        }
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
        self.mode.arch()
    }

    fn with_arch(&self, mut t: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
        t.insert("wick.arch".into(), Tensor::new(self.arch(), &self.device)?);
        Ok(t)
    }

    /// Writes the inference model (the mode's model tensors + `wick.arch`) atomically.
    pub fn save_model(&self, path: &Path) -> std::result::Result<(), ModelError> {
        save_safetensors_atomic(&self.with_arch(self.mode.model_tensors())?, path)
    }

    /// Every tensor of a checkpoint: parameters, Adam state (`opt.{i}.`), `train.step`,
    /// `train.seed`, `wick.arch`.
    pub fn checkpoint_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut t = self.with_arch(self.mode.params().tensors())?;
        for (i, o) in self.mode.optimizers().iter().enumerate() {
            t.extend(o.state(&format!("opt.{i}."))?);
        }
        t.insert("train.step".into(), u64_to_tensor(self.step, &self.device)?);
        t.insert(
            "train.seed".into(),
            u64_to_tensor(self.cfg.seed, &self.device)?,
        );
        Ok(t)
    }

    /// Writes everything needed to resume exactly (parameters, Adam state, step, seed), atomically.
    pub fn save_checkpoint(&self, path: &Path) -> std::result::Result<(), ModelError> {
        save_safetensors_atomic(&self.checkpoint_tensors()?, path)
    }

    /// Steps already taken since the last [`dist::Dist::average_state`] of a run that
    /// averages every K steps: brings the ranks together now (before a checkpoint or at the
    /// end). A no-op for one process or gradient sync every step. Collective.
    pub fn sync_ranks(&mut self) -> std::result::Result<(), ModelError> {
        if let Some(d) = self.dist.clone() {
            if d.sync_every > 1 && !self.step.is_multiple_of(d.sync_every) {
                d.average_state(self)?;
            }
        }
        Ok(())
    }

    /// Restores a checkpoint written by [`Trainer::save_checkpoint`] for the same configuration.
    /// On error the trainer is unchanged only if the file fails validation before any tensor is
    /// set (a file that loads but does not match reports which tensor is wrong).
    pub fn resume(&mut self, path: &Path) -> std::result::Result<(), ModelError> {
        let t = load_safetensors(path, &self.device)?;
        self.apply_checkpoint(&t, path)
    }

    /// Sets parameters, optimiser state and step from checkpoint tensors (what
    /// [`Trainer::checkpoint_tensors`] gives) after checking they are this network's;
    /// `path` names their source in errors.
    pub fn apply_checkpoint(
        &mut self,
        t: &HashMap<String, Tensor>,
        path: &Path,
    ) -> std::result::Result<(), ModelError> {
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
        let names: Vec<String> = self.mode.params().vars().keys().cloned().collect();
        self.check_tensors(t, &names, path, "checkpoint")?;
        for (i, o) in self.mode.optimizers_mut().iter_mut().enumerate() {
            o.load_state(t, &format!("opt.{i}.")).map_err(wrap)?;
        }
        self.mode.params().set_from(t, "").map_err(wrap)?;
        self.step = step;
        Ok(())
    }

    /// Checks that `t` (read from `path`, described as `what` in errors) holds each of `names`
    /// with this network's shape.
    fn check_tensors(
        &self,
        t: &HashMap<String, Tensor>,
        names: &[String],
        path: &Path,
        what: &str,
    ) -> std::result::Result<(), ModelError> {
        let vars = self.mode.params().vars();
        for name in names {
            let v = &vars[name];
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
    /// (`wick.arch` must match): the tensors of the mode's model file are set (for most modes
    /// every parameter); the optimiser state and step count are untouched. Everything is
    /// validated before any parameter changes.
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
        let mut names: Vec<String> = self.mode.model_tensors().into_keys().collect();
        names.sort();
        self.check_tensors(&t, &names, path, "initial weights")?;
        let params = self.mode.params();
        params
            .set_some(&t, &names)
            .map_err(|e| ModelError::weights(path, e.to_string()))?;
        // A mode that exports a moving average of its weights (`ema.NAME`) starts it there too.
        let averaged: HashMap<String, Tensor> = names
            .iter()
            .filter(|n| params.vars().contains_key(&format!("ema.{n}")))
            .map(|n| (format!("ema.{n}"), t[n].clone()))
            .collect();
        let keys: Vec<String> = averaged.keys().cloned().collect();
        params
            .set_some(&averaged, &keys)
            .map_err(|e| ModelError::weights(path, e.to_string()))
    }

    /// The current network applied to `x` (image modes: RGB 0..1 `[N, 3, H, W]`, any size) or,
    /// for generators, samples from `x` used as latents `[N, nz]`. Output RGB 0..1.
    pub fn preview(&self, x: &Tensor) -> std::result::Result<Tensor, ModelError> {
        Ok(self.mode.preview(&x.to_device(&self.device)?)?)
    }

    /// A crop batch of the training data as step `at` would draw it: (inputs, targets) for pairs,
    /// (content, content) for style, (images, images) for generators. For contact sheets.
    pub fn sample_batch(&self, at: u64) -> std::result::Result<(Tensor, Tensor), ModelError> {
        Ok(self.mode.sample_batch(&mut self.rng_at(at))?)
    }

    /// The contact sheet of the current model `[3, H, W]` (CPU): image modes show the crops the
    /// next step draws, generators 4×4 fixed-latent samples.
    pub fn sheet(&self) -> std::result::Result<Tensor, ModelError> {
        Ok(self.mode.sheet(&mut self.rng_at(self.step))?)
    }

    /// What a host shows `[1, 3, H, W]`: image modes apply the model to `frame` (or, without
    /// one, to a crop of the first step's batch), generators show a 4×4 sample sheet.
    pub fn picture(&self, frame: Option<&Tensor>) -> std::result::Result<Tensor, ModelError> {
        let frame = frame.map(|f| f.to_device(&self.device)).transpose()?;
        Ok(self.mode.picture(frame.as_ref(), &mut self.rng_at(0))?)
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
    crate::weights::SafetensorsHeader::open(path)
        .ok()?
        .read_small_f32("wick.arch", 64)
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
