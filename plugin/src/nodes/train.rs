//! `wick.train`: trains one of Wick's models inside the graph, like Nuke's CopyCat.
//!
//! One `process` call runs the whole training (a long-running, cancellable call): it loads the
//! data, resumes from `OUT/checkpoint.safetensors` when `resume` is on, steps the
//! [`wick_models::train::Trainer`] up to `steps`, reports `step, loss, s/step, ETA` through the
//! progress callback, and writes into the output folder (every file atomically, temp + rename):
//!
//! - `checkpoint.safetensors` every `checkpoint_every` steps, on cancel and at the end (model,
//!   Adam moments, step, seed: a resumed run equals an uninterrupted one on the CPU);
//! - `model.safetensors`: the inference model (loads in `wick.style-transfer` for pairs/style,
//!   `wick.generate` for generator/vae), with every checkpoint and at the end;
//! - `losses.csv` (every step's loss and its parts), `loss.png` (plotters) and
//!   `sheet_NNNNNN.png` (a contact sheet: input | output | target crops, or generator samples)
//!   every `sheet_every` steps and at the end.
//!
//! The output frame is a preview: the current model applied to the `preview` input when it is
//! connected, else to a held-out training frame (the last `holdout` frames are kept out of
//! training), or for generators a 4×4 sample sheet; resized to the output size. When the run is
//! already complete (same settings as the last call, or a checkpoint at `steps`) the call only
//! renders the preview.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use wick_models::device::DEVICE_CHOICES;
use wick_models::squeezenet::SqueezeNet;
use wick_models::train::{
    self, contact_sheet, gan, img2img::ModelSize, plot, Mode, StepStats, TrainConfig, TrainData,
    Trainer,
};

use crate::image::Image;
use crate::node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, Params, PortDesc, ProcessCtx, ThreadSafety,
};

pub const ID: &str = "wick.train";

/// The `mode` param's choices.
pub const MODES: [&str; 4] = ["pairs", "style", "generator", "vae"];

/// Files the node writes into the output folder.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
pub const MODEL: &str = "model.safetensors";
pub const LOSSES: &str = "losses.csv";
pub const LOSS_PNG: &str = "loss.png";

pub fn describe() -> NodeDesc {
    use ParamKind::*;
    let int = |min: i64, max: i64, default: i64| Int { min, max, default };
    NodeDesc {
        id: ID,
        label: "Train",
        category: "Wick/Train",
        help: "Trains a model on your frames (like CopyCat): pairs (input → target), style (a \
               painting's style on content frames), generator (DCGAN) or vae. Long-running and \
               cancellable; checkpoints and resumes; writes model.safetensors for \
               wick.style-transfer / wick.generate, loss curves and contact sheets into `out`. \
               The output is a preview of the current model.",
        inputs: vec![PortDesc::new(
            "preview",
            "Optional frame to preview the model on (pairs/style); else a held-out frame.",
        )
        .optional()],
        outputs: vec![PortDesc::new(
            "output",
            "Preview: the model on the preview frame, or a sample sheet (generator/vae).",
        )],
        params: vec![
            ParamDesc::new("mode", "Mode", "pairs: input → target; style: content frames in a painting's style; generator: DCGAN; vae: variational auto-encoder.", Enum { choices: &MODES, default: "pairs" }),
            ParamDesc::new("input", "Input", "Training images: a folder, an image file, or a frame pattern (dir/f.%04d.png, dir/f.####.png). pairs: inputs; style: content frames; generator/vae: the image set.", Path { default: "" }),
            ParamDesc::new("target", "Target", "pairs: the targets, matched to the inputs by file name (folders) or frame number (patterns).", Path { default: "" }),
            ParamDesc::new("style", "Style image", "style: the painting.", Path { default: "" }),
            ParamDesc::new("out", "Output folder", "Where checkpoint.safetensors, model.safetensors, losses.csv, loss.png and the sheets go (created if missing).", Path { default: "" }),
            ParamDesc::new("steps", "Steps", "Total optimisation steps (a resumed run continues up to this).", int(1, 10_000_000, 500)),
            ParamDesc::new("batch", "Batch", "Crops per step (0: the mode's default, 4; generator/vae 16).", int(0, 1024, 0)),
            ParamDesc::new("crop", "Crop size", "pairs/style: crop side, a multiple of 4, at least 32 (0: 128). generator/vae: resolution 32, 64 or 128 (0: 64).", int(0, 4096, 0)),
            ParamDesc::new("lr", "Learning rate", "Adam learning rate (0: the mode's default, 1e-3; generator 2e-4).", Float { min: 0.0, max: 1.0, default: 0.0 }),
            ParamDesc::new("model_size", "Model size", "pairs/style: U-Net width, small (0.15 M parameters) or medium (0.6 M).", Enum { choices: &["small", "medium"], default: "small" }),
            ParamDesc::new("latent", "Latent size", "generator/vae: latent dimensions.", int(2, 1024, 64)),
            ParamDesc::new("gen_width", "Generator width", "generator/vae: base channel width.", int(2, 512, 32)),
            ParamDesc::new("content_weight", "Content weight", "style: weight of the content (SqueezeNet fire5) loss. Measured on bikes + Starry Night: 1 and 20 lose the picture under the texture, 200 keeps it.", Float { min: 0.0, max: 1e9, default: 200.0 }),
            ParamDesc::new("style_weight", "Style weight", "style: weight of the Gram style loss.", Float { min: 0.0, max: 1e12, default: TrainConfig::new(Mode::Style).style_weight }),
            ParamDesc::new("style_size", "Style size", "style: the painting is resized so its short side is this many pixels.", int(64, 4096, 256)),
            ParamDesc::new("max_side", "Max side", "Training images larger than this on their long side are scaled down (0: as they are).", int(0, 32768, 0)),
            ParamDesc::new("max_images", "Max images", "Use at most this many training images, in name order (0: all).", int(0, 10_000_000, 0)),
            ParamDesc::new("holdout", "Held out", "pairs/style: the last N frames are not trained on; the first of them is the preview when nothing is on the preview input.", int(0, 1000, 1)),
            ParamDesc::new("weights", "Initial weights", "Start from this model or checkpoint (.safetensors of the same network) instead of random weights (ignored when resuming).", Path { default: "" }),
            ParamDesc::new("seed", "Seed", "Initial weights, crops and noise (same seed, same run on the CPU).", int(0, i32::MAX as i64, 0)),
            ParamDesc::new("checkpoint_every", "Checkpoint every", "Write checkpoint.safetensors and model.safetensors every N steps.", int(1, 10_000_000, 50)),
            ParamDesc::new("sheet_every", "Sheet every", "Write a contact sheet and loss.png every N steps (0: only at the end).", int(0, 10_000_000, 100)),
            ParamDesc::new("max_seconds", "Time budget", "Stop after the step that passes this many seconds of training in this call, as if `steps` were reached (0: no limit). Runs stopped by time are not reproducible step for step.", Float { min: 0.0, max: 1e9, default: 0.0 }),
            ParamDesc::new("resume", "Resume", "Continue from checkpoint.safetensors in the output folder if there is one.", Bool { default: true }),
            ParamDesc::new("device", "Device", "Compute device.", Enum { choices: &DEVICE_CHOICES, default: "auto" }),
            ParamDesc::new("width", "Width", "Preview width where the host gives no frame size.", int(1, 32768, 640)),
            ParamDesc::new("height", "Height", "Preview height where the host gives no frame size.", int(1, 32768, 360)),
        ],
        thread_safety: ThreadSafety::InstanceSafe,
        source: true,
        long_running: true,
        cancellable: true,
    }
}

fn bad(msg: impl Into<String>) -> NodeError {
    NodeError::BadArgument(msg.into())
}

/// Everything that decides a run; a finished run with the same settings is only previewed.
#[derive(Clone, PartialEq)]
struct RunKey(Vec<String>);

impl RunKey {
    fn of(p: &Params) -> Self {
        let skip = ["width", "height", "resume"];
        RunKey(
            p.descs()
                .iter()
                .filter(|d| !skip.contains(&d.name))
                .map(|d| format!("{}={:?}", d.name, p.get(d.name)))
                .collect(),
        )
    }
}

struct Finished {
    key: RunKey,
    trainer: Trainer,
    holdout: Option<Tensor>,
}

#[derive(Default)]
pub struct Train {
    loss_net: Option<(Device, Arc<SqueezeNet>)>,
    finished: Option<Finished>,
}

impl Train {
    pub fn create() -> Box<dyn Node> {
        Box::new(Self::default())
    }

    fn loss_net(&mut self, dev: &Device) -> Result<Arc<SqueezeNet>, NodeError> {
        if let Some((d, n)) = &self.loss_net {
            if d.same_device(dev) {
                return Ok(n.clone());
            }
        }
        let path = wick_models::weights::bundled("squeezenet1_1.safetensors");
        let n = Arc::new(SqueezeNet::load(&path, dev)?);
        self.loss_net = Some((dev.clone(), n.clone()));
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Data

const EXTS: [&str; 6] = ["png", "jpg", "jpeg", "tif", "tiff", "exr"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| EXTS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// Splits a frame pattern's file name into (prefix, digits, suffix): `f.%04d.png` → ("f.", 4,
/// ".png"), `f.####.png` → ("f.", 4, ".png"), `f.%d.png` → ("f.", 0, ".png").
fn split_pattern(name: &str) -> Option<(String, usize, String)> {
    if let Some(i) = name.find('%') {
        let rest = &name[i + 1..];
        let d = rest.find('d')?;
        let spec = &rest[..d];
        let width = if spec.is_empty() {
            0
        } else {
            spec.trim_start_matches('0').parse().ok()?
        };
        return Some((name[..i].to_string(), width, rest[d + 1..].to_string()));
    }
    let i = name.find('#')?;
    let n = name[i..].chars().take_while(|&c| c == '#').count();
    Some((name[..i].to_string(), n, name[i + n..].to_string()))
}

/// The images named by `spec` (folder, file or frame pattern), sorted, each with its matching
/// key (file stem for folders and files, frame number for patterns).
fn list_images(what: &str, spec: &str) -> Result<Vec<(String, PathBuf)>, NodeError> {
    if spec.is_empty() {
        return Err(bad(format!(
            "param '{what}' is empty: give a folder, an image or a frame pattern"
        )));
    }
    let p = Path::new(spec);
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    if p.is_dir() {
        let rd = std::fs::read_dir(p).map_err(|e| bad(format!("{what} folder {spec}: {e}")))?;
        for e in rd.flatten() {
            let f = e.path();
            if f.is_file() && is_image(&f) {
                out.push((stem(&f), f));
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1));
    } else if p.is_file() {
        out.push((stem(p), p.to_path_buf()));
    } else {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((pre, width, suf)) = split_pattern(&name) else {
            return Err(bad(format!("{what}: no such folder or file: {spec}")));
        };
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let rd = std::fs::read_dir(&dir).map_err(|e| {
            bad(format!(
                "{what}: folder {} of pattern {spec}: {e}",
                dir.display()
            ))
        })?;
        let mut nums = Vec::new();
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.len() < pre.len() + suf.len() || !n.starts_with(&pre) || !n.ends_with(&suf) {
                continue;
            }
            let mid = &n[pre.len()..n.len() - suf.len()];
            if mid.is_empty() || !mid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if width > 0 && mid.len() != width {
                continue;
            }
            if let Ok(k) = mid.parse::<i64>() {
                nums.push((k, e.path()));
            }
        }
        nums.sort();
        out = nums.into_iter().map(|(k, f)| (k.to_string(), f)).collect();
    }
    if out.is_empty() {
        return Err(bad(format!(
            "{what}: no images found in {spec} ({})",
            EXTS.join(", ")
        )));
    }
    Ok(out)
}

/// An image file as RGB 0..1 `[3, H, W]` (CPU), its long side scaled down to `max_side`.
fn load_rgb(path: &Path, max_side: usize) -> Result<Tensor, NodeError> {
    let img =
        image::open(path).map_err(|e| bad(format!("cannot read image {}: {e}", path.display())))?;
    let img = if max_side > 0 && img.width().max(img.height()) as usize > max_side {
        let s = max_side as f64 / img.width().max(img.height()) as f64;
        let (w, h) = (
            ((img.width() as f64 * s).round() as u32).max(1),
            ((img.height() as f64 * s).round() as u32).max(1),
        );
        img.resize_exact(w, h, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let rgb = img.to_rgb32f();
    let (w, h) = rgb.dimensions();
    let t = Tensor::from_vec(rgb.into_raw(), (h as usize, w as usize, 3), &Device::Cpu)?;
    Ok(t.permute((2, 0, 1))?.contiguous()?)
}

fn load_all(files: &[(String, PathBuf)], max_side: usize) -> Result<Vec<Tensor>, NodeError> {
    files.iter().map(|(_, f)| load_rgb(f, max_side)).collect()
}

/// RGB of a node image as `[1, 3, H, W]`.
fn image_tensor(img: &Image) -> Result<Tensor, NodeError> {
    let (w, h) = (img.width, img.height);
    let mut chw = vec![0f32; 3 * w * h];
    for (i, px) in img.data.chunks_exact(4).enumerate() {
        for c in 0..3 {
            chw[c * w * h + i] = px[c];
        }
    }
    Ok(Tensor::from_vec(chw, (1, 3, h, w), &Device::Cpu)?)
}

// ---------------------------------------------------------------------------------------------
// Loss log

/// Every step's loss and its named parts, written as CSV.
#[derive(Default)]
struct LossLog {
    names: Vec<String>,
    rows: Vec<(u64, f32, Vec<f32>)>,
}

impl LossLog {
    fn push(&mut self, s: &StepStats) {
        if self.names.is_empty() {
            self.names = s.parts.iter().map(|p| p.0.to_string()).collect();
        }
        self.rows
            .push((s.step, s.loss, s.parts.iter().map(|p| p.1).collect()));
    }

    fn csv(&self) -> String {
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
    fn read(path: &Path, upto: u64) -> Self {
        let Ok(text) = std::fs::read_to_string(path) else {
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
    fn plot(&self, path: &Path, title: &str) -> Result<(), NodeError> {
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
        Ok(plot::loss_curve_png(path, title, &series, (800, 450))?)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let r = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(|e| NodeError::Internal(format!("cannot write {}: {e}", path.display())))
}

fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// A configured run: the trainer, the held-out preview frame, where files go.
struct Run {
    trainer: Trainer,
    holdout: Option<Tensor>,
    out: PathBuf,
    mode_name: String,
}

impl Run {
    fn save(&self, log: &LossLog) -> Result<(), NodeError> {
        self.trainer.save_checkpoint(&self.out.join(CHECKPOINT))?;
        self.trainer.save_model(&self.out.join(MODEL))?;
        write_atomic(&self.out.join(LOSSES), log.csv().as_bytes())
    }

    fn sheets(&self, log: &LossLog) -> Result<(), NodeError> {
        let step = self.trainer.steps_done();
        log.plot(
            &self.out.join(LOSS_PNG),
            &format!("wick.train {} ({step} steps)", self.mode_name),
        )?;
        let sheet = sheet(&self.trainer)?;
        let img = plot::tensor_to_image(&sheet)?;
        plot::save_png_atomic(
            &image::DynamicImage::ImageRgb8(img),
            &self.out.join(format!("sheet_{step:06}.png")),
        )?;
        Ok(())
    }
}

/// Contact sheet of the current model: pairs rows input | output | target, style rows
/// content | output (crops the next step would draw), generators 4×4 fixed-latent samples.
fn sheet(t: &Trainer) -> Result<Tensor, NodeError> {
    match t.cfg.mode {
        Mode::Pairs | Mode::Style => {
            let (x, y) = t.sample_batch(t.steps_done())?;
            let n = x.dim(0)?.min(4);
            let (x, y) = (x.narrow(0, 0, n)?, y.narrow(0, 0, n)?);
            let p = t.preview(&x)?.to_device(&Device::Cpu)?;
            let (x, y) = (x.to_device(&Device::Cpu)?, y.to_device(&Device::Cpu)?);
            let mut cells = Vec::new();
            for i in 0..n {
                cells.push(x.get(i)?);
                cells.push(p.get(i)?);
                if t.cfg.mode == Mode::Pairs {
                    cells.push(y.get(i)?);
                }
            }
            let cols = if t.cfg.mode == Mode::Pairs { 3 } else { 2 };
            Ok(contact_sheet(&Tensor::stack(&cells, 0)?, cols)?)
        }
        Mode::Dcgan | Mode::Vae => Ok(samples(t)?),
    }
}

/// 16 samples from fixed latents as a 4×4 sheet (CPU).
fn samples(t: &Trainer) -> Result<Tensor, NodeError> {
    let z = gan::latents(0x5eed, 16, t.cfg.nz, &Device::Cpu)?;
    let s = t.preview(&z)?.to_device(&Device::Cpu)?;
    Ok(contact_sheet(&s, 4)?)
}

fn config(p: &Params, mode: Mode) -> Result<TrainConfig, NodeError> {
    let mut c = TrainConfig::new(mode);
    c.seed = p.i64("seed") as u64;
    let gen = matches!(mode, Mode::Dcgan | Mode::Vae);
    if p.i64("batch") > 0 {
        c.batch = p.i64("batch") as usize;
    }
    let crop = p.i64("crop") as usize;
    if crop > 0 {
        c.crop = crop;
    }
    if gen && ![32, 64, 128].contains(&c.crop) {
        return Err(bad(format!(
            "param 'crop': generator/vae resolution must be 32, 64 or 128, got {}",
            c.crop
        )));
    }
    if !gen && (c.crop < 32 || !c.crop.is_multiple_of(4)) {
        return Err(bad(format!(
            "param 'crop': must be a multiple of 4 and at least 32, got {}",
            c.crop
        )));
    }
    if p.f64("lr") > 0.0 {
        c.lr = p.f64("lr");
    }
    c.model_size = ModelSize::parse(p.str("model_size")).expect("validated enum");
    c.nz = p.i64("latent") as usize;
    c.width = p.i64("gen_width") as usize;
    c.content_weight = p.f64("content_weight");
    c.style_weight = p.f64("style_weight");
    Ok(c)
}

impl Train {
    /// Loads data and builds the trainer (validating everything before touching `out`).
    fn setup(&mut self, p: &Params, ctx: &mut ProcessCtx) -> Result<Run, NodeError> {
        let mode_name = p.str("mode").to_string();
        let mode = match mode_name.as_str() {
            "generator" => Mode::Dcgan,
            m => Mode::parse(m).ok_or_else(|| bad(format!("param 'mode': unknown mode '{m}'")))?,
        };
        let cfg = config(p, mode)?;
        let out = p.str("out");
        if out.is_empty() {
            return Err(bad("param 'out' is empty: give an output folder"));
        }
        let max_side = p.i64("max_side") as usize;
        let max_images = match p.i64("max_images") {
            0 => usize::MAX,
            n => n as usize,
        };
        let holdout = p.i64("holdout") as usize;
        ctx.progress(0.0, "loading training data")?;
        let mut inputs = list_images("input", p.str("input"))?;
        let split = |n: usize| -> Result<usize, NodeError> {
            if holdout >= n {
                return Err(bad(format!(
                    "holdout={holdout} leaves no training frames ({n} found); lower 'holdout'"
                )));
            }
            Ok(n - holdout)
        };
        let (data, holdout_img) = match mode {
            Mode::Pairs => {
                let targets = list_images("target", p.str("target"))?;
                let by_key: BTreeMap<&str, &PathBuf> =
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
                    Some(load_rgb(&pairs[pairs.len() - holdout].0 .1, max_side)?)
                } else {
                    None
                };
                pairs.truncate(n);
                let (i, t): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
                let (inputs, targets) = (load_all(&i, max_side)?, load_all(&t, max_side)?);
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
            Mode::Style => {
                let style_path = p.str("style");
                if style_path.is_empty() {
                    return Err(bad("style mode needs param 'style' (a painting)"));
                }
                let style = load_rgb(Path::new(style_path), 0)?;
                let style = train::data::resize_short_side(&style, p.i64("style_size") as usize)?;
                let n = split(inputs.len())?.min(max_images);
                let held = if holdout > 0 {
                    Some(load_rgb(&inputs[inputs.len() - holdout].1, max_side)?)
                } else {
                    None
                };
                inputs.truncate(n);
                let content = load_all(&inputs, max_side)?;
                (TrainData::Style { style, content }, held)
            }
            Mode::Dcgan | Mode::Vae => {
                inputs.truncate(max_images);
                (TrainData::Images(load_all(&inputs, max_side)?), None)
            }
        };
        let dev = wick_models::select_device(p.str("device"))?;
        let net = match mode {
            Mode::Pairs | Mode::Style => Some(self.loss_net(&dev)?),
            _ => None,
        };
        let mut trainer = Trainer::new(cfg, data, net, &dev)?;
        let out = PathBuf::from(out);
        let ckpt = out.join(CHECKPOINT);
        if p.bool("resume") && ckpt.exists() {
            trainer.resume(&ckpt).map_err(|e| {
                NodeError::Model(format!(
                    "{e} (resume=true: set resume=false to start over, or use another out folder)"
                ))
            })?;
        } else if !p.str("weights").is_empty() {
            trainer.init_from(Path::new(p.str("weights")))?;
        }
        std::fs::create_dir_all(&out).map_err(|e| {
            bad(format!(
                "cannot create output folder {}: {e}",
                out.display()
            ))
        })?;
        Ok(Run {
            trainer,
            holdout: holdout_img,
            out,
            mode_name,
        })
    }

    fn train(&mut self, ctx: &mut ProcessCtx, p: &Params) -> Result<Finished, NodeError> {
        let run = self.setup(p, ctx)?;
        let steps = p.i64("steps") as u64;
        let ck_every = p.i64("checkpoint_every") as u64;
        let sheet_every = p.i64("sheet_every") as u64;
        let start = run.trainer.steps_done();
        let mut log = LossLog::read(&run.out.join(LOSSES), start);
        let mut run = run;
        let t0 = Instant::now();
        let msg0 = if start > 0 {
            format!("resumed at step {start}/{steps}")
        } else {
            format!(
                "training {} ({} parameters), {steps} steps",
                run.mode_name,
                run.trainer.param_count()
            )
        };
        ctx.progress(start as f64 / steps as f64, &msg0)?;
        let budget = p.f64("max_seconds");
        while run.trainer.steps_done() < steps {
            if budget > 0.0 && t0.elapsed().as_secs_f64() >= budget {
                // A cancel here is reported after the final save below (the flag sticks).
                let _ = ctx.progress(
                    1.0,
                    &format!(
                        "time budget {budget} s reached at step {}/{steps}",
                        run.trainer.steps_done()
                    ),
                );
                break;
            }
            let s = run.trainer.step()?;
            log.push(&s);
            let done = s.step - start;
            let per = t0.elapsed().as_secs_f64() / done as f64;
            let parts: Vec<String> = s.parts.iter().map(|(n, v)| format!("{n} {v:.5}")).collect();
            let msg = format!(
                "step {}/{steps} loss {:.5} [{}] {per:.2} s/step eta {}",
                s.step,
                s.loss,
                parts.join(" "),
                fmt_secs(per * (steps - s.step) as f64)
            );
            if s.step.is_multiple_of(ck_every) && s.step < steps {
                run.save(&log)?;
            }
            if sheet_every > 0 && s.step.is_multiple_of(sheet_every) && s.step < steps {
                run.sheets(&log)?;
            }
            if let Err(e) = ctx.progress(s.step as f64 / steps as f64, &msg) {
                // Keep what was learned: the checkpoint is written atomically, so the previous
                // one stays valid until this one is complete.
                run.save(&log)?;
                return Err(e);
            }
        }
        if run.trainer.steps_done() > start || !run.out.join(MODEL).exists() {
            run.save(&log)?;
            run.sheets(&log)?;
        }
        Ok(Finished {
            key: RunKey::of(p),
            trainer: run.trainer,
            holdout: run.holdout,
        })
    }
}

impl Node for Train {
    fn process(
        &mut self,
        ctx: &mut ProcessCtx,
        p: &Params,
        inputs: &[Option<Image>],
        outputs: &mut [Image],
    ) -> Result<(), NodeError> {
        let key = RunKey::of(p);
        if self.finished.as_ref().map(|f| f.key != key).unwrap_or(true) {
            self.finished = None;
            self.finished = Some(self.train(ctx, p)?);
        }
        let f = self.finished.as_ref().expect("trained");
        let t = &f.trainer;
        let preview_in = inputs.first().and_then(|i| i.as_ref());
        let pic = match t.cfg.mode {
            Mode::Dcgan | Mode::Vae => samples(t)?.unsqueeze(0)?,
            _ => {
                let x = match (preview_in, &f.holdout) {
                    (Some(img), _) => image_tensor(img)?,
                    (None, Some(h)) => h.unsqueeze(0)?,
                    (None, None) => t.sample_batch(0)?.0.narrow(0, 0, 1)?,
                };
                t.preview(&x)?
            }
        };
        let out = &mut outputs[0];
        let (w, h) = (out.width, out.height);
        let pic = pic.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
        let pic = if pic.dims()[2..] == [h, w] {
            pic
        } else {
            wick_models::ops::upsample_bilinear2d(&pic.contiguous()?, h, w, false)?
        };
        let rgb: Vec<f32> = pic.clamp(0f32, 1f32)?.flatten_all()?.to_vec1()?;
        let keep_alpha = preview_in.filter(|i| (i.width, i.height) == (w, h));
        for i in 0..w * h {
            for c in 0..3 {
                out.data[i * 4 + c] = rgb[c * w * h + i];
            }
            out.data[i * 4 + 3] = keep_alpha.map(|s| s.data[i * 4 + 3]).unwrap_or(1.0);
        }
        ctx.progress(1.0, "done")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_patterns_split() {
        assert_eq!(
            split_pattern("f.%04d.png"),
            Some(("f.".into(), 4, ".png".into()))
        );
        assert_eq!(
            split_pattern("f.####.png"),
            Some(("f.".into(), 4, ".png".into()))
        );
        assert_eq!(
            split_pattern("x%d.jpg"),
            Some(("x".into(), 0, ".jpg".into()))
        );
        assert_eq!(split_pattern("plain.png"), None);
    }

    #[test]
    fn eta_format() {
        assert_eq!(fmt_secs(59.4), "0:59");
        assert_eq!(fmt_secs(3725.0), "1:02:05");
    }
}
