//! Palette TIFFs (`PhotometricInterpretation` = RGBPalette, 8 bits per sample), which the `tiff`
//! crate does not decode: the file is decoded as 8-bit grey, which leaves the palette indices
//! as they are, and each index is then looked up in the `ColorMap`, keeping the high byte of
//! its 16-bit entries as Pillow does.

use super::tiff_ifd::Ifd;
use super::{expand_palette, DecodeError, DecodeOptions, DecodedImage, ImageFormat, Result};
use crate::hash::PixelLayout;

const PHOTOMETRIC: u16 = 262;
const BITS_PER_SAMPLE: u16 = 258;
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
pub(super) fn decode(bytes: &[u8], options: &DecodeOptions) -> Option<Result<DecodedImage>> {
    let ifd = Ifd::parse(bytes)?;
    let (photometric_at, PALETTE) = short(&ifd, PHOTOMETRIC)? else {
        return None;
    };
    if short(&ifd, BITS_PER_SAMPLE).map(|(_, bits)| bits) != Some(8) {
        return Some(Err(DecodeError::Unsupported {
            format: F,
            cause: "palette images of other than 8 bits per sample".into(),
        }));
    }
    let map = match ifd.find(COLOR_MAP) {
        Some((e, SHORT, 768)) => ifd.u32(e + 8).map(|at| at as usize),
        _ => None,
    };
    let Some(map) = map.filter(|&at| at.checked_add(1536).is_some_and(|end| end <= bytes.len()))
    else {
        return Some(Err(DecodeError::Corrupt {
            format: F,
            cause: "a palette image without a colour map of 256 entries".into(),
        }));
    };
    let mut rgb = [[0u8; 3]; 256];
    for (i, entry) in rgb.iter_mut().enumerate() {
        for (c, channel) in entry.iter_mut().enumerate() {
            // 16-bit entries, all reds, then all greens, then all blues.
            *channel = (ifd.u16(map + 2 * (256 * c + i))? >> 8) as u8;
        }
    }
    // The same file read as 8-bit grey gives the indices.
    let mut grey = bytes.to_vec();
    let patched = if ifd.big_endian {
        BLACK_IS_ZERO.to_be_bytes()
    } else {
        BLACK_IS_ZERO.to_le_bytes()
    };
    grey[photometric_at..photometric_at + 2].copy_from_slice(&patched);
    Some(super::other::decode(&grey, F, options).and_then(|indices| {
        if indices.layout != PixelLayout::Gray8 {
            return Err(DecodeError::Unsupported {
                format: F,
                cause: "palette image with more than one sample per pixel".into(),
            });
        }
        Ok(DecodedImage {
            layout: PixelLayout::Rgb8,
            pixels: expand_palette(&indices.pixels, &rgb),
            ..indices
        })
    }))
}
