//! Index build benches: MIH tables only, MIH + HNSW graph (ours, rayon-parallel), and
//! `hnsw_rs` `parallel_insert` with a popcount distance, at the same m and ef_construction.
//!
//! Data: seeded, N/10 random centres with 9 variants each at 0–30 flipped bits.
//! `IMPRINT_BENCH_BUILD_N` sets N (default 5 000), e.g.
//! `IMPRINT_BENCH_BUILD_N=100000 cargo bench --bench index_build`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hnsw_rs::prelude::Hnsw;
use imprint::index::IndexBuilder;

#[path = "common/popcount.rs"]
mod popcount;
use popcount::Popcount;

fn build(c: &mut Criterion) {
    let n = std::env::var("IMPRINT_BENCH_BUILD_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let (hashes, _) = imprint::index::synthetic::near_duplicates(n, 0, 6);
    let mut g = c.benchmark_group(format!("index_build/n={n}"));
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("mih_only", |b| {
        b.iter(|| {
            black_box(
                IndexBuilder::new()
                    .hnsw(false)
                    .build::<&str>(black_box(&hashes), &[]),
            )
        });
    });
    g.bench_function("mih_hnsw_m16_efc64", |b| {
        b.iter(|| black_box(IndexBuilder::new().build::<&str>(black_box(&hashes), &[])));
    });
    let words: Vec<Vec<u64>> = hashes.iter().map(|h| h.to_words().to_vec()).collect();
    g.bench_function("hnsw_rs_m16_efc64", |b| {
        b.iter(|| {
            let hn = Hnsw::<u64, Popcount>::new(16, n, 16, 64, Popcount);
            let refs: Vec<(&Vec<u64>, usize)> = words.iter().zip(0..).collect();
            hn.parallel_insert(&refs);
            black_box(hn.get_nb_point())
        });
    });
    g.finish();
}

criterion_group!(benches, build);
criterion_main!(benches);
