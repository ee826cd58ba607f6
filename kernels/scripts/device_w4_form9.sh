#!/usr/bin/env bash
# W4A8 decode form 9 (form 8 with each warp's L2 requests for its weights kMoeW4Form9Ahead k
# blocks ahead, compile-time; branch kernels-w4-l2ahead, not yet run on a GPU) in one device call:
# its GPU test (MoeFfnW4Form9: form 8's bits), the decode_ffn checks under it, then W4A8 decode_ffn
# timings (32 experts top-8, 7168/2048; 1, 8, 16, 64 tokens) of main's binary, form 8 and form 9,
# two passes in alternation, and ncu (SpeedOfLight) of both forms at 8 tokens. Binaries built on
# the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench (-main: built from main),
# kernels_api_gpu_test. Results to $OUT/form9.tgz.
#   B=devbin OUT=... bash kernels/scripts/device_w4_form9.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-form9}/r
mkdir -p "$R"
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
timeout 90 "$B/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='*Moe*' > "$R/tests.log" 2>&1
echo "MoE API tests rc=$? ($(el) s)"; tail -1 "$R/tests.log"
QUADRANT_W4A8_DECODE_FORM=9 timeout 90 "$B/quadrant-kernels-bench" --only decode_ffn --checks-only > "$R/checks.log" 2>&1
echo "decode_ffn checks (form 9) rc=$? ($(el) s): $(grep -c PASS "$R/checks.log") PASS"
W4="decode_ffn w4a8 1 tok 32e top8 7168/2048,decode_ffn w4a8 8 tok 32e top8 7168/2048,decode_ffn w4a8 16 tok 32e top8 7168/2048,decode_ffn w4a8 64 tok 32e top8 7168/2048"
ceil=""
for pass in 1 2; do
  for c in main form8 form9; do
    bin=$B/quadrant-kernels-bench; form=${c#form}
    [ "$c" = main ] && { bin=$B/quadrant-kernels-bench-main; form=8; }
    QUADRANT_W4A8_DECODE_FORM=$form timeout 60 "$bin" --timing-only $ceil --only "$W4" > "$R/time_${c}_$pass.log" 2>&1
    echo "$c pass $pass rc=$? ($(el) s)"
    ceil=--no-ceilings
  done
done
"$B/quadrant-kernels-bench" --timing-only --only nothing > "$R/time_ceiling_end.log" 2>&1
grep -h "^ceiling: device" "$R"/time_*.log
for f in "$R"/time_*.log; do
  echo "== $(basename "$f" .log)"
  grep "^time" "$f" | awk -F'|' '{ printf "%s|%s|%s|%s\n", $3, $4, $7, $11 }'
done | tee "$R/summary.txt"
if command -v ncu > /dev/null; then
  for form in 8 9; do
    QUADRANT_W4A8_DECODE_FORM=$form timeout 40 ncu --clock-control none --kernel-name regex:moe_w4a8_decode \
      --launch-count 2 --section SpeedOfLight --section MemoryWorkloadAnalysis "$B/quadrant-kernels-bench" \
      --profile --only "decode_ffn w4a8 8 tok 32e top8 7168/2048" > "$R/ncu_form$form.txt" 2>&1
    grep -E "moe_|Duration|DRAM Throughput|L2 Cache Throughput" "$R/ncu_form$form.txt" | cut -c1-100 | head -8
  done
fi
cd "$R/.." && tar czf form9.tgz r && rm -rf r
