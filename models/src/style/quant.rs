//! Fake quantisation: reproduces an int8 QuantizeLinear → DequantizeLinear pair in f32.
//!
//! `q = clamp(round_half_even(x / scale) + zero_point, -128, 127)`, then `(q - zero_point) * scale`,
//! exactly as onnxruntime computes the two ops (division, ties-to-even rounding, f32 multiply).
//! On the CPU this is one custom op pass; on other devices it is composed from tensor ops (with
//! Candle's round-half-away-from-zero, which differs only on exact ties).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use candle_nn::VarBuilder;

/// One activation quantiser: per-tensor scale and int8 zero point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quant {
    pub scale: f32,
    pub zero_point: f32,
}

impl Quant {
    /// Reads a `[scale, zero_point]` tensor named `name`.
    pub fn load(vb: &VarBuilder, name: &str) -> Result<Self> {
        let v = vb.get(2, name)?.to_vec1::<f32>()?;
        let (scale, zero_point) = (v[0], v[1]);
        if scale.is_nan()
            || scale <= 0.0
            || zero_point.fract() != 0.0
            || !(-128.0..=127.0).contains(&zero_point)
        {
            candle_core::bail!(
                "quantiser '{}' is invalid: scale {scale}, zero point {zero_point}",
                vb.prefix() + "." + name
            );
        }
        Ok(Self { scale, zero_point })
    }

    /// Quantise-dequantise `x` (f32).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() {
            x.contiguous()?.apply_op1_no_bwd(self)
        } else {
            let s = self.scale as f64;
            let z = self.zero_point as f64;
            ((x / s)?.round()? + z)?
                .clamp(-128f32, 127f32)?
                .affine(s, -z * s)
        }
    }

    /// Quantise-dequantise one value.
    #[inline]
    pub fn fq(&self, v: f32) -> f32 {
        let q = ((v / self.scale).round_ties_even() + self.zero_point).clamp(-128.0, 127.0);
        (q - self.zero_point) * self.scale
    }
}

impl CustomOp1 for Quant {
    fn name(&self) -> &'static str {
        "wick-fake-quant"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let data = storage.as_slice::<f32>()?;
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("fake-quant expects a contiguous tensor");
        };
        let out: Vec<f32> = data[a..b].iter().map(|&v| self.fq(v)).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Global average pool over H and W of an NCHW tensor, summed in f64 so the mean of a large
/// frame of quantised values carries no accumulation error. Returns `[N, C, 1, 1]` f32.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let dt = x.dtype();
    x.to_dtype(candle_core::DType::F64)?
        .mean_keepdim((2, 3))?
        .to_dtype(dt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn fake_quant_rounds_half_even_and_clamps() {
        let q = Quant {
            scale: 0.5,
            zero_point: -128.0,
        };
        let x = Tensor::new(&[-1.0f32, 0.0, 0.25, 0.75, 1.3, 1000.0], &Device::Cpu).unwrap();
        let y = q.apply(&x).unwrap().to_vec1::<f32>().unwrap();
        // 0.25/0.5 = 0.5 -> 0 (even), 0.75/0.5 = 1.5 -> 2, clamp at (127+128)*0.5 = 127.5.
        assert_eq!(y, vec![0.0, 0.0, 0.0, 1.0, 1.5, 127.5]);
    }
}
