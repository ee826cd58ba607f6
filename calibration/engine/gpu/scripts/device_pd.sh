#!/usr/bin/env bash
# The PD pair on ONE GPU (issue 11, deliverable 6; until a two-GPU kind is lent): builds
# nothing (binaries in $BIN), runs
#  1. engine_gpu_test (label gpu: kv_copy_blocks, KvTransferThenDecodeMatchesDecodingInPlace, ...);
#  2. `quadrant-engine check-pd`: the pair's greedy tokens == the colocated engine's (pinned
#     routing), both instances on device 0;
#  3. `quadrant-engine serve-pd` of the case qwen3-30b-a3b-w4a8-pd-onegpu with both instances
#     on device 0 (they share the GPU: NOT the two-GPU result).
# On a two-GPU machine: PREFILL_DEVICE=0 DECODE_DEVICE=1 (and a case of its own).
#   OUT=out BIN=bin calibration/engine/gpu/scripts/device_pd.sh
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
P=${PREFILL_DEVICE:-0}
D=${DECODE_DEVICE:-0}
CASE=${CASE:-calibration/engine/cases/qwen3-30b-a3b-w4a8-pd-onegpu}
W=${WORK:-/tmp/engine-pd}
. "$(dirname "$0")/device_env.sh"
rm -rf "$W" && mkdir -p "$W/cases"
pack() { cp "$OUT/gpu.txt" "$W/" 2>/dev/null; tar -C "$W" -czf "$OUT/pd.tar.gz" .; }
log() { echo "$*" | tee -a "$W/job.log" >&2; }
nvidia-smi -L | tee -a "$W/job.log"

log "=== engine_gpu_test [$SECONDS s]"
timeout 30 "$BIN/engine_gpu_test" 2>&1 | tee "$W/engine_gpu_test.log" | grep -E '^\[  |FAILED'
pack
log "=== check-pd, prefill on $P, decode on $D [$SECONDS s]"
timeout 70 "$BIN/quadrant-engine" check-pd --scenario "$CASE/scenario.json" \
  --prefill-device "$P" --decode-device "$D" 2>&1 | tee "$W/check-pd.log"
log "check-pd exit ${PIPESTATUS[0]} [$SECONDS s]"
pack
log "=== serve-pd $CASE [$SECONDS s]"
name=$(basename "$CASE")
mkdir -p "$W/cases/$name" && cp "$CASE/scenario.json" "$W/cases/$name/"
timeout 75 "$BIN/quadrant-engine" serve-pd --case "$CASE" --out "$W/cases" --drain-limit 30 \
  --prefill-device "$P" --decode-device "$D" 2>&1 | tee "$W/cases/serve-pd.log"
log "serve-pd exit ${PIPESTATUS[0]} [$SECONDS s]"
pack
