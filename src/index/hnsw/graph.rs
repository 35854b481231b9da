//! The HNSW graph as fixed-width `u32` neighbour rows, viewed in place over the file bytes
//! ([`GraphView`]) or held in memory while building ([`GraphBuf`]).
//!
//! Level 0 has one row of `m0` ids per node; a node of level `L ≥ 1` owns `L` consecutive rows
//! of `m` ids in the upper section, starting at its `upper_index` entry. Rows are padded with
//! [`NO_NODE`]; the first sentinel ends a row. Ids read from a row are checked against N at use,
//! so a corrupt graph gives [`IndexError::Corrupt`], never an out-of-bounds read.

use super::super::error::{IndexError, Result};
use super::super::format::{u32_at, NO_NODE};

/// Read access to neighbour rows, shared by the builder's buffer and the mapped view.
pub(crate) trait Graph {
    /// Number of nodes.
    fn num_nodes(&self) -> u32;
    /// Appends the neighbours of `node` on `level` to `out` (after clearing it).
    fn neighbours(&self, node: u32, level: u32, out: &mut Vec<u32>) -> Result<()>;
}

/// The graph sections of a mapped index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GraphView<'a> {
    pub(crate) levels: &'a [u8],
    pub(crate) upper_index: &'a [u8],
    pub(crate) level0: &'a [u8],
    pub(crate) upper: &'a [u8],
    pub(crate) m: u32,
    pub(crate) m0: u32,
    pub(crate) num_nodes: u32,
    pub(crate) num_upper_rows: u32,
}

impl GraphView<'_> {
    /// The row (section, first u32 index, width) of `node` at `level`.
    fn row(&self, node: u32, level: u32) -> Result<(&[u8], usize, u32)> {
        if node >= self.num_nodes {
            return Err(IndexError::corrupt(
                "hnsw_level0",
                u64::from(node),
                "neighbour id out of range",
            ));
        }
        if level == 0 {
            return Ok((self.level0, node as usize * self.m0 as usize, self.m0));
        }
        let top = self.levels.get(node as usize).copied().unwrap_or(0);
        if u32::from(top) < level {
            return Err(IndexError::corrupt(
                "hnsw_levels",
                u64::from(node),
                "node visited above its level",
            ));
        }
        let first = u32_at(self.upper_index, node as usize).unwrap_or(NO_NODE);
        let row = u64::from(first) + u64::from(level) - 1;
        if first == NO_NODE || row >= u64::from(self.num_upper_rows) {
            return Err(IndexError::corrupt(
                "hnsw_upper_index",
                u64::from(node),
                "upper row out of range",
            ));
        }
        Ok((self.upper, row as usize * self.m as usize, self.m))
    }

    /// Top level of `node` (0 if the levels section is absent or short).
    pub(crate) fn level(&self, node: u32) -> u32 {
        u32::from(self.levels.get(node as usize).copied().unwrap_or(0))
    }
}

impl Graph for GraphView<'_> {
    fn num_nodes(&self) -> u32 {
        self.num_nodes
    }

    fn neighbours(&self, node: u32, level: u32, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        let (bytes, first, width) = self.row(node, level)?;
        for k in 0..width as usize {
            let id = u32_at(bytes, first + k).ok_or(IndexError::corrupt(
                "hnsw_level0",
                u64::from(node),
                "neighbour row past the section end",
            ))?;
            if id == NO_NODE {
                break;
            }
            if id >= self.num_nodes {
                return Err(IndexError::corrupt(
                    if level == 0 {
                        "hnsw_level0"
                    } else {
                        "hnsw_upper"
                    },
                    u64::from(node),
                    "neighbour id out of range",
                ));
            }
            out.push(id);
        }
        Ok(())
    }
}

/// The graph while it is being built: the same rows as the file, in memory.
#[derive(Clone, Debug)]
pub(crate) struct GraphBuf {
    pub(crate) levels: Vec<u8>,
    pub(crate) upper_index: Vec<u32>,
    pub(crate) level0: Vec<u32>,
    pub(crate) upper: Vec<u32>,
    pub(crate) m: u32,
    pub(crate) m0: u32,
}

impl GraphBuf {
    /// Mutable row of `node` at `level`.
    pub(crate) fn row_mut(&mut self, node: u32, level: u32) -> &mut [u32] {
        if level == 0 {
            let w = self.m0 as usize;
            &mut self.level0[node as usize * w..(node as usize + 1) * w]
        } else {
            let w = self.m as usize;
            let row = (self.upper_index[node as usize] + level - 1) as usize;
            &mut self.upper[row * w..(row + 1) * w]
        }
    }
}

impl Graph for GraphBuf {
    fn num_nodes(&self) -> u32 {
        self.levels.len() as u32
    }

    fn neighbours(&self, node: u32, level: u32, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        let (w, row) = if level == 0 {
            (self.m0 as usize, node as usize)
        } else {
            (
                self.m as usize,
                (self.upper_index[node as usize] + level - 1) as usize,
            )
        };
        let src = if level == 0 {
            &self.level0
        } else {
            &self.upper
        };
        out.extend(
            src[row * w..(row + 1) * w]
                .iter()
                .copied()
                .take_while(|&id| id != NO_NODE),
        );
        Ok(())
    }
}
