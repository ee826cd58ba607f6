#!/usr/bin/env python3
"""Measured vs simulated capacity (issue 11): replays every rate of the engine's capacity
search (calibration/engine/gpu/results/capacity/[<kernels>/]<cfg>-poisson85-rate<R>/) through
`quadrant engine compare` (same arrivals and lengths) and finds, for the engine and for
each cost model, the rate where the SLO is first missed: where the larger of TTFT P90 / 1 s
and TPOT P90 / 60 ms crosses 1 (either may bind: TPOT did on the first kernels, TTFT binds
Qwen3 BF16 on those of issue 15), linear between the two rates around it, or through the
last two rates beyond them.

    python3 calibration/engine/compare_capacity.py build/quadrant   # from the repo root
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

TTFT_SLO_MS = 1000.0
TPOT_SLO_MS = 60.0
# Each configuration's capacity runs and the pinned model of the kernels that served them
# (H200.json as of that revision + the engine terms fitted on its cases' logs; see
# calibration/engine/README.md). W4A8 and Mixtral were re-measured on f7d6472's kernels
# (2026-12-03 12:35), BF16 on main 89f41e5's (2026-12-03 16:43; the same kernel defaults as
# f7d6472: the later kernel commits added selectable forms and per-device set-up only).
RESULTS = "calibration/engine/gpu/results/capacity"
CONFIGS = {
    "qwen3-30b-a3b-bf16": (RESULTS + "/89f41e5",
                           "calibration/engine/served-models/H200-kernels-f7d6472.json"),
    "qwen3-30b-a3b-w4a8": (RESULTS + "/f7d6472",
                           "calibration/engine/served-models/H200-kernels-f7d6472.json"),
    "mixtral-8x7b-fp8": (RESULTS + "/f7d6472",
                         "calibration/engine/served-models/H200-kernels-f7d6472.json"),
}


def rate_of(path):
    return float(re.search(r"rate([0-9.]+)/?$", path).group(1))


def load(s):
    """The SLO's load: 1 where the first of the two targets is reached."""
    return max(s["ttft_s"]["p90"] * 1e3 / TTFT_SLO_MS, s["tpot_s"]["p90"] * 1e3 / TPOT_SLO_MS)


def binds(s):
    return "TTFT" if s["ttft_s"]["p90"] * 1e3 / TTFT_SLO_MS > s["tpot_s"]["p90"] * 1e3 / TPOT_SLO_MS \
        else "TPOT"


def crossing(points):
    for (r0, v0), (r1, v1) in zip(points, points[1:]):
        if v0 <= 1 < v1:
            return r0 + (1 - v0) * (r1 - r0) / (v1 - v0), "between"
    (r0, v0), (r1, v1) = points[-2], points[-1]
    if v1 <= v0:  # the load does not rise over the last two rates: no line to extrapolate
        return float("nan"), "flat"
    return r1 + (1 - v1) * (r1 - r0) / (v1 - v0), "beyond"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: compare_capacity.py QUADRANT [CONFIG...]")
    quadrant = sys.argv[1]
    for cfg in sys.argv[2:] or CONFIGS:
        if cfg not in CONFIGS:
            sys.exit(f"compare_capacity.py: unknown configuration {cfg}; expected one of "
                     + ", ".join(CONFIGS))
        results, served_model = CONFIGS[cfg]
        runs = sorted(glob.glob(f"{results}/{cfg}-poisson85-rate*"), key=rate_of)
        if len(runs) < 2:
            sys.exit(f"compare_capacity.py: fewer than two capacity runs of {cfg}")
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for run in runs:
                out = os.path.join(tmp, "c.json")
                subprocess.run([quadrant, "engine", "compare", run, "--scenario",
                                f"calibration/engine/cases/{cfg}-poisson85/scenario.json",
                                "--calibrated", served_model, "--json", out], check=True, stdout=subprocess.DEVNULL)
                case = json.load(open(out))["cases"][0]
                row = {"rate": rate_of(run), "engine": case["measured"]}
                for name, m in case["models"].items():
                    row[name] = m["simulated"]
                rows.append(row)
        names = [k for k in rows[0] if k != "rate"]
        print(f"{cfg}: TTFT P90 / TPOT P90 (ms) by rate (req/s); runs {results}, model {served_model}")
        print("  rate " + "".join(f"{n:>28}" for n in names))
        for r in rows:
            print(f"  {r['rate']:4g} " + "".join(
                f"{r[n]['ttft_s']['p90'] * 1e3:16.1f} /{r[n]['tpot_s']['p90'] * 1e3:6.2f} "
                f"{binds(r[n]).lower()}" for n in names))
        measured, _ = crossing([(r["rate"], load(r["engine"])) for r in rows])
        for n in names:
            c, where = crossing([(r["rate"], load(r[n])) for r in rows])
            if where == "flat":
                print(f"  capacity {n}: above {rows[-1]['rate']:g} req/s (its SLO load does not rise "
                      "over the last two rates: not extrapolated)")
                continue
            print(f"  capacity {n}: {c:.2f} req/s ({(c / measured - 1) * 100:+.1f}%, "
                  f"{'interpolated' if where == 'between' else 'extrapolated'})")


if __name__ == "__main__":
    main()
