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
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::io::{format_of, load_image, output_frame, save_image, write_atomic, Depth};
use crate::Frame;
use crate::{HostError, Plugin};
use indicatif::{ProgressBar, ProgressStyle};
use wick_common::pattern::FramePattern;

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
    Ok(FramePattern::parse_required(pattern)
        .map_err(HostError::BadArgument)?
        .scan()
        .map_err(HostError::BadArgument)?
        .into_iter()
        .map(|(n, _)| n)
        .collect())
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
        FramePattern::parse_required(&args.input).map_err(HostError::BadArgument)?,
        FramePattern::parse_required(&args.out).map_err(HostError::BadArgument)?,
    );
    let (frames, in_paths): (Vec<i64>, Vec<PathBuf>) = inp
        .scan()
        .map_err(HostError::BadArgument)?
        .into_iter()
        .unzip();
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
    // Output frame numbers: input i becomes first + i·N; refuse what would overflow.
    let first = frames[0];
    let last = (frames.len() as i64 - 1)
        .checked_mul(n)
        .and_then(|k| first.checked_add(k))
        .ok_or_else(|| {
            HostError::BadArgument(format!(
                "output frame numbers from {first} on overflow (use smaller frame numbers)"
            ))
        })?;
    // Every output is encoded in the format its name says: the output type must be one Wick
    // writes, and an input frame is copied byte for byte only when its content already is
    // that format (else it is decoded and written like the in-betweens).
    let out_format = format_of(&outp.path(first))?;
    let write_original = |src: &Path, dst: &Path| -> Result<(), HostError> {
        let bytes = wick_common::fs::read_regular(src, wick_common::imagefile::MAX_IMAGE_FILE)
            .map_err(|e| HostError::Io {
                path: src.to_path_buf(),
                msg: e.to_string(),
            })?;
        if image::guess_format(&bytes).ok() == Some(out_format) {
            wick_common::imagefile::check_complete(&bytes, out_format).map_err(|e| {
                HostError::Io {
                    path: src.to_path_buf(),
                    msg: e,
                }
            })?;
            write_atomic(dst, &bytes)
        } else {
            let f = load_image(src)?;
            let mut out = output_frame(dst, Depth::of(&f), f.width, f.height)?;
            crate::io::convert_frame(&f, &mut out)?;
            save_image(&out, dst)
        }
    };
    let start = Instant::now();
    // Pairs the node found to be scene cuts (it says so through its progress message).
    let cuts: Mutex<Vec<(i64, i64, String)>> = Mutex::new(Vec::new());
    // Pair i (frames i−1, i) is the job; workers take the next job until none is left or one
    // failed (the first error is returned; files already written are complete).
    let next = AtomicUsize::new(1);
    let failure: Mutex<Option<HostError>> = Mutex::new(None);
    let stop = || failure.lock().map(|f| f.is_some()).unwrap_or(true);
    // The last few decoded inputs: pair i's frame i is pair i+1's first, and the workers take
    // alternate pairs, so each input is decoded about once.
    let decoded: Mutex<Vec<(usize, Arc<Frame>)>> = Mutex::new(Vec::new());
    let input = |k: usize| -> Result<Arc<Frame>, HostError> {
        let lock = || decoded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, f)) = lock().iter().find(|e| e.0 == k) {
            return Ok(f.clone());
        }
        // Decoded outside the lock (two workers may both decode a frame they reach at once).
        let f = Arc::new(load_image(&in_paths[k])?);
        let mut d = lock();
        d.push((k, f.clone()));
        // The workers hold at most jobs + 1 inputs; the oldest others can go.
        if d.len() > jobs + 2 {
            d.remove(0);
        }
        Ok(f)
    };
    let pair = |inst: &mut crate::Instance, i: usize| -> Result<(), HostError> {
        let a_path = &in_paths[i - 1];
        let (a, b) = (input(i - 1)?, input(i)?);
        let base = first + (i as i64 - 1) * n;
        write_original(a_path, &outp.path(base))?;
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
    write_original(&in_paths[in_paths.len() - 1], &outp.path(last))?;
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
