//! [`StoreError`]: everything that can go wrong reading or writing a store.

use std::fmt;
use std::path::PathBuf;

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
