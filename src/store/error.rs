//! [`StoreError`]: everything that can go wrong reading or writing a store.

use super::params::HashParams;
use std::fmt;
use std::path::{Path, PathBuf};

/// A part of a store file, named in checksum errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// The file header.
    Header,
    /// Block number `n` (0-based).
    Block(u64),
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Section::Header => f.write_str("header"),
            Section::Block(n) => write!(f, "block {n}"),
        }
    }
}

/// What is wrong with a damaged block (see [`StoreError::BlockCorrupt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockProblem {
    /// The block's CRC32C does not match its bytes.
    ChecksumMismatch {
        /// The stored CRC32C.
        expected: u32,
        /// The CRC32C of the bytes.
        actual: u32,
    },
    /// The seal marker is neither zero (never sealed) nor the seal.
    BadSealMarker {
        /// The marker bytes found.
        found: [u8; 4],
    },
    /// The block was never sealed, yet sealed blocks follow it.
    NeverSealed,
    /// The block header names another position.
    Misplaced {
        /// The block index in the block header.
        found: u64,
    },
}

impl fmt::Display for BlockProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockProblem::ChecksumMismatch { expected, actual } => write!(
                f,
                "checksum mismatch: stored {expected:#010x}, computed {actual:#010x}"
            ),
            BlockProblem::BadSealMarker { found } => {
                write!(f, "bad seal marker {found:02x?}")
            }
            BlockProblem::NeverSealed => {
                f.write_str("the block was never sealed, yet sealed blocks follow it")
            }
            BlockProblem::Misplaced { found } => {
                write!(f, "the block says it is block {found}")
            }
        }
    }
}

fn of_file(path: Option<&Path>) -> String {
    path.map(|p| format!(" of {}", p.display()))
        .unwrap_or_default()
}

/// Errors from [`crate::store`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start with the store magic: it is not an imprint store.
    #[error("not an imprint hash store: bad magic {found:02x?}")]
    BadMagic {
        /// The first 8 bytes found.
        found: [u8; 8],
    },
    /// The file's format version is outside what this build reads.
    #[error(
        "store format version {found} is not supported (this build reads {oldest}..={newest}); \
         use an imprint release that reads version {found}, or re-run the hashing"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Oldest version this build reads.
        oldest: u32,
        /// Newest version this build reads.
        newest: u32,
    },
    /// A checksum does not match the bytes it covers.
    #[error("checksum mismatch in {section}: stored {expected:#010x}, computed {actual:#010x}")]
    ChecksumMismatch {
        /// Where.
        section: Section,
        /// The stored CRC32C.
        expected: u32,
        /// The CRC32C of the bytes.
        actual: u32,
    },
    /// The data is shorter than a structure it must hold.
    #[error("store truncated: needs {needed} bytes, has {available}")]
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A header field has a value this format does not allow.
    #[error("bad store header: {field} = {value}")]
    BadHeader {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// A block's contents are inconsistent although its checksum may match.
    #[error("corrupt store block {block}: {reason}")]
    Corrupt {
        /// Block number.
        block: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// An item id is longer than the format allows.
    #[error("item id of {len} bytes is longer than the maximum {max}")]
    IdTooLong {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Dihedral hashes were appended to a store created without them, or the reverse.
    #[error("store was created {}dihedral hashes", if *store_has { "with " } else { "without " })]
    DihedralMismatch {
        /// Whether the store holds dihedral hashes.
        store_has: bool,
    },
    /// Another writer (this process or another) holds the store's write lock.
    #[error(
        "{} is being written by another process (it holds the store's write lock); \
         wait for that run to finish or stop it, then resume",
        path.display()
    )]
    Locked {
        /// The store.
        path: PathBuf,
    },
    /// A sealed block is damaged (format 2: any block; format 1: any block but trailing ones,
    /// which that format cannot tell from a torn write). Readers check each block when they
    /// use it, so no consumer reads a damaged block's records.
    #[error(
        "corrupt store block {block} at byte offset {offset}{}: {problem}",
        of_file(path.as_deref())
    )]
    BlockCorrupt {
        /// The store file, when the store was opened from one.
        path: Option<PathBuf>,
        /// Block number (0-based).
        block: u64,
        /// Byte offset of the block in the file.
        offset: u64,
        /// What is wrong.
        problem: BlockProblem,
    },
    /// The path is a directory, pipe, socket or device, not a store file.
    #[error(
        "{} is {kind}, not a regular file; a store is a file written by `imprint hash --out`",
        path.display()
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead: `a directory`, `a pipe (fifo)`, `a character device`, ….
        kind: &'static str,
    },
    /// The file exists already: a new store never replaces a file.
    #[error("{} already exists; a new store never replaces a file", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// A writer was asked to append to a store of an older format.
    #[error(
        "{} is a format-{found} store, which does not record its hashing parameters, and this \
         build appends only to format-{newest} stores; finish the run with the release that \
         started it, or convert it with `imprint store merge --assume-v1-params ... NEW {}` \
         and resume NEW",
        path.display(),
        path.display()
    )]
    FormatTooOldToAppend {
        /// The store.
        path: PathBuf,
        /// Its format version.
        found: u32,
        /// The version this build writes.
        newest: u32,
    },
    /// A resume would append hashes made with other parameters than the store's.
    #[error(
        "{} holds hashes made with {store}, but this run would make them with {requested}; \
         resume with the store's parameters, or write a new store",
        path.display()
    )]
    ParamsMismatch {
        /// The store.
        path: PathBuf,
        /// The store's parameters.
        store: HashParams,
        /// The parameters asked for.
        requested: HashParams,
    },
    /// Stores to merge were hashed with different parameters.
    #[error(
        "cannot merge {} ({first_params}) with {} ({other_params}): their hashes were made \
         differently",
        first.display(),
        other.display()
    )]
    MergeParamsMismatch {
        /// The first input.
        first: PathBuf,
        /// Its parameters.
        first_params: HashParams,
        /// An input that differs.
        other: PathBuf,
        /// Its parameters.
        other_params: HashParams,
    },
    /// Stores to merge differ in holding dihedral hashes.
    #[error(
        "cannot merge {} and {}: only one holds dihedral hashes; merge stores of one kind",
        first.display(),
        other.display()
    )]
    MergeDihedralMismatch {
        /// The first input.
        first: PathBuf,
        /// An input that differs.
        other: PathBuf,
    },
    /// A format-1 store, which records no hashing parameters, was given to merge without
    /// stating them.
    #[error(
        "{} is a format-1 store and does not record how its hashes were made; state it with \
         --assume-v1-params (e.g. `{}`)",
        path.display(),
        HashParams::default()
    )]
    UnknownParams {
        /// The store.
        path: PathBuf,
    },
    /// A writer option is out of range.
    #[error("invalid store option {name} = {value}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Its value.
        value: u64,
    },
}

/// Result type of [`crate::store`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
