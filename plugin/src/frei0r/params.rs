//! frei0r params: how Wick params appear in frei0r (doubles in [0, 1] mapped onto the
//! param's range, bools, colours, strings), the two adapter params (`time_unit`, `params`),
//! and `f0r_set_param_value` / `f0r_get_param_value`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use super::{guarded, live, trace, warn, Spec, State, TimeUnit};
use super::{F0rColor, F0R_PARAM_BOOL, F0R_PARAM_COLOR, F0R_PARAM_DOUBLE, F0R_PARAM_STRING};
use crate::adapter::to_cstring;
use crate::node::{NodeDesc, NodeError, ParamKind, ParamRole, Params, Value};

#[derive(Debug, Clone, Copy)]
pub(super) enum Map {
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

pub(super) struct FParam {
    pub(super) wick: &'static str,
    pub(super) name: CString,
    pub(super) explanation: CString,
    pub(super) ty: c_int,
    pub(super) map: Map,
}

/// The frei0r params of a node: its own (a source's output size excepted), then `time_unit`
/// and `params`.
pub(super) fn build(d: &NodeDesc) -> Vec<FParam> {
    let mut params = Vec::new();
    for p in &d.params {
        // A source's output size is the host's frame size (set at construction).
        if d.source
            && matches!(
                p.role,
                Some(ParamRole::OutputWidth | ParamRole::OutputHeight)
            )
        {
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
    params
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
pub(super) fn apply_overrides(params: &mut Params, text: &str) -> Result<(), NodeError> {
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
