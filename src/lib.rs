//! imprint
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod backend;
pub mod decode;
pub mod hash;

#[cfg(feature = "gpu")]
pub mod gpu;

pub use backend::{Backend, BackendError, BatchHasher, ParseBackendError};
