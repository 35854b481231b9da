//! Deterministic sharding and the resume skip set, both keyed by a stable hash of the item id.
//!
//! An item belongs to shard `splitmix64(fnv1a64(id)) mod N`. A hash of the id, not the item's
//! position, because the id is all a machine needs: shards agree whatever order each machine
//! enumerates its inputs in, however many items precede an item, and when a manifest is
//! appended to, no item moves to another shard. FNV-1a is fixed by its spec (no per-process
//! seed, unlike `std`'s `DefaultHasher`), and the splitmix64 finaliser mixes its weak low bits
//! before the modulo.

use super::stage::ItemError;
use crate::rng::splitmix64;
use crate::store::{Outcome, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a64(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The stable 64-bit hash of an item id used for sharding (see the module docs).
#[must_use]
pub fn id_hash(id: &str) -> u64 {
    splitmix64(fnv1a64(FNV_OFFSET, id.as_bytes()))
}

/// A 128-bit digest of an id for the skip set: two independent 64-bit hashes, so that a
/// billion ids collide with probability about 10⁻²¹ rather than about 3 % for 64 bits.
fn id_digest(id: &str) -> u128 {
    let a = id_hash(id);
    let b = splitmix64(fnv1a64(FNV_OFFSET ^ 0x5bd1_e995_5bd1_e995, id.as_bytes()));
    (u128::from(a) << 64) | u128::from(b)
}

/// Shard `index` of `count`: a deterministic `1/count` partition of any input by item id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// Why a shard specification was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// Not of the form `I/N`.
    #[error("shard must be written I/N (e.g. 3/16), got {0:?}")]
    Syntax(String),
    /// `N` is zero or `I >= N`.
    #[error("shard index {index} is out of range for {count} shards (0 <= I < N)")]
    OutOfRange {
        /// I.
        index: u64,
        /// N.
        count: u64,
    },
    /// [`Shard::from_env`] found none of [`Shard::INDEX_VARS`].
    #[error("{count} shards need JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment")]
    NoIndexInEnv {
        /// N.
        count: u64,
    },
    /// [`Shard::from_env`] found a variable that is not a shard index.
    #[error("{var}={value:?} is not a shard index")]
    BadIndexInEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
}

impl Shard {
    /// Shard `index` of `count` (0-based).
    ///
    /// # Errors
    /// [`ShardError::OutOfRange`] unless `index < count`.
    pub fn new(index: u64, count: u64) -> Result<Shard, ShardError> {
        match (u32::try_from(index), u32::try_from(count)) {
            (Ok(i), Ok(n)) if i < n => Ok(Shard { index: i, count: n }),
            _ => Err(ShardError::OutOfRange { index, count }),
        }
    }

    /// The environment variables that number a job of an array, read in this order by
    /// [`Shard::from_env`]: Kubernetes Indexed Jobs, then Slurm job arrays.
    pub const INDEX_VARS: [&'static str; 2] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];

    /// Shard `I` of `count`, `I` read from the first of [`Shard::INDEX_VARS`] that is set, so
    /// that every job of an array runs its own shard of the same input.
    ///
    /// # Errors
    /// [`ShardError::NoIndexInEnv`], [`ShardError::BadIndexInEnv`], or
    /// [`ShardError::OutOfRange`].
    pub fn from_env(count: u64) -> Result<Shard, ShardError> {
        for var in Self::INDEX_VARS {
            if let Some(v) = std::env::var_os(var) {
                let value = v.to_string_lossy().into_owned();
                let index: u64 = value
                    .trim()
                    .parse()
                    .map_err(|_| ShardError::BadIndexInEnv { var, value })?;
                return Shard::new(index, count);
            }
        }
        Err(ShardError::NoIndexInEnv { count })
    }

    /// This shard's index.
    #[must_use]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Number of shards.
    #[must_use]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether the item with this id belongs to this shard.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        id_hash(id) % u64::from(self.count) == u64::from(self.index)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(s.to_owned());
        let (i, n) = s.split_once('/').ok_or_else(syntax)?;
        let i: u64 = i.trim().parse().map_err(|_| syntax())?;
        let n: u64 = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(i, n)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The ids already in a store, to skip on `--resume`: 16 bytes per id plus set overhead.
#[derive(Clone, Debug, Default)]
pub struct SkipSet {
    digests: HashSet<u128>,
}

impl SkipSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an id.
    pub fn insert(&mut self, id: &str) {
        self.digests.insert(id_digest(id));
    }

    /// Whether the id was added.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        self.digests.contains(&id_digest(id))
    }

    /// Number of ids.
    #[must_use]
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Every id in a store's sealed blocks, error records included.
    ///
    /// # Errors
    /// The first [`StoreError`] met reading the records.
    pub fn from_store<D: AsRef<[u8]>>(store: &Store<D>) -> Result<SkipSet, StoreError> {
        let mut s = SkipSet::new();
        for r in store.records() {
            s.insert(r?.id);
        }
        Ok(s)
    }

    /// The ids of a store's sealed blocks that have a hash record, and those whose error
    /// record says the item ended the process ([`ItemError::EndedProcess`]: decoding it again
    /// would end the process again). A resumed run given this set tries every other failed
    /// item again, e.g. after a storage outage made reads fail.
    ///
    /// # Errors
    /// The first [`StoreError`] met reading the records.
    pub fn from_store_retrying_failures<D: AsRef<[u8]>>(
        store: &Store<D>,
    ) -> Result<SkipSet, StoreError> {
        Ok(Self::from_store_for_retry(store)?.0)
    }

    /// As [`SkipSet::from_store_retrying_failures`], in the same pass the latest cause of each
    /// item it leaves to try again, for [`super::StoreSink::skip_repeated_failures`].
    ///
    /// # Errors
    /// The first [`StoreError`] met reading the records.
    pub fn from_store_for_retry<D: AsRef<[u8]>>(
        store: &Store<D>,
    ) -> Result<(SkipSet, FailedCauses), StoreError> {
        let mut s = SkipSet::new();
        let mut causes = FailedCauses::default();
        for r in store.records() {
            let r = r?;
            match r.outcome {
                Outcome::Failed { cause } if !cause.starts_with(ItemError::ENDED_PROCESS) => {
                    causes.0.insert(id_digest(r.id), cause.to_owned());
                }
                _ => s.insert(r.id),
            }
        }
        // An item with a hash (or one that ended the process) is not tried again, whatever
        // failed before it.
        causes.0.retain(|id, _| !s.digests.contains(id));
        Ok((s, causes))
    }
}

/// The latest error cause of each item a retry tries again, as the store holds it (see
/// [`SkipSet::from_store_for_retry`]).
#[derive(Clone, Debug, Default)]
pub struct FailedCauses(HashMap<u128, String>);

impl FailedCauses {
    /// The stored cause of the item's latest error record, if it is to be tried again.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&str> {
        self.0.get(&id_digest(id)).map(String::as_str)
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_vectors() {
        assert_eq!(fnv1a64(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shard_assignment_is_pinned() {
        // Changing the partition function would split resumed fleets differently: pin it.
        let got: Vec<u32> = ["a.jpg", "b.jpg", "dir/c.png", "x.tar:0001.jpg"]
            .iter()
            .map(|id| {
                (0..7)
                    .find(|&i| Shard::new(i, 7).expect("valid").contains(id))
                    .expect("one shard") as u32
            })
            .collect();
        assert_eq!(got, PINNED_SHARDS_OF_7);
    }
    const PINNED_SHARDS_OF_7: [u32; 4] = [3, 1, 4, 5];

    #[test]
    fn shards_partition_and_balance() {
        let n = 5;
        let mut counts = [0u32; 5];
        for k in 0..10_000 {
            let id = format!("img/{k}.jpg");
            let owners: Vec<u64> = (0..n)
                .filter(|&i| Shard::new(i, n).expect("valid").contains(&id))
                .collect();
            assert_eq!(owners.len(), 1);
            counts[owners[0] as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (1800..2200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn shard_parsing() {
        assert_eq!("3/16".parse::<Shard>().expect("valid").to_string(), "3/16");
        assert!(matches!(
            "16/16".parse::<Shard>(),
            Err(ShardError::OutOfRange { .. })
        ));
        assert!(matches!(
            "0/0".parse::<Shard>(),
            Err(ShardError::OutOfRange { .. })
        ));
        assert!(matches!("3".parse::<Shard>(), Err(ShardError::Syntax(_))));
    }

    #[test]
    fn skip_set_membership() {
        let mut s = SkipSet::new();
        s.insert("a");
        assert!(s.contains("a") && !s.contains("b") && s.len() == 1);
    }
}
