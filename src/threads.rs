//! Limits on the thread counts a caller may ask for, in multiples of the cores.
//!
//! Every thread a run starts is a real OS thread that stays for the whole run. Far more
//! threads than cores buy nothing and cost a great deal: on a 2-core machine 1000 decode
//! threads took 5 s to hash 4 images (about 0.1 s with 2), and 3000 never finished, the
//! scheduler and the queues between stages spending the time. So counts are checked against
//! [`max_threads`] before a pool starts: a request above it is an error that names the limit,
//! not a silent cap, so that a job script asking for the impossible hears about it.

/// Most decode (and hash) threads per core: decoding and hashing keep a core busy, so more
/// threads than cores only add contention; four per core leaves room for cores that the
/// system under-reports (SMT, CPU quotas) and for threads briefly waiting on a page fault.
pub const MAX_DECODE_THREADS_PER_CORE: usize = 4;

/// Most read threads per core: a read thread mostly waits on storage (a network file system
/// answers each read after milliseconds), so many of them overlap; past 64 per core the
/// storage, not the number of requests in flight, is what limits a run.
pub const MAX_READ_THREADS_PER_CORE: usize = 64;

/// A thread count above [`max_threads`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{requested} threads is more than {per_core} per core ({max} on this machine's {num_cores} \
     cores)"
)]
pub struct TooManyThreads {
    /// The count asked for.
    pub requested: usize,
    /// The most allowed here.
    pub max: usize,
    /// The multiple of the cores allowed.
    pub per_core: usize,
    /// The cores found ([`std::thread::available_parallelism`], 1 when unknown).
    pub num_cores: usize,
}

/// The cores this process may use ([`std::thread::available_parallelism`], which follows
/// CPU affinity and quotas; 1 when unknown).
pub fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The most threads allowed at `per_core` threads per core on this machine.
pub fn max_threads(per_core: usize) -> usize {
    num_cores().saturating_mul(per_core)
}

/// Checks a requested thread count against `per_core` times the cores.
///
/// # Errors
/// [`TooManyThreads`] when `requested` is above [`max_threads`]`(per_core)`.
///
/// # Examples
/// ```
/// use imprint::threads::{check_thread_count, MAX_DECODE_THREADS_PER_CORE};
///
/// assert_eq!(check_thread_count(1, MAX_DECODE_THREADS_PER_CORE), Ok(1));
/// assert!(check_thread_count(1_000_000, MAX_DECODE_THREADS_PER_CORE).is_err());
/// ```
pub fn check_thread_count(requested: usize, per_core: usize) -> Result<usize, TooManyThreads> {
    let max = max_threads(per_core);
    if requested > max {
        return Err(TooManyThreads {
            requested,
            max,
            per_core,
            num_cores: num_cores(),
        });
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_to_the_multiple_of_the_cores_pass_and_larger_ones_are_named() {
        let cores = num_cores();
        let max = cores * MAX_DECODE_THREADS_PER_CORE;
        assert_eq!(
            check_thread_count(max, MAX_DECODE_THREADS_PER_CORE),
            Ok(max)
        );
        let e = check_thread_count(max + 1, MAX_DECODE_THREADS_PER_CORE).unwrap_err();
        assert_eq!(e.max, max);
        assert_eq!(
            e.to_string(),
            format!(
                "{} threads is more than 4 per core ({max} on this machine's {cores} cores)",
                max + 1
            )
        );
        assert!(check_thread_count(usize::MAX, MAX_READ_THREADS_PER_CORE).is_err());
    }
}
