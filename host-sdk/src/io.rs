//! Image files in and out, keeping precision: PNG 8/16-bit, JPEG, TIFF 8/16-bit, OpenEXR f32.
//!
//! Files load in their native precision (8-bit → u8, 16-bit → u16, EXR → f32 linear
//! premultiplied). Outputs are allocated by the host in the file's format (see
//! [`output_format`]) so the plugin converts once and nothing is crushed to 8 bits on the way.
//! Reads go through `wick_common::imagefile` (regular files only, size cap, a truncated JPEG
//! refused, decode limits); writes through `wick_common::fs::write_atomic` (a temp file in the
//! same folder, then a rename).

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

/// The file type of `path`, from its extension (what output files are written as).
pub fn format_of(path: &Path) -> Result<ImageFormat, HostError> {
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

/// Loads an image file as a frame in its native precision. Only a regular file is read; a
/// file cut short (a JPEG without its end marker) is an error naming the path.
pub fn load_image(path: &Path) -> Result<Frame, HostError> {
    let fmt = format_of(path)?;
    let img = wick_common::imagefile::open(path).map_err(|e| io_err(path, e))?;
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

/// Writes `bytes` to a temp file beside `path`, then renames it over `path` (the one atomic
/// writer, `wick_common::fs::write_atomic`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    wick_common::fs::write_atomic(path, bytes).map_err(|e| io_err(path, e))
}

/// The temp name used for atomic writes: hidden, in the same folder, unique per process and
/// call (`wick_common::fs::temp_name`).
pub fn tmp_name(path: &Path) -> PathBuf {
    wick_common::fs::temp_name(path)
}

/// sRGB transfer, linear → encoded (the same curve the plugin uses).
fn linear_to_srgb(x: f32) -> f32 {
    if x <= 0.003_130_8 {
        x * 12.92
    } else {
        1.055 * x.powf(1.0 / 2.4) - 0.055
    }
}

/// sRGB transfer, encoded → linear.
fn srgb_to_linear(x: f32) -> f32 {
    if x <= 0.040_45 {
        x / 12.92
    } else {
        ((x + 0.055) / 1.055).powf(2.4)
    }
}

/// IEEE half → f32.
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let man = (h & 0x3ff) as f32;
    sign * match exp {
        0 => man * 2f32.powi(-24),
        31 if man == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + man / 1024.0) * 2f32.powi(e as i32 - 15),
    }
}

/// Converts a frame into another of the same size in `dst`'s format (sample type, channels,
/// alpha, colour space), as the plugin converts frames: un-premultiply, change the transfer
/// curve, premultiply, quantise (rounded, clamped to 0..1 for integer samples). A 3-channel
/// destination drops alpha; a 3-channel source is opaque. Used where a host copies a frame to a
/// file of another type (e.g. `wick retime` PNG in, JPEG out).
pub fn convert_frame(src: &Frame, dst: &mut Frame) -> Result<(), HostError> {
    if (src.width, src.height) != (dst.width, dst.height) {
        return Err(HostError::BadArgument(format!(
            "convert_frame: {}x{} into {}x{}",
            src.width, src.height, dst.width, dst.height
        )));
    }
    let (sc, dc) = (src.channels as usize, dst.channels as usize);
    let (ss, ds) = (src.sample.size(), dst.sample.size());
    let n = src.width as usize * src.height as usize;
    if src.data.len() != n * sc * ss || dst.data.len() != n * dc * ds {
        return Err(HostError::BadArgument(
            "convert_frame: buffer length does not match the frame".into(),
        ));
    }
    let read = |b: &[u8]| -> f32 {
        match src.sample {
            Sample::U8 => b[0] as f32 / 255.0,
            Sample::U16 => u16::from_ne_bytes([b[0], b[1]]) as f32 / 65535.0,
            Sample::F16 => f16_to_f32(u16::from_ne_bytes([b[0], b[1]])),
            Sample::F32 => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        }
    };
    for i in 0..n {
        let p = &src.data[i * sc * ss..(i + 1) * sc * ss];
        let mut c = [0f32, 0.0, 0.0, 1.0];
        for (k, v) in c.iter_mut().enumerate().take(sc) {
            *v = read(&p[k * ss..]);
        }
        if sc == 4 && src.premultiplied {
            let a = c[3];
            for v in c.iter_mut().take(3) {
                *v = if a > 0.0 { *v / a } else { 0.0 };
            }
        }
        if src.linear != dst.linear {
            for v in c.iter_mut().take(3) {
                *v = if dst.linear {
                    srgb_to_linear(*v)
                } else {
                    linear_to_srgb(*v)
                };
            }
        }
        if dc == 4 && dst.premultiplied {
            let a = c[3].clamp(0.0, 1.0);
            for v in c.iter_mut().take(3) {
                *v *= a;
            }
        }
        let q = &mut dst.data[i * dc * ds..(i + 1) * dc * ds];
        for (k, v) in c.iter().enumerate().take(dc) {
            let v = if v.is_nan() { 0.0 } else { *v };
            let o = &mut q[k * ds..];
            match dst.sample {
                Sample::U8 => o[0] = (v.clamp(0.0, 1.0) * 255.0).round() as u8,
                Sample::U16 => o[..2]
                    .copy_from_slice(&((v.clamp(0.0, 1.0) * 65535.0).round() as u16).to_ne_bytes()),
                Sample::F16 => {
                    return Err(HostError::BadArgument(
                        "convert_frame: half-float output is not supported".into(),
                    ))
                }
                Sample::F32 => o[..4].copy_from_slice(&v.to_ne_bytes()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convert_u8_rgba_to_rgb_and_exr_and_back() {
        let mut src = Frame::new_u8(2, 1);
        src.data = vec![255, 128, 0, 255, 10, 20, 30, 0];
        let mut rgb = Frame::new(2, 1, Sample::U8, 3, false, false);
        convert_frame(&src, &mut rgb).unwrap();
        assert_eq!(rgb.data, vec![255, 128, 0, 10, 20, 30]);
        let mut exr = Frame::new(2, 1, Sample::F32, 4, true, true);
        convert_frame(&src, &mut exr).unwrap();
        let mut back = Frame::new_u8(2, 1);
        convert_frame(&exr, &mut back).unwrap();
        // The opaque pixel survives; the transparent one keeps alpha 0 (its colour is gone,
        // as premultiplied alpha has none).
        assert_eq!(&back.data[..4], &src.data[..4]);
        assert_eq!(back.data[7], 0);
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
    }
}
