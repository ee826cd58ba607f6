#!/usr/bin/env bash
# Issue 15, twenty-sixth session: W4A8 decode forms against form 12 and FP8 on whichever Hopper GPU
# comes, one device call for each FORMS (kernels/PERF.md "twenty-sixth session"):
#   FORMS="15 16": form 12 with a ring of 6 and 8 stages (H100, binaries of
#     05f92b7); still to run on an H200, whose higher bandwidth needs more bytes in flight;
#   FORMS="17" on binaries of 2f0cff9: form 17 was then form 12 with runs of n-tiles a CTA (and FP8
#     wgmma-runs), removed; FORMS="16 17" on d675704: 17 was form 12 at three CTAs an SM, removed;
#   FORMS="17" on e7e67eb: form 17, the k blocks rotated by CTA (kept, slower);
#   FORMS="18" on 3278971: form 18, the INT4 tiles stored k block major (kept, 0.98-0.99 of 12);
#   on an H200: FORMS="15 16 18" (the default).
#   1. Checks: the GPU tests of the wgmma W4A8 forms (15, 16 and 18 give form 12's bits, 17 stays
#      within 1% of form 8) and every W4A8 and FP8 decode_ffn check of the bench.
#   2. Timings, three passes (the second in reverse order), the copy ceiling timed in the first:
#      32 experts top-8, 7168/2048 at 1 / 8 / 16 / 64 tokens, form 12, FORMS and FP8 (the wgmma
#      default), and the engine's 128 experts top-8, 2048/768 at 32 / 64 / 96 tokens.
#   3. ncu (SpeedOfLight) of the two GEMMs at 1 and 8 tokens under form 12 and the last of FORMS.
# BIN: a tar.xz of quadrant-kernels-bench and kernels_api_gpu_test.
#   BIN=.dev/b26/bin.tar.xz OUT=... bash kernels/scripts/device_twentysixth.sh
set -uo pipefail
OUT=${OUT:?set OUT}
R="$OUT/w4deep"
mkdir -p "$R"
B=$(mktemp -d)
tar xJf "${BIN:?set BIN}" -C "$B" || { echo "cannot unpack $BIN" >&2; exit 2; }
t0=$(date +%s)
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm --format=csv,noheader | tee "$R/gpu.txt"
grep -q "H100\|H200" "$R/gpu.txt" || { echo "not a Hopper GPU"; exit 3; }
FORMS=${FORMS:-15 16 18}
timeout 150 "$B/kernels_api_gpu_test" --gtest_brief=1 \
  --gtest_filter='MoeFfnW4Form1*:MoeFfnFp8Wgmma*:MoeFfnApi*' > "$R/api_gpu_test.log" 2>&1
echo "api GPU tests (W4A8 forms): exit $? $(tail -1 "$R/api_gpu_test.log")"
timeout 150 "$B/quadrant-kernels-bench" --checks-only --no-ceilings --only "decode_ffn" \
  --out "$R/checks" > "$R/checks.log" 2>&1
echo "decode_ffn checks: exit $?, $(grep -c 'PASS' "$R/checks.log") PASS, $(grep -c 'FAIL' "$R/checks.log") FAIL"
rows=""
for tok in 1 8 16 64; do
  for form in 12 $FORMS; do rows="$rows,w4a8 $tok tok 32e top8 7168/2048 form $form"; done
  rows="$rows,fp8 $tok tok 32e top8 7168/2048"
done
for tok in 32 64 96; do
  for form in 12 $FORMS; do rows="$rows,w4a8 engine $tok tok 128e top8 2048/768 form $form"; done
done
rows=${rows#,}
rev=$(echo "$rows" | tr ',' '\n' | tac | paste -sd, -)
for pass in 1 2 3; do
  only=$rows
  [ $pass = 2 ] && only=$rev
  ceil=--no-ceilings
  [ $pass = 1 ] && ceil=
  timeout 150 "$B/quadrant-kernels-bench" --variants --timing-only $ceil --only "$only" \
    --out "$R/time$pass" > "$R/time$pass.log" 2>&1
  echo "timing pass $pass: exit $? at $(($(date +%s) - t0)) s"
done
grep -h "^ceiling" "$R/time1.log" | head -3
for pass in 1 2 3; do
  grep -h "^time" "$R/time$pass.log" | grep -v -E "(wgmma|wgmma2) \|" | sed "s/^/$pass|/" |
    awk -F"|" '{ print $1 "|" $4 "|" $5 "|" $8 "|" $10 "|" $12 }'
done | sort -t'|' -k3,3 -k1,1 > "$R/summary.txt"
cat "$R/summary.txt" | cut -c1-140
if [ "${NCU:-yes}" = yes ] && command -v ncu > /dev/null; then
  for tok in 1 8; do
    for form in 12 ${FORMS##* }; do
      timeout 60 ncu --clock-control none --section SpeedOfLight --metrics dram__bytes_read.sum \
        --kernel-name regex:moe_decode_gemm_wg "$B/quadrant-kernels-bench" --profile --variants \
        --only "decode_ffn w4a8 $tok tok 32e top8 7168/2048 form $form" \
        > "$R/ncu_form${form}_$tok.txt" 2>&1
      echo "ncu form $form $tok tok: exit $?"
      grep -E "Duration|DRAM Throughput|dram__bytes_read" "$R/ncu_form${form}_$tok.txt" | head -6
    done
  done
fi
echo "all done at $(($(date +%s) - t0)) s"
cd "$OUT" && tar czf w4deep.tgz w4deep && rm -rf w4deep
