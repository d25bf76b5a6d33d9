//! Wick's Candle networks, the op layer, training and weights I/O.
//!
//! Networks are written the way candle-transformers writes them: a struct per block, built from
//! a `VarBuilder`, with a `forward`.

pub mod cppn;
pub mod device;
pub mod generator;
pub mod ops;
pub mod recent;
pub mod rife;
pub mod squeezenet;
pub mod style;
pub mod temporal;
pub mod testing;
pub mod train;
pub mod weights;

pub use device::select_device;
pub use weights::{load_safetensors, ModelError};
