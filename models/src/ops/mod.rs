//! The op layer: image ops Wick's networks need that Candle 0.11 lacks or gets wrong.
//!
//! Every function takes and returns NCHW Candle tensors; internal layouts stay private. On the
//! CPU (f32/f64) these run Wick's own kernels (custom ops with their own, correct, backward); on
//! CUDA/Metal and for other dtypes they use Candle's own ops. The signatures are the contract the
//! networks in this crate use.
//!
//! Every `unsafe` block here states its invariant in a `// SAFETY:` comment and every `unsafe
//! fn` its contract in a `# Safety` section; clippy enforces both for this module.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub(crate) mod buffers;
pub mod conv;
pub(crate) mod cpu;
mod direct;
pub mod norm;
pub mod pad;
pub mod pool;
pub mod upsample;
pub mod warp;

pub use conv::{conv2d, conv2d_padded, conv_transpose2d, Conv2dParams, ConvTranspose2dParams};
#[doc(hidden)]
pub use direct::{set_conv_kernel, ConvKernel};
pub use norm::{instance_norm, instance_norm_act, NormActivation};
pub use pad::{pad2d, reflect_pad2d, PadMode};
pub use pool::{max_pool2d, max_pool2d_ceil};
pub use upsample::{upsample_bilinear2d, upsample_nearest2d};
