//! Loss-curve PNGs (plotters, bitmap backend). Axis labels and a legend are drawn when a
//! DejaVu/Liberation TrueType font is found on the system; otherwise the curves are drawn alone
//! (the numbers are always in the caller's CSV/progress log).

use std::path::Path;

use once_cell::sync::Lazy;
use plotters::prelude::*;

use crate::weights::ModelError;

/// Registers a system TrueType font with plotters once; whether one was found.
static HAVE_FONT: Lazy<bool> = Lazy::new(|| {
    let candidates = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/Library/Fonts/Arial.ttf",
        "C:\\Windows\\Fonts\\arial.ttf",
    ];
    candidates.iter().any(|c| match std::fs::read(c) {
        Ok(bytes) => {
            let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok()
        }
        Err(_) => false,
    })
});

fn have_font() -> bool {
    *HAVE_FONT
}

const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// Draws named loss series (one value per step, step 1 first) into a `w`×`h` PNG, log-scaled
/// on y when every value is positive.
pub fn loss_curve_png(
    path: &Path,
    title: &str,
    series: &[(&str, &[f32])],
    size: (u32, u32),
) -> Result<(), ModelError> {
    let err = |e: String| ModelError::weights(path, format!("loss curve: {e}"));
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(0).max(2);
    let vals = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|v| v.is_finite());
    let (lo, hi) = vals.fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    // Log-scaled (plotted as log10) when every value is positive.
    let log = lo > 0.0;
    let f = move |y: f32| if log { y.log10() } else { y };
    let (ylo, yhi) = if log {
        (lo.log10(), hi.log10())
    } else {
        (lo, hi)
    };
    let (ylo, yhi) = if ylo == yhi {
        (ylo - 0.5, yhi + 0.5)
    } else {
        (ylo, yhi)
    };
    let text = have_font();
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut b = ChartBuilder::on(&root);
        b.margin(12);
        if text {
            b.caption(title, ("sans-serif", 18))
                .x_label_area_size(30)
                .y_label_area_size(60);
        }
        let mut chart = b
            .build_cartesian_2d(1f32..n as f32, ylo..yhi)
            .map_err(|e| err(e.to_string()))?;
        let mut m = chart.configure_mesh();
        if !text {
            m.disable_x_mesh().disable_y_mesh().x_labels(0).y_labels(0);
        }
        m.x_desc("step")
            .y_desc(if log { "log10 loss" } else { "loss" })
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (i, (name, v)) in series.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            let s = chart
                .draw_series(LineSeries::new(
                    v.iter()
                        .enumerate()
                        .filter(|p| p.1.is_finite())
                        .map(|(k, &y)| ((k + 1) as f32, f(y))),
                    c.stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?;
            if text {
                s.label(*name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c));
            }
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    let img =
        image::RgbImage::from_raw(size.0, size.1, buf).ok_or_else(|| err("buffer size".into()))?;
    save_png_atomic(&image::DynamicImage::ImageRgb8(img), path)
}

/// Writes a PNG atomically (`wick_common::fs::write_atomic_with`: temp file + rename).
pub fn save_png_atomic(img: &image::DynamicImage, path: &Path) -> Result<(), ModelError> {
    wick_common::fs::write_atomic_with(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| ModelError::weights(path, format!("PNG write failed: {e}")))
}

/// RGB 0..1 `[3, H, W]` tensor → 8-bit image.
pub fn tensor_to_image(t: &candle_core::Tensor) -> candle_core::Result<image::RgbImage> {
    let (c, h, w) = t.dims3()?;
    if c != 3 {
        candle_core::bail!("expected an RGB [3, H, W] tensor, got {:?}", t.dims());
    }
    let v: Vec<u8> = (t.to_dtype(candle_core::DType::F32)?.clamp(0f32, 1f32)? * 255.0)?
        .round()?
        .permute((1, 2, 0))?
        .flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(|x| x as u8)
        .collect();
    image::RgbImage::from_raw(w as u32, h as u32, v)
        .ok_or_else(|| candle_core::Error::Msg("image buffer size mismatch".into()))
}
