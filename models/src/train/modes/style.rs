//! `style`: one painting + content frames → the [`Img2Img`] U-Net, Gram-matrix style loss on
//! SqueezeNet taps + content loss + total variation (Johnson et al.'s losses on a smaller net).

use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

use super::super::data::{self, CropSet, Fit, TrainData};
use super::super::img2img::Img2Img;
use super::super::loss::{self, Perceptual};
use super::super::mode::{DataKind, ModeSpec, ParamKind, ParamSpec, Settings, TrainMode};
use super::super::optim::{Adam, AdamConfig};
use super::super::params::ParamStore;
use super::super::{TrainConfig, ARCH_IMG2IMG};
use super::{adam_groups, check_image_crop, configure_model_size, image_picture, image_sheet};
use crate::squeezenet::SqueezeNet;
use crate::weights::ModelError;

/// Default Gram style weight (the `style_weight` param's default).
pub const STYLE_WEIGHT: f64 = 1e4;

pub static SPEC: ModeSpec = ModeSpec {
    name: "style",
    aliases: &[],
    help: "content frames in a painting's style",
    data: DataKind::StyleImage,
    input_help: "content frames",
    target_help: "",
    params: &[
        super::MODEL_SIZE,
        ParamSpec::new(
            "content_weight",
            "Content weight",
            "style: weight of the content (SqueezeNet fire5) loss. Measured on bikes + Starry \
             Night: 1 and 20 lose the picture under the texture, 200 keeps it.",
            ParamKind::Float {
                min: 0.0,
                max: 1e9,
                default: 200.0,
            },
        ),
        ParamSpec::new(
            "style_weight",
            "Style weight",
            "style: weight of the Gram style loss.",
            ParamKind::Float {
                min: 0.0,
                max: 1e12,
                default: STYLE_WEIGHT,
            },
        ),
        ParamSpec::new(
            "style_size",
            "Style size",
            "style: the painting is resized so its short side is this many pixels.",
            ParamKind::Int {
                min: 64,
                max: 4096,
                default: 256,
            },
        ),
    ],
    defaults: |_| {},
    configure,
    needs_loss_net: |_| true,
    build,
};

fn configure(c: &mut TrainConfig, s: &Settings) -> std::result::Result<(), ModelError> {
    check_image_crop(c.crop)?;
    configure_model_size(c, s)?;
    c.content_weight = s.f64("content_weight");
    c.style_weight = s.f64("style_weight");
    Ok(())
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
    let TrainData::Style { style, content } = data else {
        return Err(bad(format!(
            "style mode trains on a style image and content frames, got {}",
            data.kind()
        )));
    };
    if content.is_empty() {
        return Err(bad("style mode needs at least one content frame"));
    }
    check_image_crop(cfg.crop)?;
    let crops = CropSet::new(
        content,
        vec![],
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
    let perceptual = Perceptual::new(
        loss_net.ok_or_else(|| bad("this mode needs the SqueezeNet loss network"))?,
    );
    let s = style.to_dtype(DType::F32)?.to_device(device)?;
    let s = data::ensure_min_side(&s, 64)?;
    let style_grams = perceptual.style_targets(&s.unsqueeze(0)?)?;
    Ok(Box::new(Style {
        params,
        net,
        opts,
        crops,
        perceptual,
        style_grams,
        weights: (cfg.content_weight, cfg.style_weight, cfg.tv_weight),
    }))
}

struct Style {
    params: ParamStore,
    net: Img2Img,
    opts: Vec<Adam>,
    crops: CropSet,
    perceptual: Perceptual,
    style_grams: Vec<Tensor>,
    /// content, style, total variation
    weights: (f64, f64, f64),
}

impl TrainMode for Style {
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
        let (content, style) = self
            .perceptual
            .content_and_style(&pred, &x, &self.style_grams)?;
        let tv = loss::total_variation(&pred)?;
        let (cw, sw, tw) = self.weights;
        let total = (((&content * cw)? + (&style * sw)?)? + (&tv * tw)?)?;
        self.opts[0].step(&total.backward()?)?;
        let parts = vec![
            ("content", content.to_scalar::<f32>()?),
            ("style", style.to_scalar::<f32>()?),
            ("tv", tv.to_scalar::<f32>()?),
        ];
        Ok((total, parts))
    }

    fn preview(&self, x: &Tensor) -> Result<Tensor> {
        self.net.forward_any(x)?.clamp(0f32, 1f32)
    }

    fn sample_batch(&self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
        self.crops.sample(rng)
    }

    fn sheet(&self, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        image_sheet(self, rng, false)
    }

    fn picture(&self, frame: Option<&Tensor>, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        image_picture(self, frame, rng)
    }
}
