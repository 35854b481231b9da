//! Multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming space with
//! multi-index hashing", CVPR 2012): exact radius search.
//!
//! The 256 bits are split into `m` disjoint substrings. If two hashes differ in at most `r`
//! bits, some substring differs in at most `⌊r/m⌋` bits (pigeonhole), so probing, in every
//! substring table, all buckets within `⌊r/m⌋` bits of the query's key finds every match. Only
//! the top `key_bits` bits of a substring form its key (bounded by `log2 N` and
//! [`MAX_MIH_KEY_BITS`]): a prefix differs in no more bits than the substring, so the
//! pigeonhole argument still holds and the directory stays at most about one u32 per hash.
//!
//! # Fingerprinted postings
//!
//! A posting is 16 bytes: the record id and a 96-bit *fingerprint*, the hash bits that follow
//! the substring (wrapping past bit 255). Fingerprint bits are disjoint from the key bits, so
//! `flips + distance(fingerprints)` is a lower bound of the full distance; a candidate is
//! fetched from the hashes section only when that bound is within the radius. For a random
//! non-match the bound exceeds 31 with probability ≈ 0.9995, so verifying a bucket is a
//! sequential scan of its postings instead of one random memory access per candidate, and
//! buckets can hold many postings cheaply.
//!
//! That moves the best `m` ([`default_num_substrings`]): every probe costs two random
//! accesses (directory, first posting) and every posting a cheap sequential comparison, so
//! for radius 31 `m = 16` (one flip per 16-bit key, 272 probes) beats the classic
//! `m ≈ 256 / log2 N` (two flips per key, ~3 000 probes) up to about 30 M hashes. The search
//! still falls back to a flat scan when that is cheaper (small lists, large radii); every
//! path is exact.
//!
//! Bit positions (substring starts, keys, fingerprints) follow the one word order of
//! `hamming.rs`: position 0 is the most significant bit of the hash's first byte.

use super::error::{IndexError, Result};
use super::format::{u32_at, Substring, MAX_MIH_KEY_BITS, MIH_POSTING_LEN};
use super::hamming::{self, encode_posting, words, Fingerprint, HashesView, Lanes};
use super::{Match, RecordId};
use crate::hash::{Dihedral, Pdq256};

/// Relative cost of one probe (a directory entry and the first posting of its bucket, two
/// likely cache misses) against one posting compared in a sequential scan, and against one hash
/// of a flat scan. Measured on the benchmark machine: 60–90 ns per miss, 2–4 ns per scanned
/// posting or hash.
const PROBE_COST: f64 = 40.0;
/// Relative cost of a scanned posting (see [`PROBE_COST`]).
const POSTING_COST: f64 = 1.0;
/// Relative cost of one hash in a flat scan (see [`PROBE_COST`]).
const FLAT_COST: f64 = 1.0;

/// Expected probes and scanned postings of a radius-`r` query against `n` uniformly spread
/// hashes, for the given substrings.
fn expected_work(subs: &[Substring], n: usize, r: u32) -> (f64, f64) {
    let rr = r / (subs.len() as u32).max(1);
    let (mut probes, mut postings) = (0.0, 0.0);
    for s in subs {
        let mut c = 1.0f64;
        let mut p = 0.0;
        for i in 0..=rr.min(s.key_bits) {
            if i > 0 {
                c = c * f64::from(s.key_bits - i + 1) / f64::from(i);
            }
            p += c;
        }
        probes += p;
        postings += p * n as f64 / (1u64 << s.key_bits) as f64;
    }
    (probes, postings)
}

fn expected_cost(subs: &[Substring], n: usize, r: u32) -> f64 {
    let (probes, postings) = expected_work(subs, n, r);
    probes * PROBE_COST + postings * POSTING_COST
}

/// The substring count `m` the builder picks for `n` hashes: the `m` in `8..=32` with the
/// smallest expected cost of a radius-31 query (probes and postings, module docs). `m = 16`
/// from small lists up to about 30 M hashes, fewer and wider substrings beyond.
#[must_use]
pub fn default_num_substrings(n: usize) -> u32 {
    let mut best = (f64::INFINITY, 16);
    for m in 8..=32 {
        let c = expected_cost(&substrings(m, n), n, 31);
        if c < best.0 {
            best = (c, m);
        }
    }
    best.1
}

/// Key bits per substring for `n` hashes: `ceil(log2 n)`, at least 1, at most
/// [`MAX_MIH_KEY_BITS`] and the substring width.
pub(crate) fn key_bits(n: usize, width_bits: u32) -> u32 {
    let lg = usize::BITS - n.max(1).saturating_sub(1).leading_zeros();
    lg.clamp(1, MAX_MIH_KEY_BITS).min(width_bits)
}

/// The substrings for `m` parts and `n` hashes: the first `256 % m` are one bit wider.
pub(crate) fn substrings(m: u32, n: usize) -> Vec<Substring> {
    let mut out = Vec::with_capacity(m as usize);
    let (base, extra) = (256 / m, 256 % m);
    let (mut start_bit, mut dir_start) = (0, 0);
    for j in 0..m {
        let width_bits = base + u32::from(j < extra);
        let key_bits = key_bits(n, width_bits);
        out.push(Substring {
            start_bit,
            width_bits,
            key_bits,
            dir_start,
        });
        start_bit += width_bits;
        dir_start += (1usize << key_bits) + 1;
    }
    out
}

/// The key of substring `s` in a hash given as bytes: positions `start_bit..start_bit +
/// key_bits` (`hamming.rs` word order), the first one the key's most significant bit.
#[inline]
pub(crate) fn key(hash: &[u8; 32], s: &Substring) -> u32 {
    // Gather the (at most 4) bytes covering the key into a u64, then shift it out.
    let first = (s.start_bit / 8) as usize;
    let mut acc = 0u64;
    for k in 0..5 {
        acc = (acc << 8) | u64::from(*hash.get(first + k).unwrap_or(&0));
    }
    let shift = 40 - (s.start_bit % 8) - s.key_bits;
    ((acc >> shift) & ((1u64 << s.key_bits) - 1)) as u32
}

/// The fingerprint for substring `s` of the hash with words `w` ([`hamming::words`]): positions
/// `end..end + 96` (wrapping past 255), where `end = start_bit + width_bits`, as the top 64 and
/// the next 32 of them. Disjoint from the substring whenever its width is at most 160 bits
/// (`m ≥ 2`).
#[inline]
pub(crate) fn fingerprint(w: &[u64; 4], s: &Substring) -> Fingerprint {
    let shift = (s.start_bit + s.width_bits) % 256;
    let (q, r) = ((shift / 64) as usize, shift % 64);
    let word = |i: usize| {
        let (a, b) = (w[(i + q) % 4], w[(i + q + 1) % 4]);
        if r == 0 {
            a
        } else {
            (a << r) | (b >> (64 - r))
        }
    };
    (word(0), (word(1) >> 32) as u32)
}

/// One probed bucket of a query: its directory position, then its posting range.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Probe {
    /// Directory position (pass 1), then first posting (pass 2).
    lo: usize,
    /// Last posting + 1 (pass 2).
    hi: usize,
    /// Substring index.
    table: u32,
    /// Key bits flipped to reach this bucket.
    flips: u32,
}

/// Read-only view of the three MIH sections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MihView<'a> {
    pub(crate) substrings: &'a [Substring],
    pub(crate) offsets: &'a [u8],
    pub(crate) postings: &'a [u8],
    pub(crate) num_hashes: u32,
}

/// Whether a flat scan is expected to beat MIH for radius `r` (module docs); both are exact.
fn cheaper_to_scan(view: &MihView<'_>, r: u32) -> bool {
    let n = view.num_hashes as usize;
    expected_cost(view.substrings, n, r) >= n as f64 * FLAT_COST
}

impl MihView<'_> {
    /// The posting `at` (counted over all substrings), if inside the section.
    #[inline]
    pub(crate) fn posting(&self, at: usize) -> Option<&[u8; MIH_POSTING_LEN]> {
        let start = at.checked_mul(MIH_POSTING_LEN)?;
        self.postings
            .get(start..start.checked_add(MIH_POSTING_LEN)?)?
            .try_into()
            .ok()
    }

    /// Appends the matches within `r` of `q` to `out`, possibly several times each.
    ///
    /// Works in passes over caller-owned buffers (probed buckets, their bounds, candidate ids,
    /// distances) so that no branch depends on a value still being loaded: the directory
    /// misses of all probes overlap, as do the posting runs, instead of chasing
    /// directory → posting → hash one candidate at a time.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn radius(
        &self,
        hashes: HashesView<'_>,
        q: &Pdq256,
        r: u32,
        transform: Dihedral,
        out: &mut Vec<Match>,
        probes: &mut Vec<Probe>,
        cands: &mut Vec<u32>,
        allow_scan: bool,
    ) -> Result<()> {
        if allow_scan && cheaper_to_scan(self, r) {
            hamming::radius_scan(hashes, &Lanes::of_hash(q), r, transform, out);
            return Ok(());
        }
        let m = self.substrings.len() as u32;
        let rr = r / m;
        let n = self.num_hashes as usize;
        // Pass 1: the directory position of every probed bucket. Arithmetic only.
        probes.clear();
        for (j, s) in self.substrings.iter().enumerate() {
            let qkey = key(q.as_bytes(), s);
            let limit = 1u64 << s.key_bits;
            for flips in 0..=rr.min(s.key_bits) {
                // Gosper's hack: every key_bits-bit mask with `flips` bits set, ascending.
                let mut mask: u64 = (1u64 << flips) - 1;
                while mask < limit {
                    probes.push(Probe {
                        lo: s.dir_start + (qkey ^ mask as u32) as usize,
                        hi: 0,
                        table: j as u32,
                        flips,
                    });
                    if mask == 0 {
                        break;
                    }
                    let c = mask & mask.wrapping_neg();
                    let next = mask + c;
                    mask = (((next ^ mask) >> 2) / c) | next;
                }
            }
        }
        // Pass 2: bucket bounds, turned into absolute posting ranges in place. No branch
        // depends on a loaded value; a bad bound is remembered and reported after the loop.
        let mut bad = false;
        for p in probes.iter_mut() {
            let lo = u32_at(self.offsets, p.lo).unwrap_or(u32::MAX);
            let hi = u32_at(self.offsets, p.lo + 1).unwrap_or(u32::MAX);
            bad |= (lo > hi) | (hi > self.num_hashes);
            let base = p.table as usize * n;
            (p.lo, p.hi) = (base + lo as usize, base + hi.max(lo) as usize);
        }
        if bad {
            return Err(IndexError::corrupt(
                "mih_offsets",
                0,
                "bucket bounds out of order or past the postings",
            ));
        }
        // Pass 3: scan the postings; keep the ids whose lower bound is within the radius.
        cands.clear();
        let mut qfp: [Fingerprint; MAX_FINGERPRINT_TABLES] = [(0, 0); MAX_FINGERPRINT_TABLES];
        let qwords = words(q.as_bytes());
        for (slot, s) in qfp.iter_mut().zip(self.substrings) {
            *slot = fingerprint(&qwords, s);
        }
        for p in probes.iter() {
            let run = self
                .postings
                .get(p.lo * MIH_POSTING_LEN..p.hi * MIH_POSTING_LEN)
                .ok_or(IndexError::corrupt(
                    "mih_postings",
                    p.hi as u64,
                    "posting past the section end",
                ))?;
            let (fq, budget) = (qfp[p.table as usize], r - p.flips);
            hamming::scan_postings(run, fq, budget, cands);
        }
        // Pass 4: verify the survivors against the full hashes.
        let qw = Lanes::of_hash(q);
        for &id in cands.iter() {
            let rec = hashes.get(id).ok_or(IndexError::corrupt(
                "mih_postings",
                u64::from(id),
                "record id out of range",
            ))?;
            let d = hamming::distance(&qw, rec);
            if d <= r {
                out.push(Match {
                    record: RecordId(id),
                    distance: d,
                    transform,
                });
            }
        }
        Ok(())
    }
}

/// Upper bound of `m` (the format's [`super::format::MAX_MIH_SUBSTRINGS`]), sizing the
/// per-query fingerprint array.
const MAX_FINGERPRINT_TABLES: usize = super::format::MAX_MIH_SUBSTRINGS as usize;

/// The directory (`offsets`, u32 per bucket + 1) and postings (16 bytes each, module docs) of
/// every substring, built by a stable counting sort so that ids ascend within a bucket
/// (deterministic bytes). O(m·N) time, parallel over substrings.
pub(crate) fn build(hashes: &[Pdq256], subs: &[Substring]) -> (Vec<u32>, Vec<u8>) {
    use rayon::prelude::*;
    let n = hashes.len();
    let mut postings = vec![0u8; n * subs.len() * MIH_POSTING_LEN];
    if n == 0 {
        let offsets = subs
            .iter()
            .flat_map(|s| vec![0u32; (1usize << s.key_bits) + 1])
            .collect();
        return (offsets, postings);
    }
    let dirs: Vec<Vec<u32>> = subs
        .par_iter()
        .zip(postings.par_chunks_mut(n * MIH_POSTING_LEN))
        .map(|(s, table)| {
            let (table, _) = table.as_chunks_mut::<MIH_POSTING_LEN>();
            let buckets = 1usize << s.key_bits;
            let mut off = vec![0u32; buckets + 1];
            let keys: Vec<u32> = hashes.iter().map(|h| key(h.as_bytes(), s)).collect();
            for &k in &keys {
                off[k as usize + 1] += 1;
            }
            for b in 0..buckets {
                off[b + 1] += off[b];
            }
            let mut fill = off.clone();
            for (i, (&k, h)) in keys.iter().zip(hashes).enumerate() {
                let slot = &mut fill[k as usize];
                encode_posting(
                    &mut table[*slot as usize],
                    i as u32,
                    fingerprint(&words(h.as_bytes()), s),
                );
                *slot += 1;
            }
            off
        })
        .collect();
    let mut offsets = Vec::with_capacity(dirs.iter().map(Vec::len).sum());
    for d in dirs {
        offsets.extend_from_slice(&d);
    }
    (offsets, postings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_m_minimises_the_expected_cost() {
        // One flip per 16-bit key from 100 k to ~30 M hashes, two flips per wider key beyond;
        // exact keys (no flips) for small lists.
        assert_eq!(default_num_substrings(10), 32);
        assert_eq!(default_num_substrings(100_000), 16);
        assert_eq!(default_num_substrings(10_000_000), 16);
        assert_eq!(default_num_substrings(100_000_000), 11);
        for n in [1000, 100_000, 10_000_000, 100_000_000] {
            let best = default_num_substrings(n);
            let cost = |m| expected_cost(&substrings(m, n), n, 31);
            assert!((8..=32).all(|m| cost(best) <= cost(m)), "n = {n}");
        }
    }

    fn bit(h: &[u8; 32], i: u32) -> u64 {
        u64::from(h[(i / 8) as usize] >> (7 - i % 8) & 1)
    }

    fn pseudo_random_hash(seed: u64) -> [u8; 32] {
        let mut x = seed;
        let mut h = [0u8; 32];
        for b in &mut h {
            x = x
                .wrapping_mul(0x5851_f42d_4c95_7f2d)
                .wrapping_add(0x1405_7b7e_f767_814f);
            *b = (x >> 56) as u8;
        }
        h
    }

    #[test]
    fn fingerprint_holds_the_96_bits_after_the_substring() {
        for m in [2, 3, 11, 16, 32, 64] {
            for (t, s) in substrings(m, 1 << 20).iter().enumerate() {
                let h = pseudo_random_hash(u64::from(m) * 100 + t as u64);
                let end = s.start_bit + s.width_bits;
                let (hi, lo) = fingerprint(&words(&h), s);
                let want_hi = (0..64).fold(0u64, |a, i| a << 1 | bit(&h, (end + i) % 256));
                let want_lo = (64..96).fold(0u64, |a, i| a << 1 | bit(&h, (end + i) % 256));
                assert_eq!(
                    (hi, u64::from(lo)),
                    (want_hi, want_lo),
                    "m {m} substring {t}"
                );
                // Disjoint from the substring: 96 + width ≤ 256 for m ≥ 2.
                assert!(s.width_bits + 96 <= 256);
            }
        }
    }

    #[test]
    fn key_flips_plus_fingerprint_distance_bound_the_distance() {
        for seed in 0..2000u64 {
            let a = pseudo_random_hash(seed);
            let mut b = a;
            // Flip a seeded number of bits, clustered or spread.
            let mut rng = crate::rng::Rng::new(seed);
            for _ in 0..(seed % 60) {
                let i = rng.below(256) as usize;
                b[i / 8] ^= 0x80 >> (i % 8);
            }
            let full = Pdq256::from_bytes(a).distance(&Pdq256::from_bytes(b));
            for m in [2, 11, 16, 32] {
                for s in &substrings(m, 1 << 22) {
                    let flips = (key(&a, s) ^ key(&b, s)).count_ones();
                    let (fa, fb) = (fingerprint(&words(&a), s), fingerprint(&words(&b), s));
                    let fd = (fa.0 ^ fb.0).count_ones() + (fa.1 ^ fb.1).count_ones();
                    assert!(flips + fd <= full, "seed {seed} m {m}");
                }
            }
        }
    }

    #[test]
    fn substrings_partition_256_bits() {
        for m in 1..=64 {
            let s = substrings(m, 1000);
            assert_eq!(s.iter().map(|s| s.width_bits).sum::<u32>(), 256);
            assert_eq!(s[0].start_bit, 0);
        }
    }

    #[test]
    fn key_reads_bits_from_the_most_significant_end() {
        let mut b = [0u8; 32];
        b[0] = 0b1010_0000;
        let s = Substring {
            start_bit: 0,
            width_bits: 3,
            key_bits: 3,
            dir_start: 0,
        };
        assert_eq!(key(&b, &s), 0b101);
        let mut b = [0u8; 32];
        b[31] = 0xff;
        let s = Substring {
            start_bit: 250,
            width_bits: 6,
            key_bits: 6,
            dir_start: 0,
        };
        assert_eq!(key(&b, &s), 0b11_1111);
        let s = Substring {
            start_bit: 240,
            width_bits: 16,
            key_bits: 12,
            dir_start: 0,
        };
        assert_eq!(key(&b, &s), 0x00f);
    }
}
