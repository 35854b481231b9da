//! Value parsers and choices shared by several subcommands' arguments.

use anyhow::{Context, Result};
use imprint::{Backend, BackendHasher};

/// The hasher for a `--backend` and a `--gpu` adapter (ignored without the `gpu` feature).
pub fn batch_hasher(backend: Backend, gpu: Option<usize>) -> Result<BackendHasher> {
    BackendHasher::with_adapter(backend, gpu)
        .with_context(|| format!("cannot use --backend {backend}"))
}

/// Parses a decode or worker thread count: at most
/// [`imprint::threads::MAX_DECODE_THREADS_PER_CORE`] per core.
pub fn decode_threads(s: &str) -> std::result::Result<usize, String> {
    thread_count(s, imprint::threads::MAX_DECODE_THREADS_PER_CORE)
}

/// Parses a read thread count: at most [`imprint::threads::MAX_READ_THREADS_PER_CORE`] per
/// core.
pub fn read_threads(s: &str) -> std::result::Result<usize, String> {
    thread_count(s, imprint::threads::MAX_READ_THREADS_PER_CORE)
}

fn thread_count(s: &str, per_core: usize) -> std::result::Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    imprint::threads::check_thread_count(n, per_core).map_err(|e| e.to_string())
}
