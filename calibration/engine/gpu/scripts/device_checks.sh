#!/usr/bin/env bash
# One device job: the executor's GPU tests, the end-to-end consistency checks of every
# configuration at full size (pinned routing: pass/fail; routing by logits: information),
# and a short serving run (the engine tests' Qwen3-30B-A3B BF16 scenario, 100 requests).
#   OUT=out BIN=bin calibration/engine/gpu/scripts/device_checks.sh
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
. "$(dirname "$0")/device_env.sh"
status=0
timeout 90 "$BIN/engine_gpu_test" 2>&1 | tee "$OUT/engine_gpu_test.log" | grep -E '^\[  |FAILED|rel' || status=1
for cfg in qwen3-30b-a3b:bf16 qwen3-30b-a3b:fp8 qwen3-30b-a3b:w4a8 mixtral-8x7b:fp8; do
  model=${cfg%%:*} fmt=${cfg##*:}
  echo "=== check $model $fmt"
  start=$SECONDS
  timeout 60 "$BIN/quadrant-engine" check --also-free \
    --scenario "calibration/engine/gpu/scenarios/bench-$model.json" --format "$fmt" 2>&1 |
    tee "$OUT/check-$model-$fmt.log" || status=1
  echo "=== check $model $fmt: $((SECONDS - start)) s"
done
echo "=== serve smoke"
start=$SECONDS
timeout 90 "$BIN/quadrant-engine" serve --scenario tests/calibration/engine/colocated_h200.json \
  --max-requests 100 --out "$OUT/serve-smoke-qwen3-bf16" 2>&1 | tee "$OUT/serve-smoke.log" || status=1
echo "=== serve smoke: $((SECONDS - start)) s"
exit $status
