#!/usr/bin/env python3
"""Writes the published points and step logs of splitwise-*/ from Splitwise's profile.

The source is `data/perf_model.csv` of github.com/Mutinifni/splitwise-sim (commit
8f99e7d, file unchanged since 3780880 "Initial artifact", 2024-03-29; MIT licence):
the Splitwise authors' measurements (Patel et al., ISCA 2024, arXiv 2311.18677) of
Llama2-70B and BLOOM-176B FP16 on a DGX-A100 and a DGX-H100, five runs of each
configuration, that their simulator's DatabasePerformanceModel interpolates. Its columns:
prompt_size, batch_size (prompts of prompt_size run together), token_size (output
tokens), prompt_time (ms: the prompt phase of the batch, its TTFT), token_time (ms: the
mean time between tokens of the batch's token phase), tensor_parallel.

Kept, for each model (folder splitwise-<model>/): TP8 (BLOOM-176B's only layout; Llama2-70B
also TP4 and TP2: points-tp4.csv, points-tp2.csv, without TP2's batch 64, whose prompt time
is below batch 32's) on a100-80gb and h100-80gb (not the power-capped h100-80gb-pcap), the
rows with token_size 128 (the prompt sweep at batch 1 and the batch sweep at prompt 512)
and, for decode, also token_size 256 at batch 1. Left out: token_size 512-8192:
Llama2-70B's e2e_time shows fewer tokens generated than asked (512: about 334 = (e2e -
prompt) / token_time), so their contexts are unknown (left out for both models alike). The
file repeats the five (512, 1, 128) rows three times: counted once.

  python3 splitwise_extract.py /path/to/perf_model.csv
  # rewrites splitwise-<model>/points[-tp<N>].csv and splitwise-<model>/{a100,h100}-tp<N>-steps.csv
"""
import csv
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GPUS = {"a100-80gb": ("A100-80GB", "a100"), "h100-80gb": ("H100-SXM", "h100")}
# (model, TP degree): BLOOM-176B was measured at TP8 only.
SETS = (("llama2-70b", 8), ("bloom-176b", 8), ("llama2-70b", 4), ("llama2-70b", 2))


def decode_context_per_seq(prompt, output):
    # Decode steps give output tokens 2..output; the one giving token t attends the prompt
    # and tokens 1..t-1 (kv_len + 1 = prompt + t - 1): the mean over t.
    first, last = prompt + 1, prompt + output - 1
    return (first + last) / 2


def in_half_a(point):
    # Half A: batches 1, 4, 16, 64 and prompts 128, 512, 2048, 8192 (both sweeps' ends), 128
    # output tokens; half B the rest (tests/calibration/engine/published_test.cc in_half_a).
    f = dict((x[0], int(x[1:])) for x in point.split("-")[2:])
    return f["b"] in (1, 4, 16, 64) and f["p"] in (128, 512, 2048, 8192) and f.get("o", 128) == 128


def main(src, model, tp):
    out_dir = os.path.join(HERE, "splitwise-" + model)
    suffix = "" if tp == 8 else f"-tp{tp}"  # points.csv: TP8
    runs = {}
    seen = set()
    with open(src, newline="") as f:
        for r in csv.DictReader(f):
            if r["model"] != model or r["tensor_parallel"] != str(tp):
                continue
            if r["hardware"] not in GPUS:
                continue
            key = tuple(r[k] for k in ("hardware", "prompt_size", "batch_size", "token_size",
                                        "prompt_time", "token_time", "e2e_time"))
            if key in seen:  # the repeated (512, 1, 128) rows
                continue
            seen.add(key)
            p, b, t = int(r["prompt_size"]), int(r["batch_size"]), int(r["token_size"])
            if tp == 2 and b == 64:  # 794 ms for 64 prompts of 512 where 32 took 6,633 ms:
                continue             # not a run of 64 prompts (TP2's 64 x 512 at 80 GB)
            if t == 128:
                runs.setdefault((r["hardware"], "prefill", p, b, t), []).append(
                    float(r["prompt_time"]))
            if t == 128 or (t == 256 and b == 1 and p == 512):
                runs.setdefault((r["hardware"], "decode", p, b, t), []).append(
                    float(r["token_time"]))
    assert all(len(v) == 5 for v in runs.values()), "five runs a point"
    points = sorted(runs, key=lambda k: (k[0], k[1] != "prefill", k[2] * k[3], k[4]))
    with open(os.path.join(out_dir, f"points{suffix}.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["point", "gpu", "kind", "prompt_tokens", "batch", "output_tokens",
                    "decode_context_per_seq", "runs", "published_ms", "min_ms", "max_ms"])
        for hw, kind, p, b, t in points:
            v = runs[(hw, kind, p, b, t)]
            gpu, short = GPUS[hw]
            name = f"{short}-{kind}-p{p}-b{b}" + (f"-o{t}" if kind == "decode" else "")
            ctx = decode_context_per_seq(p, t) if kind == "decode" else ""
            w.writerow([name, gpu, kind, p, b, t, ctx, len(v), f"{statistics.median(v):.3f}",
                        f"{min(v):.3f}", f"{max(v):.3f}"])
    # Step logs (calibration/engine/README.md "Logs", the columns another engine gives):
    # one row per run of each point, run-major (run 1 of every point, then run 2, ...), so
    # that `quadrant calibrate engine --folds <points>` holds out one point (all its runs)
    # per fold. gpu_ns is the published time: a prompt phase's TTFT or a token phase's mean
    # time between tokens, host time included (not a GPU-event time).
    for hw, (gpu, short) in GPUS.items():
        mine = [k for k in points if k[0] == hw]
        with open(os.path.join(out_dir, f"{short}-tp{tp}-steps.csv"), "w", newline="") as f:
            rows = [["gpu_ns", "prefill", "decode_seqs", "decode_context", "point"]]
            for run in range(5):
                for _, kind, p, b, t in mine:
                    ms = runs[(hw, kind, p, b, t)][run]
                    name = f"{short}-{kind}-p{p}-b{b}" + (f"-o{t}" if kind == "decode" else "")
                    if kind == "prefill":
                        chunks = ";".join(f"{s}:0:{p}" for s in range(b))
                        rows.append([round(ms * 1e6), chunks, 0, 0, name])
                    else:
                        ctx = round(b * decode_context_per_seq(p, t))
                        rows.append([round(ms * 1e6), "", b, ctx, name])
            csv.writer(f, lineterminator="\n").writerows(rows)
            if tp == 8 and short == "h100":  # the rows split in two halves (README.md) for the
                # CLI, whose kernel models are the H100's
                for half, keep in (("a", True), ("b", False)):
                    with open(os.path.join(out_dir, f"{short}-tp8-half-{half}-steps.csv"), "w",
                              newline="") as h:
                        hw_ = csv.writer(h, lineterminator="\n")
                        for row in rows:
                            if row is rows[0] or in_half_a(row[-1]) == keep:
                                hw_.writerow(row)
        print(f"{model} TP{tp} {short}: {len(mine)} points, {5 * len(mine)} steps")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for m, tp in SETS:
        main(sys.argv[1], m, tp)
