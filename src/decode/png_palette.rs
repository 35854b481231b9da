//! PNG palettes that end inside an entry.
//!
//! A `PLTE` chunk whose length is not a multiple of 3 is invalid, but Pillow reads it as the
//! whole entries it holds (indices past them are black), while the `png` crate panics on it.
//! [`with_whole_entries`] cuts the chunk to those entries first, so the file decodes as Pillow
//! decodes it.

/// `bytes` with the `PLTE` chunk cut to whole RGB entries (its length and CRC rewritten), when
/// its length is not a multiple of 3 and its CRC is intact; `None` otherwise, including when
/// the chunks before the image data cannot be walked (the decoder then reports the file).
pub(super) fn with_whole_entries(bytes: &[u8]) -> Option<Vec<u8>> {
    const SIGNATURE: usize = 8;
    let mut at = SIGNATURE;
    loop {
        let len = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        // Length, type, data, CRC.
        let end = at.checked_add(len)?.checked_add(12)?;
        let chunk = bytes.get(at..end)?;
        let (kind, data) = (&chunk[4..8], &chunk[8..8 + len]);
        match kind {
            b"PLTE" => {
                if len.is_multiple_of(3) {
                    return None;
                }
                // Built for fuzzing, the `png` crate ignores CRCs; so does this check then,
                // or the fuzzer would keep finding the panic this module avoids.
                let crc = u32::from_be_bytes(chunk[8 + len..].try_into().ok()?);
                if crc32fast::hash(&chunk[4..8 + len]) != crc && !cfg!(fuzzing) {
                    return None;
                }
                let keep = &data[..len - len % 3];
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(kind);
                hasher.update(keep);
                let mut out = Vec::with_capacity(bytes.len());
                out.extend_from_slice(&bytes[..at]);
                out.extend_from_slice(&(keep.len() as u32).to_be_bytes());
                out.extend_from_slice(kind);
                out.extend_from_slice(keep);
                out.extend_from_slice(&hasher.finalize().to_be_bytes());
                out.extend_from_slice(&bytes[end..]);
                return Some(out);
            }
            // The palette comes before the image data.
            b"IDAT" | b"IEND" => return None,
            _ => at = end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&crc32fast::hash(&c[4..]).to_be_bytes());
        c
    }

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        for c in chunks {
            b.extend_from_slice(c);
        }
        b
    }

    #[test]
    fn a_palette_ending_inside_an_entry_is_cut_to_whole_entries() {
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let idat = chunk(b"IDAT", b"pixels");
        for extra in [1, 2] {
            let entries: Vec<u8> = (0..6 + extra).collect();
            let file = png(&[ihdr.clone(), chunk(b"PLTE", &entries), idat.clone()]);
            let want = png(&[ihdr.clone(), chunk(b"PLTE", &entries[..6]), idat.clone()]);
            assert_eq!(with_whole_entries(&file), Some(want));
        }
    }

    #[test]
    fn whole_broken_or_missing_palettes_are_left_alone() {
        let ihdr = chunk(b"IHDR", &[0; 13]);
        let idat = chunk(b"IDAT", b"pixels");
        let whole = png(&[ihdr.clone(), chunk(b"PLTE", &[1; 9]), idat.clone()]);
        assert_eq!(with_whole_entries(&whole), None);
        // A bad CRC stays for the decoder to report.
        let mut bad_crc = png(&[ihdr.clone(), chunk(b"PLTE", &[1; 7]), idat.clone()]);
        let at = 8 + ihdr.len() + 12 + 7 - 1;
        bad_crc[at] ^= 1;
        assert_eq!(with_whole_entries(&bad_crc), None);
        // No palette before the image data, or chunks that run past the end.
        let late = png(&[ihdr.clone(), idat.clone(), chunk(b"PLTE", &[1; 7])]);
        assert_eq!(with_whole_entries(&late), None);
        let mut cut = png(&[ihdr.clone(), chunk(b"PLTE", &[1; 7])]);
        cut.truncate(cut.len() - 3);
        assert_eq!(with_whole_entries(&cut), None);
        let mut huge = png(&[ihdr, chunk(b"PLTE", &[1; 7])]);
        huge[8 + 25..8 + 29].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(with_whole_entries(&huge), None);
    }
}
