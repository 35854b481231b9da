//! Inputs: image files, directory trees, manifests and tar archives, each item with a stable id.
//!
//! | source | item id | order |
//! |---|---|---|
//! | file | the path as given | — |
//! | standard input, one image | `-` | — |
//! | directory | the path of each file under it, as `root/sub/name` | sorted by name at each level |
//! | manifest, one path per line | the line | file order |
//! | list of files (`--files-from`), one path per line | the line | file order |
//! | manifest `.csv`: `id,path` rows, or columns a header names | the `id` column, else the path | file order |
//! | tar archive | `archive-path:member-path` | archive order, streamed |
//!
//! Names become ids as [`super::id`] says ([`super::ID_SCHEME`]): a byte that is not UTF-8
//! is written `\xNN` and a backslash `\\` (Unix), so that distinct files keep distinct ids;
//! an id longer than a store takes is shortened ([`super::shorten_id`]) and the item is
//! hashed as any other. Relative paths in a manifest are resolved against the manifest's
//! directory, those in a list against the current directory (a list named `-` is standard
//! input). Blank lines and lines starting with `#` are skipped. The first other row of a `.csv`
//! manifest is a header when one of its fields is `path`: rows then give the path in that
//! column and the id in the `id` column, if there is one, with other columns left alone (so
//! the `manifest.csv` of [`crate::bench`]'s datasets can be hashed under its own ids). Fields
//! are split by the crate's CSV rules ([`crate::lines::csv`], with [`Rules::MANIFEST`]: RFC
//! 4180 quoting, bytes kept as written, a quote that does not close refused). Without such a
//! header a row is `id,path`, the path being the rest of the row. Directory symlinks are not followed (no cycles); file symlinks
//! are. Pipes, sockets and devices found in a directory are left out (a file source or a
//! manifest line naming one is read).
//!
//! In parts: `read` (an item's bytes, capped and screened), `walk` (the walk over all sources,
//! directory trees, counting), `manifest` (manifests and lists of paths) and `tar` (archives).
//!
//! [`Rules::MANIFEST`]: crate::lines::csv::Rules::MANIFEST

mod manifest;
mod read;
mod tar;
mod walk;

#[cfg(test)]
mod tests;

pub(crate) use read::RawItem;
#[cfg(test)]
use read::Screen;
pub use read::{read_item, DEFAULT_MAX_ITEM_BYTES};
pub(crate) use walk::{count, walk, Excluded};

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One input of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A single image file.
    File(PathBuf),
    /// Every file under a directory, recursively, in sorted order.
    Dir(PathBuf),
    /// A manifest: one path per line, or, when the name ends in `.csv`, `id,path` rows or rows
    /// whose `path` (and `id`) columns a header names; paths relative to the manifest's
    /// directory.
    Manifest(PathBuf),
    /// A list of files, one path per line, relative to the current directory, as a command
    /// line would give them (`find ... > list`); `-` reads the list from standard input, which
    /// can be walked only once (so it is not counted, and cannot be used with a journal).
    List(PathBuf),
    /// A tar archive read as a stream; each regular member is an item.
    Tar(PathBuf),
    /// One image read from standard input, with the id `-` (read once: it cannot be used with
    /// a journal).
    Stdin,
}

impl Source {
    /// Classifies a path: a directory, a `.tar` archive, or else an image file.
    ///
    /// # Errors
    /// [`Error::Io`] when the path cannot be inspected.
    pub fn detect(path: &Path) -> Result<Source> {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(if meta.is_dir() {
            Source::Dir(path.to_owned())
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
        {
            Source::Tar(path.to_owned())
        } else {
            Source::File(path.to_owned())
        })
    }

    /// The path of this source (`-` for standard input).
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Source::File(p)
            | Source::Dir(p)
            | Source::Manifest(p)
            | Source::List(p)
            | Source::Tar(p) => p,
            Source::Stdin => Path::new("-"),
        }
    }

    /// Whether this source reads standard input, which can be walked only once.
    #[must_use]
    pub fn reads_stdin(&self) -> bool {
        match self {
            Source::Stdin => true,
            Source::List(p) => is_stdin(p),
            _ => false,
        }
    }
}

/// Whether a list's path names standard input.
pub(crate) fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}
