//! Param values from text: the one rule set for every place a param arrives as text: `wick`
//! `--param NAME=VALUE`, graph-file and training-config values (through the host SDK), and
//! hosts that pass strings (frei0r, through the plugin).
//!
//! Rules (surrounding whitespace is ignored for every type):
//! - float: a number as Rust reads it (`0.5`, `-2`, `1e-3`); whether it is finite and in range
//!   is the node's check.
//! - int: an integer (`7`, `-3`), or a number with an integral value (`2.0`, `1e3`) below 9e15.
//! - bool: `1 true yes on y` or `0 false no off n`, in any case.
//! - colour: `r,g,b` or `r,g,b,a`, parts separated by `,` or `/`; alpha defaults to 1.
//! - choice, text, path: the text itself.

/// The kind of value a param holds, as far as text parsing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Float,
    Int,
    Bool,
    Color,
    /// Choices, free text and paths: the text itself.
    Text,
}

/// A value parsed from text.
#[derive(Debug, Clone, PartialEq)]
pub enum TextValue {
    Float(f64),
    Int(i64),
    Bool(bool),
    Color([f64; 4]),
    Text(String),
}

/// Parses `text` as `kind`. The error is what was expected ("a number", "an integer", ...),
/// for messages such as `param 'seed': 'x' is not an integer`.
pub fn parse(kind: TextKind, text: &str) -> Result<TextValue, &'static str> {
    let t = text.trim();
    Ok(match kind {
        TextKind::Float => TextValue::Float(t.parse().map_err(|_| "a number")?),
        TextKind::Int => TextValue::Int(parse_int(t).ok_or("an integer")?),
        TextKind::Bool => TextValue::Bool(parse_bool(t).ok_or("a boolean (true/false)")?),
        TextKind::Color => TextValue::Color(parse_color(t).ok_or("a colour r,g,b[,a]")?),
        TextKind::Text => TextValue::Text(t.to_string()),
    })
}

/// An integer, or a number with an integral value below 9e15 in magnitude.
pub fn parse_int(t: &str) -> Option<i64> {
    let t = t.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 => Some(x as i64),
        _ => None,
    }
}

/// `1 true yes on y` / `0 false no off n`, any case.
pub fn parse_bool(t: &str) -> Option<bool> {
    match t.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "y" => Some(true),
        "0" | "false" | "no" | "off" | "n" => Some(false),
        _ => None,
    }
}

/// `r,g,b[,a]` or `r/g/b[/a]`; alpha defaults to 1.
pub fn parse_color(t: &str) -> Option<[f64; 4]> {
    let v: Vec<f64> = t
        .trim()
        .split([',', '/'])
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .ok()?;
    match v.as_slice() {
        [r, g, b] => Some([*r, *g, *b, 1.0]),
        [r, g, b, a] => Some([*r, *g, *b, *a]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        use TextKind::*;
        use TextValue as V;
        assert_eq!(parse(Float, " 0.5 "), Ok(V::Float(0.5)));
        assert_eq!(parse(Float, "x"), Err("a number"));
        assert_eq!(parse(Int, "7"), Ok(V::Int(7)));
        assert_eq!(parse(Int, "2.0"), Ok(V::Int(2)));
        assert_eq!(parse(Int, "1e3"), Ok(V::Int(1000)));
        assert_eq!(parse(Int, "2.5"), Err("an integer"));
        assert_eq!(parse(Int, "1e300"), Err("an integer"));
        assert_eq!(parse(Int, "nan"), Err("an integer"));
        for (t, b) in [
            ("TRUE", true),
            ("on", true),
            ("y", true),
            ("0", false),
            ("No", false),
        ] {
            assert_eq!(parse(Bool, t), Ok(V::Bool(b)), "{t}");
        }
        assert!(parse(Bool, "2").is_err());
        assert_eq!(parse(Color, "1,0.5,0"), Ok(V::Color([1.0, 0.5, 0.0, 1.0])));
        assert_eq!(
            parse(Color, "1/0.5/0/0.25"),
            Ok(V::Color([1.0, 0.5, 0.0, 0.25]))
        );
        assert!(parse(Color, "1,2").is_err());
        assert_eq!(
            parse(Text, " 3:0.5,12:0.5 "),
            Ok(V::Text("3:0.5,12:0.5".into()))
        );
    }
}
