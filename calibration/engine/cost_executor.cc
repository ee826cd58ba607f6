#include "calibration/engine/cost_executor.h"

#include <algorithm>

namespace quadrant::engine {
namespace {

void add_chunk(BatchShape& pre, int64_t start, int64_t tokens) {
  pre.num_seqs += 1;
  pre.new_tokens += tokens;
  pre.context_tokens += start + tokens;
  pre.attention_pairs += tokens * start + tokens * (tokens + 1) / 2;
}

}  // namespace

StepBatch step_batch(const StepPlan& plan) {
  StepBatch b;
  for (const PrefillChunk& c : plan.prefill) add_chunk(b.prefill, c.start, c.tokens);
  if (!plan.decode.empty()) {
    int64_t context = 0;
    for (const DecodeSeq& d : plan.decode) context += int64_t{d.kv_len} + 1;
    const int n = static_cast<int>(plan.decode.size());
    b.decode = {n, n, context, context};
  }
  return b;
}

StepBatch step_batch(const StepRecord& step) {
  StepBatch b;
  for (const ChunkRecord& c : step.prefill) add_chunk(b.prefill, c.start, c.tokens);
  if (step.decode_seqs > 0)
    b.decode = {step.decode_seqs, step.decode_seqs, step.decode_context, step.decode_context};
  return b;
}

std::vector<std::vector<int32_t>> step_decode_lengths(const EngineRun& run) {
  std::vector<std::vector<int32_t>> out(run.steps.size());
  for (const RequestLog& r : run.requests) {
    int64_t token = 0;
    for (const auto& [first, count] : r.token_steps)
      for (int64_t s = first; s < first + count; ++s)
        if (++token >= 2 && s >= 0 && s < static_cast<int64_t>(out.size()))
          out[static_cast<size_t>(s)].push_back(static_cast<int32_t>(r.input_tokens + token - 1));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const StepRecord& s = run.steps[i];
    std::vector<int32_t>& l = out[i];
    int64_t sum = 0;
    for (int32_t x : l) sum += x;
    const int32_t longest = l.empty() ? 0 : *std::max_element(l.begin(), l.end());
    if (static_cast<int32_t>(l.size()) != s.decode_seqs || sum != s.decode_context ||
        longest != s.decode_kv_max)
      l.clear();
  }
  return out;
}

std::vector<int32_t> step_decode_lengths(const StepPlan& plan) {
  std::vector<int32_t> l;
  l.reserve(plan.decode.size());
  for (const DecodeSeq& d : plan.decode) l.push_back(d.kv_len + 1);
  return l;
}

CostModelExecutor::CostModelExecutor(const ModelSpec& model, const GpuSpec& gpu,
                                     const ClusterSpec& cluster, const CostModel& cost_model,
                                     ExecutorCapacity capacity, int64_t host_ns)
    : model_(model),
      gpu_name_(gpu.name),
      costs_(model, Layout{}, gpu, cluster, cost_model),
      cost_model_(cost_model),
      capacity_(capacity),
      host_ns_(host_ns) {}

StepTiming CostModelExecutor::execute(const StepPlan& plan) {
  const std::vector<int32_t> lengths = step_decode_lengths(plan);
  StepBatch b = step_batch(plan);
  b.decode_lengths = lengths;
  const StepCost c = costs_.cost(b);
  StepTiming t;
  t.gpu_ns = c.total.ns();
  t.wall_ns = t.gpu_ns + host_ns_;
  t.parts_ns = {{"attention", (c.prefill_attention + c.decode_attention).ns()},
                {"ffn", c.ffn.ns()},
                {"other", (c.total - c.prefill_attention - c.decode_attention - c.ffn).ns()}};
  return t;
}

std::string CostModelExecutor::describe() const {
  return "cost-model executor: " + model_.name + " on " + gpu_name_ + " (" +
         cost_model_.describe() + ")";
}

}  // namespace quadrant::engine
