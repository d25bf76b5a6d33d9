//! Forward values of every op against onnxruntime / numpy references
//! (fixtures from `tools/ops_fixtures.py`), plus the CPU kernels against Candle's stock ops on
//! shapes large enough to exercise tiling and both threads.

use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use wick_models::ops::{
    self, Conv2dParams, ConvKernel, ConvTranspose2dParams, NormActivation, PadMode,
};
use wick_models::testing::max_abs;

fn fixtures() -> HashMap<String, Tensor> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ops/ops_fixtures.safetensors"
    );
    wick_models::load_safetensors(std::path::Path::new(path), &Device::Cpu)
        .expect("op fixtures load")
}

fn check(case: &str, got: &Tensor, want: &Tensor, tol: f32) {
    let e = max_abs(got, want);
    println!("{case:24} max |err| = {e:.3e}");
    assert!(e <= tol, "{case}: max abs error {e} > {tol}");
}

#[test]
fn conv2d_matches_onnxruntime() {
    let f = fixtures();
    let cases: &[(&str, usize, usize, usize, usize, bool)] = &[
        // name, stride, padding, dilation, groups, has bias
        ("conv_basic", 1, 1, 1, 1, true),
        ("conv_s2_mixed", 2, 1, 1, 1, false),
        ("conv_groups_dil", 1, 2, 2, 2, true),
        ("conv_depthwise_s2", 2, 1, 1, 5, true),
        ("conv_depthwise_s1", 1, 2, 1, 6, false),
        ("conv_9x9", 1, 4, 1, 1, true),
        ("conv_1x1", 1, 0, 1, 1, true),
        ("conv_rect_kernel", 1, 2, 1, 1, false),
        ("conv_s3_nopad", 3, 0, 1, 1, false),
    ];
    for &(name, stride, padding, dilation, groups, has_bias) in cases {
        let g = |k: &str| f[&format!("{name}.{k}")].clone();
        let b = has_bias.then(|| g("b"));
        let p = Conv2dParams {
            stride,
            padding,
            dilation,
            groups,
        };
        let y = ops::conv2d(&g("x"), &g("w"), b.as_ref(), p).unwrap();
        check(name, &y, &g("y"), 1e-4);
        // f64 runs the same kernels.
        let y64 = ops::conv2d(
            &g("x").to_dtype(DType::F64).unwrap(),
            &g("w").to_dtype(DType::F64).unwrap(),
            b.map(|b| b.to_dtype(DType::F64).unwrap()).as_ref(),
            p,
        )
        .unwrap();
        check(&format!("{name} (f64)"), &y64, &g("y"), 1e-4);
    }
}

#[test]
fn conv_transpose2d_matches_onnxruntime() {
    let f = fixtures();
    let cases: &[(&str, usize, usize, usize, usize, bool)] = &[
        // name, stride, padding, output_padding, dilation, has bias
        ("convt_s2_outpad", 2, 1, 1, 1, true),
        ("convt_k4_s2", 2, 1, 0, 1, false),
        ("convt_dil2", 1, 0, 0, 2, false),
        ("convt_1x1", 1, 0, 0, 1, true),
    ];
    for &(name, stride, padding, output_padding, dilation, has_bias) in cases {
        let g = |k: &str| f[&format!("{name}.{k}")].clone();
        let b = has_bias.then(|| g("b"));
        let p = ConvTranspose2dParams {
            stride,
            padding,
            output_padding,
            dilation,
        };
        let y = ops::conv_transpose2d(&g("x"), &g("w"), b.as_ref(), p).unwrap();
        check(name, &y, &g("y"), 1e-4);
    }
}

#[test]
fn pool_pad_resize_match_onnxruntime() {
    let f = fixtures();
    let g = |k: &str| f[k].clone();
    check(
        "pool_k3_s2_p1",
        &ops::max_pool2d(&g("pool_k3_s2_p1.x"), 3, 2, 1).unwrap(),
        &g("pool_k3_s2_p1.y"),
        0.0,
    );
    check(
        "pool_k2_s2",
        &ops::max_pool2d(&g("pool_k2_s2.x"), 2, 2, 0).unwrap(),
        &g("pool_k2_s2.y"),
        0.0,
    );
    for (name, mode) in [
        ("pad_reflect", PadMode::Reflect),
        ("pad_edge", PadMode::Replicate),
        ("pad_constant", PadMode::Zero),
    ] {
        let x = g(&format!("{name}.x"));
        check(
            name,
            &ops::pad2d(&x, 1, 2, 3, 0, mode).unwrap(),
            &g(&format!("{name}.y")),
            0.0,
        );
    }
    let x = g("pad_reflect.x");
    check(
        "reflect_pad2d",
        &ops::reflect_pad2d(&x, 1, 2, 3, 0).unwrap(),
        &g("pad_reflect.y"),
        0.0,
    );
    for (name, h, w) in [
        ("nearest_x2", 6, 8),
        ("nearest_frac", 7, 9),
        ("nearest_down", 4, 3),
    ] {
        let y = ops::upsample_nearest2d(&g(&format!("{name}.x")), h, w).unwrap();
        check(name, &y, &g(&format!("{name}.y")), 0.0);
    }
    for (name, h, w, ac) in [
        ("bilinear_half_pixel", 9, 7, false),
        ("bilinear_align", 9, 7, true),
        ("bilinear_down", 4, 5, false),
    ] {
        let y = ops::upsample_bilinear2d(&g(&format!("{name}.x")), h, w, ac).unwrap();
        check(name, &y, &g(&format!("{name}.y")), 1e-5);
    }
}

#[test]
fn instance_norm_matches_references() {
    let f = fixtures();
    let g = |k: &str| f[k].clone();
    let x = g("inorm_plain.x");
    check(
        "inorm_plain",
        &ops::instance_norm(&x, None, None, 1e-5).unwrap(),
        &g("inorm_plain.y"),
        1e-5,
    );
    let y = ops::instance_norm(
        &x,
        Some(&g("inorm_affine.g")),
        Some(&g("inorm_affine.b")),
        1e-5,
    )
    .unwrap();
    check("inorm_affine", &y, &g("inorm_affine.y"), 1e-5);
    let y =
        ops::instance_norm(&x, Some(&g("inorm_cond.g")), Some(&g("inorm_cond.b")), 1e-5).unwrap();
    check("inorm_cond", &y, &g("inorm_cond.y"), 1e-5);
    let y = ops::instance_norm_act(
        &x,
        Some(&g("inorm_cond_relu.g")),
        Some(&g("inorm_cond_relu.b")),
        1e-3,
        NormActivation::Relu,
    )
    .unwrap();
    check("inorm_cond_relu", &y, &g("inorm_cond_relu.y"), 1e-5);
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Shapes big enough for several column tiles per image and the parallel paths, checked against
/// Candle's stock convolutions (correct in the forward direction).
#[test]
fn large_conv_matches_candle_stock() {
    type Case<'a> = (&'a [usize], &'a [usize], usize, usize, usize);
    let cases: &[Case] = &[
        // x, w, stride, padding, groups
        (&[2, 32, 48, 40], &[16, 32, 3, 3], 1, 1, 1),
        (&[1, 64, 33, 47], &[24, 64, 3, 3], 2, 1, 1),
        (&[2, 3, 70, 64], &[8, 3, 9, 9], 1, 4, 1),
        (&[1, 16, 40, 40], &[32, 4, 3, 3], 1, 1, 4),
        (&[2, 24, 31, 30], &[24, 1, 3, 3], 1, 1, 24),
        // Depthwise with stride 2 and 3 on odd sizes (the column-phase split).
        (&[1, 12, 33, 29], &[12, 1, 3, 3], 2, 1, 12),
        (&[1, 8, 30, 31], &[8, 1, 5, 5], 3, 2, 8),
        (&[1, 48, 64, 64], &[32, 48, 1, 1], 1, 0, 1),
        // Column tiles that start or end inside the padding of a row.
        (&[1, 3, 152, 300], &[4, 3, 9, 9], 1, 4, 1),
        (&[1, 5, 61, 97], &[7, 5, 7, 7], 2, 3, 1),
    ];
    for (i, &(xs, ws, stride, padding, groups)) in cases.iter().enumerate() {
        let x = randn(xs, i as u64);
        let w = randn(ws, 100 + i as u64);
        let b = randn(&[ws[0]], 200 + i as u64);
        let p = Conv2dParams {
            stride,
            padding,
            dilation: 1,
            groups,
        };
        let y = ops::conv2d(&x, &w, Some(&b), p).unwrap();
        let r = x
            .conv2d(&w, padding, stride, 1, groups)
            .unwrap()
            .broadcast_add(&b.reshape((1, ws[0], 1, 1)).unwrap())
            .unwrap();
        check(&format!("large conv {xs:?} {ws:?}"), &y, &r, 1e-3);
    }
    let x = randn(&[1, 32, 40, 36], 7);
    let w = randn(&[32, 16, 3, 3], 8);
    let p = ConvTranspose2dParams {
        stride: 2,
        padding: 1,
        output_padding: 1,
        dilation: 1,
    };
    let y = ops::conv_transpose2d(&x, &w, None, p).unwrap();
    let r = x.conv_transpose2d(&w, 1, 1, 2, 1).unwrap();
    check("large conv_transpose2d", &y, &r, 1e-3);
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let x = randn(&[1, 4, 8, 8], 1);
    let w = randn(&[4, 3, 3, 3], 2);
    assert!(ops::conv2d(&x, &w, None, Conv2dParams::default()).is_err());
    let w = randn(&[4, 4, 9, 9], 2);
    assert!(ops::conv2d(&x, &w, None, Conv2dParams::default()).is_err());
    let w = randn(&[4, 4, 3, 3], 2);
    let b = randn(&[3], 3);
    assert!(ops::conv2d(&x, &w, Some(&b), Conv2dParams::default()).is_err());
    let p = Conv2dParams {
        groups: 3,
        ..Default::default()
    };
    assert!(ops::conv2d(&x, &w, None, p).is_err());
    let p = ConvTranspose2dParams {
        stride: 2,
        output_padding: 2,
        ..Default::default()
    };
    assert!(ops::conv_transpose2d(&x, &w, None, p).is_err());
    assert!(ops::max_pool2d(&x, 9, 1, 0).is_err());
    assert!(ops::reflect_pad2d(&x, 8, 0, 0, 0).is_err());
    assert!(ops::instance_norm(&x, Some(&randn(&[3], 1)), None, 1e-5).is_err());
    assert!(ops::upsample_nearest2d(&x, 0, 4).is_err());
}

/// `conv2d_padded` (padding read inside the im2col) equals an explicit `pad2d` then `conv2d`.
#[test]
fn fused_pad_conv_matches_pad_then_conv() {
    type Case<'a> = (&'a [usize], &'a [usize], usize, usize, usize);
    let cases: &[Case] = &[
        // x, w, stride, padding, groups
        (&[1, 3, 20, 17], &[4, 3, 9, 9], 1, 4, 1),
        (&[2, 4, 9, 8], &[6, 4, 3, 3], 2, 1, 1),
        (&[1, 6, 7, 10], &[6, 3, 3, 3], 1, 1, 2),
        (&[1, 5, 6, 5], &[5, 1, 3, 3], 1, 2, 5),
        (&[1, 3, 152, 300], &[4, 3, 9, 9], 1, 4, 1),
    ];
    for (i, &(xs, ws, stride, padding, groups)) in cases.iter().enumerate() {
        let x = randn(xs, 300 + i as u64);
        let w = randn(ws, 400 + i as u64);
        let b = randn(&[ws[0]], 500 + i as u64);
        for mode in [PadMode::Reflect, PadMode::Replicate, PadMode::Zero] {
            let p = Conv2dParams {
                stride,
                padding,
                dilation: 1,
                groups,
            };
            let y = ops::conv2d_padded(&x, &w, Some(&b), p, mode).unwrap();
            let xp = ops::pad2d(&x, padding, padding, padding, padding, mode).unwrap();
            let r = ops::conv2d(&xp, &w, Some(&b), Conv2dParams { padding: 0, ..p }).unwrap();
            check(
                &format!("fused {mode:?} pad conv {xs:?} {ws:?}"),
                &y,
                &r,
                1e-4,
            );
        }
    }
    let x = randn(&[1, 2, 4, 4], 1);
    let w = randn(&[2, 2, 3, 3], 2);
    let p = Conv2dParams {
        padding: 4,
        ..Default::default()
    };
    assert!(ops::conv2d_padded(&x, &w, None, p, PadMode::Reflect).is_err());
}

/// f64 naive reference convolution (groups 1, dilation 1) with the border filled per `mode`.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f64],
    (n, c, h, w): (usize, usize, usize, usize),
    wt: &[f64],
    (o, kh, kw): (usize, usize, usize),
    bias: Option<&[f64]>,
    stride: usize,
    pad: usize,
    mode: PadMode,
) -> (Vec<f64>, usize, usize) {
    let map = |i: isize, len: usize| -> Option<usize> {
        let l = len as isize;
        if (0..l).contains(&i) {
            return Some(i as usize);
        }
        match mode {
            PadMode::Zero => None,
            PadMode::Replicate => Some(i.clamp(0, l - 1) as usize),
            PadMode::Reflect => {
                if l == 1 {
                    return Some(0);
                }
                let p = 2 * (l - 1);
                let j = i.rem_euclid(p);
                Some(if j >= l { p - j } else { j } as usize)
            }
        }
    };
    let oh = (h + 2 * pad - kh) / stride + 1;
    let ow = (w + 2 * pad - kw) / stride + 1;
    let mut y = vec![0.0; n * o * oh * ow];
    for b in 0..n {
        for oc in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias.map_or(0.0, |b| b[oc]);
                    for ci in 0..c {
                        for ky in 0..kh {
                            let Some(iy) = map((oy * stride + ky) as isize - pad as isize, h)
                            else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = map((ox * stride + kx) as isize - pad as isize, w)
                                else {
                                    continue;
                                };
                                s += x[((b * c + ci) * h + iy) * w + ix]
                                    * wt[((oc * c + ci) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    y[((b * o + oc) * oh + oy) * ow + ox] = s;
                }
            }
        }
    }
    (y, oh, ow)
}

/// The f32 convolution (on x86_64 with AVX2 + FMA: the direct register-blocked kernel) against
/// a naive f64 reference on many random shapes: odd/even/tiny sizes, stride 1 and 2, kernels
/// 1/2/3/5/9 (also rectangular and larger than the image), Cin and Cout 1..40 (not multiples of
/// the channel block), every pad mode, batch 1 and 2, with and without bias.
#[test]
fn conv2d_f32_matches_naive_reference_on_random_shapes() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xC0DE);
    let mut cases: Vec<[usize; 10]> = vec![
        // n, c, h, w, o, kh, kw, stride, pad, mode (0 zero, 1 reflect, 2 replicate)
        [1, 3, 37, 29, 32, 9, 9, 1, 4, 1],
        [2, 4, 21, 34, 3, 9, 9, 1, 4, 1],
        [1, 32, 19, 23, 32, 3, 3, 1, 1, 1],
        [2, 32, 20, 17, 32, 3, 3, 2, 1, 1],
        [1, 32, 15, 30, 8, 3, 3, 1, 1, 1],
        [1, 8, 31, 26, 4, 3, 3, 1, 1, 1],
        [1, 2, 1, 1, 5, 3, 3, 1, 1, 0],
        [1, 2, 1, 1, 5, 3, 3, 1, 1, 2],
        [1, 3, 2, 2, 3, 9, 9, 1, 4, 0],
        [2, 3, 3, 4, 7, 9, 9, 2, 4, 2],
        [1, 5, 5, 7, 2, 5, 5, 1, 2, 1],
        [1, 1, 5, 7, 1, 3, 3, 2, 1, 1],
        [1, 6, 4, 6, 9, 3, 5, 1, 0, 0],
        [1, 40, 9, 70, 40, 3, 3, 1, 1, 1],
        [2, 16, 12, 13, 24, 3, 3, 1, 1, 1],
        [1, 8, 6, 16, 8, 3, 3, 2, 1, 0],
        [1, 3, 8, 130, 6, 9, 9, 2, 4, 1],
    ];
    for _ in 0..60 {
        let k: usize = [1, 2, 3, 3, 5, 9][rng.gen_range(0..6)];
        let kw: usize = if rng.gen_bool(0.2) {
            [1, 3, 5][rng.gen_range(0..3)]
        } else {
            k
        };
        let mode = rng.gen_range(0..3usize);
        let pad = rng.gen_range(0..=k.max(kw) / 2);
        let min = if mode == 1 { pad + 1 } else { 1 };
        let h = rng.gen_range(min..min + 24).max(k.saturating_sub(2 * pad));
        let w = rng.gen_range(min..min + 40).max(kw.saturating_sub(2 * pad));
        cases.push([
            rng.gen_range(1..=2),
            rng.gen_range(1..=40),
            h,
            w,
            rng.gen_range(1..=40),
            k,
            kw,
            rng.gen_range(1..=2),
            pad,
            mode,
        ]);
    }
    // Every f32 path (AVX-512 and AVX2 direct kernels where the CPU has them, im2col + gemm).
    // The switch is process-wide; the other tests in this binary compute the same values on
    // whichever path they get.
    for (i, &[n, c, h, w, o, kh, kw, stride, pad, mode]) in cases
        .iter()
        .enumerate()
        .flat_map(|c| [ConvKernel::Auto, ConvKernel::Avx2, ConvKernel::Gemm].map(|k| (k, c)))
        .map(|(k, c)| {
            ops::set_conv_kernel(k);
            c
        })
    {
        let mode = [PadMode::Zero, PadMode::Reflect, PadMode::Replicate][mode];
        let x = randn(&[n, c, h, w], 1000 + i as u64);
        let wt = randn(&[o, c, kh, kw], 2000 + i as u64);
        let b = randn(&[o], 3000 + i as u64);
        let with_bias = i % 3 != 1;
        let p = Conv2dParams {
            stride,
            padding: pad,
            dilation: 1,
            groups: 1,
        };
        let y = ops::conv2d_padded(&x, &wt, with_bias.then_some(&b), p, mode).unwrap();
        let v64 = |t: &Tensor| -> Vec<f64> {
            t.to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let bv = v64(&b);
        let (r, oh, ow) = naive_conv(
            &v64(&x),
            (n, c, h, w),
            &v64(&wt),
            (o, kh, kw),
            with_bias.then_some(&bv[..]),
            stride,
            pad,
            mode,
        );
        assert_eq!(y.dims(), [n, o, oh, ow], "case {i}: shape");
        let got = v64(&y);
        let mag = r.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(&r)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 1e-4 * mag,
            "case {i} {:?} {mode:?}: max abs error {err} (magnitude {mag})",
            cases[i]
        );
        // The f64 path (im2col + gemm) agrees as well.
        let y64 = ops::conv2d_padded(
            &x.to_dtype(DType::F64).unwrap(),
            &wt.to_dtype(DType::F64).unwrap(),
            with_bias.then(|| b.to_dtype(DType::F64).unwrap()).as_ref(),
            p,
            mode,
        )
        .unwrap();
        let e64 = v64(&y64)
            .iter()
            .zip(&r)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(e64 <= 1e-9 * mag, "case {i}: f64 path error {e64}");
    }
    ops::set_conv_kernel(ConvKernel::Auto);
}

#[test]
fn conv_transpose2d_subpixel_matches_candle_stock_on_random_shapes() {
    // The f32 transposed convolution runs as stride² sub-pixel convolutions on the direct kernel
    // (where the CPU has one); Candle's own conv_transpose2d is the reference.
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut cases = vec![
        // (n, cin, cout, h, w, k, stride, pad, output_padding)
        (1, 8, 4, 5, 7, 3, 2, 1, 1),
        (2, 3, 5, 6, 6, 4, 2, 1, 0),
        (1, 16, 8, 9, 4, 5, 2, 2, 1),
        (1, 4, 4, 3, 3, 1, 2, 0, 1),
        (1, 6, 3, 7, 5, 3, 1, 1, 0),
        (1, 5, 7, 4, 6, 2, 3, 0, 2),
        (1, 4, 2, 1, 1, 3, 2, 0, 0),
    ];
    for _ in 0..25 {
        let s = rng.gen_range(1..=3usize);
        let k = rng.gen_range(1..=5usize);
        let pad = rng.gen_range(0..k.max(1));
        let op = rng.gen_range(0..s);
        cases.push((
            rng.gen_range(1..=2),
            rng.gen_range(1..=20),
            rng.gen_range(1..=20),
            rng.gen_range(1..=12),
            rng.gen_range(1..=12),
            k,
            s,
            pad,
            op,
        ));
    }
    let mut checked = 0;
    for (i, &(n, cin, cout, h, w, k, s, pad, op)) in cases.iter().enumerate() {
        let x = randn(&[n, cin, h, w], 100 + i as u64);
        let wt = randn(&[cin, cout, k, k], 200 + i as u64);
        let p = ConvTranspose2dParams {
            stride: s,
            padding: pad,
            output_padding: op,
            dilation: 1,
        };
        let Ok(y) = ops::conv_transpose2d(&x, &wt, None, p) else {
            continue; // padding that leaves no output: refused, as Candle would
        };
        let r = x.conv_transpose2d(&wt, pad, op, s, 1).unwrap();
        check(
            &format!("conv_transpose2d n{n} {cin}->{cout} {h}x{w} k{k} s{s} p{pad} op{op}"),
            &y,
            &r,
            1e-3,
        );
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} cases ran");
}
