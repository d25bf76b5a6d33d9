//! The last few values computed from frames, keyed by a hash of the frame: what a node measures
//! on a frame by itself is kept for the frame's next pair (a retime's pairs (f, f+1) and
//! (f+1, f+2) share a frame; an N× retime runs each pair N−1 times; the stabiliser chains frame
//! to frame). Process-wide where the users are (a `wick retime` runs two node instances side by
//! side on alternate pairs), so a value one instance computed serves the other.
//!
//! Nothing waits: two callers that miss the same key at once both compute it (a wait inside the
//! thread pool could wait on itself). A value must be a pure function of what its key hashes, so
//! a hit gives what computing would.

use std::sync::Mutex;

/// The newest values by key, at most `max` of them and `bytes` in all (by `size`), the newest
/// two always.
pub struct Recent<V> {
    entries: Mutex<Vec<(u64, V)>>,
    max: usize,
    bytes: usize,
    size: fn(&V) -> usize,
}

impl<V: Clone> Recent<V> {
    /// An empty store (usable in a `static`).
    pub const fn new(max: usize, bytes: usize, size: fn(&V) -> usize) -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
            max,
            bytes,
            size,
        }
    }

    /// The value kept for `key`, which becomes the newest.
    pub fn get(&self, key: u64) -> Option<V> {
        let mut v = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let i = v.iter().position(|(k, _)| *k == key)?;
        let e = v.remove(i);
        let out = e.1.clone();
        v.push(e);
        Some(out)
    }

    /// Keeps `value` for `key` as the newest, dropping the oldest beyond the limits.
    pub fn put(&self, key: u64, value: V) {
        let mut v = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        v.retain(|(k, _)| *k != key);
        v.push((key, value));
        let total = |v: &[(u64, V)]| v.iter().map(|e| (self.size)(&e.1)).sum::<usize>();
        while v.len() > 2 && (v.len() > self.max || total(&v) > self.bytes) {
            v.remove(0);
        }
    }

    /// The value for `key`: kept, else computed by `f` and kept.
    pub fn get_or(&self, key: u64, f: impl FnOnce() -> V) -> V {
        let ok: Result<V, std::convert::Infallible> = self.get_or_try(key, || Ok(f()));
        match ok {
            Ok(v) => v,
        }
    }

    /// [`Recent::get_or`] for a computation that can fail (a failure is not kept).
    pub fn get_or_try<E>(&self, key: u64, f: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let v = f()?;
        self.put(key, v.clone());
        Ok(v)
    }

    /// The keys kept, oldest first.
    pub fn keys(&self) -> Vec<u64> {
        let v = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        v.iter().map(|e| e.0).collect()
    }
}

/// A hash of `v`'s values (their bits: bit-equal slices hash equal) and length, from `seed`.
pub fn hash_f32(seed: u64, v: &[f32]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hs = foldhash::fast::FixedState::with_seed(seed).build_hasher();
    hs.write_usize(v.len());
    for pair in v.chunks(2) {
        let lo = pair[0].to_bits() as u64;
        let hi = pair.get(1).map_or(0, |x| x.to_bits()) as u64;
        hs.write_u64(lo | hi << 32);
    }
    hs.finish()
}

/// One key from two (e.g. a network's and a frame's).
pub fn mix(a: u64, b: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hs = foldhash::fast::FixedState::with_seed(0x5245_4345).build_hasher();
    hs.write_u64(a);
    hs.write_u64(b);
    hs.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At most `max` entries within `bytes`, the newest two always; a lookup makes an entry the
    /// newest; `get_or` computes only on a miss.
    #[test]
    fn keeps_the_newest() {
        let c: Recent<Vec<f32>> = Recent::new(4, 1000, |v| v.len() * 4);
        for k in 0..6u64 {
            c.put(k, vec![k as f32; 4]);
        }
        assert_eq!(c.keys(), vec![2, 3, 4, 5]);
        assert_eq!(c.get(2).unwrap()[0], 2.0);
        c.put(6, vec![6.0; 4]);
        // 2 was used last before 6, so 3 went.
        assert_eq!(c.keys(), vec![4, 5, 2, 6]);
        c.put(7, vec![0.0; 200]);
        c.put(8, vec![0.0; 200]);
        // Over the byte budget: only the newest two stay.
        assert_eq!(c.keys(), vec![7, 8]);
        let mut calls = 0;
        assert_eq!(
            c.get_or(8, || {
                calls += 1;
                vec![]
            })
            .len(),
            200
        );
        assert_eq!(
            c.get_or(9, || {
                calls += 1;
                vec![1.0]
            }),
            vec![1.0]
        );
        assert_eq!(calls, 1);
        // A failed computation is not kept.
        assert_eq!(c.get_or_try(10, || Err::<Vec<f32>, _>("no")), Err("no"));
        assert!(!c.keys().contains(&10));
        assert_eq!(c.get_or_try(9, || Err::<Vec<f32>, _>("no")), Ok(vec![1.0]));
    }

    /// The hash tells values, lengths and seeds apart, and equal slices hash equal.
    #[test]
    fn hash_tells_values_apart() {
        let v = vec![0.25f32; 72];
        let k = hash_f32(1, &v);
        assert_eq!(k, hash_f32(1, &v.clone()));
        let mut u = v.clone();
        u[40] = 0.2500001;
        assert_ne!(k, hash_f32(1, &u));
        assert_ne!(k, hash_f32(2, &v));
        assert_ne!(k, hash_f32(1, &v[..71]));
        assert_ne!(mix(1, 2), mix(2, 1));
        assert_eq!(mix(1, 2), mix(1, 2));
    }
}
