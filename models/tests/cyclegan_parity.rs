//! Parity of Wick's CycleGAN ResNet generator with PyTorch running the reference layout
//! (`tools/cyclegan_fixtures.py`, outputs committed under `tests/fixtures/cyclegan/`), on real
//! photo crops: the bundled vintagify generator (safetensors, f16 storage, affine norms,
//! `model.K.block.*`) and a random reference-layout generator saved by `torch.save` (`.pth`,
//! no affine norms, `model.K.conv_block.*`). `cargo test -p wick-models --test cyclegan_parity
//! -- --nocapture` prints the errors.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use wick_models::style::cyclegan::{Layout, ResnetGenerator};
use wick_models::testing::max_abs;

fn fixture(dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name)
}

/// A PNG photo fixture as RGB 0..1 `[1, 3, H, W]`.
fn photo(name: &str) -> Tensor {
    let img = image::open(fixture("style", &format!("{name}.png")))
        .unwrap()
        .to_rgb8();
    let (w, h) = img.dimensions();
    let v: Vec<f32> = img.into_raw().iter().map(|&b| b as f32 / 255.0).collect();
    Tensor::from_vec(v, (h as usize, w as usize, 3), &Device::Cpu)
        .unwrap()
        .permute((2, 0, 1))
        .unwrap()
        .unsqueeze(0)
        .unwrap()
        .contiguous()
        .unwrap()
}

fn refs() -> std::collections::HashMap<String, Tensor> {
    wick_models::load_safetensors(&fixture("cyclegan", "ref.safetensors"), &Device::Cpu).unwrap()
}

#[test]
fn vintagify_generator_matches_pytorch() {
    let path = wick_models::weights::bundled("cyclegan_vintage.safetensors");
    let l = ResnetGenerator::detect(&path).expect("detected as a ResNet generator");
    assert_eq!(
        l,
        Layout {
            ngf: 64,
            blocks: 9,
            affine: true,
            block_key: "block".into(),
            second_conv: 5,
            residual: false,
        }
    );
    let g = ResnetGenerator::load(&path, &Device::Cpu).unwrap();
    let r = refs();
    for name in ["astronaut", "chelsea", "coffee"] {
        let x = photo(name);
        let y = g.forward_raw(&((x * 2.0).unwrap() - 1.0).unwrap()).unwrap();
        let e = max_abs(&y, &r[&format!("vintage.{name}")]);
        println!(
            "vintage {name} {:?}: max abs vs PyTorch {e:.2e} (-1..1)",
            y.dims()
        );
        assert!(e < 1e-4, "{name}: {e}");
    }
}

#[test]
fn reference_layout_pth_matches_pytorch_and_any_size_runs() {
    let path = fixture("cyclegan", "tiny_ref.pth");
    let l = ResnetGenerator::detect(&path).expect("detected");
    assert_eq!(l, Layout::reference(8, 2));
    let g = ResnetGenerator::load(&path, &Device::Cpu).unwrap();
    let r = refs();
    for name in ["astronaut", "chelsea", "coffee"] {
        let x = photo(name);
        let y = g
            .forward_raw(&((&x * 2.0).unwrap() - 1.0).unwrap())
            .unwrap();
        let e = max_abs(&y, &r[&format!("tiny.{name}")]);
        println!("tiny {name}: max abs vs PyTorch {e:.2e}");
        assert!(e < 1e-4, "{name}: {e}");
    }
    // Sizes that are not multiples of 4 run (reflect-padded, cropped back), in 0..1.
    let x = photo("coffee")
        .narrow(2, 0, 37)
        .unwrap()
        .narrow(3, 0, 50)
        .unwrap();
    let y = g.forward(&x).unwrap();
    assert_eq!(y.dims(), &[1, 3, 37, 50]);
    // Frames smaller than the network's 8×8 minimum are padded up to it and cropped back
    // (issue #16: small frames work; before, they were refused).
    let small = photo("coffee").narrow(2, 0, 5).unwrap();
    let w = small.dim(3).unwrap();
    assert_eq!(g.forward(&small).unwrap().dims(), &[1, 3, 5, w]);
}

#[test]
fn other_files_are_not_detected_and_bad_files_are_clear_errors() {
    let multi = wick_models::weights::bundled("multistyle26.safetensors");
    assert!(ResnetGenerator::detect(&multi).is_none());
    let e = ResnetGenerator::load(&multi, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a CycleGAN ResNet generator"), "{e}");
    let e = ResnetGenerator::load(&PathBuf::from("/no/such.pth"), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not found"), "{e}");
    // A truncated safetensors copy of the real generator.
    let src = std::fs::read(wick_models::weights::bundled(
        "cyclegan_vintage.safetensors",
    ))
    .unwrap();
    let cut = std::env::temp_dir().join(format!("wick-cg-cut-{}.safetensors", std::process::id()));
    std::fs::write(&cut, &src[..src.len() / 3]).unwrap();
    assert!(ResnetGenerator::detect(&cut).is_none());
    assert!(ResnetGenerator::load(&cut, &Device::Cpu).is_err());
    let _ = std::fs::remove_file(&cut);
}
