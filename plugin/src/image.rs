//! Wick's working image and the conversion from/to every host frame format.
//!
//! Nodes see one format: RGBA f32, sRGB-encoded, straight (un-premultiplied) alpha. The
//! adapters convert host frames (u8/u16/f16/f32, RGB/RGBA, straight/premultiplied, sRGB/linear)
//! into it and back; this module is the single place those rules live.

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
        Ok(Self { width, height, data })
    }

    pub fn pixel(&self, x: usize, y: usize) -> [f32; 4] {
        let i = (y * self.width + x) * 4;
        [self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3]]
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
        (self.height.checked_sub(1)?).checked_mul(self.stride)?.checked_add(last)
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
        let need = self.required_len().ok_or_else(|| {
            NodeError::BadArgument(format!("{what}: stride x height overflows"))
        })?;
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

fn read_sample(bytes: &[u8], sample: SampleType) -> f32 {
    match sample {
        SampleType::U8 => bytes[0] as f32 / 255.0,
        SampleType::U16 => u16::from_ne_bytes([bytes[0], bytes[1]]) as f32 / 65535.0,
        SampleType::F16 => half::f16::from_ne_bytes([bytes[0], bytes[1]]).to_f32(),
        SampleType::F32 => f32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
    }
}

fn write_sample(out: &mut [u8], sample: SampleType, v: f32) {
    let v = if v.is_nan() { 0.0 } else { v };
    match sample {
        SampleType::U8 => out[0] = (v.clamp(0.0, 1.0) * 255.0).round() as u8,
        SampleType::U16 => {
            out[..2].copy_from_slice(&((v.clamp(0.0, 1.0) * 65535.0).round() as u16).to_ne_bytes())
        }
        SampleType::F16 => out[..2].copy_from_slice(&half::f16::from_f32(v).to_ne_bytes()),
        SampleType::F32 => out[..4].copy_from_slice(&v.to_ne_bytes()),
    }
}

/// Reads a validated host frame into the working format.
pub fn read_frame(bytes: &[u8], f: &FrameFormat, what: &str) -> Result<Image, NodeError> {
    let mut img = Image::new(f.width, f.height)?;
    let ss = f.sample.size();
    let px = f.channels * ss;
    for y in 0..f.height {
        let row = &bytes[y * f.stride..y * f.stride + f.row_bytes()];
        let out = &mut img.data[y * f.width * 4..(y + 1) * f.width * 4];
        for x in 0..f.width {
            let p = &row[x * px..(x + 1) * px];
            let mut c = [0f32, 0., 0., 1.];
            for (ch, v) in c.iter_mut().enumerate().take(f.channels) {
                *v = read_sample(&p[ch * ss..], f.sample);
            }
            if c.iter().any(|v| !v.is_finite()) {
                return Err(NodeError::BadArgument(format!(
                    "{what}: pixel ({x}, {y}) has a non-finite value {c:?}"
                )));
            }
            if f.channels == 4 && f.premultiplied {
                let a = c[3];
                for v in c.iter_mut().take(3) {
                    *v = if a > 0.0 { *v / a } else { 0.0 };
                }
            }
            if f.linear {
                for v in c.iter_mut().take(3) {
                    *v = linear_to_srgb(*v);
                }
            }
            out[x * 4..x * 4 + 4].copy_from_slice(&c);
        }
    }
    Ok(img)
}

/// Writes a working image into a validated host frame of the same size.
pub fn write_frame(img: &Image, bytes: &mut [u8], f: &FrameFormat) -> Result<(), NodeError> {
    if img.width != f.width || img.height != f.height {
        return Err(NodeError::Internal(format!(
            "node produced {}x{} for a {}x{} output",
            img.width, img.height, f.width, f.height
        )));
    }
    let ss = f.sample.size();
    let px = f.channels * ss;
    for y in 0..f.height {
        let row_bytes = f.row_bytes();
        let row = &mut bytes[y * f.stride..y * f.stride + row_bytes];
        let src = &img.data[y * f.width * 4..(y + 1) * f.width * 4];
        for x in 0..f.width {
            let mut c = [src[x * 4], src[x * 4 + 1], src[x * 4 + 2], src[x * 4 + 3]];
            if f.linear {
                for v in c.iter_mut().take(3) {
                    *v = srgb_to_linear(*v);
                }
            }
            if f.channels == 4 && f.premultiplied {
                let a = c[3].clamp(0.0, 1.0);
                for v in c.iter_mut().take(3) {
                    *v *= a;
                }
            }
            let p = &mut row[x * px..(x + 1) * px];
            for (ch, v) in c.iter().enumerate().take(f.channels) {
                write_sample(&mut p[ch * ss..], f.sample, *v);
            }
        }
    }
    Ok(())
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
        let bytes: Vec<u8> = (0..f.required_len().unwrap()).map(|i| (i * 37 % 256) as u8).collect();
        let img = read_frame(&bytes, &f, "in").unwrap();
        let mut out = vec![0u8; bytes.len()];
        write_frame(&img, &mut out, &f).unwrap();
        for y in 0..2 {
            assert_eq!(bytes[y * 17..y * 17 + 12], out[y * 17..y * 17 + 12]);
        }
        let g = FrameFormat { sample: SampleType::F32, premultiplied: true, linear: true, stride: 48, ..f };
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
        assert!(f.validate(1000, "x").unwrap_err().to_string().contains("stride"));
        let f = FrameFormat { stride: 16, ..f };
        assert!(f.validate(63, "x").is_err());
        assert!(f.validate(64, "x").is_ok());
        let f = FrameFormat { width: 40000, stride: 160000, ..f };
        assert!(matches!(f.validate(u64::MAX, "x"), Err(NodeError::OutOfMemory(_))));
    }
}
