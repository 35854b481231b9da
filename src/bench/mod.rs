//! Researcher benchmarks: seeded inputs for the benches and the near-duplicate dataset.
//!
//! Everything here is reproducible: images come from [`Rng`], a portable SplitMix64, so one
//! seed gives the same bytes on every machine.

mod rng;
mod scene;

pub use rng::Rng;
pub use scene::scene;
