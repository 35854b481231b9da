#!/usr/bin/env python3
"""End-to-end bulk hashing throughput: imprint (exact and --fast) vs pdqhash + Pillow.

Generates a seeded corpus of real-world-sized JPEGs (1 MP and 12 MP; or lossy WebPs with
--format webp, PNGs with --format png), then, in the same run on the same files:

* the reference stack: PyPI `pdqhash` with Pillow decoding (`Image.open(p).convert("RGB")`),
  one process per core (`multiprocessing.Pool`);
* `imprint hash DIR --out FILE` (exact mode) with one decode thread per core;
* `imprint hash DIR --out FILE --fast` (JPEG decoded at a reduced DCT scale; JPEG corpora
  only, as --fast changes nothing else);

and prints images/s, the ratios, and the Hamming distance distribution of --fast (and of the
reference) against imprint's exact mode.

Reproduce (see BENCHMARKS.md, "Bulk runs"):

    cargo build --release --no-default-features --features cli
    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install pdqhash pillow numpy
    /tmp/bench-venv/bin/python benches/bulk_runs.py --imprint target/release/imprint

Scale with --n1 / --n12 (defaults are small enough for a 2-core machine).
"""

import argparse
import csv
import io
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFilter

SIZES = {"1mp": (1152, 864), "12mp": (4000, 3000)}


def make_image(rng, w, h):
    """A photo-like image: smooth gradients, blurred shapes, fine noise."""
    small = (w // 8, h // 8)
    base = Image.new("RGB", small)
    d = ImageDraw.Draw(base)
    for _ in range(40):
        x0, y0 = rng.randrange(small[0]), rng.randrange(small[1])
        x1, y1 = x0 + rng.randrange(10, small[0] // 2), y0 + rng.randrange(10, small[1] // 2)
        color = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            d.ellipse([x0, y0, x1, y1], fill=color)
        else:
            d.rectangle([x0, y0, x1, y1], fill=color)
    img = base.filter(ImageFilter.GaussianBlur(3)).resize((w, h), Image.BICUBIC)
    nrng = np.random.default_rng(rng.randrange(2**32))
    arr = np.asarray(img, dtype=np.int16) + nrng.integers(-12, 13, size=(h, w, 3), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_corpus(root, n1, n12, seed, ext):
    rng = random.Random(seed)
    for name, n in (("1mp", n1), ("12mp", n12)):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for k in range(n):
            w, h = SIZES[name]
            if rng.random() < 0.5:
                w, h = h, w  # portrait
            make_image(rng, w, h).save(os.path.join(root, name, f"{k:04d}.{ext}"), quality=90)


def ref_hash(path):
    img = Image.open(path).convert("RGB")
    bits, quality = pdqhash.compute(np.asarray(img))
    return path, bits, quality


def bits_to_hex(bits):
    # pdqhash-python's bit vector is in the order of imprint's hex string, most significant first.
    v = 0
    for b in bits:
        v = (v << 1) | int(b)
    return f"{v:064x}"


def run_reference(files, procs):
    t = time.perf_counter()
    with mp.Pool(procs) as pool:
        out = pool.map(ref_hash, files, chunksize=1)
    dt = time.perf_counter() - t
    return dt, {p: bits_to_hex(b) for p, b, _ in out}


FAST_MIN_SIDE = None


def run_imprint(exe, corpus, store, procs, fast):
    if os.path.exists(store):
        os.remove(store)
    cmd = [exe, "hash", corpus, "--out", store, "--threads", str(procs), "--no-progress"]
    if fast:
        cmd.append("--fast")
        if FAST_MIN_SIDE:
            cmd += ["--fast-min-side", str(FAST_MIN_SIDE)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    dt = time.perf_counter() - t
    out = subprocess.run([exe, "store", "export", store], check=True, capture_output=True, text=True)
    rows = csv.DictReader(io.StringIO(out.stdout))
    return dt, {os.path.abspath(r["id"]): r["hash"] for r in rows if r["hash"]}


def dist(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def histogram(ds):
    buckets = [(0, 0), (1, 2), (3, 5), (6, 10), (11, 16), (17, 31), (32, 256)]
    n = len(ds)
    parts = []
    for lo, hi in buckets:
        c = sum(lo <= d <= hi for d in ds)
        label = f"{lo}" if lo == hi else f"{lo}-{hi}"
        parts.append(f"{label}: {100 * c / n:.1f}%")
    return ", ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imprint", default="target/release/imprint")
    ap.add_argument("--n1", type=int, default=60, help="1 MP images")
    ap.add_argument("--n12", type=int, default=12, help="12 MP images")
    ap.add_argument("--procs", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fast-min-side", type=int, help="override imprint's --fast minimum side")
    ap.add_argument("--dir", help="keep the corpus here (default: a temp dir)")
    ap.add_argument("--format", choices=("jpeg", "webp", "png"), default="jpeg",
                    help="corpus format: JPEG or lossy WebP, quality 90, or PNG (Pillow's "
                         "encoders, default settings)")
    args = ap.parse_args()
    global FAST_MIN_SIDE
    FAST_MIN_SIDE = args.fast_min_side
    exe = os.path.abspath(args.imprint)
    root = args.dir or tempfile.mkdtemp(prefix="imprint-bulk-")
    try:
        ext = {"jpeg": "jpg", "webp": "webp", "png": "png"}[args.format]
        with_fast = args.format == "jpeg"
        if not os.path.exists(os.path.join(root, "1mp", f"0000.{ext}")):
            make_corpus(root, args.n1, args.n12, args.seed, ext)
        print(f"corpus {root}: {args.n1} x 1 MP, {args.n12} x 12 MP {args.format.upper()}, "
              f"seed {args.seed}; "
              f"{args.procs} processes/threads; {os.cpu_count()} cores")
        print("| corpus | images | reference img/s | imprint exact img/s | ratio | imprint --fast img/s | ratio |")
        print("|---|---|---|---|---|---|---|")
        all_fast, all_ref = [], []
        for name in ("1mp", "12mp"):
            corpus = os.path.join(root, name)
            files = sorted(os.path.abspath(os.path.join(corpus, f)) for f in os.listdir(corpus))
            if not files:
                continue  # --n1 0 or --n12 0
            store = os.path.join(root, f"{name}.imps")
            t_ref, ref = run_reference(files, args.procs)
            t_ex, exact = run_imprint(exe, corpus, store, args.procs, False)
            n = len(files)
            r, e = n / t_ref, n / t_ex
            if with_fast:
                t_fast, fast = run_imprint(exe, corpus, store, args.procs, True)
                f = n / t_fast
                print(f"| {name} | {n} | {r:.2f} | {e:.2f} | {e / r:.2f}x | {f:.2f} | {f / r:.2f}x |")
                all_fast += [dist(exact[p], fast[p]) for p in files]
            else:
                print(f"| {name} | {n} | {r:.2f} | {e:.2f} | {e / r:.2f}x | - | - |")
            all_ref += [dist(exact[p], ref[p]) for p in files]
        if all_fast:
            within = sum(d <= 10 for d in all_fast) / len(all_fast)
            print(f"\n--fast vs exact, {len(all_fast)} images: {histogram(all_fast)}; "
                  f"within 10 bits: {100 * within:.1f}%; max {max(all_fast)}")
        print(f"pdqhash+Pillow vs exact: {histogram(all_ref)}; max {max(all_ref)}")
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
