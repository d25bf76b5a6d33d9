//! `vae`: a set of images → a [`Vae`] (per-image squared error + β·KL). The decoder loads in
//! `wick.generate`.

use std::sync::Arc;

use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

use super::super::data::{CropSet, TrainData};
use super::super::mode::{DataKind, ModeSpec, TrainMode};
use super::super::optim::{Adam, AdamConfig};
use super::super::params::ParamStore;
use super::super::vae::Vae as Net;
use super::super::{TrainConfig, ARCH_VAE};
use super::{adam_groups, normal, sample_sheet};
use crate::squeezenet::SqueezeNet;
use crate::weights::ModelError;

pub static SPEC: ModeSpec = ModeSpec {
    name: "vae",
    aliases: &[],
    help: "variational auto-encoder",
    data: DataKind::ImageSet,
    input_help: "",
    target_help: "",
    params: &[super::LATENT, super::GEN_WIDTH],
    defaults,
    configure: super::dcgan::configure,
    needs_loss_net: |_| false,
    build,
};

fn defaults(c: &mut TrainConfig) {
    c.crop = 64;
    c.batch = 16;
}

fn build(
    cfg: &TrainConfig,
    data: TrainData,
    _loss_net: Option<Arc<SqueezeNet>>,
    device: &Device,
) -> std::result::Result<Box<dyn TrainMode>, ModelError> {
    let mut params = ParamStore::new(cfg.seed, device);
    let crops = super::dcgan::image_set(cfg, data, device)?;
    let net = Net::new(&mut params, cfg.nz, cfg.width, cfg.crop)?;
    let opts = adam_groups(
        &params,
        &[""],
        AdamConfig {
            lr: cfg.lr,
            ..Default::default()
        },
    )?;
    Ok(Box::new(Vae {
        params,
        net,
        opts,
        crops,
        kl_beta: cfg.kl_beta,
        arch: vec![ARCH_VAE, cfg.nz as f32, cfg.width as f32, cfg.crop as f32],
    }))
}

struct Vae {
    params: ParamStore,
    net: Net,
    opts: Vec<Adam>,
    crops: CropSet,
    kl_beta: f64,
    arch: Vec<f32>,
}

impl TrainMode for Vae {
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
        let eps = normal(rng, self.crops.batch, self.net.nz, self.params.device())?;
        let (total, recon, kl) = self.net.loss(&x, &eps, self.kl_beta)?;
        self.opts[0].step(&total.backward()?)?;
        let parts = vec![
            ("recon", recon.to_scalar::<f32>()?),
            ("kl", kl.to_scalar::<f32>()?),
        ];
        Ok((total, parts))
    }

    fn preview(&self, z: &Tensor) -> Result<Tensor> {
        self.net.decode(z)
    }

    fn sample_batch(&self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
        self.crops.sample(rng)
    }

    fn sheet(&self, _rng: &mut ChaCha8Rng) -> Result<Tensor> {
        sample_sheet(self, self.net.nz)
    }

    fn picture(&self, _frame: Option<&Tensor>, _rng: &mut ChaCha8Rng) -> Result<Tensor> {
        sample_sheet(self, self.net.nz)?.unsqueeze(0)
    }
}
