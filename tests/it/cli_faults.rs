//! The `imprint` binary under an operator's mistakes and a failing system: full and closed
//! standard streams, outputs that name an input or a device, absurd counts, odd inputs.

use crate::cli::stored_hashes;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn imprint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imprint"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// What a standard stream of the program is connected to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    /// A pipe read by the test.
    Captured,
    /// `/dev/full`: every write fails with ENOSPC.
    Full,
    /// A pipe whose read end is closed before the program starts: every write fails with
    /// EPIPE (Rust ignores SIGPIPE).
    Closed,
}

impl Stream {
    fn stdio(self) -> Stdio {
        match self {
            Stream::Captured => Stdio::piped(),
            Stream::Full => Stdio::from(
                File::options()
                    .write(true)
                    .open("/dev/full")
                    .expect("/dev/full opens for writing"),
            ),
            Stream::Closed => {
                let (reader, writer) = std::io::pipe().expect("a pipe");
                drop(reader);
                Stdio::from(writer)
            }
        }
    }
}

/// Runs the program with its standard output and error connected as given.
fn run_with(args: &[String], out: Stream, err: Stream) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imprint"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.stdio())
        .stderr(err.stdio())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap()
}

/// A subcommand to run under each fault, with the status it gives when its streams work.
struct Case {
    name: &'static str,
    /// Its arguments; `{out}` stands for a fresh output path for each run.
    args: Vec<String>,
    /// Whether it writes its results to standard output.
    prints: bool,
    ok_status: i32,
}

fn case(name: &'static str, args: &[&str], prints: bool, ok_status: i32) -> Case {
    Case {
        name,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        prints,
        ok_status,
    }
}

#[test]
fn no_subcommand_panics_on_a_full_or_closed_stdout_or_stderr() {
    if !Path::new("/dev/full").exists() {
        println!("skipped: no /dev/full on this system");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let sample = sample_dir().to_str().unwrap().to_owned();
    // Inputs every case reads: a store, a hash list, an index and a small dataset.
    let store = p("in.imps");
    let o = imprint(&["hash", "--out", &store, "--no-progress", &sample]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let list = p("list.csv");
    let o = imprint(&["hash", &sample]);
    std::fs::write(&list, &o.stdout).unwrap();
    let index = p("in.impx");
    let o = imprint(&["index", "build", "--out", &index, &store]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let dataset = p("ds");
    let o = imprint(&[
        "bench",
        "make-dataset",
        "--out",
        &dataset,
        "--originals",
        "2",
        "--distractors",
        "2",
        "--scene-width",
        "64",
        "--photos",
        "none",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let hash = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
    let cases = [
        // clap prints the help and exits 0 whether or not the write succeeds.
        case("help", &["--help"], false, 0),
        case("hash", &["hash", &sample], true, 0),
        case(
            "hash --dihedral",
            &["hash", "--dihedral", "--format", "jsonl", &sample],
            true,
            0,
        ),
        // A progress line for every item: the log is written all through the run.
        case(
            "hash --out",
            &["hash", "--out", "{out}", "--log-every", "0.000001", &sample],
            false,
            0,
        ),
        case(
            "index build",
            &["index", "build", "--out", "{out}", &list],
            false,
            0,
        ),
        case("index info", &["index", "info", &index], true, 0),
        case("index verify", &["index", "verify", &index], true, 0),
        case("query", &["query", "--index", &index, hash], true, 0),
        case(
            "query --k",
            &["query", "--index", &index, "--k", "2", hash],
            true,
            0,
        ),
        case("match", &["match", "--index", &index, &list], true, 0),
        case(
            "match --store",
            &["match", "--index", &index, "--store", &store],
            true,
            0,
        ),
        case("store verify", &["store", "verify", &store], true, 0),
        case("store export", &["store", "export", &store], true, 0),
        case(
            "store merge",
            &["store", "merge", "{out}", &store, &store],
            false,
            0,
        ),
        case(
            "bench make-dataset",
            &[
                "bench",
                "make-dataset",
                "--out",
                "{out}",
                "--originals",
                "1",
                "--distractors",
                "1",
                "--scene-width",
                "64",
                "--photos",
                "none",
            ],
            true,
            0,
        ),
        case(
            "bench robustness",
            &[
                "bench",
                "robustness",
                "--dataset",
                &dataset,
                "--out",
                "{out}",
            ],
            true,
            0,
        ),
        case(
            "bench speed",
            &["bench", "speed", "--dataset", &dataset],
            true,
            0,
        ),
        case(
            "bench index",
            &[
                "bench",
                "index",
                "--n",
                "300",
                "--num-queries",
                "5",
                "--ef",
                "16",
            ],
            true,
            0,
        ),
        // Errors are diagnostics too.
        case("a fatal error", &["index", "info", &store], false, 2),
    ];
    let mut runs = 0;
    for c in &cases {
        for (out, err) in [
            (Stream::Captured, Stream::Captured),
            (Stream::Full, Stream::Captured),
            (Stream::Closed, Stream::Captured),
            (Stream::Captured, Stream::Full),
            (Stream::Captured, Stream::Closed),
        ] {
            runs += 1;
            let out_path = p(&format!("out{runs}"));
            let args: Vec<String> = c
                .args
                .iter()
                .map(|a| a.replace("{out}", &out_path))
                .collect();
            let o = run_with(&args, out, err);
            let what = format!("{} with stdout {out:?}, stderr {err:?}", c.name);
            let stderr = text(&o.stderr);
            assert_ne!(o.status.code(), Some(101), "{what}: {stderr}");
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            // A write to standard output that fails is fatal, unless its reader has gone
            // (`| head`), which ends the command quietly; failed diagnostics change nothing.
            let want = match out {
                Stream::Full if c.prints => 2,
                Stream::Closed if c.prints => 0,
                _ => c.ok_status,
            };
            assert_eq!(o.status.code(), Some(want), "{what}: {stderr}");
            if out == Stream::Full && c.prints {
                assert!(stderr.contains("standard output"), "{what}: {stderr}");
            }
            if out == Stream::Closed && err == Stream::Captured && c.prints {
                assert_eq!(stderr, "", "{what}");
            }
            if c.name == "hash --out" {
                // The run went on and stored every item.
                assert_eq!(stored_hashes(Path::new(&out_path)).len(), 4, "{what}");
            }
        }
    }
}
