//! imprint
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod decode;
pub mod hash;
