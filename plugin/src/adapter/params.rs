//! Params as hosts give them: read with defaults for what a host lacks, numbers clamped into
//! range, and the output-size roles.
//!
//! Two kinds of host: those that push values (the C ABI `param_set`, frei0r
//! `f0r_set_param_value`) keep a `Params` per instance and set it value by value; those that
//! are asked at render time (OpenFX `paramGetValueAtTime`) build one with [`read`]. Either way
//! a value reaches the node only through `Params::set`'s validation.

use crate::node::{NodeDesc, NodeError, ParamDesc, ParamKind, ParamRole, Params, Value};

// Used by the OpenFX adapter once it is on the core (#14 part 3); tested below.
#[allow(dead_code)]
/// What a host's read of one param gave.
pub enum Read {
    /// A value, validated and clamped by [`read`].
    Value(Value),
    /// The host does not have this param (or failed to give it): the default is used, and
    /// the reason is reported once per call in the returned notes.
    Missing(String),
}

// Used by the OpenFX adapter once it is on the core (#14 part 3); tested below.
#[allow(dead_code)]
/// `value` brought into `desc`'s range: numbers are clamped into [min, max] (host sliders can
/// overshoot: keyframe interpolation, typed values); other kinds pass unchanged (and
/// `Params::set` validates them). The second value says what was changed, if anything.
pub fn clamp(desc: &ParamDesc, value: Value) -> (Value, Option<String>) {
    let name = desc.name;
    match (&desc.kind, value) {
        (ParamKind::Float { min, max, .. }, Value::Float(x)) if x.is_finite() => {
            let c = x.clamp(*min, *max);
            let note = (c != x).then(|| format!("param '{name}': {x} clamped to {c}"));
            (Value::Float(c), note)
        }
        (ParamKind::Int { min, max, .. }, Value::Int(n)) => {
            let c = n.clamp(*min, *max);
            let note = (c != n).then(|| format!("param '{name}': {n} clamped to {c}"));
            (Value::Int(c), note)
        }
        (_, v) => (v, None),
    }
}

// Used by the OpenFX adapter once it is on the core (#14 part 3); tested below.
#[allow(dead_code)]
/// Reads every param of `desc` from a host, `get(index, desc)` giving each: a missing one
/// takes its default, numbers are clamped ([`clamp`]), and each value is validated by
/// `Params::set` (an invalid one, e.g. NaN or an unknown enum choice, is an error naming the
/// param). Returns the params and one note per default used or value clamped.
pub fn read(
    desc: &NodeDesc,
    mut get: impl FnMut(usize, &ParamDesc) -> Result<Read, NodeError>,
) -> Result<(Params, Vec<String>), NodeError> {
    let mut params = Params::new(&desc.params);
    let mut notes = Vec::new();
    for (i, p) in desc.params.iter().enumerate() {
        match get(i, p)? {
            Read::Value(v) => {
                let (v, note) = clamp(p, v);
                notes.extend(note);
                params.set(p.name, v)?;
            }
            Read::Missing(why) => notes.push(format!(
                "param '{}': {why}; its default {:?} is used",
                p.name,
                p.default_value()
            )),
        }
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

// Used by the OpenFX adapter once it is on the core (#14 part 3); tested below.
#[allow(dead_code)]
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
                "zoom" => Read::Missing("the host has no such param".into()),
                _ => Read::Value(pd.default_value()),
            })
        })
        .unwrap();
        assert_eq!(p.i64("seed"), 0);
        assert_eq!(p.f64("mix"), 1.0);
        assert_eq!(
            p.get("zoom").unwrap(),
            &d.param("zoom").unwrap().1.default_value()
        );
        assert_eq!(notes.len(), 3, "{notes:?}");
        // Invalid values are still errors, naming the param.
        let e = read(d, |_, pd| {
            Ok(match pd.name {
                "mix" => Read::Value(Value::Float(f64::NAN)),
                _ => Read::Value(pd.default_value()),
            })
        })
        .unwrap_err();
        assert!(e.to_string().contains("mix"), "{e}");
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
