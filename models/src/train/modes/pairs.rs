//! `pairs` (CopyCat-style): input frames and their targets → the [`Img2Img`] U-Net, L1 +
//! perceptual (SqueezeNet `fire5`) loss on matching random crops with flips.

use std::sync::Arc;

use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

use super::super::data::{CropSet, Fit, TrainData};
use super::super::img2img::Img2Img;
use super::super::loss::{self, Perceptual};
use super::super::mode::{DataKind, ModeSpec, Settings, TrainMode};
use super::super::optim::{Adam, AdamConfig};
use super::super::params::ParamStore;
use super::super::{TrainConfig, ARCH_IMG2IMG};
use super::{adam_groups, check_image_crop, configure_model_size, image_picture, image_sheet};
use crate::squeezenet::SqueezeNet;
use crate::weights::ModelError;

pub static SPEC: ModeSpec = ModeSpec {
    name: "pairs",
    aliases: &[],
    help: "input → target",
    data: DataKind::Matched,
    input_help: "inputs",
    target_help: "the targets, matched to the inputs by file name (folders) or frame number \
                  (patterns)",
    params: &[super::MODEL_SIZE],
    defaults: |_| {},
    configure,
    needs_loss_net: |c| c.perceptual_weight > 0.0,
    build,
};

fn configure(c: &mut TrainConfig, s: &Settings) -> std::result::Result<(), ModelError> {
    check_image_crop(c.crop)?;
    configure_model_size(c, s)
}

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::BadInput(msg.into())
}

fn build(
    cfg: &TrainConfig,
    data: TrainData,
    loss_net: Option<Arc<SqueezeNet>>,
    device: &Device,
) -> std::result::Result<Box<dyn TrainMode>, ModelError> {
    let mut params = ParamStore::new(cfg.seed, device);
    let TrainData::Pairs { inputs, targets } = data else {
        return Err(bad(format!(
            "pairs mode trains on input/target pairs, got {}",
            data.kind()
        )));
    };
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
    check_image_crop(cfg.crop)?;
    let crops = CropSet::new(
        inputs,
        targets,
        cfg.crop,
        cfg.batch,
        cfg.vflip,
        Fit::AtLeast,
        device,
    )?;
    let net = Img2Img::new(&mut params, cfg.model_size)?;
    let opts = adam_groups(
        &params,
        &[""],
        AdamConfig {
            lr: cfg.lr,
            ..Default::default()
        },
    )?;
    let perceptual = match (cfg.perceptual_weight > 0.0, loss_net) {
        (true, Some(n)) => Some(Perceptual::new(n)),
        (true, None) => return Err(bad("this mode needs the SqueezeNet loss network")),
        (false, _) => None,
    };
    Ok(Box::new(Pairs {
        params,
        net,
        opts,
        crops,
        perceptual,
        l1_weight: cfg.l1_weight,
        perceptual_weight: cfg.perceptual_weight,
    }))
}

struct Pairs {
    params: ParamStore,
    net: Img2Img,
    opts: Vec<Adam>,
    crops: CropSet,
    perceptual: Option<Perceptual>,
    l1_weight: f64,
    perceptual_weight: f64,
}

impl TrainMode for Pairs {
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
        vec![ARCH_IMG2IMG, self.net.size.width() as f32]
    }

    fn step(&mut self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Vec<(&'static str, f32)>)> {
        let specs = self.crops.draw(rng);
        let x = self.crops.cut(&specs)?;
        let pred = self.net.forward(&x)?;
        let y = self.crops.cut_targets(&specs)?;
        let l1 = loss::l1(&pred, &y)?;
        let mut total = (&l1 * self.l1_weight)?;
        let mut parts = vec![("l1", l1.to_scalar::<f32>()?)];
        if let Some(p) = &self.perceptual {
            let pl = p.content(&pred, &y)?;
            total = (total + (&pl * self.perceptual_weight)?)?;
            parts.push(("perceptual", pl.to_scalar::<f32>()?));
        }
        self.opts[0].step(&total.backward()?)?;
        Ok((total, parts))
    }

    fn preview(&self, x: &Tensor) -> Result<Tensor> {
        self.net.forward_any(x)?.clamp(0f32, 1f32)
    }

    fn sample_batch(&self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
        self.crops.sample(rng)
    }

    fn sheet(&self, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        image_sheet(self, rng, true)
    }

    fn picture(&self, frame: Option<&Tensor>, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        image_picture(self, frame, rng)
    }
}
