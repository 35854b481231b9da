//! The append-only hash store: one file of fixed-size records in checksummed blocks.
//!
//! A run appends one record per item with [`StoreWriter`]: the item's PDQ hash and quality (and
//! optionally its 8 dihedral hashes), or, when the item failed, an error record with its cause.
//! Item ids live in each block's string area. [`Store`] reads the file in place, over an mmap
//! ([`Store::open`]) or any bytes ([`Store::from_bytes`]).
//!
//! Invariants:
//! * the file is a versioned, checksummed header and whole blocks, each sealed with its record
//!   count, index and CRC32C; the byte layout is specified in [`format`](mod@format);
//! * the header records how the hashes were made ([`HashParams`]); a resume or a merge that
//!   would mix parameters is refused;
//! * committed bytes are never rewritten; a seal is written last, so a crash leaves at most a
//!   torn tail of never-sealed blocks, which readers skip (with a warning) and
//!   [`StoreWriter::resume`] truncates (and logs), while a sealed block that fails its
//!   checksum is corruption, reported naming the block by every reader that uses it;
//! * two writers never share a file: a writer locks its file before it writes a byte, and a
//!   new store appears under its name complete with its header (a merged store only once
//!   complete, [`merge`]);
//! * no input bytes cause a panic or an allocation sized by an untrusted count: every offset is
//!   checked and errors are [`StoreError`] values.
//!
//! # Examples
//! ```
//! use imprint::hash::{Pdq256, PdqHash};
//! use imprint::store::{Store, StoreOptions, StoreWriter};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("run.imps");
//! let mut w = StoreWriter::create(&path, &StoreOptions::new())?;
//! w.append_hash("cat.jpg", &PdqHash { hash: Pdq256::ZERO, quality: 100 })?;
//! w.append_error("notes.txt", "not an image")?;
//! w.finish()?;
//! let store = Store::open(&path)?;
//! let ids: Vec<String> = store.records().map(|r| Ok(r?.id.to_owned())).collect::<Result<_, imprint::store::StoreError>>()?;
//! assert_eq!(ids, ["cat.jpg", "notes.txt"]);
//! assert_eq!(store.verify()?.num_error_records, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod format;
mod merge;
mod mmap;
mod params;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use error::{BlockProblem, Result, Section, StoreError};
pub use format::{stored_cause, FORMAT_VERSION, MAX_CAUSE_LEN, OLDEST_SUPPORTED_FORMAT_VERSION};
pub use merge::{merge, MergeOptions, MergeReport, SkippedBlock};
pub use params::{HashParams, ParseHashParamsError};
pub use reader::{Block, Outcome, Record, Records, Store, StoreInfo, VerifyReport};
pub use writer::{Recovery, StoreOptions, StoreWriter, SyncPolicy, DEFAULT_BLOCK_SIZE};
