//! The OpenFX 1.4 adapter over the `Node` trait: one OFX image-effect plugin per Wick node, all
//! in this library (`OfxGetNumberOfPlugins` / `OfxGetPlugin`), packaged as
//! `Wick.ofx.bundle/Contents/Linux-x86-64/Wick.ofx` by `scripts/build-ofx.sh`.
//!
//! Contexts come from each node's descriptor:
//! - source nodes: **Generator** (output size = the RoD from the `width`/`height` params), plus
//!   **General** with their inputs as optional clips when they have any;
//! - one required input: **Filter** (`Source`; further optional inputs are optional clips named
//!   after the port, capitalised);
//! - two required inputs and a float param `t` (interpolation): **Transition** (`SourceFrom`,
//!   `SourceTo`, the `Transition` param is `t`), and, when an input has a `frame_offset`,
//!   **General** with one `Source` clip fetched at each input's offset (GetFramesNeeded asks for
//!   them): a retime of one clip;
//! - long-running nodes (training): **General**, plus a push button that runs the node in
//!   InstanceChanged under the progress suite (cancel aborts the run); Render shows the last
//!   result.
//!
//! Pixels: byte, short, half and float; RGBA and RGB; premultiplied or not. Byte and short
//! images are taken as sRGB-encoded, half and float as linear light (as `wick run` treats PNG
//! and EXR). Whole frames only (no tiles); proxy renders run the node on the proxy-size image.
//!
//! Every action runs under `catch_unwind`, checks every handle, suite and property result, and
//! releases every fetched image on every path (a drop guard). Errors return kOfxStatFailed (or
//! kOfxStatErrMemory, kOfxStatErrBadHandle, kOfxStatErrMissingHostFeature) with the message
//! posted through the message suite when the host has one, and kept as the library's
//! thread last-error (`wick_entry.last_error`).

pub mod sys;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use once_cell::sync::Lazy;

use crate::adapter::{contain, run_images, to_cstring, LiveSet};
use crate::image::{read_frame, write_frame, FrameFormat, Image, SampleType};
use crate::node::{Node, Value};
use crate::node::{NodeDesc, NodeError, ParamDesc, ParamKind, Params, ProcessCtx, ThreadSafety};
use crate::nodes::{self, NodeEntry};
use sys::*;

/// How many plugins one binary can expose (one `mainEntry` trampoline each).
const MAX_PLUGINS: usize = 32;
/// The push button of long-running nodes.
pub const RUN_BUTTON: &str = "wick_run";
/// Frames per second when the host does not say (`kOfxImageEffectPropFrameRate`).
const DEFAULT_FPS: f64 = 24.0;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An OFX status with its message. `quiet`: not posted through the message suite (a
/// host-requested abort, or a failed Load).
#[derive(Debug)]
struct OfxErr {
    status: OfxStatus,
    msg: String,
    quiet: bool,
}

type R<T> = Result<T, OfxErr>;

impl OfxErr {
    fn new(status: OfxStatus, msg: impl Into<String>) -> Self {
        Self {
            status,
            msg: msg.into(),
            quiet: false,
        }
    }
    fn failed(msg: impl Into<String>) -> Self {
        Self::new(kOfxStatFailed, msg)
    }
    fn bad_handle(msg: impl Into<String>) -> Self {
        Self::new(kOfxStatErrBadHandle, msg)
    }
}

impl From<NodeError> for OfxErr {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::OutOfMemory(m) => OfxErr::new(kOfxStatErrMemory, m),
            NodeError::Cancelled => OfxErr {
                status: kOfxStatFailed,
                msg: "cancelled".into(),
                quiet: true,
            },
            e => OfxErr::failed(e.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Host and suites
// ---------------------------------------------------------------------------------------------

static HOST: AtomicPtr<OfxHost> = AtomicPtr::new(null_mut());
static SUITES: RwLock<Option<Suites>> = RwLock::new(None);
static LOADS: AtomicUsize = AtomicUsize::new(0);

/// The suites fetched in Load. Mandatory: property, image effect, parameter (every node has
/// params). Optional: message (errors), progress (long-running nodes).
#[derive(Clone, Copy)]
struct Suites {
    prop: &'static OfxPropertySuiteV1,
    effect: &'static OfxImageEffectSuiteV1,
    param: &'static OfxParameterSuiteV1,
    message: Option<&'static OfxMessageSuiteV1>,
    progress: Option<&'static OfxProgressSuiteV1>,
}

/// A host function of a suite, or kOfxStatErrMissingHostFeature when the host left it NULL
/// (Load refuses such a host for the functions Wick needs, so this is a second line).
macro_rules! host_fn {
    ($f:expr) => {
        $f.ok_or_else(|| {
            OfxErr::new(
                kOfxStatErrMissingHostFeature,
                concat!("the host's ", stringify!($f), " is NULL"),
            )
        })?
    };
}

/// Checks that a mandatory suite has every function Wick calls.
macro_rules! require {
    ($suite:expr, $name:literal: $($f:ident),+) => {
        $(
            if $suite.$f.is_none() {
                return Err(OfxErr::new(
                    kOfxStatErrMissingHostFeature,
                    concat!("the host's ", $name, " lacks ", stringify!($f), "; Wick cannot load"),
                ));
            }
        )+
    };
}

fn suites() -> R<Suites> {
    SUITES
        .read()
        .map_err(|_| OfxErr::failed("suite table poisoned"))?
        .ok_or_else(|| OfxErr::failed("the host called an action before kOfxActionLoad"))
}

fn load() -> R<OfxStatus> {
    let host = HOST.load(Ordering::Acquire);
    if host.is_null() {
        return Err(OfxErr::new(
            kOfxStatErrMissingHostFeature,
            "setHost was not called (or with NULL) before kOfxActionLoad",
        ));
    }
    // SAFETY: the host passed this pointer to setHost and keeps it valid while we are loaded.
    let h = unsafe { &*host };
    let fetch = h.fetch_suite.ok_or_else(|| {
        OfxErr::new(
            kOfxStatErrMissingHostFeature,
            "the host's fetchSuite is NULL",
        )
    })?;
    let get = |name: &CStr, version: c_int| -> *const c_void {
        // SAFETY: the host's own function with its own property set; a missing suite is NULL.
        unsafe { fetch(h.host, name.as_ptr(), version) }
    };
    let need = |name: &CStr| -> R<*const c_void> {
        let p = get(name, 1);
        if p.is_null() {
            Err(OfxErr::new(
                kOfxStatErrMissingHostFeature,
                format!(
                    "the host lacks the mandatory {} v1; Wick cannot load",
                    name.to_string_lossy()
                ),
            ))
        } else {
            Ok(p)
        }
    };
    // SAFETY (all casts): non-null suite pointers of the versions asked for, host-owned and
    // valid until Unload.
    let s = Suites {
        prop: unsafe { &*(need(kOfxPropertySuite)? as *const OfxPropertySuiteV1) },
        effect: unsafe { &*(need(kOfxImageEffectSuite)? as *const OfxImageEffectSuiteV1) },
        param: unsafe { &*(need(kOfxParameterSuite)? as *const OfxParameterSuiteV1) },
        message: unsafe { (get(kOfxMessageSuite, 1) as *const OfxMessageSuiteV1).as_ref() },
        progress: unsafe { (get(kOfxProgressSuite, 1) as *const OfxProgressSuiteV1).as_ref() },
    };
    require!(s.prop, "OfxPropertySuite": prop_set_pointer, prop_set_string, prop_set_double,
        prop_set_int, prop_get_pointer, prop_get_string, prop_get_double, prop_get_int);
    require!(s.effect, "OfxImageEffectSuite": get_property_set, get_param_set, clip_define,
        clip_get_handle, clip_get_image, clip_release_image, abort);
    require!(s.param, "OfxParameterSuite": param_define, param_get_handle,
        param_get_value_at_time);
    *SUITES
        .write()
        .map_err(|_| OfxErr::failed("suite table poisoned"))? = Some(s);
    LOADS.fetch_add(1, Ordering::AcqRel);
    Ok(kOfxStatOK)
}

fn unload() -> R<OfxStatus> {
    let before = LOADS
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .unwrap_or(0);
    if before == 1 {
        if let Ok(mut g) = SUITES.write() {
            *g = None;
        }
    }
    Ok(kOfxStatOK)
}

// ----- property helpers ----------------------------------------------------------------------

fn cname(s: &str) -> CString {
    to_cstring(s)
}

fn check(st: OfxStatus, what: impl FnOnce() -> String) -> R<()> {
    if st == kOfxStatOK {
        Ok(())
    } else {
        Err(OfxErr::failed(format!("{} (host status {st})", what())))
    }
}

fn pname(p: &CStr) -> String {
    p.to_string_lossy().into_owned()
}

impl Suites {
    fn nonnull(ps: OfxPropertySetHandle, prop: &CStr) -> R<()> {
        if ps.is_null() {
            Err(OfxErr::bad_handle(format!(
                "property set is NULL (reading {})",
                pname(prop)
            )))
        } else {
            Ok(())
        }
    }
    fn set_str(&self, ps: OfxPropertySetHandle, prop: &CStr, i: c_int, v: &str) -> R<()> {
        Self::nonnull(ps, prop)?;
        let c = cname(v);
        // SAFETY: non-null host property set; NUL-terminated name and value.
        let st = unsafe { (host_fn!(self.prop.prop_set_string))(ps, prop.as_ptr(), i, c.as_ptr()) };
        check(st, || format!("setting {}", pname(prop)))
    }
    fn set_strs(&self, ps: OfxPropertySetHandle, prop: &CStr, v: &[&CStr]) -> R<()> {
        for (i, s) in v.iter().enumerate() {
            self.set_str(ps, prop, i as c_int, &s.to_string_lossy())?;
        }
        Ok(())
    }
    fn set_int(&self, ps: OfxPropertySetHandle, prop: &CStr, i: c_int, v: c_int) -> R<()> {
        Self::nonnull(ps, prop)?;
        // SAFETY: as set_str.
        let st = unsafe { (host_fn!(self.prop.prop_set_int))(ps, prop.as_ptr(), i, v) };
        check(st, || format!("setting {}", pname(prop)))
    }
    fn set_double(&self, ps: OfxPropertySetHandle, prop: &CStr, i: c_int, v: f64) -> R<()> {
        Self::nonnull(ps, prop)?;
        // SAFETY: as set_str.
        let st = unsafe { (host_fn!(self.prop.prop_set_double))(ps, prop.as_ptr(), i, v) };
        check(st, || format!("setting {}", pname(prop)))
    }
    fn set_doubles(&self, ps: OfxPropertySetHandle, prop: &CStr, v: &[f64]) -> R<()> {
        for (i, x) in v.iter().enumerate() {
            self.set_double(ps, prop, i as c_int, *x)?;
        }
        Ok(())
    }
    fn set_ptr(&self, ps: OfxPropertySetHandle, prop: &CStr, v: *mut c_void) -> R<()> {
        Self::nonnull(ps, prop)?;
        // SAFETY: as set_str.
        let st = unsafe { (host_fn!(self.prop.prop_set_pointer))(ps, prop.as_ptr(), 0, v) };
        check(st, || format!("setting {}", pname(prop)))
    }
    fn get_str(&self, ps: OfxPropertySetHandle, prop: &CStr, i: c_int) -> R<String> {
        Self::nonnull(ps, prop)?;
        let mut p: *mut c_char = null_mut();
        // SAFETY: non-null set; `p` is a valid out-pointer.
        let st = unsafe { (host_fn!(self.prop.prop_get_string))(ps, prop.as_ptr(), i, &mut p) };
        check(st, || format!("reading {}", pname(prop)))?;
        if p.is_null() {
            return Err(OfxErr::failed(format!(
                "the host returned a NULL string for {}",
                pname(prop)
            )));
        }
        // SAFETY: non-null, NUL-terminated per the property suite contract.
        Ok(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
    fn get_int(&self, ps: OfxPropertySetHandle, prop: &CStr, i: c_int) -> R<c_int> {
        Self::nonnull(ps, prop)?;
        let mut v: c_int = 0;
        // SAFETY: as get_str.
        let st = unsafe { (host_fn!(self.prop.prop_get_int))(ps, prop.as_ptr(), i, &mut v) };
        check(st, || format!("reading {}", pname(prop)))?;
        Ok(v)
    }
    fn get_double(&self, ps: OfxPropertySetHandle, prop: &CStr, i: c_int) -> R<f64> {
        Self::nonnull(ps, prop)?;
        let mut v = 0.0;
        // SAFETY: as get_str.
        let st = unsafe { (host_fn!(self.prop.prop_get_double))(ps, prop.as_ptr(), i, &mut v) };
        check(st, || format!("reading {}", pname(prop)))?;
        Ok(v)
    }
    fn get_ptr(&self, ps: OfxPropertySetHandle, prop: &CStr) -> R<*mut c_void> {
        Self::nonnull(ps, prop)?;
        let mut v: *mut c_void = null_mut();
        // SAFETY: as get_str.
        let st = unsafe { (host_fn!(self.prop.prop_get_pointer))(ps, prop.as_ptr(), 0, &mut v) };
        check(st, || format!("reading {}", pname(prop)))?;
        Ok(v)
    }

    // ----- image effect suite ----------------------------------------------------------------

    fn effect_props(&self, h: OfxImageEffectHandle) -> R<OfxPropertySetHandle> {
        if h.is_null() {
            return Err(OfxErr::bad_handle("the effect handle is NULL"));
        }
        let mut ps = null_mut();
        // SAFETY: non-null effect handle from the host; valid out-pointer.
        let st = unsafe { (host_fn!(self.effect.get_property_set))(h, &mut ps) };
        check(st, || "getPropertySet on the effect".into())?;
        Self::nonnull(ps, kOfxPropName).map(|_| ps)
    }
    fn param_set(&self, h: OfxImageEffectHandle) -> R<OfxParamSetHandle> {
        let mut ps = null_mut();
        // SAFETY: as effect_props (checked non-null there first by every caller's path).
        let st = unsafe { (host_fn!(self.effect.get_param_set))(h, &mut ps) };
        check(st, || "getParamSet on the effect".into())?;
        if ps.is_null() {
            return Err(OfxErr::failed("the host returned a NULL param set"));
        }
        Ok(ps)
    }
    fn clip(&self, h: OfxImageEffectHandle, name: &str) -> R<(OfxImageClipHandle, PS)> {
        let c = cname(name);
        let (mut clip, mut ps) = (null_mut(), null_mut());
        // SAFETY: host effect handle; valid out-pointers.
        let st =
            unsafe { (host_fn!(self.effect.clip_get_handle))(h, c.as_ptr(), &mut clip, &mut ps) };
        check(st, || format!("clipGetHandle('{name}')"))?;
        if clip.is_null() || ps.is_null() {
            return Err(OfxErr::failed(format!(
                "the host returned a NULL handle for clip '{name}'"
            )));
        }
        Ok((clip, ps))
    }

    /// Posts an error or message through the message suite, when the host has one.
    fn post(&self, handle: *mut c_void, kind: &CStr, msg: &str) {
        if let Some(message) = self.message.and_then(|m| m.message) {
            let c = to_cstring(msg);
            // SAFETY: printf-style host function; "%s" with one NUL-terminated argument.
            unsafe {
                message(
                    handle,
                    kind.as_ptr(),
                    c"wick".as_ptr(),
                    c"%s".as_ptr(),
                    c.as_ptr(),
                );
            }
        }
    }
}

type PS = OfxPropertySetHandle;

// ---------------------------------------------------------------------------------------------
// Plugins: one per node, each with its own mainEntry trampoline
// ---------------------------------------------------------------------------------------------

struct PluginRecord {
    plugin: OfxPlugin,
    _id: CString,
}

// SAFETY: immutable after construction; pointers refer to static strings and the owned CString.
unsafe impl Send for PluginRecord {}
unsafe impl Sync for PluginRecord {}

/// The reverse-DNS identifier of a node's plugin: `org.wick.` + the id without `wick.`.
pub fn plugin_identifier(node_id: &str) -> String {
    format!(
        "org.wick.{}",
        node_id.strip_prefix("wick.").unwrap_or(node_id)
    )
}

unsafe extern "C" fn main_entry<const N: usize>(
    action: *const c_char,
    handle: *const c_void,
    in_args: PS,
    out_args: PS,
) -> OfxStatus {
    entry(N, action, handle as *mut c_void, in_args, out_args)
}

macro_rules! trampolines {
    ($($n:literal)*) => { [$(main_entry::<$n> as OfxPluginEntryPoint),*] };
}

static ENTRIES: [OfxPluginEntryPoint; MAX_PLUGINS] = trampolines!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
);

static PLUGINS: Lazy<Vec<PluginRecord>> = Lazy::new(|| {
    let major = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
    let minor = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    nodes::REGISTRY
        .iter()
        .take(MAX_PLUGINS)
        .enumerate()
        .map(|(i, e)| {
            let id = to_cstring(&plugin_identifier(e.desc.id));
            PluginRecord {
                plugin: OfxPlugin {
                    plugin_api: kOfxImageEffectPluginApi.as_ptr(),
                    api_version: kOfxImageEffectPluginApiVersion,
                    plugin_identifier: id.as_ptr(),
                    plugin_version_major: major,
                    plugin_version_minor: minor,
                    set_host: Some(set_host),
                    main_entry: Some(ENTRIES[i]),
                },
                _id: id,
            }
        })
        .collect()
});

/// ofxCore.h: the number of plugins in this binary.
#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    contain(|| Ok(PLUGINS.len() as c_int)).unwrap_or(0)
}

/// ofxCore.h: the `nth` plugin, or NULL when out of range.
#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *mut OfxPlugin {
    contain(|| {
        Ok(usize::try_from(nth)
            .ok()
            .and_then(|n| PLUGINS.get(n))
            .map(|r| &r.plugin as *const OfxPlugin as *mut OfxPlugin)
            .unwrap_or(null_mut()))
    })
    .unwrap_or(null_mut())
}

unsafe extern "C" fn set_host(host: *mut OfxHost) {
    let _ = contain(|| {
        HOST.store(host, Ordering::Release);
        Ok(())
    });
}

fn entry(
    n: usize,
    action: *const c_char,
    handle: *mut c_void,
    in_args: PS,
    out_args: PS,
) -> OfxStatus {
    let mut is_instance_action = false;
    let r = contain(|| {
        Ok(dispatch(
            n,
            action,
            handle,
            in_args,
            out_args,
            &mut is_instance_action,
        ))
    });
    let r = match r {
        Ok(r) => r,
        Err(e) => Err(OfxErr::from(e)),
    };
    match r {
        Ok(st) => st,
        Err(e) => {
            // Reporting itself must not unwind into the host either.
            let _ = contain(|| {
                crate::abi::set_thread_error(&e.msg);
                if !e.quiet {
                    if let Ok(s) = suites() {
                        let h = if is_instance_action {
                            handle
                        } else {
                            null_mut()
                        };
                        s.post(h, kOfxMessageError, &format!("Wick: {}", e.msg));
                    }
                }
                Ok(())
            });
            e.status
        }
    }
}

fn dispatch(
    n: usize,
    action: *const c_char,
    handle: *mut c_void,
    in_args: PS,
    out_args: PS,
    is_instance_action: &mut bool,
) -> R<OfxStatus> {
    if action.is_null() {
        return Err(OfxErr::new(kOfxStatErrUnknown, "mainEntry: action is NULL"));
    }
    // SAFETY: non-null; the host passes a NUL-terminated action name.
    let action = unsafe { CStr::from_ptr(action) };
    let entry = nodes::REGISTRY
        .get(n)
        .ok_or_else(|| OfxErr::failed(format!("plugin index {n} has no node")))?;
    if action == kOfxActionLoad {
        // A failed Load has no suites of its own to report through: status and last-error only.
        return load().map_err(|e| OfxErr { quiet: true, ..e });
    }
    if action == kOfxActionUnload {
        return unload();
    }
    let s = suites()?;
    if action == kOfxActionDescribe {
        return describe(&s, entry, handle);
    }
    if action == kOfxImageEffectActionDescribeInContext {
        return describe_in_context(&s, entry, handle, in_args);
    }
    if action == kOfxActionCreateInstance {
        *is_instance_action = true;
        return create_instance(&s, entry, handle);
    }
    let known = [
        kOfxActionDestroyInstance,
        kOfxImageEffectActionRender,
        kOfxImageEffectActionGetRegionOfDefinition,
        kOfxImageEffectActionGetFramesNeeded,
        kOfxImageEffectActionGetClipPreferences,
        kOfxActionInstanceChanged,
    ];
    if !known.contains(&action) {
        return Ok(kOfxStatReplyDefault);
    }
    *is_instance_action = true;
    let inst = instance(&s, handle)?;
    if action == kOfxActionDestroyInstance {
        destroy_instance(&s, handle, inst)
    } else if action == kOfxImageEffectActionRender {
        render(&s, inst, handle, in_args)
    } else if action == kOfxImageEffectActionGetRegionOfDefinition {
        region_of_definition(&s, inst, handle, in_args, out_args)
    } else if action == kOfxImageEffectActionGetFramesNeeded {
        frames_needed(&s, inst, in_args, out_args)
    } else if action == kOfxImageEffectActionGetClipPreferences {
        clip_preferences(&s, inst, out_args)
    } else {
        instance_changed(&s, inst, handle, in_args)
    }
}

// ---------------------------------------------------------------------------------------------
// Contexts and clip layout
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Generator,
    Filter,
    Transition,
    General,
}

impl Context {
    fn name(self) -> &'static CStr {
        match self {
            Context::Generator => kOfxImageEffectContextGenerator,
            Context::Filter => kOfxImageEffectContextFilter,
            Context::Transition => kOfxImageEffectContextTransition,
            Context::General => kOfxImageEffectContextGeneral,
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [
            Context::Generator,
            Context::Filter,
            Context::Transition,
            Context::General,
        ]
        .into_iter()
        .find(|c| c.name().to_str() == Ok(s))
    }
}

/// An input clip: which node inputs it feeds, each at a frame offset.
#[derive(Debug, Clone)]
pub struct ClipMap {
    pub name: String,
    pub label: String,
    pub ports: Vec<(usize, i32)>,
    pub optional: bool,
}

/// How a node appears in one context.
#[derive(Debug, Clone)]
pub struct Layout {
    pub context: Context,
    pub clips: Vec<ClipMap>,
    /// The param shown as the Transition param (Transition context).
    pub transition_param: Option<usize>,
    /// Long-running node: a push button runs it.
    pub run_button: bool,
}

impl Layout {
    fn temporal(&self) -> bool {
        self.clips
            .iter()
            .any(|c| c.ports.iter().any(|(_, o)| *o != 0))
    }
    /// The OFX name of param `i`.
    fn param_name<'a>(&self, i: usize, p: &'a ParamDesc) -> &'a str {
        if self.transition_param == Some(i) {
            kOfxImageEffectTransitionParamName
        } else {
            p.name
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn t_param(d: &NodeDesc) -> Option<usize> {
    d.param("t")
        .filter(|(_, p)| matches!(p.kind, ParamKind::Float { .. }))
        .map(|(i, _)| i)
}

fn required(d: &NodeDesc) -> Vec<usize> {
    (0..d.inputs.len())
        .filter(|&i| !d.inputs[i].optional)
        .collect()
}

/// The contexts a node is offered in.
pub fn contexts(d: &NodeDesc) -> Vec<Context> {
    let req = required(d).len();
    if d.long_running {
        vec![Context::General]
    } else if d.source {
        if d.inputs.is_empty() {
            vec![Context::Generator]
        } else {
            vec![Context::Generator, Context::General]
        }
    } else if req == 2 && t_param(d).is_some() {
        if d.temporal() {
            vec![Context::Transition, Context::General]
        } else {
            vec![Context::Transition]
        }
    } else if req == 1 {
        vec![Context::Filter]
    } else {
        vec![Context::General]
    }
}

/// The clips of a node in a context.
pub fn layout(d: &NodeDesc, context: Context) -> Layout {
    let own = |i: usize, name: String| ClipMap {
        label: capitalised(d.inputs[i].name),
        name,
        ports: vec![(i, 0)],
        optional: d.inputs[i].optional || d.source,
    };
    let req = required(d);
    let mut clips = Vec::new();
    let mut transition_param = None;
    match context {
        Context::Generator => {}
        Context::Filter | Context::Transition => {
            let names: &[&str] = if context == Context::Filter {
                &[kOfxImageEffectSimpleSourceClipName]
            } else {
                transition_param = t_param(d);
                &[
                    kOfxImageEffectTransitionSourceFromClipName,
                    kOfxImageEffectTransitionSourceToClipName,
                ]
            };
            for (k, &i) in req.iter().enumerate() {
                clips.push(ClipMap {
                    name: names[k].to_string(),
                    ..own(i, String::new())
                });
            }
            for i in (0..d.inputs.len()).filter(|i| !req.contains(i)) {
                clips.push(own(i, capitalised(d.inputs[i].name)));
            }
        }
        Context::General if d.temporal() && !d.long_running && !d.source => {
            // A retime of one clip: every required input is the Source clip at its offset.
            clips.push(ClipMap {
                name: kOfxImageEffectSimpleSourceClipName.into(),
                label: kOfxImageEffectSimpleSourceClipName.into(),
                ports: req.iter().map(|&i| (i, d.inputs[i].frame_offset)).collect(),
                optional: false,
            });
            for i in (0..d.inputs.len()).filter(|i| !req.contains(i)) {
                clips.push(own(i, capitalised(d.inputs[i].name)));
            }
        }
        Context::General => {
            for i in 0..d.inputs.len() {
                let name = if i == 0 {
                    kOfxImageEffectSimpleSourceClipName.to_string()
                } else {
                    capitalised(d.inputs[i].name)
                };
                clips.push(own(i, name));
            }
        }
    }
    Layout {
        context,
        clips,
        transition_param,
        run_button: d.long_running,
    }
}

// ---------------------------------------------------------------------------------------------
// Describe
// ---------------------------------------------------------------------------------------------

const DEPTHS: [&CStr; 4] = [
    kOfxBitDepthByte,
    kOfxBitDepthShort,
    kOfxBitDepthHalf,
    kOfxBitDepthFloat,
];
const COMPONENTS: [&CStr; 2] = [kOfxImageComponentRGBA, kOfxImageComponentRGB];

fn describe(s: &Suites, e: &NodeEntry, handle: *mut c_void) -> R<OfxStatus> {
    let d = &e.desc;
    let ps = s.effect_props(handle)?;
    s.set_str(ps, kOfxPropLabel, 0, d.label)?;
    s.set_str(ps, kOfxImageEffectPluginPropGrouping, 0, d.category)?;
    s.set_str(ps, kOfxPropPluginDescription, 0, d.help)?;
    let ctxs: Vec<&CStr> = contexts(d).into_iter().map(Context::name).collect();
    s.set_strs(ps, kOfxImageEffectPropSupportedContexts, &ctxs)?;
    s.set_strs(ps, kOfxImageEffectPropSupportedPixelDepths, &DEPTHS)?;
    s.set_int(ps, kOfxImageEffectPropSupportsTiles, 0, 0)?;
    s.set_int(ps, kOfxImageEffectPropSupportsMultiResolution, 0, 0)?;
    s.set_int(ps, kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0)?;
    s.set_int(
        ps,
        kOfxImageEffectPropTemporalClipAccess,
        0,
        d.temporal() as c_int,
    )?;
    s.set_int(ps, kOfxImageEffectPluginPropHostFrameThreading, 0, 0)?;
    s.set_int(ps, kOfxImageEffectPluginPropSingleInstance, 0, 0)?;
    s.set_int(ps, kOfxImageEffectPropSupportsMultipleClipPARs, 0, 0)?;
    // Fielded material is rendered as whole frames, once.
    s.set_int(ps, kOfxImageEffectPluginPropFieldRenderTwiceAlways, 0, 0)?;
    // Calls on one instance are serialised by its lock; instances run in parallel unless the
    // node itself is unsafe (then a process-wide lock serialises them too).
    let safety = match d.thread_safety {
        ThreadSafety::Unsafe => kOfxImageEffectRenderUnsafe,
        ThreadSafety::InstanceSafe | ThreadSafety::FullySafe => kOfxImageEffectRenderInstanceSafe,
    };
    s.set_str(
        ps,
        kOfxImageEffectPluginRenderThreadSafety,
        0,
        &safety.to_string_lossy(),
    )?;
    Ok(kOfxStatOK)
}

fn describe_in_context(
    s: &Suites,
    e: &NodeEntry,
    handle: *mut c_void,
    in_args: PS,
) -> R<OfxStatus> {
    let d = &e.desc;
    let name = s.get_str(in_args, kOfxImageEffectPropContext, 0)?;
    let ctx = Context::parse(&name)
        .filter(|c| contexts(d).contains(c))
        .ok_or_else(|| {
            OfxErr::new(
                kOfxStatErrUnsupported,
                format!("{} does not support the context '{name}'", d.id),
            )
        })?;
    let lay = layout(d, ctx);
    let define_clip = |name: &str| -> R<PS> {
        let c = cname(name);
        let mut ps = null_mut();
        // SAFETY: host descriptor handle (checked by effect_props in describe's path below).
        let st = unsafe { (host_fn!(s.effect.clip_define))(handle, c.as_ptr(), &mut ps) };
        check(st, || format!("clipDefine('{name}')"))?;
        Suites::nonnull(ps, kOfxImageEffectPropSupportedComponents)?;
        s.set_strs(ps, kOfxImageEffectPropSupportedComponents, &COMPONENTS)?;
        s.set_int(ps, kOfxImageEffectPropSupportsTiles, 0, 0)?;
        Ok(ps)
    };
    s.effect_props(handle)?;
    define_clip(kOfxImageEffectOutputClipName)?;
    for c in &lay.clips {
        let ps = define_clip(&c.name)?;
        s.set_str(ps, kOfxPropLabel, 0, &c.label)?;
        s.set_int(ps, kOfxImageClipPropOptional, 0, c.optional as c_int)?;
        let temporal = c.ports.iter().any(|(_, o)| *o != 0);
        s.set_int(
            ps,
            kOfxImageEffectPropTemporalClipAccess,
            0,
            temporal as c_int,
        )?;
    }
    let pset = s.param_set(handle)?;
    for (i, p) in d.params.iter().enumerate() {
        define_param(s, pset, lay.param_name(i, p), p)?;
    }
    if lay.run_button {
        let ps = param_define(s, pset, kOfxParamTypePushButton, RUN_BUTTON)?;
        s.set_str(ps, kOfxPropLabel, 0, d.label)?;
        s.set_str(
            ps,
            kOfxParamPropHint,
            0,
            &format!(
                "Run {} now on the current frame, with a progress bar (cancel stops it). The \
                 output shows the last result.",
                d.label
            ),
        )?;
    }
    Ok(kOfxStatOK)
}

fn param_define(s: &Suites, pset: OfxParamSetHandle, ty: &CStr, name: &str) -> R<PS> {
    let c = cname(name);
    let mut ps = null_mut();
    // SAFETY: host param set handle; valid out-pointer.
    let st = unsafe { (host_fn!(s.param.param_define))(pset, ty.as_ptr(), c.as_ptr(), &mut ps) };
    check(st, || format!("paramDefine('{name}')"))?;
    Suites::nonnull(ps, kOfxParamPropDefault)?;
    Ok(ps)
}

fn define_param(s: &Suites, pset: OfxParamSetHandle, name: &str, p: &ParamDesc) -> R<()> {
    let ty = match p.kind {
        ParamKind::Float { .. } => kOfxParamTypeDouble,
        ParamKind::Int { .. } => kOfxParamTypeInteger,
        ParamKind::Bool { .. } => kOfxParamTypeBoolean,
        ParamKind::Enum { .. } => kOfxParamTypeChoice,
        ParamKind::Str { .. } | ParamKind::Path { .. } => kOfxParamTypeString,
        ParamKind::Color { .. } => kOfxParamTypeRGBA,
    };
    let ps = param_define(s, pset, ty, name)?;
    s.set_str(ps, kOfxPropLabel, 0, p.label)?;
    s.set_str(ps, kOfxParamPropHint, 0, p.help)?;
    s.set_str(ps, kOfxParamPropScriptName, 0, name)?;
    s.set_int(ps, kOfxParamPropAnimates, 0, p.animatable as c_int)?;
    let clamp_i = |v: i64| v.clamp(c_int::MIN as i64, c_int::MAX as i64) as c_int;
    match &p.kind {
        ParamKind::Float { min, max, default } => {
            s.set_double(ps, kOfxParamPropDefault, 0, *default)?;
            for prop in [kOfxParamPropMin, kOfxParamPropDisplayMin] {
                s.set_double(ps, prop, 0, *min)?;
            }
            for prop in [kOfxParamPropMax, kOfxParamPropDisplayMax] {
                s.set_double(ps, prop, 0, *max)?;
            }
        }
        ParamKind::Int { min, max, default } => {
            s.set_int(ps, kOfxParamPropDefault, 0, clamp_i(*default))?;
            for prop in [kOfxParamPropMin, kOfxParamPropDisplayMin] {
                s.set_int(ps, prop, 0, clamp_i(*min))?;
            }
            for prop in [kOfxParamPropMax, kOfxParamPropDisplayMax] {
                s.set_int(ps, prop, 0, clamp_i(*max))?;
            }
        }
        ParamKind::Bool { default } => s.set_int(ps, kOfxParamPropDefault, 0, *default as c_int)?,
        ParamKind::Enum { choices, default } => {
            for (i, c) in choices.iter().enumerate() {
                s.set_str(ps, kOfxParamPropChoiceOption, i as c_int, c)?;
            }
            let k = choices.iter().position(|c| c == default).unwrap_or(0);
            s.set_int(ps, kOfxParamPropDefault, 0, k as c_int)?;
        }
        ParamKind::Str { default } => {
            s.set_str(ps, kOfxParamPropDefault, 0, default)?;
            let mode = kOfxParamStringIsSingleLine.to_string_lossy();
            s.set_str(ps, kOfxParamPropStringMode, 0, &mode)?;
        }
        ParamKind::Path { default } => {
            s.set_str(ps, kOfxParamPropDefault, 0, default)?;
            let mode = kOfxParamStringIsFilePath.to_string_lossy();
            s.set_str(ps, kOfxParamPropStringMode, 0, &mode)?;
            // Also output files and folders (training): the node checks existence itself.
            s.set_int(ps, kOfxParamPropStringFilePathExists, 0, 0)?;
        }
        ParamKind::Color { default } => s.set_doubles(ps, kOfxParamPropDefault, default)?,
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------------------------------

/// Wick's data behind an OFX instance (`kOfxPropInstanceData`).
struct OfxInstance {
    entry: &'static NodeEntry,
    layout: Layout,
    /// Serialises calls on one instance (renders on several threads, InstanceChanged).
    node: Mutex<Box<dyn Node>>,
    /// Long-running nodes: the result of the last run, shown by Render.
    result: Mutex<Option<Image>>,
}

static LIVE: LiveSet = LiveSet::new();

fn create_instance(s: &Suites, e: &'static NodeEntry, h: *mut c_void) -> R<OfxStatus> {
    let ps = s.effect_props(h)?;
    let name = s.get_str(ps, kOfxImageEffectPropContext, 0)?;
    let ctx = Context::parse(&name)
        .filter(|c| contexts(&e.desc).contains(c))
        .ok_or_else(|| {
            OfxErr::new(
                kOfxStatErrUnsupported,
                format!("{} does not support the context '{name}'", e.desc.id),
            )
        })?;
    let inst = Box::new(OfxInstance {
        entry: e,
        layout: layout(&e.desc, ctx),
        node: Mutex::new((e.create)()),
        result: Mutex::new(None),
    });
    let p = Box::into_raw(inst);
    let r = LIVE
        .insert(p as usize)
        .map_err(OfxErr::from)
        .and_then(|_| s.set_ptr(ps, kOfxPropInstanceData, p as *mut c_void));
    if let Err(e) = r {
        LIVE.remove(p as usize);
        // SAFETY: created above by Box::into_raw and not handed out.
        drop(unsafe { Box::from_raw(p) });
        return Err(e);
    }
    Ok(kOfxStatOK)
}

/// The live Wick instance behind an effect handle.
fn instance(s: &Suites, h: *mut c_void) -> R<&'static OfxInstance> {
    let ps = s.effect_props(h)?;
    // No instance data: a descriptor, or an instance CreateInstance failed for.
    let p = s
        .get_ptr(ps, kOfxPropInstanceData)
        .map_err(|e| OfxErr::bad_handle(format!("not a Wick instance: {}", e.msg)))?;
    if !LIVE.contains(p as usize) {
        return Err(OfxErr::bad_handle(
            "the effect handle carries no live Wick instance (not created, or destroyed)",
        ));
    }
    // SAFETY: live (created by create_instance, not yet destroyed); shared access only.
    Ok(unsafe { &*(p as *const OfxInstance) })
}

fn destroy_instance(s: &Suites, h: *mut c_void, inst: &'static OfxInstance) -> R<OfxStatus> {
    let p = inst as *const OfxInstance as *mut OfxInstance;
    if LIVE.remove(p as usize) {
        if let Ok(ps) = s.effect_props(h) {
            let _ = s.set_ptr(ps, kOfxPropInstanceData, null_mut());
        }
        // SAFETY: removed from the live table: no other call can reach it now.
        drop(unsafe { Box::from_raw(p) });
    }
    Ok(kOfxStatOK)
}

/// Reads every param of the node at `time`, validated by `Params::set`.
fn read_params(s: &Suites, inst: &OfxInstance, h: *mut c_void, time: f64) -> R<Params> {
    let d = &inst.entry.desc;
    let pset = s.param_set(h)?;
    let mut params = Params::new(&d.params);
    for (i, p) in d.params.iter().enumerate() {
        let name = inst.layout.param_name(i, p);
        let c = cname(name);
        let (mut ph, mut pps) = (null_mut(), null_mut());
        // SAFETY: host param set; valid out-pointers.
        let st =
            unsafe { (host_fn!(s.param.param_get_handle))(pset, c.as_ptr(), &mut ph, &mut pps) };
        check(st, || format!("paramGetHandle('{name}')"))?;
        if ph.is_null() {
            return Err(OfxErr::failed(format!("param '{name}' has a NULL handle")));
        }
        let get = host_fn!(s.param.param_get_value_at_time);
        let fail = |st| check(st, || format!("paramGetValueAtTime('{name}')"));
        // SAFETY (each call): the variadic getter with one out-pointer per component of the
        // param's OFX type, as ofxParam.h specifies (double*, int*, char**, 4 x double*).
        let v = match &p.kind {
            ParamKind::Float { .. } => {
                let mut x = 0f64;
                fail(unsafe { get(ph, time, &mut x as *mut f64) })?;
                Value::Float(x)
            }
            ParamKind::Int { .. } | ParamKind::Bool { .. } | ParamKind::Enum { .. } => {
                let mut n: c_int = 0;
                fail(unsafe { get(ph, time, &mut n as *mut c_int) })?;
                match &p.kind {
                    ParamKind::Bool { .. } => Value::Bool(n != 0),
                    ParamKind::Enum { choices, .. } => Value::Str(
                        choices
                            .get(usize::try_from(n).unwrap_or(usize::MAX))
                            .ok_or_else(|| {
                                OfxErr::failed(format!(
                                    "param '{name}': choice index {n} is out of range (0..{})",
                                    choices.len()
                                ))
                            })?
                            .to_string(),
                    ),
                    _ => Value::Int(n as i64),
                }
            }
            ParamKind::Str { .. } | ParamKind::Path { .. } => {
                let mut sp: *const c_char = null();
                fail(unsafe { get(ph, time, &mut sp as *mut *const c_char) })?;
                if sp.is_null() {
                    Value::Str(String::new())
                } else {
                    // SAFETY: non-null host string, NUL-terminated.
                    let cs = unsafe { CStr::from_ptr(sp) };
                    Value::Str(
                        cs.to_str()
                            .map_err(|_| {
                                OfxErr::failed(format!("param '{name}' is not valid UTF-8"))
                            })?
                            .to_string(),
                    )
                }
            }
            ParamKind::Color { .. } => {
                let mut c = [0f64; 4];
                let [r, g, b, a] = &mut c;
                fail(unsafe {
                    get(
                        ph,
                        time,
                        r as *mut f64,
                        g as *mut f64,
                        b as *mut f64,
                        a as *mut f64,
                    )
                })?;
                Value::Color(c)
            }
        };
        params.set(p.name, v)?;
    }
    Ok(params)
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/// A fetched image, released on drop (every path, panics included).
struct Fetched<'a> {
    s: &'a Suites,
    props: PS,
}

impl Drop for Fetched<'_> {
    fn drop(&mut self) {
        if let Some(release) = self.s.effect.clip_release_image {
            // SAFETY: a handle clipGetImage returned, released exactly once.
            unsafe { release(self.props) };
        }
    }
}

fn fetch<'a>(s: &'a Suites, clip: OfxImageClipHandle, name: &str, time: f64) -> R<Fetched<'a>> {
    let mut props = null_mut();
    // SAFETY: host clip handle; NULL region: the whole image; valid out-pointer.
    let st = unsafe { (host_fn!(s.effect.clip_get_image))(clip, time, null(), &mut props) };
    if st != kOfxStatOK {
        return Err(OfxErr::failed(format!(
            "clip '{name}' has no image at frame {time} (host status {st})"
        )));
    }
    if props.is_null() {
        return Err(OfxErr::failed(format!(
            "clipGetImage('{name}') succeeded but returned a NULL image"
        )));
    }
    Ok(Fetched { s, props })
}

/// A validated view of an OFX image: bottom-up rows `row_bytes` apart (either sign) from
/// `data`, the pixel at (bounds.x1, bounds.y1).
struct View {
    data: *mut u8,
    bounds: OfxRectI,
    row_bytes: isize,
    /// The same pixels as one contiguous top-down frame.
    fmt: FrameFormat,
}

fn sample_of(depth: &str) -> Option<SampleType> {
    [
        (kOfxBitDepthByte, SampleType::U8),
        (kOfxBitDepthShort, SampleType::U16),
        (kOfxBitDepthHalf, SampleType::F16),
        (kOfxBitDepthFloat, SampleType::F32),
    ]
    .into_iter()
    .find(|(c, _)| c.to_str() == Ok(depth))
    .map(|(_, t)| t)
}

impl View {
    fn new(s: &Suites, img: &Fetched, what: &str) -> R<View> {
        let ps = img.props;
        let data = s.get_ptr(ps, kOfxImagePropData)? as *mut u8;
        if data.is_null() {
            return Err(OfxErr::failed(format!("{what}: image data is NULL")));
        }
        let mut b = [0 as c_int; 4];
        for (i, v) in b.iter_mut().enumerate() {
            *v = s.get_int(ps, kOfxImagePropBounds, i as c_int)?;
        }
        let bounds = OfxRectI {
            x1: b[0],
            y1: b[1],
            x2: b[2],
            y2: b[3],
        };
        let (w, h) = (
            (bounds.x2 as i64) - (bounds.x1 as i64),
            (bounds.y2 as i64) - (bounds.y1 as i64),
        );
        if w <= 0 || h <= 0 {
            return Err(OfxErr::failed(format!(
                "{what}: empty image bounds {bounds:?}"
            )));
        }
        let depth = s.get_str(ps, kOfxImageEffectPropPixelDepth, 0)?;
        let sample = sample_of(&depth).ok_or_else(|| {
            OfxErr::from(NodeError::UnsupportedFormat(format!(
                "{what}: pixel depth '{depth}' is not supported (byte, short, half or float)"
            )))
        })?;
        let comps = s.get_str(ps, kOfxImageEffectPropComponents, 0)?;
        let channels = if kOfxImageComponentRGBA.to_str() == Ok(&comps) {
            4
        } else if kOfxImageComponentRGB.to_str() == Ok(&comps) {
            3
        } else {
            return Err(OfxErr::from(NodeError::UnsupportedFormat(format!(
                "{what}: components '{comps}' are not supported (RGBA or RGB)"
            ))));
        };
        let premultiplied = s
            .get_str(ps, kOfxImageEffectPropPreMultiplication, 0)
            .map(|p| kOfxImagePreMultiplied.to_str() == Ok(&p))
            .unwrap_or(false);
        let row_bytes = s.get_int(ps, kOfxImagePropRowBytes, 0)? as isize;
        let row = (w as usize) * channels * sample.size();
        let fmt = FrameFormat {
            width: w as usize,
            height: h as usize,
            stride: row,
            sample,
            channels,
            premultiplied,
            linear: matches!(sample, SampleType::F16 | SampleType::F32),
        };
        fmt.validate(u64::MAX, what)?;
        if row_bytes.unsigned_abs() < row {
            return Err(OfxErr::failed(format!(
                "{what}: row bytes {row_bytes} is shorter than a row of {w} pixels ({row} bytes)"
            )));
        }
        // The furthest row must be addressable.
        (h as isize - 1)
            .checked_mul(row_bytes)
            .ok_or_else(|| OfxErr::failed(format!("{what}: row bytes x height overflows")))?;
        Ok(View {
            data,
            bounds,
            row_bytes,
            fmt,
        })
    }

    /// Start of the `r`-th row from the top.
    fn row_ptr(&self, r: usize) -> *mut u8 {
        let from_bottom = (self.fmt.height - 1 - r) as isize;
        self.data.wrapping_offset(from_bottom * self.row_bytes)
    }

    fn contiguous_len(&self) -> R<usize> {
        self.fmt
            .required_len()
            .ok_or_else(|| OfxErr::failed("image size overflows"))
    }

    fn alloc(&self) -> R<Vec<u8>> {
        let n = self.contiguous_len()?;
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| {
            OfxErr::from(NodeError::OutOfMemory(format!(
                "cannot allocate {n} bytes for a {}x{} image",
                self.fmt.width, self.fmt.height
            )))
        })?;
        v.resize(n, 0);
        Ok(v)
    }

    /// Reads the image into Wick's working format (top-down).
    fn read(&self, what: &str) -> R<Image> {
        let mut buf = self.alloc()?;
        let row = self.fmt.stride;
        for r in 0..self.fmt.height {
            // SAFETY: validated view; each row holds `row` bytes at row_ptr(r) (host contract).
            let src = unsafe { std::slice::from_raw_parts(self.row_ptr(r), row) };
            buf[r * row..(r + 1) * row].copy_from_slice(src);
        }
        Ok(read_frame(&buf, &self.fmt, what)?)
    }

    /// Writes a working image of the view's size into the host image.
    fn write(&self, img: &Image) -> R<()> {
        let mut buf = self.alloc()?;
        write_frame(img, &mut buf, &self.fmt)?;
        let row = self.fmt.stride;
        for r in 0..self.fmt.height {
            // SAFETY: validated output view; the host owns `row` writable bytes per row.
            let dst = unsafe { std::slice::from_raw_parts_mut(self.row_ptr(r), row) };
            dst.copy_from_slice(&buf[r * row..(r + 1) * row]);
        }
        Ok(())
    }
}

/// Places `img` (at `from` bounds) into a transparent image of `to` bounds: inputs whose
/// bounds differ from the output's are cropped or padded, never resampled.
fn place(img: Image, from: OfxRectI, to: OfxRectI) -> R<Image> {
    if from == to {
        return Ok(img);
    }
    let tw = (to.x2 - to.x1) as usize;
    let th = (to.y2 - to.y1) as usize;
    let mut out = Image::new(tw, th)?;
    let (x1, x2) = (from.x1.max(to.x1), from.x2.min(to.x2));
    let (y1, y2) = (from.y1.max(to.y1), from.y2.min(to.y2));
    if x1 >= x2 || y1 >= y2 {
        return Ok(out);
    }
    let n = (x2 - x1) as usize * 4;
    for y in y1..y2 {
        let sr = (from.y2 - 1 - y) as usize;
        let dr = (to.y2 - 1 - y) as usize;
        let so = (sr * img.width + (x1 - from.x1) as usize) * 4;
        let d0 = (dr * tw + (x1 - to.x1) as usize) * 4;
        out.data[d0..d0 + n].copy_from_slice(&img.data[so..so + n]);
    }
    Ok(out)
}

/// Fetches every input of the node at `time` from its clip (at the port's frame offset), as
/// working images with the `target` bounds (or the first input's bounds when `None`).
fn fetch_inputs(
    s: &Suites,
    inst: &OfxInstance,
    h: *mut c_void,
    time: f64,
    mut target: Option<OfxRectI>,
) -> R<(Vec<Option<Image>>, Option<OfxRectI>)> {
    let d = &inst.entry.desc;
    let mut inputs: Vec<Option<Image>> = vec![None; d.inputs.len()];
    for c in &inst.layout.clips {
        let (clip, cps) = s.clip(h, &c.name)?;
        let connected = s.get_int(cps, kOfxImageClipPropConnected, 0).unwrap_or(1) != 0;
        if !connected {
            if c.optional {
                continue;
            }
            return Err(OfxErr::failed(format!(
                "{}: the {} clip is not connected",
                d.label, c.name
            )));
        }
        for &(port, off) in &c.ports {
            let what = format!("clip '{}' (input '{}')", c.name, d.inputs[port].name);
            // At the end of a clip the next frame does not exist: hold the current one.
            let img = match fetch(s, clip, &c.name, time + off as f64) {
                Err(_) if off != 0 => fetch(s, clip, &c.name, time)?,
                r => r?,
            };
            let v = View::new(s, &img, &what)?;
            let pixels = v.read(&what)?;
            drop(img);
            let to = *target.get_or_insert(v.bounds);
            inputs[port] = Some(place(pixels, v.bounds, to)?);
        }
    }
    Ok((inputs, target))
}

fn frame_rate(s: &Suites, h: *mut c_void) -> f64 {
    s.effect_props(h)
        .and_then(|ps| s.get_double(ps, kOfxImageEffectPropFrameRate, 0))
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(DEFAULT_FPS)
}

fn time_arg(s: &Suites, in_args: PS) -> R<f64> {
    let t = s.get_double(in_args, kOfxPropTime, 0)?;
    if !t.is_finite() {
        return Err(OfxErr::failed(format!("time {t} is not finite")));
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// Render and the other instance actions
// ---------------------------------------------------------------------------------------------

fn render(s: &Suites, inst: &OfxInstance, h: *mut c_void, in_args: PS) -> R<OfxStatus> {
    let d = &inst.entry.desc;
    let time = time_arg(s, in_args)?;
    let (out_clip, _) = s.clip(h, kOfxImageEffectOutputClipName)?;
    let out_img = fetch(s, out_clip, kOfxImageEffectOutputClipName, time)?;
    let out = View::new(s, &out_img, "output")?;
    let params = read_params(s, inst, h, time)?;
    let (w, hgt) = (out.fmt.width, out.fmt.height);

    if inst.layout.run_button {
        // Long-running node: show the last result; before the first run, pass the first input
        // through (or transparent black).
        let shown = inst
            .result
            .lock()
            .map_err(|_| OfxErr::failed("result lock poisoned"))?
            .clone()
            .filter(|r| r.width == w && r.height == hgt);
        let img = match shown {
            Some(r) => r,
            None => {
                let (mut inputs, _) = fetch_inputs(s, inst, h, time, Some(out.bounds))?;
                match inputs.iter_mut().find_map(Option::take) {
                    Some(i) => i,
                    None => Image::new(w, hgt)?,
                }
            }
        };
        out.write(&img)?;
        return Ok(kOfxStatOK);
    }

    let (inputs, _) = fetch_inputs(s, inst, h, time, Some(out.bounds))?;
    let mut outputs = Vec::with_capacity(d.outputs.len());
    for _ in &d.outputs {
        outputs.push(Image::new(w, hgt)?);
    }
    let abort = host_fn!(s.effect.abort);
    // SAFETY: the host's abort query on this instance's handle.
    let mut aborted = move |_f: f64, _m: &str| (unsafe { abort(h) }) != 0;
    let mut ctx = ProcessCtx::new(
        time / frame_rate(s, h),
        time.round() as i64,
        Some(&mut aborted),
    );
    {
        let mut node = inst.node.lock().unwrap_or_else(|e| e.into_inner());
        run_images(d, node.as_mut(), &mut ctx, &params, &inputs, &mut outputs)?;
    }
    let first = outputs
        .first()
        .ok_or_else(|| OfxErr::failed(format!("{} has no output", d.id)))?;
    out.write(first)?;
    drop(out_img);
    Ok(kOfxStatOK)
}

/// Generators: the RoD is the `width` x `height` params (canonical coordinates; a proxy render
/// then gets a scaled image). Others: the host's default (the inputs' RoD).
fn region_of_definition(
    s: &Suites,
    inst: &OfxInstance,
    h: *mut c_void,
    in_args: PS,
    out_args: PS,
) -> R<OfxStatus> {
    let d = &inst.entry.desc;
    let sized = matches!(
        (d.param("width"), d.param("height")),
        (Some((_, w)), Some((_, hh)))
            if matches!(w.kind, ParamKind::Int { .. }) && matches!(hh.kind, ParamKind::Int { .. })
    );
    if inst.layout.context != Context::Generator || !sized {
        return Ok(kOfxStatReplyDefault);
    }
    let time = time_arg(s, in_args)?;
    let p = read_params(s, inst, h, time)?;
    let (w, hh) = (p.i64("width") as f64, p.i64("height") as f64);
    s.set_doubles(
        out_args,
        kOfxImageEffectPropRegionOfDefinition,
        &[0.0, 0.0, w, hh],
    )?;
    Ok(kOfxStatOK)
}

/// Temporal clips ask for every frame their inputs are read at.
fn frames_needed(s: &Suites, inst: &OfxInstance, in_args: PS, out_args: PS) -> R<OfxStatus> {
    if !inst.layout.temporal() {
        return Ok(kOfxStatReplyDefault);
    }
    let time = time_arg(s, in_args)?;
    for c in &inst.layout.clips {
        let lo = c.ports.iter().map(|(_, o)| *o).min().unwrap_or(0) as f64;
        let hi = c.ports.iter().map(|(_, o)| *o).max().unwrap_or(0) as f64;
        let prop = cname(&format!("{FRAME_RANGE_PREFIX}{}", c.name));
        s.set_doubles(out_args, &prop, &[time + lo, time + hi])?;
    }
    Ok(kOfxStatOK)
}

/// Generators output premultiplied RGBA; for the rest the host's default (the output follows
/// the source clip) is right.
fn clip_preferences(s: &Suites, inst: &OfxInstance, out_args: PS) -> R<OfxStatus> {
    if inst.layout.context != Context::Generator {
        return Ok(kOfxStatReplyDefault);
    }
    let comps = cname(&format!(
        "{CLIP_COMPONENTS_PREFIX}{kOfxImageEffectOutputClipName}"
    ));
    s.set_str(
        out_args,
        &comps,
        0,
        &kOfxImageComponentRGBA.to_string_lossy(),
    )?;
    s.set_str(
        out_args,
        kOfxImageEffectPropPreMultiplication,
        0,
        &kOfxImagePreMultiplied.to_string_lossy(),
    )?;
    Ok(kOfxStatOK)
}

/// The run button of long-running nodes: runs the node on the current frame with the progress
/// suite (cancel stops it), keeping the result for Render.
fn instance_changed(s: &Suites, inst: &OfxInstance, h: *mut c_void, in_args: PS) -> R<OfxStatus> {
    let ty = s.get_str(in_args, kOfxPropType, 0)?;
    let name = s.get_str(in_args, kOfxPropName, 0)?;
    if !inst.layout.run_button
        || kOfxTypeParameter.to_str() != Ok(ty.as_str())
        || name != RUN_BUTTON
    {
        return Ok(kOfxStatReplyDefault);
    }
    let d = &inst.entry.desc;
    let time = time_arg(s, in_args).unwrap_or(0.0);
    let params = read_params(s, inst, h, time)?;
    let (inputs, bounds) = fetch_inputs(s, inst, h, time, None)?;
    let (w, hh) = match bounds {
        Some(b) => ((b.x2 - b.x1) as usize, (b.y2 - b.y1) as usize),
        None if d.param("width").is_some() && d.param("height").is_some() => (
            params.i64("width").max(1) as usize,
            params.i64("height").max(1) as usize,
        ),
        None => {
            let ps = s.effect_props(h)?;
            let w = s
                .get_double(ps, kOfxImageEffectPropProjectSize, 0)
                .unwrap_or(640.0);
            let hh = s
                .get_double(ps, kOfxImageEffectPropProjectSize, 1)
                .unwrap_or(360.0);
            (
                w.clamp(1.0, 32768.0) as usize,
                hh.clamp(1.0, 32768.0) as usize,
            )
        }
    };
    let mut outputs = Vec::with_capacity(d.outputs.len());
    for _ in &d.outputs {
        outputs.push(Image::new(w, hh)?);
    }
    let progress = s.progress;
    if let Some(p) = progress {
        let label = to_cstring(d.label);
        // SAFETY: host progress suite on this instance's handle.
        if let Some(start) = p.progress_start {
            unsafe { start(h, label.as_ptr()) };
        }
    }
    let mut update = move |f: f64, _m: &str| match progress {
        // SAFETY: between progressStart and progressEnd on this instance.
        Some(OfxProgressSuiteV1 {
            progress_update: Some(update),
            ..
        }) => (unsafe { update(h, f) }) == kOfxStatReplyNo,
        Some(_) => false,
        None => false,
    };
    let mut ctx = ProcessCtx::new(
        time / frame_rate(s, h),
        time.round() as i64,
        Some(&mut update),
    );
    let r = {
        let mut node = inst.node.lock().unwrap_or_else(|e| e.into_inner());
        contain(|| run_images(d, node.as_mut(), &mut ctx, &params, &inputs, &mut outputs))
    };
    if let Some(p) = progress {
        // SAFETY: ends the progress started above, on every path.
        if let Some(end) = p.progress_end {
            unsafe { end(h) };
        }
    }
    match r {
        Ok(()) => {
            let first = outputs.into_iter().next();
            *inst
                .result
                .lock()
                .map_err(|_| OfxErr::failed("result lock poisoned"))? = first;
            Ok(kOfxStatOK)
        }
        Err(NodeError::Cancelled) => {
            s.post(
                h,
                kOfxMessageMessage,
                &format!("{} was cancelled.", d.label),
            );
            Ok(kOfxStatOK)
        }
        Err(e) => Err(e.into()),
    }
}
