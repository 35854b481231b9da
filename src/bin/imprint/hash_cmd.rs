//! `imprint hash`: hash images and print one line per image, or, with `--out`, run into a hash
//! store ([`bulk`]).

mod bulk;

use crate::output::{diag, Format};
use crate::{EXIT_FATAL, EXIT_ITEM_FAILURES, EXIT_OK};
use anyhow::{bail, Result};
use imprint::decode::{DecodeOptions, DEFAULT_MAX_PIXELS};
use imprint::hash::{Convention, Hashed};
use imprint::hashlist::{self, JsonIdKey};
use imprint::pipeline::{ItemError, Pipeline, RootTally, Sink, Source, StandardDecoder};
use imprint::{Backend, BackendHasher};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Arguments of `imprint hash`.
#[derive(clap::Args, Debug)]
pub struct HashArgs {
    /// Image files, directories (searched recursively, in name order) and tar archives; `-`
    /// reads one image from standard input.
    pub paths: Vec<PathBuf>,
    /// Read more files from FILE, one path per line, relative to the current directory (`-`
    /// for standard input); each line is the file's id.
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Also print the 8 dihedral hashes (original, rot90, rot180, rot270, flipx, flipy,
    /// flipplus1, flipminus1).
    #[arg(long)]
    pub dihedral: bool,
    /// Drop hashes with quality below Q (the PDQ ecosystem discards quality < 50).
    #[arg(long, value_name = "Q", default_value_t = 0)]
    pub min_quality: u8,
    /// Decode threads (default, or 0: all cores); at most 4 per core, as more only contend
    /// for the cores.
    #[arg(long, value_name = "N", value_parser = crate::args::decode_threads)]
    pub threads: Option<usize>,
    /// Hashing convention: `fullres` (default; pdqhash-python, HMA) or `cpp-cli` (Meta's C++
    /// `pdq-photo-hasher`, which first resizes images over 512 px to 512×512).
    #[arg(long, value_enum, default_value_t = Compat::Fullres)]
    pub compat: Compat,
    /// Apply the EXIF orientation before hashing (reference hashes do not).
    #[arg(long)]
    pub exif: bool,
    /// Largest accepted image, in pixels (checked before decoding).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Where to hash: `auto` (a hardware GPU when present, else the CPU), `cpu`, or `gpu`
    /// (any adapter, software ones included; an error when there is none). Same hashes on all.
    #[arg(long, value_name = "auto|cpu|gpu", default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// When hashing on a GPU, use adapter N (from 0: discrete GPUs first, each kind in the
    /// driver's order), e.g. one process per GPU, each with its own --shard. Default: the
    /// first. With --backend gpu, an error names the adapters found when there is no adapter
    /// N; with auto, that means the CPU, as no GPU does.
    #[arg(long, value_name = "N")]
    pub gpu: Option<usize>,
    /// Fast mode: decode JPEGs of 1 MP and more at 1/2, 1/4 or 1/8 scale in the DCT domain,
    /// keeping each side at least 512 px; smaller ones as in exact mode. Hashes differ slightly
    /// (99.8 % within 10 bits of exact mode, none beyond 12, on the held-out benchmark corpus).
    #[arg(long)]
    pub fast: bool,
    #[command(flatten)]
    pub bulk: bulk::BulkArgs,
}

impl HashArgs {
    /// Decoding settings from `--max-pixels`, `--exif` and `--fast`.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            max_pixels: self.max_pixels,
            apply_exif: self.exif,
            jpeg_min_side: self.fast.then_some(self.bulk.fast_min_side),
        }
    }

    /// The decoder for `--max-pixels`, `--exif`, `--fast` and `--compat`.
    pub fn decoder(&self) -> StandardDecoder {
        StandardDecoder {
            options: self.decode_options(),
            convention: self.convention(),
            ..StandardDecoder::default()
        }
    }

    /// A pipeline with `--dihedral`, `--threads`, `--read-threads` and, when `--backend` and
    /// `--gpu` choose a GPU, its batch hasher.
    pub fn pipeline(&self) -> Result<Pipeline> {
        let mut pipeline = Pipeline::new().dihedral(self.dihedral);
        if let Some(t) = self.threads.filter(|&t| t > 0) {
            pipeline = pipeline.threads(t);
        }
        if let Some(t) = self.bulk.read_threads {
            pipeline = pipeline.read_threads(t);
        }
        Ok(pipeline.hasher(self.batch_hasher()?))
    }

    /// The hasher for `--backend` and `--gpu`.
    pub fn batch_hasher(&self) -> Result<BackendHasher> {
        crate::args::batch_hasher(self.backend, self.gpu)
    }

    /// The hashing convention chosen with `--compat`.
    pub fn convention(&self) -> Convention {
        match self.compat {
            Compat::Fullres => Convention::FullResolution,
            Compat::CppCli => Convention::CppCli,
        }
    }
}

/// `--compat` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compat {
    /// Full resolution.
    Fullres,
    /// Meta's C++ command-line hasher.
    CppCli,
}

/// Runs `imprint hash`.
pub fn run(args: HashArgs) -> Result<u8> {
    if args.bulk.out.is_some() {
        return bulk::run(&args);
    }
    if args.paths.is_empty() && args.files_from.is_none() {
        bail!("no input: give image files or directories, or --files-from FILE");
    }
    let mut failed = 0u64;
    let mut sources = Vec::with_capacity(args.paths.len() + 1);
    for path in &args.paths {
        if path.as_os_str() == "-" {
            sources.push(Source::Stdin);
            continue;
        }
        match Source::detect(path) {
            Ok(source) => sources.push(source),
            Err(e) => {
                let cause = match e {
                    imprint::Error::Io { source, .. } => source.to_string(),
                    other => other.to_string(),
                };
                diag!("imprint: {}: cannot read: {cause}", path.display());
                failed += 1;
            }
        }
    }
    if let Some(list) = &args.files_from {
        sources.push(Source::List(list.clone()));
    }
    let (decoder, pipeline) = (args.decoder(), args.pipeline()?);
    let stdout = std::io::stdout();
    let print = PrintSink {
        out: hashlist::Writer::new(BufWriter::new(stdout.lock()), list_format(args.format))
            .json_id_key(JsonIdKey::Path),
        min_quality: args.min_quality,
    };
    let mut sink = RootTally::new(print, &sources);
    let report = pipeline.run(&sources, &decoder, &mut sink, &mut |_| {})?;
    failed += report.num_failed;
    for w in sink.roots() {
        if w.hashed == 0 {
            let what = match (w.failed, w.not_images) {
                (0, 0) => "no images found".to_owned(),
                (0, n) => format!("no images found ({n} other files skipped)"),
                (f, 0) => format!("no image could be hashed ({f} failed, each named above)"),
                (f, n) => format!(
                    "no image could be hashed ({f} failed, each named above; \
                     {n} other files skipped)"
                ),
            };
            diag!("imprint: {}: {what}", w.path.display());
            failed += 1;
        }
    }
    Ok(if report.num_ok == 0 {
        EXIT_FATAL
    } else if failed > 0 {
        EXIT_ITEM_FAILURES
    } else {
        EXIT_OK
    })
}

/// Prints each outcome as it comes, in input order: a line per hash, a message per failure.
struct PrintSink<W: Write> {
    out: hashlist::Writer<W>,
    min_quality: u8,
}

impl<W: Write> Sink for PrintSink<W> {
    fn accept(
        &mut self,
        id: &str,
        outcome: &std::result::Result<Hashed, ItemError>,
    ) -> imprint::Result<()> {
        let written = match outcome {
            Ok(hashed) if hashed.quality < self.min_quality => return Ok(()),
            Ok(hashed) => self.out.write_entry(id, hashed),
            Err(e) => {
                // The decoder's or the system's own words, as `pdq-photo-hasher` prints them.
                let cause = match e {
                    ItemError::Decode(f) => f.to_string(),
                    ItemError::Read(io) => format!("cannot read: {io}"),
                    other => other.to_string(),
                };
                diag!("imprint: {id}: {cause}");
                self.out.write_failed(id, &cause)
            }
        };
        written.map_err(stdout_error)
    }

    fn finish(&mut self) -> imprint::Result<()> {
        self.out.flush().map_err(stdout_error)
    }
}

/// A failed write to standard output, as the pipeline's error.
fn stdout_error(source: std::io::Error) -> imprint::Error {
    imprint::Error::Io {
        path: "<standard output>".into(),
        source,
    }
}

/// The hash list format `imprint hash` prints for `--format`.
fn list_format(format: Format) -> hashlist::Format {
    match format {
        Format::Csv => hashlist::Format::Csv,
        Format::Jsonl => hashlist::Format::Jsonl,
    }
}
