//! imprint
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod decode;
mod error;
pub mod hash;
pub mod pipeline;
pub mod store;

pub use error::{Error, Result};
