//! Images: fetching and releasing them, validated views of their memory handed to the node as
//! frames (no copy: rows bottom-up, a negative stride), inputs fitted to the output's bounds
//! by placement, past frames, and what each clip's values are (the colour encoding).

use std::ffi::{c_int, c_void};
use std::ptr::{null, null_mut};

use super::describe::ClipMap;
use super::host::{host_fn, note_once, Suites};
use super::params::FloatInput;
use super::sys::*;
use super::untagged::untagged;
use super::{OfxErr, PS, R};
use crate::adapter::history;
use crate::frame::{Frame, FrameMut, PixelFormat};
use crate::image::{FrameFormat, SampleType};
use crate::node::{NodeDesc, NodeError, Params};

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
        // Without colour management: the OpenFX convention, float images are linear light,
        // but for Natron with nothing loaded that could have linearised (`untagged.rs`).
        FloatInput::Auto => match space {
            Some(c) => from_host(c),
            None => untagged(s).linear(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// A fetched image with a validated view of its memory: bottom-up rows `row_bytes` apart
/// (either sign) from `data`, the pixel at (bounds.x1, bounds.y1). The image stays fetched
/// (not released) while this lives, and the frames it hands out borrow it.
pub(super) struct View<'a> {
    _img: Fetched<'a>,
    data: *mut u8,
    pub bounds: OfxRectI,
    row_bytes: isize,
    /// Size and pixel format (`stride`: the bytes of one row of pixels).
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

impl<'a> View<'a> {
    /// Checks that the image's bounds, depth, components and row bytes agree before anything
    /// touches its memory. `linear`: decides, from the image's sample type, whether its values
    /// are linear light.
    pub fn new(
        s: &Suites,
        img: Fetched<'a>,
        what: &str,
        linear: impl FnOnce(SampleType) -> bool,
    ) -> R<View<'a>> {
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
            _img: img,
            data,
            bounds,
            row_bytes,
            fmt,
        })
    }

    /// The top row (OFX rows run bottom-up: the top row is the last in the image's order).
    fn top(&self) -> *mut u8 {
        let from_bottom = (self.fmt.height - 1) as isize;
        self.data.wrapping_offset(from_bottom * self.row_bytes)
    }

    /// The image as a frame, top row first (stride −row bytes): no copy.
    pub fn frame(&self) -> Frame<'_> {
        let f = &self.fmt;
        // SAFETY: validated view of a fetched image (released only when `self` drops): each
        // row holds `row` readable bytes (host contract). Inputs that share memory with the
        // output are copied before the node writes (adapter::run_node).
        unsafe {
            Frame::from_raw(
                self.top(),
                -self.row_bytes,
                f.width,
                f.height,
                PixelFormat::of(f),
            )
        }
    }

    /// The image as a frame placed on the `to` bounds: cropped or padded with transparent
    /// black where the bounds differ, never resampled (no copy either way).
    pub fn frame_on(&self, to: OfxRectI) -> Frame<'_> {
        let f = self.frame();
        if self.bounds == to {
            return f;
        }
        let (from, w, h) = (
            self.bounds,
            (to.x2 - to.x1) as usize,
            (to.y2 - to.y1) as usize,
        );
        f.placed(w, h, (from.x1 - to.x1) as i64, (to.y2 - from.y2) as i64)
    }

    /// The image as a writable frame, top row first: the node writes the host's pixels.
    pub fn frame_mut(&mut self) -> FrameMut<'_> {
        let f = &self.fmt;
        // SAFETY: validated view of the fetched output image: each row holds `row` writable
        // bytes that this render alone writes (host contract).
        unsafe {
            FrameMut::from_raw(
                self.top(),
                -self.row_bytes,
                f.width,
                f.height,
                PixelFormat::of(f),
            )
        }
    }
}

/// The inputs of one render: a view of each fetched image, which node input each feeds, and
/// the bounds they are fitted to.
pub(super) struct Inputs<'a> {
    views: Vec<View<'a>>,
    /// Per node input: the index of its view (None: not connected, or a past frame the host
    /// cannot give).
    ports: Vec<Option<usize>>,
    pub bounds: Option<OfxRectI>,
}

impl Inputs<'_> {
    /// One frame per node input, on the fitted bounds.
    pub fn frames(&self) -> Vec<Option<Frame<'_>>> {
        self.ports
            .iter()
            .map(|v| {
                v.map(|i| {
                    let view = &self.views[i];
                    view.frame_on(self.bounds.unwrap_or(view.bounds))
                })
            })
            .collect()
    }
}

/// The frame range a clip has images for, when the host says.
pub(super) fn frame_range(s: &Suites, clip_props: PS) -> Option<(f64, f64)> {
    let lo = s
        .get_double(clip_props, kOfxImageEffectPropFrameRange, 0)
        .ok()?;
    let hi = s
        .get_double(clip_props, kOfxImageEffectPropFrameRange, 1)
        .ok()?;
    (lo.is_finite() && hi.is_finite() && lo <= hi).then_some((lo, hi))
}

/// Fetches every input of the node at `time` from its clip, each port at its frame offset
/// (held at `time` when the host has no temporal clip access, or at the end of a clip), as
/// views fitted to the `target` bounds (or the first input's bounds when `None`). Past-frame
/// inputs (`PortDesc::history_of`) are fetched only while active under `params`, and only
/// where the clip has a frame (its frame range): otherwise they are None, never an error
/// (the clip start, a host without temporal access).
#[allow(clippy::too_many_arguments)]
pub(super) fn fetch_inputs<'s>(
    s: &'s Suites,
    d: &NodeDesc,
    clips: &[ClipMap],
    params: &Params,
    float_input: FloatInput,
    h: *mut c_void,
    time: f64,
    mut target: Option<OfxRectI>,
) -> R<Inputs<'s>> {
    let mut inputs = Inputs {
        views: Vec::new(),
        ports: vec![None; d.inputs.len()],
        bounds: None,
    };
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
            let past = d.inputs[port].history_of.is_some();
            let img = if past {
                let at = time + off as f64;
                let inside = frame_range(s, cps).is_none_or(|(lo, hi)| (lo..=hi).contains(&at));
                if !(s.caps.temporal_clip_access && inside && history::active(d, port, params)) {
                    continue;
                }
                match fetch(s, clip, &c.name, at) {
                    Ok(img) => img,
                    Err(_) => continue,
                }
            } else {
                let off = if s.caps.temporal_clip_access { off } else { 0 };
                // At the end of a clip the next frame does not exist: hold the current one.
                match fetch(s, clip, &c.name, time + off as f64) {
                    Err(_) if off != 0 => fetch(s, clip, &c.name, time)?,
                    r => r?,
                }
            };
            let space = colourspace(s, h, cps);
            let v = View::new(s, img, &what, |t| {
                is_linear(s, space.as_deref(), t, float_input)
            })?;
            target.get_or_insert(v.bounds);
            inputs.ports[port] = Some(inputs.views.len());
            inputs.views.push(v);
        }
    }
    inputs.bounds = target;
    Ok(inputs)
}
