//! Choosing where hashes are computed: [`Backend`] and [`BackendHasher`].
//!
//! | [`Backend`] | behaviour |
//! |---|---|
//! | `Auto` | a hardware GPU when one is present (never a software adapter such as lavapipe), otherwise all CPU cores; logs the choice once. If the GPU is lost mid-run, that call and every later one are hashed on the CPU. |
//! | `Cpu` | the CPU reference on all cores (rayon) |
//! | `Gpu` | any adapter, lavapipe included; an error when there is none, or when the device is lost |
//!
//! Both paths give the same hashes and qualities (see [`crate::gpu`] for the agreement).
//!
//! A GPU failure is decided in one place, [`BackendHasher`]: under `Auto` it logs the failure
//! once and moves to the CPU for good; under `Gpu` it returns the error. The bulk pipeline
//! drives a [`BackendHasher`] as its hash stage
//! ([`HashStage`](crate::pipeline::HashStage)) and, when a streamed call loses the results in
//! flight, hands those images back to the same hasher, so that the same rule decides again.

use crate::hash::{DihedralHashes, ImageRef, PdqHash, PdqHasher};
use rayon::prelude::*;
use std::fmt;
use std::str::FromStr;

/// Where to compute hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// A hardware GPU if there is one, else the CPU.
    #[default]
    Auto,
    /// The CPU reference on all cores.
    Cpu,
    /// The GPU, any adapter (software ones included); an error without one.
    Gpu,
}

impl Backend {
    /// The names accepted by [`Backend::from_str`] (and `imprint hash --backend`).
    pub const NAMES: [&'static str; 3] = ["auto", "cpu", "gpu"];

    /// Lowercase name: `auto`, `cpu` or `gpu`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend name that is not `auto`, `cpu` or `gpu`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend {0:?}: expected auto, cpu or gpu")]
pub struct ParseBackendError(pub String);

impl FromStr for Backend {
    type Err = ParseBackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            _ => Err(ParseBackendError(s.to_owned())),
        }
    }
}

/// Why a backend cannot hash.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// `Backend::Gpu` was requested from a build without the `gpu` feature.
    #[error(
        "the gpu backend was requested but this build has no `gpu` feature; use --backend cpu"
    )]
    GpuNotCompiled,
    /// The GPU failed (no adapter, device lost, …).
    #[cfg(feature = "gpu")]
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
}

enum Engine {
    Cpu,
    #[cfg(feature = "gpu")]
    Gpu(Box<crate::gpu::GpuHasher>),
}

/// Hashes batches of decoded images on the backend chosen at construction.
///
/// # Examples
/// ```
/// use imprint::{Backend, BackendHasher};
/// use imprint::hash::{ImageRef, PixelLayout};
/// let pixels = vec![7u8; 32 * 32];
/// let image = ImageRef::new(32, 32, PixelLayout::Gray8, &pixels)?;
/// let mut hasher = BackendHasher::new(Backend::Cpu)?;
/// let hashes = hasher.hash_batch(&[image])?;
/// assert_eq!(hashes[0].quality, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BackendHasher {
    requested: Backend,
    engine: Engine,
}

impl fmt::Debug for BackendHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendHasher")
            .field("requested", &self.requested)
            .field("device", &self.device_name())
            .finish()
    }
}

impl BackendHasher {
    /// A hasher for `backend` with default GPU options.
    ///
    /// # Errors
    /// With `Backend::Gpu`: [`BackendError::Gpu`] when no adapter or device is available, or
    /// [`BackendError::GpuNotCompiled`]. `Auto` and `Cpu` do not fail.
    pub fn new(backend: Backend) -> Result<Self, BackendError> {
        #[cfg(feature = "gpu")]
        {
            Self::with_gpu_options(backend, crate::gpu::GpuOptions::default())
        }
        #[cfg(not(feature = "gpu"))]
        {
            match backend {
                Backend::Gpu => Err(BackendError::GpuNotCompiled),
                _ => {
                    if backend == Backend::Auto {
                        log::info!("hashing on the cpu: this build has no gpu support");
                    }
                    Ok(BackendHasher {
                        requested: backend,
                        engine: Engine::Cpu,
                    })
                }
            }
        }
    }

    /// A hasher for `backend`, with `options` for the GPU. Under `Auto`,
    /// `options.allow_software_adapter` is ignored (treated as `false`).
    ///
    /// # Errors
    /// As [`BackendHasher::new`].
    #[cfg(feature = "gpu")]
    pub fn with_gpu_options(
        backend: Backend,
        options: crate::gpu::GpuOptions,
    ) -> Result<Self, BackendError> {
        use crate::gpu::GpuHasher;
        let engine = match backend {
            Backend::Cpu => Engine::Cpu,
            Backend::Gpu => Engine::Gpu(Box::new(GpuHasher::new(options)?)),
            Backend::Auto => match GpuHasher::new(options.allow_software_adapter(false)) {
                Ok(g) => {
                    log::info!("hashing on the gpu: {}", g.adapter_name());
                    Engine::Gpu(Box::new(g))
                }
                Err(e) => {
                    log::info!("hashing on the cpu ({e})");
                    Engine::Cpu
                }
            },
        };
        Ok(BackendHasher {
            requested: backend,
            engine,
        })
    }

    /// A hasher for `backend` on the GPU adapter at place `adapter` in the ranking of
    /// [`GpuOptions::adapter`](crate::gpu::GpuOptions::adapter) (`None`: the first), as the
    /// CLI's `--backend` and `--gpu` choose one. Without the `gpu` feature `adapter` is ignored.
    ///
    /// # Errors
    /// As [`BackendHasher::new`]; with `Backend::Gpu`, [`BackendError::Gpu`] also when there
    /// is no adapter at that place.
    ///
    /// # Examples
    /// ```
    /// use imprint::{Backend, BackendHasher};
    /// let hasher = BackendHasher::with_adapter(Backend::Cpu, Some(3))?;
    /// assert!(!hasher.is_gpu());
    /// # Ok::<(), imprint::BackendError>(())
    /// ```
    pub fn with_adapter(backend: Backend, adapter: Option<usize>) -> Result<Self, BackendError> {
        #[cfg(feature = "gpu")]
        {
            Self::with_gpu_options(backend, crate::gpu::GpuOptions::default().adapter(adapter))
        }
        #[cfg(not(feature = "gpu"))]
        {
            let _ = adapter;
            Self::new(backend)
        }
    }

    /// The backend asked for.
    #[must_use]
    pub fn requested(&self) -> Backend {
        self.requested
    }

    /// Whether hashes are currently computed on a GPU.
    #[must_use]
    pub fn is_gpu(&self) -> bool {
        !matches!(self.engine, Engine::Cpu)
    }

    /// The GPU adapter's name, or `None` on the CPU.
    #[must_use]
    pub fn device_name(&self) -> Option<&str> {
        match &self.engine {
            Engine::Cpu => None,
            #[cfg(feature = "gpu")]
            Engine::Gpu(g) => Some(g.adapter_name()),
        }
    }

    /// The GPU hasher, when hashes are computed on a GPU.
    #[cfg(feature = "gpu")]
    #[must_use]
    pub fn gpu(&self) -> Option<&crate::gpu::GpuHasher> {
        match &self.engine {
            Engine::Cpu => None,
            Engine::Gpu(g) => Some(g),
        }
    }

    /// Hash and quality of each image, in order.
    ///
    /// # Errors
    /// Only on the GPU under `Backend::Gpu` ([`BackendError::Gpu`]); under `Auto` a GPU failure
    /// moves this and later calls to the CPU.
    pub fn hash_batch(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<PdqHash>, BackendError> {
        #[cfg(feature = "gpu")]
        if let Engine::Gpu(g) = &mut self.engine {
            match g.hash_batch(images) {
                Ok(h) => return Ok(h),
                Err(e) => {
                    self.fall_back(e)?;
                }
            }
        }
        Ok(images
            .par_iter()
            .map_init(PdqHasher::new, |h, image| h.hash(*image))
            .collect())
    }

    /// The eight dihedral hashes of each image, in order.
    ///
    /// # Errors
    /// As [`BackendHasher::hash_batch`].
    pub fn hash_batch_dihedral(
        &mut self,
        images: &[ImageRef<'_>],
    ) -> Result<Vec<DihedralHashes>, BackendError> {
        #[cfg(feature = "gpu")]
        if let Engine::Gpu(g) = &mut self.engine {
            match g.hash_batch_dihedral(images) {
                Ok(h) => return Ok(h),
                Err(e) => {
                    self.fall_back(e)?;
                }
            }
        }
        Ok(images
            .par_iter()
            .map_init(PdqHasher::new, |h, image| h.hash_dihedral(*image))
            .collect())
    }

    /// Streaming form of [`BackendHasher::hash_batch_dihedral`], for a caller that keeps each
    /// image until its result comes back, as the bulk pipeline does: hashes `images`, numbered
    /// `first_ticket`, `first_ticket + 1`, …, and pushes `(ticket, hashes)` for every result
    /// that is ready, of these images or of earlier calls'; the GPU's last batches can still be
    /// running when it returns (see [`GpuHasher::submit`](crate::gpu::GpuHasher::submit)). On
    /// the CPU every result is ready when the call returns. With `dihedral` false only
    /// `hashes[0]` is computed.
    ///
    /// # Errors
    /// [`BackendError::Gpu`] when the GPU fails, under `Auto` too: every result not pushed by
    /// then is lost, and its image must be hashed again, e.g. with
    /// [`BackendHasher::hash_batch_dihedral`]. Under `Auto` the hasher has moved to the CPU, so
    /// that call and later ones succeed; under `Gpu` they go to the GPU again.
    pub fn submit(
        &mut self,
        first_ticket: u64,
        images: &[ImageRef<'_>],
        dihedral: bool,
        ready: &mut Vec<(u64, DihedralHashes)>,
    ) -> Result<(), BackendError> {
        #[cfg(feature = "gpu")]
        if let Engine::Gpu(g) = &mut self.engine {
            let done = g.submit(first_ticket, images, dihedral, ready);
            return done.map_err(|e| self.stream_failed(e));
        }
        // On the CPU: all cores, every result at once.
        let hashes = if dihedral {
            self.hash_batch_dihedral(images)?
        } else {
            let plain = self.hash_batch(images)?;
            plain
                .into_iter()
                .map(DihedralHashes::from_primary)
                .collect()
        };
        ready.extend((first_ticket..).zip(hashes));
        Ok(())
    }

    /// Pushes every result still to come from [`BackendHasher::submit`].
    ///
    /// # Errors
    /// As [`BackendHasher::submit`].
    pub fn flush(&mut self, ready: &mut Vec<(u64, DihedralHashes)>) -> Result<(), BackendError> {
        #[cfg(feature = "gpu")]
        if let Engine::Gpu(g) = &mut self.engine {
            let done = g.flush(ready);
            return done.map_err(|e| self.stream_failed(e));
        }
        let _ = ready;
        Ok(())
    }

    /// Destroys the GPU device, if any, as a driver reset would. For testing recovery.
    #[doc(hidden)]
    pub fn simulate_device_loss(&mut self) {
        #[cfg(feature = "gpu")]
        if let Engine::Gpu(g) = &mut self.engine {
            g.simulate_device_loss();
        }
    }

    /// A streamed call's failure: reported in any case, as results were lost, after
    /// [`BackendHasher::fall_back`] has decided where later calls go.
    #[cfg(feature = "gpu")]
    fn stream_failed(&mut self, e: crate::gpu::GpuError) -> BackendError {
        match self.fall_back(e) {
            Ok(lost) => lost.into(),
            Err(e) => e,
        }
    }

    /// The one place a GPU failure is decided: under `Auto`, logs it, moves this hasher to
    /// the CPU for good and gives the error back as `Ok` (the caller goes on on the CPU);
    /// under `Gpu`, returns it as the call's error.
    #[cfg(feature = "gpu")]
    fn fall_back(&mut self, e: crate::gpu::GpuError) -> Result<crate::gpu::GpuError, BackendError> {
        if self.requested != Backend::Auto {
            return Err(e.into());
        }
        log::warn!("gpu failed ({e}); finishing on the cpu");
        self.engine = Engine::Cpu;
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for name in Backend::NAMES {
            let b: Backend = name.parse().expect("known name");
            assert_eq!(b.to_string(), name);
        }
        assert_eq!("GPU".parse::<Backend>(), Ok(Backend::Gpu));
        assert!("tpu".parse::<Backend>().is_err());
    }

    #[test]
    fn backend_hasher_is_send() {
        fn send<T: Send>() {}
        send::<BackendHasher>();
    }
}
