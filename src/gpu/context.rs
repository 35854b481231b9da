//! Adapter choice, device creation and error scopes.
//!
//! [`GpuContext`] holds the device and queue for one adapter. Adapters are searched on the
//! native backends compiled in (Vulkan on Linux and so on NVIDIA, where the GL backend fails;
//! Metal; DX12). A software adapter (lavapipe, WARP, `DeviceType::Cpu`) is used only when
//! [`GpuOptions::allow_software_adapter`] says so: `Backend::Auto` never sets it, forcing the GPU
//! backend does.

use super::error::{GpuError, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Options of the GPU hasher.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GpuOptions {
    /// Accept a software adapter (lavapipe, WARP) when no hardware adapter exists. Default
    /// [`GpuOptions::DEFAULT_ALLOW_SOFTWARE_ADAPTER`].
    pub allow_software_adapter: bool,
    /// Upper bound on the bytes of one batch buffer (pixels, or each `f32` plane); the adapter's
    /// storage-binding limit applies as well. Default [`GpuOptions::DEFAULT_MAX_BATCH_BYTES`].
    pub max_batch_bytes: u64,
    /// Upper bound on images per batch. Default [`GpuOptions::DEFAULT_MAX_IMAGES_PER_BATCH`].
    pub max_images_per_batch: u32,
    /// A call's pixels are spread over at least this many batches, as long as each keeps
    /// 32 MiB, so that the host fills one batch while the device works on the previous one.
    /// 1 keeps a call in as few batches as the limits allow. Default
    /// [`GpuOptions::DEFAULT_BATCHES_PER_CALL`].
    pub batches_per_call: u32,
    /// Time each kernel on the device with timestamp queries, where the adapter has them
    /// (read with [`GpuHasher::profile`](super::GpuHasher::profile)). Each kernel then runs in
    /// its own compute pass. Default `false`.
    pub profile_kernels: bool,
    /// How the two row passes of the filter read and write memory. Default
    /// [`RowKernels::PerRow`].
    pub row_kernels: RowKernels,
    /// Where the host writes pixels and how they reach the kernels. Default
    /// [`Upload::Mapped`].
    pub upload: Upload,
    /// Which adapter to use, by its place (from 0) in imprint's ranking: discrete GPUs first,
    /// then integrated, virtual, other and (where allowed) software ones, each kind in the
    /// driver's order. `None` (default) takes the first. For one process per GPU on a host
    /// with several, e.g. each with its own `--shard`.
    pub adapter: Option<usize>,
}

/// How a batch's 8-bit pixels travel from the host to the kernels. The hashes are the same
/// whichever is used; the speed depends on the device and the bus.
///
/// The two host-memory paths need a Vulkan adapter with
/// [`wgpu::Features::MAPPABLE_PRIMARY_BUFFERS`] (every native Vulkan adapter has it); elsewhere
/// [`Upload::Mapped`] is used instead, which [`GpuHasher::upload`](super::GpuHasher::upload)
/// reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upload {
    /// A `MAP_WRITE` staging buffer, then a copy into device memory. wgpu's Vulkan allocator
    /// places `MAP_WRITE` buffers in device-local memory the host can write when the device
    /// offers it (resizable BAR, as on data-centre GPUs): the host's own stores then cross the
    /// bus, and the copy stays on the device.
    #[default]
    Mapped,
    /// A staging buffer in cached host memory, filled at memory speed, then copied into device
    /// memory by the device, which pulls the bytes over the bus.
    HostCopy,
    /// The pixel buffer itself lives in cached host memory, and the first filter pass reads it
    /// over the bus: no copy at all.
    HostDirect,
}

impl Upload {
    /// Whether pixels are written to host memory (the two paths that need
    /// [`wgpu::Features::MAPPABLE_PRIMARY_BUFFERS`]).
    pub(crate) fn in_host_memory(self) -> bool {
        self != Upload::Mapped
    }

    /// The map usage of the buffer the host fills, and the mode it is mapped in: `MAP_WRITE`
    /// for the staging buffer of [`Upload::Mapped`]; `MAP_READ`, written through its mapping,
    /// for a host-memory buffer.
    pub(crate) fn host_map(self) -> (wgpu::BufferUsages, wgpu::MapMode) {
        if self.in_host_memory() {
            (wgpu::BufferUsages::MAP_READ, wgpu::MapMode::Read)
        } else {
            (wgpu::BufferUsages::MAP_WRITE, wgpu::MapMode::Write)
        }
    }
}

impl std::str::FromStr for Upload {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "mapped" => Ok(Upload::Mapped),
            "host-copy" => Ok(Upload::HostCopy),
            "host-direct" => Ok(Upload::HostDirect),
            _ => Err(format!(
                "uploads are mapped, host-copy or host-direct, not {s:?}"
            )),
        }
    }
}

/// The two implementations of the filter's row passes (pass 1, pixels → luma → rows, and
/// pass 3). Both run each row's running sum in the reference's order, so their hashes are the
/// same bit for bit; they differ only in memory access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowKernels {
    /// One invocation walks one row straight from the buffers: neighbouring invocations read
    /// addresses a row apart.
    #[default]
    PerRow,
    /// A workgroup's 64 rows are staged through workgroup memory 16 steps at a time, so
    /// neighbouring invocations read and write neighbouring addresses.
    Tiled,
}

impl std::str::FromStr for RowKernels {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "per-row" => Ok(RowKernels::PerRow),
            "tiled" => Ok(RowKernels::Tiled),
            _ => Err(format!("row kernels are per-row or tiled, not {s:?}")),
        }
    }
}

impl GpuOptions {
    /// Asking for the GPU explicitly accepts lavapipe: it is what CI and GPU-less machines have.
    pub const DEFAULT_ALLOW_SOFTWARE_ADAPTER: bool = true;
    /// 1 GiB: with two slots in flight and two planes each, 4 GiB of device memory at most,
    /// and a dozen 12-megapixel images per batch, enough to hide the per-submission cost.
    pub const DEFAULT_MAX_BATCH_BYTES: u64 = 1 << 30;
    /// 4,096 images: a batch of small images then still fills the device, while the
    /// per-image tables stay small.
    pub const DEFAULT_MAX_IMAGES_PER_BATCH: u32 = 4096;
    /// 4: the host's fill and the device's work then overlap for all but a quarter of a call.
    pub const DEFAULT_BATCHES_PER_CALL: u32 = 4;

    /// Sets [`GpuOptions::allow_software_adapter`].
    #[must_use]
    pub fn allow_software_adapter(mut self, allow: bool) -> Self {
        self.allow_software_adapter = allow;
        self
    }

    /// Sets [`GpuOptions::max_batch_bytes`].
    #[must_use]
    pub fn max_batch_bytes(mut self, bytes: u64) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// Sets [`GpuOptions::max_images_per_batch`].
    #[must_use]
    pub fn max_images_per_batch(mut self, n: u32) -> Self {
        self.max_images_per_batch = n;
        self
    }

    /// Sets [`GpuOptions::batches_per_call`].
    #[must_use]
    pub fn batches_per_call(mut self, n: u32) -> Self {
        self.batches_per_call = n;
        self
    }

    /// Sets [`GpuOptions::profile_kernels`].
    #[must_use]
    pub fn profile_kernels(mut self, on: bool) -> Self {
        self.profile_kernels = on;
        self
    }

    /// Sets [`GpuOptions::row_kernels`].
    #[must_use]
    pub fn row_kernels(mut self, rows: RowKernels) -> Self {
        self.row_kernels = rows;
        self
    }

    /// Sets [`GpuOptions::upload`].
    #[must_use]
    pub fn upload(mut self, upload: Upload) -> Self {
        self.upload = upload;
        self
    }

    /// Sets [`GpuOptions::adapter`].
    #[must_use]
    pub fn adapter(mut self, index: Option<usize>) -> Self {
        self.adapter = index;
        self
    }
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            allow_software_adapter: Self::DEFAULT_ALLOW_SOFTWARE_ADAPTER,
            max_batch_bytes: Self::DEFAULT_MAX_BATCH_BYTES,
            max_images_per_batch: Self::DEFAULT_MAX_IMAGES_PER_BATCH,
            batches_per_call: Self::DEFAULT_BATCHES_PER_CALL,
            profile_kernels: false,
            row_kernels: RowKernels::PerRow,
            upload: Upload::Mapped,
            adapter: None,
        }
    }
}

/// The device, its queue and what is known about the adapter.
pub(crate) struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Timestamp queries were asked for and the device has them.
    pub timestamps: bool,
    /// The upload path in use: the one asked for, or [`Upload::Mapped`] where the adapter
    /// cannot place buffers in host memory.
    pub upload: Upload,
    lost: Arc<AtomicBool>,
    lost_reason: Arc<Mutex<String>>,
}

/// The backends searched for adapters.
pub(crate) fn backends() -> wgpu::Backends {
    wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12
}

fn rank(kind: wgpu::DeviceType) -> u8 {
    match kind {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl GpuContext {
    /// Picks the best adapter allowed by `options` and creates a device with its limits.
    pub fn new(options: &GpuOptions) -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: backends(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends()));
        adapters.retain(|a| {
            options.allow_software_adapter || a.get_info().device_type != wgpu::DeviceType::Cpu
        });
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter {
                backends: format!("{:?}", backends()),
                software_allowed: options.allow_software_adapter,
            });
        }
        let index = options.adapter.unwrap_or(0);
        if index >= adapters.len() {
            return Err(GpuError::NoSuchAdapter {
                index,
                found: adapters.iter().map(|a| a.get_info().name).collect(),
            });
        }
        let adapter = adapters.swap_remove(index);
        let info = adapter.get_info();
        let limits = adapter.limits();
        log::info!(
            "gpu adapter: {} ({:?}, {:?}, driver {} {})",
            info.name,
            info.device_type,
            info.backend,
            info.driver,
            info.driver_info
        );
        let timestamps =
            options.profile_kernels && adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        if options.profile_kernels && !timestamps {
            log::warn!(
                "gpu adapter {} has no timestamp queries: no kernel times",
                info.name
            );
        }
        // Host-memory buffers: wgpu's Vulkan allocator places a `MAP_READ` buffer in cached
        // host memory, and this feature lets such a buffer also be a copy source or a storage
        // binding. Other backends place them elsewhere (DX12's readback heap cannot be read by
        // the device), so only Vulkan uses them.
        let host_memory = info.backend == wgpu::Backend::Vulkan
            && adapter
                .features()
                .contains(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS);
        let upload = if options.upload.in_host_memory() && !host_memory {
            log::warn!(
                "gpu adapter {} cannot place buffers in host memory: {:?} uploads instead of {:?}",
                info.name,
                Upload::Mapped,
                options.upload
            );
            Upload::Mapped
        } else {
            options.upload
        };
        let mut required_features = wgpu::Features::empty();
        if timestamps {
            required_features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        if upload.in_host_memory() {
            required_features |= wgpu::Features::MAPPABLE_PRIMARY_BUFFERS;
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("imprint.device"),
            required_features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|source| GpuError::RequestDevice {
            adapter: info.name.clone(),
            source,
        })?;
        let lost = Arc::new(AtomicBool::new(false));
        let lost_reason = Arc::new(Mutex::new(String::new()));
        {
            let lost = Arc::clone(&lost);
            let lost_reason = Arc::clone(&lost_reason);
            device.set_device_lost_callback(move |reason, message| {
                if let Ok(mut r) = lost_reason.lock() {
                    *r = format!("{reason:?}: {message}");
                }
                lost.store(true, Ordering::SeqCst);
            });
        }
        {
            // Errors outside an error scope (buffer creation, mapping) only happen on a device
            // that is gone or broken: record them as a loss instead of wgpu's default panic.
            let lost = Arc::clone(&lost);
            let lost_reason = Arc::clone(&lost_reason);
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                log::error!("uncaptured gpu error: {e}");
                if let Ok(mut r) = lost_reason.lock() {
                    if r.is_empty() {
                        *r = e.to_string();
                    }
                }
                lost.store(true, Ordering::SeqCst);
            }));
        }
        Ok(GpuContext {
            device,
            queue,
            info,
            limits,
            timestamps,
            upload,
            lost,
            lost_reason,
        })
    }

    /// Whether the adapter is a software rasteriser (lavapipe, WARP).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// [`GpuError::DeviceLost`] once the device-lost callback has fired.
    pub fn check_lost(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            let reason = self
                .lost_reason
                .lock()
                .map(|r| r.clone())
                .unwrap_or_else(|_| "unknown".to_owned());
            return Err(GpuError::DeviceLost { reason });
        }
        Ok(())
    }

    /// Runs `f` inside validation, out-of-memory and internal error scopes and turns the first
    /// error caught into [`GpuError::Wgpu`] (or [`GpuError::DeviceLost`] when the device is gone).
    pub fn scoped<T>(&self, stage: &'static str, f: impl FnOnce() -> T) -> Result<T> {
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let errors = [
            pollster::block_on(validation.pop()),
            pollster::block_on(oom.pop()),
            pollster::block_on(internal.pop()),
        ];
        self.check_lost()?;
        match errors.into_iter().flatten().next() {
            None => Ok(out),
            Some(e) => Err(GpuError::Wgpu {
                stage,
                message: e.to_string(),
            }),
        }
    }

    /// Destroys the device, as a driver reset would lose it.
    pub fn destroy(&self) {
        self.device.destroy();
    }

    /// Polls once so that a pending device-lost callback runs, then reports a loss if any.
    pub fn poll_lost(&self) -> Result<()> {
        // A poll error here means the device is gone, which check_lost then reports.
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.check_lost()
    }

    /// Marks the device lost (used when a map or poll reports it).
    pub fn mark_lost(&self, reason: String) -> GpuError {
        if let Ok(mut r) = self.lost_reason.lock() {
            *r = reason.clone();
        }
        self.lost.store(true, Ordering::SeqCst);
        GpuError::DeviceLost { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::{RowKernels, Upload};

    #[test]
    fn row_kernels_parse_from_their_names() {
        assert_eq!("per-row".parse(), Ok(RowKernels::PerRow));
        assert_eq!("tiled".parse(), Ok(RowKernels::Tiled));
        let err = "Tiled".parse::<RowKernels>().unwrap_err();
        assert!(err.contains("per-row or tiled"), "{err}");
    }

    #[test]
    fn uploads_parse_from_their_names() {
        assert_eq!("mapped".parse(), Ok(Upload::Mapped));
        assert_eq!("host-copy".parse(), Ok(Upload::HostCopy));
        assert_eq!("host-direct".parse(), Ok(Upload::HostDirect));
        let err = "host".parse::<Upload>().unwrap_err();
        assert!(err.contains("mapped, host-copy or host-direct"), "{err}");
    }
}
