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
        // Images hashed on the way, through the pipeline.
        case(
            "match images",
            &["match", "--index", &index, &sample],
            true,
            0,
        ),
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

/// A hash store of the sample images, made in `dir`.
fn sample_store(dir: &Path) -> PathBuf {
    let store = dir.join("v.imps");
    let o = imprint(&[
        "hash",
        "--out",
        store.to_str().unwrap(),
        "--no-progress",
        sample_dir().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    store
}

/// Asserts that `o` is a refusal (status 2) whose message holds `words`.
fn assert_refused(o: &Output, words: &str) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(words), "wanted {words:?} in: {err}");
}

#[test]
fn an_output_that_is_one_of_the_inputs_is_refused_and_the_input_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sample_store(tmp.path());
    let s = store.to_str().unwrap();
    let before = std::fs::read(&store).unwrap();
    // The same file by another name: a hard link, and a path with a `.` in it.
    let link = tmp.path().join("link.imps");
    std::fs::hard_link(&store, &link).unwrap();
    let dotted = tmp.path().join(".").join("v.imps");
    for out in [s, link.to_str().unwrap(), dotted.to_str().unwrap()] {
        for args in [
            vec!["index", "build", "--out", out, "--store", s],
            vec!["index", "build", "--force", "--out", out, s],
            vec!["store", "merge", out, s],
        ] {
            let o = imprint(&args);
            assert_refused(&o, "is the same file as the input");
            assert_eq!(std::fs::read(&store).unwrap(), before, "{args:?}");
        }
    }
    // A bulk run's manifest given as its store.
    let list = tmp.path().join("list.txt");
    std::fs::write(
        &list,
        format!("{}\n", sample_dir().join("q0122.jpg").display()),
    )
    .unwrap();
    let l = list.to_str().unwrap();
    let o = imprint(&["hash", "--out", l, "--resume", "--files-from", l]);
    assert_refused(&o, "is the same file as the input");
    assert!(std::fs::read_to_string(&list)
        .unwrap()
        .ends_with("q0122.jpg\n"));
}

#[test]
fn an_index_replaces_only_an_index_unless_forced_and_never_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let store = sample_store(tmp.path());
    let s = store.to_str().unwrap();
    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, "keep me").unwrap();
    let n = notes.to_str().unwrap();
    let o = imprint(&["index", "build", "--out", n, s]);
    assert_refused(&o, "is not an imprint index");
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "keep me");
    // Forced, and then an index over that index.
    for args in [
        vec!["index", "build", "--force", "--out", n, s],
        vec!["index", "build", "--out", n, s],
    ] {
        let o = imprint(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        let o = imprint(&["index", "verify", n]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    }
    // A store is not an index either.
    let copy = tmp.path().join("copy.imps");
    std::fs::copy(&store, &copy).unwrap();
    let o = imprint(&["index", "build", "--out", copy.to_str().unwrap(), s]);
    assert_refused(&o, "is not an imprint index");
    // A directory, forced or not.
    let d = tmp.path().to_str().unwrap();
    let o = imprint(&["index", "build", "--force", "--out", d, s]);
    assert_refused(&o, "is a directory, not a regular file");
    // `bench index --index-out` follows the same rule.
    let o = imprint(&[
        "bench",
        "index",
        "--n",
        "50",
        "--num-queries",
        "2",
        "--index-out",
        n.replace("notes.txt", "copy.imps").as_str(),
    ]);
    assert_refused(&o, "is not an imprint index");
}

#[test]
fn a_device_given_as_an_output_stays_a_device() {
    use std::os::unix::fs::FileTypeExt;
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("null");
    // The null device's numbers (1, 3); making a node needs root.
    let made = Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        println!(
            "skipped: cannot make a device node here (not root?): {:?}",
            made.map(|o| text(&o.stderr))
        );
        return;
    }
    let store = sample_store(tmp.path());
    let (d, s) = (dev.to_str().unwrap(), store.to_str().unwrap());
    let sample = sample_dir();
    for args in [
        vec!["index", "build", "--out", d, s],
        vec!["index", "build", "--force", "--out", d, s],
        vec!["store", "merge", d, s],
        vec!["hash", "--out", d, "--resume", sample.to_str().unwrap()],
    ] {
        let o = imprint(&args);
        assert_refused(&o, "is a character device, not a regular file");
        let t = std::fs::symlink_metadata(&dev).unwrap().file_type();
        assert!(t.is_char_device(), "{args:?} replaced the device node");
    }
}

#[test]
fn a_dataset_is_written_into_an_empty_directory_or_an_earlier_dataset_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mine");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("thesis.tex"), "mine").unwrap();
    let d = dir.to_str().unwrap();
    let args = |force: bool| {
        let mut a = vec![
            "bench",
            "make-dataset",
            "--out",
            d,
            "--originals",
            "1",
            "--distractors",
            "1",
            "--scene-width",
            "32",
            "--photos",
            "none",
        ];
        if force {
            a.push("--force");
        }
        a
    };
    let o = imprint(&args(false));
    assert_refused(&o, "is not an empty directory or one holding manifest.csv");
    assert!(!dir.join("manifest.csv").exists());
    let o = imprint(&args(true));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // Now it is a dataset, which may be made again.
    let o = imprint(&args(false));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.join("thesis.tex")).unwrap(),
        "mine"
    );
    // A report never goes into the dataset itself.
    let o = imprint(&["bench", "robustness", "--dataset", d, "--out", d]);
    assert_refused(&o, "is the same file as the input");
}

#[test]
fn stores_and_indexes_that_are_not_regular_files_are_named_so() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).output().unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let (f, d) = (fifo.to_str().unwrap(), tmp.path().to_str().unwrap());
    let out = tmp.path().join("x.impx");
    let out = out.to_str().unwrap();
    let hash = "0".repeat(64);
    for bad in [f, d, "/dev/zero"] {
        for args in [
            vec!["query", "--index", bad, &hash],
            vec!["index", "info", bad],
            vec!["index", "verify", bad],
            vec!["match", "--index", bad, "--store", bad],
            vec!["store", "verify", bad],
            vec!["store", "export", bad],
            vec!["index", "build", "--out", out, "--store", bad],
        ] {
            let o = imprint(&args);
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains("not a regular file"), "{args:?}: {err}");
            assert!(err.contains(bad), "{args:?}: {err}");
        }
    }
}

#[test]
fn thread_counts_above_a_multiple_of_the_cores_and_huge_generated_counts_are_refused() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let sample = sample_dir();
    let s = sample.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t.imps");
    let o_path = out.to_str().unwrap();
    for (args, per_core) in [
        (vec!["hash", "--threads", "3000", s], 4),
        (vec!["hash", "--threads", "100000", s], 4),
        (
            vec!["hash", "--out", o_path, "--read-threads", "100000", s],
            64,
        ),
        (
            vec!["bench", "--threads", "100000", "speed", "--dataset", s],
            4,
        ),
    ] {
        let o = imprint(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let max = cores * per_core;
        assert!(
            err.contains(&format!(
                "threads is more than {per_core} per core ({max} on this machine's {cores} cores)"
            )),
            "{args:?}: {err}"
        );
        assert!(!out.exists());
    }
    // A generated benchmark list too large to allocate is refused, not an abort.
    for count in ["--n", "--num-queries"] {
        let o = imprint(&["bench", "index", count, "100000000000"]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{count}: {err}");
        assert!(err.contains("is not in 1..=100000000"), "{count}: {err}");
    }
    // The limit itself is allowed.
    let max = (cores * 4).to_string();
    let o = imprint(&["hash", "--threads", &max, s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 4);
}

#[test]
fn a_directory_whose_images_all_failed_is_not_called_empty() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a.jpg", "b.jpg"] {
        std::fs::write(tmp.path().join(name), b"\xff\xd8\xff\xe0 cut short").unwrap();
    }
    std::fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
    let o = imprint(&["hash", tmp.path().to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("no images found"), "{err}");
    assert!(
        err.contains(
            ": no image could be hashed (2 failed, each named above; 1 other files skipped)"
        ),
        "{err}"
    );
}

#[test]
fn invalid_queries_say_what_is_wrong_and_give_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.csv");
    std::fs::write(
        &list,
        imprint(&["hash", sample_dir().to_str().unwrap()]).stdout,
    )
    .unwrap();
    let index = tmp.path().join("l.impx");
    let i = index.to_str().unwrap();
    let o = imprint(&["index", "build", "--out", i, list.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let h = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
    let eight = [h; 8].join(",");
    let nine = [h; 9].join(",");
    let accented = format!("{}é", &h[..63]);
    for (args, words) in [
        (vec!["query", "--index", i, ""], "query 1: empty query"),
        (vec!["query", "--index", i, "  "], "query 1: empty query"),
        (
            vec!["query", "--index", i, "--dihedral", &nine],
            "query 1: expected exactly 8 hashes (one image's dihedral hashes), found 9",
        ),
        (
            vec!["query", "--index", i, &accented],
            "invalid hex digit 'é' at position 63",
        ),
    ] {
        let o = imprint(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(!err.contains("characters"), "{args:?}: {err}");
    }
    // Eight hashes, then a line's quality and path, as `imprint hash --dihedral` prints.
    let line = format!("{eight},100,photo.jpg");
    let o = imprint(&["query", "--index", i, "--dihedral", &line]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(",0,"), "{}", text(&o.stdout));
}

#[test]
fn store_verify_finds_a_quality_above_100() {
    use imprint::hash::{Pdq256, PdqHash};
    use imprint::store::{StoreOptions, StoreWriter};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("q.imps");
    let mut w = StoreWriter::create(&path, &StoreOptions::new()).unwrap();
    let hash = Pdq256([7; 32]);
    w.append_hash("fine", &PdqHash { hash, quality: 100 })
        .unwrap();
    w.append_hash("odd", &PdqHash { hash, quality: 255 })
        .unwrap();
    w.finish().unwrap();
    let o = imprint(&["store", "verify", path.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("quality is above 100"), "{err}");
}

#[test]
fn a_hash_list_read_from_a_pipe_loses_no_line() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("l.csv");
    std::fs::write(
        &list,
        imprint(&["hash", sample_dir().to_str().unwrap()]).stdout,
    )
    .unwrap();
    let index = tmp.path().join("l.impx");
    // Process substitution hands the program a pipe, `/dev/fd/N`.
    let sh = |command: &str| {
        Command::new("bash")
            .args(["-c", command, "sh", env!("CARGO_BIN_EXE_imprint")])
            .arg(&list)
            .arg(&index)
            .output()
            .unwrap()
    };
    let o = sh(r#""$1" index build --out "$3" <(cat "$2")"#);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("indexed 4 hashes"),
        "{}",
        text(&o.stderr)
    );
    let o = sh(r#""$1" match --index "$3" <(cat "$2")"#);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("4 hashes checked"),
        "{}",
        text(&o.stderr)
    );
}
