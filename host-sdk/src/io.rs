//! Image files in and out, keeping precision: PNG 8/16-bit, JPEG, TIFF 8/16-bit, OpenEXR f32.
//!
//! Files load in their native precision (8-bit → u8, 16-bit → u16, EXR → f32 linear
//! premultiplied). Outputs are allocated by the host in the file's format (see
//! [`output_format`]) so the plugin converts once and nothing is crushed to 8 bits on the way.
//! Writes are atomic: a temp file in the same folder, then a rename.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageBuffer, ImageFormat};

use crate::{Frame, HostError, Sample};

/// Bit depth requested for an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    U8,
    U16,
    F32,
}

impl Depth {
    pub fn parse(s: &str) -> Option<Depth> {
        Some(match s {
            "8" => Depth::U8,
            "16" => Depth::U16,
            "32" | "32f" | "f32" => Depth::F32,
            _ => return None,
        })
    }
    /// The depth that keeps a frame's precision.
    pub fn of(f: &Frame) -> Depth {
        match f.sample {
            Sample::U8 => Depth::U8,
            Sample::U16 => Depth::U16,
            Sample::F16 | Sample::F32 => Depth::F32,
        }
    }
}

/// A [`HostError::Io`] for `path`.
pub fn io_err(path: &Path, msg: impl std::fmt::Display) -> HostError {
    HostError::Io {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

fn format_of(path: &Path) -> Result<ImageFormat, HostError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(match ext.as_str() {
        "png" => ImageFormat::Png,
        "jpg" | "jpeg" => ImageFormat::Jpeg,
        "tif" | "tiff" => ImageFormat::Tiff,
        "exr" => ImageFormat::OpenExr,
        _ => {
            return Err(io_err(
                path,
                format!("unsupported image type '.{ext}' (use .png, .jpg, .tif or .exr)"),
            ))
        }
    })
}

/// Loads an image file as a frame in its native precision.
pub fn load_image(path: &Path) -> Result<Frame, HostError> {
    let fmt = format_of(path)?;
    let reader = image::ImageReader::open(path).map_err(|e| io_err(path, e))?;
    let img = reader
        .with_guessed_format()
        .map_err(|e| io_err(path, e))?
        .decode()
        .map_err(|e| io_err(path, e))?;
    let (w, h) = (img.width(), img.height());
    let exr = fmt == ImageFormat::OpenExr;
    Ok(match img {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => Frame {
            width: w,
            height: h,
            sample: Sample::U8,
            channels: 4,
            premultiplied: false,
            linear: false,
            data: img.into_rgba8().into_raw(),
        },
        DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => {
            let v = img.into_rgba16().into_raw();
            let data = v.iter().flat_map(|s| s.to_ne_bytes()).collect();
            Frame {
                width: w,
                height: h,
                sample: Sample::U16,
                channels: 4,
                premultiplied: false,
                linear: false,
                data,
            }
        }
        other => {
            let v = other.into_rgba32f().into_raw();
            let data = v.iter().flat_map(|s| s.to_ne_bytes()).collect();
            // OpenEXR is linear light with premultiplied alpha by convention.
            Frame {
                width: w,
                height: h,
                sample: Sample::F32,
                channels: 4,
                premultiplied: exr,
                linear: true,
                data,
            }
        }
    })
}

/// The frame format a host should ask the plugin to write for `path` at `depth`:
/// PNG/TIFF 8 or 16-bit sRGB straight RGBA, JPEG 8-bit RGB, EXR f32 linear premultiplied RGBA.
pub fn output_format(path: &Path, depth: Depth) -> Result<(Sample, u32, bool, bool), HostError> {
    Ok(match format_of(path)? {
        ImageFormat::OpenExr => (Sample::F32, 4, true, true),
        ImageFormat::Jpeg => (Sample::U8, 3, false, false),
        _ => match depth {
            Depth::U8 => (Sample::U8, 4, false, false),
            Depth::U16 | Depth::F32 => (Sample::U16, 4, false, false),
        },
    })
}

/// A frame of `w`×`h` in the format `output_format` picks.
pub fn output_frame(path: &Path, depth: Depth, w: u32, h: u32) -> Result<Frame, HostError> {
    let (s, c, p, l) = output_format(path, depth)?;
    Ok(Frame::new(w, h, s, c, p, l))
}

fn encode(frame: &Frame, fmt: ImageFormat, path: &Path) -> Result<Vec<u8>, HostError> {
    let (w, h) = (frame.width, frame.height);
    let bad = || {
        io_err(
            path,
            "frame format does not match the file type (internal error)",
        )
    };
    let img: DynamicImage = match (frame.sample, frame.channels) {
        (Sample::U8, 4) => DynamicImage::ImageRgba8(
            ImageBuffer::from_raw(w, h, frame.data.clone()).ok_or_else(bad)?,
        ),
        (Sample::U8, 3) => DynamicImage::ImageRgb8(
            ImageBuffer::from_raw(w, h, frame.data.clone()).ok_or_else(bad)?,
        ),
        (Sample::U16, c) => {
            let v: Vec<u16> = frame
                .data
                .chunks_exact(2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
                .collect();
            if c == 4 {
                DynamicImage::ImageRgba16(ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?)
            } else {
                DynamicImage::ImageRgb16(ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?)
            }
        }
        (Sample::F32, c) => {
            let v: Vec<f32> = frame
                .data
                .chunks_exact(4)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if c == 4 {
                DynamicImage::ImageRgba32F(ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?)
            } else {
                DynamicImage::ImageRgb32F(ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?)
            }
        }
        _ => return Err(bad()),
    };
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, fmt).map_err(|e| io_err(path, e))?;
    Ok(buf.into_inner())
}

/// Saves a frame (allocated with [`output_frame`] for this path) atomically.
pub fn save_image(frame: &Frame, path: &Path) -> Result<(), HostError> {
    let fmt = format_of(path)?;
    let bytes = encode(frame, fmt, path)?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to a temp file beside `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let tmp = tmp_name(path);
    let r = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}

/// The temp name used for atomic writes: hidden, in the same folder, unique per process.
pub fn tmp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.wick-tmp", std::process::id()))
}
