#!/usr/bin/env python3
"""Index peers: imprint vs FAISS (IndexBinaryFlat, IndexBinaryMultiHash, IndexBinaryHNSW) and
usearch (b1, Hamming) on the same seeded 256-bit data, in the same run.

Data (seeded, numpy PCG64): N/10 random centres with 9 variants each at 0-30 flipped bits;
Q queries, half variants of listed centres at 0-30 bits (they have matches within 31), half
random (they have none). Written as raw 32-byte records, which `imprint bench index` reads, so
every engine sees identical bytes.

Measured per engine: build time, single-thread per-query latency (p50/p99), and quality:
exactness of radius-31 results against the flat scan, recall@k (tie-aware: a result counts if
its distance is at most the true k-th distance) for k-nearest searches.

Reproduce (release binary, 2 threads for builds, 1 thread for queries; --hnsw-rs adds the
`hnsw_rs` crate through the `hnsw_rs_peer` example):
    cargo build --release --no-default-features --features cli
    cargo build --release --example hnsw_rs_peer
    python3 -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install faiss-cpu usearch numpy
    /tmp/peervenv/bin/python benches/peers/index_peers.py --n 1000000 --queries 1000 \
        --imprint target/release/imprint --out /tmp/index-peers
"""

import argparse
import csv
import io
import os
import subprocess
import sys
import time

import numpy as np


def gen(n, q, seed):
    rng = np.random.default_rng(seed)
    nc = (n + 9) // 10
    centres = rng.integers(0, 256, size=(nc, 32), dtype=np.uint8)
    data = np.repeat(centres, 10, axis=0)[:n].copy()
    variant = (np.arange(n) % 10) != 0

    def flip(rows, rng):
        # For each row: flip k in [0, 30] distinct random bits.
        m = rows.shape[0]
        out = rows.copy()
        for s in range(0, m, 50_000):
            e = min(m, s + 50_000)
            k = rng.integers(0, 31, size=e - s)
            order = np.argsort(rng.random((e - s, 256)), axis=1)
            mask_bits = np.zeros((e - s, 256), dtype=np.uint8)
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(256)[None, :].repeat(e - s, 0), axis=1)
            mask_bits[rank < k[:, None]] = 1
            out[s:e] ^= np.packbits(mask_bits, axis=1)
        return out

    data[variant] = flip(data[variant], rng)
    half = q // 2
    picks = rng.integers(0, nc, size=half)
    qa = flip(centres[picks], rng)
    qb = rng.integers(0, 256, size=(q - half, 32), dtype=np.uint8)
    queries = np.empty((q, 32), dtype=np.uint8)
    queries[0::2] = qa[: len(queries[0::2])]
    queries[1::2] = qb[: len(queries[1::2])]
    return data, queries


def pct(ts, p):
    ts = sorted(ts)
    return ts[min(len(ts) - 1, int(round((len(ts) - 1) * p)))] * 1e6


def row(engine, method, params, n, nq, build_s, bph, times, recall, match_recall=None):
    return {
        "engine": engine, "method": method, "params": params, "n": n, "num_queries": nq,
        "build_s": f"{build_s:.3f}", "open_ms": "", "bytes_per_hash": f"{bph:.1f}" if bph else "",
        "p50_us": f"{pct(times, 0.5):.2f}", "p99_us": f"{pct(times, 0.99):.2f}",
        "mean_us": f"{np.mean(times) * 1e6:.2f}", "qps": f"{1 / np.mean(times):.0f}",
        "recall": f"{recall:.4f}",
        "match_recall": "" if match_recall is None else f"{match_recall:.4f}",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--radius", type=int, default=31)
    ap.add_argument("--ef", default="16,32,64,128,256")
    ap.add_argument("--m", type=int, default=16, help="HNSW M for all graph engines")
    ap.add_argument("--ef-construction", type=int, default=64)
    ap.add_argument("--imprint", default="target/release/imprint")
    ap.add_argument("--out", default="/tmp/index-peers")
    ap.add_argument("--skip", default="",
                    help="comma list: imprint,faiss_hnsw,usearch,faiss_mih (the data is seeded, so "
                         "a long run can be split into runs of fewer engines on the same bytes)")
    ap.add_argument("--hnsw-rs", default="",
                    help="path of the built hnsw_rs_peer example (cargo build --release --example "
                         "hnsw_rs_peer) to include hnsw_rs")
    ap.add_argument("--faiss-mih-nhash", default="",
                    help="comma list of FAISS MultiHash table counts to run (default: imprint's m)")
    ap.add_argument("--no-hnsw", action="store_true",
                    help="exact lookups only: no graph for imprint, skip FAISS HNSW and usearch")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    if a.no_hnsw:
        skip |= {"faiss_hnsw", "usearch"}
    efs = [int(x) for x in a.ef.split(",")]
    os.makedirs(a.out, exist_ok=True)

    t = time.perf_counter()
    data, queries = gen(a.n, a.queries, a.seed)
    print(f"# generated {a.n} hashes in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    dpath, qpath = os.path.join(a.out, "data.bin"), os.path.join(a.out, "queries.bin")
    data.tofile(dpath)
    queries.tofile(qpath)
    rows = []
    partial = os.path.join(a.out, "rows.csv")

    def save():
        # Each finished engine's rows are kept on disk, so a long run that is cut short
        # still leaves what it measured.
        names = []
        for r in rows:
            names += [k for k in r if k not in names]
        with open(partial, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=names)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k, "") for k in names})

    # imprint (release CLI; builds with the rayon pool, searches single-threaded).
    cmd = [a.imprint, "bench", "index", "--hashes", dpath, "--queries", qpath,
           "--max-distance", str(a.radius), "--k", str(a.k), "--ef", a.ef,
           "--m", str(a.m), "--m0", str(2 * a.m), "--ef-construction", str(a.ef_construction)]
    if a.no_hnsw:
        cmd.append("--no-hnsw")
    if "imprint" not in skip:
        print("# " + " ".join(cmd), file=sys.stderr)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows += list(csv.DictReader(io.StringIO(out)))
        save()

    import faiss
    faiss.omp_set_num_threads(2)
    d = 256
    n, nq = a.n, a.queries

    # Ground truth and baseline: FAISS flat.
    flat = faiss.IndexBinaryFlat(d)
    t = time.perf_counter(); flat.add(data); bflat = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    truth_r, times = [], []
    for i in range(nq):
        t = time.perf_counter()
        lims, D, I = flat.range_search(queries[i:i + 1], a.radius + 1)
        times.append(time.perf_counter() - t)
        truth_r.append(set(I.tolist()))
    rows.append(row("faiss", "flat_radius", f"r={a.radius}", n, nq, bflat, 32, times, 1.0))
    save()
    Dk, _ = flat.search(queries, a.k)
    kth = Dk[:, -1]

    def recall_knn(Ds):
        return float(np.mean([min(a.k, int((Ds[i] <= kth[i]).sum())) for i in range(nq)]) / a.k)

    def recall_match(Ds):
        # Of the true matches within the radius (at most k per query), the share found.
        found = sum(int((Ds[i] <= a.radius).sum()) for i in range(nq))
        total = sum(min(a.k, len(truth_r[i])) for i in range(nq))
        return found / max(1, total)

    if not a.no_hnsw:
        times = []
        for i in range(nq):
            t = time.perf_counter()
            D, I = flat.search(queries[i:i + 1], a.k)
            times.append(time.perf_counter() - t)
        rows.append(row("faiss", "flat_knn", f"k={a.k}", n, nq, bflat, 32, times, 1.0))

    ours = [int(r["params"].split("m=")[1]) for r in rows if r["method"] == "mih_radius"]
    nhashes = [int(x) for x in a.faiss_mih_nhash.split(",") if x] or ours[:1]
    if not nhashes and "faiss_mih" not in skip:
        sys.exit("--skip imprint needs --faiss-mih-nhash")
    for m in nhashes if "faiss_mih" not in skip else []:
        b = d // m
        nflip = a.radius // m
        faiss.omp_set_num_threads(2)
        mh = faiss.IndexBinaryMultiHash(d, m, b)
        mh.nflip = nflip
        t = time.perf_counter(); mh.add(data); bmh = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        times, found, expected = [], 0, 0
        for i in range(nq):
            t = time.perf_counter()
            lims, D, I = mh.range_search(queries[i:i + 1], a.radius + 1)
            times.append(time.perf_counter() - t)
            got = set(I.tolist())
            expected += len(truth_r[i]); found += len(got & truth_r[i])
        rows.append(row("faiss", "multihash_radius", f"r={a.radius} nhash={m} b={b} nflip={nflip}",
                        n, nq, bmh, None, times, found / max(1, expected)))
        save()

    if "faiss_hnsw" not in skip:
        faiss.omp_set_num_threads(2)
        hn = faiss.IndexBinaryHNSW(d, a.m)
        hn.hnsw.efConstruction = a.ef_construction
        t = time.perf_counter(); hn.add(data); bh = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        for ef in efs:
            hn.hnsw.efSearch = ef
            times, Dall = [], np.zeros((nq, a.k), dtype=np.int32)
            for i in range(nq):
                t = time.perf_counter()
                D, I = hn.search(queries[i:i + 1], a.k)
                times.append(time.perf_counter() - t)
                Dall[i] = D[0]
            rows.append(row("faiss", "hnsw_knn", f"k={a.k} ef={ef} M={a.m}", n, nq, bh, None,
                            times, recall_knn(Dall), recall_match(Dall)))
        save()
        del hn

    if "usearch" not in skip:
        from usearch.index import Index as UIndex
        u = UIndex(ndim=d, metric="hamming", dtype="b1", connectivity=a.m,
                   expansion_add=a.ef_construction)
        t = time.perf_counter(); u.add(np.arange(n), data, threads=2); bu = time.perf_counter() - t
        for ef in efs:
            u.expansion_search = ef
            times, Dall = [], np.zeros((nq, a.k), dtype=np.int64)
            for i in range(nq):
                t = time.perf_counter()
                res = u.search(queries[i], a.k, threads=1)
                times.append(time.perf_counter() - t)
                keys = np.asarray(res.keys)
                # Recompute exact Hamming distances from the keys (usearch reports its own).
                x = np.unpackbits(data[keys] ^ queries[i], axis=1).sum(axis=1)
                Dall[i, : len(x)] = x
                Dall[i, len(x):] = 10**6
            rows.append(row("usearch", "hnsw_knn", f"k={a.k} ef={ef} M={a.m}", n, nq, bu, None,
                            times, recall_knn(Dall), recall_match(Dall)))
        save()
        del u

    if a.hnsw_rs and not a.no_hnsw:
        cmd = [a.hnsw_rs, dpath, qpath, str(a.k), str(a.radius), a.ef, str(a.m),
               str(a.ef_construction)]
        print("# " + " ".join(cmd), file=sys.stderr)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        names = ["engine", "method", "params", "n", "num_queries", "build_s", "open_ms",
                 "bytes_per_hash", "p50_us", "p99_us", "mean_us", "qps", "recall", "match_recall"]
        rows += [dict(zip(names, line.split(","))) for line in out.splitlines() if line]

    fields = list(rows[0].keys())
    w = csv.DictWriter(sys.stdout, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in fields})


if __name__ == "__main__":
    main()
