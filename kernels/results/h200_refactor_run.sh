#!/usr/bin/env bash
# Device verification of the kernels refactor (one call): GPU tests, every bench check and
# variant, then the same timed shapes with the old library (kernels 8998b46) and the new,
# alternated twice. Binaries were built on the dev machine (nvcc 13.0, sm_90a).
set -uo pipefail
B=devbin
R=$OUT/r
mkdir -p $R
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total --format=csv > $R/gpu.txt 2>&1
cat $R/gpu.txt
start=$(date +%s)
for t in kernels_api_gpu_test kernels_ops_gpu_test; do
  timeout 120 $B/$t --gtest_brief=1 > $R/$t.log 2>&1; echo "$t rc=$? $(( $(date +%s) - start ))s"
  tail -4 $R/$t.log
done
timeout 150 $B/quadrant-kernels-bench --checks-only --out $R > $R/bench_checks.log 2>&1
echo "bench checks rc=$? $(( $(date +%s) - start ))s"; grep -E "small-shape|FAIL|ERROR" $R/bench_checks.log | head -20
ONLY="prefill_attention bf16 1x8192 causal,prefill_attention fp8 1x8192 causal,prefill_attention bf16 1x8192 mla,decode_attention bf16 b64 kv4096,decode_attention fp8 b64 kv4096,prefill_ffn bf16 4096,prefill_ffn fp8 4096,decode_ffn fp8 8 tok,decode_ffn w4a8 8 tok"
for r in 1 2; do
  for v in old new; do
    bin=$B/quadrant-kernels-bench; [ $v = old ] && bin=$B/quadrant-kernels-bench-old
    mkdir -p $R/$v$r
    timeout 150 $bin --timing-only --no-ceilings --only "$ONLY" --out $R/$v$r > $R/$v$r/log.txt 2>&1
    echo "$v$r rc=$? $(( $(date +%s) - start ))s"
  done
done
for r in 1 2; do for v in old new; do echo "== $v$r"; grep '^time ' $R/$v$r/log.txt | cut -c1-160; done; done
cd $OUT && tar czf kernels_verify.tgz r && rm -rf r
