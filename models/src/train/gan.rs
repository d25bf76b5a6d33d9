//! DCGAN (Radford et al.) at 64×64 or 128×128, and latent-space helpers (seeded latents, slerp).
//!
//! Generator `g.*`: z `[N, nz]` → 4×4 transposed conv → stride-2 transposed convs halving the
//! width each time (8g, 4g, 2g, g for 64²; one more level for 128²) → RGB, tanh. Instead of
//! batch norm (whose running statistics make training and sampling behave differently) every
//! hidden layer uses pixel-wise feature normalisation (Karras et al.), which is stateless.
//! Discriminator `d.*`: the mirror, stride-2 convs with leaky ReLU 0.2, then a 4×4 conv to one
//! logit. Weights start N(0, 0.02). Model file: `g.*`, `d.*`, `wick.arch` = [2, nz, g, res]
//! (see [`super::ARCH_DCGAN`]); `wick.generate` needs only `g.*`.

use candle_core::{Device, Result, Tensor, D};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::params::{leaky_relu, Conv, ConvT, Init, ParamStore};

/// Number of stride-2 levels between 4×4 and `res`.
pub fn levels(res: usize) -> Result<usize> {
    match res {
        32 => Ok(3),
        64 => Ok(4),
        128 => Ok(5),
        _ => candle_core::bail!("generator resolution must be 32, 64 or 128, got {res}"),
    }
}

/// Channel widths from the 4×4 level up: `[g·2^(L−1), …, g]`.
pub fn widths(g: usize, res: usize) -> Result<Vec<usize>> {
    let l = levels(res)?;
    Ok((0..l).map(|i| g << (l - 1 - i)).collect())
}

fn pixel_norm(x: &Tensor) -> Result<Tensor> {
    let n = (x.sqr()?.mean_keepdim(1)? + 1e-8)?.sqrt()?;
    x.broadcast_div(&n)
}

/// DCGAN generator.
pub struct Generator {
    first: ConvT,
    ups: Vec<ConvT>,
    pub nz: usize,
    pub res: usize,
}

impl Generator {
    /// The device the weights live on.
    pub fn device(&self) -> candle_core::Device {
        self.first.w.device().clone()
    }

    pub fn new(ps: &mut ParamStore, nz: usize, g: usize, res: usize) -> Result<Self> {
        let w = widths(g, res)?;
        let init = Some(Init::Normal(0.02));
        let first = ConvT::new(ps, "g.l0", nz, w[0], 4, 1, 0, init)?;
        let mut ups = Vec::new();
        for i in 1..w.len() {
            ups.push(ConvT::new(
                ps,
                &format!("g.l{i}"),
                w[i - 1],
                w[i],
                4,
                2,
                1,
                init,
            )?);
        }
        ups.push(ConvT::new(
            ps,
            &format!("g.l{}", w.len()),
            w[w.len() - 1],
            3,
            4,
            2,
            1,
            init,
        )?);
        Ok(Generator {
            first,
            ups,
            nz,
            res,
        })
    }

    /// z `[N, nz]` → images in −1..1 `[N, 3, res, res]`.
    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let (n, nz) = z.dims2()?;
        if nz != self.nz {
            candle_core::bail!("latent has {nz} dims, the generator takes {}", self.nz);
        }
        let mut h = pixel_norm(&leaky_relu(
            &self.first.forward(&z.reshape((n, nz, 1, 1))?)?,
            0.2,
        )?)?;
        let last = self.ups.len() - 1;
        for (i, up) in self.ups.iter().enumerate() {
            h = up.forward(&h)?;
            h = if i == last {
                h.tanh()?
            } else {
                pixel_norm(&leaky_relu(&h, 0.2)?)?
            };
        }
        Ok(h)
    }

    /// z → images in 0..1.
    pub fn sample(&self, z: &Tensor) -> Result<Tensor> {
        ((self.forward(z)? + 1.0)? * 0.5)?.clamp(0f32, 1f32)
    }
}

/// DCGAN discriminator.
pub struct Discriminator {
    downs: Vec<Conv>,
    last: Conv,
}

impl Discriminator {
    pub fn new(ps: &mut ParamStore, g: usize, res: usize) -> Result<Self> {
        let mut w = widths(g, res)?;
        w.reverse(); // [g, 2g, …]
        let init = Some(Init::Normal(0.02));
        let mut downs = vec![Conv::new(ps, "d.l0", 3, w[0], 4, 2, 1, init)?];
        for i in 1..w.len() {
            downs.push(Conv::new(
                ps,
                &format!("d.l{i}"),
                w[i - 1],
                w[i],
                4,
                2,
                1,
                init,
            )?);
        }
        let last = Conv::new(
            ps,
            &format!("d.l{}", w.len()),
            w[w.len() - 1],
            1,
            4,
            1,
            0,
            init,
        )?;
        Ok(Discriminator { downs, last })
    }

    /// Images in −1..1 → logits `[N]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for d in &self.downs {
            h = leaky_relu(&d.forward(&h)?, 0.2)?;
        }
        self.last.forward(&h)?.flatten_all()
    }
}

/// log(1 + e^x), computed stably; `softplus(−D(real)) + softplus(D(fake))` is the GAN BCE.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + ((x.abs()?.neg()?.exp()? + 1.0)?.log()?)
}

/// `n` standard-normal latents of `nz` dims from `seed` (the same seed gives the same latents on
/// every machine).
pub fn latents(seed: u64, n: usize, nz: usize, device: &Device) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..n * nz)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_vec(v, (n, nz), device)
}

/// Spherical interpolation between latents `a` and `b` (`[nz]` or `[N, nz]`, row-wise) at `t`.
/// Falls back to linear interpolation when they are (anti)parallel.
pub fn slerp(a: &Tensor, b: &Tensor, t: f64) -> Result<Tensor> {
    let (a2, b2) = if a.rank() == 1 {
        (a.unsqueeze(0)?, b.unsqueeze(0)?)
    } else {
        (a.clone(), b.clone())
    };
    let na = a2.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    let nb = b2.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    let cos = ((&a2 * &b2)?.sum_keepdim(D::Minus1)? / (na * nb)?)?.to_vec2::<f32>()?;
    let mut rows = Vec::new();
    for (i, c) in cos.iter().enumerate() {
        let c = (c[0] as f64).clamp(-1.0, 1.0);
        let omega = c.acos();
        let (wa, wb) = if omega.sin().abs() < 1e-6 {
            (1.0 - t, t)
        } else {
            (
                ((1.0 - t) * omega).sin() / omega.sin(),
                (t * omega).sin() / omega.sin(),
            )
        };
        rows.push(((a2.get(i)? * wa)? + (b2.get(i)? * wb)?)?);
    }
    let out = Tensor::stack(&rows, 0)?;
    if a.rank() == 1 {
        out.squeeze(0)
    } else {
        Ok(out)
    }
}
