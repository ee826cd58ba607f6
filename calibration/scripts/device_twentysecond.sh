#!/usr/bin/env bash
# Issue 15, twenty-second session: the calibration under W4A8 decode form 12 (kMoeW4DecodeForm),
# one device call per GPU, binaries built beforehand at the commit that moved the default.
#   MODE=h100: every *MoeFfn* GPU test and MLA decode's, then every op of every H100 set collected
#     again (kernels 5ad1712 -> today's): the grid and MLA's grid, the validation set and MLA's (new:
#     the H100 model's first held-out error), the grid's recheck; compute-bound ops settled 100 ms
#     as the H200's are, decode attention plain; no counter pass (device_recollect.sh).
#   MODE=h200: every *MoeFfn* GPU test, then the W4A8 FFN shapes alone (decode_ffn/w4a8,
#     prefill_ffn/w4a8: form 12 moves only them) in the twelve fitted H200 sets settled, then the
#     checking copies (H200-validation-fresh plain, as committed).
# A failing test stops the call before any collection. BIN: a tar.xz of quadrant-profile,
# kernels_api_gpu_test, kernels_ops_gpu_test. Results under $OUT: tests/*.log, uuid.txt, and
# device_recollect.sh's files (in $OUT/rechecks for the H200's second pass).
# BUDGET_S (default 560): the call's seconds; the collections' deadlines are cut to fit it, with
# RECHECK_S (default 120) of it kept for the H200's checking copies (0: none collected).
#   MODE=h100|h200 BIN=.dev/b22/bin.tar.xz REV=... OUT=... bash calibration/scripts/device_twentysecond.sh
set -uo pipefail
MODE=${MODE:?h100 or h200}
OUT=${OUT:?set OUT}
REV=${REV:?the kernels revision the binaries were built at}
BUDGET_S=${BUDGET_S:-560}
RECHECK_S=${RECHECK_S:-120}
t0=$(date +%s)
mkdir -p "$OUT/tests"
B=$(mktemp -d)
tar xJf "${BIN:?set BIN}" -C "$B" || { echo "cannot unpack $BIN" >&2; exit 2; }
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm --format=csv,noheader | tee "$OUT/uuid.txt"
# A call for an H200 may be given an H100 (the device tool's rule): the H200 sets are never
# collected on another GPU (the twenty-second session's first MODE=h200 call ran on an H100).
want=${MODE^^}
grep -q "$want" "$OUT/uuid.txt" || { echo "MODE=$MODE on a GPU that is not an $want: stopped"; exit 3; }
fail=0
run_test() {  # run_test NAME BINARY FILTER
  timeout 200 "$B/$2" --gtest_brief=1 --gtest_filter="$3" > "$OUT/tests/$1.log" 2>&1
  local rc=$?
  tail -3 "$OUT/tests/$1.log"
  echo "$1: exit $rc, $(($(date +%s) - t0)) s"
  [ $rc = 0 ] || fail=1
}
run_test moe_ffn kernels_api_gpu_test '*MoeFfn*'
[ "$MODE" = h100 ] && run_test mla kernels_ops_gpu_test 'AttentionVariants.MlaDecode*:QuadrantOp.*'
if [ $fail != 0 ]; then echo "a test failed: nothing collected"; exit 1; fi
common=(KERNELS_REVISION="$REV" PROFILE_BIN="$B/quadrant-profile" PROFILE_TIMEOUT=200)
case $MODE in
  h100)
    env "${common[@]}" OUT="$OUT" GPU=H100 ONLY=_ SETTLE_MS=100 \
      SETTLE_ONLY=prefill,_ffn,dense_gemm,mla_decode DEADLINE_S=$((BUDGET_S - ($(date +%s) - t0))) \
      bash calibration/scripts/device_recollect.sh ;;
  h200)
    env "${common[@]}" OUT="$OUT" ONLY=decode_ffn/w4a8,prefill_ffn/w4a8 SETTLE_MS=100 \
      RECHECKS=no DEADLINE_S=$((BUDGET_S - RECHECK_S - ($(date +%s) - t0))) bash calibration/scripts/device_recollect.sh
    [ "$RECHECK_S" -gt 0 ] || { echo "done in $(($(date +%s) - t0)) s (no checking copies)"; exit 0; }
    mkdir -p "$OUT/rechecks"
    env "${common[@]}" OUT="$OUT/rechecks" ONLY=decode_ffn/w4a8,prefill_ffn/w4a8 SETTLE_MS=100 \
      RECHECKS=only DEADLINE_S=$((BUDGET_S - ($(date +%s) - t0))) bash calibration/scripts/device_recollect.sh ;;
  *) echo "MODE: h100 or h200, not '$MODE'" >&2; exit 2 ;;
esac
echo "done in $(($(date +%s) - t0)) s"
