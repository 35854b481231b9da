//! `imprint store verify|info|export|merge`: hash store maintenance.

use crate::output::diag;
use crate::{EXIT_FATAL, EXIT_OK};
use anyhow::{Context, Result};
use imprint::files::OutputKind;
use imprint::hashlist::{self, Writer};
use imprint::store::{HashParams, MergeOptions, Outcome, Store};
use std::path::PathBuf;

/// `imprint store` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum StoreCommand {
    /// Check every block checksum and record of a store.
    Verify {
        /// The store file.
        file: PathBuf,
    },
    /// Print a store's format, layout and hashing parameters.
    Info {
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
    /// if any input has one, else its first error record. The new store appears only once
    /// complete. Inputs must share their hashing parameters.
    Merge {
        /// The new store (must not exist).
        out: PathBuf,
        /// Input stores.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The hashing parameters of format-1 inputs, which do not record them, e.g.
        /// `convention=full-resolution,jpeg-min-side=0,exif=false,id-scheme=1` (see `imprint
        /// store info` of a store the same run settings wrote).
        #[arg(long, value_name = "SPEC")]
        assume_v1_params: Option<HashParams>,
        /// Skip damaged input blocks, naming each, instead of failing (their records are
        /// missing from the output; the exit status is then 1).
        #[arg(long)]
        skip_corrupt_blocks: bool,
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
        StoreCommand::Verify { file } => verify(&file),
        StoreCommand::Info { file } => info(&file),
        StoreCommand::Export { file, format } => export(&file, format),
        StoreCommand::Merge {
            out,
            inputs,
            assume_v1_params,
            skip_corrupt_blocks,
        } => merge(
            &out,
            &inputs,
            &MergeOptions::new()
                .assume_v1_params(assume_v1_params)
                .skip_corrupt_blocks(skip_corrupt_blocks),
        ),
    }
}

/// The hashing parameters as `store info` and `store verify` print them.
fn params_text(store: &Store<impl AsRef<[u8]>>) -> String {
    match store.info().hash_params {
        Some(p) => p.to_string(),
        None => "not recorded (format 1)".to_owned(),
    }
}

fn verify(file: &std::path::Path) -> Result<u8> {
    let store = crate::open::store(file)?;
    match store.verify() {
        Ok(r) => {
            // A torn tail was logged as a warning by `Store::open`.
            crate::output::out(&format!(
                "{}: ok, format v{}, {} blocks, {} records ({} errors)\n",
                file.display(),
                store.info().format_version,
                r.num_blocks,
                r.num_records,
                r.num_error_records,
            ))?;
            Ok(EXIT_OK)
        }
        Err(e) => {
            diag!("imprint: {}: {e}", file.display());
            Ok(EXIT_FATAL)
        }
    }
}

fn info(file: &std::path::Path) -> Result<u8> {
    let store = crate::open::store(file)?;
    let i = store.info();
    crate::output::out(&format!(
        "file: {}\nformat: v{}\nblock size: {}\nrecord size: {}\ndihedral: {}\nhash params: {}\n\
         blocks: {}\ntorn tail bytes: {}\n",
        file.display(),
        i.format_version,
        i.block_size,
        i.record_size,
        i.dihedral,
        params_text(&store),
        store.num_blocks(),
        store.torn_tail_bytes()
    ))?;
    Ok(EXIT_OK)
}

fn export(file: &std::path::Path, format: ExportFormat) -> Result<u8> {
    let store = crate::open::store(file)?;
    let dihedral = store.info().dihedral;
    let list_format = match format {
        ExportFormat::Csv => hashlist::Format::HeadedCsv,
        ExportFormat::Jsonl => hashlist::Format::Jsonl,
    };
    let mut out = Writer::new(crate::output::stdout(), list_format).dihedral(dihedral);
    out.write_header()?;
    for r in store.records() {
        let r = r.with_context(|| format!("cannot read {}", file.display()))?;
        match r.outcome {
            Outcome::Hashed(h) => out.write_entry(r.id, &h)?,
            Outcome::Failed { cause } => out.write_failed(r.id, cause)?,
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn merge(out: &std::path::Path, inputs: &[PathBuf], opts: &MergeOptions) -> Result<u8> {
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    // Never an input or a device; the merge itself refuses any other existing file.
    imprint::files::check_output(out, OutputKind::Store, &paths, true)
        .with_context(|| format!("cannot merge into {}", out.display()))?;
    let report = imprint::store::merge(out, inputs, opts)
        .with_context(|| format!("cannot merge into {}", out.display()))?;
    for s in &report.skipped_blocks {
        diag!(
            "imprint: warning: {}: skipped block {}: {}",
            s.path.display(),
            s.block,
            s.error
        );
    }
    diag!(
        "imprint: merged {} stores into {}: {} records, {} duplicates dropped{}; hash params {}",
        inputs.len(),
        out.display(),
        report.num_kept,
        report.num_dropped,
        match report.skipped_blocks.len() {
            0 => String::new(),
            n => format!(", {n} corrupt blocks skipped"),
        },
        report.params
    );
    Ok(if report.skipped_blocks.is_empty() {
        EXIT_OK
    } else {
        crate::EXIT_ITEM_FAILURES
    })
}
