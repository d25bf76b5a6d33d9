//! Renders `docs/style-overview.png` (ignored by default; needs the shared media folder):
//!   WICK_SHARED=../shared cargo test -p wick-models --test style_docs -- --ignored --nocapture
//! Top row: the photo, built-in styles 0, 6, 13 and 21. Bottom row: the blend 3:0.5,12:0.5,
//! the painting, the painting's style by the arbitrary pair, and the same at strength 0.5.
//! Every stylised tile is Wick's output at the photo's full 448x300 size, shown at half size.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use wick_models::style::{self, arbitrary, MultiStyle, StylePredictor, StyleTransform, NUM_STYLES};

fn read_png(path: &Path) -> Tensor {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0u8; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Rgb, png::BitDepth::Eight)
    );
    let (w, h) = (info.width as usize, info.height as usize);
    let data: Vec<f32> = buf[..info.buffer_size()]
        .iter()
        .map(|&v| v as f32 / 255.0)
        .collect();
    let t = Tensor::from_vec(data, (h, w, 3), &Device::Cpu).unwrap();
    t.permute((2, 0, 1))
        .unwrap()
        .unsqueeze(0)
        .unwrap()
        .contiguous()
        .unwrap()
}

fn write_png(path: &Path, img: &Tensor) {
    let (_, _, h, w) = img.dims4().unwrap();
    let v = img
        .squeeze(0)
        .unwrap()
        .permute((1, 2, 0))
        .unwrap()
        .flatten_all()
        .unwrap();
    let bytes: Vec<u8> = v
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let mut e = png::Encoder::new(std::fs::File::create(path).unwrap(), w as u32, h as u32);
    e.set_color(png::ColorType::Rgb);
    e.set_depth(png::BitDepth::Eight);
    e.write_header().unwrap().write_image_data(&bytes).unwrap();
}

#[test]
#[ignore]
fn render_style_overview() {
    let dev = Device::Cpu;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = std::env::var("WICK_SHARED")
        .map(PathBuf::from)
        .unwrap_or(root.join("../shared"));
    let photo = read_png(&shared.join("media/photos/chelsea.png"));
    let photo = photo.narrow(3, 1, 448).unwrap().contiguous().unwrap(); // 448x300
    let painting = read_png(
        &shared
            .join("media/paintings/katsushika_hokusai_the_great_wave_off_kanagawa_1823_1829.png"),
    );
    let ms = MultiStyle::load(&style::bundled_weights("multistyle26.safetensors"), &dev).unwrap();
    let pred = StylePredictor::load(
        &style::bundled_weights("arbitrary_predict.safetensors"),
        &dev,
    )
    .unwrap();
    let tr = StyleTransform::load(
        &style::bundled_weights("arbitrary_transform.safetensors"),
        &dev,
    )
    .unwrap();
    let multi = |spec: &str| {
        let w = Tensor::from_vec(
            style::parse_blend(spec, NUM_STYLES).unwrap(),
            NUM_STYLES,
            &dev,
        )
        .unwrap();
        ms.forward(&photo, &w).unwrap()
    };
    let to256 = |x: &Tensor| wick_models::ops::upsample_bilinear2d(x, 256, 256, false).unwrap();
    let style_vec = pred.forward(&to256(&painting)).unwrap();
    let content_vec = pred.forward(&to256(&photo)).unwrap();
    let half_vec = arbitrary::interpolate_style(&style_vec, &content_vec, 0.5).unwrap();
    let (h, w) = (150, 224);
    let painting_tile =
        wick_models::ops::upsample_bilinear2d(&painting.avg_pool2d(2).unwrap(), 300, 448, false)
            .unwrap();
    let tiles = [
        photo.clone(),
        multi("0"),
        multi("6"),
        multi("13"),
        multi("21"),
        multi("3:0.5,12:0.5"),
        painting_tile,
        tr.forward(&photo, &style_vec).unwrap(),
        tr.forward(&photo, &half_vec).unwrap(),
    ];
    let tiles: Vec<Tensor> = tiles.iter().map(|t| t.avg_pool2d(2).unwrap()).collect();
    assert!(tiles.iter().all(|t| t.dims() == [1, 3, h, w]));
    let blank = Tensor::ones((1, 3, h, w), candle_core::DType::F32, &dev).unwrap();
    let row1 = Tensor::cat(&tiles[0..5], 3).unwrap();
    let row2 = Tensor::cat(&[&tiles[5], &tiles[6], &tiles[7], &tiles[8], &blank], 3).unwrap();
    let sheet = Tensor::cat(&[row1, row2], 2).unwrap();
    let out = root.join("docs/style-overview.png");
    write_png(&out, &sheet);
    println!("wrote {}", out.display());
}
