//! The index file's byte layout (format version 2), and the checks that run on open.
//!
//! All integers are little-endian; every on-disk struct has alignment 1 (byte arrays only), so
//! the file can be read from any byte buffer. The file is a 512-byte header followed by ten
//! sections in a fixed order. Section `k` starts at the first multiple of
//! [`SECTION_ALIGN`] at or after the end of section `k - 1` (section 0 at
//! [`HEADER_LEN`]); the gap is zero padding, and the file ends exactly at the end of the last
//! section.
//!
//! # Header ([`HeaderRaw`], 512 bytes)
//!
//! | offset | size | type | field |
//! |---:|---:|---|---|
//! | 0 | 8 | `[u8; 8]` | magic [`MAGIC`] = `89 49 4d 50 49 58 0d 0a` (`\x89IMPIX\r\n`) |
//! | 8 | 4 | u32 | `format_version` ([`FORMAT_VERSION`]) |
//! | 12 | 4 | u32 | `header_len_bytes` (512) |
//! | 16 | 4 | u32 | `hash_algorithm` (1 = PDQ, 256 bits) |
//! | 20 | 4 | u32 | `hash_len_bytes` (32, the record size of the hashes section) |
//! | 24 | 4 | u32 | `num_hashes` N (record ids are `0..N`) |
//! | 28 | 4 | u32 | `num_sections` (10) |
//! | 32 | 8 | u64 | `seed` (HNSW level draws) |
//! | 40 | 4 | u32 | `mih_num_substrings` m |
//! | 44 | 4 | u32 | `reserved0` (zero) |
//! | 48 | 4 | u32 | `hnsw_m` (neighbours per node on levels ≥ 1; 0 = no graph) |
//! | 52 | 4 | u32 | `hnsw_m0` (neighbours per node on level 0) |
//! | 56 | 4 | u32 | `hnsw_ef_construction` |
//! | 60 | 4 | u32 | `hnsw_num_levels` (top level + 1; 0 = no graph) |
//! | 64 | 8 | f64 | `hnsw_level_mult` (IEEE 754 bits) |
//! | 72 | 4 | u32 | `hnsw_entry_point` (record id, `u32::MAX` without a graph) |
//! | 76 | 4 | u32 | `hnsw_num_upper_rows` (rows in the upper-levels section) |
//! | 80 | 16 | `[u8; 16]` | `writer_version`: crate version, zero padded (diagnostics only) |
//! | 96 | 32 | `[u8; 32]` | `reserved1` (zero) |
//! | 128 | 320 | `[SectionRaw; 10]` | section table, in [`SectionKind`] order |
//! | 448 | 60 | `[u8; 60]` | `reserved2` (zero) |
//! | 508 | 4 | u32 | `header_crc32c`: CRC32C of bytes 0..508 |
//!
//! # Section table entry ([`SectionRaw`], 32 bytes)
//!
//! | offset | size | type | field |
//! |---:|---:|---|---|
//! | 0 | 4 | u32 | `kind` (its [`SectionKind`] number, must equal its position) |
//! | 4 | 4 | u32 | `reserved0` (zero) |
//! | 8 | 8 | u64 | `offset` (bytes from the file start) |
//! | 16 | 8 | u64 | `len_bytes` |
//! | 24 | 4 | u32 | `crc32c` of the section's bytes |
//! | 28 | 4 | u32 | `reserved1` (zero) |
//!
//! # Sections
//!
//! | # | name | length | contents |
//! |---:|---|---|---|
//! | 0 | `hashes` | 32·N | the hashes, 32 big-endian bytes each ([`crate::hash::Pdq256`]), record order |
//! | 1 | `id_offsets` | 8·(N+1) | u64 offsets into `id_bytes`; id `i` is `id_bytes[off[i]..off[i+1]]`; `off[0] = 0`, non-decreasing, `off[N]` = length of `id_bytes` |
//! | 2 | `id_bytes` | any | UTF-8 list-entry ids, concatenated |
//! | 3 | `mih_substrings` | 16·m | per substring: `start_bit` u32, `width_bits` u32, `key_bits` u32, reserved u32 (zero) |
//! | 4 | `mih_offsets` | 4·Σ(2^key_bits+1) | per substring, a u32 bucket directory: bucket `k` holds postings `off[k]..off[k+1]`; `off[0]=0`, non-decreasing, last = N |
//! | 5 | `mih_postings` | 16·m·N | per substring, N postings grouped by bucket, ids ascending within a bucket; a posting is the record id (u32), then its fingerprint for the substring: hash bits `end+64..end+96` (u32) and `end..end+64` (u64), where `end = start_bit + width_bits` and bit positions wrap past 255 (each field's most significant bit is the first hash bit) |
//! | 6 | `hnsw_levels` | N or 0 | u8 top level of each node |
//! | 7 | `hnsw_upper_index` | 4·N or 0 | u32 first row in `hnsw_upper` of a node with level ≥ 1 (its level-`l` row is `first + l - 1`), `u32::MAX` for level-0 nodes |
//! | 8 | `hnsw_level0` | 4·N·m0 | N rows of m0 u32 neighbour ids, padded with `u32::MAX` |
//! | 9 | `hnsw_upper` | 4·rows·m | rows of m u32 neighbour ids, padded with `u32::MAX` |
//!
//! Substrings partition the 256 bits in order (`start_bit` counts from the most significant bit
//! of the big-endian hash). A substring's key is its top `key_bits` bits; indexing fewer bits
//! than the substring's width keeps the directory small and only adds candidates, which the
//! search verifies against the full hash, so exactness is unaffected. The fingerprint lets a
//! search discard most candidates without reading their hash (`mih.rs`).
//!
//! Version history: 1 stored bare u32 ids as postings (`mih_ids`, 4·m·N bytes); version 2
//! stores 16-byte fingerprinted postings. Version 1 files are refused with
//! [`IndexError::UnsupportedVersion`]; rebuild them from their hash list.
//!
//! # Checks
//!
//! [`parse`] runs in O(1) past the header: (1) length covers the header, (2) magic, (3) version
//! range, (4) header CRC, (5) reserved fields zero and parameters in range, (6) every section
//! offset and length with checked arithmetic, in order, inside the file, of the length the
//! header implies, (7) the MIH substring table (O(m)): its CRC, and that it partitions the
//! 256 bits. Payload CRCs, id and neighbour ranges are checked by `Index::verify`, and ids
//! read during a search are checked at use.

use std::mem::{offset_of, size_of};

use bytemuck::{Pod, Zeroable};

use super::error::{IndexError, Result};

/// The 8-byte magic: a non-ASCII first byte and `\r\n` catch text-mode mangling. Defined in
/// `crate::files` with the store's, where the kinds are told apart.
pub const MAGIC: [u8; 8] = crate::files::INDEX_MAGIC;
/// The format version this release writes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this release reads.
pub const OLDEST_SUPPORTED_FORMAT_VERSION: u32 = 2;
/// Length of the header in bytes.
pub const HEADER_LEN: usize = 512;
/// Sections start at multiples of this many bytes (cache-line aligned).
pub const SECTION_ALIGN: u64 = 64;
/// `hash_algorithm` value for 256-bit PDQ.
pub const HASH_ALGORITHM_PDQ256: u32 = 1;
/// Bytes per stored hash.
pub const HASH_LEN: usize = 32;
/// Sentinel padding neighbour lists and marking "no node".
pub const NO_NODE: u32 = u32::MAX;
/// Bytes per MIH posting: record id and 96-bit fingerprint.
pub const MIH_POSTING_LEN: usize = 16;
/// Fewest MIH substrings a file may declare (a fingerprint must fit beside its substring).
pub const MIN_MIH_SUBSTRINGS: u32 = 2;
/// Most MIH substrings a file may declare.
pub const MAX_MIH_SUBSTRINGS: u32 = 64;
/// Most key bits per MIH substring (bounds the directory size: 2^24 u32 = 64 MiB).
pub const MAX_MIH_KEY_BITS: u32 = 24;
/// Most HNSW levels a file may declare.
pub const MAX_HNSW_LEVELS: u32 = 64;
/// Largest HNSW neighbour-list width a file may declare.
pub const MAX_HNSW_WIDTH: u32 = 1024;

/// Little-endian `u32` stored as bytes (alignment 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(transparent)]
pub struct U32Le(pub [u8; 4]);

/// Little-endian `u64` stored as bytes (alignment 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(transparent)]
pub struct U64Le(pub [u8; 8]);

impl U32Le {
    /// Encodes `v`.
    #[must_use]
    pub const fn new(v: u32) -> Self {
        U32Le(v.to_le_bytes())
    }
    /// Decodes the value.
    #[must_use]
    pub const fn get(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
}

impl U64Le {
    /// Encodes `v`.
    #[must_use]
    pub const fn new(v: u64) -> Self {
        U64Le(v.to_le_bytes())
    }
    /// Decodes the value.
    #[must_use]
    pub const fn get(self) -> u64 {
        u64::from_le_bytes(self.0)
    }
}

/// The sections of a version-1 file, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SectionKind {
    /// The hashes, 32 bytes each.
    Hashes = 0,
    /// u64 offsets into the id string bytes.
    IdOffsets = 1,
    /// UTF-8 id strings.
    IdBytes = 2,
    /// MIH substring descriptors.
    MihSubstrings = 3,
    /// MIH bucket directories.
    MihOffsets = 4,
    /// MIH postings.
    MihPostings = 5,
    /// HNSW node levels.
    HnswLevels = 6,
    /// HNSW first upper row per node.
    HnswUpperIndex = 7,
    /// HNSW level-0 neighbour rows.
    HnswLevel0 = 8,
    /// HNSW upper-level neighbour rows.
    HnswUpper = 9,
}

/// Number of sections in a version-1 file.
pub const NUM_SECTIONS: usize = 10;

/// All sections in file order.
pub const SECTIONS: [SectionKind; NUM_SECTIONS] = [
    SectionKind::Hashes,
    SectionKind::IdOffsets,
    SectionKind::IdBytes,
    SectionKind::MihSubstrings,
    SectionKind::MihOffsets,
    SectionKind::MihPostings,
    SectionKind::HnswLevels,
    SectionKind::HnswUpperIndex,
    SectionKind::HnswLevel0,
    SectionKind::HnswUpper,
];

impl SectionKind {
    /// The section's name in errors and `imprint index info`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SectionKind::Hashes => "hashes",
            SectionKind::IdOffsets => "id_offsets",
            SectionKind::IdBytes => "id_bytes",
            SectionKind::MihSubstrings => "mih_substrings",
            SectionKind::MihOffsets => "mih_offsets",
            SectionKind::MihPostings => "mih_postings",
            SectionKind::HnswLevels => "hnsw_levels",
            SectionKind::HnswUpperIndex => "hnsw_upper_index",
            SectionKind::HnswLevel0 => "hnsw_level0",
            SectionKind::HnswUpper => "hnsw_upper",
        }
    }
}

/// One section table entry (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SectionRaw {
    /// Section kind number.
    pub kind: U32Le,
    /// Zero.
    pub reserved0: U32Le,
    /// Offset from the file start.
    pub offset: U64Le,
    /// Length in bytes.
    pub len_bytes: U64Le,
    /// CRC32C of the section bytes.
    pub crc32c: U32Le,
    /// Zero.
    pub reserved1: U32Le,
}

/// The 512-byte file header (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct HeaderRaw {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// Format version.
    pub format_version: U32Le,
    /// Header length, 512.
    pub header_len_bytes: U32Le,
    /// Hash algorithm id.
    pub hash_algorithm: U32Le,
    /// Bytes per hash record.
    pub hash_len_bytes: U32Le,
    /// Number of hashes.
    pub num_hashes: U32Le,
    /// Number of sections.
    pub num_sections: U32Le,
    /// Build seed.
    pub seed: U64Le,
    /// MIH substring count.
    pub mih_num_substrings: U32Le,
    /// Zero.
    pub reserved0: U32Le,
    /// HNSW `m`.
    pub hnsw_m: U32Le,
    /// HNSW `m0`.
    pub hnsw_m0: U32Le,
    /// HNSW `ef_construction`.
    pub hnsw_ef_construction: U32Le,
    /// HNSW level count.
    pub hnsw_num_levels: U32Le,
    /// HNSW `level_mult`, f64 bits.
    pub hnsw_level_mult: U64Le,
    /// HNSW entry point.
    pub hnsw_entry_point: U32Le,
    /// Rows in the upper-levels section.
    pub hnsw_num_upper_rows: U32Le,
    /// Writer crate version, zero padded.
    pub writer_version: [u8; 16],
    /// Zero.
    pub reserved1: [u8; 32],
    /// Section table.
    pub sections: [SectionRaw; NUM_SECTIONS],
    /// Zero.
    pub reserved2: [u8; 60],
    /// CRC32C of bytes `0..508`.
    pub header_crc32c: U32Le,
}

const _: () = assert!(size_of::<SectionRaw>() == 32);
const _: () = assert!(size_of::<HeaderRaw>() == HEADER_LEN);
const _: () = assert!(std::mem::align_of::<HeaderRaw>() == 1);

/// Byte offset of the header CRC (it covers everything before it).
pub const HEADER_CRC_OFFSET: usize = offset_of!(HeaderRaw, header_crc32c);

/// One MIH substring as validated from the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Substring {
    /// First bit, counted from the hash's most significant bit.
    pub start_bit: u32,
    /// Width in bits.
    pub width_bits: u32,
    /// Indexed (top) bits of the substring.
    pub key_bits: u32,
    /// First directory entry of this substring in `mih_offsets` (in u32 units).
    pub dir_start: usize,
}

/// Validated view of a header: parameters and section byte ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Format version read.
    pub format_version: u32,
    /// Number of hashes.
    pub num_hashes: u32,
    /// Build seed.
    pub seed: u64,
    /// MIH substrings (`len()` = m).
    pub substrings: Vec<Substring>,
    /// HNSW `m`.
    pub hnsw_m: u32,
    /// HNSW `m0`.
    pub hnsw_m0: u32,
    /// HNSW `ef_construction`.
    pub hnsw_ef_construction: u32,
    /// HNSW level count (0 = no graph).
    pub hnsw_num_levels: u32,
    /// HNSW `level_mult`.
    pub hnsw_level_mult: f64,
    /// HNSW entry point.
    pub hnsw_entry_point: u32,
    /// Rows in `hnsw_upper`.
    pub hnsw_num_upper_rows: u32,
    /// Writer crate version.
    pub writer_version: String,
    /// Byte range of each section.
    pub sections: [std::ops::Range<usize>; NUM_SECTIONS],
    /// Stored CRC of each section.
    pub section_crcs: [u32; NUM_SECTIONS],
}

/// Rounds `x` up to a multiple of [`SECTION_ALIGN`].
pub(crate) fn align_up(x: u64) -> Option<u64> {
    x.checked_add(SECTION_ALIGN - 1)
        .map(|v| v / SECTION_ALIGN * SECTION_ALIGN)
}

/// Reads little-endian u32 number `i` of `bytes`, if present.
#[inline]
pub(crate) fn u32_at(bytes: &[u8], i: usize) -> Option<u32> {
    let start = i.checked_mul(4)?;
    let b = bytes.get(start..start.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads little-endian u64 number `i` of `bytes`, if present.
#[inline]
pub(crate) fn u64_at(bytes: &[u8], i: usize) -> Option<u64> {
    let start = i.checked_mul(8)?;
    let b = bytes.get(start..start.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

fn overflow(what: &'static str) -> IndexError {
    IndexError::corrupt("header", 0, what)
}

fn to_usize(v: u64, what: &'static str) -> Result<usize> {
    usize::try_from(v).map_err(|_| overflow(what))
}

/// Validates the header of `bytes` and every section's bounds, in O(1) of the payload size
/// (O(m) for the MIH substring table, m ≤ [`MAX_MIH_SUBSTRINGS`]).
///
/// # Errors
/// [`IndexError::Truncated`], [`IndexError::BadMagic`], [`IndexError::UnsupportedVersion`],
/// [`IndexError::ChecksumMismatch`] for the header, [`IndexError::Corrupt`] for inconsistent
/// fields.
pub fn parse(bytes: &[u8]) -> Result<Layout> {
    let file_len = bytes.len() as u64;
    // (1) The length covers the magic, then the header.
    if bytes.len() < 8 {
        return Err(IndexError::Truncated {
            needed: HEADER_LEN as u64,
            available: file_len,
        });
    }
    // (2) Magic.
    let mut found = [0u8; 8];
    found.copy_from_slice(&bytes[..8]);
    if found != MAGIC {
        return Err(IndexError::BadMagic { found });
    }
    // (3) Version.
    let version = u32_at(bytes, 2).ok_or(IndexError::Truncated {
        needed: HEADER_LEN as u64,
        available: file_len,
    })?;
    if !(OLDEST_SUPPORTED_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(IndexError::UnsupportedVersion {
            found: version,
            oldest: OLDEST_SUPPORTED_FORMAT_VERSION,
            newest: FORMAT_VERSION,
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(IndexError::Truncated {
            needed: HEADER_LEN as u64,
            available: file_len,
        });
    }
    // (4) Header CRC.
    let header_bytes = &bytes[..HEADER_LEN];
    let h: &HeaderRaw = bytemuck::try_from_bytes(header_bytes)
        .map_err(|_| IndexError::corrupt("header", 0, "header cannot be viewed"))?;
    let actual = crc32c::crc32c(&header_bytes[..HEADER_CRC_OFFSET]);
    let expected = h.header_crc32c.get();
    if actual != expected {
        return Err(IndexError::ChecksumMismatch {
            section: "header",
            expected,
            actual,
        });
    }
    // (5) Fixed fields and parameters.
    let bad = |what| Err(IndexError::corrupt("header", 0, what));
    if h.header_len_bytes.get() as usize != HEADER_LEN {
        return bad("header_len_bytes is not 512");
    }
    if h.hash_algorithm.get() != HASH_ALGORITHM_PDQ256 {
        return bad("unknown hash_algorithm");
    }
    if h.hash_len_bytes.get() as usize != HASH_LEN {
        return bad("hash_len_bytes is not 32");
    }
    if h.num_sections.get() as usize != NUM_SECTIONS {
        return bad("num_sections is not 10");
    }
    if h.reserved0.get() != 0
        || h.reserved1 != [0; 32]
        || h.reserved2 != [0; 60]
        || h.sections
            .iter()
            .any(|s| s.reserved0.get() != 0 || s.reserved1.get() != 0)
    {
        return bad("reserved header bytes are not zero");
    }
    let n = h.num_hashes.get();
    if n == u32::MAX {
        return bad("num_hashes is u32::MAX, the sentinel");
    }
    let n64 = u64::from(n);
    let m = h.mih_num_substrings.get();
    if !(MIN_MIH_SUBSTRINGS..=MAX_MIH_SUBSTRINGS).contains(&m) {
        return bad("mih_num_substrings outside 2..=64");
    }
    let levels = h.hnsw_num_levels.get();
    let (hm, hm0) = (h.hnsw_m.get(), h.hnsw_m0.get());
    let level_mult = f64::from_bits(h.hnsw_level_mult.get());
    if levels > MAX_HNSW_LEVELS || hm > MAX_HNSW_WIDTH || hm0 > MAX_HNSW_WIDTH {
        return bad("hnsw parameters out of range");
    }
    let has_graph = levels > 0;
    if has_graph {
        if n == 0 || hm == 0 || hm0 == 0 || !level_mult.is_finite() {
            return bad("hnsw graph declared with zero width or no nodes");
        }
        if h.hnsw_entry_point.get() >= n {
            return bad("hnsw entry point out of range");
        }
    } else if h.hnsw_num_upper_rows.get() != 0 {
        return bad("hnsw upper rows without a graph");
    }
    let writer_version = String::from_utf8_lossy(&h.writer_version)
        .trim_end_matches('\0')
        .to_string();

    // (6) Sections: kind, position, bounds, expected length. The MIH directory length needs
    // the substring table, so it is checked after reading that table below.
    let mut ranges: [std::ops::Range<usize>; NUM_SECTIONS] = Default::default();
    let mut crcs = [0u32; NUM_SECTIONS];
    let mut prev_end = HEADER_LEN as u64;
    let g = |v: u64, k: u64| {
        v.checked_mul(k)
            .ok_or_else(|| overflow("section size overflows"))
    };
    let graph = u64::from(has_graph);
    for (i, (s, kind)) in h.sections.iter().zip(SECTIONS).enumerate() {
        if s.kind.get() != kind as u32 {
            return bad("section table out of order");
        }
        let offset = s.offset.get();
        let len = s.len_bytes.get();
        let want_offset = align_up(prev_end).ok_or_else(|| overflow("section offset overflows"))?;
        if offset != want_offset {
            return Err(IndexError::corrupt(
                kind.name(),
                i as u64,
                "section offset is not where the previous section ends",
            ));
        }
        let end = offset
            .checked_add(len)
            .ok_or_else(|| overflow("section end overflows"))?;
        if end > file_len {
            return Err(IndexError::Truncated {
                needed: end,
                available: file_len,
            });
        }
        let expected_len = match kind {
            SectionKind::Hashes => Some(g(n64, HASH_LEN as u64)?),
            SectionKind::IdOffsets => Some(g(n64 + 1, 8)?),
            SectionKind::IdBytes => None,
            SectionKind::MihSubstrings => Some(g(u64::from(m), 16)?),
            SectionKind::MihOffsets => None,
            SectionKind::MihPostings => Some(g(g(u64::from(m), n64)?, MIH_POSTING_LEN as u64)?),
            SectionKind::HnswLevels => Some(g(n64, graph)?),
            SectionKind::HnswUpperIndex => Some(g(g(n64, 4)?, graph)?),
            SectionKind::HnswLevel0 => Some(g(g(n64, u64::from(hm0))?, 4 * graph)?),
            SectionKind::HnswUpper => Some(g(
                g(u64::from(h.hnsw_num_upper_rows.get()), u64::from(hm))?,
                4 * graph,
            )?),
        };
        if let Some(e) = expected_len {
            if e != len {
                return Err(IndexError::corrupt(
                    kind.name(),
                    i as u64,
                    "section length does not match the header counts",
                ));
            }
        }
        ranges[i] = to_usize(offset, "offset exceeds address space")?
            ..to_usize(end, "offset exceeds address space")?;
        crcs[i] = s.crc32c.get();
        prev_end = end;
    }
    if prev_end != file_len {
        return Err(IndexError::corrupt(
            "header",
            0,
            "file has bytes after the last section",
        ));
    }

    // MIH substring table: a partition of the 256 bits, in order. It is read here, so its
    // (small, O(m)) checksum is checked here too.
    let table = &bytes[ranges[SectionKind::MihSubstrings as usize].clone()];
    let expected = crcs[SectionKind::MihSubstrings as usize];
    let actual = crc32c::crc32c(table);
    if actual != expected {
        return Err(IndexError::ChecksumMismatch {
            section: SectionKind::MihSubstrings.name(),
            expected,
            actual,
        });
    }
    let mut substrings = Vec::with_capacity(m as usize);
    let mut next_bit = 0u32;
    let mut dir_len = 0usize;
    for j in 0..m as usize {
        let f = |k| u32_at(table, 4 * j + k).unwrap_or(u32::MAX);
        let (start_bit, width_bits, key_bits, reserved) = (f(0), f(1), f(2), f(3));
        if start_bit != next_bit
            || width_bits == 0
            || key_bits == 0
            || key_bits > width_bits
            || key_bits > MAX_MIH_KEY_BITS
            || reserved != 0
        {
            return Err(IndexError::corrupt(
                "mih_substrings",
                j as u64,
                "substring is not the next part of a partition of 256 bits",
            ));
        }
        next_bit = start_bit
            .checked_add(width_bits)
            .filter(|&b| b <= 256)
            .ok_or_else(|| {
                IndexError::corrupt("mih_substrings", j as u64, "substring runs past bit 256")
            })?;
        substrings.push(Substring {
            start_bit,
            width_bits,
            key_bits,
            dir_start: dir_len,
        });
        dir_len = dir_len
            .checked_add((1usize << key_bits) + 1)
            .ok_or_else(|| overflow("mih directory overflows"))?;
    }
    if next_bit != 256 {
        return Err(IndexError::corrupt(
            "mih_substrings",
            u64::from(m),
            "substrings do not cover 256 bits",
        ));
    }
    let dir_bytes = dir_len
        .checked_mul(4)
        .ok_or_else(|| overflow("mih directory overflows"))?;
    if ranges[SectionKind::MihOffsets as usize].len() != dir_bytes {
        return Err(IndexError::corrupt(
            "mih_offsets",
            0,
            "section length does not match the substring table",
        ));
    }

    Ok(Layout {
        format_version: version,
        num_hashes: n,
        seed: h.seed.get(),
        substrings,
        hnsw_m: hm,
        hnsw_m0: hm0,
        hnsw_ef_construction: h.hnsw_ef_construction.get(),
        hnsw_num_levels: levels,
        hnsw_level_mult: level_mult,
        hnsw_entry_point: h.hnsw_entry_point.get(),
        hnsw_num_upper_rows: h.hnsw_num_upper_rows.get(),
        writer_version,
        sections: ranges,
        section_crcs: crcs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_offsets_match_the_documented_table() {
        assert_eq!(offset_of!(HeaderRaw, magic), 0);
        assert_eq!(offset_of!(HeaderRaw, format_version), 8);
        assert_eq!(offset_of!(HeaderRaw, header_len_bytes), 12);
        assert_eq!(offset_of!(HeaderRaw, hash_algorithm), 16);
        assert_eq!(offset_of!(HeaderRaw, hash_len_bytes), 20);
        assert_eq!(offset_of!(HeaderRaw, num_hashes), 24);
        assert_eq!(offset_of!(HeaderRaw, num_sections), 28);
        assert_eq!(offset_of!(HeaderRaw, seed), 32);
        assert_eq!(offset_of!(HeaderRaw, mih_num_substrings), 40);
        assert_eq!(offset_of!(HeaderRaw, reserved0), 44);
        assert_eq!(offset_of!(HeaderRaw, hnsw_m), 48);
        assert_eq!(offset_of!(HeaderRaw, hnsw_m0), 52);
        assert_eq!(offset_of!(HeaderRaw, hnsw_ef_construction), 56);
        assert_eq!(offset_of!(HeaderRaw, hnsw_num_levels), 60);
        assert_eq!(offset_of!(HeaderRaw, hnsw_level_mult), 64);
        assert_eq!(offset_of!(HeaderRaw, hnsw_entry_point), 72);
        assert_eq!(offset_of!(HeaderRaw, hnsw_num_upper_rows), 76);
        assert_eq!(offset_of!(HeaderRaw, writer_version), 80);
        assert_eq!(offset_of!(HeaderRaw, reserved1), 96);
        assert_eq!(offset_of!(HeaderRaw, sections), 128);
        assert_eq!(offset_of!(HeaderRaw, reserved2), 448);
        assert_eq!(offset_of!(HeaderRaw, header_crc32c), 508);
        assert_eq!(offset_of!(SectionRaw, kind), 0);
        assert_eq!(offset_of!(SectionRaw, reserved0), 4);
        assert_eq!(offset_of!(SectionRaw, offset), 8);
        assert_eq!(offset_of!(SectionRaw, len_bytes), 16);
        assert_eq!(offset_of!(SectionRaw, crc32c), 24);
        assert_eq!(offset_of!(SectionRaw, reserved1), 28);
    }

    #[test]
    fn magic_has_a_non_ascii_byte_and_crlf() {
        assert!(MAGIC.iter().any(|b| !b.is_ascii()));
        assert!(MAGIC.windows(2).any(|w| w == b"\r\n"));
    }

    #[test]
    fn parse_rejects_short_input_as_truncated() {
        for len in [0, 7] {
            assert!(matches!(
                parse(&MAGIC[..len]),
                Err(IndexError::Truncated { .. })
            ));
        }
    }

    #[test]
    fn parse_rejects_bad_magic() {
        let mut b = vec![0u8; HEADER_LEN];
        b[..8].copy_from_slice(b"IMPIX\r\n\0");
        assert!(matches!(parse(&b), Err(IndexError::BadMagic { .. })));
    }

    #[test]
    fn parse_rejects_future_version() {
        let mut b = vec![0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&99u32.to_le_bytes());
        match parse(&b) {
            Err(IndexError::UnsupportedVersion {
                found,
                oldest,
                newest,
            }) => assert_eq!((found, oldest, newest), (99, 2, FORMAT_VERSION)),
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
    }

    #[test]
    fn parse_rejects_header_with_bad_checksum() {
        let mut b = vec![0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        assert!(matches!(
            parse(&b),
            Err(IndexError::ChecksumMismatch {
                section: "header",
                ..
            })
        ));
    }
}
