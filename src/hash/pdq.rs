//! The PDQ reference pipeline on the CPU: luma → Jarosz filter → 64×64 → quality → DCT →
//! median threshold, and the eight dihedral hashes from one DCT.
//!
//! Every step follows Meta's `pdqhashing.cpp` / `downscaling.cpp` and the luma conversion of
//! pdqhash-python (`f64` products of the 8-bit channels with 0.299, 0.587, 0.114, summed left to
//! right and rounded once to `f32`), so that hashes are bit-exact with the reference
//! "full-resolution" convention.

use super::dct::dct64_to_16;
use super::dihedral::{Dihedral, DIHEDRALS};
use super::jarosz::{downsample, JaroszScratch, OUT};
use super::luma;
use super::pdq256::Pdq256;

/// Images with a side shorter than this get the zero hash and quality 0 (`MIN_HASHABLE_DIM`).
pub const MIN_HASHABLE_DIM: u32 = 5;

/// The quality score below which the PDQ ecosystem (ThreatExchange, HMA) discards a hash.
pub const RECOMMENDED_MIN_QUALITY: u8 = 50;

/// How the pixels of an [`ImageRef`] are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelLayout {
    /// One byte per pixel, grey.
    Gray8,
    /// Three bytes per pixel, R, G, B.
    Rgb8,
}

impl PixelLayout {
    /// Bytes per pixel.
    #[must_use]
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelLayout::Gray8 => 1,
            PixelLayout::Rgb8 => 3,
        }
    }
}

/// A borrowed 8-bit image, rows packed without padding.
#[derive(Clone, Copy, Debug)]
pub struct ImageRef<'a> {
    width: u32,
    height: u32,
    layout: PixelLayout,
    pixels: &'a [u8],
}

/// Why pixels cannot be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The pixel buffer does not match the stated size.
    #[error("pixel buffer holds {actual} bytes, {width}x{height} {layout:?} needs {expected}")]
    BufferSize {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Pixel layout.
        layout: PixelLayout,
        /// Bytes needed.
        expected: u64,
        /// Bytes given.
        actual: usize,
    },
}

impl<'a> ImageRef<'a> {
    /// Wraps a pixel buffer of `width × height` pixels in `layout`.
    ///
    /// # Errors
    /// [`HashError::BufferSize`] when `pixels.len()` is not exactly `width × height × bpp`.
    pub fn new(
        width: u32,
        height: u32,
        layout: PixelLayout,
        pixels: &'a [u8],
    ) -> Result<Self, HashError> {
        let expected = u64::from(width) * u64::from(height) * layout.bytes_per_pixel() as u64;
        if expected != pixels.len() as u64 {
            return Err(HashError::BufferSize {
                width,
                height,
                layout,
                expected,
                actual: pixels.len(),
            });
        }
        Ok(ImageRef {
            width,
            height,
            layout,
            pixels,
        })
    }

    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Pixel layout.
    #[must_use]
    pub fn layout(&self) -> PixelLayout {
        self.layout
    }

    /// The packed pixel bytes.
    #[must_use]
    pub fn pixels(&self) -> &'a [u8] {
        self.pixels
    }

    /// Writes the luma of row `r` into `out` (`width` values).
    #[inline]
    pub(crate) fn luma_row(&self, r: usize, out: &mut [f32]) {
        let w = self.width as usize;
        match self.layout {
            PixelLayout::Gray8 => luma::gray_row(&self.pixels[r * w..r * w + w], out),
            PixelLayout::Rgb8 => luma::rgb_row(&self.pixels[r * w * 3..(r * w + w) * 3], out),
        }
    }
}

/// A PDQ hash with its quality score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PdqHash {
    /// The 256-bit hash.
    pub hash: Pdq256,
    /// Quality 0–100: how much gradient the 64×64 image has. Below
    /// [`RECOMMENDED_MIN_QUALITY`] a hash is unreliable.
    pub quality: u8,
}

/// The eight dihedral hashes of one image, from one DCT, with the shared quality.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DihedralHashes {
    /// Hashes in the reference order: original, rot90, rot180, rot270, flipx, flipy, flipplus1,
    /// flipminus1 (see [`Dihedral`]).
    pub hashes: [Pdq256; 8],
    /// Quality 0–100.
    pub quality: u8,
}

impl DihedralHashes {
    /// The result for an image too small to hash: zero hashes, quality 0.
    pub const ZERO: DihedralHashes = DihedralHashes {
        hashes: [Pdq256::ZERO; 8],
        quality: 0,
    };

    /// The hash for one transform.
    #[must_use]
    pub fn get(&self, d: Dihedral) -> Pdq256 {
        self.hashes[d as usize]
    }

    /// The hash of the image as it is (the original orientation), with the quality.
    #[must_use]
    pub fn primary(&self) -> PdqHash {
        PdqHash {
            hash: self.hashes[0],
            quality: self.quality,
        }
    }

    /// `h` as the original orientation's hash, the other seven zero: the shape of a result
    /// computed without the dihedral hashes.
    #[must_use]
    pub fn from_primary(h: PdqHash) -> Self {
        let mut hashes = [Pdq256::ZERO; 8];
        hashes[0] = h.hash;
        DihedralHashes {
            hashes,
            quality: h.quality,
        }
    }
}

/// The 16×16 DCT output before thresholding, with the quality score.
#[derive(Clone, Debug, PartialEq)]
pub struct PdqFloat {
    /// Coefficients, row-major; row `i`, column `j` is frequency `(i+1, j+1)`.
    pub dct: [f32; 256],
    /// Quality 0–100.
    pub quality: u8,
}

/// Computes PDQ hashes on the CPU, keeping its working memory between images.
///
/// One hasher per thread: after the largest image has been seen once, hashing allocates
/// nothing. Working memory is about `(width / 128 + 17) × width × 4` bytes for the streaming
/// filter plus `height × 256` bytes.
///
/// # Examples
/// ```
/// use imprint::hash::{ImageRef, PdqHasher, PixelLayout};
/// let pixels: Vec<u8> = (0..100 * 80).map(|i| (i % 251) as u8).collect();
/// let image = ImageRef::new(100, 80, PixelLayout::Gray8, &pixels)?;
/// let out = PdqHasher::new().hash(image);
/// assert_eq!(out.hash.to_string().len(), 64);
/// # Ok::<(), imprint::hash::HashError>(())
/// ```
#[derive(Debug)]
pub struct PdqHasher {
    scratch: JaroszScratch,
    buf64: Box<[f32; OUT * OUT]>,
}

impl Default for PdqHasher {
    fn default() -> Self {
        PdqHasher {
            scratch: JaroszScratch::default(),
            buf64: Box::new([0.0; OUT * OUT]),
        }
    }
}

impl PdqHasher {
    /// A hasher with empty working memory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Hash and quality of an image, as `pdqHash256FromFloatLuma` computes them.
    ///
    /// An image with a side under [`MIN_HASHABLE_DIM`] gets the zero hash and quality 0.
    /// An image of exactly 64×64 is used without filtering, as the reference does.
    pub fn hash(&mut self, image: ImageRef<'_>) -> PdqHash {
        if !hashable(&image) {
            return PdqHash {
                hash: Pdq256::ZERO,
                quality: 0,
            };
        }
        let f = self.float_impl(image, true);
        PdqHash {
            hash: threshold(&f.dct),
            quality: f.quality,
        }
    }

    /// The eight dihedral hashes, as `pdqDihedralHash256esFromFloatLuma` computes them.
    ///
    /// Unlike [`PdqHasher::hash`], the reference filters 64×64 images here too, so for such an
    /// image `hashes[0]` can differ from `hash().hash` by rounding.
    pub fn hash_dihedral(&mut self, image: ImageRef<'_>) -> DihedralHashes {
        if !hashable(&image) {
            return DihedralHashes::ZERO;
        }
        dihedral_from_dct(&self.float_impl(image, false))
    }

    /// The DCT coefficients and quality before thresholding, as `pdqFloat256FromFloatLuma`
    /// computes them: like [`PdqHasher::hash`] but without the minimum-size rule (an image
    /// with no pixels gives zeros).
    pub fn float(&mut self, image: ImageRef<'_>) -> PdqFloat {
        self.float_impl(image, true)
    }

    fn float_impl(&mut self, image: ImageRef<'_>, skip_filter_at_64: bool) -> PdqFloat {
        let (w, h) = (image.width as usize, image.height as usize);
        if w == 0 || h == 0 {
            return PdqFloat {
                dct: [0.0; 256],
                quality: 0,
            };
        }
        let buf = &mut *self.buf64;
        if skip_filter_at_64 && w == OUT && h == OUT {
            for r in 0..OUT {
                image.luma_row(r, &mut buf[r * OUT..r * OUT + OUT]);
            }
        } else {
            downsample(
                w,
                h,
                &mut self.scratch,
                |r, row| image.luma_row(r, row),
                buf,
            );
        }
        float_from_64(buf)
    }
}

fn hashable(image: &ImageRef<'_>) -> bool {
    image.width >= MIN_HASHABLE_DIM && image.height >= MIN_HASHABLE_DIM
}

/// Quality and DCT of a decimated 64×64 luma image.
#[must_use]
pub(crate) fn float_from_64(buf: &[f32; OUT * OUT]) -> PdqFloat {
    let quality = quality_metric(buf);
    let mut dct = [0f32; 256];
    dct64_to_16(buf, &mut dct);
    PdqFloat { dct, quality }
}

/// The reference `pdqImageDomainQualityMetric`: the count of significant gradients, scaled.
#[must_use]
pub(crate) fn quality_metric(buf: &[f32; OUT * OUT]) -> u8 {
    #[inline(always)]
    fn step(u: f32, v: f32) -> i32 {
        // int d = ((u - v) * 100) / 255;  — f32 arithmetic, truncated toward zero.
        (((u - v) * 100.0) / 255.0) as i32
    }
    let mut sum: i32 = 0;
    for i in 0..63 {
        for j in 0..64 {
            sum += step(buf[i * 64 + j], buf[(i + 1) * 64 + j]).abs();
        }
    }
    for i in 0..64 {
        for j in 0..63 {
            sum += step(buf[i * 64 + j], buf[i * 64 + j + 1]).abs();
        }
    }
    (sum / 90).min(100) as u8
}

/// Bits set where a coefficient is strictly greater than the lower median
/// (`torben(…, 256)`, the 128th smallest value).
#[must_use]
pub(crate) fn threshold(dct: &[f32; 256]) -> Pdq256 {
    let mut sorted = *dct;
    sorted.sort_unstable_by(f32::total_cmp);
    let median = sorted[127];
    let mut h = Pdq256::ZERO;
    for (k, &v) in dct.iter().enumerate() {
        if v > median {
            h.set_bit(k);
        }
    }
    h
}

/// The eight dihedral hashes from one DCT (sign flips and transposes of the coefficients).
#[must_use]
pub(crate) fn dihedral_from_dct(f: &PdqFloat) -> DihedralHashes {
    let mut hashes = [Pdq256::ZERO; 8];
    for (slot, d) in hashes.iter_mut().zip(DIHEDRALS) {
        *slot = threshold(&d.transform_dct(&f.dct));
    }
    DihedralHashes {
        hashes,
        quality: f.quality,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn noise(w: usize, h: usize, bpp: usize, seed: u64) -> Vec<u8> {
        let mut bytes = vec![0; w * h * bpp];
        crate::rng::Rng::new(seed).fill_bytes(&mut bytes);
        bytes
    }

    #[test]
    fn grey_luma_is_the_grey_value() {
        for v in 0..=255u8 {
            assert_eq!(luma(v, v, v), f32::from(v));
        }
    }

    #[test]
    fn reused_hasher_gives_the_same_results_as_a_fresh_one() {
        let sizes = [(300, 200), (64, 64), (5, 900), (1200, 7), (130, 129)];
        let images: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &(w, h))| (w, h, noise(w, h, 3, i as u64 + 7)))
            .collect();
        let mut reused = PdqHasher::new();
        for _ in 0..2 {
            for (w, h, px) in &images {
                let img = ImageRef::new(*w as u32, *h as u32, PixelLayout::Rgb8, px).unwrap();
                assert_eq!(reused.hash(img), PdqHasher::new().hash(img));
                assert_eq!(
                    reused.hash_dihedral(img),
                    PdqHasher::new().hash_dihedral(img)
                );
            }
        }
    }

    #[test]
    fn tiny_images_get_the_zero_hash() {
        let px = noise(4, 100, 3, 1);
        let img = ImageRef::new(4, 100, PixelLayout::Rgb8, &px).unwrap();
        let h = PdqHasher::new().hash(img);
        assert_eq!((h.hash, h.quality), (Pdq256::ZERO, 0));
        assert!(ImageRef::new(4, 100, PixelLayout::Rgb8, &px[1..]).is_err());
    }

    #[test]
    fn the_primary_hash_is_the_original_orientations() {
        let px = noise(64, 48, 3, 7);
        let img = ImageRef::new(64, 48, PixelLayout::Rgb8, &px).unwrap();
        let mut hasher = PdqHasher::new();
        let (plain, all) = (hasher.hash(img), hasher.hash_dihedral(img));
        assert_eq!(all.primary(), plain);
        let only = DihedralHashes::from_primary(plain);
        assert_eq!(only.primary(), plain);
        assert_eq!((only.hashes[0], only.quality), (all.hashes[0], all.quality));
        assert!(only.hashes[1..].iter().all(|h| *h == Pdq256::ZERO));
    }

    #[test]
    fn dihedral_hashes_approximate_hashes_of_transformed_pixels() {
        // Rotating the pixels and hashing again gives nearly the hash the DCT transform
        // predicts (exactly only up to the filter's edge effects and rounding).
        let (w, h) = (96usize, 80usize);
        let px: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                (128.0 + 60.0 * (x / 9.0).sin() + 50.0 * (y / 13.0 + x / 31.0).cos()) as u8
            })
            .collect();
        let img = ImageRef::new(w as u32, h as u32, PixelLayout::Gray8, &px).unwrap();
        let mut hasher = PdqHasher::new();
        let all = hasher.hash_dihedral(img);
        for d in DIHEDRALS {
            let (tw, th, tpx) = d.apply_to_pixels(w, h, 1, &px);
            let t = ImageRef::new(tw as u32, th as u32, PixelLayout::Gray8, &tpx).unwrap();
            let direct = hasher.hash_dihedral(t).hashes[0];
            assert!(
                all.get(d).distance(&direct) <= 24,
                "{d}: {} bits",
                all.get(d).distance(&direct)
            );
        }
    }

    /// Counts allocations made by the current thread.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            pub static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
        }

        pub struct Counting;

        #[allow(unsafe_code)]
        // SAFETY: forwards every call unchanged to the system allocator; the counter is a
        // const-initialised thread-local that never allocates.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
                // SAFETY: same contract as the caller's.
                unsafe { System.alloc(layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: same contract as the caller's.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        #[global_allocator]
        static GLOBAL: Counting = Counting;
    }

    #[test]
    fn hashing_allocates_nothing_after_warm_up() {
        let big = noise(700, 500, 3, 3);
        let small = noise(300, 200, 1, 4);
        let big = ImageRef::new(700, 500, PixelLayout::Rgb8, &big).unwrap();
        let small = ImageRef::new(300, 200, PixelLayout::Gray8, &small).unwrap();
        let mut hasher = PdqHasher::new();
        hasher.hash_dihedral(big);
        let before = counting::ALLOCATIONS.with(|c| c.get());
        for _ in 0..3 {
            std::hint::black_box(hasher.hash(small));
            std::hint::black_box(hasher.hash(big));
            std::hint::black_box(hasher.hash_dihedral(small));
        }
        assert_eq!(counting::ALLOCATIONS.with(|c| c.get()), before);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn hash_is_deterministic_and_quality_bounded(w in 1u32..200, h in 1u32..200, seed in 0u64..1000, rgb in any::<bool>()) {
            let layout = if rgb { PixelLayout::Rgb8 } else { PixelLayout::Gray8 };
            let px = noise(w as usize, h as usize, layout.bytes_per_pixel(), seed);
            let img = ImageRef::new(w, h, layout, &px).unwrap();
            let a = PdqHasher::new().hash(img);
            let b = PdqHasher::new().hash(img);
            prop_assert_eq!(a, b);
            prop_assert!(a.quality <= 100);
            if w >= 5 && h >= 5 {
                // Lower-median threshold: at most 128 bits set.
                prop_assert!(a.hash.count_ones() <= 128);
            }
        }
    }
}
