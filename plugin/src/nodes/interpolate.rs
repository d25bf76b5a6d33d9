//! `wick.interpolate`: the frame at any time `t` between two frames, with RIFE 4.2x (IFNet).
//!
//! Input `b` is declared at frame offset +1, so a host feeds frame f to `a` and f+1 to `b`
//! (OpenFX frames-needed; `wick render` does the same). Frames arrive as Wick's working format
//! (RGBA f32, sRGB-encoded, straight alpha; the adapters have already converted u8/u16/f32 and
//! linear-light frames). Colour is premultiplied before the network and un-premultiplied after,
//! and alpha is warped and blended with the same flows and mask as the colour, so edges of
//! transparent elements move with them. The model pads to its alignment and crops back.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use wick_models::device::DEVICE_CHOICES;
use wick_models::recent::Recent;
use wick_models::rife::cuts::{self, CutFeatures, DEFAULT_CUT_THRESHOLD};
use wick_models::rife::{
    noise, Composition, IfNet, DEFAULT_PREFILTER, DEFAULT_STILL_MOTION, DEFAULT_TOLERANCE,
};

use crate::frame::{Frame, FrameMut, Out};
use crate::node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, ParamRole, Params, PortDesc, ProcessCtx,
    ThreadSafety,
};

pub const ID: &str = "wick.interpolate";

pub fn describe() -> NodeDesc {
    use ParamKind::*;
    NodeDesc {
        id: ID,
        label: "Interpolate",
        category: "Wick/Time",
        help: "The frame at time t between frame a and the next frame b (RIFE 4.2x optical-flow \
               network): retiming, slow motion, filling in frames.",
        inputs: vec![
            PortDesc::new("a", "The earlier frame (time 0)."),
            PortDesc::new("b", "The next frame (time 1).").at_offset(1),
        ],
        outputs: vec![PortDesc::new("output", "The frame at time t.")],
        params: vec![
            ParamDesc::new("t", "Time", "Position between a (0) and b (1).", Float { min: 0.0, max: 1.0, default: 0.5 }).animatable().role(ParamRole::Time),
            ParamDesc::new("scale", "Flow scale", "Resolution of the flow estimate: 1 for up to HD, 0.5 for 2K-4K, 0.25 for 8K (faster, coarser); taken to the nearest quarter.", Float { min: 0.25, max: 1.0, default: 1.0 }),
            ParamDesc::new("symmetric", "Symmetric", "Average the a→b and b→a estimates (better, twice the time).", Bool { default: false }),
            ParamDesc::new("mirror", "Mirror ensemble", "Also average the estimate on left-right mirrored frames (better, twice the time again).", Bool { default: false }),
            ParamDesc::new("agreement", "Agreement tolerance", "Where the two motion-compensated frames agree within this (0..1 colour units), average them at the time weights instead of the network's per-pixel mask: less noise and compression error kept from one frame. 0 = RIFE's own mask everywhere.", Float { min: 0.0, max: 1.0, default: DEFAULT_TOLERANCE as f64 }),
            ParamDesc::new("still_motion", "Still motion", "Where the motion around a pixel (both flows' lengths summed, largest over 5x5 pixels) is below about this many pixels, average the two motion-compensated frames at the time weights whatever they differ by: occlusions there are too thin for the mask to help, and its per-pixel choice keeps one frame's noise and compression error. 0 = off.", Float { min: 0.0, max: 64.0, default: DEFAULT_STILL_MOTION as f64 }),
            ParamDesc::new("prefilter", "Motion prefilter", "Gaussian blur (sigma, pixels) of the frames the network estimates motion on, when 'Auto prefilter' is off; the result is still made from the sharp frames. Keeps sensor noise and compression blocks from disturbing the motion. 0 = off.", Float { min: 0.0, max: 4.0, default: DEFAULT_PREFILTER as f64 }),
            ParamDesc::new("cuts", "Scene cuts", "What to do when a and b lie on two sides of a scene cut (never morphed): hold (the nearer frame: a before t = 0.5, b from it), dissolve (a cross-fade), off (no detection: always interpolate).", Enum { choices: &["hold", "dissolve", "off"], default: "hold" }),
            ParamDesc::new("cut_threshold", "Cut threshold", "Cut score (0..1: colour-histogram distance and shift-tolerant thumbnail difference, geometric mean) at and above which a pair is a cut. Measured: cuts 0.15-0.50, motion within a shot at most 0.12.", Float { min: 0.0, max: 1.0, default: DEFAULT_CUT_THRESHOLD as f64 }),
            ParamDesc::new("weights", "Weights", "RIFE 4.2x safetensors file; empty for the bundled one.", Path { default: "" }).reloads(),
            ParamDesc::new("device", "Device", "Compute device.", Enum { choices: &DEVICE_CHOICES, default: "auto" }).reloads(),
            ParamDesc::new("prefilter_auto", "Auto prefilter", "Choose the motion prefilter for each frame pair from the frames: sigma 1 where their fine detail is less than 6 times their noise (sensor noise, compression, small frames), else none (clean detail keeps the motion precise). Off: the 'Motion prefilter' value.", Bool { default: true }),
        ],
        thread_safety: ThreadSafety::FullySafe,
        source: false,
        long_running: false,
        cancellable: false,
    }
}

/// Each frame's scene-cut features and noise levels by the frame's content hash, kept for its
/// next pairs (process-wide: `wick retime`'s two instances take alternate pairs; see
/// [`Recent`]).
static CUT_FEATURES: Recent<Option<CutFeatures>> = Recent::new(4, usize::MAX, |_| 0);
static NOISE_LEVELS: Recent<(f32, f32)> = Recent::new(4, usize::MAX, |_| 0);

#[derive(Default)]
pub struct Interpolate {
    loaded: Option<((String, String), IfNet, Device)>,
}

impl Interpolate {
    pub fn create() -> Box<dyn Node> {
        Box::new(Self::default())
    }

    fn model(&mut self, p: &Params) -> Result<(&IfNet, Device), NodeError> {
        let key = (p.str("weights").to_string(), p.str("device").to_string());
        if self
            .loaded
            .as_ref()
            .map(|(k, _, _)| k != &key)
            .unwrap_or(true)
        {
            let device = wick_models::select_device(&key.1)?;
            let path = if key.0.is_empty() {
                wick_models::weights::bundled("rife42.safetensors")
            } else {
                PathBuf::from(&key.0)
            };
            let net = IfNet::load(&path, &device)?;
            self.loaded = Some((key, net, device));
        }
        let (_, net, dev) = self.loaded.as_ref().expect("just loaded");
        Ok((net, dev.clone()))
    }
}

fn to_tensor(planar: Vec<f32>, img: &Frame, dev: &Device) -> Result<Tensor, NodeError> {
    Ok(Tensor::from_vec(
        planar,
        (1, 4, img.height(), img.width()),
        dev,
    )?)
}

impl Node for Interpolate {
    fn process(
        &mut self,
        ctx: &mut ProcessCtx,
        p: &Params,
        inputs: &[Option<Frame>],
        outputs: &mut [FrameMut],
    ) -> Result<(), NodeError> {
        let missing = |n: &str| NodeError::BadArgument(format!("input '{n}' is not connected"));
        let a = inputs
            .first()
            .and_then(|x| x.as_ref())
            .ok_or_else(|| missing("a"))?;
        let b = inputs
            .get(1)
            .and_then(|x| x.as_ref())
            .ok_or_else(|| missing("b"))?;
        if (a.width(), a.height()) != (b.width(), b.height()) {
            return Err(NodeError::BadArgument(format!(
                "frames a ({}x{}) and b ({}x{}) differ in size",
                a.width(),
                a.height(),
                b.width(),
                b.height()
            )));
        }
        let out = &mut outputs[0];
        if (out.width(), out.height()) != (a.width(), a.height()) {
            return Err(NodeError::BadArgument(format!(
                "output {}x{} differs from the input frames' {}x{}",
                out.width(),
                out.height(),
                a.width(),
                a.height()
            )));
        }
        // Quarters only: their alignments (64, 128, 256) keep the padding small.
        let scale = (p.f64("scale") * 4.0).round().clamp(1.0, 4.0) / 4.0;
        let (t, symmetric, mirror) = (p.f64("t"), p.bool("symmetric"), p.bool("mirror"));
        // Planar [4, H, W], colour premultiplied (one pass from the host's frames).
        let (pa, pb) = (a.planar(4, true)?, b.planar(4, true)?);
        let size = (a.height(), a.width());
        // What is measured on each frame alone is kept by the frame's content.
        let (ka, kb) = (a.content_hash(), b.content_hash());
        let cuts = p.str("cuts");
        if cuts != "off" {
            let (fa, fb) = rayon::join(
                || CUT_FEATURES.get_or(ka, || cuts::features(&pa, size)),
                || CUT_FEATURES.get_or(kb, || cuts::features(&pb, size)),
            );
            let score = cuts::score_of(fa.as_ref(), fb.as_ref());
            let threshold = p.f64("cut_threshold") as f32;
            if score >= threshold {
                // Never morph across a cut: hold the nearer frame or cross-fade.
                let (wa, what) = match cuts {
                    "dissolve" => (1.0 - t as f32, "dissolved"),
                    _ if t < 0.5 => (1.0, "held a"),
                    _ => (0.0, "held b"),
                };
                ctx.progress(
                    1.0,
                    &format!("cut: score {score:.3} >= {threshold:.3}, {what}"),
                )?;
                let wb = 1.0 - wa;
                let y: Vec<f32> = pa.iter().zip(&pb).map(|(x, y)| wa * x + wb * y).collect();
                out.write_slice(&y, 4, Out::premultiplied())?;
                return Ok(());
            }
        }
        let prefilter = if p.bool("prefilter_auto") {
            let (la, lb) = rayon::join(
                || NOISE_LEVELS.get_or(ka, || noise::levels(&pa, size)),
                || NOISE_LEVELS.get_or(kb, || noise::levels(&pb, size)),
            );
            noise::prefilter_for(la, lb).0
        } else {
            p.f64("prefilter") as f32
        };
        let comp = Composition {
            tolerance: p.f64("agreement") as f32,
            still_motion: p.f64("still_motion") as f32,
            prefilter,
        };
        let (net, dev) = self.model(p)?;
        let (ta, tb) = (to_tensor(pa, a, &dev)?, to_tensor(pb, b, &dev)?);
        let y = net.interpolate_ensemble(&ta, &tb, t, scale, symmetric, mirror, comp)?;
        out.write(&y, Out::premultiplied())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Image;

    /// Runs the node on working images (the way an adapter passes views of host frames).
    fn process(
        node: &mut Interpolate,
        ctx: &mut ProcessCtx,
        params: &Params,
        inputs: &[Option<Image>],
        outputs: &mut [Image],
    ) -> Result<(), NodeError> {
        let frames: Vec<Option<Frame>> = inputs
            .iter()
            .map(|i| i.as_ref().map(Image::frame))
            .collect();
        let mut outs: Vec<FrameMut> = outputs.iter_mut().map(Image::frame_mut).collect();
        node.process(ctx, params, &frames, &mut outs)
    }

    fn square(w: usize, h: usize, x0: usize, alpha: f32) -> Image {
        let mut img = Image::new(w, h).unwrap();
        for y in 0..h {
            for x in 0..w {
                let inside = (x0..x0 + 16).contains(&x) && (24..40).contains(&y);
                let v = if inside {
                    0.9
                } else {
                    0.2 + 0.3 * (x as f32 / w as f32)
                };
                let i = (y * w + x) * 4;
                img.data[i..i + 4].copy_from_slice(&[v, v * 0.8, 0.3, alpha]);
            }
        }
        img
    }

    #[test]
    fn descriptor_asks_for_the_next_frame() {
        let d = describe();
        assert_eq!(d.inputs.len(), 2);
        assert_eq!(d.inputs[1].frame_offset, 1);
        assert!(d.temporal());
    }

    #[test]
    fn moving_square_lands_in_between_and_alpha_is_kept() {
        let (w, h) = (96, 64);
        let a = square(w, h, 16, 1.0);
        let b = square(w, h, 40, 1.0);
        let mut params = Params::new(&describe().params);
        params
            .set("device", crate::node::Value::Str("cpu".into()))
            .unwrap();
        let mut node = Interpolate::default();
        let mut out = vec![Image::new(w, h).unwrap()];
        let mut ctx = ProcessCtx::new(0.0, 0, None);
        process(
            &mut node,
            &mut ctx,
            &params,
            &[Some(a.clone()), Some(b.clone())],
            &mut out,
        )
        .unwrap();
        // The square spans x 16..32 in a and 40..56 in b: at t = 0.5 it spans 28..44, so x = 36
        // is inside it, where neither input (nor a blend) has it.
        let mid = out[0].pixel(36, 32);
        println!(
            "pixel (36, 32) at t=0.5: {mid:?} (inputs there: {:?}, {:?})",
            a.pixel(36, 32),
            b.pixel(36, 32)
        );
        assert!(mid[0] > 0.7, "{mid:?}");
        assert!((mid[3] - 1.0).abs() < 1e-4);
        // An unaligned size (padded inside the model): opaque frames stay opaque everywhere,
        // the padded border rows included.
        let (w2, h2) = (100, 70);
        let mut out2 = vec![Image::new(w2, h2).unwrap()];
        process(
            &mut node,
            &mut ctx,
            &params,
            &[Some(square(w2, h2, 16, 1.0)), Some(square(w2, h2, 40, 1.0))],
            &mut out2,
        )
        .unwrap();
        let min_alpha = out2[0]
            .data
            .chunks_exact(4)
            .map(|p| p[3])
            .fold(1.0f32, f32::min);
        assert!(min_alpha > 0.9999, "opaque inputs gave alpha {min_alpha}");
        // Mismatched sizes are an error, not a panic.
        let small = square(80, 64, 8, 1.0);
        let e = process(
            &mut node,
            &mut ctx,
            &params,
            &[Some(a), Some(small)],
            &mut out,
        );
        assert!(matches!(e, Err(NodeError::BadArgument(_))));
    }

    /// A pair across a scene cut is never morphed: held (the nearer frame) or dissolved, per
    /// the `cuts` param; `off` interpolates anyway.
    #[test]
    fn scene_cut_is_held_or_dissolved() {
        let (w, h) = (96, 64);
        let a = square(w, h, 16, 1.0);
        let mut b = Image::new(w, h).unwrap();
        for (i, px) in b.data.chunks_exact_mut(4).enumerate() {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            let v = 0.5 + 0.45 * ((x * 0.7).sin() * (y * 0.5).cos());
            px.copy_from_slice(&[0.1, v, 1.0 - v, 1.0]);
        }
        let mut node = Interpolate::default();
        let mut run = |cuts: &str, t: f64| {
            let mut params = Params::new(&describe().params);
            params
                .set("device", crate::node::Value::Str("cpu".into()))
                .unwrap();
            params
                .set("cuts", crate::node::Value::Str(cuts.into()))
                .unwrap();
            params.set("t", crate::node::Value::Float(t)).unwrap();
            let mut out = vec![Image::new(w, h).unwrap()];
            let mut said = String::new();
            let mut cb = |_f: f64, m: &str| {
                said = m.to_string();
                false
            };
            {
                let mut ctx = ProcessCtx::new(0.0, 0, Some(&mut cb));
                process(
                    &mut node,
                    &mut ctx,
                    &params,
                    &[Some(a.clone()), Some(b.clone())],
                    &mut out,
                )
                .unwrap();
            }
            (out.remove(0), said)
        };
        let diff = |x: &Image, y: &Image| {
            x.data
                .iter()
                .zip(&y.data)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max)
        };
        let (held_a, said) = run("hold", 0.3);
        assert!(said.starts_with("cut: "), "{said}");
        assert!(diff(&held_a, &a) < 1e-6);
        let (held_b, _) = run("hold", 0.5);
        assert!(diff(&held_b, &b) < 1e-6);
        let (mix, _) = run("dissolve", 0.25);
        let want: Vec<f32> = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(p, q)| 0.75 * p + 0.25 * q)
            .collect();
        let e = mix
            .data
            .iter()
            .zip(&want)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(e < 1e-5, "{e}");
        let (morph, said) = run("off", 0.3);
        assert!(said.is_empty(), "{said}");
        assert!(diff(&morph, &a) > 0.05 && diff(&morph, &b) > 0.05);
    }
}
