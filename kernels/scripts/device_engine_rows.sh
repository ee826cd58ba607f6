#!/usr/bin/env bash
# One device call (issue 15, third session): quadrant-engine's 64-row decode step, and the
# one-CTA routing kernel. Binaries built on the dev machine (nvcc 13, sm_90a):
#   $B  this branch (per-sequence decode chunks; kMoeFusedRouteMaxSlots = 0)
#   $F  the same with kMoeFusedRouteMaxSlots = 4096 (quadrant-kernels-bench, kernels_api_gpu_test)
# 1. GPU tests of $B; the MoE API tests of $F.
# 2. Every decode attention check of $B (small shapes: loose bounds, forced splits and
#    shortest chunks included).
# 3. Decode attention as quadrant-engine runs Qwen3-30B-A3B (32/4 heads, lengths 1000..6400
#    under the graph's bound of 8192, batch 48..112): the heuristic, fixed splits, chunks.
# 4. Decode FFN (32e 7168/2048 at 1/8/64 tokens; Qwen3 128e 2048/768 at 32..96 tokens): $B
#    timings with the copy ceiling, then $F checks and timings.
# Results to $OUT/engine_rows.tgz.
#   B=devbin F=devbin-fused OUT=... kernels/scripts/device_engine_rows.sh
set -uo pipefail
B=${B:-devbin}
F=${F:-devbin-fused}
R=${OUT:-$PWD/out-engine-rows}/r
mkdir -p "$R/attn" "$R/ffn" "$R/fused" "$R/checks"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 60 "$B/$t" --gtest_brief=1 > "$R/$t.log" 2>&1
  echo "$t rc=$? $(tail -1 "$R/$t.log")"
done
timeout 40 "$F/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='*Moe*' > "$R/fused_api_tests.log" 2>&1
echo "fused api tests rc=$? $(tail -1 "$R/fused_api_tests.log")"
timeout 60 "$B/quadrant-kernels-bench" --checks-only --no-ceilings --only decode_attention \
  --out "$R/checks" > "$R/checks.log" 2>&1
echo "decode checks rc=$? $(grep -c 'PASS$' "$R/checks.log") pass, $(grep -c 'FAIL' "$R/checks.log") fail; $(grep -E 'failures' "$R/checks.log")"
timeout 90 "$B/quadrant-kernels-bench" --variants --timing-only --no-ceilings --only "engine b" \
  --out "$R/attn" > "$R/attn.log" 2>&1
echo "engine attention rc=$?"
timeout 60 "$B/quadrant-kernels-bench" --variants --timing-only --only decode_ffn \
  --out "$R/ffn" > "$R/ffn.log" 2>&1
echo "ffn (landed routing) rc=$?"
timeout 70 "$F/quadrant-kernels-bench" --variants --no-ceilings --only decode_ffn \
  --out "$R/fused" > "$R/fused.log" 2>&1
echo "ffn (fused routing) rc=$? $(grep -E 'failures' "$R/fused.log")"
grep -E "^ceiling" "$R/ffn.log" | head -3
for f in attn ffn fused; do
  echo "== $f"
  grep "^time" "$R/$f.log" | awk -F'|' '{ print $3 "|" $4 "|" $7 "|" $9 "|" $11 }' | cut -c1-120
done
cd "$R/.." && tar czf engine_rows.tgz r && rm -rf r
