//! A minimal, bounds-checked reader of a classic (not Big) TIFF's first IFD, in the file's byte
//! order: what the EXIF orientation and the palette-TIFF reader need. Any malformed structure
//! reads as `None`.

/// The first IFD of a TIFF-structured block.
pub(super) struct Ifd<'a> {
    bytes: &'a [u8],
    /// `MM` byte order.
    big_endian: bool,
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

    /// `v` as two bytes in the file's byte order, to write a SHORT into it.
    pub(super) fn u16_bytes(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
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

    /// The values of a SHORT or LONG entry, read from the entry itself when they fit in its 4
    /// bytes, else from the offset it gives; `None` for another type, or values not all in the
    /// file (so the list is never longer than the file).
    pub(super) fn values(&self, tag: u16) -> Option<Vec<u32>> {
        let (e, kind, count) = self.find(tag)?;
        let size = match kind {
            3 => 2,
            4 => 4,
            _ => return None,
        };
        let len = usize::try_from(count).ok()?.checked_mul(size)?;
        let at = if len <= 4 {
            e + 8
        } else {
            usize::try_from(self.u32(e + 8)?).ok()?
        };
        self.bytes.get(at..at.checked_add(len)?)?;
        (0..count as usize)
            .map(|i| match size {
                2 => self.u16(at + 2 * i).map(u32::from),
                _ => self.u32(at + 4 * i),
            })
            .collect()
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

/// Bytes of one value of TIFF field type `kind`; 0 for a type the format does not define,
/// which decoders skip.
fn type_size(kind: u16) -> u64 {
    match kind {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => 0,
    }
}

/// `bytes`, a classic TIFF, without the first IFD's entries whose values reach past the end of
/// the file, as Pillow skips such entries; `None` when there are none (or no readable IFD).
///
/// The `tiff` crate sizes a list from an entry's count before it reads the values, and it
/// reads the first IFD before it takes any limit, so one corrupted count would cost up to
/// 256 MiB; a count that fits in the file costs at most a small multiple of the file's size.
pub(super) fn without_values_past_end(bytes: &[u8]) -> Option<Vec<u8>> {
    let ifd = Ifd::parse(bytes)?;
    let past_end = |e: usize| -> Option<bool> {
        let size = type_size(ifd.u16(e + 2)?) * u64::from(ifd.u32(e + 4)?);
        Some(size > 4 && u64::from(ifd.u32(e + 8)?) + size > bytes.len() as u64)
    };
    // Entries only: the next-IFD offset after them is not read for the first page. An IFD
    // that does not fit in the file is left to the decoders, which reject it before reading
    // any value.
    let end = ifd.entries.checked_add(12 * ifd.count)?;
    if end > bytes.len() {
        return None;
    }
    let kept: Vec<usize> = (0..ifd.count)
        .map(|i| ifd.entries + 12 * i)
        .filter(|&e| past_end(e) != Some(true))
        .collect();
    if kept.len() == ifd.count {
        return None;
    }
    let mut out = bytes.to_vec();
    let mut to = ifd.entries;
    for &e in &kept {
        out.copy_within(e..e + 12, to);
        to += 12;
    }
    out[to..end].fill(0);
    let count = ifd.u16_bytes(u16::try_from(kept.len()).ok()?);
    out[ifd.entries - 2..ifd.entries].copy_from_slice(&count);
    Some(out)
}

/// `bytes`, a classic TIFF whose first IFD gives `FillOrder` 2 (each byte's lowest bit first),
/// with the bits of every byte of its strips (or tiles) reversed and `FillOrder` set to 1, as
/// libtiff reverses them before decoding (so Pillow shows such files); `None` for any other
/// file. The `tiff` crate ignores the tag and would decode such data wrongly or not at all.
pub(super) fn with_msb_fill_order(bytes: &[u8]) -> Option<Vec<u8>> {
    let ifd = Ifd::parse(bytes)?;
    let (fill, kind, count) = ifd.find(266)?;
    if kind != 3 || count != 1 || ifd.u16(fill + 8)? != 2 {
        return None;
    }
    let (offsets, lengths) = match (ifd.values(273), ifd.values(279)) {
        (Some(o), Some(n)) => (o, n),
        _ => (ifd.values(324)?, ifd.values(325)?),
    };
    // Each byte once, even where strips overlap or repeat (writers may point blank strips at
    // the same data).
    let mut ranges: Vec<(usize, usize)> = offsets
        .iter()
        .zip(&lengths)
        .filter_map(|(&o, &n)| {
            let start = usize::try_from(o).ok()?.min(bytes.len());
            let end = start
                .saturating_add(usize::try_from(n).ok()?)
                .min(bytes.len());
            Some((start, end))
        })
        .collect();
    ranges.sort_unstable();
    let mut out = bytes.to_vec();
    let mut done = 0;
    for (start, end) in ranges {
        for b in &mut out[start.max(done)..end.max(done)] {
            *b = b.reverse_bits();
        }
        done = done.max(end);
    }
    out[fill + 8..fill + 10].copy_from_slice(&ifd.u16_bytes(1));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF header and one IFD of `entries` (tag, type, count, value) at 8.
    fn tiff(entries: &[(u16, u16, u32, u32)], tail: usize) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend(8u32.to_le_bytes());
        b.extend((entries.len() as u16).to_le_bytes());
        for &(tag, kind, count, value) in entries {
            b.extend(tag.to_le_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(count.to_le_bytes());
            b.extend(value.to_le_bytes());
        }
        b.extend(0u32.to_le_bytes());
        b.resize(b.len() + tail, 7);
        b
    }

    #[test]
    fn entries_whose_values_reach_past_the_end_are_dropped() {
        let entries = [
            (256, 4, 1, 40),
            // 4,000 LONGs at offset 60 of a 100-byte file.
            (273, 4, 4000, 60),
            (277, 3, 1, 1),
            // A RATIONAL at offset 99: one byte of eight in the file.
            (282, 5, 1, 99),
            // Ten SHORTs at 70..90, inside the file.
            (320, 3, 10, 70),
        ];
        let bytes = tiff(&entries, 100 - 14 - 12 * entries.len());
        assert_eq!(bytes.len(), 100);
        let out = without_values_past_end(&bytes).expect("two entries reach past the end");
        assert_eq!(out.len(), bytes.len());
        let ifd = Ifd::parse(&out).unwrap();
        assert_eq!(ifd.count, 3);
        for (tag, kind, count, _) in [entries[0], entries[2], entries[4]] {
            let (e, k, c) = ifd.find(tag).unwrap();
            assert_eq!((k, c), (kind, count), "tag {tag} at {e}");
        }
        assert!(ifd.find(273).is_none() && ifd.find(282).is_none());
        // What followed the IFD is untouched; the freed entries are zeros.
        let after = 8 + 2 + 12 * entries.len() + 4;
        assert_eq!(out[after..], bytes[after..]);
        assert!(out[8 + 2 + 12 * 3..8 + 2 + 12 * 5].iter().all(|&b| b == 0));
        assert_eq!(without_values_past_end(&out), None);
    }

    #[test]
    fn fill_order_2_data_is_reversed_once_and_the_tag_reset() {
        // Two strips, the second listed twice and overlapping the first by one byte; data at
        // 80..90 of a 100-byte file.
        let mut bytes = tiff(
            &[(266, 3, 1, 2), (273, 4, 3, 60), (279, 3, 3, 72)],
            100 - 14 - 36,
        );
        for (i, v) in [80u32, 85, 85].iter().enumerate() {
            bytes[60 + 4 * i..64 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        for (i, n) in [6u16, 5, 5].iter().enumerate() {
            bytes[72 + 2 * i..74 + 2 * i].copy_from_slice(&n.to_le_bytes());
        }
        for (i, b) in bytes[80..90].iter_mut().enumerate() {
            *b = 0b0000_0001 << (i % 8);
        }
        let out = with_msb_fill_order(&bytes).expect("FillOrder is 2");
        for i in 80..90 {
            assert_eq!(out[i], bytes[i].reverse_bits(), "byte {i}");
        }
        assert_eq!(
            out[..80],
            {
                let mut head = bytes[..80].to_vec();
                head[8 + 2 + 8..8 + 2 + 10].copy_from_slice(&1u16.to_le_bytes());
                head
            }[..]
        );
        assert_eq!(out[90..], bytes[90..]);
        assert_eq!(with_msb_fill_order(&out), None);
        // Strips past the end of the file are cut to it; a missing strip list leaves the file.
        let far = tiff(&[(266, 3, 1, 2), (273, 4, 1, 90), (279, 4, 1, 1000)], 80);
        let out = with_msb_fill_order(&far).expect("FillOrder is 2");
        assert_eq!(
            out[90..],
            far[90..]
                .iter()
                .map(|b| b.reverse_bits())
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(with_msb_fill_order(&tiff(&[(266, 3, 1, 2)], 8)), None);
    }

    #[test]
    fn sound_or_unreadable_ifds_are_left_alone() {
        // Inline values, values inside the file, and a type no decoder reads.
        let sound = tiff(
            &[(256, 4, 1, 1 << 30), (273, 4, 2, 20), (999, 77, 1 << 30, 0)],
            8,
        );
        assert_eq!(without_values_past_end(&sound), None);
        // An IFD offset past the end, and an IFD whose last entry is cut off.
        let mut far = sound.clone();
        far[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(without_values_past_end(&far), None);
        let cut = &sound[..8 + 2 + 12 * 2 + 5];
        assert_eq!(without_values_past_end(cut), None);
        // An entry count far past the end of the file, with an entry whose values reach past
        // it among those present (found by fuzzing: it made the rewrite slice out of bounds).
        let mut long = tiff(&[(256, 4, 1, 40), (273, 4, 4000, 20)], 0);
        long[8..10].copy_from_slice(&266u16.to_le_bytes());
        assert_eq!(without_values_past_end(&long), None);
    }
}
