//! Fault injection on the store, through the real CLI binary: concurrent creators, byte flips
//! in every block read by every reader, SIGKILL during runs and merges, and a disk that fills
//! up. Every case is bounded (fixed tries, small inputs) and seeded; seeds print on failure.

use imprint::hash::{Pdq256, PdqHash};
use imprint::rng::Rng;
use imprint::store::{Outcome, Store, StoreOptions, StoreWriter};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_imprint");

/// `n` small generated PNGs under `dir`, in subdirectories named `sub` (long names make
/// records large, so few fill a block).
fn make_images(dir: &Path, n: usize, sub: &str, seed: u64) {
    let mut rng = Rng::new(seed);
    let d = dir.join(sub);
    std::fs::create_dir_all(&d).expect("mkdir");
    for k in 0..n {
        let (fx, fy, c) = (
            1 + rng.next_u64() % 7,
            1 + rng.next_u64() % 5,
            rng.next_u64() as u8,
        );
        let img = image::RgbImage::from_fn(24, 24, |x, y| {
            image::Rgb([
                (u64::from(x) * fx) as u8 ^ c,
                (u64::from(y) * fy) as u8,
                ((u64::from(x * y) + k as u64) % 251) as u8,
            ])
        });
        img.save(d.join(format!("img{k:05}.png"))).expect("encode");
    }
}

/// A store's records as `id → hash or cause`, in order, after a full verify.
fn records(path: &Path) -> Vec<(String, Result<PdqHash, String>)> {
    let s = Store::open(path).expect("store opens");
    s.verify().expect("store verifies");
    s.records()
        .map(|r| {
            let r = r.expect("record");
            let v = match r.outcome {
                Outcome::Failed { cause } => Err(cause.to_owned()),
                _ => Ok(r.hash().expect("a hash record")),
            };
            (r.id.to_owned(), v)
        })
        .collect()
}

fn sorted(v: Vec<(String, Result<PdqHash, String>)>) -> BTreeMap<String, Result<PdqHash, String>> {
    let mut m = BTreeMap::new();
    for (id, r) in v {
        assert!(m.insert(id.clone(), r).is_none(), "{id} stored twice");
    }
    m
}

fn imprint(args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(cwd);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run(args: &[&str], cwd: &Path) -> Output {
    imprint(args, cwd).output().expect("run imprint")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// No `*.creating` file left in `dir`.
fn assert_no_temporary_files(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let name = e.expect("entry").file_name();
        assert!(
            !name.to_string_lossy().ends_with(".creating"),
            "left behind: {name:?}"
        );
    }
}

#[test]
fn concurrent_creators_and_merges_never_corrupt_a_store() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    make_images(dir, 3, "c", 0x5eed_0101);
    let first = run(&["hash", "--out", "ref.imps", "c", "--no-progress"], dir);
    assert!(first.status.success(), "{}", text(&first));
    let reference = records(&dir.join("ref.imps"));
    assert_eq!(reference.len(), 3);
    let hash_args = ["hash", "--out", "r.imps", "c", "--no-progress"];
    let merge_args = ["store", "merge", "m.imps", "ref.imps"];
    for (what, args, out) in [
        ("hash --out", &hash_args[..], "r.imps"),
        ("store merge", &merge_args[..], "m.imps"),
    ] {
        for attempt in 0..100 {
            let p = dir.join(out);
            let _ = std::fs::remove_file(&p);
            let _ = std::fs::remove_file(dir.join(format!("{out}.journal")));
            let a = imprint(args, dir).spawn().expect("spawn");
            let b = imprint(args, dir).spawn().expect("spawn");
            let (a, b) = (
                a.wait_with_output().expect("wait"),
                b.wait_with_output().expect("wait"),
            );
            let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
            assert!(
                ok >= 1,
                "{what} attempt {attempt}:\n{}\n{}",
                text(&a),
                text(&b)
            );
            for o in [&a, &b] {
                if !o.status.success() {
                    let t = text(o);
                    assert_eq!(o.status.code(), Some(2), "{what} attempt {attempt}: {t}");
                    assert!(
                        t.contains("already exists") || t.contains("being written"),
                        "{what} attempt {attempt}: {t}"
                    );
                }
            }
            // Whoever won, the store is whole and holds every item once.
            assert_eq!(records(&p), reference, "{what} attempt {attempt}");
            assert_no_temporary_files(dir);
        }
    }
}

/// A store of about five 8 KiB blocks written through the library, with error records.
fn write_store(path: &Path, n: u32) {
    let mut w = StoreWriter::create(path, &StoreOptions::new().block_size(8192)).expect("create");
    let mut rng = Rng::new(0x5eed_0202);
    for i in 0..n {
        let id = format!("corpus/dir-{:02}/image-{i:05}.jpg", i % 13);
        if i % 17 == 5 {
            w.append_error(&id, "decode failed: truncated")
                .expect("append");
        } else {
            let words = rng.words();
            let h = PdqHash {
                hash: Pdq256::from_words(words),
                quality: 60 + (i % 40) as u8,
            };
            w.append_hash(&id, &h).expect("append");
        }
    }
    w.finish().expect("finish");
}

/// What each reader makes of a store: its output, or the failure.
struct Readings {
    export: Output,
    merged: Option<Vec<(String, Result<PdqHash, String>)>>,
    merge: Output,
    index: Option<Vec<u8>>,
    index_build: Output,
    matched: Output,
}

fn read_with_every_reader(dir: &Path, store: &str, reference_index: &str) -> Readings {
    for f in ["m.imps", "x.idx"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let export = run(&["store", "export", store], dir);
    let merge = run(&["store", "merge", "m.imps", store], dir);
    let merged = merge.status.success().then(|| records(&dir.join("m.imps")));
    let index_build = run(
        &[
            "index", "build", "--out", "x.idx", "--store", store, "--seed", "7",
        ],
        dir,
    );
    let index = index_build
        .status
        .success()
        .then(|| std::fs::read(dir.join("x.idx")).expect("read index"));
    let matched = run(
        &[
            "match",
            "--index",
            reference_index,
            "--store",
            store,
            "--max-distance",
            "40",
        ],
        dir,
    );
    Readings {
        export,
        merged,
        merge,
        index,
        index_build,
        matched,
    }
}

#[test]
fn a_flipped_byte_in_any_block_fails_every_reader_naming_it_or_changes_nothing() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    let good = dir.join("good.imps");
    write_store(&good, 400);
    let bytes = std::fs::read(&good).expect("read");
    let num_blocks = Store::open(&good).expect("open").num_blocks();
    assert!(num_blocks >= 4, "{num_blocks} blocks");
    let built = run(
        &[
            "index",
            "build",
            "--out",
            "ref.idx",
            "--store",
            "good.imps",
            "--seed",
            "7",
        ],
        dir,
    );
    assert!(built.status.success(), "{}", text(&built));
    let reference = read_with_every_reader(dir, "good.imps", "ref.idx");
    for o in [
        &reference.export,
        &reference.merge,
        &reference.index_build,
        &reference.matched,
    ] {
        assert!(o.status.success(), "{}", text(o));
    }
    assert!(reference.matched.stdout.len() > 100, "matches found");
    let mut rng = Rng::new(0x5eed_0303);
    for block in 0..num_blocks {
        let start = 64 + block as usize * 8192;
        // One byte in the block header and seal, one anywhere in the block.
        for pos in [
            start + (rng.next_u64() % 24) as usize,
            start + (rng.next_u64() % 8192) as usize,
        ] {
            let mut b = bytes.clone();
            b[pos] ^= 1 << (rng.next_u64() % 8);
            std::fs::write(dir.join("bad.imps"), &b).expect("write");
            let what = format!("block {block}, byte {pos}");
            // The library reader.
            let s = Store::open(&dir.join("bad.imps")).expect("header intact");
            let e = s.records().find_map(|r| r.err());
            assert!(
                e.as_ref()
                    .is_some_and(|e| e.to_string().contains(&format!("block {block}"))),
                "{what}: {e:?}"
            );
            let got = read_with_every_reader(dir, "bad.imps", "ref.idx");
            let name = format!("block {block}");
            for (reader, o, same) in [
                (
                    "store export",
                    &got.export,
                    got.export.stdout == reference.export.stdout,
                ),
                ("store merge", &got.merge, got.merged == reference.merged),
                (
                    "index build",
                    &got.index_build,
                    got.index == reference.index,
                ),
                (
                    "match",
                    &got.matched,
                    got.matched.stdout == reference.matched.stdout,
                ),
            ] {
                if o.status.success() {
                    assert!(same, "{what}: {reader} gave another answer: {}", text(o));
                } else {
                    let t = text(o);
                    assert_eq!(o.status.code(), Some(2), "{what}: {reader}: {t}");
                    assert!(t.contains(&name), "{what}: {reader} does not name it: {t}");
                }
            }
            // Here every flip is in a sealed block, so every reader fails.
            assert!(!got.merge.status.success(), "{what}: merge re-sealed it");
            assert!(!dir.join("m.imps").exists(), "{what}: partial merge output");
            assert_no_temporary_files(dir);
        }
    }
}

#[test]
fn a_corrupt_last_block_is_reported_and_a_torn_one_warned_about() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    let p = dir.join("s.imps");
    write_store(&p, 400);
    let bytes = std::fs::read(&p).expect("read");
    let last = bytes.len() - 8192;
    let mut corrupt = bytes.clone();
    corrupt[last + 3000] ^= 0x20;
    std::fs::write(&p, &corrupt).expect("write");
    let o = run(&["store", "verify", "s.imps"], dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("checksum mismatch"), "{}", text(&o));
    let o = run(&["store", "export", "s.imps"], dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Salvage on request: the damaged block is skipped and named, the status says so.
    let last_block = (last - 64) / 8192;
    let o = run(
        &[
            "store",
            "merge",
            "--skip-corrupt-blocks",
            "m.imps",
            "s.imps",
        ],
        dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("skipped block {last_block}")),
        "{}",
        text(&o)
    );
    let intact = Store::from_bytes(&bytes[..]).expect("open");
    let in_last = intact.block(last_block as u64).expect("intact").len();
    assert_eq!(records(&dir.join("m.imps")).len(), 400 - in_last);
    // Never sealed (a crash between a block and its seal): a torn tail, warned about.
    let mut torn = bytes.clone();
    torn[last..last + 8].fill(0);
    std::fs::write(&p, &torn).expect("write");
    let o = run(&["store", "verify", "s.imps"], dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("torn tail of 8192 bytes"),
        "{}",
        text(&o)
    );
    let o = run(&["store", "export", "s.imps"], dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("torn tail"),
        "{}",
        text(&o)
    );
}

#[test]
fn hashing_parameters_are_recorded_shown_and_enforced_on_resume() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    make_images(dir, 4, "c", 0x5eed_0404);
    let o = run(&["hash", "--out", "s.imps", "c", "--no-progress"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(dir.join("s.imps")).expect("read");
    for flags in [
        &["--compat", "cpp-cli"][..],
        &["--fast"][..],
        &["--exif"][..],
    ] {
        let mut args = vec!["hash", "--out", "s.imps", "--resume", "c", "--no-progress"];
        args.extend_from_slice(flags);
        let o = run(&args, dir);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", text(&o));
        let t = text(&o);
        assert!(
            t.contains("convention=full-resolution,jpeg-min-side=0,exif=false"),
            "{flags:?}: {t}"
        );
        assert_eq!(std::fs::read(dir.join("s.imps")).expect("read"), before);
    }
    let o = run(
        &["hash", "--out", "s.imps", "--resume", "c", "--no-progress"],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["store", "info", "s.imps"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("format: v2"), "{t}");
    assert!(
        t.contains("hash params: convention=full-resolution,jpeg-min-side=0,exif=false,id-scheme="),
        "{t}"
    );
    // A --fast store records the rule's tag with its side, never the bare side that stores of
    // the earlier rule recorded, so neither resumes the other.
    let o = run(
        &["hash", "--out", "f.imps", "--fast", "c", "--no-progress"],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["store", "info", "f.imps"], dir);
    let recorded = imprint::decode::fast_jpeg_recorded(imprint::decode::FAST_JPEG_MIN_SIDE);
    assert!(recorded > 0x00FF_FFFF);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains(&format!("jpeg-min-side={recorded},")), "{t}");
    // A cpp-cli store and a full-resolution one do not merge.
    let o = run(
        &[
            "hash",
            "--out",
            "cpp.imps",
            "c",
            "--no-progress",
            "--compat",
            "cpp-cli",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["store", "merge", "m.imps", "s.imps", "cpp.imps"], dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("convention=cpp-cli"), "{}", text(&o));
    assert!(!dir.join("m.imps").exists());
}

/// Runs `args` and SIGKILLs it after `delay`, if it is still running; whether it was.
fn run_and_kill(args: &[&str], dir: &Path, delay: Duration) -> bool {
    let mut child = imprint(args, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(delay);
    let running = child.try_wait().expect("poll").is_none();
    if running {
        child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    }
    let _ = child.wait();
    running
}

#[test]
fn sigkill_during_merge_leaves_no_output_or_the_whole_one() {
    let seed = 0x5eed_0505;
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    write_store(&dir.join("a.imps"), 20_000);
    let mut rng = Rng::new(seed);
    let b = dir.join("b.imps");
    let mut w = StoreWriter::create(&b, &StoreOptions::new()).expect("create");
    for i in 0..20_000u64 {
        let words = [rng.next_u64(), rng.next_u64(), i, 0];
        let h = PdqHash {
            hash: Pdq256::from_words(words),
            quality: 90,
        };
        w.append_hash(&format!("other/{i}"), &h).expect("append");
    }
    w.finish().expect("finish");
    let args = ["store", "merge", "m.imps", "a.imps", "b.imps"];
    let started = std::time::Instant::now();
    let o = run(&["store", "merge", "ref.imps", "a.imps", "b.imps"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let full_ms = started.elapsed().as_millis() as u64;
    let reference = records(&dir.join("ref.imps"));
    let mut kills = 0;
    for round in 0..8 {
        let _ = std::fs::remove_file(dir.join("m.imps"));
        let delay = rng.next_u64() % (full_ms + 1);
        let killed = run_and_kill(&args, dir, Duration::from_millis(delay));
        kills += u32::from(killed);
        eprintln!("seed {seed:#x} round {round}: after {delay} ms, killed: {killed}");
        let m = dir.join("m.imps");
        if m.exists() {
            assert_eq!(
                records(&m),
                reference,
                "seed {seed:#x} round {round}: a mix"
            );
        }
        // The next merge completes, removing what the killed one left.
        let _ = std::fs::remove_file(&m);
        let o = run(&args, dir);
        assert!(o.status.success(), "seed {seed:#x}: {}", text(&o));
        assert_eq!(records(&m), reference, "seed {seed:#x} round {round}");
        assert_no_temporary_files(dir);
    }
    assert!(
        kills >= 2,
        "seed {seed:#x}: only {kills} merges were killed mid-way"
    );
}

#[test]
fn sigkill_while_a_run_creates_its_store_then_resume_loses_and_repeats_nothing() {
    let seed = 0x5eed_0606;
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    make_images(dir, 150, "c", seed);
    let small = ["--store-block-size", "8192", "--no-progress"];
    let mut args = vec!["hash", "--out", "ref.imps", "c"];
    args.extend(small);
    let started = std::time::Instant::now();
    let o = run(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    let full_ms = started.elapsed().as_millis() as u64;
    let reference = sorted(records(&dir.join("ref.imps")));
    let mut rng = Rng::new(seed);
    for round in 0..6 {
        let out = format!("k{round}.imps");
        // Killed early (creating the store) or later, then continued until complete.
        let delay = rng.next_u64() % (full_ms / 2 + 1);
        let mut args = vec!["hash", "--out", &out, "c"];
        args.extend(small);
        let killed = run_and_kill(&args, dir, Duration::from_millis(delay));
        eprintln!("seed {seed:#x} round {round}: after {delay} ms, killed: {killed}");
        if dir.join(&out).exists() {
            Store::open(&dir.join(&out)).expect("a killed run leaves a readable store");
            args.push("--resume");
        }
        let o = run(&args, dir);
        assert!(
            o.status.success(),
            "seed {seed:#x} round {round}: {}",
            text(&o)
        );
        assert_eq!(
            sorted(records(&dir.join(&out))),
            reference,
            "seed {seed:#x} round {round}"
        );
        assert_no_temporary_files(dir);
    }
}

/// A tmpfs mounted for the test, unmounted on drop.
struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` at `at`, or says why it cannot.
fn mount_tmpfs(at: &Path, size: &str) -> Result<Mount, String> {
    std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
    let o = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if o.status.success() {
        Ok(Mount(at.to_owned()))
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_owned())
    }
}

#[test]
fn a_disk_that_fills_up_ends_the_run_cleanly_and_the_next_run_resumes() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    // Long directory names make records large: few items fill a block.
    let sub = format!("c/{}", "deep-directory-name-".repeat(8));
    make_images(dir, 300, &sub, 0x5eed_0707);
    let mnt = dir.join("mnt");
    let _mount = match mount_tmpfs(&mnt, "256k") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs to fill up ({why})");
            return;
        }
    };
    let small = ["--store-block-size", "8192", "--no-progress"];
    let mut args = vec!["hash", "--out", "ref.imps", "c"];
    args.extend(small);
    let o = run(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    let reference = sorted(records(&dir.join("ref.imps")));
    assert!(std::fs::metadata(dir.join("ref.imps")).expect("stat").len() > 64 * 1024);
    // Leave about 40 KiB free: room for a few blocks, not for the whole store.
    let free = |p: &Path| {
        let o = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(p)
            .output()
            .expect("df");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .expect("df prints the free bytes")
    };
    let filler = mnt.join("filler");
    let fill = free(&mnt).saturating_sub(40 * 1024);
    std::fs::write(&filler, vec![0xA5u8; fill as usize]).expect("fill");
    let out = mnt.join("s.imps");
    let out_s = out.to_str().expect("utf-8 temp path");
    let mut args = vec!["hash", "--out", out_s, "c"];
    args.extend(small);
    let o = run(&args, dir);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("No space left on device"), "{t}");
    eprintln!("the run on a full disk: {t}");
    assert!(!t.contains("panicked"), "{t}");
    // The sealed blocks are intact: a prefix of the run, each a real record.
    if out.exists() {
        let got = records(&out);
        assert!(got.len() < reference.len());
        for (id, r) in &got {
            assert_eq!(reference.get(id), Some(r), "{id}");
        }
        args.push("--resume");
    }
    // With room again, the next run resumes and completes: nothing lost or repeated.
    std::fs::remove_file(&filler).expect("free the disk");
    let o = run(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(sorted(records(&out)), reference);
    assert_no_temporary_files(&mnt);
}

#[test]
fn a_format_1_store_is_read_but_appended_to_only_after_a_merge_states_its_parameters() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format/store/v1/plain.imps");
    std::fs::copy(&golden, dir.join("old.imps")).expect("copy");
    let o = run(&["store", "export", "old.imps"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["store", "info", "old.imps"], dir);
    assert!(text(&o).contains("not recorded (format 1)"), "{}", text(&o));
    let o = run(&["store", "merge", "new.imps", "old.imps"], dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--assume-v1-params"), "{}", text(&o));
    let spec = "convention=full-resolution,jpeg-min-side=0,exif=false,id-scheme=1";
    let o = run(
        &[
            "store",
            "merge",
            "--assume-v1-params",
            spec,
            "new.imps",
            "old.imps",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["store", "info", "new.imps"], dir);
    let t = text(&o);
    assert!(t.contains("format: v2") && t.contains(spec), "{t}");
    assert_eq!(
        records(&dir.join("new.imps")),
        records(&dir.join("old.imps"))
    );
}
