#!/usr/bin/env bash
# The kernels' pending GPU work of issue 15 in one device call, in order of what it can change:
# the wgmma decode GEMMs of the seventeenth session (W4A8 form 11, FP8 on wgmma), then the W4A8
# prefill producer of the sixteenth, each script under what is left of BUDGET_S (the call's limit
# less the set-up and the copy back). Both write their tarball under $OUT and the GPU to
# $OUT/uuid.txt. Binaries (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench, kernels_api_gpu_test.
#   B=devbin OUT=... [BUDGET_S=540] bash kernels/scripts/device_pending.sh
set -uo pipefail
here=$(dirname "$0")
start=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
STOP_S=$((BUDGET_S * 3 / 5)) bash "$here/device_seventeenth.sh"
left=$((BUDGET_S - ($(date +%s) - start)))
if [ "$left" -gt 60 ]; then
  STOP_S=$left bash "$here/device_sixteenth.sh"
else
  echo "device_sixteenth.sh: skipped (${left} s left)"
fi
echo "pending: $(($(date +%s) - start)) s"
