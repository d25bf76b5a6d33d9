//! Params as hosts give them: read with defaults for what a host lacks, numbers clamped into
//! range, and the output-size roles.
//!
//! Two kinds of host: those that push values (the C ABI `param_set`, frei0r
//! `f0r_set_param_value`) keep a `Params` per instance and set it value by value; those that
//! are asked at render time (OpenFX `paramGetValueAtTime`) build one with [`read`]. Either way
//! a value reaches the node only through `Params::set`'s validation.

use crate::node::{NodeDesc, NodeError, ParamDesc, ParamKind, ParamRole, Params, Value};

/// What a host's read of one param gave.
pub enum Read {
    /// A value: clamped into range by [`read`], validated by `Params::set`.
    Value(Value),
    /// The host does not have this param (or failed to give it; why): the default is used.
    Missing(String),
}

/// What [`read`] did to a param's value, for the host's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// The value was outside the range and was clamped.
    Clamped,
    /// The host gave no usable value: the default was used.
    Defaulted,
}

/// One thing [`read`] did to a param's value.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub param: &'static str,
    pub kind: NoteKind,
    /// One line: `param 'NAME': ...`.
    pub text: String,
}

/// `value` brought into `desc`'s range: numbers are clamped into [min, max] (host sliders can
/// overshoot: keyframe interpolation, typed values); other kinds pass unchanged (and
/// `Params::set` validates them). `true` when it changed.
pub fn clamp(desc: &ParamDesc, value: Value) -> (Value, bool) {
    match (&desc.kind, value) {
        (ParamKind::Float { min, max, .. }, Value::Float(x)) if x.is_finite() => {
            let c = x.clamp(*min, *max);
            (Value::Float(c), c != x)
        }
        (ParamKind::Int { min, max, .. }, Value::Int(n)) => {
            let c = n.clamp(*min, *max);
            (Value::Int(c), c != n)
        }
        (_, v) => (v, false),
    }
}

/// Reads every param of `desc` from a host, `get(index, desc)` giving each, so that a render
/// never fails on what a host legally differs in: a missing value takes the param's default,
/// a number outside the range is clamped ([`clamp`]), and a value `Params::set` refuses (NaN,
/// an unknown choice, a string too long) takes the default too. Returns the params and one
/// [`Note`] per value clamped or defaulted. An error only from `get` itself.
pub fn read(
    desc: &NodeDesc,
    mut get: impl FnMut(usize, &ParamDesc) -> Result<Read, NodeError>,
) -> Result<(Params, Vec<Note>), NodeError> {
    let mut params = Params::new(&desc.params);
    let mut notes = Vec::new();
    for (i, p) in desc.params.iter().enumerate() {
        let name = p.name;
        let why = match get(i, p)? {
            Read::Value(v) => {
                let (c, clamped) = clamp(p, v.clone());
                match params.set(name, c.clone()) {
                    Ok(()) => {
                        if clamped {
                            notes.push(Note {
                                param: name,
                                kind: NoteKind::Clamped,
                                text: format!(
                                    "param '{name}': the host's value {v:?} is outside the \
                                     param's range; clamped to {c:?}"
                                ),
                            });
                        }
                        continue;
                    }
                    Err(e) => format!("the host's value is not usable ({e})"),
                }
            }
            Read::Missing(why) => why,
        };
        notes.push(Note {
            param: name,
            kind: NoteKind::Defaulted,
            text: format!(
                "param '{name}': {why}; using its default {:?}",
                p.default_value()
            ),
        });
    }
    Ok((params, notes))
}

/// Sets a source node's output-size params (roles `OutputWidth`/`OutputHeight`) to the host's
/// frame size, for hosts that decide it (frei0r). Nodes without them are left alone.
pub fn set_output_size(
    desc: &NodeDesc,
    params: &mut Params,
    width: usize,
    height: usize,
) -> Result<(), NodeError> {
    for (role, v) in [
        (ParamRole::OutputWidth, width),
        (ParamRole::OutputHeight, height),
    ] {
        if let Some((_, p)) = desc.role(role) {
            params.set(p.name, Value::Int(v as i64))?;
        }
    }
    Ok(())
}

/// A source node's output size from its params (roles), for hosts without a frame size of
/// their own (OpenFX generators, the run button). `None` when the node has no such params.
pub fn output_size(desc: &NodeDesc, params: &Params) -> Option<(usize, usize)> {
    let (w, h) = desc.output_size()?;
    let get = |i: usize| match params.get(desc.params[i].name) {
        Ok(Value::Int(n)) => Some((*n).max(1) as usize),
        _ => None,
    };
    Some((get(w)?, get(h)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes;

    #[test]
    fn missing_params_take_defaults_and_numbers_are_clamped() {
        let d = &nodes::find("wick.generate").unwrap().desc;
        let (p, notes) = read(d, |_, pd| {
            Ok(match pd.name {
                "seed" => Read::Value(Value::Int(-5)),
                "mix" => Read::Value(Value::Float(1.5)),
                "speed" => Read::Value(Value::Float(f64::NAN)),
                "activation" => Read::Value(Value::Str("no such choice".into())),
                "zoom" => Read::Missing("the host has no such param".into()),
                _ => Read::Value(pd.default_value()),
            })
        })
        .unwrap();
        assert_eq!(p.i64("seed"), 0);
        assert_eq!(p.f64("mix"), 1.0);
        let default = |n: &str| d.param(n).unwrap().1.default_value();
        for n in ["speed", "activation", "zoom"] {
            assert_eq!(p.get(n).unwrap(), &default(n), "{n}");
        }
        let kinds: Vec<(&str, NoteKind)> = notes.iter().map(|n| (n.param, n.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("seed", NoteKind::Clamped),
                ("mix", NoteKind::Clamped),
                ("speed", NoteKind::Defaulted),
                ("activation", NoteKind::Defaulted),
                ("zoom", NoteKind::Defaulted),
            ],
            "{notes:?}"
        );
        assert!(notes[1].text.contains("clamped to Float(1.0)"), "{notes:?}");
        // An error of the host read itself is the caller's.
        let e = read(d, |_, _| Err(NodeError::Internal("host gone".into()))).unwrap_err();
        assert!(e.to_string().contains("host gone"), "{e}");
    }

    #[test]
    fn output_size_follows_the_roles() {
        let d = &nodes::find("wick.generate").unwrap().desc;
        let mut p = Params::new(&d.params);
        assert_eq!(output_size(d, &p), Some((640, 360)));
        set_output_size(d, &mut p, 320, 200).unwrap();
        assert_eq!(output_size(d, &p), Some((320, 200)));
        let st = &nodes::find("wick.style-transfer").unwrap().desc;
        assert_eq!(output_size(st, &Params::new(&st.params)), None);
    }
}
