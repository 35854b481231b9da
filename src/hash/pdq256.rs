//! The 256-bit PDQ hash value, its hex form and Hamming distance.

use std::fmt;
use std::str::FromStr;

/// A 256-bit PDQ hash.
///
/// The bytes are the hash as a 256-bit big-endian number, which is also the order of the
/// reference hex string (`Hash256::format()` in Meta's C++): byte 0 holds the first two hex
/// digits. Bit `k` of that number is DCT coefficient `k` (row `k / 16`, column `k % 16`), so the
/// first four hex digits are DCT row 15 and the last four are row 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pdq256(pub [u8; 32]);

/// Hamming distance between two hashes, as the number of differing bits.
#[inline]
#[must_use]
pub fn hamming(a: &Pdq256, b: &Pdq256) -> u32 {
    a.distance(b)
}

impl Pdq256 {
    /// The all-zero hash, given to images too small to hash.
    pub const ZERO: Pdq256 = Pdq256([0; 32]);

    /// Builds a hash from its 32 big-endian bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Pdq256(bytes)
    }

    /// The 32 big-endian bytes of the hash.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as four `u64` words, most significant first, for popcount arithmetic.
    #[inline]
    #[must_use]
    pub fn to_words(&self) -> [u64; 4] {
        let mut w = [0u64; 4];
        for (i, chunk) in self.0.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            w[i] = u64::from_be_bytes(b);
        }
        w
    }

    /// Builds a hash from four `u64` words, most significant first (inverse of [`Pdq256::to_words`]).
    #[must_use]
    pub fn from_words(words: [u64; 4]) -> Self {
        let mut out = [0u8; 32];
        for (i, w) in words.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_be_bytes());
        }
        Pdq256(out)
    }

    /// Whether bit `k` (DCT coefficient `k`, `0..256`) is set.
    ///
    /// # Panics
    /// If `k >= 256`.
    #[inline]
    #[must_use]
    pub fn bit(&self, k: usize) -> bool {
        assert!(k < 256, "bit index {k} out of range 0..256");
        (self.0[31 - k / 8] >> (k % 8)) & 1 == 1
    }

    /// Sets bit `k` (DCT coefficient `k`, `0..256`).
    ///
    /// # Panics
    /// If `k >= 256`.
    #[inline]
    pub fn set_bit(&mut self, k: usize) {
        assert!(k < 256, "bit index {k} out of range 0..256");
        self.0[31 - k / 8] |= 1 << (k % 8);
    }

    /// Flips bit `k`.
    ///
    /// # Panics
    /// If `k >= 256`.
    #[inline]
    pub fn flip_bit(&mut self, k: usize) {
        assert!(k < 256, "bit index {k} out of range 0..256");
        self.0[31 - k / 8] ^= 1 << (k % 8);
    }

    /// Hamming distance to `other`.
    #[inline]
    #[must_use]
    pub fn distance(&self, other: &Pdq256) -> u32 {
        let a = self.to_words();
        let b = other.to_words();
        (a[0] ^ b[0]).count_ones()
            + (a[1] ^ b[1]).count_ones()
            + (a[2] ^ b[2]).count_ones()
            + (a[3] ^ b[3]).count_ones()
    }

    /// Number of set bits.
    #[must_use]
    pub fn count_ones(&self) -> u32 {
        self.to_words().iter().map(|w| w.count_ones()).sum()
    }
}

impl fmt::Display for Pdq256 {
    /// 64 lowercase hex digits, the reference order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            s[2 * i] = HEX[(b >> 4) as usize];
            s[2 * i + 1] = HEX[(b & 15) as usize];
        }
        // The buffer holds only ASCII hex digits.
        f.write_str(std::str::from_utf8(&s).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Pdq256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pdq256({self})")
    }
}

/// Why a string is not a PDQ hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseHashError {
    /// The string is hex digits, but not 64 of them.
    #[error("a PDQ hash has 64 hex digits, found {found}")]
    Length {
        /// The number of hex digits found.
        found: usize,
    },
    /// A character is not a hex digit.
    #[error("invalid hex digit {ch:?} at position {position}")]
    Digit {
        /// The offending character.
        ch: char,
        /// Its character position.
        position: usize,
    },
}

impl FromStr for Pdq256 {
    type Err = ParseHashError;

    /// Parses 64 hex digits (either case), surrounding whitespace ignored.
    ///
    /// A character that is not a hex digit is named first (a non-ASCII one too), so that a
    /// length is only ever reported for a string of hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some((position, ch)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(ParseHashError::Digit { ch, position });
        }
        // Only ASCII hex digits remain: bytes are characters.
        if s.len() != 64 {
            return Err(ParseHashError::Length { found: s.len() });
        }
        let mut out = [0u8; 32];
        for (position, ch) in s.chars().enumerate() {
            let v = ch
                .to_digit(16)
                .ok_or(ParseHashError::Digit { ch, position })? as u8;
            out[position / 2] |= if position % 2 == 0 { v << 4 } else { v };
        }
        Ok(Pdq256(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_bit_order() {
        let hex = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let h: Pdq256 = hex.parse().unwrap();
        assert_eq!(h.to_string(), hex);
        // Last hex digit 2 = 0b0010: coefficient 1 set, 0 clear.
        assert!(!h.bit(0));
        assert!(h.bit(1));
        // First hex digit f: coefficients 252..=255 set.
        assert!((252..256).all(|k| h.bit(k)));
        assert_eq!(Pdq256::from_words(h.to_words()), h);
    }

    #[test]
    fn parse_names_a_non_ascii_character_instead_of_miscounting_the_length() {
        // 63 digits and an `é`: 64 characters, 65 bytes.
        let bad = format!("{}é", "0".repeat(63));
        let e = bad.parse::<Pdq256>().unwrap_err();
        assert_eq!(
            e,
            ParseHashError::Digit {
                ch: 'é',
                position: 63
            }
        );
        assert_eq!(e.to_string(), "invalid hex digit 'é' at position 63");
        assert_eq!(
            "0".repeat(65).parse::<Pdq256>().unwrap_err().to_string(),
            "a PDQ hash has 64 hex digits, found 65"
        );
    }

    #[test]
    fn parse_rejects_bad_input() {
        assert_eq!(
            "abc".parse::<Pdq256>(),
            Err(ParseHashError::Length { found: 3 })
        );
        let bad = format!("{}g", "0".repeat(63));
        assert_eq!(
            bad.parse::<Pdq256>(),
            Err(ParseHashError::Digit {
                ch: 'g',
                position: 63
            })
        );
        let non_ascii = format!("{}é", "0".repeat(62));
        assert!(non_ascii.parse::<Pdq256>().is_err());
    }

    #[test]
    fn distance_counts_flipped_bits() {
        let mut a = Pdq256::ZERO;
        let b = Pdq256::ZERO;
        for k in [0, 7, 8, 100, 255] {
            a.flip_bit(k);
        }
        assert_eq!(a.distance(&b), 5);
        assert_eq!(hamming(&b, &a), 5);
        assert_eq!(a.count_ones(), 5);
    }
}
