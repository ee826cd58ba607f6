#!/usr/bin/env python3
"""Summarises ncu's per-instruction source page (SASS) of the decode attention split kernel.

Input: the CSV of `ncu -i REPORT --page source --print-source sass --csv` (gzipped or not),
as kernels/scripts/device_thirteenth.sh writes it. Output (stdout): the kernel's samples and
shared-memory wavefronts; its step loops (backward branches whose body holds LDGSTS and HMMA);
per region (before the first step loop, each loop, between them, after the last) the static
and executed instructions, the stall samples by reason; the instructions with the most
samples; the shared-memory stores and loads with their bank conflicts (N-way, wavefronts).

  python3 kernels/scripts/ncu_source_regions.py ncusrc_csv_f3535.log.gz [--top 12]
"""
import argparse
import csv
import gzip
import re
import sys

REASONS = ("long_sb", "wait", "short_sb", "mio", "barrier", "branch_resolving", "math",
           "not_selected", "selected", "no_inst", "lg", "dispatch", "imc", "drain", "membar",
           "misc", "tex", "sleep")


def read_rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    kernel = rows[0][1] if rows and len(rows[0]) > 1 else "?"
    head = None
    out = []
    for r in rows:
        if r and r[0] == "Address":
            head = {h: i for i, h in enumerate(r)}
            continue
        if head is None or len(r) < len(head) or not r[0].startswith("0x"):
            continue
        out.append(r)
    if head is None:
        sys.exit("no 'Address' header: not an ncu source-page CSV")
    return kernel, head, out


def num(r, head, col):
    try:
        return int(r[head[col]])
    except (KeyError, ValueError):
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    kernel, head, rows = read_rows(a.csv)
    base = int(rows[0][0], 16)
    addr = [int(r[0], 16) - base for r in rows]
    src = [r[head["Source"]].strip() for r in rows]
    samples = [num(r, head, "Warp Stall Sampling (All Samples)") for r in rows]
    executed = [num(r, head, "Instructions Executed") for r in rows]
    print(f"kernel: {kernel[:110]}")
    wf = sum(num(r, head, "L1 Wavefronts Shared") for r in rows)
    ex = sum(num(r, head, "L1 Wavefronts Shared Excessive") for r in rows)
    print(f"{len(rows)} instructions, {sum(samples)} samples, {sum(executed)} warp instructions "
          f"executed; shared-memory wavefronts {wf} ({ex} excessive)")
    # Step loops: predicated backward branches (an unpredicated one is the way back from an
    # out-of-line path, a divergent __syncwarp's) whose body copies (LDGSTS) and multiplies
    # (HMMA); the innermost such.
    index = {x: i for i, x in enumerate(addr)}
    loops = []
    for i, s in enumerate(src):
        m = re.match(r"@!?P\d\s+BRA(?:\.\w+)*\s+0x([0-9a-f]+)", s)
        if not m:
            continue
        j = index.get(int(m.group(1), 16) - base)
        if j is None or j >= i:
            continue
        body = src[j:i + 1]
        if any("LDGSTS" in x for x in body) and any("HMMA" in x for x in body):
            loops.append((j, i))
    loops = sorted({(j, i) for j, i in loops if not any(
        (j <= jj and ii <= i and (jj, ii) != (j, i)) for jj, ii in loops)})
    regions, prev = [], 0
    for n, (j, i) in enumerate(loops):
        if j > prev:
            regions.append(("before the step loops" if n == 0 else "between step loops", prev, j))
        body = src[j:i + 1]
        regions.append((f"step loop 0x{addr[j]:x}-0x{addr[i]:x} ({sum('LDGSTS' in x for x in body)}"
                        f" LDGSTS, {sum('HMMA' in x for x in body)} HMMA)", j, i + 1))
        prev = i + 1
    regions.append(("after the step loops" if loops else "whole kernel", prev, len(rows)))
    total = max(sum(samples), 1)
    for name, lo, hi in regions:
        s = sum(samples[lo:hi])
        reasons = {k: sum(num(r, head, f"stall_{k}") for r in rows[lo:hi]) for k in REASONS}
        top = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]) if v)
        print(f"  {name}: {hi - lo} static instr, {sum(executed[lo:hi])} warp instr executed, "
              f"samples {s} ({100.0 * s / total:.1f}%): {top}")
    print(f"top {a.top} instructions by samples (offset, samples, long_sb, wait, short_sb, mio, "
          f"barrier, executed):")
    for i in sorted(range(len(rows)), key=lambda k: -samples[k])[:a.top]:
        r = rows[i]
        print(f"  0x{addr[i]:x} {src[i][:52]:52s} {samples[i]:5d} {num(r, head, 'stall_long_sb'):5d}"
              f" {num(r, head, 'stall_wait'):4d} {num(r, head, 'stall_short_sb'):4d}"
              f" {num(r, head, 'stall_mio'):4d} {num(r, head, 'stall_barrier'):4d} {executed[i]}")
    print("shared-memory stores and loads run after the last step loop (offset, instruction, "
          "executed, N-way, wavefronts, excessive, samples):")
    for i in range(prev, len(rows)):
        if executed[i] and re.match(r"(@!?U?P\w+\s+)?(STS|LDS)", src[i]):
            r = rows[i]
            print(f"  0x{addr[i]:x} {src[i][:40]:40s} {executed[i]:6d} "
                  f"{r[head['L1 Conflicts Shared N-Way']]:>3s} "
                  f"{num(r, head, 'L1 Wavefronts Shared'):7d} "
                  f"{num(r, head, 'L1 Wavefronts Shared Excessive'):7d} {samples[i]:4d}")


if __name__ == "__main__":
    main()
