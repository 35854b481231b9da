//! Read-only memory mapping of index files: the only `unsafe` code of the index module.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use super::error::{IndexError, Result};

/// A read-only mapping of a whole index file.
#[derive(Debug)]
pub struct MappedFile {
    map: memmap2::Mmap,
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

/// Maps `path` read-only.
///
/// # mmap contract
///
/// Reading a mapped file that another process truncates or rewrites in place is undefined
/// behaviour. The index upholds this because index files are never modified after they are
/// written: [`crate::index::IndexBuilder::write_file`] writes a temporary file in the target
/// directory, fsyncs it and renames it over the target, so an open mapping keeps seeing the
/// old, complete inode. Tools outside imprint must follow the same rule (replace, never edit
/// in place).
///
/// # Errors
/// [`IndexError::Io`] if the file cannot be opened or mapped.
pub(crate) fn map(path: &Path) -> Result<MappedFile> {
    let io = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: the mapping is read-only and the file is never modified in place once written
    // (the writer renames a complete, fsynced temporary file over the target; see the mmap
    // contract above), so the bytes behind the mapping do not change while it lives. All
    // accesses go through bounds-checked slices of `&[u8]`.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    Ok(MappedFile { map })
}
