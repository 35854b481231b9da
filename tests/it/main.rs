//! The integration-test binary: one module per area.

mod alloc;
mod bench;
mod cli;
mod cli_faults;
mod conformance;
mod decode;
mod gpu;
mod index;
mod pipeline;
mod store;
