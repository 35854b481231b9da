//! Exact flat scans over the hashes section: the oracle for MIH and HNSW, the baseline in the
//! benches, and the right tool for small lists.
//!
//! Records are compared in place, straight from the mapped bytes, by the kernels of
//! `hamming.rs` (its module docs give the word order and the `POPCNT` dispatch).
//! A scan is O(N) time and O(1) memory (O(k) for k-nearest).

use std::collections::BinaryHeap;

use super::hamming::{self, HashesView, Lanes};
use super::{Match, RecordId};
use crate::hash::{Dihedral, Pdq256};

/// Appends every record within `max_distance` of `q` to `out` (record order).
pub(crate) fn radius(
    hashes: HashesView<'_>,
    q: &Pdq256,
    max_distance: u32,
    transform: Dihedral,
    out: &mut Vec<Match>,
) {
    hamming::radius_scan(hashes, &Lanes::of_hash(q), max_distance, transform, out);
}

/// Writes the `k` nearest records to `out`, sorted by (distance, record id).
pub(crate) fn knn(
    hashes: HashesView<'_>,
    q: &Pdq256,
    k: usize,
    heap: &mut BinaryHeap<(u32, u32)>,
    out: &mut Vec<Match>,
) {
    heap.clear();
    out.clear();
    if k == 0 {
        return;
    }
    let qw = Lanes::of_hash(q);
    for (i, rec) in hashes.records().iter().enumerate() {
        let d = hamming::distance(&qw, rec);
        let key = (d, i as u32);
        if heap.len() < k {
            heap.push(key);
        } else if heap.peek().is_some_and(|top| key < *top) {
            heap.pop();
            heap.push(key);
        }
    }
    out.extend(heap.drain().map(|(distance, id)| Match {
        record: RecordId(id),
        distance,
        transform: Dihedral::Original,
    }));
    out.sort_unstable_by_key(|m| (m.distance, m.record));
}
