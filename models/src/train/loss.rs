//! Losses: L1, MSE, total variation, Gram-matrix style loss and perceptual/content loss on
//! SqueezeNet taps.

use std::sync::Arc;

use candle_core::{Result, Tensor};

use crate::squeezenet::{SqueezeNet, Tap};

/// Mean absolute error.
pub fn l1(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    (a - b)?.abs()?.mean_all()
}

/// Mean squared error.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    (a - b)?.sqr()?.mean_all()
}

/// Anisotropic total variation: mean |Δx| + mean |Δy| of an NCHW image.
pub fn total_variation(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let dy = (x.narrow(2, 1, h - 1)? - x.narrow(2, 0, h - 1)?)?
        .abs()?
        .mean_all()?;
    let dx = (x.narrow(3, 1, w - 1)? - x.narrow(3, 0, w - 1)?)?
        .abs()?
        .mean_all()?;
    dy + dx
}

/// Gram matrices `[N, C, C]` of features `[N, C, H, W]`, normalised by H·W (so an entry is the
/// spatial mean of a product of two channels, independent of the crop size).
pub fn gram(f: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = f.dims4()?;
    let f = f.reshape((n, c, h * w))?;
    f.matmul(&f.transpose(1, 2)?)? / ((h * w) as f64)
}

/// Perceptual losses on a frozen SqueezeNet. Inputs are RGB 0..1 NCHW.
#[derive(Clone)]
pub struct Perceptual {
    pub net: Arc<SqueezeNet>,
    pub content_taps: Vec<Tap>,
    pub style_taps: Vec<Tap>,
}

impl Perceptual {
    /// Defaults: content on `fire5`, style on `relu1`, `fire3`, `fire5`, `fire7`, `fire9`.
    pub fn new(net: Arc<SqueezeNet>) -> Self {
        Perceptual {
            net,
            content_taps: vec![Tap::Fire(5)],
            style_taps: vec![
                Tap::Relu1,
                Tap::Fire(3),
                Tap::Fire(5),
                Tap::Fire(7),
                Tap::Fire(9),
            ],
        }
    }

    fn feats(&self, x: &Tensor, taps: &[Tap]) -> Result<Vec<Tensor>> {
        self.net.features(&SqueezeNet::preprocess(x)?, taps)
    }

    /// Mean over content taps of the MSE between features of `pred` and `target`, features
    /// scaled by 1/255 so the loss is on the scale of a 0..1 image loss.
    pub fn content(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
        let fp = self.feats(pred, &self.content_taps)?;
        let ft = self.feats(&target.detach(), &self.content_taps)?;
        let mut total: Option<Tensor> = None;
        for (a, b) in fp.iter().zip(&ft) {
            let l = mse(&(a / 255.0)?, &(b.detach() / 255.0)?)?;
            total = Some(match total {
                Some(t) => (t + l)?,
                None => l,
            });
        }
        total.unwrap_or(Tensor::zeros((), candle_core::DType::F32, pred.device())?)
            / self.content_taps.len().max(1) as f64
    }

    /// Gram matrices of `style` (one image `[1, 3, H, W]`) at the style taps, detached.
    pub fn style_targets(&self, style: &Tensor) -> Result<Vec<Tensor>> {
        self.feats(style, &self.style_taps)?
            .iter()
            .map(|f| gram(&(f / 255.0)?).map(|g| g.detach()))
            .collect()
    }

    /// Sum over style taps of the MSE between the Gram matrices of `pred` and `targets`
    /// (each `[1, C, C]`, broadcast over the batch).
    pub fn style(&self, pred: &Tensor, targets: &[Tensor]) -> Result<Tensor> {
        let fp = self.feats(pred, &self.style_taps)?;
        let mut total = Tensor::zeros((), candle_core::DType::F32, pred.device())?;
        for (f, t) in fp.iter().zip(targets) {
            let g = gram(&(f / 255.0)?)?;
            let d = g.broadcast_sub(t)?.sqr()?.mean_all()?;
            total = (total + d)?;
        }
        Ok(total)
    }

    /// Content features and style Gram loss from one pass: (content MSE vs `content_target`
    /// features, style loss vs `style_targets`). Runs the net once on `pred`.
    pub fn content_and_style(
        &self,
        pred: &Tensor,
        content_target: &Tensor,
        style_targets: &[Tensor],
    ) -> Result<(Tensor, Tensor)> {
        let mut taps = self.content_taps.clone();
        taps.extend(self.style_taps.iter().copied());
        let fp = self.feats(pred, &taps)?;
        let nc = self.content_taps.len();
        let ft = self.feats(&content_target.detach(), &self.content_taps)?;
        let mut content = Tensor::zeros((), candle_core::DType::F32, pred.device())?;
        for (a, b) in fp[..nc].iter().zip(&ft) {
            content = (content + mse(&(a / 255.0)?, &(b.detach() / 255.0)?)?)?;
        }
        let content = (content / nc.max(1) as f64)?;
        let mut style = Tensor::zeros((), candle_core::DType::F32, pred.device())?;
        for (f, t) in fp[nc..].iter().zip(style_targets) {
            let g = gram(&(f / 255.0)?)?;
            style = (style + g.broadcast_sub(t)?.sqr()?.mean_all()?)?;
        }
        Ok((content, style))
    }
}
