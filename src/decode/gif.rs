//! GIF through the `gif` crate's indexed output, composed the way Pillow composes the first
//! frame before `convert("RGB")`:
//!
//! * the canvas is the logical screen, enlarged to take in a first frame that reaches past it;
//! * pixels the frame does not cover hold the frame's transparent index if it has one, else
//!   index 0 — not the background colour, and not black;
//! * every index goes through the frame's palette (local, else global), transparent ones
//!   included; an index past the palette's end is black.
//!
//! A GIF with no colour table at all, which Pillow reads as greyscale (each index its own grey
//! level), is given a grey ramp as its global table first: the `gif` crate refuses a frame
//! without one.

use super::{expand_palette, DecodeError, DecodeOptions, DecodedImage, ImageFormat, Result};
use crate::hash::PixelLayout;
use std::io::Cursor;
use std::num::NonZeroU64;

const F: ImageFormat = ImageFormat::Gif;

fn convert_error(e: gif::DecodingError) -> DecodeError {
    match e {
        gif::DecodingError::UnexpectedEof => DecodeError::Truncated { format: F },
        gif::DecodingError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated { format: F }
        }
        other => DecodeError::Corrupt {
            format: F,
            cause: other.to_string(),
        },
    }
}

/// A GIF colour table (RGB triples) as 256 entries; those past its end are black.
fn colour_table(palette: &[u8]) -> [[u8; 3]; 256] {
    let mut rgb = [[0u8; 3]; 256];
    for (entry, colour) in rgb.iter_mut().zip(palette.chunks_exact(3)) {
        entry.copy_from_slice(colour);
    }
    rgb
}

/// `bytes` with a 256-entry grey ramp as global colour table, when neither the header nor the
/// first image descriptor has a table; `None` otherwise (or when the blocks before the first
/// image cannot be walked, which the decoder will then report).
fn with_grey_table(bytes: &[u8]) -> Option<Vec<u8>> {
    const HEADER: usize = 13;
    let packed = *bytes.get(10)?;
    if packed & 0x80 != 0 {
        return None;
    }
    let mut at = HEADER;
    loop {
        match *bytes.get(at)? {
            // Extension: label, then sub-blocks up to an empty one.
            0x21 => {
                at += 2;
                loop {
                    let len = usize::from(*bytes.get(at)?);
                    at += 1 + len;
                    if len == 0 {
                        break;
                    }
                }
            }
            // Image descriptor: its packed byte is the tenth.
            0x2C => {
                if *bytes.get(at + 9)? & 0x80 != 0 {
                    return None;
                }
                break;
            }
            _ => return None,
        }
    }
    let mut out = Vec::with_capacity(bytes.len() + 768);
    out.extend_from_slice(&bytes[..10]);
    out.push(packed | 0x87); // a global table of 2^(7 + 1) entries
    out.extend_from_slice(&bytes[11..HEADER]);
    out.extend((0..=255u8).flat_map(|v| [v, v, v]));
    out.extend_from_slice(&bytes[HEADER..]);
    Some(out)
}

pub(super) fn decode(bytes: &[u8], options: &DecodeOptions) -> Result<DecodedImage> {
    let patched = with_grey_table(bytes);
    let bytes = patched.as_deref().unwrap_or(bytes);
    let mut gif_options = gif::DecodeOptions::new();
    gif_options.set_color_output(gif::ColorOutput::Indexed);
    // One byte per pixel of the frame, which the size check below keeps within the limit.
    if let Some(limit) = NonZeroU64::new(options.max_pixels) {
        gif_options.set_memory_limit(gif::MemoryLimit::Bytes(limit));
    }
    let mut decoder = gif_options
        .read_info(Cursor::new(bytes))
        .map_err(convert_error)?;
    // The screen alone may already be over the limit. (A zero-sized screen is not an error
    // here: the frame can still give the image its size.)
    let (screen_w, screen_h) = (u32::from(decoder.width()), u32::from(decoder.height()));
    if screen_w > 0 && screen_h > 0 {
        options.check_size(F, screen_w, screen_h)?;
    }
    let frame = decoder
        .next_frame_info()
        .map_err(convert_error)?
        .ok_or_else(|| DecodeError::Corrupt {
            format: F,
            cause: "no image in the file".into(),
        })?;
    let (left, top) = (u32::from(frame.left), u32::from(frame.top));
    let (frame_w, frame_h) = (u32::from(frame.width), u32::from(frame.height));
    let width = screen_w.max(left + frame_w);
    let height = screen_h.max(top + frame_h);
    options.check_size(F, width, height)?;
    let fill = frame.transparent.unwrap_or(0);
    let rgb = match &frame.palette {
        Some(local) => colour_table(local),
        None => colour_table(decoder.global_palette().unwrap_or_default()),
    };
    let mut indices = vec![0u8; decoder.buffer_size()];
    decoder
        .read_into_buffer(&mut indices)
        .map_err(convert_error)?;

    let canvas = if (frame_w, frame_h) == (width, height) {
        // The frame covers the canvas (the common case): its indices are the canvas.
        indices
    } else {
        let (w, fw) = (width as usize, frame_w as usize);
        let mut canvas = vec![fill; w * height as usize];
        if fw > 0 {
            for (r, row) in indices.chunks_exact(fw).enumerate() {
                let at = (top as usize + r) * w + left as usize;
                canvas[at..at + fw].copy_from_slice(row);
            }
        }
        canvas
    };
    Ok(DecodedImage {
        width,
        height,
        layout: PixelLayout::Rgb8,
        pixels: expand_palette(&canvas, &rgb),
        format: F,
    })
}
