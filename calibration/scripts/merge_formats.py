#!/usr/bin/env python3
"""Lay a collection of some formats of an op over a committed profile of that op.

After a kernel change confined to one format (W4A8's decode form), quadrant-profile
--only OP/FORMAT collects those shapes alone; this replaces exactly them in the committed
<op>.json, shape by shape (matched by format and params), and keeps every other format's
shapes, collected under the earlier kernels, as they are. kernels_revision then names both
("63ed1aa; w4a8 9fd3d3f"). It refuses a collection whose shapes are not exactly the
committed file's shapes of those formats (a grid that moved, a collection cut short), and
one whose method (warm-up, repetitions, settling) differs from the committed file's, so
that a merged file is never two kinds of measurement.

  merge_formats.py PROFILE_DIR NEW_DIR    (each holds <op>.json; PROFILE_DIR is rewritten)
"""
import json
import os
import sys


def key(shape):
    return (shape["format"], tuple(sorted(shape["params"].items())))


def read(path):
    """The file's head (all but its shapes), and its shapes each with its own line of text (the
    collector writes one shape a line: calibration/profile.cc), so that the shapes left alone
    keep their bytes."""
    with open(path) as f:
        lines = f.read().split("\n")
    if len(lines) < 3 or not lines[0].endswith('"shapes":[') or lines[-2:] != ["]}", ""]:
        raise SystemExit(f"{path}: not a profile as quadrant-profile writes one")
    head = json.loads(lines[0] + "]}")
    shapes = [(json.loads(line.rstrip(",")), line.rstrip(",")) for line in lines[1:-2]]
    return head, shapes


def merge(base_path, new_path):
    base, base_shapes = read(base_path)
    new, new_shapes = read(new_path)
    formats = sorted({s["format"] for s, _ in new_shapes})
    if not formats:
        raise SystemExit(f"{new_path}: no shapes")
    old_keys = {key(s) for s, _ in base_shapes if s["format"] in formats}
    new_by_key = {key(s): (s, line) for s, line in new_shapes}
    if set(new_by_key) != old_keys or len(new_by_key) != len(new_shapes):
        missing = len(old_keys - set(new_by_key))
        extra = len(set(new_by_key) - old_keys)
        raise SystemExit(f"{new_path}: formats {formats}: {missing} committed shapes not "
                         f"collected, {extra} collected shapes not committed")
    if base.get("method") != new.get("method"):
        raise SystemExit(f"{new_path}: method {new.get('method')} differs from "
                         f"{base_path}'s {base.get('method')}")
    if base["device"].get("name") != new["device"].get("name"):
        raise SystemExit(f"{new_path}: another GPU than {base_path}'s")
    lines = [new_by_key[key(s)][1] if s["format"] in formats else line
             for s, line in base_shapes]
    base["kernels_revision"] = (f"{base['kernels_revision']}; {','.join(formats)} "
                                f"{new['kernels_revision']}")
    base["collected_at"] = new["collected_at"]
    del base["shapes"]
    head = json.dumps(base, separators=(",", ":"))[:-1] + ',"shapes":['
    with open(base_path, "w") as f:
        f.write(head + "\n" + ",\n".join(lines) + "\n]}\n")
    return formats, len(new_by_key)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    base_dir, new_dir = argv[1], argv[2]
    for op in sorted(f for f in os.listdir(new_dir) if f.endswith(".json")):
        base_path = os.path.join(base_dir, op)
        if not os.path.exists(base_path):
            sys.exit(f"{base_path}: no committed profile to lay {op} over")
        formats, n = merge(base_path, os.path.join(new_dir, op))
        print(f"{base_path}: {n} {','.join(formats)} shapes replaced")


if __name__ == "__main__":
    main(sys.argv)
