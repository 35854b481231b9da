//! [`Pipeline`]: read → decode (+ hash) → (batch hash) → sink, over bounded queues.

use super::journal::{Journal, STRIKES_TO_FAIL};
use super::partition::{Shard, SkipSet};
use super::sink::{Progress, Report, Sink};
use super::source::{self, Excluded, RawItem, Source, DEFAULT_MAX_ITEM_BYTES};
use super::stage::{BatchHasher, CpuHasher, Decoder, HasherError, ItemError, OwnedImage};
use crate::error::{Error, Result};
use crate::hash::{Hashed, ImageRef};
use crate::threads::{check_thread_count, MAX_DECODE_THREADS_PER_CORE, MAX_READ_THREADS_PER_CORE};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
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

type Outcome = std::result::Result<Hashed, ItemError>;

/// A configured bulk run; see each setter for its default.
///
/// Memory is bounded by the queues, whatever the corpus size: at most `queue_len` raw items
/// and `read_threads` items being read (each at most `max_item_bytes`), `threads` items being
/// decoded, with a batch hasher up to `threads + 2 × max_batch` decoded images and about
/// `2 × max_batch_bytes` of their pixels (a streaming hasher's batches in flight keep theirs
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
    batch_hasher: Option<Box<dyn BatchHasher>>,
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
            .field("batch_hasher", &self.batch_hasher.is_some())
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
            batch_hasher: None,
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

    /// Hash in batches on a separate stage with this hasher (a GPU backend) instead of on the
    /// CPU inside the decode workers (default).
    #[must_use]
    pub fn batch_hasher(mut self, hasher: Box<dyn BatchHasher>) -> Self {
        self.batch_hasher = Some(hasher);
        self
    }

    /// Keep a crash journal (default: none): the items that an earlier run with this journal
    /// was decoding when it ended are decoded first, one at a time, so that a file that ends
    /// the process is found and, after [`STRIKES_TO_FAIL`] such ends, recorded as a failure
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

    fn wants(&self, id: &str) -> bool {
        wants(self.shard, self.skip.as_ref(), id)
    }

    /// Items the sources will yield after sharding and skipping, when cheap to know (files,
    /// manifests and lists; `None` with directories, archives or a list on standard input).
    /// [`Pipeline::run`] calls it first, so a manifest with a bad line stops a run before it
    /// starts.
    ///
    /// # Errors
    /// A manifest or list that cannot be read, or one with a bad line ([`Error::BadInput`]).
    pub fn count(&self, sources: &[Source]) -> Result<Option<u64>> {
        source::count(sources, &mut |id| self.wants(id))
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
    /// a source that cannot be listed or opened ([`Error::Io`], [`Error::BadInput`]) or a sink
    /// error. The sink is finished (the store sealed) before the error is returned, so a
    /// resumed run keeps the work done.
    pub fn run(
        mut self,
        sources: &[Source],
        decoder: &dyn Decoder,
        sink: &mut dyn Sink,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Report> {
        let start = Instant::now();
        check_thread_count(self.threads, MAX_DECODE_THREADS_PER_CORE)?;
        if let Some(n) = self.read_threads {
            check_thread_count(n, MAX_READ_THREADS_PER_CORE)?;
        }
        if self.journal.is_some() {
            if let Some(s) = sources.iter().find(|s| s.reads_stdin()) {
                // The journal's careful pass walks the sources before the run does.
                return Err(Error::BadInput {
                    path: s.path().to_owned(),
                    what: "source".into(),
                    detail: "standard input cannot be resumed".into(),
                });
            }
        }
        let total = self.count(sources)?;
        let skipped = AtomicU64::new(0);
        let threads = self.threads;
        let queue_len = self.queue_len;
        let dihedral = self.dihedral;
        let max_item_bytes = self.max_item_bytes;
        let batch_hasher = self.batch_hasher.take();
        let shard = self.shard;
        let skip = self.skip.take();
        let skip = skip.as_ref();
        let journal = self.journal.take();
        let exclude: Vec<Excluded> = self
            .exclude
            .iter()
            .filter_map(|p| Excluded::new(p))
            .collect();
        let exclude = &exclude[..];
        let mut report = Report::default();
        let mut careful_done = SkipSet::new();
        if let Some(j) = &journal {
            let mut careful = Careful {
                journal: j,
                decoder,
                dihedral,
                sink: &mut *sink,
                report: &mut report,
                progress: &mut *progress,
                total,
                done: &mut careful_done,
            };
            let want = |id: &str| wants(shard, skip, id);
            if let Err(e) = careful.run(sources, max_item_bytes, exclude, &want) {
                // Keep what was done; the journal keeps the suspects for the next run.
                let _ = sink.finish();
                return Err(e);
            }
        }
        let careful_done = &careful_done;
        let journal_ref = journal.as_ref();
        // Tar members are read by the walk, so archives alone need one thread to pass them on.
        let files = sources.iter().any(|s| !matches!(s, Source::Tar(_)));
        let read_threads = match self.read_threads {
            Some(n) => n,
            None if files => (threads * READ_THREADS_PER_DECODE_THREAD).max(MIN_READ_THREADS),
            None => 1,
        };
        // Walker → read threads → decode workers: items found, items read, outcomes.
        let (found_tx, found_rx) = sync_channel::<(u64, RawItem)>(queue_len);
        let (raw_tx, raw_rx) = sync_channel::<(u64, RawItem)>(queue_len);
        let (res_tx, res_rx) = sync_channel::<(u64, String, Outcome)>(queue_len);
        // Only the next stage owns each receiver, so when the workers all stop (the sink
        // failed) the read threads' next send fails, then the walker's, and they stop too.
        let found_rx = Arc::new(Mutex::new(found_rx));
        let raw_rx = Arc::new(Mutex::new(raw_rx));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("imprint-decode-{i}"))
            .build()?;

        let screen: source::Screen<'_> = &|head| decoder.accepts(head);
        let mut sink_error = None;
        let walk_result = std::thread::scope(|s| {
            let skipped = &skipped;
            let walker = std::thread::Builder::new()
                .name("imprint-walk".into())
                .spawn_scoped(s, move || {
                    let mut seq = 0u64;
                    source::walk(
                        sources,
                        max_item_bytes,
                        exclude,
                        screen,
                        &mut |id| {
                            if !careful_done.is_empty() && careful_done.contains(id) {
                                return false;
                            }
                            let w = wants(shard, skip, id);
                            if !w {
                                skipped.fetch_add(1, Ordering::Relaxed);
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
                })?;
            for i in 0..read_threads {
                let found_rx = Arc::clone(&found_rx);
                let raw_tx = raw_tx.clone();
                std::thread::Builder::new()
                    .name(format!("imprint-read-{i}"))
                    .spawn_scoped(s, move || {
                        while let Some((seq, item)) = next_raw(&found_rx) {
                            if raw_tx.send((seq, item.read_now(screen))).is_err() {
                                return;
                            }
                        }
                    })
                    .map_err(|source| Error::Io {
                        path: "<read thread>".into(),
                        source,
                    })?;
            }
            drop((found_rx, raw_tx));

            match batch_hasher {
                None => {
                    let res_tx = res_tx;
                    let pool = &pool;
                    s.spawn(move || {
                        pool.scope(|ps| {
                            for _ in 0..threads {
                                let res_tx = res_tx.clone();
                                let raw_rx = Arc::clone(&raw_rx);
                                ps.spawn(move |_| {
                                    fused_worker(&raw_rx, &res_tx, decoder, dihedral, journal_ref)
                                });
                            }
                        });
                    });
                }
                Some(mut hasher) => {
                    let (dec_tx, dec_rx) = sync_channel::<Decoded>(threads);
                    let pool = &pool;
                    s.spawn(move || {
                        pool.scope(|ps| {
                            for _ in 0..threads {
                                let dec_tx = dec_tx.clone();
                                let raw_rx = Arc::clone(&raw_rx);
                                ps.spawn(move |_| {
                                    decode_worker(&raw_rx, &dec_tx, decoder, journal_ref)
                                });
                            }
                        });
                    });
                    s.spawn(move || {
                        batch_stage(&dec_rx, &res_tx, hasher.as_mut(), decoder, dihedral);
                    });
                }
            }

            // Writer: restore input order, feed the sink.
            let mut pending: BTreeMap<u64, (String, Outcome)> = BTreeMap::new();
            let mut next = 0u64;
            'recv: for (seq, id, outcome) in res_rx.iter() {
                pending.insert(seq, (id, outcome));
                while let Some((id, outcome)) = pending.remove(&next) {
                    next += 1;
                    if let Err(e) = report.deliver(sink, &id, &outcome) {
                        sink_error = Some(e);
                        break 'recv;
                    }
                    progress(&report.progress(skipped.load(Ordering::Relaxed), total));
                }
            }
            // Dropping the receiver makes the workers, the read threads, then the walker stop on
            // their next send.
            drop(res_rx);
            walker
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        report.num_skipped = skipped.load(Ordering::Relaxed);
        let finished = sink.finish();
        report.elapsed = start.elapsed();
        if let Some(e) = sink_error {
            return Err(e);
        }
        walk_result?;
        finished?;
        if let Some(j) = journal {
            // A journal left behind costs the next resume nothing: its items are all stored.
            let _ = j.remove();
        }
        Ok(report)
    }
}

/// The pass over a journal's suspects, before the parallel pass.
struct Careful<'a> {
    journal: &'a Journal,
    decoder: &'a dyn Decoder,
    dihedral: bool,
    sink: &'a mut dyn Sink,
    report: &'a mut Report,
    progress: &'a mut dyn FnMut(&Progress),
    total: Option<u64>,
    /// Ids settled here, for the parallel pass to leave out.
    done: &'a mut SkipSet,
}

impl Careful<'_> {
    /// Decodes and hashes each suspect that `want`s, alone, in input order, between journal
    /// marks; then flushes the sink and clears the journal.
    fn run(
        &mut self,
        sources: &[Source],
        max_item_bytes: u64,
        exclude: &[Excluded],
        want: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        let journal = self.journal;
        let targets = journal.suspects().filter(|id| want(id)).count();
        let mut found = 0;
        let mut failure = None;
        let mut hasher = CpuHasher::new();
        let mut out = Vec::with_capacity(1);
        if targets > 0 {
            let decoder = self.decoder;
            source::walk(
                sources,
                max_item_bytes,
                exclude,
                &|head| decoder.accepts(head),
                &mut |id| journal.is_suspect(id) && want(id),
                &mut |raw| {
                    match self.settle(raw, &mut hasher, &mut out) {
                        Ok(id) => self.done.insert(&id),
                        Err(e) => {
                            failure = Some(e);
                            return false;
                        }
                    }
                    found += 1;
                    found < targets
                },
            )?;
        }
        if let Some(e) = failure {
            return Err(e);
        }
        // The suspects' outcomes must be durable before the journal forgets them.
        self.sink.flush()?;
        journal.clear()
    }

    /// Hashes one suspect alone (or fails it, struck out), hands it to the sink, returns its
    /// id.
    fn settle(
        &mut self,
        raw: RawItem,
        hasher: &mut CpuHasher,
        out: &mut Vec<Hashed>,
    ) -> Result<String> {
        let times = self.journal.strikes(&raw.id);
        let (id, outcome) = if times >= STRIKES_TO_FAIL {
            (raw.id, Err(ItemError::EndedProcess { times }))
        } else {
            self.journal.alone(&raw.id)?;
            let (id, img) = decode_one(self.decoder, raw);
            let outcome = hash_one(self.decoder, hasher, img, self.dihedral, out);
            self.journal.alone_done(&id)?;
            (id, outcome)
        };
        self.report.deliver(self.sink, &id, &outcome)?;
        (self.progress)(&self.report.progress(0, self.total));
        Ok(id)
    }
}

fn wants(shard: Option<Shard>, skip: Option<&SkipSet>, id: &str) -> bool {
    shard.is_none_or(|s| s.contains(id)) && !skip.is_some_and(|s| s.contains(id))
}

fn next_raw(rx: &Mutex<Receiver<(u64, RawItem)>>) -> Option<(u64, RawItem)> {
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
        return decode_one(decoder, raw);
    };
    j.started(seq, &raw.id);
    let decoded = decode_one(decoder, raw);
    j.ended(seq);
    decoded
}

/// Reads the item (unless the walk did) and decodes it.
fn decode_one(
    decoder: &dyn Decoder,
    raw: RawItem,
) -> (String, std::result::Result<OwnedImage, ItemError>) {
    let (id, bytes) = raw.read(&|head| decoder.accepts(head));
    let img = bytes
        .map_err(ItemError::from)
        .and_then(|b| decoder.decode(&b).map_err(ItemError::Decode));
    (id, img)
}

/// Hashes a decoded image, then hands its pixels back to the decoder.
fn hash_one(
    decoder: &dyn Decoder,
    hasher: &mut CpuHasher,
    img: std::result::Result<OwnedImage, ItemError>,
    dihedral: bool,
    out: &mut Vec<Hashed>,
) -> Outcome {
    let img = img?;
    let outcome = hash_image(hasher, &img, dihedral, out);
    decoder.recycle(img.pixels);
    outcome
}

fn hash_image(
    hasher: &mut CpuHasher,
    img: &OwnedImage,
    dihedral: bool,
    out: &mut Vec<Hashed>,
) -> Outcome {
    let r = img.as_image_ref()?;
    hasher.hash_batch(&[r], dihedral, out);
    out.first().copied().ok_or(ItemError::MissingResult)
}

fn fused_worker(
    rx: &Mutex<Receiver<(u64, RawItem)>>,
    tx: &SyncSender<(u64, String, Outcome)>,
    decoder: &dyn Decoder,
    dihedral: bool,
    journal: Option<&Journal>,
) {
    let mut hasher = CpuHasher::new();
    let mut out = Vec::with_capacity(1);
    while let Some((seq, raw)) = next_raw(rx) {
        let (id, img) = decode_noted(decoder, journal, seq, raw);
        let outcome = hash_one(decoder, &mut hasher, img, dihedral, &mut out);
        if tx.send((seq, id, outcome)).is_err() {
            return;
        }
    }
}

type Decoded = (u64, String, std::result::Result<OwnedImage, ItemError>);

fn decode_worker(
    rx: &Mutex<Receiver<(u64, RawItem)>>,
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

fn batch_stage(
    rx: &Receiver<Decoded>,
    tx: &SyncSender<(u64, String, Outcome)>,
    hasher: &mut dyn BatchHasher,
    decoder: &dyn Decoder,
    dihedral: bool,
) {
    let max = hasher.max_batch().max(1);
    let max_bytes = hasher.max_batch_bytes();
    let mut batch: Vec<(u64, String, OwnedImage)> = Vec::with_capacity(max);
    // Items handed to the hasher and not yet back, by ticket (numbered in submission order).
    let mut pending: HashMap<u64, (u64, String, OwnedImage)> = HashMap::new();
    let mut next_ticket = 0u64;
    let mut ready = Vec::with_capacity(max);
    loop {
        // The first item: when none is waiting, every result in flight goes out before the
        // wait, so that slow input never holds finished hashes back.
        let first = match rx.try_recv() {
            Err(TryRecvError::Empty) => {
                if !pending.is_empty() {
                    let done = hasher.flush(dihedral, &mut ready);
                    if !deliver(done, &mut ready, &mut pending, tx, decoder, dihedral) {
                        return;
                    }
                }
                rx.recv().ok()
            }
            other => other.ok(),
        };
        // Then what is ready, up to a full batch.
        let mut closed = false;
        let mut first = Some(first);
        let mut bytes = 0u64;
        while batch.len() < max && bytes < max_bytes {
            let msg = match first.take() {
                Some(Some(m)) => m,
                Some(None) => {
                    closed = true;
                    break;
                }
                None => match rx.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                },
            };
            let (seq, id, img) = msg;
            match img.and_then(|i| {
                i.as_image_ref()?;
                Ok(i)
            }) {
                Ok(i) => {
                    bytes += i.pixels.len() as u64;
                    batch.push((seq, id, i));
                }
                Err(e) => {
                    if tx.send((seq, id, Err(e))).is_err() {
                        return;
                    }
                }
            }
        }
        if !batch.is_empty() {
            let refs: Vec<ImageRef<'_>> = batch
                .iter()
                .filter_map(|(_, _, i)| i.as_image_ref().ok())
                .collect();
            let done = hasher.submit(next_ticket, &refs, dihedral, &mut ready);
            drop(refs);
            for item in batch.drain(..) {
                pending.insert(next_ticket, item);
                next_ticket += 1;
            }
            if !deliver(done, &mut ready, &mut pending, tx, decoder, dihedral) {
                return;
            }
        }
        if closed {
            let done = hasher.flush(dihedral, &mut ready);
            if !deliver(done, &mut ready, &mut pending, tx, decoder, dihedral) {
                return;
            }
            // A hasher that never returned some results fails those items, so no item is lost.
            let mut missing: Vec<_> = pending.drain().collect();
            missing.sort_unstable_by_key(|(ticket, _)| *ticket);
            for (_, (seq, id, img)) in missing {
                decoder.recycle(img.pixels);
                if tx.send((seq, id, Err(ItemError::MissingResult))).is_err() {
                    return;
                }
            }
            return;
        }
    }
}

/// Sends the `ready` results of `pending` items; after a hasher error, hashes every item still
/// pending on the CPU, as its results were lost. False when the receiver is gone.
fn deliver(
    done: std::result::Result<(), HasherError>,
    ready: &mut Vec<(u64, Hashed)>,
    pending: &mut HashMap<u64, (u64, String, OwnedImage)>,
    tx: &SyncSender<(u64, String, Outcome)>,
    decoder: &dyn Decoder,
    dihedral: bool,
) -> bool {
    for (ticket, hashes) in ready.drain(..) {
        // A ticket not pending (unknown, or returned twice) has nowhere to go.
        if let Some((seq, id, img)) = pending.remove(&ticket) {
            decoder.recycle(img.pixels);
            if tx.send((seq, id, Ok(hashes))).is_err() {
                return false;
            }
        }
    }
    if let Err(e) = done {
        log::warn!(
            "{e}; hashing the {} images in flight on the CPU",
            pending.len()
        );
        let mut lost: Vec<_> = pending.drain().map(|(_, item)| item).collect();
        lost.sort_unstable_by_key(|(seq, _, _)| *seq);
        // Up to two batches: on all cores, as the backend hashes after the loss.
        let outcomes: Vec<Outcome> = lost
            .par_iter()
            .map_init(
                || (CpuHasher::new(), Vec::with_capacity(1)),
                |(cpu, out), (_, _, img)| hash_image(cpu, img, dihedral, out),
            )
            .collect();
        for ((seq, id, img), outcome) in lost.into_iter().zip(outcomes) {
            decoder.recycle(img.pixels);
            if tx.send((seq, id, outcome)).is_err() {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::PixelLayout;
    use crate::pipeline::{DecodeFailure, VecSink};

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
    impl BatchHasher for Batched {
        fn max_batch(&self) -> usize {
            8
        }
        fn hash_batch(&mut self, images: &[ImageRef<'_>], dihedral: bool, out: &mut Vec<Hashed>) {
            out.clear();
            let mut one = Vec::new();
            for i in images {
                self.0.hash_batch(&[*i], dihedral, &mut one);
                out.push(one[0]);
            }
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
            .batch_hasher(Box::new(Batched(CpuHasher::new())))
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
    /// order, and from its `fail_at`-th call on fails, losing what it holds.
    struct Late {
        cpu: CpuHasher,
        held: Vec<(u64, Hashed)>,
        calls: usize,
        fail_at: usize,
    }

    impl BatchHasher for Late {
        fn max_batch(&self) -> usize {
            5
        }
        fn hash_batch(&mut self, _: &[ImageRef<'_>], _: bool, _: &mut Vec<Hashed>) {
            unreachable!("the pipeline streams")
        }
        fn submit(
            &mut self,
            first_ticket: u64,
            images: &[ImageRef<'_>],
            dihedral: bool,
            ready: &mut Vec<(u64, Hashed)>,
        ) -> std::result::Result<(), HasherError> {
            self.calls += 1;
            if self.calls >= self.fail_at {
                self.held.clear();
                return Err("device lost".into());
            }
            ready.extend(self.held.drain(..).rev());
            let mut out = Vec::new();
            self.cpu.hash_batch(images, dihedral, &mut out);
            self.held.extend((first_ticket..).zip(out));
            Ok(())
        }
        fn flush(
            &mut self,
            _: bool,
            ready: &mut Vec<(u64, Hashed)>,
        ) -> std::result::Result<(), HasherError> {
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
            .batch_hasher(Box::new(late))
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
                .batch_hasher(Box::new(late))
                .run(&sources, &synthetic, &mut got, &mut |_| {})
                .expect("run");
            assert_eq!(got.items, want.items, "fail_at {fail_at}");
            assert_eq!((r.num_ok, r.num_failed), (fused.num_ok, fused.num_failed));
        }
    }

    /// Records the pixel bytes of each image of each call. Each call takes a while, so that the
    /// decoded queue (one image per decode thread) is full when the next batch is made.
    struct Recording(Arc<Mutex<Vec<Vec<usize>>>>);

    impl BatchHasher for Recording {
        fn max_batch(&self) -> usize {
            8
        }
        fn max_batch_bytes(&self) -> u64 {
            10_000
        }
        fn hash_batch(&mut self, images: &[ImageRef<'_>], dihedral: bool, out: &mut Vec<Hashed>) {
            let sizes = images.iter().map(|i| i.pixels().len()).collect();
            std::thread::sleep(std::time::Duration::from_millis(30));
            self.0.lock().expect("not poisoned").push(sizes);
            Batched(CpuHasher::new()).hash_batch(images, dihedral, out);
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
            .batch_hasher(Box::new(Recording(Arc::clone(&calls))))
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

    struct FailingSink(usize, bool);
    impl Sink for FailingSink {
        fn accept(&mut self, _: &str, _: &Outcome) -> Result<()> {
            self.0 += 1;
            if self.0 == 5 {
                return Err(Error::BadInput {
                    path: "sink".into(),
                    what: "test".into(),
                    detail: "full".into(),
                });
            }
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.1 = true;
            Ok(())
        }
    }

    #[test]
    fn a_sink_error_stops_the_run_after_finishing_the_sink() {
        let d = tempfile::tempdir().expect("tempdir");
        let sources = corpus(d.path(), 100);
        let mut sink = FailingSink(0, false);
        let r = Pipeline::new()
            .queue_len(1)
            .run(&sources, &synthetic, &mut sink, &mut |_| {});
        assert!(matches!(r, Err(Error::BadInput { .. })));
        assert_eq!(sink.0, 5);
        assert!(sink.1);
    }
}
