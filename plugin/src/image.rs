//! Wick's owned working image, host frame formats and their validation, and the sRGB
//! transfer. Nodes read and write frames through views (`frame.rs`: `Frame`, `FrameMut`),
//! which convert from/to every host format in one pass; an [`Image`] is the owned working
//! format (RGBA f32, sRGB-encoded, straight alpha) for copies a node or adapter keeps.

use crate::frame::{Frame, FrameMut};
use crate::node::NodeError;

/// Largest side and pixel count Wick accepts (frames beyond are refused, not attempted).
pub const MAX_SIDE: u32 = 32768;
pub const MAX_PIXELS: u64 = 1 << 27;

/// RGBA f32, sRGB-encoded, straight alpha, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Image {
    /// A zeroed image; allocation failure is an error, not an abort.
    pub fn new(width: usize, height: usize) -> Result<Self, NodeError> {
        let n = width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(4))
            .ok_or_else(|| NodeError::OutOfMemory(format!("{width}x{height} is too large")))?;
        let mut data = Vec::new();
        data.try_reserve_exact(n).map_err(|_| {
            NodeError::OutOfMemory(format!("cannot allocate a {width}x{height} image"))
        })?;
        data.resize(n, 0.0);
        Ok(Self {
            width,
            height,
            data,
        })
    }

    pub fn pixel(&self, x: usize, y: usize) -> [f32; 4] {
        let i = (y * self.width + x) * 4;
        [
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ]
    }
}

/// Sample type of a host frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    U8,
    U16,
    F16,
    F32,
}

impl SampleType {
    pub fn size(self) -> usize {
        match self {
            SampleType::U8 => 1,
            SampleType::U16 | SampleType::F16 => 2,
            SampleType::F32 => 4,
        }
    }
}

/// The format of a host frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameFormat {
    pub width: usize,
    pub height: usize,
    /// Bytes from one row to the next.
    pub stride: usize,
    pub sample: SampleType,
    /// 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    pub premultiplied: bool,
    pub linear: bool,
}

impl FrameFormat {
    /// Bytes of one row's pixels.
    pub fn row_bytes(&self) -> usize {
        self.width * self.channels * self.sample.size()
    }

    /// Bytes the buffer must hold: all rows but the last at full stride, plus the last row.
    pub fn required_len(&self) -> Option<usize> {
        let last = self.row_bytes();
        (self.height.checked_sub(1)?)
            .checked_mul(self.stride)?
            .checked_add(last)
    }

    /// Checks sizes and stride against the buffer length.
    pub fn validate(&self, data_len: u64, what: &str) -> Result<(), NodeError> {
        if self.width == 0 || self.height == 0 {
            return Err(NodeError::BadArgument(format!(
                "{what}: size {}x{} has a zero side",
                self.width, self.height
            )));
        }
        if self.width > MAX_SIDE as usize
            || self.height > MAX_SIDE as usize
            || (self.width as u64) * (self.height as u64) > MAX_PIXELS
        {
            return Err(NodeError::OutOfMemory(format!(
                "{what}: {}x{} exceeds Wick's limit ({MAX_SIDE} a side, {MAX_PIXELS} pixels)",
                self.width, self.height
            )));
        }
        if self.stride < self.row_bytes() {
            return Err(NodeError::BadArgument(format!(
                "{what}: row stride {} is shorter than a row ({} bytes = {} px x {} ch x {} B)",
                self.stride,
                self.row_bytes(),
                self.width,
                self.channels,
                self.sample.size()
            )));
        }
        let need = self
            .required_len()
            .ok_or_else(|| NodeError::BadArgument(format!("{what}: stride x height overflows")))?;
        if (need as u64) > data_len {
            return Err(NodeError::BadArgument(format!(
                "{what}: buffer of {data_len} bytes is shorter than the {need} bytes that \
                 {} rows of stride {} need",
                self.height, self.stride
            )));
        }
        Ok(())
    }
}

/// sRGB transfer: linear → encoded. Values above 1 extend the curve; negatives stay linear.
pub fn linear_to_srgb(x: f32) -> f32 {
    if x <= 0.003_130_8 {
        x * 12.92
    } else {
        1.055 * x.powf(1.0 / 2.4) - 0.055
    }
}

/// sRGB transfer: encoded → linear.
pub fn srgb_to_linear(x: f32) -> f32 {
    if x <= 0.040_45 {
        x / 12.92
    } else {
        ((x + 0.055) / 1.055).powf(2.4)
    }
}

/// Reads a host frame into an owned working image (validates it; fails on non-finite
/// samples). Adapters normally hand nodes views instead (`frame::Frame`); this is for code
/// that needs an owned copy.
pub fn read_frame(bytes: &[u8], f: &FrameFormat, what: &str) -> Result<Image, NodeError> {
    let v = Frame::new(bytes, f, what)?;
    v.check_finite(what)?;
    v.to_image()
}

/// Writes a working image into a host frame of the same size.
pub fn write_frame(img: &Image, bytes: &mut [u8], f: &FrameFormat) -> Result<(), NodeError> {
    FrameMut::new(bytes, f, "output")?.write_image(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_roundtrip() {
        for i in 0..=100 {
            let x = i as f32 / 100.0;
            assert!((srgb_to_linear(linear_to_srgb(x)) - x).abs() < 1e-5);
        }
    }

    #[test]
    fn u8_roundtrip_is_exact_and_premultiplied_linear_survives() {
        let f = FrameFormat {
            width: 3,
            height: 2,
            stride: 3 * 4 + 5,
            sample: SampleType::U8,
            channels: 4,
            premultiplied: false,
            linear: false,
        };
        let bytes: Vec<u8> = (0..f.required_len().unwrap())
            .map(|i| (i * 37 % 256) as u8)
            .collect();
        let img = read_frame(&bytes, &f, "in").unwrap();
        let mut out = vec![0u8; bytes.len()];
        write_frame(&img, &mut out, &f).unwrap();
        for y in 0..2 {
            assert_eq!(bytes[y * 17..y * 17 + 12], out[y * 17..y * 17 + 12]);
        }
        let g = FrameFormat {
            sample: SampleType::F32,
            premultiplied: true,
            linear: true,
            stride: 48,
            ..f
        };
        let mut fbytes = vec![0u8; g.required_len().unwrap()];
        write_frame(&img, &mut fbytes, &g).unwrap();
        let back = read_frame(&fbytes, &g, "in").unwrap();
        for (a, b) in img.data.iter().zip(&back.data).skip(3).step_by(4) {
            assert!((a - b).abs() < 1e-5); // alpha exact
        }
        for (i, (a, b)) in img.data.iter().zip(&back.data).enumerate() {
            let alpha = img.data[i / 4 * 4 + 3];
            if alpha > 0.05 {
                assert!((a - b).abs() < 1e-3, "{i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn validation_catches_short_buffers_and_strides() {
        let f = FrameFormat {
            width: 4,
            height: 4,
            stride: 15,
            sample: SampleType::U8,
            channels: 4,
            premultiplied: false,
            linear: false,
        };
        assert!(f
            .validate(1000, "x")
            .unwrap_err()
            .to_string()
            .contains("stride"));
        let f = FrameFormat { stride: 16, ..f };
        assert!(f.validate(63, "x").is_err());
        assert!(f.validate(64, "x").is_ok());
        let f = FrameFormat {
            width: 40000,
            stride: 160000,
            ..f
        };
        assert!(matches!(
            f.validate(u64::MAX, "x"),
            Err(NodeError::OutOfMemory(_))
        ));
    }
}
