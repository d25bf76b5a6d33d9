//! `libwick_mpi.so`: the MPI collectives of data-parallel `wick train`.
//!
//! The plugin (`libwick.so`) never links MPI, so it loads in every host on machines without
//! MPI. When a training run is distributed (started by `mpirun`/`srun` with more than one
//! task), `wick_models::train::dist` loads this library at run time and calls the functions
//! below; they wrap the rsmpi `mpi` crate (Open MPI or MPICH, whichever it was built against).
//!
//! ABI (version [`WICK_MPI_ABI`]; every function returns 0 on success, else -1 with a message
//! from `wick_mpi_last_error`; panics are caught):
//!
//! | function | does |
//! |---|---|
//! | `wick_mpi_abi() -> u32` | this ABI's version |
//! | `wick_mpi_init(rank*, size*) -> i32` | `MPI_Init_thread` (serialized), world rank and size |
//! | `wick_mpi_sum_f32(buf*, n) -> i32` | in-place sum over ranks: reduce to rank 0, then broadcast, so that every rank holds the same bits |
//! | `wick_mpi_max_f32(buf*, n) -> i32` | in-place maximum over ranks (flags) |
//! | `wick_mpi_bcast_f32(buf*, n, root) -> i32` | broadcast from `root` |
//! | `wick_mpi_finalize() -> i32` | `MPI_Finalize` |
//! | `wick_mpi_abort(code)` | `MPI_Abort` on the world (ends every rank) |
//! | `wick_mpi_library() -> const char*` | `MPI_Get_library_version` |
//! | `wick_mpi_last_error() -> const char*` | the last error of this thread |
//!
//! Built without the `mpi` feature, every call fails with a message saying how to build it.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

/// Version of the functions above; the loader refuses another.
pub const WICK_MPI_ABI: u32 = 1;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: &str) -> i32 {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
    -1
}

/// Runs `f`, turning an error or a panic into -1 and a message.
fn guard(f: impl FnOnce() -> Result<(), String>) -> i32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => 0,
        Ok(Err(m)) => set_error(&m),
        Err(p) => {
            let m = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            set_error(&format!("internal error: {m}"))
        }
    }
}

/// A mutable f32 slice from a C pointer (NULL only with n = 0).
///
/// # Safety
/// `buf` must point to `n` writable floats.
unsafe fn slice<'a>(buf: *mut f32, n: usize) -> Result<&'a mut [f32], String> {
    if n == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err("NULL buffer".into());
    }
    Ok(std::slice::from_raw_parts_mut(buf, n))
}

#[no_mangle]
pub extern "C" fn wick_mpi_abi() -> u32 {
    WICK_MPI_ABI
}

#[no_mangle]
pub extern "C" fn wick_mpi_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// # Safety
/// `rank` and `size` must be valid pointers to writable ints.
#[no_mangle]
pub unsafe extern "C" fn wick_mpi_init(rank: *mut i32, size: *mut i32) -> i32 {
    guard(|| {
        if rank.is_null() || size.is_null() {
            return Err("NULL rank or size pointer".into());
        }
        let (r, s) = imp::init()?;
        *rank = r;
        *size = s;
        Ok(())
    })
}

/// # Safety
/// `buf` must point to `n` writable floats.
#[no_mangle]
pub unsafe extern "C" fn wick_mpi_sum_f32(buf: *mut f32, n: usize) -> i32 {
    guard(|| imp::sum(slice(buf, n)?))
}

/// # Safety
/// `buf` must point to `n` writable floats.
#[no_mangle]
pub unsafe extern "C" fn wick_mpi_max_f32(buf: *mut f32, n: usize) -> i32 {
    guard(|| imp::max(slice(buf, n)?))
}

/// # Safety
/// `buf` must point to `n` writable floats.
#[no_mangle]
pub unsafe extern "C" fn wick_mpi_bcast_f32(buf: *mut f32, n: usize, root: i32) -> i32 {
    guard(|| imp::bcast(slice(buf, n)?, root))
}

#[no_mangle]
pub extern "C" fn wick_mpi_finalize() -> i32 {
    guard(imp::finalize)
}

#[no_mangle]
pub extern "C" fn wick_mpi_abort(code: i32) {
    imp::abort(code)
}

#[no_mangle]
pub extern "C" fn wick_mpi_library() -> *const c_char {
    static NAME: std::sync::OnceLock<CString> = std::sync::OnceLock::new();
    NAME.get_or_init(|| CString::new(imp::library().replace('\0', " ")).unwrap_or_default())
        .as_ptr()
}

#[cfg(feature = "mpi")]
mod imp {
    use std::sync::Mutex;

    use mpi::collective::SystemOperation;
    use mpi::environment::Universe;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use mpi::Threading;

    /// The universe between init and finalize (its drop is `MPI_Finalize`).
    static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

    /// MPI counts are C ints: large buffers go in pieces.
    const PIECE: usize = 1 << 28;

    fn world() -> Result<SimpleCommunicator, String> {
        let u = UNIVERSE.lock().map_err(|_| "MPI state lock poisoned")?;
        u.as_ref()
            .map(|u| u.world())
            .ok_or_else(|| "MPI is not initialised (wick_mpi_init first)".to_string())
    }

    pub fn init() -> Result<(i32, i32), String> {
        let mut u = UNIVERSE.lock().map_err(|_| "MPI state lock poisoned")?;
        if u.is_none() {
            if mpi::environment::is_finalized() {
                return Err(
                    "MPI was already finalised in this process: one distributed \
                            training run per process (start a new one)"
                        .into(),
                );
            }
            let (universe, _level) = mpi::initialize_with_threading(Threading::Serialized)
                .ok_or("MPI_Init_thread failed (or MPI was initialised by someone else)")?;
            *u = Some(universe);
        }
        let w = u.as_ref().map(|u| u.world()).ok_or("MPI init failed")?;
        Ok((w.rank(), w.size()))
    }

    pub fn sum(buf: &mut [f32]) -> Result<(), String> {
        let w = world()?;
        let root = w.process_at_rank(0);
        for piece in buf.chunks_mut(PIECE) {
            // Reduce to rank 0, then broadcast: every rank ends with rank 0's bits (a plain
            // all-reduce may sum in a different order on each rank).
            if w.rank() == 0 {
                let send = piece.to_vec();
                root.reduce_into_root(&send[..], piece, SystemOperation::sum());
            } else {
                root.reduce_into(&piece[..], SystemOperation::sum());
            }
            root.broadcast_into(piece);
        }
        Ok(())
    }

    pub fn max(buf: &mut [f32]) -> Result<(), String> {
        let w = world()?;
        for piece in buf.chunks_mut(PIECE) {
            let send = piece.to_vec();
            w.all_reduce_into(&send[..], piece, SystemOperation::max());
        }
        Ok(())
    }

    pub fn bcast(buf: &mut [f32], root: i32) -> Result<(), String> {
        let w = world()?;
        if root < 0 || root >= w.size() {
            return Err(format!(
                "broadcast root {root} is not a rank (size {})",
                w.size()
            ));
        }
        let r = w.process_at_rank(root);
        for piece in buf.chunks_mut(PIECE) {
            r.broadcast_into(piece);
        }
        Ok(())
    }

    pub fn finalize() -> Result<(), String> {
        let u = UNIVERSE
            .lock()
            .map_err(|_| "MPI state lock poisoned")?
            .take();
        drop(u);
        Ok(())
    }

    pub fn abort(code: i32) {
        match world() {
            Ok(w) => w.abort(code),
            Err(_) => std::process::exit(code),
        }
    }

    pub fn library() -> String {
        // "Open MPI v4.1.4, package: ..." → "Open MPI v4.1.4"; "MPICH Version: 4.0 ..." → its
        // first line.
        let v = mpi::environment::library_version().unwrap_or_default();
        let first = v.lines().next().unwrap_or("MPI");
        first.split(',').next().unwrap_or(first).trim().to_string()
    }
}

#[cfg(not(feature = "mpi"))]
mod imp {
    const NOT_BUILT: &str = "this libwick_mpi.so was built without MPI: build it with \
                             `scripts/farm/mpi-build.sh` (cargo build -p wick-mpi --features mpi, \
                             needs Open MPI or MPICH and libclang)";

    pub fn init() -> Result<(i32, i32), String> {
        Err(NOT_BUILT.into())
    }
    pub fn sum(_: &mut [f32]) -> Result<(), String> {
        Err(NOT_BUILT.into())
    }
    pub fn max(_: &mut [f32]) -> Result<(), String> {
        Err(NOT_BUILT.into())
    }
    pub fn bcast(_: &mut [f32], _: i32) -> Result<(), String> {
        Err(NOT_BUILT.into())
    }
    pub fn finalize() -> Result<(), String> {
        Err(NOT_BUILT.into())
    }
    pub fn abort(code: i32) {
        std::process::exit(code)
    }
    pub fn library() -> String {
        "none (built without the mpi feature)".into()
    }
}
