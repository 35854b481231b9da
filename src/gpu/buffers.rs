//! Buffers: size classes, the per-slot buffer set, staging for upload and readback.
//!
//! Every buffer a batch needs belongs to a [`Slot`]; two slots alternate so that one batch is
//! uploaded and computed while the previous one is read back. A slot's buffers are kept from
//! batch to batch and replaced only when a batch needs a larger size class (powers of two,
//! capped at the adapter's limits), so after warm-up nothing is allocated per batch. Pixels
//! are written into the slot's mapped upload buffer (see [`super::Upload`]), which is mapped
//! again as soon as the GPU has read it; results come back through a `MAP_READ | COPY_DST`
//! staging buffer read by [`read_mapped`].

use super::error::{GpuError, Result};
use std::sync::mpsc;

/// Smallest buffer allocated, in bytes.
const MIN_CLASS: u64 = 256;

/// The size class holding `len` bytes: the next power of two, at least [`MIN_CLASS`], and at
/// most `cap` (itself rounded down to a multiple of 4).
pub(crate) fn size_class(len: u64, cap: u64) -> u64 {
    let class = len.max(MIN_CLASS).next_power_of_two();
    class.min(cap & !3).max(len.next_multiple_of(4))
}

/// A buffer that grows by size class and keeps its allocation otherwise.
pub(crate) struct PooledBuffer {
    label: &'static str,
    usage: wgpu::BufferUsages,
    buffer: Option<wgpu::Buffer>,
}

impl PooledBuffer {
    pub fn new(label: &'static str, usage: wgpu::BufferUsages) -> Self {
        PooledBuffer {
            label,
            usage,
            buffer: None,
        }
    }

    /// Makes sure the buffer holds `len` bytes; returns whether it was (re)allocated.
    /// `MAP_WRITE` buffers are created mapped. (A `MAP_READ` buffer created mapped would be
    /// filled through a hidden staging copy, so those are mapped by the caller.)
    pub fn ensure(&mut self, device: &wgpu::Device, len: u64, cap: u64) -> bool {
        if self.buffer.as_ref().is_some_and(|b| b.size() >= len) {
            return false;
        }
        let size = size_class(len, cap);
        log::debug!("allocating {} of {size} bytes", self.label);
        self.buffer = Some(device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(self.label),
            size,
            usage: self.usage,
            mapped_at_creation: self.usage.contains(wgpu::BufferUsages::MAP_WRITE),
        }));
        true
    }

    /// The buffer; [`PooledBuffer::ensure`] must have been called.
    pub fn get(&self) -> &wgpu::Buffer {
        self.buffer
            .as_ref()
            .expect("PooledBuffer::ensure runs before the buffer is used")
    }

    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Drops the buffer, whatever its map state; the next [`PooledBuffer::ensure`] allocates
    /// a new one.
    pub fn clear(&mut self) {
        self.buffer = None;
    }
}

/// A pending `map_async`, completed by polling the device.
pub(crate) struct PendingMap {
    label: &'static str,
    rx: mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
    /// The submission that must finish first; waiting polls only up to it, so later
    /// submissions keep running while the host works.
    after: Option<wgpu::SubmissionIndex>,
}

/// Starts mapping `buffer[..len]` for `mode`.
pub(crate) fn start_map(
    buffer: &wgpu::Buffer,
    label: &'static str,
    len: u64,
    mode: wgpu::MapMode,
    after: Option<wgpu::SubmissionIndex>,
) -> PendingMap {
    let (tx, rx) = mpsc::channel();
    buffer.slice(..len).map_async(mode, move |r| {
        // The receiver lives until the map is waited for; a send error means nobody waits.
        let _ = tx.send(r);
    });
    PendingMap { label, rx, after }
}

impl PendingMap {
    /// Waits for the map callback; `device.poll` must have been called for the submission.
    pub fn wait(self, device: &wgpu::Device) -> Result<()> {
        loop {
            match self.rx.try_recv() {
                Ok(r) => {
                    return r.map_err(|source| GpuError::Map {
                        label: self.label,
                        source,
                    })
                }
                Err(mpsc::TryRecvError::Empty) => {
                    device.poll(wgpu::PollType::Wait {
                        submission_index: self.after.clone(),
                        timeout: None,
                    })?;
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(GpuError::DeviceLost {
                        reason: format!("map callback of {} was dropped", self.label),
                    })
                }
            }
        }
    }
}

/// Copies `buffer[..len]`, which a completed [`PendingMap`] mapped for reading, into `out`,
/// and unmaps it. The mapped view is dropped before `unmap`.
pub(crate) fn read_mapped(buffer: &wgpu::Buffer, len: u64, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let copied = match buffer.slice(..len).get_mapped_range() {
        Ok(view) => {
            out.extend_from_slice(&view);
            Ok(())
        }
        Err(e) => Err(GpuError::Wgpu {
            stage: "readback",
            message: e.to_string(),
        }),
    };
    buffer.unmap();
    copied
}

/// Maps `buffer[..len]` for reading, waits, and returns a copy of the bytes: the one-shot
/// readback helper for tests.
#[cfg(test)]
pub(crate) fn read_back(device: &wgpu::Device, buffer: &wgpu::Buffer, len: u64) -> Result<Vec<u8>> {
    let pending = start_map(buffer, "readback", len, wgpu::MapMode::Read, None);
    device.poll(wgpu::PollType::wait_indefinitely())?;
    pending.wait(device)?;
    let mut out = Vec::new();
    read_mapped(buffer, len, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_powers_of_two_within_the_cap() {
        assert_eq!(size_class(1, 1 << 20), 256);
        assert_eq!(size_class(257, 1 << 20), 512);
        assert_eq!(size_class(1 << 20, 1 << 20), 1 << 20);
        assert_eq!(size_class(1000, 800), 1000);
        assert_eq!(size_class(700, 801), 800);
    }
}
