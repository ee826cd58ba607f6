"""PyTorch's scaled_dot_product_attention on the timed prefill shapes of
quadrant-kernels-bench: a reference row only (never a dependency of the kernels).
Times each available backend (flash, cuDNN) as the median of 30 CUDA-event timings after
warm-up, three input copies rotated; FLOPs counted as the C++ bench does (causal pairs)."""
import sys
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def causal_pairs(seq, prefix):
    return sum(prefix + t + 1 for t in range(seq))


def time_backend(backend, q, k, v, causal, copies=3, iters=30):
    inputs = [(q.clone(), k.clone(), v.clone()) for _ in range(copies)]
    with sdpa_kernel([backend]):
        for i in range(5):
            F.scaled_dot_product_attention(*inputs[i % copies], is_causal=causal)
        torch.cuda.synchronize()
        times = []
        for i in range(iters):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            F.scaled_dot_product_attention(*inputs[i % copies], is_causal=causal)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    warnings.filterwarnings("ignore")
    dev = torch.device("cuda")
    shapes = [  # label, seq, heads, kv_heads, d, dv
        ("1x8192 causal 32/8 d128", 8192, 32, 8, 128, 128),
        ("1x8192 MLA 16 heads 192/128", 8192, 16, 16, 192, 128),
        ("1x8192 d64 32/8", 8192, 32, 8, 64, 64),
    ]
    print("| reference | shape | backend | time ms | TFLOP/s |")
    print("|---|---|---|---|---|")
    for label, seq, h, hk, d, dv in shapes:
        q = torch.randn(1, h, seq, d, device=dev, dtype=torch.bfloat16)
        # GQA as the expanded K/V (the expansion is outside the timed call).
        k = torch.randn(1, hk, seq, d, device=dev, dtype=torch.bfloat16).repeat_interleave(h // hk, 1)
        v = torch.randn(1, hk, seq, dv, device=dev, dtype=torch.bfloat16).repeat_interleave(h // hk, 1)
        flops = 2.0 * causal_pairs(seq, 0) * h * (d + dv)
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                ms = time_backend(backend, q, k, v, True)
                print(f"| torch {torch.__version__} sdpa | {label} | {name} | {ms:.4f} | "
                      f"{flops / ms / 1e9:.1f} |")
            except Exception as e:  # a backend that refuses the shape
                print(f"| torch {torch.__version__} sdpa | {label} | {name} | refused: "
                      f"{str(e).splitlines()[0][:80]} | - |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
