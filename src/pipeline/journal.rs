//! [`Journal`]: which items were being decoded when a bulk run ended, so that a file that
//! crashes the process cannot crash every resumed run in turn.
//!
//! A Rust panic costs only its item, but some failures end the whole process: a crash inside a
//! C decoder (libjpeg-turbo, libwebp), an out-of-memory kill, an abort. A resumed run would
//! start the same items again, in parallel, and end the same way, for ever. So a run with a
//! journal notes each item before it is decoded and again once it is decoded, and every few
//! thousand notes rewrites the file with only the items being decoded. The file therefore stays
//! small whatever the corpus size.
//!
//! When the next run opens the journal, the items started and not ended are *suspects*: one of
//! them may have ended the process (at most one per decode thread). [`super::Pipeline::run`]
//! decodes them first, one at a time, marking each start and end (the suspect pass, in
//! `journal/suspects.rs`). If the process ends again, the mark names the one file that was
//! being decoded.
//! A file that ended the process [`STRIKES_TO_FAIL`] times while decoded alone gets a failure
//! record instead of a third attempt, and the run goes on. One end is not enough, because an
//! outside kill (a preempted node) can land during an innocent file's turn, and each failure
//! is a file that no match will ever name.
//!
//! Format: an 8-byte magic, then entries `[kind: u8][seq: u64 LE][len: u32 LE][id: len bytes]`
//! (`seq` numbers the parallel pass's items; the end of a decode names no id). A torn last entry
//! (the process ended mid-write) is ignored. Writes reach the operating system
//! before the decode they announce starts, so they survive the process; they are not
//! fsynced, so a lost machine may lose them, and then the next run merely has fewer suspects.

mod suspects;

pub(crate) use suspects::SuspectPass;

use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const MAGIC: &[u8; 8] = b"IMPJRNL1";
/// An item's decode started in the parallel pass.
const STARTED: u8 = b'S';
/// That decode ended.
const ENDED: u8 = b'E';
/// An item's decode started alone (the careful pass).
const ALONE: u8 = b'A';
/// The item started alone finished.
const DONE: u8 = b'D';
/// Longest id an entry may hold; a longer length means a corrupt entry.
const MAX_ENTRY_ID: usize = 1 << 20;
const ENTRY_HEAD: usize = 13;
/// Entries written between rewrites, beyond those of the items being decoded.
const REWRITE_EVERY: usize = 4096;

/// How many times a file may end the process while decoded alone before it is recorded as a
/// failure without being decoded again.
pub const STRIKES_TO_FAIL: u32 = 2;

/// The crash journal of a bulk run (see the module docs). Thread-safe: decode workers note
/// their items concurrently.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    suspects: HashSet<String>,
    strikes: HashMap<String, u32>,
    live: Mutex<Live>,
}

#[derive(Debug)]
struct Live {
    file: File,
    /// Items of the parallel pass being decoded, by sequence number.
    in_flight: BTreeMap<u64, String>,
    /// Entries in the file.
    num_entries: usize,
}

impl Journal {
    /// Starts an empty journal at `path`, replacing any file there (a fresh run).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn create(path: &Path) -> Result<Journal> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io_err(path))?;
        file.write_all(MAGIC).map_err(io_err(path))?;
        Ok(Journal::with(path, file, HashSet::new(), HashMap::new()))
    }

    /// Opens the journal at `path` left by an earlier run, reading its suspects and strikes,
    /// or starts an empty one when there is none.
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::BadInput`] when the file is not a journal.
    pub fn open(path: &Path) -> Result<Journal> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Journal::create(path),
            Err(e) => return Err(io_err(path)(e)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(path))?;
        if bytes.is_empty() {
            // Created, then ended before the magic was written.
            file.write_all(MAGIC).map_err(io_err(path))?;
            return Ok(Journal::with(path, file, HashSet::new(), HashMap::new()));
        }
        if !bytes.starts_with(MAGIC) {
            return Err(Error::BadInput {
                path: path.to_owned(),
                what: "bad magic".into(),
                detail: "not an imprint run journal; remove it to resume without it".into(),
            });
        }
        let (entries, valid) = parse(&bytes[MAGIC.len()..]);
        let mut started: HashMap<u64, &str> = HashMap::new();
        let mut strikes: HashMap<String, u32> = HashMap::new();
        let mut cleared: HashSet<&str> = HashSet::new();
        // The item decoded alone whose end is not marked: it ended the process.
        let mut alone: Option<&str> = None;
        for &(kind, seq, id) in &entries {
            match kind {
                STARTED => {
                    started.insert(seq, id);
                }
                ENDED => {
                    started.remove(&seq);
                }
                ALONE => {
                    if let Some(prev) = alone.replace(id) {
                        *strikes.entry(prev.to_owned()).or_default() += 1;
                    }
                }
                _ => {
                    if alone == Some(id) {
                        alone = None;
                        cleared.insert(id);
                    }
                }
            }
        }
        if let Some(prev) = alone {
            *strikes.entry(prev.to_owned()).or_default() += 1;
        }
        // Started and never ended, or started alone and ended the process; not those that
        // have since been decoded alone without harm.
        let suspects: HashSet<String> = started
            .into_values()
            .chain(strikes.keys().map(String::as_str))
            .filter(|id| !cleared.contains(id))
            .map(str::to_owned)
            .collect();
        // Drop a torn tail so that new entries follow whole ones.
        let end = (MAGIC.len() + valid) as u64;
        file.set_len(end).map_err(io_err(path))?;
        file.seek(SeekFrom::Start(end)).map_err(io_err(path))?;
        Ok(Journal::with(path, file, suspects, strikes))
    }

    fn with(
        path: &Path,
        file: File,
        suspects: HashSet<String>,
        strikes: HashMap<String, u32>,
    ) -> Journal {
        Journal {
            path: path.to_owned(),
            suspects,
            strikes,
            live: Mutex::new(Live {
                file,
                in_flight: BTreeMap::new(),
                num_entries: 0,
            }),
        }
    }

    /// Where the journal lives.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ids that were being decoded when an earlier run ended. Some may be in the store
    /// already.
    pub fn suspects(&self) -> impl Iterator<Item = &str> {
        self.suspects.iter().map(String::as_str)
    }

    /// Whether `id` is a suspect.
    #[must_use]
    pub fn is_suspect(&self, id: &str) -> bool {
        self.suspects.contains(id)
    }

    /// How many times `id` ended the process while decoded alone.
    #[must_use]
    pub fn strikes(&self, id: &str) -> u32 {
        self.strikes.get(id).copied().unwrap_or(0)
    }

    /// Ids with at least [`STRIKES_TO_FAIL`] strikes: they will be recorded as failures.
    pub fn struck_out(&self) -> impl Iterator<Item = &str> {
        self.strikes
            .iter()
            .filter(|(_, &n)| n >= STRIKES_TO_FAIL)
            .map(|(id, _)| id.as_str())
    }

    /// Notes that item `seq` of the parallel pass is about to be decoded. A failed write only
    /// weakens the protection of a later resume, so the item goes on.
    pub(crate) fn started(&self, seq: u64, id: &str) {
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        let _ = write_entry(&mut live.file, STARTED, seq, id);
        live.in_flight.insert(seq, id.to_owned());
        live.num_entries += 1;
    }

    /// Notes that the decode of item `seq` ended (with pixels or an error); every few thousand
    /// entries, rewrites the file with only the items still being decoded.
    pub(crate) fn ended(&self, seq: u64) {
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        let _ = write_entry(&mut live.file, ENDED, seq, "");
        live.in_flight.remove(&seq);
        live.num_entries += 1;
        if live.num_entries >= live.in_flight.len() + REWRITE_EVERY {
            let mut bytes = MAGIC.to_vec();
            for (&seq, id) in &live.in_flight {
                push_entry(&mut bytes, STARTED, seq, id);
            }
            let _ = rewrite(&mut live.file, &bytes);
            live.num_entries = live.in_flight.len();
        }
    }

    /// Notes that `id` is about to be decoded alone.
    pub(crate) fn alone(&self, id: &str) -> Result<()> {
        self.write(ALONE, id)
    }

    /// Notes that the decode of `id`, alone, finished.
    pub(crate) fn alone_done(&self, id: &str) -> Result<()> {
        self.write(DONE, id)
    }

    fn write(&self, kind: u8, id: &str) -> Result<()> {
        let mut live = self.live.lock().map_err(|_| poisoned(&self.path))?;
        write_entry(&mut live.file, kind, 0, id).map_err(io_err(&self.path))
    }

    /// Empties the journal: the suspects' outcomes are durable.
    pub(crate) fn clear(&self) -> Result<()> {
        let mut live = self.live.lock().map_err(|_| poisoned(&self.path))?;
        live.in_flight.clear();
        live.num_entries = 0;
        rewrite(&mut live.file, MAGIC).map_err(io_err(&self.path))
    }

    /// Deletes the file: the run completed.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be removed.
    pub fn remove(self) -> Result<()> {
        let path = self.path;
        drop(self.live);
        std::fs::remove_file(&path).map_err(io_err(&path))
    }

    /// Entries in the file now.
    #[cfg(test)]
    fn num_entries(&self) -> usize {
        self.live.lock().map_or(0, |l| l.num_entries)
    }
}

/// Whole entries of `bytes` (after the magic), and how many bytes they span.
fn parse(bytes: &[u8]) -> (Vec<(u8, u64, &str)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + ENTRY_HEAD) {
        let kind = head[0];
        let seq = u64::from_le_bytes(head[1..9].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(head[9..13].try_into().unwrap_or_default()) as usize;
        if !matches!(kind, STARTED | ENDED | ALONE | DONE) || len > MAX_ENTRY_ID {
            break;
        }
        let Some(id) = bytes
            .get(at + ENTRY_HEAD..at + ENTRY_HEAD + len)
            .and_then(|b| std::str::from_utf8(b).ok())
        else {
            break;
        };
        out.push((kind, seq, id));
        at += ENTRY_HEAD + len;
    }
    (out, at)
}

fn push_entry(out: &mut Vec<u8>, kind: u8, seq: u64, id: &str) {
    // Ids longer than any store accepts are cut at a character boundary.
    let mut len = id.len().min(MAX_ENTRY_ID);
    while !id.is_char_boundary(len) {
        len -= 1;
    }
    out.push(kind);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&id.as_bytes()[..len]);
}

/// One `write` per entry, so that it reaches the operating system whole or torn at its end.
fn write_entry(file: &mut File, kind: u8, seq: u64, id: &str) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(ENTRY_HEAD + id.len());
    push_entry(&mut bytes, kind, seq, id);
    file.write_all(&bytes)
}

fn rewrite(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn poisoned(path: &Path) -> Error {
    io_err(path)(std::io::Error::other("journal lock poisoned by a panic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reopen(j: Journal) -> Journal {
        let path = j.path().to_owned();
        drop(j);
        Journal::open(&path).expect("reopen")
    }

    fn sorted_suspects(j: &Journal) -> Vec<&str> {
        let mut s: Vec<_> = j.suspects().collect();
        s.sort_unstable();
        s
    }

    #[test]
    fn items_started_and_not_ended_are_the_suspects() {
        let d = tempfile::tempdir().expect("tempdir");
        let j = Journal::create(&d.path().join("j")).expect("create");
        for (seq, id) in ["a", "b", "c", "d"].iter().enumerate() {
            j.started(seq as u64, id);
        }
        j.ended(2);
        j.ended(0);
        let j = reopen(j);
        assert_eq!(sorted_suspects(&j), ["b", "d"]);
        assert_eq!(j.struck_out().count(), 0);
        j.clear().expect("clear");
        assert_eq!(reopen(j).suspects().count(), 0);
    }

    #[test]
    fn the_file_is_rewritten_with_the_items_in_flight() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("j");
        let j = Journal::create(&path).expect("create");
        j.started(0, "stuck");
        for seq in 1..3 * REWRITE_EVERY as u64 {
            j.started(seq, &format!("item{seq}"));
            j.ended(seq);
            assert!(j.num_entries() <= REWRITE_EVERY + 2, "seq {seq}");
        }
        j.started(7_000_000, "last");
        let len = std::fs::metadata(&path).expect("stat").len();
        assert!(len < (REWRITE_EVERY * 32) as u64, "{len} bytes");
        let j = reopen(j);
        assert_eq!(sorted_suspects(&j), ["last", "stuck"]);
    }

    #[test]
    fn an_item_started_alone_and_not_done_gets_a_strike_per_run() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("j");
        let j = Journal::create(&path).expect("create");
        j.started(0, "ok");
        j.started(1, "bomb");
        // First careful pass: "ok" is done, "bomb" ends the process.
        let j = reopen(j);
        assert_eq!(sorted_suspects(&j), ["bomb", "ok"]);
        assert_eq!(j.strikes("bomb"), 0);
        j.alone("ok").expect("write");
        j.alone_done("ok").expect("write");
        j.alone("bomb").expect("write");
        // Second careful pass: "ok" is cleared; "bomb" ends the process again.
        let j = reopen(j);
        assert_eq!(sorted_suspects(&j), ["bomb"]);
        assert_eq!((j.strikes("ok"), j.strikes("bomb")), (0, 1));
        assert_eq!(j.struck_out().count(), 0);
        j.alone("bomb").expect("write");
        let j = reopen(j);
        assert_eq!(j.strikes("bomb"), 2);
        assert_eq!(j.struck_out().collect::<Vec<_>>(), ["bomb"]);
        assert_eq!(sorted_suspects(&j), ["bomb"]);
    }

    #[test]
    fn an_item_that_once_ended_the_process_alone_and_then_passed_is_cleared() {
        let d = tempfile::tempdir().expect("tempdir");
        let j = Journal::create(&d.path().join("j")).expect("create");
        j.started(0, "flaky");
        j.alone("flaky").expect("write"); // the node was preempted here
        let j = reopen(j);
        assert_eq!(j.strikes("flaky"), 1);
        j.alone("flaky").expect("write");
        j.alone_done("flaky").expect("write");
        let j = reopen(j);
        assert_eq!(j.suspects().count(), 0);
        assert_eq!(j.struck_out().count(), 0);
    }

    #[test]
    fn a_torn_tail_is_dropped_and_new_entries_follow_whole_ones() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("j");
        let j = Journal::create(&path).expect("create");
        j.started(0, "first");
        j.started(1, "second");
        drop(j);
        let full = std::fs::read(&path).expect("read");
        let first_end = MAGIC.len() + ENTRY_HEAD + "first".len();
        for cut in MAGIC.len()..full.len() {
            std::fs::write(&path, &full[..cut]).expect("write");
            let j = Journal::open(&path).expect("open");
            let whole = usize::from(cut >= first_end);
            assert_eq!(j.suspects().count(), whole, "cut {cut}");
            j.started(2, "third");
            let j = reopen(j);
            assert_eq!(j.suspects().count(), whole + 1, "cut {cut}");
            assert!(j.is_suspect("third"));
        }
    }

    #[test]
    fn corrupted_journals_open_without_panicking() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("j");
        let j = Journal::create(&path).expect("create");
        for seq in 0..20 {
            j.started(seq, &format!("dir/image-{seq}.jpg"));
            if seq % 3 == 0 {
                j.ended(seq);
            }
        }
        j.alone("dir/image-1.jpg").expect("write");
        drop(j);
        let good = std::fs::read(&path).expect("read");
        let mut rng = crate::rng::Rng::new(0x2545_F491_4F6C_DD1D);
        let mut next = move || rng.next_u64();
        for round in 0..2000 {
            let mut bytes = good.clone();
            for _ in 0..1 + next() % 8 {
                let at = MAGIC.len() + (next() as usize) % (bytes.len() - MAGIC.len());
                bytes[at] = next() as u8;
            }
            std::fs::write(&path, &bytes).expect("write");
            let j = Journal::open(&path).expect("a journal with its magic opens");
            // At most one suspect per entry: 20 started, 7 ended, 1 alone.
            assert!(j.suspects().count() <= 28, "round {round}");
            // What it kept is whole entries: a new one reads back after them.
            j.started(99, "after");
            assert!(reopen(j).is_suspect("after"), "round {round}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused_and_kept() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("j");
        std::fs::write(&path, b"something else entirely").expect("write");
        let e = Journal::open(&path).expect_err("not a journal");
        assert!(e.to_string().contains("not an imprint run journal"), "{e}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            b"something else entirely"
        );
        // An empty file (ended before the magic) is a fresh journal.
        std::fs::write(&path, b"").expect("write");
        assert_eq!(Journal::open(&path).expect("open").suspects().count(), 0);
    }
}
