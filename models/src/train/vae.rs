//! A small convolutional VAE (Kingma & Welling) at 32², 64² or 128².
//!
//! Encoder `e.*`: stride-2 4×4 convs (g, 2g, 4g, 8g for 64²) with leaky ReLU down to 4×4, then a
//! linear layer to the mean and log-variance of a `nz`-dim Gaussian. Decoder `v.*`: a linear
//! layer back to 4×4, stride-2 transposed convs up, sigmoid RGB in 0..1. Loss: per-image sum of
//! squared error + β·KL. Model file: `e.*`, `v.*`, `wick.arch` = [3, nz, g, res]
//! (see [`super::ARCH_VAE`]); sampling needs only `v.*`.

use candle_core::{Result, Tensor};

use super::gan::widths;
use super::params::{leaky_relu, Conv, ConvT, Linear, ParamStore};

pub struct Vae {
    enc: Vec<Conv>,
    to_stats: Linear,
    from_z: Linear,
    dec: Vec<ConvT>,
    w0: usize,
    pub nz: usize,
    pub res: usize,
}

impl Vae {
    /// The device the weights live on.
    pub fn device(&self) -> candle_core::Device {
        self.from_z.w.device().clone()
    }

    pub fn new(ps: &mut ParamStore, nz: usize, g: usize, res: usize) -> Result<Self> {
        let w = widths(g, res)?; // [8g, 4g, 2g, g] for 64²
        let mut up = w.clone();
        up.reverse();
        let mut enc = Vec::new();
        let mut cin = 3;
        for (i, &c) in up.iter().enumerate() {
            enc.push(Conv::new(ps, &format!("e.l{i}"), cin, c, 4, 2, 1, None)?);
            cin = c;
        }
        let w0 = w[0];
        // The encoder stops at res / 2^L = 4.
        let to_stats = Linear::new(ps, "e.stats", w0 * 16, 2 * nz, None)?;
        let from_z = Linear::new(ps, "v.from_z", nz, w0 * 16, None)?;
        let mut dec = Vec::new();
        for i in 1..w.len() {
            dec.push(ConvT::new(
                ps,
                &format!("v.l{i}"),
                w[i - 1],
                w[i],
                4,
                2,
                1,
                None,
            )?);
        }
        dec.push(ConvT::new(
            ps,
            &format!("v.l{}", w.len()),
            w[w.len() - 1],
            3,
            4,
            2,
            1,
            None,
        )?);
        Ok(Vae {
            enc,
            to_stats,
            from_z,
            dec,
            w0,
            nz,
            res,
        })
    }

    /// Images 0..1 → (mean, log-variance), each `[N, nz]`.
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut h = x.clone();
        for c in &self.enc {
            h = leaky_relu(&c.forward(&h)?, 0.2)?;
        }
        let s = self.to_stats.forward(&h.flatten_from(1)?)?;
        Ok((
            s.narrow(1, 0, self.nz)?,
            s.narrow(1, self.nz, self.nz)?.clamp(-10f32, 10f32)?,
        ))
    }

    /// Latents `[N, nz]` → images 0..1 `[N, 3, res, res]`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let n = z.dim(0)?;
        let mut h = leaky_relu(&self.from_z.forward(z)?, 0.2)?.reshape((n, self.w0, 4, 4))?;
        let last = self.dec.len() - 1;
        for (i, d) in self.dec.iter().enumerate() {
            h = d.forward(&h)?;
            h = if i == last {
                candle_nn::ops::sigmoid(&h)?
            } else {
                leaky_relu(&h, 0.2)?
            };
        }
        Ok(h)
    }

    /// (total, reconstruction, KL) for a batch, with `eps` `[N, nz]` standard-normal noise.
    pub fn loss(&self, x: &Tensor, eps: &Tensor, beta: f64) -> Result<(Tensor, Tensor, Tensor)> {
        let n = x.dim(0)? as f64;
        let (mu, logvar) = self.encode(x)?;
        let z = (&mu + (eps * (&logvar * 0.5)?.exp()?)?)?;
        let y = self.decode(&z)?;
        let recon = ((y - x)?.sqr()?.sum_all()? / n)?;
        // KL(N(mu, σ²) || N(0, 1)) = −½ Σ (1 + log σ² − mu² − σ²)
        let kl = (((logvar.exp()? + mu.sqr()?)? - logvar)? - 1.0)?;
        let kl = ((kl.sum_all()? * 0.5)? / n)?;
        let total = (&recon + (&kl * beta)?)?;
        Ok((total, recon, kl))
    }
}
