//! Store unit and property tests: round trips, truncation at every byte, bit flips, one test
//! per error variant, resume recovery, and the v1 golden files.

use super::format::{HEADER_LEN, MAGIC, MIN_BLOCK_SIZE};
use super::*;
use crate::hash::{DihedralHashes, Pdq256, PdqHash};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

thread_local! {
    /// Makes this thread's store creations find no hard links, as on FAT or a FUSE mount.
    pub(super) static NO_HARD_LINKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

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
                Outcome::Hash(h) => Item::Hash(r.id.to_owned(), h),
                Outcome::Failed { cause } => Item::Error(r.id.to_owned(), cause.to_owned()),
                Outcome::Dihedral(_) => unreachable!("tests write plain stores here"),
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
    assert_eq!(r[0].outcome, Outcome::Dihedral(d));
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

#[test]
fn flipping_any_byte_of_a_sealed_block_is_caught_by_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = small_store(dir.path());
    let bytes = std::fs::read(&path).expect("read");
    let bs = MIN_BLOCK_SIZE as usize;
    // Every byte of the first block (the last one would be dropped as a torn tail instead).
    for pos in HEADER_LEN..HEADER_LEN + bs {
        let mut b = bytes.clone();
        b[pos] ^= 0x5A;
        let s = Store::from_bytes(b).expect("header intact");
        assert!(s.verify().is_err(), "flip at {pos} not caught");
        // Reading never panics, whatever it returns.
        let _ = s.records().count();
    }
}

#[test]
fn flipping_a_byte_of_the_last_block_drops_it_as_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = small_store(dir.path());
    let mut b = std::fs::read(&path).expect("read");
    let n = Store::from_bytes(&b[..]).expect("open").num_blocks();
    let last = b.len() - 100;
    b[last] ^= 1;
    let s = Store::from_bytes(b).expect("open");
    assert_eq!(s.num_blocks(), n - 1);
    s.verify().expect("the remaining blocks are intact");
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
    let mut h = super::format::HeaderRaw::new(false, MIN_BLOCK_SIZE);
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
    let b = header_with(|h| h.format_version = 2u32.to_le_bytes());
    match Store::from_bytes(b) {
        Err(StoreError::UnsupportedVersion {
            found: 2,
            oldest: 1,
            newest: 1,
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
        ("reserved", header_with(|h| h.reserved[11] = 1)),
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
    block[8..12].copy_from_slice(&1000u32.to_le_bytes()); // 1000 records × 48 B > 8 KiB
    let crc = super::format::block_crc(&block);
    block[..4].copy_from_slice(&crc.to_le_bytes());
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
        Err(StoreError::Io { path, .. }) if path == p
    ));
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

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format/store/v1")
}

/// The fixed input of the v1 golden files (see their README).
fn golden_items() -> Vec<Item> {
    let mut v = small_items(20);
    v.push(Item::Hash(
        "tar/shard-0001.tar:ünïcode/😀.png".into(),
        hash_of(999),
    ));
    v.push(Item::Error("empty".into(), String::new()));
    v
}

fn write_golden(path: &Path) {
    // Flush after 15 items so the file holds a partly filled block followed by another.
    write_items(
        path,
        &golden_items(),
        &StoreOptions::new().block_size(MIN_BLOCK_SIZE),
        15,
    );
}

fn write_golden_dihedral(path: &Path) {
    let mut w = StoreWriter::create(
        path,
        &StoreOptions::new()
            .dihedral(true)
            .block_size(MIN_BLOCK_SIZE),
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
    let fresh = super::format::HeaderRaw::new(false, MIN_BLOCK_SIZE);
    golden[32..48].copy_from_slice(&fresh.writer_version);
    let crc = crc32c::crc32c(&golden[..60]);
    golden[60..64].copy_from_slice(&crc.to_le_bytes());
    golden
}

#[test]
fn golden_v1_files_open_and_match_the_writer_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    type Writer = fn(&Path);
    let cases: [(&str, Writer); 2] = [
        ("plain.imps", write_golden),
        ("dihedral.imps", write_golden_dihedral),
    ];
    for (name, write) in cases {
        let golden_path = golden_dir().join(name);
        let fresh = dir.path().join(name);
        write(&fresh);
        let fresh_bytes = std::fs::read(&fresh).expect("read");
        if std::env::var_os("IMPRINT_BLESS").is_some() {
            std::fs::write(&golden_path, &fresh_bytes).expect("bless golden file");
        }
        let golden = std::fs::read(&golden_path).expect("golden file is committed");
        let store = Store::from_bytes(&golden[..]).expect("golden opens");
        store.verify().expect("golden verifies");
        assert_eq!(store.info().format_version, 1);
        assert_eq!(
            golden_as_this_version(golden.clone()),
            fresh_bytes,
            "{name}: the writer no longer reproduces the v1 golden file"
        );
    }
    let plain = Store::from_bytes(std::fs::read(golden_dir().join("plain.imps")).expect("read"))
        .expect("open");
    assert_eq!(read_items(&plain).expect("read"), golden_items());
    assert_eq!(plain.num_blocks(), 2);
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
        Err(StoreError::Io { path, .. }) if path == linked
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
