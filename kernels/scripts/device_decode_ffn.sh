#!/usr/bin/env bash
# MoE FFN's device job in one call, on binaries built on the dev machine (nvcc, sm_90a) and
# copied to $B: every GPU test, the SASS instruction mix of the decode GEMMs, every FFN check
# (small shapes and each timed shape), timings of decode_ffn (BF16, FP8, W4A8 at 1, 8 and 64
# tokens) and prefill_ffn against the copy ceiling measured in the same run, and ncu of one
# decode step per kernel (durations, DRAM and L2 throughput). Results to $OUT/ffn.tgz.
#   B=devbin OUT=... kernels/scripts/device_decode_ffn.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-ffn}/r
mkdir -p "$R/main"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 150 "$B/$t" --gtest_brief=1 > "$R/$t.log" 2>&1
  echo "$t rc=$?"
  tail -1 "$R/$t.log"
done
cuobjdump -sass "$B/quadrant-kernels-bench" 2>/dev/null | awk '
  /Function :/ { fn = $3; keep = (fn ~ /w4a8_decode|moe_grouped_gemm|moe_combine|moe_schedule/) }
  keep { for (i = 1; i <= NF; ++i) if ($i ~ /^[A-Z][A-Z0-9]+(\.[A-Z0-9_.]+)?$/ && $i !~ /^(R[0-9]+|P[0-9]+|UR[0-9]+|PT|RZ|URZ)$/) { split($i, p, "."); n[fn " " p[1]]++; break } }
  END { for (k in n) print n[k], k }' | sort -k2 > "$R/sass_ffn.txt"
timeout 330 "$B/quadrant-kernels-bench" --only "${ONLY:-decode_ffn,prefill_ffn}" --out "$R/main" > "$R/main.log" 2>&1
echo "bench rc=$?"
grep -E "^ceiling|small-shape|FAIL|ERROR" "$R/main.log" | head -20
if command -v ncu > /dev/null; then
  timeout 120 ncu --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis \
    --kernel-name regex:moe_ "$B/quadrant-kernels-bench" --profile \
    --only "decode_ffn fp8 1 tok,decode_ffn fp8 64 tok" > "$R/ncu.txt" 2>&1
  echo "ncu rc=$?"
  # Last step of each case: kernel, duration (us), DRAM %, L2 %.
  awk '/^profiled/ { print } /^  [a-z].*\(/ { k = $0; sub(/\(const.*\) \(/, " (", k); sub(/, Context.*/, "", k) }
       /Duration/ { d = $3 } /DRAM Throughput/ { m = $4 } /L2 Cache Throughput/ { print "  " k, d " us, DRAM " m "%, L2 " $5 "%" }' "$R/ncu.txt" \
    | sed 's/void unnamed>:://; s/unnamed>:://' > "$R/ncu_steps.txt"
  tail -24 "$R/ncu_steps.txt"
fi
grep "^time" "$R/main.log" | cut -c1-160
cd "$R/.." && tar czf ffn.tgz r && rm -rf r
