//! The subset of the OpenFX 1.4 C ABI that Wick uses, declared by hand from the spec and the
//! headers of AcademySoftwareFoundation/openfx (`include/ofx*.h`). Each item names the header
//! (and, where the reference guide has one, its section) that defines it.
//!
//! Only what the adapter touches is declared; the layouts of the suite structs are complete up
//! to the last member used, since the host owns them and Wick only reads through them. Suite
//! members are `Option`s: a host may leave a function NULL, and Load checks the ones Wick calls.

#![allow(non_upper_case_globals, non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

// ----- ofxCore.h: basic types ("Structure of the API", "Status codes") -----------------------

/// ofxCore.h `OfxStatus`.
pub type OfxStatus = c_int;
/// ofxCore.h `OfxTime` (frames, as a double).
pub type OfxTime = f64;
/// ofxCore.h `OfxPropertySetHandle` (opaque, host-owned).
pub type OfxPropertySetHandle = *mut c_void;
/// ofxImageEffect.h `OfxImageEffectHandle`, `OfxImageClipHandle`.
pub type OfxImageEffectHandle = *mut c_void;
pub type OfxImageClipHandle = *mut c_void;
/// ofxParam.h `OfxParamSetHandle`, `OfxParamHandle`.
pub type OfxParamSetHandle = *mut c_void;
pub type OfxParamHandle = *mut c_void;

/// ofxCore.h `OfxRectI`, `OfxRectD` (x1, y1 inclusive; x2, y2 exclusive; y up).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OfxRectI {
    pub x1: c_int,
    pub y1: c_int,
    pub x2: c_int,
    pub y2: c_int,
}

/// ofxCore.h `OfxHost`: the host's property set and its suite fetcher.
#[repr(C)]
pub struct OfxHost {
    pub host: OfxPropertySetHandle,
    pub fetch_suite:
        Option<unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int) -> *const c_void>,
}

/// ofxCore.h `OfxPluginEntryPoint`: `mainEntry(action, handle, inArgs, outArgs)`.
pub type OfxPluginEntryPoint = unsafe extern "C" fn(
    *const c_char,
    *const c_void,
    OfxPropertySetHandle,
    OfxPropertySetHandle,
) -> OfxStatus;

/// ofxCore.h `OfxPlugin` ("The OfxPlugin struct").
#[repr(C)]
pub struct OfxPlugin {
    pub plugin_api: *const c_char,
    pub api_version: c_int,
    pub plugin_identifier: *const c_char,
    pub plugin_version_major: c_uint,
    pub plugin_version_minor: c_uint,
    pub set_host: Option<unsafe extern "C" fn(*mut OfxHost)>,
    pub main_entry: Option<OfxPluginEntryPoint>,
}

// ofxCore.h "Status codes".
pub const kOfxStatOK: OfxStatus = 0;
pub const kOfxStatFailed: OfxStatus = 1;
pub const kOfxStatErrFatal: OfxStatus = 2;
pub const kOfxStatErrUnknown: OfxStatus = 3;
pub const kOfxStatErrMissingHostFeature: OfxStatus = 4;
pub const kOfxStatErrUnsupported: OfxStatus = 5;
pub const kOfxStatErrExists: OfxStatus = 6;
pub const kOfxStatErrFormat: OfxStatus = 7;
pub const kOfxStatErrMemory: OfxStatus = 8;
pub const kOfxStatErrBadHandle: OfxStatus = 9;
pub const kOfxStatErrBadIndex: OfxStatus = 10;
pub const kOfxStatErrValue: OfxStatus = 11;
pub const kOfxStatReplyYes: OfxStatus = 12;
pub const kOfxStatReplyNo: OfxStatus = 13;
pub const kOfxStatReplyDefault: OfxStatus = 14;

// ----- ofxProperty.h: OfxPropertySuiteV1 ("Properties Suite") --------------------------------

pub const kOfxPropertySuite: &CStr = c"OfxPropertySuite";

type PS = OfxPropertySetHandle;
type P = *const c_char;

/// ofxProperty.h `OfxPropertySuiteV1`, in header order.
#[repr(C)]
pub struct OfxPropertySuiteV1 {
    pub prop_set_pointer: Option<unsafe extern "C" fn(PS, P, c_int, *mut c_void) -> OfxStatus>,
    pub prop_set_string: Option<unsafe extern "C" fn(PS, P, c_int, *const c_char) -> OfxStatus>,
    pub prop_set_double: Option<unsafe extern "C" fn(PS, P, c_int, f64) -> OfxStatus>,
    pub prop_set_int: Option<unsafe extern "C" fn(PS, P, c_int, c_int) -> OfxStatus>,
    pub prop_set_pointer_n:
        Option<unsafe extern "C" fn(PS, P, c_int, *const *mut c_void) -> OfxStatus>,
    pub prop_set_string_n:
        Option<unsafe extern "C" fn(PS, P, c_int, *const *const c_char) -> OfxStatus>,
    pub prop_set_double_n: Option<unsafe extern "C" fn(PS, P, c_int, *const f64) -> OfxStatus>,
    pub prop_set_int_n: Option<unsafe extern "C" fn(PS, P, c_int, *const c_int) -> OfxStatus>,
    pub prop_get_pointer: Option<unsafe extern "C" fn(PS, P, c_int, *mut *mut c_void) -> OfxStatus>,
    pub prop_get_string: Option<unsafe extern "C" fn(PS, P, c_int, *mut *mut c_char) -> OfxStatus>,
    pub prop_get_double: Option<unsafe extern "C" fn(PS, P, c_int, *mut f64) -> OfxStatus>,
    pub prop_get_int: Option<unsafe extern "C" fn(PS, P, c_int, *mut c_int) -> OfxStatus>,
    pub prop_get_pointer_n:
        Option<unsafe extern "C" fn(PS, P, c_int, *mut *mut c_void) -> OfxStatus>,
    pub prop_get_string_n:
        Option<unsafe extern "C" fn(PS, P, c_int, *mut *mut c_char) -> OfxStatus>,
    pub prop_get_double_n: Option<unsafe extern "C" fn(PS, P, c_int, *mut f64) -> OfxStatus>,
    pub prop_get_int_n: Option<unsafe extern "C" fn(PS, P, c_int, *mut c_int) -> OfxStatus>,
    pub prop_reset: Option<unsafe extern "C" fn(PS, P) -> OfxStatus>,
    pub prop_get_dimension: Option<unsafe extern "C" fn(PS, P, *mut c_int) -> OfxStatus>,
}

// ----- ofxImageEffect.h: OfxImageEffectSuiteV1 ("Image Effect Suite") ------------------------

pub const kOfxImageEffectSuite: &CStr = c"OfxImageEffectSuite";

/// ofxImageEffect.h `OfxImageEffectSuiteV1`, in header order.
#[repr(C)]
pub struct OfxImageEffectSuiteV1 {
    pub get_property_set: Option<unsafe extern "C" fn(OfxImageEffectHandle, *mut PS) -> OfxStatus>,
    pub get_param_set:
        Option<unsafe extern "C" fn(OfxImageEffectHandle, *mut OfxParamSetHandle) -> OfxStatus>,
    pub clip_define: Option<unsafe extern "C" fn(OfxImageEffectHandle, P, *mut PS) -> OfxStatus>,
    pub clip_get_handle: Option<
        unsafe extern "C" fn(
            OfxImageEffectHandle,
            P,
            *mut OfxImageClipHandle,
            *mut PS,
        ) -> OfxStatus,
    >,
    pub clip_get_property_set:
        Option<unsafe extern "C" fn(OfxImageClipHandle, *mut PS) -> OfxStatus>,
    /// `clipGetImage(clip, time, region (NULL: the whole RoD), &imageHandle)`.
    pub clip_get_image: Option<
        unsafe extern "C" fn(OfxImageClipHandle, OfxTime, *const c_void, *mut PS) -> OfxStatus,
    >,
    pub clip_release_image: Option<unsafe extern "C" fn(PS) -> OfxStatus>,
    pub clip_get_region_of_definition:
        Option<unsafe extern "C" fn(OfxImageClipHandle, OfxTime, *mut c_void) -> OfxStatus>,
    /// Non-zero when the host wants the current render abandoned.
    pub abort: Option<unsafe extern "C" fn(OfxImageEffectHandle) -> c_int>,
}

// ----- ofxParam.h: OfxParameterSuiteV1 ("Parameter Suite") -----------------------------------

pub const kOfxParameterSuite: &CStr = c"OfxParameterSuite";

/// ofxParam.h `OfxParameterSuiteV1`, in header order up to `paramGetValueAtTime`. The value
/// getters are C-variadic: one out-pointer per component of the param's type.
#[repr(C)]
pub struct OfxParameterSuiteV1 {
    pub param_define: Option<unsafe extern "C" fn(OfxParamSetHandle, P, P, *mut PS) -> OfxStatus>,
    pub param_get_handle: Option<
        unsafe extern "C" fn(OfxParamSetHandle, P, *mut OfxParamHandle, *mut PS) -> OfxStatus,
    >,
    pub param_set_get_property_set:
        Option<unsafe extern "C" fn(OfxParamSetHandle, *mut PS) -> OfxStatus>,
    pub param_get_property_set: Option<unsafe extern "C" fn(OfxParamHandle, *mut PS) -> OfxStatus>,
    pub param_get_value: Option<unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus>,
    pub param_get_value_at_time:
        Option<unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus>,
}

// ----- ofxMessage.h: OfxMessageSuiteV1 ("Message Suite") -------------------------------------

pub const kOfxMessageSuite: &CStr = c"OfxMessageSuite";
pub const kOfxMessageError: &CStr = c"OfxMessageError";
pub const kOfxMessageMessage: &CStr = c"OfxMessageMessage";

/// ofxMessage.h `OfxMessageSuiteV1`: `message(handle, type, id, format, ...)` (printf-style).
#[repr(C)]
pub struct OfxMessageSuiteV1 {
    pub message: Option<unsafe extern "C" fn(*mut c_void, P, P, P, ...) -> OfxStatus>,
}

// ----- ofxProgress.h: OfxProgressSuiteV1 ------------------------------------------------------

pub const kOfxProgressSuite: &CStr = c"OfxProgressSuite";

/// ofxProgress.h `OfxProgressSuiteV1`; `progressUpdate` returns kOfxStatReplyNo to cancel.
#[repr(C)]
pub struct OfxProgressSuiteV1 {
    pub progress_start: Option<unsafe extern "C" fn(*mut c_void, P) -> OfxStatus>,
    pub progress_update: Option<unsafe extern "C" fn(*mut c_void, f64) -> OfxStatus>,
    pub progress_end: Option<unsafe extern "C" fn(*mut c_void) -> OfxStatus>,
}

// ----- ofxCore.h / ofxImageEffect.h: actions ("Actions Passed to An Image Effect") -----------

pub const kOfxImageEffectPluginApi: &CStr = c"OfxImageEffectPluginAPI";
pub const kOfxImageEffectPluginApiVersion: c_int = 1;

pub const kOfxActionLoad: &CStr = c"OfxActionLoad";
pub const kOfxActionUnload: &CStr = c"OfxActionUnload";
pub const kOfxActionDescribe: &CStr = c"OfxActionDescribe";
pub const kOfxActionCreateInstance: &CStr = c"OfxActionCreateInstance";
pub const kOfxActionDestroyInstance: &CStr = c"OfxActionDestroyInstance";
pub const kOfxActionInstanceChanged: &CStr = c"OfxActionInstanceChanged";
pub const kOfxActionPurgeCaches: &CStr = c"OfxActionPurgeCaches";
pub const kOfxImageEffectActionDescribeInContext: &CStr = c"OfxImageEffectActionDescribeInContext";
pub const kOfxImageEffectActionGetRegionOfDefinition: &CStr =
    c"OfxImageEffectActionGetRegionOfDefinition";
pub const kOfxImageEffectActionGetFramesNeeded: &CStr = c"OfxImageEffectActionGetFramesNeeded";
pub const kOfxImageEffectActionGetClipPreferences: &CStr =
    c"OfxImageEffectActionGetClipPreferences";
pub const kOfxImageEffectActionRender: &CStr = c"OfxImageEffectActionRender";

// ----- ofxCore.h / ofxImageEffect.h: properties ("Properties by object") ----------------------

pub const kOfxPropName: &CStr = c"OfxPropName";
pub const kOfxPropLabel: &CStr = c"OfxPropLabel";
pub const kOfxPropType: &CStr = c"OfxPropType";
pub const kOfxPropTime: &CStr = c"OfxPropTime";
pub const kOfxPropInstanceData: &CStr = c"OfxPropInstanceData";
pub const kOfxPropPluginDescription: &CStr = c"OfxPropPluginDescription";
pub const kOfxTypeParameter: &CStr = c"OfxTypeParameter";

pub const kOfxImageEffectPluginPropGrouping: &CStr = c"OfxImageEffectPluginPropGrouping";
pub const kOfxImageEffectPropSupportedContexts: &CStr = c"OfxImageEffectPropSupportedContexts";
pub const kOfxImageEffectPropSupportedPixelDepths: &CStr =
    c"OfxImageEffectPropSupportedPixelDepths";
pub const kOfxImageEffectPropSupportedComponents: &CStr = c"OfxImageEffectPropSupportedComponents";
pub const kOfxImageEffectPropSupportsTiles: &CStr = c"OfxImageEffectPropSupportsTiles";
pub const kOfxImageEffectPropSupportsMultiResolution: &CStr =
    c"OfxImageEffectPropSupportsMultiResolution";
pub const kOfxImageEffectPropSupportsMultipleClipDepths: &CStr =
    c"OfxImageEffectPropSupportsMultipleClipDepths";
pub const kOfxImageEffectPropTemporalClipAccess: &CStr = c"OfxImageEffectPropTemporalClipAccess";
pub const kOfxImageEffectPropSupportsMultipleClipPARs: &CStr =
    c"OfxImageEffectPropSupportsMultipleClipPARs";
pub const kOfxImageEffectPluginPropFieldRenderTwiceAlways: &CStr =
    c"OfxImageEffectPluginPropFieldRenderTwiceAlways";
pub const kOfxImageEffectPluginRenderThreadSafety: &CStr =
    c"OfxImageEffectPluginRenderThreadSafety";
pub const kOfxImageEffectPluginPropHostFrameThreading: &CStr =
    c"OfxImageEffectPluginPropHostFrameThreading";
pub const kOfxImageEffectPluginPropSingleInstance: &CStr =
    c"OfxImageEffectPluginPropSingleInstance";
pub const kOfxImageEffectRenderUnsafe: &CStr = c"OfxImageEffectRenderUnsafe";
pub const kOfxImageEffectRenderInstanceSafe: &CStr = c"OfxImageEffectRenderInstanceSafe";

pub const kOfxImageEffectPropContext: &CStr = c"OfxImageEffectPropContext";
pub const kOfxImageEffectContextGenerator: &CStr = c"OfxImageEffectContextGenerator";
pub const kOfxImageEffectContextFilter: &CStr = c"OfxImageEffectContextFilter";
pub const kOfxImageEffectContextTransition: &CStr = c"OfxImageEffectContextTransition";
pub const kOfxImageEffectContextGeneral: &CStr = c"OfxImageEffectContextGeneral";

pub const kOfxImageEffectOutputClipName: &str = "Output";
pub const kOfxImageEffectSimpleSourceClipName: &str = "Source";
pub const kOfxImageEffectTransitionSourceFromClipName: &str = "SourceFrom";
pub const kOfxImageEffectTransitionSourceToClipName: &str = "SourceTo";
pub const kOfxImageEffectTransitionParamName: &str = "Transition";

pub const kOfxImageClipPropOptional: &CStr = c"OfxImageClipPropOptional";
pub const kOfxImageClipPropConnected: &CStr = c"OfxImageClipPropConnected";
pub const kOfxImageEffectPropPixelDepth: &CStr = c"OfxImageEffectPropPixelDepth";
pub const kOfxImageEffectPropComponents: &CStr = c"OfxImageEffectPropComponents";
pub const kOfxImageEffectPropPreMultiplication: &CStr = c"OfxImageEffectPropPreMultiplication";
pub const kOfxImageEffectPropFrameRate: &CStr = c"OfxImageEffectPropFrameRate";
pub const kOfxImageEffectPropProjectSize: &CStr = c"OfxImageEffectPropProjectSize";
pub const kOfxImageEffectPropRenderScale: &CStr = c"OfxImageEffectPropRenderScale";
pub const kOfxImageEffectPropRegionOfDefinition: &CStr = c"OfxImageEffectPropRegionOfDefinition";

pub const kOfxBitDepthByte: &CStr = c"OfxBitDepthByte";
pub const kOfxBitDepthShort: &CStr = c"OfxBitDepthShort";
pub const kOfxBitDepthHalf: &CStr = c"OfxBitDepthHalf";
pub const kOfxBitDepthFloat: &CStr = c"OfxBitDepthFloat";
pub const kOfxImageComponentRGBA: &CStr = c"OfxImageComponentRGBA";
pub const kOfxImageComponentRGB: &CStr = c"OfxImageComponentRGB";
pub const kOfxImageOpaque: &CStr = c"OfxImageOpaque";
pub const kOfxImagePreMultiplied: &CStr = c"OfxImageAlphaPremultiplied";
pub const kOfxImageUnPreMultiplied: &CStr = c"OfxImageAlphaUnPremultiplied";

/// ofxImageEffect.h "Image properties".
pub const kOfxImagePropData: &CStr = c"OfxImagePropData";
pub const kOfxImagePropBounds: &CStr = c"OfxImagePropBounds";
pub const kOfxImagePropRowBytes: &CStr = c"OfxImagePropRowBytes";

/// ofxImageEffect.h, kOfxImageEffectActionGetFramesNeeded / GetClipPreferences out-args: a
/// prefix followed by the clip's name.
pub const FRAME_RANGE_PREFIX: &str = "OfxImageClipPropFrameRange_";
pub const CLIP_COMPONENTS_PREFIX: &str = "OfxImageClipPropComponents_";

// ----- ofxParam.h: param types and properties ("Parameter Properties") -----------------------

pub const kOfxParamTypeInteger: &CStr = c"OfxParamTypeInteger";
pub const kOfxParamTypeDouble: &CStr = c"OfxParamTypeDouble";
pub const kOfxParamTypeBoolean: &CStr = c"OfxParamTypeBoolean";
pub const kOfxParamTypeChoice: &CStr = c"OfxParamTypeChoice";
pub const kOfxParamTypeRGBA: &CStr = c"OfxParamTypeRGBA";
pub const kOfxParamTypeString: &CStr = c"OfxParamTypeString";
pub const kOfxParamTypePushButton: &CStr = c"OfxParamTypePushButton";

pub const kOfxParamPropDefault: &CStr = c"OfxParamPropDefault";
pub const kOfxParamPropMin: &CStr = c"OfxParamPropMin";
pub const kOfxParamPropMax: &CStr = c"OfxParamPropMax";
pub const kOfxParamPropDisplayMin: &CStr = c"OfxParamPropDisplayMin";
pub const kOfxParamPropDisplayMax: &CStr = c"OfxParamPropDisplayMax";
pub const kOfxParamPropHint: &CStr = c"OfxParamPropHint";
pub const kOfxParamPropScriptName: &CStr = c"OfxParamPropScriptName";
pub const kOfxParamPropAnimates: &CStr = c"OfxParamPropAnimates";
pub const kOfxParamPropChoiceOption: &CStr = c"OfxParamPropChoiceOption";
pub const kOfxParamPropStringMode: &CStr = c"OfxParamPropStringMode";
pub const kOfxParamPropStringFilePathExists: &CStr = c"OfxParamPropStringFilePathExists";
pub const kOfxParamStringIsSingleLine: &CStr = c"OfxParamStringIsSingleLine";
pub const kOfxParamStringIsFilePath: &CStr = c"OfxParamStringIsFilePath";
