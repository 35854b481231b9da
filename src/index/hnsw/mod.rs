//! Hierarchical navigable small-world graph over 256-bit Hamming distance: approximate
//! k-nearest search.
//!
//! - `graph`: the fixed-width `u32` neighbour rows, viewed in place over the mapped file.
//! - `build`: the rayon-parallel, seed-deterministic builder (see its docs for how).
//! - `search`: greedy descent and the level-0 beam search.
//!
//! HNSW is approximate. On near-random binary codes every non-match sits at distance
//! ~128 ± 8, so the graph has little gradient to follow; the exact near-duplicate lookup is
//! MIH ([`crate::index::Index::search_radius`]), and HNSW serves "closest k" questions.

pub(crate) mod build;
pub(crate) mod graph;
pub(crate) mod search;
