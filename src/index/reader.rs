//! [`Index`]: the immutable, zero-copy reader over an index file's bytes.

use std::path::Path;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::error::{IndexError, Result};
use super::flat;
use super::format::{
    self, u32_at, u64_at, Layout, SectionKind, HASH_LEN, HEADER_LEN, NO_NODE, NUM_SECTIONS,
    SECTIONS,
};
use super::hamming::{decode_posting, words, HashesView, Lanes};
use super::hnsw::graph::{Graph, GraphView};
use super::hnsw::search::{descend, search_layer};
use super::mih::{self, MihView};
use super::mmap::{self, MappedFile};
use super::scratch::SearchScratch;
use super::{Match, RecordId};
use crate::hash::{Dihedral, Pdq256, DIHEDRALS};

/// An index opened over bytes `D`: a memory map in production ([`Index::open`]), a `Vec<u8>`
/// in tests ([`Index::from_bytes`]).
///
/// Searches run on the bytes in place; the index is `Send + Sync` when `D` is, so one mapped
/// index serves every thread (each with its own [`SearchScratch`]) and, through the page
/// cache, every process.
#[derive(Debug)]
pub struct Index<D = MappedFile> {
    data: D,
    layout: Layout,
    /// Each section's computed CRC32C, once a lookup (or [`Index::verify`]) needed it.
    pub(super) crcs: [OnceLock<u32>; NUM_SECTIONS],
}

/// One section as described by the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Section name.
    pub name: &'static str,
    /// Offset from the file start.
    pub offset: u64,
    /// Length in bytes.
    pub len_bytes: u64,
    /// Stored CRC32C.
    pub crc32c: u32,
}

/// What the header of an index says: parameters and sections.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct IndexInfo {
    /// Format version of the file.
    pub format_version: u32,
    /// Number of hashes.
    pub num_hashes: u32,
    /// File length in bytes.
    pub len_bytes: u64,
    /// Build seed.
    pub seed: u64,
    /// MIH substring count m.
    pub mih_num_substrings: u32,
    /// Key bits of each MIH substring.
    pub mih_key_bits: Vec<u32>,
    /// HNSW `m` (0 without a graph).
    pub hnsw_m: u32,
    /// HNSW `m0`.
    pub hnsw_m0: u32,
    /// HNSW `ef_construction`.
    pub hnsw_ef_construction: u32,
    /// HNSW `level_mult`.
    pub hnsw_level_mult: f64,
    /// HNSW level count (0 = no graph).
    pub hnsw_num_levels: u32,
    /// HNSW entry point.
    pub hnsw_entry_point: u32,
    /// Crate version of the writer.
    pub writer_version: String,
    /// Sections in file order.
    pub sections: Vec<SectionInfo>,
}

impl Index<MappedFile> {
    /// Maps the index file at `path` and checks its header and section bounds.
    ///
    /// O(1) in the index size. Each section a lookup reads is checked against its CRC32C the
    /// first time a lookup needs it (so a flipped byte gives
    /// [`IndexError::ChecksumMismatch`] naming the section, never a wrong answer); ids and
    /// neighbours are checked at use, and everything else by [`Index::verify`].
    ///
    /// # mmap contract
    /// The file must not be truncated or rewritten in place while it is open (that would be
    /// undefined behaviour). Files written by [`super::IndexBuilder::write_file`] are only ever
    /// replaced by rename, which leaves open mappings intact.
    ///
    /// # Errors
    /// [`IndexError::NotARegularFile`] for a directory, a pipe, a device (`/dev/zero`) or a
    /// socket; [`IndexError::Io`] if the file cannot be read; any error of
    /// [`Index::from_bytes`].
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> imprint::index::Result<()> {
    /// use imprint::index::{Index, SearchScratch};
    /// let index = Index::open("list.imprint-index")?;
    /// let mut scratch = SearchScratch::new();
    /// let q = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22".parse().unwrap();
    /// for m in index.search_radius(&q, 31, &mut scratch)? {
    ///     println!("{} at {}", index.id(m.record)?, m.distance);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        };
        if mmap::regular_file_len(path)? < HEADER_LEN as u64 {
            // Too short to hold a header (and to map): read what there is, at most a header,
            // to report magic/version problems first.
            let mut bytes = Vec::new();
            let file = std::fs::File::open(path).map_err(io)?;
            std::io::Read::read_to_end(
                &mut std::io::Read::take(file, HEADER_LEN as u64),
                &mut bytes,
            )
            .map_err(io)?;
            format::parse(&bytes)?;
        }
        Index::from_bytes(mmap::map(path)?)
    }

    /// Faults every page of the mapped file in now, so that the first searches run as fast as
    /// later ones.
    ///
    /// A freshly opened index pays a page fault the first time each page is read; over a
    /// large index that makes the first few thousand searches slower (at 10 M hashes, the first
    /// 1 000 radius lookups had a p99 2–3× the steady state). A long-running service can
    /// call this once after [`Index::open`]; it costs a pass over the file (and reading it from
    /// disk if it is not cached), so one-off command-line lookups should not.
    pub fn warm(&self) {
        self.data.warm();
    }
}

impl<D: AsRef<[u8]>> Index<D> {
    /// Checks the header and section bounds of `data` (O(1) past the header) and wraps it.
    ///
    /// # Errors
    /// [`IndexError::Truncated`], [`IndexError::BadMagic`], [`IndexError::UnsupportedVersion`],
    /// [`IndexError::ChecksumMismatch`] (header only) or [`IndexError::Corrupt`].
    ///
    /// # Examples
    /// ```
    /// # fn main() -> imprint::index::Result<()> {
    /// use imprint::hash::Pdq256;
    /// use imprint::index::{Index, IndexBuilder, SearchScratch};
    /// let hashes = [Pdq256::from_words([1, 2, 3, 4]), Pdq256::from_words([!0, 0, !0, 0])];
    /// let bytes = IndexBuilder::new().build(&hashes, &["a", "b"])?;
    /// let index = Index::from_bytes(bytes)?;
    /// let mut scratch = SearchScratch::new();
    /// let found = index.search_radius(&Pdq256::from_words([1, 2, 3, 5]), 31, &mut scratch)?;
    /// assert_eq!(index.id(found[0].record)?, "a");
    /// # Ok(()) }
    /// ```
    pub fn from_bytes(data: D) -> Result<Self> {
        let layout = format::parse(data.as_ref())?;
        Ok(Index {
            data,
            layout,
            crcs: Default::default(),
        })
    }

    fn section(&self, kind: SectionKind) -> &[u8] {
        let range = self.layout.sections[kind as usize].clone();
        self.data.as_ref().get(range).unwrap_or(&[])
    }

    /// The bytes of section `kind`, once their CRC32C matches the header's. The checksum is
    /// computed on the first call for each section (O(section length), about 10 GB/s) and
    /// remembered, so that later lookups pay one atomic load.
    ///
    /// # Errors
    /// [`IndexError::ChecksumMismatch`] naming the section.
    fn checked(&self, kind: SectionKind) -> Result<&[u8]> {
        let bytes = self.section(kind);
        let actual = *self.crcs[kind as usize].get_or_init(|| crc32c::crc32c(bytes));
        let expected = self.layout.section_crcs[kind as usize];
        if actual != expected {
            return Err(IndexError::ChecksumMismatch {
                section: kind.name(),
                expected,
                actual,
            });
        }
        Ok(bytes)
    }

    fn hashes(&self) -> Result<HashesView<'_>> {
        Ok(HashesView::new(self.checked(SectionKind::Hashes)?))
    }

    fn mih(&self) -> Result<MihView<'_>> {
        Ok(MihView {
            substrings: &self.layout.substrings,
            offsets: self.checked(SectionKind::MihOffsets)?,
            postings: self.checked(SectionKind::MihPostings)?,
            num_hashes: self.layout.num_hashes,
        })
    }

    fn graph(&self) -> Result<GraphView<'_>> {
        Ok(GraphView {
            levels: self.checked(SectionKind::HnswLevels)?,
            upper_index: self.checked(SectionKind::HnswUpperIndex)?,
            level0: self.checked(SectionKind::HnswLevel0)?,
            upper: self.checked(SectionKind::HnswUpper)?,
            m: self.layout.hnsw_m,
            m0: self.layout.hnsw_m0,
            num_nodes: self.layout.num_hashes,
            num_upper_rows: self.layout.hnsw_num_upper_rows,
        })
    }

    /// Number of hashes in the index.
    #[must_use]
    pub fn len(&self) -> usize {
        self.layout.num_hashes as usize
    }

    /// Whether the index holds no hashes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.layout.num_hashes == 0
    }

    /// Whether the file has an HNSW graph (k-nearest searches need one).
    #[must_use]
    pub fn has_graph(&self) -> bool {
        self.layout.hnsw_num_levels > 0
    }

    /// The header's parameters and section table.
    #[must_use]
    pub fn info(&self) -> IndexInfo {
        let l = &self.layout;
        IndexInfo {
            format_version: l.format_version,
            num_hashes: l.num_hashes,
            len_bytes: self.data.as_ref().len() as u64,
            seed: l.seed,
            mih_num_substrings: l.substrings.len() as u32,
            mih_key_bits: l.substrings.iter().map(|s| s.key_bits).collect(),
            hnsw_m: l.hnsw_m,
            hnsw_m0: l.hnsw_m0,
            hnsw_ef_construction: l.hnsw_ef_construction,
            hnsw_level_mult: l.hnsw_level_mult,
            hnsw_num_levels: l.hnsw_num_levels,
            hnsw_entry_point: l.hnsw_entry_point,
            writer_version: l.writer_version.clone(),
            sections: SECTIONS
                .iter()
                .zip(&l.sections)
                .zip(&l.section_crcs)
                .map(|((k, r), &crc32c)| SectionInfo {
                    name: k.name(),
                    offset: r.start as u64,
                    len_bytes: r.len() as u64,
                    crc32c,
                })
                .collect(),
        }
    }

    /// The hash of `record`, or `None` if it is out of range or the hashes section fails its
    /// checksum (the searches that return records report that as an error first).
    #[must_use]
    pub fn hash(&self, record: RecordId) -> Option<Pdq256> {
        self.hashes().ok()?.get(record.0).map(|b| Pdq256(*b))
    }

    /// The list-entry id of `record` (empty if the list gave none).
    ///
    /// # Errors
    /// [`IndexError::ChecksumMismatch`] if the id sections fail their checksums;
    /// [`IndexError::Corrupt`] if the record is out of range or its id bytes are not a valid
    /// UTF-8 range of the string table.
    pub fn id(&self, record: RecordId) -> Result<&str> {
        let offs = self.checked(SectionKind::IdOffsets)?;
        let bytes = self.checked(SectionKind::IdBytes)?;
        let bad = |what| IndexError::corrupt("id_offsets", u64::from(record.0), what);
        let i = record.0 as usize;
        let lo = u64_at(offs, i).ok_or(bad("record id out of range"))?;
        let hi = u64_at(offs, i + 1).ok_or(bad("record id out of range"))?;
        let range = (usize::try_from(lo).ok(), usize::try_from(hi).ok());
        let slice = match range {
            (Some(lo), Some(hi)) if lo <= hi => bytes.get(lo..hi),
            _ => None,
        }
        .ok_or(bad("id range out of order or past the string table"))?;
        std::str::from_utf8(slice).map_err(|_| {
            IndexError::corrupt("id_bytes", u64::from(record.0), "id is not valid UTF-8")
        })
    }

    /// Every indexed hash within `max_distance` bits of `q`, exactly, through multi-index
    /// hashing; sorted by (distance, record).
    ///
    /// The answer equals [`Index::search_radius_flat`]'s. Time: for radius 31 and the default
    /// m, about m·Σ_{i≤⌊31/m⌋} C(key_bits, i) bucket probes plus one 256-bit comparison per
    /// candidate, all random memory accesses; when a sequential flat scan is expected to be
    /// faster (small lists, large radii) it scans instead. No allocation once `scratch` is
    /// warm.
    ///
    /// # Errors
    /// [`IndexError::Corrupt`] if a bucket bound or record id read on the way is out of range.
    pub fn search_radius<'s>(
        &self,
        q: &Pdq256,
        max_distance: u32,
        scratch: &'s mut SearchScratch,
    ) -> Result<&'s [Match]> {
        self.radius_via_mih(q, max_distance, scratch, true)
    }

    /// Radius search through MIH; with `allow_scan`, a flat scan when that is cheaper.
    pub(crate) fn radius_via_mih<'s>(
        &self,
        q: &Pdq256,
        max_distance: u32,
        scratch: &'s mut SearchScratch,
        allow_scan: bool,
    ) -> Result<&'s [Match]> {
        scratch.results.clear();
        self.mih()?.radius(
            self.hashes()?,
            q,
            max_distance,
            Dihedral::Original,
            &mut scratch.results,
            &mut scratch.probes,
            &mut scratch.candidate_ids,
            allow_scan,
        )?;
        finish_radius(&mut scratch.results);
        Ok(&scratch.results)
    }

    /// The same answer as [`Index::search_radius`], by scanning every hash (the oracle).
    /// O(N) time, no allocation once `scratch` is warm.
    ///
    /// # Errors
    /// None today; the `Result` keeps the signature aligned with the other searches.
    pub fn search_radius_flat<'s>(
        &self,
        q: &Pdq256,
        max_distance: u32,
        scratch: &'s mut SearchScratch,
    ) -> Result<&'s [Match]> {
        scratch.results.clear();
        flat::radius(
            self.hashes()?,
            q,
            max_distance,
            Dihedral::Original,
            &mut scratch.results,
        );
        finish_radius(&mut scratch.results);
        Ok(&scratch.results)
    }

    /// Radius search with all eight dihedral hashes of one image (in [`DIHEDRALS`] order, as
    /// [`crate::hash::DihedralHashes::hashes`]): every entry within `max_distance` of any of
    /// them, once, with its smallest distance and the transform that reached it (the lowest
    /// transform index on ties); sorted by (distance, record).
    ///
    /// # Errors
    /// As [`Index::search_radius`].
    pub fn search_radius_dihedral<'s>(
        &self,
        queries: &[Pdq256; 8],
        max_distance: u32,
        scratch: &'s mut SearchScratch,
    ) -> Result<&'s [Match]> {
        scratch.results.clear();
        let (mih, hashes) = (self.mih()?, self.hashes()?);
        for (q, t) in queries.iter().zip(DIHEDRALS) {
            mih.radius(
                hashes,
                q,
                max_distance,
                t,
                &mut scratch.results,
                &mut scratch.probes,
                &mut scratch.candidate_ids,
                true,
            )?;
        }
        super::best_per_record(&mut scratch.results);
        Ok(&scratch.results)
    }

    /// Radius searches for many queries at once, in parallel over the rayon pool; one result
    /// per query, in query order.
    #[must_use]
    pub fn search_radius_batch(
        &self,
        queries: &[Pdq256],
        max_distance: u32,
    ) -> Vec<Result<Vec<Match>>>
    where
        D: Sync,
    {
        queries
            .par_iter()
            .map_init(SearchScratch::new, |s, q| {
                self.search_radius(q, max_distance, s)
                    .map(<[Match]>::to_vec)
            })
            .collect()
    }

    /// The same answers as [`Index::search_radius`] (one hash) and
    /// [`Index::search_radius_dihedral`] (8 hashes) for a batch of queries, by a blocked flat
    /// scan: every query hash against every record, blocks of records kept in cache while a
    /// block of queries passes over them, in parallel over query blocks on the rayon pool.
    /// O(Q·T·N) distance evaluations (T = 1 or 8 hashes a query), all sequential memory, about
    /// a billion a second per core with `POPCNT`; MIH lookups are faster on uniform data at
    /// every list size measured (BENCHMARKS.md, "Batch matching"), so this is the exact check
    /// of a batch's answers. One list per query, in query order.
    ///
    /// # Errors
    /// [`IndexError::ChecksumMismatch`] when the hashes section fails its checksum.
    pub fn scan_radius_batch(
        &self,
        queries: &[crate::hash::Hashes],
        max_distance: u32,
    ) -> Result<Vec<Vec<Match>>>
    where
        D: Sync,
    {
        Ok(flat::radius_batch(self.hashes()?, queries, max_distance))
    }

    /// The `k` nearest hashes by the HNSW graph (approximate), searching level 0 with a beam
    /// of `max(ef_search, k)`; sorted by (distance, record).
    ///
    /// Time: about O(ef_search · m0 · log N) distance evaluations; no allocation once
    /// `scratch` is warm (its visited set takes 4 bytes per hash).
    ///
    /// # Errors
    /// [`IndexError::InvalidParameter`] if the index has no graph; [`IndexError::Corrupt`] if a
    /// neighbour id or row read on the way is out of range.
    pub fn search_knn<'s>(
        &self,
        q: &Pdq256,
        k: usize,
        ef_search: usize,
        scratch: &'s mut SearchScratch,
    ) -> Result<&'s [Match]> {
        scratch.results.clear();
        if !self.has_graph() {
            return Err(IndexError::InvalidParameter {
                name: "k",
                reason: "the index was built without an HNSW graph; use the exact search",
            });
        }
        if k == 0 {
            return Ok(&scratch.results);
        }
        let (graph, hashes) = (self.graph()?, self.hashes()?);
        let qw = Lanes::of_hash(q);
        let top = self.layout.hnsw_num_levels - 1;
        let entry = self.layout.hnsw_entry_point;
        if graph.level(entry) != top {
            return Err(IndexError::corrupt(
                "header",
                0,
                "hnsw entry point is not on the top level",
            ));
        }
        let (d, ep) = descend(&graph, &hashes, &qw, entry, top, 0, scratch)?;
        search_layer(
            &graph,
            &hashes,
            &qw,
            &[(d, ep)],
            ef_search.max(k),
            0,
            scratch,
        )?;
        let SearchScratch { best, results, .. } = scratch;
        results.extend(best.drain().map(|(distance, id)| Match {
            record: RecordId(id),
            distance,
            transform: Dihedral::Original,
        }));
        results.sort_unstable_by_key(|m| (m.distance, m.record));
        results.truncate(k);
        Ok(&scratch.results)
    }

    /// The exact `k` nearest hashes by a flat scan; sorted by (distance, record).
    ///
    /// # Errors
    /// None today; the `Result` keeps the signature aligned with the other searches.
    pub fn search_knn_flat<'s>(
        &self,
        q: &Pdq256,
        k: usize,
        scratch: &'s mut SearchScratch,
    ) -> Result<&'s [Match]> {
        let SearchScratch { best, results, .. } = scratch;
        flat::knn(self.hashes()?, q, k, best, results);
        Ok(&scratch.results)
    }

    /// Checks everything [`Index::from_bytes`] does not: every section checksum, zero padding,
    /// the id string table, every MIH posting (a permutation of the records, each in the
    /// bucket of its key) and every graph row (ids in range, padding, levels). O(m·N) time,
    /// O(N) bits of memory.
    ///
    /// # Errors
    /// [`IndexError::ChecksumMismatch`] or [`IndexError::Corrupt`] naming the section.
    pub fn verify(&self) -> Result<()> {
        let data = self.data.as_ref();
        let mut prev_end = HEADER_LEN;
        for (kind, range) in SECTIONS.iter().zip(&self.layout.sections) {
            let padding = data.get(prev_end..range.start).unwrap_or(&[]);
            if padding.iter().any(|&b| b != 0) {
                return Err(IndexError::corrupt(
                    kind.name(),
                    0,
                    "padding before the section is not zero",
                ));
            }
            self.checked(*kind)?;
            prev_end = range.end;
        }
        self.verify_ids()?;
        self.verify_mih()?;
        if self.has_graph() {
            self.verify_graph()?;
        }
        Ok(())
    }

    fn verify_ids(&self) -> Result<()> {
        let offs = self.checked(SectionKind::IdOffsets)?;
        let bytes = self.checked(SectionKind::IdBytes)?;
        if u64_at(offs, 0) != Some(0) {
            return Err(IndexError::corrupt(
                "id_offsets",
                0,
                "first offset is not zero",
            ));
        }
        if u64_at(offs, self.len()) != Some(bytes.len() as u64) {
            return Err(IndexError::corrupt(
                "id_offsets",
                self.len() as u64,
                "last offset is not the string table length",
            ));
        }
        for i in 0..self.len() {
            self.id(RecordId(i as u32))?;
        }
        Ok(())
    }

    fn verify_mih(&self) -> Result<()> {
        let mih = self.mih()?;
        let hashes = self.hashes()?;
        let n = self.len();
        for (j, s) in self.layout.substrings.iter().enumerate() {
            let buckets = 1usize << s.key_bits;
            let dir = |b: usize| u32_at(mih.offsets, s.dir_start + b).unwrap_or(u32::MAX);
            if dir(0) != 0 || dir(buckets) as usize != n {
                return Err(IndexError::corrupt(
                    "mih_offsets",
                    j as u64,
                    "directory does not span the postings",
                ));
            }
            for b in 0..buckets {
                let (lo, hi) = (dir(b), dir(b + 1));
                if lo > hi || hi as usize > n {
                    return Err(IndexError::corrupt(
                        "mih_offsets",
                        (s.dir_start + b) as u64,
                        "bucket bounds out of order",
                    ));
                }
                let mut prev: Option<u32> = None;
                for p in lo..hi {
                    let at = j * n + p as usize;
                    let (id, fp) = mih.posting(at).map_or((u32::MAX, (0, 0)), decode_posting);
                    let rec = hashes.get(id).ok_or(IndexError::corrupt(
                        "mih_postings",
                        at as u64,
                        "record id out of range",
                    ))?;
                    if prev.is_some_and(|q| q >= id) {
                        return Err(IndexError::corrupt(
                            "mih_postings",
                            at as u64,
                            "postings not strictly ascending in a bucket",
                        ));
                    }
                    if mih::key(rec, s) as usize != b {
                        return Err(IndexError::corrupt(
                            "mih_postings",
                            at as u64,
                            "record filed under the wrong key",
                        ));
                    }
                    if mih::fingerprint(&words(rec), s) != fp {
                        return Err(IndexError::corrupt(
                            "mih_postings",
                            at as u64,
                            "fingerprint does not match the record's hash",
                        ));
                    }
                    prev = Some(id);
                }
            }
        }
        Ok(())
    }

    fn verify_graph(&self) -> Result<()> {
        let g = self.graph()?;
        let n = self.layout.num_hashes;
        let top = self.layout.hnsw_num_levels - 1;
        let mut next_row = 0u64;
        for v in 0..n {
            let lv = g.level(v);
            if lv > top {
                return Err(IndexError::corrupt(
                    "hnsw_levels",
                    u64::from(v),
                    "node level above the top level",
                ));
            }
            let first = u32_at(g.upper_index, v as usize).unwrap_or(NO_NODE);
            if lv == 0 {
                if first != NO_NODE {
                    return Err(IndexError::corrupt(
                        "hnsw_upper_index",
                        u64::from(v),
                        "level-0 node has upper rows",
                    ));
                }
            } else {
                if u64::from(first) != next_row {
                    return Err(IndexError::corrupt(
                        "hnsw_upper_index",
                        u64::from(v),
                        "upper rows not assigned in node order",
                    ));
                }
                next_row += u64::from(lv);
            }
        }
        if next_row != u64::from(self.layout.hnsw_num_upper_rows) {
            return Err(IndexError::corrupt(
                "hnsw_upper_index",
                u64::from(n),
                "upper row count does not match the header",
            ));
        }
        if g.level(self.layout.hnsw_entry_point) != top {
            return Err(IndexError::corrupt(
                "header",
                0,
                "hnsw entry point is not on the top level",
            ));
        }
        let mut row = Vec::new();
        for v in 0..n {
            for l in 0..=g.level(v) {
                g.neighbours(v, l, &mut row)?;
                let width = if l == 0 { g.m0 } else { g.m } as usize;
                // After the first sentinel, the rest of the row must be sentinels too.
                let (bytes, first) = if l == 0 {
                    (g.level0, v as usize * width)
                } else {
                    let f =
                        u32_at(g.upper_index, v as usize).unwrap_or(0) as usize + l as usize - 1;
                    (g.upper, f * width)
                };
                for k in row.len()..width {
                    if u32_at(bytes, first + k) != Some(NO_NODE) {
                        return Err(IndexError::corrupt(
                            if l == 0 { "hnsw_level0" } else { "hnsw_upper" },
                            u64::from(v),
                            "entries after the row's sentinel",
                        ));
                    }
                }
                if row.iter().any(|&u| g.level(u) < l) {
                    return Err(IndexError::corrupt(
                        "hnsw_upper",
                        u64::from(v),
                        "neighbour below the row's level",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Sorts radius results by (distance, record) and drops the repeats MIH produces when a
/// record matches in several substrings.
fn finish_radius(r: &mut Vec<Match>) {
    r.sort_unstable_by_key(|m| (m.distance, m.record));
    r.dedup_by_key(|m| m.record);
}

const _: () = assert!(HASH_LEN == 32);
