//! imprint
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod hash;

#[cfg(feature = "gpu")]
pub mod gpu;
