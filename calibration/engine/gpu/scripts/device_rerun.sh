#!/usr/bin/env bash
# One device job (issue 11) that re-measures the committed cases on the current kernels,
# sized for one call of the session's device share (BUDGET seconds of wall time in all;
# run by the lead 2026-12-03 06:06 UTC on main 011590e, 480 s on the H200):
#  1. engine_gpu_test (label gpu) and `quadrant-engine check` (pinned routing) of the three
#     served configurations;
#  2. per configuration (Qwen3-30B-A3B bf16, w4a8; Mixtral-8x7B fp8): its five cases (longfit added) in one
#     process, each scenario.json as committed (15 s of arrivals; the Poisson rates at 50% /
#     85% of the capacity measured before, so that the cases stay comparable run to run);
#  3. per configuration: the capacity, in one process, over the ascending RATES_<cfg> list
#     (CAP_WINDOW s of arrivals per rate; quadrant-engine stops after the first rate that
#     misses the SLO, so the capacity is bracketed by the last two rates it ran);
#  4. the step benchmark of each configuration, while time is left (each bounded).
# Knobs (2026-12-03 13:00 re-serve on f7d6472, one call of <= 420 s): PD=1 runs the PD pair's
# check-pd + serve-pd (device_pd.sh's stages 2-3, both instances on device 0) after the cases;
# CAP_CFGS orders (and picks) the capacity searches; BENCH_CFGS the benchmarks (empty: none).
# Every stage re-packs $OUT/all.tar.gz; cases under cases/<case>/, capacity under capacity/.
#   OUT=out BIN=bin calibration/engine/gpu/scripts/device_rerun.sh
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
BUDGET=${BUDGET:-530}
CAP_WINDOW=${CAP_WINDOW:-10}
RATES_qwen3_30b_a3b_bf16=${RATES_qwen3_30b_a3b_bf16:-42,43,45}
RATES_qwen3_30b_a3b_w4a8=${RATES_qwen3_30b_a3b_w4a8:-36,38,40}
RATES_mixtral_8x7b_fp8=${RATES_mixtral_8x7b_fp8:-17,19,21}
W=${WORK:-/tmp/engine-rerun}
. "$(dirname "$0")/device_env.sh"
rm -rf "$W" && mkdir -p "$W/capacity" "$W/cases" "$W/checks" "$W/bench"
C=calibration/engine/cases
CFGS="qwen3-30b-a3b-bf16 qwen3-30b-a3b-w4a8 mixtral-8x7b-fp8"
CAP_CFGS=${CAP_CFGS-$CFGS}
BENCH_CFGS=${BENCH_CFGS-qwen3-30b-a3b:bf16 qwen3-30b-a3b:w4a8 mixtral-8x7b:fp8}
PD=${PD:-0}
PD_CASE=$C/qwen3-30b-a3b-w4a8-pd-onegpu
left() { echo $((BUDGET - SECONDS)); }
pack() { cp "$OUT/gpu.txt" "$W/" 2>/dev/null; tar -C "$W" -czf "$OUT/all.tar.gz" .; }
log() { echo "$*" | tee -a "$W/job.log" >&2; }

log "=== stage 1: engine_gpu_test, checks [$SECONDS s]"
timeout 60 "$BIN/engine_gpu_test" 2>&1 | tee "$W/checks/engine_gpu_test.log" |
  grep -E '^\[  |FAILED|rel'
for cfg in qwen3-30b-a3b:bf16 qwen3-30b-a3b:w4a8 mixtral-8x7b:fp8; do
  model=${cfg%%:*} fmt=${cfg##*:}
  timeout 40 "$BIN/quadrant-engine" check \
    --scenario "calibration/engine/gpu/scenarios/bench-$model.json" --format "$fmt" 2>&1 |
    tee "$W/checks/check-$model-$fmt.log"
done
pack

for cfg in $CFGS; do
  t=$(left)
  ((t > 60)) || { log "=== $cfg: cases skipped, $t s left"; continue; }
  args=()
  for name in poisson50 poisson85 bursty longctx longfit; do
    args+=(--case "$C/$cfg-$name")
    mkdir -p "$W/cases/$cfg-$name" && cp "$C/$cfg-$name/scenario.json" "$W/cases/$cfg-$name/"
  done
  log "=== $cfg: cases [$SECONDS s]"
  timeout "$t" "$BIN/quadrant-engine" serve --drain-limit 30 "${args[@]}" --out "$W/cases" 2>&1 |
    tee "$W/cases/serve-$cfg.log"
  pack
done

if ((PD)) && (($(left) > 40)); then
  log "=== PD pair on one GPU: check-pd [$SECONDS s]"
  mkdir -p "$W/pd/cases/$(basename "$PD_CASE")" && cp "$PD_CASE/scenario.json" "$W/pd/cases/$(basename "$PD_CASE")/"
  timeout 70 "$BIN/quadrant-engine" check-pd --scenario "$PD_CASE/scenario.json" \
    --prefill-device 0 --decode-device 0 >"$W/pd/check-pd.log" 2>&1
  log "check-pd exit $? [$SECONDS s]"
  timeout 75 "$BIN/quadrant-engine" serve-pd --case "$PD_CASE" --out "$W/pd/cases" --drain-limit 30 \
    --prefill-device 0 --decode-device 0 >"$W/pd/serve-pd.log" 2>&1
  log "serve-pd exit $? [$SECONDS s]"
  pack
fi

for cfg in $CAP_CFGS; do
  t=$(left)
  ((t > 30)) || { log "=== $cfg: capacity skipped, $t s left"; continue; }
  var=RATES_${cfg//-/_}
  log "=== $cfg: capacity over ${!var} req/s [$SECONDS s]"
  timeout "$t" "$BIN/quadrant-engine" capacity --case "$C/$cfg-poisson85" --rates "${!var}" \
    --duration "$CAP_WINDOW" --drain-limit 20 --out "$W/capacity" >"$W/capacity/capacity-$cfg.log" 2>&1
  tail -n +1 "$W/capacity/$cfg-poisson85-capacity.csv" 2>/dev/null | tee -a "$W/job.log"
  pack
done

for cfg in $BENCH_CFGS; do
  t=$(left)
  ((t > 45)) || { log "=== bench $cfg skipped, $t s left"; continue; }
  model=${cfg%%:*} fmt=${cfg##*:}
  log "=== bench $model $fmt [$SECONDS s]"
  timeout "$((t < 75 ? t : 75))" "$BIN/quadrant-engine" bench \
    --scenario "calibration/engine/gpu/scenarios/bench-$model.json" --format "$fmt" \
    --out "$W/bench/bench-$model-$fmt" >"$W/bench/bench-$model-$fmt.log" 2>&1
  pack
done
log "=== done [$SECONDS s]"
pack
