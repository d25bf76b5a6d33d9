//! The OpenFX constants and suite layouts of `sys.rs` against the official headers: the table
//! in `spec.rs` was extracted from them by `scripts/ofx-spec.py` (names and values only), so
//! these tests do not share a reading of the spec with the code they check.

use std::collections::HashSet;

use super::clips::{classify, Encoding};
use super::spec;
use super::sys;

#[test]
fn the_table_is_from_the_commit_sys_names() {
    assert_eq!(spec::OPENFX_COMMIT, sys::OPENFX_COMMIT);
}

#[test]
fn every_string_constant_is_the_headers_value() {
    let mut seen = HashSet::new();
    for (name, value) in sys::STRING_CONSTS {
        assert!(seen.insert(*name), "{name} declared twice");
        let (_, want, header) = spec::STRINGS
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not a #define of the OpenFX headers"));
        assert_eq!(value, want, "{name} (the headers' {header} say {want:?})");
    }
    // The one the first OFX adapter got wrong, spelled out.
    assert_eq!(
        sys::kOfxImageEffectPropSupportsMultipleClipDepths.to_str(),
        Ok("OfxImageEffectPropMultipleClipDepths")
    );
    assert!(sys::STRING_CONSTS.len() > 100);
}

#[test]
fn every_number_constant_is_the_headers_value() {
    for (name, value) in sys::INT_CONSTS {
        let (_, want, header) = spec::INTS
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not a numeric #define of the OpenFX headers"));
        assert_eq!(value, want, "{name} ({header})");
    }
    assert_eq!(sys::INT_CONSTS.len(), 16);
}

#[test]
fn suite_structs_have_the_headers_members_in_order() {
    for (name, size, members) in sys::SUITE_MEMBERS {
        let (_, want, header) = spec::SUITES
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not a suite of the OpenFX headers"));
        assert!(
            members.len() <= want.len() && want[..members.len()] == members[..],
            "{name}: Wick declares {members:?}, {header} has {want:?}"
        );
        // One function pointer per member, nothing else.
        assert_eq!(
            *size,
            members.len() * std::mem::size_of::<usize>(),
            "{name} size"
        );
    }
}

#[test]
fn clip_suffixed_names_are_the_headers() {
    for p in sys::CLIP_PREFIXES {
        assert!(
            spec::CLIP_PREFIXES.iter().any(|(q, _)| q == p),
            "{p} is not a clip-suffixed name of the headers"
        );
    }
}

#[test]
fn every_action_wick_handles_is_an_openfx_action() {
    for (name, value) in sys::STRING_CONSTS {
        if name.contains("Action") {
            assert!(
                spec::ACTIONS.iter().any(|(a, ..)| a == value)
                    || *value == "OfxActionLoad"
                    || *value == "OfxActionUnload",
                "{name} = {value} is not an @actiondef of the headers"
            );
        }
    }
}

/// The colourspace rules of `clips::classify` against the native config's own encoding of
/// every colourspace it names.
#[test]
fn colourspaces_of_the_native_config_are_classified_by_their_encoding() {
    let mut n = 0;
    for (macro_name, value, _) in spec::STRINGS {
        let Some(base) = macro_name.strip_prefix("kOfxColourspace") else {
            continue;
        };
        if base.ends_with("Encoding") || base.starts_with("Role") {
            continue;
        }
        let enc_name = format!("{macro_name}Encoding");
        let Some((_, encoding, _)) = spec::STRINGS.iter().find(|(m, ..)| *m == enc_name) else {
            continue;
        };
        let want = match *encoding {
            "scene-linear" => Encoding::Linear,
            "sdr-video" => Encoding::Display,
            _ => Encoding::Other,
        };
        assert_eq!(classify(value), want, "{value} (encoding '{encoding}')");
        n += 1;
    }
    assert!(n > 40, "only {n} colourspaces in the table");
}
