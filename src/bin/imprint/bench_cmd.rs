//! `imprint bench`: make a near-duplicate dataset, measure PDQ's robustness on it, measure speed.

mod index;

use crate::output::diag;
use crate::EXIT_OK;
use anyhow::{Context, Result};
use imprint::bench::{
    evaluate, hash_dataset_with, jpeg_files, measure_fidelity, measure_speed, Dataset,
    DatasetBuilder, FidelitySettings, RobustnessSettings, ScaleRule, DEFAULT_FIDELITY_IMAGES,
    DEFAULT_NUM_DISTRACTORS, DEFAULT_NUM_ORIGINALS, DEFAULT_PREDICTIONS_PER_QUERY,
    DEFAULT_SCENE_WIDTH, DEFAULT_THRESHOLD, FULL_FIDELITY_IMAGES,
};
use imprint::decode::{DecodeOptions, FAST_JPEG_MIN_SIDE};
use imprint::files::OutputKind;
use std::path::{Path, PathBuf};

/// Arguments of `imprint bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
    /// Worker threads (default: all cores); at most 4 per core, as more only contend for the
    /// cores.
    #[arg(long, value_name = "N", global = true, value_parser = crate::args::decode_threads)]
    threads: Option<usize>,
}

#[derive(clap::Subcommand, Debug)]
enum BenchCommand {
    /// Generate a seeded near-duplicate dataset (originals, edited queries, distractors).
    MakeDataset(MakeDatasetArgs),
    /// Hash a dataset and report recall per edit, false matches, distances, ROC, ISC2021 μAP.
    Robustness(RobustnessArgs),
    /// Measure the throughput of each stage (read, decode, hash) and end to end.
    Speed(SpeedArgs),
    /// Index build, open, MIH radius, flat scan and HNSW k-nearest sweep.
    Index(index::IndexBenchArgs),
    /// `--fast` against exact hashes on generated JPEGs and given ones, per size band.
    FastFidelity(FastFidelityArgs),
}

#[derive(clap::Args, Debug)]
struct FastFidelityArgs {
    /// Report directory (`items.csv`, `summary.md`): new, empty, or an earlier report.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Write into --out even when it holds other files.
    #[arg(long)]
    force: bool,
    /// Seed of the generated JPEGs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Generated JPEGs (default: a run of a few minutes).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FIDELITY_IMAGES, conflicts_with = "full")]
    images: u32,
    /// Largest generated size in megapixels.
    #[arg(long, value_name = "MP", default_value_t = 50.0)]
    max_megapixels: f64,
    /// The full run: FULL_FIDELITY_IMAGES (2,000) generated JPEGs.
    #[arg(long)]
    full: bool,
    /// Directory searched (recursively) for .jpg/.jpeg files measured as they are; `none` for
    /// generated images only.
    #[arg(long, value_name = "DIR", default_value = "tests/data")]
    jpegs: PathBuf,
    /// Evaluate the earlier rule (every scale n/8, the smallest keeping both sides at least
    /// PX) instead of the current `--fast` rule.
    #[arg(long, value_name = "PX")]
    min_side: Option<u32>,
}

#[derive(clap::Args, Debug)]
struct MakeDatasetArgs {
    /// Output directory: new, empty, or an earlier dataset (holding `manifest.csv`).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Write into --out even when it holds other files (files of the dataset's names are
    /// replaced).
    #[arg(long)]
    force: bool,
    /// Seed: the same seed and settings give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Generated original scenes (the photos come in addition).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_NUM_ORIGINALS)]
    originals: u32,
    /// Unrelated distractor images.
    #[arg(long, value_name = "M", default_value_t = DEFAULT_NUM_DISTRACTORS)]
    distractors: u32,
    /// Width of generated scenes in pixels (height = 3/4).
    #[arg(long, value_name = "PX", default_value_t = DEFAULT_SCENE_WIDTH)]
    scene_width: u32,
    /// Directory of photos used as originals (its .jpg/.jpeg/.png files, in name order);
    /// `none` for generated scenes only.
    #[arg(long, value_name = "DIR", default_value = "datasets/sample")]
    photos: PathBuf,
}

#[derive(clap::Args, Debug)]
struct RobustnessArgs {
    /// Dataset directory (made by `imprint bench make-dataset`).
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,
    /// Largest Hamming distance counted as a match.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    threshold: u32,
    /// ISC2021 predictions written per query.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_PREDICTIONS_PER_QUERY)]
    predictions_per_query: usize,
    /// Report directory (default: DATASET/report): new, empty, or an earlier report (holding
    /// `run.csv`).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write into --out even when it holds other files (files of the report's names are
    /// replaced).
    #[arg(long)]
    force: bool,
    /// Hash as `imprint hash --fast` does (JPEGs of 1 MP and more decoded at reduced scale).
    #[arg(long)]
    fast: bool,
}

#[derive(clap::Args, Debug)]
struct SpeedArgs {
    /// Dataset directory (any directory with a `manifest.csv` written by make-dataset).
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,
}

/// Runs `imprint bench`.
pub fn run(args: BenchArgs) -> Result<u8> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot start the worker threads")?;
    }
    match args.command {
        BenchCommand::MakeDataset(a) => make_dataset(a),
        BenchCommand::Robustness(a) => robustness(a),
        BenchCommand::Speed(a) => speed(a),
        BenchCommand::Index(a) => index::index(a).map(crate::exit_code),
        BenchCommand::FastFidelity(a) => fast_fidelity(a),
    }
}

fn fast_fidelity(a: FastFidelityArgs) -> Result<u8> {
    let kind = OutputKind::Directory {
        marker: "summary.md",
    };
    imprint::files::check_output(&a.out, kind, &[a.jpegs.as_path()], a.force)
        .with_context(|| format!("cannot write the report to {}", a.out.display()))?;
    let files = if a.jpegs.as_os_str() == "none" {
        Vec::new()
    } else {
        jpeg_files(&a.jpegs).context("cannot list the JPEGs (use --jpegs none)")?
    };
    let settings = FidelitySettings {
        seed: a.seed,
        num_generated: if a.full {
            FULL_FIDELITY_IMAGES
        } else {
            a.images
        },
        max_megapixels: a.max_megapixels,
        files,
    };
    let report = measure_fidelity(&settings)?;
    let scale_rule = a
        .min_side
        .map_or(ScaleRule::Current, |min_side| ScaleRule::EveryEighth {
            min_side,
        });
    let name = scale_rule.name();
    let rule = move |w: u32, h: u32| scale_rule.numerator(w, h);
    report
        .write(&a.out, &name, &rule)
        .with_context(|| format!("cannot write the report to {}", a.out.display()))?;
    crate::output::out(&report.summary_markdown(&name, &rule))?;
    diag!("report written to {}", a.out.display());
    Ok(EXIT_OK)
}

fn photo_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.as_os_str() == "none" {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| {
            format!(
                "cannot list photos in {} (use --photos none)",
                dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn make_dataset(a: MakeDatasetArgs) -> Result<u8> {
    let kind = OutputKind::Directory {
        marker: "manifest.csv",
    };
    imprint::files::check_output(&a.out, kind, &[a.photos.as_path()], a.force)
        .with_context(|| format!("cannot make the dataset in {}", a.out.display()))?;
    let photos = photo_files(&a.photos)?;
    let ds = DatasetBuilder::new(a.seed)
        .originals(a.originals)
        .distractors(a.distractors)
        .scene_width(a.scene_width)
        .photos(photos)
        .build(&a.out)
        .with_context(|| format!("cannot make the dataset in {}", a.out.display()))?;
    crate::output::out(&format!(
        "{}: {} images, manifest sha256 {}\n",
        a.out.display(),
        ds.entries.len(),
        ds.manifest_sha256
    ))?;
    Ok(EXIT_OK)
}

fn robustness(a: RobustnessArgs) -> Result<u8> {
    let out = a.out.unwrap_or_else(|| a.dataset.join("report"));
    let kind = OutputKind::Directory { marker: "run.csv" };
    imprint::files::check_output(&out, kind, &[a.dataset.as_path()], a.force)
        .with_context(|| format!("cannot write the report to {}", out.display()))?;
    let ds = Dataset::open(&a.dataset)
        .with_context(|| format!("cannot open the dataset {}", a.dataset.display()))?;
    let jpeg_min_side = a.fast.then_some(FAST_JPEG_MIN_SIDE);
    let options = DecodeOptions {
        jpeg_min_side,
        ..DecodeOptions::default()
    };
    let hashes = hash_dataset_with(&ds, &options)?;
    let settings = RobustnessSettings {
        threshold: a.threshold,
        predictions_per_query: a.predictions_per_query,
        jpeg_min_side,
    };
    let report = evaluate(&ds, &hashes, settings)?;
    report
        .write(&out)
        .with_context(|| format!("cannot write the report to {}", out.display()))?;
    crate::output::out(&report.summary_markdown())?;
    diag!("report written to {}", out.display());
    Ok(EXIT_OK)
}

fn speed(a: SpeedArgs) -> Result<u8> {
    let ds = Dataset::open(&a.dataset)
        .with_context(|| format!("cannot open the dataset {}", a.dataset.display()))?;
    let report = measure_speed(&ds)?;
    crate::output::out(&report.to_string())?;
    Ok(EXIT_OK)
}
