#!/usr/bin/env python3
"""Seeded Latin-hypercube draws of the per-GPU shard shapes that TP/EP/DP layouts of real
models give the quadrant kernels, as a quadrant-profile grid (calibration/grids/*.json).

  calibration/scripts/shard_grid.py --seed 12 --purpose validation \
      --exclude calibration/grids/hopper.json > calibration/grids/validation.json
  calibration/scripts/shard_grid.py --seed 31 --purpose fit --scale 1.5 --exclude \
      calibration/grids/hopper.json calibration/grids/validation.json \
      > calibration/grids/hopper-shards.json

The validation set (seed 12) is never fitted on, nor used to choose a form or k: it
measures how the fitted models generalise to shapes the fitting grid (hopper.json) does
not hold. Another seed draws a disjoint set of the same kind for fitting.

Every shape is drawn BETWEEN the fitting grid's points: batch sizes, lengths and token
counts are log-uniform over their ranges (a value that lands on a power of two of the grid
is moved by one), models and layouts come from the list below, each (op, format) gets its
own Latin hypercube (one stratum per shape and dimension, strata permuted per dimension).
Constraints of make_op (kernels/include/quadrant_op.h) are respected: head dims 64, 128,
256 (decode), 64, 128, 192/128 (prefill; fp8 and MLA run where make_op sends them),
hidden and intermediate multiples of 128 (gpt-oss's 2880 rounded up to 2944, as a serving
framework pads it), experts <= 256 per GPU, top_k <= experts.
Standard library only; deterministic for a seed (random.Random, sorted iteration).
"""
import argparse
import json
import math
import random
import sys

# Per-layer architecture of the models: attention (heads, KV heads, head dim, or MLA),
# hidden size, FFN (dense intermediate; MoE experts, top-k, expert intermediate, shared).
MODELS = {
    # scenarios/models
    "DeepSeek-V3": dict(heads=128, mla=True, hidden=7168, experts=256, top_k=8, inter=2048,
                        shared=1, dense=18432, q_lora=1536, kv_lora=512),
    "Doubao-1.5-pro-like": dict(heads=64, kv=8, dim=128, hidden=6144, experts=128, top_k=8,
                                inter=2048, shared=1),
    "Mixtral-8x7B": dict(heads=32, kv=8, dim=128, hidden=4096, experts=8, top_k=2, inter=14336),
    "Qwen3-235B-A22B": dict(heads=64, kv=4, dim=128, hidden=4096, experts=128, top_k=8,
                            inter=1536),
    "Qwen3-30B-A3B": dict(heads=32, kv=4, dim=128, hidden=2048, experts=128, top_k=8, inter=768),
    "UltraMem-like": dict(heads=32, kv=8, dim=128, hidden=4096, dense=11008),
    # common open models beyond them
    "Llama-3-8B": dict(heads=32, kv=8, dim=128, hidden=4096, dense=14336),
    "Llama-3-70B": dict(heads=64, kv=8, dim=128, hidden=8192, dense=28672),
    "Mixtral-8x22B": dict(heads=48, kv=8, dim=128, hidden=6144, experts=8, top_k=2, inter=16384),
    "Kimi-K2": dict(heads=64, mla=True, hidden=7168, experts=384, top_k=8, inter=2048, shared=1,
                    dense=18432, q_lora=1536, kv_lora=512),
    "gpt-oss-120b": dict(heads=64, kv=8, dim=64, hidden=2944, experts=128, top_k=4, inter=2944),
    "gpt-oss-20b": dict(heads=64, kv=8, dim=64, hidden=2944, experts=32, top_k=4, inter=2944),
    "Gemma-2-9B": dict(heads=16, kv=8, dim=256, hidden=3584, dense=14336),
}
TPS = (1, 2, 4, 8, 16)
EPS = (1, 2, 4, 8, 16, 32, 64)
GRID_POWERS = {2**i for i in range(0, 15)}


def log_uniform(u, lo, hi):
    return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))


def off_grid(v, lo=1):
    """An integer value moved off the fitting grid's powers of two (and its 1.5x points)
    from 8 up; smaller ones (batch 1, 2 tokens) are kept: they are realistic and few."""
    v = max(lo, int(round(v)))
    while v >= 8 and (v in GRID_POWERS or (v % 3 == 0 and (v // 3) * 2 in GRID_POWERS)):
        v += 1
    return v


def lhs(rng, n, dims):
    """n points of a Latin hypercube in [0, 1)^dims."""
    cols = []
    for _ in range(dims):
        perm = list(range(n))
        rng.shuffle(perm)
        cols.append([(p + rng.random()) / n for p in perm])
    return [[cols[d][i] for d in range(dims)] for i in range(n)]


HEAD_DIMS = ()  # --head-dims: attention shards of these head dims only (empty: all)


def attention_shards(decode):
    """(model, tp, heads, kv_heads, head_dim, v_head_dim) per GPU; MLA only in prefill (the
    kernels have no MLA decode: its absorbed latent of 576/512 is not a make_op head dim)."""
    out = []
    for name in sorted(MODELS):
        m = MODELS[name]
        for tp in TPS:
            if m["heads"] % tp or m["heads"] // tp < 1:
                continue
            heads = m["heads"] // tp
            if m.get("mla"):
                if decode or heads > 64:
                    continue
                out.append((name, tp, heads, heads, 192, 128))
                continue
            if not decode and m["dim"] == 256:
                continue  # prefill head dim 256: not a make_op shape
            kv = max(1, m["kv"] // tp)
            if heads % kv:
                continue
            out.append((name, tp, heads, kv, m["dim"], m["dim"]))
    if HEAD_DIMS:
        out = [a for a in out if a[4] in HEAD_DIMS]
    return out


def expert_shards():
    """(model, ep, local experts, top_k, hidden, intermediate) per GPU; experts split by TP
    past one expert per GPU (Mixtral at EP 16 is EP 8 x TP 2)."""
    out = []
    for name in sorted(MODELS):
        m = MODELS[name]
        if "experts" not in m:
            continue
        for ep in EPS:
            if m["experts"] >= ep:
                if m["experts"] % ep:
                    continue
                local, inter = m["experts"] // ep, m["inter"]
            else:
                split = ep // m["experts"]
                if m["inter"] % (128 * split):
                    continue
                local, inter = 1, m["inter"] // split
            if local > 256:
                continue
            if m["experts"] >= 64 and ep < 4:
                continue  # hundreds of experts on one GPU: never served so
            out.append((name, ep, local, m["top_k"], m["hidden"], inter))
    return out


def gemm_shards():
    """(model, tp, n, k) of the projections, dense FFNs and shared experts per GPU."""
    out = set()
    for name in sorted(MODELS):
        m = MODELS[name]
        h = m["hidden"]
        for tp in (1, 2, 4, 8):
            if m["heads"] % tp:
                continue
            heads = m["heads"] // tp
            if m.get("mla"):
                out |= {(name, tp, m["q_lora"], h), (name, tp, m["kv_lora"] + 64, h),
                        (name, tp, heads * 192, m["q_lora"]),
                        (name, tp, heads * 256, m["kv_lora"]), (name, tp, h, heads * 128)}
            else:
                kv = max(1, m["kv"] // tp)
                out |= {(name, tp, (heads + 2 * kv) * m["dim"], h),
                        (name, tp, h, heads * m["dim"])}
            if "dense" in m and m["dense"] % (128 * tp) == 0:
                out |= {(name, tp, 2 * m["dense"] // tp, h), (name, tp, h, m["dense"] // tp)}
            if m.get("shared") and m["inter"] % (128 * tp) == 0:
                out |= {(name, tp, 2 * m["inter"] // tp, h), (name, tp, h, m["inter"] // tp)}
            if "experts" in m:
                out.add((name, tp, min(m["experts"], 256), h))  # the router
    return sorted(out)


def grid_keys(path):
    """(op, format, params) of every shape of a grid file, for --exclude."""
    with open(path) as f:
        g = json.load(f)
    keys = set()
    for e in g["ops"]:
        shapes = [dict(e.get("fixed", {}))]
        for axis, values in e["axes"].items():
            shapes = [dict(s, **(v if isinstance(v, dict) else {axis: v}))
                      for s in shapes for v in values]
        keys |= {(e["quadrant"], f, json.dumps(s, sort_keys=True))
                 for f in e["formats"] for s in shapes}
    return keys


def pick(u, items):
    return items[min(len(items) - 1, int(u * len(items)))]


def decode_attention(rng, n, fmt):
    shards = attention_shards(decode=True)
    shapes = []
    for u in lhs(rng, n, 5):
        name, tp, heads, kv, dim, _ = pick(u[0], shards)
        batch = off_grid(log_uniform(u[1], 1, 384))
        kv_len = off_grid(log_uniform(u[2], 160, 32768))
        # At most 2^29 cached elements per K and V (a 1 GiB BF16 cache each): larger ones
        # only take device time and cannot be told apart by the model.
        kv_len = min(kv_len, off_grid((1 << 29) // (batch * kv * dim) - 8))
        s = {"batch": batch, "kv_len": kv_len, "heads": heads, "kv_heads": kv, "head_dim": dim}
        if batch > 1 and u[3] < 0.5:  # a batch of mixed lengths, as a serving batch is
            s["kv_len_min"] = max(16, int(kv_len * (0.05 + 0.9 * u[4])))
        shapes.append((s, f"{name} TP{tp}"))
    return shapes


def mla_decode(rng, n, fmt):
    """MLA's absorbed decode (op mla_decode, kernels/src/mla_decode.cu): one 576-wide latent
    row per token shared by the heads of a GPU's shard (a multiple of 16: DeepSeek-V3 128 / TP,
    Kimi-K2 64 / TP), pages of 64 or 16 tokens, equal or mixed lengths."""
    shards = []
    for name in sorted(MODELS):
        m = MODELS[name]
        if m.get("mla"):
            shards += [(name, tp, m["heads"] // tp) for tp in TPS
                       if m["heads"] % tp == 0 and (m["heads"] // tp) % 16 == 0]
    shapes = []
    for u in lhs(rng, n, 5):
        name, tp, heads = pick(u[0], shards)
        batch = off_grid(log_uniform(u[1], 1, 256))
        kv_len = off_grid(log_uniform(u[2], 160, 16384))
        kv_len = min(kv_len, off_grid((1 << 29) // (batch * 576) - 8))  # a 1 GiB BF16 cache
        s = {"batch": batch, "kv_len": kv_len, "heads": heads, "block_size": 64 if u[4] < 0.75 else 16}
        if batch > 1 and u[3] < 0.5:  # a batch of mixed lengths, as a serving batch is
            s["kv_len_min"] = max(16, int(kv_len * (0.05 + 0.9 * ((u[4] * 4) % 1))))
        shapes.append((s, f"{name} TP{tp}"))
    return shapes


def prefill_attention(rng, n, fmt):
    shards = attention_shards(decode=False)
    shapes = []
    for u in lhs(rng, n, 6):
        name, tp, heads, kv, dim, vdim = pick(u[0], shards)
        batch = off_grid(log_uniform(u[1], 1, 24))
        seq_len = off_grid(log_uniform(u[2], 96, min(12288, 20000 // batch)), 16)
        s = {"batch": batch, "seq_len": seq_len, "heads": heads, "kv_heads": kv,
             "head_dim": dim}
        if vdim != dim:
            s["v_head_dim"] = vdim
        if u[3] >= 0.35:  # chunked prefill after a cached prefix
            prefix = off_grid(log_uniform((u[3] - 0.35) / 0.65, 100, 24576))
            # At most 64k cached and new tokens in the batch (an H200's KV of a mid model).
            s["prefix_len"] = max(16, min(prefix, 65536 // batch - seq_len))
        if batch > 1 and u[4] < 0.4:
            s["seq_len_min"] = max(16, int(seq_len * (0.1 + 0.85 * u[5])))
        shapes.append((s, f"{name} TP{tp}"))
    return shapes


def moe(rng, n, fmt, decode):
    shards = expert_shards()
    shapes = []
    for u in lhs(rng, n, 3):
        name, ep, local, top_k, hidden, inter = pick(u[0], shards)
        m = MODELS[name]
        # Tokens of the instance's step across its EP ranks (decode: one per sequence).
        tokens = log_uniform(u[1], 1, 2048) if decode else log_uniform(u[1], 384, 65536)
        pairs = tokens * m["top_k"] / max(ep, 1) * (local * ep / m["experts"] if
                                                    ep <= m["experts"] else 1)
        pairs = min(pairs, 49152)
        k = min(top_k, local)
        tokens_param = off_grid(max(1, pairs / k))
        shapes.append(({"tokens": tokens_param, "experts": local, "top_k": k, "hidden": hidden,
                        "intermediate": inter}, f"{name} EP{ep}"))
    return shapes


def dense_gemm(rng, n, fmt):
    shards = gemm_shards()
    shapes = []
    for u in lhs(rng, n, 2):
        name, tp, nn, kk = pick(u[0], shards)
        m = off_grid(log_uniform(u[1], 1, 24576))
        m = min(m, off_grid(4e12 / (2.0 * nn * kk)))  # at most 4 TFLOP (about 5 ms)
        shapes.append(({"m": m, "n": nn, "k": kk}, f"{name} TP{tp}"))
    return shapes


OPS = [
    ("decode_attention", ("bf16", "fp8"), decode_attention, 90),
    ("prefill_attention", ("bf16", "fp8"), prefill_attention, 75),
    ("prefill_ffn", ("bf16", "fp8", "w4a8"), lambda r, n, f: moe(r, n, f, False), 45),
    ("decode_ffn", ("bf16", "fp8", "w4a8"), lambda r, n, f: moe(r, n, f, True), 45),
    ("dense_gemm", ("bf16", "fp8"), dense_gemm, 60),
]
# Drawn only when --ops names them, after the others, so that the committed grids' commands
# (every op of OPS from one seeded stream) still draw the same shapes.
NAMED_ONLY = [
    ("mla_decode", ("bf16",), mla_decode, 60),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--purpose", choices=("validation", "fit"), required=True)
    ap.add_argument("--scale", type=float, default=1.0, help="shapes per (op, format) x this")
    ap.add_argument("--exclude", nargs="*", default=[],
                    help="grid files whose shapes are left out (validation and fit disjoint)")
    ap.add_argument("--ops", nargs="*", default=[],
                    help="only these ops (active sampling of the ops that miss their targets)")
    ap.add_argument("--head-dims", nargs="*", type=int, default=[],
                    help="attention: only shards of these head dims (192: MLA), for the "
                         "variants that miss their targets")
    a = ap.parse_args()
    global HEAD_DIMS
    HEAD_DIMS = tuple(a.head_dims)
    excluded = set()
    for path in a.exclude:
        excluded |= grid_keys(path)
    rng = random.Random(a.seed)
    ops = []
    total = 0
    for op, formats, draw, n in OPS + [o for o in NAMED_ONLY if o[0] in a.ops]:
        if a.ops and op not in a.ops:
            continue
        for fmt in formats:
            count = max(4, int(round(n * a.scale)))
            drawn = draw(rng, count, fmt)
            seen, shapes = set(), []
            for s, origin in drawn:
                key = json.dumps(s, sort_keys=True)
                if key not in seen and (op, fmt, key) not in excluded:
                    seen.add(key)
                    shapes.append(dict(sorted(s.items())))
            total += len(shapes)
            ops.append({"quadrant": op, "formats": [fmt], "axes": {"shape": shapes}})
    purpose = ("VALIDATION set: never fitted on, nor used to choose a form or k"
               if a.purpose == "validation" else "fitting shapes beside hopper.json")
    grid = {
        "$comment": f"{purpose}. {total} per-GPU shard shapes of TP/EP/DP layouts of "
                    f"{', '.join(sorted(MODELS))}, drawn by calibration/scripts/shard_grid.py "
                    f"--seed {a.seed} --purpose {a.purpose} --scale {a.scale}"
                    f"{' --ops ' + ' '.join(a.ops) if a.ops else ''}"
                    f"{' --head-dims ' + ' '.join(map(str, a.head_dims)) if a.head_dims else ''} (Latin hypercube per op and "
                    "format, between the points of hopper.json).",
        "schema_version": 1,
        "kind": "quadrant-grid",
        "warmup": 3,
        "repetitions": 25,
        "graph_below_us": 1000000,
        "ops": ops,
    }
    out = json.dumps(grid, indent=None, separators=(",", ":"))
    # One line per (op, format) entry keeps diffs readable.
    out = out.replace(',"ops":[{', ',\n"ops":[\n{').replace('},{"quadrant"', '},\n{"quadrant"')
    sys.stdout.write(out + "\n")
    print(f"{total} shapes", file=sys.stderr)


if __name__ == "__main__":
    main()
