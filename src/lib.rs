//! imprint
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod hash;
pub mod index;
