#!/usr/bin/env python3
"""Merge repeated collections (passes) of one profile set into one profile per op.

Each shape's median_ns becomes the median over the passes of its per-pass median (the
passes run minutes apart, so the power cap's clock, which moves a compute-bound shape by
up to ~9% between passes while its 25 launches inside one pass agree within ~1%, is
averaged out); mad_ns becomes the larger of the first pass's MAD and the MAD of the pass
medians; method.passes records how many passes hold each file's shapes (the fewest). The
first pass's other fields (kernels, clock, counters) are kept; min_ns / max_ns span every pass. Shapes are matched by
format and params; a shape missing from a pass is merged over the passes that hold it.

  merge_passes.py OUT_DIR PASS_DIR [PASS_DIR ...]    (each PASS_DIR holds <op>.json files)
"""
import json
import os
import statistics
import sys


def key(shape):
    return (shape["format"], tuple(sorted(shape["params"].items())))


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out, passes = argv[1], argv[2:]
    os.makedirs(out, exist_ok=True)
    ops = sorted(f for f in os.listdir(passes[0]) if f.endswith(".json"))  # the first pass's ops
    for op in ops:
        profiles, held = [], []
        for d in passes:
            path = os.path.join(d, op)
            if os.path.exists(path):  # an op a pass did not collect is merged over the rest
                with open(path) as f:
                    profiles.append(json.load(f))
                held.append(d)
        first = profiles[0]
        for p, d in zip(profiles[1:], held[1:]):
            for field in ("quadrant", "kernels_revision"):
                if p[field] != first[field]:
                    sys.exit(f"{d}/{op}: {field} {p[field]!r}, expected {first[field]!r} (as {held[0]})")
            if p["device"].get("gpu") != first["device"].get("gpu"):
                sys.exit(f"{d}/{op}: device.gpu differs from {held[0]}")
        by_pass = [{key(s): s for s in p["shapes"]} for p in profiles]
        fewest = len(profiles)
        shapes = []
        for s in first["shapes"]:
            held_by = [m[key(s)] for m in by_pass if key(s) in m]
            medians = [x["median_ns"] for x in held_by]
            fewest = min(fewest, len(medians))
            merged = dict(s)
            merged["median_ns"] = float(statistics.median(medians))
            spread = statistics.median([abs(x - merged["median_ns"]) for x in medians])
            merged["mad_ns"] = float(max(s.get("mad_ns", 0.0), spread))
            merged["min_ns"] = float(min(x["min_ns"] for x in held_by))
            merged["max_ns"] = float(max(x["max_ns"] for x in held_by))
            shapes.append(merged)
        first["shapes"] = shapes
        first["method"] = dict(first["method"], passes=float(fewest))
        with open(os.path.join(out, op), "w") as f:
            # One line per shape, as profile_to_json writes them (diffs stay readable).
            head = {k: v for k, v in first.items() if k != "shapes"}
            text = json.dumps(head, sort_keys=True, separators=(",", ":"))[:-1]
            text += ',"shapes":[\n' + ",\n".join(
                json.dumps(s, sort_keys=True, separators=(",", ":")) for s in shapes) + "\n]}\n"
            f.write(text)


if __name__ == "__main__":
    main(sys.argv)
