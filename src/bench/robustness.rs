//! Robustness of PDQ on a [`Dataset`]: recall per edit and strength at a match threshold (with
//! and without dihedral matching), false-match rates among distinct images, distance
//! distributions, ROC and ISC2021 metrics.
//!
//! Definitions (all distances are Hamming distances between 256-bit hashes):
//!
//! * **plain distance** of a query and a reference: between their hashes as computed;
//! * **dihedral distance**: the smallest distance between any of the query's eight dihedral
//!   hashes and the reference's hash (what a lookup with `--dihedral` does);
//! * a query is **recalled** when its distance to its own original is at most the threshold;
//! * a **false match** is a pair of distinct images (a query and a reference it was not made
//!   from, or two references) at distance at most the threshold; the false-match rate divides
//!   by the number of such pairs;
//! * **ISC2021 predictions**: for each query the [`RobustnessSettings::predictions_per_query`]
//!   nearest references, scored `256 − distance`.

use super::dataset::{Dataset, Entry, Role};
use super::edit::EDIT_FAMILIES;
use super::error::{io_err, BenchError, Result};
use super::isc::{isc_metrics, IscMetrics, ScoredPair};
use super::machine::Machine;
use super::svg::{bar_chart, line_chart, Axis};
use crate::decode::{decode_file, DecodeOptions};
use crate::hash::{DihedralHashes, PdqHasher, RECOMMENDED_MIN_QUALITY};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The match threshold used by ThreatExchange / HMA for PDQ: distances up to 31 match.
pub const DEFAULT_THRESHOLD: u32 = 31;
/// ISC2021 predictions kept per query: enough for the correct reference to appear for most
/// edits while keeping the file small.
pub const DEFAULT_PREDICTIONS_PER_QUERY: usize = 10;

/// Number of possible distances, 0 to 256.
const NUM_DISTANCES: usize = 257;

/// One point of a ROC curve: `(threshold, true-positive rate, false-positive rate)`.
pub type RocPoint = (u32, f64, f64);

/// Settings of a robustness run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RobustnessSettings {
    /// Largest distance counted as a match. Default [`DEFAULT_THRESHOLD`].
    pub threshold: u32,
    /// ISC2021 predictions per query. Default [`DEFAULT_PREDICTIONS_PER_QUERY`].
    pub predictions_per_query: usize,
    /// The `--fast` minimum side the hashes were decoded with ([`hash_dataset_with`]), recorded
    /// in the outputs; `None` (the default) for exact decoding.
    pub jpeg_min_side: Option<u32>,
}

impl Default for RobustnessSettings {
    fn default() -> Self {
        RobustnessSettings {
            threshold: DEFAULT_THRESHOLD,
            predictions_per_query: DEFAULT_PREDICTIONS_PER_QUERY,
            jpeg_min_side: None,
        }
    }
}

/// Recall and distances of the queries of one edit (and parameter, or `all`).
#[derive(Clone, Debug, PartialEq)]
pub struct EditRecall {
    /// Edit family.
    pub edit: String,
    /// Parameter, or `all` for a whole family.
    pub param: String,
    /// Number of queries.
    pub num_queries: usize,
    /// Fraction recalled by plain matching.
    pub recall: f64,
    /// Fraction recalled by dihedral matching.
    pub recall_dihedral: f64,
    /// Mean plain distance to the original.
    pub mean_distance: f64,
    /// Mean dihedral distance to the original.
    pub mean_distance_dihedral: f64,
    /// Median dihedral distance to the original.
    pub median_distance_dihedral: u32,
}

/// Counts of distinct-image pairs and of those that match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FalseMatches {
    /// Pairs of distinct images compared.
    pub num_pairs: u64,
    /// Pairs within the threshold by plain distance.
    pub num_false_plain: u64,
    /// Pairs within the threshold by dihedral distance.
    pub num_false_dihedral: u64,
}

impl FalseMatches {
    /// Plain false-match rate (0 when there are no pairs).
    #[must_use]
    pub fn rate_plain(&self) -> f64 {
        self.num_false_plain as f64 / self.num_pairs.max(1) as f64
    }

    /// Dihedral false-match rate (0 when there are no pairs).
    #[must_use]
    pub fn rate_dihedral(&self) -> f64 {
        self.num_false_dihedral as f64 / self.num_pairs.max(1) as f64
    }
}

/// Distance histograms: `counts[d]` pairs at distance `d`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histograms {
    /// Query ↔ own original, plain.
    pub matching_plain: Vec<u64>,
    /// Query ↔ own original, dihedral.
    pub matching_dihedral: Vec<u64>,
    /// Query ↔ other references, plain.
    pub non_matching_plain: Vec<u64>,
    /// Query ↔ other references, dihedral.
    pub non_matching_dihedral: Vec<u64>,
}

/// One ISC2021 prediction line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// Query id.
    pub query_id: String,
    /// Reference id.
    pub reference_id: String,
    /// `256 − distance`.
    pub score: u32,
}

/// Everything a robustness run measured, and how.
#[derive(Clone, Debug)]
pub struct RobustnessReport {
    /// Settings used.
    pub settings: RobustnessSettings,
    /// The dataset's `params.txt` lines (`key=value`), seed included.
    pub dataset_params: Vec<(String, String)>,
    /// SHA-256 of the dataset's manifest.
    pub manifest_sha256: String,
    /// Where the run happened.
    pub machine: Machine,
    /// Number of originals, distractors and queries.
    pub num_originals: usize,
    /// Number of distractors.
    pub num_distractors: usize,
    /// Number of queries.
    pub num_queries: usize,
    /// Images with PDQ quality below [`RECOMMENDED_MIN_QUALITY`].
    pub num_low_quality: usize,
    /// Per edit and parameter.
    pub edits: Vec<EditRecall>,
    /// Per edit family (parameter `all`).
    pub families: Vec<EditRecall>,
    /// Query ↔ non-original reference pairs.
    pub false_matches_queries: FalseMatches,
    /// Reference ↔ reference pairs (originals and distractors, all distinct).
    pub false_matches_references: FalseMatches,
    /// Distance distributions.
    pub histograms: Histograms,
    /// ISC2021 metrics of the plain predictions.
    pub isc_plain: IscMetrics,
    /// ISC2021 metrics of the dihedral predictions.
    pub isc_dihedral: IscMetrics,
    /// Plain predictions.
    pub predictions_plain: Vec<Prediction>,
    /// Dihedral predictions.
    pub predictions_dihedral: Vec<Prediction>,
    /// `(id, hash hex, quality)` of every image, in manifest order.
    pub hashes: Vec<(String, String, u8)>,
}

/// Decodes and hashes every image of the dataset in parallel, in manifest order.
///
/// # Errors
/// [`BenchError::Decode`] naming the first image (in manifest order) that fails.
pub fn hash_dataset(dataset: &Dataset) -> Result<Vec<DihedralHashes>> {
    hash_dataset_with(dataset, &DecodeOptions::default())
}

/// [`hash_dataset`], decoding with `options` (`--fast`: [`DecodeOptions::jpeg_min_side`]).
///
/// # Errors
/// As [`hash_dataset`].
pub fn hash_dataset_with(
    dataset: &Dataset,
    options: &DecodeOptions,
) -> Result<Vec<DihedralHashes>> {
    dataset
        .entries
        .par_iter()
        .map_init(PdqHasher::new, |hasher, e| {
            let path = dataset.dir.join(&e.path);
            let img = decode_file(&path, options)
                .map_err(|source| BenchError::Decode { path, source })?;
            Ok(hasher.hash_dihedral(img.as_image_ref()))
        })
        .collect()
}

/// The smallest distance between any dihedral hash of `q` and the plain hash of `r`.
fn dihedral_distance(q: &DihedralHashes, r: &DihedralHashes) -> u32 {
    q.hashes
        .iter()
        .map(|h| h.distance(&r.hashes[0]))
        .min()
        .expect("there are eight dihedral hashes")
}

/// Per-query outcome, merged afterwards.
struct QueryOutcome {
    original_plain: u32,
    original_dihedral: u32,
    hist_plain: Vec<u64>,
    hist_dihedral: Vec<u64>,
    /// `(distance, reference index)`, nearest first.
    nearest_plain: Vec<(u32, usize)>,
    nearest_dihedral: Vec<(u32, usize)>,
}

/// Evaluates hashes (from [`hash_dataset`], in manifest order) against the dataset's ground
/// truth. Time O(queries × references + references²); memory O(queries × predictions).
///
/// # Errors
/// [`BenchError::InvalidSettings`] when the hashes do not match the manifest or a query names
/// an original that is not a reference.
pub fn evaluate(
    dataset: &Dataset,
    hashes: &[DihedralHashes],
    settings: RobustnessSettings,
) -> Result<RobustnessReport> {
    if hashes.len() != dataset.entries.len() {
        return Err(BenchError::InvalidSettings {
            problem: "one hash per manifest entry is needed",
        });
    }
    let refs: Vec<usize> = (0..dataset.entries.len())
        .filter(|&i| dataset.entries[i].role != Role::Query)
        .collect();
    let ref_index: HashMap<&str, usize> = refs
        .iter()
        .enumerate()
        .map(|(k, &i)| (dataset.entries[i].id.as_str(), k))
        .collect();
    let queries: Vec<(usize, usize)> = dataset
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.role == Role::Query)
        .map(|(i, e)| {
            ref_index
                .get(e.original.as_str())
                .map(|&k| (i, k))
                .ok_or(BenchError::InvalidSettings {
                    problem: "a query names an original that is not in the manifest",
                })
        })
        .collect::<Result<_>>()?;
    let t = settings.threshold;
    let k = settings.predictions_per_query.min(refs.len());

    let outcomes: Vec<QueryOutcome> = queries
        .par_iter()
        .map(|&(qi, own)| {
            let q = &hashes[qi];
            let mut o = QueryOutcome {
                original_plain: 0,
                original_dihedral: 0,
                hist_plain: vec![0; NUM_DISTANCES],
                hist_dihedral: vec![0; NUM_DISTANCES],
                nearest_plain: Vec::with_capacity(refs.len()),
                nearest_dihedral: Vec::with_capacity(refs.len()),
            };
            for (r, &ri) in refs.iter().enumerate() {
                let dp = q.hashes[0].distance(&hashes[ri].hashes[0]);
                let dd = dihedral_distance(q, &hashes[ri]);
                if r == own {
                    o.original_plain = dp;
                    o.original_dihedral = dd;
                } else {
                    o.hist_plain[dp as usize] += 1;
                    o.hist_dihedral[dd as usize] += 1;
                }
                o.nearest_plain.push((dp, r));
                o.nearest_dihedral.push((dd, r));
            }
            for v in [&mut o.nearest_plain, &mut o.nearest_dihedral] {
                v.sort_unstable();
                v.truncate(k);
            }
            o
        })
        .collect();

    let mut hist = Histograms {
        matching_plain: vec![0; NUM_DISTANCES],
        matching_dihedral: vec![0; NUM_DISTANCES],
        non_matching_plain: vec![0; NUM_DISTANCES],
        non_matching_dihedral: vec![0; NUM_DISTANCES],
    };
    for o in &outcomes {
        hist.matching_plain[o.original_plain as usize] += 1;
        hist.matching_dihedral[o.original_dihedral as usize] += 1;
        for d in 0..NUM_DISTANCES {
            hist.non_matching_plain[d] += o.hist_plain[d];
            hist.non_matching_dihedral[d] += o.hist_dihedral[d];
        }
    }
    let within = |h: &[u64]| {
        h[..=(t as usize).min(NUM_DISTANCES - 1)]
            .iter()
            .sum::<u64>()
    };
    let false_matches_queries = FalseMatches {
        num_pairs: hist.non_matching_plain.iter().sum(),
        num_false_plain: within(&hist.non_matching_plain),
        num_false_dihedral: within(&hist.non_matching_dihedral),
    };
    let false_matches_references = (0..refs.len())
        .into_par_iter()
        .map(|a| {
            let mut f = FalseMatches::default();
            for b in a + 1..refs.len() {
                let (ha, hb) = (&hashes[refs[a]], &hashes[refs[b]]);
                f.num_pairs += 1;
                f.num_false_plain += u64::from(ha.hashes[0].distance(&hb.hashes[0]) <= t);
                f.num_false_dihedral += u64::from(dihedral_distance(ha, hb) <= t);
            }
            f
        })
        .reduce(FalseMatches::default, |a, b| FalseMatches {
            num_pairs: a.num_pairs + b.num_pairs,
            num_false_plain: a.num_false_plain + b.num_false_plain,
            num_false_dihedral: a.num_false_dihedral + b.num_false_dihedral,
        });

    // Per edit and parameter, and per family.
    let entry = |qi: usize| -> &Entry { &dataset.entries[qi] };
    let mut groups: HashMap<(String, String), Vec<(u32, u32)>> = HashMap::new();
    let mut families: HashMap<(String, String), Vec<(u32, u32)>> = HashMap::new();
    for (&(qi, _), o) in queries.iter().zip(&outcomes) {
        let e = entry(qi);
        let d = (o.original_plain, o.original_dihedral);
        groups
            .entry((e.edit.clone(), e.param.clone()))
            .or_default()
            .push(d);
        families
            .entry((e.edit.clone(), "all".into()))
            .or_default()
            .push(d);
    }
    let recall_rows = |g: HashMap<(String, String), Vec<(u32, u32)>>| {
        let mut rows: Vec<EditRecall> = g
            .into_iter()
            .map(|((edit, param), ds)| {
                let n = ds.len();
                let mut dd: Vec<u32> = ds.iter().map(|d| d.1).collect();
                dd.sort_unstable();
                EditRecall {
                    edit,
                    param,
                    num_queries: n,
                    recall: ds.iter().filter(|d| d.0 <= t).count() as f64 / n as f64,
                    recall_dihedral: ds.iter().filter(|d| d.1 <= t).count() as f64 / n as f64,
                    mean_distance: ds.iter().map(|d| f64::from(d.0)).sum::<f64>() / n as f64,
                    mean_distance_dihedral: ds.iter().map(|d| f64::from(d.1)).sum::<f64>()
                        / n as f64,
                    median_distance_dihedral: dd[(n - 1) / 2],
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            family_rank(&a.edit)
                .cmp(&family_rank(&b.edit))
                .then(a.edit.cmp(&b.edit))
                .then(param_order(&a.param).total_cmp(&param_order(&b.param)))
        });
        rows
    };

    // ISC2021 predictions and metrics.
    let mut predictions_plain = Vec::new();
    let mut predictions_dihedral = Vec::new();
    let mut scored_plain = Vec::new();
    let mut scored_dihedral = Vec::new();
    for (&(qi, own), o) in queries.iter().zip(&outcomes) {
        for (nearest, preds, scored) in [
            (&o.nearest_plain, &mut predictions_plain, &mut scored_plain),
            (
                &o.nearest_dihedral,
                &mut predictions_dihedral,
                &mut scored_dihedral,
            ),
        ] {
            for &(d, r) in nearest {
                preds.push(Prediction {
                    query_id: entry(qi).id.clone(),
                    reference_id: dataset.entries[refs[r]].id.clone(),
                    score: 256 - d,
                });
                scored.push(ScoredPair {
                    score: f64::from(256 - d),
                    correct: r == own,
                });
            }
        }
    }

    let hashes_out = dataset
        .entries
        .iter()
        .zip(hashes)
        .map(|(e, h)| (e.id.clone(), h.hashes[0].to_string(), h.quality))
        .collect();
    Ok(RobustnessReport {
        settings,
        dataset_params: read_params(&dataset.dir),
        manifest_sha256: dataset.manifest_sha256.clone(),
        machine: Machine::current(),
        num_originals: count(dataset, Role::Original),
        num_distractors: count(dataset, Role::Distractor),
        num_queries: queries.len(),
        num_low_quality: hashes
            .iter()
            .filter(|h| h.quality < RECOMMENDED_MIN_QUALITY)
            .count(),
        edits: recall_rows(groups),
        families: recall_rows(families),
        false_matches_queries,
        false_matches_references,
        histograms: hist,
        isc_plain: isc_metrics(&scored_plain, queries.len()),
        isc_dihedral: isc_metrics(&scored_dihedral, queries.len()),
        predictions_plain,
        predictions_dihedral,
        hashes: hashes_out,
    })
}

fn count(dataset: &Dataset, role: Role) -> usize {
    dataset.entries.iter().filter(|e| e.role == role).count()
}

fn family_rank(edit: &str) -> usize {
    EDIT_FAMILIES
        .iter()
        .position(|f| f[0].name() == edit)
        .unwrap_or(usize::MAX)
}

fn param_order(param: &str) -> f64 {
    param.parse().unwrap_or(f64::MAX)
}

fn read_params(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join("params.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl RobustnessReport {
    /// The dataset seed, from its `params.txt` (empty when unknown).
    #[must_use]
    pub fn seed(&self) -> &str {
        self.dataset_params
            .iter()
            .find(|(k, _)| k == "seed")
            .map_or("", |(_, v)| v.as_str())
    }

    /// `(threshold, true-positive rate, false-positive rate)` for every threshold 0–256, plain
    /// then dihedral.
    #[must_use]
    pub fn roc(&self) -> (Vec<RocPoint>, Vec<RocPoint>) {
        let curve = |m: &[u64], n: &[u64]| {
            let (tm, tn) = (m.iter().sum::<u64>().max(1), n.iter().sum::<u64>().max(1));
            let (mut cm, mut cn) = (0u64, 0u64);
            (0..NUM_DISTANCES)
                .map(|d| {
                    cm += m[d];
                    cn += n[d];
                    (d as u32, cm as f64 / tm as f64, cn as f64 / tn as f64)
                })
                .collect()
        };
        let h = &self.histograms;
        (
            curve(&h.matching_plain, &h.non_matching_plain),
            curve(&h.matching_dihedral, &h.non_matching_dihedral),
        )
    }

    /// The run's parameters as `(key, value)` lines, for every output.
    #[must_use]
    pub fn run_parameters(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("imprint_version".into(), env!("CARGO_PKG_VERSION").into()),
            ("threshold".into(), self.settings.threshold.to_string()),
            (
                "predictions_per_query".into(),
                self.settings.predictions_per_query.to_string(),
            ),
            (
                "decode".into(),
                self.settings
                    .jpeg_min_side
                    .map_or_else(|| "exact".into(), |px| format!("fast, jpeg min side {px}")),
            ),
            ("manifest_sha256".into(), self.manifest_sha256.clone()),
            ("machine".into(), self.machine.to_string()),
        ];
        p.extend(
            self.dataset_params
                .iter()
                .map(|(k, v)| (format!("dataset_{k}"), v.clone())),
        );
        p
    }

    /// The Markdown summary (`summary.md`).
    #[must_use]
    pub fn summary_markdown(&self) -> String {
        let mut s = String::new();
        let t = self.settings.threshold;
        let _ = writeln!(s, "# PDQ robustness\n");
        let _ = writeln!(
            s,
            "{} originals, {} distractors, {} queries; match threshold {t}; seed {}; \
             manifest sha256 `{}`; imprint {}; {}.\n",
            self.num_originals,
            self.num_distractors,
            self.num_queries,
            self.seed(),
            self.manifest_sha256,
            env!("CARGO_PKG_VERSION"),
            self.machine
        );
        let _ = writeln!(s, "## Recall at distance ≤ {t}, per edit\n");
        let _ = writeln!(
            s,
            "| edit | param | queries | recall | recall (dihedral) | mean dist. | mean dist. (dihedral) | median dist. (dihedral) |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
        for r in self.families.iter().chain(&self.edits) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.3} | {:.3} | {:.1} | {:.1} | {} |",
                r.edit,
                if r.param.is_empty() { "–" } else { &r.param },
                r.num_queries,
                r.recall,
                r.recall_dihedral,
                r.mean_distance,
                r.mean_distance_dihedral,
                r.median_distance_dihedral
            );
        }
        let _ = writeln!(
            s,
            "\n## False matches (distinct images at distance ≤ {t})\n"
        );
        let _ = writeln!(s, "| pairs | number | rate | rate (dihedral) |");
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for (name, f) in [
            ("query ↔ other reference", &self.false_matches_queries),
            ("reference ↔ reference", &self.false_matches_references),
        ] {
            let _ = writeln!(
                s,
                "| {name} | {} | {:.3e} | {:.3e} |",
                f.num_pairs,
                f.rate_plain(),
                f.rate_dihedral()
            );
        }
        let closest = |h: &[u64]| {
            h.iter()
                .position(|&c| c > 0)
                .map_or("–".into(), |d| d.to_string())
        };
        let _ = writeln!(
            s,
            "\nClosest query ↔ other-reference pair: distance {} ({} with dihedral matching).",
            closest(&self.histograms.non_matching_plain),
            closest(&self.histograms.non_matching_dihedral)
        );
        let _ = writeln!(s, "\n## ISC2021 metrics\n");
        let _ = writeln!(
            s,
            "{} predictions per query, score = 256 − distance, all queries have one ground-truth \
             reference.\n",
            self.settings.predictions_per_query
        );
        let _ = writeln!(
            s,
            "| matching | μAP | recall at 90 % precision | score there |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for (name, m) in [("plain", &self.isc_plain), ("dihedral", &self.isc_dihedral)] {
            let _ = writeln!(
                s,
                "| {name} | {:.4} | {:.4} | {} |",
                m.micro_ap,
                m.recall_at_p90,
                m.threshold_at_p90.map_or("–".into(), |v| format!("{v}"))
            );
        }
        let _ = writeln!(
            s,
            "\n{} images have PDQ quality below {RECOMMENDED_MIN_QUALITY}.\n\n\
             Files: `robustness.csv`, `distances.csv`, `roc.csv`, `predictions_plain.csv`, \
             `predictions_dihedral.csv`, `hashes.csv`, `run.csv`, `recall_per_edit.svg`, \
             `distance_histogram.svg`, `roc.svg`.",
            self.num_low_quality
        );
        s
    }

    /// Writes every output file into `dir` (created if needed) and returns their paths.
    ///
    /// # Errors
    /// [`BenchError::Io`] naming the file that could not be written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut written = Vec::new();
        let mut put = |name: &str, text: String| -> Result<()> {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(io_err(&p))?;
            written.push(p);
            Ok(())
        };
        let mut run = String::from("key,value\n");
        for (k, v) in self.run_parameters() {
            let _ = writeln!(run, "{k},\"{}\"", v.replace('"', "'"));
        }
        put("run.csv", run)?;

        let mut csv = String::from(
            "edit,param,num_queries,recall,recall_dihedral,mean_distance,\
             mean_distance_dihedral,median_distance_dihedral\n",
        );
        for r in self.families.iter().chain(&self.edits) {
            let _ = writeln!(
                csv,
                "{},{},{},{:.6},{:.6},{:.3},{:.3},{}",
                r.edit,
                r.param,
                r.num_queries,
                r.recall,
                r.recall_dihedral,
                r.mean_distance,
                r.mean_distance_dihedral,
                r.median_distance_dihedral
            );
        }
        put("robustness.csv", csv)?;

        let h = &self.histograms;
        let mut csv = String::from(
            "distance,matching_plain,matching_dihedral,non_matching_plain,non_matching_dihedral\n",
        );
        for d in 0..NUM_DISTANCES {
            let _ = writeln!(
                csv,
                "{d},{},{},{},{}",
                h.matching_plain[d],
                h.matching_dihedral[d],
                h.non_matching_plain[d],
                h.non_matching_dihedral[d]
            );
        }
        put("distances.csv", csv)?;

        let (roc_plain, roc_dihedral) = self.roc();
        let mut csv = String::from("threshold,tpr_plain,fpr_plain,tpr_dihedral,fpr_dihedral\n");
        for (p, d) in roc_plain.iter().zip(&roc_dihedral) {
            let _ = writeln!(csv, "{},{:.6},{:.9},{:.6},{:.9}", p.0, p.1, p.2, d.1, d.2);
        }
        put("roc.csv", csv)?;

        for (name, preds) in [
            ("predictions_plain.csv", &self.predictions_plain),
            ("predictions_dihedral.csv", &self.predictions_dihedral),
        ] {
            let mut csv = String::from("query_id,reference_id,score\n");
            for p in preds {
                let _ = writeln!(csv, "{},{},{}", p.query_id, p.reference_id, p.score);
            }
            put(name, csv)?;
        }

        let mut csv = String::from("id,pdq,quality\n");
        for (id, hash, q) in &self.hashes {
            let _ = writeln!(csv, "{id},{hash},{q}");
        }
        put("hashes.csv", csv)?;
        put("summary.md", self.summary_markdown())?;

        let cats: Vec<String> = self.families.iter().map(|r| r.edit.clone()).collect();
        put(
            "recall_per_edit.svg",
            bar_chart(
                &format!("PDQ recall at distance ≤ {}", self.settings.threshold),
                "recall",
                1.0,
                &cats,
                &[
                    ("plain", self.families.iter().map(|r| r.recall).collect()),
                    (
                        "dihedral",
                        self.families.iter().map(|r| r.recall_dihedral).collect(),
                    ),
                ],
            ),
        )?;
        let frac = |v: &[u64]| {
            let n = v.iter().sum::<u64>().max(1) as f64;
            v.iter()
                .enumerate()
                .map(|(d, &c)| (d as f64, c as f64 / n))
                .collect::<Vec<_>>()
        };
        let y_max = [
            &h.matching_dihedral,
            &h.non_matching_dihedral,
            &h.matching_plain,
        ]
        .iter()
        .flat_map(|v| frac(v))
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-3);
        put(
            "distance_histogram.svg",
            line_chart(
                "PDQ distance distributions",
                (
                    "Hamming distance",
                    Axis {
                        min: 0.0,
                        max: 256.0,
                        log: false,
                    },
                ),
                (
                    "fraction of pairs",
                    Axis {
                        min: 0.0,
                        max: y_max,
                        log: false,
                    },
                ),
                &[
                    ("same image (plain)", frac(&h.matching_plain)),
                    ("same image (dihedral)", frac(&h.matching_dihedral)),
                    ("distinct (plain)", frac(&h.non_matching_plain)),
                    ("distinct (dihedral)", frac(&h.non_matching_dihedral)),
                ],
                Some(f64::from(self.settings.threshold)),
            ),
        )?;
        let num_neg = self.false_matches_queries.num_pairs.max(1) as f64;
        let x_min = 10f64.powf((1.0 / num_neg).log10().floor());
        let pts = |c: &[RocPoint]| c.iter().map(|p| (p.2, p.1)).collect::<Vec<_>>();
        put(
            "roc.svg",
            line_chart(
                "PDQ ROC (thresholds 0–256)",
                (
                    "false-match rate (log)",
                    Axis {
                        min: x_min,
                        max: 1.0,
                        log: true,
                    },
                ),
                (
                    "recall",
                    Axis {
                        min: 0.0,
                        max: 1.0,
                        log: false,
                    },
                ),
                &[("plain", pts(&roc_plain)), ("dihedral", pts(&roc_dihedral))],
                None,
            ),
        )?;
        Ok(written)
    }
}
