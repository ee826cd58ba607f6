#!/usr/bin/env python3
"""quadrant-lt-plan's output (the cuBLASLt algorithm per dense GEMM shape) as the table
calibration/lt_plan.h reads: per format and (n, k) pair, runs of m over which cuBLASLt
picks one tile (along n, along m) and split-K count.

  calibration/scripts/lt_plan_table.py plans.txt --gpu H200 --device "NVIDIA H200" \
      --source "..." [--check plans-validation.txt] > calibration/plans/H200-cublaslt.json

Tile and cluster IDs are decoded with the enums of the cublasLt.h it was built against
(CUDA_HOME, default /usr/local/cuda). The tile's first extent is along C's rows, which are
the GEMM's n (LtGemm computes C^T = W . A^T); quadrant-lt-plan's heuristic waves agree with
ceil(n / tile_n) x ceil(m / tile_m) x splits / 132 on every recorded shape (split-K: / splits).
--check: how often the table's lookup (the run holding m) gives the plan the library
gives for the listed shapes (printed to stderr; the validation set's shapes, never fitted on).
"""
import argparse
import bisect
import collections
import json
import os
import re
import sys


def enums(header):
    h = open(header).read()
    tiles = {int(m.group(3)): (int(m.group(1)), int(m.group(2)))
             for m in re.finditer(r"CUBLASLT_MATMUL_TILE_(\d+)x(\d+)\s*=\s*(\d+)", h)}
    return tiles


def read(path, tiles):
    out = {}
    for line in open(path):
        r = line.split()
        if len(r) < 5 or r[4] == "none":
            continue
        fmt, m, n, k = r[0], int(r[1]), int(r[2]), int(r[3])
        tid, splits = int(r[5]), int(r[6])
        if tid not in tiles:
            sys.exit(f"{path}: tile id {tid} is not in cublasLt.h's enum")
        tn, tm = tiles[tid]
        out[(fmt, n, k, m)] = (tn, tm, max(1, splits))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("plans")
    ap.add_argument("--gpu", required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--check")
    a = ap.parse_args()
    header = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "include", "cublasLt.h")
    tiles = enums(header)
    plans = read(a.plans, tiles)
    by_pair = collections.defaultdict(list)
    for (fmt, n, k, m), p in sorted(plans.items()):
        by_pair[(fmt, n, k)].append((m, p))
    table = {"bf16": [], "fp8": []}
    runs_total = 0
    for (fmt, n, k), pts in sorted(by_pair.items()):
        runs = []
        for m, p in pts:
            if not runs or tuple(runs[-1][1:]) != p:
                runs.append([m, *p])
        runs_total += len(runs)
        table[fmt].append({"n": n, "k": k, "runs": runs})
    doc = {
        "schema_version": 1,
        "kind": "quadrant-cublaslt-plans",
        "gpu": a.gpu,
        "device": a.device,
        "source": a.source,
        "fields": ["m_from", "tile_n", "tile_m", "splits"],
        "plans": table,
    }
    out = json.dumps(doc, separators=(",", ":"))
    out = out.replace('{"n":', '\n{"n":')
    sys.stdout.write(out + "\n")
    print(f"{len(plans)} shapes, {len(by_pair)} (format, n, k) pairs, {runs_total} runs",
          file=sys.stderr)
    if a.check:
        got = read(a.check, tiles)
        same = pair_known = 0
        for (fmt, n, k, m), p in got.items():
            pts = by_pair.get((fmt, n, k))
            if not pts:
                continue
            pair_known += 1
            i = bisect.bisect_right([q[0] for q in pts], m) - 1
            same += pts[max(0, i)][1] == p
        print(f"check: {len(got)} shapes, {pair_known} of a tabled (n, k) pair, table lookup = "
              f"library's plan for {same} ({100.0 * same / max(1, pair_known):.1f}%)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
