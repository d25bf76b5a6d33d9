//! The training run every host uses (the `wick.train` node, `wick train` through it): settings
//! → data → [`Trainer`] → steps with progress, cancel and a time budget → files.
//!
//! [`Session::run`] loads the data the mode declares, resumes from `OUT/checkpoint.safetensors`
//! when `resume` is on (else starts from `weights` when given), steps up to `steps`, reports
//! `step, loss, s/step, ETA` through the progress callback (which returns `true` to cancel),
//! and writes into the output folder, every file atomically (temp + rename):
//!
//! - `checkpoint.safetensors` every `checkpoint_every` steps, on cancel and at the end (model,
//!   Adam moments, step, seed: a resumed run equals an uninterrupted one on the CPU);
//! - `model.safetensors`: the inference model, with every checkpoint and at the end;
//! - `losses.csv` (every step's loss and its parts), `loss.png` and `sheet_NNNNNN.png` (the
//!   mode's contact sheet) every `sheet_every` steps and at the end.
//!
//! A session keeps the finished run: calling again with the same settings only re-renders
//! [`Session::picture`]; the SqueezeNet loss network is loaded once per device.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};

use super::data::{self, TrainData};
use super::dist::{Dist, DISTRIBUTED_CHOICES};
use super::mode::{DataKind, ModeSpec, ParamKind, ParamSpec, Settings};
use super::{plot, Mode, StepStats, TrainConfig, Trainer};
use crate::device::DEVICE_CHOICES;
use crate::squeezenet::SqueezeNet;
use crate::weights::ModelError;

/// Files a run writes into the output folder.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
pub const MODEL: &str = "model.safetensors";
pub const LOSSES: &str = "losses.csv";
pub const LOSS_PNG: &str = "loss.png";

const fn int(min: i64, max: i64, default: i64) -> ParamKind {
    ParamKind::Int { min, max, default }
}

/// The run's own params (the modes' come after `lr`, see [`super::all_params`]). `mode`'s
/// choices and the `mode`/`input`/`target` helps are filled in from the registry.
pub static RUN_PARAMS: &[ParamSpec] = &[
    ParamSpec::new("mode", "Mode", "", ParamKind::Enum { choices: &[], default: "" }),
    ParamSpec::new("input", "Input", "Training images: a folder, an image file, or a frame pattern (dir/f.%04d.png, dir/f.####.png).", ParamKind::Path { default: "" }),
    ParamSpec::new("target", "Target", "Second set of images.", ParamKind::Path { default: "" }),
    ParamSpec::new("style", "Style image", "style: the painting.", ParamKind::Path { default: "" }),
    ParamSpec::new("out", "Output folder", "Where checkpoint.safetensors, model.safetensors, losses.csv, loss.png and the sheets go (created if missing).", ParamKind::Path { default: "" }),
    ParamSpec::new("steps", "Steps", "Total optimisation steps (a resumed run continues up to this).", int(1, 10_000_000, 500)),
    ParamSpec::new("batch", "Batch", "Crops per step (0: the mode's default, 4; generator/vae 16).", int(0, 1024, 0)),
    ParamSpec::new("crop", "Crop size", "pairs/style: crop side, a multiple of 4, at least 32 (0: 128). generator/vae: resolution 32, 64 or 128 (0: 64).", int(0, 4096, 0)),
    ParamSpec::new("lr", "Learning rate", "Adam learning rate (0: the mode's default, 1e-3; generator 2e-4).", ParamKind::Float { min: 0.0, max: 1.0, default: 0.0 }),
    ParamSpec::new("max_side", "Max side", "Training images larger than this on their long side are scaled down (0: as they are).", int(0, 32768, 0)),
    ParamSpec::new("max_images", "Max images", "Use at most this many training images, in name order (0: all).", int(0, 10_000_000, 0)),
    ParamSpec::new("holdout", "Held out", "pairs/style: the last N frames are not trained on; the first of them is the preview when nothing is on the preview input.", int(0, 1000, 1)),
    ParamSpec::new("weights", "Initial weights", "Start from this model or checkpoint (.safetensors of the same network) instead of random weights (ignored when resuming).", ParamKind::Path { default: "" }),
    ParamSpec::new("seed", "Seed", "Initial weights, crops and noise (same seed, same run on the CPU).", int(0, i32::MAX as i64, 0)),
    ParamSpec::new("checkpoint_every", "Checkpoint every", "Write checkpoint.safetensors and model.safetensors every N steps.", int(1, 10_000_000, 50)),
    ParamSpec::new("sheet_every", "Sheet every", "Write a contact sheet and loss.png every N steps (0: only at the end).", int(0, 10_000_000, 100)),
    ParamSpec::new("max_seconds", "Time budget", "Stop after the step that passes this many seconds of training in this call, as if `steps` were reached (0: no limit). Runs stopped by time are not reproducible step for step.", ParamKind::Float { min: 0.0, max: 1e9, default: 0.0 }),
    ParamSpec::new("resume", "Resume", "Continue from checkpoint.safetensors in the output folder if there is one.", ParamKind::Bool { default: true }),
    ParamSpec::new("device", "Device", "Compute device.", ParamKind::Enum { choices: &DEVICE_CHOICES, default: "auto" }),
    ParamSpec::new("distributed", "Distributed", "Data-parallel training over MPI: auto (when started by mpirun/srun with more than one task, or COPYCAT_WORLD_SIZE > 1), off (always one process), mpi (always join MPI). `batch` is then the global batch, split between the ranks; rank 0 alone writes files. Needs libwick_mpi.so (scripts/farm/mpi-build.sh).", ParamKind::Enum { choices: &DISTRIBUTED_CHOICES, default: "auto" }),
    ParamSpec::new("sync_every", "Sync every", "Distributed runs: 1 sums the ranks' gradients every step (the same training as one process on the combined batch); K > 1 lets each rank take K local steps, then averages the models (fewer exchanges). 0: COPYCAT_SYNC_INTERVAL if set, else 1.", int(0, 1_000_000, 0)),
];

/// Why a run stopped without finishing.
#[derive(Debug)]
pub enum RunError {
    /// The progress callback asked to stop (the last checkpoint is kept).
    Cancelled,
    Failed(ModelError),
}

impl From<ModelError> for RunError {
    fn from(e: ModelError) -> Self {
        RunError::Failed(e)
    }
}

impl From<candle_core::Error> for RunError {
    fn from(e: candle_core::Error) -> Self {
        RunError::Failed(e.into())
    }
}

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::BadInput(msg.into())
}

/// Progress callback: (fraction done, message) → `true` to cancel.
pub type Progress<'a> = dyn FnMut(f64, &str) -> bool + 'a;

fn report(p: &mut Progress, f: f64, msg: &str) -> Result<(), RunError> {
    if p(f, msg) {
        Err(RunError::Cancelled)
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Loss log

/// Every step's loss and its named parts, written as CSV.
#[derive(Default)]
pub struct LossLog {
    names: Vec<String>,
    rows: Vec<(u64, f32, Vec<f32>)>,
}

impl LossLog {
    pub fn push(&mut self, s: &StepStats) {
        if self.names.is_empty() {
            self.names = s.parts.iter().map(|p| p.0.to_string()).collect();
        }
        self.rows
            .push((s.step, s.loss, s.parts.iter().map(|p| p.1).collect()));
    }

    pub fn csv(&self) -> String {
        let mut s = String::from("step,loss");
        for n in &self.names {
            s.push(',');
            s.push_str(n);
        }
        s.push('\n');
        for (k, l, parts) in &self.rows {
            s.push_str(&format!("{k},{l}"));
            for v in parts {
                s.push_str(&format!(",{v}"));
            }
            s.push('\n');
        }
        s
    }

    /// Rows of an earlier run's `losses.csv` up to `upto` steps (a resumed run keeps them).
    pub fn read(path: &Path, upto: u64) -> Self {
        let Ok(text) = wick_common::fs::read_regular_text(path, wick_common::fs::GIB) else {
            return Self::default();
        };
        let mut lines = text.lines();
        let names: Vec<String> = lines
            .next()
            .map(|h| h.split(',').skip(2).map(str::to_string).collect())
            .unwrap_or_default();
        let mut rows = Vec::new();
        for l in lines {
            let v: Vec<&str> = l.split(',').collect();
            let (Some(Ok(k)), Some(Ok(loss))) = (
                v.first().map(|x| x.parse::<u64>()),
                v.get(1).map(|x| x.parse::<f32>()),
            ) else {
                continue;
            };
            if k > upto || v.len() != names.len() + 2 {
                continue;
            }
            let parts = v[2..].iter().filter_map(|x| x.parse().ok()).collect();
            rows.push((k, loss, parts));
        }
        LossLog { names, rows }
    }

    /// Total and parts on one log-scaled chart (their scales differ by orders of magnitude);
    /// non-positive values (a content loss of exactly 0 at an identity start) are left out.
    pub fn plot(&self, path: &Path, title: &str) -> Result<(), ModelError> {
        let pos = |v: f32| if v > 0.0 { v } else { f32::NAN };
        let total: Vec<f32> = self.rows.iter().map(|r| pos(r.1)).collect();
        let parts: Vec<Vec<f32>> = (0..self.names.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| pos(r.2.get(i).copied().unwrap_or(f32::NAN)))
                    .collect()
            })
            .collect();
        let mut series: Vec<(&str, &[f32])> = vec![("loss", &total)];
        for (n, v) in self.names.iter().zip(&parts) {
            series.push((n.as_str(), v));
        }
        plot::loss_curve_png(path, title, &series, (800, 450))
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    wick_common::fs::write_atomic(path, bytes)
        .map_err(|e| ModelError::weights(path, format!("cannot write: {e}")))
}

/// `m:ss` or `h:mm:ss`.
pub fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

// ---------------------------------------------------------------------------------------------
// Settings → config and data

/// The mode the settings name.
pub fn mode_of(s: &Settings) -> Result<&'static ModeSpec, ModelError> {
    let name = s.str("mode");
    Mode::parse(&name)
        .and_then(Mode::spec)
        .ok_or_else(|| bad(format!("param 'mode': unknown mode '{name}'")))
}

/// The mode's config from the settings: its defaults, then `seed`, and `batch`, `crop`, `lr`
/// where set (non-zero), then the mode's own params (validated).
pub fn config(s: &Settings) -> Result<TrainConfig, ModelError> {
    let spec = mode_of(s)?;
    let mut c = TrainConfig::new(Mode::parse(spec.name).expect("registered"));
    c.seed = s.i64("seed") as u64;
    if s.i64("batch") > 0 {
        c.batch = s.i64("batch") as usize;
    }
    if s.i64("crop") > 0 {
        c.crop = s.i64("crop") as usize;
    }
    if s.f64("lr") > 0.0 {
        c.lr = s.f64("lr");
    }
    (spec.configure)(&mut c, s)?;
    Ok(c)
}

/// Loads what `kind` needs: (data, the first held-out input frame).
fn load_data(kind: DataKind, s: &Settings) -> Result<(TrainData, Option<Tensor>), ModelError> {
    let max_side = s.i64("max_side") as usize;
    let max_images = match s.i64("max_images") {
        0 => usize::MAX,
        n => n as usize,
    };
    let holdout = if kind.holds_out() {
        s.i64("holdout") as usize
    } else {
        0
    };
    let split = |n: usize| -> Result<usize, ModelError> {
        if holdout >= n {
            return Err(bad(format!(
                "holdout={holdout} leaves no training frames ({n} found); lower 'holdout'"
            )));
        }
        Ok(n - holdout)
    };
    let mut inputs = data::list_images("input", &s.str("input"))?;
    // The held-out frames are the last `holdout` inputs; the first of them is the preview.
    let take_holdout = |files: &mut Vec<data::Item>| -> Result<Option<Tensor>, ModelError> {
        let n = split(files.len())?;
        let held = if holdout > 0 {
            Some(data::load_src(&files[n].1, max_side)?)
        } else {
            None
        };
        files.truncate(n.min(max_images));
        Ok(held)
    };
    Ok(match kind {
        DataKind::Matched => {
            let targets = data::list_images("target", &s.str("target"))?;
            let by_key: std::collections::BTreeMap<&str, &data::Src> =
                targets.iter().map(|(k, f)| (k.as_str(), f)).collect();
            let mut pairs = Vec::new();
            for (k, f) in &inputs {
                let t = by_key.get(k.as_str()).ok_or_else(|| {
                    bad(format!(
                        "target: no target for input {} (targets are matched by file name \
                         or frame number '{k}')",
                        f.display()
                    ))
                })?;
                pairs.push(((k.clone(), f.clone()), (k.clone(), (*t).clone())));
            }
            let n = split(pairs.len())?.min(max_images);
            let held = if holdout > 0 {
                Some(data::load_src(
                    &pairs[pairs.len() - holdout].0 .1,
                    max_side,
                )?)
            } else {
                None
            };
            pairs.truncate(n);
            let (i, t): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
            let (inputs, targets) = (data::load_all(&i, max_side)?, data::load_all(&t, max_side)?);
            for (k, (a, b)) in inputs.iter().zip(&targets).enumerate() {
                if a.dims() != b.dims() {
                    return Err(bad(format!(
                        "input {} is {:?} but its target {} is {:?}",
                        i[k].1.display(),
                        a.dims(),
                        t[k].1.display(),
                        b.dims()
                    )));
                }
            }
            (TrainData::Pairs { inputs, targets }, held)
        }
        DataKind::StyleImage => {
            let style_path = s.str("style");
            if style_path.is_empty() {
                return Err(bad("style mode needs param 'style' (a painting)"));
            }
            let style = data::load_rgb(Path::new(&style_path), 0)?;
            let style = data::resize_short_side(&style, s.i64("style_size") as usize)?;
            let held = take_holdout(&mut inputs)?;
            let content = data::load_all(&inputs, max_side)?;
            (TrainData::Style { style, content }, held)
        }
        DataKind::ImageSet => {
            inputs.truncate(max_images);
            (TrainData::Images(data::load_all(&inputs, max_side)?), None)
        }
        DataKind::TwoSets => {
            let mut targets = data::list_images("target", &s.str("target"))?;
            let held = take_holdout(&mut inputs)?;
            targets.truncate(max_images);
            let a = data::load_all(&inputs, max_side)?;
            let b = data::load_all(&targets, max_side)?;
            (TrainData::Unpaired { a, b }, held)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The session

/// A finished run: its settings, the trainer (for pictures) and the held-out frame.
pub struct Finished {
    key: Settings,
    pub trainer: Trainer,
    pub holdout: Option<Tensor>,
}

/// What a host keeps between calls (see the module docs).
#[derive(Default)]
pub struct Session {
    loss_net: Option<(Device, Arc<SqueezeNet>)>,
    finished: Option<Finished>,
}

/// The settings that decide a run (all but `resume`).
fn run_key(s: &Settings) -> Settings {
    let mut k = Settings::default();
    for (n, v) in s.iter().filter(|(n, _)| n != "resume") {
        k.set(n, v.clone());
    }
    k
}

impl Session {
    fn loss_net(&mut self, dev: &Device) -> Result<Arc<SqueezeNet>, ModelError> {
        if let Some((d, n)) = &self.loss_net {
            if d.same_device(dev) {
                return Ok(n.clone());
            }
        }
        let path = crate::weights::bundled("squeezenet1_1.safetensors");
        let n = Arc::new(SqueezeNet::load(&path, dev)?);
        self.loss_net = Some((dev.clone(), n.clone()));
        Ok(n)
    }

    /// The last finished run, if any.
    pub fn finished(&self) -> Option<&Finished> {
        self.finished.as_ref()
    }

    /// Trains per `s` unless the last finished run had the same settings (then nothing is done).
    pub fn run(&mut self, s: &Settings, progress: &mut Progress) -> Result<(), RunError> {
        let key = run_key(s);
        if self
            .finished
            .as_ref()
            .map(|f| f.key == key)
            .unwrap_or(false)
        {
            return Ok(());
        }
        self.finished = None;
        let (trainer, holdout) = self.train(s, progress)?;
        self.finished = Some(Finished {
            key,
            trainer,
            holdout,
        });
        Ok(())
    }

    /// What a host shows after [`Session::run`] `[1, 3, H, W]` (on the training device): the
    /// model on `frame`, else on the held-out frame, else on a training crop; generators show a
    /// sample sheet.
    pub fn picture(&self, frame: Option<&Tensor>) -> Result<Tensor, ModelError> {
        let f = self
            .finished
            .as_ref()
            .ok_or_else(|| bad("no finished training run to preview"))?;
        let frame = match (frame, &f.holdout) {
            (Some(x), _) => Some(x.clone()),
            (None, Some(h)) => Some(h.unsqueeze(0)?),
            (None, None) => None,
        };
        f.trainer.picture(frame.as_ref())
    }

    /// Loads data and builds the trainer (validating everything before touching `out`). In a
    /// distributed run, joins the group first, agrees with the other ranks that every rank
    /// set up, and gives every rank rank 0's state (rank 0 alone resumes or loads `weights`).
    fn setup(
        &mut self,
        s: &Settings,
        progress: &mut Progress,
    ) -> Result<(Trainer, Option<Tensor>, PathBuf), RunError> {
        let spec = mode_of(s)?;
        let cfg = config(s)?;
        let out = s.str("out");
        if out.is_empty() {
            return Err(bad("param 'out' is empty: give an output folder").into());
        }
        let out = PathBuf::from(out);
        let dist = Dist::from_settings(s)?.map(Arc::new);
        let r = self.build(s, spec, cfg, &out, dist.as_ref(), progress);
        let Some(d) = dist else {
            return r;
        };
        // Every rank learns whether every rank is ready before any waits on another; a rank
        // that failed reports its own error, the others name it.
        let r = match (d.which(r.is_err()), r) {
            (Err(e), _) => Err(e.into()),
            (Ok(_), Err(e)) => Err(e),
            (Ok(failed), Ok(_)) if !failed.is_empty() => Err(bad(format!(
                "distributed training: rank(s) {failed:?} of {} could not set up (see their \
                 messages)",
                d.size
            ))
            .into()),
            (Ok(_), Ok((mut trainer, holdout, out))) => d
                .check_settings(s)
                .and_then(|()| d.broadcast_state(&mut trainer))
                .map(|()| (trainer, holdout, out))
                .map_err(RunError::from),
        };
        if r.is_err() {
            let _ = d.finish();
        }
        r
    }

    fn build(
        &mut self,
        s: &Settings,
        spec: &ModeSpec,
        cfg: TrainConfig,
        out: &Path,
        dist: Option<&Arc<Dist>>,
        progress: &mut Progress,
    ) -> Result<(Trainer, Option<Tensor>, PathBuf), RunError> {
        let root = dist.is_none_or(|d| d.is_root());
        report(progress, 0.0, "loading training data")?;
        let (data, holdout) = load_data(spec.data, s)?;
        let dev = crate::select_device(&s.str("device"))?;
        let net = if (spec.needs_loss_net)(&cfg) {
            Some(self.loss_net(&dev)?)
        } else {
            None
        };
        let mut trainer = Trainer::new(cfg, data, net, &dev)?;
        trainer.set_dist(dist.cloned())?;
        let ckpt = out.join(CHECKPOINT);
        if !root {
            // Rank 0's state (resumed or initial weights) arrives by broadcast.
        } else if s.bool("resume") && ckpt.exists() {
            trainer.resume(&ckpt).map_err(|e| match e {
                ModelError::Weights { path, msg } => ModelError::Weights {
                    path,
                    msg: format!(
                        "{msg} (resume=true: set resume=false to start over, or use another \
                         out folder)"
                    ),
                },
                e => e,
            })?;
        } else if !s.str("weights").is_empty() {
            trainer.init_from(Path::new(&s.str("weights")))?;
        }
        if root {
            std::fs::create_dir_all(out).map_err(|e| {
                bad(format!(
                    "cannot create output folder {}: {e}",
                    out.display()
                ))
            })?;
        }
        Ok((trainer, holdout, out.to_path_buf()))
    }

    fn train(
        &mut self,
        s: &Settings,
        progress: &mut Progress,
    ) -> Result<(Trainer, Option<Tensor>), RunError> {
        let (mut trainer, holdout, out) = self.setup(s, progress)?;
        let dist = trainer.dist().cloned();
        let r = train_loop(&mut trainer, s, &out, progress);
        if let Some(d) = dist {
            // The finished trainer works alone (previews); the group ends here, on every rank
            // after the same last collective.
            trainer.set_dist(None)?;
            let fin = d.finish();
            r?;
            fin?;
        } else {
            r?;
        }
        Ok((trainer, holdout))
    }
}

/// In a distributed run: whether any rank set each flag; alone: the flags.
fn agree(d: Option<&Arc<Dist>>, flags: &[bool]) -> Result<Vec<bool>, ModelError> {
    match d {
        Some(d) => d.any(flags),
        None => Ok(flags.to_vec()),
    }
}

/// After rank 0 tried to write its files: every rank learns whether that failed (rank 0 gets
/// its own error, the others one naming it).
fn agree_written(d: Option<&Arc<Dist>>, r: Result<(), ModelError>) -> Result<(), ModelError> {
    let failed = agree(d, &[r.is_err()])?[0];
    match (r, failed) {
        (Err(e), _) => Err(e),
        (Ok(()), true) => Err(bad(
            "distributed training: rank 0 could not write its files (see its message)",
        )),
        (Ok(()), false) => Ok(()),
    }
}

fn train_loop(
    trainer: &mut Trainer,
    s: &Settings,
    out: &Path,
    progress: &mut Progress,
) -> Result<(), RunError> {
    let dist = trainer.dist().cloned();
    let d = dist.as_ref();
    let root = d.is_none_or(|d| d.is_root());
    let mode_name = s.str("mode");
    let steps = s.i64("steps").max(1) as u64;
    let ck_every = s.i64("checkpoint_every").max(1) as u64;
    let sheet_every = s.i64("sheet_every").max(0) as u64;
    let start = trainer.steps_done();
    let mut log = if root {
        LossLog::read(&out.join(LOSSES), start)
    } else {
        LossLog::default()
    };
    let files = Files {
        out,
        mode: &mode_name,
    };
    // Only rank 0 writes; every rank takes part in the syncs around the writes.
    let save = |t: &mut Trainer, log: &LossLog, sheets: bool| -> Result<(), ModelError> {
        t.sync_ranks()?;
        if let Some(d) = d {
            d.check_same(t)?;
        }
        let r = if root {
            files
                .save(t, log)
                .and_then(|()| if sheets { files.sheets(t, log) } else { Ok(()) })
        } else {
            Ok(())
        };
        agree_written(d, r)
    };
    let t0 = Instant::now();
    let group = match d {
        Some(d) => format!(
            ", rank {} of {} ({}), {}",
            d.rank,
            d.size,
            d.engine(),
            if d.sync_every == 1 {
                "gradients synced every step".to_string()
            } else {
                format!("models averaged every {} steps", d.sync_every)
            }
        ),
        None => String::new(),
    };
    let msg0 = if start > 0 {
        format!("resumed at step {start}/{steps}{group}")
    } else {
        format!(
            "training {mode_name} ({} parameters), {steps} steps{group}",
            trainer.param_count()
        )
    };
    report(progress, start as f64 / steps as f64, &msg0)?;
    let budget = s.f64("max_seconds");
    while trainer.steps_done() < steps {
        if budget > 0.0 && agree(d, &[t0.elapsed().as_secs_f64() >= budget])?[0] {
            // A cancel here is the host's to report after the final save below (ProcessCtx
            // keeps the flag).
            let _ = progress(
                1.0,
                &format!(
                    "time budget {budget} s reached at step {}/{steps}",
                    trainer.steps_done()
                ),
            );
            break;
        }
        let st = match (trainer.step(), d) {
            (Ok(st), _) => st,
            (Err(e), None) => return Err(e.into()),
            // The other ranks would wait for this one in the next collective.
            (Err(e), Some(d)) => d.abort(&e.to_string(), 4),
        };
        log.push(&st);
        let done = st.step - start;
        let per = t0.elapsed().as_secs_f64() / done as f64;
        let parts: Vec<String> = st
            .parts
            .iter()
            .map(|(n, v)| format!("{n} {v:.5}"))
            .collect();
        let msg = format!(
            "step {}/{steps} loss {:.5} [{}] {per:.2} s/step eta {}",
            st.step,
            st.loss,
            parts.join(" "),
            fmt_secs(per * (steps - st.step) as f64)
        );
        let sheet_due = sheet_every > 0 && st.step.is_multiple_of(sheet_every) && st.step < steps;
        if st.step.is_multiple_of(ck_every) && st.step < steps {
            save(trainer, &log, false)?;
        }
        if sheet_due {
            trainer.sync_ranks()?;
            agree_written(
                d,
                if root {
                    files.sheets(trainer, &log)
                } else {
                    Ok(())
                },
            )?;
        }
        let cancel = progress(st.step as f64 / steps as f64, &msg);
        if agree(d, &[cancel])?[0] {
            // Keep what was learned: the checkpoint is written atomically, so the previous
            // one stays valid until this one is complete.
            save(trainer, &log, false)?;
            return Err(RunError::Cancelled);
        }
    }
    // The final files. In a distributed run every rank takes part in the last sync and check
    // (only rank 0 knows whether its model file exists, and only it writes).
    let write = trainer.steps_done() > start || !out.join(MODEL).exists();
    if write || d.is_some() {
        trainer.sync_ranks()?;
        if let Some(d) = d {
            d.check_same(trainer)?;
        }
        let r = if root && write {
            files
                .save(trainer, &log)
                .and_then(|()| files.sheets(trainer, &log))
        } else {
            Ok(())
        };
        agree_written(d, r)?;
    }
    Ok(())
}

/// Where a run's files go.
struct Files<'a> {
    out: &'a Path,
    mode: &'a str,
}

impl Files<'_> {
    fn save(&self, t: &Trainer, log: &LossLog) -> Result<(), ModelError> {
        t.save_checkpoint(&self.out.join(CHECKPOINT))?;
        t.save_model(&self.out.join(MODEL))?;
        write_atomic(&self.out.join(LOSSES), log.csv().as_bytes())
    }

    fn sheets(&self, t: &Trainer, log: &LossLog) -> Result<(), ModelError> {
        let step = t.steps_done();
        log.plot(
            &self.out.join(LOSS_PNG),
            &format!("wick.train {} ({step} steps)", self.mode),
        )?;
        let img = plot::tensor_to_image(&t.sheet()?)?;
        plot::save_png_atomic(
            &image::DynamicImage::ImageRgb8(img),
            &self.out.join(format!("sheet_{step:06}.png")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_format() {
        assert_eq!(fmt_secs(59.4), "0:59");
        assert_eq!(fmt_secs(3725.0), "1:02:05");
    }

    #[test]
    fn every_registered_mode_configures_from_defaults() {
        for m in super::super::modes::REGISTRY {
            let mut s = Settings::defaults();
            s.set("mode", super::super::mode::Value::Str(m.name.into()));
            let c = config(&s).unwrap_or_else(|e| panic!("{}: {e}", m.name));
            assert_eq!(c.mode.name(), m.name);
        }
    }
}
