//! A description of the machine a benchmark ran on, for the record next to every figure.

use std::fmt;

/// CPU, cores and operating system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// CPU model from `/proc/cpuinfo` (`model name`), or `unknown`.
    pub cpu_model: String,
    /// Logical CPUs this process may use (`std::thread::available_parallelism`).
    pub num_threads: usize,
    /// Logical CPUs listed in `/proc/cpuinfo` (0 when it cannot be read).
    pub num_cpus_total: usize,
    /// `std::env::consts::OS` / `ARCH`.
    pub os_arch: String,
}

impl Machine {
    /// Describes the current machine. Never fails: unknown fields say so.
    #[must_use]
    pub fn current() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let num_cpus_total = cpuinfo
            .lines()
            .filter(|l| l.split(':').next().map(str::trim) == Some("processor"))
            .count();
        Machine {
            cpu_model,
            num_threads: std::thread::available_parallelism().map_or(1, usize::from),
            num_cpus_total,
            os_arch: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} threads available, {} logical CPUs, {})",
            self.cpu_model, self.num_threads, self.num_cpus_total, self.os_arch
        )
    }
}
