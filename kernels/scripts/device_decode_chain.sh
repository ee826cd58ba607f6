#!/usr/bin/env bash
# Issue 15, seventh session: the decode MoE FFN's launch chain (plan::moe_pdl) in one device
# call, on binaries built on the dev machine (nvcc 13.0, sm_90a) and copied to $B: the MoE GPU
# tests (with the bitwise chain-against-plain test), the ops tests, the SASS of the chain's
# griddepcontrol and prefetch instructions, then timings of decode_ffn (BF16, FP8, W4A8 at 1,
# 8, 16 and 64 tokens; graph replays) for the binary built from main ($B/quadrant-kernels-bench-main,
# "before") and the new binary under each launch configuration, twice in alternation, with the
# copy ceiling measured in the first and last run; then every decode_ffn check (small shapes,
# all W4A8 forms, and each timed shape) under the chain. Results to $OUT/chain.tgz.
#   B=devbin OUT=... kernels/scripts/device_decode_chain.sh
# CONFIGS: "name=ENV,ENV ..." (the new binary), e.g. "pdl=QUADRANT_MOE_PDL=1".
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-chain}/r
mkdir -p "$R"
t0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
timeout 90 "$B/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='*Moe*:*EveryDevice*' > "$R/tests.log" 2>&1
echo "api tests rc=$? ($(( $(date +%s) - t0 )) s)"; tail -1 "$R/tests.log"
timeout 60 "$B/kernels_ops_gpu_test" --gtest_brief=1 >> "$R/tests.log" 2>&1
echo "ops tests rc=$? ($(( $(date +%s) - t0 )) s)"; tail -1 "$R/tests.log"
cuobjdump -sass "$B/quadrant-kernels-bench" 2>/dev/null | awk '
  /Function :/ { fn = $3; keep = (fn ~ /moe_(grouped_gemm|w4a8_decode|act|gather|combine|route|topk|count|schedule|scatter)/) }
  keep && /ACQBULK|PREEXIT|CCTL|griddep|ERRBAR|DEPBAR|LDGDEPBAR|LDGSTS/ {
    for (i = 1; i <= NF; ++i) if ($i ~ /^[A-Z][A-Z0-9]+(\.[A-Z0-9_.]+)?$/ && $i !~ /^(R[0-9]+|P[0-9]+|UR[0-9]+|PT|RZ|URZ)$/) { n[fn " " $i]++; break } }
  END { for (k in n) print n[k], k }' | sort -k2 > "$R/sass_chain.txt"
wc -l < "$R/sass_chain.txt"
ONLY=${ONLY:-" tok 32e top8 7168/2048"}
# NAME=ENV,ENV ... for the new binary, in priority order; "main": the binary built from main.
RUNS=${RUNS:-"main plain=QUADRANT_MOE_PDL=0 pdl=QUADRANT_MOE_PDL=1"}
STOP_S=${STOP_S:-250}  # no run starts unless it should end (as long as the longest so far) by then
longest=0
run() {  # run NAME BINARY ONLY ARGS [ENV ...]
  local name=$1 bin=$2 only=$3 args=$4 t=$(date +%s); shift 4
  if [ $(( t - t0 + longest )) -gt "$STOP_S" ]; then echo "$name: skipped"; return; fi
  env "$@" timeout $(( STOP_S + 20 - (t - t0) )) "$bin" $args --only "$only" > "$R/$name.log" 2>&1
  echo "$name rc=$? ($(( $(date +%s) - t0 )) s)"
  [ $(( $(date +%s) - t )) -gt "$longest" ] && longest=$(( $(date +%s) - t ))
}
ceil=""  # the first run measures the copy ceiling
pass=1
for r in $RUNS; do
  case $r in
    checks) run checks "$B/quadrant-kernels-bench" decode_ffn --checks-only ${CHECK_ENV:-QUADRANT_MOE_PDL=1}
            grep -E "small-shape|FAIL|ERROR" "$R/checks.log" | head -10 ;;
    pass2) pass=2 ;;
    checktimed) run checktimed "$B/quadrant-kernels-bench" "${CHECK_ONLY:- 1 tok 32e top8 7168/2048}" "" ${CHECK_ENV:-QUADRANT_MOE_PDL=1}
                grep -E "^time|FAIL|ERROR" "$R/checktimed.log" | cut -c1-150 ;;
    main) run "time_main_$pass" "$B/quadrant-kernels-bench-main" "$ONLY" "--timing-only $ceil"
          ceil=--no-ceilings ;;
    *) envs=${r#*=}
       run "time_${r%%=*}_$pass" "$B/quadrant-kernels-bench" "$ONLY" "--timing-only $ceil" ${envs//,/ }
       ceil=--no-ceilings ;;
  esac
done
STOP_S=100000 longest=0 run time_ceiling_end "$B/quadrant-kernels-bench" nothing --timing-only
grep -h "^ceiling" "$R"/time_*.log
for f in "$R"/time_*.log; do
  echo "== $(basename "$f" .log)"
  grep "^time" "$f" | awk -F'|' '{ printf "%s %s %s\n", $4, $5, $8 }'
done
cd "$R/.." && tar czf chain.tgz r && rm -rf r
