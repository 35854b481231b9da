//! Reading every format, its errors with their line numbers, and writer→reader round trips.

use super::*;
use crate::hash::{Hashed, Pdq256};
use proptest::prelude::*;
use std::io::BufRead;

const H: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

/// Reads `r` as the input named `input`: the entries to `on_entry`, the bad lines into `bad`.
fn read(
    r: impl BufRead,
    input: &str,
    bad: &mut Vec<LineError>,
    mut on_entry: impl FnMut(Entry),
) -> Result<(), ListError> {
    for item in Reader::new(r, input) {
        match item {
            Ok(e) => on_entry(e),
            Err(ListError::Line(b)) => bad.push(b),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Parses one line as the first of an input.
fn parse_line(line: &str) -> Result<Option<Entry>, LineErrorKind> {
    reader::Parser::default().parse_line(line)
}

/// The primary hash and the dihedral ones, as the entries of the old form gave them.
fn split_hashes(e: &Entry) -> (Pdq256, Option<[Pdq256; 8]>) {
    match e.hashes {
        Hashes::One(h) => (h, None),
        Hashes::Dihedral(all) => (all[0], Some(all)),
    }
}

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
    // Displayed as the CLI prints them: input, line, reason.
    assert_eq!(
        bad[0].to_string(),
        "t:6: bad hash \"zz\": invalid hex digit 'z' at position 0"
    );
    assert_eq!(
        bad[1].to_string(),
        "t:7: entry has no hash (error: \"decode\")"
    );
}

#[test]
fn reads_the_dihedral_hashes_of_imprint_hash_output() {
    // Eight distinct hashes: H with its first nibble replaced.
    let hs: Vec<String> = (0..8).map(|i| format!("{i:x}{}", &H[1..])).collect();
    let all: [Pdq256; 8] = std::array::from_fn(|i| hs[i].parse().unwrap());
    let csv = format!("{},87,dir/a.jpg", hs.join(","));
    let e = parse_line(&csv).unwrap().unwrap();
    assert_eq!(
        (e.hashes, e.id.as_str(), e.quality),
        (Hashes::Dihedral(all), "dir/a.jpg", Some(87))
    );
    let json = format!(
        r#"{{"path":"dir/a.jpg","hash":"{}","quality":87,"dihedral":["{}"]}}"#,
        hs[0],
        hs.join(r#"",""#)
    );
    let e = parse_line(&json).unwrap().unwrap();
    assert_eq!(
        (split_hashes(&e), e.id.as_str()),
        ((all[0], Some(all)), "dir/a.jpg")
    );
    assert_eq!(e.quality, Some(87));
    // Fewer than eight hashes is a plain entry whose id holds the rest.
    let two = format!("{},{},x", hs[0], hs[1]);
    let e = parse_line(&two).unwrap().unwrap();
    assert_eq!((split_hashes(&e).1, e.id), (None, format!("{},x", hs[1])));
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
        format!(r#"{{"hash":"{}","quality":300}}"#, hs[0]),
    ] {
        assert!(parse_line(&bad).is_err(), "{bad}");
    }
}

/// Parses `text` as one input; the entries' (id, quality) and the bad lines' numbers.
fn read_all(text: &str) -> (Vec<(String, Option<u8>)>, Vec<u64>) {
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
        bad[0].kind.to_string().contains("decode failed: corrupt"),
        "{}",
        bad[0]
    );
    // The error row records a failed item; the bad quality and the empty row are malformed.
    let failed: Vec<bool> = bad.iter().map(LineError::is_failed_item).collect();
    assert_eq!(failed, [true, false, false]);
    assert!(matches!(&bad[1].kind, LineErrorKind::BadQuality(q) if q == "101"));
    assert!(matches!(bad[2].kind, LineErrorKind::NoHashInColumn));
    // take_failed_items counts the failed items and leaves the malformed lines.
    assert_eq!(take_failed_items(&mut bad), 1);
    assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [5, 6]);
    let mut bad = Vec::new();
    let jsonl = "{\"path\":\"y\",\"error\":\"decode\"}\n{\"path\":\"z\"}\n";
    read(jsonl.as_bytes(), "t", &mut bad, |_| {}).unwrap();
    let failed: Vec<bool> = bad.iter().map(LineError::is_failed_item).collect();
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
        (got[0].id.as_str(), got[0].hashes, got[0].quality),
        ("a.jpg", Hashes::Dihedral(all), Some(90))
    );
    // The error row, and a dihedral list not led by the row's hash.
    assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [3, 4]);
    assert!(matches!(bad[1].kind, LineErrorKind::DihedralNotLedByHash));
}

#[test]
fn splits_quoted_fields() {
    let texts = |line: &str| -> Vec<String> {
        csv::split_fields(line)
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
    let reasons: Vec<(u64, String)> = bad.iter().map(|b| (b.line, b.kind.to_string())).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, 3);
    assert!(reasons[0].1.starts_with("not UTF-8 text"), "{reasons:?}");
    assert!(matches!(bad[0].kind, LineErrorKind::NotUtf8(_)));
    assert_eq!(
        reasons[1],
        (4, "1048576 bytes long, over the limit of 65536".to_string())
    );
    assert!(matches!(
        bad[1].kind,
        LineErrorKind::TooLong {
            len: 1_048_576,
            max: crate::lines::MAX_LINE_BYTES
        }
    ));
}

#[test]
fn each_malformed_line_has_its_own_kind() {
    let kind = |line: &str| parse_line(line).expect_err(line);
    assert!(matches!(kind("{"), LineErrorKind::BadJson(_)));
    assert!(matches!(kind("[1]"), LineErrorKind::BadHash { .. }));
    assert!(matches!(kind("{} "), LineErrorKind::NoHashField));
    assert!(matches!(kind("{\"hash\":7}"), LineErrorKind::HashNotString));
    assert!(matches!(
        kind(&format!("{{\"hash\":\"{H}\",\"quality\":-1}}")),
        LineErrorKind::JsonQuality
    ));
    let mut p = reader::Parser::default();
    assert!(p.parse_line("hash,dihedral").expect("header").is_none());
    assert!(matches!(
        p.parse_line(&format!("{H},{H};{H}")),
        Err(LineErrorKind::DihedralNotEight)
    ));
    assert_eq!(
        kind("{\"hash\":\"x\"}").to_string(),
        "bad hash \"x\": invalid hex digit 'x' at position 0"
    );
    assert_eq!(
        kind("\"x\"").to_string(),
        "bad hash \"x\": invalid hex digit 'x' at position 0"
    );
}

#[test]
fn io_errors_end_the_stream_and_are_not_bad_lines() {
    /// Gives one line, then fails.
    struct Failing(bool);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if std::mem::replace(&mut self.0, true) {
                return Err(std::io::Error::other("disk gone"));
            }
            let line = format!("{H},1,a\n");
            buf[..line.len()].copy_from_slice(line.as_bytes());
            Ok(line.len())
        }
    }
    let mut r = Reader::new(std::io::BufReader::with_capacity(256, Failing(false)), "f");
    assert_eq!(r.next().expect("entry").expect("ok").id, "a");
    match r.next() {
        Some(Err(ListError::Read { input, source })) => {
            assert_eq!(
                (input.as_str(), source.to_string().as_str()),
                ("f", "disk gone")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(r.next().is_none());
    assert_eq!(r.line(), 1);
    let missing = std::path::Path::new("/nonexistent/list.csv");
    assert!(matches!(
        Reader::open(missing),
        Err(ListError::Open { path, .. }) if path == missing
    ));
}

#[test]
fn reader_streams_and_opens_files_by_path() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("list.csv");
    std::fs::write(&path, format!("{H},9,x\nbad\n{H},8,y\n")).expect("write");
    let mut r = Reader::open(&path).expect("open");
    assert_eq!(r.input(), path.display().to_string());
    let got: Vec<String> = r
        .by_ref()
        .map(|item| match item {
            Ok(e) => e.id,
            Err(e) => e.to_string(),
        })
        .collect();
    let bad = format!(
        "{}:2: bad hash \"bad\": a PDQ hash has 64 hex digits, found 3",
        path.display()
    );
    assert_eq!(got, ["x".to_string(), bad, "y".to_string()]);
    assert_eq!(r.line(), 3);
}

#[test]
fn random_lines_parse_without_panicking() {
    let mut rng = crate::rng::Rng::new(0x2545_f491_4f6c_dd1d);
    let mut next = move || rng.next_u64();
    let pieces = [
        H, ",", "\"", " ", "é", "7", "100", "\t", "hash", "{", "ü\"\",",
    ];
    for _ in 0..3000 {
        let n = (next() % 12) as usize;
        let line: String = (0..n)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect();
        let mut parser = reader::Parser::default();
        let _ = parser.parse_line(&line);
        let _ = parser.parse_line(&line);
        let _ = csv::split_fields(&line);
    }
}

/// Writes `items` (an entry, or a failed item's cause) in `format` and reads them back.
fn round_trip(
    format: Format,
    dihedral: bool,
    items: &[(String, Result<Hashed, String>)],
) -> (String, Vec<Result<Entry, LineError>>) {
    let mut w = Writer::new(Vec::new(), format).dihedral(dihedral);
    w.write_header().expect("vec");
    for (id, item) in items {
        match item {
            Ok(hashed) => w.write_entry(id, hashed).expect("vec"),
            Err(cause) => w.write_failed(id, cause).expect("vec"),
        }
    }
    let text = String::from_utf8(w.into_inner()).expect("utf-8");
    let got = Reader::new(text.as_bytes(), "t")
        .map(|item| match item {
            Ok(e) => Ok(e),
            Err(ListError::Line(b)) => Err(b),
            Err(e) => panic!("{e}"),
        })
        .collect();
    (text, got)
}

fn hashed_strategy() -> impl Strategy<Value = Hashed> {
    let hash = any::<[u8; 32]>().prop_map(Pdq256);
    let hashes = prop_oneof![
        hash.clone().prop_map(Hashes::One),
        proptest::array::uniform8(hash).prop_map(Hashes::Dihedral),
    ];
    (hashes, 0u8..=100).prop_map(|(hashes, quality)| Hashed { hashes, quality })
}

/// Ids that every CSV form reads back as written: no line breaks, no blanks at either end, not
/// starting with `#` (a comment) or `"` (the headerless form does not quote).
fn csv_id_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,;:./_\"'é\u{3000}-]{0,24}".prop_filter("read back as written", |id| {
        id.trim() == id && !id.starts_with('"')
    })
}

proptest! {
    #[test]
    fn headerless_csv_reads_back_what_it_wrote(
        items in proptest::collection::vec((csv_id_strategy(), hashed_strategy()), 0..8)
    ) {
        let input: Vec<(String, Result<Hashed, String>)> =
            items.iter().map(|(id, h)| (id.clone(), Ok(*h))).collect();
        let (text, got) = round_trip(Format::Csv, false, &input);
        let want: Vec<Result<Entry, LineError>> = items
            .iter()
            .map(|(id, h)| Ok(Entry { id: id.clone(), hashes: h.hashes, quality: Some(h.quality) }))
            .collect();
        prop_assert_eq!(got.len(), want.len(), "{}", text);
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g.as_ref().ok(), w.as_ref().ok(), "{}", text);
        }
    }

    #[test]
    fn headed_csv_and_jsonl_read_back_entries_and_failed_items(
        items in proptest::collection::vec(
            (csv_id_strategy(), prop_oneof![
                hashed_strategy().prop_map(Ok),
                // A failed item has a cause: a row with neither hash nor error is malformed.
                csv_id_strategy().prop_filter("a cause", |c| !c.is_empty()).prop_map(Err),
            ]),
            0..8,
        ),
        any_id in proptest::collection::vec(any::<String>(), 8),
        dihedral in any::<bool>(),
    ) {
        for format in [Format::HeadedCsv, Format::Jsonl] {
            let mut items = items.clone();
            if format == Format::HeadedCsv && !dihedral {
                // Only a list written as dihedral has the column for the 8 hashes.
                for (_, item) in &mut items {
                    if let Ok(h) = item {
                        h.hashes = Hashes::One(h.hashes.primary());
                    }
                }
            }
            if format == Format::Jsonl {
                // JSON strings carry any id.
                for ((id, _), any) in items.iter_mut().zip(&any_id) {
                    id.clone_from(any);
                }
            }
            let (text, got) = round_trip(format, dihedral, &items);
            prop_assert_eq!(got.len(), items.len(), "{}", text);
            for (g, (id, item)) in got.iter().zip(&items) {
                match (g, item) {
                    (Ok(e), Ok(h)) => {
                        prop_assert_eq!(&e.id, id);
                        prop_assert_eq!(e.hashes, h.hashes);
                        prop_assert_eq!(e.quality, Some(h.quality));
                    }
                    (Err(b), Err(cause)) => {
                        // A JSON error value is given back as JSON text.
                        let want = match format {
                            Format::Jsonl => serde_json::to_string(cause).expect("string"),
                            _ => cause.clone(),
                        };
                        prop_assert!(
                            matches!(&b.kind, LineErrorKind::FailedItem { cause } if *cause == want),
                            "{} {}", b, text
                        );
                    }
                    _ => prop_assert!(false, "{:?} for {:?} in {}", g, item, text),
                }
            }
        }
    }
}

#[test]
fn writers_print_the_lines_imprint_prints() {
    let h: Pdq256 = H.parse().expect("hash");
    let one = Hashed {
        hashes: Hashes::One(h),
        quality: 87,
    };
    let all: [Pdq256; 8] = std::array::from_fn(|i| format!("{i:x}{}", &H[1..]).parse().unwrap());
    let eight = Hashed {
        hashes: Hashes::Dihedral(all),
        quality: 5,
    };
    let list: Vec<String> = all.iter().map(ToString::to_string).collect();
    let print = |w: Writer<Vec<u8>>, f: &dyn Fn(&mut Writer<Vec<u8>>)| {
        let mut w = w;
        w.write_header().expect("vec");
        f(&mut w);
        String::from_utf8(w.into_inner()).expect("utf-8")
    };
    let entries = |w: &mut Writer<Vec<u8>>| {
        w.write_entry("a,b.jpg", &one).expect("vec");
        w.write_entry("c\u{8}.jpg", &eight).expect("vec");
        w.write_failed("d\".jpg", "bad, \"very\"").expect("vec");
    };
    // `imprint hash --format csv`: ids as written, failures left out.
    assert_eq!(
        print(Writer::new(Vec::new(), Format::Csv), &entries),
        format!("{H},87,a,b.jpg\n{},5,c\u{8}.jpg\n", list.join(","))
    );
    // `imprint hash --format jsonl`: `path`, JSON escapes as `\u0008`.
    assert_eq!(
        print(
            Writer::new(Vec::new(), Format::Jsonl).json_id_key(JsonIdKey::Path),
            &entries
        ),
        format!(
            "{{\"path\":\"a,b.jpg\",\"hash\":\"{H}\",\"quality\":87}}\n\
             {{\"path\":\"c\\u0008.jpg\",\"hash\":\"{}\",\"quality\":5,\"dihedral\":[\"{}\"]}}\n\
             {{\"path\":\"d\\\".jpg\",\"error\":\"bad, \\\"very\\\"\"}}\n",
            list[0],
            list.join("\",\"")
        )
    );
    // `imprint store export --format csv` of a dihedral store.
    assert_eq!(
        print(
            Writer::new(Vec::new(), Format::HeadedCsv).dihedral(true),
            &entries
        ),
        format!(
            "id,hash,quality,error,dihedral\n\"a,b.jpg\",{H},87,\n\
             c\u{8}.jpg,{},5,,{}\n\"d\"\".jpg\",,,\"bad, \"\"very\"\"\",\n",
            list[0],
            list.join(";")
        )
    );
    assert_eq!(
        print(Writer::new(Vec::new(), Format::HeadedCsv), &|_| {}),
        "id,hash,quality,error\n"
    );
}

#[test]
fn csv_fields_are_quoted_only_when_they_must_be() {
    assert_eq!(csv_field("plain name.jpg"), "plain name.jpg");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("two\nlines\r"), "\"two\nlines\r\"");
    assert!(matches!(csv_field("x"), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn readers_writers_and_errors_can_move_between_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Reader<Box<dyn BufRead + Send>>>();
    send_sync::<Reader<&[u8]>>();
    send_sync::<Writer<Vec<u8>>>();
    send_sync::<ListError>();
    send_sync::<Entry>();
}
