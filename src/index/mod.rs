//! The near-duplicate index: one memory-mapped, self-describing file over a list of PDQ hashes.
//!
//! An index answers two questions about a query hash:
//!
//! - **radius search** (the near-duplicate lookup): every list entry within `max_distance`
//!   bits ([`DEFAULT_MAX_DISTANCE`] = 31), *exactly*, through multi-index hashing
//!   ([`Index::search_radius`]; `mih.rs`). Its answer equals the flat scan's
//!   ([`Index::search_radius_flat`]; `flat.rs`), which the tests check on structured and
//!   skewed data. With [`Index::search_radius_dihedral`] the eight rotations/flips of an image
//!   are looked up together and each match reports which transform reached it.
//! - **k-nearest search**: the `k` closest entries through the HNSW graph
//!   ([`Index::search_knn`]; `hnsw/`), approximate, with [`Index::search_knn_flat`] as the
//!   exact oracle.
//!
//! # Key types
//!
//! - [`IndexBuilder`] turns hashes and ids into file bytes, deterministically for a seed, and
//!   writes files atomically (temp file → fsync → rename).
//! - [`Index<D>`](Index) reads the bytes in place: [`Index::open`] maps a file,
//!   [`Index::from_bytes`] wraps any `AsRef<[u8]>`. It is `Send + Sync`.
//! - [`SearchScratch`] holds a search's buffers; one per thread, reused, so searches do not
//!   allocate once warm.
//! - [`Match`] names the list entry ([`RecordId`], its id via [`Index::id`]), the distance and
//!   the transform.
//!
//! # Invariants
//!
//! The byte layout is specified in `format.rs` ([`mod@format`]). Opening checks the header and
//! the section bounds only, in O(1), and refuses anything but a regular file
//! ([`IndexError::NotARegularFile`]). Lookups do not trust unchecked bytes: the first lookup
//! that reads a section checks it against its CRC32C and the index remembers the result, so a
//! flipped byte makes every lookup that reads it fail with [`IndexError::ChecksumMismatch`]
//! naming the section, and never gives a wrong answer (the first lookup pays one pass over
//! the sections it reads — hashes, MIH and ids for a radius search, the graph too for a
//! k-nearest one: on a 2 M-hash index of 655 MB without a graph, in the page cache, the first
//! radius lookup took 52–78 ms where later ones take 0.12 ms). [`Index::verify`]
//! checks every checksum, id, posting and neighbour, and lookups after it pay no checksum
//! again. Every id read during a search is checked at use, so a corrupt or truncated file
//! gives an [`IndexError`], never a panic or an out-of-bounds read. The module's only `unsafe`
//! code is the `POPCNT` dispatch of its Hamming kernels (`hamming.rs`); it maps files through
//! the crate's one mapping function, under the contract stated on [`Index::open`].
//!
//! # Example
//! ```
//! # fn main() -> imprint::index::Result<()> {
//! use imprint::hash::Pdq256;
//! use imprint::index::{Index, IndexBuilder, SearchScratch, DEFAULT_MAX_DISTANCE};
//!
//! let list: Vec<Pdq256> = (0..100u64).map(|i| Pdq256::from_words([i, i * 7, !i, i << 9])).collect();
//! let ids: Vec<String> = (0..100).map(|i| format!("entry-{i}")).collect();
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("list.idx");
//! IndexBuilder::new().seed(1).write_file(&path, &list, &ids)?;
//!
//! let index = Index::open(&path)?;
//! let mut scratch = SearchScratch::new();
//! let mut q = list[42];
//! q.flip_bit(3);
//! let found = index.search_radius(&q, DEFAULT_MAX_DISTANCE, &mut scratch)?;
//! assert!(found.iter().any(|m| index.id(m.record).unwrap() == "entry-42" && m.distance == 1));
//! # Ok(()) }
//! ```

mod builder;
mod error;
mod flat;
pub mod format;
mod hamming;
mod hnsw;
mod mih;
mod mmap;
mod reader;
mod scratch;
pub mod synthetic;

pub use builder::{
    IndexBuilder, DEFAULT_EF_CONSTRUCTION, DEFAULT_HNSW_M, DEFAULT_HNSW_M0, DEFAULT_SEED,
};
pub use error::{IndexError, Result};
pub use format::{FORMAT_VERSION, OLDEST_SUPPORTED_FORMAT_VERSION};
pub use mih::default_num_substrings;
pub use mmap::MappedFile;
pub use reader::{Index, IndexInfo, SectionInfo};
pub use scratch::SearchScratch;

use crate::hash::Dihedral;

/// Default radius of the near-duplicate lookup: 31 bits, the threshold Meta recommends for
/// PDQ matching (`pdq/README`: "distance ≤ 31 is a match").
pub const DEFAULT_MAX_DISTANCE: u32 = 31;

/// Default HNSW search beam `ef_search`. On the seeded near-duplicate benchmark
/// (`BENCHMARKS.md`) it finds 99 % of the matches within 31 bits at 100 k hashes but only 69 %
/// at 1 M; near-duplicate lookups should use the exact [`Index::search_radius`], and k-nearest
/// callers on large lists should raise it.
pub const DEFAULT_EF_SEARCH: usize = 64;

/// The position of a hash in the index (its line in the input list, counting accepted
/// entries from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub u32);

/// Combines the matches of searches for one image's hashes (its 8 dihedral hashes): each record
/// once, with its smallest distance and the lowest transform reaching it, sorted by (distance,
/// record), as [`Index::search_radius_dihedral`] answers.
pub fn best_per_record(matches: &mut Vec<Match>) {
    matches.sort_unstable_by_key(|m| (m.record, m.distance, m.transform));
    matches.dedup_by_key(|m| m.record);
    matches.sort_unstable_by_key(|m| (m.distance, m.record));
}

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// The matching list entry.
    pub record: RecordId,
    /// Hamming distance in bits.
    pub distance: u32,
    /// The transform of the query that matched ([`Dihedral::Original`] unless the search was
    /// a dihedral one).
    pub transform: Dihedral,
}

#[cfg(test)]
mod tests;
