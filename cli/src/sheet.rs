//! `wick sheet`: every built-in style of `wick.style-transfer` on one photo, as a labelled
//! contact sheet (the source first, then styles 0–25).

use std::path::Path;

use image::imageops::FilterType;

use crate::io::write_atomic;
use crate::{Frame, HostError, ParamValue, Plugin};

/// Options of `wick sheet`.
#[derive(Debug, Clone)]
pub struct SheetArgs {
    /// Width of one cell in pixels (the photo is resized to it, keeping its aspect).
    pub cell: u32,
    /// Cells per row.
    pub cols: u32,
    /// Extra `wick.style-transfer` params, NAME=VALUE (e.g. strength=0.8).
    pub params: Vec<String>,
}

/// The tallest cell (a very tall photo at a wide cell would otherwise ask for gigapixels).
pub const MAX_CELL_HEIGHT: u32 = 16384;
/// The most pixels a sheet may have (1 GiB of RGBA8).
pub const MAX_SHEET_PIXELS: u64 = 256_000_000;

/// 3×5 bitmap glyphs for the labels: digits, a few letters and signs.
const GLYPHS: [(char, [u8; 5]); 29] = [
    ('0', [0b111, 0b101, 0b101, 0b101, 0b111]),
    ('1', [0b010, 0b110, 0b010, 0b010, 0b111]),
    ('2', [0b111, 0b001, 0b111, 0b100, 0b111]),
    ('3', [0b111, 0b001, 0b111, 0b001, 0b111]),
    ('4', [0b101, 0b101, 0b111, 0b001, 0b001]),
    ('5', [0b111, 0b100, 0b111, 0b001, 0b111]),
    ('6', [0b111, 0b100, 0b111, 0b101, 0b111]),
    ('7', [0b111, 0b001, 0b010, 0b010, 0b010]),
    ('8', [0b111, 0b101, 0b111, 0b101, 0b111]),
    ('9', [0b111, 0b101, 0b111, 0b001, 0b111]),
    ('s', [0b011, 0b100, 0b010, 0b001, 0b110]),
    ('r', [0b000, 0b110, 0b101, 0b100, 0b100]),
    ('c', [0b000, 0b011, 0b100, 0b100, 0b011]),
    ('a', [0b000, 0b011, 0b101, 0b101, 0b011]),
    ('e', [0b010, 0b101, 0b111, 0b100, 0b011]),
    ('f', [0b011, 0b100, 0b110, 0b100, 0b100]),
    ('i', [0b010, 0b000, 0b010, 0b010, 0b010]),
    ('l', [0b110, 0b010, 0b010, 0b010, 0b111]),
    ('m', [0b000, 0b111, 0b111, 0b101, 0b101]),
    ('n', [0b000, 0b110, 0b101, 0b101, 0b101]),
    ('p', [0b110, 0b101, 0b110, 0b100, 0b100]),
    ('t', [0b010, 0b111, 0b010, 0b010, 0b011]),
    ('x', [0b000, 0b101, 0b010, 0b010, 0b101]),
    ('y', [0b101, 0b101, 0b011, 0b001, 0b110]),
    ('+', [0b000, 0b010, 0b111, 0b010, 0b000]),
    ('.', [0b000, 0b000, 0b000, 0b000, 0b010]),
    ('=', [0b000, 0b111, 0b000, 0b111, 0b000]),
    (':', [0b000, 0b010, 0b000, 0b010, 0b000]),
    ('/', [0b001, 0b001, 0b010, 0b100, 0b100]),
];

/// Draws `text` in white on a black box at (x, y) of an RGBA8 canvas, `scale` pixels per dot.
pub(crate) fn label(canvas: &mut image::RgbaImage, x: u32, y: u32, text: &str, scale: u32) {
    let w = (text.len() as u32 * 4 + 1) * scale;
    let h = 7 * scale;
    for yy in y..(y + h).min(canvas.height()) {
        for xx in x..(x + w).min(canvas.width()) {
            canvas.put_pixel(xx, yy, image::Rgba([0, 0, 0, 255]));
        }
    }
    for (k, ch) in text.chars().enumerate() {
        let Some((_, rows)) = GLYPHS.iter().find(|(c, _)| *c == ch) else {
            continue;
        };
        for (r, bits) in rows.iter().enumerate() {
            for c in 0..3u32 {
                if bits & (0b100 >> c) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + (1 + k as u32 * 4 + c) * scale + dx;
                        let py = y + (1 + r as u32) * scale + dy;
                        if px < canvas.width() && py < canvas.height() {
                            canvas.put_pixel(px, py, image::Rgba([255, 255, 255, 255]));
                        }
                    }
                }
            }
        }
    }
}

/// Renders the contact sheet of `photo` into `out` (PNG, written atomically).
pub fn sheet(plugin: &Plugin, photo: &Path, out: &Path, args: &SheetArgs) -> Result<(), HostError> {
    if args.cell < 16 || args.cell > 4096 || args.cols == 0 || args.cols > 64 {
        return Err(HostError::BadArgument(
            "--cell must be 16..4096 and --cols 1..64".into(),
        ));
    }
    let src = wick_common::imagefile::open(photo)
        .map_err(|e| HostError::BadArgument(format!("{}: {e}", photo.display())))?
        .to_rgba8();
    let cw = args.cell;
    // Every size here derives from the photo and the arguments: bound them before allocating.
    let ch = (src.height() as f64 * cw as f64 / src.width().max(1) as f64)
        .round()
        .max(1.0);
    if ch > MAX_CELL_HEIGHT as f64 {
        return Err(HostError::BadArgument(format!(
            "{}: a {}x{} photo at --cell {cw} makes cells {ch} px tall; the most is \
             {MAX_CELL_HEIGHT} (use a smaller --cell or a less tall photo)",
            photo.display(),
            src.width(),
            src.height()
        )));
    }
    let ch = ch as u32;
    let small = image::imageops::resize(&src, cw, ch, FilterType::Lanczos3);
    drop(src);
    let input = Frame {
        width: cw,
        height: ch,
        sample: crate::Sample::U8,
        channels: 4,
        premultiplied: false,
        linear: false,
        data: small.as_raw().clone(),
    };
    let n_styles = 26u32;
    let cells = n_styles + 1;
    let rows = cells.div_ceil(args.cols);
    let gap = 4;
    let (sheet_w, sheet_h) = (
        args.cols as u64 * (cw as u64 + gap as u64) + gap as u64,
        rows as u64 * (ch as u64 + gap as u64) + gap as u64,
    );
    if sheet_w * sheet_h > MAX_SHEET_PIXELS {
        return Err(HostError::BadArgument(format!(
            "the sheet would be {sheet_w}x{sheet_h} px, more than {} megapixels; use a \
             smaller --cell or fewer --cols",
            MAX_SHEET_PIXELS / 1_000_000
        )));
    }

    let mut inst = plugin.instance("wick.style-transfer")?;
    inst.set_params_kv(&args.params)?;
    let mut canvas = image::RgbaImage::from_pixel(
        sheet_w as u32,
        sheet_h as u32,
        image::Rgba([32, 32, 32, 255]),
    );
    let scale = (cw / 64).max(2);
    for k in 0..cells {
        let img: image::RgbaImage = if k == 0 {
            small.clone()
        } else {
            let style = k - 1;
            inst.set_param("style", &ParamValue::Str(style.to_string()))?;
            let mut outs = vec![Frame::new_u8(cw, ch)];
            inst.process(0.0, 0, &[Some(&input), None], &mut outs, None)?;
            let f = outs.pop().expect("one output");
            image::RgbaImage::from_raw(cw, ch, f.data)
                .ok_or_else(|| HostError::BadArgument("bad frame size".into()))?
        };
        let (x, y) = (
            gap + (k % args.cols) * (cw + gap),
            gap + (k / args.cols) * (ch + gap),
        );
        image::imageops::overlay(&mut canvas, &img, x as i64, y as i64);
        let text = if k == 0 {
            "src".to_string()
        } else {
            (k - 1).to_string()
        };
        label(&mut canvas, x + 2, y + 2, &text, scale);
        eprintln!("wick: sheet cell {}/{cells} ({text})", k + 1);
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    canvas
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| HostError::Io {
            path: out.to_path_buf(),
            msg: e.to_string(),
        })?;
    write_atomic(out, &bytes.into_inner())
}
