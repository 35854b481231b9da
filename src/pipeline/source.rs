//! Inputs: image files, directory trees, manifests and tar archives, each item with a stable id.
//!
//! | source | item id | order |
//! |---|---|---|
//! | file | the path as given | — |
//! | standard input, one image | `-` | — |
//! | directory | the path of each file under it, as `root/sub/name` | sorted by name at each level |
//! | manifest, one path per line | the line | file order |
//! | list of files (`--files-from`), one path per line | the line | file order |
//! | manifest `.csv`: `id,path` rows, or columns a header names | the `id` column, else the path | file order |
//! | tar archive | `archive-path:member-path` | archive order, streamed |
//!
//! Names become ids as [`super::id`] says ([`super::ID_SCHEME`]): a byte that is not UTF-8
//! is written `\xNN` and a backslash `\\` (Unix), so that distinct files keep distinct ids;
//! an id longer than a store takes is shortened ([`super::shorten_id`]) and the item is
//! hashed as any other. Relative paths in a manifest are resolved against the manifest's
//! directory, those in a list against the current directory (a list named `-` is standard
//! input). Blank lines and lines starting with `#` are skipped. The first other row of a `.csv`
//! manifest is a header when one of its fields is `path`: rows then give the path in that
//! column and the id in the `id` column, if there is one, with other columns left alone (so
//! the `manifest.csv` of [`crate::bench`]'s datasets can be hashed under its own ids), and
//! fields may be quoted as RFC 4180 says. Without such a header a row is `id,path`, the path
//! being the rest of the row. Directory symlinks are not followed (no cycles); file symlinks
//! are. Pipes, sockets and devices found in a directory are left out (a file source or a
//! manifest line naming one is read).

use super::id::{escape_id, path_id, shorten_id, unescape_id, IdError, SHORTENED_TAIL_LEN};
use super::stage::ItemError;
use crate::error::{Error, Result};
use crate::lines::{path_from_bytes, BoundedLines, MAX_LINE_BYTES};
use crate::store::format::MAX_ID_LEN;
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Default cap on the bytes of one item: larger files become error records instead of
/// allocations (the largest camera JPEGs are around 50 MB).
pub const DEFAULT_MAX_ITEM_BYTES: u64 = 256 << 20;

/// One input of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A single image file.
    File(PathBuf),
    /// Every file under a directory, recursively, in sorted order.
    Dir(PathBuf),
    /// A manifest: one path per line, or, when the name ends in `.csv`, `id,path` rows or rows
    /// whose `path` (and `id`) columns a header names; paths relative to the manifest's
    /// directory.
    Manifest(PathBuf),
    /// A list of files, one path per line, relative to the current directory, as a command
    /// line would give them (`find ... > list`); `-` reads the list from standard input, which
    /// can be walked only once (so it is not counted, and cannot be used with a journal).
    List(PathBuf),
    /// A tar archive read as a stream; each regular member is an item.
    Tar(PathBuf),
    /// One image read from standard input, with the id `-` (read once: it cannot be used with
    /// a journal).
    Stdin,
}

impl Source {
    /// Classifies a path: a directory, a `.tar` archive, or else an image file.
    ///
    /// # Errors
    /// [`Error::Io`] when the path cannot be inspected.
    pub fn detect(path: &Path) -> Result<Source> {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(if meta.is_dir() {
            Source::Dir(path.to_owned())
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
        {
            Source::Tar(path.to_owned())
        } else {
            Source::File(path.to_owned())
        })
    }

    /// The path of this source (`-` for standard input).
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Source::File(p)
            | Source::Dir(p)
            | Source::Manifest(p)
            | Source::List(p)
            | Source::Tar(p) => p,
            Source::Stdin => Path::new("-"),
        }
    }

    /// Whether this source reads standard input, which can be walked only once.
    #[must_use]
    pub fn reads_stdin(&self) -> bool {
        match self {
            Source::Stdin => true,
            Source::List(p) => is_stdin(p),
            _ => false,
        }
    }
}

/// Why an item's bytes could not be read.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    Io(std::io::Error),
    TooLarge {
        len: u64,
        max: u64,
    },
    /// Found by a walk, and its first bytes are no image the decoder reads.
    NotAnImage,
}

/// Tells from an item's first bytes whether it may be an image ([`super::Decoder::accepts`]).
pub(crate) type Screen<'a> = &'a (dyn Fn(&[u8]) -> bool + Sync);

/// One item as the walk finds it: its id and its bytes, read or to be read.
pub(crate) struct RawItem {
    pub id: String,
    pub content: Content,
}

/// An item's bytes as the walk hands them on.
pub(crate) enum Content {
    /// Read during the walk (tar members, which are read in order from one stream), or why
    /// they could not be.
    Read(std::result::Result<Vec<u8>, ReadFailure>),
    /// A file, read by one of the read threads (or whoever takes the item), so that the reads
    /// of many files wait on storage at the same time rather than one after another (network
    /// file systems answer each read after milliseconds).
    File {
        /// Where it is.
        path: PathBuf,
        /// The per-item limit in bytes.
        max: u64,
        /// Whether a walk found it, so that its first bytes decide whether it is read on.
        walked: bool,
    },
}

impl RawItem {
    /// The id and the bytes, reading the file now if it was not read yet. A file found by a
    /// walk whose first bytes `screen` turns down is not read on ([`ReadFailure::NotAnImage`]).
    pub(crate) fn read(
        self,
        screen: Screen<'_>,
    ) -> (String, std::result::Result<Vec<u8>, ReadFailure>) {
        let bytes = match self.content {
            Content::Read(bytes) => bytes,
            Content::File { path, max, walked } => read_file(&path, max, walked.then_some(screen)),
        };
        (self.id, bytes)
    }

    /// Whether the item was read already, and that failed.
    pub(crate) fn read_failed(&self) -> bool {
        matches!(self.content, Content::Read(Err(_)))
    }

    /// The item with its bytes read, as [`RawItem::read`].
    pub(crate) fn read_now(self, screen: Screen<'_>) -> RawItem {
        let (id, bytes) = self.read(screen);
        RawItem {
            id,
            content: Content::Read(bytes),
        }
    }
}

impl From<ReadFailure> for ItemError {
    fn from(f: ReadFailure) -> Self {
        match f {
            ReadFailure::Io(e) => ItemError::Read(e),
            ReadFailure::TooLarge { len, max } => ItemError::TooLarge { len, max },
            ReadFailure::NotAnImage => ItemError::NotAnImage,
        }
    }
}

/// Reads a file into memory, refusing files over `max` bytes before allocating; with a
/// `screen`, only the first bytes of a file it turns down.
fn read_file(
    path: &Path,
    max: u64,
    screen: Option<Screen<'_>>,
) -> std::result::Result<Vec<u8>, ReadFailure> {
    let f = File::open(path).map_err(ReadFailure::Io)?;
    let len = f.metadata().map_err(ReadFailure::Io)?.len();
    read_screened(f, len, max, screen)
}

/// As [`read_capped`], after reading the first [`super::ITEM_HEAD_LEN`] bytes and asking
/// `screen` whether to go on: an item it turns down fails with [`ReadFailure::NotAnImage`]
/// whatever its length, having cost one small read.
fn read_screened(
    mut r: impl Read,
    len_hint: u64,
    max: u64,
    screen: Option<Screen<'_>>,
) -> std::result::Result<Vec<u8>, ReadFailure> {
    let Some(accepts) = screen else {
        return read_capped(r, len_hint, max);
    };
    let mut head = [0u8; super::ITEM_HEAD_LEN];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadFailure::Io(e)),
        }
    }
    if !accepts(&head[..n]) {
        return Err(ReadFailure::NotAnImage);
    }
    read_capped(std::io::Cursor::new(&head[..n]).chain(r), len_hint, max)
}

/// Reads an item's bytes from `r`, whose length its file or archive header gives as `len`,
/// keeping to the per-item limit `max` as bulk runs do: an item whose `len` is over it fails
/// before anything is allocated ([`ItemError::TooLarge`]), and one that turns out longer than
/// `max` while read fails then.
///
/// # Errors
/// [`ItemError::TooLarge`], or [`ItemError::Read`] for an I/O error.
pub fn read_item(r: impl Read, len: u64, max: u64) -> std::result::Result<Vec<u8>, ItemError> {
    Ok(read_capped(r, len, max)?)
}

fn read_capped(r: impl Read, len_hint: u64, max: u64) -> std::result::Result<Vec<u8>, ReadFailure> {
    if len_hint > max {
        return Err(ReadFailure::TooLarge { len: len_hint, max });
    }
    // len_hint <= max, which bounds the allocation.
    let mut buf = Vec::with_capacity(usize::try_from(len_hint).unwrap_or(0));
    let n = r
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(ReadFailure::Io)?;
    if n as u64 > max {
        return Err(ReadFailure::TooLarge { len: n as u64, max });
    }
    Ok(buf)
}

/// Whether a list's path names standard input.
pub(crate) fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

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

struct Walker<'a> {
    max: u64,
    exclude: &'a [Excluded],
    screen: Screen<'a>,
    want: &'a mut dyn FnMut(&str) -> bool,
    emit: &'a mut dyn FnMut(RawItem) -> bool,
    stopped: bool,
}

impl Walker<'_> {
    /// The id `id` is stored under ([`stored_id`]), when the run wants the item.
    fn wants(&mut self, id: String) -> Option<String> {
        let id = stored_id(id);
        (self.want)(&id).then_some(id)
    }

    /// Hands an item to the run, and logs when its id had to be shortened.
    fn emit_item(&mut self, id: String, content: Content) {
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

    fn tar(&mut self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let f = File::open(path).map_err(io)?;
        let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, f));
        let prefix = path_id(path);
        for entry in archive.entries().map_err(io)? {
            if self.stopped {
                break;
            }
            // A damaged archive stops this archive but not the run: later members cannot be
            // found reliably, and the error is reported as an item so the run records it.
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if let Some(id) = self.wants(format!("{prefix}:")) {
                        self.emit_item(id, Content::Read(Err(ReadFailure::Io(e))));
                    }
                    break;
                }
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let member = escape_id(&entry.path_bytes());
            let Some(id) = self.wants(format!("{prefix}:{member}")) else {
                continue; // the archive skips the unread member data
            };
            let len = entry.size();
            let content =
                Content::Read(read_screened(&mut entry, len, self.max, Some(self.screen)));
            self.emit_item(id, content);
        }
        Ok(())
    }
}

/// A manifest line's id and path fields (unquoted when the CSV quoted them).
type IdAndPath<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// How the rows of a `.csv` manifest are laid out, known from its first row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CsvShape {
    /// No row read yet.
    Unknown,
    /// No header: `id,path`, the path being the rest of the row (it may hold commas).
    IdPath,
    /// A header named the columns: `path`, and `id` if the rows have their own ids (the path
    /// is the id otherwise). Other columns are left alone.
    Named {
        id: Option<usize>,
        path: usize,
        columns: usize,
    },
}

/// How a file of paths is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listing {
    /// [`Source::Manifest`]: paths, or CSV rows in a `.csv`.
    Manifest,
    /// [`Source::List`]: paths only; `-` is standard input.
    Files,
}

/// Calls `f` with the id and the path as written of each item the manifest or list at `path`
/// names, in order; `f` returns `false` to stop. Lines are read as bytes, so a path that is
/// not UTF-8 keeps its bytes (and its id escapes them, as [`path_id`] does), and at most
/// [`MAX_LINE_BYTES`] of a line are kept.
///
/// # Errors
/// [`Error::Io`], or [`Error::BadInput`] naming the first bad line.
fn for_each_manifest_item(
    path: &Path,
    kind: Listing,
    f: &mut dyn FnMut(String, PathBuf) -> bool,
) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let csv = kind == Listing::Manifest
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let reader: Box<dyn std::io::BufRead> = if kind == Listing::Files && is_stdin(path) {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(BufReader::new(File::open(path).map_err(io)?))
    };
    let mut lines = BoundedLines::new(reader, MAX_LINE_BYTES);
    let mut n = 0;
    let mut shape = CsvShape::Unknown;
    while let Some(line) = lines.next_line().map_err(io)? {
        n += 1;
        let parsed = line
            .bytes()
            .and_then(|b| parse_manifest_line(b, csv, &mut shape));
        match parsed {
            Ok(None) => {}
            Ok(Some((id, rel))) => {
                if !f(escape_id(&id), path_from_bytes(&rel)) {
                    break;
                }
            }
            Err(detail) => {
                return Err(Error::BadInput {
                    path: path.to_owned(),
                    what: format!("line {n}"),
                    detail,
                })
            }
        }
    }
    Ok(())
}

/// Splits a manifest line into `(id, path)`; `None` for blank, comment and CSV header lines.
/// The first other row of a `.csv` manifest is a header when one of its fields is `path`.
fn parse_manifest_line<'a>(
    line: &'a [u8],
    csv: bool,
    shape: &mut CsvShape,
) -> std::result::Result<Option<IdAndPath<'a>>, String> {
    if line.iter().all(u8::is_ascii_whitespace) || line.starts_with(b"#") {
        return Ok(None);
    }
    if !csv {
        return Ok(Some((Cow::Borrowed(line), Cow::Borrowed(line))));
    }
    if *shape == CsvShape::Unknown {
        // A row that is no CSV at all is no header either.
        let fields = csv_fields(line).unwrap_or_default();
        let column = |name: &[u8]| fields.iter().position(|f| f.as_ref() == name);
        *shape = match column(b"path") {
            Some(path) => CsvShape::Named {
                id: column(b"id"),
                path,
                columns: fields.len(),
            },
            None => CsvShape::IdPath,
        };
        if *shape != CsvShape::IdPath {
            return Ok(None);
        }
    }
    let (id, path) = match *shape {
        CsvShape::Named { id, path, columns } => {
            let mut fields = csv_fields(line)?;
            if fields.len() <= path.max(id.unwrap_or(0)) {
                return Err(format!(
                    "{} fields where the header names {columns}",
                    fields.len()
                ));
            }
            let p = std::mem::take(&mut fields[path]);
            match id {
                Some(i) => (std::mem::take(&mut fields[i]), p),
                None => (p.clone(), p),
            }
        }
        _ => {
            let comma = line
                .iter()
                .position(|&b| b == b',')
                .ok_or("expected `id,path` (no comma found)")?;
            (
                Cow::Borrowed(&line[..comma]),
                Cow::Borrowed(&line[comma + 1..]),
            )
        }
    };
    if id.is_empty() || path.is_empty() {
        return Err("empty id or path".into());
    }
    Ok(Some((id, path)))
}

/// The fields of a CSV row as RFC 4180 writes them: a field that starts with `"` runs to the
/// closing quote, with `""` standing for `"`, and may hold commas; other fields are taken as
/// written (paths may start or end with blanks).
fn csv_fields(line: &[u8]) -> std::result::Result<Vec<Cow<'_, [u8]>>, String> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let (field, after) = match rest.strip_prefix(b"\"") {
            Some(mut inner) => {
                let mut text = Vec::new();
                loop {
                    let q = inner
                        .iter()
                        .position(|&b| b == b'"')
                        .ok_or("a quoted field does not end")?;
                    text.extend_from_slice(&inner[..q]);
                    match inner.get(q + 1) {
                        Some(b'"') => {
                            text.push(b'"');
                            inner = &inner[q + 2..];
                        }
                        None | Some(b',') => break (Cow::Owned(text), &inner[q + 1..]),
                        Some(_) => return Err("text after a quoted field's closing quote".into()),
                    }
                }
            }
            None => {
                let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
                (Cow::Borrowed(&rest[..end]), &rest[end..])
            }
        };
        fields.push(field);
        match after.split_first() {
            Some((_, next)) => rest = next,
            None => return Ok(fields),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A screen that accepts every item.
    const ALL: Screen<'static> = &|_| true;

    /// Writes a tar archive of regular files.
    fn write_tar<P: AsRef<Path>>(path: &Path, members: &[(P, &[u8])]) {
        let mut b = tar::Builder::new(File::create(path).expect("create"));
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.finish().expect("finish");
    }

    fn collect(sources: &[Source]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        walk(sources, 1 << 20, &[], ALL, &mut |_| true, &mut |it| {
            let (id, bytes) = it.read(ALL);
            out.push((id, bytes.map(|b| b.len()).unwrap_or(usize::MAX)));
            true
        })
        .expect("walk");
        out
    }

    /// The line and detail of the bad-input error that walking the manifest at `path` stops
    /// with.
    fn manifest_error(path: &Path) -> (String, String) {
        match walk(
            &[Source::Manifest(path.to_owned())],
            1 << 20,
            &[],
            ALL,
            &mut |_| true,
            &mut |_| true,
        ) {
            Err(Error::BadInput { what, detail, .. }) => (what, detail),
            other => panic!("{}: {other:?}", path.display()),
        }
    }

    #[test]
    fn directories_walk_in_sorted_order() {
        let d = tempfile::tempdir().expect("tempdir");
        for p in ["b/2", "b/10", "a", "c/x/y"] {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().expect("has parent")).expect("mkdir");
            std::fs::write(&f, p).expect("write");
        }
        let root = d.path().to_string_lossy().into_owned();
        let ids: Vec<String> = collect(&[Source::Dir(d.path().to_owned())])
            .into_iter()
            .map(|(id, _)| id[root.len() + 1..].to_owned())
            .collect();
        assert_eq!(ids, ["a", "b/10", "b/2", "c/x/y"]);
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_keep_distinct_ids_that_lead_back_to_their_files() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let d = tempfile::tempdir().expect("tempdir");
        // Latin-1 names: é and è are single bytes that are not UTF-8.
        let names: [&[u8]; 3] = [b"caf\xe9.jpg", b"caf\xe8.jpg", "caf\u{e9}.jpg".as_bytes()];
        for (i, n) in names.iter().enumerate() {
            std::fs::write(d.path().join(OsStr::from_bytes(n)), [i as u8]).expect("write");
        }
        let root = d.path().to_str().expect("utf-8 temp dir").to_owned();
        let got: Vec<(String, usize)> = collect(&[Source::Dir(d.path().to_owned())])
            .into_iter()
            .map(|(id, len)| (id[root.len() + 1..].to_owned(), len))
            .collect();
        assert_eq!(
            got,
            // In byte order: é in UTF-8 is c3 a9.
            [
                ("caf\u{e9}.jpg".to_owned(), 1),
                ("caf\\xe8.jpg".to_owned(), 1),
                ("caf\\xe9.jpg".to_owned(), 1)
            ]
        );
        // Undoing the escapes names the file again.
        for (id, _) in &got {
            let path = d.path().join(OsStr::from_bytes(
                &super::super::unescape_id(id).expect("scheme-2 id"),
            ));
            assert!(path.exists(), "{id}");
        }
        // Tar members likewise.
        let tar_path = d.path().join("t.tar");
        let members: Vec<(&OsStr, &[u8])> = names[..2]
            .iter()
            .map(|n| (OsStr::from_bytes(n), &[7u8][..]))
            .collect();
        write_tar(&tar_path, &members);
        let ids: Vec<String> = collect(&[Source::Tar(tar_path.clone())])
            .into_iter()
            .map(|(id, _)| id.rsplit(':').next().expect("member").to_owned())
            .collect();
        assert_eq!(ids, ["caf\\xe9.jpg", "caf\\xe8.jpg"]);
    }

    #[test]
    fn random_csv_rows_parse_or_fail_without_panicking() {
        let mut rng = crate::bench::Rng::new(11);
        let alphabet = b"ab,\"\" ,\r\xff#";
        for _ in 0..20_000 {
            let len = rng.below(12) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            if let Ok(fields) = csv_fields(&line) {
                // Unquoted, the fields never hold more bytes than the row.
                assert!(fields.iter().map(|f| f.len()).sum::<usize>() <= line.len());
            }
            for mut shape in [
                CsvShape::Unknown,
                CsvShape::IdPath,
                CsvShape::Named {
                    id: Some(2),
                    path: 0,
                    columns: 3,
                },
            ] {
                if let Ok(Some((id, path))) = parse_manifest_line(&line, true, &mut shape) {
                    assert!(!id.is_empty() && !path.is_empty());
                }
            }
        }
    }

    #[test]
    fn a_csv_manifest_header_names_the_id_and_path_columns() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("img.jpg"), b"1234").expect("write");
        std::fs::write(d.path().join("a,b.jpg"), b"123456").expect("write");
        let read = |name: &str, text: &str| {
            std::fs::write(d.path().join(name), text).expect("write");
            collect(&[Source::Manifest(d.path().join(name))])
        };
        let got = |items: &[(&str, usize)]| -> Vec<(String, usize)> {
            items.iter().map(|&(i, n)| (i.to_owned(), n)).collect()
        };
        // `imprint bench make-dataset`'s manifest: more columns, in its own order, after a
        // comment; quoted fields may hold commas and quotes.
        assert_eq!(
            read(
                "ds.csv",
                "# made by a script\nrole,path,id,width\noriginal,img.jpg,R0,4\n\
                 query,\"a,b.jpg\",\"Q\"\"1\",6\n",
            ),
            got(&[("R0", 4), ("Q\"1", 6)])
        );
        // Without an id column the path is the id.
        assert_eq!(
            read("paths.csv", "path\nimg.jpg\n\"a,b.jpg\"\n"),
            got(&[("img.jpg", 4), ("a,b.jpg", 6)])
        );
        // Without a header: `id,path`, the path being the rest of the row, as before.
        assert_eq!(
            read("plain.csv", "k1,a,b.jpg\nk2,img.jpg\n"),
            got(&[("k1", 6), ("k2", 4)])
        );
        // Rows the header cannot be applied to stop the run, naming the line.
        for (text, detail) in [
            ("id,path,w\nk1\n", "1 fields where the header names 3"),
            ("id,path\n\"k1,img.jpg\n", "a quoted field does not end"),
            (
                "id,path\n\"k\"1,img.jpg\n",
                "text after a quoted field's closing quote",
            ),
            ("id,path\n,img.jpg\n", "empty id or path"),
        ] {
            std::fs::write(d.path().join("bad.csv"), text).expect("write");
            let (what, got) = manifest_error(&d.path().join("bad.csv"));
            assert_eq!(
                (what.as_str(), got.as_str()),
                ("line 2", detail),
                "{text:?}"
            );
        }
    }

    #[test]
    fn manifests_plain_and_csv() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("img.jpg"), b"1234").expect("write");
        std::fs::write(d.path().join("list.txt"), "# c\nimg.jpg\n\nmissing.jpg\r\n")
            .expect("write");
        std::fs::write(d.path().join("list.csv"), "id,path\nk1,img.jpg\nk2,nope\n").expect("write");
        let got = collect(&[
            Source::Manifest(d.path().join("list.txt")),
            Source::Manifest(d.path().join("list.csv")),
        ]);
        assert_eq!(
            got,
            [
                ("img.jpg".into(), 4),
                ("missing.jpg".into(), usize::MAX),
                ("k1".into(), 4),
                ("k2".into(), usize::MAX)
            ]
        );
        let n = count(&[Source::Manifest(d.path().join("list.csv"))], &mut |id| {
            id == "k1"
        })
        .expect("count");
        assert_eq!(n, Some(1));
        // A list on standard input can be read only once: not counted.
        let n = count(&[Source::List("-".into())], &mut |_| true).expect("count");
        assert_eq!(n, None);
        std::fs::write(d.path().join("bad.csv"), "no comma\n").expect("write");
        manifest_error(&d.path().join("bad.csv"));
    }

    #[test]
    fn tar_members_are_items_and_skipped_ones_are_not_read() {
        let d = tempfile::tempdir().expect("tempdir");
        let tar_path = d.path().join("shard.tar");
        write_tar(
            &tar_path,
            &[
                ("x/a.png", &b"aaaa"[..]),
                ("b.jpg", b"bb"),
                ("big", &[0u8; 100]),
            ],
        );
        let prefix = tar_path.to_string_lossy().into_owned();
        let mut out = Vec::new();
        walk(
            &[Source::Tar(tar_path.clone())],
            50,
            &[],
            ALL,
            &mut |id| !id.ends_with("b.jpg"),
            &mut |it| {
                let (id, bytes) = it.read(ALL);
                out.push((id, bytes.map(|b| b.len()).ok()));
                true
            },
        )
        .expect("walk");
        assert_eq!(
            out,
            [
                (format!("{prefix}:x/a.png"), Some(4)),
                (format!("{prefix}:big"), None)
            ]
        );
    }

    /// A reader that counts the bytes it hands out.
    struct Counting<'a>(&'a [u8], &'a std::cell::Cell<usize>);

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            // At most 5 bytes a call, so that the head takes several reads.
            let len = buf.len().min(5);
            let n = self.0.read(&mut buf[..len])?;
            self.1.set(self.1.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn a_screened_item_is_read_on_only_when_its_head_is_accepted() {
        let jpeg_like: Vec<u8> = [0xFF, 0xD8, 0xFF].into_iter().chain(0..=255).collect();
        let text = vec![b'x'; 1000];
        let screen: Screen<'_> = &|head| crate::decode::sniff(head).is_some();
        let read = |bytes: &[u8], max: u64| {
            let count = std::cell::Cell::new(0);
            let r = read_screened(
                Counting(bytes, &count),
                bytes.len() as u64,
                max,
                Some(screen),
            );
            (r, count.get())
        };
        let (r, n) = read(&jpeg_like, 1 << 20);
        assert_eq!((r.expect("read"), n), (jpeg_like.clone(), jpeg_like.len()));
        let (r, n) = read(&text, 1 << 20);
        assert!(matches!(r, Err(ReadFailure::NotAnImage)));
        assert_eq!(n, crate::pipeline::ITEM_HEAD_LEN);
        // Over the size limit: refused after the head whatever it is, the text as text.
        let (r, n) = read(&text, 10);
        assert!(matches!(r, Err(ReadFailure::NotAnImage)));
        assert_eq!(n, crate::pipeline::ITEM_HEAD_LEN);
        let (r, _) = read(&jpeg_like, 10);
        assert!(matches!(
            r,
            Err(ReadFailure::TooLarge { len: 259, max: 10 })
        ));
        // Shorter than the head: shown whole, and kept whole.
        let (r, n) = read(&jpeg_like[..20], 1 << 20);
        assert_eq!((r.expect("read"), n), (jpeg_like[..20].to_vec(), 20));
        let (r, _) = read(&[], 1 << 20);
        assert!(matches!(r, Err(ReadFailure::NotAnImage)));
    }

    #[test]
    fn walks_screen_directory_files_and_tar_members_but_not_named_files() {
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path().join("in");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("a.jpg"), [0xFF, 0xD8, 0xFF, 0xE0]).expect("write");
        std::fs::write(dir.join("b.txt"), "text").expect("write");
        let tar_path = d.path().join("shard.tar");
        write_tar(
            &tar_path,
            &[("c.jpg", &[0xFF, 0xD8, 0xFF, 0xE0][..]), ("c.json", b"{}")],
        );
        let screen: Screen<'_> = &|head| crate::decode::sniff(head).is_some();
        let mut got = Vec::new();
        walk(
            &[
                Source::Dir(dir.clone()),
                Source::Tar(tar_path),
                Source::File(dir.join("b.txt")),
            ],
            1 << 20,
            &[],
            screen,
            &mut |_| true,
            &mut |it| {
                let (id, bytes) = it.read(screen);
                let name = id.rsplit(['/', ':']).next().expect("name").to_owned();
                got.push((name, bytes.map(|b| b.len()).map_err(|e| format!("{e:?}"))));
                true
            },
        )
        .expect("walk");
        let not_image = || Err("NotAnImage".to_string());
        assert_eq!(
            got,
            [
                ("a.jpg".to_string(), Ok(4)),
                ("b.txt".into(), not_image()),
                ("c.jpg".into(), Ok(4)),
                ("c.json".into(), not_image()),
                ("b.txt".into(), Ok(4)),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn walks_leave_out_pipes_and_directory_symlinks_and_follow_file_symlinks() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("in");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/a.jpg"), b"aaaa").expect("write");
        symlink(root.join("sub"), root.join("loop")).expect("symlink");
        symlink(root.join("sub/a.jpg"), root.join("b.jpg")).expect("symlink");
        symlink(root.join("gone.jpg"), root.join("c.jpg")).expect("symlink");
        let made = std::process::Command::new("mkfifo")
            .arg(root.join("d.pipe"))
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let mut ids = Vec::new();
        walk(
            &[Source::Dir(root.clone())],
            1 << 20,
            &[],
            ALL,
            &mut |_| true,
            &mut |it| {
                // Only the ids: reading the pipe would wait for a writer.
                ids.push(it.id.rsplit('/').next().expect("name").to_owned());
                true
            },
        )
        .expect("walk");
        // The dangling link is an item, whose read fails naming the cause.
        assert_eq!(ids, ["b.jpg", "c.jpg", "a.jpg"]);
    }

    #[cfg(unix)]
    #[test]
    fn manifest_lines_may_name_files_that_are_not_utf8_and_may_not_be_endless() {
        use std::os::unix::ffi::OsStrExt;
        let d = tempfile::tempdir().expect("tempdir");
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.jpg");
        std::fs::write(d.path().join(name), b"12345").expect("write");
        std::fs::write(d.path().join("list.txt"), b"caf\xe9.jpg\r\n").expect("write");
        std::fs::write(d.path().join("list.csv"), b"k\xe8,caf\xe9.jpg\n").expect("write");
        let got = collect(&[
            Source::Manifest(d.path().join("list.txt")),
            Source::Manifest(d.path().join("list.csv")),
        ]);
        assert_eq!(got, [("caf\\xe9.jpg".into(), 5), ("k\\xe8".into(), 5)]);
        // A line of 1 MiB without a break is refused by number, not read into memory.
        let mut long = b"ok.jpg\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', 1 << 20));
        std::fs::write(d.path().join("long.txt"), &long).expect("write");
        let (what, detail) = manifest_error(&d.path().join("long.txt"));
        assert_eq!(what, "line 2");
        assert!(detail.contains("1048576 bytes long"), "{detail}");
    }

    #[test]
    fn a_directory_that_cannot_be_listed_is_a_failed_item_and_the_walk_goes_on() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("a.jpg"), b"aaaa").expect("write");
        let gone = d.path().join("gone");
        let mut got = Vec::new();
        walk(
            &[Source::Dir(gone.clone()), Source::Dir(d.path().to_owned())],
            1 << 20,
            &[],
            ALL,
            &mut |_| true,
            &mut |it| {
                let (id, bytes) = it.read(ALL);
                got.push((id, bytes.map(|b| b.len()).map_err(|e| format!("{e:?}"))));
                true
            },
        )
        .expect("walk");
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, path_id(&gone));
        let cause = got[0].1.as_ref().expect_err("failed");
        assert!(cause.contains("cannot list directory"), "{cause}");
        assert_eq!(got[1].1, Ok(4));
    }
}
