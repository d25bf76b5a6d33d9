//! Helpers shared by the workspace integration tests in `tests/`: build and locate the plugin
//! (`libwick.so`) and the `wick` test host in the same profile as the running test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Paths of the built artifacts.
pub struct Artifacts {
    pub plugin: PathBuf,
    pub wick: PathBuf,
    pub target_dir: PathBuf,
}

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the plugin and the `wick` binary once per test process (a no-op when up to date) and
/// returns their paths. The profile follows the test binary's own (debug or release).
pub fn artifacts() -> &'static Artifacts {
    static A: OnceLock<Artifacts> = OnceLock::new();
    A.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe path");
        // target/<profile>/deps/test-binary
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("profile dir")
            .to_path_buf();
        let release = profile_dir
            .file_name()
            .map(|n| n == "release")
            .unwrap_or(false);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo_root())
            .args(["build", "-p", "wick-plugin", "-p", "wick-cli"]);
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "cargo build of the plugin and wick failed");
        let plugin = profile_dir.join("libwick.so");
        let wick = profile_dir.join("wick");
        assert!(plugin.exists(), "{} missing", plugin.display());
        assert!(wick.exists(), "{} missing", wick.display());
        Artifacts {
            plugin,
            wick,
            target_dir: profile_dir,
        }
    })
}

/// A fresh scratch folder under the target dir, unique per test name.
pub fn scratch(name: &str) -> PathBuf {
    let d = artifacts().target_dir.join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// A `wick` command with the plugin path set.
pub fn wick() -> Command {
    let a = artifacts();
    let mut c = Command::new(&a.wick);
    c.env("WICK_PLUGIN", &a.plugin);
    c
}

/// Builds the frei0r libraries (same profile) and assembles their folder with
/// `wick frei0r --out <profile>/frei0r`, once per test process. Returns the folder.
pub fn frei0r_dir() -> &'static Path {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let a = artifacts();
        let release = a
            .target_dir
            .file_name()
            .map(|n| n == "release")
            .unwrap_or(false);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // The same package set as `artifacts()` plus the frei0r crates (which add no features):
        // any other set changes feature unification and rebuilds Candle and every dependency.
        cmd.current_dir(repo_root()).args([
            "build",
            "-p",
            "wick-plugin",
            "-p",
            "wick-cli",
            "-p",
            "wick-frei0r-style",
            "-p",
            "wick-frei0r-generate",
            "-p",
            "wick-frei0r-interpolate",
        ]);
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "cargo build of the frei0r libraries failed");
        let out = a.target_dir.join("frei0r");
        let o = Command::new(&a.wick)
            .args(["frei0r", "--out"])
            .arg(&out)
            .output()
            .expect("run wick frei0r");
        assert!(
            o.status.success(),
            "wick frei0r failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
}

/// The OpenFX bundle of this profile's plugin, assembled once per test process:
/// `<profile>/ofx/Wick.ofx.bundle/Contents/Linux-x86-64/Wick.ofx`, a hard link to (or, across
/// file systems, a copy of) `libwick.so`, laid out as `scripts/build-ofx.sh` lays out
/// `target/ofx/`. Returns the path of `Wick.ofx`.
pub fn ofx_bundle() -> &'static Path {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let a = artifacts();
        let dir = a
            .target_dir
            .join("ofx/Wick.ofx.bundle/Contents/Linux-x86-64");
        std::fs::create_dir_all(&dir).expect("bundle dir");
        let bin = dir.join("Wick.ofx");
        let _ = std::fs::remove_file(&bin);
        if std::fs::hard_link(&a.plugin, &bin).is_err() {
            std::fs::copy(&a.plugin, &bin).expect("copy libwick.so into the bundle");
        }
        bin
    })
}

/// Runs a command that must succeed; returns its stdout and stderr together (panics with them
/// when it fails).
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    let s = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "command failed ({:?}):\n{s}",
        out.status
    );
    s
}

/// Runs a command; returns its exit code (−1 when killed by a signal) and its stderr.
pub fn run_code(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("spawn");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command; returns its exit code (−1 when killed by a signal) and its stdout and
/// stderr together.
pub fn run_output(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("spawn");
    let s = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), s)
}

/// A file's bytes (panics naming the path).
pub fn read_file(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every tensor of a safetensors file (written by `wick.train`, all f32) as f32 values by name
/// (panics naming the path).
pub fn safetensors_f32(p: &Path) -> std::collections::HashMap<String, Vec<f32>> {
    let bytes = read_file(p);
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let f = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (k, f)
        })
        .collect()
}

/// Past-frame tests in the hosts (issue #15 part 3): the same real frames and the same
/// `wick render` references for FFmpeg, melt (`tests/frei0r.rs`) and the OpenFX test host
/// (`tests/ofx.rs`).
pub mod temporal {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Frame size of [`clip_frames`]: the bundled clip (640x272) at 128 px wide (a multiple of
    /// 16, as FFmpeg 5.1's frei0r filter needs).
    pub const SIZE: (u32, u32) = (128, 54);

    /// The style-transfer params of every past-frame host test, in `wick render`'s TOML.
    pub const PARAMS: &str = r#"device = "cpu", style = "3", strength = 1.0"#;

    /// Frames `0..n` of the bundled clip `examples/clips/bikes.mp4` (real street footage) at
    /// [`SIZE`], as `dir/src/f.####.png` numbered from 0, as frei0r hosts number frames from
    /// time 0 (FFmpeg, installed by `./scripts/setup.sh`). Returns the pattern's folder.
    pub fn clip_frames(dir: &Path, n: usize) -> PathBuf {
        let src = dir.join("src");
        std::fs::create_dir_all(&src).expect("scratch folder");
        let clip = crate::repo_root().join("examples/clips/bikes.mp4");
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&clip)
            .args([
                "-vf",
                &format!("select=lt(n\\,{n}),scale={}:{}:flags=area", SIZE.0, SIZE.1),
                "-vsync",
                "0",
                "-start_number",
                "0",
            ])
            .arg(src.join("f.%04d.png"))
            .output()
            .expect("ffmpeg is missing: run ./scripts/setup.sh");
        assert!(
            out.status.success(),
            "ffmpeg: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = src.join(format!("f.{:04}.png", n - 1));
        assert!(last.exists(), "{} missing", last.display());
        src
    }

    /// `wick render` of `wick.style-transfer` with [`PARAMS`] and `temporal` over
    /// `dir/src/f.####.png` (from [`clip_frames`]), frames `frames` (a `--frames` spec),
    /// writing `dir/<out>/o.####.png`. With `first`, the read node starts there: earlier
    /// frames are absent, as after a seek or at a clip's start (no past frames before it).
    /// Returns the output folder.
    pub fn render_style(
        dir: &Path,
        out: &str,
        temporal: f64,
        frames: &str,
        first: Option<i64>,
    ) -> PathBuf {
        let graph = dir.join(format!("{out}.toml"));
        let first = first.map(|f| format!("first = {f}\n")).unwrap_or_default();
        std::fs::write(
            &graph,
            format!(
                r#"fps = 25

[[node]]
name = "src"
type = "read"
path = "src/f.####.png"
{first}
[[node]]
name = "paint"
type = "wick.style-transfer"
input = "src"
params = {{ {PARAMS}, temporal = {temporal:?} }}

[[node]]
name = "out"
type = "write"
input = "paint"
path = "{out}/o.####.png"
"#
            ),
        )
        .expect("write graph");
        crate::run_ok(
            crate::wick()
                .arg("render")
                .arg(&graph)
                .args(["--frames", frames]),
        );
        dir.join(out)
    }

    /// Frame `f` of a [`render_style`] output folder.
    pub fn rendered(out: &Path, f: i64) -> PathBuf {
        out.join(format!("o.{f:04}.png"))
    }
}
