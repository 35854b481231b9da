//! JPEG through libjpeg-turbo's decoder (`mozjpeg` crate): ISLOW IDCT, fancy upsampling —
//! Pillow's settings, so pixels match the reference decoder exactly.

use super::{exif, DecodeError, DecodeOptions, DecodedImage, ImageFormat, PixelPool, Result};
use crate::hash::PixelLayout;
use mozjpeg::{Decompress, Format, Marker};

const F: ImageFormat = ImageFormat::Jpeg;

/// Most scans a JPEG may have, of any kind. Encoders write about 10 (libjpeg's default
/// progression) and rarely more than a few dozen; a sequential (baseline) JPEG codes each
/// component in one scan, so it has at most 4. Yet each scan costs libjpeg a pass over the
/// coefficients of the whole image, which a few bytes can describe (a run of empty blocks,
/// arithmetic coding, or a sequential scan with no data at all, which libjpeg accepts with a
/// warning): a crafted file of a few MB with 100,000 empty scans holds a core for minutes
/// (2,000 scans cost a 12 MP image 4 s, and a 20 KB baseline file of 11000×11000 with 2,000
/// empty scans 40 s and 1.1 GB). NVIDIA's nvImageCodec applies the same limit to
/// libjpeg-turbo for that reason.
pub const MAX_JPEG_SCANS: usize = 256;

/// Most coefficient passes a JPEG may cost: its scans times its pixels, counted from the
/// headers before libjpeg runs (2³³ ≈ 8.6 G pixel-scans). At the measured 0.17 ns per pixel of
/// an empty scan (2,000 scans of 121 MP in 40 s) that bounds a file's scans at about 1.5 s of
/// one core, while a 128 MP photo (the default pixel limit) may still have 64 scans and a
/// 12 MP one the full [`MAX_JPEG_SCANS`].
pub const MAX_JPEG_SCAN_PIXELS: u64 = 1 << 33;

pub(super) fn decode(
    bytes: &[u8],
    options: &DecodeOptions,
    pool: &PixelPool,
) -> Result<DecodedImage> {
    decode_at(bytes, options, pool, None)
}

/// [`decode`], at the scale `numerator`/8 when given, else at the one `options` asks for.
pub(super) fn decode_at(
    bytes: &[u8],
    options: &DecodeOptions,
    pool: &PixelPool,
    numerator: Option<u8>,
) -> Result<DecodedImage> {
    // The segments before the first scan, walked once.
    let Some(frame) = find_sos(bytes).filter(|f| end_marker_after(bytes, f.sos)) else {
        return Err(DecodeError::Truncated { format: F });
    };
    // Every scan is a pass over the whole image: bound their number, and their number times
    // the pixels, before libjpeg makes any pass.
    let pixels = u64::from(frame.width) * u64::from(frame.height);
    let max_scans = usize::try_from(MAX_JPEG_SCAN_PIXELS / pixels.max(1))
        .unwrap_or(usize::MAX)
        .min(MAX_JPEG_SCANS);
    let num_scans = count_scans(bytes, frame.sos, max_scans);
    if num_scans > max_scans {
        return Err(DecodeError::TooManyScans {
            format: F,
            width: frame.width,
            height: frame.height,
            num_scans,
            max_scans,
        });
    }
    // libjpeg reports fatal errors by unwinding out of its error handler (the mozjpeg crate's
    // error manager raises them with `resume_unwind`, so no panic hook runs); turn them back
    // into values here.
    super::guarded(F, || decode_inner(bytes, options, pool, numerator))
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

fn decode_inner(
    bytes: &[u8],
    options: &DecodeOptions,
    pool: &PixelPool,
    numerator: Option<u8>,
) -> Result<DecodedImage> {
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
    let n = numerator.unwrap_or_else(|| {
        options.jpeg_min_side.map_or(8, |min_side| {
            super::fast_jpeg_numerator(width, height, min_side)
        })
    });
    if (1..8).contains(&n) {
        d.scale(n);
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
/// counting at most one past `max`. As libjpeg reads them: segments are walked by
/// their lengths, entropy-coded data is skipped up to the next byte 0xFF that starts a marker
/// (not a stuffed `FF 00`, a restart marker or a fill byte), and bytes that are not a marker
/// where one should be are passed over.
fn count_scans(bytes: &[u8], mut pos: usize, max: usize) -> usize {
    let mut scans = 0;
    while scans <= max {
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

/// Where the first scan starts, and the image size the frame header before it gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frame {
    /// Offset of the first SOS marker.
    sos: usize,
    /// Width from the last frame header (SOFn) before it; 0 without one.
    width: u32,
    /// Height likewise (0 there means "defined by the DNL marker", which libjpeg refuses).
    height: u32,
}

/// The first SOS marker and the frame size, walking the segment structure.
fn find_sos(bytes: &[u8]) -> Option<Frame> {
    let (mut width, mut height) = (0, 0);
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
            0xDA => {
                return Some(Frame {
                    sos: pos,
                    width,
                    height,
                })
            }
            0xD0..=0xD7 | 0x01 => pos += 2,
            _ => {
                // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
                if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
                    let be16 = |at: usize| -> Option<u32> {
                        Some(u32::from(u16::from_be_bytes([
                            *bytes.get(at)?,
                            *bytes.get(at + 1)?,
                        ])))
                    };
                    height = be16(pos + 5)?;
                    width = be16(pos + 7)?;
                }
                pos = pos.checked_add(2 + segment_len(bytes, pos)?)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_end_marker(bytes: &[u8]) -> bool {
        find_sos(bytes).is_some_and(|f| end_marker_after(bytes, f.sos))
    }

    /// The first scan's offset.
    fn first_sos(bytes: &[u8]) -> Option<usize> {
        find_sos(bytes).map(|f| f.sos)
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
            let sos = first_sos(&b).expect("progressive");
            assert_eq!(count_scans(&b, sos, MAX_JPEG_SCANS), scans);
        }
        let over = progressive_with_scans(MAX_JPEG_SCANS + 50);
        assert_eq!(
            count_scans(&over, 6, MAX_JPEG_SCANS),
            MAX_JPEG_SCANS + 1,
            "stops one past the limit"
        );
        assert_eq!(count_scans(&over, 6, 7), 8);
        // Every cut of the file ends the count cleanly.
        let b = progressive_with_scans(5);
        for cut in 0..b.len() {
            assert!(count_scans(&b[..cut], 6, MAX_JPEG_SCANS) <= 5);
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
        let sos = first_sos(&real).expect("progressive");
        let scans = count_scans(&real, sos, MAX_JPEG_SCANS);
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
            matches!(
                err,
                DecodeError::TooManyScans {
                    num_scans: 257,
                    max_scans: 256,
                    ..
                }
            ),
            "{err}"
        );
        let at = with_extra(MAX_JPEG_SCANS - scans);
        assert_eq!(count_scans(&at, sos, MAX_JPEG_SCANS), MAX_JPEG_SCANS);
        if let Err(e) = decode(&at, &options, &pool) {
            assert!(!e.to_string().contains("scans"), "{e}");
        }
    }

    /// A baseline JPEG of `width × height` with three components coded in separate scans,
    /// followed by `extra` empty scans of the first component (no entropy-coded data at all:
    /// libjpeg warns and makes a pass over the image for each).
    fn baseline_with_empty_scans(width: u16, height: u16, extra: usize) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        // DQT: table 0, all ones.
        b.extend([0xFF, 0xDB, 0, 67, 0]);
        b.extend([1u8; 64]);
        // SOF0: 8-bit, height, width, 3 components sampled 1×1 with table 0.
        b.extend([0xFF, 0xC0, 0, 17, 8]);
        b.extend(height.to_be_bytes());
        b.extend(width.to_be_bytes());
        b.push(3);
        for id in 1..=3 {
            b.extend([id, 0x11, 0]);
        }
        // DHT: DC table 0 and AC table 0, one one-bit code each (for 0, and for EOB).
        for class in [0x00, 0x10] {
            b.extend([0xFF, 0xC4, 0, 20, class, 1]);
            b.extend([0u8; 15]);
            b.push(0);
        }
        let scan = |b: &mut Vec<u8>, component: u8| {
            b.extend([0xFF, 0xDA, 0, 8, 1, component, 0x00, 0, 63, 0]);
        };
        for c in 1..=3 {
            scan(&mut b, c);
        }
        for _ in 0..extra {
            scan(&mut b, 1);
        }
        b.extend([0xFF, 0xD9]);
        b
    }

    #[test]
    fn a_baseline_jpeg_whose_empty_scans_would_cost_too_many_passes_is_refused_at_once() {
        // 8000×8000 with 300 empty scans: 19 G pixel-scans, about 4 s of libjpeg's time (the
        // limit allows 134 scans at this size); 20 KB on disk.
        let hostile = baseline_with_empty_scans(8000, 8000, 300);
        assert!(hostile.len() < 20_000);
        let options = DecodeOptions::default();
        let err = match decode(&hostile, &options, &PixelPool::new(0)) {
            Err(e) => e,
            Ok(img) => panic!("decoded {}x{}", img.width, img.height),
        };
        match err {
            DecodeError::TooManyScans {
                width: 8000,
                height: 8000,
                num_scans,
                max_scans,
                ..
            } => {
                assert_eq!(max_scans, 134);
                assert_eq!(num_scans, 135, "counting stops one past the limit");
            }
            other => panic!("expected TooManyScans, got {other}"),
        }
        assert!(err_text(&hostile).contains("scans"));
        // The same file with its legitimate three scans is not refused for its scans.
        let fine = baseline_with_empty_scans(64, 64, 0);
        assert!(!matches!(
            decode(&fine, &options, &PixelPool::new(0)),
            Err(DecodeError::TooManyScans { .. })
        ));
    }

    fn err_text(bytes: &[u8]) -> String {
        decode(bytes, &DecodeOptions::default(), &PixelPool::new(0))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn cmyk_white_and_black() {
        // Inverted storage: 255 means no ink.
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), vec![255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0]), vec![0, 0, 0]);
    }
}
