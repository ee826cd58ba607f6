#!/usr/bin/env bash
# The whole device job of calibration in one call: build the collector (and kernels/)
# (top level, CUDA parts only), profile the grid with CUPTI, measure the links when two GPUs are present,
# and check the fresh profiles against the committed baseline of the same GPU.
#   OUT=/tmp/out KERNELS_REVISION=REV [RECHECK=1] calibration/scripts/device_profile.sh [--only OP]
# REV: compute it where git is (the device copy may have no .git), and mark a dirty tree:
#   $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- kernels || echo -dirty)
# RECHECK=1 collects the grid a second time (timing only) into recheck/<gpu>/ and checks it
# against the first: the committed pair CI checks is such a baseline and re-collection.
# Writes $OUT/profiles.tgz (<gpu>/<op>.json [, recheck/<gpu>/<op>.json]), $OUT/profile.log,
# $OUT/check.txt, $OUT/links.json (2 GPUs): few files, as the device tool returns at most 8.
set -euo pipefail
OUT=${OUT:-$PWD/out-calibration}
GRID=${GRID:-calibration/grids/hopper.json}
BUILD=${BUILD:-/tmp/quadrant-build-collector}
mkdir -p "$OUT"
if [ -z "${KERNELS_REVISION:-}" ] && git rev-parse HEAD > /dev/null 2>&1; then
  KERNELS_REVISION=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- kernels || echo -dirty)
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total --format=csv || true
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
if ! { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DQUADRANT_CUDA_ONLY=ON "${generator[@]}" &&
       cmake --build "$BUILD" -j "$(nproc)" --target quadrant-profile quadrant-links quadrant-check; } > "$OUT/build.log" 2>&1; then
  tail -60 "$OUT/build.log"
  exit 1
fi
# A guard under the device tool's 10-minute limit, so that a hang still returns the logs.
DATA=$(mktemp -d)
timeout "${PROFILE_TIMEOUT:-420}" "$BUILD"/calibration/collector/quadrant-profile --grid "$GRID" --out "$DATA" \
  --kernels-revision "${KERNELS_REVISION:-unknown}" "$@" 2>&1 | tee "$OUT/profile.log" | tail -40
if [ "${RECHECK:-0}" = 1 ]; then
  timeout "${PROFILE_TIMEOUT:-420}" "$BUILD"/calibration/collector/quadrant-profile --grid "$GRID" --out "$DATA/recheck" \
    --kernels-revision "${KERNELS_REVISION:-unknown}" --no-metrics "$@" > "$OUT/recheck.log" 2>&1 || true
  tail -2 "$OUT/recheck.log"
fi
gpus=$(nvidia-smi -L | wc -l)
if [ "$gpus" -ge 2 ]; then
  "$BUILD"/calibration/collector/quadrant-links --out "$OUT/links.json" | tee "$OUT/links.log"
fi
for dir in "$DATA"/*/; do
  gpu=$(basename "$dir")
  [ "$gpu" = recheck ] && continue
  if [ -d "calibration/profiles/$gpu" ]; then
    echo "== regression check against calibration/profiles/$gpu" | tee -a "$OUT/check.txt"
    "$BUILD"/calibration/collector/quadrant-check --baseline "calibration/profiles/$gpu" --candidate "$dir" \
      | tee -a "$OUT/check.txt" || echo "regression check FAILED (exit $?)"
  else
    echo "no committed baseline for $gpu: nothing to check against"
  fi
  if [ -d "$DATA/recheck/$gpu" ]; then
    echo "== re-collection against this collection ($gpu)" | tee -a "$OUT/check.txt"
    "$BUILD"/calibration/collector/quadrant-check --baseline "$dir" --candidate "$DATA/recheck/$gpu" \
      | tee -a "$OUT/check.txt" || echo "re-collection check FAILED (exit $?)"
  fi
done
tar czf "$OUT/profiles.tgz" -C "$DATA" .
