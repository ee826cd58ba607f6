#!/usr/bin/env bash
# MLA decode's device job in one call, on binaries built on the dev machine (nvcc, sm_90a) and
# copied to $B: the MLA checks (small shapes, forced splits) and the timed shapes checked,
# timings against the copy ceiling measured in the same run, the GPU op tests, the SASS of
# the MLA kernels, the grid calibration/grids/mla_decode.json profiled with CUPTI (only when
# every check passed), fixed split counts beside the heuristic's. Results: $OUT/main.log, $OUT/mla.tgz (every log and table), $OUT/profiles.tgz.
#   B=.dev/mla/bin OUT=... kernels/scripts/device_mla.sh
set -uo pipefail
B=${B:-devbin}
O=${OUT:-$PWD/out-mla}
W=$(mktemp -d)
R=$W/r
mkdir -p "$O" "$R/main" "$R/sweep"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total --format=csv > "$R/gpu.txt" 2>&1
cat "$R/gpu.txt"
start=$(date +%s)
stamp() { echo "$1 $(( $(date +%s) - start ))s"; }
timeout 150 "$B/quadrant-kernels-bench" --only "mla_decode" --out "$R/main" > "$R/main.log" 2>&1
rc=$?
stamp "bench checks + timings rc=$rc"
grep -E "^ceiling|small-shape|FAIL|ERROR|correctness" "$R/main.log" | head -30
grep -E "^time" "$R/main.log" | cut -c1-190
timeout 60 "$B/kernels_ops_gpu_test" --gtest_brief=1 > "$R/ops_gpu_test.log" 2>&1
stamp "kernels_ops_gpu_test rc=$?"
tail -3 "$R/ops_gpu_test.log"
cuobjdump -sass "$B/quadrant-kernels-bench" 2>/dev/null | awk '
  /Function :/ { fn = $3; keep = (fn ~ /mla_decode/) }
  keep { for (i = 1; i <= NF; ++i) if ($i ~ /^(LDGSTS|LDG|LDS|LDSM|STS|STG|LDL|STL|HMMA|SHFL|BAR)(\.|$)/) n[fn " " $i]++ }
  END { for (k in n) print n[k], k }' | sort -k2 > "$R/sass_mla.txt"
stamp "sass $(wc -l < "$R/sass_mla.txt") lines"
if [ "$rc" = 0 ] && [ -x "$B/quadrant-profile" ]; then
  D=$(mktemp -d)
  timeout 100 "$B/quadrant-profile" --grid calibration/grids/mla_decode.json --out "$D" --no-metrics \
    --kernels-revision "${KERNELS_REVISION:-unknown}" > "$R/profile.log" 2>&1
  stamp "profile rc=$?"
  tail -3 "$R/profile.log"
  tar czf "$O/profiles.tgz" -C "$D" .
fi
timeout 60 "$B/quadrant-kernels-bench" --timing-only --variants --no-ceilings --only "mla_decode bf16 sweep b16 kv4096 h16 splits=,mla_decode bf16 sweep b64 kv128..8192 h16 splits=" --out "$R/sweep" > "$R/sweep.log" 2>&1
stamp "sweep rc=$?"
grep -E "^time" "$R/sweep.log" | cut -c1-150
cp "$R/main.log" "$O/main.log"
tar czf "$O/mla.tgz" -C "$W" r
