//! Any bytes through format sniffing, the decoder, EXIF orientation and the hash: an error is
//! fine, a panic (even one the decoders' guard would catch: libFuzzer's panic hook aborts
//! first), a hang or an allocation past libFuzzer's `-malloc_limit_mb` is a finding.

#![no_main]

use imprint::decode::{decode, DecodeOptions};
use imprint::hash::PdqHasher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = DecodeOptions {
        // 4 MP: legitimate images stay far below the fuzzer's memory limit.
        max_pixels: 1 << 22,
        apply_exif: true,
        ..DecodeOptions::default()
    };
    if let Ok(image) = decode(data, &options) {
        std::hint::black_box(PdqHasher::new().hash(image.as_image_ref()));
    }
});
