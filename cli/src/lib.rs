//! The `wick` command line (`src/bin/wick.rs`) and its commands, on the host SDK
//! (`wick-host-sdk`): node graphs ([`graph`], `wick render`), [`retime`], contact sheets
//! ([`sheet`]), the training runner ([`train`]), the plugin conformance run ([`validate`]),
//! frei0r packaging ([`frei0r`]), farm submission ([`submit`]) and the exit codes ([`exit`]).
//! A host that only loads the plugin links `wick-host-sdk`, not this crate.

// The SDK items the command modules name as `crate::...` (they lived in the SDK crate until
// the split of issue #14 and kept their paths).
use wick_host_sdk::{
    ffi, io, Frame, HostError, Instance, NodeInfo, ParamRole, ParamType, ParamValue, Plugin, Sample,
};

pub mod exit;
pub mod frei0r;
pub mod graph;
pub mod render;
pub mod retime;
pub mod sheet;
pub mod stylize;
pub mod submit;
pub mod train;
pub mod validate;
pub mod video;
