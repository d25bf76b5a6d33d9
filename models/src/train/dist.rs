//! Data-parallel training: one run across processes and hosts, over MPI.
//!
//! A distributed run is `N` identical processes (ranks) started by an MPI launcher
//! (`mpirun -np N wick train ...`, or `srun -n N ...` under Slurm). Every rank loads the same
//! data and builds the same network; the `batch` param is the **global** batch, split between
//! the ranks:
//!
//! - each step, every rank draws the whole batch's crops (and noise) from the step's seeded
//!   stream, exactly as one process would, and trains on its own share (rank `r` of `N` takes
//!   items `r·B/N .. (r+1)·B/N`);
//! - with `sync_every = 1` (the default), each optimiser's gradients are summed over the ranks,
//!   each weighted by its share of the batch, before the update: every rank applies the same
//!   update, equal to one process training on the combined batch (up to float summation order);
//! - with `sync_every = K > 1` (CopyCat's `COPYCAT_SYNC_INTERVAL`), ranks take local steps on
//!   their shares and average their parameters and Adam moments every `K` steps (and before
//!   every checkpoint), trading exactness for fewer exchanges;
//! - the reported loss (and its parts) is the combined batch's;
//! - rank 0 alone writes checkpoints, the model, the loss log, sheets and plots, and alone reads
//!   the checkpoint when resuming (or the initial `weights`): its state is then broadcast, so a
//!   resumed distributed run continues exactly;
//! - stops (cancel, time budget) and rank 0's file errors are agreed on by all ranks at the end
//!   of each step, so every rank stops after the same step; an error inside a step on one rank
//!   (the others would wait for it forever) ends the job with `MPI_Abort`.
//!
//! The collectives come from `libwick_mpi.so` (crate `wick-mpi`, the rsmpi `mpi` crate over the
//! system's Open MPI or MPICH), loaded at run time only by a distributed run, so `libwick.so`
//! never links MPI. Its sum is a reduce to rank 0 followed by a broadcast: every rank holds the
//! same bits, and the ranks' parameters never drift apart (checked at every checkpoint).

use std::cell::RefCell;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use super::mode::Settings;
use super::Trainer;
use crate::weights::ModelError;

/// The `distributed` param's choices.
pub const DISTRIBUTED_CHOICES: [&str; 3] = ["auto", "off", "mpi"];

/// A group of ranks and the collectives a run needs. Every call is collective: all ranks make
/// the same calls in the same order.
pub trait Collective: Send + Sync {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// In-place sum over the ranks; every rank ends with the same bits.
    fn sum(&self, buf: &mut [f32]) -> Result<(), String>;
    /// In-place maximum over the ranks.
    fn max(&self, buf: &mut [f32]) -> Result<(), String>;
    /// Overwrites `buf` on every rank with `root`'s.
    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<(), String>;
    /// Ends every rank of the job (after an error that leaves the others waiting).
    fn abort(&self, code: i32) -> !;
    /// Ends the group (MPI_Finalize); no collective may follow.
    fn finish(&self) -> Result<(), String>;
    /// What carries the collectives, for logs.
    fn name(&self) -> String;
}

fn err(msg: impl Into<String>) -> ModelError {
    ModelError::BadInput(msg.into())
}

fn cerr(msg: String) -> candle_core::Error {
    candle_core::Error::Msg(format!("distributed training: {msg}"))
}

// ---------------------------------------------------------------------------------------------
// MPI through libwick_mpi.so

#[cfg(unix)]
mod mpi_lib {
    use std::ffi::{c_char, CStr};
    use std::path::Path;

    use once_cell::sync::OnceCell;

    type InitFn = unsafe extern "C" fn(*mut i32, *mut i32) -> i32;
    type BufFn = unsafe extern "C" fn(*mut f32, usize) -> i32;
    type BcastFn = unsafe extern "C" fn(*mut f32, usize, i32) -> i32;
    type UnitFn = unsafe extern "C" fn() -> i32;
    type AbortFn = unsafe extern "C" fn(i32);
    type StrFn = unsafe extern "C" fn() -> *const c_char;
    type AbiFn = unsafe extern "C" fn() -> u32;

    /// The functions of a loaded `libwick_mpi.so` (see the `wick-mpi` crate); the library stays
    /// loaded for the life of the process (MPI libraries do not survive being unloaded).
    pub struct Lib {
        _lib: libloading::os::unix::Library,
        init: InitFn,
        sum: BufFn,
        max: BufFn,
        bcast: BcastFn,
        finalize: UnitFn,
        abort: AbortFn,
        last_error: StrFn,
        library: StrFn,
    }

    static LIB: OnceCell<Lib> = OnceCell::new();

    fn cstr(p: *const c_char) -> String {
        if p.is_null() {
            return String::new();
        }
        // SAFETY: the library returns NUL-terminated strings it keeps alive.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    impl Lib {
        pub fn load(path: &Path) -> Result<&'static Lib, String> {
            LIB.get_or_try_init(|| {
                // RTLD_GLOBAL: Open MPI's components resolve symbols of libmpi, which this
                // library brings in.
                let flags = libc::RTLD_NOW | libc::RTLD_GLOBAL;
                // SAFETY: loading runs the library's initialisers; libwick_mpi.so has none of
                // its own beyond Rust's and MPI's.
                let lib = unsafe { libloading::os::unix::Library::open(Some(path), flags) }
                    .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
                // SAFETY: each symbol is declared with the type the wick-mpi crate exports it
                // with (ABI version checked first).
                unsafe {
                    let abi: AbiFn = *lib
                        .get::<AbiFn>(b"wick_mpi_abi\0")
                        .map_err(|e| format!("{}: not a libwick_mpi ({e})", path.display()))?;
                    if abi() != 1 {
                        return Err(format!(
                            "{}: wick_mpi ABI {} (this plugin speaks 1): rebuild it from the \
                             same source as the plugin",
                            path.display(),
                            abi()
                        ));
                    }
                    macro_rules! sym {
                        ($t:ty, $n:literal) => {
                            *lib.get::<$t>($n)
                                .map_err(|e| format!("{}: {e}", path.display()))?
                        };
                    }
                    Ok(Lib {
                        init: sym!(InitFn, b"wick_mpi_init\0"),
                        sum: sym!(BufFn, b"wick_mpi_sum_f32\0"),
                        max: sym!(BufFn, b"wick_mpi_max_f32\0"),
                        bcast: sym!(BcastFn, b"wick_mpi_bcast_f32\0"),
                        finalize: sym!(UnitFn, b"wick_mpi_finalize\0"),
                        abort: sym!(AbortFn, b"wick_mpi_abort\0"),
                        last_error: sym!(StrFn, b"wick_mpi_last_error\0"),
                        library: sym!(StrFn, b"wick_mpi_library\0"),
                        _lib: lib,
                    })
                }
            })
        }

        fn check(&self, rc: i32) -> Result<(), String> {
            if rc == 0 {
                Ok(())
            } else {
                // SAFETY: a plain getter of the calling thread's message.
                Err(cstr(unsafe { (self.last_error)() }))
            }
        }

        pub fn init(&self) -> Result<(usize, usize), String> {
            let (mut r, mut s) = (0i32, 0i32);
            // SAFETY: valid out-pointers.
            self.check(unsafe { (self.init)(&mut r, &mut s) })?;
            if r < 0 || s < 1 || r >= s {
                return Err(format!("MPI reported rank {r} of {s}"));
            }
            Ok((r as usize, s as usize))
        }

        pub fn sum(&self, b: &mut [f32]) -> Result<(), String> {
            // SAFETY: `b` is a valid, writable buffer of `b.len()` floats.
            self.check(unsafe { (self.sum)(b.as_mut_ptr(), b.len()) })
        }

        pub fn max(&self, b: &mut [f32]) -> Result<(), String> {
            // SAFETY: as `sum`.
            self.check(unsafe { (self.max)(b.as_mut_ptr(), b.len()) })
        }

        pub fn bcast(&self, b: &mut [f32], root: usize) -> Result<(), String> {
            // SAFETY: as `sum`.
            self.check(unsafe { (self.bcast)(b.as_mut_ptr(), b.len(), root as i32) })
        }

        pub fn finalize(&self) -> Result<(), String> {
            // SAFETY: no arguments.
            self.check(unsafe { (self.finalize)() })
        }

        pub fn abort(&self, code: i32) -> ! {
            // SAFETY: no pointers; MPI_Abort does not return.
            unsafe { (self.abort)(code) };
            std::process::exit(code)
        }

        pub fn library(&self) -> String {
            // SAFETY: a static string getter.
            cstr(unsafe { (self.library)() })
        }
    }
}

/// MPI's world communicator, through `libwick_mpi.so`.
#[cfg(unix)]
struct Mpi {
    lib: &'static mpi_lib::Lib,
    rank: usize,
    size: usize,
}

#[cfg(unix)]
impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn sum(&self, buf: &mut [f32]) -> Result<(), String> {
        self.lib.sum(buf)
    }
    fn max(&self, buf: &mut [f32]) -> Result<(), String> {
        self.lib.max(buf)
    }
    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<(), String> {
        self.lib.bcast(buf, root)
    }
    fn abort(&self, code: i32) -> ! {
        self.lib.abort(code)
    }
    fn finish(&self) -> Result<(), String> {
        self.lib.finalize()
    }
    fn name(&self) -> String {
        self.lib.library()
    }
}

/// Where `libwick_mpi.so` is looked for: `$WICK_MPI_LIB`, else beside the loaded Wick
/// library (where `cargo build -p wick-mpi --features mpi` puts it), else the loader's path.
pub fn mpi_lib_path() -> PathBuf {
    if let Some(p) = std::env::var_os("WICK_MPI_LIB") {
        return PathBuf::from(p);
    }
    if let Some(d) = crate::weights::library_dir() {
        let p = d.join("libwick_mpi.so");
        if p.is_file() {
            return p;
        }
    }
    PathBuf::from("libwick_mpi.so")
}

#[cfg(unix)]
fn connect_mpi() -> Result<Arc<dyn Collective>, ModelError> {
    let path = mpi_lib_path();
    let lib = mpi_lib::Lib::load(&path).map_err(|e| {
        err(format!(
            "distributed training needs libwick_mpi.so ({e}); build it with \
             scripts/farm/mpi-build.sh (cargo build --release -p wick-mpi --features mpi) so \
             that it lies beside libwick.so, or point WICK_MPI_LIB at it"
        ))
    })?;
    let (rank, size) = lib
        .init()
        .map_err(|e| err(format!("MPI init failed: {e}")))?;
    Ok(Arc::new(Mpi { lib, rank, size }))
}

#[cfg(not(unix))]
fn connect_mpi() -> Result<Arc<dyn Collective>, ModelError> {
    Err(err("distributed training (MPI) is only built for Unix"))
}

// ---------------------------------------------------------------------------------------------
// Launch environment

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// The world size an MPI launcher announced to this process, and the variable that said so:
/// Open MPI's `mpirun` (`OMPI_COMM_WORLD_SIZE`), MPICH/Intel MPI's Hydra and PMI-2 (`PMI_SIZE`),
/// a Slurm job step started by `srun` (`SLURM_STEP_NUM_TASKS`).
pub fn launcher_size() -> Option<(usize, &'static str)> {
    for v in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"] {
        if let Some(n) = env_usize(v) {
            return Some((n, v));
        }
    }
    None
}

/// This process's rank as the launcher announced it (for logs before MPI is up).
pub fn launcher_rank() -> Option<usize> {
    ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"]
        .iter()
        .find_map(|v| env_usize(v))
}

// ---------------------------------------------------------------------------------------------
// The run's view

/// A distributed run's group: the collectives, this rank, and the sync interval.
pub struct Dist {
    comm: Arc<dyn Collective>,
    pub rank: usize,
    pub size: usize,
    /// Gradients every step (1), or parameters averaged every K local steps (K > 1).
    pub sync_every: u64,
}

impl std::fmt::Debug for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rank {}/{} sync {}",
            self.rank, self.size, self.sync_every
        )
    }
}

/// The sync interval: the `sync_every` param when set (> 0), else `COPYCAT_SYNC_INTERVAL`,
/// else 1.
pub fn sync_interval(s: &Settings) -> Result<u64, ModelError> {
    let p = s.i64("sync_every");
    if p > 0 {
        return Ok(p as u64);
    }
    match std::env::var("COPYCAT_SYNC_INTERVAL") {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(err(format!(
                "COPYCAT_SYNC_INTERVAL='{v}': expected a whole number of steps, at least 1"
            ))),
        },
        Err(_) => Ok(1),
    }
}

impl Dist {
    /// A group over `comm` (tests use an in-process group).
    pub fn new(comm: Arc<dyn Collective>, sync_every: u64) -> Self {
        Dist {
            rank: comm.rank(),
            size: comm.size(),
            comm,
            sync_every: sync_every.max(1),
        }
    }

    /// The group the settings and the launch environment ask for, or `None` for a
    /// single-process run. `distributed = auto` joins MPI when an MPI launcher (or
    /// `COPYCAT_WORLD_SIZE`) announces more than one process, `mpi` always, `off` never.
    /// `COPYCAT_WORLD_SIZE` / `COPYCAT_RANK`, when set, must agree with MPI's world (Wick takes
    /// the ranks from the MPI launcher; `COPYCAT_MAIN_ADDR` / `COPYCAT_MAIN_PORT` are not used).
    pub fn from_settings(s: &Settings) -> Result<Option<Dist>, ModelError> {
        let choice = s.str("distributed");
        let copycat_size = env_usize("COPYCAT_WORLD_SIZE");
        let launched = launcher_size();
        let want = match choice.as_str() {
            "off" => false,
            "mpi" => true,
            "auto" | "" => {
                launched.map(|(n, _)| n > 1).unwrap_or(false) || copycat_size.unwrap_or(1) > 1
            }
            other => {
                return Err(err(format!(
                    "param 'distributed': '{other}' is not one of {}",
                    DISTRIBUTED_CHOICES.join(", ")
                )))
            }
        };
        if !want {
            return Ok(None);
        }
        let sync_every = sync_interval(s)?;
        let comm = connect_mpi()?;
        let (rank, size) = (comm.rank(), comm.size());
        let mismatch = |what: String| -> ModelError {
            err(format!(
                "{what}, but MPI's world has rank {rank} of {size}: start the ranks with an MPI \
                 launcher (mpirun -np N ..., or srun -n N --mpi=pmix ... under Slurm), which \
                 gives each process its rank; Wick does not rendezvous through \
                 COPYCAT_MAIN_ADDR/PORT"
            ))
        };
        if let Some((n, var)) = launched {
            if n != size {
                return Err(mismatch(format!("{var}={n}")));
            }
        }
        if let Some(n) = copycat_size {
            if n != size {
                return Err(mismatch(format!("COPYCAT_WORLD_SIZE={n}")));
            }
        }
        if let Some(r) = env_usize("COPYCAT_RANK") {
            if r != rank {
                return Err(mismatch(format!("COPYCAT_RANK={r}")));
            }
        }
        Ok(Some(Dist::new(comm, sync_every)))
    }

    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// What carries the collectives (e.g. "Open MPI v4.1.4").
    pub fn engine(&self) -> String {
        self.comm.name()
    }

    fn wrap(&self, r: Result<(), String>) -> Result<(), ModelError> {
        r.map_err(|e| err(format!("distributed training (rank {}): {e}", self.rank)))
    }

    /// Whether any rank's flag is set (one collective).
    pub fn any(&self, flags: &[bool]) -> Result<Vec<bool>, ModelError> {
        let mut b: Vec<f32> = flags.iter().map(|&f| f as u8 as f32).collect();
        self.wrap(self.comm.max(&mut b))?;
        Ok(b.into_iter().map(|x| x > 0.0).collect())
    }

    /// The ranks that set `flag` (one collective).
    pub fn which(&self, flag: bool) -> Result<Vec<usize>, ModelError> {
        let mut b = vec![0f32; self.size];
        b[self.rank] = flag as u8 as f32;
        self.wrap(self.comm.max(&mut b))?;
        Ok((0..self.size).filter(|&r| b[r] > 0.0).collect())
    }

    /// Ends every rank (MPI_Abort) after printing `msg`: for errors the other ranks cannot
    /// learn of (they would wait in the next collective forever).
    pub fn abort(&self, msg: &str, code: i32) -> ! {
        eprintln!(
            "wick: distributed training: rank {} of {} failed, ending the job: {msg}",
            self.rank, self.size
        );
        self.comm.abort(code)
    }

    /// Ends the group (MPI_Finalize). Every rank calls it once, after its last collective.
    pub fn finish(&self) -> Result<(), ModelError> {
        self.wrap(self.comm.finish())
    }

    /// This rank's share of a global batch of `batch` items.
    pub fn share(&self, batch: usize) -> Range<usize> {
        share(self.rank, self.size, batch)
    }

    /// Sets what one training step of `batch` items needs (see [`shard`], [`reduce_grads`])
    /// until the guard drops.
    pub(crate) fn enter_step(&self, batch: usize) -> StepGuard {
        let ctx = StepCtx {
            comm: self.comm.clone(),
            rank: self.rank,
            size: self.size,
            batch,
            sync_grads: self.sync_every == 1,
        };
        STEP.with(|s| *s.borrow_mut() = Some(ctx));
        StepGuard
    }

    /// The combined batch's loss and parts from this rank's (each weighted by the share).
    pub(crate) fn combine(
        &self,
        loss: f32,
        parts: &mut [(&'static str, f32)],
        batch: usize,
    ) -> Result<f32, ModelError> {
        let w = self.share(batch).len() as f32 / batch as f32;
        let mut b: Vec<f32> = std::iter::once(loss)
            .chain(parts.iter().map(|p| p.1))
            .map(|x| x * w)
            .collect();
        self.wrap(self.comm.sum(&mut b))?;
        for (p, v) in parts.iter_mut().zip(&b[1..]) {
            p.1 = *v;
        }
        Ok(b[0])
    }

    /// Gives every rank rank 0's whole training state (parameters, optimiser moments, step),
    /// after rank 0 resumed or loaded initial weights. Ranks built with other settings (another
    /// network) are refused on every rank.
    pub fn broadcast_state(&self, t: &mut Trainer) -> Result<(), ModelError> {
        let tensors = t.checkpoint_tensors()?;
        let mut names: Vec<String> = tensors.keys().cloned().collect();
        names.sort();
        // Header: element count, tensor count and a hash of the names and shapes.
        let layout: Vec<(String, Vec<usize>)> = names
            .iter()
            .map(|n| (n.clone(), tensors[n].dims().to_vec()))
            .collect();
        let total: usize = layout
            .iter()
            .map(|(_, d)| d.iter().product::<usize>())
            .sum();
        let mine = header(total, &layout, &t.arch());
        let mut theirs = mine.clone();
        self.wrap(self.comm.broadcast(&mut theirs, 0))?;
        let differs = self.which(theirs != mine)?;
        if !differs.is_empty() {
            return Err(err(format!(
                "distributed training: rank(s) {differs:?} build another network than rank 0 \
                 (every rank must run the same config: mode, model size, crop, seed, ...)"
            )));
        }
        let mut buf = flatten(&names, &tensors)?;
        self.wrap(self.comm.broadcast(&mut buf, 0))?;
        if !self.is_root() {
            let got = unflatten(&names, &tensors, &buf)?;
            t.apply_checkpoint(&got, Path::new("(rank 0's state)"))?;
        }
        Ok(())
    }

    /// Averages parameters and Adam moments over the ranks (`sync_every` > 1).
    pub fn average_state(&self, t: &mut Trainer) -> Result<(), ModelError> {
        let mut tensors = t.checkpoint_tensors()?;
        let names: Vec<String> = {
            let mut n: Vec<String> = tensors.keys().filter(|k| averaged(k)).cloned().collect();
            n.sort();
            n
        };
        let mut buf = flatten(&names, &tensors)?;
        self.wrap(self.comm.sum(&mut buf))?;
        let inv = 1.0 / self.size as f32;
        buf.iter_mut().for_each(|x| *x *= inv);
        let got = unflatten(&names, &tensors, &buf)?;
        tensors.extend(got);
        t.apply_checkpoint(&tensors, Path::new("(averaged state)"))
    }

    /// Whether every rank passed the same `h` (one collective).
    fn same_everywhere(&self, h: u64) -> Result<bool, ModelError> {
        // 16-bit pieces are exact in f32; the max of x and of -x give the max and the min.
        let pieces: Vec<f32> = (0..4).map(|i| ((h >> (16 * i)) & 0xffff) as f32).collect();
        let mut b: Vec<f32> = pieces
            .iter()
            .copied()
            .chain(pieces.iter().map(|x| -x))
            .collect();
        self.wrap(self.comm.max(&mut b))?;
        Ok((0..4).all(|i| b[i] == -b[i + 4]))
    }

    /// Checks that every rank holds the same parameters and optimiser state (bit for bit).
    pub fn check_same(&self, t: &Trainer) -> Result<(), ModelError> {
        let tensors = t.checkpoint_tensors()?;
        let mut names: Vec<String> = tensors.keys().cloned().collect();
        names.sort();
        let h = fnv(flatten(&names, &tensors)?
            .iter()
            .flat_map(|x| x.to_le_bytes()));
        if !self.same_everywhere(h)? {
            return Err(err(format!(
                "distributed training: the ranks' models differ at step {} (a bug: please \
                 report it with the config)",
                t.steps_done()
            )));
        }
        Ok(())
    }

    /// Checks that every rank runs with the settings that decide the steps and their
    /// collectives (a rank with another `steps` or `checkpoint_every` would wait in a
    /// collective the others never make).
    pub fn check_settings(&self, s: &Settings) -> Result<(), ModelError> {
        let mut text = String::new();
        for name in [
            "mode",
            "steps",
            "batch",
            "crop",
            "lr",
            "seed",
            "checkpoint_every",
            "sheet_every",
            "max_images",
            "holdout",
        ] {
            text.push_str(&format!("{name}={:?};", s.get(name)));
        }
        text.push_str(&format!("budget={};", s.f64("max_seconds") > 0.0));
        text.push_str(&format!("sync={};", self.sync_every));
        if !self.same_everywhere(fnv(text.bytes()))? {
            return Err(err(
                "distributed training: the ranks run different settings (steps, batch, crop, \
                 lr, seed, checkpoint_every, sheet_every, sync_every, ...): start every rank with \
                 the same config",
            ));
        }
        Ok(())
    }
}

/// Rank `rank` of `size`'s share of `batch` items: `rank·B/N .. (rank+1)·B/N`.
pub fn share(rank: usize, size: usize, batch: usize) -> Range<usize> {
    rank * batch / size..(rank + 1) * batch / size
}

/// Tensors averaged by [`Dist::average_state`]: parameters and Adam moments, not the counters
/// (`train.*`, `opt.N.t`) or `wick.arch`.
fn averaged(name: &str) -> bool {
    if name.starts_with("train.") || name == "wick.arch" {
        return false;
    }
    if let Some(rest) = name.strip_prefix("opt.") {
        let rest = rest.split_once('.').map(|(_, r)| r).unwrap_or("");
        return rest.starts_with("m.") || rest.starts_with("v.");
    }
    true
}

fn header(total: usize, layout: &[(String, Vec<usize>)], arch: &[f32]) -> Vec<f32> {
    let mut text = format!("{arch:?}");
    for (n, d) in layout {
        text.push_str(&format!("{n}{d:?};"));
    }
    let h = fnv(text.bytes());
    let mut v = vec![layout.len() as f32];
    // Exact pieces of the element count and the hash.
    v.extend((0..4).map(|i| ((total as u64 >> (16 * i)) & 0xffff) as f32));
    v.extend((0..4).map(|i| ((h >> (16 * i)) & 0xffff) as f32));
    v
}

fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn flatten(
    names: &[String],
    t: &std::collections::HashMap<String, Tensor>,
) -> Result<Vec<f32>, ModelError> {
    let mut buf = Vec::new();
    for n in names {
        buf.extend(t[n].to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(buf)
}

fn unflatten(
    names: &[String],
    like: &std::collections::HashMap<String, Tensor>,
    buf: &[f32],
) -> Result<std::collections::HashMap<String, Tensor>, ModelError> {
    let mut out = std::collections::HashMap::new();
    let mut off = 0;
    for n in names {
        let l = &like[n];
        let k = l.elem_count();
        let v =
            Tensor::from_slice(&buf[off..off + k], l.dims(), l.device())?.to_dtype(l.dtype())?;
        out.insert(n.clone(), v);
        off += k;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Inside a step: what the crop sampler, the noise draws and Adam consult

#[derive(Clone)]
struct StepCtx {
    comm: Arc<dyn Collective>,
    rank: usize,
    size: usize,
    batch: usize,
    sync_grads: bool,
}

thread_local! {
    static STEP: RefCell<Option<StepCtx>> = const { RefCell::new(None) };
}

/// Clears the step context when dropped.
pub(crate) struct StepGuard;

impl Drop for StepGuard {
    fn drop(&mut self) {
        STEP.with(|s| *s.borrow_mut() = None);
    }
}

fn current() -> Option<StepCtx> {
    STEP.with(|s| s.borrow().clone())
}

/// During a data-parallel step, the rows of an `n`-row draw this rank trains on (`n` is the
/// global batch: crops, noise); `None` otherwise (every row).
pub(crate) fn shard_rows(n: usize) -> Option<Range<usize>> {
    let c = current()?;
    (n == c.batch && c.size > 1).then(|| share(c.rank, c.size, n))
}

/// [`shard_rows`] applied to a drawn batch.
pub(crate) fn shard<T: Clone>(v: Vec<T>) -> Vec<T> {
    match shard_rows(v.len()) {
        Some(r) => v[r].to_vec(),
        None => v,
    }
}

/// During a data-parallel step that syncs gradients: `vars`' gradients summed over the ranks,
/// each rank's weighted by its share of the batch (so the sum is the combined batch's gradient
/// for losses that average over the batch). `None` outside such a step: use `grads` as they are.
pub(crate) fn reduce_grads(
    vars: &[(String, Var)],
    grads: &GradStore,
) -> candle_core::Result<Option<Vec<Option<Tensor>>>> {
    let Some(c) = current() else {
        return Ok(None);
    };
    if !c.sync_grads {
        return Ok(None);
    }
    let w = share(c.rank, c.size, c.batch).len() as f32 / c.batch as f32;
    let total: usize = vars.iter().map(|(_, v)| v.elem_count()).sum();
    let mut buf = Vec::with_capacity(total);
    let mut present = Vec::with_capacity(vars.len());
    for (_, v) in vars {
        match grads.get(v.as_tensor()) {
            Some(g) => {
                let g = g.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                buf.extend(g.into_iter().map(|x| x * w));
                present.push(true);
            }
            None => {
                buf.extend(std::iter::repeat_n(0f32, v.elem_count()));
                present.push(false);
            }
        }
    }
    c.comm.sum(&mut buf).map_err(cerr)?;
    let mut out = Vec::with_capacity(vars.len());
    let mut off = 0;
    for ((_, v), p) in vars.iter().zip(present) {
        let k = v.elem_count();
        out.push(if p {
            Some(
                Tensor::from_slice(&buf[off..off + k], v.dims(), v.device())?
                    .to_dtype(v.dtype())?,
            )
        } else {
            None
        });
        off += k;
    }
    Ok(Some(out))
}

// ---------------------------------------------------------------------------------------------
// An in-process group (tests): ranks are threads

/// Ranks as threads of one process, with the same semantics as MPI (the sum is computed in
/// rank order, identically on every rank). For tests of the data-parallel logic without an
/// MPI launcher.
pub mod local {
    use std::sync::{Arc, Barrier, Mutex};

    use super::Collective;

    struct Shared {
        slots: Mutex<Vec<Vec<f32>>>,
        barrier: Barrier,
    }

    /// One rank of an in-process group.
    pub struct LocalRank {
        rank: usize,
        size: usize,
        shared: Arc<Shared>,
    }

    /// A group of `size` ranks, one handle per thread.
    pub fn group(size: usize) -> Vec<LocalRank> {
        let shared = Arc::new(Shared {
            slots: Mutex::new(vec![Vec::new(); size]),
            barrier: Barrier::new(size),
        });
        (0..size)
            .map(|rank| LocalRank {
                rank,
                size,
                shared: shared.clone(),
            })
            .collect()
    }

    impl LocalRank {
        fn exchange(&self, buf: &mut [f32], f: impl Fn(&[Vec<f32>], &mut [f32])) {
            self.shared.slots.lock().expect("slots")[self.rank] = buf.to_vec();
            self.shared.barrier.wait();
            {
                let slots = self.shared.slots.lock().expect("slots");
                f(&slots, buf);
            }
            self.shared.barrier.wait();
        }
    }

    impl Collective for LocalRank {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn sum(&self, buf: &mut [f32]) -> Result<(), String> {
            self.exchange(buf, |s, b| {
                for (i, x) in b.iter_mut().enumerate() {
                    *x = s.iter().fold(0.0, |a, v| a + v[i]);
                }
            });
            Ok(())
        }
        fn max(&self, buf: &mut [f32]) -> Result<(), String> {
            self.exchange(buf, |s, b| {
                for (i, x) in b.iter_mut().enumerate() {
                    *x = s.iter().fold(f32::NEG_INFINITY, |a, v| a.max(v[i]));
                }
            });
            Ok(())
        }
        fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<(), String> {
            self.exchange(buf, |s, b| b.copy_from_slice(&s[root]));
            Ok(())
        }
        fn abort(&self, code: i32) -> ! {
            panic!("rank {} aborted the group (code {code})", self.rank)
        }
        fn finish(&self) -> Result<(), String> {
            Ok(())
        }
        fn name(&self) -> String {
            format!("in-process group of {}", self.size)
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::train::{Mode, TrainConfig, TrainData, Trainer};

    /// A smooth synthetic image `[3, h, w]` in 0..1, different per `k`.
    fn image(k: usize, h: usize, w: usize) -> Tensor {
        let mut v = Vec::with_capacity(3 * h * w);
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    let t = (x as f32 * 0.13 + y as f32 * 0.07 * (c + 1) as f32 + k as f32).sin();
                    v.push(0.5 + 0.45 * t);
                }
            }
        }
        Tensor::from_vec(v, (3, h, w), &Device::Cpu).unwrap()
    }

    fn config(mode: Mode) -> TrainConfig {
        let mut c = TrainConfig::new(mode);
        c.seed = 3;
        c.batch = 4;
        c.crop = 32;
        c.perceptual_weight = 0.0;
        c
    }

    fn data(mode: Mode) -> TrainData {
        let imgs = |o: usize| (0..3).map(|k| image(k + o, 40, 44)).collect::<Vec<_>>();
        match mode.name() {
            "pairs" => TrainData::Pairs {
                inputs: imgs(0),
                targets: imgs(0)
                    .into_iter()
                    .map(|t| ((t * 0.8).unwrap() + 0.1).unwrap())
                    .collect(),
            },
            "unpaired" => TrainData::Unpaired {
                a: imgs(0),
                b: imgs(5),
            },
            _ => TrainData::Images(imgs(0)),
        }
    }

    fn trainer(mode: Mode) -> Trainer {
        Trainer::new(config(mode), data(mode), None, &Device::Cpu).unwrap()
    }

    fn params(t: &Trainer) -> Vec<(String, Vec<f32>)> {
        let mut v: Vec<(String, Vec<f32>)> = t
            .mode
            .params()
            .tensors()
            .into_iter()
            .map(|(k, x)| (k, x.flatten_all().unwrap().to_vec1().unwrap()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn max_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
        a.iter()
            .zip(b)
            .flat_map(|((_, x), (_, y))| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
            .fold(0.0, f32::max)
    }

    /// ‖a − b‖ / ‖a‖ over every parameter.
    fn rel_l2(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f64 {
        let (mut d, mut n) = (0f64, 0f64);
        for ((_, x), (_, y)) in a.iter().zip(b) {
            for (p, q) in x.iter().zip(y) {
                d += ((p - q) as f64).powi(2);
                n += (*p as f64).powi(2);
            }
        }
        (d / n).sqrt()
    }

    /// Trains `steps` steps on `ranks` threads (an in-process group); returns every rank's
    /// losses and final parameters.
    /// Per rank: the losses and the final parameters.
    type RankRun = (Vec<f32>, Vec<(String, Vec<f32>)>);

    fn run_group(mode: Mode, ranks: usize, sync_every: u64, steps: usize) -> Vec<RankRun> {
        let handles: Vec<_> = local::group(ranks)
            .into_iter()
            .map(|r| {
                std::thread::spawn(move || {
                    let mut t = trainer(mode);
                    let d = Arc::new(Dist::new(Arc::new(r), sync_every));
                    t.set_dist(Some(d.clone())).unwrap();
                    d.broadcast_state(&mut t).unwrap();
                    let losses: Vec<f32> = (0..steps).map(|_| t.step().unwrap().loss).collect();
                    t.sync_ranks().unwrap();
                    d.check_same(&t).unwrap();
                    (losses, params(&t))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn shares_cover_the_batch() {
        for (n, b) in [(2, 4), (3, 4), (4, 4), (3, 10)] {
            let all: Vec<usize> = (0..n).flat_map(|r| share(r, n, b)).collect();
            assert_eq!(all, (0..b).collect::<Vec<_>>(), "{n} ranks, batch {b}");
        }
    }

    /// Two ranks with half the batch each train the same model as one process with the whole
    /// batch (pairs: crops; vae: crops and noise; unpaired: two crop sets, two optimisers).
    /// Tolerance: losses 1e-5 relative; parameters 1e-3 relative L2 (Adam turns a near-zero
    /// gradient whose last bits depend on the summation order into a step of up to ±lr, so a
    /// few single weights can differ by ~lr).
    #[test]
    fn two_ranks_equal_one_process_with_the_combined_batch() {
        for (mode, steps) in [
            (Mode::Pairs, 4),
            (Mode::Vae, 4),
            (Mode::parse("unpaired").unwrap(), 2),
        ] {
            let mut one = trainer(mode);
            let losses: Vec<f32> = (0..steps).map(|_| one.step().unwrap().loss).collect();
            let single = params(&one);
            let ranks = run_group(mode, 2, 1, steps);
            // Both ranks hold the same bits.
            assert_eq!(ranks[0].1, ranks[1].1, "{mode:?}: ranks differ");
            assert_eq!(
                ranks[0].0, ranks[1].0,
                "{mode:?}: losses differ between ranks"
            );
            let (d, rel) = (max_diff(&single, &ranks[0].1), rel_l2(&single, &ranks[0].1));
            let dl = losses
                .iter()
                .zip(&ranks[0].0)
                .map(|(a, b)| (a - b).abs() / a.abs().max(1e-6))
                .fold(0.0, f32::max);
            eprintln!(
                "{mode:?}: parameters relative L2 {rel:.2e} (max |diff| {d:.2e}), max rel loss \
                 diff {dl:.2e}"
            );
            assert!(rel < 1e-3, "{mode:?}: parameters differ: relative L2 {rel}");
            assert!(
                dl < 1e-4,
                "{mode:?}: losses differ by {dl} ({losses:?} vs {:?})",
                ranks[0].0
            );
        }
    }

    /// Uneven shares (3 ranks, batch 4) are weighted by their size.
    #[test]
    fn uneven_shares_are_weighted() {
        let mut one = trainer(Mode::Pairs);
        for _ in 0..3 {
            one.step().unwrap();
        }
        let ranks = run_group(Mode::Pairs, 3, 1, 3);
        let rel = rel_l2(&params(&one), &ranks[2].1);
        assert!(rel < 1e-3, "3 ranks: parameters differ: relative L2 {rel}");
    }

    /// Local steps with averaging every K: every rank ends with the same model, and it is not
    /// the one-process model (the ranks trained apart in between).
    #[test]
    fn averaging_every_k_keeps_ranks_together() {
        let ranks = run_group(Mode::Pairs, 2, 2, 3);
        assert_eq!(ranks[0].1, ranks[1].1);
        let mut one = trainer(Mode::Pairs);
        for _ in 0..3 {
            one.step().unwrap();
        }
        assert!(max_diff(&params(&one), &ranks[0].1) > 0.0);
    }

    #[test]
    fn too_small_a_batch_is_refused() {
        let mut t = trainer(Mode::Pairs);
        let r = local::group(8).into_iter().next().unwrap();
        let e = t
            .set_dist(Some(Arc::new(Dist::new(Arc::new(r), 1))))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("batch 4 is smaller than the 8 ranks"),
            "{e}"
        );
    }

    #[test]
    fn which_state_is_averaged() {
        assert!(averaged("enc.0.weight"));
        assert!(averaged("opt.0.m.enc.0.weight"));
        assert!(averaged("opt.1.v.d.w"));
        assert!(!averaged("opt.0.t"));
        assert!(!averaged("train.step"));
        assert!(!averaged("wick.arch"));
    }
}
