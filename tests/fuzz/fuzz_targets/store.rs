//! Any bytes as a hash store: open, verify, and read every record. The header's CRC32C and each
//! whole block's seal are recomputed first (format 1: the CRC; format 2: the CRC and marker,
//! except on blocks whose seal is all zero, which stay unsealed), so that mutations reach the
//! block and record checks instead of stopping at a checksum.

#![no_main]

use imprint::store::format::HEADER_LEN;
use imprint::store::Store;
use libfuzzer_sys::fuzz_target;

/// Offsets in the store header (`imprint::store::format`): version, `block_size`, header CRC.
const VERSION_AT: usize = 8;
const BLOCK_SIZE_AT: usize = 20;
const HEADER_CRC_AT: usize = 60;

fn reseal(bytes: &mut [u8]) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    let crc = crc32c::crc32c(&bytes[..HEADER_CRC_AT]);
    bytes[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    let bs = u32::from_le_bytes(bytes[BLOCK_SIZE_AT..BLOCK_SIZE_AT + 4].try_into().unwrap());
    let bs = bs as usize;
    if bs < 8 {
        return;
    }
    let v1 = bytes[VERSION_AT..VERSION_AT + 4] == 1u32.to_le_bytes();
    for block in bytes[HEADER_LEN..].chunks_exact_mut(bs) {
        if v1 {
            let crc = crc32c::crc32c(&block[4..]);
            block[..4].copy_from_slice(&crc.to_le_bytes());
        } else if block[..8].iter().any(|&b| b != 0) {
            let crc = crc32c::crc32c(&block[8..]);
            block[..4].copy_from_slice(&crc.to_le_bytes());
            block[4..8].copy_from_slice(b"SEAL");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    reseal(&mut bytes);
    let Ok(store) = Store::from_bytes(bytes) else {
        return;
    };
    let _ = store.verify();
    let _ = store.torn_tail_bytes();
    for record in store.records().take(100_000) {
        let Ok(record) = record else {
            break;
        };
        std::hint::black_box((record.id.len(), record.is_error(), record.hash()));
    }
});
