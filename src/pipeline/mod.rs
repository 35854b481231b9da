//! Bulk runs: sources → read → decode (rayon pool) → hash → [`Sink`], over bounded queues.
//!
//! * [`Source`]: files, directory trees (sorted), manifests (`path` or `id,path` lines) and tar
//!   archives (streamed, ids `archive:member`); every item gets a stable id, made as
//!   [`ID_SCHEME`] says (see [`escape_id`]); an id longer than a store takes is shortened
//!   ([`shorten_id`]), so a long name is one more item, never the end of a run.
//! * [`Pipeline`]: the run's settings (threads, queue lengths, [`Shard`], [`SkipSet`] for
//!   `--resume`, an optional [`HashStage`] for GPU-style batches) and [`Pipeline::run`].
//! * [`Decoder`] turns bytes into pixels; a [`HashStage`] turns pixels into
//!   [`Hashed`](crate::hash::Hashed): [`crate::BackendHasher`] on the GPU, or [`CpuHasher`],
//!   the reference, which also hashes inside the decode workers when there is no stage.
//! * [`Sink`] receives each outcome in input order ([`StoreSink`] appends to a hash store);
//!   the run returns a [`Report`].
//! * [`Journal`]: which items are being decoded, so that a file that ends the whole process
//!   (a crash in a C decoder, an out-of-memory kill) is found on resume and cannot end every
//!   resumed run.
//! * [`BulkRun`]: a run into a hash store with its journal and skip set, created or resumed
//!   together — what `imprint hash --out` and cluster jobs run ([`Shard::from_env`] picks a
//!   job's shard); [`CauseTally`] and [`RootTally`] count what came of the items for a run's
//!   summary.
//!
//! Invariants: a bad item never stops a run (it becomes a failure outcome; a file found by a walk
//! that does not start like an image is passed over, see [`Decoder::accepts`]); memory is bounded
//! by the queue lengths, not the corpus size; the same inputs give the same outcomes in the
//! same order (a run resumed with a [`Journal`]'s suspects takes those first).

mod bulk;
mod id;
mod journal;
mod partition;
mod run;
mod sink;
mod source;
mod stage;
mod tally;

pub use bulk::{BulkReport, BulkRun, Resumed, Start};
pub use id::{
    escape_id, path_id, shorten_id, unescape_id, IdError, ID_SCHEME, SHORTENED_ID_MARKER,
};
pub use journal::{Journal, STRIKES_TO_FAIL};
pub use partition::{id_hash, FailedCauses, Shard, ShardError, SkipSet};
pub use run::{Pipeline, DEFAULT_QUEUE_LEN, MIN_READ_THREADS, READ_THREADS_PER_DECODE_THREAD};
pub use sink::{Progress, Report, Sink, StoreSink, VecSink};
pub use source::{read_item, Source, DEFAULT_MAX_ITEM_BYTES};
pub use stage::{
    CpuHasher, DecodeFailure, Decoder, HashStage, ItemError, OwnedImage, StandardDecoder,
    ITEM_HEAD_LEN,
};
pub use tally::{cause_group, CauseTally, RootCounts, RootTally, MAX_CAUSES};
