//! Choosing the motion prefilter ([`super::Composition::prefilter`]) per frame pair from the
//! frames themselves (issue #20): blur the frames the network estimates motion on where their
//! noise is a large part of their fine detail, not where the fine detail is clean.
//!
//! Measured on 14 clips and variants (BENCHMARKS.md, Interpolation, third round): a prefilter of
//! σ = 1 px gained +0.04 to +0.51 dB on every clip whose fine detail is under 6× its noise
//! (sensor noise, compression, small frames, animation, slow hand-held motion), and lost 0.36
//! and 0.42 dB on the two whose detail is clean (7.1× and 6.8×); above 6× the gains were at
//! most +0.10 dB.

use rayon::prelude::*;

/// The prefilter σ (pixels) chosen where the frames are noisy ([`auto_prefilter`]).
pub const AUTO_PREFILTER_SIGMA: f32 = 1.0;
/// Fine detail (σ = 1 px high-pass, standard deviation) per unit of noise below which the
/// frames count as noisy.
pub const AUTO_PREFILTER_RATIO: f32 = 6.0;

/// The noise and fine-detail levels of a frame's luma, in 8-bit units: Immerkær's estimate of
/// the noise σ (the luma convolved with the 3×3 kernel [1 −2 1; −2 4 −2; 1 −2 1], its mean
/// absolute value × √(π/2) / 6; J. Immerkær, "Fast noise variance estimation", 1996) and the
/// standard deviation of the luma minus its Gaussian blur of σ = 1 px. `planar`: at least 3
/// planes of `h × w` (RGB, 0..1). Rows are summed in order: the same whatever the threads.
pub fn levels(planar: &[f32], (h, w): (usize, usize)) -> (f32, f32) {
    let n = h * w;
    if h < 3 || w < 3 || planar.len() < 3 * n {
        return (0.0, 0.0);
    }
    let luma = crate::temporal::luma(planar, n);
    let rows: Vec<f64> = (1..h - 1)
        .into_par_iter()
        .map(|i| {
            let (u, c, d) = (
                &luma[(i - 1) * w..][..w],
                &luma[i * w..][..w],
                &luma[(i + 1) * w..][..w],
            );
            let mut s = 0f64;
            for j in 1..w - 1 {
                let v = (u[j - 1] + u[j + 1] + d[j - 1] + d[j + 1])
                    - 2.0 * (u[j] + d[j] + c[j - 1] + c[j + 1])
                    + 4.0 * c[j];
                s += v.abs() as f64;
            }
            s
        })
        .collect();
    // In 8-bit units (the luma is 0..1).
    let noise = 255.0 * rows.iter().sum::<f64>() * (std::f64::consts::PI / 2.0).sqrt()
        / (6.0 * ((h - 2) * (w - 2)) as f64);
    let low = crate::temporal::blur(&luma, (h, w), 1.0);
    let sums: Vec<(f64, f64)> = luma
        .par_chunks(w)
        .zip(low.par_chunks(w))
        .map(|(a, b)| {
            a.iter().zip(b).fold((0f64, 0f64), |(s, q), (x, y)| {
                let d = (x - y) as f64;
                (s + d, q + d * d)
            })
        })
        .collect();
    let (s, q) = sums
        .iter()
        .fold((0f64, 0f64), |(s, q), (a, b)| (s + a, q + b));
    let mean = s / n as f64;
    let fine = 255.0 * (q / n as f64 - mean * mean).max(0.0).sqrt();
    (noise as f32, fine as f32)
}

/// The prefilter for a pair of frames (each at least 3 planes of `size`, RGB first, 0..1):
/// [`AUTO_PREFILTER_SIGMA`] where the two frames' mean fine detail is under
/// [`AUTO_PREFILTER_RATIO`] × their mean noise, else 0. Also returns that ratio.
pub fn auto_prefilter(a: &[f32], b: &[f32], size: (usize, usize)) -> (f32, f32) {
    let (la, lb) = rayon::join(|| levels(a, size), || levels(b, size));
    prefilter_for(la, lb)
}

/// [`auto_prefilter`] from the two frames' [`levels`] (measured once per frame where a frame
/// takes part in several pairs).
pub fn prefilter_for((na, fa): (f32, f32), (nb, fb): (f32, f32)) -> (f32, f32) {
    let (noise, fine) = (0.5 * (na + nb), 0.5 * (fa + fb));
    let ratio = if noise > 0.0 {
        fine / noise
    } else {
        f32::INFINITY
    };
    let sigma = if ratio < AUTO_PREFILTER_RATIO {
        AUTO_PREFILTER_SIGMA
    } else {
        0.0
    };
    (sigma, ratio)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splitmix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A detailed frame (a sum of fine sinusoids) with Gaussian-ish noise of `sigma` (8-bit
    /// units; the sum of 4 uniforms).
    fn frame((h, w): (usize, usize), sigma: f32) -> Vec<f32> {
        let n = h * w;
        (0..3 * n)
            .map(|k| {
                let (i, j) = ((k % n) / w, k % w);
                let base = 0.5 + 0.05 * ((j as f32 * 0.9).sin() + (i as f32 * 1.3).cos());
                let u: f32 = (0..4)
                    .map(|r| (splitmix(k as u64 * 4 + r) >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                    .sum();
                base + sigma / 255.0 * u * (12.0f32 / 4.0).sqrt()
            })
            .collect()
    }

    /// Immerkær's estimate finds the noise added to a smooth frame; a clean detailed frame gets
    /// no prefilter, the same frame with strong noise gets one.
    #[test]
    fn noise_is_measured_and_picks_the_prefilter() {
        let size = (96, 128);
        let flat: Vec<f32> = {
            let n = size.0 * size.1;
            let mut v = frame(size, 3.0);
            let clean = frame(size, 0.0);
            for k in 0..3 * n {
                // The noise alone on a flat grey.
                v[k] = 0.5 + (v[k] - clean[k]);
            }
            v
        };
        // Independent noise of σ 3 in R, G and B is σ 3 · |(0.299, 0.587, 0.114)| in the luma.
        let want = 3.0 * (0.299f32.powi(2) + 0.587f32.powi(2) + 0.114f32.powi(2)).sqrt();
        let (noise, _) = levels(&flat, size);
        assert!((noise - want).abs() < 0.2, "noise {noise}, want {want}");
        let clean = frame(size, 0.0);
        let (s, r) = auto_prefilter(&clean, &clean, size);
        assert_eq!(s, 0.0, "clean: ratio {r}");
        let noisy = frame(size, 8.0);
        let (s, r) = auto_prefilter(&noisy, &noisy, size);
        assert_eq!(s, AUTO_PREFILTER_SIGMA, "noisy: ratio {r}");
        // Too small to measure: no prefilter, no panic.
        assert_eq!(auto_prefilter(&clean[..6], &clean[..6], (1, 2)).0, 0.0);
    }
}
