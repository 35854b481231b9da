//! `imprint query`: look hashes up in an index.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use imprint::hash::{Hashes, Pdq256};
use imprint::hashlist::csv_field;
use imprint::index::{SearchScratch, DEFAULT_EF_SEARCH, DEFAULT_MAX_DISTANCE};
use imprint::lines::{BoundedLines, MAX_LINE_BYTES};
use imprint::matching::{ListMatch, Matcher};

use crate::output::{diag, ResultFormat as Format};

/// Arguments of `imprint query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The index file.
    #[arg(long)]
    index: PathBuf,
    /// Report matches within this many bits (default 31; with --k, a filter on the k results).
    #[arg(long)]
    max_distance: Option<u32>,
    /// Return the k nearest entries (HNSW, approximate; exact with --exact) instead of all
    /// entries within the radius.
    #[arg(long)]
    k: Option<usize>,
    /// HNSW beam width for --k.
    #[arg(long, default_value_t = DEFAULT_EF_SEARCH)]
    ef: usize,
    /// Answer by a flat scan of every hash (the oracle; radius results are the same as the
    /// default MIH search, k-nearest results become exact).
    #[arg(long)]
    exact: bool,
    /// Each query is the 8 dihedral hashes of one image (original, rot90, rot180, rot270,
    /// flipx, flipy, flipplus1, flipminus1) separated by commas, exactly 8 (fields after them
    /// that are not hashes, such as `imprint hash --dihedral`'s quality and path, are
    /// ignored); the best transform per entry is reported.
    #[arg(long)]
    dihedral: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Query hashes (64 hex digits; an empty one is an invalid query); read one per line from
    /// stdin when none are given (blank lines skipped). Fields after a query's hash are ignored.
    hashes: Vec<String>,
}

fn parse_query(s: &str, dihedral: bool) -> Result<Vec<Pdq256>, String> {
    // Tolerate hash-list lines: the first field is the hash, the rest is ignored.
    let fields: Vec<&str> = s
        .split([',', ' ', '\t'])
        .filter(|f| !f.is_empty())
        .collect();
    let want = if dihedral { 8 } else { 1 };
    if fields.is_empty() {
        return Err("empty query: expected a hash of 64 hex digits".to_owned());
    }
    if fields.len() < want {
        return Err(format!("expected {want} hashes, found {}", fields.len()));
    }
    // A dihedral query is exactly 8 hashes: a ninth is a mistake, not a field to ignore.
    let hashes = fields
        .iter()
        .take_while(|f| f.parse::<Pdq256>().is_ok())
        .count();
    if dihedral && hashes > want {
        return Err(format!(
            "expected exactly {want} hashes (one image's dihedral hashes), found {hashes}"
        ));
    }
    fields[..want]
        .iter()
        .map(|f| {
            f.parse::<Pdq256>()
                .map_err(|e| format!("bad hash {f:?}: {e}"))
        })
        .collect()
}

/// Runs `imprint query`: 0 ok, 1 some queries were invalid, 2 fatal.
pub fn run(a: QueryArgs) -> anyhow::Result<i32> {
    let index = crate::open::index(&a.index)?;
    // Queries from the arguments, or streamed from stdin a line at a time.
    let mut stdin_lines = a
        .hashes
        .is_empty()
        .then(|| BoundedLines::new(io::stdin().lock(), MAX_LINE_BYTES));
    let mut args = a.hashes.iter();
    // Each query's text, or why its line was not read.
    let mut next_query = move || -> anyhow::Result<Option<Result<String, String>>> {
        let Some(lines) = &mut stdin_lines else {
            return Ok(args.next().cloned().map(Ok));
        };
        let line = lines.next_line().context("reading queries from stdin")?;
        Ok(line.map(|l| l.bytes().map(|b| String::from_utf8_lossy(b).into_owned())))
    };
    let mut out = crate::output::stdout();
    if a.format == Format::Csv {
        write!(out, "query_hash,match_hash,distance,id")?;
        if a.dihedral {
            write!(out, ",transform")?;
        }
        writeln!(out)?;
    }
    let radius = a.max_distance.unwrap_or(DEFAULT_MAX_DISTANCE);
    let matcher = Matcher::new(&index, radius).flat_scan(a.exact);
    let mut scratch = SearchScratch::new();
    let mut found = Vec::new();
    let mut failures = 0;
    let mut n = 0;
    while let Some(line) = next_query()? {
        n += 1;
        // Blank lines between queries read from stdin are skipped; an empty argument is a
        // query, and invalid.
        if a.hashes.is_empty() && line.as_ref().is_ok_and(|l| l.trim().is_empty()) {
            continue;
        }
        let qs = match line.and_then(|l| parse_query(&l, a.dihedral)) {
            Ok(q) => q,
            Err(e) => {
                diag!("imprint: query {n}: {e}");
                failures += 1;
                continue;
            }
        };
        let query = match <[Pdq256; 8]>::try_from(qs.as_slice()) {
            Ok(all) => Hashes::Dihedral(all),
            Err(_) => Hashes::One(qs[0]),
        };
        found.clear();
        let searched = match a.k {
            // k-nearest over all transforms: the k best entries, each with its best transform.
            Some(k) => matcher.nearest(&query, k, a.ef, &mut scratch, &mut found),
            None => matcher.find(&query, &mut scratch, &mut found),
        };
        searched.with_context(|| format!("searching {}", a.index.display()))?;
        if let (Some(_), Some(d)) = (a.k, a.max_distance) {
            found.retain(|m| m.distance <= d);
        }
        for m in &found {
            write_match(&mut out, &a, m)?;
        }
    }
    out.flush()?;
    Ok(i32::from(failures > 0))
}

/// One match as a line: with --dihedral, the query hash shown is the transform's that matched.
fn write_match(out: &mut impl Write, a: &QueryArgs, m: &ListMatch<'_>) -> anyhow::Result<()> {
    let (q, hash, id) = (m.query_hash, m.list_hash, m.list_id);
    match a.format {
        Format::Csv => {
            write!(out, "{q},{hash},{},{}", m.distance, csv_field(id))?;
            if a.dihedral {
                write!(out, ",{}", m.transform.name())?;
            }
            writeln!(out)?;
        }
        Format::Jsonl => {
            let v = serde_json::json!({
                "query_hash": q.to_string(),
                "match_hash": hash.to_string(),
                "distance": m.distance,
                "id": id,
                "record": m.record.0,
                "transform": m.transform.name(),
            });
            writeln!(out, "{v}")?;
        }
    }
    Ok(())
}
