//! [`GpuError`], the error type of the GPU path.

/// What went wrong on the GPU path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No adapter that may be used was found.
    #[error(
        "no usable gpu adapter found on {backends} (software adapters {})",
        if *.software_allowed { "allowed" } else { "not allowed; force the gpu backend to use one" }
    )]
    NoAdapter {
        /// The wgpu backends searched, e.g. `VULKAN`.
        backends: String,
        /// Whether a software (CPU) adapter such as lavapipe would have been accepted.
        software_allowed: bool,
    },
    /// [`GpuOptions::adapter`](super::GpuOptions::adapter) names a place past the adapters
    /// found.
    #[error(
        "no gpu adapter #{index}: {} found, from #0: {}",
        found.len(),
        found.join(", ")
    )]
    NoSuchAdapter {
        /// The place asked for.
        index: usize,
        /// The names of the adapters found, in ranking order.
        found: Vec<String>,
    },
    /// The adapter refused to create a device.
    #[error("gpu device request failed on {adapter}: {source}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// The wgpu error.
        source: wgpu::RequestDeviceError,
    },
    /// The device was lost (driver reset, removal, or a fatal error); hashes of the call are lost.
    #[error("gpu device lost: {reason}")]
    DeviceLost {
        /// What the driver or wgpu reported.
        reason: String,
    },
    /// wgpu reported a validation, out-of-memory or internal error inside an error scope.
    #[error("gpu error during {stage}: {message}")]
    Wgpu {
        /// What was being done (`"pipeline creation"`, `"batch submission"`).
        stage: &'static str,
        /// wgpu's description of the error.
        message: String,
    },
    /// Mapping a staging buffer failed.
    #[error("gpu buffer {label} could not be mapped: {source}")]
    Map {
        /// The buffer's label.
        label: &'static str,
        /// The wgpu error.
        source: wgpu::BufferAsyncError,
    },
    /// Waiting for the device failed.
    #[error("waiting for the gpu failed: {0}")]
    Poll(#[from] wgpu::PollError),
}

/// Results of the GPU path.
pub type Result<T, E = GpuError> = std::result::Result<T, E>;
