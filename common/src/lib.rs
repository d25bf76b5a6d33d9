//! `wick-common`: small pieces every Wick crate needs and none owns, so that each exists once.
//!
//! - [`fs`]: reading a file only when it is a regular file of bounded size (never a device,
//!   FIFO or socket), and the one atomic writer (temp file beside the target, then a rename).
//! - [`imagefile`]: image files read whole, checked complete (a JPEG cut short is refused),
//!   then decoded.
//! - [`pattern`]: frame-number patterns (`f.%04d.png`, `f.####.png`, `f.%d.png`).
//! - [`param_text`]: the rules that turn text (command lines, graph files, frei0r strings)
//!   into param values.
//! - [`testing`]: comparisons tests share (`max_abs`, `psnr`).
//!
//! It sits below everything: `wick-host-sdk` and `wick-models` depend on it (and through them
//! the CLI and the plugin); it depends on nothing of Wick's.

pub mod fs;
pub mod imagefile;
pub mod param_text;
pub mod pattern;
pub mod testing;
