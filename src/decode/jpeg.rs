//! JPEG through libjpeg-turbo's decoder (`mozjpeg` crate): ISLOW IDCT, fancy upsampling —
//! Pillow's settings, so pixels match the reference decoder exactly.

use super::{exif, DecodeError, DecodeOptions, DecodedImage, ImageFormat, PixelPool, Result};
use crate::hash::PixelLayout;
use mozjpeg::{Decompress, Format, Marker};

const F: ImageFormat = ImageFormat::Jpeg;

pub(super) fn decode(
    bytes: &[u8],
    options: &DecodeOptions,
    pool: &PixelPool,
) -> Result<DecodedImage> {
    if !has_end_marker(bytes) {
        return Err(DecodeError::Truncated { format: F });
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

/// Whether an end-of-image marker follows the first start-of-scan marker. Entropy-coded data
/// never contains `FF D9` (0xFF bytes are stuffed), so its presence after the scan header means
/// the file was not cut short.
fn has_end_marker(bytes: &[u8]) -> bool {
    let Some(sos) = find_sos(bytes) else {
        return false;
    };
    bytes[sos..].windows(2).rev().any(|w| w == [0xFF, 0xD9])
}

/// Offset of the first SOS marker, walking the segment structure.
fn find_sos(bytes: &[u8]) -> Option<usize> {
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
            0xDA => return Some(pos),
            0xD0..=0xD7 | 0x01 => pos += 2,
            _ => {
                let len = usize::from(u16::from_be_bytes([
                    *bytes.get(pos + 2)?,
                    *bytes.get(pos + 3)?,
                ]));
                if len < 2 {
                    return None;
                }
                pos = pos.checked_add(2 + len)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn cmyk_white_and_black() {
        // Inverted storage: 255 means no ink.
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), vec![255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0]), vec![0, 0, 0]);
    }
}
