//! The store through its public API and the CLI: a damaged block fails `imprint store verify`,
//! a torn tail is ignored by readers and removed on resume.

use imprint::hash::{Pdq256, PdqHash};
use imprint::store::{Store, StoreOptions, StoreWriter};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_imprint");

fn write_store(path: &std::path::Path, n: u32) {
    let mut w = StoreWriter::create(path, &StoreOptions::new().block_size(8192)).expect("create");
    for i in 0..n {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        w.append_hash(
            &format!("item-{i}"),
            &PdqHash {
                hash: Pdq256(b),
                quality: 90,
            },
        )
        .expect("append");
    }
    w.finish().expect("finish");
}

fn verify(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["store", "verify"])
        .arg(path)
        .output()
        .expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("exit code"), text)
}

#[test]
fn verify_command_catches_a_flipped_byte_in_a_sealed_block() {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join("s.imps");
    write_store(&p, 500);
    assert_eq!(verify(&p).0, 0);
    let mut bytes = std::fs::read(&p).expect("read");
    bytes[64 + 1000] ^= 0x10; // inside block 0, which is followed by others
    std::fs::write(&p, &bytes).expect("write");
    let (code, text) = verify(&p);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("corrupt store block 0 at byte offset 64"),
        "{text}"
    );
    assert!(text.contains("checksum mismatch"), "{text}");
}

#[test]
fn torn_tail_is_ignored_by_readers_and_removed_on_resume() {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join("s.imps");
    write_store(&p, 500);
    let full = Store::open(&p).expect("open").records().count();
    let mut bytes = std::fs::read(&p).expect("read");
    bytes.extend_from_slice(&[0xAB; 3000]); // a partial block, as a crash mid-write leaves
    std::fs::write(&p, &bytes).expect("write");
    let s = Store::open(&p).expect("open");
    assert_eq!(s.records().count(), full);
    assert_eq!(s.torn_tail_bytes(), 3000);
    drop(s);
    let (w, rec) = StoreWriter::resume(&p, &StoreOptions::new()).expect("resume");
    assert_eq!(rec.truncated_bytes, 3000);
    w.finish().expect("finish");
    assert_eq!(
        std::fs::metadata(&p).expect("stat").len() as usize,
        bytes.len() - 3000
    );
}
