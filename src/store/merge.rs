//! [`merge`]: combines stores (e.g. shard outputs) into a new one holding every item once.

use super::error::{Result, StoreError};
use super::params::HashParams;
use super::reader::{Outcome, Record, Store};
use super::writer::{StoreOptions, StoreWriter, DEFAULT_BLOCK_SIZE};
use memmap2::Mmap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Options of [`merge`]; see each setter for its default.
#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    assume_v1_params: Option<HashParams>,
    skip_corrupt_blocks: bool,
    block_size: Option<u32>,
}

impl MergeOptions {
    /// Defaults: format-1 inputs refused, corrupt blocks fatal, [`DEFAULT_BLOCK_SIZE`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The hashing parameters of format-1 inputs, which do not record them (default: none,
    /// and a format-1 input is [`StoreError::UnknownParams`]). The caller states them; they
    /// must then match the other inputs', and the new store records them.
    #[must_use]
    pub fn assume_v1_params(mut self, params: Option<HashParams>) -> Self {
        self.assume_v1_params = params;
        self
    }

    /// Whether a damaged input block is skipped and reported in
    /// [`MergeReport::skipped_blocks`] instead of failing the merge (default `false`). A
    /// salvage option: the records of a skipped block are missing from the output.
    #[must_use]
    pub fn skip_corrupt_blocks(mut self, yes: bool) -> Self {
        self.skip_corrupt_blocks = yes;
        self
    }

    /// Block size of the new store (default [`DEFAULT_BLOCK_SIZE`]).
    #[must_use]
    pub fn block_size(mut self, bytes: u32) -> Self {
        self.block_size = Some(bytes);
        self
    }
}

/// An input block [`merge`] skipped under [`MergeOptions::skip_corrupt_blocks`].
#[derive(Debug)]
pub struct SkippedBlock {
    /// The input store.
    pub path: PathBuf,
    /// The block number.
    pub block: u64,
    /// What is wrong with it.
    pub error: StoreError,
}

/// What [`merge`] did.
#[derive(Debug, Default)]
pub struct MergeReport {
    /// Records written.
    pub num_kept: u64,
    /// Records left out: a later copy of an id, or an error record of an id hashed elsewhere.
    pub num_dropped: u64,
    /// Damaged blocks skipped (only under [`MergeOptions::skip_corrupt_blocks`]).
    pub skipped_blocks: Vec<SkippedBlock>,
    /// The hashing parameters of the inputs, recorded in the new store.
    pub params: HashParams,
    /// Whether the stores hold dihedral hashes.
    pub dihedral: bool,
}

/// One opened input.
struct Input {
    path: PathBuf,
    store: Store<Mmap>,
}

/// The records of block `i` of `input`, all of them or the block's first error.
fn block_records(input: &Input, i: u64) -> Result<Vec<Record<'_>>> {
    let b = input.store.block(i)?;
    (0..b.len()).map(|r| b.record(r)).collect()
}

/// Merges `inputs` into a new store at `out`, holding every item once: its hash if any input
/// has one, else its first error record, in input order. The inputs must agree in dihedral
/// hashes and hashing parameters.
///
/// The new store appears at `out` only once complete ([`StoreWriter::create_whole`]): an
/// error or a crash leaves `out` absent. Every input block is checked as it is read
/// ([`Store::block`]); a damaged one fails the merge naming it, unless skipped under
/// [`MergeOptions::skip_corrupt_blocks`]. A torn tail of an input (blocks never sealed) is
/// left out with a warning in the log.
///
/// Time O(total records); memory O(distinct ids) pointers into the mapped inputs, plus one
/// decoded block at a time.
///
/// # Examples
/// ```
/// use imprint::hash::{Pdq256, PdqHash};
/// use imprint::store::{merge, MergeOptions, Store, StoreOptions, StoreWriter};
/// let dir = tempfile::tempdir()?;
/// let (a, b) = (dir.path().join("a.imps"), dir.path().join("b.imps"));
/// let h = PdqHash { hash: Pdq256::ZERO, quality: 100 };
/// let mut w = StoreWriter::create(&a, &StoreOptions::new())?;
/// w.append_error("x.jpg", "truncated")?;
/// w.finish()?;
/// let mut w = StoreWriter::create(&b, &StoreOptions::new())?;
/// w.append_hash("x.jpg", &h)?;
/// w.finish()?;
/// let out = dir.path().join("all.imps");
/// let report = merge(&out, &[a, b], &MergeOptions::new())?;
/// assert_eq!((report.num_kept, report.num_dropped), (1, 1));
/// assert_eq!(Store::open(&out)?.records().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StoreError::MergeDihedralMismatch`], [`StoreError::MergeParamsMismatch`],
/// [`StoreError::UnknownParams`] for a format-1 input without
/// [`MergeOptions::assume_v1_params`], any error of [`Store::open`] and [`Store::block`]
/// (naming the input), and those of [`StoreWriter::create_whole`] and appending.
pub fn merge(out: &Path, inputs: &[PathBuf], options: &MergeOptions) -> Result<MergeReport> {
    let mut opened = Vec::with_capacity(inputs.len());
    for p in inputs {
        opened.push(Input {
            path: p.clone(),
            store: Store::open(p)?,
        });
    }
    let Some(first) = opened.first() else {
        return Err(StoreError::InvalidOption {
            name: "number of inputs",
            value: 0,
        });
    };
    let params_of = |i: &Input| {
        i.store
            .info()
            .hash_params
            .or(options.assume_v1_params)
            .ok_or_else(|| StoreError::UnknownParams {
                path: i.path.clone(),
            })
    };
    let dihedral = first.store.info().dihedral;
    let params = params_of(first)?;
    for i in &opened[1..] {
        if i.store.info().dihedral != dihedral {
            return Err(StoreError::MergeDihedralMismatch {
                first: first.path.clone(),
                other: i.path.clone(),
            });
        }
        let p = params_of(i)?;
        if p != params {
            return Err(StoreError::MergeParamsMismatch {
                first: first.path.clone(),
                first_params: params,
                other: i.path.clone(),
                other_params: p,
            });
        }
    }
    let mut report = MergeReport {
        params,
        dihedral,
        ..MergeReport::default()
    };
    // Pass 1: which ids have a hash anywhere, so an error record never shadows a success; and
    // which blocks are damaged (input number, block).
    let mut skip: HashSet<(usize, u64)> = HashSet::new();
    let mut hashed: HashSet<&str> = HashSet::new();
    for (k, input) in opened.iter().enumerate() {
        for b in 0..input.store.num_blocks() {
            match block_records(input, b) {
                Ok(records) => {
                    hashed.extend(records.iter().filter(|r| !r.is_error()).map(|r| r.id))
                }
                Err(e) if options.skip_corrupt_blocks => {
                    log::warn!("{}: skipping block {b}: {e}", input.path.display());
                    skip.insert((k, b));
                    report.skipped_blocks.push(SkippedBlock {
                        path: input.path.clone(),
                        block: b,
                        error: e,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }
    let store_opts = StoreOptions::new()
        .dihedral(dihedral)
        .hash_params(params)
        .block_size(options.block_size.unwrap_or(DEFAULT_BLOCK_SIZE));
    let mut w = StoreWriter::create_whole(out, &store_opts)?;
    let mut written: HashSet<&str> = HashSet::new();
    let copied = copy_records(&opened, &skip, &hashed, &mut written, &mut w, &mut report);
    match copied {
        Ok(()) => w.finish()?,
        Err(e) => {
            w.abandon();
            return Err(e);
        }
    }
    Ok(report)
}

/// Pass 2 of [`merge`]: appends each kept record.
fn copy_records<'a>(
    opened: &'a [Input],
    skip: &HashSet<(usize, u64)>,
    hashed: &HashSet<&str>,
    written: &mut HashSet<&'a str>,
    w: &mut StoreWriter,
    report: &mut MergeReport,
) -> Result<()> {
    for (k, input) in opened.iter().enumerate() {
        for b in (0..input.store.num_blocks()).filter(|&b| !skip.contains(&(k, b))) {
            for r in block_records(input, b)? {
                if written.contains(r.id) || (r.is_error() && hashed.contains(r.id)) {
                    report.num_dropped += 1;
                    continue;
                }
                match r.outcome {
                    Outcome::Hashed(h) => w.append_hashed(r.id, &h)?,
                    Outcome::Failed { cause } => w.append_error(r.id, cause)?,
                }
                written.insert(r.id);
                report.num_kept += 1;
            }
        }
    }
    Ok(())
}
