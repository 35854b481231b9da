//! Exact flat scans over the hashes section: the oracle for MIH and HNSW, the baseline in the
//! benches, and the right tool for small lists.
//!
//! Records are compared in place, straight from the mapped bytes, by the kernels of
//! `hamming.rs` (its module docs give the word order and the `POPCNT` dispatch).
//! A scan is O(N) time and O(1) memory (O(k) for k-nearest).

use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::hamming::{self, HashesView, Lanes, QueryLane};
use super::{Match, RecordId};
use crate::hash::{Dihedral, Hashes, Pdq256};

/// Records per block of a batch scan: 64 KiB, which stays in L2 (and mostly L1) while every
/// query hash of a query block passes over it.
pub(crate) const SCAN_BLOCK_RECORDS: usize = 2048;

/// Queries per parallel task of a batch scan (up to 8 hashes each).
pub(crate) const SCAN_QUERY_BLOCK: usize = 32;

/// Every record within `max_distance` of each query, exactly, by a blocked scan of all
/// records, in parallel over blocks of queries: one list per query, in query order, each
/// as [`radius`] (one hash) or the dihedral search (8 hashes: each record once, with its
/// smallest distance and the lowest transform reaching it) gives it, sorted by (distance,
/// record).
pub(crate) fn radius_batch(
    hashes: HashesView<'_>,
    queries: &[Hashes],
    max_distance: u32,
) -> Vec<Vec<Match>> {
    let records = hashes.records();
    queries
        .par_chunks(SCAN_QUERY_BLOCK)
        .flat_map_iter(|block| {
            let lanes: Vec<QueryLane> = block
                .iter()
                .enumerate()
                .flat_map(|(i, q)| {
                    q.iter()
                        .map(move |(t, h)| (i as u32, t, Lanes::of_hash(&h)))
                })
                .collect();
            let mut found = Vec::new();
            for (b, chunk) in records.chunks(SCAN_BLOCK_RECORDS).enumerate() {
                let base = (b * SCAN_BLOCK_RECORDS) as u32;
                hamming::block_scan(chunk, base, &lanes, max_distance, &mut found);
            }
            let mut per_query: Vec<Vec<Match>> = vec![Vec::new(); block.len()];
            for (q, m) in found {
                per_query[q as usize].push(m);
            }
            for (q, list) in block.iter().zip(&mut per_query) {
                if q.is_dihedral() {
                    super::best_per_record(list);
                } else {
                    list.sort_unstable_by_key(|m| (m.distance, m.record));
                }
            }
            per_query
        })
        .collect()
}

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
