//! Any bytes as an index file: open, verify, and search it without verifying first. The
//! header's and each section's CRC32C are recomputed before opening, so that mutations reach
//! the structural checks and the search code instead of stopping at a checksum.

#![no_main]

use imprint::hash::Pdq256;
use imprint::index::format::{HEADER_CRC_OFFSET, HEADER_LEN, NUM_SECTIONS};
use imprint::index::{Index, RecordId, SearchScratch};
use libfuzzer_sys::fuzz_target;

/// Offset of the section table in the header, and the size of one entry (kind, flags,
/// offset u64, length u64, crc32c u32, reserved).
const SECTION_TABLE: usize = 128;
const SECTION_ENTRY: usize = 32;

fn reseal(bytes: &mut [u8]) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    for k in 0..NUM_SECTIONS {
        let e = SECTION_TABLE + SECTION_ENTRY * k;
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let (off, len) = (word(e + 8), word(e + 16));
        let Some(end) = off.checked_add(len) else {
            continue;
        };
        if end > bytes.len() as u64 {
            continue;
        }
        let crc = crc32c::crc32c(&bytes[off as usize..end as usize]);
        bytes[e + 24..e + 28].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32c::crc32c(&bytes[..HEADER_CRC_OFFSET]);
    bytes[HEADER_CRC_OFFSET..HEADER_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    reseal(&mut bytes);
    let Ok(index) = Index::from_bytes(bytes) else {
        return;
    };
    let _ = index.verify();
    let mut scratch = SearchScratch::new();
    // Queries: the first stored hash if any, and two fixed ones.
    let mut queries = vec![Pdq256::ZERO, Pdq256::from_words([!0, 0, !0, 0])];
    if let Some(h) = index.hash(RecordId(0)) {
        queries.push(h);
    }
    for q in &queries {
        for r in [0, 31, 90] {
            let _ = index.search_radius(q, r, &mut scratch);
        }
        let _ = index.search_knn(q, 5, 16, &mut scratch);
        let _ = index.search_radius_dihedral(&[*q; 8], 31, &mut scratch);
    }
    for i in 0..index.len().min(4) {
        let _ = index.id(RecordId(i as u32));
    }
});
