//! The host: `setHost`, the suites fetched at Load, what the host says it can do, and property
//! access that tells a property the host does not define (skipped, noted once) from a failure.

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::sys::*;
use super::{cname, pname, OfxErr, PS, R};
use crate::adapter::to_cstring;

pub(super) static HOST: AtomicPtr<OfxHost> = AtomicPtr::new(null_mut());
static SUITES: RwLock<Option<Suites>> = RwLock::new(None);
static LOADS: AtomicUsize = AtomicUsize::new(0);

/// What the host's property set says it can do (ofxImageEffect.h "ImageEffectHost"). A
/// property the host does not define leaves the permissive default: the spec's defaults, or
/// "can" where a host that cannot would have to say so.
#[derive(Debug, Clone)]
pub(super) struct HostCaps {
    /// kOfxImageEffectPropSupportedPixelDepths; empty: the host did not say.
    pub depths: Vec<String>,
    /// kOfxImageEffectPropSupportedComponents; empty: the host did not say.
    pub components: Vec<String>,
    pub multiple_clip_depths: bool,
    pub temporal_clip_access: bool,
    pub multi_resolution: bool,
    /// kOfxPropName and kOfxPropLabel (empty: not given): who the host is, for what Wick
    /// knows of particular hosts (`untagged.rs`).
    pub name: String,
    pub label: String,
}

impl HostCaps {
    fn read(s: &Suites, host: PS) -> HostCaps {
        let strs = |p: &CStr| -> Vec<String> {
            let mut v = Vec::new();
            for i in 0..64 {
                match s.get_str(host, p, i) {
                    Ok(x) if !x.is_empty() => v.push(x),
                    _ => break,
                }
            }
            v
        };
        let flag =
            |p: &CStr, default: bool| s.get_int(host, p, 0).map(|v| v != 0).unwrap_or(default);
        HostCaps {
            depths: strs(kOfxImageEffectPropSupportedPixelDepths),
            components: strs(kOfxImageEffectPropSupportedComponents),
            multiple_clip_depths: flag(kOfxImageEffectPropSupportsMultipleClipDepths, false),
            temporal_clip_access: flag(kOfxImageEffectPropTemporalClipAccess, true),
            multi_resolution: flag(kOfxImageEffectPropSupportsMultiResolution, true),
            name: s.get_str(host, kOfxPropName, 0).unwrap_or_default(),
            label: s.get_str(host, kOfxPropLabel, 0).unwrap_or_default(),
        }
    }

    /// A permissive host (before Load, or in tests of this module).
    fn unknown() -> HostCaps {
        HostCaps {
            depths: Vec::new(),
            components: Vec::new(),
            multiple_clip_depths: false,
            temporal_clip_access: true,
            multi_resolution: true,
            name: String::new(),
            label: String::new(),
        }
    }

    /// Whether the host supports this component type (or did not say).
    pub fn has_component(&self, c: &CStr) -> bool {
        self.components.is_empty() || self.components.iter().any(|x| c.to_str() == Ok(x))
    }
}

/// The suites fetched in Load, and the host's capabilities. Mandatory: property, image effect,
/// parameter (every node has params). Optional: message (errors), progress (long-running
/// nodes).
#[derive(Clone)]
pub(super) struct Suites {
    pub prop: &'static OfxPropertySuiteV1,
    pub effect: &'static OfxImageEffectSuiteV1,
    pub param: &'static OfxParameterSuiteV1,
    pub message: Option<&'static OfxMessageSuiteV1>,
    pub progress: Option<&'static OfxProgressSuiteV1>,
    pub caps: Arc<HostCaps>,
}

/// A host function of a suite, or kOfxStatErrMissingHostFeature when the host left it NULL
/// (Load refuses such a host for the functions Wick cannot do without, so this is a second
/// line).
macro_rules! host_fn {
    ($f:expr) => {
        $f.ok_or_else(|| {
            $crate::ofx::OfxErr::new(
                $crate::ofx::sys::kOfxStatErrMissingHostFeature,
                concat!("the host's ", stringify!($f), " is NULL"),
            )
        })?
    };
}
pub(super) use host_fn;

/// Checks that a mandatory suite has every function Wick cannot do without.
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

pub(super) fn suites() -> R<Suites> {
    SUITES
        .read()
        .map_err(|_| OfxErr::failed("suite table poisoned"))?
        .clone()
        .ok_or_else(|| OfxErr::failed("the host called an action before kOfxActionLoad"))
}

pub(super) fn load() -> R<OfxStatus> {
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
    let mut s = Suites {
        prop: unsafe { &*(need(kOfxPropertySuite)? as *const OfxPropertySuiteV1) },
        effect: unsafe { &*(need(kOfxImageEffectSuite)? as *const OfxImageEffectSuiteV1) },
        param: unsafe { &*(need(kOfxParameterSuite)? as *const OfxParameterSuiteV1) },
        message: unsafe { (get(kOfxMessageSuite, 1) as *const OfxMessageSuiteV1).as_ref() },
        progress: unsafe { (get(kOfxProgressSuite, 1) as *const OfxProgressSuiteV1).as_ref() },
        caps: Arc::new(HostCaps::unknown()),
    };
    require!(s.prop, "OfxPropertySuite": prop_set_pointer, prop_set_string, prop_set_double,
        prop_set_int, prop_get_pointer, prop_get_string, prop_get_double, prop_get_int);
    require!(s.effect, "OfxImageEffectSuite": get_property_set, get_param_set, clip_define,
        clip_get_handle, clip_get_image, clip_release_image);
    require!(s.param, "OfxParameterSuite": param_define, param_get_handle);
    // A value getter: at a time (preferred) or the current value.
    if s.param.param_get_value_at_time.is_none() && s.param.param_get_value.is_none() {
        return Err(OfxErr::new(
            kOfxStatErrMissingHostFeature,
            "the host's OfxParameterSuite lacks both param_get_value_at_time and \
             param_get_value; Wick cannot load",
        ));
    }
    if !h.host.is_null() {
        s.caps = Arc::new(HostCaps::read(&s, h.host));
    }
    *SUITES
        .write()
        .map_err(|_| OfxErr::failed("suite table poisoned"))? = Some(s);
    LOADS.fetch_add(1, Ordering::AcqRel);
    Ok(kOfxStatOK)
}

pub(super) fn unload() -> R<OfxStatus> {
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

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// An error from a host function, keeping the host's status.
fn check(st: OfxStatus, what: impl FnOnce() -> String) -> R<()> {
    if st == kOfxStatOK {
        Ok(())
    } else {
        Err(OfxErr {
            host: Some(st),
            ..OfxErr::failed(format!("{} (host status {st})", what()))
        })
    }
}

/// Notes (once per process and key) something the host lacks, in the host's log when it has a
/// message suite. Never with an effect handle: the note is about the host, and some hosts take
/// any handle for an instance.
pub(super) fn note_once(s: &Suites, key: &str, msg: &str) {
    static NOTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let first = NOTED
        .lock()
        .map(|mut g| g.get_or_insert_with(HashSet::new).insert(key.to_string()))
        .unwrap_or(false);
    if first {
        s.post(null_mut(), kOfxMessageLog, &format!("Wick: {msg}"));
    }
}

impl Suites {
    pub fn nonnull(ps: PS, prop: &CStr) -> R<()> {
        if ps.is_null() {
            Err(OfxErr::bad_handle(format!(
                "property set is NULL (reading {})",
                pname(prop)
            )))
        } else {
            Ok(())
        }
    }

    /// A property set Wick may skip: when the host does not define the property
    /// (kOfxStatErrUnknown) or that many values (kOfxStatErrBadIndex), it is noted once and
    /// skipped. Other failures stay failures.
    pub fn optional(&self, r: R<()>, prop: &CStr, object: &str) -> R<()> {
        match r {
            Err(e) if e.undefined_by_host() => {
                let p = pname(prop);
                note_once(
                    self,
                    &format!("{object}/{p}"),
                    &format!(
                        "this host does not define {p} on {object} (status {}); Wick goes on \
                         without it",
                        e.host.unwrap_or_default()
                    ),
                );
                Ok(())
            }
            r => r,
        }
    }

    pub fn set_str(&self, ps: PS, prop: &CStr, i: c_int, v: &str) -> R<()> {
        Self::nonnull(ps, prop)?;
        let c = cname(v);
        // SAFETY: non-null host property set; NUL-terminated name and value.
        let st = unsafe { (host_fn!(self.prop.prop_set_string))(ps, prop.as_ptr(), i, c.as_ptr()) };
        check(st, || format!("setting {}", pname(prop)))
    }
    pub fn set_cstr(&self, ps: PS, prop: &CStr, i: c_int, v: &CStr) -> R<()> {
        self.set_str(ps, prop, i, &v.to_string_lossy())
    }
    pub fn set_strs(&self, ps: PS, prop: &CStr, v: &[&CStr]) -> R<()> {
        for (i, s) in v.iter().enumerate() {
            self.set_cstr(ps, prop, i as c_int, s)?;
        }
        Ok(())
    }
    pub fn set_int(&self, ps: PS, prop: &CStr, i: c_int, v: c_int) -> R<()> {
        Self::nonnull(ps, prop)?;
        // SAFETY: as set_str.
        let st = unsafe { (host_fn!(self.prop.prop_set_int))(ps, prop.as_ptr(), i, v) };
        check(st, || format!("setting {}", pname(prop)))
    }
    pub fn set_double(&self, ps: PS, prop: &CStr, i: c_int, v: f64) -> R<()> {
        Self::nonnull(ps, prop)?;
        // SAFETY: as set_str.
        let st = unsafe { (host_fn!(self.prop.prop_set_double))(ps, prop.as_ptr(), i, v) };
        check(st, || format!("setting {}", pname(prop)))
    }
    pub fn set_doubles(&self, ps: PS, prop: &CStr, v: &[f64]) -> R<()> {
        for (i, x) in v.iter().enumerate() {
            self.set_double(ps, prop, i as c_int, *x)?;
        }
        Ok(())
    }
    pub fn set_ptr(&self, ps: PS, prop: &CStr, v: *mut c_void) -> R<()> {
        Self::nonnull(ps, prop)?;
        // SAFETY: as set_str.
        let st = unsafe { (host_fn!(self.prop.prop_set_pointer))(ps, prop.as_ptr(), 0, v) };
        check(st, || format!("setting {}", pname(prop)))
    }
    pub fn get_str(&self, ps: PS, prop: &CStr, i: c_int) -> R<String> {
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
    pub fn get_int(&self, ps: PS, prop: &CStr, i: c_int) -> R<c_int> {
        Self::nonnull(ps, prop)?;
        let mut v: c_int = 0;
        // SAFETY: as get_str.
        let st = unsafe { (host_fn!(self.prop.prop_get_int))(ps, prop.as_ptr(), i, &mut v) };
        check(st, || format!("reading {}", pname(prop)))?;
        Ok(v)
    }
    pub fn get_double(&self, ps: PS, prop: &CStr, i: c_int) -> R<f64> {
        Self::nonnull(ps, prop)?;
        let mut v = 0.0;
        // SAFETY: as get_str.
        let st = unsafe { (host_fn!(self.prop.prop_get_double))(ps, prop.as_ptr(), i, &mut v) };
        check(st, || format!("reading {}", pname(prop)))?;
        Ok(v)
    }
    pub fn get_ptr(&self, ps: PS, prop: &CStr) -> R<*mut c_void> {
        Self::nonnull(ps, prop)?;
        let mut v: *mut c_void = null_mut();
        // SAFETY: as get_str.
        let st = unsafe { (host_fn!(self.prop.prop_get_pointer))(ps, prop.as_ptr(), 0, &mut v) };
        check(st, || format!("reading {}", pname(prop)))?;
        Ok(v)
    }

    // ----- image effect suite ----------------------------------------------------------------

    pub fn effect_props(&self, h: OfxImageEffectHandle) -> R<PS> {
        if h.is_null() {
            return Err(OfxErr::bad_handle("the effect handle is NULL"));
        }
        let mut ps = null_mut();
        // SAFETY: non-null effect handle from the host; valid out-pointer.
        let st = unsafe { (host_fn!(self.effect.get_property_set))(h, &mut ps) };
        check(st, || "getPropertySet on the effect".into())?;
        Self::nonnull(ps, kOfxPropName).map(|_| ps)
    }
    pub fn param_set(&self, h: OfxImageEffectHandle) -> R<OfxParamSetHandle> {
        let mut ps = null_mut();
        // SAFETY: as effect_props (checked non-null there first by every caller's path).
        let st = unsafe { (host_fn!(self.effect.get_param_set))(h, &mut ps) };
        check(st, || "getParamSet on the effect".into())?;
        if ps.is_null() {
            return Err(OfxErr::failed("the host returned a NULL param set"));
        }
        Ok(ps)
    }
    pub fn clip(&self, h: OfxImageEffectHandle, name: &str) -> R<(OfxImageClipHandle, PS)> {
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
    /// Whether the host wants the current render abandoned (never, when it has no abort).
    pub fn aborted(&self, h: OfxImageEffectHandle) -> bool {
        match self.effect.abort {
            // SAFETY: the host's abort query on an instance handle it passed to this action.
            Some(abort) => (unsafe { abort(h) }) != 0,
            None => false,
        }
    }

    /// Posts an error or message through the message suite, when the host has one. `handle`:
    /// an instance handle or NULL (never a descriptor's).
    pub fn post(&self, handle: *mut c_void, kind: &CStr, msg: &str) {
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
