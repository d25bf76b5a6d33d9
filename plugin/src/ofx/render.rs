//! Instances and the instance actions: Create/Destroy, Render, GetRegionOfDefinition,
//! GetFramesNeeded, GetClipPreferences, GetOutputColourspace (OFX 1.5) and InstanceChanged (the
//! run button of long-running nodes).

use std::ffi::{c_int, c_void, CStr};
use std::ptr::null_mut;
use std::sync::Mutex;

use super::clips::{
    classify, colourspace, fetch, fetch_inputs, frame_range, is_linear, Encoding, View,
};
use super::describe::{contexts, layout, Context, Layout};
use super::host::{note_once, Suites};
use super::params::{read_params, FloatInput, Read, Warned};
use super::sys::*;
use super::{cname, OfxErr, PS, R, RUN_BUTTON};
use crate::adapter::{contain, history, params, to_cstring, Call, Live, NodeInstance};
use crate::frame::FrameMut;
use crate::image::Image;
use crate::node::NodeError;
use crate::nodes::NodeEntry;

/// Frames per second when the host does not say (`kOfxImageEffectPropFrameRate`).
const DEFAULT_FPS: f64 = 24.0;

/// Wick's data behind an OFX instance (`kOfxPropInstanceData`): the core's node instance (its
/// lock serialises renders on several threads and InstanceChanged) and what OpenFX needs.
pub(super) struct OfxInstance {
    core: NodeInstance,
    layout: Layout,
    /// Long-running nodes: the result of the last run, shown by Render.
    result: Mutex<Option<Image>>,
    /// Params already warned about (a default used, a value clamped).
    warned: Warned,
}

impl OfxInstance {
    fn params(&self, s: &Suites, h: *mut c_void, time: f64) -> R<Read> {
        read_params(s, self.core.desc(), &self.layout, &self.warned, h, time)
    }
}

static LIVE: Live<OfxInstance> = Live::new();

pub(super) fn create_instance(s: &Suites, e: &'static NodeEntry, h: *mut c_void) -> R<OfxStatus> {
    let ps = s.effect_props(h)?;
    let name = s.get_str(ps, kOfxImageEffectPropContext, 0)?;
    let ctx = Context::parse(&name)
        .filter(|c| contexts(&e.desc, s.caps.temporal_clip_access).contains(c))
        .ok_or_else(|| {
            OfxErr::new(
                kOfxStatErrUnsupported,
                format!("{} does not support the context '{name}'", e.desc.id),
            )
        })?;
    let p = LIVE.add(OfxInstance {
        core: NodeInstance::new(e),
        layout: layout(&e.desc, ctx),
        result: Mutex::new(None),
        warned: Warned::default(),
    })?;
    if let Err(e) = s.set_ptr(ps, kOfxPropInstanceData, p as *mut c_void) {
        LIVE.destroy(p);
        return Err(e);
    }
    // Past-frame inputs: best rendered in frame order, correct in any (the instance's copy of
    // the descriptor's flag, plugin-writable per the programming reference).
    if e.desc.inputs.iter().any(|i| i.history_of.is_some()) {
        s.optional(
            s.set_int(ps, kOfxImageEffectInstancePropSequentialRender, 0, 2),
            kOfxImageEffectInstancePropSequentialRender,
            "an effect instance",
        )?;
    }
    Ok(kOfxStatOK)
}

/// The live Wick instance behind an effect handle.
pub(super) fn instance(s: &Suites, h: *mut c_void) -> R<&'static OfxInstance> {
    let ps = s.effect_props(h)?;
    // No instance data: a descriptor, or an instance CreateInstance failed for.
    let p = s
        .get_ptr(ps, kOfxPropInstanceData)
        .map_err(|e| OfxErr::bad_handle(format!("not a Wick instance: {}", e.msg)))?;
    LIVE.get(p as *const OfxInstance).ok_or_else(|| {
        OfxErr::bad_handle(
            "the effect handle carries no live Wick instance (not created, or destroyed)",
        )
    })
}

pub(super) fn destroy_instance(
    s: &Suites,
    h: *mut c_void,
    inst: &'static OfxInstance,
) -> R<OfxStatus> {
    let p = inst as *const OfxInstance as *mut OfxInstance;
    if LIVE.contains(p) {
        if let Ok(ps) = s.effect_props(h) {
            let _ = s.set_ptr(ps, kOfxPropInstanceData, null_mut());
        }
        LIVE.destroy(p);
    }
    Ok(kOfxStatOK)
}

fn frame_rate(s: &Suites, h: *mut c_void) -> f64 {
    s.effect_props(h)
        .and_then(|ps| s.get_double(ps, kOfxImageEffectPropFrameRate, 0))
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(DEFAULT_FPS)
}

fn time_arg(s: &Suites, in_args: PS) -> R<f64> {
    let t = s.get_double(in_args, kOfxPropTime, 0)?;
    if !t.is_finite() {
        return Err(OfxErr::failed(format!("time {t} is not finite")));
    }
    Ok(t)
}

/// The project's offset and size in canonical coordinates, when the host gives them.
fn project(s: &Suites, h: *mut c_void) -> Option<[f64; 4]> {
    let ps = s.effect_props(h).ok()?;
    let get = |p: &CStr, i| {
        s.get_double(ps, p, i)
            .ok()
            .filter(|v| v.is_finite() && v.abs() < 1e6)
    };
    let (w, hh) = (
        get(kOfxImageEffectPropProjectSize, 0)?,
        get(kOfxImageEffectPropProjectSize, 1)?,
    );
    if w < 1.0 || hh < 1.0 {
        return None;
    }
    let ox = get(kOfxImageEffectPropProjectOffset, 0).unwrap_or(0.0);
    let oy = get(kOfxImageEffectPropProjectOffset, 1).unwrap_or(0.0);
    Some([ox, oy, w, hh])
}

// ---------------------------------------------------------------------------------------------
// Render
// ---------------------------------------------------------------------------------------------

pub(super) fn render(s: &Suites, inst: &OfxInstance, h: *mut c_void, in_args: PS) -> R<OfxStatus> {
    let d = inst.core.desc();
    let time = time_arg(s, in_args)?;
    let read = inst.params(s, h, time)?;
    let (out_clip, out_ps) = s.clip(h, kOfxImageEffectOutputClipName)?;
    let out_space = colourspace(s, h, out_ps);
    let out_img = fetch(s, out_clip, kOfxImageEffectOutputClipName, time)?;
    let mut out = View::new(s, out_img, "output", |t| {
        is_linear(s, out_space.as_deref(), t, read.float_input)
    })?;
    let (w, hgt) = (out.fmt.width, out.fmt.height);
    let ins = fetch_inputs(
        s,
        d,
        &inst.layout.clips,
        &read.params,
        read.float_input,
        h,
        time,
        Some(out.bounds),
    )?;
    let frames = ins.frames();

    if inst.layout.run_button {
        // Long-running node: show the last result; before the first run, pass the first input
        // through (or transparent black).
        let shown = inst
            .result
            .lock()
            .map_err(|_| OfxErr::failed("result lock poisoned"))?
            .clone()
            .filter(|r| r.width == w && r.height == hgt);
        let mut o = out.frame_mut();
        match (shown, frames.iter().flatten().next()) {
            (Some(r), _) => o.write_image(&r)?,
            (None, Some(first)) => o.copy_from(first)?,
            (None, None) => o.fill([0.0; 4])?,
        }
        return Ok(kOfxStatOK);
    }

    // The first output is the host's image, written in place; further outputs (none today)
    // go to scratch images.
    let mut extra: Vec<Image> = (1..d.outputs.len())
        .map(|_| Image::new(w, hgt))
        .collect::<Result<_, _>>()?;
    let mut outputs: Vec<FrameMut> = std::iter::once(out.frame_mut())
        .chain(extra.iter_mut().map(Image::frame_mut))
        .collect();
    let mut aborted = move |_f: f64, _m: &str| s.aborted(h);
    inst.core.run(Call {
        time: time / frame_rate(s, h),
        frame: time.round() as i64,
        params: &read.params,
        inputs: &frames,
        outputs: &mut outputs,
        progress: Some(&mut aborted),
    })?;
    Ok(kOfxStatOK)
}

// ---------------------------------------------------------------------------------------------
// Region of definition, frames needed, clip and colour preferences
// ---------------------------------------------------------------------------------------------

/// Generators: the RoD is the project (offset and size), or the `width` x `height` params
/// where they are set (not 0) and the host allows outputs of other sizes (multi-resolution);
/// in canonical coordinates, so a proxy render gets a scaled image. Others: the host's default
/// (the inputs' RoD).
pub(super) fn region_of_definition(
    s: &Suites,
    inst: &OfxInstance,
    h: *mut c_void,
    in_args: PS,
    out_args: PS,
) -> R<OfxStatus> {
    let d = inst.core.desc();
    if inst.layout.context != Context::Generator || d.output_size().is_none() {
        return Ok(kOfxStatReplyDefault);
    }
    let time = time_arg(s, in_args)?;
    let p = inst.params(s, h, time)?;
    let (own_w, own_h) = params::output_size(d, &p.params).unwrap_or((640, 360));
    let (own_w, own_h) = (own_w as f64, own_h as f64);
    let proj = project(s, h);
    let (mut pw, mut ph) = (p.project_width, p.project_height);
    if !s.caps.multi_resolution && proj.is_some() && !(pw && ph) {
        note_once(
            s,
            "rod/multires",
            "this host does not support outputs of other sizes than the project's \
             (multi-resolution): width and height are ignored",
        );
        (pw, ph) = (true, true);
    }
    // Without a project size from the host, the node's own default size.
    let [ox, oy, sw, sh] = proj.unwrap_or([0.0, 0.0, own_w, own_h]);
    let (x1, x2) = if pw { (ox, ox + sw) } else { (0.0, own_w) };
    let (y1, y2) = if ph { (oy, oy + sh) } else { (0.0, own_h) };
    s.set_doubles(
        out_args,
        kOfxImageEffectPropRegionOfDefinition,
        &[x1, y1, x2, y2],
    )?;
    Ok(kOfxStatOK)
}

/// Temporal clips ask for every frame their inputs are read at: past-frame inputs (negative
/// offsets) only while the params make them active (e.g. `temporal` > 0).
pub(super) fn frames_needed(
    s: &Suites,
    inst: &OfxInstance,
    h: *mut c_void,
    in_args: PS,
    out_args: PS,
) -> R<OfxStatus> {
    if !inst.layout.temporal() || !s.caps.temporal_clip_access {
        return Ok(kOfxStatReplyDefault);
    }
    let d = inst.core.desc();
    let time = time_arg(s, in_args)?;
    let params = inst.params(s, h, time)?.params;
    for c in &inst.layout.clips {
        let offsets = c
            .ports
            .iter()
            .filter(|&&(p, _)| d.inputs[p].history_of.is_none() || history::active(d, p, &params))
            .map(|(_, o)| *o);
        let mut lo = time + offsets.clone().min().unwrap_or(0) as f64;
        let hi = time + offsets.max().unwrap_or(0) as f64;
        // Past frames before the clip's first are not fed (fetch_inputs): not asked for either
        // (NatronRenderer 2.5 renders transparent black when asked for frames before a clip's
        // start).
        if let Ok((_, cps)) = s.clip(h, &c.name) {
            if let Some((first, _)) = frame_range(s, cps) {
                lo = lo.max(first.min(time));
            }
        }
        let prop = cname(&format!("{FRAME_RANGE_PREFIX}{}", c.name));
        s.set_doubles(out_args, &prop, &[lo, hi])?;
    }
    Ok(kOfxStatOK)
}

/// The instance's colour management style (OFX 1.5), when the host manages colour.
fn colour_style(s: &Suites, h: *mut c_void) -> Option<String> {
    let ps = s.effect_props(h).ok()?;
    s.get_str(ps, kOfxImageEffectPropColourManagementStyle, 0)
        .ok()
        .filter(|v| !v.is_empty() && kOfxImageEffectColourManagementNone.to_str() != Ok(v))
}

/// The colourspaces Wick asks a colour-managed host for on an input clip, best first: ones it
/// converts exactly (scene-linear Rec.709, sRGB), as the `wick_float_input` param says, and
/// only basic names in the basic style. Empty: no preference (`as is`).
fn preferred(style: &str, f: FloatInput) -> Vec<&'static CStr> {
    let basic = kOfxImageEffectColourManagementBasic.to_str() == Ok(style);
    let linear: &[&'static CStr] = if basic {
        &[kOfxColourspaceOfxSceneLinear]
    } else {
        &[kOfxColourspaceLinRec709Srgb, kOfxColourspaceOfxSceneLinear]
    };
    let display: &[&'static CStr] = if basic {
        &[kOfxColourspaceOfxDisplaySdr]
    } else {
        &[kOfxColourspaceSrgbTx, kOfxColourspaceOfxDisplaySdr]
    };
    match f {
        FloatInput::Linear => linear.to_vec(),
        FloatInput::Srgb => display.to_vec(),
        FloatInput::Auto => [linear, display].concat(),
        FloatInput::AsIs => Vec::new(),
    }
}

/// Generators output premultiplied RGBA (where the host has RGBA) that changes every frame; a
/// colour-managed host is asked for the colourspaces Wick converts exactly on every input. The
/// rest is the host's default (the output follows the source clip).
pub(super) fn clip_preferences(
    s: &Suites,
    inst: &OfxInstance,
    h: *mut c_void,
    out_args: PS,
) -> R<OfxStatus> {
    let mut trapped = false;
    const PREFS: &str = "the GetClipPreferences out-args";
    if inst.layout.context == Context::Generator {
        if s.caps.has_component(kOfxImageComponentRGBA) {
            let comps = cname(&format!(
                "{CLIP_COMPONENTS_PREFIX}{kOfxImageEffectOutputClipName}"
            ));
            s.optional(
                s.set_cstr(out_args, &comps, 0, kOfxImageComponentRGBA),
                &comps,
                PREFS,
            )?;
        }
        s.optional(
            s.set_cstr(
                out_args,
                kOfxImageEffectPropPreMultiplication,
                0,
                kOfxImagePreMultiplied,
            ),
            kOfxImageEffectPropPreMultiplication,
            PREFS,
        )?;
        // The picture moves with time even when nothing else does (latent walks).
        s.optional(
            s.set_int(out_args, kOfxImageEffectFrameVarying, 0, 1),
            kOfxImageEffectFrameVarying,
            PREFS,
        )?;
        trapped = true;
    }
    if let Some(style) = colour_style(s, h) {
        let f = inst.params(s, h, 0.0)?.float_input;
        let want = preferred(&style, f);
        if !want.is_empty() {
            for c in &inst.layout.clips {
                let prop = cname(&format!("{CLIP_PREFERRED_COLOURSPACES_PREFIX}{}", c.name));
                for (i, cs) in want.iter().enumerate() {
                    s.optional(s.set_cstr(out_args, &prop, i as c_int, cs), &prop, PREFS)?;
                }
            }
            trapped = true;
        }
    }
    Ok(if trapped {
        kOfxStatOK
    } else {
        kOfxStatReplyDefault
    })
}

/// OFX 1.5: the output's colourspace. Effects with inputs write their output in their first
/// input's colourspace (the host's default). Generators take the first of the host's preferred
/// colourspaces Wick writes exactly, else scene-linear (or sRGB, as the `wick_float_input`
/// param says).
pub(super) fn output_colourspace(
    s: &Suites,
    inst: &OfxInstance,
    h: *mut c_void,
    in_args: PS,
    out_args: PS,
) -> R<OfxStatus> {
    if !inst.layout.clips.is_empty() {
        return Ok(kOfxStatReplyDefault);
    }
    let f = inst.params(s, h, 0.0)?.float_input;
    let style = colour_style(s, h).unwrap_or_default();
    let mut offered = Vec::new();
    for i in 0..64 {
        match s.get_str(in_args, kOfxImageClipPropPreferredColourspaces, i) {
            Ok(c) if !c.is_empty() => offered.push(c),
            _ => break,
        }
    }
    let fits = |c: &str| match (f, classify(c)) {
        (FloatInput::AsIs, _) => true,
        (FloatInput::Linear, e) => e == Encoding::Linear,
        (FloatInput::Srgb, e) => e == Encoding::Display,
        (FloatInput::Auto, e) => e != Encoding::Other,
    };
    let chosen = match offered.iter().find(|c| fits(c)) {
        Some(c) => c.clone(),
        None => {
            let f = if f == FloatInput::Srgb {
                FloatInput::Srgb
            } else {
                FloatInput::Linear
            };
            preferred(&style, f)
                .first()
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    };
    s.set_str(out_args, kOfxImageClipPropColourspace, 0, &chosen)?;
    Ok(kOfxStatOK)
}

// ---------------------------------------------------------------------------------------------
// InstanceChanged: the run button
// ---------------------------------------------------------------------------------------------

/// The run button of long-running nodes: runs the node on the current frame with the progress
/// suite (cancel stops it), keeping the result for Render. A change of `wick_float_input` is
/// the host's to act on (clip preferences), nothing for Wick to do here.
pub(super) fn instance_changed(
    s: &Suites,
    inst: &OfxInstance,
    h: *mut c_void,
    in_args: PS,
) -> R<OfxStatus> {
    let ty = s.get_str(in_args, kOfxPropType, 0)?;
    let name = s.get_str(in_args, kOfxPropName, 0)?;
    if !inst.layout.run_button
        || kOfxTypeParameter.to_str() != Ok(ty.as_str())
        || name != RUN_BUTTON
    {
        return Ok(kOfxStatReplyDefault);
    }
    let d = inst.core.desc();
    let time = time_arg(s, in_args).unwrap_or(0.0);
    let read = inst.params(s, h, time)?;
    let params = &read.params;
    let ins = fetch_inputs(
        s,
        d,
        &inst.layout.clips,
        params,
        read.float_input,
        h,
        time,
        None,
    )?;
    let (w, hh) = match (ins.bounds, params::output_size(d, params)) {
        (Some(b), _) => ((b.x2 - b.x1) as usize, (b.y2 - b.y1) as usize),
        (None, Some(size)) => size,
        (None, None) => match project(s, h) {
            Some([_, _, w, hh]) => (
                w.clamp(1.0, 32768.0) as usize,
                hh.clamp(1.0, 32768.0) as usize,
            ),
            None => (640, 360),
        },
    };
    let mut outputs = Vec::with_capacity(d.outputs.len());
    for _ in &d.outputs {
        outputs.push(Image::new(w, hh)?);
    }
    let frames = ins.frames();
    let progress = s.progress;
    if let Some(p) = progress {
        let label = to_cstring(d.label);
        // SAFETY: host progress suite on this instance's handle.
        if let Some(start) = p.progress_start {
            unsafe { start(h, label.as_ptr()) };
        }
    }
    let mut update = move |f: f64, _m: &str| match progress {
        // SAFETY: between progressStart and progressEnd on this instance.
        Some(OfxProgressSuiteV1 {
            progress_update: Some(update),
            ..
        }) => (unsafe { update(h, f) }) == kOfxStatReplyNo,
        Some(_) => false,
        None => false,
    };
    let r = {
        let mut views: Vec<FrameMut> = outputs.iter_mut().map(Image::frame_mut).collect();
        contain(|| {
            inst.core.run(Call {
                time: time / frame_rate(s, h),
                frame: time.round() as i64,
                params,
                inputs: &frames,
                outputs: &mut views,
                progress: Some(&mut update),
            })
        })
    };
    if let Some(p) = progress {
        // SAFETY: ends the progress started above, on every path.
        if let Some(end) = p.progress_end {
            unsafe { end(h) };
        }
    }
    match r {
        Ok(()) => {
            let first = outputs.into_iter().next();
            *inst
                .result
                .lock()
                .map_err(|_| OfxErr::failed("result lock poisoned"))? = first;
            Ok(kOfxStatOK)
        }
        Err(NodeError::Cancelled) => {
            s.post(
                h,
                kOfxMessageMessage,
                &format!("{} was cancelled.", d.label),
            );
            Ok(kOfxStatOK)
        }
        Err(e) => Err(e.into()),
    }
}
