//! The op layer: image ops Wick's networks need that Candle 0.11 lacks or gets wrong.
//!
//! Every function takes and returns NCHW Candle tensors; internal layouts stay private. On the
//! CPU these are the functions to make fast (custom ops with their own kernels); on CUDA/Metal
//! they use Candle's own ops. The signatures are the contract the networks in this crate use.

pub mod conv;
pub mod norm;
pub mod pad;
pub mod upsample;
pub mod warp;

pub use conv::{conv2d, conv_transpose2d, Conv2dParams, ConvTranspose2dParams};
pub use norm::instance_norm;
pub use pad::{pad2d, reflect_pad2d, PadMode};
pub use upsample::{upsample_bilinear2d, upsample_nearest2d};
