#!/usr/bin/env bash
# Issue 15, ninth session, second device call: the final GPU checks of the kernels, timings of the
# BF16 / FP8 decode MoE GEMMs' 32-row tiles (QUADRANT_MOE_BLOCK_M) and shared-memory stages
# (QUADRANT_MOE_STAGES), the choice of new defaults by the landing rule, and, where one wins,
# decode_ffn / prefill_ffn collected again in every H200 set under it. Binaries built on the dev
# machine (nvcc 13.0, sm_90a) in $B/bin.tar.xz: quadrant-kernels-bench (and -main, built from
# main: "before"), kernels_api_gpu_test, kernels_ops_gpu_test, engine_gpu_test, quadrant-engine,
# quadrant-profile. Steps:
#  1. kernels_api_gpu_test, kernels_ops_gpu_test in full; calibration/engine/gpu/scripts/
#     device_checks.sh (engine GPU tests, pinned-routing checks, serve smoke); the decode_ffn
#     checks of quadrant-kernels-bench (--only decode_ffn --checks-only).
#  2. decode_ffn timings (32 experts top-8, 7168/2048; 1, 8, 16, 64 tokens; graph replays): main's
#     binary, this binary's defaults (base) and each candidate of CANDS (BF16 / FP8 rows), two
#     passes in alternation, the copy ceiling in the first run and at the end.
#  3. Per format, the landing rule (kernels/PERF.md, ninth session): a candidate wins if one of
#     its rows is >= 3% faster than base in both passes (its slower pass against base's faster)
#     and no row is slower than base's slower pass by more than the larger spread of the two
#     passes; of the winners, the lowest sum of log(time / base). The choice goes to choice.env.
#  4. Where a format chose: the decode_ffn checks under the choice, then ONLY=_ffn collected in
#     every H200 set under it (calibration/scripts/device_validation.sh with device_recollect.sh's
#     sets, H200-recheck right after the second draw so that the deadline cuts the check-only
#     copies of the validation set first), profiles to $OUT/cal/profiles.tgz.
# Results: $OUT/tiles.tgz (logs, summary, choice) and $OUT/cal/ (profiles.tgz, logs.tgz).
#   B=.dev/kernels9 OUT=... KERNELS_REVISION=REV bash kernels/scripts/device_decode_tiles.sh
set -uo pipefail
B=${B:-devbin}
tar xJf "$B/bin.tar.xz" -C "$B"
R=${OUT:-$PWD/out-tiles}/r
mkdir -p "$R"
t0=$(date +%s)
END_S=${END_S:-405}  # the call's limit less the packing
el() { echo $(( $(date +%s) - t0 )); }
OUT0=${OUT:-}
OUT=$R . calibration/engine/gpu/scripts/device_env.sh > /dev/null  # CUDA 13 runtime, cuBLASLt
OUT=$OUT0
timeout 90 "$B/kernels_api_gpu_test" --gtest_brief=1 > "$R/tests.log" 2>&1
echo "api tests rc=$? ($(el) s)"; tail -1 "$R/tests.log"
timeout 40 "$B/kernels_ops_gpu_test" --gtest_brief=1 >> "$R/tests.log" 2>&1
echo "ops tests rc=$? ($(el) s)"; tail -1 "$R/tests.log"
mkdir -p "$R/checks"
OUT=$R/checks BIN=$B timeout 200 bash calibration/engine/gpu/scripts/device_checks.sh > "$R/checks/checks.log" 2>&1
echo "engine checks rc=$? ($(el) s)"
grep -E "PASS|FAIL|passed|tests ran|=== check|finished" "$R/checks/checks.log" | head -40 > "$R/engine_summary.txt"
grep -cE " PASS$" "$R/checks/checks.log"; grep -E "tests ran|PASSED|finished" "$R/checks/checks.log" | head -5
timeout 90 "$B/quadrant-kernels-bench" --only decode_ffn --checks-only > "$R/ffn_checks.log" 2>&1
echo "decode_ffn checks rc=$? ($(el) s): $(grep -c PASS "$R/ffn_checks.log") PASS"; grep -E "FAIL|ERROR|failures" "$R/ffn_checks.log" | head -5

ALL=" tok 32e top8 7168/2048"
BF="decode_ffn bf16 1 tok 32e top8 7168/2048,decode_ffn bf16 8 tok 32e top8 7168/2048,decode_ffn bf16 16 tok 32e top8 7168/2048,decode_ffn bf16 64 tok 32e top8 7168/2048"
FP=${BF//bf16/fp8}
# name=BLOCK_M:STAGES for both formats
CANDS=${CANDS:-"s4=16:4 s5=16:5 s6=16:6 auto=auto:3 autos4=auto:4 autos5=auto:5 autos6=auto:6"}
time_run() {  # time_run NAME BIN ONLY [ENV ...]
  local name=$1 bin=$2 only=$3; shift 3
  env "$@" timeout 60 "$bin" --timing-only $ceil --only "$only" > "$R/time_$name.log" 2>&1
  echo "$name rc=$? ($(el) s)"
  ceil=--no-ceilings
}
ceil=""
for pass in 1 2; do
  time_run "main_$pass" "$B/quadrant-kernels-bench-main" "$ALL"
  time_run "base_$pass" "$B/quadrant-kernels-bench" "$ALL"
  for c in $CANDS; do
    n=${c%%=*} v=${c#*=}
    time_run "${n}_$pass" "$B/quadrant-kernels-bench" "$BF,$FP" QUADRANT_MOE_BLOCK_M=${v%%:*} QUADRANT_MOE_STAGES=${v#*:}
  done
done
ceil="" time_run ceiling_end "$B/quadrant-kernels-bench" nothing  # (call 2 ran it with --no-ceilings)
grep -h "^ceiling: device" "$R"/time_*.log
for f in "$R"/time_*.log; do
  echo "== $(basename "$f" .log)"
  grep "^time" "$f" | awk -F'|' '{ printf "%s|%s|%s|%s\n", $3, $4, $7, $11 }'
done > "$R/summary.txt"
# The landing rule per format (step 3).
awk -F'|' -v cands="$CANDS" '
  /^== time_/ { run = substr($0, 9); next }
  { f = $1; gsub(/ /, "", f); split($2, s, " "); t[run, f, s[1]] = $3 + 0 }
  END {
    n = split(cands, cs, " ")
    split("bf16 fp8", fmts, " "); split("1 8 16 64", toks, " ")
    for (fi = 1; fi <= 2; ++fi) {
      f = fmts[fi]; best = ""; bestsum = 0
      for (i = 1; i <= n; ++i) {
        split(cs[i], kv, "="); c = kv[1]; win = 0; slow = 0; sum = 0
        for (j = 1; j <= 4; ++j) {
          k = toks[j]; b1 = t["base_1", f, k]; b2 = t["base_2", f, k]; c1 = t[c "_1", f, k]; c2 = t[c "_2", f, k]
          if (!b1 || !b2 || !c1 || !c2) { slow = 1; continue }
          bmin = b1 < b2 ? b1 : b2; bmax = b1 > b2 ? b1 : b2; cmin = c1 < c2 ? c1 : c2; cmax = c1 > c2 ? c1 : c2
          spread = (bmax - bmin) > (cmax - cmin) ? (bmax - bmin) : (cmax - cmin)
          if (cmax <= 0.97 * bmin) win = 1
          if (cmin > bmax + spread) slow = 1
          sum += log(cmin / bmin)
          printf "%s %s %s tok: base %.4f/%.4f cand %.4f/%.4f (%+.1f%%)\n", f, c, k, b1, b2, c1, c2, 100 * (cmin / bmin - 1) > "/dev/stderr"
        }
        printf "%s %s: win %d slower %d sum %.4f\n", f, c, win, slow, sum > "/dev/stderr"
        if (win && !slow && (best == "" || sum < bestsum)) { best = cs[i]; bestsum = sum }
      }
      print f, (best == "" ? "none" : best)
    }
  }' "$R/summary.txt" > "$R/choice.txt" 2> "$R/rule.txt"
cat "$R/rule.txt" | grep -E "win|%" | head -80; cat "$R/choice.txt"
bf=$(awk '$1 == "bf16" { print $2 }' "$R/choice.txt"); fp=$(awk '$1 == "fp8" { print $2 }' "$R/choice.txt")
pick() {  # pick CHOICE FIELD DEFAULT -> block_m (1) or stages (2) of a choice, or the default
  if [ "$1" = "none" ] || [ -z "$1" ]; then echo "$3"; else v=${1#*=}; [ "$2" = 1 ] && echo "${v%%:*}" || echo "${v#*:}"; fi
}
if [ "$bf" != "none" ] || [ "$fp" != "none" ]; then
  bm="$(pick "$bf" 1 16),$(pick "$fp" 1 16)" st="$(pick "$bf" 2 3),$(pick "$fp" 2 3)"
  E="QUADRANT_MOE_BLOCK_M=$bm QUADRANT_MOE_STAGES=$st"
  echo "$E" > "$R/choice.env"; echo "choice: $E"
  env $E timeout 90 "$B/quadrant-kernels-bench" --only decode_ffn --checks-only > "$R/ffn_checks_choice.log" 2>&1
  echo "decode_ffn checks under the choice rc=$? ($(el) s): $(grep -c PASS "$R/ffn_checks_choice.log") PASS"
  grep -E "FAIL|ERROR|failures" "$R/ffn_checks_choice.log" | head -5
  g=calibration/grids
  sets=""
  for s in H200=hopper H200-shards=hopper-shards H200-active=hopper-active H200-active2=hopper-active2 \
    H200-active3=hopper-active3 H200-active4=hopper-active4 H200-active5=hopper-active5 \
    H200-active6=hopper-active6 \
    H200-validation=validation H200-validation2=validation2 H200-recheck=hopper \
    H200-validation-recheck=validation H200-validation-fresh=validation; do
    sets+=" ${s%%=*}=$g/${s#*=}.json@_ffn"
  done
  left=$(( END_S - $(el) - 5 ))
  echo "collecting under the choice, deadline $left s"
  env $E OUT=$OUT/cal METRICS="H200" DEADLINE_S=$left PROFILE_TIMEOUT=150 PROFILE_BIN=$B/quadrant-profile \
    KERNELS_REVISION="${KERNELS_REVISION:-unknown}+block_m=$bm+stages=$st" SETS="$sets" \
    bash calibration/scripts/device_validation.sh > "$R/collect.log" 2>&1
  echo "collect rc=$? ($(el) s)"; tail -20 "$R/collect.log"
else
  echo "no format chose a new default: no collection"
fi
cd "$R/.." && tar czf tiles.tgz r && rm -rf r
