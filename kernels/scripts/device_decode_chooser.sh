#!/usr/bin/env bash
# One device call (issue 15, sixth session, second call): the fused combine's second form
# (form 32 with the flag in the dynamic ring and one fence by thread 0) checked and timed, and
# the "fluid" split chooser (QUADRANT_DECODE_ATTN_SPLIT_MODEL=fluid) against the byte model and
# fixed counts, at the standard rows and (held out of its fit) quadrant-engine's Qwen3 rows.
# Binaries built on the dev machine (nvcc 13, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test, kernels_ops_gpu_test.
# 1. GPU tests (default forms): API (incl. EveryDevice.*), ops; API *Decode* under form 47.
# 2. Every decode attention check of the bench under form 47, and under the fluid chooser.
# 3. Copy ceiling; standard rows under form 15 (bytes), 15 (fluid), 47, 63, 15 (bytes) again.
# 4. Engine rows (b48..112, 1000..6400 under 8192, 32/4) under form 15: bytes, fluid, fixed.
# 5. E4M3 b64 kv4096 fixed splits under form 31 (4 CTAs per SM); ncu (SpeedOfLight) of b16
#    kv4096 32/4 BF16 and E4M3 under form 47, and of the FP8 decode FFN at 1 token.
# Results to $OUT/chooser.tgz.   B=devbin OUT=... kernels/scripts/device_decode_chooser.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-chooser}/r
mkdir -p "$R"
start=$(date +%s)
stamp() { echo "== $1 $(( $(date +%s) - start ))s"; }
left() { [ $(( $(date +%s) - start )) -lt "$1" ]; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader > "$R/gpu.txt" 2>&1
cat "$R/gpu.txt"
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 60 "$B/$t" --gtest_brief=1 > "$R/$t.log" 2>&1
  stamp "$t rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$R/$t.log" | tr '\n' ' ')"
done
QUADRANT_DECODE_ATTN_FORM=47 timeout 40 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='*Decode*:EveryDevice*' > "$R/api_form47.log" 2>&1
stamp "api *Decode* form 47 rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$R/api_form47.log" | tr '\n' ' ')"
for v in form47 fluid; do
  mkdir -p "$R/chk_$v"
  if [ $v = form47 ]; then export QUADRANT_DECODE_ATTN_FORM=47; else export QUADRANT_DECODE_ATTN_SPLIT_MODEL=fluid; fi
  timeout 45 "$B/quadrant-kernels-bench" --checks-only --no-ceilings --only decode_attention \
    --out "$R/chk_$v" > "$R/checks_$v.log" 2>&1
  stamp "checks $v rc=$? $(grep -c 'PASS' "$R/checks_$v.log") pass, $(grep -c 'FAIL' "$R/checks_$v.log") fail"
  grep FAIL "$R/checks_$v.log" | head -5
  unset QUADRANT_DECODE_ATTN_FORM QUADRANT_DECODE_ATTN_SPLIT_MODEL
done
mkdir -p "$R/ceil"
timeout 30 "$B/quadrant-kernels-bench" --timing-only --only "decode_attention bf16 b64 kv4096 32/8 d128" \
  --out "$R/ceil" > "$R/ceil.log" 2>&1
grep -E "^ceiling: device" "$R/ceil.log"
i=0
for run in 15:bytes 15:fluid 47:bytes 63:bytes 31:bytes 15:bytes; do
  i=$((i + 1)); mkdir -p "$R/t$i"; form=${run%%:*}; model=${run##*:}
  QUADRANT_DECODE_ATTN_FORM=$form QUADRANT_DECODE_ATTN_SPLIT_MODEL=$model timeout 30 \
    "$B/quadrant-kernels-bench" --timing-only --no-ceilings --only decode_attention \
    --out "$R/t$i" > "$R/time_$i.log" 2>&1
  stamp "time form $form $model rc=$?"
  grep -h "^time" "$R/time_$i.log" | awk -F'|' -v f="$run" '{ print f "|" $3 "|" $4 "|" $7 "|" $9 }' | cut -c1-110
done
for model in bytes fluid; do
  left 150 || break
  mkdir -p "$R/eng_$model"
  QUADRANT_DECODE_ATTN_SPLIT_MODEL=$model timeout 40 "$B/quadrant-kernels-bench" --timing-only --variants \
    --no-ceilings --only "engine b" --out "$R/eng_$model" > "$R/eng_$model.log" 2>&1
  stamp "engine rows $model rc=$? $(grep -c '^time' "$R/eng_$model.log") rows"
done
mkdir -p "$R/sweep31"
QUADRANT_DECODE_ATTN_FORM=31 timeout 30 "$B/quadrant-kernels-bench" --timing-only --variants --no-ceilings \
  --only "fp8 b64 kv4096 32/8 d128 splits=" --out "$R/sweep31" > "$R/sweep31.log" 2>&1
stamp "sweep form 31 e4m3 b64 rc=$?"
grep -h "^time" "$R/sweep31.log" | awk -F'|' '{ print "form 31|" $4 "|" $7 "|" $9 }' | cut -c1-100
if command -v ncu > /dev/null && left 170; then
  QUADRANT_DECODE_ATTN_FORM=47 timeout 30 ncu --clock-control none --kernel-name regex:decode_attention \
    --section SpeedOfLight --section Occupancy "$B/quadrant-kernels-bench" --profile \
    --only "decode_attention bf16 b16 kv4096 32/4 d128,decode_attention fp8 b16 kv4096 32/4 d128" \
    > "$R/ncu_form47.txt" 2>&1
  stamp "ncu form 47 rc=$?"
  grep -E "decode_attention_mma|Duration|DRAM Throughput" "$R/ncu_form47.txt" \
    | sed 's/(const.*) (/ (/; s/, Context.*//; s/.*decode_attention_mma_kernel/mma/' | cut -c1-90 | head -12
fi
if command -v ncu > /dev/null && left 185; then
  timeout 30 ncu --clock-control none --section SpeedOfLight --section LaunchStats "$B/quadrant-kernels-bench" \
    --profile --only "decode_ffn fp8 1 tok 32e top8 7168/2048" > "$R/ncu_ffn_fp8_1tok.txt" 2>&1
  stamp "ncu decode_ffn fp8 1 tok rc=$?"
  grep -E "^  [a-z_:<>, 0-9A-Za-z]+\(|Duration|DRAM Throughput|  Grid Size|Registers Per" "$R/ncu_ffn_fp8_1tok.txt" \
    | sed 's/(const.*) (/ (/; s/, Context.*//' | cut -c1-100 | head -40
fi
cd "$R/.." && tar czf chooser.tgz r && rm -rf r
stamp done
