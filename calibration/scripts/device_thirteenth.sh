#!/usr/bin/env bash
# Thirteenth session, one device call: decode attention form 3535 as the kernels' default
# (issue 15) and active sampling round 8 (issue 12).
#   1. decode_attention collected again in every H200 set device_recollect.sh names (plain, the
#      grid with its counter pass), and grids/hopper-active7.json (dense GEMM, settled 100 ms
#      as the other dense sets) as H200-active7, in one device_validation.sh run (collect only:
#      unpack profiles.tgz over calibration/profiles/ and refit where you are);
#   2. the standard decode attention rows under 3535 and 207, two passes alternated, with the
#      copy ceiling of the same call;
#   3. the kernels' GPU check on the defaults (device_steps.sh default_checks).
# Binaries built beforehand from the same tree (nvcc 13.0, sm_90a) in $B: quadrant-profile,
# quadrant-kernels-bench, kernels_api_gpu_test, kernels_ops_gpu_test.
#   B=bin OUT=... KERNELS_REVISION=REV ACTIVE7=path/hopper-active7.json [DEADLINE_S=300] \
#     [STOP_S=540] bash calibration/scripts/device_thirteenth.sh
# Writes $OUT/profiles.tgz, $OUT/logs.tgz, $OUT/smi.csv.gz (device_validation.sh) and
# $OUT/kernels.tgz (timings and checks).
set -uo pipefail
B=${B:?set B}
OUT=${OUT:?set OUT}
ACTIVE7=${ACTIVE7:-calibration/grids/hopper-active7.json}
t0=$(date +%s)
g=calibration/grids
sets=""
for s in H200=hopper H200-shards=hopper-shards H200-active=hopper-active H200-active2=hopper-active2 \
  H200-active3=hopper-active3 H200-active4=hopper-active4 H200-active5=hopper-active5 \
  H200-active6=hopper-active6 \
  H200-validation=validation H200-validation2=validation2 H200-validation-recheck=validation \
  H200-validation-fresh=validation H200-recheck=hopper; do
  sets+=" ${s%%=*}=$g/${s#*=}.json@decode_attention"
done
sets+=" H200-active7=$ACTIVE7"
nvidia-smi --query-gpu=name,uuid,serial,driver_version,clocks.max.sm --format=csv
OUT=$OUT METRICS="H200" DEADLINE_S=${DEADLINE_S:-300} PROFILE_TIMEOUT=200 \
  SETTLE_ONLY=dense_gemm:100 PROFILE_BIN=$B/quadrant-profile \
  SETS="$sets" bash calibration/scripts/device_validation.sh
echo "collected $(($(date +%s) - t0)) s"
R=$OUT/r
mkdir -p "$R"
STOP_S=${STOP_S:-540}
# shellcheck source=kernels/scripts/device_steps.sh
. kernels/scripts/device_steps.sh
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
ceil=""
for pass in 1 2; do
  forms="3535 207"
  [ $pass = 2 ] && forms="207 3535"
  for form in $forms; do
    step "attn_f${form}_$pass" 40 env QUADRANT_DECODE_ATTN_FORM=$form "$B/quadrant-kernels-bench" \
      --timing-only $ceil --only decode_attention
    ceil=--no-ceilings
  done
done
default_checks
STOP_S=100000 step time_ceiling_end 30 "$B/quadrant-kernels-bench" --timing-only --only nothing
grep -h "^ceiling: device" "$R"/*.log
grep -hE '^\[  (PASSED|FAILED) |tests from .* ran|small-shape checks|correctness failures' \
  "$R"/tests_*.log "$R"/checks_*.log
grep -H "^time" "$R"/attn_*.log |
  awk -F'|' '{ sub(/.*\//, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' \
    > "$R/summary.txt"
cat "$R/summary.txt"
(cd "$OUT" && tar czf kernels.tgz r && rm -rf r)
echo "done $(($(date +%s) - t0)) s"
