#!/usr/bin/env python3
"""How quadrant-engine's synthetic Qwen3-30B-A3B routes, by weight fill (README.md, "W4A8 runs
routed unevenly"). The engine serves random weights (gpu_step_executor.cc fill_weights,
kernels moe_ffn_fill_weights) and routes by its router's logits; this replays that residual
stream in float32 on the CPU for 64 distinct tokens and prints, per layer, how many of the 128
experts they pick (uniform routing: 127.8 expected), the most rows one expert gets, and the
share of the residual along the all-ones direction (the common mode a biased weight mean adds).

Simplified where it does not bear on routing: each token's attention is its own value (one
token per sequence), activations are not quantised to E4M3, and the draws are numpy's, not the
GPU hash's (same distributions and amplitudes). Needs numpy; about 4 s a layer a format.

  python3 calibration/engine/synthetic_routing.py bf16|w4a8-legacy|w4a8 [layers]

bf16: BF16 experts, uniform in +-3/sqrt(fan_in); w4a8-legacy: INT4 of every nibble pattern
alike (-8..7, mean -1/2: the fill before the fifteenth session); w4a8: fill_int4_zero_mean
(-8 7/135, -7..6 8/135 each, 7 16/135); INT4 scales uniform in [0.5, 1.5] x amplitude / 8 per
128 inputs, as moe_ffn_fill_weights draws them.
"""
import sys

import numpy as np

FMT = sys.argv[1] if len(sys.argv) > 1 else "w4a8"
LAYERS = int(sys.argv[2]) if len(sys.argv) > 2 else 48
if FMT not in ("bf16", "w4a8-legacy", "w4a8"):
    sys.exit(f"synthetic_routing.py: expected bf16, w4a8-legacy or w4a8, got '{FMT}'")
H, I, E, K, T = 2048, 768, 128, 8, 64  # Qwen3-30B-A3B: hidden, expert intermediate, experts, top-k
QW, KVW = 4096, 512  # 32 query heads, 4 KV heads of 128
rng = np.random.default_rng(1)
a_h, a_q = np.sqrt(3 / H), np.sqrt(3 / QW)  # projections: variance 1 / fan_in
a1, a2 = 3 / np.sqrt(H), 3 / np.sqrt(I)  # experts' gate/up and down amplitudes


def uniform(shape, a):
    return rng.uniform(-a, a, size=shape).astype(np.float32)


def rmsnorm(x):
    w = rng.uniform(0.9, 1.1, H).astype(np.float32)
    return x / np.sqrt((x * x).mean(1, keepdims=True) + 1e-6) * w


def expert_matrix(n, k, a):
    if FMT == "bf16":
        return uniform((n, k), a)
    if FMT == "w4a8":
        r = rng.integers(0, 135, size=(n, k))
        q = np.where(r < 7, -8, np.where(r < 119, -7 + (r - 7) // 8, 7)).astype(np.float32)
    else:
        q = rng.integers(-8, 8, size=(n, k)).astype(np.float32)
    s = rng.uniform(0.5 * a / 8, 1.5 * a / 8, size=(n, k // 128)).astype(np.float32)
    return q * np.repeat(s, 128, axis=1)


x = uniform((T, H), 1.0)  # the embedding rows of 64 distinct tokens
for layer in range(LAYERS):
    h = rmsnorm(x)
    v = h @ uniform((KVW, H), a_h).T  # attention over the token itself: its value, per head group
    x = x + np.repeat(v.reshape(T, 4, 128), 8, axis=1).reshape(T, QW) @ uniform((H, QW), a_q).T
    h = rmsnorm(x)
    logits = h @ uniform((E, H), a_h).T
    top = np.argsort(-logits, 1)[:, :K]
    chosen = np.take_along_axis(logits, top, 1)
    p = np.exp(chosen - chosen.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    out = np.zeros_like(x)
    for e in range(E):  # every expert drawn, so that the draws do not depend on the routing
        w1, w2 = expert_matrix(2 * I, H, a1), expert_matrix(H, I, a2)
        rows, slot = np.nonzero(top == e)
        if len(rows) == 0:
            continue
        g = h[rows] @ w1.T
        y = g[:, :I] / (1 + np.exp(-g[:, :I])) * g[:, I:]
        out[rows] += p[rows, slot][:, None] * (y @ w2.T)
    x = x + out
    rows_per_expert = np.bincount(top.ravel(), minlength=E)
    common = np.abs(x.mean(1)).mean() / np.sqrt((x * x).mean())
    print(f"{FMT} layer {layer:2d}: {len(np.unique(top)):3d} of {E} experts, "
          f"at most {rows_per_expert.max():2d} rows an expert, residual rms "
          f"{np.sqrt((x * x).mean()):9.3g}, common mode {common:.3f}", flush=True)
