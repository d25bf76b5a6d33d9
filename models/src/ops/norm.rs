//! Instance normalisation, plain, affine and conditional (per-sample scale/shift).

use candle_core::{Result, Tensor, D};

/// Instance norm over H and W of an NCHW tensor.
///
/// `gamma`/`beta` are either `[C]` (affine) or `[N, C]` (conditional: one scale/shift per sample,
/// e.g. a blend of per-style parameters). Variance is the biased one, as PyTorch and ONNX use.
pub fn instance_norm(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let flat = x.reshape((n, c, h * w))?;
    let mean = flat.mean_keepdim(D::Minus1)?;
    let centred = flat.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let y = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    let shape = |t: &Tensor| -> Result<Tensor> {
        match t.rank() {
            1 => t.reshape((1, c, 1)),
            2 => t.reshape((n, c, 1)),
            r => {
                candle_core::bail!("instance_norm: scale/shift must be [C] or [N, C], got rank {r}")
            }
        }
    };
    let y = match gamma {
        Some(g) => y.broadcast_mul(&shape(g)?)?,
        None => y,
    };
    let y = match beta {
        Some(b) => y.broadcast_add(&shape(b)?)?,
        None => y,
    };
    y.reshape((n, c, h, w))
}
