//! Comparisons tests share (one definition each): largest absolute difference, PSNR. The
//! tensor forms are in `wick_models::testing`, the image-file forms in the `wick-tests` crate.

/// Largest absolute difference between two equally long sequences (NaN anywhere: NaN).
pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(
        a.len(),
        b.len(),
        "max_abs of sequences of different lengths"
    );
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, |m, d| {
            if d.is_nan() || m.is_nan() {
                f32::NAN
            } else {
                m.max(d)
            }
        })
}

/// PSNR in dB of two equally long sequences with values in 0..`peak` (infinite when equal).
pub fn psnr(a: &[f32], b: &[f32], peak: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "psnr of sequences of different lengths");
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64;
    10.0 * (peak * peak / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_abs_and_psnr() {
        assert_eq!(max_abs(&[1.0, 2.0], &[1.5, 0.0]), 2.0);
        assert!(max_abs(&[f32::NAN], &[0.0]).is_nan());
        assert_eq!(psnr(&[0.5], &[0.5], 1.0), f64::INFINITY);
        assert!((psnr(&[0.0, 0.0], &[0.1, 0.1], 1.0) - 20.0).abs() < 1e-6);
    }
}
