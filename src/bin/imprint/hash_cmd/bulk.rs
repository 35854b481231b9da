//! `imprint hash ... --out FILE`: a bulk run into a hash store (resumable, shardable).

use super::HashArgs;
use crate::output::diag;
use crate::{EXIT_ITEM_FAILURES, EXIT_OK};
use anyhow::{bail, Context, Result};
use imprint::decode::FAST_JPEG_MIN_SIDE;
use imprint::files::OutputKind;
use imprint::pipeline::{BulkReport, BulkRun, CauseTally, Progress, Shard, Source, Start};
use imprint::store::StoreOptions;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Options of `imprint hash` for bulk runs into a store.
#[derive(clap::Args, Debug)]
pub struct BulkArgs {
    /// Write a hash store to FILE instead of printing hashes. Every item gets a record: its
    /// hash, or an error record with the cause. Files found in directories and archives that
    /// do not start like an image are passed over and counted; named ones fail.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run: keep the records in --out (dropping a torn tail left by a
    /// crash) and skip the items they cover. The items that were being decoded when the run
    /// ended (listed in FILE.journal) are decoded first, one at a time; one that ends the
    /// process twice that way is recorded as a failure, so that a crashing file cannot stop
    /// every resumed run.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// With --resume: also try again the items the store holds only an error record for (a
    /// read that failed during a storage outage, a format a later version decodes). Their new
    /// outcome follows the old error record (unless it fails again with the same cause, which
    /// adds nothing); `imprint store merge` keeps the hash. Items that ended the process are
    /// not tried again.
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,
    /// Threads reading files ahead of the decoders (default: two per decode thread, at least
    /// 4). Raise it where each read waits on the network (NFS, object-store mounts); at most
    /// 64 per core.
    #[arg(long, value_name = "N", value_parser = crate::args::read_threads)]
    pub read_threads: Option<usize>,
    /// Process only shard I of N (0-based): a deterministic partition by a hash of the item id.
    #[arg(long, value_name = "I/N", requires = "out", conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// Split the input into N shards and process the one numbered by the environment variable
    /// JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs) or SLURM_ARRAY_TASK_ID.
    #[arg(long, value_name = "N", requires = "out")]
    pub shards: Option<u64>,
    /// Manifest of items: one path per line, or, when the name ends in `.csv`, `id,path` rows or
    /// a header naming the `path` and `id` columns (a `bench make-dataset` manifest). Relative
    /// paths are resolved against the manifest's directory. Repeatable.
    #[arg(long, value_name = "FILE", requires = "out")]
    pub manifest: Vec<PathBuf>,
    /// With --fast: the smallest side a JPEG is scaled down to while decoding (under 2^24:
    /// stores record it in 24 bits beside the rule's tag).
    #[arg(long, hide = true, value_name = "PX", default_value_t = FAST_JPEG_MIN_SIDE,
          value_parser = clap::value_parser!(u32).range(1..=0xFF_FFFF))]
    pub fast_min_side: u32,
    /// Store block size in bytes (tests use small blocks to exercise recovery).
    #[arg(long, hide = true, default_value_t = imprint::store::DEFAULT_BLOCK_SIZE)]
    pub store_block_size: u32,
    /// Do not show progress: neither the bar on a terminal nor the log lines.
    #[arg(long)]
    pub no_progress: bool,
    /// When standard error is not a terminal (a job's log), print a progress line every SECS
    /// seconds of the run (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub log_every: f64,
}

fn sources(args: &HashArgs) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for p in &args.paths {
        if p.as_os_str() == "-" {
            bail!("--out cannot read an image from standard input: a run must be resumable");
        }
        out.push(Source::detect(p).with_context(|| format!("cannot read {}", p.display()))?);
    }
    if let Some(list) = &args.files_from {
        if list.as_os_str() == "-" {
            bail!("--out needs a manifest file; standard input cannot be resumed or sharded");
        }
        out.push(Source::List(list.clone()));
    }
    out.extend(args.bulk.manifest.iter().cloned().map(Source::Manifest));
    if out.is_empty() {
        bail!("no input: give files, directories, .tar archives or --manifest FILE");
    }
    Ok(out)
}

/// Opens the run into `out`: new, or resumed with its journal, saying what resuming found.
fn open_run(out: &Path, args: &BulkArgs, opts: &StoreOptions) -> Result<BulkRun> {
    let start = if args.resume {
        Start::Resume {
            retry_failed: args.retry_failed,
        }
    } else {
        Start::New
    };
    let run = match BulkRun::open(out, start, opts) {
        Err(imprint::Error::RunExists { .. }) => bail!(
            "{} already exists: pass --resume to continue that run, or choose another file",
            out.display()
        ),
        r => r?,
    };
    let Some(resumed) = run.resumed() else {
        return Ok(run);
    };
    if resumed.truncated_bytes > 0 {
        diag!(
            "imprint: {}: dropped a torn tail of {} bytes from an interrupted run",
            out.display(),
            resumed.truncated_bytes
        );
    }
    let pending = resumed.pending_suspects;
    if pending > 0 {
        let (items, were) = if pending == 1 {
            ("item", "was")
        } else {
            ("items", "were")
        };
        diag!(
            "imprint: {}: {pending} {items} {were} being decoded when the last run ended; \
             decoding them one at a time first",
            out.display()
        );
    }
    for (id, strikes) in &resumed.struck_out {
        diag!(
            "imprint: {id}: ended the process {strikes} times while decoded alone; \
             recording it as a failure"
        );
    }
    Ok(run)
}

/// Lines naming the `top` most frequent causes of failure and how many items the rest hold;
/// none when nothing failed.
fn cause_summary<S>(tally: &CauseTally<S>, top: usize) -> Vec<String> {
    let (by_count, rest) = tally.top(top);
    if by_count.is_empty() {
        return Vec::new();
    }
    let width = by_count[0].1.max(rest).to_string().len();
    let mut lines = vec!["failures by cause:".to_owned()];
    lines.extend(
        by_count
            .iter()
            .map(|(cause, n)| format!("  {n:>width$}  {cause}")),
    );
    if rest > 0 {
        lines.push(format!(
            "  {rest:>width$}  of other causes (`imprint store export` lists every record)"
        ));
    }
    lines
}

/// A progress line for a job's log: counts, rate, and the share done when the total is known.
fn progress_line(p: &Progress, elapsed: std::time::Duration) -> String {
    let done = p.num_ok + p.num_failed;
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let share = match p.total {
        Some(t) if t > 0 => format!(" of {t} ({:.1}%)", 100.0 * done as f64 / t as f64),
        _ => String::new(),
    };
    format!(
        "progress: {done}{share} items after {secs:.0}s ({} hashed, {} failed, {} skipped{}), \
         {rate:.1} items/s",
        p.num_ok,
        p.num_failed,
        p.num_skipped,
        not_images(p.num_not_images)
    )
}

/// `, N not images` for a count of passed-over files, or nothing when there were none.
fn not_images(n: u64) -> String {
    match n {
        0 => String::new(),
        n => format!(", {n} not images"),
    }
}

/// Runs `imprint hash ... --out FILE`.
pub fn run(args: &HashArgs) -> Result<u8> {
    let out = args.bulk.out.as_deref().context("--out is required here")?;
    let sources = sources(args)?;
    let shard = match (args.bulk.shard, args.bulk.shards) {
        (Some(s), _) => Some(s),
        (None, Some(n)) => Some(Shard::from_env(n).with_context(|| format!("--shards {n}"))?),
        (None, None) => None,
    };
    // Never an input or a device. Any existing file is refused below unless resumed (and a
    // resumed file must be a store), so the kind needs no check here.
    let inputs: Vec<&Path> = args
        .paths
        .iter()
        .chain(&args.files_from)
        .chain(&args.bulk.manifest)
        .map(PathBuf::as_path)
        .collect();
    imprint::files::check_output(out, OutputKind::Store, &inputs, true)
        .with_context(|| format!("cannot write the store {}", out.display()))?;
    let decoder = args.decoder();
    let store_opts = StoreOptions::new()
        .dihedral(args.dihedral)
        .hash_params(decoder.hash_params())
        .block_size(args.bulk.store_block_size);
    let run = open_run(out, &args.bulk, &store_opts)?;
    let pipeline = args.pipeline()?.shard(shard);

    let terminal = std::io::stderr().is_terminal();
    let style = |template| {
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    };
    // Sized by the first progress call when the run knows its total (the pipeline counts the
    // manifests' items before it starts, once).
    let bar = (!args.bulk.no_progress && terminal).then(|| {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(style("{elapsed_precise} {pos} items {per_sec} {msg}"));
        b
    });
    let mut sized = false;
    let mut last_failed = 0;
    let log_every = (!args.bulk.no_progress && !terminal && args.bulk.log_every > 0.0)
        .then(|| std::time::Duration::try_from_secs_f64(args.bulk.log_every).ok())
        .flatten();
    let started = std::time::Instant::now();
    let mut logged = started;
    let mut progress = |p: &Progress| {
        if let Some(b) = &bar {
            if !std::mem::replace(&mut sized, true) {
                if let Some(total) = p.total {
                    b.set_length(total);
                    b.set_style(style(
                        "{elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} {msg} ETA {eta}",
                    ));
                }
            }
            b.set_position(p.num_ok + p.num_failed);
            if p.num_failed != last_failed {
                last_failed = p.num_failed;
                b.set_message(format!("{} errors", p.num_failed));
            }
        }
        if let Some(every) = log_every {
            if logged.elapsed() >= every {
                logged = std::time::Instant::now();
                diag!("imprint: {}", progress_line(p, started.elapsed()));
            }
        }
    };
    let BulkReport { report, causes } = run
        .run(pipeline, &sources, &decoder, &mut progress)
        .with_context(|| format!("run into {} stopped", out.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    diag!(
        "imprint: {} hashed, {} failed, {} skipped{} in {:.1}s ({:.1} images/s){} -> {}",
        report.num_ok,
        report.num_failed,
        report.num_skipped,
        not_images(report.num_not_images),
        report.elapsed.as_secs_f64(),
        report.images_per_sec(),
        shard.map(|s| format!(", shard {s}")).unwrap_or_default(),
        out.display()
    );
    for line in cause_summary(&causes, 5) {
        diag!("imprint: {line}");
    }
    Ok(if report.num_failed > 0 {
        EXIT_ITEM_FAILURES
    } else {
        EXIT_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use imprint::hash::Hashed;
    use imprint::pipeline::{ItemError, Sink};

    fn failed(cause: &str) -> std::result::Result<Hashed, ItemError> {
        Err(ItemError::Read(std::io::Error::other(cause.to_owned())))
    }

    #[test]
    fn the_summary_aligns_counts_and_names_the_rest() {
        let mut t = CauseTally::new(imprint::pipeline::VecSink::default());
        assert!(cause_summary(&t, 2).is_empty());
        let causes = "gone big-4000 big-5000 gone torn big-123456 odd";
        for (i, cause) in causes.split(' ').enumerate() {
            t.accept(&format!("{i}"), &failed(&cause.replace('-', " ")))
                .unwrap();
        }
        assert_eq!(
            cause_summary(&t, 2),
            [
                "failures by cause:",
                "  3  read failed: big N",
                "  2  read failed: gone",
                "  2  of other causes (`imprint store export` lists every record)",
            ]
        );
        for i in 0..10 {
            t.accept(&format!("x{i}"), &failed("gone")).unwrap();
        }
        assert_eq!(cause_summary(&t, 1)[1], "  12  read failed: gone");
        assert_eq!(
            cause_summary(&t, 1)[2],
            "   5  of other causes (`imprint store export` lists every record)"
        );
    }
}
