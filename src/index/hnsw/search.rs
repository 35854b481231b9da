//! HNSW search (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search
//! using Hierarchical Navigable Small World graphs", 2018): greedy descent through the upper
//! levels, then a beam of width `ef` on level 0 (Algorithms 2 and 5).
//!
//! Works on any [`Graph`]: the mapped view when searching, the in-memory buffer when building.
//! Time is about O(ef · m0 · log N) distance evaluations; memory is the caller's scratch.

use std::cmp::Reverse;

use super::super::error::Result;
use super::super::hamming::{self, HashesView, Lanes};
use super::super::scratch::SearchScratch;
use super::graph::Graph;

/// Distance from the query to node `id` (ids come from validated rows, so `get` succeeds;
/// a miss counts as the farthest possible distance rather than panicking).
#[inline]
pub(crate) fn dist(hashes: &HashesView<'_>, q: &Lanes, id: u32) -> u32 {
    hashes.get(id).map_or(u32::MAX, |r| hamming::distance(q, r))
}

/// Algorithm 2 (SEARCH-LAYER): the `ef` nearest nodes to `q` reachable on `level` from the
/// `entry` nodes, left in `scratch.best` (a max-heap of (distance, id)).
pub(crate) fn search_layer<G: Graph>(
    graph: &G,
    hashes: &HashesView<'_>,
    q: &Lanes,
    entries: &[(u32, u32)],
    ef: usize,
    level: u32,
    scratch: &mut SearchScratch,
) -> Result<()> {
    scratch.new_visit(graph.num_nodes() as usize);
    scratch.candidates.clear();
    scratch.best.clear();
    for &(d, id) in entries {
        if scratch.visit(id) {
            scratch.candidates.push(Reverse((d, id)));
            scratch.best.push((d, id));
        }
    }
    while scratch.best.len() > ef {
        scratch.best.pop();
    }
    let mut nbrs = std::mem::take(&mut scratch.neighbours);
    let outcome = (|| {
        while let Some(Reverse((d, c))) = scratch.candidates.pop() {
            let worst = scratch.best.peek().map_or(u32::MAX, |t| t.0);
            if d > worst && scratch.best.len() >= ef {
                break;
            }
            graph.neighbours(c, level, &mut nbrs)?;
            for &e in &nbrs {
                if !scratch.visit(e) {
                    continue;
                }
                let de = dist(hashes, q, e);
                let worst = scratch.best.peek().map_or(u32::MAX, |t| t.0);
                if scratch.best.len() < ef || de < worst {
                    scratch.candidates.push(Reverse((de, e)));
                    scratch.best.push((de, e));
                    if scratch.best.len() > ef {
                        scratch.best.pop();
                    }
                }
            }
        }
        Ok(())
    })();
    scratch.neighbours = nbrs;
    outcome
}

/// Greedy descent (Algorithm 5, lines 1–6): from `entry` at `top`, the closest node found on
/// each level down to `stop_above` (exclusive), with its distance.
pub(crate) fn descend<G: Graph>(
    graph: &G,
    hashes: &HashesView<'_>,
    q: &Lanes,
    entry: u32,
    top: u32,
    stop_above: u32,
    scratch: &mut SearchScratch,
) -> Result<(u32, u32)> {
    let mut cur = entry;
    let mut cur_d = dist(hashes, q, cur);
    let mut nbrs = std::mem::take(&mut scratch.neighbours);
    let mut level = top;
    let outcome = (|| {
        while level > stop_above {
            let mut improved = true;
            while improved {
                improved = false;
                graph.neighbours(cur, level, &mut nbrs)?;
                for &e in &nbrs {
                    let d = dist(hashes, q, e);
                    if (d, e) < (cur_d, cur) {
                        cur = e;
                        cur_d = d;
                        improved = true;
                    }
                }
            }
            level -= 1;
        }
        Ok(())
    })();
    scratch.neighbours = nbrs;
    outcome.map(|()| (cur_d, cur))
}
