#!/usr/bin/env python3
"""Same-run comparison of two `imprint` builds on the commands that matter for a nightly job:
`index build`, `match` (hash lists, a store, and a dihedral store) and a bulk run
(`hash DIR --out FILE`), each repeated, A and B alternating, on the same seeded inputs.

Prints a Markdown table: median seconds of each build, and B / A (below 1: B is faster).
Used to check that moving code between modules costs nothing.

Reproduce (see BENCHMARKS.md, "Same-run comparisons of two builds"):

    git worktree add /tmp/base <BASE-COMMIT>
    (cd /tmp/base && cargo build --release --no-default-features --features cli)
    cargo build --release --no-default-features --features cli
    python3 benches/compare_builds.py /tmp/base/target/release/imprint target/release/imprint

Only the standard library is needed. Sizes scale with --list and --queries.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def rand_hash(rng):
    return "%064x" % rng.getrandbits(256)


def near(rng, h, bits):
    v = int(h, 16)
    for b in rng.sample(range(256), bits):
        v ^= 1 << b
    return "%064x" % v


def write_inputs(d, rng, n_list, n_queries):
    listed = [rand_hash(rng) for _ in range(n_list)]
    with open(os.path.join(d, "list.csv"), "w") as f:
        for i, h in enumerate(listed):
            f.write(f"{h},100,case-{i}\n")
    # One query in ten is a near copy (0-30 bits) of a listed hash; the rest match nothing.
    with open(os.path.join(d, "queries.csv"), "w") as f:
        for i in range(n_queries):
            h = near(rng, rng.choice(listed), rng.randrange(31)) if i % 10 == 0 else rand_hash(rng)
            f.write(f"{h},100,upload/{i:07d}.jpg\n")
    with open(os.path.join(d, "queries8.csv"), "w") as f:
        for i in range(n_queries // 8):
            hs = [rand_hash(rng) for _ in range(8)]
            if i % 10 == 0:
                hs[rng.randrange(8)] = near(rng, rng.choice(listed), rng.randrange(31))
            f.write(",".join(hs) + f",100,upload/{i:07d}.jpg\n")


def make_images(d, n):
    """`n` copies of the bundled sample photos, under distinct names."""
    src = os.path.join(os.path.dirname(__file__), "..", "datasets", "sample")
    photos = sorted(p for p in os.listdir(src) if p.endswith(".jpg"))
    os.makedirs(d)
    for i in range(n):
        p = photos[i % len(photos)]
        shutil.copyfile(os.path.join(src, p), os.path.join(d, f"{i:05d}-{p}"))


def timed(cmd, stdout=subprocess.DEVNULL):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=stdout, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="baseline imprint binary")
    ap.add_argument("b", help="candidate imprint binary")
    ap.add_argument("--list", type=int, default=200_000, help="listed hashes")
    ap.add_argument("--queries", type=int, default=400_000, help="query hashes")
    ap.add_argument("--images", type=int, default=400, help="images of the bulk run")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=19)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="imprint-compare-")
    try:
        write_inputs(work, rng, args.list, args.queries)
        make_images(os.path.join(work, "images"), args.images)
        j = lambda *p: os.path.join(work, *p)  # noqa: E731
        # Inputs both builds read: one index, one store of each kind, made by the baseline.
        subprocess.run([args.a, "index", "build", "--no-hnsw", "--out", j("ref.idx"), j("list.csv")],
                       check=True, stderr=subprocess.DEVNULL)
        subprocess.run([args.a, "hash", j("images"), "--out", j("plain.store")],
                       check=True, stderr=subprocess.DEVNULL)
        subprocess.run([args.a, "hash", "--dihedral", j("images"), "--out", j("dihedral.store")],
                       check=True, stderr=subprocess.DEVNULL)

        def cases(exe, tag):
            return {
                "index build (no graph)": lambda: timed(
                    [exe, "index", "build", "--no-hnsw", "--out", j(f"{tag}.idx"), j("list.csv")]),
                "match, hash list": lambda: timed(
                    [exe, "match", "--index", j("ref.idx"), j("queries.csv")]),
                "match, dihedral hash list": lambda: timed(
                    [exe, "match", "--index", j("ref.idx"), j("queries8.csv")]),
                "match, stores": lambda: timed(
                    [exe, "match", "--index", j("ref.idx"), "--store", j("plain.store"),
                     "--store", j("dihedral.store")]),
                "bulk run (hash --out)": lambda: (
                    [os.remove(p) for p in (j(f"{tag}.store"), j(f"{tag}.store.journal"))
                     if os.path.exists(p)],
                    timed([exe, "hash", "--backend", "cpu", j("images"), "--out", j(f"{tag}.store")]),
                )[1],
            }

        ca, cb = cases(args.a, "a"), cases(args.b, "b")
        # Outputs must be the same bytes before timings mean anything.
        for case in ("match, hash list", "match, dihedral hash list"):
            src = "queries.csv" if case == "match, hash list" else "queries8.csv"
            outs = [subprocess.run([exe, "match", "--index", j("ref.idx"), j(src)], check=True,
                                   capture_output=True).stdout for exe in (args.a, args.b)]
            if outs[0] != outs[1]:
                sys.exit(f"{case}: the two builds print different matches")
        times = {k: ([], []) for k in ca}
        for _ in range(args.repeat):
            for k in ca:
                times[k][0].append(ca[k]())
                times[k][1].append(cb[k]())
        print(f"list {args.list}, queries {args.queries}, images {args.images}, "
              f"{args.repeat} runs each, A and B alternating; median seconds\n")
        print("| command | A s | B s | B / A |")
        print("|---|---:|---:|---:|")
        for k, (ta, tb) in times.items():
            ma, mb = statistics.median(ta), statistics.median(tb)
            print(f"| {k} | {ma:.3f} | {mb:.3f} | {mb / ma:.3f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
