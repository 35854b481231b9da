//! Pixel buffers kept between decodes.
//!
//! A 12 MP photo decodes to 36 MB of RGB. That is above the largest size glibc's allocator
//! serves from its heaps (its mmap threshold stops at 32 MiB), so every fresh buffer of that
//! size is mapped, faulted in by the kernel page by page (zeroing each page) as the decoder
//! writes it, and unmapped when the image is dropped. A 12 MP JPEG decodes 1.8–2.4× faster
//! into a reused buffer (BENCHMARKS.md, "Pixel buffer reuse"). A [`PixelPool`] keeps the
//! buffers of hashed images and hands them to the next decodes, so their pages are faulted in
//! once per run rather than once per image.

use std::sync::Mutex;

/// Buffers smaller than this are neither kept nor taken from the pool: the allocator reuses
/// them well on its own (below its mmap threshold they come from its heaps).
pub const MIN_POOLED_BYTES: usize = 1 << 20;

/// The least a default [`PixelPool`] may keep while no image uses them: 1 GiB, room for the
/// buffers of 16 decode threads at 12 MP with the images a GPU batch holds. On machines with
/// more than 16 cores the default is [`POOL_BYTES_PER_CORE`] per core.
pub const DEFAULT_POOL_BYTES: usize = 1 << 30;

/// Bytes per core a default [`PixelPool`] may keep: a thread's 12 MP image (36 MB) and
/// room to spare.
pub const POOL_BYTES_PER_CORE: usize = 64 << 20;

/// Pixel buffers handed back after hashing, reused by the next decodes
/// ([`crate::decode::decode_pooled`]). Shared by all decode threads.
///
/// It keeps at most its byte cap. A decode that finds no buffer large enough allocates a new
/// one and drops the largest of those too small, so the pool never holds more buffers than
/// were once in use at the same time, and what it keeps follows the sizes in use rather than
/// growing with every size seen.
///
/// # Examples
/// ```
/// use imprint::decode::{decode_pooled, DecodeOptions, PixelPool};
/// let pool = PixelPool::default();
/// # let bytes = std::fs::read("datasets/sample/aaa-orig.jpg")?;
/// let img = decode_pooled(&bytes, &DecodeOptions::default(), &pool)?;
/// // … hash it, then give its pixels back for the next image:
/// pool.give(img.pixels);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PixelPool {
    max_bytes: usize,
    /// [`MIN_POOLED_BYTES`], lower in tests so that small fixtures go through the pool.
    min_bytes: usize,
    free: Mutex<Free>,
}

#[derive(Debug, Default)]
struct Free {
    buffers: Vec<Vec<u8>>,
    /// Sum of the buffers' capacities.
    bytes: usize,
}

impl Default for PixelPool {
    /// A pool that keeps [`DEFAULT_POOL_BYTES`], or [`POOL_BYTES_PER_CORE`] per core if that
    /// is more.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        PixelPool::new(DEFAULT_POOL_BYTES.max(cores.saturating_mul(POOL_BYTES_PER_CORE)))
    }
}

impl PixelPool {
    /// A pool that keeps at most `max_bytes` of unused buffers; 0 keeps none.
    #[must_use]
    pub fn new(max_bytes: usize) -> Self {
        PixelPool {
            max_bytes,
            min_bytes: MIN_POOLED_BYTES,
            free: Mutex::new(Free::default()),
        }
    }

    /// A pool that keeps buffers of any size, holding `dirty` (contents left as they are).
    #[cfg(test)]
    pub(crate) fn of_any_size(dirty: Vec<Vec<u8>>) -> Self {
        let pool = PixelPool {
            min_bytes: 0,
            ..PixelPool::new(DEFAULT_POOL_BYTES)
        };
        for buf in dirty {
            pool.give(buf);
        }
        pool
    }

    /// A buffer of exactly `len` bytes, with unspecified contents (zeros when it is new).
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        if len < self.min_bytes || len > self.max_bytes {
            return vec![0; len];
        }
        let (found, dropped) = {
            let Ok(mut free) = self.free.lock() else {
                return vec![0; len];
            };
            let fit = (0..free.buffers.len())
                .filter(|&i| free.buffers[i].capacity() >= len)
                .min_by_key(|&i| free.buffers[i].capacity());
            match fit {
                Some(i) => (Some(free.remove(i)), None),
                None => {
                    let largest =
                        (0..free.buffers.len()).max_by_key(|&i| free.buffers[i].capacity());
                    (None, largest.map(|i| free.remove(i)))
                }
            }
        };
        // Freed outside the lock: unmapping 36 MB is not free.
        drop(dropped);
        match found {
            Some(mut buf) => {
                // Only bytes past the buffer's old length are written here.
                buf.resize(len, 0);
                buf
            }
            None => vec![0; len],
        }
    }

    /// Hands a buffer back once its pixels are no longer needed. Buffers under
    /// [`MIN_POOLED_BYTES`] are dropped; when the pool is over its cap, its smallest buffers go.
    pub fn give(&self, buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap < self.min_bytes || cap > self.max_bytes {
            return;
        }
        let mut evicted = Vec::new();
        if let Ok(mut free) = self.free.lock() {
            free.bytes += cap;
            free.buffers.push(buf);
            while free.bytes > self.max_bytes {
                let Some(i) = (0..free.buffers.len()).min_by_key(|&i| free.buffers[i].capacity())
                else {
                    break;
                };
                evicted.push(free.remove(i));
            }
        }
        drop(evicted);
    }

    /// Bytes of the buffers kept now.
    #[must_use]
    pub fn kept_bytes(&self) -> usize {
        self.free.lock().map_or(0, |f| f.bytes)
    }
}

impl Free {
    fn remove(&mut self, i: usize) -> Vec<u8> {
        let buf = self.buffers.swap_remove(i);
        self.bytes -= buf.capacity();
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: usize = 1 << 20;

    #[test]
    fn reuses_the_smallest_buffer_that_fits() {
        let pool = PixelPool::new(64 * MB);
        let a = pool.take(4 * MB);
        let b = pool.take(8 * MB);
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        pool.give(b);
        pool.give(a);
        assert_eq!(pool.kept_bytes(), 12 * MB);
        let c = pool.take(3 * MB);
        assert_eq!((c.as_ptr(), c.len()), (pa, 3 * MB));
        let d = pool.take(5 * MB);
        assert_eq!((d.as_ptr(), d.len()), (pb, 5 * MB));
        assert_eq!(pool.kept_bytes(), 0);
    }

    #[test]
    fn a_miss_drops_the_largest_buffer_too_small() {
        let pool = PixelPool::new(64 * MB);
        pool.give(vec![0; 2 * MB]);
        pool.give(vec![0; 3 * MB]);
        let big = pool.take(10 * MB);
        assert_eq!(big.len(), 10 * MB);
        assert_eq!(pool.kept_bytes(), 2 * MB);
    }

    #[test]
    fn keeps_at_most_its_cap_and_no_small_buffers() {
        let pool = PixelPool::new(10 * MB);
        pool.give(vec![0; MB - 1]);
        assert_eq!(pool.kept_bytes(), 0);
        pool.give(vec![0; 11 * MB]);
        assert_eq!(pool.kept_bytes(), 0);
        for n in [4, 3, 5] {
            pool.give(vec![0; n * MB]);
        }
        // 12 MB is over the cap, so the 3 MB buffer went.
        assert_eq!(pool.kept_bytes(), 9 * MB);
        assert_eq!(pool.take(5 * MB).capacity(), 5 * MB);
        assert_eq!(pool.take(4 * MB).capacity(), 4 * MB);
        let none = PixelPool::new(0);
        none.give(vec![0; 2 * MB]);
        assert_eq!(none.kept_bytes(), 0);
        assert_eq!(none.take(2 * MB), vec![0; 2 * MB]);
    }

    /// Whatever the order of takes and gives and the sizes asked for, the buffers kept and in
    /// use together never outnumber the most that were in use at once.
    #[test]
    fn never_holds_more_buffers_than_were_in_use_at_once() {
        let mut rng = crate::rng::Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next_u64();
        let pool = PixelPool::new(1 << 40);
        let (mut in_use, mut peak) = (Vec::new(), 0);
        for _ in 0..2_000 {
            if next() % 2 == 0 || in_use.is_empty() {
                let len = MB + (next() % 8) as usize * MB / 2;
                in_use.push(pool.take(len));
                peak = peak.max(in_use.len());
            } else {
                let i = next() as usize % in_use.len();
                pool.give(in_use.swap_remove(i));
            }
            let kept = pool.free.lock().unwrap().buffers.len();
            assert!(
                kept + in_use.len() <= peak,
                "{kept} kept, {} in use, peak {peak}",
                in_use.len()
            );
        }
        assert!(peak > 5);
    }

    #[test]
    fn default_keeps_at_least_a_gib() {
        assert!(PixelPool::default().max_bytes >= DEFAULT_POOL_BYTES);
    }

    #[test]
    fn small_requests_get_new_zeroed_buffers() {
        let pool = PixelPool::new(64 * MB);
        pool.give(vec![7; 2 * MB]);
        assert_eq!(pool.take(100), vec![0; 100]);
        assert_eq!(pool.kept_bytes(), 2 * MB);
    }
}
