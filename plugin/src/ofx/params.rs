//! Params as OpenFX shows them and reading their values. A host may lack a param type (no
//! handle), refuse a value (kOfxStatErrMissingHostFeature) or give one outside the declared
//! range: Wick then uses the param's default (one warning per instance and param) or clamps
//! the value (noted in the host's log), and renders.

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use super::describe::Context;
use super::host::Suites;
use super::sys::*;
use super::{cname, OfxErr, R};
use crate::node::{NodeDesc, ParamDesc, ParamKind, Params, Value};

/// The adapter's own param: what a float image is (the colour encoding of half and float
/// clips).
pub const FLOAT_INPUT_PARAM: &str = "wick_float_input";
const FLOAT_CHOICES: &[&str] = &["auto", "linear", "sRGB", "as is"];
const FLOAT_HELP: &str = "What float (half and float) images are, in and out. auto: the clip's \
    colourspace where the host manages colour (OpenFX 1.5), else linear light (the OpenFX \
    convention). linear: scene-linear Rec.709 (Wick converts to and from sRGB around the \
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

/// Generator contexts size the output from the project: `width`/`height` default to 0, which
/// means the project size; a non-zero value overrides it.
fn project_sized(ctx: Context, p: &ParamDesc) -> bool {
    ctx == Context::Generator
        && (p.name == "width" || p.name == "height")
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
    /// Generator `width`/`height` left at 0: the output is the project size.
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

/// Where a value came from, when it is not the host's as given.
enum Got {
    Value(Value),
    /// The host could not give one (why).
    Missing(String),
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

/// Brings a value into the param's range. `Err`: not usable at all (not finite).
fn clamp(kind: &ParamKind, v: Value) -> Result<(Value, bool), String> {
    Ok(match (kind, v) {
        (ParamKind::Float { min, max, .. }, Value::Float(x)) => {
            if !x.is_finite() {
                return Err(format!("{x} is not a finite number"));
            }
            let c = x.clamp(*min, *max);
            (Value::Float(c), c != x)
        }
        (ParamKind::Int { min, max, .. }, Value::Int(n)) => {
            let c = n.clamp(*min, *max);
            (Value::Int(c), c != n)
        }
        (ParamKind::Color { .. }, Value::Color(c)) => {
            if c.iter().any(|x| !x.is_finite()) {
                return Err(format!("{c:?} is not finite"));
            }
            (Value::Color(c), false)
        }
        (ParamKind::Str { .. } | ParamKind::Path { .. }, Value::Str(s)) if s.len() > 4096 => {
            return Err("the string is longer than 4096 bytes".into())
        }
        (_, v) => (v, false),
    })
}

/// Reads every param of the instance at `time`: the node's (validated by `Params::set`) and
/// the adapter's.
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
    let mut params = Params::new(&d.params);
    let read = |name: &str, kind: &ParamKind, default: Value| -> R<Value> {
        let why = match get_value(s, pset, name, kind, time)? {
            Got::Value(v) => match clamp(kind, v.clone()) {
                Ok((c, clamped)) => {
                    if clamped && warned.first(&format!("clamp/{name}")) {
                        s.post(
                            h,
                            kOfxMessageLog,
                            &format!(
                                "Wick: param '{name}': the host's value {v:?} is outside the \
                                 param's range; clamped to {c:?}"
                            ),
                        );
                    }
                    return Ok(c);
                }
                Err(why) => why,
            },
            Got::Missing(why) => why,
        };
        if warned.first(&format!("default/{name}")) {
            s.post(
                h,
                kOfxMessageWarning,
                &format!("Wick: param '{name}': {why}; using its default {default:?}"),
            );
        }
        Ok(default)
    };
    let (mut project_width, mut project_height) = (false, false);
    for (i, p) in d.params.iter().enumerate() {
        let name = layout.param_name(i, p);
        let op = ofx_param(ctx, p);
        let v = read(name, &op.desc.kind, op.desc.default_value())?;
        if project_sized(ctx, p) && v == Value::Int(0) {
            // 0: the project size, resolved by the caller; the node keeps its default.
            if p.name == "width" {
                project_width = true;
            } else {
                project_height = true;
            }
            continue;
        }
        params
            .set(p.name, v)
            .map_err(|e| OfxErr::failed(e.to_string()))?;
    }
    let mut float_input = FloatInput::Auto;
    for p in adapter_params(d, ctx) {
        if p.desc.name == FLOAT_INPUT_PARAM {
            let v = read(p.desc.name, &p.desc.kind, p.desc.default_value())?;
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
