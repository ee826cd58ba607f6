#!/usr/bin/env bash
# Issue 15, tenth session, first device call: (a) W4A8 decode forms 9 (form 8 + compile-time L2
# requests 2 k blocks ahead) and 10 (form 8 with tiles of <= 8 rows on the weights-as-A MMA)
# against form 8 and main's binary, and what forms 8 and 10 wait on at 8 (16) tokens (ncu: stall
# reasons, scheduler issue slots, DRAM / L2 throughput); (b) the head-dim-256
# split-KV count sized for the kernel's resident CTAs (QUADRANT_DECODE_ATTN_SPLIT_SLOTS=resident)
# against the launch bound's (bound), d256 shapes of both formats, two passes alternated.
# Binaries built on the dev machine (nvcc 13.0, sm_90a) in $B: quadrant-kernels-bench (-main:
# built from main), kernels_api_gpu_test, kernels_ops_gpu_test. Results to $OUT/tenth.tgz.
# W4ONLY=1 (the second call): the W4A8 timings and ncu only, no d256 rows, no checks.
# FINAL=1 first runs the final GPU check of the kernels on the defaults (kernels_api_gpu_test and
# kernels_ops_gpu_test in full, the decode_ffn and attention checks of the bench); STOP_S: no step
# starts that would end (as long as the longest so far) past it.
#   B=devbin OUT=... [FINAL=1] [STOP_S=270] bash kernels/scripts/device_tenth.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-tenth}/r
mkdir -p "$R"
t0=$(date +%s)
STOP_S=${STOP_S:-270}  # nothing starts unless it should end (as long as the longest step) by then
el() { echo $(( $(date +%s) - t0 )); }
longest=0
step() {  # step NAME LIMIT_S CMD...: runs unless time is short; output to $R/NAME.log
  local name=$1 lim=$2 t=$(date +%s); shift 2
  if [ $(( t - t0 + longest )) -gt "$STOP_S" ]; then echo "$name: skipped ($(el) s)"; return; fi
  timeout "$lim" "$@" > "$R/$name.log" 2>&1
  echo "$name rc=$? ($(el) s)"
  [ $(( $(date +%s) - t )) -gt "$longest" ] && longest=$(( $(date +%s) - t ))
}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv > "$R/gpu.txt" 2>&1
BENCH=$B/quadrant-kernels-bench
cnt() { echo "  $(grep -c PASS "$R/$1.log") PASS, $(grep -cE 'FAIL|ERROR' "$R/$1.log") FAIL/ERROR"; }
if [ -n "${W4ONLY:-}" ]; then
  :
elif [ -n "${FINAL:-}" ]; then  # the session's final GPU check of the kernels, on the defaults
  step tests_api 120 "$B/kernels_api_gpu_test" --gtest_brief=1
  step tests_ops 60 "$B/kernels_ops_gpu_test" --gtest_brief=1
  step checks_ffn 90 "$BENCH" --only decode_ffn --checks-only
  cnt checks_ffn
  step checks_attn 90 "$BENCH" --only attention --checks-only
  cnt checks_attn
  grep -hE '^\[  (PASSED|FAILED) |tests from .* ran|small-shape checks|correctness failures|form 10 vs 8' \
    "$R"/tests_*.log "$R"/checks_*.log
else
  step tests_moe 90 "$B/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='*Moe*'
  grep -E 'form 10 vs 8|FAILED' "$R/tests_moe.log" | head -14
  tail -1 "$R/tests_moe.log"
fi
if [ -z "${W4ONLY:-}" ]; then  # the d256 rule's correctness
  step tests_decode_resident 60 env QUADRANT_DECODE_ATTN_SPLIT_SLOTS=resident \
    "$B/kernels_api_gpu_test" --gtest_brief=1 --gtest_filter='*Decode*'
  tail -1 "$R/tests_decode_resident.log"
  step checks_attn_resident 60 env QUADRANT_DECODE_ATTN_SPLIT_SLOTS=resident "$BENCH" \
    --only decode_attention --checks-only
  cnt checks_attn_resident
fi
# The W4A8 rows (32 experts top-8, 7168/2048) of form $1 ("": the binary's default), by label:
# the bench's set_variant unsets QUADRANT_W4A8_DECODE_FORM, so a form is timed through its
# --variants rows ("... form N"), never through the variable.
w4rows() {
  local t out=""
  for t in 1 8 16 64; do out+="decode_ffn w4a8 $t tok 32e top8 7168/2048${1:+ form $1},"; done
  echo "${out%,}"
}
D256="decode_attention bf16 d256,decode_attention fp8 d256"
ceil=""
ncu_w4() {  # ncu_w4 NAME FORM TOKENS SECTIONS...
  local name=$1 form=$2 tok=$3; shift 3
  command -v ncu > /dev/null || return
  step "$name" 60 ncu --clock-control none --kernel-name regex:moe_w4a8_decode --launch-count 2 \
    "$@" "$BENCH" --profile --variants --only "decode_ffn w4a8 $tok tok 32e top8 7168/2048 form $form"
  grep -E "moe_w4a8|Duration|DRAM Throughput|L2 Cache Throughput|No Eligible|Eligible Warps|Issued Warp|Achieved Occupancy|Registers Per" \
    "$R/$name.log" | cut -c1-110 | head -16
}
STALLS=(--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats
  --section SchedulerStats --section Occupancy --section LaunchStats
  --metrics "regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$")
# A warm-up run first (its rows not used: the first call's first run of main's binary, right after
# the ceilings, came out 2-21% slower than its second pass).
if [ -n "${W4ONLY:-}" ]; then
  step w4_warmup 60 "$BENCH" --timing-only --only "$(w4rows)"
  ceil=--no-ceilings
fi
for pass in 1 2; do
  for c in main form8 form9 form10 ${W4ONLY:+fp8}; do
    if [ "$c" = main ]; then
      step "w4_${c}_$pass" 60 "$B/quadrant-kernels-bench-main" --timing-only $ceil --only "$(w4rows)"
    elif [ "$c" = fp8 ]; then  # the FP8 rows, for W4A8 / FP8
      step "w4_${c}_$pass" 60 "$BENCH" --timing-only $ceil --only "$(w4rows | sed 's/w4a8/fp8/g')"
    else
      step "w4_${c}_$pass" 60 "$BENCH" --timing-only --variants $ceil --only "$(w4rows ${c#form})"
    fi
    ceil=--no-ceilings
  done
  [ $pass = 1 ] && [ -z "${W4ONLY:-}" ] && ncu_w4 ncu_form8_8tok 8 8 "${STALLS[@]}"
  for rule in $([ -n "${W4ONLY:-}" ] || echo bound resident); do
    step "d256_${rule}_$pass" 90 env QUADRANT_DECODE_ATTN_SPLIT_SLOTS=$rule "$BENCH" --variants \
      --timing-only --no-ceilings --only "$D256"
  done
done
ncu_w4 ncu_form10_8tok 10 8 "${STALLS[@]}"
[ -z "${W4ONLY:-}" ] && ncu_w4 ncu_form8_16tok 8 16 "${STALLS[@]}"
ncu_w4 ncu_form9_8tok 9 8 --section SpeedOfLight --section MemoryWorkloadAnalysis
STOP_S=100000 step time_ceiling_end 60 "$BENCH" --timing-only --only nothing
grep -h "^ceiling: device" "$R"/*.log
for f in "$R"/w4_*.log "$R"/d256_*.log; do
  [ -f "$f" ] || continue
  echo "== $(basename "$f" .log)"
  grep "^time" "$f" | awk -F'|' '{ printf "%s|%s|%s|%s|%s\n", $3, $4, $7, $9, $11 }'
done > "$R/summary.txt"
cat "$R/summary.txt"
cd "$R/.." && tar czf tenth.tgz r && rm -rf r
