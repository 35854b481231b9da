//! Palette TIFFs (`PhotometricInterpretation` = RGBPalette, 1, 2, 4 or 8 bits per index), which
//! neither the `image` crate nor the `tiff` crate decodes. The file is read by the `tiff` crate
//! as grey of the same depth, which leaves the indices as they are, packed high bits first in
//! rows of whole bytes; each index is then looked up in the `ColorMap`, keeping the high byte
//! of its 16-bit entries as Pillow does.

use super::tiff_ifd::Ifd;
use super::{
    expand_palette, DecodeError, DecodeOptions, DecodedImage, ImageFormat, PixelPool, Result,
};
use crate::hash::PixelLayout;
use std::io::Cursor;
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::{ColorType, TiffError};

const PHOTOMETRIC: u16 = 262;
const BITS_PER_SAMPLE: u16 = 258;
const ORIENTATION: u16 = 274;
const COLOR_MAP: u16 = 320;
const SHORT: u16 = 3;
const PALETTE: u16 = 3;
const BLACK_IS_ZERO: u16 = 1;
const F: ImageFormat = ImageFormat::Tiff;

/// Offset of the value of `tag` when it is a single SHORT, and the value.
fn short(ifd: &Ifd<'_>, tag: u16) -> Option<(usize, u16)> {
    match ifd.find(tag)? {
        (e, SHORT, 1) => Some((e + 8, ifd.u16(e + 8)?)),
        _ => None,
    }
}

/// Decodes `bytes` if it is a palette TIFF; `None` for any other TIFF.
pub(super) fn decode(
    bytes: &[u8],
    options: &DecodeOptions,
    pool: &PixelPool,
) -> Option<Result<DecodedImage>> {
    let ifd = Ifd::parse(bytes)?;
    let (photometric_at, PALETTE) = short(&ifd, PHOTOMETRIC)? else {
        return None;
    };
    // Absent, BitsPerSample is 1.
    let bits = match ifd
        .find(BITS_PER_SAMPLE)
        .map(|_| short(&ifd, BITS_PER_SAMPLE))
    {
        None => 1,
        Some(Some((_, bits @ (1 | 2 | 4 | 8)))) => bits as u8,
        _ => {
            return Some(Err(DecodeError::Unsupported {
                format: F,
                cause: "palette images of other than 1, 2, 4 or 8 bits per sample".into(),
            }))
        }
    };
    let colours = 1usize << bits;
    // All in the file, or none.
    let map = match ifd.find(COLOR_MAP) {
        Some((_, SHORT, count)) if count as usize == 3 * colours => ifd.values(COLOR_MAP),
        _ => None,
    };
    let Some(map) = map else {
        return Some(Err(DecodeError::Corrupt {
            format: F,
            cause: format!("a palette image without a colour map of {colours} entries"),
        }));
    };
    let mut rgb = [[0u8; 3]; 256];
    for (i, entry) in rgb.iter_mut().take(colours).enumerate() {
        for (c, channel) in entry.iter_mut().enumerate() {
            // 16-bit entries, all reds, then all greens, then all blues.
            *channel = (map[colours * c + i] >> 8) as u8;
        }
    }
    let orientation = if options.apply_exif {
        short(&ifd, ORIENTATION).map_or(1, |(_, o)| o)
    } else {
        1
    };
    // The same file read as grey gives the indices.
    let mut grey = bytes.to_vec();
    grey[photometric_at..photometric_at + 2].copy_from_slice(&ifd.u16_bytes(BLACK_IS_ZERO));
    Some(
        indices(&grey, bits, options).map(|(width, height, indices)| {
            let mut image = DecodedImage {
                width,
                height,
                layout: PixelLayout::Rgb8,
                pixels: expand_palette(&indices, &rgb),
                format: F,
            };
            image.orient(orientation, pool);
            image
        }),
    )
}

/// Width, height and one byte per palette index of `grey`, a palette TIFF relabelled as grey.
fn indices(grey: &[u8], bits: u8, options: &DecodeOptions) -> Result<(u32, u32, Vec<u8>)> {
    let mut decoder = Decoder::new(Cursor::new(grey)).map_err(convert_error)?;
    let (width, height) = decoder.dimensions().map_err(convert_error)?;
    options.check_size(F, width, height)?;
    // One byte per index at most, plus slack for the compressed strips read on the way.
    let budget = usize::try_from(options.max_pixels)
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 26);
    let mut limits = Limits::default();
    limits.decoding_buffer_size = budget;
    limits.intermediate_buffer_size = budget;
    decoder = decoder.with_limits(limits);
    if decoder.colortype().map_err(convert_error)? != ColorType::Gray(bits) {
        return Err(DecodeError::Unsupported {
            format: F,
            cause: "palette image with more than one sample per pixel".into(),
        });
    }
    let DecodingResult::U8(packed) = decoder.read_image().map_err(convert_error)? else {
        return Err(DecodeError::Unsupported {
            format: F,
            cause: "palette image of signed or floating-point indices".into(),
        });
    };
    let (w, h) = (width as usize, height as usize);
    let bits = usize::from(bits);
    let row_bytes = (w * bits).div_ceil(8);
    if packed.len() < row_bytes * h {
        return Err(DecodeError::Truncated { format: F });
    }
    if bits == 8 {
        let mut packed = packed;
        packed.truncate(w * h);
        return Ok((width, height, packed));
    }
    let mask = (1u8 << bits) - 1;
    let mut out = Vec::with_capacity(w * h);
    for row in packed.chunks_exact(row_bytes).take(h) {
        out.extend((0..w).map(|x| {
            let bit = x * bits;
            (row[bit / 8] >> (8 - bits - bit % 8)) & mask
        }));
    }
    Ok((width, height, out))
}

fn convert_error(e: TiffError) -> DecodeError {
    match e {
        TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated { format: F }
        }
        TiffError::UnsupportedError(u) => DecodeError::Unsupported {
            format: F,
            cause: u.to_string(),
        },
        TiffError::LimitsExceeded => DecodeError::Corrupt {
            format: F,
            cause: "it asks for more memory than an image of its size needs".into(),
        },
        other => super::other::corrupt_or_truncated(F, other.to_string()),
    }
}
