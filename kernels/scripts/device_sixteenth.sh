#!/usr/bin/env bash
# Issue 15, sixteenth session (prepared without a GPU; run it on the next one lent): W4A8
# prefill with the INT4 dequantised in the wgmma GEMM's producer warpgroup
# (QUADRANT_W4A8_PREFILL_DEQUANT=producer) against the default, an E4M3 copy of every expert
# written before the GEMMs. (a) checks first: MoeFfnW4Prefill.* (the producer's output bits equal
# the copy's), every W4A8 MoeFfnApi case under both settings, the bench's prefill_ffn checks (with
# the producer's row); (b) the prefill_ffn rows (16 experts 7168/2048, and Qwen3-30B-A3B's 128
# experts top-8 2048/768: FP8, W4A8, W4A8 producer), three passes, the copy ceiling in the same
# call; the producer GEMM's SASS summary; (c) ncu: DRAM bytes read and written by every kernel of
# both W4A8 paths at 16 experts x 4096 tokens (the issue's "moves 5.3x its own bytes") and at
# Qwen3's 128 experts x 1024 tokens, then the producer GEMM's speed of light and warp stalls.
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test. Results to $OUT/sixteenth.tgz, the GPU to $OUT/uuid.txt. STOP_S: no step
# starts that would end (as long as the longest so far) past it.
#   B=devbin OUT=... [STOP_S=300] bash kernels/scripts/device_sixteenth.sh
set -uo pipefail
B=${B:-devbin}
O=${OUT:-$PWD/out-sixteenth}
R=$O/r
mkdir -p "$R"
t0=$(date +%s)
STOP_S=${STOP_S:-300}
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
record_gpu
BENCH=$B/quadrant-kernels-bench
SHOW_EXTRA='values differ|small-shape'
# (a) correctness before any timing.
step tests_w4prefill 150 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='MoeFfnW4Prefill.*:MoeFfnFill.*'
show tests_w4prefill
for mode in scratch producer; do
  step "tests_api_w4a8_$mode" 150 env QUADRANT_W4A8_PREFILL_DEQUANT=$mode \
    "$B/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='*MoeFfnApi*w4a8*'
  show "tests_api_w4a8_$mode"
done
step checks_prefill_ffn 120 "$BENCH" --only prefill_ffn --checks-only
show checks_prefill_ffn
# (b) the prefill FFN rows, three passes (the second in reverse: the rows run in list order, so
# it only reverses which pass comes after the checks' warm GPU).
ceil=""
for pass in 1 2 3; do
  # shellcheck disable=SC2086 # ceil is empty or one option
  step "time_$pass" 90 "$BENCH" --timing-only $ceil --only prefill_ffn
  ceil=--no-ceilings
done
ceiling_end
# The producer GEMM's SASS (both instantiations): byte permutes, 16-byte shared loads and
# stores, the QGMMAs, and no local memory (LDL / STL: spills).
if command -v cuobjdump > /dev/null; then
  cuobjdump -sass "$BENCH" 2> /dev/null | awk '
    /Function :/ { fn = $3; keep = fn ~ /sm90_grouped_gemm_kernelILb1ELb[01]ELb1ELb1E/ }
    keep { for (i = 1; i <= NF; ++i) if ($i ~ /^(PRMT|LOP3|LDS|STS|LDL|STL|QGMMA|SYNCS)/) {
      split($i, p, ";"); n[fn " " p[1]]++ } }
    END { for (k in n) print n[k], k }' | sort -k2 > "$R/sass_int4.txt"
  awk '{ print $1, $3 }' "$R/sass_int4.txt"
fi
# (c) ncu.
if command -v ncu > /dev/null; then
  for row in "4096 tok 16e top4 7168/2048" "1024 tok 128e top8 2048/768"; do
    step "ncu_bytes_${row%% *}" 120 ncu --clock-control none \
      --metrics dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum \
      "$BENCH" --profile --only "prefill_ffn w4a8 $row"
  done
  step ncu_gemm 120 ncu --clock-control none --kernel-name regex:sm90_grouped_gemm \
    --launch-count 2 --section SpeedOfLight --section WarpStateStats --section Occupancy \
    --metrics "regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$,smsp__inst_executed.sum" \
    "$BENCH" --profile --only "prefill_ffn w4a8 4096 tok 16e top4 7168/2048 producer"
fi
time_summary
echo "total $(el) s"
cd "$O" && tar czf sixteenth.tgz r && rm -rf r
