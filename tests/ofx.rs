//! The OpenFX bundle through a test host written from the spec (`tests/ofx_host`): every node
//! and context renders the same pixels as `wick run` with the same params (±1 at 8 bits,
//! ≤1e-5 at float), and the failure paths (missing suites, bad images, unsupported depths,
//! cancel, panics, bad handles) return statuses with messages, without leaking an image.

mod ofx_host;

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use ofx_host::*;
use wick_tests::{ofx_bundle, scratch, wick};

/// The plugin keeps one host per process (as OFX intends), so tests take turns.
fn serial() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    let g = L.lock().unwrap_or_else(|e| e.into_inner());
    let mut l = log();
    *l = Log::default();
    g
}

fn plugin(id: &str) -> Plugin {
    let p = bundle(ofx_bundle()).plugin(id);
    assert_eq!(p.load(), OK, "Load {id}");
    p
}

/// Describe + DescribeInContext + CreateInstance.
fn instance(p: &Plugin, ctx: &str) -> Box<Effect> {
    let d = p.describe();
    let (st, cd) = p.describe_in_context(&d, ctx);
    assert_eq!(st, OK, "DescribeInContext {ctx}");
    p.create_instance(&cd, ctx)
}

fn ok(cmd: &mut Command) {
    let out = cmd.output().expect("spawn wick");
    assert!(
        out.status.success(),
        "wick failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `wick run NODE --in INPUTS --out OUT --param P...`.
fn wick_run(node: &str, inputs: &[&Path], out: &Path, params: &[&str], frame: i64) {
    let mut c = wick();
    c.env("WICK_ENABLE_TEST_NODES", "1").args(["run", node]);
    if !inputs.is_empty() {
        c.arg("--in").args(inputs);
    }
    c.arg("--out")
        .arg(out)
        .args(["--frame", &frame.to_string()]);
    for p in params {
        c.args(["--param", p]);
    }
    ok(&mut c);
}

/// A test picture (straight sRGB RGBA in [0, 1], alpha varying), different per `seed`.
fn picture(w: usize, h: usize, seed: usize) -> Vec<[f32; 4]> {
    (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            let s = seed as f32;
            [
                (0.5 + 0.5 * ((x + 3.0 * s) * 0.21).sin()) * 0.9,
                (0.5 + 0.5 * ((y - s) * 0.33).cos()) * 0.8,
                ((x + y + 5.0 * s) % 17.0) / 17.0,
                0.35 + 0.65 * ((x * y + s) % 11.0) / 10.0,
            ]
        })
        .collect()
}

fn srgb_to_linear(x: f32) -> f32 {
    if x <= 0.04045 {
        x / 12.92
    } else {
        ((x + 0.055) / 1.055).powf(2.4)
    }
}

/// The picture as an 8-bit straight RGBA host image and the same bytes as a PNG.
fn byte_input(pic: &[[f32; 4]], w: usize, h: usize, png: &Path) -> HostImage {
    let mut img = HostImage::new(w, h, 4, Depth::Byte, false);
    for (i, p) in pic.iter().enumerate() {
        for (c, v) in p.iter().enumerate() {
            img.samples[i * 4 + c] = (v * 255.0).round();
        }
    }
    let bytes: Vec<u8> = img.samples.iter().map(|v| *v as u8).collect();
    image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .unwrap()
        .save(png)
        .unwrap();
    img
}

/// The picture as float linear premultiplied RGBA and the same floats as an EXR.
fn float_input(pic: &[[f32; 4]], w: usize, h: usize, exr: &Path) -> HostImage {
    let mut img = HostImage::new(w, h, 4, Depth::Float, true);
    for (i, p) in pic.iter().enumerate() {
        for c in 0..3 {
            img.samples[i * 4 + c] = srgb_to_linear(p[c]) * p[3];
        }
        img.samples[i * 4 + 3] = p[3];
    }
    image::DynamicImage::ImageRgba32F(
        image::Rgba32FImage::from_raw(w as u32, h as u32, img.samples.clone()).unwrap(),
    )
    .save(exr)
    .unwrap();
    img
}

/// Max |OFX - wick run| over the channels both have (RGB images: the first three). The file
/// is read as 8-bit RGBA (PNG; the image's samples are 0-255) or float RGBA (EXR).
fn diff_file(ofx: &HostImage, file: &Path) -> f32 {
    let img = image::open(file).unwrap();
    let (w, h) = (img.width() as usize, img.height() as usize);
    assert_eq!((w, h), (ofx.width, ofx.height));
    let want: Vec<f32> = if ofx.depth == Depth::Byte {
        img.to_rgba8()
            .into_raw()
            .into_iter()
            .map(f32::from)
            .collect()
    } else {
        img.to_rgba32f().into_raw()
    };
    let mut m = 0f32;
    for (i, px) in want.chunks_exact(4).enumerate() {
        for (c, v) in px.iter().enumerate().take(ofx.channels) {
            m = m.max((ofx.samples[i * ofx.channels + c] - v).abs());
        }
    }
    m
}

fn set_output(e: &mut Effect, w: usize, h: usize, ch: usize, depth: Depth, premult: bool) {
    e.clip("Output").output = Some((HostImage::new(w, h, ch, depth, premult), 0, 0));
}

fn connect(e: &mut Effect, clip: &str, connected: bool) {
    e.clip(clip)
        .props
        .set_int("OfxImageClipPropConnected", &[connected as i32]);
}

fn rendered(e: &mut Effect) -> HostImage {
    e.clip("Output")
        .rendered
        .take()
        .expect("an output image was released")
}

fn assert_no_leaks() {
    let l = log();
    assert_eq!(l.live_images, 0, "images not released: {l:?}");
    assert!(
        l.host_errors.is_empty(),
        "host noticed: {:?}",
        l.host_errors
    );
}

fn messages() -> Vec<(String, String)> {
    log().messages.clone()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn bundle_lists_every_node_as_an_image_effect() {
    let _g = serial();
    let b = bundle(ofx_bundle());
    let ids: Vec<String> = b.plugins.iter().map(|p| p.identifier()).collect();
    for id in [
        "org.wick.generate",
        "org.wick.style-transfer",
        "org.wick.interpolate",
        "org.wick.debug",
        "org.wick.debug-long",
    ] {
        assert!(ids.contains(&id.to_string()), "{id} missing from {ids:?}");
    }
    for p in &b.plugins {
        assert_eq!(p.api(), ("OfxImageEffectPluginAPI".to_string(), 1));
    }
    assert!(b.raw_get_plugin(-1).is_null());
    assert!(b.raw_get_plugin(b.plugins.len() as i32).is_null());

    let contexts = |id: &str| {
        let p = plugin(id);
        p.describe()
            .props
            .strs("OfxImageEffectPropSupportedContexts")
            .unwrap()
    };
    assert_eq!(
        contexts("org.wick.generate"),
        ["OfxImageEffectContextGenerator"]
    );
    assert_eq!(
        contexts("org.wick.style-transfer"),
        ["OfxImageEffectContextFilter"]
    );
    assert_eq!(
        contexts("org.wick.interpolate"),
        [
            "OfxImageEffectContextTransition",
            "OfxImageEffectContextGeneral"
        ]
    );
    assert_eq!(
        contexts("org.wick.debug-long"),
        ["OfxImageEffectContextGeneral"]
    );

    let p = plugin("org.wick.style-transfer");
    let d = p.describe();
    assert_eq!(
        d.props
            .strs("OfxImageEffectPropSupportedPixelDepths")
            .unwrap(),
        [
            "OfxBitDepthByte",
            "OfxBitDepthShort",
            "OfxBitDepthHalf",
            "OfxBitDepthFloat"
        ]
    );
    assert_eq!(d.props.int("OfxImageEffectPropSupportsTiles"), Some(0));
    assert_eq!(
        d.props
            .str("OfxImageEffectPluginRenderThreadSafety")
            .unwrap(),
        "OfxImageEffectRenderInstanceSafe"
    );
    assert_eq!(
        d.props.str("OfxImageEffectPluginPropGrouping").unwrap(),
        "Wick/Stylise"
    );
    let (st, f) = p.describe_in_context(&d, "OfxImageEffectContextFilter");
    assert_eq!(st, OK);
    let mut names: Vec<&String> = f.clips.keys().collect();
    names.sort();
    assert_eq!(names, ["Output", "Source", "Style"]);
    assert_eq!(
        f.clips["Style"].props.int("OfxImageClipPropOptional"),
        Some(1)
    );
    assert_eq!(
        f.clips["Source"]
            .props
            .strs("OfxImageEffectPropSupportedComponents")
            .unwrap(),
        ["OfxImageComponentRGBA", "OfxImageComponentRGB"]
    );
    let strength = &f.params.params["strength"].props;
    assert_eq!(
        strength.str("OfxParamPropType").unwrap(),
        "OfxParamTypeDouble"
    );
    assert_eq!(strength.dbls("OfxParamPropDefault").unwrap(), [1.0]);
    assert_eq!(strength.dbls("OfxParamPropMin").unwrap(), [0.0]);
    assert_eq!(strength.dbls("OfxParamPropMax").unwrap(), [1.0]);
    assert_eq!(strength.str("OfxPropLabel").unwrap(), "Strength");
    assert!(strength
        .str("OfxParamPropHint")
        .unwrap()
        .contains("full style"));
    assert_eq!(strength.int("OfxParamPropAnimates"), Some(1));
    let device = &f.params.params["device"].props;
    assert_eq!(
        device.str("OfxParamPropType").unwrap(),
        "OfxParamTypeChoice"
    );
    assert!(device
        .strs("OfxParamPropChoiceOption")
        .unwrap()
        .contains(&"cpu".to_string()));
    assert_eq!(
        f.params.params["preserve_color"]
            .props
            .str("OfxParamPropType")
            .unwrap(),
        "OfxParamTypeBoolean"
    );
    assert_eq!(
        f.params.params["tile"]
            .props
            .str("OfxParamPropType")
            .unwrap(),
        "OfxParamTypeInteger"
    );
    // An unsupported context is refused.
    let (st, _) = p.describe_in_context(&d, "OfxImageEffectContextPaint");
    assert_ne!(st, OK);

    let p = plugin("org.wick.interpolate");
    let d = p.describe();
    assert_eq!(d.props.int("OfxImageEffectPropTemporalClipAccess"), Some(1));
    let (st, t) = p.describe_in_context(&d, "OfxImageEffectContextTransition");
    assert_eq!(st, OK);
    assert!(t.clips.contains_key("SourceFrom") && t.clips.contains_key("SourceTo"));
    assert!(t.params.params.contains_key("Transition") && !t.params.params.contains_key("t"));
    let weights = &t.params.params["weights"].props;
    assert_eq!(
        weights.str("OfxParamPropStringMode").unwrap(),
        "OfxParamStringIsFilePath"
    );
    let (st, g) = p.describe_in_context(&d, "OfxImageEffectContextGeneral");
    assert_eq!(st, OK);
    assert_eq!(
        g.clips["Source"]
            .props
            .int("OfxImageEffectPropTemporalClipAccess"),
        Some(1)
    );
    assert!(g.params.params.contains_key("t"));

    let p = plugin("org.wick.debug-long");
    let d = p.describe();
    let (_, g) = p.describe_in_context(&d, "OfxImageEffectContextGeneral");
    assert_eq!(
        g.params.params["wick_run"]
            .props
            .str("OfxParamPropType")
            .unwrap(),
        "OfxParamTypePushButton"
    );
    assert_no_leaks();
}

#[test]
fn generate_matches_wick_run_at_byte_and_float() {
    let _g = serial();
    let d = scratch("ofx-generate");
    let params = ["seed=7", "width=64", "height=48", "speed=0.5"];
    wick_run("wick.generate", &[], &d.join("g.png"), &params, 12);
    wick_run("wick.generate", &[], &d.join("g.exr"), &params, 12);
    let p = plugin("org.wick.generate");
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    e.set("seed", Val::I(7));
    e.set("width", Val::I(64));
    e.set("height", Val::I(48));
    e.set("speed", Val::D(vec![0.5]));

    // The RoD is the width x height params; clip preferences ask for premultiplied RGBA.
    let (st, rod) = p.timed_action(&mut e, "OfxImageEffectActionGetRegionOfDefinition", 12.0);
    assert_eq!(st, OK);
    assert_eq!(
        rod.dbls("OfxImageEffectPropRegionOfDefinition").unwrap(),
        [0.0, 0.0, 64.0, 48.0]
    );
    let (st, prefs) = p.timed_action(&mut e, "OfxImageEffectActionGetClipPreferences", 12.0);
    assert_eq!(st, OK);
    assert_eq!(
        prefs.str("OfxImageEffectPropPreMultiplication").unwrap(),
        "OfxImageAlphaPremultiplied"
    );

    set_output(&mut e, 64, 48, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 12.0, 1.0), OK, "{:?}", messages());
    assert_eq!(
        e.param("mix").last_time,
        12.0,
        "params are read at the rendered frame"
    );
    let m = diff_file(&rendered(&mut e), &d.join("g.png"));
    assert!(m <= 1.0, "byte RGBA vs wick run: max diff {m}");

    set_output(&mut e, 64, 48, 4, Depth::Float, true);
    assert_eq!(p.render(&mut e, 12.0, 1.0), OK);
    let m = diff_file(&rendered(&mut e), &d.join("g.exr"));
    assert!(
        m <= 1e-5,
        "float RGBA premultiplied vs wick run: max diff {m}"
    );

    // RGB, top-down memory (negative row bytes) with padded rows.
    set_output(&mut e, 64, 48, 3, Depth::Byte, false);
    e.clip("Output").layout = Layout {
        negative_row_bytes: true,
        pad: 7,
        ..Layout::default()
    };
    assert_eq!(p.render(&mut e, 12.0, 1.0), OK);
    let m = diff_file(&rendered(&mut e), &d.join("g.png"));
    assert!(m <= 1.0, "byte RGB, negative row bytes: max diff {m}");

    // Another frame is another picture (the latent walks).
    set_output(&mut e, 64, 48, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 36.0, 1.0), OK);
    assert!(diff_file(&rendered(&mut e), &d.join("g.png")) > 8.0);
    assert_eq!(p.destroy_instance(&mut e), OK);
    assert_no_leaks();
}

#[test]
fn proxy_render_runs_on_the_proxy_size_image() {
    let _g = serial();
    let d = scratch("ofx-proxy");
    wick_run(
        "wick.generate",
        &[],
        &d.join("half.png"),
        &["seed=3", "width=32", "height=24"],
        0,
    );
    let p = plugin("org.wick.generate");
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    e.set("seed", Val::I(3));
    e.set("width", Val::I(64));
    e.set("height", Val::I(48));
    // At render scale 0.5 the host hands out a 32x24 image for the 64x48 RoD.
    set_output(&mut e, 32, 24, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 0.0, 0.5), OK);
    let m = diff_file(&rendered(&mut e), &d.join("half.png"));
    assert!(m <= 1.0, "proxy render vs wick run at 32x24: {m}");
    assert_no_leaks();
}

#[test]
fn style_transfer_filter_matches_wick_run() {
    let _g = serial();
    let d = scratch("ofx-style");
    let (w, h) = (64, 48);
    let pic = picture(w, h, 1);
    let src8 = byte_input(&pic, w, h, &d.join("in.png"));
    let srcf = float_input(&pic, w, h, &d.join("in.exr"));
    let params = ["style=4", "strength=0.8"];
    wick_run(
        "wick.style-transfer",
        &[&d.join("in.png")],
        &d.join("out.png"),
        &params,
        0,
    );
    wick_run(
        "wick.style-transfer",
        &[&d.join("in.exr")],
        &d.join("out.exr"),
        &params,
        0,
    );

    let p = plugin("org.wick.style-transfer");
    let mut e = instance(&p, "OfxImageEffectContextFilter");
    e.set("style", Val::S(c"4".into()));
    e.set("strength", Val::D(vec![0.8]));
    connect(&mut e, "Style", false);

    e.clip("Source").frames.insert(0, src8);
    set_output(&mut e, w, h, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK, "{:?}", messages());
    let m = diff_file(&rendered(&mut e), &d.join("out.png"));
    assert!(m <= 1.0, "byte straight RGBA: max diff {m}");

    // Float premultiplied, the source in bottom-up memory with padded rows.
    e.clip("Source").frames.insert(0, srcf);
    e.clip("Source").layout = Layout {
        pad: 12,
        ..Layout::default()
    };
    set_output(&mut e, w, h, 4, Depth::Float, true);
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    let m = diff_file(&rendered(&mut e), &d.join("out.exr"));
    assert!(m <= 1e-5, "float premultiplied RGBA: max diff {m}");
    assert_no_leaks();
}

#[test]
fn interpolate_as_transition_and_as_retime_matches_wick_run() {
    let _g = serial();
    let d = scratch("ofx-interpolate");
    let (w, h) = (64, 48);
    let a = byte_input(&picture(w, h, 2), w, h, &d.join("a.png"));
    let b = byte_input(&picture(w, h, 5), w, h, &d.join("b.png"));
    wick_run(
        "wick.interpolate",
        &[&d.join("a.png"), &d.join("b.png")],
        &d.join("t03.png"),
        &["t=0.3"],
        0,
    );
    wick_run(
        "wick.interpolate",
        &[&d.join("a.png"), &d.join("b.png")],
        &d.join("t05.png"),
        &["t=0.5"],
        0,
    );
    let p = plugin("org.wick.interpolate");

    // Transition: SourceFrom, SourceTo and the Transition param.
    let mut e = instance(&p, "OfxImageEffectContextTransition");
    e.clip("SourceFrom").frames.insert(3, a.clone());
    e.clip("SourceTo").frames.insert(3, b.clone());
    e.set("Transition", Val::D(vec![0.3]));
    set_output(&mut e, w, h, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 3.0, 1.0), OK, "{:?}", messages());
    let m = diff_file(&rendered(&mut e), &d.join("t03.png"));
    assert!(m <= 1.0, "transition vs wick run: {m}");
    let (st, _) = p.timed_action(&mut e, "OfxImageEffectActionGetFramesNeeded", 3.0);
    assert_eq!(
        st, REPLY_DEFAULT,
        "a transition reads its clips at the current frame"
    );

    // General: one Source clip, frames 10 and 11 feed a and b (b at frame_offset 1).
    let mut e = instance(&p, "OfxImageEffectContextGeneral");
    e.clip("Source").frames.insert(10, a);
    e.clip("Source").frames.insert(11, b.clone());
    e.set("t", Val::D(vec![0.5]));
    let (st, needed) = p.timed_action(&mut e, "OfxImageEffectActionGetFramesNeeded", 10.0);
    assert_eq!(st, OK);
    assert_eq!(
        needed.dbls("OfxImageClipPropFrameRange_Source").unwrap(),
        [10.0, 11.0]
    );
    set_output(&mut e, w, h, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 10.0, 1.0), OK, "{:?}", messages());
    let m = diff_file(&rendered(&mut e), &d.join("t05.png"));
    assert!(m <= 1.0, "retime vs wick run: {m}");
    // At the last frame the next one is missing: the frame is held (b with itself).
    wick_run(
        "wick.interpolate",
        &[&d.join("b.png"), &d.join("b.png")],
        &d.join("held.png"),
        &["t=0.5"],
        0,
    );
    assert_eq!(p.render(&mut e, 11.0, 1.0), OK, "{:?}", messages());
    let m = diff_file(&rendered(&mut e), &d.join("held.png"));
    assert!(m <= 1.0, "held last frame vs wick run: {m}");
    assert_no_leaks();
}

#[test]
fn every_depth_and_layout_round_trips_through_the_debug_node() {
    let _g = serial();
    let p = plugin("org.wick.debug");
    let mut e = instance(&p, "OfxImageEffectContextGeneral");
    let (w, h) = (13, 7);
    let pic = picture(w, h, 3);
    for (depth, ch, premult, max) in [
        (Depth::Byte, 4, false, 255.0),
        (Depth::Short, 3, false, 65535.0),
        (Depth::Short, 4, true, 65535.0),
        (Depth::Half, 4, true, 1.0),
        (Depth::Float, 3, false, 1.0),
    ] {
        for negative in [false, true] {
            let mut src = HostImage::new(w, h, ch, depth, premult);
            for (i, p) in pic.iter().enumerate() {
                let a = if ch == 4 { p[3] } else { 1.0 };
                for (c, pc) in p.iter().enumerate().take(ch) {
                    let v = if c == 3 {
                        a
                    } else if max == 1.0 {
                        srgb_to_linear(*pc) * if premult { a } else { 1.0 }
                    } else {
                        pc * if premult { a } else { 1.0 }
                    };
                    let v = if max > 1.0 { (v * max).round() } else { v };
                    src.samples[i * ch + c] = v;
                }
            }
            e.clip("Source").frames.insert(0, src.clone());
            e.clip("Source").layout = Layout {
                negative_row_bytes: negative,
                pad: 3,
                ..Layout::default()
            };
            set_output(&mut e, w, h, ch, depth, premult);
            e.clip("Output").layout = Layout {
                negative_row_bytes: !negative,
                ..Layout::default()
            };
            assert_eq!(
                p.render(&mut e, 0.0, 1.0),
                OK,
                "{depth:?} {ch}: {:?}",
                messages()
            );
            let out = rendered(&mut e);
            let tol = match depth {
                Depth::Byte | Depth::Short => 1.0,
                Depth::Half => 2e-3,
                Depth::Float => 1e-5,
            };
            for (i, (x, y)) in out.samples.iter().zip(&src.samples).enumerate() {
                assert!(
                    (x - y).abs() <= tol,
                    "{depth:?} {ch}ch premult={premult} negative={negative} sample {i}: {x} vs {y}"
                );
            }
        }
    }
    assert_no_leaks();
}

#[test]
fn inputs_with_other_bounds_are_cropped_not_resampled() {
    let _g = serial();
    let p = plugin("org.wick.debug");
    let mut e = instance(&p, "OfxImageEffectContextGeneral");
    let (w, h) = (13, 7);
    let mut src = HostImage::new(w, h, 4, Depth::Byte, false);
    for (i, v) in src.samples.iter_mut().enumerate() {
        *v = (i % 251) as f32;
    }
    e.clip("Source").frames.insert(0, src.clone());
    // The output covers x 2..12, y 1..6 (y up) of the input's 0..13 x 0..7.
    e.clip("Output").output = Some((HostImage::new(10, 5, 4, Depth::Byte, false), 2, 1));
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK, "{:?}", messages());
    let out = rendered(&mut e);
    for r in 0..5 {
        for c in 0..10 {
            for k in 0..4 {
                // Output row r (from the top) is y = 5 - r, which is input row 6 - y = r + 1.
                let want = src.samples[((r + 1) * w + c + 2) * 4 + k];
                assert_eq!(out.samples[(r * 10 + c) * 4 + k], want, "row {r} col {c}");
            }
        }
    }
    assert_no_leaks();
}

// ----- failure paths ---------------------------------------------------------------------------

#[test]
fn a_missing_mandatory_suite_refuses_to_load() {
    let _g = serial();
    let p = bundle(ofx_bundle()).plugin("org.wick.generate");
    for suite in [
        "OfxPropertySuite",
        "OfxImageEffectSuite",
        "OfxParameterSuite",
    ] {
        log().missing = vec![suite.to_string()];
        assert_eq!(p.load(), ERR_MISSING_HOST_FEATURE, "without {suite}");
        assert!(bundle(ofx_bundle()).last_error().contains(suite));
    }
    // A suite whose function Wick calls is NULL.
    log().missing.clear();
    log().holed_param_suite = true;
    assert_eq!(p.load(), ERR_MISSING_HOST_FEATURE);
    assert!(bundle(ofx_bundle())
        .last_error()
        .contains("param_get_value_at_time"));
    log().holed_param_suite = false;
    // Message and progress suites are optional: loading works, errors still return statuses.
    log().missing = vec!["OfxMessageSuite".into(), "OfxProgressSuite".into()];
    assert_eq!(p.load(), OK);
    assert!(
        messages().is_empty(),
        "a failed Load posts nothing: {:?}",
        messages()
    );
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    e.set("width", Val::I(-5)); // outside the param's range
    set_output(&mut e, 8, 8, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED);
    assert!(messages().is_empty());
    assert!(bundle(ofx_bundle()).last_error().contains("width"));
    log().missing.clear();
    assert_eq!(p.load(), OK);
    assert_no_leaks();
}

#[test]
fn null_data_and_bad_row_bytes_fail_with_a_message_and_release_every_image() {
    let _g = serial();
    let p = plugin("org.wick.debug");
    let mut e = instance(&p, "OfxImageEffectContextGeneral");
    let src = HostImage::new(8, 8, 4, Depth::Byte, false);
    e.clip("Source").frames.insert(0, src);
    set_output(&mut e, 8, 8, 4, Depth::Byte, false);

    e.clip("Source").layout.null_data = true;
    assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED);
    let m = messages();
    assert!(
        m.iter()
            .any(|(k, t)| k == "OfxMessageError" && t.contains("NULL")),
        "{m:?}"
    );
    assert_no_leaks();
    e.clip("Source").layout.null_data = false;

    for rb in [0, 8, -8] {
        log().messages.clear();
        e.clip("Output").layout.row_bytes_override = Some(rb);
        assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED, "row bytes {rb}");
        let m = messages();
        assert!(m.iter().any(|(_, t)| t.contains("row bytes")), "{m:?}");
        assert_no_leaks();
    }
    e.clip("Output").layout.row_bytes_override = None;
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    assert_no_leaks();
}

#[test]
fn unsupported_depth_and_unconnected_clips_fail_cleanly() {
    let _g = serial();
    let p = plugin("org.wick.style-transfer");
    let mut e = instance(&p, "OfxImageEffectContextFilter");
    connect(&mut e, "Style", false);
    e.clip("Source")
        .frames
        .insert(0, HostImage::new(16, 16, 4, Depth::Byte, false));
    set_output(&mut e, 16, 16, 4, Depth::Byte, false);
    for depth in ["OfxBitDepthNone", "OfxBitDepthDouble"] {
        log().messages.clear();
        e.clip("Source").layout.depth_override = Some(depth.into());
        assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED);
        let m = messages();
        assert!(
            m.iter()
                .any(|(_, t)| t.contains("pixel depth") && t.contains(depth)),
            "{m:?}"
        );
        assert_no_leaks();
    }
    e.clip("Source").layout.depth_override = None;
    connect(&mut e, "Source", false);
    assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED);
    assert!(messages().iter().any(|(_, t)| t.contains("not connected")));
    // A frame the clip does not have.
    connect(&mut e, "Source", true);
    assert_eq!(p.render(&mut e, 5.0, 1.0), FAILED);
    assert_no_leaks();
}

#[test]
fn run_button_reports_progress_and_cancel_stops_it() {
    let _g = serial();
    let p = plugin("org.wick.debug-long");
    let mut e = instance(&p, "OfxImageEffectContextGeneral");
    let mut src = HostImage::new(16, 12, 4, Depth::Byte, false);
    for (i, v) in src.samples.iter_mut().enumerate() {
        *v = if i % 4 == 3 {
            255.0
        } else {
            (i * 7 % 256) as f32
        };
    }
    e.clip("Source").frames.insert(0, src.clone());
    e.set("steps", Val::I(10));

    // Cancelled at the third progress update: no result; Render passes the input through.
    log().cancel_at_update = Some(3);
    assert_eq!(p.push_button(&mut e, "wick_run", 0.0), OK);
    {
        let l = log();
        assert_eq!(
            l.progress.first().map(String::as_str),
            Some("start Debug Long Run (test only)")
        );
        assert_eq!(l.progress.last().map(String::as_str), Some("end"));
        assert_eq!(l.updates, 3, "stopped at the cancel: {:?}", l.progress);
        assert!(l.messages.iter().any(|(_, t)| t.contains("cancelled")));
    }
    set_output(&mut e, 16, 12, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    assert_eq!(rendered(&mut e).samples, src.samples);

    // Not cancelled: all updates, and Render shows the result (the inverted input).
    log().cancel_at_update = None;
    log().updates = 0;
    assert_eq!(p.push_button(&mut e, "wick_run", 0.0), OK);
    assert_eq!(log().updates, 10);
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    let out = rendered(&mut e);
    for (i, (o, s)) in out.samples.iter().zip(&src.samples).enumerate() {
        let want = if i % 4 == 3 { *s } else { 255.0 - s };
        assert_eq!(*o, want, "sample {i}");
    }
    // Another param's change is not the button.
    assert_eq!(p.push_button(&mut e, "steps", 0.0), REPLY_DEFAULT);
    assert_no_leaks();

    // A host abort during Render: quiet failure, images released.
    let p = plugin("org.wick.debug");
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    set_output(&mut e, 8, 8, 4, Depth::Byte, false);
    log().messages.clear();
    log().abort = true;
    assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED);
    log().abort = false;
    assert!(messages().is_empty(), "an abort is not an error dialog");
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    assert_no_leaks();
}

#[test]
fn panics_bad_handles_and_unknown_actions_are_statuses() {
    let _g = serial();
    let p = plugin("org.wick.debug");
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    set_output(&mut e, 8, 8, 4, Depth::Byte, false);
    e.set("mode", Val::I(1)); // "panic"
    assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED);
    assert!(messages().iter().any(|(_, t)| t.contains("asked to panic")));
    assert!(bundle(ofx_bundle()).last_error().contains("asked to panic"));
    assert_no_leaks();
    e.set("mode", Val::I(7)); // out of range choice
    assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED);
    e.set("mode", Val::I(0));
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK, "the instance keeps working");

    // NULL handle, a descriptor (no instance data), a destroyed instance.
    assert_eq!(
        p.call(
            "OfxImageEffectActionRender",
            std::ptr::null_mut(),
            None,
            None
        ),
        ERR_BAD_HANDLE
    );
    let mut desc = p.describe();
    assert_eq!(p.render(&mut desc, 0.0, 1.0), ERR_BAD_HANDLE);
    assert_eq!(p.destroy_instance(&mut e), OK);
    assert_eq!(p.render(&mut e, 0.0, 1.0), ERR_BAD_HANDLE);
    // Unknown actions take the default; a NULL action is an error, not a crash.
    assert_eq!(
        p.call("OfxActionNotInTheSpec", desc.handle(), None, None),
        REPLY_DEFAULT
    );
    assert_ne!(p.call_raw(std::ptr::null(), desc.handle()), OK);
    // Render without the in-args property set.
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    assert_eq!(
        p.call("OfxImageEffectActionRender", e.handle(), None, None),
        ERR_BAD_HANDLE
    );
    assert_no_leaks();
}

#[test]
fn every_action_with_null_or_wrong_arguments_returns_a_status() {
    let _g = serial();
    let b = bundle(ofx_bundle());
    let actions = [
        "OfxActionDescribe",
        "OfxImageEffectActionDescribeInContext",
        "OfxActionCreateInstance",
        "OfxImageEffectActionGetRegionOfDefinition",
        "OfxImageEffectActionGetFramesNeeded",
        "OfxImageEffectActionGetClipPreferences",
        "OfxActionInstanceChanged",
        "OfxImageEffectActionRender",
        "OfxActionDestroyInstance",
        "OfxActionPurgeCaches",
    ];
    let fine = [
        OK,
        FAILED,
        ERR_UNKNOWN,
        ERR_UNSUPPORTED,
        ERR_BAD_HANDLE,
        REPLY_DEFAULT,
    ];
    for raw in &b.plugins {
        let p = plugin(&raw.identifier());
        for action in actions {
            // A NULL handle, and a bare effect with no properties (not described, no instance).
            let st = p.call(action, std::ptr::null_mut(), None, None);
            assert!(fine.contains(&st), "{action} on NULL: {st}");
            if action != "OfxActionDescribe" && action != "OfxActionPurgeCaches" {
                assert_ne!(st, OK, "{action} on a NULL handle cannot succeed");
            }
            let mut bare = Effect::new(PropSet::default());
            let st = p.call(action, bare.handle(), None, None);
            assert!(fine.contains(&st), "{action} on a bare effect: {st}");
            let mut args = PropSet::default();
            let st = p.call(
                action,
                bare.handle(),
                Some(&mut args),
                Some(&mut PropSet::default()),
            );
            assert!(fine.contains(&st), "{action} with empty args: {st}");
        }
        // An instance with empty in-args for every instance action.
        let d = p.describe();
        let ctx = d.props.strs("OfxImageEffectPropSupportedContexts").unwrap()[0].clone();
        let mut e = instance(&p, &ctx);
        for action in &actions[3..8] {
            let st = p.call(action, e.handle(), Some(&mut PropSet::default()), None);
            assert!(
                fine.contains(&st) && st != OK,
                "{action} with empty in-args: {st}"
            );
        }
        assert_eq!(p.destroy_instance(&mut e), OK);
    }
    assert_eq!(log().live_images, 0);
}

#[test]
fn instances_render_on_several_threads_at_once() {
    let _g = serial();
    let p = plugin("org.wick.generate");
    let mut serial_out = Vec::new();
    let mut effects = Vec::new();
    for seed in [4, 9] {
        let mut e = instance(&p, "OfxImageEffectContextGenerator");
        e.set("seed", Val::I(seed));
        set_output(&mut e, 48, 32, 4, Depth::Float, true);
        assert_eq!(p.render(&mut e, 5.0, 1.0), OK);
        serial_out.push(rendered(&mut e));
        effects.push(e);
    }
    struct Sendable(Box<Effect>, &'static RawPlugin);
    // SAFETY: each effect is used by one thread only; the host's shared state is locked, and
    // the plugin struct is immutable static data of the loaded library.
    unsafe impl Send for Sendable {}
    let threads: Vec<_> = effects
        .into_iter()
        .map(|e| {
            let e = Sendable(e, p.raw);
            std::thread::spawn(move || {
                let mut e = e; // the whole struct moves (not its fields one by one)
                let p = Plugin { raw: e.1 };
                let mut outs = Vec::new();
                for _ in 0..3 {
                    assert_eq!(p.render(&mut e.0, 5.0, 1.0), OK);
                    outs.push(rendered(&mut e.0));
                }
                assert_eq!(p.destroy_instance(&mut e.0), OK);
                outs
            })
        })
        .collect();
    for (t, want) in threads.into_iter().zip(&serial_out) {
        for out in t.join().expect("render thread") {
            assert_eq!(&out, want, "a concurrent render equals the serial one");
        }
    }
    assert_ne!(serial_out[0], serial_out[1]);
    assert_no_leaks();
}
