//! The decode and hash stages: the [`Decoder`] and [`BatchHasher`] traits, the CPU hasher, and
//! the per-item outcome types.

use crate::decode::{DecodeOptions, PixelPool};
use crate::hash::{
    Convention, DihedralHashes, HashError, Hashed, ImageRef, PdqHasher, PixelLayout,
};
use crate::store::HashParams;
use std::fmt;
use std::sync::Arc;

/// A decoded image that owns its 8-bit pixels (rows packed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel layout.
    pub layout: PixelLayout,
    /// Packed pixels.
    pub pixels: Vec<u8>,
}

impl OwnedImage {
    /// Borrows the pixels for hashing.
    ///
    /// # Errors
    /// [`HashError::BufferSize`] when the pixel count does not match the size.
    pub fn as_image_ref(&self) -> Result<ImageRef<'_>, HashError> {
        ImageRef::new(self.width, self.height, self.layout, &self.pixels)
    }
}

/// Turns file bytes into pixels. Called from many threads at once.
pub trait Decoder: Sync {
    /// Decodes one image.
    ///
    /// # Errors
    /// Whatever stops decoding; its `Display` text becomes the item's stored cause.
    fn decode(&self, bytes: &[u8]) -> Result<OwnedImage, DecodeFailure>;

    /// Whether an item that starts with `head` (its first [`ITEM_HEAD_LEN`] bytes, or all of a
    /// shorter item) may be an image this decoder reads.
    ///
    /// Items found by walking a directory or a tar archive that it turns down are passed over:
    /// not read further, not decoded, and not handed to the sink ([`super::Report`] counts
    /// them as `num_not_images`), so that the videos, documents and metadata files beside the
    /// images cost one small read each and leave no record. Items named one by one (a file
    /// source, a manifest line) are always decoded, so that one that is not an image becomes
    /// a failure naming the cause. The default accepts everything.
    fn accepts(&self, head: &[u8]) -> bool {
        let _ = head;
        true
    }

    /// Takes back the pixels of a decoded image once it is hashed, for a later decode to reuse.
    /// The default drops them.
    fn recycle(&self, pixels: Vec<u8>) {
        drop(pixels);
    }
}

/// How many first bytes of an item [`Decoder::accepts`] is shown.
pub const ITEM_HEAD_LEN: usize = 64;

/// Why an item could not be decoded, as text for its error record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeFailure(pub String);

impl fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<F> Decoder for F
where
    F: Fn(&[u8]) -> Result<OwnedImage, DecodeFailure> + Sync,
{
    fn decode(&self, bytes: &[u8]) -> Result<OwnedImage, DecodeFailure> {
        self(bytes)
    }
}

/// Why a [`BatchHasher`] lost the results still to come.
pub type HasherError = Box<dyn std::error::Error + Send + Sync>;

/// Hashes batches of decoded images on a stage of their own (a GPU backend).
///
/// The pipeline hands each implementation batches of at most [`BatchHasher::max_batch`]
/// images through [`BatchHasher::submit`], keeps every image until its result comes back, and
/// stores the results in input order.
pub trait BatchHasher: Send {
    /// The largest batch this hasher takes; the pipeline sends smaller ones when input is slow.
    fn max_batch(&self) -> usize;

    /// The most pixel bytes of one batch: the pipeline ends a batch once its images reach this
    /// (a batch holds at least one image). Unbounded by default.
    fn max_batch_bytes(&self) -> u64 {
        u64::MAX
    }

    /// Hashes `images` in order, pushing one result per image into `out` (which is cleared
    /// first).
    fn hash_batch(&mut self, images: &[ImageRef<'_>], dihedral: bool, out: &mut Vec<Hashed>);

    /// Starts hashing `images`, numbered `first_ticket`, `first_ticket + 1`, …, and pushes
    /// `(ticket, result)` for every result that is ready: of these images or of earlier calls'.
    /// The others come from later calls or [`BatchHasher::flush`], so a hasher can keep working
    /// on one call while the pipeline gathers the next. The default hashes the whole call with
    /// [`BatchHasher::hash_batch`].
    ///
    /// # Errors
    /// Every result not pushed by the time of the error is lost; the pipeline hashes those
    /// images on the CPU.
    fn submit(
        &mut self,
        first_ticket: u64,
        images: &[ImageRef<'_>],
        dihedral: bool,
        ready: &mut Vec<(u64, Hashed)>,
    ) -> Result<(), HasherError> {
        let mut out = Vec::with_capacity(images.len());
        self.hash_batch(images, dihedral, &mut out);
        ready.extend((first_ticket..).zip(out));
        Ok(())
    }

    /// Pushes every result still to come, as [`BatchHasher::submit`] does. The default has
    /// none.
    ///
    /// # Errors
    /// As [`BatchHasher::submit`].
    fn flush(&mut self, dihedral: bool, ready: &mut Vec<(u64, Hashed)>) -> Result<(), HasherError> {
        let _ = (dihedral, ready);
        Ok(())
    }
}

/// The CPU reference hasher as a [`BatchHasher`]: hashes a batch sequentially on the calling
/// thread with one reusable [`PdqHasher`]. The pipeline runs one per decode worker.
#[derive(Debug, Default)]
pub struct CpuHasher {
    inner: PdqHasher,
}

impl CpuHasher {
    /// A hasher with empty working memory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl BatchHasher for CpuHasher {
    fn max_batch(&self) -> usize {
        1
    }

    fn hash_batch(&mut self, images: &[ImageRef<'_>], dihedral: bool, out: &mut Vec<Hashed>) {
        out.clear();
        for img in images {
            out.push(if dihedral {
                self.inner.hash_dihedral(*img).into()
            } else {
                self.inner.hash(*img).into()
            });
        }
    }
}

/// Why one item has no hash.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ItemError {
    /// Its bytes could not be read.
    #[error("read failed: {0}")]
    Read(std::io::Error),
    /// It is larger than the per-item limit.
    #[error("item is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// It could not be decoded.
    #[error("decode failed: {0}")]
    Decode(DecodeFailure),
    /// The batch hasher returned fewer results than it was given images.
    #[error("the hashing backend returned no result for this item")]
    MissingResult,
    /// It ended the process this many times while decoded alone (a crash inside a decoder,
    /// or the memory limit), so it was not decoded again; see [`super::Journal`]. Its text
    /// starts with [`ItemError::ENDED_PROCESS`].
    #[error(
        "{} {times} times while decoded alone (a crash in the decoder, or the memory limit); \
         not decoded again so that the run can finish",
        ItemError::ENDED_PROCESS
    )]
    EndedProcess {
        /// How many times.
        times: u32,
    },
    /// The decoder returned inconsistent pixels.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Found by walking a directory or archive, it does not start like an image the decoder
    /// reads ([`Decoder::accepts`]). The pipeline counts such items and never hands them to a
    /// sink.
    #[error("not an image")]
    NotAnImage,
}

impl ItemError {
    /// How the stored cause of an [`ItemError::EndedProcess`] starts.
    pub const ENDED_PROCESS: &'static str = "ended the process";
}

/// The engine's decoder ([`crate::decode::decode_pooled`]) with a hashing [`Convention`].
#[derive(Clone, Debug, Default)]
pub struct StandardDecoder {
    /// Decoding settings (pixel limit, EXIF, fast JPEG scaling).
    pub options: DecodeOptions,
    /// How the decoded image is prepared before hashing.
    pub convention: Convention,
    /// Where pixel buffers of hashed images wait for the next decodes (clones share it).
    /// Default: [`PixelPool::default`].
    pub pool: Arc<PixelPool>,
}

impl StandardDecoder {
    /// The hashing parameters a store records for hashes made through this decoder: its
    /// convention, EXIF and `--fast` settings, and the pipeline's
    /// [`ID_SCHEME`](super::ID_SCHEME), so that a resume or a merge never mixes hashes made two ways.
    #[must_use]
    pub fn hash_params(&self) -> HashParams {
        HashParams::new()
            .convention(self.convention)
            .jpeg_min_side(
                self.options
                    .jpeg_min_side
                    .map_or(0, crate::decode::fast_jpeg_recorded),
            )
            .exif(self.options.apply_exif)
            .id_scheme(super::ID_SCHEME)
    }
}

impl Decoder for StandardDecoder {
    fn decode(&self, bytes: &[u8]) -> Result<OwnedImage, DecodeFailure> {
        let img = crate::decode::decode_pooled(bytes, &self.options, &self.pool)
            .map_err(|e| DecodeFailure(e.to_string()))?;
        if self.convention == Convention::FullResolution {
            return Ok(OwnedImage {
                width: img.width,
                height: img.height,
                layout: img.layout,
                pixels: img.pixels,
            });
        }
        let prepared = self.convention.prepare(img.as_image_ref());
        let r = prepared.image();
        let out = OwnedImage {
            width: r.width(),
            height: r.height(),
            layout: r.layout(),
            pixels: r.pixels().to_vec(),
        };
        drop(prepared);
        self.pool.give(img.pixels);
        Ok(out)
    }

    fn accepts(&self, head: &[u8]) -> bool {
        crate::decode::sniff(head).is_some()
    }

    fn recycle(&self, pixels: Vec<u8>) {
        self.pool.give(pixels);
    }
}

/// The backend-choosing hasher ([`crate::BatchHasher`]) as a pipeline stage: batches go to the
/// GPU when one is in use, streamed (see [`crate::BatchHasher::submit`]). Should the GPU fail,
/// the images in flight are hashed on the CPU and the failure logged, so no item is lost.
impl BatchHasher for crate::BatchHasher {
    fn max_batch(&self) -> usize {
        if self.is_gpu() {
            GPU_PIPELINE_BATCH
        } else {
            1
        }
    }

    fn max_batch_bytes(&self) -> u64 {
        GPU_PIPELINE_BATCH_BYTES
    }

    fn hash_batch(&mut self, images: &[ImageRef<'_>], dihedral: bool, out: &mut Vec<Hashed>) {
        out.clear();
        let done = if dihedral {
            self.hash_batch_dihedral(images)
                .map(|v| out.extend(v.into_iter().map(Hashed::from)))
        } else {
            crate::BatchHasher::hash_batch(self, images)
                .map(|v| out.extend(v.into_iter().map(Hashed::from)))
        };
        if let Err(e) = done {
            log::warn!("{e}; hashing this batch on the CPU");
            out.clear();
            CpuHasher::new().hash_batch(images, dihedral, out);
        }
    }

    fn submit(
        &mut self,
        first_ticket: u64,
        images: &[ImageRef<'_>],
        dihedral: bool,
        ready: &mut Vec<(u64, Hashed)>,
    ) -> Result<(), HasherError> {
        let mut raw = Vec::with_capacity(images.len());
        let done = crate::BatchHasher::submit(self, first_ticket, images, dihedral, &mut raw);
        push_results(ready, raw, dihedral);
        done.map_err(Into::into)
    }

    fn flush(&mut self, dihedral: bool, ready: &mut Vec<(u64, Hashed)>) -> Result<(), HasherError> {
        let mut raw = Vec::new();
        let done = crate::BatchHasher::flush(self, &mut raw);
        push_results(ready, raw, dihedral);
        done.map_err(Into::into)
    }
}

/// `raw` results into `ready` in the pipeline's form: `Dihedral`, or with `dihedral` false
/// `Plain` of the first hash.
fn push_results(ready: &mut Vec<(u64, Hashed)>, raw: Vec<(u64, DihedralHashes)>, dihedral: bool) {
    ready.extend(raw.into_iter().map(|(ticket, d)| {
        let hashes = if dihedral {
            Hashed::from(d)
        } else {
            Hashed::from(d.primary())
        };
        (ticket, hashes)
    }));
}

/// Images per GPU batch in the bulk pipeline: enough to keep the device busy, few enough that
/// the decoded pixels waiting for it stay within a few hundred megabytes.
pub const GPU_PIPELINE_BATCH: usize = 64;

/// Pixel bytes per GPU batch in the bulk pipeline: 64 images of 1 MP (192 MB) fit, while 12 MP
/// photos make batches of about 14, so that the pixels a streamed GPU stage holds (its batch
/// and the one before, still on the device) stay near 1 GiB whatever the image size.
pub const GPU_PIPELINE_BATCH_BYTES: u64 = 512 << 20;
