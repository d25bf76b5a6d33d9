//! Comparisons tests share (one definition each): largest absolute difference, PSNR, bit
//! equality. The
//! tensor forms are in `wick_models::testing`; command helpers for the workspace tests in the
//! `wick-tests` crate (`src/lib.rs`).

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

/// Whether two sequences are the same length and equal bit for bit (a NaN equals the same NaN;
/// 0.0 and −0.0 differ): for results that must not change at all.
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Largest absolute difference between two equally long 8-bit sequences.
pub fn max_abs_u8(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(
        a.len(),
        b.len(),
        "max_abs of sequences of different lengths"
    );
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// PSNR in dB of two equally long 8-bit sequences (the MSE floored at 1e-10, so equal ones
/// give 148 dB, not infinity).
pub fn psnr_u8(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "psnr of sequences of different lengths");
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_abs_and_psnr() {
        assert_eq!(max_abs(&[1.0, 2.0], &[1.5, 0.0]), 2.0);
        assert!(max_abs(&[f32::NAN], &[0.0]).is_nan());
        assert_eq!(max_abs_u8(&[1, 200], &[3, 100]), 100);
        assert!((psnr_u8(&[0, 0], &[0, 0]) - 148.13).abs() < 0.01);
        assert!((psnr_u8(&[0, 0], &[255, 255])).abs() < 1e-9);
    }
}
