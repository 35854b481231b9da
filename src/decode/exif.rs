//! The EXIF orientation tag (0x0112) from an APP1 segment or a raw TIFF/EXIF block.
//!
//! A minimal, bounds-checked reader: it looks only at IFD0, and any malformed structure simply
//! yields `None` (no orientation).

/// Orientation (1–8) from a JPEG APP1 payload starting with `Exif\0\0`.
pub(super) fn orientation_from_app1(app1: &[u8]) -> Option<u16> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    orientation_from_tiff(tiff)
}

/// Orientation (1–8) from a TIFF-structured EXIF block.
pub(super) fn orientation_from_tiff(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(..4)? {
        [b'M', b'M', 0, 42] => true,
        [b'I', b'I', 42, 0] => false,
        _ => return None,
    };
    let u16_at = |off: usize| -> Option<u16> {
        let b = tiff.get(off..off.checked_add(2)?)?;
        Some(if big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |off: usize| -> Option<u32> {
        let b = tiff.get(off..off.checked_add(4)?)?;
        Some(if big_endian {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?);
    for i in 0..count {
        let entry = ifd.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        if u16_at(entry)? == 0x0112 {
            // Type SHORT, count 1: the value sits in the first two bytes of the value field.
            let v = u16_at(entry + 8)?;
            return (1..=8).contains(&v).then_some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_byte_orders_and_rejects_garbage() {
        let mut le = b"Exif\0\0II*\0\x08\0\0\0\x01\0".to_vec();
        le.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        assert_eq!(orientation_from_app1(&le), Some(6));
        let mut be = b"Exif\0\0MM\0*\0\0\0\x08\0\x01".to_vec();
        be.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0]);
        assert_eq!(orientation_from_app1(&be), Some(8));
        assert_eq!(orientation_from_app1(&le[..le.len() - 4]), None);
        assert_eq!(
            orientation_from_app1(b"Exif\0\0II*\0\xff\xff\xff\xff"),
            None
        );
        assert_eq!(orientation_from_app1(b"nope"), None);
    }
}
