#!/usr/bin/env bash
# Issue 15, fourteenth session (kernels engineer, one device call): decode attention form bits
# 8192 (with fixed chunks the page entries, Q and the scales loaded together with the length:
# 15823 = 7631 + 8192, 7631's bits) and 16384 (one output factor per head instead of a division
# per output: 32207 = 15823 + 16384, other rounding) against 7631 and 3535. (a) GPU checks, run
# side by side before any timing (correctness only): the API tests
# DecodeAttentionForms.EarlyPrologue* and .AccumulatorChunksPermutedGive3535sBits (the merge's
# shared store code), DecodeAttentionApi.* under 15823 and 32207, the bench's decode attention
# checks under 7631, 15823 and 32207; (b) the standard decode attention rows under 3535, 7631
# (this branch), 7631 of the thirteenth session's binary ($B/old: the same form before this
# session's shared store code), 15823 and 32207, passes 1-4 (every second pass in reverse order),
# the copy ceiling in the same call; (c) split counts 1-8 forced under 15823 (two passes); (d)
# ncu of the E4M3 b16 kv4096 split kernel under 7631, 15823 and 32207 (summary sections), the
# source page of 15823 and 32207.
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test, old/quadrant-kernels-bench. Results to $OUT/fourteenth.tgz. STOP_S: no
# step starts that would end (as long as the longest so far) past it.
#   B=devbin OUT=... [STOP_S=200] [PART=2] bash kernels/scripts/device_fourteenth.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-fourteenth}/r
mkdir -p "$R"
t0=$(date +%s)
STOP_S=${STOP_S:-200}
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm,memory.total --format=csv \
  > "$R/gpu.txt" 2>&1
cat "$R/gpu.txt"
BENCH=$B/quadrant-kernels-bench
ROW="decode_attention fp8 b16 kv4096 32/4 d128"
# (a) side by side: each in the background with its own limit, all waited for.
bg() { # bg NAME LIMIT_S CMD...
  local name=$1 lim=$2
  shift 2
  (timeout "$lim" "$@" > "$R/$name.log" 2>&1; echo "rc=$?" >> "$R/$name.log") &
}
# ncu_sum NAME FORM ONLY: ncu's summary sections and stall ratios of the split kernel and the
# combine of the bench row ONLY under form FORM.
ncu_sum() {
  local stalls="regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$"
  step "$1" 40 env QUADRANT_DECODE_ATTN_FORM=$2 ncu --clock-control none \
    --kernel-name regex:decode_attention --launch-count 2 --section SpeedOfLight \
    --section WarpStateStats --section LaunchStats \
    --metrics "$stalls,smsp__inst_executed.sum,dram__bytes_read.sum" "$BENCH" --profile --only "$3"
}
summarise() { # summarise TGZ: the timed rows (run, format, shape, ms, TB/s, % of copy), the tar
  grep -H "^time" "$R"/attn_*.log "$R"/sweep_*.log 2> /dev/null |
    awk -F'|' '{ sub(/.*\//, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' \
      > "$R/summary.txt"
  grep -E '^attn_' "$R/summary.txt" | grep -E 'b16' | sort -t'|' -k2,3 -k1,1 | awk -F'|' '{ print $1, $2, $3, $4 }'
  echo "total $(el) s"
  cd "$R/.." && tar czf "$1" r && rm -rf r
}
# PART=2 (the second call): the API tests under the new forms with the parametrised tests' names
# (the first call's filter 'DecodeAttentionApi.*' matched none), 24015 (7631 + 16384: the output
# factor without the early loads) checked and timed against 7631, 15823 and 32207, the split
# counts through the bench's "splits=" variant rows (the first call's QUADRANT_DECODE_ATTN_SPLITS
# left the standard rows' launches as they were), ncu of the BF16 b16 mixed row.
if [ "${PART:-1}" = 2 ]; then
  bg tests_forms 150 "$B/kernels_api_gpu_test" --gtest_brief=1 \
    --gtest_filter='DecodeAttentionForms.EarlyPrologue*'
  for form in 15823 24015 32207; do
    bg "tests_api_$form" 150 env QUADRANT_DECODE_ATTN_FORM=$form "$B/kernels_api_gpu_test" \
      --gtest_brief=1 --gtest_filter='*DecodeAttentionApi.*'
  done
  bg checks_attn_24015 150 env QUADRANT_DECODE_ATTN_FORM=24015 "$BENCH" --only decode_attention \
    --checks-only
  wait
  echo "checks done ($(el) s)"
  for f in "$R"/tests_*.log "$R"/checks_*.log; do
    echo "${f##*/}: $(tail -1 "$f")"
    grep -hE '^\[  (PASSED|FAILED) |tests? from .* ran|Failure|Expected|values differ|small-shape|correctness' "$f" | head -12
  done
  attn_passes 7631 15823 24015 32207
  ceiling_end
  if [ "${NCU:-yes}" = yes ] && command -v ncu > /dev/null; then
    for form in 7631 15823 24015; do
      ncu_sum "ncu_bf16mix_f$form" $form "decode_attention bf16 b16 kv128..8192 32/4"
    done
  fi
  for form in 24015 7631; do
    step "sweep_f$form" 45 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --timing-only --variants \
      --no-ceilings --only "b16 kv4096 32/4 d128 splits=,b16 kv2048 32/8 d128 splits=,b16 kv128..8192 32/4 splits="
  done
  summarise fourteenth_b.tgz
  exit 0
fi
bg tests_forms 150 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='DecodeAttentionForms.EarlyPrologue*:DecodeAttentionForms.AccumulatorChunks*'
for form in 15823 32207; do
  bg "tests_api_$form" 150 env QUADRANT_DECODE_ATTN_FORM=$form "$B/kernels_api_gpu_test" \
    --gtest_brief=1 --gtest_filter='DecodeAttentionApi.*'
done
for form in 7631 15823 32207; do
  bg "checks_attn_$form" 150 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --only decode_attention \
    --checks-only
done
wait
echo "checks done ($(el) s)"
for f in "$R"/tests_*.log; do
  echo "${f##*/}: $(tail -1 "$f")"
  grep -hE '^\[  (PASSED|FAILED) |tests? from .* ran|Failure|Expected|values differ' "$f" | head -20
done
for form in 7631 15823 32207; do
  echo "checks_attn_$form: $(tail -1 "$R/checks_attn_$form.log")"
  grep -h "small-shape checks\|correctness failures" "$R/checks_attn_$form.log"
done
# (b) the standard rows, passes 1-4 (2 and 4 in reverse order); "o7631": the old binary.
attn_run() { # attn_run FORM PASS CEIL (device_steps.sh's, with o7631 on the old binary)
  local form=$1 bin=$BENCH f=$1
  if [ "$form" = o7631 ]; then
    bin=$B/old/quadrant-kernels-bench
    f=7631
  fi
  # shellcheck disable=SC2086 # CEIL is empty or one option
  step "attn_f${form}_$2" 30 env QUADRANT_DECODE_ATTN_FORM=$f "$bin" --timing-only $3 \
    --only decode_attention
}
attn_passes 3535 o7631 7631 15823 32207
# (c) forced split counts under 15823.
for pass in 1 2; do
  for n in 1 2 3 4 6 8; do
    step "split_n${n}_$pass" 30 env QUADRANT_DECODE_ATTN_FORM=15823 QUADRANT_DECODE_ATTN_SPLITS=$n \
      "$BENCH" --timing-only --no-ceilings --only decode_attention
  done
done
ceiling_end
# (d) ncu of the E4M3 b16 kv4096 split kernel (and the combine).
if command -v ncu > /dev/null; then
  for form in 7631 15823 32207; do
    ncu_sum "ncu_fp8_f$form" $form "$ROW"
  done
  for form in 15823 32207; do
    step "ncusrc_fp8_f$form" 60 env QUADRANT_DECODE_ATTN_FORM=$form ncu --clock-control none \
      --kernel-name regex:decode_attention_mma --launch-count 1 --section WarpStateStats \
      --section SourceCounters -o "$R/src_f$form" "$BENCH" --profile --only "$ROW"
    if [ -f "$R/src_f$form.ncu-rep" ]; then
      step "ncusrc_csv_f$form" 40 ncu -i "$R/src_f$form.ncu-rep" --page source --print-source sass --csv
      gzip -9 "$R/ncusrc_csv_f$form.log" && rm -f "$R/src_f$form.ncu-rep"
    fi
  done
fi
# One line per timed row: run (file), format, shape, ms, TB/s, % of copy.
grep -H "^time" "$R"/attn_*.log "$R"/split_*.log |
  awk -F'|' '{ sub(/.*\//, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' \
    > "$R/summary.txt"
grep -c . "$R/summary.txt"
# The decision's table: each form's b16 rows, pass by pass.
grep -E '^attn_' "$R/summary.txt" | grep -E 'b16' | sort -t'|' -k2,3 -k1,1 | awk -F'|' '{ print $1, $2, $3, $4 }'
echo "total $(el) s"
cd "$R/.." && tar czf fourteenth.tgz r && rm -rf r
