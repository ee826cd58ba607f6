#!/usr/bin/env bash
# The whole device job of calibration in one call: build the collector (and kernels/)
# standalone, profile the grid with CUPTI, measure the links when two GPUs are present,
# and check the fresh profiles against the committed baseline of the same GPU.
#   OUT=/tmp/out KERNELS_REVISION=REV calibration/scripts/device_profile.sh [--only OP]
# REV: compute it where git is (the device copy may have no .git), and mark a dirty tree:
#   $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- kernels || echo -dirty)
# Writes $OUT/<gpu>/<op>.json, $OUT/profile.log, $OUT/check.txt, $OUT/links.json (2 GPUs).
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
if ! { cmake -S calibration/collector -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${generator[@]}" &&
       cmake --build "$BUILD" -j "$(nproc)"; } > "$OUT/build.log" 2>&1; then
  tail -60 "$OUT/build.log"
  exit 1
fi
# A guard under the device tool's 10-minute limit, so that a hang still returns the logs.
timeout "${PROFILE_TIMEOUT:-420}" "$BUILD"/quadrant-profile --grid "$GRID" --out "$OUT" \
  --kernels-revision "${KERNELS_REVISION:-unknown}" "$@" 2>&1 | tee "$OUT/profile.log" | tail -40
gpus=$(nvidia-smi -L | wc -l)
if [ "$gpus" -ge 2 ]; then
  "$BUILD"/quadrant-links --out "$OUT/links.json" | tee "$OUT/links.log"
fi
for dir in "$OUT"/*/; do
  gpu=$(basename "$dir")
  if [ -d "calibration/profiles/$gpu" ]; then
    echo "== regression check against calibration/profiles/$gpu"
    "$BUILD"/quadrant-check --baseline "calibration/profiles/$gpu" --candidate "$dir" \
      | tee "$OUT/check.txt" || echo "regression check FAILED (exit $?)"
  else
    echo "no committed baseline for $gpu: nothing to check against"
  fi
done
