//! Hash store benches: appending records (sealed blocks, one fsync at the end so the disk does not dominate)
//! and reading them back through the zero-copy reader, plus a full `verify`.
//!
//! `IMPRINT_BENCH_RECORDS` sets the record count (default 100 000), e.g.
//! `IMPRINT_BENCH_RECORDS=1000000 cargo bench --bench store`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use imprint::hash::{Pdq256, PdqHash};
use imprint::store::{Store, StoreOptions, StoreWriter, SyncPolicy};
use std::hint::black_box;

fn records(n: usize) -> Vec<(String, PdqHash)> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    (0..n)
        .map(|i| {
            let hash = Pdq256::from_words([next(), next(), next(), next()]);
            (
                format!("shard-0001.tar:images/{i:08}.jpg"),
                PdqHash {
                    hash,
                    quality: (i % 101) as u8,
                },
            )
        })
        .collect()
}

fn write(dir: &std::path::Path, recs: &[(String, PdqHash)]) -> std::path::PathBuf {
    let path = dir.join("bench.imps");
    let _ = std::fs::remove_file(&path);
    let opts = StoreOptions::new().sync(SyncPolicy::OnFinish);
    let mut w = StoreWriter::create(&path, &opts).expect("a new store in a temp dir");
    for (id, h) in recs {
        w.append_hash(id, h).expect("append to a fresh store");
    }
    w.finish().expect("seal the last block");
    path
}

fn store(c: &mut Criterion) {
    let n = std::env::var("IMPRINT_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000usize);
    let recs = records(n);
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut g = c.benchmark_group(format!("store/n={n}"));
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("append", |b| b.iter(|| write(dir.path(), black_box(&recs))));
    let path = write(dir.path(), &recs);
    let bytes = std::fs::read(&path).expect("the store just written");
    g.bench_function("read_all", |b| {
        b.iter(|| {
            let s = Store::from_bytes(black_box(bytes.as_slice())).expect("valid store");
            let mut q = 0u64;
            for r in s.records() {
                q += u64::from(r.expect("valid record").hash().map_or(0, |h| h.quality));
            }
            q
        })
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            let s = Store::from_bytes(black_box(bytes.as_slice())).expect("valid store");
            black_box(s.verify().expect("intact store"));
        })
    });
    g.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
