//! Item ids: how a path or a name given as bytes becomes the text a store records, and how
//! an id longer than a store takes is shortened.
//!
//! [`ID_SCHEME`] documents the escaping and [`shorten_id`] the shortened form (both are
//! format promises: a store records the scheme its ids were written with).

use crate::store::format::MAX_ID_LEN;
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::path::Path;

/// The id scheme this release writes: 2.
///
/// A store records the scheme its ids were written with, so that a resume or a merge never
/// compares ids written under two different rules.
///
/// | scheme | path or name bytes → id |
/// |---|---|
/// | 1 | a UTF-8 name as it is; otherwise (Unix) its UTF-8 runs as they are and every other byte as `\xNN` |
/// | 2 | UTF-8 runs as they are, except `\`, written `\\`; every byte that is not UTF-8 as `\xNN` (two lowercase hex digits) |
///
/// Scheme 1 was not injective: a file literally named `a\xff.jpg` and one named `a<0xFF>.jpg`
/// had the same id, so a resume skipped the second and a merge kept one. Scheme 2 escapes the
/// escape character, so distinct byte strings give distinct ids ([`unescape_id`] undoes
/// [`escape_id`]), and names without a backslash (nearly every Unix name) keep the id scheme 1
/// gave them. The rules apply to every name an item's id is made of: a path given or found by
/// a walk, a manifest line or its `id` column, a tar member name. On systems other than Unix a
/// path is first converted to UTF-8 lossily and is not escaped (backslashes separate
/// directories there). Ids longer than a store takes are shortened ([`shorten_id`]).
pub const ID_SCHEME: u32 = 2;

/// What marks a shortened id: it follows the kept prefix and precedes the SHA-256 of the full
/// id. `\+` is never an escape of a scheme-2 id (a literal `\+` is written `\\+`).
pub const SHORTENED_ID_MARKER: &str = "\\+sha256:";

/// Length of a shortened id's tail: the marker and 64 hex digits.
pub(crate) const SHORTENED_TAIL_LEN: usize = SHORTENED_ID_MARKER.len() + 64;

/// Why an id does not lead back to a name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// A `\` that does not start `\\` or `\xNN`.
    #[error("id has a bad escape at byte {offset}: a backslash must start `\\\\` or `\\xNN`")]
    BadEscape {
        /// Byte offset of the backslash in the id.
        offset: usize,
    },
    /// The id is a shortened one: only a prefix of the name it stands for is in it.
    #[error("id was shortened to {max} bytes (a `\\+sha256:` tail): the full name is not in it", max = MAX_ID_LEN)]
    Shortened,
}

/// A path's item id under [`ID_SCHEME`] 2: its bytes escaped as [`escape_id`] does (Unix), so
/// that distinct files keep distinct ids. Replacing bytes that are not UTF-8 with U+FFFD, as a
/// lossy conversion does, would give files such as `caf\xe9.jpg` and `caf\xe8.jpg` one id: a
/// resume would skip the second, and a match could not name its file.
///
/// ```
/// use imprint::pipeline::path_id;
/// assert_eq!(path_id("photos/café.jpg".as_ref()), "photos/café.jpg");
/// # #[cfg(unix)] {
/// use std::os::unix::ffi::OsStrExt;
/// let latin1 = std::ffi::OsStr::from_bytes(b"photos/caf\xe9.jpg");
/// assert_eq!(path_id(latin1.as_ref()), r"photos/caf\xe9.jpg");
/// assert_eq!(path_id(r"a\xe9.jpg".as_ref()), r"a\\xe9.jpg");
/// # }
/// ```
#[must_use]
pub fn path_id(p: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        escape_id(p.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        p.to_string_lossy().into_owned()
    }
}

/// Bytes as an id under [`ID_SCHEME`] 2: UTF-8 runs as they are, except `\` as `\\`; every
/// other byte as `\xNN`. Injective: [`unescape_id`] gives the bytes back.
///
/// ```
/// use imprint::pipeline::{escape_id, unescape_id};
/// assert_eq!(escape_id(b"a\xff.jpg"), r"a\xff.jpg");
/// assert_eq!(escape_id(br"a\xff.jpg"), r"a\\xff.jpg");
/// assert_eq!(unescape_id(r"a\\xff.jpg")?, br"a\xff.jpg");
/// # Ok::<(), imprint::pipeline::IdError>(())
/// ```
#[must_use]
pub fn escape_id(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        if valid.contains('\\') {
            out.push_str(&valid.replace('\\', "\\\\"));
        } else {
            out.push_str(valid);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The bytes an id was made from: the inverse of [`escape_id`] (`\\` → `\`, `\xNN` → byte).
///
/// # Errors
/// [`IdError::Shortened`] for a shortened id, [`IdError::BadEscape`] for any other `\` that
/// does not start `\\` or `\xNN` (an id of [`ID_SCHEME`] 1 that holds a literal backslash).
pub fn unescape_id(id: &str) -> Result<Vec<u8>, IdError> {
    let b = id.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let byte = b
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(IdError::BadEscape { offset: i })?;
                out.push(byte);
                i += 4;
            }
            Some(b'+') if id[i..].starts_with(SHORTENED_ID_MARKER) => {
                return Err(IdError::Shortened)
            }
            _ => return Err(IdError::BadEscape { offset: i }),
        }
    }
    Ok(out)
}

/// The id an item is stored under: `id` itself when it is at most [`MAX_ID_LEN`] bytes,
/// otherwise its shortened form.
///
/// A store keeps ids of at most [`MAX_ID_LEN`] bytes. An item whose id is longer (a deep tree
/// of long names, a long tar member name, a long manifest line, each non-UTF-8 byte counting
/// four) is hashed as any other under the shortened id
///
/// ```text
/// <prefix of the full id> \+sha256: <64 lowercase hex digits: SHA-256 of the full id's UTF-8>
/// ```
///
/// The prefix is the longest one that keeps the whole at most [`MAX_ID_LEN`] bytes and that
/// ends between two characters and outside any escape. `\+` is never an escape of a scheme-2
/// id ([`ID_SCHEME`]; a literal `\+` is written `\\+`), so a shortened id is never the full
/// id of another item, and
/// [`unescape_id`] reports it as [`IdError::Shortened`]. The same full id always gives the
/// same shortened id, so a resume skips the item as it skips any other; the run logs a
/// warning for each item whose id it shortened.
///
/// ```
/// use imprint::pipeline::shorten_id;
/// let long = "d/".repeat(3000);
/// let short = shorten_id(&long);
/// assert!(short.len() <= 4096 && short.starts_with("d/d/"));
/// assert!(short.contains(r"\+sha256:"));
/// assert_eq!(shorten_id("a.jpg"), "a.jpg");
/// ```
#[must_use]
pub fn shorten_id(id: &str) -> std::borrow::Cow<'_, str> {
    if id.len() <= MAX_ID_LEN {
        return std::borrow::Cow::Borrowed(id);
    }
    let budget = MAX_ID_LEN - SHORTENED_TAIL_LEN;
    // The last token boundary within the budget: a character, `\\` or `\xNN`.
    let b = id.as_bytes();
    let mut cut = 0;
    let mut i = 0;
    while i < b.len() {
        let step = match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'\\')) => 2,
            (b'\\', Some(b'x')) => 4,
            (c, _) => utf8_len(c),
        };
        if i + step > budget {
            break;
        }
        i += step;
        cut = i;
    }
    // A token cut short by the end of `id` (a malformed escape) still ends on a character.
    while !id.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut short = format!("{}{SHORTENED_ID_MARKER}", &id[..cut]);
    for b in Sha256::digest(id.as_bytes()) {
        let _ = write!(short, "{b:02x}"); // writing to a String cannot fail
    }
    std::borrow::Cow::Owned(short)
}

/// Length of the UTF-8 sequence a lead byte starts (1 for a continuation byte, which a `&str`
/// never starts a character with).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_byte_that_is_not_utf8_and_its_escape_written_out_get_different_ids() {
        let raw = escape_id(b"a\xff.jpg");
        let literal = escape_id(br"a\xff.jpg");
        assert_ne!(raw, literal);
        assert_eq!(raw, r"a\xff.jpg");
        assert_eq!(literal, r"a\\xff.jpg");
        assert_eq!(unescape_id(&raw).expect("raw"), b"a\xff.jpg");
        assert_eq!(unescape_id(&literal).expect("literal"), br"a\xff.jpg");
    }

    #[test]
    fn names_without_a_backslash_keep_their_scheme_1_ids() {
        assert_eq!(escape_id("photos/café.jpg".as_bytes()), "photos/café.jpg");
        assert_eq!(escape_id(b"caf\xe9.jpg"), r"caf\xe9.jpg");
    }

    #[test]
    fn unescape_rejects_a_lone_backslash_and_names_a_shortened_id() {
        assert_eq!(unescape_id(r"a\b"), Err(IdError::BadEscape { offset: 1 }));
        assert_eq!(unescape_id(r"a\x4"), Err(IdError::BadEscape { offset: 1 }));
        assert_eq!(unescape_id("a\\"), Err(IdError::BadEscape { offset: 1 }));
        let short = shorten_id(&"x".repeat(MAX_ID_LEN + 1)).into_owned();
        assert_eq!(unescape_id(&short), Err(IdError::Shortened));
    }

    #[test]
    fn a_shortened_id_ends_in_the_sha256_of_the_full_id() {
        // Stores and resumes compare these bytes: they must never change.
        let long = "d/".repeat(3000);
        assert_eq!(
            shorten_id(&long),
            format!(
                r"{}\+sha256:81cc4e7f85e020ba6306032ecfb90145947d88aada1fd3bf8e68f243e8820331",
                &long[..MAX_ID_LEN - SHORTENED_TAIL_LEN]
            )
        );
        assert_eq!(MAX_ID_LEN - SHORTENED_TAIL_LEN, 4023);
    }

    #[test]
    fn shortening_keeps_whole_escapes_and_characters_and_is_deterministic() {
        // Each 0xFF byte is a four-byte escape; each é two bytes; offsets vary the cut point.
        for lead in 0..8 {
            let mut name = vec![b'a'; lead];
            name.extend(std::iter::repeat_n(b"\xff\\\xc3\xa9".as_slice(), 900).flatten());
            let id = escape_id(&name);
            assert!(id.len() > MAX_ID_LEN);
            let short = shorten_id(&id);
            assert!(short.len() <= MAX_ID_LEN, "{}", short.len());
            assert!(short.len() > MAX_ID_LEN - SHORTENED_TAIL_LEN - 4);
            let (prefix, digest) = short.split_once(SHORTENED_ID_MARKER).expect("marker");
            assert!(id.starts_with(prefix));
            // The prefix alone unescapes: no escape was cut.
            let bytes = unescape_id(prefix).expect("whole escapes");
            assert!(name.starts_with(&bytes));
            assert_eq!(digest.len(), 64);
            assert!(digest
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
            assert_eq!(shorten_id(&id), short);
        }
        // Ids that differ only past the prefix still differ.
        let a = format!("{}a", "d/".repeat(3000));
        let b = format!("{}b", "d/".repeat(3000));
        assert_ne!(shorten_id(&a), shorten_id(&b));
    }

    proptest! {
        #[test]
        fn escape_is_injective_and_unescape_inverts_it(
            a in proptest::collection::vec(prop_oneof![Just(b'\\'), Just(b'x'), Just(0xffu8), Just(0xc3), Just(0xa9), any::<u8>()], 0..24),
            b in proptest::collection::vec(prop_oneof![Just(b'\\'), Just(b'x'), Just(0xffu8), Just(0xc3), Just(0xa9), any::<u8>()], 0..24),
        ) {
            let (ea, eb) = (escape_id(&a), escape_id(&b));
            prop_assert_eq!(unescape_id(&ea).expect("escaped"), a.clone());
            prop_assert_eq!(ea == eb, a == b);
        }
    }
}
