//! Reading a hash list as a stream of entries, one bounded line at a time.

use super::csv::{parse_plain, Columns};
use super::error::{LineError, LineErrorKind, ListError};
use super::json::parse_json;
use super::Entry;
use crate::lines::{BoundedLines, Line, MAX_LINE_BYTES};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// The read buffer of a list opened by path: large reads, as lists run to millions of lines.
const FILE_BUFFER_BYTES: usize = 1 << 20;

/// Reads the entries of one hash list in any of the [formats](super) (they may be mixed, line
/// by line, except that a CSV header is recognized only before the first entry).
///
/// An iterator over `Result<`[`Entry`]`, `[`ListError`]`>`: one item per line that is not
/// blank, a comment or a header. After a [`ListError::Line`] reading goes on; after an I/O
/// error the iterator ends. Memory is one line of at most [`MAX_LINE_BYTES`] bytes at a time,
/// and time is linear in the input.
///
/// # Examples
///
/// ```
/// use imprint::hash::Hashes;
/// use imprint::hashlist::{LineErrorKind, ListError, Reader};
///
/// let h = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
/// let text = format!("id,hash,quality,error\nx.jpg,{h},87,\ny.jpg,,,decode failed\n");
/// let mut reader = Reader::new(text.as_bytes(), "export.csv");
/// let first = reader.next().expect("an entry")?;
/// assert_eq!((first.id.as_str(), first.hashes, first.quality), ("x.jpg", Hashes::One(h.parse()?), Some(87)));
/// match reader.next() {
///     Some(Err(ListError::Line(bad))) => {
///         assert_eq!(bad.line, 3);
///         assert!(bad.is_failed_item());
///         assert!(matches!(bad.kind, LineErrorKind::FailedItem { .. }));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(reader.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Reader<R> {
    lines: BoundedLines<R>,
    parser: Parser,
    input: String,
    line: u64,
    /// Set after an I/O error, which ends the stream.
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// Reads the list from `reader`; `input` names it in errors (`-` for standard input).
    pub fn new(reader: R, input: impl Into<String>) -> Self {
        Self {
            lines: BoundedLines::new(reader, MAX_LINE_BYTES),
            parser: Parser::default(),
            input: input.into(),
            line: 0,
            done: false,
        }
    }

    /// The input's name, as errors give it.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The number of lines read so far (the 1-based number of the last one).
    #[must_use]
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next entry, or the next line's error; `None` at the end of the input or after an
    /// I/O error. The same as [`Iterator::next`].
    ///
    /// # Errors
    /// [`ListError::Line`] for a line that gives no entry, [`ListError::Read`] for an I/O
    /// error of the reader.
    pub fn next_entry(&mut self) -> Option<Result<Entry, ListError>> {
        if self.done {
            return None;
        }
        loop {
            let line = match self.lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(source) => {
                    self.done = true;
                    return Some(Err(ListError::Read {
                        input: self.input.clone(),
                        source,
                    }));
                }
            };
            self.line += 1;
            let parsed = match line {
                Line::Bytes(b) => match std::str::from_utf8(b) {
                    Ok(text) => self.parser.parse_line(text),
                    Err(e) => Err(LineErrorKind::NotUtf8(e)),
                },
                Line::TooLong { len, max } => Err(LineErrorKind::TooLong { len, max }),
            };
            match parsed {
                Ok(None) => {}
                Ok(Some(entry)) => return Some(Ok(entry)),
                Err(kind) => {
                    return Some(Err(ListError::Line(LineError {
                        input: self.input.clone(),
                        line: self.line,
                        kind,
                    })))
                }
            }
        }
    }
}

impl Reader<Box<dyn BufRead + Send>> {
    /// Reads the list in the file at `path`, or standard input when `path` is `-`; errors
    /// name the input as `path` is written. The reader may be moved to another thread.
    ///
    /// # Errors
    /// [`ListError::Open`] when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, ListError> {
        if path.as_os_str() == "-" {
            return Ok(Self::new(Box::new(BufReader::new(io::stdin())), "-"));
        }
        let f = File::open(path).map_err(|source| ListError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::new(
            Box::new(BufReader::with_capacity(FILE_BUFFER_BYTES, f)),
            path.display().to_string(),
        ))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Entry, ListError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry()
    }
}

/// Parses the lines of one input, which may start with a CSV header (its first line that is
/// not blank or a comment).
#[derive(Debug, Default)]
pub(super) struct Parser {
    columns: Option<Columns>,
    /// Whether a line other than a blank or a comment was seen.
    started: bool,
}

impl Parser {
    /// Parses one line: `Ok(None)` for lines to skip.
    pub(super) fn parse_line(&mut self, line: &str) -> Result<Option<Entry>, LineErrorKind> {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            return Ok(None);
        }
        let first = !std::mem::replace(&mut self.started, true);
        if t.starts_with('{') {
            return parse_json(t).map(Some);
        }
        if first {
            if let Some(columns) = Columns::from_header(t) {
                self.columns = Some(columns);
                return Ok(None);
            }
        }
        match &self.columns {
            Some(columns) => columns.parse(t).map(Some),
            None => parse_plain(t).map(Some),
        }
    }
}
