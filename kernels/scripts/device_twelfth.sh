#!/usr/bin/env bash
# Issue 15, twelfth session, first device call: decode attention at batch 16, new forms against
# the default 207. (a) GPU checks of forms 463 (207 + 256: the copy path chosen once per CTA,
# straight-line addresses on pages of a power of two >= 16 tokens) and 991 (463 + 16 + 512: E4M3
# 3 stages at 4 CTAs per SM, BF16 2 stages at 3 CTAs per SM): the API test DecodeAttentionForms.*
# and the bench's decode attention checks under each; (b) the standard decode attention rows
# (head dim 128, batch 64 and 16, BF16 and E4M3) under forms 207, 463 and 991, two passes
# alternated (the second in reverse order), the copy ceiling in the same call; (c) the SASS of
# the head-dim-128 kernels at 8 heads per CTA (instruction mix; main loops) and ncu of the b16
# E4M3 split kernel under 207 / 463 / 991 as time allows.
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test, kernels_ops_gpu_test. Results to $OUT/twelfth.tgz. STOP_S: no step
# starts that would end (as long as the longest so far) past it. FINAL=1 (the second call, after
# the re-collection): the kernels' GPU check on the defaults only. SWEEP=1 (the second call when
# no default changed): passes 3 and 4 of (b), the split counts 1..24 and the balanced chunks of
# the batch-16 rows under 207 and 463, and ncu's per-instruction stall samples (source page,
# SASS) of the E4M3 b16 kv4096 split kernel under 463 and 207.
#   B=devbin OUT=... [FINAL=1 | SWEEP=1] [STOP_S=300] bash kernels/scripts/device_twelfth.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-twelfth}/r
mkdir -p "$R"
t0=$(date +%s)
STOP_S=${STOP_S:-300}
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
BENCH=$B/quadrant-kernels-bench
summary() {
  grep -hE '^\[  (PASSED|FAILED) |tests from .* ran|small-shape checks|correctness failures|vs 207|Failure|Expected' \
    "$R"/tests_*.log "$R"/checks_*.log 2> /dev/null
}
if [ -n "${FINAL:-}" ]; then
  default_checks
  summary
  STOP_S=100000 step time_ceiling_end 60 "$BENCH" --timing-only --only nothing
  grep -h "^ceiling: device" "$R"/*.log
  cd "$R/.." && tar czf twelfth_final.tgz r && rm -rf r
  exit 0
fi
if [ -n "${SWEEP:-}" ]; then
  ceil=""
  for pass in 3 4; do
    forms="207 463 991"
    [ $pass = 4 ] && forms="991 463 207"
    for form in $forms; do
      step "attn_f${form}_$pass" 60 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --timing-only $ceil \
        --only decode_attention
      ceil=--no-ceilings
    done
  done
  for form in 207 463; do
    step "sweep_f$form" 90 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --timing-only --variants \
      --no-ceilings --only "b16 kv4096 32/4 d128 splits=,b16 kv2048 32/8 d128 splits=,b16 kv128..8192 32/4 splits=,kv128..8192 balanced,b16 kv4096 32/4 d128 balanced,b16 kv2048 32/8 d128 balanced"
  done
  if command -v ncu > /dev/null; then
    for form in 463 207; do
      step "ncusrc_fp8_f$form" 90 env QUADRANT_DECODE_ATTN_FORM=$form ncu --clock-control none \
        --kernel-name regex:decode_attention_mma --launch-count 1 --section WarpStateStats \
        --section SourceCounters -o "$R/src_f$form" "$BENCH" --profile \
        --only "decode_attention fp8 b16 kv4096 32/4 d128"
      step "ncusrc_csv_f$form" 60 ncu -i "$R/src_f$form.ncu-rep" --page source --print-source sass --csv
      gzip -9 "$R/ncusrc_csv_f$form.log" && rm -f "$R/src_f$form.ncu-rep"
    done
  fi
  STOP_S=100000 step time_ceiling_end 60 "$BENCH" --timing-only --only nothing
  grep -h "^ceiling: device" "$R"/*.log
  grep -H "^time" "$R"/attn_*.log "$R"/sweep_*.log |
    awk -F'|' '{ sub(/.*\//, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' \
      > "$R/summary.txt"
  grep -c . "$R/summary.txt"
  cd "$R/.." && tar czf twelfth_sweep.tgz r && rm -rf r
  exit 0
fi
# (a) correctness of the new forms.
step tests_forms 130 "$B/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='DecodeAttentionForms.*'
for form in 463 991; do
  step "checks_attn_$form" 60 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --only decode_attention \
    --checks-only
  cnt "checks_attn_$form"
done
summary
# (b) the standard decode attention rows, two passes, the second in reverse order.
ceil=""
for pass in 1 2; do
  forms="207 463 991"
  [ $pass = 2 ] && forms="991 463 207"
  for form in $forms; do
    step "attn_f${form}_$pass" 60 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --timing-only $ceil \
      --only decode_attention
    ceil=--no-ceilings
  done
done
# (c) SASS: instruction mix of the head-dim-128 kernels at 8 heads per CTA (bits 142 = 207's,
# 398 = 463's, 414 = 991's E4M3, 910 = 991's BF16).
cuobjdump -sass "$BENCH" 2> /dev/null | awk '
  /Function :/ { f = $3; keep = (f ~ /decode_attention_mma_kernel.*Li8ELi(142|398|414|910)E/) }
  keep && /^ +\/\*[0-9a-f]+\*\// { split($0, a, /\*\/ +/); split(a[2], w, /[ ;]/);
    op = w[1]; if (op ~ /^@/) op = w[2]; sub(/\..*/, "", op); n[f " " op]++; tot[f]++ }
  keep { print > "'"$R"'/sass_mma.txt" }
  END { for (k in n) print n[k], k; for (f in tot) print tot[f], f, "TOTAL" }' |
  sort -k2,2 -k1,1nr > "$R/sass_mix.txt"
grep TOTAL "$R/sass_mix.txt"
gzip -9 "$R/sass_mma.txt" 2> /dev/null
# ncu of the b16 split kernel and the combine (E4M3 kv4096 32/4; then BF16).
if command -v ncu > /dev/null; then
  for row in "fp8 b16 kv4096 32/4 d128:207 463 991" "bf16 b16 kv4096 32/4 d128:463 991"; do
    for form in ${row#*:}; do
      fmt=${row%% *}
      step "ncu_${fmt}_f$form" 60 env QUADRANT_DECODE_ATTN_FORM=$form ncu --clock-control none \
        --kernel-name regex:decode_attention --launch-count 2 --section SpeedOfLight \
        --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
        --section Occupancy --section LaunchStats \
        --metrics "regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$" \
        "$BENCH" --profile --only "decode_attention ${row%%:*}"
    done
  done
fi
STOP_S=100000 step time_ceiling_end 60 "$BENCH" --timing-only --only nothing
grep -h "^ceiling: device" "$R"/*.log
# One line per timed row: run (file), format, shape, ms, TB/s, % of copy.
grep -H "^time" "$R"/attn_*.log |
  awk -F'|' '{ sub(/.*\//, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' \
    > "$R/summary.txt"
cat "$R/summary.txt"
cd "$R/.." && tar czf twelfth.tgz r && rm -rf r
