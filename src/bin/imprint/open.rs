//! Opening the stores, indexes and hash lists named on the command line, with the path in
//! every message (the library refuses anything but a regular file, saying what it is).

use anyhow::{Context, Result};
use imprint::hashlist::{Entry, LineError, ListError, Reader};
use imprint::index::Index;
use imprint::store::Store;
use std::fs::File;
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

/// The first 32 bytes of the file at `path` (fewer for a shorter file; none for `-`, a file
/// that cannot be read, or one that is not a regular file), enough to tell a hash store or an
/// image by its magic. A pipe (`<(zcat list.csv.gz)`) is never read here: the bytes taken would
/// be lost to the hash list it is read as.
pub fn file_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::with_capacity(32);
    if path.as_os_str() != "-" && std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        if let Ok(f) = File::open(path) {
            let _ = f.take(32).read_to_end(&mut head);
        }
    }
    head
}

/// Whether `head` (see [`file_head`]) starts a hash store, so that a store can be given where
/// hash lists go.
pub fn is_store(head: &[u8]) -> bool {
    head.starts_with(&imprint::store::format::MAGIC)
}
