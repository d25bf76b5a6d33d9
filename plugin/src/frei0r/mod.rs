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
//!   frei0r strings. A source's output size (its params with the `OutputWidth`/`OutputHeight`
//!   roles) comes from the host's frame size and is not listed. Two params are added at the end: `time_unit` (`auto`, `s` or `ms`: FFmpeg passes
//!   milliseconds, the others seconds; `auto` picks milliseconds inside an `ffmpeg`/`ffplay`
//!   process) and `params`, a list `name=value` (or `name:value`: MLT reads `=` in a string as
//!   a keyframe) in Wick's own units separated by `;` or spaces (e.g. `seed=42 zoom=2.5`) that
//!   overrides the sliders.
//! - Pixels: RGBA8888, straight alpha, sRGB, as all three hosts deliver it.
//! - Past frames: frei0r hands one frame per call, so for a node with past-frame inputs
//!   (`PortDesc::history_of`, e.g. `source@-1`) each instance keeps its last input frames keyed
//!   by time (`adapter::history::Feeder`) and feeds those it has seen while the host's times
//!   stay within a few frames of each other (in order, repeated, or out of order as melt's
//!   frame threads go); after a seek it feeds none (the node then works frame by frame) and
//!   says so once on stderr. One render thread gives exactly `wick render`'s frames; melt's
//!   `real_time=-N` (N > 1) makes one instance per render thread, each given only some frames
//!   (mostly incomplete windows: partly stabilised; `WICK_FREI0R_TRACE` names the instance).
//! - Frame numbers: frei0r passes a time only, so a node's frame number is the time times the
//!   frame rate learnt from the host's times (0 at time 0); frames FFmpeg passes without a
//!   timestamp are taken as consecutive at 25 fps (said once).
//! - Files: `mod.rs` (the plugin table, instances, update), `params.rs` (param mapping and
//!   get/set), `kdenlive.rs` (Kdenlive's XML), `export.rs` (the `frei0r_plugin!` symbols). The
//!   shared work (instances, frames, params, past frames, running the node) is the adapter
//!   core's (`adapter/`).

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::sync::Mutex;

use once_cell::sync::{Lazy, OnceCell};

mod export;
mod kdenlive;
mod params;

pub use kdenlive::{kdenlive_xml, kdenlive_xml_c};
pub use params::{get_param_value, set_param_value};

use crate::adapter::history::{self, Feeder, Step};
use crate::adapter::params::set_output_size;
use crate::adapter::{contain, detach_overlaps, to_cstring, Call, Live, NodeInstance};
use crate::frame::{Frame, FrameMut, PixelFormat};
use crate::image::{Image, MAX_PIXELS, MAX_SIDE};
use crate::node::{NodeError, Params};
use crate::nodes::{self, NodeEntry};
use params::{apply_overrides, FParam};

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
    let params = params::build(d);
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

/// An instance's host-side state (behind its lock: melt calls one instance from several
/// threads).
struct State {
    params: Params,
    time_unit: TimeUnit,
    overrides: String,
    /// Strings handed out by `f0r_get_param_value`, one per param index.
    strings: Vec<CString>,
    /// Past input frames for the node's past-frame inputs (frei0r hands one frame per call),
    /// and the frame period learnt from the host's times.
    history: Feeder,
    /// Calls that came without a usable time (FFmpeg without timestamps).
    untimed: u64,
}

/// One frei0r instance.
pub struct Instance {
    table: &'static Table,
    core: NodeInstance,
    width: usize,
    height: usize,
    /// The host's time unit when `time_unit` is `auto`.
    auto_millis: bool,
    state: Mutex<State>,
}

static LIVE: Live<Instance> = Live::new();

fn live(p: *mut c_void) -> Option<&'static Instance> {
    LIVE.get(p as *const Instance)
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
        let core = NodeInstance::new(t.entry);
        let d = core.desc();
        let mut params = core.default_params();
        if d.source {
            // The host decides the frame size; keep the node's own size params in step.
            let _ = set_output_size(d, &mut params, w as usize, h as usize);
        }
        let inst = Instance {
            table: t,
            width: w as usize,
            height: h as usize,
            auto_millis: host_uses_millis(),
            state: Mutex::new(State {
                params,
                time_unit: TimeUnit::Auto,
                overrides: String::new(),
                strings: vec![CString::default(); t.params.len()],
                history: Feeder::new(d),
                untimed: 0,
            }),
            core,
        };
        match LIVE.add(inst) {
            Ok(p) => p as *mut c_void,
            Err(e) => {
                warn(spec.name, &e.to_string());
                std::ptr::null_mut()
            }
        }
    })
}

pub fn destruct(spec: &'static Spec, instance: *mut c_void) {
    guarded(spec.name, (), || {
        if !LIVE.destroy(instance as *mut Instance) && !instance.is_null() {
            warn(spec.name, "f0r_destruct: not a live instance (ignored)");
        }
    })
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
        let mut views: Vec<Option<Frame>> = Vec::with_capacity(ins.len());
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
        let views: Vec<Option<Frame>> = views
            .iter()
            .zip(&copies)
            .map(|(v, c)| c.as_ref().map(Image::frame).or(*v))
            .collect();
        if let Err(e) = render(inst, time, &views, &mut out) {
            warn(spec.name, &format!("{}: {e}", inst.core.desc().id));
            // Pass the (first) input through; a source gives transparent black.
            let r = match views.first().copied().flatten() {
                Some(i) => out.copy_from(&i),
                None => out.fill([0.0; 4]),
            };
            if let Err(e) = r {
                warn(spec.name, &e.to_string());
            }
        }
    })
}

/// Runs the node on the host's frames (`carried`: what frei0r passes, in the node's input
/// order), with the params, the time in seconds and the past frames the instance kept.
fn render(
    inst: &Instance,
    time: f64,
    carried: &[Option<Frame>],
    out: &mut FrameMut,
) -> Result<(), NodeError> {
    if !time.is_finite() {
        return Err(NodeError::BadArgument(format!("time {time} is not finite")));
    }
    let name = inst.table.spec.name;
    let mut st = inst.state.lock().unwrap_or_else(|e| e.into_inner());
    let State {
        params,
        time_unit,
        overrides,
        history,
        untimed,
        ..
    } = &mut *st;
    let millis = match time_unit {
        TimeUnit::Auto => inst.auto_millis,
        TimeUnit::Seconds => false,
        TimeUnit::Millis => true,
    };
    let mut seconds = if millis { time / 1000.0 } else { time };
    // FFmpeg's frei0r filter passes each frame's timestamp in milliseconds, and for a frame
    // without one AV_NOPTS_VALUE scaled, a time no clip has: such frames are taken as
    // consecutive frames, at 25 fps.
    let untimed_now = seconds.abs() >= 1e9;
    if untimed_now {
        seconds = *untimed as f64 / 25.0;
        *untimed += 1;
    }
    if trace() {
        eprintln!(
            "[{name}] update {}x{} time {time} ({seconds} s) instance {:p}",
            inst.width, inst.height, inst
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
    let d = inst.core.desc();
    if untimed_now && history::wanted(d, params) {
        warn(
            name,
            &format!(
                "{}: the host gives frames without a usable time (FFmpeg: frames without a \
                 timestamp): they are taken as consecutive frames, each following the one \
                 before (said once)",
                d.id
            ),
        );
    }
    // One entry per declared input: the host's frames, the past frames kept from earlier
    // calls, None for the rest (e.g. style-transfer's style input: its style_image param).
    let mut inputs: Vec<Option<Frame>> = carried.to_vec();
    inputs.resize(d.inputs.len().max(carried.len()), None);
    // Every call steps the learnt frame period (the node's frame numbers come from it); past
    // frames are fed only to nodes that have such inputs.
    let step = history.advance(seconds);
    let frame = history.frame_number(seconds);
    history.fill(d, params, seconds, step, &mut inputs);
    if history::wanted(d, params) {
        // Said once per process: after a seek, or when frames come out of order without the
        // ones before them (parallel frame threads), those frames are processed on their own.
        let missing = d.inputs.iter().enumerate().any(|(i, p)| {
            p.history_of.is_some() && history::active(d, i, params) && inputs[i].is_none()
        });
        let why = match step {
            Step::Seek => Some(
                "the host's times jumped (a seek): no past frames are fed there, so such \
                 frames are processed on their own until the times run on one frame apart",
            ),
            Step::Near if missing => Some(
                "frames came out of order or a few frames apart, without the frames before \
                 them (the host renders frames on several threads, e.g. melt real_time < -1, \
                 or drops frames): such frames get the past frames already seen, or are \
                 processed on their own; give every frame in order on one thread (melt \
                 real_time=-1) for the same result as `wick render`",
            ),
            _ => None,
        };
        if let Some(why) = why {
            warn(name, &format!("{}: {why} (said once)", d.id));
        }
    }
    let result = inst.core.run(Call {
        time: seconds,
        // Frame numbers: time x the frame rate learnt from the host's times (0 at time 0), so
        // nodes with absolute-frame logic agree with `wick render` of a sequence numbered
        // from 0.
        frame,
        params,
        inputs: &inputs,
        outputs: std::slice::from_mut(out),
        progress: None,
    });
    drop(inputs);
    if !history.is_empty() {
        // A frame that cannot be kept (out of memory) only costs later frames their past.
        if let Err(e) = history.remember(d, params, seconds, carried) {
            warn(name, &format!("{}: past frames not kept: {e}", d.id));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: Spec = Spec {
        node_id: "wick.debug-history",
        name: "wick_debug_history",
        plugin_type: F0R_PLUGIN_TYPE_FILTER,
    };

    /// The frei0r calls in-process on the test node with past-frame inputs: frames are fed
    /// while the times run one frame apart, none after a seek or while `temporal` is off, and
    /// in-place calls see the right frames.
    #[test]
    fn past_frames_follow_the_host_times() {
        assert_eq!(init(&SPEC), 1);
        let (w, h) = (4usize, 2usize);
        let inst = construct(&SPEC, w as c_uint, h as c_uint);
        assert!(!inst.is_null());
        let grey = |v: u8| vec![u32::from_ne_bytes([v, v, v, 255]); w * h];
        // (colour, alpha) of the output's first pixel.
        let run = |t: f64, v: u8| {
            let input = grey(v);
            let mut out = vec![0u32; w * h];
            // SAFETY: frames of the instance's size.
            unsafe {
                update2(
                    &SPEC,
                    inst,
                    t,
                    input.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    out.as_mut_ptr(),
                )
            };
            let px = out[0].to_ne_bytes();
            (px[0], px[3])
        };
        // 25 fps in seconds: the mean of the frames given, alpha 1/(1 + past frames).
        assert_eq!(run(0.00, 10), (10, 255));
        assert_eq!(run(0.04, 20), (15, 128));
        assert_eq!(run(0.08, 30), (20, 85));
        assert_eq!(run(0.12, 40), (30, 85));
        // A seek: none, then the frames after it.
        assert_eq!(run(0.40, 100), (100, 255));
        assert_eq!(run(0.44, 110), (105, 128));
        // `temporal` off (a frei0r bool, param 0): none fed, none kept.
        let set_bool = |on: bool| {
            let mut v: f64 = if on { 1.0 } else { 0.0 };
            // SAFETY: a bool param's storage is a double.
            unsafe { set_param_value(&SPEC, inst, &mut v as *mut f64 as *mut c_void, 0) };
        };
        set_bool(false);
        assert_eq!(run(0.48, 120), (120, 255));
        set_bool(true);
        assert_eq!(run(0.52, 130), (130, 255));
        // In place: the output buffer is the input.
        let mut buf = grey(140);
        // SAFETY: one frame of the instance's size, in and out.
        unsafe {
            update2(
                &SPEC,
                inst,
                0.56,
                buf.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                buf.as_mut_ptr(),
            )
        };
        let px = buf[0].to_ne_bytes();
        assert_eq!((px[0], px[3]), (135, 128));
        destruct(&SPEC, inst);
    }
}
