//! GPU hash stage: `GpuHasher::hash_batch` on batches of decoded RGB images, upload and
//! readback included (pipelines compiled and buffers sized by a warm-up call first).
//!
//! Defaults are small enough for lavapipe: 8 images of 512×512 and 2 of 1000×1000.
//! `IMPRINT_BENCH_GPU_SCALE=N` multiplies the image counts (use 8 or more on a real GPU).
//! Without an adapter the bench prints why and measures nothing.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use imprint::gpu::{GpuHasher, GpuOptions};
use imprint::hash::{ImageRef, PixelLayout};
use imprint::rng::Rng;
use std::hint::black_box;

fn pixels(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut out = vec![0; w as usize * h as usize * 3];
    Rng::new(seed).fill_bytes(&mut out);
    out
}

fn hash_gpu(c: &mut Criterion) {
    let mut gpu = match GpuHasher::new(GpuOptions::default()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("hash_gpu: skipped, {e}");
            return;
        }
    };
    let scale: usize = std::env::var("IMPRINT_BENCH_GPU_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut group = c.benchmark_group("hash_gpu_with_upload_readback");
    group.sample_size(10);
    for (w, h, count) in [(512u32, 512u32, 8usize), (1000, 1000, 2)] {
        let count = count * scale;
        let data: Vec<Vec<u8>> = (0..count).map(|i| pixels(w, h, i as u64)).collect();
        let images: Vec<ImageRef<'_>> = data
            .iter()
            .map(|p| ImageRef::new(w, h, PixelLayout::Rgb8, p).expect("sized pixels"))
            .collect();
        gpu.hash_batch(&images).expect("warm-up batch");
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(
            BenchmarkId::new("rgb", format!("{w}x{h}x{count}")),
            &images,
            |b, images| b.iter(|| gpu.hash_batch(black_box(images)).expect("gpu batch")),
        );
    }
    group.finish();
}

criterion_group!(benches, hash_gpu);
criterion_main!(benches);
