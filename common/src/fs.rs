//! Files in and out: bounded reads of regular files only, and the one atomic writer.
//!
//! Every file Wick reads on a user's word (weights, checkpoints, images, graph and config
//! files) is opened with [`open_regular`] or [`read_regular`]: a device (`/dev/zero`), a FIFO,
//! a socket or a folder is refused before a byte is read, and so is a file larger than the
//! caller's cap, so a wrong path can neither hang the host nor fill its memory.
//!
//! Every file Wick writes goes through [`write_atomic`] or [`write_atomic_with`] (or, for a
//! file written by another program over time, such as FFmpeg encoding a video, a [`temp_name`]
//! and a rename): the data goes to a hidden temp file beside the target
//! (`.STEM.PID-N.wick-tmp.EXT`), which is renamed over the target only when complete, so an
//! interrupted or failed write (a kill, a full disk) never leaves a partial file under the final
//! name.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// 1 MiB, for caps.
pub const MIB: u64 = 1 << 20;
/// 1 GiB, for caps.
pub const GIB: u64 = 1 << 30;

/// What a file that is not a regular file is, in words.
fn kind(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// A byte count in words: `512 bytes`, `3.0 MiB`, `2.0 GiB`.
pub fn size_text(n: u64) -> String {
    if n >= GIB {
        format!("{:.1} GiB", n as f64 / GIB as f64)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{n} bytes")
    }
}

fn not_regular(ft: &std::fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("is {}, not a regular file", kind(ft)),
    )
}

/// Opens `path` for reading when it is a regular file (symlinks followed) of at most `max_len`
/// bytes; returns the file and its length. Anything else is an error that says what the path
/// is: nothing is read from a device, and a FIFO is never waited on (it is checked before it
/// is opened, and opened non-blocking in case it was swapped in between).
pub fn open_regular(path: &Path, max_len: u64) -> io::Result<(File, u64)> {
    let ft = std::fs::metadata(path)?.file_type();
    if !ft.is_file() {
        return Err(not_regular(&ft));
    }
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts.open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    let len = meta.len();
    if len > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "is {}, more than the {} Wick reads from such a file",
                size_text(len),
                size_text(max_len)
            ),
        ));
    }
    Ok((f, len))
}

/// Reads a whole regular file of at most `max_len` bytes (see [`open_regular`]); never more
/// than the length it had when opened.
pub fn read_regular(path: &Path, max_len: u64) -> io::Result<Vec<u8>> {
    let (f, len) = open_regular(path, max_len)?;
    let mut v = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut v)?;
    Ok(v)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_text(path: &Path, max_len: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, max_len)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// The temp name an atomic write of `path` uses: hidden, in the same folder (so the rename
/// stays on one file system), unique per process and per call, ending in the target's
/// extension (programs such as FFmpeg pick the format from it): `.STEM.PID-N.wick-tmp.EXT`
/// (`.NAME.PID-N.wick-tmp` without an extension).
pub fn temp_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let text = |s: Option<&std::ffi::OsStr>| s.map(|s| s.to_string_lossy().into_owned());
    let name = match (text(path.file_stem()), text(path.extension())) {
        (Some(stem), Some(ext)) => format!(".{stem}.{pid}-{n}.wick-tmp.{ext}"),
        (stem, _) => format!(".{}.{pid}-{n}.wick-tmp", stem.unwrap_or_default()),
    };
    path.with_file_name(name)
}

/// Writes `path` atomically: creates its folder if needed, lets `write` fill a temp file
/// beside it ([`temp_name`]), then renames that over `path`. On any failure the temp file is
/// removed and `path` is left as it was.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = temp_name(path);
    let r = write(&tmp).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |tmp| std::fs::write(tmp, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wick-common-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn regular_files_only_and_capped() {
        let d = scratch("regular");
        let f = d.join("a.bin");
        std::fs::write(&f, [1u8; 100]).unwrap();
        assert_eq!(read_regular(&f, 100).unwrap().len(), 100);
        let e = read_regular(&f, 99).unwrap_err().to_string();
        assert!(e.contains("100 bytes") && e.contains("99 bytes"), "{e}");
        let e = read_regular(&d, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("folder"), "{e}");
        #[cfg(unix)]
        {
            let e = read_regular(Path::new("/dev/zero"), GIB)
                .unwrap_err()
                .to_string();
            assert!(e.contains("character device"), "{e}");
            // A FIFO with no writer: refused at once, never waited on.
            let fifo = d.join("p.png");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let e = read_regular(&fifo, GIB).unwrap_err().to_string();
            assert!(e.contains("FIFO"), "{e}");
            // A symlink to a device is the device.
            let link = d.join("w.safetensors");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            let e = open_regular(&link, GIB).unwrap_err().to_string();
            assert!(e.contains("character device"), "{e}");
        }
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn atomic_writes_leave_no_temp_and_no_partial_file() {
        let d = scratch("atomic");
        let f = d.join("sub/x.png");
        write_atomic(&f, b"one").unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        // A failing writer: the old file stays, the temp file is gone.
        let e = write_atomic_with(&f, |tmp| {
            std::fs::write(tmp, b"part")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        let names: Vec<String> = std::fs::read_dir(d.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["x.png".to_string()]);
        assert_ne!(temp_name(&f), temp_name(&f), "unique per call");
        let t = temp_name(&f)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(t.starts_with(".x.") && t.ends_with(".wick-tmp.png"), "{t}");
        std::fs::remove_dir_all(&d).ok();
    }
}
