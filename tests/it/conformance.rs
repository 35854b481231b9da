//! PDQ conformance: Meta's test images against hashes from the reference implementation
//! (`tests/data/pdq/`, see its README for provenance and conventions).

use imprint::decode::{decode_file, DecodeOptions};
use imprint::hash::{Convention, Pdq256, PdqHasher};
use std::path::{Path, PathBuf};

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdq")
}

/// `(hashes, quality, path)` lines of an oracle file.
pub fn oracle(name: &str) -> Vec<(Vec<Pdq256>, u8, String)> {
    let text = std::fs::read_to_string(data_dir().join("expected").join(name)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let (path, rest) = parts.split_last().unwrap();
            let (quality, hashes) = rest.split_last().unwrap();
            (
                hashes.iter().map(|h| h.parse().unwrap()).collect(),
                quality.parse().unwrap(),
                (*path).to_string(),
            )
        })
        .collect()
}

/// Decoder-independent inputs: everything but JPEG.
fn lossless(path: &str) -> bool {
    !path.ends_with(".jpg") && !path.ends_with(".jpeg")
}

struct Outcome {
    path: String,
    expected: (Vec<Pdq256>, u8),
    actual: (Vec<Pdq256>, u8),
}

impl Outcome {
    fn distance(&self) -> u32 {
        self.expected
            .0
            .iter()
            .zip(&self.actual.0)
            .map(|(a, b)| a.distance(b))
            .max()
            .unwrap_or(0)
    }
    fn exact(&self) -> bool {
        self.expected == self.actual
    }
}

fn run(oracle_name: &str, convention: Convention, exif: bool, dihedral: bool) -> Vec<Outcome> {
    let options = DecodeOptions {
        apply_exif: exif,
        ..DecodeOptions::default()
    };
    let mut hasher = PdqHasher::new();
    oracle(oracle_name)
        .into_iter()
        .map(|(hashes, quality, path)| {
            let img = decode_file(&data_dir().join(&path), &options)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            let prepared = convention.prepare(img.as_image_ref());
            let actual = if dihedral {
                let d = hasher.hash_dihedral(prepared.image());
                (d.hashes.to_vec(), d.quality)
            } else {
                let h = hasher.hash(prepared.image());
                (vec![h.hash], h.quality)
            };
            Outcome {
                path,
                expected: (hashes, quality),
                actual,
            }
        })
        .collect()
}

/// Every input must match exactly: lossless ones because the arithmetic is the reference's, JPEG
/// ones because the decoder is too. Even the documented exception of the data set (the flat grey
/// image, whose DCT is pure rounding noise) matches, since the order of `f32` operations is
/// the reference's.
fn check(outcomes: &[Outcome]) {
    let mut failures = Vec::new();
    for o in outcomes {
        if !o.exact() {
            failures.push(format!(
                "{}: expected {:?} q{}, got {:?} q{} ({} bits)",
                o.path,
                o.expected.0,
                o.expected.1,
                o.actual.0,
                o.actual.1,
                o.distance()
            ));
        }
    }
    let jpegs = outcomes.iter().filter(|o| !lossless(&o.path)).count();
    let jpeg_exact = outcomes
        .iter()
        .filter(|o| !lossless(&o.path) && o.exact())
        .count();
    eprintln!("JPEG inputs matching exactly: {jpeg_exact}/{jpegs}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fullres_matches_reference() {
    let outcomes = run(
        "oracle-fullres.txt",
        Convention::FullResolution,
        false,
        false,
    );
    assert!(outcomes.len() >= 70);
    assert!(outcomes.iter().filter(|o| lossless(&o.path)).count() >= 30);
    check(&outcomes);
}

#[test]
fn dihedral_matches_reference() {
    check(&run(
        "oracle-fullres-dihedral.txt",
        Convention::FullResolution,
        false,
        true,
    ));
}

#[test]
fn cpp_cli_convention_matches_reference() {
    check(&run(
        "oracle-cli-compat.txt",
        Convention::CppCli,
        false,
        false,
    ));
}

#[test]
fn exif_orientation_matches_reference() {
    check(&run(
        "oracle-exif.txt",
        Convention::FullResolution,
        true,
        false,
    ));
}

#[test]
fn dct_coefficients_match_reference() {
    let text = std::fs::read_to_string(data_dir().join("expected/oracle-fullres-dct.txt")).unwrap();
    let mut hasher = PdqHasher::new();
    let mut worst = 0f64;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let path = parts[parts.len() - 1];
        let expected: Vec<f32> = parts[..256].iter().map(|v| v.parse().unwrap()).collect();
        let img = decode_file(&data_dir().join(path), &DecodeOptions::default()).unwrap();
        let f = hasher.float(img.as_image_ref());
        for (k, (&a, &e)) in f.dct.iter().zip(&expected).enumerate() {
            let err = (f64::from(a) - f64::from(e)).abs() / f64::from(e.abs()).max(1.0);
            worst = worst.max(err);
            assert_eq!(
                a.to_bits(),
                e.to_bits(),
                "{path}: coefficient {k}: {a} vs {e}"
            );
        }
    }
    eprintln!("worst relative DCT error: {worst:e}");
}
