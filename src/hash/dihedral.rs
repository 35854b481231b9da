//! The eight dihedral transforms (rotations and flips) and their effect on PDQ's DCT.
//!
//! Flipping an image along an axis multiplies the DCT coefficient of frequency `u` along that
//! axis by `(-1)^u`; PDQ's row `i` is frequency `i + 1`, so even indices change sign. Transposing
//! the image transposes the coefficients. Composing these gives all eight hashes from one DCT,
//! exactly as `dct16OriginalTo*` in the reference do.

use std::fmt;
use std::str::FromStr;

/// One of the eight symmetries of the square, named as in the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Dihedral {
    /// The image as it is.
    Original = 0,
    /// Rotated 90° counter-clockwise.
    Rotate90 = 1,
    /// Rotated 180°.
    Rotate180 = 2,
    /// Rotated 270° counter-clockwise.
    Rotate270 = 3,
    /// Top and bottom swapped.
    FlipX = 4,
    /// Left and right swapped.
    FlipY = 5,
    /// Transposed (mirrored about the main diagonal).
    FlipPlus1 = 6,
    /// Mirrored about the anti-diagonal.
    FlipMinus1 = 7,
}

/// All eight transforms in the reference output order.
pub const DIHEDRALS: [Dihedral; 8] = [
    Dihedral::Original,
    Dihedral::Rotate90,
    Dihedral::Rotate180,
    Dihedral::Rotate270,
    Dihedral::FlipX,
    Dihedral::FlipY,
    Dihedral::FlipPlus1,
    Dihedral::FlipMinus1,
];

impl Dihedral {
    /// Short lowercase name (`original`, `rot90`, …, `flipminus1`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Dihedral::Original => "original",
            Dihedral::Rotate90 => "rot90",
            Dihedral::Rotate180 => "rot180",
            Dihedral::Rotate270 => "rot270",
            Dihedral::FlipX => "flipx",
            Dihedral::FlipY => "flipy",
            Dihedral::FlipPlus1 => "flipplus1",
            Dihedral::FlipMinus1 => "flipminus1",
        }
    }

    /// The transform with index `i` in [`DIHEDRALS`].
    #[must_use]
    pub fn from_index(i: u8) -> Option<Dihedral> {
        DIHEDRALS.get(i as usize).copied()
    }

    /// The 16×16 DCT of the transformed image, from the DCT of the original.
    #[must_use]
    pub fn transform_dct(self, a: &[f32; 256]) -> [f32; 256] {
        let mut b = [0f32; 256];
        for i in 0..16 {
            for j in 0..16 {
                let v = a[i * 16 + j];
                let (odd_i, odd_j) = (i & 1 == 1, j & 1 == 1);
                let (idx, keep) = match self {
                    Dihedral::Original => (i * 16 + j, true),
                    Dihedral::Rotate90 => (j * 16 + i, odd_j),
                    Dihedral::Rotate180 => (i * 16 + j, (i + j) & 1 == 0),
                    Dihedral::Rotate270 => (j * 16 + i, odd_i),
                    Dihedral::FlipX => (i * 16 + j, odd_i),
                    Dihedral::FlipY => (i * 16 + j, odd_j),
                    Dihedral::FlipPlus1 => (j * 16 + i, true),
                    Dihedral::FlipMinus1 => (j * 16 + i, (i + j) & 1 == 0),
                };
                b[idx] = if keep { v } else { -v };
            }
        }
        b
    }

    /// Applies the transform to the pixel grid of a `width × height` image with `bpp` bytes per
    /// pixel, returning the new pixels and size.
    #[must_use]
    pub fn apply_to_pixels(
        self,
        width: usize,
        height: usize,
        bpp: usize,
        pixels: &[u8],
    ) -> (usize, usize, Vec<u8>) {
        let (ow, oh) = self.output_size(width, height);
        let mut out = vec![0u8; pixels.len()];
        self.apply_into(width, height, bpp, pixels, &mut out);
        (ow, oh, out)
    }

    /// Width and height of a `width × height` image after the transform.
    pub(crate) fn output_size(self, width: usize, height: usize) -> (usize, usize) {
        match self {
            Dihedral::Rotate90
            | Dihedral::Rotate270
            | Dihedral::FlipPlus1
            | Dihedral::FlipMinus1 => (height, width),
            _ => (width, height),
        }
    }

    /// [`Dihedral::apply_to_pixels`] into `out`, which holds as many bytes as `pixels`.
    pub(crate) fn apply_into(
        self,
        width: usize,
        height: usize,
        bpp: usize,
        pixels: &[u8],
        out: &mut [u8],
    ) {
        let (ow, oh) = self.output_size(width, height);
        for y in 0..oh {
            for x in 0..ow {
                // Source coordinates of output pixel (x, y).
                let (sx, sy) = match self {
                    Dihedral::Original => (x, y),
                    Dihedral::Rotate90 => (width - 1 - y, x),
                    Dihedral::Rotate180 => (width - 1 - x, height - 1 - y),
                    Dihedral::Rotate270 => (y, height - 1 - x),
                    Dihedral::FlipX => (x, height - 1 - y),
                    Dihedral::FlipY => (width - 1 - x, y),
                    Dihedral::FlipPlus1 => (y, x),
                    Dihedral::FlipMinus1 => (width - 1 - y, height - 1 - x),
                };
                let s = (sy * width + sx) * bpp;
                let d = (y * ow + x) * bpp;
                out[d..d + bpp].copy_from_slice(&pixels[s..s + bpp]);
            }
        }
    }
}

impl fmt::Display for Dihedral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dihedral {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DIHEDRALS
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown transform {s:?}"))
    }
}
