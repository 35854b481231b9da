//! The integration-test binary: one module per area.

mod bench;
mod cli;
mod conformance;
mod decode;
mod gpu;
mod index;
mod pipeline;
mod store;
