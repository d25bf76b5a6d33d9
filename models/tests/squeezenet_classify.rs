//! SqueezeNet v1.1 (converted from ncnn) classifies real photos correctly, and its max-pool
//! gradient is exact.

use std::path::Path;

use candle_core::{Device, Tensor, Var};
use wick_models::ops::{max_pool2d, max_pool2d_ceil};
use wick_models::squeezenet::{SqueezeNet, Tap};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/train")
        .join(name)
}

fn load_rgb(name: &str) -> Tensor {
    let img = image::open(fixture(name)).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let data: Vec<f32> = img
        .into_raw()
        .into_iter()
        .map(|v| v as f32 / 255.0)
        .collect();
    Tensor::from_vec(data, (h as usize, w as usize, 3), &Device::Cpu)
        .unwrap()
        .permute((2, 0, 1))
        .unwrap()
        .unsqueeze(0)
        .unwrap()
}

fn synsets() -> Vec<String> {
    std::fs::read_to_string(fixture("synset_words.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            l.split_once(' ')
                .map(|(_, n)| n.to_string())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn classifies_chelsea_as_cat_and_coffee_as_espresso_or_cup() {
    let net = SqueezeNet::load_default(&Device::Cpu).unwrap();
    let names = synsets();
    assert_eq!(names.len(), 1000);
    for (file, ok) in [
        ("chelsea.png", &[281usize, 282, 285][..]), // tabby, tiger cat, Egyptian cat
        ("coffee.png", &[967, 968, 504][..]),       // espresso, cup, coffee mug
    ] {
        let top = net.classify(&load_rgb(file), 5).unwrap().remove(0);
        for (i, p) in &top {
            println!("{file}: {:.3} {} ({i})", p, names[*i]);
        }
        assert!(
            ok.contains(&top[0].0),
            "{file}: top-1 is {} ({})",
            names[top[0].0],
            top[0].0
        );
    }
}

#[test]
fn feature_taps_have_expected_shapes() {
    let net = SqueezeNet::load_default(&Device::Cpu).unwrap();
    let x = Tensor::zeros((2, 3, 227, 227), candle_core::DType::F32, &Device::Cpu).unwrap();
    let taps = [Tap::Fire(5), Tap::Relu1, Tap::Fire(2), Tap::Fire(9)];
    let f = net.features(&x, &taps).unwrap();
    assert_eq!(f[0].dims(), &[2, 256, 28, 28]);
    assert_eq!(f[1].dims(), &[2, 64, 113, 113]);
    assert_eq!(f[2].dims(), &[2, 128, 56, 56]);
    assert_eq!(f[3].dims(), &[2, 512, 14, 14]);
    assert!(Tap::parse("fire10").is_err());
    assert_eq!(Tap::parse("fire7").unwrap(), Tap::Fire(7));
}

#[test]
fn truncated_weights_are_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("wick-sq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("sq.safetensors");
    let bytes = std::fs::read(wick_models::squeezenet::default_weights_path()).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = SqueezeNet::load(&p, &Device::Cpu)
        .err()
        .expect("must fail")
        .to_string();
    assert!(e.contains("truncated or corrupt"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn max_pool_values_and_gradient_match_a_direct_loop() {
    // 1×1×6×7 input with distinct values; ceil mode gives 3×3 outputs, floor mode 2×3.
    let (h, w) = (6usize, 7usize);
    let vals: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 41) as f32 - 20.0).collect();
    let x = Var::from_vec(vals.clone(), (1, 1, h, w), &Device::Cpu).unwrap();
    for ceil in [false, true] {
        let (oh, ow) = if ceil {
            ((h - 3).div_ceil(2) + 1, (w - 3).div_ceil(2) + 1)
        } else {
            ((h - 3) / 2 + 1, (w - 3) / 2 + 1)
        };
        let y = if ceil {
            max_pool2d_ceil(&x, 3, 2)
        } else {
            max_pool2d(&x, 3, 2, 0)
        }
        .unwrap();
        assert_eq!(y.dims(), &[1, 1, oh, ow]);
        // Weight each output differently so the gradient shows which input got which share.
        let wts: Vec<f32> = (0..oh * ow).map(|i| i as f32 + 1.0).collect();
        let wt = Tensor::from_vec(wts.clone(), (1, 1, oh, ow), &Device::Cpu).unwrap();
        let g = (&y * &wt).unwrap().sum_all().unwrap().backward().unwrap();
        let got = g
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let yv = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut want = vec![0f32; h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = (f32::MIN, 0);
                for dy in 0..3 {
                    for dx in 0..3 {
                        let (iy, ix) = (oy * 2 + dy, ox * 2 + dx);
                        if iy < h && ix < w && vals[iy * w + ix] > best.0 {
                            best = (vals[iy * w + ix], iy * w + ix);
                        }
                    }
                }
                assert_eq!(yv[oy * ow + ox], best.0);
                want[best.1] += wts[oy * ow + ox];
            }
        }
        assert_eq!(got, want, "ceil={ceil}");
    }
}
