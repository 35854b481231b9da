//! Opening the stores and indexes named on the command line: regular files only (see
//! [`imprint::files::check_regular_input`]), with the path in every message.

use anyhow::{Context, Result};
use imprint::index::Index;
use imprint::store::Store;
use std::path::Path;

/// Opens the index at `path`.
///
/// # Errors
/// The path is not a regular file, or the index cannot be opened.
pub fn index(path: &Path) -> Result<Index> {
    imprint::files::check_regular_input(path)
        .with_context(|| format!("cannot open index {}", path.display()))?;
    Index::open(path).with_context(|| format!("cannot open index {}", path.display()))
}

/// Opens the hash store at `path`.
///
/// # Errors
/// The path is not a regular file, or the store cannot be opened.
pub fn store(path: &Path) -> Result<Store<memmap2::Mmap>> {
    imprint::files::check_regular_input(path)
        .with_context(|| format!("cannot open store {}", path.display()))?;
    Store::open(path).with_context(|| format!("cannot open store {}", path.display()))
}
