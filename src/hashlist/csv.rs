//! CSV lines of hash lists: headerless `hash[,7 more hashes][,quality][,id...]`, and rows whose
//! columns a header names (see the [module docs](super)).

use super::error::LineErrorKind;
use super::Entry;
use crate::hash::{Hashes, Pdq256};
use crate::lines::csv::{for_each_field, Rules};
use std::borrow::Cow;

/// Header names of the hash column.
const HASH_COLUMNS: [&str; 7] = [
    "hash",
    "pdq",
    "pdq_hash",
    "signal",
    "signal_value",
    "query_hash",
    "value",
];

/// Header names of the id column, in order of preference.
const ID_COLUMNS: [&str; 8] = [
    "id",
    "path",
    "name",
    "file",
    "filename",
    "content_id",
    "signal_id",
    "query_id",
];

/// Columns of a CSV input, by a header's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Columns {
    /// How many columns the header names.
    len: usize,
    hash: usize,
    id: Option<usize>,
    quality: Option<usize>,
    dihedral: Option<usize>,
    error: Option<usize>,
}

impl Columns {
    /// The columns named by `line`, when it is a header: its first field is not a hash, and
    /// one of its fields names the hash column.
    pub(super) fn from_header(line: &str) -> Option<Self> {
        let names: Vec<String> = split_fields(line)
            .into_iter()
            .map(|f| f.text.to_ascii_lowercase())
            .collect();
        if names.first()?.parse::<Pdq256>().is_ok() {
            return None;
        }
        let find = |wanted: &[&str]| {
            wanted
                .iter()
                .find_map(|w| names.iter().position(|n| n == w))
        };
        Some(Self {
            len: names.len(),
            hash: find(&HASH_COLUMNS)?,
            id: find(&ID_COLUMNS),
            quality: find(&["quality", "pdq_quality"]),
            dihedral: find(&["dihedral"]),
            error: find(&["error"]),
        })
    }

    /// The entry of one row after the header.
    pub(super) fn parse(&self, line: &str) -> Result<Entry, LineErrorKind> {
        let fields = split_fields(line);
        let field = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|f| f.text.as_ref());
        let Some(hash_text) = field(Some(self.hash)).filter(|h| !h.is_empty()) else {
            return Err(match field(self.error).filter(|e| !e.is_empty()) {
                Some(e) => LineErrorKind::FailedItem {
                    cause: e.to_owned(),
                },
                None => LineErrorKind::NoHashInColumn,
            });
        };
        let hash = parse_hash(hash_text)?;
        let quality = match field(self.quality).filter(|q| !q.is_empty()) {
            None => None,
            Some(q) => Some(parse_quality(q).ok_or_else(|| LineErrorKind::BadQuality(q.into()))?),
        };
        let hashes = match field(self.dihedral).filter(|d| !d.is_empty()) {
            None => Hashes::One(hash),
            Some(d) => {
                let list: Vec<&str> = d.split(';').map(str::trim).collect();
                if list.len() != 8 {
                    return Err(LineErrorKind::DihedralNotEight);
                }
                let mut all = [hash; 8];
                for (slot, h) in all.iter_mut().zip(list) {
                    *slot = parse_hash(h)?;
                }
                if all[0] != hash {
                    return Err(LineErrorKind::DihedralNotLedByHash);
                }
                Hashes::Dihedral(all)
            }
        };
        // An id in the last column keeps any unquoted commas that follow it; without an id
        // column, fields beyond the header's are the id.
        let id = match self.id {
            Some(i) if i + 1 == self.len => rest_of_line(line, &fields, i),
            Some(i) => field(Some(i)).unwrap_or_default().to_string(),
            None => rest_of_line(line, &fields, self.len),
        };
        Ok(Entry {
            id,
            hashes,
            quality,
        })
    }
}

/// A headerless CSV line: `hash[,7 more hashes][,quality][,id...]`.
pub(super) fn parse_plain(line: &str) -> Result<Entry, LineErrorKind> {
    let fields = split_fields(line);
    let first = fields.first().map_or("", |f| f.text.as_ref());
    let hash = parse_hash(first)?;
    let mut next = 1;
    let dihedral = fields.get(1..8).and_then(|more| {
        let mut all = [hash; 8];
        for (slot, f) in all[1..].iter_mut().zip(more) {
            *slot = f.text.parse().ok()?;
        }
        Some(all)
    });
    if dihedral.is_some() {
        next = 8;
    }
    let quality = match (fields.get(next), fields.get(next + 1)) {
        (Some(q), Some(_)) if is_plain_number(line, q) => parse_quality(&q.text),
        _ => None,
    };
    if quality.is_some() {
        next += 1;
    }
    let id = rest_of_line(line, &fields, next);
    Ok(Entry {
        id,
        hashes: dihedral.map_or(Hashes::One(hash), Hashes::Dihedral),
        quality,
    })
}

/// The fields of `line` from field `i` on, as an id: one field unquoted, several as written,
/// none as an empty id.
fn rest_of_line(line: &str, fields: &[Field<'_>], i: usize) -> String {
    match fields.get(i) {
        Some(f) if i + 1 < fields.len() => line[f.start..].trim().to_string(),
        Some(f) => f.text.to_string(),
        None => String::new(),
    }
}

/// Whether field `f` of `line` is written as a bare number of 1–3 digits (not quoted).
fn is_plain_number(line: &str, f: &Field<'_>) -> bool {
    let raw = line[f.start..].split(',').next().unwrap_or_default().trim();
    (1..=3).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit())
}

/// A quality from 0 to 100 written as a decimal integer.
fn parse_quality(s: &str) -> Option<u8> {
    s.parse::<u8>().ok().filter(|&q| q <= 100)
}

/// The hash written as `s`.
pub(super) fn parse_hash(s: &str) -> Result<Pdq256, LineErrorKind> {
    s.parse::<Pdq256>().map_err(|error| LineErrorKind::BadHash {
        text: s.to_owned(),
        error,
    })
}

/// One CSV field of a line: its text, unquoted and trimmed, and the byte offset where it starts.
#[derive(Debug)]
pub(super) struct Field<'a> {
    pub(super) text: Cow<'a, str>,
    pub(super) start: usize,
}

/// Splits one line into fields by the crate's CSV rules for hash lists
/// ([`Rules::HASH_LIST`]). There is always at least one field.
pub(super) fn split_fields(line: &str) -> Vec<Field<'_>> {
    let mut fields = Vec::new();
    // Hash-list rules take bad quotes as text, so the split never fails.
    let split = for_each_field(line.as_bytes(), Rules::HASH_LIST, |f| {
        fields.push(Field {
            text: utf8(line, f.text),
            start: f.start,
        });
    });
    if split.is_err() || fields.is_empty() {
        // Cannot happen (see above); the whole line as one field stands in for it.
        fields = vec![Field {
            text: Cow::Borrowed(line),
            start: 0,
        }];
    }
    fields
}

/// A field of the UTF-8 `line` as text. The splitter cuts at ASCII commas and quotes and trims
/// whole characters, so a field is UTF-8; one it borrows is a slice of `line`, taken again from
/// `line` by its offset rather than validated a second time (a tenth of the time a list line
/// takes to read).
fn utf8<'a>(line: &'a str, text: Cow<'a, [u8]>) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(b) => (b.as_ptr() as usize)
            .checked_sub(line.as_ptr() as usize)
            .and_then(|start| line.get(start..start.checked_add(b.len())?))
            .map_or_else(|| String::from_utf8_lossy(b), Cow::Borrowed),
        Cow::Owned(v) => Cow::Owned(
            String::from_utf8(v)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}
