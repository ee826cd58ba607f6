#!/usr/bin/env bash
# One device job: the executor's GPU tests, the end-to-end consistency checks at full size
# and the step benchmark of every configuration (Qwen3-30B-A3B bf16/fp8/w4a8, Mixtral-8x7B
# fp8). Binaries built on the dev machine (BIN, default bin/: engine_gpu_test,
# quadrant-engine, optionally kernels_api_gpu_test); results to $OUT.
#   OUT=out BIN=bin calibration/engine/gpu/scripts/device_check_bench.sh
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
. "$(dirname "$0")/device_env.sh"
status=0
timeout 90 "$BIN/engine_gpu_test" 2>&1 | tee "$OUT/engine_gpu_test.log" | grep -E '^\[  |OK|FAILED|rel' || status=1
for cfg in qwen3-30b-a3b:bf16 qwen3-30b-a3b:fp8 qwen3-30b-a3b:w4a8 mixtral-8x7b:fp8; do
  model=${cfg%%:*} fmt=${cfg##*:}
  echo "=== $model $fmt"
  start=$SECONDS
  timeout 75 "$BIN/quadrant-engine" bench --check \
    --scenario "calibration/engine/gpu/scenarios/bench-$model.json" --format "$fmt" \
    --out "$OUT/bench-$model-$fmt" 2>&1 | tee "$OUT/bench-$model-$fmt.log" || status=1
  echo "=== $model $fmt: $((SECONDS - start)) s"
done
# The kernels' own API test last (diagnosis only, bounded).
if [ -x "$BIN/kernels_api_gpu_test" ]; then
  timeout 60 "$BIN/kernels_api_gpu_test" --gtest_brief=1 2>&1 | tail -40 | tee "$OUT/kernels_api_gpu_test.log"
fi
exit $status
