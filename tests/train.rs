//! `wick.train` and `wick train` end to end at tiny sizes: the loss falls and the model loads in
//! `wick.style-transfer` / `wick.generate`; cancel (progress callback, SIGINT) and SIGKILL leave
//! a loadable checkpoint; a resumed run equals an uninterrupted one bit for bit on the CPU; bad
//! data, configs, checkpoints and weights are clear errors with the documented exit codes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wick_host_sdk::{ffi, Frame, ParamValue, Plugin};
use wick_tests::{artifacts, repo_root, scratch, wick};
use wick_tests::{run_ok as ok, run_output as run};

/// PSNR of two 8-bit RGB images of one size (`wick_common::testing::psnr_u8`).
fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    wick_common::testing::psnr_u8(a.as_raw(), b.as_raw())
}

fn examples() -> PathBuf {
    repo_root().join("examples")
}

/// A pairs config on the bundled bikes frames at a tiny size, everything else from `extra`.
fn pairs_config(dir: &Path, extra: &str) -> PathBuf {
    let e = examples();
    let text = format!(
        "mode = \"pairs\"\ninput = \"{}\"\ntarget = \"{}\"\nout = \"{}\"\n\
         crop = 32\nbatch = 2\nlr = 0.003\nseed = 3\ndevice = \"cpu\"\n\
         width = 160\nheight = 68\n{extra}\n",
        e.join("style-bikes/bikes.%04d.jpg").display(),
        e.join("train-pairs/graded.%04d.jpg").display(),
        dir.join("out").display(),
    );
    let p = dir.join("train.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn csv_losses(p: &Path) -> Vec<f32> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

fn rgb(p: &Path) -> image::RgbImage {
    image::open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_rgb8()
}

/// Tensors of a safetensors file as raw bytes by name.
fn tensors(p: &Path) -> HashMap<String, Vec<u8>> {
    let bytes = std::fs::read(p).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec()))
        .collect()
}

/// `train.step` of a checkpoint (a u64 as four f32 16-bit chunks).
fn ckpt_step(p: &Path) -> u64 {
    let t = tensors(p);
    let b = &t["train.step"];
    b.chunks_exact(4)
        .enumerate()
        .map(|(i, c)| (f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64) << (16 * i))
        .sum()
}

#[test]
fn pairs_loss_falls_and_model_grades_a_held_out_frame_in_style_transfer() {
    let d = scratch("train-pairs");
    let cfg = pairs_config(&d, "steps = 40\ncheckpoint_every = 10\nsheet_every = 20");
    let s = ok(wick()
        .args(["train"])
        .arg(&cfg)
        .arg("--preview")
        .arg(d.join("preview.png")));
    assert!(s.contains("step 40/40"), "{s}");
    let out = d.join("out");
    let losses = csv_losses(&out.join("losses.csv"));
    assert_eq!(losses.len(), 40);
    let (first, last) = (mean(&losses[..8]), mean(&losses[32..]));
    println!("pairs loss {first:.4} -> {last:.4}");
    assert!(last < 0.7 * first, "loss did not fall: {first} -> {last}");
    for f in [
        "loss.png",
        "sheet_000020.png",
        "sheet_000040.png",
        "preview.png",
    ] {
        let p = if f == "preview.png" {
            d.join(f)
        } else {
            out.join(f)
        };
        assert!(rgb(&p).width() > 0, "{f}");
    }
    assert_eq!(rgb(&d.join("preview.png")).dimensions(), (160, 68));
    // The model, loaded by wick.style-transfer, moves the held-out frame 12 towards its target.
    let e = examples();
    ok(wick()
        .args(["run", "wick.style-transfer", "--in"])
        .arg(e.join("style-bikes/bikes.0012.jpg"))
        .arg("--param")
        .arg(format!("model={}", out.join("model.safetensors").display()))
        .args(["device=cpu", "--out"])
        .arg(d.join("graded.png")));
    let target = rgb(&e.join("train-pairs/graded.0012.jpg"));
    let base = psnr(&rgb(&e.join("style-bikes/bikes.0012.jpg")), &target);
    let ours = psnr(&rgb(&d.join("graded.png")), &target);
    println!("held-out frame 12 vs target: input {base:.2} dB, model {ours:.2} dB");
    assert!(ours > base + 1.0, "{base} -> {ours}");
    // A finished run with the same settings only previews (no new steps).
    let s = ok(wick().args(["train"]).arg(&cfg));
    assert!(!s.contains("step 1/"), "{s}");
}

/// Params of the SDK-level runs.
fn sdk_params(out: &Path) -> Vec<(&'static str, ParamValue)> {
    let e = examples();
    let s = |p: PathBuf| ParamValue::Str(p.to_string_lossy().into_owned());
    vec![
        ("mode", ParamValue::Str("pairs".into())),
        ("input", s(e.join("style-bikes/bikes.%04d.jpg"))),
        ("target", s(e.join("train-pairs/graded.%04d.jpg"))),
        ("out", s(out.to_path_buf())),
        ("steps", ParamValue::Int(8)),
        ("crop", ParamValue::Int(32)),
        ("batch", ParamValue::Int(2)),
        ("seed", ParamValue::Int(7)),
        ("checkpoint_every", ParamValue::Int(3)),
        ("sheet_every", ParamValue::Int(0)),
        ("device", ParamValue::Str("cpu".into())),
    ]
}

fn sdk_train(
    plugin: &Plugin,
    out: &Path,
    cancel_at: Option<&str>,
) -> (Result<(), wick_host_sdk::HostError>, Frame, Vec<String>) {
    let mut inst = plugin.instance("wick.train").unwrap();
    for (k, v) in sdk_params(out) {
        inst.set_param(k, &v).unwrap();
    }
    let mut outs = vec![Frame::new(
        64,
        32,
        wick_host_sdk::Sample::F32,
        4,
        false,
        false,
    )];
    let mut msgs = Vec::new();
    let mut cb = |_f: f64, m: &str| {
        msgs.push(m.to_string());
        cancel_at.map(|c| m.starts_with(c)).unwrap_or(false)
    };
    let r = inst.process(0.0, 0, &[None], &mut outs, Some(&mut cb));
    (r, outs.pop().unwrap(), msgs)
}

#[test]
fn cancel_via_progress_keeps_checkpoint_and_resume_equals_uninterrupted() {
    let d = scratch("train-resume");
    let plugin = Plugin::load(&artifacts().plugin).expect("load plugin");
    let info = plugin.node("wick.train").unwrap();
    assert!(info.long_running && info.cancellable);
    let (a, b) = (d.join("a"), d.join("b"));
    // Cancel from the progress callback after step 5 is reported.
    let (r, _, msgs) = sdk_train(&plugin, &a, Some("step 5/8"));
    let e = r.expect_err("cancel must stop the run");
    assert_eq!(e.status(), Some(ffi::WICK_ERR_CANCELLED), "{e}");
    assert!(msgs.iter().any(|m| m.contains("loss") && m.contains("eta")));
    assert_eq!(ckpt_step(&a.join("checkpoint.safetensors")), 5);
    // The checkpoint is a loadable model on its own.
    ok(wick()
        .args(["run", "wick.style-transfer", "--in"])
        .arg(examples().join("style-bikes/bikes.0001.jpg"))
        .arg("--param")
        .arg(format!(
            "model={}",
            a.join("checkpoint.safetensors").display()
        ))
        .args(["device=cpu", "--out"])
        .arg(d.join("ck.png")));
    // Resume (a new instance, as a new host session would) and finish.
    let (r, pa, msgs) = sdk_train(&plugin, &a, None);
    r.unwrap();
    assert!(
        msgs.iter().any(|m| m.contains("resumed at step 5/8")),
        "{msgs:?}"
    );
    // Uninterrupted run.
    let (r, pb, _) = sdk_train(&plugin, &b, None);
    r.unwrap();
    let (ta, tb) = (
        tensors(&a.join("model.safetensors")),
        tensors(&b.join("model.safetensors")),
    );
    assert_eq!(ta.len(), tb.len());
    for (k, v) in &ta {
        assert!(
            tb[k] == *v,
            "tensor {k} differs between resumed and uninterrupted runs"
        );
    }
    assert_eq!(
        std::fs::read_to_string(a.join("losses.csv")).unwrap(),
        std::fs::read_to_string(b.join("losses.csv")).unwrap()
    );
    assert_eq!(pa.data, pb.data, "preview frames differ");
    assert!(
        tensors(&a.join("checkpoint.safetensors")) == tensors(&b.join("checkpoint.safetensors"))
    );
    // With a frame on the `preview` input, the finished run's output is the model applied to it:
    // the same pixels wick.style-transfer gives with the written model.
    let src = wick_cli::validate::test_frame(64, 32);
    let mut inst = plugin.instance("wick.train").unwrap();
    for (k, v) in sdk_params(&a) {
        inst.set_param(k, &v).unwrap();
    }
    let mut via_train = vec![src.like()];
    inst.process(0.0, 0, &[Some(&src)], &mut via_train, None)
        .unwrap();
    let mut st = plugin.instance("wick.style-transfer").unwrap();
    st.set_param_text("model", &a.join("model.safetensors").to_string_lossy())
        .unwrap();
    st.set_param_text("device", "cpu").unwrap();
    let mut via_st = vec![src.like()];
    st.process(0.0, 0, &[Some(&src), None], &mut via_st, None)
        .unwrap();
    assert_eq!(via_train[0].data, via_st[0].data);
    assert_ne!(via_train[0].data, src.data, "the model changed nothing");
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

#[test]
fn sigint_and_sigkill_leave_a_loadable_checkpoint_and_rerun_resumes() {
    let d = scratch("train-sigint");
    let cfg = pairs_config(&d, "steps = 100000\ncheckpoint_every = 1\nsheet_every = 0");
    let ck = d.join("out/checkpoint.safetensors");
    let child = wick()
        .args(["train"])
        .arg(&cfg)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a first checkpoint", Duration::from_secs(120), || {
        ck.exists()
    });
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("checkpoint kept"), "{err}");
    let n = ckpt_step(&ck);
    assert!(n >= 1);
    // Rerun: resumes at the checkpoint and finishes two steps later.
    let s = ok(wick()
        .args(["train"])
        .arg(&cfg)
        .args(["--param", &format!("steps={}", n + 2)]));
    assert!(s.contains(&format!("resumed at step {n}/")), "{s}");
    assert_eq!(ckpt_step(&ck), n + 2);
    // SIGKILL at an arbitrary moment while checkpoints are being written every step: the
    // checkpoint under the final name is always complete.
    let mut child = wick()
        .args(["train"])
        .arg(&cfg)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("more checkpoints", Duration::from_secs(120), || {
        std::fs::read(&ck)
            .ok()
            .and_then(|b| safetensors::SafeTensors::deserialize(&b).ok().map(|_| ()))
            .is_some()
            && ckpt_step(&ck) >= n + 4
    });
    std::thread::sleep(Duration::from_millis(137));
    signal(child.id(), "-KILL");
    child.wait().unwrap();
    let m = ckpt_step(&ck);
    assert!(m >= n + 4);
    let s = ok(wick()
        .args(["train"])
        .arg(&cfg)
        .args(["--param", &format!("steps={}", m + 1)]));
    assert!(s.contains(&format!("resumed at step {m}/")), "{s}");
}

#[test]
fn generator_and_vae_models_load_in_generate_and_style_models_in_style_transfer() {
    let d = scratch("train-gen");
    let e = examples();
    for mode in ["generator", "vae"] {
        let out = d.join(mode);
        let cfg = d.join(format!("{mode}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "mode = \"{mode}\"\ninput = \"{}\"\nout = \"{}\"\nsteps = 4\nbatch = 4\n\
                 crop = 32\ngen_width = 8\nlatent = 16\ndevice = \"cpu\"\nwidth = 64\nheight = 64\n",
                e.join("style-bikes").display(),
                out.display()
            ),
        )
        .unwrap();
        ok(wick()
            .args(["train"])
            .arg(&cfg)
            .arg("--preview")
            .arg(d.join(format!("{mode}-sheet.png"))));
        assert!(out.join("sheet_000004.png").exists());
        let png = d.join(format!("{mode}.png"));
        ok(wick()
            .args(["run", "wick.generate", "--out"])
            .arg(&png)
            .arg("--param")
            .arg(format!("model={}", out.join("model.safetensors").display()))
            .args(["width=48", "height=40", "seed=3", "device=cpu"]));
        let img = rgb(&png);
        assert_eq!(img.dimensions(), (48, 40));
        let px = img.as_raw();
        assert!(px.iter().any(|&v| v != px[0]), "{mode}: constant output");
    }
    // Style mode: a few steps, then the model runs in wick.style-transfer.
    let out = d.join("style");
    let cfg = d.join("style.toml");
    std::fs::write(
        &cfg,
        format!(
            "mode = \"style\"\ninput = \"{}\"\nstyle = \"{}\"\nout = \"{}\"\nsteps = 3\n\
             batch = 1\ncrop = 32\nstyle_size = 64\ndevice = \"cpu\"\n",
            e.join("style-bikes").display(),
            repo_root()
                .join("models/tests/fixtures/style/starry_night.png")
                .display(),
            out.display()
        ),
    )
    .unwrap();
    let s = ok(wick().args(["train"]).arg(&cfg));
    assert!(s.contains("style"), "{s}");
    ok(wick()
        .args(["run", "wick.style-transfer", "--in"])
        .arg(e.join("style-bikes/bikes.0002.jpg"))
        .arg("--param")
        .arg(format!("model={}", out.join("model.safetensors").display()))
        .args(["device=cpu", "--out"])
        .arg(d.join("styled.png")));
}

#[test]
fn bad_data_configs_checkpoints_and_weights_are_clear_errors() {
    let d = scratch("train-bad");
    let e = examples();
    let cfg = pairs_config(&d, "steps = 2\ncheckpoint_every = 1");
    let train = |extra: &[&str]| run(wick().args(["train"]).arg(&cfg).args(extra));
    let expect = |extra: &[&str], code: i32, text: &str| {
        let (c, s) = train(extra);
        assert_eq!(c, code, "{extra:?}:\n{s}");
        assert!(s.contains(text), "{extra:?}: expected '{text}' in:\n{s}");
        assert!(!s.contains("panick"), "{s}");
    };
    expect(&["--param", "input=/no/such/folder"], 2, "no such folder");
    std::fs::create_dir_all(d.join("empty")).unwrap();
    let empty = format!("input={}", d.join("empty").display());
    expect(&["--param", &empty], 2, "no images found");
    expect(&["--param", "mode=copycat"], 2, "not one of");
    expect(&["--param", "out="], 2, "'out' is empty");
    expect(&["--param", "crop=30"], 2, "multiple of 4");
    expect(&["--param", "holdout=12"], 2, "holdout");
    let other = format!("target={}", e.join("style-bikes").display()); // names do not match
    expect(&["--param", &other], 2, "no target for input");
    // Unknown config key / missing config.
    let bad_cfg = d.join("bad.toml");
    std::fs::write(&bad_cfg, "mode = \"pairs\"\nlearning_rate = 1\n").unwrap();
    let (c, s) = run(wick().args(["train"]).arg(&bad_cfg));
    assert_eq!(c, 2, "{s}");
    assert!(s.contains("unknown key 'learning_rate'"), "{s}");
    let (c, _) = run(wick().args(["train", "/no/such/config.toml"]));
    assert_eq!(c, 2);
    // A good run, then its checkpoint truncated: resume reports it, no crash.
    ok(wick().args(["train"]).arg(&cfg));
    let ck = d.join("out/checkpoint.safetensors");
    let bytes = std::fs::read(&ck).unwrap();
    std::fs::write(&ck, &bytes[..bytes.len() / 2]).unwrap();
    expect(&["--param", "steps=3"], 3, "truncated or corrupt");
    // A checkpoint of another network (medium vs small).
    std::fs::write(&ck, &bytes).unwrap();
    expect(
        &["--param", "steps=3", "model_size=medium"],
        3,
        "checkpoint is for network",
    );
    // resume=false starts over from a bad checkpoint.
    std::fs::write(&ck, b"garbage").unwrap();
    ok(wick()
        .args(["train"])
        .arg(&cfg)
        .args(["--param", "resume=false"]));
    // Corrupt and mismatched initial weights.
    let junk = d.join("junk.safetensors");
    std::fs::write(&junk, [7u8; 100]).unwrap();
    let w = format!("weights={}", junk.display());
    expect(&["--param", "resume=false", &w], 3, "truncated or corrupt");
    let w = format!("weights={}", d.join("out/model.safetensors").display());
    expect(
        &["--param", "resume=false", "model_size=medium", &w],
        3,
        "initial weights are for network",
    );
    // Good initial weights are accepted.
    ok(wick()
        .args(["train"])
        .arg(&cfg)
        .args(["--param", "resume=false", &w]));
    // A time budget stops a long run cleanly, with the model written.
    let s = ok(wick().args(["train"]).arg(&cfg).args([
        "--param",
        "resume=false",
        "steps=1000000",
        "max_seconds=1",
    ]));
    assert!(s.contains("time budget 1 s reached"), "{s}");
    assert!(ckpt_step(&d.join("out/checkpoint.safetensors")) < 1_000_000);
    // Truncated trained models in the consumer nodes are model errors, not crashes.
    let model = d.join("out/model.safetensors");
    let m = std::fs::read(&model).unwrap();
    let cut = d.join("cut.safetensors");
    std::fs::write(&cut, &m[..m.len() - 9]).unwrap();
    let (c, s) = run(wick()
        .args(["run", "wick.style-transfer", "--in"])
        .arg(e.join("style-bikes/bikes.0001.jpg"))
        .arg("--param")
        .arg(format!("model={}", cut.display()))
        .args(["device=cpu", "--out"])
        .arg(d.join("x.png")));
    assert_eq!(c, 3, "{s}");
    let (c, s) = run(wick()
        .args(["run", "wick.generate", "--out"])
        .arg(d.join("y.png"))
        .arg("--param")
        .arg(format!("model={}", model.display()))
        .args(["width=32", "height=32"]));
    assert_eq!(c, 3, "an img2img model is not a generator: {s}");
    assert!(s.contains("not a generator"), "{s}");
}

/// An unpaired config at a tiny size: A = bikes frames 1-6 (frame 12 held back as the preview
/// is not in A), B = the graded frames 7-11 (no frame of A has its twin in B).
fn unpaired_config(dir: &Path, extra: &str) -> PathBuf {
    let e = examples();
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    for i in 1..=6 {
        let f = format!("bikes.{i:04}.jpg");
        std::fs::copy(e.join("style-bikes").join(&f), a.join(&f)).unwrap();
    }
    for i in 7..=11 {
        let f = format!("graded.{i:04}.jpg");
        std::fs::copy(e.join("train-pairs").join(&f), b.join(&f)).unwrap();
    }
    let text = format!(
        "mode = \"unpaired\"\ninput = \"{}\"\ntarget = \"{}\"\nout = \"{}\"\n\
         crop = 32\nbatch = 2\ngen_filters = 8\ngen_blocks = 1\nlr = 0.002\nseed = 5\n\
         holdout = 0\ndevice = \"cpu\"\nwidth = 160\nheight = 68\n{extra}\n",
        a.display(),
        b.display(),
        dir.join("out").display(),
    );
    let p = dir.join("unpaired.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn unpaired_learns_towards_the_look_loads_in_style_transfer_and_resumes_exactly() {
    let d = scratch("train-unpaired");
    let cfg = unpaired_config(&d, "steps = 400\ncheckpoint_every = 100\nsheet_every = 200");
    let s = ok(wick()
        .args(["train"])
        .arg(&cfg)
        .arg("--preview")
        .arg(d.join("preview.png")));
    assert!(s.contains("step 400/400"), "{s}");
    let out = d.join("out");
    let head = std::fs::read_to_string(out.join("losses.csv")).unwrap();
    assert!(
        head.starts_with("step,loss,gan,cycle,identity,colour,d\n"),
        "{}",
        head.lines().next().unwrap()
    );
    for f in ["loss.png", "sheet_000200.png", "sheet_000400.png"] {
        assert!(rgb(&out.join(f)).width() > 0, "{f}");
    }
    // The model file is G_A only and runs in wick.style-transfer on the held-back frame 12.
    let m = tensors(&out.join("model.safetensors"));
    assert!(m
        .keys()
        .all(|k| k.starts_with("model.") || k == "wick.arch"));
    assert!(tensors(&out.join("checkpoint.safetensors")).contains_key("gb.model.1.weight"));
    let e = examples();
    ok(wick()
        .args(["run", "wick.style-transfer", "--in"])
        .arg(e.join("style-bikes/bikes.0012.jpg"))
        .arg("--param")
        .arg(format!("model={}", out.join("model.safetensors").display()))
        .args(["device=cpu", "--out"])
        .arg(d.join("graded.png")));
    let target = rgb(&e.join("train-pairs/graded.0012.jpg"));
    let src = rgb(&e.join("style-bikes/bikes.0012.jpg"));
    let base = psnr(&src, &target);
    let ours = psnr(&rgb(&d.join("graded.png")), &target);
    println!("unpaired, held-back frame 12 vs its true grade: untouched {base:.2} dB, model {ours:.2} dB");
    assert!(ours > base + 3.0, "{base} -> {ours}");
    // Initial weights also start the exported moving average: one step from the model gives
    // back nearly the model (a fresh average would be the random initialisation).
    let init = d.join("init");
    ok(wick().args(["train"]).arg(&cfg).args([
        "--param",
        &format!("out={}", init.display()),
        "--param",
        &format!("weights={}", out.join("model.safetensors").display()),
        "--param",
        "steps=1",
        "--param",
        "sheet_every=0",
    ]));
    let (before, again) = (
        wick_tests::safetensors_f32(&out.join("model.safetensors")),
        wick_tests::safetensors_f32(&init.join("model.safetensors")),
    );
    for (k, a) in before.iter().filter(|(k, _)| k.starts_with("model.")) {
        let b = &again[k];
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        let moved = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            moved <= 0.05 * scale + 1e-6,
            "{k}: moved {moved} (scale {scale})"
        );
    }
    // The preview (frame 12 on the preview input) is what wick.style-transfer gives.
    let with_preview = d.join("with-preview.toml");
    std::fs::write(
        &with_preview,
        format!(
            "{}preview = \"{}\"\n",
            std::fs::read_to_string(&cfg).unwrap(),
            e.join("style-bikes/bikes.0012.jpg").display()
        ),
    )
    .unwrap();
    let s = ok(wick()
        .args(["train"])
        .arg(&with_preview)
        .arg("--preview")
        .arg(d.join("preview12.png")));
    assert!(!s.contains("step 1/"), "{s}");
    assert!(rgb(&d.join("preview12.png")) == rgb(&d.join("graded.png")));

    // Resume: 6 steps cancelled at 3 (SIGINT-free: a time budget cannot be exact, so two runs
    // of 3 + 3 steps through a checkpoint) equal 6 uninterrupted steps bit for bit.
    let (a, b) = (d.join("ra"), d.join("rb"));
    let run_to = |out: &Path, steps: u64| {
        ok(wick().args(["train"]).arg(&cfg).args([
            "--param",
            &format!("out={}", out.display()),
            "--param",
            &format!("steps={steps}"),
            "--param",
            "checkpoint_every=1",
            "--param",
            "sheet_every=0",
        ]))
    };
    run_to(&a, 3);
    let s = run_to(&a, 6);
    assert!(s.contains("resumed at step 3/6"), "{s}");
    run_to(&b, 6);
    let (ta, tb) = (
        tensors(&a.join("checkpoint.safetensors")),
        tensors(&b.join("checkpoint.safetensors")),
    );
    assert_eq!(ta.len(), tb.len());
    for (k, v) in &ta {
        assert!(
            tb[k] == *v,
            "tensor {k} differs between resumed and uninterrupted runs"
        );
    }
}

#[test]
fn unpaired_bad_data_is_a_clear_error() {
    let d = scratch("train-unpaired-bad");
    let cfg = unpaired_config(&d, "steps = 2");
    let expect = |extra: &[&str], text: &str| {
        let (c, s) = run(wick().args(["train"]).arg(&cfg).args(extra));
        assert_eq!(c, 2, "{extra:?}:\n{s}");
        assert!(s.contains(text), "{extra:?}: expected '{text}' in:\n{s}");
    };
    expect(&["--param", "target="], "'target' is empty");
    std::fs::create_dir_all(d.join("empty")).unwrap();
    let empty = format!("target={}", d.join("empty").display());
    expect(&["--param", &empty], "no images found");
    expect(&["--param", "crop=30"], "multiple of 4");
    expect(&["--param", "holdout=6"], "holdout");
    let junk = d.join("b/junk.png");
    std::fs::write(&junk, b"not a png").unwrap();
    expect(&[], "cannot read image");
}
