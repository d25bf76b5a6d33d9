//! Tensor comparisons the tests share (one definition each; the slice forms are in
//! `wick_common::testing`). Used by this crate's unit and integration tests and by benchmarks.

use candle_core::{DType, Tensor};

/// Largest absolute difference of two tensors of one shape, computed in f64.
pub fn max_abs_f64(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "max_abs of tensors of different shapes");
    let f = |t: &Tensor| t.to_dtype(DType::F64).expect("to f64");
    (f(a) - f(b))
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|m| m.to_scalar::<f64>())
        .expect("max_abs")
}

/// [`max_abs_f64`] as f32.
pub fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
    max_abs_f64(a, b) as f32
}

/// Mean squared difference of two f32 tensors of one shape.
pub fn mse(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.sqr())
        .and_then(|d| d.mean_all())
        .and_then(|m| m.to_scalar::<f32>())
        .expect("mse")
}

/// PSNR in dB of two 0..1 f32 images after 8-bit quantisation (what a PNG of each would hold).
pub fn psnr_8bit(a: &Tensor, b: &Tensor) -> f64 {
    let q = |t: &Tensor| {
        (t.clamp(0f32, 1f32).expect("clamp") * 255.0)
            .and_then(|t| t.round())
            .expect("quantise")
    };
    let mse = mse(&q(a), &q(b)) as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10()
}
