//! The one trait every training mode implements, and what a mode declares about itself.
//!
//! A mode is a file in [`super::modes`] holding a [`ModeSpec`] (its name, help, data, params,
//! defaults and a constructor) and a type implementing [`TrainMode`] (the networks, their
//! optimisers and one step). Everything around a step is shared and lives in this module's
//! siblings: seeded crop sampling and image loading ([`super::data`]), the generic driver with
//! checkpoints and exact resume ([`super::Trainer`]), the run loop with progress, cancel, time
//! budget, loss log, contact sheets and plots ([`super::run`]). Adding a mode is one file and
//! one line in [`super::modes::REGISTRY`]; hosts (the `wick.train` node, `wick train`) read the
//! params and the mode list from the registry.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

use super::data::TrainData;
use super::optim::Adam;
use super::params::ParamStore;
use super::TrainConfig;
use crate::squeezenet::SqueezeNet;
use crate::weights::ModelError;

/// A mode's networks during training. The driver ([`super::Trainer`]) owns the step counter,
/// the seeded random streams and the files; a mode only computes.
pub trait TrainMode: Send {
    /// Every trainable tensor (all networks of the mode, one store, names unique).
    fn params(&self) -> &ParamStore;

    /// The optimisers, in checkpoint order (saved as `opt.{i}.`).
    fn optimizers(&self) -> &[Adam];
    fn optimizers_mut(&mut self) -> &mut [Adam];

    /// `wick.arch`: what network this is (first value: the `ARCH_*` id), so that a checkpoint
    /// of another network is refused and inference loaders know what they read.
    fn arch(&self) -> Vec<f32>;

    /// One optimisation step, drawing crops and noise from `rng` (the step's own stream).
    /// Returns the optimised loss and its named parts.
    fn step(&mut self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Vec<(&'static str, f32)>)>;

    /// The current network on `x`: images RGB 0..1 `[N, 3, H, W]` (image modes, any size) or
    /// latents `[N, nz]` (generators). Output RGB 0..1.
    fn preview(&self, x: &Tensor) -> Result<Tensor>;

    /// A crop batch as a step drawing from `rng` would see it: (inputs, targets); modes
    /// without targets return the inputs twice.
    fn sample_batch(&self, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)>;

    /// A contact sheet `[3, H, W]` of the current model (on the CPU); `rng` is the stream of the
    /// next step, so image modes show the crops it will train on.
    fn sheet(&self, rng: &mut ChaCha8Rng) -> Result<Tensor>;

    /// The picture a host shows while or after training `[1, 3, H, W]`: image modes apply the
    /// model to `frame` (else to a crop drawn from `rng`), generators show a sample sheet.
    fn picture(&self, frame: Option<&Tensor>, rng: &mut ChaCha8Rng) -> Result<Tensor>;

    /// The tensors of the inference model file (default: every parameter). A checkpoint always
    /// holds every parameter.
    fn model_tensors(&self) -> HashMap<String, Tensor> {
        self.params().tensors()
    }
}

/// What material a mode trains on; the run loop loads it and hands it over as [`TrainData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// `input` and `target` matched by file name or frame number (`TrainData::Pairs`).
    Matched,
    /// `input` frames and one `style` image (`TrainData::Style`).
    StyleImage,
    /// `input` images only (`TrainData::Images`).
    ImageSet,
    /// `input` (domain A) and `target` (domain B), not matched, any counts
    /// (`TrainData::Unpaired`).
    TwoSets,
}

impl DataKind {
    /// Whether the last `holdout` input frames are kept out of training as previews.
    pub fn holds_out(self) -> bool {
        !matches!(self, DataKind::ImageSet)
    }
}

/// A param's type, range and default (hosts map these to their own param types).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamKind {
    Float {
        min: f64,
        max: f64,
        default: f64,
    },
    Int {
        min: i64,
        max: i64,
        default: i64,
    },
    Bool {
        default: bool,
    },
    Enum {
        choices: &'static [&'static str],
        default: &'static str,
    },
    Path {
        default: &'static str,
    },
}

/// A training param.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: ParamKind,
}

impl ParamSpec {
    pub const fn new(
        name: &'static str,
        label: &'static str,
        help: &'static str,
        kind: ParamKind,
    ) -> Self {
        ParamSpec {
            name,
            label,
            help,
            kind,
        }
    }

    pub fn default_value(&self) -> Value {
        match &self.kind {
            ParamKind::Float { default, .. } => Value::Float(*default),
            ParamKind::Int { default, .. } => Value::Int(*default),
            ParamKind::Bool { default } => Value::Bool(*default),
            ParamKind::Enum { default, .. } | ParamKind::Path { default } => {
                Value::Str(default.to_string())
            }
        }
    }
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(String),
}

/// Named settings of a run (the `wick.train` params), in order. Getters fall back to the
/// param's registered default, then to zero / false / "".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings(Vec<(String, Value)>);

impl Settings {
    /// Every registered param at its default.
    pub fn defaults() -> Self {
        Settings(
            super::all_params()
                .iter()
                .map(|p| (p.name.to_string(), p.default_value()))
                .collect(),
        )
    }

    pub fn set(&mut self, name: &str, v: Value) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = v,
            None => self.0.push((name.to_string(), v)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(String, Value)> {
        self.0.iter()
    }

    fn value(&self, name: &str) -> Value {
        self.get(name).cloned().unwrap_or_else(|| {
            super::all_params()
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.default_value())
                .unwrap_or(Value::Int(0))
        })
    }

    pub fn f64(&self, name: &str) -> f64 {
        match self.value(name) {
            Value::Float(x) => x,
            Value::Int(i) => i as f64,
            _ => 0.0,
        }
    }

    pub fn i64(&self, name: &str) -> i64 {
        match self.value(name) {
            Value::Int(i) => i,
            Value::Float(x) => x as i64,
            _ => 0,
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.value(name), Value::Bool(true))
    }

    pub fn str(&self, name: &str) -> String {
        match self.value(name) {
            Value::Str(s) => s,
            _ => String::new(),
        }
    }
}

/// Builds a mode's networks for a run (validating the data and the config).
pub type BuildFn = fn(
    &TrainConfig,
    TrainData,
    Option<Arc<SqueezeNet>>,
    &Device,
) -> std::result::Result<Box<dyn TrainMode>, ModelError>;

/// What a mode declares about itself: one `pub static SPEC: ModeSpec` per mode file.
pub struct ModeSpec {
    /// The `mode` param's value.
    pub name: &'static str,
    /// Other accepted spellings (programmatic `Mode::parse`).
    pub aliases: &'static [&'static str],
    /// One line for the `mode` param's help.
    pub help: &'static str,
    /// What `input` (and `target` / `style`) mean for this mode.
    pub data: DataKind,
    /// One line: what `input` is in this mode (the `input` param's help lists them).
    pub input_help: &'static str,
    /// One line: what `target` is in this mode ("" when the mode reads none).
    pub target_help: &'static str,
    /// Params only this mode reads (shared ones are declared once by name; first wins).
    pub params: &'static [ParamSpec],
    /// The mode's default hyper-parameters (batch, crop, lr, ...) on top of
    /// [`TrainConfig`]'s base values.
    pub defaults: fn(&mut TrainConfig),
    /// Reads the mode's params from the settings into the config and validates them (crop
    /// size rules, ...). Errors name the param.
    pub configure: fn(&mut TrainConfig, &Settings) -> std::result::Result<(), ModelError>,
    /// Whether the run needs the SqueezeNet loss network.
    pub needs_loss_net: fn(&TrainConfig) -> bool,
    pub build: BuildFn,
}

impl std::fmt::Debug for ModeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
