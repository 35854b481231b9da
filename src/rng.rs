//! The crate's one seeded generator, SplitMix64 (Steele, Lea & Flood 2014), and its finaliser.
//!
//! Everything the crate draws at random goes through here: the benchmark datasets
//! ([`crate::bench`]), the synthetic hash lists ([`crate::index::synthetic`]), the HNSW level of
//! each node and the shard of each item id (both through [`splitmix64`]), and the test and
//! benchmark inputs. The streams are a contract: dataset manifests, index files and shard
//! assignments depend on them, so a seed gives the same values on every platform, thread count
//! and version of the crate's dependencies, and the reference values are pinned by tests.
//!
//! A hand-written generator rather than `rand`: `rand`'s `StdRng` may change its algorithm
//! between releases (its docs say so), and `rand_xoshiro`/`rand_pcg` would add crates for what
//! is ten lines here, whose output must stay bit-identical to the files already written.
//!
//! This module imports nothing else of the crate, so every module may use it.
//!
//! # Examples
//! ```
//! use imprint::rng::Rng;
//!
//! let mut a = Rng::new(7);
//! let mut b = Rng::new(7);
//! assert_eq!(a.next_u64(), b.next_u64());
//! assert!(a.below(10) < 10);
//! let [w0, w1, w2, w3] = a.words();
//! # let _ = (w0, w1, w2, w3);
//! ```

/// The SplitMix64 increment, ⌊2⁶⁴/φ⌋ (odd, so the state visits every value).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function applied to `z + GOLDEN_GAMMA`: a bijective, well-mixed hash
/// of a 64-bit value.
///
/// `Rng::new(s)`'s first output is `splitmix64(s)`. Used on its own where a value is derived
/// from a key rather than drawn from a stream: the HNSW level of a node (from the seed and its
/// id, so levels do not depend on insertion order) and the shard of an item id.
#[must_use]
#[inline]
pub fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seeded SplitMix64 stream: 64 bits of state, passes BigCrush, trivially portable.
///
/// Any seed works, zero included. Not for cryptography.
///
/// # Examples
/// ```
/// use imprint::rng::Rng;
///
/// let mut r = Rng::new(0);
/// assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
/// let x = r.range(-1.0, 1.0);
/// assert!((-1.0..1.0).contains(&x));
/// ```
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// An independent generator for sub-stream `stream` of `seed` (one per image, so that
    /// images can be made in parallel and in any order).
    #[must_use]
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut r = Rng::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let z = splitmix64(self.state);
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        z
    }

    /// The next `N` outputs, in order (e.g. the four words of a random 256-bit hash).
    pub fn words<const N: usize>(&mut self) -> [u64; N] {
        std::array::from_fn(|_| self.next_u64())
    }

    /// Fills `out` with random bytes, eight from each output (little-endian), the last
    /// output's surplus bytes dropped.
    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A uniform `f64` in `[0, 1)` (53 random bits).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform `f64` in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A uniform integer in `[0, n)`; `0` when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: bias below 2^-64 × n, irrelevant here and portable.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform integer in `[lo, hi]`.
    ///
    /// # Panics
    /// When `lo > hi`.
    pub fn between(&mut self, lo: u32, hi: u32) -> u32 {
        assert!(lo <= hi, "an empty range {lo}..={hi}");
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    /// A random element of a non-empty slice.
    ///
    /// # Panics
    /// When `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference: the C code at https://prng.di.unimi.it/splitmix64.c with seed 0.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn the_finaliser_is_the_first_output_of_a_stream() {
        for seed in [0, 1, 7, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
            assert_eq!(splitmix64(seed), Rng::new(seed).next_u64());
        }
        // Pinned: HNSW levels and shards depend on these values.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(1), 0x910A_2DEC_8902_5CC1);
    }

    #[test]
    fn streams_are_pinned() {
        // Every bench image draws from a sub-stream: their values are part of the datasets.
        assert_eq!(Rng::stream(7, 3).next_u64(), 0xA503_EF88_E857_D4C3);
        assert_ne!(Rng::stream(7, 3).next_u64(), Rng::stream(7, 4).next_u64());
    }

    #[test]
    fn words_and_bytes_follow_the_stream() {
        let mut a = Rng::new(5);
        let mut b = Rng::new(5);
        let w: [u64; 3] = a.words();
        assert_eq!(w, [b.next_u64(), b.next_u64(), b.next_u64()]);
        let mut bytes = [0u8; 11];
        Rng::new(5).fill_bytes(&mut bytes);
        let mut c = Rng::new(5);
        let (x, y) = (c.next_u64().to_le_bytes(), c.next_u64().to_le_bytes());
        assert_eq!(bytes[..8], x);
        assert_eq!(bytes[8..], y[..3]);
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            assert!(r.below(10) < 10);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            let b = r.between(3, 5);
            assert!((3..=5).contains(&b));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(*r.pick(&[4]), 4);
    }
}
