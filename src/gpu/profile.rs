//! [`GpuProfile`]: where a [`GpuHasher`](super::GpuHasher)'s time went.

use super::kernels::{kernel_names, NUM_KERNELS};

/// Bytes of one batch's resolved timestamps: a begin and an end tick per kernel.
pub(crate) const TIMESTAMP_BYTES: u64 = 2 * NUM_KERNELS as u64 * 8;

/// Where a [`GpuHasher`](super::GpuHasher)'s time went since it was created or
/// [`GpuHasher::reset_profile`](super::GpuHasher::reset_profile) was last called.
///
/// The counts and host times are always kept (a clock read or two per batch). Kernel times
/// need [`GpuOptions::profile_kernels`](super::GpuOptions::profile_kernels) and an adapter with
/// timestamp queries: each is the device time from the start to the end of that kernel's
/// compute pass, summed over batches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuProfile {
    /// Batches submitted.
    pub batches: u64,
    /// Images hashed on the device (not those routed to the CPU or given the zero hash).
    pub images: u64,
    /// Pixel bytes uploaded.
    pub pixel_bytes: u64,
    /// Host seconds spent copying pixels into mapped staging buffers (on all cores).
    pub fill_s: f64,
    /// Host seconds spent waiting for a staging buffer to be writable again, that is, for
    /// the device to finish copying the batch before last out of it.
    pub upload_wait_s: f64,
    /// Host seconds spent waiting for a batch's results.
    pub readback_wait_s: f64,
    /// Device seconds per kernel, in dispatch order; empty without timestamp queries.
    pub kernels: Vec<(&'static str, f64)>,
}

impl GpuProfile {
    /// Adds one batch's resolved timestamps (`2 × NUM_KERNELS` little-endian `u64` ticks,
    /// begin and end of each kernel) at `period_ns` nanoseconds per tick.
    pub(crate) fn add_timestamps(&mut self, bytes: &[u8], period_ns: f32) {
        if self.kernels.is_empty() {
            self.kernels = kernel_names().iter().map(|&name| (name, 0.0)).collect();
        }
        let tick = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        for (k, pair) in bytes.chunks_exact(16).take(NUM_KERNELS).enumerate() {
            // A driver may report an end before its begin across a clock wrap: count nothing.
            let dt = tick(&pair[8..]).saturating_sub(tick(&pair[..8]));
            self.kernels[k].1 += dt as f64 * f64::from(period_ns) * 1e-9;
        }
    }

    /// Device seconds over all kernels (0 without timestamp queries).
    #[must_use]
    pub fn kernel_total_s(&self) -> f64 {
        self.kernels.iter().map(|(_, s)| s).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_seconds_per_kernel() {
        let mut p = GpuProfile::default();
        let mut bytes = Vec::new();
        for k in 0..NUM_KERNELS as u64 {
            bytes.extend_from_slice(&(1000 * k).to_le_bytes());
            bytes.extend_from_slice(&(1000 * k + 10 * (k + 1)).to_le_bytes());
        }
        p.add_timestamps(&bytes, 2.0);
        p.add_timestamps(&bytes, 2.0);
        assert_eq!(p.kernels.len(), NUM_KERNELS);
        assert_eq!(p.kernels[0].0, "luma_rows");
        for (k, &(_, s)) in p.kernels.iter().enumerate() {
            let expected = 2.0 * 10.0 * (k as f64 + 1.0) * 2.0 * 1e-9;
            assert!((s - expected).abs() < 1e-15, "{k}: {s} vs {expected}");
        }
        // An end tick before its begin counts as nothing rather than wrapping.
        let mut q = GpuProfile::default();
        let mut back = vec![0u8; TIMESTAMP_BYTES as usize];
        back[..8].copy_from_slice(&50u64.to_le_bytes());
        back[8..16].copy_from_slice(&40u64.to_le_bytes());
        q.add_timestamps(&back, 1.0);
        assert_eq!(q.kernel_total_s(), 0.0);
    }
}
