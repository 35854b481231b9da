//! JPEG through libjpeg-turbo's decoder (`mozjpeg` crate): ISLOW IDCT, fancy upsampling —
//! Pillow's settings, so pixels match the reference decoder exactly.

use super::{exif, DecodeError, DecodeOptions, DecodedImage, ImageFormat, PixelPool, Result};
use crate::hash::PixelLayout;
use mozjpeg::{Decompress, Format, Marker};

const F: ImageFormat = ImageFormat::Jpeg;

/// Most scans a progressive or arithmetic-coded JPEG may have. Encoders write about 10
/// (libjpeg's default progression) and rarely more than a few dozen, while each scan costs
/// libjpeg a pass over the coefficients of the whole image, which a few bytes can describe
/// (a run of empty blocks, or arithmetic coding): a crafted file of a few MB with 100,000 empty
/// scans holds a core for minutes (2,000 scans cost a 12 MP image 4 s). NVIDIA's nvImageCodec
/// applies the same limit to libjpeg-turbo for that reason. Baseline (Huffman, sequential)
/// JPEGs spend at least a bit per block in every scan, so their time follows their size and
/// their scans are not counted.
pub const MAX_JPEG_SCANS: usize = 256;

pub(super) fn decode(
    bytes: &[u8],
    options: &DecodeOptions,
    pool: &PixelPool,
) -> Result<DecodedImage> {
    // The segments before the first scan, walked once.
    let Some((sos, counted)) = find_sos(bytes).filter(|&(sos, _)| end_marker_after(bytes, sos))
    else {
        return Err(DecodeError::Truncated { format: F });
    };
    if counted {
        let scans = count_scans(bytes, sos);
        if scans > MAX_JPEG_SCANS {
            return Err(DecodeError::Unsupported {
                format: F,
                cause: format!(
                    "a JPEG of more than {MAX_JPEG_SCANS} scans (encoders write about 10; a \
                     crafted one can hold a core for minutes)"
                ),
            });
        }
    }
    // libjpeg reports fatal errors by unwinding out of its error handler (the mozjpeg crate's
    // error manager raises them with `resume_unwind`, so no panic hook runs); turn them back
    // into values here.
    super::guarded(F, || decode_inner(bytes, options, pool))
}

fn io_err(e: std::io::Error) -> DecodeError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        DecodeError::Truncated { format: F }
    } else {
        DecodeError::Corrupt {
            format: F,
            cause: e.to_string(),
        }
    }
}

fn decode_inner(bytes: &[u8], options: &DecodeOptions, pool: &PixelPool) -> Result<DecodedImage> {
    let markers: &[Marker] = if options.apply_exif {
        &[Marker::APP(1)]
    } else {
        &[]
    };
    let mut d = Decompress::with_markers(markers)
        .from_mem(bytes)
        .map_err(io_err)?;
    let (w, h) = d.size();
    let width = u32::try_from(w).unwrap_or(u32::MAX);
    let height = u32::try_from(h).unwrap_or(u32::MAX);
    options.check_size(F, width, height)?;
    if let Some(min_side) = options.jpeg_min_side {
        let n = super::jpeg_scale_numerator(width, height, min_side);
        if n < 8 {
            d.scale(n);
        }
    }
    let orientation = if options.apply_exif {
        d.markers()
            .find_map(|m| exif::orientation_from_app1(m.data))
            .unwrap_or(1)
    } else {
        1
    };
    // The output size differs from the header's when scaled.
    let (layout, pixels, w, h) = match d.image().map_err(io_err)? {
        Format::RGB(mut s) => {
            let (w, h) = (s.width(), s.height());
            let px = read_pooled(&mut s, w * h * 3, pool)?;
            s.finish().map_err(io_err)?;
            (PixelLayout::Rgb8, px, w, h)
        }
        Format::Gray(mut s) => {
            let (w, h) = (s.width(), s.height());
            let px = read_pooled(&mut s, w * h, pool)?;
            s.finish().map_err(io_err)?;
            (PixelLayout::Gray8, px, w, h)
        }
        Format::CMYK(mut s) => {
            let (w, h) = (s.width(), s.height());
            let px: Vec<u8> = s.read_scanlines().map_err(io_err)?;
            s.finish().map_err(io_err)?;
            (PixelLayout::Rgb8, cmyk_to_rgb(&px), w, h)
        }
    };
    // Scaled sizes are at most the header's, which fit in u32.
    let (width, height) = (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    );
    let expected = w * h * layout.bytes_per_pixel();
    if pixels.len() != expected {
        return Err(DecodeError::Truncated { format: F });
    }
    let mut img = DecodedImage {
        width,
        height,
        layout,
        pixels,
        format: F,
    };
    img.orient(orientation, pool);
    Ok(img)
}

/// All scanlines, `len` bytes, into a buffer from `pool`. A short read (a corrupt file libjpeg
/// gave up on without a fatal error) is an error, and the buffer goes back.
fn read_pooled<R>(
    s: &mut mozjpeg::decompress::DecompressStarted<R>,
    len: usize,
    pool: &PixelPool,
) -> Result<Vec<u8>> {
    let mut px = pool.take(len);
    let read = match s.read_scanlines_into::<u8>(&mut px) {
        Ok(done) => done.len(),
        Err(e) => {
            pool.give(px);
            return Err(io_err(e));
        }
    };
    if read != len {
        pool.give(px);
        return Err(DecodeError::Truncated { format: F });
    }
    Ok(px)
}

/// Pillow reads CMYK JPEGs with the `CMYK;I` raw mode (Adobe's inverted ink values), then
/// `convert("RGB")` computes `255 - k' - c'·(255 - k')/255` per channel with its rounding
/// `MULDIV255`.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        // Undo the inversion: libjpeg hands back the stored (inverted) values.
        let k = 255 - i32::from(p[3]);
        let nk = 255 - k;
        for &c in &p[..3] {
            let c = 255 - i32::from(c);
            let tmp = c * nk + 128;
            let muldiv = ((tmp >> 8) + tmp) >> 8;
            out.push((nk - muldiv).clamp(0, 255) as u8);
        }
    }
    out
}

/// Whether an end-of-image marker follows the start-of-scan marker at `sos`. Entropy-coded
/// data never contains `FF D9` (0xFF bytes are stuffed), so its presence after the scan header
/// means the file was not cut short.
fn end_marker_after(bytes: &[u8], sos: usize) -> bool {
    bytes[sos..].windows(2).rev().any(|w| w == [0xFF, 0xD9])
}

/// How many SOS markers there are from the one at `pos` on, up to the end-of-image marker,
/// counting at most one past [`MAX_JPEG_SCANS`]. As libjpeg reads them: segments are walked by
/// their lengths, entropy-coded data is skipped up to the next byte 0xFF that starts a marker
/// (not a stuffed `FF 00`, a restart marker or a fill byte), and bytes that are not a marker
/// where one should be are passed over.
fn count_scans(bytes: &[u8], mut pos: usize) -> usize {
    let mut scans = 0;
    while scans <= MAX_JPEG_SCANS {
        let Some(at) = next_marker(bytes, pos) else {
            break;
        };
        pos = at;
        match bytes[pos + 1] {
            0xD9 => break,
            0x01 => pos += 2,
            marker => {
                let Some(len) = segment_len(bytes, pos) else {
                    break;
                };
                pos += 2 + len;
                scans += usize::from(marker == 0xDA);
            }
        }
    }
    scans
}

/// The offset of the next marker at or after `pos`, past entropy-coded data (stuffed `FF 00`,
/// restart markers), fill bytes and junk.
fn next_marker(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos += bytes.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        match *bytes.get(pos + 1)? {
            0x00 | 0xD0..=0xD7 => pos += 2,
            0xFF => pos += 1,
            _ => return Some(pos),
        }
    }
}

/// The length field of the segment whose marker is at `pos` (at least 2).
fn segment_len(bytes: &[u8], pos: usize) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([
        *bytes.get(pos + 2)?,
        *bytes.get(pos + 3)?,
    ]));
    (len >= 2).then_some(len)
}

/// Offset of the first SOS marker, walking the segment structure, and whether its frame's
/// scans are counted against [`MAX_JPEG_SCANS`]: a progressive (`SOF2`, `SOF6`) or
/// arithmetic-coded (`SOF9`–`SOF11`, `SOF13`–`SOF15`) frame header came before it.
fn find_sos(bytes: &[u8]) -> Option<(usize, bool)> {
    let mut counted = false;
    let mut pos = 2usize; // after SOI
    loop {
        // Skip fill bytes before a marker.
        while *bytes.get(pos)? == 0xFF && *bytes.get(pos + 1)? == 0xFF {
            pos += 1;
        }
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(pos + 1)?;
        match marker {
            0xDA => return Some((pos, counted)),
            0xD0..=0xD7 | 0x01 => pos += 2,
            _ => {
                counted |= matches!(marker, 0xC2 | 0xC6 | 0xC9..=0xCB | 0xCD..=0xCF);
                pos = pos.checked_add(2 + segment_len(bytes, pos)?)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_end_marker(bytes: &[u8]) -> bool {
        find_sos(bytes).is_some_and(|(sos, _)| end_marker_after(bytes, sos))
    }

    /// The first scan's offset when its frame's scans are counted.
    fn counted_sos(bytes: &[u8]) -> Option<usize> {
        find_sos(bytes).and_then(|(sos, counted)| counted.then_some(sos))
    }

    #[test]
    fn end_marker_detection() {
        // SOI, APP0 (len 4), SOS header (len 2) + data, EOI.
        let ok = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xDA, 0, 2, 9, 9, 0xFF, 0xD9,
        ];
        assert!(has_end_marker(&ok));
        assert!(!has_end_marker(&ok[..ok.len() - 2]));
        // A segment length running past the end.
        assert!(!has_end_marker(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF]));
    }

    /// SOI, a progressive frame header, then `scans` scans with entropy-coded data holding a
    /// stuffed 0xFF, a restart marker and fill bytes, a table segment holding `FF DA` between
    /// two of them, and junk after another; then EOI, and a scan after it that does not count.
    fn progressive_with_scans(scans: usize) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xC2, 0, 2];
        for k in 0..scans {
            b.extend([
                0xFF, 0xDA, 0, 2, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF,
            ]);
            if k == 1 {
                b.extend([0xFF, 0xC4, 0, 4, 0xFF, 0xDA]);
            }
            if k == 2 {
                b.extend([0xFF, 0xC4, 0, 2, 0x99, 0x98]);
            }
        }
        b.extend([0xFF, 0xD9, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9]);
        b
    }

    #[test]
    fn counts_the_scans_of_a_progressive_jpeg_as_libjpeg_reads_them() {
        for scans in [1, 2, 3, 10, MAX_JPEG_SCANS] {
            let b = progressive_with_scans(scans);
            let sos = counted_sos(&b).expect("progressive");
            assert_eq!(count_scans(&b, sos), scans);
        }
        let over = progressive_with_scans(MAX_JPEG_SCANS + 50);
        assert_eq!(
            count_scans(&over, 6),
            MAX_JPEG_SCANS + 1,
            "stops one past the limit"
        );
        // Baseline and extended Huffman frames are not counted, arithmetic ones are; every cut
        // of the file ends the count cleanly.
        let mut frame = progressive_with_scans(3);
        for (sof, counted) in [(0xC0, false), (0xC1, false), (0xC9, true), (0xCA, true)] {
            frame[3] = sof;
            assert_eq!(counted_sos(&frame).is_some(), counted, "SOF {sof:#x}");
        }
        let b = progressive_with_scans(5);
        for cut in 0..b.len() {
            assert!(count_scans(&b[..cut], 6) <= 5);
        }
    }

    #[test]
    fn a_progressive_jpeg_with_too_many_scans_is_refused_before_decoding() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/pillow/jpeg_422_progressive.jpg"
        );
        let real = std::fs::read(path).expect("fixture");
        let options = DecodeOptions::default();
        let pool = PixelPool::new(0);
        let sos = counted_sos(&real).expect("progressive");
        let scans = count_scans(&real, sos);
        assert!((2..=20).contains(&scans), "{scans} scans");
        // Empty scans (no entropy-coded data) appended before EOI: libjpeg would decode them
        // one by one; past the limit the file is refused first.
        let with_extra = |n: usize| {
            let mut b = real[..real.len() - 2].to_vec();
            for _ in 0..n {
                b.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 63, 0]);
            }
            b.extend([0xFF, 0xD9]);
            b
        };
        let over = with_extra(MAX_JPEG_SCANS + 1 - scans);
        let err = decode(&over, &options, &pool).expect_err("refused");
        assert!(
            err.to_string().contains("JPEG of more than 256 scans"),
            "{err}"
        );
        let at = with_extra(MAX_JPEG_SCANS - scans);
        assert_eq!(count_scans(&at, sos), MAX_JPEG_SCANS);
        if let Err(e) = decode(&at, &options, &pool) {
            assert!(!e.to_string().contains("scans"), "{e}");
        }
    }

    #[test]
    fn cmyk_white_and_black() {
        // Inverted storage: 255 means no ink.
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), vec![255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0]), vec![0, 0, 0]);
    }
}
