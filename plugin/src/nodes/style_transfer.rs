//! `wick.style-transfer`: turn footage into paintings.
//!
//! Models: `multistyle26` (26 built-in styles and any blend of them), `arbitrary` (Magenta's
//! arbitrary stylisation: the style comes from a painting on the `style` input), or a path to a
//! fast-neural-style TransformerNet checkpoint (Wick safetensors, or a PyTorch `.pth`). Models
//! load once per instance and stay loaded until `model` or `device` changes; the arbitrary
//! style vector is cached per style image. Works at the frame's full resolution; alpha passes
//! through untouched (the adapter gives nodes straight-alpha sRGB and converts back).
//!
//! `temporal` > 0 stabilises video (issue #15, `wick_models::temporal`): the node declares
//! past frames of `source` as optional inputs `source@-1` … `source@-11` (fed only while
//! `temporal` > 0) and shows the mean of the last 12 frames' stylisations, each carried along
//! the motion to the current frame, its texture restored, instead of repainting every frame.
//! The output of frame `t` depends only on input frames `t - 11 ..= t`, never on what was
//! rendered before; caches keyed by frame content make a sequential render pay one
//! stylisation and one flow per frame. Missing past frames (clip start, a seek, a host that
//! cannot give them) shorten the window; with none the frame is stylised on its own, as with
//! `temporal` = 0.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use wick_models::device::DEVICE_CHOICES;
use wick_models::style::{
    self, arbitrary, MultiStyle, StylePredictor, StyleTransform, TransformerNet, NUM_STYLES,
};
use wick_models::temporal;

use crate::frame::{with_f32_slice, Frame, FrameMut, Out};
use crate::image::Image;
use crate::node::{
    Node, NodeDesc, NodeError, ParamDesc, ParamKind, Params, PortDesc, ProcessCtx, ThreadSafety,
};

pub const ID: &str = "wick.style-transfer";

/// The past-frame inputs of `temporal`, nearest first: `source@-1` is input 2.
pub const HISTORY: [&str; temporal::WINDOW - 1] = [
    "source@-1",
    "source@-2",
    "source@-3",
    "source@-4",
    "source@-5",
    "source@-6",
    "source@-7",
    "source@-8",
    "source@-9",
    "source@-10",
    "source@-11",
];

pub fn describe() -> NodeDesc {
    use ParamKind::*;
    NodeDesc {
        id: ID,
        label: "Style Transfer",
        category: "Wick/Stylise",
        help: "Repaints the source in a painting's style: one of 26 built-in styles or a blend \
               (multistyle26), any painting on the style input (arbitrary), or your own \
               fast-neural-style model. Full resolution; alpha is kept.",
        inputs: vec![
            PortDesc::new("source", "The frame to stylise."),
            PortDesc::new("style", "A painting whose style to use (model=arbitrary).").optional(),
        ]
        .into_iter()
        .chain(HISTORY.iter().enumerate().map(|(k, name)| {
            PortDesc::new(
                name,
                "A past frame of source (temporal > 0): source at this frame offset.",
            )
            .history_of("source")
            .at_offset(-(k as i32 + 1))
            .active_if("temporal")
        }))
        .collect(),
        outputs: vec![PortDesc::new("output", "The stylised frame, with the source's alpha.")],
        params: vec![
            ParamDesc::new("model", "Model", "'multistyle26', 'arbitrary', a path to a TransformerNet or CycleGAN ResNet-generator .safetensors/.pth (detected from its keys; bundled: cyclegan_vintage.safetensors, photo → vintage), or a model.safetensors from wick.train (pairs/style/unpaired).", Str { default: "multistyle26" }).reloads(),
            ParamDesc::new("style", "Style", "multistyle26: a style index 0-25, or a blend such as 3:0.5,12:0.5.", Str { default: "0" }).animatable(),
            ParamDesc::new("style_image", "Style image", "model=arbitrary: a painting file (PNG, JPEG, TIFF) to take the style from when nothing is connected to the style input (hosts with one input, e.g. frei0r).", Path { default: "" }),
            ParamDesc::new("strength", "Strength", "0: the source, 1: full style. arbitrary: interpolates the style vector with the source's own (as Magenta does); other models: mixes the pixels.", Float { min: 0.0, max: 1.0, default: 1.0 }).animatable(),
            ParamDesc::new("preserve_color", "Preserve colour", "Keep the source's colours; take only the lightness from the style.", Bool { default: false }).animatable(),
            ParamDesc::new("tile", "Tile rows", "Compute convolutions in bands of this many rows to bound memory (0: whole frame). Bands read their own overlap, so results are unchanged.", Int { min: 0, max: 32768, default: 0 }),
            ParamDesc::new("device", "Device", "Compute device.", Enum { choices: &DEVICE_CHOICES, default: "auto" }).reloads(),
            ParamDesc::new("temporal", "Temporal", "Video stability: 0 stylises each frame on its own; 1 shows the mean of the last 12 frames' stylisations, each carried along the motion of the source (RIFE flow), its texture restored, so brush strokes stay put instead of flickering; in between, a mix. Needs the past frames source@-1 … source@-11 (hosts feed them; without them the frame is stylised on its own). Farm-safe: a frame depends only on frames t-11 … t.", Float { min: 0.0, max: 1.0, default: 0.0 }).animatable(),
        ],
        thread_safety: ThreadSafety::InstanceSafe,
        source: false,
        long_running: false,
        cancellable: true,
    }
}

#[allow(clippy::large_enum_variant)] // one per instance, never moved in a hot loop
enum Loaded {
    Multi(MultiStyle),
    Arbitrary {
        predictor: Box<StylePredictor>,
        transform: Box<StyleTransform>,
        /// (hash of the style image, its style vector)
        style_cache: Option<(u64, Tensor)>,
    },
    Net(TransformerNet),
    /// A pairs/style model written by `wick.train` (has `wick.arch`).
    Trained(wick_models::train::img2img::Img2Img),
    /// A CycleGAN ResNet generator (pretrained `.pth`/safetensors, or `wick.train` unpaired).
    CycleGan(wick_models::style::ResnetGenerator),
}

#[derive(Default)]
pub struct StyleTransfer {
    loaded: Option<((String, String), Device, Loaded)>,
    /// The `style_image` file last read: (path, modification time, image).
    style_file: Option<(String, Option<std::time::SystemTime>, Image)>,
    /// `temporal`: the flow network (loaded on first use, on the model's device), the
    /// stabiliser's caches, and the per-frame stylisations of the window's frames keyed by
    /// (input content, everything else the stylisation depends on).
    flow_net: Option<(String, wick_models::rife::IfNet)>,
    window: temporal::Window,
    styled: HashMap<u64, Arc<Vec<temporal::Rgbx>>>,
    /// The window's input frames, planar RGB, keyed by content.
    planar_in: HashMap<u64, Arc<Vec<f32>>>,
}

/// Reads a style painting from a file into the working format (sRGB, straight alpha).
fn read_style_file(path: &str) -> Result<Image, NodeError> {
    let img = wick_common::imagefile::open(std::path::Path::new(path))
        .map_err(|e| NodeError::BadArgument(format!("param 'style_image': {path}: {e}")))?
        .to_rgba32f();
    let (w, h) = img.dimensions();
    let mut out = Image::new(w as usize, h as usize)?;
    out.data.copy_from_slice(img.as_raw());
    Ok(out)
}

/// Where the bundled weights live: `$WICK_WEIGHTS_DIR`, else the build's `models/weights`.
fn weights(name: &str) -> PathBuf {
    style::bundled_weights(name)
}

impl StyleTransfer {
    pub fn create() -> Box<dyn Node> {
        Box::new(Self::default())
    }

    fn load(&mut self, p: &Params) -> Result<(), NodeError> {
        let key = (p.str("model").to_string(), p.str("device").to_string());
        if self
            .loaded
            .as_ref()
            .map(|(k, _, _)| k == &key)
            .unwrap_or(false)
        {
            return Ok(());
        }
        self.loaded = None;
        let dev = wick_models::select_device(&key.1)?;
        let m = match key.0.as_str() {
            "multistyle26" => Loaded::Multi(MultiStyle::load(
                &weights("multistyle26.safetensors"),
                &dev,
            )?),
            "arbitrary" => Loaded::Arbitrary {
                predictor: Box::new(StylePredictor::load(
                    &weights("arbitrary_predict.safetensors"),
                    &dev,
                )?),
                transform: Box::new(StyleTransform::load(
                    &weights("arbitrary_transform.safetensors"),
                    &dev,
                )?),
                style_cache: None,
            },
            "" => return Err(NodeError::BadArgument("param 'model': empty".into())),
            path => {
                let path = std::path::Path::new(path);
                if wick_models::style::ResnetGenerator::detect(path).is_some() {
                    Loaded::CycleGan(wick_models::style::ResnetGenerator::load(path, &dev)?)
                } else {
                    match wick_models::train::trained_arch(path) {
                        Some(_) => Loaded::Trained(wick_models::train::load_img2img(path, &dev)?),
                        None => Loaded::Net(TransformerNet::load(path, &dev)?),
                    }
                }
            }
        };
        self.loaded = Some((key, dev, m));
        Ok(())
    }
}

impl StyleTransfer {
    /// Makes sure the `style_image` file is read (model=arbitrary, nothing on the style input).
    fn read_style_file_param(&mut self, p: &Params) -> Result<(), NodeError> {
        let path = p.str("style_image");
        if path.is_empty() {
            return Err(NodeError::BadArgument(
                "model=arbitrary needs a painting on the 'style' input or a 'style_image' file"
                    .into(),
            ));
        }
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let fresh = matches!(&self.style_file, Some((p0, t0, _)) if p0 == path && *t0 == mtime);
        if !fresh {
            self.style_file = Some((path.to_string(), mtime, read_style_file(path)?));
        }
        Ok(())
    }

    /// A key for everything a frame's stylisation depends on besides the frame itself.
    fn style_key(&mut self, p: &Params, inputs: &[Option<Frame>]) -> Result<u64, NodeError> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for name in ["model", "device", "style"] {
            p.str(name).hash(&mut h);
        }
        p.i64("tile").hash(&mut h);
        if matches!(self.loaded, Some((_, _, Loaded::Arbitrary { .. }))) {
            p.f64("strength").to_bits().hash(&mut h);
            let simg = match inputs.get(1).and_then(|s| s.as_ref()) {
                Some(s) => *s,
                None => {
                    self.read_style_file_param(p)?;
                    self.style_file.as_ref().expect("just read").2.frame()
                }
            };
            simg.content_hash().hash(&mut h);
        }
        Ok(h.finish())
    }

    /// The network's stylisation of `x` [1, 3, h, w]: for model=arbitrary with `strength`
    /// applied (it moves the style vector); for the other models before the `strength` mix.
    fn stylise(
        &mut self,
        p: &Params,
        inputs: &[Option<Frame>],
        x: &Tensor,
    ) -> Result<Tensor, NodeError> {
        let strength = p.f64("strength");
        let tile = p.i64("tile") as usize;
        if matches!(self.loaded, Some((_, _, Loaded::Arbitrary { .. })))
            && inputs.get(1).and_then(|s| s.as_ref()).is_none()
        {
            self.read_style_file_param(p)?;
        }
        let (_, dev, model) = self.loaded.as_mut().expect("loaded");
        Ok(match model {
            Loaded::Multi(net) => {
                let w = style::parse_blend(p.str("style"), NUM_STYLES)?;
                net.set_tile_rows(tile);
                net.forward(x, &Tensor::from_vec(w, NUM_STYLES, dev)?)?
            }
            Loaded::Net(net) => {
                net.set_tile_rows(tile);
                net.forward(x)?
            }
            // Small U-Net: runs on the whole frame (`tile` does not apply).
            Loaded::Trained(net) => net.forward_any(x)?,
            Loaded::CycleGan(net) => net.forward(x)?,
            Loaded::Arbitrary {
                predictor,
                transform,
                style_cache,
            } => {
                let simg = match inputs.get(1).and_then(|s| s.as_ref()) {
                    Some(s) => *s,
                    None => self.style_file.as_ref().expect("read above").2.frame(),
                };
                let to256 = |t: &Tensor| wick_models::ops::upsample_bilinear2d(t, 256, 256, false);
                let h = simg.content_hash();
                let v = match style_cache {
                    Some((k, v)) if *k == h => v.clone(),
                    _ => {
                        let v = predictor.forward(&to256(&simg.rgb_tensor(dev)?)?)?;
                        *style_cache = Some((h, v.clone()));
                        v
                    }
                };
                let v = if strength < 1.0 {
                    let own = predictor.forward(&to256(x)?)?;
                    arbitrary::interpolate_style(&v, &own, strength)?
                } else {
                    v
                };
                transform.forward(x, &v)?
            }
        })
    }

    /// `temporal` > 0: the stabilised stylisation of the current frame `x` from the past frames
    /// the host gave (the per-frame stylisation when it gave none usable). On the CPU the
    /// current frame's stylisation and the motion (flows, chains: they do not depend on each
    /// other) run at once.
    fn stylise_stable(
        &mut self,
        ctx: &mut ProcessCtx,
        p: &Params,
        inputs: &[Option<Frame>],
        x: &Tensor,
    ) -> Result<Tensor, NodeError> {
        let src = inputs[0].as_ref().expect("checked");
        let (w, h) = (src.width(), src.height());
        // Consecutive past frames of the source's size, nearest first.
        let past: Vec<&Frame> = inputs
            .iter()
            .skip(2)
            .map_while(|i| i.as_ref())
            .take_while(|i| (i.width(), i.height()) == (w, h))
            .collect();
        if past.is_empty() {
            ctx.progress(
                0.1,
                "temporal: no past frames given, stylising this frame on its own",
            )?;
            let y = self.stylise(p, inputs, x)?;
            // Kept for the next frame, whose window starts with this one: the first frame of a
            // render is not stylised twice.
            let skey = styled_key(src.content_hash(), self.style_key(p, inputs)?);
            let kept = Arc::new(with_f32_slice(&y, |v| temporal::interleave(v, w * h))?);
            self.styled = HashMap::from([(skey, kept)]);
            return Ok(y);
        }
        let key = self.style_key(p, inputs)?;
        let dev_name = p.str("device").to_string();
        let dev = self.loaded.as_ref().expect("loaded").1.clone();
        if self
            .flow_net
            .as_ref()
            .map(|(k, _)| k != &dev_name)
            .unwrap_or(true)
        {
            let net = wick_models::rife::IfNet::load(&weights("rife42.safetensors"), &dev)?;
            self.flow_net = Some((dev_name, net));
        }
        // The window oldest first: each frame hashed as stored and converted only when not kept
        // from the previous window; the past frames' stylisations kept or computed now.
        let mut sources = Vec::with_capacity(past.len() + 1);
        let mut past_styled = Vec::with_capacity(past.len());
        let n = past.len() as f64;
        let mut styled = HashMap::new();
        let mut planar_in = HashMap::new();
        for (k, img) in past.iter().rev().chain(std::iter::once(&src)).enumerate() {
            let hash = img.content_hash();
            let input = match self.planar_in.get(&hash) {
                Some(c) => Arc::clone(c),
                None => Arc::new(img.planar(3, false)?),
            };
            planar_in.insert(hash, Arc::clone(&input));
            sources.push(temporal::SourceFrame { hash, input });
            if k == past.len() {
                break;
            }
            let skey = styled_key(hash, key);
            let s = match self.styled.get(&skey) {
                Some(s) => Arc::clone(s),
                None => {
                    ctx.progress(0.1 + 0.4 * k as f64 / n, "temporal: stylising past frames")?;
                    let y = self.stylise(p, inputs, &img.rgb_tensor(&dev)?)?;
                    Arc::new(with_f32_slice(&y, |v| temporal::interleave(v, w * h))?)
                }
            };
            styled.insert(skey, Arc::clone(&s));
            past_styled.push(s);
        }
        // The flows between past frames (after a seek; a sequential render has them from the
        // previous frame) here, where the host can cancel between them; the newest one and the
        // chains beside this frame's stylisation, where it cannot be asked; the carrying of the
        // past stylisations along the chains after it (`Window::render`).
        let past_refs: Vec<&[temporal::Rgbx]> = past_styled.iter().map(|s| &s[..]).collect();
        let amount = p.f64("temporal") as f32;
        let span = temporal::Span {
            frames: &sources,
            size: (h, w),
            styled: &past_refs,
            amount,
        };
        let mut cancel = || ctx.progress(0.5, "temporal: motion").is_err();
        let net = &self.flow_net.as_ref().expect("loaded").1;
        match self.window.past_motion((net, &dev), span, &mut cancel) {
            Ok(()) => {}
            Err(_) if ctx.cancelled() => return Err(NodeError::Cancelled),
            Err(e) => return Err(e.into()),
        }
        ctx.progress(0.5, "temporal: stylising this frame, its motion beside it")?;
        let mut window = std::mem::take(&mut self.window);
        let (dev_name, net) = self.flow_net.take().expect("loaded");
        let motion =
            |window: &mut temporal::Window| window.motion((&net, &dev), span, &mut || false);
        let (cur, m) = if dev.is_cpu() {
            rayon::join(|| self.stylise(p, inputs, x), || motion(&mut window))
        } else {
            // One device queue: one after the other.
            (self.stylise(p, inputs, x), motion(&mut window))
        };
        self.window = window;
        self.flow_net = Some((dev_name, net));
        let (cur, m) = (cur?, m?);
        ctx.progress(0.8, "temporal: mixing the window")?;
        let cur_hash = sources.last().expect("the current frame").hash;
        // This frame's stylisation kept for the next windows (half floats) beside the mix,
        // both read from the stylisation's own storage.
        let window = &mut self.window;
        let (kept, v) = with_f32_slice(&cur, |cur_p| {
            rayon::join(
                || Arc::new(temporal::interleave(cur_p, w * h)),
                || window.render(m, cur_p, span),
            )
        })?;
        styled.insert(styled_key(cur_hash, key), kept);
        // Keep what this window used: the next frame's window reuses all but one.
        self.styled = styled;
        self.planar_in = planar_in;
        Ok(Tensor::from_vec(v, cur.dims(), &Device::Cpu)?.to_device(&dev)?)
    }
}

/// The key of a frame's kept stylisation: the frame's content hash and the style's key
/// ([`StyleTransfer::style_key`]).
fn styled_key(frame: u64, style: u64) -> u64 {
    frame ^ style.rotate_left(17)
}

impl Node for StyleTransfer {
    fn process(
        &mut self,
        ctx: &mut ProcessCtx,
        p: &Params,
        inputs: &[Option<Frame>],
        outputs: &mut [FrameMut],
    ) -> Result<(), NodeError> {
        let src = inputs[0]
            .as_ref()
            .ok_or_else(|| NodeError::BadArgument("the 'source' input is required".into()))?;
        let out = &mut outputs[0];
        if (out.width(), out.height()) != (src.width(), src.height()) {
            return Err(NodeError::BadArgument(
                "output size must equal the source size".into(),
            ));
        }
        self.load(p)?;
        ctx.progress(0.0, "stylising")?;
        let dev = self.loaded.as_ref().expect("loaded").1.clone();
        let x = src.rgb_tensor(&dev)?;
        let mut styled = if p.f64("temporal") > 0.0 {
            // `temporal` < 1 is mixed in by the stabiliser (the past frames' weights scaled).
            self.stylise_stable(ctx, p, inputs, &x)?
        } else {
            // Nothing to keep between frames.
            self.styled.clear();
            self.stylise(p, inputs, &x)?
        };
        if !matches!(self.loaded, Some((_, _, Loaded::Arbitrary { .. }))) {
            styled = mix(&styled, &x, p.f64("strength"))?;
        }
        let styled = if p.bool("preserve_color") {
            preserve_color(&styled, &x)?
        } else {
            styled
        };
        out.write(&styled, Out::planar().alpha_of(src).clamped())?;
        ctx.progress(1.0, "done")?;
        Ok(())
    }
}

/// `strength · styled + (1 − strength) · source`.
fn mix(styled: &Tensor, source: &Tensor, strength: f64) -> Result<Tensor, NodeError> {
    if strength >= 1.0 {
        return Ok(styled.clone());
    }
    Ok((styled.affine(strength, 0.0)? + source.affine(1.0 - strength, 0.0)?)?)
}

/// Keeps the source's chroma and takes the stylised luma (BT.601 Y'CbCr): adding the same
/// amount to R, G and B changes Y' by that amount and leaves Cb and Cr unchanged.
fn preserve_color(styled: &Tensor, source: &Tensor) -> Result<Tensor, NodeError> {
    let luma = |t: &Tensor| -> candle_core::Result<Tensor> {
        let k = Tensor::new(&[0.299f32, 0.587, 0.114], t.device())?.reshape((1, 3, 1, 1))?;
        t.broadcast_mul(&k)?.sum_keepdim(1)
    };
    let d = (luma(styled)? - luma(source)?)?;
    Ok(source.broadcast_add(&d)?.clamp(0f32, 1f32)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Value;

    fn photo(w: usize, h: usize) -> Image {
        let mut img = Image::new(w, h).unwrap();
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 4;
                img.data[i] = x as f32 / w as f32;
                img.data[i + 1] = y as f32 / h as f32;
                img.data[i + 2] = ((x * 7 + y * 3) % 17) as f32 / 17.0;
                img.data[i + 3] = if x < w / 2 { 1.0 } else { 0.25 };
            }
        }
        img
    }

    fn run(node: &mut dyn Node, p: &Params, inputs: &[Option<Image>]) -> Result<Image, NodeError> {
        run_at(node, p, inputs, 0)
    }

    fn run_at(
        node: &mut dyn Node,
        p: &Params,
        inputs: &[Option<Image>],
        frame: i64,
    ) -> Result<Image, NodeError> {
        let src = inputs[0].as_ref().unwrap();
        let mut out = Image::new(src.width, src.height).unwrap();
        let mut ctx = ProcessCtx::new(frame as f64 / 25.0, frame, None);
        let frames: Vec<Option<Frame>> = inputs
            .iter()
            .map(|i| i.as_ref().map(Image::frame))
            .collect();
        node.process(&mut ctx, p, &frames, &mut [out.frame_mut()])?;
        Ok(out)
    }

    /// A textured, opaque frame whose content has moved `dx` pixels right.
    fn moved(w: usize, h: usize, dx: f32) -> Image {
        let mut img = Image::new(w, h).unwrap();
        for y in 0..h {
            for x in 0..w {
                let (u, v) = (x as f32 - dx, y as f32);
                let i = (y * w + x) * 4;
                img.data[i] = 0.5 + 0.4 * (u * 0.19).sin() * (v * 0.13).cos();
                img.data[i + 1] = 0.5 + 0.4 * (u * 0.07 + v * 0.11).sin();
                img.data[i + 2] = 0.5 + 0.3 * (u * 0.23 - v * 0.05).cos();
                img.data[i + 3] = 1.0;
            }
        }
        img
    }

    fn max_diff(a: &Image, b: &Image) -> f32 {
        wick_common::testing::max_abs(&a.data, &b.data)
    }

    #[test]
    fn tiled_render_equals_untiled_and_alpha_is_kept() {
        let d = describe();
        let mut p = Params::new(&d.params);
        p.set("device", Value::Str("cpu".into())).unwrap();
        p.set("style", Value::Str("3:0.5,12:0.5".into())).unwrap();
        let src = photo(70, 52);
        let mut node = StyleTransfer::create();
        let whole = run(node.as_mut(), &p, &[Some(src.clone()), None]).unwrap();
        p.set("tile", Value::Int(5)).unwrap();
        let tiled = run(node.as_mut(), &p, &[Some(src.clone()), None]).unwrap();
        let d = max_diff(&whole, &tiled);
        assert!(d <= 1e-5, "tiled differs from untiled by {d}");
        for (o, s) in whole.data.chunks_exact(4).zip(src.data.chunks_exact(4)) {
            assert_eq!(o[3], s[3]);
        }
        // The output is stylised, not the source.
        assert!(max_diff(&whole, &src) > 0.2);
    }

    #[test]
    fn strength_and_preserve_color() {
        let d = describe();
        let mut p = Params::new(&d.params);
        p.set("device", Value::Str("cpu".into())).unwrap();
        let src = photo(48, 40);
        let mut node = StyleTransfer::create();
        p.set("strength", Value::Float(0.0)).unwrap();
        let none = run(node.as_mut(), &p, &[Some(src.clone()), None]).unwrap();
        assert!(
            max_diff(&none, &src) < 1e-6,
            "strength 0 must give the source"
        );
        p.set("strength", Value::Float(1.0)).unwrap();
        p.set("preserve_color", Value::Bool(true)).unwrap();
        let pc = run(node.as_mut(), &p, &[Some(src.clone()), None]).unwrap();
        // Chroma (R - G, B - G) follows the source wherever no channel clipped.
        let mut worst = 0f32;
        for (o, s) in pc.data.chunks_exact(4).zip(src.data.chunks_exact(4)) {
            if o[..3].iter().all(|v| *v > 0.0 && *v < 1.0) {
                worst = worst
                    .max(((o[0] - o[1]) - (s[0] - s[1])).abs())
                    .max(((o[2] - o[1]) - (s[2] - s[1])).abs());
            }
        }
        assert!(worst < 1e-5, "chroma changed by {worst}");
    }

    #[test]
    fn arbitrary_needs_a_style_and_bad_specs_are_errors() {
        let d = describe();
        let mut p = Params::new(&d.params);
        p.set("device", Value::Str("cpu".into())).unwrap();
        let src = photo(40, 32);
        let mut node = StyleTransfer::create();
        p.set("style", Value::Str("26".into())).unwrap();
        let e = run(node.as_mut(), &p, &[Some(src.clone()), None]).unwrap_err();
        assert!(matches!(e, NodeError::BadArgument(_)), "{e}");
        p.set("model", Value::Str("arbitrary".into())).unwrap();
        let e = run(node.as_mut(), &p, &[Some(src.clone()), None]).unwrap_err();
        assert!(e.to_string().contains("style"), "{e}");
        let style = photo(64, 64);
        let out = run(node.as_mut(), &p, &[Some(src.clone()), Some(style)]).unwrap();
        assert!(out.data.iter().all(|v| v.is_finite()));
        p.set("model", Value::Str("/no/such/model.safetensors".into()))
            .unwrap();
        let e = run(node.as_mut(), &p, &[Some(src), None]).unwrap_err();
        assert!(matches!(e, NodeError::Model(_)), "{e}");
    }

    /// A host that cancels while the past frames' flows are computed (the first frame after a
    /// seek) gets `Cancelled`, and the instance still renders afterwards.
    #[test]
    fn temporal_motion_can_be_cancelled() {
        let d = describe();
        let (w, h) = (72, 56);
        let f: Vec<Image> = (0..4).map(|k| moved(w, h, 1.5 * k as f32)).collect();
        let mut p = Params::new(&d.params);
        p.set("device", Value::Str("cpu".into())).unwrap();
        p.set("temporal", Value::Float(1.0)).unwrap();
        let inputs: Vec<Option<Image>> = [Some(f[3].clone()), None]
            .into_iter()
            .chain((0..3).rev().map(|k| Some(f[k].clone())))
            .collect();
        let frames: Vec<Option<Frame>> = inputs
            .iter()
            .map(|i| i.as_ref().map(Image::frame))
            .collect();
        let mut node = StyleTransfer::create();
        let mut out = Image::new(w, h).unwrap();
        let mut asked = Vec::new();
        let mut progress = |_: f64, m: &str| {
            asked.push(m.to_string());
            m.contains("motion")
        };
        let mut ctx = ProcessCtx::new(3.0 / 25.0, 3, Some(&mut progress));
        let e = node
            .process(&mut ctx, &p, &frames, &mut [out.frame_mut()])
            .unwrap_err();
        assert!(matches!(e, NodeError::Cancelled), "{e}");
        assert!(asked.iter().any(|m| m == "temporal: motion"), "{asked:?}");
        // Not left half-done: the next call renders, as a fresh instance does.
        let again = run_at(node.as_mut(), &p, &inputs, 3).unwrap();
        let fresh = run_at(StyleTransfer::create().as_mut(), &p, &inputs, 3).unwrap();
        assert_eq!(again.data, fresh.data);
    }

    #[test]
    fn temporal_for_every_model_with_fallbacks() {
        let d = describe();
        let (w, h) = (72, 56);
        let f: Vec<Image> = (0..3).map(|k| moved(w, h, 1.5 * k as f32)).collect();
        let cyclegan = weights("cyclegan_vintage.safetensors");
        let models = [
            ("multistyle26".to_string(), None),
            ("arbitrary".to_string(), Some(photo(64, 64))),
            (cyclegan.to_string_lossy().into_owned(), None),
        ];
        for (model, style) in models {
            let mut p = Params::new(&d.params);
            p.set("device", Value::Str("cpu".into())).unwrap();
            p.set("model", Value::Str(model.clone())).unwrap();
            let mut node = StyleTransfer::create();
            let cur = Some(f[2].clone());
            let past = [Some(f[1].clone()), Some(f[0].clone())];
            let with_past: Vec<Option<Image>> = [cur.clone(), style.clone()]
                .into_iter()
                .chain(past.iter().cloned())
                .collect();
            let per = run_at(node.as_mut(), &p, &[cur.clone(), style.clone()], 2).unwrap();
            // temporal = 0 ignores past frames.
            let zero = run_at(node.as_mut(), &p, &with_past, 2).unwrap();
            assert_eq!(zero.data, per.data, "{model}: temporal 0 with past frames");
            p.set("temporal", Value::Float(1.0)).unwrap();
            // No past frame (clip start, a seek): the per-frame result.
            let alone = run_at(node.as_mut(), &p, &[cur.clone(), style.clone()], 2).unwrap();
            assert_eq!(alone.data, per.data, "{model}: no past frames");
            // A past frame of another size is not this clip's: ignored.
            let odd = vec![cur.clone(), style.clone(), Some(moved(w + 2, h, 0.0))];
            let odd = run_at(node.as_mut(), &p, &odd, 2).unwrap();
            assert_eq!(odd.data, per.data, "{model}: past frame of another size");
            // With past frames: stabilised (not the per-frame result), finite, alpha kept.
            let t = run_at(node.as_mut(), &p, &with_past, 2).unwrap();
            assert!(t.data.iter().all(|v| v.is_finite()), "{model}");
            assert!(
                max_diff(&t, &per) > 1e-3,
                "{model}: temporal changed nothing"
            );
            assert!(t.data.chunks_exact(4).all(|px| px[3] == 1.0));
            // Cached or recomputed, the same bytes; a half mix lies between.
            let mut fresh = StyleTransfer::create();
            let again = run_at(fresh.as_mut(), &p, &with_past, 2).unwrap();
            assert_eq!(again.data, t.data, "{model}: depends on the cache");
            p.set("temporal", Value::Float(0.5)).unwrap();
            let half = run_at(node.as_mut(), &p, &with_past, 2).unwrap();
            let mean_diff = |a: &Image, b: &Image| {
                a.data
                    .iter()
                    .zip(&b.data)
                    .map(|(x, y)| (x - y).abs() as f64)
                    .sum::<f64>()
                    / a.data.len() as f64
            };
            let mid = mean_diff(&half, &per);
            assert!(mid > 0.0 && mid < mean_diff(&t, &per), "{model}");
        }
    }
}
