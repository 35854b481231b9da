//! Which JPEG decoder reproduces the PDQ reference hashes? Decodes every JPEG of the conformance
//! set (`tests/data/pdq`, oracle `expected/oracle-fullres.txt`) with imprint's decoder
//! (libjpeg-turbo via `mozjpeg`), `zune-jpeg` and `jpeg-decoder`, hashes the RGB pixels with
//! imprint's CPU reference, and prints a Markdown table of exact matches (hash and quality) and
//! the largest Hamming distance to the reference.
//!
//! `cargo run --release --no-default-features --example jpeg_decoders`

use imprint::decode::{decode, DecodeOptions};
use imprint::hash::{ImageRef, Pdq256, PdqHasher, PixelLayout};
use std::path::Path;

type Decoded = Result<(u32, u32, Vec<u8>), String>;
type Decoder = fn(&[u8]) -> Decoded;

fn imprint_rgb(bytes: &[u8]) -> Decoded {
    let d = decode(bytes, &DecodeOptions::default()).map_err(|e| e.to_string())?;
    let pixels = match d.layout {
        PixelLayout::Gray8 => d.pixels.iter().flat_map(|&v| [v, v, v]).collect(),
        _ => d.pixels,
    };
    Ok((d.width, d.height, pixels))
}

fn zune_rgb(bytes: &[u8]) -> Decoded {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let pixels = dec.decode().map_err(|e| format!("{e:?}"))?;
    let info = dec.info().ok_or("no header")?;
    Ok((u32::from(info.width), u32::from(info.height), pixels))
}

fn jpeg_decoder_rgb(bytes: &[u8]) -> Decoded {
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    let pixels = dec.decode().map_err(|e| e.to_string())?;
    let info = dec.info().ok_or("no header")?;
    let pixels = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => pixels,
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&v| [v, v, v]).collect(),
        other => return Err(format!("pixel format {other:?} not converted")),
    };
    Ok((u32::from(info.width), u32::from(info.height), pixels))
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdq");
    let oracle = std::fs::read_to_string(dir.join("expected/oracle-fullres.txt"))
        .expect("the conformance oracle is in the checkout");
    let decoders: [(&str, Decoder); 3] = [
        ("imprint (libjpeg-turbo via mozjpeg)", imprint_rgb),
        ("zune-jpeg 0.5", zune_rgb),
        ("jpeg-decoder 0.3", jpeg_decoder_rgb),
    ];
    // (exact, errors, worst distance, sum of distances) per decoder.
    let mut tally = [(0usize, 0usize, 0u32, 0u32); 3];
    let mut num_jpegs = 0;
    let mut hasher = PdqHasher::new();
    for line in oracle.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let path = parts[2];
        if !(path.ends_with(".jpg") || path.ends_with(".jpeg")) {
            continue;
        }
        num_jpegs += 1;
        let expected: Pdq256 = parts[0].parse().expect("oracle hashes are hex");
        let expected_quality: u8 = parts[1].parse().expect("oracle quality is a number");
        let bytes = std::fs::read(dir.join(path)).expect("oracle files exist");
        for (k, (name, f)) in decoders.iter().enumerate() {
            match f(&bytes) {
                Ok((w, h, pixels)) => {
                    let img = ImageRef::new(w, h, PixelLayout::Rgb8, &pixels)
                        .expect("decoders return width × height × 3 bytes");
                    let got = hasher.hash(img);
                    let d = got.hash.distance(&expected);
                    if d == 0 && got.quality == expected_quality {
                        tally[k].0 += 1;
                    } else {
                        eprintln!("{name}: {path}: {d} bits, quality {}", got.quality);
                    }
                    tally[k].2 = tally[k].2.max(d);
                    tally[k].3 += d;
                }
                Err(e) => {
                    eprintln!("{name}: {path}: error: {e}");
                    tally[k].1 += 1;
                }
            }
        }
    }
    println!("| decoder | exact (hash and quality) | errors | worst distance | mean distance |");
    println!("|---|---|---|---|---|");
    for ((name, _), (exact, errors, worst, sum)) in decoders.iter().zip(tally) {
        let decoded = num_jpegs - errors;
        let mean = f64::from(sum) / decoded.max(1) as f64;
        println!("| {name} | {exact}/{num_jpegs} | {errors} | {worst} | {mean:.2} |");
    }
}
