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
use crate::{Frame, HostError, Instance, ParamType, ParamValue, Plugin, Sample};

/// Parses a render-farm frame spec: `1-100`, `1-100x2`, `1,5,9`, or mixes (`1-10,20,30-40x5`).
pub fn parse_frames(spec: &str) -> Result<Vec<i64>, HostError> {
    let bad = |m: &str| HostError::BadArgument(format!("frame spec '{spec}': {m}"));
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(bad("empty item"));
        }
        let (range, step) = match part.split_once('x') {
            Some((r, s)) => (
                r,
                s.parse::<i64>()
                    .map_err(|_| bad("step after 'x' is not an integer"))?,
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
}

/// Linear keyframes of one numeric param: name, type, [frame, value] pairs.
type Keyframes = (String, ParamType, Vec<(f64, f64)>);

enum Kind {
    Read {
        pattern: String,
        first: Option<i64>,
        last: Option<i64>,
    },
    Write {
        pattern: String,
        input: usize,
        depth: Option<Depth>,
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
            let kind = match n.kind.as_str() {
                "read" => Kind::Read {
                    pattern: n
                        .path
                        .clone()
                        .ok_or_else(|| bad(format!("read node '{}' needs a path", n.name)))?,
                    first: n.first,
                    last: n.last,
                },
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
                    let mut params = Vec::new();
                    for (k, v) in &n.params {
                        let p = info.param(k).ok_or_else(|| {
                            bad(format!("node '{}' ({id}) has no param '{k}'", n.name))
                        })?;
                        params.push((k.clone(), p.parse(&toml_to_text(v))?));
                    }
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
        let g = Graph {
            nodes,
            fps,
            frames: file.frames,
            base,
        };
        g.check_acyclic()?;
        if !g.nodes.iter().any(|n| matches!(n.kind, Kind::Write { .. })) {
            return Err(bad(
                "the graph has no write node, so it renders nothing".into()
            ));
        }
        for n in &g.nodes {
            if let Kind::Write { input, .. } = n.kind {
                if !matches!(g.nodes[input].kind, Kind::Node { .. }) {
                    return Err(bad(format!(
                        "write node '{}' must be fed by a Wick node",
                        n.name
                    )));
                }
            }
        }
        Ok(g)
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
                Kind::Read { .. } => vec![],
                Kind::Write { input, .. } => vec![*input],
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

    /// The output paths this graph writes for `frame`.
    pub fn outputs(&self, frame: i64) -> Vec<PathBuf> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Write { pattern, .. } => Some(self.base.join(expand_pattern(pattern, frame))),
                _ => None,
            })
            .collect()
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

/// Renders a graph: one instance per node, kept across frames (models load once).
pub struct Renderer<'p> {
    graph: Graph,
    instances: HashMap<usize, Instance<'p>>,
    /// Frames near the current one, shared (not copied) between their consumers.
    cache: HashMap<(usize, i64, Want), Rc<Frame>>,
}

impl<'p> Renderer<'p> {
    pub fn new(graph: Graph, plugin: &'p Plugin) -> Result<Self, HostError> {
        let mut instances = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            if let Kind::Node { id, params, .. } = &n.kind {
                let mut inst = plugin.instance(id)?;
                for (k, v) in params {
                    inst.set_param(k, v)
                        .map_err(|e| HostError::BadArgument(format!("node '{}': {e}", n.name)))?;
                }
                instances.insert(i, inst);
            }
        }
        Ok(Renderer {
            graph,
            instances,
            cache: HashMap::new(),
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Renders and writes every output of `frame`. Returns the paths written.
    pub fn render_frame(
        &mut self,
        frame: i64,
        progress: &mut dyn FnMut(f64, &str) -> bool,
    ) -> Result<Vec<PathBuf>, HostError> {
        // Keep cached frames near this one only (temporal nodes reuse f+1 at the next frame).
        self.cache.retain(|(_, f, _), _| (*f - frame).abs() <= 2);
        let mut written = Vec::new();
        let writers: Vec<(String, usize, Option<Depth>)> = self
            .graph
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Write {
                    pattern,
                    input,
                    depth,
                } => Some((pattern.clone(), *input, *depth)),
                _ => None,
            })
            .collect();
        for (pattern, input, depth) in writers {
            let path = self.graph.base.join(expand_pattern(&pattern, frame));
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
        Ok(written)
    }

    fn eval(
        &mut self,
        i: usize,
        frame: i64,
        want: Want,
        progress: &mut dyn FnMut(f64, &str) -> bool,
    ) -> Result<Rc<Frame>, HostError> {
        if let Some(f) = self.cache.get(&(i, frame, want)) {
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
        let result = match &self.graph.nodes[i].kind {
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
                load_image(&self.graph.base.join(expand_pattern(pattern, f)))?
            }
            Kind::Write { .. } => unreachable!("writers feed nothing"),
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
                out.pop().expect("one output")
            }
        };
        let result = Rc::new(result);
        self.cache.insert((i, frame, want), Rc::clone(&result));
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
