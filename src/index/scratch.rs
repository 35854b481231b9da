//! [`SearchScratch`]: the caller-owned buffers a search works in.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::Match;

/// Reusable buffers for searches: results, the HNSW visited set and heaps.
///
/// Create one per thread and pass it to every search; buffers grow to the largest query seen
/// and are then reused, so a warmed-up scratch makes searches allocation-free. The visited set
/// takes 4 bytes per indexed hash once an HNSW search has run ([`SearchScratch::for_index`]
/// allocates it up front).
#[derive(Debug, Default, Clone)]
pub struct SearchScratch {
    pub(crate) results: Vec<Match>,
    pub(crate) visited: Vec<u32>,
    pub(crate) epoch: u32,
    pub(crate) candidates: BinaryHeap<Reverse<(u32, u32)>>,
    pub(crate) best: BinaryHeap<(u32, u32)>,
    pub(crate) neighbours: Vec<u32>,
    pub(crate) probes: Vec<super::mih::Probe>,
    pub(crate) candidate_ids: Vec<u32>,
}

impl SearchScratch {
    /// An empty scratch; it grows on first use.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A scratch sized for an index of `num_hashes` hashes, so that even the first search does
    /// not allocate for its visited set.
    #[must_use]
    pub fn for_index(num_hashes: usize) -> Self {
        SearchScratch {
            visited: vec![0; num_hashes],
            results: Vec::with_capacity(64),
            ..Self::default()
        }
    }

    /// Starts a new visited generation over `n` nodes; O(1) except when the set grows or the
    /// epoch counter wraps.
    pub(crate) fn new_visit(&mut self, n: usize) {
        if self.visited.len() < n {
            self.visited.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.visited.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `node`; returns whether it was unvisited.
    #[inline]
    pub(crate) fn visit(&mut self, node: u32) -> bool {
        match self.visited.get_mut(node as usize) {
            Some(v) if *v != self.epoch => {
                *v = self.epoch;
                true
            }
            _ => false,
        }
    }
}
