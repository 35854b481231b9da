//! Damage to a valid index, as a disk would do it: the input is a list of `(offset, xor)` byte
//! flips applied to a known index (multi-index tables, the graph, ids). Nothing is resealed, so
//! the checksums stand between the damage and the lookups. The property checked, for every
//! input and every lookup: it fails, or it gives exactly the undamaged index's answer. A finding
//! is a silent wrong answer as well as a panic.

#![no_main]

use imprint::hash::Pdq256;
use imprint::index::synthetic::near_duplicates;
use imprint::index::{Index, IndexBuilder, SearchScratch};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The undamaged index's bytes, the queries, and its answer to each.
struct Reference {
    bytes: Vec<u8>,
    queries: Vec<Pdq256>,
    answers: Vec<Option<Answers>>,
}

/// Every lookup's answer for one query, as owned values.
#[derive(Debug, PartialEq, Eq)]
struct Answers {
    radius: Vec<(u32, u32, String)>,
    flat: Vec<(u32, u32, String)>,
    knn: Vec<(u32, u32)>,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let (hashes, _) = near_duplicates(200, 0, 11);
        let ids: Vec<String> = (0..hashes.len()).map(|k| format!("list-{k}")).collect();
        let bytes = IndexBuilder::new()
            .mih_num_substrings(8)
            .hnsw(true)
            .m(4)
            .m0(8)
            .build(&hashes, &ids)
            .expect("reference index");
        let mut queries: Vec<Pdq256> = hashes.iter().step_by(40).copied().collect();
        queries.push(Pdq256::from_words([!0, 0, !0, 0]));
        let index = Index::from_bytes(bytes.clone()).expect("reference opens");
        let answers: Vec<_> = queries.iter().map(|q| answers(&index, q)).collect();
        assert!(answers.iter().all(Option::is_some), "the reference answers");
        Reference {
            bytes,
            queries,
            answers,
        }
    })
}

/// The answers of `index` for `q`, or `None` where any lookup fails.
fn answers(index: &Index<Vec<u8>>, q: &Pdq256) -> Option<Answers> {
    let mut scratch = SearchScratch::new();
    let with_ids = |ms: &[imprint::index::Match]| -> Option<Vec<(u32, u32, String)>> {
        ms.iter()
            .map(|m| Some((m.record.0, m.distance, index.id(m.record).ok()?.to_owned())))
            .collect()
    };
    let radius = index.search_radius(q, 31, &mut scratch).ok()?.to_vec();
    let radius = with_ids(&radius)?;
    let flat = index.search_radius_flat(q, 31, &mut scratch).ok()?.to_vec();
    let flat = with_ids(&flat)?;
    let knn = index
        .search_knn(q, 5, 16, &mut scratch)
        .ok()?
        .iter()
        .map(|m| (m.record.0, m.distance))
        .collect();
    Some(Answers { radius, flat, knn })
}

fuzz_target!(|data: &[u8]| {
    let r = reference();
    let mut bytes = r.bytes.clone();
    for flip in data.chunks_exact(5).take(64) {
        let at = u32::from_le_bytes([flip[0], flip[1], flip[2], flip[3]]) as usize % bytes.len();
        bytes[at] ^= flip[4];
    }
    let Ok(index) = Index::from_bytes(bytes) else {
        return;
    };
    for (q, want) in r.queries.iter().zip(&r.answers) {
        if let Some(got) = answers(&index, q) {
            assert_eq!(Some(got), *want, "a lookup changed without an error");
        }
    }
});
