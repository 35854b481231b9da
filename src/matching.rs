//! Matching: every query image's hashes checked against a list's [`Index`], exactly, with
//! typed results — the core of the nightly job that `imprint match`, the lookup service and
//! the Python package all run.
//!
//! - [`Matcher`] holds an index and a radius. [`Matcher::find`] checks one query (one hash, or
//!   the 8 dihedral hashes of an image, so that rotated and flipped copies of a listed image
//!   match too); [`Matcher::find_batch`] checks many in parallel, results in input order.
//! - [`Matcher::stream`] takes queries one at a time, from any number of sources, and checks
//!   them in parallel chunks of [`CHUNK`]; results come back in input order through two
//!   closures: `render`, run in parallel on each query's matches (format an output line, or
//!   copy the matches out), and `emit`, run in input order on what `render` made (write it).
//!   Memory stays at one chunk, whatever the number of queries.
//! - [`MatchStream::push_store`] feeds a hash store's records, [`MatchStream::sink`] a
//!   pipeline run's images as they are hashed, [`MatchStream::push`] anything else (hash-list
//!   entries); [`InputKind::of`] tells which an input path is.
//!
//! A [`ListMatch`] carries everything a report needs: the query hash that matched (the
//! transform's, for dihedral queries), the listed hash, the list entry's id and record, the
//! distance and the transform.
//!
//! # Example
//! ```
//! # fn main() -> imprint::Result<()> {
//! use imprint::hash::{Hashes, Pdq256};
//! use imprint::index::{Index, IndexBuilder};
//! use imprint::matching::Matcher;
//!
//! // 100 listed hashes, far apart.
//! let spread = |i: u64, k: u64| (i * 4 + k + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
//! let list: Vec<Pdq256> = (0..100).map(|i| Pdq256::from_words([0, 1, 2, 3].map(|k| spread(i, k)))).collect();
//! let ids: Vec<String> = (0..100).map(|i| format!("entry-{i}")).collect();
//! let index = Index::from_bytes(IndexBuilder::new().build(&list, &ids)?)?;
//! let matcher = Matcher::new(&index, 31);
//!
//! let mut near = list[42];
//! near.flip_bit(3);
//! let found = matcher.find_batch(&[Hashes::One(near), Hashes::One(Pdq256::ZERO)])?;
//! assert_eq!(found[0].len(), 1);
//! assert_eq!((found[0][0].list_id, found[0][0].distance), ("entry-42", 1));
//! assert!(found[1].is_empty());
//!
//! // Streaming: one line per match, in input order.
//! let mut lines = Vec::new();
//! let mut stream = matcher.stream(
//!     |id: &str, matches: &[imprint::matching::ListMatch<'_>]| {
//!         matches.iter().map(|m| format!("{id},{}", m.list_id)).collect::<Vec<_>>()
//!     },
//!     |found: Vec<String>| {
//!         lines.extend(found);
//!         Ok(())
//!     },
//! );
//! stream.push("upload-1".into(), Hashes::One(near))?;
//! let stats = stream.finish()?;
//! assert_eq!((stats.num_queries, stats.num_matches), (1, 1));
//! assert_eq!(lines, ["upload-1,entry-42"]);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::hash::{Dihedral, Hashed, Hashes, Pdq256};
use crate::hashlist::Entry;
use crate::index::{best_per_record, Index, IndexError, Match, RecordId, SearchScratch};
use crate::pipeline::{ItemError, Sink};
use crate::store::{Outcome, Store};

/// Queries checked per parallel chunk of a [`MatchStream`] (about 1 MiB of queries).
pub const CHUNK: usize = 4096;

/// One list entry matched by one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListMatch<'i> {
    /// The query hash that matched: the transform's, for a dihedral query.
    pub query_hash: Pdq256,
    /// The listed hash.
    pub list_hash: Pdq256,
    /// The list entry's id (empty when the list gave none).
    pub list_id: &'i str,
    /// The list entry's record in the index.
    pub record: RecordId,
    /// Hamming distance in bits.
    pub distance: u32,
    /// The query transform that matched ([`Dihedral::Original`] for a one-hash query).
    pub transform: Dihedral,
}

/// Checks queries against one index within a radius; see the [module docs](self).
#[derive(Debug)]
pub struct Matcher<'i, D> {
    index: &'i Index<D>,
    max_distance: u32,
    scan: bool,
}

// Not derived: the index is borrowed, `D` need not be `Clone`.
impl<D> Clone for Matcher<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Matcher<'_, D> {}

impl<'i, D: AsRef<[u8]> + Sync> Matcher<'i, D> {
    /// A matcher reporting every list entry within `max_distance` bits of a query.
    #[must_use]
    pub fn new(index: &'i Index<D>, max_distance: u32) -> Self {
        Matcher {
            index,
            max_distance,
            scan: false,
        }
    }

    /// With `scan`, answers by a flat scan of every hash instead of multi-index hashing: the
    /// same results. One query at a time ([`Matcher::find`]) this is the oracle, O(N) a query;
    /// batches ([`Matcher::find_batch`], [`Matcher::stream`]) are scanned blocked
    /// ([`Index::scan_radius_batch`]). On a CPU, MIH lookups were faster at every list size
    /// measured (BENCHMARKS.md, "Batch matching"): the scan is the exact check of a batch's
    /// answers.
    #[must_use]
    pub fn flat_scan(mut self, scan: bool) -> Self {
        self.scan = scan;
        self
    }

    /// The index matched against.
    #[must_use]
    pub fn index(&self) -> &'i Index<D> {
        self.index
    }

    /// The radius, in bits.
    #[must_use]
    pub fn max_distance(&self) -> u32 {
        self.max_distance
    }

    /// Appends to `out` the list entries within the radius of `query`, sorted by (distance,
    /// record); for a dihedral query each entry once, with its smallest distance and the
    /// transform that reached it. Exact: multi-index hashing, or a flat scan where cheaper.
    ///
    /// # Errors
    /// [`IndexError`] when the index fails its checksums or a structure read on the way is
    /// corrupt.
    pub fn find(
        &self,
        query: &Hashes,
        scratch: &mut SearchScratch,
        out: &mut Vec<ListMatch<'i>>,
    ) -> std::result::Result<(), IndexError> {
        let (index, radius) = (self.index, self.max_distance);
        let merged;
        let found: &[Match] = match (query, self.scan) {
            (Hashes::One(h), false) => index.search_radius(h, radius, scratch)?,
            (Hashes::Dihedral(all), false) => index.search_radius_dihedral(all, radius, scratch)?,
            (_, true) => {
                let mut all = Vec::new();
                for (t, q) in query.iter() {
                    let found = index.search_radius_flat(&q, radius, scratch)?;
                    all.extend(found.iter().map(|m| Match { transform: t, ..*m }));
                }
                best_per_record(&mut all);
                merged = all;
                &merged
            }
        };
        self.push_found(query, found, out)
    }

    /// The `k` list entries nearest to `query` (for a dihedral query, over all 8 hashes:
    /// each entry once, with its best transform), sorted by (distance, record), as
    /// [`ListMatch`]es; the radius does not apply. `ef` is the HNSW beam width; with
    /// [`Matcher::flat_scan`], or when the index has no graph, the answer is exact, by a
    /// flat scan.
    ///
    /// # Errors
    /// As [`Matcher::find`].
    pub fn nearest(
        &self,
        query: &Hashes,
        k: usize,
        ef: usize,
        scratch: &mut SearchScratch,
        out: &mut Vec<ListMatch<'i>>,
    ) -> std::result::Result<(), IndexError> {
        let index = self.index;
        let mut all = Vec::new();
        for (t, q) in query.iter() {
            let found = if self.scan || !index.has_graph() {
                index.search_knn_flat(&q, k, scratch)?
            } else {
                index.search_knn(&q, k, ef, scratch)?
            };
            all.extend(found.iter().map(|m| Match { transform: t, ..*m }));
        }
        best_per_record(&mut all);
        all.truncate(k);
        self.push_found(query, &all, out)
    }

    fn push_found(
        &self,
        query: &Hashes,
        found: &[Match],
        out: &mut Vec<ListMatch<'i>>,
    ) -> std::result::Result<(), IndexError> {
        let index = self.index;
        out.reserve(found.len());
        for m in found {
            let list_hash = index.hash(m.record).ok_or_else(|| {
                IndexError::corrupt("hashes", u64::from(m.record.0), "match outside the index")
            })?;
            out.push(ListMatch {
                query_hash: query.get(m.transform).unwrap_or(query.primary()),
                list_hash,
                list_id: index.id(m.record)?,
                record: m.record,
                distance: m.distance,
                transform: m.transform,
            });
        }
        Ok(())
    }

    /// [`Matcher::find`] for each query, in parallel on the rayon pool; one list per query,
    /// in input order.
    ///
    /// # Errors
    /// As [`Matcher::find`], the first in input order.
    pub fn find_batch(&self, queries: &[Hashes]) -> Result<Vec<Vec<ListMatch<'i>>>> {
        if self.scan {
            let found = self.index.scan_radius_batch(queries, self.max_distance)?;
            return queries
                .par_iter()
                .zip(found)
                .map(|(q, found)| {
                    let mut out = Vec::new();
                    self.push_found(q, &found, &mut out).map(|()| out)
                })
                .collect::<std::result::Result<_, _>>()
                .map_err(Error::from);
        }
        queries
            .par_iter()
            .map_init(SearchScratch::new, |scratch, q| {
                let mut out = Vec::new();
                self.find(q, scratch, &mut out).map(|()| out)
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(Error::from)
    }

    /// A stream of queries checked in parallel chunks; see the [module docs](self).
    ///
    /// `render` runs on the rayon pool, once per query (matched or not), with its id and its
    /// matches; `emit` runs on the caller's thread with each query's rendering, in input
    /// order. An error from `emit` stops the stream ([`Error::Output`]).
    pub fn stream<T, R, E>(&self, render: R, emit: E) -> MatchStream<'i, D, R, E>
    where
        T: Send,
        R: Fn(&str, &[ListMatch<'i>]) -> T + Sync,
        E: FnMut(T) -> io::Result<()>,
    {
        MatchStream {
            matcher: *self,
            render,
            emit,
            chunk: Vec::with_capacity(CHUNK),
            stats: MatchStats::default(),
        }
    }
}

/// Counts from one [`MatchStream`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchStats {
    /// Queries checked.
    pub num_queries: u64,
    /// Queries with at least one match.
    pub num_matched_queries: u64,
    /// Matches found.
    pub num_matches: u64,
}

/// Queries pushed, checked a chunk at a time; made by [`Matcher::stream`].
pub struct MatchStream<'i, D, R, E> {
    matcher: Matcher<'i, D>,
    render: R,
    emit: E,
    chunk: Vec<(String, Hashes)>,
    stats: MatchStats,
}

impl<D, R, E> std::fmt::Debug for MatchStream<'_, D, R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchStream")
            .field("queued", &self.chunk.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'i, D, T, R, E> MatchStream<'i, D, R, E>
where
    D: AsRef<[u8]> + Sync,
    T: Send,
    R: Fn(&str, &[ListMatch<'i>]) -> T + Sync,
    E: FnMut(T) -> io::Result<()>,
{
    /// Adds one query; a full chunk is checked before this returns.
    ///
    /// # Errors
    /// [`Error::Index`] from the search, [`Error::Output`] from `emit`.
    pub fn push(&mut self, id: String, hashes: Hashes) -> Result<()> {
        self.chunk.push((id, hashes));
        if self.chunk.len() >= CHUNK {
            self.run_chunk()?;
        }
        Ok(())
    }

    /// Pushes the hash records of `store` with quality at least `min_quality`, the 8 hashes
    /// of a dihedral store's records together.
    ///
    /// # Errors
    /// [`Error::Store`] when a block fails its checksum (nothing of that block was pushed), or
    /// as [`MatchStream::push`].
    pub fn push_store<S: AsRef<[u8]>>(
        &mut self,
        store: &Store<S>,
        min_quality: u8,
    ) -> Result<StoreQueries> {
        let mut counts = StoreQueries::default();
        for r in store.records() {
            let r = r?;
            match r.outcome {
                // Error records (items that could not be hashed) have nothing to match.
                Outcome::Failed { .. } => counts.failed_records += 1,
                Outcome::Hashed(h) if h.quality < min_quality => counts.low_quality += 1,
                Outcome::Hashed(h) => {
                    counts.pushed += 1;
                    self.push(r.id.to_owned(), h.hashes)?;
                }
            }
        }
        Ok(counts)
    }

    /// Pushes a hash-list entry unless it gives a quality below `min_quality` (entries that
    /// give none are always checked); says whether it was pushed.
    ///
    /// # Errors
    /// As [`MatchStream::push`].
    pub fn push_entry(&mut self, entry: Entry, min_quality: u8) -> Result<bool> {
        if entry.quality.is_some_and(|q| q < min_quality) {
            return Ok(false);
        }
        self.push(entry.id, entry.hashes)?;
        Ok(true)
    }

    /// A pipeline [`Sink`] that pushes each image hashed with quality at least
    /// `min_quality`, and hands each item that failed to `on_failure`.
    pub fn sink<F: FnMut(&str, &ItemError)>(
        &mut self,
        min_quality: u8,
        on_failure: F,
    ) -> MatchSink<'_, 'i, D, R, E, F> {
        MatchSink {
            stream: self,
            min_quality,
            on_failure,
            counts: ImageQueries::default(),
        }
    }

    /// Checks what is left and returns the counts.
    ///
    /// # Errors
    /// As [`MatchStream::push`].
    pub fn finish(mut self) -> Result<MatchStats> {
        self.run_chunk()?;
        Ok(self.stats)
    }

    /// The counts so far (of the chunks checked).
    #[must_use]
    pub fn stats(&self) -> MatchStats {
        self.stats
    }

    fn run_chunk(&mut self) -> Result<()> {
        let (matcher, render) = (self.matcher, &self.render);
        // With a scan, the whole chunk is one blocked scan first.
        let scanned = if matcher.scan {
            let queries: Vec<Hashes> = self.chunk.iter().map(|(_, h)| *h).collect();
            Some(
                matcher
                    .index
                    .scan_radius_batch(&queries, matcher.max_distance)?,
            )
        } else {
            None
        };
        let done: Vec<std::result::Result<(T, usize), IndexError>> = self
            .chunk
            .par_iter()
            .enumerate()
            .map_init(
                || (SearchScratch::new(), Vec::new()),
                |(scratch, found), (i, (id, hashes))| {
                    found.clear();
                    match &scanned {
                        Some(all) => matcher.push_found(hashes, &all[i], found)?,
                        None => matcher.find(hashes, scratch, found)?,
                    }
                    Ok((render(id, found), found.len()))
                },
            )
            .collect();
        self.chunk.clear();
        for d in done {
            let (rendered, n) = d?;
            self.stats.num_queries += 1;
            self.stats.num_matched_queries += u64::from(n > 0);
            self.stats.num_matches += n as u64;
            (self.emit)(rendered).map_err(Error::Output)?;
        }
        Ok(())
    }
}

/// What [`MatchStream::push_store`] did with a store's records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreQueries {
    /// Hash records pushed as queries.
    pub pushed: u64,
    /// Error records (items the run could not hash), not matched.
    pub failed_records: u64,
    /// Hash records below the quality floor, not matched.
    pub low_quality: u64,
}

/// What a [`MatchSink`] did with a run's images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageQueries {
    /// Images pushed as queries.
    pub pushed: u64,
    /// Images that could not be hashed.
    pub failed: u64,
    /// Images below the quality floor, not matched.
    pub low_quality: u64,
}

/// A pipeline sink feeding a [`MatchStream`]; made by [`MatchStream::sink`].
pub struct MatchSink<'s, 'i, D, R, E, F> {
    stream: &'s mut MatchStream<'i, D, R, E>,
    min_quality: u8,
    on_failure: F,
    counts: ImageQueries,
}

impl<D, R, E, F> MatchSink<'_, '_, D, R, E, F> {
    /// What was done with the images so far.
    #[must_use]
    pub fn counts(&self) -> ImageQueries {
        self.counts
    }
}

impl<D, R, E, F> std::fmt::Debug for MatchSink<'_, '_, D, R, E, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchSink")
            .field("min_quality", &self.min_quality)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl<'i, D, T, R, E, F> Sink for MatchSink<'_, 'i, D, R, E, F>
where
    D: AsRef<[u8]> + Sync,
    T: Send,
    R: Fn(&str, &[ListMatch<'i>]) -> T + Sync,
    E: FnMut(T) -> io::Result<()>,
    F: FnMut(&str, &ItemError),
{
    fn accept(&mut self, id: &str, outcome: &std::result::Result<Hashed, ItemError>) -> Result<()> {
        match outcome {
            Err(e) => {
                (self.on_failure)(id, e);
                self.counts.failed += 1;
            }
            Ok(h) if h.quality < self.min_quality => self.counts.low_quality += 1,
            Ok(h) => {
                self.counts.pushed += 1;
                self.stream.push(id.to_owned(), h.hashes)?;
            }
        }
        Ok(())
    }
}

/// The entries of a list index gathered from hash stores and hash-list entries, in input
/// order: each hashed item's hash (the original orientation's, for dihedral records and
/// lines) under its id, leaving out hashes below a quality floor and error records — what
/// [`IndexBuilder::build`](crate::index::IndexBuilder::build) takes.
///
/// ```
/// use imprint::hash::{Hashes, Pdq256};
/// use imprint::hashlist::Entry;
/// use imprint::matching::ListEntries;
///
/// let mut list = ListEntries::new(50);
/// list.add_entry(Entry { id: "case-1".into(), hashes: Hashes::One(Pdq256::ZERO), quality: Some(90) });
/// list.add_entry(Entry { id: "blank".into(), hashes: Hashes::One(Pdq256::ZERO), quality: Some(3) });
/// list.add_entry(Entry { id: "case-2".into(), hashes: Hashes::One(Pdq256::ZERO), quality: None });
/// assert_eq!(list.ids, ["case-1", "case-2"]);
/// assert_eq!(list.low_quality, 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListEntries {
    /// The hashes to index.
    pub hashes: Vec<Pdq256>,
    /// Their ids, one per hash.
    pub ids: Vec<String>,
    /// Error records of stores, left out.
    pub failed_records: u64,
    /// Hashes below the quality floor, left out (list lines without a quality are kept).
    pub low_quality: u64,
    min_quality: u8,
}

impl ListEntries {
    /// Empty, leaving out hashes with quality below `min_quality`.
    #[must_use]
    pub fn new(min_quality: u8) -> Self {
        ListEntries {
            min_quality,
            ..ListEntries::default()
        }
    }

    /// Adds the hash records of `store`.
    ///
    /// # Errors
    /// [`Error::Store`] when a block fails its checksum (the records of the blocks before it
    /// are kept).
    pub fn add_store<S: AsRef<[u8]>>(&mut self, store: &Store<S>) -> Result<()> {
        for r in store.records() {
            let r = r?;
            match r.hash() {
                Some(h) if h.quality < self.min_quality => self.low_quality += 1,
                Some(h) => {
                    self.hashes.push(h.hash);
                    self.ids.push(r.id.to_owned());
                }
                None => self.failed_records += 1,
            }
        }
        Ok(())
    }

    /// Adds one hash-list entry.
    pub fn add_entry(&mut self, entry: Entry) {
        if entry.quality.is_some_and(|q| q < self.min_quality) {
            self.low_quality += 1;
        } else {
            self.hashes.push(entry.hashes.primary());
            self.ids.push(entry.id);
        }
    }
}

/// What an input path holds, for commands that take stores, images and hash lists alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A hash store (it starts with the store's magic bytes).
    Store,
    /// Images: a directory, a `.tar` archive, or a file that starts like an image.
    Images,
    /// Anything else, standard input (`-`) included: a hash list.
    HashList,
}

impl InputKind {
    /// Tells by the path and the file's first bytes, in that order: store, images, hash list.
    /// A file that cannot be read counts as a hash list, whose reading then reports the error.
    #[must_use]
    pub fn of(path: &Path) -> Self {
        let head = file_head(path);
        let is_archive = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tar"));
        if head.starts_with(&crate::store::format::MAGIC) {
            InputKind::Store
        } else if path.is_dir() || is_archive || crate::decode::sniff(&head).is_some() {
            InputKind::Images
        } else {
            InputKind::HashList
        }
    }
}

/// The first bytes of a regular file, enough to tell a store or an image by its magic; empty
/// for standard input, a file that cannot be read, or one that is not a regular file. A pipe
/// (`<(zcat list.csv.gz)`) is never read here: the bytes taken would be lost to the hash list
/// it is read as.
fn file_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::with_capacity(32);
    if path.as_os_str() != "-" && std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        if let Ok(f) = std::fs::File::open(path) {
            let _ = f.take(32).read_to_end(&mut head);
        }
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::DIHEDRALS;
    use crate::index::IndexBuilder;

    fn hash(seed: u64) -> Pdq256 {
        Pdq256::from_words(crate::rng::Rng::new(seed).words())
    }

    /// Flips the first `n` bits.
    fn near(h: Pdq256, n: u32) -> Pdq256 {
        let mut w = h.to_words();
        for b in 0..n as usize {
            w[b / 64] ^= 1 << (b % 64);
        }
        Pdq256::from_words(w)
    }

    fn list_index() -> (Vec<Pdq256>, Index<Vec<u8>>) {
        let listed: Vec<Pdq256> = (0..50).map(hash).collect();
        let ids: Vec<String> = (0..50).map(|i| format!("L{i}")).collect();
        let bytes = IndexBuilder::new()
            .hnsw(false)
            .build(&listed, &ids)
            .expect("build");
        (listed, Index::from_bytes(bytes).expect("open"))
    }

    #[test]
    fn chunks_keep_input_order_and_dihedral_queries_match_any_transform() {
        let (listed, index) = list_index();
        let matcher = Matcher::new(&index, 31);
        let mut got = Vec::new();
        let mut stream = matcher.stream(
            |id, found| {
                found
                    .iter()
                    .map(|m| {
                        (
                            id.to_owned(),
                            m.list_id.to_owned(),
                            m.transform,
                            m.query_hash,
                        )
                    })
                    .collect::<Vec<_>>()
            },
            |rows| {
                got.extend(rows);
                Ok(())
            },
        );
        // Over two chunks: every 7th query is near a listed hash, through its plain hash or,
        // for dihedral queries, through one of the other seven.
        let n = 2 * CHUNK + 100;
        let mut want = Vec::new();
        for q in 0..n {
            let unlisted = hash(1_000_000 + q as u64);
            let query = if q % 7 != 0 {
                Hashes::One(unlisted)
            } else if q % 2 == 0 {
                let h = near(listed[q % 50], 5);
                want.push((q, Dihedral::Original, h));
                Hashes::One(h)
            } else {
                // q is an odd multiple of 7 here: q / 14 walks through the seven transforms.
                let t = 1 + (q / 14) % 7;
                let mut all: [Pdq256; 8] = std::array::from_fn(|i| hash((q * 8 + i) as u64 + 7));
                all[t] = near(listed[q % 50], 3);
                want.push((q, DIHEDRALS[t], all[t]));
                Hashes::Dihedral(all)
            };
            stream.push(format!("Q{q}"), query).expect("push");
        }
        let stats = stream.finish().expect("finish");
        assert_eq!(stats.num_queries, n as u64);
        assert_eq!(stats.num_matched_queries, want.len() as u64);
        assert_eq!(stats.num_matches, want.len() as u64);
        assert_eq!(got.len(), want.len());
        for ((id, lid, t, qh), (wq, wt, wh)) in got.iter().zip(&want) {
            assert_eq!(
                (id.as_str(), *t, *qh),
                (format!("Q{wq}").as_str(), *wt, *wh)
            );
            assert_eq!(*lid, format!("L{}", wq % 50));
        }
    }

    #[test]
    fn batch_results_equal_one_at_a_time_and_carry_both_hashes() {
        let (listed, index) = list_index();
        let matcher = Matcher::new(&index, 20);
        let queries: Vec<Hashes> = (0..300u64)
            .map(|i| match i % 3 {
                0 => Hashes::One(near(listed[(i % 50) as usize], (i % 25) as u32)),
                1 => Hashes::One(hash(5000 + i)),
                _ => Hashes::Dihedral(std::array::from_fn(|k| {
                    near(listed[(i as usize + k) % 50], 2 + k as u32)
                })),
            })
            .collect();
        let batch = matcher.find_batch(&queries).expect("batch");
        let mut scratch = SearchScratch::new();
        for (q, found) in queries.iter().zip(&batch) {
            let mut one = Vec::new();
            matcher.find(q, &mut scratch, &mut one).expect("find");
            assert_eq!(&one, found);
            for m in found {
                assert!(m.distance <= 20);
                assert_eq!(m.query_hash.distance(&m.list_hash), m.distance);
                assert_eq!(Some(m.query_hash), q.get(m.transform));
                assert_eq!(index.hash(m.record), Some(m.list_hash));
            }
        }
        // Near copies within the radius are found; a distance-0 query finds its entry first.
        assert_eq!(batch[0][0].list_id, "L0");
        assert_eq!(batch[0][0].distance, 0);
        assert!(batch.iter().skip(1).step_by(3).all(Vec::is_empty));
    }

    #[test]
    fn flat_scans_and_nearest_agree_with_the_index_searches() {
        let (listed, index) = list_index();
        let mih = Matcher::new(&index, 24);
        let flat = Matcher::new(&index, 24).flat_scan(true);
        let mut scratch = SearchScratch::new();
        for i in 0..60usize {
            let query = if i % 2 == 0 {
                Hashes::One(near(listed[i % 50], (i % 30) as u32))
            } else {
                Hashes::Dihedral(std::array::from_fn(|k| {
                    near(listed[(i + 3 * k) % 50], 20 + k as u32)
                }))
            };
            let (mut a, mut b) = (Vec::new(), Vec::new());
            mih.find(&query, &mut scratch, &mut a).expect("mih");
            flat.find(&query, &mut scratch, &mut b).expect("flat");
            assert_eq!(a, b, "query {i}");
            // The k nearest by a scan: the k first of all entries by (distance, record).
            let mut knn = Vec::new();
            flat.nearest(&query, 5, 64, &mut scratch, &mut knn)
                .expect("knn");
            let mut every = Vec::new();
            Matcher::new(&index, 256)
                .flat_scan(true)
                .find(&query, &mut scratch, &mut every)
                .expect("all");
            every.truncate(5);
            assert_eq!(knn, every, "query {i}");
        }
    }

    #[test]
    fn blocked_scans_of_batches_and_streams_equal_mih_lookups() {
        // Clustered list over several scan blocks: many listed hashes near each other, so a
        // query matches many entries, some through several transforms.
        let mut rng = crate::rng::Rng::new(41);
        let centres: Vec<Pdq256> = (0..40).map(|_| Pdq256::from_words(rng.words())).collect();
        // Over two blocks of records (2048) and three blocks of queries (32) of a scan.
        let n = 2 * 2048 + 77;
        let listed: Vec<Pdq256> = (0..n)
            .map(|i| near(centres[i % 40], (i / 40 % 20) as u32))
            .collect();
        let ids: Vec<String> = (0..n).map(|i| format!("L{i}")).collect();
        let index = Index::from_bytes(
            IndexBuilder::new()
                .hnsw(false)
                .build(&listed, &ids)
                .expect("build"),
        )
        .expect("open");
        let queries: Vec<Hashes> = (0..3 * 32 + 5)
            .map(|i| {
                let c = centres[i % 40];
                if i % 3 == 0 {
                    Hashes::One(near(c, (i % 31) as u32))
                } else if i % 3 == 1 {
                    Hashes::One(Pdq256::from_words(rng.words()))
                } else {
                    Hashes::Dihedral(std::array::from_fn(|k| {
                        near(centres[(i + k) % 40], 3 * k as u32)
                    }))
                }
            })
            .collect();
        for radius in [0, 12, 31] {
            let mih = Matcher::new(&index, radius)
                .find_batch(&queries)
                .expect("mih");
            let scan = Matcher::new(&index, radius)
                .flat_scan(true)
                .find_batch(&queries)
                .expect("scan");
            assert_eq!(mih, scan, "radius {radius}");
            if radius == 31 {
                assert!(mih.iter().map(Vec::len).sum::<usize>() > queries.len());
            }
            // A stream over the scan gives the same matches in the same order.
            let mut streamed = Vec::new();
            let matcher = Matcher::new(&index, radius).flat_scan(true);
            let mut stream = matcher.stream(
                |_, found| found.to_vec(),
                |found| {
                    streamed.push(found);
                    Ok(())
                },
            );
            for q in &queries {
                stream.push(String::new(), *q).expect("push");
            }
            stream.finish().expect("finish");
            assert_eq!(streamed, mih, "radius {radius}");
        }
    }

    #[test]
    fn list_entries_below_the_quality_floor_are_not_pushed() {
        let (listed, index) = list_index();
        let matcher = Matcher::new(&index, 0);
        let mut ids = Vec::new();
        let mut stream = matcher.stream(
            |id, found| (id.to_owned(), found.len()),
            |row| {
                ids.push(row);
                Ok(())
            },
        );
        let entry = |id: &str, quality| Entry {
            id: id.into(),
            hashes: Hashes::One(listed[1]),
            quality,
        };
        assert!(stream
            .push_entry(entry("good", Some(80)), 50)
            .expect("push"));
        assert!(!stream
            .push_entry(entry("blank", Some(3)), 50)
            .expect("push"));
        assert!(stream.push_entry(entry("unrated", None), 50).expect("push"));
        stream.finish().expect("finish");
        assert_eq!(ids, [("good".to_owned(), 1), ("unrated".to_owned(), 1)]);
    }

    #[test]
    fn a_failing_emit_stops_the_stream_with_an_output_error() {
        let (listed, index) = list_index();
        let matcher = Matcher::new(&index, 31);
        let mut stream = matcher.stream(
            |_, found| found.len(),
            |_| Err(io::Error::new(io::ErrorKind::BrokenPipe, "reader gone")),
        );
        stream
            .push("q".into(), Hashes::One(listed[0]))
            .expect("queued");
        match stream.finish() {
            Err(Error::Output(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
            other => panic!("expected an output error, got {other:?}"),
        }
    }
}
