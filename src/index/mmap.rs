//! Read-only memory mapping of index files (`crate::mmap`).

use std::fs::File;
use std::path::Path;

use super::error::{IndexError, Result};
use crate::files::type_name;

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

impl MappedFile {
    /// Maps every page of the file into this process now, so that later reads take no page
    /// fault (`MADV_POPULATE_READ` on Linux 5.14+, otherwise one read per 4 KiB page).
    /// Reads the whole file from disk if it is not in the page cache.
    pub(crate) fn warm(&self) {
        #[cfg(target_os = "linux")]
        if self.map.advise(memmap2::Advice::PopulateRead).is_ok() {
            return;
        }
        let mut acc = 0u8;
        for page in self.map.chunks(4096) {
            acc ^= page[0];
        }
        std::hint::black_box(acc);
    }
}

/// `meta` when it describes a regular file.
fn regular(path: &Path, meta: std::fs::Metadata) -> Result<std::fs::Metadata> {
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(IndexError::NotARegularFile {
            path: path.to_path_buf(),
            kind: type_name(&meta.file_type()),
        })
    }
}

/// The length of the regular file at `path` (following symlinks), checked before anything
/// opens it: opening a pipe waits for a writer, and a device such as `/dev/zero` never ends.
///
/// # Errors
/// [`IndexError::NotARegularFile`], or [`IndexError::Io`] if the path cannot be examined.
pub(crate) fn regular_file_len(path: &Path) -> Result<u64> {
    let meta = crate::files::regular_file_meta(path).map_err(|source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    meta.map(|m| m.len())
        .map_err(|kind| IndexError::NotARegularFile {
            path: path.to_path_buf(),
            kind,
        })
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
/// [`IndexError::NotARegularFile`] for a directory, pipe, device or socket (checked before
/// opening, so that a pipe does not block the open, and again on the opened file);
/// [`IndexError::Io`] if the file cannot be opened or mapped.
pub(crate) fn map(path: &Path) -> Result<MappedFile> {
    let io = |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    };
    regular_file_len(path)?;
    let file = File::open(path).map_err(io)?;
    let len = regular(path, file.metadata().map_err(io)?)?.len();
    let len = usize::try_from(len).map_err(|_| IndexError::Truncated {
        needed: len,
        available: usize::MAX as u64,
    })?;
    // The whole file, never modified in place once written: see the contract above.
    let map = crate::mmap::map_read_only(&file, len).map_err(io)?;
    Ok(MappedFile { map })
}
