//! Text inputs (manifests, hash lists, lists of paths) read line by line with a bound on a
//! line's length, so that a file without line breaks cannot make its reader allocate its whole
//! size, and as bytes, so that one line that is not UTF-8 (a legacy file name) does not stop
//! the rest from being read. Rows of comma-separated fields (`.csv` manifests, hash lists)
//! are split by [`csv::split`], whose module docs state the crate's one set of CSV rules.
//!
//! ```
//! use imprint::lines::{BoundedLines, Line};
//! let text = b"a.jpg\r\nb.jpg\n".repeat(2);
//! let mut lines = BoundedLines::new(&text[..], 64);
//! let mut got = Vec::new();
//! while let Some(line) = lines.next_line()? {
//!     if let Line::Bytes(b) = line {
//!         got.push(String::from_utf8_lossy(b).into_owned());
//!     }
//! }
//! assert_eq!(got, ["a.jpg", "b.jpg", "a.jpg", "b.jpg"]);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, BufRead};

pub mod csv;

/// The longest line the engine's readers keep, in bytes (a path is at most 4 KiB on Linux;
/// a hash list line with 8 hashes and an id is under 1 KiB).
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// One line, without its `\n` or `\r\n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's bytes.
    Bytes(&'a [u8]),
    /// A line longer than the bound: its length in bytes, line break excluded. Its bytes were
    /// read and dropped.
    TooLong {
        /// Its length.
        len: u64,
        /// The bound it is over.
        max: usize,
    },
}

impl<'a> Line<'a> {
    /// The line's bytes, or why it was refused (`N bytes long, over the limit of M`).
    ///
    /// # Errors
    /// A [`Line::TooLong`], as a message.
    pub fn bytes(self) -> Result<&'a [u8], String> {
        match self {
            Line::Bytes(b) => Ok(b),
            Line::TooLong { len, max } => Err(format!("{len} bytes long, over the limit of {max}")),
        }
    }
}

/// Reads the lines of `R` into one reused buffer, keeping at most `max` bytes of a line.
#[derive(Debug)]
pub struct BoundedLines<R> {
    reader: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: BufRead> BoundedLines<R> {
    /// Lines of `reader`, each kept up to `max` bytes.
    pub fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            max,
        }
    }

    /// The next line; `None` at the end of the input. A last line without a line break counts.
    ///
    /// # Errors
    /// An I/O error of the reader.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut len = 0u64;
        let mut last = None;
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], true),
                None => (chunk, false),
            };
            len += part.len() as u64;
            if let Some(&b) = part.last() {
                last = Some(b);
            }
            if self.buf.len() <= self.max {
                let room = self.max + 1 - self.buf.len();
                self.buf.extend_from_slice(&part[..part.len().min(room)]);
            }
            let used = part.len() + usize::from(done);
            self.reader.consume(used);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if last == Some(b'\r') {
            len -= 1;
            self.buf
                .truncate(self.buf.len().min(self.max).min(len as usize));
        }
        if len > self.max as u64 {
            return Ok(Some(Line::TooLong { len, max: self.max }));
        }
        Ok(Some(Line::Bytes(&self.buf)))
    }
}

/// The path a line's bytes name: the bytes as they are on Unix, so that a file name that is
/// not UTF-8 can be listed; elsewhere as UTF-8, invalid bytes replaced.
#[must_use]
pub fn path_from_bytes(bytes: &[u8]) -> std::path::PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        std::path::PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], max: usize) -> Vec<Result<Vec<u8>, u64>> {
        // A tiny buffer, so that lines span many fills.
        let mut lines = BoundedLines::new(io::BufReader::with_capacity(3, text), max);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(match line {
                Line::Bytes(b) => Ok(b.to_vec()),
                Line::TooLong { len, .. } => Err(len),
            });
        }
        out
    }

    #[test]
    fn lines_are_split_bounded_and_kept_as_bytes() {
        let ok = |s: &[u8]| Ok(s.to_vec());
        assert_eq!(all(b"", 8), []);
        assert_eq!(all(b"\n", 8), [ok(b"")]);
        assert_eq!(all(b"ab\r\ncd", 8), [ok(b"ab"), ok(b"cd")]);
        assert_eq!(all(b"ab\rcd\n", 8), [ok(b"ab\rcd")]);
        assert_eq!(all(b"caf\xe9\n", 8), [ok(b"caf\xe9")]);
        // Exactly the bound, with and without a carriage return; one over it.
        assert_eq!(
            all(b"12345678\n12345678\r\n123456789\nok", 8),
            [ok(b"12345678"), ok(b"12345678"), Err(9), ok(b"ok")]
        );
        // A long line costs its bound, not its length.
        let long = [b'x'; 100_000];
        let mut text = long.to_vec();
        text.extend_from_slice(b"\r\nnext");
        assert_eq!(all(&text, 16), [Err(100_000), ok(b"next")]);
    }

    #[test]
    fn random_bytes_split_as_a_plain_split_does() {
        let mut rng = crate::rng::Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next_u64();
        for _ in 0..500 {
            let len = (next() % 200) as usize;
            // Few distinct bytes, so that line breaks and carriage returns are common.
            let text: Vec<u8> = (0..len)
                .map(|_| [b'a', b'\n', b'\r', 0xff][(next() % 4) as usize])
                .collect();
            let max = (next() % 12) as usize;
            let mut want: Vec<Result<Vec<u8>, u64>> = Vec::new();
            let mut parts: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            if text.ends_with(b"\n") || text.is_empty() {
                parts.pop();
            }
            for p in parts {
                let p = p.strip_suffix(b"\r").unwrap_or(p);
                want.push(if p.len() > max {
                    Err(p.len() as u64)
                } else {
                    Ok(p.to_vec())
                });
            }
            assert_eq!(all(&text, max), want, "{text:?} max {max}");
        }
    }
}
