//! Where outcomes go: the [`Sink`] trait, the store sink, and the run [`Report`].

use super::partition::FailedCauses;
use super::stage::ItemError;
use crate::hash::Hashed;
use crate::store::{stored_cause, StoreWriter};
use std::time::Duration;

/// Receives each item's outcome, in input order, on one thread.
pub trait Sink {
    /// Takes one outcome. An error stops the run.
    ///
    /// # Errors
    /// Whatever makes the sink unusable (e.g. the store cannot be written).
    fn accept(&mut self, id: &str, outcome: &Result<Hashed, ItemError>) -> crate::Result<()>;

    /// Told of an item found by a walk that is not an image ([`super::Decoder::accepts`]),
    /// in input order among the outcomes; it has no outcome. The default ignores it.
    fn passed_over(&mut self, id: &str) {
        let _ = id;
    }

    /// Makes every accepted outcome durable (default: nothing to do). A run with a
    /// [`super::Journal`] calls it after the journal's suspects, before it forgets them.
    ///
    /// # Errors
    /// As [`Sink::accept`].
    fn flush(&mut self) -> crate::Result<()> {
        Ok(())
    }

    /// Called once after the last item, before the run returns.
    ///
    /// # Errors
    /// As [`Sink::accept`].
    fn finish(&mut self) -> crate::Result<()> {
        Ok(())
    }
}

/// Appends every outcome to a store: hashes as hash records, failures as error records.
#[derive(Debug)]
pub struct StoreSink {
    writer: Option<StoreWriter>,
    repeated: FailedCauses,
}

impl StoreSink {
    /// Wraps a writer; [`Sink::finish`] seals and fsyncs it.
    #[must_use]
    pub fn new(writer: StoreWriter) -> Self {
        StoreSink {
            writer: Some(writer),
            repeated: FailedCauses::default(),
        }
    }

    /// Leaves out the error record of an item whose latest record in the store already says
    /// the same ([`SkipSet::from_store_for_retry`]), so that retrying an item that still
    /// fails adds nothing to the store.
    ///
    /// [`SkipSet::from_store_for_retry`]: super::SkipSet::from_store_for_retry
    #[must_use]
    pub fn skip_repeated_failures(mut self, causes: FailedCauses) -> Self {
        self.repeated = causes;
        self
    }
}

impl Sink for StoreSink {
    fn accept(&mut self, id: &str, outcome: &Result<Hashed, ItemError>) -> crate::Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        match outcome {
            Ok(h) => w.append_hashed(id, h)?,
            Err(e) => {
                let cause = e.to_string();
                if self.repeated.get(id) != Some(stored_cause(&cause)) {
                    w.append_error(id, &cause)?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> crate::Result<()> {
        if let Some(w) = self.writer.as_mut() {
            w.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> crate::Result<()> {
        if let Some(w) = self.writer.take() {
            w.finish()?;
        }
        Ok(())
    }
}

/// Collects outcomes in memory (tests, small runs).
#[derive(Debug, Default)]
pub struct VecSink {
    /// `(id, hashes or the failure text)` in input order.
    pub items: Vec<(String, Result<Hashed, String>)>,
}

impl Sink for VecSink {
    fn accept(&mut self, id: &str, outcome: &Result<Hashed, ItemError>) -> crate::Result<()> {
        let o = match outcome {
            Ok(h) => Ok(*h),
            Err(e) => Err(e.to_string()),
        };
        self.items.push((id.to_owned(), o));
        Ok(())
    }
}

/// Counts of a finished run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Report {
    /// Items hashed.
    pub num_ok: u64,
    /// Items that failed (read, decode), each recorded by the sink.
    pub num_failed: u64,
    /// Items skipped: outside this shard, or already in the store on resume.
    pub num_skipped: u64,
    /// Files found in directories and tar members that are not images
    /// ([`super::Decoder::accepts`]); the sink never sees them.
    pub num_not_images: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// Counts one item's outcome and hands it to `sink`: a hash or a failure to
    /// [`Sink::accept`], an item that is not an image to [`Sink::passed_over`].
    ///
    /// # Errors
    /// The sink's.
    pub(crate) fn deliver(
        &mut self,
        sink: &mut dyn Sink,
        id: &str,
        outcome: &Result<Hashed, ItemError>,
    ) -> crate::Result<()> {
        match outcome {
            Ok(_) => self.num_ok += 1,
            Err(ItemError::NotAnImage) => {
                self.num_not_images += 1;
                sink.passed_over(id);
                return Ok(());
            }
            Err(_) => self.num_failed += 1,
        }
        sink.accept(id, outcome)
    }

    /// Progress so far, with `num_skipped` items skipped, of `total`.
    pub(crate) fn progress(&self, num_skipped: u64, total: Option<u64>) -> Progress {
        Progress {
            num_ok: self.num_ok,
            num_failed: self.num_failed,
            num_skipped,
            num_not_images: self.num_not_images,
            total,
        }
    }

    /// Items processed (hashed or failed) per second of wall time.
    #[must_use]
    pub fn images_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            (self.num_ok + self.num_failed) as f64 / s
        } else {
            0.0
        }
    }
}

/// Progress so far, passed to the run's progress callback after each item (passed-over
/// ones included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Items hashed.
    pub num_ok: u64,
    /// Items failed.
    pub num_failed: u64,
    /// Items skipped.
    pub num_skipped: u64,
    /// Files found by a walk that are not images, passed over.
    pub num_not_images: u64,
    /// Items this run will process, when known in advance.
    pub total: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Pdq256, PdqHash};
    use crate::pipeline::{DecodeFailure, SkipSet};
    use crate::store::{Outcome, Store, StoreOptions, MAX_CAUSE_LEN};

    fn decode_error(cause: &str) -> Result<Hashed, ItemError> {
        Err(ItemError::Decode(DecodeFailure(cause.to_owned())))
    }

    #[test]
    fn a_retried_item_that_fails_the_same_way_adds_no_record() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("s.imps");
        let opts = StoreOptions::new();
        let hash = PdqHash {
            hash: Pdq256::default(),
            quality: 90,
        };
        let long = "é".repeat(MAX_CAUSE_LEN); // cut by the store, inside a char
        let mut sink = StoreSink::new(StoreWriter::create(&path, &opts).expect("create"));
        sink.accept("a", &Ok(Hashed::from(hash))).expect("a");
        sink.accept("b", &decode_error("x")).expect("b");
        sink.accept("c", &decode_error("y")).expect("c");
        sink.accept("c", &Ok(Hashed::from(hash))).expect("c");
        sink.accept("d", &Err(ItemError::EndedProcess { times: 2 }))
            .expect("d");
        sink.accept("e", &decode_error(&long)).expect("e");
        sink.finish().expect("finish");

        let store = Store::open(&path).expect("open");
        let (skip, causes) = SkipSet::from_store_for_retry(&store).expect("records");
        for id in ["a", "c", "d"] {
            assert!(skip.contains(id), "{id}");
            assert_eq!(causes.get(id), None, "{id}");
        }
        assert_eq!(causes.len(), 2);
        assert_eq!(causes.get("b"), Some("decode failed: x"));
        assert!(causes.get("e").is_some_and(|c| c.len() <= MAX_CAUSE_LEN));
        drop(store);

        let (w, _) = StoreWriter::resume(&path, &opts).expect("resume");
        let mut sink = StoreSink::new(w).skip_repeated_failures(causes);
        sink.accept("b", &decode_error("x")).expect("b again");
        sink.accept("e", &decode_error(&long)).expect("e again");
        sink.accept("b", &decode_error("z")).expect("b, new cause");
        sink.accept("f", &decode_error("x")).expect("f");
        sink.finish().expect("finish");
        let store = Store::open(&path).expect("open");
        let added: Vec<(String, String)> = store
            .records()
            .skip(6)
            .map(|r| {
                let r = r.expect("record");
                match r.outcome {
                    Outcome::Failed { cause } => (r.id.to_owned(), cause.to_owned()),
                    _ => panic!("a hash record"),
                }
            })
            .collect();
        let want = [("b", "decode failed: z"), ("f", "decode failed: x")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(i, c)| ((*i).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(added, want);
    }
}
