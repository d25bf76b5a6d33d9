//! The one trait every Wick node implements, and the host-independent types around it.
//!
//! Host adapters (the C ABI in `abi.rs`; frei0r and OpenFX beside it) translate their host's
//! calls into these types, the way nih-plug wraps one `Plugin` trait for CLAP and VST3.

use crate::frame::{Frame, FrameMut};

/// How a param's value is typed, with its range and default.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamKind {
    Float {
        min: f64,
        max: f64,
        default: f64,
    },
    Int {
        min: i64,
        max: i64,
        default: i64,
    },
    Bool {
        default: bool,
    },
    Enum {
        choices: &'static [&'static str],
        default: &'static str,
    },
    Str {
        default: &'static str,
    },
    Path {
        default: &'static str,
    },
    Color {
        default: [f64; 4],
    },
}

/// What a param means to a host, beyond its value: adapters act on roles, never on names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamRole {
    /// The position in time between two inputs, 0..1 (a Float): OpenFX's Transition param,
    /// a retime's `t`.
    Time,
    /// A source node's output width in pixels (an Int): hosts with a frame size of their own
    /// (frei0r, OpenFX generators' region of definition) set it or read it.
    OutputWidth,
    /// A source node's output height in pixels (an Int).
    OutputHeight,
}

/// A param of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDesc {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: ParamKind,
    /// May change per frame (hosts may keyframe it).
    pub animatable: bool,
    /// Changing it reloads a model.
    pub needs_reload: bool,
    /// What it means to a host (time, output size), if anything.
    pub role: Option<ParamRole>,
}

impl ParamDesc {
    pub fn new(
        name: &'static str,
        label: &'static str,
        help: &'static str,
        kind: ParamKind,
    ) -> Self {
        Self {
            name,
            label,
            help,
            kind,
            animatable: false,
            needs_reload: false,
            role: None,
        }
    }
    pub fn animatable(mut self) -> Self {
        self.animatable = true;
        self
    }
    pub fn reloads(mut self) -> Self {
        self.needs_reload = true;
        self
    }
    pub fn role(mut self, role: ParamRole) -> Self {
        self.role = Some(role);
        self
    }
    pub fn default_value(&self) -> Value {
        match &self.kind {
            ParamKind::Float { default, .. } => Value::Float(*default),
            ParamKind::Int { default, .. } => Value::Int(*default),
            ParamKind::Bool { default } => Value::Bool(*default),
            ParamKind::Enum { default, .. } => Value::Str((*default).to_string()),
            ParamKind::Str { default } | ParamKind::Path { default } => {
                Value::Str((*default).to_string())
            }
            ParamKind::Color { default } => Value::Color(*default),
        }
    }
}

/// An input or output of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct PortDesc {
    pub name: &'static str,
    pub help: &'static str,
    pub optional: bool,
    /// This input is wanted at the current frame + `frame_offset` (OpenFX GetFramesNeeded).
    pub frame_offset: i32,
    /// A past-frame input: this input is input `history_of`'s frame at `frame_offset` (< 0),
    /// e.g. `source`'s previous frame. Such an input is always optional: an adapter feeds it
    /// only when the host can (sequential render, a frame cache, a readable file) and leaves
    /// it empty otherwise (clip start, a seek); the node then falls back gracefully. Hosts
    /// that see only the C ABI recognise it by its name, `<input>@<offset>` (`source@-1`).
    pub history_of: Option<&'static str>,
    /// Feed this input only while this param (Float, Int or Bool) is non-zero, e.g. past
    /// frames only while `temporal` > 0 (OpenFX need not fetch frames the node ignores).
    pub active_if: Option<&'static str>,
}

impl PortDesc {
    pub fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            optional: false,
            frame_offset: 0,
            history_of: None,
            active_if: None,
        }
    }
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    pub fn at_offset(mut self, frames: i32) -> Self {
        self.frame_offset = frames;
        self
    }
    /// Marks this input as a past frame of input `of` (set the offset with `at_offset`, < 0).
    /// Implies `optional`.
    pub fn history_of(mut self, of: &'static str) -> Self {
        self.history_of = Some(of);
        self.optional = true;
        self
    }
    /// Feed this input only while param `param` is non-zero.
    pub fn active_if(mut self, param: &'static str) -> Self {
        self.active_if = Some(param);
        self
    }
    /// Whether the host should feed this input under these param values (`active_if`).
    pub fn active(&self, params: &Params) -> bool {
        match self.active_if {
            None => true,
            Some(name) => match params.get(name) {
                Ok(Value::Float(x)) => *x != 0.0,
                Ok(Value::Int(n)) => *n != 0,
                Ok(Value::Bool(b)) => *b,
                _ => true,
            },
        }
    }
}

/// OpenFX's render thread-safety levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadSafety {
    Unsafe = 0,
    InstanceSafe = 1,
    FullySafe = 2,
}

/// Everything a host needs to know about a node.
#[derive(Debug, Clone)]
pub struct NodeDesc {
    pub id: &'static str,
    pub label: &'static str,
    pub category: &'static str,
    pub help: &'static str,
    pub inputs: Vec<PortDesc>,
    pub outputs: Vec<PortDesc>,
    pub params: Vec<ParamDesc>,
    pub thread_safety: ThreadSafety,
    /// Source node: no required inputs; output size from its `OutputWidth`/`OutputHeight`
    /// params.
    pub source: bool,
    pub long_running: bool,
    pub cancellable: bool,
}

impl NodeDesc {
    pub fn temporal(&self) -> bool {
        self.inputs.iter().any(|p| p.frame_offset != 0)
    }
    /// The past-frame inputs of input `of`: (input index, frame offset), nearest first.
    pub fn history(&self, of: &str) -> Vec<(usize, i32)> {
        let mut h: Vec<(usize, i32)> = self
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.history_of == Some(of))
            .map(|(i, p)| (i, p.frame_offset))
            .collect();
        h.sort_by_key(|&(_, o)| -o);
        h
    }
    pub fn param(&self, name: &str) -> Option<(usize, &ParamDesc)> {
        self.params.iter().enumerate().find(|(_, p)| p.name == name)
    }
    /// The param with this role (the first, if several claim it).
    pub fn role(&self, role: ParamRole) -> Option<(usize, &ParamDesc)> {
        self.params
            .iter()
            .enumerate()
            .find(|(_, p)| p.role == Some(role))
    }
    /// The output-size params of a source node, (width, height) indices, when it has both.
    pub fn output_size(&self) -> Option<(usize, usize)> {
        Some((
            self.role(ParamRole::OutputWidth)?.0,
            self.role(ParamRole::OutputHeight)?.0,
        ))
    }
}

/// A param value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(String),
    Color([f64; 4]),
}

/// Errors a node or adapter reports; each maps to one ABI status code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    BadArgument(String),
    #[error("{0}")]
    UnsupportedFormat(String),
    #[error("{0}")]
    OutOfMemory(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    UnknownNode(String),
    #[error("{0}")]
    UnknownParam(String),
    #[error("{0}")]
    Device(String),
}

impl From<wick_models::ModelError> for NodeError {
    fn from(e: wick_models::ModelError) -> Self {
        use wick_models::ModelError as M;
        match e {
            M::Weights { .. } => NodeError::Model(e.to_string()),
            M::Device(m) => NodeError::Device(m),
            M::BadInput(m) => NodeError::BadArgument(m),
            M::Candle(c) => NodeError::Internal(format!("tensor error: {c}")),
        }
    }
}

impl From<candle_core::Error> for NodeError {
    fn from(e: candle_core::Error) -> Self {
        NodeError::Internal(format!("tensor error: {e}"))
    }
}

/// A node's validated param values, in descriptor order.
#[derive(Debug, Clone)]
pub struct Params {
    descs: Vec<ParamDesc>,
    values: Vec<Value>,
}

fn fmt_range(min: f64, max: f64) -> String {
    format!("[{min}, {max}]")
}

impl Params {
    pub fn new(descs: &[ParamDesc]) -> Self {
        Self {
            descs: descs.to_vec(),
            values: descs.iter().map(|d| d.default_value()).collect(),
        }
    }

    pub fn descs(&self) -> &[ParamDesc] {
        &self.descs
    }

    fn index(&self, name: &str) -> Result<usize, NodeError> {
        self.descs
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.descs.iter().map(|d| d.name).collect();
                NodeError::UnknownParam(format!(
                    "unknown param '{name}' (this node has: {})",
                    names.join(", ")
                ))
            })
    }

    /// Validates and sets a value. Accepts an integral float for an int param and an int for a
    /// float param; everything else must match the type.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), NodeError> {
        let i = self.index(name)?;
        let d = &self.descs[i];
        let bad = |msg: String| Err(NodeError::BadArgument(format!("param '{name}': {msg}")));
        let v = match (&d.kind, value) {
            (ParamKind::Float { min, max, .. }, v) => {
                let x = match v {
                    Value::Float(x) => x,
                    Value::Int(n) => n as f64,
                    other => return bad(format!("expected a float, got {other:?}")),
                };
                if !x.is_finite() {
                    return bad(format!("{x} is not a finite number"));
                }
                if x < *min || x > *max {
                    return bad(format!("{x} is outside {}", fmt_range(*min, *max)));
                }
                Value::Float(x)
            }
            (ParamKind::Int { min, max, .. }, v) => {
                let n = match v {
                    Value::Int(n) => n,
                    Value::Float(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 => {
                        x as i64
                    }
                    other => return bad(format!("expected an integer, got {other:?}")),
                };
                if n < *min || n > *max {
                    return bad(format!("{n} is outside [{min}, {max}]"));
                }
                Value::Int(n)
            }
            (ParamKind::Bool { .. }, v) => match v {
                Value::Bool(b) => Value::Bool(b),
                Value::Int(0) => Value::Bool(false),
                Value::Int(1) => Value::Bool(true),
                other => return bad(format!("expected a boolean (0 or 1), got {other:?}")),
            },
            (ParamKind::Enum { choices, .. }, v) => match v {
                Value::Str(s) if choices.contains(&s.as_str()) => Value::Str(s),
                Value::Str(s) => {
                    return bad(format!("'{s}' is not one of: {}", choices.join(", ")));
                }
                other => {
                    return bad(format!(
                        "expected one of {}, got {other:?}",
                        choices.join(", ")
                    ))
                }
            },
            (ParamKind::Str { .. } | ParamKind::Path { .. }, v) => match v {
                Value::Str(s) => {
                    if s.len() > 4096 {
                        return bad("string longer than 4096 bytes".into());
                    }
                    Value::Str(s)
                }
                other => return bad(format!("expected a string, got {other:?}")),
            },
            (ParamKind::Color { .. }, v) => match v {
                Value::Color(c) => {
                    if c.iter().any(|x| !x.is_finite()) {
                        return bad("colour components must be finite".into());
                    }
                    Value::Color(c)
                }
                other => return bad(format!("expected an RGBA colour, got {other:?}")),
            },
        };
        self.values[i] = v;
        Ok(())
    }

    /// Parses `text` as the param's type and sets it (then checked as by `set`). The one rule
    /// set for params given as text (`wick_common::param_text`, the same the host SDK and
    /// `wick` use): surrounding whitespace ignored; numbers as Rust reads them; an integral
    /// number for an int (`2`, `2.0`, `1e3`); booleans `1 true yes on y` / `0 false no off n` in
    /// any case; colours `r,g,b[,a]` or `r/g/b[/a]`; choices, text and paths as they are. Used
    /// by adapters whose host passes values as text (frei0r `params`).
    pub fn set_text(&mut self, name: &str, text: &str) -> Result<(), NodeError> {
        use wick_common::param_text::{parse, TextKind, TextValue};
        let i = self.index(name)?;
        let kind = match &self.descs[i].kind {
            ParamKind::Float { .. } => TextKind::Float,
            ParamKind::Int { .. } => TextKind::Int,
            ParamKind::Bool { .. } => TextKind::Bool,
            ParamKind::Color { .. } => TextKind::Color,
            ParamKind::Enum { .. } | ParamKind::Str { .. } | ParamKind::Path { .. } => {
                TextKind::Text
            }
        };
        let v = match parse(kind, text) {
            Ok(TextValue::Float(x)) => Value::Float(x),
            Ok(TextValue::Int(n)) => Value::Int(n),
            Ok(TextValue::Bool(b)) => Value::Bool(b),
            Ok(TextValue::Color(c)) => Value::Color(c),
            Ok(TextValue::Text(t)) => Value::Str(t),
            Err(what) => {
                return Err(NodeError::BadArgument(format!(
                    "param '{name}': '{}' is not {what}",
                    text.trim()
                )))
            }
        };
        self.set(name, v)
    }

    pub fn get(&self, name: &str) -> Result<&Value, NodeError> {
        Ok(&self.values[self.index(name)?])
    }

    /// Typed getters for node code. A name the node does not declare is a bug in the node
    /// (caught at the ABI boundary as an internal error).
    pub fn f64(&self, name: &str) -> f64 {
        match self.get(name) {
            Ok(Value::Float(x)) => *x,
            Ok(Value::Int(n)) => *n as f64,
            v => panic!("node bug: param '{name}' is not a float: {v:?}"),
        }
    }
    pub fn i64(&self, name: &str) -> i64 {
        match self.get(name) {
            Ok(Value::Int(n)) => *n,
            v => panic!("node bug: param '{name}' is not an int: {v:?}"),
        }
    }
    pub fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            Ok(Value::Bool(b)) => *b,
            v => panic!("node bug: param '{name}' is not a bool: {v:?}"),
        }
    }
    pub fn str(&self, name: &str) -> &str {
        match self.get(name) {
            Ok(Value::Str(s)) => s,
            v => panic!("node bug: param '{name}' is not a string: {v:?}"),
        }
    }
    pub fn color(&self, name: &str) -> [f64; 4] {
        match self.get(name) {
            Ok(Value::Color(c)) => *c,
            v => panic!("node bug: param '{name}' is not a colour: {v:?}"),
        }
    }
}

/// The host's progress callback: fraction and message in, `true` out to ask for cancel.
pub type ProgressFn<'a> = &'a mut dyn FnMut(f64, &str) -> bool;

/// What a node sees of the host during `process`: time, and progress with cancel.
pub struct ProcessCtx<'a> {
    pub time: f64,
    pub frame: i64,
    progress: Option<ProgressFn<'a>>,
    cancelled: bool,
}

impl<'a> ProcessCtx<'a> {
    pub fn new(time: f64, frame: i64, progress: Option<ProgressFn<'a>>) -> Self {
        Self {
            time,
            frame,
            progress,
            cancelled: false,
        }
    }

    /// Reports progress; returns `Err(Cancelled)` when the host asked to cancel.
    pub fn progress(&mut self, fraction: f64, message: &str) -> Result<(), NodeError> {
        if let Some(p) = self.progress.as_mut() {
            let f = if fraction.is_finite() {
                fraction.clamp(0.0, 1.0)
            } else {
                0.0
            };
            if p(f, message) {
                self.cancelled = true;
            }
        }
        if self.cancelled {
            Err(NodeError::Cancelled)
        } else {
            Ok(())
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled
    }
}

/// The trait every node implements. Instances are created with default params; the adapter
/// validates params against the descriptor before the node sees them.
///
/// `inputs` has one entry per declared input (None: an unconnected optional input, or a past
/// frame the host cannot give), each a borrowed view of the host's frame in the host's own
/// format: a node converts it once, to the tensor layout it needs (`Frame::to_tensor`,
/// `planar`; sRGB-encoded values, straight or premultiplied alpha as asked). `outputs` are
/// views of the host's output frames, sized by the host; the node writes each once
/// (`FrameMut::write` from a tensor, `write_slice`, `copy_from`, `fill`). Float inputs are
/// checked finite, and inputs that share memory with an output are copied, before `process`.
pub trait Node: Send {
    fn process(
        &mut self,
        ctx: &mut ProcessCtx,
        params: &Params,
        inputs: &[Option<Frame>],
        outputs: &mut [FrameMut],
    ) -> Result<(), NodeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_ports_are_optional_and_listed_nearest_first() {
        let d = NodeDesc {
            id: "t",
            label: "t",
            category: "t",
            help: "",
            inputs: vec![
                PortDesc::new("source", ""),
                PortDesc::new("source@-2", "")
                    .history_of("source")
                    .at_offset(-2)
                    .active_if("temporal"),
                PortDesc::new("source@-1", "")
                    .history_of("source")
                    .at_offset(-1)
                    .active_if("temporal"),
            ],
            outputs: vec![],
            params: vec![ParamDesc::new(
                "temporal",
                "",
                "",
                ParamKind::Float {
                    min: 0.0,
                    max: 1.0,
                    default: 0.0,
                },
            )],
            thread_safety: ThreadSafety::InstanceSafe,
            source: false,
            long_running: false,
            cancellable: false,
        };
        assert!(d.inputs[1].optional && d.inputs[2].optional);
        assert_eq!(d.history("source"), vec![(2, -1), (1, -2)]);
        assert!(d.history("style").is_empty());
        let mut p = Params::new(&d.params);
        assert!(d.inputs[0].active(&p));
        assert!(!d.inputs[1].active(&p));
        p.set("temporal", Value::Float(0.5)).unwrap();
        assert!(d.inputs[1].active(&p));
    }
}
