//! Researcher benchmarks: a seeded near-duplicate dataset generator, robustness evaluation
//! (recall per edit, false-match rate, distance distributions, ROC, ISC2021 micro-AP) and
//! per-stage speed measurement.
//!
//! | module | what |
//! |---|---|
//! | [`DatasetBuilder`], [`Dataset`] | generate / read a dataset (originals, edited queries, distractors, manifest) |
//! | [`Edit`], [`EDIT_FAMILIES`] | the edits and their parameter grids |
//! | [`hash_dataset`], [`evaluate`], [`RobustnessReport`] | robustness: CSV, Markdown and SVG outputs |
//! | [`isc_metrics`] | ISC2021 micro-AP and recall at 90 % precision |
//! | [`measure_speed`], [`SpeedReport`] | throughput per stage |
//! | [`measure_fidelity`], [`FidelityReport`] | `--fast` hashes against exact ones, per size band |
//! | [`sweep_index`], [`IndexSweep`], [`read_raw_hashes`] | index build, open and search timings and recall, per method and parameter |
//! | [`Machine`] | the machine description recorded with every figure |
//!
//! Everything is reproducible: images come from [`Rng`], a portable SplitMix64, each image
//! from its own stream, so one seed gives the same bytes on every machine and thread count.
//! (The `webp` edit's bytes also depend on libwebp's encoder, the version `libwebp-sys`
//! vendors; the manifest's checksums show whether a copy matches.)
//!
//! # Examples
//! ```no_run
//! use imprint::bench::{evaluate, hash_dataset, DatasetBuilder, RobustnessSettings};
//! let dataset = DatasetBuilder::new(7).originals(20).distractors(100).build("/tmp/ds".as_ref())?;
//! let hashes = hash_dataset(&dataset)?;
//! let report = evaluate(&dataset, &hashes, RobustnessSettings::default())?;
//! report.write("/tmp/ds-report".as_ref())?;
//! # Ok::<(), imprint::bench::BenchError>(())
//! ```

mod dataset;
mod edit;
mod error;
mod fidelity;
mod index_sweep;
mod isc;
mod machine;
mod robustness;
mod scene;
mod sha256;
mod speed;
mod svg;

/// The datasets' generator: the crate's one seeded generator, re-exported here where it was
/// first public.
pub use crate::rng::Rng;
pub use dataset::{
    encode_webp, Dataset, DatasetBuilder, Entry, Role, DEFAULT_NUM_DISTRACTORS,
    DEFAULT_NUM_ORIGINALS, DEFAULT_SCENE_WIDTH, GENERATOR_VERSION, PHOTO_DUPLICATE_DISTANCE,
};
pub use edit::{Edit, EDIT_FAMILIES};
pub use error::{BenchError, Result};
pub use fidelity::{
    is_held_out, jpeg_files, measure_fidelity, BandSummary, FidelityItem, FidelityReport,
    FidelitySettings, ScaleRule, Subsampling, DEFAULT_FIDELITY_IMAGES, FULL_FIDELITY_IMAGES,
    HARD_LIMIT_BITS, PROMISED_BITS, SIZE_BANDS_MP,
};
pub use index_sweep::{
    read_raw_hashes, sweep_index, IndexSweep, IndexSweepError, IndexSweepSettings, Latency,
    RawHashesError, SweepMethod, SweepRow, DEFAULT_SWEEP_EF, DEFAULT_SWEEP_K, RAW_HASH_BYTES,
};
pub use isc::{isc_metrics, IscMetrics, ScoredPair};
pub use machine::Machine;
pub use robustness::{
    evaluate, hash_dataset, hash_dataset_with, EditRecall, FalseMatches, Histograms, Prediction,
    RobustnessReport, RobustnessSettings, RocPoint, DEFAULT_PREDICTIONS_PER_QUERY,
    DEFAULT_THRESHOLD,
};
pub use scene::scene;
pub use sha256::sha256_hex;
pub use speed::{measure_speed, SpeedReport, Stage, StageResult, BATCH_SIZE};
pub use svg::{bar_chart, line_chart, Axis, PALETTE};
