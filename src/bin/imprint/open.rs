//! Opening the stores, indexes and hash lists named on the command line, with the path in
//! every message (the library refuses anything but a regular file, saying what it is).

use anyhow::{Context, Result};
use imprint::hashlist::{Entry, LineError, ListError, Reader};
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

/// Reads the hash list at `path` (`-` for standard input), calling `on_entry` for each entry and
/// recording the lines that give none in `bad`.
///
/// # Errors
/// The list cannot be opened or read.
pub fn hash_list(
    path: &Path,
    bad: &mut Vec<LineError>,
    mut on_entry: impl FnMut(Entry),
) -> Result<()> {
    let name = path.display().to_string();
    let io_error = |e: ListError| match e {
        ListError::Open { source, .. } => {
            anyhow::Error::new(source).context(format!("opening {name}"))
        }
        ListError::Read { source, .. } if name == "-" => {
            anyhow::Error::new(source).context("reading stdin")
        }
        ListError::Read { source, .. } => {
            anyhow::Error::new(source).context(format!("reading {name}"))
        }
        other => other.into(),
    };
    for item in Reader::open(path).map_err(io_error)? {
        match item {
            Ok(entry) => on_entry(entry),
            Err(ListError::Line(line)) => bad.push(line),
            Err(e) => return Err(io_error(e)),
        }
    }
    Ok(())
}
