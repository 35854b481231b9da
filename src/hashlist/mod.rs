//! Hash lists: the text files that carry PDQ hashes between programs and organisations, one
//! entry per line, read as a stream and written in the forms `imprint` prints.
//!
//! # Formats read
//!
//! - **CSV without a header**: `hash[,quality][,id...]`, as `imprint hash --format csv` and
//!   Meta's `pdq-photo-hasher` print (`hash,quality,path`) and ThreatExchange/HMA exports
//!   (`hash,id`). The 8 dihedral hashes of `imprint hash --dihedral` come as 8 hashes before
//!   the rest. A field of 1–3 digits from 0 to 100, written without quotes, right after the
//!   hash(es) is the quality when another field follows it; the id is the rest of the line,
//!   as written when it has several fields (an id may hold unquoted commas).
//! - **CSV with a header** before its first entry (a column named `hash`, `pdq`,
//!   `signal_value`, …): columns are taken by name: the hash, `quality`, the id (`id`, `path`,
//!   `name`, …), `dihedral` (8 hashes separated by `;`) and `error` (a row with an error and no
//!   hash records an item that failed). This reads `imprint store export --format csv`, and a
//!   header `hash,id` says that a number after the hash is part of the id.
//! - **JSONL**: `{"hash": ..., "id"|"path": ..., "quality": ..., "dihedral": [...]}`, as
//!   `imprint hash --format jsonl` and `imprint store export --format jsonl` print; a line
//!   with `"error"` and no hash records an item that failed.
//!
//! CSV fields are split by the crate's CSV rules, [`crate::lines::csv`] with
//! [`Rules::HASH_LIST`](crate::lines::csv::Rules::HASH_LIST): RFC 4180 quoting (`"a,b.jpg"`,
//! `""` for a quote), blanks around fields dropped, and a quote that does not close taken as
//! text. Blank lines and `#` comments are skipped. Lines are read as bytes, at most
//! [`MAX_LINE_BYTES`](crate::lines::MAX_LINE_BYTES) of each ([`crate::lines::BoundedLines`]):
//! a longer line, or one that is not UTF-8, is a bad line and the rest is read.
//!
//! # Reading
//!
//! [`Reader`] yields one `Result<`[`Entry`]`, `[`ListError`]`>` per line that is not skipped.
//! A bad line is a [`ListError::Line`] ([`LineError`]: the input's name, the 1-based line
//! number and a [`LineErrorKind`]), after which reading goes on; an I/O error
//! ([`ListError::Open`], [`ListError::Read`]) ends the stream. [`LineError::is_failed_item`]
//! tells a line recording an item that could not be hashed from a malformed one.
//!
//! ```
//! use imprint::hashlist::{ListError, Reader};
//!
//! let h = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
//! let text = format!("{h},87,dir/a.jpg\nnot a hash\n{{\"path\":\"b.jpg\",\"hash\":\"{h}\"}}\n");
//! let (mut ids, mut bad) = (Vec::new(), Vec::new());
//! for item in Reader::new(text.as_bytes(), "list.csv") {
//!     match item {
//!         Ok(entry) => ids.push(entry.id),
//!         Err(ListError::Line(line)) => bad.push(line.to_string()),
//!         Err(e) => return Err(e),
//!     }
//! }
//! assert_eq!(ids, ["dir/a.jpg", "b.jpg"]);
//! assert_eq!(bad, [r#"list.csv:2: bad hash "not a hash": invalid hex digit 'n' at position 0"#]);
//! # Ok::<(), ListError>(())
//! ```
//!
//! # Writing
//!
//! [`Writer`] prints entries in the [`Format`]s `imprint` prints, byte for byte, and each reads
//! back through [`Reader`]. [`csv_field`] quotes one CSV field as RFC 4180 says.

mod csv;
mod error;
mod json;
mod reader;
mod writer;

pub use error::{LineError, LineErrorKind, ListError};
pub use reader::Reader;
pub use writer::{csv_field, Format, JsonIdKey, Writer};

use crate::hash::Hashes;

/// One entry of a hash list: an item's id and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id: the CSV id column or the fields after the hash (or hashes, or quality),
    /// or the JSON `id`/`path`; may be empty.
    pub id: String,
    /// The hash, or the 8 dihedral hashes (original first) when the line has them.
    pub hashes: Hashes,
    /// The hash's quality (0–100), when the line gives it.
    pub quality: Option<u8>,
}

/// Removes the lines that record items that failed ([`LineError::is_failed_item`]) from `bad`,
/// and counts them, so that a caller can report them apart from malformed lines.
pub fn take_failed_items(bad: &mut Vec<LineError>) -> usize {
    let before = bad.len();
    bad.retain(|b| !b.is_failed_item());
    before - bad.len()
}

#[cfg(test)]
mod tests;
