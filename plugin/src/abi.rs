//! The C ABI v1 adapter (`host-sdk/include/wick.h`) over the `Node` trait: the C descriptors,
//! the exported functions, C values and frames. Instances, running a node and frame
//! conversion are the adapter core's (`adapter/`, `frame.rs`).
//!
//! Every exported function catches panics, validates every pointer, size, stride and enum before
//! touching memory, and returns a status with a readable message.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use once_cell::sync::Lazy;

use crate::adapter::{contain, to_cstring, Call, Live, NodeInstance};
use crate::frame::{Frame, FrameMut};
use crate::image::{FrameFormat, SampleType};
use crate::node::{NodeError, ParamKind, ParamRole, Params, ThreadSafety, Value};
use crate::nodes::{self, NodeEntry};

// The C declarations (wick.h), shared with the host SDK and checked against the header.
use wick_abi::*;

pub const ABI_MAJOR: u32 = WICK_ABI_VERSION_MAJOR;
pub const ABI_MINOR: u32 = WICK_ABI_VERSION_MINOR;

/// The one exported symbol.
#[no_mangle]
pub static wick_entry: wick_plugin_entry = wick_plugin_entry {
    abi_major: ABI_MAJOR,
    abi_minor: ABI_MINOR,
    plugin_name: c"Wick".as_ptr(),
    plugin_version: concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char,
    get_api,
    last_error,
};

static API: wick_api = wick_api {
    abi_major: ABI_MAJOR,
    abi_minor: ABI_MINOR,
    node_count,
    node_descriptor,
    instance_create,
    instance_destroy,
    param_set,
    param_get,
    process,
    instance_last_error,
    last_error,
};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_thread_error(msg: &str) {
    LAST_ERROR.with(|e| *e.borrow_mut() = to_cstring(msg));
}

fn status_of(e: &NodeError) -> i32 {
    match e {
        NodeError::BadArgument(_) => WICK_ERR_BAD_ARGUMENT,
        NodeError::UnsupportedFormat(_) => WICK_ERR_UNSUPPORTED_FORMAT,
        NodeError::OutOfMemory(_) => WICK_ERR_OUT_OF_MEMORY,
        NodeError::Cancelled => WICK_ERR_CANCELLED,
        NodeError::Model(_) => WICK_ERR_MODEL,
        NodeError::Internal(_) => WICK_ERR_INTERNAL,
        NodeError::UnknownNode(_) => WICK_ERR_UNKNOWN_NODE,
        NodeError::UnknownParam(_) => WICK_ERR_UNKNOWN_PARAM,
        NodeError::Device(_) => WICK_ERR_DEVICE,
    }
}

/// Runs `f`, turning errors and panics into a status and a message passed to `report`.
fn guard(report: impl FnOnce(&str), f: impl FnOnce() -> Result<(), NodeError>) -> i32 {
    match contain(f) {
        Ok(()) => WICK_OK,
        Err(e) => {
            report(&e.to_string());
            status_of(&e)
        }
    }
}

fn plugin_guard(f: impl FnOnce() -> Result<(), NodeError>) -> i32 {
    set_thread_error("");
    guard(set_thread_error, f)
}

fn bad(msg: impl Into<String>) -> NodeError {
    NodeError::BadArgument(msg.into())
}

/// Reads a C string argument: non-null, UTF-8, at most `max` bytes.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string.
unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, NodeError> {
    if p.is_null() {
        return Err(bad(format!("{what} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| bad(format!("{what} is not valid UTF-8")))
}

// ---------------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------------

struct CDesc {
    desc: wick_node_descriptor,
    _strings: Vec<CString>,
    _inputs: Vec<wick_port_descriptor>,
    _outputs: Vec<wick_port_descriptor>,
    _params: Vec<wick_param_descriptor>,
    _choices: Vec<Vec<*const c_char>>,
}

// SAFETY: immutable after construction; pointers refer into the owned fields' heap storage.
unsafe impl Send for CDesc {}
unsafe impl Sync for CDesc {}

fn build_c_desc(e: &NodeEntry) -> CDesc {
    let d = &e.desc;
    let mut strings: Vec<CString> = Vec::new();
    let mut s = |x: &str| {
        let c = to_cstring(x);
        let p = c.as_ptr();
        strings.push(c);
        p
    };
    let ports = |ps: &[crate::node::PortDesc], s: &mut dyn FnMut(&str) -> *const c_char| {
        ps.iter()
            .map(|p| wick_port_descriptor {
                name: s(p.name),
                help: s(p.help),
                optional: p.optional as u32,
                frame_offset: p.frame_offset,
            })
            .collect::<Vec<_>>()
    };
    let inputs = ports(&d.inputs, &mut s);
    let outputs = ports(&d.outputs, &mut s);
    let mut choices_store = Vec::new();
    let mut params = Vec::new();
    for p in &d.params {
        let mut cp = wick_param_descriptor {
            name: s(p.name),
            label: s(p.label),
            help: s(p.help),
            type_: 0,
            default_number: 0.0,
            default_string: s(""),
            default_color: [0.0; 4],
            min: 0.0,
            max: 0.0,
            choice_count: 0,
            choices: std::ptr::null(),
            flags: (p.animatable as u32)
                | ((p.needs_reload as u32) << 1)
                | match p.role {
                    None => 0,
                    Some(ParamRole::Time) => WICK_PARAM_FLAG_ROLE_TIME,
                    Some(ParamRole::OutputWidth) => WICK_PARAM_FLAG_ROLE_OUTPUT_WIDTH,
                    Some(ParamRole::OutputHeight) => WICK_PARAM_FLAG_ROLE_OUTPUT_HEIGHT,
                }
                // ABI 1.2: the param that past-frame inputs are fed under (`active_if`).
                | if d
                    .inputs
                    .iter()
                    .any(|i| i.history_of.is_some() && i.active_if == Some(p.name))
                {
                    WICK_PARAM_FLAG_ROLE_PAST_FRAMES
                } else {
                    0
                },
        };
        match &p.kind {
            ParamKind::Float { min, max, default } => {
                (cp.type_, cp.min, cp.max, cp.default_number) =
                    (WICK_PARAM_FLOAT, *min, *max, *default)
            }
            ParamKind::Int { min, max, default } => {
                (cp.type_, cp.min, cp.max, cp.default_number) =
                    (WICK_PARAM_INT, *min as f64, *max as f64, *default as f64)
            }
            ParamKind::Bool { default } => {
                (cp.type_, cp.min, cp.max, cp.default_number) =
                    (WICK_PARAM_BOOL, 0.0, 1.0, *default as u8 as f64)
            }
            ParamKind::Enum { choices, default } => {
                cp.type_ = WICK_PARAM_ENUM;
                cp.default_string = s(default);
                let v: Vec<*const c_char> = choices.iter().map(|c| s(c)).collect();
                cp.choice_count = v.len() as u32;
                cp.choices = v.as_ptr();
                choices_store.push(v);
            }
            ParamKind::Str { default } => {
                (cp.type_, cp.default_string) = (WICK_PARAM_STRING, s(default))
            }
            ParamKind::Path { default } => {
                (cp.type_, cp.default_string) = (WICK_PARAM_PATH, s(default))
            }
            ParamKind::Color { default } => {
                (cp.type_, cp.default_color) = (WICK_PARAM_COLOR, *default)
            }
        }
        params.push(cp);
    }
    let flags = (d.source as u32)
        | ((d.long_running as u32) << 1)
        | ((d.cancellable as u32) << 2)
        | ((d.temporal() as u32) << 3);
    let desc = wick_node_descriptor {
        id: s(d.id),
        label: s(d.label),
        category: s(d.category),
        help: s(d.help),
        input_count: inputs.len() as u32,
        inputs: inputs.as_ptr(),
        output_count: outputs.len() as u32,
        outputs: outputs.as_ptr(),
        param_count: params.len() as u32,
        params: params.as_ptr(),
        thread_safety: match d.thread_safety {
            ThreadSafety::Unsafe => 0,
            ThreadSafety::InstanceSafe => 1,
            ThreadSafety::FullySafe => 2,
        },
        flags,
    };
    CDesc {
        desc,
        _strings: strings,
        _inputs: inputs,
        _outputs: outputs,
        _params: params,
        _choices: choices_store,
    }
}

static C_DESCS: Lazy<Vec<CDesc>> = Lazy::new(|| nodes::REGISTRY.iter().map(build_c_desc).collect());

// ---------------------------------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------------------------------

/// An instance of a node, behind the opaque `wick_instance*`: the core's node instance and
/// what the C ABI keeps per instance (the params the host set, the last error, the string a
/// `param_get` handed out).
pub struct Instance {
    core: NodeInstance,
    params: Params,
    last_error: CString,
    scratch: CString,
}

/// The live instances.
static LIVE: Live<Instance> = Live::new();

/// Runs `f` on a live instance, recording its error message on the instance.
fn with_instance(
    inst: *mut wick_instance,
    f: impl FnOnce(&mut Instance) -> Result<(), NodeError>,
) -> i32 {
    // SAFETY: the header makes the host serialise calls on one instance.
    let Some(instance) = (unsafe { LIVE.get_mut(inst as *mut Instance) }) else {
        return plugin_guard(|| {
            Err(bad(if inst.is_null() {
                "instance is NULL".to_string()
            } else {
                "instance pointer is not a live Wick instance (destroyed, or never created)"
                    .to_string()
            }))
        });
    };
    instance.last_error = CString::default();
    let mut msg = String::new();
    let status = guard(|m| msg = m.to_string(), || f(instance));
    if status != WICK_OK {
        instance.last_error = to_cstring(&msg);
    }
    status
}

// ---------------------------------------------------------------------------------------------
// Exported functions
// ---------------------------------------------------------------------------------------------

extern "C" fn get_api(host_abi_major: u32, out: *mut *const wick_api) -> i32 {
    let status = plugin_guard(|| {
        if out.is_null() {
            return Err(bad("get_api: out is NULL"));
        }
        Ok(())
    });
    if status != WICK_OK {
        return status;
    }
    if host_abi_major != ABI_MAJOR {
        set_thread_error(&format!(
            "incompatible ABI: the host speaks Wick ABI v{host_abi_major}, this plugin speaks v{ABI_MAJOR}.{ABI_MINOR}"
        ));
        // SAFETY: checked non-null above.
        unsafe { *out = std::ptr::null() };
        return WICK_ERR_INCOMPATIBLE_VERSION;
    }
    // SAFETY: checked non-null above.
    unsafe { *out = &API };
    WICK_OK
}

extern "C" fn last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

extern "C" fn node_count() -> u32 {
    catch_unwind(|| nodes::REGISTRY.len() as u32).unwrap_or(0)
}

extern "C" fn node_descriptor(index: u32, out: *mut *const wick_node_descriptor) -> i32 {
    plugin_guard(|| {
        if out.is_null() {
            return Err(bad("node_descriptor: out is NULL"));
        }
        let d = C_DESCS.get(index as usize).ok_or_else(|| {
            bad(format!(
                "node index {index} is out of range (there are {} nodes)",
                C_DESCS.len()
            ))
        })?;
        // SAFETY: checked non-null.
        unsafe { *out = &d.desc };
        Ok(())
    })
}

extern "C" fn instance_create(node_id: *const c_char, out: *mut *mut wick_instance) -> i32 {
    plugin_guard(|| {
        if out.is_null() {
            return Err(bad("instance_create: out is NULL"));
        }
        // SAFETY: checked non-null; write the failure value first.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: the header requires a NUL-terminated string or NULL.
        let id = unsafe { c_str(node_id, "node_id") }?;
        let entry = nodes::find(id).ok_or_else(|| {
            let ids: Vec<&str> = nodes::REGISTRY.iter().map(|e| e.desc.id).collect();
            NodeError::UnknownNode(format!(
                "unknown node '{id}' (available: {})",
                ids.join(", ")
            ))
        })?;
        let core = NodeInstance::new(entry);
        let p = LIVE.add(Instance {
            params: core.default_params(),
            core,
            last_error: CString::default(),
            scratch: CString::default(),
        })?;
        // SAFETY: checked non-null.
        unsafe { *out = p as *mut wick_instance };
        Ok(())
    })
}

extern "C" fn instance_destroy(inst: *mut wick_instance) {
    let _ = catch_unwind(AssertUnwindSafe(|| LIVE.destroy(inst as *mut Instance)));
}

fn value_from_c(v: &wick_value) -> Result<Value, NodeError> {
    Ok(match v.type_ {
        WICK_PARAM_FLOAT => Value::Float(v.number),
        WICK_PARAM_INT => Value::Int(v.integer),
        WICK_PARAM_BOOL => match v.integer {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            n => return Err(bad(format!("boolean value must be 0 or 1, got {n}"))),
        },
        WICK_PARAM_ENUM | WICK_PARAM_STRING | WICK_PARAM_PATH => {
            // SAFETY: the header requires a NUL-terminated string or NULL.
            let s = unsafe { c_str(v.string, "value.string") }?;
            Value::Str(s.to_string())
        }
        WICK_PARAM_COLOR => Value::Color(v.color),
        t => return Err(bad(format!("unknown value type {t}"))),
    })
}

extern "C" fn param_set(
    inst: *mut wick_instance,
    name: *const c_char,
    value: *const wick_value,
) -> i32 {
    with_instance(inst, |i| {
        // SAFETY: NUL-terminated or NULL per the header.
        let name = unsafe { c_str(name, "param name") }?;
        if value.is_null() {
            return Err(bad("param value is NULL"));
        }
        // SAFETY: non-null; the host owns a valid wick_value.
        let v = value_from_c(unsafe { &*value })?;
        i.params.set(name, v)
    })
}

extern "C" fn param_get(
    inst: *mut wick_instance,
    name: *const c_char,
    out: *mut wick_value,
) -> i32 {
    with_instance(inst, |i| {
        // SAFETY: NUL-terminated or NULL per the header.
        let name = unsafe { c_str(name, "param name") }?;
        if out.is_null() {
            return Err(bad("param_get: out is NULL"));
        }
        let d = i.core.desc();
        let (_, desc) = d.param(name).ok_or_else(|| {
            NodeError::UnknownParam(format!("unknown param '{name}' on {}", d.id))
        })?;
        let mut v = wick_value {
            type_: 0,
            number: 0.0,
            integer: 0,
            string: std::ptr::null(),
            color: [0.0; 4],
        };
        v.type_ = match desc.kind {
            ParamKind::Float { .. } => WICK_PARAM_FLOAT,
            ParamKind::Int { .. } => WICK_PARAM_INT,
            ParamKind::Bool { .. } => WICK_PARAM_BOOL,
            ParamKind::Enum { .. } => WICK_PARAM_ENUM,
            ParamKind::Str { .. } => WICK_PARAM_STRING,
            ParamKind::Path { .. } => WICK_PARAM_PATH,
            ParamKind::Color { .. } => WICK_PARAM_COLOR,
        };
        match i.params.get(name)? {
            Value::Float(x) => v.number = *x,
            Value::Int(n) => {
                v.integer = *n;
                v.number = *n as f64;
            }
            Value::Bool(b) => {
                v.integer = *b as i64;
                v.number = v.integer as f64;
            }
            Value::Str(s) => {
                i.scratch = to_cstring(s);
                v.string = i.scratch.as_ptr();
            }
            Value::Color(c) => v.color = *c,
        }
        // SAFETY: checked non-null.
        unsafe { *out = v };
        Ok(())
    })
}

/// Validates a host frame and returns its format.
fn frame_format(f: &wick_frame, what: &str) -> Result<FrameFormat, NodeError> {
    let sample = match f.sample_type {
        0 => SampleType::U8,
        1 => SampleType::U16,
        2 => SampleType::F16,
        3 => SampleType::F32,
        t => return Err(bad(format!("{what}: unknown sample type {t}"))),
    };
    let channels = match f.channels {
        3 | 4 => f.channels as usize,
        c => {
            return Err(bad(format!(
                "{what}: channels must be 3 (RGB) or 4 (RGBA), got {c}"
            )))
        }
    };
    let premultiplied = match f.alpha {
        0 => false,
        1 => true,
        a => return Err(bad(format!("{what}: unknown alpha mode {a}"))),
    };
    let linear = match f.color_space {
        0 => false,
        1 => true,
        c => return Err(bad(format!("{what}: unknown colour space {c}"))),
    };
    if f.row_stride <= 0 {
        return Err(bad(format!(
            "{what}: row stride must be positive, got {}",
            f.row_stride
        )));
    }
    let fmt = FrameFormat {
        width: f.width as usize,
        height: f.height as usize,
        stride: usize::try_from(f.row_stride)
            .map_err(|_| bad(format!("{what}: stride too large")))?,
        sample,
        channels,
        premultiplied,
        linear,
    };
    fmt.validate(f.data_len, what)?;
    if f.data.is_null() {
        return Err(bad(format!("{what}: data is NULL")));
    }
    Ok(fmt)
}

/// # Safety
/// `ptr` must be null or point to `count` frames (checked for null by the caller when count>0).
unsafe fn frames<'a>(
    ptr: *const wick_frame,
    count: u32,
    what: &str,
) -> Result<&'a [wick_frame], NodeError> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(bad(format!("{what} is NULL but its count is {count}")));
    }
    Ok(std::slice::from_raw_parts(ptr, count as usize))
}

extern "C" fn process(inst: *mut wick_instance, args: *const wick_process_args) -> i32 {
    with_instance(inst, |i| {
        if args.is_null() {
            return Err(bad("process: args is NULL"));
        }
        // SAFETY: non-null; host-owned for the duration of the call.
        let a = unsafe { &*args };
        let d = i.core.desc();
        if !a.time.is_finite() {
            return Err(bad(format!("process: time {} is not finite", a.time)));
        }
        // Fewer inputs are fine when the ones left out are optional (a host written before a
        // node gained optional inputs, e.g. style-transfer's past frames): they are unconnected.
        let n_in = a.input_count as usize;
        if n_in > d.inputs.len()
            || d.inputs[n_in.min(d.inputs.len())..]
                .iter()
                .any(|p| !p.optional)
        {
            return Err(bad(format!(
                "{} takes {} input(s) ({} required), got input_count {}",
                d.id,
                d.inputs.len(),
                d.inputs
                    .iter()
                    .rposition(|p| !p.optional)
                    .map_or(0, |i| i + 1),
                a.input_count
            )));
        }
        if a.output_count as usize != d.outputs.len() {
            return Err(bad(format!(
                "{} has {} output(s), got output_count {}",
                d.id,
                d.outputs.len(),
                a.output_count
            )));
        }
        // SAFETY: counts match the declared ports; pointers checked for null inside.
        let in_frames = unsafe { frames(a.inputs, a.input_count, "inputs") }?;
        let out_frames = unsafe { frames(a.outputs, a.output_count, "outputs") }?;

        // Validate every output before reading inputs, so a bad call costs nothing.
        let mut out_fmts = Vec::with_capacity(out_frames.len());
        for (k, f) in out_frames.iter().enumerate() {
            out_fmts.push(frame_format(f, &format!("output '{}'", d.outputs[k].name))?);
        }
        for (x, fx) in out_frames.iter().enumerate() {
            for (y, fy) in out_frames.iter().enumerate().skip(x + 1) {
                let (ax, bx) = (
                    fx.data as usize,
                    fx.data as usize + out_fmts[x].required_len().unwrap_or(0),
                );
                let (ay, by) = (
                    fy.data as usize,
                    fy.data as usize + out_fmts[y].required_len().unwrap_or(0),
                );
                if ax < by && ay < bx {
                    return Err(bad(format!("outputs {x} and {y} overlap in memory")));
                }
            }
        }

        // Views of the host's frames, converted once by the node (inputs that share memory
        // with an output are copied first, in run_node).
        let mut inputs: Vec<Option<Frame>> = Vec::with_capacity(d.inputs.len());
        for (k, f) in in_frames.iter().enumerate() {
            let port = &d.inputs[k];
            if f.data.is_null() && port.optional {
                inputs.push(None);
                continue;
            }
            let fmt = frame_format(f, &format!("input '{}'", port.name))?;
            // SAFETY: validated: data non-null, data_len covers the rows fmt describes; the
            // host owns the frame for the call.
            inputs.push(Some(unsafe { Frame::from_host(f.data as *const u8, &fmt) }));
        }
        inputs.resize(d.inputs.len(), None);
        let mut outputs: Vec<FrameMut> = out_frames
            .iter()
            .zip(&out_fmts)
            // SAFETY: validated as the inputs; outputs do not overlap each other (checked
            // above), inputs overlapping them are detached by run_node.
            .map(|(f, fmt)| unsafe { FrameMut::from_host(f.data as *mut u8, fmt) })
            .collect();

        let (cb, ud) = (a.progress, a.user_data);
        let mut report = move |fraction: f64, msg: &str| -> bool {
            match cb {
                Some(cb) => {
                    let m = to_cstring(msg);
                    // SAFETY: host-provided callback with its own user data, per the header.
                    unsafe { cb(ud, fraction, m.as_ptr()) != 0 }
                }
                None => false,
            }
        };
        i.core.run(Call {
            time: a.time,
            frame: a.frame,
            params: &i.params,
            inputs: &inputs,
            outputs: &mut outputs,
            progress: Some(&mut report),
        })
    })
}

extern "C" fn instance_last_error(inst: *const wick_instance) -> *const c_char {
    static EMPTY: &CStr = c"";
    match LIVE.get(inst as *const Instance) {
        Some(i) => i.last_error.as_ptr(),
        None => EMPTY.as_ptr(),
    }
}
