#include "kernels/plan/split_kv.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace quadrant::kernels::plan {

int64_t split_kv_chunk(int64_t max_kv_len, int splits, const SplitKvCosts& k) {
  const double len = double(max_kv_len);
  auto chunk_of = [&](int64_t n) {
    return ((max_kv_len + n - 1) / n + k.granule - 1) / k.granule * k.granule;
  };
  struct Cost {
    double equal, spread;
  };
  auto modelled = [&](int64_t chunk) {
    const double n = std::ceil(len / double(chunk));
    const double cta = double(chunk) * k.token_bytes + k.cta_overhead_bytes;
    const double combine =
        n > 1 ? k.combine_overhead_bytes + k.rows * n * k.partial_bytes / k.slots : 0.0;
    const double active = n - double(chunk) * n * (n - 1) / (2 * len);
    const double work = k.rows * (len / 2 * k.token_bytes + active * k.cta_overhead_bytes);
    return Cost{std::ceil(k.rows * n / k.slots) * cta + combine,
                std::max(work / k.slots, cta) + k.tail_fraction * cta + combine};
  };
  int64_t chunk = chunk_of(std::max(1, splits));
  if (splits != 0) return chunk;
  std::vector<std::pair<int64_t, Cost>> options;
  const int64_t most = std::min(k.max_splits, (max_kv_len + k.granule - 1) / k.granule);
  for (int64_t n = 1; n <= most; ++n) {
    const int64_t c = chunk_of(n);
    if (options.empty() || options.back().first != c) options.push_back({c, modelled(c)});
  }
  double best_equal = options[0].second.equal, best_spread = options[0].second.spread;
  for (const auto& [c, t] : options) {
    best_equal = std::min(best_equal, t.equal);
    best_spread = std::min(best_spread, t.spread);
  }
  double best = 0;
  for (const auto& [c, t] : options) {
    const double score =
        (1 - k.spread_weight) * t.equal / best_equal + k.spread_weight * t.spread / best_spread;
    if (c == options[0].first || score < best) {
      best = score;
      chunk = c;
    }
  }
  return chunk;
}

}  // namespace quadrant::kernels::plan
