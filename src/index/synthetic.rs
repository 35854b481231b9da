//! Seeded synthetic hash lists with near-duplicate structure, for benchmarks and sweeps.
//!
//! The list holds `n / 10` random centres, each followed by 9 variants with 0–30 random bit
//! flips (a flip may repeat a position, so a variant is at most 30 bits away). Queries
//! alternate: even ones are variants of a listed centre (so they have matches within 31 bits),
//! odd ones are fresh random hashes (no match expected). The generator is [`Rng`], so the
//! same `(n, num_queries, seed)` always gives the same data on every platform.

use crate::hash::Pdq256;
use crate::rng::Rng;

fn random_hash(r: &mut Rng) -> Pdq256 {
    Pdq256::from_words(r.words())
}

/// `c` with 0–30 random bit flips (the modulo draws are part of the pinned stream).
fn variant(r: &mut Rng, c: &Pdq256) -> Pdq256 {
    let mut h = *c;
    let bits = r.next_u64() % 31;
    for _ in 0..bits {
        h.flip_bit((r.next_u64() % 256) as usize);
    }
    h
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
    let mut r = Rng::new(seed);
    let mut list = Vec::with_capacity(n);
    while list.len() < n {
        let c = random_hash(&mut r);
        list.push(c);
        for _ in 0..9 {
            if list.len() < n {
                list.push(variant(&mut r, &c));
            }
        }
    }
    let queries = (0..num_queries)
        .map(|i| {
            if i % 2 == 0 && n > 0 {
                let c = list[(r.next_u64() % n as u64) as usize / 10 * 10];
                variant(&mut r, &c)
            } else {
                random_hash(&mut r)
            }
        })
        .collect();
    (list, queries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Benchmarks and sweeps quote figures for these lists: the stream must not change.
    #[test]
    fn lists_are_pinned() {
        let (list, queries) = near_duplicates(1000, 10, 6);
        assert_eq!(
            list[999].to_string(),
            "bb85b460606c099c2688f2172001300d5925efdf7add7dd67de8acded5d6b8fc"
        );
        assert_eq!(
            queries[0].to_string(),
            "2a597b1cd8f68fa488c702ea048c70660cc1fe27de91fa31bf00fc29bc6e4994"
        );
        assert_eq!(
            queries[9].to_string(),
            "fff0dd07a64b72e2c4a833191c7726efc0314b2289e93086ed2d26f3672a586c"
        );
    }
}
