//! BMPs wider or taller than 65535 pixels, which the `image` crate's decoder refuses whatever
//! the pixel limit: uncompressed (`BI_RGB`) 8-bit palette, 24-bit and 32-bit images, read as
//! Pillow reads them (BGR, BGRX with the fourth byte ignored, palette entries BGRX).
//! Other kinds of such a size are [`DecodeError::Unsupported`], saying so.

use super::{DecodeError, DecodedImage, ImageFormat, Result};
use crate::hash::PixelLayout;

const F: ImageFormat = ImageFormat::Bmp;

/// The largest side the `image` crate's BMP decoder accepts.
pub(super) const IMAGE_CRATE_MAX_SIDE: u32 = 0xFFFF;

/// The width and height a BMP header gives (the height's sign only says the row order), or
/// `None` when the header is too short to say.
pub(super) fn header_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let header_len = u32_at(bytes, 14)?;
    if header_len == 12 {
        let w = u16::from_le_bytes(bytes.get(18..20)?.try_into().ok()?);
        let h = u16::from_le_bytes(bytes.get(20..22)?.try_into().ok()?);
        return Some((u32::from(w), u32::from(h)));
    }
    let w = i32::from_le_bytes(bytes.get(18..22)?.try_into().ok()?);
    let h = i32::from_le_bytes(bytes.get(22..26)?.try_into().ok()?);
    Some((w.unsigned_abs(), h.unsigned_abs()))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// Decodes a BMP of `width × height` (from [`header_size`], already within the pixel limit).
pub(super) fn decode(bytes: &[u8], width: u32, height: u32) -> Result<DecodedImage> {
    let truncated = || DecodeError::Truncated { format: F };
    let unsupported = |what: String| DecodeError::Unsupported {
        format: F,
        cause: format!(
            "{what} in a BMP of {width}x{height}: past 65535 pixels a side only uncompressed \
             8-, 24- and 32-bit BMPs are read"
        ),
    };
    let header_len = u32_at(bytes, 14).ok_or_else(truncated)?;
    if header_len < 40 {
        return Err(unsupported(format!("a {header_len}-byte header")));
    }
    if u32_at(bytes, 18).ok_or_else(truncated)? >> 31 == 1 {
        return Err(DecodeError::Corrupt {
            format: F,
            cause: "negative width".into(),
        });
    }
    // A negative height means rows run top to bottom.
    let top_down = u32_at(bytes, 22).ok_or_else(truncated)? >> 31 == 1;
    let bits = u16_at(bytes, 28).ok_or_else(truncated)?;
    let compression = u32_at(bytes, 30).ok_or_else(truncated)?;
    if compression != 0 {
        return Err(unsupported(format!("compression {compression}")));
    }
    if !matches!(bits, 8 | 24 | 32) {
        return Err(unsupported(format!("{bits} bits per pixel")));
    }
    let data_at = u32_at(bytes, 10).ok_or_else(truncated)? as usize;
    let (w, h) = (width as usize, height as usize);
    // Rows are padded to four bytes; sizes fit, the sides having passed the pixel limit.
    let stride = (w * usize::from(bits)).div_ceil(32) * 4;
    let data = bytes
        .get(data_at..)
        .filter(|d| d.len() / stride >= h)
        .ok_or_else(truncated)?;
    let palette: Vec<[u8; 3]> = if bits == 8 {
        let num_colours = match u32_at(bytes, 46).ok_or_else(truncated)? {
            0 => 256,
            n => n.min(256) as usize,
        };
        let at = 14 + header_len as usize;
        let table = bytes.get(at..at + 4 * num_colours).ok_or_else(truncated)?;
        table.chunks_exact(4).map(|c| [c[2], c[1], c[0]]).collect()
    } else {
        Vec::new()
    };
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = if top_down { y } else { h - 1 - y };
        let src = &data[row * stride..row * stride + stride];
        match bits {
            24 => pixels.extend(
                src[..w * 3]
                    .chunks_exact(3)
                    .flat_map(|p| [p[2], p[1], p[0]]),
            ),
            32 => pixels.extend(
                src[..w * 4]
                    .chunks_exact(4)
                    .flat_map(|p| [p[2], p[1], p[0]]),
            ),
            _ => {
                for &i in &src[..w] {
                    // An index past the palette reads as black, as Pillow's does.
                    pixels.extend(palette.get(usize::from(i)).copied().unwrap_or([0, 0, 0]));
                }
            }
        }
    }
    Ok(DecodedImage {
        width,
        height,
        layout: PixelLayout::Rgb8,
        pixels,
        format: F,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode as decode_any, DecodeOptions, PixelPool};

    /// An uncompressed BMP (BITMAPINFOHEADER) of `width × height` at `bits` per pixel, rows
    /// top-down when `top_down`, pixel `(x, y)` from `colour` (an index for 8 bits, whose
    /// palette maps `i` to `(i, 255 - i, i / 2)`).
    pub(crate) fn bmp(
        width: u32,
        height: u32,
        bits: u16,
        top_down: bool,
        colour: impl Fn(u32, u32) -> [u8; 3],
    ) -> Vec<u8> {
        let stride = (width as usize * usize::from(bits)).div_ceil(32) * 4;
        let palette_len = if bits == 8 { 256 * 4 } else { 0 };
        let data_at = 14 + 40 + palette_len;
        let mut b = Vec::with_capacity(data_at + stride * height as usize);
        b.extend(b"BM");
        b.extend(((data_at + stride * height as usize) as u32).to_le_bytes());
        b.extend([0; 4]);
        b.extend((data_at as u32).to_le_bytes());
        b.extend(40u32.to_le_bytes());
        b.extend((width as i32).to_le_bytes());
        let h = height as i32;
        b.extend((if top_down { -h } else { h }).to_le_bytes());
        b.extend(1u16.to_le_bytes());
        b.extend(bits.to_le_bytes());
        b.extend([0u8; 24]); // BI_RGB, sizes, resolution, 0 colours (all 256), 0 important
        if bits == 8 {
            for i in 0..=255u8 {
                b.extend([i / 2, 255 - i, i, 0]); // BGRX
            }
        }
        for row in 0..height {
            let y = if top_down { row } else { height - 1 - row };
            let start = b.len();
            for x in 0..width {
                let [r, g, bl] = colour(x, y);
                match bits {
                    8 => b.push(r),
                    24 => b.extend([bl, g, r]),
                    _ => b.extend([bl, g, r, 0x77]),
                }
            }
            b.resize(start + stride, 0);
        }
        b
    }

    fn pattern(x: u32, y: u32) -> [u8; 3] {
        [
            (x % 251) as u8,
            (y * 40 + x % 7) as u8,
            ((x / 3) % 256) as u8,
        ]
    }

    #[test]
    fn reads_what_the_image_crate_reads_for_each_depth_and_row_order() {
        for bits in [8, 24, 32] {
            for top_down in [false, true] {
                let file = bmp(301, 5, bits, top_down, pattern);
                let reference = decode_any(&file, &DecodeOptions::default()).expect("image crate");
                let (w, h) = header_size(&file).expect("size");
                let ours = decode(&file, w, h).expect("wide path");
                assert_eq!((ours.width, ours.height), (301, 5));
                assert_eq!(ours.layout, reference.layout, "{bits} bits");
                assert!(
                    ours.pixels == reference.pixels,
                    "{bits} bits, top-down {top_down}"
                );
            }
        }
    }

    #[test]
    fn a_valid_bmp_wider_than_65535_decodes_within_the_pixel_limit() {
        let file = bmp(100_000, 2, 24, false, pattern);
        let img = decode_any(&file, &DecodeOptions::default()).expect("decoded");
        assert_eq!((img.width, img.height), (100_000, 2));
        assert_eq!(&img.pixels[..3], &pattern(0, 0));
        let at = (100_000 + 99_999) * 3;
        assert_eq!(&img.pixels[at..at + 3], &pattern(99_999, 1));
        // Over the pixel limit it is that, and not corruption.
        let small = DecodeOptions {
            max_pixels: 150_000,
            ..DecodeOptions::default()
        };
        assert!(matches!(
            crate::decode::decode_pooled(&file, &small, &PixelPool::new(0)),
            Err(DecodeError::TooLarge {
                width: 100_000,
                height: 2,
                ..
            })
        ));
        // Cut short, it is truncated; compressed, unsupported, naming why.
        assert!(matches!(
            decode_any(&file[..file.len() - 10], &DecodeOptions::default()),
            Err(DecodeError::Truncated { .. })
        ));
        let mut rle = file.clone();
        rle[30] = 1;
        match decode_any(&rle, &DecodeOptions::default()) {
            Err(DecodeError::Unsupported { cause, .. }) => {
                assert!(cause.contains("65535"), "{cause}")
            }
            other => panic!("{:?}", other.map(|i| i.width)),
        }
    }
}
