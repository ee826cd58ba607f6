// The planner's search space: every (GPU type, layout, batch/chunk limit) an instance of
// one role may take, with the memory check that rules most of them out before anything
// is simulated. A configuration is one instance's shape; how many instances a pool needs
// is decided later, from its measured capacity.
//
//   for (const RoleConfig& c : enumerate_role_configs(scenario, Role::kDecode)) ...
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/units.h"
#include "sim/model/layout.h"
#include "sim/scenario.h"

namespace quadrant::planner {

struct RoleConfig {
  Role role = Role::kPrefill;
  std::string gpu;
  Layout layout;
  int max_batch_size = 256;
  int64_t chunk_size = 2048;
  int64_t max_batch_tokens = 8192;
  // Decoding roles under search.draft_lengths: the speculative draft length tried (0:
  // none); -1: the serving section's speculative setting, as is.
  int draft_length = -1;
  // MoE roles under search.redundant_experts whose pool places experts by EPLB: the
  // redundant-expert count tried; -1: the pool's experts.redundant, as is.
  int redundant_experts = -1;
  // A role of search.af_disaggregated.roles: the FFN pool of an attention/FFN-
  // disaggregated instance (gpu and layout are then its attention pool's); disabled
  // otherwise.
  AfSpec af;

  int gpus() const { return layout.gpus() + af.ffn_gpus; }
  // One instance's price: its GPUs of each type at the scenario's prices.
  double usd_per_hour(const Scenario& s) const;
  // "H100-SXM tp4 ep4 pp1 batch128 chunk4096": stable, used as the sort tiebreak.
  std::string label() const;
};

// Memory of one GPU of a configuration: what the weights take and what is left for KV.
struct MemoryFit {
  bool fits = false;
  Bytes weights_per_gpu;
  Bytes kv_budget_per_gpu;  // memory - reserved - weights (may be negative)
  double kv_tokens = 0;     // tokens of KV cache the instance holds
  std::string reason;       // why it does not fit
};
// `role`: whose pool's expert placement (redundant experts) counts; kColocated for a
// colocated instance. `redundant` >= 0 replaces the pool's redundant-expert count
// (RoleConfig::redundant_experts).
MemoryFit memory_fit(const Scenario& s, const std::string& gpu, const Layout& layout,
                     Role role = Role::kColocated, int redundant = -1);

// The expert placement a configuration of `role` runs: its pool's, with `redundant` >= 0
// as its redundant-expert count.
ExpertPlacementSpec expert_placement(const Scenario& s, Role role, int redundant);

// The same for an attention/FFN-disaggregated configuration: the attention GPUs' KV room
// (their weights: attention, dense FFN, embeddings) and whether the experts fit the FFN
// GPUs; weights_per_gpu is the attention GPU's.
MemoryFit af_memory_fit(const Scenario& s, const RoleConfig& c);

// The layouts the search lists allow for this model: ep divides tp * dp_attention
// (experts live on the instance's GPUs), ep not above the expert count, heads divisible
// by tp; dp_attention 1 and the degrees the serving section's pools use.
std::vector<Layout> candidate_layouts(const Scenario& s);

// GPU types a role may use: the search lists, or the serving section's GPU when empty.
// Colocated instances may use any type either list names.
std::vector<std::string> role_gpus(const Scenario& s, Role role);

struct EnumeratedConfig {
  RoleConfig config;
  MemoryFit memory;
};
// Every configuration of a role in a fixed order (GPU, tp, ep, pp, batch, chunk), with
// its memory check; the ones that do not fit are kept (the report lists why).
std::vector<EnumeratedConfig> enumerate_role_configs(const Scenario& s, Role role);

// A copy of the scenario whose serving section runs the given pools (the other role's
// pool untouched); the planner's probes and confirmations are built from this.
Scenario with_disaggregated(const Scenario& s, const RoleConfig& prefill, int prefill_instances,
                            const RoleConfig& decode, int decode_instances);
Scenario with_colocated(const Scenario& s, const RoleConfig& colocated, int instances);

// The speculative decoding a decoding configuration runs: the serving section's, with
// the configuration's draft length when the search chose one (0: disabled).
SpeculativeSpec speculative_of(const Scenario& s, const RoleConfig& c);

}  // namespace quadrant::planner
