//! The OpenFX adapter over the `Node` trait: one OFX image-effect plugin per Wick node, all in
//! this library (`OfxGetNumberOfPlugins` / `OfxGetPlugin`), packaged as
//! `Wick.ofx.bundle/Contents/Linux-x86-64/Wick.ofx` by `scripts/build-ofx.sh`. Written for the
//! OpenFX 1.4 API plus the 1.5 colour management (`ofxColour.h`), from the official headers
//! (`sys.rs` names the commit; `spec_check` compares every constant with them).
//!
//! Files, along the adapter's sections:
//! - `sys.rs`: the C declarations; `spec.rs` (tests only): the table the headers give;
//! - `host.rs`: the host, its suites and capabilities (Load/Unload), property access;
//! - `describe.rs`: contexts, clip layout, Describe / DescribeInContext, param descriptors;
//! - `params.rs`: reading param values (defaults where the host cannot give one, clamping);
//! - `clips.rs`: images (validated views, fetching inputs, colour encodings);
//! - `untagged.rs`: what *auto* takes a float image without a colourspace for (the host, and
//!   in Natron whether OpenColorIO is loaded);
//! - `render.rs`: instances and the instance actions (Render, RoD, frames needed, clip and
//!   colour preferences, the run button).
//!
//! Contexts come from each node's descriptor:
//! - source nodes: **Generator** (output size = the project size, or the `width`/`height`
//!   params when set), plus **General** with their inputs as optional clips when they have any;
//! - one required input: **Filter** (`Source`; further optional inputs are optional clips named
//!   after the port, capitalised, fetched at their own frame offsets);
//! - two required inputs and a float param `t` (interpolation): **Transition** (`SourceFrom`,
//!   `SourceTo`, the `Transition` param is `t`), and, when an input has a `frame_offset` and
//!   the host has temporal clip access, **General** with one `Source` clip fetched at each
//!   input's offset (GetFramesNeeded asks for them): a retime of one clip;
//! - long-running nodes (training): **General**, plus a push button that runs the node in
//!   InstanceChanged under the progress suite (cancel aborts the run); Render shows the last
//!   result.
//!
//! Pixels: byte, short, half and float; RGBA and RGB; premultiplied or not. Byte and short
//! images are sRGB-encoded. What a float image is, is the `wick_float_input` param's: `auto`
//! takes the clip's colourspace where the host offers OFX 1.5 colour management, else linear
//! light (the OpenFX convention), except in Natron with no OpenColorIO library loaded, where
//! nothing could have linearised and floats are the files' sRGB-encoded values
//! (`untagged.rs`); `linear`, `sRGB` and `as is` override it (docs/hosts.md says which to pick
//! in the hosts Wick was run in). Whole frames only (no tiles); proxy renders run the node on
//! the proxy-size image.
//!
//! Hosts differ, as the spec allows: a property the host does not define is skipped (noted
//! once in the host's log), a param the host cannot give falls back to its default (one
//! warning per instance and param), values outside a param's range are clamped, and only the
//! property, image effect and parameter suites (and the functions of them Wick cannot do
//! without) are required at Load.
//!
//! Every action runs under `catch_unwind`, checks every handle, suite and property result, and
//! releases every fetched image on every path (a drop guard). Errors return kOfxStatFailed (or
//! kOfxStatErrMemory, kOfxStatErrBadHandle, kOfxStatErrMissingHostFeature) with the message
//! posted through the message suite when the host has one, and kept as the library's
//! thread last-error (`wick_entry.last_error`).

pub mod sys;

mod clips;
mod describe;
mod host;
mod params;
mod render;
#[cfg(test)]
#[rustfmt::skip]
mod spec;
#[cfg(test)]
mod spec_check;
mod untagged;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::null_mut;
use std::sync::atomic::Ordering;

use once_cell::sync::Lazy;

use crate::adapter::{contain, to_cstring};
use crate::node::NodeError;
use crate::nodes;
pub use describe::{contexts, layout, ClipMap, Context, Layout};
use host::suites;
pub use params::FLOAT_INPUT_PARAM;
use sys::*;

/// How many plugins one binary can expose (one `mainEntry` trampoline each).
const MAX_PLUGINS: usize = 32;
/// The push button of long-running nodes.
pub const RUN_BUTTON: &str = "wick_run";

type PS = OfxPropertySetHandle;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An OFX status with its message. `quiet`: not posted through the message suite (a
/// host-requested abort, or a failed Load). `host`: the status a host function returned, when
/// the error is one (a property the host does not define answers kOfxStatErrUnknown).
#[derive(Debug)]
struct OfxErr {
    status: OfxStatus,
    msg: String,
    quiet: bool,
    host: Option<OfxStatus>,
}

type R<T> = Result<T, OfxErr>;

impl OfxErr {
    fn new(status: OfxStatus, msg: impl Into<String>) -> Self {
        Self {
            status,
            msg: msg.into(),
            quiet: false,
            host: None,
        }
    }
    fn failed(msg: impl Into<String>) -> Self {
        Self::new(kOfxStatFailed, msg)
    }
    fn bad_handle(msg: impl Into<String>) -> Self {
        Self::new(kOfxStatErrBadHandle, msg)
    }
    /// The host does not define the property (or index) asked for: the spec lets hosts lack
    /// optional properties.
    fn undefined_by_host(&self) -> bool {
        matches!(self.host, Some(st) if st == kOfxStatErrUnknown || st == kOfxStatErrBadIndex)
    }
}

impl From<NodeError> for OfxErr {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::OutOfMemory(m) => OfxErr::new(kOfxStatErrMemory, m),
            NodeError::Cancelled => OfxErr {
                quiet: true,
                ..OfxErr::new(kOfxStatFailed, "cancelled")
            },
            e => OfxErr::failed(e.to_string()),
        }
    }
}

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
        host::HOST.store(host, Ordering::Release);
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
                        // Only an instance handle is passed: some hosts (HostSupport) take any
                        // non-NULL handle for an instance, so a descriptor's would be misread.
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
        return host::load().map_err(|e| OfxErr { quiet: true, ..e });
    }
    if action == kOfxActionUnload {
        return host::unload();
    }
    let s = suites()?;
    if action == kOfxActionDescribe {
        return describe::describe(&s, entry, handle);
    }
    if action == kOfxImageEffectActionDescribeInContext {
        return describe::describe_in_context(&s, entry, handle, in_args);
    }
    if action == kOfxActionCreateInstance {
        *is_instance_action = true;
        return render::create_instance(&s, entry, handle);
    }
    let known = [
        kOfxActionDestroyInstance,
        kOfxImageEffectActionRender,
        kOfxImageEffectActionGetRegionOfDefinition,
        kOfxImageEffectActionGetFramesNeeded,
        kOfxImageEffectActionGetClipPreferences,
        kOfxImageEffectActionGetOutputColourspace,
        kOfxActionInstanceChanged,
    ];
    if !known.contains(&action) {
        return Ok(kOfxStatReplyDefault);
    }
    *is_instance_action = true;
    let inst = render::instance(&s, handle)?;
    if action == kOfxActionDestroyInstance {
        render::destroy_instance(&s, handle, inst)
    } else if action == kOfxImageEffectActionRender {
        render::render(&s, inst, handle, in_args)
    } else if action == kOfxImageEffectActionGetRegionOfDefinition {
        render::region_of_definition(&s, inst, handle, in_args, out_args)
    } else if action == kOfxImageEffectActionGetFramesNeeded {
        render::frames_needed(&s, inst, handle, in_args, out_args)
    } else if action == kOfxImageEffectActionGetClipPreferences {
        render::clip_preferences(&s, inst, handle, out_args)
    } else if action == kOfxImageEffectActionGetOutputColourspace {
        render::output_colourspace(&s, inst, handle, in_args, out_args)
    } else {
        render::instance_changed(&s, inst, handle, in_args)
    }
}

/// `s` as a property name (for messages).
fn pname(p: &CStr) -> String {
    p.to_string_lossy().into_owned()
}

/// A C string for a host call.
fn cname(s: &str) -> CString {
    to_cstring(s)
}
