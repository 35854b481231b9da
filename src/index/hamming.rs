//! The Hamming kernels under every search: the word order, distances, the view of the hashes
//! section, MIH postings, and the loops dispatched to the CPU's `POPCNT` instruction.
//!
//! `flat.rs`, `mih.rs` and the HNSW code all build on this module, which imports none of them.
//!
//! # Word order
//!
//! A hash is the 256-bit big-endian number of [`Pdq256`]: byte 0 first, and in each byte the
//! most significant bit first. The index numbers bits by **position** in that order:
//!
//! | position `p` (0..256) | byte | bit of the byte | [`Pdq256::bit`] | word ([`words`]) | bit of the word |
//! |---|---|---|---|---|---|
//! | `p` | `p / 8` | `7 − p % 8` | `255 − p` | `p / 64` | `63 − p % 64` |
//!
//! so the word form is [`Pdq256::to_words`]: word `i` holds bytes `8i..8i + 8` read big-endian,
//! and position 0 (the top bit of the first hex digit) is bit 63 of word 0. Everything that
//! takes bits by position uses this rule, and its results are in the index file: MIH
//! substrings and keys (`mih::key`, from the bytes), fingerprints (`mih::fingerprint`, from
//! [`words`]) and the posting layout ([`encode_posting`]).
//!
//! Distances need no positions: XOR then popcount counts the differing bits wherever they sit,
//! as long as both sides are arranged alike. The distance kernels therefore take hashes as
//! [`Lanes`], the same 32 bytes read as little-endian words, which on x86-64 is a plain load
//! (reading [`words`] in the scan loops would add a byte swap per word per record). `Lanes`
//! is opaque and only distances take it, so the two arrangements cannot meet in one XOR:
//! a query and a record both go through [`Lanes::of`].
//!
//! # `POPCNT` dispatch
//!
//! Release builds target baseline x86-64, which has no `POPCNT`, so `count_ones` compiles to
//! a dozen shifts and masks. Each loop here is compiled twice: a portable copy, and on x86-64
//! a copy with the `popcnt` target feature, picked per call by the standard library's cached
//! CPUID test. On the benchmark machine the `POPCNT` copy makes a 10 M-hash MIH lookup about
//! 1.6× faster. Single distances (the HNSW code) go through [`distance`], a dispatched call:
//! the call costs less than the dozen instructions it saves.
//!
//! # Unsafe code
//!
//! This module's `unsafe` code is the three calls into the `POPCNT` copies, each with a
//! `// SAFETY:` comment: calling a `#[target_feature]` function is `unsafe` only because the
//! feature must be present, which the test right before each call establishes; the crate docs
//! (`lib.rs`, *Unsafe code*) list every module with `unsafe` code.

#![allow(unsafe_code)]

use super::format::{HASH_LEN, MIH_POSTING_LEN};
use super::{Match, RecordId};
use crate::hash::{Dihedral, Pdq256};

/// The words of a stored hash, by the module's word order: [`Pdq256::to_words`].
#[inline]
pub(crate) fn words(rec: &[u8; HASH_LEN]) -> [u64; 4] {
    Pdq256::from_bytes(*rec).to_words()
}

/// A hash arranged for the distance kernels (module docs, word order): its bytes as four
/// little-endian words. Only a distance between two `Lanes` (or `Lanes` and a record, which
/// the kernels load the same way) means anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lanes([u64; 4]);

impl Lanes {
    /// The lanes of a stored hash.
    #[inline(always)]
    pub(crate) fn of(rec: &[u8; HASH_LEN]) -> Self {
        Lanes(load(rec))
    }

    /// The lanes of a query.
    #[inline]
    pub(crate) fn of_hash(q: &Pdq256) -> Self {
        Self::of(q.as_bytes())
    }
}

/// Reads `b` as four little-endian words (the arrangement of [`Lanes`]).
#[inline(always)]
fn load(b: &[u8; HASH_LEN]) -> [u64; 4] {
    let mut w = [0u64; 4];
    for (slot, c) in w.iter_mut().zip(b.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        *slot = u64::from_le_bytes(a);
    }
    w
}

/// Hamming distance between a query and a stored record, with the CPU's `POPCNT` when it has
/// one (one call per distance, for the graph code, whose loops interleave distances with heap
/// and visited-set work; loops over many records use the whole-loop copies below).
#[inline]
pub(crate) fn distance(q: &Lanes, rec: &[u8; HASH_LEN]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports `popcnt` (checked on the line above).
        return unsafe { distance_popcnt(q, rec) };
    }
    distance_portable(q, rec)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn distance_popcnt(q: &Lanes, rec: &[u8; HASH_LEN]) -> u32 {
    distance_portable(q, rec)
}

/// [`distance`] in portable code, for inlining into loops that are themselves dispatched.
#[inline(always)]
fn distance_portable(q: &Lanes, rec: &[u8; HASH_LEN]) -> u32 {
    let (q, r) = (&q.0, load(rec));
    (q[0] ^ r[0]).count_ones()
        + (q[1] ^ r[1]).count_ones()
        + (q[2] ^ r[2]).count_ones()
        + (q[3] ^ r[3]).count_ones()
}

/// A view of the hashes section: `len` records of 32 bytes, read in place.
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

    /// The number of records.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Record `id`, if in range.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&'a [u8; HASH_LEN]> {
        self.records.get(id as usize)
    }

    /// Every record, in order.
    pub(crate) fn records(&self) -> &'a [[u8; HASH_LEN]] {
        self.records
    }
}

/// A 96-bit MIH fingerprint: the top 64 bits, then the next 32 (module docs, word order).
pub(crate) type Fingerprint = (u64, u32);

/// Writes one posting into `out` (16 bytes): record id (u32), fingerprint low part (u32),
/// fingerprint high part (u64), little-endian (the `mih_postings` section of `format.rs`).
#[inline]
pub(crate) fn encode_posting(out: &mut [u8; MIH_POSTING_LEN], id: u32, fp: Fingerprint) {
    out[0..4].copy_from_slice(&id.to_le_bytes());
    out[4..8].copy_from_slice(&fp.1.to_le_bytes());
    out[8..16].copy_from_slice(&fp.0.to_le_bytes());
}

/// Decodes a posting: (record id, fingerprint); the inverse of [`encode_posting`].
#[inline]
pub(crate) fn decode_posting(p: &[u8; MIH_POSTING_LEN]) -> (u32, Fingerprint) {
    let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, c4, c5, c6, c7] = *p;
    (
        u32::from_le_bytes([a0, a1, a2, a3]),
        (
            u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]),
            u32::from_le_bytes([b0, b1, b2, b3]),
        ),
    )
}

/// Appends the ids of the postings in `run` (whole 16-byte postings) whose fingerprint is
/// within `budget` bits of `fq`.
#[inline]
pub(crate) fn scan_postings(run: &[u8], fq: Fingerprint, budget: u32, out: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports `popcnt` (checked on the line above).
        return unsafe { scan_postings_popcnt(run, fq, budget, out) };
    }
    scan_postings_portable(run, fq, budget, out);
}

/// Appends every record of `hashes` within `max_distance` of the query `q` to `out`, in
/// record order.
#[inline]
pub(crate) fn radius_scan(
    hashes: HashesView<'_>,
    q: &Lanes,
    max_distance: u32,
    transform: Dihedral,
    out: &mut Vec<Match>,
) {
    let records = hashes.records();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports `popcnt` (checked on the line above).
        return unsafe { radius_scan_popcnt(records, q, max_distance, transform, out) };
    }
    radius_scan_portable(records, q, max_distance, transform, out);
}

#[inline(always)]
fn scan_postings_portable(run: &[u8], fq: Fingerprint, budget: u32, out: &mut Vec<u32>) {
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
    q: &Lanes,
    max_distance: u32,
    transform: Dihedral,
    out: &mut Vec<Match>,
) {
    for (i, rec) in records.iter().enumerate() {
        let d = distance_portable(q, rec);
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
fn scan_postings_popcnt(run: &[u8], fq: Fingerprint, budget: u32, out: &mut Vec<u32>) {
    scan_postings_portable(run, fq, budget, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn radius_scan_popcnt(
    records: &[[u8; HASH_LEN]],
    q: &Lanes,
    max_distance: u32,
    transform: Dihedral,
    out: &mut Vec<Match>,
) {
    radius_scan_portable(records, q, max_distance, transform, out);
}

/// One query hash of a block scan: its query's index, the transform it is the hash of, and
/// its lanes.
pub(crate) type QueryLane = (u32, Dihedral, Lanes);

/// Appends `(query index, match)` for every pair of a query lane of `queries` and a record of
/// `block` within `max_distance`, the records numbered from `base`. Query lanes outer, records
/// inner: a block of a few thousand records stays in cache while every lane passes over it.
#[inline]
pub(crate) fn block_scan(
    block: &[[u8; HASH_LEN]],
    base: u32,
    queries: &[QueryLane],
    max_distance: u32,
    out: &mut Vec<(u32, Match)>,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports `popcnt` (checked on the line above).
        return unsafe { block_scan_popcnt(block, base, queries, max_distance, out) };
    }
    block_scan_portable(block, base, queries, max_distance, out);
}

#[inline(always)]
fn block_scan_portable(
    block: &[[u8; HASH_LEN]],
    base: u32,
    queries: &[QueryLane],
    max_distance: u32,
    out: &mut Vec<(u32, Match)>,
) {
    for (query, transform, lanes) in queries {
        for (i, rec) in block.iter().enumerate() {
            let d = distance_portable(lanes, rec);
            if d <= max_distance {
                out.push((
                    *query,
                    Match {
                        record: RecordId(base + i as u32),
                        distance: d,
                        transform: *transform,
                    },
                ));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn block_scan_popcnt(
    block: &[[u8; HASH_LEN]],
    base: u32,
    queries: &[QueryLane],
    max_distance: u32,
    out: &mut Vec<(u32, Match)>,
) {
    block_scan_portable(block, base, queries, max_distance, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random_bytes(seed: u64) -> [u8; HASH_LEN] {
        let mut x = seed;
        let mut h = [0u8; HASH_LEN];
        for b in &mut h {
            x = x
                .wrapping_mul(0x5851_f42d_4c95_7f2d)
                .wrapping_add(0x1405_7b7e_f767_814f);
            *b = (x >> 56) as u8;
        }
        h
    }

    #[test]
    fn words_follow_the_position_table() {
        for seed in 0..50 {
            let rec = pseudo_random_bytes(seed);
            let (h, w) = (Pdq256::from_bytes(rec), words(&rec));
            assert_eq!(w, h.to_words());
            for p in 0..256usize {
                let by_byte = rec[p / 8] >> (7 - p % 8) & 1 == 1;
                let by_word = w[p / 64] >> (63 - p % 64) & 1 == 1;
                assert_eq!(by_byte, h.bit(255 - p), "seed {seed} position {p}");
                assert_eq!(by_word, by_byte, "seed {seed} position {p}");
            }
        }
    }

    #[test]
    fn lane_distance_equals_the_hash_distance() {
        for seed in 0..200 {
            let (a, b) = (
                pseudo_random_bytes(seed),
                pseudo_random_bytes(seed ^ 0xabcd),
            );
            let want = Pdq256::from_bytes(a).distance(&Pdq256::from_bytes(b));
            assert_eq!(distance(&Lanes::of(&a), &b), want, "seed {seed}");
            assert_eq!(distance_portable(&Lanes::of(&a), &b), want, "seed {seed}");
            assert_eq!(distance(&Lanes::of_hash(&Pdq256::from_bytes(a)), &a), 0);
        }
    }

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
            let q = Lanes(q);
            assert_eq!(distance(&q, &rec), distance_portable(&q, &rec));
        }
        assert_eq!(distance(&Lanes::of(&rec), &rec), 0);
    }

    /// A block scan finds, for each query lane, what a scan of the same records finds, with
    /// the records numbered from the block's base.
    #[test]
    fn block_scans_equal_one_scan_per_query_hash() {
        let mut rng = crate::rng::Rng::new(9);
        let records: Vec<[u8; HASH_LEN]> = (0..300)
            .map(|_| {
                let mut r = [0u8; HASH_LEN];
                rng.fill_bytes(&mut r);
                r
            })
            .collect();
        let queries: Vec<QueryLane> = (0..6u32)
            .map(|i| {
                let mut q = Pdq256(records[(i * 41) as usize]);
                for k in 0..(i as usize * 9) {
                    q.flip_bit(k * 7 % 256);
                }
                (
                    i / 2,
                    crate::hash::DIHEDRALS[i as usize],
                    Lanes::of_hash(&q),
                )
            })
            .collect();
        let (block, base) = (&records[100..260], 100);
        for radius in [0, 40, 128] {
            let mut got = Vec::new();
            block_scan(block, base, &queries, radius, &mut got);
            let mut want = Vec::new();
            for (q, t, lanes) in &queries {
                let mut one = Vec::new();
                radius_scan(
                    HashesView::new(block.as_flattened()),
                    lanes,
                    radius,
                    *t,
                    &mut one,
                );
                want.extend(one.into_iter().map(|m| {
                    (
                        *q,
                        Match {
                            record: RecordId(m.record.0 + base),
                            ..m
                        },
                    )
                }));
            }
            let mut portable = Vec::new();
            block_scan_portable(block, base, &queries, radius, &mut portable);
            assert_eq!(got, want, "radius {radius}");
            assert_eq!(portable, want, "radius {radius}");
            assert!(radius == 0 || want.len() >= 2, "radius {radius}: {want:?}");
        }
    }

    /// Both copies give the same answer (on x86-64 with POPCNT this compares the two).
    #[test]
    fn dispatched_scans_equal_the_portable_ones() {
        let mut run = Vec::new();
        let mut rng = crate::rng::Rng::new(3);
        let mut x = 0;
        for id in 0..500u32 {
            x = rng.next_u64();
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
        let bytes: Vec<u8> = (0..300).flat_map(pseudo_random_bytes).collect();
        let view = HashesView::new(&bytes);
        let q = Lanes::of(&pseudo_random_bytes(7));
        for r in [0, 100, 128, 140, 256] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            radius_scan(view, &q, r, Dihedral::Original, &mut a);
            radius_scan_portable(view.records(), &q, r, Dihedral::Original, &mut b);
            assert_eq!(a, b, "radius {r}");
        }
    }

    #[test]
    fn posting_decodes_what_was_encoded_in_the_documented_layout() {
        let mut p = [0u8; MIH_POSTING_LEN];
        encode_posting(&mut p, 0x0403_0201, (0x1817_1615_1413_1211, 0x0807_0605));
        assert_eq!(
            p,
            [1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
        );
        assert_eq!(
            decode_posting(&p),
            (0x0403_0201, (0x1817_1615_1413_1211, 0x0807_0605))
        );
    }

    #[test]
    fn hashes_view_ignores_a_trailing_partial_record() {
        let bytes = vec![7u8; HASH_LEN * 3 + 5];
        let view = HashesView::new(&bytes);
        assert_eq!(view.len(), 3);
        assert!(view.get(2).is_some() && view.get(3).is_none());
        assert_eq!(HashesView::new(&bytes[..HASH_LEN - 1]).len(), 0);
    }
}
