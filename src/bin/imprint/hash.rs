//! `imprint hash`: hash images and print one line per image.

use crate::output::{json_string, Format};
use crate::{EXIT_FATAL, EXIT_ITEM_FAILURES, EXIT_OK};
use anyhow::{bail, Context, Result};
use imprint::decode::{decode_pooled, sniff, DecodeOptions, PixelPool, DEFAULT_MAX_PIXELS};
use imprint::hash::{Convention, ImageRef, Pdq256, PdqHasher};
use imprint::pipeline::{ItemError, DEFAULT_MAX_ITEM_BYTES};
use imprint::{Backend, BatchHasher};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

/// Arguments of `imprint hash`.
#[derive(clap::Args, Debug)]
pub struct HashArgs {
    /// Image files and directories (searched recursively, in name order).
    pub paths: Vec<PathBuf>,
    /// Read more paths from FILE, one per line (`-` for standard input).
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
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
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
    /// Fast mode: decode JPEGs at a reduced scale in the DCT domain (keeping each side at
    /// least 256 px). Hashes differ slightly from exact mode (within 10 bits on the bench
    /// corpus).
    #[arg(long)]
    pub fast: bool,
    #[command(flatten)]
    pub bulk: crate::bulk::BulkArgs,
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

    /// The hasher for `--backend` and `--gpu`.
    pub fn batch_hasher(&self) -> Result<BatchHasher> {
        batch_hasher(self.backend, self.gpu)
    }

    /// The hashing convention chosen with `--compat`.
    pub fn convention(&self) -> Convention {
        match self.compat {
            Compat::Fullres => Convention::FullResolution,
            Compat::CppCli => Convention::CppCli,
        }
    }
}

/// The hasher for a `--backend` and a `--gpu` adapter (ignored without the `gpu` feature).
pub fn batch_hasher(backend: Backend, gpu: Option<usize>) -> Result<BatchHasher> {
    #[cfg(feature = "gpu")]
    let hasher =
        BatchHasher::with_gpu_options(backend, imprint::gpu::GpuOptions::default().adapter(gpu));
    #[cfg(not(feature = "gpu"))]
    let hasher = {
        let _ = gpu;
        BatchHasher::new(backend)
    };
    hasher.with_context(|| format!("cannot use --backend {backend}"))
}

/// `--compat` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compat {
    /// Full resolution.
    Fullres,
    /// Meta's C++ command-line hasher.
    CppCli,
}

/// One input file and the command-line argument it came from.
struct Item {
    path: PathBuf,
    root: usize,
    /// Found by walking a directory: files that are not images are skipped, not failures.
    walked: bool,
}

/// A decoded image waiting for the GPU, or an item already settled.
enum Decoded {
    Image(imprint::decode::DecodedImage),
    Done(Outcome),
}

enum Outcome {
    Hashed { hashes: Vec<Pdq256>, quality: u8 },
    Skipped,
    Failed(String),
}

/// Runs `imprint hash`.
pub fn run(args: HashArgs) -> Result<u8> {
    if args.bulk.out.is_some() {
        return crate::bulk::run(&args);
    }
    let mut roots = args.paths.clone();
    if let Some(list) = &args.files_from {
        roots.extend(read_path_list(list)?);
    }
    if roots.is_empty() {
        bail!("no input: give image files or directories, or --files-from FILE");
    }
    let mut failed = 0usize;
    let mut items = Vec::new();
    for (root, path) in roots.iter().enumerate() {
        match collect(path, root, &mut items) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("imprint: {}: {e:#}", path.display());
                failed += 1;
            }
        }
    }
    let options = args.decode_options();
    let convention = args.convention();
    // Pixel buffers of hashed images, reused by the next decodes.
    let pixels = PixelPool::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start worker threads")?;

    let mut hasher = args.batch_hasher()?;

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut hashed_per_root = vec![0usize; roots.len()];
    let mut skipped_per_root = vec![0usize; roots.len()];
    let threads = pool.current_num_threads().max(1);
    let mut emit = |item: &Item, outcome: Outcome| -> Result<()> {
        // As a bulk run's id: a name that is not UTF-8 keeps its bytes, escaped.
        let path = imprint::pipeline::path_id(&item.path);
        match outcome {
            Outcome::Hashed { hashes, quality } => {
                hashed_per_root[item.root] += 1;
                if quality >= args.min_quality {
                    write_hash(
                        &mut out,
                        args.format,
                        &path,
                        &hashes,
                        quality,
                        args.dihedral,
                    )?;
                }
            }
            Outcome::Skipped => skipped_per_root[item.root] += 1,
            Outcome::Failed(cause) => {
                failed += 1;
                eprintln!("imprint: {path}: {cause}");
                if args.format == Format::Jsonl {
                    writeln!(
                        out,
                        "{{\"path\":{},\"error\":{}}}",
                        json_string(&path),
                        json_string(&cause)
                    )?;
                }
            }
        }
        Ok(())
    };
    if hasher.is_gpu() {
        // Decode the next chunk on all cores while the GPU hashes this one.
        let chunks: Vec<&[Item]> = items.chunks((4 * threads).max(GPU_CHUNK)).collect();
        let mut ready: Option<(usize, Vec<Decoded>)> = None;
        for k in 0..=chunks.len() {
            let next = chunks.get(k);
            let (hashed, decoded) = pool.install(|| {
                rayon::join(
                    || {
                        ready.take().map(|(i, d)| {
                            let hashed =
                                hash_decoded(&mut hasher, d, convention, args.dihedral, &pixels);
                            (i, hashed)
                        })
                    },
                    || {
                        next.map(|chunk| {
                            chunk
                                .par_iter()
                                .map(|item| decode_item(item, &options, &pixels))
                                .collect::<Vec<_>>()
                        })
                    },
                )
            });
            if let Some((i, outcomes)) = hashed {
                for (item, outcome) in chunks[i]
                    .iter()
                    .zip(outcomes.context("gpu hashing failed")?)
                {
                    emit(item, outcome)?;
                }
            }
            ready = decoded.map(|d| (k, d));
        }
    } else {
        // Each worker takes the next item in input order, and lines are printed in that order
        // as soon as they are complete: no batch waits for its slowest image.
        let next = AtomicUsize::new(0);
        let (tx, rx) = sync_channel::<(usize, Outcome)>(4 * threads);
        let (items, options, pixels) = (&items, &options, &pixels);
        let next = &next;
        pool.in_place_scope(|scope| -> Result<()> {
            for _ in 0..threads {
                let tx = tx.clone();
                scope.spawn(move |_| {
                    let mut hasher = PdqHasher::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let outcome = process(
                            &mut hasher,
                            item,
                            options,
                            pixels,
                            convention,
                            args.dihedral,
                        );
                        // The receiver is gone when output failed: stop.
                        if tx.send((i, outcome)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut done = BTreeMap::new();
            let mut k = 0;
            for (i, outcome) in rx {
                done.insert(i, outcome);
                while let Some(outcome) = done.remove(&k) {
                    emit(&items[k], outcome)?;
                    k += 1;
                }
            }
            Ok(())
        })?;
    }
    out.flush().context("cannot write to standard output")?;
    for (root, path) in roots.iter().enumerate() {
        if path.is_dir() && hashed_per_root[root] == 0 {
            let skipped = skipped_per_root[root];
            eprintln!(
                "imprint: {}: no images found{}",
                path.display(),
                if skipped > 0 {
                    format!(" ({skipped} other files skipped)")
                } else {
                    String::new()
                }
            );
            failed += 1;
        }
    }
    let hashed: usize = hashed_per_root.iter().sum();
    Ok(if hashed == 0 {
        EXIT_FATAL
    } else if failed > 0 {
        EXIT_ITEM_FAILURES
    } else {
        EXIT_OK
    })
}

fn process(
    hasher: &mut PdqHasher,
    item: &Item,
    options: &DecodeOptions,
    pixels: &PixelPool,
    convention: Convention,
    dihedral: bool,
) -> Outcome {
    let img = match decode_item(item, options, pixels) {
        Decoded::Image(img) => img,
        Decoded::Done(outcome) => return outcome,
    };
    let prepared = convention.prepare(img.as_image_ref());
    let outcome = if dihedral {
        let d = hasher.hash_dihedral(prepared.image());
        Outcome::Hashed {
            hashes: d.hashes.to_vec(),
            quality: d.quality,
        }
    } else {
        let h = hasher.hash(prepared.image());
        Outcome::Hashed {
            hashes: vec![h.hash],
            quality: h.quality,
        }
    };
    drop(prepared);
    pixels.give(img.pixels);
    outcome
}

/// Images per GPU submission in `imprint hash`: enough to fill a batch, few enough that two
/// chunks of decoded 12-megapixel images stay within a few GB.
const GPU_CHUNK: usize = 32;

/// Reads and decodes one item: the image, or the item's final outcome (skipped, failed).
fn decode_item(item: &Item, options: &DecodeOptions, pixels: &PixelPool) -> Decoded {
    let bytes = match read_item(item) {
        Ok(Some(b)) => b,
        Ok(None) => return Decoded::Done(Outcome::Skipped),
        Err(cause) => return Decoded::Done(Outcome::Failed(cause)),
    };
    match decode_pooled(&bytes, options, pixels) {
        Ok(img) => Decoded::Image(img),
        Err(e) => Decoded::Done(Outcome::Failed(e.to_string())),
    }
}

/// An item's bytes, or `None` for a file found by walking a directory that is not an image.
/// A file that is not an image is skipped after its first bytes, and one over
/// [`DEFAULT_MAX_ITEM_BYTES`] fails before it is read, so that a video or a disk image in a
/// photo tree costs no memory.
fn read_item(item: &Item) -> std::result::Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read: {e}");
    let mut f = std::fs::File::open(&item.path).map_err(cannot)?;
    let len = f.metadata().map_err(cannot)?.len();
    let mut head = Vec::with_capacity(32);
    (&mut f).take(32).read_to_end(&mut head).map_err(cannot)?;
    if item.walked && sniff(&head).is_none() {
        return Ok(None);
    }
    match imprint::pipeline::read_item(head.as_slice().chain(f), len, DEFAULT_MAX_ITEM_BYTES) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(ItemError::Read(e)) => Err(cannot(e)),
        Err(e) => Err(e.to_string()),
    }
}

/// Hashes the decoded images of a chunk in one batch; settled items pass through.
fn hash_decoded(
    hasher: &mut BatchHasher,
    decoded: Vec<Decoded>,
    convention: Convention,
    dihedral: bool,
    pixels: &PixelPool,
) -> Result<Vec<Outcome>> {
    let hashed: Vec<(Vec<Pdq256>, u8)> = {
        let prepared: Vec<_> = decoded
            .iter()
            .filter_map(|d| match d {
                Decoded::Image(img) => Some(convention.prepare(img.as_image_ref())),
                Decoded::Done(_) => None,
            })
            .collect();
        let refs: Vec<ImageRef<'_>> = prepared.iter().map(|p| p.image()).collect();
        if dihedral {
            hasher
                .hash_batch_dihedral(&refs)?
                .into_iter()
                .map(|d| (d.hashes.to_vec(), d.quality))
                .collect()
        } else {
            hasher
                .hash_batch(&refs)?
                .into_iter()
                .map(|h| (vec![h.hash], h.quality))
                .collect()
        }
    };
    let mut hashed = hashed.into_iter();
    Ok(decoded
        .into_iter()
        .map(|d| match d {
            Decoded::Image(img) => {
                pixels.give(img.pixels);
                match hashed.next() {
                    Some((hashes, quality)) => Outcome::Hashed { hashes, quality },
                    None => Outcome::Failed("no hash returned for this image".into()),
                }
            }
            Decoded::Done(outcome) => outcome,
        })
        .collect())
}

fn write_hash(
    out: &mut impl Write,
    format: Format,
    path: &str,
    hashes: &[Pdq256],
    quality: u8,
    dihedral: bool,
) -> Result<()> {
    match format {
        Format::Csv => {
            for h in hashes {
                write!(out, "{h},")?;
            }
            writeln!(out, "{quality},{path}")?;
        }
        Format::Jsonl => {
            write!(
                out,
                "{{\"path\":{},\"hash\":\"{}\",\"quality\":{quality}",
                json_string(path),
                hashes[0]
            )?;
            if dihedral {
                let list: Vec<String> = hashes.iter().map(|h| format!("\"{h}\"")).collect();
                write!(out, ",\"dihedral\":[{}]", list.join(","))?;
            }
            writeln!(out, "}}")?;
        }
    }
    Ok(())
}

fn read_path_list(list: &Path) -> Result<Vec<PathBuf>> {
    let reader: Box<dyn BufRead> = if list.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(list).with_context(|| format!("cannot open {}", list.display()))?,
        ))
    };
    let mut paths = Vec::new();
    for line in reader.lines() {
        let line = line.with_context(|| format!("cannot read {}", list.display()))?;
        let line = line.trim_end_matches('\r');
        if !line.is_empty() {
            paths.push(PathBuf::from(line));
        }
    }
    Ok(paths)
}

/// Appends the files under `path` (itself if a file) in name order.
fn collect(path: &Path, root: usize, items: &mut Vec<Item>) -> Result<()> {
    let meta = std::fs::metadata(path).context("cannot read")?;
    if !meta.is_dir() {
        items.push(Item {
            path: path.to_path_buf(),
            root,
            walked: false,
        });
        return Ok(());
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut subdirs = Vec::new();
        for p in entries {
            if p.is_dir() {
                subdirs.push(p);
            } else if p.is_file() {
                items.push(Item {
                    path: p,
                    root,
                    walked: true,
                });
            }
        }
        // Depth-first, in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}
