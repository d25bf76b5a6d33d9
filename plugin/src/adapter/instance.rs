//! Instance lifecycle and the run of one call, shared by the adapters.

use std::marker::PhantomData;
use std::sync::Mutex;

use super::{run_node, LiveSet};
use crate::frame::{Frame, FrameMut};
use crate::node::{Node, NodeDesc, NodeError, Params, ProcessCtx, ProgressFn};
use crate::nodes::NodeEntry;

/// The instances of type `T` an adapter handed to its host, as raw pointers. A pointer this
/// table did not hand out, or one already destroyed, is refused instead of dereferenced.
pub struct Live<T> {
    set: LiveSet,
    _owns: PhantomData<fn() -> T>,
}

impl<T> Live<T> {
    pub const fn new() -> Self {
        Live {
            set: LiveSet::new(),
            _owns: PhantomData,
        }
    }

    /// Moves `value` to the heap and hands out its address.
    pub fn add(&self, value: T) -> Result<*mut T, NodeError> {
        let p = Box::into_raw(Box::new(value));
        if let Err(e) = self.set.insert(p as usize) {
            // SAFETY: just created by Box::into_raw and never handed out.
            drop(unsafe { Box::from_raw(p) });
            return Err(e);
        }
        Ok(p)
    }

    pub fn contains(&self, p: *const T) -> bool {
        self.set.contains(p as usize)
    }

    /// The instance behind `p`, when this table handed it out and it is not destroyed.
    ///
    /// The reference is valid until the host destroys the instance: hosts must not destroy an
    /// instance during another call on it (every host protocol says so).
    pub fn get(&self, p: *const T) -> Option<&'static T> {
        // SAFETY: live: created by `add` (a leaked Box) and not yet removed.
        self.contains(p).then(|| unsafe { &*p })
    }

    /// As [`get`](Self::get), exclusively: for protocols that serialise every call on one
    /// instance (the C ABI's contract).
    ///
    /// # Safety
    /// No other reference to this instance may be alive (the host serialises calls on it).
    pub unsafe fn get_mut(&self, p: *mut T) -> Option<&'static mut T> {
        self.contains(p).then(|| &mut *p)
    }

    /// Destroys the instance behind `p`; false (and nothing done) when `p` is not live.
    pub fn destroy(&self, p: *mut T) -> bool {
        let removed = self.set.remove(p as usize);
        if removed {
            // SAFETY: it was live (created by `add`) and is now removed: no call can reach it.
            drop(unsafe { Box::from_raw(p) });
        }
        removed
    }
}

impl<T> Default for Live<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// One node instance as every adapter holds it: the registry entry and the node, behind a lock
/// that serialises calls on one instance (hosts may call from several threads).
pub struct NodeInstance {
    pub entry: &'static NodeEntry,
    node: Mutex<Box<dyn Node>>,
}

/// What one process call needs besides the instance (`'c`: the call; `'o`: the output views).
pub struct Call<'c, 'o> {
    /// Seconds.
    pub time: f64,
    pub frame: i64,
    pub params: &'c Params,
    /// One entry per declared input; `None` for an unconnected optional input or a past frame
    /// the host cannot give.
    pub inputs: &'c [Option<Frame<'c>>],
    pub outputs: &'c mut [FrameMut<'o>],
    /// The host's progress callback; `true` back asks to cancel.
    pub progress: Option<ProgressFn<'c>>,
}

impl NodeInstance {
    pub fn new(entry: &'static NodeEntry) -> Self {
        NodeInstance {
            entry,
            node: Mutex::new((entry.create)()),
        }
    }

    pub fn desc(&self) -> &'static NodeDesc {
        &self.entry.desc
    }

    /// Fresh params at their defaults.
    pub fn default_params(&self) -> Params {
        Params::new(&self.entry.desc.params)
    }

    /// Runs the node on one call (see [`run_node`]).
    pub fn run(&self, call: Call) -> Result<(), NodeError> {
        if !call.time.is_finite() {
            return Err(NodeError::BadArgument(format!(
                "time {} is not finite",
                call.time
            )));
        }
        let mut ctx = ProcessCtx::new(call.time, call.frame, call.progress);
        let mut node = self.node.lock().unwrap_or_else(|e| e.into_inner());
        run_node(
            self.desc(),
            node.as_mut(),
            &mut ctx,
            call.params,
            call.inputs,
            call.outputs,
        )
    }
}
