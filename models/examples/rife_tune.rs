//! Experiment (issue #20): fine-tunes RIFE 4.2x IFNet on a shot's own frame triplets — frames
//! i and i + 2 of the frames given predicting frame i + 1, either order — on random CROP×CROP
//! crops, L1 loss, Adam at LR, through the tensor path's backward. The two transposed
//! convolutions (precomputed there as sub-pixel convolutions, so without a gradient) are left
//! as they are. Measured in BENCHMARKS.md (Interpolation, "what is left of the quality goals"):
//! it does not help, so it is not a node option.
//!
//!     cargo run --release -p wick-models --example rife_tune -- WEIGHTS OUT DIR STRIDE STEPS LR CROP
//!
//! DIR: PNG frames (sorted); every STRIDE-th is a frame "the user has". Writes OUT
//! (safetensors, loadable by `wick.interpolate weights=`); prints the mean loss every 10 steps.
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use wick_models::rife::IfNet;
use wick_models::train::optim::{Adam, AdamConfig};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn load(p: &std::path::Path, dev: &Device) -> Res<Tensor> {
    let img = image::open(p)?.to_rgb8();
    let (w, h) = img.dimensions();
    let v: Vec<f32> = img.into_raw().iter().map(|&b| b as f32 / 255.0).collect();
    Ok(Tensor::from_vec(v, (h as usize, w as usize, 3), dev)?
        .permute((2, 0, 1))?
        .unsqueeze(0)?
        .contiguous()?)
}

fn main() -> Res<()> {
    let a: Vec<String> = std::env::args().collect();
    let (weights, out, dir) = (&a[1], &a[2], &a[3]);
    let stride: usize = a[4].parse()?;
    let steps: usize = a[5].parse()?;
    let lr: f64 = a[6].parse()?;
    let crop: usize = a[7].parse()?;
    let dev = Device::Cpu;
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "png"));
    paths.sort();
    let frames: Vec<Tensor> = paths
        .iter()
        .step_by(stride)
        .map(|p| load(p, &dev))
        .collect::<Res<_>>()?;
    let (_, _, h, w) = frames[0].dims4()?;
    let crop_h = crop.min(h / 32 * 32);
    let crop_w = crop.min(w / 32 * 32);
    eprintln!(
        "{} frames {h}x{w}, {} triplets, crop {crop_h}x{crop_w}",
        frames.len(),
        frames.len() - 2
    );
    let vm = VarMap::new();
    {
        let t = wick_models::weights::load_safetensors(std::path::Path::new(weights), &dev)?;
        let mut d = vm.data().lock().unwrap();
        for (k, v) in t {
            d.insert(k, Var::from_tensor(&v.to_dtype(DType::F32)?)?);
        }
    }
    let net = IfNet::new(VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
    let vars: Vec<(String, Var)> = {
        let d = vm.data().lock().unwrap();
        let mut v: Vec<_> = d.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        // The transposed convolutions are precomputed (no gradient): left as they are.
        v.retain(|(k, _)| !k.contains("lastconv") && !k.contains("cnn3"));
        v
    };
    eprintln!("{} trainable tensors", vars.len());
    let mut opt = Adam::new(
        vars,
        AdamConfig {
            lr,
            ..Default::default()
        },
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let t0 = Instant::now();
    let mut run = 0f64;
    for step in 0..steps {
        let i = rng.gen_range(0..frames.len() - 2);
        let (y, x) = (rng.gen_range(0..=h - crop_h), rng.gen_range(0..=w - crop_w));
        let c = |t: &Tensor| t.narrow(2, y, crop_h)?.narrow(3, x, crop_w)?.contiguous();
        let (mut f0, gt, mut f1) = (c(&frames[i])?, c(&frames[i + 1])?, c(&frames[i + 2])?);
        if rng.gen_bool(0.5) {
            std::mem::swap(&mut f0, &mut f1);
        }
        let pred = net.forward_tensors(&f0, &f1, 0.5, 1.0)?;
        let loss = (pred - gt)?.abs()?.mean_all()?;
        let g = loss.backward()?;
        opt.step(&g)?;
        run += loss.to_scalar::<f32>()? as f64;
        if (step + 1) % 10 == 0 {
            eprintln!(
                "step {} loss {:.5} ({:.1} s)",
                step + 1,
                run / 10.0,
                t0.elapsed().as_secs_f64()
            );
            run = 0.0;
        }
    }
    vm.save(out)?;
    Ok(())
}
