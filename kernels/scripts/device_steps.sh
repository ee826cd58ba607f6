# Sourced by the device scripts (device_eleventh.sh): el, step and cnt over $R (the results
# folder), $t0 (the script's start) and $STOP_S (no step starts that would end, as long as the
# longest so far, past it).
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
