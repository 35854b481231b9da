//! Read-only memory maps of imprint's own files, through one `unsafe` call that every store and
//! index reader shares.
//!
//! Both file kinds that are mapped follow one rule, which is what makes mapping them sound:
//! **committed bytes are never modified in place while a reader may map them.**
//!
//! * Hash stores (`crate::store`) only ever grow by whole blocks; readers map only the header
//!   and the complete blocks that exist when they open the file. Two exceptions touch only the
//!   torn tail, which a reader finds at open and never reads again: the writer fills in the
//!   8-byte seal (zero until then) of the block it has just written, and truncating a torn
//!   tail on `--resume` must not run while another process reads the store (documented on
//!   `Store::open`).
//! * Index files (`crate::index`) are written once to a temporary file, fsynced and renamed over
//!   the target, so an open mapping keeps the old, complete inode.
//!
//! Every byte read through a mapping is validated before use (checked offsets and lengths,
//! checksums in `verify`), so unexpected contents give an error, never UB.
//!
//! This module's `unsafe` code is the mapping call in `map_read_only`, with a `// SAFETY:`
//! comment; the crate docs (`lib.rs`, *Unsafe code*) list every module with `unsafe` code.

#![allow(unsafe_code)]

use memmap2::{Mmap, MmapOptions};
use std::fs::File;

/// Maps the first `len` bytes of `file` read-only.
///
/// Only for files written under the rule in the module docs: stores and index files.
///
/// # Errors
/// The operating system's error when the file cannot be mapped.
pub(crate) fn map_read_only(file: &File, len: usize) -> std::io::Result<Mmap> {
    // SAFETY: the mapping is read-only and covers bytes that no imprint writer modifies in
    // place while readers exist (module docs); callers map only their own file kinds and
    // validate every byte before use.
    unsafe { MmapOptions::new().len(len).map(file) }
}
