#!/usr/bin/env bash
# Thirteenth session, decode attention form 7631 as the default (run once, 2026-12-04 19:37 UTC;
# the switch was not landed: results/recollect13-H200-2026-12-04/drift-7631.md): decode_attention collected again
# in every H200 set (device_recollect.sh, collect only: unpack $OUT/prof/profiles.tgz over
# calibration/profiles/ and refit where you are), then the kernels' GPU check on the defaults
# (device_steps.sh default_checks). Binaries built beforehand from the same tree in $B:
# quadrant-profile, quadrant-kernels-bench, kernels_api_gpu_test, kernels_ops_gpu_test.
#   B=bin OUT=... KERNELS_REVISION=REV [STOP_S=330] bash calibration/scripts/device_thirteenth_d.sh
# Writes $OUT/prof/{profiles,logs}.tgz, $OUT/prof/smi.csv.gz, recollect-times.txt, and
# $OUT/checks.tgz.
set -uo pipefail
B=${B:?set B}
OUT=${OUT:?set OUT}
t0=$(date +%s)
mkdir -p "$OUT/prof"
nvidia-smi --query-gpu=name,uuid,driver_version --format=csv | tee "$OUT/prof/recollect-times.txt"
OUT=$OUT/prof ONLY=decode_attention PROFILE_BIN=$B/quadrant-profile DEADLINE_S=120 \
  bash calibration/scripts/device_recollect.sh
R=$OUT/r
mkdir -p "$R"
STOP_S=${STOP_S:-330}
# shellcheck source=kernels/scripts/device_steps.sh
. kernels/scripts/device_steps.sh
default_checks
grep -hE '^\[  (PASSED|FAILED) |tests from .* ran|small-shape checks|correctness failures' \
  "$R"/tests_*.log "$R"/checks_*.log
(cd "$OUT" && tar czf checks.tgz r && rm -rf r)
echo "done $(($(date +%s) - t0)) s"
