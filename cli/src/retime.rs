//! `wick retime`: N× frame-rate conversion of an image sequence with `wick.interpolate`.
//!
//! `IN_PATTERN` and `OUT_PATTERN` hold one printf-style frame number (`%d` or `%04d`). For every
//! pair of consecutive input frames the N−1 in-betweens at t = k/N are written; input frame i
//! (the i-th found, from 0) becomes output frame `first + i·N`, so M inputs give (M−1)·N + 1
//! outputs. Originals are copied through unchanged; every file is written atomically.
//! `####` patterns work too (they are read as `%04d`).
//!
//! Scene cuts: `wick.interpolate` detects a pair on two sides of a cut and holds or dissolves
//! instead of morphing (its `cuts` and `cut_threshold` params); retime prints each cut it was
//! told of (the node's `cut:` progress message) and the list at the end.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::io::{load_image, output_frame, save_image, write_atomic, Depth};
use crate::{HostError, Plugin};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `wick retime`.
#[derive(Debug, Clone)]
pub struct RetimeArgs {
    /// Input frames, e.g. `in/f.%04d.png` or `in/f.####.png`.
    pub input: String,
    /// Output frames per input frame (2 doubles the frame rate; N−1 in-betweens per pair).
    pub factor: u32,
    /// Output frames, e.g. `out/f.%04d.png`.
    pub out: String,
    /// `wick.interpolate` params, NAME=VALUE.
    pub params: Vec<String>,
    /// Show a progress bar (else one log line per frame).
    pub progress_bar: bool,
    /// Frame pairs processed side by side, each on its own `wick.interpolate` instance (1 when
    /// the node is not instance-safe). Two keep both cores of a small machine busy: one frame's
    /// per-op parallelism leaves gaps that the other fills.
    pub jobs: usize,
}

/// `####` → `%04d`.
fn hashes_to_printf(p: &str) -> String {
    match p.find('#') {
        Some(s) => {
            let n = p[s..].chars().take_while(|c| *c == '#').count();
            format!("{}%0{n}d{}", &p[..s], &p[s + n..])
        }
        None => p.to_string(),
    }
}

/// A frame-number pattern: prefix, zero-pad width, suffix.
struct Pattern {
    prefix: String,
    width: usize,
    suffix: String,
}

impl Pattern {
    fn parse(p: &str) -> Result<Self, HostError> {
        let bad = || HostError::BadArgument(format!("pattern '{p}' needs one %d or %0Nd"));
        let start = p.find('%').ok_or_else(bad)?;
        let rest = &p[start + 1..];
        let d = rest.find('d').ok_or_else(bad)?;
        let spec = &rest[..d];
        let width = if spec.is_empty() {
            0
        } else if spec.starts_with('0') && spec.chars().all(|c| c.is_ascii_digit()) {
            spec.parse().map_err(|_| bad())?
        } else {
            return Err(bad());
        };
        let suffix = rest[d + 1..].to_string();
        if suffix.contains('%') {
            return Err(bad());
        }
        Ok(Self {
            prefix: p[..start].to_string(),
            width,
            suffix,
        })
    }

    fn path(&self, n: i64) -> PathBuf {
        PathBuf::from(format!(
            "{}{:0w$}{}",
            self.prefix,
            n,
            self.suffix,
            w = self.width
        ))
    }

    /// The frame numbers present on disk, ascending.
    fn scan(&self) -> Result<Vec<i64>, HostError> {
        let full = Path::new(&self.prefix);
        let (dir, stem) = if self.prefix.ends_with('/') || self.prefix.is_empty() {
            (
                PathBuf::from(if self.prefix.is_empty() {
                    "."
                } else {
                    &self.prefix
                }),
                String::new(),
            )
        } else {
            let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            (
                dir,
                full.file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        };
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| HostError::BadArgument(format!("input folder {}: {e}", dir.display())))?;
        let mut found = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(mid) = name
                .strip_prefix(&stem)
                .and_then(|r| r.strip_suffix(&self.suffix))
            {
                if !mid.is_empty()
                    && mid.len() >= self.width
                    && mid.bytes().all(|b| b.is_ascii_digit())
                {
                    if let Ok(n) = mid.parse::<i64>() {
                        found.push(n);
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }
}

/// Retime with a video on either side: the graph read → retime → write, rendered by the graph
/// renderer (`wick stylize` without its style node); the input video's audio is copied into a
/// video output.
fn retime_video(
    plugin: &Plugin,
    args: &RetimeArgs,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<(), HostError> {
    let a = crate::stylize::StylizeArgs {
        input: args.input.clone(),
        output: args.out.clone(),
        skip_style: true,
        retime: args.factor,
        params: args
            .params
            .iter()
            .map(|kv| format!("interpolate.{kv}"))
            .collect(),
        progress_bar: args.progress_bar,
        cell: 320,
        ..Default::default()
    };
    crate::stylize::stylize(plugin, &a, cancel)
}

/// The frame numbers of a sequence pattern (`f.%04d.png` / `f.####.png`) present on disk,
/// ascending.
pub(crate) fn scan_sequence(pattern: &str) -> Result<Vec<i64>, HostError> {
    Pattern::parse(&hashes_to_printf(pattern))?.scan()
}

/// Retimes the sequence; `cancel` is polled between frames and by the node.
pub fn retime(
    plugin: &Plugin,
    args: &RetimeArgs,
    cancel: &(dyn Fn() -> bool + Sync),
) -> Result<(), HostError> {
    if args.factor < 1 || args.factor > 1000 {
        return Err(HostError::BadArgument(format!(
            "--factor {} must be 1..1000",
            args.factor
        )));
    }
    if crate::video::is_video_path(Path::new(&args.input))
        || crate::video::is_video_path(Path::new(&args.out))
    {
        return retime_video(plugin, args, cancel);
    }
    let n = args.factor as i64;
    let (inp, outp) = (
        Pattern::parse(&hashes_to_printf(&args.input))?,
        Pattern::parse(&hashes_to_printf(&args.out))?,
    );
    let frames = inp.scan()?;
    if frames.len() < 2 {
        return Err(HostError::BadArgument(format!(
            "'{}' matches {} frame(s); retiming needs at least 2",
            args.input,
            frames.len()
        )));
    }
    // Fail on bad params before any work or output.
    plugin
        .instance("wick.interpolate")?
        .set_params_kv(&args.params)?;
    let jobs = if plugin.node("wick.interpolate")?.thread_safety == "unsafe" {
        1
    } else {
        args.jobs.clamp(1, frames.len() - 1)
    };
    let first = frames[0];
    let total = (frames.len() as u64 - 1) * (n as u64 - 1);
    let bar = if args.progress_bar {
        ProgressBar::new(total.max(1))
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} in-betweens  {elapsed} ETA {eta}  {msg}",
        )
        .expect("valid template"),
    );
    // Input frames are copied through unchanged, so both patterns use the same file type.
    let ext = |p: &Pattern| {
        Path::new(&p.suffix)
            .extension()
            .map(|e| e.to_ascii_lowercase())
    };
    if ext(&inp) != ext(&outp) {
        return Err(HostError::BadArgument(format!(
            "--out '{}' must use the input's file type ('{}')",
            args.out, args.input
        )));
    }
    let write_original = |src: &Path, dst: &Path| -> Result<(), HostError> {
        let bytes = std::fs::read(src).map_err(|e| HostError::Io {
            path: src.to_path_buf(),
            msg: e.to_string(),
        })?;
        write_atomic(dst, &bytes)
    };
    let start = Instant::now();
    // Pairs the node found to be scene cuts (it says so through its progress message).
    let cuts: Mutex<Vec<(i64, i64, String)>> = Mutex::new(Vec::new());
    // Pair i (frames i−1, i) is the job; workers take the next job until none is left or one
    // failed (the first error is returned; files already written are complete).
    let next = AtomicUsize::new(1);
    let failure: Mutex<Option<HostError>> = Mutex::new(None);
    let stop = || failure.lock().map(|f| f.is_some()).unwrap_or(true);
    let pair = |inst: &mut crate::Instance, i: usize| -> Result<(), HostError> {
        let (a_path, b_path) = (inp.path(frames[i - 1]), inp.path(frames[i]));
        let (a, b) = (load_image(&a_path)?, load_image(&b_path)?);
        let base = first + (i as i64 - 1) * n;
        write_original(&a_path, &outp.path(base))?;
        for k in 1..n {
            if cancel() || stop() {
                return Err(HostError::Plugin {
                    status: crate::ffi::WICK_ERR_CANCELLED,
                    message: "cancelled".into(),
                });
            }
            let t = k as f64 / n as f64;
            inst.set_param_text("t", &format!("{t}"))?;
            let dst = outp.path(base + k);
            let mut outs = vec![output_frame(&dst, Depth::of(&a), a.width, a.height)?];
            let mut cut: Option<String> = None;
            let mut cb = |_f: f64, m: &str| {
                if let Some(rest) = m.strip_prefix("cut: ") {
                    cut = Some(rest.to_string());
                }
                cancel()
            };
            inst.process(t, base + k, &[Some(&a), Some(&b)], &mut outs, Some(&mut cb))?;
            if let Some(what) = cut {
                if k == 1 {
                    let (fa, fb) = (frames[i - 1], frames[i]);
                    let msg =
                        format!("wick: scene cut between input frames {fa} and {fb} ({what})");
                    if args.progress_bar {
                        bar.println(msg);
                    } else {
                        eprintln!("{msg}");
                    }
                    if let Ok(mut c) = cuts.lock() {
                        c.push((fa, fb, what));
                    }
                }
            }
            save_image(&outs[0], &dst)?;
            if !args.progress_bar {
                eprintln!("wick: retime t={t:.3} -> {}", dst.display());
            }
            bar.set_message(dst.display().to_string());
            bar.inc(1);
        }
        Ok(())
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let run = || -> Result<(), HostError> {
                    let mut inst = plugin.instance("wick.interpolate")?;
                    inst.set_params_kv(&args.params)?;
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= frames.len() || stop() {
                            return Ok(());
                        }
                        pair(&mut inst, i)?;
                    }
                };
                if let Err(e) = run() {
                    let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                    // Keep the first real error (workers stopped by it report "cancelled").
                    if f.is_none() {
                        *f = Some(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let cancelled = matches!(&e, HostError::Plugin { status, .. } if *status == crate::ffi::WICK_ERR_CANCELLED);
        bar.abandon_with_message(if cancelled { "cancelled" } else { "failed" });
        return Err(e);
    }
    let a_path = inp.path(frames[frames.len() - 1]);
    let last = first + (frames.len() as i64 - 1) * n;
    write_original(&a_path, &outp.path(last))?;
    let mut cuts = cuts.into_inner().unwrap_or_else(|p| p.into_inner());
    cuts.sort();
    let list: Vec<String> = cuts.iter().map(|(a, b, _)| format!("{a}|{b}")).collect();
    eprintln!(
        "wick: {} scene cut(s) found{}{}",
        cuts.len(),
        if cuts.is_empty() {
            ""
        } else {
            " between input frames "
        },
        list.join(", ")
    );
    bar.finish_with_message(format!(
        "{} frames in -> {} frames out in {:.1} s",
        frames.len(),
        last - first + 1,
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}
