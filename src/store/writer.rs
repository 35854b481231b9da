//! [`StoreWriter`]: appends records in blocks, seals them, and recovers a torn tail on resume.
//!
//! Records collect in an in-memory block; when the next record does not fit, the block is
//! sealed (count, string length, index and CRC32C written into its header) and appended to the
//! file with one write. [`StoreWriter::flush`] seals a partly filled block early (zero-padded
//! to the block size), so a resumed store may hold blocks that are not full. A crash loses at
//! most the records of the unsealed block; [`StoreWriter::resume`] truncates whatever partial
//! or unsealed bytes the crash left and logs it.

use super::error::{Result, StoreError};
use super::format::{
    block_crc, le32, stored_cause, BlockHeaderRaw, HeaderRaw, RecordRaw, BLOCK_HEADER_LEN,
    BLOCK_SIZE_ALIGN, HEADER_LEN, MAX_BLOCK_SIZE, MAX_ID_LEN, MIN_BLOCK_SIZE, RECORD_FLAG_ERROR,
    RECORD_LEN,
};
use super::reader::{block_is_sealed, count_sealed_blocks, parse_header, StoreInfo};
use crate::hash::{DihedralHashes, PdqHash};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Default block size: 64 KiB holds about 600 records with typical path ids, so a crash loses
/// little work, while one `write` per block keeps syscalls and fsyncs rare.
pub const DEFAULT_BLOCK_SIZE: u32 = 64 * 1024;

/// When the writer calls `fsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// After every sealed block: a power loss loses at most the open block. The default,
    /// because a 64 KiB block takes far longer to fill than an fsync takes.
    #[default]
    EveryBlock,
    /// Only in [`StoreWriter::finish`]: faster, but a power loss (not a process crash) can
    /// leave several torn blocks, which recovery drops.
    OnFinish,
}

/// Options for a new store; see each setter for its default.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    dihedral: bool,
    block_size: u32,
    sync: SyncPolicy,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            dihedral: false,
            block_size: DEFAULT_BLOCK_SIZE,
            sync: SyncPolicy::EveryBlock,
        }
    }
}

impl StoreOptions {
    /// Defaults: no dihedral hashes, [`DEFAULT_BLOCK_SIZE`], [`SyncPolicy::EveryBlock`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether records hold the 8 dihedral hashes (default `false`; records grow 48 → 272 B).
    #[must_use]
    pub fn dihedral(mut self, yes: bool) -> Self {
        self.dihedral = yes;
        self
    }

    /// Block size in bytes, a multiple of 4096 in 8 KiB..=16 MiB (default [`DEFAULT_BLOCK_SIZE`]).
    #[must_use]
    pub fn block_size(mut self, bytes: u32) -> Self {
        self.block_size = bytes;
        self
    }

    /// When to fsync (default [`SyncPolicy::EveryBlock`]).
    #[must_use]
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    fn validate(&self) -> Result<()> {
        let b = self.block_size;
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&b) || !b.is_multiple_of(BLOCK_SIZE_ALIGN) {
            return Err(StoreError::InvalidOption {
                name: "block_size",
                value: u64::from(b),
            });
        }
        Ok(())
    }
}

/// What [`StoreWriter::resume`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Sealed blocks kept.
    pub num_blocks: u64,
    /// Bytes of torn tail removed.
    pub truncated_bytes: u64,
}

/// Appends records to a store file. Not `Sync`; one writer per file.
///
/// A writer holds an exclusive advisory lock on the file (`flock` on Unix, `LockFileEx` on
/// Windows) from [`StoreWriter::create`] or [`StoreWriter::resume`] until it is dropped, so a
/// second run started on the same store (a retried cluster job while the first is still
/// alive) fails with [`StoreError::Locked`] instead of interleaving blocks or truncating the
/// first run's tail. Readers take no lock. On filesystems without lock support the writer
/// logs a warning and goes on unlocked.
///
/// Records become durable when their block is sealed ([`StoreWriter::flush`],
/// [`StoreWriter::finish`], or a full block). Dropping a writer without `finish` loses the
/// open block, exactly as a crash would; a resumed run redoes those items.
#[derive(Debug)]
pub struct StoreWriter {
    file: File,
    path: PathBuf,
    info: StoreInfo,
    sync: SyncPolicy,
    block: Vec<u8>,
    num_records: u32,
    strings_len: usize,
    next_block_index: u64,
    num_appended: u64,
}

/// Whether a failed hard link may say the filesystem has none: `EPERM` (FAT's answer, which
/// a real permission problem shares: creating in place then fails with it too), `ENOSYS` or,
/// on Linux, `EOPNOTSUPP` (network and FUSE filesystems).
fn no_hard_links(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::PermissionDenied | ErrorKind::Unsupported
    ) || (cfg!(target_os = "linux") && e.raw_os_error() == Some(95))
}

/// A new file at `at` (truncated, or with `create_new` a file that must not exist yet), locked
/// as the store at `path`, holding the header for `options`, written and fsynced.
fn new_store_file(
    at: &Path,
    path: &Path,
    options: &StoreOptions,
    create_new: bool,
) -> Result<(File, StoreInfo)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(!create_new)
        .truncate(!create_new)
        .create_new(create_new)
        .open(at)
        .map_err(io_err(at))?;
    lock(&file, path)?;
    let header = HeaderRaw::new(options.dihedral, options.block_size);
    file.write_all(bytemuck::bytes_of(&header))
        .map_err(io_err(at))?;
    file.sync_all().map_err(io_err(at))?;
    Ok((file, parse_header(bytemuck::bytes_of(&header))?))
}

/// Takes the writer's exclusive lock on `file` (the store at `path`), without waiting.
fn lock(file: &File, path: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            log::warn!(
                "{}: file locks are not supported here; nothing stops a second writer",
                path.display()
            );
            Ok(())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(path)(e)),
    }
}

impl StoreWriter {
    /// Creates a new store file; fails if `path` exists.
    ///
    /// The header is written and fsynced under a temporary name (`path` + `.creating`) that
    /// is then linked to `path`, so a crash never leaves a store without a complete header.
    /// On a filesystem without hard links (FAT, some network and FUSE mounts) the store is
    /// created at `path` directly, still never replacing a file there; a crash while its
    /// header is written can then leave a file that [`StoreWriter::resume`] rejects as
    /// truncated.
    ///
    /// # Errors
    /// [`StoreError::InvalidOption`], or [`StoreError::Io`] naming the path.
    pub fn create(path: &Path, options: &StoreOptions) -> Result<Self> {
        options.validate()?;
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".creating");
        let tmp = PathBuf::from(tmp_name);
        // Locked before it gets its real name, so no other writer can ever hold it.
        let (file, info) = new_store_file(&tmp, path, options, false)?;
        // A hard link fails if `path` exists, unlike a rename, which would replace it.
        #[cfg(not(test))]
        let linked = std::fs::hard_link(&tmp, path);
        #[cfg(test)]
        let linked = if super::tests::NO_HARD_LINKS.get() {
            Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
        } else {
            std::fs::hard_link(&tmp, path)
        };
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Self::with_file(file, path, info, options.sync, 0)),
            Err(e) if no_hard_links(&e) => {
                drop(file);
                log::warn!(
                    "{}: no hard links on this filesystem ({e}); creating the store in place",
                    path.display()
                );
                let (file, info) = new_store_file(path, path, options, true)?;
                Ok(Self::with_file(file, path, info, options.sync, 0))
            }
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// Opens an existing store to append to it, truncating a torn tail left by a crash (and
    /// logging that it did). The block size comes from the file; `options.dihedral` must match.
    ///
    /// # Errors
    /// Header errors as in [`Store::from_bytes`](super::Store::from_bytes),
    /// [`StoreError::DihedralMismatch`], or [`StoreError::Io`] naming the path.
    pub fn resume(path: &Path, options: &StoreOptions) -> Result<(Self, Recovery)> {
        let io = io_err(path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        lock(&file, path)?;
        let file_len = file.metadata().map_err(io_err(path))?.len();
        if file_len < HEADER_LEN as u64 {
            return Err(StoreError::Truncated {
                needed: HEADER_LEN as u64,
                available: file_len,
            });
        }
        let mut head = [0u8; HEADER_LEN];
        file.read_exact(&mut head).map_err(io_err(path))?;
        let info = parse_header(&head)?;
        if info.dihedral != options.dihedral {
            return Err(StoreError::DihedralMismatch {
                store_has: info.dihedral,
            });
        }
        let bs = info.block_size as usize;
        let mut buf = vec![0u8; bs];
        let mut read_error = None;
        let num_blocks = count_sealed_blocks(file_len - HEADER_LEN as u64, info.block_size, |i| {
            let pos = HEADER_LEN as u64 + i * bs as u64;
            let r = file
                .seek(SeekFrom::Start(pos))
                .and_then(|_| file.read_exact(&mut buf));
            match r {
                Ok(()) => block_is_sealed(&buf, i),
                Err(e) => {
                    read_error.get_or_insert(e);
                    true
                }
            }
        });
        if let Some(e) = read_error {
            return Err(io_err(path)(e));
        }
        let keep = HEADER_LEN as u64 + num_blocks * bs as u64;
        let truncated_bytes = file_len - keep;
        if truncated_bytes > 0 {
            log::warn!(
                "{}: removing a torn tail of {truncated_bytes} bytes after {num_blocks} sealed blocks \
                 (left by an interrupted run)",
                path.display()
            );
            file.set_len(keep).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
        }
        file.seek(SeekFrom::Start(keep)).map_err(io_err(path))?;
        let w = Self::with_file(file, path, info, options.sync, num_blocks);
        Ok((
            w,
            Recovery {
                num_blocks,
                truncated_bytes,
            },
        ))
    }

    fn with_file(
        file: File,
        path: &Path,
        info: StoreInfo,
        sync: SyncPolicy,
        next_block_index: u64,
    ) -> Self {
        StoreWriter {
            file,
            path: path.to_owned(),
            info,
            sync,
            block: vec![0u8; info.block_size as usize],
            num_records: 0,
            strings_len: 0,
            next_block_index,
            num_appended: 0,
        }
    }

    /// The store's layout.
    #[must_use]
    pub fn info(&self) -> StoreInfo {
        self.info
    }

    /// Records appended by this writer (sealed or not).
    #[must_use]
    pub fn num_appended(&self) -> u64 {
        self.num_appended
    }

    /// Appends a hash record. In a dihedral store the other seven hashes are stored as zero;
    /// use [`StoreWriter::append_dihedral`] there.
    ///
    /// # Errors
    /// [`StoreError::IdTooLong`], [`StoreError::DihedralMismatch`], or [`StoreError::Io`] when a
    /// full block is written.
    pub fn append_hash(&mut self, id: &str, hash: &PdqHash) -> Result<()> {
        if self.info.dihedral {
            return Err(StoreError::DihedralMismatch { store_has: true });
        }
        self.append(id, hash.hash.0, hash.quality, 0, None, "")
    }

    /// Appends a record with the 8 dihedral hashes.
    ///
    /// # Errors
    /// As [`StoreWriter::append_hash`].
    pub fn append_dihedral(&mut self, id: &str, hashes: &DihedralHashes) -> Result<()> {
        if !self.info.dihedral {
            return Err(StoreError::DihedralMismatch { store_has: false });
        }
        self.append(id, hashes.hashes[0].0, hashes.quality, 0, Some(hashes), "")
    }

    /// Appends an error record: the item `id` failed because of `cause` (cut to
    /// [`MAX_CAUSE_LEN`](super::MAX_CAUSE_LEN) bytes at a char boundary).
    ///
    /// # Errors
    /// As [`StoreError::IdTooLong`] or [`StoreError::Io`].
    pub fn append_error(&mut self, id: &str, cause: &str) -> Result<()> {
        self.append(id, [0; 32], 0, RECORD_FLAG_ERROR, None, stored_cause(cause))
    }

    fn append(
        &mut self,
        id: &str,
        hash: [u8; 32],
        quality: u8,
        flags: u8,
        dihedral: Option<&DihedralHashes>,
        cause: &str,
    ) -> Result<()> {
        if id.len() > MAX_ID_LEN {
            return Err(StoreError::IdTooLong {
                len: id.len(),
                max: MAX_ID_LEN,
            });
        }
        let rs = self.info.record_size as usize;
        let strings = id.len() + cause.len();
        let bs = self.block.len();
        let fits =
            |n: u32, sl: usize| BLOCK_HEADER_LEN + (n as usize + 1) * rs + sl + strings <= bs;
        if !fits(self.num_records, self.strings_len) {
            self.seal()?;
        }
        // MIN_BLOCK_SIZE is checked to fit the largest record in an empty block.
        debug_assert!(fits(0, 0));
        let off = bs - self.strings_len - strings;
        self.block[off..off + id.len()].copy_from_slice(id.as_bytes());
        self.block[off + id.len()..off + strings].copy_from_slice(cause.as_bytes());
        self.strings_len += strings;
        let raw = RecordRaw {
            hash,
            quality,
            flags,
            id_len: (id.len() as u16).to_le_bytes(),
            strings_offset: (off as u32).to_le_bytes(),
            cause_len: (cause.len() as u16).to_le_bytes(),
            reserved: [0; 6],
        };
        let start = BLOCK_HEADER_LEN + self.num_records as usize * rs;
        self.block[start..start + RECORD_LEN].copy_from_slice(bytemuck::bytes_of(&raw));
        if let Some(d) = dihedral {
            for (k, h) in d.hashes.iter().enumerate().skip(1) {
                let s = start + RECORD_LEN + (k - 1) * 32;
                self.block[s..s + 32].copy_from_slice(&h.0);
            }
        }
        self.num_records += 1;
        self.num_appended += 1;
        Ok(())
    }

    /// Seals the open block if it holds records, writes it, and fsyncs per the policy.
    ///
    /// # Errors
    /// [`StoreError::Io`] naming the path.
    pub fn flush(&mut self) -> Result<()> {
        if self.num_records > 0 {
            self.seal()?;
        }
        Ok(())
    }

    /// Flushes and fsyncs; the store is complete.
    ///
    /// # Errors
    /// [`StoreError::Io`] naming the path.
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.file.sync_all().map_err(io_err(&self.path))
    }

    fn seal(&mut self) -> Result<()> {
        let index =
            u32::try_from(self.next_block_index).map_err(|_| StoreError::InvalidOption {
                name: "number of blocks",
                value: self.next_block_index,
            })?;
        let mut h = BlockHeaderRaw {
            crc: [0; 4],
            block_index: index.to_le_bytes(),
            num_records: self.num_records.to_le_bytes(),
            strings_len: (self.strings_len as u32).to_le_bytes(),
        };
        self.block[..BLOCK_HEADER_LEN].copy_from_slice(bytemuck::bytes_of(&h));
        h.crc = block_crc(&self.block).to_le_bytes();
        self.block[..4].copy_from_slice(&h.crc);
        debug_assert_eq!(le32(h.crc), block_crc(&self.block));
        self.file
            .write_all(&self.block)
            .map_err(io_err(&self.path))?;
        if self.sync == SyncPolicy::EveryBlock {
            self.file.sync_data().map_err(io_err(&self.path))?;
        }
        self.block.fill(0);
        self.num_records = 0;
        self.strings_len = 0;
        self.next_block_index += 1;
        Ok(())
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}
