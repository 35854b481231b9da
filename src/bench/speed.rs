//! Throughput of each pipeline stage on a [`Dataset`], and end to end.
//!
//! Stages run one after another over batches of [`BATCH_SIZE`] images so that memory stays
//! bounded: read the files, decode the batch in parallel (timed), hash it in parallel
//! (timed). The end-to-end pass then reads, decodes and hashes every image in one parallel
//! loop, as `imprint hash` does. All times are wall-clock on the rayon pool the caller runs in.
//!
//! To add a stage (GPU hashing, store write, index query), add a [`Stage`] variant, time it in
//! [`measure_speed`] after the stages it depends on, and remove it from [`NOT_YET_MEASURED`].

use super::dataset::Dataset;
use super::error::{io_err, BenchError, Result};
use super::machine::Machine;
use crate::decode::{decode, DecodeOptions, DecodedImage};
use crate::hash::PdqHasher;
use rayon::prelude::*;
use std::fmt;
use std::time::Instant;

/// Images per batch: decoded pixels of one batch stay in memory (~60 MB at the default scene
/// size).
pub const BATCH_SIZE: usize = 256;

/// Stages that exist in the engine but are not measured by this build, with the reason.
pub const NOT_YET_MEASURED: &[(&str, &str)] = &[
    ("hash (GPU)", "GPU hashing is not in this build yet"),
    ("store write", "the hash store is not in this build yet"),
    ("index query", "the index is not in this build yet"),
];

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
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Read => "read files",
            Stage::Decode => "decode",
            Stage::HashCpu => "hash (CPU)",
            Stage::HashCpuDihedral => "hash + dihedral (CPU)",
            Stage::EndToEnd => "end to end (read + decode + hash)",
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
}

/// Measures every stage on the dataset's images (all of them, in manifest order) on the
/// current rayon pool. Time O(images); memory O([`BATCH_SIZE`] decoded images).
///
/// # Errors
/// [`BenchError::Io`] or [`BenchError::Decode`] naming the first image that fails.
pub fn measure_speed(dataset: &Dataset) -> Result<SpeedReport> {
    let options = DecodeOptions::default();
    let paths: Vec<_> = dataset
        .entries
        .iter()
        .map(|e| dataset.dir.join(&e.path))
        .collect();
    let mut t = [0f64; 4];
    let (mut num_pixels, mut num_bytes) = (0u64, 0u64);
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
                decode(b, &options).map_err(|source| BenchError::Decode {
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
        decoded.par_iter().for_each_init(PdqHasher::new, |h, d| {
            std::hint::black_box(h.hash(d.as_image_ref()));
        });
        t[2] += start.elapsed().as_secs_f64();

        let start = Instant::now();
        decoded.par_iter().for_each_init(PdqHasher::new, |h, d| {
            std::hint::black_box(h.hash_dihedral(d.as_image_ref()));
        });
        t[3] += start.elapsed().as_secs_f64();
    }

    let start = Instant::now();
    paths
        .par_iter()
        .map_init(PdqHasher::new, |h, p| {
            let b = std::fs::read(p).map_err(io_err(p))?;
            let d = decode(&b, &options).map_err(|source| BenchError::Decode {
                path: p.clone(),
                source,
            })?;
            Ok(h.hash(d.as_image_ref()))
        })
        .collect::<Result<Vec<_>>>()?;
    let end_to_end = start.elapsed().as_secs_f64();

    let n = paths.len();
    let line = |stage, seconds| StageResult {
        stage,
        num_images: n,
        seconds,
        num_pixels,
        num_bytes,
    };
    Ok(SpeedReport {
        machine: Machine::current(),
        num_threads: rayon::current_num_threads(),
        manifest_sha256: dataset.manifest_sha256.clone(),
        stages: vec![
            line(Stage::Read, t[0]),
            line(Stage::Decode, t[1]),
            line(Stage::HashCpu, t[2]),
            line(Stage::HashCpuDihedral, t[3]),
            line(Stage::EndToEnd, end_to_end),
        ],
    })
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
            writeln!(
                f,
                "| {} | {} | {:.3} | {:.1} | {:.1} |",
                s.stage,
                s.num_images,
                s.seconds,
                s.images_per_second(),
                s.megapixels_per_second()
            )?;
        }
        for (stage, why) in NOT_YET_MEASURED {
            writeln!(f, "| {stage} | – | – | not measured: {why} | – |")?;
        }
        Ok(())
    }
}
