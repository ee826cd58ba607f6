#!/usr/bin/env bash
# Issue 15, twenty-third session: one device call on whichever Hopper GPU comes.
#   (1) Calibration first, by GPU: on an H100 its shards and active round 6
#       (H100-SXM-shards, H100-SXM-active6: the head dims 64 / 256 and the wgmma decode FFN
#       shapes its model lacks), compute-bound ops settled 100 ms as in device_twentysecond.sh;
#       on an H200 the W4A8 sets under form 12 (device_twentysecond.sh MODE=h200).
#   (2) Decode attention form 24015 (7631 + 16384, never run) checked and timed against 7631 and
#       32207: device_fourteenth.sh PART=2 without its ncu steps.
# BIN: a tar.xz of quadrant-profile, quadrant-kernels-bench, kernels_api_gpu_test,
# kernels_ops_gpu_test built at REV. CAL_S (default 300): seconds for (1).
#   BIN=.dev/b23/bin.tar.xz REV=... OUT=... bash kernels/scripts/device_twentythird.sh
set -uo pipefail
OUT=${OUT:?set OUT}
REV=${REV:?the revision the binaries were built at}
CAL_S=${CAL_S:-300}
t0=$(date +%s)
B=$(mktemp -d)
tar xJf "${BIN:?set BIN}" -C "$B" || { echo "cannot unpack $BIN" >&2; exit 2; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "GPU: $gpu"
case $gpu in
  *H100*)
    mkdir -p "$OUT/cal"
    nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm --format=csv,noheader > "$OUT/cal/uuid.txt"
    g=calibration/grids
    OUT="$OUT/cal" KERNELS_REVISION="$REV" PROFILE_BIN="$B/quadrant-profile" PROFILE_TIMEOUT=200 \
      SETTLE_MS=100 SETTLE_ONLY=prefill,_ffn,dense_gemm,mla_decode DEADLINE_S="$CAL_S" METRICS="" \
      SETS="H100-SXM-shards=$g/hopper-shards.json@_ H100-SXM-active6=$g/hopper-active6.json@_" \
      bash calibration/scripts/device_validation.sh 2>&1 | tail -15 ;;
  *H200*)
    MODE=h200 BIN="$BIN" REV="$REV" OUT="$OUT/cal" BUDGET_S="$CAL_S" RECHECK_S=90 \
      bash calibration/scripts/device_twentysecond.sh 2>&1 | tail -25 ;;
  *) echo "not a Hopper GPU: $gpu"; exit 3 ;;
esac
echo "calibration done at $(($(date +%s) - t0)) s"
# ATTN_S=0: the calibration alone (a call short of device time).
[ "${ATTN_S:-200}" -gt 0 ] &&
  OUT="$OUT" B="$B" PART=2 NCU=no STOP_S=${ATTN_S:-200} bash kernels/scripts/device_fourteenth.sh
echo "all done at $(($(date +%s) - t0)) s"
