#!/usr/bin/env bash
# One device call (issue 15, sixth session): the per-device shared-memory opt-in and cuBLASLt
# handle (every GPU test), and decode attention form 32 (no combine launch: the last split CTA
# of a (sequence, head group) merges) against the default form 15.
# Binaries built on the dev machine (nvcc 13, sm_90a) in $B: quadrant-kernels-bench,
# kernels_api_gpu_test, kernels_ops_gpu_test.
# 1. GPU tests: API (incl. EveryDevice.*: cudaSetDevice over the devices present), ops.
# 2. The decode attention API tests (reference, graph replays) under forms 47 and 63, and every
#    decode attention check of the bench (small shapes, forced splits, timed shapes) under 47.
# 3. SASS resources of the decode attention kernels.
# 4. Copy ceiling, then the standard rows under forms 15 47 63 15 (15 again last: drift).
# 5. Fixed split counts 1-24 at the 10 standard rows under forms 47 and 15 (E4M3 also 63);
#    quadrant-engine's Qwen3 rows (b48..112, lengths 1000..6400 under 8192) under form 47.
# 6. ncu (clocks as they are; SpeedOfLight + Occupancy) of b16 kv4096 32/4 under form 47.
# Results to $OUT/fused.tgz.   B=devbin OUT=... kernels/scripts/device_decode_fused.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-fused}/r
mkdir -p "$R"
start=$(date +%s)
stamp() { echo "== $1 $(( $(date +%s) - start ))s"; }
left() { [ $(( $(date +%s) - start )) -lt "$1" ]; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
cat "$R/gpu.txt"
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 60 "$B/$t" --gtest_brief=1 > "$R/$t.log" 2>&1
  stamp "$t rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$R/$t.log" | tr '\n' ' ')"
done
grep -E "FAILED|Failure|EveryDevice" "$R/kernels_api_gpu_test.log" | head -8
for form in 47 63; do
  QUADRANT_DECODE_ATTN_FORM=$form timeout 40 "$B/kernels_api_gpu_test" --gtest_brief=1 \
    --gtest_filter='*Decode*:EveryDevice*' > "$R/api_form$form.log" 2>&1
  stamp "api *Decode* form $form rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$R/api_form$form.log" | tr '\n' ' ')"
  [ "$form" = 63 ] && continue  # the bench's checks under 47 only (63: the API tests)
  mkdir -p "$R/chk$form"
  QUADRANT_DECODE_ATTN_FORM=$form timeout 45 "$B/quadrant-kernels-bench" --checks-only --no-ceilings \
    --only decode_attention --out "$R/chk$form" > "$R/checks_form$form.log" 2>&1
  stamp "checks form $form rc=$? $(grep -c 'PASS' "$R/checks_form$form.log") pass, $(grep -c 'FAIL' "$R/checks_form$form.log") fail"
  grep FAIL "$R/checks_form$form.log" | head -5
done
cuobjdump -res-usage "$B/quadrant-kernels-bench" 2>/dev/null | grep -A1 "decode_attention_mma" \
  | grep -oE "Function [^ ]+|REG:[0-9]+|STACK:[0-9]+|SHARED:[0-9]+|LOCAL:[0-9]+" | paste - - - - - > "$R/res_decode.txt"
stamp "res $(wc -l < "$R/res_decode.txt") kernels"
mkdir -p "$R/ceil"
timeout 30 "$B/quadrant-kernels-bench" --timing-only --only "decode_attention bf16 b64 kv4096 32/8 d128" \
  --out "$R/ceil" > "$R/ceil.log" 2>&1
grep -E "^ceiling" "$R/ceil.log"
i=0
for form in 15 47 63 15; do
  i=$((i + 1)); mkdir -p "$R/t$i"
  QUADRANT_DECODE_ATTN_FORM=$form timeout 30 "$B/quadrant-kernels-bench" --timing-only --no-ceilings \
    --only decode_attention --out "$R/t$i" > "$R/time_$i.log" 2>&1
  stamp "time form $form rc=$?"
  grep -h "^time" "$R/time_$i.log" | awk -F'|' -v f=$form '{ print "form " f "|" $3 "|" $4 "|" $7 "|" $9 }' | cut -c1-110
done
sw="b64 kv4096 32/8 d128 splits=,b64 kv128..8192 splits=,b16 kv4096 32/4 d128 splits=,b16 kv2048 32/8 d128 splits=,b16 kv128..8192 32/4 splits="
for form in 47 15 63; do
  left 140 || { stamp "sweep form $form skipped (time)"; continue; }
  mkdir -p "$R/sweep$form"
  only=$sw
  [ "$form" = 63 ] && only=$(echo "$sw" | sed 's/\([^,]*\)/fp8 \1/g')
  [ "$form" = 47 ] && only="$sw,engine b"
  QUADRANT_DECODE_ATTN_FORM=$form timeout 50 "$B/quadrant-kernels-bench" --timing-only --variants --no-ceilings \
    --only "$only" --out "$R/sweep$form" > "$R/sweep$form.log" 2>&1
  stamp "sweep form $form rc=$? $(grep -c '^time' "$R/sweep$form.log") rows"
done
if command -v ncu > /dev/null && left 170; then
  QUADRANT_DECODE_ATTN_FORM=47 timeout 30 ncu --clock-control none --kernel-name regex:decode_attention \
    --section SpeedOfLight --section Occupancy --section LaunchStats "$B/quadrant-kernels-bench" --profile \
    --only "decode_attention bf16 b16 kv4096 32/4 d128,decode_attention fp8 b16 kv4096 32/4 d128" \
    > "$R/ncu_form47.txt" 2>&1
  stamp "ncu form 47 rc=$?"
  grep -E "decode_attention|Duration|DRAM Throughput|Achieved Occupancy" "$R/ncu_form47.txt" \
    | sed 's/(const.*) (/ (/; s/, Context.*//' | cut -c1-110 | head -16
fi
cd "$R/.." && tar czf fused.tgz r && rm -rf r
stamp done
