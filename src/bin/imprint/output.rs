//! Output shared by subcommands: hash-list formats, and the two streams.
//!
//! Nothing here panics on a failed write, unlike `println!` and `eprintln!`:
//!
//! * results go to standard output through [`out`]-style writers whose errors are returned, so
//!   that a full disk or a closed pipe ends the command through its normal error path (a bulk
//!   run seals its blocks first). `main` stops quietly, with status 0, when the reader of
//!   standard output has gone (`imprint ... | head`), as `grep` and `rg` do, and otherwise
//!   names the error and exits with status 2.
//! * diagnostics go to standard error through [`diag!`], which ignores a failed write: a run
//!   whose log cannot be written goes on and finishes its store, as there is nowhere left to
//!   report the failure.

use std::io::Write as _;

/// Writes one diagnostic line to standard error (as `eprintln!` does), ignoring a failure.
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::output::diag_line(format_args!($($arg)*))
    };
}
pub(crate) use diag;

/// Writes `args` and a newline to standard error in one write; a failure is ignored (module
/// docs).
pub fn diag_line(args: std::fmt::Arguments<'_>) {
    let mut line = args.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes `text` to standard output and flushes it.
///
/// # Errors
/// The write's error, with standard output named, for `main` to report (or to stop quietly
/// on a closed pipe).
pub fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(stdout_error)
}

/// Standard output, buffered, for results written a line at a time: each failed write's error
/// names standard output and keeps its kind (so that `main` still tells a closed pipe apart).
pub fn stdout() -> std::io::BufWriter<NamedStdout> {
    std::io::BufWriter::new(NamedStdout(std::io::stdout().lock()))
}

/// Standard output, locked, whose errors name it (see [`stdout`]).
pub struct NamedStdout(std::io::StdoutLock<'static>);

impl NamedStdout {
    fn name(e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("cannot write to standard output: {e}"))
    }
}

impl std::io::Write for NamedStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(Self::name)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(Self::name)
    }
}

/// An error writing to standard output, naming it.
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("cannot write to standard output")
}

/// Output format of hash lists.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// `hash,quality,path` lines, as `pdq-photo-hasher` prints them.
    #[default]
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Output format of `query` and `match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResultFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}
