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
