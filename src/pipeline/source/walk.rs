//! Walking the sources in order: files, directory trees (sorted, symlinks to directories not
//! followed, pipes and devices left out), manifests and lists, standard input; each item wanted
//! is handed on with its stored id.

use super::manifest::{for_each_manifest_item, Listing};
use super::read::{read_capped, Content, RawItem, ReadFailure, Screen};
use super::{is_stdin, Source};
use crate::error::Result;
use crate::pipeline::id::{path_id, shorten_id, unescape_id, IdError, SHORTENED_TAIL_LEN};
use crate::store::format::MAX_ID_LEN;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The id an item with the full id `id` is stored under: `id`, or its shortened form
/// ([`shorten_id`]) when it is over [`MAX_ID_LEN`] bytes.
fn stored_id(id: String) -> String {
    match shorten_id(&id) {
        Cow::Borrowed(_) => id,
        Cow::Owned(short) => short,
    }
}

/// Walks all sources in order, calling `emit` for each item that `want(id)` accepts; items it
/// rejects are never read. `emit` returns `false` to stop early. A tar member whose first bytes
/// `screen` turns down is emitted as [`ReadFailure::NotAnImage`] without being read further;
/// files found in directories are marked to be screened when read. A directory that cannot be
/// listed is emitted as an item whose read failed.
///
/// # Errors
/// A manifest or list that cannot be opened or has a bad line, or a tar archive that cannot be
/// read past its start.
pub(crate) fn walk(
    sources: &[Source],
    max_item_bytes: u64,
    exclude: &[Excluded],
    screen: Screen<'_>,
    want: &mut dyn FnMut(&str) -> bool,
    emit: &mut dyn FnMut(RawItem) -> bool,
) -> Result<()> {
    let mut w = Walker {
        max: max_item_bytes,
        exclude,
        screen,
        want,
        emit,
        stopped: false,
    };
    for s in sources {
        match s {
            Source::File(p) => w.file(path_id(p), p, false),
            Source::Dir(p) => w.dir(p),
            Source::Manifest(p) => w.manifest(p, Listing::Manifest)?,
            Source::List(p) => w.manifest(p, Listing::Files)?,
            Source::Tar(p) => w.tar(p)?,
            Source::Stdin => w.stdin(),
        }
        if w.stopped {
            break;
        }
    }
    Ok(())
}

/// A file that is not an item wherever a directory or manifest reaches it (the run's own
/// output): its name, to compare cheaply, and its canonical path, to be sure.
#[derive(Clone, Debug)]
pub(crate) struct Excluded {
    name: std::ffi::OsString,
    canonical: PathBuf,
}

impl Excluded {
    /// The file at `path`, or `None` when it cannot be resolved (it does not exist).
    pub(crate) fn new(path: &Path) -> Option<Excluded> {
        Some(Excluded {
            name: path.file_name()?.to_owned(),
            canonical: std::fs::canonicalize(path).ok()?,
        })
    }

    fn is(&self, path: &Path) -> bool {
        path.file_name() == Some(self.name.as_os_str())
            && std::fs::canonicalize(path).is_ok_and(|c| c == self.canonical)
    }
}

/// What a directory entry is to a walk. A symlink counts as what it points to, except a
/// directory (no cycles); one that points nowhere is a file, whose read fails naming its cause.
fn entry_kind(e: &std::fs::DirEntry) -> std::io::Result<Kind> {
    let t = e.file_type()?;
    Ok(if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else if t.is_symlink() {
        match std::fs::metadata(e.path()) {
            Ok(m) if m.is_file() => Kind::File,
            Ok(_) => Kind::Other,
            Err(_) => Kind::File,
        }
    } else {
        Kind::Other
    })
}

/// What a directory entry is to a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Dir,
    File,
    /// A symlink to a directory, a pipe, a socket, a device: not walked, not read.
    Other,
}

/// One walk over the sources: its settings, and whether the run asked it to stop.
pub(super) struct Walker<'a> {
    /// The per-item limit in bytes.
    pub(super) max: u64,
    exclude: &'a [Excluded],
    /// Tells from an item's first bytes whether to read it on.
    pub(super) screen: Screen<'a>,
    want: &'a mut dyn FnMut(&str) -> bool,
    emit: &'a mut dyn FnMut(RawItem) -> bool,
    /// Set once `emit` returns `false`.
    pub(super) stopped: bool,
}

impl Walker<'_> {
    /// The id `id` is stored under ([`stored_id`]), when the run wants the item.
    pub(super) fn wants(&mut self, id: String) -> Option<String> {
        let id = stored_id(id);
        (self.want)(&id).then_some(id)
    }

    /// Hands an item to the run, and logs when its id had to be shortened.
    pub(super) fn emit_item(&mut self, id: String, content: Content) {
        if id.len() > MAX_ID_LEN - SHORTENED_TAIL_LEN - 4
            && unescape_id(&id) == Err(IdError::Shortened)
        {
            log::warn!(
                "item id over {MAX_ID_LEN} bytes stored shortened (prefix and sha-256 of the \
                 full id): {id}"
            );
        }
        self.stopped = !(self.emit)(RawItem { id, content });
    }

    fn file(&mut self, id: String, path: &Path, walked: bool) {
        if self.stopped || self.exclude.iter().any(|e| e.is(path)) {
            return;
        }
        let Some(id) = self.wants(id) else { return };
        let content = Content::File {
            path: path.to_owned(),
            max: self.max,
            walked,
        };
        self.emit_item(id, content);
    }

    /// Walks a directory tree. A directory that cannot be listed (permissions, a vanished
    /// mount) becomes an item of its own, whose read fails naming the cause, so that the run
    /// goes on and records it; what was listed of it before the failure is still walked.
    fn dir(&mut self, dir: &Path) {
        let mut entries = Vec::new();
        let mut failure = None;
        match std::fs::read_dir(dir) {
            Err(e) => failure = Some(e),
            Ok(listing) => {
                for e in listing {
                    match e.and_then(|e| Ok((e.file_name(), entry_kind(&e)?))) {
                        Ok(entry) => entries.push(entry),
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
            }
        }
        if let Some(e) = failure {
            if let Some(id) = self.wants(path_id(dir)) {
                let cause = std::io::Error::new(e.kind(), format!("cannot list directory: {e}"));
                self.emit_item(id, Content::Read(Err(ReadFailure::Io(cause))));
            }
        }
        entries.sort();
        for (name, kind) in entries {
            if self.stopped {
                break;
            }
            let p = dir.join(&name);
            match kind {
                Kind::Dir => self.dir(&p),
                Kind::File => self.file(path_id(&p), &p, true),
                // Pipes, sockets and devices found in a tree are not files to read: a pipe
                // would wait for a writer forever, a device never end.
                Kind::Other => {}
            }
        }
    }

    fn manifest(&mut self, path: &Path, kind: Listing) -> Result<()> {
        let base = match kind {
            Listing::Manifest => path.parent().unwrap_or(Path::new("")).to_owned(),
            Listing::Files => PathBuf::new(),
        };
        for_each_manifest_item(path, kind, &mut |id, rel| {
            self.file(id, &base.join(rel), false);
            !self.stopped
        })
    }

    fn stdin(&mut self) {
        let id = "-".to_owned();
        if self.stopped || !(self.want)(&id) {
            return;
        }
        let content = Content::Read(read_capped(std::io::stdin().lock(), 0, self.max));
        self.stopped = !(self.emit)(RawItem { id, content });
    }
}

/// Counts the items the sources will produce that `want` accepts, when that is cheap: files,
/// manifests and lists (one pass over the lines). `None` when a directory, an archive or a
/// list on standard input is present. Every manifest and list is read through even then, so
/// that a bad line stops a run before it starts rather than hours into it.
///
/// # Errors
/// As [`walk`] for manifests and lists.
pub(crate) fn count(sources: &[Source], want: &mut dyn FnMut(&str) -> bool) -> Result<Option<u64>> {
    let mut n = 0u64;
    let mut known = true;
    for s in sources {
        let (p, kind) = match s {
            Source::File(p) => {
                n += u64::from(want(&stored_id(path_id(p))));
                continue;
            }
            Source::Stdin => {
                n += u64::from(want("-"));
                continue;
            }
            Source::List(p) if is_stdin(p) => {
                known = false;
                continue;
            }
            Source::List(p) => (p, Listing::Files),
            Source::Manifest(p) => (p, Listing::Manifest),
            Source::Dir(_) | Source::Tar(_) => {
                known = false;
                continue;
            }
        };
        for_each_manifest_item(p, kind, &mut |id, _| {
            n += u64::from(want(&stored_id(id)));
            true
        })?;
    }
    Ok(known.then_some(n))
}
