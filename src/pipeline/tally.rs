//! Sinks that count what came of a run's items while passing every outcome on: why items
//! failed ([`CauseTally`]), and what each directory or archive given held ([`RootTally`]), for
//! the closing summary of a run.

use std::collections::HashMap;
use std::path::PathBuf;

use super::id::path_id;
use super::sink::Sink;
use super::source::Source;
use super::stage::ItemError;
use crate::error::Result;
use crate::hash::Hashed;

/// Most different causes a [`CauseTally`] keeps apart.
pub const MAX_CAUSES: usize = 1000;

/// A sink wrapper counting the causes of failures as the sink it wraps records them. Runs of
/// three or more digits are left out of a cause ("JPEG is NxN = N pixels", see
/// [`cause_group`]), so that causes naming sizes group together; past [`MAX_CAUSES`]
/// different causes, new ones are counted together.
#[derive(Debug)]
pub struct CauseTally<S> {
    inner: S,
    counts: HashMap<String, (u64, usize)>,
    others: u64,
}

impl<S> CauseTally<S> {
    /// Counts the failures passing through to `inner`.
    pub fn new(inner: S) -> Self {
        CauseTally {
            inner,
            counts: HashMap::new(),
            others: 0,
        }
    }

    /// The wrapped sink.
    #[must_use]
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The counts alone, without the wrapped sink.
    #[must_use]
    pub fn without_inner(self) -> CauseTally<()> {
        CauseTally {
            inner: (),
            counts: self.counts,
            others: self.others,
        }
    }

    /// The `top` most frequent causes with their counts, most frequent first (the first seen
    /// first among equals), and how many failures the other causes hold.
    #[must_use]
    pub fn top(&self, top: usize) -> (Vec<(&str, u64)>, u64) {
        let mut by_count: Vec<(&String, &(u64, usize))> = self.counts.iter().collect();
        by_count.sort_by_key(|&(_, &(n, first))| (std::cmp::Reverse(n), first));
        let shown = by_count.len().min(top);
        let rest: u64 = by_count[shown..].iter().map(|(_, &(n, _))| n).sum::<u64>() + self.others;
        let top = by_count[..shown]
            .iter()
            .map(|(cause, &(n, _))| (cause.as_str(), n))
            .collect();
        (top, rest)
    }

    /// Failures counted.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.values().map(|&(n, _)| n).sum::<u64>() + self.others
    }
}

/// `cause` with each run of three or more digits written `N`, so that causes that differ only
/// in sizes or offsets count together.
#[must_use]
pub fn cause_group(cause: &str) -> String {
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

impl<S: Sink> Sink for CauseTally<S> {
    fn accept(&mut self, id: &str, outcome: &std::result::Result<Hashed, ItemError>) -> Result<()> {
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

    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
}

/// What came of the items of one directory or archive given to a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootCounts {
    /// The directory or archive, as given.
    pub path: PathBuf,
    /// Items hashed.
    pub hashed: u64,
    /// Items that looked like images and could not be hashed.
    pub failed: u64,
    /// Files passed over: not images.
    pub not_images: u64,
}

/// A sink wrapper counting, for each directory and archive among a run's sources, its items
/// hashed, failed and passed over (so that a run can say "no images found" of a folder).
#[derive(Debug)]
pub struct RootTally<S> {
    inner: S,
    list: Vec<RootCounts>,
    /// Index in `list` by the prefix of the ids of its items.
    by_prefix: HashMap<String, usize>,
}

/// What came of one item found in a walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    Hashed,
    Failed,
    NotImage,
}

impl<S> RootTally<S> {
    /// Counts the items of the directories and archives among `sources` (each once) as they
    /// pass through to `inner`.
    pub fn new(inner: S, sources: &[Source]) -> Self {
        let mut roots = RootTally {
            inner,
            list: Vec::new(),
            by_prefix: HashMap::new(),
        };
        for s in sources {
            let (p, prefix) = match s {
                Source::Dir(p) => {
                    let id = path_id(p);
                    let sep = std::path::MAIN_SEPARATOR;
                    (
                        p,
                        if id.ends_with(sep) {
                            id
                        } else {
                            format!("{id}{sep}")
                        },
                    )
                }
                Source::Tar(p) => (p, format!("{}:", path_id(p))),
                _ => continue,
            };
            if let std::collections::hash_map::Entry::Vacant(e) = roots.by_prefix.entry(prefix) {
                e.insert(roots.list.len());
                roots.list.push(RootCounts {
                    path: p.clone(),
                    hashed: 0,
                    failed: 0,
                    not_images: 0,
                });
            }
        }
        roots
    }

    /// The directories and archives, in the order given, with their counts.
    #[must_use]
    pub fn roots(&self) -> &[RootCounts] {
        &self.list
    }

    /// The wrapped sink.
    #[must_use]
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Counts item `id` for the roots its id starts like: one lookup per path separator (or
    /// archive `:`) in the id, so that a run given thousands of directories does not compare
    /// each item with each. More than one root matches when they overlap (`photos
    /// photos/sub`), and the id alone does not tell whose walk found the item: a hashed item
    /// counts for each (a root reported "no images found" must have none under it), a file
    /// that is not an image, or an image that failed, for the nearest.
    fn count(&mut self, id: &str, found: Found) {
        if self.by_prefix.is_empty() {
            return;
        }
        let sep = std::path::MAIN_SEPARATOR;
        let mut nearest = None;
        for (i, c) in id.char_indices() {
            if c != sep && c != '/' && c != ':' {
                continue;
            }
            let Some(&at) = self.by_prefix.get(&id[..i + c.len_utf8()]) else {
                continue;
            };
            if found == Found::Hashed {
                self.list[at].hashed += 1;
            }
            nearest = Some(at);
        }
        match (found, nearest) {
            (Found::Failed, Some(at)) => self.list[at].failed += 1,
            (Found::NotImage, Some(at)) => self.list[at].not_images += 1,
            _ => {}
        }
    }
}

impl<S: Sink> Sink for RootTally<S> {
    fn accept(&mut self, id: &str, outcome: &std::result::Result<Hashed, ItemError>) -> Result<()> {
        let found = match outcome {
            Ok(_) => Found::Hashed,
            Err(_) => Found::Failed,
        };
        self.count(id, found);
        self.inner.accept(id, outcome)
    }

    fn passed_over(&mut self, id: &str) {
        self.count(id, Found::NotImage);
        self.inner.passed_over(id);
    }

    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::VecSink;

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
        assert_eq!(t.top(2), (vec![], 0));
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
            t.top(2),
            (vec![("read failed: big N", 3), ("read failed: gone", 2)], 2)
        );
        assert_eq!(t.total(), 7);
        // Every outcome reaches the wrapped sink.
        assert_eq!(t.inner().items.len(), 7);
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
        let (top, rest) = t.top(1);
        assert_eq!(top, [("read failed: aaa", 1)]);
        assert_eq!(rest, max as u64 + 4);
    }

    #[test]
    fn roots_count_their_items_and_overlapping_roots_share_hashed_ones() {
        let sep = std::path::MAIN_SEPARATOR;
        let sources = [
            Source::Dir("photos".into()),
            Source::Dir(format!("photos{sep}sub").into()),
            Source::Tar("a.tar".into()),
            Source::File("loose.jpg".into()),
        ];
        let mut t = RootTally::new(VecSink::default(), &sources);
        let ok = Ok(Hashed::from(crate::hash::PdqHash {
            hash: crate::hash::Pdq256::ZERO,
            quality: 100,
        }));
        t.accept(&format!("photos{sep}x.jpg"), &ok).unwrap();
        t.accept(&format!("photos{sep}sub{sep}y.jpg"), &ok).unwrap();
        t.accept(&format!("photos{sep}sub{sep}bad.jpg"), &failed("torn"))
            .unwrap();
        t.passed_over(&format!("photos{sep}notes.txt"));
        t.passed_over("a.tar:readme.txt");
        t.accept("loose.jpg", &ok).unwrap();
        let counts: Vec<(u64, u64, u64)> = t
            .roots()
            .iter()
            .map(|r| (r.hashed, r.failed, r.not_images))
            .collect();
        // photos: both hashed items; photos/sub: its own; a.tar: a passed-over file only.
        assert_eq!(counts, [(2, 0, 1), (1, 1, 0), (0, 0, 1)]);
        assert_eq!(t.roots()[2].path, PathBuf::from("a.tar"));
        assert_eq!(t.inner().items.len(), 4);
    }
}
