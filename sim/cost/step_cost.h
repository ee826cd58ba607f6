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
#include <span>
#include <string>
#include <vector>

#include "sim/cost/cost_model.h"
#include "sim/hardware/hardware.h"
#include "sim/model/accounting.h"
#include "sim/model/expert_placement.h"
#include "sim/model/layout.h"
#include "sim/model/model_spec.h"
#include "sim/topology/topology.h"

namespace quadrant {

// A step's work: prefill chunks and decode tokens batched together (either part may be
// empty, num_seqs == 0). Prefill attention_pairs should be exact (sum over chunks of
// n * prior + n (n + 1) / 2); decode context_tokens is the KV attended.
struct StepBatch {
  BatchShape prefill;
  BatchShape decode;
  // Each decode sequence's KV tokens attended (as summed in decode.context_tokens), where
  // the caller knows them; only an engine's decode attention launch term reads them
  // (EngineOverhead::attention_launch; empty: every sequence of the mean length).
  std::span<const int32_t> decode_lengths = {};
  // Attention/FFN disaggregation: KV transfers in flight on the busiest NIC of the
  // instance's attention GPUs when the step starts, leaving (prefill) and arriving
  // (decode). The token exchange shares those NICs with them: while they last, its
  // network leg gets a fair share, 1 / (1 + flows) of the link (dispatch leaves through
  // the NIC, combine arrives), i.e. the link carries each flow's bytes beside the
  // exchange's. The KV flows are not slowed by the exchange in return (an approximation).
  int kv_flows_out = 0, kv_flows_in = 0;
};

// How an instance runs its MoE layers beyond the even spread accounting assumes: the
// busiest GPU's share of the routed pairs (skewed routing, redundant experts and the
// rebalancer: model/expert_placement.h), and DeepSeek's dual micro-batch overlap, in
// which the step is split into two micro-batches and one's expert dispatch and combine
// run while the other computes. The defaults change nothing.
struct MoeExecution {
  double imbalance = 1;      // busiest GPU's routed pairs / the mean (>= 1)
  double slots_per_gpu = 0;  // expert replicas per GPU; 0: the experts spread evenly
  bool dual_micro_batch = false;
};

// An instance's MoeExecution: the busiest GPU's load under the scenario's routing
// popularity and the pool's placement (model/expert_placement.h), over the tp x
// dp_attention GPUs of a stage. Uniform routing without redundant experts or a
// rebalancer keeps the even spread (imbalance 1), as before these existed.
MoeExecution moe_execution(const ModelSpec& model, const Layout& layout,
                           const ExpertPlacementSpec& placement, const ExpertPopularity& popularity,
                           bool dual_micro_batch);

// Attention/FFN disaggregation of an instance (AfSpec, cost/af_pipeline.h): the model's
// attention (and dense FFN layers) run on the StepCostModel's GPU and layout, its MoE
// layers on `ffn_gpus` GPUs of `ffn_gpu` priced by `ffn_model`, the batch cut into
// `micro_batches`; tokens cross between the pools by `dispatch` and `combine`
// (topology/topology.h: mn_exchange), the busiest FFN GPU receiving `imbalance` times the
// mean and holding `slots_per_gpu` expert replicas (redundant experts and the rebalancer
// of the pool's ExpertPlacementSpec over the FFN GPUs; 0: the experts spread evenly).
// The exchange is deduplicated per node (mn_node_exchange): a token crosses the network
// once to each of the `distinct_nodes` FFN nodes (of `ffn_nodes`) its experts are on,
// then NVLink (`forward`, when a node holds more than one FFN GPU) carries each of its
// top-k copies to its expert's GPU; the two legs pipeline (the longer one counts).
struct AfExecution {
  const GpuSpec* ffn_gpu = nullptr;
  const CostModel* ffn_model = nullptr;
  int ffn_gpus = 0;
  int micro_batches = 1;
  MnExchange dispatch, combine;
  double imbalance = 1;
  double slots_per_gpu = 0;
  int ffn_nodes = 1;
  double distinct_nodes = 1;
  bool forwards = false;
  LinkSpec forward;
};

struct StepCost {
  Duration prefill_attention;
  Duration decode_attention;
  Duration ffn;  // dense and MoE FFN of every layer (prefill quadrant if any prefill)
  Duration tp_communication;
  Duration ep_communication;
  Duration pp_communication;
  Duration overhead;  // the engine's per-step time (cost model's EngineOverhead), if any
  // Dual micro-batch: the parts above are those of the two half batches, and this much
  // of their communication runs under the other micro-batch's compute.
  // Attention/FFN disaggregation: how long each pool works in the step (the attention
  // pool: attention, its TP all-reduces and the dense layers' FFN; the FFN pool: the MoE
  // layers' experts), and hidden_communication is what of the parts above runs
  // concurrently (the pipeline's overlap of the pools and the exchange).
  Duration af_attention_busy, af_ffn_busy;
  Duration hidden_communication;
  Duration total;  // all of the above, less the hidden communication: the critical path
  Duration stage;  // one stage's share (total / pp): the pipeline's issue interval
  Provenance provenance = Provenance::kMeasured;  // the least trustworthy part
  bool extrapolated = false;
};

// Rows a decode-only step of `seqs` sequences computes on an engine that replays CUDA
// graphs captured at the engine's graph_buckets: the next bucket; `seqs` itself without
// buckets or beyond the last.
int64_t graph_rows(const EngineOverhead& engine, int64_t seqs);
// Experts of one MoE layer that `tokens` tokens are expected to touch, each picking top_k
// of num_experts uniformly: E (1 - (1 - k / E)^tokens); 0 for a dense model.
double expected_active_experts(const ModelSpec& model, int64_t tokens);
// Row tiles of `tile_rows` the experts of one MoE layer are expected to get from `tokens`
// tokens: sum over experts of E[ceil(n / tile_rows)], n ~ Binomial(tokens, top_k / E)
// (each expert's count, as top-k of E picks it uniformly); 0 for a dense model. With one
// tile for any count (tile_rows >= tokens) it is expected_active_experts.
double expected_expert_tiles(const ModelSpec& model, int64_t tokens, int tile_rows);
// The expert weight reads of a decode-only step's engine term: tiles, or active experts,
// of a graph replay of `rows` rows of which `seqs` are sequences: the rows padding the
// graph beyond them are alike (one token at one position, no KV) and route alike, so
// they add one token's top_k experts, and all their rows go to those.
double expected_expert_reads(const EngineOverhead& engine, const ModelSpec& model, int64_t seqs,
                             int64_t rows);
// The waves of a decode-only step's MoE down projection (EngineOverhead::expert_wave_slots):
// E[ceil(expert_wave_ctas x T / expert_wave_slots)], T the step's row tiles in one MoE layer,
// the sum over experts of ceil(n_e / expert_tile_rows), the experts' counts independent,
// n_e ~ Binomial(seqs, top_k / E), plus all the padding rows on the top_k experts of their
// token (as expected_expert_reads). 0 without tiles, slots or an MoE FFN.
double expected_expert_waves(const EngineOverhead& engine, const ModelSpec& model, int64_t seqs,
                             int64_t rows);
// The makespan, in token times, of one layer's decode attention launch of a decode-only
// step replayed at `rows` rows (a graph bucket): EngineOverhead::AttentionLaunch's chunks
// of each sequence (`lengths`, in order) as CTAs in launch order (sequence, head group,
// chunk), each taking the first free of `slots`, the active ones sharing the bandwidth
// (each at min(rate_cap, slots / active)). 0 without a launch table or sequences.
double decode_attention_makespan(const EngineOverhead& engine, int64_t rows,
                                 std::span<const int32_t> lengths);
// The same for a step's decodes: their StepBatch::decode_lengths, or, without them,
// decode.num_seqs sequences of the mean length; 0 without per_attention_token_ns.
double batch_decode_attention_makespan(const EngineOverhead& engine, int64_t rows,
                                       const StepBatch& batch);

class StepCostModel {
 public:
  StepCostModel(const ModelSpec& model, const Layout& layout, const GpuSpec& gpu,
                const ClusterSpec& cluster, const CostModel& cost_model,
                const MoeExecution& moe = {}, const AfExecution* af = nullptr);
  StepCost cost(const StepBatch& batch) const;
  // Seconds to prefill `tokens` tokens of one sequence from scratch in one step.
  Duration prefill_time(int64_t tokens) const;
  const ModelSpec& model() const { return model_; }
  // Whether cost() reads StepBatch::decode_lengths (an engine's decode attention launch
  // term): callers that know the lengths fill them only then.
  bool reads_decode_lengths() const {
    return engine_ != nullptr && engine_->per_attention_token_ns > 0 &&
           !engine_->attention_launch.kv_bounds.empty();
  }

 private:
  // Everything of a step that depends only on its token count (FFN, EP, TP and PP
  // communication), memoised per phase: decode asks for the same few counts again and
  // again.
  struct FfnEntry {
    Duration ffn, ep, tp, pp;
    Duration dense_ffn;  // the part of ffn in dense layers (no expert communication)
    Provenance provenance = Provenance::kMeasured;
    bool extrapolated = false;
    bool cached = false;
  };
  FfnEntry ffn_cost(int64_t tokens, Phase phase) const;
  Duration link_time(Bytes bytes, int group_gpus) const;
  // The step's parts without the engine's overhead and without overlap; `dense_ffn`
  // (if not null) gets the FFN time of the dense layers.
  StepCost parts(const StepBatch& batch, Duration* dense_ffn) const;
  // Dual micro-batch: the two halves' parts and the critical path of their overlap.
  void overlap(const StepBatch& batch, StepCost& c) const;
  // Attention/FFN disaggregation: the micro-batches' stages and their pipeline.
  StepCost af_parts(const StepBatch& batch) const;
  // What an AF micro-batch's stages cost that depends only on its token count.
  struct AfEntry {
    Duration ffn, dense_ffn, dispatch, combine, tp;
    // The exchange's legs: network transmission (latency apart) and NVLink forwarding.
    Duration dispatch_network, combine_network, forward_out, forward_back;
    Provenance provenance = Provenance::kMeasured;
    bool extrapolated = false;
    bool cached = false;
  };
  AfEntry af_entry(int64_t tokens, Phase phase) const;

  const ModelSpec& model_;
  Layout layout_;
  GpuSpec gpu_;
  ClusterSpec cluster_;
  const CostModel& cost_model_;
  const EngineOverhead* engine_ = nullptr;  // owned by cost_model_
  MoeExecution moe_;
  int moe_layers_ = 0, dense_layers_ = 0;
  AttentionConstants attention_[2];  // per phase
  mutable std::vector<FfnEntry> ffn_cache_[2];
  bool af_on_ = false;
  AfExecution af_;
  const EngineOverhead* ffn_engine_ = nullptr;  // owned by af_.ffn_model
  mutable std::vector<AfEntry> af_cache_[2];
};

}  // namespace quadrant
