//! Researcher benchmarks: a seeded near-duplicate dataset generator, robustness evaluation
//! (recall per edit, false-match rate, distance distributions, ROC, ISC2021 micro-AP) and
//! per-stage speed measurement.
//!
//! | module | what |
//! |---|---|
//! | [`DatasetBuilder`], [`Dataset`] | generate / read a dataset (originals, edited queries, distractors, manifest) |
//! | [`Edit`], [`EDIT_FAMILIES`] | the edits and their parameter grids |
//!
//! Everything is reproducible: images come from [`Rng`], a portable SplitMix64, each image
//! from its own stream, so one seed gives the same bytes on every machine and thread count.
//!
//! # Examples
//! ```no_run
//! use imprint::bench::DatasetBuilder;
//! let dataset = DatasetBuilder::new(7).originals(20).distractors(100).build("/tmp/ds".as_ref())?;
//! # Ok::<(), imprint::bench::BenchError>(())
//! ```

mod dataset;
mod edit;
mod error;
mod rng;
mod scene;
mod sha256;

pub use dataset::{
    Dataset, DatasetBuilder, Entry, Role, DEFAULT_NUM_DISTRACTORS, DEFAULT_NUM_ORIGINALS,
    DEFAULT_SCENE_WIDTH, GENERATOR_VERSION, PHOTO_DUPLICATE_DISTANCE,
};
pub use edit::{Edit, EDIT_FAMILIES};
pub use error::{BenchError, Result};
pub use rng::Rng;
pub use scene::scene;
pub use sha256::sha256_hex;
