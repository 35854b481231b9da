//! The `imprint` command-line program: a client of the library's public API.

mod bench;
mod hash;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Perceptual hashing (PDQ) of images in bulk, on CPU and GPU.
#[derive(Parser, Debug)]
#[command(name = "imprint", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Hash images: files, directories (recursive), or a list of paths.
    Hash(hash::HashArgs),
    /// Researcher benchmarks: make a dataset, measure robustness and speed.
    Bench(bench::BenchArgs),
}

/// Exit status: every item succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit status: the run finished but some items failed.
pub const EXIT_ITEM_FAILURES: u8 = 1;
/// Exit status: the run could not be carried out.
pub const EXIT_FATAL: u8 = 2;

fn main() -> ExitCode {
    env_logger_init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(args) => hash::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("imprint: error: {e:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// Library log records at warning level and above go to stderr (`IMPRINT_LOG=debug` for more).
fn env_logger_init() {
    struct StderrLogger(log::LevelFilter);
    impl log::Log for StderrLogger {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= self.0
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("imprint: {}: {}", r.level().as_str().to_lowercase(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let level = match std::env::var("IMPRINT_LOG").as_deref() {
        Ok("trace") => log::LevelFilter::Trace,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("info") => log::LevelFilter::Info,
        Ok("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Warn,
    };
    if log::set_boxed_logger(Box::new(StderrLogger(level))).is_ok() {
        log::set_max_level(level);
    }
}
