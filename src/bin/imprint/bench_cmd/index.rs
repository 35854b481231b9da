//! `imprint bench index`: build, open and search timings, and search quality, on seeded or
//! given data, as CSV (one row per method and parameter) for parameter sweeps and for the
//! peer comparison in `benches/peers/index_peers.py`.
//!
//! Data: `--hashes FILE --queries FILE` (raw 32-byte hashes, back to back, as the peer script
//! writes them), or generated from `--seed`: `--n` hashes as centres with 9 variants each at
//! 0–30 flipped bits, and `--num-queries` queries, half variants of listed centres at 0–30
//! bits, half random.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use imprint::bench::{read_raw_hashes, sweep_index, IndexSweep, IndexSweepSettings};
use imprint::index::DEFAULT_SEED;

/// Most hashes or queries `bench index` generates: each costs 32 bytes while generated and about
/// 300 more in the index built from them, so that 100 million already need some 35 GB; a larger
/// count would end the process when the allocation fails instead of with a message.
const MAX_GENERATED: i64 = 100_000_000;

/// Arguments of `imprint bench index`.
#[derive(Args, Debug)]
pub struct IndexBenchArgs {
    /// Raw hashes to index (32 bytes each).
    #[arg(long, requires = "queries")]
    hashes: Option<PathBuf>,
    /// Raw query hashes (32 bytes each).
    #[arg(long, requires = "hashes")]
    queries: Option<PathBuf>,
    /// Generated list size (without --hashes), at most 100 million (about 35 GB in memory
    /// with the index).
    #[arg(long, default_value_t = 100_000, conflicts_with = "hashes",
          value_parser = clap::value_parser!(u32).range(1..=MAX_GENERATED))]
    n: u32,
    /// Generated query count (without --queries), at most 100 million.
    #[arg(long, default_value_t = 1000, conflicts_with = "queries",
          value_parser = clap::value_parser!(u32).range(1..=MAX_GENERATED))]
    num_queries: u32,
    /// Seed of the generated data and of the build.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Radius of the near-duplicate lookup.
    #[arg(long, default_value_t = imprint::index::DEFAULT_MAX_DISTANCE)]
    max_distance: u32,
    /// k of the k-nearest searches.
    #[arg(long, default_value_t = imprint::bench::DEFAULT_SWEEP_K)]
    k: usize,
    /// HNSW ef_search values to sweep.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    ef: Vec<usize>,
    /// HNSW m.
    #[arg(long, default_value_t = imprint::index::DEFAULT_HNSW_M)]
    m: u32,
    /// HNSW m0.
    #[arg(long, default_value_t = imprint::index::DEFAULT_HNSW_M0)]
    m0: u32,
    /// HNSW ef_construction.
    #[arg(long, default_value_t = imprint::index::DEFAULT_EF_CONSTRUCTION)]
    ef_construction: u32,
    /// MIH substring count (default: size-based).
    #[arg(long)]
    mih_substrings: Option<u32>,
    /// Skip the HNSW graph.
    #[arg(long)]
    no_hnsw: bool,
    /// Keep the index file here (default: a temporary file). It may replace an existing index
    /// or empty file; never an input, a directory or a device.
    #[arg(long)]
    index_out: Option<PathBuf>,
    /// Replace --index-out even when it holds something other than an index.
    #[arg(long, requires = "index_out")]
    force: bool,
}

/// Runs `imprint bench index`.
pub fn index(a: IndexBenchArgs) -> anyhow::Result<i32> {
    let (list, queries) = match (&a.hashes, &a.queries) {
        (Some(h), Some(q)) => (read_raw_hashes(h)?, read_raw_hashes(q)?),
        _ => {
            imprint::index::synthetic::near_duplicates(a.n as usize, a.num_queries as usize, a.seed)
        }
    };
    if let Some(path) = &a.index_out {
        let inputs: Vec<&Path> = a
            .hashes
            .iter()
            .chain(&a.queries)
            .map(PathBuf::as_path)
            .collect();
        imprint::files::check_output(path, imprint::files::OutputKind::Index, &inputs, a.force)
            .with_context(|| format!("cannot write the index to {}", path.display()))?;
    }
    let settings = settings(a);
    // Written out after the temporary index is gone, so that a failed write leaves nothing.
    let sweep = sweep_index(&list, &queries, &settings)?;
    crate::output::out(&csv(&sweep))?;
    Ok(0)
}

/// The library's settings from the arguments.
fn settings(a: IndexBenchArgs) -> IndexSweepSettings {
    IndexSweepSettings {
        seed: a.seed,
        max_distance: a.max_distance,
        k: a.k,
        ef: a.ef,
        m: a.m,
        m0: a.m0,
        ef_construction: a.ef_construction,
        mih_substrings: a.mih_substrings,
        hnsw: !a.no_hnsw,
        index_file: a.index_out,
    }
}

/// The sweep as CSV, one row per method and parameter.
fn csv(sweep: &IndexSweep) -> String {
    let IndexSweep {
        n,
        num_queries,
        build_s,
        open_ms,
        bytes_per_hash,
        ..
    } = sweep;
    let mut out = String::from(
        "engine,method,params,n,num_queries,build_s,open_ms,bytes_per_hash,p50_us,p99_us,mean_us,qps,recall,match_recall\n",
    );
    for r in &sweep.rows {
        let l = r.latency;
        let _ = writeln!(
            out,
            "imprint,{},{},{n},{num_queries},{build_s:.3},{open_ms:.3},{bytes_per_hash:.1},{:.2},{:.2},{:.2},{:.0},{},{}",
            r.method.name(),
            r.method.params(),
            l.p50_us,
            l.p99_us,
            l.mean_us,
            l.qps,
            r.recall.map_or(String::new(), |x| format!("{x:.4}")),
            r.match_recall.map_or(String::new(), |x| format!("{x:.4}")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: IndexBenchArgs,
    }

    #[test]
    fn the_defaults_are_the_librarys() {
        let cli = Cli::try_parse_from(["bench-index"]).unwrap();
        assert_eq!(settings(cli.args), IndexSweepSettings::default());
    }
}
