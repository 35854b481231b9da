//! Hashes one generated image many times on one thread, for comparing two builds of the CPU
//! hasher by their user time, one run after the other, where criterion's timings on a shared
//! machine swing more than the difference:
//!
//! ```sh
//! cargo build --release --no-default-features --example hash_loop
//! /usr/bin/time -f %U target/release/examples/hash_loop 600        # 1152×864, 600 times
//! /usr/bin/time -f %U target/release/examples/hash_loop 40 12mp    # 4000×3000, 40 times
//! ```
//!
//! Generating the image takes about 0.01 s (0.09 s at 12 MP) of the total.

use imprint::hash::{ImageRef, PdqHasher, PixelLayout};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let (w, h): (u32, u32) = match args.next().as_deref() {
        Some("12mp") => (4000, 3000),
        _ => (1152, 864),
    };
    // A horizontal ramp with low-order noise from a fixed LCG: the same pixels every run.
    let mut s = 1u64;
    let pixels: Vec<u8> = (0..w as usize * h as usize * 3)
        .map(|i| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((i / 3 % w as usize) as u64 / 7 + (s >> 60)) as u8
        })
        .collect();
    let image = ImageRef::new(w, h, PixelLayout::Rgb8, &pixels).expect("w × h × 3 bytes");
    let mut hasher = PdqHasher::new();
    let mut acc = 0u32;
    for _ in 0..n {
        acc ^= u32::from(hasher.hash(image).quality);
    }
    println!("{acc}");
}
