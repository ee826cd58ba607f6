#!/usr/bin/env bash
# Issue 15, twelfth session, second engineer (one device call): decode attention forms 1487
# (463 + 1024: the page entries of 32 steps loaded at once, one a lane, a step's taken by
# __shfl_sync), 2511 (463 + 2048: the warps' merge weights once per (head, warp)) and 3535
# (both) against 207 (the default) and 463. (a) GPU checks: the API test
# DecodeAttentionForms.PageEntriesByShuffleAndMergeOnceGive207sBits, then (b) the standard
# decode attention rows under 207, 463, 1487, 2511, 3535, two passes alternated (the second in
# reverse order), the copy ceiling in the same call, then (c) the bench's decode attention
# checks under 3535, 1487, 2511 and (d) ncu of the E4M3 b16 kv4096 split kernel under 463 and
# 3535, as time allows.
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test. Results to $OUT/twelfth_b.tgz. STOP_S: no step starts that would end
# (as long as the longest so far) past it.
#   B=devbin OUT=... [STOP_S=135] bash kernels/scripts/device_twelfth_b.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-twelfth-b}/r
mkdir -p "$R"
t0=$(date +%s)
STOP_S=${STOP_S:-135}
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
BENCH=$B/quadrant-kernels-bench
FORMS="207 463 1487 2511 3535"
# (a) the new forms give 207's bits.
step tests_forms 60 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='DecodeAttentionForms.PageEntriesByShuffleAndMergeOnceGive207sBits'
grep -hE '^\[  (PASSED|FAILED) |Failure|Expected' "$R/tests_forms.log"
# (b) the standard rows, two passes, the second in reverse order.
ceil=""
for pass in 1 2; do
  forms=$FORMS
  [ $pass = 2 ] && forms=$(echo "$FORMS" | tr ' ' '\n' | tac | tr '\n' ' ')
  for form in $forms; do
    step "attn_f${form}_$pass" 40 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --timing-only $ceil \
      --only decode_attention
    ceil=--no-ceilings
  done
done
# (c) the bench's decode attention checks under the new forms.
for form in 3535 1487 2511; do
  step "checks_attn_$form" 40 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --only decode_attention \
    --checks-only
  cnt "checks_attn_$form"
done
# (d) ncu of the E4M3 b16 kv4096 split kernel (and the combine).
if command -v ncu > /dev/null; then
  for form in 3535 463; do
    step "ncu_fp8_f$form" 30 env QUADRANT_DECODE_ATTN_FORM=$form ncu --clock-control none \
      --kernel-name regex:decode_attention --launch-count 2 --section SpeedOfLight \
      --section WarpStateStats --section LaunchStats \
      --metrics "regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$" \
      "$BENCH" --profile --only "decode_attention fp8 b16 kv4096 32/4 d128"
  done
fi
STOP_S=100000 step time_ceiling_end 30 "$BENCH" --timing-only --only nothing
grep -h "^ceiling: device" "$R"/*.log
grep -h "small-shape checks\|correctness failures" "$R"/checks_*.log 2> /dev/null
# One line per timed row: run (file), format, shape, ms, TB/s, % of copy.
grep -H "^time" "$R"/attn_*.log |
  awk -F'|' '{ sub(/.*\//, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' \
    > "$R/summary.txt"
grep -c . "$R/summary.txt"
cd "$R/.." && tar czf twelfth_b.tgz r && rm -rf r
