//! Build script shared by the Wick libraries: link them `-z nodelete` on Linux, so a host's
//! `dlclose` (FFmpeg unloads and reloads frei0r plugins within one run) never unmaps code that
//! a worker thread of the CPU kernels' thread pool may still run.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
