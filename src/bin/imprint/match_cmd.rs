//! `imprint match`: the nightly job. Every hash of a run is checked against a list index and
//! each match is written as CSV or JSONL (query id, list id, distance, transform).
//!
//! The core is [`match_records`], which takes any iterator of `(query id, hash)`: hash lists
//! (CSV/JSONL) feed it today, and a hash store reader plugs in the same way.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use imprint::hash::Pdq256;
use imprint::index::{Index, SearchScratch, DEFAULT_MAX_DISTANCE};
use rayon::prelude::*;

use crate::hashlist::{self, csv_field, BadLine};
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
    /// Hash stores to check (written by `imprint hash --out`); may be repeated.
    #[arg(long, value_name = "FILE")]
    store: Vec<PathBuf>,
    /// Hash lists to check (CSV/JSONL, e.g. the output of `imprint hash`); stdin when neither
    /// these nor `--store` are given.
    inputs: Vec<PathBuf>,
}

/// Counts from one [`match_records`] run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchStats {
    /// Hashes checked.
    pub num_queries: u64,
    /// Hashes with at least one match.
    pub num_matched_queries: u64,
    /// Match lines written.
    pub num_matches: u64,
}

/// Queries handled per parallel chunk; output stays in input order.
const CHUNK: usize = 4096;

/// Matches every `(query id, hash)` of `records` against `index` within `max_distance`
/// (exact, MIH), in parallel chunks, writing one line per match to `out` in input order.
pub fn match_records<D, I>(
    index: &Index<D>,
    records: I,
    max_distance: u32,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<MatchStats>
where
    D: AsRef<[u8]> + Sync,
    I: IntoIterator<Item = (String, Pdq256)>,
{
    if format == Format::Csv {
        writeln!(
            out,
            "query_id,list_id,distance,transform,query_hash,match_hash"
        )?;
    }
    let mut stats = MatchStats::default();
    let mut iter = records.into_iter().peekable();
    while iter.peek().is_some() {
        let chunk: Vec<(String, Pdq256)> = iter.by_ref().take(CHUNK).collect();
        let lines: Vec<anyhow::Result<(String, u64)>> = chunk
            .par_iter()
            .map_init(SearchScratch::new, |scratch, (qid, q)| {
                let found = index.search_radius(q, max_distance, scratch)?;
                let mut text = String::new();
                for m in found {
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
        for l in lines {
            let (text, n) = l?;
            stats.num_queries += 1;
            stats.num_matched_queries += u64::from(n > 0);
            stats.num_matches += n;
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(stats)
}

/// Runs `imprint match`: 0 ok, 1 some input lines were bad, 2 fatal.
pub fn run(a: MatchArgs) -> anyhow::Result<i32> {
    let index =
        Index::open(&a.index).with_context(|| format!("opening index {}", a.index.display()))?;
    let inputs = if a.inputs.is_empty() && a.store.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        a.inputs.clone()
    };
    let mut records = Vec::new();
    let mut bad: Vec<BadLine> = Vec::new();
    let mut failed_items = 0u64;
    for path in &a.store {
        let store = imprint::store::Store::open(path)
            .with_context(|| format!("cannot open store {}", path.display()))?;
        for r in store.records() {
            let r = r.with_context(|| format!("reading store {}", path.display()))?;
            // Error records (images that could not be hashed) have nothing to match; dihedral
            // records are matched by their original-orientation hash.
            match r.hash() {
                Some(h) => records.push((r.id.to_string(), h.hash)),
                None => failed_items += 1,
            }
        }
    }
    if failed_items > 0 {
        eprintln!("imprint: {failed_items} stored items are error records, not matched");
    }
    for input in &inputs {
        hashlist::read_path(input, &mut bad, |e| records.push((e.id, e.hash)))?;
    }
    for b in &bad {
        eprintln!("imprint: bad line: {b}");
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let stats = match_records(&index, records, a.max_distance, a.format, &mut out)?;
    eprintln!(
        "imprint: {} hashes checked, {} matched, {} matches, {} bad lines",
        stats.num_queries,
        stats.num_matched_queries,
        stats.num_matches,
        bad.len()
    );
    Ok(i32::from(!bad.is_empty()))
}
