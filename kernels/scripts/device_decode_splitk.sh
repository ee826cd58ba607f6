#!/usr/bin/env bash
# Issue 15, eighth session: split-K of the decode MoE FFN's mma.sync GEMMs
# (QUADRANT_MOE_SPLIT_K) in one device call, on binaries built on the dev machine (nvcc 13.0,
# sm_90a) and copied to $B (quadrant-kernels-bench, kernels_api_gpu_test, kernels_ops_gpu_test):
# the MoE GPU tests (with MoeFfnSplitK: one split gives the plain bits, two pass the reference),
# the ops tests, every decode_ffn check under split-K 2 and the chain, the 1-token shapes'
# checks (reference error) under each configuration, then decode_ffn timings (BF16, FP8, W4A8 at
# 1, 8, 16 and 64 tokens, 32 experts top-8, 7168/2048; graph replays) under each configuration
# of RUNS in alternation, twice, the copy ceiling measured in the first run and at the end.
# Results to $OUT/splitk.tgz.
#   B=devbin OUT=... kernels/scripts/device_decode_splitk.sh
# RUNS: "name=ENV,ENV ..." (ENV,ENV applied to the bench), "pass2" starts the second pass,
# "checks" the checks; a name ending in _w4 times W4A8 only.
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-splitk}/r
mkdir -p "$R"
t0=$(date +%s)
STOP_S=${STOP_S:-265}  # no run starts unless it should end (as long as the longest so far) by then
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
CHAIN="QUADRANT_MOE_PDL=1,QUADRANT_MOE_FUSED_ROUTE_SLOTS=256"  # the chain (lead's defaults)
if [ -z "${SKIP_TESTS:-}" ]; then
  env ${CHAIN//,/ } timeout 100 "$B/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='*Moe*' > "$R/tests.log" 2>&1
  echo "api MoE tests rc=$? ($(( $(date +%s) - t0 )) s)"; tail -1 "$R/tests.log"; grep "split-K 2" "$R/tests.log" | head -8
  timeout 40 "$B/kernels_ops_gpu_test" --gtest_brief=1 >> "$R/tests.log" 2>&1
  echo "ops tests rc=$? ($(( $(date +%s) - t0 )) s)"; tail -1 "$R/tests.log"
fi
ALL=" tok 32e top8 7168/2048"
W4="decode_ffn w4a8 1 tok 32e top8 7168/2048,decode_ffn w4a8 8 tok 32e top8 7168/2048,decode_ffn w4a8 16 tok 32e top8 7168/2048,decode_ffn w4a8 64 tok 32e top8 7168/2048"
NC="QUADRANT_MOE_PDL=0,QUADRANT_MOE_FUSED_ROUTE_SLOTS=256"  # W4A8 without the chain
RUNS=${RUNS:-"base=$CHAIN,QUADRANT_MOE_SPLIT_K=0 auto=$CHAIN,QUADRANT_MOE_SPLIT_K=auto s2=$CHAIN,QUADRANT_MOE_SPLIT_K=2 nochain_w4=$NC,QUADRANT_MOE_SPLIT_K=0 nochain_auto_w4=$NC,QUADRANT_MOE_SPLIT_K=auto nochain_s2_w4=$NC,QUADRANT_MOE_SPLIT_K=2 checks pass2 base=... auto=... s2=... nochain_w4=... nochain_auto_w4=... s4=$CHAIN,QUADRANT_MOE_SPLIT_K=4 nochain_s2_w4=..."}
longest=0
run() {  # run NAME ONLY ARGS [ENV ...]
  local name=$1 only=$2 args=$3 t=$(date +%s); shift 3
  if [ $(( t - t0 + longest )) -gt "$STOP_S" ]; then echo "$name: skipped"; return; fi
  env "$@" timeout $(( STOP_S + 25 - (t - t0) )) "$B/quadrant-kernels-bench" $args --only "$only" > "$R/$name.log" 2>&1
  echo "$name rc=$? ($(( $(date +%s) - t0 )) s)"
  [ $(( $(date +%s) - t )) -gt "$longest" ] && longest=$(( $(date +%s) - t ))
}
ceil=""
pass=1
declare -A envs_of
for r in $RUNS; do
  case $r in
    pass2) pass=2 ;;
    checks)
      run checks decode_ffn --checks-only ${CHAIN//,/ } QUADRANT_MOE_SPLIT_K=2
      grep -E "small-shape|FAIL|ERROR|failures" "$R/checks.log" | head -10
      for s in 0 2 auto; do
        run "check1tok_s$s" " 1 tok 32e top8 7168/2048" --no-ceilings ${CHAIN//,/ } QUADRANT_MOE_SPLIT_K=$s
        grep -E "^\| decode_ffn|FAIL|ERROR" "$R/check1tok_s$s.log" | cut -c1-150
      done ;;
    *) name=${r%%=*} e=${r#*=}
       [ "$e" = "..." ] && e=${envs_of[$name]}
       envs_of[$name]=$e
       only=$ALL
       case $name in *_w4) only=$W4 ;; esac
       run "time_${name}_$pass" "$only" "--timing-only $ceil" ${e//,/ }
       ceil=--no-ceilings ;;
  esac
done
STOP_S=100000 longest=0 run time_ceiling_end nothing --timing-only
grep -h "^ceiling: device" "$R"/time_*.log
for f in "$R"/time_*.log; do
  echo "== $(basename "$f" .log)"
  grep "^time" "$f" | awk -F'|' '{ printf "%s|%s|%s|%s\n", $3, $4, $7, $11 }'
done > "$R/summary.txt"
cat "$R/summary.txt"
cd "$R/.." && tar czf splitk.tgz r && rm -rf r
