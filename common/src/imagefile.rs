//! Image files read whole, checked complete, then decoded: the one way Wick opens an image a
//! user named (the host SDK's `load_image`, style paintings, training images, `wick sheet`).
//!
//! - Only a regular file of at most [`MAX_IMAGE_FILE`] bytes is read ([`crate::fs`]).
//! - The format comes from the content (the extension when the content says nothing).
//! - A JPEG must run to its end-of-image marker: a JPEG cut inside its compressed data decodes
//!   "successfully" in most decoders (the rest of the picture grey or smeared), which for a
//!   plate is a corrupt shot, so it is refused with the reason. Setting the environment
//!   variable `WICK_ALLOW_TRUNCATED=1` decodes such a file anyway, with a warning on stderr.
//!   (PNG, TIFF and OpenEXR decoders already fail on missing data.)
//! - Decoding uses the `image` crate's default limits (at most 512 MiB allocated per image),
//!   so a small file that claims a huge picture is an error, not an exhausted machine.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader};

use crate::fs::{read_regular, GIB};

/// The largest image file Wick reads (an 8K float EXR is ~0.5 GiB).
pub const MAX_IMAGE_FILE: u64 = 2 * GIB;

/// Environment variable that lets a truncated JPEG through (with a warning).
pub const ALLOW_TRUNCATED_ENV: &str = "WICK_ALLOW_TRUNCATED";

/// Whether a JPEG stream is complete: walks its marker segments (each by its declared length)
/// and every scan's entropy-coded data to the end-of-image marker `FF D9`. A file cut anywhere
/// before that marker is incomplete; bytes after it (camera trailers) are allowed.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        // The next marker: 0xFF, optional fill bytes, the code. Stray bytes between segments
        // are skipped, as libjpeg does (with a warning).
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&m) = b.get(i) else {
            return false;
        };
        i += 1;
        match m {
            0xD9 => return true,
            // Standalone markers (TEM, RSTn) and a stuffed zero outside a scan: no length.
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
        else {
            return false;
        };
        if len < 2 {
            return false;
        }
        i += len;
        if i > b.len() {
            return false;
        }
        if m == 0xDA {
            // Entropy-coded data: runs to the first 0xFF not followed by a stuffed 0x00, a
            // restart marker or a fill byte.
            loop {
                match b[i..].iter().position(|&x| x == 0xFF) {
                    None => return false,
                    Some(p) => i += p,
                }
                let mut j = i + 1;
                while j < b.len() && b[j] == 0xFF {
                    j += 1;
                }
                match b.get(j) {
                    None => return false,
                    Some(0x00) | Some(0xD0..=0xD7) => i = j + 1,
                    Some(_) => {
                        i = j - 1;
                        break;
                    }
                }
            }
        }
    }
}

/// The format of an image file: from its content, else from its extension.
pub fn format_of(bytes: &[u8], path: &Path) -> Option<ImageFormat> {
    image::guess_format(bytes)
        .ok()
        .or_else(|| ImageFormat::from_path(path).ok())
}

/// Checks that an image file's bytes are complete for its format (see the module docs).
pub fn check_complete(bytes: &[u8], format: ImageFormat) -> Result<(), String> {
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        let msg = "JPEG is truncated or corrupt: its data ends before the end-of-image marker \
                   (a partly written or damaged file)";
        if std::env::var_os(ALLOW_TRUNCATED_ENV).is_some_and(|v| v == "1") {
            eprintln!("wick: warning: {msg}; decoding it anyway ({ALLOW_TRUNCATED_ENV}=1)");
            return Ok(());
        }
        return Err(format!(
            "{msg}; set {ALLOW_TRUNCATED_ENV}=1 to decode what is there"
        ));
    }
    Ok(())
}

/// Decodes already-read image bytes (format from [`format_of`]), checked with
/// [`check_complete`] first. Errors are messages without the path (callers add it).
pub fn decode(bytes: &[u8], path: &Path) -> Result<DynamicImage, String> {
    let format = format_of(bytes, path).ok_or_else(|| {
        "not an image Wick reads (PNG, JPEG, TIFF or OpenEXR, by content or extension)".to_string()
    })?;
    check_complete(bytes, format)?;
    let mut r = ImageReader::new(Cursor::new(bytes));
    r.set_format(format);
    r.decode().map_err(|e| e.to_string())
}

/// Reads and decodes an image file (regular file, size cap, completeness, decode limits).
/// Errors are messages without the path (callers add it).
pub fn open(path: &Path) -> Result<DynamicImage, String> {
    let bytes = read_regular(path, MAX_IMAGE_FILE).map_err(|e| e.to_string())?;
    decode(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
        });
        let mut buf = Cursor::new(Vec::new());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
            .encode_image(&img)
            .unwrap();
        buf.into_inner()
    }

    #[test]
    fn complete_jpeg_passes_and_every_cut_fails() {
        let j = jpeg();
        assert!(jpeg_is_complete(&j));
        assert!(decode(&j, Path::new("x.jpg")).is_ok());
        // Trailing bytes after the end marker are fine.
        let mut t = j.clone();
        t.extend_from_slice(b"trailer");
        assert!(jpeg_is_complete(&t));
        for cut in 2..j.len() - 1 {
            assert!(!jpeg_is_complete(&j[..cut]), "cut at {cut} of {}", j.len());
        }
        let e = decode(&j[..j.len() * 9 / 10], Path::new("x.jpg")).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn format_by_content_then_extension() {
        let j = jpeg();
        assert_eq!(format_of(&j, Path::new("a.png")), Some(ImageFormat::Jpeg));
        assert_eq!(
            format_of(b"", Path::new("a.exr")),
            Some(ImageFormat::OpenExr)
        );
        assert_eq!(format_of(b"", Path::new("a.txt")), None);
    }
}
