//! Exact flat scans over the hashes section: the oracle for MIH and HNSW, the baseline in the
//! benches, and the right tool for small lists.
//!
//! A record is compared as four `u64` words: Hamming distance is the popcount of the XOR, which
//! does not depend on the byte order as long as both sides use the same one, so records are
//! read with unaligned little-endian loads straight from the mapped bytes.
//! A scan is O(N) time and O(1) memory (O(k) for k-nearest).

use std::collections::BinaryHeap;

use super::format::HASH_LEN;
use super::{Match, RecordId};
use crate::hash::{Dihedral, Pdq256};

/// A hash as four words in the byte order used for all distance arithmetic here.
#[inline]
pub(crate) fn words(b: &[u8; HASH_LEN]) -> [u64; 4] {
    let mut w = [0u64; 4];
    for (slot, c) in w.iter_mut().zip(b.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        *slot = u64::from_le_bytes(a);
    }
    w
}

/// The query words for `q`.
#[inline]
pub(crate) fn query_words(q: &Pdq256) -> [u64; 4] {
    words(q.as_bytes())
}

/// Hamming distance between query words and a stored record, with the CPU's `POPCNT` when
/// it has one (a call, not inlined: loops over many records use [`super::popcnt`]'s whole-loop
/// copies instead).
#[inline]
pub(crate) fn distance(q: &[u64; 4], rec: &[u8; HASH_LEN]) -> u32 {
    super::popcnt::distance(q, rec)
}

/// [`distance`] in portable code, for inlining into loops that are themselves dispatched.
#[inline(always)]
pub(crate) fn distance_portable(q: &[u64; 4], rec: &[u8; HASH_LEN]) -> u32 {
    let r = words(rec);
    (q[0] ^ r[0]).count_ones()
        + (q[1] ^ r[1]).count_ones()
        + (q[2] ^ r[2]).count_ones()
        + (q[3] ^ r[3]).count_ones()
}

/// A view of the hashes section: `len` records of 32 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HashesView<'a> {
    records: &'a [[u8; HASH_LEN]],
}

impl<'a> HashesView<'a> {
    /// Views `bytes`; a trailing partial record is ignored (open rejects it earlier).
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let whole = bytes.len() / HASH_LEN * HASH_LEN;
        // `[u8; 32]` has alignment 1 and `whole` is a multiple of its size, so the checked cast
        // cannot fail; an empty view is the safe answer if it ever did.
        let records = bytemuck::try_cast_slice(&bytes[..whole]).unwrap_or(&[]);
        HashesView { records }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&'a [u8; HASH_LEN]> {
        self.records.get(id as usize)
    }

    pub(crate) fn records(&self) -> &'a [[u8; HASH_LEN]] {
        self.records
    }
}

/// Appends every record within `max_distance` of `q` to `out` (record order).
pub(crate) fn radius(
    hashes: HashesView<'_>,
    q: &Pdq256,
    max_distance: u32,
    transform: Dihedral,
    out: &mut Vec<Match>,
) {
    super::popcnt::radius_scan(hashes, &query_words(q), max_distance, transform, out);
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
    let qw = query_words(q);
    for (i, rec) in hashes.records().iter().enumerate() {
        let d = distance(&qw, rec);
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
