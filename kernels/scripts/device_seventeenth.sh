#!/usr/bin/env bash
# Issue 15, seventeenth session (prepared without a GPU; run it on the next one lent): the wgmma
# decode GEMM (moe_decode_gemm_wg_kernel: A and B swapped, the weight rows as M, the tokens as N,
# a producer warp streaming the stages) in its two formats, W4A8 form 11
# (QUADRANT_W4A8_DECODE_FORM=11: the INT4 tiles by bulk copies, made E4M3 A registers by byte
# permutes) and FP8 (QUADRANT_FP8_DECODE_GEMM=wgmma: the E4M3 tiles by TMA as A in shared memory),
# against the defaults (W4A8 form 10, FP8 on mma.sync).
# (a) Checks first: MoeFfnW4Form11.* and MoeFfnFp8Wgmma.* (the reference check, and within 1% of
#     form 8 / of mma.sync, with and without split-K and the chain); every W4A8 MoeFfnApi case
#     and the chain test under form 11, every FP8 one under wgmma; the bench's decode_ffn checks
#     (each W4A8 form's rows, 11's included, and FP8's wgmma rows).
# (b) 32 experts top-8 7168/2048 at 1 / 8 / 16 / 64 tokens: forms 10 and 11, FP8 mma.sync and
#     wgmma; Qwen3-30B-A3B's 128 experts top-8 2048/768 at the engine's 32 / 64 / 96 rows (form 11
#     beside the default); three passes, the copy ceiling in the same call; then FP8 at 64 tokens
#     on 32-row tiles (both GEMMs).
# (c) The SASS summary of the wgmma decode GEMM's instantiations (PRMT, LDS, QGMMA, barriers, the
#     warpgroup waits, no LDL / STL).
# (d) ncu of form 11's two GEMMs at 1, 8 and 64 tokens and of FP8 wgmma's at 1 and 64: speed of
#     light, warp stalls, occupancy.
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test. Results to $OUT/seventeenth.tgz, the GPU to $OUT/uuid.txt. STOP_S: no
# step starts that would end (as long as the longest so far) past it.
#   B=devbin OUT=... [STOP_S=420] bash kernels/scripts/device_seventeenth.sh
set -uo pipefail
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
device_start seventeenth 420
SHOW_EXTRA='form 11 against|wgmma against'
# (a) correctness before any timing.
step tests_form11 200 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='MoeFfnW4Form11.*:MoeFfnW4Form10.*:MoeFfnFp8Wgmma.*'
show tests_form11
step tests_api_form11 150 env QUADRANT_W4A8_DECODE_FORM=11 "$B/kernels_api_gpu_test" \
  --gtest_brief=1 --gtest_filter='*MoeFfnApi*w4a8*:MoeFfnChain.*'
show tests_api_form11
step tests_api_fp8_wgmma 150 env QUADRANT_FP8_DECODE_GEMM=wgmma "$B/kernels_api_gpu_test" \
  --gtest_brief=1 --gtest_filter='*MoeFfnApi*fp8*:MoeFfnChain.*'
show tests_api_fp8_wgmma
checks_decode_ffn
# (b) three passes.
rows="32e top8 7168/2048 form 10,32e top8 7168/2048 form 11,fp8 1 tok 32e,fp8 8 tok 32e"
rows="$rows,fp8 16 tok 32e,fp8 64 tok 32e,w4a8 engine 32 tok,w4a8 engine 64 tok,w4a8 engine 96 tok"
# (the fp8 items take both the mma.sync default and the wgmma rows)
time_passes "$rows"
time_fp8_bm32
# (c) the wgmma decode GEMMs' SASS (both formats together): byte permutes, shared loads, QGMMAs, barriers, and no local memory; the
# warpgroup waits in full (ptxas reports waits of its own in the epilogue, C7517).
sass_wg
# (d) ncu of form 11's GEMMs.
if command -v ncu > /dev/null; then
  for tokens in 1 8 64; do
    ncu_wg "ncu_form11_$tokens" "decode_ffn w4a8 $tokens tok 32e top8 7168/2048 form 11"
  done
  for tokens in 1 64; do
    ncu_wg "ncu_fp8_wgmma_$tokens" "decode_ffn fp8 $tokens tok 32e top8 7168/2048 wgmma"
  done
fi
time_summary
echo "total $(el) s"
cd "$O" && tar czf seventeenth.tgz r && rm -rf r
