//! Opening the stores and indexes named on the command line, with the path in every message
//! (the library refuses anything but a regular file, saying what it is).

use anyhow::{Context, Result};
use imprint::index::Index;
use imprint::store::Store;
use std::path::Path;

/// Opens the index at `path`.
///
/// # Errors
/// The path is not a regular file, or the index cannot be opened.
pub fn index(path: &Path) -> Result<Index> {
    Index::open(path).with_context(|| format!("cannot open index {}", path.display()))
}

/// Opens the hash store at `path`.
///
/// # Errors
/// The path is not a regular file, or the store cannot be opened.
pub fn store(path: &Path) -> Result<Store<memmap2::Mmap>> {
    Store::open(path).with_context(|| format!("cannot open store {}", path.display()))
}
