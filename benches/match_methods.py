#!/usr/bin/env python3
"""`imprint match --method mih` against `--method scan` (a blocked flat scan of the list per
chunk of queries), on seeded hash lists of several sizes, plain and dihedral queries; each case
run alternately --repeat times, median seconds and scan / mih printed as a Markdown table. Both
methods must print the same bytes; the script checks it before timing.

Reproduce (see BENCHMARKS.md, "Batch matching"):

    cargo build --release --bin imprint
    python3 benches/match_methods.py target/release/imprint

Only the standard library is needed.
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

from compare_builds import near, rand_hash


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("imprint")
    ap.add_argument("--lists", default="10000,100000", help="list sizes, comma-separated")
    ap.add_argument("--queries", type=int, default=100_000, help="query images per case")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="imprint-methods-")
    rows = []
    try:
        for n in [int(x) for x in args.lists.split(",")]:
            listed = [rand_hash(rng) for _ in range(n)]
            lst = os.path.join(work, f"list{n}.csv")
            with open(lst, "w") as f:
                f.writelines(f"{h},100,case-{i}\n" for i, h in enumerate(listed))
            idx = os.path.join(work, f"list{n}.idx")
            subprocess.run([args.imprint, "index", "build", "--no-hnsw", "--out", idx, lst],
                           check=True, stderr=subprocess.DEVNULL)
            for kind, per in (("plain", 1), ("dihedral", 8)):
                q = os.path.join(work, f"q{n}{kind}.csv")
                with open(q, "w") as f:
                    for i in range(args.queries // per):
                        hs = [rand_hash(rng) for _ in range(per)]
                        if i % 10 == 0:
                            hs[rng.randrange(per)] = near(rng, rng.choice(listed), rng.randrange(31))
                        f.write(",".join(hs) + f",100,u{i}\n")
                cmd = lambda m: [args.imprint, "match", "--index", idx, "--method", m, q]  # noqa: E731
                outs = [subprocess.run(cmd(m), check=True, capture_output=True).stdout
                        for m in ("mih", "scan")]
                if outs[0] != outs[1]:
                    sys.exit(f"list {n}, {kind}: the two methods print different matches")
                times = {"mih": [], "scan": []}
                for _ in range(args.repeat):
                    for m in ("mih", "scan"):
                        t = time.perf_counter()
                        subprocess.run(cmd(m), check=True, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
                        times[m].append(time.perf_counter() - t)
                a, b = statistics.median(times["mih"]), statistics.median(times["scan"])
                rows.append((n, kind, args.queries // per, a, b))
        print(f"{args.repeat} runs each, alternating; median seconds\n")
        print("| list | queries | query hashes | mih s | scan s | scan / mih |")
        print("|---:|---|---:|---:|---:|---:|")
        for n, kind, q, a, b in rows:
            hashes = q * (8 if kind == "dihedral" else 1)
            print(f"| {n:,} | {q:,} {kind} | {hashes:,} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
