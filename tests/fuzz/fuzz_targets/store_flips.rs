//! Damage to a valid store, as a disk would do it: the input is a list of `(offset, xor)` byte
//! flips applied to a known store of three sealed blocks. Nothing is resealed, so the checksums
//! stand between the damage and the reader. The property checked, for every input: opening and
//! reading either fails, or gives exactly the original records in order — with fewer only when
//! the reader reports a torn tail. A finding is a silent wrong answer (a changed record, a
//! record too many) as well as a panic.

#![no_main]

use imprint::hash::{Pdq256, PdqHash};
use imprint::store::{Store, StoreOptions, StoreWriter};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// An owned copy of a record, comparable across two stores.
#[derive(Debug, PartialEq, Eq)]
struct Owned {
    id: String,
    outcome: String,
}

/// The undamaged store's bytes and its records.
fn reference() -> &'static (Vec<u8>, Vec<Owned>) {
    static REFERENCE: OnceLock<(Vec<u8>, Vec<Owned>)> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("imprint-fuzz-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let path = dir.join("reference.imps");
        let _ = std::fs::remove_file(&path);
        let options = StoreOptions::new().block_size(8192);
        let mut w = StoreWriter::create(&path, &options).expect("reference store");
        // About 100 records of 48 bytes plus ids fill a block: 250 make three.
        for k in 0..250u32 {
            let id = format!("photos/{k:04}.jpg");
            if k % 7 == 3 {
                w.append_error(&id, "decode failed: truncated JPEG")
                    .expect("append");
            } else {
                let mut bytes = [0u8; 32];
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = (k as u8).wrapping_mul(31).wrapping_add(i as u8 * 7);
                }
                let h = PdqHash {
                    hash: Pdq256(bytes),
                    quality: (k % 101) as u8,
                };
                w.append_hash(&id, &h).expect("append");
            }
        }
        w.finish().expect("finish");
        let bytes = std::fs::read(&path).expect("read back");
        let _ = std::fs::remove_dir_all(&dir);
        let records = owned(&bytes).expect("the reference reads back").0;
        (bytes, records)
    })
}

/// Every record of `bytes` as a store, and its torn tail, or `None` where any step fails.
fn owned(bytes: &[u8]) -> Option<(Vec<Owned>, u64)> {
    let store = Store::from_bytes(bytes).ok()?;
    let mut out = Vec::new();
    for r in store.records() {
        let r = r.ok()?;
        out.push(Owned {
            id: r.id.to_owned(),
            outcome: format!("{:?}", r.outcome),
        });
    }
    Some((out, store.torn_tail_bytes()))
}

fuzz_target!(|data: &[u8]| {
    let (original, expected) = reference();
    let mut bytes = original.clone();
    for flip in data.chunks_exact(5).take(64) {
        let at = u32::from_le_bytes([flip[0], flip[1], flip[2], flip[3]]) as usize % bytes.len();
        bytes[at] ^= flip[4];
    }
    if let Some((got, torn)) = owned(&bytes) {
        assert!(got.len() <= expected.len(), "records appeared");
        assert_eq!(
            got[..],
            expected[..got.len()],
            "a record changed without an error"
        );
        if got.len() < expected.len() {
            assert!(
                torn > 0,
                "records went missing without a torn tail being reported"
            );
        }
    }
});
