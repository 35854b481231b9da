//! Multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming space with
//! multi-index hashing", CVPR 2012): exact radius search.
//!
//! The 256 bits are split into `m` disjoint substrings. If two hashes differ in at most `r`
//! bits, some substring differs in at most `⌊r/m⌋` bits (pigeonhole), so probing, in every
//! substring table, all buckets within `⌊r/m⌋` bits of the query's key finds every match; each
//! candidate is then checked against the full 256-bit hash. Only the top `key_bits` bits of a
//! substring form its key (bounded by `log2 N` and [`MAX_MIH_KEY_BITS`]): a prefix differs in
//! no more bits than the substring, so the pigeonhole argument still holds and the directory
//! stays about one u32 per hash per substring.
//!
//! `m ≈ 256 / log2 N` ([`default_num_substrings`]) makes buckets hold about one hash each;
//! for N = 1 M, m = 13 and a radius-31 query probes 13 × (1 + 20 + 190) buckets. Every probe
//! and candidate is a random memory access, so when a sequential flat scan is expected to be
//! cheaper (small lists, large radii) the search scans instead; both are exact.

use super::error::{IndexError, Result};
use super::flat::{self, HashesView};
use super::format::{u32_at, Substring, MAX_MIH_KEY_BITS};
use super::{Match, RecordId};
use crate::hash::{Dihedral, Pdq256};

/// The substring count `m` the builder picks for `n` hashes: `round(256 / log2 n)`, clamped
/// to `8..=32`, as the MIH paper suggests, so that each bucket holds about one hash.
#[must_use]
pub fn default_num_substrings(n: usize) -> u32 {
    let bits = (n.max(2) as f64).log2();
    ((256.0 / bits).round() as u32).clamp(8, 32)
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

/// The key of substring `s` in a hash given as bytes: bits `start_bit..start_bit + key_bits`,
/// counting from the most significant bit of the big-endian hash.
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

/// Read-only view of the three MIH sections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MihView<'a> {
    pub(crate) substrings: &'a [Substring],
    pub(crate) offsets: &'a [u8],
    pub(crate) ids: &'a [u8],
    pub(crate) num_hashes: u32,
}

/// How many sequential 32-byte comparisons of a flat scan cost as much as one MIH memory
/// touch (a bucket bound, a posting or a candidate hash, each a likely cache miss). Measured
/// on the benchmark machine: about 2–4 ns per scanned hash against 40–100 ns per miss.
const RANDOM_TOUCH_COST: f64 = 16.0;

/// Whether a flat scan is expected to beat MIH for radius `r`: the probed buckets and their
/// expected postings, weighted by [`RANDOM_TOUCH_COST`], against N sequential comparisons.
/// Small lists and large radii scan; both paths are exact.
fn cheaper_to_scan(view: &MihView<'_>, r: u32) -> bool {
    let m = view.substrings.len() as u32;
    let rr = r / m.max(1);
    let n = f64::from(view.num_hashes);
    let mut touches = 0.0;
    for s in view.substrings {
        let mut c = 1.0f64;
        let mut probes = 0.0;
        for i in 0..=rr.min(s.key_bits) {
            if i > 0 {
                c = c * f64::from(s.key_bits - i + 1) / f64::from(i);
            }
            probes += c;
        }
        touches += probes * (1.0 + 2.0 * n / (1u64 << s.key_bits) as f64);
    }
    touches * RANDOM_TOUCH_COST >= n
}

impl MihView<'_> {
    fn dir(&self, s: &Substring, bucket: u32) -> Result<(u32, u32)> {
        let at = s.dir_start + bucket as usize;
        let lo = u32_at(self.offsets, at);
        let hi = u32_at(self.offsets, at + 1);
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo <= hi && hi <= self.num_hashes => Ok((lo, hi)),
            _ => Err(IndexError::corrupt(
                "mih_offsets",
                at as u64,
                "bucket bounds out of order or past the postings",
            )),
        }
    }

    /// Appends the matches within `r` of `q` to `out`, possibly several times each.
    ///
    /// Works in three passes over caller-owned buffers (bucket bounds, then candidate ids,
    /// then distances) so that the loads of each pass are independent of one another and
    /// the CPU can overlap their cache misses, instead of chasing dir → posting → hash one
    /// candidate at a time.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn radius(
        &self,
        hashes: HashesView<'_>,
        q: &Pdq256,
        r: u32,
        transform: Dihedral,
        out: &mut Vec<Match>,
        buckets: &mut Vec<(usize, usize)>,
        cands: &mut Vec<u32>,
        allow_scan: bool,
    ) -> Result<()> {
        if allow_scan && cheaper_to_scan(self, r) {
            flat::radius(hashes, q, r, transform, out);
            return Ok(());
        }
        let qw = flat::query_words(q);
        let m = self.substrings.len() as u32;
        let rr = r / m;
        let n = self.num_hashes as usize;
        // Pass 1: the posting ranges of every probed bucket, as absolute posting positions.
        buckets.clear();
        for (j, s) in self.substrings.iter().enumerate() {
            let qkey = key(q.as_bytes(), s);
            let limit = 1u64 << s.key_bits;
            let base = j * n;
            for flips in 0..=rr.min(s.key_bits) {
                // Gosper's hack: every key_bits-bit mask with `flips` bits set, ascending.
                let mut mask: u64 = (1u64 << flips) - 1;
                while mask < limit {
                    let (lo, hi) = self.dir(s, qkey ^ mask as u32)?;
                    if lo < hi {
                        buckets.push((base + lo as usize, base + hi as usize));
                    }
                    if mask == 0 {
                        break;
                    }
                    let c = mask & mask.wrapping_neg();
                    let next = mask + c;
                    mask = (((next ^ mask) >> 2) / c) | next;
                }
            }
        }
        // Pass 2: candidate record ids.
        cands.clear();
        for &(lo, hi) in buckets.iter() {
            for at in lo..hi {
                let id = u32_at(self.ids, at).ok_or(IndexError::corrupt(
                    "mih_ids",
                    at as u64,
                    "posting past the section end",
                ))?;
                cands.push(id);
            }
        }
        // Pass 3: verify against the full hashes.
        for &id in cands.iter() {
            let rec = hashes.get(id).ok_or(IndexError::corrupt(
                "mih_ids",
                u64::from(id),
                "record id out of range",
            ))?;
            let d = flat::distance(&qw, rec);
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

/// The directory (`offsets`, u32 per bucket + 1) and postings (`ids`) of every substring, built
/// by a stable counting sort so that ids ascend within a bucket (deterministic bytes).
/// O(m·N) time, parallel over substrings.
pub(crate) fn build(hashes: &[Pdq256], subs: &[Substring]) -> (Vec<u32>, Vec<u32>) {
    use rayon::prelude::*;
    let n = hashes.len();
    let parts: Vec<(Vec<u32>, Vec<u32>)> = subs
        .par_iter()
        .map(|s| {
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
            let mut ids = vec![0u32; n];
            for (i, &k) in keys.iter().enumerate() {
                let slot = &mut fill[k as usize];
                ids[*slot as usize] = i as u32;
                *slot += 1;
            }
            (off, ids)
        })
        .collect();
    let mut offsets = Vec::new();
    let mut ids = Vec::with_capacity(n * subs.len());
    for (o, i) in parts {
        offsets.extend_from_slice(&o);
        ids.extend_from_slice(&i);
    }
    (offsets, ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_m_follows_256_over_log2_n() {
        assert_eq!(default_num_substrings(1 << 20), 13);
        assert_eq!(default_num_substrings(10_000_000), 11);
        assert_eq!(default_num_substrings(10), 32);
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
