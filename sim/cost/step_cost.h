// The cost of one step of one instance: each quadrant's CostModel estimate for one
// layer, times the layers, plus the TP all-reduces, EP dispatch/combine and PP
// hand-offs over the links the layout's GPUs sit on. Returned as a breakdown so that
// reports can say where a step's time goes and where each figure came from.
//
//   StepCostModel costs(model, layout, gpu, cluster, *cost_model);
//   StepCost c = costs.cost({.prefill = {1, 4096, 4096}, .decode = {64, 64, 64 * 2000}});
//   c.total;   // the step's latency through all pipeline stages
//   c.stage;   // how long each stage is busy: the pipeline accepts a step this often
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/cost/cost_model.h"
#include "sim/hardware/hardware.h"
#include "sim/model/accounting.h"
#include "sim/model/layout.h"
#include "sim/model/model_spec.h"

namespace quadrant {

// A step's work: prefill chunks and decode tokens batched together (either part may be
// empty, num_seqs == 0). Prefill attention_pairs should be exact (sum over chunks of
// n * prior + n (n + 1) / 2); decode context_tokens is the KV attended.
struct StepBatch {
  BatchShape prefill;
  BatchShape decode;
};

struct StepCost {
  Duration prefill_attention;
  Duration decode_attention;
  Duration ffn;  // dense and MoE FFN of every layer (prefill quadrant if any prefill)
  Duration tp_communication;
  Duration ep_communication;
  Duration pp_communication;
  Duration overhead;  // the engine's per-step time (cost model's EngineOverhead), if any
  Duration total;     // all of the above: one pass through every stage
  Duration stage;     // one stage's share (total / pp): the pipeline's issue interval
  Provenance provenance = Provenance::kMeasured;  // the least trustworthy part
  bool extrapolated = false;
};

class StepCostModel {
 public:
  StepCostModel(const ModelSpec& model, const Layout& layout, const GpuSpec& gpu,
                const ClusterSpec& cluster, const CostModel& cost_model);
  StepCost cost(const StepBatch& batch) const;
  // Seconds to prefill `tokens` tokens of one sequence from scratch in one step.
  Duration prefill_time(int64_t tokens) const;

 private:
  // Everything of a step that depends only on its token count (FFN, EP, TP and PP
  // communication), memoised per phase: decode asks for the same few counts again and
  // again.
  struct FfnEntry {
    Duration ffn, ep, tp, pp;
    Provenance provenance = Provenance::kMeasured;
    bool extrapolated = false;
    bool cached = false;
  };
  FfnEntry ffn_cost(int64_t tokens, Phase phase) const;
  Duration link_time(Bytes bytes, int group_gpus) const;

  const ModelSpec& model_;
  Layout layout_;
  GpuSpec gpu_;
  ClusterSpec cluster_;
  const CostModel& cost_model_;
  const EngineOverhead* engine_ = nullptr;  // owned by cost_model_
  int moe_layers_ = 0, dense_layers_ = 0;
  AttentionConstants attention_[2];  // per phase
  mutable std::vector<FfnEntry> ffn_cache_[2];
};

}  // namespace quadrant
