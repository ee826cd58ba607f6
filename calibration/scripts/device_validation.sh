#!/usr/bin/env bash
# The device job of issue 12 in one call, timing only (no counter pass):
#   1. clock probe on a cool GPU (grids/clock_probe.json: the shapes whose H200 time was
#      bimodal, and two controls),
#   2. the fitting grid (grids/hopper.json) again, on this machine,
#   3. the fitting shards (grids/hopper-shards.json),
#   4. the validation set (grids/validation.json), twice (the second: its noise floor),
#   5. the clock probe again, on a GPU hot from minutes of load,
# while nvidia-smi logs SM clock, power, temperature and clock-event reasons every 100 ms.
#   OUT=/tmp/out KERNELS_REVISION=REV calibration/scripts/device_validation.sh
#   ONLY_GRID=calibration/grids/hopper-active.json ...: that grid alone (active sampling)
#   SETS="NAME=GRID[@ONLY] ...": these collections instead, in this order (NAME as in profiles/;
#   @ONLY: that set's ops only, as ONLY_OP)
#   ONLY_OP=SUBSTRING: only the ops whose name contains it (quadrant-profile --only), e.g.
#   the ops of new kernels re-collected in every set; METRICS="NAME ...": the sets that also
#   get the hardware-counter pass (the baseline grid carries counters).
#   SETTLE_MS=MS: quadrant-profile --settle-ms MS (each shape's clock settled at its own level
#   before it is timed: calibration/README.md "Settling the clock before timing a shape").
#   SETTLE_ONLY=SUBSTRING[:MS][,...]: only these ops settled, for MS where given (quadrant-profile
#   --settle-only).
#   DEADLINE_S=N: no collection runs past N s from the start (each set's timeout is cut to
#   what is left, a set with under 10 s left is skipped), so that the archives below are
#   always written within the device call's limit.
# Writes $OUT/profiles.tgz (<set>/<gpu>/<op>.json), $OUT/logs.tgz, $OUT/smi.csv.gz.
set -euo pipefail
OUT=${OUT:-$PWD/out-validation}
BUILD=${BUILD:-/tmp/quadrant-build-collector}
mkdir -p "$OUT"
DATA=$(mktemp -d)
LOGS=$(mktemp -d)
query=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,temperature.memory
( nvidia-smi --query-gpu=$query,clocks_event_reasons.active --format=csv -lms 100 2> /dev/null ||
  nvidia-smi --query-gpu=$query,clocks_throttle_reasons.active --format=csv -lms 100 ) \
  > "$LOGS/smi.csv" &
nvidia-smi -q -d CLOCK,POWER,TEMPERATURE,PERFORMANCE > "$LOGS/smi-start.txt" 2>&1 || true
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
t0=$(date +%s)
PROFILE=$BUILD/calibration/collector/quadrant-profile
# PROFILE_BIN: a quadrant-profile built beforehand (saves the build). Given but missing or lacking a
# library, it is an error: a build from this checkout would time other kernels under the
# KERNELS_REVISION given for the prebuilt one (the twenty-first session's prefill collection).
if [ -n "${PROFILE_BIN:-}" ]; then
  if [ ! -x "$PROFILE_BIN" ] || ldd "$PROFILE_BIN" | grep -q "not found"; then
    echo "PROFILE_BIN=$PROFILE_BIN: not an executable whose libraries are all found here" >&2
    ldd "$PROFILE_BIN" 2>&1 | grep "not found" >&2 || true
    exit 2
  fi
  PROFILE=$PROFILE_BIN
  echo "prebuilt $PROFILE_BIN"
elif ! { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DQUADRANT_CUDA_ONLY=ON -DQUADRANT_BUILD_TESTS=OFF "${generator[@]}" &&
       cmake --build "$BUILD" -j "$(nproc)" --target quadrant-profile; } > "$LOGS/build.log" 2>&1; then
  tail -60 "$LOGS/build.log"
  tar czf "$OUT/logs.tgz" -C "$LOGS" .
  exit 1
fi
echo "build: $(( $(date +%s) - t0 )) s"
collect() {  # collect NAME GRID [ONLY]: one process, timing only unless METRICS names it; a NAME
  # given twice (MLA decode's own grids beside a set's) writes beside the first and appends its log
  local t=$(date +%s) extra=() only=${3:-${ONLY_OP:-}} limit=${PROFILE_TIMEOUT:-300}
  if [ -n "${DEADLINE_S:-}" ]; then
    local left=$(( t0 + DEADLINE_S - t ))
    if [ "$left" -lt 10 ]; then echo "$1: skipped (${left} s left of DEADLINE_S)"; return; fi
    [ "$left" -lt "$limit" ] && limit=$left
  fi
  [ -n "$only" ] && extra+=(--only "$only")
  [ -n "${SETTLE_MS:-}" ] && extra+=(--settle-ms "$SETTLE_MS")
  [ -n "${SETTLE_ONLY:-}" ] && extra+=(--settle-only "$SETTLE_ONLY")
  [[ " ${METRICS:-} " == *" $1 "* ]] || extra+=(--no-metrics)
  echo "== $1 ($2) at $(date -u +%H:%M:%S)" | tee -a "$LOGS/smi-marks.txt"
  timeout "$limit" "$PROFILE" --grid "$2" --out "$DATA/$1" \
    --kernels-revision "${KERNELS_REVISION:-unknown}" "${extra[@]}" >> "$LOGS/$1.log" 2>&1 ||
    echo "$1: quadrant-profile exit $?"
  grep -E "^(wrote|collected|skip)" "$LOGS/$1.log" | head -20 || true
  echo "$1: $(( $(date +%s) - t )) s"
}
if [ -n "${ONLY_GRID:-}" ]; then  # one more fitting set alone (active sampling)
  collect "$(basename "$ONLY_GRID" .json)" "$ONLY_GRID"
elif [ -n "${SETS:-}" ]; then
  for set in $SETS; do
    spec=${set#*=}
    if [[ $spec == *@* ]]; then collect "${set%%=*}" "${spec%@*}" "${spec##*@}"; else collect "${set%%=*}" "$spec"; fi
  done
else
  collect probe-cool calibration/grids/clock_probe.json
  collect validation calibration/grids/validation.json
  collect grid calibration/grids/hopper.json
  collect shards calibration/grids/hopper-shards.json
  collect validation-recheck calibration/grids/validation.json
  collect probe-hot calibration/grids/clock_probe.json
fi
nvidia-smi -q -d CLOCK,POWER,TEMPERATURE,PERFORMANCE > "$LOGS/smi-end.txt" 2>&1 || true
kill %1 2> /dev/null || true
sleep 0.3
for p in probe-cool probe-hot; do
  [ -f "$LOGS/$p.log" ] && { grep -E "us  noise" "$LOGS/$p.log" | sed "s/^/$p /" || true; }
done
gzip -c "$LOGS/smi.csv" > "$OUT/smi.csv.gz"
rm "$LOGS/smi.csv"
tar czf "$OUT/logs.tgz" -C "$LOGS" .
tar czf "$OUT/profiles.tgz" -C "$DATA" .
ls -la "$OUT"
