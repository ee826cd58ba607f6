# Sourced by the device scripts (device_eleventh.sh): el, step, cnt, default_checks, attn_passes,
# ceiling_end, record_gpu, show, time_summary, ncu_wg, time_passes, sass_wg, checks_decode_ffn and
# time_fp8_bm32 over $R (the results folder), $O (its parent, what comes back), $t0 (the script's
# start) and $STOP_S (no step starts that would end, as long as the longest so far, past it).
# device_start NAME STOP_S: a script's set-up: $B the binaries (default devbin), $O what comes back
# ($OUT, default ./out-NAME), $R its results folder, $t0 now, $STOP_S (default the one given),
# the GPU recorded, $BENCH the bench.
device_start() {
  B=${B:-devbin}
  O=${OUT:-$PWD/out-$1}
  R=$O/r
  mkdir -p "$R"
  t0=$(date +%s)
  STOP_S=${STOP_S:-$2}
  record_gpu
  BENCH=$B/quadrant-kernels-bench
}
el() { echo $(($(date +%s) - t0)); }
longest=0
step() { # step NAME LIMIT_S CMD...: runs unless time is short; output to $R/NAME.log
  local name=$1 lim=$2 t
  t=$(date +%s)
  shift 2
  if [ $((t - t0 + longest)) -gt "$STOP_S" ]; then
    echo "$name: skipped ($(el) s)"
    return
  fi
  timeout "$lim" "$@" > "$R/$name.log" 2>&1
  echo "$name rc=$? ($(el) s)"
  [ $(($(date +%s) - t)) -gt "$longest" ] && longest=$(($(date +%s) - t))
}
cnt() { echo "  $(grep -c PASS "$R/$1.log") PASS, $(grep -cE 'FAIL|ERROR' "$R/$1.log") FAIL/ERROR"; }
# The kernels' GPU check on the defaults: both GPU test binaries in full, the bench's decode_ffn
# and attention checks ($B: the binaries).
default_checks() {
  # 250 s: the suite took 121 s on an H200 in the fourteenth session, and 150 s cut one run.
  step tests_api 250 "$B/kernels_api_gpu_test" --gtest_brief=1
  step tests_ops 60 "$B/kernels_ops_gpu_test" --gtest_brief=1
  for op in decode_ffn attention; do
    step "checks_${op#decode_}" 90 "$B/quadrant-kernels-bench" --only "$op" --checks-only
    cnt "checks_${op#decode_}"
  done
}
# The standard decode attention rows under each form given ("attn_passes 3535 7631"), passes 1-4,
# passes 2 and 4 in reverse order (the decision's alternation); the first run also times the copy
# ceiling. attn_run FORM PASS CEIL times one: a script may redefine it (an older binary).
attn_run() {
  # shellcheck disable=SC2086 # CEIL is empty or one option
  step "attn_f$1_$2" 30 env QUADRANT_DECODE_ATTN_FORM="$1" "$BENCH" --timing-only $3 \
    --only decode_attention
}
attn_passes() {
  local ceil="" pass form forms
  for pass in 1 2 3 4; do
    forms="$*"
    [ $((pass % 2)) = 0 ] && forms=$(printf '%s\n' "$@" | tac | xargs)
    for form in $forms; do
      attn_run "$form" "$pass" "$ceil"
      ceil=--no-ceilings
    done
  done
}
# The copy ceiling timed again at the end, whatever time is left; every run's ceiling line.
ceiling_end() {
  STOP_S=100000 step time_ceiling_end 30 "$BENCH" --timing-only --only nothing
  grep -h "^ceiling: device" "$R"/*.log
}
# The GPU's name and uuid to $R/gpu.txt and $O/uuid.txt (the file the device tool brings back).
record_gpu() {
  nvidia-smi --query-gpu=name,uuid,driver_version,clocks.max.sm,memory.total --format=csv \
    > "$R/gpu.txt" 2>&1
  cp "$R/gpu.txt" "$O/uuid.txt"
  cat "$R/gpu.txt"
}
# The verdict lines of a test or check log $R/NAME.log, and lines matching SHOW_EXTRA (a regex).
show() {
  echo "$1: $(tail -1 "$R/$1.log")"
  grep -hE "^\[  (PASSED|FAILED) |Failure|Expected|correctness${SHOW_EXTRA:+|$SHOW_EXTRA}" \
    "$R/$1.log" | head -20
}
# The time_*.log rows as pass | quadrant | format | shape | ms | TFLOP/s | % of copy, sorted by
# shape then pass, to $R/summary.txt and the output.
time_summary() {
  grep -H "^time" "$R"/time_*.log |
    awk -F'|' '{ sub(/.*time_/, "", $1); sub(/\.log:time */, "", $1); print $1 "|" $2 "|" $3 "|" $4 "|" $7 "|" $8 "|" $11 }' |
    sort -t'|' -k3,4 -k1,1 > "$R/summary.txt"
  cat "$R/summary.txt"
}
# ncu_wg NAME ROW: ncu of the wgmma decode GEMM's two launches (gate/up, down) of one bench row
# ($BENCH --variants): speed of light, warp stalls, occupancy, DRAM bytes and the stall ratios.
ncu_wg() {
  step "$1" 120 ncu --clock-control none \
    --kernel-name regex:moe_decode_gemm_wg --launch-count 2 \
    --section SpeedOfLight --section WarpStateStats --section Occupancy \
    --metrics "dram__bytes_read.sum,regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$" \
    "$BENCH" --profile --variants --only "$2"
}
# time_passes ROWS: the bench rows ROWS (--variants) in three passes, the copy ceiling timed in the
# first and at the end.
time_passes() {
  local ceil="" pass
  for pass in 1 2 3; do
    # shellcheck disable=SC2086 # ceil is empty or one option
    step "time_$pass" 90 "$BENCH" --variants --timing-only $ceil --only "$1"
    ceil=--no-ceilings
  done
  ceiling_end
}
# sass_count KERNEL_REGEX NAME: the SASS opcodes of the kernels whose names match, counted per
# instantiation (cuobjdump on $BENCH) to $R/NAME.txt; wgmma (HGMMA / QGMMA), warpgroup and
# barrier-sync opcodes keep their suffixes (their shapes: 64x16x16 etc.), the rest are cut at the
# first dot. Opcode suffixes may hold lower case (the x of a wgmma shape).
sass_count() {
  command -v cuobjdump > /dev/null || return 1
  cuobjdump -sass "$BENCH" 2> /dev/null | awk -v want="$1" '
    /Function :/ { fn = $3; keep = fn ~ want }
    keep { for (i = 1; i <= NF; ++i) if ($i ~ /^[A-Z][A-Z0-9]+(\.[A-Za-z0-9_.]+)?$/ &&
                                           $i !~ /^(R[0-9]+|P[0-9]+|UR[0-9]+|PT|RZ|URZ)$/) {
      op = $i; if (op !~ /^(WARPGROUP|[HQ]GMMA|SYNCS)/) { split($i, p, "."); op = p[1] }
      n[fn " " op]++; total[fn]++; break } }
    END { for (k in n) print n[k], k; for (f in total) print total[f], f, "TOTAL" }' |
    sort -k2,2 -k1,1nr > "$R/$2.txt"
}
# sass_wg: the wgmma decode GEMM's (to $R/sass_wg.txt): byte permutes and logic ops, QGMMAs,
# local memory (LDL / STL, none expected).
sass_wg() {
  sass_count moe_decode_gemm_wg_kernel sass_wg || return 0
  grep -E " (PRMT|LOP3|SHF|QGMMA[A-Za-z0-9_.]*|LDL|STL|TOTAL)$" "$R/sass_wg.txt"
}
# checks_decode_ffn: the bench's W4A8 and FP8 decode_ffn checks (every form's and variant's rows).
checks_decode_ffn() {
  step checks_decode_ffn 120 "$BENCH" --checks-only --no-ceilings \
    --only "decode_ffn w4a8,decode_ffn fp8"
  show checks_decode_ffn
}
# time_fp8_bm32: FP8 at 64 tokens (32 experts top-8, 7168/2048) on 32-row tiles, every variant.
time_fp8_bm32() {
  step time_fp8_bm32 60 env QUADRANT_MOE_BLOCK_M=32 "$BENCH" --variants --timing-only \
    --no-ceilings --only "fp8 64 tok 32e"
}
