//! The integration-test binary: one module per area.

mod alloc;
mod bench;
mod cli;
mod cli_faults;
mod conformance;
mod decode;
mod gpu;
mod index;
mod index_faults;
mod layering;
mod pipe_faults;
mod pipeline;
mod store;
mod store_faults;
