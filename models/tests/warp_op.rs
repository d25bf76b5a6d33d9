//! The backward warp (`ops::warp::backward_warp`): forward against a NumPy reference fixture
//! (tools/rife_reference.py), the CPU kernel against the composite used on GPUs, gradients for
//! both inputs against central finite differences in f64, and clear errors on bad input.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use wick_models::ops::warp::{backward_warp, backward_warp_composite};
use wick_models::testing::max_abs_f64 as max_abs;

fn fixture_f32(name: &str, shape: &[usize]) -> Tensor {
    let p = format!(
        "{}/tests/fixtures/rife/{name}.f32",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let n: usize = shape.iter().product();
    assert_eq!(
        bytes.len(),
        n * 4,
        "{p}: size does not match shape {shape:?}"
    );
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

#[test]
fn forward_matches_numpy_reference() {
    let img = fixture_f32("warp_img", &[1, 3, 9, 13]);
    let flow = fixture_f32("warp_flow", &[1, 2, 9, 13]);
    let want = fixture_f32("warp_out", &[1, 3, 9, 13]);
    let got = backward_warp(&img, &flow).unwrap();
    let err = max_abs(&got, &want);
    println!("warp vs NumPy reference: max abs error {err:.3e}");
    assert!(err <= 1e-5, "max abs error {err}");
    // The fixture's flows reach past every border, so clamping is exercised.
    let f = flow.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(f.iter().any(|v| *v > 5.0) && f.iter().any(|v| *v < -5.0));
}

#[test]
fn composite_matches_kernel() {
    let img = fixture_f32("warp_img", &[1, 3, 9, 13]);
    let flow = fixture_f32("warp_flow", &[1, 2, 9, 13]);
    let a = backward_warp(&img, &flow).unwrap();
    let b = backward_warp_composite(&img, &flow).unwrap();
    let err = max_abs(&a, &b);
    println!("warp kernel vs composite: max abs {err:.3e}");
    assert!(err <= 1e-5, "{err}");
}

#[test]
fn zero_flow_is_identity_and_integer_shift_moves_pixels() {
    let dev = Device::Cpu;
    let img = Tensor::arange(0f32, 2.0 * 4.0 * 5.0, &dev)
        .unwrap()
        .reshape((1, 2, 4, 5))
        .unwrap();
    let zero = Tensor::zeros((1, 2, 4, 5), DType::F32, &dev).unwrap();
    assert_eq!(max_abs(&backward_warp(&img, &zero).unwrap(), &img), 0.0);
    // flow x = +1: out[.., j] = img[.., min(j+1, W-1)].
    let fx = Tensor::ones((1, 1, 4, 5), DType::F32, &dev).unwrap();
    let fy = Tensor::zeros((1, 1, 4, 5), DType::F32, &dev).unwrap();
    let flow = Tensor::cat(&[&fx, &fy], 1).unwrap();
    let out = backward_warp(&img, &flow)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(&out[0..5], &[1., 2., 3., 4., 4.]);
}

/// Central finite differences of `sum(warp(img, flow) * r)` in f64 against the op's gradients.
#[test]
fn gradients_match_finite_differences_f64() {
    let dev = Device::Cpu;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (n, c, h, w) = (2, 2, 5, 6);
    let img_v: Vec<f64> = (0..n * c * h * w)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    // Flows up to +-3 px: many samples clamp. Keep every sample at least 0.02 px away from the
    // kinks (integer positions and the borders) so the central differences are well defined.
    let mut flow_v: Vec<f64> = Vec::with_capacity(n * 2 * h * w);
    for _ in 0..n * 2 * h * w {
        let mut f: f64 = rng.gen_range(-3.0..3.0);
        while (f - f.round()).abs() < 0.02 {
            f = rng.gen_range(-3.0..3.0);
        }
        flow_v.push(f);
    }
    let r_v: Vec<f64> = (0..n * c * h * w)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let r = Tensor::from_vec(r_v, (n, c, h, w), &dev).unwrap();
    let loss = |img: &[f64], flow: &[f64]| -> f64 {
        let i = Tensor::from_slice(img, (n, c, h, w), &dev).unwrap();
        let f = Tensor::from_slice(flow, (n, 2, h, w), &dev).unwrap();
        (backward_warp(&i, &f).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let img = Var::from_tensor(&Tensor::from_slice(&img_v, (n, c, h, w), &dev).unwrap()).unwrap();
    let flow = Var::from_tensor(&Tensor::from_slice(&flow_v, (n, 2, h, w), &dev).unwrap()).unwrap();
    let l = (backward_warp(img.as_tensor(), flow.as_tensor()).unwrap() * &r)
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = l.backward().unwrap();
    let gi = grads
        .get(img.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let gf = grads
        .get(flow.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let eps = 1e-6;
    let mut worst = 0f64;
    for k in 0..img_v.len() {
        let (mut p, mut m) = (img_v.clone(), img_v.clone());
        p[k] += eps;
        m[k] -= eps;
        let fd = (loss(&p, &flow_v) - loss(&m, &flow_v)) / (2.0 * eps);
        worst = worst.max((fd - gi[k]).abs());
    }
    println!("d/d img: max |analytic - finite difference| = {worst:.3e}");
    assert!(worst < 1e-6, "img gradient off by {worst}");
    let mut worst = 0f64;
    let mut nonzero = 0;
    for k in 0..flow_v.len() {
        let (mut p, mut m) = (flow_v.clone(), flow_v.clone());
        p[k] += eps;
        m[k] -= eps;
        let fd = (loss(&img_v, &p) - loss(&img_v, &m)) / (2.0 * eps);
        worst = worst.max((fd - gf[k]).abs());
        nonzero += (gf[k] != 0.0) as usize;
    }
    println!("d/d flow: max |analytic - finite difference| = {worst:.3e} ({nonzero} non-zero)");
    assert!(worst < 1e-6, "flow gradient off by {worst}");
    assert!(
        nonzero > flow_v.len() / 2,
        "too few non-clamped samples: {nonzero}"
    );
}

#[test]
fn bad_inputs_are_errors() {
    let dev = Device::Cpu;
    let img = Tensor::zeros((1, 3, 4, 5), DType::F32, &dev).unwrap();
    let e = backward_warp(
        &img,
        &Tensor::zeros((1, 2, 4, 6), DType::F32, &dev).unwrap(),
    );
    assert!(e.unwrap_err().to_string().contains("does not match"));
    let e = backward_warp(
        &img,
        &Tensor::zeros((1, 3, 4, 5), DType::F32, &dev).unwrap(),
    );
    assert!(e.is_err());
    let e = backward_warp(
        &img,
        &Tensor::zeros((1, 2, 4, 5), DType::F64, &dev).unwrap(),
    );
    assert!(e.unwrap_err().to_string().to_lowercase().contains("f64"));
    let e = backward_warp(&Tensor::zeros((3, 4, 5), DType::F32, &dev).unwrap(), &img);
    assert!(e.is_err());
    // NaN flow is not a panic.
    let nan = Tensor::full(f32::NAN, (1, 2, 4, 5), &dev).unwrap();
    assert!(backward_warp(&img, &nan).is_ok());
}

#[test]
fn multithreaded_kernel_matches_composite_on_a_larger_image() {
    // Large enough for the kernel's multi-threaded path.
    let dev = Device::Cpu;
    let img = Tensor::randn(0f32, 1.0, (2, 3, 64, 200), &dev).unwrap();
    let flow = (Tensor::randn(0f32, 1.0, (2, 2, 64, 200), &dev).unwrap() * 8.0).unwrap();
    let err = max_abs(
        &backward_warp(&img, &flow).unwrap(),
        &backward_warp_composite(&img, &flow).unwrap(),
    );
    println!("warp kernel vs composite, 2x3x64x200: max abs {err:.3e}");
    assert!(err <= 1e-4, "{err}");
}
