//! Gradients of every op against central finite differences in f64, including the cases Candle
//! 0.11.1 gets wrong: stride-2 convolutions on odd/even sizes, nearest upsampling feeding a skip
//! connection (accumulation), overlapping max pooling, bilinear resize.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use wick_models::ops::{self, Conv2dParams, ConvTranspose2dParams, NormActivation, PadMode};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// `Σ f(inputs) · r` for a fixed random `r`: a scalar whose gradient exercises every output.
fn weighted(y: &Tensor, seed: u64) -> Result<Tensor> {
    let r = randn(y.dims(), seed);
    (y * r)?.sum_all()
}

/// Checks d loss / d input for every input against central differences; prints the worst error.
fn grad_check(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let loss = f(&ts).unwrap();
    assert_eq!(loss.dtype(), DType::F64);
    let grads = loss.backward().unwrap();
    let h = 1e-6;
    let mut worst = 0.0f64;
    for (i, v) in vars.iter().enumerate() {
        let analytic: Vec<f64> = match grads.get(v.as_tensor()) {
            Some(g) => g.flatten_all().unwrap().to_vec1().unwrap(),
            None => panic!("{name}: no gradient for input {i}"),
        };
        let base: Vec<f64> = inputs[i].flatten_all().unwrap().to_vec1().unwrap();
        for j in 0..base.len() {
            let eval = |delta: f64| -> f64 {
                let mut p = base.clone();
                p[j] += delta;
                let mut ins: Vec<Tensor> = inputs.to_vec();
                ins[i] = Tensor::from_vec(p, inputs[i].shape(), &Device::Cpu).unwrap();
                f(&ins).unwrap().to_scalar::<f64>().unwrap()
            };
            let numeric = (eval(h) - eval(-h)) / (2.0 * h);
            let err = (numeric - analytic[j]).abs() / (1.0 + numeric.abs());
            worst = worst.max(err);
            assert!(
                err < 1e-6,
                "{name}: input {i} element {j}: analytic {} vs numeric {numeric}",
                analytic[j]
            );
        }
    }
    println!("{name:40} worst relative grad error {worst:.2e}");
}

fn conv_case(name: &str, x: &[usize], w: &[usize], p: Conv2dParams, bias: bool, seed: u64) {
    let mut ins = vec![randn(x, seed), randn(w, seed + 1)];
    if bias {
        ins.push(randn(&[w[0]], seed + 2));
    }
    grad_check(name, &ins, |t| {
        weighted(&ops::conv2d(&t[0], &t[1], t.get(2), p)?, seed + 3)
    });
}

#[test]
fn conv2d_gradients() {
    let p = |stride, padding, dilation, groups| Conv2dParams {
        stride,
        padding,
        dilation,
        groups,
    };
    conv_case(
        "conv s2 odd h / even w",
        &[1, 2, 7, 6],
        &[3, 2, 3, 3],
        p(2, 1, 1, 1),
        true,
        1,
    );
    conv_case(
        "conv s2 even h / odd w, no pad",
        &[2, 2, 6, 7],
        &[3, 2, 3, 3],
        p(2, 0, 1, 1),
        false,
        10,
    );
    conv_case(
        "conv s2 k4 pad1 (5x8)",
        &[1, 2, 5, 8],
        &[2, 2, 4, 4],
        p(2, 1, 1, 1),
        false,
        20,
    );
    conv_case(
        "conv groups 2 dilation 2",
        &[1, 4, 6, 6],
        &[4, 2, 3, 3],
        p(1, 2, 2, 2),
        true,
        30,
    );
    conv_case(
        "conv depthwise s2 (7x6)",
        &[2, 3, 7, 6],
        &[3, 1, 3, 3],
        p(2, 1, 1, 3),
        true,
        40,
    );
    conv_case(
        "conv depthwise s1 k5",
        &[1, 2, 6, 5],
        &[2, 1, 5, 5],
        p(1, 2, 1, 2),
        false,
        45,
    );
    conv_case(
        "conv 1x1",
        &[2, 3, 4, 5],
        &[4, 3, 1, 1],
        p(1, 0, 1, 1),
        true,
        50,
    );
    conv_case(
        "conv s3 rect kernel",
        &[1, 2, 8, 10],
        &[2, 2, 3, 2],
        p(3, 1, 1, 1),
        false,
        60,
    );
}

#[test]
fn conv_transpose2d_gradients() {
    for (i, (x, w, p)) in [
        (&[1usize, 3, 3, 4][..], &[3usize, 2, 3, 3][..], (2, 1, 1, 1)),
        (&[2, 2, 4, 3], &[2, 3, 4, 4], (2, 1, 0, 1)),
        (&[1, 2, 3, 3], &[2, 2, 3, 3], (1, 0, 0, 2)),
        (&[1, 4, 3, 2], &[4, 3, 1, 1], (1, 0, 0, 1)),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 100 + 10 * i as u64;
        let p = ConvTranspose2dParams {
            stride: p.0,
            padding: p.1,
            output_padding: p.2,
            dilation: p.3,
        };
        let ins = vec![randn(x, seed), randn(w, seed + 1), randn(&[w[1]], seed + 2)];
        grad_check(&format!("conv_transpose2d {x:?} {w:?} {p:?}"), &ins, |t| {
            weighted(
                &ops::conv_transpose2d(&t[0], &t[1], Some(&t[2]), p)?,
                seed + 3,
            )
        });
    }
}

#[test]
fn instance_norm_gradients() {
    let x = randn(&[2, 3, 4, 5], 200);
    grad_check("instance_norm plain", std::slice::from_ref(&x), |t| {
        weighted(&ops::instance_norm(&t[0], None, None, 1e-5)?, 201)
    });
    let ins = vec![x.clone(), randn(&[3], 202), randn(&[3], 203)];
    grad_check("instance_norm affine [C]", &ins, |t| {
        weighted(
            &ops::instance_norm(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)?,
            204,
        )
    });
    let ins = vec![x.clone(), randn(&[2, 3], 205), randn(&[2, 3], 206)];
    grad_check("instance_norm conditional [N, C]", &ins, |t| {
        weighted(
            &ops::instance_norm(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)?,
            207,
        )
    });
    grad_check("instance_norm conditional + relu", &ins, |t| {
        let y =
            ops::instance_norm_act(&t[0], Some(&t[1]), Some(&t[2]), 1e-3, NormActivation::Relu)?;
        weighted(&y, 208)
    });
}

#[test]
fn upsample_gradients_accumulate_through_skip_connections() {
    let x = randn(&[1, 2, 3, 4], 300);
    // x feeds both the upsample and a skip path: its gradient must be the sum of both.
    grad_check("nearest x2 + skip", std::slice::from_ref(&x), |t| {
        let up = ops::upsample_nearest2d(&t[0], 6, 8)?;
        let down = ops::max_pool2d(&up, 2, 2, 0)?;
        weighted(&up, 301)? + weighted(&(down + &t[0])?, 302)?
    });
    grad_check("nearest 3x4 -> 5x7", std::slice::from_ref(&x), |t| {
        weighted(&ops::upsample_nearest2d(&t[0], 5, 7)?, 303)
    });
    grad_check("nearest used twice", std::slice::from_ref(&x), |t| {
        let a = ops::upsample_nearest2d(&t[0], 6, 8)?;
        let b = ops::upsample_nearest2d(&t[0], 9, 4)?;
        weighted(&a, 304)? + weighted(&b, 305)?
    });
    for ac in [false, true] {
        grad_check(
            &format!("bilinear align_corners={ac} + skip"),
            std::slice::from_ref(&x),
            |t| {
                let up = ops::upsample_bilinear2d(&t[0], 7, 9, ac)?;
                weighted(&up, 306)? + weighted(&t[0], 307)?
            },
        );
        grad_check(
            &format!("bilinear down align_corners={ac}"),
            &[randn(&[1, 1, 7, 8], 308)],
            |t| weighted(&ops::upsample_bilinear2d(&t[0], 3, 5, ac)?, 309),
        );
    }
}

#[test]
fn pool_and_pad_gradients() {
    let x = randn(&[1, 2, 7, 6], 400);
    grad_check(
        "max_pool2d k3 s2 p1 (overlapping)",
        std::slice::from_ref(&x),
        |t| weighted(&ops::max_pool2d(&t[0], 3, 2, 1)?, 401),
    );
    grad_check(
        "max_pool2d k2 s2 (odd size)",
        std::slice::from_ref(&x),
        |t| weighted(&ops::max_pool2d(&t[0], 2, 2, 0)?, 402),
    );
    for mode in [PadMode::Reflect, PadMode::Replicate, PadMode::Zero] {
        grad_check(
            &format!("pad2d {mode:?} (1, 3, 2, 0)"),
            std::slice::from_ref(&x),
            |t| weighted(&ops::pad2d(&t[0], 1, 3, 2, 0, mode)?, 403),
        );
    }
}

/// A tiny U-Net-style block: every op chained, the input used by a skip connection.
#[test]
fn chained_network_gradients() {
    let ins = vec![
        randn(&[1, 2, 7, 6], 500),
        randn(&[4, 2, 3, 3], 501),
        randn(&[4, 4, 3, 3], 502),
        randn(&[4, 2, 3, 3], 503),
        randn(&[4], 504),
        randn(&[4], 505),
    ];
    grad_check("pad→conv s2→inorm relu→up→convT skip", &ins, |t| {
        let p = ops::reflect_pad2d(&t[0], 1, 1, 1, 1)?;
        let d = ops::conv2d(
            &p,
            &t[1],
            None,
            Conv2dParams {
                stride: 2,
                ..Default::default()
            },
        )?;
        let d = ops::instance_norm_act(&d, Some(&t[4]), Some(&t[5]), 1e-5, NormActivation::Relu)?;
        let d = ops::conv2d(
            &d,
            &t[2],
            None,
            Conv2dParams {
                padding: 1,
                ..Default::default()
            },
        )?;
        let (h, w) = (t[0].dim(2)?, t[0].dim(3)?);
        let u = ops::upsample_nearest2d(&d, h, w)?;
        let skip = ops::conv_transpose2d(
            &t[0],
            &t[3].transpose(0, 1)?,
            None,
            ConvTranspose2dParams {
                padding: 1,
                ..Default::default()
            },
        )?;
        weighted(&(u + skip)?, 506)
    });
}

#[test]
fn fused_pad_conv_gradients() {
    for (i, (mode, stride)) in [
        (PadMode::Reflect, 1),
        (PadMode::Reflect, 2),
        (PadMode::Replicate, 2),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 600 + 10 * i as u64;
        let p = Conv2dParams {
            stride,
            padding: 2,
            ..Default::default()
        };
        let ins = vec![
            randn(&[1, 2, 7, 6], seed),
            randn(&[3, 2, 5, 5], seed + 1),
            randn(&[3], seed + 2),
        ];
        grad_check(&format!("conv2d_padded {mode:?} s{stride}"), &ins, |t| {
            weighted(
                &ops::conv2d_padded(&t[0], &t[1], Some(&t[2]), p, mode)?,
                seed + 3,
            )
        });
    }
}
