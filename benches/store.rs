//! Hash store benches: appending records (sealed blocks, one fsync at the end so the disk does not dominate)
//! and reading them back through the zero-copy reader, plus a full `verify`.
//!
//! `read_all` checks each block's CRC32C as it reaches it (as every reader does);
//! `checksums_only` is that CRC32C work alone, over the same blocks, so `read_all` minus
//! `checksums_only` is what iterating cost before readers checked blocks, and their ratio is
//! the share of the checks.
//!
//! `IMPRINT_BENCH_RECORDS` sets the record count (default 100 000), e.g.
//! `IMPRINT_BENCH_RECORDS=1000000 cargo bench --bench store`.
//!
//! `bulk_journal`: a bulk run into a store over 2,000 tiny PNGs (32×32, where per-item costs
//! weigh most), with and without the crash journal (`Pipeline::journal`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use imprint::hash::{Pdq256, PdqHash};
use imprint::pipeline::{Journal, Pipeline, Source, StandardDecoder, StoreSink};
use imprint::rng::Rng;
use imprint::store::{Store, StoreOptions, StoreWriter, SyncPolicy};
use std::hint::black_box;

fn records(n: usize) -> Vec<(String, PdqHash)> {
    let mut rng = Rng::new(1);
    (0..n)
        .map(|i| {
            let hash = Pdq256::from_words(rng.words());
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
    let block_size = imprint::store::DEFAULT_BLOCK_SIZE as usize;
    g.bench_function("checksums_only", |b| {
        b.iter(|| {
            // The bytes every block check hashes: each block after its 8-byte seal.
            let mut x = 0u32;
            for block in black_box(&bytes[64..]).chunks_exact(block_size) {
                x ^= crc32c::crc32c(&block[8..]);
            }
            x
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

fn bulk_journal(c: &mut Criterion) {
    const N: usize = 2000;
    let dir = tempfile::tempdir().expect("a temp dir");
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).expect("mkdir");
    for k in 0..N {
        let img = image::RgbImage::from_fn(32, 32, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, (k % 251) as u8])
        });
        img.save(corpus.join(format!("{k:05}.png")))
            .expect("encode");
    }
    let sources = [Source::Dir(corpus)];
    let run = |journal: bool| {
        let out = dir.path().join("bench.imps");
        let _ = std::fs::remove_file(&out);
        let opts = StoreOptions::new().sync(SyncPolicy::OnFinish);
        let w = StoreWriter::create(&out, &opts).expect("a new store");
        let mut p = Pipeline::new().threads(2);
        if journal {
            p = p.journal(Journal::create(&dir.path().join("bench.journal")).expect("journal"));
        }
        let r = p
            .run(
                &sources,
                &StandardDecoder::default(),
                &mut StoreSink::new(w),
                &mut |_| {},
            )
            .expect("run");
        assert_eq!(r.num_ok, N as u64);
    };
    let mut g = c.benchmark_group("bulk_journal");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    g.bench_function("none", |b| b.iter(|| run(false)));
    g.bench_function("journal", |b| b.iter(|| run(true)));
    g.finish();
}

criterion_group!(benches, store, bulk_journal);
criterion_main!(benches);
