//! Bulk runs: sources → read → decode (rayon pool) → hash → [`Sink`], over bounded queues.
//!
//! * [`Source`]: files, directory trees (sorted), manifests (`path` or `id,path` lines) and tar
//!   archives (streamed, ids `archive:member`); every item gets a stable id.
//! * [`Pipeline`]: the run's settings (threads, queue lengths, [`Shard`], [`SkipSet`] for
//!   `--resume`, an optional [`BatchHasher`] for GPU-style batches) and [`Pipeline::run`].
//! * [`Decoder`] turns bytes into pixels; [`BatchHasher`] turns pixels into [`Hashes`]
//!   ([`CpuHasher`] is the reference).
//! * [`Sink`] receives each outcome in input order ([`StoreSink`] appends to a hash store);
//!   the run returns a [`Report`].
//!
//! Invariants: a bad item never stops a run (it becomes a failure outcome); memory is bounded
//! by the queue lengths, not the corpus size; the same inputs give the same outcomes in the
//! same order.

mod partition;
mod run;
mod sink;
mod source;
mod stage;

pub use partition::{id_hash, Shard, ShardError, SkipSet};
pub use run::{Pipeline, DEFAULT_QUEUE_LEN};
pub use sink::{Progress, Report, Sink, StoreSink, VecSink};
pub use source::{Source, DEFAULT_MAX_ITEM_BYTES};
pub use stage::{
    BatchHasher, CpuHasher, DecodeFailure, Decoder, HasherError, Hashes, ItemError, OwnedImage,
    StandardDecoder,
};
