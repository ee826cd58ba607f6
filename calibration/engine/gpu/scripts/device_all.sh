#!/usr/bin/env bash
# One device job (issue 11): everything the engine's figures need, in priority order, each
# stage under the time left (BUDGET seconds in all):
#  1. engine_gpu_test (label gpu) and `quadrant-engine check` (pinned routing, every layer)
#     of the four configurations;
#  2. per configuration (Qwen3-30B-A3B bf16, w4a8; Mixtral-8x7B fp8): the measured capacity
#     on its poisson85 workload (CAP_WINDOW s of arrivals per rate), searched rate by rate
#     from a first guess, next rate from the TPOT P90 line through the rates so far, until
#     a passing and a missing rate lie at most 2 req/s apart; then its four cases in one
#     process: poisson50 / poisson85 at 50% / 85% of the capacity found, bursty, longctx
#     (CASE_WINDOW s of arrivals each, written into the cases' scenario.json).
# Capacity = the largest rate tried that met the case's SLO (TTFT P90 1 s, TPOT P90 60 ms).
# Everything lands in $OUT/all.tar.gz (re-packed after every stage); the cases' logs under
# cases/<case>/, the capacity runs under capacity/.
#   OUT=out BIN=bin calibration/engine/gpu/scripts/device_all.sh
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
BUDGET=${BUDGET:-480}
CAP_WINDOW=${CAP_WINDOW:-12}
CASE_WINDOW=${CASE_WINDOW:-15}
W=${WORK:-/tmp/engine-all}
. "$(dirname "$0")/device_env.sh"
rm -rf "$W" && mkdir -p "$W/capacity" "$W/cases" "$W/checks"
C=calibration/engine/cases
left() { echo $((BUDGET - SECONDS)); }
pack() { cp "$OUT/gpu.txt" "$W/" 2>/dev/null; tar -C "$W" -czf "$OUT/all.tar.gz" .; }
log() { echo "$*" | tee -a "$W/job.log" >&2; }

log "=== stage 1: engine_gpu_test, checks [$SECONDS s]"
timeout 60 "$BIN/engine_gpu_test" 2>&1 | tee "$W/checks/engine_gpu_test.log" |
  grep -E '^\[  |FAILED|rel'
for cfg in qwen3-30b-a3b:bf16 qwen3-30b-a3b:fp8 qwen3-30b-a3b:w4a8 mixtral-8x7b:fp8; do
  model=${cfg%%:*} fmt=${cfg##*:}
  timeout 40 "$BIN/quadrant-engine" check \
    --scenario "calibration/engine/gpu/scenarios/bench-$model.json" --format "$fmt" 2>&1 |
    tee "$W/checks/check-$model-$fmt.log"
done
pack

# One rate of the capacity search: prints "pass tpot_ms" (pass 1/0).
one_rate() {  # cfg rate
  local cfg=$1 rate=$2 t
  t=$(left)
  ((t > 25)) || return 1
  local row csv=$W/capacity/$cfg-poisson85-capacity.csv
  rm -f "$csv"
  timeout "$t" "$BIN/quadrant-engine" capacity --case "$C/$cfg-poisson85" --rates "$rate" \
    --duration "$CAP_WINDOW" --drain-limit 20 --out "$W/capacity" >>"$W/capacity/capacity-$cfg.log" 2>&1
  row=$(tail -n 1 "$csv" 2>/dev/null) || return 1
  echo "$row" >>"$W/capacity/$cfg-rates.csv"
  awk -F, '{ print $6, $5 }' <<<"$row"
}

# search cfg first_rate slope: TPOT P90 grows about `slope` ms per req/s near capacity.
search() {
  local cfg=$1 r=$2 slope=$3 lo=0 lo_t=0 hi=0 hi_t=0 n=0 p t
  echo "rate_per_s,requests,finished,ttft_ms,tpot_ms,pass" >"$W/capacity/$cfg-rates.csv"
  while ((n < 5)); do
    read -r p t < <(one_rate "$cfg" "$r") || break
    [ -n "${p:-}" ] || break
    n=$((n + 1))
    log "  $cfg rate $r: TPOT P90 $t ms, pass $p"
    if [ "$p" = 1 ]; then
      ((r > lo)) && { lo_t=$t; lo=$r; }
    else
      ((hi == 0 || r < hi)) && { hi_t=$t; hi=$r; }
    fi
    if ((lo > 0 && hi > 0 && hi - lo <= 2)); then break; fi
    if ((lo > 0 && hi > 0)); then  # both sides: the crossing of the line through them
      r=$(awk -v a="$lo" -v ta="$lo_t" -v b="$hi" -v tb="$hi_t" 'BEGIN {
        c = (tb > ta) ? a + (60 - ta) * (b - a) / (tb - ta) : (a + b) / 2
        c = int(c + 0.5); if (c <= a) c = a + 1; if (c >= b) c = b - 1; print c }')
    elif ((lo > 0)); then
      r=$(awk -v a="$lo" -v ta="$lo_t" -v s="$slope" 'BEGIN {
        d = int((60 - ta) / s + 0.5); if (d < 2) d = 2; if (d > 6) d = 6; print a + d }')
    else
      r=$(awk -v b="$hi" -v tb="$hi_t" -v s="$slope" 'BEGIN {
        d = int((tb - 60) / s + 0.5); if (d < 2) d = 2; if (d > 6) d = 6; print b - d }')
    fi
  done
  echo "$lo"
}

pct() { awk -v c="$1" -v p="$2" 'BEGIN { printf "%.1f", c * p }'; }

for job in qwen3-30b-a3b-bf16:31:1.6 qwen3-30b-a3b-w4a8:27:2.5 mixtral-8x7b-fp8:17:3; do
  IFS=: read -r cfg first slope <<<"$job"
  log "=== $cfg: capacity from $first req/s [$SECONDS s]"
  cap=$(search "$cfg" "$first" "$slope" | tail -n 1)
  log "$cfg capacity $cap req/s [$SECONDS s]"
  pack
  args=()
  for name in poisson50 poisson85 bursty longctx; do
    f=$C/$cfg-$name/scenario.json
    sed -i -E "s/(\"duration\": \")[0-9.]+s/\1${CASE_WINDOW}s/" "$f"
    case $name in  # the Poisson rates from the capacity found; a request cap the window binds
      poisson50) ((cap > 0)) && sed -i -E "s/(\"rate\": )[0-9.]+/\1$(pct "$cap" 0.5)/; s/(\"max_requests\": )[0-9]+/\11000/" "$f" ;;
      poisson85) ((cap > 0)) && sed -i -E "s/(\"rate\": )[0-9.]+/\1$(pct "$cap" 0.85)/; s/(\"max_requests\": )[0-9]+/\11000/" "$f" ;;
    esac
    args+=(--case "$C/$cfg-$name")
    mkdir -p "$W/cases/$cfg-$name" && cp "$f" "$W/cases/$cfg-$name/scenario.json"
  done
  t=$(left)
  if ((t > 40)); then
    log "=== $cfg: cases [$SECONDS s]"
    timeout "$t" "$BIN/quadrant-engine" serve --drain-limit 30 "${args[@]}" --out "$W/cases" 2>&1 |
      tee "$W/cases/serve-$cfg.log"
  fi
  pack
done
log "=== done [$SECONDS s]"
pack
