//! Index search benches: MIH radius-31 lookups vs the flat scan, and HNSW k-nearest vs
//! `hnsw_rs` (the library the issue named, with a popcount distance) and the flat scan; and the
//! first lookup of a newly opened index, which checks the sections' checksums.
//!
//! Data: seeded, N/10 random centres with 9 variants each at 0–30 flipped bits; queries half
//! variants of listed centres, half random. `IMPRINT_BENCH_N` sets N (default 20 000) and
//! `IMPRINT_BENCH_QUERIES` the query count (default 200), e.g.
//! `IMPRINT_BENCH_N=1000000 cargo bench --bench index_search`.
//! Search quality (recall against `ef_search`) is not measured here: see `imprint bench index`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hnsw_rs::prelude::Hnsw;
use imprint::index::{Index, IndexBuilder, SearchScratch};

#[path = "common/popcount.rs"]
mod popcount;
use popcount::Popcount;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn search(c: &mut Criterion) {
    let n = env("IMPRINT_BENCH_N", 20_000);
    let nq = env("IMPRINT_BENCH_QUERIES", 200);
    let (list, queries) = imprint::index::synthetic::near_duplicates(n, nq, 6);
    let bytes = IndexBuilder::new()
        .build::<&str>(&list, &[])
        .expect("valid default parameters");
    let mut s = SearchScratch::for_index(n);
    // The first lookup of a newly opened index checks the CRC32C of each section it reads
    // (hashes, MIH tables, ids); later lookups reuse the result. `first_lookup` opens the
    // bytes afresh (O(1)) and makes one lookup, to be set against `mih`'s per-query time.
    let mut g = c.benchmark_group(format!("index_search/first_lookup/n={n}"));
    g.bench_function("open_and_search_once", |b| {
        b.iter(|| {
            let fresh = Index::from_bytes(bytes.as_slice()).expect("freshly built index");
            black_box(
                fresh
                    .search_radius(black_box(&queries[0]), 31, &mut s)
                    .map(<[_]>::len)
                    .ok(),
            );
        });
    });
    g.finish();
    let index = Index::from_bytes(bytes).expect("freshly built index");

    let mut g = c.benchmark_group(format!("index_search/radius31/n={n}"));
    g.throughput(Throughput::Elements(nq as u64));
    g.bench_function("mih", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(
                    index
                        .search_radius(black_box(q), 31, &mut s)
                        .map(<[_]>::len)
                        .ok(),
                );
            }
        });
    });
    g.bench_function("flat", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(
                    index
                        .search_radius_flat(black_box(q), 31, &mut s)
                        .map(<[_]>::len)
                        .ok(),
                );
            }
        });
    });
    g.bench_function("mih_batch_rayon", |b| {
        b.iter(|| black_box(index.search_radius_batch(black_box(&queries), 31).len()));
    });
    g.finish();

    let words: Vec<Vec<u64>> = list.iter().map(|h| h.to_words().to_vec()).collect();
    let qwords: Vec<Vec<u64>> = queries.iter().map(|h| h.to_words().to_vec()).collect();
    let hn = Hnsw::<u64, Popcount>::new(16, n, 16, 64, Popcount);
    let refs: Vec<(&Vec<u64>, usize)> = words.iter().zip(0..).collect();
    hn.parallel_insert(&refs);

    let mut g = c.benchmark_group(format!("index_search/knn10/n={n}"));
    g.throughput(Throughput::Elements(nq as u64));
    for ef in [16usize, 64] {
        g.bench_with_input(BenchmarkId::new("imprint_hnsw", ef), &ef, |b, &ef| {
            b.iter(|| {
                for q in &queries {
                    black_box(
                        index
                            .search_knn(black_box(q), 10, ef, &mut s)
                            .map(<[_]>::len)
                            .ok(),
                    );
                }
            });
        });
        g.bench_with_input(BenchmarkId::new("hnsw_rs", ef), &ef, |b, &ef| {
            b.iter(|| {
                for q in &qwords {
                    black_box(hn.search(black_box(q), 10, ef).len());
                }
            });
        });
    }
    g.bench_function("flat", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(
                    index
                        .search_knn_flat(black_box(q), 10, &mut s)
                        .map(<[_]>::len)
                        .ok(),
                );
            }
        });
    });
    g.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
