#!/usr/bin/env bash
# Fourteenth session, first device call: decode attention form 7631 the kernels' default.
#   1. decode_attention collected again in every H200 set (device_recollect.sh, collect only:
#      unpack $OUT/prof/profiles.tgz over calibration/profiles/ and refit where you are);
#   2. the kernels' GPU check on the new default: kernels_api_gpu_test in full with each test's
#      time (the thirteenth session's attempt, under --gtest_brief and a 150 s limit, was cut
#      with no line of output), kernels_ops_gpu_test, the bench's decode_ffn and attention checks.
# Binaries built beforehand from the same tree in $B: quadrant-profile, quadrant-kernels-bench,
# kernels_api_gpu_test, kernels_ops_gpu_test.
#   B=bin OUT=... KERNELS_REVISION=REV [STOP_S=540] bash calibration/scripts/device_fourteenth.sh
# Writes $OUT/gpu.txt, $OUT/prof/{profiles,logs}.tgz, $OUT/prof/smi.csv.gz,
# $OUT/prof/recollect-times.txt and $OUT/checks.tgz.
set -uo pipefail
B=${B:?set B}
OUT=${OUT:?set OUT}
t0=$(date +%s)
mkdir -p "$OUT/prof"
nvidia-smi --query-gpu=name,uuid,driver_version,pci.bus_id --format=csv > "$OUT/gpu.txt"
OUT=$OUT/prof ONLY=decode_attention PROFILE_BIN=$B/quadrant-profile DEADLINE_S=120 \
  bash calibration/scripts/device_recollect.sh
R=$OUT/r
mkdir -p "$R"
STOP_S=${STOP_S:-540}
# shellcheck source=kernels/scripts/device_steps.sh
. kernels/scripts/device_steps.sh
step tests_api 300 "$B/kernels_api_gpu_test"
step tests_ops 60 "$B/kernels_ops_gpu_test" --gtest_brief=1
for op in decode_ffn attention; do
  step "checks_${op#decode_}" 90 "$B/quadrant-kernels-bench" --only "$op" --checks-only
  cnt "checks_${op#decode_}"
done
grep -hE '^\[  (PASSED|FAILED) |tests from .* ran|small-shape checks|correctness failures' \
  "$R"/tests_*.log "$R"/checks_*.log
grep -hE '^\[       OK \]' "$R/tests_api.log" | sort -t'(' -k2 -n | tail -8
(cd "$OUT" && tar czf checks.tgz r && rm -rf r)
echo "done $(($(date +%s) - t0)) s"
