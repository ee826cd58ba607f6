#!/usr/bin/env bash
# Checks the deployed plan "prefill 1x[H800 tp4 ep1 pp1 dp4 chunk8192 | ffn H800 x16 mb3] + decode 1x[H800 tp4 ep32 pp1 dp8 batch1024]" against its simulation: vLLM's serving
# benchmark at the planned rate (49.50 req/s) and lengths, then `quadrant bench-check`
# compares the measured TTFT/TPOT percentiles with the SLOs and with expected.json.
# Lengths: uniform around the means (input 4904, output 239 tokens) with the inputs'
# coefficient of variation (--random-range-ratio); arrivals: gamma with the workload's CV (--burstiness = 1/CV^2).
# Flags as documented for `vllm bench serve` (vllm-project/vllm at 026c83f, docs/benchmarking).
#   BASE_URL=http://<proxy or router>:8000 MODEL=<repo id> bash benchmark.sh
set -euo pipefail
MODEL="${MODEL:-DeepSeek-V3}"
BASE_URL="${BASE_URL:-http://localhost:8000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
vllm bench serve \
  --backend vllm \
  --base-url "$BASE_URL" \
  --model "$MODEL" \
  --dataset-name random \
  --random-input-len 4904 \
  --random-output-len 239 \
  --random-range-ratio 0.99 \
  --ignore-eos \
  --request-rate 49.500 \
  --burstiness 0.250 \
  --num-prompts 8911 \
  --percentile-metrics ttft,tpot,itl,e2el \
  --metric-percentiles 50,90,99 \
  --save-result \
  --result-dir "$HERE" \
  --result-filename bench-result.json
"${QUADRANT:-quadrant}" bench-check "$HERE/expected.json" "$HERE/bench-result.json"
