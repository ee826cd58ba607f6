#!/usr/bin/env python3
"""Drop from profiles the shapes whose kernels a later default replaced.

  drop_changed_kernels.py QUADRANT MODEL ROWS PROFILE.json...

ROWS: comma-separated model rows, op[variant]/format, e.g.
"decode_ffn[mma16]/fp8,decode_ffn[wgmma-int4]/w4a8". Each shape of a PROFILE that MODEL answers
with one of ROWS (`quadrant calibrate error MODEL PROFILE --worst`, so the variant is the model's,
under its plan rules) is removed and the file rewritten in place, its other shapes untouched.
For profiles kept as evidence of other machines (H200-validation-onecall*): timed on kernels a
default no longer runs, those shapes would judge today's model on yesterday's kernels.
"""
import json
import subprocess
import sys


def shape_rows(quadrant, model, profile):
    out = subprocess.run([quadrant, "calibrate", "error", model, profile, "--worst", "1000"],
                         capture_output=True, text=True, check=True).stdout
    rows, row = {}, None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and "%" in parts[3] and not line.startswith(" "):
            row = f"{parts[0]}/{parts[1]}"
        elif line.startswith("  worst") and row:
            fmt, params = parts[2].split("|", 1)
            key = (fmt, tuple(sorted((k, float(v)) for k, v in
                                     (kv.split("=") for kv in params.split(",")))))
            rows[key] = row
    return rows


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    quadrant, model, wanted = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
    for path in sys.argv[4:]:
        rows = shape_rows(quadrant, model, path)
        # The collector's layout: the head up to "shapes":[ on the first line, a shape a line,
        # "]}" on the last; kept lines are written back as they were.
        lines = open(path).read().rstrip("\n").split("\n")
        if not lines[0].endswith('"shapes":[') or lines[-1] != "]}":
            sys.exit(f"{path}: not in the collector's one-shape-a-line layout")
        kept, dropped = [], {}
        for line in lines[1:-1]:
            s = json.loads(line.rstrip(","))
            key = (s["format"], tuple(sorted((k, float(v)) for k, v in s["params"].items())))
            if key not in rows:
                sys.exit(f"{path}: shape {key} not answered by {model}")
            if rows[key] in wanted:
                dropped[rows[key]] = dropped.get(rows[key], 0) + 1
            else:
                kept.append(line.rstrip(","))
        text = lines[0] + "\n" + ",\n".join(kept) + "\n" + lines[-1] + "\n"
        json.loads(text)
        with open(path, "w") as f:
            f.write(text)
        print(f"{path}: kept {len(kept)}, dropped {dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
