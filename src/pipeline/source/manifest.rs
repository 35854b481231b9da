//! Manifests and lists of paths: one path per line, or the rows of a `.csv` manifest
//! (`id,path`, or the columns a header names), read a bounded line at a time as bytes.

use super::is_stdin;
use crate::error::{Error, Result};
use crate::lines::{csv, path_from_bytes, BoundedLines, MAX_LINE_BYTES};
use crate::pipeline::id::escape_id;
use std::borrow::Cow;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

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
pub(super) enum Listing {
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
pub(super) fn for_each_manifest_item(
    path: &Path,
    kind: Listing,
    f: &mut dyn FnMut(String, PathBuf) -> bool,
) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let is_csv = kind == Listing::Manifest
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
            .and_then(|b| parse_manifest_line(b, is_csv, &mut shape));
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
    is_csv: bool,
    shape: &mut CsvShape,
) -> std::result::Result<Option<IdAndPath<'a>>, String> {
    if line.iter().all(u8::is_ascii_whitespace) || line.starts_with(b"#") {
        return Ok(None);
    }
    if !is_csv {
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
            let mut fields = csv_fields(line).map_err(|e| e.to_string())?;
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

/// The fields of a manifest row, as the crate's CSV rules for manifests say
/// ([`csv::Rules::MANIFEST`]: bytes kept as written, a bad quote refused).
fn csv_fields(line: &[u8]) -> std::result::Result<Vec<Cow<'_, [u8]>>, csv::QuoteError> {
    let mut fields = Vec::new();
    csv::for_each_field(line, csv::Rules::MANIFEST, |f| fields.push(f.text))?;
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::source::tests::{collect, manifest_error};
    use crate::pipeline::source::{count, Source};

    #[test]
    fn random_csv_rows_parse_or_fail_without_panicking() {
        let mut rng = crate::rng::Rng::new(11);
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
}
