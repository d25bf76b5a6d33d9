//! Fuzz-style robustness: thousands of random argument combinations across every exported
//! function (random sizes, strides, lengths, enums, counts, param names and values, NULL
//! pointers; buffers are valid allocations of the declared length, with guard bytes on both
//! sides) must return documented statuses, never `WICK_ERR_INTERNAL` (a bug) except from the
//! test node asked to panic, never write outside the buffers, and never crash the host.
//!
//! CI runs 50,000 iterations (~1-3 s) with a fresh seed each run; the seed is printed first, and
//! `WICK_FUZZ_SEED=N cargo test --test fuzz` replays a run. `cargo test --test fuzz --
//! --ignored` runs 1,000,000 (`WICK_FUZZ_ITERATIONS` overrides both counts).

use std::ffi::{c_void, CString};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wick_host_sdk::ffi::{self, wick_frame, wick_instance, wick_process_args, wick_value};
use wick_host_sdk::Plugin;
use wick_tests::artifacts;

fn pick<'a, T>(rng: &mut ChaCha8Rng, v: &'a [T]) -> &'a T {
    &v[rng.gen_range(0..v.len())]
}

/// Bytes of known value on both sides of every frame buffer.
const GUARD: usize = 64;
const GUARD_BYTE: u8 = 0xA5;

/// A frame over a real buffer; its declared length never exceeds the allocation. `buf` holds
/// the allocation between two guards of [`GUARD`] bytes.
fn random_frame(rng: &mut ChaCha8Rng, buf: &mut Vec<u8>) -> wick_frame {
    let w = *pick(rng, &[0u32, 1, 2, 3, 7, 16, 33, 64, 40000, u32::MAX]);
    let h = *pick(rng, &[0u32, 1, 2, 5, 9, 24, 48, 40000, u32::MAX]);
    let sample = *pick(rng, &[0, 1, 2, 3, 3, -1, 4, 1000]);
    let channels = *pick(rng, &[3, 4, 4, 0, 1, 2, 5, -4]);
    let ss = [1i64, 2, 2, 4].get(sample as usize).copied().unwrap_or(1);
    let natural = w as i64 * channels.max(0) as i64 * ss;
    let stride = *pick(
        rng,
        &[
            natural,
            natural,
            natural + 13,
            natural - 1,
            0,
            -natural,
            i64::MAX,
            i64::MIN,
        ],
    );
    let need = (h as i64)
        .saturating_sub(1)
        .saturating_mul(stride)
        .saturating_add(natural);
    let alloc = if (0..4_000_000).contains(&need) && rng.gen_bool(0.8) {
        need as usize
    } else {
        rng.gen_range(0..4096)
    };
    buf.clear();
    buf.resize(GUARD, GUARD_BYTE);
    buf.resize(GUARD + alloc, 0);
    buf.resize(GUARD + alloc + GUARD, GUARD_BYTE);
    // Random float payloads too: NaNs and infinities in float frames.
    for b in buf[GUARD..GUARD + alloc].iter_mut().take(64) {
        *b = rng.gen();
    }
    let declared = if rng.gen_bool(0.9) {
        alloc as u64
    } else {
        (alloc as u64).saturating_sub(rng.gen_range(1..8))
    };
    wick_frame {
        data: if rng.gen_bool(0.05) {
            std::ptr::null_mut()
        } else {
            // SAFETY: GUARD < buf.len(): the allocation starts after the front guard.
            unsafe { buf.as_mut_ptr().add(GUARD) as *mut c_void }
        },
        data_len: declared,
        width: w,
        height: h,
        row_stride: stride,
        sample_type: sample,
        channels,
        alpha: *pick(rng, &[0, 1, 0, 2, -1]),
        color_space: *pick(rng, &[0, 1, 1, 5]),
    }
}

/// Panics when a guard byte around a frame buffer changed (an out-of-bounds write).
fn check_guards(buf: &[u8], what: &str, seed: u64, it: usize) {
    let n = buf.len();
    if n < 2 * GUARD {
        return;
    }
    let bad = buf[..GUARD]
        .iter()
        .chain(&buf[n - GUARD..])
        .any(|&b| b != GUARD_BYTE);
    assert!(
        !bad,
        "{what}: a guard byte changed (out-of-bounds write) at iteration {it} (seed {seed})"
    );
}

/// The seed: `WICK_FUZZ_SEED` when set (to replay a run), else a fresh one from the clock.
fn seed() -> u64 {
    match std::env::var("WICK_FUZZ_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("WICK_FUZZ_SEED={s} is not a u64")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0xF022),
    }
}

fn iterations(default: usize) -> usize {
    std::env::var("WICK_FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_calls_never_crash() {
    fuzz(iterations(50_000), seed());
}

/// The long run (not in CI): `cargo test --test fuzz -- --ignored`.
#[test]
#[ignore]
fn random_calls_never_crash_long() {
    fuzz(iterations(1_000_000), seed());
}

fn fuzz(iterations: usize, seed: u64) {
    // Printed first, so that a crash (which kills the process) still leaves it in the log.
    println!("fuzz: seed {seed}, {iterations} iterations (replay: WICK_FUZZ_SEED={seed})");
    eprintln!("fuzz: seed {seed}, {iterations} iterations (replay: WICK_FUZZ_SEED={seed})");
    std::env::set_var("WICK_ENABLE_TEST_NODES", "1");
    let plugin = Plugin::load(&artifacts().plugin).expect("load");
    let api = plugin.raw_api();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let node_ids: Vec<CString> = plugin
        .nodes()
        .iter()
        .map(|n| CString::new(n.id.as_str()).unwrap())
        .collect();
    let mut names: Vec<CString> = plugin
        .nodes()
        .iter()
        .flat_map(|n| {
            n.params
                .iter()
                .map(|p| CString::new(p.name.as_str()).unwrap())
        })
        .collect();
    names.push(CString::new("bogus").unwrap());
    names.push(CString::new("").unwrap());
    let strings: Vec<CString> = [
        "ok",
        "panic",
        "error",
        "cppn",
        "mixed",
        "rgb",
        "palette",
        "cpu",
        "cuda",
        "",
        "ünïcödé",
        "/no/such/file.safetensors",
        // A device as a weights or image path: refused by its type, nothing read (#16.2).
        "/dev/zero",
        "3:0.5,12:0.5",
    ]
    .iter()
    .map(|s| CString::new(*s).unwrap())
    .collect();
    let ok = std::cell::Cell::new(0usize);
    let err = std::cell::Cell::new(0usize);
    let count = |st: i32| {
        assert!(
            (0..=10).contains(&st),
            "status {st} is not a documented code (seed {seed})"
        );
        if st == ffi::WICK_OK {
            ok.set(ok.get() + 1)
        } else {
            err.set(err.get() + 1)
        }
    };
    let mut bufs: Vec<Vec<u8>> = (0..6).map(|_| Vec::new()).collect();
    let internal = std::cell::Cell::new(0usize);
    for it in 0..iterations {
        // A fresh instance now and then, of a random node (or an unknown id / NULL).
        let mut inst: *mut wick_instance = std::ptr::null_mut();
        let id_ptr = match rng.gen_range(0..10) {
            0 => std::ptr::null(),
            1 => strings[0].as_ptr(),
            _ => pick(&mut rng, &node_ids).as_ptr(),
        };
        let out_ptr: *mut *mut wick_instance = if rng.gen_bool(0.02) {
            std::ptr::null_mut()
        } else {
            &mut inst
        };
        count(unsafe { (api.instance_create)(id_ptr, out_ptr) });
        if inst.is_null() {
            continue;
        }
        for _ in 0..rng.gen_range(1..6) {
            // Random param set / get.
            let name = if rng.gen_bool(0.05) {
                std::ptr::null()
            } else {
                pick(&mut rng, &names).as_ptr()
            };
            let v = wick_value {
                type_: *pick(&mut rng, &[0, 1, 2, 3, 4, 5, 6, -1, 42]),
                number: *pick(
                    &mut rng,
                    &[
                        0.0,
                        0.5,
                        1.0,
                        -1.0,
                        1e300,
                        f64::NAN,
                        f64::INFINITY,
                        64.0,
                        3.0,
                    ],
                ),
                integer: *pick(&mut rng, &[0, 1, 2, -5, 64, 48, i64::MAX, i64::MIN, 7]),
                string: if rng.gen_bool(0.1) {
                    std::ptr::null()
                } else {
                    pick(&mut rng, &strings).as_ptr()
                },
                color: [rng.gen(), f64::NAN, 0.5, 1.0],
            };
            let vp: *const wick_value = if rng.gen_bool(0.03) {
                std::ptr::null()
            } else {
                &v
            };
            count(unsafe { (api.param_set)(inst, name, vp) });
            let mut got = v;
            count(unsafe {
                (api.param_get)(
                    inst,
                    name,
                    if rng.gen_bool(0.05) {
                        std::ptr::null_mut()
                    } else {
                        &mut got
                    },
                )
            });
        }
        // Random process call.
        let n_in = rng.gen_range(0..3usize);
        let n_out = *pick(&mut rng, &[0usize, 1, 1, 1, 2]);
        let (ins_bufs, out_bufs) = bufs.split_at_mut(3);
        let inputs: Vec<wick_frame> = ins_bufs
            .iter_mut()
            .take(n_in)
            .map(|b| random_frame(&mut rng, b))
            .collect();
        let outputs: Vec<wick_frame> = out_bufs
            .iter_mut()
            .take(n_out)
            .map(|b| random_frame(&mut rng, b))
            .collect();
        let args = wick_process_args {
            time: *pick(&mut rng, &[0.0, 1.5, -3.0, f64::NAN, 1e9]),
            frame: rng.gen(),
            input_count: if rng.gen_bool(0.05) { 7 } else { n_in as u32 },
            inputs: if n_in == 0 || rng.gen_bool(0.05) {
                std::ptr::null()
            } else {
                inputs.as_ptr()
            },
            output_count: if rng.gen_bool(0.05) { 9 } else { n_out as u32 },
            outputs: if n_out == 0 || rng.gen_bool(0.05) {
                std::ptr::null()
            } else {
                outputs.as_ptr()
            },
            progress: None,
            user_data: std::ptr::null_mut(),
        };
        // Out-of-range counts must never be trusted: only pass them with a NULL pointer.
        let args = if args.input_count as usize > n_in || args.output_count as usize > n_out {
            wick_process_args {
                inputs: std::ptr::null(),
                outputs: std::ptr::null(),
                ..args
            }
        } else {
            args
        };
        let ap: *const wick_process_args = if rng.gen_bool(0.03) {
            std::ptr::null()
        } else {
            &args
        };
        let st = unsafe { (api.process)(inst, ap) };
        count(st);
        let msg = unsafe { std::ffi::CStr::from_ptr((api.instance_last_error)(inst)) };
        let msg = msg.to_str().expect("UTF-8 message");
        // INTERNAL means a bug; the only expected one is the test node's deliberate panic.
        if st == ffi::WICK_ERR_INTERNAL {
            assert!(
                msg.contains("asked to panic"),
                "WICK_ERR_INTERNAL at iteration {it} (seed {seed}): {msg}"
            );
            internal.set(internal.get() + 1);
        }
        for (k, b) in bufs.iter().enumerate() {
            check_guards(b, &format!("frame buffer {k}"), seed, it);
        }
        // Descriptor calls with random indices and NULL outs.
        let mut d: *const ffi::wick_node_descriptor = std::ptr::null();
        let idx = *pick(&mut rng, &[0u32, 1, 2, 3, 100, u32::MAX]);
        count(unsafe {
            (api.node_descriptor)(
                idx,
                if rng.gen_bool(0.1) {
                    std::ptr::null_mut()
                } else {
                    &mut d
                },
            )
        });
        unsafe { (api.instance_destroy)(inst) };
        if rng.gen_bool(0.05) {
            // Double destroy and use-after-destroy are refused, not followed.
            unsafe { (api.instance_destroy)(inst) };
            count(unsafe { (api.process)(inst, &args) });
        }
        if it % 1000 == 0 {
            eprintln!(
                "fuzz: {it} iterations, {} ok, {} errors",
                ok.get(),
                err.get()
            );
        }
    }
    let (ok, err) = (ok.get(), err.get());
    println!(
        "fuzz: seed {seed}: {iterations} iterations, {ok} ok statuses, {err} error statuses \
         ({} from the test node's deliberate panic), no crash, no out-of-bounds write",
        internal.get()
    );
    assert!(err > ok, "most random calls must be refused");
    assert!(ok > 100, "some random calls must succeed ({ok})");
}
