//! The index benchmark: build, open and search timings, and search quality, of one index over
//! a list of hashes, one [`SweepRow`] per method and parameter — what `imprint bench index`
//! prints as CSV for parameter sweeps and for the peer comparison in
//! `benches/peers/index_peers.py`.
//!
//! Data comes from [`read_raw_hashes`] (the peer script's format: 32-byte hashes back to back)
//! or from [`crate::index::synthetic::near_duplicates`].
//!
//! Ground truth is the exact flat scan (timed too, as the baseline). Each timed pass over the
//! queries of a paged method follows one untimed pass that maps the pages it touches, as a
//! long-running service is after its first queries (the peers search in memory).

use crate::hash::Pdq256;
use crate::index::{
    Index, IndexBuilder, IndexError, SearchScratch, DEFAULT_EF_CONSTRUCTION, DEFAULT_HNSW_M,
    DEFAULT_HNSW_M0, DEFAULT_MAX_DISTANCE, DEFAULT_SEED,
};
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Bytes of one hash in a raw hash file.
pub const RAW_HASH_BYTES: usize = 32;

/// Why a raw hash file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RawHashesError {
    /// The file could not be opened or read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file's length is not a whole number of hashes.
    #[error("{path}: length {len} is not a multiple of 32")]
    Length {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
}

/// Reads a raw hash file: 32-byte hashes back to back, no header (the format
/// `benches/peers/index_peers.py` and other tools exchange).
///
/// Memory: the file's length, which is checked before reading, plus the hashes (the same).
///
/// # Errors
/// [`RawHashesError::Length`] if the length is not a multiple of 32 (checked before reading
/// and again after, should the file grow meanwhile); [`RawHashesError::Io`] naming the file.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("hashes.bin");
/// std::fs::write(&path, [7u8; 64])?;
/// let hashes = imprint::bench::read_raw_hashes(&path)?;
/// assert_eq!(hashes, vec![imprint::hash::Pdq256([7; 32]); 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_raw_hashes(path: impl AsRef<Path>) -> Result<Vec<Pdq256>, RawHashesError> {
    let path = path.as_ref();
    let io = |source| RawHashesError::Io {
        path: path.to_path_buf(),
        source,
    };
    let length = |len: u64| RawHashesError::Length {
        path: path.to_path_buf(),
        len,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len % RAW_HASH_BYTES as u64 != 0 {
        return Err(length(len));
    }
    // Read no more than the length seen (plus one byte to notice growth), so that a file
    // growing while read cannot make the allocation unbounded.
    let mut bytes = Vec::new();
    file.by_ref()
        .take(len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 != len {
        return Err(length(bytes.len() as u64));
    }
    Ok(parse_raw_hashes(&bytes))
}

/// The whole hashes of `bytes`, 32 bytes each; a trailing partial hash is left out.
fn parse_raw_hashes(bytes: &[u8]) -> Vec<Pdq256> {
    bytes
        .chunks_exact(RAW_HASH_BYTES)
        .map(|c| {
            let mut h = [0u8; RAW_HASH_BYTES];
            h.copy_from_slice(c);
            Pdq256(h)
        })
        .collect()
}

/// The HNSW `ef_search` values swept by default: a doubling ladder from a beam narrower than
/// most services use to one past the point where recall stops improving on 100k near-duplicate
/// lists.
pub const DEFAULT_SWEEP_EF: [usize; 5] = [16, 32, 64, 128, 256];

/// k of the k-nearest searches by default: the HNSW benchmarks' customary 10.
pub const DEFAULT_SWEEP_K: usize = 10;

/// Settings of [`sweep_index`]; the defaults are `imprint bench index`'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexSweepSettings {
    /// Seed of the index build. Default [`DEFAULT_SEED`].
    pub seed: u64,
    /// Radius of the near-duplicate lookups. Default [`DEFAULT_MAX_DISTANCE`].
    pub max_distance: u32,
    /// k of the k-nearest searches. Default [`DEFAULT_SWEEP_K`].
    pub k: usize,
    /// HNSW `ef_search` values, one row each. Default [`DEFAULT_SWEEP_EF`].
    pub ef: Vec<usize>,
    /// HNSW m. Default [`DEFAULT_HNSW_M`].
    pub m: u32,
    /// HNSW m0. Default [`DEFAULT_HNSW_M0`].
    pub m0: u32,
    /// HNSW ef_construction. Default [`DEFAULT_EF_CONSTRUCTION`].
    pub ef_construction: u32,
    /// MIH substring count; `None` (the default) lets the builder choose by size.
    pub mih_substrings: Option<u32>,
    /// Whether to build the HNSW graph (and measure k-nearest searches). Default `true`.
    pub hnsw: bool,
    /// Where to write the index, which is kept; `None` (the default) for a temporary file,
    /// removed afterwards. The caller checks that the path may be replaced
    /// ([`crate::files::check_output`]).
    pub index_file: Option<PathBuf>,
}

impl Default for IndexSweepSettings {
    fn default() -> Self {
        IndexSweepSettings {
            seed: DEFAULT_SEED,
            max_distance: DEFAULT_MAX_DISTANCE,
            k: DEFAULT_SWEEP_K,
            ef: DEFAULT_SWEEP_EF.to_vec(),
            m: DEFAULT_HNSW_M,
            m0: DEFAULT_HNSW_M0,
            ef_construction: DEFAULT_EF_CONSTRUCTION,
            mih_substrings: None,
            hnsw: true,
            index_file: None,
        }
    }
}

/// Why [`sweep_index`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexSweepError {
    /// Building, opening or searching the index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The directory of the temporary index could not be created.
    #[error("creating {path}: {source}")]
    TempDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The MIH lookup found a different number of matches than the exact scan.
    #[error("MIH and flat scan disagree on query {query}")]
    Disagree {
        /// The query.
        query: Pdq256,
    },
    /// A search of the parallel batch failed.
    #[error("batch search failed: {source}")]
    Batch {
        /// The first failure.
        #[source]
        source: IndexError,
    },
}

/// A measured method and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SweepMethod {
    /// Exact radius lookup by scanning every hash: the ground truth and baseline.
    FlatRadius {
        /// The radius.
        max_distance: u32,
    },
    /// Exact radius lookup by multi-index hashing, one query at a time.
    MihRadius {
        /// The radius.
        max_distance: u32,
        /// The index's MIH substring count.
        substrings: u32,
    },
    /// MIH radius lookups of all queries as one batch over the rayon pool; the time per query
    /// is the batch's wall time divided by the query count.
    MihRadiusBatch {
        /// Threads of the rayon pool.
        threads: usize,
    },
    /// Approximate k-nearest search by the HNSW graph.
    HnswKnn {
        /// k.
        k: usize,
        /// The beam width, `ef_search`.
        ef: usize,
    },
}

impl SweepMethod {
    /// The method's name in the CSV: `flat_radius`, `mih_radius`, `mih_radius_batch` or
    /// `hnsw_knn`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            SweepMethod::FlatRadius { .. } => "flat_radius",
            SweepMethod::MihRadius { .. } => "mih_radius",
            SweepMethod::MihRadiusBatch { .. } => "mih_radius_batch",
            SweepMethod::HnswKnn { .. } => "hnsw_knn",
        }
    }

    /// The parameters as space-separated `name=value` pairs (`r=31 m=16`, `k=10 ef=64`), as
    /// the CSV's `params` column shows them.
    #[must_use]
    pub fn params(&self) -> String {
        match self {
            SweepMethod::FlatRadius { max_distance } => format!("r={max_distance}"),
            SweepMethod::MihRadius {
                max_distance,
                substrings,
            } => format!("r={max_distance} m={substrings}"),
            SweepMethod::MihRadiusBatch { threads } => format!("threads={threads}"),
            SweepMethod::HnswKnn { k, ef } => format!("k={k} ef={ef}"),
        }
    }
}

impl fmt::Display for SweepMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name(), self.params())
    }
}

/// Latency of one method over the queries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// Median, in microseconds (the nearest-rank sample; 0 without queries).
    pub p50_us: f64,
    /// 99th percentile, in microseconds (nearest rank; 0 without queries).
    pub p99_us: f64,
    /// Mean, in microseconds.
    pub mean_us: f64,
    /// Queries per second, `1e6 / mean_us` (the mean floored at 1e-9 µs): on one thread,
    /// except for [`SweepMethod::MihRadiusBatch`], whose mean is the batch's wall time per query.
    pub qps: f64,
}

impl Latency {
    /// The latency of the given per-query times, in nanoseconds.
    fn of(mut times_ns: Vec<u64>) -> Self {
        times_ns.sort_unstable();
        let mean_us = times_ns.iter().sum::<u64>() as f64 / times_ns.len().max(1) as f64 / 1000.0;
        Latency {
            p50_us: percentile_us(&times_ns, 0.5),
            p99_us: percentile_us(&times_ns, 0.99),
            mean_us,
            qps: 1e6 / mean_us.max(1e-9),
        }
    }
}

/// The `p` quantile of sorted nanoseconds, in microseconds, by nearest rank; 0 if empty.
fn percentile_us(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let i = ((sorted_ns.len() - 1) as f64 * p).round() as usize;
    sorted_ns[i.min(sorted_ns.len() - 1)] as f64 / 1000.0
}

/// One measured method.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    /// The method and its parameters.
    pub method: SweepMethod,
    /// Its latency per query.
    pub latency: Latency,
    /// Of the results the exact method returns (radius methods: every match in the radius;
    /// k-nearest: k results at most the true k-th distance), the share found; `None` where not
    /// measured.
    pub recall: Option<f64>,
    /// Of the true matches within the radius (at most k per query), the share found; `None`
    /// where not measured.
    pub match_recall: Option<f64>,
}

/// What [`sweep_index`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexSweep {
    /// Hashes indexed.
    pub n: usize,
    /// Queries.
    pub num_queries: usize,
    /// Seconds to build the index and write it to its file.
    pub build_s: f64,
    /// Milliseconds to open (map and validate) the index file.
    pub open_ms: f64,
    /// Index file bytes per indexed hash.
    pub bytes_per_hash: f64,
    /// One row per method and parameter: `flat_radius`, `mih_radius`, `mih_radius_batch`,
    /// then `hnsw_knn` per `ef` when the graph is built.
    pub rows: Vec<SweepRow>,
}

/// Removes the temporary index and its directory however the sweep ends.
struct TempIndex {
    dir: PathBuf,
    file: PathBuf,
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Builds an index over `list` with `settings`, opens it and measures every method on
/// `queries`: the flat scan (ground truth), MIH radius lookups one by one and as a parallel
/// batch, and HNSW k-nearest searches per `ef`.
///
/// Time: O(n · queries) for the flat scans, plus the build; memory: the index, mapped, and
/// O(n) scratch.
///
/// # Errors
/// [`IndexSweepError::Index`] if building, opening or a search fails (an empty list, say);
/// [`IndexSweepError::TempDir`]; [`IndexSweepError::Disagree`] or [`IndexSweepError::Batch`]
/// if the MIH lookup is not exact (a bug).
///
/// # Examples
/// ```
/// use imprint::bench::{sweep_index, IndexSweepSettings};
/// let (list, queries) = imprint::index::synthetic::near_duplicates(200, 4, 7);
/// let settings = IndexSweepSettings { ef: vec![16], ..IndexSweepSettings::default() };
/// let sweep = sweep_index(&list, &queries, &settings)?;
/// let names: Vec<_> = sweep.rows.iter().map(|r| r.method.name()).collect();
/// assert_eq!(names, ["flat_radius", "mih_radius", "mih_radius_batch", "hnsw_knn"]);
/// assert_eq!(sweep.rows[1].recall, Some(1.0));
/// # Ok::<(), imprint::bench::IndexSweepError>(())
/// ```
pub fn sweep_index(
    list: &[Pdq256],
    queries: &[Pdq256],
    settings: &IndexSweepSettings,
) -> Result<IndexSweep, IndexSweepError> {
    let a = settings;
    let n = list.len();
    let (path, _temp) = match &a.index_file {
        Some(p) => (p.clone(), None),
        None => {
            // One directory per call, so that sweeps running at once in one process (tests,
            // say) do not share a file.
            static CALLS: AtomicU64 = AtomicU64::new(0);
            let call = CALLS.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("imprint-bench-{}-{call}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|source| IndexSweepError::TempDir {
                path: dir.clone(),
                source,
            })?;
            let file = dir.join("bench.idx");
            (file.clone(), Some(TempIndex { dir, file }))
        }
    };
    let mut builder = IndexBuilder::new()
        .seed(a.seed)
        .hnsw(a.hnsw)
        .m(a.m)
        .m0(a.m0)
        .ef_construction(a.ef_construction);
    if let Some(m) = a.mih_substrings {
        builder = builder.mih_num_substrings(m);
    }
    let t = Instant::now();
    builder.write_file::<&str>(&path, list, &[])?;
    let build_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let index = Index::open(&path)?;
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let info = index.info();
    let bytes_per_hash = info.len_bytes as f64 / n.max(1) as f64;
    let mut s = SearchScratch::for_index(n);
    let mut rows = Vec::new();

    // Ground truth: flat scans (also timed, as the baseline).
    let mut truth_radius = Vec::with_capacity(queries.len());
    let mut times = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        let r = index.search_radius_flat(q, a.max_distance, &mut s)?;
        times.push(t.elapsed().as_nanos() as u64);
        truth_radius.push(r.iter().map(|m| m.record).collect::<Vec<_>>());
    }
    rows.push(SweepRow {
        method: SweepMethod::FlatRadius {
            max_distance: a.max_distance,
        },
        latency: Latency::of(times),
        recall: Some(1.0),
        match_recall: Some(1.0),
    });
    let mut truth_kth = Vec::with_capacity(queries.len());
    for q in queries {
        let r = index.search_knn_flat(q, a.k, &mut s)?;
        truth_kth.push(r.last().map_or(u32::MAX, |m| m.distance));
    }

    // MIH radius: one untimed pass maps the pages a lookup touches, then a timed pass
    // checked for exactness.
    for q in queries {
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
            return Err(IndexSweepError::Disagree { query: *q });
        }
    }
    rows.push(SweepRow {
        method: SweepMethod::MihRadius {
            max_distance: a.max_distance,
            substrings: info.mih_num_substrings,
        },
        latency: Latency::of(times),
        recall: Some(if expected == 0 {
            1.0
        } else {
            found as f64 / expected as f64
        }),
        match_recall: Some(1.0),
    });

    // MIH batch throughput over the rayon pool.
    let t = Instant::now();
    let batch = index.search_radius_batch(queries, a.max_distance);
    let batch_ns = t.elapsed().as_nanos() as u64;
    if let Some(source) = batch.into_iter().find_map(Result::err) {
        return Err(IndexSweepError::Batch { source });
    }
    rows.push(SweepRow {
        method: SweepMethod::MihRadiusBatch {
            threads: rayon::current_num_threads(),
        },
        latency: Latency::of(vec![batch_ns / queries.len().max(1) as u64; queries.len()]),
        recall: Some(1.0),
        match_recall: None,
    });

    if index.has_graph() {
        // One untimed pass at the largest ef maps the graph pages the timed passes touch.
        if let Some(&ef) = a.ef.iter().max() {
            for q in queries {
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
            rows.push(SweepRow {
                method: SweepMethod::HnswKnn { k: a.k, ef },
                latency: Latency::of(times),
                recall: Some(hit as f64 / total.max(1) as f64),
                match_recall: Some(mhit as f64 / mtotal.max(1) as f64),
            });
        }
    }
    Ok(IndexSweep {
        n,
        num_queries: queries.len(),
        build_s,
        open_ms,
        bytes_per_hash,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> (Vec<Pdq256>, Vec<Pdq256>) {
        crate::index::synthetic::near_duplicates(500, 20, 3)
    }

    #[test]
    fn every_method_has_its_rows_and_the_exact_ones_find_everything() {
        let (list, queries) = small();
        let settings = IndexSweepSettings {
            ef: vec![16, 64],
            ..IndexSweepSettings::default()
        };
        let sweep = sweep_index(&list, &queries, &settings).unwrap();
        assert_eq!((sweep.n, sweep.num_queries), (500, 20));
        assert!(sweep.bytes_per_hash > 32.0 && sweep.build_s >= 0.0 && sweep.open_ms >= 0.0);
        let names: Vec<_> = sweep.rows.iter().map(|r| r.method.name()).collect();
        assert_eq!(
            names,
            [
                "flat_radius",
                "mih_radius",
                "mih_radius_batch",
                "hnsw_knn",
                "hnsw_knn"
            ]
        );
        assert_eq!(sweep.rows[0].method.params(), "r=31");
        assert_eq!(sweep.rows[3].method.params(), "k=10 ef=16");
        assert_eq!(sweep.rows[4].method.params(), "k=10 ef=64");
        for r in &sweep.rows[..3] {
            assert_eq!(r.recall, Some(1.0), "{}", r.method);
        }
        for r in &sweep.rows {
            let l = r.latency;
            assert!(
                l.p50_us <= l.p99_us && l.mean_us >= 0.0 && l.qps > 0.0,
                "{l:?}"
            );
            for x in [r.recall, r.match_recall].into_iter().flatten() {
                assert!((0.0..=1.0).contains(&x), "{}: {x}", r.method);
            }
        }
    }

    #[test]
    fn without_the_graph_there_are_no_knn_rows_and_a_kept_index_stays() {
        let (list, queries) = small();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("kept.idx");
        let settings = IndexSweepSettings {
            hnsw: false,
            mih_substrings: Some(4),
            index_file: Some(file.clone()),
            ..IndexSweepSettings::default()
        };
        let sweep = sweep_index(&list, &queries, &settings).unwrap();
        assert_eq!(sweep.rows.len(), 3);
        assert_eq!(sweep.rows[1].method.params(), "r=31 m=4");
        assert_eq!(sweep.rows[2].match_recall, None);
        assert!(Index::open(&file).unwrap().info().num_hashes == 500);
    }

    #[test]
    fn the_temporary_index_goes_with_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sweep");
        std::fs::create_dir(&dir).unwrap();
        let file = dir.join("bench.idx");
        std::fs::write(&file, b"x").unwrap();
        drop(TempIndex {
            dir: dir.clone(),
            file,
        });
        assert!(!dir.exists());
    }

    #[test]
    fn no_queries_give_zero_latencies() {
        let (list, _) = small();
        let sweep = sweep_index(&list, &[], &IndexSweepSettings::default()).unwrap();
        assert_eq!(sweep.num_queries, 0);
        for r in &sweep.rows {
            assert_eq!((r.latency.p50_us, r.latency.p99_us), (0.0, 0.0));
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile_us(&ns, 0.5), 51.0);
        assert_eq!(percentile_us(&ns, 0.99), 99.0);
        assert_eq!(percentile_us(&[], 0.5), 0.0);
        let l = Latency::of(vec![3000, 1000, 2000]);
        assert_eq!((l.p50_us, l.mean_us, l.qps), (2.0, 2.0, 500_000.0));
    }

    #[test]
    fn raw_hashes_round_trip_and_bad_files_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let (list, _) = crate::index::synthetic::near_duplicates(10, 0, 1);
        let good = tmp.path().join("good.bin");
        std::fs::write(&good, list.iter().flat_map(|h| h.0).collect::<Vec<u8>>()).unwrap();
        assert_eq!(read_raw_hashes(&good).unwrap(), list);
        let empty = tmp.path().join("empty.bin");
        std::fs::write(&empty, b"").unwrap();
        assert!(read_raw_hashes(&empty).unwrap().is_empty());

        let odd = tmp.path().join("odd.bin");
        std::fs::write(&odd, [0u8; 33]).unwrap();
        let e = read_raw_hashes(&odd).unwrap_err();
        assert!(matches!(e, RawHashesError::Length { len: 33, .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("{}: length 33 is not a multiple of 32", odd.display())
        );

        let missing = tmp.path().join("missing.bin");
        let e = read_raw_hashes(&missing).unwrap_err();
        assert!(
            matches!(&e, RawHashesError::Io { path, .. } if *path == missing),
            "{e:?}"
        );
        assert!(e
            .to_string()
            .starts_with(&format!("reading {}: ", missing.display())));
        // A directory is refused as an I/O error, not read.
        let e = read_raw_hashes(tmp.path()).unwrap_err();
        assert!(matches!(
            e,
            RawHashesError::Io { .. } | RawHashesError::Length { .. }
        ));
    }
}
