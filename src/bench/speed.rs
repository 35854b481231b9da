//! Throughput of each pipeline stage on a [`Dataset`], and end to end.
//!
//! Stages run one after another over batches of [`BATCH_SIZE`] images so that memory stays
//! bounded: read the files, decode the batch in parallel (timed), hash it in parallel
//! (timed). The end-to-end pass then reads, decodes and hashes every image in one parallel
//! loop, as `imprint hash` does. All times are wall-clock on the rayon pool the caller runs in.
//!
//! The same batches go to a hardware GPU when one is present (`Backend::Auto`; no software
//! adapter). The CPU hashes then feed the later stages: writing them all to a hash store (one
//! fsync per sealed block, as bulk runs do), building an index over them, and one exact
//! radius-31 query per image on one thread.

use super::dataset::Dataset;
use super::error::{io_err, BenchError, Result};
use super::machine::Machine;
use crate::decode::{decode_pooled, DecodeOptions, DecodedImage, PixelPool};
use crate::hash::{ImageRef, Pdq256, PdqHasher};
use crate::index::{Index, IndexBuilder, SearchScratch, DEFAULT_MAX_DISTANCE};
use crate::store::{StoreOptions, StoreWriter};
use crate::{Backend, BackendHasher};
use rayon::prelude::*;
use std::fmt;
use std::time::Instant;

/// Images per batch: decoded pixels of one batch stay in memory (~60 MB at the default scene
/// size).
pub const BATCH_SIZE: usize = 256;

/// A measured stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Reading the files into memory (page cache permitting, this is memory bandwidth).
    Read,
    /// Decoding in-memory bytes to pixels.
    Decode,
    /// PDQ hash on the CPU (one hash per image).
    HashCpu,
    /// PDQ hash and its 8 dihedral variants on the CPU.
    HashCpuDihedral,
    /// Read + decode + hash, per image, in one parallel loop.
    EndToEnd,
    /// PDQ hash on a hardware GPU, upload and readback included.
    HashGpu,
    /// Appending every hash to a new hash store, sealed and synced.
    StoreWrite,
    /// Building an index (MIH tables, no graph) over every hash.
    IndexBuild,
    /// One exact radius-31 lookup per image, single-threaded.
    IndexQuery,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Read => "read files",
            Stage::Decode => "decode",
            Stage::HashCpu => "hash (CPU)",
            Stage::HashCpuDihedral => "hash + dihedral (CPU)",
            Stage::EndToEnd => "end to end (read + decode + hash)",
            Stage::HashGpu => "hash (GPU)",
            Stage::StoreWrite => "store write",
            Stage::IndexBuild => "index build",
            Stage::IndexQuery => "index query (radius 31)",
        })
    }
}

/// Throughput of one stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageResult {
    /// The stage.
    pub stage: Stage,
    /// Images processed.
    pub num_images: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Decoded pixels of those images.
    pub num_pixels: u64,
    /// File bytes of those images.
    pub num_bytes: u64,
}

impl StageResult {
    /// Images per second.
    #[must_use]
    pub fn images_per_second(&self) -> f64 {
        self.num_images as f64 / self.seconds.max(1e-9)
    }

    /// Megapixels per second.
    #[must_use]
    pub fn megapixels_per_second(&self) -> f64 {
        self.num_pixels as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

/// The speed table.
#[derive(Clone, Debug)]
pub struct SpeedReport {
    /// Where it ran.
    pub machine: Machine,
    /// Rayon worker threads used.
    pub num_threads: usize,
    /// SHA-256 of the dataset manifest.
    pub manifest_sha256: String,
    /// One line per measured stage.
    pub stages: Vec<StageResult>,
    /// Stages not measured on this machine, with the reason.
    pub skipped: Vec<(Stage, String)>,
}

/// Measures every stage on the dataset's images (all of them, in manifest order) on the
/// current rayon pool. Time O(images); memory O([`BATCH_SIZE`] decoded images).
///
/// # Errors
/// [`BenchError::Io`] or [`BenchError::Decode`] naming the first image that fails.
pub fn measure_speed(dataset: &Dataset) -> Result<SpeedReport> {
    let options = DecodeOptions::default();
    // Decoded pixels are reused as in bulk runs.
    let pool = PixelPool::default();
    let paths: Vec<_> = dataset
        .entries
        .iter()
        .map(|e| dataset.dir.join(&e.path))
        .collect();
    let mut t = [0f64; 5];
    let (mut num_pixels, mut num_bytes) = (0u64, 0u64);
    let mut hashes: Vec<Pdq256> = Vec::with_capacity(paths.len());
    let mut gpu = BackendHasher::new(Backend::Auto)
        .ok()
        .filter(BackendHasher::is_gpu);
    for batch in paths.chunks(BATCH_SIZE) {
        let start = Instant::now();
        let bytes: Vec<Vec<u8>> = batch
            .par_iter()
            .map(|p| std::fs::read(p).map_err(io_err(p)))
            .collect::<Result<_>>()?;
        t[0] += start.elapsed().as_secs_f64();
        num_bytes += bytes.iter().map(|b| b.len() as u64).sum::<u64>();

        let start = Instant::now();
        let decoded: Vec<DecodedImage> = bytes
            .par_iter()
            .zip(batch)
            .map(|(b, p)| {
                decode_pooled(b, &options, &pool).map_err(|source| BenchError::Decode {
                    path: p.clone(),
                    source,
                })
            })
            .collect::<Result<_>>()?;
        t[1] += start.elapsed().as_secs_f64();
        num_pixels += decoded
            .iter()
            .map(|d| u64::from(d.width) * u64::from(d.height))
            .sum::<u64>();

        let start = Instant::now();
        let batch_hashes: Vec<Pdq256> = decoded
            .par_iter()
            .map_init(PdqHasher::new, |h, d| h.hash(d.as_image_ref()).hash)
            .collect();
        t[2] += start.elapsed().as_secs_f64();
        hashes.extend(batch_hashes);

        if let Some(g) = gpu.as_mut() {
            let refs: Vec<ImageRef<'_>> = decoded.iter().map(DecodedImage::as_image_ref).collect();
            let start = Instant::now();
            let out = g.hash_batch(&refs).map_err(|e| BenchError::Stage {
                stage: "hash (GPU)",
                source: e.into(),
            })?;
            t[4] += start.elapsed().as_secs_f64();
            std::hint::black_box(out);
        }

        let start = Instant::now();
        decoded.par_iter().for_each_init(PdqHasher::new, |h, d| {
            std::hint::black_box(h.hash_dihedral(d.as_image_ref()));
        });
        t[3] += start.elapsed().as_secs_f64();
        for d in decoded {
            pool.give(d.pixels);
        }
    }

    let start = Instant::now();
    paths
        .par_iter()
        .map_init(PdqHasher::new, |h, p| {
            let b = std::fs::read(p).map_err(io_err(p))?;
            let d = decode_pooled(&b, &options, &pool).map_err(|source| BenchError::Decode {
                path: p.clone(),
                source,
            })?;
            let hash = h.hash(d.as_image_ref());
            pool.give(d.pixels);
            Ok(hash)
        })
        .collect::<Result<Vec<_>>>()?;
    let end_to_end = start.elapsed().as_secs_f64();

    let ids: Vec<String> = dataset.entries.iter().map(|e| e.path.clone()).collect();
    let (store_s, build_s, query_s) = downstream(&hashes, &ids)?;

    let n = paths.len();
    let line = |stage, seconds| StageResult {
        stage,
        num_images: n,
        seconds,
        num_pixels,
        num_bytes,
    };
    let after_hashing = |stage, seconds| StageResult {
        stage,
        num_images: n,
        seconds,
        num_pixels: 0,
        num_bytes: 0,
    };
    let mut stages = vec![
        line(Stage::Read, t[0]),
        line(Stage::Decode, t[1]),
        line(Stage::HashCpu, t[2]),
        line(Stage::HashCpuDihedral, t[3]),
    ];
    let mut skipped = Vec::new();
    match &gpu {
        Some(_) => stages.push(line(Stage::HashGpu, t[4])),
        None => skipped.push((Stage::HashGpu, "no hardware GPU found".to_string())),
    }
    stages.extend([
        line(Stage::EndToEnd, end_to_end),
        after_hashing(Stage::StoreWrite, store_s),
        after_hashing(Stage::IndexBuild, build_s),
        after_hashing(Stage::IndexQuery, query_s),
    ]);
    Ok(SpeedReport {
        machine: Machine::current(),
        num_threads: rayon::current_num_threads(),
        manifest_sha256: dataset.manifest_sha256.clone(),
        stages,
        skipped,
    })
}

/// Seconds to write `hashes` to a new store, to build an index over them, and to look each of
/// them up once (radius 31, one thread).
fn downstream(hashes: &[Pdq256], ids: &[String]) -> Result<(f64, f64, f64)> {
    let stage_err =
        |stage: &'static str| move |e: crate::Error| BenchError::Stage { stage, source: e };
    let path = std::env::temp_dir().join(format!("imprint-speed-{}.imps", std::process::id()));
    let start = Instant::now();
    let written = (|| -> crate::Result<()> {
        let mut w = StoreWriter::create(&path, &StoreOptions::new())?;
        for (id, h) in ids.iter().zip(hashes) {
            w.append_hash(
                id,
                &crate::hash::PdqHash {
                    hash: *h,
                    quality: 100,
                },
            )?;
        }
        w.finish()?;
        Ok(())
    })();
    let store_s = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    written.map_err(stage_err("store write"))?;

    let start = Instant::now();
    let bytes = IndexBuilder::new()
        .hnsw(false)
        .build(hashes, ids)
        .map_err(|e| stage_err("index build")(e.into()))?;
    let build_s = start.elapsed().as_secs_f64();
    let index = Index::from_bytes(bytes).map_err(|e| stage_err("index query")(e.into()))?;
    let mut scratch = SearchScratch::new();
    let start = Instant::now();
    for h in hashes {
        let found = index
            .search_radius(h, DEFAULT_MAX_DISTANCE, &mut scratch)
            .map_err(|e| stage_err("index query")(e.into()))?;
        std::hint::black_box(found.len());
    }
    Ok((store_s, build_s, start.elapsed().as_secs_f64()))
}

impl fmt::Display for SpeedReport {
    /// A Markdown table with the machine description above it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "imprint {} on {}; {} worker threads; dataset manifest sha256 {}\n",
            env!("CARGO_PKG_VERSION"),
            self.machine,
            self.num_threads,
            self.manifest_sha256
        )?;
        writeln!(f, "| stage | images | seconds | images/s | MP/s |")?;
        writeln!(f, "|---|---:|---:|---:|---:|")?;
        for s in &self.stages {
            let mp = if s.num_pixels == 0 {
                "–".to_string()
            } else {
                format!("{:.1}", s.megapixels_per_second())
            };
            writeln!(
                f,
                "| {} | {} | {:.3} | {:.1} | {mp} |",
                s.stage,
                s.num_images,
                s.seconds,
                s.images_per_second(),
            )?;
        }
        for (stage, why) in &self.skipped {
            writeln!(f, "| {stage} | – | – | not measured: {why} | – |")?;
        }
        Ok(())
    }
}
