//! Raw declarations of `include/wick.h` (ABI v1) for Rust hosts: the `wick-abi` crate, which
//! declares them once for the plugin and the SDK and checks them against the header.

pub use wick_abi::*;
