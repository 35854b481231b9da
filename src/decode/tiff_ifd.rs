//! A minimal, bounds-checked reader of a classic (not Big) TIFF's first IFD, in the file's byte
//! order: what the EXIF orientation and the palette-TIFF reader need. Any malformed structure
//! reads as `None`.

/// The first IFD of a TIFF-structured block.
pub(super) struct Ifd<'a> {
    bytes: &'a [u8],
    /// `MM` byte order.
    pub(super) big_endian: bool,
    /// Offset of the first 12-byte entry.
    entries: usize,
    count: usize,
}

impl<'a> Ifd<'a> {
    /// The first IFD of `bytes`, which start with the TIFF header.
    pub(super) fn parse(bytes: &'a [u8]) -> Option<Self> {
        let big_endian = match bytes.get(..4)? {
            b"II*\0" => false,
            b"MM\0*" => true,
            _ => return None,
        };
        let mut ifd = Ifd {
            bytes,
            big_endian,
            entries: 0,
            count: 0,
        };
        let at = usize::try_from(ifd.u32(4)?).ok()?;
        ifd.count = usize::from(ifd.u16(at)?);
        ifd.entries = at.checked_add(2)?;
        Some(ifd)
    }

    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.bytes.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    /// The `u16` at byte offset `at`.
    pub(super) fn u16(&self, at: usize) -> Option<u16> {
        let b = self.array(at)?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    /// The `u32` at byte offset `at`.
    pub(super) fn u32(&self, at: usize) -> Option<u32> {
        let b = self.array(at)?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// Offset of the entry for `tag`, with its type and count. A value of up to 4 bytes sits
    /// at the entry's offset + 8, first bytes first.
    pub(super) fn find(&self, tag: u16) -> Option<(usize, u16, u32)> {
        (0..self.count).find_map(|i| {
            let e = self.entries.checked_add(12 * i)?;
            (self.u16(e)? == tag).then_some((e, self.u16(e + 2)?, self.u32(e + 4)?))
        })
    }
}
