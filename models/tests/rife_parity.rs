//! IFNet (RIFE 4.2x) against the float64 NumPy reference of tools/rife_reference.py, run from
//! the original PyTorch checkpoint on crops of real frame pairs (fixtures committed under
//! tests/fixtures/rife). Case a: 256×256, t = 0.5, scale 1. Case b: 200×136 (not aligned, so
//! the pad-and-crop path runs), t = 0.3, scale 0.5.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use wick_models::rife::{alignment, Composition, IfNet};
use wick_models::testing::{max_abs, mse};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str, shape: &[usize]) -> Tensor {
    let dir = root().join("tests/fixtures/rife");
    let n: usize = shape.iter().product();
    let (p, v): (_, Vec<f32>) = if name.ends_with("_out") {
        let p = dir.join(format!("{name}.f32"));
        let b = std::fs::read(&p).unwrap();
        assert_eq!(b.len(), n * 4, "{}", p.display());
        (
            p,
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    } else {
        let p = dir.join(format!("{name}.u8"));
        let b = std::fs::read(&p).unwrap();
        assert_eq!(b.len(), n, "{}", p.display());
        (p, b.iter().map(|&x| x as f32 / 255.0).collect())
    };
    let _ = p;
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn net() -> IfNet {
    IfNet::load(&root().join("weights/rife42.safetensors"), &Device::Cpu).unwrap()
}

fn case(net: &IfNet, name: &str, h: usize, w: usize, t: f64, scale: f64) {
    let a = read(&format!("{name}_img0"), &[1, 3, h, w]);
    let b = read(&format!("{name}_img1"), &[1, 3, h, w]);
    let want = read(&format!("{name}_out"), &[1, 3, h, w]);
    let start = std::time::Instant::now();
    let got = net.interpolate(&a, &b, t, scale).unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(got.dims(), &[1, 3, h, w]);
    let err = max_abs(&got, &want);
    let blend = ((&a + &b).unwrap() * 0.5).unwrap();
    println!(
        "{name}: {w}x{h} t={t} scale={scale}: max abs error vs NumPy reference {err:.2e} \
         ({ms:.0} ms; the output differs from a 50/50 blend by mean-square {:.2e})",
        mse(&want, &blend)
    );
    assert!(err <= 1e-3, "{name}: max abs error {err}");
}

#[test]
fn parity_with_numpy_reference() {
    let net = net();
    case(&net, "ifnet_a", 256, 256, 0.5, 1.0);
    case(&net, "ifnet_b", 136, 200, 0.3, 0.5);
}

#[test]
fn time_input_moves_output_between_frames() {
    let net = net();
    let a = read("ifnet_a_img0", &[1, 3, 256, 256]);
    let b = read("ifnet_a_img1", &[1, 3, 256, 256]);
    let near0 = net.interpolate(&a, &b, 0.1, 1.0).unwrap();
    let near1 = net.interpolate(&a, &b, 0.9, 1.0).unwrap();
    let (d0a, d0b) = (mse(&near0, &a), mse(&near0, &b));
    let (d1a, d1b) = (mse(&near1, &a), mse(&near1, &b));
    println!(
        "t=0.1: mse to a {d0a:.2e}, to b {d0b:.2e}; t=0.9: mse to a {d1a:.2e}, to b {d1b:.2e}"
    );
    assert!(d0a < d0b && d1b < d1a);
}

#[test]
fn alpha_channel_follows_the_same_flow() {
    // RGBA in: the alpha plane is warped and blended like the colour; RGB out is unchanged.
    let net = net();
    let a = read("ifnet_b_img0", &[1, 3, 136, 200]);
    let b = read("ifnet_b_img1", &[1, 3, 136, 200]);
    let alpha_a = a.narrow(1, 1, 1).unwrap();
    let alpha_b = b.narrow(1, 1, 1).unwrap();
    let a4 = Tensor::cat(&[&a, &alpha_a], 1).unwrap();
    let b4 = Tensor::cat(&[&b, &alpha_b], 1).unwrap();
    let rgb = net.interpolate(&a, &b, 0.3, 0.5).unwrap();
    let rgba = net.interpolate(&a4, &b4, 0.3, 0.5).unwrap();
    assert_eq!(rgba.dims(), &[1, 4, 136, 200]);
    assert!(max_abs(&rgba.narrow(1, 0, 3).unwrap(), &rgb) < 1e-6);
    // Alpha was the green plane and every channel is padded alike (edge repeated; 200x136 is
    // padded to 256x192), so it comes out as the interpolated green everywhere.
    assert!(
        max_abs(
            &rgba.narrow(1, 3, 1).unwrap(),
            &rgb.narrow(1, 1, 1).unwrap()
        ) < 1e-6
    );
}

#[test]
fn alignment_and_bad_inputs() {
    assert_eq!(alignment(1.0).unwrap(), 64);
    assert_eq!(alignment(0.5).unwrap(), 128);
    assert_eq!(alignment(0.25).unwrap(), 256);
    assert_eq!(alignment(0.75).unwrap(), 256);
    assert!(alignment(0.0).is_err() && alignment(1.5).is_err() && alignment(f64::NAN).is_err());
    let net = net();
    let dev = Device::Cpu;
    let a = Tensor::zeros((1, 3, 8, 8), DType::F32, &dev).unwrap();
    let b = Tensor::zeros((1, 3, 8, 9), DType::F32, &dev).unwrap();
    assert!(net
        .interpolate(&a, &b, 0.5, 1.0)
        .unwrap_err()
        .to_string()
        .contains("shape"));
    assert!(net
        .interpolate(&a, &a, 1.5, 1.0)
        .unwrap_err()
        .to_string()
        .contains("t 1.5"));
    assert!(net.interpolate(&a, &a, 0.5, 0.0).is_err());
    let g = Tensor::zeros((1, 1, 8, 8), DType::F32, &dev).unwrap();
    assert!(net
        .interpolate(&g, &g, 0.5, 1.0)
        .unwrap_err()
        .to_string()
        .contains("3 channels"));
    let e = IfNet::load(&root().join("weights/missing.safetensors"), &dev);
    assert!(e.is_err());
}

#[test]
fn converted_weights_equal_the_checkpoint_when_available() {
    // Needs the original checkpoint beside the repo (developer machines / CI with ../shared);
    // elsewhere it says so and checks nothing.
    let pkl = root().join("../../shared/weights/rife-4.2x/flownet.pkl");
    if !pkl.exists() {
        println!("skipped: {} not present", pkl.display());
        return;
    }
    let from_pkl = wick_models::rife::read_pth_state_dict(&pkl).unwrap();
    let st =
        wick_models::load_safetensors(&root().join("weights/rife42.safetensors"), &Device::Cpu)
            .unwrap();
    assert_eq!(from_pkl.len(), st.len());
    for (k, t) in &from_pkl {
        let u = &st[k];
        assert_eq!(t.dims(), u.dims(), "{k}");
        assert_eq!(max_abs(t, u), 0.0, "{k}");
    }
    println!("{} tensors identical to the checkpoint", from_pkl.len());
}

#[test]
fn mirror_ensemble_is_left_right_equivariant() {
    // With `mirror`, the estimate averages the frames and their mirror images, so mirroring the
    // inputs mirrors the output (a plain pass has no such symmetry).
    let net = net();
    let a = read("ifnet_b_img0", &[1, 3, 136, 200]);
    let b = read("ifnet_b_img1", &[1, 3, 136, 200]);
    let flip = |x: &Tensor| {
        let idx: Vec<u32> = (0..200u32).rev().collect();
        x.contiguous()
            .unwrap()
            .index_select(&Tensor::from_vec(idx, 200, x.device()).unwrap(), 3)
            .unwrap()
    };
    let y = net
        .interpolate_ensemble(&a, &b, 0.5, 1.0, false, true, Composition::RIFE)
        .unwrap();
    let ym = net
        .interpolate_ensemble(
            &flip(&a),
            &flip(&b),
            0.5,
            1.0,
            false,
            true,
            Composition::RIFE,
        )
        .unwrap();
    let d = max_abs(&flip(&ym), &y);
    let plain = net.interpolate(&a, &b, 0.5, 1.0).unwrap();
    let d_plain = max_abs(&y, &plain);
    println!("mirror: equivariance error {d:.2e}; differs from one pass by {d_plain:.2e}");
    assert!(d < 1e-4, "{d}");
    assert!(d_plain > 1e-3, "mirror changed nothing ({d_plain})");
}
