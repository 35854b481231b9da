//! `imprint index build|info|verify`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use imprint::files::OutputKind;
use imprint::hashlist::{self, LineError};
use imprint::index::{Index, IndexBuilder, IndexError, DEFAULT_SEED};
use imprint::matching::{InputKind, ListEntries};

use crate::output::diag;

/// Arguments of `imprint index`.
#[derive(Args, Debug)]
pub struct IndexArgs {
    #[command(subcommand)]
    command: IndexCommand,
}

#[derive(Subcommand, Debug)]
enum IndexCommand {
    /// Build an index from CSV/JSONL hash lists (`hash[,quality][,id...]`, a CSV with a header
    /// naming its columns, or `{"hash":..,"id"|"path":..}`) or hash stores.
    Build(BuildArgs),
    /// Print the header: parameters, sizes and sections.
    Info(FileArgs),
    /// Check every checksum, id, posting and neighbour of an index.
    Verify(FileArgs),
}

/// Arguments of `imprint index build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Where to write the index (written to a temporary file, then renamed). It may replace
    /// an existing index or empty file; never an input, a directory or a device.
    #[arg(long, short)]
    out: PathBuf,
    /// Replace --out even when it holds something other than an index.
    #[arg(long)]
    force: bool,
    /// Hash lists to index, in order; `-` reads stdin. A hash store given here is read as with
    /// --store.
    #[arg(required_unless_present = "store")]
    inputs: Vec<PathBuf>,
    /// Hash stores to index (written by `imprint hash --out`), before the lists; may be
    /// repeated. Each hashed item is indexed by its original-orientation hash under its id;
    /// error records are counted and skipped.
    #[arg(long, value_name = "FILE")]
    store: Vec<PathBuf>,
    /// Leave out hashes with quality below Q: stored records, and list lines that give a
    /// quality (lines without one are kept). Near-uniform images hash alike, so a listed one
    /// would match every blank upload; PDQ's authors advise 50.
    #[arg(long, value_name = "Q", default_value_t = 0)]
    min_quality: u8,
    /// MIH substring count, 2..=64 (default: the cheapest expected radius-31 lookup for N, within 8..=32).
    #[arg(long)]
    mih_substrings: Option<u32>,
    /// Skip the HNSW graph (k-nearest queries then scan).
    #[arg(long)]
    no_hnsw: bool,
    /// HNSW neighbours per node on upper levels.
    #[arg(long, default_value_t = imprint::index::DEFAULT_HNSW_M)]
    m: u32,
    /// HNSW neighbours per node on level 0.
    #[arg(long, default_value_t = imprint::index::DEFAULT_HNSW_M0)]
    m0: u32,
    /// HNSW beam width while building.
    #[arg(long, default_value_t = imprint::index::DEFAULT_EF_CONSTRUCTION)]
    ef_construction: u32,
    /// Seed of the HNSW level draws.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Refuse to write the index if any line is bad (default: report them and index the rest).
    #[arg(long)]
    strict: bool,
}

/// Arguments naming one index file.
#[derive(Args, Debug)]
pub struct FileArgs {
    /// The index file.
    file: PathBuf,
}

/// Runs `imprint index`: 0 ok, 1 bad input lines, 2 fatal or corruption found.
pub fn run(args: IndexArgs) -> anyhow::Result<i32> {
    match args.command {
        IndexCommand::Build(a) => build(a),
        IndexCommand::Info(a) => info(a),
        IndexCommand::Verify(a) => verify(a),
    }
}

fn build(a: BuildArgs) -> anyhow::Result<i32> {
    let inputs: Vec<&std::path::Path> = a
        .store
        .iter()
        .chain(&a.inputs)
        .filter(|p| p.as_os_str() != "-")
        .map(PathBuf::as_path)
        .collect();
    imprint::files::check_output(&a.out, OutputKind::Index, &inputs, a.force)
        .with_context(|| format!("cannot write the index to {}", a.out.display()))?;
    let mut list = ListEntries::new(a.min_quality);
    let mut bad: Vec<LineError> = Vec::new();
    // Stores named with --store, then the inputs in order, stores among them found by magic.
    let (stores, lists): (Vec<&PathBuf>, Vec<&PathBuf>) = a
        .inputs
        .iter()
        .partition(|p| InputKind::of(p) == InputKind::Store);
    for path in a.store.iter().chain(stores) {
        let store = crate::open::store(path)?;
        list.add_store(&store)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("reading store {}", path.display()))?;
    }
    let failed_items = list.failed_records;
    if failed_items > 0 {
        diag!("imprint: {failed_items} stored items are error records, not indexed");
    }
    for input in lists {
        crate::open::hash_list(input, &mut bad, |e| list.add_entry(e))?;
    }
    let ListEntries {
        hashes,
        ids,
        low_quality,
        ..
    } = list;
    // Error rows of exported stores and runs are failed items, as error records are.
    let failed_lines = hashlist::take_failed_items(&mut bad);
    if failed_lines > 0 {
        diag!("imprint: {failed_lines} listed items are error records, not indexed");
    }
    for b in &bad {
        diag!("imprint: bad line: {b}");
    }
    if low_quality > 0 {
        diag!(
            "imprint: {low_quality} hashes below quality {} left out",
            a.min_quality
        );
    }
    if a.strict && !bad.is_empty() {
        diag!(
            "imprint: {} bad lines; nothing written (--strict)",
            bad.len()
        );
        return Ok(1);
    }
    let mut builder = IndexBuilder::new()
        .hnsw(!a.no_hnsw)
        .m(a.m)
        .m0(a.m0)
        .ef_construction(a.ef_construction)
        .seed(a.seed);
    if let Some(m) = a.mih_substrings {
        builder = builder.mih_num_substrings(m);
    }
    let start = std::time::Instant::now();
    builder
        .write_file(&a.out, &hashes, &ids)
        .with_context(|| format!("building {}", a.out.display()))?;
    diag!(
        "imprint: indexed {} hashes into {} in {:.2?}{}",
        hashes.len(),
        a.out.display(),
        start.elapsed(),
        if bad.is_empty() {
            String::new()
        } else {
            format!("; {} bad lines skipped", bad.len())
        }
    );
    Ok(i32::from(!bad.is_empty()))
}

fn info(a: FileArgs) -> anyhow::Result<i32> {
    let index = crate::open::index(&a.file)?;
    let i = index.info();
    let n = u64::from(i.num_hashes).max(1);
    let mut text = String::new();
    writeln!(text, "file: {}", a.file.display())?;
    writeln!(text, "format_version: {}", i.format_version)?;
    writeln!(text, "writer_version: {}", i.writer_version)?;
    writeln!(text, "num_hashes: {}", i.num_hashes)?;
    writeln!(text, "len_bytes: {}", i.len_bytes)?;
    writeln!(text, "bytes_per_hash: {:.1}", i.len_bytes as f64 / n as f64)?;
    writeln!(text, "seed: {}", i.seed)?;
    writeln!(text, "mih_num_substrings: {}", i.mih_num_substrings)?;
    writeln!(text, "mih_key_bits: {:?}", i.mih_key_bits)?;
    if i.hnsw_num_levels > 0 {
        writeln!(text, "hnsw_m: {}", i.hnsw_m)?;
        writeln!(text, "hnsw_m0: {}", i.hnsw_m0)?;
        writeln!(text, "hnsw_ef_construction: {}", i.hnsw_ef_construction)?;
        writeln!(text, "hnsw_level_mult: {}", i.hnsw_level_mult)?;
        writeln!(text, "hnsw_num_levels: {}", i.hnsw_num_levels)?;
        writeln!(text, "hnsw_entry_point: {}", i.hnsw_entry_point)?;
    } else {
        writeln!(text, "hnsw: none")?;
    }
    for s in &i.sections {
        writeln!(
            text,
            "section {}: offset {} len_bytes {} ({:.1} B/hash) crc32c {:#010x}",
            s.name,
            s.offset,
            s.len_bytes,
            s.len_bytes as f64 / n as f64,
            s.crc32c
        )?;
    }
    crate::output::out(&text)?;
    Ok(0)
}

fn verify(a: FileArgs) -> anyhow::Result<i32> {
    let outcome = Index::open(&a.file).and_then(|index| index.verify().map(|()| index.len()));
    match outcome {
        Ok(n) => {
            crate::output::out(&format!("{}: ok ({n} hashes)\n", a.file.display()))?;
            Ok(0)
        }
        Err(e @ (IndexError::Io { .. } | IndexError::NotARegularFile { .. })) => {
            Err(e).with_context(|| format!("cannot open index {}", a.file.display()))
        }
        // Corruption found: the fatal status, as `store verify` gives.
        Err(e) => {
            crate::output::out(&format!("{}: FAILED: {e}\n", a.file.display()))?;
            Ok(i32::from(crate::EXIT_FATAL))
        }
    }
}
