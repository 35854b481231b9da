//! [`GpuHasher`]: batching, double buffering and the dispatch sequence.

use super::buffers::{read_mapped, start_map, PendingMap, PooledBuffer};
use super::context::{GpuContext, GpuOptions, Upload};
use super::error::{GpuError, Result};
use super::kernels::{PdqKernels, NUM_KERNELS, ROW_WORKGROUP};
use super::layout::{
    tables, ImageDescGpu, ParamsGpu, PdqResultGpu, FLAG_SKIP_FILTER, NUM_RECIP, OUT, SMALL_STRIDE,
    TABLE_DCT, TABLE_GRAY, TABLE_RGB,
};
use super::profile::{GpuProfile, TIMESTAMP_BYTES};
use crate::hash::{
    window_size, DihedralHashes, ImageRef, Pdq256, PdqHash, PdqHasher, PixelLayout,
    MIN_HASHABLE_DIM,
};
use rayon::prelude::*;
use wgpu::util::DeviceExt;

/// How many batches are in flight at once (upload/compute of one, readback of the other).
const NUM_SLOTS: usize = 2;

/// Pixel bytes below which a call is not split further to reach
/// [`GpuOptions::batches_per_call`]: smaller batches would leave a large device idle for the
/// fixed cost of a submission.
pub(crate) const MIN_SPLIT_BYTES: u64 = 32 << 20;

/// Batch size limits derived from the adapter and the options.
#[derive(Clone, Copy, Debug)]
struct BatchLimits {
    /// Bytes of one storage buffer (pixels, one plane).
    max_binding_bytes: u64,
    /// Images per batch.
    max_images: u32,
    /// Workgroups per dispatch dimension.
    max_groups: u32,
    /// Batches a call's pixels are spread over, at least (see [`MIN_SPLIT_BYTES`]).
    batches_per_call: u32,
}

/// Where one image of a call goes.
#[derive(Clone, Copy, Debug)]
enum Route {
    /// Side under [`MIN_HASHABLE_DIM`]: zero hash, quality 0.
    Degenerate,
    /// Too large for one batch buffer: hashed by the CPU reference.
    Cpu,
    /// Hashed on the GPU, needing this many pixel bytes and plane `f32`s.
    Gpu { pixel_bytes: u64, plane_len: u64 },
}

/// One planned batch: indices into the caller's images, and buffer totals.
#[derive(Debug, Default)]
struct Batch {
    members: Vec<usize>,
    pixel_bytes: u64,
    plane_len: u64,
}

struct InFlight {
    /// The tickets of the batch's images, in batch order.
    members: Vec<u64>,
    /// Result bytes at the start of the readback buffer.
    results_len: u64,
    /// Result bytes, then the batch's timestamps when the slot has a [`Timer`].
    readback_len: u64,
    readback: PendingMap,
}

/// Timestamp queries of one slot: a begin and an end per kernel, resolved into `resolve` and
/// copied behind the results into the readback buffer.
struct Timer {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
}

impl Timer {
    fn new(device: &wgpu::Device) -> Self {
        Timer {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pdq.timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * NUM_KERNELS as u32,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pdq.timestamps_resolve"),
                size: TIMESTAMP_BYTES,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
        }
    }
}

/// The buffers of one batch in flight.
struct Slot {
    params: wgpu::Buffer,
    images: PooledBuffer,
    /// The staging buffer pixels are written to and copied from; `None` when the kernels
    /// read the host-memory `pixels` buffer directly ([`Upload::HostDirect`]).
    upload: Option<PooledBuffer>,
    pixels: PooledBuffer,
    /// How the buffer the host fills is mapped: `Write` for a `MAP_WRITE` staging buffer,
    /// `Read` for a host-memory buffer (a `MAP_READ` buffer, written through its mapping).
    fill_mode: wgpu::MapMode,
    plane_a: PooledBuffer,
    plane_b: PooledBuffer,
    small: PooledBuffer,
    results: PooledBuffer,
    readback: PooledBuffer,
    bind_group: Option<wgpu::BindGroup>,
    upload_map: Option<PendingMap>,
    inflight: Option<InFlight>,
    timer: Option<Timer>,
}

impl Slot {
    fn new(device: &wgpu::Device, timestamps: bool, upload: Upload) -> Self {
        use wgpu::BufferUsages as U;
        let (map, fill_mode) = upload.host_map();
        let (staging, pixels) = match upload {
            Upload::HostDirect => (None, map | U::STORAGE),
            _ => (Some(map | U::COPY_SRC), U::STORAGE | U::COPY_DST),
        };
        Slot {
            params: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pdq.params"),
                size: std::mem::size_of::<ParamsGpu>() as u64,
                usage: U::UNIFORM | U::COPY_DST,
                mapped_at_creation: false,
            }),
            images: PooledBuffer::new("pdq.images", U::STORAGE | U::COPY_DST),
            upload: staging.map(|usage| PooledBuffer::new("pdq.upload_staging", usage)),
            pixels: PooledBuffer::new("pdq.pixels", pixels),
            fill_mode,
            plane_a: PooledBuffer::new("pdq.plane_a", U::STORAGE),
            plane_b: PooledBuffer::new("pdq.plane_b", U::STORAGE),
            small: PooledBuffer::new("pdq.small", U::STORAGE | U::COPY_SRC),
            results: PooledBuffer::new("pdq.results", U::STORAGE | U::COPY_SRC),
            readback: PooledBuffer::new("pdq.readback_staging", U::MAP_READ | U::COPY_DST),
            bind_group: None,
            upload_map: None,
            inflight: None,
            timer: timestamps.then(|| Timer::new(device)),
        }
    }

    /// The buffer the host writes pixels into.
    fn fill(&self) -> &PooledBuffer {
        self.upload.as_ref().unwrap_or(&self.pixels)
    }
}

/// Host→device bandwidth from [`GpuHasher::measure_upload_bandwidth`], in bytes per second.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct UploadBandwidth {
    /// Map, fill from host memory on all cores, copy to the device: the batches' upload path
    /// (with a staging buffer of the hasher's [`Upload`] kind; [`Upload::HostDirect`] is
    /// probed as [`Upload::HostCopy`]).
    pub staged: f64,
    /// Copy of an already filled staging buffer to the device buffer. A transfer over the bus
    /// when the staging buffer is in host memory ([`Upload::HostCopy`], and
    /// [`Upload::Mapped`] on devices without resizable BAR); a copy within the device when the
    /// driver put it in device memory the host can write, and then the fill crossed the bus.
    pub copy_only: f64,
    /// The fill alone: host memory into the mapped staging buffer, on all cores.
    pub fill: f64,
    /// The same parallel copy into ordinary host memory, the base the fill compares with.
    pub host_memcpy: f64,
}

/// Computes PDQ hashes on a GPU through wgpu compute shaders, in batches, agreeing with the
/// CPU reference [`PdqHasher`].
///
/// Everything after decoding runs on the device: 8-bit pixels are uploaded as they are (packed
/// RGB or grey, never `f32` luma), and only 272 bytes per image come back. Images of mixed sizes
/// are packed many per submission, in batches sized from the adapter's storage-binding limit;
/// two batches are in flight at once. An image whose pixels or filter planes do not fit one
/// binding (on lavapipe's 128 MiB: above about 33 megapixels; on a 2 GiB binding: above about
/// 500 megapixels) is hashed by the CPU reference within the same call.
///
/// # Examples
/// ```no_run
/// use imprint::gpu::{GpuHasher, GpuOptions};
/// use imprint::hash::{ImageRef, PixelLayout};
/// let pixels = vec![128u8; 640 * 480 * 3];
/// let image = ImageRef::new(640, 480, PixelLayout::Rgb8, &pixels)?;
/// let mut gpu = GpuHasher::new(GpuOptions::default())?;
/// let hashes = gpu.hash_batch(&[image])?;
/// assert_eq!(hashes.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GpuHasher {
    ctx: GpuContext,
    kernels: PdqKernels,
    tables: wgpu::Buffer,
    slots: Vec<Slot>,
    next_slot: usize,
    limits: BatchLimits,
    cpu: PdqHasher,
    bytes: Vec<u8>,
    profile: GpuProfile,
    /// Results of streamed images that finished during a [`GpuHasher::hash_batch`] call,
    /// handed out by the next [`GpuHasher::submit`] or [`GpuHasher::flush`].
    stashed: Vec<(u64, DihedralHashes)>,
}

impl std::fmt::Debug for GpuHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuHasher")
            .field("adapter", &self.ctx.info.name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Pixel bytes of a batch member, rounded up to [`wgpu::MAP_ALIGNMENT`] (8) so that each image
/// has its own mapped view of the staging buffer (and starts on a whole `u32` word).
fn pixel_bytes(image: &ImageRef<'_>) -> u64 {
    (image.pixels().len() as u64).next_multiple_of(wgpu::MAP_ALIGNMENT)
}

impl GpuHasher {
    /// Chooses an adapter, creates the device and compiles the kernels.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] when no adapter is allowed by `options`;
    /// [`GpuError::RequestDevice`] or [`GpuError::Wgpu`] when the device or a pipeline cannot be
    /// created.
    pub fn new(options: GpuOptions) -> Result<Self> {
        let ctx = GpuContext::new(&options)?;
        let kernels = PdqKernels::new(&ctx, options.row_kernels)?;
        let tables = ctx.scoped("table upload", || {
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("pdq.tables"),
                    contents: bytemuck::cast_slice(&tables()),
                    usage: wgpu::BufferUsages::STORAGE,
                })
        })?;
        let l = &ctx.limits;
        let max_binding_bytes = l
            .max_storage_buffer_binding_size
            .min(l.max_buffer_size)
            .min(options.max_batch_bytes)
            .min(u64::from(u32::MAX))
            & !3;
        let per_image_small = u64::from(SMALL_STRIDE) * 4;
        let max_images = u64::from(options.max_images_per_batch)
            .min(u64::from(l.max_compute_workgroups_per_dimension))
            .min(max_binding_bytes / per_image_small)
            .max(1) as u32;
        let limits = BatchLimits {
            max_binding_bytes,
            max_images,
            max_groups: l.max_compute_workgroups_per_dimension,
            batches_per_call: options.batches_per_call.max(1),
        };
        log::debug!("gpu batch limits: {limits:?}");
        let timestamps = ctx.timestamps;
        let slots = ctx.scoped("slot creation", || {
            (0..NUM_SLOTS)
                .map(|_| Slot::new(&ctx.device, timestamps, ctx.upload))
                .collect()
        })?;
        Ok(GpuHasher {
            ctx,
            kernels,
            tables,
            slots,
            next_slot: 0,
            limits,
            cpu: PdqHasher::new(),
            bytes: Vec::new(),
            profile: GpuProfile::default(),
            stashed: Vec::new(),
        })
    }

    /// The adapter's name, e.g. `NVIDIA H200` or `llvmpipe (LLVM 15.0.6, 256 bits)`.
    #[must_use]
    pub fn adapter_name(&self) -> &str {
        &self.ctx.info.name
    }

    /// The upload path in use: [`GpuOptions::upload`], or [`Upload::Mapped`] where the adapter
    /// cannot place buffers in host memory.
    #[must_use]
    pub fn upload(&self) -> Upload {
        self.ctx.upload
    }

    /// Whether the adapter is a software rasteriser (lavapipe), far slower than the CPU path.
    #[must_use]
    pub fn is_software(&self) -> bool {
        self.ctx.is_software()
    }

    /// The most pixel bytes (or `f32` plane bytes) one batch buffer holds; larger images are
    /// hashed on the CPU.
    #[must_use]
    pub fn max_batch_bytes(&self) -> u64 {
        self.limits.max_binding_bytes
    }

    /// The most images one batch holds.
    #[must_use]
    pub fn max_images_per_batch(&self) -> u32 {
        self.limits.max_images
    }

    /// Where the time went since creation or the last [`GpuHasher::reset_profile`]: batches,
    /// host waits and, with [`GpuOptions::profile_kernels`], device time per kernel.
    #[must_use]
    pub fn profile(&self) -> &GpuProfile {
        &self.profile
    }

    /// Starts a new [`GpuHasher::profile`].
    pub fn reset_profile(&mut self) {
        self.profile = GpuProfile::default();
    }

    /// Host→device copy bandwidth in bytes per second, measured the way batches upload
    /// pixels: `reps` times, map a `bytes`-long staging buffer, copy `bytes` from host memory
    /// into it on all cores, and copy it to a device buffer; timed from the first map to the last copy's
    /// completion. For benchmarks (`examples/gpu_speed.rs`).
    ///
    /// # Errors
    /// As [`GpuHasher::hash_batch`].
    #[doc(hidden)]
    pub fn measure_upload_bandwidth(&mut self, bytes: u64, reps: u32) -> Result<UploadBandwidth> {
        let device = &self.ctx.device;
        let bytes = bytes.next_multiple_of(4).min(self.limits.max_binding_bytes);
        let host = vec![0x5au8; bytes as usize];
        let (map, mode) = self.ctx.upload.host_map();
        let (staging, target) = self.ctx.scoped("bandwidth probe", || {
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pdq.bandwidth_staging"),
                size: bytes,
                usage: map | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let target = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pdq.bandwidth_target"),
                size: bytes,
                usage: wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (staging, target)
        })?;
        let start = std::time::Instant::now();
        let mut fill_s = 0.0;
        for _ in 0..reps {
            let pending = start_map(&staging, "pdq.bandwidth_staging", bytes, mode, None);
            device.poll(wgpu::PollType::wait_indefinitely())?;
            pending.wait(device)?;
            // Filled on all cores in 8 MiB views, as batches fill theirs.
            let chunk = 8u64 << 20;
            let mut views = Vec::new();
            let mut at = 0u64;
            while at < bytes {
                let end = (at + chunk).min(bytes);
                let view =
                    staging
                        .slice(at..end)
                        .get_mapped_range_mut()
                        .map_err(|e| GpuError::Wgpu {
                            stage: "bandwidth probe",
                            message: e.to_string(),
                        })?;
                views.push((view, &host[at as usize..end as usize]));
                at = end;
            }
            let filled = std::time::Instant::now();
            views.into_par_iter().for_each(|(mut view, src)| {
                view.slice(..).copy_from_slice(src);
            });
            fill_s += filled.elapsed().as_secs_f64();
            staging.unmap();
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("pdq.bandwidth_encoder"),
            });
            encoder.copy_buffer_to_buffer(&staging, 0, &target, 0, bytes);
            self.ctx.queue.submit([encoder.finish()]);
        }
        device.poll(wgpu::PollType::wait_indefinitely())?;
        // Bytes moved by each measurement, over its seconds.
        let moved = bytes as f64 * f64::from(reps);
        let staged = moved / start.elapsed().as_secs_f64();
        // The link alone: the same staging buffer, already filled, copied again.
        let start = std::time::Instant::now();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("pdq.bandwidth_encoder"),
        });
        for _ in 0..reps {
            encoder.copy_buffer_to_buffer(&staging, 0, &target, 0, bytes);
        }
        self.ctx.queue.submit([encoder.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely())?;
        let copy_only = moved / start.elapsed().as_secs_f64();
        // Host to host, pages touched beforehand as the staging buffer's are.
        let mut dst = vec![0xa5u8; bytes as usize];
        let start = std::time::Instant::now();
        for _ in 0..reps {
            dst.par_chunks_mut(8 << 20)
                .zip(host.par_chunks(8 << 20))
                .for_each(|(d, s)| d.copy_from_slice(s));
        }
        let host_memcpy = moved / start.elapsed().as_secs_f64();
        std::hint::black_box(&dst);
        Ok(UploadBandwidth {
            staged,
            copy_only,
            fill: moved / fill_s.max(f64::MIN_POSITIVE),
            host_memcpy,
        })
    }

    /// Destroys the device, as a driver reset would; later calls fail with
    /// [`GpuError::DeviceLost`]. For testing the recovery paths.
    #[doc(hidden)]
    pub fn simulate_device_loss(&mut self) {
        self.ctx.destroy();
    }

    /// Hash and quality of each image, equal to [`PdqHasher::hash`] (see the module docs for
    /// the agreement).
    ///
    /// # Errors
    /// [`GpuError::DeviceLost`] when the device is lost; [`GpuError::Wgpu`], [`GpuError::Map`]
    /// or [`GpuError::Poll`] on other device failures. No partial results are returned.
    pub fn hash_batch(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<PdqHash>> {
        let out = self.run(images, false)?;
        Ok(out.iter().map(DihedralHashes::primary).collect())
    }

    /// The eight dihedral hashes of each image, equal to [`PdqHasher::hash_dihedral`].
    ///
    /// # Errors
    /// As [`GpuHasher::hash_batch`].
    pub fn hash_batch_dihedral(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<DihedralHashes>> {
        self.run(images, true)
    }

    fn route(&self, image: &ImageRef<'_>) -> Route {
        let (w, h) = (u64::from(image.width()), u64::from(image.height()));
        if image.width() < MIN_HASHABLE_DIM || image.height() < MIN_HASHABLE_DIM {
            return Route::Degenerate;
        }
        let pixel_bytes = pixel_bytes(image);
        let plane_len = h * w.max(u64::from(OUT));
        let windows_fit = window_size(w as usize) < NUM_RECIP as usize
            && window_size(h as usize) < NUM_RECIP as usize;
        let groups_fit =
            w.max(h).div_ceil(u64::from(ROW_WORKGROUP)) <= u64::from(self.limits.max_groups);
        if pixel_bytes > self.limits.max_binding_bytes
            || plane_len * 4 > self.limits.max_binding_bytes
            || !windows_fit
            || !groups_fit
        {
            return Route::Cpu;
        }
        Route::Gpu {
            pixel_bytes,
            plane_len,
        }
    }

    /// Starts hashing `images`, the images numbered `first_ticket`, `first_ticket + 1`, …, and
    /// pushes into `ready` the results that are ready, each with its image's ticket: those of
    /// images of this call or earlier ones whose batches have finished, and those of images
    /// this call hashes on the CPU or gives the zero hash. Results of the call's last batches
    /// can still be on the device when it returns; a later call or [`GpuHasher::flush`] pushes
    /// them. Each image's result is pushed exactly once, equal to what
    /// [`GpuHasher::hash_batch_dihedral`] gives (with `dihedral` false only `hashes[0]` is
    /// computed, the others are zero).
    ///
    /// Unlike [`GpuHasher::hash_batch`], a call does not wait for its own batches, so the host
    /// prepares the next call's pixels while the device works on this one's. Tickets are the
    /// caller's: give each image in flight a different one.
    ///
    /// # Errors
    /// As [`GpuHasher::hash_batch`]. Every result not pushed before the error is lost (all
    /// batches in flight are dropped): hash those images again, on the CPU or on a new device.
    pub fn submit(
        &mut self,
        first_ticket: u64,
        images: &[ImageRef<'_>],
        dihedral: bool,
        ready: &mut Vec<(u64, DihedralHashes)>,
    ) -> Result<()> {
        ready.append(&mut self.stashed);
        let result = self.submit_all(first_ticket, images, dihedral, ready);
        result.map_err(|e| self.abandon(e))
    }

    /// Waits for every batch in flight and pushes its results into `ready`, as
    /// [`GpuHasher::submit`] does.
    ///
    /// # Errors
    /// As [`GpuHasher::submit`].
    pub fn flush(&mut self, ready: &mut Vec<(u64, DihedralHashes)>) -> Result<()> {
        ready.append(&mut self.stashed);
        let result = self.drain(ready);
        result.map_err(|e| self.abandon(e))
    }

    fn run(&mut self, images: &[ImageRef<'_>], dihedral: bool) -> Result<Vec<DihedralHashes>> {
        // Batches streamed before this call finish first, their results kept for the stream.
        let mut earlier = std::mem::take(&mut self.stashed);
        let drained = self.drain(&mut earlier);
        self.stashed = earlier;
        drained.map_err(|e| self.abandon(e))?;
        let mut ready = Vec::with_capacity(images.len());
        let result = self
            .submit_all(0, images, dihedral, &mut ready)
            .and_then(|()| self.drain(&mut ready));
        result.map_err(|e| self.abandon(e))?;
        let mut out = vec![DihedralHashes::ZERO; images.len()];
        for (ticket, hashes) in ready {
            out[ticket as usize] = hashes;
        }
        Ok(out)
    }

    fn submit_all(
        &mut self,
        first_ticket: u64,
        images: &[ImageRef<'_>],
        dihedral: bool,
        ready: &mut Vec<(u64, DihedralHashes)>,
    ) -> Result<()> {
        self.ctx.poll_lost()?;
        let routes: Vec<Route> = images.iter().map(|image| self.route(image)).collect();
        let (batches, cpu) = plan(&routes, &self.limits);
        for batch in &batches {
            self.submit_batch(batch, first_ticket, images, dihedral, ready)?;
        }
        // While the device works: the images it does not take.
        for &i in &cpu {
            log::debug!(
                "image {i} ({}x{}) exceeds a gpu batch buffer: hashed on the cpu",
                images[i].width(),
                images[i].height()
            );
            let hashes = if dihedral {
                self.cpu.hash_dihedral(images[i])
            } else {
                DihedralHashes::from_primary(self.cpu.hash(images[i]))
            };
            ready.push((first_ticket + i as u64, hashes));
        }
        for (i, route) in routes.iter().enumerate() {
            if matches!(route, Route::Degenerate) {
                ready.push((first_ticket + i as u64, DihedralHashes::ZERO));
            }
        }
        Ok(())
    }

    /// Waits for both slots, oldest batch first.
    fn drain(&mut self, ready: &mut Vec<(u64, DihedralHashes)>) -> Result<()> {
        for _ in 0..NUM_SLOTS {
            let s = self.next_slot;
            self.next_slot = (s + 1) % NUM_SLOTS;
            self.finish(s, ready)?;
        }
        Ok(())
    }

    /// Drops every batch in flight after `e`, so that a later call starts clean (or fails the
    /// same way), and returns the error to report: the device's loss if it is lost.
    fn abandon(&mut self, e: GpuError) -> GpuError {
        for slot in &mut self.slots {
            slot.inflight = None;
            slot.upload_map = None;
            slot.bind_group = None;
            if let Some(upload) = &mut slot.upload {
                upload.clear();
            }
            slot.pixels.clear();
            slot.readback.clear();
        }
        if let Err(lost) = self.ctx.poll_lost() {
            return lost;
        }
        match e {
            GpuError::Poll(p) => self.ctx.mark_lost(p.to_string()),
            e => e,
        }
    }

    /// Waits for the batch in slot `s`, if any, and pushes its results.
    fn finish(&mut self, s: usize, ready: &mut Vec<(u64, DihedralHashes)>) -> Result<()> {
        let slot = &mut self.slots[s];
        let Some(inflight) = slot.inflight.take() else {
            return Ok(());
        };
        let waited = std::time::Instant::now();
        inflight.readback.wait(&self.ctx.device)?;
        self.profile.readback_wait_s += waited.elapsed().as_secs_f64();
        read_mapped(slot.readback.get(), inflight.readback_len, &mut self.bytes)?;
        let (results, timestamps) = self.bytes.split_at(inflight.results_len as usize);
        if slot.timer.is_some() {
            self.profile
                .add_timestamps(timestamps, self.ctx.queue.get_timestamp_period());
        }
        let results: &[PdqResultGpu] =
            bytemuck::try_cast_slice(results).map_err(|e| GpuError::Wgpu {
                stage: "readback",
                message: e.to_string(),
            })?;
        for (&ticket, r) in inflight.members.iter().zip(results) {
            let mut hashes = [Pdq256::ZERO; 8];
            for (v, hash) in hashes.iter_mut().enumerate() {
                *hash = hash_from_words(&r.bits[v * 8..v * 8 + 8]);
            }
            let quality = r.quality.min(100) as u8;
            ready.push((ticket, DihedralHashes { hashes, quality }));
        }
        self.ctx.check_lost()
    }

    fn submit_batch(
        &mut self,
        batch: &Batch,
        first_ticket: u64,
        images: &[ImageRef<'_>],
        dihedral: bool,
        ready: &mut Vec<(u64, DihedralHashes)>,
    ) -> Result<()> {
        let s = self.next_slot;
        self.next_slot = (s + 1) % NUM_SLOTS;
        self.finish(s, ready)?;
        let device = &self.ctx.device;
        let cap = self.limits.max_binding_bytes;
        let n = batch.members.len() as u64;
        let slot = &mut self.slots[s];
        if let Some(m) = slot.upload_map.take() {
            let waited = std::time::Instant::now();
            m.wait(device)?;
            self.profile.upload_wait_s += waited.elapsed().as_secs_f64();
        }
        let mut rebind = false;
        rebind |= slot.images.ensure(
            device,
            n * std::mem::size_of::<ImageDescGpu>() as u64,
            u64::MAX,
        );
        let new_pixels = slot.pixels.ensure(device, batch.pixel_bytes, cap);
        rebind |= new_pixels;
        let new_fill = match &mut slot.upload {
            Some(upload) => upload.ensure(device, batch.pixel_bytes, cap),
            None => new_pixels,
        };
        if new_fill && slot.fill_mode == wgpu::MapMode::Read {
            // A new host-memory buffer: mapped here rather than at creation (see
            // `PooledBuffer::ensure`). Only after growth, so the wait for all work is rare.
            let fill = slot.fill();
            let size = fill.get().size();
            start_map(fill.get(), fill.label(), size, wgpu::MapMode::Read, None).wait(device)?;
        }
        rebind |= slot.plane_a.ensure(device, batch.plane_len * 4, cap);
        rebind |= slot.plane_b.ensure(device, batch.plane_len * 4, cap);
        rebind |= slot
            .small
            .ensure(device, n * u64::from(SMALL_STRIDE) * 4, cap);
        let results_len = n * std::mem::size_of::<PdqResultGpu>() as u64;
        let readback_len = results_len + slot.timer.as_ref().map_or(0, |_| TIMESTAMP_BYTES);
        rebind |= slot.results.ensure(device, results_len, u64::MAX);
        slot.readback.ensure(device, readback_len, u64::MAX);
        if rebind || slot.bind_group.is_none() {
            slot.bind_group = Some(device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("pdq.bind_group"),
                layout: &self.kernels.bind_group_layout,
                entries: &[
                    entry(0, &slot.params),
                    entry(1, slot.images.get()),
                    entry(2, slot.pixels.get()),
                    entry(3, &self.tables),
                    entry(4, slot.plane_a.get()),
                    entry(5, slot.plane_b.get()),
                    entry(6, slot.small.get()),
                    entry(7, slot.results.get()),
                ],
            }));
        }

        // Pixels into the mapped upload buffer, image descriptors alongside.
        let mut descs = Vec::with_capacity(batch.members.len());
        let (mut pixel_offset, mut plane_offset) = (0u64, 0u64);
        let (mut max_w, mut max_h) = (0u32, 0u32);
        {
            // One mapped view per image, filled on all cores: this memcpy is the host side of
            // the upload, which bounds the whole hash stage on a fast GPU.
            let mut copies = Vec::with_capacity(batch.members.len());
            for &i in &batch.members {
                let image = &images[i];
                let (w, h) = (image.width(), image.height());
                let view = slot
                    .fill()
                    .get()
                    .slice(pixel_offset..pixel_offset + pixel_bytes(image))
                    .get_mapped_range_mut()
                    .map_err(|e| GpuError::Wgpu {
                        stage: "upload",
                        message: e.to_string(),
                    })?;
                copies.push((view, image.pixels()));
                let skip = !dihedral && w == OUT && h == OUT;
                descs.push(ImageDescGpu {
                    width: w,
                    height: h,
                    bpp: match image.layout() {
                        PixelLayout::Gray8 => 1,
                        _ => 3,
                    },
                    flags: if skip { FLAG_SKIP_FILTER } else { 0 },
                    pixel_offset: pixel_offset as u32,
                    plane_offset: plane_offset as u32,
                    win_w: window_size(w as usize) as u32,
                    win_h: window_size(h as usize) as u32,
                });
                pixel_offset += pixel_bytes(image);
                plane_offset += u64::from(h) * u64::from(w.max(OUT));
                max_w = max_w.max(w);
                max_h = max_h.max(h);
            }
            let filled = std::time::Instant::now();
            copies.into_par_iter().for_each(|(mut view, px)| {
                view.slice(..px.len()).copy_from_slice(px);
            });
            self.profile.fill_s += filled.elapsed().as_secs_f64();
        }
        self.profile.batches += 1;
        self.profile.images += n;
        self.profile.pixel_bytes += batch.pixel_bytes;
        slot.fill().get().unmap();
        let num_variants = if dihedral { 8 } else { 1 };
        let params = ParamsGpu {
            num_images: n as u32,
            zero: 0,
            table_dct: TABLE_DCT,
            table_gray: TABLE_GRAY,
            table_rgb: TABLE_RGB,
            num_recip: NUM_RECIP,
            small_stride: SMALL_STRIDE,
            num_variants,
        };
        let queue = &self.ctx.queue;
        let kernels = &self.kernels;
        let bind_group = slot
            .bind_group
            .as_ref()
            .expect("bind group created above for this slot's buffers");
        let n32 = n as u32;
        let submission = self.ctx.scoped("batch submission", || {
            queue.write_buffer(&slot.params, 0, bytemuck::bytes_of(&params));
            queue.write_buffer(slot.images.get(), 0, bytemuck::cast_slice(&descs));
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("pdq.encoder"),
            });
            if let Some(upload) = &slot.upload {
                encoder.copy_buffer_to_buffer(
                    upload.get(),
                    0,
                    slot.pixels.get(),
                    0,
                    batch.pixel_bytes,
                );
            }
            let sequence = kernels.sequence(n32, max_w, max_h, num_variants);
            // One pass for the whole sequence; with timestamps, one pass per kernel, each
            // timed from its start to its end.
            let passes = if slot.timer.is_some() { NUM_KERNELS } else { 1 };
            let per_pass = NUM_KERNELS / passes;
            for (p, dispatches) in sequence.chunks(per_pass).enumerate() {
                let timestamp_writes =
                    slot.timer
                        .as_ref()
                        .map(|t| wgpu::ComputePassTimestampWrites {
                            query_set: &t.queries,
                            beginning_of_pass_write_index: Some(2 * p as u32),
                            end_of_pass_write_index: Some(2 * p as u32 + 1),
                        });
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("pdq.pass"),
                    timestamp_writes,
                });
                pass.set_bind_group(0, bind_group, &[]);
                for &(pipeline, [x, y, z]) in dispatches {
                    pass.set_pipeline(pipeline);
                    pass.dispatch_workgroups(x, y, z);
                }
            }
            encoder.copy_buffer_to_buffer(
                slot.results.get(),
                0,
                slot.readback.get(),
                0,
                results_len,
            );
            if let Some(t) = &slot.timer {
                encoder.resolve_query_set(&t.queries, 0..2 * NUM_KERNELS as u32, &t.resolve, 0);
                encoder.copy_buffer_to_buffer(
                    &t.resolve,
                    0,
                    slot.readback.get(),
                    results_len,
                    TIMESTAMP_BYTES,
                );
            }
            queue.submit([encoder.finish()])
        })?;
        let fill = slot.fill();
        slot.upload_map = Some(start_map(
            fill.get(),
            fill.label(),
            fill.get().size(),
            slot.fill_mode,
            Some(submission.clone()),
        ));
        slot.inflight = Some(InFlight {
            members: batch
                .members
                .iter()
                .map(|&i| first_ticket + i as u64)
                .collect(),
            results_len,
            readback_len,
            readback: start_map(
                slot.readback.get(),
                slot.readback.label(),
                readback_len,
                wgpu::MapMode::Read,
                Some(submission),
            ),
        });
        Ok(())
    }
}

/// The batches of one call, and the images left to the CPU, in input order.
///
/// Batches are bounded by the limits, and a call's pixels are spread over at least
/// `batches_per_call` of them while each keeps [`MIN_SPLIT_BYTES`]: with two slots, the host
/// fills one batch while the device works on the previous one, and a call held in a single
/// batch would leave each idle while the other works.
fn plan(routes: &[Route], limits: &BatchLimits) -> (Vec<Batch>, Vec<usize>) {
    let gpu_bytes: u64 = routes
        .iter()
        .map(|r| match r {
            Route::Gpu { pixel_bytes, .. } => *pixel_bytes,
            _ => 0,
        })
        .sum();
    let split = gpu_bytes
        .div_ceil(u64::from(limits.batches_per_call))
        .max(MIN_SPLIT_BYTES)
        .min(limits.max_binding_bytes);
    let mut batches = Vec::new();
    let mut cpu = Vec::new();
    let mut batch = Batch::default();
    for (i, route) in routes.iter().enumerate() {
        match *route {
            Route::Degenerate => {}
            Route::Cpu => cpu.push(i),
            Route::Gpu {
                pixel_bytes,
                plane_len,
            } => {
                let full = batch.members.len() as u32 >= limits.max_images
                    || batch.pixel_bytes + pixel_bytes > split
                    || (batch.plane_len + plane_len) * 4 > limits.max_binding_bytes;
                if full && !batch.members.is_empty() {
                    batches.push(std::mem::take(&mut batch));
                }
                batch.members.push(i);
                batch.pixel_bytes += pixel_bytes;
                batch.plane_len += plane_len;
            }
        }
    }
    if !batch.members.is_empty() {
        batches.push(batch);
    }
    (batches, cpu)
}

fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
    }
}

/// Hash from eight little-endian words of coefficient bits (word `w`, bit `b` = coefficient
/// `32w + b`), in [`Pdq256`]'s byte order (coefficient `k` in byte `31 − k/8`, bit `k % 8`).
fn hash_from_words(words: &[u32]) -> Pdq256 {
    let mut bytes = [0u8; 32];
    for (w, word) in words.iter().enumerate() {
        for (b, byte) in word.to_le_bytes().into_iter().enumerate() {
            bytes[31 - (w * 4 + b)] = byte;
        }
    }
    Pdq256::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::super::context::RowKernels;
    use super::*;

    impl GpuHasher {
        /// The `small` buffer (64×64 block + DCT per image) of the last batch.
        fn debug_small(&mut self, n: usize) -> Vec<f32> {
            let s = (self.next_slot + NUM_SLOTS - 1) % NUM_SLOTS;
            let len = (n * SMALL_STRIDE as usize * 4) as u64;
            let dst = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("debug"),
                size: len,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(self.slots[s].small.get(), 0, &dst, 0, len);
            self.ctx.queue.submit([enc.finish()]);
            let bytes = super::super::buffers::read_back(&self.ctx.device, &dst, len).unwrap();
            bytemuck::cast_slice(&bytes).to_vec()
        }
    }

    /// The DCT coefficients (and so the 64×64 block before them) are bit-identical to the
    /// CPU's, not just the hashes: this catches a rounding difference long before it flips a
    /// bit.
    #[test]
    fn gpu_dct_coefficients_are_bit_identical_to_cpu() {
        for rows in [RowKernels::PerRow, RowKernels::Tiled] {
            dct_coefficients_are_bit_identical(rows);
        }
    }

    fn dct_coefficients_are_bit_identical(rows: RowKernels) {
        let mut gpu = match GpuHasher::new(GpuOptions::default().row_kernels(rows)) {
            Ok(g) => g,
            Err(e) if std::env::var("REQUIRE_GPU").as_deref() == Ok("1") => panic!("{e}"),
            Err(e) => return eprintln!("skipping gpu test: {e}"),
        };
        let mut state = 12345u64;
        let mut rnd = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        // Windows of 3 (257..384 px) along one side and none along the other once exposed a
        // division that was not correctly rounded; keep those shapes first.
        let fixed = [(8u32, 285u32), (285, 8), (20, 285), (5, 300), (300, 300)];
        for iter in 0..70 {
            let (w, h) = match fixed.get(iter) {
                Some(&shape) => shape,
                None => ((rnd() % 400 + 5) as u32, (rnd() % 400 + 5) as u32),
            };
            let layout = if iter % 2 == 0 {
                PixelLayout::Gray8
            } else {
                PixelLayout::Rgb8
            };
            let px: Vec<u8> = (0..w * h * layout.bytes_per_pixel() as u32)
                .map(|_| (rnd() % 256) as u8)
                .collect();
            let img = ImageRef::new(w, h, layout, &px).expect("sized pixels");
            gpu.hash_batch(&[img]).expect("gpu hash");
            let small = gpu.debug_small(1);
            let f = PdqHasher::new().float(img);
            for (k, (g, c)) in small[4096..4096 + 256].iter().zip(&f.dct).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    c.to_bits(),
                    "{rows:?} {w}x{h} {layout:?}: coefficient {k}"
                );
            }
        }
    }

    fn limits(max_binding_bytes: u64, max_images: u32, batches_per_call: u32) -> BatchLimits {
        BatchLimits {
            max_binding_bytes,
            max_images,
            max_groups: 65_535,
            batches_per_call,
        }
    }

    fn gpu_route(pixel_bytes: u64) -> Route {
        Route::Gpu {
            pixel_bytes,
            // A quarter of the pixel bytes in f32s: pixels, not planes, fill these batches.
            plane_len: pixel_bytes / 16,
        }
    }

    /// Every image routed to the GPU is in exactly one batch, in input order, within the
    /// limits; returns the batches' pixel bytes.
    fn check_plan(routes: &[Route], l: &BatchLimits) -> Vec<u64> {
        let (batches, cpu) = plan(routes, l);
        let mut gpu_members: Vec<usize> = Vec::new();
        for b in &batches {
            assert!(!b.members.is_empty());
            assert!(b.members.len() as u32 <= l.max_images);
            assert!(b.plane_len * 4 <= l.max_binding_bytes || b.members.len() == 1);
            let sum: u64 = b
                .members
                .iter()
                .map(|&i| match routes[i] {
                    Route::Gpu { pixel_bytes, .. } => pixel_bytes,
                    _ => panic!("image {i} is not for the gpu"),
                })
                .sum();
            assert_eq!(sum, b.pixel_bytes);
            assert!(b.pixel_bytes <= l.max_binding_bytes);
            gpu_members.extend(&b.members);
        }
        let want: Vec<usize> = (0..routes.len())
            .filter(|&i| matches!(routes[i], Route::Gpu { .. }))
            .collect();
        assert_eq!(gpu_members, want);
        let want_cpu: Vec<usize> = (0..routes.len())
            .filter(|&i| matches!(routes[i], Route::Cpu))
            .collect();
        assert_eq!(cpu, want_cpu);
        batches.iter().map(|b| b.pixel_bytes).collect()
    }

    #[test]
    fn a_large_call_is_spread_over_batches_per_call() {
        // 256 one-megapixel RGB images, 768 MB: four batches of 64 under a 1 GiB binding.
        let routes = vec![gpu_route(3_000_000); 256];
        let sizes = check_plan(&routes, &limits(1 << 30, 4096, 4));
        assert_eq!(sizes, vec![64 * 3_000_000; 4]);
        // One batch when asked for one, as large as the binding allows.
        let sizes = check_plan(&routes, &limits(1 << 30, 4096, 1));
        assert_eq!(sizes, vec![256 * 3_000_000]);
        // The binding still bounds each batch.
        let sizes = check_plan(&routes, &limits(300_000_000, 4096, 1));
        assert_eq!(
            sizes,
            vec![100 * 3_000_000, 100 * 3_000_000, 56 * 3_000_000]
        );
    }

    #[test]
    fn a_small_call_is_not_split_below_the_minimum() {
        // 20 MB in all: one batch, however many are asked for.
        let routes = vec![gpu_route(1_000_000); 20];
        assert_eq!(check_plan(&routes, &limits(1 << 30, 4096, 8)).len(), 1);
        // 96 MiB over 8 batches would be 12 MiB each: held at the 32 MiB minimum instead.
        let routes = vec![gpu_route(1 << 20); 96];
        let sizes = check_plan(&routes, &limits(1 << 30, 4096, 8));
        assert_eq!(sizes, vec![MIN_SPLIT_BYTES; 3]);
    }

    #[test]
    fn plans_keep_order_and_send_the_rest_to_the_cpu() {
        let mut routes = Vec::new();
        for i in 0..300u64 {
            routes.push(match i % 7 {
                0 => Route::Degenerate,
                1 => Route::Cpu,
                _ => gpu_route(1 + (i * 7919) % (9 << 20)),
            });
        }
        for per_call in [1, 2, 4, 16] {
            let sizes = check_plan(&routes, &limits(64 << 20, 50, per_call));
            assert!(sizes.len() >= 2, "{sizes:?}");
        }
    }

    #[test]
    fn hash_from_words_matches_set_bit() {
        let mut words = [0u32; 8];
        let mut expected = Pdq256::ZERO;
        for k in [0usize, 1, 7, 8, 31, 32, 100, 200, 255] {
            words[k / 32] |= 1 << (k % 32);
            expected.set_bit(k);
        }
        assert_eq!(hash_from_words(&words), expected);
    }
}
