#!/usr/bin/env bash
# One device job: the serving cases of issue 11 (calibration/engine/cases), one
# quadrant-engine process per configuration serving its four cases in turn (one executor:
# weights, graphs made once); logs to $OUT/cases/<case>/ (copy them into the case folders).
# DRAIN: seconds allowed after the last arrival; DURATION (optional) overrides each case's
# arrival window (the committed logs used the scenarios' own 20 s).
#   OUT=out BIN=bin calibration/engine/gpu/scripts/device_cases.sh
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
DURATION=${DURATION:-}
DRAIN=${DRAIN:-30}
. "$(dirname "$0")/device_env.sh"
status=0
C=calibration/engine/cases
for cfg in qwen3-30b-a3b-bf16 qwen3-30b-a3b-w4a8 mixtral-8x7b-fp8; do
  echo "=== $cfg"
  start=$SECONDS
  timeout 240 "$BIN/quadrant-engine" serve ${DURATION:+--duration "$DURATION"} --drain-limit "$DRAIN" \
    --case $C/$cfg-poisson50 --case $C/$cfg-poisson85 --case $C/$cfg-bursty --case $C/$cfg-longctx \
    --out "$OUT/cases" 2>&1 | tee "$OUT/serve-$cfg.log" || status=1
  echo "=== $cfg: $((SECONDS - start)) s"
done
exit $status
