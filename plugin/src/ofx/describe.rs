//! Contexts, the clip layout of a node in each, and the Describe / DescribeInContext actions
//! with the param descriptors.

use std::ffi::{c_int, c_void, CStr};
use std::ptr::null_mut;

use super::host::{host_fn, HostCaps, Suites};
use super::params::{self, OfxParam};
use super::sys::*;
use super::{cname, OfxErr, PS, R, RUN_BUTTON};
use crate::adapter::history;
use crate::node::{NodeDesc, ParamDesc, ParamKind, ParamRole, ThreadSafety};
use crate::nodes::NodeEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Generator,
    Filter,
    Transition,
    General,
}

impl Context {
    pub(super) fn name(self) -> &'static CStr {
        match self {
            Context::Generator => kOfxImageEffectContextGenerator,
            Context::Filter => kOfxImageEffectContextFilter,
            Context::Transition => kOfxImageEffectContextTransition,
            Context::General => kOfxImageEffectContextGeneral,
        }
    }
    pub(super) fn parse(s: &str) -> Option<Self> {
        [
            Context::Generator,
            Context::Filter,
            Context::Transition,
            Context::General,
        ]
        .into_iter()
        .find(|c| c.name().to_str() == Ok(s))
    }
}

/// An input clip: which node inputs it feeds, each at a frame offset.
#[derive(Debug, Clone)]
pub struct ClipMap {
    pub name: String,
    pub label: String,
    pub ports: Vec<(usize, i32)>,
    pub optional: bool,
}

/// How a node appears in one context.
#[derive(Debug, Clone)]
pub struct Layout {
    pub context: Context,
    pub clips: Vec<ClipMap>,
    /// The param shown as the Transition param (Transition context).
    pub transition_param: Option<usize>,
    /// Long-running node: a push button runs it.
    pub run_button: bool,
}

impl Layout {
    pub(super) fn temporal(&self) -> bool {
        self.clips
            .iter()
            .any(|c| c.ports.iter().any(|(_, o)| *o != 0))
    }
    /// The OFX name of param `i`.
    pub(super) fn param_name<'a>(&self, i: usize, p: &'a ParamDesc) -> &'a str {
        if self.transition_param == Some(i) {
            kOfxImageEffectTransitionParamName
        } else {
            p.name
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The param shown as the Transition param: the node's `Time` role (a Float).
fn t_param(d: &NodeDesc) -> Option<usize> {
    d.role(ParamRole::Time)
        .filter(|(_, p)| matches!(p.kind, ParamKind::Float { .. }))
        .map(|(i, _)| i)
}

fn required(d: &NodeDesc) -> Vec<usize> {
    (0..d.inputs.len())
        .filter(|&i| !d.inputs[i].optional)
        .collect()
}

/// A past-frame input (`PortDesc::history_of`): read from its input's clip, not a clip of its
/// own.
fn is_past(d: &NodeDesc, i: usize) -> bool {
    d.inputs[i].history_of.is_some()
}

/// Adds each past-frame input to the clip that reads the input it is a past frame of, at its
/// (negative) offset.
fn attach_past_frames(d: &NodeDesc, clips: &mut [ClipMap]) {
    for t in history::tracks(d) {
        if let Some(c) = clips
            .iter_mut()
            .find(|c| c.ports.iter().any(|&(p, _)| p == t.of))
        {
            c.ports.extend(t.ports.iter().copied());
        }
    }
}

/// The contexts a node is offered in, by a host with (`temporal`) or without temporal clip
/// access: the retime General context of a node with frame-offset inputs needs it.
pub fn contexts(d: &NodeDesc, temporal: bool) -> Vec<Context> {
    let req = required(d).len();
    if d.long_running {
        vec![Context::General]
    } else if d.source {
        if d.inputs.is_empty() {
            vec![Context::Generator]
        } else {
            vec![Context::Generator, Context::General]
        }
    } else if req == 2 && t_param(d).is_some() {
        if d.temporal() && temporal {
            vec![Context::Transition, Context::General]
        } else {
            vec![Context::Transition]
        }
    } else if req == 1 {
        vec![Context::Filter]
    } else {
        vec![Context::General]
    }
}

/// The clips of a node in a context. Every input keeps its port's frame offset (the retime
/// General context maps all required inputs onto one `Source` clip at their offsets); past-frame
/// inputs are read from their input's clip at their offsets.
pub fn layout(d: &NodeDesc, context: Context) -> Layout {
    let own = |i: usize, name: String| ClipMap {
        label: capitalised(d.inputs[i].name),
        name,
        ports: vec![(i, d.inputs[i].frame_offset)],
        optional: d.inputs[i].optional || d.source,
    };
    let req = required(d);
    let mut clips = Vec::new();
    let mut transition_param = None;
    match context {
        Context::Generator => {}
        Context::Filter | Context::Transition => {
            let names: &[&str] = if context == Context::Filter {
                &[kOfxImageEffectSimpleSourceClipName]
            } else {
                transition_param = t_param(d);
                &[
                    kOfxImageEffectTransitionSourceFromClipName,
                    kOfxImageEffectTransitionSourceToClipName,
                ]
            };
            for (k, &i) in req.iter().enumerate() {
                clips.push(ClipMap {
                    name: names[k].to_string(),
                    // The standard clips of these contexts are read at the current frame.
                    ports: vec![(i, 0)],
                    ..own(i, String::new())
                });
            }
            for i in (0..d.inputs.len()).filter(|&i| !req.contains(&i) && !is_past(d, i)) {
                clips.push(own(i, capitalised(d.inputs[i].name)));
            }
        }
        Context::General if d.temporal() && !d.long_running && !d.source => {
            // A retime of one clip: every required input is the Source clip at its offset.
            clips.push(ClipMap {
                name: kOfxImageEffectSimpleSourceClipName.into(),
                label: kOfxImageEffectSimpleSourceClipName.into(),
                ports: req.iter().map(|&i| (i, d.inputs[i].frame_offset)).collect(),
                optional: false,
            });
            for i in (0..d.inputs.len()).filter(|&i| !req.contains(&i) && !is_past(d, i)) {
                clips.push(own(i, capitalised(d.inputs[i].name)));
            }
        }
        Context::General => {
            for i in (0..d.inputs.len()).filter(|&i| !is_past(d, i)) {
                let name = if i == 0 {
                    kOfxImageEffectSimpleSourceClipName.to_string()
                } else {
                    capitalised(d.inputs[i].name)
                };
                clips.push(own(i, name));
            }
        }
    }
    attach_past_frames(d, &mut clips);
    Layout {
        context,
        clips,
        transition_param,
        run_button: d.long_running,
    }
}

// ---------------------------------------------------------------------------------------------
// Describe
// ---------------------------------------------------------------------------------------------

const DEPTHS: [&CStr; 4] = [
    kOfxBitDepthByte,
    kOfxBitDepthShort,
    kOfxBitDepthHalf,
    kOfxBitDepthFloat,
];
const COMPONENTS: [&CStr; 2] = [kOfxImageComponentRGBA, kOfxImageComponentRGB];

/// The pixel depths to declare: Wick's, less those the host says it does not have (all of
/// Wick's when the host names none of them).
fn depths(caps: &HostCaps) -> Vec<&'static CStr> {
    let both: Vec<&CStr> = DEPTHS
        .into_iter()
        .filter(|d| caps.depths.iter().any(|h| d.to_str() == Ok(h)))
        .collect();
    if both.is_empty() {
        DEPTHS.to_vec()
    } else {
        both
    }
}

const EFFECT: &str = "the effect descriptor";

pub(super) fn describe(s: &Suites, e: &NodeEntry, handle: *mut c_void) -> R<OfxStatus> {
    let d = &e.desc;
    let caps = &s.caps;
    let ps = s.effect_props(handle)?;
    let opt = |r: R<()>, p: &CStr| s.optional(r, p, EFFECT);
    opt(s.set_str(ps, kOfxPropLabel, 0, d.label), kOfxPropLabel)?;
    opt(
        s.set_str(ps, kOfxImageEffectPluginPropGrouping, 0, d.category),
        kOfxImageEffectPluginPropGrouping,
    )?;
    opt(
        s.set_str(ps, kOfxPropPluginDescription, 0, d.help),
        kOfxPropPluginDescription,
    )?;
    opt(
        s.set_str(ps, kOfxPropVersionLabel, 0, env!("CARGO_PKG_VERSION")),
        kOfxPropVersionLabel,
    )?;
    // Mandatory: without contexts and depths no host can use the plugin.
    let ctxs: Vec<&CStr> = contexts(d, caps.temporal_clip_access)
        .into_iter()
        .map(Context::name)
        .collect();
    s.set_strs(ps, kOfxImageEffectPropSupportedContexts, &ctxs)?;
    s.set_strs(ps, kOfxImageEffectPropSupportedPixelDepths, &depths(caps))?;
    let flags: [(&CStr, bool); 7] = [
        (kOfxImageEffectPropSupportsTiles, false),
        // Inputs whose bounds differ from the output's are cropped or padded (`clips::place`).
        (
            kOfxImageEffectPropSupportsMultiResolution,
            caps.multi_resolution,
        ),
        // Every image is converted on its own, whatever its depth.
        (
            kOfxImageEffectPropSupportsMultipleClipDepths,
            caps.multiple_clip_depths,
        ),
        (
            kOfxImageEffectPropTemporalClipAccess,
            d.temporal() && caps.temporal_clip_access,
        ),
        (kOfxImageEffectPluginPropHostFrameThreading, false),
        (kOfxImageEffectPluginPropSingleInstance, false),
        (kOfxImageEffectPropSupportsMultipleClipPARs, false),
    ];
    for (p, v) in flags {
        opt(s.set_int(ps, p, 0, v as c_int), p)?;
    }
    // Past-frame inputs: the node is farm-safe (a frame depends only on its window of input
    // frames), but renders in frame order reuse work: 2, "best rendered sequentially, correct
    // if not".
    if d.inputs.iter().any(|p| p.history_of.is_some()) {
        opt(
            s.set_int(ps, kOfxImageEffectInstancePropSequentialRender, 0, 2),
            kOfxImageEffectInstancePropSequentialRender,
        )?;
    }
    // Fielded material is rendered as whole frames, once.
    opt(
        s.set_int(ps, kOfxImageEffectPluginPropFieldRenderTwiceAlways, 0, 0),
        kOfxImageEffectPluginPropFieldRenderTwiceAlways,
    )?;
    // Calls on one instance are serialised by its lock; instances run in parallel unless the
    // node itself is unsafe (then a process-wide lock serialises them too).
    let safety = match d.thread_safety {
        ThreadSafety::Unsafe => kOfxImageEffectRenderUnsafe,
        ThreadSafety::InstanceSafe | ThreadSafety::FullySafe => kOfxImageEffectRenderInstanceSafe,
    };
    opt(
        s.set_cstr(ps, kOfxImageEffectPluginRenderThreadSafety, 0, safety),
        kOfxImageEffectPluginRenderThreadSafety,
    )?;
    // OFX 1.5 colour management: Wick takes the clips' colourspaces from the host (basic
    // colourspaces, or the core ones of the native config, by name).
    opt(
        s.set_cstr(
            ps,
            kOfxImageEffectPropColourManagementStyle,
            0,
            kOfxImageEffectColourManagementCore,
        ),
        kOfxImageEffectPropColourManagementStyle,
    )?;
    opt(
        s.set_cstr(
            ps,
            kOfxImageEffectPropColourManagementAvailableConfigs,
            0,
            kOfxConfigIdentifier,
        ),
        kOfxImageEffectPropColourManagementAvailableConfigs,
    )?;
    Ok(kOfxStatOK)
}

pub(super) fn describe_in_context(
    s: &Suites,
    e: &NodeEntry,
    handle: *mut c_void,
    in_args: PS,
) -> R<OfxStatus> {
    let d = &e.desc;
    let name = s.get_str(in_args, kOfxImageEffectPropContext, 0)?;
    let ctx = Context::parse(&name)
        .filter(|c| contexts(d, s.caps.temporal_clip_access).contains(c))
        .ok_or_else(|| {
            OfxErr::new(
                kOfxStatErrUnsupported,
                format!("{} does not support the context '{name}'", d.id),
            )
        })?;
    let lay = layout(d, ctx);
    const CLIP: &str = "a clip descriptor";
    let define_clip = |name: &str| -> R<PS> {
        let c = cname(name);
        let mut ps = null_mut();
        // SAFETY: host descriptor handle (checked by effect_props below, before any call).
        let st = unsafe { (host_fn!(s.effect.clip_define))(handle, c.as_ptr(), &mut ps) };
        if st != kOfxStatOK {
            return Err(OfxErr::failed(format!(
                "clipDefine('{name}') (host status {st})"
            )));
        }
        Suites::nonnull(ps, kOfxImageEffectPropSupportedComponents)?;
        s.set_strs(ps, kOfxImageEffectPropSupportedComponents, &COMPONENTS)?;
        s.optional(
            s.set_int(ps, kOfxImageEffectPropSupportsTiles, 0, 0),
            kOfxImageEffectPropSupportsTiles,
            CLIP,
        )?;
        Ok(ps)
    };
    s.effect_props(handle)?;
    define_clip(kOfxImageEffectOutputClipName)?;
    for c in &lay.clips {
        let ps = define_clip(&c.name)?;
        s.optional(
            s.set_str(ps, kOfxPropLabel, 0, &c.label),
            kOfxPropLabel,
            CLIP,
        )?;
        s.optional(
            s.set_int(ps, kOfxImageClipPropOptional, 0, c.optional as c_int),
            kOfxImageClipPropOptional,
            CLIP,
        )?;
        let temporal = c.ports.iter().any(|(_, o)| *o != 0) && s.caps.temporal_clip_access;
        s.optional(
            s.set_int(
                ps,
                kOfxImageEffectPropTemporalClipAccess,
                0,
                temporal as c_int,
            ),
            kOfxImageEffectPropTemporalClipAccess,
            CLIP,
        )?;
    }
    let pset = s.param_set(handle)?;
    for (i, p) in d.params.iter().enumerate() {
        let p = params::ofx_param(ctx, p);
        define_param(s, pset, lay.param_name(i, &p.desc), &p)?;
    }
    for p in params::adapter_params(d, ctx) {
        define_param(s, pset, p.desc.name, &p)?;
    }
    // What a float image is decides the colourspaces asked for in GetClipPreferences.
    s.optional(
        s.set_str(
            s.effect_props(handle)?,
            kOfxImageEffectPropClipPreferencesSlaveParam,
            0,
            params::FLOAT_INPUT_PARAM,
        ),
        kOfxImageEffectPropClipPreferencesSlaveParam,
        EFFECT,
    )?;
    if lay.run_button {
        let ps = param_define(s, pset, kOfxParamTypePushButton, RUN_BUTTON)?;
        const PARAM: &str = "a push button param descriptor";
        s.optional(
            s.set_str(ps, kOfxPropLabel, 0, d.label),
            kOfxPropLabel,
            PARAM,
        )?;
        s.optional(
            s.set_str(
                ps,
                kOfxParamPropHint,
                0,
                &format!(
                    "Run {} now on the current frame, with a progress bar (cancel stops it). \
                     The output shows the last result.",
                    d.label
                ),
            ),
            kOfxParamPropHint,
            PARAM,
        )?;
    }
    Ok(kOfxStatOK)
}

fn param_define(s: &Suites, pset: OfxParamSetHandle, ty: &CStr, name: &str) -> R<PS> {
    let c = cname(name);
    let mut ps = null_mut();
    // SAFETY: host param set handle; valid out-pointer.
    let st = unsafe { (host_fn!(s.param.param_define))(pset, ty.as_ptr(), c.as_ptr(), &mut ps) };
    if st != kOfxStatOK {
        return Err(OfxErr::failed(format!(
            "paramDefine('{name}') (host status {st})"
        )));
    }
    Suites::nonnull(ps, kOfxParamPropDefault)?;
    Ok(ps)
}

/// The OFX param type of a Wick param kind.
pub(super) fn param_type(k: &ParamKind) -> &'static CStr {
    match k {
        ParamKind::Float { .. } => kOfxParamTypeDouble,
        ParamKind::Int { .. } => kOfxParamTypeInteger,
        ParamKind::Bool { .. } => kOfxParamTypeBoolean,
        ParamKind::Enum { .. } => kOfxParamTypeChoice,
        ParamKind::Str { .. } | ParamKind::Path { .. } => kOfxParamTypeString,
        ParamKind::Color { .. } => kOfxParamTypeRGBA,
    }
}

/// Defines one param. Every property but the definition itself is optional: a host that does
/// not define one (as the spec allows) gets the param without it.
fn define_param(s: &Suites, pset: OfxParamSetHandle, name: &str, p: &OfxParam) -> R<()> {
    let ps = param_define(s, pset, param_type(&p.desc.kind), name)?;
    const PARAM: &str = "a param descriptor";
    let opt = |r: R<()>, prop: &CStr| s.optional(r, prop, PARAM);
    opt(s.set_str(ps, kOfxPropLabel, 0, &p.label), kOfxPropLabel)?;
    opt(
        s.set_str(ps, kOfxParamPropHint, 0, &p.hint),
        kOfxParamPropHint,
    )?;
    opt(
        s.set_str(ps, kOfxParamPropScriptName, 0, name),
        kOfxParamPropScriptName,
    )?;
    opt(
        s.set_int(ps, kOfxParamPropAnimates, 0, p.desc.animatable as c_int),
        kOfxParamPropAnimates,
    )?;
    let clamp_i = |v: i64| v.clamp(c_int::MIN as i64, c_int::MAX as i64) as c_int;
    match &p.desc.kind {
        ParamKind::Float { min, max, default } => {
            opt(
                s.set_double(ps, kOfxParamPropDefault, 0, *default),
                kOfxParamPropDefault,
            )?;
            for prop in [kOfxParamPropMin, kOfxParamPropDisplayMin] {
                opt(s.set_double(ps, prop, 0, *min), prop)?;
            }
            for prop in [kOfxParamPropMax, kOfxParamPropDisplayMax] {
                opt(s.set_double(ps, prop, 0, *max), prop)?;
            }
        }
        ParamKind::Int { min, max, default } => {
            opt(
                s.set_int(ps, kOfxParamPropDefault, 0, clamp_i(*default)),
                kOfxParamPropDefault,
            )?;
            for prop in [kOfxParamPropMin, kOfxParamPropDisplayMin] {
                opt(s.set_int(ps, prop, 0, clamp_i(*min)), prop)?;
            }
            for prop in [kOfxParamPropMax, kOfxParamPropDisplayMax] {
                opt(s.set_int(ps, prop, 0, clamp_i(*max)), prop)?;
            }
        }
        ParamKind::Bool { default } => opt(
            s.set_int(ps, kOfxParamPropDefault, 0, *default as c_int),
            kOfxParamPropDefault,
        )?,
        ParamKind::Enum { choices, default } => {
            for (i, c) in choices.iter().enumerate() {
                opt(
                    s.set_str(ps, kOfxParamPropChoiceOption, i as c_int, c),
                    kOfxParamPropChoiceOption,
                )?;
            }
            let k = choices.iter().position(|c| c == default).unwrap_or(0);
            opt(
                s.set_int(ps, kOfxParamPropDefault, 0, k as c_int),
                kOfxParamPropDefault,
            )?;
        }
        ParamKind::Str { default } => {
            opt(
                s.set_str(ps, kOfxParamPropDefault, 0, default),
                kOfxParamPropDefault,
            )?;
            opt(
                s.set_cstr(ps, kOfxParamPropStringMode, 0, kOfxParamStringIsSingleLine),
                kOfxParamPropStringMode,
            )?;
        }
        ParamKind::Path { default } => {
            opt(
                s.set_str(ps, kOfxParamPropDefault, 0, default),
                kOfxParamPropDefault,
            )?;
            opt(
                s.set_cstr(ps, kOfxParamPropStringMode, 0, kOfxParamStringIsFilePath),
                kOfxParamPropStringMode,
            )?;
            // Also output files and folders (training): the node checks existence itself.
            opt(
                s.set_int(ps, kOfxParamPropStringFilePathExists, 0, 0),
                kOfxParamPropStringFilePathExists,
            )?;
        }
        ParamKind::Color { default } => {
            for (i, v) in default.iter().enumerate() {
                opt(
                    s.set_double(ps, kOfxParamPropDefault, i as c_int, *v),
                    kOfxParamPropDefault,
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{PortDesc, ThreadSafety};

    /// A filter with an optional input read one frame back (a temporal node's "previous
    /// output" input, say).
    fn temporal_filter() -> NodeDesc {
        NodeDesc {
            id: "test.temporal",
            label: "Temporal",
            category: "Test",
            help: "",
            inputs: vec![
                PortDesc::new("source", ""),
                PortDesc::new("previous", "").optional().at_offset(-1),
            ],
            outputs: vec![PortDesc::new("output", "")],
            params: vec![],
            thread_safety: ThreadSafety::FullySafe,
            source: false,
            long_running: false,
            cancellable: false,
        }
    }

    #[test]
    fn optional_inputs_keep_their_frame_offset() {
        let d = temporal_filter();
        assert_eq!(contexts(&d, true), [Context::Filter]);
        let l = layout(&d, Context::Filter);
        let prev = l.clips.iter().find(|c| c.name == "Previous").unwrap();
        assert_eq!(prev.ports, [(1, -1)], "the optional input's offset");
        assert!(prev.optional);
        let src = l.clips.iter().find(|c| c.name == "Source").unwrap();
        assert_eq!(src.ports, [(0, 0)]);
        assert!(l.temporal(), "GetFramesNeeded asks for the previous frame");
    }

    /// Past-frame inputs are read from their input's clip, not clips of their own.
    #[test]
    fn past_frames_join_their_inputs_clip() {
        let d = crate::nodes::debug::describe_history();
        assert_eq!(contexts(&d, true), [Context::Filter]);
        let l = layout(&d, Context::Filter);
        assert_eq!(l.clips.len(), 1, "{:?}", l.clips);
        assert_eq!(l.clips[0].name, "Source");
        assert_eq!(l.clips[0].ports, [(0, 0), (1, -1), (2, -2)]);
        assert!(l.temporal(), "GetFramesNeeded asks for the past frames");
    }

    #[test]
    fn the_retime_context_needs_temporal_clip_access() {
        let d = crate::nodes::REGISTRY
            .iter()
            .find(|e| e.desc.id == "wick.interpolate")
            .unwrap();
        assert_eq!(
            contexts(&d.desc, true),
            [Context::Transition, Context::General]
        );
        assert_eq!(contexts(&d.desc, false), [Context::Transition]);
        let g = layout(&d.desc, Context::General);
        assert_eq!(g.clips[0].ports, [(0, 0), (1, 1)]);
    }
}
