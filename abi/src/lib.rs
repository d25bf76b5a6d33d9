//! The Wick plugin C ABI, version 1, declared once for Rust.
//!
//! `host-sdk/include/wick.h` is the contract; this crate mirrors it field for field and
//! constant for constant, and is used by both sides: the plugin (`wick-plugin`, which exports
//! `wick_entry`) and the Rust host SDK (`wick-host-sdk`, which loads it). `tests/header.rs`
//! compiles `wick.h` with the system C compiler and checks every struct's size and alignment,
//! every field's offset and size, every typedef and every `#define` against these declarations,
//! so the two cannot drift apart.
//!
//! Names are the header's (`wick_frame`, `WICK_OK`); the one field whose C name is a Rust
//! keyword, `type` in `wick_param_descriptor` and `wick_value`, is `type_`. Enumerations are
//! `int32_t` in C and `i32` here, so that the plugin can reject any value a host sends.
//! Everything in this crate is binary compatible with ABI v1 and must stay so: new things are
//! added at the end of a struct only with a minor version bump.

#![allow(non_camel_case_types)]
#![no_std]

use core::ffi::{c_char, c_void};

/// `WICK_ABI_VERSION_MAJOR`: the major version the host passes to `get_api`.
pub const WICK_ABI_VERSION_MAJOR: u32 = 1;
/// `WICK_ABI_VERSION_MINOR`.
pub const WICK_ABI_VERSION_MINOR: u32 = 2;
/// `WICK_ENTRY_SYMBOL`: the one exported symbol, NUL-terminated (as `dlsym`/libloading want).
pub const WICK_ENTRY_SYMBOL: &[u8] = b"wick_entry\0";

// ---------------------------------------------------------------------------------------------
// Status codes
// ---------------------------------------------------------------------------------------------

/// `wick_status`: what every function returns.
pub type wick_status = i32;
pub const WICK_OK: wick_status = 0;
/// Null pointer, bad size/stride/enum, bad param value.
pub const WICK_ERR_BAD_ARGUMENT: wick_status = 1;
/// Frame format/combination the node cannot handle.
pub const WICK_ERR_UNSUPPORTED_FORMAT: wick_status = 2;
/// An allocation failed or the request is too large.
pub const WICK_ERR_OUT_OF_MEMORY: wick_status = 3;
/// The progress callback asked to cancel.
pub const WICK_ERR_CANCELLED: wick_status = 4;
/// Model or weights missing, corrupt or incompatible.
pub const WICK_ERR_MODEL: wick_status = 5;
/// A bug in the plugin (e.g. a caught panic).
pub const WICK_ERR_INTERNAL: wick_status = 6;
/// No node with that id.
pub const WICK_ERR_UNKNOWN_NODE: wick_status = 7;
/// No param with that name on this node.
pub const WICK_ERR_UNKNOWN_PARAM: wick_status = 8;
/// The host's ABI major version is not supported.
pub const WICK_ERR_INCOMPATIBLE_VERSION: wick_status = 9;
/// Requested compute device not built in or not present.
pub const WICK_ERR_DEVICE: wick_status = 10;

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/// `wick_sample_type`.
pub type wick_sample_type = i32;
/// 0..255.
pub const WICK_SAMPLE_U8: wick_sample_type = 0;
/// 0..65535, native endian.
pub const WICK_SAMPLE_U16: wick_sample_type = 1;
/// IEEE half, native endian, nominal 0..1.
pub const WICK_SAMPLE_F16: wick_sample_type = 2;
/// IEEE float, nominal 0..1.
pub const WICK_SAMPLE_F32: wick_sample_type = 3;

/// `wick_channels`.
pub type wick_channels = i32;
/// Interleaved R, G, B, A.
pub const WICK_CHANNELS_RGBA: wick_channels = 4;
/// Interleaved R, G, B (opaque).
pub const WICK_CHANNELS_RGB: wick_channels = 3;

/// `wick_alpha`.
pub type wick_alpha = i32;
/// Colour not multiplied by alpha.
pub const WICK_ALPHA_STRAIGHT: wick_alpha = 0;
/// Colour multiplied by alpha (OpenFX/EXR convention).
pub const WICK_ALPHA_PREMULTIPLIED: wick_alpha = 1;

/// `wick_color_space`.
pub type wick_color_space = i32;
/// sRGB-encoded values (typical 8/16-bit images).
pub const WICK_COLOR_SRGB: wick_color_space = 0;
/// Linear-light Rec.709/sRGB primaries (typical float/EXR).
pub const WICK_COLOR_LINEAR: wick_color_space = 1;

/// `wick_frame`: an image owned by the host. Row r starts at `data + r * row_stride`; see the
/// header for what the plugin checks before touching memory.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wick_frame {
    pub data: *mut c_void,
    /// Bytes available at `data`.
    pub data_len: u64,
    /// Pixels, >= 1.
    pub width: u32,
    /// Pixels, >= 1.
    pub height: u32,
    /// Bytes from one row to the next, > 0.
    pub row_stride: i64,
    pub sample_type: wick_sample_type,
    pub channels: wick_channels,
    pub alpha: wick_alpha,
    pub color_space: wick_color_space,
}

// ---------------------------------------------------------------------------------------------
// Descriptors (plugin-owned, valid until the library is unloaded)
// ---------------------------------------------------------------------------------------------

/// `wick_param_type`.
pub type wick_param_type = i32;
/// double, in [min, max].
pub const WICK_PARAM_FLOAT: wick_param_type = 0;
/// int64, in [min, max].
pub const WICK_PARAM_INT: wick_param_type = 1;
/// int64 0 or 1.
pub const WICK_PARAM_BOOL: wick_param_type = 2;
/// String, one of `choices`.
pub const WICK_PARAM_ENUM: wick_param_type = 3;
/// Free UTF-8 string.
pub const WICK_PARAM_STRING: wick_param_type = 4;
/// UTF-8 file-system path (may be empty).
pub const WICK_PARAM_PATH: wick_param_type = 5;
/// Four doubles RGBA, sRGB-encoded, 0..1.
pub const WICK_PARAM_COLOR: wick_param_type = 6;

/// May change per frame (hosts may keyframe it).
pub const WICK_PARAM_FLAG_ANIMATABLE: u32 = 1;
/// Changing it reloads a model (expensive).
pub const WICK_PARAM_FLAG_NEEDS_RELOAD: u32 = 2;
/// Role (ABI 1.1): FLOAT 0..1, the position between two inputs.
pub const WICK_PARAM_FLAG_ROLE_TIME: u32 = 4;
/// Role (ABI 1.1): INT, a source node's output width in pixels.
pub const WICK_PARAM_FLAG_ROLE_OUTPUT_WIDTH: u32 = 8;
/// Role (ABI 1.1): INT, a source node's output height in pixels.
pub const WICK_PARAM_FLAG_ROLE_OUTPUT_HEIGHT: u32 = 16;
/// Role (ABI 1.2): FLOAT, INT or BOOL; while it is zero the node ignores its past-frame inputs
/// (`<input>@-k`), so hosts need not fetch them.
pub const WICK_PARAM_FLAG_ROLE_PAST_FRAMES: u32 = 32;

/// `wick_param_descriptor`.
#[repr(C)]
#[derive(Debug)]
pub struct wick_param_descriptor {
    /// Machine name, `[a-z0-9_]+`.
    pub name: *const c_char,
    pub label: *const c_char,
    pub help: *const c_char,
    /// C name `type`.
    pub type_: wick_param_type,
    /// FLOAT, INT, BOOL.
    pub default_number: f64,
    /// ENUM, STRING, PATH ("" otherwise, never NULL).
    pub default_string: *const c_char,
    /// COLOR.
    pub default_color: [f64; 4],
    /// FLOAT, INT: inclusive range.
    pub min: f64,
    pub max: f64,
    /// ENUM.
    pub choice_count: u32,
    /// ENUM: `choice_count` strings.
    pub choices: *const *const c_char,
    /// `WICK_PARAM_FLAG_*`.
    pub flags: u32,
}

/// `wick_port_descriptor`.
#[repr(C)]
#[derive(Debug)]
pub struct wick_port_descriptor {
    pub name: *const c_char,
    pub help: *const c_char,
    /// 1: the host may leave this input unconnected (frame data NULL).
    pub optional: u32,
    /// This input is wanted at the current frame + `frame_offset`; 0 = now.
    pub frame_offset: i32,
}

/// `wick_thread_safety`.
pub type wick_thread_safety = i32;
/// One instance at a time in the whole process.
pub const WICK_THREAD_UNSAFE: wick_thread_safety = 0;
/// Different instances may process concurrently.
pub const WICK_THREAD_INSTANCE_SAFE: wick_thread_safety = 1;
/// As INSTANCE_SAFE (same-instance calls are always serialised).
pub const WICK_THREAD_FULLY_SAFE: wick_thread_safety = 2;

/// No required inputs; output size from params.
pub const WICK_NODE_FLAG_SOURCE: u32 = 1;
/// Process may take minutes (e.g. training).
pub const WICK_NODE_FLAG_LONG_RUNNING: u32 = 2;
/// Honours cancel from the progress callback.
pub const WICK_NODE_FLAG_CANCELLABLE: u32 = 4;
/// Some input has a non-zero `frame_offset`.
pub const WICK_NODE_FLAG_TEMPORAL: u32 = 8;

/// `wick_node_descriptor`.
#[repr(C)]
#[derive(Debug)]
pub struct wick_node_descriptor {
    /// `"wick.generate"`, `"wick.style-transfer"`, ...
    pub id: *const c_char,
    pub label: *const c_char,
    /// E.g. `"Wick/Generate"`.
    pub category: *const c_char,
    pub help: *const c_char,
    pub input_count: u32,
    pub inputs: *const wick_port_descriptor,
    pub output_count: u32,
    pub outputs: *const wick_port_descriptor,
    pub param_count: u32,
    pub params: *const wick_param_descriptor,
    pub thread_safety: wick_thread_safety,
    /// `WICK_NODE_FLAG_*`.
    pub flags: u32,
}

// ---------------------------------------------------------------------------------------------
// Param values
// ---------------------------------------------------------------------------------------------

/// `wick_value`: a tagged value; `type_` selects the field (FLOAT: `number`; INT and BOOL:
/// `integer`; ENUM, STRING, PATH: `string`; COLOR: `color`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wick_value {
    /// C name `type`.
    pub type_: wick_param_type,
    pub number: f64,
    pub integer: i64,
    /// On get: plugin-owned, valid until the next call on the instance.
    pub string: *const c_char,
    pub color: [f64; 4],
}

// ---------------------------------------------------------------------------------------------
// Process
// ---------------------------------------------------------------------------------------------

/// `wick_progress_fn`: fraction in [0, 1] and a short message; non-zero asks to cancel. May be
/// NULL in `wick_process_args`.
pub type wick_progress_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, fraction: f64, message: *const c_char) -> i32,
>;

/// `wick_process_args`.
#[repr(C)]
#[derive(Debug)]
pub struct wick_process_args {
    /// Seconds.
    pub time: f64,
    /// Frame number.
    pub frame: i64,
    /// The node's input_count, or fewer when every input left out is optional (they are
    /// unconnected).
    pub input_count: u32,
    /// `input_count` frames; an unconnected optional input has `data == NULL`.
    pub inputs: *const wick_frame,
    /// Must equal the node's output_count.
    pub output_count: u32,
    /// `output_count` frames written by the plugin.
    pub outputs: *const wick_frame,
    pub progress: wick_progress_fn,
    /// Passed back to `progress`.
    pub user_data: *mut c_void,
}

// ---------------------------------------------------------------------------------------------
// The API table
// ---------------------------------------------------------------------------------------------

/// `wick_instance`: opaque. The plugin casts it to its own instance type.
#[repr(C)]
pub struct wick_instance {
    _private: [u8; 0],
}

/// `wick_api`: the function table `get_api` returns. See the header for each function's
/// threading contract and the lifetime of what it returns.
#[repr(C)]
#[derive(Debug)]
pub struct wick_api {
    /// `== WICK_ABI_VERSION_MAJOR`.
    pub abi_major: u32,
    pub abi_minor: u32,
    pub node_count: unsafe extern "C" fn() -> u32,
    pub node_descriptor:
        unsafe extern "C" fn(index: u32, out: *mut *const wick_node_descriptor) -> wick_status,
    pub instance_create:
        unsafe extern "C" fn(node_id: *const c_char, out: *mut *mut wick_instance) -> wick_status,
    pub instance_destroy: unsafe extern "C" fn(instance: *mut wick_instance),
    pub param_set: unsafe extern "C" fn(
        instance: *mut wick_instance,
        name: *const c_char,
        value: *const wick_value,
    ) -> wick_status,
    pub param_get: unsafe extern "C" fn(
        instance: *mut wick_instance,
        name: *const c_char,
        out: *mut wick_value,
    ) -> wick_status,
    pub process: unsafe extern "C" fn(
        instance: *mut wick_instance,
        args: *const wick_process_args,
    ) -> wick_status,
    pub instance_last_error: unsafe extern "C" fn(instance: *const wick_instance) -> *const c_char,
    pub last_error: unsafe extern "C" fn() -> *const c_char,
}

/// `wick_plugin_entry`: the type of the one exported symbol, `wick_entry`.
#[repr(C)]
#[derive(Debug)]
pub struct wick_plugin_entry {
    /// The plugin's ABI major version.
    pub abi_major: u32,
    pub abi_minor: u32,
    /// `"Wick"`.
    pub plugin_name: *const c_char,
    /// Semantic version of the plugin build.
    pub plugin_version: *const c_char,
    pub get_api:
        unsafe extern "C" fn(host_abi_major: u32, out: *mut *const wick_api) -> wick_status,
    pub last_error: unsafe extern "C" fn() -> *const c_char,
}

// SAFETY: the entry is a constant table exported as an immutable static: its pointers refer to
// static, immutable strings and its functions are callable from any thread ([any-thread] in
// the header). Nothing writes through it, so sharing it between threads is sound.
unsafe impl Sync for wick_plugin_entry {}
