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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Deserialize;

use crate::io::{convert_frame, load_image, output_frame, save_image, Depth};
use crate::video::{self, EncodeSettings, VideoSink, VideoSource};
use crate::{
    Frame, HostError, Instance, NodeInfo, ParamRole, ParamType, ParamValue, Plugin, Sample,
};

/// The node `retime` graph nodes run for their in-between frames.
pub const INTERPOLATE: &str = "wick.interpolate";

/// The largest frame number `wick render` accepts (in either sign): 2^53 − 1, the largest
/// integer a float time holds exactly, far from where `frame + offset` could overflow.
pub const MAX_FRAME: i64 = (1 << 53) - 1;

/// The largest graph file read (a 50,000-node graph is ~3 MB).
pub const MAX_GRAPH_FILE: u64 = 64 * wick_common::fs::MIB;

/// The most frames one spec may list (all its items together).
pub const MAX_FRAMES: usize = 10_000_000;

/// Parses a render-farm frame spec: `1-100`, `1-100x2` (or `1-100:2`), `1,5,9`, or mixes
/// (`1-10,20,30-40x5`).
/// Frame numbers are integers within ±[`MAX_FRAME`]; a spec lists at most [`MAX_FRAMES`]
/// frames. All arithmetic is checked: what would overflow is refused, never wrapped.
pub fn parse_frames(spec: &str) -> Result<Vec<i64>, HostError> {
    let bad = |m: String| HostError::BadArgument(format!("frame spec '{spec}': {m}"));
    let num = |t: &str| -> Result<i64, HostError> {
        let n: i64 = t
            .parse()
            .map_err(|_| bad(format!("'{t}' is not an integer")))?;
        if n.unsigned_abs() > MAX_FRAME as u64 {
            return Err(bad(format!(
                "frame {n} is out of range (frame numbers are within ±{MAX_FRAME})"
            )));
        }
        Ok(n)
    };
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(bad("empty item".into()));
        }
        // A step after 'x' (Wick, OpenCue) or ':' (Open Job Description, Deadline).
        let (range, step) = match part.split_once(['x', ':']) {
            Some((r, s)) => (
                r,
                s.parse::<i64>()
                    .map_err(|_| bad("step after 'x' or ':' is not an integer".into()))?,
            ),
            None => (part, 1),
        };
        if step < 1 {
            return Err(bad("step must be at least 1".into()));
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
        let (a, b) = (num(a)?, num(b)?);
        if b < a {
            return Err(bad("range end is before its start".into()));
        }
        // Both ends are within ±2^53, so the span and the count fit an i64.
        let count = (b - a) / step + 1;
        if count as u64 > (MAX_FRAMES - out.len()) as u64 {
            return Err(bad(format!("more than {MAX_FRAMES} frames")));
        }
        out.extend((0..count).map(|k| a + k * step));
    }
    Ok(out)
}

/// Expands `name.####.png` (or `%04d`, `%d`) with a frame number; a path with no pattern is
/// used as is (`wick_common::pattern`, the one frame-pattern parser).
pub fn expand_pattern(pattern: &str, frame: i64) -> String {
    wick_common::pattern::expand(pattern, frame)
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
    /// Retime nodes: the node whose frames decide scene cuts (e.g. the read node under a
    /// style transfer, whose stylised frames look alike across a cut).
    cuts_from: Option<String>,
}

/// A frame range, first and last included.
type Range = (i64, i64);

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
        /// Cuts are decided on this node's frames (a and a+1) instead of the input's.
        cuts_from: Option<usize>,
    },
    Node {
        id: String,
        inputs: Vec<Option<usize>>,
        offsets: Vec<i32>,
        /// Past-frame inputs (`source@-1`, ...): fed only where upstream has the frame.
        history: Vec<bool>,
        /// Whether past-frame inputs are fed at a frame (the node's `PastFrames` param).
        gate: Gate,
        params: Vec<(String, ParamValue)>,
        keys: Vec<Keyframes>,
    },
}

/// When a node's past-frame inputs are fed: always (no param with the `PastFrames` role), by
/// its value (non-zero), or by its keyframes at the frame. While it is zero the node ignores
/// them, so they are neither read nor decoded.
#[derive(Debug, Clone)]
enum Gate {
    Const(bool),
    Keys(Vec<(f64, f64)>),
}

impl Gate {
    fn open(&self, frame: i64) -> bool {
        match self {
            Gate::Const(b) => *b,
            Gate::Keys(points) => key_value(points, frame as f64) != 0.0,
        }
    }
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
        // A regular file of bounded size only: a device or FIFO named as the graph is refused.
        // An unreadable graph is a bad argument (exit 2), like a malformed one.
        let text = wick_common::fs::read_regular_text(path, MAX_GRAPH_FILE)
            .map_err(|e| HostError::BadArgument(format!("graph {}: {e}", path.display())))?;
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
            for (k, v) in [("first", n.first), ("last", n.last), ("origin", n.origin)] {
                if v.is_some_and(|v| v.unsigned_abs() > MAX_FRAME as u64) {
                    return Err(bad(format!(
                        "node '{}': {k} is out of range (frame numbers are within \
                         ±{MAX_FRAME})",
                        n.name
                    )));
                }
            }
            if (n.factor.is_some() || n.origin.is_some() || n.cuts_from.is_some())
                && n.kind != "retime"
            {
                return Err(bad(format!(
                    "node '{}': 'factor', 'origin' and 'cuts_from' apply to retime nodes",
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
                    let cuts_from = match &n.cuts_from {
                        Some(c) => Some(find(c, &n.name)?),
                        None => None,
                    };
                    Kind::Retime {
                        input,
                        factor,
                        origin: n.origin.unwrap_or(1),
                        params: node_params(info, n, INTERPOLATE)?,
                        cuts_from,
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
                    // Past-frame inputs (`X@-k`, optional, negative offset; `PortDesc::
                    // history_of`): left unconnected, they read what input X reads.
                    let history: Vec<bool> = info
                        .inputs
                        .iter()
                        .map(|p| {
                            p.optional && p.frame_offset < 0 && history_base(&p.name).is_some()
                        })
                        .collect();
                    for (k, p) in info.inputs.iter().enumerate() {
                        if !history[k] || inputs[k].is_some() {
                            continue;
                        }
                        let base = history_base(&p.name).expect("history port");
                        if let Some(b) = info.inputs.iter().position(|q| q.name == base) {
                            inputs[k] = inputs[b];
                        }
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
                    let gate = match info.role(ParamRole::PastFrames) {
                        None => Gate::Const(true),
                        Some(p) => match keys.iter().find(|(k, _, _)| *k == p.name) {
                            Some((_, _, points)) => Gate::Keys(points.clone()),
                            None => {
                                let v = params
                                    .iter()
                                    .find(|(k, _)| *k == p.name)
                                    .map_or(&p.default, |(_, v)| v);
                                Gate::Const(match v {
                                    ParamValue::Float(x) => *x != 0.0,
                                    ParamValue::Int(n) => *n != 0,
                                    ParamValue::Bool(b) => *b,
                                    _ => true,
                                })
                            }
                        },
                    };
                    Kind::Node {
                        id: id.to_string(),
                        inputs,
                        offsets: info.inputs.iter().map(|p| p.frame_offset).collect(),
                        history,
                        gate,
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
        let (ranges, rates) = g.ranges_and_rates()?;
        if g.frames.is_none() {
            if let Some(w) = g.nodes.iter().position(|n| n.writer_input().is_some()) {
                if let Some((a, b)) = ranges[w] {
                    g.frames = Some(format!("{a}-{b}"));
                }
            }
        }
        for (i, n) in g.nodes.iter_mut().enumerate() {
            if let Kind::WriteVideo { settings, .. } = &mut n.kind {
                if settings.fps == 0.0 {
                    settings.fps = rates[i];
                }
            }
        }
        Ok(g)
    }

    /// The nodes node `i` reads from, with the frame offset of each link (0 but for node
    /// inputs declared at an offset).
    fn upstream(&self, i: usize) -> Vec<(usize, i32)> {
        match &self.nodes[i].kind {
            Kind::Read { .. } | Kind::ReadVideo { .. } => vec![],
            Kind::Write { input, .. } | Kind::WriteVideo { input, .. } => vec![(*input, 0)],
            Kind::Retime {
                input, cuts_from, ..
            } => std::iter::once(*input)
                .chain(*cuts_from)
                .map(|u| (u, 0))
                .collect(),
            Kind::Node {
                inputs, offsets, ..
            } => inputs
                .iter()
                .zip(offsets)
                .filter_map(|(u, o)| u.map(|u| (u, *o)))
                .collect(),
        }
    }

    /// Whether node `i` can produce frame `f` without holding or clamping: image sequences
    /// need the file (and `f` within `first`/`last`), videos `f` within their frames, nodes and
    /// retimes what they read. Decides which past frames `wick render` feeds. An explicit
    /// stack, not recursion.
    fn has_frame(&self, i: usize, f: i64) -> bool {
        let within = |f: i64, first: &Option<i64>, last: &Option<i64>| {
            !first.is_some_and(|a| f < a) && !last.is_some_and(|b| f > b)
        };
        let mut stack = vec![(i, f)];
        let mut seen = HashSet::new();
        while let Some((i, f)) = stack.pop() {
            if !seen.insert((i, f)) {
                continue;
            }
            match &self.nodes[i].kind {
                Kind::Read {
                    pattern,
                    first,
                    last,
                } => {
                    if !within(f, first, last)
                        || !self.base.join(expand_pattern(pattern, f)).is_file()
                    {
                        return false;
                    }
                }
                Kind::ReadVideo {
                    info, first, last, ..
                } => {
                    if !within(f, first, last) || f < 1 || f > info.frames as i64 {
                        return false;
                    }
                }
                Kind::Write { .. } | Kind::WriteVideo { .. } => return false,
                Kind::Retime {
                    input,
                    factor,
                    origin,
                    ..
                } => {
                    let n = *factor as i64;
                    let Some(d) = f.checked_sub(*origin) else {
                        return false;
                    };
                    let a = origin + d.div_euclid(n);
                    stack.push((*input, a));
                    if d.rem_euclid(n) != 0 {
                        stack.push((*input, a.saturating_add(1)));
                    }
                }
                Kind::Node {
                    inputs,
                    offsets,
                    history,
                    ..
                } => {
                    for ((s, o), h) in inputs.iter().zip(offsets).zip(history) {
                        match (s, f.checked_add(*o as i64)) {
                            (Some(s), Some(g)) if !h => stack.push((*s, g)),
                            (Some(_), None) if !h => return false,
                            _ => {}
                        }
                    }
                }
            }
        }
        true
    }

    /// Every node after the nodes it reads from; a cycle is an error. An explicit stack, not
    /// recursion: any number of nodes in constant stack (as everything that walks the graph).
    fn topo_order(&self) -> Result<Vec<usize>, HostError> {
        // 0: not visited, 1: on the current path, 2: done.
        let mut state = vec![0u8; self.nodes.len()];
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<(usize, bool)> = Vec::new();
        for start in 0..self.nodes.len() {
            stack.push((start, false));
            while let Some((i, leaving)) = stack.pop() {
                if leaving {
                    state[i] = 2;
                    order.push(i);
                    continue;
                }
                match state[i] {
                    1 => {
                        return Err(HostError::BadArgument(format!(
                            "graph: cycle through node '{}'",
                            self.nodes[i].name
                        )))
                    }
                    2 => continue,
                    _ => {}
                }
                state[i] = 1;
                stack.push((i, true));
                for (u, _) in self.upstream(i) {
                    if state[u] != 2 {
                        stack.push((u, false));
                    }
                }
            }
        }
        Ok(order)
    }

    fn check_acyclic(&self) -> Result<(), HostError> {
        self.topo_order().map(|_| ())
    }

    /// For every node: the frame range it can show (a video's frames, a read's
    /// `first`..`last`, mapped through retime nodes; `None` when unbounded: generators, open
    /// sequences) and its frames per second (the graph's, times the retime factors upstream).
    fn ranges_and_rates(&self) -> Result<(Vec<Option<Range>>, Vec<f64>), HostError> {
        let n = self.nodes.len();
        let (mut range, mut rate) = (vec![None; n], vec![self.fps; n]);
        for i in self.topo_order()? {
            (range[i], rate[i]) = match &self.nodes[i].kind {
                Kind::ReadVideo {
                    info, first, last, ..
                } => (
                    Some((
                        first.unwrap_or(1).max(1),
                        last.unwrap_or(info.frames as i64).min(info.frames as i64),
                    )),
                    self.fps,
                ),
                Kind::Read {
                    first: Some(a),
                    last: Some(b),
                    ..
                } => (Some((*a, *b)), self.fps),
                Kind::Read { .. } => (None, self.fps),
                Kind::Write { input, .. } | Kind::WriteVideo { input, .. } => {
                    (range[*input], rate[*input])
                }
                Kind::Retime {
                    input,
                    factor,
                    origin,
                    ..
                } => {
                    let k = *factor as i64;
                    // Checked: a range that would overflow is unbounded.
                    let map = |a: i64| {
                        a.checked_sub(*origin)
                            .and_then(|d| d.checked_mul(k))
                            .and_then(|d| origin.checked_add(d))
                    };
                    let r = range[*input].and_then(|(a, b)| Some((map(a)?, map(b)?)));
                    (r, rate[*input] * *factor as f64)
                }
                Kind::Node { inputs, .. } => (
                    inputs.iter().flatten().find_map(|u| range[*u]),
                    inputs
                        .iter()
                        .flatten()
                        .map(|u| rate[*u])
                        .next()
                        .unwrap_or(self.fps),
                ),
            };
        }
        Ok((range, rate))
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

/// A frame (any format) in another format, converted exactly as the plugin writes its outputs
/// (transfer, premultiply, clamp and round: the SDK's [`convert_frame`]). Not into f16.
fn from_working(src: &Frame, want: Want) -> Frame {
    if Want::of(src.sample, src.channels, src.premultiplied, src.linear) == want {
        return src.clone();
    }
    let mut out = want.frame(src.width, src.height);
    convert_frame(src, &mut out).expect("same size, a writable format");
    out
}

/// A result: (node, frame, format).
type Key = (usize, i64, Want);

/// A writer waiting for a result: (writer node, image path when it writes images).
type Pending = (usize, Option<PathBuf>);

/// Any frame as a working frame (f32 RGBA, sRGB, straight alpha), converted as the plugin reads
/// host frames (the SDK's [`convert_frame`]).
fn working(src: &Frame) -> Frame {
    if Want::of(src.sample, src.channels, src.premultiplied, src.linear) == Want::WORKING {
        return src.clone();
    }
    let mut out = Want::WORKING.frame(src.width, src.height);
    convert_frame(src, &mut out).expect("same size, an f32 destination");
    out
}

/// A frame scaled down by an integer box filter to at most `max_w` wide, as a working frame.
fn thumbnail(src: &Frame, max_w: u32) -> Frame {
    let src = &working(src);
    let s = src.width.div_ceil(max_w).max(1);
    let (w, h) = ((src.width / s).max(1), (src.height / s).max(1));
    let mut out = Want::WORKING.frame(w, h);
    let px = |x: u32, y: u32, c: usize| {
        let o = ((y * src.width + x) as usize * 4 + c) * 4;
        f32::from_ne_bytes([
            src.data[o],
            src.data[o + 1],
            src.data[o + 2],
            src.data[o + 3],
        ])
    };
    for y in 0..h {
        for x in 0..w {
            for c in 0..4 {
                let mut sum = 0.0;
                for dy in 0..s {
                    for dx in 0..s {
                        sum += px(
                            (x * s + dx).min(src.width - 1),
                            (y * s + dy).min(src.height - 1),
                            c,
                        );
                    }
                }
                let o = ((y * w + x) as usize * 4 + c) * 4;
                out.data[o..o + 4].copy_from_slice(&(sum / (s * s) as f32).to_ne_bytes());
            }
        }
    }
    out
}

/// (1 − t)·a + t·b of two working frames.
fn mix_working(a: &Frame, b: &Frame, t: f32) -> Frame {
    let mut out = Want::WORKING.frame(a.width, a.height);
    for ((o, x), y) in out
        .data
        .chunks_exact_mut(4)
        .zip(a.data.chunks_exact(4))
        .zip(b.data.chunks_exact(4))
    {
        let x = f32::from_ne_bytes([x[0], x[1], x[2], x[3]]);
        let y = f32::from_ne_bytes([y[0], y[1], y[2], y[3]]);
        o.copy_from_slice(&((1.0 - t) * x + t * y).to_ne_bytes());
    }
    out
}

/// Width of the guide frames a retime looks for cuts on (the detector's colour histogram and
/// 48×48 thumbnails read the same at this size).
const GUIDE_WIDTH: u32 = 160;

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
    cache: HashMap<Key, (Rc<Frame>, u64)>,
    generation: u64,
    /// Nodes whose results only the same frame's consumers use (every path to a writer goes
    /// through plain node inputs, no frame offset, no retime): dropped after their last
    /// consumer of the frame has run, so a chain of any length holds a few frames.
    local: Vec<bool>,
    /// The render's frame count, when known (bounds a video writer's copied audio).
    planned: Option<usize>,
    /// Retime nodes with `cuts_from`: a second `wick.interpolate` instance that looks for a
    /// cut on small copies of the guide's frames, and its verdict per input pair.
    detectors: HashMap<usize, Instance<'p>>,
    verdicts: HashMap<(usize, i64), Option<String>>,
}

impl<'p> Renderer<'p> {
    pub fn new(graph: Graph, plugin: &'p Plugin) -> Result<Self, HostError> {
        let mut instances = HashMap::new();
        let mut sources = HashMap::new();
        let mut detectors = HashMap::new();
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
            if let Kind::Retime {
                cuts_from: Some(_), ..
            } = &n.kind
            {
                let mut d = plugin.instance(INTERPOLATE)?;
                for (k, v) in params {
                    d.set_param(k, v)
                        .map_err(|e| HostError::BadArgument(format!("node '{}': {e}", n.name)))?;
                }
                detectors.insert(i, d);
            }
        }
        // Consumers first (reverse topological order): local when every consumer is a writer
        // or a local node reading it at offset 0.
        let mut local = vec![true; graph.nodes.len()];
        for &i in graph.topo_order()?.iter().rev() {
            let retime = matches!(graph.nodes[i].kind, Kind::Retime { .. });
            let node = matches!(graph.nodes[i].kind, Kind::Node { .. });
            for (u, offset) in graph.upstream(i) {
                if retime || (node && (offset != 0 || !local[i])) {
                    local[u] = false;
                }
            }
        }
        Ok(Renderer {
            graph,
            instances,
            sources,
            sinks: HashMap::new(),
            cache: HashMap::new(),
            generation: 0,
            local,
            planned: None,
            detectors,
            verdicts: HashMap::new(),
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
    ///
    /// No recursion: the results this frame needs are listed by an explicit depth-first walk
    /// from the writers (each with its number of consumers), then computed in that order, each
    /// writer's output written as soon as it is ready. A chain of any length renders in
    /// constant stack.
    pub fn render_frame(
        &mut self,
        frame: i64,
        progress: &mut dyn FnMut(f64, &str) -> bool,
    ) -> Result<Vec<PathBuf>, HostError> {
        self.generation += 1;
        let keep = self.generation - 1;
        self.cache.retain(|_, (_, g)| *g >= keep);
        let mut written = Vec::new();
        // Each writer's result key (video sinks open first: their layout sets the format).
        let mut roots: Vec<Key> = Vec::new();
        let mut pending: HashMap<Key, Vec<Pending>> = HashMap::new();
        for w in 0..self.graph.nodes.len() {
            let (key, path) = match &self.graph.nodes[w].kind {
                Kind::Write {
                    pattern,
                    input,
                    depth,
                } => {
                    let path = self.graph.base.join(expand_pattern(pattern, frame));
                    let probe = output_frame(&path, depth.unwrap_or(Depth::U8), 1, 1)?;
                    let want = Want::of(
                        probe.sample,
                        probe.channels,
                        probe.premultiplied,
                        probe.linear,
                    );
                    ((*input, frame, want), Some(path))
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
                    let (sample, channels) = video::frame_format(self.sinks[&w].layout());
                    (
                        (input, frame, Want::of(sample, channels, false, false)),
                        None,
                    )
                }
                _ => continue,
            };
            roots.push(key);
            pending.entry(key).or_default().push((w, path));
        }
        // The results needed, dependencies first, and how many consumers each has.
        let mut uses: HashMap<Key, usize> = HashMap::new();
        let mut seen: HashSet<Key> = HashSet::new();
        let mut order: Vec<Key> = Vec::new();
        let mut stack: Vec<(Key, bool)> = Vec::new();
        for k in &roots {
            *uses.entry(*k).or_default() += 1;
        }
        // The first writer's results first (a stack: push in reverse).
        for k in roots.iter().rev() {
            stack.push((*k, false));
        }
        while let Some((k, expanded)) = stack.pop() {
            if expanded {
                order.push(k);
                continue;
            }
            if !seen.insert(k) {
                continue;
            }
            stack.push((k, true));
            if self.cache.contains_key(&k) {
                continue;
            }
            let deps = self.deps(k)?;
            for d in deps.iter().rev() {
                *uses.entry(*d).or_default() += 1;
                if !seen.contains(d) {
                    stack.push((*d, false));
                }
            }
        }
        let generation = self.generation;
        for k in order {
            if let Some((_, g)) = self.cache.get_mut(&k) {
                *g = generation;
            } else {
                let deps = self.deps(k)?;
                let out = self.compute(k, &deps, progress)?;
                self.cache.insert(k, (out, generation));
                for d in deps {
                    self.release(d, &mut uses);
                }
            }
            for (w, path) in pending.remove(&k).unwrap_or_default() {
                let out = Rc::clone(&self.cache[&k].0);
                match path {
                    Some(path) => {
                        save_image(&out, &path)?;
                        written.push(path);
                    }
                    None => {
                        let sink = self.sinks.get_mut(&w).expect("sink");
                        sink.push(frame, &out)?;
                        written.push(sink.path().to_path_buf());
                    }
                }
                self.release(k, &mut uses);
            }
        }
        Ok(written)
    }

    /// One consumer of `k` is done: a local result whose last consumer ran is dropped.
    fn release(&mut self, k: Key, uses: &mut HashMap<Key, usize>) {
        if let Some(u) = uses.get_mut(&k) {
            *u = u.saturating_sub(1);
            if *u == 0 && self.local[k.0] {
                self.cache.remove(&k);
            }
        }
    }

    /// Whether the guide pair (ga, gb) of retime node `i` is a scene cut: the retime's
    /// detector (`wick.interpolate` with its `cuts`/`cut_threshold`) on small copies; the
    /// node's message ("score …, held a") when it is.
    fn cut_on_guide(
        &mut self,
        i: usize,
        ga: &Frame,
        gb: &Frame,
        progress: &mut dyn FnMut(f64, &str) -> bool,
    ) -> Result<Option<String>, HostError> {
        let det = self
            .detectors
            .get_mut(&i)
            .expect("detector per guided retime");
        if matches!(det.get_param("cuts")?, ParamValue::Str(ref c) if c == "off") {
            return Ok(None);
        }
        if (ga.width, ga.height) != (gb.width, gb.height) {
            return Ok(Some("guide frames differ in size".into()));
        }
        let (ta, tb) = (thumbnail(ga, GUIDE_WIDTH), thumbnail(gb, GUIDE_WIDTH));
        det.set_param("t", &ParamValue::Float(0.25))?;
        let mut out = vec![Want::WORKING.frame(ta.width, ta.height)];
        let mut cut = None;
        let mut cb = |f: f64, m: &str| {
            if let Some(rest) = m.strip_prefix("cut: ") {
                cut = Some(rest.to_string());
            }
            progress(f, "")
        };
        det.process(0.0, 0, &[Some(&ta), Some(&tb)], &mut out, Some(&mut cb))?;
        // "score S >= T, held a": the score part (what to do depends on each frame's t).
        Ok(cut.map(|c| match c.rsplit_once(", ") {
            Some((score, _)) => score.to_string(),
            None => c,
        }))
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

    /// The results `(i, frame, want)` is computed from, in the order [`Self::compute`] takes
    /// them.
    fn deps(&self, (i, frame, want): Key) -> Result<Vec<Key>, HostError> {
        let name = &self.graph.nodes[i].name;
        let out_of_range = || {
            HostError::BadArgument(format!(
                "node '{name}': frame {frame} maps out of the frame range"
            ))
        };
        Ok(match &self.graph.nodes[i].kind {
            Kind::Read { .. } | Kind::ReadVideo { .. } => vec![],
            Kind::Write { .. } | Kind::WriteVideo { .. } => unreachable!("writers feed nothing"),
            Kind::Retime {
                input,
                factor,
                origin,
                cuts_from,
                ..
            } => {
                let (n, d) = (
                    *factor as i64,
                    frame.checked_sub(*origin).ok_or_else(out_of_range)?,
                );
                let a = origin + d.div_euclid(n);
                if d.rem_euclid(n) == 0 && (want == Want::WORKING || want.sample == 2) {
                    vec![(*input, a, want)]
                } else if d.rem_euclid(n) == 0 {
                    vec![(*input, a, Want::WORKING)]
                } else {
                    let b = a.checked_add(1).ok_or_else(out_of_range)?;
                    let mut v = vec![(*input, a, Want::WORKING), (*input, b, Want::WORKING)];
                    // The guide's pair, unless its verdict is known.
                    if let Some(g) = cuts_from {
                        if !self.verdicts.contains_key(&(i, a)) {
                            v.extend([(*g, a, Want::WORKING), (*g, b, Want::WORKING)]);
                        }
                    }
                    v
                }
            }
            Kind::Node { .. } => self
                .fed(i, frame)
                .ok_or_else(out_of_range)?
                .into_iter()
                .flatten()
                .map(|(s, f)| (s, f, Want::WORKING))
                .collect(),
        })
    }

    /// What each input of node `i` reads at `frame`: (upstream node, its frame), or `None` for
    /// an unconnected input and for a past frame before the sequence start (absent, not an
    /// error). `None` when a frame number overflows.
    fn fed(&self, i: usize, frame: i64) -> Option<Vec<Option<(usize, i64)>>> {
        let Kind::Node {
            inputs,
            offsets,
            history,
            gate,
            ..
        } = &self.graph.nodes[i].kind
        else {
            return Some(vec![]);
        };
        let past = gate.open(frame);
        let mut v = Vec::with_capacity(inputs.len());
        for (k, src) in inputs.iter().enumerate() {
            v.push(match src {
                Some(_) if history[k] && !past => None,
                Some(s) => {
                    let f = frame.checked_add(offsets[k] as i64)?;
                    (!history[k] || self.graph.has_frame(*s, f)).then_some((*s, f))
                }
                None => None,
            });
        }
        Some(v)
    }

    /// Computes `(i, frame, want)` from its dependencies (`deps`, all in the cache).
    fn compute(
        &mut self,
        (i, frame, want): Key,
        deps: &[Key],
        progress: &mut dyn FnMut(f64, &str) -> bool,
    ) -> Result<Rc<Frame>, HostError> {
        let got = |k: &Key| Rc::clone(&self.cache.get(k).expect("dependencies run first").0);
        let inputs: Vec<Rc<Frame>> = deps.iter().map(got).collect();
        let name = self.graph.nodes[i].name.clone();
        let ctx = |e: HostError| match e {
            HostError::Plugin { status, message } => HostError::Plugin {
                status,
                message: format!("node '{name}', frame {frame}: {message}"),
            },
            other => other,
        };
        Ok(match &self.graph.nodes[i].kind {
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
            Kind::Retime { factor, origin, .. } => {
                let (n, origin) = (*factor as i64, *origin);
                let k = (frame - origin).rem_euclid(n);
                let t = k as f64 / n as f64;
                let a = origin + (frame - origin).div_euclid(n);
                if let [_, _, ga, gb] = inputs.as_slice() {
                    let verdict = self.cut_on_guide(i, ga, gb, progress).map_err(ctx)?;
                    self.verdicts.insert((i, a), verdict);
                    // Pairs far behind are not asked again.
                    self.verdicts.retain(|(j, p), _| *j != i || *p >= a - 2);
                }
                let verdict = self.verdicts.get(&(i, a)).cloned().flatten();
                if let (Some(score), [fa, fb, ..]) = (verdict, inputs.as_slice()) {
                    // A cut on the guide: hold the nearer frame (a before t = 0.5, b from it)
                    // or cross-fade, as the node's `cuts` says; never morph.
                    let dissolve = matches!(
                        self.detectors.get_mut(&i).map(|d| d.get_param("cuts")),
                        Some(Ok(ParamValue::Str(ref c))) if c == "dissolve"
                    );
                    let (out, what) = if dissolve {
                        let mix = mix_working(&working(fa), &working(fb), t as f32);
                        (from_working(&mix, want), "dissolved")
                    } else if t < 0.5 {
                        (from_working(fa, want), "held a")
                    } else {
                        (from_working(fb, want), "held b")
                    };
                    progress(1.0, &format!("cut: {score}, {what} (decided on the guide)"));
                    return Ok(Rc::new(out));
                }
                match inputs.as_slice() {
                    // An input frame passes through (its working frame converted, when the
                    // in-betweens asked for that too).
                    [fa] if k == 0 && deps[0].2 == want => Rc::clone(fa),
                    [fa] => Rc::new(from_working(fa, want)),
                    [fa, fb, ..] => {
                        let inst = self.instances.get_mut(&i).expect("instance per node");
                        inst.set_param("t", &ParamValue::Float(t)).map_err(ctx)?;
                        let mut out = vec![want.frame(fa.width, fa.height)];
                        let time = frame as f64 / (self.graph.fps * n as f64);
                        inst.process(
                            time,
                            frame,
                            &[Some(&**fa), Some(&**fb)],
                            &mut out,
                            Some(progress),
                        )
                        .map_err(ctx)?;
                        Rc::new(out.pop().expect("one output"))
                    }
                    _ => unreachable!("a retime has one, two or four inputs"),
                }
            }
            Kind::Node { keys, .. } => {
                let ports = self.fed(i, frame).unwrap_or_default();
                let mut connected = inputs.iter();
                let frames: Vec<Option<&Frame>> = ports
                    .iter()
                    .map(|p| p.map(|_| &**connected.next().expect("one per fed input")))
                    .collect();
                let inst = self.instances.get_mut(&i).expect("instance per node");
                for (k, ty, points) in keys {
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
                let time = frame as f64 / self.graph.fps;
                inst.process(time, frame, &frames, &mut out, Some(progress))
                    .map_err(ctx)?;
                Rc::new(out.pop().expect("one output"))
            }
        })
    }
}

/// `source` for a past-frame input named `source@-2` (the name a node's `history_of` port
/// carries through the C ABI).
fn history_base(name: &str) -> Option<&str> {
    let (base, off) = name.rsplit_once('@')?;
    (off.starts_with('-') && off[1..].parse::<u32>().is_ok() && !base.is_empty()).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_port_names() {
        assert_eq!(history_base("source@-1"), Some("source"));
        assert_eq!(history_base("a@b@-12"), Some("a@b"));
        for n in ["source", "source@1", "source@-", "@-1", "source@-x"] {
            assert_eq!(history_base(n), None, "{n}");
        }
    }

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

    /// #16.6: checked arithmetic; what overflows is refused, never wrapped or looped on.
    #[test]
    fn frame_specs_refuse_overflow() {
        for bad in [
            "9223372036854775806-9223372036854775807",
            "-9223372036854775808-9223372036854775807",
            "9007199254740992",
            "-9007199254740992-0",
            "0-10000000",
            "1-5000000,1-5000001",
            "1-5x99999999999999999999",
        ] {
            assert!(parse_frames(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_frames("1-5x9223372036854775807").unwrap(), vec![1]);
        assert_eq!(
            parse_frames("-9007199254740991-9007199254740991x9007199254740991").unwrap(),
            vec![-MAX_FRAME, 0, MAX_FRAME]
        );
        assert_eq!(parse_frames("0-9999999").unwrap().len(), MAX_FRAMES);
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
