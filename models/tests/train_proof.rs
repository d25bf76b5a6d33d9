//! The issue's proofs, on real material. Ignored by default (minutes of CPU, needs ffmpeg,
//! `/work/shared` and the `dataset-fashion-mnist` Debian package); run one with e.g.
//!
//! ```text
//! WICK_SHARED=/work/shared cargo test -p wick-models --test train_proof -- --ignored --nocapture pairs
//! ```
//!
//! - `pairs`: frames of `media/clips/bikes.mp4` (ffmpeg), targets = ffmpeg colour grade + sharpen
//!   (`TARGET_FILTER`), train on 8 frames within a 5-minute budget, score 20 held-out frames:
//!   PSNR(model output, target) vs PSNR(untouched input, target).
//! - `style`: starry_night + 8 clip frames, style loss at the start vs the end.
//! - `dcgan`: Fashion-MNIST at 64², sample sheet and loss curves into `docs/train/`.
//!
//! Each prints its measured numbers and training speed; outputs go to `docs/train/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use wick_models::squeezenet::SqueezeNet;
use wick_models::testing::psnr_8bit as psnr;
use wick_models::train::{contact_sheet, gan, plot, Mode, TrainConfig, TrainData, Trainer};

const TARGET_FILTER: &str =
    "eq=contrast=1.2:saturation=1.4:gamma=0.85,colorbalance=rs=0.12:gs=0.02:bs=-0.12,unsharp=5:5:1.2";

fn shared() -> PathBuf {
    PathBuf::from(std::env::var("WICK_SHARED").unwrap_or_else(|_| "/work/shared".into()))
}

fn docs() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/train");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn load_rgb(p: &Path) -> Tensor {
    let img = image::open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_rgb8();
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

fn save_rgb(t: &Tensor, p: &Path) {
    let (_, h, w) = t.dims3().unwrap();
    let v: Vec<u8> = (t.clamp(0f32, 1f32).unwrap() * 255.0)
        .unwrap()
        .round()
        .unwrap()
        .permute((1, 2, 0))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(|x| x as u8)
        .collect();
    image::RgbImage::from_raw(w as u32, h as u32, v)
        .unwrap()
        .save(p)
        .unwrap();
}

/// Extracts frame `n` (0-based) of the clip, optionally through `filter`, to PNG.
fn frame(dir: &Path, n: usize, filter: Option<&str>) -> PathBuf {
    let out = dir.join(format!(
        "{}{n:04}.png",
        if filter.is_some() { "t" } else { "i" }
    ));
    if !out.exists() {
        let vf = match filter {
            Some(f) => format!("select=eq(n\\,{n}),{f}"),
            None => format!("select=eq(n\\,{n})"),
        };
        let clip = shared().join("media/clips/bikes.mp4");
        let st = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(&clip)
            .args(["-vf", &vf, "-vsync", "0", "-frames:v", "1"])
            .arg(&out)
            .status()
            .expect("ffmpeg must be installed for this proof");
        assert!(st.success(), "ffmpeg failed on frame {n}");
    }
    out
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wick-proof-{name}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
#[ignore]
fn pairs() {
    let dir = tmpdir("pairs");
    let train_frames = [5usize, 40, 90, 120, 150, 195, 215, 245];
    let held_out: Vec<usize> = (0..20).map(|i| 10 + i * 12).collect();
    let load = |fs: &[usize], filt: Option<&str>| -> Vec<Tensor> {
        fs.iter()
            .map(|&n| load_rgb(&frame(&dir, n, filt)))
            .collect()
    };
    let inputs = load(&train_frames, None);
    let targets = load(&train_frames, Some(TARGET_FILTER));
    let mut cfg = TrainConfig::new(Mode::Pairs);
    cfg.crop = env_usize("WICK_CROP", 96);
    cfg.batch = env_usize("WICK_BATCH", 4);
    cfg.lr = 2e-3;
    cfg.seed = 1;
    let net = Arc::new(SqueezeNet::load_default(&Device::Cpu).unwrap());
    let mut t = Trainer::new(
        cfg.clone(),
        TrainData::Pairs { inputs, targets },
        Some(net),
        &Device::Cpu,
    )
    .unwrap();
    let budget = env_usize("WICK_BUDGET_S", 280) as f64;
    let max_steps = env_usize("WICK_STEPS", 100_000);
    let t0 = Instant::now();
    let mut losses = vec![];
    while t0.elapsed().as_secs_f64() < budget && losses.len() < max_steps {
        let s = t.step().unwrap();
        if s.step.is_multiple_of(25) {
            println!(
                "step {} loss {:.4} {:?} {:.1}s",
                s.step,
                s.loss,
                s.parts,
                t0.elapsed().as_secs_f64()
            );
        }
        losses.push(s.loss);
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "pairs: {} steps (batch {}, crop {}) in {secs:.1}s = {:.2} s/step, {} params",
        losses.len(),
        cfg.batch,
        cfg.crop,
        secs / losses.len() as f64,
        t.param_count()
    );
    t.save_model(&dir.join("pairs.safetensors")).unwrap();
    plot::loss_curve_png(
        &docs().join("pairs_loss.png"),
        "pairs: L1 + 0.1 perceptual",
        &[("loss", &losses)],
        (640, 360),
    )
    .unwrap();
    let (mut base, mut ours) = (0.0, 0.0);
    for (k, &n) in held_out.iter().enumerate() {
        let x = load_rgb(&frame(&dir, n, None));
        let y = load_rgb(&frame(&dir, n, Some(TARGET_FILTER)));
        let p = t
            .preview(&x.unsqueeze(0).unwrap())
            .unwrap()
            .squeeze(0)
            .unwrap();
        let (b, o) = (psnr(&x, &y), psnr(&p, &y));
        println!("held-out frame {n}: input {b:.2} dB, model {o:.2} dB");
        base += b;
        ours += o;
        if k == 7 {
            let sheet = contact_sheet(&Tensor::stack(&[&x, &p, &y], 0).unwrap(), 3).unwrap();
            save_rgb(&sheet, &docs().join("pairs_input_output_target.png"));
        }
    }
    let (base, ours) = (base / 20.0, ours / 20.0);
    println!("pairs held-out mean PSNR vs target: untouched input {base:.2} dB, model {ours:.2} dB, gain {:.2} dB", ours - base);
    assert!(ours - base >= 6.0);
}

#[test]
#[ignore]
fn style() {
    let dir = tmpdir("pairs");
    let content: Vec<Tensor> = [5usize, 40, 90, 120, 150, 195, 215, 245]
        .iter()
        .map(|&n| load_rgb(&frame(&dir, n, None)))
        .collect();
    let style = load_rgb(&shared().join("media/paintings/starry_night.jpg"));
    let style = wick_models::train::data::resize_short_side(&style, 256).unwrap();
    let mut cfg = TrainConfig::new(Mode::Style);
    cfg.crop = env_usize("WICK_CROP", 128);
    cfg.batch = env_usize("WICK_BATCH", 2);
    cfg.lr = 2e-3;
    cfg.seed = 2;
    let steps = env_usize("WICK_STEPS", 150);
    let net = Arc::new(SqueezeNet::load_default(&Device::Cpu).unwrap());
    let mut t = Trainer::new(
        cfg.clone(),
        TrainData::Style {
            style,
            content: content.clone(),
        },
        Some(net),
        &Device::Cpu,
    )
    .unwrap();
    let t0 = Instant::now();
    let mut style_l = vec![];
    for _ in 0..steps {
        let s = t.step().unwrap();
        if s.step.is_multiple_of(10) {
            println!(
                "step {} {:?} {:.1}s",
                s.step,
                s.parts,
                t0.elapsed().as_secs_f64()
            );
        }
        style_l.push(s.parts[1].1);
    }
    let secs = t0.elapsed().as_secs_f64();
    let start = style_l[0];
    let end = style_l[steps - 5..].iter().sum::<f32>() / 5.0;
    println!("style: {steps} steps in {secs:.1}s ({:.2} s/step); style loss {start:.5} -> {end:.5} (mean of last 5) = {:.1}x lower", secs / steps as f64, start / end);
    let out = t
        .preview(&content[3].unsqueeze(0).unwrap())
        .unwrap()
        .squeeze(0)
        .unwrap();
    save_rgb(
        &Tensor::cat(&[&content[3], &out], 2).unwrap(),
        &docs().join("style_starry_night.png"),
    );
    plot::loss_curve_png(
        &docs().join("style_loss.png"),
        "style: Gram loss",
        &[("style", &style_l)],
        (640, 360),
    )
    .unwrap();
    assert!(start / end >= 5.0);
}

fn read_idx_images(path: &Path, n: usize) -> Vec<Tensor> {
    let out = Command::new("gunzip")
        .arg("-c")
        .arg(path)
        .output()
        .expect("gunzip");
    let b = out.stdout;
    assert_eq!(&b[..4], &[0, 0, 8, 3], "not an idx3 ubyte file");
    let count = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
    (0..n.min(count))
        .map(|i| {
            let px: Vec<f32> = b[16 + i * 784..16 + (i + 1) * 784]
                .iter()
                .map(|&v| v as f32 / 255.0)
                .collect();
            let g = Tensor::from_vec(px, (1, 28, 28), &Device::Cpu).unwrap();
            Tensor::cat(&[&g, &g, &g], 0).unwrap()
        })
        .collect()
}

#[test]
#[ignore]
fn dcgan() {
    let images = read_idx_images(
        Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
        env_usize("WICK_IMAGES", 4000),
    );
    let mut cfg = TrainConfig::new(Mode::Dcgan);
    cfg.crop = env_usize("WICK_RES", 64);
    cfg.batch = env_usize("WICK_BATCH", 32);
    cfg.width = env_usize("WICK_WIDTH", 16);
    cfg.seed = 3;
    let steps = env_usize("WICK_STEPS", 600);
    let mut t = Trainer::new(cfg.clone(), TrainData::Images(images), None, &Device::Cpu).unwrap();
    let t0 = Instant::now();
    let (mut g, mut d) = (vec![], vec![]);
    for _ in 0..steps {
        let s = t.step().unwrap();
        g.push(s.parts[0].1);
        d.push(s.parts[1].1);
        if s.step.is_multiple_of(50) {
            println!(
                "step {} g {:.3} d {:.3} {:.1}s",
                s.step,
                s.parts[0].1,
                s.parts[1].1,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "dcgan {}²: {steps} steps (batch {}) in {secs:.1}s ({:.3} s/step), {} params",
        cfg.crop,
        cfg.batch,
        secs / steps as f64,
        t.param_count()
    );
    let z = gan::latents(42, 64, cfg.nz, &Device::Cpu).unwrap();
    let s = t.preview(&z).unwrap();
    save_rgb(
        &contact_sheet(&s, 8).unwrap(),
        &docs().join("dcgan_fashion_samples.png"),
    );
    t.save_model(&tmpdir("dcgan").join("dcgan.safetensors"))
        .unwrap();
    let csv: String = std::iter::once("step,g_loss,d_loss\n".to_string())
        .chain(
            g.iter()
                .zip(&d)
                .enumerate()
                .map(|(i, (a, b))| format!("{},{a},{b}\n", i + 1)),
        )
        .collect();
    std::fs::write(docs().join("dcgan_fashion_losses.csv"), csv).unwrap();
    plot::loss_curve_png(
        &docs().join("dcgan_fashion_losses.png"),
        "DCGAN Fashion-MNIST",
        &[("G", &g), ("D", &d)],
        (640, 360),
    )
    .unwrap();
}

/// Style-loss probe (investigation, not a proof): per-tap Gram loss on a fixed evaluation batch
/// (content crops of the bundled bikes frames) before and after `WICK_STEPS` steps, for the
/// settings in `WICK_LR`, `WICK_SW` (style weight), `WICK_CW` (content weight), `WICK_CROP`.
#[test]
#[ignore]
fn style_probe() {
    use wick_models::squeezenet::Tap;
    use wick_models::train::loss::Perceptual;
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/style-bikes");
    let content: Vec<Tensor> = (1..=12)
        .map(|i| load_rgb(&ex.join(format!("bikes.{i:04}.jpg"))))
        .collect();
    let style = load_rgb(&shared().join("media/paintings/starry_night.jpg"));
    let style = wick_models::train::data::resize_short_side(&style, 256).unwrap();
    let envf = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let mut cfg = TrainConfig::new(Mode::Style);
    cfg.crop = env_usize("WICK_CROP", 96);
    cfg.batch = env_usize("WICK_BATCH", 2);
    cfg.lr = envf("WICK_LR", 2e-3);
    cfg.style_weight = envf("WICK_SW", cfg.style_weight);
    cfg.content_weight = envf("WICK_CW", cfg.content_weight);
    cfg.seed = 2;
    let steps = env_usize("WICK_STEPS", 100);
    let net = Arc::new(SqueezeNet::load_default(&Device::Cpu).unwrap());
    let p = Perceptual::new(net.clone());
    let grams = p.style_targets(&style.unsqueeze(0).unwrap()).unwrap();
    let mut t = Trainer::new(
        cfg.clone(),
        TrainData::Style {
            style,
            content: content.clone(),
        },
        Some(net.clone()),
        &Device::Cpu,
    )
    .unwrap();
    let (eval, _) = t.sample_batch(1_000_000).unwrap();
    let taps = p.style_taps.clone();
    let per_tap = |x: &Tensor| -> Vec<f32> {
        taps.iter()
            .zip(&grams)
            .map(|(tap, g)| {
                let mut q = p.clone();
                q.style_taps = vec![*tap];
                q.style(x, std::slice::from_ref(g))
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            })
            .collect()
    };
    // A random image (uniform noise) for scale: what a random-init network would start from.
    let noise = Tensor::rand(0f32, 1f32, eval.dims(), &Device::Cpu).unwrap();
    println!(
        "taps {:?}",
        taps.iter()
            .map(|t: &Tap| format!("{t:?}"))
            .collect::<Vec<_>>()
    );
    println!("noise     per-tap {:?}", per_tap(&noise));
    let e0 = per_tap(&t.preview(&eval).unwrap());
    println!("step 0    per-tap {e0:?} sum {}", e0.iter().sum::<f32>());
    let t0 = Instant::now();
    for _ in 0..steps {
        let s = t.step().unwrap();
        if s.step.is_multiple_of(25) || s.step == 1 {
            let e = per_tap(&t.preview(&eval).unwrap());
            println!(
                "step {:<4} train {:?} eval per-tap {:?} sum {} ({:.1}x lower) {:.1}s",
                s.step,
                s.parts,
                e,
                e.iter().sum::<f32>(),
                e0.iter().sum::<f32>() / e.iter().sum::<f32>(),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    let out = t.preview(&eval).unwrap();
    save_rgb(
        &contact_sheet(&Tensor::cat(&[&eval, &out], 0).unwrap(), 2).unwrap(),
        &tmpdir("style-probe").join("probe.png"),
    );
}
