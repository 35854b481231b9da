//! The rules for the paths imprint is given to write, and to read its own file kinds from.
//!
//! Every command that writes a file or a directory (`index build --out`, a new `hash --out`
//! store, `store merge`, `bench make-dataset --out`, a benchmark report) first calls
//! [`check_output`], so that one rule holds for all of them and for any other front end:
//!
//! 1. **An output is never one of the inputs.** Two paths are the same file when they name the
//!    same device and inode (hard links, `./x` and `x`, symbolic links), not when their names
//!    are equal: `index build --out v.imps --store v.imps` would otherwise read a store while
//!    renaming an index over it.
//! 2. **Only regular files (or, for directory outputs, directories) are replaced.** A
//!    character device, a pipe, a socket or a directory given as an output file is refused,
//!    whatever is asked: writing a temporary file and renaming it over `/dev/…` would replace
//!    the device node with a regular file.
//! 3. **An existing file of another kind is replaced only when forced.** An index replaces an
//!    index (or an empty file); a store a store; a directory output writes into an empty
//!    directory or one that holds its marker file (a dataset's `manifest.csv`). Anything else
//!    is someone's data, refused unless the caller passes `force` (the CLI's `--force`).
//!
//! Reading a store or an index by path has the matching rule: those are mapped or read to
//! their end, which an endless device (`/dev/zero`) or a pipe cannot support, so
//! `Store::open` and `Index::open` refuse anything but a regular file, saying what it is (the
//! check is `regular_file_meta`, shared with them).
//!
//! The checks run before the write starts; a file created or swapped in between by another
//! process is not caught (the writers' own locking and temp-file renames cover concurrent
//! imprint runs).

use std::fs::{FileType, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The 8 bytes every index file starts with ([`crate::index::format::MAGIC`] is this constant):
/// a non-ASCII first byte and `\r\n` catch text-mode mangling. The magics of both kinds live
/// here, where the kinds are told apart, so that this module needs neither `index` nor `store`.
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"\x89IMPIX\r\n";

/// The 8 bytes every hash store starts with ([`crate::store::format::MAGIC`] is this
/// constant): a non-ASCII byte, a name, and `\r\n` + `^Z`, so a file mangled by a text-mode
/// transfer or mistaken for text is rejected.
pub(crate) const STORE_MAGIC: [u8; 8] = *b"\x89IMPS\r\n\x1a";

/// What a writer produces, which decides what it may replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputKind {
    /// An index file ([`crate::index::format::MAGIC`]).
    Index,
    /// A hash store ([`crate::store::format::MAGIC`]).
    Store,
    /// A directory of files, recognised by a file it always holds (e.g. `manifest.csv`).
    Directory {
        /// The file name that marks a directory this writer made.
        marker: &'static str,
    },
}

impl std::fmt::Display for OutputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputKind::Index => f.write_str("an imprint index"),
            OutputKind::Store => f.write_str("an imprint hash store"),
            OutputKind::Directory { marker } => {
                write!(f, "an empty directory or one holding {marker}")
            }
        }
    }
}

/// Why a path may not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The output is the same file as an input (same device and inode).
    #[error("{} is the same file as the input {}: choose another output", path.display(), input.display())]
    OutputIsAnInput {
        /// The output path.
        path: PathBuf,
        /// The input path it is the same file as.
        input: PathBuf,
    },
    /// The path exists and is not a regular file (or, for a directory output, a directory).
    #[error("{} is {found}, not {wanted}", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is, e.g. `a character device`.
        found: &'static str,
        /// What was needed: `a regular file` or `a directory`.
        wanted: &'static str,
    },
    /// The output exists and holds something other than what would be written.
    #[error(
        "{} exists and is not {expected}; refusing to replace it unless forced (--force)",
        path.display()
    )]
    NotOfKind {
        /// The output path.
        path: PathBuf,
        /// What would be written.
        expected: OutputKind,
    },
    /// The path could not be examined.
    #[error("cannot examine {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Checks that `path` may be written as `kind` by a command reading `inputs` (module docs).
///
/// A path that does not exist may always be written. Otherwise it must not be one of the
/// `inputs` (those that cannot be examined, such as `-` for standard input, are left out), it
/// must be a regular file (a directory for [`OutputKind::Directory`]), and it must already be
/// of `kind`, unless `force`.
///
/// # Errors
/// [`FileError::OutputIsAnInput`], [`FileError::NotRegular`], [`FileError::NotOfKind`], or
/// [`FileError::Io`] when `path` exists but cannot be examined.
///
/// # Examples
/// ```
/// use imprint::files::{check_output, FileError, OutputKind};
///
/// let dir = std::env::temp_dir().join(format!("imprint-files-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let notes = dir.join("notes.txt");
/// std::fs::write(&notes, "keep me")?;
/// // A new file is fine; an existing file that is not an index is refused unless forced.
/// assert!(check_output(&dir.join("new.impx"), OutputKind::Index, &[], false).is_ok());
/// let refused = check_output(&notes, OutputKind::Index, &[], false);
/// assert!(matches!(refused, Err(FileError::NotOfKind { .. })));
/// assert!(check_output(&notes, OutputKind::Index, &[], true).is_ok());
/// // An output that is an input is refused, forced or not.
/// let same = check_output(&notes, OutputKind::Index, &[notes.as_path()], true);
/// assert!(matches!(same, Err(FileError::OutputIsAnInput { .. })));
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_output(
    path: &Path,
    kind: OutputKind,
    inputs: &[&Path],
    force: bool,
) -> Result<(), FileError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(FileError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    for input in inputs {
        if std::fs::metadata(input).is_ok_and(|m| same_file(&meta, &m)) {
            return Err(FileError::OutputIsAnInput {
                path: path.to_owned(),
                input: input.to_path_buf(),
            });
        }
    }
    let is_dir_kind = matches!(kind, OutputKind::Directory { .. });
    let wanted_type = if is_dir_kind {
        meta.is_dir()
    } else {
        meta.is_file()
    };
    if !wanted_type {
        return Err(FileError::NotRegular {
            path: path.to_owned(),
            found: type_name(&meta.file_type()),
            wanted: if is_dir_kind {
                "a directory"
            } else {
                "a regular file"
            },
        });
    }
    if force || is_of_kind(path, &meta, kind)? {
        return Ok(());
    }
    Err(FileError::NotOfKind {
        path: path.to_owned(),
        expected: kind,
    })
}

/// The metadata of `path` (following symlinks) when it is a regular file; otherwise what it
/// is, in words ([`type_name`]). Readers check this before opening a file: opening a pipe
/// waits for a writer, and a device such as `/dev/zero` never ends.
///
/// # Errors
/// The error of examining `path` (it does not exist, say).
pub(crate) fn regular_file_meta(path: &Path) -> std::io::Result<Result<Metadata, &'static str>> {
    let meta = std::fs::metadata(path)?;
    Ok(if meta.is_file() {
        Ok(meta)
    } else {
        Err(type_name(&meta.file_type()))
    })
}

/// Whether the existing `path` (a regular file, or a directory for directory kinds) already
/// holds what `kind` writes: its magic, nothing at all, or its marker file.
fn is_of_kind(path: &Path, meta: &Metadata, kind: OutputKind) -> Result<bool, FileError> {
    let io = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let magic = match kind {
        OutputKind::Index => INDEX_MAGIC,
        OutputKind::Store => STORE_MAGIC,
        OutputKind::Directory { marker } => {
            let empty = std::fs::read_dir(path).map_err(io)?.next().is_none();
            return Ok(empty || path.join(marker).is_file());
        }
    };
    if meta.len() == 0 {
        return Ok(true);
    }
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]).map_err(io)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got == head.len() && head == magic)
}

/// Whether two files' metadata name the same file.
#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Whether two files' metadata name the same file (without inode numbers: never known).
#[cfg(not(unix))]
fn same_file(_: &Metadata, _: &Metadata) -> bool {
    false
}

/// What a file type is, in words (`a directory`, `a pipe (fifo)`, …).
pub(crate) fn type_name(t: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a pipe (fifo)";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file or a directory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    #[test]
    fn magics_are_the_formats_own_and_differ() {
        assert_eq!(crate::index::format::MAGIC, *b"\x89IMPIX\r\n");
        assert_eq!(crate::store::format::MAGIC, *b"\x89IMPS\r\n\x1a");
        assert_ne!(INDEX_MAGIC, STORE_MAGIC);
    }

    #[test]
    fn check_output_refuses_an_input_by_inode_not_by_name() {
        let d = tmp();
        let store = d.path().join("v.imps");
        std::fs::write(&store, STORE_MAGIC).expect("write");
        let link = d.path().join("hard.imps");
        std::fs::hard_link(&store, &link).expect("link");
        let dotted = d.path().join(".").join("v.imps");
        for out in [&store, &link, &dotted] {
            let e = check_output(out, OutputKind::Index, &[store.as_path()], true);
            assert!(matches!(e, Err(FileError::OutputIsAnInput { .. })), "{e:?}");
        }
        // Another file of the kind, and a missing one, are fine.
        let other = d.path().join("w.impx");
        std::fs::write(&other, INDEX_MAGIC).expect("write");
        check_output(&other, OutputKind::Index, &[store.as_path()], false).expect("an index");
        check_output(
            &d.path().join("new"),
            OutputKind::Index,
            &[store.as_path()],
            false,
        )
        .expect("a new file");
    }

    #[test]
    fn check_output_refuses_other_kinds_unless_forced_and_non_regular_files_always() {
        let d = tmp();
        let store = d.path().join("s.imps");
        std::fs::write(&store, STORE_MAGIC).expect("write");
        let e = check_output(&store, OutputKind::Index, &[], false).expect_err("a store");
        assert!(matches!(e, FileError::NotOfKind { .. }), "{e:?}");
        assert!(e.to_string().contains("is not an imprint index"), "{e}");
        check_output(&store, OutputKind::Index, &[], true).expect("forced");
        check_output(&store, OutputKind::Store, &[], false).expect("a store for a store");
        // A short file and an empty one.
        let short = d.path().join("short");
        std::fs::write(&short, b"\x89IMP").expect("write");
        assert!(check_output(&short, OutputKind::Index, &[], false).is_err());
        let empty = d.path().join("empty");
        std::fs::write(&empty, b"").expect("write");
        check_output(&empty, OutputKind::Index, &[], false).expect("an empty file");
        // A directory is not a file, forced or not.
        let e = check_output(d.path(), OutputKind::Index, &[], true).expect_err("a directory");
        assert!(
            e.to_string()
                .ends_with("is a directory, not a regular file"),
            "{e}"
        );
        #[cfg(unix)]
        {
            let e = check_output(Path::new("/dev/null"), OutputKind::Index, &[], true)
                .expect_err("a device");
            assert_eq!(
                e.to_string(),
                "/dev/null is a character device, not a regular file"
            );
        }
    }

    #[test]
    fn directory_outputs_write_into_empty_or_marked_directories_only() {
        let d = tmp();
        let kind = OutputKind::Directory {
            marker: "manifest.csv",
        };
        check_output(d.path(), kind, &[], false).expect("empty");
        std::fs::write(d.path().join("thesis.tex"), "mine").expect("write");
        let e = check_output(d.path(), kind, &[], false).expect_err("someone's files");
        assert!(matches!(e, FileError::NotOfKind { .. }), "{e:?}");
        check_output(d.path(), kind, &[], true).expect("forced");
        std::fs::write(d.path().join("manifest.csv"), "").expect("write");
        check_output(d.path(), kind, &[], false).expect("a dataset");
        let file = d.path().join("thesis.tex");
        let e = check_output(&file, kind, &[], true).expect_err("a file");
        assert!(e.to_string().ends_with("not a directory"), "{e}");
    }

    #[test]
    fn regular_files_pass_and_others_are_named() {
        let d = tmp();
        let kind = regular_file_meta(d.path())
            .expect("exists")
            .expect_err("a directory");
        assert_eq!(kind, "a directory");
        let missing = regular_file_meta(&d.path().join("missing")).expect_err("missing");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        let f = d.path().join("f");
        std::fs::write(&f, "x").expect("write");
        let meta = regular_file_meta(&f).expect("exists").expect("a file");
        assert_eq!(meta.len(), 1);
        #[cfg(unix)]
        {
            let kind = regular_file_meta(Path::new("/dev/zero"))
                .expect("exists")
                .expect_err("a device");
            assert_eq!(kind, "a character device");
        }
    }
}
