//! Colour distribution transfer between two unpaired sets of images: the iterative distribution
//! transfer of Pitié, Kokaram and Dahyot (2005, 2007, "Automated colour grading using colour
//! distribution transfer"). Each iteration turns the RGB space by a random rotation, matches the
//! three 1D marginals of the source point cloud to the target's (quantile mapping) and turns
//! back; after a few tens of iterations the whole 3D colour distribution of the source matches
//! the target's. The fitted map is a pointwise function of a pixel's colour, so it applies to
//! any image of the source domain.
//!
//! `wick.train mode=unpaired` uses it as a pseudo-target for the generators: no image pairs, only
//! the two colour distributions. On the grade proofs (docs/train/README.md) the map alone puts
//! held-back frames 14–26 dB closer to their true grade for curves, eq, colour balance and channel
//! mixing, and about 5 dB for a hue rotation (a rotation of the hue circle is only partly
//! determined by the distributions).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// One iteration: an orthonormal basis (rows) and, per axis, the source and target quantiles.
#[derive(Clone, Debug)]
struct Step {
    basis: [[f32; 3]; 3],
    src: [Vec<f32>; 3],
    dst: [Vec<f32>; 3],
}

/// A fitted colour map (source → target distribution).
#[derive(Clone, Debug, Default)]
pub struct ColourTransfer {
    steps: Vec<Step>,
}

/// Iterations of the fit (Pitié et al. converge in 10–30).
pub const ITERATIONS: usize = 20;

/// Quantile levels per axis and iteration.
pub const LEVELS: usize = 256;

/// `n` pixel positions drawn with replacement from images of `sizes` pixels each, images picked
/// in proportion to their size: (image, pixel index), sorted by image so that a caller can read
/// one image at a time.
pub fn draw_pixels(sizes: &[usize], n: usize, rng: &mut ChaCha8Rng) -> Vec<(usize, usize)> {
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    let mut picks: Vec<(usize, usize)> = (0..n)
        .map(|_| {
            let mut k = rng.gen_range(0..total);
            let mut i = 0;
            while k >= sizes[i] {
                k -= sizes[i];
                i += 1;
            }
            (i, k)
        })
        .collect();
    picks.sort_unstable();
    picks
}

/// The RGB triples of `picks` ([`draw_pixels`]) from planar images `[3 · H · W]`, read one image
/// at a time through `image(i)` (so a large set is never held twice).
pub fn read_pixels<E>(
    picks: &[(usize, usize)],
    mut image: impl FnMut(usize) -> Result<Vec<f32>, E>,
) -> Result<Vec<[f32; 3]>, E> {
    let mut out = Vec::with_capacity(picks.len());
    let mut k = 0;
    while k < picks.len() {
        let i = picks[k].0;
        let img = image(i)?;
        let hw = img.len() / 3;
        while k < picks.len() && picks[k].0 == i {
            let p = picks[k].1;
            out.push([img[p], img[hw + p], img[2 * hw + p]]);
            k += 1;
        }
    }
    Ok(out)
}

fn rotation(rng: &mut ChaCha8Rng) -> [[f32; 3]; 3] {
    // Gram–Schmidt on three normal vectors.
    loop {
        let mut b = [[0f32; 3]; 3];
        for row in b.iter_mut() {
            for v in row.iter_mut() {
                *v = StandardNormal.sample(rng);
            }
        }
        let dot = |a: &[f32; 3], b: &[f32; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        let mut ok = true;
        for i in 0..3 {
            for j in 0..i {
                let d = dot(&b[i], &b[j]);
                let bj = b[j];
                for (x, y) in b[i].iter_mut().zip(bj) {
                    *x -= d * y;
                }
            }
            let n = dot(&b[i], &b[i]).sqrt();
            if n < 1e-3 {
                ok = false;
                break;
            }
            for x in b[i].iter_mut() {
                *x /= n;
            }
        }
        if ok {
            return b;
        }
    }
}

fn quantiles(mut v: Vec<f32>) -> Vec<f32> {
    v.sort_by(f32::total_cmp);
    let n = v.len();
    (0..LEVELS)
        .map(|l| {
            let p = l as f64 / (LEVELS - 1) as f64 * (n - 1) as f64;
            let (i, f) = (p.floor() as usize, (p - p.floor()) as f32);
            let j = (i + 1).min(n - 1);
            v[i] + (v[j] - v[i]) * f
        })
        .collect()
}

/// Piecewise-linear map of `x` from the sorted knots `src` to `dst`, clamped at the ends.
fn interp(x: f32, src: &[f32], dst: &[f32]) -> f32 {
    let n = src.len();
    if x <= src[0] {
        return dst[0];
    }
    if x >= src[n - 1] {
        return dst[n - 1];
    }
    // First knot > x (x lies in [src[i - 1], src[i]) ).
    let i = src.partition_point(|&s| s <= x).clamp(1, n - 1);
    let (a, b) = (src[i - 1], src[i]);
    let t = if b > a { (x - a) / (b - a) } else { 0.0 };
    dst[i - 1] + (dst[i] - dst[i - 1]) * t
}

fn project(b: &[[f32; 3]; 3], p: &[f32; 3]) -> [f32; 3] {
    std::array::from_fn(|k| b[k][0] * p[0] + b[k][1] * p[1] + b[k][2] * p[2])
}

fn unproject(b: &[[f32; 3]; 3], q: &[f32; 3]) -> [f32; 3] {
    std::array::from_fn(|c| b[0][c] * q[0] + b[1][c] * q[1] + b[2][c] * q[2])
}

impl ColourTransfer {
    /// Fits the map that moves the colour distribution of `src` onto `dst` (pixel samples, any
    /// counts ≥ 2; empty or single-sample sets give the identity).
    pub fn fit(
        src: &[[f32; 3]],
        dst: &[[f32; 3]],
        iterations: usize,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        if src.len() < 2 || dst.len() < 2 {
            return Self::default();
        }
        let mut cur = src.to_vec();
        let mut steps = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let basis = rotation(rng);
            let ps: Vec<[f32; 3]> = cur.iter().map(|p| project(&basis, p)).collect();
            let pd: Vec<[f32; 3]> = dst.iter().map(|p| project(&basis, p)).collect();
            let axis = |v: &[[f32; 3]], k: usize| quantiles(v.iter().map(|p| p[k]).collect());
            let step = Step {
                basis,
                src: std::array::from_fn(|k| axis(&ps, k)),
                dst: std::array::from_fn(|k| axis(&pd, k)),
            };
            for (c, p) in cur.iter_mut().zip(&ps) {
                *c = step.map_projected(p);
            }
            steps.push(step);
        }
        ColourTransfer { steps }
    }

    /// Whether the map is the identity (nothing fitted).
    pub fn is_identity(&self) -> bool {
        self.steps.is_empty()
    }

    /// Maps one colour.
    pub fn apply_one(&self, p: [f32; 3]) -> [f32; 3] {
        self.steps
            .iter()
            .fold(p, |p, s| s.map_projected(&project(&s.basis, &p)))
    }

    /// Maps planar `[N, 3, H, W]` data (`hw` = H · W) in place.
    pub fn apply_planar(&self, data: &mut [f32], hw: usize) {
        if self.is_identity() || hw == 0 {
            return;
        }
        for img in data.chunks_mut(3 * hw) {
            for k in 0..hw.min(img.len() / 3) {
                let q = self.apply_one([img[k], img[hw + k], img[2 * hw + k]]);
                img[k] = q[0];
                img[hw + k] = q[1];
                img[2 * hw + k] = q[2];
            }
        }
    }
}

impl Step {
    /// A point already projected on `basis` → its matched colour in RGB.
    fn map_projected(&self, q: &[f32; 3]) -> [f32; 3] {
        let m: [f32; 3] = std::array::from_fn(|k| interp(q[k], &self.src[k], &self.dst[k]));
        unproject(&self.basis, &m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cloud(n: usize, rng: &mut ChaCha8Rng) -> Vec<[f32; 3]> {
        // Correlated colours, as in photos: a luminance plus smaller chroma.
        (0..n)
            .map(|_| {
                let l: f32 = rng.gen_range(0.1..0.9);
                let a: f32 = rng.gen_range(-0.1..0.1);
                let b: f32 = rng.gen_range(-0.1..0.1);
                [l + a, l - 0.5 * a + b, l - b]
            })
            .collect()
    }

    fn grade(p: [f32; 3]) -> [f32; 3] {
        // A channel mix, a gamma and an offset: a grade no per-channel map can express.
        let m = [
            0.8 * p[0] + 0.2 * p[1],
            0.1 * p[0] + 0.8 * p[1] + 0.1 * p[2],
            0.3 * p[1] + 0.7 * p[2],
        ];
        m.map(|x| x.clamp(0.0, 1.0).powf(0.8) * 0.9 + 0.05)
    }

    fn rms(a: &[[f32; 3]], b: &[[f32; 3]]) -> f32 {
        let s: f32 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (0..3).map(|c| (x[c] - y[c]).powi(2)).sum::<f32>())
            .sum();
        (s / (3 * a.len()) as f32).sqrt()
    }

    #[test]
    fn learns_a_grade_from_unpaired_samples() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Source and target drawn independently: no sample of one is the twin of the other.
        let src = cloud(20_000, &mut rng);
        let dst: Vec<[f32; 3]> = cloud(20_000, &mut rng).into_iter().map(grade).collect();
        let map = ColourTransfer::fit(&src, &dst, ITERATIONS, &mut rng);
        let test = cloud(2_000, &mut rng);
        let truth: Vec<[f32; 3]> = test.iter().map(|&p| grade(p)).collect();
        let mapped: Vec<[f32; 3]> = test.iter().map(|&p| map.apply_one(p)).collect();
        let (before, after) = (rms(&test, &truth), rms(&mapped, &truth));
        println!("rms to the true grade: untouched {before:.4}, mapped {after:.4}");
        assert!(after < before / 4.0, "{after} vs {before}");
    }

    #[test]
    fn same_distribution_is_nearly_the_identity_and_planar_matches_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let a = cloud(20_000, &mut rng);
        let b = cloud(20_000, &mut rng);
        let map = ColourTransfer::fit(&a, &b, ITERATIONS, &mut rng);
        let test = cloud(1_000, &mut rng);
        let mapped: Vec<[f32; 3]> = test.iter().map(|&p| map.apply_one(p)).collect();
        assert!(rms(&test, &mapped) < 0.02, "{}", rms(&test, &mapped));
        let mut planar: Vec<f32> = (0..3)
            .flat_map(|c| test.iter().map(move |p| p[c]))
            .collect();
        map.apply_planar(&mut planar, test.len());
        for (k, m) in mapped.iter().enumerate() {
            for c in 0..3 {
                assert_eq!(planar[c * test.len() + k], m[c]);
            }
        }
        assert!(ColourTransfer::fit(&a[..1], &b, 5, &mut rng).is_identity());
    }

    #[test]
    fn samples_come_from_every_image_by_size() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let images = [vec![0.25f32; 3], vec![0.75f32; 3 * 3]];
        let picks = draw_pixels(&[1, 3], 4_000, &mut rng);
        let mut reads = 0;
        let s = read_pixels(&picks, |i| {
            reads += 1;
            Ok::<_, ()>(images[i].clone())
        })
        .unwrap();
        assert_eq!(reads, 2, "each image read once");
        let share = s.iter().filter(|p| p[0] == 0.25).count() as f32 / 4_000.0;
        assert!((share - 0.25).abs() < 0.03, "{share}");
        assert!(draw_pixels(&[], 10, &mut rng).is_empty());
    }
}
