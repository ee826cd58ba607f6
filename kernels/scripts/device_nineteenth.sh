#!/usr/bin/env bash
# Issue 15, nineteenth session (prepared without a GPU; run it on the next one lent): W4A8 decode
# form 12 (QUADRANT_W4A8_DECODE_FORM=12: form 11's wgmma kernel with the INT4 made E4M3 operands
# of (v + 8) x 2^-9 by a mask and a shift, the offset taken off each k block's sums with the
# activation rows' sums), form 13 (12 with a consumer warpgroup per m64 half: 18 warps an SM
# where 11 and 12 have 10) and form 14 (13 on 32-row tiles from 12 rows per expert) against form
# 10 (the default), form 11 and FP8 on wgmma (the FP8 default); and FP8 on the same kernel with a
# consumer warpgroup per half (QUADRANT_FP8_DECODE_GEMM=wgmma2), on 16- and 32-row tiles.
# (a) Checks first: MoeFfnW4Form12.* and MoeFfnW4Form11.* (the reference check, and within 1% of
#     form 8, with and without split-K and the chain), MoeFfnW4Form13.* (form 12's bits),
#     MoeFfnW4Form14.* (within 1% of form 8); every W4A8 MoeFfnApi case and the chain test under
#     forms 12-14; MoeFfnFp8Wgmma2.* (one warpgroup's bits) and every FP8 MoeFfnApi case under
#     wgmma2; the bench's W4A8 and FP8 decode_ffn checks (each form's and variant's rows).
#     Form 12 rests on the tensor cores taking subnormal E4M3 operands as they are (0 .. 7 x
#     2^-9): a flush to zero fails (a) by far.
# (b) 32 experts top-8 7168/2048 at 1 / 8 / 16 / 64 tokens: forms 10-14 and FP8 (the wgmma
#     default); Qwen3-30B-A3B's 128 experts top-8 2048/768 at the engine's 32 / 64 / 96 rows
#     (forms 11-14 beside the default); three passes, the copy ceiling in the same call; then FP8
#     at 64 tokens on 32-row tiles (wgmma and wgmma2).
# (c) The SASS summary of the wgmma decode GEMM's instantiations, form by form (PRMT, LOP3, SHF,
#     QGMMA, no LDL / STL).
# (d) ncu of forms 12 and 13's two GEMMs at 1, 8 and 64 tokens, form 14's at 64 (and form 11's
#     at 8, the same call): speed of light, warp stalls, occupancy.
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test. Results to $OUT/nineteenth.tgz, the GPU to $OUT/uuid.txt. STOP_S: no
# step starts that would end (as long as the longest so far) past it.
#   B=devbin OUT=... [STOP_S=420] bash kernels/scripts/device_nineteenth.sh
set -uo pipefail
# shellcheck source=kernels/scripts/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
device_start nineteenth 420
SHOW_EXTRA='form 12 against|form 11 against'
# (a) correctness before any timing.
step tests_form12 200 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='MoeFfnW4Form12.*:MoeFfnW4Form13.*:MoeFfnW4Form14.*:MoeFfnW4Form11.*:MoeFfnFp8Wgmma2.*'
show tests_form12
for form in 12 13 14; do
  step "tests_api_form$form" 150 env QUADRANT_W4A8_DECODE_FORM=$form "$B/kernels_api_gpu_test" \
    --gtest_brief=1 --gtest_filter='*MoeFfnApi*w4a8*:MoeFfnChain.*'
  show "tests_api_form$form"
done
step tests_api_fp8_wgmma2 150 env QUADRANT_FP8_DECODE_GEMM=wgmma2 "$B/kernels_api_gpu_test" \
  --gtest_brief=1 --gtest_filter='*MoeFfnApi*fp8*:MoeFfnChain.*'
show tests_api_fp8_wgmma2
checks_decode_ffn
# (b) three passes.
rows="7168/2048 form 10,7168/2048 form 11,7168/2048 form 12,7168/2048 form 13"
rows="$rows,7168/2048 form 14,fp8 1 tok 32e,fp8 8 tok 32e"
rows="$rows,fp8 16 tok 32e,fp8 64 tok 32e,w4a8 engine 32 tok,w4a8 engine 64 tok,w4a8 engine 96 tok"
# (the fp8 items take the default row and the "wgmma" one, the same kernel since the eighteenth
# session, timed twice, and "wgmma2")
time_passes "$rows"
time_fp8_bm32
# (c) the wgmma decode GEMMs' SASS, one count per instantiation.
sass_wg
# (d) ncu of forms 12 and 13's GEMMs, 14's at 64 tokens (and form 11's at 8).
if command -v ncu > /dev/null; then
  for form in 12 13; do
    for tokens in 1 8 64; do
      ncu_wg "ncu_form${form}_$tokens" "decode_ffn w4a8 $tokens tok 32e top8 7168/2048 form $form"
    done
  done
  ncu_wg ncu_form14_64 "decode_ffn w4a8 64 tok 32e top8 7168/2048 form 14"
  ncu_wg ncu_form11_8 "decode_ffn w4a8 8 tok 32e top8 7168/2048 form 11"
fi
time_summary
echo "total $(el) s"
cd "$O" && tar czf nineteenth.tgz r && rm -rf r
