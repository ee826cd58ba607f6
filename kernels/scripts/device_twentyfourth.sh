#!/usr/bin/env bash
# Issue 15, twenty-fourth session: one device call on whichever Hopper GPU comes.
#   H200: device_twentythird.sh as it stands (the W4A8 sets under form 12, then decode attention
#         form 24015 timed against 7631 and 32207).
#   H100: the collections H100_SETS names (the twenty-fourth session: the second validation
#         draw, grids/validation2.json, a test set never fitted on, as
#         H100-SXM-validation2, settled as the H100's other sets; no attention timing (24015 was
#         timed there in the twenty-third session).
#   Both, first: FP8 prefill attention variants 8 and 9 (variant 4, the default, with a quarter /
#   half of the softmax's ex2 by a cubic on the FMA pipes) and 10 (4 with the softmax in turns):
#   their checks, the GPU test of every prefill variant, three timing passes of 1x8192 causal
#   (every variant of both formats) and ncu, from the binaries in PF_BIN
#   (quadrant-kernels-bench, kernels_ops_gpu_test). Run on an H100 in the twenty-fourth session
#   (binaries of 66c72e6, variants 8 / 9, and the H100's second validation draw); variant 10 and
#   the H200 branch are still to run (binaries of this commit: .dev/b24/pf10.tar.xz).
#   BIN=.dev/b23/bin.tar.xz PF_BIN=.dev/b24/pf.tar.xz REV=... OUT=... bash kernels/scripts/device_twentyfourth.sh
set -uo pipefail
OUT=${OUT:?set OUT}
REV=${REV:?the revision the binaries were built at}
CAL_S=${CAL_S:-300}
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "GPU: $gpu"
if [ -n "${PF_BIN:-}" ]; then
  P=$(mktemp -d)
  tar xJf "$PF_BIN" -C "$P" || { echo "cannot unpack $PF_BIN" >&2; exit 2; }
  mkdir -p "$OUT/pf"
  nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm --format=csv,noheader > "$OUT/pf/uuid.txt"
  t=$(date +%s)
  timeout 120 "$P/quadrant-kernels-bench" --only "prefill_attention" --checks-only --no-ceilings \
    --out "$OUT/pf/checks" > "$OUT/pf/checks.log" 2>&1
  echo "prefill checks: exit $?, $(grep -c PASS "$OUT/pf/checks.log") PASS, $(grep -c FAIL "$OUT/pf/checks.log") FAIL"
  timeout 120 "$P/kernels_ops_gpu_test" --gtest_brief=1 --gtest_filter='AttentionVariants.Prefill*' \
    > "$OUT/pf/gpu_test.log" 2>&1
  echo "AttentionVariants.Prefill*: exit $?"
  for pass in 1 2 3; do
    timeout 90 "$P/quadrant-kernels-bench" --variants --timing-only \
      --only "prefill_attention fp8 1x8192 causal,prefill_attention bf16 1x8192 causal" \
      --out "$OUT/pf/time$pass" > "$OUT/pf/time$pass.log" 2>&1
    echo "timing pass $pass: exit $?"
  done
  grep -h "1x8192 causal" "$OUT"/pf/time1.log | head -30
  # ncu of FP8 1x8192 causal under variants 4, 8 and 10: the bench's --profile launches each
  # case twice, the default (4) first, then -1 .. 10 but 4; the sm90 kernel's launches are v4
  # x2, v0, v1, v2, v3, v5, v6, v7, v8, v9, v10 x2 each, so the second of each is launch 1, 17
  # and 21 (the first run, of 66c72e6, took 4:1 8:17 9:19).
  if [ "${NCU:-yes}" = yes ] && command -v ncu > /dev/null; then
    for pair in ${NCU_PAIRS:-4:1 8:17 10:21}; do
      timeout 60 ncu --clock-control none -k regex:sm90_prefill_attention_kernel \
        --launch-skip "${pair#*:}" --launch-count 1 --section SpeedOfLight \
        --section ComputeWorkloadAnalysis --section WarpStateStats --section InstructionStats \
        --section LaunchStats --section Occupancy \
        "$P/quadrant-kernels-bench" --profile --variants --only "prefill_attention fp8 1x8192 causal" \
        > "$OUT/pf/ncu_v${pair%%:*}.txt" 2>&1
      echo "ncu variant ${pair%%:*}: exit $?"
    done
  fi
  echo "prefill experiment: $(($(date +%s) - t)) s"
  # One archive: the device tool returns a limited number of files.
  tar czf "$OUT/pf.tgz" -C "$OUT" pf && rm -rf "$OUT/pf"
fi
case $gpu in
  *H200*) BIN="$BIN" REV="$REV" OUT="$OUT" CAL_S="$CAL_S" ATTN_S="${ATTN_S:-150}" \
            bash kernels/scripts/device_twentythird.sh ;;
  *H100*)
    # H100_SETS: the collections (device_validation.sh SETS); the twenty-fourth session ran
    # "H100-SXM-validation2=calibration/grids/validation2.json", the twenty-fifth the rest of
    # the H200's active rounds 3-6. Unset: none. H100_METRICS: the sets that also get the
    # hardware-counter pass (device_validation.sh METRICS), e.g. "H100-SXM-counters" with
    # H100_SETS="H100-SXM-counters=calibration/grids/hopper.json" (never fitted on).
    [ -n "${H100_SETS:-}" ] || { echo "H100: no H100_SETS, no collection"; exit 0; }
    t0=$(date +%s)
    B=$(mktemp -d)
    tar xJf "${BIN:?set BIN}" -C "$B" || { echo "cannot unpack $BIN" >&2; exit 2; }
    mkdir -p "$OUT/cal"
    nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm --format=csv,noheader > "$OUT/cal/uuid.txt"
    OUT="$OUT/cal" KERNELS_REVISION="$REV" PROFILE_BIN="$B/quadrant-profile" PROFILE_TIMEOUT=400 \
      SETTLE_MS=100 SETTLE_ONLY=prefill,_ffn,dense_gemm,mla_decode DEADLINE_S="$CAL_S" \
      METRICS="${H100_METRICS:-}" \
      SETS="$H100_SETS" \
      bash calibration/scripts/device_validation.sh 2>&1 | tail -15
    echo "all done at $(($(date +%s) - t0)) s" ;;
  *) echo "not a Hopper GPU: $gpu"; exit 3 ;;
esac
