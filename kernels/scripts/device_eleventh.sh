#!/usr/bin/env bash
# Issue 15, eleventh session, first device call: (a) the GPU checks of the W4A8 decode form 10
# as the kernels' default (kernels_api_gpu_test and kernels_ops_gpu_test in full, the decode_ffn
# and attention checks of the bench), and of decode attention forms 64 (the combine's loads at
# once) and 128 (the lazy rescale) (the API test DecodeAttentionForms.*, the bench's decode
# attention checks under form 207 = 15 + 64 + 128); (b) the standard decode attention rows
# (head dim 128, batch 64 and 16) under forms 15 (the default; main's binary and this one), 79
# (+ 64), 143 (+ 128) and 207 (both), two passes alternated; the W4A8 decode rows at the new
# default (form 10) beside form 8 and FP8; (c) what limits batch 16 (ncu: stall reasons,
# occupancy, DRAM, of the split kernel and the combine at E4M3 b16 kv4096 32/4, forms 15 and
# 207) and the SASS of the head-dim-128 kernels (instruction mix per kernel).
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench (-main:
# built from main), kernels_api_gpu_test, kernels_ops_gpu_test. Results to $OUT/eleventh.tgz.
# STOP_S: no step starts that would end (as long as the longest so far) past it. FINAL=1 (the
# second call, after the re-collection): the checks of (a) on the defaults only, the session's
# final GPU check of the kernels.
#   B=devbin OUT=... [FINAL=1] [STOP_S=360] bash kernels/scripts/device_eleventh.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-eleventh}/r
mkdir -p "$R"
t0=$(date +%s)
STOP_S=${STOP_S:-360}
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
BENCH=$B/quadrant-kernels-bench
# (a) checks on the defaults (W4A8 form 10), then decode attention form 207.
default_checks
if [ -n "${FINAL:-}" ]; then
  grep -hE '^\[  (PASSED|FAILED) |tests from .* ran|small-shape checks|correctness failures|vs 15' \
    "$R"/tests_*.log "$R"/checks_*.log
  cd "$R/.." && tar czf eleventh_final.tgz r && rm -rf r
  exit 0
fi
step checks_attn_207 60 env QUADRANT_DECODE_ATTN_FORM=207 "$BENCH" --only decode_attention --checks-only
cnt checks_attn_207
step tests_decode_207 60 env QUADRANT_DECODE_ATTN_FORM=207 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='*Decode*'
grep -hE '^\[  (PASSED|FAILED) |tests from .* ran|small-shape checks|correctness failures|vs 15' \
  "$R"/tests_*.log "$R"/checks_*.log
# (b) timings. The standard decode attention rows (no --variants: the 10 of both formats).
w4rows() { # the W4A8 rows (32 experts top-8, 7168/2048) of form $1 ("": the default)
  local t out=""
  for t in 1 8 16 64; do out+="decode_ffn ${2:-w4a8} $t tok 32e top8 7168/2048${1:+ form $1},"; done
  echo "${out%,}"
}
ceil=""
for pass in 1 2; do
  step "attn_main_$pass" 90 "$B/quadrant-kernels-bench-main" --timing-only $ceil --only decode_attention
  ceil=--no-ceilings
  for form in 15 79 143 207; do
    step "attn_f${form}_$pass" 90 env QUADRANT_DECODE_ATTN_FORM=$form "$BENCH" --timing-only $ceil \
      --only decode_attention
  done
  step "w4_default_$pass" 60 "$BENCH" --timing-only $ceil --only "$(w4rows)"
  step "w4_form8_$pass" 60 "$BENCH" --timing-only --variants $ceil --only "$(w4rows 8)"
  step "w4_fp8_$pass" 60 "$BENCH" --timing-only $ceil --only "$(w4rows "" fp8)"
done
# (c) what limits batch 16: ncu of the split kernel and the combine, E4M3 b16 kv4096 32/4.
if command -v ncu > /dev/null; then
  for form in 15 207; do
    step "ncu_f$form" 90 env QUADRANT_DECODE_ATTN_FORM=$form ncu --clock-control none \
      --kernel-name regex:decode_attention --launch-count 2 --section SpeedOfLight \
      --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
      --section Occupancy --section LaunchStats \
      --metrics "regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$" \
      "$BENCH" --profile --only "decode_attention fp8 b16 kv4096 32/4 d128"
  done
fi
# The SASS of the head-dim-128 kernels at 8 heads per CTA and of the combines: instruction mix.
cuobjdump -sass "$BENCH" 2> /dev/null | awk '
  /Function :/ { f = $3; keep = (f ~ /decode_attention_mma_kernel.*Li8ELi(14|142)E/ ||
                                 f ~ /decode_attention_combine(_at_once)?_kernelILi128/) }
  keep && /^ +\/\*[0-9a-f]+\*\// { split($0, a, /\*\/ +/); split(a[2], w, /[ ;]/);
    op = w[1]; if (op ~ /^@/) op = w[2]; sub(/\..*/, "", op); n[f " " op]++; tot[f]++ }
  keep { print > "'"$R"'/sass_" (f ~ /combine/ ? "combine" : "mma") ".txt" }
  END { for (k in n) print n[k], k; for (f in tot) print tot[f], f, "TOTAL" }' |
  sort -k2,2 -k1,1nr > "$R/sass_mix.txt"
grep TOTAL "$R/sass_mix.txt"
STOP_S=100000 step time_ceiling_end 60 "$BENCH" --timing-only --only nothing
grep -h "^ceiling: device" "$R"/*.log
# One line per timed row: run (file), format, shape, ms, TB/s, % of copy.
grep -H "^time" "$R"/attn_*.log "$R"/w4_*.log |
  awk -F'|' '{ sub(/.*\//, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' \
    > "$R/summary.txt"
cat "$R/summary.txt"
cd "$R/.." && tar czf eleventh.tgz r && rm -rf r
