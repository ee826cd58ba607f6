#!/usr/bin/env bash
# The grouped-GEMM device job in one call: build only the FFN/GEMM sources (no attention),
# list the tensor-core instructions in their SASS, run the grouped GEMM bench (checks +
# timings against cuBLASLt) and the FFN rows of quadrant-kernels-bench. Results to $OUT.
#   kernels/scripts/device_gemm.sh [bench args, default: --only ffn]
# Environment: GEMM_SKIP=1 skips sm90-gemm-bench, SKIP_FFN=1 the FFN bench, EXPERIMENTS=1
# adds the epilogue variants and ncu.
set -uo pipefail
OUT=${OUT:-$PWD/out-gemm}
mkdir -p "$OUT"
CUDA=${CUDA_HOME:-/usr/local/cuda}
export PATH="$CUDA/bin:$PATH"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total --format=csv
B=build-gemm-dev
mkdir -p "$B"
NVCC=(nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr -I.)
build() {  # source -> object, in the background
  local src=$1 obj=$B/$(basename "${1%.*}").o
  "${NVCC[@]}" -Xptxas=-v -c "$src" -o "$obj" > "$obj.log" 2>&1 || echo "FAILED $src" >> "$B/failed"
}
rm -f "$B/failed"
for s in kernels/src/common.cu kernels/src/moe_ffn.cu kernels/src/sm90_grouped_gemm.cu \
         kernels/src/lt_gemm.cu kernels/src/dense_gemm.cu kernels/src/quadrant_op.cc \
         kernels/reference/numeric.cc kernels/reference/reference.cc \
         kernels/scripts/device_gemm_stubs.cc kernels/tools/bench.cc kernels/src/sm90_gemm_bench.cc; do
  build "$s" &
done
wait
cat "$B"/*.o.log > "$B/build.log"
if [ -f "$B/failed" ]; then cat "$B/failed"; grep -B2 -A8 error "$B/build.log" | head -60; exit 1; fi
common=("$B/common.o" "$B/lt_gemm.o" "$B/sm90_grouped_gemm.o" "$B/numeric.o" "$B/reference.o")
nvcc -o "$B/sm90-gemm-bench" "$B/sm90_gemm_bench.o" "${common[@]}" -lcublasLt || exit 1
nvcc -o "$B/quadrant-kernels-bench" "$B/bench.o" "$B/moe_ffn.o" "$B/dense_gemm.o" \
  "$B/quadrant_op.o" "$B/device_gemm_stubs.o" "${common[@]}" -lcublasLt || exit 1
grep -A2 "sm90_grouped_gemm_kernel" "$B/sm90_grouped_gemm.o.log" | grep -E "registers|spill" | sort | uniq -c
for o in sm90_grouped_gemm moe_ffn; do
  cuobjdump -sass "$B/$o.o" 2>/dev/null | awk -v f=$o '
    /Function :/ { fn = $3 }
    /HGMMA|QGMMA|HMMA|IMMA/ { for (i = 1; i <= NF; ++i) if ($i ~ /^(HGMMA|QGMMA|HMMA|IMMA)/) { split($i, p, "."); n[fn " " p[1] "." p[2] "." p[3]]++ } }
    END { for (k in n) print n[k], k }' | sort -k2
done > "$B/sass_summary_gemm.txt"
cut -c1-200 "$B/sass_summary_gemm.txt" | sed -E 's/_ZN8quadrant7kernels[0-9]+_GLOBAL__N__[0-9a-f_]+(sm90|moe)/\1/' > "$OUT/sass_summary_gemm.txt"
# EXPERIMENTS=1: the grouped GEMM's epilogue variants (0: 4-byte stores as the registers
# lie, 2: no stores, timing only) beside the default, and ncu on one launch of each GEMM.
if [ "${EXPERIMENTS:-0}" = 1 ]; then
  for e in 0 2; do
    "${NVCC[@]}" -DQK_SM90_EPILOGUE=$e -c kernels/src/sm90_grouped_gemm.cu -o "$B/sm90_e$e.o" &&
      nvcc -o "$B/sm90-gemm-bench-e$e" "$B/sm90_gemm_bench.o" "$B/sm90_e$e.o" "$B/common.o" \
        "$B/lt_gemm.o" "$B/numeric.o" "$B/reference.o" -lcublasLt || exit 1
  done
fi
rc=0
if [ "${GEMM_SKIP:-0}" != 1 ]; then
  timeout "${GEMM_TIMEOUT:-180}" "$B/sm90-gemm-bench" --out "$OUT" 2>&1 | tee "$OUT/gemm_bench.log"
  rc=${PIPESTATUS[0]}
fi
if [ "$rc" = 124 ]; then echo "sm90-gemm-bench timed out (a hang): FFN bench skipped"; exit 124; fi
if [ "${EXPERIMENTS:-0}" = 1 ]; then
  for e in 0 2; do
    echo "== epilogue variant $e (2: no stores, its checks fail by design) =="
    mkdir -p "$B/e$e"
    timeout 120 "$B/sm90-gemm-bench-e$e" --no-lt --out "$B/e$e" 2>&1 | grep -E "^\| (bf16|fp8)"
  done 2>&1 | tee "$OUT/gemm_epilogue_variants.log"
  timeout 150 ncu -k regex:sm90_grouped_gemm_kernel --section SpeedOfLight --section WarpStateStats \
    --section MemoryWorkloadAnalysis "$B/sm90-gemm-bench" --profile > "$OUT/gemm_ncu.txt" 2>&1
  grep -E "sm90_grouped_gemm_kernel|Duration|Compute \(SM\) Throughput|Memory Throughput|DRAM Throughput|L2 Hit|Stall|Warp Cycles Per Issued" "$OUT/gemm_ncu.txt" | cut -c1-160 | head -80
fi
if [ "${SKIP_FFN:-0}" != 1 ]; then
  if [ $# -eq 0 ]; then set -- --only ffn; fi
  timeout "${BENCH_TIMEOUT:-300}" "$B/quadrant-kernels-bench" --out "$OUT" "$@" 2>&1 | tee "$OUT/bench_ffn.log"
fi
