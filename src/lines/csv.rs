//! The crate's one CSV field splitter, for the rows of `.csv` manifests
//! ([`crate::pipeline::Source::Manifest`]) and of hash lists ([`crate::hashlist`]).
//!
//! # Rules
//!
//! A row is one line (see [`super::BoundedLines`]): a field never spans lines. Fields are
//! separated by `,`. Quoting is RFC 4180's:
//!
//! - a field that starts with `"` is quoted: it runs to the closing `"`, with `""` standing
//!   for one `"`, and may hold commas; the quotes are not part of its text;
//! - any other field is the bytes up to the next comma, taken as they are (a `"` inside it is
//!   text).
//!
//! Two things RFC 4180 leaves open differ by format, and are the two settings of [`Rules`]:
//!
//! | | [`Rules::MANIFEST`] | [`Rules::HASH_LIST`] |
//! |---|---|---|
//! | blanks around a field ([`Rules::trim`]) | part of the field: paths may start or end with blanks | dropped (Unicode white space, as [`str::trim`]); a quoted field may have blanks before its opening and after its closing quote |
//! | a quote that does not close, or text after a closing quote ([`Rules::bad_quotes_as_text`]) | an error ([`QuoteError`]): a manifest names files, and a guess would hash the wrong one | the field as written, up to the next comma: lists written by other tools are read as far as they can be, and a bad hash or id still shows in the line's error |
//!
//! A row has at least one field, so an empty row is one empty field. Each field records where
//! it starts in the row ([`Field::start`]), so that a format can take "the rest of the row" as
//! written (a hash list's id, which may hold unquoted commas).
//!
//! # Why not the `csv` crate
//!
//! `csv` (and `csv-core`) is the ecosystem's standard reader, but it cannot give either rule
//! set: it never reports an unclosed quote or text after a closing quote (a manifest must
//! refuse those), it reads an unclosed quote on to the end of the input instead of the end of
//! the field (a hash list takes the field as written), its trimming also trims inside quotes,
//! and its records do not say where a field starts in the row. Reading records one line at a
//! time, bounded ([`super::BoundedLines`]), is ours either way. So the splitter is this one
//! loop of ~50 lines, with its rules stated above and tested below.
//!
//! ```
//! use imprint::lines::csv::{split, QuoteError, Rules};
//!
//! let texts = |row: &[u8], rules| -> Result<Vec<Vec<u8>>, QuoteError> {
//!     Ok(split(row, rules)?.into_iter().map(|f| f.text.into_owned()).collect())
//! };
//! let row = br#"a.jpg, "b,c.jpg" ,"say ""hi""""#;
//! assert_eq!(
//!     texts(row, Rules::HASH_LIST)?,
//!     [&b"a.jpg"[..], b"b,c.jpg", b"say \"hi\""]
//! );
//! // In a manifest, blanks belong to the field, so ` "b` does not start a quoted field.
//! assert_eq!(texts(row, Rules::MANIFEST)?[1], b" \"b");
//! assert_eq!(texts(br#""a,b"#, Rules::MANIFEST), Err(QuoteError::Unclosed));
//! assert_eq!(texts(br#""a,b"#, Rules::HASH_LIST)?, [&b"\"a"[..], b"b"]);
//! # Ok::<(), QuoteError>(())
//! ```

use std::borrow::Cow;

/// The settings of [`split`] that differ by format (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Whether blanks around a field are dropped (and may stand before an opening or after a
    /// closing quote), rather than being part of the field.
    pub trim: bool,
    /// Whether a quote that does not close, or text after a closing quote, leaves the field as
    /// written up to the next comma, rather than being a [`QuoteError`].
    pub bad_quotes_as_text: bool,
}

impl Rules {
    /// Manifests: fields kept byte for byte, bad quotes refused.
    pub const MANIFEST: Rules = Rules {
        trim: false,
        bad_quotes_as_text: false,
    };
    /// Hash lists: blanks around fields dropped, bad quotes read as text.
    pub const HASH_LIST: Rules = Rules {
        trim: true,
        bad_quotes_as_text: true,
    };
}

/// A quoted field that RFC 4180 does not allow, under [`Rules::MANIFEST`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// A field starts with `"` and no closing quote follows.
    #[error("a quoted field does not end")]
    Unclosed,
    /// A closing quote is followed by something other than a comma or the end of the row.
    #[error("text after a quoted field's closing quote")]
    TextAfterQuote,
}

/// One field of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// Its text: unquoted, and trimmed when the rules say so.
    pub text: Cow<'a, [u8]>,
    /// The byte offset in the row where the field starts (where the previous comma ends,
    /// before any blanks).
    pub start: usize,
}

/// Splits one row into its fields, as the [module docs](self) say.
///
/// Time is linear in the row's length for rows whose quotes are well formed; the fields hold
/// at most the row's bytes.
///
/// # Errors
/// A [`QuoteError`] when `rules` do not take bad quotes as text.
pub fn split(row: &[u8], rules: Rules) -> Result<Vec<Field<'_>>, QuoteError> {
    let mut fields = Vec::new();
    for_each_field(row, rules, |f| fields.push(f))?;
    Ok(fields)
}

/// Calls `each` with the fields of `row` in order, as [`split`] gives them, without collecting
/// them (a caller that converts each field keeps one vector per row, not two).
///
/// # Errors
/// As [`split`]; the fields before the bad quote have been given to `each`.
pub(crate) fn for_each_field<'a>(
    row: &'a [u8],
    rules: Rules,
    mut each: impl FnMut(Field<'a>),
) -> Result<(), QuoteError> {
    let mut start = 0;
    loop {
        let rest = &row[start..];
        let body = if rules.trim { trim_start(rest) } else { rest };
        if body.first() == Some(&b'"') {
            let bad = match quoted(body) {
                Some((text, used)) => {
                    let after = &body[used..];
                    let after = if rules.trim { trim_start(after) } else { after };
                    match after.split_first() {
                        None => {
                            each(Field { text, start });
                            return Ok(());
                        }
                        Some((b',', _)) => {
                            each(Field { text, start });
                            start = row.len() - after.len() + 1;
                            continue;
                        }
                        Some(_) => QuoteError::TextAfterQuote,
                    }
                }
                None => QuoteError::Unclosed,
            };
            if !rules.bad_quotes_as_text {
                return Err(bad);
            }
        }
        // Unquoted, or a bad quote taken as text: up to the next comma.
        let end = rest.iter().position(|&b| b == b',');
        let text = &rest[..end.unwrap_or(rest.len())];
        let text = if rules.trim { trim(text) } else { text };
        each(Field {
            text: Cow::Borrowed(text),
            start,
        });
        match end {
            Some(c) => start += c + 1,
            None => return Ok(()),
        }
    }
}

/// The quoted field at the start of `s` (which starts with `"`): its text and the bytes it
/// spans, quotes included; `None` when it does not close.
fn quoted(s: &[u8]) -> Option<(Cow<'_, [u8]>, usize)> {
    let inner = s.strip_prefix(b"\"")?;
    // Borrowed until a `""` needs unescaping.
    let mut text: Option<Vec<u8>> = None;
    let mut i = 0;
    loop {
        let q = i + inner[i..].iter().position(|&b| b == b'"')?;
        if inner.get(q + 1) == Some(&b'"') {
            let t = text.get_or_insert_with(Vec::new);
            t.extend_from_slice(&inner[i..=q]);
            i = q + 2;
        } else {
            let field = match text {
                None => Cow::Borrowed(&inner[..q]),
                Some(mut t) => {
                    t.extend_from_slice(&inner[i..q]);
                    Cow::Owned(t)
                }
            };
            return Some((field, q + 2));
        }
    }
}

/// `b` without the Unicode white space it starts with ([`char::is_whitespace`], as
/// [`str::trim_start`]; a byte that is not UTF-8 is not white space). Looks at the leading
/// characters only, so that trimming each field of a row costs no more than the row.
fn trim_start(b: &[u8]) -> &[u8] {
    let mut i = 0;
    while let Some(c) = first_char(&b[i..]) {
        if !c.is_whitespace() {
            break;
        }
        i += c.len_utf8();
    }
    &b[i..]
}

/// `b` without the Unicode white space it starts or ends with (see [`trim_start`]).
fn trim(b: &[u8]) -> &[u8] {
    let mut b = trim_start(b);
    while let Some(c) = last_char(b) {
        if !c.is_whitespace() {
            break;
        }
        b = &b[..b.len() - c.len_utf8()];
    }
    b
}

/// The character `b` starts with, when it starts with one in UTF-8.
fn first_char(b: &[u8]) -> Option<char> {
    let first = *b.first()?;
    if first.is_ascii() {
        return Some(char::from(first));
    }
    let head = &b[..b.len().min(4)];
    head.utf8_chunks().next()?.valid().chars().next()
}

/// The character `b` ends with, when it ends with one in UTF-8.
fn last_char(b: &[u8]) -> Option<char> {
    let last = *b.last()?;
    if last.is_ascii() {
        return Some(char::from(last));
    }
    // A character is at most 4 bytes: try the last 2, 3 and 4 as one.
    (2..=b.len().min(4)).find_map(|n| {
        let s = std::str::from_utf8(&b[b.len() - n..]).ok()?;
        let mut chars = s.chars();
        let c = chars.next()?;
        chars.next().is_none().then_some(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(row: &str, rules: Rules) -> Result<Vec<String>, QuoteError> {
        Ok(split(row.as_bytes(), rules)?
            .into_iter()
            .map(|f| String::from_utf8(f.text.into_owned()).expect("utf-8 row"))
            .collect())
    }

    #[test]
    fn hash_list_rules_trim_and_take_bad_quotes_as_text() {
        let t = |row| texts(row, Rules::HASH_LIST).expect("never an error");
        assert_eq!(t(""), [""]);
        assert_eq!(t("a, b ,"), ["a", "b", ""]);
        assert_eq!(t(r#""a,b","c""d", "" "#), ["a,b", "c\"d", ""]);
        // Quotes that do not close, or text after a closing quote: as written.
        assert_eq!(t(r#""a,b"#), [r#""a"#, "b"]);
        assert_eq!(t(r#""a"x,b"#), [r#""a"x"#, "b"]);
        assert_eq!(t(r#""a,b"x,c"#), [r#""a"#, r#"b"x"#, "c"]);
        // Multi-byte text on both sides of quotes; Unicode blanks trimmed as str::trim does.
        assert_eq!(t("é,\"ü,ß\",ø"), ["é", "ü,ß", "ø"]);
        assert_eq!(t("\u{a0}x\u{3000},\u{2003}\"q\"\u{a0}"), ["x", "q"]);
    }

    #[test]
    fn manifest_rules_keep_bytes_and_refuse_bad_quotes() {
        let t = |row| texts(row, Rules::MANIFEST);
        assert_eq!(t(""), Ok(vec![String::new()]));
        assert_eq!(t(" a , b"), Ok(vec![" a ".into(), " b".into()]));
        assert_eq!(
            t(r#""a,b","c""d","#),
            Ok(vec!["a,b".into(), "c\"d".into(), String::new()])
        );
        // A quote after blanks is text; a quote inside an unquoted field is text.
        assert_eq!(
            t(r#" "a",b"c"#),
            Ok(vec![r#" "a""#.into(), r#"b"c"#.into()])
        );
        assert_eq!(t(r#""a,b"#), Err(QuoteError::Unclosed));
        assert_eq!(t(r#""a"x,b"#), Err(QuoteError::TextAfterQuote));
        assert_eq!(t(r#""a" ,b"#), Err(QuoteError::TextAfterQuote));
    }

    #[test]
    fn fields_start_where_the_previous_comma_ends() {
        let starts = |row: &str, rules| -> Vec<usize> {
            split(row.as_bytes(), rules)
                .expect("well formed")
                .iter()
                .map(|f| f.start)
                .collect()
        };
        let row = r#"a, "b,c" ,,d"#;
        assert_eq!(starts(row, Rules::HASH_LIST), [0, 2, 10, 11]);
        assert_eq!(starts(r#""x,y",z"#, Rules::MANIFEST), [0, 6]);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept_and_are_not_blanks() {
        let row = b"\xff ,\"\xe9\"\" \", \xe8";
        let got: Vec<Vec<u8>> = split(row, Rules::MANIFEST)
            .expect("well formed")
            .into_iter()
            .map(|f| f.text.into_owned())
            .collect();
        assert_eq!(got, [&b"\xff "[..], b"\xe9\" ", b" \xe8"]);
        let got: Vec<Vec<u8>> = split(row, Rules::HASH_LIST)
            .expect("never an error")
            .into_iter()
            .map(|f| f.text.into_owned())
            .collect();
        assert_eq!(got, [&b"\xff"[..], b"\xe9\" ", b"\xe8"]);
    }

    #[test]
    fn trimming_bytes_is_str_trim_on_text() {
        let mut rng = crate::rng::Rng::new(0x7e1a);
        let alphabet = [
            "a", " ", "\t", "\u{b}", "\u{a0}", "\u{3000}", "\u{2003}", "é", "😀", ",",
        ];
        for _ in 0..5_000 {
            let len = rng.below(8) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            assert_eq!(trim(s.as_bytes()), s.trim().as_bytes(), "{s:?}");
            assert_eq!(trim_start(s.as_bytes()), s.trim_start().as_bytes(), "{s:?}");
        }
        // Bytes that are not UTF-8 are not blanks, and stop the trimming.
        assert_eq!(trim(b" \xff \xc3"), b"\xff \xc3");
        assert_eq!(trim(b"\xe3\x80\x80x\xe3\x80"), b"x\xe3\x80");
    }

    #[test]
    fn random_rows_split_without_panicking_and_within_their_bytes() {
        let mut rng = crate::rng::Rng::new(0x51_11e7);
        let alphabet: [&[u8]; 9] = [
            b"a",
            b",",
            b"\"",
            b"\"\"",
            b" ",
            b"\xc3\xa9",
            b"\xff",
            b"\t",
            b"\xc2\xa0",
        ];
        for _ in 0..20_000 {
            let len = rng.below(12) as usize;
            let row: Vec<u8> = (0..len)
                .flat_map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .copied()
                .collect();
            for rules in [Rules::MANIFEST, Rules::HASH_LIST] {
                match split(&row, rules) {
                    Ok(fields) => {
                        assert!(!fields.is_empty());
                        assert!(fields.iter().map(|f| f.text.len()).sum::<usize>() <= row.len());
                        assert!(fields.windows(2).all(|w| w[0].start < w[1].start));
                        assert!(fields.iter().all(|f| f.start <= row.len()));
                    }
                    Err(_) => assert!(!rules.bad_quotes_as_text, "{row:?}"),
                }
            }
        }
    }
}
