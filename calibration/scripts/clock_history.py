#!/usr/bin/env python3
"""Does a shape's own tensor work set the SM clock the H200's power cap grants it?

Issue 12 asks to model the power-cap clock "as a function of the shape's sustained tensor
work if the recorded clocks support it". For each profile file (one op of one collection),
this prints the Pearson correlation of the SM clock NVML recorded for each shape
(`sm_clock_mhz`) with the tensor work per second of

  N=0   the shape itself (its FLOPs / its median time), and
  N=k   the shape and the k shapes collected before it (the mean FLOP rate weighted by each
        shape's time: the power the controller has been integrating),

shapes taken in file order, which is the collector's order. A clock set by the shape would
correlate at N=0; a clock set by the work before it correlates only as N grows.

  calibration/scripts/clock_history.py calibration/profiles/H200 calibration/profiles/H200-shards \
      --ops prefill_attention prefill_ffn dense_gemm
"""
import argparse
import json
import os
import statistics


def pearson(a, b):
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    sa = sum((x - ma) ** 2 for x in a) ** 0.5
    sb = sum((y - mb) ** 2 for y in b) ** 0.5
    if sa == 0 or sb == 0:
        return float("nan")
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / (sa * sb)


def history_rate(shapes, i, n):
    """Time-weighted mean FLOP rate of shape i and the n shapes before it."""
    window = shapes[max(0, i - n) : i + 1]
    return sum(s["flops"] for s in window) / sum(s["median_ns"] for s in window)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", help="profile folders (one collection each)")
    ap.add_argument("--ops", nargs="+", default=["prefill_attention", "prefill_ffn", "dense_gemm"])
    ap.add_argument("--windows", nargs="+", type=int, default=[0, 5, 20, 50])
    args = ap.parse_args()
    print("set op shapes clock_median_mhz " + " ".join(f"r(N={n})" for n in args.windows))
    for folder in args.sets:
        for op in args.ops:
            path = os.path.join(folder, op + ".json")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                shapes = [s for s in json.load(f)["shapes"] if s.get("sm_clock_mhz", 0) > 0]
            if len(shapes) < 10:
                continue
            clock = [s["sm_clock_mhz"] for s in shapes]
            rs = [
                pearson([history_rate(shapes, i, n) for i in range(len(shapes))], clock)
                for n in args.windows
            ]
            print(
                f"{os.path.basename(os.path.normpath(folder))} {op} {len(shapes)} "
                f"{statistics.median(clock):.0f} " + " ".join(f"{r:+.2f}" for r in rs)
            )


if __name__ == "__main__":
    main()
