//! The integration-test binary: one module per area.

mod alloc;
mod bench;
mod cli;
mod conformance;
mod decode;
mod gpu;
mod index;
mod pipeline;
mod store;
mod store_faults;
