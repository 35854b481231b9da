//! [`Pipeline`]: walk → read → decode (+ hash) → (hash stage) → sink, over bounded queues.
//!
//! [`Pipeline::run`] in its parts: the checks before anything starts, the journal's suspect
//! pass ([`super::journal`]), then the stages, each on threads of its own inside one scope
//! ([`Stages`]): the walk ([`Stages::spawn_walker`]), the reads ([`Stages::spawn_readers`]),
//! decoding with hashing in the same workers ([`fused_worker`]) or decoding alone
//! ([`decode_worker`]) feeding a [`HashStage`] ([`hash_stage`]), and the delivery of outcomes
//! in input order ([`deliver_in_order`]); last the finish ([`finish`]), which seals the sink
//! and removes the journal.

use super::journal::{Journal, SuspectPass};
use super::partition::{Shard, SkipSet};
use super::sink::{Progress, Report, Sink};
use super::source::{self, Excluded, RawItem, Source, DEFAULT_MAX_ITEM_BYTES};
use super::stage::{
    decode_item, hash_decoded, CpuHasher, Decoder, HashStage, ItemError, Outcome, OwnedImage,
};
use crate::error::{Error, Result};
use crate::hash::ImageRef;
use crate::threads::{check_thread_count, MAX_DECODE_THREADS_PER_CORE, MAX_READ_THREADS_PER_CORE};
use crate::{BackendError, BackendHasher};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Instant;

/// Default read threads per decode thread ([`Pipeline::read_threads`]): enough that files on
/// storage answering each read after a few milliseconds keep the decoders busy, while a read
/// thread costs little when reads are fast (it waits on a queue).
pub const READ_THREADS_PER_DECODE_THREAD: usize = 2;

/// The fewest read threads by default, for machines with few cores.
pub const MIN_READ_THREADS: usize = 4;

/// Default length of each queue between stages. With the default thread count this keeps a
/// few items per worker queued, while memory stays at `queue_len × item bytes` for tar
/// members, which wait there with their bytes (files wait as paths).
pub const DEFAULT_QUEUE_LEN: usize = 32;

/// A configured bulk run; see each setter for its default.
///
/// Memory is bounded by the queues, whatever the corpus size: at most `queue_len` raw items
/// and `read_threads` items being read (each at most `max_item_bytes`), `threads` items being
/// decoded, with a hash stage up to `threads + 2 × max_batch` decoded images and about
/// `2 × max_batch_bytes` of their pixels (a streaming stage's batches in flight keep theirs
/// until their results come back), and up to `2 × queue_len + threads` small results waiting
/// to be put back in input order. Outcomes reach the sink in input order, so the same inputs
/// give the same store bytes.
///
/// # Examples
/// ```
/// use imprint::pipeline::{Pipeline, Source, StandardDecoder, VecSink};
/// let dir = tempfile::tempdir()?;
/// image::RgbImage::from_fn(80, 60, |x, y| image::Rgb([x as u8, y as u8, 7]))
///     .save(dir.path().join("a.png"))?;
/// std::fs::write(dir.path().join("b.jpg"), [0xFF, 0xD8, 0xFF, 0xE0])?; // a broken JPEG
/// std::fs::write(dir.path().join("c.txt"), "not an image")?; // passed over
/// let mut sink = VecSink::default();
/// let report = Pipeline::new().threads(2).run(
///     &[Source::Dir(dir.path().to_owned())],
///     &StandardDecoder::default(),
///     &mut sink,
///     &mut |_| {},
/// )?;
/// assert_eq!((report.num_ok, report.num_failed, report.num_not_images), (1, 1, 1));
/// assert_eq!(sink.items.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pipeline {
    threads: usize,
    read_threads: Option<usize>,
    queue_len: usize,
    dihedral: bool,
    shard: Option<Shard>,
    skip: Option<SkipSet>,
    max_item_bytes: u64,
    hash_stage: Option<Box<dyn HashStage>>,
    journal: Option<Journal>,
    exclude: Vec<std::path::PathBuf>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("threads", &self.threads)
            .field("read_threads", &self.read_threads)
            .field("queue_len", &self.queue_len)
            .field("dihedral", &self.dihedral)
            .field("shard", &self.shard)
            .field("skip", &self.skip.as_ref().map(SkipSet::len))
            .field("max_item_bytes", &self.max_item_bytes)
            .field("hash_stage", &self.hash_stage.is_some())
            .field("journal", &self.journal.as_ref().map(Journal::path))
            .field("exclude", &self.exclude)
            .finish()
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            read_threads: None,
            queue_len: DEFAULT_QUEUE_LEN,
            dihedral: false,
            shard: None,
            skip: None,
            max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
            hash_stage: None,
            journal: None,
            exclude: Vec::new(),
        }
    }
}

impl Pipeline {
    /// Defaults: one decode thread per core, [`DEFAULT_QUEUE_LEN`], plain hashes, no shard,
    /// nothing skipped, [`DEFAULT_MAX_ITEM_BYTES`], hashing on the CPU in the decode workers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode threads (default: the number of cores; at least 1).
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Threads reading files ahead of the decode threads (default:
    /// [`READ_THREADS_PER_DECODE_THREAD`] per decode thread, at least [`MIN_READ_THREADS`]; at
    /// least 1). Reads then wait on storage side by side: a network file system answers each
    /// after milliseconds, which one reader after another could not hide. Tar archives are
    /// read by the thread walking the sources, in order, as one stream (a run over archives
    /// alone starts one read thread by default, which only passes their members on).
    #[must_use]
    pub fn read_threads(mut self, n: usize) -> Self {
        self.read_threads = Some(n.max(1));
        self
    }

    /// Length of each queue between stages (default [`DEFAULT_QUEUE_LEN`]; at least 1).
    #[must_use]
    pub fn queue_len(mut self, n: usize) -> Self {
        self.queue_len = n.max(1);
        self
    }

    /// Compute the 8 dihedral hashes (default `false`).
    #[must_use]
    pub fn dihedral(mut self, yes: bool) -> Self {
        self.dihedral = yes;
        self
    }

    /// Process only the items of this shard (default: all).
    #[must_use]
    pub fn shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// Skip these ids, e.g. those already in the store on resume (default: none).
    #[must_use]
    pub fn skip(mut self, ids: SkipSet) -> Self {
        self.skip = Some(ids);
        self
    }

    /// Largest item in bytes; larger ones fail without being read (default
    /// [`DEFAULT_MAX_ITEM_BYTES`]).
    #[must_use]
    pub fn max_item_bytes(mut self, n: u64) -> Self {
        self.max_item_bytes = n;
        self
    }

    /// Hash in batches on a stage of its own with `stage` (a GPU backend) instead of on the
    /// CPU inside the decode workers (default).
    #[must_use]
    pub fn hash_stage(mut self, stage: Box<dyn HashStage>) -> Self {
        self.hash_stage = Some(stage);
        self
    }

    /// Hash where `hasher` does: when it is on a GPU, in batches on a stage of its own
    /// ([`Pipeline::hash_stage`]); on the CPU, inside the decode workers, as by default (the
    /// hasher is then not needed).
    ///
    /// # Examples
    /// ```
    /// use imprint::{Backend, BackendHasher};
    /// use imprint::pipeline::Pipeline;
    /// let pipeline = Pipeline::new().hasher(BackendHasher::new(Backend::Cpu)?);
    /// # Ok::<(), imprint::BackendError>(())
    /// ```
    #[must_use]
    pub fn hasher(self, hasher: BackendHasher) -> Self {
        if hasher.is_gpu() {
            self.hash_stage(Box::new(hasher))
        } else {
            self
        }
    }

    /// Keep a crash journal (default: none): the items that an earlier run with this journal
    /// was decoding when it ended are decoded first, one at a time, so that a file that ends
    /// the process is found and, after [`STRIKES_TO_FAIL`](super::STRIKES_TO_FAIL) such ends, recorded as a failure
    /// instead of ending every resumed run (see [`Journal`]). The journal is removed when the
    /// run completes.
    #[must_use]
    pub fn journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Files that are never items, wherever a directory or manifest reaches them (default:
    /// none): the run's own output, e.g. a store written inside the directory being hashed,
    /// and its journal. Compared by canonical path; those that do not exist when the run
    /// starts are ignored.
    #[must_use]
    pub fn exclude_files(mut self, paths: Vec<std::path::PathBuf>) -> Self {
        self.exclude = paths;
        self
    }

    /// What the sharding and skipping settings select.
    fn selection(&self) -> Selection<'_> {
        Selection {
            shard: self.shard,
            skip: self.skip.as_ref(),
        }
    }

    /// Items the sources will yield after sharding and skipping, when cheap to know (files,
    /// manifests and lists; `None` with directories, archives or a list on standard input).
    /// [`Pipeline::run`] calls it first, so a manifest with a bad line stops a run before it
    /// starts.
    ///
    /// # Errors
    /// A manifest or list that cannot be read, or one with a bad line ([`Error::BadInput`]).
    pub fn count(&self, sources: &[Source]) -> Result<Option<u64>> {
        let selection = self.selection();
        source::count(sources, &mut |id| selection.wants(id))
    }

    /// Runs the pipeline: every item of `sources` (in this shard, not skipped) reaches `sink`
    /// exactly once, in input order, as hashes or as a failure; `progress` is called after each.
    ///
    /// One bad item never stops the run. Time is linear in the input; memory is bounded as
    /// described on [`Pipeline`]. With a [`Pipeline::journal`] holding suspects from an
    /// earlier run, those items reach the sink first, in input order, and the sink is flushed
    /// after them.
    ///
    /// # Errors
    /// [`Error::TooManyThreads`] before anything starts when [`Pipeline::threads`] or
    /// [`Pipeline::read_threads`] asks for more than [`crate::threads`] allows on this machine;
    /// a source that cannot be listed or opened ([`Error::Io`], [`Error::BadInput`]); a sink
    /// error; [`Error::Backend`] when the [`Pipeline::hash_stage`] fails and cannot hash the
    /// images in flight again either (a lost GPU under [`Backend::Gpu`](crate::Backend::Gpu);
    /// under `Auto` they finish on the CPU). The sink is finished (the store sealed) before
    /// the error is returned, so a resumed run keeps the work done.
    pub fn run(
        self,
        sources: &[Source],
        decoder: &dyn Decoder,
        sink: &mut dyn Sink,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Report> {
        let start = Instant::now();
        self.check(sources)?;
        let total = self.count(sources)?;
        let read_threads = self.read_thread_count(sources);
        // Field by field, so that the hash stage and the journal can be moved out below.
        let selection = Selection {
            shard: self.shard,
            skip: self.skip.as_ref(),
        };
        let exclude: Vec<Excluded> = self
            .exclude
            .iter()
            .filter_map(|p| Excluded::new(p))
            .collect();
        let mut report = Report::default();
        let mut settled = SkipSet::new();
        if let Some(journal) = &self.journal {
            let mut pass = SuspectPass {
                journal,
                decoder,
                dihedral: self.dihedral,
                sink: &mut *sink,
                report: &mut report,
                progress: &mut *progress,
                total,
                settled: &mut settled,
            };
            let want = |id: &str| selection.wants(id);
            if let Err(e) = pass.run(sources, self.max_item_bytes, &exclude, &want) {
                // Keep what was done; the journal keeps the suspects for the next run.
                let _ = sink.finish();
                return Err(e);
            }
        }
        let stages = Stages {
            sources,
            decoder,
            journal: self.journal.as_ref(),
            selection,
            settled: &settled,
            exclude: &exclude,
            max_item_bytes: self.max_item_bytes,
            dihedral: self.dihedral,
            threads: self.threads,
            read_threads,
            queue_len: self.queue_len,
            skipped: AtomicU64::new(0),
        };
        let ended = stages.run(self.hash_stage, &mut report, sink, progress, total);
        report.num_skipped = stages.skipped.load(Ordering::Relaxed);
        finish(report, sink, ended, self.journal, start)
    }

    /// The checks made before anything starts: thread counts within [`crate::threads`]'
    /// limits, and no standard input when a journal's suspect pass must walk the sources
    /// before the run does.
    fn check(&self, sources: &[Source]) -> Result<()> {
        check_thread_count(self.threads, MAX_DECODE_THREADS_PER_CORE)?;
        if let Some(n) = self.read_threads {
            check_thread_count(n, MAX_READ_THREADS_PER_CORE)?;
        }
        if self.journal.is_some() {
            if let Some(s) = sources.iter().find(|s| s.reads_stdin()) {
                return Err(Error::BadInput {
                    path: s.path().to_owned(),
                    what: "source".into(),
                    detail: "standard input cannot be resumed".into(),
                });
            }
        }
        Ok(())
    }

    /// The read threads to start: as set, or [`READ_THREADS_PER_DECODE_THREAD`] per decode
    /// thread (at least [`MIN_READ_THREADS`]); one when every source is a tar archive, whose
    /// members the walk reads, so that one thread only passes them on.
    fn read_thread_count(&self, sources: &[Source]) -> usize {
        let files = sources.iter().any(|s| !matches!(s, Source::Tar(_)));
        match self.read_threads {
            Some(n) => n,
            None if files => (self.threads * READ_THREADS_PER_DECODE_THREAD).max(MIN_READ_THREADS),
            None => 1,
        }
    }
}

/// The items a run's settings select: in its shard, not skipped.
#[derive(Clone, Copy)]
pub(super) struct Selection<'a> {
    shard: Option<Shard>,
    skip: Option<&'a SkipSet>,
}

impl Selection<'_> {
    /// Whether the item `id` is selected.
    pub(super) fn wants(&self, id: &str) -> bool {
        self.shard.is_none_or(|s| s.contains(id)) && !self.skip.is_some_and(|s| s.contains(id))
    }
}

/// How the stages ended: the sink's error, which stopped them; the walk's result; the hash
/// stage's result (`Ok` when it was not used).
struct Ended {
    sink_error: Option<Error>,
    walk: Result<()>,
    hash_stage: std::result::Result<(), BackendError>,
}

/// Seals the sink, sets the run's time and gives the run's result: the first error of the
/// sink's, the hash stage's, the walk's and the seal's, or the report. A run that completes
/// removes its journal (one left behind costs the next resume nothing: its items are all
/// stored).
fn finish(
    mut report: Report,
    sink: &mut dyn Sink,
    ended: Result<Ended>,
    journal: Option<Journal>,
    start: Instant,
) -> Result<Report> {
    let finished = sink.finish();
    report.elapsed = start.elapsed();
    let ended = ended?;
    if let Some(e) = ended.sink_error {
        return Err(e);
    }
    ended.hash_stage?;
    ended.walk?;
    finished?;
    if let Some(j) = journal {
        let _ = j.remove();
    }
    Ok(report)
}

/// An item found by the walk, numbered in input order.
type Found = (u64, RawItem);
/// An item decoded (or failed), for the hash stage.
type Decoded = (u64, String, std::result::Result<OwnedImage, ItemError>);
/// An item's outcome, for the delivery in input order.
type Done = (u64, String, Outcome);

/// What the stages of one run share, borrowed for the run's thread scope.
struct Stages<'a> {
    sources: &'a [Source],
    decoder: &'a dyn Decoder,
    journal: Option<&'a Journal>,
    selection: Selection<'a>,
    /// Ids the suspect pass settled, for the walk to leave out.
    settled: &'a SkipSet,
    exclude: &'a [Excluded],
    max_item_bytes: u64,
    dihedral: bool,
    threads: usize,
    read_threads: usize,
    queue_len: usize,
    /// Items the walk passed over as not selected.
    skipped: AtomicU64,
}

impl Stages<'_> {
    /// Runs every stage to its end: walker → read threads → decode workers (→ hash stage) →
    /// delivery, over queues of `queue_len`. Only the next stage owns each receiver, so when
    /// the delivery stops (the sink failed) each stage's next send fails and it stops too.
    fn run(
        &self,
        hash_stage: Option<Box<dyn HashStage>>,
        report: &mut Report,
        sink: &mut dyn Sink,
        progress: &mut dyn FnMut(&Progress),
        total: Option<u64>,
    ) -> Result<Ended> {
        let (found_tx, found_rx) = sync_channel::<Found>(self.queue_len);
        let (raw_tx, raw_rx) = sync_channel::<Found>(self.queue_len);
        let (done_tx, done_rx) = sync_channel::<Done>(self.queue_len);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .thread_name(|i| format!("imprint-decode-{i}"))
            .build()?;
        std::thread::scope(|s| {
            let walker = self.spawn_walker(s, found_tx)?;
            self.spawn_readers(s, found_rx, raw_tx)?;
            let raw_rx = Arc::new(Mutex::new(raw_rx));
            let hashing = self.spawn_hashing(s, &pool, raw_rx, done_tx, hash_stage);
            let sink_error = deliver_in_order(&done_rx, report, sink, &mut |report| {
                progress(&report.progress(self.skipped.load(Ordering::Relaxed), total));
            });
            // Dropping the receiver makes the workers, the read threads, then the walker stop on
            // their next send.
            drop(done_rx);
            let walk = walker
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            let hash_stage = match hashing {
                Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                None => Ok(()),
            };
            Ok(Ended {
                sink_error,
                walk,
                hash_stage,
            })
        })
    }

    /// The walk: finds the selected items of the sources in input order, numbers them and
    /// queues them for the read threads.
    fn spawn_walker<'scope>(
        &'scope self,
        s: &'scope Scope<'scope, '_>,
        found_tx: SyncSender<Found>,
    ) -> Result<ScopedJoinHandle<'scope, Result<()>>> {
        std::thread::Builder::new()
            .name("imprint-walk".into())
            .spawn_scoped(s, move || {
                let mut seq = 0u64;
                source::walk(
                    self.sources,
                    self.max_item_bytes,
                    self.exclude,
                    &|head| self.decoder.accepts(head),
                    &mut |id| {
                        if !self.settled.is_empty() && self.settled.contains(id) {
                            return false;
                        }
                        let w = self.selection.wants(id);
                        if !w {
                            self.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                        w
                    },
                    &mut |item| {
                        let ok = found_tx.send((seq, item)).is_ok();
                        seq += 1;
                        ok
                    },
                )
            })
            .map_err(|source| Error::Io {
                path: "<walker thread>".into(),
                source,
            })
    }

    /// The reads: `read_threads` threads read the files the walk found, side by side, so that
    /// their waits on storage overlap.
    fn spawn_readers<'scope>(
        &'scope self,
        s: &'scope Scope<'scope, '_>,
        found_rx: Receiver<Found>,
        raw_tx: SyncSender<Found>,
    ) -> Result<()> {
        let found_rx = Arc::new(Mutex::new(found_rx));
        for i in 0..self.read_threads {
            let found_rx = Arc::clone(&found_rx);
            let raw_tx = raw_tx.clone();
            std::thread::Builder::new()
                .name(format!("imprint-read-{i}"))
                .spawn_scoped(s, move || {
                    let screen = |head: &[u8]| self.decoder.accepts(head);
                    while let Some((seq, item)) = next_raw(&found_rx) {
                        if raw_tx.send((seq, item.read_now(&screen))).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|source| Error::Io {
                    path: "<read thread>".into(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Decoding and hashing: without a hash stage, `threads` workers of `pool` each decode and
    /// hash ([`fused_worker`]); with one, they decode ([`decode_worker`]) for a thread that
    /// drives the stage ([`hash_stage`]), whose handle is returned.
    fn spawn_hashing<'scope>(
        &'scope self,
        s: &'scope Scope<'scope, '_>,
        pool: &'scope rayon::ThreadPool,
        raw_rx: Arc<Mutex<Receiver<Found>>>,
        done_tx: SyncSender<Done>,
        stage: Option<Box<dyn HashStage>>,
    ) -> Option<ScopedJoinHandle<'scope, std::result::Result<(), BackendError>>> {
        let (decoder, journal, dihedral) = (self.decoder, self.journal, self.dihedral);
        let Some(mut stage) = stage else {
            s.spawn(move || {
                pool.scope(|ps| {
                    for _ in 0..self.threads {
                        let done_tx = done_tx.clone();
                        let raw_rx = Arc::clone(&raw_rx);
                        ps.spawn(move |_| {
                            fused_worker(&raw_rx, &done_tx, decoder, dihedral, journal);
                        });
                    }
                });
            });
            return None;
        };
        let (dec_tx, dec_rx) = sync_channel::<Decoded>(self.threads);
        s.spawn(move || {
            pool.scope(|ps| {
                for _ in 0..self.threads {
                    let dec_tx = dec_tx.clone();
                    let raw_rx = Arc::clone(&raw_rx);
                    ps.spawn(move |_| decode_worker(&raw_rx, &dec_tx, decoder, journal));
                }
            });
        });
        Some(s.spawn(move || hash_stage(&dec_rx, &done_tx, stage.as_mut(), decoder, dihedral)))
    }
}

/// The delivery: puts outcomes back in input order and hands each to the sink, calling
/// `progress` after each. Returns the sink's error, which stops the delivery.
fn deliver_in_order(
    done_rx: &Receiver<Done>,
    report: &mut Report,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(&Report),
) -> Option<Error> {
    let mut pending: BTreeMap<u64, (String, Outcome)> = BTreeMap::new();
    let mut next = 0u64;
    for (seq, id, outcome) in done_rx.iter() {
        pending.insert(seq, (id, outcome));
        while let Some((id, outcome)) = pending.remove(&next) {
            next += 1;
            if let Err(e) = report.deliver(sink, &id, &outcome) {
                return Some(e);
            }
            progress(report);
        }
    }
    None
}

/// The next item of a queue shared by several threads.
fn next_raw(rx: &Mutex<Receiver<Found>>) -> Option<Found> {
    // A poisoned lock means another worker panicked; the scope re-raises that panic.
    rx.lock().ok()?.recv().ok()
}

/// Decodes one item between the journal's marks.
fn decode_noted(
    decoder: &dyn Decoder,
    journal: Option<&Journal>,
    seq: u64,
    raw: RawItem,
) -> (String, std::result::Result<OwnedImage, ItemError>) {
    // No decoder runs on an item whose read failed (or that is not an image): nothing to note.
    let Some(j) = journal.filter(|_| !raw.read_failed()) else {
        return decode_item(decoder, raw);
    };
    j.started(seq, &raw.id);
    let decoded = decode_item(decoder, raw);
    j.ended(seq);
    decoded
}

/// A decode worker that also hashes, on the CPU, each image it decodes.
fn fused_worker(
    rx: &Mutex<Receiver<Found>>,
    tx: &SyncSender<Done>,
    decoder: &dyn Decoder,
    dihedral: bool,
    journal: Option<&Journal>,
) {
    let mut hasher = CpuHasher::new();
    while let Some((seq, raw)) = next_raw(rx) {
        let (id, img) = decode_noted(decoder, journal, seq, raw);
        let outcome = hash_decoded(decoder, &mut hasher, img, dihedral);
        if tx.send((seq, id, outcome)).is_err() {
            return;
        }
    }
}

/// A decode worker feeding the hash stage.
fn decode_worker(
    rx: &Mutex<Receiver<Found>>,
    tx: &SyncSender<Decoded>,
    decoder: &dyn Decoder,
    journal: Option<&Journal>,
) {
    while let Some((seq, raw)) = next_raw(rx) {
        let (id, img) = decode_noted(decoder, journal, seq, raw);
        if tx.send((seq, id, img)).is_err() {
            return;
        }
    }
}

/// Why the thread driving the hash stage stops early.
enum Stop {
    /// The delivery is gone (the sink failed).
    Gone,
    /// The stage failed, and so did hashing the images in flight again.
    Failed(BackendError),
}

/// The thread driving a [`HashStage`]: gathers decoded images into batches, submits them and
/// sends each result under its item's number, so that no item is lost. Returns the stage's
/// error when the run must stop.
fn hash_stage(
    rx: &Receiver<Decoded>,
    tx: &SyncSender<Done>,
    stage: &mut dyn HashStage,
    decoder: &dyn Decoder,
    dihedral: bool,
) -> std::result::Result<(), BackendError> {
    let max = stage.max_batch().max(1);
    let mut driver = StageDriver {
        max,
        max_bytes: stage.max_batch_bytes(),
        stage,
        tx,
        decoder,
        dihedral,
        pending: HashMap::new(),
        next_ticket: 0,
        ready: Vec::with_capacity(max),
    };
    match driver.drive(rx) {
        Ok(()) | Err(Stop::Gone) => Ok(()),
        Err(Stop::Failed(e)) => Err(e),
    }
}

/// An image waiting for its hashes: its item's number, its id, its pixels.
type InFlight = (u64, String, OwnedImage);

/// The state of the thread driving a [`HashStage`].
struct StageDriver<'a> {
    stage: &'a mut dyn HashStage,
    tx: &'a SyncSender<Done>,
    decoder: &'a dyn Decoder,
    dihedral: bool,
    /// The stage's largest batch, in images and in pixel bytes.
    max: usize,
    max_bytes: u64,
    /// Items handed to the stage and not yet back, by ticket (numbered in submission order).
    pending: HashMap<u64, InFlight>,
    next_ticket: u64,
    /// Results the stage handed back, to send.
    ready: Vec<(u64, crate::hash::Hashed)>,
}

impl StageDriver<'_> {
    /// Batches until the decoders are done, then collects what is still to come.
    fn drive(&mut self, rx: &Receiver<Decoded>) -> std::result::Result<(), Stop> {
        let mut batch = Vec::with_capacity(self.max);
        loop {
            let first = self.first_item(rx)?;
            let closed = self.gather(rx, first, &mut batch)?;
            if !batch.is_empty() {
                self.submit(&mut batch)?;
            }
            if closed {
                return self.close();
            }
        }
    }

    /// A batch's first item; `None` when the decoders are done. When none is waiting, every
    /// result in flight goes out before the wait, so that slow input never holds finished
    /// hashes back.
    fn first_item(&mut self, rx: &Receiver<Decoded>) -> std::result::Result<Option<Decoded>, Stop> {
        match rx.try_recv() {
            Err(TryRecvError::Empty) => {
                if !self.pending.is_empty() {
                    let done = self.stage.flush(self.dihedral, &mut self.ready);
                    self.deliver(done)?;
                }
                Ok(rx.recv().ok())
            }
            other => Ok(other.ok()),
        }
    }

    /// Fills `batch` with `first`, then what is ready, up to a full batch; items that could
    /// not be decoded are sent on as they come. Returns whether the decoders are done.
    fn gather(
        &mut self,
        rx: &Receiver<Decoded>,
        first: Option<Decoded>,
        batch: &mut Vec<InFlight>,
    ) -> std::result::Result<bool, Stop> {
        let mut first = Some(first);
        let mut bytes = 0u64;
        while batch.len() < self.max && bytes < self.max_bytes {
            let (seq, id, img) = match first.take() {
                Some(Some(m)) => m,
                Some(None) => return Ok(true),
                None => match rx.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) => return Ok(false),
                    Err(TryRecvError::Disconnected) => return Ok(true),
                },
            };
            match img.and_then(|i| {
                i.as_image_ref()?;
                Ok(i)
            }) {
                Ok(i) => {
                    bytes += i.pixels.len() as u64;
                    batch.push((seq, id, i));
                }
                Err(e) => send_done(self.tx, (seq, id, Err(e)))?,
            }
        }
        Ok(false)
    }

    /// Submits `batch` under the next tickets and keeps its images until their results come
    /// back.
    fn submit(&mut self, batch: &mut Vec<InFlight>) -> std::result::Result<(), Stop> {
        let refs: Vec<ImageRef<'_>> = batch
            .iter()
            .filter_map(|(_, _, i)| i.as_image_ref().ok())
            .collect();
        let done = self
            .stage
            .submit(self.next_ticket, &refs, self.dihedral, &mut self.ready);
        drop(refs);
        for item in batch.drain(..) {
            self.pending.insert(self.next_ticket, item);
            self.next_ticket += 1;
        }
        self.deliver(done)
    }

    /// Once the decoders are done: collects every result still to come. An item whose result
    /// the stage never returned fails ([`ItemError::MissingResult`]), so no item is lost.
    fn close(&mut self) -> std::result::Result<(), Stop> {
        let done = self.stage.flush(self.dihedral, &mut self.ready);
        self.deliver(done)?;
        let mut missing: Vec<_> = self.pending.drain().collect();
        missing.sort_unstable_by_key(|(ticket, _)| *ticket);
        for (_, (seq, id, img)) in missing {
            self.decoder.recycle(img.pixels);
            send_done(self.tx, (seq, id, Err(ItemError::MissingResult)))?;
        }
        Ok(())
    }

    /// Sends the ready results of pending items, then, after a failed call (`done`), redoes
    /// the items whose results it lost ([`StageDriver::redo_lost`]).
    fn deliver(
        &mut self,
        done: std::result::Result<(), BackendError>,
    ) -> std::result::Result<(), Stop> {
        for (ticket, hashes) in self.ready.drain(..) {
            // A ticket not pending (unknown, or returned twice) has nowhere to go.
            if let Some((seq, id, img)) = self.pending.remove(&ticket) {
                self.decoder.recycle(img.pixels);
                send_done(self.tx, (seq, id, Ok(hashes)))?;
            }
        }
        match done {
            Ok(()) => Ok(()),
            Err(e) => self.redo_lost(&e),
        }
    }

    /// After the stage failed with `e`, the items still pending lost their results: they go to
    /// the stage's [`HashStage::hash_batch`] once more, which decides whether to go on (a
    /// [`BackendHasher`] under `Backend::Auto` has moved to the CPU) or to fail, which stops
    /// the run; their outcomes are sent in input order.
    fn redo_lost(&mut self, e: &BackendError) -> std::result::Result<(), Stop> {
        let mut lost: Vec<InFlight> = self.pending.drain().map(|(_, item)| item).collect();
        lost.sort_unstable_by_key(|(seq, _, _)| *seq);
        let refs: Vec<ImageRef<'_>> = lost
            .iter()
            .filter_map(|(_, _, i)| i.as_image_ref().ok())
            .collect();
        let mut out = Vec::with_capacity(refs.len());
        self.stage
            .hash_batch(&refs, self.dihedral, &mut out)
            .map_err(Stop::Failed)?;
        drop(refs);
        log::warn!(
            "{e}; hashing the {} images in flight on the CPU",
            lost.len()
        );
        let mut results = out.into_iter();
        for (seq, id, img) in lost {
            self.decoder.recycle(img.pixels);
            let outcome = results.next().ok_or(ItemError::MissingResult);
            send_done(self.tx, (seq, id, outcome))?;
        }
        Ok(())
    }
}

/// Sends an outcome to the delivery; [`Stop::Gone`] when the delivery has stopped.
fn send_done(tx: &SyncSender<Done>, done: Done) -> std::result::Result<(), Stop> {
    tx.send(done).map_err(|_| Stop::Gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Hashed, PixelLayout};
    use crate::pipeline::{DecodeFailure, VecSink};

    /// The error a failing test stage returns (the pipeline does not look into it).
    fn lost() -> BackendError {
        #[cfg(feature = "gpu")]
        return crate::gpu::GpuError::DeviceLost {
            reason: "test".into(),
        }
        .into();
        #[cfg(not(feature = "gpu"))]
        BackendError::GpuNotCompiled
    }

    /// "Decodes" 3 bytes `[w, h, seed]` into a gray gradient; anything else fails.
    fn synthetic(bytes: &[u8]) -> std::result::Result<OwnedImage, DecodeFailure> {
        let [w, h, seed] = *bytes else {
            return Err(DecodeFailure("not a synthetic image".into()));
        };
        let (w, h) = (u32::from(w), u32::from(h));
        let pixels = (0..w * h)
            .map(|i| ((i % w) * 3 + (i / w) * u32::from(seed)) as u8)
            .collect();
        Ok(OwnedImage {
            width: w,
            height: h,
            layout: PixelLayout::Gray8,
            pixels,
        })
    }

    struct Batched(CpuHasher);
    impl HashStage for Batched {
        fn max_batch(&self) -> usize {
            8
        }
        fn hash_batch(
            &mut self,
            images: &[ImageRef<'_>],
            dihedral: bool,
            out: &mut Vec<Hashed>,
        ) -> std::result::Result<(), BackendError> {
            out.clear();
            let mut one = Vec::new();
            for i in images {
                self.0.hash_batch(&[*i], dihedral, &mut one)?;
                out.push(one[0]);
            }
            Ok(())
        }
    }

    fn corpus(dir: &std::path::Path, n: u8) -> Vec<Source> {
        (0..n)
            .map(|k| {
                let p = dir.join(format!("{k:03}"));
                let bytes = if k % 9 == 4 {
                    vec![1, 2]
                } else {
                    vec![40 + k % 50, 70, k]
                };
                std::fs::write(&p, bytes).expect("write");
                Source::File(p)
            })
            .collect()
    }

    #[test]
    fn fused_and_batched_paths_agree_in_input_order() {
        let d = tempfile::tempdir().expect("tempdir");
        let sources = corpus(d.path(), 60);
        let mut a = VecSink::default();
        let ra = Pipeline::new()
            .threads(3)
            .queue_len(2)
            .run(&sources, &synthetic, &mut a, &mut |_| {})
            .expect("run");
        let mut b = VecSink::default();
        let rb = Pipeline::new()
            .threads(2)
            .queue_len(1)
            .hash_stage(Box::new(Batched(CpuHasher::new())))
            .run(&sources, &synthetic, &mut b, &mut |_| {})
            .expect("run");
        assert_eq!(a.items, b.items);
        assert_eq!((ra.num_ok, ra.num_failed), (rb.num_ok, rb.num_failed));
        assert_eq!(ra.num_failed, 7);
        let ids: Vec<_> = a.items.iter().map(|(id, _)| id.clone()).collect();
        let want: Vec<_> = sources
            .iter()
            .map(|s| s.path().to_string_lossy().into_owned())
            .collect();
        assert_eq!(ids, want);
    }

    /// A streaming hasher that hands each call's results back one call late, in reverse
    /// order, and from its `fail_at`-th call on fails, losing what it holds (the images it
    /// lost, handed back to `hash_batch`, it hashes on the CPU).
    struct Late {
        cpu: CpuHasher,
        held: Vec<(u64, Hashed)>,
        calls: usize,
        fail_at: usize,
    }

    impl HashStage for Late {
        fn max_batch(&self) -> usize {
            5
        }
        fn hash_batch(
            &mut self,
            images: &[ImageRef<'_>],
            dihedral: bool,
            out: &mut Vec<Hashed>,
        ) -> std::result::Result<(), BackendError> {
            self.cpu.hash_batch(images, dihedral, out)
        }
        fn submit(
            &mut self,
            first_ticket: u64,
            images: &[ImageRef<'_>],
            dihedral: bool,
            ready: &mut Vec<(u64, Hashed)>,
        ) -> std::result::Result<(), BackendError> {
            self.calls += 1;
            if self.calls >= self.fail_at {
                self.held.clear();
                return Err(lost());
            }
            ready.extend(self.held.drain(..).rev());
            let mut out = Vec::new();
            self.cpu.hash_batch(images, dihedral, &mut out)?;
            self.held.extend((first_ticket..).zip(out));
            Ok(())
        }
        fn flush(
            &mut self,
            _: bool,
            ready: &mut Vec<(u64, Hashed)>,
        ) -> std::result::Result<(), BackendError> {
            ready.extend(self.held.drain(..).rev());
            Ok(())
        }
    }

    #[test]
    fn journal_suspects_go_first_through_the_batch_path_and_the_journal_is_removed() {
        let d = tempfile::tempdir().expect("tempdir");
        let sources = corpus(d.path(), 30);
        let ids: Vec<String> = sources
            .iter()
            .map(|s| s.path().to_string_lossy().into_owned())
            .collect();
        let mut want = VecSink::default();
        Pipeline::new()
            .threads(2)
            .run(&sources, &synthetic, &mut want, &mut |_| {})
            .expect("run");
        // A journal as a run that ended while decoding items 17 and 12 leaves it.
        let path = d.path().join("run.journal");
        let j = Journal::create(&path).expect("create");
        j.started(12, &ids[12]);
        j.started(17, &ids[17]);
        j.started(13, &ids[13]);
        j.ended(13);
        drop(j);
        let mut got = VecSink::default();
        let late = Late {
            cpu: CpuHasher::new(),
            held: Vec::new(),
            calls: 0,
            fail_at: usize::MAX,
        };
        let r = Pipeline::new()
            .threads(2)
            .hash_stage(Box::new(late))
            .journal(Journal::open(&path).expect("open"))
            .run(&sources, &synthetic, &mut got, &mut |_| {})
            .expect("run");
        assert_eq!((r.num_ok + r.num_failed) as usize, want.items.len());
        // The suspects first, in input order, then every other item in order.
        let mut order: Vec<usize> = vec![12, 17];
        order.extend((0..30).filter(|k| ![12, 17].contains(k)));
        let expected: Vec<_> = order.iter().map(|&k| want.items[k].clone()).collect();
        assert_eq!(got.items, expected);
        assert!(
            !path.exists(),
            "the journal is removed when the run completes"
        );
    }

    #[test]
    fn streamed_results_arriving_late_or_lost_reach_the_sink_in_order() {
        let d = tempfile::tempdir().expect("tempdir");
        let sources = corpus(d.path(), 60);
        let mut want = VecSink::default();
        let fused = Pipeline::new()
            .threads(2)
            .run(&sources, &synthetic, &mut want, &mut |_| {})
            .expect("run");
        // Never failing, failing at once, and failing midway with results held.
        for fail_at in [usize::MAX, 1, 4] {
            let mut got = VecSink::default();
            let late = Late {
                cpu: CpuHasher::new(),
                held: Vec::new(),
                calls: 0,
                fail_at,
            };
            let r = Pipeline::new()
                .threads(2)
                .queue_len(4)
                .hash_stage(Box::new(late))
                .run(&sources, &synthetic, &mut got, &mut |_| {})
                .expect("run");
            assert_eq!(got.items, want.items, "fail_at {fail_at}");
            assert_eq!((r.num_ok, r.num_failed), (fused.num_ok, fused.num_failed));
        }
    }

    /// Records the pixel bytes of each image of each call. Each call takes a while, so that the
    /// decoded queue (one image per decode thread) is full when the next batch is made.
    struct Recording(Arc<Mutex<Vec<Vec<usize>>>>);

    impl HashStage for Recording {
        fn max_batch(&self) -> usize {
            8
        }
        fn max_batch_bytes(&self) -> u64 {
            10_000
        }
        fn hash_batch(
            &mut self,
            images: &[ImageRef<'_>],
            dihedral: bool,
            out: &mut Vec<Hashed>,
        ) -> std::result::Result<(), BackendError> {
            let sizes = images.iter().map(|i| i.pixels().len()).collect();
            std::thread::sleep(std::time::Duration::from_millis(30));
            self.0.lock().expect("not poisoned").push(sizes);
            Batched(CpuHasher::new()).hash_batch(images, dihedral, out)
        }
    }

    #[test]
    fn batches_end_once_their_pixels_reach_the_hasher_limit() {
        let d = tempfile::tempdir().expect("tempdir");
        // Images of 2,800 to 6,230 bytes: at most four a batch under 10,000.
        let sources = corpus(d.path(), 60);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut sink = VecSink::default();
        let r = Pipeline::new()
            .threads(4)
            .queue_len(16)
            .hash_stage(Box::new(Recording(Arc::clone(&calls))))
            .run(&sources, &synthetic, &mut sink, &mut |_| {})
            .expect("run");
        let calls = calls.lock().expect("not poisoned");
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>() as u64, r.num_ok);
        for sizes in calls.iter() {
            let before_last: usize = sizes[..sizes.len() - 1].iter().sum();
            assert!(
                before_last < 10_000,
                "a batch went on past the limit: {sizes:?}"
            );
        }
        assert!(
            calls.iter().any(|s| s.len() > 2),
            "no batch of several images"
        );
    }

    #[test]
    fn shards_and_skips_are_counted() {
        let d = tempfile::tempdir().expect("tempdir");
        let sources = corpus(d.path(), 30);
        let mut total = 0;
        for i in 0..3 {
            let p = Pipeline::new().shard(Some(Shard::new(i, 3).expect("valid")));
            let expected = p.count(&sources).expect("count");
            let r = p
                .run(&sources, &synthetic, &mut VecSink::default(), &mut |_| {})
                .expect("run");
            assert_eq!(Some(r.num_ok + r.num_failed), expected);
            assert_eq!(r.num_ok + r.num_failed + r.num_skipped, 30);
            total += r.num_ok + r.num_failed;
        }
        assert_eq!(total, 30);
    }

    /// Counts what it accepts and whether it was finished; fails its `fail_at`-th item.
    #[derive(Default)]
    struct Counting {
        accepted: usize,
        finished: bool,
        fail_at: Option<usize>,
    }
    impl Sink for Counting {
        fn accept(&mut self, _: &str, _: &Outcome) -> Result<()> {
            self.accepted += 1;
            if Some(self.accepted) == self.fail_at {
                return Err(Error::BadInput {
                    path: "sink".into(),
                    what: "test".into(),
                    detail: "full".into(),
                });
            }
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.finished = true;
            Ok(())
        }
    }

    #[test]
    fn a_sink_error_stops_the_run_after_finishing_the_sink() {
        let d = tempfile::tempdir().expect("tempdir");
        let sources = corpus(d.path(), 100);
        let mut sink = Counting {
            fail_at: Some(5),
            ..Counting::default()
        };
        let r = Pipeline::new()
            .queue_len(1)
            .run(&sources, &synthetic, &mut sink, &mut |_| {});
        assert!(matches!(r, Err(Error::BadInput { .. })));
        assert_eq!(sink.accepted, 5);
        assert!(sink.finished);
    }

    /// A stage that cannot hash at all, as a lost GPU under `Backend::Gpu`.
    struct Broken;
    impl HashStage for Broken {
        fn max_batch(&self) -> usize {
            4
        }
        fn hash_batch(
            &mut self,
            _: &[ImageRef<'_>],
            _: bool,
            out: &mut Vec<Hashed>,
        ) -> std::result::Result<(), BackendError> {
            out.clear();
            Err(lost())
        }
    }

    #[test]
    fn a_stage_that_cannot_hash_its_lost_images_again_stops_the_run_after_finishing_the_sink() {
        let d = tempfile::tempdir().expect("tempdir");
        let sources = corpus(d.path(), 30);
        let path = d.path().join("run.journal");
        let mut sink = Counting::default();
        let r = Pipeline::new()
            .threads(2)
            .hash_stage(Box::new(Broken))
            .journal(Journal::create(&path).expect("create"))
            .run(&sources, &synthetic, &mut sink, &mut |_| {});
        assert!(matches!(r, Err(Error::Backend(_))), "{r:?}");
        assert!(sink.accepted < 30, "{} items stored", sink.accepted);
        assert!(sink.finished, "the sink is finished");
        assert!(path.exists(), "the journal is kept for the resume");
    }
}
