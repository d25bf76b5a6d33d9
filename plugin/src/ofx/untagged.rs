//! What `wick_float_input` = *auto* takes a float image for when the host gives it no
//! colourspace (no OpenFX 1.5 colour management).
//!
//! The OpenFX convention is linear light, and Wick keeps it everywhere but in one case it can
//! tell from real signals: **Natron with no OpenColorIO library in the process**. Natron's own
//! engine converts no colours (RB-2.5 links no OpenColorIO: `Engine/CMakeLists.txt`,
//! `Renderer/CMakeLists.txt`, `global.pri`), and its file readers and writers are openfx-io's,
//! which convert between the file's encoding and Natron's linear working space through
//! OpenColorIO, and only when built with it (`OFX_IO_USING_OCIO`, linked with
//! `pkg-config --libs OpenColorIO` in `Makefile.master` or `OPENCOLORIO_LIBRARIES` in
//! `CMakeLists.txt`; without it `GenericOCIO::isIdentity` is always true and the floats are the
//! file's values). Official Natron builds ship and load a shared `libOpenColorIO`; a build
//! without it (`build_natron.sh` here) hands on the files' sRGB-encoded values. So, in Natron:
//! - an OpenColorIO library mapped into the process: a reader may have linearised: linear;
//! - none mapped (Linux `/proc/self/maps` read): nothing upstream could have: sRGB-encoded;
//! - the maps cannot be read (not Linux): unknown: linear.
//!
//! Natron is known by its host properties: `kOfxPropLabel` is always "Natron"
//! (`NATRON_APPLICATION_NAME`, `Engine/OfxHost.cpp`), `kOfxPropName` "fr.inria.Natron" unless
//! the user made Natron appear as another host (Preferences › "Appear to plug-ins as").
//!
//! Limits: an OpenColorIO linked statically into a reader is not seen (none of the official
//! builds does that); the maps are read when a float image is taken, so in an official build
//! a project with no Read or Write node of openfx-io loaded yet (Natron's plugin cache loads a
//! plugin's binary with its first node) would go sRGB until one is: set `linear` there. The
//! explicit choices (`linear`, `sRGB`, `as is`) always win.

use std::sync::atomic::{AtomicBool, Ordering};

use super::host::{note_once, Suites};

/// What auto decided, and why (each noted once in the host's log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Untagged {
    /// Not Natron: the OpenFX convention, linear light.
    Convention,
    /// Natron with an OpenColorIO library mapped: its readers may linearise: linear.
    NatronWithOcio,
    /// Natron, the process's mappings unreadable (not Linux): unknown, linear.
    NatronUnknown,
    /// Natron with no OpenColorIO library mapped: nothing linearises: sRGB-encoded.
    NatronWithoutOcio,
}

impl Untagged {
    /// Whether float images without a colourspace are taken as linear light.
    pub fn linear(self) -> bool {
        self != Untagged::NatronWithoutOcio
    }

    fn note(self) -> Option<&'static str> {
        Some(match self {
            Untagged::Convention => return None,
            Untagged::NatronWithOcio => {
                "Natron with OpenColorIO loaded (its readers can linearise): float images \
                 without a colourspace are taken as linear light (wick_float_input auto)"
            }
            Untagged::NatronUnknown => {
                "Natron, and whether OpenColorIO is loaded cannot be read on this system: \
                 float images without a colourspace are taken as linear light (wick_float_input \
                 auto; set sRGB if your readers do not linearise)"
            }
            Untagged::NatronWithoutOcio => {
                "Natron without OpenColorIO in the process (its readers and writers convert \
                 no colours): float images without a colourspace are taken as sRGB-encoded \
                 (wick_float_input auto; set linear to override)"
            }
        })
    }
}

/// Whether the host's `kOfxPropName` / `kOfxPropLabel` say Natron.
pub(super) fn is_natron(name: &str, label: &str) -> bool {
    name.trim().eq_ignore_ascii_case("fr.inria.Natron") || label.trim() == "Natron"
}

/// Whether `/proc/<pid>/maps` text has an OpenColorIO shared library mapped (the path's last
/// component `libOpenColorIO*.so*`, any case; a deleted file's " (deleted)" tail ignored).
pub(super) fn maps_have_ocio(maps: &str) -> bool {
    maps.lines().any(|l| {
        // address perms offset dev inode pathname: the path is the sixth field on.
        let path = l.split_whitespace().skip(5).collect::<Vec<_>>().join(" ");
        let path = path.strip_suffix(" (deleted)").unwrap_or(&path);
        let file = path.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
        file.starts_with("libopencolorio") && file.contains(".so")
    })
}

/// The decision, from the host's name and label and the process's maps (`None`: unreadable).
pub(super) fn decide(name: &str, label: &str, maps: Option<&str>) -> Untagged {
    if !is_natron(name, label) {
        return Untagged::Convention;
    }
    match maps {
        None => Untagged::NatronUnknown,
        Some(m) if maps_have_ocio(m) => Untagged::NatronWithOcio,
        Some(_) => Untagged::NatronWithoutOcio,
    }
}

/// Once an OpenColorIO library was seen mapped, the answer stays (libraries stay loaded).
static OCIO_SEEN: AtomicBool = AtomicBool::new(false);

fn own_maps() -> Option<String> {
    if cfg!(target_os = "linux") {
        std::fs::read_to_string("/proc/self/maps").ok()
    } else {
        None
    }
}

/// The decision for this host now, noted once per kind in the host's log. The maps are read
/// only in Natron, and no more once OpenColorIO was seen.
pub(super) fn untagged(s: &Suites) -> Untagged {
    let (name, label) = (&s.caps.name, &s.caps.label);
    let d = if !is_natron(name, label) {
        Untagged::Convention
    } else if OCIO_SEEN.load(Ordering::Relaxed) {
        Untagged::NatronWithOcio
    } else {
        decide(name, label, own_maps().as_deref())
    };
    if d == Untagged::NatronWithOcio {
        OCIO_SEEN.store(true, Ordering::Relaxed);
    }
    if let Some(msg) = d.note() {
        note_once(s, &format!("untagged-float/{d:?}"), msg);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines in the format of proc(5), as a NatronRenderer process maps them.
    const NATRON_NO_OCIO: &str = "\
55d0c2a00000-55d0c2a42000 r--p 00000000 fd:00 1311 /opt/natron/libexec/NatronRenderer
7f1c2e000000-7f1c2e021000 rw-p 00000000 00:00 0 
7f1c30000000-7f1c30400000 r-xp 00000000 fd:00 2222 /opt/natron/plugins/PNG.ofx.bundle/Contents/Linux-x86-64/PNG.ofx
7f1c31000000-7f1c31100000 r-xp 00000000 fd:00 3333 /usr/lib/x86_64-linux-gnu/libQt5Core.so.5.15.8
7f1c32000000-7f1c32100000 r--p 00000000 fd:00 4444 /usr/share/OpenColorIO-Configs/natron/config.ocio
7f1c33000000-7f1c33100000 r-xp 00000000 fd:00 5555 /tmp/libopencolorio_notes.txt
7ffd5a000000-7ffd5a021000 rw-p 00000000 00:00 0                          [stack]
";

    fn with(lib: &str) -> String {
        format!("{NATRON_NO_OCIO}7f1c34000000-7f1c34800000 r-xp 00000000 fd:00 6666 {lib}\n")
    }

    #[test]
    fn natron_is_known_by_its_name_or_its_label() {
        assert!(is_natron("fr.inria.Natron", "Natron"));
        assert!(is_natron("fr.inria.natron", ""));
        // "Appear to plug-ins as" Nuke: the label stays.
        assert!(is_natron("uk.co.thefoundry.nuke", "Natron"));
        assert!(!is_natron("uk.co.thefoundry.nuke", "Nuke"));
        assert!(!is_natron("uk.co.uk.thefoundry.hostDemo", ""));
        assert!(!is_natron("org.wick.testhost", "Wick OFX test host"));
        assert!(!is_natron("", ""));
        assert!(!is_natron("fr.inria.NatronX", "Natron 2"));
    }

    #[test]
    fn an_ocio_library_is_found_in_the_maps_and_nothing_else_is_taken_for_one() {
        assert!(!maps_have_ocio(NATRON_NO_OCIO));
        assert!(!maps_have_ocio(""));
        for lib in [
            "/opt/Natron-2.5.0/lib/libOpenColorIO.so.1",
            "/usr/lib/x86_64-linux-gnu/libOpenColorIO.so.2.2.1",
            "/app/lib/libOpenColorIO.so.2.1",
            "/opt/Natron/lib/libOpenColorIOoglapphelpers.so",
            "/opt/my lib/libOpenColorIO.so.2 (deleted)",
        ] {
            assert!(maps_have_ocio(&with(lib)), "{lib}");
        }
        for not in [
            "/opt/Natron/Plugins/OFX/Natron/IO.ofx.bundle/Contents/Linux-x86-64/IO.ofx",
            "/usr/lib/libOpenColorIO.a",
            "/home/u/OpenColorIO/build/notes.so.txt",
        ] {
            assert!(!maps_have_ocio(&with(not)), "{not}");
        }
    }

    #[test]
    fn auto_is_srgb_only_in_natron_without_ocio() {
        let ocio = with("/opt/Natron-2.5.0/lib/libOpenColorIO.so.1");
        let cases = [
            (
                ("fr.inria.Natron", "Natron", Some(NATRON_NO_OCIO)),
                Untagged::NatronWithoutOcio,
            ),
            (
                ("fr.inria.Natron", "Natron", Some(ocio.as_str())),
                Untagged::NatronWithOcio,
            ),
            (("fr.inria.Natron", "Natron", None), Untagged::NatronUnknown),
            (
                ("uk.co.thefoundry.nuke", "Natron", Some(NATRON_NO_OCIO)),
                Untagged::NatronWithoutOcio,
            ),
            (
                ("uk.co.thefoundry.nuke", "Nuke", Some(NATRON_NO_OCIO)),
                Untagged::Convention,
            ),
            (
                ("uk.co.uk.thefoundry.hostDemo", "", Some(NATRON_NO_OCIO)),
                Untagged::Convention,
            ),
            (
                ("com.blackmagicdesign.resolve", "Resolve", None),
                Untagged::Convention,
            ),
        ];
        for ((name, label, maps), want) in cases {
            let got = decide(name, label, maps);
            assert_eq!(got, want, "{name} / {label}");
            assert_eq!(got.linear(), want != Untagged::NatronWithoutOcio);
            assert_eq!(got.note().is_some(), want != Untagged::Convention);
        }
    }

    #[test]
    fn this_test_process_maps_no_ocio() {
        // The real reader on this machine: the maps are readable on Linux and hold no
        // OpenColorIO (the test binary links none).
        if cfg!(target_os = "linux") {
            let m = own_maps().expect("/proc/self/maps");
            assert!(m.lines().count() > 5);
            assert!(!maps_have_ocio(&m));
            assert_eq!(
                decide("fr.inria.Natron", "Natron", Some(&m)),
                Untagged::NatronWithoutOcio
            );
        } else {
            assert!(own_maps().is_none());
        }
    }
}
