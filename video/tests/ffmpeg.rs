//! wick-video against the installed FFmpeg (scripts/setup.sh installs it): tiny generated clips
//! in several containers and codecs.

use std::path::{Path, PathBuf};
use std::process::Command;

use wick_video::{probe, AudioSource, Decoder, EncodeSettings, Encoder, Layout};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wick-video-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

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

/// A moving, noisy 30-frame test clip (every frame differs).
fn make(path: &Path, codec_args: &[&str]) {
    let mut a = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=25:d=1.2,noise=alls=20:allf=t",
    ];
    a.extend_from_slice(codec_args);
    a.push(path.to_str().unwrap());
    ffmpeg(&a);
}

fn all_frames(path: &Path) -> Vec<Vec<u8>> {
    let mut d = Decoder::open(path).unwrap();
    let n = d.info().frames;
    let v: Vec<Vec<u8>> = (1..=n).map(|k| d.read(k).unwrap()).collect();
    assert_eq!(d.starts(), 1, "a sequential read runs one ffmpeg");
    v
}

#[test]
fn random_access_equals_sequential_in_every_container() {
    let d = scratch("seek");
    let clips: Vec<(&str, Vec<&str>)> = vec![
        // B-frames (pyramid), short GOPs: reordering and keyframe seeks.
        (
            "h264.mp4",
            vec![
                "-c:v", "libx264", "-g", "7", "-bf", "3", "-pix_fmt", "yuv420p",
            ],
        ),
        (
            "h265.mkv",
            vec![
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error:keyint=8",
                "-pix_fmt",
                "yuv420p",
            ],
        ),
        ("prores.mov", vec!["-c:v", "prores_ks", "-profile:v", "3"]),
        (
            "vp9.webm",
            vec!["-c:v", "libvpx-vp9", "-g", "9", "-deadline", "realtime"],
        ),
        ("mpeg4.avi", vec!["-c:v", "mpeg4", "-g", "6", "-bf", "2"]),
    ];
    for (name, args) in &clips {
        let p = d.join(name);
        make(&p, args);
        let info = probe(&p).unwrap();
        assert_eq!(info.frames, 30, "{name}: frame count");
        assert_eq!((info.width, info.height), (64, 48), "{name}");
        assert!(
            (info.fps() - 25.0).abs() < 1e-9,
            "{name}: fps {}",
            info.fps()
        );
        let seq = all_frames(&p);
        assert_eq!(seq.len(), 30);
        for w in seq.windows(2) {
            assert_ne!(w[0], w[1], "{name}: consecutive frames differ");
        }
        // Backwards, jumps, and every frame alone in a fresh decoder.
        let mut dec = Decoder::open(&p).unwrap();
        for n in [30usize, 1, 17, 16, 9, 29, 2, 23] {
            assert!(
                dec.read(n).unwrap() == seq[n - 1],
                "{name}: frame {n} after seeks"
            );
        }
        for n in (1..=30).step_by(2) {
            let mut fresh = Decoder::with_info(&p, info.clone(), info.layout);
            assert!(
                fresh.read(n).unwrap() == seq[n - 1],
                "{name}: frame {n} alone"
            );
        }
        let e = dec.read(31).unwrap_err();
        assert!(e.msg.contains("outside"), "{e}");
    }
}

#[test]
fn audio_starting_before_the_video_does_not_shift_frames() {
    let d = scratch("offset");
    let p = d.join("offset.mp4");
    // Video delayed by 0.3 s against an audio track: the file's start time is the audio's.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=300:d=2",
        "-itsoffset",
        "0.3",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=25:d=1.2,noise=alls=20:allf=t",
        "-map",
        "1:v",
        "-map",
        "0:a",
        "-c:v",
        "libx264",
        "-g",
        "5",
        "-c:a",
        "aac",
        p.to_str().unwrap(),
    ]);
    let info = probe(&p).unwrap();
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    let seq = all_frames(&p);
    for n in [12usize, 3, 30, 7] {
        let mut fresh = Decoder::open(&p).unwrap();
        assert!(fresh.read(n).unwrap() == seq[n - 1], "frame {n}");
    }
}

fn gradient(w: u32, h: u32, k: u32, layout: Layout) -> Vec<u8> {
    let mut v = Vec::new();
    for y in 0..h {
        for x in 0..w {
            // Smooth (chroma subsampling costs little), moving with k.
            let (u, q) = (x as f64 / w as f64, y as f64 / h as f64);
            let vals = [
                0.1 + 0.8 * u,
                0.2 + 0.6 * q,
                0.5 + 0.4 * ((u + q) * 3.0 + k as f64 * 0.3).sin(),
                1.0,
            ];
            for c in vals.iter().take(layout.channels()) {
                if layout.deep {
                    v.extend(((c * 65535.0).round() as u16).to_ne_bytes());
                } else {
                    v.push((c * 255.0).round() as u8);
                }
            }
        }
    }
    v
}

fn mean_abs(a: &[u8], b: &[u8], deep: bool) -> f64 {
    if deep {
        let s: f64 = a
            .chunks_exact(2)
            .zip(b.chunks_exact(2))
            .map(|(x, y)| {
                (u16::from_ne_bytes([x[0], x[1]]) as f64 - u16::from_ne_bytes([y[0], y[1]]) as f64)
                    .abs()
            })
            .sum();
        s / (a.len() / 2) as f64 / 257.0
    } else {
        let s: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).abs())
            .sum();
        s / a.len() as f64
    }
}

#[test]
fn encode_round_trips_h264_h265_prores_and_odd_sizes() {
    let d = scratch("enc");
    let cases: Vec<(&str, EncodeSettings, u32, u32, bool, f64)> = vec![
        (
            "a.mp4",
            EncodeSettings {
                fps: 24.0,
                ..Default::default()
            },
            64,
            48,
            false,
            2.5,
        ),
        (
            "b.mp4",
            EncodeSettings {
                fps: 30000.0 / 1001.0,
                codec: Some("h265".into()),
                crf: Some(18.0),
                preset: Some("fast".into()),
                ..Default::default()
            },
            64,
            48,
            false,
            2.5,
        ),
        (
            "c.mov",
            EncodeSettings {
                fps: 25.0,
                ..Default::default()
            },
            64,
            48,
            true,
            0.35,
        ),
        (
            "odd.mp4",
            EncodeSettings {
                fps: 25.0,
                ..Default::default()
            },
            33,
            21,
            false,
            3.0,
        ),
    ];
    for (name, s, w, h, deep, tol) in cases {
        let p = d.join(name);
        let plan = wick_video::plan(&p, &s).unwrap();
        assert_eq!(plan.layout.deep, deep, "{name}: layout {:?}", plan.layout);
        let mut e = Encoder::start(&p, &s, w, h, Some(10)).unwrap();
        let frames: Vec<Vec<u8>> = (0..10).map(|k| gradient(w, h, k, e.layout())).collect();
        for f in &frames {
            e.write(f).unwrap();
        }
        assert!(
            !p.exists(),
            "{name}: nothing at the final path before finish"
        );
        e.finish().unwrap();
        let info = probe(&p).unwrap();
        assert_eq!(info.frames, 10, "{name}");
        assert!(
            (info.fps() - s.fps).abs() < 1e-6,
            "{name}: fps {}",
            info.fps()
        );
        assert_eq!((info.width, info.height), (w + w % 2, h + h % 2), "{name}");
        let mut dec = Decoder::open_as(&p, plan.layout).unwrap();
        for (k, f) in frames.iter().enumerate() {
            let got = dec.read(k + 1).unwrap();
            // Compare the written area (odd sizes are padded by repeating the edge).
            let (ow, ch, bs) = (
                info.width as usize,
                plan.layout.channels(),
                plan.layout.bytes_per_sample(),
            );
            let mut crop = Vec::new();
            for y in 0..h as usize {
                crop.extend_from_slice(&got[(y * ow) * ch * bs..(y * ow + w as usize) * ch * bs]);
            }
            let m = mean_abs(&crop, f, deep);
            if k == 0 {
                eprintln!("{name}: mean abs error {m:.3}/255 (tolerance {tol})");
            }
            assert!(m < tol, "{name}: frame {} mean abs error {m:.2}/255", k + 1);
        }
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("wick-tmp"))
            .collect();
        assert!(left.is_empty(), "{name}: temp files left");
    }
}

#[test]
fn audio_is_copied_from_a_named_source() {
    let d = scratch("audio");
    let src = d.join("src.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=25:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=2",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-shortest",
        src.to_str().unwrap(),
    ]);
    let out = d.join("out.mp4");
    let s = EncodeSettings {
        fps: 25.0,
        audio: Some(AudioSource {
            path: src.clone(),
            start: 0.4,
        }),
        ..Default::default()
    };
    let mut e = Encoder::start(&out, &s, 64, 48, Some(25)).unwrap();
    for k in 0..25 {
        e.write(&gradient(64, 48, k, e.layout())).unwrap();
    }
    e.finish().unwrap();
    let info = probe(&out).unwrap();
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!(info.frames, 25);
    // The audio is cut to the video's length (1 s), not the source's 2 s minus 0.4.
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let dur: f64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!((dur - 1.0).abs() < 0.1, "audio duration {dur}");
    // A source without audio is a clear error.
    let silent = d.join("silent.mp4");
    make(&silent, &["-c:v", "libx264"]);
    let s = EncodeSettings {
        fps: 25.0,
        audio: Some(AudioSource {
            path: silent.clone(),
            start: 0.0,
        }),
        ..Default::default()
    };
    let e = Encoder::start(&d.join("x.mp4"), &s, 64, 48, None)
        .err()
        .expect("no audio");
    assert!(e.msg.contains("no audio"), "{e}");
}

#[test]
fn broken_and_truncated_videos_are_clear_errors() {
    let d = scratch("broken");
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
    let bytes = std::fs::read(&good).unwrap();
    // Cut in half (index at the front, data missing), and cut before its index (moov at the end).
    let trunc = d.join("trunc.mp4");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    for b in &mut damaged[mid..mid + 3000] {
        *b = b.wrapping_mul(7).wrapping_add(13);
    }
    let bad = d.join("damaged.mp4");
    std::fs::write(&bad, &damaged).unwrap();
    let text = d.join("notes.mp4");
    std::fs::write(&text, b"this is not a video").unwrap();
    let empty = d.join("empty.mov");
    std::fs::write(&empty, b"").unwrap();
    for p in [&trunc, &bad, &text, &empty, &d.join("missing.mp4")] {
        let e = Decoder::open(p)
            .err()
            .unwrap_or_else(|| panic!("{} opened", p.display()));
        assert_eq!(e.path, *p);
        let s = e.to_string();
        assert!(s.contains(p.to_str().unwrap()), "{s}");
        eprintln!("{s}");
    }
}

#[test]
fn encoder_failures_leave_no_file() {
    let d = scratch("encfail");
    let p = d.join("out.mp4");
    // Unknown encoder, crf on ProRes, bad profile: refused before anything starts.
    for s in [
        EncodeSettings {
            fps: 24.0,
            codec: Some("nosuchcodec".into()),
            ..Default::default()
        },
        EncodeSettings {
            fps: 24.0,
            codec: Some("prores".into()),
            crf: Some(10.0),
            ..Default::default()
        },
        EncodeSettings {
            fps: 24.0,
            codec: Some("prores".into()),
            profile: Some("ultra".into()),
            ..Default::default()
        },
        EncodeSettings {
            fps: 0.0,
            ..Default::default()
        },
    ] {
        let e = Encoder::start(&p, &s, 64, 48, None).err().expect("refused");
        eprintln!("{e}");
    }
    // A bad extra option makes ffmpeg fail: the error carries its message, no file is left.
    let s = EncodeSettings {
        fps: 24.0,
        args: vec!["-nosuchoption".into(), "1".into()],
        ..Default::default()
    };
    let r = Encoder::start(&p, &s, 64, 48, None).and_then(|mut e| {
        for k in 0..50 {
            e.write(&gradient(64, 48, k, e.layout()))?;
        }
        e.finish()
    });
    let e = r.expect_err("ffmpeg refuses the option");
    assert!(e.msg.contains("nosuchoption"), "{e}");
    // Dropped unfinished: no file, no temp.
    {
        let mut e = Encoder::start(
            &p,
            &EncodeSettings {
                fps: 24.0,
                ..Default::default()
            },
            64,
            48,
            None,
        )
        .unwrap();
        e.write(&gradient(64, 48, 0, e.layout())).unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}
