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
//! # Agreement with the CPU
//!
//! Each row or column pass replays the reference's running-sum schedule (same additions and
//! subtractions in the same order), so the filtered values are bit-identical provided every
//! operation rounds as on the CPU. Three places needed care:
//!
//! * **Luma.** The CPU rounds an `f64` sum of `f64` products to `f32`. The shader adds `hi + lo`
//!   `f32` pairs of the same products (uploaded tables) in double-`f32` and rounds once; a test
//!   checks all 16.7 M RGB values give the CPU's result.
//! * **Division.** WGSL's `/` is only accurate to 2.5 ulp (lavapipe is exact, NVIDIA's is not),
//!   and every filtered value is `sum / count`. The shaders compute `q = sum · RN(1/c)` and apply
//!   two Markstein corrections `q += (sum − q·c) · RN(1/c)` with FMA, which gives the correctly
//!   rounded quotient (tested against Rust's `/` for every count). This relies on `fma` being
//!   fused, as it is on NVIDIA and lavapipe.
//! * **Products.** Drivers may fuse `s + a · b` into an FMA, which the CPU does not; the DCT
//!   rounds each product explicitly (an opaque XOR with a zero uniform) before adding it.
//!
//! With those, the quality is always equal and the hashes are identical except where two DCT
//! coefficients sit at the median within rounding, which different summation hardware could
//! still flip (see `tests/it/gpu.rs` for the measured agreement).
//!
//! # Batching
//!
//! Images are packed in input order into batches bounded by the adapter's storage-binding size
//! (128 MiB on lavapipe, 2 GiB on an H200), [`GpuOptions::max_batch_bytes`] and
//! [`GpuOptions::max_images_per_batch`]. Two batches are in flight: one uploads and computes
//! while the previous one is read back. Images with a side under 5 pixels get the zero hash
//! without a dispatch; images too large for one binding are hashed by the CPU reference.

mod buffers;
mod context;
mod error;
mod hasher;
mod kernels;
mod layout;
mod shaders;

pub use context::GpuOptions;
pub use error::{GpuError, Result};
pub use hasher::GpuHasher;
