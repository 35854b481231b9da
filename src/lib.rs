//! # imprint
//!
//! Bulk perceptual hashing (PDQ) of images on the CPU and on GPU compute shaders, an
//! append-only hash store for crash-safe bulk runs, and a memory-mapped near-duplicate index.
//!
//! ## Architecture
//!
//! | module | role | depends on |
//! |---|---|---|
//! | [`hash`] | PDQ reference on the CPU: [`hash::Pdq256`], [`hash::PdqHasher`], dihedral hashes | — |
//! | [`decode`] | image bytes → 8-bit grey/RGB pixels, as the reference decodes them | — |
//! | `gpu` (feature `gpu`) | the same hashes from wgpu compute shaders, batched | `hash` |
//! | [`Backend`], [`BackendHasher`] | choosing CPU or GPU, with CPU fallback under `Auto` | `hash`, `gpu` |
//! | [`store`] | append-only, checksummed, memory-mapped file of hash records | `hash`, `files` |
//! | [`index`] | one memory-mapped file: exact radius search (MIH), HNSW k-NN, flat scan | `hash`, `files` |
//! | [`files`] | the rules for output paths (never an input, a device, or another kind's file) and for reading stores and indexes by path; the file kinds' magics | — |
//! | [`hashlist`] | hash lists (CSV, HMA/ThreatExchange exports, JSONL) read as streams of entries and written as `imprint` prints them | `hash`, `lines` |
//! | [`lines`] | text inputs (manifests, hash lists) read a bounded line at a time, as bytes | — |
//! | [`pipeline`] | sources → parallel decode → hash → sink, resumable and shardable; bulk runs into a store | `hash`, `decode`, `backend`, `store`, `lines`, `threads`, `rng` |
//! | [`matching`] | queries (stores, hash lists, images as they are hashed) against an index, in parallel, in input order | `index`, `store`, `pipeline`, `hashlist` |
//! | [`rng`] | the one seeded generator (SplitMix64) of datasets, HNSW levels, shards, tests and benches | — |
//! | [`threads`] | the most threads a caller may ask for, per core | — |
//! | [`mod@bench`] | seeded near-duplicate datasets, robustness, speed and index-sweep reports | `hash`, `decode`, `index`, `store`, `rng` |
//!
//! The CPU path in [`hash`] is the reference: everything else is checked against it. No two
//! modules import each other (`tests/it/layering.rs` checks it).
//!
//! ## Unsafe code
//!
//! The crate denies `unsafe_code`; five modules allow it, and every `unsafe` block in them has
//! a `// SAFETY:` comment (`clippy::undocumented_unsafe_blocks` warns on one without):
//!
//! | module | where |
//! |---|---|
//! | `mmap` | the read-only memory map of stores and index files (its docs give the contract) |
//! | `index::hamming` | the three calls into the `POPCNT` copies of the Hamming loops, each after the run-time CPU test |
//! | `hash::luma` | the call into the AVX2 copy of the RGB row conversion, after the run-time CPU test |
//! | `hash::strip` | the two calls into the SSE strip transposes (SSE is part of the x86-64 baseline) |
//! | `decode::webp` | the calls into libwebp (C), with their pointer and buffer invariants |
//!
//! Tests add one more: a counting global allocator in `hash::pdq`'s tests.
//!
//! ## Quick start
//!
//! ```
//! use imprint::decode::{decode_file, DecodeOptions};
//! use imprint::hash::PdqHasher;
//!
//! let image = decode_file("datasets/sample/q0122.jpg".as_ref(), &DecodeOptions::default())?;
//! let pdq = PdqHasher::new().hash(image.as_image_ref());
//! assert_eq!(pdq.quality, 100);
//! assert_eq!(
//!     pdq.hash.to_string(),
//!     "cfb2009ddd21c6dab0046a7745b5984757a8a4535b3377aea2591d32b33ff940"
//! );
//! # Ok::<(), imprint::decode::DecodeError>(())
//! ```
#![warn(missing_docs)]
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod backend;
pub mod bench;
pub mod decode;
mod error;
pub mod files;
pub mod hash;
pub mod hashlist;
pub mod index;
mod mmap;

#[cfg(feature = "gpu")]
pub mod gpu;

pub mod lines;
pub mod matching;
pub mod pipeline;
pub mod rng;
pub mod store;
pub mod threads;

pub use backend::{Backend, BackendError, BackendHasher, ParseBackendError};
pub use error::{Error, Result};

/// The README's examples, run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
