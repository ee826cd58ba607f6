#!/usr/bin/env bash
# The attention device job in one call: build only the attention sources (or use a
# binary built beside the checkout and carried: ATTN_BIN), list the tensor-core
# instructions in the SASS, run the attention checks and timings against the ceilings
# measured in the same run, and time PyTorch's SDPA on the same shapes as a reference.
#   kernels/scripts/device_attention.sh [bench args, e.g. --only prefill]
set -euo pipefail
OUT=${OUT:-$PWD/out-attn}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv | tee "$OUT/attn_gpu.txt"
BIN=${ATTN_BIN:-}
if [[ -z "$BIN" || ! -x "$BIN" ]]; then
  B=build-attn-dev
  mkdir -p $B
  NV="nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr -I."
  srcs=(kernels/src/common.cu kernels/src/lt_gemm.cu kernels/src/prefill_attention.cu
        kernels/src/sm90_prefill_attention.cu kernels/src/decode_attention.cu
        kernels/reference/numeric.cc kernels/reference/reference.cc kernels/tools/attention_bench.cc)
  for s in "${srcs[@]}"; do
    o=$B/$(basename "${s%.*}").o
    $NV -Xptxas -v -c "$s" -o "$o" > "$o.log" 2>&1 || { cat "$o.log"; exit 1; } &
  done
  wait
  nvcc -o $B/attention_bench $B/*.o -lcublasLt
  BIN=$B/attention_bench
fi
# Which matrix instructions each kernel uses (HMMA: mma.sync; HGMMA/QGMMA: wgmma).
cuobjdump -sass "$BIN" | awk '
  /Function :/ { fn = $3 }
  /HGMMA|QGMMA|HMMA/ { for (i = 1; i <= NF; ++i) if ($i ~ /^(HGMMA|QGMMA|HMMA)/) { split($i, p, "."); n[fn " " p[1] "." p[2]]++ } }
  END { for (k in n) print n[k], k }' | sort -k2 > "$OUT/attn_sass_summary.txt" || true
cat "$OUT/attn_sass_summary.txt" | sed 's/_ZN8quadrant7kernels[^ ]*attention_cu_[0-9a-f]*//' | cut -c1-150
timeout "${BENCH_TIMEOUT:-420}" "$BIN" --out "$OUT" "$@" 2>&1 | tee "$OUT/attn_bench.log" ||
  echo "attention bench: exit status $? (failed checks, or the timeout)"
if [[ -n "${ATTN_NCU:-}" ]]; then
  # Where the time goes in the two main kernels (one launch each, after a warm-up).
  for f in bf16 fp8; do
    timeout 120 ncu --kernel-name regex:sm90_prefill_attention_kernel --launch-skip 1 --launch-count 1 \
      --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats \
      --section SchedulerStats --section InstructionStats --section MemoryWorkloadAnalysis \
      "$BIN" --profile --only "$f 1x8192 causal" 2>&1 | grep -v "^==PROF==" || true
  done > "$OUT/attn_ncu.txt"
  # The main kernels' SASS (BF16 and FP8 d128, ping-pong variant), for reading offline.
  cuobjdump -sass "$BIN" | awk '/Function :/ {p = /sm90_prefill_attention_kernelILb[01]ELi128ELi128ELi2E/} p' > "$OUT/attn_sass_d128.txt" || true
fi
if [[ -z "${SKIP_SDPA:-}" ]]; then
  PYTHONUNBUFFERED=1 timeout 120 python3 kernels/scripts/attention_sdpa_reference.py 2>&1 | tee "$OUT/attn_sdpa.md" || true
fi
