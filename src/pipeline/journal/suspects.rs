//! The suspect pass: before the parallel pass, each suspect of a [`Journal`] is decoded and
//! hashed alone, in input order, between the journal's marks, so that a file that ends the
//! process is named by the mark; one that has ended it [`STRIKES_TO_FAIL`] times is failed
//! ([`ItemError::EndedProcess`]) without being decoded again.

use super::{Journal, STRIKES_TO_FAIL};
use crate::error::Result;
use crate::pipeline::partition::SkipSet;
use crate::pipeline::sink::{Progress, Report, Sink};
use crate::pipeline::source::{self, Excluded, RawItem, Source};
use crate::pipeline::stage::{decode_item, hash_decoded, CpuHasher, Decoder, ItemError};

/// The pass over a journal's suspects, before the parallel pass.
pub(crate) struct SuspectPass<'a> {
    /// The journal whose suspects are settled.
    pub journal: &'a Journal,
    /// The run's decoder.
    pub decoder: &'a dyn Decoder,
    /// Whether the run computes the 8 dihedral hashes.
    pub dihedral: bool,
    /// Where the suspects' outcomes go, before any other item's.
    pub sink: &'a mut dyn Sink,
    /// The run's counts.
    pub report: &'a mut Report,
    /// Called after each suspect.
    pub progress: &'a mut dyn FnMut(&Progress),
    /// The run's item count, when known.
    pub total: Option<u64>,
    /// Ids settled here, for the parallel pass to leave out.
    pub settled: &'a mut SkipSet,
}

impl SuspectPass<'_> {
    /// Decodes and hashes each suspect that `want`s, alone, in input order, between journal
    /// marks; then flushes the sink and clears the journal.
    ///
    /// # Errors
    /// A source that cannot be walked, a journal that cannot be written, or a sink error.
    pub(crate) fn run(
        &mut self,
        sources: &[Source],
        max_item_bytes: u64,
        exclude: &[Excluded],
        want: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        let journal = self.journal;
        let targets = journal.suspects().filter(|id| want(id)).count();
        let mut found = 0;
        let mut failure = None;
        let mut hasher = CpuHasher::new();
        if targets > 0 {
            let decoder = self.decoder;
            source::walk(
                sources,
                max_item_bytes,
                exclude,
                &|head| decoder.accepts(head),
                &mut |id| journal.is_suspect(id) && want(id),
                &mut |raw| {
                    match self.settle(raw, &mut hasher) {
                        Ok(id) => self.settled.insert(&id),
                        Err(e) => {
                            failure = Some(e);
                            return false;
                        }
                    }
                    found += 1;
                    found < targets
                },
            )?;
        }
        if let Some(e) = failure {
            return Err(e);
        }
        // The suspects' outcomes must be durable before the journal forgets them.
        self.sink.flush()?;
        journal.clear()
    }

    /// Hashes one suspect alone (or fails it, struck out), hands it to the sink, returns its
    /// id.
    fn settle(&mut self, raw: RawItem, hasher: &mut CpuHasher) -> Result<String> {
        let times = self.journal.strikes(&raw.id);
        let (id, outcome) = if times >= STRIKES_TO_FAIL {
            (raw.id, Err(ItemError::EndedProcess { times }))
        } else {
            self.journal.alone(&raw.id)?;
            let (id, img) = decode_item(self.decoder, raw);
            let outcome = hash_decoded(self.decoder, hasher, img, self.dihedral);
            self.journal.alone_done(&id)?;
            (id, outcome)
        };
        self.report.deliver(self.sink, &id, &outcome)?;
        (self.progress)(&self.report.progress(0, self.total));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::PixelLayout;
    use crate::pipeline::{DecodeFailure, OwnedImage, VecSink, DEFAULT_MAX_ITEM_BYTES};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn suspects_are_settled_in_input_order_and_a_struck_out_one_is_not_decoded_again() {
        let d = tempfile::tempdir().expect("tempdir");
        let names = ["a", "b", "bomb", "c"];
        let sources: Vec<Source> = names
            .iter()
            .map(|n| {
                let p = d.path().join(n);
                std::fs::write(&p, [40, 30, n.len() as u8]).expect("write");
                Source::File(p)
            })
            .collect();
        let id = |k: usize| sources[k].path().to_string_lossy().into_owned();
        // `bomb` ended the process twice while decoded alone; `b` was being decoded when the
        // last run ended.
        let path = d.path().join("run.journal");
        let j = Journal::create(&path).expect("create");
        j.alone(&id(2)).expect("note");
        j.alone(&id(2)).expect("note");
        j.started(7, &id(1));
        drop(j);
        let journal = Journal::open(&path).expect("open");
        assert_eq!(journal.strikes(&id(2)), STRIKES_TO_FAIL);

        let decoded = AtomicUsize::new(0);
        let decoder = |bytes: &[u8]| -> std::result::Result<OwnedImage, DecodeFailure> {
            decoded.fetch_add(1, Ordering::Relaxed);
            let [w, h, _] = *bytes else {
                return Err(DecodeFailure(format!("{} bytes", bytes.len())));
            };
            let (w, h) = (u32::from(w), u32::from(h));
            Ok(OwnedImage {
                width: w,
                height: h,
                layout: PixelLayout::Gray8,
                pixels: (0..w * h).map(|i| (i * 7 % 251) as u8).collect(),
            })
        };
        let mut sink = VecSink::default();
        let mut report = Report::default();
        let mut settled = SkipSet::new();
        SuspectPass {
            journal: &journal,
            decoder: &decoder,
            dihedral: false,
            sink: &mut sink,
            report: &mut report,
            progress: &mut |_| {},
            total: None,
            settled: &mut settled,
        }
        .run(&sources, DEFAULT_MAX_ITEM_BYTES, &[], &|_| true)
        .expect("pass");

        assert_eq!(decoded.load(Ordering::Relaxed), 1, "only `b` is decoded");
        assert_eq!(sink.items.len(), 2);
        assert_eq!(sink.items[0].0, id(1));
        assert!(sink.items[0].1.is_ok(), "{:?}", sink.items[0].1);
        assert_eq!(sink.items[1].0, id(2));
        let cause = sink.items[1].1.as_ref().expect_err("struck out");
        assert!(cause.starts_with(ItemError::ENDED_PROCESS), "{cause}");
        assert_eq!((report.num_ok, report.num_failed), (1, 1));
        assert!(settled.contains(&id(1)) && settled.contains(&id(2)));
        assert!(!settled.contains(&id(0)) && !settled.contains(&id(3)));
        drop(journal);
        let reopened = Journal::open(&path).expect("reopen");
        assert_eq!(reopened.suspects().count(), 0, "the journal is cleared");
    }
}
