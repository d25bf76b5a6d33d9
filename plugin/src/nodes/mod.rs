//! The nodes, and the registry that lists them. One file per node.

pub mod debug;
pub mod generate;
pub mod interpolate;
pub mod style_transfer;
pub mod train;

use once_cell::sync::Lazy;

use crate::node::{Node, NodeDesc};

/// A registered node: its descriptor and a constructor.
pub struct NodeEntry {
    pub desc: NodeDesc,
    pub create: fn() -> Box<dyn Node>,
}

/// Every node this build offers, in a stable order. Test-only nodes are listed when the
/// environment has `WICK_ENABLE_TEST_NODES=1` at first use.
pub static REGISTRY: Lazy<Vec<NodeEntry>> = Lazy::new(|| {
    let mut v = vec![
        NodeEntry {
            desc: generate::describe(),
            create: generate::Generate::create,
        },
        NodeEntry {
            desc: style_transfer::describe(),
            create: style_transfer::StyleTransfer::create,
        },
        NodeEntry {
            desc: interpolate::describe(),
            create: interpolate::Interpolate::create,
        },
        NodeEntry {
            desc: train::describe(),
            create: train::Train::create,
        },
    ];
    // The crate's own unit tests always see them (they drive the adapters in-process).
    if cfg!(test) || std::env::var("WICK_ENABLE_TEST_NODES").as_deref() == Ok("1") {
        v.push(NodeEntry {
            desc: debug::describe(),
            create: debug::Debug::create,
        });
        v.push(NodeEntry {
            desc: debug::describe_long(),
            create: debug::DebugLong::create,
        });
        v.push(NodeEntry {
            desc: debug::describe_history(),
            create: debug::DebugHistory::create,
        });
    }
    v
});

pub fn find(id: &str) -> Option<&'static NodeEntry> {
    REGISTRY.iter().find(|e| e.desc.id == id)
}
