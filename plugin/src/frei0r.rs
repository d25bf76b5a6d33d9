//! The frei0r adapter over the `Node` trait (frei0r 1.2, `/usr/include/frei0r.h`), for FFmpeg,
//! melt (the engine of Kdenlive and Shotcut) and GStreamer.
//!
//! frei0r allows one plugin per shared object, so each node gets its own tiny `cdylib` crate
//! (`plugin/frei0r/*`) that expands [`frei0r_plugin!`](crate::frei0r_plugin) with its node id;
//! everything else lives here. `scripts/build-frei0r.sh` copies the built libraries into one
//! folder (`target/frei0r/`) that `FREI0R_PATH` points at.
//!
//! What the hosts do, and what this adapter does about it:
//! - Construction is cheap: models load on the first update (every node loads lazily).
//!   GStreamer constructs at 640×480 several times only to read defaults.
//! - `f0r_deinit` frees nothing: FFmpeg calls it while instances are alive and calls
//!   `f0r_init`/`f0r_deinit` several times per run. The libraries are linked `-z nodelete`, so
//!   a `dlclose` never unmaps code that a worker thread (the CPU kernels' thread pool) runs.
//! - Every call catches panics and checks its pointers; instance pointers are checked against
//!   the set of live instances. frei0r has no error channel: errors are printed once to
//!   stderr (prefixed with the plugin name), and the frame passes through unchanged (filter),
//!   shows the first input (mixer) or is transparent black (source).
//! - Each instance has a lock: melt's `threads=N` property calls one instance from several
//!   threads at once (each on a horizontal strip; the instance is constructed at the strip
//!   height, so each strip is processed as its own image).
//! - Params: frei0r doubles are by convention in [0, 1] and GStreamer clamps them there, so a
//!   Wick float or int param with range [min, max] is a double in [0, 1] mapped linearly onto
//!   it (ints rounded); params whose range already is [0, 1] are unchanged. Booleans are
//!   frei0r bools, colours frei0r colours (alpha kept at its default), enums, strings and paths
//!   frei0r strings. A source's `width`/`height` come from the host's frame size and are not
//!   listed. Two params are added at the end: `time_unit` (`auto`, `s` or `ms`: FFmpeg passes
//!   milliseconds, the others seconds; `auto` picks milliseconds inside an `ffmpeg`/`ffplay`
//!   process) and `params`, a list `name=value` (or `name:value`: MLT reads `=` in a string as
//!   a keyframe) in Wick's own units separated by `;` or spaces (e.g. `seed=42 zoom=2.5`) that
//!   overrides the sliders.
//! - Pixels: RGBA8888, straight alpha, sRGB, as all three hosts deliver it.

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::Mutex;

use once_cell::sync::{Lazy, OnceCell};

use crate::adapter::{contain, detach_overlaps, run_node, to_cstring, LiveSet};
use crate::frame::{Frame, FrameMut, PixelFormat};
use crate::image::{Image, MAX_PIXELS, MAX_SIDE};
use crate::node::{Node, NodeError, ParamKind, Params, ProcessCtx, Value};
use crate::nodes::{self, NodeEntry};

// frei0r.h: plugin types, colour models, param types.
pub const F0R_PLUGIN_TYPE_FILTER: c_int = 0;
pub const F0R_PLUGIN_TYPE_SOURCE: c_int = 1;
pub const F0R_PLUGIN_TYPE_MIXER2: c_int = 2;
pub const F0R_COLOR_MODEL_RGBA8888: c_int = 1;
pub const F0R_PARAM_BOOL: c_int = 0;
pub const F0R_PARAM_DOUBLE: c_int = 1;
pub const F0R_PARAM_COLOR: c_int = 2;
pub const F0R_PARAM_STRING: c_int = 4;

/// `f0r_plugin_info_t`.
#[repr(C)]
pub struct PluginInfo {
    pub name: *const c_char,
    pub author: *const c_char,
    pub plugin_type: c_int,
    pub color_model: c_int,
    pub frei0r_version: c_int,
    pub major_version: c_int,
    pub minor_version: c_int,
    pub num_params: c_int,
    pub explanation: *const c_char,
}

/// `f0r_param_info_t`.
#[repr(C)]
pub struct ParamInfo {
    pub name: *const c_char,
    pub param_type: c_int,
    pub explanation: *const c_char,
}

/// `f0r_param_color_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct F0rColor {
    pub r: f32,
    pub g: f32,
    pub b: f32,
}

/// What one frei0r library exposes: a node, its file name (the plugin name), its type.
pub struct Spec {
    pub node_id: &'static str,
    /// The library's file name without `.so`; also the name the plugin reports (GStreamer
    /// derives its element name from it: `wick_style` → `frei0r-filter-wick-style`).
    pub name: &'static str,
    pub plugin_type: c_int,
}

#[derive(Debug, Clone, Copy)]
enum Map {
    /// A Wick float/int param as a double in [0, 1], linear onto [min, max].
    Scaled {
        min: f64,
        max: f64,
        int: bool,
    },
    Bool,
    Text,
    Color,
    TimeUnit,
    Overrides,
}

struct FParam {
    wick: &'static str,
    name: CString,
    explanation: CString,
    ty: c_int,
    map: Map,
}

struct Table {
    spec: &'static Spec,
    entry: &'static NodeEntry,
    name: CString,
    author: CString,
    explanation: CString,
    params: Vec<FParam>,
}

fn build_table(spec: &'static Spec) -> Result<Table, String> {
    let entry = nodes::find(spec.node_id)
        .ok_or_else(|| format!("this build has no node '{}'", spec.node_id))?;
    let d = &entry.desc;
    let mut params = Vec::new();
    for p in &d.params {
        if d.source && (p.name == "width" || p.name == "height") {
            continue;
        }
        let (ty, map, range) = match &p.kind {
            ParamKind::Float { min, max, .. } => (
                F0R_PARAM_DOUBLE,
                Map::Scaled {
                    min: *min,
                    max: *max,
                    int: false,
                },
                (*min != 0.0 || *max != 1.0).then(|| format!(" [0, 1] maps to [{min}, {max}].")),
            ),
            ParamKind::Int { min, max, .. } => (
                F0R_PARAM_DOUBLE,
                Map::Scaled {
                    min: *min as f64,
                    max: *max as f64,
                    int: true,
                },
                Some(format!(" [0, 1] maps to the integers {min}..{max}.")),
            ),
            ParamKind::Bool { .. } => (F0R_PARAM_BOOL, Map::Bool, None),
            ParamKind::Enum { choices, .. } => (
                F0R_PARAM_STRING,
                Map::Text,
                Some(format!(" One of: {}.", choices.join(", "))),
            ),
            ParamKind::Str { .. } | ParamKind::Path { .. } => (F0R_PARAM_STRING, Map::Text, None),
            ParamKind::Color { .. } => (F0R_PARAM_COLOR, Map::Color, None),
        };
        params.push(FParam {
            wick: p.name,
            name: to_cstring(p.name),
            explanation: to_cstring(&format!("{}{}", p.help, range.unwrap_or_default())),
            ty,
            map,
        });
    }
    params.push(FParam {
        wick: "",
        name: to_cstring("time_unit"),
        explanation: to_cstring(
            "Unit of the host's time: auto (milliseconds in ffmpeg/ffplay, seconds elsewhere), s or ms.",
        ),
        ty: F0R_PARAM_STRING,
        map: Map::TimeUnit,
    });
    params.push(FParam {
        wick: "",
        name: to_cstring("params"),
        explanation: to_cstring(
            "Wick params in their own units, name=value or name:value, separated by ';' or \
             spaces (e.g. 'seed=42 zoom=2.5'; in melt/Kdenlive 'seed:42 zoom:2.5'); they \
             override the sliders.",
        ),
        ty: F0R_PARAM_STRING,
        map: Map::Overrides,
    });
    Ok(Table {
        spec,
        entry,
        name: to_cstring(spec.name),
        author: to_cstring("Wick"),
        explanation: to_cstring(&format!("{} ({}): {}", d.label, d.id, d.help)),
        params,
    })
}

/// The table of this library's one plugin (built once; a library holds one spec).
fn table(spec: &'static Spec) -> Option<&'static Table> {
    static T: OnceCell<Result<Table, String>> = OnceCell::new();
    match T.get_or_init(|| build_table(spec)) {
        Ok(t) if std::ptr::eq(t.spec, spec) => Some(t),
        Ok(_) => None,
        Err(e) => {
            warn(spec.name, e);
            None
        }
    }
}

/// `WICK_FREI0R_TRACE=1` prints every param set and update to stderr (debugging a host).
fn trace() -> bool {
    static T: Lazy<bool> = Lazy::new(|| std::env::var_os("WICK_FREI0R_TRACE").is_some());
    *T
}

/// Prints a message to stderr once per distinct text (frei0r has no error channel).
fn warn(plugin: &str, msg: &str) {
    static SEEN: Lazy<Mutex<HashSet<String>>> = Lazy::new(|| Mutex::new(HashSet::new()));
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen.len() < 1000 && seen.insert(msg.to_string()) {
        eprintln!("[{plugin}] {msg}");
    }
}

/// Runs `f` with panics caught (the adapters' shared `contain`); a panic is reported and
/// `fallback` returned.
fn guarded<R>(plugin: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    match contain(|| Ok(f())) {
        Ok(r) => r,
        Err(e) => {
            warn(plugin, &e.to_string());
            fallback
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeUnit {
    Auto,
    Seconds,
    Millis,
}

struct State {
    node: Box<dyn Node>,
    params: Params,
    time_unit: TimeUnit,
    overrides: String,
    /// Strings handed out by `f0r_get_param_value`, one per param index.
    strings: Vec<CString>,
}

/// One frei0r instance.
pub struct Instance {
    table: &'static Table,
    width: usize,
    height: usize,
    /// The host's time unit when `time_unit` is `auto`.
    auto_millis: bool,
    state: Mutex<State>,
}

static LIVE: LiveSet = LiveSet::new();

fn live(p: *mut c_void) -> Option<&'static Instance> {
    if LIVE.contains(p as usize) {
        // SAFETY: a pointer this library created and has not destroyed.
        Some(unsafe { &*(p as *const Instance) })
    } else {
        None
    }
}

/// Is this process FFmpeg (whose frei0r wrapper passes time in milliseconds)?
fn host_uses_millis() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|n| n.starts_with("ffmpeg") || n.starts_with("ffplay"))
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// The frei0r functions. Each takes the library's spec; `frei0r_plugin!` exports them.

pub fn init(spec: &'static Spec) -> c_int {
    guarded(spec.name, 0, || table(spec).is_some() as c_int)
}

/// Frees nothing: hosts call it while instances are alive, and call `init` again after it.
pub fn deinit(_spec: &'static Spec) {}

/// # Safety
/// `info` must be null or point to a writable `f0r_plugin_info_t`.
pub unsafe fn get_plugin_info(spec: &'static Spec, info: *mut PluginInfo) {
    guarded(spec.name, (), || {
        let Some(t) = table(spec) else { return };
        if info.is_null() {
            return warn(spec.name, "f0r_get_plugin_info: info is NULL");
        }
        let v = |s: &str| s.parse::<c_int>().unwrap_or(0);
        // SAFETY: non-null, host-owned struct.
        unsafe {
            *info = PluginInfo {
                name: t.name.as_ptr(),
                author: t.author.as_ptr(),
                plugin_type: spec.plugin_type,
                color_model: F0R_COLOR_MODEL_RGBA8888,
                frei0r_version: 1,
                major_version: v(env!("CARGO_PKG_VERSION_MAJOR")),
                minor_version: v(env!("CARGO_PKG_VERSION_MINOR")),
                num_params: t.params.len() as c_int,
                explanation: t.explanation.as_ptr(),
            }
        }
    })
}

/// # Safety
/// `info` must be null or point to a writable `f0r_param_info_t`.
pub unsafe fn get_param_info(spec: &'static Spec, info: *mut ParamInfo, index: c_int) {
    guarded(spec.name, (), || {
        let Some(t) = table(spec) else { return };
        let Some(p) = usize::try_from(index).ok().and_then(|i| t.params.get(i)) else {
            return warn(
                spec.name,
                &format!(
                    "f0r_get_param_info: no param {index} (there are {})",
                    t.params.len()
                ),
            );
        };
        if info.is_null() {
            return warn(spec.name, "f0r_get_param_info: info is NULL");
        }
        // SAFETY: non-null, host-owned struct.
        unsafe {
            *info = ParamInfo {
                name: p.name.as_ptr(),
                param_type: p.ty,
                explanation: p.explanation.as_ptr(),
            }
        }
    })
}

pub fn construct(spec: &'static Spec, width: c_uint, height: c_uint) -> *mut c_void {
    guarded(spec.name, std::ptr::null_mut(), || {
        let Some(t) = table(spec) else {
            return std::ptr::null_mut();
        };
        let (w, h) = (width as u64, height as u64);
        if w == 0 || h == 0 || w > MAX_SIDE as u64 || h > MAX_SIDE as u64 || w * h > MAX_PIXELS {
            warn(
                spec.name,
                &format!(
                    "f0r_construct: frame size {width}x{height} is not supported (1..{MAX_SIDE} per side, at most {MAX_PIXELS} pixels)"
                ),
            );
            return std::ptr::null_mut();
        }
        let d = &t.entry.desc;
        let mut params = Params::new(&d.params);
        if d.source {
            // The host decides the frame size; keep the node's own size params in step.
            let _ = params.set("width", Value::Int(w as i64));
            let _ = params.set("height", Value::Int(h as i64));
        }
        let inst = Box::new(Instance {
            table: t,
            width: w as usize,
            height: h as usize,
            auto_millis: host_uses_millis(),
            state: Mutex::new(State {
                node: (t.entry.create)(),
                params,
                time_unit: TimeUnit::Auto,
                overrides: String::new(),
                strings: vec![CString::default(); t.params.len()],
            }),
        });
        let p = Box::into_raw(inst) as *mut c_void;
        if let Err(e) = LIVE.insert(p as usize) {
            warn(spec.name, &e.to_string());
            // SAFETY: just created above and never shared.
            drop(unsafe { Box::from_raw(p as *mut Instance) });
            return std::ptr::null_mut();
        }
        p
    })
}

pub fn destruct(spec: &'static Spec, instance: *mut c_void) {
    guarded(spec.name, (), || {
        let removed = LIVE.remove(instance as usize);
        if removed {
            // SAFETY: created by `construct` and now removed from the live set.
            drop(unsafe { Box::from_raw(instance as *mut Instance) });
        } else if !instance.is_null() {
            warn(spec.name, "f0r_destruct: not a live instance (ignored)");
        }
    })
}

fn clamp01(plugin: &str, name: &str, x: f64) -> f64 {
    if !x.is_finite() {
        warn(
            plugin,
            &format!("param '{name}': {x} is not a number (0 used)"),
        );
        return 0.0;
    }
    if !(0.0..=1.0).contains(&x) {
        warn(
            plugin,
            &format!("param '{name}': {x} is outside [0, 1] (clamped; see the param's explanation for its mapping)"),
        );
    }
    x.clamp(0.0, 1.0)
}

/// # Safety
/// `param` must be null or point to a value of the param's frei0r type.
pub unsafe fn set_param_value(
    spec: &'static Spec,
    instance: *mut c_void,
    param: *mut c_void,
    index: c_int,
) {
    guarded(spec.name, (), || {
        let Some(inst) = live(instance) else {
            return warn(spec.name, "f0r_set_param_value: not a live instance");
        };
        let t = inst.table;
        let Some(p) = usize::try_from(index).ok().and_then(|i| t.params.get(i)) else {
            return warn(spec.name, &format!("f0r_set_param_value: no param {index}"));
        };
        if param.is_null() {
            return warn(spec.name, "f0r_set_param_value: value is NULL");
        }
        let name = p.name.to_str().unwrap_or("?");
        let mut st = inst.state.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY (reads below): non-null; the host passes the type the param declares.
        let text = || -> Option<String> {
            let s = unsafe { *(param as *const *const c_char) };
            if s.is_null() {
                warn(spec.name, &format!("param '{name}': string is NULL"));
                return None;
            }
            Some(unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
        };
        let result = match p.map {
            Map::Scaled { min, max, int } => {
                let x = clamp01(spec.name, name, unsafe { *(param as *const f64) });
                let v = min + x * (max - min);
                let v = if int {
                    Value::Int(v.round() as i64)
                } else {
                    Value::Float(v.clamp(min, max))
                };
                st.params.set(p.wick, v)
            }
            Map::Bool => {
                let x = unsafe { *(param as *const f64) };
                st.params.set(p.wick, Value::Bool(x >= 0.5))
            }
            Map::Color => {
                let c = unsafe { *(param as *const F0rColor) };
                let a = st.params.color(p.wick)[3];
                st.params.set(
                    p.wick,
                    Value::Color([c.r as f64, c.g as f64, c.b as f64, a]),
                )
            }
            Map::Text => match text() {
                Some(s) => st.params.set(p.wick, Value::Str(s)),
                None => return,
            },
            Map::TimeUnit => match text().as_deref().map(str::trim) {
                Some("auto") | Some("") => {
                    st.time_unit = TimeUnit::Auto;
                    Ok(())
                }
                Some("s") => {
                    st.time_unit = TimeUnit::Seconds;
                    Ok(())
                }
                Some("ms") => {
                    st.time_unit = TimeUnit::Millis;
                    Ok(())
                }
                Some(other) => Err(NodeError::BadArgument(format!(
                    "param 'time_unit': '{other}' is not auto, s or ms"
                ))),
                None => return,
            },
            Map::Overrides => match text() {
                Some(s) => {
                    // Checked now so the error shows when it is set; applied at each update.
                    let mut probe = st.params.clone();
                    let r = apply_overrides(&mut probe, &s);
                    if r.is_ok() {
                        st.overrides = s;
                    }
                    r
                }
                None => return,
            },
        };
        if let Err(e) = result {
            warn(spec.name, &format!("{e} (value not changed)"));
        } else if trace() {
            eprintln!(
                "[{}] set {name}: {:?}",
                spec.name,
                st.params.get(p.wick).ok()
            );
        }
    })
}

/// # Safety
/// `param` must be null or point to writable storage of the param's frei0r type.
pub unsafe fn get_param_value(
    spec: &'static Spec,
    instance: *mut c_void,
    param: *mut c_void,
    index: c_int,
) {
    guarded(spec.name, (), || {
        let Some(inst) = live(instance) else {
            return warn(spec.name, "f0r_get_param_value: not a live instance");
        };
        let t = inst.table;
        let Some(i) = usize::try_from(index).ok().filter(|i| *i < t.params.len()) else {
            return warn(spec.name, &format!("f0r_get_param_value: no param {index}"));
        };
        if param.is_null() {
            return warn(spec.name, "f0r_get_param_value: value is NULL");
        }
        let p = &t.params[i];
        let mut st = inst.state.lock().unwrap_or_else(|e| e.into_inner());
        let put_text = |st: &mut State, s: &str| {
            st.strings[i] = to_cstring(s);
            // SAFETY: non-null; a string param's storage is a `char*`. The string lives until
            // the next get of this param or the instance's end.
            unsafe { *(param as *mut *const c_char) = st.strings[i].as_ptr() };
        };
        match p.map {
            Map::Scaled { min, max, .. } => {
                let v = match st.params.get(p.wick) {
                    Ok(Value::Float(x)) => *x,
                    Ok(Value::Int(n)) => *n as f64,
                    _ => min,
                };
                let x = if max > min {
                    (v - min) / (max - min)
                } else {
                    0.0
                };
                // SAFETY: non-null; a double param's storage is a double.
                unsafe { *(param as *mut f64) = x.clamp(0.0, 1.0) };
            }
            // SAFETY: non-null; a bool param's storage is a double.
            Map::Bool => unsafe { *(param as *mut f64) = st.params.bool(p.wick) as u8 as f64 },
            Map::Color => {
                let c = st.params.color(p.wick);
                // SAFETY: non-null; a colour param's storage is f0r_param_color_t.
                unsafe {
                    *(param as *mut F0rColor) = F0rColor {
                        r: c[0] as f32,
                        g: c[1] as f32,
                        b: c[2] as f32,
                    }
                };
            }
            Map::Text => {
                let s = st.params.str(p.wick).to_string();
                put_text(&mut st, &s);
            }
            Map::TimeUnit => {
                let s = match st.time_unit {
                    TimeUnit::Auto => "auto",
                    TimeUnit::Seconds => "s",
                    TimeUnit::Millis => "ms",
                };
                put_text(&mut st, s);
            }
            Map::Overrides => {
                let s = st.overrides.clone();
                put_text(&mut st, &s);
            }
        }
    })
}

/// Applies `name=value` items (separated by `;` or whitespace) in Wick's own units.
fn apply_overrides(params: &mut Params, text: &str) -> Result<(), NodeError> {
    for item in text
        .split(|c: char| c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        // `name=value` or `name:value` (MLT reads '=' in a string as a keyframe).
        let (k, v) = item.split_once(['=', ':']).ok_or_else(|| {
            NodeError::BadArgument(format!(
                "param 'params': '{item}' is not name=value or name:value (e.g. seed=42)"
            ))
        })?;
        params.set_text(k.trim(), v)?;
    }
    Ok(())
}

/// # Safety
/// Frame pointers must be null or point to `width*height` RGBA8888 pixels of the instance.
pub unsafe fn update2(
    spec: &'static Spec,
    instance: *mut c_void,
    time: f64,
    in1: *const u32,
    in2: *const u32,
    _in3: *const u32,
    out: *mut u32,
) {
    guarded(spec.name, (), || {
        let Some(inst) = live(instance) else {
            return warn(spec.name, "f0r_update: not a live instance");
        };
        if out.is_null() {
            return warn(spec.name, "f0r_update: output frame is NULL");
        }
        let (w, h) = (inst.width, inst.height);
        let stride = (w * 4) as isize;
        let ins: &[*const u32] = match spec.plugin_type {
            F0R_PLUGIN_TYPE_SOURCE => &[],
            F0R_PLUGIN_TYPE_MIXER2 => &[in1, in2],
            _ => &[in1],
        };
        // One entry per declared input: the host's frames, then None for optional inputs
        // frei0r cannot carry (e.g. style-transfer's style input: its style_image param).
        let declared = inst.table.entry.desc.inputs.len();
        let mut views: Vec<Option<Frame>> = Vec::with_capacity(declared.max(ins.len()));
        for (k, p) in ins.iter().enumerate() {
            if p.is_null() {
                return warn(
                    spec.name,
                    &format!("f0r_update: input frame {} is NULL", k + 1),
                );
            }
            // SAFETY: a host frame of the instance's size (frei0r contract); inputs that are
            // the output's buffer (in-place hosts) are copied below before anything is written.
            views.push(Some(unsafe {
                Frame::from_raw(*p as *const u8, stride, w, h, PixelFormat::RGBA8)
            }));
        }
        // SAFETY: the host's output frame of the instance's size (frei0r contract).
        let mut out =
            unsafe { FrameMut::from_raw(out as *mut u8, stride, w, h, PixelFormat::RGBA8) };
        // In place: copy such inputs now, so a failed node can still pass its input through.
        let copies = match detach_overlaps(&views, std::slice::from_ref(&out)) {
            Ok(c) => c,
            Err(e) => return warn(spec.name, &e.to_string()),
        };
        let mut inputs: Vec<Option<Frame>> = views
            .iter()
            .zip(&copies)
            .map(|(v, c)| c.as_ref().map(Image::frame).or(*v))
            .collect();
        inputs.resize(declared.max(inputs.len()), None);
        if let Err(e) = render(inst, time, &inputs, &mut out) {
            warn(spec.name, &format!("{}: {e}", inst.table.entry.desc.id));
            // Pass the (first) input through; a source gives transparent black.
            let r = match inputs.first().copied().flatten() {
                Some(i) => out.copy_from(&i),
                None => out.fill([0.0; 4]),
            };
            if let Err(e) = r {
                warn(spec.name, &e.to_string());
            }
        }
    })
}

fn render(
    inst: &Instance,
    time: f64,
    inputs: &[Option<Frame>],
    out: &mut FrameMut,
) -> Result<(), NodeError> {
    if !time.is_finite() {
        return Err(NodeError::BadArgument(format!("time {time} is not finite")));
    }
    let mut st = inst.state.lock().unwrap_or_else(|e| e.into_inner());
    let State {
        node,
        params,
        time_unit,
        overrides,
        ..
    } = &mut *st;
    let millis = match time_unit {
        TimeUnit::Auto => inst.auto_millis,
        TimeUnit::Seconds => false,
        TimeUnit::Millis => true,
    };
    let seconds = if millis { time / 1000.0 } else { time };
    if trace() {
        eprintln!(
            "[{}] update {}x{} time {time} ({seconds} s)",
            inst.table.spec.name, inst.width, inst.height
        );
    }
    // The `params` overrides go on a copy; without them the instance's params are used as is.
    let with_overrides;
    let params = if overrides.is_empty() {
        &*params
    } else {
        let mut p = params.clone();
        apply_overrides(&mut p, overrides)?;
        with_overrides = p;
        &with_overrides
    };
    let mut ctx = ProcessCtx::new(seconds, 0, None);
    let desc = &inst.table.entry.desc;
    run_node(
        desc,
        node.as_mut(),
        &mut ctx,
        params,
        inputs,
        std::slice::from_mut(out),
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Kdenlive's description of this plugin's effect (filter) or composition (mixer2), so its UI
/// shows the params with their own units (Kdenlive's `factor`/`offset` undo the [0, 1]
/// mapping). `None` for sources, which Kdenlive does not take as effects.
pub fn kdenlive_xml(spec: &'static Spec) -> Option<String> {
    let t = table(spec)?;
    let d = &t.entry.desc;
    let kind = match spec.plugin_type {
        F0R_PLUGIN_TYPE_FILTER => "effect",
        F0R_PLUGIN_TYPE_MIXER2 => "transition",
        _ => return None,
    };
    let mut x = String::from("<!DOCTYPE kpartgui>\n");
    x += &format!(
        "<{kind} tag=\"frei0r.{n}\" id=\"frei0r.{n}\">\n  <name>Wick {}</name>\n  <description>{}</description>\n  <author>Wick</author>\n",
        xml_escape(d.label),
        xml_escape(d.help),
        n = spec.name
    );
    for p in &t.params {
        let name = p.name.to_str().unwrap_or("");
        let desc = d.param(p.wick).map(|(_, pd)| pd);
        let label = desc.map(|pd| pd.label).unwrap_or(match p.map {
            Map::TimeUnit => "Time unit",
            _ => "Wick params",
        });
        let comment = xml_escape(p.explanation.to_str().unwrap_or(""));
        let attrs = match (p.map, desc.map(|pd| &pd.kind)) {
            (Map::Scaled { min, max, int }, Some(k)) => {
                let def = match k {
                    ParamKind::Float { default, .. } => *default,
                    ParamKind::Int { default, .. } => *default as f64,
                    _ => min,
                };
                let ty = if desc.map(|pd| pd.animatable).unwrap_or(false) {
                    "animated"
                } else {
                    "constant"
                };
                format!(
                    "type=\"{ty}\" default=\"{def}\" min=\"{min}\" max=\"{max}\" factor=\"{}\" offset=\"{min}\" decimals=\"{}\"",
                    max - min,
                    if int { 0 } else { 3 }
                )
            }
            (Map::Bool, Some(ParamKind::Bool { default })) => {
                format!("type=\"bool\" default=\"{}\"", *default as u8)
            }
            (Map::Text, Some(ParamKind::Enum { choices, default })) => format!(
                "type=\"list\" default=\"{}\" paramlist=\"{}\"",
                xml_escape(default),
                xml_escape(&choices.join(";"))
            ),
            (Map::Text, Some(ParamKind::Path { default })) => {
                format!("type=\"url\" default=\"{}\"", xml_escape(default))
            }
            (Map::Text, Some(ParamKind::Str { default })) => {
                format!("type=\"keywords\" default=\"{}\"", xml_escape(default))
            }
            (Map::Color, Some(ParamKind::Color { default })) => format!(
                "type=\"color\" default=\"#{:02x}{:02x}{:02x}\"",
                (default[0].clamp(0.0, 1.0) * 255.0).round() as u8,
                (default[1].clamp(0.0, 1.0) * 255.0).round() as u8,
                (default[2].clamp(0.0, 1.0) * 255.0).round() as u8
            ),
            // melt passes time in seconds.
            (Map::TimeUnit, _) => "type=\"fixed\" default=\"s\"".to_string(),
            (Map::Overrides, _) => "type=\"keywords\" default=\"\"".to_string(),
            _ => continue,
        };
        x += &format!(
            "  <parameter name=\"{name}\" {attrs}>\n    <name>{}</name>\n    <comment>{comment}</comment>\n  </parameter>\n",
            xml_escape(label)
        );
    }
    x += &format!("</{kind}>\n");
    Some(x)
}

/// `wick_frei0r_kdenlive_xml` (exported by each frei0r library): the Kdenlive XML as a
/// NUL-terminated string owned by the library, or NULL for a source.
pub fn kdenlive_xml_c(spec: &'static Spec) -> *const c_char {
    static XML: OnceCell<Option<CString>> = OnceCell::new();
    guarded(spec.name, std::ptr::null(), || {
        XML.get_or_init(|| kdenlive_xml(spec).map(|s| to_cstring(&s)))
            .as_ref()
            .map(|c| c.as_ptr())
            .unwrap_or(std::ptr::null())
    })
}

/// Exports the frei0r API for one node from a `cdylib` crate:
/// `wick::frei0r_plugin!("wick.style-transfer", "wick_style", wick::frei0r::F0R_PLUGIN_TYPE_FILTER);`
#[macro_export]
macro_rules! frei0r_plugin {
    ($node_id:expr, $name:expr, $plugin_type:expr) => {
        static WICK_FREI0R_SPEC: $crate::frei0r::Spec = $crate::frei0r::Spec {
            node_id: $node_id,
            name: $name,
            plugin_type: $plugin_type,
        };

        /// Kdenlive's XML description of this plugin (Wick extension; NULL for a source).
        #[no_mangle]
        pub extern "C" fn wick_frei0r_kdenlive_xml() -> *const ::std::ffi::c_char {
            $crate::frei0r::kdenlive_xml_c(&WICK_FREI0R_SPEC)
        }

        #[no_mangle]
        pub extern "C" fn f0r_init() -> ::std::ffi::c_int {
            $crate::frei0r::init(&WICK_FREI0R_SPEC)
        }

        #[no_mangle]
        pub extern "C" fn f0r_deinit() {
            $crate::frei0r::deinit(&WICK_FREI0R_SPEC)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_get_plugin_info(info: *mut $crate::frei0r::PluginInfo) {
            $crate::frei0r::get_plugin_info(&WICK_FREI0R_SPEC, info)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_get_param_info(
            info: *mut $crate::frei0r::ParamInfo,
            index: ::std::ffi::c_int,
        ) {
            $crate::frei0r::get_param_info(&WICK_FREI0R_SPEC, info, index)
        }

        #[no_mangle]
        pub extern "C" fn f0r_construct(
            width: ::std::ffi::c_uint,
            height: ::std::ffi::c_uint,
        ) -> *mut ::std::ffi::c_void {
            $crate::frei0r::construct(&WICK_FREI0R_SPEC, width, height)
        }

        #[no_mangle]
        pub extern "C" fn f0r_destruct(instance: *mut ::std::ffi::c_void) {
            $crate::frei0r::destruct(&WICK_FREI0R_SPEC, instance)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_set_param_value(
            instance: *mut ::std::ffi::c_void,
            param: *mut ::std::ffi::c_void,
            index: ::std::ffi::c_int,
        ) {
            $crate::frei0r::set_param_value(&WICK_FREI0R_SPEC, instance, param, index)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_get_param_value(
            instance: *mut ::std::ffi::c_void,
            param: *mut ::std::ffi::c_void,
            index: ::std::ffi::c_int,
        ) {
            $crate::frei0r::get_param_value(&WICK_FREI0R_SPEC, instance, param, index)
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_update(
            instance: *mut ::std::ffi::c_void,
            time: f64,
            inframe: *const u32,
            outframe: *mut u32,
        ) {
            $crate::frei0r::update2(
                &WICK_FREI0R_SPEC,
                instance,
                time,
                inframe,
                ::std::ptr::null(),
                ::std::ptr::null(),
                outframe,
            )
        }

        /// # Safety
        /// As frei0r.h.
        #[no_mangle]
        pub unsafe extern "C" fn f0r_update2(
            instance: *mut ::std::ffi::c_void,
            time: f64,
            inframe1: *const u32,
            inframe2: *const u32,
            inframe3: *const u32,
            outframe: *mut u32,
        ) {
            $crate::frei0r::update2(
                &WICK_FREI0R_SPEC,
                instance,
                time,
                inframe1,
                inframe2,
                inframe3,
                outframe,
            )
        }
    };
}
