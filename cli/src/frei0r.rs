//! Assembles the frei0r plugin folder: one library per node (frei0r allows one plugin per
//! file), copied under the names hosts look for, plus Kdenlive's effect descriptions.
//!
//! `wick frei0r --out target/frei0r` (what `scripts/build-frei0r.sh` runs) takes
//! `libwick_style.so`, `libwick_generate.so` and `libwick_interpolate.so` from the folder of
//! the `wick` binary (the same cargo profile) and writes:
//! - `OUT/wick_style.so`, `OUT/wick_generate.so`, `OUT/wick_interpolate.so` (each copied to
//!   a temp name and renamed: a host scanning the folder never sees half a library);
//! - `OUT/kdenlive/effects/wick_style.xml` and `OUT/kdenlive/transitions/wick_interpolate.xml`,
//!   read from each library's `wick_frei0r_kdenlive_xml` export;
//! - `OUT/wick-weights/*.safetensors`, the bundled weights, where the libraries look first
//!   (after `$WICK_WEIGHTS_DIR`), so the folder works wherever it is copied.

use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};

use crate::io::{io_err, write_atomic};
use crate::HostError;

/// The frei0r libraries: file stem and the cargo package that builds it.
pub const LIBRARIES: [(&str, &str); 3] = [
    ("wick_style", "wick-frei0r-style"),
    ("wick_generate", "wick-frei0r-generate"),
    ("wick_interpolate", "wick-frei0r-interpolate"),
];

/// The weights folder of this source tree (`models/weights`).
pub fn source_weights_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join("weights")
}

/// Copies the libraries from `from` (a cargo profile folder) and the `.safetensors` files of
/// `weights` into `out`; returns the files written.
pub fn assemble(from: &Path, weights: &Path, out: &Path) -> Result<Vec<PathBuf>, HostError> {
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let mut written = Vec::new();
    let mut found = 0;
    for e in std::fs::read_dir(weights).map_err(|e| io_err(weights, e))? {
        let p = e.map_err(|e| io_err(weights, e))?.path();
        if p.extension().and_then(|x| x.to_str()) == Some("safetensors") {
            let dst = out
                .join("wick-weights")
                .join(p.file_name().unwrap_or_default());
            let bytes = std::fs::read(&p).map_err(|e| io_err(&p, e))?;
            write_atomic(&dst, &bytes)?;
            written.push(dst);
            found += 1;
        }
    }
    if found == 0 {
        return Err(HostError::BadArgument(format!(
            "no .safetensors weights in {}",
            weights.display()
        )));
    }
    for (stem, package) in LIBRARIES {
        let src = from.join(format!("lib{stem}.so"));
        let bytes = std::fs::read(&src).map_err(|e| {
            io_err(
                &src,
                format!("{e} (build it first: cargo build --release -p {package})"),
            )
        })?;
        let dst = out.join(format!("{stem}.so"));
        write_atomic(&dst, &bytes)?;
        written.push(dst.clone());
        if let Some((kind, xml)) = kdenlive_xml(&dst)? {
            let p = out.join("kdenlive").join(kind).join(format!("{stem}.xml"));
            write_atomic(&p, xml.as_bytes())?;
            written.push(p);
        }
    }
    Ok(written)
}

/// Reads a frei0r library's Kdenlive description: (`effects` or `transitions`, XML).
fn kdenlive_xml(lib: &Path) -> Result<Option<(&'static str, String)>, HostError> {
    // SAFETY: loading our own frei0r library; its initialisers only set up statics.
    let l = unsafe { libloading::Library::new(lib) }.map_err(|e| io_err(lib, e))?;
    // SAFETY: the symbol's type is `const char *(void)` (frei0r.rs, `frei0r_plugin!`).
    let f =
        unsafe { l.get::<unsafe extern "C" fn() -> *const c_char>(b"wick_frei0r_kdenlive_xml") }
            .map_err(|e| io_err(lib, e))?;
    // SAFETY: calling the export; the string it returns is owned by the library, which is
    // linked nodelete and stays mapped.
    let p = unsafe { f() };
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null NUL-terminated string from the library.
    let xml = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    let kind = if xml.contains("<transition ") {
        "transitions"
    } else {
        "effects"
    };
    Ok(Some((kind, xml)))
}
