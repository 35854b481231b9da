//! The store's bytes on disk: header, blocks and records, with their validation.
//!
//! A store file is a header followed by zero or more blocks of `block_size` bytes.
//!
//! # Sealing, torn tails and corruption (format 2)
//!
//! The writer seals a block in two steps: it writes the whole block with its 8-byte *seal*
//! (CRC32C and seal marker, block offsets 0..8) still zero and fsyncs (under the default
//! `SyncPolicy::EveryBlock`), then writes the seal and fsyncs again. So a crash can only leave
//!
//! * a partial block at the end of the file (the block write was cut short), or
//! * complete blocks at the end whose seal is still all zero (never sealed).
//!
//! Both together are the *torn tail*: readers skip it (and report its length), the writer
//! truncates it when it resumes. A block whose seal is present but whose checksum, marker or
//! index does not match is **corruption**, wherever it lies, the last block included: readers
//! fail on it naming the block and its byte offset, and the writer refuses to resume. A block
//! with an all-zero seal followed by sealed blocks is corruption too.
//!
//! Format 1 (read, never written) sealed a block with its CRC in one write, so a last block
//! with a bad checksum cannot be told from a torn write: readers of a format-1 file take every
//! trailing block whose checksum or index fails for a torn tail (ambiguous: a damaged last
//! block is dropped, not reported). Its header does not record the hashing parameters, so
//! writers refuse to append to it (see [`StoreError::FormatTooOldToAppend`]).
//!
//! [`StoreError::FormatTooOldToAppend`]: super::StoreError::FormatTooOldToAppend
//!
//! # Header (`HeaderRaw`, 64 bytes, all integers little-endian)
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 8 | `[u8; 8]` | magic `89 49 4D 50 53 0D 0A 1A` (`\x89IMPS\r\n\x1a`) |
//! | 8 | 4 | `u32` | `format_version`: 2 (1 is still read) |
//! | 12 | 4 | `u32` | `header_len` = 64 |
//! | 16 | 4 | `u32` | `record_size` = 48, or 272 with dihedral hashes |
//! | 20 | 4 | `u32` | `block_size`, a multiple of 4096 from 8 KiB to 16 MiB |
//! | 24 | 4 | `u32` | `hash_algorithm` = 1 (PDQ, 256 bits) |
//! | 28 | 4 | `u32` | `flags`: bit 0 = records carry the 8 dihedral hashes; others zero |
//! | 32 | 16 | `[u8; 16]` | writer crate version, UTF-8, NUL-padded (diagnostics only) |
//! | 48 | 1 | `u8` | v2: hashing convention: 1 = full resolution, 2 = cpp-cli (v1: zero) |
//! | 49 | 1 | `u8` | v2: parameter flags: bit 0 = EXIF orientation applied (v1: zero) |
//! | 50 | 2 | `[u8; 2]` | reserved, zero |
//! | 52 | 4 | `u32` | v2: `jpeg_min_side`: 0 = exact decoding; `--fast` = rule tag (top byte; 2 = `decode::fast_jpeg_numerator`, 0 = the earlier every-n/8 rule) and minimum side (low 24 bits) (v1: zero) |
//! | 56 | 4 | `u32` | v2: `id_scheme`, how item ids were made from paths (v1: zero) |
//! | 60 | 4 | `u32` | CRC32C of bytes 0..60 |
//!
//! Bytes 48..60 were reserved (zero) in format 1, whose files therefore carry no hashing
//! parameters ([`StoreInfo::hash_params`](super::StoreInfo::hash_params) is `None`).
//!
//! # Block, format 2 (`block_size` bytes; block `i` starts at `header_len + i × block_size`)
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 4 | `u32` | seal: CRC32C of bytes `8..block_size` (zero until sealed) |
//! | 4 | 4 | `[u8; 4]` | seal: marker `53 45 41 4C` (`SEAL`; zero until sealed) |
//! | 8 | 4 | `u32` | `block_index` = `i`, so a misplaced block is caught |
//! | 12 | 4 | `u32` | `num_records` |
//! | 16 | 4 | `u32` | `strings_len`: bytes of the string area at the end of the block |
//! | 20 | 4 | `[u8; 4]` | reserved, zero |
//! | 24 | `num_records × record_size` | records | packed records |
//! | … | | | zero padding |
//! | `block_size − strings_len` | `strings_len` | bytes | string area: ids and causes (UTF-8) |
//!
//! # Block, format 1
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 4 | `u32` | CRC32C of bytes `4..block_size` (seals the block) |
//! | 4 | 4 | `u32` | `block_index` = `i` |
//! | 8 | 4 | `u32` | `num_records` |
//! | 12 | 4 | `u32` | `strings_len` |
//! | 16 | `num_records × record_size` | records | packed records, then padding and strings as above |
//!
//! The string area grows down from the end of the block, so a block fills from both ends and
//! each block is self-contained: a torn block never affects the blocks before it.
//!
//! # Record (`RecordRaw`, 48 bytes, then 224 more when the header's dihedral flag is set)
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 32 | `[u8; 32]` | hash ([`Pdq256`](crate::hash::Pdq256) bytes); zero for an error record |
//! | 32 | 1 | `u8` | quality 0–100; zero for an error record |
//! | 33 | 1 | `u8` | flags: bit 0 = error record; others zero |
//! | 34 | 2 | `u16` | `id_len` in bytes |
//! | 36 | 4 | `u32` | `strings_offset`: offset in the block of the id, followed by the cause |
//! | 40 | 2 | `u16` | `cause_len` in bytes (error records only, else 0) |
//! | 42 | 6 | `[u8; 6]` | reserved, zero |
//! | 48 | 224 | `[[u8; 32]; 7]` | dihedral stores only: hashes rot90 … flipminus1 (the original is at 0) |
//!
//! All structs here are `#[repr(C)]` byte arrays with alignment 1, cast only with checked
//! `bytemuck` calls.

use super::params::HashParams;
use crate::hash::Convention;
use bytemuck::{Pod, Zeroable};

/// The 8 bytes every store file starts with, `89 49 4d 50 53 0d 0a 1a` (`\x89IMPS\r\n\x1a`): a
/// non-ASCII byte, a name, and `\r\n` + `^Z`, so a file mangled by a text-mode transfer or
/// mistaken for text is rejected. Defined in `crate::files` with the index's, where the kinds
/// are told apart.
pub const MAGIC: [u8; 8] = crate::files::STORE_MAGIC;

/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format version this build reads.
pub const OLDEST_SUPPORTED_FORMAT_VERSION: u32 = 1;

/// Size of the header in bytes.
pub const HEADER_LEN: usize = 64;

/// Size of a block header in bytes (format 2).
pub const BLOCK_HEADER_LEN: usize = 24;

/// Size of a block header in format 1.
pub const BLOCK_HEADER_LEN_V1: usize = 16;

/// Size of a format-2 block's seal (CRC32C and marker), written last.
pub const SEAL_LEN: usize = 8;

/// The marker of a sealed format-2 block, after its CRC.
pub const SEAL_MARKER: [u8; 4] = *b"SEAL";

/// Size of a record without dihedral hashes.
pub const RECORD_LEN: usize = 48;

/// Size of a record with the seven extra dihedral hashes.
pub const DIHEDRAL_RECORD_LEN: usize = RECORD_LEN + 7 * 32;

/// `hash_algorithm` value for PDQ with 256 bits.
pub const HASH_ALGORITHM_PDQ256: u32 = 1;

/// Header flag: records carry the 8 dihedral hashes.
pub const HEADER_FLAG_DIHEDRAL: u32 = 1;

/// Record flag: the record is an error record (id, cause) without a hash.
pub const RECORD_FLAG_ERROR: u8 = 1;

/// Smallest accepted block size: one record with the longest id and cause always fits.
pub const MIN_BLOCK_SIZE: u32 = 8192;

/// Largest accepted block size.
pub const MAX_BLOCK_SIZE: u32 = 16 << 20;

/// Block sizes are multiples of this (a page), so blocks never straddle pages needlessly.
pub const BLOCK_SIZE_ALIGN: u32 = 4096;

/// Longest item id in bytes. Linux paths are at most 4096 bytes.
pub const MAX_ID_LEN: usize = 4096;

/// Longest stored cause of an error record in bytes; longer causes are cut at a char boundary.
pub const MAX_CAUSE_LEN: usize = 1024;

/// A cause as an error record keeps it: cut to [`MAX_CAUSE_LEN`] bytes at a char boundary.
#[must_use]
pub fn stored_cause(cause: &str) -> &str {
    let mut end = cause.len().min(MAX_CAUSE_LEN);
    while !cause.is_char_boundary(end) {
        end -= 1;
    }
    &cause[..end]
}

/// The store header as it lies on disk (see the module table).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct HeaderRaw {
    pub magic: [u8; 8],
    pub format_version: [u8; 4],
    pub header_len: [u8; 4],
    pub record_size: [u8; 4],
    pub block_size: [u8; 4],
    pub hash_algorithm: [u8; 4],
    pub flags: [u8; 4],
    pub writer_version: [u8; 16],
    pub convention: u8,
    pub param_flags: u8,
    pub reserved: [u8; 2],
    pub jpeg_min_side: [u8; 4],
    pub id_scheme: [u8; 4],
    pub header_crc: [u8; 4],
}
const _: () = assert!(std::mem::size_of::<HeaderRaw>() == HEADER_LEN);

/// A format-2 block header as it lies on disk.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct BlockHeaderRaw {
    pub crc: [u8; 4],
    pub seal_marker: [u8; 4],
    pub block_index: [u8; 4],
    pub num_records: [u8; 4],
    pub strings_len: [u8; 4],
    pub reserved: [u8; 4],
}
const _: () = assert!(std::mem::size_of::<BlockHeaderRaw>() == BLOCK_HEADER_LEN);

/// A format-1 block header as it lies on disk.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct BlockHeaderV1Raw {
    pub crc: [u8; 4],
    pub block_index: [u8; 4],
    pub num_records: [u8; 4],
    pub strings_len: [u8; 4],
}
const _: () = assert!(std::mem::size_of::<BlockHeaderV1Raw>() == BLOCK_HEADER_LEN_V1);

/// Header byte 48: the hashing convention.
pub(crate) const CONVENTION_FULL_RESOLUTION: u8 = 1;
/// Header byte 48: the C++ CLI's convention.
pub(crate) const CONVENTION_CPP_CLI: u8 = 2;
/// Header byte 49, bit 0: EXIF orientation was applied before hashing.
pub(crate) const PARAM_FLAG_EXIF: u8 = 1;

/// A record (without the dihedral extension) as it lies on disk.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct RecordRaw {
    pub hash: [u8; 32],
    pub quality: u8,
    pub flags: u8,
    pub id_len: [u8; 2],
    pub strings_offset: [u8; 4],
    pub cause_len: [u8; 2],
    pub reserved: [u8; 6],
}
const _: () = assert!(std::mem::size_of::<RecordRaw>() == RECORD_LEN);

pub(crate) fn le32(b: [u8; 4]) -> u32 {
    u32::from_le_bytes(b)
}

pub(crate) fn le16(b: [u8; 2]) -> u16 {
    u16::from_le_bytes(b)
}

/// Offset of the header CRC: it covers every byte before it.
pub(crate) const HEADER_CRC_OFFSET: usize = HEADER_LEN - 4;

impl HeaderRaw {
    /// A current-version header for the given layout and hashing parameters, with its CRC.
    pub(crate) fn new(dihedral: bool, block_size: u32, params: &HashParams) -> Self {
        let mut version = [0u8; 16];
        let v = env!("CARGO_PKG_VERSION").as_bytes();
        let n = v.len().min(16);
        version[..n].copy_from_slice(&v[..n]);
        let record_size = if dihedral {
            DIHEDRAL_RECORD_LEN
        } else {
            RECORD_LEN
        } as u32;
        let mut h = HeaderRaw {
            magic: MAGIC,
            format_version: FORMAT_VERSION.to_le_bytes(),
            header_len: (HEADER_LEN as u32).to_le_bytes(),
            record_size: record_size.to_le_bytes(),
            block_size: block_size.to_le_bytes(),
            hash_algorithm: HASH_ALGORITHM_PDQ256.to_le_bytes(),
            flags: if dihedral { HEADER_FLAG_DIHEDRAL } else { 0 }.to_le_bytes(),
            writer_version: version,
            convention: match params.convention {
                Convention::FullResolution => CONVENTION_FULL_RESOLUTION,
                Convention::CppCli => CONVENTION_CPP_CLI,
            },
            param_flags: if params.exif { PARAM_FLAG_EXIF } else { 0 },
            reserved: [0; 2],
            jpeg_min_side: params.jpeg_min_side.to_le_bytes(),
            id_scheme: params.id_scheme.to_le_bytes(),
            header_crc: [0; 4],
        };
        h.header_crc = h.compute_crc().to_le_bytes();
        h
    }

    /// CRC32C of the bytes before the CRC field.
    pub(crate) fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&bytemuck::bytes_of(self)[..HEADER_CRC_OFFSET])
    }
}

/// CRC32C of the bytes of a block that its checksum covers: after the CRC (format 1) or
/// after the whole seal (format 2).
pub(crate) fn block_crc(block: &[u8], format_version: u32) -> u32 {
    let from = if format_version == 1 { 4 } else { SEAL_LEN };
    crc32c::crc32c(&block[from..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn header_offsets_match_the_table() {
        assert_eq!(offset_of!(HeaderRaw, magic), 0);
        assert_eq!(offset_of!(HeaderRaw, format_version), 8);
        assert_eq!(offset_of!(HeaderRaw, header_len), 12);
        assert_eq!(offset_of!(HeaderRaw, record_size), 16);
        assert_eq!(offset_of!(HeaderRaw, block_size), 20);
        assert_eq!(offset_of!(HeaderRaw, hash_algorithm), 24);
        assert_eq!(offset_of!(HeaderRaw, flags), 28);
        assert_eq!(offset_of!(HeaderRaw, writer_version), 32);
        assert_eq!(offset_of!(HeaderRaw, convention), 48);
        assert_eq!(offset_of!(HeaderRaw, param_flags), 49);
        assert_eq!(offset_of!(HeaderRaw, reserved), 50);
        assert_eq!(offset_of!(HeaderRaw, jpeg_min_side), 52);
        assert_eq!(offset_of!(HeaderRaw, id_scheme), 56);
        assert_eq!(offset_of!(HeaderRaw, header_crc), HEADER_CRC_OFFSET);
        assert_eq!(std::mem::align_of::<HeaderRaw>(), 1);
    }

    #[test]
    fn block_header_offsets_match_the_table() {
        assert_eq!(offset_of!(BlockHeaderRaw, crc), 0);
        assert_eq!(offset_of!(BlockHeaderRaw, seal_marker), 4);
        assert_eq!(offset_of!(BlockHeaderRaw, block_index), 8);
        assert_eq!(offset_of!(BlockHeaderRaw, num_records), 12);
        assert_eq!(offset_of!(BlockHeaderRaw, strings_len), 16);
        assert_eq!(offset_of!(BlockHeaderRaw, reserved), 20);
        assert_eq!(offset_of!(BlockHeaderRaw, seal_marker) + 4, SEAL_LEN);
        assert_eq!(std::mem::align_of::<BlockHeaderRaw>(), 1);
        assert_eq!(offset_of!(BlockHeaderV1Raw, crc), 0);
        assert_eq!(offset_of!(BlockHeaderV1Raw, block_index), 4);
        assert_eq!(offset_of!(BlockHeaderV1Raw, num_records), 8);
        assert_eq!(offset_of!(BlockHeaderV1Raw, strings_len), 12);
        assert_eq!(std::mem::align_of::<BlockHeaderV1Raw>(), 1);
    }

    #[test]
    fn record_offsets_match_the_table() {
        assert_eq!(offset_of!(RecordRaw, hash), 0);
        assert_eq!(offset_of!(RecordRaw, quality), 32);
        assert_eq!(offset_of!(RecordRaw, flags), 33);
        assert_eq!(offset_of!(RecordRaw, id_len), 34);
        assert_eq!(offset_of!(RecordRaw, strings_offset), 36);
        assert_eq!(offset_of!(RecordRaw, cause_len), 40);
        assert_eq!(offset_of!(RecordRaw, reserved), 42);
        assert_eq!(std::mem::align_of::<RecordRaw>(), 1);
    }

    #[test]
    fn magic_has_a_non_ascii_byte_and_crlf() {
        assert!(MAGIC.iter().any(|b| !b.is_ascii()));
        assert!(MAGIC.windows(2).any(|w| w == b"\r\n"));
    }

    #[test]
    fn smallest_block_fits_the_largest_record() {
        assert!(
            BLOCK_HEADER_LEN + DIHEDRAL_RECORD_LEN + MAX_ID_LEN + MAX_CAUSE_LEN
                <= MIN_BLOCK_SIZE as usize
        );
        assert_eq!(MIN_BLOCK_SIZE % BLOCK_SIZE_ALIGN, 0);
    }
}
