//! `imprint bench index`: build, open and search timings, and search quality, on seeded or
//! given data, as CSV (one row per method and parameter) for parameter sweeps and for the
//! peer comparison in `benches/peers/index_peers.py`.
//!
//! Data: `--hashes FILE --queries FILE` (raw 32-byte hashes, back to back, as the peer script
//! writes them), or generated from `--seed`: `--n` hashes as centres with 9 variants each at
//! 0–30 flipped bits, and `--num-queries` queries, half variants of listed centres at 0–30
//! bits, half random.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use imprint::hash::Pdq256;
use imprint::index::{Index, IndexBuilder, SearchScratch, DEFAULT_SEED};

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
    #[arg(long, default_value_t = 31)]
    max_distance: u32,
    /// k of the k-nearest searches.
    #[arg(long, default_value_t = 10)]
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

fn read_raw(path: &PathBuf) -> anyhow::Result<Vec<Pdq256>> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if b.len() % 32 != 0 {
        bail!(
            "{}: length {} is not a multiple of 32",
            path.display(),
            b.len()
        );
    }
    Ok(b.chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            Pdq256(h)
        })
        .collect())
}

fn percentile(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let i = ((sorted_ns.len() - 1) as f64 * p).round() as usize;
    sorted_ns[i] as f64 / 1000.0
}

struct Row<'a> {
    method: &'a str,
    params: String,
    times_ns: Vec<u64>,
    recall: Option<f64>,
    /// Of the true matches within the radius (at most k per query), the share found.
    match_recall: Option<f64>,
}

/// Runs `imprint bench index`.
pub fn index(a: IndexBenchArgs) -> anyhow::Result<i32> {
    let (list, queries) = match (&a.hashes, &a.queries) {
        (Some(h), Some(q)) => (read_raw(h)?, read_raw(q)?),
        _ => {
            imprint::index::synthetic::near_duplicates(a.n as usize, a.num_queries as usize, a.seed)
        }
    };
    let n = list.len();
    let dir = tempfile_dir()?;
    let path = a.index_out.clone().unwrap_or_else(|| dir.join("bench.idx"));
    let inputs: Vec<&std::path::Path> = a
        .hashes
        .iter()
        .chain(&a.queries)
        .map(PathBuf::as_path)
        .collect();
    imprint::files::check_output(&path, imprint::files::OutputKind::Index, &inputs, a.force)
        .with_context(|| format!("cannot write the index to {}", path.display()))?;
    let mut builder = IndexBuilder::new()
        .seed(a.seed)
        .hnsw(!a.no_hnsw)
        .m(a.m)
        .m0(a.m0)
        .ef_construction(a.ef_construction);
    if let Some(m) = a.mih_substrings {
        builder = builder.mih_num_substrings(m);
    }
    let t = Instant::now();
    builder.write_file::<&str>(&path, &list, &[])?;
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let index = Index::open(&path)?;
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let info = index.info();
    let bytes_per_hash = info.len_bytes as f64 / n.max(1) as f64;
    let mut s = SearchScratch::for_index(n);
    let mut rows: Vec<Row<'_>> = Vec::new();

    // Ground truth: flat scans (also timed, as the baseline).
    let mut truth_radius = Vec::with_capacity(queries.len());
    let mut times = Vec::with_capacity(queries.len());
    for q in &queries {
        let t = Instant::now();
        let r = index.search_radius_flat(q, a.max_distance, &mut s)?;
        times.push(t.elapsed().as_nanos() as u64);
        truth_radius.push(r.iter().map(|m| m.record).collect::<Vec<_>>());
    }
    rows.push(Row {
        method: "flat_radius",
        params: format!("r={}", a.max_distance),
        times_ns: times,
        recall: Some(1.0),
        match_recall: Some(1.0),
    });
    let mut truth_kth = Vec::with_capacity(queries.len());
    for q in &queries {
        let r = index.search_knn_flat(q, a.k, &mut s)?;
        truth_kth.push(r.last().map_or(u32::MAX, |m| m.distance));
    }

    // MIH radius: one untimed pass maps the pages a lookup touches (a long-running service
    // is in this state after its first queries), then a timed pass checked for exactness.
    for q in &queries {
        index.search_radius(q, a.max_distance, &mut s)?;
    }
    let mut times = Vec::with_capacity(queries.len());
    let (mut found, mut expected) = (0usize, 0usize);
    for (q, truth) in queries.iter().zip(&truth_radius) {
        let t = Instant::now();
        let r = index.search_radius(q, a.max_distance, &mut s)?;
        times.push(t.elapsed().as_nanos() as u64);
        expected += truth.len();
        found += r.iter().filter(|m| truth.contains(&m.record)).count();
        if r.len() != truth.len() {
            bail!("MIH and flat scan disagree on query {q}");
        }
    }
    rows.push(Row {
        method: "mih_radius",
        params: format!("r={} m={}", a.max_distance, info.mih_num_substrings),
        times_ns: times,
        recall: Some(if expected == 0 {
            1.0
        } else {
            found as f64 / expected as f64
        }),
        match_recall: Some(1.0),
    });

    // MIH batch throughput over the rayon pool.
    let t = Instant::now();
    let batch = index.search_radius_batch(&queries, a.max_distance);
    let batch_ns = t.elapsed().as_nanos() as u64;
    if batch.iter().any(Result::is_err) {
        bail!("batch search failed");
    }
    rows.push(Row {
        method: "mih_radius_batch",
        params: format!("threads={}", rayon::current_num_threads()),
        times_ns: vec![batch_ns / queries.len().max(1) as u64; queries.len()],
        recall: Some(1.0),
        match_recall: None,
    });

    if index.has_graph() {
        // One untimed pass at the largest ef maps the graph pages the timed passes touch, as
        // the untimed MIH pass does for the postings (the peers search a graph in memory).
        if let Some(&ef) = a.ef.iter().max() {
            for q in &queries {
                index.search_knn(q, a.k, ef, &mut s)?;
            }
        }
        for &ef in &a.ef {
            let mut times = Vec::with_capacity(queries.len());
            let (mut hit, mut total) = (0usize, 0usize);
            let (mut mhit, mut mtotal) = (0usize, 0usize);
            for ((q, &kth), truth) in queries.iter().zip(&truth_kth).zip(&truth_radius) {
                let t = Instant::now();
                let r = index.search_knn(q, a.k, ef, &mut s)?;
                times.push(t.elapsed().as_nanos() as u64);
                hit += r.iter().filter(|m| m.distance <= kth).count().min(a.k);
                total += a.k.min(n);
                mhit += r.iter().filter(|m| m.distance <= a.max_distance).count();
                mtotal += truth.len().min(a.k);
            }
            rows.push(Row {
                method: "hnsw_knn",
                params: format!("k={} ef={ef}", a.k),
                times_ns: times,
                recall: Some(hit as f64 / total.max(1) as f64),
                match_recall: Some(mhit as f64 / mtotal.max(1) as f64),
            });
        }
    }

    // Written out after the temporary index is gone, so that a failed write leaves nothing.
    let mut out = String::new();
    writeln!(
        out,
        "engine,method,params,n,num_queries,build_s,open_ms,bytes_per_hash,p50_us,p99_us,mean_us,qps,recall,match_recall"
    )?;
    for mut r in rows {
        r.times_ns.sort_unstable();
        let mean = r.times_ns.iter().sum::<u64>() as f64 / r.times_ns.len().max(1) as f64 / 1000.0;
        writeln!(
            out,
            "imprint,{},{},{n},{},{build_s:.3},{open_ms:.3},{bytes_per_hash:.1},{:.2},{:.2},{mean:.2},{:.0},{},{}",
            r.method,
            r.params,
            queries.len(),
            percentile(&r.times_ns, 0.5),
            percentile(&r.times_ns, 0.99),
            1e6 / mean.max(1e-9),
            r.recall.map_or(String::new(), |x| format!("{x:.4}")),
            r.match_recall.map_or(String::new(), |x| format!("{x:.4}")),
        )?;
    }
    if a.index_out.is_none() {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }
    crate::output::out(&out)?;
    Ok(0)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("imprint-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}
