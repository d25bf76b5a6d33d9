//! `wick sheet`: every built-in style of `wick.style-transfer` on one photo, as a labelled
//! contact sheet (the source first, then styles 0–25).

use std::path::Path;

use image::imageops::FilterType;

use crate::io::{load_image, write_atomic};
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
    let src = image::open(photo)
        .map_err(|e| HostError::BadArgument(format!("{}: {e}", photo.display())))?
        .to_rgba8();
    let cw = args.cell;
    let ch = ((src.height() as f64 * cw as f64 / src.width() as f64).round() as u32).max(1);
    let small = image::imageops::resize(&src, cw, ch, FilterType::Lanczos3);
    let tmp = std::env::temp_dir().join(format!("wick-sheet-{}.png", std::process::id()));
    small.save(&tmp).map_err(|e| HostError::Io {
        path: tmp.clone(),
        msg: e.to_string(),
    })?;
    let input = load_image(&tmp);
    let _ = std::fs::remove_file(&tmp);
    let input = input?;

    let mut inst = plugin.instance("wick.style-transfer")?;
    inst.set_params_kv(&args.params)?;
    let n_styles = 26u32;
    let cells = n_styles + 1;
    let rows = cells.div_ceil(args.cols);
    let gap = 4;
    let mut canvas = image::RgbaImage::from_pixel(
        args.cols * (cw + gap) + gap,
        rows * (ch + gap) + gap,
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
