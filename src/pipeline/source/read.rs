//! An item's bytes: read now or by a read thread, screened by their first bytes, and capped
//! at a per-item limit before anything is allocated.

use crate::pipeline::stage::ItemError;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Default cap on the bytes of one item: larger files become error records instead of
/// allocations (the largest camera JPEGs are around 50 MB).
pub const DEFAULT_MAX_ITEM_BYTES: u64 = 256 << 20;

/// Why an item's bytes could not be read.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    Io(std::io::Error),
    TooLarge {
        len: u64,
        max: u64,
    },
    /// Found by a walk, and its first bytes are no image the decoder reads.
    NotAnImage,
}

/// Tells from an item's first bytes whether it may be an image ([`crate::pipeline::Decoder::accepts`]).
pub(crate) type Screen<'a> = &'a (dyn Fn(&[u8]) -> bool + Sync);

/// One item as the walk finds it: its id and its bytes, read or to be read.
pub(crate) struct RawItem {
    pub id: String,
    pub content: Content,
}

/// An item's bytes as the walk hands them on.
pub(crate) enum Content {
    /// Read during the walk (tar members, which are read in order from one stream), or why
    /// they could not be.
    Read(std::result::Result<Vec<u8>, ReadFailure>),
    /// A file, read by one of the read threads (or whoever takes the item), so that the reads
    /// of many files wait on storage at the same time rather than one after another (network
    /// file systems answer each read after milliseconds).
    File {
        /// Where it is.
        path: PathBuf,
        /// The per-item limit in bytes.
        max: u64,
        /// Whether a walk found it, so that its first bytes decide whether it is read on.
        walked: bool,
    },
}

impl RawItem {
    /// The id and the bytes, reading the file now if it was not read yet. A file found by a
    /// walk whose first bytes `screen` turns down is not read on ([`ReadFailure::NotAnImage`]).
    pub(crate) fn read(
        self,
        screen: Screen<'_>,
    ) -> (String, std::result::Result<Vec<u8>, ReadFailure>) {
        let bytes = match self.content {
            Content::Read(bytes) => bytes,
            Content::File { path, max, walked } => read_file(&path, max, walked.then_some(screen)),
        };
        (self.id, bytes)
    }

    /// Whether the item was read already, and that failed.
    pub(crate) fn read_failed(&self) -> bool {
        matches!(self.content, Content::Read(Err(_)))
    }

    /// The item with its bytes read, as [`RawItem::read`].
    pub(crate) fn read_now(self, screen: Screen<'_>) -> RawItem {
        let (id, bytes) = self.read(screen);
        RawItem {
            id,
            content: Content::Read(bytes),
        }
    }
}

impl From<ReadFailure> for ItemError {
    fn from(f: ReadFailure) -> Self {
        match f {
            ReadFailure::Io(e) => ItemError::Read(e),
            ReadFailure::TooLarge { len, max } => ItemError::TooLarge { len, max },
            ReadFailure::NotAnImage => ItemError::NotAnImage,
        }
    }
}

/// Reads a file into memory, refusing files over `max` bytes before allocating; with a
/// `screen`, only the first bytes of a file it turns down.
fn read_file(
    path: &Path,
    max: u64,
    screen: Option<Screen<'_>>,
) -> std::result::Result<Vec<u8>, ReadFailure> {
    let f = File::open(path).map_err(ReadFailure::Io)?;
    let len = f.metadata().map_err(ReadFailure::Io)?.len();
    read_screened(f, len, max, screen)
}

/// As [`read_capped`], after reading the first [`crate::pipeline::ITEM_HEAD_LEN`] bytes and asking
/// `screen` whether to go on: an item it turns down fails with [`ReadFailure::NotAnImage`]
/// whatever its length, having cost one small read.
pub(super) fn read_screened(
    mut r: impl Read,
    len_hint: u64,
    max: u64,
    screen: Option<Screen<'_>>,
) -> std::result::Result<Vec<u8>, ReadFailure> {
    let Some(accepts) = screen else {
        return read_capped(r, len_hint, max);
    };
    let mut head = [0u8; crate::pipeline::ITEM_HEAD_LEN];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadFailure::Io(e)),
        }
    }
    if !accepts(&head[..n]) {
        return Err(ReadFailure::NotAnImage);
    }
    read_capped(std::io::Cursor::new(&head[..n]).chain(r), len_hint, max)
}

/// Reads an item's bytes from `r`, whose length its file or archive header gives as `len`,
/// keeping to the per-item limit `max` as bulk runs do: an item whose `len` is over it fails
/// before anything is allocated ([`ItemError::TooLarge`]), and one that turns out longer than
/// `max` while read fails then.
///
/// # Errors
/// [`ItemError::TooLarge`], or [`ItemError::Read`] for an I/O error.
pub fn read_item(r: impl Read, len: u64, max: u64) -> std::result::Result<Vec<u8>, ItemError> {
    Ok(read_capped(r, len, max)?)
}

pub(super) fn read_capped(
    r: impl Read,
    len_hint: u64,
    max: u64,
) -> std::result::Result<Vec<u8>, ReadFailure> {
    if len_hint > max {
        return Err(ReadFailure::TooLarge { len: len_hint, max });
    }
    // len_hint <= max, which bounds the allocation.
    let mut buf = Vec::with_capacity(usize::try_from(len_hint).unwrap_or(0));
    let n = r
        // One byte past the cap tells a file of exactly `max` bytes from a longer one; with no
        // cap (`u64::MAX`) there is no byte past it.
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(ReadFailure::Io)?;
    if n as u64 > max {
        return Err(ReadFailure::TooLarge { len: n as u64, max });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that counts the bytes it hands out.
    struct Counting<'a>(&'a [u8], &'a std::cell::Cell<usize>);

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            // At most 5 bytes a call, so that the head takes several reads.
            let len = buf.len().min(5);
            let n = self.0.read(&mut buf[..len])?;
            self.1.set(self.1.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn no_cap_reads_the_whole_item_and_a_cap_refuses_one_byte_more() {
        let bytes = vec![7u8; 300];
        assert_eq!(
            read_capped(&bytes[..], 300, u64::MAX).expect("uncapped"),
            bytes
        );
        assert_eq!(read_capped(&bytes[..], 0, 300).expect("at the cap"), bytes);
        assert!(matches!(
            read_capped(&bytes[..], 0, 299),
            Err(ReadFailure::TooLarge { len: 300, max: 299 })
        ));
    }

    #[test]
    fn a_screened_item_is_read_on_only_when_its_head_is_accepted() {
        let jpeg_like: Vec<u8> = [0xFF, 0xD8, 0xFF].into_iter().chain(0..=255).collect();
        let text = vec![b'x'; 1000];
        let screen: Screen<'_> = &|head| crate::decode::sniff(head).is_some();
        let read = |bytes: &[u8], max: u64| {
            let count = std::cell::Cell::new(0);
            let r = read_screened(
                Counting(bytes, &count),
                bytes.len() as u64,
                max,
                Some(screen),
            );
            (r, count.get())
        };
        let (r, n) = read(&jpeg_like, 1 << 20);
        assert_eq!((r.expect("read"), n), (jpeg_like.clone(), jpeg_like.len()));
        let (r, n) = read(&text, 1 << 20);
        assert!(matches!(r, Err(ReadFailure::NotAnImage)));
        assert_eq!(n, crate::pipeline::ITEM_HEAD_LEN);
        // Over the size limit: refused after the head whatever it is, the text as text.
        let (r, n) = read(&text, 10);
        assert!(matches!(r, Err(ReadFailure::NotAnImage)));
        assert_eq!(n, crate::pipeline::ITEM_HEAD_LEN);
        let (r, _) = read(&jpeg_like, 10);
        assert!(matches!(
            r,
            Err(ReadFailure::TooLarge { len: 259, max: 10 })
        ));
        // Shorter than the head: shown whole, and kept whole.
        let (r, n) = read(&jpeg_like[..20], 1 << 20);
        assert_eq!((r.expect("read"), n), (jpeg_like[..20].to_vec(), 20));
        let (r, _) = read(&[], 1 << 20);
        assert!(matches!(r, Err(ReadFailure::NotAnImage)));
    }
}
