//! A small OpenFX 1.4 host, written from the spec (ofxCore.h, ofxProperty.h, ofxImageEffect.h,
//! ofxParam.h, ofxMessage.h, ofxProgress.h) to test the Wick bundle: it loads `Wick.ofx` with
//! dlopen, provides the suites, and drives Load → Describe → DescribeInContext →
//! CreateInstance → Render / InstanceChanged → DestroyInstance.
//!
//! Its ABI declarations are its own (not the plugin's `ofx::sys`), so a layout mistake on
//! either side shows up as a failing test instead of agreeing with itself.
//!
//! The host is strict where the spec allows it to be: property types are fixed at first set,
//! unknown properties and clips are errors, and every image handed out must be released. Every
//! property the plugin sets on an object is checked against the properties the official
//! headers define for that object (`spec`, extracted from the headers by
//! `scripts/ofx-spec.py`); one that is not is logged (`Log::off_spec`).
//!
//! Two modes:
//! - full (the default): every suite, every param type, colour management when a test sets
//!   it up, images in every depth and layout a test asks for;
//! - minimal (`minimal()`), behaving like the reference host library (HostSupport) and its
//!   example host: property sets it does not define (1.5 colour properties, the ones the headers
//!   mark `host_optional`) answer kOfxStatErrUnknown; no message or progress suite; String
//!   params have no instance (no handle); Integer, Choice and RGBA gets answer
//!   kOfxStatErrMissingHostFeature; every Double get answers 2.0 whatever its range; the host
//!   names no pixel depths and supports neither multiple clip depths nor multi-resolution.
//!
//! The param suite's value getters are C-variadic. Rust cannot define variadic functions on
//! stable, so they are defined with four trailing pointer arguments: on x86-64 System V (and
//! AArch64 Linux), variadic pointer arguments travel in the same registers as fixed ones, so
//! the plugin's variadic call lands in them. The message suite's `message` likewise takes one
//! trailing pointer (the plugin always calls it with the format "%s").

#![allow(dead_code)]

/// The official headers' names and values (generated from them; see the file's header).
#[path = "../../plugin/src/ofx/spec.rs"]
#[rustfmt::skip]
pub mod spec;

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::{Mutex, MutexGuard, OnceLock};

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("the OFX test host's variadic shims assume x86-64 or AArch64 Linux");

// ---------------------------------------------------------------------------------------------
// Status codes (ofxCore.h)
// ---------------------------------------------------------------------------------------------

pub const OK: c_int = 0;
pub const FAILED: c_int = 1;
pub const ERR_UNKNOWN: c_int = 3;
pub const ERR_MISSING_HOST_FEATURE: c_int = 4;
pub const ERR_UNSUPPORTED: c_int = 5;
pub const ERR_EXISTS: c_int = 6;
pub const ERR_MEMORY: c_int = 8;
pub const ERR_BAD_HANDLE: c_int = 9;
pub const ERR_BAD_INDEX: c_int = 10;
pub const ERR_VALUE: c_int = 11;
pub const REPLY_NO: c_int = 13;
pub const REPLY_DEFAULT: c_int = 14;

// ---------------------------------------------------------------------------------------------
// Property sets
// ---------------------------------------------------------------------------------------------

/// A property's values; the type is fixed when the property is first set.
#[derive(Debug, Clone, PartialEq)]
pub enum PV {
    Ptr(Vec<usize>),
    Str(Vec<CString>),
    Dbl(Vec<f64>),
    Int(Vec<c_int>),
}

/// A property set: the handle the plugin sees is a pointer to one of these. `kind`: the object
/// it belongs to, for the spec check of what the plugin sets ("EffectDescriptor",
/// "ClipDescriptor", "EffectInstance", "ClipInstance", "Image", "Param:<type>",
/// "OutArgs:<action>"); None: not checked.
#[derive(Debug, Default, Clone)]
pub struct PropSet {
    pub map: HashMap<String, PV>,
    pub kind: Option<String>,
}

impl PropSet {
    pub fn handle(&mut self) -> *mut c_void {
        self as *mut PropSet as *mut c_void
    }
    pub fn of_kind(kind: &str) -> Self {
        Self {
            map: HashMap::new(),
            kind: Some(kind.into()),
        }
    }
    pub fn set_str(&mut self, k: &str, v: &[&str]) {
        self.map.insert(
            k.into(),
            PV::Str(v.iter().map(|s| CString::new(*s).unwrap()).collect()),
        );
    }
    pub fn set_int(&mut self, k: &str, v: &[c_int]) {
        self.map.insert(k.into(), PV::Int(v.to_vec()));
    }
    pub fn set_dbl(&mut self, k: &str, v: &[f64]) {
        self.map.insert(k.into(), PV::Dbl(v.to_vec()));
    }
    pub fn str(&self, k: &str) -> Option<String> {
        self.strs(k).and_then(|v| v.first().cloned())
    }
    pub fn strs(&self, k: &str) -> Option<Vec<String>> {
        match self.map.get(k)? {
            PV::Str(v) => Some(v.iter().map(|s| s.to_string_lossy().into()).collect()),
            _ => None,
        }
    }
    pub fn int(&self, k: &str) -> Option<c_int> {
        self.ints(k).and_then(|v| v.first().copied())
    }
    pub fn ints(&self, k: &str) -> Option<Vec<c_int>> {
        match self.map.get(k)? {
            PV::Int(v) => Some(v.clone()),
            _ => None,
        }
    }
    pub fn dbls(&self, k: &str) -> Option<Vec<f64>> {
        match self.map.get(k)? {
            PV::Dbl(v) => Some(v.clone()),
            _ => None,
        }
    }
    pub fn ptr(&self, k: &str) -> Option<usize> {
        match self.map.get(k)? {
            PV::Ptr(v) => v.first().copied(),
            _ => None,
        }
    }
}

/// # Safety: `ps` is null or a live PropSet; `name` null or NUL-terminated.
unsafe fn ps_name<'a>(
    ps: *mut c_void,
    name: *const c_char,
) -> Result<(&'a mut PropSet, String), c_int> {
    if ps.is_null() {
        note_error("property call on a NULL property set");
        return Err(ERR_BAD_HANDLE);
    }
    if name.is_null() {
        note_error("property call with a NULL name");
        return Err(ERR_UNKNOWN);
    }
    Ok((
        &mut *(ps as *mut PropSet),
        CStr::from_ptr(name).to_string_lossy().into_owned(),
    ))
}

fn propset(name: &str) -> Vec<(&'static str, bool)> {
    let mut v = spec::PROPSETS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, v, _)| v.to_vec())
        .unwrap_or_else(|| panic!("no @propset {name} in the headers"));
    if name == "EffectDescriptor" {
        // The headers' @propset lists it on the instance only, but the reference host library
        // defines it on the descriptor too (HostSupport ofxhImageEffect.cpp,
        // effectDescriptorStuff) and Natron reads it from there (OfxEffectInstance.cpp): a
        // plugin sets it on both. Host-optional: the minimal host refuses it.
        v.push(("OfxImageEffectInstancePropSequentialRender", true));
    }
    v
}

fn propsetdef(name: &str) -> Vec<&'static str> {
    spec::PROPSETDEFS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, v, _)| v.to_vec())
        .unwrap_or_else(|| panic!("no @propsetdef {name} in the headers"))
}

/// The properties the headers define on a param of type `ty`: the groups of ofxParam.h's
/// `@propsetdef`s each type has (as its "Properties by object" reference and HostSupport
/// assign them), plus the type's own `@propset`.
fn param_props(ty: &str) -> Vec<&'static str> {
    let group_page = ty == "OfxParamTypeGroup" || ty == "OfxParamTypePage";
    let mut v = propsetdef("ParamsCommon");
    if !group_page {
        v.extend(propsetdef("ParamsAllButGroupPage"));
    }
    if !group_page && ty != "OfxParamTypePushButton" {
        v.extend(propsetdef("ParamsValue"));
    }
    let double = matches!(
        ty,
        "OfxParamTypeDouble"
            | "OfxParamTypeDouble2D"
            | "OfxParamTypeDouble3D"
            | "OfxParamTypeRGB"
            | "OfxParamTypeRGBA"
    );
    let int = matches!(
        ty,
        "OfxParamTypeInteger" | "OfxParamTypeInteger2D" | "OfxParamTypeInteger3D"
    );
    if double || int {
        v.extend(propsetdef("ParamsNumeric"));
    }
    if double {
        v.extend(propsetdef("ParamsDouble"));
    }
    let own = match ty {
        "OfxParamTypeDouble" => Some("ParamDouble1D"),
        "OfxParamTypeString" => Some("ParamsString"),
        "OfxParamTypeChoice" => Some("ParamsChoice"),
        _ => None,
    };
    if let Some(own) = own {
        v.extend(propset(own).into_iter().map(|(p, _)| p));
    }
    v
}

/// Out-args named by appending a clip's name, per action (the headers' prose for each action).
fn clip_suffixed(action: &str) -> &'static [&'static str] {
    match action {
        "OfxImageEffectActionGetClipPreferences" => &[
            "OfxImageClipPropComponents_",
            "OfxImageClipPropDepth_",
            "OfxImageClipPropPreferredColourspaces_",
            "OfxImageClipPropPAR_",
        ],
        "OfxImageEffectActionGetFramesNeeded" => &["OfxImageClipPropFrameRange_"],
        "OfxImageEffectActionGetRegionsOfInterest" => &["OfxImageClipPropRoI_"],
        _ => &[],
    }
}

/// Whether the headers define `prop` on an object of `kind` (see `PropSet::kind`). `minimal`:
/// as a minimal OpenFX 1.4 host does, without the properties the headers mark
/// `host_optional` and the 1.5 colour management ones.
pub fn spec_allows(kind: &str, prop: &str, minimal: bool) -> bool {
    let colour_1_5 = prop.contains("Colourspace") || prop.contains("ColourManagement");
    if minimal && colour_1_5 {
        return false;
    }
    if let Some(ty) = kind.strip_prefix("Param:") {
        return param_props(ty).contains(&prop);
    }
    if let Some(action) = kind.strip_prefix("OutArgs:") {
        let (_, _, outs, _) = spec::ACTIONS
            .iter()
            .find(|(a, ..)| *a == action)
            .unwrap_or_else(|| panic!("no @actiondef {action}"));
        return outs.contains(&prop)
            || clip_suffixed(action)
                .iter()
                .any(|p| prop.starts_with(p) && prop.len() > p.len());
    }
    propset(kind)
        .iter()
        .any(|(p, host_optional)| *p == prop && !(minimal && *host_optional))
}

macro_rules! prop_setter {
    ($fname:ident, $t:ty, $variant:ident, $conv:expr) => {
        unsafe extern "C" fn $fname(
            ps: *mut c_void,
            name: *const c_char,
            i: c_int,
            v: $t,
        ) -> c_int {
            let (set, name) = match ps_name(ps, name) {
                Ok(x) => x,
                Err(e) => return e,
            };
            if i < 0 {
                return ERR_BAD_INDEX;
            }
            if let Some(kind) = &set.kind {
                if !spec_allows(kind, &name, false) {
                    log().off_spec.push(format!("{kind}: {name}"));
                }
                if log().minimal && !spec_allows(kind, &name, true) && !set.map.contains_key(&name)
                {
                    log().refused.push(format!("{kind}: {name}"));
                    return ERR_UNKNOWN;
                }
            }
            let entry = set
                .map
                .entry(name.clone())
                .or_insert(PV::$variant(Vec::new()));
            let PV::$variant(vals) = entry else {
                note_error(&format!("property {name} set with the wrong type"));
                return ERR_VALUE;
            };
            let i = i as usize;
            if vals.len() <= i {
                vals.resize(i + 1, Default::default());
            }
            #[allow(clippy::redundant_closure_call)]
            {
                vals[i] = ($conv)(v);
            }
            OK
        }
    };
}

macro_rules! prop_getter {
    ($fname:ident, $t:ty, $variant:ident, $conv:expr) => {
        unsafe extern "C" fn $fname(
            ps: *mut c_void,
            name: *const c_char,
            i: c_int,
            out: *mut $t,
        ) -> c_int {
            let (set, name) = match ps_name(ps, name) {
                Ok(x) => x,
                Err(e) => return e,
            };
            if out.is_null() {
                return ERR_BAD_HANDLE;
            }
            match set.map.get(&name) {
                None => ERR_UNKNOWN,
                Some(PV::$variant(vals)) => match vals.get(i.max(0) as usize) {
                    Some(v) if i >= 0 => {
                        #[allow(clippy::redundant_closure_call)]
                        {
                            *out = ($conv)(v);
                        }
                        OK
                    }
                    _ => ERR_BAD_INDEX,
                },
                Some(_) => {
                    note_error(&format!("property {name} read with the wrong type"));
                    ERR_VALUE
                }
            }
        }
    };
}

prop_setter!(set_pointer, *mut c_void, Ptr, |v: *mut c_void| v as usize);
prop_setter!(
    set_string,
    *const c_char,
    Str,
    |v: *const c_char| if v.is_null() {
        CString::default()
    } else {
        CStr::from_ptr(v).to_owned()
    }
);
prop_setter!(set_double, f64, Dbl, |v| v);
prop_setter!(set_int, c_int, Int, |v| v);
prop_getter!(get_pointer, *mut c_void, Ptr, |v: &usize| *v as *mut c_void);
prop_getter!(get_string, *const c_char, Str, |v: &CString| v.as_ptr());
prop_getter!(get_double, f64, Dbl, |v: &f64| *v);
prop_getter!(get_int, c_int, Int, |v: &c_int| *v);

unsafe extern "C" fn unsupported_n(
    _: *mut c_void,
    _: *const c_char,
    _: c_int,
    _: *mut c_void,
) -> c_int {
    ERR_UNSUPPORTED
}
unsafe extern "C" fn prop_reset(_: *mut c_void, _: *const c_char) -> c_int {
    ERR_UNSUPPORTED
}
unsafe extern "C" fn prop_dimension(
    ps: *mut c_void,
    name: *const c_char,
    out: *mut c_int,
) -> c_int {
    let (set, name) = match ps_name(ps, name) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let n = match set.map.get(&name) {
        None => return ERR_UNKNOWN,
        Some(PV::Ptr(v)) => v.len(),
        Some(PV::Str(v)) => v.len(),
        Some(PV::Dbl(v)) => v.len(),
        Some(PV::Int(v)) => v.len(),
    };
    if !out.is_null() {
        *out = n as c_int;
    }
    OK
}

type NFn = unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut c_void) -> c_int;

/// ofxProperty.h OfxPropertySuiteV1 (the N-ary accessors answer kOfxStatErrUnsupported: the
/// plugin must work through the indexed ones, which every host has).
#[repr(C)]
struct PropertySuite {
    set_pointer: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut c_void) -> c_int,
    set_string: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *const c_char) -> c_int,
    set_double: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, f64) -> c_int,
    set_int: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, c_int) -> c_int,
    set_n: [NFn; 4],
    get_pointer: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut *mut c_void) -> c_int,
    get_string:
        unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut *const c_char) -> c_int,
    get_double: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut f64) -> c_int,
    get_int: unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut c_int) -> c_int,
    get_n: [NFn; 4],
    reset: unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int,
    dimension: unsafe extern "C" fn(*mut c_void, *const c_char, *mut c_int) -> c_int,
}

static PROPERTY_SUITE: PropertySuite = PropertySuite {
    set_pointer,
    set_string,
    set_double,
    set_int,
    set_n: [unsupported_n; 4],
    get_pointer,
    get_string,
    get_double,
    get_int,
    get_n: [unsupported_n; 4],
    reset: prop_reset,
    dimension: prop_dimension,
};

// ---------------------------------------------------------------------------------------------
// Host log: what the plugin did (messages, progress, errors the host noticed, live images)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct Log {
    pub messages: Vec<(String, String)>,
    pub progress: Vec<String>,
    pub host_errors: Vec<String>,
    pub live_images: usize,
    pub images_fetched: usize,
    /// progressUpdate answers kOfxStatReplyNo from this update on (1-based).
    pub cancel_at_update: Option<usize>,
    pub updates: usize,
    /// abort() answers 1.
    pub abort: bool,
    /// Suites fetchSuite refuses.
    pub missing: Vec<String>,
    /// Parameter suite functions fetchSuite hands out as NULL ("paramGetHandle",
    /// "paramGetValue", "paramGetValueAtTime").
    pub param_holes: Vec<&'static str>,
    /// The minimal host mode (see the module comment).
    pub minimal: bool,
    /// Properties the plugin set that the headers do not define on that object.
    pub off_spec: Vec<String>,
    /// Property sets the minimal host refused (kOfxStatErrUnknown).
    pub refused: Vec<String>,
}

pub fn log() -> MutexGuard<'static, Log> {
    static L: OnceLock<Mutex<Log>> = OnceLock::new();
    L.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn note_error(s: &str) {
    log().host_errors.push(s.to_string());
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Depth {
    Byte,
    Short,
    Half,
    Float,
}

impl Depth {
    pub fn ofx(self) -> &'static str {
        match self {
            Depth::Byte => "OfxBitDepthByte",
            Depth::Short => "OfxBitDepthShort",
            Depth::Half => "OfxBitDepthHalf",
            Depth::Float => "OfxBitDepthFloat",
        }
    }
    pub fn size(self) -> usize {
        match self {
            Depth::Byte => 1,
            Depth::Short | Depth::Half => 2,
            Depth::Float => 4,
        }
    }
}

/// A host image: top-down, contiguous, samples as f32 in the image's own encoding (0-255 for
/// byte, 0-65535 for short, the value for half and float).
#[derive(Debug, Clone, PartialEq)]
pub struct HostImage {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub depth: Depth,
    pub premultiplied: bool,
    pub samples: Vec<f32>,
}

impl HostImage {
    pub fn new(
        width: usize,
        height: usize,
        channels: usize,
        depth: Depth,
        premultiplied: bool,
    ) -> Self {
        Self {
            width,
            height,
            channels,
            depth,
            premultiplied,
            samples: vec![0.0; width * height * channels],
        }
    }
    fn encode(&self, v: f32, out: &mut [u8]) {
        match self.depth {
            Depth::Byte => out[0] = v as u8,
            Depth::Short => out[..2].copy_from_slice(&(v as u16).to_ne_bytes()),
            Depth::Half => out[..2].copy_from_slice(&half::f16::from_f32(v).to_ne_bytes()),
            Depth::Float => out[..4].copy_from_slice(&v.to_ne_bytes()),
        }
    }
    fn decode(&self, b: &[u8]) -> f32 {
        match self.depth {
            Depth::Byte => b[0] as f32,
            Depth::Short => u16::from_ne_bytes([b[0], b[1]]) as f32,
            Depth::Half => half::f16::from_ne_bytes([b[0], b[1]]).to_f32(),
            Depth::Float => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
    fn row_len(&self) -> usize {
        self.width * self.channels * self.depth.size()
    }
}

/// How the host lays out the images it hands out (and the faults it injects).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Bytes of padding after each row.
    pub pad: usize,
    /// Top-down memory: negative kOfxImagePropRowBytes.
    pub negative_row_bytes: bool,
    /// Fault: a NULL kOfxImagePropData.
    pub null_data: bool,
    /// Fault: this kOfxImagePropRowBytes instead of the real one.
    pub row_bytes_override: Option<c_int>,
    /// Fault: this kOfxImageEffectPropPixelDepth string instead of the real one.
    pub depth_override: Option<String>,
}

/// An image handed to the plugin: its property set and its memory.
struct Lent {
    props: Box<PropSet>,
    mem: Vec<u8>,
    /// For output images: the clip to decode the pixels back into on release.
    output_of: Option<*mut Clip>,
    template: HostImage,
    stride: usize,
    negative: bool,
}

// SAFETY: the test host runs one test at a time; the clip pointer is only used on release.
unsafe impl Send for Lent {}

fn lent() -> MutexGuard<'static, HashMap<usize, Box<Lent>>> {
    static L: OnceLock<Mutex<HashMap<usize, Box<Lent>>>> = OnceLock::new();
    L.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn lend(
    img: &HostImage,
    x1: i32,
    y1: i32,
    layout: &Layout,
    output_of: Option<*mut Clip>,
) -> *mut c_void {
    let row = img.row_len();
    let stride = row + layout.pad;
    let mut mem = vec![0u8; stride * img.height];
    let ss = img.depth.size();
    // Memory row k holds the image row k from the bottom (positive row bytes) or from the top.
    let mem_row = |r: usize| {
        if layout.negative_row_bytes {
            r
        } else {
            img.height - 1 - r
        }
    };
    for r in 0..img.height {
        let base = mem_row(r) * stride;
        for i in 0..img.width * img.channels {
            let v = img.samples[r * img.width * img.channels + i];
            img.encode(v, &mut mem[base + i * ss..base + (i + 1) * ss]);
        }
    }
    let mut props = Box::new(PropSet::of_kind("Image"));
    // kOfxImagePropData points at the bottom-left pixel (bounds.x1, bounds.y1).
    let data = if layout.negative_row_bytes {
        mem.as_mut_ptr().wrapping_add((img.height - 1) * stride)
    } else {
        mem.as_mut_ptr()
    };
    let rb = if layout.negative_row_bytes {
        -(stride as c_int)
    } else {
        stride as c_int
    };
    props.map.insert(
        "OfxImagePropData".into(),
        PV::Ptr(vec![if layout.null_data { 0 } else { data as usize }]),
    );
    props.set_int(
        "OfxImagePropRowBytes",
        &[layout.row_bytes_override.unwrap_or(rb)],
    );
    props.set_int(
        "OfxImagePropBounds",
        &[x1, y1, x1 + img.width as i32, y1 + img.height as i32],
    );
    props.set_int(
        "OfxImagePropRegionOfDefinition",
        &[x1, y1, x1 + img.width as i32, y1 + img.height as i32],
    );
    let depth = layout
        .depth_override
        .clone()
        .unwrap_or_else(|| img.depth.ofx().to_string());
    props.set_str("OfxImageEffectPropPixelDepth", &[&depth]);
    props.set_str(
        "OfxImageEffectPropComponents",
        &[if img.channels == 4 {
            "OfxImageComponentRGBA"
        } else {
            "OfxImageComponentRGB"
        }],
    );
    props.set_str(
        "OfxImageEffectPropPreMultiplication",
        &[if img.premultiplied {
            "OfxImageAlphaPremultiplied"
        } else {
            "OfxImageAlphaUnPremultiplied"
        }],
    );
    props.set_dbl("OfxImagePropPixelAspectRatio", &[1.0]);
    let mut l = Box::new(Lent {
        props,
        mem,
        output_of,
        template: img.clone(),
        stride,
        negative: layout.negative_row_bytes,
    });
    let h = l.props.handle();
    lent().insert(h as usize, l);
    let mut g = log();
    g.live_images += 1;
    g.images_fetched += 1;
    h
}

fn unlend(h: *mut c_void) -> c_int {
    let Some(l) = lent().remove(&(h as usize)) else {
        note_error("clipReleaseImage on a handle that is not a live image");
        return ERR_BAD_HANDLE;
    };
    log().live_images -= 1;
    if let Some(clip) = l.output_of {
        let mut img = l.template.clone();
        let ss = img.depth.size();
        for r in 0..img.height {
            let k = if l.negative { r } else { img.height - 1 - r };
            for i in 0..img.width * img.channels {
                let o = k * l.stride + i * ss;
                img.samples[r * img.width * img.channels + i] = img.decode(&l.mem[o..o + ss]);
            }
        }
        // SAFETY: the clip outlives the render that fetched its image (the test owns both).
        unsafe { (*clip).rendered = Some(img) };
    }
    OK
}

// ---------------------------------------------------------------------------------------------
// Effects, clips, params
// ---------------------------------------------------------------------------------------------

pub struct Clip {
    pub props: Box<PropSet>,
    /// Input frames by frame number.
    pub frames: HashMap<i64, HostImage>,
    /// Output: the image format and size the host hands out (bounds origin x1, y1).
    pub output: Option<(HostImage, i32, i32)>,
    pub layout: Layout,
    /// The last output image the plugin released.
    pub rendered: Option<HostImage>,
}

#[derive(Debug, Clone)]
pub enum Val {
    D(Vec<f64>),
    I(c_int),
    S(CString),
}

pub struct Param {
    pub ty: String,
    pub props: Box<PropSet>,
    pub value: Option<Val>,
    pub last_time: f64,
}

pub struct ParamSet {
    pub props: Box<PropSet>,
    pub params: HashMap<String, Box<Param>>,
    pub order: Vec<String>,
}

pub struct Effect {
    pub props: Box<PropSet>,
    pub params: Box<ParamSet>,
    pub clips: HashMap<String, Box<Clip>>,
}

impl Effect {
    pub fn new(props: PropSet) -> Box<Effect> {
        Box::new(Effect {
            props: Box::new(props),
            params: Box::new(ParamSet {
                props: Box::default(),
                params: HashMap::new(),
                order: Vec::new(),
            }),
            clips: HashMap::new(),
        })
    }
    pub fn handle(&mut self) -> *mut c_void {
        self as *mut Effect as *mut c_void
    }
    pub fn clip(&mut self, name: &str) -> &mut Clip {
        self.clips
            .get_mut(name)
            .unwrap_or_else(|| panic!("no clip {name}"))
    }
    pub fn param(&mut self, name: &str) -> &mut Param {
        self.params
            .params
            .get_mut(name)
            .unwrap_or_else(|| panic!("no param {name}"))
    }
    pub fn set(&mut self, name: &str, v: Val) {
        self.param(name).value = Some(v);
    }
}

unsafe fn out<T>(p: *mut T, v: T) {
    if !p.is_null() {
        *p = v;
    }
}

/// Objects with a property set: `getPropertySet`, `clipGetPropertySet`,
/// `paramSetGetPropertySet` and `paramGetPropertySet` are one function over them.
trait HasProps {
    fn props(&mut self) -> &mut PropSet;
}
impl HasProps for Effect {
    fn props(&mut self) -> &mut PropSet {
        &mut self.props
    }
}
impl HasProps for Clip {
    fn props(&mut self) -> &mut PropSet {
        &mut self.props
    }
}
impl HasProps for ParamSet {
    fn props(&mut self) -> &mut PropSet {
        &mut self.props
    }
}
impl HasProps for Param {
    fn props(&mut self) -> &mut PropSet {
        &mut self.props
    }
}

unsafe extern "C" fn props_of<T: HasProps>(x: *mut c_void, ps: *mut *mut c_void) -> c_int {
    if x.is_null() || ps.is_null() {
        return ERR_BAD_HANDLE;
    }
    *ps = (*(x as *mut T)).props().handle();
    OK
}

unsafe extern "C" fn get_param_set(e: *mut c_void, ps: *mut *mut c_void) -> c_int {
    if e.is_null() || ps.is_null() {
        return ERR_BAD_HANDLE;
    }
    *ps = &mut *(*(e as *mut Effect)).params as *mut ParamSet as *mut c_void;
    OK
}
unsafe extern "C" fn clip_define(
    e: *mut c_void,
    name: *const c_char,
    ps: *mut *mut c_void,
) -> c_int {
    if e.is_null() || name.is_null() {
        return ERR_BAD_HANDLE;
    }
    let e = &mut *(e as *mut Effect);
    let name = CStr::from_ptr(name).to_string_lossy().into_owned();
    let mut props = PropSet::of_kind("ClipDescriptor");
    props.set_str("OfxPropName", &[&name]);
    let c = e.clips.entry(name).or_insert_with(|| {
        Box::new(Clip {
            props: Box::new(props),
            frames: HashMap::new(),
            output: None,
            layout: Layout::default(),
            rendered: None,
        })
    });
    out(ps, c.props.handle());
    OK
}
/// Looks `name` up in a clip or param table, writing its handle and property set.
unsafe fn lookup<T>(
    table: &mut HashMap<String, Box<T>>,
    name: *const c_char,
    handle: *mut *mut c_void,
    ps: *mut *mut c_void,
    props: fn(&mut T) -> *mut c_void,
    what: &str,
) -> c_int {
    if name.is_null() || handle.is_null() {
        return ERR_BAD_HANDLE;
    }
    let name = CStr::from_ptr(name).to_string_lossy();
    match table.get_mut(name.as_ref()) {
        Some(x) => {
            *handle = &mut **x as *mut T as *mut c_void;
            out(ps, props(x));
            OK
        }
        None => {
            // A minimal host lacks some params on purpose: the plugin must cope.
            if !(what == "paramGetHandle" && log().minimal) {
                note_error(&format!("{what} of unknown name {name}"));
            }
            ERR_UNKNOWN
        }
    }
}
unsafe extern "C" fn clip_get_handle(
    e: *mut c_void,
    name: *const c_char,
    clip: *mut *mut c_void,
    ps: *mut *mut c_void,
) -> c_int {
    if e.is_null() {
        return ERR_BAD_HANDLE;
    }
    let e = &mut *(e as *mut Effect);
    lookup(
        &mut e.clips,
        name,
        clip,
        ps,
        |c| c.props.handle(),
        "clipGetHandle",
    )
}
unsafe extern "C" fn clip_get_image(
    c: *mut c_void,
    time: f64,
    _region: *const c_void,
    img: *mut *mut c_void,
) -> c_int {
    if c.is_null() || img.is_null() {
        return ERR_BAD_HANDLE;
    }
    let clip = &mut *(c as *mut Clip);
    if let Some((tmpl, x1, y1)) = &clip.output {
        *img = lend(tmpl, *x1, *y1, &clip.layout, Some(c as *mut Clip));
        return OK;
    }
    if time.fract() != 0.0 {
        return FAILED;
    }
    match clip.frames.get(&(time as i64)) {
        Some(f) => {
            *img = lend(f, 0, 0, &clip.layout, None);
            OK
        }
        None => FAILED,
    }
}
unsafe extern "C" fn clip_release_image(img: *mut c_void) -> c_int {
    unlend(img)
}
unsafe extern "C" fn clip_get_rod(_c: *mut c_void, _t: f64, _r: *mut c_void) -> c_int {
    ERR_UNSUPPORTED
}
unsafe extern "C" fn abort(_e: *mut c_void) -> c_int {
    log().abort as c_int
}
unsafe extern "C" fn memory_unsupported(_: *mut c_void) -> c_int {
    ERR_UNSUPPORTED
}

/// ofxImageEffect.h OfxImageEffectSuiteV1 (image memory functions answer unsupported).
#[repr(C)]
struct ImageEffectSuite {
    get_property_set: unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> c_int,
    get_param_set: unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> c_int,
    clip_define: unsafe extern "C" fn(*mut c_void, *const c_char, *mut *mut c_void) -> c_int,
    clip_get_handle: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *mut *mut c_void,
        *mut *mut c_void,
    ) -> c_int,
    clip_get_property_set: unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> c_int,
    clip_get_image:
        unsafe extern "C" fn(*mut c_void, f64, *const c_void, *mut *mut c_void) -> c_int,
    clip_release_image: unsafe extern "C" fn(*mut c_void) -> c_int,
    clip_get_rod: unsafe extern "C" fn(*mut c_void, f64, *mut c_void) -> c_int,
    abort: unsafe extern "C" fn(*mut c_void) -> c_int,
    memory: [unsafe extern "C" fn(*mut c_void) -> c_int; 4],
}

static IMAGE_EFFECT_SUITE: ImageEffectSuite = ImageEffectSuite {
    get_property_set: props_of::<Effect>,
    get_param_set,
    clip_define,
    clip_get_handle,
    clip_get_property_set: props_of::<Clip>,
    clip_get_image,
    clip_release_image,
    clip_get_rod,
    abort,
    memory: [memory_unsupported; 4],
};

unsafe extern "C" fn param_define(
    pset: *mut c_void,
    ty: *const c_char,
    name: *const c_char,
    ps: *mut *mut c_void,
) -> c_int {
    if pset.is_null() || ty.is_null() || name.is_null() {
        return ERR_BAD_HANDLE;
    }
    let set = &mut *(pset as *mut ParamSet);
    let name = CStr::from_ptr(name).to_string_lossy().into_owned();
    if set.params.contains_key(&name) {
        note_error(&format!("param {name} defined twice"));
        return ERR_EXISTS;
    }
    let ty = CStr::from_ptr(ty).to_string_lossy().into_owned();
    let mut props = PropSet::of_kind(&format!("Param:{ty}"));
    props.set_str("OfxPropName", &[&name]);
    props.set_str("OfxParamPropType", &[&ty]);
    let mut p = Box::new(Param {
        ty,
        props: Box::new(props),
        value: None,
        last_time: f64::NAN,
    });
    out(ps, p.props.handle());
    set.order.push(name.clone());
    set.params.insert(name, p);
    OK
}
unsafe extern "C" fn param_get_handle(
    pset: *mut c_void,
    name: *const c_char,
    ph: *mut *mut c_void,
    ps: *mut *mut c_void,
) -> c_int {
    if pset.is_null() {
        return ERR_BAD_HANDLE;
    }
    let set = &mut *(pset as *mut ParamSet);
    lookup(
        &mut set.params,
        name,
        ph,
        ps,
        |p| p.props.handle(),
        "paramGetHandle",
    )
}

/// The current value: the one the test set, else the default the plugin declared.
fn value(p: &Param) -> Option<Val> {
    if let Some(v) = &p.value {
        return Some(v.clone());
    }
    match p.props.map.get("OfxParamPropDefault")? {
        PV::Dbl(v) => Some(Val::D(v.clone())),
        PV::Int(v) => v.first().map(|i| Val::I(*i)),
        PV::Str(v) => v.first().map(|s| Val::S(s.clone())),
        PV::Ptr(_) => None,
    }
}

/// Writes a param's value through the variadic out-pointers (one per component).
unsafe fn write_value(p: &mut Param, a: [*mut c_void; 4]) -> c_int {
    if log().minimal {
        // As HostSupport's example host: doubles are 2.0, booleans true, the rest missing.
        match p.ty.as_str() {
            "OfxParamTypeDouble" => *(a[0] as *mut f64) = 2.0,
            "OfxParamTypeBoolean" => *(a[0] as *mut c_int) = 1,
            _ => return ERR_MISSING_HOST_FEATURE,
        }
        return OK;
    }
    let Some(v) = value(p) else {
        note_error(&format!("param of type {} has no value", p.ty));
        return ERR_UNKNOWN;
    };
    match (p.ty.as_str(), v) {
        ("OfxParamTypeDouble", Val::D(d)) => {
            *(a[0] as *mut f64) = d[0];
        }
        ("OfxParamTypeInteger" | "OfxParamTypeBoolean" | "OfxParamTypeChoice", Val::I(i)) => {
            *(a[0] as *mut c_int) = i;
        }
        ("OfxParamTypeString", Val::S(s)) => {
            // Keep the string alive in the param until the next read.
            p.value = Some(Val::S(s));
            let Some(Val::S(s)) = &p.value else {
                unreachable!()
            };
            *(a[0] as *mut *const c_char) = s.as_ptr();
        }
        ("OfxParamTypeRGBA", Val::D(d)) if d.len() == 4 => {
            for k in 0..4 {
                *(a[k] as *mut f64) = d[k];
            }
        }
        (ty, v) => {
            note_error(&format!("param value {v:?} does not fit type {ty}"));
            return ERR_VALUE;
        }
    }
    OK
}

unsafe extern "C" fn param_get_value(
    ph: *mut c_void,
    a: *mut c_void,
    b: *mut c_void,
    c: *mut c_void,
    d: *mut c_void,
) -> c_int {
    if ph.is_null() || a.is_null() {
        return ERR_BAD_HANDLE;
    }
    write_value(&mut *(ph as *mut Param), [a, b, c, d])
}
unsafe extern "C" fn param_get_value_at_time(
    ph: *mut c_void,
    time: f64,
    a: *mut c_void,
    b: *mut c_void,
    c: *mut c_void,
    d: *mut c_void,
) -> c_int {
    if ph.is_null() || a.is_null() {
        return ERR_BAD_HANDLE;
    }
    let p = &mut *(ph as *mut Param);
    p.last_time = time;
    write_value(p, [a, b, c, d])
}

/// ofxParam.h OfxParameterSuiteV1 up to paramGetValueAtTime (all Wick reads); the getters are
/// variadic in C (see the module comment). Functions a test may hand out as NULL are `Option`s.
#[repr(C)]
#[derive(Clone, Copy)]
struct ParameterSuite {
    define:
        unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *mut *mut c_void) -> c_int,
    get_handle: Option<
        unsafe extern "C" fn(
            *mut c_void,
            *const c_char,
            *mut *mut c_void,
            *mut *mut c_void,
        ) -> c_int,
    >,
    set_props: unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> c_int,
    props: unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> c_int,
    get_value: Option<
        unsafe extern "C" fn(
            *mut c_void,
            *mut c_void,
            *mut c_void,
            *mut c_void,
            *mut c_void,
        ) -> c_int,
    >,
    get_value_at_time: Option<
        unsafe extern "C" fn(
            *mut c_void,
            f64,
            *mut c_void,
            *mut c_void,
            *mut c_void,
            *mut c_void,
        ) -> c_int,
    >,
}

static PARAMETER_SUITE: ParameterSuite = ParameterSuite {
    define: param_define,
    get_handle: Some(param_get_handle),
    set_props: props_of::<ParamSet>,
    props: props_of::<Param>,
    get_value: Some(param_get_value),
    get_value_at_time: Some(param_get_value_at_time),
};

/// The parameter suite with the functions named in `Log::param_holes` NULL (leaked: a few per
/// test run).
fn holed_parameter_suite(holes: &[&str]) -> *const c_void {
    let mut s = PARAMETER_SUITE;
    for h in holes {
        match *h {
            "paramGetHandle" => s.get_handle = None,
            "paramGetValue" => s.get_value = None,
            "paramGetValueAtTime" => s.get_value_at_time = None,
            other => panic!("no hole {other}"),
        }
    }
    Box::leak(Box::new(s)) as *const ParameterSuite as *const c_void
}

unsafe extern "C" fn message(
    _h: *mut c_void,
    kind: *const c_char,
    _id: *const c_char,
    format: *const c_char,
    arg: *const c_char,
) -> c_int {
    let s = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    let f = s(format);
    let text = if f == "%s" { s(arg) } else { f };
    log().messages.push((s(kind), text));
    OK
}

#[repr(C)]
struct MessageSuite {
    message: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *const c_char,
        *const c_char,
        *const c_char,
    ) -> c_int,
}
static MESSAGE_SUITE: MessageSuite = MessageSuite { message };

unsafe extern "C" fn progress_start(h: *mut c_void, label: *const c_char) -> c_int {
    if h.is_null() {
        return ERR_BAD_HANDLE;
    }
    let l = if label.is_null() {
        String::new()
    } else {
        CStr::from_ptr(label).to_string_lossy().into()
    };
    log().progress.push(format!("start {l}"));
    OK
}
unsafe extern "C" fn progress_update(h: *mut c_void, f: f64) -> c_int {
    if h.is_null() {
        return ERR_BAD_HANDLE;
    }
    let mut g = log();
    g.updates += 1;
    g.progress.push(format!("update {f:.2}"));
    match g.cancel_at_update {
        Some(n) if g.updates >= n => REPLY_NO,
        _ => OK,
    }
}
unsafe extern "C" fn progress_end(h: *mut c_void) -> c_int {
    if h.is_null() {
        return ERR_BAD_HANDLE;
    }
    log().progress.push("end".into());
    OK
}

#[repr(C)]
struct ProgressSuite {
    start: unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int,
    update: unsafe extern "C" fn(*mut c_void, f64) -> c_int,
    end: unsafe extern "C" fn(*mut c_void) -> c_int,
}
static PROGRESS_SUITE: ProgressSuite = ProgressSuite {
    start: progress_start,
    update: progress_update,
    end: progress_end,
};

unsafe extern "C" fn fetch_suite(
    _host: *mut c_void,
    name: *const c_char,
    version: c_int,
) -> *const c_void {
    if name.is_null() {
        return null();
    }
    let name = CStr::from_ptr(name).to_string_lossy().into_owned();
    let (missing, minimal, holes) = {
        let l = log();
        (l.missing.contains(&name), l.minimal, l.param_holes.clone())
    };
    if missing || (minimal && (name == "OfxMessageSuite" || name == "OfxProgressSuite")) {
        return null();
    }
    match (name.as_str(), version) {
        ("OfxPropertySuite", 1) => &PROPERTY_SUITE as *const _ as *const c_void,
        ("OfxImageEffectSuite", 1) => &IMAGE_EFFECT_SUITE as *const _ as *const c_void,
        ("OfxParameterSuite", 1) if !holes.is_empty() => holed_parameter_suite(&holes),
        ("OfxParameterSuite", 1) => &PARAMETER_SUITE as *const _ as *const c_void,
        ("OfxMessageSuite", 1) => &MESSAGE_SUITE as *const _ as *const c_void,
        ("OfxProgressSuite", 1) => &PROGRESS_SUITE as *const _ as *const c_void,
        _ => null(),
    }
}

// ---------------------------------------------------------------------------------------------
// The bundle and its plugins
// ---------------------------------------------------------------------------------------------

/// ofxCore.h OfxHost.
#[repr(C)]
struct RawHost {
    host: *mut c_void,
    fetch_suite: unsafe extern "C" fn(*mut c_void, *const c_char, c_int) -> *const c_void,
}

type MainEntry =
    unsafe extern "C" fn(*const c_char, *const c_void, *mut c_void, *mut c_void) -> c_int;

/// ofxCore.h OfxPlugin.
#[repr(C)]
pub struct RawPlugin {
    plugin_api: *const c_char,
    api_version: c_int,
    plugin_identifier: *const c_char,
    version_major: u32,
    version_minor: u32,
    set_host: Option<unsafe extern "C" fn(*mut RawHost)>,
    main_entry: Option<MainEntry>,
}

pub struct Bundle {
    lib: &'static libloading::Library,
    pub plugins: Vec<&'static RawPlugin>,
}

struct Shared(&'static Bundle);
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// Loads the bundle's binary once per test process (never unloaded: a Rust cdylib with
/// thread-locals must not be dlclosed under running threads). Test nodes are enabled.
pub fn bundle(binary: &std::path::Path) -> &'static Bundle {
    static B: OnceLock<Shared> = OnceLock::new();
    B.get_or_init(|| {
        std::env::set_var("WICK_ENABLE_TEST_NODES", "1");
        // SAFETY: loading the Wick library, whose initialisers are plain Rust statics.
        let lib = Box::leak(Box::new(
            unsafe { libloading::Library::new(binary) }.expect("dlopen Wick.ofx"),
        ));
        let plugins = unsafe {
            let count: libloading::Symbol<unsafe extern "C" fn() -> c_int> = lib
                .get(b"OfxGetNumberOfPlugins")
                .expect("OfxGetNumberOfPlugins");
            let get: libloading::Symbol<unsafe extern "C" fn(c_int) -> *const RawPlugin> =
                lib.get(b"OfxGetPlugin").expect("OfxGetPlugin");
            (0..count()).map(|i| &*get(i)).collect()
        };
        Shared(Box::leak(Box::new(Bundle { lib, plugins })))
    })
    .0
}

impl Bundle {
    pub fn raw_get_plugin(&self, n: c_int) -> *const RawPlugin {
        unsafe {
            let get: libloading::Symbol<unsafe extern "C" fn(c_int) -> *const RawPlugin> =
                self.lib.get(b"OfxGetPlugin").unwrap();
            get(n)
        }
    }
    /// The library's thread last-error (the C ABI's `wick_entry.last_error`).
    pub fn last_error(&self) -> String {
        #[repr(C)]
        struct Entry {
            major: u32,
            minor: u32,
            name: *const c_char,
            version: *const c_char,
            get_api: *const c_void,
            last_error: unsafe extern "C" fn() -> *const c_char,
        }
        unsafe {
            let e: libloading::Symbol<*const Entry> = self.lib.get(b"wick_entry").unwrap();
            let e = &**e;
            CStr::from_ptr((e.last_error)())
                .to_string_lossy()
                .into_owned()
        }
    }
    pub fn plugin(&'static self, id: &str) -> Plugin {
        let raw = self
            .plugins
            .iter()
            .find(|p| p.identifier() == id)
            .unwrap_or_else(|| panic!("no plugin {id}"));
        Plugin { raw }
    }
}

impl RawPlugin {
    pub fn identifier(&self) -> String {
        unsafe { CStr::from_ptr(self.plugin_identifier) }
            .to_string_lossy()
            .into()
    }
    pub fn api(&self) -> (String, c_int) {
        (
            unsafe { CStr::from_ptr(self.plugin_api) }
                .to_string_lossy()
                .into(),
            self.api_version,
        )
    }
}

pub struct Plugin {
    pub raw: &'static RawPlugin,
}

/// The host's property set in a mode: full (every depth, multiple clip depths,
/// multi-resolution) or minimal (as HostSupport's example host: no depths named, neither).
fn host_propset(minimal: bool) -> PropSet {
    let mut props = PropSet::default();
    props.set_int("OfxPropAPIVersion", &[1, 4]);
    props.set_str("OfxPropName", &["org.wick.testhost"]);
    props.set_str("OfxPropLabel", &["Wick OFX test host"]);
    props.set_int("OfxImageEffectHostPropIsBackground", &[1]);
    props.set_int("OfxImageEffectPropSupportsTiles", &[1]);
    props.set_int("OfxImageEffectPropTemporalClipAccess", &[1]);
    props.set_str(
        "OfxImageEffectPropSupportedComponents",
        &["OfxImageComponentRGBA", "OfxImageComponentAlpha"],
    );
    props.set_str(
        "OfxImageEffectPropSupportedContexts",
        &[
            "OfxImageEffectContextGenerator",
            "OfxImageEffectContextFilter",
            "OfxImageEffectContextGeneral",
            "OfxImageEffectContextTransition",
        ],
    );
    props.set_int("OfxImageEffectPropMultipleClipDepths", &[!minimal as c_int]);
    props.set_int(
        "OfxImageEffectPropSupportsMultiResolution",
        &[!minimal as c_int],
    );
    if !minimal {
        props.set_str(
            "OfxImageEffectPropSupportedPixelDepths",
            &[
                "OfxBitDepthByte",
                "OfxBitDepthShort",
                "OfxBitDepthHalf",
                "OfxBitDepthFloat",
            ],
        );
    }
    props
}

struct HostPtr(*mut RawHost, *mut PropSet);
unsafe impl Send for HostPtr {}
unsafe impl Sync for HostPtr {}

fn host_ptrs() -> &'static HostPtr {
    static H: OnceLock<HostPtr> = OnceLock::new();
    H.get_or_init(|| {
        let props = Box::leak(Box::new(host_propset(false)));
        let raw = Box::leak(Box::new(RawHost {
            host: props.handle(),
            fetch_suite,
        }));
        HostPtr(raw, props)
    })
}

fn host() -> *mut RawHost {
    host_ptrs().0
}

/// The host's property set, to change what the host says it can do before the next Load.
/// Tests take turns (one at a time), so the plugin never reads it while a test writes it.
pub fn host_props() -> &'static mut PropSet {
    // SAFETY: leaked, never freed; tests are serialised.
    unsafe { &mut *host_ptrs().1 }
}

/// Resets the host to a mode (the host's properties and `Log::minimal`).
pub fn reset_host(minimal: bool) {
    *host_props() = host_propset(minimal);
    log().minimal = minimal;
}

pub struct Args {
    pub in_args: PropSet,
    pub out_args: PropSet,
}

impl Plugin {
    /// Calls mainEntry with raw arguments.
    pub fn call(
        &self,
        action: &str,
        handle: *mut c_void,
        in_args: Option<&mut PropSet>,
        out_args: Option<&mut PropSet>,
    ) -> c_int {
        let a = CString::new(action).unwrap();
        let i = in_args.map(|p| p.handle()).unwrap_or(null_mut());
        let o = out_args.map(|p| p.handle()).unwrap_or(null_mut());
        unsafe { (self.raw.main_entry.unwrap())(a.as_ptr(), handle, i, o) }
    }
    pub fn call_raw(&self, action: *const c_char, handle: *mut c_void) -> c_int {
        unsafe { (self.raw.main_entry.unwrap())(action, handle, null_mut(), null_mut()) }
    }

    /// setHost + Load.
    pub fn load(&self) -> c_int {
        unsafe { (self.raw.set_host.unwrap())(host()) };
        self.call("OfxActionLoad", null_mut(), None, None)
    }
    pub fn unload(&self) -> c_int {
        self.call("OfxActionUnload", null_mut(), None, None)
    }

    pub fn describe(&self) -> Box<Effect> {
        let mut d = Effect::new(PropSet::of_kind("EffectDescriptor"));
        let st = self.call("OfxActionDescribe", d.handle(), None, None);
        assert_eq!(st, OK, "Describe");
        d
    }

    pub fn describe_in_context(&self, desc: &Effect, ctx: &str) -> (c_int, Box<Effect>) {
        let mut d = Effect::new((*desc.props).clone());
        let mut ia = PropSet::default();
        ia.set_str("OfxImageEffectPropContext", &[ctx]);
        let st = self.call(
            "OfxImageEffectActionDescribeInContext",
            d.handle(),
            Some(&mut ia),
            None,
        );
        (st, d)
    }

    /// An instance of a context descriptor: clips with the given pixel format, params at
    /// their defaults. `CreateInstance` is called.
    pub fn create_instance(&self, ctx_desc: &Effect, ctx: &str) -> Box<Effect> {
        let mut props = (*ctx_desc.props).clone();
        props.kind = Some("EffectInstance".into());
        props.set_str("OfxImageEffectPropContext", &[ctx]);
        props.set_dbl("OfxImageEffectPropFrameRate", &[24.0]);
        props.set_dbl("OfxImageEffectPropProjectSize", &[64.0, 48.0]);
        props.set_dbl("OfxImageEffectPropProjectOffset", &[0.0, 0.0]);
        props.set_int("OfxPropIsInteractive", &[0]);
        let minimal = log().minimal;
        let mut e = Effect::new(props);
        for (name, c) in &ctx_desc.clips {
            let mut p = (*c.props).clone();
            p.kind = Some("ClipInstance".into());
            p.set_int("OfxImageClipPropConnected", &[1]);
            e.clips.insert(
                name.clone(),
                Box::new(Clip {
                    props: Box::new(p),
                    frames: HashMap::new(),
                    output: None,
                    layout: Layout::default(),
                    rendered: None,
                }),
            );
        }
        for name in &ctx_desc.params.order {
            let p = &ctx_desc.params.params[name];
            // HostSupport's example host makes no instance of a String param.
            if minimal && p.ty == "OfxParamTypeString" {
                continue;
            }
            e.params.order.push(name.clone());
            e.params.params.insert(
                name.clone(),
                Box::new(Param {
                    ty: p.ty.clone(),
                    props: p.props.clone(),
                    value: None,
                    last_time: f64::NAN,
                }),
            );
        }
        let st = self.call("OfxActionCreateInstance", e.handle(), None, None);
        assert_eq!(st, OK, "CreateInstance");
        e
    }

    pub fn destroy_instance(&self, e: &mut Effect) -> c_int {
        self.call("OfxActionDestroyInstance", e.handle(), None, None)
    }

    pub fn render(&self, e: &mut Effect, time: f64, scale: f64) -> c_int {
        let (w, h) = e
            .clips
            .get("Output")
            .and_then(|c| c.output.as_ref())
            .map(|(i, _, _)| (i.width as i32, i.height as i32))
            .unwrap_or((0, 0));
        let mut ia = PropSet::default();
        ia.set_dbl("OfxPropTime", &[time]);
        ia.set_str("OfxImageEffectPropFieldToRender", &["OfxImageFieldNone"]);
        ia.set_int("OfxImageEffectPropRenderWindow", &[0, 0, w, h]);
        ia.set_dbl("OfxImageEffectPropRenderScale", &[scale, scale]);
        ia.set_int("OfxImageEffectPropSequentialRenderStatus", &[0]);
        ia.set_int("OfxImageEffectPropInteractiveRenderStatus", &[0]);
        self.call(
            "OfxImageEffectActionRender",
            e.handle(),
            Some(&mut ia),
            None,
        )
    }

    /// An action with kOfxPropTime (and render scale 1) in, returning its status and out-args.
    pub fn timed_action(&self, e: &mut Effect, action: &str, time: f64) -> (c_int, PropSet) {
        let mut ia = PropSet::default();
        ia.set_dbl("OfxPropTime", &[time]);
        ia.set_dbl("OfxImageEffectPropRenderScale", &[1.0, 1.0]);
        self.action_with(e, action, ia)
    }

    /// An action with the given in-args, returning its status and out-args (checked against
    /// the action's out-args in the headers).
    pub fn action_with(&self, e: &mut Effect, action: &str, mut ia: PropSet) -> (c_int, PropSet) {
        let mut oa = PropSet::of_kind(&format!("OutArgs:{action}"));
        let st = self.call(action, e.handle(), Some(&mut ia), Some(&mut oa));
        (st, oa)
    }

    pub fn push_button(&self, e: &mut Effect, name: &str, time: f64) -> c_int {
        let mut ia = PropSet::default();
        ia.set_str("OfxPropType", &["OfxTypeParameter"]);
        ia.set_str("OfxPropName", &[name]);
        ia.set_str("OfxPropChangeReason", &["OfxChangeUserEdited"]);
        ia.set_dbl("OfxPropTime", &[time]);
        ia.set_dbl("OfxImageEffectPropRenderScale", &[1.0, 1.0]);
        self.call("OfxActionInstanceChanged", e.handle(), Some(&mut ia), None)
    }
}
