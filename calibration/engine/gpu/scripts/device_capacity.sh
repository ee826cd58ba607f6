#!/usr/bin/env bash
# One configuration's measured capacity over an ascending rate list, as device_rerun.sh's
# capacity stage alone (quadrant-engine stops after the first rate that misses the SLO, so
# the capacity is bracketed by the last two rates it ran), sized for a short device call:
#   OUT=out BIN=bin CFG=qwen3-30b-a3b-bf16 RATES=45,46,47,48,50 \
#     calibration/engine/gpu/scripts/device_capacity.sh
# Written 2026-12-03 to bracket Qwen3-30B-A3B BF16 on 011590e's kernels (it met every rate of
# device_rerun.sh's list, 42-45 req/s). Results: $OUT/capacity.tar.gz (capacity/<cfg>-poisson85-
# rate<R>/ logs, <cfg>-poisson85-capacity.csv, capacity-<cfg>.log) and $OUT/gpu.txt.
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
CFG=${CFG:-qwen3-30b-a3b-bf16}
RATES=${RATES:-45,46,47,48,50}
CAP_WINDOW=${CAP_WINDOW:-10}
LIMIT=${LIMIT:-150}
W=${WORK:-/tmp/engine-capacity}
. "$(dirname "$0")/device_env.sh"
rm -rf "$W" && mkdir -p "$W/capacity"
echo "=== $CFG: capacity over $RATES req/s, $CAP_WINDOW s windows [$SECONDS s]" | tee "$W/job.log"
timeout "$LIMIT" "$BIN/quadrant-engine" capacity --case "calibration/engine/cases/$CFG-poisson85" \
  --rates "$RATES" --duration "$CAP_WINDOW" --drain-limit 20 --out "$W/capacity" \
  >"$W/capacity/capacity-$CFG.log" 2>&1
echo "exit $? [$SECONDS s]" | tee -a "$W/job.log"
cat "$W/capacity/$CFG-poisson85-capacity.csv" 2>/dev/null | tee -a "$W/job.log"
tail -n 3 "$W/capacity/capacity-$CFG.log"
tar -C "$W" -czf "$OUT/capacity.tar.gz" .
