//! Index: golden format file and the `imprint index|query|match` CLI.

use std::path::Path;

use imprint::hash::Pdq256;
use imprint::index::{Index, IndexBuilder, RecordId, SearchScratch, FORMAT_VERSION};

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/format/index/v2");
/// The last version-1 file, kept to check that older files are refused with a clear error.
const GOLDEN_V1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/format/index/v1/golden.idx"
);

/// The fixed golden input: 48 hashes in 6 clusters (xorshift64*, seed 1), ids `g0..g47`.
fn golden_input() -> (Vec<Pdq256>, Vec<String>) {
    let mut s = 1u64;
    let mut next = || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut hashes = Vec::new();
    for _ in 0..6 {
        let c = [next(), next(), next(), next()];
        for v in 0..8u64 {
            let mut w = c;
            // Variant v flips v bits at pseudo-random positions.
            for _ in 0..v * 3 {
                let k = (next() % 256) as usize;
                w[k / 64] ^= 1 << (k % 64);
            }
            hashes.push(Pdq256::from_words(w));
        }
    }
    let ids = (0..hashes.len()).map(|i| format!("g{i}")).collect();
    (hashes, ids)
}

fn golden_builder() -> IndexBuilder {
    IndexBuilder::new()
        .seed(7)
        .m(4)
        .m0(8)
        .ef_construction(16)
        .mih_num_substrings(8)
}

/// Zeroes the writer version (diagnostics only) and the header CRC that covers it.
fn normalise(mut b: Vec<u8>) -> Vec<u8> {
    b[80..96].fill(0);
    b[508..512].fill(0);
    b
}

#[test]
fn golden_v2_file_is_reproduced_byte_for_byte_and_opens() {
    let (hashes, ids) = golden_input();
    let built = golden_builder().build(&hashes, &ids).unwrap();
    let path = Path::new(GOLDEN_DIR).join("golden.idx");
    if std::env::var_os("IMPRINT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &built).unwrap();
    }
    let golden = std::fs::read(&path).expect("golden file (IMPRINT_UPDATE_GOLDEN=1 writes it)");
    assert!(
        normalise(built) == normalise(golden.clone()),
        "the writer no longer reproduces {}: bump FORMAT_VERSION and add v{} if the change is intended",
        path.display(),
        FORMAT_VERSION + 1
    );
    let index = Index::from_bytes(golden).unwrap();
    index.verify().unwrap();
    assert_eq!(index.len(), 48);
    let mut s = SearchScratch::new();
    // Cluster 2 (records 16..24): variants flip 0..=21 bits, so all are within 31 of the centre
    // (random centres are ~128 bits apart).
    let found = index
        .search_radius(&hashes[16], 31, &mut s)
        .unwrap()
        .to_vec();
    let records: Vec<u32> = found.iter().map(|m| m.record.0).collect();
    assert_eq!(records.iter().copied().min(), Some(16));
    assert!((16..24).all(|r| records.contains(&r)), "{records:?}");
    assert_eq!(index.id(RecordId(20)).unwrap(), "g20");
    let knn = index.search_knn(&hashes[40], 3, 16, &mut s).unwrap();
    assert_eq!(knn[0].record, RecordId(40));
}

#[test]
fn version_1_files_are_refused_with_the_supported_range() {
    let bytes = std::fs::read(GOLDEN_V1).unwrap();
    match Index::from_bytes(bytes) {
        Err(imprint::index::IndexError::UnsupportedVersion {
            found,
            oldest,
            newest,
        }) => assert_eq!((found, oldest, newest), (1, 2, FORMAT_VERSION)),
        Err(e) => panic!("expected UnsupportedVersion, got {e}"),
        Ok(_) => panic!("a version 1 file opened"),
    }
    let err = Index::open(GOLDEN_V1).expect_err("refused").to_string();
    assert!(err.contains('1') && err.contains('2'), "{err}");
}

/// The command-line program (built only with the `cli` feature).
#[cfg(feature = "cli")]
mod cli {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output, Stdio};

    use imprint::hash::Pdq256;

    use super::golden_input;

    fn imprint(args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imprint"));
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn write_list(dir: &Path) -> (PathBuf, Vec<Pdq256>) {
        let (hashes, _) = golden_input();
        let mut body = String::from("hash,id\n");
        for (i, h) in hashes.iter().enumerate() {
            if i % 2 == 0 {
                body.push_str(&format!("{h},list-{i}\n"));
            } else {
                body.push_str(&format!("{{\"hash\":\"{h}\",\"id\":\"list-{i}\"}}\n"));
            }
        }
        body.push_str("0123,short\n");
        let path = dir.join("list.csv");
        std::fs::write(&path, body).unwrap();
        (path, hashes)
    }

    /// `imprint index build FLAGS... --out OUT LIST`.
    fn index_build(flags: &[&str], out: &Path, list: &Path) -> Output {
        let mut args = vec!["index", "build"];
        args.extend_from_slice(flags);
        args.extend(["--out", out.to_str().unwrap(), list.to_str().unwrap()]);
        imprint(&args, None)
    }

    /// The list of [`write_list`] indexed by `imprint index build` into `dir/l.idx`.
    fn build_list_index(dir: &Path) -> (PathBuf, Vec<Pdq256>) {
        let (list, hashes) = write_list(dir);
        let idx = dir.join("l.idx");
        let o = index_build(&[], &idx, &list);
        assert!(idx.exists(), "index build failed: {}", text(&o.stderr));
        (idx, hashes)
    }

    #[test]
    fn cli_build_reports_bad_lines_with_numbers_and_indexes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (list, _) = write_list(dir.path());
        let out = dir.path().join("l.idx");
        let o = index_build(&[], &out, &list);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("list.csv:50:"),
            "{}",
            text(&o.stderr)
        );
        let o = imprint(&["index", "verify", out.to_str().unwrap()], None);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
        let o = imprint(&["index", "info", out.to_str().unwrap()], None);
        assert!(text(&o.stdout).contains("num_hashes: 48"));
        // --strict writes nothing.
        let strict = dir.path().join("s.idx");
        let o = index_build(&["--strict"], &strict, &list);
        assert_eq!(o.status.code(), Some(1));
        assert!(!strict.exists());
    }

    #[test]
    fn cli_verify_fails_on_a_corrupt_file_and_open_errors_are_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let (out, _) = build_list_index(dir.path());
        let mut b = std::fs::read(&out).unwrap();
        let last = b.len() - 3;
        b[last] ^= 0xff;
        std::fs::write(&out, &b).unwrap();
        let o = imprint(&["index", "verify", out.to_str().unwrap()], None);
        // Corruption found is fatal, as in `store verify`.
        assert_eq!(o.status.code(), Some(2));
        assert!(
            text(&o.stdout).contains("checksum mismatch in section hnsw_"),
            "{}",
            text(&o.stdout)
        );
        let o = imprint(
            &["query", "--index", "/nonexistent.idx", &"0".repeat(64)],
            None,
        );
        assert_eq!(o.status.code(), Some(2));
        assert!(text(&o.stderr).contains("/nonexistent.idx"));
    }

    #[test]
    fn cli_query_radius_knn_exact_and_dihedral() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, hashes) = build_list_index(dir.path());
        let idx = idx.to_str().unwrap();
        let q = hashes[8].to_string();
        let o = imprint(&["query", "--index", idx, &q], None);
        assert_eq!(o.status.code(), Some(0));
        let radius = text(&o.stdout);
        let mut lines = radius.lines();
        assert_eq!(lines.next(), Some("query_hash,match_hash,distance,id"));
        assert_eq!(lines.next().unwrap(), format!("{q},{q},0,list-8"));
        assert!(radius.lines().count() >= 9);
        // --exact gives the same radius answer.
        let o = imprint(&["query", "--index", idx, "--exact", &q], None);
        assert_eq!(text(&o.stdout), radius);
        // Queries from stdin, one bad.
        let o = imprint(
            &["query", "--index", idx, "--k", "2", "--format", "jsonl"],
            Some(&format!("{q}\nnope\n")),
        );
        assert_eq!(o.status.code(), Some(1));
        let out = text(&o.stdout);
        assert_eq!(out.lines().count(), 2);
        assert!(out.lines().next().unwrap().contains("\"distance\":0"));
        // Dihedral: the match comes through the fourth transform.
        let mut eight = vec![Pdq256::from_words([1, 2, 3, 4]).to_string(); 8];
        eight[3] = q.clone();
        let o = imprint(
            &[
                "query",
                "--index",
                idx,
                "--dihedral",
                "--max-distance",
                "0",
                &eight.join(","),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        assert_eq!(
            out.lines().nth(1).unwrap(),
            format!("{q},{q},0,list-8,rot270")
        );
    }

    #[test]
    fn cli_match_reports_query_id_list_id_distance_transform() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, hashes) = build_list_index(dir.path());
        let mut far = hashes[0];
        for k in 0..100 {
            far.flip_bit(k * 2);
        }
        let run = format!(
            "{{\"path\":\"a.jpg\",\"hash\":\"{}\"}}\n{{\"path\":\"b.jpg\",\"hash\":\"{far}\"}}\n",
            hashes[45]
        );
        let runfile = dir.path().join("run.jsonl");
        std::fs::write(&runfile, run).unwrap();
        let o = imprint(
            &[
                "match",
                "--index",
                idx.to_str().unwrap(),
                "--max-distance",
                "0",
                runfile.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "query_id,list_id,distance,transform,query_hash,match_hash"
        );
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[1].starts_with("a.jpg,list-45,0,original,"));
    }
    #[test]
    fn cli_match_by_scan_prints_what_mih_lookups_print() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, hashes) = build_list_index(dir.path());
        // Plain and dihedral queries near listed hashes, at distances across the radius.
        let mut lines = String::new();
        for (i, h) in hashes.iter().enumerate() {
            let mut q = *h;
            for k in 0..(i % 40) {
                q.flip_bit(k * 5);
            }
            if i % 2 == 0 {
                lines.push_str(&format!("{q},q{i}\n"));
            } else {
                let eight: Vec<String> = (0..8)
                    .map(|t| hashes[(i + t) % hashes.len()].to_string())
                    .collect();
                lines.push_str(&format!("{},q{i}\n", eight.join(",")));
            }
        }
        let queries = dir.path().join("queries.csv");
        std::fs::write(&queries, lines).unwrap();
        let run = |method: &str| {
            let o = imprint(
                &[
                    "match",
                    "--index",
                    idx.to_str().unwrap(),
                    "--method",
                    method,
                    queries.to_str().unwrap(),
                ],
                None,
            );
            assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
            text(&o.stdout)
        };
        let (mih, scan) = (run("mih"), run("scan"));
        assert!(mih.lines().count() > hashes.len(), "{mih}");
        assert_eq!(mih, scan);
    }
}
