//! Memory checker (issue #16): valgrind's memcheck over the C host example and a C driver that
//! runs a few nodes through the C ABI at tiny sizes (`tests/memcheck/nodes.c`): no invalid
//! reads or writes, no invalid frees, no definite leaks. valgrind comes from Debian
//! (`scripts/setup.sh` installs it); a machine without it fails this test with that reason.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use wick_tests::{artifacts, repo_root, run_ok, scratch};

/// Runs `cmd` under memcheck; returns valgrind's report (stderr) after checking it.
fn memcheck(what: &str, exe: &Path, args: &[&std::ffi::OsStr]) -> String {
    let has_valgrind = Command::new("valgrind").arg("--version").output().is_ok();
    assert!(
        has_valgrind,
        "valgrind is not installed: run ./scripts/setup.sh (it installs Debian's valgrind)"
    );
    let t = Instant::now();
    let out = Command::new("valgrind")
        .args([
            "--tool=memcheck",
            "--leak-check=full",
            "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
            // Rust's panic unwinding and SIMD code trip the uninitialised-value check with
            // false positives; the checks asked for are addressability and leaks.
            "--undef-value-errors=no",
            "--error-exitcode=99",
            "--num-callers=30",
        ])
        .arg(exe)
        .args(args)
        .env("WICK_ENABLE_TEST_NODES", "1")
        // One worker thread keeps the run short and the report readable.
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("spawn valgrind");
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "memcheck {what}: {:.1} s, exit {:?}",
        t.elapsed().as_secs_f64(),
        out.status.code()
    );
    for bad in [
        "Invalid read",
        "Invalid write",
        "Invalid free",
        "Mismatched free",
        "Source and destination overlap",
    ] {
        assert!(!report.contains(bad), "{what}: '{bad}' in:\n{report}");
    }
    let summary = report
        .lines()
        .find(|l| l.contains("ERROR SUMMARY"))
        .unwrap_or_else(|| panic!("{what}: no valgrind summary in:\n{report}"));
    assert!(
        summary.contains("ERROR SUMMARY: 0 errors"),
        "{what}: {summary}\n{report}"
    );
    let definite = report
        .lines()
        .find(|l| l.contains("definitely lost:"))
        .unwrap_or("definitely lost: 0 bytes");
    assert!(
        definite.contains("definitely lost: 0 bytes"),
        "{what}: {definite}\n{report}"
    );
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{stdout}\n{report}",
        out.status
    );
    eprintln!("memcheck {what}: {summary}");
    report
}

fn gcc(src: &Path, exe: &Path) {
    run_ok(
        Command::new("gcc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-I"])
            .arg(repo_root().join("host-sdk/include"))
            .arg(src)
            .arg("-o")
            .arg(exe)
            .arg("-ldl"),
    );
}

#[test]
fn c_host_and_nodes_are_clean_under_valgrind() {
    let d = scratch("memcheck");
    let plugin = artifacts().plugin.clone();
    let host = d.join("c-host");
    gcc(&repo_root().join("examples/c-host/main.c"), &host);
    memcheck(
        "examples/c-host",
        &host,
        &[plugin.as_os_str(), d.join("frame.ppm").as_os_str()],
    );
    assert!(d.join("frame.ppm").exists());
    let nodes = d.join("nodes");
    gcc(&repo_root().join("tests/memcheck/nodes.c"), &nodes);
    let r = memcheck("tests/memcheck/nodes.c", &nodes, &[plugin.as_os_str()]);
    assert!(!r.contains("FAIL"), "{r}");
}
