//! `wick.debug`: a test-only node (listed only when `WICK_ENABLE_TEST_NODES=1`) that proves
//! the adapters turn node panics and errors into statuses.

use crate::frame::{Frame, FrameMut};
use crate::node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, Params, PortDesc, ProcessCtx, ThreadSafety,
};

pub const ID: &str = "wick.debug";

pub fn describe() -> NodeDesc {
    NodeDesc {
        id: ID,
        label: "Debug (test only)",
        category: "Wick/Test",
        help: "Copies its optional input (or fills grey); mode=panic panics, mode=error fails.",
        inputs: vec![PortDesc::new("source", "Copied to the output when given.").optional()],
        outputs: vec![PortDesc::new("output", "Copy or grey.")],
        params: vec![
            ParamDesc::new(
                "mode",
                "Mode",
                "ok, panic or error.",
                ParamKind::Enum {
                    choices: &["ok", "panic", "error"],
                    default: "ok",
                },
            ),
            ParamDesc::new(
                "width",
                "Width",
                "Output width when no input.",
                ParamKind::Int {
                    min: 1,
                    max: 32768,
                    default: 64,
                },
            ),
            ParamDesc::new(
                "height",
                "Height",
                "Output height when no input.",
                ParamKind::Int {
                    min: 1,
                    max: 32768,
                    default: 48,
                },
            ),
        ],
        thread_safety: ThreadSafety::FullySafe,
        source: true,
        long_running: false,
        cancellable: true,
    }
}

pub struct Debug;

impl Debug {
    pub fn create() -> Box<dyn Node> {
        Box::new(Debug)
    }
}

impl Node for Debug {
    fn process(
        &mut self,
        ctx: &mut ProcessCtx,
        p: &Params,
        inputs: &[Option<Frame>],
        outputs: &mut [FrameMut],
    ) -> Result<(), NodeError> {
        match p.str("mode") {
            "panic" => panic!("wick.debug was asked to panic"),
            "error" => return Err(NodeError::Model("wick.debug was asked to fail".into())),
            _ => {}
        }
        ctx.progress(0.5, "halfway")?;
        copy_or_fill(&inputs[0], &mut outputs[0], 0.5)
    }
}

/// The output is the input when given (same size), else `fill` in every channel.
fn copy_or_fill(input: &Option<Frame>, out: &mut FrameMut, fill: f32) -> Result<(), NodeError> {
    match input {
        Some(img) if img.width() == out.width() && img.height() == out.height() => {
            out.copy_from(img)
        }
        Some(_) => Err(NodeError::BadArgument(
            "output size must equal the input size".into(),
        )),
        None => out.fill([fill; 4]),
    }
}

pub const LONG_ID: &str = "wick.debug-long";

/// `wick.debug-long`: a test-only long-running, cancellable node (listed with
/// `WICK_ENABLE_TEST_NODES=1`): `steps` progress reports, then its input with the colour
/// inverted as the result. Proves the adapters' run-button and cancel paths.
pub fn describe_long() -> NodeDesc {
    NodeDesc {
        id: LONG_ID,
        label: "Debug Long Run (test only)",
        category: "Wick/Test",
        help: "Reports progress `steps` times, then outputs its input with the colour inverted.",
        inputs: vec![PortDesc::new("source", "The frame to invert.")],
        outputs: vec![PortDesc::new("output", "The inverted frame (alpha kept).")],
        params: vec![ParamDesc::new(
            "steps",
            "Steps",
            "How many progress reports.",
            ParamKind::Int {
                min: 1,
                max: 100,
                default: 4,
            },
        )],
        thread_safety: ThreadSafety::InstanceSafe,
        source: false,
        long_running: true,
        cancellable: true,
    }
}

pub struct DebugLong;

impl DebugLong {
    pub fn create() -> Box<dyn Node> {
        Box::new(DebugLong)
    }
}

impl Node for DebugLong {
    fn process(
        &mut self,
        ctx: &mut ProcessCtx,
        p: &Params,
        inputs: &[Option<Frame>],
        outputs: &mut [FrameMut],
    ) -> Result<(), NodeError> {
        let steps = p.i64("steps");
        for i in 0..steps {
            ctx.progress(i as f64 / steps as f64, "working")?;
        }
        let out = &mut outputs[0];
        match &inputs[0] {
            Some(src) if (src.width(), src.height()) == (out.width(), out.height()) => out
                .write_rows(false, |y, row| {
                    src.read_row(y, false, row);
                    row.chunks_exact_mut(4)
                        .for_each(|px| px[..3].iter_mut().for_each(|v| *v = 1.0 - *v));
                    Ok(())
                }),
            None => out.fill([1.0, 1.0, 1.0, 0.0]),
            other => copy_or_fill(other, out, 0.0),
        }
    }
}
