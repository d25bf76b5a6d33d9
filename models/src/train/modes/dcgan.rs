//! `generator`: a set of images → a [`Generator`] / [`Discriminator`] DCGAN (non-saturating
//! GAN loss, Adam β1 = 0.5). The model loads in `wick.generate`.

use std::sync::Arc;

use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

use super::super::data::{CropSet, Fit, TrainData};
use super::super::gan::{softplus, Discriminator, Generator};
use super::super::mode::{DataKind, ModeSpec, Settings, TrainMode};
use super::super::optim::{Adam, AdamConfig};
use super::super::params::ParamStore;
use super::super::{TrainConfig, ARCH_DCGAN};
use super::{adam_groups, check_gen_crop, normal, sample_sheet};
use crate::squeezenet::SqueezeNet;
use crate::weights::ModelError;

pub static SPEC: ModeSpec = ModeSpec {
    name: "generator",
    aliases: &["dcgan", "gan"],
    help: "DCGAN",
    data: DataKind::ImageSet,
    input_help: "the image set",
    target_help: "",
    params: &[super::LATENT, super::GEN_WIDTH],
    defaults,
    configure,
    needs_loss_net: |_| false,
    build,
};

fn defaults(c: &mut TrainConfig) {
    c.crop = 64;
    c.batch = 16;
    c.lr = 2e-4;
}

/// `crop` (resolution), `latent`, `gen_width` (shared with `vae`).
pub(crate) fn configure(c: &mut TrainConfig, s: &Settings) -> std::result::Result<(), ModelError> {
    check_gen_crop(c.crop)?;
    c.nz = s.i64("latent") as usize;
    c.width = s.i64("gen_width") as usize;
    Ok(())
}

fn build(
    cfg: &TrainConfig,
    data: TrainData,
    _loss_net: Option<Arc<SqueezeNet>>,
    device: &Device,
) -> std::result::Result<Box<dyn TrainMode>, ModelError> {
    let mut params = ParamStore::new(cfg.seed, device);
    let crops = image_set(cfg, data, device)?;
    let g = Generator::new(&mut params, cfg.nz, cfg.width, cfg.crop)?;
    let d = Discriminator::new(&mut params, cfg.width, cfg.crop)?;
    let opts = adam_groups(
        &params,
        &["g.", "d."],
        AdamConfig {
            lr: cfg.lr,
            beta1: 0.5,
            ..Default::default()
        },
    )?;
    Ok(Box::new(Dcgan {
        params,
        g,
        d,
        opts,
        crops,
        arch: vec![ARCH_DCGAN, cfg.nz as f32, cfg.width as f32, cfg.crop as f32],
    }))
}

/// The generator modes' data: one non-empty image set, short sides resized to the resolution.
pub(crate) fn image_set(
    cfg: &TrainConfig,
    data: TrainData,
    device: &Device,
) -> std::result::Result<CropSet, ModelError> {
    let TrainData::Images(images) = data else {
        return Err(ModelError::BadInput(format!(
            "{} mode trains on a set of images, got {}",
            cfg.mode.name(),
            data.kind()
        )));
    };
    if images.is_empty() {
        return Err(ModelError::BadInput(
            "generator mode needs at least one image".into(),
        ));
    }
    Ok(CropSet::new(
        images,
        vec![],
        cfg.crop,
        cfg.batch,
        cfg.vflip,
        Fit::ShortSide,
        device,
    )?)
}

struct Dcgan {
    params: ParamStore,
    g: Generator,
    d: Discriminator,
    opts: Vec<Adam>,
    crops: CropSet,
    arch: Vec<f32>,
}

impl TrainMode for Dcgan {
    fn params(&self) -> &ParamStore {
        &self.params
    }

    fn optimizers(&self) -> &[Adam] {
        &self.opts
    }

    fn optimizers_mut(&mut self) -> &mut [Adam] {
        &mut self.opts
    }

    fn arch(&self) -> Vec<f32> {
        self.arch.clone()
    }

    fn step(&mut self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Vec<(&'static str, f32)>)> {
        let specs = self.crops.draw(rng);
        let x = self.crops.cut(&specs)?;
        let real = ((&x * 2.0)? - 1.0)?;
        let z = normal(rng, self.crops.batch, self.g.nz, self.params.device())?;
        let fake = self.g.forward(&z)?;
        let d = &self.d;
        let d_loss = (softplus(&d.forward(&real)?.neg()?)?.mean_all()?
            + softplus(&d.forward(&fake.detach())?)?.mean_all()?)?;
        self.opts[1].step(&d_loss.backward()?)?;
        let g_loss = softplus(&d.forward(&fake)?.neg()?)?.mean_all()?;
        self.opts[0].step(&g_loss.backward()?)?;
        let dl = d_loss.to_scalar::<f32>()?;
        let gl = g_loss.to_scalar::<f32>()?;
        Ok((g_loss, vec![("g", gl), ("d", dl)]))
    }

    fn preview(&self, z: &Tensor) -> Result<Tensor> {
        self.g.sample(z)
    }

    fn sample_batch(&self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
        self.crops.sample(rng)
    }

    fn sheet(&self, _rng: &mut ChaCha8Rng) -> Result<Tensor> {
        sample_sheet(self, self.g.nz)
    }

    fn picture(&self, _frame: Option<&Tensor>, _rng: &mut ChaCha8Rng) -> Result<Tensor> {
        sample_sheet(self, self.g.nz)?.unsqueeze(0)
    }
}
