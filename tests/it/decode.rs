//! Decoding of hostile and broken inputs: every one gives a precise error, none panics.

use imprint::decode::{decode, DecodeError, DecodeOptions, ImageFormat};
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

#[test]
fn huge_png_header_is_rejected_before_allocating() {
    let err = decode(&png_claiming(100_000, 100_000), &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TooLarge {
                format: ImageFormat::Png,
                width: 100_000,
                height: 100_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("--max-pixels"));
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
fn corrupted_bytes_never_panic() {
    // Flip bytes all over a JPEG and a PNG: any outcome but a panic is fine.
    let o = DecodeOptions::default();
    for data in [sample("q0122.jpg"), small_png()] {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..300 {
            let mut d = data.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state % d.len() as u64) as usize;
                d[i] ^= (state >> 32) as u8 | 1;
            }
            let _ = decode(&d, &o);
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
