//! Raw declarations of `include/wick.h` (ABI v1) for Rust hosts. The header is the source of
//! truth; these mirror it field for field.

use std::ffi::{c_char, c_void};

pub const WICK_ABI_VERSION_MAJOR: u32 = 1;
pub const WICK_ENTRY_SYMBOL: &[u8] = b"wick_entry\0";

pub const WICK_OK: i32 = 0;
pub const WICK_ERR_BAD_ARGUMENT: i32 = 1;
pub const WICK_ERR_UNSUPPORTED_FORMAT: i32 = 2;
pub const WICK_ERR_OUT_OF_MEMORY: i32 = 3;
pub const WICK_ERR_CANCELLED: i32 = 4;
pub const WICK_ERR_MODEL: i32 = 5;
pub const WICK_ERR_INTERNAL: i32 = 6;
pub const WICK_ERR_UNKNOWN_NODE: i32 = 7;
pub const WICK_ERR_UNKNOWN_PARAM: i32 = 8;
pub const WICK_ERR_INCOMPATIBLE_VERSION: i32 = 9;
pub const WICK_ERR_DEVICE: i32 = 10;

pub const WICK_SAMPLE_U8: i32 = 0;
pub const WICK_SAMPLE_U16: i32 = 1;
pub const WICK_SAMPLE_F16: i32 = 2;
pub const WICK_SAMPLE_F32: i32 = 3;
pub const WICK_CHANNELS_RGBA: i32 = 4;
pub const WICK_CHANNELS_RGB: i32 = 3;
pub const WICK_ALPHA_STRAIGHT: i32 = 0;
pub const WICK_ALPHA_PREMULTIPLIED: i32 = 1;
pub const WICK_COLOR_SRGB: i32 = 0;
pub const WICK_COLOR_LINEAR: i32 = 1;

pub const WICK_PARAM_FLOAT: i32 = 0;
pub const WICK_PARAM_INT: i32 = 1;
pub const WICK_PARAM_BOOL: i32 = 2;
pub const WICK_PARAM_ENUM: i32 = 3;
pub const WICK_PARAM_STRING: i32 = 4;
pub const WICK_PARAM_PATH: i32 = 5;
pub const WICK_PARAM_COLOR: i32 = 6;

pub const WICK_PARAM_FLAG_ANIMATABLE: u32 = 1;
pub const WICK_PARAM_FLAG_NEEDS_RELOAD: u32 = 2;

pub const WICK_NODE_FLAG_SOURCE: u32 = 1;
pub const WICK_NODE_FLAG_LONG_RUNNING: u32 = 2;
pub const WICK_NODE_FLAG_CANCELLABLE: u32 = 4;
pub const WICK_NODE_FLAG_TEMPORAL: u32 = 8;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wick_frame {
    pub data: *mut c_void,
    pub data_len: u64,
    pub width: u32,
    pub height: u32,
    pub row_stride: i64,
    pub sample_type: i32,
    pub channels: i32,
    pub alpha: i32,
    pub color_space: i32,
}

#[repr(C)]
pub struct wick_param_descriptor {
    pub name: *const c_char,
    pub label: *const c_char,
    pub help: *const c_char,
    pub type_: i32,
    pub default_number: f64,
    pub default_string: *const c_char,
    pub default_color: [f64; 4],
    pub min: f64,
    pub max: f64,
    pub choice_count: u32,
    pub choices: *const *const c_char,
    pub flags: u32,
}

#[repr(C)]
pub struct wick_port_descriptor {
    pub name: *const c_char,
    pub help: *const c_char,
    pub optional: u32,
    pub frame_offset: i32,
}

#[repr(C)]
pub struct wick_node_descriptor {
    pub id: *const c_char,
    pub label: *const c_char,
    pub category: *const c_char,
    pub help: *const c_char,
    pub input_count: u32,
    pub inputs: *const wick_port_descriptor,
    pub output_count: u32,
    pub outputs: *const wick_port_descriptor,
    pub param_count: u32,
    pub params: *const wick_param_descriptor,
    pub thread_safety: i32,
    pub flags: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wick_value {
    pub type_: i32,
    pub number: f64,
    pub integer: i64,
    pub string: *const c_char,
    pub color: [f64; 4],
}

pub type wick_progress_fn = Option<unsafe extern "C" fn(*mut c_void, f64, *const c_char) -> i32>;

#[repr(C)]
pub struct wick_process_args {
    pub time: f64,
    pub frame: i64,
    pub input_count: u32,
    pub inputs: *const wick_frame,
    pub output_count: u32,
    pub outputs: *const wick_frame,
    pub progress: wick_progress_fn,
    pub user_data: *mut c_void,
}

/// Opaque instance.
#[repr(C)]
pub struct wick_instance {
    _private: [u8; 0],
}

#[repr(C)]
pub struct wick_api {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub node_count: unsafe extern "C" fn() -> u32,
    pub node_descriptor: unsafe extern "C" fn(u32, *mut *const wick_node_descriptor) -> i32,
    pub instance_create: unsafe extern "C" fn(*const c_char, *mut *mut wick_instance) -> i32,
    pub instance_destroy: unsafe extern "C" fn(*mut wick_instance),
    pub param_set: unsafe extern "C" fn(*mut wick_instance, *const c_char, *const wick_value) -> i32,
    pub param_get: unsafe extern "C" fn(*mut wick_instance, *const c_char, *mut wick_value) -> i32,
    pub process: unsafe extern "C" fn(*mut wick_instance, *const wick_process_args) -> i32,
    pub instance_last_error: unsafe extern "C" fn(*const wick_instance) -> *const c_char,
    pub last_error: unsafe extern "C" fn() -> *const c_char,
}

#[repr(C)]
pub struct wick_plugin_entry {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub plugin_name: *const c_char,
    pub plugin_version: *const c_char,
    pub get_api: unsafe extern "C" fn(u32, *mut *const wick_api) -> i32,
    pub last_error: unsafe extern "C" fn() -> *const c_char,
}
