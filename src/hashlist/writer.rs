//! Writing hash lists in the forms `imprint` prints them.

use crate::hash::{Hashed, Hashes};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// A hash list format that [`Writer`] prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `hash,quality,id` lines without a header (8 hashes first for dihedral entries), as
    /// `imprint hash --format csv` and `pdq-photo-hasher` print them. The id is written as it
    /// is, not quoted, and is read back as the rest of the line: an id that starts with `"`,
    /// starts or ends with blanks, or holds a line break does not read back as written (use
    /// [`Format::HeadedCsv`] or [`Format::Jsonl`] for such ids). Failed items are not written.
    Csv,
    /// A header `id,hash,quality,error` (and `dihedral`, see [`Writer::dihedral`]), then one
    /// row per item: its quoted id, hash and quality and an empty error, or its id and error
    /// with empty hash and quality; the 8 dihedral hashes joined by `;`. As `imprint store
    /// export --format csv` prints it. An id that starts with `#` reads back as a comment, and
    /// blanks around an id are dropped when read.
    HeadedCsv,
    /// One JSON object per line: the id (under [`JsonIdKey`]), `"hash"`, `"quality"`, and
    /// `"dihedral"` (the 8 hashes) for dihedral entries; `{"id": ..., "error": ...}` for a
    /// failed item. As `imprint hash --format jsonl` and `imprint store export --format jsonl`
    /// print it.
    Jsonl,
}

/// The key [`Format::Jsonl`] writes the id under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JsonIdKey {
    /// `"id"`, as `imprint store export` writes it.
    #[default]
    Id,
    /// `"path"`, as `imprint hash` writes it.
    Path,
}

impl JsonIdKey {
    fn as_str(self) -> &'static str {
        match self {
            JsonIdKey::Id => "id",
            JsonIdKey::Path => "path",
        }
    }
}

/// Writes hash list lines to `W`, in one [`Format`]. Each line is written as a few small
/// writes: give it a buffered writer.
///
/// # Examples
///
/// ```
/// use imprint::hash::{Hashed, Hashes, Pdq256};
/// use imprint::hashlist::{Format, Reader, Writer};
///
/// let h: Pdq256 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22".parse()?;
/// let hashed = Hashed { hashes: Hashes::One(h), quality: 87 };
/// let mut w = Writer::new(Vec::new(), Format::HeadedCsv);
/// w.write_header()?;
/// w.write_entry("dir/a,b.jpg", &hashed)?;
/// w.write_failed("c.jpg", "decode failed")?;
/// let text = String::from_utf8(w.into_inner())?;
/// assert_eq!(
///     text,
///     format!("id,hash,quality,error\n\"dir/a,b.jpg\",{h},87,\nc.jpg,,,decode failed\n")
/// );
/// let first = Reader::new(text.as_bytes(), "list").next().expect("an entry")?;
/// assert_eq!((first.id.as_str(), first.hashes, first.quality), ("dir/a,b.jpg", hashed.hashes, Some(87)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Writer<W> {
    out: W,
    format: Format,
    id_key: JsonIdKey,
    dihedral: bool,
}

impl<W: Write> Writer<W> {
    /// A writer of `format` lines to `out`: JSON ids under `"id"`, no dihedral column.
    pub fn new(out: W, format: Format) -> Self {
        Self {
            out,
            format,
            id_key: JsonIdKey::Id,
            dihedral: false,
        }
    }

    /// The key [`Format::Jsonl`] writes ids under (default [`JsonIdKey::Id`]).
    #[must_use]
    pub fn json_id_key(mut self, key: JsonIdKey) -> Self {
        self.id_key = key;
        self
    }

    /// Whether the list holds dihedral hashes (default `false`): [`Format::HeadedCsv`] then
    /// names a `dihedral` column in its header and leaves it empty on failed items' rows. An
    /// entry's own [`Hashes`] decide whether its line has the 8 hashes, in every format.
    #[must_use]
    pub fn dihedral(mut self, dihedral: bool) -> Self {
        self.dihedral = dihedral;
        self
    }

    /// Writes the header line of [`Format::HeadedCsv`]; nothing for the other formats.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_header(&mut self) -> io::Result<()> {
        if self.format == Format::HeadedCsv {
            let dihedral = if self.dihedral { ",dihedral" } else { "" };
            writeln!(self.out, "id,hash,quality,error{dihedral}")?;
        }
        Ok(())
    }

    /// Writes the line of an item with id `id` and its hashes.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_entry(&mut self, id: &str, hashed: &Hashed) -> io::Result<()> {
        let (hashes, quality) = (&hashed.hashes, hashed.quality);
        match self.format {
            Format::Csv => {
                for h in hashes.as_slice() {
                    write!(self.out, "{h},")?;
                }
                writeln!(self.out, "{quality},{id}")
            }
            Format::HeadedCsv => {
                write!(
                    self.out,
                    "{},{},{quality},",
                    csv_field(id),
                    hashes.primary()
                )?;
                match hashes {
                    Hashes::Dihedral(all) => {
                        let list: Vec<String> = all.iter().map(ToString::to_string).collect();
                        writeln!(self.out, ",{}", list.join(";"))
                    }
                    Hashes::One(_) => writeln!(self.out),
                }
            }
            Format::Jsonl => {
                write!(
                    self.out,
                    "{{\"{}\":{},\"hash\":\"{}\",\"quality\":{quality}",
                    self.id_key.as_str(),
                    json_string(id),
                    hashes.primary()
                )?;
                if let Hashes::Dihedral(all) = hashes {
                    let list: Vec<String> = all.iter().map(|h| format!("\"{h}\"")).collect();
                    write!(self.out, ",\"dihedral\":[{}]", list.join(","))?;
                }
                writeln!(self.out, "}}")
            }
        }
    }

    /// Writes the line of an item with id `id` that could not be hashed, for `cause`; nothing
    /// in [`Format::Csv`], which has no such lines.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_failed(&mut self, id: &str, cause: &str) -> io::Result<()> {
        match self.format {
            Format::Csv => Ok(()),
            Format::HeadedCsv => writeln!(
                self.out,
                "{},,,{}{}",
                csv_field(id),
                csv_field(cause),
                if self.dihedral { "," } else { "" }
            ),
            Format::Jsonl => writeln!(
                self.out,
                "{{\"{}\":{},\"error\":{}}}",
                self.id_key.as_str(),
                json_string(id),
                json_string(cause)
            ),
        }
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    /// The writer's error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// The underlying writer, unflushed.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// `s` as one CSV field (RFC 4180): quoted, with `"` doubled, when it holds a comma, a quote
/// or a line break; as it is otherwise.
///
/// ```
/// use imprint::hashlist::csv_field;
/// assert_eq!(csv_field("a.jpg"), "a.jpg");
/// assert_eq!(csv_field("a,\"b\".jpg"), "\"a,\"\"b\"\".jpg\"");
/// ```
#[must_use]
pub fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// A JSON string literal for `s`, quotes included. Kept rather than `serde_json`'s writer
/// because the lists `imprint` has always printed write the controls U+0008 and U+000C as
/// `\u0008` and `\u000c`, where `serde_json` writes `\b` and `\f`: both read back the same, but
/// the output must stay byte for byte what it was.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_json() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        assert_eq!(json_string("\u{8}\u{c}\t\r"), "\"\\u0008\\u000c\\t\\r\"");
    }
}
