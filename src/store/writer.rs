//! [`StoreWriter`]: appends records in blocks, seals them, and recovers a torn tail on resume.
//!
//! Records collect in an in-memory block; when the next record does not fit, the block is
//! sealed: written whole with its 8-byte seal still zero, fsynced, then its seal (CRC32C and
//! marker) written over the zeros and fsynced again ([`SyncPolicy::EveryBlock`]). So the seal
//! is the last thing a block gets, and a crash leaves only never-sealed blocks behind it.
//! [`StoreWriter::flush`] seals a partly filled block early (zero-padded to the block size),
//! so a resumed store may hold blocks that are not full. A crash loses at most the records of
//! the unsealed block; [`StoreWriter::resume`] truncates whatever partial or unsealed bytes the
//! crash left and logs it, and refuses a store whose last sealed block is damaged.
//!
//! Every writer locks its file before writing a byte of it. A new store is built under a
//! temporary name (`path` + `.creating`): opened without truncation, locked, checked to be
//! still the file of that name, and only then emptied and given its header, then hard-linked
//! to `path` (which fails if `path` exists). A second creator racing the first therefore gets
//! [`StoreError::Locked`] or [`StoreError::AlreadyExists`] and never touches the first one's
//! bytes; a temporary file left by a killed run is unlocked, so the next run removes it (and
//! logs that it did).

use super::error::{Result, StoreError};
use super::format::{
    block_crc, stored_cause, BlockHeaderRaw, HeaderRaw, RecordRaw, BLOCK_HEADER_LEN,
    BLOCK_SIZE_ALIGN, FORMAT_VERSION, HEADER_LEN, MAX_BLOCK_SIZE, MAX_ID_LEN, MIN_BLOCK_SIZE,
    RECORD_FLAG_ERROR, RECORD_LEN, SEAL_LEN, SEAL_MARKER,
};
use super::params::HashParams;
use super::reader::{block_is_torn, block_state, count_blocks_before_tail, parse_header};
use super::reader::{BlockState, StoreInfo};
use crate::hash::{DihedralHashes, Hashed, PdqHash};
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
    /// Twice per sealed block (after its body, after its seal): a power loss loses at most the
    /// open block, and leaves nothing that looks sealed but is not. The default, because a
    /// 64 KiB block takes far longer to fill than an fsync takes.
    #[default]
    EveryBlock,
    /// Only in [`StoreWriter::finish`]: faster, and still safe against a process crash, but a
    /// power loss can leave several torn blocks (which recovery drops) or, when the disk
    /// wrote a seal before its block, a last block that reads as corrupt.
    OnFinish,
}

/// Options for a new store; see each setter for its default.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    dihedral: bool,
    block_size: u32,
    sync: SyncPolicy,
    hash_params: HashParams,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            dihedral: false,
            block_size: DEFAULT_BLOCK_SIZE,
            sync: SyncPolicy::EveryBlock,
            hash_params: HashParams::default(),
        }
    }
}

impl StoreOptions {
    /// Defaults: no dihedral hashes, [`DEFAULT_BLOCK_SIZE`], [`SyncPolicy::EveryBlock`],
    /// [`HashParams::default`].
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

    /// How the hashes are made (default [`HashParams::default`]): recorded in a new store's
    /// header, and required to match the header by [`StoreWriter::resume`].
    #[must_use]
    pub fn hash_params(mut self, params: HashParams) -> Self {
        self.hash_params = params;
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
    /// The size of a stale temporary file (`path` + `.creating`, left by a run killed while
    /// it created the store) that was removed, if there was one.
    pub removed_stale_creating: Option<u64>,
}

/// Appends records to a store file. Not `Sync`; one writer per file.
///
/// A writer holds an exclusive advisory lock on the file (`flock` on Unix, `LockFileEx` on
/// Windows) from [`StoreWriter::create`] or [`StoreWriter::resume`] until it is dropped, so a
/// second run started on the same store (a retried cluster job while the first is still
/// alive) fails with [`StoreError::Locked`] instead of interleaving blocks or truncating the
/// first run's tail. The lock is taken before any byte is written or truncated. Readers take
/// no lock. On filesystems without lock support the writer logs a warning and goes on
/// unlocked.
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
    /// For [`StoreWriter::create_whole`]: the temporary file, linked to `path` by `finish`.
    staged: Option<PathBuf>,
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

/// `std::fs::hard_link`, or in unit tests a filesystem without hard links when asked.
fn hard_link(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(test)]
    if super::tests::NO_HARD_LINKS.get() {
        return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
    }
    std::fs::hard_link(from, to)
}

/// The temporary name a store at `path` is created under: `path` + `.creating`.
#[must_use]
pub(crate) fn creating_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".creating");
    PathBuf::from(name)
}

/// Whether the open `file` is the file now named `name` (Unix: same device and inode).
/// Elsewhere there are no inode numbers in std, and this answers whether `name` exists.
fn is_file_named(file: &File, name: &Path) -> std::io::Result<bool> {
    let there = match std::fs::symlink_metadata(name) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let here = file.metadata()?;
        Ok(here.dev() == there.dev() && here.ino() == there.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(there.is_file())
    }
}

/// Whether anything (a file, a link, a dangling link) is at `path`.
fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Writes, best effort, the directory entry changes under `dir` to disk (a new link).
fn sync_dir_of(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The file at `tmp` (`path` + `.creating`), locked as the store at `path`, emptied and given
/// the header for `options`, written and fsynced. Lock first, then touch: the file is opened
/// without truncation, locked, and checked to still be the file named `tmp` (a racing
/// creator may have published it as its store and dropped the name) before any byte changes.
/// A file found there with bytes in it is a stale one from a killed run: it is reused (and
/// the reuse logged). On an error after the lock, the temporary file is removed.
fn new_staged_file(tmp: &Path, path: &Path, options: &StoreOptions) -> Result<(File, StoreInfo)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(tmp)
        .map_err(io_err(tmp))?;
    lock(&file, path)?;
    if !is_file_named(&file, tmp).map_err(io_err(tmp))? {
        // Another creator linked this file as its store and removed the temporary name.
        return Err(if exists(path) {
            StoreError::AlreadyExists {
                path: path.to_owned(),
            }
        } else {
            StoreError::Locked {
                path: path.to_owned(),
            }
        });
    }
    // From here on this file is ours: no other writer can lock it, and only a lock holder
    // removes the name, so removing it on failure is safe.
    let fail = |e: StoreError| {
        let _ = std::fs::remove_file(tmp);
        e
    };
    if exists(path) {
        return Err(fail(StoreError::AlreadyExists {
            path: path.to_owned(),
        }));
    }
    let stale = file.metadata().map_err(io_err(tmp)).map_err(fail)?.len();
    if stale > 0 {
        log::warn!(
            "{}: replacing a stale temporary file of {stale} bytes left by an interrupted run",
            tmp.display()
        );
        file.set_len(0).map_err(io_err(tmp)).map_err(fail)?;
    }
    let header = HeaderRaw::new(options.dihedral, options.block_size, &options.hash_params);
    file.write_all(bytemuck::bytes_of(&header))
        .and_then(|()| file.sync_all())
        .map_err(io_err(tmp))
        .map_err(fail)?;
    let info = parse_header(bytemuck::bytes_of(&header)).map_err(fail)?;
    Ok((file, info))
}

/// A new store file created in place at `path` (no hard links here), never over a file.
fn new_file_in_place(path: &Path, options: &StoreOptions) -> Result<(File, StoreInfo)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::AlreadyExists {
                    path: path.to_owned(),
                }
            } else {
                io_err(path)(e)
            }
        })?;
    lock(&file, path)?;
    let header = HeaderRaw::new(options.dihedral, options.block_size, &options.hash_params);
    file.write_all(bytemuck::bytes_of(&header))
        .and_then(|()| file.sync_all())
        .map_err(io_err(path))?;
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

/// Removes `path` + `.creating` if no live writer holds it: a temporary file left by a run
/// killed while it created the store at `path` (whose lock, in `locked`, this writer holds).
/// Returns the size of the file removed; logs that it did.
fn remove_stale_creating(path: &Path, locked: &File) -> Option<u64> {
    let tmp = creating_path(path);
    let f = OpenOptions::new().read(true).write(true).open(&tmp).ok()?;
    // Killed between linking and removing the name: `tmp` is our own locked store.
    let ours = is_file_named(locked, &tmp).unwrap_or(false) && cfg!(unix);
    if !ours && (f.try_lock().is_err() || !is_file_named(&f, &tmp).unwrap_or(false)) {
        return None; // a live creator's, or gone meanwhile
    }
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    std::fs::remove_file(&tmp).ok()?;
    log::warn!(
        "{}: removed a stale temporary file of {len} bytes left by an interrupted run",
        tmp.display()
    );
    Some(len)
}

/// Checks `options` and that `path` is free, then makes the locked, staged file of a new store
/// at `path` + `.creating`: what [`StoreWriter::create`] and [`StoreWriter::create_whole`]
/// both start with.
fn staged_new_store(path: &Path, options: &StoreOptions) -> Result<(PathBuf, File, StoreInfo)> {
    options.validate()?;
    if exists(path) {
        return Err(StoreError::AlreadyExists {
            path: path.to_owned(),
        });
    }
    let tmp = creating_path(path);
    let (file, info) = new_staged_file(&tmp, path, options)?;
    Ok((tmp, file, info))
}

impl StoreWriter {
    /// Creates a new store file; fails if `path` exists.
    ///
    /// The header is written and fsynced under a temporary name (`path` + `.creating`), locked
    /// before it is touched, that is then linked to `path`, so a crash never leaves a store
    /// without a complete header and a concurrent creator of the same path fails without
    /// touching this store. On a filesystem without hard links (FAT, some network and FUSE
    /// mounts) the store is created at `path` directly, still never replacing a file there; a
    /// crash while its header is written can then leave a file that [`StoreWriter::resume`]
    /// rejects as truncated.
    ///
    /// # Errors
    /// [`StoreError::InvalidOption`]; [`StoreError::AlreadyExists`] when `path` exists;
    /// [`StoreError::Locked`] when another process is creating it right now;
    /// [`StoreError::Io`] naming the path.
    pub fn create(path: &Path, options: &StoreOptions) -> Result<Self> {
        let (tmp, file, info) = staged_new_store(path, options)?;
        // A hard link fails if `path` exists, unlike a rename, which would replace it.
        let linked = hard_link(&tmp, path);
        // We hold the lock on `tmp`, so the name is ours to remove.
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir_of(path);
                Ok(Self::with_file(file, path, info, options.sync, 0))
            }
            Err(e) if no_hard_links(&e) => {
                drop(file);
                log::warn!(
                    "{}: no hard links on this filesystem ({e}); creating the store in place",
                    path.display()
                );
                let (file, info) = new_file_in_place(path, options)?;
                Ok(Self::with_file(file, path, info, options.sync, 0))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StoreError::AlreadyExists {
                    path: path.to_owned(),
                })
            }
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// Creates a new store that appears at `path` only when [`StoreWriter::finish`] succeeds:
    /// until then it is built under `path` + `.creating` (locked), so a crash or an error
    /// leaves `path` as it was (absent), never a partial store. Used by [`merge`](super::merge).
    /// On a filesystem without hard links, `finish` renames the file into place after
    /// checking that `path` is still free (a rename there could replace a file created in
    /// between; hard links cannot).
    ///
    /// # Errors
    /// As [`StoreWriter::create`].
    pub fn create_whole(path: &Path, options: &StoreOptions) -> Result<Self> {
        let (tmp, file, info) = staged_new_store(path, options)?;
        let mut w = Self::with_file(file, path, info, options.sync, 0);
        w.staged = Some(tmp);
        Ok(w)
    }

    /// Opens an existing store to append to it, truncating a torn tail left by a crash (and
    /// logging that it did), and removing a stale `path` + `.creating` left by a killed
    /// creation. The block size comes from the file; `options.dihedral` and
    /// `options.hash_params` must match the header's.
    ///
    /// # Errors
    /// Header errors as in [`Store::from_bytes`](super::Store::from_bytes);
    /// [`StoreError::FormatTooOldToAppend`] for a store of an older format;
    /// [`StoreError::DihedralMismatch`]; [`StoreError::ParamsMismatch`];
    /// [`StoreError::BlockCorrupt`] when the last sealed block is damaged (corruption is
    /// never truncated away); [`StoreError::Locked`]; [`StoreError::NotAFile`];
    /// [`StoreError::Io`] naming the path.
    pub fn resume(path: &Path, options: &StoreOptions) -> Result<(Self, Recovery)> {
        let io = io_err(path);
        check_regular(path)?;
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
        if info.format_version != FORMAT_VERSION {
            return Err(StoreError::FormatTooOldToAppend {
                path: path.to_owned(),
                found: info.format_version,
                newest: FORMAT_VERSION,
            });
        }
        if info.dihedral != options.dihedral {
            return Err(StoreError::DihedralMismatch {
                store_has: info.dihedral,
            });
        }
        if let Some(store) = info.hash_params {
            if store != options.hash_params {
                return Err(StoreError::ParamsMismatch {
                    path: path.to_owned(),
                    store,
                    requested: options.hash_params,
                });
            }
        }
        let bs = info.block_size as usize;
        let mut buf = vec![0u8; bs];
        let read_block = |file: &mut File, i: u64, buf: &mut [u8]| {
            let pos = HEADER_LEN as u64 + i * bs as u64;
            file.seek(SeekFrom::Start(pos))
                .and_then(|_| file.read_exact(buf))
                .map_err(io_err(path))
        };
        let mut read_error = None;
        let num_blocks =
            count_blocks_before_tail(file_len - HEADER_LEN as u64, info.block_size, |i| {
                match read_block(&mut file, i, &mut buf) {
                    Ok(()) => block_is_torn(&buf, i, &info),
                    Err(e) => {
                        read_error.get_or_insert(e);
                        false
                    }
                }
            });
        if let Some(e) = read_error {
            return Err(e);
        }
        if num_blocks > 0 {
            // Corruption in the last sealed block is reported, never truncated away.
            let last = num_blocks - 1;
            read_block(&mut file, last, &mut buf)?;
            if let BlockState::Damaged(problem) = block_state(&buf, last, &info) {
                return Err(StoreError::BlockCorrupt {
                    path: Some(path.to_owned()),
                    block: last,
                    offset: HEADER_LEN as u64 + last * bs as u64,
                    problem,
                });
            }
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
        let removed_stale_creating = remove_stale_creating(path, &file);
        let w = Self::with_file(file, path, info, options.sync, num_blocks);
        Ok((
            w,
            Recovery {
                num_blocks,
                truncated_bytes,
                removed_stale_creating,
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
            staged: None,
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

    /// Appends a hash record for `hashed`: one hash in a plain store, the 8 dihedral hashes in a
    /// dihedral one.
    ///
    /// # Errors
    /// As [`StoreWriter::append_hash`]; [`StoreError::DihedralMismatch`] when the hashes are
    /// not the kind the store holds.
    pub fn append_hashed(&mut self, id: &str, hashed: &Hashed) -> Result<()> {
        match hashed.dihedral() {
            Some(d) => self.append_dihedral(id, &d),
            None => self.append_hash(id, &hashed.primary()),
        }
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
        // Writers write only the current format, whose block header is BLOCK_HEADER_LEN.
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

    /// Flushes and fsyncs; the store is complete. A store from
    /// [`StoreWriter::create_whole`] appears at its path now.
    ///
    /// # Errors
    /// [`StoreError::Io`] naming the path; for [`StoreWriter::create_whole`],
    /// [`StoreError::AlreadyExists`] when a file appeared at the path meanwhile (the new
    /// store is then removed).
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.file.sync_all().map_err(io_err(&self.path))?;
        let Some(tmp) = self.staged.take() else {
            return Ok(());
        };
        let path = self.path.clone();
        // We hold the lock on `tmp` until `self` drops at the end, so its name is ours.
        let published = match hard_link(&tmp, &path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StoreError::AlreadyExists { path: path.clone() })
            }
            Err(e) if no_hard_links(&e) => {
                if exists(&path) {
                    Err(StoreError::AlreadyExists { path: path.clone() })
                } else {
                    std::fs::rename(&tmp, &path).map_err(io_err(&path))
                }
            }
            Err(e) => Err(io_err(&path)(e)),
        };
        let _ = std::fs::remove_file(&tmp);
        if published.is_ok() {
            sync_dir_of(&path);
        }
        published
    }

    /// Drops a store from [`StoreWriter::create_whole`] that will not be finished: removes
    /// its temporary file, so `path` stays as it was. Other writers are simply dropped.
    pub fn abandon(mut self) {
        if let Some(tmp) = self.staged.take() {
            // Removed while we hold its lock (released when `self` drops).
            let _ = std::fs::remove_file(tmp);
        }
    }

    /// Writes the open block at its place and seals it: the whole block with a zero seal,
    /// (fsync), then the seal (fsync). On a failed write the file is cut back to the sealed
    /// blocks, best effort, so a full disk leaves no partial block and frees its space.
    fn seal(&mut self) -> Result<()> {
        let index =
            u32::try_from(self.next_block_index).map_err(|_| StoreError::InvalidOption {
                name: "number of blocks",
                value: self.next_block_index,
            })?;
        let h = BlockHeaderRaw {
            crc: [0; 4],
            seal_marker: [0; 4],
            block_index: index.to_le_bytes(),
            num_records: self.num_records.to_le_bytes(),
            strings_len: (self.strings_len as u32).to_le_bytes(),
            reserved: [0; 4],
        };
        self.block[..BLOCK_HEADER_LEN].copy_from_slice(bytemuck::bytes_of(&h));
        let mut seal = [0u8; SEAL_LEN];
        seal[..4].copy_from_slice(&block_crc(&self.block, FORMAT_VERSION).to_le_bytes());
        seal[4..].copy_from_slice(&SEAL_MARKER);
        let pos = HEADER_LEN as u64 + self.next_block_index * self.block.len() as u64;
        let every = self.sync == SyncPolicy::EveryBlock;
        let file = &mut self.file;
        let block = &self.block;
        let written = file
            .seek(SeekFrom::Start(pos))
            .and_then(|_| file.write_all(block))
            .and_then(|()| if every { file.sync_data() } else { Ok(()) })
            .and_then(|()| file.seek(SeekFrom::Start(pos)))
            .and_then(|_| file.write_all(&seal))
            .and_then(|()| if every { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            let _ = self.file.set_len(pos);
            return Err(io_err(&self.path)(e));
        }
        self.block.fill(0);
        self.num_records = 0;
        self.strings_len = 0;
        self.next_block_index += 1;
        Ok(())
    }
}

/// Refuses a `path` that is not a regular file, before anything opens it: opening a pipe waits
/// for a writer, and a device such as `/dev/zero` never ends.
pub(super) fn check_regular(path: &Path) -> Result<()> {
    match crate::files::regular_file_meta(path).map_err(io_err(path))? {
        Ok(_) => Ok(()),
        Err(kind) => Err(StoreError::NotAFile {
            path: path.to_owned(),
            kind,
        }),
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}
