#!/usr/bin/env python3
"""The dense GEMM shapes whose cuBLASLt plan quadrant-lt-plan records (issue 12: the plan
cuBLASLt picks is the dense GEMM's launch plan, and it cannot be computed without the GPU's
library, so it is recorded once per GPU and library and read by calibration/lt_plan.h).

  calibration/scripts/lt_plan_shapes.py > shapes.txt     # "fmt m n k" lines
  calibration/scripts/lt_plan_shapes.py --exact GRID...   # the shapes of these grids only

The table: every (n, k) pair of the per-GPU shards of shard_grid.py's models (projections, dense FFNs,
shared experts, routers at TP 1-8) and of the fitting grids, each at m = 1..128, then every
16 to 2048, every 64 to 8192 and every 256 to 32768, both formats, after the fitting grids' own shapes
(which name the kernel each plan ran, through their profiles). The table is a function of
the shape alone (no timing). --exact lists a grid's own shapes: for the validation set, to
measure how often the table's lookup picks the plan the library picks (never to fit).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shard_grid  # noqa: E402

GRIDS = ("hopper.json", "hopper-shards.json", "hopper-active.json")


def grid_pairs(path):
    with open(path) as f:
        g = json.load(f)
    out = set()
    for e in g["ops"]:
        if e["quadrant"] != "dense_gemm":
            continue
        shapes = [dict(e.get("fixed", {}))]
        for axis, values in e["axes"].items():
            shapes = [dict(s, **(v if isinstance(v, dict) else {axis: v}))
                      for s in shapes for v in values]
        out |= {(f, s["m"], s["n"], s["k"]) for f in e["formats"] for s in shapes}
    return out


def m_sweep():
    return (list(range(1, 129)) + list(range(144, 2049, 16)) + list(range(2112, 8193, 64)) +
            list(range(8448, 32769, 256)))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--exact":
        for path in sys.argv[2:]:
            for fmt, m, n, k in sorted(grid_pairs(path)):
                print(fmt, m, n, k)
        return
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "grids")
    pairs = {(n, k) for _, _, n, k in shard_grid.gemm_shards()}
    for g in GRIDS:
        exact = grid_pairs(os.path.join(here, g))
        for fmt, m, n, k in sorted(exact):
            print(fmt, m, n, k)
        pairs |= {(n, k) for _, _, n, k in exact}
    for fmt in ("bf16", "fp8"):
        for n, k in sorted(pairs):
            for m in m_sweep():
                print(fmt, m, n, k)


if __name__ == "__main__":
    main()
