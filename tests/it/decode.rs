//! Decoding of hostile and broken inputs: every one gives a precise error, none panics.

use crate::alloc;
use imprint::decode::{decode, DecodeError, DecodeOptions, DecodedImage, ImageFormat};
use imprint::hash::PixelLayout;
use imprint::rng::Rng;
use std::path::Path;

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("datasets/sample")
            .join(name),
    )
    .unwrap()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header claims `w × h` RGB pixels, followed by a tiny IDAT.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    png
}

pub fn small_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 77]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The same small picture in each supported format: 40×30 RGB through the `image` crate's
/// encoders, a 256×256 conformance JPEG, and two palette TIFFs from `tests/data/pillow` (their
/// own code path): 8-bit, and 2-bit PackBits.
fn one_of_each() -> Vec<(ImageFormat, Vec<u8>)> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([x as u8 * 6, y as u8 * 8, (x + y) as u8 * 3])
    }));
    let mut out = vec![(ImageFormat::Jpeg, sample("q0122.jpg"))];
    for (format, encoder) in [
        (ImageFormat::Png, image::ImageFormat::Png),
        (ImageFormat::Gif, image::ImageFormat::Gif),
        (ImageFormat::WebP, image::ImageFormat::WebP),
        (ImageFormat::Bmp, image::ImageFormat::Bmp),
        (ImageFormat::Tiff, image::ImageFormat::Tiff),
    ] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        img.write_to(&mut bytes, encoder).unwrap();
        out.push((format, bytes.into_inner()));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pillow");
    for name in ["tiff_palette.tif", "tiff_palette2_packbits.tif"] {
        out.push((ImageFormat::Tiff, std::fs::read(dir.join(name)).unwrap()));
    }
    out
}

/// Offset and tag of each entry of the first IFD of a little-endian TIFF (as Pillow writes).
fn tiff_entries(b: &[u8]) -> Vec<(usize, u16)> {
    assert_eq!(&b[..4], b"II*\0", "the encoder's TIFF byte order changed");
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let ifd = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
    (0..usize::from(u16_at(ifd)))
        .map(|e| ifd + 2 + 12 * e)
        .map(|entry| (entry, u16_at(entry)))
        .collect()
}

/// `bytes` with the header's image size replaced by `w × h`, in each format's own fields.
fn claiming(format: ImageFormat, bytes: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match format {
        ImageFormat::Png => return png_claiming(w, h),
        ImageFormat::Gif => {
            // Logical screen descriptor: width and height as u16 LE after "GIF89a".
            b[6..8].copy_from_slice(&(w as u16).to_le_bytes());
            b[8..10].copy_from_slice(&(h as u16).to_le_bytes());
        }
        ImageFormat::Bmp => {
            // BITMAPINFOHEADER: width and height as i32 LE at 18 and 22.
            b[18..22].copy_from_slice(&(w as i32).to_le_bytes());
            b[22..26].copy_from_slice(&(h as i32).to_le_bytes());
        }
        ImageFormat::WebP => {
            // Simple lossless: "VP8L", chunk size, signature 0x2F, then 14 bits each of
            // width − 1 and height − 1 in a little-endian u32.
            assert_eq!(&b[12..16], b"VP8L", "the encoder's WebP layout changed");
            let at = 21;
            let v = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
            let v = (v & !0x0FFF_FFFF) | (w - 1) | ((h - 1) << 14);
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        ImageFormat::Tiff => {
            // The first IFD's ImageWidth (256) and ImageLength (257) entries, and RowsPerStrip
            // (278) so that the one strip written still covers the image.
            for (entry, tag) in tiff_entries(&b) {
                let value = match tag {
                    256 => w,
                    257 | 278 => h,
                    _ => continue,
                };
                match u16::from_le_bytes([b[entry + 2], b[entry + 3]]) {
                    3 => b[entry + 8..entry + 10].copy_from_slice(&(value as u16).to_le_bytes()),
                    4 => b[entry + 8..entry + 12].copy_from_slice(&value.to_le_bytes()),
                    t => panic!("a TIFF size tag of type {t}"),
                }
            }
        }
        ImageFormat::Jpeg => {
            // The frame header (SOF0–SOF2): length, precision, then height and width as
            // u16 BE.
            let mut pos = 2;
            while !(0xC0..=0xC2).contains(&b[pos + 1]) {
                pos += 2 + usize::from(u16::from_be_bytes([b[pos + 2], b[pos + 3]]));
            }
            b[pos + 5..pos + 7].copy_from_slice(&(h as u16).to_be_bytes());
            b[pos + 7..pos + 9].copy_from_slice(&(w as u16).to_be_bytes());
        }
        other => panic!("no header layout for {other}"),
    }
    b
}

#[test]
fn huge_headers_are_rejected_before_allocating_in_every_format() {
    for (format, bytes) in one_of_each() {
        // Sizes each format can express and its decoder accepts, all over the default limit.
        let (w, h) = match format {
            ImageFormat::Png => (100_000, 100_000),
            ImageFormat::Gif => (65_535, 65_535),
            // The format's maximum.
            ImageFormat::WebP => (16_384, 16_384),
            ImageFormat::Bmp => (20_000, 20_000),
            ImageFormat::Tiff => (40_000, 40_000),
            ImageFormat::Jpeg => (65_500, 65_500),
            other => panic!("no hostile size for {other}"),
        };
        let hostile = claiming(format, &bytes, w, h);
        let (result, peak) = alloc::peak_bytes(|| decode(&hostile, &DecodeOptions::default()));
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::TooLarge { format: f, width, height, .. }
                    if f == format && (width, height) == (w, h)
            ),
            "{format}: {err}"
        );
        assert!(err.to_string().contains("--max-pixels"), "{err}");
        // A row buffer at most; the image itself would be gigabytes.
        assert!(peak < 4 << 20, "{format}: {peak} bytes allocated");
    }
}

/// A small TIFF whose one strip claims nearly 4 GiB of data: the decoder's memory limit stops
/// it, and the file is reported corrupt (its size is fine; its contents are not).
#[test]
fn a_strip_larger_than_its_image_is_corrupt() {
    let mut b =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pillow/tiff_rgb.tif"))
            .unwrap();
    let strip_bytes = tiff_entries(&b)
        .into_iter()
        .find(|&(entry, tag)| tag == 279 && b[entry + 4..entry + 8] == 1u32.to_le_bytes())
        .map(|(entry, _)| entry)
        .expect("one StripByteCounts entry");
    b[strip_bytes + 2..strip_bytes + 4].copy_from_slice(&4u16.to_le_bytes()); // LONG
    b[strip_bytes + 8..strip_bytes + 12].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    let (result, peak) = alloc::peak_bytes(|| decode(&b, &DecodeOptions::default()));
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Corrupt {
                format: ImageFormat::Tiff,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("more memory than"), "{err}");
    assert!(peak < 4 << 20, "{peak} bytes allocated");
}

#[test]
fn pixel_limit_is_settable() {
    let jpeg = sample("q0122.jpg"); // 256×256
    let tight = DecodeOptions {
        max_pixels: 256 * 256 - 1,
        ..DecodeOptions::default()
    };
    assert!(matches!(
        decode(&jpeg, &tight),
        Err(DecodeError::TooLarge { .. })
    ));
    let exact = DecodeOptions {
        max_pixels: 256 * 256,
        ..DecodeOptions::default()
    };
    assert_eq!(decode(&jpeg, &exact).unwrap().width, 256);
}

#[test]
fn truncated_jpeg_is_an_error_at_every_cut() {
    let jpeg = sample("q0122.jpg");
    let o = DecodeOptions::default();
    assert!(decode(&jpeg, &o).is_ok());
    for cut in (3..jpeg.len() - 1)
        .step_by(97)
        .chain([jpeg.len() - 2, jpeg.len() - 1])
    {
        let err = decode(&jpeg[..cut], &o).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Truncated { .. } | DecodeError::Corrupt { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn truncated_png_is_an_error_at_every_cut() {
    let png = small_png();
    let o = DecodeOptions::default();
    assert!(decode(&png, &o).is_ok());
    // A cut inside the final 12-byte IEND chunk leaves every pixel intact, which decodes.
    for cut in 1..png.len() - 12 {
        assert!(decode(&png[..cut], &o).is_err(), "cut at {cut}");
    }
}

#[test]
fn truncated_files_never_decode_to_other_pixels() {
    // Each format keeps some bytes after the last pixel (PNG's IEND, GIF's trailer), so a cut
    // there may still decode; any other cut must fail rather than hand back made-up pixels.
    let o = DecodeOptions::default();
    for (format, bytes) in one_of_each() {
        let full = decode(&bytes, &o).unwrap();
        let step = if format == ImageFormat::Jpeg { 37 } else { 1 };
        let mut failed = 0;
        for cut in (1..bytes.len()).step_by(step) {
            match decode(&bytes[..cut], &o) {
                Ok(img) => assert!(img == full, "{format} cut at {cut} of {}", bytes.len()),
                Err(_) => failed += 1,
            }
        }
        assert!(failed > 0, "{format}");
    }
}

#[test]
fn corrupted_files_never_panic_or_allocate_past_the_pixel_limit() {
    let o = DecodeOptions {
        max_pixels: 1 << 20,
        ..DecodeOptions::default()
    };
    // Twice what one allocation of the decoders may take (`image::Limits::max_alloc`, 8 bytes
    // per allowed pixel plus 64 MiB): room for the decoded image and its converted copy, none
    // for a buffer sized from a corrupted length field. Not counted: libjpeg's own `malloc`s.
    let bound = 2 * (8 * (1 << 20) + (64 << 20));
    let mut rng = Rng::new(1);
    for (format, data) in one_of_each() {
        for round in 0..300 {
            let mut d = data.clone();
            for _ in 0..4 {
                let r = rng.next_u64();
                let i = (r % d.len() as u64) as usize;
                if r >> 63 == 0 {
                    // A flipped byte.
                    d[i] ^= (r >> 32) as u8 | 1;
                } else {
                    // A length or size field made huge.
                    let end = (i + 4).min(d.len());
                    d[i..end].fill(if r >> 62 & 1 == 0 { 0xFF } else { 0x7F });
                }
            }
            let (_, peak) = alloc::peak_bytes(|| decode(&d, &o));
            assert!(
                peak <= bound,
                "{format} mutant {round}: {peak} bytes allocated"
            );
        }
    }
}

#[test]
fn text_and_empty_inputs_are_named_errors() {
    let o = DecodeOptions::default();
    assert!(matches!(decode(b"", &o), Err(DecodeError::Empty)));
    let err = decode(b"<html>not a jpeg</html>", &o).unwrap_err();
    assert!(matches!(err, DecodeError::UnknownFormat { .. }));
}

#[test]
fn every_supported_format_decodes_to_the_same_pixels() {
    let img = image::RgbImage::from_fn(70, 50, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
    });
    for (fmt, expect) in [
        (image::ImageFormat::Png, ImageFormat::Png),
        (image::ImageFormat::Bmp, ImageFormat::Bmp),
        (image::ImageFormat::Tiff, ImageFormat::Tiff),
        (image::ImageFormat::WebP, ImageFormat::WebP),
    ] {
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img.clone())
            .write_to(&mut out, fmt)
            .unwrap();
        let d = decode(out.get_ref(), &DecodeOptions::default()).unwrap();
        assert_eq!(d.format, expect);
        assert_eq!((d.width, d.height), (70, 50));
        assert_eq!(d.pixels, img.as_raw().as_slice(), "{expect}");
    }
    // GIF is palette-based: check size and format only.
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Gif)
        .unwrap();
    let d = decode(out.get_ref(), &DecodeOptions::default()).unwrap();
    assert_eq!((d.format, d.width, d.height), (ImageFormat::Gif, 70, 50));
}

/// Decodes every file listed in `tests/data/DIR/expected.txt` (`FILE WIDTH HEIGHT ...` per
/// line) and compares its pixels, as RGB, with `FILE.rgb` (Pillow's `convert("RGB")`).
/// Returns how many files were checked.
fn agrees_with_pillow(dir: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir);
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let mut checked = 0;
    for line in expected.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [name, w, h, ..] = fields[..] else {
            panic!("bad line {line:?}");
        };
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let pillow = std::fs::read(dir.join(format!("{name}.rgb"))).unwrap();
        let d = decode(&bytes, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(
            (d.width.to_string(), d.height.to_string()),
            (w.to_string(), h.to_string()),
            "{line}"
        );
        let rgb = match d.layout {
            PixelLayout::Rgb8 => d.pixels,
            _ => d.pixels.iter().flat_map(|&v| [v, v, v]).collect(),
        };
        let differ = rgb.iter().zip(&pillow).filter(|(a, b)| a != b).count();
        assert!(
            rgb.len() == pillow.len() && differ == 0,
            "{line}: {differ} of {} bytes differ from Pillow's",
            pillow.len()
        );
        checked += 1;
    }
    checked
}

#[test]
fn gif_frames_compose_as_pillow_composes_them() {
    assert_eq!(agrees_with_pillow("gif"), 8);
}

#[test]
fn decoded_pixels_equal_pillows_in_every_variant() {
    assert_eq!(agrees_with_pillow("pillow"), 35);
}

/// `bytes`, a little-endian TIFF, with an Orientation entry of `value` added: its first IFD
/// copied, with the entry, to the end of the file, and the header pointed there.
fn with_tiff_orientation(bytes: &[u8], value: u16) -> Vec<u8> {
    let mut entries: Vec<[u8; 12]> = tiff_entries(bytes)
        .into_iter()
        .filter(|&(_, tag)| tag != 274)
        .map(|(at, _)| bytes[at..at + 12].try_into().unwrap())
        .collect();
    let mut orientation = [0u8; 12];
    orientation[..2].copy_from_slice(&274u16.to_le_bytes());
    orientation[2..4].copy_from_slice(&3u16.to_le_bytes());
    orientation[4..8].copy_from_slice(&1u32.to_le_bytes());
    orientation[8..10].copy_from_slice(&value.to_le_bytes());
    entries.push(orientation);
    entries.sort_by_key(|e| u16::from_le_bytes([e[0], e[1]]));
    let mut out = bytes.to_vec();
    out.resize(out.len().next_multiple_of(2), 0);
    let ifd = out.len() as u32;
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend(entries.concat());
    out.extend(0u32.to_le_bytes());
    out[4..8].copy_from_slice(&ifd.to_le_bytes());
    out
}

#[test]
fn tiff_orientation_is_applied_only_when_asked() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pillow");
    // The palette reader and the `image` crate's reader, each with its own orientation code.
    for name in ["tiff_palette4.tif", "tiff_rgb.tif", "tiff_grey.tif"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let upright = decode(&bytes, &DecodeOptions::default()).unwrap();
        // EXIF 6: shown turned 90° clockwise, so the displayed row y, column x is stored row
        // h - 1 - x, column y.
        let turned = with_tiff_orientation(&bytes, 6);
        let ignored = decode(&turned, &DecodeOptions::default()).unwrap();
        assert!(
            ignored == upright,
            "{name}: orientation applied without being asked"
        );
        let exif = DecodeOptions {
            apply_exif: true,
            ..DecodeOptions::default()
        };
        let shown = decode(&turned, &exif).unwrap();
        assert_turned_clockwise(name, &upright, &shown);
    }
}

/// `shown` is `upright` as EXIF orientation 6 displays it: turned 90° clockwise, so the
/// displayed row y, column x is stored row h - 1 - x, column y.
fn assert_turned_clockwise(name: &str, upright: &DecodedImage, shown: &DecodedImage) {
    let (w, h) = (upright.width as usize, upright.height as usize);
    assert_eq!(
        (shown.width, shown.height),
        (upright.height, upright.width),
        "{name}"
    );
    let bpp = upright.layout.bytes_per_pixel();
    for y in 0..w {
        for x in 0..h {
            let at = |row: usize, col: usize, width: usize| (row * width + col) * bpp;
            let (s, u) = (at(y, x, h), at(h - 1 - x, y, w));
            assert_eq!(
                shown.pixels[s..s + bpp],
                upright.pixels[u..u + bpp],
                "{name} at ({x}, {y})"
            );
        }
    }
}

/// A simple-format WebP rewrapped in the extended format with an `EXIF` chunk after the
/// image: `VP8X` (EXIF flag, canvas size), the image chunk unchanged, then `EXIF`.
fn with_webp_exif(simple: &[u8], width: u32, height: u32, exif: &[u8]) -> Vec<u8> {
    let mut chunks = b"VP8X".to_vec();
    chunks.extend_from_slice(&10u32.to_le_bytes());
    chunks.extend_from_slice(&[0x08, 0, 0, 0]);
    chunks.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    chunks.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    chunks.extend_from_slice(&simple[12..]);
    chunks.extend_from_slice(b"EXIF");
    chunks.extend_from_slice(&(exif.len() as u32).to_le_bytes());
    chunks.extend_from_slice(exif);
    if exif.len() % 2 == 1 {
        chunks.push(0);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(4 + chunks.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    out
}

#[test]
fn webp_orientation_is_applied_only_when_asked() {
    let img = image::RgbImage::from_fn(23, 17, |x, y| {
        image::Rgb([(x * 11) as u8, (y * 13) as u8, (x * y) as u8])
    });
    let mut simple = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut simple, image::ImageFormat::WebP)
        .unwrap();
    let simple = simple.into_inner();
    let upright = decode(&simple, &DecodeOptions::default()).unwrap();
    // A little-endian TIFF block whose IFD0 holds Orientation = 6, bare and with JPEG's
    // `Exif\0\0` in front (writers do both).
    let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    let prefixed = [&b"Exif\0\0"[..], &tiff].concat();
    let exif = DecodeOptions {
        apply_exif: true,
        ..DecodeOptions::default()
    };
    for (name, block) in [("bare", &tiff), ("prefixed", &prefixed)] {
        let turned = with_webp_exif(&simple, 23, 17, block);
        let ignored = decode(&turned, &DecodeOptions::default()).unwrap();
        assert!(
            ignored == upright,
            "{name}: orientation applied without being asked"
        );
        assert_turned_clockwise(name, &upright, &decode(&turned, &exif).unwrap());
    }
}

/// WebPs of every kind, each through its own libwebp path (lossy, lossy with alpha and
/// lossless with alpha decoded directly; animated through the animation decoder): a cut file
/// fails, a corrupted one never panics, and a hostile size is refused before the pixel buffer
/// is allocated.
#[test]
fn webp_files_of_every_kind_fail_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pillow");
    let o = DecodeOptions::default();
    for name in [
        "webp_lossy.webp",
        "webp_lossy_alpha.webp",
        "webp_lossless_alpha.webp",
        "webp_animated.webp",
        "webp_animated_alpha.webp",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        decode(&bytes, &o).unwrap();
        // libwebp checks the RIFF size against the data, so every cut fails, even one after an
        // animation's first frame.
        assert!(
            (1..bytes.len()).all(|cut| decode(&bytes[..cut], &o).is_err()),
            "{name}"
        );
        let mut rng = Rng::new(2);
        let mut rejected = 0;
        for round in 0..500 {
            let mut d = bytes.clone();
            for _ in 0..3 {
                let r = rng.next_u64();
                let i = (r % d.len() as u64) as usize;
                d[i] ^= (r >> 32) as u8 | 1;
            }
            match decode(&d, &o) {
                Ok(img) => {
                    let pixels = u64::from(img.width) * u64::from(img.height);
                    assert!(pixels <= o.max_pixels, "{name} mutant {round}");
                }
                Err(_) => rejected += 1,
            }
        }
        // The mutants reach the decoders' error paths, not only pixel data that still decodes.
        assert!(
            rejected >= 50,
            "{name}: only {rejected} of 500 mutants rejected"
        );
    }
    // The lossy frame header: start code, then 14 bits of width and of height (and 2 of
    // scale each) at 26 and 28.
    let mut lossy = std::fs::read(dir.join("webp_lossy.webp")).unwrap();
    assert_eq!(
        &lossy[23..26],
        b"\x9d\x01\x2a",
        "the fixture's WebP layout changed"
    );
    lossy[26..30].copy_from_slice(&[0xFF, 0x3F, 0xFF, 0x3F]);
    let (result, peak) = alloc::peak_bytes(|| decode(&lossy, &o));
    assert!(
        matches!(
            result,
            Err(DecodeError::TooLarge {
                format: ImageFormat::WebP,
                width: 16_383,
                height: 16_383,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(peak < 1 << 20, "{peak} bytes allocated");
}

/// Lossless WebPs at the format's maximum side, 16,384 pixels, decode to their pixels (the
/// `image-webp` decoder alone reads that side as 0).
#[test]
fn lossless_webp_at_the_maximum_side_decodes() {
    for (w, h) in [(16_384u32, 3u32), (2, 16_384)] {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
        });
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img.clone())
            .write_to(&mut bytes, image::ImageFormat::WebP)
            .unwrap();
        let bytes = bytes.into_inner();
        assert_eq!(&bytes[12..16], b"VP8L", "the encoder's WebP layout changed");
        let d =
            decode(&bytes, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
        assert_eq!((d.width, d.height, d.layout), (w, h, PixelLayout::Rgb8));
        assert!(d.pixels == img.into_raw(), "{w}x{h}: pixels differ");
    }
}
