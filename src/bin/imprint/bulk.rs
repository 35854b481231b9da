//! `imprint hash ... --out FILE`: a bulk run into a hash store (resumable, shardable).

use crate::hash::HashArgs;
use crate::output::diag;
use crate::{EXIT_ITEM_FAILURES, EXIT_OK};
use anyhow::{bail, Context, Result};
use imprint::decode::FAST_JPEG_MIN_SIDE;
use imprint::files::OutputKind;
use imprint::hash::Hashed;
use imprint::pipeline::{
    FailedCauses, ItemError, Journal, Progress, Shard, Sink, SkipSet, Source, StoreSink,
};
use imprint::store::{Store, StoreOptions, StoreWriter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
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
    #[arg(long, value_name = "N", value_parser = crate::hash::read_threads)]
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

fn shard_from_env(n: u64) -> Result<Shard> {
    for var in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"] {
        if let Ok(v) = std::env::var(var) {
            let i: u64 = v
                .trim()
                .parse()
                .with_context(|| format!("{var}={v:?} is not a shard index"))?;
            return Shard::new(i, n).with_context(|| format!("{var}={i} with --shards {n}"));
        }
    }
    bail!("--shards {n} needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment")
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

/// The crash journal kept next to the store: FILE.journal.
fn journal_path(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".journal");
    PathBuf::from(p)
}

/// Opens the store and its journal: resumed together, or both new.
fn open_writer(
    out: &Path,
    resume: bool,
    retry_failed: bool,
    opts: &StoreOptions,
) -> Result<(StoreWriter, SkipSet, Journal, FailedCauses)> {
    let journal_at = journal_path(out);
    if resume && out.exists() {
        let (w, rec) = StoreWriter::resume(out, opts)
            .with_context(|| format!("cannot resume {}", out.display()))?;
        let store = Store::open(out).with_context(|| format!("cannot read {}", out.display()))?;
        let cannot = || format!("cannot read the records of {}", out.display());
        let (skip, failed_before) = if retry_failed {
            SkipSet::from_store_for_retry(&store).with_context(cannot)?
        } else {
            (
                SkipSet::from_store(&store).with_context(cannot)?,
                FailedCauses::default(),
            )
        };
        if rec.truncated_bytes > 0 {
            diag!(
                "imprint: {}: dropped a torn tail of {} bytes from an interrupted run",
                out.display(),
                rec.truncated_bytes
            );
        }
        // Opened after the store, whose lock keeps a second run off the journal too.
        let journal = Journal::open(&journal_at)
            .with_context(|| format!("cannot open {}", journal_at.display()))?;
        let pending = journal.suspects().filter(|id| !skip.contains(id)).count();
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
        for id in journal.struck_out().filter(|id| !skip.contains(id)) {
            diag!(
                "imprint: {id}: ended the process {} times while decoded alone; \
                 recording it as a failure",
                journal.strikes(id)
            );
        }
        return Ok((w, skip, journal, failed_before));
    }
    if out.exists() {
        bail!(
            "{} already exists: pass --resume to continue that run, or choose another file",
            out.display()
        );
    }
    let w = StoreWriter::create(out, opts)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let journal = Journal::create(&journal_at)
        .with_context(|| format!("cannot create {}", journal_at.display()))?;
    Ok((w, SkipSet::new(), journal, FailedCauses::default()))
}

/// `cause` with each run of three or more digits written `N`.
fn cause_group(cause: &str) -> String {
    fn flush(out: &mut String, digits: &mut String) {
        if digits.len() >= 3 {
            out.push('N');
        } else {
            out.push_str(digits);
        }
        digits.clear();
    }
    let mut out = String::with_capacity(cause.len());
    let mut digits = String::new();
    for c in cause.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut out, &mut digits);
            out.push(c);
        }
    }
    flush(&mut out, &mut digits);
    out
}

/// Counts the causes of a run's failures for its closing summary, as the sink it wraps stores
/// them. Numbers of three digits or more are left out of a cause ("JPEG is NxN = N pixels"), so
/// that causes naming sizes group together; past [`MAX_CAUSES`] different causes,
/// new ones are counted together.
struct CauseTally<S> {
    inner: S,
    counts: HashMap<String, (u64, usize)>,
    others: u64,
}

/// Most different causes a [`CauseTally`] keeps apart.
const MAX_CAUSES: usize = 1000;

impl<S: Sink> CauseTally<S> {
    fn new(inner: S) -> Self {
        CauseTally {
            inner,
            counts: HashMap::new(),
            others: 0,
        }
    }

    /// Lines naming the `top` most frequent causes, most frequent first (the first seen first
    /// among equals), and how many items the rest hold; none when nothing failed.
    fn summary(&self, top: usize) -> Vec<String> {
        let mut by_count: Vec<(&String, &(u64, usize))> = self.counts.iter().collect();
        by_count.sort_by_key(|&(_, &(n, first))| (std::cmp::Reverse(n), first));
        let shown = by_count.len().min(top);
        let rest: u64 = by_count[shown..].iter().map(|(_, &(n, _))| n).sum::<u64>() + self.others;
        let width = by_count
            .first()
            .map_or(0, |(_, &(n, _))| n)
            .max(rest)
            .to_string()
            .len();
        let mut lines: Vec<String> = by_count[..shown]
            .iter()
            .map(|(cause, (n, _))| format!("  {n:>width$}  {cause}"))
            .collect();
        if lines.is_empty() {
            return lines;
        }
        lines.insert(0, "failures by cause:".to_owned());
        if rest > 0 {
            lines.push(format!(
                "  {rest:>width$}  of other causes (`imprint store export` lists every record)"
            ));
        }
        lines
    }
}

impl<S: Sink> Sink for CauseTally<S> {
    fn accept(
        &mut self,
        id: &str,
        outcome: &std::result::Result<Hashed, ItemError>,
    ) -> imprint::Result<()> {
        if let Err(e) = outcome {
            let cause = cause_group(&e.to_string());
            let seen = self.counts.len();
            match self.counts.get_mut(&cause) {
                Some((n, _)) => *n += 1,
                None if seen < MAX_CAUSES => {
                    self.counts.insert(cause, (1, seen));
                }
                None => self.others += 1,
            }
        }
        self.inner.accept(id, outcome)
    }

    fn passed_over(&mut self, id: &str) {
        self.inner.passed_over(id);
    }

    fn flush(&mut self) -> imprint::Result<()> {
        self.inner.flush()
    }

    fn finish(&mut self) -> imprint::Result<()> {
        self.inner.finish()
    }
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
        (None, Some(n)) => Some(shard_from_env(n)?),
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
    let (writer, skip, journal, failed_before) =
        open_writer(out, args.bulk.resume, args.bulk.retry_failed, &store_opts)?;
    let own_files = vec![out.to_owned(), journal.path().to_owned()];
    let pipeline = args
        .pipeline()?
        .shard(shard)
        .skip(skip)
        .journal(journal)
        .exclude_files(own_files);

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
    // A retried item that fails again the same way adds no record.
    let mut sink = CauseTally::new(StoreSink::new(writer).skip_repeated_failures(failed_before));
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
    let report = pipeline
        .run(&sources, &decoder, &mut sink, &mut progress)
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
    for line in sink.summary(5) {
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
    use imprint::pipeline::VecSink;

    fn failed(cause: &str) -> std::result::Result<Hashed, ItemError> {
        Err(ItemError::Read(std::io::Error::other(cause.to_owned())))
    }

    #[test]
    fn causes_group_across_sizes_and_the_most_frequent_come_first() {
        assert_eq!(
            cause_group("JPEG is 9000x12000 = 108000000 pixels, os error 13"),
            "JPEG is NxN = N pixels, os error 13"
        );
        assert_eq!(cause_group("1234 then 12, ends 98765"), "N then 12, ends N");
        let mut t = CauseTally::new(VecSink::default());
        assert!(t.summary(2).is_empty());
        for (i, cause) in [
            "gone",
            "big 4000",
            "big 5000",
            "gone",
            "torn",
            "big 123456",
            "odd",
        ]
        .into_iter()
        .enumerate()
        {
            t.accept(&format!("{i}"), &failed(cause)).unwrap();
        }
        assert_eq!(
            t.summary(2),
            [
                "failures by cause:",
                "  3  read failed: big N",
                "  2  read failed: gone",
                "  2  of other causes (`imprint store export` lists every record)",
            ]
        );
        // Every outcome reaches the wrapped sink.
        assert_eq!(t.inner.items.len(), 7);
    }

    #[test]
    fn past_the_most_causes_kept_apart_new_ones_count_together() {
        let mut t = CauseTally::new(VecSink::default());
        let max = MAX_CAUSES;
        for i in 0..max + 5 {
            // Distinct causes without digits, so that none group together.
            let name: String = (0..3)
                .map(|k| char::from(b'a' + (i / 26usize.pow(k) % 26) as u8))
                .collect();
            t.accept("x", &failed(&name)).unwrap();
        }
        assert_eq!((t.counts.len(), t.others), (max, 5));
        let summary = t.summary(1);
        assert_eq!(summary.len(), 3, "{summary:?}");
        assert_eq!(summary[1], "     1  read failed: aaa");
        assert!(
            summary[2].starts_with(&format!("  {}  of other causes", max + 4)),
            "{summary:?}"
        );
    }
}
