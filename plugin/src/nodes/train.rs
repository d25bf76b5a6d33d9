//! `wick.train`: trains one of Wick's models inside the graph, like Nuke's CopyCat.
//!
//! A thin caller of [`wick_models::train::run`]: the params are the training registry's
//! ([`wick_models::train::all_params`]: the run's own plus every mode's) with the preview size;
//! one `process` call runs the whole training (long-running, cancellable through the progress
//! callback) in a [`Session`] that the instance keeps, then renders the preview: the current
//! model on the `preview` input when connected, else on a held-out training frame, or for
//! generators a 4×4 sample sheet, resized to the output size. When the run is already complete
//! (same settings as the last call, or a checkpoint at `steps`) the call only renders the
//! preview. What the run writes into `out` is documented in [`wick_models::train::run`].

use candle_core::{DType, Device};
use once_cell::sync::Lazy;
use wick_models::train::mode::{self, Settings};
use wick_models::train::run::{RunError, Session};

use crate::frame::{Frame, FrameMut, Out};
use crate::node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, ParamRole, Params, PortDesc, ProcessCtx,
    ThreadSafety, Value,
};

pub const ID: &str = "wick.train";

/// Files the node writes into the output folder.
pub use wick_models::train::run::{CHECKPOINT, LOSSES, LOSS_PNG, MODEL};

/// The training params as node params, then the preview size.
fn params() -> Vec<ParamDesc> {
    static PARAMS: Lazy<Vec<ParamDesc>> = Lazy::new(|| {
        let mut v: Vec<ParamDesc> = wick_models::train::all_params()
            .iter()
            .map(|p| {
                let kind = match p.kind.clone() {
                    mode::ParamKind::Float { min, max, default } => {
                        ParamKind::Float { min, max, default }
                    }
                    mode::ParamKind::Int { min, max, default } => {
                        ParamKind::Int { min, max, default }
                    }
                    mode::ParamKind::Bool { default } => ParamKind::Bool { default },
                    mode::ParamKind::Enum { choices, default } => {
                        ParamKind::Enum { choices, default }
                    }
                    mode::ParamKind::Path { default } => ParamKind::Path { default },
                };
                ParamDesc::new(p.name, p.label, p.help, kind)
            })
            .collect();
        let int = |min: i64, max: i64, default: i64| ParamKind::Int { min, max, default };
        v.push(
            ParamDesc::new(
                "width",
                "Width",
                "Preview width where the host gives no frame size.",
                int(1, 32768, 640),
            )
            .role(ParamRole::OutputWidth),
        );
        v.push(
            ParamDesc::new(
                "height",
                "Height",
                "Preview height where the host gives no frame size.",
                int(1, 32768, 360),
            )
            .role(ParamRole::OutputHeight),
        );
        v
    });
    PARAMS.clone()
}

pub fn describe() -> NodeDesc {
    static HELP: Lazy<String> = Lazy::new(|| {
        format!(
            "Trains a model on your frames (like CopyCat); modes: {}. Long-running and \
             cancellable; checkpoints and resumes; writes model.safetensors for \
             wick.style-transfer / wick.generate, loss curves and contact sheets into `out`. \
             The output is a preview of the current model.",
            wick_models::train::mode_names().join(", ")
        )
    });
    NodeDesc {
        id: ID,
        label: "Train",
        category: "Wick/Train",
        help: HELP.as_str(),
        inputs: vec![PortDesc::new(
            "preview",
            "Optional frame to preview the model on (image modes); else a held-out frame.",
        )
        .optional()],
        outputs: vec![PortDesc::new(
            "output",
            "Preview: the model on the preview frame, or a sample sheet (generator/vae).",
        )],
        params: params(),
        thread_safety: ThreadSafety::InstanceSafe,
        source: true,
        long_running: true,
        cancellable: true,
    }
}

#[derive(Default)]
pub struct Train {
    session: Session,
}

impl Train {
    pub fn create() -> Box<dyn Node> {
        Box::new(Self::default())
    }
}

/// The node's params as training settings (the preview size stays with the node).
fn settings(p: &Params) -> Settings {
    let mut s = Settings::defaults();
    for d in p.descs() {
        if d.role.is_some() {
            continue;
        }
        let v = match p.get(d.name) {
            Ok(Value::Float(x)) => mode::Value::Float(*x),
            Ok(Value::Int(i)) => mode::Value::Int(*i),
            Ok(Value::Bool(b)) => mode::Value::Bool(*b),
            Ok(Value::Str(t)) => mode::Value::Str(t.clone()),
            _ => continue,
        };
        s.set(d.name, v);
    }
    s
}

impl Node for Train {
    fn process(
        &mut self,
        ctx: &mut ProcessCtx,
        p: &Params,
        inputs: &[Option<Frame>],
        outputs: &mut [FrameMut],
    ) -> Result<(), NodeError> {
        let s = settings(p);
        let mut progress = |f: f64, m: &str| ctx.progress(f, m).is_err();
        match self.session.run(&s, &mut progress) {
            Ok(()) => {}
            Err(RunError::Cancelled) => return Err(NodeError::Cancelled),
            Err(RunError::Failed(e)) => return Err(e.into()),
        }
        let preview_in = inputs.first().and_then(|i| i.as_ref());
        let frame = preview_in.map(|f| f.rgb_tensor(&Device::Cpu)).transpose()?;
        let pic = self.session.picture(frame.as_ref())?;
        let out = &mut outputs[0];
        let (w, h) = (out.width(), out.height());
        let pic = pic.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
        let pic = if pic.dims()[2..] == [h, w] {
            pic
        } else {
            wick_models::ops::upsample_bilinear2d(&pic.contiguous()?, h, w, false)?
        };
        let keep_alpha = preview_in.filter(|i| (i.width(), i.height()) == (w, h));
        let how = match keep_alpha {
            Some(s) => Out::planar().alpha_of(s),
            None => Out::planar(),
        };
        out.write(&pic, how.clamped())?;
        ctx.progress(1.0, "done")?;
        Ok(())
    }
}
