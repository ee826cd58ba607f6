#!/usr/bin/env python3
"""MLA decode's split-model candidates against main's kernel, from one device call's CUPTI
collections (results/mla_run4_split_select.csv: per shape of calibration/grids/mla_decode.json
and its validation set, each collection's kernel time in us and split count).
Prints, per collection: geometric mean and total of time / main's time, worst and best shape.
  python3 kernels/scripts/mla_split_select.py kernels/results/mla_run4_split_select.csv"""
import csv
import math
import sys


def main(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no rows")
    names = [k[:-3] for k in rows[0] if k.endswith("_us")]
    print("| collection | grid geomean | grid total | worst | best | validation geomean | validation total |")
    print("|---|---|---|---|---|---|---|")
    lines = []
    for n in names:
        cells = []
        for s in ("grid", "validation"):
            r = [(float(x[n + "_us"]), float(x["main_us"])) for x in rows if x["set"] == s]
            ratios = [a / b for a, b in r]
            cells.append((math.exp(sum(map(math.log, ratios)) / len(ratios)),
                          sum(a for a, _ in r) / sum(b for _, b in r), max(ratios), min(ratios)))
        g, v = cells
        lines.append((g[0], f"| {n} | {g[0]:.3f} | {g[1]:.3f} | {g[2]:.2f} | {g[3]:.2f} | {v[0]:.3f} | {v[1]:.3f} |"))
    for _, line in sorted(lines):
        print(line)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
