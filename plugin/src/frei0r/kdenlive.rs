//! Kdenlive's description of a Wick frei0r plugin (`wick_frei0r_kdenlive_xml`), so Kdenlive
//! shows the params in their own units (its `factor`/`offset` undo frei0r's [0, 1] mapping).

use std::ffi::{c_char, CString};

use once_cell::sync::OnceCell;

use super::params::Map;
use super::{guarded, table, Spec, F0R_PLUGIN_TYPE_FILTER, F0R_PLUGIN_TYPE_MIXER2};
use crate::adapter::to_cstring;
use crate::node::ParamKind;

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Kdenlive's description of this plugin's effect (filter) or composition (mixer2), so its UI
/// shows the params with their own units (Kdenlive's `factor`/`offset` undo the [0, 1]
/// mapping). `None` for sources, which Kdenlive does not take as effects.
pub fn kdenlive_xml(spec: &'static Spec) -> Option<String> {
    let t = table(spec)?;
    let d = &t.entry.desc;
    let kind = match spec.plugin_type {
        F0R_PLUGIN_TYPE_FILTER => "effect",
        F0R_PLUGIN_TYPE_MIXER2 => "transition",
        _ => return None,
    };
    let mut x = String::from("<!DOCTYPE kpartgui>\n");
    x += &format!(
        "<{kind} tag=\"frei0r.{n}\" id=\"frei0r.{n}\">\n  <name>Wick {}</name>\n  <description>{}</description>\n  <author>Wick</author>\n",
        xml_escape(d.label),
        xml_escape(d.help),
        n = spec.name
    );
    for p in &t.params {
        let name = p.name.to_str().unwrap_or("");
        let desc = d.param(p.wick).map(|(_, pd)| pd);
        let label = desc.map(|pd| pd.label).unwrap_or(match p.map {
            Map::TimeUnit => "Time unit",
            _ => "Wick params",
        });
        let comment = xml_escape(p.explanation.to_str().unwrap_or(""));
        let attrs = match (p.map, desc.map(|pd| &pd.kind)) {
            (Map::Scaled { min, max, int }, Some(k)) => {
                let def = match k {
                    ParamKind::Float { default, .. } => *default,
                    ParamKind::Int { default, .. } => *default as f64,
                    _ => min,
                };
                let ty = if desc.map(|pd| pd.animatable).unwrap_or(false) {
                    "animated"
                } else {
                    "constant"
                };
                format!(
                    "type=\"{ty}\" default=\"{def}\" min=\"{min}\" max=\"{max}\" factor=\"{}\" offset=\"{min}\" decimals=\"{}\"",
                    max - min,
                    if int { 0 } else { 3 }
                )
            }
            (Map::Bool, Some(ParamKind::Bool { default })) => {
                format!("type=\"bool\" default=\"{}\"", *default as u8)
            }
            (Map::Text, Some(ParamKind::Enum { choices, default })) => format!(
                "type=\"list\" default=\"{}\" paramlist=\"{}\"",
                xml_escape(default),
                xml_escape(&choices.join(";"))
            ),
            (Map::Text, Some(ParamKind::Path { default })) => {
                format!("type=\"url\" default=\"{}\"", xml_escape(default))
            }
            (Map::Text, Some(ParamKind::Str { default })) => {
                format!("type=\"keywords\" default=\"{}\"", xml_escape(default))
            }
            (Map::Color, Some(ParamKind::Color { default })) => format!(
                "type=\"color\" default=\"#{:02x}{:02x}{:02x}\"",
                (default[0].clamp(0.0, 1.0) * 255.0).round() as u8,
                (default[1].clamp(0.0, 1.0) * 255.0).round() as u8,
                (default[2].clamp(0.0, 1.0) * 255.0).round() as u8
            ),
            // melt passes time in seconds.
            (Map::TimeUnit, _) => "type=\"fixed\" default=\"s\"".to_string(),
            (Map::Overrides, _) => "type=\"keywords\" default=\"\"".to_string(),
            _ => continue,
        };
        x += &format!(
            "  <parameter name=\"{name}\" {attrs}>\n    <name>{}</name>\n    <comment>{comment}</comment>\n  </parameter>\n",
            xml_escape(label)
        );
    }
    x += &format!("</{kind}>\n");
    Some(x)
}

/// `wick_frei0r_kdenlive_xml` (exported by each frei0r library): the Kdenlive XML as a
/// NUL-terminated string owned by the library, or NULL for a source.
pub fn kdenlive_xml_c(spec: &'static Spec) -> *const c_char {
    static XML: OnceCell<Option<CString>> = OnceCell::new();
    guarded(spec.name, std::ptr::null(), || {
        XML.get_or_init(|| kdenlive_xml(spec).map(|s| to_cstring(&s)))
            .as_ref()
            .map(|c| c.as_ptr())
            .unwrap_or(std::ptr::null())
    })
}
