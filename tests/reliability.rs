//! Regression tests for the failures of issue #16's adversarial run, one test per failure (and
//! the same classes found elsewhere), through the real plugin and the real `wick` binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wick_host_sdk::{ffi, Frame, ParamValue, Plugin};
use wick_tests::{artifacts, repo_root, run_code, run_ok, scratch, wick};

fn plugin() -> Plugin {
    Plugin::load(&artifacts().plugin).expect("load plugin")
}

/// A frame with some structure (not flat), RGBA8.
fn frame(w: u32, h: u32) -> Frame {
    let mut f = Frame::new_u8(w, h);
    for (i, px) in f.data.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i as u32 % w, i as u32 / w);
        px.copy_from_slice(&[(x * 37 % 256) as u8, (y * 59 % 256) as u8, 128, 255]);
    }
    f
}

const TINY: [(u32, u32); 9] = [
    (1, 1),
    (2, 2),
    (3, 3),
    (5, 3),
    (3, 5),
    (1, 9),
    (9, 1),
    (4, 4),
    (7, 6),
];

/// #16.1: small frames. Every node, at every tiny size, either works or refuses with a bad
/// argument that says so; `WICK_ERR_INTERNAL` (a bug) never. The style models and the
/// interpolator must work (pad and crop), not refuse.
#[test]
fn tiny_frames_work_or_are_refused_never_internal() {
    let p = plugin();
    let vintage = repo_root().join("models/weights/cyclegan_vintage.safetensors");
    // (node, params, must work rather than refuse)
    type Case<'a> = (&'a str, Vec<(&'a str, ParamValue)>, bool);
    let cases: Vec<Case> = vec![
        ("wick.style-transfer", vec![], true),
        (
            "wick.style-transfer",
            vec![("style", ParamValue::Str("3:0.5,12:0.5".into()))],
            true,
        ),
        (
            "wick.style-transfer",
            vec![("model", ParamValue::Str("arbitrary".into()))],
            true,
        ),
        (
            "wick.style-transfer",
            vec![(
                "model",
                ParamValue::Str(vintage.to_string_lossy().into_owned()),
            )],
            true,
        ),
        ("wick.interpolate", vec![], true),
        ("wick.generate", vec![], true),
        ("wick.train", vec![], false),
    ];
    for (id, params, must_work) in &cases {
        let mut inst = p.instance(id).expect(id);
        for (k, v) in params {
            inst.set_param(k, v).expect("param");
        }
        let n_in = inst.info().inputs.len();
        for &(w, h) in &TINY {
            let src = frame(w, h);
            // A painting for the arbitrary model's style input; the source elsewhere.
            let style = frame(40, 40);
            let inputs: Vec<Option<&Frame>> = (0..n_in)
                .map(|k| match (*id, k) {
                    ("wick.style-transfer", 1) => Some(&style),
                    ("wick.train", _) => None,
                    _ => Some(&src),
                })
                .collect();
            let mut out = vec![Frame::new_u8(w, h)];
            let r = inst.process(0.0, 0, &inputs, &mut out, None);
            let what = format!("{id} {params:?} at {w}x{h}");
            match r {
                Ok(()) => {}
                Err(e) => {
                    let st = e.status();
                    assert_ne!(
                        st,
                        Some(ffi::WICK_ERR_INTERNAL),
                        "{what}: internal error: {e}"
                    );
                    assert!(!must_work, "{what} must work: {e}");
                }
            }
        }
    }
}

/// #16.2: a weights path that is a device or a FIFO is refused at once, by its type, without
/// reading from it (before: ~2 GB read from /dev/zero). Through `model=`, `weights=` and a
/// `WICK_WEIGHTS_DIR` whose bundled file is a link to /dev/zero.
#[test]
fn weights_that_are_devices_or_fifos_are_refused_at_once() {
    let d = scratch("rel-weights-devices");
    let input = d.join("in.png");
    image::RgbaImage::from_pixel(16, 16, image::Rgba([90, 120, 200, 255]))
        .save(&input)
        .unwrap();
    let fifo = d.join("model.safetensors");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let wdir = d.join("weights");
    std::fs::create_dir_all(&wdir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", wdir.join("multistyle26.safetensors")).unwrap();
    let fifo_s = format!("model={}", fifo.display());
    let cases: Vec<(Vec<&str>, Option<&Path>, &str)> = vec![
        (
            vec!["wick.style-transfer", "--param", "model=/dev/zero"],
            None,
            "character device",
        ),
        (
            vec!["wick.style-transfer", "--param", &fifo_s],
            None,
            "FIFO",
        ),
        (
            vec!["wick.interpolate", "--param", "weights=/dev/zero"],
            None,
            "character device",
        ),
        (vec!["wick.style-transfer"], Some(&wdir), "character device"),
    ];
    for (args, weights_dir, expect) in cases {
        let interp = args[0] == "wick.interpolate";
        let mut c = wick();
        c.arg("run").arg(args[0]).arg("--in").arg(&input);
        if interp {
            c.arg(&input);
        }
        c.arg("--out").arg(d.join("o.png")).args(&args[1..]);
        if let Some(w) = weights_dir {
            c.env("WICK_WEIGHTS_DIR", w);
        }
        let t = Instant::now();
        let (code, err) = run_code(&mut c);
        let secs = t.elapsed().as_secs_f64();
        assert_ne!(code, 0, "{args:?}: must fail");
        assert!(err.contains(expect), "{args:?}: '{expect}' not in: {err}");
        // Generous: the point is that nothing is read (before: tens of seconds and GBs).
        assert!(secs < 60.0, "{args:?}: took {secs:.1} s");
    }
}

/// #16.3: a JPEG cut inside its compressed data is a corrupt shot: `wick run` fails, naming the
/// file; `WICK_ALLOW_TRUNCATED=1` decodes what is there.
#[test]
fn truncated_jpeg_fails_with_its_path() {
    let d = scratch("rel-truncated-jpeg");
    let full = d.join("full.jpg");
    image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 99])
    })
    .save(&full)
    .unwrap();
    let bytes = std::fs::read(&full).unwrap();
    run_ok(
        wick()
            .args(["run", "wick.debug", "--in"])
            .arg(&full)
            .arg("--out")
            .arg(d.join("ok.png"))
            .env("WICK_ENABLE_TEST_NODES", "1"),
    );
    for pct in [50, 90, 99] {
        let cut = d.join(format!("cut{pct}.jpg"));
        std::fs::write(&cut, &bytes[..bytes.len() * pct / 100]).unwrap();
        let out = d.join(format!("o{pct}.png"));
        let mut c = wick();
        c.env("WICK_ENABLE_TEST_NODES", "1")
            .args(["run", "wick.debug", "--in"])
            .arg(&cut)
            .arg("--out")
            .arg(&out);
        let (code, err) = run_code(&mut c);
        assert_ne!(code, 0, "cut at {pct}%: must fail");
        assert!(err.contains(&*cut.to_string_lossy()), "path missing: {err}");
        assert!(err.contains("truncated"), "{err}");
        assert!(!out.exists(), "no output for a corrupt input");
        // The user may allow it: a warning, then whatever the decoder makes of the data (a
        // file cut at 99 % decodes; one cut at 50 % may still be beyond the decoder).
        let (code, err) = run_code(c.env("WICK_ALLOW_TRUNCATED", "1"));
        assert!(err.contains("decoding it anyway"), "{err}");
        if pct == 99 {
            assert_eq!(code, 0, "{err}");
            assert!(out.exists());
        }
    }
}

fn sequence(dir: &Path, n: u32, ext: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 1..=n {
        let img = image::RgbImage::from_fn(32, 24, |x, y| {
            image::Rgb([((x + 3 * i) * 7) as u8, (y * 9) as u8, (40 * i) as u8])
        });
        img.save(dir.join(format!("s.{i:04}.{ext}"))).unwrap();
    }
}

fn magic(p: &Path) -> &'static str {
    let b = std::fs::read(p).unwrap();
    match image::guess_format(&b) {
        Ok(image::ImageFormat::Png) => "png",
        Ok(image::ImageFormat::Jpeg) => "jpg",
        Ok(image::ImageFormat::Tiff) => "tif",
        Ok(image::ImageFormat::OpenExr) => "exr",
        _ => "other",
    }
}

/// #16.4: `wick retime` writes every output in the format its name says, originals included
/// (before: PNG bytes under `.jpg` names for the source frames).
#[test]
fn retime_encodes_every_output_as_its_name_says() {
    let d = scratch("rel-retime-format");
    sequence(&d.join("seq"), 3, "png");
    for ext in ["jpg", "png", "exr", "tif"] {
        let out = d.join(format!("out-{ext}"));
        run_ok(
            wick()
                .arg("retime")
                .arg(d.join("seq/s.%04d.png"))
                .args(["--factor", "2", "--out"])
                .arg(out.join(format!("r.%04d.{ext}"))),
        );
        let mut names: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        assert_eq!(names.len(), 5, "{names:?}");
        for p in &names {
            assert_eq!(magic(p), ext, "{} is not {ext}", p.display());
        }
    }
    // A PNG misnamed .jpg in the input is re-encoded too, not copied.
    let mis = d.join("mis");
    sequence(&mis, 2, "png");
    for i in 1..=2 {
        std::fs::rename(
            mis.join(format!("s.{i:04}.png")),
            mis.join(format!("s.{i:04}.jpg")),
        )
        .unwrap();
    }
    run_ok(
        wick()
            .arg("retime")
            .arg(mis.join("s.####.jpg"))
            .args(["--factor", "2", "--out"])
            .arg(d.join("mis-out/m.####.jpg")),
    );
    for i in 1..=3 {
        assert_eq!(magic(&d.join(format!("mis-out/m.{i:04}.jpg"))), "jpg");
    }
}

/// #16.5: `wick sheet` bounds every size it derives from the input (before: a 1×4000 photo at
/// `--cell 4096` aborted on a 268 GB allocation).
#[test]
fn sheet_refuses_sizes_it_cannot_allocate() {
    let d = scratch("rel-sheet-bounds");
    let tall = d.join("tall.png");
    image::RgbaImage::from_pixel(1, 4000, image::Rgba([10, 20, 30, 255]))
        .save(&tall)
        .unwrap();
    let (code, err) = run_code(
        wick()
            .arg("sheet")
            .arg(&tall)
            .arg("--out")
            .arg(d.join("s.png"))
            .args(["--cell", "4096"]),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cell"), "{err}");
    assert!(!d.join("s.png").exists());
}

fn debug_chain_graph(n: usize, out: &str) -> String {
    let mut g = String::from("fps = 24\n\n");
    g.push_str(
        "[[node]]\nname = \"n0\"\ntype = \"wick.debug\"\nparams = { width = 2, height = 2 }\n\n",
    );
    for i in 1..n {
        g.push_str(&format!(
            "[[node]]\nname = \"n{i}\"\ntype = \"wick.debug\"\ninput = \"n{}\"\n\n",
            i - 1
        ));
    }
    g.push_str(&format!(
        "[[node]]\nname = \"out\"\ntype = \"write\"\ninput = \"n{}\"\npath = \"{out}\"\n",
        n - 1
    ));
    g
}

/// #16.6: frame specs are parsed with checked arithmetic: what overflows is refused at once
/// (before: an endless loop to a 4 GB abort, and frames numbered −2^63 and −1).
#[test]
fn frame_specs_that_overflow_are_refused() {
    let d = scratch("rel-frames-overflow");
    let g = d.join("g.toml");
    std::fs::write(&g, debug_chain_graph(1, "out/f.####.png")).unwrap();
    for spec in [
        "9223372036854775806-9223372036854775807",
        "-9223372036854775808-9223372036854775807",
        "1-100000000",
        "9007199254740992",
    ] {
        let t = Instant::now();
        let (code, err) = run_code(
            wick()
                .env("WICK_ENABLE_TEST_NODES", "1")
                .arg("render")
                .arg(&g)
                .arg(format!("--frames={spec}")),
        );
        assert_eq!(code, 2, "{spec}: {err}");
        assert!(err.contains("frame spec"), "{spec}: {err}");
        assert!(t.elapsed() < Duration::from_secs(60));
    }
    assert!(!d.join("out").exists(), "nothing rendered");
    // A huge step is no overflow: 1-5 by 2^63−1 is frame 1 alone (before: frames −2^63, −1).
    run_ok(
        wick()
            .env("WICK_ENABLE_TEST_NODES", "1")
            .arg("render")
            .arg(&g)
            .args(["--frames", "1-5x9223372036854775807"]),
    );
    let written: Vec<_> = std::fs::read_dir(d.join("out")).unwrap().collect();
    assert_eq!(written.len(), 1);
    assert!(d.join("out/f.0001.png").exists());
    // Large but representable frame numbers and steps still work.
    run_ok(
        wick()
            .env("WICK_ENABLE_TEST_NODES", "1")
            .arg("render")
            .arg(&g)
            .args([
                "--frames",
                "9007199254740990-9007199254740991x9007199254740991",
            ]),
    );
    assert!(d.join("out/f.9007199254740990.png").exists());
    assert!(!d.join("out/f.9007199254740991.png").exists());
}

/// #16.7: a graph of 50,000 chained nodes renders (before: a stack overflow at render time);
/// evaluation keeps no recursion and no frame per node.
#[test]
fn a_chain_of_50000_nodes_renders() {
    let d = scratch("rel-long-chain");
    let g = d.join("chain.toml");
    std::fs::write(&g, debug_chain_graph(50_000, "out/c.####.png")).unwrap();
    run_ok(
        wick()
            .env("WICK_ENABLE_TEST_NODES", "1")
            .arg("render")
            .arg(&g)
            .args(["--frames", "1-2"]),
    );
    for f in 1..=2 {
        let img = image::open(d.join(format!("out/c.{f:04}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (2, 2));
    }
}

/// Beyond the seven: graph and training-config files that are devices, FIFOs or huge, and
/// graph files nested past any sane depth, are refused with a message (no hang, no stack
/// overflow, no unbounded read).
#[test]
fn graph_and_config_files_are_read_safely() {
    let d = scratch("rel-graph-files");
    let fifo = d.join("g.toml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (cmd, path, expect) in [
        ("render", Path::new("/dev/zero"), "character device"),
        ("render", fifo.as_path(), "FIFO"),
        ("train", Path::new("/dev/zero"), "character device"),
    ] {
        let (code, err) = run_code(wick().arg(cmd).arg(path));
        assert_eq!(code, 2, "{cmd} {}: {err}", path.display());
        assert!(err.contains(expect), "{err}");
    }
    // 100,000 nested arrays: the TOML parser's depth limit answers, not the stack.
    let deep = d.join("deep.toml");
    let n = 100_000;
    std::fs::write(
        &deep,
        format!("fps = 24\nx = {}{}\n", "[".repeat(n), "]".repeat(n)),
    )
    .unwrap();
    let (code, err) = run_code(wick().arg("render").arg(&deep));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("graph"), "{err}");
}
