#!/usr/bin/env bash
# One device call (issue 15, third session): the W4A8 decode GEMM's forms side by side, and
# the branch's decode attention at the standard shapes. Binaries built on the dev machine
# (nvcc 13, sm_90a) in $B: quadrant-kernels-bench, kernels_api_gpu_test, kernels_ops_gpu_test.
# 1. GPU tests (the W4A8 API tests run the default form).
# 2. SASS instruction mix of the three W4A8 decode GEMM kernels.
# 3. Every decode_ffn check (each W4A8 form, 1-8, at three small shapes, one at hidden 7168).
# 4. Timings with the copy ceiling of the same run: W4A8 forms 1-8 at 1/8/16/64 tokens (32
#    experts top-8, 7168/2048) beside FP8 at the same tokens.
#    Decode attention's standard rows with fixed and with balanced per-sequence chunks.
# 5. ncu (SpeedOfLight, Occupancy) of the W4A8 GEMMs at 8 tokens, forms $NCU_FORMS [6 8].
# Results to $OUT/w4a8_forms.tgz.
#   B=devbin OUT=... kernels/scripts/device_w4a8_forms.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-w4a8-forms}/r
mkdir -p "$R/checks" "$R/time"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 60 "$B/$t" --gtest_brief=1 > "$R/$t.log" 2>&1
  echo "$t rc=$? $(tail -1 "$R/$t.log")"
done
cuobjdump -sass "$B/quadrant-kernels-bench" 2>/dev/null | awk '
  /Function :/ { fn = $3; keep = (fn ~ /w4a8_decode/) }
  keep { for (i = 1; i <= NF; ++i) if ($i ~ /^[A-Z][A-Z0-9]+(\.[A-Z0-9_.]+)?$/ && $i !~ /^(R[0-9]+|P[0-9]+|UR[0-9]+|PT|RZ|URZ)$/) { split($i, p, "."); n[fn " " p[1]]++; break } }
  END { for (k in n) print n[k], k }' | sed 's/_ZN8quadrant7kernels[^ ]*moe_w4a8/moe_w4a8/; s/EvPK[^ ]*//; s/EPKh[^ ]*//' \
  | sort -k2,2 -k1,1nr > "$R/sass_w4.txt"
awk '$1 >= 8' "$R/sass_w4.txt" | head -60
timeout 90 "$B/quadrant-kernels-bench" --checks-only --no-ceilings --only decode_ffn \
  --out "$R/checks" > "$R/checks.log" 2>&1
echo "ffn checks rc=$? $(grep -c 'PASS$' "$R/checks.log") pass, $(grep -c 'FAIL' "$R/checks.log") fail"
grep -E "w4a8" "$R/checks.log" | grep -E "form|7168" | cut -c1-150
timeout 150 "$B/quadrant-kernels-bench" --variants --timing-only \
  --only "w4a8 1 tok 32e,w4a8 8 tok 32e,w4a8 16 tok 32e,w4a8 64 tok 32e,fp8 1 tok 32e,fp8 8 tok 32e,fp8 16 tok 32e,fp8 64 tok 32e" \
  --out "$R/time" > "$R/time.log" 2>&1
echo "ffn timings rc=$?"
grep -E "^ceiling" "$R/time.log" | head -1
grep -h "^time" "$R/time.log" | awk -F'|' '{ print $2 "|" $3 "|" $4 "|" $7 "|" $9 "|" $11 }' | cut -c1-120
mkdir -p "$R/attn" "$R/attn_bal"
timeout 40 "$B/quadrant-kernels-bench" --timing-only --no-ceilings --only decode_attention \
  --out "$R/attn" > "$R/attn.log" 2>&1
echo "attention (fixed chunks) rc=$?"
timeout 40 "$B/quadrant-kernels-bench" --variants --timing-only --no-ceilings --only balanced \
  --out "$R/attn_bal" > "$R/attn_bal.log" 2>&1
echo "attention (balanced chunks) rc=$?"
grep -h "^time" "$R/attn.log" "$R/attn_bal.log" | awk -F'|' '{ print $3 "|" $4 "|" $7 "|" $9 }' | cut -c1-100
if command -v ncu > /dev/null; then
  for form in ${NCU_FORMS:-6 8}; do
    timeout 40 ncu --clock-control none --section SpeedOfLight --section Occupancy \
      --kernel-name regex:w4a8_decode "$B/quadrant-kernels-bench" --profile --variants \
      --only "decode_ffn w4a8 8 tok 32e top8 7168/2048 form $form" > "$R/ncu_form$form.txt" 2>&1
    echo "ncu form $form rc=$?"
    grep -E "w4a8_decode|Duration|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy" \
      "$R/ncu_form$form.txt" | tail -10 | sed 's/(const.*//' | cut -c1-110
  done
fi
cd "$R/.." && tar czf w4a8_forms.tgz r && rm -rf r
