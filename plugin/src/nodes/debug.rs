//! `wick.debug`: a test-only node (listed only when `WICK_ENABLE_TEST_NODES=1`) that proves
//! the adapters turn node panics and errors into statuses.

use crate::frame::{Frame, FrameMut};
use crate::node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, ParamRole, Params, PortDesc, ProcessCtx,
    ThreadSafety,
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
            )
            .role(ParamRole::OutputWidth),
            ParamDesc::new(
                "height",
                "Height",
                "Output height when no input.",
                ParamKind::Int {
                    min: 1,
                    max: 32768,
                    default: 48,
                },
            )
            .role(ParamRole::OutputHeight),
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

pub const HISTORY_ID: &str = "wick.debug-history";

/// `wick.debug-history`: a test-only node (listed with `WICK_ENABLE_TEST_NODES=1`) with
/// past-frame inputs `source@-1` and `source@-2`, fed while `temporal` is on. Its output is
/// the mean of the source and the past frames it was given, with alpha 1/(1 + how many it was
/// given): proves each adapter feeds past frames, and which.
pub fn describe_history() -> NodeDesc {
    NodeDesc {
        id: HISTORY_ID,
        label: "Debug History (test only)",
        category: "Wick/Test",
        help: "Mean of the source and its past frames; alpha = 1/(1 + past frames given).",
        inputs: vec![
            PortDesc::new("source", "The current frame."),
            PortDesc::new("source@-1", "The source's previous frame.")
                .history_of("source")
                .at_offset(-1)
                .active_if("temporal"),
            PortDesc::new("source@-2", "The source's frame before that.")
                .history_of("source")
                .at_offset(-2)
                .active_if("temporal"),
        ],
        outputs: vec![PortDesc::new("output", "The mean.")],
        params: vec![ParamDesc::new(
            "temporal",
            "Temporal",
            "Use the past frames.",
            ParamKind::Bool { default: true },
        )],
        thread_safety: ThreadSafety::InstanceSafe,
        source: false,
        long_running: false,
        cancellable: false,
    }
}

pub struct DebugHistory;

impl DebugHistory {
    pub fn create() -> Box<dyn Node> {
        Box::new(DebugHistory)
    }
}

impl Node for DebugHistory {
    fn process(
        &mut self,
        _ctx: &mut ProcessCtx,
        _p: &Params,
        inputs: &[Option<Frame>],
        outputs: &mut [FrameMut],
    ) -> Result<(), NodeError> {
        let out = &mut outputs[0];
        let given: Vec<&Frame> = inputs.iter().flatten().collect();
        if given
            .iter()
            .any(|f| (f.width(), f.height()) != (out.width(), out.height()))
        {
            return Err(NodeError::BadArgument("frames differ in size".into()));
        }
        let n = given.len() as f32;
        let mut rows = vec![vec![0f32; out.width() * 4]; given.len()];
        out.write_rows(false, |y, row| {
            for (f, r) in given.iter().zip(rows.iter_mut()) {
                f.read_row(y, false, r);
            }
            for (x, px) in row.chunks_exact_mut(4).enumerate() {
                for (c, v) in px[..3].iter_mut().enumerate() {
                    *v = rows.iter().map(|r| r[x * 4 + c]).sum::<f32>() / n;
                }
                px[3] = 1.0 / n;
            }
            Ok(())
        })
    }
}
