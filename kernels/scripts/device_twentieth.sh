#!/usr/bin/env bash
# Issue 15, twentieth session (prepared without a GPU; run it on the next one lent): MLA decode's
# wgmma form (QUADRANT_MLA_DECODE_FORM=wgmma: tokens as the M of wgmma tiles, heads as N, both
# GEMMs reading the latent tile where it landed) against the mma.sync form (the default).
# (a) Checks first: AttentionVariants.MlaDecodeWgmmaFormMatchesTheReference and the op tests
#     (QuadrantOp.*: the plan names the op's variant), then the bench's MLA checks under both
#     forms (heads 16-128, pages of 7-64 tokens, zero lengths, 1 / 5 / the heuristic's splits).
# (b) The bench's MLA rows under both forms (--variants: each row, then " wgmma"), three passes,
#     the copy ceiling in the same call.
# (c) Fixed split counts 1-32 under both forms at five shapes (the split model is the mma
#     form's: the wgmma form's best counts say what its constants should be).
# (d) The SASS of both forms' kernels (HGMMA, LDGSTS, BAR, no LDL / STL); ncu of the wgmma
#     form at b16 kv4096 h16, b64 kv4096 h16 and b64 kv4096 h128 (the mma form's beside).
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench,
# kernels_ops_gpu_test. Results to $OUT/r, the GPU to $OUT/uuid.txt. STOP_S: no step starts that
# would end (as long as the longest so far) past it.
#   B=devbin OUT=... [STOP_S=420] bash kernels/scripts/device_twentieth.sh
set -uo pipefail
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
device_start twentieth 420
# (a) correctness before any timing.
step tests_mla 150 "$B/kernels_ops_gpu_test" --gtest_brief=1 \
  --gtest_filter='AttentionVariants.MlaDecode*:QuadrantOp.*'
show tests_mla
step checks_mla 120 "$BENCH" --checks-only --no-ceilings --only "mla_decode"
show checks_mla
cnt checks_mla
# (b) three passes over both forms' rows.
time_passes "mla_decode bf16 b"
grep -h "^time" "$R"/time_*.log | grep mla_decode | cut -c1-200
# (c) fixed split counts.
step sweep 240 "$BENCH" --variants --timing-only --no-ceilings --only "mla_decode bf16 sweep"
grep -h "^time" "$R/sweep.log" | cut -c1-160
# (d) SASS and ncu.
sass_count mla_decode sass_mla &&
  grep -E " (HGMMA[A-Za-z0-9_.]*|LDGSTS|BAR|STSM|LDL|STL|TOTAL)$" "$R/sass_mla.txt"
if command -v ncu > /dev/null; then
  for row in "b16 kv4096 h16" "b64 kv4096 h16" "b64 kv4096 h128"; do
    for form in "" " wgmma"; do
      name="ncu_${row// /_}${form:+_wgmma}"
      step "$name" 120 ncu --clock-control none --kernel-name regex:mla_decode --launch-count 2 \
        --section SpeedOfLight --section WarpStateStats --section Occupancy \
        --metrics "dram__bytes_read.sum,regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$" \
        "$BENCH" --profile --variants --only "mla_decode bf16 $row$form"
      grep -E "Duration|DRAM Throughput|Achieved Occupancy|mla_decode_[a-z]+_kernel" "$R/$name.log" |
        head -8
    done
  done
fi
