//! `wick.generate`: frames from a seed. The CPPN needs no training data; trained generators
//! (GAN/VAE safetensors from the train node) plug in as other `model` values.

use candle_core::Device;
use wick_models::cppn::{ActivationSet, ColorMode, Cppn, CppnConfig};
use wick_models::device::DEVICE_CHOICES;
use wick_models::generator::{latent_walk, slerp, Generator};

use crate::frame::{Frame, FrameMut, Out};
use crate::node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, ParamRole, Params, PortDesc, ProcessCtx,
    ThreadSafety,
};

pub const ID: &str = "wick.generate";

pub fn describe() -> NodeDesc {
    use ParamKind::*;
    NodeDesc {
        id: ID,
        label: "Generate",
        category: "Wick/Generate",
        help: "Frames from a seed: a CPPN (no training data needed) or a trained generator. \
               Deterministic per seed, resolution-independent, with a smooth latent walk over \
               time and a spherical blend between two seeds.",
        inputs: vec![],
        outputs: vec![PortDesc::new("output", "The generated frame (opaque).")],
        params: vec![
            ParamDesc::new(
                "model",
                "Model",
                "'cppn', or a path to a generator/vae model.safetensors from wick.train.",
                Str { default: "cppn" },
            )
            .reloads(),
            ParamDesc::new(
                "seed",
                "Seed",
                "Latent seed A.",
                Int {
                    min: 0,
                    max: i32::MAX as i64,
                    default: 1,
                },
            )
            .animatable(),
            ParamDesc::new(
                "seed_b",
                "Seed B",
                "Latent seed B, blended in by `mix`.",
                Int {
                    min: 0,
                    max: i32::MAX as i64,
                    default: 2,
                },
            )
            .animatable(),
            ParamDesc::new(
                "mix",
                "Mix",
                "Spherical blend from seed A (0) to seed B (1).",
                Float {
                    min: 0.0,
                    max: 1.0,
                    default: 0.0,
                },
            )
            .animatable(),
            ParamDesc::new(
                "speed",
                "Walk speed",
                "Latent walk speed in turns per second (0: still).",
                Float {
                    min: 0.0,
                    max: 10.0,
                    default: 0.1,
                },
            )
            .animatable(),
            ParamDesc::new(
                "pattern",
                "Pattern",
                "CPPN: seed of the network weights (the family of shapes).",
                Int {
                    min: 0,
                    max: i32::MAX as i64,
                    default: 1,
                },
            )
            .reloads(),
            ParamDesc::new(
                "net_depth",
                "Network depth",
                "CPPN: hidden layers.",
                Int {
                    min: 1,
                    max: 16,
                    default: 5,
                },
            )
            .reloads(),
            ParamDesc::new(
                "net_width",
                "Network width",
                "CPPN: units per hidden layer.",
                Int {
                    min: 2,
                    max: 256,
                    default: 24,
                },
            )
            .reloads(),
            ParamDesc::new(
                "activation",
                "Activations",
                "CPPN: activation set of the hidden layers.",
                Enum {
                    choices: &ActivationSet::NAMES,
                    default: "mixed",
                },
            )
            .reloads(),
            ParamDesc::new(
                "color_mode",
                "Colour mode",
                "CPPN: rgb, grey, or a cosine palette.",
                Enum {
                    choices: &ColorMode::NAMES,
                    default: "rgb",
                },
            )
            .reloads(),
            ParamDesc::new(
                "zoom",
                "Zoom",
                "Magnification of the pattern (>1 zooms in).",
                Float {
                    min: 0.01,
                    max: 100.0,
                    default: 1.0,
                },
            )
            .animatable(),
            ParamDesc::new(
                "width",
                "Width",
                "Output width where the host gives no frame size.",
                Int {
                    min: 1,
                    max: 32768,
                    default: 640,
                },
            )
            .role(ParamRole::OutputWidth),
            ParamDesc::new(
                "height",
                "Height",
                "Output height where the host gives no frame size.",
                Int {
                    min: 1,
                    max: 32768,
                    default: 360,
                },
            )
            .role(ParamRole::OutputHeight),
            ParamDesc::new(
                "device",
                "Device",
                "Compute device.",
                Enum {
                    choices: &DEVICE_CHOICES,
                    default: "auto",
                },
            )
            .reloads(),
        ],
        thread_safety: ThreadSafety::FullySafe,
        source: true,
        long_running: false,
        cancellable: false,
    }
}

/// Everything that decides the loaded model; a change reloads it.
#[derive(Clone, PartialEq)]
struct ModelKey {
    model: String,
    cppn: CppnConfig,
    device: String,
}

#[derive(Default)]
pub struct Generate {
    loaded: Option<(ModelKey, Box<dyn Generator>)>,
}

impl Generate {
    pub fn create() -> Box<dyn Node> {
        Box::new(Self::default())
    }

    fn model(&mut self, p: &Params) -> Result<&dyn Generator, NodeError> {
        let key = ModelKey {
            model: p.str("model").to_string(),
            cppn: CppnConfig {
                pattern: p.i64("pattern") as u64,
                depth: p.i64("net_depth") as usize,
                width: p.i64("net_width") as usize,
                activations: ActivationSet::parse(p.str("activation")).expect("validated enum"),
                color: ColorMode::parse(p.str("color_mode")).expect("validated enum"),
            },
            device: p.str("device").to_string(),
        };
        if self.loaded.as_ref().map(|(k, _)| k != &key).unwrap_or(true) {
            let device: Device = wick_models::select_device(&key.device)?;
            let g: Box<dyn Generator> = match key.model.as_str() {
                "cppn" => Box::new(Cppn::new(key.cppn, &device)?),
                "" => return Err(NodeError::BadArgument("param 'model': empty".into())),
                path => Box::new(wick_models::train::load_generator(
                    std::path::Path::new(path),
                    &device,
                )?),
            };
            self.loaded = Some((key, g));
        }
        Ok(self.loaded.as_ref().expect("just loaded").1.as_ref())
    }
}

impl Node for Generate {
    fn process(
        &mut self,
        ctx: &mut ProcessCtx,
        p: &Params,
        _inputs: &[Option<Frame>],
        outputs: &mut [FrameMut],
    ) -> Result<(), NodeError> {
        let time = ctx.time;
        let (seed_a, seed_b) = (p.i64("seed") as u64, p.i64("seed_b") as u64);
        let (mix, speed, zoom) = (p.f64("mix") as f32, p.f64("speed"), p.f64("zoom"));
        let g = self.model(p)?;
        let dim = g.latent_dim();
        let za = latent_walk(seed_a, dim, time, speed);
        let z = if mix > 0.0 {
            slerp(&za, &latent_walk(seed_b, dim, time, speed), mix)
        } else {
            za
        };
        let out = &mut outputs[0];
        let rgb = g.generate(&z, out.width(), out.height(), zoom)?;
        out.write(&rgb, Out::interleaved())
    }
}
