#!/usr/bin/env bash
# The kernels' device job in one call: build the CUDA parts from the top level (the GPU
# machine may lack GoogleTest, CLI11, Boost), list the tensor-core instructions in the SASS,
# run every check and time every op against the ceilings measured in the same run.
# Full results go to $OUT (default ./out-kernels).
#   kernels/scripts/device_run.sh [bench args, e.g. --only decode --variants]
# PyTorch's SDPA beside our prefill attention: python3 kernels/scripts/attention_sdpa_reference.py
set -euo pipefail
OUT=${OUT:-$PWD/out-kernels}
BUILD=${BUILD:-build-cuda}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total --format=csv | tee "$OUT/gpu.txt"
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
if ! { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DQUADRANT_CUDA_ONLY=ON "${generator[@]}" &&
       cmake --build "$BUILD" -j "$(nproc)" --target quadrant-kernels-bench; } > "$OUT/build.log" 2>&1; then
  tail -60 "$OUT/build.log"
  exit 1
fi
# Which matrix instructions each kernel uses (HMMA: mma.sync; HGMMA/QGMMA: wgmma).
cuobjdump -sass "$BUILD"/kernels/libquadrant_kernels.a 2>/dev/null | awk '
  /Function :/ { fn = $3 }
  /HGMMA|QGMMA|HMMA|IMMA/ { for (i = 1; i <= NF; ++i) if ($i ~ /^(HGMMA|QGMMA|HMMA|IMMA)/) { split($i, p, "."); n[fn " " p[1] "." p[2]]++ } }
  END { for (k in n) print n[k], k }' | sort -k2 > "$OUT/sass_summary.txt" || true
# A guard under the device tool's 10-minute limit, so that a hang still returns the logs.
timeout "${BENCH_TIMEOUT:-480}" "$BUILD"/kernels/quadrant-kernels-bench --out "$OUT" "$@" 2>&1 | tee "$OUT/bench.log"
