//! Store unit and property tests: round trips, truncation at every byte, bit flips, one test
//! per error variant, resume recovery, sealing (torn tail vs corruption), creation races and
//! stale temporary files, hashing parameters, merge, and the v1 and v2 golden files.

use super::format::{HEADER_LEN, MAGIC, MIN_BLOCK_SIZE, SEAL_LEN};
use super::*;
use crate::hash::{DihedralHashes, Pdq256, PdqHash};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

thread_local! {
    /// Makes this thread's store creations find no hard links, as on FAT or a FUSE mount.
    pub(super) static NO_HARD_LINKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A fixed hash for `seed`. Not [`crate::rng::Rng`]: the golden files hold hashes made by this
/// xorshift stream, and must not change.
fn hash_of(seed: u64) -> PdqHash {
    let mut b = [0u8; 32];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for byte in &mut b {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x as u8;
    }
    PdqHash {
        hash: Pdq256(b),
        quality: (seed % 101) as u8,
    }
}

/// An item written to a store in tests, owned.
#[derive(Clone, Debug, PartialEq)]
enum Item {
    Hash(String, PdqHash),
    Error(String, String),
}

fn write_items(path: &Path, items: &[Item], opts: &StoreOptions, flush_every: usize) {
    let mut w = StoreWriter::create(path, opts).expect("create store in a fresh temp dir");
    for (i, it) in items.iter().enumerate() {
        match it {
            Item::Hash(id, h) => w.append_hash(id, h).expect("append"),
            Item::Error(id, c) => w.append_error(id, c).expect("append"),
        }
        if flush_every > 0 && (i + 1) % flush_every == 0 {
            w.flush().expect("flush");
        }
    }
    w.finish().expect("finish");
}

fn read_items<D: AsRef<[u8]>>(store: &Store<D>) -> Result<Vec<Item>> {
    store
        .records()
        .map(|r| {
            let r = r?;
            Ok(match r.outcome {
                Outcome::Hashed(h) => {
                    assert!(!h.hashes.is_dihedral(), "tests write plain stores here");
                    Item::Hash(r.id.to_owned(), h.primary())
                }
                Outcome::Failed { cause } => Item::Error(r.id.to_owned(), cause.to_owned()),
            })
        })
        .collect()
}

fn small_items(n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| {
            if i % 7 == 3 {
                Item::Error(
                    format!("dir/broken-{i}.jpg"),
                    format!("decode failed: item {i}"),
                )
            } else {
                Item::Hash(format!("dir/img-{i:04}.jpg"), hash_of(i as u64))
            }
        })
        .collect()
}

/// A store of three sealed blocks (8 KiB each) holding 200 items.
fn small_store(dir: &Path) -> (PathBuf, Vec<Item>) {
    let path = dir.join("small.imps");
    let items = small_items(200);
    write_items(
        &path,
        &items,
        &StoreOptions::new().block_size(MIN_BLOCK_SIZE),
        0,
    );
    (path, items)
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store<Vec<u8>>>();
    check::<Store<memmap2::Mmap>>();
}

#[test]
fn round_trip_through_mmap_and_vec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, items) = small_store(dir.path());
    let mapped = Store::open(&path).expect("open");
    assert!(mapped.num_blocks() >= 2, "test wants several blocks");
    assert_eq!(read_items(&mapped).expect("read"), items);
    let owned = Store::from_bytes(std::fs::read(&path).expect("read file")).expect("open vec");
    assert_eq!(read_items(&owned).expect("read"), items);
    let report = owned.verify().expect("verify");
    assert_eq!(report.num_records, 200);
    assert_eq!(
        report.num_error_records as usize,
        items
            .iter()
            .filter(|i| matches!(i, Item::Error(..)))
            .count()
    );
}

#[test]
fn dihedral_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.imps");
    let mut w = StoreWriter::create(&path, &StoreOptions::new().dihedral(true)).expect("create");
    let d = DihedralHashes {
        hashes: std::array::from_fn(|k| hash_of(k as u64 + 10).hash),
        quality: 77,
    };
    w.append_dihedral("x", &d).expect("append");
    assert!(matches!(
        w.append_hash("y", &hash_of(1)),
        Err(StoreError::DihedralMismatch { store_has: true })
    ));
    w.finish().expect("finish");
    let s = Store::open(&path).expect("open");
    let r: Vec<_> = s.records().collect::<Result<_>>().expect("records");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].outcome, Outcome::Hashed(d.into()));
    assert_eq!(r[0].hash().map(|h| h.hash), Some(d.hashes[0]));
}

#[test]
fn truncation_at_every_byte_gives_a_record_prefix_or_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, items) = small_store(dir.path());
    let bytes = std::fs::read(&path).expect("read");
    for len in 0..=bytes.len() {
        match Store::from_bytes(&bytes[..len]) {
            Err(StoreError::Truncated { needed, available }) => {
                assert!(len < HEADER_LEN, "len {len}");
                assert_eq!((needed, available), (HEADER_LEN as u64, len as u64));
            }
            Err(e) => panic!("len {len}: unexpected error {e}"),
            Ok(s) => {
                let got = read_items(&s).expect("sealed blocks read back");
                assert_eq!(got[..], items[..got.len()], "len {len}");
                let whole = (len - HEADER_LEN) / MIN_BLOCK_SIZE as usize;
                assert_eq!(s.num_blocks() as usize, whole, "len {len}");
                s.verify().expect("a truncated store verifies");
            }
        }
    }
}

/// The block a reader's error names, if it is a damaged-block error.
fn corrupt_block_of(e: &StoreError) -> Option<u64> {
    match e {
        StoreError::BlockCorrupt { block, .. } | StoreError::Corrupt { block, .. } => Some(*block),
        _ => None,
    }
}

#[test]
fn flipping_any_byte_of_any_block_fails_every_reader_naming_the_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, items) = small_store(dir.path());
    let bytes = std::fs::read(&path).expect("read");
    let bs = MIN_BLOCK_SIZE as usize;
    let num_blocks = (bytes.len() - HEADER_LEN) / bs;
    assert!(num_blocks >= 2);
    // Every byte of every block, the last one included (format 1 took that for a torn tail).
    for pos in HEADER_LEN..bytes.len() {
        let block = ((pos - HEADER_LEN) / bs) as u64;
        let mut b = bytes.clone();
        b[pos] ^= 0x5A;
        let s = Store::from_bytes(b).expect("header intact");
        assert_eq!(s.num_blocks() as usize, num_blocks, "flip at {pos}");
        let e = s.verify().expect_err("verify");
        assert_eq!(corrupt_block_of(&e), Some(block), "flip at {pos}: {e}");
        // The records reader fails at that block, after exactly the records before it.
        let mut good = 0;
        let mut failed = None;
        for r in s.records() {
            match r {
                Ok(_) => good += 1,
                Err(e) => failed = Some(e),
            }
        }
        let e = failed.unwrap_or_else(|| panic!("flip at {pos}: records read it"));
        assert_eq!(corrupt_block_of(&e), Some(block), "flip at {pos}: {e}");
        let before: usize = (0..block).map(|i| s_len(&bytes, i)).sum();
        assert_eq!(good, before, "flip at {pos}");
        assert!(good <= items.len());
    }
}

/// Number of records of block `i` of an intact store's bytes.
fn s_len(bytes: &[u8], i: u64) -> usize {
    Store::from_bytes(bytes)
        .expect("intact")
        .block(i)
        .expect("intact")
        .len()
}

#[test]
fn a_checksum_error_names_the_file_block_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = small_store(dir.path());
    let mut bytes = std::fs::read(&path).expect("read");
    let bs = MIN_BLOCK_SIZE as usize;
    bytes[HEADER_LEN + bs + 100] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    let s = Store::open(&path).expect("open");
    let e = s.records().find_map(|r| r.err()).expect("an error");
    match &e {
        StoreError::BlockCorrupt {
            path: Some(p),
            block: 1,
            offset,
            problem: BlockProblem::ChecksumMismatch { .. },
        } => {
            assert_eq!(p, &path);
            assert_eq!(*offset as usize, HEADER_LEN + bs);
        }
        other => panic!("{other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains("block 1") && text.contains(&format!("{}", HEADER_LEN + bs)));
    assert!(text.contains(&path.display().to_string()), "{text}");
}

#[test]
fn a_never_sealed_last_block_is_a_torn_tail_and_resume_removes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, items) = small_store(dir.path());
    let mut bytes = std::fs::read(&path).expect("read");
    let bs = MIN_BLOCK_SIZE as usize;
    let last = bytes.len() - bs;
    let n_last = s_len(&bytes, ((last - HEADER_LEN) / bs) as u64);
    // The body written, the seal not yet: what a crash between the two writes leaves.
    bytes[last..last + SEAL_LEN].fill(0);
    std::fs::write(&path, &bytes).expect("write");
    let s = Store::open(&path).expect("open");
    assert_eq!(s.torn_tail_bytes() as usize, bs);
    assert_eq!(s.verify().expect("verify").torn_tail_bytes as usize, bs);
    assert_eq!(
        read_items(&s).expect("read"),
        items[..items.len() - n_last].to_vec()
    );
    drop(s);
    let (w, rec) = StoreWriter::resume(&path, &StoreOptions::new()).expect("resume");
    assert_eq!(rec.truncated_bytes as usize, bs);
    w.finish().expect("finish");
    assert_eq!(std::fs::metadata(&path).expect("stat").len() as usize, last);
}

#[test]
fn a_never_sealed_block_before_sealed_ones_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = small_store(dir.path());
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[HEADER_LEN..HEADER_LEN + SEAL_LEN].fill(0);
    let s = Store::from_bytes(bytes).expect("open");
    assert!(matches!(
        s.block(0),
        Err(StoreError::BlockCorrupt {
            block: 0,
            problem: BlockProblem::NeverSealed,
            ..
        })
    ));
}

#[test]
fn resume_refuses_a_damaged_last_block_and_leaves_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = small_store(dir.path());
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 100;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    match StoreWriter::resume(&path, &StoreOptions::new()) {
        Err(StoreError::BlockCorrupt {
            problem: BlockProblem::ChecksumMismatch { .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[test]
fn every_header_bit_flip_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = small_store(dir.path());
    let bytes = std::fs::read(&path).expect("read");
    for bit in 0..HEADER_LEN * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        assert!(Store::from_bytes(b).is_err(), "bit {bit} accepted");
    }
}

fn header_with(f: impl FnOnce(&mut super::format::HeaderRaw)) -> Vec<u8> {
    let mut h = super::format::HeaderRaw::new(false, MIN_BLOCK_SIZE, &HashParams::default());
    f(&mut h);
    h.header_crc = h.compute_crc().to_le_bytes();
    bytemuck::bytes_of(&h).to_vec()
}

#[test]
fn open_rejects_bad_magic() {
    let mut b = header_with(|_| {});
    b[0] = b'I';
    assert!(matches!(
        Store::from_bytes(b),
        Err(StoreError::BadMagic { .. })
    ));
}

#[test]
fn open_rejects_text_mode_mangled_magic() {
    let b = header_with(|_| {});
    // \r\n → \n, as a text-mode transfer does; pad back to the header length.
    let mut mangled: Vec<u8> = b[..5].iter().chain(&b[6..]).copied().collect();
    mangled.push(0);
    assert!(matches!(
        Store::from_bytes(mangled),
        Err(StoreError::BadMagic { .. })
    ));
    assert_eq!(&b[..8], &MAGIC);
}

#[test]
fn open_rejects_newer_version() {
    let b = header_with(|h| h.format_version = 3u32.to_le_bytes());
    match Store::from_bytes(b) {
        Err(StoreError::UnsupportedVersion {
            found: 3,
            oldest: 1,
            newest: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn open_rejects_header_with_bad_checksum() {
    let mut b = header_with(|_| {});
    b[60] ^= 1;
    assert!(matches!(
        Store::from_bytes(b),
        Err(StoreError::ChecksumMismatch {
            section: Section::Header,
            ..
        })
    ));
}

#[test]
fn open_rejects_inconsistent_header_fields() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "header_len",
            header_with(|h| h.header_len = 65u32.to_le_bytes()),
        ),
        (
            "record_size",
            header_with(|h| h.record_size = 272u32.to_le_bytes()),
        ),
        (
            "block_size",
            header_with(|h| h.block_size = 4096u32.to_le_bytes()),
        ),
        (
            "block_size",
            header_with(|h| h.block_size = 10_000u32.to_le_bytes()),
        ),
        (
            "hash_algorithm",
            header_with(|h| h.hash_algorithm = 2u32.to_le_bytes()),
        ),
        ("flags", header_with(|h| h.flags = 2u32.to_le_bytes())),
        ("reserved", header_with(|h| h.reserved[1] = 1)),
        ("convention", header_with(|h| h.convention = 0)),
        ("convention", header_with(|h| h.convention = 3)),
        ("param_flags", header_with(|h| h.param_flags = 2)),
        // Format 1 had these bytes reserved.
        (
            "reserved",
            header_with(|h| h.format_version = 1u32.to_le_bytes()),
        ),
    ];
    for (field, b) in cases {
        match Store::from_bytes(b) {
            Err(StoreError::BadHeader { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn corrupt_block_with_valid_checksum_is_an_error_not_a_panic() {
    let mut b = header_with(|_| {});
    let bs = MIN_BLOCK_SIZE as usize;
    let mut block = vec![0u8; bs];
    block[12..16].copy_from_slice(&1000u32.to_le_bytes()); // 1000 records × 48 B > 8 KiB
    let crc = super::format::block_crc(&block, 2);
    block[..4].copy_from_slice(&crc.to_le_bytes());
    block[4..8].copy_from_slice(&super::format::SEAL_MARKER);
    b.extend_from_slice(&block);
    let s = Store::from_bytes(b).expect("sealed");
    assert!(matches!(
        s.block(0),
        Err(StoreError::Corrupt { block: 0, .. })
    ));
    assert!(matches!(s.verify(), Err(StoreError::Corrupt { .. })));
    assert!(s.records().next().expect("one item").is_err());
}

#[test]
fn writer_rejects_long_ids_and_bad_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        StoreWriter::create(&dir.path().join("a"), &StoreOptions::new().block_size(5000)),
        Err(StoreError::InvalidOption {
            name: "block_size",
            ..
        })
    ));
    let mut w = StoreWriter::create(&dir.path().join("b"), &StoreOptions::new()).expect("create");
    assert!(matches!(
        w.append_error(&"x".repeat(5000), "c"),
        Err(StoreError::IdTooLong { len: 5000, .. })
    ));
    // A long cause is cut at a char boundary, not rejected.
    w.append_error("y", &"é".repeat(2000)).expect("append");
    w.finish().expect("finish");
    let s = Store::open(&dir.path().join("b")).expect("open");
    let r = s.records().next().expect("one").expect("ok");
    assert!(matches!(r.outcome, Outcome::Failed { cause } if cause.len() == 1024));
}

#[test]
fn create_refuses_to_overwrite_and_open_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("exists");
    std::fs::write(&p, b"x").expect("write");
    assert!(matches!(
        StoreWriter::create(&p, &StoreOptions::new()),
        Err(StoreError::AlreadyExists { path }) if path == p
    ));
    assert_eq!(std::fs::read(&p).expect("read"), b"x");
    let missing = dir.path().join("missing");
    assert!(matches!(Store::open(&missing), Err(StoreError::Io { path, .. }) if path == missing));
    assert!(matches!(
        Store::open(&p),
        Err(StoreError::Truncated {
            needed: 64,
            available: 1
        })
    ));
}

#[test]
fn resume_truncates_a_torn_tail_and_appends_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, items) = small_store(dir.path());
    let full = std::fs::read(&path).expect("read");
    let bs = MIN_BLOCK_SIZE as usize;
    // Cut inside the last block, as a crash during its write would.
    let cut = full.len() - bs / 2;
    std::fs::write(&path, &full[..cut]).expect("write");
    let kept = read_items(&Store::from_bytes(&full[..cut]).expect("open")).expect("read");
    let opts = StoreOptions::new();
    let (mut w, rec) = StoreWriter::resume(&path, &opts).expect("resume");
    assert_eq!(
        rec.truncated_bytes as usize,
        cut - HEADER_LEN - (cut - HEADER_LEN) / bs * bs
    );
    for it in &items[kept.len()..] {
        match it {
            Item::Hash(id, h) => w.append_hash(id, h).expect("append"),
            Item::Error(id, c) => w.append_error(id, c).expect("append"),
        }
    }
    w.finish().expect("finish");
    let s = Store::open(&path).expect("open");
    assert_eq!(read_items(&s).expect("read"), items);
    assert_eq!(s.verify().expect("verify").torn_tail_bytes, 0);
    assert!(matches!(
        StoreWriter::resume(&path, &StoreOptions::new().dihedral(true)),
        Err(StoreError::DihedralMismatch { store_has: false })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn write_open_read_round_trip(
        specs in proptest::collection::vec(
            (any::<u64>(), "[a-z0-9/._ é]{0,40}", proptest::option::of("[ -~]{0,80}")), 0..300),
        flush_every in 0usize..50,
    ) {
        let items: Vec<Item> = specs
            .into_iter()
            .map(|(seed, id, err)| match err {
                Some(cause) => Item::Error(id, cause),
                None => Item::Hash(id, hash_of(seed)),
            })
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.imps");
        write_items(&path, &items, &StoreOptions::new().block_size(MIN_BLOCK_SIZE), flush_every);
        let s = Store::from_bytes(std::fs::read(&path).expect("read")).expect("open");
        prop_assert_eq!(read_items(&s).expect("read"), items);
        s.verify().expect("verify");
    }
}

// --- golden files -----------------------------------------------------------------------------

fn golden_dir(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/format/store/v{version}"))
}

/// The fixed input of the golden files (see their README).
fn golden_items() -> Vec<Item> {
    let mut v = small_items(20);
    v.push(Item::Hash(
        "tar/shard-0001.tar:ünïcode/😀.png".into(),
        hash_of(999),
    ));
    v.push(Item::Error("empty".into(), String::new()));
    v
}

/// The hashing parameters of the v2 golden files: none of them the default.
fn golden_params() -> HashParams {
    HashParams::new()
        .convention(crate::hash::Convention::CppCli)
        .jpeg_min_side(256)
        .exif(true)
        .id_scheme(2)
}

fn write_golden(path: &Path) {
    // Flush after 15 items so the file holds a partly filled block followed by another.
    write_items(
        path,
        &golden_items(),
        &StoreOptions::new()
            .block_size(MIN_BLOCK_SIZE)
            .hash_params(golden_params()),
        15,
    );
}

fn write_golden_dihedral(path: &Path) {
    let mut w = StoreWriter::create(
        path,
        &StoreOptions::new()
            .dihedral(true)
            .block_size(MIN_BLOCK_SIZE)
            .hash_params(golden_params()),
    )
    .expect("create");
    for i in 0..5u64 {
        let d = DihedralHashes {
            hashes: std::array::from_fn(|k| hash_of(i * 8 + k as u64).hash),
            quality: (i * 20) as u8,
        };
        w.append_dihedral(&format!("d{i}.png"), &d).expect("append");
    }
    w.append_error("d5.png", "truncated file").expect("append");
    w.finish().expect("finish");
}

/// The golden bytes with the writer-version field (diagnostics only) set to this build's, and
/// the header CRC recomputed, so a version bump alone does not break the comparison.
fn golden_as_this_version(mut golden: Vec<u8>) -> Vec<u8> {
    let fresh = super::format::HeaderRaw::new(false, MIN_BLOCK_SIZE, &HashParams::default());
    golden[32..48].copy_from_slice(&fresh.writer_version);
    let crc = crc32c::crc32c(&golden[..60]);
    golden[60..64].copy_from_slice(&crc.to_le_bytes());
    golden
}

#[test]
fn golden_v2_files_open_and_match_the_writer_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    type Writer = fn(&Path);
    let cases: [(&str, Writer); 2] = [
        ("plain.imps", write_golden),
        ("dihedral.imps", write_golden_dihedral),
    ];
    for (name, write) in cases {
        let golden_path = golden_dir(2).join(name);
        let fresh = dir.path().join(name);
        write(&fresh);
        let fresh_bytes = std::fs::read(&fresh).expect("read");
        if std::env::var_os("IMPRINT_BLESS").is_some() {
            std::fs::write(&golden_path, &fresh_bytes).expect("bless golden file");
        }
        let golden = std::fs::read(&golden_path).expect("golden file is committed");
        let store = Store::from_bytes(&golden[..]).expect("golden opens");
        store.verify().expect("golden verifies");
        assert_eq!(store.info().format_version, 2);
        assert_eq!(store.info().hash_params, Some(golden_params()));
        assert_eq!(
            golden_as_this_version(golden.clone()),
            fresh_bytes,
            "{name}: the writer no longer reproduces the v2 golden file"
        );
    }
    let plain = Store::from_bytes(std::fs::read(golden_dir(2).join("plain.imps")).expect("read"))
        .expect("open");
    assert_eq!(read_items(&plain).expect("read"), golden_items());
    assert_eq!(plain.num_blocks(), 2);
}

#[test]
fn golden_v1_files_still_open_and_read_back() {
    let plain = Store::from_bytes(std::fs::read(golden_dir(1).join("plain.imps")).expect("read"))
        .expect("open");
    plain.verify().expect("verifies");
    assert_eq!(plain.info().format_version, 1);
    assert_eq!(plain.info().hash_params, None);
    assert_eq!(read_items(&plain).expect("read"), golden_items());
    assert_eq!(plain.num_blocks(), 2);
    let d = Store::from_bytes(std::fs::read(golden_dir(1).join("dihedral.imps")).expect("read"))
        .expect("open");
    assert!(d.info().dihedral);
    assert_eq!(d.verify().expect("verifies").num_records, 6);
    // Format 1 keeps its (ambiguous) rule: a damaged last block is taken for a torn tail...
    let mut b = std::fs::read(golden_dir(1).join("plain.imps")).expect("read");
    let n = b.len();
    b[n - 100] ^= 1;
    let s = Store::from_bytes(b).expect("open");
    assert_eq!(s.num_blocks(), 1);
    // ... but every other block is checked at use.
    let mut b = std::fs::read(golden_dir(1).join("plain.imps")).expect("read");
    b[HEADER_LEN + 100] ^= 1;
    let s = Store::from_bytes(b).expect("open");
    assert!(matches!(
        s.records().find_map(|r| r.err()),
        Some(StoreError::BlockCorrupt { block: 0, .. })
    ));
}

#[test]
fn writers_refuse_to_append_to_a_format_1_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("old.imps");
    let golden = std::fs::read(golden_dir(1).join("plain.imps")).expect("read");
    std::fs::write(&p, &golden).expect("write");
    match StoreWriter::resume(&p, &StoreOptions::new().block_size(MIN_BLOCK_SIZE)) {
        Err(e @ StoreError::FormatTooOldToAppend { found: 1, .. }) => {
            assert!(
                e.to_string().contains("store merge --assume-v1-params"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&p).expect("read"), golden);
}

#[test]
fn resume_refuses_other_hashing_parameters_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("s.imps");
    let opts = StoreOptions::new().hash_params(golden_params());
    write_items(&p, &small_items(10), &opts, 0);
    assert_eq!(
        Store::open(&p).expect("open").info().hash_params,
        Some(golden_params())
    );
    let before = std::fs::read(&p).expect("read");
    for other in [
        golden_params().convention(crate::hash::Convention::FullResolution),
        golden_params().jpeg_min_side(0),
        golden_params().exif(false),
        golden_params().id_scheme(1),
    ] {
        match StoreWriter::resume(&p, &StoreOptions::new().hash_params(other)) {
            Err(e @ StoreError::ParamsMismatch { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&golden_params().to_string()), "{text}");
                assert!(text.contains(&other.to_string()), "{text}");
            }
            r => panic!("{other}: {r:?}"),
        }
    }
    assert_eq!(std::fs::read(&p).expect("read"), before);
    StoreWriter::resume(&p, &opts).expect("the same parameters resume");
}

#[test]
fn a_second_writer_is_refused_while_the_first_is_alive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("locked.imps");
    let opts = StoreOptions::new();
    let mut first = StoreWriter::create(&path, &opts).expect("create");
    first.append_hash("a", &hash_of(1)).expect("append");
    first.flush().expect("flush");
    let len = std::fs::metadata(&path).expect("metadata").len();
    match StoreWriter::resume(&path, &opts) {
        Err(StoreError::Locked { path: p }) => assert_eq!(p, path),
        other => panic!("expected Locked, got {other:?}"),
    }
    // The refused writer changed nothing, and readers take no lock.
    assert_eq!(std::fs::metadata(&path).expect("metadata").len(), len);
    let store = Store::open(&path).expect("open while a writer holds the lock");
    assert_eq!(read_items(&store).expect("read").len(), 1);
    first.append_hash("b", &hash_of(2)).expect("append");
    first.finish().expect("finish");
    // Once the first writer is gone, a resume takes the lock.
    let (mut again, rec) = StoreWriter::resume(&path, &opts).expect("resume after finish");
    assert_eq!(rec.truncated_bytes, 0);
    again.append_hash("c", &hash_of(3)).expect("append");
    again.finish().expect("finish");
    let items = read_items(&Store::open(&path).expect("open")).expect("read");
    let want: Vec<Item> = [("a", 1), ("b", 2), ("c", 3)]
        .iter()
        .map(|&(id, s)| Item::Hash(id.to_owned(), hash_of(s)))
        .collect();
    assert_eq!(items, want);
}

#[test]
fn without_hard_links_a_store_is_created_in_place_and_never_over_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let items: Vec<Item> = (0..50)
        .map(|i| Item::Hash(format!("img/{i}"), hash_of(i)))
        .collect();
    let opts = StoreOptions::new().block_size(MIN_BLOCK_SIZE);
    let linked = dir.path().join("linked.imps");
    write_items(&linked, &items, &opts, 7);
    NO_HARD_LINKS.set(true);
    let in_place = dir.path().join("in-place.imps");
    write_items(&in_place, &items, &opts, 7);
    // The same bytes, and no temporary file left.
    assert_eq!(
        std::fs::read(&in_place).expect("read"),
        std::fs::read(&linked).expect("read")
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // Never over an existing file, whose bytes stay as they were.
    let before = std::fs::read(&linked).expect("read");
    assert!(matches!(
        StoreWriter::create(&linked, &opts),
        Err(StoreError::AlreadyExists { path }) if path == linked
    ));
    assert_eq!(std::fs::read(&linked).expect("read"), before);
    // And locked like a linked store.
    let other = dir.path().join("other.imps");
    let _writer = StoreWriter::create(&other, &opts).expect("create");
    assert!(matches!(
        StoreWriter::resume(&other, &opts),
        Err(StoreError::Locked { .. })
    ));
    NO_HARD_LINKS.set(false);
}

// --- creation: lock first, stale temporary files, whole stores -------------------------------

#[test]
fn a_creator_never_touches_a_temporary_file_another_creator_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("race.imps");
    let opts = StoreOptions::new();
    // The first creator's store, still being built under its temporary name.
    let mut first = StoreWriter::create_whole(&path, &opts).expect("create");
    first.append_hash("a", &hash_of(1)).expect("append");
    first.flush().expect("flush");
    let tmp = super::writer::creating_path(&path);
    let before = std::fs::read(&tmp).expect("read");
    assert!(matches!(
        StoreWriter::create(&path, &opts),
        Err(StoreError::Locked { .. })
    ));
    assert!(matches!(
        StoreWriter::create_whole(&path, &opts),
        Err(StoreError::Locked { .. })
    ));
    // Not truncated, not rewritten.
    assert_eq!(std::fs::read(&tmp).expect("read"), before);
    assert!(!path.exists(), "a whole store appears only on finish");
    first.finish().expect("finish");
    assert!(!tmp.exists());
    assert_eq!(
        read_items(&Store::open(&path).expect("open")).expect("read"),
        vec![Item::Hash("a".into(), hash_of(1))]
    );
}

#[test]
fn concurrent_creators_leave_one_intact_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    for attempt in 0..100 {
        let path = dir.path().join(format!("r{attempt}.imps"));
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Result<u64>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2u64)
                .map(|t| {
                    let (path, barrier) = (&path, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let mut w = if t == 0 || attempt % 2 == 0 {
                            StoreWriter::create(path, &StoreOptions::new())?
                        } else {
                            StoreWriter::create_whole(path, &StoreOptions::new())?
                        };
                        for i in 0..50 {
                            w.append_hash(&format!("{t}-{i}"), &hash_of(t * 100 + i))?;
                        }
                        w.finish()?;
                        Ok(t)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        let winners: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .copied()
            .collect();
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(
                        e,
                        StoreError::Locked { .. } | StoreError::AlreadyExists { .. }
                    ),
                    "attempt {attempt}: {e}"
                );
            }
        }
        assert_eq!(winners.len(), 1, "attempt {attempt}: {results:?}");
        let s = Store::open(&path).expect("the winner's store opens");
        let items = read_items(&s).expect("and reads");
        let t = winners[0];
        let want: Vec<Item> = (0..50)
            .map(|i| Item::Hash(format!("{t}-{i}"), hash_of(t * 100 + i)))
            .collect();
        assert_eq!(items, want, "attempt {attempt}");
        assert!(!super::writer::creating_path(&path).exists());
    }
}

#[test]
fn a_stale_temporary_file_is_replaced_by_create_and_removed_by_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.imps");
    let tmp = super::writer::creating_path(&path);
    // Left by a run killed while creating (e.g. ENOSPC writing the header): no lock on it.
    std::fs::write(&tmp, b"partial header").expect("write");
    let w = StoreWriter::create(&path, &StoreOptions::new()).expect("create over a stale one");
    w.finish().expect("finish");
    assert!(!tmp.exists());
    Store::open(&path).expect("a good store");
    // A stale one beside an existing store: resume removes it.
    std::fs::write(&tmp, b"stale").expect("write");
    let (w, rec) = StoreWriter::resume(&path, &StoreOptions::new()).expect("resume");
    assert_eq!(rec.removed_stale_creating, Some(5));
    assert!(!tmp.exists());
    drop(w);
    // Killed between linking and removing the name: both names are the store itself.
    std::fs::hard_link(&path, &tmp).expect("link");
    let (w, rec) = StoreWriter::resume(&path, &StoreOptions::new()).expect("resume");
    assert!(rec.removed_stale_creating.is_some_and(|n| n > 0));
    assert!(!tmp.exists());
    drop(w);
    Store::open(&path).expect("the store is intact");
    // A live creator's temporary file (locked) is left alone.
    let other = dir.path().join("o.imps");
    let _live = StoreWriter::create_whole(&other, &StoreOptions::new()).expect("create");
    std::fs::copy(&path, &other).expect("a store at the name meanwhile");
    let (_w, rec) = StoreWriter::resume(&other, &StoreOptions::new()).expect("resume");
    assert_eq!(rec.removed_stale_creating, None);
    assert!(super::writer::creating_path(&other).exists());
}

#[test]
fn an_abandoned_whole_store_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w.imps");
    let mut w = StoreWriter::create_whole(&path, &StoreOptions::new()).expect("create");
    w.append_hash("a", &hash_of(1)).expect("append");
    w.flush().expect("flush");
    w.abandon();
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert!(names.is_empty(), "{names:?}");
}

// --- merge -------------------------------------------------------------------------------------

fn merge_inputs(dir: &Path, params: &[Option<HashParams>]) -> Vec<PathBuf> {
    params
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let path = dir.join(format!("in{k}.imps"));
            let items: Vec<Item> = (0..30)
                .map(|i| Item::Hash(format!("{k}/{i}"), hash_of(k as u64 * 1000 + i)))
                .collect();
            match p {
                Some(p) => write_items(
                    &path,
                    &items,
                    &StoreOptions::new()
                        .block_size(MIN_BLOCK_SIZE)
                        .hash_params(*p),
                    10,
                ),
                None => std::fs::write(
                    &path,
                    std::fs::read(golden_dir(1).join("plain.imps")).expect("read"),
                )
                .expect("write"),
            }
            path
        })
        .collect()
}

#[test]
fn merge_refuses_mixed_parameters_and_unstated_format_1_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = HashParams::default();
    let b = a.exif(true);
    let out = dir.path().join("out.imps");
    let inputs = merge_inputs(dir.path(), &[Some(a), Some(b), None]);
    match merge(&out, &inputs[..2], &MergeOptions::new()) {
        Err(e @ StoreError::MergeParamsMismatch { .. }) => {
            let t = e.to_string();
            assert!(
                t.contains(&a.to_string()) && t.contains(&b.to_string()),
                "{t}"
            );
        }
        other => panic!("{other:?}"),
    }
    let v1 = [inputs[0].clone(), inputs[2].clone()];
    assert!(matches!(
        merge(&out, &v1, &MergeOptions::new()),
        Err(StoreError::UnknownParams { path }) if path == inputs[2]
    ));
    assert!(!out.exists());
    let r = merge(&out, &v1, &MergeOptions::new().assume_v1_params(Some(a))).expect("merge");
    assert_eq!(r.num_kept, 30 + 22);
    let s = Store::open(&out).expect("open");
    assert_eq!(s.info().format_version, FORMAT_VERSION);
    assert_eq!(s.info().hash_params, Some(a));
}

#[test]
fn merge_fails_on_a_damaged_block_or_skips_it_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = HashParams::default();
    let inputs = merge_inputs(dir.path(), &[Some(p), Some(p)]);
    let mut b = std::fs::read(&inputs[1]).expect("read");
    b[HEADER_LEN + 200] ^= 4;
    std::fs::write(&inputs[1], &b).expect("write");
    let out = dir.path().join("out.imps");
    match merge(&out, &inputs, &MergeOptions::new()) {
        Err(StoreError::BlockCorrupt {
            path: Some(path),
            block: 0,
            ..
        }) => assert_eq!(path, inputs[1]),
        other => panic!("{other:?}"),
    }
    assert!(!out.exists(), "no partial output");
    assert!(!super::writer::creating_path(&out).exists());
    let r = merge(
        &out,
        &inputs,
        &MergeOptions::new().skip_corrupt_blocks(true),
    )
    .expect("merge");
    assert_eq!(r.skipped_blocks.len(), 1);
    assert_eq!(r.skipped_blocks[0].path, inputs[1]);
    assert_eq!(r.skipped_blocks[0].block, 0);
    assert_eq!(r.num_kept, 30 + 20);
    Store::open(&out).expect("open").verify().expect("intact");
}

#[test]
fn merge_refuses_stores_of_two_kinds_and_no_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = merge_inputs(dir.path(), &[Some(HashParams::default())]);
    let d = dir.path().join("d.imps");
    StoreWriter::create(&d, &StoreOptions::new().dihedral(true))
        .expect("create")
        .finish()
        .expect("finish");
    let out = dir.path().join("out.imps");
    assert!(matches!(
        merge(&out, &[plain[0].clone(), d.clone()], &MergeOptions::new()),
        Err(StoreError::MergeDihedralMismatch { other, .. }) if other == d
    ));
    assert!(matches!(
        merge(&out, &[], &MergeOptions::new()),
        Err(StoreError::InvalidOption { .. })
    ));
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn open_and_resume_refuse_directories_and_pipes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut paths = vec![dir.path().to_owned()];
    if made {
        paths.push(fifo);
    }
    for p in paths {
        assert!(
            matches!(Store::open(&p), Err(StoreError::NotAFile { path, .. }) if path == p),
            "{}",
            p.display()
        );
        assert!(matches!(
            StoreWriter::resume(&p, &StoreOptions::new()),
            Err(StoreError::NotAFile { .. })
        ));
    }
}
