//! The hashes of one image, as every part of the crate passes them: one PDQ hash, or the 8
//! dihedral hashes of a run that asked for them ([`Hashes`]), with their quality where the
//! image was hashed here or the quality was recorded ([`Hashed`]).
//!
//! The pipeline's results, a store's records, a hash list's entries and the matcher's queries
//! all use these two types.

use super::dihedral::{Dihedral, DIHEDRALS};
use super::pdq::{DihedralHashes, PdqHash};
use super::pdq256::Pdq256;

/// The hashes of one image: its PDQ hash, or its 8 dihedral hashes.
///
/// The dihedral hashes come in [`DIHEDRALS`] order, the original orientation first, so that a
/// rotated or flipped copy of the image matches through the hash of its transform.
// Values are moved a few times each through bounded queues and chunks; boxing the dihedral
// variant would add an allocation per image for no memory gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hashes {
    /// The hash of the image as it is.
    One(Pdq256),
    /// The 8 dihedral hashes, in [`DIHEDRALS`] order.
    Dihedral([Pdq256; 8]),
}

impl Hashes {
    /// The hash of the image as it is (the original orientation).
    #[must_use]
    pub fn primary(&self) -> Pdq256 {
        match self {
            Hashes::One(h) => *h,
            Hashes::Dihedral(all) => all[0],
        }
    }

    /// The hashes, one or eight, in [`DIHEDRALS`] order.
    #[must_use]
    pub fn as_slice(&self) -> &[Pdq256] {
        match self {
            Hashes::One(h) => std::slice::from_ref(h),
            Hashes::Dihedral(all) => all,
        }
    }

    /// Each hash with the transform it is the hash of: only [`Dihedral::Original`] for
    /// [`Hashes::One`].
    pub fn iter(&self) -> impl Iterator<Item = (Dihedral, Pdq256)> + '_ {
        DIHEDRALS.into_iter().zip(self.as_slice().iter().copied())
    }

    /// The hash of transform `t`, when these hashes include it.
    #[must_use]
    pub fn get(&self, t: Dihedral) -> Option<Pdq256> {
        self.as_slice().get(t as usize).copied()
    }

    /// Whether these are the 8 dihedral hashes.
    #[must_use]
    pub fn is_dihedral(&self) -> bool {
        matches!(self, Hashes::Dihedral(_))
    }
}

impl From<Pdq256> for Hashes {
    fn from(h: Pdq256) -> Self {
        Hashes::One(h)
    }
}

impl From<[Pdq256; 8]> for Hashes {
    fn from(all: [Pdq256; 8]) -> Self {
        Hashes::Dihedral(all)
    }
}

/// An image's hashes with their quality: what hashing one image gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hashed {
    /// One hash or eight.
    pub hashes: Hashes,
    /// Quality 0–100 (see [`PdqHash::quality`]), shared by the eight dihedral hashes.
    pub quality: u8,
}

impl Hashed {
    /// The hash of the image as it is, with the quality.
    #[must_use]
    pub fn primary(&self) -> PdqHash {
        PdqHash {
            hash: self.hashes.primary(),
            quality: self.quality,
        }
    }

    /// The 8 dihedral hashes with the quality, when these are the dihedral hashes.
    #[must_use]
    pub fn dihedral(&self) -> Option<DihedralHashes> {
        match self.hashes {
            Hashes::One(_) => None,
            Hashes::Dihedral(hashes) => Some(DihedralHashes {
                hashes,
                quality: self.quality,
            }),
        }
    }
}

impl From<PdqHash> for Hashed {
    fn from(h: PdqHash) -> Self {
        Hashed {
            hashes: Hashes::One(h.hash),
            quality: h.quality,
        }
    }
}

impl From<DihedralHashes> for Hashed {
    fn from(d: DihedralHashes) -> Self {
        Hashed {
            hashes: Hashes::Dihedral(d.hashes),
            quality: d.quality,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u64) -> Pdq256 {
        Pdq256::from_words([n, !n, n << 3, n >> 1])
    }

    #[test]
    fn one_hash_or_eight_in_dihedral_order() {
        let one = Hashes::from(h(7));
        assert_eq!(one.as_slice(), &[h(7)]);
        assert_eq!(one.get(Dihedral::Original), Some(h(7)));
        assert_eq!(one.get(Dihedral::Rotate90), None);
        assert!(!one.is_dihedral());

        let all: [Pdq256; 8] = std::array::from_fn(|i| h(i as u64 + 1));
        let eight = Hashes::from(all);
        assert_eq!(eight.primary(), h(1));
        let pairs: Vec<(Dihedral, Pdq256)> = eight.iter().collect();
        assert_eq!(pairs.len(), 8);
        for (i, (t, hash)) in pairs.into_iter().enumerate() {
            assert_eq!((t, hash), (DIHEDRALS[i], all[i]));
            assert_eq!(eight.get(t), Some(all[i]));
        }
    }

    #[test]
    fn hashed_round_trips_the_hasher_results() {
        let p = PdqHash {
            hash: h(3),
            quality: 77,
        };
        assert_eq!(Hashed::from(p).primary(), p);
        assert_eq!(Hashed::from(p).dihedral(), None);
        let d = DihedralHashes {
            hashes: std::array::from_fn(|i| h(i as u64 * 5)),
            quality: 12,
        };
        let hashed = Hashed::from(d);
        assert_eq!(hashed.dihedral(), Some(d));
        assert_eq!(hashed.primary(), d.primary());
    }
}
