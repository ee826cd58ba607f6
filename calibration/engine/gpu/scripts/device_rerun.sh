#!/usr/bin/env bash
# One device job (issue 11, second pass): the capacity the first cases missed and the
# Poisson cases at 50% / 85% of it, then the GPU tests and the consistency checks' growth
# with depth. Stages in priority order, each under the time left (BUDGET seconds in all);
# each stage's files land in $OUT/<stage>.tar.gz as soon as it ends.
#  1. Qwen3-30B-A3B bf16: capacity on its poisson85 workload from 26 req/s up (25 met).
#  2. Qwen3 bf16 and w4a8 poisson85 at 85% of the measured capacity (w4a8: 23 req/s, the
#     first capacity run), 20 s of arrivals (max_requests raised so that the window binds).
#  3. Mixtral-8x7B fp8: capacity, then its poisson50 / poisson85 at 50% / 85% of it.
#  4. engine_gpu_test (small kernels, executor checks, KV transfer on one GPU).
#  5. quadrant-engine check (pinned routing) on the first L layers, L = 1, 4, 16: how the
#     paths' logit difference grows with depth, per format.
# The capacity = the largest rate tried that met the case's SLO (quadrant-engine capacity).
#   OUT=out BIN=bin calibration/engine/gpu/scripts/device_rerun.sh
set -uo pipefail
OUT=${OUT:-out}
BIN=${BIN:-bin}
BUDGET=${BUDGET:-520}
W=${WORK:-/tmp/rerun}
. "$(dirname "$0")/device_env.sh"
rm -rf "$W" && mkdir -p "$W"
C=calibration/engine/cases
left() { echo $((BUDGET - SECONDS)); }
pack() { tar -C "$W" -czf "$OUT/$1.tar.gz" "$1"; }

# Largest passing rate of a capacity table (0 when none passed).
capacity_of() { awk -F, 'NR > 1 && $6 == 1 { c = $1 } END { print c + 0 }' "$1"; }

capacity() {  # stage cfg rates
  local stage=$1 cfg=$2 rates=$3 t
  t=$(left); ((t > 30)) || return 1
  mkdir -p "$W/$stage"
  timeout "$t" "$BIN/quadrant-engine" capacity --case "$C/$cfg-poisson85" --rates "$rates" \
    --duration 12 --drain-limit 20 --out "$W/$stage" 2>&1 | tee "$W/$stage/capacity.log"
  pack "$stage"
}

# serve stage cfg case:rate ...: each case's scenario.json with its rate set (and a request
# cap that 20 s of arrivals cannot reach), served by one process.
serve() {
  local stage=$1 cfg=$2 t args=()
  shift 2
  mkdir -p "$W/$stage"
  for job in "$@"; do
    local name=${job%%:*} rate=${job##*:}
    sed -i -E "s/(\"rate\": )[0-9.]+/\1$rate/; s/(\"max_requests\": )[0-9]+/\11000/" \
      "$C/$cfg-$name/scenario.json"
    args+=(--case "$C/$cfg-$name")
  done
  t=$(left); ((t > 30)) || return 1
  timeout "$t" "$BIN/quadrant-engine" serve --drain-limit 30 "${args[@]}" --out "$W/$stage" 2>&1 |
    tee "$W/$stage/serve.log"
  for job in "$@"; do cp "$C/$cfg-${job%%:*}/scenario.json" "$W/$stage/${job%%:*}.scenario.json"; done
  pack "$stage"
}

pct() { awk -v c="$1" -v p="$2" 'BEGIN { printf "%.1f", c * p }'; }

echo "=== stage 1: bf16 capacity"
capacity cap-bf16 qwen3-30b-a3b-bf16 26,27,28,29,30,31,32,34
bf16=$(capacity_of "$W/cap-bf16/qwen3-30b-a3b-bf16-poisson85-capacity.csv")
echo "bf16 capacity $bf16 req/s; w4a8 23 req/s (first run)"
echo "=== stage 2: poisson85 at 85% (bf16 $(pct "$bf16" 0.85), w4a8 $(pct 23 0.85)) [$SECONDS s]"
if [ "${bf16%.*}" -ge 25 ]; then
  serve serve-bf16 qwen3-30b-a3b-bf16 "poisson85:$(pct "$bf16" 0.85)"
fi
serve serve-w4a8 qwen3-30b-a3b-w4a8 "poisson85:$(pct 23 0.85)"
echo "=== stage 3: mixtral capacity and cases [$SECONDS s]"
capacity cap-mixtral mixtral-8x7b-fp8 15,16,17,18,19,20,21,22,24
mix=$(capacity_of "$W/cap-mixtral/mixtral-8x7b-fp8-poisson85-capacity.csv")
echo "mixtral capacity $mix req/s"
if [ "${mix%.*}" -gt 0 ]; then
  serve serve-mixtral mixtral-8x7b-fp8 "poisson50:$(pct "$mix" 0.5)" "poisson85:$(pct "$mix" 0.85)"
fi
echo "=== stage 4: engine_gpu_test [$SECONDS s]"
mkdir -p "$W/gputest"
t=$(left)
((t > 20)) && timeout "$t" "$BIN/engine_gpu_test" 2>&1 | tee "$W/gputest/engine_gpu_test.log" |
  grep -E '^\[  |FAILED|rel'
pack gputest
echo "=== stage 5: consistency vs depth [$SECONDS s]"
mkdir -p "$W/depth"
for layers in 1 4 16; do
  for cfg in qwen3-30b-a3b:bf16 qwen3-30b-a3b:fp8 qwen3-30b-a3b:w4a8 mixtral-8x7b:fp8; do
    t=$(left)
    ((t > 15)) || break 2
    model=${cfg%%:*} fmt=${cfg##*:}
    echo "--- $model $fmt layers $layers"
    timeout "$t" "$BIN/quadrant-engine" check --layers "$layers" \
      --scenario "calibration/engine/gpu/scenarios/bench-$model.json" --format "$fmt" 2>&1 |
      tee "$W/depth/check-$model-$fmt-L$layers.log"
  done
  pack depth
done
pack depth
echo "=== done [$SECONDS s]"
