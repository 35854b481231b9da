//! [`Error`]: the crate-level error wrapping each module's error, for cross-module APIs.

use std::path::PathBuf;

/// Errors of cross-module APIs such as [`crate::pipeline`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the hash store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// From hashing.
    #[error(transparent)]
    Hash(#[from] crate::hash::HashError),
    /// From decoding an image.
    #[error(transparent)]
    Decode(#[from] crate::decode::DecodeError),
    /// From the index.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    /// From choosing or using a hashing backend (GPU errors included).
    #[error(transparent)]
    Backend(#[from] crate::BackendError),
    /// Reading an input (a directory, manifest or archive) failed.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A path may not be written or read (see [`crate::files`]).
    #[error(transparent)]
    Files(#[from] crate::files::FileError),
    /// A thread count above the limit for this machine (see [`crate::threads`]).
    #[error(transparent)]
    TooManyThreads(#[from] crate::threads::TooManyThreads),
    /// The decode thread pool could not start.
    #[error("cannot start the decode thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// A new bulk run was asked for over an existing file (see
    /// [`crate::pipeline::BulkRun`]).
    #[error("{} already exists: resume that run, or choose another file", path.display())]
    RunExists {
        /// The file.
        path: std::path::PathBuf,
    },
    /// An error with what was being done when it happened (`cannot resume FILE`).
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: Box<Error>,
    },
    /// Writing a result (a match, a line of output) failed.
    #[error("writing the output failed: {0}")]
    Output(#[source] std::io::Error),
    /// An input line or option could not be understood.
    #[error("{what} in {}: {detail}", path.display())]
    BadInput {
        /// The file.
        path: PathBuf,
        /// What was wrong (e.g. `line 7`).
        what: String,
        /// Details.
        detail: String,
    },
}

/// Result type of cross-module APIs.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_errors_convert_and_keep_their_message() {
        let e: Error = crate::decode::DecodeError::Empty.into();
        assert!(matches!(e, Error::Decode(_)));
        assert_eq!(e.to_string(), "empty file");
        let e: Error = crate::index::IndexError::BadMagic { found: [0; 8] }.into();
        assert!(matches!(e, Error::Index(_)));
    }
}
