//! Hash lists: CSV (`hash[,id...]`, ThreatExchange/HMA exports, `imprint hash --format csv`)
//! and JSONL (`{"hash": ..., "id"|"path": ...}`, `imprint hash --format jsonl`), one entry per
//! line. The 8 dihedral hashes of `imprint hash --dihedral` are read too: in CSV, as 8 hashes
//! before the id; in JSONL, as the `dihedral` array. Both may be mixed in one file; blank lines
//! and `#` comments are skipped, and a header line (first field `hash`, `pdq`, `signal_value`,
//! …) on line 1 is skipped too.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use anyhow::Context;
use imprint::hash::Pdq256;

/// One accepted line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The hash.
    pub hash: Pdq256,
    /// The entry's id: the CSV fields after the hash (or hashes), or the JSON `id`/`path`;
    /// may be empty.
    pub id: String,
    /// The 8 dihedral hashes, original first, when the line has them.
    pub dihedral: Option<[Pdq256; 8]>,
    /// The hash's quality (0–100), when the line names it (JSONL `quality`).
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
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.reason)
    }
}

const HEADER_NAMES: [&str; 7] = [
    "hash",
    "pdq",
    "pdq_hash",
    "signal",
    "signal_value",
    "query_hash",
    "value",
];

/// Parses one line: `Ok(None)` for lines to skip.
pub fn parse_line(line: &str, line_no: usize) -> Result<Option<Entry>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    if t.starts_with('{') {
        return parse_json(t).map(Some);
    }
    let (first, rest) = match t.split_once(',') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (t, ""),
    };
    let first = unquote(first);
    match first.parse::<Pdq256>() {
        Ok(hash) => {
            let (dihedral, rest) =
                dihedral_tail(hash, rest).map_or((None, rest), |(all, tail)| (Some(all), tail));
            Ok(Some(Entry {
                hash,
                id: unquote(rest).to_string(),
                dihedral,
                quality: None,
            }))
        }
        Err(_) if line_no == 1 && HEADER_NAMES.contains(&first.to_ascii_lowercase().as_str()) => {
            Ok(None)
        }
        Err(e) => Err(format!("bad hash {first:?}: {e}")),
    }
}

/// The other 7 dihedral hashes when `rest` starts with them (`imprint hash --dihedral`), and
/// what follows them.
fn dihedral_tail(first: Pdq256, rest: &str) -> Option<([Pdq256; 8], &str)> {
    let mut all = [first; 8];
    let mut rest = rest;
    for slot in &mut all[1..] {
        let (field, tail) = rest.split_once(',').unwrap_or((rest, ""));
        *slot = unquote(field.trim()).parse().ok()?;
        rest = tail.trim();
    }
    Some((all, rest))
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .filter(|x| !x.contains('"'))
        .unwrap_or(s)
}

fn parse_json(t: &str) -> Result<Entry, String> {
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
        let why = obj.get("error").map_or_else(
            || "no \"hash\" field".to_string(),
            |e| format!("entry has no hash (error: {e})"),
        );
        return Err(why);
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
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        match parse_line(&line, i + 1) {
            Ok(Some(e)) => on_entry(e),
            Ok(None) => {}
            Err(reason) => bad.push(BadLine {
                source: source.to_string(),
                line: i + 1,
                reason,
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

/// The first 32 bytes of the file at `path` (fewer for a shorter file; none for `-` or a file
/// that cannot be read), enough to tell a hash store or an image by its magic.
pub fn file_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::with_capacity(32);
    if path.as_os_str() != "-" {
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
        let e = parse_line(&csv, 1).unwrap().unwrap();
        assert_eq!(
            (e.hash, e.dihedral, e.id.as_str()),
            (all[0], Some(all), "87,dir/a.jpg")
        );
        let json = format!(
            r#"{{"path":"dir/a.jpg","hash":"{}","quality":87,"dihedral":["{}"]}}"#,
            hs[0],
            hs.join(r#"",""#)
        );
        let e = parse_line(&json, 1).unwrap().unwrap();
        assert_eq!(
            (e.hash, e.dihedral, e.id.as_str()),
            (all[0], Some(all), "dir/a.jpg")
        );
        assert_eq!(e.quality, Some(87));
        // Fewer than eight hashes is a plain entry whose id holds the rest.
        let two = format!("{},{},x", hs[0], hs[1]);
        let e = parse_line(&two, 1).unwrap().unwrap();
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
            assert!(parse_line(&bad, 2).is_err(), "{bad}");
        }
    }
}
