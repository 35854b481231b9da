//! The tests' seeded draws: the crate's one generator, [`imprint::rng::Rng`].

pub use imprint::rng::Rng;
