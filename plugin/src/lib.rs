//! The Wick plugin: one `Node` trait, one file per node, and thin host-ABI adapters over the
//! trait (the C ABI v1 in [`abi`]; frei0r and OpenFX adapters sit beside it).

pub mod abi;
mod adapter;
pub mod image;
pub mod node;
pub mod nodes;
pub mod ofx;

pub use image::Image;
pub use node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, Params, PortDesc, ProcessCtx, Value,
};
