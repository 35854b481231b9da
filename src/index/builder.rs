//! [`IndexBuilder`]: builds the index bytes from hashes and ids, and writes files atomically.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::error::{IndexError, Result};
use super::format::{
    align_up, HeaderRaw, SectionRaw, U32Le, U64Le, FORMAT_VERSION, HASH_ALGORITHM_PDQ256, HASH_LEN,
    HEADER_CRC_OFFSET, HEADER_LEN, MAGIC, MAX_HNSW_WIDTH, MAX_MIH_SUBSTRINGS, MIN_MIH_SUBSTRINGS,
    NO_NODE, NUM_SECTIONS, SECTIONS,
};
use super::hnsw::build::{self as hnsw_build, HnswParams};
use super::mih;
use crate::hash::Pdq256;

/// Default build seed. Fixed (never random) so that the same list gives the same file.
pub const DEFAULT_SEED: u64 = 0x1337_5eed_0000_0001;
/// Default HNSW `m` (neighbours per node above level 0): 16 is the paper's sweet spot for
/// moderate intrinsic dimension and keeps upper levels small.
pub const DEFAULT_HNSW_M: u32 = 16;
/// Default HNSW `m0` (neighbours on level 0): 2·m, as the paper recommends.
pub const DEFAULT_HNSW_M0: u32 = 32;
/// Default HNSW `ef_construction`: 64 keeps a 1 M-hash build within minutes on two cores.
/// Graph quality at 1 M is limited by it (see `BENCHMARKS.md`); sweep it with
/// `imprint bench index --ef-construction` before raising the default.
pub const DEFAULT_EF_CONSTRUCTION: u32 = 64;

/// Builds index files.
///
/// Defaults: MIH with m = [`mih::default_num_substrings`]`(N)`, an HNSW graph with
/// [`DEFAULT_HNSW_M`], [`DEFAULT_HNSW_M0`], [`DEFAULT_EF_CONSTRUCTION`],
/// `level_mult = 1/ln(m)` and [`DEFAULT_SEED`]. The same hashes, ids, parameters and seed
/// always give the same bytes.
#[derive(Clone, Debug)]
pub struct IndexBuilder {
    mih_num_substrings: Option<u32>,
    hnsw: bool,
    m: u32,
    m0: u32,
    ef_construction: u32,
    level_mult: Option<f64>,
    seed: u64,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Removes the temporary files `dir/<prefix><pid>` that earlier builds of the same index left
/// when they were killed (a build's own temp file is locked while it is written, so one that
/// can be locked has no writer), and logs each. Best effort: a file that cannot be examined is
/// left alone.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let is_temp = name.to_str().is_some_and(|n| {
            n.strip_prefix(prefix)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        if !is_temp || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = e.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() && std::fs::remove_file(&path).is_ok() {
            log::warn!(
                "removed {}, left by an index build that did not finish",
                path.display()
            );
        }
    }
}

impl IndexBuilder {
    /// A builder with the documented defaults.
    #[must_use]
    pub fn new() -> Self {
        IndexBuilder {
            mih_num_substrings: None,
            hnsw: true,
            m: DEFAULT_HNSW_M,
            m0: DEFAULT_HNSW_M0,
            ef_construction: DEFAULT_EF_CONSTRUCTION,
            level_mult: None,
            seed: DEFAULT_SEED,
        }
    }

    /// Number of MIH substrings (2..=64) instead of the size-based default.
    #[must_use]
    pub fn mih_num_substrings(mut self, m: u32) -> Self {
        self.mih_num_substrings = Some(m);
        self
    }

    /// Whether to build the HNSW graph (default true). Without it the file holds only the
    /// hashes, ids and MIH tables, and k-nearest searches are flat scans.
    #[must_use]
    pub fn hnsw(mut self, enabled: bool) -> Self {
        self.hnsw = enabled;
        self
    }

    /// HNSW `m`: neighbours per node on levels ≥ 1.
    #[must_use]
    pub fn m(mut self, m: u32) -> Self {
        self.m = m;
        self
    }

    /// HNSW `m0`: neighbours per node on level 0.
    #[must_use]
    pub fn m0(mut self, m0: u32) -> Self {
        self.m0 = m0;
        self
    }

    /// HNSW `ef_construction`: beam width while inserting.
    #[must_use]
    pub fn ef_construction(mut self, ef: u32) -> Self {
        self.ef_construction = ef;
        self
    }

    /// HNSW `level_mult` (default `1/ln(m)`).
    #[must_use]
    pub fn level_mult(mut self, level_mult: f64) -> Self {
        self.level_mult = Some(level_mult);
        self
    }

    /// Seed for the HNSW level draws.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Builds the file bytes for `hashes`, with list-entry ids `ids` (same length, or empty
    /// for no ids).
    ///
    /// Time: O(m·N) for MIH plus the HNSW build (see `hnsw::build`), parallel over the rayon
    /// pool; memory: about the size of the file, twice.
    ///
    /// # Errors
    /// [`IndexError::InvalidParameter`] for out-of-range parameters, more than `u32::MAX - 1`
    /// hashes, or an `ids` length that is neither 0 nor `hashes.len()`.
    pub fn build<S: AsRef<str>>(&self, hashes: &[Pdq256], ids: &[S]) -> Result<Vec<u8>> {
        let sections = self.encode(hashes, ids)?;
        let mut out = Vec::new();
        write_sections(&mut out, &sections).map_err(|source| IndexError::Io {
            path: "<memory>".into(),
            source,
        })?;
        Ok(out)
    }

    /// Builds the index and writes it to `path` atomically: a temporary file in the same
    /// directory is written, fsynced and renamed over `path`, so readers that have the old
    /// file mapped keep a consistent view (the mmap contract of [`super::Index::open`]).
    /// A build killed at any point leaves `path` as it was or the whole new index, never a
    /// mix. Its temporary file (`.NAME.tmp-PID`, locked while written) is removed by the next
    /// build of the same path, which logs that it did.
    ///
    /// # Errors
    /// As [`IndexBuilder::build`], and [`IndexError::Io`] naming the file on I/O failure.
    pub fn write_file<S: AsRef<str>>(
        &self,
        path: impl AsRef<Path>,
        hashes: &[Pdq256],
        ids: &[S],
    ) -> Result<()> {
        let path = path.as_ref();
        let sections = self.encode(hashes, ids)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => ".".into(),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "index".into());
        let tmp_prefix = format!(".{name}.tmp-");
        remove_stale_temps(&dir, &tmp_prefix);
        let tmp = dir.join(format!("{tmp_prefix}{}", std::process::id()));
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| IndexError::Io { path: p, source }
        };
        let result = (|| {
            let file = File::create(&tmp).map_err(io(&tmp))?;
            // Held until the file is renamed or removed (closing it releases the lock): a
            // later build finds a temp file nobody holds and knows its writer is gone. Best
            // effort: where the file system has no locks, no build can lock it either, so
            // none removes it.
            let _ = file.try_lock();
            let mut w = BufWriter::with_capacity(1 << 20, file);
            write_sections(&mut w, &sections).map_err(io(&tmp))?;
            let file = w.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
            file.sync_all().map_err(io(&tmp))?;
            std::fs::rename(&tmp, path).map_err(io(path))?;
            // Persist the rename itself; not every platform can fsync a directory.
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn encode<S: AsRef<str>>(&self, hashes: &[Pdq256], ids: &[S]) -> Result<Encoded> {
        let invalid = |name, reason| Err(IndexError::InvalidParameter { name, reason });
        let n = hashes.len();
        if n >= u32::MAX as usize {
            return invalid("hashes", "at most u32::MAX - 1 hashes fit in one index");
        }
        if !ids.is_empty() && ids.len() != n {
            return invalid("ids", "give one id per hash, or none");
        }
        let m = self
            .mih_num_substrings
            .unwrap_or_else(|| mih::default_num_substrings(n));
        if !(MIN_MIH_SUBSTRINGS..=MAX_MIH_SUBSTRINGS).contains(&m) {
            return invalid("mih_num_substrings", "must be in 2..=64");
        }
        let graph = self.hnsw && n > 0;
        if graph {
            if self.m < 2 || self.m > MAX_HNSW_WIDTH || self.m0 < 2 || self.m0 > MAX_HNSW_WIDTH {
                return invalid("m", "m and m0 must be in 2..=1024");
            }
            if self.ef_construction == 0 {
                return invalid("ef_construction", "must be at least 1");
            }
        }
        let level_mult = self
            .level_mult
            .unwrap_or_else(|| 1.0 / f64::from(self.m.max(2)).ln());
        if !(level_mult.is_finite() && level_mult > 0.0) {
            return invalid("level_mult", "must be finite and positive");
        }

        let mut s: Vec<Vec<u8>> = vec![Vec::new(); NUM_SECTIONS];
        s[0] = hashes.iter().flat_map(|h| *h.as_bytes()).collect();
        debug_assert_eq!(s[0].len(), n * HASH_LEN);
        let mut off = Vec::with_capacity((n + 1) * 8);
        let mut id_bytes = Vec::new();
        off.extend_from_slice(&0u64.to_le_bytes());
        for i in 0..n {
            if let Some(id) = ids.get(i) {
                id_bytes.extend_from_slice(id.as_ref().as_bytes());
            }
            off.extend_from_slice(&(id_bytes.len() as u64).to_le_bytes());
        }
        s[1] = off;
        s[2] = id_bytes;
        let subs = mih::substrings(m, n);
        s[3] = subs
            .iter()
            .flat_map(|x| [x.start_bit, x.width_bits, x.key_bits, 0])
            .flat_map(u32::to_le_bytes)
            .collect();
        let (dir, postings) = mih::build(hashes, &subs);
        s[4] = le_u32s(&dir);
        s[5] = postings;
        let (mut m_hnsw, mut m0, mut levels, mut entry, mut rows) = (0, 0, 0, NO_NODE, 0);
        if graph {
            let built = hnsw_build::build(
                &s[0],
                &HnswParams {
                    m: self.m,
                    m0: self.m0,
                    ef_construction: self.ef_construction,
                    level_mult,
                    seed: self.seed,
                },
            );
            let g = built.graph;
            (m_hnsw, m0, levels, entry) = (self.m, self.m0, built.num_levels, built.entry_point);
            rows = (g.upper.len() / self.m as usize) as u32;
            s[6] = g.levels;
            s[7] = le_u32s(&g.upper_index);
            s[8] = le_u32s(&g.level0);
            s[9] = le_u32s(&g.upper);
        }

        let mut h: HeaderRaw = bytemuck::Zeroable::zeroed();
        h.magic = MAGIC;
        h.format_version = U32Le::new(FORMAT_VERSION);
        h.header_len_bytes = U32Le::new(HEADER_LEN as u32);
        h.hash_algorithm = U32Le::new(HASH_ALGORITHM_PDQ256);
        h.hash_len_bytes = U32Le::new(HASH_LEN as u32);
        h.num_hashes = U32Le::new(n as u32);
        h.num_sections = U32Le::new(NUM_SECTIONS as u32);
        h.seed = U64Le::new(self.seed);
        h.mih_num_substrings = U32Le::new(m);
        h.hnsw_m = U32Le::new(m_hnsw);
        h.hnsw_m0 = U32Le::new(m0);
        h.hnsw_ef_construction = U32Le::new(if graph { self.ef_construction } else { 0 });
        h.hnsw_num_levels = U32Le::new(levels);
        h.hnsw_level_mult = U64Le::new(if graph { level_mult.to_bits() } else { 0 });
        h.hnsw_entry_point = U32Le::new(entry);
        h.hnsw_num_upper_rows = U32Le::new(rows);
        let version = env!("CARGO_PKG_VERSION").as_bytes();
        let k = version.len().min(16);
        h.writer_version[..k].copy_from_slice(&version[..k]);
        let mut pos = HEADER_LEN as u64;
        for (i, (bytes, kind)) in s.iter().zip(SECTIONS).enumerate() {
            let offset = align_up(pos).ok_or(IndexError::InvalidParameter {
                name: "hashes",
                reason: "index larger than u64 bytes",
            })?;
            h.sections[i] = SectionRaw {
                kind: U32Le::new(kind as u32),
                reserved0: U32Le::new(0),
                offset: U64Le::new(offset),
                len_bytes: U64Le::new(bytes.len() as u64),
                crc32c: U32Le::new(crc32c::crc32c(bytes)),
                reserved1: U32Le::new(0),
            };
            pos = offset + bytes.len() as u64;
        }
        let crc = crc32c::crc32c(&bytemuck::bytes_of(&h)[..HEADER_CRC_OFFSET]);
        h.header_crc32c = U32Le::new(crc);
        Ok(Encoded {
            header: h,
            sections: s,
        })
    }
}

struct Encoded {
    header: HeaderRaw,
    sections: Vec<Vec<u8>>,
}

fn le_u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn write_sections<W: Write>(w: &mut W, e: &Encoded) -> std::io::Result<()> {
    w.write_all(bytemuck::bytes_of(&e.header))?;
    let mut pos = HEADER_LEN as u64;
    for (raw, bytes) in e.header.sections.iter().zip(&e.sections) {
        let pad = raw.offset.get() - pos;
        w.write_all(&[0u8; 64][..pad as usize])?;
        w.write_all(bytes)?;
        pos = raw.offset.get() + bytes.len() as u64;
    }
    w.flush()
}
