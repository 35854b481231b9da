//! `#[repr(C)]` mirrors of the structs the PDQ shaders read and write, and the layout of the
//! constant tables buffer.
//!
//! Each struct here is declared with the same field order in `shaders/pdq_common.wgsl`; a test
//! checks the sizes against the WGSL declarations through naga, so a field added on one side
//! only fails CI. Uniform structs use only `u32`.

use bytemuck::{Pod, Zeroable};

/// Side of the decimated image (64×64 samples per image).
pub(crate) const OUT: u32 = 64;

/// Number of entries of the reciprocal table `1 / c` (`c` = box-filter counts, and 255 for the
/// quality metric). An image whose filter window is this large or larger goes to the CPU.
pub(crate) const NUM_RECIP: u32 = 4096;

/// Offset (in `f32`) of the 16×64 DCT matrix in the tables buffer.
pub(crate) const TABLE_DCT: u32 = NUM_RECIP;
/// Offset of the 256-entry grey → luma table.
pub(crate) const TABLE_GRAY: u32 = TABLE_DCT + 16 * 64;
/// Offset of the RGB luma table: for channel `c` and value `v`, `[hi, lo]` at
/// `TABLE_RGB + (c * 256 + v) * 2`.
pub(crate) const TABLE_RGB: u32 = TABLE_GRAY + 256;
/// Length of the tables buffer in `f32`.
pub(crate) const TABLE_LEN: u32 = TABLE_RGB + 3 * 256 * 2;

/// Per-image `f32` values in the `small` buffer: the 64×64 decimated luma, then 256 DCT
/// coefficients.
pub(crate) const SMALL_STRIDE: u32 = OUT * OUT + 256;

/// Image flag: a 64×64 image used without filtering (the non-dihedral reference shortcut).
pub(crate) const FLAG_SKIP_FILTER: u32 = 1;

/// Batch-wide parameters (`var<uniform> params: Params`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct ParamsGpu {
    /// Images in the batch.
    pub num_images: u32,
    /// Always 0; XORed into products so the shader compiler cannot fuse them into FMAs.
    pub zero: u32,
    /// [`TABLE_DCT`].
    pub table_dct: u32,
    /// [`TABLE_GRAY`].
    pub table_gray: u32,
    /// [`TABLE_RGB`].
    pub table_rgb: u32,
    /// [`NUM_RECIP`].
    pub num_recip: u32,
    /// [`SMALL_STRIDE`].
    pub small_stride: u32,
    /// Dihedral variants to threshold per image: 1 or 8.
    pub num_variants: u32,
}

/// One image of a batch (`images: array<ImageDesc>`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct ImageDescGpu {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per pixel: 1 (grey) or 3 (RGB).
    pub bpp: u32,
    /// [`FLAG_SKIP_FILTER`] or 0.
    pub flags: u32,
    /// Byte offset of the first pixel in the pixel buffer (a multiple of 4).
    pub pixel_offset: u32,
    /// `f32` offset of the image's planes in `plane_a` / `plane_b`
    /// (`height × max(width, 64)` values).
    pub plane_offset: u32,
    /// Box window along rows (`(width + 127) / 128`).
    pub win_w: u32,
    /// Box window along columns (`(height + 127) / 128`).
    pub win_h: u32,
}

/// The output of one image (`results: array<PdqResult>`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
pub(crate) struct PdqResultGpu {
    /// Quality 0–100.
    pub quality: u32,
    /// Padding to 16 bytes.
    pub pad: [u32; 3],
    /// Hash bits: variant `d`, word `w` holds coefficients `32w .. 32w + 31` (bit `k % 32`).
    pub bits: [u32; 64],
}

const _: () = assert!(std::mem::size_of::<ParamsGpu>() == 32);
const _: () = assert!(std::mem::size_of::<ImageDescGpu>() == 32);
const _: () = assert!(std::mem::size_of::<PdqResultGpu>() == 272);

/// Builds the constant tables buffer: reciprocals, DCT matrix and luma tables.
///
/// The reciprocals are `1 / c` rounded once to `f32`, which the shaders' corrected division
/// needs. The RGB tables split each `f64` product `v · 0.299` (…) into `hi = f32(x)` and
/// `lo = f32(x − hi)`, so the shader can add them in double-`f32` and round once, as the CPU
/// does in `f64`.
pub(crate) fn tables() -> Vec<f32> {
    let mut t = vec![0f32; TABLE_LEN as usize];
    for c in 1..NUM_RECIP {
        t[c as usize] = 1.0 / c as f32;
    }
    let dct = crate::hash::dct_matrix();
    t[TABLE_DCT as usize..TABLE_DCT as usize + dct.len()].copy_from_slice(dct);
    for v in 0..=255u8 {
        t[(TABLE_GRAY + u32::from(v)) as usize] = crate::hash::luma(v, v, v);
    }
    for (c, k) in [0.299f64, 0.587, 0.114].into_iter().enumerate() {
        for v in 0..256usize {
            let x = v as f64 * k;
            let hi = x as f32;
            let lo = (x - f64::from(hi)) as f32;
            let at = TABLE_RGB as usize + (c * 256 + v) * 2;
            t[at] = hi;
            t[at + 1] = lo;
        }
    }
    t
}
