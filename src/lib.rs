//! imprint
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod bench;
pub mod decode;
pub mod hash;
