#!/usr/bin/env bash
# One device job: the measured capacity (largest Poisson rate meeting the case's SLO) of
# Qwen3-30B-A3B bf16 and w4a8, each on its poisson85 case's workload at increasing rates
# (DURATION seconds of arrivals per rate; stops after the first rate that misses).
#   OUT=out BIN=bin calibration/engine/gpu/scripts/device_capacity.sh
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
DURATION=${DURATION:-12}
. "$(dirname "$0")/device_env.sh"
status=0
for job in qwen3-30b-a3b-bf16:17,19,21,23,25 qwen3-30b-a3b-w4a8:17,19,21,23,25; do
  cfg=${job%%:*} rates=${job##*:}
  echo "=== $cfg"
  start=$SECONDS
  timeout 200 "$BIN/quadrant-engine" capacity --case "calibration/engine/cases/$cfg-poisson85" \
    --rates "$rates" --duration "$DURATION" --drain-limit 20 --out "$OUT/capacity" 2>&1 |
    tee "$OUT/capacity-$cfg.log" || status=1
  echo "=== $cfg: $((SECONDS - start)) s"
done
exit $status
