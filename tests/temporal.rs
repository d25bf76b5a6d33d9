//! `wick.style-transfer temporal` (issue #15 part 2) through `wick render`: farm-safe (chunked
//! renders equal a whole render, byte for byte; two processes agree), `temporal = 0` unchanged,
//! the clip start (no past frames) is not an error, and the output is steadier than per-frame.
//!
//! Frames: the first 24 of the bundled `examples/clips/bikes.mp4` (real street footage, no cut
//! in them), scaled to 160×68 by ffmpeg (installed by ./scripts/setup.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

use wick_tests::{read_file as read, run_ok as ok, scratch, wick};

/// Frames 1..=24 of the bundled clip at 160 px wide, as `dir/src/f.####.png`.
fn frames(dir: &Path) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let clip = wick_tests::repo_root().join("examples/clips/bikes.mp4");
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&clip)
        .args([
            "-vf",
            "select=lt(n\\,24),scale=160:-2:flags=area",
            "-vsync",
            "0",
            "-start_number",
            "1",
        ])
        .arg(src.join("f.%04d.png"))
        .output()
        .expect("ffmpeg is installed (./scripts/setup.sh)");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(src.join("f.0024.png").exists());
}

/// A graph reading `src/f.####.png`, stylising with `params`, writing `OUT/o.####.png`.
fn graph(dir: &Path, out: &str, params: &str) -> PathBuf {
    let g = dir.join(format!("{out}.toml"));
    std::fs::write(
        &g,
        format!(
            r#"fps = 25
frames = "1-24"

[[node]]
name = "src"
type = "read"
path = "src/f.####.png"

[[node]]
name = "paint"
type = "wick.style-transfer"
input = "src"
params = {{ device = "cpu", style = "3:0.5,12:0.5"{params} }}

[[node]]
name = "out"
type = "write"
input = "paint"
path = "{out}/o.####.png"
"#
        ),
    )
    .unwrap();
    g
}

fn rgb(p: &Path) -> Vec<f32> {
    image::open(p)
        .unwrap()
        .to_rgb8()
        .into_raw()
        .into_iter()
        .map(|v| v as f32 / 255.0)
        .collect()
}

/// Mean absolute difference of consecutive frames (no motion compensation).
fn mean_change(dir: &Path, n: usize) -> f64 {
    let mut sum = 0f64;
    for f in 2..=n {
        let a = rgb(&dir.join(format!("o.{:04}.png", f - 1)));
        let b = rgb(&dir.join(format!("o.{f:04}.png")));
        sum += a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs() as f64)
            .sum::<f64>()
            / a.len() as f64;
    }
    sum / (n - 1) as f64
}

#[test]
fn temporal_render_is_farm_safe_and_steadier() {
    let d = scratch("temporal-farm");
    frames(&d);
    let whole = graph(&d, "whole", ", temporal = 1.0");
    ok(wick()
        .args(["render"])
        .arg(&whole)
        .args(["--frames", "1-24"]));
    // Two chunks, each its own process: frame 13 reads frames 2..12 as its past.
    let parts = graph(&d, "parts", ", temporal = 1.0");
    ok(wick()
        .args(["render"])
        .arg(&parts)
        .args(["--frames", "1-12"]));
    ok(wick()
        .args(["render"])
        .arg(&parts)
        .args(["--frames", "13-24"]));
    // The whole range again in another process.
    let again = graph(&d, "again", ", temporal = 1.0");
    ok(wick()
        .args(["render"])
        .arg(&again)
        .args(["--frames", "1-24"]));
    for f in 1..=24 {
        let name = format!("o.{f:04}.png");
        let w = read(&d.join("whole").join(&name));
        assert!(
            w == read(&d.join("parts").join(&name)),
            "frame {f}: chunks 1-12 + 13-24 differ from 1-24"
        );
        assert!(
            w == read(&d.join("again").join(&name)),
            "frame {f}: two processes differ"
        );
    }
    // Per-frame for comparison: frame 1 has no past frame, so it is stylised on its own.
    let per = graph(&d, "per", "");
    ok(wick().args(["render"]).arg(&per).args(["--frames", "1-24"]));
    assert_eq!(
        read(&d.join("whole/o.0001.png")),
        read(&d.join("per/o.0001.png")),
        "frame 1 (no past frames) must be the per-frame stylisation"
    );
    assert_ne!(
        read(&d.join("whole/o.0012.png")),
        read(&d.join("per/o.0012.png")),
        "temporal = 1 changed nothing"
    );
    // Steadier: consecutive outputs change less than per-frame outputs do (the footage moves,
    // so this includes the motion; the flicker is what temporal removes).
    let (t, p) = (
        mean_change(&d.join("whole"), 24),
        mean_change(&d.join("per"), 24),
    );
    println!("mean change between consecutive frames: per-frame {p:.4}, temporal {t:.4}");
    assert!(t < 0.85 * p, "temporal {t:.4} vs per-frame {p:.4}");
}

#[test]
fn temporal_zero_is_per_frame() {
    let d = scratch("temporal-zero");
    frames(&d);
    // No `temporal` param (the default) and temporal = 0 give the same bytes; a frame rendered
    // alone equals the same frame inside a sequence (nothing carried between frames).
    let default = graph(&d, "default", "");
    ok(wick()
        .args(["render"])
        .arg(&default)
        .args(["--frames", "1-6"]));
    let zero = graph(&d, "zero", ", temporal = 0.0");
    ok(wick().args(["render"]).arg(&zero).args(["--frames", "1-6"]));
    let alone = graph(&d, "alone", ", temporal = 0.0");
    ok(wick().args(["render"]).arg(&alone).args(["--frames", "5"]));
    for f in 1..=6 {
        let name = format!("o.{f:04}.png");
        assert_eq!(
            read(&d.join("default").join(&name)),
            read(&d.join("zero").join(&name)),
            "frame {f}"
        );
    }
    assert_eq!(
        read(&d.join("zero/o.0005.png")),
        read(&d.join("alone/o.0005.png"))
    );
}
