//! `wick stylize IN OUT --style 7 [--temporal 1] [--retime 2] [--param NAME=VALUE]...`: the
//! common case in one command. It writes the node graph a user would (read → style transfer →
//! optional retime → write), parses it with [`Graph::parse`] and renders it with the graph
//! renderer and its frame loop — the same code as `wick render` (`--save-graph` keeps the file).
//!
//! IN and OUT are video files (`.mp4`, `.mov`, ...) or frame patterns (`f.%04d.png`,
//! `f.####.png`). A video's audio is copied into a video OUT unless `--no-audio`. `--sheet`
//! writes a contact sheet of the styles used on a frame of the shot; `--strip` a picture strip
//! of that frame: input | stylised | in-between (interpolated) | next stylised.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::graph::{parse_frames, Graph, Renderer};
use crate::io::{load_image, write_atomic};
use crate::render::{render_frames, RenderOptions};
use crate::video::{self, is_video_path, VideoSource};
use crate::{Frame, HostError, ParamValue, Plugin, Sample};

/// The node `wick stylize` runs.
pub const STYLE: &str = "wick.style-transfer";

/// Options of `wick stylize`.
#[derive(Debug, Clone, Default)]
pub struct StylizeArgs {
    /// A video file or a frame pattern.
    pub input: String,
    /// A video file or a frame pattern.
    pub output: String,
    /// The `style` param: an index 0-25 or a blend `3:0.5,12:0.5`.
    pub style: String,
    /// The `temporal` param (temporal stability), when asked.
    pub temporal: Option<String>,
    /// Output frames per input frame (1: no interpolation).
    pub retime: u32,
    /// `NAME=VALUE` params of wick.style-transfer; `interpolate.NAME=VALUE` go to the retime.
    pub params: Vec<String>,
    /// Output frames to render (default: all).
    pub frames: Option<String>,
    /// Video output settings (see the graph's write node).
    pub codec: Option<String>,
    pub crf: Option<f64>,
    pub preset: Option<String>,
    pub pix_fmt: Option<String>,
    /// Output frame rate (default: the input's × retime).
    pub fps: Option<f64>,
    /// Frame rate of an image-sequence input (default 24).
    pub input_fps: Option<f64>,
    /// Do not copy the input video's audio.
    pub no_audio: bool,
    /// Contact sheet of the styles used (PNG).
    pub sheet: Option<PathBuf>,
    /// Picture strip: input | stylised | in-between | next (PNG).
    pub strip: Option<PathBuf>,
    /// Input frame the sheet and strip show (default: the middle of the shot).
    pub strip_frame: Option<i64>,
    /// Cell width of the sheet and strip.
    pub cell: u32,
    /// Write the graph file used here.
    pub save_graph: Option<PathBuf>,
    pub progress_bar: bool,
    /// No style node: read → retime → write (`wick retime` on video).
    pub skip_style: bool,
}

/// The input: a video, or a sequence with its frame range.
enum Source {
    Video {
        path: PathBuf,
        info: video::Info,
    },
    Sequence {
        pattern: String,
        first: i64,
        last: i64,
    },
}

impl Source {
    fn open(input: &str) -> Result<Source, HostError> {
        if is_video_path(Path::new(input)) {
            let path = absolute(Path::new(input))?;
            let info = video::probe(&path)?;
            return Ok(Source::Video { path, info });
        }
        if !(input.contains('%') || input.contains('#')) {
            return Err(HostError::BadArgument(format!(
                "input '{input}' is neither a video file (.{}) nor a frame pattern \
                 (f.%04d.png / f.####.png)",
                wick_video::VIDEO_EXTENSIONS.join(", .")
            )));
        }
        let pattern = absolute(Path::new(input))?.to_string_lossy().into_owned();
        let found = crate::retime::scan_sequence(&pattern)?;
        let (first, last) = match (found.first(), found.last()) {
            (Some(a), Some(b)) => (*a, *b),
            _ => {
                return Err(HostError::BadArgument(format!(
                    "input '{input}' matches no files"
                )))
            }
        };
        if (last - first + 1) as usize != found.len() {
            return Err(HostError::BadArgument(format!(
                "input '{input}': frames {first}-{last} have gaps ({} of {} present)",
                found.len(),
                last - first + 1
            )));
        }
        Ok(Source::Sequence {
            pattern,
            first,
            last,
        })
    }
    fn first(&self) -> i64 {
        match self {
            Source::Video { .. } => 1,
            Source::Sequence { first, .. } => *first,
        }
    }
    fn last(&self) -> i64 {
        match self {
            Source::Video { info, .. } => info.frames as i64,
            Source::Sequence { last, .. } => *last,
        }
    }
    fn frame(&self, n: i64) -> Result<Frame, HostError> {
        match self {
            Source::Video { path, info } => {
                let mut s = VideoSource::with_info(path, info.clone());
                Ok((*s.frame(n)?).clone())
            }
            Source::Sequence { pattern, .. } => {
                load_image(Path::new(&crate::graph::expand_pattern(pattern, n)))
            }
        }
    }
}

fn absolute(p: &Path) -> Result<PathBuf, HostError> {
    std::path::absolute(p).map_err(|e| HostError::BadArgument(format!("{}: {e}", p.display())))
}

fn split_kv(kv: &str) -> Result<(&str, &str), HostError> {
    kv.split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| HostError::BadArgument(format!("--param '{kv}' is not NAME=VALUE")))
}

/// The graph `wick stylize` renders, as TOML text (absolute paths), writing to `output`.
fn graph_text(
    plugin: &Plugin,
    a: &StylizeArgs,
    src: &Source,
    output: &str,
) -> Result<String, HostError> {
    use toml::{Table, Value};
    let info = plugin.node(STYLE)?;
    let mut root = Table::new();
    if let Source::Sequence { .. } = src {
        root.insert("fps".into(), Value::Float(a.input_fps.unwrap_or(24.0)));
    } else if a.input_fps.is_some() {
        return Err(HostError::BadArgument(
            "--input-fps applies to image-sequence inputs (a video has its own rate)".into(),
        ));
    }
    let mut nodes = Vec::new();
    let mut read = Table::new();
    read.insert("name".into(), "src".into());
    read.insert("type".into(), "read".into());
    match src {
        Source::Video { path, .. } => {
            read.insert("path".into(), path.to_string_lossy().into_owned().into());
        }
        Source::Sequence {
            pattern,
            first,
            last,
        } => {
            read.insert("path".into(), pattern.clone().into());
            read.insert("first".into(), Value::Integer(*first));
            read.insert("last".into(), Value::Integer(*last));
        }
    }
    nodes.push(read);

    let mut style_params = Table::new();
    if !a.style.is_empty() {
        style_params.insert("style".into(), a.style.clone().into());
    }
    if let Some(t) = &a.temporal {
        if info.param("temporal").is_none() {
            return Err(HostError::BadArgument(format!(
                "--temporal: this plugin's {STYLE} has no 'temporal' param yet (issue #15: \
                 temporally stable stylisation); run without --temporal"
            )));
        }
        style_params.insert("temporal".into(), t.clone().into());
    }
    let mut interp_params = Table::new();
    for kv in &a.params {
        let (k, v) = split_kv(kv)?;
        match k.strip_prefix("interpolate.") {
            Some(k) => {
                interp_params.insert(k.into(), v.into());
            }
            None => {
                style_params.insert(k.into(), v.into());
            }
        }
    }
    if !interp_params.is_empty() && a.retime < 2 {
        return Err(HostError::BadArgument(
            "interpolate.* params apply with --retime 2 or more".into(),
        ));
    }
    let mut last = "src";
    if !a.skip_style {
        let mut style = Table::new();
        style.insert("name".into(), "style".into());
        style.insert("type".into(), STYLE.into());
        style.insert("input".into(), "src".into());
        // Past-frame inputs (`source@-k`, issue #15) are fed from the same read node; the
        // renderer gives them the read's frame k back.
        let mut ports = Table::new();
        for p in info.inputs.iter().skip(1) {
            if p.name.starts_with("source@-") {
                ports.insert(p.name.clone(), "src".into());
            }
        }
        if !ports.is_empty() {
            style.insert("inputs".into(), Value::Table(ports));
        }
        style.insert("params".into(), Value::Table(style_params));
        nodes.push(style);
        last = "style";
    } else if !style_params.keys().all(|k| k == "style") {
        return Err(HostError::BadArgument(
            "only interpolate.NAME=VALUE params apply here".into(),
        ));
    }
    if a.retime == 0 || a.retime > 1000 {
        return Err(HostError::BadArgument(format!(
            "--retime {} must be 1..1000",
            a.retime
        )));
    }
    if a.retime > 1 {
        let mut r = Table::new();
        r.insert("name".into(), "retime".into());
        r.insert("type".into(), "retime".into());
        r.insert("input".into(), last.into());
        r.insert("factor".into(), Value::Integer(a.retime as i64));
        r.insert("origin".into(), Value::Integer(src.first()));
        if last != "src" {
            // Stylised frames look alike across a cut: decide cuts on the input's frames.
            r.insert("cuts_from".into(), "src".into());
        }
        r.insert("params".into(), Value::Table(interp_params));
        nodes.push(r);
        last = "retime";
    }
    let mut w = Table::new();
    w.insert("name".into(), "out".into());
    w.insert("type".into(), "write".into());
    w.insert("input".into(), last.into());
    w.insert(
        "path".into(),
        absolute(Path::new(output))?
            .to_string_lossy()
            .into_owned()
            .into(),
    );
    let out_video = is_video_path(Path::new(output));
    let video_opts = [
        ("codec", a.codec.clone().map(Value::String)),
        ("crf", a.crf.map(Value::Float)),
        ("preset", a.preset.clone().map(Value::String)),
        ("pix_fmt", a.pix_fmt.clone().map(Value::String)),
        ("fps", a.fps.map(Value::Float)),
    ];
    for (k, v) in video_opts {
        if let Some(v) = v {
            if !out_video {
                return Err(HostError::BadArgument(format!(
                    "--{} applies to a video output (.mp4, .mov, ...)",
                    k.replace('_', "-")
                )));
            }
            w.insert(k.into(), v);
        }
    }
    if let Source::Video { info, .. } = src {
        if out_video && !a.no_audio && info.audio_codec.is_some() {
            w.insert("audio".into(), "src".into());
        }
    }
    nodes.push(w);
    root.insert(
        "node".into(),
        Value::Array(nodes.into_iter().map(Value::Table).collect()),
    );
    toml::to_string(&root).map_err(|e| HostError::BadArgument(format!("graph: {e}")))
}

/// Runs `wick stylize`.
pub fn stylize(
    plugin: &Plugin,
    a: &StylizeArgs,
    cancel: &dyn Fn() -> bool,
) -> Result<(), HostError> {
    let src = Source::open(&a.input)?;
    let out_is_video = is_video_path(Path::new(&a.output));
    if !(out_is_video || a.output.contains('%') || a.output.contains('#')) {
        return Err(HostError::BadArgument(format!(
            "output '{}' is neither a video file (.mp4, .mov, ...) nor a frame pattern \
             (f.%04d.png / f.####.png)",
            a.output
        )));
    }
    let text = graph_text(plugin, a, &src, &a.output)?;
    if let Some(p) = &a.save_graph {
        write_atomic(p, text.as_bytes())?;
        eprintln!("wick: graph -> {}", p.display());
    }
    let cwd = absolute(Path::new("."))?;
    let graph = Graph::parse(&text, cwd.clone(), plugin)?;
    let spec = a
        .frames
        .clone()
        .or_else(|| graph.frames.clone())
        .ok_or_else(|| HostError::BadArgument("no frame range".into()))?;
    let list = parse_frames(&spec)?;
    let (w, h, rate) = match &src {
        Source::Video { info, .. } => (info.width, info.height, info.fps()),
        Source::Sequence { .. } => (0, 0, a.input_fps.unwrap_or(24.0)),
    };
    let out_fps = a.fps.unwrap_or(rate * a.retime as f64);
    eprintln!(
        "wick: {} {} ({}frames {}-{} at {rate:.3} fps) -> {} ({} frames at {out_fps:.3} fps): \
         {}{}{}",
        if a.skip_style { "retime" } else { "stylize" },
        a.input,
        if w > 0 {
            format!("{w}x{h}, ")
        } else {
            String::new()
        },
        src.first(),
        src.last(),
        a.output,
        list.len(),
        if a.skip_style {
            String::new()
        } else {
            format!("style {}", a.style)
        },
        a.temporal
            .as_deref()
            .map(|t| format!(", temporal {t}"))
            .unwrap_or_default(),
        if a.retime > 1 {
            format!(", retime x{}", a.retime)
        } else {
            String::new()
        }
    );
    let mut r = Renderer::new(graph, plugin)?;
    let opts = RenderOptions {
        progress_bar: a.progress_bar,
    };
    let summary = render_frames(&mut r, &list, &opts, cancel)?;
    if !summary.cuts.is_empty() {
        let at: Vec<String> = summary.cuts.iter().map(|(f, _)| f.to_string()).collect();
        eprintln!(
            "wick: {} scene cut(s) held, not morphed, at output frame(s) {}",
            summary.cuts.len(),
            at.join(", ")
        );
    }
    drop(r);
    let frame = a
        .strip_frame
        .unwrap_or((src.first() + src.last()) / 2)
        .clamp(src.first(), src.last());
    if let Some(p) = &a.sheet {
        sheet(plugin, a, &src, frame, p)?;
        eprintln!("wick: style sheet -> {}", p.display());
    }
    if let Some(p) = &a.strip {
        strip(plugin, a, &src, frame, p, cancel)?;
        eprintln!("wick: strip -> {}", p.display());
    }
    Ok(())
}

/// A frame as an RGBA8 image (8/16-bit sRGB frames; f32 ones are clamped).
fn to_rgba8(f: &Frame) -> image::RgbaImage {
    let (w, h, c) = (f.width, f.height, f.channels as usize);
    let n = (w * h) as usize;
    let mut out = Vec::with_capacity(n * 4);
    for p in 0..n {
        for k in 0..4 {
            let v = if k < c {
                let i = p * c + k;
                match f.sample {
                    Sample::U8 => f.data[i],
                    Sample::U16 => (u16::from_ne_bytes([f.data[2 * i], f.data[2 * i + 1]]) as f32
                        / 257.0)
                        .round() as u8,
                    Sample::F32 => {
                        let b = &f.data[4 * i..4 * i + 4];
                        (f32::from_ne_bytes([b[0], b[1], b[2], b[3]]).clamp(0.0, 1.0) * 255.0)
                            .round() as u8
                    }
                    Sample::F16 => 0,
                }
            } else {
                255
            };
            out.push(v);
        }
    }
    image::RgbaImage::from_raw(w, h, out).expect("sized")
}

/// Lays out labelled cells in rows and writes the PNG atomically.
fn compose(
    cells: &[(image::RgbaImage, String)],
    cols: u32,
    cell: u32,
    out: &Path,
) -> Result<(), HostError> {
    let (w0, h0) = cells
        .first()
        .map(|(i, _)| (i.width(), i.height()))
        .unwrap_or((1, 1));
    let cw = cell;
    let ch = ((h0 as f64 * cw as f64 / w0 as f64).round() as u32).max(1);
    let gap = 4;
    let rows = (cells.len() as u32).div_ceil(cols);
    let mut canvas = image::RgbaImage::from_pixel(
        cols * (cw + gap) + gap,
        rows * (ch + gap) + gap,
        image::Rgba([32, 32, 32, 255]),
    );
    let scale = (cw / 96).max(2);
    for (k, (img, text)) in cells.iter().enumerate() {
        let small = image::imageops::resize(img, cw, ch, FilterType::Lanczos3);
        let (x, y) = (
            gap + (k as u32 % cols) * (cw + gap),
            gap + (k as u32 / cols) * (ch + gap),
        );
        image::imageops::overlay(&mut canvas, &small, x as i64, y as i64);
        crate::sheet::label(&mut canvas, x + 2, y + 2, text, scale);
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    canvas
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| HostError::Io {
            path: out.to_path_buf(),
            msg: e.to_string(),
        })?;
    write_atomic(out, &bytes.into_inner())
}

/// The style indices of a multistyle26 `style` value (`7`, `3:0.5,12:0.5`).
fn components(style: &str) -> Vec<String> {
    style
        .split(',')
        .map(|p| p.split(':').next().unwrap_or("").trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Contact sheet of the styles used on input frame `n`: the frame, each style of a blend
/// alone, and the blend, with the same params as the render.
fn sheet(
    plugin: &Plugin,
    a: &StylizeArgs,
    src: &Source,
    n: i64,
    out: &Path,
) -> Result<(), HostError> {
    let input = src.frame(n)?;
    let mut inst = plugin.instance(STYLE)?;
    let params: Vec<String> = a
        .params
        .iter()
        .filter(|kv| !kv.starts_with("interpolate."))
        .cloned()
        .collect();
    inst.set_params_kv(&params)?;
    let multistyle =
        matches!(inst.get_param("model")?, ParamValue::Str(ref m) if m == "multistyle26");
    let parts = components(&a.style);
    let mut looks: Vec<(String, String)> = Vec::new();
    if multistyle && parts.len() > 1 {
        for p in &parts {
            looks.push((p.clone(), format!("style {p}")));
        }
        looks.push((a.style.clone(), format!("style {}", parts.join("+"))));
    } else {
        looks.push((a.style.clone(), format!("style {}", parts.join("+"))));
    }
    let mut cells = vec![(to_rgba8(&input), format!("in {n}"))];
    for (style, text) in looks {
        inst.set_param("style", &ParamValue::Str(style))?;
        let mut outs = vec![Frame::new_u8(input.width, input.height)];
        let refs: Vec<Option<&Frame>> = (0..inst.info().inputs.len())
            .map(|k| (k == 0).then_some(&input))
            .collect();
        inst.process(0.0, n, &refs, &mut outs, None)?;
        cells.push((to_rgba8(&outs[0]), text));
    }
    let cols = cells.len().min(4) as u32;
    compose(&cells, cols, a.cell, out)
}

/// Picture strip at input frame `n`: input | stylised | in-between | next stylised, rendered
/// by the same graph (its writer pointed at a temporary PNG sequence).
fn strip(
    plugin: &Plugin,
    a: &StylizeArgs,
    src: &Source,
    n: i64,
    out: &Path,
    cancel: &dyn Fn() -> bool,
) -> Result<(), HostError> {
    let dir = std::env::temp_dir().join(format!("wick-strip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| HostError::Io {
        path: dir.clone(),
        msg: e.to_string(),
    })?;
    let pattern = dir.join("f.####.png").to_string_lossy().into_owned();
    let k = a.retime as i64;
    let o = src.first() + (n - src.first()) * k;
    let mut frames = vec![o];
    let mut labels = vec![format!("style {n}")];
    if k > 1 && n < src.last() {
        frames.push(o + k / 2);
        let t = (k / 2) as f64 / k as f64;
        labels.push(format!("interp t={t}"));
        frames.push(o + k);
        labels.push(format!("style {}", n + 1));
    }
    let quiet = StylizeArgs {
        no_audio: true,
        codec: None,
        crf: None,
        preset: None,
        pix_fmt: None,
        fps: None,
        ..a.clone()
    };
    let result = (|| {
        let text = graph_text(plugin, &quiet, src, &pattern)?;
        let graph = Graph::parse(&text, absolute(Path::new("."))?, plugin)?;
        let mut r = Renderer::new(graph, plugin)?;
        let opts = RenderOptions {
            progress_bar: false,
        };
        render_frames(&mut r, &frames, &opts, cancel)?;
        let mut cells = vec![(to_rgba8(&src.frame(n)?), format!("in {n}"))];
        for (f, l) in frames.iter().zip(labels) {
            let img = load_image(Path::new(&crate::graph::expand_pattern(&pattern, *f)))?;
            cells.push((to_rgba8(&img), l));
        }
        let cols = cells.len() as u32;
        compose(&cells, cols, a.cell, out)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_components() {
        assert_eq!(components("7"), vec!["7"]);
        assert_eq!(components("3:0.5, 12:0.5"), vec!["3", "12"]);
    }
}
