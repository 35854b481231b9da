//! PDQ hashing on the CPU: the reference implementation.
//!
//! [`PdqHasher`] turns 8-bit pixels ([`ImageRef`]) into a [`PdqHash`] (a [`Pdq256`] and a
//! quality score 0–100) or the eight [`DihedralHashes`], bit-exact with Meta's reference in the
//! full-resolution convention. The steps and where they live:
//!
//! | step | module | reference |
//! |---|---|---|
//! | RGB → `f32` luma | `luma` | pdqhash-python `compute` |
//! | Jarosz tent filter, 64×64 decimation | `jarosz` | `downscaling.cpp` |
//! | quality metric | `pdq` | `pdqImageDomainQualityMetric` |
//! | 16×16 DCT of frequencies 1–16 | `dct` | `dct64To16` |
//! | lower-median threshold | `pdq` | `pdqBuffer16x16ToBits` + `torben` |
//! | dihedral hashes | `dihedral` | `dct16OriginalTo*` |
//!
//! The GPU path is checked against this module, never the reverse.

mod convention;
mod dct;
mod dihedral;
mod hashes;
mod jarosz;
mod luma;
mod pdq;
mod pdq256;
mod strip;

pub use convention::{Convention, Prepared, CPP_CLI_SIDE};
pub use dct::{dct_matrix, DCT_COLS, DCT_ROWS};
pub use dihedral::{Dihedral, DIHEDRALS};
pub use hashes::{Hashed, Hashes};
pub use jarosz::window_size;
pub use luma::luma;
pub use pdq::{
    DihedralHashes, HashError, ImageRef, PdqFloat, PdqHash, PdqHasher, PixelLayout,
    MIN_HASHABLE_DIM, RECOMMENDED_MIN_QUALITY,
};
pub use pdq256::{hamming, ParseHashError, Pdq256};
