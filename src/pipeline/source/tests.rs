//! Walks over every kind of source, through [`walk`] as a run calls it.

use super::*;
use crate::pipeline::id::path_id;
use std::fs::File;

/// A screen that accepts every item.
const ALL: Screen<'static> = &|_| true;

/// Writes a tar archive of regular files.
fn write_tar<P: AsRef<Path>>(path: &Path, members: &[(P, &[u8])]) {
    let mut b = ::tar::Builder::new(File::create(path).expect("create"));
    for (name, data) in members {
        let mut h = ::tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).expect("append");
    }
    b.finish().expect("finish");
}

pub(super) fn collect(sources: &[Source]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    walk(sources, 1 << 20, &[], ALL, &mut |_| true, &mut |it| {
        let (id, bytes) = it.read(ALL);
        out.push((id, bytes.map(|b| b.len()).unwrap_or(usize::MAX)));
        true
    })
    .expect("walk");
    out
}

/// The line and detail of the bad-input error that walking the manifest at `path` stops
/// with.
pub(super) fn manifest_error(path: &Path) -> (String, String) {
    match walk(
        &[Source::Manifest(path.to_owned())],
        1 << 20,
        &[],
        ALL,
        &mut |_| true,
        &mut |_| true,
    ) {
        Err(Error::BadInput { what, detail, .. }) => (what, detail),
        other => panic!("{}: {other:?}", path.display()),
    }
}

#[test]
fn directories_walk_in_sorted_order() {
    let d = tempfile::tempdir().expect("tempdir");
    for p in ["b/2", "b/10", "a", "c/x/y"] {
        let f = d.path().join(p);
        std::fs::create_dir_all(f.parent().expect("has parent")).expect("mkdir");
        std::fs::write(&f, p).expect("write");
    }
    let root = d.path().to_string_lossy().into_owned();
    let ids: Vec<String> = collect(&[Source::Dir(d.path().to_owned())])
        .into_iter()
        .map(|(id, _)| id[root.len() + 1..].to_owned())
        .collect();
    assert_eq!(ids, ["a", "b/10", "b/2", "c/x/y"]);
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_keep_distinct_ids_that_lead_back_to_their_files() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().expect("tempdir");
    // Latin-1 names: é and è are single bytes that are not UTF-8.
    let names: [&[u8]; 3] = [b"caf\xe9.jpg", b"caf\xe8.jpg", "caf\u{e9}.jpg".as_bytes()];
    for (i, n) in names.iter().enumerate() {
        std::fs::write(d.path().join(OsStr::from_bytes(n)), [i as u8]).expect("write");
    }
    let root = d.path().to_str().expect("utf-8 temp dir").to_owned();
    let got: Vec<(String, usize)> = collect(&[Source::Dir(d.path().to_owned())])
        .into_iter()
        .map(|(id, len)| (id[root.len() + 1..].to_owned(), len))
        .collect();
    assert_eq!(
        got,
        // In byte order: é in UTF-8 is c3 a9.
        [
            ("caf\u{e9}.jpg".to_owned(), 1),
            ("caf\\xe8.jpg".to_owned(), 1),
            ("caf\\xe9.jpg".to_owned(), 1)
        ]
    );
    // Undoing the escapes names the file again.
    for (id, _) in &got {
        let path = d.path().join(OsStr::from_bytes(
            &super::super::unescape_id(id).expect("scheme-2 id"),
        ));
        assert!(path.exists(), "{id}");
    }
    // Tar members likewise.
    let tar_path = d.path().join("t.tar");
    let members: Vec<(&OsStr, &[u8])> = names[..2]
        .iter()
        .map(|n| (OsStr::from_bytes(n), &[7u8][..]))
        .collect();
    write_tar(&tar_path, &members);
    let ids: Vec<String> = collect(&[Source::Tar(tar_path.clone())])
        .into_iter()
        .map(|(id, _)| id.rsplit(':').next().expect("member").to_owned())
        .collect();
    assert_eq!(ids, ["caf\\xe9.jpg", "caf\\xe8.jpg"]);
}

#[test]
fn tar_members_are_items_and_skipped_ones_are_not_read() {
    let d = tempfile::tempdir().expect("tempdir");
    let tar_path = d.path().join("shard.tar");
    write_tar(
        &tar_path,
        &[
            ("x/a.png", &b"aaaa"[..]),
            ("b.jpg", b"bb"),
            ("big", &[0u8; 100]),
        ],
    );
    let prefix = tar_path.to_string_lossy().into_owned();
    let mut out = Vec::new();
    walk(
        &[Source::Tar(tar_path.clone())],
        50,
        &[],
        ALL,
        &mut |id| !id.ends_with("b.jpg"),
        &mut |it| {
            let (id, bytes) = it.read(ALL);
            out.push((id, bytes.map(|b| b.len()).ok()));
            true
        },
    )
    .expect("walk");
    assert_eq!(
        out,
        [
            (format!("{prefix}:x/a.png"), Some(4)),
            (format!("{prefix}:big"), None)
        ]
    );
}

#[test]
fn walks_screen_directory_files_and_tar_members_but_not_named_files() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path().join("in");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("a.jpg"), [0xFF, 0xD8, 0xFF, 0xE0]).expect("write");
    std::fs::write(dir.join("b.txt"), "text").expect("write");
    let tar_path = d.path().join("shard.tar");
    write_tar(
        &tar_path,
        &[("c.jpg", &[0xFF, 0xD8, 0xFF, 0xE0][..]), ("c.json", b"{}")],
    );
    let screen: Screen<'_> = &|head| crate::decode::sniff(head).is_some();
    let mut got = Vec::new();
    walk(
        &[
            Source::Dir(dir.clone()),
            Source::Tar(tar_path),
            Source::File(dir.join("b.txt")),
        ],
        1 << 20,
        &[],
        screen,
        &mut |_| true,
        &mut |it| {
            let (id, bytes) = it.read(screen);
            let name = id.rsplit(['/', ':']).next().expect("name").to_owned();
            got.push((name, bytes.map(|b| b.len()).map_err(|e| format!("{e:?}"))));
            true
        },
    )
    .expect("walk");
    let not_image = || Err("NotAnImage".to_string());
    assert_eq!(
        got,
        [
            ("a.jpg".to_string(), Ok(4)),
            ("b.txt".into(), not_image()),
            ("c.jpg".into(), Ok(4)),
            ("c.json".into(), not_image()),
            ("b.txt".into(), Ok(4)),
        ]
    );
}

#[cfg(unix)]
#[test]
fn walks_leave_out_pipes_and_directory_symlinks_and_follow_file_symlinks() {
    use std::os::unix::fs::symlink;
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path().join("in");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::write(root.join("sub/a.jpg"), b"aaaa").expect("write");
    symlink(root.join("sub"), root.join("loop")).expect("symlink");
    symlink(root.join("sub/a.jpg"), root.join("b.jpg")).expect("symlink");
    symlink(root.join("gone.jpg"), root.join("c.jpg")).expect("symlink");
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("d.pipe"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let mut ids = Vec::new();
    walk(
        &[Source::Dir(root.clone())],
        1 << 20,
        &[],
        ALL,
        &mut |_| true,
        &mut |it| {
            // Only the ids: reading the pipe would wait for a writer.
            ids.push(it.id.rsplit('/').next().expect("name").to_owned());
            true
        },
    )
    .expect("walk");
    // The dangling link is an item, whose read fails naming the cause.
    assert_eq!(ids, ["b.jpg", "c.jpg", "a.jpg"]);
}

#[test]
fn a_directory_that_cannot_be_listed_is_a_failed_item_and_the_walk_goes_on() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("a.jpg"), b"aaaa").expect("write");
    let gone = d.path().join("gone");
    let mut got = Vec::new();
    walk(
        &[Source::Dir(gone.clone()), Source::Dir(d.path().to_owned())],
        1 << 20,
        &[],
        ALL,
        &mut |_| true,
        &mut |it| {
            let (id, bytes) = it.read(ALL);
            got.push((id, bytes.map(|b| b.len()).map_err(|e| format!("{e:?}"))));
            true
        },
    )
    .expect("walk");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, path_id(&gone));
    let cause = got[0].1.as_ref().expect_err("failed");
    assert!(cause.contains("cannot list directory"), "{cause}");
    assert_eq!(got[1].1, Ok(4));
}
