//! Images: fetching and releasing them, validated views of their memory, fitting inputs to the
//! output's bounds, and what each clip's values are (the colour encoding).

use std::ffi::{c_int, c_void};
use std::ptr::{null, null_mut};

use super::describe::ClipMap;
use super::host::{host_fn, note_once, Suites};
use super::params::FloatInput;
use super::sys::*;
use super::{OfxErr, PS, R};
use crate::image::{read_frame, write_frame, FrameFormat, Image, SampleType};
use crate::node::{NodeDesc, NodeError};

/// A fetched image, released on drop (every path, panics included).
pub(super) struct Fetched<'a> {
    s: &'a Suites,
    pub props: PS,
}

impl Drop for Fetched<'_> {
    fn drop(&mut self) {
        if let Some(release) = self.s.effect.clip_release_image {
            // SAFETY: a handle clipGetImage returned, released exactly once.
            unsafe { release(self.props) };
        }
    }
}

pub(super) fn fetch<'a>(
    s: &'a Suites,
    clip: OfxImageClipHandle,
    name: &str,
    time: f64,
) -> R<Fetched<'a>> {
    let mut props = null_mut();
    // SAFETY: host clip handle; NULL region: the whole image; valid out-pointer.
    let st = unsafe { (host_fn!(s.effect.clip_get_image))(clip, time, null(), &mut props) };
    if st != kOfxStatOK {
        return Err(OfxErr::failed(format!(
            "clip '{name}' has no image at frame {time} (host status {st})"
        )));
    }
    if props.is_null() {
        return Err(OfxErr::failed(format!(
            "clipGetImage('{name}') succeeded but returned a NULL image"
        )));
    }
    Ok(Fetched { s, props })
}

// ---------------------------------------------------------------------------------------------
// Colour encodings
// ---------------------------------------------------------------------------------------------

/// What a colourspace's values are, as far as Wick's conversion goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// Scene-linear light: converted to sRGB encoding before the network and back after.
    Linear,
    /// Display-referred SDR (sRGB, Rec.709/1886, gamma 2.2/2.4): taken as sRGB-encoded.
    Display,
    /// Log, HDR video, raw data: processed as they are (noted once).
    Other,
}

/// The encoding of an OpenFX colourspace name: the native config's names (ofxColour.h's
/// `ofx-native-v1.5_aces-v1.3_ocio-v2.3.h`, checked against its "Encoding" of each name by the
/// spec check), and by the same rules the usual OCIO names.
pub(super) fn classify(name: &str) -> Encoding {
    let n = name.to_ascii_lowercase();
    let has = |s: &str| n.contains(s);
    if has("linear") || n.starts_with("lin_") || ["acescg", "aces2065-1"].contains(&n.as_str()) {
        return Encoding::Linear;
    }
    if has("hdr") || has("pq") || has("hlg") || has("st2084") || has("rec2100") || has("log") {
        return Encoding::Other;
    }
    if has("srgb")
        || n.ends_with("_tx")
        || n.ends_with("_display")
        || has("display_sdr")
        || has("rec709")
        || has("gamma")
    {
        return Encoding::Display;
    }
    Encoding::Other
}

/// The colourspace a colour-managed host (OFX 1.5) gives a clip, with a cross-reference
/// ("OfxColourspace_<clip>") followed to that clip. None: no colour management.
pub(super) fn colourspace(s: &Suites, h: *mut c_void, clip_props: PS) -> Option<String> {
    let get = |ps: PS| {
        s.get_str(ps, kOfxImageClipPropColourspace, 0)
            .ok()
            .filter(|c| !c.is_empty())
    };
    let c = get(clip_props)?;
    match c.strip_prefix(COLOURSPACE_CLIP_PREFIX) {
        Some(other) => {
            let (_, ps) = s.clip(h, other).ok()?;
            get(ps).filter(|c| !c.starts_with(COLOURSPACE_CLIP_PREFIX))
        }
        None => Some(c),
    }
}

/// Whether a clip's values are linear light (to be converted to and from Wick's sRGB-encoded
/// working values): from the image's sample type, the clip's colourspace (`space`, when the
/// host manages colour) and the `wick_float_input` param.
pub(super) fn is_linear(
    s: &Suites,
    space: Option<&str>,
    sample: SampleType,
    float_input: FloatInput,
) -> bool {
    let float = matches!(sample, SampleType::F16 | SampleType::F32);
    let from_host = |c: &str| match classify(c) {
        Encoding::Linear => true,
        Encoding::Display => false,
        Encoding::Other => {
            note_once(
                s,
                &format!("colourspace/{c}"),
                &format!(
                    "colourspace '{c}' is neither scene-linear nor display SDR: Wick \
                     processes its values as they are"
                ),
            );
            false
        }
    };
    if !float {
        // Integer images are display-encoded unless a colour-managed host says otherwise.
        return space.map(from_host).unwrap_or(false);
    }
    match float_input {
        FloatInput::Linear => true,
        FloatInput::Srgb | FloatInput::AsIs => false,
        // Without colour management: the OpenFX convention, float images are linear light.
        FloatInput::Auto => space.map(from_host).unwrap_or(true),
    }
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// A validated view of an OFX image: bottom-up rows `row_bytes` apart (either sign) from
/// `data`, the pixel at (bounds.x1, bounds.y1).
pub(super) struct View {
    data: *mut u8,
    pub bounds: OfxRectI,
    row_bytes: isize,
    /// The same pixels as one contiguous top-down frame.
    pub fmt: FrameFormat,
}

pub(super) fn sample_of(depth: &str) -> Option<SampleType> {
    [
        (kOfxBitDepthByte, SampleType::U8),
        (kOfxBitDepthShort, SampleType::U16),
        (kOfxBitDepthHalf, SampleType::F16),
        (kOfxBitDepthFloat, SampleType::F32),
    ]
    .into_iter()
    .find(|(c, _)| c.to_str() == Ok(depth))
    .map(|(_, t)| t)
}

impl View {
    /// Checks that the image's bounds, depth, components and row bytes agree before anything
    /// touches its memory. `linear`: decides, from the image's sample type, whether its values
    /// are linear light.
    pub fn new(
        s: &Suites,
        img: &Fetched,
        what: &str,
        linear: impl FnOnce(SampleType) -> bool,
    ) -> R<View> {
        let ps = img.props;
        let data = s.get_ptr(ps, kOfxImagePropData)? as *mut u8;
        if data.is_null() {
            return Err(OfxErr::failed(format!("{what}: image data is NULL")));
        }
        let mut b = [0 as c_int; 4];
        for (i, v) in b.iter_mut().enumerate() {
            *v = s.get_int(ps, kOfxImagePropBounds, i as c_int)?;
        }
        let bounds = OfxRectI {
            x1: b[0],
            y1: b[1],
            x2: b[2],
            y2: b[3],
        };
        let (w, h) = (
            (bounds.x2 as i64) - (bounds.x1 as i64),
            (bounds.y2 as i64) - (bounds.y1 as i64),
        );
        if w <= 0 || h <= 0 {
            return Err(OfxErr::failed(format!(
                "{what}: empty image bounds {bounds:?}"
            )));
        }
        let depth = s.get_str(ps, kOfxImageEffectPropPixelDepth, 0)?;
        let sample = sample_of(&depth).ok_or_else(|| {
            OfxErr::from(NodeError::UnsupportedFormat(format!(
                "{what}: pixel depth '{depth}' is not supported (byte, short, half or float)"
            )))
        })?;
        let comps = s.get_str(ps, kOfxImageEffectPropComponents, 0)?;
        let channels = if kOfxImageComponentRGBA.to_str() == Ok(&comps) {
            4
        } else if kOfxImageComponentRGB.to_str() == Ok(&comps) {
            3
        } else {
            return Err(OfxErr::from(NodeError::UnsupportedFormat(format!(
                "{what}: components '{comps}' are not supported (RGBA or RGB)"
            ))));
        };
        let premultiplied = s
            .get_str(ps, kOfxImageEffectPropPreMultiplication, 0)
            .map(|p| kOfxImagePreMultiplied.to_str() == Ok(&p))
            .unwrap_or(false);
        let row_bytes = s.get_int(ps, kOfxImagePropRowBytes, 0)? as isize;
        let row = (w as usize) * channels * sample.size();
        let fmt = FrameFormat {
            width: w as usize,
            height: h as usize,
            stride: row,
            sample,
            channels,
            premultiplied,
            linear: linear(sample),
        };
        fmt.validate(u64::MAX, what)?;
        if row_bytes.unsigned_abs() < row {
            return Err(OfxErr::failed(format!(
                "{what}: row bytes {row_bytes} is shorter than a row of {w} {comps} pixels at \
                 {depth} ({row} bytes): the image's depth, components, bounds and row bytes \
                 disagree"
            )));
        }
        // The furthest row must be addressable.
        (h as isize - 1)
            .checked_mul(row_bytes)
            .ok_or_else(|| OfxErr::failed(format!("{what}: row bytes x height overflows")))?;
        Ok(View {
            data,
            bounds,
            row_bytes,
            fmt,
        })
    }

    /// Start of the `r`-th row from the top.
    fn row_ptr(&self, r: usize) -> *mut u8 {
        let from_bottom = (self.fmt.height - 1 - r) as isize;
        self.data.wrapping_offset(from_bottom * self.row_bytes)
    }

    fn alloc(&self) -> R<Vec<u8>> {
        let n = self
            .fmt
            .required_len()
            .ok_or_else(|| OfxErr::failed("image size overflows"))?;
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| {
            OfxErr::from(NodeError::OutOfMemory(format!(
                "cannot allocate {n} bytes for a {}x{} image",
                self.fmt.width, self.fmt.height
            )))
        })?;
        v.resize(n, 0);
        Ok(v)
    }

    /// Reads the image into Wick's working format (top-down).
    pub fn read(&self, what: &str) -> R<Image> {
        let mut buf = self.alloc()?;
        let row = self.fmt.stride;
        for r in 0..self.fmt.height {
            // SAFETY: validated view; each row holds `row` bytes at row_ptr(r) (host contract).
            let src = unsafe { std::slice::from_raw_parts(self.row_ptr(r), row) };
            buf[r * row..(r + 1) * row].copy_from_slice(src);
        }
        Ok(read_frame(&buf, &self.fmt, what)?)
    }

    /// Writes a working image of the view's size into the host image.
    pub fn write(&self, img: &Image) -> R<()> {
        let mut buf = self.alloc()?;
        write_frame(img, &mut buf, &self.fmt)?;
        let row = self.fmt.stride;
        for r in 0..self.fmt.height {
            // SAFETY: validated output view; the host owns `row` writable bytes per row.
            let dst = unsafe { std::slice::from_raw_parts_mut(self.row_ptr(r), row) };
            dst.copy_from_slice(&buf[r * row..(r + 1) * row]);
        }
        Ok(())
    }
}

/// Places `img` (at `from` bounds) into a transparent image of `to` bounds: inputs whose
/// bounds differ from the output's are cropped or padded, never resampled.
pub(super) fn place(img: Image, from: OfxRectI, to: OfxRectI) -> R<Image> {
    if from == to {
        return Ok(img);
    }
    let tw = (to.x2 - to.x1) as usize;
    let th = (to.y2 - to.y1) as usize;
    let mut out = Image::new(tw, th)?;
    let (x1, x2) = (from.x1.max(to.x1), from.x2.min(to.x2));
    let (y1, y2) = (from.y1.max(to.y1), from.y2.min(to.y2));
    if x1 >= x2 || y1 >= y2 {
        return Ok(out);
    }
    let n = (x2 - x1) as usize * 4;
    for y in y1..y2 {
        let sr = (from.y2 - 1 - y) as usize;
        let dr = (to.y2 - 1 - y) as usize;
        let so = (sr * img.width + (x1 - from.x1) as usize) * 4;
        let d0 = (dr * tw + (x1 - to.x1) as usize) * 4;
        out.data[d0..d0 + n].copy_from_slice(&img.data[so..so + n]);
    }
    Ok(out)
}

/// The inputs of one render: each node input's working image (None: optional and not
/// connected), and the bounds they were fitted to.
pub(super) struct Inputs {
    pub images: Vec<Option<Image>>,
    pub bounds: Option<OfxRectI>,
}

/// Fetches every input of the node at `time` from its clip, each port at its frame offset
/// (held at `time` when the host has no temporal clip access, or at the end of a clip), as
/// working images with the `target` bounds (or the first input's bounds when `None`).
pub(super) fn fetch_inputs(
    s: &Suites,
    d: &NodeDesc,
    clips: &[ClipMap],
    float_input: FloatInput,
    h: *mut c_void,
    time: f64,
    mut target: Option<OfxRectI>,
) -> R<Inputs> {
    let mut images: Vec<Option<Image>> = vec![None; d.inputs.len()];
    for c in clips {
        let (clip, cps) = s.clip(h, &c.name)?;
        let connected = s.get_int(cps, kOfxImageClipPropConnected, 0).unwrap_or(1) != 0;
        if !connected {
            if c.optional {
                continue;
            }
            return Err(OfxErr::failed(format!(
                "{}: the {} clip is not connected",
                d.label, c.name
            )));
        }
        for &(port, off) in &c.ports {
            let what = format!("clip '{}' (input '{}')", c.name, d.inputs[port].name);
            let off = if s.caps.temporal_clip_access { off } else { 0 };
            // At the end of a clip the next frame does not exist: hold the current one.
            let img = match fetch(s, clip, &c.name, time + off as f64) {
                Err(_) if off != 0 => fetch(s, clip, &c.name, time)?,
                r => r?,
            };
            let space = colourspace(s, h, cps);
            let v = View::new(s, &img, &what, |t| {
                is_linear(s, space.as_deref(), t, float_input)
            })?;
            let pixels = v.read(&what)?;
            drop(img);
            let to = *target.get_or_insert(v.bounds);
            images[port] = Some(place(pixels, v.bounds, to)?);
        }
    }
    Ok(Inputs {
        images,
        bounds: target,
    })
}
