#!/usr/bin/env python3
"""New / old median time per shape of re-collected profiles, per set, op and format (markdown).

  profile_drift.py NEW_DIR [--base REV | --against OLD_DIR] [--only OP,...]

NEW_DIR holds <set>/<gpu>/<op>.json (an unpacked profiles.tgz); the old profile of each is
calibration/profiles/<set>/<op>.json at git revision REV (default HEAD), or with --against the
file of the same relative path under OLD_DIR (two collections of one call, e.g. under two
settings of a switch). A shape is its format and params; shapes in one file only are counted,
not compared.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys


def shapes(doc):
    out = {}
    for s in doc.get("shapes", []):
        key = (s.get("format"), json.dumps(s.get("params"), sort_keys=True))
        out[key] = s["median_ns"]
    return out


def quantile(xs, q):
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("new_dir")
    ap.add_argument("--base", default="HEAD")
    ap.add_argument("--against", default="")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = [o for o in args.only.split(",") if o]
    root = pathlib.Path(args.new_dir)
    print("| set | op | format | shapes | median new/old | P5 | P95 | new only | old only |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for path in sorted(root.glob("*/*/*.json")):
        set_name, op = path.parts[-3], path.stem
        if only and not any(o in op for o in only):
            continue
        if args.against:
            other = pathlib.Path(args.against) / path.relative_to(root)
            if not other.exists():
                print(f"| {set_name} | {op} | (no {other}) | | | | | | |")
                continue
            old_text = other.read_text()
        else:
            rel = f"calibration/profiles/{set_name}/{op}.json"
            got = subprocess.run(["git", "show", f"{args.base}:{rel}"], capture_output=True,
                                 text=True)
            if got.returncode != 0:
                print(f"| {set_name} | {op} | (no old profile at {args.base}) | | | | | | |")
                continue
            old_text = got.stdout
        new, old = shapes(json.loads(path.read_text())), shapes(json.loads(old_text))
        for fmt in sorted({k[0] for k in new} | {k[0] for k in old}):
            common = [k for k in new if k[0] == fmt and k in old]
            new_only = sum(1 for k in new if k[0] == fmt and k not in old)
            old_only = sum(1 for k in old if k[0] == fmt and k not in new)
            ratios = [new[k] / old[k] for k in common if old[k] > 0]
            if not ratios:
                print(f"| {set_name} | {op} | {fmt} | 0 | | | | {new_only} | {old_only} |")
                continue
            print(f"| {set_name} | {op} | {fmt} | {len(ratios)} | {statistics.median(ratios):.3f} "
                  f"| {quantile(ratios, 0.05):.3f} | {quantile(ratios, 0.95):.3f} "
                  f"| {new_only} | {old_only} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
