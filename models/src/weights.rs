//! Weights I/O: Wick models ship as safetensors files. Loading validates the file fully up front
//! so that a missing, truncated or corrupt file is a clear error, never a crash later.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

/// Errors from loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("weights file {path}: {msg}")]
    Weights { path: PathBuf, msg: String },
    #[error("device: {0}")]
    Device(String),
    #[error("bad input: {0}")]
    BadInput(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl ModelError {
    pub fn weights(path: &Path, msg: impl Into<String>) -> Self {
        ModelError::Weights {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}

/// Path of a weights file Wick ships (`models/weights/NAME`), looked up in order:
/// 1. `$WICK_WEIGHTS_DIR/NAME` when the variable is set;
/// 2. beside the loaded Wick library: `wick-weights/NAME` in its folder (the frei0r folder
///    `wick frei0r` assembles) or `../Resources/weights/NAME` (an OpenFX bundle's
///    `Contents/Resources`), when the file is there;
/// 3. this build's source tree (`models/weights/NAME`).
pub fn bundled(name: &str) -> PathBuf {
    if let Some(d) = std::env::var_os("WICK_WEIGHTS_DIR") {
        return PathBuf::from(d).join(name);
    }
    if let Some(dir) = library_dir() {
        for cand in [
            dir.join("wick-weights").join(name),
            dir.join("..").join("Resources").join("weights").join(name),
        ] {
            if cand.is_file() {
                return cand;
            }
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("weights")
        .join(name)
}

/// The folder of the shared library (or executable) this code is linked into.
#[cfg(unix)]
pub(crate) fn library_dir() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: dladdr only reads the loader's tables; `info` is a plain out-struct and
    // `dli_fname` (when set) a NUL-terminated string owned by the loader.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let addr = library_dir as *const libc::c_void;
        if libc::dladdr(addr, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(info.dli_fname);
        let path = Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
        path.parent().map(Path::to_path_buf)
    }
}

#[cfg(not(unix))]
pub(crate) fn library_dir() -> Option<PathBuf> {
    None
}

/// Reads a safetensors file into tensors on `device`, checking the header, every tensor's byte
/// range, and that every float value is finite.
pub fn load_safetensors(
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::weights(path, e.to_string()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
        ModelError::weights(
            path,
            format!("not a valid safetensors file (truncated or corrupt?): {e}"),
        )
    })?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let shape: Vec<usize> = view.shape().to_vec();
        let t = match view.dtype() {
            safetensors::Dtype::F32 => {
                let data: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                    return Err(ModelError::weights(
                        path,
                        format!("tensor '{name}' has a non-finite value at index {i}"),
                    ));
                }
                Tensor::from_vec(data, shape, device)?
            }
            // Half-precision storage (bundled weights where f32 would double the size), widened
            // to f32 on load.
            safetensors::Dtype::F16 => {
                let t = Tensor::from_raw_buffer(view.data(), DType::F16, &shape, &Device::Cpu)?
                    .to_dtype(DType::F32)?;
                let data = t.flatten_all()?.to_vec1::<f32>()?;
                if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                    return Err(ModelError::weights(
                        path,
                        format!("tensor '{name}' has a non-finite value at index {i}"),
                    ));
                }
                Tensor::from_vec(data, shape, device)?
            }
            other => {
                return Err(ModelError::weights(
                    path,
                    format!("tensor '{name}' has dtype {other:?}; Wick weights are f32 or f16"),
                ))
            }
        };
        out.insert(name, t);
    }
    Ok(out)
}

/// A `VarBuilder` over a validated safetensors file.
pub fn var_builder(path: &Path, device: &Device) -> Result<VarBuilder<'static>, ModelError> {
    let tensors = load_safetensors(path, device)?;
    Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
}

/// Writes tensors to `path` atomically: a temp file beside it, then a rename, so an interrupted
/// write never leaves a corrupt file under the final name.
pub fn save_safetensors_atomic(
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), ModelError> {
    let tmp = tmp_path(path);
    let r = candle_core::safetensors::save(tensors, &tmp)
        .map_err(|e| ModelError::weights(path, format!("write failed: {e}")))
        .and_then(|_| {
            std::fs::rename(&tmp, path).map_err(|e| ModelError::weights(path, e.to_string()))
        });
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_corruption_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("wick-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.safetensors");
        let mut m = HashMap::new();
        m.insert(
            "a".to_string(),
            Tensor::new(&[1f32, 2., 3.], &Device::Cpu).unwrap(),
        );
        save_safetensors_atomic(&m, &p).unwrap();
        let back = load_safetensors(&p, &Device::Cpu).unwrap();
        assert_eq!(back["a"].to_vec1::<f32>().unwrap(), vec![1., 2., 3.]);
        // Truncate it.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        let e = load_safetensors(&p, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("truncated or corrupt"), "{e}");
        let e = load_safetensors(&dir.join("missing.safetensors"), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.safetensors"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
