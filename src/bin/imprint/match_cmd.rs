//! `imprint match`: the nightly job. Every hash of a run is checked against a list index and
//! each match is written as CSV or JSONL (query id, list id, distance, transform).
//!
//! The matching is the library's ([`imprint::matching`]): queries from hash stores, hash lists
//! (CSV/JSONL) and images hashed on the way, one hash or the 8 dihedral hashes of a
//! `--dihedral` run; this module parses the arguments and formats the matches.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use imprint::hashlist::{self, csv_field, LineError};
use imprint::index::DEFAULT_MAX_DISTANCE;
use imprint::matching::{InputKind, ListMatch, Matcher};
use imprint::pipeline::{Pipeline, Source, StandardDecoder};
use imprint::Backend;

use crate::output::diag;
use crate::output::ResultFormat as Format;

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
    /// How to search (both give the same matches): `mih`, one multi-index lookup per query
    /// hash; `scan`, a blocked scan of every listed hash against each chunk of 4096 queries,
    /// O(queries × list): the exact check of the lookups, slower on every list measured.
    #[arg(long, value_enum, default_value_t = Method::Mih)]
    method: Method,
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

/// `--method` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    /// Multi-index hashing lookups.
    Mih,
    /// A blocked scan of the list.
    Scan,
}

/// One match as a line of output: CSV (RFC 4180 quoting) or JSONL.
fn match_line(format: Format, query_id: &str, m: &ListMatch<'_>) -> String {
    match format {
        Format::Csv => format!(
            "{},{},{},{},{},{}\n",
            csv_field(query_id),
            csv_field(m.list_id),
            m.distance,
            m.transform.name(),
            m.query_hash,
            m.list_hash
        ),
        Format::Jsonl => format!(
            "{}\n",
            serde_json::json!({
                "query_id": query_id,
                "list_id": m.list_id,
                "distance": m.distance,
                "transform": m.transform.name(),
                "query_hash": m.query_hash.to_string(),
                "match_hash": m.list_hash.to_string(),
                "record": m.record.0,
            })
        ),
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
    let mut out = crate::output::stdout();
    if a.format == Format::Csv {
        writeln!(
            out,
            "query_id,list_id,distance,transform,query_hash,match_hash"
        )?;
    }
    let format = a.format;
    let matcher = Matcher::new(&index, a.max_distance).flat_scan(a.method == Method::Scan);
    let mut stream = matcher.stream(
        |qid: &str, found: &[ListMatch<'_>]| {
            found
                .iter()
                .map(|m| match_line(format, qid, m))
                .collect::<String>()
        },
        |text: String| out.write_all(text.as_bytes()),
    );
    let mut bad: Vec<LineError> = Vec::new();
    let mut failed_items = 0u64;
    let mut low_quality = 0u64;
    // Stores named with --store, then stores among the inputs (found by magic), then images
    // (directories, archives and files that start like an image), then hash lists.
    let (mut stores, mut images, mut lists) = (Vec::new(), Vec::new(), Vec::new());
    for p in &inputs {
        match InputKind::of(p) {
            InputKind::Store => stores.push(p),
            InputKind::Images => images.push(p),
            InputKind::HashList => lists.push(p),
        }
    }
    for path in a.store.iter().chain(stores) {
        let store = crate::open::store(path)?;
        let counts = stream
            .push_store(&store, a.min_quality)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("reading store {}", path.display()))?;
        failed_items += counts.failed_records;
        low_quality += counts.low_quality;
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
        let pipeline = Pipeline::new()
            .dihedral(a.dihedral)
            .hasher(crate::args::batch_hasher(a.backend, a.gpu)?);
        let mut sink = stream.sink(a.min_quality, |id, e| diag!("imprint: {id}: {e}"));
        let run = pipeline.run(
            &sources,
            &StandardDecoder::default(),
            &mut sink,
            &mut |_| {},
        );
        let counts = sink.counts();
        run.context("hashing the images")?;
        low_quality += counts.low_quality;
        failed_images = counts.failed;
    }
    for input in lists {
        let mut failure = None;
        crate::open::hash_list(input, &mut bad, |e| {
            if failure.is_none() {
                match stream.push_entry(e, a.min_quality) {
                    Ok(pushed) => low_quality += u64::from(!pushed),
                    Err(e) => failure = Some(e),
                }
            }
        })?;
        if let Some(e) = failure {
            return Err(e.into());
        }
    }
    let stats = stream.finish()?;
    out.flush()?;
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
