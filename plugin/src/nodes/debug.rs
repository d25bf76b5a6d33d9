//! `wick.debug`: a test-only node (listed only when `WICK_ENABLE_TEST_NODES=1`) that proves
//! the adapters turn node panics and errors into statuses.

use crate::image::Image;
use crate::node::{Node, NodeDesc, NodeError, ParamDesc, ParamKind, Params, PortDesc, ProcessCtx, ThreadSafety};

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
            ParamDesc::new("mode", "Mode", "ok, panic or error.", ParamKind::Enum { choices: &["ok", "panic", "error"], default: "ok" }),
            ParamDesc::new("width", "Width", "Output width when no input.", ParamKind::Int { min: 1, max: 32768, default: 64 }),
            ParamDesc::new("height", "Height", "Output height when no input.", ParamKind::Int { min: 1, max: 32768, default: 48 }),
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
        inputs: &[Option<Image>],
        outputs: &mut [Image],
    ) -> Result<(), NodeError> {
        match p.str("mode") {
            "panic" => panic!("wick.debug was asked to panic"),
            "error" => return Err(NodeError::Model("wick.debug was asked to fail".into())),
            _ => {}
        }
        ctx.progress(0.5, "halfway")?;
        let out = &mut outputs[0];
        match &inputs[0] {
            Some(img) if img.width == out.width && img.height == out.height => {
                out.data.copy_from_slice(&img.data)
            }
            Some(_) => return Err(NodeError::BadArgument("output size must equal the input size".into())),
            None => out.data.iter_mut().for_each(|v| *v = 0.5),
        }
        Ok(())
    }
}
