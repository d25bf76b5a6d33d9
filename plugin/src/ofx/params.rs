//! Params as OpenFX shows them and reading their values through the host's getters. A host may
//! lack a param type (no handle), refuse a value (kOfxStatErrMissingHostFeature) or give one
//! outside the declared range: the adapter core's policy (`adapter::params::read`) then uses
//! the param's default (one warning per instance and param) or clamps the value (noted in the
//! host's log), and the render goes on.

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use super::describe::Context;
use super::host::Suites;
use super::sys::*;
use super::{cname, OfxErr, R};
use crate::adapter::params::{self, Note, NoteKind, Read as Got};
use crate::node::{NodeDesc, NodeError, ParamDesc, ParamKind, ParamRole, Params, Value};

/// The adapter's own param: what a float image is (the colour encoding of half and float
/// clips).
pub const FLOAT_INPUT_PARAM: &str = "wick_float_input";
const FLOAT_CHOICES: &[&str] = &["auto", "linear", "sRGB", "as is"];
const FLOAT_HELP: &str = "What float (half and float) images are, in and out. auto: the clip's \
    colourspace where the host manages colour (OpenFX 1.5), else linear light (the OpenFX \
    convention), except in Natron with no OpenColorIO loaded, whose readers do not linearise: \
    sRGB-encoded. linear: scene-linear Rec.709 (Wick converts to and from sRGB around the \
    network). sRGB: sRGB-encoded values, e.g. from a reader that does not linearise (no \
    conversion). as is: no conversion, and no colourspace asked of the host (log or graded \
    footage you want processed as it is). Byte and short images are always sRGB-encoded.";

/// What a float image is (`wick_float_input`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FloatInput {
    Auto,
    Linear,
    Srgb,
    AsIs,
}

/// A param as Wick declares it to the host: the node's, or changed for OpenFX.
pub(super) struct OfxParam {
    pub desc: ParamDesc,
    pub label: String,
    pub hint: String,
}

/// Generator contexts size the output from the project: the output-size params (roles) default
/// to 0, which means the project size; a non-zero value overrides it.
fn project_sized(ctx: Context, p: &ParamDesc) -> bool {
    ctx == Context::Generator
        && matches!(
            p.role,
            Some(ParamRole::OutputWidth | ParamRole::OutputHeight)
        )
        && matches!(p.kind, ParamKind::Int { .. })
}

/// How node param `p` is declared in `ctx`.
pub(super) fn ofx_param(ctx: Context, p: &ParamDesc) -> OfxParam {
    let mut desc = p.clone();
    let mut hint = p.help.to_string();
    if project_sized(ctx, p) {
        if let ParamKind::Int { max, .. } = p.kind {
            desc.kind = ParamKind::Int {
                min: 0,
                max,
                default: 0,
            };
            hint = format!("{hint} 0: the project size (the default).");
        }
    }
    OfxParam {
        label: desc.label.to_string(),
        hint,
        desc,
    }
}

/// Params the adapter adds to every node in every context.
pub(super) fn adapter_params(_d: &NodeDesc, _ctx: Context) -> Vec<OfxParam> {
    let desc = ParamDesc::new(
        FLOAT_INPUT_PARAM,
        "Float input is",
        FLOAT_HELP,
        ParamKind::Enum {
            choices: FLOAT_CHOICES,
            default: "auto",
        },
    );
    vec![OfxParam {
        label: desc.label.to_string(),
        hint: FLOAT_HELP.to_string(),
        desc,
    }]
}

/// The node's params at a time, and the adapter's.
pub(super) struct Read {
    pub params: Params,
    pub float_input: FloatInput,
    /// Generator output width/height (roles) left at 0: the output is the project size.
    pub project_width: bool,
    pub project_height: bool,
}

/// Per instance: the params already warned about (one warning each).
#[derive(Default)]
pub(super) struct Warned(Mutex<HashSet<String>>);

impl Warned {
    fn first(&self, key: &str) -> bool {
        self.0
            .lock()
            .map(|mut g| g.insert(key.to_string()))
            .unwrap_or(false)
    }
}

/// Reads one param's value through the variadic getter, at `time` when the host has
/// paramGetValueAtTime.
fn get_value(
    s: &Suites,
    pset: OfxParamSetHandle,
    name: &str,
    kind: &ParamKind,
    time: f64,
) -> R<Got> {
    let c = cname(name);
    let (mut ph, mut pps) = (null_mut(), null_mut());
    let get_handle = match s.param.param_get_handle {
        Some(f) => f,
        None => return Ok(Got::Missing("the host has no paramGetHandle".into())),
    };
    // SAFETY: host param set; valid out-pointers.
    let st = unsafe { get_handle(pset, c.as_ptr(), &mut ph, &mut pps) };
    if st != kOfxStatOK || ph.is_null() {
        return Ok(Got::Missing(format!(
            "the host has no handle for it (status {st})"
        )));
    }
    /// Calls the getter with the out-pointers (at `time` when the host can).
    macro_rules! get {
        ($($p:expr),+) => {{
            // SAFETY: the variadic getter with one out-pointer per component of the param's
            // OFX type, as ofxParam.h specifies (double*, int*, char**, 4 x double*).
            unsafe {
                match (s.param.param_get_value_at_time, s.param.param_get_value) {
                    (Some(f), _) => f(ph, time, $($p),+),
                    (None, Some(f)) => f(ph, $($p),+),
                    (None, None) => kOfxStatErrMissingHostFeature,
                }
            }
        }};
    }
    let missing = |st: OfxStatus| Got::Missing(format!("the host gives no value (status {st})"));
    let v = match kind {
        ParamKind::Float { .. } => {
            let mut x = 0f64;
            let st = get!(&mut x as *mut f64);
            if st != kOfxStatOK {
                return Ok(missing(st));
            }
            Value::Float(x)
        }
        ParamKind::Int { .. } | ParamKind::Bool { .. } | ParamKind::Enum { .. } => {
            let mut n: c_int = 0;
            let st = get!(&mut n as *mut c_int);
            if st != kOfxStatOK {
                return Ok(missing(st));
            }
            match kind {
                ParamKind::Bool { .. } => Value::Bool(n != 0),
                ParamKind::Enum { choices, .. } => {
                    match usize::try_from(n).ok().and_then(|k| choices.get(k)) {
                        Some(c) => Value::Str(c.to_string()),
                        None => {
                            return Ok(Got::Missing(format!(
                                "choice index {n} is out of range (0..{})",
                                choices.len()
                            )))
                        }
                    }
                }
                _ => Value::Int(n as i64),
            }
        }
        ParamKind::Str { .. } | ParamKind::Path { .. } => {
            let mut sp: *const c_char = null();
            let st = get!(&mut sp as *mut *const c_char);
            if st != kOfxStatOK {
                return Ok(missing(st));
            }
            if sp.is_null() {
                Value::Str(String::new())
            } else {
                // SAFETY: non-null host string, NUL-terminated.
                match unsafe { CStr::from_ptr(sp) }.to_str() {
                    Ok(v) => Value::Str(v.to_string()),
                    Err(_) => return Ok(Got::Missing("the value is not valid UTF-8".into())),
                }
            }
        }
        ParamKind::Color { .. } => {
            let mut c = [0f64; 4];
            let [r, g, b, a] = &mut c;
            let st = get!(r as *mut f64, g as *mut f64, b as *mut f64, a as *mut f64);
            if st != kOfxStatOK {
                return Ok(missing(st));
            }
            Value::Color(c)
        }
    };
    Ok(Got::Value(v))
}

/// Posts a core note once per instance and param: clamped values to the host's log, defaults
/// used as warnings.
fn post_note(s: &Suites, h: *mut c_void, warned: &Warned, n: &Note) {
    let (key, kind) = match n.kind {
        NoteKind::Clamped => ("clamp", kOfxMessageLog),
        NoteKind::Defaulted => ("default", kOfxMessageWarning),
    };
    if warned.first(&format!("{key}/{}", n.param)) {
        s.post(h, kind, &format!("Wick: {}", n.text));
    }
}

/// Reads every param of the instance at `time` through the host's getters: the node's, with the
/// adapter core's policy (defaults for what the host cannot give, clamping, validation;
/// `adapter::params::read`), and the adapter's own.
pub(super) fn read_params(
    s: &Suites,
    d: &NodeDesc,
    layout: &super::Layout,
    warned: &Warned,
    h: *mut c_void,
    time: f64,
) -> R<Read> {
    let pset = s.param_set(h)?;
    let ctx = layout.context;
    let (mut project_width, mut project_height) = (false, false);
    let (params, notes) = params::read(d, |i, p| {
        let op = ofx_param(ctx, p);
        let got = get_value(s, pset, layout.param_name(i, p), &op.desc.kind, time)
            .map_err(|e| NodeError::Internal(e.msg))?;
        if project_sized(ctx, p) && matches!(got, Got::Value(Value::Int(0))) {
            // 0: the project size, resolved by the caller; the node keeps its default.
            match p.role {
                Some(ParamRole::OutputWidth) => project_width = true,
                _ => project_height = true,
            }
            return Ok(Got::Value(p.default_value()));
        }
        Ok(got)
    })
    .map_err(|e| OfxErr::failed(e.to_string()))?;
    for n in &notes {
        post_note(s, h, warned, n);
    }
    let mut float_input = FloatInput::Auto;
    for p in adapter_params(d, ctx) {
        if p.desc.name == FLOAT_INPUT_PARAM {
            let v = match get_value(s, pset, p.desc.name, &p.desc.kind, time)? {
                Got::Value(v) => v,
                Got::Missing(why) => {
                    post_note(
                        s,
                        h,
                        warned,
                        &Note {
                            param: FLOAT_INPUT_PARAM,
                            kind: NoteKind::Defaulted,
                            text: format!(
                                "param '{FLOAT_INPUT_PARAM}': {why}; using its default \"auto\""
                            ),
                        },
                    );
                    p.desc.default_value()
                }
            };
            float_input = match v {
                Value::Str(s) if s == "linear" => FloatInput::Linear,
                Value::Str(s) if s == "sRGB" => FloatInput::Srgb,
                Value::Str(s) if s == "as is" => FloatInput::AsIs,
                _ => FloatInput::Auto,
            };
        }
    }
    Ok(Read {
        params,
        float_input,
        project_width,
        project_height,
    })
}
