//! Training core at tiny sizes: every mode's loss goes down, a resumed run equals an
//! uninterrupted one bit for bit on the CPU, and bad checkpoints are clear errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{Device, Tensor};
use wick_models::squeezenet::SqueezeNet;
use wick_models::train::{load_generator, load_img2img, Mode, TrainConfig, TrainData, Trainer};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/train")
        .join(name)
}

/// A fixture photo as RGB 0..1 [3, H, W], downscaled by `f`.
fn photo(name: &str, f: u32) -> Tensor {
    let img = image::open(fixture(name)).unwrap().to_rgb8();
    let img = image::imageops::resize(
        &img,
        img.width() / f,
        img.height() / f,
        image::imageops::FilterType::Triangle,
    );
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
}

/// A "colour grade": channel mix + gamma-ish curve, the kind of fix the pairs mode learns.
fn grade(x: &Tensor) -> Tensor {
    let m = Tensor::new(
        &[[0.9f32, 0.2, 0.0], [0.0, 0.8, 0.1], [0.1, 0.0, 0.7]],
        &Device::Cpu,
    )
    .unwrap();
    let (c, h, w) = x.dims3().unwrap();
    let y = m
        .matmul(&x.reshape((c, h * w)).unwrap())
        .unwrap()
        .reshape((c, h, w))
        .unwrap();
    y.clamp(0f32, 1f32).unwrap().sqrt().unwrap()
}

fn loss_net() -> Arc<SqueezeNet> {
    Arc::new(SqueezeNet::load_default(&Device::Cpu).unwrap())
}

fn pairs_trainer(seed: u64) -> Trainer {
    let inputs = vec![photo("chelsea.png", 4), photo("coffee.png", 5)];
    let targets = inputs.iter().map(grade).collect();
    let mut cfg = TrainConfig::new(Mode::Pairs);
    cfg.seed = seed;
    cfg.crop = 32;
    cfg.batch = 2;
    cfg.lr = 3e-3;
    Trainer::new(
        cfg,
        TrainData::Pairs { inputs, targets },
        Some(loss_net()),
        &Device::Cpu,
    )
    .unwrap()
}

fn gen_trainer(mode: Mode, seed: u64) -> Trainer {
    let images = vec![photo("chelsea.png", 4), photo("coffee.png", 5)];
    let mut cfg = TrainConfig::new(mode);
    cfg.seed = seed;
    cfg.crop = 32;
    cfg.batch = 4;
    cfg.width = 8;
    cfg.nz = 16;
    if mode == Mode::Vae {
        cfg.lr = 3e-3;
    }
    Trainer::new(cfg, TrainData::Images(images), None, &Device::Cpu).unwrap()
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wick-train-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn pairs_loss_goes_down_and_model_loads() {
    let mut t = pairs_trainer(1);
    let losses: Vec<f32> = (0..16).map(|_| t.step().unwrap().loss).collect();
    println!("pairs losses {losses:?}");
    let (first, last) = (mean(&losses[..4]), mean(&losses[12..]));
    assert!(last < 0.8 * first, "pairs loss {first} -> {last}");
    // The written model loads and reproduces the trainer's output.
    let p = tmp("pairs.safetensors");
    t.save_model(&p).unwrap();
    let m = load_img2img(&p, &Device::Cpu).unwrap();
    let x = photo("coffee.png", 10).unsqueeze(0).unwrap(); // 60×40, not a multiple of 4 wide
    let a = m.forward_any(&x).unwrap().clamp(0f32, 1f32).unwrap();
    let b = t.preview(&x).unwrap();
    assert_eq!(a.dims(), x.dims());
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(d, 0.0);
}

#[test]
fn style_loss_goes_down() {
    let mut cfg = TrainConfig::new(Mode::Style);
    cfg.crop = 48;
    cfg.batch = 1;
    cfg.lr = 1e-2;
    cfg.seed = 3;
    // One 48×48 content frame, so the crops differ only by flips and the curve is readable.
    let content = photo("chelsea.png", 6)
        .narrow(1, 0, 48)
        .unwrap()
        .narrow(2, 0, 48)
        .unwrap();
    let data = TrainData::Style {
        style: photo("coffee.png", 4),
        content: vec![content],
    };
    let mut t = Trainer::new(cfg, data, Some(loss_net()), &Device::Cpu).unwrap();
    let mut style = vec![];
    for _ in 0..20 {
        let s = t.step().unwrap();
        println!("{:?}", s.parts);
        style.push(s.parts.iter().find(|p| p.0 == "style").unwrap().1);
    }
    println!("style losses {style:?}");
    assert!(
        mean(&style[17..]) < 0.75 * mean(&style[..3]),
        "style {style:?}"
    );
}

#[test]
fn vae_loss_goes_down_and_generator_loads() {
    let mut t = gen_trainer(Mode::Vae, 5);
    let losses: Vec<f32> = (0..16).map(|_| t.step().unwrap().loss).collect();
    println!("vae losses {losses:?}");
    assert!(
        mean(&losses[12..]) < 0.8 * mean(&losses[..4]),
        "vae {losses:?}"
    );
    let p = tmp("vae.safetensors");
    t.save_model(&p).unwrap();
    let g = load_generator(&p, &Device::Cpu).unwrap();
    assert_eq!((g.nz(), g.resolution()), (16, 32));
    let z = wick_models::train::gan::latents(7, 3, 16, &Device::Cpu).unwrap();
    assert_eq!(g.sample(&z).unwrap().dims(), &[3, 3, 32, 32]);
}

#[test]
fn dcgan_discriminator_loss_goes_down_and_generator_samples() {
    let mut t = gen_trainer(Mode::Dcgan, 9);
    let d: Vec<f32> = (0..12).map(|_| t.step().unwrap().parts[1].1).collect();
    println!("dcgan d losses {d:?}");
    assert!(mean(&d[9..]) < mean(&d[..3]), "d loss {d:?}");
    let p = tmp("gan.safetensors");
    t.save_model(&p).unwrap();
    let g = load_generator(&p, &Device::Cpu).unwrap();
    let z0 = wick_models::train::gan::latents(1, 1, 16, &Device::Cpu).unwrap();
    let z1 = wick_models::train::gan::latents(2, 1, 16, &Device::Cpu).unwrap();
    // slerp endpoints are the endpoints.
    let mid = wick_models::train::gan::slerp(&z0, &z1, 0.0).unwrap();
    let e = (mid - &z0)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(e < 1e-5);
    let s = g.sample(&Tensor::cat(&[&z0, &z1], 0).unwrap()).unwrap();
    assert_eq!(s.dims(), &[2, 3, 32, 32]);
}

fn params_equal(a: &Path, b: &Path) {
    let ta = wick_models::load_safetensors(a, &Device::Cpu).unwrap();
    let tb = wick_models::load_safetensors(b, &Device::Cpu).unwrap();
    assert_eq!(ta.len(), tb.len());
    for (k, v) in &ta {
        let d = (v - &tb[k])
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0, "tensor {k} differs");
    }
}

#[test]
fn resume_equals_uninterrupted_run_bit_for_bit() {
    for mode in [Mode::Pairs, Mode::Dcgan] {
        let make = || {
            if mode == Mode::Pairs {
                pairs_trainer(11)
            } else {
                gen_trainer(Mode::Dcgan, 11)
            }
        };
        // Uninterrupted: 4 steps.
        let mut a = make();
        let la: Vec<f32> = (0..4).map(|_| a.step().unwrap().loss).collect();
        let pa = tmp(&format!("{mode:?}-a.safetensors"));
        a.save_checkpoint(&pa).unwrap();
        // Interrupted after 2, checkpointed, resumed in a fresh trainer.
        let mut b = make();
        let mut lb: Vec<f32> = (0..2).map(|_| b.step().unwrap().loss).collect();
        let ck = tmp(&format!("{mode:?}-ck.safetensors"));
        b.save_checkpoint(&ck).unwrap();
        drop(b);
        let mut c = make();
        c.resume(&ck).unwrap();
        assert_eq!(c.steps_done(), 2);
        lb.extend((0..2).map(|_| c.step().unwrap().loss));
        let pc = tmp(&format!("{mode:?}-c.safetensors"));
        c.save_checkpoint(&pc).unwrap();
        assert_eq!(la, lb, "{mode:?} losses");
        params_equal(&pa, &pc);
    }
}

#[test]
fn corrupt_or_mismatched_checkpoints_are_clear_errors() {
    let mut t = pairs_trainer(2);
    t.step().unwrap();
    let ck = tmp("ck.safetensors");
    t.save_checkpoint(&ck).unwrap();
    let bytes = std::fs::read(&ck).unwrap();

    // Truncated.
    let bad = tmp("truncated.safetensors");
    std::fs::write(&bad, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let e = pairs_trainer(2).resume(&bad).unwrap_err().to_string();
    assert!(e.contains("truncated or corrupt"), "{e}");
    let e = load_img2img(&bad, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("truncated or corrupt"), "{e}");

    // Garbage header.
    let bad2 = tmp("garbage.safetensors");
    let mut g = bytes.clone();
    g[8..40].copy_from_slice(&[b'#'; 32]);
    std::fs::write(&bad2, &g).unwrap();
    assert!(pairs_trainer(2).resume(&bad2).is_err());

    // A NaN in the weights.
    let mut m = wick_models::load_safetensors(&ck, &Device::Cpu).unwrap();
    let w = m["e1.weight"].clone();
    let nan = Tensor::full(f32::NAN, w.dims(), &Device::Cpu).unwrap();
    m.insert("e1.weight".into(), nan);
    let bad3 = tmp("nan.safetensors");
    wick_models::weights::save_safetensors_atomic(&m, &bad3).unwrap();
    let e = load_img2img(&bad3, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("non-finite"), "{e}");

    // Another network's checkpoint.
    let mut gan = gen_trainer(Mode::Dcgan, 2);
    let gp = tmp("gan-ck.safetensors");
    gan.step().unwrap();
    gan.save_checkpoint(&gp).unwrap();
    let e = pairs_trainer(2).resume(&gp).unwrap_err().to_string();
    assert!(e.contains("checkpoint is for network"), "{e}");
    let e = load_img2img(&gp, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("not an image-to-image model"), "{e}");

    // Missing file.
    let e = pairs_trainer(2)
        .resume(&tmp("nope.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.safetensors"), "{e}");
}

#[test]
fn loss_curve_and_contact_sheet_pngs() {
    let p = tmp("curve.png");
    let g: Vec<f32> = (1..=50).map(|i| 2.0 / i as f32).collect();
    let d: Vec<f32> = (1..=50)
        .map(|i| 1.0 + (i as f32 * 0.3).sin() * 0.2)
        .collect();
    wick_models::train::plot::loss_curve_png(&p, "losses", &[("g", &g), ("d", &d)], (320, 200))
        .unwrap();
    let img = image::open(&p).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (320, 200));
    // Something other than the white background was drawn.
    assert!(img.pixels().filter(|px| px.0 != [255, 255, 255]).count() > 200);
    let imgs = Tensor::rand(0f32, 1f32, (5, 3, 8, 10), &Device::Cpu).unwrap();
    let sheet = wick_models::train::contact_sheet(&imgs, 2).unwrap();
    assert_eq!(sheet.dims(), &[3, 24, 20]);
    let a = sheet.narrow(1, 8, 8).unwrap().narrow(2, 10, 10).unwrap();
    let diff = (a - imgs.get(3).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
}
