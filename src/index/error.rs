//! [`IndexError`]: everything that can go wrong opening, verifying, searching or writing an
//! index file.

use std::path::PathBuf;

/// Result type of the index module.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// Why an index file could not be opened, verified, searched or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The file does not start with the index magic bytes.
    #[error("not an imprint index: bad magic bytes {found:02x?} (was the file mangled by a text-mode transfer?)")]
    BadMagic {
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The file's format version is outside the range this release reads.
    #[error(
        "index format version {found} is not supported (this release reads {oldest}..={newest}); \
         rebuild the index with this release, or use a release that reads version {found}"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Oldest version this release reads.
        oldest: u32,
        /// Newest version this release reads (and the one it writes).
        newest: u32,
    },
    /// A stored CRC32C does not match the bytes it covers.
    #[error(
        "checksum mismatch in section {section}: stored {expected:#010x}, computed {actual:#010x}"
    )]
    ChecksumMismatch {
        /// The section name (`header`, `hashes`, …).
        section: &'static str,
        /// The checksum stored in the file.
        expected: u32,
        /// The checksum of the bytes found.
        actual: u32,
    },
    /// The file is shorter than its header says.
    #[error("index truncated: needs {needed} bytes, file has {available}")]
    Truncated {
        /// Bytes the header requires.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// A structural field or payload value is inconsistent.
    #[error("corrupt index: {what} in section {section} at item {item}")]
    Corrupt {
        /// The section name.
        section: &'static str,
        /// The item (record, bucket or field number) where it was found.
        item: u64,
        /// What is wrong, as a static description.
        what: &'static str,
    },
    /// Invalid builder parameters or input.
    #[error("invalid index parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter name.
        name: &'static str,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The path names a directory, a pipe, a device or another file that is not a regular
    /// file: an index is only ever read from a regular file (a pipe or `/dev/zero` would be
    /// read without end).
    #[error("{path} is {kind}, not a regular file: an index must be a regular file")]
    NotARegularFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead: `a directory`, `a pipe (fifo)`, `a character device`, ….
        kind: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl IndexError {
    pub(crate) fn corrupt(section: &'static str, item: u64, what: &'static str) -> Self {
        IndexError::Corrupt {
            section,
            item,
            what,
        }
    }
}
