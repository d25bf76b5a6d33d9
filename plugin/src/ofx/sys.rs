//! The subset of the OpenFX C ABI (1.4, plus the 1.5 colour management of `ofxColour.h`) that
//! Wick uses, declared by hand from the official headers of AcademySoftwareFoundation/openfx
//! (`include/ofx*.h`) at commit [`OPENFX_COMMIT`]. Each item names the header that defines it.
//!
//! Every string and number constant is declared through [`spec_consts!`], which also lists it in
//! [`STRING_CONSTS`] / [`INT_CONSTS`]; the unit test `ofx::spec_check` compares each one, and the
//! member order of every suite struct ([`SUITE_MEMBERS`]), with a table extracted from the headers
//! by `scripts/ofx-spec.py` (`ofx/spec.rs`). The Rust name is always the header's macro name,
//! also where the value differs from it (`kOfxImageEffectPropSupportsMultipleClipDepths` is
//! `"OfxImageEffectPropMultipleClipDepths"`).
//!
//! Only what the adapter touches is declared; the layouts of the suite structs are complete up
//! to the last member used, since the host owns them and Wick only reads through them. Suite
//! members are `Option`s: a host may leave a function NULL, and Load checks the ones Wick calls.

#![allow(non_upper_case_globals, non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

/// The AcademySoftwareFoundation/openfx commit these declarations were checked against
/// (2026-07-22, "Use aswf ci-openfx images for Linux CI ...").
pub const OPENFX_COMMIT: &str = "3de640d6f645fe6e346acd57e568d8b0a5ae4574";

/// Declares string (`&CStr`, `&str`) and number constants and lists each with its Rust name in
/// `STRING_CONSTS` / `INT_CONSTS`, for the spec check.
macro_rules! spec_consts {
    (
        strings { $($(#[$sm:meta])* $s:ident = $sv:literal;)* }
        names { $($(#[$nm:meta])* $n:ident = $nv:literal;)* }
        ints { $($(#[$im:meta])* $i:ident = $iv:literal;)* }
    ) => {
        $($(#[$sm])* pub const $s: &CStr = $sv;)*
        $($(#[$nm])* pub const $n: &str = $nv;)*
        $($(#[$im])* pub const $i: c_int = $iv;)*
        /// Every string constant above: (Rust name = header macro, value).
        pub static STRING_CONSTS: &[(&str, &str)] = &[
            $((stringify!($s), match $sv.to_str() { Ok(s) => s, Err(_) => "" }),)*
            $((stringify!($n), $nv),)*
        ];
        /// Every number constant above: (Rust name = header macro, value).
        pub static INT_CONSTS: &[(&str, c_int)] = &[$((stringify!($i), $iv),)*];
    };
}

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

// ----- ofxProperty.h: OfxPropertySuiteV1 ("Properties Suite") --------------------------------

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

/// ofxMessage.h `OfxMessageSuiteV1`: `message(handle, type, id, format, ...)` (printf-style).
#[repr(C)]
pub struct OfxMessageSuiteV1 {
    pub message: Option<unsafe extern "C" fn(*mut c_void, P, P, P, ...) -> OfxStatus>,
}

// ----- ofxProgress.h: OfxProgressSuiteV1 ------------------------------------------------------

/// ofxProgress.h `OfxProgressSuiteV1`; `progressUpdate` returns kOfxStatReplyNo to cancel.
#[repr(C)]
pub struct OfxProgressSuiteV1 {
    pub progress_start: Option<unsafe extern "C" fn(*mut c_void, P) -> OfxStatus>,
    pub progress_update: Option<unsafe extern "C" fn(*mut c_void, f64) -> OfxStatus>,
    pub progress_end: Option<unsafe extern "C" fn(*mut c_void) -> OfxStatus>,
}

/// The C member names of each suite struct above, in declaration order up to the last one Wick
/// declares, with the struct's size: the spec check compares them with the headers' structs.
pub static SUITE_MEMBERS: &[(&str, usize, &[&str])] = &[
    (
        "OfxPropertySuiteV1",
        std::mem::size_of::<OfxPropertySuiteV1>(),
        &[
            "propSetPointer",
            "propSetString",
            "propSetDouble",
            "propSetInt",
            "propSetPointerN",
            "propSetStringN",
            "propSetDoubleN",
            "propSetIntN",
            "propGetPointer",
            "propGetString",
            "propGetDouble",
            "propGetInt",
            "propGetPointerN",
            "propGetStringN",
            "propGetDoubleN",
            "propGetIntN",
            "propReset",
            "propGetDimension",
        ],
    ),
    (
        "OfxImageEffectSuiteV1",
        std::mem::size_of::<OfxImageEffectSuiteV1>(),
        &[
            "getPropertySet",
            "getParamSet",
            "clipDefine",
            "clipGetHandle",
            "clipGetPropertySet",
            "clipGetImage",
            "clipReleaseImage",
            "clipGetRegionOfDefinition",
            "abort",
        ],
    ),
    (
        "OfxParameterSuiteV1",
        std::mem::size_of::<OfxParameterSuiteV1>(),
        &[
            "paramDefine",
            "paramGetHandle",
            "paramSetGetPropertySet",
            "paramGetPropertySet",
            "paramGetValue",
            "paramGetValueAtTime",
        ],
    ),
    (
        "OfxMessageSuiteV1",
        std::mem::size_of::<OfxMessageSuiteV1>(),
        &["message"],
    ),
    (
        "OfxProgressSuiteV1",
        std::mem::size_of::<OfxProgressSuiteV1>(),
        &["progressStart", "progressUpdate", "progressEnd"],
    ),
];

spec_consts! {
    strings {
        // ----- suites (each header's suite name) ------------------------------------------
        /// ofxProperty.h
        kOfxPropertySuite = c"OfxPropertySuite";
        /// ofxImageEffect.h
        kOfxImageEffectSuite = c"OfxImageEffectSuite";
        /// ofxParam.h
        kOfxParameterSuite = c"OfxParameterSuite";
        /// ofxMessage.h
        kOfxMessageSuite = c"OfxMessageSuite";
        /// ofxProgress.h
        kOfxProgressSuite = c"OfxProgressSuite";

        // ----- ofxMessage.h: message types ------------------------------------------------
        kOfxMessageError = c"OfxMessageError";
        kOfxMessageWarning = c"OfxMessageWarning";
        kOfxMessageMessage = c"OfxMessageMessage";
        kOfxMessageLog = c"OfxMessageLog";

        // ----- ofxCore.h / ofxImageEffect.h / ofxColour.h: actions ------------------------
        kOfxImageEffectPluginApi = c"OfxImageEffectPluginAPI";
        kOfxActionLoad = c"OfxActionLoad";
        kOfxActionUnload = c"OfxActionUnload";
        kOfxActionDescribe = c"OfxActionDescribe";
        kOfxActionCreateInstance = c"OfxActionCreateInstance";
        kOfxActionDestroyInstance = c"OfxActionDestroyInstance";
        kOfxActionInstanceChanged = c"OfxActionInstanceChanged";
        kOfxActionPurgeCaches = c"OfxActionPurgeCaches";
        kOfxImageEffectActionDescribeInContext = c"OfxImageEffectActionDescribeInContext";
        kOfxImageEffectActionGetRegionOfDefinition = c"OfxImageEffectActionGetRegionOfDefinition";
        kOfxImageEffectActionGetFramesNeeded = c"OfxImageEffectActionGetFramesNeeded";
        kOfxImageEffectActionGetClipPreferences = c"OfxImageEffectActionGetClipPreferences";
        kOfxImageEffectActionRender = c"OfxImageEffectActionRender";
        kOfxImageEffectActionEndSequenceRender = c"OfxImageEffectActionEndSequenceRender";
        /// ofxColour.h (OFX 1.5)
        kOfxImageEffectActionGetOutputColourspace = c"OfxImageEffectActionGetOutputColourspace";

        // ----- ofxCore.h: general properties ----------------------------------------------
        kOfxPropName = c"OfxPropName";
        kOfxPropLabel = c"OfxPropLabel";
        kOfxPropType = c"OfxPropType";
        kOfxPropTime = c"OfxPropTime";
        kOfxPropInstanceData = c"OfxPropInstanceData";
        kOfxPropPluginDescription = c"OfxPropPluginDescription";
        kOfxPropVersionLabel = c"OfxPropVersionLabel";
        kOfxTypeParameter = c"OfxTypeParameter";

        // ----- ofxImageEffect.h: effect descriptor and host properties --------------------
        kOfxImageEffectPluginPropGrouping = c"OfxImageEffectPluginPropGrouping";
        kOfxImageEffectPropSupportedContexts = c"OfxImageEffectPropSupportedContexts";
        kOfxImageEffectPropSupportedPixelDepths = c"OfxImageEffectPropSupportedPixelDepths";
        kOfxImageEffectPropSupportedComponents = c"OfxImageEffectPropSupportedComponents";
        kOfxImageEffectPropSupportsTiles = c"OfxImageEffectPropSupportsTiles";
        kOfxImageEffectPropSupportsMultiResolution = c"OfxImageEffectPropSupportsMultiResolution";
        /// The header's historical quirk: the macro's value lacks "Supports".
        kOfxImageEffectPropSupportsMultipleClipDepths = c"OfxImageEffectPropMultipleClipDepths";
        kOfxImageEffectPropTemporalClipAccess = c"OfxImageEffectPropTemporalClipAccess";
        /// Set by a plugin: 2 = best rendered in frame order, correct in any order. Defined on
        /// the effect descriptor by the reference host library (HostSupport ofxhImageEffect.cpp)
        /// and read from it by Natron; on the instance by the programming reference.
        kOfxImageEffectInstancePropSequentialRender =
            c"OfxImageEffectInstancePropSequentialRender";
        /// The frame range a clip (instance) has images for.
        kOfxImageEffectPropFrameRange = c"OfxImageEffectPropFrameRange";
        kOfxImageEffectPropSupportsMultipleClipPARs = c"OfxImageEffectPropSupportsMultipleClipPARs";
        kOfxImageEffectPluginPropFieldRenderTwiceAlways =
            c"OfxImageEffectPluginPropFieldRenderTwiceAlways";
        kOfxImageEffectPluginRenderThreadSafety = c"OfxImageEffectPluginRenderThreadSafety";
        kOfxImageEffectPluginPropHostFrameThreading = c"OfxImageEffectPluginPropHostFrameThreading";
        kOfxImageEffectPluginPropSingleInstance = c"OfxImageEffectPluginPropSingleInstance";
        kOfxImageEffectRenderUnsafe = c"OfxImageEffectRenderUnsafe";
        kOfxImageEffectRenderInstanceSafe = c"OfxImageEffectRenderInstanceSafe";
        kOfxImageEffectPropClipPreferencesSlaveParam =
            c"OfxImageEffectPropClipPreferencesSlaveParam";

        // ----- ofxImageEffect.h: contexts -------------------------------------------------
        kOfxImageEffectPropContext = c"OfxImageEffectPropContext";
        kOfxImageEffectContextGenerator = c"OfxImageEffectContextGenerator";
        kOfxImageEffectContextFilter = c"OfxImageEffectContextFilter";
        kOfxImageEffectContextTransition = c"OfxImageEffectContextTransition";
        kOfxImageEffectContextGeneral = c"OfxImageEffectContextGeneral";

        // ----- ofxImageEffect.h: clip, instance and image properties ----------------------
        kOfxImageClipPropOptional = c"OfxImageClipPropOptional";
        kOfxImageClipPropConnected = c"OfxImageClipPropConnected";
        kOfxImageEffectPropPixelDepth = c"OfxImageEffectPropPixelDepth";
        kOfxImageEffectPropComponents = c"OfxImageEffectPropComponents";
        kOfxImageEffectPropPreMultiplication = c"OfxImageEffectPropPreMultiplication";
        kOfxImageEffectPropFrameRate = c"OfxImageEffectPropFrameRate";
        kOfxImageEffectPropProjectSize = c"OfxImageEffectPropProjectSize";
        kOfxImageEffectPropProjectOffset = c"OfxImageEffectPropProjectOffset";
        kOfxImageEffectPropRenderScale = c"OfxImageEffectPropRenderScale";
        kOfxImageEffectPropRegionOfDefinition = c"OfxImageEffectPropRegionOfDefinition";
        kOfxImageEffectFrameVarying = c"OfxImageEffectFrameVarying";
        kOfxImagePropData = c"OfxImagePropData";
        kOfxImagePropBounds = c"OfxImagePropBounds";
        kOfxImagePropRowBytes = c"OfxImagePropRowBytes";

        // ----- ofxImageEffect.h: property values ------------------------------------------
        kOfxBitDepthByte = c"OfxBitDepthByte";
        kOfxBitDepthShort = c"OfxBitDepthShort";
        kOfxBitDepthHalf = c"OfxBitDepthHalf";
        kOfxBitDepthFloat = c"OfxBitDepthFloat";
        kOfxImageComponentRGBA = c"OfxImageComponentRGBA";
        kOfxImageComponentRGB = c"OfxImageComponentRGB";
        kOfxImageOpaque = c"OfxImageOpaque";
        kOfxImagePreMultiplied = c"OfxImageAlphaPremultiplied";
        kOfxImageUnPreMultiplied = c"OfxImageAlphaUnPremultiplied";

        // ----- ofxParam.h: param types and properties -------------------------------------
        kOfxParamTypeInteger = c"OfxParamTypeInteger";
        kOfxParamTypeDouble = c"OfxParamTypeDouble";
        kOfxParamTypeBoolean = c"OfxParamTypeBoolean";
        kOfxParamTypeChoice = c"OfxParamTypeChoice";
        kOfxParamTypeRGBA = c"OfxParamTypeRGBA";
        kOfxParamTypeString = c"OfxParamTypeString";
        kOfxParamTypePushButton = c"OfxParamTypePushButton";
        kOfxParamPropDefault = c"OfxParamPropDefault";
        kOfxParamPropMin = c"OfxParamPropMin";
        kOfxParamPropMax = c"OfxParamPropMax";
        kOfxParamPropDisplayMin = c"OfxParamPropDisplayMin";
        kOfxParamPropDisplayMax = c"OfxParamPropDisplayMax";
        kOfxParamPropHint = c"OfxParamPropHint";
        kOfxParamPropScriptName = c"OfxParamPropScriptName";
        kOfxParamPropAnimates = c"OfxParamPropAnimates";
        kOfxParamPropChoiceOption = c"OfxParamPropChoiceOption";
        kOfxParamPropStringMode = c"OfxParamPropStringMode";
        kOfxParamPropStringFilePathExists = c"OfxParamPropStringFilePathExists";
        kOfxParamStringIsSingleLine = c"OfxParamStringIsSingleLine";
        kOfxParamStringIsFilePath = c"OfxParamStringIsFilePath";

        // ----- ofxColour.h (OFX 1.5 colour management) ------------------------------------
        kOfxImageEffectPropColourManagementStyle = c"OfxImageEffectPropColourManagementStyle";
        kOfxImageEffectColourManagementNone = c"OfxImageEffectColourManagementNone";
        kOfxImageEffectColourManagementBasic = c"OfxImageEffectColourManagementBasic";
        kOfxImageEffectColourManagementCore = c"OfxImageEffectColourManagementCore";
        kOfxImageEffectColourManagementFull = c"OfxImageEffectColourManagementFull";
        kOfxImageEffectColourManagementOCIO = c"OfxImageEffectColourManagementOCIO";
        kOfxImageEffectPropColourManagementAvailableConfigs =
            c"OfxImageEffectPropColourManagementAvailableConfigs";
        kOfxImageEffectPropColourManagementConfig = c"OfxImageEffectPropColourManagementConfig";
        kOfxImageClipPropColourspace = c"OfxImageClipPropColourspace";
        kOfxImageClipPropPreferredColourspaces = c"OfxImageClipPropPreferredColourspaces";
        /// ofx-native-v1.5_aces-v1.3_ocio-v2.3.h: the one native config.
        kOfxConfigIdentifier = c"ofx-native-v1.5_aces-v1.3_ocio-v2.3";
        /// The colourspaces Wick asks for or writes (same header).
        kOfxColourspaceOfxSceneLinear = c"ofx_scene_linear";
        kOfxColourspaceOfxDisplaySdr = c"ofx_display_sdr";
        kOfxColourspaceLinRec709Srgb = c"lin_rec709_srgb";
        kOfxColourspaceSrgbTx = c"srgb_tx";
    }
    names {
        /// ofxImageEffect.h: clip and param names of the standard contexts.
        kOfxImageEffectOutputClipName = "Output";
        kOfxImageEffectSimpleSourceClipName = "Source";
        kOfxImageEffectTransitionSourceFromClipName = "SourceFrom";
        kOfxImageEffectTransitionSourceToClipName = "SourceTo";
        kOfxImageEffectTransitionParamName = "Transition";
    }
    ints {
        kOfxStatOK = 0;
        kOfxStatFailed = 1;
        kOfxStatErrFatal = 2;
        kOfxStatErrUnknown = 3;
        kOfxStatErrMissingHostFeature = 4;
        kOfxStatErrUnsupported = 5;
        kOfxStatErrExists = 6;
        kOfxStatErrFormat = 7;
        kOfxStatErrMemory = 8;
        kOfxStatErrBadHandle = 9;
        kOfxStatErrBadIndex = 10;
        kOfxStatErrValue = 11;
        kOfxStatReplyYes = 12;
        kOfxStatReplyNo = 13;
        kOfxStatReplyDefault = 14;
        /// ofxImageEffect.h: `OfxPlugin::apiVersion` for "OfxImageEffectPluginAPI".
        kOfxImageEffectPluginApiVersion = 1;
    }
}

/// Names the headers build by appending a clip's name (ofxImageEffect.h's GetFramesNeeded and
/// GetClipPreferences out-args; ofxColour.h's cross-reference "OfxColourspace_<clip>"). Checked
/// against the prose of the headers by the spec check.
pub const FRAME_RANGE_PREFIX: &str = "OfxImageClipPropFrameRange_";
pub const CLIP_COMPONENTS_PREFIX: &str = "OfxImageClipPropComponents_";
pub const CLIP_PREFERRED_COLOURSPACES_PREFIX: &str = "OfxImageClipPropPreferredColourspaces_";
pub const COLOURSPACE_CLIP_PREFIX: &str = "OfxColourspace_";
pub static CLIP_PREFIXES: &[&str] = &[
    FRAME_RANGE_PREFIX,
    CLIP_COMPONENTS_PREFIX,
    CLIP_PREFERRED_COLOURSPACES_PREFIX,
    COLOURSPACE_CLIP_PREFIX,
];
