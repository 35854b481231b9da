//! PNG, BMP and TIFF through the `image` crate, converted to what Pillow's
//! `convert("RGB")` (or its grey equivalent) would give.

use super::{DecodeError, DecodeOptions, DecodedImage, ImageFormat, PixelPool, Result};
use crate::hash::PixelLayout;
use image::{ColorType, DynamicImage, ImageDecoder, ImageError, ImageReader};
use std::io::Cursor;

pub(super) fn decode(
    bytes: &[u8],
    format: ImageFormat,
    options: &DecodeOptions,
    pool: &PixelPool,
) -> Result<DecodedImage> {
    let fmt = match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Gif => image::ImageFormat::Gif,
        ImageFormat::WebP => image::ImageFormat::WebP,
        ImageFormat::Bmp => image::ImageFormat::Bmp,
        ImageFormat::Tiff => image::ImageFormat::Tiff,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
    };
    let err = |e: ImageError| convert_error(format, e);
    // The size the header gives, checked against the pixel limit before the decoder sees the
    // file: decoders refuse some sizes on their own terms (the `png` crate a row buffer over
    // its memory limit, the `image` crate a BMP side over 65535), which would otherwise read
    // as corruption.
    if let Some((width, height)) = header_size(bytes, format) {
        options.check_size(format, width, height)?;
        if format == ImageFormat::Bmp && width.max(height) > super::bmp_wide::IMAGE_CRATE_MAX_SIDE {
            return super::bmp_wide::decode(bytes, width, height);
        }
    }
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), fmt)
        .into_decoder()
        .map_err(err)?;
    let (width, height) = decoder.dimensions();
    options.check_size(format, width, height)?;
    // The decoder's own allocations stay within the largest legitimate buffer: 16-bit RGBA at
    // the pixel limit, plus slack for row buffers.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(options.max_pixels.saturating_mul(8).saturating_add(1 << 26));
    decoder.set_limits(limits).map_err(err)?;
    let orientation = if options.apply_exif {
        decoder
            .orientation()
            .map(|o| u16::from(o.to_exif()))
            .unwrap_or(1)
    } else {
        1
    };
    let (layout, pixels) = match decoder.color_type() {
        // Read straight into a pooled buffer; RGBA is narrowed to RGB in place.
        ColorType::L8 | ColorType::Rgb8 | ColorType::Rgba8 => {
            let in_bpp = usize::from(decoder.color_type().bytes_per_pixel());
            // The sides passed the pixel limit, so this fits in memory's range.
            let len = width as usize * height as usize * in_bpp;
            if decoder.total_bytes() != len as u64 {
                return Err(DecodeError::Corrupt {
                    format,
                    cause: "the decoder's buffer size disagrees with the image size".to_string(),
                });
            }
            let mut buf = pool.take(len);
            if let Err(e) = decoder.read_image(&mut buf) {
                pool.give(buf);
                return Err(err(e));
            }
            if in_bpp == 4 {
                super::drop_alpha(&mut buf);
            }
            let layout = if in_bpp == 1 {
                PixelLayout::Gray8
            } else {
                PixelLayout::Rgb8
            };
            (layout, buf)
        }
        _ => to_pillow_view(DynamicImage::from_decoder(decoder).map_err(err)?),
    };
    let mut out = DecodedImage {
        width,
        height,
        layout,
        pixels,
        format,
    };
    out.orient(orientation, pool);
    Ok(out)
}

/// The width and height in a PNG's `IHDR` or a BMP's header, when the file is long enough to
/// hold them.
fn header_size(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    match format {
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => {
            let be = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
            Some((be(16)?, be(20)?))
        }
        ImageFormat::Bmp => super::bmp_wide::header_size(bytes),
        _ => None,
    }
}

fn convert_error(format: ImageFormat, e: ImageError) -> DecodeError {
    match e {
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated { format }
        }
        ImageError::Unsupported(u) => DecodeError::Unsupported {
            format,
            cause: u.to_string(),
        },
        // The size was checked against the pixel limit first, so a decoder that still needs
        // more memory than allowed was sent there by the file's contents (a strip or chunk
        // claiming far more data than the image holds).
        ImageError::Limits(l) => DecodeError::Corrupt {
            format,
            cause: format!("it asks for more memory than an image of its size needs ({l})"),
        },
        other => corrupt_or_truncated(format, other.to_string()),
    }
}

/// A decoder's error in its own words: truncated when it reads as running out of data,
/// otherwise corrupt.
pub(super) fn corrupt_or_truncated(format: ImageFormat, cause: String) -> DecodeError {
    let lower = cause.to_ascii_lowercase();
    if lower.contains("eof") || lower.contains("end of file") || lower.contains("unexpected end") {
        DecodeError::Truncated { format }
    } else {
        DecodeError::Corrupt { format, cause }
    }
}

/// Pixels as Pillow presents them: alpha dropped, 16-bit grey clipped, 16-bit colour by high
/// byte, floats scaled and clamped.
fn to_pillow_view(img: DynamicImage) -> (PixelLayout, Vec<u8>) {
    match img {
        DynamicImage::ImageLuma8(b) => (PixelLayout::Gray8, b.into_raw()),
        DynamicImage::ImageLumaA8(b) => (
            PixelLayout::Gray8,
            b.into_raw().chunks_exact(2).map(|p| p[0]).collect(),
        ),
        DynamicImage::ImageRgb8(b) => (PixelLayout::Rgb8, b.into_raw()),
        DynamicImage::ImageRgba8(b) => {
            let mut px = b.into_raw();
            super::drop_alpha(&mut px);
            (PixelLayout::Rgb8, px)
        }
        DynamicImage::ImageLuma16(b) => (
            PixelLayout::Gray8,
            b.into_raw().iter().map(|&v| v.min(255) as u8).collect(),
        ),
        DynamicImage::ImageLumaA16(b) => (
            PixelLayout::Gray8,
            b.into_raw()
                .chunks_exact(2)
                .map(|p| (p[0] >> 8) as u8)
                .collect(),
        ),
        DynamicImage::ImageRgb16(b) => (
            PixelLayout::Rgb8,
            b.into_raw().iter().map(|&v| (v >> 8) as u8).collect(),
        ),
        DynamicImage::ImageRgba16(b) => (
            PixelLayout::Rgb8,
            b.into_raw()
                .chunks_exact(4)
                .flat_map(|p| [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8])
                .collect(),
        ),
        other => (PixelLayout::Rgb8, other.to_rgb8().into_raw()),
    }
}
