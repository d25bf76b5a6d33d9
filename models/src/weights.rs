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

/// The largest weights or checkpoint file Wick reads. The bundled models are under 25 MB and
/// real checkpoints a few hundred MB; anything larger is refused before it is read.
pub const MAX_WEIGHTS_FILE: u64 = 4 * wick_common::fs::GIB;

/// The largest safetensors header (the format's own limit).
pub const MAX_HEADER: u64 = 100_000_000;

/// Opens a weights file: a regular file (never a device or FIFO) of at most
/// [`MAX_WEIGHTS_FILE`] bytes.
pub fn open_weights(path: &Path) -> Result<(std::fs::File, u64), ModelError> {
    wick_common::fs::open_regular(path, MAX_WEIGHTS_FILE)
        .map_err(|e| ModelError::weights(path, e.to_string()))
}

/// One tensor as a safetensors header declares it.
#[derive(Debug, Clone)]
pub struct HeaderEntry {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Byte range in the data section.
    pub start: u64,
    pub end: u64,
}

/// A safetensors file's header, read from the file's first bytes only (the 8-byte length, then
/// at most [`MAX_HEADER`] bytes of JSON), with the byte ranges checked against the file's
/// length: nothing is read that the header does not declare.
pub struct SafetensorsHeader {
    path: PathBuf,
    file: std::fs::File,
    /// Offset of the data section in the file.
    data_start: u64,
    /// File length (= `data_start` + the end of the last tensor).
    pub len: u64,
    pub tensors: HashMap<String, HeaderEntry>,
}

impl SafetensorsHeader {
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        use std::io::Read;
        let bad = |m: String| {
            ModelError::weights(
                path,
                format!("not a valid safetensors file (truncated or corrupt?): {m}"),
            )
        };
        let (mut file, len) = open_weights(path)?;
        let mut n = [0u8; 8];
        file.read_exact(&mut n)
            .map_err(|_| bad(format!("{len} bytes is too short for a header")))?;
        let n = u64::from_le_bytes(n);
        if n > MAX_HEADER {
            return Err(bad(format!(
                "header of {n} bytes declared (the most is {MAX_HEADER})"
            )));
        }
        if 8 + n > len {
            return Err(bad(format!(
                "header of {n} bytes declared in a file of {len} bytes"
            )));
        }
        let mut text = vec![0u8; n as usize];
        file.read_exact(&mut text)
            .map_err(|e| bad(format!("reading the header: {e}")))?;
        let json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&text).map_err(|e| bad(format!("header: {e}")))?;
        let mut tensors = HashMap::new();
        let mut end = 0u64;
        for (name, v) in json {
            if name == "__metadata__" {
                continue;
            }
            let entry = (|| {
                let dtype = v.get("dtype")?.as_str()?.to_string();
                let shape = v
                    .get("shape")?
                    .as_array()?
                    .iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<Vec<usize>>>()?;
                let off = v.get("data_offsets")?.as_array()?;
                let (start, end) = (off.first()?.as_u64()?, off.get(1)?.as_u64()?);
                (off.len() == 2 && start <= end).then_some(HeaderEntry {
                    dtype,
                    shape,
                    start,
                    end,
                })
            })()
            .ok_or_else(|| bad(format!("tensor '{name}' has a malformed header entry")))?;
            end = end.max(entry.end);
            tensors.insert(name, entry);
        }
        let declared = 8 + n + end;
        if declared != len {
            return Err(bad(format!(
                "the header declares {declared} bytes, the file has {len}"
            )));
        }
        Ok(SafetensorsHeader {
            path: path.to_path_buf(),
            file,
            data_start: 8 + n,
            len,
            tensors,
        })
    }

    /// A small f32 tensor's values (at most `max_elems`), read from its declared range only;
    /// `None` when it is missing, not f32 or larger.
    pub fn read_small_f32(&mut self, name: &str, max_elems: usize) -> Option<Vec<f32>> {
        use std::io::{Read, Seek, SeekFrom};
        let e = self.tensors.get(name)?;
        let bytes = e.end - e.start;
        if e.dtype != "F32" || bytes % 4 != 0 || bytes / 4 > max_elems as u64 {
            return None;
        }
        let mut buf = vec![0u8; bytes as usize];
        self.file
            .seek(SeekFrom::Start(self.data_start + e.start))
            .ok()?;
        self.file.read_exact(&mut buf).ok()?;
        Some(
            buf.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }

    /// The whole file, read to the length the header declares (and no further).
    pub fn read_all(mut self) -> Result<Vec<u8>, ModelError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut bytes = Vec::with_capacity(self.len as usize);
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&mut self.file).take(self.len).read_to_end(&mut bytes))
            .map_err(|e| ModelError::weights(&self.path, e.to_string()))?;
        if bytes.len() as u64 != self.len {
            return Err(ModelError::weights(
                &self.path,
                "not a valid safetensors file (truncated or corrupt?): the file shrank while \
                 being read",
            ));
        }
        Ok(bytes)
    }
}

/// The largest pickle (`data.pkl`) read from a PyTorch checkpoint; a real state dict's is a few
/// hundred kB.
pub const MAX_PICKLE: u64 = 64 * wick_common::fs::MIB;

/// Checks a PyTorch checkpoint (`.pth`, zip + pickle) before Candle reads it: a regular file
/// under [`MAX_WEIGHTS_FILE`]; a zip whose pickle is stored uncompressed (as `torch.save`
/// writes it) and at most [`MAX_PICKLE`] bytes, so that neither a compressed pickle bomb nor a
/// huge pickle reaches Candle's unpickler; and every tensor the pickle declares no larger than
/// the zip entry holding its data, so a corrupt or hostile pickle cannot make Candle allocate
/// more than the file holds.
pub fn check_pth(path: &Path) -> Result<candle_core::pickle::PthTensors, ModelError> {
    let (file, _) = open_weights(path)?;
    let bad =
        |m: String| ModelError::weights(path, format!("not a readable PyTorch checkpoint: {m}"));
    let mut zip =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for i in 0..zip.len() {
        let e = zip.by_index_raw(i).map_err(|e| bad(e.to_string()))?;
        let name = e.name().map_err(|e| bad(e.to_string()))?.into_owned();
        if name.ends_with("data.pkl")
            && (e.compression() != zip::CompressionMethod::Stored || e.size() > MAX_PICKLE)
        {
            return Err(bad(format!(
                "its pickle {name} is compressed or larger than {} (torch.save writes it \
                 uncompressed and small; re-save the checkpoint with torch.save)",
                wick_common::fs::size_text(MAX_PICKLE)
            )));
        }
        sizes.insert(name, e.size());
    }
    let pth = candle_core::pickle::PthTensors::new(path, None).map_err(|e| bad(e.to_string()))?;
    for (name, info) in pth.tensor_infos() {
        let stored = sizes.get(&info.path).copied().unwrap_or(0);
        let bytes = info
            .layout
            .dims()
            .iter()
            .try_fold(info.dtype.size_in_bytes() as u64, |acc, &d| {
                acc.checked_mul(d as u64)
            })
            .and_then(|b| b.checked_add(info.layout.start_offset() as u64));
        match bytes {
            Some(b) if b <= stored => {}
            _ => {
                return Err(ModelError::weights(
                    path,
                    format!(
                        "tensor '{name}' declares shape {:?}, more data than its storage \
                         {} holds ({stored} bytes; corrupt checkpoint)",
                        info.layout.dims(),
                        info.path
                    ),
                ))
            }
        }
    }
    Ok(pth)
}

/// A `VarBuilder` over a PyTorch checkpoint, checked first ([`check_pth`]).
pub fn pth_var_builder(path: &Path, device: &Device) -> Result<VarBuilder<'static>, ModelError> {
    check_pth(path)?;
    VarBuilder::from_pth(path, DType::F32, device)
        .map_err(|e| ModelError::weights(path, format!("not a readable PyTorch checkpoint: {e}")))
}

/// Reads a safetensors file into tensors on `device`, checking the header, every tensor's byte
/// range, and that every float value is finite. Only a regular file is read, and only the bytes
/// its header declares ([`SafetensorsHeader`]).
pub fn load_safetensors(
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>, ModelError> {
    let bytes = SafetensorsHeader::open(path)?.read_all()?;
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

/// Writes tensors to `path` atomically (`wick_common::fs::write_atomic_with`): a temp file
/// beside it, then a rename, so an interrupted write never leaves a corrupt file under the
/// final name.
pub fn save_safetensors_atomic(
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), ModelError> {
    wick_common::fs::write_atomic_with(path, |tmp| {
        candle_core::safetensors::save(tensors, tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| ModelError::weights(path, format!("write failed: {e}")))
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

    /// #16.2: devices, FIFOs and lying headers are refused before anything large is read.
    #[test]
    fn devices_fifos_and_lying_headers_are_refused_up_front() {
        let dir = std::env::temp_dir().join(format!("wick-weights-dev-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = std::time::Instant::now();
        #[cfg(unix)]
        {
            let link = dir.join("multistyle26.safetensors");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            let fifo = dir.join("fifo.safetensors");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            for (p, what) in [
                (Path::new("/dev/zero"), "character device"),
                (&link, "character device"),
                (&fifo, "FIFO"),
                (&dir, "folder"),
            ] {
                let e = load_safetensors(p, &Device::Cpu).unwrap_err().to_string();
                assert!(e.contains(what), "{e}");
                assert!(trained_arch_of(p).is_none());
                let e = check_pth(p).err().expect("refused").to_string();
                assert!(e.contains(what), "{e}");
            }
        }
        // A header that claims more than the file holds, or an absurd header length.
        let p = dir.join("lie.safetensors");
        let header = br#"{"a":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 16]);
        std::fs::write(&p, &bytes).unwrap();
        let e = load_safetensors(&p, &Device::Cpu).unwrap_err().to_string();
        assert!(
            e.contains("declares") && e.contains("truncated or corrupt"),
            "{e}"
        );
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        std::fs::write(&p, &bytes).unwrap();
        let e = load_safetensors(&p, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("header of"), "{e}");
        std::fs::write(&p, b"abc").unwrap();
        let e = load_safetensors(&p, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("too short"), "{e}");
        assert!(t0.elapsed().as_secs() < 10, "nothing large was read");
        std::fs::remove_dir_all(&dir).ok();
    }

    fn trained_arch_of(p: &Path) -> Option<Vec<f32>> {
        SafetensorsHeader::open(p)
            .ok()
            .and_then(|mut h| h.read_small_f32("wick.arch", 64))
    }

    /// A PyTorch checkpoint whose pickle declares a tensor larger than its data is refused
    /// before Candle allocates it; a compressed pickle before Candle unpickles it.
    #[test]
    fn pth_declaring_more_than_the_file_holds_is_refused() {
        let dir = std::env::temp_dir().join(format!("wick-weights-pth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("huge.pth");
        std::fs::write(&p, huge_pth(false)).unwrap();
        let e = check_pth(&p).err().expect("refused").to_string();
        assert!(e.contains("more data than its storage"), "{e}");
        let e = pth_var_builder(&p, &Device::Cpu)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("more data than"), "{e}");
        // A compressed pickle (a possible decompression bomb) is refused unread.
        std::fs::write(&p, huge_pth(true)).unwrap();
        let e = check_pth(&p).err().expect("refused").to_string();
        assert!(e.contains("compressed"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A minimal PyTorch zip checkpoint: `{"w": FloatStorage tensor of shape [65536, 65536]}`
    /// with 16 bytes of data (stored, not compressed).
    fn huge_pth(deflated_pickle: bool) -> Vec<u8> {
        // Pickle protocol 2 of OrderedDict-like dict {"w": _rebuild_tensor_v2(persistent
        // storage, 0, (2**40,), (1,), False, {})}.
        let mut pk: Vec<u8> = vec![0x80, 0x02, b'}', b'q', 0x00, b'('];
        let unicode = |pk: &mut Vec<u8>, s: &str| {
            pk.push(b'X');
            pk.extend_from_slice(&(s.len() as u32).to_le_bytes());
            pk.extend_from_slice(s.as_bytes());
        };
        unicode(&mut pk, "w");
        pk.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n");
        pk.push(b'(');
        // persistent id: ('storage', torch.FloatStorage, '0', 'cpu', 4)
        pk.push(b'(');
        unicode(&mut pk, "storage");
        pk.extend_from_slice(b"ctorch\nFloatStorage\n");
        unicode(&mut pk, "0");
        unicode(&mut pk, "cpu");
        pk.extend_from_slice(&[b'K', 4]);
        pk.push(b't');
        pk.push(b'Q');
        pk.extend_from_slice(&[b'K', 0]);
        // size (65536, 65536) (16 GiB of f32), stride (65536, 1)
        let big = [b'J', 0, 0, 1, 0];
        pk.extend_from_slice(&big);
        pk.extend_from_slice(&big);
        pk.push(0x86);
        pk.extend_from_slice(&big);
        pk.extend_from_slice(&[b'K', 1, 0x86]);
        pk.push(0x89);
        pk.push(b'}');
        pk.push(b't');
        pk.push(b'R');
        pk.push(b'u');
        pk.push(b'.');
        zip_stored(
            &[("archive/data.pkl", &pk), ("archive/data/0", &[0u8; 16])],
            if deflated_pickle {
                &["archive/data.pkl"]
            } else {
                &[]
            },
        )
    }

    /// A zip archive of stored (uncompressed) entries; entries named in `deflated` are marked
    /// deflate-compressed (their bytes are not valid deflate data: only the directory is read).
    fn zip_stored(entries: &[(&str, &[u8])], deflated: &[&str]) -> Vec<u8> {
        fn crc32(d: &[u8]) -> u32 {
            let mut c = !0u32;
            for &b in d {
                c ^= b as u32;
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        (c >> 1) ^ 0xEDB8_8320
                    } else {
                        c >> 1
                    };
                }
            }
            !c
        }
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let off = out.len() as u32;
            let crc = crc32(data);
            let method: u16 = if deflated.contains(name) { 8 } else { 0 };
            let head = |sig: u32, central: bool| {
                let mut h = sig.to_le_bytes().to_vec();
                if central {
                    h.extend_from_slice(&20u16.to_le_bytes());
                }
                h.extend_from_slice(&20u16.to_le_bytes());
                h.extend_from_slice(&[0; 2]); // flags
                h.extend_from_slice(&method.to_le_bytes());
                h.extend_from_slice(&[0; 2]); // time
                h.extend_from_slice(&[0; 2]); // date
                h.extend_from_slice(&crc.to_le_bytes());
                h.extend_from_slice(&(data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(name.len() as u16).to_le_bytes());
                h.extend_from_slice(&[0; 2]); // extra
                if central {
                    h.extend_from_slice(&[0; 6]); // comment length, disk, internal attrs
                    h.extend_from_slice(&[0; 4]); // external attrs
                    h.extend_from_slice(&off.to_le_bytes());
                }
                h.extend_from_slice(name.as_bytes());
                h
            };
            out.extend(head(0x0403_4b50, false));
            out.extend_from_slice(data);
            central.extend(head(0x0201_4b50, true));
        }
        let cd_off = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&[0; 2]);
        out
    }
}
