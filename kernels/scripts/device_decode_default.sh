#!/usr/bin/env bash
# One device call (issue 15, fifth session): the new defaults (decode attention form 15, the
# batched combine, W4A8 decode form 8) checked and timed before calibration re-collects them.
# Binaries built on the dev machine (nvcc 13, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test, kernels_ops_gpu_test.
# 1. GPU tests (API: decode attention, MoE FFN incl. graph replays; ops: every op's check).
# 2. Every decode attention and decode FFN small-shape check (heads per CTA 1, 2, 4, 8).
# 3. Decode attention's standard rows checked and timed with the copy ceiling of the same run,
#    form 0 beside them (timing only); decode FFN FP8 / W4A8 at 1 / 8 / 64 tokens.
# 4. Fixed split counts at the standard rows (form 15), if time is left.
# Results to $OUT/default.tgz.   B=devbin OUT=... kernels/scripts/device_decode_default.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-default}/r
mkdir -p "$R/main" "$R/f0" "$R/ffn" "$R/sweep" "$R/chk"
start=$(date +%s)
stamp() { echo "== $1 $(( $(date +%s) - start ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 40 "$B/$t" --gtest_brief=1 > "$R/$t.log" 2>&1
  stamp "$t rc=$? $(tail -1 "$R/$t.log")"
done
timeout 30 "$B/quadrant-kernels-bench" --checks-only --no-ceilings --only "decode_attention,decode_ffn" \
  --out "$R/chk" > "$R/checks.log" 2>&1
stamp "checks rc=$? $(grep -c 'PASS$' "$R/checks.log") pass, $(grep -c 'FAIL' "$R/checks.log") fail"
grep FAIL "$R/checks.log" | head
timeout 30 "$B/quadrant-kernels-bench" --only "decode_attention" --out "$R/main" > "$R/main.log" 2>&1
stamp "decode attention checked + timed rc=$?"
grep -E "^ceiling: device|correctness failures" "$R/main.log"
grep -h "^time" "$R/main.log" | awk -F'|' '{ print $3 "|" $4 "|" $7 "|" $9 "|" $11 }'
QUADRANT_DECODE_ATTN_FORM=0 timeout 15 "$B/quadrant-kernels-bench" --timing-only --no-ceilings \
  --only decode_attention --out "$R/f0" > "$R/f0.log" 2>&1
stamp "form 0 timed rc=$?"
grep -h "^time" "$R/f0.log" | awk -F'|' '{ print "form 0|" $3 "|" $4 "|" $7 }'
timeout 20 "$B/quadrant-kernels-bench" --timing-only --no-ceilings \
  --only "fp8 1 tok 32e top8 7168/2048,fp8 8 tok 32e top8 7168/2048,fp8 64 tok 32e top8 7168/2048,w4a8 1 tok 32e top8 7168/2048,w4a8 8 tok 32e top8 7168/2048,w4a8 64 tok 32e top8 7168/2048" \
  --out "$R/ffn" > "$R/ffn.log" 2>&1
stamp "decode ffn timed rc=$?"
grep -h "^time" "$R/ffn.log" | awk -F'|' '{ print $3 "|" $4 "|" $7 "|" $9 }'
timeout 25 "$B/quadrant-kernels-bench" --timing-only --variants --no-ceilings --only "kv4096 32/8 d128 splits=,b64 kv128..8192 splits=,kv4096 32/4 d128 splits=,b16 kv128..8192 32/4 splits=" \
  --out "$R/sweep" > "$R/sweep.log" 2>&1
stamp "sweep rc=$?"
cd "$R/.." && tar czf default.tgz r && rm -rf r
