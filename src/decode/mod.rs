//! Image bytes → 8-bit grey or RGB pixels, the way the PDQ reference sees them.
//!
//! The reference hashes were made by decoding with Pillow and calling `convert("RGB")`, so this
//! module reproduces Pillow's view of each file:
//!
//! * **JPEG** is decoded by libjpeg-turbo's decoder (the `mozjpeg` crate builds it from source
//!   with the C compiler every Rust toolchain needs): ISLOW integer IDCT and fancy upsampling,
//!   the same code Pillow runs, so decoded pixels — and hashes — match exactly. CMYK and YCCK
//!   files are read as Adobe-inverted CMYK and converted to RGB with Pillow's formula. A file
//!   without an end-of-image marker after its scan data is rejected as truncated, as Pillow
//!   does, instead of being padded with grey. A JPEG of any kind (baseline too) whose scans
//!   times its pixels exceed [`MAX_JPEG_SCAN_PIXELS`], or with more than [`MAX_JPEG_SCANS`]
//!   scans, is refused from its headers before decoding ([`DecodeError::TooManyScans`]): each
//!   scan costs a pass over the image, so a small crafted file could otherwise hold a core for
//!   minutes. With the pixel limit, this bounds the work of every JPEG by its headers.
//! * **WebP** is decoded by libwebp, Pillow's own decoder, built from source by the
//!   `libwebp-sys` crate: stills directly, animations by its animation decoder (the first frame
//!   on its canvas, as Pillow composes it); alpha is dropped.
//! * **PNG, BMP, TIFF** go through the `image` crate. Alpha is dropped (not composited),
//!   palettes are expanded to colours, 1-bit images become 0/255, 16-bit grey is clipped to 255
//!   (Pillow's `I;16` → `L`), and 16-bit colour keeps the high byte (Pillow's `RGB;16B` raw
//!   mode). Palette TIFFs (1, 2, 4 or 8 bits), which the `image` crate does not read, are read
//!   as grey indices by the `tiff` crate and looked up in their colour map here. A few shapes
//!   the decoders misread are repaired first, each where Pillow reads the file: a PNG palette
//!   ending inside an entry, TIFF entries whose values reach past the end of the file, and
//!   TIFF data stored lowest bit first (`FillOrder` 2). A BMP wider or taller than 65535
//!   pixels, which the `image` crate refuses whatever its size, is read here when uncompressed
//!   (8-bit palette, 24 or 32 bits), as Pillow reads it; other such BMPs are
//!   [`DecodeError::Unsupported`], saying why.
//! * **GIF** (first frame) goes through the `gif` crate's palette indices and is composed as
//!   Pillow composes it: uncovered screen pixels take the transparent index (else index 0), a
//!   frame reaching past the screen enlarges the image, transparent pixels keep their palette
//!   colour.
//!
//! The format is sniffed from the first bytes, never taken from the file name. The image size is
//! read from the header and checked against [`DecodeOptions::max_pixels`] before any pixel
//! buffer is allocated; for PNG and BMP before the decoder reads the file, so that a size over
//! the limit is [`DecodeError::TooLarge`] and never the decoder's own refusal read as
//! corruption. EXIF orientation is applied only when asked
//! ([`DecodeOptions::apply_exif`]); the reference hashes do not apply it.

mod bmp_wide;
mod exif;
mod gif;
mod jpeg;
mod other;
mod png_palette;
mod pool;
mod tiff_ifd;
mod tiff_palette;
pub(crate) mod webp;

use crate::hash::{Dihedral, ImageRef, PixelLayout};
pub use jpeg::{MAX_JPEG_SCANS, MAX_JPEG_SCAN_PIXELS};
pub use pool::{PixelPool, DEFAULT_POOL_BYTES, MIN_POOLED_BYTES, POOL_BYTES_PER_CORE};
use std::fmt;
use std::path::{Path, PathBuf};

/// Default pixel limit: 128 megapixels, above the largest phone and DSLR photos (about 100 MP)
/// while keeping the worst-case buffer near 400 MB.
pub const DEFAULT_MAX_PIXELS: u64 = 128_000_000;

/// Image container formats imprint decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageFormat {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG.
    Png,
    /// GIF (first frame).
    Gif,
    /// WebP, lossy or lossless (first frame).
    WebP,
    /// Windows bitmap.
    Bmp,
    /// TIFF (first page).
    Tiff,
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Gif => "GIF",
            ImageFormat::WebP => "WebP",
            ImageFormat::Bmp => "BMP",
            ImageFormat::Tiff => "TIFF",
        })
    }
}

/// Identifies the format from the first bytes of a file.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(ImageFormat::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(ImageFormat::Png),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(ImageFormat::Gif),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(ImageFormat::WebP),
        [b'B', b'M', ..] if bytes.len() >= 26 => Some(ImageFormat::Bmp),
        [b'I', b'I', 0x2A, 0x00, ..] | [b'M', b'M', 0x00, 0x2A, ..] => Some(ImageFormat::Tiff),
        _ => None,
    }
}

/// Why an image could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The input has no bytes.
    #[error("empty file")]
    Empty,
    /// The first bytes match no supported format.
    #[error("not a supported image (JPEG, PNG, GIF, WebP, BMP, TIFF); starts with {head}")]
    UnknownFormat {
        /// The first bytes, as hex.
        head: String,
    },
    /// The header claims more pixels than allowed.
    #[error("{format} is {width}x{height} = {pixels} pixels, over the limit of {max_pixels} (raise it with --max-pixels)", pixels = u64::from(*width) * u64::from(*height))]
    TooLarge {
        /// Format.
        format: ImageFormat,
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// A JPEG whose scans would cost too many passes over its pixels: more than
    /// [`MAX_JPEG_SCANS`], or more than [`MAX_JPEG_SCAN_PIXELS`] divided by its pixels. Each
    /// scan is a pass over the whole image, so a few bytes of empty scans can hold a core for
    /// minutes; refused from the headers, before decoding.
    #[error(
        "{format} of {width}x{height} has {num_scans} or more scans, over the {max_scans} its size \
         allows: each scan is a pass over the whole image (encoders write about 10)"
    )]
    TooManyScans {
        /// Format.
        format: ImageFormat,
        /// Width from the frame header.
        width: u32,
        /// Height from the frame header.
        height: u32,
        /// Scans counted (counting stops one past the limit).
        num_scans: usize,
        /// The most this image may have.
        max_scans: usize,
    },
    /// The header gives a zero width or height.
    #[error("{format} header gives an empty image ({width}x{height})")]
    ZeroSize {
        /// Format.
        format: ImageFormat,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// The data ends before the image does.
    #[error("truncated {format}: the data ends before the image does")]
    Truncated {
        /// Format.
        format: ImageFormat,
    },
    /// The decoder rejected the data.
    #[error("corrupt {format}: {cause}")]
    Corrupt {
        /// Format.
        format: ImageFormat,
        /// The decoder's description.
        cause: String,
    },
    /// A valid file using a feature imprint does not decode.
    #[error("unsupported {format}: {cause}")]
    Unsupported {
        /// Format.
        format: ImageFormat,
        /// What is unsupported.
        cause: String,
    },
}

/// Result of decoding.
pub type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Decoding settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Largest accepted `width × height`, checked before allocating. Default
    /// [`DEFAULT_MAX_PIXELS`].
    pub max_pixels: u64,
    /// Apply the EXIF orientation tag (JPEG, PNG, WebP, TIFF). Default `false`, like the
    /// reference hashes.
    pub apply_exif: bool,
    /// Fast mode: decode large JPEGs at a reduced scale in the DCT domain (1/8, 1/4 or 1/2
    /// of each side), as [`fast_jpeg_numerator`] chooses for this minimum side. Default `None`
    /// (full size, bit-exact with the reference). PDQ reduces every image to 64×64, so
    /// [`FAST_JPEG_MIN_SIDE`] keeps hashes close (BENCHMARKS.md, "`--fast` fidelity") and
    /// skips most of the decoding work of large images.
    pub jpeg_min_side: Option<u32>,
}

/// The smallest side `--fast` keeps when scaling JPEGs down while decoding: eight times PDQ's
/// 64×64. Chosen on the tune part of `imprint bench fast-fidelity --full` (BENCHMARKS.md,
/// "`--fast` fidelity"): with the scales of [`fast_jpeg_numerator`], 256 px left 4.2 % of the
/// images 11–22 bits from exact mode, 448 px 0.6 % (max 14), 512 px 0.1 % (max 12); the
/// held-out part then gave 99.8 % within 10 bits, max 12.
pub const FAST_JPEG_MIN_SIDE: u32 = 512;

/// JPEGs under this many pixels are decoded at full size by `--fast`: their exact decode is
/// already cheap, and scaling them gains little while moving their hashes the most
/// (BENCHMARKS.md, "`--fast` fidelity").
pub const FAST_JPEG_MIN_PIXELS: u64 = 1_000_000;

/// The number `--fast` decoding is recorded as in a store's hashing parameters
/// (`HashParams::jpeg_min_side`): this tag in the top byte, the minimum side below. Stores
/// written before the rule of [`fast_jpeg_numerator`] recorded the bare minimum side (top byte
/// 0), so a store of the earlier rule is never resumed or merged with hashes of this one.
pub const FAST_JPEG_RULE_TAG: u32 = 2 << 24;

/// The value a store records for `--fast` decoding with `min_side`: [`FAST_JPEG_RULE_TAG`]
/// plus the side's low 24 bits (the CLI refuses larger sides; no JPEG has a side over 65,535).
#[must_use]
pub fn fast_jpeg_recorded(min_side: u32) -> u32 {
    FAST_JPEG_RULE_TAG | (min_side & 0x00FF_FFFF)
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_pixels: DEFAULT_MAX_PIXELS,
            apply_exif: false,
            jpeg_min_side: None,
        }
    }
}

/// The smallest libjpeg scale numerator `n` (of 8) whose output keeps both sides of a
/// `width × height` image at least `min_side` (libjpeg rounds the scaled size up); 8 when
/// the image is already smaller.
#[must_use]
pub fn jpeg_scale_numerator(width: u32, height: u32, min_side: u32) -> u8 {
    let short = u64::from(width.min(height));
    (1u8..=8)
        .find(|&n| (short * u64::from(n)).div_ceil(8) >= u64::from(min_side))
        .unwrap_or(8)
}

/// The libjpeg scale numerator (of 8) `--fast` decodes a `width × height` JPEG at: 8 (full
/// size) under [`FAST_JPEG_MIN_PIXELS`]; otherwise the [`jpeg_scale_numerator`] for
/// `min_side`, rounded up to 1, 2 or 4, and 8 when that is over 4. Only these three scales
/// are used: they are libjpeg-turbo's SIMD scaled IDCTs, and the others (3/8, 5/8, 6/8, 7/8)
/// moved hashes the most for the least gain (BENCHMARKS.md, "`--fast` fidelity").
#[must_use]
pub fn fast_jpeg_numerator(width: u32, height: u32, min_side: u32) -> u8 {
    if u64::from(width) * u64::from(height) < FAST_JPEG_MIN_PIXELS {
        return 8;
    }
    match jpeg_scale_numerator(width, height, min_side) {
        n @ (1 | 2 | 4) => n,
        3 => 4,
        _ => 8,
    }
}

/// Decodes a JPEG at the scale `numerator`/8 (1–8), whatever its size: the fidelity benchmark
/// measures every scale with it.
pub(crate) fn decode_jpeg_at_scale(bytes: &[u8], numerator: u8) -> Result<DecodedImage> {
    if sniff(bytes) != Some(ImageFormat::Jpeg) {
        let head = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(DecodeError::UnknownFormat { head });
    }
    jpeg::decode_at(
        bytes,
        &DecodeOptions::default(),
        &PixelPool::new(0),
        Some(numerator),
    )
}

impl DecodeOptions {
    pub(crate) fn check_size(&self, format: ImageFormat, width: u32, height: u32) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(DecodeError::ZeroSize {
                format,
                width,
                height,
            });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(DecodeError::TooLarge {
                format,
                width,
                height,
                max_pixels: self.max_pixels,
            });
        }
        Ok(())
    }
}

/// A decoded image: 8-bit grey or RGB, rows packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel layout.
    pub layout: PixelLayout,
    /// `width × height × bytes_per_pixel` bytes.
    pub pixels: Vec<u8>,
    /// The format it was decoded from.
    pub format: ImageFormat,
}

impl DecodedImage {
    /// A borrowed view for hashing.
    #[must_use]
    pub fn as_image_ref(&self) -> ImageRef<'_> {
        ImageRef::new(self.width, self.height, self.layout, &self.pixels)
            .expect("decoders produce exactly width × height × bpp bytes")
    }

    /// Applies an EXIF orientation value (1–8); other values leave the image unchanged. The
    /// new pixels come from `pool`, and the old ones go back to it.
    pub(crate) fn orient(&mut self, exif_orientation: u16, pool: &PixelPool) {
        let t = match exif_orientation {
            2 => Dihedral::FlipY,
            3 => Dihedral::Rotate180,
            4 => Dihedral::FlipX,
            5 => Dihedral::FlipPlus1,
            6 => Dihedral::Rotate270,
            7 => Dihedral::FlipMinus1,
            8 => Dihedral::Rotate90,
            _ => return,
        };
        let (w, h) = (self.width as usize, self.height as usize);
        let mut out = pool.take(self.pixels.len());
        t.apply_into(w, h, self.layout.bytes_per_pixel(), &self.pixels, &mut out);
        let (w, h) = t.output_size(w, h);
        // Transforms only swap the two sides, which both came from u32s.
        self.width = w as u32;
        self.height = h as u32;
        pool.give(std::mem::replace(&mut self.pixels, out));
    }
}

/// Decodes an image held in memory.
///
/// # Errors
/// A [`DecodeError`] naming the cause: unknown format, size over the limit, truncated or
/// corrupt data, unsupported feature. Never panics on any input.
///
/// # Examples
/// ```
/// let err = imprint::decode::decode(b"hello", &Default::default()).unwrap_err();
/// assert!(err.to_string().contains("not a supported image"));
/// ```
pub fn decode(bytes: &[u8], options: &DecodeOptions) -> Result<DecodedImage> {
    decode_pooled(bytes, options, &PixelPool::new(0))
}

/// [`decode`], with the pixel buffer taken from `pool` when it holds one large enough (JPEG,
/// still WebP, and PNG, BMP and TIFF images that are 8-bit grey, RGB or RGBA). Give the pixels
/// back ([`PixelPool::give`]) once hashed. Large images decode faster so: see [`PixelPool`].
///
/// # Errors
/// As [`decode`].
pub fn decode_pooled(
    bytes: &[u8],
    options: &DecodeOptions,
    pool: &PixelPool,
) -> Result<DecodedImage> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let Some(format) = sniff(bytes) else {
        let head: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(DecodeError::UnknownFormat { head });
    };
    match format {
        ImageFormat::Jpeg => jpeg::decode(bytes, options, pool),
        ImageFormat::Gif => guarded(format, || gif::decode(bytes, options)),
        ImageFormat::Tiff => guarded(format, || {
            let trimmed = tiff_ifd::without_values_past_end(bytes);
            let bytes = trimmed.as_deref().unwrap_or(bytes);
            let refilled = tiff_ifd::with_msb_fill_order(bytes);
            let bytes = refilled.as_deref().unwrap_or(bytes);
            tiff_palette::decode(bytes, options, pool)
                .unwrap_or_else(|| other::decode(bytes, format, options, pool))
        }),
        ImageFormat::Png => guarded(format, || {
            let patched = png_palette::with_whole_entries(bytes);
            other::decode(patched.as_deref().unwrap_or(bytes), format, options, pool)
        }),
        ImageFormat::WebP => webp::decode(bytes, options, pool),
        _ => guarded(format, || other::decode(bytes, format, options, pool)),
    }
}

/// RGBA pixels narrowed to RGB in the same buffer (three quarters of it), alpha dropped (not
/// composited), as Pillow's `convert("RGB")`.
fn drop_alpha(px: &mut Vec<u8>) {
    let n = px.len() / 4;
    // Pixel i moves from 4i to 3i, never past a pixel not yet moved.
    for i in 0..n {
        let (s, d) = (4 * i, 3 * i);
        px[d] = px[s];
        px[d + 1] = px[s + 1];
        px[d + 2] = px[s + 2];
    }
    px.truncate(3 * n);
}

/// RGB pixels of palette indices, each looked up in a 256-entry colour table.
fn expand_palette(indices: &[u8], rgb: &[[u8; 3]; 256]) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(indices.len() * 3);
    for &i in indices {
        pixels.extend_from_slice(&rgb[usize::from(i)]);
    }
    pixels
}

thread_local! {
    static IN_GUARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is running a decoder whose panics become [`DecodeError::Corrupt`] for
/// their file. A program's panic hook can stay quiet about those panics, which [`decode`]
/// already reports as that file's error, and report all others as usual.
///
/// # Examples
/// ```
/// let default_hook = std::panic::take_hook();
/// std::panic::set_hook(Box::new(move |info| {
///     if !imprint::decode::in_decoder_guard() {
///         default_hook(info);
///     }
/// }));
/// # let _ = std::panic::take_hook();
/// ```
#[must_use]
pub fn in_decoder_guard() -> bool {
    IN_GUARD.with(std::cell::Cell::get)
}

/// Runs a decoder, turning a panic inside it into [`DecodeError::Corrupt`] for `format`.
///
/// libjpeg reports fatal errors by unwinding (see `jpeg.rs`); the `image` crate's decoders are
/// not meant to panic, but one that does on some hostile file must cost that file, not the
/// batch it is part of.
fn guarded(format: ImageFormat, f: impl FnOnce() -> Result<DecodedImage>) -> Result<DecodedImage> {
    let outer = IN_GUARD.with(|g| g.replace(true));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(outer));
    match caught {
        Ok(result) => result,
        Err(payload) => {
            let cause = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .map_or_else(
                    || "the decoder failed".to_string(),
                    |s| s.trim_start_matches("libjpeg fatal error: ").to_string(),
                );
            Err(DecodeError::Corrupt { format, cause })
        }
    }
}

/// Reads and decodes a file. It reads the whole file first: to walk untrusted trees, check
/// the size as the bulk pipeline does ([`crate::pipeline::DEFAULT_MAX_ITEM_BYTES`]).
///
/// # Errors
/// [`DecodeError::Io`] with the path when it cannot be read, otherwise as [`decode`].
pub fn decode_file(path: &Path, options: &DecodeOptions) -> Result<DecodedImage> {
    let bytes = std::fs::read(path).map_err(|source| DecodeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes, options)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fast_mode_scales_only_large_jpegs_and_only_by_a_half_a_quarter_or_an_eighth() {
        use super::{
            fast_jpeg_numerator as n, fast_jpeg_recorded, FAST_JPEG_MIN_PIXELS, FAST_JPEG_MIN_SIDE,
            FAST_JPEG_RULE_TAG,
        };
        // 12 MP: the earlier rule's 1/8 for 256 px, 3/8 for 1000 px (rounded up to 1/2),
        // 6/8 for 2000 px (not worth it: full size).
        assert_eq!(n(4000, 3000, 256), 1);
        assert_eq!(n(3000, 4000, 700), 2);
        assert_eq!(n(4000, 3000, 1000), 4);
        assert_eq!(n(4000, 3000, 2000), 8);
        // Under the pixel floor nothing is scaled, whatever the side.
        let side = ((FAST_JPEG_MIN_PIXELS - 1) as f64).sqrt() as u32;
        assert_eq!(n(side, side, 8), 8);
        assert_eq!(n(side * 4, side / 4, 8), 8);
        let side = ((FAST_JPEG_MIN_PIXELS as f64).sqrt() as u32) + 1;
        assert_eq!(n(side, side, 8), 1);
        for (w, h) in [
            (1, 1),
            (640, 480),
            (4000, 3000),
            (12000, 9000),
            (100_000, 1),
        ] {
            assert!(matches!(n(w, h, FAST_JPEG_MIN_SIDE), 1 | 2 | 4 | 8));
        }
        // The recorded value never equals a bare side, which the earlier rule recorded.
        assert_eq!(fast_jpeg_recorded(256), FAST_JPEG_RULE_TAG + 256);
        assert!(fast_jpeg_recorded(FAST_JPEG_MIN_SIDE) > 0x00FF_FFFF);
    }

    use super::*;

    /// Every fixture image decoded from a pool of dirty buffers (larger, smaller and as large as
    /// needed, filled with junk) gives what a fresh decode gives: every decoder that writes into
    /// a pooled buffer overwrites all of it.
    #[test]
    fn pooled_decodes_equal_fresh_ones_whatever_the_buffers_held() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut files = Vec::new();
        let mut dirs = vec![root.join("pillow"), root.join("pdq")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("fixtures") {
                let p = entry.expect("entry").path();
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                if p.is_dir() {
                    dirs.push(p);
                } else if ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"].contains(&ext)
                {
                    files.push(p);
                }
            }
        }
        files.sort();
        assert!(files.len() > 50, "{} fixtures", files.len());
        let mut pooled_formats = std::collections::HashSet::new();
        for path in &files {
            let bytes = std::fs::read(path).expect("read");
            for apply_exif in [false, true] {
                let options = DecodeOptions {
                    apply_exif,
                    ..DecodeOptions::default()
                };
                let fresh = decode(&bytes, &options).map_err(|e| e.to_string());
                let need = fresh.as_ref().map_or(0, |i| i.pixels.len());
                let junk = |n: usize, b: u8| vec![b; n];
                let dirty = vec![
                    junk(need / 2, 0xA5),
                    junk(need, 0x5A),
                    junk(need * 3 + 7, 0xFF),
                    junk(need + 1, 0x01),
                ];
                let pool = PixelPool::of_any_size(dirty);
                let before = pool.kept_bytes();
                let pooled = decode_pooled(&bytes, &options, &pool).map_err(|e| e.to_string());
                assert_eq!(pooled, fresh, "{}, exif {apply_exif}", path.display());
                if pool.kept_bytes() < before {
                    pooled_formats.insert(fresh.as_ref().map(|i| i.format).ok());
                }
            }
        }
        // The decoders that take their buffer from the pool.
        for f in [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::WebP,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
        ] {
            assert!(pooled_formats.contains(&Some(f)), "{f} never used the pool");
        }
    }

    /// EXIF orientation through a pool: the pixels of [`Dihedral::apply_to_pixels`], the new
    /// buffer taken from the pool and the old one given back.
    #[test]
    fn orientation_takes_its_buffer_from_the_pool_and_gives_the_old_one_back() {
        let (w, h) = (37u32, 23u32);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        for o in 1..=8u16 {
            let pool = PixelPool::of_any_size(vec![vec![0xEE; pixels.len() + 5]]);
            let mut img = DecodedImage {
                width: w,
                height: h,
                layout: PixelLayout::Rgb8,
                pixels: pixels.clone(),
                format: ImageFormat::Png,
            };
            img.orient(o, &pool);
            let t = [
                Dihedral::Original,
                Dihedral::Original,
                Dihedral::FlipY,
                Dihedral::Rotate180,
                Dihedral::FlipX,
                Dihedral::FlipPlus1,
                Dihedral::Rotate270,
                Dihedral::FlipMinus1,
                Dihedral::Rotate90,
            ][usize::from(o)];
            let (ew, eh, expected) = t.apply_to_pixels(w as usize, h as usize, 3, &pixels);
            assert_eq!(
                (img.width as usize, img.height as usize),
                (ew, eh),
                "orientation {o}"
            );
            assert_eq!(img.pixels, expected, "orientation {o}");
            // Orientation 1 touches nothing; the others swap the pool's buffer for the old one.
            let kept = if o == 1 {
                pixels.len() + 5
            } else {
                pixels.len()
            };
            assert_eq!(pool.kept_bytes(), kept, "orientation {o}");
        }
    }

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"GIF89a....."), Some(ImageFormat::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageFormat::WebP));
        assert_eq!(sniff(b"MM\0*"), Some(ImageFormat::Tiff));
        assert_eq!(sniff(b"just some text"), None);
        assert_eq!(sniff(b"BM"), None);
    }

    #[test]
    fn rejects_empty_and_text() {
        let o = DecodeOptions::default();
        assert!(matches!(decode(b"", &o), Err(DecodeError::Empty)));
        assert!(matches!(
            decode(b"this is text, named .jpg", &o),
            Err(DecodeError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn a_panicking_decoder_is_a_corrupt_file() {
        let err = guarded(ImageFormat::Tiff, || panic!("index out of bounds")).unwrap_err();
        assert!(
            matches!(&err, DecodeError::Corrupt { format: ImageFormat::Tiff, cause }
                if cause == "index out of bounds"),
            "{err}"
        );
        let err = guarded(ImageFormat::Jpeg, || {
            std::panic::resume_unwind(Box::new("libjpeg fatal error: Bogus marker".to_string()))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "corrupt JPEG: Bogus marker");
    }

    #[test]
    fn the_guard_is_visible_to_panic_hooks_while_it_runs() {
        assert!(!in_decoder_guard());
        let seen = std::cell::Cell::new(None);
        let _ = guarded(ImageFormat::Png, || {
            seen.set(Some(in_decoder_guard()));
            let _ = guarded(ImageFormat::Gif, || panic!("nested"));
            // Still inside the outer guard after the inner one caught its panic.
            assert!(in_decoder_guard());
            panic!("outer")
        });
        assert_eq!(seen.get(), Some(true));
        assert!(!in_decoder_guard());
    }

    #[test]
    fn size_check_happens_before_decoding() {
        let o = DecodeOptions {
            max_pixels: 100,
            ..DecodeOptions::default()
        };
        assert!(matches!(
            o.check_size(ImageFormat::Png, 11, 10),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(o.check_size(ImageFormat::Png, 10, 10).is_ok());
        assert!(matches!(
            o.check_size(ImageFormat::Png, 0, 10),
            Err(DecodeError::ZeroSize { .. })
        ));
    }
}
