//! The training modes, one file each, and the registry hosts read them from.
//!
//! To add a mode: write `modes/NAME.rs` with a `pub static SPEC: ModeSpec` and a type
//! implementing [`TrainMode`], declare the module here and add `&NAME::SPEC` to [`REGISTRY`].
//! The `wick.train` node, `wick train` and `wick nodes` pick up its name, help and params from
//! the spec; the run loop loads its data per [`super::mode::DataKind`].

pub mod dcgan;
pub mod pairs;
pub mod style;
pub mod unpaired;
pub mod vae;

use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::mode::{ModeSpec, ParamKind, ParamSpec, Settings, TrainMode};
use super::optim::{Adam, AdamConfig};
use super::params::ParamStore;
use super::{contact_sheet, gan, TrainConfig};
use crate::weights::ModelError;

/// Every training mode; the first is the `mode` param's default.
pub static REGISTRY: &[&ModeSpec] = &[
    &pairs::SPEC,
    &style::SPEC,
    &dcgan::SPEC,
    &vae::SPEC,
    &unpaired::SPEC,
];

/// `model_size` (pairs, style).
pub(crate) const MODEL_SIZE: ParamSpec = ParamSpec::new(
    "model_size",
    "Model size",
    "pairs/style: U-Net width, small (0.15 M parameters) or medium (0.6 M).",
    ParamKind::Enum {
        choices: &["small", "medium"],
        default: "small",
    },
);

/// `latent` and `gen_width` (generator, vae).
pub(crate) const LATENT: ParamSpec = ParamSpec::new(
    "latent",
    "Latent size",
    "generator/vae: latent dimensions.",
    ParamKind::Int {
        min: 2,
        max: 1024,
        default: 64,
    },
);
pub(crate) const GEN_WIDTH: ParamSpec = ParamSpec::new(
    "gen_width",
    "Generator width",
    "generator/vae: base channel width.",
    ParamKind::Int {
        min: 2,
        max: 512,
        default: 32,
    },
);

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::BadInput(msg.into())
}

/// `param 'crop'` rule of the image-to-image modes: a multiple of 4, at least 32.
pub(crate) fn check_image_crop(crop: usize) -> std::result::Result<(), ModelError> {
    if crop < 32 || !crop.is_multiple_of(4) {
        return Err(bad(format!(
            "param 'crop': must be a multiple of 4 and at least 32, got {crop}"
        )));
    }
    Ok(())
}

/// `param 'crop'` rule of the generators: the resolution, 32, 64 or 128.
pub(crate) fn check_gen_crop(crop: usize) -> std::result::Result<(), ModelError> {
    if ![32, 64, 128].contains(&crop) {
        return Err(bad(format!(
            "param 'crop': generator/vae resolution must be 32, 64 or 128, got {crop}"
        )));
    }
    Ok(())
}

/// `model_size` from the settings.
pub(crate) fn configure_model_size(
    c: &mut TrainConfig,
    s: &Settings,
) -> std::result::Result<(), ModelError> {
    let m = s.str("model_size");
    c.model_size = super::img2img::ModelSize::parse(&m)
        .ok_or_else(|| bad(format!("param 'model_size': unknown size '{m}'")))?;
    Ok(())
}

/// One Adam per name prefix in `groups` over the store's variables with that prefix.
pub(crate) fn adam_groups(
    params: &ParamStore,
    groups: &[&str],
    cfg: AdamConfig,
) -> Result<Vec<Adam>> {
    groups
        .iter()
        .map(|p| {
            let vars = params
                .vars()
                .iter()
                .filter(|(k, _)| k.starts_with(p))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Adam::new(vars, cfg)
        })
        .collect()
}

/// `n × d` standard-normal values from `rng` as a tensor (in a data-parallel step with `n` the
/// batch, all are drawn and this rank's rows returned: [`super::dist::shard_rows`]).
pub(crate) fn normal(rng: &mut ChaCha8Rng, n: usize, d: usize, dev: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..n * d).map(|_| StandardNormal.sample(rng)).collect();
    let t = Tensor::from_vec(v, (n, d), dev)?;
    match super::dist::shard_rows(n) {
        Some(r) => t.narrow(0, r.start, r.len()),
        None => Ok(t),
    }
}

/// Contact sheet of an image mode: up to 4 rows of input | output (| target when
/// `with_target`), from the crops `rng` draws.
pub(crate) fn image_sheet(
    m: &dyn TrainMode,
    rng: &mut ChaCha8Rng,
    with_target: bool,
) -> Result<Tensor> {
    let (x, y) = m.sample_batch(rng)?;
    let n = x.dim(0)?.min(4);
    let (x, y) = (x.narrow(0, 0, n)?, y.narrow(0, 0, n)?);
    let p = m.preview(&x)?.to_device(&Device::Cpu)?;
    let (x, y) = (x.to_device(&Device::Cpu)?, y.to_device(&Device::Cpu)?);
    let mut cells = Vec::new();
    for i in 0..n {
        cells.push(x.get(i)?);
        cells.push(p.get(i)?);
        if with_target {
            cells.push(y.get(i)?);
        }
    }
    contact_sheet(&Tensor::stack(&cells, 0)?, if with_target { 3 } else { 2 })
}

/// Picture of an image mode: the model on `frame`, else on the first crop `rng` draws.
pub(crate) fn image_picture(
    m: &dyn TrainMode,
    frame: Option<&Tensor>,
    rng: &mut ChaCha8Rng,
) -> Result<Tensor> {
    let x = match frame {
        Some(f) => f.clone(),
        None => m.sample_batch(rng)?.0.narrow(0, 0, 1)?,
    };
    m.preview(&x)
}

/// 16 samples of a generator from fixed latents as a 4×4 sheet `[3, H, W]` (CPU).
pub(crate) fn sample_sheet(m: &dyn TrainMode, nz: usize) -> Result<Tensor> {
    let z = gan::latents(0x5eed, 16, nz, &Device::Cpu)?;
    let dev = m.params().device().clone();
    let s = m.preview(&z.to_device(&dev)?)?.to_device(&Device::Cpu)?;
    contact_sheet(&s, 4)
}
