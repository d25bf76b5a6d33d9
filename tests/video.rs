//! Video in and out (issue #18): graph read/write nodes on video files, chunked renders of a
//! video read, the retime graph node, `wick retime` and `wick stylize` on video, audio copy,
//! broken files, bounded memory. Clips are tiny and generated here with FFmpeg (installed by
//! scripts/setup.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

use wick_tests::{artifacts, scratch, wick};
use wick_tests::{read_file as read, run_code as code, run_ok as ok};
use wick_video::probe;

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (./scripts/setup.sh)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A moving `w`×`h` H.264 clip of `frames` frames at 30000/1001 fps with B-frames and short
/// GOPs (so seeks land between keyframes), optionally with an AAC track.
fn clip(path: &Path, w: u32, h: u32, frames: u32, audio: bool) {
    let src =
        format!("testsrc2=s={w}x{h}:r=30000/1001,noise=alls=12:allf=t,trim=end_frame={frames}");
    let mut a = vec!["-f", "lavfi", "-i", &src];
    if audio {
        a.extend(["-f", "lavfi", "-i", "sine=f=330:d=5"]);
    }
    a.extend([
        "-c:v", "libx264", "-g", "7", "-bf", "3", "-pix_fmt", "yuv420p",
    ]);
    if audio {
        a.extend(["-c:a", "aac", "-shortest"]);
    }
    let p = path.to_str().unwrap();
    a.push(p);
    ffmpeg(&a);
}

fn pngs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "png"));
    v.sort();
    v
}

const STYLE_GRAPH: &str = r#"
[[node]]
name = "src"
type = "read"
path = "in.mp4"

[[node]]
name = "paint"
type = "wick.style-transfer"
input = "src"
params = { style = "3" }

[[node]]
name = "out"
type = "write"
input = "paint"
path = "OUT"
"#;

#[test]
fn chunked_renders_of_a_video_read_equal_the_whole_render() {
    let d = scratch("video-chunks");
    clip(&d.join("in.mp4"), 96, 54, 20, false);
    let g = d.join("g.toml");
    // No `frames` or `fps` in the graph: the video's frames 1-20 are the default range.
    std::fs::write(&g, STYLE_GRAPH.replace("OUT", "whole/f.####.png")).unwrap();
    ok(wick().arg("render").arg(&g));
    let whole = pngs(&d.join("whole"));
    assert_eq!(
        whole.len(),
        20,
        "the default range is the video's 20 frames"
    );
    std::fs::write(&g, STYLE_GRAPH.replace("OUT", "parts/f.####.png")).unwrap();
    // Chunks starting between keyframes (GOP 7, B-frames), and out of order.
    for chunk in ["14-20", "1-6", "7-13"] {
        ok(wick().arg("render").arg(&g).args(["--frames", chunk]));
    }
    for f in 1..=20 {
        let name = format!("f.{f:04}.png");
        assert!(
            read(&d.join("whole").join(&name)) == read(&d.join("parts").join(&name)),
            "frame {f}: chunked render differs from the whole render"
        );
    }
    // Single frames alone, backwards.
    std::fs::write(&g, STYLE_GRAPH.replace("OUT", "single/f.####.png")).unwrap();
    for f in [19, 8, 2] {
        ok(wick()
            .arg("render")
            .arg(&g)
            .args(["--frames", &f.to_string()]));
        let name = format!("f.{f:04}.png");
        assert!(
            read(&d.join("whole").join(&name)) == read(&d.join("single").join(&name)),
            "frame {f} alone"
        );
    }
    // Frames beyond the clip hold its ends.
    std::fs::write(&g, STYLE_GRAPH.replace("OUT", "held/f.####.png")).unwrap();
    ok(wick().arg("render").arg(&g).args(["--frames", "25"]));
    assert!(read(&d.join("held/f.0025.png")) == read(&d.join("whole/f.0020.png")));
}

#[test]
fn video_write_and_the_retime_node() {
    let d = scratch("video-write");
    clip(&d.join("in.mp4"), 96, 54, 12, false);
    let g = d.join("g.toml");
    // A video writer: the clip's rate (30000/1001) and its 12 frames by default.
    std::fs::write(&g, STYLE_GRAPH.replace("OUT", "out.mp4")).unwrap();
    ok(wick().arg("render").arg(&g));
    let info = probe(&d.join("out.mp4")).unwrap();
    assert_eq!(info.frames, 12);
    assert_eq!((info.fps_num, info.fps_den), (30000, 1001));
    assert_eq!(info.codec, "h264");

    // The retime node doubles the rate: (12 − 1)·2 + 1 frames at 60000/1001.
    let retimed = STYLE_GRAPH
        .replace("input = \"paint\"\npath", "input = \"slow\"\npath")
        .replace(
            "[[node]]\nname = \"out\"",
            "[[node]]\nname = \"slow\"\ntype = \"retime\"\ninput = \"paint\"\nfactor = 2\n\n[[node]]\nname = \"out\"",
        );
    assert!(retimed.contains("type = \"retime\""));
    std::fs::write(&g, retimed.replace("OUT", "slow.mp4")).unwrap();
    ok(wick().arg("render").arg(&g));
    let info = probe(&d.join("slow.mp4")).unwrap();
    assert_eq!(info.frames, 23);
    assert_eq!((info.fps_num, info.fps_den), (60000, 1001));

    // As PNGs: the retime's odd frames are exactly the style node's frames (a pass-through),
    // its even frames are new in-betweens.
    std::fs::write(&g, retimed.replace("OUT", "slow/f.####.png")).unwrap();
    ok(wick().arg("render").arg(&g).args(["--frames", "1-7"]));
    std::fs::write(&g, STYLE_GRAPH.replace("OUT", "plain/f.####.png")).unwrap();
    ok(wick().arg("render").arg(&g).args(["--frames", "1-4"]));
    for k in 1..=4 {
        let a = read(&d.join(format!("slow/f.{:04}.png", 2 * k - 1)));
        let b = read(&d.join(format!("plain/f.{k:04}.png")));
        assert!(a == b, "retime frame {} is style frame {k}", 2 * k - 1);
    }
    for k in 1..=3 {
        let mid = read(&d.join(format!("slow/f.{:04}.png", 2 * k)));
        assert!(mid != read(&d.join(format!("plain/f.{k:04}.png"))));
        assert!(mid != read(&d.join(format!("plain/f.{:04}.png", k + 1))));
    }

    // ProRes 10-bit MOV with explicit settings, and a 16-bit path through the graph.
    let prores = STYLE_GRAPH.replace(
        "path = \"OUT\"",
        "path = \"out.mov\"\ncodec = \"prores\"\nprofile = \"hq\"\nfps = 25",
    );
    std::fs::write(&g, prores).unwrap();
    ok(wick().arg("render").arg(&g).args(["--frames", "1-5"]));
    let info = probe(&d.join("out.mov")).unwrap();
    assert_eq!((info.frames, info.codec.as_str()), (5, "prores"));
    assert_eq!(info.pix_fmt, "yuv422p10le");
    assert!(info.layout.deep);
    assert_eq!((info.fps_num, info.fps_den), (25, 1));
    // H.265 with a CRF.
    let hevc = STYLE_GRAPH.replace(
        "path = \"OUT\"",
        "path = \"out265.mp4\"\ncodec = \"h265\"\ncrf = 24\npreset = \"fast\"",
    );
    std::fs::write(&g, hevc).unwrap();
    ok(wick().arg("render").arg(&g).args(["--frames", "1-3"]));
    assert_eq!(probe(&d.join("out265.mp4")).unwrap().codec, "hevc");
}

#[test]
fn wick_retime_on_video_copies_the_audio() {
    let d = scratch("video-retime");
    clip(&d.join("in.mp4"), 96, 54, 10, true);
    let s = ok(wick()
        .arg("retime")
        .arg(d.join("in.mp4"))
        .args(["--factor", "2", "--out"])
        .arg(d.join("out.mp4")));
    let info = probe(&d.join("out.mp4")).unwrap();
    assert_eq!(info.frames, 19, "{s}");
    assert_eq!((info.fps_num, info.fps_den), (60000, 1001));
    assert_eq!(info.audio_codec.as_deref(), Some("aac"), "audio copied");
    // Video in, frames out; and frames in, video out.
    ok(wick()
        .arg("retime")
        .arg(d.join("in.mp4"))
        .args(["--factor", "3", "--out"])
        .arg(d.join("seq/r.%04d.png")));
    assert_eq!(pngs(&d.join("seq")).len(), 28);
    // The input frames pass through unchanged (every third output frame).
    let mut dec = wick_video::Decoder::open(&d.join("in.mp4")).unwrap();
    for k in 1..=10usize {
        let rgb = dec.read(k).unwrap();
        let png = image::open(d.join(format!("seq/r.{:04}.png", 3 * k - 2)))
            .unwrap()
            .to_rgb8()
            .into_raw();
        assert!(png == rgb, "output frame {} is input frame {k}", 3 * k - 2);
    }
    ok(wick()
        .arg("retime")
        .arg(d.join("seq/r.%04d.png"))
        .args(["--factor", "2", "--out"])
        .arg(d.join("back.mp4")));
    let info = probe(&d.join("back.mp4")).unwrap();
    assert_eq!(info.frames, 55);
    assert_eq!(
        (info.fps_num, info.fps_den),
        (48, 1),
        "a sequence is 24 fps"
    );
}

#[test]
fn stylize_videos_and_sequences() {
    let d = scratch("video-stylize");
    clip(&d.join("in.mp4"), 96, 54, 8, true);
    let s = ok(wick()
        .current_dir(&d)
        .args([
            "stylize",
            "in.mp4",
            "out.mov",
            "--style",
            "3:0.5,12:0.5",
            "--retime",
            "2",
        ])
        .args([
            "--sheet",
            "sheet.png",
            "--strip",
            "strip.png",
            "--save-graph",
            "g.toml",
        ]));
    let info = probe(&d.join("out.mov")).unwrap();
    assert_eq!((info.frames, info.codec.as_str()), (15, "prores"), "{s}");
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert!(s.contains("ETA"), "progress lines carry an ETA:\n{s}");
    // The sheet: input + 2 styles + the blend; the strip: input, style, in-between, next.
    let sheet = image::open(d.join("sheet.png")).unwrap();
    let strip = image::open(d.join("strip.png")).unwrap();
    assert_eq!(sheet.width(), 4 * (320 + 4) + 4);
    assert_eq!(strip.width(), 4 * (320 + 4) + 4);
    // The saved graph is a `wick render` file giving the same render.
    let g = std::fs::read_to_string(d.join("g.toml")).unwrap();
    assert!(g.contains("type = \"retime\"") && g.contains("wick.style-transfer"));

    // Sequence in, sequence out (numbering kept), and no style node params lost.
    std::fs::create_dir_all(d.join("seq")).unwrap();
    ffmpeg(&[
        "-i",
        d.join("in.mp4").to_str().unwrap(),
        "-start_number",
        "101",
        d.join("seq/f.%04d.png").to_str().unwrap(),
    ]);
    ok(wick()
        .current_dir(&d)
        .args([
            "stylize",
            "seq/f.%04d.png",
            "styled/s.####.png",
            "--style",
            "5",
        ])
        .args(["--param", "strength=0.5", "preserve_color=true"]));
    let out = pngs(&d.join("styled"));
    assert_eq!(out.len(), 8);
    assert!(out[0].ends_with("s.0101.png"), "{:?}", out[0]);

    // --temporal sets the node's `temporal` param, or fails clearly while the node lacks it.
    let nodes: serde_json::Value =
        serde_json::from_str(&ok(wick().args(["nodes", "--json"]))).unwrap();
    let has_temporal = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["id"] == "wick.style-transfer")
        .flat_map(|n| n["params"].as_array().unwrap().iter())
        .any(|p| p["name"] == "temporal");
    let (c, err) = code(wick().current_dir(&d).args([
        "stylize",
        "in.mp4",
        "t.mp4",
        "--temporal",
        "1",
        "--frames",
        "1-3",
    ]));
    if has_temporal {
        assert_eq!(c, 0, "{err}");
        assert_eq!(probe(&d.join("t.mp4")).unwrap().frames, 3);
    } else {
        assert_eq!(c, 2, "{err}");
        assert!(err.contains("temporal"), "{err}");
        assert!(!d.join("t.mp4").exists());
    }
    // Bad arguments: exit 2 before any work.
    for args in [
        vec!["in.mp4", "x.mp4", "--crf", "99"],
        vec!["in.mp4", "x.png"],
        vec!["in.mp4", "x.mp4", "--param", "nosuch=1"],
        vec!["in.mp4", "x.mp4", "--codec", "nosuchcodec"],
        vec!["in.mp4", "y/%04d.png", "--crf", "18"],
    ] {
        let (c, err) = code(wick().current_dir(&d).arg("stylize").args(&args));
        assert_eq!(c, 2, "{args:?}: {err}");
        assert!(!d.join("x.mp4").exists());
    }
}

#[test]
fn broken_videos_and_bad_write_settings_are_clear_errors() {
    let d = scratch("video-broken");
    let good = d.join("good.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=128x96:r=25:d=2,noise=alls=30:allf=t",
        "-c:v",
        "libx264",
        "-movflags",
        "+faststart",
        good.to_str().unwrap(),
    ]);
    let bytes = read(&good);
    std::fs::write(d.join("in.mp4"), &bytes[..bytes.len() / 2]).unwrap();
    let g = d.join("g.toml");
    std::fs::write(&g, STYLE_GRAPH.replace("OUT", "out.mp4")).unwrap();
    let (c, err) = code(wick().arg("render").arg(&g));
    assert_eq!(c, 4, "{err}");
    assert!(err.contains("in.mp4") && err.contains("truncated"), "{err}");
    let (c, err) = code(
        wick()
            .current_dir(&d)
            .args(["stylize", "in.mp4", "out2.mp4"]),
    );
    assert_eq!(c, 4, "{err}");
    assert!(err.contains("in.mp4"), "{err}");
    std::fs::write(d.join("in.mp4"), b"not a video at all").unwrap();
    let (c, err) = code(wick().arg("render").arg(&g));
    assert_eq!(c, 4, "{err}");
    assert!(err.contains("in.mp4"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("out"))
        .collect();
    assert!(left.is_empty(), "nothing written: {left:?}");

    // A good video; bad writer settings fail before rendering (exit 2), with the reason.
    std::fs::copy(&good, d.join("in.mp4")).unwrap();
    for (setting, why) in [
        ("codec = \"nosuchcodec\"", "nosuchcodec"),
        ("codec = \"prores\"\ncrf = 10", "crf"),
        ("depth = 16", "pix_fmt"),
        ("fps = -1", "fps"),
    ] {
        let text = STYLE_GRAPH.replace("path = \"OUT\"", &format!("path = \"out.mp4\"\n{setting}"));
        std::fs::write(&g, text).unwrap();
        let (c, err) = code(wick().arg("render").arg(&g));
        assert_eq!(c, 2, "{setting}: {err}");
        assert!(err.contains(why), "{setting}: {err}");
    }
    // Video settings on an image writer are refused too.
    let text = STYLE_GRAPH.replace("path = \"OUT\"", "path = \"f.####.png\"\ncrf = 18");
    std::fs::write(&g, text).unwrap();
    let (c, err) = code(wick().arg("render").arg(&g));
    assert_eq!(c, 2, "{err}");
    // A video is written in increasing frame order.
    std::fs::write(&g, STYLE_GRAPH.replace("OUT", "out.mp4")).unwrap();
    let (c, err) = code(wick().arg("render").arg(&g).args(["--frames", "5,3"]));
    assert_eq!(c, 2, "{err}");
    assert!(!d.join("out.mp4").exists());
}

#[test]
fn a_long_video_streams_through_one_decoder_with_bounded_memory() {
    let d = scratch("video-stream");
    clip(&d.join("in.mp4"), 32, 32, 150, false);
    let a = artifacts();
    let plugin = wick_host_sdk::Plugin::load(&a.plugin).unwrap();
    // read -> style -> retime x2 -> video, and the style also to a second video.
    let text = STYLE_GRAPH.replace("OUT", "out.mp4").replace(
        "[[node]]\nname = \"out\"",
        "[[node]]\nname = \"slow\"\ntype = \"retime\"\ninput = \"paint\"\nfactor = 2\nparams = { scale = 0.5 }\n\n[[node]]\nname = \"out2\"\ntype = \"write\"\ninput = \"slow\"\npath = \"slow.mp4\"\n\n[[node]]\nname = \"out\"",
    );
    let graph = wick_cli::graph::Graph::parse(&text, d.clone(), &plugin).unwrap();
    assert_eq!(graph.frames.as_deref(), Some("1-299"), "the retimed range");
    let mut r = wick_cli::graph::Renderer::new(graph, &plugin).unwrap();
    let mut most = 0;
    for f in 1..=299 {
        r.render_frame(f, &mut |_, _| false).unwrap();
        most = most.max(r.cached_frames());
    }
    r.finish().unwrap();
    // The style writer asks for frame f, the retime for f/2: two streams, each sequential.
    assert_eq!(r.decoder_starts(), vec![("src".to_string(), 2)]);
    // What two consecutive frames use is cached, never the clip.
    assert!(most <= 16, "at most {most} frames cached");
    assert_eq!(probe(&d.join("slow.mp4")).unwrap().frames, 299);
    assert_eq!(probe(&d.join("out.mp4")).unwrap().frames, 299);

    // One writer reading sequentially: exactly one decoder for the whole clip.
    let graph =
        wick_cli::graph::Graph::parse(&STYLE_GRAPH.replace("OUT", "one.mp4"), d.clone(), &plugin)
            .unwrap();
    let mut r = wick_cli::graph::Renderer::new(graph, &plugin).unwrap();
    for f in 1..=150 {
        r.render_frame(f, &mut |_, _| false).unwrap();
    }
    r.finish().unwrap();
    assert_eq!(r.decoder_starts(), vec![("src".to_string(), 1)]);

    // A temporal window (source@-1 ... @-11) under a 2x retime: the graph's cache drops the
    // window's frames between the stylised frames, the video source keeps enough of them, so
    // the decoders still stream (each stylised frame had restarted one, 3x the main job's time).
    let text = STYLE_GRAPH
        .replace("OUT", "temporal.mp4")
        .replace(r#"style = "3""#, r#"style = "3", temporal = 1.0"#)
        .replace(
            "[[node]]\nname = \"out\"\ntype = \"write\"\ninput = \"paint\"",
            "[[node]]\nname = \"slow\"\ntype = \"retime\"\ninput = \"paint\"\nfactor = 2\nparams = { scale = 0.5 }\n\n[[node]]\nname = \"out\"\ntype = \"write\"\ninput = \"slow\"",
        );
    assert!(text.contains("temporal = 1.0") && text.contains("input = \"slow\""));
    let graph = wick_cli::graph::Graph::parse(&text, d.clone(), &plugin).unwrap();
    let mut r = wick_cli::graph::Renderer::new(graph, &plugin).unwrap();
    for f in 1..=79 {
        r.render_frame(f, &mut |_, _| false).unwrap();
    }
    r.finish().unwrap();
    let starts = r.decoder_starts();
    assert!(starts[0].1 <= 2, "decoder starts {starts:?}");
}

#[test]
fn train_reads_video_files_as_frame_sources() {
    let d = scratch("video-train");
    let e = wick_tests::repo_root().join("examples");
    // The bundled frames as PNGs (FFmpeg's decode of the JPEGs) and as a lossless video of
    // exactly those pixels: training on either must be the same run, bit for bit.
    std::fs::create_dir_all(d.join("seq")).unwrap();
    ffmpeg(&[
        "-i",
        e.join("style-bikes/bikes.%04d.jpg").to_str().unwrap(),
        "-pix_fmt",
        "rgb24",
        d.join("seq/in.%04d.png").to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        d.join("seq/in.%04d.png").to_str().unwrap(),
        "-c:v",
        "ffv1",
        "-pix_fmt",
        "bgr0",
        d.join("in.mkv").to_str().unwrap(),
    ]);
    let config = |input: &Path, out: &str| {
        let text = format!(
            "mode = \"pairs\"\ninput = \"{}\"\ntarget = \"{}\"\nout = \"{}\"\nsteps = 2\n\
             crop = 32\nbatch = 2\nseed = 3\ndevice = \"cpu\"\nwidth = 64\nheight = 32\n",
            input.display(),
            e.join("train-pairs/graded.%04d.jpg").display(),
            d.join(out).display()
        );
        let p = d.join(format!("{out}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    };
    ok(wick()
        .arg("train")
        .arg(config(&d.join("seq/in.%04d.png"), "from-png"))
        .arg("--preview")
        .arg(d.join("png-preview.png")));
    ok(wick()
        .arg("train")
        .arg(config(&d.join("in.mkv"), "from-video"))
        .arg("--preview")
        .arg(d.join("video-preview.png")));
    assert!(
        read(&d.join("from-png/model.safetensors"))
            == read(&d.join("from-video/model.safetensors")),
        "training on the video's frames equals training on the same frames as files"
    );
    assert!(read(&d.join("png-preview.png")) == read(&d.join("video-preview.png")));
    // A truncated video input is a clear error naming it.
    let bytes = read(&d.join("in.mkv"));
    std::fs::write(d.join("cut.mkv"), &bytes[..bytes.len() / 3]).unwrap();
    let (c, err) = code(wick().arg("train").arg(config(&d.join("cut.mkv"), "cut")));
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("cut.mkv"), "{err}");
}

#[test]
fn ctrl_c_during_a_video_render_leaves_no_partial_video() {
    let d = scratch("video-sigint");
    clip(&d.join("in.mp4"), 96, 54, 200, false);
    let mut child = wick()
        .current_dir(&d)
        .args(["stylize", "in.mp4", "out.mp4", "--style", "3"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the second frame's log line, then SIGINT.
    let mut err = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("(2/200)") {
        use std::io::Read;
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "wick ended early:\n{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    let left: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "in.mp4")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn stylize_decides_scene_cuts_on_the_input_not_the_stylised_frames() {
    let d = scratch("video-cuts");
    // Two shots of 6 frames: a moving test card, then a fractal.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=96x54:r=25,trim=end_frame=6",
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=s=96x54:r=25,trim=end_frame=6",
        "-filter_complex",
        "[0][1]concat=n=2:v=1,format=yuv420p",
        "-c:v",
        "libx264",
        d.join("in.mp4").to_str().unwrap(),
    ]);
    let s = ok(wick()
        .current_dir(&d)
        .args([
            "stylize",
            "in.mp4",
            "out/f.%04d.png",
            "--style",
            "19",
            "--retime",
            "2",
        ])
        .args(["--save-graph", "g.toml"]));
    // Output 12 is the in-between of input frames 6 and 7 at t = 0.5: held (b, frame 13),
    // not morphed.
    assert!(
        s.contains("scene cut at frame 12") && s.contains("decided on the guide"),
        "{s}"
    );
    assert_eq!(s.matches("scene cut at frame").count(), 1, "{s}");
    assert!(read(&d.join("out/f.0012.png")) == read(&d.join("out/f.0013.png")));
    assert!(read(&d.join("out/f.0012.png")) != read(&d.join("out/f.0011.png")));
    // Factor 4 with cuts dissolved: the three in-betweens are cross-fades of 6 and 7.
    ok(wick()
        .current_dir(&d)
        .args([
            "stylize",
            "in.mp4",
            "four/f.%04d.png",
            "--style",
            "19",
            "--retime",
            "4",
        ])
        .args(["--param", "interpolate.cuts=dissolve", "--frames", "21-25"]));
    let px = |f: u32| {
        image::open(d.join(format!("four/f.{f:04}.png")))
            .unwrap()
            .to_rgb8()
    };
    let (a, b, mid) = (px(21), px(25), px(23));
    let err: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .zip(mid.as_raw())
        .map(|((x, y), m)| ((*x as f64 + *y as f64) / 2.0 - *m as f64).abs())
        .sum::<f64>()
        / a.as_raw().len() as f64;
    assert!(
        err < 1.0,
        "the middle in-between is the average of its ends ({err})"
    );
    let g = std::fs::read_to_string(d.join("g.toml")).unwrap();
    assert!(g.contains("cuts_from = \"src\""), "{g}");
}
