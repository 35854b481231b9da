//! The popcount-bound scan loops, dispatched at run time to the CPU's `POPCNT` instruction.
//!
//! Release builds target baseline x86-64, which has no `POPCNT`, so `count_ones` compiles to
//! a dozen shifts and masks. Each loop here is compiled twice: a portable copy, and on x86-64
//! a copy with the `popcnt` target feature, picked per call by the standard library's cached
//! CPUID test. On the benchmark machine the `POPCNT` copy makes a 10 M-hash MIH lookup about
//! 1.6× faster. Single distances (the HNSW code) go through [`distance`], a dispatched call:
//! the call costs less than the dozen instructions it saves. Calling a `#[target_feature]` function is `unsafe` only because the feature
//! must be present, which the test right before each call establishes; this module and
//! `crate::mmap` hold the crate's only `unsafe` code.

#![allow(unsafe_code)]

use super::flat::{distance_portable, HashesView};
use super::format::{HASH_LEN, MIH_POSTING_LEN};
use super::mih::decode_posting;
use super::{Match, RecordId};
use crate::hash::Dihedral;

/// Hamming distance between query words and a record (one call per distance, for the graph
/// code, whose loops interleave distances with heap and visited-set work).
#[inline]
pub(crate) fn distance(q: &[u64; 4], rec: &[u8; HASH_LEN]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports `popcnt` (checked on the line above).
        return unsafe { distance_popcnt(q, rec) };
    }
    distance_portable(q, rec)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn distance_popcnt(q: &[u64; 4], rec: &[u8; HASH_LEN]) -> u32 {
    distance_portable(q, rec)
}

/// Appends the ids of the postings in `run` (whole 16-byte postings) whose fingerprint is
/// within `budget` bits of `fq`.
#[inline]
pub(crate) fn scan_postings(run: &[u8], fq: (u64, u32), budget: u32, out: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports `popcnt` (checked on the line above).
        return unsafe { scan_postings_popcnt(run, fq, budget, out) };
    }
    scan_postings_portable(run, fq, budget, out);
}

/// Appends every record of `hashes` within `max_distance` of the query words `qw` to `out`,
/// in record order.
#[inline]
pub(crate) fn radius_scan(
    hashes: HashesView<'_>,
    qw: &[u64; 4],
    max_distance: u32,
    transform: Dihedral,
    out: &mut Vec<Match>,
) {
    let records = hashes.records();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports `popcnt` (checked on the line above).
        return unsafe { radius_scan_popcnt(records, qw, max_distance, transform, out) };
    }
    radius_scan_portable(records, qw, max_distance, transform, out);
}

#[inline(always)]
fn scan_postings_portable(run: &[u8], fq: (u64, u32), budget: u32, out: &mut Vec<u32>) {
    for p in run.chunks_exact(MIH_POSTING_LEN) {
        let Ok(p) = <&[u8; MIH_POSTING_LEN]>::try_from(p) else {
            continue;
        };
        let (id, fp) = decode_posting(p);
        let d = (fp.0 ^ fq.0).count_ones() + (fp.1 ^ fq.1).count_ones();
        if d <= budget {
            out.push(id);
        }
    }
}

#[inline(always)]
fn radius_scan_portable(
    records: &[[u8; HASH_LEN]],
    qw: &[u64; 4],
    max_distance: u32,
    transform: Dihedral,
    out: &mut Vec<Match>,
) {
    for (i, rec) in records.iter().enumerate() {
        let d = distance_portable(qw, rec);
        if d <= max_distance {
            out.push(Match {
                record: RecordId(i as u32),
                distance: d,
                transform,
            });
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn scan_postings_popcnt(run: &[u8], fq: (u64, u32), budget: u32, out: &mut Vec<u32>) {
    scan_postings_portable(run, fq, budget, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn radius_scan_popcnt(
    records: &[[u8; HASH_LEN]],
    qw: &[u64; 4],
    max_distance: u32,
    transform: Dihedral,
    out: &mut Vec<Match>,
) {
    radius_scan_portable(records, qw, max_distance, transform, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatched_distance_equals_the_portable_one() {
        let mut rec = [0u8; HASH_LEN];
        for (i, b) in rec.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0x5a;
        }
        for q in [
            [0u64; 4],
            [!0; 4],
            [1, 2, 3, 4],
            [u64::MAX / 3, 7, 0, 1 << 63],
        ] {
            assert_eq!(distance(&q, &rec), distance_portable(&q, &rec));
        }
        assert_eq!(distance(&super::super::flat::words(&rec), &rec), 0);
    }

    /// Both copies give the same answer (on x86-64 with POPCNT this compares the two).
    #[test]
    fn dispatched_scans_equal_the_portable_ones() {
        let mut run = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for id in 0..500u32 {
            x = x.rotate_left(17).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ u64::from(id);
            run.extend_from_slice(&id.to_le_bytes());
            run.extend_from_slice(&((x >> 7) as u32).to_le_bytes());
            run.extend_from_slice(&x.to_le_bytes());
        }
        for budget in [0, 20, 31, 40, 96] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            scan_postings(&run, (x, 0x1234_5678), budget, &mut a);
            scan_postings_portable(&run, (x, 0x1234_5678), budget, &mut b);
            assert_eq!(a, b);
            if budget == 96 {
                assert_eq!(a.len(), 500);
            }
        }
    }
}
