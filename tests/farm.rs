//! The farm on real engines, on this machine:
//!
//! - Slurm: `scripts/farm/slurm-up.sh` installs (apt) and starts a one-node cluster (munged,
//!   slurmctld, slurmd); `wick submit slurm --wait` renders the bundled example shot as a job
//!   array and every frame equals the one-process `wick render` byte for byte; chunks made to
//!   fail with real errors are requeued (retryable exit 75) or not (fatal), and reported;
//! - Open Job Description: `scripts/farm/openjd-install.sh` installs `openjd-cli` (PyPI) in a
//!   venv; `openjd run` of the template `wick submit openjd` writes renders the same bytes;
//! - MPI: `scripts/farm/mpi-build.sh` builds libwick_mpi.so (Open MPI from apt);
//!   `mpirun -np 2 wick train` trains the same model as one process on the combined batch
//!   (tolerances below), rank 0 alone writes, a distributed resume is exact.
//!
//! An engine that cannot be installed or started fails its test with the reason: nothing is
//! skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use wick_tests::{artifacts, repo_root, safetensors_f32, scratch, wick};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: &mut Command) -> (i32, String) {
    let o = cmd.output().expect("spawn");
    (o.status.code().unwrap_or(-1), text(&o))
}

fn ok(cmd: &mut Command) -> String {
    let (c, s) = run(cmd);
    assert_eq!(c, 0, "command failed ({cmd:?}):\n{s}");
    s
}

/// Runs a script of scripts/farm; its stdout (trimmed).
fn farm_script(name: &str, args: &[&str]) -> String {
    let p = repo_root().join("scripts/farm").join(name);
    let o = Command::new(&p)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", p.display()));
    assert!(
        o.status.success(),
        "{name} failed ({}): the engine could not be installed or started:\n{}",
        o.status,
        text(&o)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn slurm_up() {
    static UP: OnceLock<()> = OnceLock::new();
    UP.get_or_init(|| {
        farm_script("slurm-up.sh", &[]);
    });
}

fn openjd() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| PathBuf::from(farm_script("openjd-install.sh", &[])))
        .clone()
}

/// libwick_mpi.so with MPI, built beside the test profile's libwick.so.
fn mpi_lib() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let a = artifacts();
        let release = a.target_dir.ends_with("release");
        farm_script("mpi-build.sh", if release { &[] } else { &["--debug"] });
        let p = a.target_dir.join("libwick_mpi.so");
        assert!(p.exists(), "{} missing after mpi-build.sh", p.display());
        p
    })
    .clone()
}

/// The bundled example shot (examples/cppn-short.toml) as `dir/NAME.toml`, writing into
/// `dir/out/shot/`, with `extra_params` added to the generator's.
fn shot(dir: &Path, name: &str, extra_params: &str) -> PathBuf {
    let src = std::fs::read_to_string(repo_root().join("examples/cppn-short.toml")).unwrap();
    let text = src
        .replace("../out/cppn-short/cppn.####.png", "out/shot/f.####.png")
        .replace("height = 360 }", &format!("height = 360{extra_params} }}"));
    assert!(text.contains("out/shot/f.####.png") && text.contains("height = 360"));
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// Renders `frames` of `graph` in one process and moves the frames to `dir/name`.
fn render_local(graph: &Path, frames: &str, dir: &Path, name: &str) -> f64 {
    let t = Instant::now();
    ok(wick().arg("render").arg(graph).args(["--frames", frames]));
    let secs = t.elapsed().as_secs_f64();
    std::fs::rename(dir.join("out/shot"), dir.join(name)).unwrap();
    secs
}

/// Every frame of `frames` is in `a` and `b` with the same bytes.
fn assert_same_frames(a: &Path, b: &Path, frames: impl IntoIterator<Item = i64>) {
    let mut n = 0;
    for f in frames {
        let name = format!("f.{f:04}.png");
        let x = std::fs::read(a.join(&name)).unwrap_or_else(|e| panic!("{name} in {a:?}: {e}"));
        let y = std::fs::read(b.join(&name)).unwrap_or_else(|e| panic!("{name} in {b:?}: {e}"));
        assert!(x == y, "{name} differs between {a:?} and {b:?}");
        n += 1;
    }
    assert!(n > 0);
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Slurm

/// The check of issue #19: `wick submit slurm GRAPH --frames 1-24 --chunk 6 --wait` on a
/// one-node Slurm equals `wick render GRAPH --frames 1-24`, byte for byte.
#[test]
fn slurm_array_renders_the_same_bytes_as_one_process() {
    slurm_up();
    let d = scratch("farm-slurm");
    let g = shot(&d, "shot", "");
    let t_local = render_local(&g, "1-24", &d, "local");
    let t = Instant::now();
    let s = ok(wick()
        .current_dir(&d)
        .args(["submit", "slurm"])
        .arg(&g)
        .args([
            "--frames", "1-24", "--chunk", "6", "--wait", "--poll", "0.5",
        ]));
    let t_farm = t.elapsed().as_secs_f64();
    assert!(s.contains("all 4 chunk(s) rendered"), "{s}");
    assert_same_frames(&d.join("local"), &d.join("out/shot"), 1..=24);
    // The job script and one log and one exit record per chunk, next to the outputs.
    let logs = d.join("out/shot.logs");
    let names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".sbatch")).count(),
        1,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".log")).count(),
        4,
        "{names:?}"
    );
    for n in names.iter().filter(|n| n.ends_with(".exit")) {
        let rec = std::fs::read_to_string(logs.join(n)).unwrap();
        assert_eq!(rec.trim(), "1 0", "{n}");
    }
    eprintln!(
        "slurm: 1 process {t_local:.1} s, job array of 4 chunks {t_farm:.1} s (submit to \
         done), 24 frames identical; load {}",
        load_avg()
    );
}

/// Chunks made to fail with real errors: a device error (exit 75) on the first attempt only
/// is requeued and then renders; a device error on every attempt is requeued `--max-retries`
/// times and reported; a missing plugin (exit 3, fatal) is not retried; `--wait` exits 4 and
/// names both failed chunks with their frames.
#[test]
fn slurm_requeues_only_retryable_failures() {
    slurm_up();
    let d = scratch("farm-slurm-fail");
    let g = shot(&d, "shot", "");
    render_local(&g, "1-2,7-8", &d, "local");
    // The same shot on a device this build lacks: wick exits 75 (device unavailable).
    let cuda = shot(&d, "cuda", ", device = \"cuda\"");
    let a = artifacts();
    // The farm runs this wrapper as `wick`: it picks, per chunk and attempt, which real
    // failure wick meets.
    let wrapper = d.join("wick-on-node.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\n\
             # args: --plugin P render GRAPH --frames F\n\
             frames=\"${{@: -1}}\"\n\
             attempt=${{SLURM_RESTART_COUNT:-0}}\n\
             case \"$frames\" in\n\
             \x20 1-2) [ \"$attempt\" -eq 0 ] && exec {wick} --plugin {lib} render {cuda} --frames \"$frames\" ;;\n\
             \x20 3-4) exec {wick} --plugin {lib} render {cuda} --frames \"$frames\" ;;\n\
             \x20 5-6) exec {wick} --plugin /no/such/libwick.so render {g} --frames \"$frames\" ;;\n\
             esac\n\
             exec {wick} \"$@\"\n",
            wick = a.wick.display(),
            lib = a.plugin.display(),
            cuda = cuda.display(),
            g = g.display(),
        ),
    )
    .unwrap();
    ok(Command::new("chmod").arg("+x").arg(&wrapper));
    let t = Instant::now();
    let (code, s) = run(wick()
        .current_dir(&d)
        .args(["submit", "slurm"])
        .arg(&g)
        .args([
            "--frames",
            "1-8",
            "--chunk",
            "2",
            "--max-retries",
            "1",
            "--wait",
        ])
        .args(["--poll", "1", "--wick"])
        .arg(&wrapper));
    eprintln!("{s}\n(submit to done {:.0} s)", t.elapsed().as_secs_f64());
    assert_eq!(code, 4, "a fatal chunk makes the job fatal:\n{s}");
    assert!(s.contains("2 of 4 chunk(s) failed"), "{s}");
    assert!(
        s.contains("chunk 1 frames 3-4: exit 75") && s.contains("gave up after 2 attempt(s)"),
        "{s}"
    );
    assert!(
        s.contains("chunk 2 frames 5-6: exit 3") && s.contains("not retried (attempt 1)"),
        "{s}"
    );
    assert!(!s.contains("chunk 0 frames"), "chunk 0 recovered:\n{s}");
    let logs = d.join("out/shot.logs");
    let rec = |task: usize| -> String {
        let f = std::fs::read_dir(&logs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(&format!("_{task}.exit")))
            .unwrap_or_else(|| panic!("no exit record of chunk {task}"));
        std::fs::read_to_string(f)
            .unwrap()
            .trim()
            .replace('\n', "; ")
    };
    assert_eq!(rec(0), "1 75; 2 0", "chunk 0: requeued once, then rendered");
    assert_eq!(
        rec(1),
        "1 75; 2 75",
        "chunk 1: requeued once (max-retries 1), then failed"
    );
    assert_eq!(rec(2), "1 3", "chunk 2: fatal, not requeued");
    assert_eq!(rec(3), "1 0");
    // The chunks that rendered, including the requeued one, are the one-process bytes.
    assert_same_frames(&d.join("local"), &d.join("out/shot"), [1, 2, 7, 8]);
}

/// A bad graph or chunk size fails at submission (exit 2), before anything reaches the farm;
/// `--dry-run` shows the job array script.
#[test]
fn slurm_submission_checks_and_dry_run() {
    let d = scratch("farm-dry");
    let g = shot(&d, "shot", "");
    let (c, s) = run(wick().args(["submit", "slurm"]).arg(&g).args([
        "--frames",
        "1-24",
        "--chunk",
        "6",
        "--dry-run",
    ]));
    assert_eq!(c, 0, "{s}");
    for want in [
        "#SBATCH --array=0-3",
        "#SBATCH --requeue",
        "CHUNKS=(1-6 7-12 13-18 19-24)",
        "scontrol requeue",
        "render",
    ] {
        assert!(s.contains(want), "dry run lacks '{want}':\n{s}");
    }
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "[[node]]\nname='a'\ntype='wick.nope'\n").unwrap();
    let (c, s) =
        run(wick()
            .args(["submit", "slurm"])
            .arg(&bad)
            .args(["--frames", "1-4", "--dry-run"]));
    assert_eq!(c, 2, "{s}");
    assert!(s.contains("wick.nope"), "{s}");
    let (c, s) = run(wick().args(["submit", "slurm"]).arg(&g).args([
        "--frames",
        "1-4",
        "--chunk",
        "0",
        "--dry-run",
    ]));
    assert_eq!(c, 2, "{s}");
}

// ---------------------------------------------------------------------------------------------
// Open Job Description

#[test]
fn openjd_run_renders_the_same_bytes_as_one_process() {
    let openjd = openjd();
    let d = scratch("farm-openjd");
    let g = shot(&d, "shot", "");
    render_local(&g, "1-12", &d, "local");
    let tpl = d.join("job.template.yaml");
    ok(wick()
        .args(["submit", "openjd"])
        .arg(&g)
        .args(["--frames", "1-12", "--chunk", "4", "--out"])
        .arg(&tpl));
    let s = ok(Command::new(&openjd).arg("check").arg(&tpl));
    assert!(s.contains("passes validation"), "{s}");
    let t = Instant::now();
    let s = ok(Command::new(&openjd).arg("run").arg(&tpl));
    let secs = t.elapsed().as_secs_f64();
    // Three chunks of four frames ran, each one `wick render --frames A-B`.
    assert!(s.contains("Chunks run: 3"), "{s}");
    for chunk in ["1-4", "5-8", "9-12"] {
        assert!(
            s.contains(&format!("Frame(CHUNK[INT]) = {chunk}")),
            "no task ran chunk {chunk}:\n{s}"
        );
    }
    assert_same_frames(&d.join("local"), &d.join("out/shot"), 1..=12);
    eprintln!("openjd run: 12 frames in 3 chunks, {secs:.1} s, identical");
    // A failing chunk fails the job run.
    let cuda = shot(&d, "cuda", ", device = \"cuda\"");
    let tpl2 = d.join("cuda.template.yaml");
    ok(wick()
        .args(["submit", "openjd"])
        .arg(&cuda)
        .args(["--frames", "1-2", "--chunk", "2", "--out"])
        .arg(&tpl2));
    let (c, s) = run(Command::new(&openjd).arg("run").arg(&tpl2));
    assert_ne!(c, 0, "{s}");
    assert!(s.contains("device error"), "{s}");
}

// ---------------------------------------------------------------------------------------------
// MPI

/// A tiny pairs run on the bundled bikes frames (global batch 4).
fn train_config(dir: &Path, steps: u32) -> PathBuf {
    let e = repo_root().join("examples");
    let p = dir.join(format!("train{steps}.toml"));
    std::fs::write(
        &p,
        format!(
            "mode = \"pairs\"\ninput = \"{}\"\ntarget = \"{}\"\n\
             crop = 32\nbatch = 4\nlr = 0.003\nseed = 3\nsteps = {steps}\n\
             checkpoint_every = 3\nsheet_every = 0\ndevice = \"cpu\"\nwidth = 160\nheight = 68\n",
            e.join("style-bikes/bikes.%04d.jpg").display(),
            e.join("train-pairs/graded.%04d.jpg").display(),
        ),
    )
    .unwrap();
    p
}

fn mpirun(np: usize) -> Command {
    let a = artifacts();
    let mut c = Command::new("mpirun");
    // As root (CI), in containers (no CMA between ranks), on a machine with fewer cores than
    // ranks.
    c.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "--bind-to",
        "none",
    ])
    .args(["--mca", "btl_vader_single_copy_mechanism", "none"])
    .args(["-np", &np.to_string()])
    .args(["-x", "WICK_PLUGIN", "-x", "WICK_MPI_LIB"])
    .env("WICK_PLUGIN", &a.plugin)
    .env("WICK_MPI_LIB", mpi_lib())
    .arg(&a.wick);
    c
}

fn losses(dir: &Path) -> Vec<f32> {
    std::fs::read_to_string(dir.join("losses.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

/// ‖a − b‖ / ‖a‖ over every tensor, and the largest single difference.
fn param_diff(a: &Path, b: &Path) -> (f64, f32) {
    let (x, y) = (safetensors_f32(a), safetensors_f32(b));
    assert_eq!(
        x.keys().collect::<std::collections::BTreeSet<_>>(),
        y.keys().collect(),
        "the models hold other tensors"
    );
    let (mut d2, mut n2, mut mx) = (0f64, 0f64, 0f32);
    for (k, u) in &x {
        for (p, q) in u.iter().zip(&y[k]) {
            d2 += ((p - q) as f64).powi(2);
            n2 += (*p as f64).powi(2);
            mx = mx.max((p - q).abs());
        }
    }
    ((d2 / n2).sqrt(), mx)
}

/// The MPI test of issue #19: `mpirun -np 2` trains the model one process trains with the
/// combined batch. Stated tolerance: every step's loss (combined over the ranks) within 1e-5
/// relative; parameters within 1e-3 relative L2 (Adam divides each gradient by its running
/// RMS, so a gradient near zero whose last bits differ with the summation order moves its
/// weight by up to ±lr: measured, a handful of 154k weights). Rank 0 alone writes; a
/// distributed run resumed from its checkpoint equals an uninterrupted one bit for bit.
#[test]
fn mpi_two_ranks_train_like_one_process_with_the_combined_batch() {
    let d = scratch("farm-mpi");
    let cfg = train_config(&d, 6);
    let t = Instant::now();
    ok(wick().arg("train").arg(&cfg).args([
        "--param",
        &format!("out={}", d.join("one").display()),
        "distributed=off",
    ]));
    let t_one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s = ok(mpirun(2)
        .arg("train")
        .arg(&cfg)
        .args(["--param", &format!("out={}", d.join("two").display())]));
    let t_two = t.elapsed().as_secs_f64();
    assert!(
        s.contains("rank 0 of 2") && s.contains("gradients synced every step"),
        "{s}"
    );
    assert!(
        s.contains("[rank 1]"),
        "rank 1 reports where it starts:\n{s}"
    );
    let (l1, l2) = (losses(&d.join("one")), losses(&d.join("two")));
    assert_eq!(l1.len(), 6);
    assert_eq!(
        l2.len(),
        6,
        "one row per step (rank 0 alone writes the log)"
    );
    for (k, (a, b)) in l1.iter().zip(&l2).enumerate() {
        assert!(
            ((a - b) / a).abs() < 1e-5,
            "step {}: loss {a} (1 process) vs {b} (2 ranks)",
            k + 1
        );
    }
    let (rel, max) = param_diff(
        &d.join("one/model.safetensors"),
        &d.join("two/model.safetensors"),
    );
    eprintln!(
        "mpi: 1 process {t_one:.1} s, 2 ranks {t_two:.1} s (6 steps, batch 4); losses {l1:?} vs \
         {l2:?}; parameters: relative L2 {rel:.2e}, max |diff| {max:.2e}; load {}",
        load_avg()
    );
    assert!(rel < 1e-3, "parameters differ: relative L2 {rel}");
    // No stray files: no temp files, one checkpoint.
    let names: Vec<String> = std::fs::read_dir(d.join("two"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");

    // Resume: 3 steps, then the same command to 6, equals the uninterrupted 2-rank run.
    let out3 = format!("out={}", d.join("resumed").display());
    ok(mpirun(2)
        .arg("train")
        .arg(train_config(&d, 3))
        .args(["--param", &out3]));
    let s = ok(mpirun(2).arg("train").arg(&cfg).args(["--param", &out3]));
    assert!(s.contains("resumed at step 3/6"), "{s}");
    let (a, b) = (
        safetensors_f32(&d.join("two/checkpoint.safetensors")),
        safetensors_f32(&d.join("resumed/checkpoint.safetensors")),
    );
    assert!(
        a == b,
        "a resumed 2-rank run differs from an uninterrupted one"
    );
}

/// Launches that cannot work are clear errors on every rank, not hangs: a rank count that
/// disagrees with COPYCAT_WORLD_SIZE; no libwick_mpi.so; a global batch smaller than the ranks;
/// ranks with different settings.
#[test]
fn mpi_refuses_inconsistent_launches() {
    let d = scratch("farm-mpi-bad");
    let cfg = train_config(&d, 2);
    let out = format!("out={}", d.join("o").display());
    let (c, s) = run(mpirun(2)
        .arg("train")
        .arg(&cfg)
        .args(["--param", &out])
        // mpirun passes its environment to the ranks it starts on this machine.
        .env("COPYCAT_WORLD_SIZE", "3"));
    assert_ne!(c, 0, "{s}");
    assert!(s.contains("COPYCAT_WORLD_SIZE=3"), "{s}");
    let (c, s) = run(mpirun(2)
        .env("WICK_MPI_LIB", "/no/such/libwick_mpi.so")
        .arg("train")
        .arg(&cfg)
        .args(["--param", &out]));
    assert_ne!(c, 0, "{s}");
    assert!(
        s.contains("libwick_mpi.so") && s.contains("mpi-build.sh"),
        "{s}"
    );
    let (c, s) = run(mpirun(2)
        .arg("train")
        .arg(&cfg)
        .args(["--param", &out, "batch=1"]));
    assert_ne!(c, 0, "{s}");
    assert!(s.contains("smaller than the 2 ranks"), "{s}");
    // Two ranks started with different step counts (mpirun's MPMD form `A : B`).
    let a = artifacts();
    let mut c = mpirun(1);
    c.args(["train"])
        .arg(&cfg)
        .args(["--param", &out, "steps=2", ":", "-np", "1"])
        .arg(&a.wick)
        .arg("train")
        .arg(&cfg)
        .args(["--param", &out, "steps=3"]);
    let (code, s) = run(&mut c);
    assert_ne!(code, 0, "{s}");
    assert!(s.contains("the ranks run different settings"), "{s}");
}

/// Under Slurm, `srun --mpi=pmix` starts the ranks (Open MPI takes its rank from Slurm's
/// PMIx): the same training, bit for bit, as the same ranks under `mpirun`.
#[test]
fn srun_starts_the_ranks_under_slurm() {
    slurm_up();
    let d = scratch("farm-srun");
    let cfg = train_config(&d, 3);
    let a = artifacts();
    let out = |n: &str| format!("out={}", d.join(n).display());
    ok(mpirun(2)
        .arg("train")
        .arg(&cfg)
        .args(["--param", &out("mpirun")]));
    let s = ok(Command::new("srun")
        .args(["-n", "2", "--mpi=pmix", "--export=ALL"])
        .env("WICK_PLUGIN", &a.plugin)
        .env("WICK_MPI_LIB", mpi_lib())
        .arg(&a.wick)
        .arg("train")
        .arg(&cfg)
        .args(["--param", &out("srun")]));
    assert!(s.contains("rank 0 of 2") && s.contains("[rank 1]"), "{s}");
    let (x, y) = (
        safetensors_f32(&d.join("mpirun/checkpoint.safetensors")),
        safetensors_f32(&d.join("srun/checkpoint.safetensors")),
    );
    assert!(x == y, "srun and mpirun ranks trained different models");
}
