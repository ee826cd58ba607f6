#!/usr/bin/env bash
# Decode attention's device job in one call, on binaries built on the dev machine (nvcc,
# sm_90a) and copied to $B: every GPU test, the SASS of the decode kernels (load widths,
# local memory, tensor-core instructions), every decode check (small shapes, both kernels,
# forced splits) and the timed shapes checked, timings against the copy ceiling measured in
# the same run, fixed split counts beside the heuristic's, and ncu of the decode kernels.
# Results to $OUT/decode.tgz.
#   B=devbin OUT=... kernels/scripts/device_decode.sh
set -uo pipefail
B=${B:-devbin}
R=${OUT:-$PWD/out-decode}/r
mkdir -p "$R"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total --format=csv > "$R/gpu.txt" 2>&1
cat "$R/gpu.txt"
start=$(date +%s)
stamp() { echo "$1 $(( $(date +%s) - start ))s"; }
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 120 "$B/$t" --gtest_brief=1 > "$R/$t.log" 2>&1
  stamp "$t rc=$?"
  tail -3 "$R/$t.log"
done
# Per decode kernel: memory instructions by width, local memory (LDL/STL: spills), HMMA.
cuobjdump -sass "$B/quadrant-kernels-bench" 2>/dev/null | awk '
  /Function :/ { fn = $3; keep = (fn ~ /decode_attention/) }
  keep { for (i = 1; i <= NF; ++i) if ($i ~ /^(LDGSTS|LDG|LDS|STS|STG|LDL|STL|HMMA|SHFL)(\.|$)/) n[fn " " $i]++ }
  END { for (k in n) print n[k], k }' | sort -k2 > "$R/sass_decode.txt"
stamp "sass $(wc -l < "$R/sass_decode.txt") lines"
mkdir -p "$R/main" "$R/sweep"
timeout 240 "$B/quadrant-kernels-bench" --only "decode_attention" --out "$R/main" > "$R/main.log" 2>&1
stamp "bench checks + timings rc=$?"
grep -E "^ceiling|small-shape|FAIL|ERROR" "$R/main.log" | head -20
grep -E "^time|^check-timed" "$R/main.log" | cut -c1-170
timeout 200 "$B/quadrant-kernels-bench" --timing-only --variants --no-ceilings --only "splits=,cuda cores" --out "$R/sweep" > "$R/sweep.log" 2>&1
stamp "sweep rc=$?"
if command -v ncu > /dev/null; then
  timeout 120 ncu --kernel-name regex:decode_attention_mma --launch-count 4 --section SpeedOfLight \
    --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats --section WarpStateStats \
    "$B/quadrant-kernels-bench" --profile --only "decode_attention bf16 b64 kv4096 32/8 d128,decode_attention fp8 b64 kv4096 32/8 d128" > "$R/ncu.txt" 2>&1
  stamp "ncu rc=$?"
else
  echo "no ncu on this machine" > "$R/ncu.txt"
fi
cd "$R/.." && tar czf decode.tgz r && rm -rf r
