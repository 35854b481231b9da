//! The EXIF orientation tag (0x0112) from an APP1 segment or a raw TIFF/EXIF block.
//!
//! A minimal, bounds-checked reader: it looks only at IFD0, and any malformed structure simply
//! yields `None` (no orientation).

use super::tiff_ifd::Ifd;

/// Orientation (1–8) from a JPEG APP1 payload starting with `Exif\0\0`.
pub(super) fn orientation_from_app1(app1: &[u8]) -> Option<u16> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    orientation_from_tiff(tiff)
}

/// Orientation (1–8) from a TIFF-structured EXIF block.
pub(super) fn orientation_from_tiff(tiff: &[u8]) -> Option<u16> {
    let ifd = Ifd::parse(tiff)?;
    // Type SHORT, count 1: the value sits in the first two bytes of the value field.
    let (entry, ..) = ifd.find(0x0112)?;
    let v = ifd.u16(entry + 8)?;
    (1..=8).contains(&v).then_some(v)
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
