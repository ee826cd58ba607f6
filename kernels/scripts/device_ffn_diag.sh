#!/usr/bin/env bash
# Decode MoE FFN diagnosis in one device call, on prebuilt binaries in $B: the SASS
# instruction mix of the decode grouped GEMMs, ncu per kernel of one step (durations and
# speed of light) at 1 and 64 tokens, and the warp stalls / pipes of the GEMM kernels.
#   B=devbin OUT=... kernels/scripts/device_ffn_diag.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-ffn}/r
mkdir -p "$R"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
cuobjdump -sass "$B/quadrant-kernels-bench" 2>/dev/null | awk '
  /Function :/ { fn = $3; keep = (fn ~ /moe_grouped_gemm|w4a8_decode|moe_decode/) }
  keep { for (i = 1; i <= NF; ++i) if ($i ~ /^[A-Z][A-Z0-9]+(\.[A-Z0-9_.]+)?$/ && $i !~ /^(R[0-9]+|P[0-9]+|UR[0-9]+|PT|RZ|URZ)$/) { split($i, p, "."); n[fn " " p[1]]++; break } }
  END { for (k in n) print n[k], k }' | sort -k2 > "$R/sass_ffn.txt"
CASES="decode_ffn fp8 1 tok,decode_ffn fp8 64 tok,decode_ffn bf16 1 tok,decode_ffn bf16 64 tok,decode_ffn w4a8 8 tok"
timeout 200 ncu --clock-control none --section SpeedOfLight --launch-skip 0 \
  "$B/quadrant-kernels-bench" --profile --only "$CASES" > "$R/ncu_sol.txt" 2>&1
echo "ncu sol rc=$?"
timeout 200 ncu --clock-control none --kernel-name regex:"moe_grouped_gemm|w4a8_decode" --launch-count 12 \
  --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis \
  "$B/quadrant-kernels-bench" --profile --only "$CASES" > "$R/ncu_gemm.txt" 2>&1
echo "ncu gemm rc=$?"
# Per-kernel durations of one step per case (the last launch of each kernel name per case).
grep -E "^profiled|^  [a-z_ ].*\(|Duration|DRAM Throughput|Memory Throughput" "$R/ncu_sol.txt" | sed 's/(const.*) (/ (/' | cut -c1-150 | tail -200
cd "$R/.." && tar czf diag.tgz r && rm -rf r
