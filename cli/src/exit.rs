//! `wick`'s exit codes, shared by the commands and by `wick submit` (which tells a farm which
//! failures are worth another attempt).
//!
//! | code | meaning | retry? |
//! |---|---|---|
//! | 0 | every frame written | |
//! | 2 | bad arguments or graph | no (fatal) |
//! | 3 | missing plugin or model | no (fatal) |
//! | 4 | render failure (a frame failed: unreadable input, write error, internal error) | no (fatal) |
//! | 75 | device unavailable or out of memory (`EX_TEMPFAIL`) | yes: another attempt, maybe on another node, may succeed |
//! | 130 | cancelled (Ctrl-C) | no |

pub const OK: i32 = 0;
pub const BAD_ARGS: i32 = 2;
pub const MISSING: i32 = 3;
pub const RENDER: i32 = 4;
/// `EX_TEMPFAIL` of `sysexits.h`: a temporary failure, try again.
pub const RETRY: i32 = 75;
pub const CANCELLED: i32 = 130;

/// Whether a run that exited with `code` may succeed if run again (device, memory).
pub fn retryable(code: i32) -> bool {
    code == RETRY
}

/// One line about an exit code.
pub fn describe(code: i32) -> &'static str {
    match code {
        OK => "ok",
        BAD_ARGS => "bad arguments or graph (fatal)",
        MISSING => "missing plugin or model (fatal)",
        RENDER => "render failure (fatal)",
        RETRY => "device unavailable or out of memory (retryable)",
        CANCELLED => "cancelled",
        137 => "killed (SIGKILL: out of memory or time limit?)",
        143 => "terminated (SIGTERM)",
        _ => "failed",
    }
}
