//! The `imprint` command-line program.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench_cmd;
mod hashlist;
mod index_cmd;
mod match_cmd;
mod query_cmd;

/// Bulk PDQ hashing and near-duplicate lookup.
#[derive(Parser)]
#[command(name = "imprint", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build, inspect or verify an index file.
    Index(index_cmd::IndexArgs),
    /// Look hashes up in an index.
    Query(query_cmd::QueryArgs),
    /// Match every hash of one or more hash lists against an index.
    Match(match_cmd::MatchArgs),
    /// Benchmarks and parameter sweeps.
    Bench(bench_cmd::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Index(a) => index_cmd::run(a),
        Command::Query(a) => query_cmd::run(a),
        Command::Match(a) => match_cmd::run(a),
        Command::Bench(a) => bench_cmd::run(a),
    };
    match outcome {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("imprint: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
