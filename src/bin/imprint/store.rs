//! `imprint store verify|export|merge`: hash store maintenance.

use crate::hashlist::csv_field;
use crate::output::{diag, json_string};
use crate::{EXIT_FATAL, EXIT_OK};
use anyhow::{bail, Context, Result};
use imprint::files::OutputKind;
use imprint::pipeline::SkipSet;
use imprint::store::{Outcome, StoreOptions, StoreWriter};
use std::io::Write;
use std::path::PathBuf;

/// `imprint store` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum StoreCommand {
    /// Check every block checksum and record of a store.
    Verify {
        /// The store file.
        file: PathBuf,
    },
    /// Print every record.
    Export {
        /// The store file.
        file: PathBuf,
        /// `csv`: `id,hash,quality,error` rows with a header (dihedral stores add `dihedral`,
        /// the 8 hashes joined by `;`); `jsonl`: one object per record.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
    },
    /// Combine stores (e.g. shard outputs) into a new one holding every item once: its hash
    /// if any input has one, else its first error record.
    Merge {
        /// The new store (must not exist).
        out: PathBuf,
        /// Input stores.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
}

/// `--format` of `store export`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Runs an `imprint store` subcommand.
pub fn run(cmd: StoreCommand) -> Result<u8> {
    match cmd {
        StoreCommand::Verify { file } => {
            let store = crate::open::store(&file)?;
            match store.verify() {
                Ok(r) => {
                    crate::output::out(&format!(
                        "{}: ok, format v{}, {} blocks, {} records ({} errors){}\n",
                        file.display(),
                        store.info().format_version,
                        r.num_blocks,
                        r.num_records,
                        r.num_error_records,
                        if r.torn_tail_bytes > 0 {
                            format!(", torn tail of {} bytes ignored", r.torn_tail_bytes)
                        } else {
                            String::new()
                        }
                    ))?;
                    Ok(EXIT_OK)
                }
                Err(e) => {
                    diag!("imprint: {}: {e}", file.display());
                    Ok(EXIT_FATAL)
                }
            }
        }
        StoreCommand::Export { file, format } => export(&file, format),
        StoreCommand::Merge { out, inputs } => merge(&out, &inputs),
    }
}

fn export(file: &std::path::Path, format: ExportFormat) -> Result<u8> {
    let store = crate::open::store(file)?;
    let dihedral = store.info().dihedral;
    let mut out = crate::output::stdout();
    if format == ExportFormat::Csv {
        writeln!(
            out,
            "id,hash,quality,error{}",
            if dihedral { ",dihedral" } else { "" }
        )?;
    }
    for r in store.records() {
        let r = r.with_context(|| format!("cannot read {}", file.display()))?;
        let all: Option<Vec<String>> = match r.outcome {
            Outcome::Dihedral(d) => Some(d.hashes.iter().map(ToString::to_string).collect()),
            _ => None,
        };
        match (format, r.outcome, r.hash()) {
            (ExportFormat::Csv, Outcome::Failed { cause }, _) => {
                writeln!(
                    out,
                    "{},,,{}{}",
                    csv_field(r.id),
                    csv_field(cause),
                    if dihedral { "," } else { "" }
                )?;
            }
            (ExportFormat::Csv, _, Some(h)) => {
                write!(out, "{},{},{},", csv_field(r.id), h.hash, h.quality)?;
                match &all {
                    Some(v) => writeln!(out, ",{}", v.join(";"))?,
                    None => writeln!(out)?,
                }
            }
            (ExportFormat::Jsonl, Outcome::Failed { cause }, _) => {
                writeln!(
                    out,
                    "{{\"id\":{},\"error\":{}}}",
                    json_string(r.id),
                    json_string(cause)
                )?;
            }
            (ExportFormat::Jsonl, _, Some(h)) => {
                write!(
                    out,
                    "{{\"id\":{},\"hash\":\"{}\",\"quality\":{}",
                    json_string(r.id),
                    h.hash,
                    h.quality
                )?;
                if let Some(v) = &all {
                    let q: Vec<String> = v.iter().map(|h| format!("\"{h}\"")).collect();
                    write!(out, ",\"dihedral\":[{}]", q.join(","))?;
                }
                writeln!(out, "}}")?;
            }
            (_, _, None) => {}
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn merge(out: &std::path::Path, inputs: &[PathBuf]) -> Result<u8> {
    let mut stores = Vec::new();
    for p in inputs {
        stores.push((p, crate::open::store(p)?));
    }
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    // Never an input or a device; any other existing file is refused below.
    imprint::files::check_output(out, OutputKind::Store, &paths, true)
        .with_context(|| format!("cannot merge into {}", out.display()))?;
    let dihedral = stores[0].1.info().dihedral;
    if let Some((p, _)) = stores.iter().find(|(_, s)| s.info().dihedral != dihedral) {
        bail!(
            "{} and {} differ in dihedral hashes; merge stores of one kind",
            inputs[0].display(),
            p.display()
        );
    }
    // Pass 1: which ids have a hash anywhere, so an error record never shadows a success.
    let mut hashed = SkipSet::new();
    for (p, s) in &stores {
        for r in s.records() {
            let r = r.with_context(|| format!("cannot read {}", p.display()))?;
            if !r.is_error() {
                hashed.insert(r.id);
            }
        }
    }
    if out.exists() {
        bail!("{} already exists; merge writes a new store", out.display());
    }
    let mut w = StoreWriter::create(out, &StoreOptions::new().dihedral(dihedral))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = SkipSet::new();
    let (mut kept, mut dropped) = (0u64, 0u64);
    for (p, s) in &stores {
        for r in s.records() {
            let r = r.with_context(|| format!("cannot read {}", p.display()))?;
            if written.contains(r.id) || (r.is_error() && hashed.contains(r.id)) {
                dropped += 1;
                continue;
            }
            match r.outcome {
                Outcome::Hash(h) => w.append_hash(r.id, &h),
                Outcome::Dihedral(d) => w.append_dihedral(r.id, &d),
                Outcome::Failed { cause } => w.append_error(r.id, cause),
            }
            .with_context(|| format!("cannot write {}", out.display()))?;
            written.insert(r.id);
            kept += 1;
        }
    }
    w.finish()
        .with_context(|| format!("cannot write {}", out.display()))?;
    diag!(
        "imprint: merged {} stores into {}: {kept} records, {dropped} duplicates dropped",
        inputs.len(),
        out.display()
    );
    Ok(EXIT_OK)
}
