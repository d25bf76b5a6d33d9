//! Generators: models that make a frame from a latent vector. The CPPN is one; trained GAN/VAE
//! decoders (from the train node) are others, chosen by the generate node's `model` param.

use candle_core::{Result, Tensor};

/// A model that renders an RGB frame (0..1, sRGB-encoded, shape [height, width, 3]) from a
/// latent vector of `latent_dim()` values.
pub trait Generator: Send {
    fn latent_dim(&self) -> usize;
    fn generate(&self, z: &[f32], width: usize, height: usize, zoom: f64) -> Result<Tensor>;
}

/// Spherical interpolation between two latents (falls back to linear when nearly parallel).
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64) * (*y as f64)).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let cos = if na > 0.0 && nb > 0.0 { (dot / (na * nb)).clamp(-1.0, 1.0) } else { 1.0 };
    let omega = cos.acos();
    let t = t as f64;
    let (wa, wb) = if omega.sin().abs() < 1e-6 {
        (1.0 - t, t)
    } else {
        (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin())
    };
    a.iter().zip(b).map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32).collect()
}

/// A smooth, periodic latent walk for `seed`: a great circle through two random Gaussian
/// directions, `speed` turns per second. Same seed and time ⇒ same latent, on any machine.
pub fn latent_walk(seed: u64, dim: usize, time: f64, speed: f64) -> Vec<f32> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let u: Vec<f64> = (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect();
    let mut v: Vec<f64> = (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect();
    // Gram-Schmidt: v ⟂ u, same norm.
    let uu: f64 = u.iter().map(|x| x * x).sum();
    let uv: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
    for (vi, ui) in v.iter_mut().zip(&u) {
        *vi -= uv / uu * ui;
    }
    let nv: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let scale = uu.sqrt() / nv.max(1e-12);
    let theta = 2.0 * std::f64::consts::PI * speed * time;
    u.iter()
        .zip(&v)
        .map(|(a, b)| (a * theta.cos() + b * scale * theta.sin()) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slerp_endpoints_and_walk_is_smooth_and_deterministic() {
        let a = latent_walk(1, 8, 0.0, 0.1);
        let b = latent_walk(2, 8, 0.0, 0.1);
        assert_eq!(slerp(&a, &b, 0.0), a);
        let e = slerp(&a, &b, 1.0);
        assert!(e.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5));
        assert_eq!(latent_walk(1, 8, 3.7, 0.1), latent_walk(1, 8, 3.7, 0.1));
        let p = latent_walk(1, 8, 1.0, 0.1);
        let q = latent_walk(1, 8, 1.0 + 1.0 / 24.0, 0.1);
        let step: f32 = p.iter().zip(&q).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(step < 0.2, "walk jumps {step} in one frame");
        assert_ne!(latent_walk(1, 8, 0.0, 0.1), latent_walk(1, 8, 2.5, 0.1));
    }
}
