//! Hash lists: CSV and JSONL, one entry per line.
//!
//! - CSV without a header: `hash[,quality][,id...]`, as `imprint hash --format csv` and Meta's
//!   `pdq-photo-hasher` print (`hash,quality,path`) and ThreatExchange/HMA exports (`hash,id`).
//!   The 8 dihedral hashes of `imprint hash --dihedral` come as 8 hashes before the rest. A
//!   field of 1–3 digits from 0 to 100 right after the hash(es) is the quality when another
//!   field follows it; the id is the rest of the line.
//! - CSV with a header before its first entry (a column named `hash`, `pdq`, `signal_value`,
//!   …): columns are taken by name: the hash, `quality`, the id (`id`, `path`, `name`, …), `dihedral` (8
//!   hashes separated by `;`) and `error` (a row with an error and no hash is a bad line). This
//!   reads `imprint store export --format csv`, and a header `hash,id` says that a number after
//!   the hash is part of the id.
//! - JSONL: `{"hash": ..., "id"|"path": ..., "quality": ..., "dihedral": [...]}`, as
//!   `imprint hash --format jsonl` and `imprint store export --format jsonl` print.
//!
//! Fields may be quoted as RFC 4180 says (`"a,b.jpg"`, `""` for a quote). Blank lines and `#`
//! comments are skipped.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use anyhow::Context;
use imprint::hash::Pdq256;
use imprint::lines::{BoundedLines, MAX_LINE_BYTES};

/// One accepted line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The hash.
    pub hash: Pdq256,
    /// The entry's id: the CSV id column or the fields after the hash (or hashes, or quality),
    /// or the JSON `id`/`path`; may be empty.
    pub id: String,
    /// The 8 dihedral hashes, original first, when the line has them.
    pub dihedral: Option<[Pdq256; 8]>,
    /// The hash's quality (0–100), when the line gives it.
    pub quality: Option<u8>,
}

/// A rejected line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// The input's name (`-` for stdin).
    pub source: String,
    /// 1-based line number.
    pub line: usize,
    /// Why it was rejected.
    pub reason: String,
    /// Whether the line records an item that failed (an error row of `imprint store export`
    /// or an error line of `imprint hash --format jsonl`) rather than being malformed.
    pub failed_item: bool,
}

/// Why a line gives no entry: malformed, or the record of an item that failed.
#[derive(Debug)]
struct Reject {
    reason: String,
    failed_item: bool,
}

impl Reject {
    /// A line recording an item that failed with `cause`.
    fn failed_item(cause: impl std::fmt::Display) -> Self {
        Reject {
            reason: format!("entry has no hash (error: {cause})"),
            failed_item: true,
        }
    }
}

impl From<String> for Reject {
    fn from(reason: String) -> Self {
        Reject {
            reason,
            failed_item: false,
        }
    }
}

impl From<&str> for Reject {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}

/// Removes the lines that record failed items from `bad`, and counts them.
pub fn take_failed_items(bad: &mut Vec<BadLine>) -> usize {
    let before = bad.len();
    bad.retain(|b| !b.failed_item);
    before - bad.len()
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.reason)
    }
}

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
struct Columns {
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
    fn from_header(line: &str) -> Option<Self> {
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

    fn parse(&self, line: &str) -> Result<Entry, Reject> {
        let fields = split_fields(line);
        let field = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|f| f.text.as_ref());
        let Some(hash_text) = field(Some(self.hash)).filter(|h| !h.is_empty()) else {
            return Err(match field(self.error).filter(|e| !e.is_empty()) {
                Some(e) => Reject::failed_item(e),
                None => "no hash in the hash column".into(),
            });
        };
        let hash = parse_hash(hash_text)?;
        let quality = match field(self.quality).filter(|q| !q.is_empty()) {
            None => None,
            Some(q) => Some(parse_quality(q).ok_or_else(|| format!("bad quality {q:?}"))?),
        };
        let dihedral = match field(self.dihedral).filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => {
                let list: Vec<&str> = d.split(';').map(str::trim).collect();
                if list.len() != 8 {
                    return Err("\"dihedral\" is not a list of 8 hashes".into());
                }
                let mut all = [hash; 8];
                for (slot, h) in all.iter_mut().zip(list) {
                    *slot = parse_hash(h)?;
                }
                if all[0] != hash {
                    return Err("\"dihedral\" does not start with the hash".into());
                }
                Some(all)
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
            hash,
            id,
            dihedral,
            quality,
        })
    }
}

/// Parses the lines of one input, which may start with a CSV header (its first line that is
/// not blank or a comment).
#[derive(Debug, Default)]
pub struct Parser {
    columns: Option<Columns>,
    /// Whether a line other than a blank or a comment was seen.
    started: bool,
}

impl Parser {
    /// A parser for a new input.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one line: `Ok(None)` for lines to skip.
    fn parse_line(&mut self, line: &str) -> Result<Option<Entry>, Reject> {
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

/// Parses one line as the first of an input (see [`Parser`]); for tests of single lines.
#[cfg(test)]
fn parse_line(line: &str) -> Result<Option<Entry>, Reject> {
    Parser::new().parse_line(line)
}

/// A headerless CSV line: `hash[,7 more hashes][,quality][,id...]`.
fn parse_plain(line: &str) -> Result<Entry, Reject> {
    let fields = split_fields(line);
    let hash = parse_hash(&fields[0].text)?;
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
        hash,
        id,
        dihedral,
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

fn parse_hash(s: &str) -> Result<Pdq256, String> {
    s.parse::<Pdq256>()
        .map_err(|e| format!("bad hash {s:?}: {e}"))
}

/// One CSV field: its text, unquoted, and the byte offset where it starts in the line.
#[derive(Debug)]
struct Field<'a> {
    text: Cow<'a, str>,
    start: usize,
}

/// Splits one CSV line into fields. A field that starts with `"` (after blanks) is quoted: it
/// runs to the closing quote, with `""` standing for `"`, and may hold commas. Unquoted fields
/// are trimmed. A quote that does not close, or text after a closing quote, leaves the field
/// as written up to the next comma. There is always at least one field.
fn split_fields(line: &str) -> Vec<Field<'_>> {
    let mut fields = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &line[pos..];
        let body = rest.trim_start();
        if let Some((text, used)) = quoted(body) {
            let after = body[used..].trim_start();
            if after.is_empty() {
                fields.push(Field { text, start: pos });
                return fields;
            }
            if let Some(next) = after.strip_prefix(',') {
                fields.push(Field { text, start: pos });
                pos = line.len() - next.len();
                continue;
            }
        }
        match rest.find(',') {
            Some(c) => {
                fields.push(Field {
                    text: Cow::Borrowed(rest[..c].trim()),
                    start: pos,
                });
                pos += c + 1;
            }
            None => {
                fields.push(Field {
                    text: Cow::Borrowed(rest.trim()),
                    start: pos,
                });
                return fields;
            }
        }
    }
}

/// A quoted field at the start of `s`: its text and the bytes it spans, quotes included.
fn quoted(s: &str) -> Option<(Cow<'_, str>, usize)> {
    let inner = s.strip_prefix('"')?;
    let mut text = String::new();
    let mut i = 0;
    loop {
        let q = i + inner[i..].find('"')?;
        text.push_str(&inner[i..q]);
        if inner[q + 1..].starts_with('"') {
            text.push('"');
            i = q + 2;
        } else {
            return Some((Cow::Owned(text), q + 2));
        }
    }
}

fn parse_json(t: &str) -> Result<Entry, Reject> {
    let v: serde_json::Value = serde_json::from_str(t).map_err(|e| format!("bad JSON: {e}"))?;
    let obj = v.as_object().ok_or("JSON line is not an object")?;
    let id = ["id", "path", "name"]
        .iter()
        .find_map(|k| obj.get(*k))
        .map(|x| match x {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let Some(h) = ["hash", "pdq"].iter().find_map(|k| obj.get(*k)) else {
        return Err(obj
            .get("error")
            .map_or_else(|| "no \"hash\" field".into(), Reject::failed_item));
    };
    let hash = parse_json_hash(h)?;
    let dihedral = match obj.get("dihedral") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(list)) if list.len() == 8 => {
            let mut all = [hash; 8];
            for (slot, v) in all.iter_mut().zip(list) {
                *slot = parse_json_hash(v)?;
            }
            if all[0] != hash {
                return Err("\"dihedral\" does not start with \"hash\"".into());
            }
            Some(all)
        }
        Some(_) => return Err("\"dihedral\" is not a list of 8 hashes".into()),
    };
    let quality = match obj.get("quality") {
        None | Some(serde_json::Value::Null) => None,
        Some(q) => Some(
            q.as_u64()
                .filter(|&q| q <= 100)
                .map(|q| q as u8)
                .ok_or("\"quality\" is not an integer from 0 to 100")?,
        ),
    };
    Ok(Entry {
        hash,
        id,
        dihedral,
        quality,
    })
}

fn parse_json_hash(v: &serde_json::Value) -> Result<Pdq256, String> {
    let h = v.as_str().ok_or("a hash is not a string")?;
    h.parse::<Pdq256>()
        .map_err(|e| format!("bad hash {h:?}: {e}"))
}

/// Reads a list from `reader`, calling `on_entry` for each accepted line and recording the
/// rejected ones in `bad`.
pub fn read(
    reader: impl BufRead,
    source: &str,
    bad: &mut Vec<BadLine>,
    mut on_entry: impl FnMut(Entry),
) -> io::Result<()> {
    let mut parser = Parser::new();
    let mut lines = BoundedLines::new(reader, MAX_LINE_BYTES);
    let mut n = 0;
    while let Some(line) = lines.next_line()? {
        n += 1;
        let parsed = match line.bytes().map(std::str::from_utf8) {
            Ok(Ok(text)) => parser.parse_line(text),
            Ok(Err(e)) => Err(format!("not UTF-8 text ({e})").into()),
            Err(why) => Err(why.into()),
        };
        match parsed {
            Ok(Some(e)) => on_entry(e),
            Ok(None) => {}
            Err(Reject {
                reason,
                failed_item,
            }) => bad.push(BadLine {
                source: source.to_string(),
                line: n,
                reason,
                failed_item,
            }),
        }
    }
    Ok(())
}

/// Reads the list at `path` (`-` for stdin).
pub fn read_path(
    path: &Path,
    bad: &mut Vec<BadLine>,
    on_entry: impl FnMut(Entry),
) -> anyhow::Result<()> {
    let name = path.display().to_string();
    if name == "-" {
        read(io::stdin().lock(), "-", bad, on_entry).context("reading stdin")
    } else {
        let f = File::open(path).with_context(|| format!("opening {name}"))?;
        read(BufReader::with_capacity(1 << 20, f), &name, bad, on_entry)
            .with_context(|| format!("reading {name}"))
    }
}

/// The first 32 bytes of the file at `path` (fewer for a shorter file; none for `-`, a file
/// that cannot be read, or one that is not a regular file), enough to tell a hash store or an
/// image by its magic. A pipe (`<(zcat list.csv.gz)`) is never read here: the bytes taken would
/// be lost to the hash list it is read as.
pub fn file_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::with_capacity(32);
    if path.as_os_str() != "-" && std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        if let Ok(f) = File::open(path) {
            let _ = f.take(32).read_to_end(&mut head);
        }
    }
    head
}

/// Whether `head` (see [`file_head`]) starts a hash store, so that a store can be given where
/// hash lists go.
pub fn is_store(head: &[u8]) -> bool {
    head.starts_with(&imprint::store::format::MAGIC)
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    #[test]
    fn parses_csv_jsonl_headers_and_reports_bad_lines() {
        let text = format!(
            "hash,id\n{H},a,b\n\n# c\n{{\"hash\":\"{H}\",\"path\":\"x.jpg\"}}\nzz,1\n{{\"path\":\"y\",\"error\":\"decode\"}}\n{H}\n"
        );
        let mut bad = Vec::new();
        let mut got = Vec::new();
        read(text.as_bytes(), "t", &mut bad, |e| got.push(e.id)).unwrap();
        assert_eq!(got, ["a,b", "x.jpg", ""]);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [6, 7]);
    }

    #[test]
    fn reads_the_dihedral_hashes_of_imprint_hash_output() {
        // Eight distinct hashes: H with its first nibble replaced.
        let hs: Vec<String> = (0..8).map(|i| format!("{i:x}{}", &H[1..])).collect();
        let all: [Pdq256; 8] = std::array::from_fn(|i| hs[i].parse().unwrap());
        let csv = format!("{},87,dir/a.jpg", hs.join(","));
        let e = parse_line(&csv).unwrap().unwrap();
        assert_eq!(
            (e.hash, e.dihedral, e.id.as_str(), e.quality),
            (all[0], Some(all), "dir/a.jpg", Some(87))
        );
        let json = format!(
            r#"{{"path":"dir/a.jpg","hash":"{}","quality":87,"dihedral":["{}"]}}"#,
            hs[0],
            hs.join(r#"",""#)
        );
        let e = parse_line(&json).unwrap().unwrap();
        assert_eq!(
            (e.hash, e.dihedral, e.id.as_str()),
            (all[0], Some(all), "dir/a.jpg")
        );
        assert_eq!(e.quality, Some(87));
        // Fewer than eight hashes is a plain entry whose id holds the rest.
        let two = format!("{},{},x", hs[0], hs[1]);
        let e = parse_line(&two).unwrap().unwrap();
        assert_eq!((e.dihedral, e.id), (None, format!("{},x", hs[1])));
        // A dihedral list that is short, not hashes, or not led by the hash is a bad line; so
        // is a quality that is not 0–100.
        for bad in [
            format!(
                r#"{{"hash":"{}","dihedral":["{}"]}}"#,
                hs[0],
                hs[..7].join(r#"",""#)
            ),
            format!(r#"{{"hash":"{}","dihedral":"{}"}}"#, hs[0], hs[0]),
            format!(
                r#"{{"hash":"{}","dihedral":["{}"]}}"#,
                hs[1],
                hs.join(r#"",""#)
            ),
            format!(r#"{{"hash":"{}","quality":101}}"#, hs[0]),
            format!(r#"{{"hash":"{}","quality":"high"}}"#, hs[0]),
        ] {
            assert!(parse_line(&bad).is_err(), "{bad}");
        }
    }

    /// Parses `text` as one input; the entries' (id, quality) and the bad lines' numbers.
    fn read_all(text: &str) -> (Vec<(String, Option<u8>)>, Vec<usize>) {
        let mut bad = Vec::new();
        let mut got = Vec::new();
        read(text.as_bytes(), "t", &mut bad, |e| {
            got.push((e.id, e.quality))
        })
        .unwrap();
        (got, bad.iter().map(|b| b.line).collect())
    }

    fn entries(list: &[(&str, Option<u8>)]) -> Vec<(String, Option<u8>)> {
        list.iter().map(|&(id, q)| (id.to_string(), q)).collect()
    }

    #[test]
    fn reads_the_quality_that_imprint_hash_and_pdq_photo_hasher_print() {
        let text = format!(
            "{H},100,dir/a.jpg\n{H},0,\"dir/b,c.jpg\"\n{H},7,\"say \"\"hi\"\".jpg\"\n{H},57\n\
             {H},101,x\n{H},\"42\",x\n{H},1234,x\n{H},42,a,b\n{H}, 3 , spaced.jpg \n"
        );
        let (got, bad) = read_all(&text);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            got,
            entries(&[
                ("dir/a.jpg", Some(100)),
                ("dir/b,c.jpg", Some(0)),
                ("say \"hi\".jpg", Some(7)),
                // A lone number is the id; so is one over 100, quoted, or longer than 3 digits.
                ("57", None),
                ("101,x", None),
                ("\"42\",x", None),
                ("1234,x", None),
                ("a,b", Some(42)),
                ("spaced.jpg", Some(3)),
            ])
        );
    }

    #[test]
    fn a_header_names_the_columns() {
        // `imprint store export --format csv`: the id first, an error row, a trailing comma.
        let text = format!(
            "id,hash,quality,error\nx.jpg,{H},87,\n\"y,z.jpg\",{H},12,\nbad.jpg,,,\"decode failed: corrupt\"\n\
             q.jpg,{H},101,\nnone.jpg,,,\n"
        );
        let (got, bad) = read_all(&text);
        assert_eq!(got, entries(&[("x.jpg", Some(87)), ("y,z.jpg", Some(12))]));
        assert_eq!(bad, [4, 5, 6]);
        let mut bad = Vec::new();
        read(text.as_bytes(), "t", &mut bad, |_| {}).unwrap();
        assert!(
            bad[0].reason.contains("decode failed: corrupt"),
            "{}",
            bad[0]
        );
        // The error row records a failed item; the bad quality and the empty row are malformed.
        let failed: Vec<bool> = bad.iter().map(|b| b.failed_item).collect();
        assert_eq!(failed, [true, false, false]);
        let mut bad = Vec::new();
        let jsonl = "{\"path\":\"y\",\"error\":\"decode\"}\n{\"path\":\"z\"}\n";
        read(jsonl.as_bytes(), "t", &mut bad, |_| {}).unwrap();
        let failed: Vec<bool> = bad.iter().map(|b| b.failed_item).collect();
        assert_eq!(failed, [true, false]);
        // A header saying `hash,id` keeps a number after the hash in the id, commas and all.
        let (got, _) = read_all(&format!("hash,id\n{H},42,x\n{H},9\n"));
        assert_eq!(got, entries(&[("42,x", None), ("9", None)]));
        // With no id column, what follows the named columns is the id.
        let (got, _) = read_all(&format!("pdq,quality\n{H},50,a,b\n{H},60\n"));
        assert_eq!(got, entries(&[("a,b", Some(50)), ("", Some(60))]));
        // A header is recognized before the first entry only, after comments and blanks.
        let (got, bad) = read_all(&format!("{H},1,a\nhash,id\n"));
        assert_eq!((got, bad), (entries(&[("a", Some(1))]), vec![2]));
        let (got, bad) = read_all(&format!("# exported\n\nhash,id\n{H},42,x\n"));
        assert_eq!((got, bad), (entries(&[("42,x", None)]), vec![]));
    }

    #[test]
    fn reads_the_dihedral_column_of_a_store_export() {
        let hs: Vec<String> = (0..8).map(|i| format!("{i:x}{}", &H[1..])).collect();
        let all: [Pdq256; 8] = std::array::from_fn(|i| hs[i].parse().unwrap());
        let text = format!(
            "id,hash,quality,error,dihedral\na.jpg,{},90,,{}\nb.jpg,,,gone,\nc.jpg,{},90,,{}\n",
            hs[0],
            hs.join(";"),
            hs[1],
            hs.join(";"),
        );
        let mut bad = Vec::new();
        let mut got = Vec::new();
        read(text.as_bytes(), "t", &mut bad, |e| got.push(e)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].id.as_str(), got[0].dihedral, got[0].quality),
            ("a.jpg", Some(all), Some(90))
        );
        // The error row, and a dihedral list not led by the row's hash.
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [3, 4]);
    }

    #[test]
    fn splits_quoted_fields() {
        let texts = |line: &str| -> Vec<String> {
            split_fields(line)
                .into_iter()
                .map(|f| f.text.into_owned())
                .collect()
        };
        assert_eq!(texts(""), [""]);
        assert_eq!(texts("a, b ,"), ["a", "b", ""]);
        assert_eq!(texts(r#""a,b","c""d", "" "#), ["a,b", "c\"d", ""]);
        // Quotes that do not close, or text after a closing quote: as written.
        assert_eq!(texts(r#""a,b"#), [r#""a"#, "b"]);
        assert_eq!(texts(r#""a"x,b"#), [r#""a"x"#, "b"]);
        // Multi-byte text on both sides of quotes.
        assert_eq!(texts("é,\"ü,ß\",ø"), ["é", "ü,ß", "ø"]);
    }

    #[test]
    fn lines_that_are_not_utf8_or_endless_are_bad_lines_and_the_rest_is_read() {
        let mut text = format!("{H},a\n").into_bytes();
        text.extend_from_slice(format!("{H},caf\u{e9}\n").as_bytes());
        text.extend_from_slice(b"\xff\xfe\n");
        text.extend(std::iter::repeat_n(b'7', 1 << 20));
        text.extend_from_slice(format!("\n{H},b\n").as_bytes());
        let mut bad = Vec::new();
        let mut got = Vec::new();
        read(&text[..], "t", &mut bad, |e| got.push(e.id)).unwrap();
        assert_eq!(got, ["a", "caf\u{e9}", "b"]);
        let reasons: Vec<(usize, &str)> = bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(reasons[0].0, 3);
        assert!(reasons[0].1.starts_with("not UTF-8 text"), "{reasons:?}");
        assert_eq!(
            reasons[1],
            (4, "1048576 bytes long, over the limit of 65536")
        );
    }

    #[test]
    fn random_lines_parse_without_panicking() {
        let mut rng = imprint::bench::Rng::new(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next_u64();
        let pieces = [
            H, ",", "\"", " ", "é", "7", "100", "\t", "hash", "{", "ü\"\",",
        ];
        for _ in 0..3000 {
            let n = (next() % 12) as usize;
            let line: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let mut parser = Parser::new();
            let _ = parser.parse_line(&line);
            let _ = parser.parse_line(&line);
            let _ = split_fields(&line);
        }
    }
}
