#!/usr/bin/env bash
# Issue 15, thirteenth session (kernels engineer, one device call): decode attention form 7631
# (3535 + 4096: the warps' accumulators written to the merge scratch as 16-byte vectors, their
# chunks permuted per head, instead of one float at a time with 16 lanes (E4M3) or 8 (BF16) on
# one bank) against 3535 (the default). (a) GPU checks: the API test
# DecodeAttentionForms.AccumulatorChunksPermutedGive3535sBits and the bench's decode attention
# checks under 7631; (b) the standard decode attention rows under 3535 and 7631, passes 1-2
# alternated (the second in reverse order; the decision's passes), then 3-4 likewise, the copy
# ceiling in the same call; (c) the SASS instruction mix of the head-dim-128 kernels at 8 heads
# per CTA, bits 3470 (3535) and 7566 (7631); (d) ncu of the E4M3 b16 kv4096 split kernel under
# 3535: SpeedOfLight, WarpStateStats, LaunchStats and the stall ratios, then its per-instruction
# source page (SASS, CSV gzipped); then the same for 7631 as time allows.
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test. Results to $OUT/thirteenth.tgz. STOP_S: no step starts that would end
# (as long as the longest so far) past it.
#   B=devbin OUT=... [STOP_S=240] bash kernels/scripts/device_thirteenth.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-thirteenth}/r
mkdir -p "$R"
t0=$(date +%s)
STOP_S=${STOP_S:-240}
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
BENCH=$B/quadrant-kernels-bench
ROW="decode_attention fp8 b16 kv4096 32/4 d128"
# (a) the new form gives 3535's bits; the bench's checks under it.
step tests_forms 60 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='DecodeAttentionForms.AccumulatorChunksPermutedGive3535sBits'
grep -hE '^\[  (PASSED|FAILED) |tests? from .* ran|Failure|Expected' "$R/tests_forms.log"
step checks_attn_7631 50 env QUADRANT_DECODE_ATTN_FORM=7631 "$BENCH" --only decode_attention \
  --checks-only
cnt checks_attn_7631
grep -h "small-shape checks\|correctness failures" "$R/checks_attn_7631.log"
# (b) the standard rows, passes 1 / 2 (the second in reverse order), then 3 / 4.
attn_passes 3535 7631
ceiling_end
# (c) SASS instruction mix (8 heads per CTA, bits 3470 and 7566).
if command -v cuobjdump > /dev/null; then
  cuobjdump -sass "$BENCH" 2> /dev/null | awk '
    /Function :/ { f = $3; keep = (f ~ /decode_attention_mma_kernel.*Li8ELi(3470|7566)E/) }
    keep && /^ +\/\*[0-9a-f]+\*\// { split($0, a, /\*\/ +/); split(a[2], w, /[ ;]/);
      op = w[1]; if (op ~ /^@/) op = w[2]; n[f " " op]++; tot[f]++ }
    END { for (k in n) print n[k], k; for (f in tot) print tot[f], f, "TOTAL" }' |
    sort -k2,2 -k1,1nr > "$R/sass_mix.txt"
  grep -E "TOTAL|STS|LDS" "$R/sass_mix.txt"
fi
# (d) ncu of the E4M3 b16 kv4096 split kernel (and the combine): 3535, then 7631.
if command -v ncu > /dev/null; then
  stalls="regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$"
  extra="smsp__inst_executed.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum"
  extra="$extra,l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum"
  extra="$extra,smsp__sass_inst_executed_op_shared_st.sum,smsp__sass_inst_executed_op_shared_ld.sum"
  for form in 3535 7631; do
    step "ncu_fp8_f$form" 40 env QUADRANT_DECODE_ATTN_FORM=$form ncu --clock-control none \
      --kernel-name regex:decode_attention --launch-count 2 --section SpeedOfLight \
      --section WarpStateStats --section LaunchStats --section Occupancy --metrics "$stalls,$extra" \
      "$BENCH" --profile --only "$ROW"
    # A metric this ncu does not know fails the step: again with the stall ratios only.
    if grep -q "==ERROR==" "$R/ncu_fp8_f$form.log" 2> /dev/null; then
      mv "$R/ncu_fp8_f$form.log" "$R/ncu_fp8_f${form}_err.log"
      step "ncu_fp8_f$form" 40 env QUADRANT_DECODE_ATTN_FORM=$form ncu --clock-control none \
        --kernel-name regex:decode_attention --launch-count 2 --section SpeedOfLight \
        --section WarpStateStats --section LaunchStats --section Occupancy --metrics "$stalls" \
        "$BENCH" --profile --only "$ROW"
    fi
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
grep -H "^time" "$R"/attn_*.log |
  awk -F'|' '{ sub(/.*\//, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' \
    > "$R/summary.txt"
grep -c . "$R/summary.txt"
echo "total $(el) s"
cd "$R/.." && tar czf thirteenth.tgz r && rm -rf r
