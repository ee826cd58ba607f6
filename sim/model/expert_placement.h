// Expert-parallel load balance: how unevenly a skewed routing loads the GPUs of an
// expert-parallel group, with and without redundant experts and a rebalancer.
//
// A step's MoE layer waits for its busiest GPU, so what the cost models need is one
// number: the busiest GPU's share of the routed (token, expert) pairs, times the GPU
// count (1 when perfectly even). Expected shares, not sampled batches.
//
//   ExpertLoad l = expert_load(zipf_popularity(256, 1.0), 32,
//                              {.redundant = 32, .rebalancer = Rebalancer::kEplb});
//   l.imbalance;       // busiest GPU's routed pairs / the mean
//   l.slots_per_gpu;   // expert replicas each GPU holds (weights in memory)
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/enum_names.h"

namespace quadrant {

// Expert popularity: the fraction of routed pairs each expert receives (sums to 1).
// Zipf with exponent s: p_i proportional to 1 / i^s (s = 0: uniform). Popularity ranks
// are not expert ids: placement decides which GPU holds which rank.
std::vector<double> zipf_popularity(int experts, double exponent);
// Normalises measured counts (a trace's routing histogram) into a popularity.
std::vector<double> normalised_popularity(const std::vector<double>& counts);

enum class Rebalancer {
  kNone,  // static placement: experts in id order, E / G consecutive ids per GPU
  kEplb,  // DeepSeek's EPLB: replicate the hottest, then pack replicas by load
};
inline constexpr EnumNames<Rebalancer, 2> kRebalancerNames{
    {{{Rebalancer::kNone, "none"}, {Rebalancer::kEplb, "eplb"}}}};
inline const char* to_string(Rebalancer v) {
  return kRebalancerNames.name(v);
}

struct ExpertPlacementSpec {
  int redundant = 0;  // extra expert replicas over the group (EPLB: slots for hot experts)
  Rebalancer rebalancer = Rebalancer::kNone;
  bool operator==(const ExpertPlacementSpec&) const = default;
};

// What a scenario says of the routing: a Zipf exponent, or measured counts per expert
// (a trace's routing histogram), which win when given. Default: uniform.
struct ExpertPopularity {
  double zipf_exponent = 0;
  std::vector<double> counts;
  bool uniform() const { return counts.empty() && zipf_exponent == 0; }
  bool operator==(const ExpertPopularity&) const = default;
};
// The popularity of `experts` experts (counts padded with zeros or cut to that many).
std::vector<double> popularity_of(const ExpertPopularity& p, int experts);

struct ExpertLoad {
  double imbalance = 1;           // busiest GPU's expected routed pairs / the mean (>= 1)
  double slots_per_gpu = 0;       // expert replicas per GPU ((E + redundant) / G)
  std::vector<double> gpu_share;  // each GPU's share of the routed pairs
};

// The load of each of `gpus` GPUs. kNone: the experts are assigned ranks by a fixed
// shuffle (a stream of its own: popularity does not follow expert ids) and placed E / G per GPU in
// id order (the redundant slots, if any, stay idle: nothing chooses what to replicate). kEplb
// (deepseek-ai/EPLB's replicate_experts and balanced_packing): each redundant slot goes
// to the expert with the highest load per replica, a replica carries its expert's load
// split evenly, and replicas are packed heaviest first onto the least loaded GPU with
// a free slot, (E + redundant) / G slots each.
// `by_rank`: the popularity is by rank (Zipf), not by expert id (measured counts), so
// a static placement meets it in a shuffled order.
ExpertLoad expert_load(const std::vector<double>& popularity, int gpus,
                       const ExpertPlacementSpec& spec, bool by_rank = true);

}  // namespace quadrant
