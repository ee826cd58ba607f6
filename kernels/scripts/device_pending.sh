#!/usr/bin/env bash
# The kernels' pending GPU work of issue 15 in one device call, in order of what it can change:
# W4A8 decode forms 12-14 of the nineteenth session (device_nineteenth.sh: their checks, timings
# beside forms 10 and 11 and FP8, SASS and ncu). (The sixteenth and seventeenth sessions'
# scripts, which this one ran before, were run in the seventeenth session.) It writes its tarball
# under $OUT and the GPU to $OUT/uuid.txt. Binaries (nvcc 13.0, sm_90a) in $B:
# quadrant-kernels-bench, kernels_api_gpu_test.
#   B=devbin OUT=... [BUDGET_S=540] bash kernels/scripts/device_pending.sh
set -uo pipefail
here=$(dirname "$0")
start=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
STOP_S=$((BUDGET_S - 60)) bash "$here/device_nineteenth.sh"
echo "pending: $(($(date +%s) - start)) s"
