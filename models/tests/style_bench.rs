//! Timing of Wick's style networks for BENCHMARKS.md (ignored by default; run explicitly):
//!   RAYON_NUM_THREADS=2 cargo test -p wick-models --test style_bench -- --ignored --nocapture
//! The onnxruntime side is `tools/style_bench.py`. Frames: a fixture photo resized to
//! 512x512, 1024x1024 and 1920x1080; one timed run each (after one small warm-up call).

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use wick_models::style::{self, MultiStyle, StylePredictor, StyleTransform, NUM_STYLES};

fn photo(w: usize, h: usize) -> Tensor {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/style/astronaut.png");
    let file = std::fs::File::open(p).unwrap();
    let mut r = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0u8; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let (iw, ih) = (info.width as usize, info.height as usize);
    let data: Vec<f32> = buf[..info.buffer_size()]
        .iter()
        .map(|&v| v as f32 / 255.0)
        .collect();
    let t = Tensor::from_vec(data, (ih, iw, 3), &Device::Cpu)
        .unwrap()
        .permute((2, 0, 1))
        .unwrap();
    let t = t.unsqueeze(0).unwrap().contiguous().unwrap();
    wick_models::ops::upsample_bilinear2d(&t, h, w, false).unwrap()
}

/// One timed run (the protocol: one run per size), in ms.
fn time<F: FnMut()>(mut f: F) -> f64 {
    let t0 = Instant::now();
    f();
    t0.elapsed().as_secs_f64() * 1000.0
}

#[test]
#[ignore]
fn bench_style_networks() {
    let dev = Device::Cpu;
    let ms = MultiStyle::load(&style::bundled_weights("multistyle26.safetensors"), &dev).unwrap();
    let pred = StylePredictor::load(
        &style::bundled_weights("arbitrary_predict.safetensors"),
        &dev,
    )
    .unwrap();
    let mut tr = StyleTransform::load(
        &style::bundled_weights("arbitrary_transform.safetensors"),
        &dev,
    )
    .unwrap();
    let w = style::parse_blend("3", NUM_STYLES).unwrap();
    let w = Tensor::from_vec(w, NUM_STYLES, &dev).unwrap();
    let style_img = photo(256, 256);
    pred.forward(&style_img).unwrap();
    let t = time(|| {
        pred.forward(&style_img).unwrap();
    });
    println!("arbitrary_predict 256x256: {t:8.1} ms");
    // Warm-up: first calls allocate and spin up the thread pool.
    ms.forward(&photo(64, 64), &w).unwrap();
    let v = pred.forward(&style_img).unwrap();
    for (fw, fh) in [(512, 512), (1024, 1024), (1920, 1080)] {
        let x = photo(fw, fh);
        let t = time(|| {
            ms.forward(&x, &w).unwrap();
        });
        println!("multistyle26 {fw}x{fh}: {t:8.1} ms");
        let modes: &[bool] = if fw == 512 { &[true, false] } else { &[true] };
        for &exact in modes {
            tr.set_reference_order(exact);
            let t = time(|| {
                tr.forward(&x, &v).unwrap();
            });
            let mode = if exact { "reference order" } else { "op layer" };
            println!("arbitrary_transform ({mode}) {fw}x{fh}: {t:8.1} ms");
        }
    }
}
