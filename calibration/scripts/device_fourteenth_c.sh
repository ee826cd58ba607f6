#!/usr/bin/env bash
# Fourteenth session: a third Poisson rate (70% of the measured capacity) served for each engine
# configuration on f31ea6d's kernels, as a fit case, so that the engine terms' fit reaches the
# batches of the 85% case (held out). Binaries in $B: quadrant-engine.
#   B=bin OUT=... CASES=dir [CFGS="qwen3-30b-a3b-w4a8"] bash calibration/scripts/device_fourteenth_c.sh
# (run 2026-12-04 21:12 UTC with CASES=.dev/lead14c/cases, the three scenario.json now under
# calibration/engine/served-f31ea6d/<cfg>-poisson70/: W4A8, then BF16 and Mixtral on the warm GPU)
set -uo pipefail
B=${B:?set B}
OUT=${OUT:?set OUT}
CASES=${CASES:?set CASES}
. calibration/engine/gpu/scripts/device_env.sh
nvidia-smi --query-gpu=name,uuid,driver_version --format=csv > "$OUT/uuid.txt"
W=/tmp/p70
mkdir -p "$W"
for cfg in ${CFGS:-qwen3-30b-a3b-w4a8 qwen3-30b-a3b-bf16 mixtral-8x7b-fp8}; do
  echo "=== $cfg [$SECONDS s]" | tee -a "$W/job.log"
  timeout 150 "$B/quadrant-engine" serve --drain-limit 30 --case "$CASES/$cfg-poisson70" \
    --out "$W" 2>&1 | tee "$W/serve-$cfg.log"
  tar -C "$W" -czf "$OUT/p70.tgz" .
done
echo "=== done [$SECONDS s]" | tee -a "$W/job.log"
tar -C "$W" -czf "$OUT/p70.tgz" .
