//! Times the parts of `wick_models::temporal` on two frames (PPM, P6): frame levels, flow
//! network, flow post-processing, confidence, a chain step and a bilinear warp (what the window
//! mean samples each earlier frame with).
//!
//!     cargo run --release -p wick-models --example temporal_timing -- A.ppm B.ppm
use std::time::Instant;

use candle_core::Device;
use wick_models::temporal::*;

fn read_ppm(p: &str) -> (Vec<f32>, Size) {
    let b = std::fs::read(p).expect("read");
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while b[i].is_ascii_whitespace() {
            i += 1;
        }
        let s = i;
        while !b[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&b[s..i]).to_string());
    }
    i += 1;
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let mut v = vec![0f32; 3 * w * h];
    for k in 0..w * h {
        for c in 0..3 {
            v[c * w * h + k] = b[i + 3 * k + c] as f32 / 255.0;
        }
    }
    (v, (h, w))
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (x0, size) = read_ppm(&a[1]);
    let (x1, _) = read_ppm(&a[2]);
    let net = wick_models::rife::IfNet::load(
        &wick_models::style::bundled_weights("rife42.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let ms = wick_models::style::MultiStyle::load(
        &wick_models::style::bundled_weights("multistyle26.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let xt = candle_core::Tensor::from_slice(&x1, (1, 3, size.0, size.1), &Device::Cpu).unwrap();
    let mut wts = vec![0f32; 26];
    wts[0] = 1.0;
    let wts = candle_core::Tensor::from_vec(wts, 26, &Device::Cpu).unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let _ = ms
            .forward(&xt, &wts)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let t_style = t.elapsed();
        let t = Instant::now();
        let (h2, w2) = (size.0 / 2, size.1 / 2);
        let z = candle_core::Tensor::zeros((1, 3, h2, w2), candle_core::DType::F32, &Device::Cpu)
            .unwrap();
        let _ = net.estimate(&z, &z, 0.5, 1.0).unwrap();
        let t_rife = t.elapsed();
        let t = Instant::now();
        let (l0, l1) = (Levels::new(&x0, size), Levels::new(&x1, size));
        let t_levels = t.elapsed();
        let ws = l0.work_size;
        let t = Instant::now();
        let f = estimate_flow(&net, &Device::Cpu, &l0, &l1).unwrap();
        let t_flow = t.elapsed();
        let t = Instant::now();
        let c = confidence(&l1.work, &l0.work, ws, &f, 0.75);
        let t_conf = t.elapsed();
        let st = Step::from_parts(f, &c);
        let t = Instant::now();
        let ch = Chain::identity(ws).back(&st, ws);
        let t_step = t.elapsed();
        let t = Instant::now();
        let _ = warp(&l0.work, 3, ws, &ch.flow);
        let t_render = t.elapsed();
        let t = Instant::now();
        let mut g = vec![0f32; 2 * size.0 * size.1];
        refine_flow(&x1, &x0, size, &mut g, 3);
        let t_lk = t.elapsed();
        println!(
            "{size:?}: multistyle26 {:.0} ms, RIFE half size {:.0} ms, levels of 2 frames {:.0} ms, flow {:.0} ms (LK x3 at full size would take {:.0} ms; it runs at the work size {ws:?}), confidence {:.0} ms, chain step {:.0} ms, bilinear warp at work size {:.0} ms",
            t_style.as_secs_f64() * 1e3,
            t_rife.as_secs_f64() * 1e3,
            t_levels.as_secs_f64() * 1e3,
            t_flow.as_secs_f64() * 1e3,
            t_lk.as_secs_f64() * 1e3,
            t_conf.as_secs_f64() * 1e3,
            t_step.as_secs_f64() * 1e3,
            t_render.as_secs_f64() * 1e3
        );
    }
}
