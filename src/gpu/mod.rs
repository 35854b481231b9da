//! PDQ hashing on the GPU (feature `gpu`): wgpu compute shaders that agree with the CPU
//! reference in [`crate::hash`].
//!
//! [`GpuHasher`] uploads 8-bit pixels and runs seven kernels per batch (`shaders/*.wgsl`):
//!
//! | kernel | work | invocations |
//! |---|---|---|
//! | `pdq_luma_rows` | pixels → luma → Jarosz pass 1 along rows | one per image row |
//! | `pdq_box_cols` | pass 2 along columns | one per image column |
//! | `pdq_box_rows` | pass 3 along rows, stored at the 64 sampled columns | one per image row |
//! | `pdq_decimate_cols` | pass 4 along the 64 sampled columns, at the 64 sampled rows | 64 per image |
//! | `pdq_quality` | quality metric | one workgroup per image |
//! | `pdq_dct` | 16×16 DCT with the uploaded [`crate::hash::dct_matrix`] | one workgroup per image |
//! | `pdq_threshold` | lower median and bits, 1 or 8 dihedral variants | one workgroup per image and variant |
//!
//! The two row passes have a second implementation, chosen with [`GpuOptions::row_kernels`]:
//! `pdq_luma_rows_tiled` and `pdq_box_rows_tiled` run the same running sums, but stage the 64
//! rows of a workgroup through workgroup memory 16 filter steps at a time, so that neighbouring
//! invocations read and write neighbouring addresses rather than addresses a row apart. Their
//! hashes are the same bit for bit; which is faster depends on the device's memory system.
//!
//! # Agreement with the CPU
//!
//! Each row or column pass replays the reference's running-sum schedule (same additions and
//! subtractions in the same order), so the filtered values are bit-identical provided every
//! operation rounds as on the CPU. Three places needed care:
//!
//! * **Luma.** The CPU rounds an `f64` sum of `f64` products to `f32`. The shader adds `hi + lo`
//!   `f32` pairs of the same products (uploaded tables) in double-`f32` and rounds once; a test
//!   checks all 16.7 M RGB values give the CPU's result.
//! * **Division.** Every filtered value is `sum / count`, but WGSL's `/` is only accurate to
//!   2.5 ulp, and `fma` may run unfused (on lavapipe an FMA-based Markstein correction, exact
//!   on the CPU for every input, still gave wrong quotients for windows of 3). The shaders take
//!   `q0 = sum · RN(1/c)`, which is within 1 ulp, compute the exact residual `sum − q·c` of q0
//!   and its two neighbours with `+ − ×` only (q split into 12-bit halves, `c` < 4,096), and
//!   keep the one with the smallest residual (ties to even): the correctly rounded quotient,
//!   checked against Rust's `/` in a unit test.
//! * **Products.** Drivers may fuse `s + a · b` into an FMA, which the CPU does not; the DCT
//!   rounds each product explicitly (an opaque XOR with a zero uniform) before adding it.
//!
//! * **Regrouping.** Drivers may also treat float operations as reassociable (naga emits no
//!   `NoContraction`; Mesa's NIR then turned the error-free `(a + b) - a` steps of the luma into
//!   `b`, which made RGB images differ). Every running sum, product and quotient step passes
//!   through `opaque()` (XOR with the zero uniform), which pins the rounded value.
//!
//! Measured on lavapipe (`tests/it/gpu.rs` and the unit tests): hash, the 8 dihedral hashes
//! and quality identical on all 36 PNG conformance images (as RGB and as grey), on seeded
//! random grey and RGB images (120 of 1–1200 px sides in CI; 500 of them, and the `#[ignore]`d
//! 2,000 of 1–3000 px sides, also all identical), and at the workgroup edges (sides 1, 4, 5,
//! 63, 64, 65, 137, 285, plus one image over the batch maximum); the DCT coefficients themselves are
//! bit-identical, and the luma of all 16.7 M RGB values equals the CPU's. A hash could still
//! differ only where a driver breaks the one remaining assumption (correctly rounded `+ − ×`,
//! as WGSL requires); the tests allow `GPU_TOLERANCE_BITS` = 2 for that and report any case.
//!
//! # Batching
//!
//! Images are packed in input order into batches bounded by the adapter's storage-binding size
//! (128 MiB on lavapipe, 2 GiB on an H200), [`GpuOptions::max_batch_bytes`] and
//! [`GpuOptions::max_images_per_batch`]. Two batches are in flight: one uploads and computes
//! while the previous one is read back. Images with a side under 5 pixels get the zero hash
//! without a dispatch; images too large for one binding (or with a filter window of 4,096 or
//! more) are hashed by the CPU reference within the same call. Pixels are copied into the
//! mapped upload buffer on all cores, one view per image.
//!
//! [`GpuHasher::hash_batch`] waits for its last batches before it returns, which leaves the
//! device idle while the caller gathers the next call and the host idle while the device
//! finishes. [`GpuHasher::submit`] streams instead: it returns with its last batch still on the
//! device and hands out results by ticket as their batches finish, in that call or a later one
//! ([`GpuHasher::flush`] collects the rest). The bulk pipeline streams.
//!
//! Where that buffer lives is [`GpuOptions::upload`]: by default a `MAP_WRITE` staging buffer,
//! which wgpu's Vulkan allocator puts in device memory the host can write when the device has
//! a resizable BAR (the host's stores then cross the bus); or, on Vulkan, cached host memory,
//! copied by the device ([`Upload::HostCopy`]) or read in place by the first kernel
//! ([`Upload::HostDirect`]). wgpu has no host-memory upload buffer as such: these are
//! `MAP_READ` buffers (which its allocator places in cached host memory), allowed as copy
//! sources and storage bindings by [`wgpu::Features::MAPPABLE_PRIMARY_BUFFERS`] and written
//! through their mapping, which on Vulkan is the memory itself (the allocator only picks
//! host-coherent types, so no flush is needed).
//!
//! # Profiling
//!
//! [`GpuHasher::profile`] counts batches, images and uploaded bytes, and the host's time filling
//! staging buffers and waiting on the device. With [`GpuOptions::profile_kernels`] (on adapters
//! with timestamp queries) each kernel also runs in its own compute pass with a timestamp at
//! either end, and the profile holds the device time per kernel. `examples/gpu_speed.rs
//! --profile` prints both.
//!
//! # Device loss
//!
//! A lost device (or any wgpu error outside an error scope) makes every later call return
//! [`GpuError::DeviceLost`]; [`crate::BackendHasher`] under `Backend::Auto` then hashes that
//! call and all later ones on the CPU (under `Backend::Gpu` it returns the error). A streamed
//! call that fails loses the results still on the device; the bulk pipeline hands those images
//! back to the [`crate::BackendHasher`], which under `Auto` hashes them on the CPU.

mod buffers;
mod context;
mod error;
mod hasher;
mod kernels;
mod layout;
mod profile;
mod shaders;

pub use context::{GpuOptions, RowKernels, Upload};
pub use error::{GpuError, Result};
pub use hasher::GpuHasher;
#[doc(hidden)]
pub use hasher::UploadBandwidth;
pub use profile::GpuProfile;
