//! Bulk runs end to end through the CLI: crash and resume, shards, merge, bad files, tar input.

use imprint::hash::PdqHash;
use imprint::pipeline::{Decoder, Pipeline, Source, StandardDecoder, VecSink};
use imprint::rng::Rng;
use imprint::store::{Outcome, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_imprint");

/// Writes `n` small generated images (PNG and JPEG, 24–72 px sides) under `dir/a`, `dir/b`.
fn make_corpus(dir: &Path, n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    for k in 0..n {
        let sub = dir.join(if k % 2 == 0 { "a" } else { "b" });
        std::fs::create_dir_all(&sub).expect("mkdir");
        let (w, h) = (
            24 + (rng.next_u64() % 48) as u32,
            24 + (rng.next_u64() % 48) as u32,
        );
        let (fx, fy, c) = (
            1 + rng.next_u64() % 7,
            1 + rng.next_u64() % 5,
            rng.next_u64() as u8,
        );
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (u64::from(x) * fx) as u8 ^ c,
                (u64::from(y) * fy) as u8,
                ((u64::from(x * y) + k as u64) % 251) as u8,
            ])
        });
        let ext = if k % 3 == 0 { "jpg" } else { "png" };
        img.save(sub.join(format!("img{k:05}.{ext}")))
            .expect("encode");
    }
}

/// Reads a store into `id → hash` (errors as `Err(cause)`), asserting each id appears once.
fn read_store(path: &Path) -> BTreeMap<String, Result<PdqHash, String>> {
    let store = Store::open(path).expect("open store");
    store.verify().expect("store verifies");
    let mut out = BTreeMap::new();
    for (id, v) in store_records(path) {
        assert!(out.insert(id.clone(), v).is_none(), "{id} stored twice");
    }
    out
}

fn hash_cmd(args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("hash")
        .args(args)
        .arg("--no-progress")
        .current_dir(cwd);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn run_ok(mut c: Command) -> i32 {
    let out = c.output().expect("run imprint");
    let code = out.status.code().expect("exited normally");
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    code
}

#[test]
fn killed_and_resumed_runs_store_every_item_once_with_the_same_hashes() {
    let seed = 0x5eed_0001;
    let d = tempfile::tempdir().expect("tempdir");
    make_corpus(&d.path().join("corpus"), 2000, seed);
    std::fs::write(
        d.path().join("corpus/a/zz-broken.png"),
        b"\x89PNG\r\n\x1a\n cut",
    )
    .expect("write");
    let small_blocks = ["--store-block-size", "8192", "--threads", "2"];

    let mut args = vec!["corpus", "--out", "ref.imps"];
    args.extend(small_blocks);
    let started = std::time::Instant::now();
    run_ok(hash_cmd(&args, d.path()));
    // Kill points are fractions of an uninterrupted run, so they land mid-run in debug and
    // release builds alike.
    let full_ms = started.elapsed().as_millis() as u64;
    let reference = read_store(&d.path().join("ref.imps"));
    assert_eq!(reference.len(), 2001);

    let mut rng = Rng::new(seed);
    let mut args = vec!["corpus", "--out", "crash.imps", "--resume"];
    args.extend(small_blocks);
    let mut kills = 0;
    for round in 0..6 {
        let mut child = hash_cmd(&args, d.path()).spawn().expect("spawn");
        let delay = full_ms / 20 + rng.next_u64() % (full_ms / 4 + 1);
        std::thread::sleep(Duration::from_millis(delay));
        let running = child.try_wait().expect("poll").is_none();
        if running {
            child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
            kills += 1;
        }
        let _ = child.wait();
        eprintln!("seed {seed:#x} round {round}: after {delay} ms, killed: {running}");
        if d.path().join("crash.imps").exists() {
            // A killed run leaves a readable store (the torn tail is ignored).
            Store::open(&d.path().join("crash.imps")).expect("store opens after SIGKILL");
        }
        let journal = d.path().join("crash.imps.journal");
        if journal.exists() {
            // And a journal naming at most the items being decoded, one per thread.
            let j = imprint::pipeline::Journal::open(&journal).expect("journal opens");
            assert!(j.suspects().count() <= 2, "seed {seed:#x}");
        }
    }
    run_ok(hash_cmd(&args, d.path()));
    assert!(!d.path().join("crash.imps.journal").exists());
    let resumed = read_store(&d.path().join("crash.imps"));
    assert!(
        kills >= 2,
        "seed {seed:#x}: only {kills} runs were killed mid-way"
    );
    assert_eq!(resumed, reference, "seed {seed:#x}");
}

#[test]
fn shards_union_equals_the_unsharded_run_and_merge_keeps_every_record_once() {
    let d = tempfile::tempdir().expect("tempdir");
    make_corpus(&d.path().join("corpus"), 150, 7);
    run_ok(hash_cmd(&["corpus", "--out", "all.imps"], d.path()));
    let all = read_store(&d.path().join("all.imps"));
    let mut union = BTreeMap::new();
    for i in 0..4 {
        let out = format!("s{i}.imps");
        // Shards 0 and 1 by --shard, 2 and 3 through the Indexed-Job environment variable.
        let mut c = if i < 2 {
            hash_cmd(
                &["corpus", "--out", &out, "--shard", &format!("{i}/4")],
                d.path(),
            )
        } else {
            let mut c = hash_cmd(&["corpus", "--out", &out, "--shards", "4"], d.path());
            c.env("JOB_COMPLETION_INDEX", i.to_string());
            c
        };
        c.env_remove("SLURM_ARRAY_TASK_ID");
        run_ok(c);
        let part = read_store(&d.path().join(&out));
        assert!(!part.is_empty() && part.len() < all.len());
        for (k, v) in part {
            assert!(union.insert(k, v).is_none(), "an item is in two shards");
        }
    }
    assert_eq!(union, all);

    // Merge the shards plus the full run (every item twice): each record kept once.
    let out = Command::new(BIN)
        .args([
            "store",
            "merge",
            "merged.imps",
            "s0.imps",
            "s1.imps",
            "s2.imps",
            "s3.imps",
            "all.imps",
        ])
        .current_dir(d.path())
        .output()
        .expect("merge");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read_store(&d.path().join("merged.imps")), all);
}

#[test]
fn a_corpus_with_corrupt_truncated_and_non_image_files_completes_with_each_failure_recorded() {
    let d = tempfile::tempdir().expect("tempdir");
    let c = d.path().join("corpus");
    make_corpus(&c, 12, 3);
    let good = std::fs::read(c.join("a/img00000.jpg")).expect("read");
    let png = std::fs::read(c.join("b/img00001.png")).expect("read");
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("bad/truncated.jpg", good[..good.len() / 2].to_vec()),
        ("bad/truncated.png", png[..png.len() / 2].to_vec()),
        ("bad/garbage.jpg", {
            let mut g = vec![0xFF, 0xD8, 0xFF, 0xE0];
            g.extend((0..500u32).map(|i| (i * 7919 % 256) as u8));
            g
        }),
        ("bad/notes.txt", b"just text\n".to_vec()),
        ("bad/empty.png", Vec::new()),
    ];
    for (name, bytes) in &bad {
        let p = c.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    }
    let code = run_ok(hash_cmd(&["corpus", "--out", "out.imps"], d.path()));
    assert_eq!(code, 1, "item failures give exit status 1");
    let got = read_store(&d.path().join("out.imps"));
    // The text and the empty file do not start like images: passed over, not recorded.
    let (broken, not_images) = bad.split_at(3);
    assert_eq!(got.len(), 12 + broken.len());
    for (name, _) in broken {
        let id = format!("corpus/{name}");
        match &got[&id] {
            Err(cause) => assert!(!cause.is_empty(), "{id}: empty cause"),
            Ok(h) => panic!("{id} should have failed, got {h:?}"),
        }
    }
    for (name, _) in not_images {
        assert!(!got.contains_key(&format!("corpus/{name}")), "{name}");
    }
    assert_eq!(got.values().filter(|v| v.is_ok()).count(), 12);
}

#[test]
fn files_that_are_not_images_are_passed_over_in_walks_and_fail_when_named() {
    let d = tempfile::tempdir().expect("tempdir");
    let c = d.path().join("corpus");
    make_corpus(&c, 6, 5);
    // Beside the images: a sparse 4 GiB video (over the item limit, so it would have failed
    // unread before) and a document.
    let video = std::fs::File::create(c.join("a/clip.mp4")).expect("create");
    video.set_len(4 << 30).expect("set_len");
    drop(video);
    std::fs::write(c.join("b/notes.txt"), "not an image\n").expect("write");
    // A WebDataset-style shard: each image with a JSON and a text member.
    let tar_path = d.path().join("shard.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar_path).expect("create"));
    let image = std::fs::read(c.join("a/img00000.jpg")).expect("read");
    for (name, data) in [
        ("0001.jpg", &image[..]),
        ("0001.json", b"{\"caption\": \"x\"}"),
        ("0001.txt", b"x"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).expect("append");
    }
    b.finish().expect("finish");
    drop(b);

    let o = hash_cmd(&["corpus", "shard.tar", "--out", "out.imps"], d.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "only images were recorded: {err}");
    assert!(
        err.contains("7 hashed, 0 failed, 0 skipped, 4 not images"),
        "{err}"
    );
    let got = read_store(&d.path().join("out.imps"));
    assert_eq!(got.len(), 7, "{got:?}");
    assert!(got.values().all(Result::is_ok));
    assert!(got.contains_key("shard.tar:0001.jpg"));

    // Named one by one, the document is an item that fails with its cause.
    let o = hash_cmd(&["corpus/b/notes.txt", "--out", "named.imps"], d.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    let got = read_store(&d.path().join("named.imps"));
    let cause = got["corpus/b/notes.txt"].as_ref().expect_err("failed");
    assert!(cause.contains("not a supported image"), "{cause}");

    // A resumed run passes them over again and adds nothing.
    let o = hash_cmd(
        &["corpus", "shard.tar", "--out", "out.imps", "--resume"],
        d.path(),
    )
    .output()
    .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("0 hashed, 0 failed, 7 skipped, 4 not images"),
        "{err}"
    );
    assert_eq!(read_store(&d.path().join("out.imps")).len(), 7);
}

#[test]
fn a_manifest_with_a_bad_line_stops_the_run_before_any_item() {
    let d = tempfile::tempdir().expect("tempdir");
    let c = d.path().join("corpus");
    make_corpus(&c, 4, 9);
    let manifest = d.path().join("list.csv");
    std::fs::write(
        &manifest,
        "id,path\nk1,corpus/a/img00000.jpg\nno comma here\n",
    )
    .expect("write");
    let mut sink = VecSink::default();
    let run = Pipeline::new().threads(2).run(
        &[Source::Dir(c), Source::Manifest(manifest)],
        &StandardDecoder::default(),
        &mut sink,
        &mut |_| {},
    );
    match run {
        Err(imprint::Error::BadInput { what, detail, .. }) => {
            assert_eq!(what, "line 3");
            assert!(detail.contains("the header names 2"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.items.is_empty(), "{:?}", sink.items);
}

#[test]
fn tar_members_hash_like_the_same_files_on_disk() {
    let d = tempfile::tempdir().expect("tempdir");
    let c = d.path().join("corpus");
    make_corpus(&c, 10, 11);
    let tar_path = d.path().join("shard.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar_path).expect("create"));
    b.append_dir_all("corpus", &c).expect("append");
    b.finish().expect("finish");
    drop(b);
    let run = |sources: &[Source]| {
        let mut sink = VecSink::default();
        Pipeline::new()
            .threads(2)
            .run(sources, &StandardDecoder::default(), &mut sink, &mut |_| {})
            .expect("run");
        sink.items
    };
    let from_dir = run(&[Source::Dir(c.clone())]);
    let from_tar = run(&[Source::Tar(tar_path.clone())]);
    let strip = |items: Vec<(String, _)>, prefix: &str| -> BTreeMap<String, _> {
        items
            .into_iter()
            .map(|(id, h)| (id.strip_prefix(prefix).expect("prefix").to_owned(), h))
            .collect()
    };
    let dir_prefix = format!("{}/", d.path().display());
    let tar_prefix = format!("{}:", tar_path.display());
    let a = strip(from_dir, &dir_prefix);
    let b = strip(from_tar, &tar_prefix);
    assert_eq!(a.len(), 10);
    assert_eq!(a, b);
}

/// A JPEG of `width × height` with the same smooth waves at every size (as many as a 1000 px
/// wide image has 37 and 53 px into one radian).
fn wavy_jpeg(width: u32, height: u32) -> Vec<u8> {
    let unit = width as f32 / 1000.0;
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let (x, y) = ((x as f32 / unit) as u32, (y as f32 / unit) as u32);
        let v = ((x as f32 / 37.0).sin() * 60.0 + (y as f32 / 53.0).cos() * 60.0 + 128.0) as u8;
        image::Rgb([v, v.wrapping_add((x / 100) as u8 * 9), 255 - v])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Jpeg,
    )
    .expect("encode");
    bytes
}

#[test]
fn fast_mode_decodes_large_jpegs_smaller_but_above_the_minimum_side_with_close_hashes() {
    use imprint::decode::{decode, jpeg_scale_numerator, DecodeOptions, FAST_JPEG_MIN_SIDE};
    use imprint::hash::PdqHasher;
    assert_eq!(jpeg_scale_numerator(1000, 750, 128), 2);
    assert_eq!(jpeg_scale_numerator(4000, 3000, 128), 1);
    assert_eq!(jpeg_scale_numerator(100, 3000, 128), 8);
    let bytes = wavy_jpeg(4000, 3000);
    let exact = decode(&bytes, &DecodeOptions::default()).expect("decode");
    let fast_opts = DecodeOptions {
        jpeg_min_side: Some(FAST_JPEG_MIN_SIDE),
        ..DecodeOptions::default()
    };
    let fast = decode(&bytes, &fast_opts).expect("decode");
    assert_eq!((exact.width, exact.height), (4000, 3000));
    let n = imprint::decode::fast_jpeg_numerator(4000, 3000, FAST_JPEG_MIN_SIDE);
    assert!(n < 8);
    assert_eq!(fast.width, (4000 * u32::from(n)).div_ceil(8));
    assert!(fast.width.min(fast.height) >= FAST_JPEG_MIN_SIDE);
    let mut h = PdqHasher::new();
    let a = h.hash(exact.as_image_ref());
    let b = h.hash(fast.as_image_ref());
    assert!(
        a.hash.distance(&b.hash) <= 10,
        "distance {}",
        a.hash.distance(&b.hash)
    );
}

#[test]
fn fast_mode_gives_the_exact_hash_of_a_jpeg_too_small_to_gain() {
    use imprint::decode::{decode, DecodeOptions, FAST_JPEG_MIN_PIXELS, FAST_JPEG_MIN_SIDE};
    // The largest 4:3 image under the pixel floor, and a panorama of the same area.
    let h = (((FAST_JPEG_MIN_PIXELS - 1) as f64 * 0.75).sqrt()) as u32;
    for (width, height) in [(h * 4 / 3, h), (h * 4, h / 3)] {
        assert!(u64::from(width) * u64::from(height) < FAST_JPEG_MIN_PIXELS);
        let bytes = wavy_jpeg(width, height);
        let exact = decode(&bytes, &DecodeOptions::default()).expect("decode");
        let fast_opts = DecodeOptions {
            jpeg_min_side: Some(FAST_JPEG_MIN_SIDE),
            ..DecodeOptions::default()
        };
        let fast = decode(&bytes, &fast_opts).expect("decode");
        assert_eq!((fast.width, fast.height), (width, height));
        assert!(fast.pixels == exact.pixels, "{width}x{height}");
    }
}

/// Marks the files that end the process in [`child_crash_run`].
const BOMB: &[u8] = b"BOMB";
/// Set to the working directory when this binary runs as [`child_crash_run`].
const CRASH_RUN_DIR: &str = "IMPRINT_IT_CRASH_RUN_DIR";

/// The body of the child processes of
/// `a_file_that_ends_the_process_is_found_and_failed_after_two_ends_alone`: one resumable run
/// into `run.imps` whose decoder aborts the process on files starting with [`BOMB`], as a crash
/// inside a C decoder would. Does nothing unless started by that test.
#[test]
#[ignore = "a child process of the crash-journal test"]
fn child_crash_run() {
    use imprint::pipeline::{Journal, SkipSet, StoreSink};
    use imprint::store::{StoreOptions, StoreWriter};
    let Some(dir) = std::env::var_os(CRASH_RUN_DIR) else {
        eprintln!("{CRASH_RUN_DIR} is not set: nothing to do outside the crash-journal test");
        return;
    };
    let dir = Path::new(&dir);
    let out = dir.join("run.imps");
    let opts = StoreOptions::new().block_size(8192);
    let (writer, skip) = if out.exists() {
        let (w, _) = StoreWriter::resume(&out, &opts).expect("resume");
        let skip = SkipSet::from_store(&Store::open(&out).expect("open")).expect("records");
        (w, skip)
    } else {
        (
            StoreWriter::create(&out, &opts).expect("create"),
            SkipSet::new(),
        )
    };
    let journal = Journal::open(&dir.join("run.imps.journal")).expect("journal");
    let standard = StandardDecoder::default();
    let decoder = |bytes: &[u8]| {
        if bytes.starts_with(BOMB) {
            std::process::abort();
        }
        standard.decode(bytes)
    };
    Pipeline::new()
        .threads(2)
        .queue_len(4)
        .skip(skip)
        .journal(journal)
        .run(
            &[Source::Dir(dir.join("corpus"))],
            &decoder,
            &mut StoreSink::new(writer),
            &mut |_| {},
        )
        .expect("run");
}

#[test]
fn a_file_that_ends_the_process_is_found_and_failed_after_two_ends_alone() {
    use imprint::pipeline::{Journal, STRIKES_TO_FAIL};
    let d = tempfile::tempdir().expect("tempdir");
    let corpus = d.path().join("corpus");
    make_corpus(&corpus, 240, 0x5eed_0002);
    // Two bombs, each well past a few sealed blocks of records.
    let bombs = [corpus.join("a/img00101.bin"), corpus.join("b/img00171.bin")];
    for b in &bombs {
        std::fs::write(b, [BOMB, b" and then some bytes"].concat()).expect("write");
    }
    let mut reference = VecSink::default();
    Pipeline::new()
        .threads(2)
        .run(
            &[Source::Dir(corpus.clone())],
            &|bytes: &[u8]| {
                if bytes.starts_with(BOMB) {
                    Err(imprint::pipeline::DecodeFailure("bomb".into()))
                } else {
                    StandardDecoder::default().decode(bytes)
                }
            },
            &mut reference,
            &mut |_| {},
        )
        .expect("reference run");
    assert_eq!(reference.items.len(), 242);
    let bombs_ids: Vec<String> = bombs.iter().map(|b| b.display().to_string()).collect();

    let name = module_path!()
        .split_once("::")
        .map_or("", |(_, m)| m)
        .to_owned();
    let child = format!("{name}::child_crash_run");
    let journal = d.path().join("run.imps.journal");
    let mut ended = 0;
    let mut suspects_after_first_end = None;
    for run in 0..12 {
        let status = Command::new(std::env::current_exe().expect("test binary"))
            .args([child.as_str(), "--exact", "--ignored", "--test-threads=1"])
            .env(CRASH_RUN_DIR, d.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn");
        eprintln!("run {run}: {status}");
        if status.success() {
            break;
        }
        ended += 1;
        if ended == 1 {
            let j = Journal::open(&journal).expect("journal after the first end");
            suspects_after_first_end = Some(j.suspects().count());
        }
    }
    // Each bomb: once in the parallel pass, then STRIKES_TO_FAIL times alone.
    assert_eq!(ended, 2 * (1 + STRIKES_TO_FAIL));
    // The suspects are the items being decoded (one per thread), not the run so far.
    let suspects = suspects_after_first_end.expect("ended at least once");
    assert!((1..=2).contains(&suspects), "{suspects} suspects");
    assert!(
        !journal.exists(),
        "the journal is removed when the run completes"
    );

    // Every item once (read_store asserts it), with the reference's hash; each bomb failed.
    let got = read_store(&d.path().join("run.imps"));
    let reference: BTreeMap<_, _> = reference.items.into_iter().collect();
    assert_eq!(got.len(), reference.len(), "an item stored twice or lost");
    for ((id, v), (ref_id, ref_v)) in got.iter().zip(&reference) {
        assert_eq!(id, ref_id);
        match (v, ref_v) {
            (Ok(h), Ok(r)) => assert_eq!(*h, r.primary(), "{id}"),
            (Err(cause), Err(_)) => {
                assert!(bombs_ids.contains(id), "{id}");
                assert!(
                    cause.contains(&format!("ended the process {STRIKES_TO_FAIL} times")),
                    "{id}: {cause}"
                );
            }
            _ => panic!("{id}: {v:?} against {ref_v:?}"),
        }
    }
}

/// One journal entry in the documented format (`imprint::pipeline::Journal`).
fn journal_entry(kind: u8, seq: u64, id: &str) -> Vec<u8> {
    let mut e = vec![kind];
    e.extend_from_slice(&seq.to_le_bytes());
    e.extend_from_slice(&(id.len() as u32).to_le_bytes());
    e.extend_from_slice(id.as_bytes());
    e
}

#[test]
fn resume_decodes_the_journal_suspects_alone_and_fails_a_file_that_ended_it_twice() {
    let d = tempfile::tempdir().expect("tempdir");
    make_corpus(&d.path().join("corpus"), 6, 0x5eed_0003);
    run_ok(hash_cmd(&["corpus", "--out", "s.imps"], d.path()));
    assert!(
        !d.path().join("s.imps.journal").exists(),
        "a completed run leaves no journal"
    );
    assert_eq!(read_store(&d.path().join("s.imps")).len(), 6);

    // Files added since, and a journal as a run that crashed on them would leave it: "bomb"
    // was being decoded in the parallel pass and then ended two careful passes; "victim" was
    // being decoded next to it.
    std::fs::copy(
        d.path().join("corpus/a/img00000.jpg"),
        d.path().join("corpus/a/victim.jpg"),
    )
    .expect("copy");
    std::fs::copy(
        d.path().join("corpus/b/img00001.png"),
        d.path().join("corpus/b/zbomb.png"),
    )
    .expect("copy");
    let (victim, bomb) = ("corpus/a/victim.jpg", "corpus/b/zbomb.png");
    let mut journal = b"IMPJRNL1".to_vec();
    journal.extend(journal_entry(b'S', 6, victim));
    journal.extend(journal_entry(b'S', 7, bomb));
    journal.extend(journal_entry(b'A', 0, victim));
    journal.extend(journal_entry(b'D', 0, victim));
    journal.extend(journal_entry(b'A', 0, bomb));
    journal.extend(journal_entry(b'A', 0, bomb));
    std::fs::write(d.path().join("s.imps.journal"), journal).expect("write");

    let out = hash_cmd(&["corpus", "--out", "s.imps", "--resume"], d.path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}"); // an item failed
    assert!(
        stderr.contains("1 item was being decoded when the last run ended"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{bomb}: ended the process 2 times while decoded alone"
        )),
        "{stderr}"
    );
    let store = read_store(&d.path().join("s.imps"));
    assert_eq!(store.len(), 8);
    // The victim was cleared by its careful decode; it is hashed like its twin.
    assert_eq!(store[victim], store["corpus/a/img00000.jpg"]);
    let cause = store[bomb].as_ref().expect_err("the bomb is a failure");
    assert!(cause.contains("ended the process 2 times"), "{cause}");
    assert!(!d.path().join("s.imps.journal").exists());
}

/// `(id, hash or error)` of every record, in store order, repeats included.
fn store_records(path: &Path) -> Vec<(String, Result<PdqHash, String>)> {
    let store = Store::open(path).expect("open store");
    store
        .records()
        .map(|r| {
            let r = r.expect("record");
            let v = match r.outcome {
                Outcome::Failed { cause } => Err(cause.to_owned()),
                _ => Ok(r.hash().expect("hash record")),
            };
            (r.id.to_owned(), v)
        })
        .collect()
}

#[test]
fn retry_failed_tries_failed_items_again_but_not_those_that_ended_the_process() {
    let d = tempfile::tempdir().expect("tempdir");
    make_corpus(&d.path().join("corpus"), 6, 0x5eed_0004);
    let broken = "corpus/a/broken.png";
    std::fs::write(d.path().join(broken), b"\xFF\xD8\xFF\xE0 a JPEG cut short").expect("write");
    run_ok(hash_cmd(&["corpus", "--out", "s.imps"], d.path()));
    // A file that ended two careful passes, as the journal records it.
    let bomb = "corpus/b/zbomb.png";
    std::fs::copy(d.path().join("corpus/b/img00001.png"), d.path().join(bomb)).expect("copy");
    let mut journal = b"IMPJRNL1".to_vec();
    journal.extend(journal_entry(b'S', 0, bomb));
    journal.extend(journal_entry(b'A', 0, bomb));
    journal.extend(journal_entry(b'A', 0, bomb));
    std::fs::write(d.path().join("s.imps.journal"), journal).expect("write");
    run_ok(hash_cmd(
        &["corpus", "--out", "s.imps", "--resume"],
        d.path(),
    ));
    let before = store_records(&d.path().join("s.imps"));
    assert_eq!(before.len(), 8);
    let failed: Vec<&str> = before
        .iter()
        .filter(|(_, v)| v.is_err())
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(failed, [broken, bomb]);

    // Still broken: a retry fails it again with the same cause and stores nothing new.
    let retry = || {
        hash_cmd(
            &["corpus", "--out", "s.imps", "--resume", "--retry-failed"],
            d.path(),
        )
    };
    assert_eq!(run_ok(retry()), 1);
    assert_eq!(
        store_records(&d.path().join("s.imps")),
        before,
        "same failure, no record"
    );
    // Broken differently: the new cause is recorded after the old one.
    std::fs::write(d.path().join(broken), b"\x89PNG\r\n\x1a\n cut").expect("write");
    assert_eq!(run_ok(retry()), 1);
    let before = store_records(&d.path().join("s.imps"));
    assert_eq!(before.len(), 9);
    assert_eq!(before[8].0, broken);
    assert_ne!(
        before[8].1,
        before[0..8].iter().find(|(id, _)| id == broken).unwrap().1
    );
    assert!(
        before[8].1.as_ref().unwrap_err().contains("PNG"),
        "{:?}",
        before[8]
    );

    // The storage is repaired: the broken file now holds an image.
    std::fs::copy(
        d.path().join("corpus/a/img00000.jpg"),
        d.path().join(broken),
    )
    .expect("copy");
    run_ok(hash_cmd(
        &["corpus", "--out", "s.imps", "--resume"],
        d.path(),
    ));
    assert_eq!(
        store_records(&d.path().join("s.imps")),
        before,
        "plain resume retries nothing"
    );
    let code = run_ok(hash_cmd(
        &["corpus", "--out", "s.imps", "--resume", "--retry-failed"],
        d.path(),
    ));
    assert_eq!(code, 0, "the retried item hashed");
    let after = store_records(&d.path().join("s.imps"));
    assert_eq!(after[..9], before[..], "old records kept");
    assert_eq!(
        after.len(),
        10,
        "only the broken file was tried again: {after:?}"
    );
    assert_eq!(after[9].0, broken);
    assert_eq!(
        after[9].1,
        before
            .iter()
            .find(|(id, _)| id == "corpus/a/img00000.jpg")
            .unwrap()
            .1
    );

    // Merged, every item once: the retried one by its hash.
    let o = Command::new(BIN)
        .args(["store", "merge", "m.imps", "s.imps"])
        .current_dir(d.path())
        .output()
        .expect("merge");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = read_store(&d.path().join("m.imps"));
    assert_eq!(merged.len(), 8);
    assert!(merged[broken].is_ok() && merged[bomb].is_err());
}

#[test]
fn a_store_written_inside_the_hashed_directory_is_not_an_item_of_its_own_run() {
    let d = tempfile::tempdir().expect("tempdir");
    make_corpus(&d.path().join("corpus"), 5, 0x5eed_0005);
    let code = run_ok(hash_cmd(&["corpus", "--out", "corpus/run.imps"], d.path()));
    assert_eq!(code, 0, "no item failed");
    let ids: Vec<String> = read_store(&d.path().join("corpus/run.imps"))
        .into_keys()
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(
        ids.iter()
            .all(|id| id.ends_with(".png") || id.ends_with(".jpg")),
        "{ids:?}"
    );
    // The store spelled another way on resume is still the same file.
    let code = run_ok(hash_cmd(
        &["corpus", "--out", "./corpus/../corpus/run.imps", "--resume"],
        d.path(),
    ));
    assert_eq!(code, 0);
    assert_eq!(read_store(&d.path().join("corpus/run.imps")).len(), 5);
}

/// Decoded pixels go back to the decoder's pool once hashed, in the fused (CPU) path and in the
/// batch path, and the hashes of images decoded into reused buffers are the reference's.
#[test]
fn hashed_images_give_their_pixel_buffers_back_and_hash_as_decoded_fresh() {
    use imprint::decode::{decode, DecodeOptions, MIN_POOLED_BYTES};
    use imprint::hash::Hashed;
    use imprint::hash::PdqHasher;
    use imprint::pipeline::CpuHasher;
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path().join("big");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut rng = Rng::new(0x5eed_0003);
    // Over the pool's minimum: 700×600 RGB is 1.26 MB decoded. JPEG and PNG, and one PNG with
    // alpha, which is narrowed to RGB in its pooled buffer.
    for k in 0..12u32 {
        let (w, h) = (700 + k * 3, 600 - k * 2);
        let c = rng.next_u64() as u8;
        let px = |x: u32, y: u32| [(x * 3) as u8 ^ c, (y * 5) as u8, ((x + y + k) % 251) as u8];
        let path = dir.join(format!("img{k:02}"));
        if k == 5 {
            let img = image::RgbaImage::from_fn(w, h, |x, y| {
                let [r, g, b] = px(x, y);
                image::Rgba([r, g, b, (x % 256) as u8])
            });
            img.save(path.with_extension("png")).expect("encode");
        } else {
            let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(px(x, y)));
            let ext = if k % 2 == 0 { "jpg" } else { "png" };
            img.save(path.with_extension(ext)).expect("encode");
        }
    }
    let mut expected = BTreeMap::new();
    for e in std::fs::read_dir(&dir).expect("read_dir") {
        let p = e.expect("entry").path();
        let img =
            decode(&std::fs::read(&p).expect("read"), &DecodeOptions::default()).expect("decodes");
        assert!(img.pixels.len() >= MIN_POOLED_BYTES);
        let h = PdqHasher::new().hash(img.as_image_ref());
        expected.insert(p.display().to_string(), Ok(Hashed::from(h)));
    }
    for batched in [false, true] {
        let decoder = StandardDecoder::default();
        let mut sink = VecSink::default();
        let mut pipeline = Pipeline::new().threads(2);
        if batched {
            pipeline = pipeline.hash_stage(Box::new(CpuHasher::new()));
        }
        pipeline
            .run(
                &[Source::Dir(dir.clone())],
                &decoder,
                &mut sink,
                &mut |_| {},
            )
            .expect("run");
        let got: BTreeMap<_, _> = sink.items.into_iter().collect();
        assert_eq!(got, expected, "batched {batched}");
        // Each thread's last image at least came back.
        assert!(
            decoder.pool.kept_bytes() >= MIN_POOLED_BYTES,
            "batched {batched}: nothing given back"
        );
    }
}

/// Files are read by several threads, so reads wait on storage side by side: four FIFOs whose
/// writer opens them last to first can all be read only if four reads wait at once. Read one
/// after another, the first read would wait for a writer waiting on the last.
#[cfg(unix)]
#[test]
fn files_are_read_side_by_side() {
    use std::io::Write;
    let d = tempfile::tempdir().expect("tempdir");
    let paths: Vec<std::path::PathBuf> =
        (0..4).map(|k| d.path().join(format!("f{k}.png"))).collect();
    for p in &paths {
        let made = Command::new("mkfifo").arg(p).status().expect("mkfifo");
        assert!(made.success());
    }
    let png = crate::decode::small_png();
    let to_write = paths.clone();
    std::thread::spawn(move || {
        for p in to_write.iter().rev() {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .expect("open for writing");
            f.write_all(&png).expect("write");
        }
    });
    let sources: Vec<Source> = paths.iter().cloned().map(Source::File).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = VecSink::default();
        let run = Pipeline::new().threads(1).read_threads(4).run(
            &sources,
            &StandardDecoder::default(),
            &mut sink,
            &mut |_| {},
        );
        let _ = tx.send((run.map(|r| r.num_ok), sink.items));
    });
    let (ok, items) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run waited on one read at a time");
    assert_eq!(ok.expect("run"), 4);
    assert!(items.iter().all(|(_, h)| h.is_ok()), "{items:?}");
}

/// `--read-threads` changes how many files are read at once, not what is stored.
#[test]
fn read_threads_leave_the_store_unchanged() {
    let d = tempfile::tempdir().expect("tempdir");
    make_corpus(&d.path().join("corpus"), 40, 0x5eed_0005);
    for (out, n) in [("one.imps", "1"), ("nine.imps", "9")] {
        assert_eq!(
            run_ok(hash_cmd(
                &["corpus", "--out", out, "--read-threads", n],
                d.path()
            )),
            0
        );
    }
    let one = store_records(&d.path().join("one.imps"));
    assert_eq!(one.len(), 40);
    assert_eq!(one, store_records(&d.path().join("nine.imps")));
}

#[test]
fn the_journal_marks_only_the_items_a_decoder_runs_on() {
    use imprint::pipeline::Journal;
    let d = tempfile::tempdir().expect("tempdir");
    let c = d.path().join("corpus");
    make_corpus(&c, 2, 9);
    // Found by the walk and not an image: passed over after its first bytes.
    std::fs::write(c.join("a/notes.txt"), "not an image\n").expect("write");
    // Named: a document (decoded, and fails) and a file that is not there (never read).
    std::fs::write(d.path().join("doc.txt"), "not an image either\n").expect("write");
    let list = d.path().join("list.txt");
    std::fs::write(&list, "doc.txt\nmissing.jpg\n").expect("write");
    let path = d.path().join("run.journal");
    // The journal is removed when a run completes: read it as the last item arrives.
    struct Peek<'a> {
        journal: &'a Path,
        items: usize,
        seen: Vec<u8>,
    }
    impl imprint::pipeline::Sink for Peek<'_> {
        fn accept(
            &mut self,
            id: &str,
            _: &Result<imprint::hash::Hashed, imprint::pipeline::ItemError>,
        ) -> imprint::Result<()> {
            self.items += 1;
            if id == "missing.jpg" {
                self.seen = std::fs::read(self.journal).expect("the journal during the run");
            }
            Ok(())
        }
    }
    let mut sink = Peek {
        journal: &path,
        items: 0,
        seen: Vec::new(),
    };
    Pipeline::new()
        .threads(2)
        .journal(Journal::create(&path).expect("journal"))
        .run(
            &[Source::Dir(c.clone()), Source::Manifest(list)],
            &StandardDecoder::default(),
            &mut sink,
            &mut |_| {},
        )
        .expect("run");
    assert_eq!(sink.items, 4);
    let bytes = sink.seen;
    let marked = |id: &str| bytes.windows(id.len()).any(|w| w == id.as_bytes());
    let walked = |name: &str| format!("{}/{name}", c.display());
    assert!(
        marked(&walked("a/img00000.jpg")),
        "a decoded image is marked"
    );
    assert!(marked("doc.txt"), "so is a named file the decoder fails on");
    assert!(!marked("missing.jpg"), "an item whose read failed is not");
    assert!(
        !marked(&walked("a/notes.txt")),
        "nor one passed over unread"
    );
}
