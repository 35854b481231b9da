//! Behaviour tests of the index: MIH against the flat oracle, HNSW recall, determinism and
//! corruption handling. All data is seeded.

use super::format::{self, SectionKind, HEADER_CRC_OFFSET, HEADER_LEN, SECTIONS};
use super::*;
use crate::hash::{Pdq256, DIHEDRALS};
use crate::rng::Rng;

fn random_hash(r: &mut Rng) -> Pdq256 {
    Pdq256::from_words(r.words())
}

/// `h` with exactly `bits` distinct bits flipped.
fn flip(r: &mut Rng, h: &Pdq256, bits: u32) -> Pdq256 {
    let mut out = *h;
    let mut flipped = 0;
    let mut done = [false; 256];
    while flipped < bits {
        let k = r.below(256) as usize;
        if !done[k] {
            done[k] = true;
            out.flip_bit(k);
            flipped += 1;
        }
    }
    out
}

/// Centres with variants at 0–30 flipped bits, like the benchmark data.
fn near_duplicates(seed: u64, centres: usize, per: usize) -> Vec<Pdq256> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(centres * per);
    for _ in 0..centres {
        let c = random_hash(&mut r);
        out.push(c);
        for _ in 1..per {
            let b = r.below(31) as u32;
            out.push(flip(&mut r, &c, b));
        }
    }
    out
}

/// Biased bits (most bits usually 0, a few usually 1), heavy exact-duplicate clusters and a
/// near-constant block: the buckets MIH hates.
fn skewed(seed: u64, n: usize) -> Vec<Pdq256> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match r.below(4) {
            0 => {
                let c = random_hash(&mut r);
                for _ in 0..(1 + r.below(60)) {
                    out.push(c);
                }
            }
            1 => out.push(Pdq256::from_words([0, 0, r.below(16), 0])),
            _ => {
                let mut w = [0u64; 4];
                for word in &mut w {
                    // Each bit set with probability 1/8 or 7/8, by word.
                    let (a, b, c) = (r.next_u64(), r.next_u64(), r.next_u64());
                    *word = if r.below(2) == 0 {
                        a & b & c
                    } else {
                        a | b | c
                    };
                }
                out.push(Pdq256::from_words(w));
            }
        }
    }
    out.truncate(n);
    out
}

fn queries(seed: u64, list: &[Pdq256], n: usize) -> Vec<Pdq256> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|i| {
            if i % 5 == 4 {
                random_hash(&mut r)
            } else {
                let base = list[r.below(list.len() as u64) as usize];
                let b = r.below(45) as u32;
                flip(&mut r, &base, b)
            }
        })
        .collect()
}

fn assert_mih_equals_flat(index: &Index<Vec<u8>>, qs: &[Pdq256], radii: &[u32], seed: u64) {
    let mut s1 = SearchScratch::new();
    let mut s2 = SearchScratch::new();
    let mut total = 0;
    for &r in radii {
        for (i, q) in qs.iter().enumerate() {
            // The MIH path itself (small test lists would otherwise be scanned).
            let a = index.radius_via_mih(q, r, &mut s1, false).unwrap().to_vec();
            let b = index.search_radius_flat(q, r, &mut s2).unwrap().to_vec();
            assert_eq!(a, b, "seed {seed}, radius {r}, query {i} ({q})");
            let c = index.search_radius(q, r, &mut s1).unwrap();
            assert_eq!(c, b, "seed {seed}, radius {r}, query {i} ({q})");
            total += a.len();
        }
    }
    assert!(total > 0, "seed {seed}: the data gave no matches at all");
}

fn build(list: &[Pdq256], b: IndexBuilder) -> Index<Vec<u8>> {
    let ids: Vec<String> = (0..list.len()).map(|i| format!("id{i}")).collect();
    Index::from_bytes(b.build(list, &ids).unwrap()).unwrap()
}

#[test]
fn mih_radius_equals_flat_scan_on_near_duplicate_data() {
    for seed in [1, 2] {
        let list = near_duplicates(seed, 400, 8);
        let index = build(&list, IndexBuilder::new().hnsw(false));
        let qs = queries(seed + 100, &list, 150);
        assert_mih_equals_flat(&index, &qs, &[0, 5, 15, 31, 40], seed);
    }
}

#[test]
fn mih_radius_equals_flat_scan_on_skewed_data() {
    for seed in [3, 4] {
        let list = skewed(seed, 4000);
        let index = build(&list, IndexBuilder::new().hnsw(false));
        let qs = queries(seed + 100, &list, 150);
        assert_mih_equals_flat(&index, &qs, &[0, 7, 31, 64], seed);
    }
}

#[test]
fn mih_radius_equals_flat_scan_for_every_substring_count() {
    let list = near_duplicates(5, 150, 6);
    let qs = queries(6, &list, 60);
    for m in [2, 3, 7, 8, 11, 13, 16, 31, 32, 33, 64] {
        let index = build(&list, IndexBuilder::new().hnsw(false).mih_num_substrings(m));
        assert_eq!(index.info().mih_num_substrings, m);
        assert_mih_equals_flat(&index, &qs, &[0, 31, 50], m.into());
    }
}

#[test]
fn radius_search_finds_all_planted_variants() {
    let list = near_duplicates(7, 300, 10);
    let index = build(&list, IndexBuilder::new().hnsw(false));
    let mut s = SearchScratch::new();
    for c in (0..list.len()).step_by(10) {
        let found = index.search_radius(&list[c], 31, &mut s).unwrap();
        for v in c..c + 10 {
            assert!(
                found.iter().any(|m| m.record.0 as usize == v),
                "variant {v} of centre {c} missed"
            );
        }
    }
}

#[test]
fn dihedral_search_reports_the_matching_transform_once_per_entry() {
    let list = near_duplicates(8, 100, 4);
    let index = build(&list, IndexBuilder::new().hnsw(false));
    let mut r = Rng::new(9);
    let mut qs = [Pdq256::ZERO; 8];
    for q in &mut qs {
        *q = random_hash(&mut r);
    }
    qs[5] = flip(&mut r, &list[40], 3);
    qs[6] = flip(&mut r, &list[40], 9);
    let mut s = SearchScratch::new();
    let found = index
        .search_radius_dihedral(&qs, 31, &mut s)
        .unwrap()
        .to_vec();
    let hits: Vec<_> = found.iter().filter(|m| m.record.0 == 40).collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].transform, DIHEDRALS[5]);
    assert_eq!(hits[0].distance, 3);
    // Every reported match is the best over the eight transforms.
    for m in &found {
        let h = index.hash(m.record).unwrap();
        let best = qs.iter().map(|q| q.distance(&h)).min().unwrap();
        assert_eq!(m.distance, best);
    }
}

#[test]
fn hnsw_recall_against_flat_knn() {
    let list = near_duplicates(10, 250, 8);
    let index = build(&list, IndexBuilder::new().seed(11));
    let qs = queries(12, &list, 200);
    let mut s1 = SearchScratch::new();
    let mut s2 = SearchScratch::new();
    let k = 10;
    for (ef, bound) in [(16usize, 0.92), (64, 0.99), (256, 0.999)] {
        let (mut hit, mut total) = (0usize, 0usize);
        for q in &qs {
            let exact = index.search_knn_flat(q, k, &mut s2).unwrap();
            // Count by distance so ties at the k-th distance do not count as misses.
            let kth = exact.last().unwrap().distance;
            let approx = index.search_knn(q, k, ef, &mut s1).unwrap();
            hit += approx.iter().filter(|m| m.distance <= kth).count().min(k);
            total += k;
        }
        let recall = hit as f64 / total as f64;
        assert!(recall >= bound, "ef {ef}: recall@{k} {recall:.3} < {bound}");
    }
}

#[test]
fn build_is_deterministic_across_thread_counts() {
    let list = near_duplicates(13, 100, 6);
    let ids: Vec<String> = (0..list.len()).map(|i| i.to_string()).collect();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let a = one.install(|| IndexBuilder::new().seed(5).build(&list, &ids).unwrap());
    let b = three.install(|| IndexBuilder::new().seed(5).build(&list, &ids).unwrap());
    assert!(a == b, "same seed, different bytes");
    let c = IndexBuilder::new().seed(6).build(&list, &ids).unwrap();
    assert!(a != c, "the seed is not used");
}

#[test]
fn index_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Index<Vec<u8>>>();
    check::<Index<MappedFile>>();
    check::<Index<&[u8]>>();
}

#[test]
fn written_file_opens_verifies_and_names_entries() {
    let list = near_duplicates(14, 50, 4);
    let ids: Vec<String> = (0..list.len()).map(|i| format!("entry,{i} é")).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.idx");
    IndexBuilder::new().write_file(&path, &list, &ids).unwrap();
    let index = Index::open(&path).unwrap();
    index.verify().unwrap();
    assert_eq!(index.len(), list.len());
    assert_eq!(index.id(RecordId(17)).unwrap(), "entry,17 é");
    assert_eq!(index.hash(RecordId(17)), Some(list[17]));
    assert!(index.id(RecordId(list.len() as u32)).is_err());
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "temporary file left behind");
}

#[test]
fn empty_and_id_less_indexes_work() {
    let index = Index::from_bytes(IndexBuilder::new().build::<&str>(&[], &[]).unwrap()).unwrap();
    index.verify().unwrap();
    let mut s = SearchScratch::new();
    assert!(index
        .search_radius(&Pdq256::ZERO, 31, &mut s)
        .unwrap()
        .is_empty());
    assert!(index
        .search_knn_flat(&Pdq256::ZERO, 3, &mut s)
        .unwrap()
        .is_empty());
    let list = near_duplicates(15, 3, 2);
    let index = Index::from_bytes(IndexBuilder::new().build::<&str>(&list, &[]).unwrap()).unwrap();
    index.verify().unwrap();
    assert_eq!(index.id(RecordId(0)).unwrap(), "");
    assert_eq!(
        index.search_knn(&list[0], 1, 8, &mut s).unwrap()[0].record,
        RecordId(0)
    );
}

#[test]
fn builder_rejects_bad_parameters() {
    let list = near_duplicates(16, 3, 2);
    for b in [
        IndexBuilder::new().mih_num_substrings(0),
        IndexBuilder::new().mih_num_substrings(1),
        IndexBuilder::new().mih_num_substrings(65),
        IndexBuilder::new().m(1),
        IndexBuilder::new().ef_construction(0),
        IndexBuilder::new().level_mult(f64::NAN),
    ] {
        assert!(matches!(
            b.build::<&str>(&list, &[]),
            Err(IndexError::InvalidParameter { .. })
        ));
    }
    assert!(matches!(
        IndexBuilder::new().build(&list, &["one"]),
        Err(IndexError::InvalidParameter { name: "ids", .. })
    ));
}

// ---- corruption ---------------------------------------------------------------------------

fn small_file() -> (Vec<Pdq256>, Vec<u8>) {
    let list = near_duplicates(20, 40, 5);
    let ids: Vec<String> = (0..list.len()).map(|i| format!("id{i}")).collect();
    let bytes = IndexBuilder::new().m(4).m0(8).build(&list, &ids).unwrap();
    (list, bytes)
}

/// Opens, verifies and searches `bytes`; returns whether any step reported an error. Must
/// never panic.
fn exercise(bytes: Vec<u8>, qs: &[Pdq256]) -> bool {
    let Ok(index) = Index::from_bytes(bytes) else {
        return true;
    };
    let mut failed = index.verify().is_err();
    let mut s = SearchScratch::new();
    for q in qs {
        failed |= index.search_radius(q, 31, &mut s).is_err();
        failed |= index.radius_via_mih(q, 31, &mut s, false).is_err();
        failed |= index.search_radius(q, 90, &mut s).is_err();
        failed |= index.search_knn(q, 5, 16, &mut s).is_err();
        let _ = index.search_knn_flat(q, 5, &mut s);
    }
    for i in 0..=index.len() as u32 {
        failed |= index.id(RecordId(i)).is_err() && (i as usize) < index.len();
    }
    failed
}

/// Recomputes every section CRC and the header CRC, so that structural checks (not the
/// checksums) must catch a change.
fn reseal(bytes: &mut [u8]) {
    for k in 0..SECTIONS.len() {
        let e = 128 + 32 * k;
        let off = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
        let crc = crc32c::crc32c(&bytes[off..off + len]);
        bytes[e + 24..e + 28].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32c::crc32c(&bytes[..HEADER_CRC_OFFSET]);
    bytes[HEADER_CRC_OFFSET..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

fn section_range(bytes: &[u8], kind: usize) -> std::ops::Range<usize> {
    format::parse(bytes).unwrap().sections[kind].clone()
}

#[test]
fn truncation_at_any_offset_is_an_error() {
    let (list, bytes) = small_file();
    let qs = &list[..3];
    assert!(!exercise(bytes.clone(), qs), "the intact file must pass");
    let step = (bytes.len() / 400).max(1);
    let mut cuts: Vec<usize> = (0..bytes.len()).step_by(step).collect();
    cuts.extend(0..HEADER_LEN + 64);
    for cut in cuts {
        let r = Index::from_bytes(bytes[..cut].to_vec());
        assert!(r.is_err(), "truncated at {cut} of {} opened", bytes.len());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Index::from_bytes(longer).is_err());
}

#[test]
fn a_flipped_byte_in_any_section_is_caught() {
    let (list, bytes) = small_file();
    let qs = &list[..2];
    let mut r = Rng::new(21);
    for (kind, section) in SECTIONS.iter().enumerate() {
        let range = section_range(&bytes, kind);
        if range.is_empty() {
            continue;
        }
        for _ in 0..8 {
            let at = range.start + r.below(range.len() as u64) as usize;
            let mut bad = bytes.clone();
            bad[at] ^= 1 << r.below(8);
            let outcome = Index::from_bytes(bad.clone()).and_then(|i| i.verify());
            match outcome {
                Err(IndexError::ChecksumMismatch { section: name, .. }) => {
                    assert_eq!(name, section.name());
                }
                other => panic!("flip at {at}: expected ChecksumMismatch, got {other:?}"),
            }
            // Searching a corrupt file without verifying first must still not panic.
            exercise(bad.clone(), qs);
            // With checksums recomputed, the structural checks decide; no panic either way.
            reseal(&mut bad);
            exercise(bad, qs);
        }
    }
    // Every header byte except the CRC itself: open fails (bad magic, version or CRC).
    for at in 0..HEADER_CRC_OFFSET {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        assert!(
            Index::from_bytes(bad).is_err(),
            "header flip at {at} opened"
        );
    }
}

#[test]
fn out_of_range_ids_are_reported_by_verify_and_search() {
    let (list, bytes) = small_file();
    let n = list.len() as u32;
    let put = |kind: usize, item: usize, v: u32| {
        let mut b = bytes.clone();
        let at = section_range(&b, kind).start + 4 * item;
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        reseal(&mut b);
        Index::from_bytes(b).unwrap()
    };
    // A posting pointing past the records (posting 7's id field).
    let index = put(5, 7 * 4, n);
    assert!(matches!(
        index.verify(),
        Err(IndexError::Corrupt {
            section: "mih_postings",
            ..
        })
    ));
    let mut s = SearchScratch::new();
    let any_err = list
        .iter()
        .any(|q| index.radius_via_mih(q, 31, &mut s, false).is_err());
    assert!(any_err, "a search through the bad posting must fail");
    // A fingerprint that disagrees with its record's hash (posting 3, CRC resealed).
    let index = put(5, 3 * 4 + 2, 0x5a5a_5a5a);
    match index.verify() {
        Err(IndexError::Corrupt {
            section: "mih_postings",
            what,
            ..
        }) => assert!(what.contains("fingerprint"), "{what}"),
        other => panic!("expected a fingerprint error, got {other:?}"),
    }
    // A neighbour pointing past the records.
    let index = put(8, 0, n + 5);
    assert!(matches!(
        index.verify(),
        Err(IndexError::Corrupt {
            section: "hnsw_level0",
            ..
        })
    ));
    // A bucket bound past the postings.
    let index = put(4, 1, n + 1);
    assert!(matches!(
        index.verify(),
        Err(IndexError::Corrupt {
            section: "mih_offsets",
            ..
        })
    ));
    // A duplicated posting (another record missing): a silent missed match without verify.
    let mut b = bytes.clone();
    let r = section_range(&b, 5);
    let first = u32::from_le_bytes(b[r.start..r.start + 4].try_into().unwrap());
    b[r.start + 4..r.start + 8].copy_from_slice(&first.to_le_bytes());
    reseal(&mut b);
    assert!(Index::from_bytes(b).unwrap().verify().is_err());
}

#[test]
fn open_reports_missing_files_with_their_path() {
    match Index::open("/nonexistent/x.idx") {
        Err(IndexError::Io { path, .. }) => assert!(path.ends_with("x.idx")),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn warmed_mapped_index_answers_like_the_in_memory_one() {
    let list = near_duplicates(11, 400, 10);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.idx");
    IndexBuilder::new()
        .hnsw(false)
        .write_file::<&str>(&path, &list, &[])
        .unwrap();
    let mapped = Index::open(&path).unwrap();
    mapped.warm();
    let memory = build(&list, IndexBuilder::new().hnsw(false));
    let (mut s1, mut s2) = (SearchScratch::new(), SearchScratch::new());
    for q in queries(11, &list, 50) {
        let a = mapped.search_radius(&q, 31, &mut s1).unwrap();
        let b = memory.search_radius(&q, 31, &mut s2).unwrap();
        assert_eq!(
            a.iter().map(|m| (m.record, m.distance)).collect::<Vec<_>>(),
            b.iter().map(|m| (m.record, m.distance)).collect::<Vec<_>>()
        );
    }
}

/// Each lookup's answer on `index` for `qs`: radius (as chosen, MIH only, flat), k-nearest
/// (graph and flat)
/// and the ids of every match, or the error it gave.
fn answers<D: AsRef<[u8]>>(
    index: &Index<D>,
    qs: &[Pdq256],
) -> Vec<Result<Vec<(u32, u32, String)>>> {
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    for q in qs {
        let named = |found: Result<Vec<Match>>| -> Result<Vec<(u32, u32, String)>> {
            found?
                .iter()
                .map(|m| Ok((m.record.0, m.distance, index.id(m.record)?.to_owned())))
                .collect()
        };
        out.push(named(
            index.search_radius(q, 31, &mut s).map(<[Match]>::to_vec),
        ));
        out.push(named(
            index
                .radius_via_mih(q, 31, &mut s, false)
                .map(<[Match]>::to_vec),
        ));
        out.push(named(
            index
                .search_radius_flat(q, 31, &mut s)
                .map(<[Match]>::to_vec),
        ));
        out.push(named(
            index.search_knn(q, 5, 16, &mut s).map(<[Match]>::to_vec),
        ));
        out.push(named(
            index.search_knn_flat(q, 5, &mut s).map(<[Match]>::to_vec),
        ));
    }
    out
}

#[test]
fn lookups_on_a_flipped_section_fail_naming_it_or_answer_as_the_intact_file() {
    let (list, bytes) = small_file();
    let qs = &list[..];
    let clean: Vec<_> = answers(&Index::from_bytes(bytes.clone()).unwrap(), qs)
        .into_iter()
        .map(|a| a.unwrap())
        .collect();
    let mut r = Rng::new(33);
    for (kind, section) in SECTIONS.iter().enumerate() {
        let range = section_range(&bytes, kind);
        if range.is_empty() {
            continue;
        }
        let mut failures = 0;
        for _ in 0..16 {
            let at = range.start + r.below(range.len() as u64) as usize;
            let mut bad = bytes.clone();
            bad[at] ^= 1 << r.below(8);
            let index = match Index::from_bytes(bad) {
                Ok(i) => i,
                // Only the substring table is checked on open.
                Err(IndexError::ChecksumMismatch { section: name, .. }) => {
                    assert_eq!(name, section.name());
                    failures += 1;
                    continue;
                }
                Err(e) => panic!("flip at {at} in {}: {e}", section.name()),
            };
            for (got, want) in answers(&index, qs).into_iter().zip(&clean) {
                match got {
                    Ok(got) => assert_eq!(&got, want, "flip at {at} in {}", section.name()),
                    Err(IndexError::ChecksumMismatch { section: name, .. }) => {
                        assert_eq!(name, section.name());
                        failures += 1;
                    }
                    Err(e) => panic!("flip at {at} in {}: {e}", section.name()),
                }
            }
        }
        // Every section is read by some lookup, so each flip is caught by one.
        assert!(failures >= 16, "{}: {failures} failures", section.name());
    }
}

#[test]
fn verify_leaves_the_checksums_it_computed_for_lookups() {
    let (list, bytes) = small_file();
    let index = Index::from_bytes(bytes).unwrap();
    assert!(index.crcs.iter().all(|c| c.get().is_none()));
    let mut s = SearchScratch::new();
    index.search_radius(&list[0], 31, &mut s).unwrap();
    assert!(index.crcs[SectionKind::Hashes as usize].get().is_some());
    assert!(index.crcs[SectionKind::HnswLevel0 as usize].get().is_none());
    index.verify().unwrap();
    assert!(index.crcs.iter().all(|c| c.get().is_some()));
}

#[cfg(unix)]
#[test]
fn open_refuses_directories_devices_and_pipes_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    let mut cases = vec![
        (dir.path().to_owned(), "directory"),
        ("/dev/zero".into(), "character device"),
    ];
    if made.is_ok_and(|s| s.success()) {
        cases.push((fifo, "pipe"));
    }
    for (path, kind) in cases {
        match Index::open(&path) {
            Err(e @ IndexError::NotARegularFile { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("not a regular file"), "{msg}");
                assert!(msg.contains(kind), "{msg}");
                assert!(msg.contains(path.to_str().unwrap()), "{msg}");
            }
            other => panic!(
                "{}: expected NotARegularFile, got {other:?}",
                path.display()
            ),
        }
    }
}

#[test]
fn a_build_removes_temp_files_that_killed_builds_left_and_keeps_those_being_written() {
    let list = near_duplicates(3, 20, 5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.idx");
    let stale = dir.path().join(".t.idx.tmp-4000000001");
    let live = dir.path().join(".t.idx.tmp-4000000002");
    let other = dir.path().join(".u.idx.tmp-4000000003");
    for p in [&stale, &live, &other] {
        std::fs::write(p, b"partial").unwrap();
    }
    // A build in progress holds its temp file's lock.
    let writing = std::fs::File::open(&live).unwrap();
    writing.lock().unwrap();
    IndexBuilder::new()
        .write_file::<&str>(&path, &list, &[])
        .unwrap();
    assert!(!stale.exists());
    assert!(live.exists());
    assert!(
        other.exists(),
        "another index's temp file is not this build's to remove"
    );
    Index::open(&path).unwrap().verify().unwrap();
}
