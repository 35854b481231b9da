//! Faults in index files: random byte flips in every section (each lookup, through the
//! library and the CLI, fails naming the section or gives exactly the intact file's answer)
//! and builds killed at random points (the old index or the new one, never a mix, and no
//! temporary file left behind).

use imprint::hash::Pdq256;
use imprint::index::{Index, IndexError, SearchScratch};
use imprint::rng::Rng;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn imprint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imprint"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `n` hashes in clusters of near duplicates, with ids, as a `hash,id` list file.
fn write_list(path: &Path, n: usize, seed: u64) -> Vec<Pdq256> {
    let (hashes, _) = imprint::index::synthetic::near_duplicates(n, 0, seed);
    let mut body = String::from("hash,id\n");
    for (i, h) in hashes.iter().enumerate() {
        body.push_str(&format!("{h},entry-{seed}-{i}\n"));
    }
    std::fs::write(path, body).unwrap();
    hashes
}

/// `imprint index build [--no-hnsw] --out OUT LIST`.
fn build(out: &Path, list: &Path, graph: bool) -> Output {
    let mut args = vec!["index", "build"];
    if !graph {
        args.push("--no-hnsw");
    }
    args.extend(["--out", out.to_str().unwrap(), list.to_str().unwrap()]);
    imprint(&args)
}

/// The CLI lookups the fault test compares: radius and k-nearest queries, and a match run.
fn cli_lookups(idx: &Path, queries: &[Pdq256], run: &Path) -> Vec<Vec<String>> {
    let idx = idx.to_str().unwrap();
    let q = queries
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let with_stdin = |args: &[&str]| {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_imprint"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Written from another thread: the answers fill the stdout pipe meanwhile.
        let mut stdin = child.stdin.take().unwrap();
        let q = q.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(q.as_bytes());
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    };
    vec![
        args_and(with_stdin(&["query", "--index", idx])),
        args_and(with_stdin(&["query", "--index", idx, "--k", "3"])),
        args_and(imprint(&["match", "--index", idx, run.to_str().unwrap()])),
    ]
}

/// An output as `[exit status, stdout, stderr]`.
fn args_and(o: Output) -> Vec<String> {
    vec![
        format!("{:?}", o.status.code()),
        text(&o.stdout),
        text(&o.stderr),
    ]
}

/// The library lookups: radius matches with their ids, and k-nearest, per query.
fn library_lookups(idx: &Path, queries: &[Pdq256]) -> imprint::index::Result<Vec<String>> {
    let index = Index::open(idx)?;
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    for q in queries {
        for m in index.search_radius(q, 31, &mut s)?.to_vec() {
            out.push(format!(
                "{} {} {}",
                m.record.0,
                m.distance,
                index.id(m.record)?
            ));
        }
        for m in index.search_knn(q, 3, 32, &mut s)?.to_vec() {
            out.push(format!(
                "k {} {} {}",
                m.record.0,
                m.distance,
                index.id(m.record)?
            ));
        }
    }
    Ok(out)
}

#[test]
fn random_flips_in_every_section_fail_naming_it_or_give_the_intact_answer() {
    let d = tempfile::tempdir().unwrap();
    let list = d.path().join("list.csv");
    let hashes = write_list(&list, 3000, 5);
    let idx = d.path().join("l.idx");
    let o = build(&idx, &list, true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // Every listed hash is a query, so that a flip anywhere could change some answer.
    let queries = &hashes[..];
    let run = d.path().join("run.jsonl");
    let lines: String = queries
        .iter()
        .enumerate()
        .map(|(i, h)| format!("{{\"path\":\"q{i}.jpg\",\"hash\":\"{h}\"}}\n"))
        .collect();
    std::fs::write(&run, lines).unwrap();

    let clean_cli = cli_lookups(&idx, queries, &run);
    for o in &clean_cli {
        assert_eq!(o[0], "Some(0)", "{o:?}");
    }
    let clean_lib = library_lookups(&idx, queries).unwrap();
    assert!(clean_lib.len() > 2 * queries.len());

    let clean = std::fs::read(&idx).unwrap();
    let sections = Index::open(&idx).unwrap().info().sections;
    let bad = d.path().join("bad.idx");
    let mut r = Rng::new(0x5eed_0018);
    let mut caught = 0;
    for s in sections.iter().filter(|s| s.len_bytes > 0) {
        for _ in 0..3 {
            let at = s.offset + r.below(s.len_bytes);
            let mut bytes = clean.clone();
            bytes[at as usize] ^= 1 << r.below(8);
            std::fs::write(&bad, &bytes).unwrap();
            let place = format!("flip at {at} in {}", s.name);
            for (got, want) in cli_lookups(&bad, queries, &run).iter().zip(&clean_cli) {
                if got[0] == "Some(0)" {
                    assert!(got == want, "{place}: {:?} answers differently", got[0]);
                } else {
                    assert!(got[2].contains(s.name), "{place}: {got:?}");
                    caught += 1;
                }
            }
            match library_lookups(&bad, queries) {
                Ok(got) => assert!(got == clean_lib, "{place}: the library answers differently"),
                Err(IndexError::ChecksumMismatch { section, .. }) => {
                    assert_eq!(section, s.name, "{place}");
                }
                Err(e) => panic!("{place}: {e}"),
            }
        }
    }
    assert!(caught > 0);
    // A flip in the header is refused on open.
    for at in [9usize, 30, 200] {
        let mut bytes = clean.clone();
        bytes[at] ^= 4;
        std::fs::write(&bad, &bytes).unwrap();
        assert!(Index::open(&bad).is_err(), "header flip at {at}");
        for got in cli_lookups(&bad, queries, &run) {
            assert_ne!(got[0], "Some(0)", "header flip at {at}: {got:?}");
        }
    }
}

/// Temporary files an index build left in `dir`.
fn temps(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect()
}

#[cfg(unix)]
#[test]
fn a_build_killed_at_any_point_leaves_the_old_index_or_the_new_one_and_no_temp_file() {
    let d = tempfile::tempdir().unwrap();
    let (old_list, new_list) = (d.path().join("old.csv"), d.path().join("new.csv"));
    write_list(&old_list, 500, 1);
    write_list(&new_list, 60_000, 2);
    // The two possible files, built elsewhere (builds are deterministic).
    let refs = tempfile::tempdir().unwrap();
    let (old_ref, new_ref) = (refs.path().join("old.idx"), refs.path().join("new.idx"));
    // The new one's build also says how long a build takes here, to spread the kills over it.
    let mut span_us = 0;
    for (out, list) in [(&old_ref, &old_list), (&new_ref, &new_list)] {
        let start = std::time::Instant::now();
        let o = build(out, list, false);
        span_us = (start.elapsed().as_micros() as u64).max(1000);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    let (old, new) = (
        std::fs::read(&old_ref).unwrap(),
        std::fs::read(&new_ref).unwrap(),
    );
    let idx = d.path().join("l.idx");

    let mut r = Rng::new(0x5eed_0077);
    let mut outcomes = [0usize; 2];
    for _ in 0..8 {
        std::fs::write(&idx, &old).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_imprint"))
            .args(["index", "build", "--no-hnsw", "--out"])
            .args([&idx, &new_list])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(
            r.below(span_us + span_us / 4),
        ));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = std::fs::read(&idx).unwrap();
        if now == old {
            outcomes[0] += 1;
        } else {
            assert!(
                now == new,
                "the index is neither the old file nor the new one"
            );
            outcomes[1] += 1;
        }
        assert!(Index::open(&idx).unwrap().verify().is_ok());
    }
    // The next build succeeds and leaves no temporary file, whatever the kills left.
    let o = build(&idx, &new_list, false);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(&idx).unwrap(), new);
    assert_eq!(temps(d.path()), Vec::<PathBuf>::new(), "{outcomes:?}");
}

#[cfg(unix)]
#[test]
fn lookups_on_a_directory_a_device_or_a_pipe_are_refused_at_once_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let mut paths = vec![d.path().to_owned(), PathBuf::from("/dev/zero")];
    if made.is_ok_and(|s| s.success()) {
        paths.push(fifo);
    }
    let q = "0".repeat(64);
    for p in paths {
        let p = p.to_str().unwrap();
        let o = imprint(&["query", "--index", p, &q]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{p}: {err}");
        assert!(
            err.contains("not a regular file") && err.contains(p),
            "{err}"
        );
        match Index::open(p) {
            Err(IndexError::NotARegularFile { path, .. }) => assert_eq!(path, Path::new(p)),
            other => panic!("{p}: {other:?}"),
        }
    }
}
