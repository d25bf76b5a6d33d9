//! A small process-wide pool of f32 buffers for CPU inference code that allocates the same
//! large activations on every frame (the RIFE CPU path, the direct convolution's outputs, the
//! temporal stabiliser's full-size maps).
//!
//! Without it each multi-megabyte activation is a fresh `mmap`: the kernel maps and zeroes its
//! pages on first touch and unmaps them on free, which cost about a fifth of a RIFE frame on the
//! CPU (page faults, page clearing, `memset`). Buffers handed back with [`give`] are reused by
//! [`take`]; contents of a taken buffer are unspecified (stale data from an earlier use), so
//! every taker overwrites all of it. Bounded in count and bytes; anything beyond is freed.

use std::sync::Mutex;

const MAX_BUFFERS: usize = 48;
const MAX_BYTES: usize = 384 << 20;

static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` elements whose contents are unspecified (the caller overwrites all).
pub(crate) fn take(len: usize) -> Vec<f32> {
    let found = {
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        // The smallest buffer that fits without wasting more than half of it.
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 2 * len.max(1024))
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| pool.swap_remove(i))
    };
    match found {
        Some(mut v) => {
            // Shrinking keeps the old values; growing within the capacity zero-fills only the
            // new tail.
            v.resize(len, 0.0);
            v
        }
        None => vec![0.0; len],
    }
}

/// Hands a buffer back for reuse (dropped when the pool is full).
pub(crate) fn give(v: Vec<f32>) {
    if v.capacity() < 4096 {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    let bytes: usize = pool.iter().map(|b| b.capacity() * 4).sum();
    if pool.len() < MAX_BUFFERS && bytes + v.capacity() * 4 <= MAX_BYTES {
        pool.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_gives_the_requested_length() {
        let mut v = take(10_000);
        assert_eq!(v.len(), 10_000);
        v.fill(1.0);
        give(v);
        for len in [5_000, 10_000, 12_000, 30_000] {
            let v = take(len);
            assert_eq!(v.len(), len);
            give(v);
        }
    }
}
