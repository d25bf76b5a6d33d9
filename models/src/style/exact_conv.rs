//! A convolution that sums in onnxruntime's (MLAS SGEMM's) order, for bit-exact parity with the
//! quantised Magenta reference.
//!
//! The int8 reference rounds every convolution output to int8, and a single output that lands on
//! the other side of a rounding boundary spreads through the instance-norm statistics into the
//! whole frame (tens of levels on the final image). Float sums in a different order (Candle's
//! gemm, numpy) do flip a few of a frame's millions of outputs, so this kernel accumulates the
//! way MLAS does on x86-64: the im2col dot product (K = C·kh·kw in channel, row, column order)
//! in blocks of 128 terms (more when the GEMM has fewer columns N = output pixels than K: MLAS
//! then doubles its K stride while halving its N stride, down to 16), each block a sequential
//! chain of fused multiply-adds from zero, the blocks' sums added in order, then the bias. On the fixtures this reproduces onnxruntime's
//! int8 activations exactly, where Candle's own order does not.
//!
//! CPU only (callers use the op layer elsewhere); f32; parallel over output-pixel tiles.

use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// MLAS SGEMM's K and N strides.
const STRIDE_K: usize = 128;
const STRIDE_N: usize = 128;

/// The K stride MLAS uses for a GEMM with `n` columns and depth `k`.
fn k_stride(n: usize, k: usize) -> usize {
    let (mut sk, mut sn) = (STRIDE_K, STRIDE_N);
    if n < k {
        while sn > 16 && sn / 2 >= n {
            sk *= 2;
            sn /= 2;
        }
    }
    sk
}
/// Output pixels per tile (columns of the im2col matrix processed together).
const TILE: usize = 512;

/// `x` [N, C, H, W] (already padded), `w` [O, C, k, k], `bias` [O]; no padding, given stride.
pub fn conv2d_mlas_order(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
) -> Result<Tensor> {
    conv2d_mlas_order_post(x, w, bias, stride, |v| v)
}

/// [`conv2d_mlas_order`] with `post` applied to every output value after the bias (an
/// activation and output quantisation fused into the same pass).
pub fn conv2d_mlas_order_post<F: Fn(f32) -> f32 + Sync>(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    post: F,
) -> Result<Tensor> {
    let (n, c, h, wd) = x.dims4()?;
    let (o, ci, kh, kw) = w.dims4()?;
    if ci != c {
        candle_core::bail!("conv2d_mlas_order: input has {c} channels, weights expect {ci}");
    }
    if h < kh || wd < kw {
        candle_core::bail!("conv2d_mlas_order: input {h}x{wd} smaller than kernel {kh}x{kw}");
    }
    let ho = (h - kh) / stride + 1;
    let wo = (wd - kw) / stride + 1;
    let p = ho * wo;
    let k = c * kh * kw;
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let ws = w.flatten_all()?.to_vec1::<f32>()?;
    let bs = match bias {
        Some(b) => b.to_vec1::<f32>()?,
        None => vec![0.0; o],
    };
    let fma = fma_available();
    let kblock = k_stride(p, k);
    let mut out = vec![0f32; n * o * p];
    for b in 0..n {
        let xb = &xs[b * c * h * wd..(b + 1) * c * h * wd];
        let ob = &mut out[b * o * p..(b + 1) * o * p];
        // Tiles of output pixels, in parallel; each tile writes its own columns.
        let tiles: Vec<(usize, Vec<f32>)> = (0..p.div_ceil(TILE))
            .into_par_iter()
            .map(|t| {
                let p0 = t * TILE;
                let np = TILE.min(p - p0);
                // im2col for this tile: [K, np]. `base[j]`: top-left input offset of pixel j.
                let base: Vec<usize> = (p0..p0 + np)
                    .map(|q| (q / wo) * stride * wd + (q % wo) * stride)
                    .collect();
                let mut col = vec![0f32; k * np];
                for ch in 0..c {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let row = &mut col[((ch * kh + ky) * kw + kx) * np..][..np];
                            let off = (ch * h + ky) * wd + kx;
                            for (v, &b) in row.iter_mut().zip(&base) {
                                *v = xb[off + b];
                            }
                        }
                    }
                }
                let mut res = vec![0f32; o * np];
                let mut acc = vec![0f32; np];
                for oc in 0..o {
                    let wrow = &ws[oc * k..(oc + 1) * k];
                    let total = &mut res[oc * np..(oc + 1) * np];
                    for (bi, k0) in (0..k).step_by(kblock).enumerate() {
                        acc.iter_mut().for_each(|v| *v = 0.0);
                        for kk in k0..(k0 + kblock).min(k) {
                            fma_row(&mut acc, wrow[kk], &col[kk * np..(kk + 1) * np], fma);
                        }
                        if bi == 0 {
                            total.copy_from_slice(&acc);
                        } else {
                            total.iter_mut().zip(&acc).for_each(|(t, a)| *t += *a);
                        }
                    }
                    let bo = bs[oc];
                    total.iter_mut().for_each(|t| *t = post(*t + bo));
                }
                (p0, res)
            })
            .collect();
        for (p0, res) in tiles {
            let np = res.len() / o;
            for oc in 0..o {
                ob[oc * p + p0..oc * p + p0 + np].copy_from_slice(&res[oc * np..(oc + 1) * np]);
            }
        }
    }
    Tensor::from_vec(out, (n, o, ho, wo), x.device())
}

fn fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `acc[j] = fma(w, x[j], acc[j])` (one rounding).
#[inline]
fn fma_row(acc: &mut [f32], w: f32, x: &[f32], fma: bool) {
    #[cfg(target_arch = "x86_64")]
    if fma {
        // SAFETY: only called when the CPU has FMA and AVX2 (checked at run time).
        unsafe { fma_row_x86(acc, w, x) };
        return;
    }
    let _ = fma;
    // Portable path: the product of two f32 is exact in f64, so this is a fused multiply-add
    // up to a (vanishingly rare) double rounding.
    let wd = w as f64;
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = (*a as f64 + wd * v as f64) as f32;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma,avx2")]
unsafe fn fma_row_x86(acc: &mut [f32], w: f32, x: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = w.mul_add(v, *a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candle_conv_up_to_rounding() {
        let dev = Device::Cpu;
        let x = Tensor::rand(-1f32, 1f32, (2, 5, 13, 11), &dev).unwrap();
        let w = Tensor::rand(-1f32, 1f32, (7, 5, 3, 3), &dev).unwrap();
        let b = Tensor::rand(-1f32, 1f32, 7, &dev).unwrap();
        for stride in [1, 2] {
            let a = conv2d_mlas_order(&x, &w, Some(&b), stride).unwrap();
            let r = crate::ops::conv2d(
                &x,
                &w,
                Some(&b),
                crate::ops::Conv2dParams {
                    stride,
                    ..Default::default()
                },
            )
            .unwrap();
            assert_eq!(a.dims(), r.dims());
            let d = (a - r)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap();
            assert!(d.to_scalar::<f32>().unwrap() < 1e-4);
        }
    }

    #[test]
    fn k_stride_follows_mlas() {
        assert_eq!(k_stride(16384, 27), 128);
        assert_eq!(k_stride(256, 384), 128);
        assert_eq!(k_stride(64, 160), 256);
        assert_eq!(k_stride(1, 1280), 1024);
    }

    #[test]
    fn long_sums_use_blocks_of_128() {
        // K = 300 ones times 2^-24 added to 1.0 in one chain would round every term away;
        // in blocks each block's small sum survives. Checks the block structure is there. With
        // one output pixel (N = 1 < K) MLAS widens the K stride to 1024: a single chain.
        let dev = Device::Cpu;
        let k = 300usize;
        let mut xv = vec![2f32.powi(-24); k];
        xv[0] = 1.0;
        // 300 output pixels, so N >= K and MLAS keeps its 128 K stride.
        let x = Tensor::from_vec(xv, (1, k, 1, 1), &dev).unwrap();
        let x = x
            .broadcast_as((1, k, 15, 20))
            .unwrap()
            .contiguous()
            .unwrap();
        let w = Tensor::ones((1, k, 1, 1), candle_core::DType::F32, &dev).unwrap();
        let y = conv2d_mlas_order(&x, &w, None, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[7];
        // Block 1: 1 + 127 tiny terms, each lost to rounding -> 1.0. Blocks 2 and 3: 128 and 44
        // tiny terms summed exactly, then added to 1.0.
        let expect = (1.0f64 + 128.0 * 2f64.powi(-24)) as f32;
        let expect = (expect as f64 + 44.0 * 2f64.powi(-24)) as f32;
        assert_eq!(y, expect);
        let x1 = x
            .narrow(2, 0, 1)
            .unwrap()
            .narrow(3, 0, 1)
            .unwrap()
            .contiguous()
            .unwrap();
        let y1 = conv2d_mlas_order(&x1, &w, None, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0];
        assert_eq!(y1, 1.0);
    }
}
