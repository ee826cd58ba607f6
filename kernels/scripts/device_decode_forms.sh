#!/usr/bin/env bash
# One device call (issue 15, fifth session): decode attention's forms (plan::kDecodeAttnForm,
# QUADRANT_DECODE_ATTN_FORM: 1 PDL combine, 2 page entry a step ahead, 4 O^T = V^T P^T,
# 8 S^T = K Q^T, 16 E4M3 at 4 CTAs per SM) and
# the W4A8 decode GEMM's forms 1/6/8 at 64 tokens. Binaries built on the dev machine (nvcc
# 13, sm_90a) in $B: quadrant-kernels-bench, kernels_api_gpu_test, kernels_ops_gpu_test.
# 1. The decode attention API tests (reference, graph replay) under form 0 and form 31.
# 2. SASS mix and resources of the decode attention kernels (every form).
# 3. Every decode attention check (small shapes, forced splits, timed shapes) under forms
#    0 7 15 31 (kernels 0, 6, 14, 30; PDL off and on).
# 4. Timings of the standard rows, forms 0 1 2 4 6 7 12 14 15 31 0 (0 again last: drift), the copy
#    ceiling measured first; fixed splits at b16 under $SWEEP_FORM.
# 5. ncu (clocks as they are) of b16 BF16 / E4M3 under forms 0 and $SWEEP_FORM.
# 6. W4A8 decode forms 1 6 8 and FP8 at 1/8/16/64 tokens.
# Results to $OUT/forms.tgz.   B=devbin OUT=... kernels/scripts/device_decode_forms.sh
set -uo pipefail
B=${B:-devbin}
SWEEP_FORM=${SWEEP_FORM:-31}
R=${OUT:-$PWD/out-forms}/r
mkdir -p "$R"
start=$(date +%s)
stamp() { echo "== $1 $(( $(date +%s) - start ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
cat "$R/gpu.txt"
for form in 0 31; do
  QUADRANT_DECODE_ATTN_FORM=$form timeout 60 "$B/kernels_api_gpu_test" --gtest_brief=1 \
    --gtest_filter='*Decode*' > "$R/api_form$form.log" 2>&1
  stamp "kernels_api_gpu_test *Decode* form $form rc=$? $(tail -1 "$R/api_form$form.log")"
done
cuobjdump -res-usage "$B/quadrant-kernels-bench" 2>/dev/null | grep -A1 "decode_attention_mma" \
  | grep -oE "Function [^ ]+|REG:[0-9]+|STACK:[0-9]+|LOCAL:[0-9]+" | paste - - - - > "$R/res_decode.txt"
cuobjdump -sass "$B/quadrant-kernels-bench" 2>/dev/null | awk '
  /Function :/ { fn = $3; keep = (fn ~ /decode_attention_mma/) }
  keep { for (i = 1; i <= NF; ++i) if ($i ~ /^[A-Z][A-Z0-9]+(\.[A-Z0-9_.]+)?$/ && $i !~ /^(R[0-9]+|P[0-9]+|UR[0-9]+|PT|RZ|URZ)$/) { split($i, p, "."); n[fn " " p[1]]++; break } }
  END { for (k in n) print n[k], k }' | sort -k2,2 -k1,1nr > "$R/sass_decode.txt"
stamp "sass $(wc -l < "$R/sass_decode.txt") lines"
for form in 0 7 15 31; do
  mkdir -p "$R/chk$form"
  QUADRANT_DECODE_ATTN_FORM=$form timeout 60 "$B/quadrant-kernels-bench" --checks-only --no-ceilings \
    --only decode_attention --out "$R/chk$form" > "$R/checks_form$form.log" 2>&1
  stamp "checks form $form rc=$? $(grep -c 'PASS' "$R/checks_form$form.log") pass, $(grep -c 'FAIL' "$R/checks_form$form.log") fail"
done
mkdir -p "$R/ceil"
timeout 40 "$B/quadrant-kernels-bench" --timing-only --only "decode_attention bf16 b64 kv4096 32/8 d128" \
  --out "$R/ceil" > "$R/ceil.log" 2>&1
grep -E "^ceiling" "$R/ceil.log"
i=0
for form in 0 1 2 4 6 7 12 14 15 31 0; do
  i=$((i + 1)); mkdir -p "$R/t$i"
  QUADRANT_DECODE_ATTN_FORM=$form timeout 40 "$B/quadrant-kernels-bench" --timing-only --no-ceilings \
    --only decode_attention --out "$R/t$i" > "$R/time_$i.log" 2>&1
  stamp "time form $form rc=$?"
  grep -h "^time" "$R/time_$i.log" | awk -F'|' -v f=$form '{ print "form " f "|" $3 "|" $4 "|" $7 "|" $9 }' | cut -c1-110
done
mkdir -p "$R/sweep"
QUADRANT_DECODE_ATTN_FORM=$SWEEP_FORM timeout 60 "$B/quadrant-kernels-bench" --timing-only --variants --no-ceilings \
  --only "b16 kv4096 32/4 d128 splits=,b16 kv128..8192 32/4 splits=" --out "$R/sweep" > "$R/sweep.log" 2>&1
stamp "sweep form $SWEEP_FORM rc=$?"
if command -v ncu > /dev/null; then
  for form in 0 $SWEEP_FORM; do
    ncu_run() {
      QUADRANT_DECODE_ATTN_FORM=$form timeout 45 ncu --clock-control none --kernel-name regex:decode_attention \
        --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats \
        --section ComputeWorkloadAnalysis --section InstructionStats --section MemoryWorkloadAnalysis "$@" \
        "$B/quadrant-kernels-bench" --profile \
        --only "decode_attention bf16 b16 kv4096 32/4 d128,decode_attention fp8 b16 kv4096 32/4 d128" \
        > "$R/ncu_form$form.txt" 2>&1
    }
    ncu_run --print-details all || ncu_run
    stamp "ncu form $form rc=$?"
    grep -E "decode_attention|Duration|DRAM Throughput|Compute \(SM\) Throughput|Issued Warp|Warp Cycles Per Issued|Achieved Occupancy|Executed Ipc A" \
      "$R/ncu_form$form.txt" | sed 's/(const.*) (/ (/; s/, Context.*//' | cut -c1-120 | head -60
  done
fi
mkdir -p "$R/ffn"
timeout 90 "$B/quadrant-kernels-bench" --variants --timing-only --no-ceilings \
  --only "w4a8 1 tok 32e top8 7168/2048 form 1,w4a8 1 tok 32e top8 7168/2048 form 6,w4a8 1 tok 32e top8 7168/2048 form 8,w4a8 8 tok 32e top8 7168/2048 form 1,w4a8 8 tok 32e top8 7168/2048 form 6,w4a8 8 tok 32e top8 7168/2048 form 8,w4a8 16 tok 32e top8 7168/2048 form 1,w4a8 16 tok 32e top8 7168/2048 form 6,w4a8 16 tok 32e top8 7168/2048 form 8,w4a8 64 tok 32e top8 7168/2048 form 1,w4a8 64 tok 32e top8 7168/2048 form 6,w4a8 64 tok 32e top8 7168/2048 form 8,fp8 1 tok 32e,fp8 8 tok 32e,fp8 16 tok 32e,fp8 64 tok 32e" \
  --out "$R/ffn" > "$R/ffn.log" 2>&1
stamp "w4a8 timings rc=$?"
grep -h "^time" "$R/ffn.log" | awk -F'|' '{ print $2 "|" $3 "|" $4 "|" $7 }' | cut -c1-110
cd "$R/.." && tar czf forms.tgz r && rm -rf r
