//! Popcount Hamming distance for `hnsw_rs`, shared by the benches and the `hnsw_rs_peer`
//! example that measure that library as the baseline (included with `#[path]`).

use hnsw_rs::prelude::Distance;

/// Hamming distance between two hashes held as `u64` words, as an `hnsw_rs` distance.
#[derive(Clone, Copy, Default)]
pub struct Popcount;

impl Distance<u64> for Popcount {
    fn eval(&self, a: &[u64], b: &[u64]) -> f32 {
        ham(a, b) as f32
    }
}

/// Differing bits between two word slices.
pub fn ham(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}
