//! Seeded synthetic hash lists with near-duplicate structure, for benchmarks and sweeps.
//!
//! The list holds `n / 10` random centres, each followed by 9 variants with 0–30 random bit
//! flips (a flip may repeat a position, so a variant is at most 30 bits away). Queries
//! alternate: even ones are variants of a listed centre (so they have matches within 31 bits),
//! odd ones are fresh random hashes (no match expected). The generator is SplitMix64, so the
//! same `(n, num_queries, seed)` always gives the same data on every platform.

use crate::hash::Pdq256;

/// SplitMix64: a tiny, well-mixed, seeded 64-bit generator.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn hash(&mut self) -> Pdq256 {
        Pdq256::from_words([self.next(), self.next(), self.next(), self.next()])
    }

    fn variant(&mut self, c: &Pdq256) -> Pdq256 {
        let mut h = *c;
        let bits = self.next() % 31;
        for _ in 0..bits {
            h.flip_bit((self.next() % 256) as usize);
        }
        h
    }
}

/// A list of `n` hashes and `num_queries` queries, as described in the module docs.
///
/// Time and memory O(n + num_queries).
///
/// # Examples
/// ```
/// let (list, queries) = imprint::index::synthetic::near_duplicates(1000, 10, 6);
/// assert_eq!((list.len(), queries.len()), (1000, 10));
/// assert!(list[1].distance(&list[0]) <= 30);
/// ```
#[must_use]
pub fn near_duplicates(n: usize, num_queries: usize, seed: u64) -> (Vec<Pdq256>, Vec<Pdq256>) {
    let mut r = SplitMix(seed);
    let mut list = Vec::with_capacity(n);
    while list.len() < n {
        let c = r.hash();
        list.push(c);
        for _ in 0..9 {
            if list.len() < n {
                list.push(r.variant(&c));
            }
        }
    }
    let queries = (0..num_queries)
        .map(|i| {
            if i % 2 == 0 && n > 0 {
                let c = list[(r.next() % n as u64) as usize / 10 * 10];
                r.variant(&c)
            } else {
                r.hash()
            }
        })
        .collect();
    (list, queries)
}
