//! The `imprint` binary, run as a user would.

use crate::decode::{png_claiming, sample};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn imprint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imprint"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs the CLI in `dir` with `input` on its standard input (which it may not read at all).
fn imprint_with_input(args: &[&str], input: &[u8], dir: &Path) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_imprint"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses stdin may exit before reading it.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The `(id, hash)` of each record of a hash store, in store order, as `store export` prints
/// them (an error record's hash is empty).
pub(crate) fn stored_hashes(store: &Path) -> Vec<(String, String)> {
    let o = imprint(&[
        "store",
        "export",
        "--format",
        "csv",
        store.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[1].to_owned())
        })
        .collect()
}

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample")
}

#[test]
fn hashes_the_sample_directory_as_the_reference_does() {
    let o = imprint(&["hash", sample_dir().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    // Name order, hash,quality,path; the bridge photo's reference hash.
    assert!(lines[0]
        .starts_with("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,100,"));
    assert!(lines[0].ends_with("aaa-orig.jpg"));
    assert!(lines[3].ends_with("q0746.jpg"));
    // `--threads 0` is every core, and the output does not depend on the thread count.
    for threads in ["0", "1", "3"] {
        let t = imprint(&["hash", "--threads", threads, sample_dir().to_str().unwrap()]);
        assert_eq!(t.status.code(), Some(0), "{threads}: {}", stderr(&t));
        assert_eq!(stdout(&t), out, "{threads}");
    }
}

#[test]
fn dihedral_output_links_a_flipped_copy_to_its_original() {
    let dir = sample_dir();
    let o = imprint(&[
        "hash",
        "--dihedral",
        dir.join("aaa-orig.jpg").to_str().unwrap(),
        dir.join("bridge-5-flipx.jpg").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0].len(), 10);
    let flipx_of_original: imprint::hash::Pdq256 = rows[0][4].parse().unwrap();
    let flipped: imprint::hash::Pdq256 = rows[1][0].parse().unwrap();
    let original: imprint::hash::Pdq256 = rows[0][0].parse().unwrap();
    assert!(flipx_of_original.distance(&flipped) <= 16);
    assert!(original.distance(&flipped) > 64);
}

#[test]
fn jsonl_reports_hashes_and_errors_and_exit_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("notes.jpg");
    std::fs::write(&bad, "this is text").unwrap();
    let good = sample_dir().join("q0122.jpg");
    let o = imprint(&[
        "hash",
        "--format",
        "jsonl",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("\"hash\":\"cfb2009ddd21c6da"));
    assert!(lines[0].contains("\"quality\":100"));
    assert!(lines[1].contains("\"error\":\"not a supported image"));
    assert!(stderr(&o).contains("notes.jpg: not a supported image"));
}

#[test]
fn bad_inputs_are_reported_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("a-empty.jpg"), b"").unwrap();
    let jpeg = sample("q0122.jpg");
    std::fs::write(dir.join("b-truncated.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    std::fs::write(dir.join("c-huge.png"), png_claiming(100_000, 100_000)).unwrap();
    std::fs::write(dir.join("d-good.jpg"), &jpeg).unwrap();
    let names = ["a-empty.jpg", "b-truncated.jpg", "c-huge.png", "d-good.jpg"];
    let paths: Vec<String> = names
        .iter()
        .map(|n| dir.join(n).to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["hash"];
    args.extend(paths.iter().map(String::as_str));
    let o = imprint(&args);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("a-empty.jpg: empty file"), "{err}");
    assert!(err.contains("b-truncated.jpg: truncated JPEG"), "{err}");
    assert!(err.contains("c-huge.png: PNG is 100000x100000"), "{err}");
    assert_eq!(stdout(&o).lines().count(), 1);
    assert!(stdout(&o).contains("d-good.jpg"));
}

#[test]
fn printed_lines_follow_the_stores_items_through_nested_directories_and_archives() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    // Files of a directory interleave with its subdirectories by name.
    for (name, src) in [
        ("a.jpg", "q0122.jpg"),
        ("b/c.jpg", "q0746.jpg"),
        ("b/d/e.jpg", "aaa-orig.jpg"),
        ("c.jpg", "bridge-5-flipx.jpg"),
    ] {
        let to = dir.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(sample_dir().join(src), to).unwrap();
    }
    std::fs::write(dir.join("b/notes.txt"), "not an image").unwrap();
    let shard = tmp.path().join("shard.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&shard).unwrap());
    b.append_path_with_name(sample_dir().join("q0122.jpg"), "0001.jpg")
        .unwrap();
    b.append_path_with_name(sample_dir().join("README.md"), "0001.txt")
        .unwrap();
    b.finish().unwrap();
    drop(b);
    let (dir_s, shard_s) = (dir.to_str().unwrap(), shard.to_str().unwrap());
    let o = imprint(&["hash", dir_s, shard_s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed: Vec<(String, String)> = stdout(&o)
        .lines()
        .map(|l| {
            let (hash, rest) = l.split_once(',').unwrap();
            let path = rest.split_once(',').unwrap().1;
            (path.to_owned(), hash.to_owned())
        })
        .collect();
    let run = tmp.path().join("run.imps");
    let o = imprint(&["hash", "--out", run.to_str().unwrap(), dir_s, shard_s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(printed, stored_hashes(&run));
    let names: Vec<&str> = printed
        .iter()
        .map(|(p, _)| p.strip_prefix(tmp.path().to_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "/in/a.jpg",
            "/in/b/c.jpg",
            "/in/b/d/e.jpg",
            "/in/c.jpg",
            "/shard.tar:0001.jpg"
        ]
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    // More lines than a pipe holds, so that the run writes after the reader has gone.
    let list = tmp.path().join("list.txt");
    let line = format!("{}\n", sample_dir().join("q0122.jpg").display());
    std::fs::write(&list, line.repeat(3000)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_imprint"))
        .args([
            "hash",
            "--threads",
            "2",
            "--files-from",
            list.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("q0122.jpg"), "{first}");
    // The read end is dropped here.
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
}

#[test]
fn directory_without_images_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("readme.txt"), "hello").unwrap();
    let o = imprint(&["hash", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no images found (1 other files skipped)"));
    let empty = tempfile::tempdir().unwrap();
    let o = imprint(&["hash", empty.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no images found"));
}

#[test]
fn overlapping_directories_are_each_hashed_and_none_is_called_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (outer, inner, blank) = (
        tmp.path().join("t"),
        tmp.path().join("t").join("sub"),
        tmp.path().join("t").join("docs"),
    );
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::create_dir_all(&blank).unwrap();
    std::fs::copy(sample_dir().join("q0122.jpg"), outer.join("a.jpg")).unwrap();
    std::fs::copy(sample_dir().join("q0746.jpg"), inner.join("b.jpg")).unwrap();
    std::fs::write(blank.join("readme.txt"), "hello").unwrap();
    let (o, i, b) = (
        outer.to_str().unwrap(),
        inner.to_str().unwrap(),
        blank.to_str().unwrap(),
    );
    for args in [[o, i], [i, o]] {
        let out = imprint(&[&["hash"][..], &args].concat());
        // Each walk hashes what it finds: the inner image once for each root it lies in.
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
        let lines = stdout(&out);
        assert_eq!(lines.lines().count(), 3, "{lines}");
        assert_eq!(lines.matches("b.jpg").count(), 2, "{lines}");
    }
    // A root inside another that holds no image is still named, and only it.
    let out = imprint(&["hash", o, b]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{b}: no images found")), "{err}");
    assert_eq!(err.matches("no images found").count(), 1, "{err}");
}

#[test]
fn a_bulk_run_ends_with_its_failures_grouped_by_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let jpeg = std::fs::read(sample_dir().join("q0122.jpg")).unwrap();
    std::fs::write(dir.join("ok.jpg"), &jpeg).unwrap();
    for (name, cut) in [("a.jpg", 2000), ("b.jpg", 3500), ("c.jpg", 5000)] {
        std::fs::write(dir.join(name), &jpeg[..cut]).unwrap();
    }
    // A PNG signature and nothing after it.
    std::fs::write(dir.join("d.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    let store = tmp.path().join("run.imps");
    let o = imprint(&[
        "hash",
        dir.to_str().unwrap(),
        "--out",
        store.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.contains("by cause"))
        .collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[1].starts_with("imprint:   3  decode failed: truncated JPEG"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("imprint:   1  decode failed: "),
        "{err}"
    );
    // The same causes as the records hold.
    let export = stdout(&imprint(&["store", "export", store.to_str().unwrap()]));
    assert_eq!(export.matches("truncated JPEG").count(), 3, "{export}");
}

#[test]
fn files_from_paths_are_relative_to_the_current_directory_with_or_without_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    std::fs::create_dir_all(tmp.path().join("lists")).unwrap();
    std::fs::create_dir_all(&images).unwrap();
    for n in ["q0122.jpg", "q0746.jpg"] {
        std::fs::copy(sample_dir().join(n), images.join(n)).unwrap();
    }
    // As `find images -type f > lists/all.txt` writes it, from the parent directory.
    let lines = "images/q0122.jpg\nimages/q0746.jpg\n";
    std::fs::write(tmp.path().join("lists/all.txt"), lines).unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        imprint_with_input(args, stdin.unwrap_or("").as_bytes(), tmp.path())
    };
    let printed = run(&["hash", "--files-from", "lists/all.txt"], None);
    assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
    let paths: Vec<&str> = std::str::from_utf8(&printed.stdout)
        .unwrap()
        .lines()
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(paths, ["images/q0122.jpg", "images/q0746.jpg"]);
    let from_stdin = run(&["hash", "--files-from", "-"], Some(lines));
    assert_eq!(from_stdin.stdout, printed.stdout);
    let stored = run(
        &["hash", "--files-from", "lists/all.txt", "--out", "run.imps"],
        None,
    );
    assert_eq!(stored.status.code(), Some(0), "{}", stderr(&stored));
    let ids: Vec<String> = stored_hashes(&tmp.path().join("run.imps"))
        .into_iter()
        .map(|(id, hash)| format!("{id},{hash}"))
        .collect();
    let want: Vec<String> = std::str::from_utf8(&printed.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{}", f[2], f[0])
        })
        .collect();
    assert_eq!(ids, want);
    // A store cannot be resumed from standard input.
    let o = run(
        &["hash", "--files-from", "-", "--out", "x.imps"],
        Some(lines),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bulk_runs_log_progress_lines_when_stderr_is_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.txt");
    let names = ["aaa-orig.jpg", "q0122.jpg", "q0746.jpg"];
    let lines: String = names
        .iter()
        .map(|n| format!("{}\n", sample_dir().join(n).display()))
        .collect();
    std::fs::write(&list, lines).unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let mut args = vec!["hash", "--files-from", list.to_str().unwrap()];
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend(extra);
        let o = imprint(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stderr(&o)
            .lines()
            .filter(|l| l.starts_with("imprint: progress: "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // An interval shorter than any item: a line after each.
    let logged = run("a.imps", &["--log-every", "0.000001"]);
    assert_eq!(logged.len(), 3, "{logged:?}");
    assert!(
        logged[2].starts_with("imprint: progress: 3 of 3 (100.0%) items after"),
        "{logged:?}"
    );
    assert!(
        logged[2].contains("(3 hashed, 0 failed, 0 skipped)"),
        "{logged:?}"
    );
    assert_eq!(run("b.imps", &["--log-every", "0"]), Vec::<String>::new());
    // Files passed over as not images count too: a tree of mostly videos still logs.
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), "text").unwrap();
    std::fs::copy(sample_dir().join("q0122.jpg"), dir.join("b.jpg")).unwrap();
    let out = tmp.path().join("d.imps");
    let o = imprint(&[
        "hash",
        "--log-every",
        "0.000001",
        "--out",
        out.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    let logged: Vec<&str> = std::str::from_utf8(&o.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("imprint: progress: "))
        .collect();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert!(
        logged[0].contains("(0 hashed, 0 failed, 0 skipped, 1 not images)"),
        "{logged:?}"
    );
    assert!(
        logged[1].contains("(1 hashed, 0 failed, 0 skipped, 1 not images)"),
        "{logged:?}"
    );
    let quiet = run("c.imps", &["--log-every", "0.000001", "--no-progress"]);
    assert_eq!(quiet, Vec::<String>::new());
}

#[test]
fn a_dash_hashes_one_image_from_standard_input() {
    let here = std::env::current_dir().unwrap();
    let run = |args: &[&str], input: &[u8]| imprint_with_input(args, input, &here);
    let file = sample_dir().join("q0122.jpg");
    let by_path = imprint(&["hash", file.to_str().unwrap()]);
    let piped = run(&["hash", "-"], &std::fs::read(&file).unwrap());
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    let (a, b) = (stdout(&by_path), stdout(&piped));
    assert_eq!(a.rsplit_once(',').unwrap().0, b.rsplit_once(',').unwrap().0);
    assert_eq!(b.trim_end().rsplit_once(',').unwrap().1, "-");
    let text = run(&["hash", "-"], b"not an image");
    assert_eq!(text.status.code(), Some(2));
    assert!(
        stderr(&text).contains("-: not a supported image"),
        "{}",
        stderr(&text)
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run.imps");
    let bulk = run(&["hash", "--out", out.to_str().unwrap(), "-"], b"x");
    assert_eq!(bulk.status.code(), Some(2));
    assert!(
        stderr(&bulk).contains("standard input"),
        "{}",
        stderr(&bulk)
    );
}

#[test]
fn files_from_min_quality_and_compat() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.txt");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdq/images/pdq-data");
    let low = data.join("reg-test-input/labelme-subset/q0003.jpg"); // quality 3
    let high = data.join("reg-test-input/labelme-subset/q0122.jpg");
    std::fs::write(&list, format!("{}\n{}\n", low.display(), high.display())).unwrap();
    let o = imprint(&["hash", "--files-from", list.to_str().unwrap()]);
    assert_eq!(stdout(&o).lines().count(), 2);
    let o = imprint(&[
        "hash",
        "--min-quality",
        "50",
        "--files-from",
        list.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 1);
    assert!(stdout(&o).contains("q0122.jpg"));
    // The C++ CLI convention resizes the 1600-px bridge photo to 512×512 first.
    let bridge = sample_dir().join("aaa-orig.jpg");
    let full = imprint(&["hash", bridge.to_str().unwrap()]);
    let cli = imprint(&["hash", "--compat", "cpp-cli", bridge.to_str().unwrap()]);
    let expected = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdq/expected/oracle-cli-compat.txt"),
    )
    .unwrap();
    let want = expected
        .lines()
        .find(|l| l.ends_with("bridge-mods/aaa-orig.jpg"))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(stdout(&cli).starts_with(&want));
    assert_ne!(stdout(&full), stdout(&cli));
}

/// `imprint index build --out IDX INPUTS...`, which must succeed.
fn build_index(idx: &Path, inputs: &[&str]) -> Output {
    let mut args = vec!["index", "build", "--out", idx.to_str().unwrap()];
    args.extend(inputs);
    let o = imprint(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    o
}

#[test]
fn queries_stream_from_stdin_and_bad_lines_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (list, idx) = (tmp.path().join("list.csv"), tmp.path().join("list.idx"));
    let o = imprint(&["hash", sample_dir().to_str().unwrap()]);
    std::fs::write(&list, &o.stdout).unwrap();
    build_index(&idx, &[list.to_str().unwrap()]);
    let hash = stdout(&o).lines().next().unwrap()[..64].to_owned();
    let long = "7".repeat(100_000);
    let input = format!("{hash}\nzz\n{long}\n\n{hash}\n");
    let o = imprint_with_input(
        &["query", "--index", idx.to_str().unwrap()],
        input.as_bytes(),
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let matched: Vec<&str> = out.lines().skip(1).map(|l| &l[..64]).collect();
    assert_eq!(matched, [hash.as_str(), hash.as_str()]);
    let err = stderr(&o);
    assert!(err.contains("query 2: bad hash \"zz\""), "{err}");
    assert!(
        err.contains("query 3: 100000 bytes long, over the limit of 65536"),
        "{err}"
    );
}

#[test]
fn no_input_is_fatal() {
    let o = imprint(&["hash"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no input"));
}

#[test]
fn nightly_job_hash_to_store_then_match_against_a_list_index() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.csv");
    let idx = tmp.path().join("list.idx");
    let run = tmp.path().join("run.imps");
    let dir = sample_dir();
    // The known list: two of the sample photos, hashed to CSV.
    let o = imprint(&[
        "hash",
        dir.join("aaa-orig.jpg").to_str().unwrap(),
        dir.join("q0746.jpg").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    std::fs::write(&list, &o.stdout).unwrap();
    build_index(&idx, &[list.to_str().unwrap()]);
    // The nightly run: every sample image into a store.
    let images: Vec<String> = [
        "aaa-orig.jpg",
        "bridge-5-flipx.jpg",
        "q0122.jpg",
        "q0746.jpg",
    ]
    .iter()
    .map(|n| dir.join(n).to_str().unwrap().to_string())
    .collect();
    let mut args = vec!["hash", "--out", run.to_str().unwrap()];
    args.extend(images.iter().map(String::as_str));
    let o = imprint(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = imprint(&[
        "match",
        "--index",
        idx.to_str().unwrap(),
        "--store",
        run.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let matches: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(".jpg") && !l.starts_with("query"))
        .collect();
    // Exactly the two listed photos match, each at distance 0; the flipped copy and the other
    // photo do not.
    assert_eq!(matches.len(), 2, "{out}");
    assert!(matches
        .iter()
        .any(|l| l.contains("aaa-orig.jpg") && l.contains(",0,")));
    assert!(matches
        .iter()
        .any(|l| l.contains("q0746.jpg") && l.contains(",0,")));
    assert!(!out.contains("bridge-5-flipx.jpg,"), "{out}");
}

#[test]
fn dihedral_runs_match_the_flipped_copy_from_a_store_csv_and_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    let (list, idx) = (tmp.path().join("list.csv"), tmp.path().join("list.idx"));
    let dir = sample_dir();
    let o = imprint(&["hash", dir.join("aaa-orig.jpg").to_str().unwrap()]);
    std::fs::write(&list, &o.stdout).unwrap();
    build_index(&idx, &[list.to_str().unwrap()]);
    let images: Vec<String> = ["aaa-orig.jpg", "bridge-5-flipx.jpg", "q0122.jpg"]
        .iter()
        .map(|n| dir.join(n).to_str().unwrap().to_string())
        .collect();
    let run = tmp.path().join("run.imps");
    let mut args = vec!["hash", "--dihedral", "--out", run.to_str().unwrap()];
    args.extend(images.iter().map(String::as_str));
    assert_eq!(imprint(&args).status.code(), Some(0));
    let mut inputs = vec![vec![
        "--store".to_string(),
        run.to_str().unwrap().to_string(),
    ]];
    for format in ["csv", "jsonl"] {
        let path = tmp.path().join(format!("run.{format}"));
        let mut args = vec!["hash", "--dihedral", "--format", format];
        args.extend(images.iter().map(String::as_str));
        let o = imprint(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        std::fs::write(&path, &o.stdout).unwrap();
        inputs.push(vec![path.to_str().unwrap().to_string()]);
    }
    for input in inputs {
        let mut args = vec!["match", "--index", idx.to_str().unwrap()];
        args.extend(input.iter().map(String::as_str));
        let o = imprint(&args);
        assert_eq!(o.status.code(), Some(0), "{input:?}: {}", stderr(&o));
        let out = stdout(&o);
        // (query file, distance, transform): the ids may be quoted, the last four fields not.
        let rows: Vec<(&str, u32, &str)> = out
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.rsplitn(5, ',').collect();
                let query = l.split(".jpg").next().unwrap().rsplit('/').next().unwrap();
                (query, f[3].parse().unwrap(), f[2])
            })
            .collect();
        // The original matches as itself; its left-right mirror through the flipx hash.
        assert_eq!(rows.len(), 2, "{input:?}: {out}");
        assert_eq!(rows[0], ("aaa-orig", 0, "original"), "{out}");
        assert_eq!((rows[1].0, rows[1].2), ("bridge-5-flipx", "flipx"), "{out}");
        assert!(rows[1].1 <= 31, "{out}");
    }
}

#[test]
fn an_index_built_from_a_store_matches_the_same_images() {
    let tmp = tempfile::tempdir().unwrap();
    let (listed, idx) = (tmp.path().join("listed.imps"), tmp.path().join("list.idx"));
    let dir = sample_dir();
    let bad = tmp.path().join("not-an-image.jpg");
    std::fs::write(&bad, b"not a jpeg").unwrap();
    let o = imprint(&[
        "hash",
        "--out",
        listed.to_str().unwrap(),
        dir.join("q0122.jpg").to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o)); // one item failed
    let o = build_index(&idx, &["--store", listed.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("1 stored items are error records, not indexed"),
        "{}",
        stderr(&o)
    );
    let o = imprint(&["index", "info", idx.to_str().unwrap()]);
    assert!(stdout(&o).contains("\nnum_hashes: 1\n"), "{}", stdout(&o));
    let o = imprint(&[
        "hash",
        dir.join("q0122.jpg").to_str().unwrap(),
        dir.join("q0746.jpg").to_str().unwrap(),
    ]);
    let queries = tmp.path().join("q.csv");
    std::fs::write(&queries, &o.stdout).unwrap();
    let o = imprint(&[
        "match",
        "--index",
        idx.to_str().unwrap(),
        queries.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{out}");
    // The list id is the store's id: the path as given to `imprint hash`.
    let want = format!(",{},0,original,", dir.join("q0122.jpg").display());
    assert!(rows[0].contains(&want), "{out}");
    // A store given where hash lists go is read as a store: the same index, the same matches.
    let idx2 = tmp.path().join("list2.idx");
    build_index(&idx2, &[listed.to_str().unwrap()]);
    assert_eq!(std::fs::read(&idx).unwrap(), std::fs::read(&idx2).unwrap());
    let by_flag = imprint(&[
        "match",
        "--index",
        idx.to_str().unwrap(),
        "--store",
        listed.to_str().unwrap(),
    ]);
    let by_place = imprint(&[
        "match",
        "--index",
        idx.to_str().unwrap(),
        listed.to_str().unwrap(),
    ]);
    assert_eq!(by_place.status.code(), Some(0), "{}", stderr(&by_place));
    assert_eq!(stdout(&by_place), stdout(&by_flag));
    assert_eq!(stdout(&by_flag).lines().count(), 2, "{}", stdout(&by_flag));
}

#[test]
fn min_quality_leaves_near_uniform_images_out_of_the_match() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, idx) = (tmp.path().join("run.imps"), tmp.path().join("list.idx"));
    let flat = tmp.path().join("flat.png");
    image::RgbImage::from_fn(64, 64, |x, _| image::Rgb([120 + (x / 32) as u8, 120, 120]))
        .save(&flat)
        .unwrap();
    let photo = sample_dir().join("aaa-orig.jpg");
    let (flat, photo) = (flat.to_str().unwrap(), photo.to_str().unwrap());
    let o = imprint(&["hash", "--format", "jsonl", flat, photo]);
    let jsonl = tmp.path().join("run.jsonl");
    std::fs::write(&jsonl, &o.stdout).unwrap();
    let csv = tmp.path().join("run.csv");
    std::fs::write(&csv, imprint(&["hash", flat, photo]).stdout).unwrap();
    let qualities: Vec<u64> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["quality"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(qualities[0] < 50 && qualities[1] >= 50, "{qualities:?}");
    assert_eq!(
        imprint(&["hash", "--out", run.to_str().unwrap(), flat, photo])
            .status
            .code(),
        Some(0)
    );
    build_index(&idx, &["--store", run.to_str().unwrap()]);
    let exported = tmp.path().join("export.csv");
    let o = imprint(&["store", "export", "--format", "csv", run.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::write(&exported, &o.stdout).unwrap();
    for input in [
        vec!["--store", run.to_str().unwrap()],
        vec![jsonl.to_str().unwrap()],
        vec![csv.to_str().unwrap()],
        vec![exported.to_str().unwrap()],
    ] {
        let count = |extra: &[&str]| {
            let mut args = vec!["match", "--index", idx.to_str().unwrap()];
            args.extend(extra);
            args.extend(&input);
            let o = imprint(&args);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            (stdout(&o).lines().count() - 1, stderr(&o))
        };
        let (all, err) = count(&[]);
        assert_eq!(all, 2, "{input:?}: each image matches itself");
        assert!(
            err.contains("0 bad lines") || input[0] == "--store",
            "{err}"
        );
        // Each query is reported under its path, whatever the input's format.
        let o = imprint(&[&["match", "--index", idx.to_str().unwrap()][..], &input].concat());
        let mut ids: Vec<String> = stdout(&o)
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_owned())
            .collect();
        ids.sort();
        let mut expected = [flat, photo];
        expected.sort();
        assert_eq!(ids, expected, "{input:?}");
        let (kept, err) = count(&["--min-quality", "50"]);
        assert_eq!(kept, 1, "{input:?}");
        assert!(err.contains("1 hashes below quality 50 skipped"), "{err}");
    }
    // An export with an error row: the row is a failed item, not a bad line.
    let broken = tmp.path().join("broken.jpg");
    std::fs::write(&broken, [0xFF, 0xD8, 0xFF, 0xE0]).unwrap();
    let with_error = tmp.path().join("with-error.imps");
    let (w, b) = (with_error.to_str().unwrap(), broken.to_str().unwrap());
    assert_eq!(
        imprint(&["hash", "--out", w, photo, b]).status.code(),
        Some(1)
    );
    for format in ["csv", "jsonl"] {
        let listed = tmp.path().join(format!("export.{format}"));
        std::fs::write(
            &listed,
            imprint(&["store", "export", "--format", format, w]).stdout,
        )
        .unwrap();
        let o = build_index(
            &tmp.path().join(format!("e-{format}.idx")),
            &[listed.to_str().unwrap()],
        );
        let err = stderr(&o);
        assert!(
            err.contains("1 listed items are error records, not indexed"),
            "{err}"
        );
        assert!(
            err.contains("indexed 1 hashes") && !err.contains("bad line"),
            "{err}"
        );
    }
    // An index built with --min-quality leaves the flat image out, from a store or a list.
    for input in [
        vec!["--store", run.to_str().unwrap()],
        vec![csv.to_str().unwrap()],
    ] {
        let high = tmp.path().join("high.idx");
        let _ = std::fs::remove_file(&high);
        let mut args = vec!["--min-quality", "50"];
        args.extend(&input);
        let o = build_index(&high, &args);
        assert!(
            stderr(&o).contains("1 hashes below quality 50 left out"),
            "{}",
            stderr(&o)
        );
        let o = imprint(&[
            "match",
            "--index",
            high.to_str().unwrap(),
            "--store",
            run.to_str().unwrap(),
        ]);
        let out = stdout(&o);
        let listed: Vec<&str> = out
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap())
            .collect();
        assert_eq!(listed, [photo], "{input:?}");
    }
}

/// The last `/`-separated part of a printed or stored path.
#[cfg(unix)]
fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_owned()
}

#[cfg(unix)]
#[test]
fn file_names_that_are_not_utf8_print_and_store_as_the_same_escaped_id() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    // Two Latin-1 names that a lossy conversion would both turn into "caf\u{fffd}.jpg".
    for (name, src) in [
        (&b"caf\xe9.jpg"[..], "q0122.jpg"),
        (b"caf\xe8.jpg", "q0746.jpg"),
    ] {
        let to = dir.join(std::ffi::OsStr::from_bytes(name));
        std::fs::copy(sample_dir().join(src), to).unwrap();
    }
    let o = imprint(&["hash", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed: Vec<String> = stdout(&o)
        .lines()
        .map(|l| file_name(l.rsplit(',').next().unwrap()))
        .collect();
    assert_eq!(printed, [r"caf\xe8.jpg", r"caf\xe9.jpg"]);
    let run = tmp.path().join("run.imps");
    let o = imprint(&[
        "hash",
        dir.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = imprint(&["store", "export", run.to_str().unwrap()]);
    let stored: Vec<String> = stdout(&o)
        .lines()
        .skip(1)
        .map(|l| file_name(l.split(',').next().unwrap()))
        .collect();
    assert_eq!(stored, printed);
    // Listed by their bytes, they are found and printed the same way.
    let list = tmp.path().join("list.txt");
    let mut bytes = Vec::new();
    for name in [&b"caf\xe8.jpg"[..], b"caf\xe9.jpg"] {
        bytes.extend_from_slice(dir.as_os_str().as_bytes());
        bytes.push(b'/');
        bytes.extend_from_slice(name);
        bytes.push(b'\n');
    }
    std::fs::write(&list, bytes).unwrap();
    let o = imprint(&["hash", "--files-from", list.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let listed: Vec<String> = stdout(&o)
        .lines()
        .map(|l| file_name(l.rsplit(',').next().unwrap()))
        .collect();
    assert_eq!(listed, printed);
}

#[test]
fn huge_files_fail_or_are_skipped_without_being_read() {
    use std::io::{Seek, SeekFrom, Write};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(sample_dir().join("q0122.jpg"), dir.join("a.jpg")).unwrap();
    // Sparse files: 4 GiB that is not an image, and 300 MiB that starts like a JPEG.
    let video = std::fs::File::create(dir.join("b-video.mp4")).unwrap();
    video.set_len(4 << 30).unwrap();
    let mut big = std::fs::File::create(dir.join("c-big.jpg")).unwrap();
    big.write_all(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap();
    big.seek(SeekFrom::Start(300 << 20)).unwrap();
    big.write_all(&[0xFF, 0xD9]).unwrap();
    drop(big);
    let o = imprint(&["hash", dir.to_str().unwrap()]);
    // The JPEG-looking file fails with the limit named; the video is skipped; a.jpg hashes.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
    assert!(stdout(&o).contains("a.jpg"));
    let err = stderr(&o);
    assert!(
        err.contains("c-big.jpg: item is 314572802 bytes, over the limit of 268435456"),
        "{err}"
    );
    assert!(!err.contains("b-video.mp4"), "{err}");
}

#[test]
fn probing_for_a_gpu_prints_nothing_on_a_headless_machine() {
    // Where Mesa's device-selection layer is installed (with lavapipe, as in CI) and no
    // XDG_RUNTIME_DIR is set, making a Vulkan instance used to print two lines of errors.
    let o = Command::new(env!("CARGO_BIN_EXE_imprint"))
        .args(["hash", "--backend", "auto"])
        .arg(sample_dir().join("q0122.jpg"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
}

#[cfg(feature = "gpu")]
#[test]
fn gpu_picks_an_adapter_by_its_place_and_names_those_found_when_there_is_none() {
    let sample = sample_dir();
    let sample = sample.to_str().unwrap();
    let o = imprint(&["hash", "--backend", "gpu", "--gpu", "99", sample]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no gpu adapter #99: ") || err.contains("no usable gpu adapter"),
        "{err}"
    );
    // `match` over images takes the same option.
    let tmp = tempfile::tempdir().unwrap();
    let (list, idx) = (tmp.path().join("l.csv"), tmp.path().join("l.idx"));
    std::fs::write(&list, imprint(&["hash", sample]).stdout).unwrap();
    build_index(&idx, &[list.to_str().unwrap()]);
    let o = imprint(&[
        "match",
        "--index",
        idx.to_str().unwrap(),
        "--backend",
        "gpu",
        "--gpu",
        "99",
        sample,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no gpu adapter #99: ") || err.contains("no usable gpu adapter"),
        "{err}"
    );
    let o = imprint(&["hash", "--backend", "gpu", "--gpu", "0", sample]);
    if o.status.code() != Some(0) {
        assert!(
            std::env::var("REQUIRE_GPU").as_deref() != Ok("1"),
            "REQUIRE_GPU=1 but: {}",
            stderr(&o)
        );
        eprintln!("skipping: no gpu adapter: {}", stderr(&o));
        return;
    }
    let cpu = imprint(&["hash", "--backend", "cpu", sample]);
    assert_eq!(stdout(&o), stdout(&cpu));
}

#[test]
fn match_hashes_images_given_as_inputs_like_a_store_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (list, idx) = (tmp.path().join("list.csv"), tmp.path().join("list.idx"));
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    for n in [
        "aaa-orig.jpg",
        "bridge-5-flipx.jpg",
        "q0122.jpg",
        "q0746.jpg",
    ] {
        std::fs::copy(sample_dir().join(n), dir.join(n)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    std::fs::write(dir.join("zz-broken.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).unwrap();
    let o = imprint(&[
        "hash",
        dir.join("aaa-orig.jpg").to_str().unwrap(),
        dir.join("q0746.jpg").to_str().unwrap(),
    ]);
    std::fs::write(&list, &o.stdout).unwrap();
    build_index(&idx, &[list.to_str().unwrap()]);
    let (dir_s, idx_s) = (dir.to_str().unwrap(), idx.to_str().unwrap());
    for (dihedral, want) in [(false, 2), (true, 3)] {
        let flag: &[&str] = if dihedral { &["--dihedral"] } else { &[] };
        let mut args = vec!["match", "--index", idx_s];
        args.extend(flag);
        args.push(dir_s);
        let o = imprint(&args);
        // The broken JPEG is reported and fails the run; the text file is passed over.
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("zz-broken.jpg: decode failed"), "{err}");
        assert!(!err.contains("notes.txt"), "{err}");
        let out = stdout(&o);
        assert_eq!(out.lines().count() - 1, want, "{out}");
        assert_eq!(out.contains(",flipx,"), dihedral, "{out}");
        // The same rows as hashing into a store first and matching that.
        let run = tmp.path().join(format!("run-{dihedral}.imps"));
        let mut args = vec!["hash", "--out", run.to_str().unwrap()];
        args.extend(flag);
        args.push(dir_s);
        imprint(&args);
        let stored = imprint(&["match", "--index", idx_s, "--store", run.to_str().unwrap()]);
        assert_eq!(stdout(&stored), out);
    }
}

/// `bench index` takes its data either from files (`--hashes` and `--queries` together) or
/// generated (`--n`, `--num-queries`); a half or a mix is a usage error, not silently ignored.
#[test]
fn bench_index_rejects_half_or_mixed_data_options() {
    for case in [
        "--queries q.bin",
        "--hashes h.bin",
        "--hashes h.bin --queries q.bin --n 5",
        "--hashes h.bin --queries q.bin --num-queries 5",
    ] {
        let args: Vec<&str> = ["bench", "index"]
            .into_iter()
            .chain(case.split(' '))
            .collect();
        let o = imprint(&args);
        assert_eq!(o.status.code(), Some(2), "{case}: {}", stderr(&o));
        assert!(stderr(&o).contains("--"), "{case}: {}", stderr(&o));
    }
}

/// Lines come out in input order however the threads finish: large and tiny images and broken
/// files interleaved print, with several threads, exactly what one thread prints.
#[test]
fn printed_lines_follow_the_input_order_whatever_finishes_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for k in 0..36u32 {
        let name = dir.join(format!("{k:02}"));
        match k % 6 {
            0 => std::fs::write(name.with_extension("jpg"), b"\xFF\xD8\xFF broken").unwrap(),
            1 | 4 => {
                let side = 900 - k * 7;
                image::RgbImage::from_fn(side, side - 100, |x, y| {
                    image::Rgb([(x * k) as u8, (y ^ x) as u8, (x + y) as u8])
                })
                .save(name.with_extension("png"))
                .unwrap();
            }
            _ => {
                image::GrayImage::from_fn(20 + k, 24, |x, y| image::Luma([(x * y + k) as u8]))
                    .save(name.with_extension("png"))
                    .unwrap();
            }
        }
    }
    let run = |threads: &str| {
        let o = imprint(&[
            "hash",
            "--format",
            "jsonl",
            "--threads",
            threads,
            dir.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        (stdout(&o), stderr(&o))
    };
    let (one, one_err) = run("1");
    assert_eq!(one.lines().count(), 36);
    assert_eq!(
        one_err
            .lines()
            .filter(|l| l.contains("broken") || l.contains("JPEG"))
            .count(),
        6
    );
    for threads in ["3", "8"] {
        assert_eq!(
            run(threads),
            (one.clone(), one_err.clone()),
            "--threads {threads}"
        );
    }
}
