//! The adapter core: everything the host adapters (C ABI `abi.rs`, OpenFX `ofx/`, frei0r
//! `frei0r/`) share, so that each adapter keeps only its host's protocol.
//!
//! | concern | here |
//! |---|---|
//! | panics never reach the host | [`contain`], [`quiet_panics`] |
//! | instance lifecycle: handing out pointers, refusing ones not handed out | [`Live`] |
//! | one node instance, its lock and the run of a call | [`NodeInstance`], [`Call`] |
//! | frames: borrowed views of host memory, in-place inputs, NaN/size checks | [`run_node`], [`detach_overlaps`] (views in `frame.rs`) |
//! | params read from a host: defaults for missing ones, clamping, roles | [`params`] |
//! | temporal inputs: which past frames a node wants, a cache for one-frame-per-call hosts | [`history`] |
//! | progress and cancel | `ProcessCtx` (node.rs): the adapter passes its host's callback |
//! | errors | `NodeError`; each adapter maps it to its host's statuses |

pub mod history;
mod instance;
pub mod params;

pub use instance::{Call, Live, NodeInstance};

use std::collections::HashSet;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use crate::frame::{Frame, FrameMut};
use crate::image::Image;
use crate::node::{Node, NodeDesc, NodeError, Params, ProcessCtx, ThreadSafety};

/// A C string from arbitrary text (interior NULs are escaped, never a failure).
pub fn to_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Installs (once) a panic hook that stays silent: panics are reported as statuses instead of
/// being printed into the host's stderr. This library has its own copy of std, so the hook
/// does not affect the host. `WICK_PRINT_PANICS=1` keeps the default hook for debugging.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("WICK_PRINT_PANICS").is_none() {
            std::panic::set_hook(Box::new(|_| {}));
        }
    });
}

/// Runs `f`, turning a panic into `NodeError::Internal`. Every exported function goes through
/// this (or a wrapper of it): no panic crosses into the host.
pub fn contain<T>(f: impl FnOnce() -> Result<T, NodeError>) -> Result<T, NodeError> {
    quiet_panics();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(NodeError::Internal(format!(
            "internal error (panic in Wick): {}",
            panic_message(p.as_ref())
        ))),
    }
}

/// Addresses of the instances an adapter handed out: a pointer it did not hand out (or already
/// destroyed) is refused instead of dereferenced. [`Live`] wraps it with ownership.
pub struct LiveSet(Mutex<Option<HashSet<usize>>>);

impl LiveSet {
    pub const fn new() -> Self {
        Self(Mutex::new(None))
    }
    pub fn insert(&self, p: usize) -> Result<(), NodeError> {
        let mut g = self
            .0
            .lock()
            .map_err(|_| NodeError::Internal("instance table poisoned".into()))?;
        g.get_or_insert_with(HashSet::new).insert(p);
        Ok(())
    }
    /// True when `p` was live (and is now removed).
    pub fn remove(&self, p: usize) -> bool {
        self.0
            .lock()
            .map(|mut g| g.as_mut().map(|s| s.remove(&p)).unwrap_or(false))
            .unwrap_or(false)
    }
    pub fn contains(&self, p: usize) -> bool {
        p != 0
            && self
                .0
                .lock()
                .map(|g| g.as_ref().map(|s| s.contains(&p)).unwrap_or(false))
                .unwrap_or(false)
    }
}

impl Default for LiveSet {
    fn default() -> Self {
        Self::new()
    }
}

/// Process-wide lock for nodes that declare `ThreadSafety::Unsafe`.
static UNSAFE_NODE_LOCK: Mutex<()> = Mutex::new(());

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Owned copies (working format) of the inputs whose memory overlaps an output's: hosts may
/// process in place (frei0r, the C ABI allow it), and a node must read its inputs whole even
/// after it started writing. `None` for the inputs that need no copy (the usual case).
pub fn detach_overlaps(
    inputs: &[Option<Frame>],
    outputs: &[FrameMut],
) -> Result<Vec<Option<Image>>, NodeError> {
    inputs
        .iter()
        .map(|f| match f {
            Some(f) if outputs.iter().any(|o| overlaps(f.span(), o.span())) => {
                f.to_image().map(Some)
            }
            _ => Ok(None),
        })
        .collect()
}

/// Runs a node on host frames, the part every adapter shares: checks every float input for
/// NaN/Inf and the first connected input against the output size (non-source nodes), copies
/// inputs that share memory with an output, then runs the node, serialised process-wide when
/// it declares itself thread-unsafe.
pub fn run_node(
    desc: &NodeDesc,
    node: &mut dyn Node,
    ctx: &mut ProcessCtx,
    params: &Params,
    inputs: &[Option<Frame>],
    outputs: &mut [FrameMut],
) -> Result<(), NodeError> {
    if inputs.len() != desc.inputs.len() || outputs.len() != desc.outputs.len() {
        return Err(NodeError::Internal(format!(
            "{}: adapter passed {} input(s) and {} output(s) for {} and {}",
            desc.id,
            inputs.len(),
            outputs.len(),
            desc.inputs.len(),
            desc.outputs.len()
        )));
    }
    for (k, f) in inputs.iter().enumerate() {
        if let Some(f) = f {
            f.check_finite(&format!("input '{}'", desc.inputs[k].name))?;
        }
    }
    if !desc.source {
        if let (Some(Some(first)), Some(o)) = (inputs.first(), outputs.first()) {
            if first.width() != o.width() || first.height() != o.height() {
                return Err(NodeError::BadArgument(format!(
                    "output size {}x{} must equal the input size {}x{}",
                    o.width(),
                    o.height(),
                    first.width(),
                    first.height()
                )));
            }
        }
    }
    let copies = detach_overlaps(inputs, outputs)?;
    let inputs: Vec<Option<Frame>> = inputs
        .iter()
        .zip(&copies)
        .map(|(f, c)| match c {
            Some(img) => Some(img.frame()),
            None => *f,
        })
        .collect();
    let _lock = if desc.thread_safety == ThreadSafety::Unsafe {
        Some(UNSAFE_NODE_LOCK.lock().unwrap_or_else(|e| e.into_inner()))
    } else {
        None
    };
    node.process(ctx, params, &inputs, outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::passes;
    use crate::image::{FrameFormat, SampleType};
    use crate::node::Value;
    use crate::nodes;

    /// A host buffer: u8 RGBA straight sRGB (the C ABI, frei0r) or f32 RGBA premultiplied
    /// linear (OpenFX float clips), with a picture in it.
    fn host(w: usize, h: usize, float: bool, seed: usize) -> (Vec<u8>, FrameFormat) {
        let f = FrameFormat {
            width: w,
            height: h,
            stride: w * 4 * if float { 4 } else { 1 } + 8,
            sample: if float {
                SampleType::F32
            } else {
                SampleType::U8
            },
            channels: 4,
            premultiplied: float,
            linear: float,
        };
        let mut img = Image::new(w, h).unwrap();
        for (i, px) in img.data.chunks_exact_mut(4).enumerate() {
            let (x, y) = ((i % w + seed * 7) as f32, (i / w) as f32);
            px.copy_from_slice(&[
                (x * 0.05).sin() * 0.4 + 0.5,
                (y * 0.07).cos() * 0.4 + 0.5,
                ((x + y) * 0.03).sin() * 0.4 + 0.5,
                1.0,
            ]);
        }
        let mut buf = vec![0u8; f.required_len().unwrap()];
        FrameMut::new(&mut buf, &f, "h")
            .unwrap()
            .write_image(&img)
            .unwrap();
        (buf, f)
    }

    /// Whole-frame passes outside the model for one call of `id`, as an adapter makes it
    /// (views of the host's buffers; `in_place`: the output is the first input's buffer).
    fn passes_of(id: &str, w: usize, h: usize, float: bool, in_place: bool) -> usize {
        let e = nodes::find(id).unwrap();
        let d = &e.desc;
        let mut params = Params::new(&d.params);
        if d.param("device").is_some() {
            params.set("device", Value::Str("cpu".into())).unwrap();
        }
        let mut node = (e.create)();
        let ins: Vec<(Vec<u8>, FrameFormat)> = d
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.optional)
            .map(|(k, _)| host(w, h, float, k))
            .collect();
        let (mut obuf, of) = host(w, h, float, 9);
        let out_ptr = if in_place {
            ins[0].0.as_ptr() as *mut u8
        } else {
            obuf.as_mut_ptr()
        };
        let mut inputs: Vec<Option<Frame>> = ins
            .iter()
            // SAFETY: validated buffers that outlive the call.
            .map(|(b, f)| Some(unsafe { Frame::from_host(b.as_ptr(), f) }))
            .collect();
        inputs.resize(d.inputs.len(), None);
        // SAFETY: as the inputs; an input sharing it is detached by run_node.
        let mut outputs = vec![unsafe { FrameMut::from_host(out_ptr, &of) }];
        let mut ctx = ProcessCtx::new(0.0, 0, None);
        passes::take();
        run_node(d, node.as_mut(), &mut ctx, &params, &inputs, &mut outputs).unwrap();
        passes::take()
    }

    /// The copies per process call that docs/architecture.md states: one pass per input
    /// frame (host format → planar tensor data) and one per output frame (tensor storage →
    /// host format), whatever the host format; one more per input an in-place host shares
    /// with the output. (A node whose result is a strided view would add one `contiguous()`.)
    #[test]
    fn copies_per_call() {
        for float in [false, true] {
            assert_eq!(passes_of("wick.generate", 64, 48, float, false), 1);
            assert_eq!(passes_of("wick.style-transfer", 64, 48, float, false), 2);
            assert_eq!(passes_of("wick.interpolate", 128, 64, float, false), 3);
        }
        assert_eq!(passes_of("wick.style-transfer", 64, 48, false, true), 3);
        // An unaligned size (the model pads and crops back inside): still 3.
        assert_eq!(passes_of("wick.interpolate", 100, 70, false, false), 3);
    }
}
