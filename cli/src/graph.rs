//! Node graphs for `wick render`: a DAG from sequence readers through Wick nodes to sequence
//! writers, params per node, optional linear keyframes per param, rendered over a frame range.
//!
//! ```toml
//! fps = 24
//! frames = "1-120"
//!
//! [[node]]
//! name = "gen"
//! type = "wick.generate"
//! params = { seed = 7, width = 640, height = 360 }
//! keyframes = { mix = [[1, 0.0], [120, 1.0]] }
//!
//! [[node]]
//! name = "out"
//! type = "write"
//! input = "gen"
//! path = "out/cppn.####.png"
//! ```
//!
//! Node types: `read` (`path` pattern; optional `first`/`last` clamp requests, like a host
//! holding the ends of a clip), `write` (`path`, `input`, optional `depth` 8/16), or any Wick
//! node id (`inputs = { port = "node" }`, or `input = "node"` for the first port). A node input
//! with a frame offset (e.g. interpolate's second frame) is fed the upstream frame at f+offset.
//! Every frame's result depends only on its frame number, so chunked renders equal whole ones.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Deserialize;

use crate::io::{load_image, output_frame, save_image, Depth};
use crate::video::{self, EncodeSettings, VideoSink, VideoSource};
use crate::{Frame, HostError, Instance, NodeInfo, ParamType, ParamValue, Plugin, Sample};

/// The node `retime` graph nodes run for their in-between frames.
pub const INTERPOLATE: &str = "wick.interpolate";

/// Parses a render-farm frame spec: `1-100`, `1-100x2`, `1,5,9`, or mixes (`1-10,20,30-40x5`).
pub fn parse_frames(spec: &str) -> Result<Vec<i64>, HostError> {
    let bad = |m: &str| HostError::BadArgument(format!("frame spec '{spec}': {m}"));
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(bad("empty item"));
        }
        // A step after 'x' (Wick, OpenCue) or ':' (Open Job Description, Deadline).
        let (range, step) = match part.split_once(['x', ':']) {
            Some((r, s)) => (
                r,
                s.parse::<i64>()
                    .map_err(|_| bad("step after 'x' or ':' is not an integer"))?,
            ),
            None => (part, 1),
        };
        if step < 1 {
            return Err(bad("step must be at least 1"));
        }
        // Allow negative frame numbers: split on a '-' that is not the leading sign.
        let split = range
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '-')
            .map(|(i, _)| i);
        let (a, b) = match split {
            Some(i) => (&range[..i], &range[i + 1..]),
            None => (range, range),
        };
        let a: i64 = a.parse().map_err(|_| bad("not an integer"))?;
        let b: i64 = b.parse().map_err(|_| bad("not an integer"))?;
        if b < a {
            return Err(bad("range end is before its start"));
        }
        if (b - a) / step > 10_000_000 {
            return Err(bad("too many frames"));
        }
        let mut f = a;
        while f <= b {
            out.push(f);
            f += step;
        }
    }
    Ok(out)
}

/// Expands `name.####.png` (or `%04d`) with a frame number; a path with no pattern is used as is.
pub fn expand_pattern(pattern: &str, frame: i64) -> String {
    if let Some(start) = pattern.find('#') {
        let n = pattern[start..].chars().take_while(|c| *c == '#').count();
        return format!(
            "{}{:0width$}{}",
            &pattern[..start],
            frame,
            &pattern[start + n..],
            width = n
        );
    }
    if let Some(start) = pattern.find('%') {
        let rest = &pattern[start + 1..];
        if let Some(d) = rest.find('d') {
            let spec = &rest[..d];
            if spec.chars().all(|c| c.is_ascii_digit()) {
                let width: usize = spec.trim_start_matches('0').parse().unwrap_or(0);
                return format!(
                    "{}{:0width$}{}",
                    &pattern[..start],
                    frame,
                    &rest[d + 1..],
                    width = width
                );
            }
        }
    }
    pattern.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphFile {
    fps: Option<f64>,
    frames: Option<String>,
    #[serde(default, rename = "node")]
    nodes: Vec<NodeSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSpec {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    path: Option<String>,
    input: Option<String>,
    #[serde(default)]
    inputs: BTreeMap<String, String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    keyframes: BTreeMap<String, Vec<(f64, f64)>>,
    depth: Option<u32>,
    first: Option<i64>,
    last: Option<i64>,
    // Video writers (`path` ending .mp4/.mov/...): encoder settings, see `video::EncodeSettings`.
    codec: Option<String>,
    crf: Option<f64>,
    preset: Option<String>,
    profile: Option<String>,
    pix_fmt: Option<String>,
    fps: Option<f64>,
    /// A read node's name or a media file whose audio the video gets.
    audio: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    // Retime nodes: output frames per input frame, and the frame where both coincide.
    factor: Option<u32>,
    origin: Option<i64>,
}

/// Linear keyframes of one numeric param: name, type, [frame, value] pairs.
type Keyframes = (String, ParamType, Vec<(f64, f64)>);

enum Kind {
    Read {
        pattern: String,
        first: Option<i64>,
        last: Option<i64>,
    },
    /// A video file: frames 1 ..= info.frames, held at the ends (and at `first`/`last`).
    ReadVideo {
        path: PathBuf,
        info: video::Info,
        first: Option<i64>,
        last: Option<i64>,
    },
    Write {
        pattern: String,
        input: usize,
        depth: Option<Depth>,
    },
    /// A video file; `####` in its name is the render's first frame (chunked renders).
    WriteVideo {
        pattern: String,
        input: usize,
        settings: EncodeSettings,
        audio: Option<PathBuf>,
    },
    /// Output frame f shows input position origin + (f − origin) / factor: input frames pass
    /// through, in-betweens come from `wick.interpolate` (params) at t = the fraction.
    Retime {
        input: usize,
        factor: u32,
        origin: i64,
        params: Vec<(String, ParamValue)>,
    },
    Node {
        id: String,
        inputs: Vec<Option<usize>>,
        offsets: Vec<i32>,
        params: Vec<(String, ParamValue)>,
        keys: Vec<Keyframes>,
    },
}

struct GNode {
    name: String,
    kind: Kind,
}

/// A parsed, checked graph.
pub struct Graph {
    nodes: Vec<GNode>,
    pub fps: f64,
    pub frames: Option<String>,
    base: PathBuf,
}

/// A node's `params` table checked against its description.
fn node_params(
    info: &NodeInfo,
    n: &NodeSpec,
    id: &str,
) -> Result<Vec<(String, ParamValue)>, HostError> {
    let mut params = Vec::new();
    for (k, v) in &n.params {
        let p = info.param(k).ok_or_else(|| {
            HostError::BadArgument(format!(
                "graph: node '{}' ({id}) has no param '{k}'",
                n.name
            ))
        })?;
        params.push((k.clone(), p.parse(&toml_to_text(v))?));
    }
    Ok(params)
}

fn toml_to_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => a.iter().map(toml_to_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

impl Graph {
    /// Reads and checks a graph file against the plugin's nodes and params.
    pub fn load(path: &Path, plugin: &Plugin) -> Result<Graph, HostError> {
        let text = std::fs::read_to_string(path).map_err(|e| HostError::Io {
            path: path.into(),
            msg: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Graph::parse(&text, base, plugin)
    }

    pub fn parse(text: &str, base: PathBuf, plugin: &Plugin) -> Result<Graph, HostError> {
        let bad = |m: String| HostError::BadArgument(format!("graph: {m}"));
        let file: GraphFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let fps = file.fps.unwrap_or(24.0);
        if !(fps.is_finite() && fps > 0.0) {
            return Err(bad(format!("fps must be positive, got {fps}")));
        }
        let index: HashMap<&str, usize> = file
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        if index.len() != file.nodes.len() {
            return Err(bad("node names must be unique".into()));
        }
        let find = |name: &str, from: &str| {
            index
                .get(name)
                .copied()
                .ok_or_else(|| bad(format!("node '{from}' reads from unknown node '{name}'")))
        };
        let mut nodes = Vec::new();
        for n in &file.nodes {
            let writes_video = n.kind == "write"
                && n.path
                    .as_deref()
                    .is_some_and(|p| video::is_video_path(Path::new(p)));
            let video_only = [
                ("codec", n.codec.is_some()),
                ("crf", n.crf.is_some()),
                ("preset", n.preset.is_some()),
                ("profile", n.profile.is_some()),
                ("pix_fmt", n.pix_fmt.is_some()),
                ("fps", n.fps.is_some()),
                ("audio", n.audio.is_some()),
                ("args", !n.args.is_empty()),
            ];
            if let Some((k, _)) = video_only.iter().find(|(_, set)| *set && !writes_video) {
                return Err(bad(format!(
                    "node '{}': '{k}' applies to write nodes with a video path (.mp4, .mov, ...)",
                    n.name
                )));
            }
            if (n.factor.is_some() || n.origin.is_some()) && n.kind != "retime" {
                return Err(bad(format!(
                    "node '{}': 'factor' and 'origin' apply to retime nodes",
                    n.name
                )));
            }
            let kind = match n.kind.as_str() {
                "read" => {
                    let pattern = n
                        .path
                        .clone()
                        .ok_or_else(|| bad(format!("read node '{}' needs a path", n.name)))?;
                    if video::is_video_path(Path::new(&pattern)) {
                        let path = base.join(&pattern);
                        let info = video::probe(&path)?;
                        Kind::ReadVideo {
                            path,
                            info,
                            first: n.first,
                            last: n.last,
                        }
                    } else {
                        Kind::Read {
                            pattern,
                            first: n.first,
                            last: n.last,
                        }
                    }
                }
                "write" if writes_video => {
                    let input = find(
                        n.input.as_deref().ok_or_else(|| {
                            bad(format!("write node '{}' needs an input", n.name))
                        })?,
                        &n.name,
                    )?;
                    if n.depth.is_some() {
                        return Err(bad(format!(
                            "write node '{}': a video's depth comes from pix_fmt (e.g. \
                             yuv422p10le), not 'depth'",
                            n.name
                        )));
                    }
                    let audio = match &n.audio {
                        None => None,
                        Some(a) => Some(
                            match file.nodes.iter().find(|m| &m.name == a && m.kind == "read") {
                                Some(m) => base.join(m.path.as_deref().unwrap_or_default()),
                                None => base.join(a),
                            },
                        ),
                    };
                    let pattern = n.path.clone().unwrap_or_default();
                    let settings = EncodeSettings {
                        codec: n.codec.clone(),
                        crf: n.crf,
                        preset: n.preset.clone(),
                        profile: n.profile.clone(),
                        pix_fmt: n.pix_fmt.clone(),
                        // 0 = the graph's rate (times upstream retime factors), set below.
                        fps: n.fps.unwrap_or(0.0),
                        audio: None,
                        args: n.args.clone(),
                    };
                    if let Some(f) = n.fps {
                        if !(f.is_finite() && f > 0.0 && f <= 1000.0) {
                            return Err(bad(format!(
                                "write node '{}': fps must be in (0, 1000], got {f}",
                                n.name
                            )));
                        }
                    }
                    // Check the encoder and its options now, not after the first frame.
                    let probe_settings = EncodeSettings {
                        fps: 24.0,
                        ..settings.clone()
                    };
                    wick_video::plan(&base.join(expand_pattern(&pattern, 1)), &probe_settings)
                        .map_err(|e| bad(format!("write node '{}': {}", n.name, e)))?;
                    Kind::WriteVideo {
                        pattern,
                        input,
                        settings,
                        audio,
                    }
                }
                "retime" => {
                    let input = find(
                        n.input.as_deref().ok_or_else(|| {
                            bad(format!("retime node '{}' needs an input", n.name))
                        })?,
                        &n.name,
                    )?;
                    let factor = n.factor.unwrap_or(2);
                    if !(1..=1000).contains(&factor) {
                        return Err(bad(format!(
                            "retime node '{}': factor must be 1..1000, got {factor}",
                            n.name
                        )));
                    }
                    let info = plugin
                        .node(INTERPOLATE)
                        .map_err(|e| bad(format!("retime node '{}': {e}", n.name)))?;
                    Kind::Retime {
                        input,
                        factor,
                        origin: n.origin.unwrap_or(1),
                        params: node_params(info, n, INTERPOLATE)?,
                    }
                }
                "write" => {
                    let input = find(
                        n.input.as_deref().ok_or_else(|| {
                            bad(format!("write node '{}' needs an input", n.name))
                        })?,
                        &n.name,
                    )?;
                    let depth = match n.depth {
                        None => None,
                        Some(8) => Some(Depth::U8),
                        Some(16) => Some(Depth::U16),
                        Some(32) => Some(Depth::F32),
                        Some(d) => {
                            return Err(bad(format!(
                                "write node '{}': depth {d} is not 8, 16 or 32",
                                n.name
                            )))
                        }
                    };
                    Kind::Write {
                        pattern: n
                            .path
                            .clone()
                            .ok_or_else(|| bad(format!("write node '{}' needs a path", n.name)))?,
                        input,
                        depth,
                    }
                }
                id => {
                    let info = plugin
                        .node(id)
                        .map_err(|e| bad(format!("node '{}': {e}", n.name)))?;
                    let mut inputs = vec![None; info.inputs.len()];
                    if let Some(i) = &n.input {
                        if inputs.is_empty() {
                            return Err(bad(format!("node '{}' ({id}) takes no inputs", n.name)));
                        }
                        inputs[0] = Some(find(i, &n.name)?);
                    }
                    for (port, src) in &n.inputs {
                        let k = info
                            .inputs
                            .iter()
                            .position(|p| &p.name == port)
                            .ok_or_else(|| {
                                bad(format!("node '{}' ({id}) has no input '{port}'", n.name))
                            })?;
                        inputs[k] = Some(find(src, &n.name)?);
                    }
                    for (k, p) in info.inputs.iter().enumerate() {
                        if inputs[k].is_none() && !p.optional {
                            return Err(bad(format!(
                                "node '{}' ({id}): input '{}' is not connected",
                                n.name, p.name
                            )));
                        }
                    }
                    let params = node_params(info, n, id)?;
                    let mut keys = Vec::new();
                    for (k, points) in &n.keyframes {
                        let p = info.param(k).ok_or_else(|| {
                            bad(format!("node '{}' ({id}) has no param '{k}'", n.name))
                        })?;
                        if !matches!(p.ty, ParamType::Float | ParamType::Int) {
                            return Err(bad(format!(
                                "node '{}': keyframes need a numeric param, '{k}' is not",
                                n.name
                            )));
                        }
                        if points.is_empty() || points.windows(2).any(|w| w[1].0 <= w[0].0) {
                            return Err(bad(format!("node '{}': keyframes of '{k}' must be [frame, value] pairs in increasing frame order", n.name)));
                        }
                        keys.push((k.clone(), p.ty, points.clone()));
                    }
                    Kind::Node {
                        id: id.to_string(),
                        inputs,
                        offsets: info.inputs.iter().map(|p| p.frame_offset).collect(),
                        params,
                        keys,
                    }
                }
            };
            nodes.push(GNode {
                name: n.name.clone(),
                kind,
            });
        }
        let mut g = Graph {
            nodes,
            fps,
            frames: file.frames,
            base,
        };
        g.check_acyclic()?;
        if !g.nodes.iter().any(|n| n.writer_input().is_some()) {
            return Err(bad(
                "the graph has no write node, so it renders nothing".into()
            ));
        }
        for n in &g.nodes {
            if let Some(input) = n.writer_input() {
                if !matches!(g.nodes[input].kind, Kind::Node { .. } | Kind::Retime { .. }) {
                    return Err(bad(format!(
                        "write node '{}' must be fed by a Wick node",
                        n.name
                    )));
                }
            }
        }
        // A video read sets the defaults: the graph's fps is its rate, the frame range its
        // frames (through any retime nodes on the way to the first writer).
        if file.fps.is_none() {
            if let Some(info) = g.nodes.iter().find_map(|n| match &n.kind {
                Kind::ReadVideo { info, .. } => Some(info),
                _ => None,
            }) {
                g.fps = info.fps();
            }
        }
        if g.frames.is_none() {
            if let Some(w) = g.nodes.iter().position(|n| n.writer_input().is_some()) {
                if let Some((a, b)) = g.range_of(w) {
                    g.frames = Some(format!("{a}-{b}"));
                }
            }
        }
        let rates: Vec<f64> = (0..g.nodes.len()).map(|i| g.rate_of(i)).collect();
        for (i, n) in g.nodes.iter_mut().enumerate() {
            if let Kind::WriteVideo { settings, .. } = &mut n.kind {
                if settings.fps == 0.0 {
                    settings.fps = rates[i];
                }
            }
        }
        Ok(g)
    }

    /// The frame range node `i` can show: a video's frames, a read's `first`..`last`, mapped
    /// through retime nodes; `None` when unbounded (generators, open sequences).
    fn range_of(&self, i: usize) -> Option<(i64, i64)> {
        match &self.nodes[i].kind {
            Kind::ReadVideo {
                info, first, last, ..
            } => Some((
                first.unwrap_or(1).max(1),
                last.unwrap_or(info.frames as i64).min(info.frames as i64),
            )),
            Kind::Read {
                first: Some(a),
                last: Some(b),
                ..
            } => Some((*a, *b)),
            Kind::Read { .. } => None,
            Kind::Write { input, .. } | Kind::WriteVideo { input, .. } => self.range_of(*input),
            Kind::Retime {
                input,
                factor,
                origin,
                ..
            } => self.range_of(*input).map(|(a, b)| {
                let k = *factor as i64;
                (origin + (a - origin) * k, origin + (b - origin) * k)
            }),
            Kind::Node { inputs, .. } => inputs.iter().flatten().find_map(|u| self.range_of(*u)),
        }
    }

    /// Frames per second at node `i`: the graph's, times the retime factors upstream.
    fn rate_of(&self, i: usize) -> f64 {
        match &self.nodes[i].kind {
            Kind::Read { .. } | Kind::ReadVideo { .. } => self.fps,
            Kind::Write { input, .. } | Kind::WriteVideo { input, .. } => self.rate_of(*input),
            Kind::Retime { input, factor, .. } => self.rate_of(*input) * *factor as f64,
            Kind::Node { inputs, .. } => inputs
                .iter()
                .flatten()
                .map(|u| self.rate_of(*u))
                .next()
                .unwrap_or(self.fps),
        }
    }

    fn check_acyclic(&self) -> Result<(), HostError> {
        fn visit(g: &Graph, i: usize, state: &mut Vec<u8>) -> Result<(), HostError> {
            match state[i] {
                1 => {
                    return Err(HostError::BadArgument(format!(
                        "graph: cycle through node '{}'",
                        g.nodes[i].name
                    )))
                }
                2 => return Ok(()),
                _ => {}
            }
            state[i] = 1;
            let ups: Vec<usize> = match &g.nodes[i].kind {
                Kind::Read { .. } | Kind::ReadVideo { .. } => vec![],
                Kind::Write { input, .. }
                | Kind::WriteVideo { input, .. }
                | Kind::Retime { input, .. } => vec![*input],
                Kind::Node { inputs, .. } => inputs.iter().flatten().copied().collect(),
            };
            for u in ups {
                visit(g, u, state)?;
            }
            state[i] = 2;
            Ok(())
        }
        let mut state = vec![0u8; self.nodes.len()];
        for i in 0..self.nodes.len() {
            visit(self, i, &mut state)?;
        }
        Ok(())
    }

    /// The output paths this graph writes for `frame` (a video writer's file, named for a
    /// render starting at `frame`).
    pub fn outputs(&self, frame: i64) -> Vec<PathBuf> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Write { pattern, .. } | Kind::WriteVideo { pattern, .. } => {
                    Some(self.base.join(expand_pattern(pattern, frame)))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether any writer writes a video file (frames must then render in increasing order).
    pub fn writes_video(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n.kind, Kind::WriteVideo { .. }))
    }
}

impl GNode {
    fn writer_input(&self) -> Option<usize> {
        match &self.kind {
            Kind::Write { input, .. } | Kind::WriteVideo { input, .. } => Some(*input),
            _ => None,
        }
    }
}

fn key_value(points: &[(f64, f64)], frame: f64) -> f64 {
    let (f0, v0) = points[0];
    if frame <= f0 {
        return v0;
    }
    for w in points.windows(2) {
        let ((fa, va), (fb, vb)) = (w[0], w[1]);
        if frame <= fb {
            return va + (vb - va) * (frame - fa) / (fb - fa);
        }
    }
    points[points.len() - 1].1
}

/// Format requested of a node's output: the working format for node-to-node links, the file's
/// format for a node feeding a writer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Want {
    sample: u8,
    channels: u32,
    premultiplied: bool,
    linear: bool,
}

impl Want {
    const WORKING: Want = Want {
        sample: 3,
        channels: 4,
        premultiplied: false,
        linear: false,
    };
    fn of(s: Sample, channels: u32, premultiplied: bool, linear: bool) -> Want {
        let sample = match s {
            Sample::U8 => 0,
            Sample::U16 => 1,
            Sample::F16 => 2,
            Sample::F32 => 3,
        };
        Want {
            sample,
            channels,
            premultiplied,
            linear,
        }
    }
    fn frame(&self, w: u32, h: u32) -> Frame {
        let s = [Sample::U8, Sample::U16, Sample::F16, Sample::F32][self.sample as usize];
        Frame::new(w, h, s, self.channels, self.premultiplied, self.linear)
    }
}

/// sRGB transfer: encoded → linear (as the plugin's frame writer).
fn srgb_to_linear(x: f32) -> f32 {
    if x <= 0.040_45 {
        x / 12.92
    } else {
        ((x + 0.055) / 1.055).powf(2.4)
    }
}

/// A working frame (f32 RGBA, sRGB, straight) in another format, converted exactly as the
/// plugin writes its outputs (transfer, premultiply, clamp and round). Not for f16.
fn from_working(src: &Frame, want: Want) -> Frame {
    let mut out = want.frame(src.width, src.height);
    let ch = want.channels as usize;
    let ss = out.sample.size();
    for (p, px) in src.data.chunks_exact(16).enumerate() {
        let mut c = [0f32; 4];
        for (k, v) in c.iter_mut().enumerate() {
            *v = f32::from_ne_bytes([px[4 * k], px[4 * k + 1], px[4 * k + 2], px[4 * k + 3]]);
        }
        if want.linear {
            for v in c.iter_mut().take(3) {
                *v = srgb_to_linear(*v);
            }
        }
        if ch == 4 && want.premultiplied {
            let a = c[3].clamp(0.0, 1.0);
            for v in c.iter_mut().take(3) {
                *v *= a;
            }
        }
        let o = &mut out.data[p * ch * ss..(p + 1) * ch * ss];
        for (k, v) in c.iter().enumerate().take(ch) {
            let v = if v.is_nan() { 0.0 } else { *v };
            let d = &mut o[k * ss..(k + 1) * ss];
            match want.sample {
                0 => d[0] = (v.clamp(0.0, 1.0) * 255.0).round() as u8,
                1 => {
                    d.copy_from_slice(&((v.clamp(0.0, 1.0) * 65535.0).round() as u16).to_ne_bytes())
                }
                _ => d.copy_from_slice(&v.to_ne_bytes()),
            }
        }
    }
    out
}

/// Renders a graph: one instance per node, kept across frames (models load once). Video
/// reads stream through one decoder each; video writes are finished by [`Renderer::finish`]
/// (dropped unfinished, they leave no file).
pub struct Renderer<'p> {
    graph: Graph,
    instances: HashMap<usize, Instance<'p>>,
    sources: HashMap<usize, VideoSource>,
    sinks: HashMap<usize, VideoSink>,
    /// Frames used by the current or the previous `render_frame` call, shared (not copied)
    /// between their consumers, with the call that last used them: sequential renders reuse
    /// f+1 (interpolation), f−k (temporal windows) and retime sources without recomputing.
    cache: HashMap<(usize, i64, Want), (Rc<Frame>, u64)>,
    generation: u64,
    /// The render's frame count, when known (bounds a video writer's copied audio).
    planned: Option<usize>,
}

impl<'p> Renderer<'p> {
    pub fn new(graph: Graph, plugin: &'p Plugin) -> Result<Self, HostError> {
        let mut instances = HashMap::new();
        let mut sources = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            let (id, params) = match &n.kind {
                Kind::Node { id, params, .. } => (id.as_str(), params),
                Kind::Retime { params, .. } => (INTERPOLATE, params),
                Kind::ReadVideo { path, info, .. } => {
                    sources.insert(i, VideoSource::with_info(path, info.clone()));
                    continue;
                }
                _ => continue,
            };
            let mut inst = plugin.instance(id)?;
            for (k, v) in params {
                inst.set_param(k, v)
                    .map_err(|e| HostError::BadArgument(format!("node '{}': {e}", n.name)))?;
            }
            instances.insert(i, inst);
        }
        Ok(Renderer {
            graph,
            instances,
            sources,
            sinks: HashMap::new(),
            cache: HashMap::new(),
            generation: 0,
            planned: None,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Tells the renderer how many frames this render has (a video writer then cuts the audio
    /// it copies to the video's length).
    pub fn plan_frames(&mut self, count: usize) {
        self.planned = Some(count);
    }

    /// Renders and writes every output of `frame`. Returns the paths written (a video
    /// writer's file once per frame it received).
    pub fn render_frame(
        &mut self,
        frame: i64,
        progress: &mut dyn FnMut(f64, &str) -> bool,
    ) -> Result<Vec<PathBuf>, HostError> {
        self.generation += 1;
        let keep = self.generation - 1;
        self.cache.retain(|_, (_, g)| *g >= keep);
        let mut written = Vec::new();
        let writers: Vec<usize> = (0..self.graph.nodes.len())
            .filter(|&i| self.graph.nodes[i].writer_input().is_some())
            .collect();
        for w in writers {
            match &self.graph.nodes[w].kind {
                Kind::Write {
                    pattern,
                    input,
                    depth,
                } => {
                    let (input, depth) = (*input, *depth);
                    let path = self.graph.base.join(expand_pattern(pattern, frame));
                    let depth = depth.unwrap_or(Depth::U8);
                    let probe = output_frame(&path, depth, 1, 1)?;
                    let want = Want::of(
                        probe.sample,
                        probe.channels,
                        probe.premultiplied,
                        probe.linear,
                    );
                    let out = self.eval(input, frame, want, progress)?;
                    save_image(&out, &path)?;
                    written.push(path);
                }
                Kind::WriteVideo {
                    pattern,
                    input,
                    settings,
                    audio,
                } => {
                    let input = *input;
                    if !self.sinks.contains_key(&w) {
                        let path = self.graph.base.join(expand_pattern(pattern, frame));
                        let mut settings = settings.clone();
                        settings.audio = audio.as_ref().map(|a| video::AudioSource {
                            path: a.clone(),
                            start: ((frame - 1) as f64 / settings.fps).max(0.0),
                        });
                        let sink = VideoSink::new(&path, settings, self.planned)?;
                        self.sinks.insert(w, sink);
                    }
                    let layout = self.sinks[&w].layout();
                    let (sample, channels) = video::frame_format(layout);
                    let want = Want::of(sample, channels, false, false);
                    let out = self.eval(input, frame, want, progress)?;
                    let sink = self.sinks.get_mut(&w).expect("sink");
                    sink.push(frame, &out)?;
                    written.push(sink.path().to_path_buf());
                }
                _ => unreachable!("writers only"),
            }
        }
        Ok(written)
    }

    /// Finishes every video being written (renamed into place). Returns their paths.
    pub fn finish(&mut self) -> Result<Vec<PathBuf>, HostError> {
        let mut done = Vec::new();
        let mut sinks: Vec<(usize, VideoSink)> = self.sinks.drain().collect();
        sinks.sort_by_key(|(i, _)| *i);
        for (_, s) in sinks {
            if let Some(p) = s.finish()? {
                done.push(p);
            }
        }
        Ok(done)
    }

    /// Frames held in the renderer's cache (bounded by what two consecutive frames use).
    pub fn cached_frames(&self) -> usize {
        self.cache.len()
    }

    /// `ffmpeg` decoder processes started per video read node (1 each for a sequential render).
    pub fn decoder_starts(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self
            .sources
            .iter()
            .map(|(i, s)| (self.graph.nodes[*i].name.clone(), s.decoder_starts()))
            .collect();
        v.sort();
        v
    }

    fn eval(
        &mut self,
        i: usize,
        frame: i64,
        want: Want,
        progress: &mut dyn FnMut(f64, &str) -> bool,
    ) -> Result<Rc<Frame>, HostError> {
        let generation = self.generation;
        if let Some((f, g)) = self.cache.get_mut(&(i, frame, want)) {
            *g = generation;
            return Ok(Rc::clone(f));
        }
        let name = self.graph.nodes[i].name.clone();
        let ctx = |e: HostError| match e {
            HostError::Plugin { status, message } => HostError::Plugin {
                status,
                message: format!("node '{name}', frame {frame}: {message}"),
            },
            other => other,
        };
        let result: Rc<Frame> = match &self.graph.nodes[i].kind {
            Kind::Read {
                pattern,
                first,
                last,
            } => {
                let mut f = frame;
                if let Some(a) = first {
                    f = f.max(*a);
                }
                if let Some(b) = last {
                    f = f.min(*b);
                }
                Rc::new(load_image(
                    &self.graph.base.join(expand_pattern(pattern, f)),
                )?)
            }
            Kind::ReadVideo { first, last, .. } => {
                let mut f = frame;
                if let Some(a) = first {
                    f = f.max(*a);
                }
                if let Some(b) = last {
                    f = f.min(*b);
                }
                self.sources.get_mut(&i).expect("video source").frame(f)?
            }
            Kind::Write { .. } | Kind::WriteVideo { .. } => unreachable!("writers feed nothing"),
            Kind::Retime {
                input,
                factor,
                origin,
                ..
            } => {
                let (input, n, origin) = (*input, *factor as i64, *origin);
                let a = origin + (frame - origin).div_euclid(n);
                let k = (frame - origin).rem_euclid(n);
                if k == 0 && (want == Want::WORKING || want.sample == 2) {
                    self.eval(input, a, want, progress)?
                } else if k == 0 {
                    // The working frame the in-betweens also use (computed once), converted.
                    let fa = self.eval(input, a, Want::WORKING, progress)?;
                    Rc::new(from_working(&fa, want))
                } else {
                    let fa = self.eval(input, a, Want::WORKING, progress)?;
                    let fb = self.eval(input, a + 1, Want::WORKING, progress)?;
                    let t = k as f64 / n as f64;
                    let inst = self.instances.get_mut(&i).expect("instance per node");
                    inst.set_param("t", &ParamValue::Float(t)).map_err(ctx)?;
                    let mut out = vec![want.frame(fa.width, fa.height)];
                    let time = frame as f64 / (self.graph.fps * n as f64);
                    inst.process(
                        time,
                        frame,
                        &[Some(&*fa), Some(&*fb)],
                        &mut out,
                        Some(progress),
                    )
                    .map_err(ctx)?;
                    Rc::new(out.pop().expect("one output"))
                }
            }
            Kind::Node {
                inputs,
                offsets,
                keys,
                ..
            } => {
                let (inputs, offsets, keys) = (inputs.clone(), offsets.clone(), keys.clone());
                let mut frames = Vec::new();
                for (k, src) in inputs.iter().enumerate() {
                    match src {
                        Some(s) => {
                            let f =
                                self.eval(*s, frame + offsets[k] as i64, Want::WORKING, progress)?;
                            frames.push(Some(f));
                        }
                        None => frames.push(None),
                    }
                }
                let inst = self.instances.get_mut(&i).expect("instance per node");
                for (k, ty, points) in &keys {
                    let v = key_value(points, frame as f64);
                    let v = if *ty == ParamType::Int {
                        ParamValue::Int(v.round() as i64)
                    } else {
                        ParamValue::Float(v)
                    };
                    inst.set_param(k, &v).map_err(ctx)?;
                }
                let (w, h) = match frames.iter().flatten().next() {
                    Some(f) => (f.width, f.height),
                    None => inst.source_size().map_err(ctx)?,
                };
                let mut out = vec![want.frame(w, h)];
                let refs: Vec<Option<&Frame>> = frames.iter().map(|f| f.as_deref()).collect();
                let time = frame as f64 / self.graph.fps;
                inst.process(time, frame, &refs, &mut out, Some(progress))
                    .map_err(ctx)?;
                Rc::new(out.pop().expect("one output"))
            }
        };
        self.cache
            .insert((i, frame, want), (Rc::clone(&result), generation));
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_specs() {
        assert_eq!(parse_frames("1-5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_frames("1-10x3").unwrap(), vec![1, 4, 7, 10]);
        assert_eq!(parse_frames("1,5,9").unwrap(), vec![1, 5, 9]);
        assert_eq!(parse_frames("-2-1").unwrap(), vec![-2, -1, 0, 1]);
        assert_eq!(parse_frames("7").unwrap(), vec![7]);
        for bad in ["", "5-1", "1-5x0", "a", "1-"] {
            assert!(parse_frames(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns() {
        assert_eq!(expand_pattern("out.####.png", 7), "out.0007.png");
        assert_eq!(expand_pattern("out.%04d.png", 12), "out.0012.png");
        assert_eq!(expand_pattern("still.png", 3), "still.png");
    }

    #[test]
    fn keyframes_are_linear_and_clamped() {
        let k = [(1.0, 0.0), (11.0, 1.0)];
        assert_eq!(key_value(&k, 0.0), 0.0);
        assert!((key_value(&k, 6.0) - 0.5).abs() < 1e-12);
        assert_eq!(key_value(&k, 20.0), 1.0);
    }
}
