//! `unpaired`: an A → B translator from two sets of images that are not matched to each other
//! (`input` = domain A, `target` = domain B, any counts): CycleGAN (Zhu et al. 2017) with a colour
//! distribution term.
//!
//! Networks: two [`ResnetGenerator`]s in the reference layout (G_A: A → B under the plain names
//! `model.*`, so the model file loads in `wick.style-transfer`; G_B: B → A under `gb.`), two
//! 70×70-style PatchGAN discriminators (`da.`, `db.`: 4×4 convs, stride 2, 2, 2, 1, 1, leaky
//! ReLU 0.2; no instance norm, see [`Patch`]). Losses as the reference's defaults: least-squares
//! GAN, cycle L1 × `cycle_weight` (10), identity L1 × `cycle_weight · identity_weight` (the
//! reference's 0.5; Wick's default 0, as it pins colours); the generators step first, then the
//! discriminators on the detached fakes (½ per real/fake term). Adam β1 = 0.5, the
//! discriminators at 0.4× the generators' rate. Not in Wick: the reference's pool of 50 past
//! fakes (its state would have to go into checkpoints for exact resume) and its learning-rate
//! decay.
//!
//! Wick's additions, each measured in docs/train/README.md:
//! - `gen_residual` (default): G adds tanh of its last layer to the frame and starts its last
//!   conv at zero, so G_A starts as the identity and only has to move the look.
//! - `colour_weight` (default 100): before training, the colour distribution of A is matched to
//!   B's (and B's to A's) by iterative distribution transfer
//!   ([`super::super::colour_transfer`]: unpaired, from the two pixel clouds only); each step
//!   adds the L1 distance of G_A(A) to that map of A (and of G_B(B) to the map of B). The GAN
//!   alone learns a grade slowly and noisily on CPU budgets; the map is a steady target for the
//!   colours, and the GAN and cycle terms keep the picture and add what is not colour.
//! - The exported G_A is an exponential moving average of its weights ([`EMA_DECAY`]), as GAN
//!   weights circle around a solution rather than settle.
//!
//! Sizes for CPU minutes by default (ngf 16, 3 blocks, 64² crops); ngf 64 and 9 blocks are the
//! paper's.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Result, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::super::colour_transfer::{draw_pixels, read_pixels, ColourTransfer, ITERATIONS};
use super::super::data::{CropSet, Fit, TrainData};
use super::super::loss;
use super::super::mode::{DataKind, ModeSpec, ParamKind, ParamSpec, Settings, TrainMode, Value};
use super::super::optim::{Adam, AdamConfig};
use super::super::params::{leaky_relu, Conv, Init, ParamStore};
use super::super::{contact_sheet, TrainConfig};
use super::{check_image_crop, image_picture};
use crate::squeezenet::SqueezeNet;
use crate::style::cyclegan::{Layout, ResnetGenerator};
use crate::weights::ModelError;

/// `wick.arch[0]` of an unpaired (CycleGAN) run: `[4, ngf, blocks, residual]`.
pub const ARCH_CYCLEGAN: f32 = crate::style::cyclegan::RESNET_ARCH;

pub static SPEC: ModeSpec = ModeSpec {
    name: "unpaired",
    aliases: &["cyclegan"],
    help: "A → B from two unpaired sets (CycleGAN)",
    data: DataKind::TwoSets,
    input_help: "domain A (the footage to translate)",
    target_help: "unpaired: domain B (the look to learn), any count, not matched to the inputs",
    params: &[
        ParamSpec::new(
            "gen_filters",
            "Generator filters",
            "unpaired: filters of the ResNet generator's first layer (ngf; the paper's is 64, \
             16 trains in CPU minutes).",
            ParamKind::Int {
                min: 4,
                max: 256,
                default: 16,
            },
        ),
        ParamSpec::new(
            "gen_blocks",
            "Generator blocks",
            "unpaired: residual blocks of the generator (the paper's: 9 at 256², 6 at 128²).",
            ParamKind::Int {
                min: 1,
                max: 16,
                default: 3,
            },
        ),
        ParamSpec::new(
            "gen_residual",
            "Residual generator",
            "unpaired: the generator adds tanh of its output to the frame and starts as the identity \
             (Wick's variant: learns a look in far fewer steps); off: the reference tanh output.",
            ParamKind::Bool { default: true },
        ),
        ParamSpec::new(
            "cycle_weight",
            "Cycle weight",
            "unpaired: weight of the cycle-consistency L1 loss (A → B → A and B → A → B).",
            ParamKind::Float {
                min: 0.0,
                max: 1e6,
                default: 10.0,
            },
        ),
        ParamSpec::new(
            "identity_weight",
            "Identity weight",
            "unpaired: identity loss (G_A(B) ≈ B) weight, relative to the cycle weight \
             (the reference's 0.5 preserves colours, so it holds back a colour look: 0 here).",
            ParamKind::Float {
                min: 0.0,
                max: 1e6,
                default: 0.0,
            },
        ),
        ParamSpec::new(
            "colour_weight",
            "Colour weight",
            "unpaired: weight of the colour term: L1 from G(A) to A with its colour distribution \
             matched to B's (iterative distribution transfer fitted on the two sets, no pairs), \
             and the same for G_B. Wick's addition: a steady target for the look's colours, \
             which the GAN alone learns slowly. 0: the reference losses only.",
            ParamKind::Float {
                min: 0.0,
                max: 1e6,
                default: COLOUR_WEIGHT,
            },
        ),
    ],
    defaults,
    configure,
    needs_loss_net: |_| false,
    build,
};

/// The discriminators' learning rate relative to `lr`: slower than the generators' (two
/// time-scale updates). Measured: at equal rates the normalisation-free discriminator ran away
/// after ~1100 steps (loss 2·10⁴) and the generator with it.
const D_LR: f64 = 0.4;

fn defaults(c: &mut TrainConfig) {
    c.crop = 64;
    c.batch = 2;
    c.lr = 5e-4;
}

const OWN: [&str; 5] = [
    "gen_filters",
    "gen_blocks",
    "cycle_weight",
    "identity_weight",
    "colour_weight",
];

/// Default weight of the colour term (relative to the GAN's 1 and the cycle's 10; measured on
/// cup at 120 s: 100 → +5.4 dB, 300 → +6.6 dB, 10 → +1.9 dB at 180 s; docs/train/README.md).
const COLOUR_WEIGHT: f64 = 100.0;

/// Decay of the moving average of G_A's weights per step (half-life ≈ 140 steps). GAN weights
/// circle around a solution rather than settle: measured on cup at 180 s, the same run stopped
/// at step 725, 747 or 757 scored −0.22, +2.24 and +1.35 dB; the average does not jump.
const EMA_DECAY: f64 = 0.995;

/// Pixels sampled from each set to fit the colour transfer.
const COLOUR_SAMPLES: usize = 65_536;

/// The colour map from the pixels of `from` to those of `to` (each `[3, H, W]` images), from
/// [`COLOUR_SAMPLES`] pixels a side read one image at a time.
fn fit_colour(from: &[Tensor], to: &[Tensor], rng: &mut ChaCha8Rng) -> Result<ColourTransfer> {
    let mut sample = |v: &[Tensor]| -> Result<Vec<[f32; 3]>> {
        let sizes = v
            .iter()
            .map(|t| Ok(t.dim(1)? * t.dim(2)?))
            .collect::<Result<Vec<_>>>()?;
        read_pixels(&draw_pixels(&sizes, COLOUR_SAMPLES, rng), |i| {
            v[i].to_dtype(candle_core::DType::F32)?
                .to_device(&Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()
        })
    };
    let (f, t) = (sample(from)?, sample(to)?);
    Ok(ColourTransfer::fit(&f, &t, ITERATIONS, rng))
}

/// `map` applied to a batch `[N, 3, H, W]` in 0..1, returned in −1..1 on `x`'s device.
fn mapped(map: &ColourTransfer, x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let mut v = x.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
    map.apply_planar(&mut v, h * w);
    signed(&Tensor::from_vec(v, x.dims(), &Device::Cpu)?.to_device(x.device())?)
}

fn configure(c: &mut TrainConfig, s: &Settings) -> std::result::Result<(), ModelError> {
    check_image_crop(c.crop)?;
    for n in OWN {
        if let Some(v) = s.get(n) {
            c.extra.set(n, v.clone());
        }
    }
    Ok(())
}

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::BadInput(msg.into())
}

/// PatchGAN discriminator: 4×4 convs 3→d (s2) →2d (s2) →4d (s2) →8d (s1) →1 (s1), padding 1,
/// leaky ReLU 0.2. Unlike the reference, no instance norm: it removes each feature's mean and
/// contrast over the crop, which is what a colour grade changes (measured: with it, D did not
/// tell graded from ungraded crops within CPU minutes; docs/train/README.md).
struct Patch {
    convs: Vec<Conv>,
}

impl Patch {
    fn new(ps: &mut ParamStore, name: &str, d: usize) -> Result<Self> {
        let init = Some(Init::Normal(0.02));
        let chans = [3, d, 2 * d, 4 * d, 8 * d, 1];
        let strides = [2, 2, 2, 1, 1];
        let convs = (0..5)
            .map(|i| {
                Conv::new(
                    ps,
                    &format!("{name}.l{i}"),
                    chans[i],
                    chans[i + 1],
                    4,
                    strides[i],
                    1,
                    init,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Patch { convs })
    }

    /// Images in −1..1 → patch logits.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            h = c.forward(&h)?;
            if i == last {
                break;
            }
            h = leaky_relu(&h, 0.2)?;
        }
        Ok(h)
    }
}

fn ls(pred: &Tensor, target: f64) -> Result<Tensor> {
    (pred - target)?.sqr()?.mean_all()
}

fn build(
    cfg: &TrainConfig,
    data: TrainData,
    _loss_net: Option<Arc<SqueezeNet>>,
    device: &Device,
) -> std::result::Result<Box<dyn TrainMode>, ModelError> {
    let TrainData::Unpaired { a, b } = data else {
        return Err(bad(format!(
            "unpaired mode trains on two sets of images (domain A, domain B), got {}",
            data.kind()
        )));
    };
    if a.is_empty() || b.is_empty() {
        return Err(bad(format!(
            "unpaired mode needs images in both sets (domain A: {}, domain B: {})",
            a.len(),
            b.len()
        )));
    }
    check_image_crop(cfg.crop)?;
    let x = &cfg.extra;
    let int = |n: &str| match x.get(n) {
        Some(Value::Int(i)) => *i,
        _ => Settings::default().i64(n),
    };
    let float = |n: &str| match x.get(n) {
        Some(Value::Float(f)) => *f,
        Some(Value::Int(i)) => *i as f64,
        _ => Settings::default().f64(n),
    };
    let (ngf, blocks) = (int("gen_filters") as usize, int("gen_blocks") as usize);
    if ngf == 0 || blocks == 0 {
        return Err(bad(
            "param 'gen_filters' and 'gen_blocks' must be at least 1",
        ));
    }
    let residual = match x.get("gen_residual") {
        Some(Value::Bool(b)) => *b,
        _ => Settings::default().bool("gen_residual"),
    };
    let layout = Layout {
        residual,
        ..Layout::reference(ngf, blocks)
    };
    let mut params = ParamStore::new(cfg.seed, device);
    let ga = ResnetGenerator::new(params.var_builder(), &layout)?;
    let gb = ResnetGenerator::new(params.var_builder().pp("gb"), &layout)?;
    let ema = ResnetGenerator::new(params.var_builder().pp("ema"), &layout)?;
    let vars = params.vars();
    let average = vars
        .iter()
        .filter_map(|(k, v)| Some((vars.get(k.strip_prefix("ema.")?)?.clone(), v.clone())))
        .collect::<Vec<_>>();
    for (w, a) in &average {
        a.set(w.as_tensor())?;
    }
    let da = Patch::new(&mut params, "da", ngf)?;
    let db = Patch::new(&mut params, "db", ngf)?;
    let adam = AdamConfig {
        lr: cfg.lr,
        beta1: 0.5,
        ..Default::default()
    };
    let group = |pre: &[&str], cfg: AdamConfig| -> Result<Adam> {
        let vars = params
            .vars()
            .iter()
            .filter(|(k, _)| pre.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Adam::new(vars, cfg)
    };
    let d_adam = AdamConfig {
        lr: cfg.lr * D_LR,
        ..adam
    };
    let opts = vec![
        group(&["model.", "gb."], adam)?,
        group(&["da.", "db."], d_adam)?,
    ];
    let set = |v: Vec<Tensor>| {
        CropSet::new(
            v,
            vec![],
            cfg.crop,
            cfg.batch,
            cfg.vflip,
            Fit::AtLeast,
            device,
        )
    };
    let colour = float("colour_weight");
    let (to_b, to_a) = if colour > 0.0 {
        // Its own generator, so the map does not depend on how many draws the networks made.
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xc0105);
        (fit_colour(&a, &b, &mut rng)?, fit_colour(&b, &a, &mut rng)?)
    } else {
        Default::default()
    };
    let (sa, sb) = (set(a)?, set(b)?);
    Ok(Box::new(Unpaired {
        params,
        ga,
        gb,
        ema,
        average,
        da,
        db,
        opts,
        a: sa,
        b: sb,
        cycle: float("cycle_weight"),
        identity: float("identity_weight"),
        colour,
        to_b,
        to_a,
        arch: vec![
            ARCH_CYCLEGAN,
            ngf as f32,
            blocks as f32,
            if residual { 1.0 } else { 0.0 },
        ],
    }))
}

struct Unpaired {
    params: ParamStore,
    ga: ResnetGenerator,
    gb: ResnetGenerator,
    /// The exponential moving average of G_A's weights (`ema.model.*`): what previews, sheets
    /// and `model.safetensors` use.
    ema: ResnetGenerator,
    /// (G_A's variable, its average).
    average: Vec<(Var, Var)>,
    da: Patch,
    db: Patch,
    opts: Vec<Adam>,
    a: CropSet,
    b: CropSet,
    cycle: f64,
    identity: f64,
    colour: f64,
    /// Colour distribution transfer A → B and B → A: the colour loss's pseudo-targets.
    to_b: ColourTransfer,
    to_a: ColourTransfer,
    arch: Vec<f32>,
}

fn signed(x: &Tensor) -> Result<Tensor> {
    (x * 2.0)? - 1.0
}

impl TrainMode for Unpaired {
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
        let (sa, sb) = (self.a.draw(rng), self.b.draw(rng));
        let (ca, cb) = (self.a.cut(&sa)?, self.b.cut(&sb)?);
        let (ra, rb) = (signed(&ca)?, signed(&cb)?);
        let (ga, gb) = (&self.ga, &self.gb);
        let fb = ga.forward_raw(&ra)?;
        let fa = gb.forward_raw(&rb)?;
        let gan = (ls(&self.db.forward(&fb)?, 1.0)? + ls(&self.da.forward(&fa)?, 1.0)?)?;
        let cyc = (loss::l1(&gb.forward_raw(&fb)?, &ra)? + loss::l1(&ga.forward_raw(&fa)?, &rb)?)?;
        let mut g_loss = (&gan + (&cyc * self.cycle)?)?;
        let mut colour_v = 0.0;
        if self.colour > 0.0 {
            let col = (loss::l1(&fb, &mapped(&self.to_b, &ca)?)?
                + loss::l1(&fa, &mapped(&self.to_a, &cb)?)?)?;
            colour_v = col.to_scalar::<f32>()?;
            g_loss = (g_loss + (col * self.colour)?)?;
        }
        let mut idt_v = 0.0;
        if self.identity > 0.0 {
            let idt =
                (loss::l1(&ga.forward_raw(&rb)?, &rb)? + loss::l1(&gb.forward_raw(&ra)?, &ra)?)?;
            idt_v = idt.to_scalar::<f32>()?;
            g_loss = (g_loss + (idt * (self.cycle * self.identity))?)?;
        }
        self.opts[0].step(&g_loss.backward()?)?;
        let d = |net: &Patch, real: &Tensor, fake: &Tensor| -> Result<Tensor> {
            (ls(&net.forward(real)?, 1.0)? + ls(&net.forward(&fake.detach())?, 0.0)?)? * 0.5
        };
        let d_loss = (d(&self.da, &ra, &fa)? + d(&self.db, &rb, &fb)?)?;
        self.opts[1].step(&d_loss.backward()?)?;
        for (w, a) in &self.average {
            a.set(&((a.as_tensor() * EMA_DECAY)? + (w.as_tensor() * (1.0 - EMA_DECAY))?)?)?;
        }
        let parts = vec![
            ("gan", gan.to_scalar::<f32>()?),
            ("cycle", cyc.to_scalar::<f32>()?),
            ("identity", idt_v),
            ("colour", colour_v),
            ("d", d_loss.to_scalar::<f32>()?),
        ];
        Ok((g_loss, parts))
    }

    fn preview(&self, x: &Tensor) -> Result<Tensor> {
        self.ema
            .forward(x)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    }

    fn sample_batch(&self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
        let (sa, sb) = (self.a.draw(rng), self.b.draw(rng));
        Ok((self.a.cut(&sa)?, self.b.cut(&sb)?))
    }

    /// Rows: A crop | G_A(A) | a B crop (an example of the look, not a match).
    fn sheet(&self, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let (x, y) = self.sample_batch(rng)?;
        let n = x.dim(0)?.min(4);
        let p = self.preview(&x.narrow(0, 0, n)?)?.to_device(&Device::Cpu)?;
        let (x, y) = (x.to_device(&Device::Cpu)?, y.to_device(&Device::Cpu)?);
        let mut cells = Vec::new();
        for i in 0..n {
            cells.extend([x.get(i)?, p.get(i)?, y.get(i)?]);
        }
        contact_sheet(&Tensor::stack(&cells, 0)?, 3)
    }

    fn picture(&self, frame: Option<&Tensor>, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        image_picture(self, frame, rng)
    }

    /// G_A's averaged weights as `model.*` (+ `wick.arch`): what `wick.style-transfer` runs.
    fn model_tensors(&self) -> HashMap<String, Tensor> {
        self.params
            .tensors()
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("ema.")?.to_string(), v)))
            .collect()
    }
}
