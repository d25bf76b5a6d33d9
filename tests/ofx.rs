//! The OpenFX bundle through a test host written from the spec (`tests/ofx_host`): every node
//! and context renders the same pixels as `wick run` with the same params (±1 at 8 bits,
//! ≤1e-5 at float), and the failure paths (missing suites, bad images, unsupported depths,
//! cancel, panics, bad handles) return statuses with messages, without leaking an image.
//!
//! Hosts that differ: every node in every context also runs in the host's minimal mode (as the
//! reference host library: undefined properties refused, missing param types and suites,
//! out-of-range values); every property Wick sets is one the official headers define for its
//! object; the host's capabilities, project size and colour management (OFX 1.5) are followed.

mod ofx_host;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use ofx_host::*;
use wick_tests::run_ok as ok;
use wick_tests::{ofx_bundle, scratch, wick};

/// The plugin keeps one host per process (as OFX intends), so tests take turns.
fn serial() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    let g = L.lock().unwrap_or_else(|e| e.into_inner());
    *log() = Log::default();
    reset_host(false);
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
    // A function Wick cannot do without is NULL: no param handles, or no value getter at all.
    log().missing.clear();
    for holes in [
        vec!["paramGetHandle"],
        vec!["paramGetValue", "paramGetValueAtTime"],
    ] {
        log().param_holes = holes.clone();
        assert_eq!(p.load(), ERR_MISSING_HOST_FEATURE, "without {holes:?}");
        let e = bundle(ofx_bundle()).last_error();
        assert!(e.contains("param_get"), "{e}");
    }
    // Either value getter is enough: the params are read through the other one.
    for hole in ["paramGetValueAtTime", "paramGetValue"] {
        log().param_holes = vec![hole];
        assert_eq!(p.load(), OK, "without {hole}");
        let mut e = instance(&p, "OfxImageEffectContextGenerator");
        e.set("seed", Val::I(5));
        set_output(&mut e, 8, 8, 4, Depth::Byte, false);
        assert_eq!(p.render(&mut e, 0.0, 1.0), OK, "without {hole}");
        assert!(
            !messages().iter().any(|(k, _)| k == "OfxMessageWarning"),
            "no param fell back to its default without {hole}: {:?}",
            messages()
        );
    }
    log().param_holes.clear();
    // Message and progress suites are optional: loading works, errors still return statuses.
    log().missing = vec!["OfxMessageSuite".into(), "OfxProgressSuite".into()];
    assert_eq!(p.load(), OK);
    assert!(
        messages().is_empty(),
        "a failed Load posts nothing: {:?}",
        messages()
    );
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    set_output(&mut e, 8, 8, 4, Depth::Byte, false);
    e.clip("Output").layout.row_bytes_override = Some(8);
    assert_eq!(p.render(&mut e, 0.0, 1.0), FAILED);
    assert!(messages().is_empty());
    assert!(bundle(ofx_bundle()).last_error().contains("row bytes"));
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
    e.set("mode", Val::I(0));
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK, "the instance keeps working");
    // A choice index the param does not have: its default ("ok"), with one warning.
    e.set("mode", Val::I(7));
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    let warned: Vec<_> = messages()
        .into_iter()
        .filter(|(k, t)| k == "OfxMessageWarning" && t.contains("choice index 7"))
        .collect();
    assert_eq!(warned.len(), 1, "{:?}", messages());

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

// ----- hosts that differ -------------------------------------------------------------------

/// An 8-bit straight RGBA input picture (no file).
fn byte_picture(w: usize, h: usize, seed: usize) -> HostImage {
    let mut img = HostImage::new(w, h, 4, Depth::Byte, false);
    for (i, p) in picture(w, h, seed).iter().enumerate() {
        for (c, v) in p.iter().enumerate() {
            img.samples[i * 4 + c] = (v * 255.0).round();
        }
    }
    img
}

/// Describe, every context, instance, clip preferences, RoD, frames needed, a render with
/// 8-bit RGBA inputs at frames 0..=2, destroy: every status as the spec allows, every image
/// released, the output written.
fn run_every_context(id: &str) -> Vec<String> {
    let (w, h) = (24, 16);
    let p = plugin(id);
    let d = p.describe();
    let ctxs = d
        .props
        .strs("OfxImageEffectPropSupportedContexts")
        .unwrap_or_else(|| panic!("{id}: no contexts"));
    let mut done = Vec::new();
    for ctx in &ctxs {
        let what = format!("{id} in {ctx}");
        let (st, cd) = p.describe_in_context(&d, ctx);
        assert_eq!(st, OK, "{what}: DescribeInContext");
        let mut e = p.create_instance(&cd, ctx);
        for action in [
            "OfxImageEffectActionGetClipPreferences",
            "OfxImageEffectActionGetRegionOfDefinition",
            "OfxImageEffectActionGetFramesNeeded",
        ] {
            let (st, _) = p.timed_action(&mut e, action, 1.0);
            assert!(st == OK || st == REPLY_DEFAULT, "{what}: {action} {st}");
        }
        let inputs: Vec<String> = e.clips.keys().filter(|n| *n != "Output").cloned().collect();
        for (k, name) in inputs.iter().enumerate() {
            for t in 0..=2 {
                e.clip(name)
                    .frames
                    .insert(t, byte_picture(w, h, k * 3 + t as usize));
            }
        }
        set_output(&mut e, w, h, 4, Depth::Byte, false);
        assert_eq!(p.render(&mut e, 1.0, 1.0), OK, "{what}: {:?}", messages());
        let out = rendered(&mut e);
        assert!(
            out.samples.iter().any(|v| *v != 0.0),
            "{what}: the output was not written"
        );
        assert_eq!(p.destroy_instance(&mut e), OK, "{what}");
        assert_eq!(log().live_images, 0, "{what}: images not released");
        done.push(ctx.clone());
    }
    done
}

#[test]
fn every_node_in_every_context_renders_in_the_full_and_the_minimal_host() {
    let _g = serial();
    let ids: Vec<String> = bundle(ofx_bundle())
        .plugins
        .iter()
        .map(|p| p.identifier())
        .collect();
    for minimal in [false, true] {
        reset_host(minimal);
        let mut ran = 0;
        for id in &ids {
            ran += run_every_context(id).len();
        }
        assert!(
            ran >= ids.len() + 2,
            "{ran} contexts for {} nodes",
            ids.len()
        );
        let l = log();
        assert!(
            l.off_spec.is_empty(),
            "set but not in the spec: {:?}",
            l.off_spec
        );
        assert!(
            l.host_errors.is_empty(),
            "host noticed: {:?}",
            l.host_errors
        );
        if minimal {
            // The minimal host refused the 1.5 colour properties (and the optional ones):
            // Wick went on without them.
            assert!(
                l.refused
                    .iter()
                    .any(|r| r.contains("OfxImageEffectPropColourManagementStyle")),
                "{:?}",
                l.refused
            );
            assert!(l.messages.is_empty(), "no message suite: {:?}", l.messages);
        } else {
            assert!(l.refused.is_empty(), "{:?}", l.refused);
        }
    }
}

#[test]
fn the_spec_check_of_the_test_host_tells_right_from_wrong() {
    // The string the first adapter got wrong is not a property of an effect descriptor; the
    // headers' one is, and a minimal host still has it (not host_optional).
    assert!(!spec_allows(
        "EffectDescriptor",
        "OfxImageEffectPropSupportsMultipleClipDepths",
        false
    ));
    assert!(spec_allows(
        "EffectDescriptor",
        "OfxImageEffectPropMultipleClipDepths",
        true
    ));
    // host_optional and 1.5 colour properties: defined, but not by a minimal host.
    assert!(spec_allows(
        "EffectDescriptor",
        "OfxPropPluginDescription",
        false
    ));
    assert!(!spec_allows(
        "EffectDescriptor",
        "OfxPropPluginDescription",
        true
    ));
    assert!(spec_allows(
        "EffectDescriptor",
        "OfxImageEffectPropColourManagementStyle",
        false
    ));
    assert!(!spec_allows(
        "ClipDescriptor",
        "OfxImageEffectPropSupportedPixelDepths",
        false
    ));
    assert!(spec_allows(
        "Param:OfxParamTypeDouble",
        "OfxParamPropMin",
        true
    ));
    assert!(!spec_allows(
        "Param:OfxParamTypeBoolean",
        "OfxParamPropMin",
        false
    ));
    assert!(spec_allows(
        "Param:OfxParamTypeString",
        "OfxParamPropStringMode",
        true
    ));
    assert!(spec_allows(
        "OutArgs:OfxImageEffectActionGetFramesNeeded",
        "OfxImageClipPropFrameRange_Source",
        true
    ));
    assert!(!spec_allows(
        "OutArgs:OfxImageEffectActionGetRegionOfDefinition",
        "OfxImageClipPropFrameRange_Source",
        false
    ));
}

#[test]
fn minimal_host_params_fall_back_to_defaults_and_out_of_range_values_are_clamped() {
    let _g = serial();
    let d = scratch("ofx-minimal");
    let (w, h) = (64, 48);
    let a = byte_input(&picture(w, h, 2), w, h, &d.join("a.png"));
    let b = byte_input(&picture(w, h, 5), w, h, &d.join("b.png"));
    // The minimal host answers 2.0 for every Double (t is the Transition param), clamped into
    // each param's range, and true for every Boolean; the Integer, Choice and String params it
    // cannot give keep their defaults. The same values, from the params' descriptors, for
    // `wick run`.
    reset_host(true);
    let p = plugin("org.wick.interpolate");
    let mut e = instance(&p, "OfxImageEffectContextTransition");
    e.clip("SourceFrom").frames.insert(0, a);
    e.clip("SourceTo").frames.insert(0, b);
    set_output(&mut e, w, h, 4, Depth::Byte, false);
    assert_eq!(
        p.render(&mut e, 0.0, 1.0),
        OK,
        "{}",
        bundle(ofx_bundle()).last_error()
    );
    let out = rendered(&mut e);
    let mut args = Vec::new();
    for name in &e.params.order {
        let props = &e.params.params[name].props;
        let node_name = if name == "Transition" { "t" } else { name };
        match props.str("OfxParamPropType").unwrap().as_str() {
            "OfxParamTypeDouble" => {
                let lo = props.dbls("OfxParamPropMin").unwrap()[0];
                let hi = props.dbls("OfxParamPropMax").unwrap()[0];
                args.push(format!("{node_name}={}", 2f64.clamp(lo, hi)));
            }
            "OfxParamTypeBoolean" if name != "wick_float_input" => {
                args.push(format!("{node_name}=1"))
            }
            _ => {}
        }
    }
    assert!(args.iter().any(|a| a == "t=1"), "{args:?}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    wick_run(
        "wick.interpolate",
        &[&d.join("a.png"), &d.join("b.png")],
        &d.join("t1sm.png"),
        &args,
        0,
    );
    let m = diff_file(&out, &d.join("t1sm.png"));
    assert!(m <= 1.0, "clamped t=1 vs wick run: {m}");

    // The full host with a value out of range and a param the host has no instance of: one
    // log note / one warning per instance and param, however many renders.
    reset_host(false);
    let p = plugin("org.wick.style-transfer");
    let mut e = instance(&p, "OfxImageEffectContextFilter");
    connect(&mut e, "Style", false);
    e.clip("Source").frames.insert(0, byte_picture(16, 12, 1));
    set_output(&mut e, 16, 12, 4, Depth::Byte, false);
    e.set("strength", Val::D(vec![7.5]));
    e.params.params.remove("model");
    e.params.order.retain(|n| n != "model");
    for _ in 0..3 {
        assert_eq!(p.render(&mut e, 0.0, 1.0), OK, "{:?}", messages());
        rendered(&mut e);
    }
    let m = messages();
    let count = |kind: &str, what: &str| {
        m.iter()
            .filter(|(k, t)| k == kind && t.contains(what))
            .count()
    };
    assert_eq!(count("OfxMessageWarning", "param 'model'"), 1, "{m:?}");
    assert_eq!(count("OfxMessageLog", "param 'strength'"), 1, "{m:?}");
    assert!(
        m.iter().any(|(_, t)| t.contains("clamped to Float(1.0)")),
        "{m:?}"
    );
    // The host noticed the lookups of the param it lacks (and nothing else).
    let noticed = std::mem::take(&mut log().host_errors);
    assert!(
        noticed.iter().all(|e| e.contains("unknown name model")),
        "{noticed:?}"
    );
    assert_no_leaks();
}

#[test]
fn the_hosts_capabilities_are_followed() {
    let _g = serial();
    // No temporal clip access: interpolate is a Transition only (its retime reads other
    // frames), and says it needs no other frames.
    host_props().set_int("OfxImageEffectPropTemporalClipAccess", &[0]);
    let p = plugin("org.wick.interpolate");
    let d = p.describe();
    assert_eq!(
        d.props.strs("OfxImageEffectPropSupportedContexts").unwrap(),
        ["OfxImageEffectContextTransition"]
    );
    assert_eq!(d.props.int("OfxImageEffectPropTemporalClipAccess"), Some(0));
    reset_host(false);
    let d = plugin("org.wick.interpolate").describe();
    assert_eq!(d.props.int("OfxImageEffectPropTemporalClipAccess"), Some(1));

    // The pixel depths declared are the host's that Wick has; multiple clip depths and
    // multi-resolution follow the host.
    host_props().set_str(
        "OfxImageEffectPropSupportedPixelDepths",
        &["OfxBitDepthFloat", "OfxBitDepthByte", "OfxBitDepthDouble"],
    );
    let d = plugin("org.wick.style-transfer").describe();
    assert_eq!(
        d.props
            .strs("OfxImageEffectPropSupportedPixelDepths")
            .unwrap(),
        ["OfxBitDepthByte", "OfxBitDepthFloat"]
    );
    assert_eq!(d.props.int("OfxImageEffectPropMultipleClipDepths"), Some(1));
    assert_eq!(
        d.props.int("OfxImageEffectPropSupportsMultiResolution"),
        Some(1)
    );
    reset_host(true);
    let d = plugin("org.wick.style-transfer").describe();
    assert_eq!(
        d.props
            .strs("OfxImageEffectPropSupportedPixelDepths")
            .unwrap()
            .len(),
        4,
        "a host that names no depths gets all of Wick's"
    );
    assert_eq!(d.props.int("OfxImageEffectPropMultipleClipDepths"), Some(0));
    assert_eq!(
        d.props.int("OfxImageEffectPropSupportsMultiResolution"),
        Some(0)
    );
    // Without multi-resolution a generator's output is the project, whatever width/height say.
    let p = plugin("org.wick.generate");
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    e.set("width", Val::I(32));
    let (st, rod) = p.timed_action(&mut e, "OfxImageEffectActionGetRegionOfDefinition", 0.0);
    assert_eq!(st, OK);
    assert_eq!(
        rod.dbls("OfxImageEffectPropRegionOfDefinition").unwrap(),
        [0.0, 0.0, 64.0, 48.0]
    );
    assert_no_leaks();
}

#[test]
fn a_generator_renders_the_project_size_unless_width_and_height_are_set() {
    let _g = serial();
    let d = scratch("ofx-project");
    let p = plugin("org.wick.generate");
    let mut e = instance(&p, "OfxImageEffectContextGenerator");
    e.props
        .set_dbl("OfxImageEffectPropProjectSize", &[80.0, 40.0]);
    e.props
        .set_dbl("OfxImageEffectPropProjectOffset", &[5.0, 3.0]);
    e.set("seed", Val::I(4));
    let rod = |p: &Plugin, e: &mut Effect| {
        let (st, rod) = p.timed_action(e, "OfxImageEffectActionGetRegionOfDefinition", 2.0);
        assert_eq!(st, OK);
        rod.dbls("OfxImageEffectPropRegionOfDefinition").unwrap()
    };
    // Defaults (0 x 0): the project, offset included.
    assert_eq!(
        e.param("width").props.ints("OfxParamPropDefault"),
        Some(vec![0])
    );
    assert_eq!(rod(&p, &mut e), [5.0, 3.0, 85.0, 43.0]);
    wick_run(
        "wick.generate",
        &[],
        &d.join("project.png"),
        &["seed=4", "width=80", "height=40"],
        2,
    );
    set_output(&mut e, 80, 40, 4, Depth::Byte, false);
    assert_eq!(p.render(&mut e, 2.0, 1.0), OK, "{:?}", messages());
    let m = diff_file(&rendered(&mut e), &d.join("project.png"));
    assert!(m <= 1.0, "project-size render vs wick run 80x40: {m}");
    // Width and height set: they override the project.
    e.set("width", Val::I(32));
    e.set("height", Val::I(24));
    assert_eq!(rod(&p, &mut e), [0.0, 0.0, 32.0, 24.0]);
    // A host without a project size: the node's own default size.
    e.props.map.remove("OfxImageEffectPropProjectSize");
    e.set("width", Val::I(0));
    e.set("height", Val::I(0));
    assert_eq!(rod(&p, &mut e), [0.0, 0.0, 640.0, 360.0]);
    assert_no_leaks();
}

/// The picture as float RGBA holding the sRGB-encoded values of its 8-bit form (what a host
/// that does not linearise hands on), straight alpha.
fn srgb_float_input(img8: &HostImage) -> HostImage {
    let mut img = HostImage::new(img8.width, img8.height, 4, Depth::Float, false);
    for (o, v) in img.samples.iter_mut().zip(&img8.samples) {
        *o = v / 255.0;
    }
    img
}

/// Max |float output * 255 - 8-bit PNG| (the float output holds sRGB-encoded values).
fn diff_srgb_float_vs_png(out: &HostImage, png: &Path) -> f32 {
    let want = image::open(png).unwrap().to_rgba8().into_raw();
    out.samples
        .iter()
        .zip(want)
        .map(|(a, b)| (a * 255.0 - b as f32).abs())
        .fold(0.0, f32::max)
}

#[test]
fn what_a_float_image_is_comes_from_the_param_the_hosts_colourspaces_or_the_host() {
    let _g = serial();
    let d = scratch("ofx-colour");
    let (w, h) = (48, 32);
    let pic = picture(w, h, 6);
    let src8 = byte_input(&pic, w, h, &d.join("in.png"));
    let srcf = float_input(&pic, w, h, &d.join("in.exr"));
    let params = ["style=2", "strength=0.9"];
    for (i, o) in [("in.png", "out.png"), ("in.exr", "out.exr")] {
        wick_run("wick.style-transfer", &[&d.join(i)], &d.join(o), &params, 0);
    }
    let p = plugin("org.wick.style-transfer");
    let setup = |p: &Plugin| {
        let mut e = instance(p, "OfxImageEffectContextFilter");
        e.set("style", Val::S(c"2".into()));
        e.set("strength", Val::D(vec![0.9]));
        connect(&mut e, "Style", false);
        e
    };
    // sRGB-encoded floats: right with the param at sRGB (or as is), wrong with auto here
    // (this host's floats are linear).
    let mut e = setup(&p);
    e.clip("Source").frames.insert(0, srgb_float_input(&src8));
    set_output(&mut e, w, h, 4, Depth::Float, false);
    for (choice, right) in [(2, true), (3, true), (0, false)] {
        e.set("wick_float_input", Val::I(choice));
        assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
        let m = diff_srgb_float_vs_png(&rendered(&mut e), &d.join("out.png"));
        if right {
            assert!(
                m <= 1.5,
                "float_input {choice}: sRGB floats vs the PNG run: {m}"
            );
        } else {
            assert!(
                m > 10.0,
                "auto took sRGB floats for linear, and it shows: {m}"
            );
        }
    }
    // Linear floats with the param at linear: the EXR run.
    e.clip("Source").frames.insert(0, srcf.clone());
    set_output(&mut e, w, h, 4, Depth::Float, true);
    e.set("wick_float_input", Val::I(1));
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    let m = diff_file(&rendered(&mut e), &d.join("out.exr"));
    assert!(m <= 1e-5, "linear floats: {m}");

    // A colour-managed host (OFX 1.5): auto follows the clips' colourspaces.
    let mut e = setup(&p);
    e.props.set_str(
        "OfxImageEffectPropColourManagementStyle",
        &["OfxImageEffectColourManagementCore"],
    );
    let (st, prefs) = p.timed_action(&mut e, "OfxImageEffectActionGetClipPreferences", 0.0);
    assert_eq!(st, OK);
    assert_eq!(
        prefs
            .strs("OfxImageClipPropPreferredColourspaces_Source")
            .unwrap(),
        [
            "lin_rec709_srgb",
            "ofx_scene_linear",
            "srgb_tx",
            "ofx_display_sdr"
        ]
    );
    e.clip("Output")
        .props
        .set_str("OfxImageClipPropColourspace", &["OfxColourspace_Source"]);
    e.clip("Source")
        .props
        .set_str("OfxImageClipPropColourspace", &["srgb_tx"]);
    e.clip("Source").frames.insert(0, srgb_float_input(&src8));
    set_output(&mut e, w, h, 4, Depth::Float, false);
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    let m = diff_srgb_float_vs_png(&rendered(&mut e), &d.join("out.png"));
    assert!(m <= 1.5, "srgb_tx clip: {m}");
    e.clip("Source")
        .props
        .set_str("OfxImageClipPropColourspace", &["lin_rec709_srgb"]);
    e.clip("Source").frames.insert(0, srcf);
    set_output(&mut e, w, h, 4, Depth::Float, true);
    assert_eq!(p.render(&mut e, 0.0, 1.0), OK);
    let m = diff_file(&rendered(&mut e), &d.join("out.exr"));
    assert!(m <= 1e-5, "lin_rec709_srgb clip: {m}");
    // The basic style gets basic names only; `as is` asks for nothing.
    e.props.set_str(
        "OfxImageEffectPropColourManagementStyle",
        &["OfxImageEffectColourManagementBasic"],
    );
    e.set("wick_float_input", Val::I(1));
    let (_, prefs) = p.timed_action(&mut e, "OfxImageEffectActionGetClipPreferences", 0.0);
    assert_eq!(
        prefs
            .strs("OfxImageClipPropPreferredColourspaces_Source")
            .unwrap(),
        ["ofx_scene_linear"]
    );
    e.set("wick_float_input", Val::I(3));
    let (st, prefs) = p.timed_action(&mut e, "OfxImageEffectActionGetClipPreferences", 0.0);
    assert_eq!(st, REPLY_DEFAULT);
    assert!(prefs.map.is_empty());
    // The output of an effect with inputs is its source's colourspace (the host's default);
    // a generator picks the first of the host's it writes exactly.
    let mut ia = PropSet::default();
    ia.set_str(
        "OfxImageClipPropPreferredColourspaces",
        &["ACEScct", "srgb_tx", "ACEScg"],
    );
    let (st, _) = p.action_with(
        &mut e,
        "OfxImageEffectActionGetOutputColourspace",
        ia.clone(),
    );
    assert_eq!(st, REPLY_DEFAULT);
    let g = plugin("org.wick.generate");
    let mut ge = instance(&g, "OfxImageEffectContextGenerator");
    ge.props.set_str(
        "OfxImageEffectPropColourManagementStyle",
        &["OfxImageEffectColourManagementCore"],
    );
    let (st, out) = g.action_with(&mut ge, "OfxImageEffectActionGetOutputColourspace", ia);
    assert_eq!(st, OK);
    assert_eq!(out.str("OfxImageClipPropColourspace").unwrap(), "srgb_tx");
    assert!(log().off_spec.is_empty(), "{:?}", log().off_spec);

    assert_no_leaks();
}

/// Past-frame inputs (`source@-1`, `source@-2` of the test node) are read from the Source clip
/// at negative offsets: GetFramesNeeded asks for them only while `temporal` is on, a frame the
/// clip does not have (its start) is not fed, the descriptor prefers sequential render, and
/// the node gets the frames a C ABI host would pass (`tests/abi.rs`).
#[test]
fn past_frames_are_fetched_at_negative_offsets() {
    let _g = serial();
    let p = plugin("org.wick.debug-history");
    assert_eq!(
        p.describe()
            .props
            .int("OfxImageEffectInstancePropSequentialRender"),
        Some(2)
    );
    let mut e = instance(&p, "OfxImageEffectContextFilter");
    let clips: Vec<String> = e.clips.keys().cloned().collect();
    assert!(
        clips.iter().all(|c| c == "Source" || c == "Output"),
        "past frames are no clips of their own: {clips:?}"
    );
    let (w, h) = (6, 4);
    let grey = |v: f32| {
        let mut img = HostImage::new(w, h, 4, Depth::Byte, false);
        for px in img.samples.chunks_exact_mut(4) {
            px.copy_from_slice(&[v, v, v, 255.0]);
        }
        img
    };
    for (f, v) in [(5, 10.0), (6, 20.0), (7, 60.0)] {
        e.clip("Source").frames.insert(f, grey(v));
    }
    let (st, needed) = p.timed_action(&mut e, "OfxImageEffectActionGetFramesNeeded", 7.0);
    assert_eq!(st, OK);
    assert_eq!(
        needed.dbls("OfxImageClipPropFrameRange_Source").unwrap(),
        [5.0, 7.0]
    );
    let at = |e: &mut Effect, t: f64| {
        set_output(e, w, h, 4, Depth::Byte, false);
        assert_eq!(p.render(e, t, 1.0), OK, "{:?}", messages());
        let out = rendered(e);
        (out.samples[0], out.samples[3])
    };
    assert_eq!(at(&mut e, 7.0), (30.0, 85.0), "frames 7, 6, 5");
    assert_eq!(at(&mut e, 6.0), (15.0, 128.0), "frame 4 does not exist");
    assert_eq!(at(&mut e, 5.0), (10.0, 255.0), "the clip start");
    // `temporal` off: no past frames asked for or fed.
    e.set("temporal", Val::I(0));
    let (_, needed) = p.timed_action(&mut e, "OfxImageEffectActionGetFramesNeeded", 7.0);
    assert_eq!(
        needed.dbls("OfxImageClipPropFrameRange_Source").unwrap(),
        [7.0, 7.0]
    );
    assert_eq!(at(&mut e, 7.0), (60.0, 255.0));
    assert_no_leaks();
}

/// `wick_float_input` auto in a host that says it is Natron (kOfxPropLabel "Natron", and its
/// default kOfxPropName): this test process maps no OpenColorIO library, so, as in a Natron
/// built without it, nothing upstream linearised and auto takes the floats as sRGB-encoded
/// (said once in the host's log); explicit `linear` still wins. The decision itself
/// (`plugin/src/ofx/untagged.rs`) is unit-tested there, with and without OpenColorIO mapped.
#[test]
fn auto_takes_untagged_floats_as_srgb_in_natron_without_opencolorio() {
    let _g = serial();
    let d = scratch("ofx-natron-auto");
    let (w, h) = (48, 32);
    let src8 = byte_input(&picture(w, h, 7), w, h, &d.join("in.png"));
    let params = ["style=2", "strength=0.9"];
    wick_run(
        "wick.style-transfer",
        &[&d.join("in.png")],
        &d.join("out.png"),
        &params,
        0,
    );
    let render = |name: &str, label: &str, choice: i32| {
        host_props().set_str("OfxPropName", &[name]);
        host_props().set_str("OfxPropLabel", &[label]);
        let p = plugin("org.wick.style-transfer");
        let mut e = instance(&p, "OfxImageEffectContextFilter");
        e.set("style", Val::S(c"2".into()));
        e.set("strength", Val::D(vec![0.9]));
        e.set("wick_float_input", Val::I(choice));
        connect(&mut e, "Style", false);
        e.clip("Source").frames.insert(0, srgb_float_input(&src8));
        set_output(&mut e, w, h, 4, Depth::Float, false);
        assert_eq!(p.render(&mut e, 0.0, 1.0), OK, "{name} / {label}");
        diff_srgb_float_vs_png(&rendered(&mut e), &d.join("out.png"))
    };
    // Natron, and Natron appearing to plug-ins as Nuke (the label stays): sRGB-encoded.
    for (name, label) in [
        ("fr.inria.Natron", "Natron"),
        ("uk.co.thefoundry.nuke", "Natron"),
    ] {
        let m = render(name, label, 0);
        assert!(m <= 1.5, "auto in {name} / {label}: {m}");
    }
    let notes = log().messages.clone();
    assert!(
        notes
            .iter()
            .any(|(_, t)| t.contains("Natron without OpenColorIO")),
        "no note in the host's log: {notes:?}"
    );
    // Explicit linear in Natron, and auto in another host: linear (the sRGB floats show).
    for (name, label, choice) in [
        ("fr.inria.Natron", "Natron", 1),
        ("uk.co.thefoundry.nuke", "Nuke", 0),
    ] {
        let m = render(name, label, choice);
        assert!(m > 10.0, "{name} / {label}, choice {choice}: {m}");
    }
    reset_host(false);
    plugin("org.wick.style-transfer");
    assert_no_leaks();
}

/// A PNG as an 8-bit straight RGBA host image.
fn png_input(png: &Path) -> HostImage {
    let img = image::open(png)
        .unwrap_or_else(|e| panic!("{}: {e}", png.display()))
        .to_rgba8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = HostImage::new(w, h, 4, Depth::Byte, false);
    for (s, v) in out.samples.iter_mut().zip(img.as_raw()) {
        *s = f32::from(*v);
    }
    out
}

/// `wick.style-transfer temporal=1` (issue #15 part 3) renders `wick render`'s frames: the
/// past frames come from the Source clip at negative offsets (GetFramesNeeded asks for the
/// 11 before the frame), in order, in reverse order and after a jump alike (a host with
/// temporal clip access has every frame: no fallback needed); a clip that starts later has
/// no past before its first frame, which is then stylised on its own; temporal=0 asks for the
/// current frame only and gives the per-frame look. Real frames (the bundled clip, 128x54).
#[test]
fn temporal_style_transfer_equals_wick_render_in_any_order() {
    use wick_tests::temporal::{clip_frames, render_style, rendered as png_of, SIZE};
    let _g = serial();
    let d = scratch("ofx-temporal");
    let src = clip_frames(&d, 14);
    let whole = render_style(&d, "whole", 1.0, "0-13", None);
    let late = render_style(&d, "late", 1.0, "8-13", Some(8));
    let per = render_style(&d, "per", 0.0, "0-13", None);
    let frame = |f: i64| png_input(&src.join(format!("f.{f:04}.png")));
    let (w, h) = (SIZE.0 as usize, SIZE.1 as usize);

    let p = plugin("org.wick.style-transfer");
    assert_eq!(
        p.describe()
            .props
            .int("OfxImageEffectInstancePropSequentialRender"),
        Some(2),
        "sequential render preferred, not required"
    );
    let new = |frames: std::ops::Range<i64>| {
        let mut e = instance(&p, "OfxImageEffectContextFilter");
        connect(&mut e, "Style", false);
        e.set("style", Val::S(c"3".into()));
        e.set("strength", Val::D(vec![1.0]));
        e.set("device", Val::I(1)); // "cpu"
        e.set("temporal", Val::D(vec![1.0]));
        for f in frames {
            e.clip("Source").frames.insert(f, frame(f));
        }
        e
    };
    let at = |e: &mut Effect, f: i64| {
        set_output(e, w, h, 4, Depth::Byte, false);
        assert_eq!(
            p.render(e, f as f64, 1.0),
            OK,
            "frame {f}: {:?}",
            messages()
        );
        rendered(e)
    };
    let check = |e: &mut Effect, order: &[i64], reference: &Path, what: &str| {
        for &f in order {
            let m = diff_file(&at(e, f), &png_of(reference, f));
            println!("ofx temporal {what} frame {f}: max difference {m}/255");
            assert!(
                m <= 1.0,
                "{what}: frame {f} differs from wick render by {m}/255"
            );
        }
    };

    let mut e = new(0..14);
    let (st, needed) = p.timed_action(&mut e, "OfxImageEffectActionGetFramesNeeded", 13.0);
    assert_eq!(st, OK);
    assert_eq!(
        needed.dbls("OfxImageClipPropFrameRange_Source").unwrap(),
        [2.0, 13.0]
    );
    let forward: Vec<i64> = (0..14).collect();
    check(&mut e, &forward, &whole, "in order");
    // Another instance, frames in reverse order, then a jump back and forth: the same frames
    // (a frame's output depends only on its window, never on what was rendered before).
    let mut e = new(0..14);
    let reverse: Vec<i64> = (0..14).rev().collect();
    check(&mut e, &reverse, &whole, "reverse order");
    check(&mut e, &[3, 12, 7], &whole, "jumps");

    // A clip whose frame range starts at 8 (the host says so): nothing before it is asked
    // for or fed; its first frame is the per-frame stylisation.
    let mut e = new(8..14);
    e.clip("Source")
        .props
        .set_dbl("OfxImageEffectPropFrameRange", &[8.0, 13.0]);
    let (_, needed) = p.timed_action(&mut e, "OfxImageEffectActionGetFramesNeeded", 10.0);
    assert_eq!(
        needed.dbls("OfxImageClipPropFrameRange_Source").unwrap(),
        [8.0, 10.0]
    );
    check(
        &mut e,
        &(8..14).collect::<Vec<_>>(),
        &late,
        "clip from frame 8",
    );
    let m = diff_file(&at(&mut e, 8), &png_of(&per, 8));
    assert!(m <= 1.0, "the clip's first frame vs per-frame: {m}/255");
    let m = diff_file(&at(&mut e, 11), &png_of(&whole, 11));
    assert!(
        m > 16.0,
        "frame 11 of the late clip used frames before its start ({m}/255)"
    );

    // temporal = 0: only the current frame is asked for; the per-frame look.
    let mut e = new(0..14);
    e.set("temporal", Val::D(vec![0.0]));
    let (_, needed) = p.timed_action(&mut e, "OfxImageEffectActionGetFramesNeeded", 13.0);
    assert_eq!(
        needed.dbls("OfxImageClipPropFrameRange_Source").unwrap(),
        [13.0, 13.0]
    );
    check(&mut e, &[13], &per, "temporal 0");
    let m = diff_file(&at(&mut e, 13), &png_of(&whole, 13));
    assert!(m > 16.0, "temporal=1 vs per-frame at frame 13: {m}/255");
    assert_no_leaks();
}
