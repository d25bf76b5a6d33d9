//! The Wick plugin: one `Node` trait, one file per node, and thin host-ABI adapters over the
//! trait, all exported from the one `libwick.so`: the C ABI v1 in [`abi`] (`wick_entry`), and
//! OpenFX 1.4 in [`ofx`] (`OfxGetNumberOfPlugins` / `OfxGetPlugin`: every node as an image
//! effect; `scripts/build-ofx.sh` packages the library as `Wick.ofx.bundle`). The frei0r adapter
//! ([`frei0r`]) is built into one small library per node (`plugin/frei0r/*`, frei0r allows
//! one plugin per file). What all adapters share — instances, running a node, params from
//! hosts, past frames — is the adapter core in `adapter`, and nodes read and write host frames
//! through the views in [`frame`] (docs/architecture.md).

pub mod abi;
mod adapter;
pub mod frame;
pub mod frei0r;
pub mod image;
pub mod node;
pub mod nodes;
pub mod ofx;

pub use frame::{Frame, FrameMut, Out};
pub use image::Image;
pub use node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, Params, PortDesc, ProcessCtx, Value,
};
