//! The frame loop shared by `wick render`, `wick stylize` and `wick retime` on video: renders a
//! frame list through a [`Renderer`] with a progress bar and ETA (a terminal) or one log line
//! per frame (otherwise), polls cancel, reports scene cuts, and finishes video files.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::graph::Renderer;
use crate::{ffi, HostError};

/// Options of [`render_frames`].
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Draw an indicatif bar (a terminal); else one line per frame.
    pub progress_bar: bool,
}

/// What a finished render did.
#[derive(Debug, Clone, Default)]
pub struct RenderSummary {
    pub frames: usize,
    pub seconds: f64,
    /// Video files finished (renamed into place).
    pub videos: Vec<PathBuf>,
    /// Scene cuts the interpolator reported: (frame, its message).
    pub cuts: Vec<(i64, String)>,
}

/// `"1 m 05 s"` style duration for ETA lines.
pub fn human(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Renders `frames` in order. A graph writing video needs increasing frame numbers (checked
/// before anything runs). On error or cancel, image files already written stay (each complete)
/// and unfinished videos are removed.
pub fn render_frames(
    r: &mut Renderer,
    frames: &[i64],
    opts: &RenderOptions,
    cancel: &dyn Fn() -> bool,
) -> Result<RenderSummary, HostError> {
    if r.graph().writes_video() && frames.windows(2).any(|w| w[1] <= w[0]) {
        return Err(HostError::BadArgument(
            "this graph writes a video: frames must be in increasing order".into(),
        ));
    }
    r.plan_frames(frames.len());
    let bar = if opts.progress_bar {
        let b = ProgressBar::new(frames.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} frames  {elapsed_precise} ETA {eta_precise}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let t0 = Instant::now();
    let mut cuts: Vec<(i64, String)> = Vec::new();
    for (k, &f) in frames.iter().enumerate() {
        if cancel() {
            bar.abandon_with_message("cancelled");
            return Err(HostError::Plugin {
                status: ffi::WICK_ERR_CANCELLED,
                message: format!("cancelled before frame {f}"),
            });
        }
        let tf = Instant::now();
        let mut cut: Option<String> = None;
        let mut cb = |_x: f64, m: &str| {
            if let Some(rest) = m.strip_prefix("cut: ") {
                cut = Some(rest.to_string());
            }
            cancel()
        };
        let written = match r.render_frame(f, &mut cb) {
            Ok(w) => w,
            Err(e) => {
                bar.abandon_with_message("failed");
                return Err(e);
            }
        };
        if let Some(c) = cut {
            let line = format!("wick: scene cut at frame {f} ({c})");
            if opts.progress_bar {
                bar.println(&line);
            } else {
                eprintln!("{line}");
            }
            cuts.push((f, c));
        }
        let ms = tf.elapsed().as_secs_f64() * 1e3;
        if opts.progress_bar {
            bar.set_message(format!("frame {f}"));
            bar.inc(1);
        } else {
            let done = k + 1;
            let el = t0.elapsed().as_secs_f64();
            let eta = el / done as f64 * (frames.len() - done) as f64;
            let mut names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
            names.dedup();
            eprintln!(
                "wick: frame {f} ({done}/{}) {ms:.0} ms, ETA {} -> {}",
                frames.len(),
                human(eta),
                names.join(", ")
            );
        }
    }
    let videos = r.finish()?;
    bar.finish_and_clear();
    let seconds = t0.elapsed().as_secs_f64();
    for v in &videos {
        eprintln!("wick: wrote {}", v.display());
    }
    eprintln!(
        "wick: rendered {} frame(s) in {seconds:.2} s ({:.1} ms/frame)",
        frames.len(),
        seconds * 1e3 / frames.len().max(1) as f64
    );
    Ok(RenderSummary {
        frames: frames.len(),
        seconds,
        videos,
        cuts,
    })
}
