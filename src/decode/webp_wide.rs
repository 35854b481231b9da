//! Simple-format lossless WebPs with a side of 16,384 pixels, the format's maximum, whose size
//! the `image-webp` decoder reads as 0 from the `VP8L` header (it masks the 14-bit field after
//! adding one). Such a file is rewrapped in the extended format: a `VP8X` chunk gives the
//! canvas size in 24 bits, and the `VP8L` chunk, whose bitstream the decoder reads correctly,
//! follows unchanged.

/// `bytes` rewrapped, or `None` for any other file.
pub(super) fn with_canvas_header(bytes: &[u8]) -> Option<Vec<u8>> {
    // "RIFF", size, "WEBP", then "VP8L", chunk size, signature 0x2F and the 32-bit header:
    // 14 bits of width − 1, 14 of height − 1, the alpha hint, 3 of version.
    if bytes.get(12..16)? != b"VP8L" || *bytes.get(20)? != 0x2F {
        return None;
    }
    let header = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
    let (w1, h1) = (header & 0x3FFF, (header >> 14) & 0x3FFF);
    if w1 != 0x3FFF && h1 != 0x3FFF {
        return None;
    }
    let riff_len = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    let chunks = &bytes[12..bytes.len().min(riff_len.saturating_add(8))];
    let alpha = if header >> 28 & 1 == 1 { 0x10 } else { 0 };
    let mut out = Vec::with_capacity(bytes.len() + 18);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&u32::try_from(4 + 18 + chunks.len()).ok()?.to_le_bytes());
    out.extend_from_slice(b"WEBPVP8X");
    out.extend_from_slice(&10u32.to_le_bytes());
    out.extend_from_slice(&[alpha, 0, 0, 0]);
    out.extend_from_slice(&w1.to_le_bytes()[..3]);
    out.extend_from_slice(&h1.to_le_bytes()[..3]);
    out.extend_from_slice(chunks);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simple lossless WebP header claiming `w × h` (no image data after it).
    fn simple(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        let header = (w - 1) | (h - 1) << 14 | u32::from(alpha) << 28;
        let mut b = b"RIFF\x11\0\0\0WEBPVP8L\x05\0\0\0\x2f".to_vec();
        b.extend_from_slice(&header.to_le_bytes());
        b
    }

    #[test]
    fn only_a_side_of_16384_is_rewrapped() {
        assert_eq!(with_canvas_header(&simple(16_383, 9, false)), None);
        assert_eq!(with_canvas_header(&simple(1, 1, true)), None);
        assert_eq!(with_canvas_header(b"RIFF\0\0\0\0WEBPVP8 "), None);
        for (w, h, alpha) in [(16_384, 3, false), (5, 16_384, true)] {
            let original = simple(w, h, alpha);
            let out = with_canvas_header(&original).expect("rewrapped");
            assert_eq!(&out[..4], b"RIFF");
            assert_eq!(
                u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize,
                out.len() - 8
            );
            assert_eq!(&out[8..20], b"WEBPVP8X\x0a\0\0\0");
            assert_eq!(out[20], if alpha { 0x10 } else { 0 });
            let side = |at: usize| u32::from_le_bytes([out[at], out[at + 1], out[at + 2], 0]) + 1;
            assert_eq!((side(24), side(27)), (w, h));
            assert_eq!(out[30..], original[12..]);
        }
    }
}
