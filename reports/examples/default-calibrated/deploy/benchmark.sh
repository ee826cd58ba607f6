#!/usr/bin/env bash
# Checks the deployed plan "colocated 5x[H100-SXM tp4 ep4 pp1 batch128 chunk4096]" against its simulation: vLLM's serving
# benchmark at the planned rate (44.00 req/s) and lengths, then `quadrant bench-check`
# compares the measured TTFT/TPOT percentiles with the SLOs and with expected.json.
# Lengths: uniform around the means (input 1410, output 327 tokens) with the inputs'
# coefficient of variation (--random-range-ratio); arrivals: gamma with the workload's CV (--burstiness = 1/CV^2).
# Flags as documented for `vllm bench serve` (vllm-project/vllm at 026c83f, docs/benchmarking).
#   BASE_URL=http://<proxy or router>:8000 MODEL=<repo id> bash benchmark.sh
set -euo pipefail
MODEL="${MODEL:-Qwen3-235B-A22B}"
BASE_URL="${BASE_URL:-http://localhost:8000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
vllm bench serve \
  --backend vllm \
  --base-url "$BASE_URL" \
  --model "$MODEL" \
  --dataset-name random \
  --random-input-len 1410 \
  --random-output-len 327 \
  --random-range-ratio 0.99 \
  --ignore-eos \
  --request-rate 44.000 \
  --burstiness 1.000 \
  --num-prompts 7920 \
  --percentile-metrics ttft,tpot,itl,e2el \
  --metric-percentiles 50,90,99 \
  --save-result \
  --result-dir "$HERE" \
  --result-filename bench-result.json
"${QUADRANT:-quadrant}" bench-check "$HERE/expected.json" "$HERE/bench-result.json"
