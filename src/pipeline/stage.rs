//! The decode and hash stages: the [`Decoder`] and [`HashStage`] traits, the CPU hasher, the
//! per-item outcome types, and the steps that read, decode and hash one item.

use super::source::RawItem;
use crate::decode::{DecodeOptions, PixelPool};
use crate::hash::{
    Convention, DihedralHashes, HashError, Hashed, ImageRef, PdqHasher, PixelLayout,
};
use crate::store::HashParams;
use crate::{BackendError, BackendHasher};
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

/// Hashes batches of decoded images on a stage of its own, for the bulk pipeline
/// ([`super::Pipeline::hash_stage`]). [`crate::BackendHasher`] is the stage the engine uses
/// (batches on the GPU, streamed); [`CpuHasher`] is the reference.
///
/// The pipeline hands each implementation batches of at most [`HashStage::max_batch`]
/// images through [`HashStage::submit`], keeps every image until its result comes back, and
/// stores the results in input order. When a call fails, the results it had not pushed are
/// lost: the pipeline hands those images to [`HashStage::hash_batch`] once more, so that the
/// stage decides whether to go on (a [`crate::BackendHasher`] under
/// [`Backend::Auto`](crate::Backend::Auto) has moved to the CPU) or to fail; if that call
/// fails too, the run stops with its error.
///
/// # Examples
/// ```
/// use imprint::pipeline::{CpuHasher, HashStage};
/// use imprint::hash::{ImageRef, PixelLayout};
/// let pixels = vec![7u8; 32 * 32];
/// let image = ImageRef::new(32, 32, PixelLayout::Gray8, &pixels)?;
/// let mut stage = CpuHasher::new();
/// let mut ready = Vec::new();
/// stage.submit(5, &[image, image], false, &mut ready)?;
/// stage.flush(false, &mut ready)?;
/// assert_eq!(ready.iter().map(|(ticket, _)| *ticket).collect::<Vec<_>>(), [5, 6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait HashStage: Send {
    /// The largest batch this stage takes; the pipeline sends smaller ones when input is slow.
    fn max_batch(&self) -> usize;

    /// The most pixel bytes of one batch: the pipeline ends a batch once its images reach this
    /// (a batch holds at least one image). Unbounded by default.
    fn max_batch_bytes(&self) -> u64 {
        u64::MAX
    }

    /// Hashes `images` in order, pushing one result per image into `out` (which is cleared
    /// first).
    ///
    /// # Errors
    /// When the stage cannot hash them; `out` is then left cleared or partly filled.
    fn hash_batch(
        &mut self,
        images: &[ImageRef<'_>],
        dihedral: bool,
        out: &mut Vec<Hashed>,
    ) -> Result<(), BackendError>;

    /// Starts hashing `images`, numbered `first_ticket`, `first_ticket + 1`, …, and pushes
    /// `(ticket, result)` for every result that is ready: of these images or of earlier calls'.
    /// The others come from later calls or [`HashStage::flush`], so a stage can keep working
    /// on one call while the pipeline gathers the next. The default hashes the whole call with
    /// [`HashStage::hash_batch`].
    ///
    /// # Errors
    /// Every result not pushed by the time of the error is lost; the pipeline hands those
    /// images to [`HashStage::hash_batch`].
    fn submit(
        &mut self,
        first_ticket: u64,
        images: &[ImageRef<'_>],
        dihedral: bool,
        ready: &mut Vec<(u64, Hashed)>,
    ) -> Result<(), BackendError> {
        let mut out = Vec::with_capacity(images.len());
        self.hash_batch(images, dihedral, &mut out)?;
        ready.extend((first_ticket..).zip(out));
        Ok(())
    }

    /// Pushes every result still to come, as [`HashStage::submit`] does. The default has
    /// none.
    ///
    /// # Errors
    /// As [`HashStage::submit`].
    fn flush(
        &mut self,
        dihedral: bool,
        ready: &mut Vec<(u64, Hashed)>,
    ) -> Result<(), BackendError> {
        let _ = (dihedral, ready);
        Ok(())
    }
}

/// The CPU reference hasher as a [`HashStage`]: hashes a batch sequentially on the calling
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

    /// Hash and quality of one image: its 8 dihedral hashes when `dihedral`, else its hash.
    #[must_use]
    pub fn hash_one(&mut self, image: ImageRef<'_>, dihedral: bool) -> Hashed {
        if dihedral {
            self.inner.hash_dihedral(image).into()
        } else {
            self.inner.hash(image).into()
        }
    }
}

impl HashStage for CpuHasher {
    fn max_batch(&self) -> usize {
        1
    }

    fn hash_batch(
        &mut self,
        images: &[ImageRef<'_>],
        dihedral: bool,
        out: &mut Vec<Hashed>,
    ) -> Result<(), BackendError> {
        out.clear();
        out.extend(images.iter().map(|img| self.hash_one(*img, dihedral)));
        Ok(())
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

/// The backend-choosing hasher as the pipeline's hash stage: batches go to the GPU when one
/// is in use, streamed (see [`BackendHasher::submit`]). What a GPU failure means (finish on the
/// CPU, or fail) is the hasher's own decision; see [`crate::BackendHasher`].
impl HashStage for BackendHasher {
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

    fn hash_batch(
        &mut self,
        images: &[ImageRef<'_>],
        dihedral: bool,
        out: &mut Vec<Hashed>,
    ) -> Result<(), BackendError> {
        out.clear();
        if dihedral {
            let hashes = self.hash_batch_dihedral(images)?;
            out.extend(hashes.into_iter().map(Hashed::from));
        } else {
            let hashes = BackendHasher::hash_batch(self, images)?;
            out.extend(hashes.into_iter().map(Hashed::from));
        }
        Ok(())
    }

    fn submit(
        &mut self,
        first_ticket: u64,
        images: &[ImageRef<'_>],
        dihedral: bool,
        ready: &mut Vec<(u64, Hashed)>,
    ) -> Result<(), BackendError> {
        let mut raw = Vec::with_capacity(images.len());
        let done = BackendHasher::submit(self, first_ticket, images, dihedral, &mut raw);
        push_results(ready, raw, dihedral);
        done
    }

    fn flush(
        &mut self,
        dihedral: bool,
        ready: &mut Vec<(u64, Hashed)>,
    ) -> Result<(), BackendError> {
        let mut raw = Vec::new();
        let done = BackendHasher::flush(self, &mut raw);
        push_results(ready, raw, dihedral);
        done
    }
}

/// `raw` results into `ready` in the pipeline's form: `Dihedral`, or with `dihedral` false
/// `One` of the first hash.
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

/// One item's outcome: its hashes, or why it has none.
pub(super) type Outcome = Result<Hashed, ItemError>;

/// Reads the item (unless the walk did) and decodes it.
pub(super) fn decode_item(
    decoder: &dyn Decoder,
    raw: RawItem,
) -> (String, Result<OwnedImage, ItemError>) {
    let (id, bytes) = raw.read(&|head| decoder.accepts(head));
    let img = bytes
        .map_err(ItemError::from)
        .and_then(|b| decoder.decode(&b).map_err(ItemError::Decode));
    (id, img)
}

/// Hashes a decoded image on the CPU, then hands its pixels back to the decoder.
pub(super) fn hash_decoded(
    decoder: &dyn Decoder,
    hasher: &mut CpuHasher,
    img: Result<OwnedImage, ItemError>,
    dihedral: bool,
) -> Outcome {
    let img = img?;
    let outcome = img
        .as_image_ref()
        .map(|r| hasher.hash_one(r, dihedral))
        .map_err(ItemError::from);
    decoder.recycle(img.pixels);
    outcome
}

/// Images per GPU batch in the bulk pipeline: enough to keep the device busy, few enough that
/// the decoded pixels waiting for it stay within a few hundred megabytes.
pub const GPU_PIPELINE_BATCH: usize = 64;

/// Pixel bytes per GPU batch in the bulk pipeline: 64 images of 1 MP (192 MB) fit, while 12 MP
/// photos make batches of about 14, so that the pixels a streamed GPU stage holds (its batch
/// and the one before, still on the device) stay near 1 GiB whatever the image size.
pub const GPU_PIPELINE_BATCH_BYTES: u64 = 512 << 20;
