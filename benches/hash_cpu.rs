//! CPU hashing: JPEG decoding and PDQ hashing timed separately, each against other crates on the
//! same inputs in the same run.
//!
//! * `decode_jpeg/<decoder>/<size>`: imprint's decoder (libjpeg-turbo via `mozjpeg`, the one that
//!   reproduces the reference pixels) vs `zune-jpeg` vs `jpeg-decoder`, all on the same bytes
//!   (a seeded scene, JPEG quality 90, 4:2:0), all producing RGB; and imprint's decoder writing
//!   into buffers reused through a `PixelPool` (`imprint_mozjpeg_pooled`), as bulk runs do, where
//!   the others allocate a fresh buffer per image.
//! * `decode_webp/<decoder>/<kind>/<size>`: imprint's decoder (libwebp, as Pillow uses) vs
//!   `image-webp` through the `image` crate, both producing RGB, on the same scene as a lossy
//!   WebP (libwebp's encoder, quality 90) and a lossless one (the `image` crate's encoder).
//! * `hash/<hasher>/<size>`: imprint's `PdqHasher::hash` and `hash_dihedral` vs
//!   `pdqhash::generate_pdq_full_size` (same full-resolution convention) on the same decoded
//!   pixels.
//!
//! Throughput is in images. Inputs are generated (seed 1) and encoded outside the timed closures.
//!
//! Sizes: `IMPRINT_BENCH_MP` lists megapixel sizes, comma-separated (default `1,12`; e.g.
//! `IMPRINT_BENCH_MP=0.25 cargo bench --bench hash_cpu` for a quick run, `1,12,48` for more).
//! Images are 4:3.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use imprint::bench::{encode_webp, scene};
use imprint::decode::{decode, decode_pooled, DecodeOptions, DecodedImage, PixelPool};
use imprint::hash::PdqHasher;
use std::hint::black_box;
use std::time::Duration;

struct Input {
    label: String,
    jpeg: Vec<u8>,
    webp_lossy: Vec<u8>,
    webp_lossless: Vec<u8>,
    decoded: DecodedImage,
}

fn sizes() -> Vec<f64> {
    std::env::var("IMPRINT_BENCH_MP")
        .unwrap_or_else(|_| "1,12".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("IMPRINT_BENCH_MP is a comma-separated list of numbers")
        })
        .collect()
}

fn inputs() -> Vec<Input> {
    sizes()
        .into_iter()
        .map(|mp| {
            let width = ((mp * 1e6 * 4.0 / 3.0).sqrt()).round() as u32;
            let height = width * 3 / 4;
            let img = scene(1, width, height);
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
                .encode_image(&img)
                .expect("encoding to memory succeeds");
            let decoded = decode(&jpeg, &DecodeOptions::default()).expect("our own JPEG decodes");
            let mut webp_lossless = Vec::new();
            image::codecs::webp::WebPEncoder::new_lossless(&mut webp_lossless)
                .encode(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
                .expect("encoding to memory succeeds");
            Input {
                label: format!("{mp}MP"),
                jpeg,
                webp_lossy: encode_webp(&img, 90).expect("libwebp encodes the bench input"),
                webp_lossless,
                decoded,
            }
        })
        .collect()
}

/// RGB through `image-webp` (alpha dropped, as imprint does).
fn image_webp_rgb(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory_with_format(bytes, image::ImageFormat::WebP)
        .expect("image-webp decodes the bench input")
        .into_rgb8()
        .into_raw()
}

fn zune_rgb(bytes: &[u8]) -> Vec<u8> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options)
        .decode()
        .expect("zune-jpeg decodes the bench input")
}

fn jpeg_decoder_rgb(bytes: &[u8]) -> Vec<u8> {
    jpeg_decoder::Decoder::new(bytes)
        .decode()
        .expect("jpeg-decoder decodes the bench input")
}

fn benches(c: &mut Criterion) {
    let inputs = inputs();
    let options = DecodeOptions::default();

    let mut g = c.benchmark_group("decode_jpeg");
    g.throughput(Throughput::Elements(1));
    for input in &inputs {
        let bytes = input.jpeg.as_slice();
        g.bench_function(format!("imprint_mozjpeg/{}", input.label), |b| {
            b.iter(|| decode(black_box(bytes), &options).expect("decodes"));
        });
        let pool = PixelPool::default();
        g.bench_function(format!("imprint_mozjpeg_pooled/{}", input.label), |b| {
            b.iter(|| {
                let img = decode_pooled(black_box(bytes), &options, &pool).expect("decodes");
                pool.give(img.pixels);
            });
        });
        g.bench_function(format!("zune_jpeg/{}", input.label), |b| {
            b.iter(|| zune_rgb(black_box(bytes)));
        });
        g.bench_function(format!("jpeg_decoder/{}", input.label), |b| {
            b.iter(|| jpeg_decoder_rgb(black_box(bytes)));
        });
    }
    g.finish();

    let mut g = c.benchmark_group("decode_webp");
    g.throughput(Throughput::Elements(1));
    for input in &inputs {
        for (kind, bytes) in [
            ("lossy", input.webp_lossy.as_slice()),
            ("lossless", input.webp_lossless.as_slice()),
        ] {
            let ours = decode(bytes, &options).expect("decodes");
            assert!(
                ours.pixels == image_webp_rgb(bytes),
                "{kind} {}: the two decoders disagree",
                input.label
            );
            g.bench_function(format!("imprint_libwebp/{kind}/{}", input.label), |b| {
                b.iter(|| decode(black_box(bytes), &options).expect("decodes"));
            });
            g.bench_function(format!("image_webp/{kind}/{}", input.label), |b| {
                b.iter(|| image_webp_rgb(black_box(bytes)));
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Elements(1));
    for input in &inputs {
        let d = &input.decoded;
        let mut hasher = PdqHasher::new();
        g.bench_function(format!("imprint/{}", input.label), |b| {
            b.iter(|| hasher.hash(black_box(d.as_image_ref())));
        });
        g.bench_function(format!("imprint_dihedral/{}", input.label), |b| {
            b.iter(|| hasher.hash_dihedral(black_box(d.as_image_ref())));
        });
        let rgb = pdqhash::image::RgbImage::from_raw(d.width, d.height, d.pixels.clone())
            .expect("the decoded buffer is width × height × 3 bytes");
        let dynamic = pdqhash::image::DynamicImage::ImageRgb8(rgb);
        g.bench_function(format!("pdqhash_crate/{}", input.label), |b| {
            b.iter(|| pdqhash::generate_pdq_full_size(black_box(&dynamic)));
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = hash_cpu;
    config = config();
    targets = benches
}
criterion_main!(hash_cpu);
