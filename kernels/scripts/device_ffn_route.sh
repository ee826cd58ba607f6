#!/usr/bin/env bash
# One device call: the landed decode FFN at 64 tokens (BF16, FP8: checks and timings with the
# copy ceiling of the same run), and a build with the one-CTA routing kernel switched on
# (plan::kMoeFusedRouteMaxSlots = 4096, binaries in $F): the MoE API GPU tests, every decode
# FFN check and timing. Results to $OUT/route.tgz.
#   B=devbin F=devbin-fused OUT=... kernels/scripts/device_ffn_route.sh
set -uo pipefail
B=${B:-devbin}
F=${F:-devbin-fused}
R=${OUT:-$PWD/out-route}/r
mkdir -p "$R/landed" "$R/fused"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
timeout 100 "$F/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='*Moe*' > "$R/fused_api_tests.log" 2>&1
echo "fused api tests rc=$?"
tail -1 "$R/fused_api_tests.log"
timeout 150 "$F/quadrant-kernels-bench" --only "decode_ffn" --out "$R/fused" > "$R/fused.log" 2>&1
echo "fused bench rc=$?"
timeout 100 "$B/quadrant-kernels-bench" --only "decode_ffn bf16 64,decode_ffn fp8 64" --out "$R/landed" > "$R/landed.log" 2>&1
echo "landed bench rc=$?"
for f in fused landed; do
  echo "== $f"
  grep -E "^ceiling: device|small-shape|FAIL|ERROR" "$R/$f.log" | head -8
  grep "^time" "$R/$f.log" | cut -c1-150
done
cd "$R/.." && tar czf route.tgz r && rm -rf r
