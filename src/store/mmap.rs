//! Opening a store file through a read-only memory map (`crate::mmap`).

use super::error::{Result, StoreError};
use super::format::HEADER_LEN;
use super::reader::{parse_header, Store};
use memmap2::Mmap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

impl Store<Mmap> {
    /// Opens a store file by mapping its header and complete blocks read-only.
    ///
    /// The header is read and validated with plain reads first; then only the header and the
    /// complete blocks (`header_len + k × block_size` bytes) are mapped, never a partial tail.
    ///
    /// A torn tail (blocks a writer never sealed: an interrupted run, or one still running) is
    /// logged as a warning and left out; see [`Store::torn_tail_bytes`].
    ///
    /// # mmap contract
    /// A mapped file that another process truncates or rewrites is undefined behaviour. We uphold
    /// it because the writer only appends whole blocks and never rewrites committed bytes. Two
    /// exceptions touch only the torn tail, which a reader never reads past finding it: a
    /// writer fills in the 8-byte seal of the block it just wrote (zero until then), and
    /// recovery on `--resume` truncates a torn tail, so do not resume a store while another
    /// process reads it.
    ///
    /// # Errors
    /// [`StoreError::Io`] naming the path, [`StoreError::NotAFile`] for a directory, pipe or
    /// device, and the header errors of [`Store::from_bytes`].
    ///
    /// # Examples
    /// ```
    /// use imprint::store::{Store, StoreOptions, StoreWriter};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("hashes.imps");
    /// StoreWriter::create(&path, &StoreOptions::new())?.finish()?;
    /// let store = Store::open(&path)?;
    /// assert_eq!(store.num_blocks(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        // Checked before opening: opening a FIFO would wait for a writer.
        super::writer::check_regular(path)?;
        let mut file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        if file_len < HEADER_LEN as u64 {
            return Err(StoreError::Truncated {
                needed: HEADER_LEN as u64,
                available: file_len,
            });
        }
        let mut head = [0u8; HEADER_LEN];
        file.read_exact(&mut head).map_err(io)?;
        let info = parse_header(&head)?;
        let body = file_len - HEADER_LEN as u64;
        let map_len = HEADER_LEN as u64 + body - body % u64::from(info.block_size);
        let map_len = usize::try_from(map_len).map_err(|_| StoreError::Truncated {
            needed: map_len,
            available: usize::MAX as u64,
        })?;
        // Only the header and the complete blocks present now: see the contract above.
        let map = crate::mmap::map_read_only(&file, map_len).map_err(io)?;
        let mut store = Store::from_bytes(map)?;
        store.unmapped_tail_bytes = body % u64::from(info.block_size);
        store.path = Some(path.to_owned());
        let torn = store.torn_tail_bytes();
        if torn > 0 {
            log::warn!(
                "{}: ignoring a torn tail of {torn} bytes after block {} ({})",
                path.display(),
                store.num_blocks(),
                if info.format_version == 1 {
                    "format 1 cannot tell a torn write from a damaged last block"
                } else {
                    "never sealed: left by an interrupted run, or a run still writing; \
                     `hash --resume` removes it"
                }
            );
        }
        Ok(store)
    }
}
