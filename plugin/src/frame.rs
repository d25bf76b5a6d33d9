//! Borrowed frame views: what a node reads and writes.
//!
//! A [`Frame`] is a read-only view of pixels that someone else owns (the host's buffer, or an
//! [`Image`]); a [`FrameMut`] is a writable one. Rows are `stride` bytes apart, and the stride
//! may be negative (OpenFX images are bottom-up in memory), so a host's buffer is never
//! re-ordered or copied before a node sees it. A view knows its pixel format (u8/u16/f16/f32,
//! RGB/RGBA, straight/premultiplied, sRGB/linear) and converts in the one pass that a node asks
//! for:
//!
//! - input: [`Frame::to_tensor`] / [`Frame::planar`] decode the host's samples straight into
//!   the planar `[C, H, W]` f32 buffer a tensor is made from (`Tensor::from_vec` takes it
//!   without copying): **1 copy per input frame**;
//! - output: [`FrameMut::write`] reads a CPU tensor's storage in place (no `to_vec1`) and
//!   encodes into the host's buffer: **1 copy per output frame**.
//!
//! Nodes work in Wick's working colour: sRGB-encoded values. Alpha is straight unless a node
//! asks for premultiplied planes (interpolation); a premultiplied host frame read as
//! premultiplied (or written from premultiplied planes) is not divided and multiplied again
//! unless the transfer function needs straight colour (linear-light frames). This module and
//! `image.rs` are the one place the format rules live.

use std::marker::PhantomData;

use candle_core::{DType, Device, Storage, Tensor};

use crate::image::{linear_to_srgb, srgb_to_linear, FrameFormat, Image, SampleType};
use crate::node::NodeError;

/// How a frame's pixels are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelFormat {
    pub sample: SampleType,
    /// 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    /// Colour multiplied by alpha (RGBA only).
    pub premultiplied: bool,
    /// Linear-light values (else sRGB-encoded).
    pub linear: bool,
}

impl PixelFormat {
    /// Wick's working format: RGBA f32, sRGB-encoded, straight alpha ([`Image`]).
    pub const WORKING: PixelFormat = PixelFormat {
        sample: SampleType::F32,
        channels: 4,
        premultiplied: false,
        linear: false,
    };
    /// 8-bit RGBA, sRGB, straight (frei0r).
    pub const RGBA8: PixelFormat = PixelFormat {
        sample: SampleType::U8,
        channels: 4,
        premultiplied: false,
        linear: false,
    };

    pub fn pixel_bytes(&self) -> usize {
        self.channels * self.sample.size()
    }

    /// The pixel format of a host frame's format.
    pub fn of(f: &FrameFormat) -> Self {
        PixelFormat {
            sample: f.sample,
            channels: f.channels,
            premultiplied: f.premultiplied,
            linear: f.linear,
        }
    }
}

/// The pixels a view addresses: `height` rows of `width` pixels, row `r` at `top + r·stride`.
#[derive(Clone, Copy)]
struct Raw {
    top: *mut u8,
    stride: isize,
    width: usize,
    height: usize,
    pf: PixelFormat,
}

impl Raw {
    /// The byte range [lo, hi) the rows cover.
    fn span(&self) -> (usize, usize) {
        let row = self.width * self.pf.pixel_bytes();
        let last = (self.height as isize - 1) * self.stride;
        let a = self.top as usize;
        let (lo, hi) = if last < 0 {
            (a.wrapping_sub(last.unsigned_abs()), a + row)
        } else {
            (a, a + last as usize + row)
        };
        (lo, hi)
    }

    fn row_ptr(&self, r: usize) -> *mut u8 {
        self.top.wrapping_offset(r as isize * self.stride)
    }
}

/// Where the stored pixels sit on the frame: frames may be larger or smaller than their data
/// (OpenFX inputs whose bounds differ from the output's are cropped or padded with transparent
/// black, never resampled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    width: usize,
    height: usize,
    /// Frame coordinates of the data's top-left pixel.
    x: i64,
    y: i64,
}

/// A read-only view of a frame (see the module docs). Cheap to copy.
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    raw: Raw,
    place: Place,
    _borrow: PhantomData<&'a [u8]>,
}

// SAFETY: a `Frame` is a shared borrow of bytes (like `&'a [u8]`): nothing writes through it.
unsafe impl Send for Frame<'_> {}
unsafe impl Sync for Frame<'_> {}

/// A writable view of a frame (see the module docs).
pub struct FrameMut<'a> {
    raw: Raw,
    _borrow: PhantomData<&'a mut [u8]>,
}

// SAFETY: a `FrameMut` is an exclusive borrow of bytes (like `&'a mut [u8]`).
unsafe impl Send for FrameMut<'_> {}

/// Whole-frame passes (conversions that write every pixel into another buffer), counted in
/// the crate's tests to check the copies per call the docs claim.
#[cfg(test)]
pub(crate) mod passes {
    use std::cell::Cell;
    thread_local!(static N: Cell<usize> = const { Cell::new(0) });
    pub fn add() {
        N.with(|n| n.set(n.get() + 1));
    }
    /// The passes on this thread since the last call.
    pub fn take() -> usize {
        N.with(|n| n.replace(0))
    }
}

#[inline]
fn count_pass() {
    #[cfg(test)]
    passes::add();
}

fn bad(msg: String) -> NodeError {
    NodeError::BadArgument(msg)
}

/// Checks a frame size against Wick's limits (`image::MAX_SIDE`, `MAX_PIXELS`).
pub fn check_size(width: usize, height: usize, what: &str) -> Result<(), NodeError> {
    let f = FrameFormat {
        width,
        height,
        stride: width * 4,
        sample: SampleType::U8,
        channels: 4,
        premultiplied: false,
        linear: false,
    };
    f.validate(u64::MAX, what)
}

impl<'a> Frame<'a> {
    /// A view of a validated contiguous buffer (positive stride).
    pub fn new(bytes: &'a [u8], f: &FrameFormat, what: &str) -> Result<Self, NodeError> {
        f.validate(bytes.len() as u64, what)?;
        // SAFETY: validated: every row lies inside `bytes`, borrowed for 'a.
        Ok(unsafe {
            Self::from_raw(
                bytes.as_ptr(),
                f.stride as isize,
                f.width,
                f.height,
                PixelFormat::of(f),
            )
        })
    }

    /// A view of host memory: row `r` (from the top) starts at `top + r·stride`.
    ///
    /// # Safety
    /// For 'a, each of the `height` rows must be `width · pixel_bytes` readable bytes that
    /// nothing writes to, except through a [`FrameMut`] the adapter checked for overlap
    /// (`adapter::detach_overlaps`). The size must have passed [`check_size`].
    pub unsafe fn from_raw(
        top: *const u8,
        stride: isize,
        width: usize,
        height: usize,
        pf: PixelFormat,
    ) -> Self {
        Frame {
            raw: Raw {
                top: top as *mut u8,
                stride,
                width,
                height,
                pf,
            },
            place: Place {
                width,
                height,
                x: 0,
                y: 0,
            },
            _borrow: PhantomData,
        }
    }

    /// A view of a host frame validated against `f` (`FrameFormat::validate`): positive
    /// stride, `f.required_len()` bytes at `data`.
    ///
    /// # Safety
    /// As [`from_raw`](Self::from_raw), for the rows `f` describes.
    pub unsafe fn from_host(data: *const u8, f: &FrameFormat) -> Self {
        Self::from_raw(
            data,
            f.stride as isize,
            f.width,
            f.height,
            PixelFormat::of(f),
        )
    }

    /// The same pixels on a `width`×`height` frame with the data's top-left pixel at (x, y):
    /// what falls outside the data is transparent black, data outside the frame is cropped.
    pub fn placed(mut self, width: usize, height: usize, x: i64, y: i64) -> Self {
        self.place = Place {
            width,
            height,
            x,
            y,
        };
        self
    }

    pub fn width(&self) -> usize {
        self.place.width
    }
    pub fn height(&self) -> usize {
        self.place.height
    }
    pub fn format(&self) -> PixelFormat {
        self.raw.pf
    }

    /// The memory this view reads, [lo, hi).
    pub fn span(&self) -> (usize, usize) {
        self.raw.span()
    }

    fn stored(&self) -> bool {
        self.place.width == self.raw.width
            && self.place.height == self.raw.height
            && self.place.x == 0
            && self.place.y == 0
    }

    /// Decodes frame row `y` into `out` (`width·4` values: RGBA, sRGB-encoded, alpha
    /// premultiplied when asked). RGB frames read as opaque.
    pub fn read_row(&self, y: usize, premultiplied: bool, out: &mut [f32]) {
        let (pw, r) = (self.place.width, &self.raw);
        assert_eq!(
            out.len(),
            pw * 4,
            "read_row: the row buffer must hold width x 4 values"
        );
        let dy = y as i64 - self.place.y;
        if dy < 0 || dy >= r.height as i64 {
            out.fill(0.0);
            return;
        }
        let x0 = self.place.x.clamp(0, pw as i64) as usize;
        let x1 = (self.place.x + r.width as i64).clamp(0, pw as i64) as usize;
        if x0 >= x1 {
            out.fill(0.0);
            return;
        }
        out[..x0 * 4].fill(0.0);
        out[x1 * 4..].fill(0.0);
        let px = r.pf.pixel_bytes();
        let skip = (x0 as i64 - self.place.x) as usize;
        // SAFETY: `from_raw`'s contract: the row holds `r.width` readable pixels, and
        // skip + (x1 - x0) <= r.width.
        let bytes = unsafe {
            std::slice::from_raw_parts(r.row_ptr(dy as usize).add(skip * px), (x1 - x0) * px)
        };
        decode_pixels(bytes, r.pf, premultiplied, &mut out[x0 * 4..x1 * 4]);
    }

    /// Calls `f(y, row)` for each row, top to bottom, with the row decoded (see `read_row`).
    pub fn for_rows(
        &self,
        premultiplied: bool,
        mut f: impl FnMut(usize, &[f32]) -> Result<(), NodeError>,
    ) -> Result<(), NodeError> {
        let mut row = vec![0f32; self.width() * 4];
        for y in 0..self.height() {
            self.read_row(y, premultiplied, &mut row);
            f(y, &row)?;
        }
        Ok(())
    }

    /// Planar `[C, H, W]` values (C = 3: RGB; 4: RGBA), sRGB-encoded, colour premultiplied by
    /// alpha when asked: one pass over the host's pixels.
    pub fn planar(&self, channels: usize, premultiplied: bool) -> Result<Vec<f32>, NodeError> {
        if channels != 3 && channels != 4 {
            return Err(NodeError::Internal(format!(
                "planar: {channels} channels (3 or 4)"
            )));
        }
        let (w, h) = (self.width(), self.height());
        let hw = w * h;
        let mut planes = alloc_f32(channels * hw, w, h)?;
        count_pass();
        self.for_rows(premultiplied, |y, row| {
            for (c, plane) in planes.chunks_exact_mut(hw).enumerate() {
                let dst = &mut plane[y * w..(y + 1) * w];
                for (d, p) in dst.iter_mut().zip(row.chunks_exact(4)) {
                    *d = p[c];
                }
            }
            Ok(())
        })?;
        Ok(planes)
    }

    /// A `[1, C, H, W]` f32 tensor on `dev` (see [`planar`](Self::planar)). On the CPU the
    /// tensor owns the planar buffer (no further copy).
    pub fn to_tensor(
        &self,
        channels: usize,
        premultiplied: bool,
        dev: &Device,
    ) -> Result<Tensor, NodeError> {
        let planes = self.planar(channels, premultiplied)?;
        Ok(Tensor::from_vec(
            planes,
            (1, channels, self.height(), self.width()),
            dev,
        )?)
    }

    /// The RGB planes as a `[1, 3, H, W]` tensor (straight colour).
    pub fn rgb_tensor(&self, dev: &Device) -> Result<Tensor, NodeError> {
        self.to_tensor(3, false, dev)
    }

    /// An owned copy in the working format.
    pub fn to_image(&self) -> Result<Image, NodeError> {
        let w = self.width();
        let mut img = Image::new(w, self.height())?;
        count_pass();
        self.for_rows(false, |y, row| {
            img.data[y * w * 4..(y + 1) * w * 4].copy_from_slice(row);
            Ok(())
        })?;
        Ok(img)
    }

    /// One pixel, straight RGBA in the working colour.
    pub fn pixel(&self, x: usize, y: usize) -> [f32; 4] {
        let mut row = vec![0f32; self.width() * 4];
        self.read_row(y, false, &mut row);
        [row[x * 4], row[x * 4 + 1], row[x * 4 + 2], row[x * 4 + 3]]
    }

    /// Fails on a NaN or infinite sample (float frames; integer samples are always finite).
    pub fn check_finite(&self, what: &str) -> Result<(), NodeError> {
        let r = &self.raw;
        if !matches!(r.pf.sample, SampleType::F16 | SampleType::F32) {
            return Ok(());
        }
        let (ch, ss) = (r.pf.channels, r.pf.sample.size());
        for y in 0..r.height {
            // SAFETY: `from_raw`'s contract: each row holds `width` readable pixels.
            let bytes =
                unsafe { std::slice::from_raw_parts(r.row_ptr(y), r.width * r.pf.pixel_bytes()) };
            for (x, p) in bytes.chunks_exact(ch * ss).enumerate() {
                let bad_px = (0..ch).any(|c| !read_sample(&p[c * ss..], r.pf.sample).is_finite());
                if bad_px {
                    let mut v = [0f32, 0., 0., 1.];
                    for (c, s) in v.iter_mut().enumerate().take(ch) {
                        *s = read_sample(&p[c * ss..], r.pf.sample);
                    }
                    return Err(bad(format!(
                        "{what}: pixel ({x}, {y}) has a non-finite value {v:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// A hash of the pixels and their format (a cache key: equal frames hash equal). An
    /// unplaced frame hashes its bytes as stored, in any format, without converting them (a
    /// host's frame and a [`StoredFrame`] copy of it hash equal); a placed one its values.
    pub fn content_hash(&self) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = foldhash::fast::FixedState::with_seed(0x5749_434b).build_hasher();
        (self.width(), self.height()).hash(&mut h);
        if self.stored() {
            let r = &self.raw;
            format!("{:?}", r.pf).hash(&mut h);
            for y in 0..r.height {
                // SAFETY: as in `check_finite`.
                let bytes = unsafe {
                    std::slice::from_raw_parts(r.row_ptr(y), r.width * r.pf.pixel_bytes())
                };
                bytes.hash(&mut h);
            }
        } else {
            let _ = self.for_rows(false, |_, row| {
                for v in row {
                    v.to_bits().hash(&mut h);
                }
                Ok(())
            });
        }
        h.finish()
    }
}

/// An owned copy of a frame in its own pixel format (a byte copy, no conversion): what a
/// host handed over, kept for a later call (past frames for hosts that give one frame per call).
pub struct StoredFrame {
    bytes: Vec<u8>,
    width: usize,
    height: usize,
    pf: PixelFormat,
}

impl StoredFrame {
    /// A view of the stored pixels.
    pub fn frame(&self) -> Frame<'_> {
        let stride = (self.width * self.pf.pixel_bytes()) as isize;
        // SAFETY: `bytes` holds `height` contiguous rows of `width` pixels, borrowed shared.
        unsafe {
            Frame::from_raw(
                self.bytes.as_ptr(),
                stride,
                self.width,
                self.height,
                self.pf,
            )
        }
    }
}

impl Frame<'_> {
    /// Copies the frame's bytes as they are (a placed frame is stored in the working format).
    pub fn to_stored(&self) -> Result<StoredFrame, NodeError> {
        if !self.stored() {
            let img = self.to_image()?;
            let bytes = img.data.iter().flat_map(|v| v.to_ne_bytes()).collect();
            return Ok(StoredFrame {
                bytes,
                width: img.width,
                height: img.height,
                pf: PixelFormat::WORKING,
            });
        }
        let r = &self.raw;
        let row = r.width * r.pf.pixel_bytes();
        count_pass();
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(row * r.height).map_err(|_| {
            NodeError::OutOfMemory(format!("cannot keep a {}x{} frame", r.width, r.height))
        })?;
        for y in 0..r.height {
            // SAFETY: `from_raw`'s contract: each row holds `row` readable bytes.
            bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(r.row_ptr(y), row) });
        }
        Ok(StoredFrame {
            bytes,
            width: r.width,
            height: r.height,
            pf: r.pf,
        })
    }
}

fn alloc_f32(n: usize, w: usize, h: usize) -> Result<Vec<f32>, NodeError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| NodeError::OutOfMemory(format!("cannot allocate planes for {w}x{h}")))?;
    v.resize(n, 0.0);
    Ok(v)
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
        SampleType::U8 => out[0] = round_255(v),
        SampleType::U16 => {
            out[..2].copy_from_slice(&((v.clamp(0.0, 1.0) * 65535.0).round() as u16).to_ne_bytes())
        }
        SampleType::F16 => out[..2].copy_from_slice(&half::f16::from_f32(v).to_ne_bytes()),
        SampleType::F32 => out[..4].copy_from_slice(&v.to_ne_bytes()),
    }
}

/// Host samples → RGBA f32 working colour (sRGB), alpha straight or premultiplied as asked.
fn decode_pixels(bytes: &[u8], pf: PixelFormat, premultiplied: bool, out: &mut [f32]) {
    let (ch, ss) = (pf.channels, pf.sample.size());
    match (pf.sample, ch) {
        (SampleType::U8, 4) => {
            for (o, p) in out.chunks_exact_mut(4).zip(bytes.chunks_exact(4)) {
                for c in 0..4 {
                    o[c] = p[c] as f32 / 255.0;
                }
            }
        }
        (SampleType::F32, 4) => {
            for (o, p) in out.chunks_exact_mut(4).zip(bytes.chunks_exact(16)) {
                for c in 0..4 {
                    o[c] = f32::from_ne_bytes([p[4 * c], p[4 * c + 1], p[4 * c + 2], p[4 * c + 3]]);
                }
            }
        }
        _ => {
            for (o, p) in out.chunks_exact_mut(4).zip(bytes.chunks_exact(ch * ss)) {
                for c in 0..ch {
                    o[c] = read_sample(&p[c * ss..], pf.sample);
                }
                if ch == 3 {
                    o[3] = 1.0;
                }
            }
        }
    }
    let stored_premult = ch == 4 && pf.premultiplied;
    // Premultiplied in and out, no transfer: the values are already what was asked for.
    if !pf.linear && (stored_premult == premultiplied || ch == 3) {
        return;
    }
    for o in out.chunks_exact_mut(4) {
        let a = o[3];
        if stored_premult {
            for v in &mut o[..3] {
                *v = if a > 0.0 { *v / a } else { 0.0 };
            }
        }
        if pf.linear {
            for v in &mut o[..3] {
                *v = linear_to_srgb(*v);
            }
        }
        if premultiplied {
            for v in &mut o[..3] {
                *v *= a;
            }
        }
    }
}

/// `(v.clamp(0, 1) · 255).round() as u8` (halves away from zero) without the libm `roundf`
/// call, so a row's conversion vectorises: the integer part by truncation, plus one where the
/// fraction (exact: the value is below 2²³) is at least a half. `v` is not NaN.
#[inline]
fn round_255(v: f32) -> u8 {
    let x = v.clamp(0.0, 1.0) * 255.0;
    let t = x as i32;
    (t + (x - t as f32 >= 0.5) as i32) as u8
}

/// RGBA f32 working colour (straight, or premultiplied when `premultiplied`) → host samples.
/// Premultiplied rows give a straight alpha clamped to [0, 1] and colour divided by it (0
/// where alpha ≤ 1e-6), unless the host frame is premultiplied sRGB, which takes them as they
/// are (alpha clamped).
fn encode_pixels(row: &mut [f32], premultiplied: bool, pf: PixelFormat, out: &mut [u8]) {
    let host_premult = pf.channels == 4 && pf.premultiplied;
    // Premultiplied rows into a premultiplied sRGB frame: taken as they are.
    let as_is = premultiplied && host_premult && !pf.linear;
    if as_is {
        for o in row.chunks_exact_mut(4) {
            o[3] = o[3].clamp(0.0, 1.0);
        }
    } else {
        if premultiplied {
            for o in row.chunks_exact_mut(4) {
                let a = o[3].clamp(0.0, 1.0);
                for v in &mut o[..3] {
                    *v = if a > 1e-6 { *v / a } else { 0.0 };
                }
                o[3] = a;
            }
        }
        if pf.linear || host_premult {
            for o in row.chunks_exact_mut(4) {
                if pf.linear {
                    for v in &mut o[..3] {
                        *v = srgb_to_linear(*v);
                    }
                }
                if host_premult {
                    let a = o[3].clamp(0.0, 1.0);
                    for v in &mut o[..3] {
                        *v *= a;
                    }
                }
            }
        }
    }
    let (ch, ss) = (pf.channels, pf.sample.size());
    match (pf.sample, ch) {
        (SampleType::U8, 4) => {
            for (p, o) in out.chunks_exact_mut(4).zip(row.chunks_exact(4)) {
                for c in 0..4 {
                    let v = if o[c].is_nan() { 0.0 } else { o[c] };
                    p[c] = round_255(v);
                }
            }
        }
        (SampleType::F32, 4) => {
            for (p, o) in out.chunks_exact_mut(16).zip(row.chunks_exact(4)) {
                for c in 0..4 {
                    let v = if o[c].is_nan() { 0.0 } else { o[c] };
                    p[4 * c..4 * c + 4].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        _ => {
            for (p, o) in out.chunks_exact_mut(ch * ss).zip(row.chunks_exact(4)) {
                for c in 0..ch {
                    write_sample(&mut p[c * ss..], pf.sample, o[c]);
                }
            }
        }
    }
}

/// Where the alpha of 3-channel node output comes from.
#[derive(Clone, Copy)]
pub enum Alpha<'f, 'a> {
    /// Opaque (1).
    Opaque,
    /// The alpha of this frame (same size as the output), e.g. the source's.
    Of(&'f Frame<'a>),
}

/// Memory order of node output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Planar `[1, C, H, W]` or `[C, H, W]` (what networks produce).
    Chw,
    /// Interleaved `[H, W, C]`.
    Hwc,
}

/// How to write node output into a frame: see [`FrameMut::write`].
#[derive(Clone, Copy)]
pub struct Out<'f, 'a> {
    pub layout: Layout,
    /// 4-channel data whose colour is multiplied by its alpha.
    pub premultiplied: bool,
    /// Alpha of 3-channel data.
    pub alpha: Alpha<'f, 'a>,
    /// Clamp colour to [0, 1].
    pub clamp: bool,
}

impl<'f, 'a> Out<'f, 'a> {
    /// Planar straight colour (RGB, opaque unless `alpha_of`; or RGBA).
    pub fn planar() -> Self {
        Out {
            layout: Layout::Chw,
            premultiplied: false,
            alpha: Alpha::Opaque,
            clamp: false,
        }
    }
    /// Interleaved `[H, W, C]` straight colour.
    pub fn interleaved() -> Self {
        Out {
            layout: Layout::Hwc,
            ..Self::planar()
        }
    }
    /// Planar RGBA with premultiplied colour.
    pub fn premultiplied() -> Self {
        Out {
            premultiplied: true,
            ..Self::planar()
        }
    }
    pub fn alpha_of(mut self, f: &'f Frame<'a>) -> Self {
        self.alpha = Alpha::Of(f);
        self
    }
    pub fn clamped(mut self) -> Self {
        self.clamp = true;
        self
    }
}

/// Calls `f` with the tensor's values as a contiguous f32 slice: a CPU f32 contiguous tensor's
/// own storage (no copy); otherwise the tensor is made so first (a GPU download, a dtype
/// cast, or one `contiguous()` copy of a strided view such as a crop).
pub fn with_f32_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R, NodeError> {
    let t = if t.device().is_cpu() {
        t.clone()
    } else {
        t.to_device(&Device::Cpu)?
    };
    let t = if t.dtype() == DType::F32 {
        t
    } else {
        t.to_dtype(DType::F32)?
    };
    if !t.is_contiguous() {
        count_pass();
    }
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(cpu), Some((a, b))) => Ok(f(&cpu.as_slice::<f32>()?[a..b])),
        _ => Err(NodeError::Internal(
            "a contiguous CPU tensor without CPU storage".into(),
        )),
    }
}

impl<'a> FrameMut<'a> {
    /// A view of a validated contiguous buffer (positive stride).
    pub fn new(bytes: &'a mut [u8], f: &FrameFormat, what: &str) -> Result<Self, NodeError> {
        f.validate(bytes.len() as u64, what)?;
        // SAFETY: validated: every row lies inside `bytes`, borrowed exclusively for 'a.
        Ok(unsafe {
            Self::from_raw(
                bytes.as_mut_ptr(),
                f.stride as isize,
                f.width,
                f.height,
                PixelFormat::of(f),
            )
        })
    }

    /// A writable view of host memory: row `r` (from the top) starts at `top + r·stride`.
    ///
    /// # Safety
    /// For 'a, each of the `height` rows must be `width · pixel_bytes` writable bytes that
    /// nothing else reads or writes (inputs overlapping it are detached first:
    /// `adapter::detach_overlaps`); rows must not overlap each other. The size must have
    /// passed [`check_size`].
    pub unsafe fn from_raw(
        top: *mut u8,
        stride: isize,
        width: usize,
        height: usize,
        pf: PixelFormat,
    ) -> Self {
        FrameMut {
            raw: Raw {
                top,
                stride,
                width,
                height,
                pf,
            },
            _borrow: PhantomData,
        }
    }

    /// A writable view of a host frame validated against `f` (see [`Frame::from_host`]).
    ///
    /// # Safety
    /// As [`from_raw`](Self::from_raw), for the rows `f` describes.
    pub unsafe fn from_host(data: *mut u8, f: &FrameFormat) -> Self {
        Self::from_raw(
            data,
            f.stride as isize,
            f.width,
            f.height,
            PixelFormat::of(f),
        )
    }

    pub fn width(&self) -> usize {
        self.raw.width
    }
    pub fn height(&self) -> usize {
        self.raw.height
    }
    pub fn format(&self) -> PixelFormat {
        self.raw.pf
    }
    /// The memory this view writes, [lo, hi).
    pub fn span(&self) -> (usize, usize) {
        self.raw.span()
    }

    /// Reads back what was written.
    pub fn as_frame(&self) -> Frame<'_> {
        let r = self.raw;
        // SAFETY: our own rows, borrowed shared for the returned lifetime.
        unsafe { Frame::from_raw(r.top, r.stride, r.width, r.height, r.pf) }
    }

    fn row_bytes(&mut self, y: usize) -> &mut [u8] {
        let r = &self.raw;
        // SAFETY: `from_raw`'s contract: row `y` is `width · pixel_bytes` writable bytes that
        // only this view touches; the borrow ends before the next row is taken.
        unsafe { std::slice::from_raw_parts_mut(r.row_ptr(y), r.width * r.pf.pixel_bytes()) }
    }

    /// Writes every row from `f(y, row)`, which fills `row` (`width·4` values, RGBA in the
    /// working colour, colour premultiplied when `premultiplied`).
    pub fn write_rows(
        &mut self,
        premultiplied: bool,
        mut f: impl FnMut(usize, &mut [f32]) -> Result<(), NodeError>,
    ) -> Result<(), NodeError> {
        let pf = self.raw.pf;
        let mut row = vec![0f32; self.width() * 4];
        count_pass();
        for y in 0..self.height() {
            f(y, &mut row)?;
            encode_pixels(&mut row, premultiplied, pf, self.row_bytes(y));
        }
        Ok(())
    }

    /// Writes node output held in a tensor (its storage read in place on the CPU).
    pub fn write(&mut self, t: &Tensor, how: Out) -> Result<(), NodeError> {
        let dims = t.dims().to_vec();
        let (c, h, w) = match (how.layout, dims.as_slice()) {
            (Layout::Chw, [1, c, h, w]) | (Layout::Chw, [c, h, w]) => (*c, *h, *w),
            (Layout::Hwc, [1, h, w, c]) | (Layout::Hwc, [h, w, c]) => (*c, *h, *w),
            _ => {
                return Err(NodeError::Internal(format!(
                    "node output tensor {dims:?} is not {:?} image data",
                    how.layout
                )))
            }
        };
        if (w, h) != (self.width(), self.height()) {
            return Err(NodeError::Internal(format!(
                "node produced {w}x{h} for a {}x{} output",
                self.width(),
                self.height()
            )));
        }
        with_f32_slice(t, |s| self.write_slice(s, c, how))?
    }

    /// Writes node output held in a slice of `channels` (3 or 4) values per pixel, laid out
    /// as `how.layout` says.
    pub fn write_slice(
        &mut self,
        data: &[f32],
        channels: usize,
        how: Out,
    ) -> Result<(), NodeError> {
        let (w, h) = (self.width(), self.height());
        let hw = w * h;
        if !(channels == 3 || channels == 4) || data.len() != channels * hw {
            return Err(NodeError::Internal(format!(
                "node output of {} values is not {w}x{h} with 3 or 4 channels",
                data.len()
            )));
        }
        let alpha_src = match how.alpha {
            Alpha::Of(f) if channels == 3 => {
                if (f.width(), f.height()) != (w, h) {
                    return Err(NodeError::Internal(format!(
                        "alpha source {}x{} differs from the output {w}x{h}",
                        f.width(),
                        f.height()
                    )));
                }
                Some(f)
            }
            _ => None,
        };
        let mut arow = vec![0f32; if alpha_src.is_some() { w * 4 } else { 0 }];
        self.write_rows(how.premultiplied && channels == 4, |y, row| {
            if let Some(f) = alpha_src {
                f.read_row(y, false, &mut arow);
            }
            for x in 0..w {
                let px = &mut row[x * 4..x * 4 + 4];
                match how.layout {
                    Layout::Chw => {
                        let i = y * w + x;
                        for (c, v) in px.iter_mut().enumerate().take(channels) {
                            *v = data[c * hw + i];
                        }
                    }
                    Layout::Hwc => {
                        let i = (y * w + x) * channels;
                        px[..channels].copy_from_slice(&data[i..i + channels]);
                    }
                }
                if channels == 3 {
                    px[3] = if alpha_src.is_some() {
                        arow[x * 4 + 3]
                    } else {
                        1.0
                    };
                }
                if how.clamp {
                    for v in &mut px[..3] {
                        *v = v.clamp(0.0, 1.0);
                    }
                }
            }
            Ok(())
        })
    }

    /// Writes an image in the working format (same size).
    pub fn write_image(&mut self, img: &Image) -> Result<(), NodeError> {
        let w = self.width();
        if (img.width, img.height) != (w, self.height()) {
            return Err(NodeError::Internal(format!(
                "node produced {}x{} for a {}x{} output",
                img.width,
                img.height,
                w,
                self.height()
            )));
        }
        self.write_rows(false, |y, row| {
            row.copy_from_slice(&img.data[y * w * 4..(y + 1) * w * 4]);
            Ok(())
        })
    }

    /// Copies a frame of the same size (converting formats).
    pub fn copy_from(&mut self, src: &Frame) -> Result<(), NodeError> {
        if (src.width(), src.height()) != (self.width(), self.height()) {
            return Err(bad(format!(
                "output size {}x{} must equal the input size {}x{}",
                self.width(),
                self.height(),
                src.width(),
                src.height()
            )));
        }
        self.write_rows(false, |y, row| {
            src.read_row(y, false, row);
            Ok(())
        })
    }

    /// Fills every pixel with one straight RGBA colour.
    pub fn fill(&mut self, rgba: [f32; 4]) -> Result<(), NodeError> {
        self.write_rows(false, |_, row| {
            for px in row.chunks_exact_mut(4) {
                px.copy_from_slice(&rgba);
            }
            Ok(())
        })
    }
}

impl Image {
    /// A view of this image (working format).
    pub fn frame(&self) -> Frame<'_> {
        // SAFETY: `data` holds width·height RGBA f32 pixels, contiguous, borrowed shared.
        unsafe {
            Frame::from_raw(
                self.data.as_ptr() as *const u8,
                (self.width * 16) as isize,
                self.width,
                self.height,
                PixelFormat::WORKING,
            )
        }
    }

    /// A writable view of this image (working format).
    pub fn frame_mut(&mut self) -> FrameMut<'_> {
        // SAFETY: as `frame`, borrowed exclusively.
        unsafe {
            FrameMut::from_raw(
                self.data.as_mut_ptr() as *mut u8,
                (self.width * 16) as isize,
                self.width,
                self.height,
                PixelFormat::WORKING,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorisable rounding equals `(v.clamp(0, 1) · 255).round() as u8` for every f32 from
    /// −0.1 to 1.1 in steps of 2⁻¹⁹ and at each value k/255 and the values next to each
    /// k + ½ (the ties).
    #[test]
    fn round_255_equals_round() {
        let want = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let mut v = -0.1f32;
        while v < 1.1 {
            assert_eq!(round_255(v), want(v), "{v}");
            v += 1.0 / (1 << 19) as f32;
        }
        for k in 0..=255u32 {
            let base = k as f32 / 255.0;
            let tie = (k as f32 + 0.5) / 255.0;
            for x in [
                base,
                tie,
                tie.next_up(),
                tie.next_down(),
                base.next_up(),
                base.next_down(),
            ] {
                assert_eq!(round_255(x), want(x), "{x}");
            }
        }
    }

    fn fmt(w: usize, h: usize, sample: SampleType, ch: usize, pm: bool, lin: bool) -> FrameFormat {
        FrameFormat {
            width: w,
            height: h,
            stride: w * ch * sample.size() + 3,
            sample,
            channels: ch,
            premultiplied: pm,
            linear: lin,
        }
    }

    fn test_image(w: usize, h: usize) -> Image {
        let mut img = Image::new(w, h).unwrap();
        for (i, px) in img.data.chunks_exact_mut(4).enumerate() {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            px.copy_from_slice(&[
                x / w as f32,
                y / h as f32,
                ((i * 7) % 13) as f32 / 13.0,
                0.2 + 0.8 * ((i * 5) % 11) as f32 / 10.0,
            ]);
        }
        img
    }

    /// Every sample type and layout: write an image into a host frame and read it back.
    #[test]
    fn formats_round_trip() {
        let img = test_image(7, 5);
        for sample in [
            SampleType::U8,
            SampleType::U16,
            SampleType::F16,
            SampleType::F32,
        ] {
            for ch in [3, 4] {
                for pm in [false, true] {
                    for lin in [false, true] {
                        let f = fmt(7, 5, sample, ch, pm, lin);
                        let mut buf = vec![0u8; f.required_len().unwrap()];
                        FrameMut::new(&mut buf, &f, "out")
                            .unwrap()
                            .write_image(&img)
                            .unwrap();
                        let back = Frame::new(&buf, &f, "in").unwrap().to_image().unwrap();
                        let tol = match sample {
                            SampleType::U8 => 0.03,
                            SampleType::F16 => 4e-3,
                            _ => 2e-4,
                        };
                        for (a, b) in img.data.chunks_exact(4).zip(back.data.chunks_exact(4)) {
                            let n = if ch == 4 { 4 } else { 3 };
                            for c in 0..n {
                                assert!(
                                    (a[c] - b[c]).abs() <= tol,
                                    "{sample:?} ch{ch} pm{pm} lin{lin}: {a:?} vs {b:?}"
                                );
                            }
                            if ch == 3 {
                                assert_eq!(b[3], 1.0);
                            }
                        }
                    }
                }
            }
        }
    }

    /// A bottom-up buffer (negative stride) reads and writes the same as a top-down one.
    #[test]
    fn negative_stride_is_bottom_up() {
        let img = test_image(4, 3);
        let pf = PixelFormat::RGBA8;
        let row = 4 * 4;
        let mut up = vec![0u8; row * 3];
        // Top row is the last in memory.
        let mut out =
            unsafe { FrameMut::from_raw(up.as_mut_ptr().add(2 * row), -(row as isize), 4, 3, pf) };
        out.write_image(&img).unwrap();
        assert_eq!(
            out.span(),
            (up.as_ptr() as usize, up.as_ptr() as usize + 3 * row)
        );
        let f = FrameFormat {
            width: 4,
            height: 3,
            stride: row,
            sample: SampleType::U8,
            channels: 4,
            premultiplied: false,
            linear: false,
        };
        let mut down = vec![0u8; row * 3];
        FrameMut::new(&mut down, &f, "o")
            .unwrap()
            .write_image(&img)
            .unwrap();
        for r in 0..3 {
            assert_eq!(
                up[(2 - r) * row..(3 - r) * row],
                down[r * row..(r + 1) * row]
            );
        }
        let view = unsafe { Frame::from_raw(up.as_ptr().add(2 * row), -(row as isize), 4, 3, pf) };
        assert_eq!(
            view.to_image().unwrap(),
            Frame::new(&down, &f, "i").unwrap().to_image().unwrap()
        );
    }

    /// The old path: read into a working image, then planar with premultiplied colour. The
    /// view gives the same values in one pass; premultiplied sRGB frames are not divided.
    #[test]
    fn planar_matches_the_working_image() {
        let img = test_image(6, 4);
        for (pm, lin) in [(false, false), (true, false), (true, true), (false, true)] {
            let f = fmt(6, 4, SampleType::F32, 4, pm, lin);
            let mut buf = vec![0u8; f.required_len().unwrap()];
            FrameMut::new(&mut buf, &f, "o")
                .unwrap()
                .write_image(&img)
                .unwrap();
            let v = Frame::new(&buf, &f, "i").unwrap();
            let work = v.to_image().unwrap();
            let p = v.planar(4, true).unwrap();
            let rgb = v.planar(3, false).unwrap();
            let hw = 24;
            for (i, px) in work.data.chunks_exact(4).enumerate() {
                for c in 0..3 {
                    assert!((p[c * hw + i] - px[c] * px[3]).abs() < 1e-6);
                    assert_eq!(rgb[c * hw + i], px[c]);
                }
                assert_eq!(p[3 * hw + i], px[3]);
            }
        }
    }

    #[test]
    fn placed_frames_crop_and_pad() {
        let img = test_image(4, 4);
        let v = img.frame().placed(6, 3, 1, -2);
        let out = v.to_image().unwrap();
        for y in 0..3 {
            for x in 0..6 {
                let want = if (1..5).contains(&x) && y + 2 < 4 {
                    img.pixel(x - 1, y + 2)
                } else {
                    [0.0; 4]
                };
                assert_eq!(out.pixel(x, y), want, "({x}, {y})");
            }
        }
    }

    /// Tensor output is read in place and matches the slice path; alpha comes from a frame.
    #[test]
    fn tensor_writes_with_alpha_and_clamp() {
        let src = test_image(5, 3);
        let view = src.frame();
        let t = view.rgb_tensor(&Device::Cpu).unwrap();
        let t = (t * 2.0).unwrap();
        let mut out = Image::new(5, 3).unwrap();
        out.frame_mut()
            .write(&t, Out::planar().alpha_of(&view).clamped())
            .unwrap();
        for (o, s) in out.data.chunks_exact(4).zip(src.data.chunks_exact(4)) {
            for c in 0..3 {
                assert_eq!(o[c], (s[c] * 2.0).clamp(0.0, 1.0));
            }
            assert_eq!(o[3], s[3]);
        }
        // Interleaved RGB, opaque.
        let hwc = t
            .squeeze(0)
            .unwrap()
            .permute((1, 2, 0))
            .unwrap()
            .contiguous()
            .unwrap();
        let mut o2 = Image::new(5, 3).unwrap();
        o2.frame_mut().write(&hwc, Out::interleaved()).unwrap();
        assert!(o2.data.chunks_exact(4).all(|p| p[3] == 1.0));
        assert_eq!(o2.pixel(2, 1)[0], src.pixel(2, 1)[0] * 2.0);
        // Wrong size: an internal error, not a panic.
        let mut small = Image::new(4, 3).unwrap();
        assert!(small.frame_mut().write(&t, Out::planar()).is_err());
        // A crop (a strided view, as a model that pads and crops back gives): made contiguous.
        let crop = t.narrow(3, 1, 4).unwrap();
        small.frame_mut().write(&crop, Out::planar()).unwrap();
        assert_eq!(small.pixel(0, 2)[1], o2.pixel(1, 2)[1]);
        // A contiguous CPU tensor is read in place: the slice is its storage.
        let own = {
            let (st, l) = t.storage_and_layout();
            match &*st {
                Storage::Cpu(c) => c.as_slice::<f32>().unwrap()[l.start_offset()..].as_ptr(),
                _ => unreachable!(),
            }
        };
        assert_eq!(with_f32_slice(&t, |s| s.as_ptr()).unwrap(), own);
    }

    /// Premultiplied planes into a premultiplied sRGB frame are written as they are.
    #[test]
    fn premultiplied_output_is_not_round_tripped() {
        let (w, h) = (3, 1);
        let planes = vec![
            0.3f32, 0.2, 0.1, 0.25, 0.5, 0.05, 0.05, 0.0, 0.0, 0.5, 1.0, 2e-7,
        ];
        let f = FrameFormat {
            width: w,
            height: h,
            stride: w * 16,
            sample: SampleType::F32,
            channels: 4,
            premultiplied: true,
            linear: false,
        };
        let mut buf = vec![0u8; 48];
        FrameMut::new(&mut buf, &f, "o")
            .unwrap()
            .write_slice(&planes, 4, Out::premultiplied())
            .unwrap();
        let got: Vec<f32> = buf
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(got[..4], [0.3, 0.25, 0.05, 0.5]);
        assert_eq!(got[8..], [0.1, 0.05, 0.0, 2e-7]);
        // Straight host frame: divided once.
        let g = FrameFormat {
            premultiplied: false,
            ..f
        };
        FrameMut::new(&mut buf, &g, "o")
            .unwrap()
            .write_slice(&planes, 4, Out::premultiplied())
            .unwrap();
        let got: Vec<f32> = buf
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(got[..4], [0.6, 0.5, 0.1, 0.5]);
        assert_eq!(got[8..], [0.0, 0.0, 0.0, 2e-7]);
    }

    #[test]
    fn non_finite_float_input_is_an_error() {
        let mut img = test_image(3, 2);
        assert!(img.frame().check_finite("in").is_ok());
        img.data[9] = f32::NAN;
        let e = img.frame().check_finite("input 'a'").unwrap_err();
        assert!(e.to_string().contains("non-finite"), "{e}");
    }
}
