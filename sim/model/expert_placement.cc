#include "sim/model/expert_placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/core/error.h"
#include "sim/core/random.h"

namespace quadrant {

std::vector<double> zipf_popularity(int experts, double exponent) {
  QUADRANT_CHECK(experts > 0 && exponent >= 0);
  std::vector<double> p(static_cast<size_t>(experts));
  for (int i = 0; i < experts; ++i) p[static_cast<size_t>(i)] = std::pow(i + 1.0, -exponent);
  return normalised_popularity(p);
}

std::vector<double> normalised_popularity(const std::vector<double>& counts) {
  const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  QUADRANT_CHECK(total > 0);
  std::vector<double> p = counts;
  for (double& x : p) x /= total;
  return p;
}

std::vector<double> popularity_of(const ExpertPopularity& p, int experts) {
  if (p.counts.empty()) return zipf_popularity(experts, p.zipf_exponent);
  std::vector<double> c(static_cast<size_t>(experts), 0.0);
  for (size_t i = 0; i < c.size() && i < p.counts.size(); ++i) c[i] = p.counts[i];
  return normalised_popularity(c);
}

namespace {

ExpertLoad finish(std::vector<double> share, double slots_per_gpu) {
  ExpertLoad l;
  l.slots_per_gpu = slots_per_gpu;
  const double busiest = *std::max_element(share.begin(), share.end());
  l.imbalance = std::max(1.0, busiest * static_cast<double>(share.size()));
  l.gpu_share = std::move(share);
  return l;
}

}  // namespace

ExpertLoad expert_load(const std::vector<double>& popularity, int gpus,
                       const ExpertPlacementSpec& spec, bool by_rank) {
  const int experts = static_cast<int>(popularity.size());
  QUADRANT_CHECK(experts > 0 && gpus > 0 && spec.redundant >= 0);
  const auto G = static_cast<size_t>(gpus);
  std::vector<double> share(G, 0.0);
  if (spec.rebalancer == Rebalancer::kNone) {
    // Ranks shuffled over ids (Fisher-Yates on a stream of its own), ids in blocks.
    std::vector<int> rank(static_cast<size_t>(experts));
    std::iota(rank.begin(), rank.end(), 0);
    RandomStream rng(0, "expert-placement");
    for (int i = by_rank ? experts - 1 : 0; i > 0; --i)
      std::swap(rank[static_cast<size_t>(i)], rank[static_cast<size_t>(rng.uniform_int(0, i))]);
    for (int id = 0; id < experts; ++id) {
      const auto gpu = static_cast<size_t>(int64_t{id} * gpus / experts);
      share[std::min(gpu, G - 1)] += popularity[static_cast<size_t>(rank[static_cast<size_t>(id)])];
    }
    return finish(std::move(share), static_cast<double>(experts + spec.redundant) / gpus);
  }
  // EPLB: replicate, then pack.
  const int slots = experts + spec.redundant;
  QUADRANT_CHECK_MSG(slots % gpus == 0, "EPLB needs (experts + redundant) divisible by the GPUs");
  std::vector<int> replicas(static_cast<size_t>(experts), 1);
  for (int r = 0; r < spec.redundant; ++r) {
    size_t hottest = 0;
    for (size_t e = 1; e < replicas.size(); ++e)
      if (popularity[e] / replicas[e] > popularity[hottest] / replicas[hottest]) hottest = e;
    ++replicas[hottest];
  }
  std::vector<double> load;
  load.reserve(static_cast<size_t>(slots));
  for (size_t e = 0; e < replicas.size(); ++e)
    for (int r = 0; r < replicas[e]; ++r) load.push_back(popularity[e] / replicas[e]);
  std::stable_sort(load.begin(), load.end(), std::greater<>());
  const int per_gpu = slots / gpus;
  std::vector<int> used(G, 0);
  for (double x : load) {
    size_t best = G;
    for (size_t g = 0; g < G; ++g)
      if (used[g] < per_gpu && (best == G || share[g] < share[best])) best = g;
    share[best] += x;
    ++used[best];
  }
  return finish(std::move(share), per_gpu);
}

}  // namespace quadrant
