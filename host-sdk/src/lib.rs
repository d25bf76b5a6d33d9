//! Wick host SDK: a safe Rust loader for the Wick plugin (C ABI v1, `include/wick.h`, declared
//! in the `wick-abi` crate and re-exported as [`ffi`]), on `libloading`, plus frame I/O through
//! `image`. It is what a host links; the `wick` command line (crate `wick-cli`) is built on it.
//!
//! ```no_run
//! use wick_host_sdk::{Plugin, Frame, ParamValue};
//! let plugin = Plugin::load("target/release/libwick.so")?;
//! let mut inst = plugin.instance("wick.generate")?;
//! inst.set_param("seed", &ParamValue::Int(7))?;
//! let mut out = Frame::new_u8(640, 360);
//! inst.process(0.0, 0, &[], std::slice::from_mut(&mut out), None)?;
//! # Ok::<(), wick_host_sdk::HostError>(())
//! ```

#![allow(non_camel_case_types)]

pub mod ffi;
pub mod io;

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};

pub use io::{load_image, save_image, Depth};

/// Errors of the host SDK; plugin failures carry the plugin's status and message.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot load plugin {path}: {msg}")]
    Load { path: PathBuf, msg: String },
    #[error("plugin refused: {0}")]
    Incompatible(String),
    #[error("{message} (status {status}: {})", status_name(*status))]
    Plugin { status: i32, message: String },
    #[error("{0}")]
    BadArgument(String),
    #[error("{path}: {msg}")]
    Io { path: PathBuf, msg: String },
}

impl HostError {
    pub fn status(&self) -> Option<i32> {
        match self {
            HostError::Plugin { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Name of a status code.
pub fn status_name(s: i32) -> &'static str {
    match s {
        ffi::WICK_OK => "ok",
        ffi::WICK_ERR_BAD_ARGUMENT => "bad argument",
        ffi::WICK_ERR_UNSUPPORTED_FORMAT => "unsupported format",
        ffi::WICK_ERR_OUT_OF_MEMORY => "out of memory",
        ffi::WICK_ERR_CANCELLED => "cancelled",
        ffi::WICK_ERR_MODEL => "model error",
        ffi::WICK_ERR_INTERNAL => "internal error",
        ffi::WICK_ERR_UNKNOWN_NODE => "unknown node",
        ffi::WICK_ERR_UNKNOWN_PARAM => "unknown param",
        ffi::WICK_ERR_INCOMPATIBLE_VERSION => "incompatible version",
        ffi::WICK_ERR_DEVICE => "device error",
        _ => "unknown status",
    }
}

unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Type of a param.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Float,
    Int,
    Bool,
    Enum,
    String,
    Path,
    Color,
}

/// What a param means to a host (`WICK_PARAM_FLAG_ROLE_*`, ABI 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamRole {
    /// The position between two inputs, 0..1.
    Time,
    /// A source node's output width in pixels.
    OutputWidth,
    /// A source node's output height in pixels.
    OutputHeight,
    /// While zero, the node ignores its past-frame inputs (ABI 1.2).
    PastFrames,
}

/// A typed param value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(String),
    Color([f64; 4]),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Int(n) => write!(f, "{n}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Str(s) => write!(f, "{s}"),
            ParamValue::Color(c) => write!(f, "{},{},{},{}", c[0], c[1], c[2], c[3]),
        }
    }
}

/// A param as the plugin describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParamInfo {
    pub name: String,
    pub label: String,
    pub help: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub default: ParamValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    pub animatable: bool,
    pub needs_reload: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<ParamRole>,
}

impl ParamInfo {
    /// Parses a command-line / graph-file text value for this param (`seed=7`, `mix=0.5`,
    /// `preserve_color=true`, `color=1,0.5,0,1`), by the one rule set
    /// (`wick_common::param_text`, the same the plugin applies to hosts that pass text):
    /// surrounding whitespace ignored; numbers as Rust reads them; an integral number for an
    /// int (`2`, `2.0`, `1e3`); booleans `1 true yes on y` / `0 false no off n` in any case;
    /// colours `r,g,b[,a]` or `r/g/b[/a]`; choices, text and paths as they are.
    pub fn parse(&self, text: &str) -> Result<ParamValue, HostError> {
        use wick_common::param_text::{parse, TextKind, TextValue};
        let kind = match self.ty {
            ParamType::Float => TextKind::Float,
            ParamType::Int => TextKind::Int,
            ParamType::Bool => TextKind::Bool,
            ParamType::Color => TextKind::Color,
            ParamType::Enum | ParamType::String | ParamType::Path => TextKind::Text,
        };
        Ok(match parse(kind, text) {
            Ok(TextValue::Float(x)) => ParamValue::Float(x),
            Ok(TextValue::Int(n)) => ParamValue::Int(n),
            Ok(TextValue::Bool(b)) => ParamValue::Bool(b),
            Ok(TextValue::Color(c)) => ParamValue::Color(c),
            Ok(TextValue::Text(t)) => ParamValue::Str(t),
            Err(what) => {
                return Err(HostError::BadArgument(format!(
                    "param '{}': '{}' is not {what}",
                    self.name,
                    text.trim()
                )))
            }
        })
    }
}

/// An input or output port.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PortInfo {
    pub name: String,
    pub help: String,
    pub optional: bool,
    pub frame_offset: i32,
}

/// A node as the plugin describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    pub id: String,
    pub label: String,
    pub category: String,
    pub help: String,
    pub inputs: Vec<PortInfo>,
    pub outputs: Vec<PortInfo>,
    pub params: Vec<ParamInfo>,
    pub thread_safety: String,
    pub source: bool,
    pub long_running: bool,
    pub cancellable: bool,
    pub temporal: bool,
}

impl NodeInfo {
    pub fn param(&self, name: &str) -> Option<&ParamInfo> {
        self.params.iter().find(|p| p.name == name)
    }
    /// The param with this role; for a plugin of ABI 1.0 (no role flags), the conventional
    /// name (`t`, `width`, `height`).
    pub fn role(&self, role: ParamRole) -> Option<&ParamInfo> {
        self.params
            .iter()
            .find(|p| p.role == Some(role))
            .or_else(|| {
                let name = match role {
                    ParamRole::Time => "t",
                    ParamRole::OutputWidth => "width",
                    ParamRole::OutputHeight => "height",
                    // No conventional name: without the flag, past frames are always fed.
                    ParamRole::PastFrames => return None,
                };
                self.param(name)
                    .filter(|p| p.role.is_none() && !self.params.iter().any(|q| q.role.is_some()))
            })
    }
}

/// The loaded plugin.
pub struct Plugin {
    api: *const ffi::wick_api,
    nodes: Vec<NodeInfo>,
    path: PathBuf,
    // Declared last: dropped after everything that points into it.
    _lib: libloading::Library,
}

// SAFETY: the API table is immutable static data of the library; every function in it is
// documented [any-thread] or [instance] (serialised by `&mut Instance`).
unsafe impl Send for Plugin {}
unsafe impl Sync for Plugin {}

impl Plugin {
    /// Loads the library at `path`, checks its ABI version and reads the node descriptors.
    pub fn load(path: impl AsRef<Path>) -> Result<Plugin, HostError> {
        let path = path.as_ref().to_path_buf();
        let err = |msg: String| HostError::Load {
            path: path.clone(),
            msg,
        };
        if !path.exists() {
            return Err(err("no such file".into()));
        }
        // SAFETY: loading a library runs its initialisers; Wick's have none with side effects.
        let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| err(e.to_string()))?;
        // SAFETY: the symbol is a `wick_plugin_entry` per wick.h.
        let entry: *const ffi::wick_plugin_entry = unsafe {
            *lib.get::<*const ffi::wick_plugin_entry>(ffi::WICK_ENTRY_SYMBOL)
                .map_err(|e| err(format!("not a Wick plugin (no wick_entry symbol): {e}")))?
        };
        if entry.is_null() {
            return Err(err("wick_entry is NULL".into()));
        }
        // SAFETY: points to the plugin's static entry.
        let entry = unsafe { &*entry };
        if entry.abi_major != ffi::WICK_ABI_VERSION_MAJOR {
            return Err(HostError::Incompatible(format!(
                "plugin speaks Wick ABI v{}, this host speaks v{}",
                entry.abi_major,
                ffi::WICK_ABI_VERSION_MAJOR
            )));
        }
        let mut api: *const ffi::wick_api = std::ptr::null();
        // SAFETY: valid function pointer from the entry; `api` is a valid out pointer.
        let st = unsafe { (entry.get_api)(ffi::WICK_ABI_VERSION_MAJOR, &mut api) };
        if st != ffi::WICK_OK || api.is_null() {
            // SAFETY: valid function pointer; returns a NUL-terminated string.
            let msg = unsafe { cstr((entry.last_error)()) };
            return Err(HostError::Incompatible(msg));
        }
        let mut plugin = Plugin {
            api,
            nodes: Vec::new(),
            path,
            _lib: lib,
        };
        plugin.nodes = plugin.read_nodes()?;
        Ok(plugin)
    }

    /// The raw API table (for tests and adapters that need to reach below the safe wrapper).
    pub fn raw_api(&self) -> &ffi::wick_api {
        // SAFETY: valid for the life of the library, which `self` owns.
        unsafe { &*self.api }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn plugin_error(&self, status: i32) -> HostError {
        // SAFETY: [any-thread] function returning a NUL-terminated string.
        let message = unsafe { cstr((self.raw_api().last_error)()) };
        HostError::Plugin { status, message }
    }

    fn read_nodes(&self) -> Result<Vec<NodeInfo>, HostError> {
        let api = self.raw_api();
        // SAFETY: [any-thread].
        let n = unsafe { (api.node_count)() };
        let mut out = Vec::new();
        for i in 0..n {
            let mut d: *const ffi::wick_node_descriptor = std::ptr::null();
            // SAFETY: valid out pointer.
            let st = unsafe { (api.node_descriptor)(i, &mut d) };
            if st != ffi::WICK_OK || d.is_null() {
                return Err(self.plugin_error(st));
            }
            // SAFETY: plugin-owned descriptor valid while the library is loaded.
            out.push(unsafe { node_info(&*d) });
        }
        Ok(out)
    }

    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, id: &str) -> Result<&NodeInfo, HostError> {
        self.nodes.iter().find(|n| n.id == id).ok_or_else(|| {
            let ids: Vec<&str> = self.nodes.iter().map(|n| n.id.as_str()).collect();
            HostError::BadArgument(format!(
                "unknown node '{id}' (available: {})",
                ids.join(", ")
            ))
        })
    }

    /// Creates an instance of node `id` with default params.
    pub fn instance(&self, id: &str) -> Result<Instance<'_>, HostError> {
        let info = self.node(id)?.clone();
        let cid =
            CString::new(id).map_err(|_| HostError::BadArgument("node id has a NUL".into()))?;
        let mut raw: *mut ffi::wick_instance = std::ptr::null_mut();
        // SAFETY: valid C string and out pointer.
        let st = unsafe { (self.raw_api().instance_create)(cid.as_ptr(), &mut raw) };
        if st != ffi::WICK_OK || raw.is_null() {
            return Err(self.plugin_error(st));
        }
        Ok(Instance {
            plugin: self,
            raw,
            info,
            _scratch: Vec::new(),
        })
    }
}

unsafe fn node_info(d: &ffi::wick_node_descriptor) -> NodeInfo {
    let ports = |p: *const ffi::wick_port_descriptor, n: u32| -> Vec<PortInfo> {
        if p.is_null() {
            return vec![];
        }
        std::slice::from_raw_parts(p, n as usize)
            .iter()
            .map(|p| PortInfo {
                name: cstr(p.name),
                help: cstr(p.help),
                optional: p.optional != 0,
                frame_offset: p.frame_offset,
            })
            .collect()
    };
    let params = if d.params.is_null() {
        vec![]
    } else {
        std::slice::from_raw_parts(d.params, d.param_count as usize)
            .iter()
            .map(|p| {
                let ty = match p.type_ {
                    ffi::WICK_PARAM_FLOAT => ParamType::Float,
                    ffi::WICK_PARAM_INT => ParamType::Int,
                    ffi::WICK_PARAM_BOOL => ParamType::Bool,
                    ffi::WICK_PARAM_ENUM => ParamType::Enum,
                    ffi::WICK_PARAM_STRING => ParamType::String,
                    ffi::WICK_PARAM_PATH => ParamType::Path,
                    _ => ParamType::Color,
                };
                let default = match ty {
                    ParamType::Float => ParamValue::Float(p.default_number),
                    ParamType::Int => ParamValue::Int(p.default_number as i64),
                    ParamType::Bool => ParamValue::Bool(p.default_number != 0.0),
                    ParamType::Enum | ParamType::String | ParamType::Path => {
                        ParamValue::Str(cstr(p.default_string))
                    }
                    ParamType::Color => ParamValue::Color(p.default_color),
                };
                let numeric = matches!(ty, ParamType::Float | ParamType::Int);
                let choices = if p.choices.is_null() {
                    vec![]
                } else {
                    std::slice::from_raw_parts(p.choices, p.choice_count as usize)
                        .iter()
                        .map(|c| cstr(*c))
                        .collect()
                };
                ParamInfo {
                    name: cstr(p.name),
                    label: cstr(p.label),
                    help: cstr(p.help),
                    ty,
                    default,
                    min: numeric.then_some(p.min),
                    max: numeric.then_some(p.max),
                    choices,
                    animatable: p.flags & ffi::WICK_PARAM_FLAG_ANIMATABLE != 0,
                    needs_reload: p.flags & ffi::WICK_PARAM_FLAG_NEEDS_RELOAD != 0,
                    role: [
                        (ffi::WICK_PARAM_FLAG_ROLE_TIME, ParamRole::Time),
                        (
                            ffi::WICK_PARAM_FLAG_ROLE_OUTPUT_WIDTH,
                            ParamRole::OutputWidth,
                        ),
                        (
                            ffi::WICK_PARAM_FLAG_ROLE_OUTPUT_HEIGHT,
                            ParamRole::OutputHeight,
                        ),
                        (ffi::WICK_PARAM_FLAG_ROLE_PAST_FRAMES, ParamRole::PastFrames),
                    ]
                    .into_iter()
                    .find(|(f, _)| p.flags & f != 0)
                    .map(|(_, r)| r),
                }
            })
            .collect()
    };
    NodeInfo {
        id: cstr(d.id),
        label: cstr(d.label),
        category: cstr(d.category),
        help: cstr(d.help),
        inputs: ports(d.inputs, d.input_count),
        outputs: ports(d.outputs, d.output_count),
        params,
        thread_safety: match d.thread_safety {
            0 => "unsafe",
            1 => "instance-safe",
            _ => "fully-safe",
        }
        .to_string(),
        source: d.flags & ffi::WICK_NODE_FLAG_SOURCE != 0,
        long_running: d.flags & ffi::WICK_NODE_FLAG_LONG_RUNNING != 0,
        cancellable: d.flags & ffi::WICK_NODE_FLAG_CANCELLABLE != 0,
        temporal: d.flags & ffi::WICK_NODE_FLAG_TEMPORAL != 0,
    }
}

/// Sample type of a [`Frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    U8,
    U16,
    F16,
    F32,
}

impl Sample {
    pub fn size(self) -> usize {
        match self {
            Sample::U8 => 1,
            Sample::U16 | Sample::F16 => 2,
            Sample::F32 => 4,
        }
    }
    fn code(self) -> i32 {
        match self {
            Sample::U8 => ffi::WICK_SAMPLE_U8,
            Sample::U16 => ffi::WICK_SAMPLE_U16,
            Sample::F16 => ffi::WICK_SAMPLE_F16,
            Sample::F32 => ffi::WICK_SAMPLE_F32,
        }
    }
}

/// A host-owned frame: tightly packed rows of interleaved samples (native endian).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub sample: Sample,
    /// 3 (RGB) or 4 (RGBA).
    pub channels: u32,
    pub premultiplied: bool,
    pub linear: bool,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn new(
        width: u32,
        height: u32,
        sample: Sample,
        channels: u32,
        premultiplied: bool,
        linear: bool,
    ) -> Frame {
        let len = width as usize * height as usize * channels as usize * sample.size();
        Frame {
            width,
            height,
            sample,
            channels,
            premultiplied,
            linear,
            data: vec![0; len],
        }
    }
    /// RGBA u8, sRGB, straight alpha.
    pub fn new_u8(width: u32, height: u32) -> Frame {
        Frame::new(width, height, Sample::U8, 4, false, false)
    }
    /// A frame of the same size and format.
    pub fn like(&self) -> Frame {
        Frame::new(
            self.width,
            self.height,
            self.sample,
            self.channels,
            self.premultiplied,
            self.linear,
        )
    }
    pub fn row_stride(&self) -> usize {
        self.width as usize * self.channels as usize * self.sample.size()
    }
    fn raw(&self) -> ffi::wick_frame {
        ffi::wick_frame {
            data: self.data.as_ptr() as *mut c_void,
            data_len: self.data.len() as u64,
            width: self.width,
            height: self.height,
            row_stride: self.row_stride() as i64,
            sample_type: self.sample.code(),
            channels: self.channels as i32,
            alpha: if self.premultiplied {
                ffi::WICK_ALPHA_PREMULTIPLIED
            } else {
                ffi::WICK_ALPHA_STRAIGHT
            },
            color_space: if self.linear {
                ffi::WICK_COLOR_LINEAR
            } else {
                ffi::WICK_COLOR_SRGB
            },
        }
    }
    fn raw_mut(&mut self) -> ffi::wick_frame {
        let mut f = self.raw();
        f.data = self.data.as_mut_ptr() as *mut c_void;
        f
    }
}

/// Progress callback: fraction and message; return true to cancel.
pub type Progress<'a> = &'a mut dyn FnMut(f64, &str) -> bool;

unsafe extern "C" fn progress_trampoline(
    ud: *mut c_void,
    fraction: f64,
    msg: *const c_char,
) -> i32 {
    let f = &mut *(ud as *mut Progress);
    let m = cstr(msg);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(fraction, &m) as i32)).unwrap_or(1)
}

/// An instance of a node. Calls on one instance are serialised by `&mut self`.
pub struct Instance<'p> {
    plugin: &'p Plugin,
    raw: *mut ffi::wick_instance,
    info: NodeInfo,
    _scratch: Vec<CString>,
}

// SAFETY: the ABI allows calls on one instance from any thread, one at a time (`&mut self`).
unsafe impl Send for Instance<'_> {}

impl Instance<'_> {
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// The raw instance pointer (for tests that need to call the API directly).
    pub fn raw(&self) -> *mut ffi::wick_instance {
        self.raw
    }

    fn error(&self, status: i32) -> HostError {
        // SAFETY: live instance.
        let message = unsafe { cstr((self.plugin.raw_api().instance_last_error)(self.raw)) };
        HostError::Plugin { status, message }
    }

    pub fn set_param(&mut self, name: &str, value: &ParamValue) -> Result<(), HostError> {
        let cname = CString::new(name)
            .map_err(|_| HostError::BadArgument("param name has a NUL".into()))?;
        let ty = self.info.param(name).map(|p| p.ty);
        let mut v = ffi::wick_value {
            type_: 0,
            number: 0.0,
            integer: 0,
            string: std::ptr::null(),
            color: [0.0; 4],
        };
        let s;
        match value {
            ParamValue::Float(x) => (v.type_, v.number) = (ffi::WICK_PARAM_FLOAT, *x),
            ParamValue::Int(n) => (v.type_, v.integer) = (ffi::WICK_PARAM_INT, *n),
            ParamValue::Bool(b) => (v.type_, v.integer) = (ffi::WICK_PARAM_BOOL, *b as i64),
            ParamValue::Str(t) => {
                s = CString::new(t.as_str())
                    .map_err(|_| HostError::BadArgument("string has a NUL".into()))?;
                v.type_ = match ty {
                    Some(ParamType::Enum) => ffi::WICK_PARAM_ENUM,
                    Some(ParamType::Path) => ffi::WICK_PARAM_PATH,
                    _ => ffi::WICK_PARAM_STRING,
                };
                v.string = s.as_ptr();
            }
            ParamValue::Color(c) => (v.type_, v.color) = (ffi::WICK_PARAM_COLOR, *c),
        }
        // SAFETY: live instance, valid C strings and value for the duration of the call.
        let st = unsafe { (self.plugin.raw_api().param_set)(self.raw, cname.as_ptr(), &v) };
        if st != ffi::WICK_OK {
            return Err(self.error(st));
        }
        Ok(())
    }

    /// Sets a param from text, parsed according to its declared type.
    pub fn set_param_text(&mut self, name: &str, text: &str) -> Result<(), HostError> {
        let info = self.info.param(name).ok_or_else(|| {
            let names: Vec<&str> = self.info.params.iter().map(|p| p.name.as_str()).collect();
            HostError::BadArgument(format!(
                "{} has no param '{name}' (params: {})",
                self.info.id,
                names.join(", ")
            ))
        })?;
        let v = info.parse(text)?;
        self.set_param(name, &v)
    }

    /// Sets params from `NAME=VALUE` texts (command-line `--param` lists).
    pub fn set_params_kv(&mut self, params: &[String]) -> Result<(), HostError> {
        for kv in params {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                HostError::BadArgument(format!("--param '{kv}' is not NAME=VALUE"))
            })?;
            self.set_param_text(k, v)?;
        }
        Ok(())
    }

    /// Output size of a source node from its output-size params (roles `OutputWidth`,
    /// `OutputHeight`; used where the host has no frame size of its own).
    pub fn source_size(&mut self) -> Result<(u32, u32), HostError> {
        let id = self.info.id.clone();
        let names = [ParamRole::OutputWidth, ParamRole::OutputHeight]
            .map(|r| self.info.role(r).map(|p| p.name.clone()));
        let mut get = |k: &Option<String>, what: &str| match k {
            Some(k) => match self.get_param(k) {
                Ok(ParamValue::Int(n)) => Ok(n as u32),
                _ => Err(HostError::BadArgument(format!(
                    "{id}: param '{k}' does not give the output {what}"
                ))),
            },
            None => Err(HostError::BadArgument(format!(
                "{id}: no input and no output-{what} param to size the output"
            ))),
        };
        Ok((get(&names[0], "width")?, get(&names[1], "height")?))
    }

    pub fn get_param(&mut self, name: &str) -> Result<ParamValue, HostError> {
        let cname = CString::new(name)
            .map_err(|_| HostError::BadArgument("param name has a NUL".into()))?;
        let mut v = ffi::wick_value {
            type_: 0,
            number: 0.0,
            integer: 0,
            string: std::ptr::null(),
            color: [0.0; 4],
        };
        // SAFETY: live instance, valid pointers.
        let st = unsafe { (self.plugin.raw_api().param_get)(self.raw, cname.as_ptr(), &mut v) };
        if st != ffi::WICK_OK {
            return Err(self.error(st));
        }
        Ok(match v.type_ {
            ffi::WICK_PARAM_FLOAT => ParamValue::Float(v.number),
            ffi::WICK_PARAM_INT => ParamValue::Int(v.integer),
            ffi::WICK_PARAM_BOOL => ParamValue::Bool(v.integer != 0),
            ffi::WICK_PARAM_COLOR => ParamValue::Color(v.color),
            // SAFETY: plugin-owned string valid until the next call on this instance.
            _ => ParamValue::Str(unsafe { cstr(v.string) }),
        })
    }

    /// Runs the node once. `inputs` has one entry per declared input (None: unconnected).
    pub fn process(
        &mut self,
        time: f64,
        frame: i64,
        inputs: &[Option<&Frame>],
        outputs: &mut [Frame],
        progress: Option<Progress>,
    ) -> Result<(), HostError> {
        let raw_in: Vec<ffi::wick_frame> = inputs
            .iter()
            .map(|f| match f {
                Some(f) => f.raw(),
                None => ffi::wick_frame {
                    data: std::ptr::null_mut(),
                    data_len: 0,
                    width: 0,
                    height: 0,
                    row_stride: 0,
                    sample_type: 0,
                    channels: 4,
                    alpha: 0,
                    color_space: 0,
                },
            })
            .collect();
        let raw_out: Vec<ffi::wick_frame> = outputs.iter_mut().map(|f| f.raw_mut()).collect();
        let mut progress = progress;
        let (cb, ud): (ffi::wick_progress_fn, *mut c_void) = match progress.as_mut() {
            Some(p) => (Some(progress_trampoline), p as *mut Progress as *mut c_void),
            None => (None, std::ptr::null_mut()),
        };
        let args = ffi::wick_process_args {
            time,
            frame,
            input_count: raw_in.len() as u32,
            inputs: raw_in.as_ptr(),
            output_count: raw_out.len() as u32,
            outputs: raw_out.as_ptr(),
            progress: cb,
            user_data: ud,
        };
        // SAFETY: live instance; frames point to live buffers of the stated lengths.
        let st = unsafe { (self.plugin.raw_api().process)(self.raw, &args) };
        if st != ffi::WICK_OK {
            return Err(self.error(st));
        }
        Ok(())
    }
}

impl Drop for Instance<'_> {
    fn drop(&mut self) {
        // SAFETY: live instance, destroyed once.
        unsafe { (self.plugin.raw_api().instance_destroy)(self.raw) };
    }
}

/// Finds the plugin: `--plugin` value, else `WICK_PLUGIN`, else `libwick.so` beside the
/// running executable.
pub fn default_plugin_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("WICK_PLUGIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent().unwrap_or(Path::new(".")).join(libname())
}

/// File name of the plugin library on this platform.
pub fn libname() -> &'static str {
    if cfg!(target_os = "macos") {
        "libwick.dylib"
    } else if cfg!(windows) {
        "wick.dll"
    } else {
        "libwick.so"
    }
}
