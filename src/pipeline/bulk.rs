//! Bulk runs into a hash store: see [`BulkRun`].

use std::path::{Path, PathBuf};

use super::journal::Journal;
use super::partition::{FailedCauses, SkipSet};
use super::run::Pipeline;
use super::sink::{Progress, Report, StoreSink};
use super::source::Source;
use super::stage::Decoder;
use super::tally::CauseTally;
use crate::error::{Error, Result};
use crate::store::{Store, StoreOptions, StoreWriter};

/// How a [`BulkRun`] starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new run: the store must not exist ([`Error::RunExists`] if it does).
    New,
    /// Continue the run in the store, or start a new one if there is no store yet.
    Resume {
        /// Also try again the items the store holds only an error record for (a read that
        /// failed during a storage outage, a format a later version decodes). Their new
        /// outcome follows the old error record, unless it fails again with the same cause;
        /// items that ended the process are not tried again.
        retry_failed: bool,
    },
}

/// What resuming found; see [`BulkRun::resumed`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Bytes of a torn tail (an interrupted write) dropped from the store.
    pub truncated_bytes: u64,
    /// Items that were being decoded when the last run ended, not yet recorded: they are
    /// decoded first, one at a time.
    pub pending_suspects: usize,
    /// Items that ended the process each time they were decoded alone, with their strikes:
    /// they are recorded as failures.
    pub struck_out: Vec<(String, u32)>,
}

/// A bulk run into a hash store: the store, its crash journal and the set of items already
/// done, created or resumed together.
///
/// A run writes `FILE` (the store) and `FILE.journal` ([`BulkRun::journal_path`]: the items
/// being decoded, so that a file that ends the process is found). Both are new, or both are
/// resumed: the store keeps its sealed blocks (a torn tail from a crash is dropped), the items
/// it has records for are skipped, the journal's suspects are decoded first, one at a time,
/// and with [`Start::Resume`]`{ retry_failed: true }` items the store holds only an error
/// record for are tried again. The store's lock keeps a second run off both files.
///
/// # Example
/// ```
/// # fn main() -> imprint::Result<()> {
/// use imprint::pipeline::{BulkRun, Pipeline, Source, StandardDecoder, Start};
/// use imprint::store::{Store, StoreOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let out = dir.path().join("run.store");
/// let sources = [Source::detect("datasets/sample".as_ref())?];
/// let decoder = StandardDecoder::default();
/// let options = StoreOptions::new().hash_params(decoder.hash_params());
///
/// let run = BulkRun::open(&out, Start::New, &options)?;
/// let done = run.run(Pipeline::new(), &sources, &decoder, &mut |_| {})?;
/// assert!(done.report.num_ok > 0);
///
/// // Resuming a finished run skips every item it has a record for.
/// let run = BulkRun::open(&out, Start::Resume { retry_failed: false }, &options)?;
/// let again = run.run(Pipeline::new(), &sources, &decoder, &mut |_| {})?;
/// assert_eq!(again.report.num_ok, 0);
/// assert_eq!(again.report.num_skipped, done.report.num_ok + done.report.num_failed);
/// assert_eq!(Store::open(&out)?.records().count() as u64, done.report.num_ok + done.report.num_failed);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BulkRun {
    path: PathBuf,
    writer: StoreWriter,
    skip: SkipSet,
    journal: Journal,
    failed_before: FailedCauses,
    resumed: Option<Resumed>,
}

/// The outcome of [`BulkRun::run`].
#[derive(Debug)]
pub struct BulkReport {
    /// The pipeline's counts.
    pub report: Report,
    /// Why items failed, most frequent first.
    pub causes: CauseTally<()>,
}

impl BulkRun {
    /// The crash journal kept beside the store `store`: `FILE.journal`.
    #[must_use]
    pub fn journal_path(store: &Path) -> PathBuf {
        let mut p = store.as_os_str().to_owned();
        p.push(".journal");
        PathBuf::from(p)
    }

    /// Creates or resumes the run into the store at `out`, with its journal.
    ///
    /// `options` apply to a new store; a resumed one keeps its own, and must have been
    /// written with the same hashing parameters and kind of record
    /// ([`StoreWriter::resume`]).
    ///
    /// # Errors
    /// [`Error::RunExists`] when starting [`Start::New`] over an existing file;
    /// [`Error::Context`] around the store's or the journal's error otherwise.
    pub fn open(out: &Path, start: Start, options: &StoreOptions) -> Result<BulkRun> {
        let journal_at = Self::journal_path(out);
        let context = |what: &str, path: &Path| {
            let context = format!("cannot {what} {}", path.display());
            move |e: Error| Error::Context {
                context,
                source: Box::new(e),
            }
        };
        match start {
            Start::Resume { retry_failed } if out.exists() => {
                let (writer, recovery) = StoreWriter::resume(out, options)
                    .map_err(|e| context("resume", out)(e.into()))?;
                let store = Store::open(out).map_err(|e| context("read", out)(e.into()))?;
                let records =
                    |e: crate::store::StoreError| context("read the records of", out)(e.into());
                let (skip, failed_before) = if retry_failed {
                    SkipSet::from_store_for_retry(&store).map_err(records)?
                } else {
                    (
                        SkipSet::from_store(&store).map_err(records)?,
                        FailedCauses::default(),
                    )
                };
                // Opened after the store, whose lock keeps a second run off the journal too.
                let journal = Journal::open(&journal_at).map_err(context("open", &journal_at))?;
                let resumed = Resumed {
                    truncated_bytes: recovery.truncated_bytes,
                    pending_suspects: journal.suspects().filter(|id| !skip.contains(id)).count(),
                    struck_out: journal
                        .struck_out()
                        .filter(|id| !skip.contains(id))
                        .map(|id| (id.to_owned(), journal.strikes(id)))
                        .collect(),
                };
                Ok(BulkRun {
                    path: out.to_owned(),
                    writer,
                    skip,
                    journal,
                    failed_before,
                    resumed: Some(resumed),
                })
            }
            Start::New if out.exists() => Err(Error::RunExists {
                path: out.to_owned(),
            }),
            Start::New | Start::Resume { .. } => {
                let writer = StoreWriter::create(out, options)
                    .map_err(|e| context("create", out)(e.into()))?;
                let journal =
                    Journal::create(&journal_at).map_err(context("create", &journal_at))?;
                Ok(BulkRun {
                    path: out.to_owned(),
                    writer,
                    skip: SkipSet::new(),
                    journal,
                    failed_before: FailedCauses::default(),
                    resumed: None,
                })
            }
        }
    }

    /// The store's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What resuming found; `None` for a new run.
    #[must_use]
    pub fn resumed(&self) -> Option<&Resumed> {
        self.resumed.as_ref()
    }

    /// The items the run skips: those the store already has records for.
    #[must_use]
    pub fn skip_set(&self) -> &SkipSet {
        &self.skip
    }

    /// Runs `pipeline` over `sources` into the store: the run's skip set and journal are set
    /// on the pipeline, the store and its journal are left out of the inputs, every outcome
    /// is recorded (a retried item that fails again with the same cause adds no record), and
    /// the store is finished (sealed and synced) before this returns.
    ///
    /// # Errors
    /// As [`Pipeline::run`]; the records written before an error are kept, and the run can be
    /// resumed.
    pub fn run(
        self,
        pipeline: Pipeline,
        sources: &[Source],
        decoder: &dyn Decoder,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<BulkReport> {
        let own_files = vec![self.path.clone(), self.journal.path().to_owned()];
        let pipeline = pipeline
            .skip(self.skip)
            .journal(self.journal)
            .exclude_files(own_files);
        let mut sink =
            CauseTally::new(StoreSink::new(self.writer).skip_repeated_failures(self.failed_before));
        let report = pipeline.run(sources, decoder, &mut sink, progress)?;
        Ok(BulkReport {
            report,
            causes: sink.without_inner(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_refuses_an_existing_file_and_resume_creates_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run.store");
        std::fs::write(&out, b"someone's file").unwrap();
        let opts = StoreOptions::new();
        match BulkRun::open(&out, Start::New, &opts) {
            Err(Error::RunExists { path }) => assert_eq!(path, out),
            other => panic!("expected RunExists, got {other:?}"),
        }
        assert_eq!(std::fs::read(&out).unwrap(), b"someone's file");
        assert!(!BulkRun::journal_path(&out).exists());

        let fresh = dir.path().join("fresh.store");
        let run = BulkRun::open(&fresh, Start::Resume { retry_failed: true }, &opts).unwrap();
        assert!(run.resumed().is_none());
        assert!(BulkRun::journal_path(&fresh).exists());
        assert_eq!(
            BulkRun::journal_path(&fresh).file_name().unwrap(),
            "fresh.store.journal"
        );
    }

    #[test]
    fn resuming_reports_a_torn_tail_and_skips_what_the_store_holds() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run.store");
        let opts = StoreOptions::new().block_size(crate::store::format::MIN_BLOCK_SIZE);
        let run = BulkRun::open(&out, Start::New, &opts).unwrap();
        let mut w = run.writer;
        let h = crate::hash::PdqHash {
            hash: crate::hash::Pdq256::ZERO,
            quality: 90,
        };
        w.append_hash("a.jpg", &h).unwrap();
        w.append_error("b.jpg", "truncated").unwrap();
        w.finish().unwrap();
        // A torn tail: a block's worth of bytes that were never sealed.
        let len = std::fs::metadata(&out).unwrap().len();
        let f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
        f.set_len(len + u64::from(crate::store::format::MIN_BLOCK_SIZE))
            .unwrap();
        drop(f);

        let run = BulkRun::open(
            &out,
            Start::Resume {
                retry_failed: false,
            },
            &opts,
        )
        .unwrap();
        let resumed = run.resumed().expect("resumed").clone();
        assert_eq!(
            resumed.truncated_bytes,
            u64::from(crate::store::format::MIN_BLOCK_SIZE)
        );
        assert!(run.skip_set().contains("a.jpg") && run.skip_set().contains("b.jpg"));
        drop(run);
        let retry = BulkRun::open(&out, Start::Resume { retry_failed: true }, &opts).unwrap();
        assert!(retry.skip_set().contains("a.jpg"));
        assert!(!retry.skip_set().contains("b.jpg"));
    }
}
