//! `wick train CONFIG.toml`: runs `wick.train` from a TOML file with a progress bar.
//!
//! The config is a flat table of `wick.train` params (`mode`, `input`, `target`, `style`, `out`,
//! `steps`, `batch`, `crop`, `lr`, `seed`, …) plus an optional `preview` key: an image to put on
//! the node's `preview` input. Relative paths (`input`, `target`, `style`, `out`, `weights`,
//! `preview`) are relative to the config file. `--param NAME=VALUE` overrides the file.
//!
//! ```toml
//! mode = "pairs"
//! input = "style-bikes/bikes.%04d.jpg"
//! target = "train-pairs/graded.%04d.png"
//! out = "../runs/pairs"
//! steps = 200
//! crop = 64
//! ```

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::io::{load_image, output_frame, save_image, Depth};
use crate::{ffi, Frame, HostError, ParamType, ParamValue, Plugin};

/// The node `wick train` runs.
pub const NODE: &str = "wick.train";

/// Options of `wick train`.
#[derive(Debug, Clone, Default)]
pub struct TrainArgs {
    /// The TOML config.
    pub config: PathBuf,
    /// Where to write the preview frame (any `wick run` output format).
    pub preview_out: Option<PathBuf>,
    /// `NAME=VALUE` overrides, applied after the file.
    pub params: Vec<String>,
    /// Draw an indicatif bar (a TTY); otherwise one line per progress report.
    pub progress_bar: bool,
}

/// A parsed config: params in file order and the optional preview input.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub params: Vec<(String, ParamValue)>,
    pub preview: Option<PathBuf>,
}

/// Reads and checks a config against the node's params.
pub fn parse_config(plugin: &Plugin, path: &Path) -> Result<TrainConfig, HostError> {
    let text =
        wick_common::fs::read_regular_text(path, 16 * wick_common::fs::MIB).map_err(|e| {
            HostError::BadArgument(format!("cannot read config {}: {e}", path.display()))
        })?;
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    parse_config_str(plugin, &text, &base)
        .map_err(|e| HostError::BadArgument(format!("{}: {e}", path.display())))
}

fn resolve(base: &Path, p: &str) -> String {
    if p.is_empty() || Path::new(p).is_absolute() {
        p.to_string()
    } else {
        base.join(p).to_string_lossy().into_owned()
    }
}

/// [`parse_config`] on text, with relative paths resolved against `base`.
pub fn parse_config_str(
    plugin: &Plugin,
    text: &str,
    base: &Path,
) -> Result<TrainConfig, HostError> {
    let info = plugin.node(NODE)?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| HostError::BadArgument(e.to_string()))?;
    let mut params = Vec::new();
    let mut preview = None;
    for (k, v) in &table {
        if k == "preview" {
            let s = v.as_str().ok_or_else(|| {
                HostError::BadArgument("'preview' must be an image path (a string)".into())
            })?;
            preview = Some(PathBuf::from(resolve(base, s)));
            continue;
        }
        let p = info.param(k).ok_or_else(|| {
            let names: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
            HostError::BadArgument(format!(
                "unknown key '{k}' (wick.train params: {}; and preview)",
                names.join(", ")
            ))
        })?;
        let val = match (v, p.ty) {
            (toml::Value::String(s), ParamType::Path) => ParamValue::Str(resolve(base, s)),
            (toml::Value::String(s), _) => p.parse(s)?,
            (toml::Value::Integer(n), ParamType::Float) => ParamValue::Float(*n as f64),
            (toml::Value::Integer(n), _) => ParamValue::Int(*n),
            (toml::Value::Float(x), _) => ParamValue::Float(*x),
            (toml::Value::Boolean(b), _) => ParamValue::Bool(*b),
            (other, _) => {
                return Err(HostError::BadArgument(format!(
                    "'{k}': unsupported value {other}"
                )))
            }
        };
        params.push((k.clone(), val));
    }
    Ok(TrainConfig { params, preview })
}

/// This process's rank when an MPI launcher started it with more than one process (Open MPI's
/// `mpirun`, MPICH's Hydra, Slurm's `srun`); `None` otherwise.
pub fn launcher_rank() -> Option<usize> {
    let get = |v: &str| std::env::var(v).ok()?.trim().parse::<usize>().ok();
    let size = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]
        .iter()
        .find_map(|v| get(v))?;
    if size < 2 {
        return None;
    }
    ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"]
        .iter()
        .find_map(|v| get(v))
}

/// Runs a training config; `cancel` is polled from the progress callback. On cancel the node
/// has written its last checkpoint; the error's status is `WICK_ERR_CANCELLED`.
pub fn train(
    plugin: &Plugin,
    args: &TrainArgs,
    cancel: &dyn Fn() -> bool,
) -> Result<(), HostError> {
    let cfg = parse_config(plugin, &args.config)?;
    let mut inst = plugin.instance(NODE)?;
    for (k, v) in &cfg.params {
        inst.set_param(k, v)?;
    }
    inst.set_params_kv(&args.params)?;
    let out_dir = match inst.get_param("out")? {
        ParamValue::Str(s) => s,
        _ => String::new(),
    };
    let preview_in = match &cfg.preview {
        Some(p) => Some(load_image(p)?),
        None => None,
    };
    let (w, h) = match &preview_in {
        Some(f) => (f.width, f.height),
        None => inst.source_size()?,
    };
    let mut outs = vec![match &args.preview_out {
        Some(p) => output_frame(p, Depth::U8, w, h)?,
        None => Frame::new_u8(w, h),
    }];
    let bar = if args.progress_bar {
        let b = ProgressBar::new(1000);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {percent:>3}%  {elapsed_precise}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let tty = args.progress_bar;
    let mut last = String::new();
    // In a distributed run (mpirun/srun) rank 0 reports the steps; the others say only where
    // they start and end (their step lines are the same, the loss being the combined batch's).
    let rank = launcher_rank();
    let mut cb = |f: f64, msg: &str| {
        if let Some(r) = rank.filter(|&r| r > 0) {
            if !msg.starts_with("step ") && msg != last {
                eprintln!("wick: train [rank {r}] {msg}");
                last = msg.to_string();
            }
        } else if tty {
            bar.set_position((f * 1000.0).round() as u64);
            bar.set_message(msg.to_string());
        } else if msg != last {
            eprintln!("wick: train {msg}");
            last = msg.to_string();
        }
        cancel()
    };
    let t0 = std::time::Instant::now();
    let r = inst.process(0.0, 0, &[preview_in.as_ref()], &mut outs, Some(&mut cb));
    bar.finish_and_clear();
    if let Err(e) = r {
        if e.status() == Some(ffi::WICK_ERR_CANCELLED) {
            let ck = Path::new(&out_dir).join("checkpoint.safetensors");
            if ck.exists() {
                eprintln!(
                    "wick: train cancelled; checkpoint kept at {} (run again to resume)",
                    ck.display()
                );
            }
        }
        return Err(e);
    }
    if let (Some(p), None) = (&args.preview_out, rank.filter(|&r| r > 0)) {
        save_image(&outs[0], p)?;
        eprintln!("wick: preview -> {}", p.display());
    }
    match rank.filter(|&r| r > 0) {
        Some(r) => eprintln!(
            "wick: train [rank {r}] done in {:.1} s (rank 0 writes the files)",
            t0.elapsed().as_secs_f64()
        ),
        None => eprintln!(
            "wick: train done in {:.1} s -> {}",
            t0.elapsed().as_secs_f64(),
            Path::new(&out_dir).join("model.safetensors").display()
        ),
    }
    Ok(())
}
