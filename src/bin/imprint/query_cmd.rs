//! `imprint query`: look hashes up in an index.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use imprint::hash::Pdq256;
use imprint::hashlist::csv_field;
use imprint::index::{Index, Match, SearchScratch, DEFAULT_EF_SEARCH, DEFAULT_MAX_DISTANCE};
use imprint::lines::{BoundedLines, MAX_LINE_BYTES};

use crate::output::diag;

/// Output format of `query` and `match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

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
    let mut scratch = SearchScratch::new();
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
        let found: Vec<Match> = search(&index, &a, &qs, &mut scratch)
            .with_context(|| format!("searching {}", a.index.display()))?;
        for m in &found {
            // With --dihedral, the query hash shown is the transform's hash that matched.
            let q = qs.get(m.transform as usize).unwrap_or(&qs[0]);
            write_match(&mut out, &index, &a, q, m)?;
        }
    }
    out.flush()?;
    Ok(i32::from(failures > 0))
}

fn search(
    index: &Index,
    a: &QueryArgs,
    qs: &[Pdq256],
    scratch: &mut SearchScratch,
) -> imprint::index::Result<Vec<Match>> {
    let radius = a.max_distance.unwrap_or(DEFAULT_MAX_DISTANCE);
    if let Some(k) = a.k {
        // k-nearest over all transforms: the k best (entry, transform) pairs, best per entry.
        let mut all: Vec<Match> = Vec::new();
        for (t, q) in qs.iter().enumerate() {
            let found = if a.exact || !index.has_graph() {
                index.search_knn_flat(q, k, scratch)?
            } else {
                index.search_knn(q, k, a.ef, scratch)?
            };
            all.extend(found.iter().map(|m| Match {
                transform: imprint::hash::DIHEDRALS[t],
                ..*m
            }));
        }
        all.sort_by_key(|m| (m.record, m.distance, m.transform));
        all.dedup_by_key(|m| m.record);
        all.sort_by_key(|m| (m.distance, m.record));
        all.truncate(k);
        if let Some(d) = a.max_distance {
            all.retain(|m| m.distance <= d);
        }
        return Ok(all);
    }
    if a.dihedral {
        let qs: [Pdq256; 8] = qs
            .try_into()
            .expect("parse_query returns 8 hashes with --dihedral");
        if a.exact {
            let mut all = Vec::new();
            for (t, q) in qs.iter().enumerate() {
                all.extend(
                    index
                        .search_radius_flat(q, radius, scratch)?
                        .iter()
                        .map(|m| Match {
                            transform: imprint::hash::DIHEDRALS[t],
                            ..*m
                        }),
                );
            }
            all.sort_by_key(|m| (m.record, m.distance, m.transform));
            all.dedup_by_key(|m| m.record);
            all.sort_by_key(|m| (m.distance, m.record));
            return Ok(all);
        }
        return Ok(index.search_radius_dihedral(&qs, radius, scratch)?.to_vec());
    }
    Ok(if a.exact {
        index.search_radius_flat(&qs[0], radius, scratch)?.to_vec()
    } else {
        index.search_radius(&qs[0], radius, scratch)?.to_vec()
    })
}

fn write_match(
    out: &mut impl Write,
    index: &Index,
    a: &QueryArgs,
    q: &Pdq256,
    m: &Match,
) -> anyhow::Result<()> {
    let hash = index
        .hash(m.record)
        .context("search returned a record outside the index")?;
    let id = index.id(m.record).context("reading a match id")?;
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
