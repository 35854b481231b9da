//! `imprint bench index`: parameter sweeps (placeholder filled below).
use clap::Args;

/// Arguments of `imprint bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {}

/// Runs `imprint bench`.
pub fn run(_a: BenchArgs) -> anyhow::Result<i32> {
    Ok(0)
}
