//! Which reference a hash should agree with.

use super::pdq::{ImageRef, PixelLayout};
use std::borrow::Cow;

/// Side the C++ `pdq-photo-hasher` resizes larger images to.
pub const CPP_CLI_SIDE: u32 = 512;

/// The hashing convention: how the decoded image is prepared before PDQ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Convention {
    /// Hash the image at full resolution: pdqhash-python, python-threatexchange / HMA, the Java
    /// port. The default, and the convention of most shared hash lists.
    #[default]
    FullResolution,
    /// Meta's C++ `pdq-photo-hasher`: an image wider or taller than 512 px is first resized to
    /// exactly 512×512 (aspect ratio ignored) by nearest neighbour, source index
    /// `⌊dst · n / 512⌋`.
    CppCli,
}

/// An image prepared for hashing under a [`Convention`]: borrowed unchanged or resized.
#[derive(Clone, Debug)]
pub struct Prepared<'a> {
    width: u32,
    height: u32,
    layout: PixelLayout,
    pixels: Cow<'a, [u8]>,
}

impl Prepared<'_> {
    /// The view to hash.
    #[must_use]
    pub fn image(&self) -> ImageRef<'_> {
        ImageRef::new(self.width, self.height, self.layout, &self.pixels)
            .expect("prepared pixels match their size")
    }
}

impl Convention {
    /// The image to hash under this convention: borrowed unchanged, or resized.
    #[must_use]
    pub fn prepare(self, image: ImageRef<'_>) -> Prepared<'_> {
        match self.prepared_size(image.width(), image.height()) {
            None => Prepared {
                width: image.width(),
                height: image.height(),
                layout: image.layout(),
                pixels: Cow::Borrowed(image.pixels()),
            },
            Some((w, h)) => Prepared {
                width: w,
                height: h,
                layout: image.layout(),
                pixels: Cow::Owned(resize_nearest(image, w, h)),
            },
        }
    }

    /// The size the image is resized to, or `None` when it is hashed as it is.
    #[must_use]
    pub fn prepared_size(self, width: u32, height: u32) -> Option<(u32, u32)> {
        match self {
            Convention::FullResolution => None,
            Convention::CppCli if width > CPP_CLI_SIDE || height > CPP_CLI_SIDE => {
                Some((CPP_CLI_SIDE, CPP_CLI_SIDE))
            }
            Convention::CppCli => None,
        }
    }
}

/// Nearest-neighbour resize with source index `⌊dst · n / new_n⌋` (CImg's `resize`, type 1).
fn resize_nearest(image: ImageRef<'_>, new_w: u32, new_h: u32) -> Vec<u8> {
    let bpp = image.layout().bytes_per_pixel();
    let (w, h) = (image.width() as u64, image.height() as u64);
    let src = image.pixels();
    let mut out = Vec::with_capacity(new_w as usize * new_h as usize * bpp);
    let cols: Vec<usize> = (0..u64::from(new_w))
        .map(|x| (x * w / u64::from(new_w)) as usize)
        .collect();
    for y in 0..u64::from(new_h) {
        let sy = (y * h / u64::from(new_h)) as usize;
        let row = &src[sy * w as usize * bpp..(sy + 1) * w as usize * bpp];
        for &sx in &cols {
            out.extend_from_slice(&row[sx * bpp..sx * bpp + bpp]);
        }
    }
    out
}
