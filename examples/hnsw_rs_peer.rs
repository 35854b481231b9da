//! `hnsw_rs` on the raw data files of `benches/peers/index_peers.py`, printing rows in that
//! script's CSV columns (without a header), so the named baseline library is measured on the
//! same bytes, in the same run, as imprint, FAISS and usearch.
//!
//! ```sh
//! cargo build --release --example hnsw_rs_peer
//! target/release/examples/hnsw_rs_peer DATA.bin QUERIES.bin K RADIUS EF_LIST M EF_CONSTRUCTION
//! ```
//!
//! Build: `Hnsw::parallel_insert` over the rayon pool (all cores), `M` connections (2·`M` on
//! level 0, as `hnsw_rs` does), popcount Hamming distance. Queries run one at a time on one
//! thread. Recall@k is tie-aware (a result counts if its distance is at most the true k-th
//! distance); match recall is the share of true matches within `RADIUS` (at most k per query)
//! that were returned. The truth comes from a flat scan here.

use std::time::Instant;

use hnsw_rs::prelude::Hnsw;

#[path = "../benches/common/popcount.rs"]
mod popcount;
use popcount::{ham, Popcount};

fn read(path: &str) -> Vec<Vec<u64>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
        .chunks_exact(32)
        .map(|c| {
            c.chunks_exact(8)
                .map(|w| u64::from_be_bytes(w.try_into().expect("8 bytes")))
                .collect()
        })
        .collect()
}

fn pct(sorted_s: &[f64], p: f64) -> f64 {
    let i = ((sorted_s.len() - 1) as f64 * p).round() as usize;
    sorted_s[i.min(sorted_s.len() - 1)] * 1e6
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 8 {
        eprintln!("usage: hnsw_rs_peer DATA QUERIES K RADIUS EF_LIST M EF_CONSTRUCTION");
        std::process::exit(2);
    }
    let (data, queries) = (read(&a[1]), read(&a[2]));
    let k: usize = a[3].parse().expect("K");
    let radius: u32 = a[4].parse().expect("RADIUS");
    let efs: Vec<usize> = a[5].split(',').map(|x| x.parse().expect("EF")).collect();
    let m: usize = a[6].parse().expect("M");
    let efc: usize = a[7].parse().expect("EF_CONSTRUCTION");
    let (n, nq) = (data.len(), queries.len());

    // Truth by flat scan: k-th distance and matches within the radius.
    let truth: Vec<(u32, usize)> = queries
        .iter()
        .map(|q| {
            let mut d: Vec<u32> = data.iter().map(|x| ham(q, x)).collect();
            let matches = d.iter().filter(|&&x| x <= radius).count();
            d.sort_unstable();
            (d[k.min(n) - 1], matches.min(k))
        })
        .collect();

    let t = Instant::now();
    let hn = Hnsw::<u64, Popcount>::new(m, n, 16, efc, Popcount);
    let refs: Vec<(&Vec<u64>, usize)> = data.iter().zip(0..).collect();
    hn.parallel_insert(&refs);
    let build_s = t.elapsed().as_secs_f64();

    for ef in efs {
        let (mut times, mut hit, mut mhit, mut mtotal) = (Vec::with_capacity(nq), 0, 0, 0);
        for (q, &(kth, matches)) in queries.iter().zip(&truth) {
            let t = Instant::now();
            let res = hn.search(q, k, ef);
            times.push(t.elapsed().as_secs_f64());
            let dists: Vec<u32> = res.iter().map(|r| ham(q, &data[r.d_id])).collect();
            hit += dists.iter().filter(|&&d| d <= kth).count().min(k);
            mhit += dists.iter().filter(|&&d| d <= radius).count();
            mtotal += matches;
        }
        let mean = times.iter().sum::<f64>() / nq as f64;
        times.sort_by(f64::total_cmp);
        println!(
            "hnsw_rs,hnsw_knn,k={k} ef={ef} M={m},{n},{nq},{build_s:.3},,,{:.2},{:.2},{:.2},{:.0},{:.4},{:.4}",
            pct(&times, 0.5),
            pct(&times, 0.99),
            mean * 1e6,
            1.0 / mean,
            hit as f64 / (k * nq) as f64,
            mhit as f64 / mtotal.max(1) as f64
        );
    }
}
