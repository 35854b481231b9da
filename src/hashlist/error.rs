//! Why a hash list line gives no entry, and why a list cannot be read.

use crate::hash::ParseHashError;
use std::path::PathBuf;

/// Why reading a hash list gave no entry: a bad line, after which reading goes on, or an I/O
/// error, which ends it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// One line gives no entry.
    #[error(transparent)]
    Line(#[from] LineError),
    /// The list's file cannot be opened.
    #[error("cannot open hash list {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// Reading the list failed.
    #[error("cannot read hash list {input}")]
    Read {
        /// The input's name (`-` for standard input).
        input: String,
        /// The system's error.
        source: std::io::Error,
    },
}

/// A line of a hash list that gives no entry: where it is, and why. Displayed as
/// `{input}:{line}: {kind}`.
#[derive(Debug, thiserror::Error)]
#[error("{input}:{line}: {kind}")]
pub struct LineError {
    /// The input's name (`-` for standard input).
    pub input: String,
    /// The 1-based line number.
    pub line: u64,
    /// Why the line gives no entry.
    pub kind: LineErrorKind,
}

impl LineError {
    /// Whether the line records an item that failed (an error row of `imprint store export`
    /// or an error line of `imprint hash --format jsonl`) rather than being malformed.
    #[must_use]
    pub fn is_failed_item(&self) -> bool {
        matches!(self.kind, LineErrorKind::FailedItem { .. })
    }
}

/// Why a line gives no entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineErrorKind {
    /// The line records an item that could not be hashed: an `error` and no hash.
    #[error("entry has no hash (error: {cause})")]
    FailedItem {
        /// The error as the line gives it (a JSON value as JSON text).
        cause: String,
    },
    /// The line is longer than the readers keep ([`crate::lines::MAX_LINE_BYTES`]).
    #[error("{len} bytes long, over the limit of {max}")]
    TooLong {
        /// Its length in bytes, line break excluded.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The line is not UTF-8 text.
    #[error("not UTF-8 text ({0})")]
    NotUtf8(std::str::Utf8Error),
    /// A hash is not 64 hex digits.
    #[error("bad hash {text:?}: {error}")]
    BadHash {
        /// The text given as the hash.
        text: String,
        /// Why it is not one.
        error: ParseHashError,
    },
    /// A CSV quality column holds something other than an integer from 0 to 100.
    #[error("bad quality {0:?}")]
    BadQuality(String),
    /// A CSV row has nothing in the column its header names as the hash, and no error.
    #[error("no hash in the hash column")]
    NoHashInColumn,
    /// The `dihedral` column or field is not a list of 8 hashes.
    #[error("\"dihedral\" is not a list of 8 hashes")]
    DihedralNotEight,
    /// The first of the 8 dihedral hashes is not the line's hash (CSV).
    #[error("\"dihedral\" does not start with the hash")]
    DihedralNotLedByHash,
    /// The first of the 8 dihedral hashes is not the line's `"hash"` (JSONL).
    #[error("\"dihedral\" does not start with \"hash\"")]
    JsonDihedralNotLedByHash,
    /// A line that starts with `{` is not JSON.
    #[error("bad JSON: {0}")]
    BadJson(serde_json::Error),
    /// A JSON line is not an object.
    #[error("JSON line is not an object")]
    NotJsonObject,
    /// A JSON object has no `"hash"` (or `"pdq"`) and no `"error"`.
    #[error("no \"hash\" field")]
    NoHashField,
    /// A JSON hash is not a string.
    #[error("a hash is not a string")]
    HashNotString,
    /// A JSON `"quality"` is not an integer from 0 to 100.
    #[error("\"quality\" is not an integer from 0 to 100")]
    JsonQuality,
}
