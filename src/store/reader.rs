//! [`Store`]: a zero-copy view of a store's bytes.
//!
//! Opening checks the header, then finds the torn tail: a trailing partial block and the
//! trailing complete blocks that were never sealed (format 2: all-zero seal; format 1: any
//! whose checksum or index is wrong), walking back from the end. That is O(1) for a store
//! closed cleanly or after one crash. Every other block is checked when it is used
//! ([`Store::block`], and so [`Store::records`]): its seal, CRC32C and index, then every offset
//! of its records; a damaged block is [`StoreError::BlockCorrupt`] naming the file, the block
//! and its byte offset, never records read from damaged bytes.

use super::error::{BlockProblem, Result, Section, StoreError};
use super::format::{
    block_crc, le16, le32, BlockHeaderRaw, BlockHeaderV1Raw, HeaderRaw, RecordRaw,
    BLOCK_HEADER_LEN, BLOCK_HEADER_LEN_V1, BLOCK_SIZE_ALIGN, CONVENTION_CPP_CLI,
    CONVENTION_FULL_RESOLUTION, DIHEDRAL_RECORD_LEN, FORMAT_VERSION, HASH_ALGORITHM_PDQ256,
    HEADER_FLAG_DIHEDRAL, HEADER_LEN, MAGIC, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE,
    OLDEST_SUPPORTED_FORMAT_VERSION, PARAM_FLAG_EXIF, RECORD_FLAG_ERROR, RECORD_LEN, SEAL_LEN,
    SEAL_MARKER,
};
use super::params::HashParams;
use crate::hash::{Convention, Hashed, Hashes, Pdq256, PdqHash};
use std::path::{Path, PathBuf};

/// The layout a validated header describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreInfo {
    /// Format version of the file.
    pub format_version: u32,
    /// Whether records carry the 8 dihedral hashes.
    pub dihedral: bool,
    /// Block size in bytes.
    pub block_size: u32,
    /// Record size in bytes.
    pub record_size: u32,
    /// How the hashes were made; `None` for a format-1 store, which does not record it.
    pub hash_params: Option<HashParams>,
}

impl StoreInfo {
    /// Size of a block header in this format version.
    pub(crate) fn block_header_len(&self) -> usize {
        if self.format_version == 1 {
            BLOCK_HEADER_LEN_V1
        } else {
            BLOCK_HEADER_LEN
        }
    }
}

/// Validates a header in the order of STYLE §7: length, magic, version, checksum, fields.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<StoreInfo> {
    let Some(head) = bytes.get(..HEADER_LEN) else {
        return Err(StoreError::Truncated {
            needed: HEADER_LEN as u64,
            available: bytes.len() as u64,
        });
    };
    let mut magic = [0u8; 8];
    magic.copy_from_slice(&head[..8]);
    if magic != MAGIC {
        return Err(StoreError::BadMagic { found: magic });
    }
    let raw: &HeaderRaw = bytemuck::try_from_bytes(head).map_err(|_| StoreError::Truncated {
        needed: HEADER_LEN as u64,
        available: bytes.len() as u64,
    })?;
    let version = le32(raw.format_version);
    if !(OLDEST_SUPPORTED_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(StoreError::UnsupportedVersion {
            found: version,
            oldest: OLDEST_SUPPORTED_FORMAT_VERSION,
            newest: FORMAT_VERSION,
        });
    }
    let expected = le32(raw.header_crc);
    let actual = raw.compute_crc();
    if expected != actual {
        return Err(StoreError::ChecksumMismatch {
            section: Section::Header,
            expected,
            actual,
        });
    }
    let bad = |field, value: u32| StoreError::BadHeader {
        field,
        value: u64::from(value),
    };
    let header_len = le32(raw.header_len);
    if header_len as usize != HEADER_LEN {
        return Err(bad("header_len", header_len));
    }
    let flags = le32(raw.flags);
    if flags & !HEADER_FLAG_DIHEDRAL != 0 {
        return Err(bad("flags", flags));
    }
    let dihedral = flags & HEADER_FLAG_DIHEDRAL != 0;
    let record_size = le32(raw.record_size);
    let want = if dihedral {
        DIHEDRAL_RECORD_LEN
    } else {
        RECORD_LEN
    };
    if record_size as usize != want {
        return Err(bad("record_size", record_size));
    }
    let block_size = le32(raw.block_size);
    if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size)
        || !block_size.is_multiple_of(BLOCK_SIZE_ALIGN)
    {
        return Err(bad("block_size", block_size));
    }
    let algo = le32(raw.hash_algorithm);
    if algo != HASH_ALGORITHM_PDQ256 {
        return Err(bad("hash_algorithm", algo));
    }
    if raw.reserved != [0; 2] {
        return Err(bad("reserved", 1));
    }
    let hash_params = if version == 1 {
        // Bytes 48..60 were reserved in format 1.
        if raw.convention != 0
            || raw.param_flags != 0
            || raw.jpeg_min_side != [0; 4]
            || raw.id_scheme != [0; 4]
        {
            return Err(bad("reserved", 1));
        }
        None
    } else {
        let convention = match raw.convention {
            CONVENTION_FULL_RESOLUTION => Convention::FullResolution,
            CONVENTION_CPP_CLI => Convention::CppCli,
            c => return Err(bad("convention", u32::from(c))),
        };
        if raw.param_flags & !PARAM_FLAG_EXIF != 0 {
            return Err(bad("param_flags", u32::from(raw.param_flags)));
        }
        Some(HashParams {
            convention,
            jpeg_min_side: le32(raw.jpeg_min_side),
            exif: raw.param_flags & PARAM_FLAG_EXIF != 0,
            id_scheme: le32(raw.id_scheme),
        })
    };
    Ok(StoreInfo {
        format_version: version,
        dihedral,
        block_size,
        record_size,
        hash_params,
    })
}

/// What a complete block's seal says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockState {
    /// Sealed, and the seal matches the bytes and the position.
    Sealed,
    /// Format 2: the seal is all zero; the block was written but never sealed.
    Unsealed,
    /// The seal is present but does not match (format 1: any mismatch).
    Damaged(BlockProblem),
}

/// Fields of a block header, whatever the format version.
struct BlockFields {
    block_index: u32,
    num_records: u32,
    strings_len: u32,
}

fn block_fields(block: &[u8], info: &StoreInfo) -> BlockFields {
    // block.len() == block_size >= MIN_BLOCK_SIZE, longer than any block header.
    if info.format_version == 1 {
        let h: BlockHeaderV1Raw = bytemuck::pod_read_unaligned(&block[..BLOCK_HEADER_LEN_V1]);
        BlockFields {
            block_index: le32(h.block_index),
            num_records: le32(h.num_records),
            strings_len: le32(h.strings_len),
        }
    } else {
        let h: BlockHeaderRaw = bytemuck::pod_read_unaligned(&block[..BLOCK_HEADER_LEN]);
        BlockFields {
            block_index: le32(h.block_index),
            num_records: le32(h.num_records),
            strings_len: le32(h.strings_len),
        }
    }
}

/// Checks a complete block's seal, CRC32C and index: O(block size).
pub(crate) fn block_state(block: &[u8], index: u64, info: &StoreInfo) -> BlockState {
    let v = info.format_version;
    if v != 1 {
        if block[..SEAL_LEN].iter().all(|&b| b == 0) {
            return BlockState::Unsealed;
        }
        let mut found = [0u8; 4];
        found.copy_from_slice(&block[4..SEAL_LEN]);
        if found != SEAL_MARKER {
            return BlockState::Damaged(BlockProblem::BadSealMarker { found });
        }
    }
    let mut stored = [0u8; 4];
    stored.copy_from_slice(&block[..4]);
    let expected = le32(stored);
    let actual = block_crc(block, v);
    if expected != actual {
        return BlockState::Damaged(BlockProblem::ChecksumMismatch { expected, actual });
    }
    let found = u64::from(block_fields(block, info).block_index);
    if found != index {
        return BlockState::Damaged(BlockProblem::Misplaced { found });
    }
    BlockState::Sealed
}

/// Whether a complete block at the end of the file belongs to the torn tail: format 2, its
/// seal is all zero (checked in O(1)); format 1, anything but a matching seal.
pub(crate) fn block_is_torn(block: &[u8], index: u64, info: &StoreInfo) -> bool {
    if info.format_version == 1 {
        block_state(block, index, info) != BlockState::Sealed
    } else {
        block[..SEAL_LEN].iter().all(|&b| b == 0)
    }
}

/// Number of blocks before the torn tail of `body_len` bytes of blocks, checking blocks from
/// the end with `is_torn`.
pub(crate) fn count_blocks_before_tail(
    body_len: u64,
    block_size: u32,
    mut is_torn: impl FnMut(u64) -> bool,
) -> u64 {
    let mut n = body_len / u64::from(block_size);
    while n > 0 && is_torn(n - 1) {
        n -= 1;
    }
    n
}

/// A read-only view of a store over any bytes: an mmap in production, a `Vec<u8>` in tests.
///
/// `Send + Sync` when `D` is. Records are read in place; nothing is copied but the hashes
/// returned by value.
#[derive(Debug)]
pub struct Store<D> {
    data: D,
    info: StoreInfo,
    num_blocks: u64,
    /// Bytes of a partial last block that [`Store::open`] left unmapped.
    pub(crate) unmapped_tail_bytes: u64,
    /// The file, named in errors, when opened from one.
    pub(crate) path: Option<PathBuf>,
}

/// Counts from [`Store::verify`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Sealed blocks checked.
    pub num_blocks: u64,
    /// Records, hashes and errors together.
    pub num_records: u64,
    /// Error records among them.
    pub num_error_records: u64,
    /// Bytes after the last sealed block, ignored (a torn tail: blocks an interrupted or
    /// running writer never sealed).
    pub torn_tail_bytes: u64,
}

impl<D: AsRef<[u8]>> Store<D> {
    /// Validates the header and finds the torn tail; O(1) unless the tail is torn. Blocks
    /// are checked when used.
    ///
    /// # Errors
    /// [`StoreError::Truncated`], [`StoreError::BadMagic`], [`StoreError::UnsupportedVersion`],
    /// [`StoreError::ChecksumMismatch`] for the header, [`StoreError::BadHeader`].
    ///
    /// # Examples
    /// ```
    /// use imprint::store::{Store, StoreOptions, StoreWriter};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("hashes.imps");
    /// let mut w = StoreWriter::create(&path, &StoreOptions::new())?;
    /// w.append_error("a.jpg", "not an image")?;
    /// w.finish()?;
    /// let store = Store::from_bytes(std::fs::read(&path)?)?;
    /// assert_eq!(store.records().count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_bytes(data: D) -> Result<Self> {
        let bytes = data.as_ref();
        let info = parse_header(bytes)?;
        let body = &bytes[HEADER_LEN..];
        let bs = info.block_size as usize;
        let num_blocks = count_blocks_before_tail(body.len() as u64, info.block_size, |i| {
            // i < body.len() / bs, so the range is in bounds.
            let start = i as usize * bs;
            block_is_torn(&body[start..start + bs], i, &info)
        });
        Ok(Store {
            data,
            info,
            num_blocks,
            unmapped_tail_bytes: 0,
            path: None,
        })
    }

    /// The file this store was opened from, if any.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The header's layout.
    #[must_use]
    pub fn info(&self) -> StoreInfo {
        self.info
    }

    /// Number of blocks before the torn tail.
    #[must_use]
    pub fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    /// Bytes of the file after the last sealed block (a torn tail), ignored.
    #[must_use]
    pub fn torn_tail_bytes(&self) -> u64 {
        (self.data.as_ref().len() - HEADER_LEN) as u64
            - self.num_blocks * u64::from(self.info.block_size)
            + self.unmapped_tail_bytes
    }

    /// Length of the header and sealed blocks: what a resumed writer keeps.
    #[must_use]
    pub fn committed_len(&self) -> u64 {
        HEADER_LEN as u64 + self.num_blocks * u64::from(self.info.block_size)
    }

    /// Block `index`, its seal and CRC32C checked (O(block size)), then its header.
    ///
    /// # Errors
    /// [`StoreError::BlockCorrupt`] naming the file, block and byte offset when the seal,
    /// checksum or index does not match; [`StoreError::Corrupt`] when the block header is
    /// inconsistent or `index` is out of range.
    pub fn block(&self, index: u64) -> Result<Block<'_>> {
        if index >= self.num_blocks {
            return Err(StoreError::Corrupt {
                block: index,
                reason: "block index out of range",
            });
        }
        let bs = self.info.block_size as usize;
        // index < num_blocks, which was derived from the data length.
        let start = HEADER_LEN + index as usize * bs;
        let bytes = &self.data.as_ref()[start..start + bs];
        let problem = match block_state(bytes, index, &self.info) {
            BlockState::Sealed => return Block::parse(bytes, index, self.info),
            // Only a block before the last one can be unsealed here (see `from_bytes`).
            BlockState::Unsealed => BlockProblem::NeverSealed,
            BlockState::Damaged(p) => p,
        };
        Err(StoreError::BlockCorrupt {
            path: self.path.clone(),
            block: index,
            offset: start as u64,
            problem,
        })
    }

    /// All records in order, block by block, each block checked as [`Store::block`] does
    /// when the iterator reaches it. Stops after the first error.
    pub fn records(&self) -> Records<'_, D> {
        Records {
            store: self,
            block: None,
            next_block: 0,
            next_record: 0,
            failed: false,
        }
    }

    /// Checks every block's seal, checksum, index and records (qualities included: 0 to 100).
    ///
    /// # Errors
    /// The first problem found: [`StoreError::BlockCorrupt`] or [`StoreError::Corrupt`].
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport {
            num_blocks: self.num_blocks,
            torn_tail_bytes: self.torn_tail_bytes(),
            ..VerifyReport::default()
        };
        for i in 0..self.num_blocks {
            let block = self.block(i)?;
            for r in 0..block.len() {
                let rec = block.record(r)?;
                // PDQ qualities run 0..=100; a larger one was never written by a hasher.
                if rec.hash().is_some_and(|h| h.quality > 100) {
                    return Err(StoreError::Corrupt {
                        block: i,
                        reason: "a record's quality is above 100",
                    });
                }
                report.num_records += 1;
                if rec.is_error() {
                    report.num_error_records += 1;
                }
            }
        }
        Ok(report)
    }
}

/// One block of a [`Store`].
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    bytes: &'a [u8],
    index: u64,
    info: StoreInfo,
    num_records: usize,
    strings_start: usize,
}

impl<'a> Block<'a> {
    fn parse(bytes: &'a [u8], index: u64, info: StoreInfo) -> Result<Self> {
        let corrupt = |reason| StoreError::Corrupt {
            block: index,
            reason,
        };
        let h = block_fields(bytes, &info);
        if u64::from(h.block_index) != index {
            return Err(corrupt("block index does not match its position"));
        }
        if info.format_version != 1 && bytes[20..BLOCK_HEADER_LEN] != [0; 4] {
            return Err(corrupt("nonzero reserved bytes in the block header"));
        }
        let num_records = usize::try_from(h.num_records).map_err(|_| corrupt("record count"))?;
        let strings_len =
            usize::try_from(h.strings_len).map_err(|_| corrupt("string area length"))?;
        let strings_start = bytes
            .len()
            .checked_sub(strings_len)
            .ok_or(corrupt("string area longer than the block"))?;
        let records_end = num_records
            .checked_mul(info.record_size as usize)
            .and_then(|n| n.checked_add(info.block_header_len()))
            .ok_or(corrupt("record count"))?;
        if records_end > strings_start {
            return Err(corrupt("records overlap the string area"));
        }
        Ok(Block {
            bytes,
            index,
            info,
            num_records,
            strings_start,
        })
    }

    /// Number of records in the block.
    #[must_use]
    pub fn len(&self) -> usize {
        self.num_records
    }

    /// Whether the block holds no records.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.num_records == 0
    }

    /// Record `i` of the block.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when `i` is out of range or the record's fields are invalid.
    pub fn record(&self, i: usize) -> Result<Record<'a>> {
        let corrupt = |reason| StoreError::Corrupt {
            block: self.index,
            reason,
        };
        if i >= self.num_records {
            return Err(corrupt("record index out of range"));
        }
        let rs = self.info.record_size as usize;
        // i < num_records, and parse checked header + num_records × rs <= strings_start.
        let start = self.info.block_header_len() + i * rs;
        let rec = &self.bytes[start..start + rs];
        let raw: &RecordRaw =
            bytemuck::try_from_bytes(&rec[..RECORD_LEN]).map_err(|_| corrupt("record"))?;
        if raw.flags & !RECORD_FLAG_ERROR != 0 || raw.reserved != [0; 6] {
            return Err(corrupt("unknown record flags or nonzero reserved bytes"));
        }
        let id_len = usize::from(le16(raw.id_len));
        let cause_len = usize::from(le16(raw.cause_len));
        let off = le32(raw.strings_offset) as usize;
        let end = off
            .checked_add(id_len)
            .and_then(|n| n.checked_add(cause_len))
            .ok_or(corrupt("string offset"))?;
        if off < self.strings_start || end > self.bytes.len() {
            return Err(corrupt("string outside the string area"));
        }
        let id = std::str::from_utf8(&self.bytes[off..off + id_len])
            .map_err(|_| corrupt("id is not UTF-8"))?;
        let is_error = raw.flags & RECORD_FLAG_ERROR != 0;
        let outcome = if is_error {
            let cause = std::str::from_utf8(&self.bytes[off + id_len..end])
                .map_err(|_| corrupt("cause is not UTF-8"))?;
            Outcome::Failed { cause }
        } else if cause_len != 0 {
            return Err(corrupt("hash record with a cause"));
        } else if self.info.dihedral {
            let mut hashes = [Pdq256::ZERO; 8];
            hashes[0] = Pdq256(raw.hash);
            for (k, h) in hashes.iter_mut().enumerate().skip(1) {
                let s = RECORD_LEN + (k - 1) * 32;
                let mut b = [0u8; 32];
                b.copy_from_slice(&rec[s..s + 32]);
                *h = Pdq256(b);
            }
            Outcome::Hashed(Hashed {
                hashes: Hashes::Dihedral(hashes),
                quality: raw.quality,
            })
        } else {
            Outcome::Hashed(Hashed {
                hashes: Hashes::One(Pdq256(raw.hash)),
                quality: raw.quality,
            })
        };
        Ok(Record { id, outcome })
    }
}

/// What a record says about its item.
// The hashed variant is 258 bytes; records are short-lived values read one at a time, so
// boxing it would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The item was hashed: its hash, or its 8 dihedral hashes in a dihedral store, and the
    /// quality.
    Hashed(Hashed),
    /// The item could not be hashed.
    Failed {
        /// Why, as stored (possibly shortened).
        cause: &'a str,
    },
}

/// One record, borrowed from the store's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The item id.
    pub id: &'a str,
    /// Its outcome.
    pub outcome: Outcome<'a>,
}

impl Record<'_> {
    /// Whether this is an error record.
    #[must_use]
    pub fn is_error(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }

    /// The hash and quality, for hash records (the original orientation for dihedral ones).
    #[must_use]
    pub fn hash(&self) -> Option<PdqHash> {
        self.hashed().map(|h| h.primary())
    }

    /// The hashes and quality, for hash records.
    #[must_use]
    pub fn hashed(&self) -> Option<Hashed> {
        match self.outcome {
            Outcome::Hashed(h) => Some(h),
            Outcome::Failed { .. } => None,
        }
    }
}

/// Iterator over all records of a [`Store`]; see [`Store::records`].
#[derive(Debug)]
pub struct Records<'a, D> {
    store: &'a Store<D>,
    block: Option<Block<'a>>,
    next_block: u64,
    next_record: usize,
    failed: bool,
}

impl<'a, D: AsRef<[u8]>> Iterator for Records<'a, D> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(b) = &self.block {
                if self.next_record < b.len() {
                    let r = b.record(self.next_record);
                    self.next_record += 1;
                    self.failed = r.is_err();
                    return Some(r);
                }
            }
            if self.next_block >= self.store.num_blocks {
                return None;
            }
            match self.store.block(self.next_block) {
                Ok(b) => self.block = Some(b),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
            self.next_block += 1;
            self.next_record = 0;
        }
    }
}
