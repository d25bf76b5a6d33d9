//! The C ABI through the host SDK: listing, params, rendering, determinism, panics.

use wick_host_sdk::{ffi, Frame, ParamRole, ParamValue, Plugin};
use wick_tests::artifacts;

fn plugin() -> Plugin {
    // The test-only debug node proves panics become statuses.
    std::env::set_var("WICK_ENABLE_TEST_NODES", "1");
    Plugin::load(&artifacts().plugin).expect("load plugin")
}

fn render(p: &Plugin, params: &[(&str, ParamValue)], w: u32, h: u32, time: f64) -> Frame {
    let mut inst = p.instance("wick.generate").unwrap();
    for (k, v) in params {
        inst.set_param(k, v).unwrap();
    }
    let mut out = vec![Frame::new_u8(w, h)];
    inst.process(time, 0, &[], &mut out, None).unwrap();
    out.pop().unwrap()
}

#[test]
fn lists_nodes_with_params() {
    let p = plugin();
    let g = p.node("wick.generate").unwrap();
    assert!(g.source);
    for name in [
        "seed",
        "seed_b",
        "mix",
        "net_depth",
        "net_width",
        "activation",
        "color_mode",
        "zoom",
        "width",
        "height",
        "device",
        "model",
    ] {
        assert!(g.param(name).is_some(), "missing param {name}");
    }
    assert_eq!(g.param("width").unwrap().default, ParamValue::Int(640));
    assert_eq!(g.param("height").unwrap().default, ParamValue::Int(360));
}

/// Roles (ABI 1.1, 1.2) tell hosts what a param means; hosts need not go by names.
#[test]
fn param_roles_are_declared() {
    let p = plugin();
    let g = p.node("wick.generate").unwrap();
    let role = |n: &wick_host_sdk::NodeInfo, name: &str| n.param(name).unwrap().role;
    assert_eq!(role(g, "width"), Some(ParamRole::OutputWidth));
    assert_eq!(role(g, "height"), Some(ParamRole::OutputHeight));
    assert_eq!(role(g, "seed"), None);
    assert_eq!(g.role(ParamRole::OutputWidth).unwrap().name, "width");
    let i = p.node("wick.interpolate").unwrap();
    assert_eq!(i.role(ParamRole::Time).unwrap().name, "t");
    let st = p.node("wick.style-transfer").unwrap();
    assert!(st.role(ParamRole::Time).is_none());
    // ABI 1.2: the param past-frame inputs are fed under.
    assert_eq!(st.role(ParamRole::PastFrames).unwrap().name, "temporal");
    assert!(g.role(ParamRole::PastFrames).is_none() && i.role(ParamRole::PastFrames).is_none());
    let mut inst = p.instance("wick.generate").unwrap();
    inst.set_param("width", &ParamValue::Int(33)).unwrap();
    assert_eq!(inst.source_size().unwrap(), (33, 360));
}

#[test]
fn generate_is_deterministic_and_seed_dependent() {
    let p = plugin();
    let a = render(&p, &[("seed", ParamValue::Int(7))], 160, 90, 1.0);
    let b = render(&p, &[("seed", ParamValue::Int(7))], 160, 90, 1.0);
    assert_eq!(a.data, b.data, "same seed must give identical bytes");
    let c = render(&p, &[("seed", ParamValue::Int(8))], 160, 90, 1.0);
    assert_ne!(a.data, c.data, "another seed must differ");
    let d = render(&p, &[("seed", ParamValue::Int(7))], 160, 90, 3.0);
    assert_ne!(a.data, d.data, "the latent walks over time");
    // Not a flat image: real structure.
    let mean = a.data.iter().map(|v| *v as f64).sum::<f64>() / a.data.len() as f64;
    let var = a
        .data
        .iter()
        .map(|v| (*v as f64 - mean).powi(2))
        .sum::<f64>()
        / a.data.len() as f64;
    println!("generate 160x90: mean {mean:.1}, std {:.1}", var.sqrt());
    assert!(
        var.sqrt() > 10.0,
        "image is nearly flat (std {})",
        var.sqrt()
    );
}

#[test]
fn mix_blends_between_seeds() {
    let p = plugin();
    let base = [
        ("seed", ParamValue::Int(3)),
        ("seed_b", ParamValue::Int(11)),
    ];
    let at = |m: f64| {
        let mut v = base.to_vec();
        v.push(("mix", ParamValue::Float(m)));
        render(&p, &v, 96, 54, 0.0)
    };
    let a = render(&p, &[("seed", ParamValue::Int(3))], 96, 54, 0.0);
    let b = render(&p, &[("seed", ParamValue::Int(11))], 96, 54, 0.0);
    assert_eq!(at(0.0).data, a.data);
    let diff = |x: &Frame, y: &Frame| {
        x.data
            .iter()
            .zip(&y.data)
            .map(|(p, q)| (*p as i32 - *q as i32).abs())
            .max()
            .unwrap()
    };
    assert!(diff(&at(1.0), &b) <= 1, "mix=1 must equal seed B");
    let half = at(0.5);
    assert!(diff(&half, &a) > 0 && diff(&half, &b) > 0);
}

#[test]
fn resolution_independent() {
    let p = plugin();
    let small = render(&p, &[], 160, 90, 0.5);
    let big = render(&p, &[], 320, 180, 0.5);
    // Box-downsample the big render 2x2 and compare with the small one.
    let mut err = 0f64;
    let mut n = 0f64;
    for y in 0..90usize {
        for x in 0..160usize {
            for c in 0..3 {
                let s = |yy: usize, xx: usize| big.data[(yy * 320 + xx) * 4 + c] as f64;
                let avg = (s(2 * y, 2 * x)
                    + s(2 * y + 1, 2 * x)
                    + s(2 * y, 2 * x + 1)
                    + s(2 * y + 1, 2 * x + 1))
                    / 4.0;
                err += (avg - small.data[(y * 160 + x) * 4 + c] as f64).abs();
                n += 1.0;
            }
        }
    }
    let mae = err / n;
    println!("160x90 vs 2x2-averaged 320x180: mean abs diff {mae:.2} / 255");
    assert!(mae < 6.0, "same picture at any size: mean abs diff {mae}");
}

#[test]
fn output_formats_agree() {
    let p = plugin();
    let mut inst = p.instance("wick.generate").unwrap();
    let mut u8f = vec![Frame::new_u8(64, 36)];
    inst.process(0.0, 0, &[], &mut u8f, None).unwrap();
    let mut f32f = vec![Frame::new(
        64,
        36,
        wick_host_sdk::Sample::F32,
        4,
        false,
        false,
    )];
    inst.process(0.0, 0, &[], &mut f32f, None).unwrap();
    let mut u16rgb = vec![Frame::new(
        64,
        36,
        wick_host_sdk::Sample::U16,
        3,
        false,
        false,
    )];
    inst.process(0.0, 0, &[], &mut u16rgb, None).unwrap();
    for i in 0..64 * 36 {
        for c in 0..3 {
            let a = u8f[0].data[i * 4 + c] as f32 / 255.0;
            let o = (i * 4 + c) * 4;
            let b = f32::from_ne_bytes(f32f[0].data[o..o + 4].try_into().unwrap());
            let o = (i * 3 + c) * 2;
            let d =
                u16::from_ne_bytes(u16rgb[0].data[o..o + 2].try_into().unwrap()) as f32 / 65535.0;
            assert!((a - b).abs() <= 0.5 / 255.0 + 1e-6);
            assert!((d - b).abs() <= 0.5 / 65535.0 + 1e-6);
        }
    }
}

#[test]
fn panics_and_errors_become_statuses() {
    let p = plugin();
    let mut inst = p.instance("wick.debug").unwrap();
    inst.set_param("mode", &ParamValue::Str("panic".into()))
        .unwrap();
    let mut out = vec![Frame::new_u8(8, 8)];
    let e = inst.process(0.0, 0, &[None], &mut out, None).unwrap_err();
    assert_eq!(e.status(), Some(ffi::WICK_ERR_INTERNAL), "{e}");
    assert!(e.to_string().contains("asked to panic"), "{e}");
    inst.set_param("mode", &ParamValue::Str("error".into()))
        .unwrap();
    let e = inst.process(0.0, 0, &[None], &mut out, None).unwrap_err();
    assert_eq!(e.status(), Some(ffi::WICK_ERR_MODEL));
    // The same instance keeps working.
    inst.set_param("mode", &ParamValue::Str("ok".into()))
        .unwrap();
    inst.process(0.0, 0, &[None], &mut out, None).unwrap();
    assert!(out[0].data.iter().step_by(4).all(|v| *v == 128));
}

#[test]
fn cancel_from_progress_callback() {
    let p = plugin();
    let mut inst = p.instance("wick.debug").unwrap();
    let mut out = vec![Frame::new_u8(8, 8)];
    let mut calls = 0;
    let mut cb = |_f: f64, _m: &str| {
        calls += 1;
        true
    };
    let e = inst
        .process(0.0, 0, &[None], &mut out, Some(&mut cb))
        .unwrap_err();
    assert_eq!(e.status(), Some(ffi::WICK_ERR_CANCELLED));
    assert_eq!(calls, 1);
}

#[test]
fn unknown_params_and_bad_values_are_refused() {
    let p = plugin();
    let mut inst = p.instance("wick.generate").unwrap();
    let e = inst.set_param("nope", &ParamValue::Int(1)).unwrap_err();
    assert_eq!(e.status(), Some(ffi::WICK_ERR_UNKNOWN_PARAM));
    assert!(
        e.to_string().contains("seed"),
        "message lists the params: {e}"
    );
    let e = inst
        .set_param("mix", &ParamValue::Float(f64::NAN))
        .unwrap_err();
    assert_eq!(e.status(), Some(ffi::WICK_ERR_BAD_ARGUMENT));
    let e = inst
        .set_param("activation", &ParamValue::Str("relu6".into()))
        .unwrap_err();
    assert!(e.to_string().contains("mixed"), "{e}");
    let e = inst.set_param("device", &ParamValue::Str("cuda".into()));
    // Valid choice; failing is the device's business at process time.
    assert!(e.is_ok());
    let mut out = vec![Frame::new_u8(8, 8)];
    // The default build has no CUDA: a clear device error (a CUDA build with a GPU renders).
    if let Err(e) = inst.process(0.0, 0, &[], &mut out, None) {
        assert_eq!(e.status(), Some(ffi::WICK_ERR_DEVICE), "{e}");
        assert!(e.to_string().contains("cuda"), "{e}");
    }
}

/// Past-frame inputs (`source@-1`, `source@-2`) are ordinary inputs in the C ABI: the host
/// passes the earlier frames, or NULL data where it has none, and the node uses what it got
/// (the test node averages them; alpha says how many past frames it was given).
#[test]
fn past_frames_are_ordinary_inputs() {
    let p = plugin();
    let n = p.node("wick.debug-history").unwrap();
    let names: Vec<(&str, i32, bool)> = n
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.frame_offset, i.optional))
        .collect();
    assert_eq!(
        names,
        [
            ("source", 0, false),
            ("source@-1", -1, true),
            ("source@-2", -2, true)
        ]
    );
    assert!(n.temporal);
    let grey = |v: u8| {
        let mut f = Frame::new_u8(6, 4);
        f.data
            .chunks_exact_mut(4)
            .for_each(|px| px.copy_from_slice(&[v, v, v, 255]));
        f
    };
    let (f0, f1, f2) = (grey(10), grey(20), grey(60));
    let mut inst = p.instance("wick.debug-history").unwrap();
    let mut run = |inputs: &[Option<&Frame>]| {
        let mut out = vec![Frame::new_u8(6, 4)];
        inst.process(0.0, 0, inputs, &mut out, None).unwrap();
        let px = &out[0].data[..4];
        (px[0], px[3])
    };
    assert_eq!(run(&[Some(&f2), None, None]), (60, 255), "the clip start");
    assert_eq!(run(&[Some(&f2), Some(&f1), None]), (40, 128));
    assert_eq!(run(&[Some(&f2), Some(&f1), Some(&f0)]), (30, 85));
}
