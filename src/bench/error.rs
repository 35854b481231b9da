//! Errors of the benchmark tools.

use crate::decode::DecodeError;
use std::path::PathBuf;

/// Why a benchmark step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stage of the engine (GPU hashing, store, index) failed while being measured.
    #[error("{stage}: {source}")]
    Stage {
        /// The stage.
        stage: &'static str,
        /// The cause.
        #[source]
        source: crate::Error,
    },
    /// A dataset image could not be decoded.
    #[error("{path}: {source}")]
    Decode {
        /// The image.
        path: PathBuf,
        /// The cause.
        #[source]
        source: DecodeError,
    },
    /// An image could not be encoded.
    #[error("cannot encode {path}: {source}")]
    Encode {
        /// The image being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: image::ImageError,
    },
    /// A line of a dataset manifest is malformed.
    #[error("{path}, line {line}: {problem}")]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The settings are inconsistent.
    #[error("invalid benchmark settings: {problem}")]
    InvalidSettings {
        /// What is wrong.
        problem: &'static str,
    },
}

/// Result of the benchmark tools.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    }
}
