#!/usr/bin/env bash
# Decode MoE FFN's device job in one call, on binaries built on the dev machine (nvcc,
# sm_90a) and copied to $B: every GPU test, the SASS of the W4A8 decode GEMM, every FFN check
# (small shapes and each timed shape), timings of decode_ffn in BF16, FP8 and W4A8 at 1, 8
# and 64 tokens against the copy ceiling measured in the same run (and the decode attention
# rows at batch 64, kv 4096, as a guard). Results to $OUT/ffn.tgz.
#   B=devbin OUT=... kernels/scripts/device_decode_ffn.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-ffn}/r
mkdir -p "$R/main"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 120 "$B/$t" --gtest_brief=1 > "$R/$t.log" 2>&1
  echo "$t rc=$?"
  tail -1 "$R/$t.log"
done
cuobjdump -sass "$B/quadrant-kernels-bench" 2>/dev/null | awk '
  /Function :/ { fn = $3; keep = (fn ~ /w4a8_decode|w4_prepack/) }
  keep { for (i = 1; i <= NF; ++i) if ($i ~ /^(LDG|LDS|LDSM|STS|STG|LDL|STL|HMMA|HFMA2|HADD2|LOP3|F2FP)(\.|$)/) n[fn " " $i]++ }
  END { for (k in n) print n[k], k }' | sort -k2 > "$R/sass_w4.txt"
timeout 300 "$B/quadrant-kernels-bench" --only "decode_ffn,prefill_ffn w4a8,decode_attention bf16 b64 kv4096,decode_attention fp8 b64 kv4096" --out "$R/main" > "$R/main.log" 2>&1
echo "bench rc=$?"
grep -E "^ceiling|small-shape|FAIL|ERROR" "$R/main.log" | head -20
grep "^time" "$R/main.log" | cut -c1-160
cd "$R/.." && tar czf ffn.tgz r && rm -rf r
