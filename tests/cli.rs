//! The `wick` test host end to end: run, render (chunking, keyframes, atomic writes, exit
//! codes), validate, image precision, and the C host.

use std::path::Path;
use std::process::Command;

use wick_tests::{artifacts, repo_root, scratch, wick};
use wick_tests::{read_file as read, run_code as code, run_ok as ok};

const GRAPH: &str = r#"
fps = 24
frames = "1-10"

[[node]]
name = "gen"
type = "wick.generate"
params = { seed = 5, width = 96, height = 54, speed = 0.5 }
keyframes = { mix = [[1, 0.0], [10, 1.0]], zoom = [[1, 1.0], [10, 2.0]] }

[[node]]
name = "out"
type = "write"
input = "gen"
path = "OUT/f.####.png"
"#;

#[test]
fn render_chunks_equal_whole_range() {
    let d = scratch("chunks");
    let g = d.join("g.toml");
    std::fs::write(&g, GRAPH.replace("OUT", "whole")).unwrap();
    ok(wick().args(["render"]).arg(&g).args(["--frames", "1-10"]));
    std::fs::write(&g, GRAPH.replace("OUT", "parts")).unwrap();
    ok(wick().args(["render"]).arg(&g).args(["--frames", "1-5"]));
    ok(wick().args(["render"]).arg(&g).args(["--frames", "6-10"]));
    for f in 1..=10 {
        let name = format!("f.{f:04}.png");
        assert_eq!(
            read(&d.join("whole").join(&name)),
            read(&d.join("parts").join(&name)),
            "frame {f}"
        );
    }
    // Keyframes animate: first and last differ.
    assert_ne!(
        read(&d.join("whole/f.0001.png")),
        read(&d.join("whole/f.0010.png"))
    );
    // Steps and lists.
    std::fs::write(&g, GRAPH.replace("OUT", "step")).unwrap();
    ok(wick()
        .args(["render"])
        .arg(&g)
        .args(["--frames", "1-9x4,10"]));
    for f in [1, 5, 9, 10] {
        let name = format!("f.{f:04}.png");
        assert_eq!(
            read(&d.join("step").join(&name)),
            read(&d.join("whole").join(&name))
        );
    }
    assert!(!d.join("step/f.0002.png").exists());
    // No temp files left behind.
    for e in std::fs::read_dir(d.join("whole")).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.contains("wick-tmp"), "temp file left: {n}");
    }
}

#[test]
fn same_seed_same_bytes_across_processes() {
    let d = scratch("procs");
    for name in ["a.png", "b.png"] {
        ok(wick()
            .args(["run", "wick.generate", "--out"])
            .arg(d.join(name))
            .args([
                "--param",
                "seed=9",
                "width=120",
                "height=80",
                "--frame",
                "12",
            ]));
    }
    assert_eq!(read(&d.join("a.png")), read(&d.join("b.png")));
}

#[test]
fn failed_render_leaves_earlier_frames_and_no_partial_file() {
    let d = scratch("fail");
    // Input sequence with frame 3 missing: frames 1-2 render, 3 fails, 4 is never reached.
    std::fs::create_dir_all(d.join("in")).unwrap();
    for f in [1, 2, 4] {
        ok(wick()
            .args(["run", "wick.generate", "--out"])
            .arg(d.join(format!("in/i.{f:04}.png")))
            .args(["--param", "width=32", "height=24"]));
    }
    std::env::set_var("WICK_ENABLE_TEST_NODES", "1");
    let g = d.join("g.toml");
    std::fs::write(
        &g,
        r#"
[[node]]
name = "src"
type = "read"
path = "in/i.####.png"
[[node]]
name = "copy"
type = "wick.debug"
input = "src"
[[node]]
name = "out"
type = "write"
input = "copy"
path = "out/o.####.png"
"#,
    )
    .unwrap();
    let (c, err) = code(
        wick()
            .env("WICK_ENABLE_TEST_NODES", "1")
            .args(["render"])
            .arg(&g)
            .args(["--frames", "1-4"]),
    );
    assert_eq!(c, 4, "render failure exit code: {err}");
    assert!(err.contains("i.0003.png"), "{err}");
    assert!(d.join("out/o.0001.png").exists() && d.join("out/o.0002.png").exists());
    assert!(!d.join("out/o.0003.png").exists() && !d.join("out/o.0004.png").exists());
    assert_eq!(
        std::fs::read_dir(d.join("out")).unwrap().count(),
        2,
        "no temp files"
    );
    // The copy through the debug node is exact at 8 bits.
    let a = image::open(d.join("in/i.0001.png")).unwrap().to_rgba8();
    let b = image::open(d.join("out/o.0001.png")).unwrap().to_rgba8();
    assert_eq!(a.as_raw(), b.as_raw());
}

#[test]
fn exit_codes() {
    let d = scratch("codes");
    let out = d.join("x.png");
    let (c, e) = code(
        wick()
            .args(["run", "wick.generate", "--out"])
            .arg(&out)
            .args(["--param", "mix=7"]),
    );
    assert_eq!(c, 2, "bad param value: {e}");
    assert!(e.contains("mix"), "{e}");
    let (c, e) = code(wick().args(["run", "wick.nope", "--out"]).arg(&out));
    assert_eq!(c, 2, "unknown node: {e}");
    let (c, e) = code(
        wick()
            .args(["run", "wick.generate", "--out"])
            .arg(&out)
            .args(["--param", "nope=1"]),
    );
    assert_eq!(c, 2, "unknown param: {e}");
    let (c, e) = code(
        wick()
            .env("WICK_PLUGIN", "/no/such/libwick.so")
            .args(["nodes"]),
    );
    assert_eq!(c, 3, "missing plugin: {e}");
    let (c, e) = code(
        wick()
            .args(["run", "wick.generate", "--out"])
            .arg(&out)
            .args(["--param", "model=/no/such.safetensors"]),
    );
    assert_eq!(c, 3, "missing model: {e}");
    let (c, e) = code(
        wick()
            .env("WICK_ENABLE_TEST_NODES", "1")
            .args(["run", "wick.debug", "--out"])
            .arg(&out)
            .args(["--param", "mode=panic"]),
    );
    assert_eq!(c, 4, "panic in node: {e}");
    assert!(e.contains("internal error"), "{e}");
    let g = d.join("bad.toml");
    std::fs::write(
        &g,
        "[[node]]\nname='a'\ntype='wick.generate'\ninputs={x='a'}\n",
    )
    .unwrap();
    let (c, e) = code(wick().args(["render"]).arg(&g).args(["--frames", "1"]));
    assert_eq!(c, 2, "bad graph: {e}");
    assert!(!out.exists());
}

#[test]
fn precision_is_kept_16bit_and_exr() {
    let d = scratch("precision");
    std::env::set_var("WICK_ENABLE_TEST_NODES", "1");
    // 16-bit PNG in -> 16-bit PNG out, through a copy node: exact.
    let mut img = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::new(33, 17);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgba([
            (x * 1987 + y * 3) as u16,
            (y * 3851) as u16,
            ((x * y * 97) % 65536) as u16,
            65535 - (x * 100) as u16,
        ]);
    }
    img.save(d.join("in16.png")).unwrap();
    ok(wick()
        .env("WICK_ENABLE_TEST_NODES", "1")
        .args(["run", "wick.debug", "--in"])
        .arg(d.join("in16.png"))
        .arg("--out")
        .arg(d.join("out16.png")));
    let back = image::open(d.join("out16.png")).unwrap();
    assert!(
        matches!(back, image::DynamicImage::ImageRgba16(_)),
        "kept 16 bits"
    );
    let back = back.to_rgba16();
    let maxdiff = img
        .as_raw()
        .iter()
        .zip(back.as_raw())
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap();
    println!("16-bit PNG round trip max diff: {maxdiff} / 65535");
    assert!(maxdiff <= 1, "16-bit round trip max diff {maxdiff}");
    // EXR f32 in -> EXR out: float precision, values above 1 survive.
    let mut f = image::ImageBuffer::<image::Rgba<f32>, Vec<f32>>::new(8, 4);
    for (x, y, p) in f.enumerate_pixels_mut() {
        *p = image::Rgba([x as f32 * 0.37, y as f32 * 0.011 + 0.001, 2.5, 1.0]);
    }
    image::DynamicImage::ImageRgba32F(f.clone())
        .save(d.join("in.exr"))
        .unwrap();
    ok(wick()
        .env("WICK_ENABLE_TEST_NODES", "1")
        .args(["run", "wick.debug", "--in"])
        .arg(d.join("in.exr"))
        .arg("--out")
        .arg(d.join("out.exr")));
    let back = image::open(d.join("out.exr")).unwrap().to_rgba32f();
    let maxrel = f
        .as_raw()
        .iter()
        .zip(back.as_raw())
        .map(|(a, b)| (a - b).abs() / a.abs().max(1e-3))
        .fold(0f32, f32::max);
    println!("EXR round trip max relative diff: {maxrel:e}");
    assert!(maxrel < 1e-4, "EXR round trip {maxrel}");
}

#[test]
fn nodes_lists_and_json_parses() {
    let s = ok(wick().args(["nodes"]));
    assert!(s.contains("wick.generate") && s.contains("seed_b"));
    let out = wick().args(["nodes", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["id"] == "wick.generate"));
}

#[test]
fn validate_passes_on_the_real_plugin() {
    let s = ok(wick().args(["validate"]));
    println!("{s}");
    assert!(s.contains(" 0 failed"), "{s}");
    // And with the test node present too.
    let s = ok(wick().env("WICK_ENABLE_TEST_NODES", "1").args(["validate"]));
    assert!(s.contains("wick.debug") || s.contains(" 0 failed"));
}

#[test]
fn c_host_compiles_c99_and_renders() {
    let d = scratch("chost");
    let inc = repo_root().join("host-sdk/include");
    let src = repo_root().join("examples/c-host/main.c");
    let exe = d.join("c-host");
    ok(Command::new("gcc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(&inc)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg("-ldl"));
    let s = ok(Command::new(&exe)
        .arg(&artifacts().plugin)
        .arg(d.join("frame.ppm")));
    assert!(
        s.contains("node wick.generate") && s.contains("refused mix=5"),
        "{s}"
    );
    let ppm = read(&d.join("frame.ppm"));
    assert!(ppm.starts_with(b"P6\n320 180\n255\n"));
    assert_eq!(ppm.len(), 15 + 320 * 180 * 3);
    // The header is also valid C++.
    let cpp = repo_root().join("examples/c-host/header_cpp_check.cpp");
    ok(Command::new("g++")
        .args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(&inc)
        .arg(&cpp)
        .arg("-o")
        .arg(d.join("cpp-check")));
}

/// Three small frames of a slowly moving CPPN, for the interpolation tests.
fn small_sequence(d: &Path) {
    std::fs::create_dir_all(d.join("in")).unwrap();
    for f in 1..=3 {
        ok(wick()
            .args(["run", "wick.generate", "--out"])
            .arg(d.join(format!("in/s.{f:04}.png")))
            .args(["--param", "width=64", "height=48", "speed=0.05", "--frame"])
            .arg(f.to_string()));
    }
}

#[test]
fn retime_doubles_a_sequence() {
    let d = scratch("retime");
    small_sequence(&d);
    let s = ok(wick()
        .arg("retime")
        .arg(d.join("in/s.####.png"))
        .args(["--factor", "2", "--out"])
        .arg(d.join("out/r.%04d.png")));
    println!("{s}");
    // 3 inputs -> 5 outputs: originals at 1, 3, 5 (copied unchanged), in-betweens at 2, 4.
    for (o, i) in [(1, 1), (3, 2), (5, 3)] {
        assert_eq!(
            read(&d.join(format!("out/r.{o:04}.png"))),
            read(&d.join(format!("in/s.{i:04}.png")))
        );
    }
    for o in [2, 4] {
        let img = image::open(d.join(format!("out/r.{o:04}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (64, 48));
    }
    assert!(!d.join("out/r.0006.png").exists());
    // Pairs run side by side by default (--jobs 2); one at a time gives the same files.
    ok(wick()
        .arg("retime")
        .arg(d.join("in/s.####.png"))
        .args(["--factor", "2", "--jobs", "1", "--out"])
        .arg(d.join("seq/r.%04d.png")));
    for o in 1..=5 {
        assert_eq!(
            read(&d.join(format!("out/r.{o:04}.png"))),
            read(&d.join(format!("seq/r.{o:04}.png"))),
            "frame {o}"
        );
    }
}

/// A scene cut inside the sequence is held, not morphed, and `wick retime` reports it.
#[test]
fn retime_holds_and_reports_a_scene_cut() {
    let d = scratch("retime-cut");
    std::fs::create_dir_all(d.join("in")).unwrap();
    let (w, h) = (64u32, 48u32);
    for f in 1..=3u32 {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let (x, y) = (x as f32, y as f32);
            let v = if f < 3 {
                0.5 + 0.4 * ((x + 2.0 * f as f32) * 0.15).sin() * (y * 0.1).cos()
            } else {
                0.5 + 0.45 * (x * 0.7).sin() * (y * 0.5).cos()
            };
            let b = |v: f32| (v.clamp(0.0, 1.0) * 255.0) as u8;
            if f < 3 {
                image::Rgb([b(v), b(v * 0.8), 60])
            } else {
                image::Rgb([20, b(v), b(1.0 - v)])
            }
        });
        img.save(d.join(format!("in/c.{f:04}.png"))).unwrap();
    }
    let s = ok(wick()
        .arg("retime")
        .arg(d.join("in/c.%04d.png"))
        .args(["--factor", "2", "--out"])
        .arg(d.join("out/c.%04d.png")));
    println!("{s}");
    assert!(s.contains("scene cut between input frames 2 and 3"), "{s}");
    assert!(s.contains("1 scene cut(s) found"), "{s}");
    // The in-between at t = 0.5 across the cut holds the later frame (exactly, 8-bit).
    let held = image::open(d.join("out/c.0004.png")).unwrap().to_rgb8();
    let later = image::open(d.join("in/c.0003.png")).unwrap().to_rgb8();
    assert_eq!(held.as_raw(), later.as_raw());
}

#[test]
fn render_feeds_interpolate_the_next_frame() {
    let d = scratch("frames-needed");
    small_sequence(&d);
    let g = d.join("g.toml");
    std::fs::write(
        &g,
        r#"
[[node]]
name = "src"
type = "read"
path = "in/s.####.png"
first = 1
last = 3
[[node]]
name = "mid"
type = "wick.interpolate"
inputs = { a = "src", b = "src" }
params = { t = 0.5 }
[[node]]
name = "out"
type = "write"
input = "mid"
path = "out/m.####.png"
"#,
    )
    .unwrap();
    ok(wick().args(["render"]).arg(&g).args(["--frames", "1-2"]));
    // Frame 1 of the graph is interpolate(frame 1, frame 2): the same as running the node on them.
    ok(wick()
        .args(["run", "wick.interpolate", "--in"])
        .arg(d.join("in/s.0001.png"))
        .arg(d.join("in/s.0002.png"))
        .arg("--out")
        .arg(d.join("run.png"))
        .args(["--param", "t=0.5"]));
    assert_eq!(read(&d.join("out/m.0001.png")), read(&d.join("run.png")));
    assert_ne!(
        read(&d.join("out/m.0001.png")),
        read(&d.join("out/m.0002.png"))
    );
}

#[test]
fn sheet_shows_all_26_styles() {
    let d = scratch("sheet");
    let photo = repo_root().join("models/tests/fixtures/style/chelsea.png");
    ok(wick()
        .arg("sheet")
        .arg(&photo)
        .arg("--out")
        .arg(d.join("sheet.png"))
        .args(["--cell", "48", "--cols", "9"]));
    let img = image::open(d.join("sheet.png")).unwrap().to_rgba8();
    // 27 cells (source + 26 styles) in 9 columns = 3 rows; cells 48 px wide with 4 px gaps.
    assert_eq!(img.width(), 9 * 52 + 4);
    let src = image::open(&photo).unwrap();
    let ch = (src.height() as f64 * 48.0 / src.width() as f64).round() as u32;
    assert_eq!(img.height(), 3 * (ch + 4) + 4);
    // Cells differ from one another (each is a different style).
    let cell = |k: u32| -> Vec<u8> {
        let (x, y) = (4 + (k % 9) * 52, 4 + (k / 9) * (ch + 4));
        let mut v = Vec::new();
        for yy in y + ch / 2..y + ch {
            for xx in x..x + 48 {
                v.extend_from_slice(&img.get_pixel(xx, yy).0);
            }
        }
        v
    };
    for k in 1..27 {
        assert_ne!(cell(k), cell(0), "style {} equals the source", k - 1);
    }
    assert_ne!(cell(1), cell(2));
}
