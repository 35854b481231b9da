//! `imprint match`: the nightly job. Every hash of a run is checked against a list index and
//! each match is written as CSV or JSONL (query id, list id, distance, transform).
//!
//! The core is [`Matcher`], fed one query image at a time from hash stores, hash lists
//! (CSV/JSONL) and images hashed on the way (through the bulk pipeline): a plain hash, or the 8
//! dihedral hashes of a `--dihedral` run, so that rotated and flipped copies of listed images
//! match too.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use imprint::hash::Pdq256;
use imprint::hashlist::{self, csv_field, LineError};
use imprint::index::{Index, SearchScratch, DEFAULT_MAX_DISTANCE};
use imprint::pipeline::{Hashes, ItemError, Pipeline, Sink, Source, StandardDecoder};
use imprint::store::Outcome;
use imprint::Backend;
use rayon::prelude::*;

use crate::output::diag;
use crate::query_cmd::Format;

/// Arguments of `imprint match`.
#[derive(Args, Debug)]
pub struct MatchArgs {
    /// The list's index file.
    #[arg(long)]
    index: PathBuf,
    /// Report matches within this many bits.
    #[arg(long, default_value_t = DEFAULT_MAX_DISTANCE)]
    max_distance: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Skip query hashes with quality below Q: stored records, images, and list lines that give
    /// a quality (`hash,quality,path` as `imprint hash` prints, a `quality` column or JSONL
    /// field); lines without one are always checked. PDQ's authors advise ignoring hashes below
    /// 50: near-uniform images hash alike.
    #[arg(long, value_name = "Q", default_value_t = 0)]
    min_quality: u8,
    /// Hash stores to check (written by `imprint hash --out`); may be repeated. The records of
    /// a `--dihedral` run are matched with all 8 hashes, so rotated and flipped copies match.
    #[arg(long, value_name = "FILE")]
    store: Vec<PathBuf>,
    /// What to check: images (files, directories, .tar archives), hashed here with all cores,
    /// then matched; hash lists (CSV/JSONL, e.g. the output of `imprint hash`, whose
    /// `--dihedral` lines are matched with all 8 hashes); hash stores, read as with --store.
    /// Standard input (a hash list) when neither these nor `--store` are given.
    inputs: Vec<PathBuf>,
    /// For images given as inputs: hash them with their 8 dihedral hashes, so that rotated
    /// and flipped copies of listed images match too.
    #[arg(long)]
    dihedral: bool,
    /// For images given as inputs: where to hash them (as `imprint hash --backend`).
    #[arg(long, value_name = "auto|cpu|gpu", default_value_t = Backend::Auto)]
    backend: Backend,
    /// For images given as inputs: the GPU adapter to use (as `imprint hash --gpu`).
    #[arg(long, value_name = "N")]
    gpu: Option<usize>,
}

/// Counts from one [`Matcher`] run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchStats {
    /// Images checked.
    pub num_queries: u64,
    /// Images with at least one match.
    pub num_matched_queries: u64,
    /// Match lines written.
    pub num_matches: u64,
}

/// The hashes of one query image.
// A chunk holds at most CHUNK of them (about 1 MiB); boxing the dihedral variant would add an
// allocation per query.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub enum Query {
    /// Its hash.
    One(Pdq256),
    /// Its 8 dihedral hashes, in [`imprint::hash::DIHEDRALS`] order: a rotated or flipped copy
    /// of a listed image matches too.
    Dihedral([Pdq256; 8]),
}

/// Queries handled per parallel chunk; output stays in input order.
const CHUNK: usize = 4096;

/// Matches queries against `index` within `max_distance` (exact, MIH) as they are pushed, in
/// parallel chunks, writing one line per match to `out` in input order. Memory stays at one
/// chunk, whatever the number of queries.
pub struct Matcher<'a, D, W: Write> {
    index: &'a Index<D>,
    max_distance: u32,
    format: Format,
    out: W,
    chunk: Vec<(String, Query)>,
    stats: MatchStats,
}

impl<'a, D: AsRef<[u8]> + Sync, W: Write> Matcher<'a, D, W> {
    /// Writes the CSV header; matching starts with the first [`Matcher::push`].
    pub fn new(
        index: &'a Index<D>,
        max_distance: u32,
        format: Format,
        mut out: W,
    ) -> anyhow::Result<Self> {
        if format == Format::Csv {
            writeln!(
                out,
                "query_id,list_id,distance,transform,query_hash,match_hash"
            )?;
        }
        Ok(Matcher {
            index,
            max_distance,
            format,
            out,
            chunk: Vec::with_capacity(CHUNK),
            stats: MatchStats::default(),
        })
    }

    /// Adds one query image.
    pub fn push(&mut self, id: String, query: Query) -> anyhow::Result<()> {
        self.chunk.push((id, query));
        if self.chunk.len() == CHUNK {
            self.run_chunk()?;
        }
        Ok(())
    }

    /// Matches what is left, flushes the output and returns the counts.
    pub fn finish(mut self) -> anyhow::Result<MatchStats> {
        self.run_chunk()?;
        self.out.flush()?;
        Ok(self.stats)
    }

    fn run_chunk(&mut self) -> anyhow::Result<()> {
        let (index, max_distance, format) = (self.index, self.max_distance, self.format);
        let lines: Vec<anyhow::Result<(String, u64)>> = self
            .chunk
            .par_iter()
            .map_init(SearchScratch::new, |scratch, (qid, q)| {
                let found = match q {
                    Query::One(h) => index.search_radius(h, max_distance, scratch)?,
                    Query::Dihedral(hs) => {
                        index.search_radius_dihedral(hs, max_distance, scratch)?
                    }
                };
                let mut text = String::new();
                for m in found {
                    // The query hash shown is the one that matched: the transform's.
                    let q = match q {
                        Query::One(h) => h,
                        Query::Dihedral(hs) => &hs[m.transform as usize],
                    };
                    let hash = index.hash(m.record).context("match outside the index")?;
                    let lid = index.id(m.record)?;
                    text.push_str(&match format {
                        Format::Csv => format!(
                            "{},{},{},{},{q},{hash}\n",
                            csv_field(qid),
                            csv_field(lid),
                            m.distance,
                            m.transform.name()
                        ),
                        Format::Jsonl => format!(
                            "{}\n",
                            serde_json::json!({
                                "query_id": qid,
                                "list_id": lid,
                                "distance": m.distance,
                                "transform": m.transform.name(),
                                "query_hash": q.to_string(),
                                "match_hash": hash.to_string(),
                                "record": m.record.0,
                            })
                        ),
                    });
                }
                Ok((text, found.len() as u64))
            })
            .collect();
        self.chunk.clear();
        for l in lines {
            let (text, n) = l?;
            self.stats.num_queries += 1;
            self.stats.num_matched_queries += u64::from(n > 0);
            self.stats.num_matches += n;
            self.out.write_all(text.as_bytes())?;
        }
        Ok(())
    }
}

/// Runs `imprint match`: 0 ok, 1 some input lines were bad, 2 fatal.
pub fn run(a: MatchArgs) -> anyhow::Result<i32> {
    let index = crate::open::index(&a.index)?;
    let inputs = if a.inputs.is_empty() && a.store.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.inputs.clone()
    };
    let mut matcher = Matcher::new(&index, a.max_distance, a.format, crate::output::stdout())?;
    let mut bad: Vec<LineError> = Vec::new();
    let mut failed_items = 0u64;
    let mut low_quality = 0u64;
    // Stores named with --store, then stores among the inputs (found by magic), then images
    // (directories, archives and files that start like an image), then hash lists.
    let (mut stores, mut images, mut lists) = (Vec::new(), Vec::new(), Vec::new());
    for p in &inputs {
        let head = crate::open::file_head(p);
        let is_archive = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("tar"));
        if crate::open::is_store(&head) {
            stores.push(p);
        } else if p.is_dir() || is_archive || imprint::decode::sniff(&head).is_some() {
            images.push(p);
        } else {
            lists.push(p);
        }
    }
    for path in a.store.iter().chain(stores) {
        let store = crate::open::store(path)?;
        for r in store.records() {
            let r = r.with_context(|| format!("reading store {}", path.display()))?;
            // Error records (images that could not be hashed) have nothing to match.
            let (query, quality) = match r.outcome {
                Outcome::Hash(h) => (Query::One(h.hash), h.quality),
                Outcome::Dihedral(d) => (Query::Dihedral(d.hashes), d.quality),
                Outcome::Failed { .. } => {
                    failed_items += 1;
                    continue;
                }
            };
            if quality < a.min_quality {
                low_quality += 1;
                continue;
            }
            matcher.push(r.id.to_string(), query)?;
        }
    }
    if failed_items > 0 {
        diag!("imprint: {failed_items} stored items are error records, not matched");
    }
    let mut failed_images = 0u64;
    if !images.is_empty() {
        let sources = images
            .iter()
            .map(|p| Source::detect(p).with_context(|| format!("cannot read {}", p.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut pipeline = Pipeline::new().dihedral(a.dihedral);
        let hasher = crate::hash::batch_hasher(a.backend, a.gpu)?;
        if hasher.is_gpu() {
            pipeline = pipeline.batch_hasher(Box::new(hasher));
        }
        let mut sink = MatchSink {
            matcher: &mut matcher,
            min_quality: a.min_quality,
            low_quality: 0,
            failed: 0,
            error: None,
        };
        let run = pipeline.run(
            &sources,
            &StandardDecoder::default(),
            &mut sink,
            &mut |_| {},
        );
        if let Some(e) = sink.error.take() {
            return Err(e);
        }
        run.context("hashing the images")?;
        low_quality += sink.low_quality;
        failed_images = sink.failed;
    }
    for input in lists {
        let mut failure = None;
        crate::open::hash_list(input, &mut bad, |e| {
            if e.quality.is_some_and(|q| q < a.min_quality) {
                low_quality += 1;
            } else if failure.is_none() {
                let query = match e.hashes {
                    imprint::hash::Hashes::One(h) => Query::One(h),
                    imprint::hash::Hashes::Dihedral(all) => Query::Dihedral(all),
                };
                failure = matcher.push(e.id, query).err();
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    let stats = matcher.finish()?;
    // Error rows of exported stores and runs are failed items, as error records are.
    let failed_lines = hashlist::take_failed_items(&mut bad);
    if failed_lines > 0 {
        diag!("imprint: {failed_lines} listed items are error records, not matched");
    }
    if low_quality > 0 {
        diag!(
            "imprint: {low_quality} hashes below quality {} skipped",
            a.min_quality
        );
    }
    for b in &bad {
        diag!("imprint: bad line: {b}");
    }
    diag!(
        "imprint: {} hashes checked, {} matched, {} matches, {} bad lines{}",
        stats.num_queries,
        stats.num_matched_queries,
        stats.num_matches,
        bad.len(),
        if failed_images > 0 {
            format!(", {failed_images} images failed")
        } else {
            String::new()
        }
    );
    Ok(i32::from(!bad.is_empty() || failed_images > 0))
}

/// Feeds hashed images to a [`Matcher`]; failures are reported on stderr and counted.
struct MatchSink<'m, 'a, D, W: Write> {
    matcher: &'m mut Matcher<'a, D, W>,
    min_quality: u8,
    low_quality: u64,
    failed: u64,
    /// The matcher's own failure (writing the output), which stops the run.
    error: Option<anyhow::Error>,
}

impl<D: AsRef<[u8]> + Sync, W: Write> Sink for MatchSink<'_, '_, D, W> {
    fn accept(&mut self, id: &str, outcome: &Result<Hashes, ItemError>) -> imprint::Result<()> {
        let (query, quality) = match outcome {
            Ok(Hashes::Plain(h)) => (Query::One(h.hash), h.quality),
            Ok(Hashes::Dihedral(d)) => (Query::Dihedral(d.hashes), d.quality),
            Err(e) => {
                diag!("imprint: {id}: {e}");
                self.failed += 1;
                return Ok(());
            }
        };
        if quality < self.min_quality {
            self.low_quality += 1;
            return Ok(());
        }
        if let Err(e) = self.matcher.push(id.to_owned(), query) {
            let stop = imprint::Error::Io {
                path: "<match output>".into(),
                source: io::Error::other(crate::error_text(&e)),
            };
            self.error = Some(e);
            return Err(stop);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imprint::hash::DIHEDRALS;
    use imprint::index::IndexBuilder;

    fn hash(seed: u64) -> Pdq256 {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        Pdq256::from_words([next(), next(), next(), next()])
    }

    /// Flips the first `n` bits.
    fn near(h: Pdq256, n: u32) -> Pdq256 {
        let mut w = h.to_words();
        for b in 0..n as usize {
            w[b / 64] ^= 1 << (b % 64);
        }
        Pdq256::from_words(w)
    }

    #[test]
    fn chunks_keep_input_order_and_dihedral_queries_match_any_transform() {
        let listed: Vec<Pdq256> = (0..50).map(hash).collect();
        let ids: Vec<String> = (0..50).map(|i| format!("L{i}")).collect();
        let bytes = IndexBuilder::new()
            .hnsw(false)
            .build(&listed, &ids)
            .expect("build");
        let index = Index::from_bytes(bytes).expect("open");
        let mut out = Vec::new();
        let mut m = Matcher::new(&index, 31, Format::Csv, &mut out).expect("header");
        // Over two chunks: every 7th query is near a listed hash, through its plain hash or,
        // for dihedral queries, through one of the other seven.
        let n = 2 * CHUNK + 100;
        let mut want = Vec::new();
        for q in 0..n {
            let unlisted = hash(1_000_000 + q as u64);
            let query = if q % 7 != 0 {
                Query::One(unlisted)
            } else if q % 2 == 0 {
                want.push((q, "original"));
                Query::One(near(listed[q % 50], 5))
            } else {
                // q is an odd multiple of 7 here: q / 14 walks through the seven transforms.
                let t = 1 + (q / 14) % 7;
                let mut all: [Pdq256; 8] = std::array::from_fn(|i| hash((q * 8 + i) as u64 + 7));
                all[t] = near(listed[q % 50], 3);
                want.push((q, DIHEDRALS[t].name()));
                Query::Dihedral(all)
            };
            m.push(format!("Q{q}"), query).expect("push");
        }
        let stats = m.finish().expect("finish");
        assert_eq!(stats.num_queries, n as u64);
        assert_eq!(stats.num_matched_queries, want.len() as u64);
        let text = String::from_utf8(out).expect("utf-8");
        let got: Vec<(usize, String, String)> = text
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    f[0][1..].parse().expect("query number"),
                    f[1].to_owned(),
                    f[3].to_owned(),
                )
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{text}");
        for ((q, lid, t), (wq, wt)) in got.iter().zip(&want) {
            assert_eq!((q, t.as_str()), (wq, *wt));
            assert_eq!(*lid, format!("L{}", q % 50));
        }
    }
}
