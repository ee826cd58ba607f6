#!/usr/bin/env python3
"""Writes vidur-llama2-70b/ from Vidur's published profiles of Llama-2-70B.

The source is github.com/microsoft/vidur (MIT; snapshot 7d47513, 2024-11-19):
data/profiling/compute/{a100,h100}/meta-llama/Llama-2-70b-hf/mlp.csv (each operator of a
layer timed alone, ms, by token count and TP degree) and
data/profiling/network/{a100,h100}_dgx/all_reduce.csv (NCCL all-reduce on one DGX, ms, by
size in bytes and GPU count). Kept: TP2, TP4 and TP8 at 1 token (a decode step at batch
1), the per-layer medians; the all-reduce medians on 2, 4 and 8 GPUs of one node up to 64
KiB (a batch-1 decode step's all-reduces are 16 KiB). The attention kernel's profile
(attention.csv) is not in the stored snapshot (over 4 MiB).

  python3 vidur_extract.py /path/to/vidur   # a checkout; rewrites vidur-llama2-70b/*.csv
"""
import csv
import os
import sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vidur-llama2-70b")
GPUS = {"a100": "A100-80GB", "h100": "H100-SXM"}
OPS = ("input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj",
       "post_attention_layernorm", "mlp_up_proj", "mlp_act", "mlp_down_proj", "add")


def main(vidur):
    with open(os.path.join(HERE, "ops.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["gpu", "tp", "tokens"] + [f"{o}_ms" for o in OPS] + ["layer_ms"])
        for short, gpu in GPUS.items():
            path = os.path.join(vidur, "data/profiling/compute", short,
                                "meta-llama/Llama-2-70b-hf/mlp.csv")
            rows = list(csv.DictReader(open(path, newline="")))
            for tp in (2, 4, 8):
                r = [x for x in rows if x["num_tensor_parallel_workers"] == str(tp)
                     and int(x["num_tokens"]) == 1]
                assert len(r) == 1, (gpu, tp)
                ms = [float(r[0][f"time_stats.{o}.median"]) for o in OPS]
                w.writerow([gpu, tp, 1] + [f"{m:.4f}" for m in ms] + [f"{sum(ms):.4f}"])
    with open(os.path.join(HERE, "all_reduce.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["gpu", "gpus", "bytes", "median_ms"])
        for short, gpu in GPUS.items():
            path = os.path.join(vidur, "data/profiling/network", f"{short}_dgx", "all_reduce.csv")
            rows = sorted(csv.DictReader(open(path, newline="")),
                          key=lambda x: (int(x["num_workers"]), int(x["size"])))
            for r in rows:
                n = r["num_workers"]
                if n in ("2", "4", "8") and r["devices_per_node"] == n \
                        and int(r["size"]) <= 65536:
                    w.writerow([gpu, n, r["size"],
                                f"{float(r['time_stats.all_reduce.median']):.4f}"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
