//! WebP — lossy, lossless, with or without alpha, still or animated — through libwebp, the
//! decoder Pillow itself uses (the `libwebp-sys` crate builds it from source with the C
//! compiler, as `mozjpeg` builds libjpeg-turbo). Animations go through libwebp's animation
//! decoder, as in Pillow, so their first frame is composed exactly as Pillow composes it.
//!
//! libwebp decodes lossy files two to three times as fast as `image-webp` (BENCHMARKS.md, CPU
//! hashing) with the same pixels; `image-webp` also blends an animation's first frame onto
//! the canvas where libwebp copies it (`tests/data/pillow/webp_animated_offset.webp`). libwebp's
//! own allocations are sized from the header, which has been checked against the pixel limit
//! before it decodes.
//!
//! The calls into libwebp are this module's only `unsafe` code, each block with a `// SAFETY:`
//! comment giving its invariants: the input as a pointer and length, and an output buffer owned
//! by the caller or the decoder; the crate docs (`lib.rs`, *Unsafe code*) list every module
//! with `unsafe` code. The benchmark dataset's WebP edit encodes through libwebp here too
//! ([`encode_lossy`]).

#![allow(unsafe_code)]

use super::{exif, DecodeError, DecodeOptions, DecodedImage, ImageFormat, PixelPool, Result};
use crate::hash::PixelLayout;
use libwebp_sys as webp;
use webp::VP8StatusCode as Status;

const FORMAT: ImageFormat = ImageFormat::WebP;

/// The first frame of a WebP as RGB (alpha dropped, as Pillow's `convert("RGB")`): a still
/// image decoded directly, an animated one composed on its canvas by libwebp's animation
/// decoder, as Pillow does.
pub(super) fn decode(
    bytes: &[u8],
    options: &DecodeOptions,
    pool: &PixelPool,
) -> Result<DecodedImage> {
    let mut config = std::mem::MaybeUninit::<webp::WebPDecoderConfig>::zeroed();
    // SAFETY: `config` points to writable memory of the right type; libwebp fills in its
    // defaults. All-zero bytes are a valid `WebPDecoderConfig` (integers, null pointers and
    // `MODE_RGB`), so it is initialised whatever the call does.
    let initialised = unsafe { webp::WebPInitDecoderConfig(config.as_mut_ptr()) };
    // SAFETY: see above.
    let mut config = unsafe { config.assume_init() };
    if !initialised {
        return Err(abi_mismatch());
    }
    // SAFETY: `bytes` is valid for reads of its length and `config.input` for writes.
    let status = unsafe { webp::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut config.input) };
    if status != Status::VP8_STATUS_OK {
        return Err(error(status));
    }
    // libwebp reports sides of at least 1 (a VP8X canvas reaches 2^24).
    let side = |v: std::ffi::c_int| u32::try_from(v).unwrap_or(0);
    let (width, height) = (side(config.input.width), side(config.input.height));
    options.check_size(FORMAT, width, height)?;
    let pixels = if config.input.has_animation != 0 {
        first_frame(bytes, width, height)?
    } else {
        decode_still(bytes, width, height, &mut config, pool)?
    };
    let mut out = DecodedImage {
        width,
        height,
        layout: PixelLayout::Rgb8,
        pixels,
        format: FORMAT,
    };
    if options.apply_exif {
        if let Some(orientation) = exif_chunk(bytes).and_then(exif_orientation) {
            out.orient(orientation, pool);
        }
    }
    Ok(out)
}

fn abi_mismatch() -> DecodeError {
    DecodeError::Unsupported {
        format: FORMAT,
        cause: "libwebp was built with another decoder ABI".to_string(),
    }
}

/// Frees a `WebPAnimDecoder` on every path out of [`first_frame`].
struct AnimDecoder(*mut webp::WebPAnimDecoder);

impl Drop for AnimDecoder {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `WebPAnimDecoderNew`, is not null, and is freed once.
        unsafe { webp::WebPAnimDecoderDelete(self.0) };
    }
}

/// The first frame of an animated WebP, `width × height` (its canvas, checked against the
/// pixel limit), as RGB. libwebp's animation decoder starts from a transparent black canvas and
/// copies the first frame onto it without blending, as Pillow shows it.
fn first_frame(bytes: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut options = std::mem::MaybeUninit::<webp::WebPAnimDecoderOptions>::zeroed();
    // SAFETY: `options` points to writable memory of the right type, and all-zero bytes are a
    // valid value of it (`MODE_RGB`, integers), so it is initialised whatever the call does.
    let initialised = unsafe { webp::WebPAnimDecoderOptionsInit(options.as_mut_ptr()) };
    // SAFETY: see above.
    let mut options = unsafe { options.assume_init() };
    if initialised == 0 {
        return Err(abi_mismatch());
    }
    // Not premultiplied, as Pillow asks for it: colour channels are the file's own.
    options.color_mode = webp::WEBP_CSP_MODE::MODE_RGBA;
    options.use_threads = 0;
    let data = webp::WebPData {
        bytes: bytes.as_ptr(),
        size: bytes.len(),
    };
    // SAFETY: `data` points to `bytes`, which outlives the decoder (dropped at the end of this
    // function); libwebp reads the options during the call only.
    let decoder = unsafe { webp::WebPAnimDecoderNew(&data, &options) };
    if decoder.is_null() {
        return Err(if riff_truncated(bytes) {
            DecodeError::Truncated { format: FORMAT }
        } else {
            corrupt("invalid animation")
        });
    }
    let decoder = AnimDecoder(decoder);
    let mut info = webp::WebPAnimInfo::default();
    // SAFETY: a live decoder, and `info` valid for writes.
    if unsafe { webp::WebPAnimDecoderGetInfo(decoder.0, &mut info) } == 0
        || (info.canvas_width, info.canvas_height) != (width, height)
    {
        return Err(corrupt("invalid animation"));
    }
    let (mut canvas, mut timestamp) = (std::ptr::null_mut(), 0);
    // SAFETY: a live decoder; `canvas` and `timestamp` valid for writes.
    let decoded = unsafe { webp::WebPAnimDecoderGetNext(decoder.0, &mut canvas, &mut timestamp) };
    if decoded == 0 || canvas.is_null() {
        return Err(corrupt("the first frame does not decode"));
    }
    let len = width as usize * height as usize * 4;
    // SAFETY: on success `canvas` points to the decoder's RGBA canvas, `width × height` pixels
    // of 4 bytes (the size checked above), valid until the decoder's next call or deletion,
    // both after this borrow ends.
    let rgba = unsafe { std::slice::from_raw_parts(canvas, len) };
    let mut px = rgba.to_vec();
    super::drop_alpha(&mut px);
    Ok(px)
}

/// Whether the RIFF header claims more bytes than the file has.
fn riff_truncated(bytes: &[u8]) -> bool {
    bytes.get(4..8).is_some_and(|size| {
        let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]);
        u64::from(size) + 8 > bytes.len() as u64
    })
}

fn corrupt(cause: &str) -> DecodeError {
    DecodeError::Corrupt {
        format: FORMAT,
        cause: cause.to_string(),
    }
}

/// A still WebP's pixels as RGB.
fn decode_still(
    bytes: &[u8],
    width: u32,
    height: u32,
    config: &mut webp::WebPDecoderConfig,
    pool: &PixelPool,
) -> Result<Vec<u8>> {
    let stride = width as usize * 3;
    let mut pixels = pool.take(stride * height as usize);
    config.output.colorspace = webp::WEBP_CSP_MODE::MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA = webp::WebPRGBABuffer {
        rgba: pixels.as_mut_ptr(),
        // Under 2^24 × 3.
        stride: stride as std::ffi::c_int,
        size: pixels.len(),
    };
    // SAFETY: `bytes` is valid for reads of its length; the output buffer is `pixels`, valid
    // for writes of `size` bytes, which libwebp checks against `stride × height` before it
    // writes, and alive until after the call. libwebp keeps no pointer to either afterwards.
    let status = unsafe { webp::WebPDecode(bytes.as_ptr(), bytes.len(), config) };
    // SAFETY: frees only memory libwebp allocated itself (none for an external buffer).
    unsafe { webp::WebPFreeDecBuffer(&mut config.output) };
    if status != Status::VP8_STATUS_OK {
        pool.give(pixels);
        return Err(error(status));
    }
    Ok(pixels)
}

fn error(status: Status) -> DecodeError {
    let cause = match status {
        Status::VP8_STATUS_NOT_ENOUGH_DATA | Status::VP8_STATUS_SUSPENDED => {
            return DecodeError::Truncated { format: FORMAT }
        }
        Status::VP8_STATUS_UNSUPPORTED_FEATURE => {
            return DecodeError::Unsupported {
                format: FORMAT,
                cause: "a feature libwebp does not decode".to_string(),
            }
        }
        Status::VP8_STATUS_OUT_OF_MEMORY => "the decoder ran out of memory",
        Status::VP8_STATUS_BITSTREAM_ERROR => "invalid bitstream",
        Status::VP8_STATUS_INVALID_PARAM => "invalid header",
        Status::VP8_STATUS_USER_ABORT | Status::VP8_STATUS_OK => "the decoder failed",
    };
    corrupt(cause)
}

/// The payload of the first `EXIF` chunk of an extended-format (`VP8X`) WebP; a chunk cut
/// short by the end of the file is not read.
fn exif_chunk(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.get(12..16)? != b"VP8X" {
        return None;
    }
    let mut pos = 12usize;
    loop {
        let header = bytes.get(pos..pos.checked_add(8)?)?;
        let size = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
        let body = pos + 8;
        let data = bytes.get(body..body.checked_add(size)?)?;
        if &header[..4] == b"EXIF" {
            return Some(data);
        }
        // Chunks are padded to an even size.
        pos = body.checked_add(size)?.checked_add(size & 1)?;
    }
}

/// Orientation from an `EXIF` chunk: a TIFF-structured block, which some writers start with
/// JPEG's `Exif\0\0` (Pillow reads both).
fn exif_orientation(chunk: &[u8]) -> Option<u16> {
    exif::orientation_from_tiff(chunk.strip_prefix(b"Exif\0\0").unwrap_or(chunk))
}

/// `rgb` (`width × height` pixels, rows packed) as a lossy WebP of `quality` (0–100), with
/// libwebp's default settings, which give the same bytes on every run and machine; `None`
/// when libwebp refuses it (a side over 16,383, or `rgb` of the wrong length).
pub(crate) fn encode_lossy(rgb: &[u8], width: u32, height: u32, quality: f32) -> Option<Vec<u8>> {
    let side = |v: u32| std::ffi::c_int::try_from(v).ok();
    let (w, h, stride) = (side(width)?, side(height)?, side(width.checked_mul(3)?)?);
    if rgb.len() != usize::try_from(u64::from(width) * 3 * u64::from(height)).ok()? {
        return None;
    }
    let mut out = std::ptr::null_mut();
    // SAFETY: `rgb` holds `height` rows of `stride` bytes (checked above) and outlives the
    // call; libwebp allocates `out` and returns its length, or 0 with `out` left null.
    let len = unsafe { webp::WebPEncodeRGB(rgb.as_ptr(), w, h, stride, quality, &mut out) };
    if out.is_null() {
        return None;
    }
    // SAFETY: on success `out` points to `len` bytes that libwebp wrote.
    let bytes = (len > 0).then(|| unsafe { std::slice::from_raw_parts(out, len) }.to_vec());
    // SAFETY: `out` came from libwebp's allocator and is not used after this.
    unsafe { webp::WebPFree(out.cast()) };
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `VP8X` file's bytes with the given chunks after the `VP8X` one (no image data: only
    /// the chunk walk is tested here).
    fn extended(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut b = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        b.extend_from_slice(&10u32.to_le_bytes());
        b.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for (fourcc, data) in chunks {
            b.extend_from_slice(*fourcc);
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(data);
            if data.len() % 2 == 1 {
                b.push(0);
            }
        }
        b
    }

    #[test]
    fn finds_the_exif_chunk_past_padded_chunks() {
        let b = extended(&[(b"ICCP", b"odd"), (b"EXIF", b"II*\0"), (b"EXIF", b"2nd")]);
        assert_eq!(exif_chunk(&b), Some(&b"II*\0"[..]));
        assert_eq!(exif_chunk(&extended(&[(b"XMP ", b"x")])), None);
        // Cut inside the chunk: not read.
        assert_eq!(exif_chunk(&b[..b.len() - 14]), None);
        // A simple-format file has no metadata chunks.
        let mut simple = b.clone();
        simple[12..16].copy_from_slice(b"VP8 ");
        assert_eq!(exif_chunk(&simple), None);
        // A chunk size near u32::MAX ends the walk.
        let mut huge = extended(&[(b"ICCP", b"")]);
        let at = huge.len() - 4;
        huge[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(exif_chunk(&huge), None);
    }

    #[test]
    fn encodes_what_decodes_to_nearly_the_same_pixels() {
        let (w, h) = (37u32, 21u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 97 * 2) as u8).collect();
        let bytes = encode_lossy(&rgb, w, h, 90.0).expect("encodes");
        assert_eq!(encode_lossy(&rgb, w, h, 90.0).as_ref(), Some(&bytes));
        let back = decode(&bytes, &DecodeOptions::default(), &PixelPool::new(0)).expect("decodes");
        assert_eq!((back.width, back.height), (w, h));
        let mean_error = back
            .pixels
            .iter()
            .zip(&rgb)
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum::<u64>()
            / rgb.len() as u64;
        assert!(mean_error < 12, "mean error {mean_error}");
        assert_eq!(encode_lossy(&rgb[1..], w, h, 90.0), None);
        assert_eq!(encode_lossy(&[0; 3 * 16_384], 16_384, 1, 90.0), None);
    }

    #[test]
    fn reads_orientation_with_and_without_the_jpeg_prefix() {
        let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        assert_eq!(exif_orientation(&tiff), Some(6));
        let prefixed = [&b"Exif\0\0"[..], &tiff].concat();
        assert_eq!(exif_orientation(&prefixed), Some(6));
        assert_eq!(exif_orientation(b"garbage"), None);
    }
}
