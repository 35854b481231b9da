//! Palette TIFFs (`PhotometricInterpretation` = RGBPalette, 8 bits per sample), which the `tiff`
//! crate does not decode: the file is decoded as 8-bit grey, which leaves the palette indices
//! as they are, and each index is then looked up in the `ColorMap`, keeping the high byte of
//! its 16-bit entries as Pillow does.

use super::{DecodeError, DecodeOptions, DecodedImage, ImageFormat, Result};
use crate::hash::PixelLayout;

const PHOTOMETRIC: u16 = 262;
const BITS_PER_SAMPLE: u16 = 258;
const COLOR_MAP: u16 = 320;
const SHORT: u16 = 3;
const PALETTE: u16 = 3;
const BLACK_IS_ZERO: u16 = 1;

/// The first IFD's entries of a classic (not Big) TIFF, in the file's byte order.
struct Ifd<'a> {
    bytes: &'a [u8],
    big_endian: bool,
    entries: usize,
    count: usize,
}

impl<'a> Ifd<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let big_endian = match bytes.get(..4)? {
            b"II*\0" => false,
            b"MM\0*" => true,
            _ => return None,
        };
        let mut ifd = Ifd {
            bytes,
            big_endian,
            entries: 0,
            count: 0,
        };
        let at = ifd.u32(4)? as usize;
        ifd.count = usize::from(ifd.u16(at)?);
        ifd.entries = at + 2;
        Some(ifd)
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// Offset of the entry for `tag`, with its type and count.
    fn find(&self, tag: u16) -> Option<(usize, u16, u32)> {
        (0..self.count).find_map(|i| {
            let e = self.entries + 12 * i;
            (self.u16(e)? == tag).then_some((e, self.u16(e + 2)?, self.u32(e + 4)?))
        })
    }

    /// A one-value SHORT entry's value.
    fn short(&self, tag: u16) -> Option<u16> {
        match self.find(tag)? {
            (e, SHORT, 1) => self.u16(e + 8),
            _ => None,
        }
    }
}

/// Decodes `bytes` if it is a palette TIFF; `None` for any other TIFF.
pub(super) fn decode(bytes: &[u8], options: &DecodeOptions) -> Option<Result<DecodedImage>> {
    let ifd = Ifd::parse(bytes)?;
    let (photometric_at, ..) = ifd.find(PHOTOMETRIC)?;
    if ifd.short(PHOTOMETRIC)? != PALETTE {
        return None;
    }
    let unsupported = |cause: &str| {
        Some(Err(DecodeError::Unsupported {
            format: ImageFormat::Tiff,
            cause: cause.into(),
        }))
    };
    if ifd.short(BITS_PER_SAMPLE) != Some(8) {
        return unsupported("palette images of other than 8 bits per sample");
    }
    let map = match ifd.find(COLOR_MAP) {
        Some((e, SHORT, 768)) => ifd.u32(e + 8).map(|at| at as usize),
        _ => None,
    };
    let Some(map) = map.filter(|&at| at.checked_add(1536).is_some_and(|end| end <= bytes.len()))
    else {
        return Some(Err(DecodeError::Corrupt {
            format: ImageFormat::Tiff,
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
    let value = photometric_at + 8;
    let patched = if ifd.big_endian {
        BLACK_IS_ZERO.to_be_bytes()
    } else {
        BLACK_IS_ZERO.to_le_bytes()
    };
    grey[value..value + 2].copy_from_slice(&patched);
    Some(
        super::other::decode(&grey, ImageFormat::Tiff, options).and_then(|indices| {
            if indices.layout != PixelLayout::Gray8 {
                return Err(DecodeError::Unsupported {
                    format: ImageFormat::Tiff,
                    cause: "palette image with more than one sample per pixel".into(),
                });
            }
            let mut pixels = Vec::with_capacity(indices.pixels.len() * 3);
            for &i in &indices.pixels {
                pixels.extend_from_slice(&rgb[usize::from(i)]);
            }
            Ok(DecodedImage {
                layout: PixelLayout::Rgb8,
                pixels,
                ..indices
            })
        }),
    )
}
