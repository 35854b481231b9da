//! The `imprint` command-line program: a client of the library's public API. It parses
//! arguments, formats output and prints errors; everything else is a library call.
//!
//! One module per subcommand, `<name>_cmd.rs`, with its parts under `<name>_cmd/`; `args`
//! holds the value parsers several subcommands share, `output` the two streams and the
//! output formats, `open` the opening of files named on the command line.

mod args;
mod bench_cmd;
mod hash_cmd;
mod index_cmd;
mod match_cmd;
mod open;
mod output;
mod query_cmd;
mod store_cmd;

use clap::{Parser, Subcommand};
use output::diag;
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
    Hash(hash_cmd::HashArgs),
    /// Build, inspect or verify an index file.
    Index(index_cmd::IndexArgs),
    /// Look hashes up in an index.
    Query(query_cmd::QueryArgs),
    /// Match every hash of one or more hash lists against an index.
    Match(match_cmd::MatchArgs),
    /// Researcher benchmarks: make a dataset, measure robustness and speed, sweep index settings.
    Bench(bench_cmd::BenchArgs),
    /// Inspect and combine hash stores written by `imprint hash --out`.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
}

/// Exit status: every item succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit status: the run finished but some items failed.
pub const EXIT_ITEM_FAILURES: u8 = 1;
/// Exit status: the run could not be carried out.
pub const EXIT_FATAL: u8 = 2;

/// Mesa's Vulkan device-selection layer (installed with lavapipe and Mesa's drivers) looks for
/// a Wayland display to pick the GPU a desktop would use, and on a headless machine prints
/// "error: XDG_RUNTIME_DIR is invalid or not set" twice whenever a Vulkan instance is made,
/// i.e. on every `imprint hash` with the default `--backend auto`. imprint ranks adapters
/// itself, so the layer is switched off, unless the environment already says otherwise. This
/// runs first in `main`, before any thread exists to read the environment concurrently.
fn quiet_vulkan_device_select() {
    if cfg!(feature = "gpu") && std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}

fn main() -> ExitCode {
    quiet_vulkan_device_select();
    env_logger_init();
    // A decoder that panics on a hostile file costs that file, which is reported as corrupt
    // with the panic's message; the default hook's lines for it would only repeat that.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if imprint::decode::in_decoder_guard() {
            log::debug!("decoder panic (reported as a corrupt file): {info}");
        } else {
            default_hook(info);
        }
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(args) => hash_cmd::run(args),
        Command::Index(a) => index_cmd::run(a).map(exit_code),
        Command::Query(a) => query_cmd::run(a).map(exit_code),
        Command::Match(a) => match_cmd::run(a).map(exit_code),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Store(cmd) => store_cmd::run(cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader of standard output has gone (`imprint hash ... | head`): stop quietly.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            diag!("imprint: error: {}", error_text(&e));
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// An error and its causes, `: `-separated, leaving out a cause whose text the message
/// already ends with (the library's errors name their source in their own text too).
pub(crate) fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// Whether `e` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub(crate) fn exit_code(code: i32) -> u8 {
    code.clamp(0, 255) as u8
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
                diag!(
                    "imprint: {}: {}",
                    r.level().as_str().to_lowercase(),
                    r.args()
                );
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

#[cfg(test)]
mod tests {
    use super::error_text;
    use anyhow::Context;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let lib = imprint::Error::Io {
            path: "x.imps".into(),
            source: io(),
        };
        let e = Err::<(), _>(lib).context("cannot open x.imps").unwrap_err();
        assert_eq!(
            error_text(&e),
            "cannot open x.imps: i/o error on x.imps: gone"
        );
        // A cause the message does not hold is kept.
        let e = Err::<(), _>(io()).context("cannot read list").unwrap_err();
        assert_eq!(error_text(&e), "cannot read list: gone");
    }
}
