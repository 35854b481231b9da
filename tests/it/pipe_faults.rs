//! Item ids that used to end runs or collide: ids longer than a store takes (a deep tree, a
//! long `--files-from` line, a PAX tar member name) and names that differ only in an escape.

use crate::cli::stored_hashes;
use crate::decode::small_png;
use imprint::pipeline::{
    path_id, unescape_id, IdError, Pipeline, SkipSet, Source, StandardDecoder, VecSink,
    SHORTENED_ID_MARKER,
};
use imprint::store::format::MAX_ID_LEN;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn imprint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imprint"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `imprint hash --out STORE ARGS…` (with `--resume` when asked); asserts exit 0.
fn hash_into(store: &Path, resume: bool, args: &[&str]) {
    let mut all = vec!["hash", "--out", store.to_str().unwrap()];
    if resume {
        all.push("--resume");
    }
    all.extend_from_slice(args);
    let o = imprint(&all);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
}

/// Checks that a store holds exactly `want` ids, each with a hash.
fn assert_hashed(store: &Path, want: &[String]) {
    let got = stored_hashes(store);
    let ids: Vec<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, want.iter().collect::<Vec<_>>());
    assert!(got.iter().all(|(_, h)| h.len() == 64), "{got:?}");
}

/// A tree `root/<n levels of 200-byte names>/deep.png` whose names are not UTF-8, so that the
/// path stays openable (about 1.2 KB) while its id (each byte escaped to four) is over the
/// store's limit. Returns the image's path.
#[cfg(unix)]
fn deep_tree(root: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut p = root.to_owned();
    for level in 0..6u8 {
        let mut name = vec![0xffu8; 199];
        name.push(b'0' + level);
        p.push(std::ffi::OsStr::from_bytes(&name));
    }
    std::fs::create_dir_all(&p).unwrap();
    let img = p.join("deep.png");
    std::fs::write(&img, small_png()).unwrap();
    std::fs::write(root.join("a.png"), small_png()).unwrap();
    img
}

#[cfg(unix)]
#[test]
fn a_deep_tree_and_a_long_files_from_line_are_hashed_under_shortened_ids_and_resumed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("tree");
    let img = deep_tree(&root);
    let full = path_id(&img);
    assert!(full.len() > MAX_ID_LEN, "{}", full.len());
    let short = imprint::pipeline::shorten_id(&full).into_owned();
    assert!(short.len() <= MAX_ID_LEN && short.contains(SHORTENED_ID_MARKER));
    assert_eq!(unescape_id(&short), Err(IdError::Shortened));

    // The directory walk: both images hashed, the deep one under its shortened id.
    let store = d.path().join("walk.imps");
    let root_s = root.to_str().unwrap();
    hash_into(&store, false, &[root_s]);
    let want = [format!("{root_s}/a.png"), short.clone()];
    assert_hashed(&store, &want);
    // A resume skips both and adds nothing.
    hash_into(&store, true, &[root_s]);
    assert_hashed(&store, &want);

    // The same file named by a `--files-from` line.
    use std::os::unix::ffi::OsStrExt;
    let list = d.path().join("list");
    let mut line = img.as_os_str().as_bytes().to_vec();
    line.push(b'\n');
    std::fs::write(&list, &line).unwrap();
    let store = d.path().join("list.imps");
    let list_s = list.to_str().unwrap();
    hash_into(&store, false, &["--files-from", list_s]);
    assert_hashed(&store, std::slice::from_ref(&short));
    hash_into(&store, true, &["--files-from", list_s]);
    assert_hashed(&store, std::slice::from_ref(&short));
}

/// A tar archive with `a.png` and a member whose PAX `path` record is `long_name`.
fn tar_with_long_member(path: &Path, long_name: &str) {
    let png = small_png();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut header = tar::Header::new_ustar();
    header.set_size(png.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    b.append_data(&mut header.clone(), "a.png", png.as_slice())
        .unwrap();
    b.append_pax_extensions([("path", long_name.as_bytes())])
        .unwrap();
    b.append_data(&mut header, "placeholder.png", png.as_slice())
        .unwrap();
    b.finish().unwrap();
}

#[test]
fn a_pax_tar_member_name_over_the_limit_is_hashed_and_skipped_on_resume() {
    let d = tempfile::tempdir().unwrap();
    let tar_path = d.path().join("t.tar");
    let long_name = format!("{}long.png", "sub/".repeat(1300));
    tar_with_long_member(&tar_path, &long_name);
    let prefix = path_id(&tar_path);
    let full = format!("{prefix}:{long_name}");
    let short = imprint::pipeline::shorten_id(&full).into_owned();
    assert_ne!(short, full);

    // The library: both members hashed, in order, the long one under its shortened id.
    let run = |skip: SkipSet| {
        let mut sink = VecSink::default();
        let report = Pipeline::new()
            .threads(2)
            .skip(skip)
            .run(
                &[Source::Tar(tar_path.clone())],
                &StandardDecoder::default(),
                &mut sink,
                &mut |_| {},
            )
            .expect("run");
        (report, sink.items)
    };
    let (report, items) = run(SkipSet::new());
    let ids: Vec<&str> = items.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, [format!("{prefix}:a.png").as_str(), short.as_str()]);
    assert!(items.iter().all(|(_, h)| h.is_ok()), "{items:?}");
    assert_eq!(report.num_ok, 2);
    assert_eq!(items[0].1, items[1].1, "same image, same hash");
    // Resumed with those ids skipped: nothing is read again.
    let mut skip = SkipSet::new();
    for id in &ids {
        skip.insert(id);
    }
    let (report, again) = run(skip);
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(report.num_skipped, 2);

    // The CLI: exit 0, and a resume adds nothing.
    let store = d.path().join("t.imps");
    let tar_s = tar_path.to_str().unwrap();
    hash_into(&store, false, &[tar_s]);
    let want = [format!("{prefix}:a.png"), short];
    assert_hashed(&store, &want);
    hash_into(&store, true, &[tar_s]);
    assert_hashed(&store, &want);
}

#[cfg(unix)]
#[test]
fn a_name_with_a_byte_that_is_not_utf8_and_one_with_its_escape_written_out_stay_two_items() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("names");
    std::fs::create_dir(&root).unwrap();
    let raw: &[u8] = b"a\xff.png";
    let literal: &[u8] = br"a\xff.png";
    for name in [raw, literal] {
        std::fs::write(root.join(std::ffi::OsStr::from_bytes(name)), small_png()).unwrap();
    }
    let store = d.path().join("n.imps");
    let root_s = root.to_str().unwrap();
    hash_into(&store, false, &[root_s]);
    // Sorted by name bytes: `\` (0x5c) before 0xff.
    let want = [
        format!(r"{root_s}/a\\xff.png"),
        format!(r"{root_s}/a\xff.png"),
    ];
    assert_hashed(&store, &want);
    // Each id leads back to its own file.
    for id in &want {
        let bytes = unescape_id(id).unwrap();
        assert!(
            Path::new(std::ffi::OsStr::from_bytes(&bytes)).is_file(),
            "{id}"
        );
    }
    // A resume skips both, and hashes neither again.
    hash_into(&store, true, &[root_s]);
    assert_hashed(&store, &want);
}

#[test]
fn a_png_of_a_billion_by_one_pixels_is_over_the_pixel_limit_not_corrupt() {
    use imprint::decode::{decode, DecodeError, DecodeOptions};
    let png = crate::decode::png_claiming(1_000_000_000, 1);
    match decode(&png, &DecodeOptions::default()) {
        Err(
            e @ DecodeError::TooLarge {
                width: 1_000_000_000,
                height: 1,
                ..
            },
        ) => assert!(e.to_string().contains("--max-pixels"), "{e}"),
        other => panic!("expected TooLarge, got {:?}", other.map(|i| i.width)),
    }
}

#[test]
fn a_library_run_asking_for_more_threads_than_the_machine_allows_is_refused_before_it_starts() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("a.png"), small_png()).expect("write");
    let max_decode = imprint::threads::max_threads(imprint::threads::MAX_DECODE_THREADS_PER_CORE);
    let max_read = imprint::threads::max_threads(imprint::threads::MAX_READ_THREADS_PER_CORE);
    for (pipeline, requested) in [
        (Pipeline::new().threads(max_decode + 1), max_decode + 1),
        (Pipeline::new().read_threads(max_read + 1), max_read + 1),
    ] {
        let mut sink = VecSink::default();
        let run = pipeline.run(
            &[Source::Dir(d.path().to_owned())],
            &StandardDecoder::default(),
            &mut sink,
            &mut |_| {},
        );
        match run {
            Err(imprint::Error::TooManyThreads(e)) => assert_eq!(e.requested, requested),
            other => panic!("{other:?}"),
        }
        assert!(sink.items.is_empty(), "{:?}", sink.items);
    }
    // At the limit, the run goes ahead.
    let mut sink = VecSink::default();
    Pipeline::new()
        .threads(max_decode)
        .run(
            &[Source::Dir(d.path().to_owned())],
            &StandardDecoder::default(),
            &mut sink,
            &mut |_| {},
        )
        .expect("a run at the limit");
    assert_eq!(sink.items.len(), 1);
}
