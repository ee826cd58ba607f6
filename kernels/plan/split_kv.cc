#include "kernels/plan/split_kv.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
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

double fluid_split_time(const std::vector<int64_t>& lens, int64_t chunk, const FluidSplitCosts& k) {
  std::vector<double> bytes;  // the CTAs that stream, in launch order (empty splits exit at once)
  int64_t most = 1;
  for (int64_t len : lens) {
    const int64_t n = (len + chunk - 1) / chunk;
    most = std::max(most, n);
    for (int64_t g = 0; g < k.groups; ++g)
      for (int64_t s = 0; s < n; ++s)
        bytes.push_back(double(std::min(chunk, len - s * chunk)) * k.token_bytes);
  }
  // Event simulation: CTAs in their fixed phase finish at a time; streaming CTAs share one
  // rate, so each finishes when the service every streaming CTA received (v) reaches its own
  // start value plus its bytes.
  using Event = std::pair<double, double>;  // (time or service level, bytes)
  std::priority_queue<Event, std::vector<Event>, std::greater<>> fixed;
  std::priority_queue<double, std::vector<double>, std::greater<>> streaming;
  double t = 0, v = 0;
  size_t next = 0;
  int64_t free = k.slots;
  auto start = [&] {
    for (; free > 0 && next < bytes.size(); --free) fixed.push({t + k.cta_us, bytes[next++]});
  };
  start();
  while (!fixed.empty() || !streaming.empty()) {
    const double n = double(streaming.size());
    const double rate = n > 0 ? std::min(k.cta_rate, k.bandwidth / n) : 0.0;
    const double t_stream =
        n > 0 ? t + (streaming.top() - v) / rate : std::numeric_limits<double>::infinity();
    const double t_fixed =
        fixed.empty() ? std::numeric_limits<double>::infinity() : fixed.top().first;
    if (t_fixed <= t_stream) {
      v += rate * (t_fixed - t);
      t = t_fixed;
      streaming.push(v + fixed.top().second);
      fixed.pop();
    } else {
      v = streaming.top();
      t = t_stream;
      streaming.pop();
      ++free;
      start();
    }
  }
  return t + (most > 1 ? k.combine_us + k.combine_us_per_split * double(most) : 0.0);
}

int64_t split_kv_chunk_fluid(int64_t max_kv_len, const FluidSplitCosts& k) {
  auto chunk_of = [&](int64_t n) {
    return ((max_kv_len + n - 1) / n + k.granule - 1) / k.granule * k.granule;
  };
  const std::vector<int64_t> equal(size_t(k.batch), max_kv_len);
  std::vector<int64_t> spread(size_t(k.batch));
  for (int64_t i = 0; i < k.batch; ++i)
    spread[size_t(i)] = std::max<int64_t>(1, (2 * i + 1) * max_kv_len / (2 * k.batch));
  struct Option {
    int64_t chunk;
    double equal, spread;
  };
  std::vector<Option> options;
  const int64_t most =
      std::min<int64_t>({k.max_splits, int64_t(32), (max_kv_len + k.granule - 1) / k.granule});
  for (int64_t n = 1; n <= most; ++n) {
    const int64_t c = chunk_of(n);
    if (!options.empty() && options.back().chunk == c) continue;
    options.push_back({c, fluid_split_time(equal, c, k), fluid_split_time(spread, c, k)});
  }
  double best_equal = options[0].equal, best_spread = options[0].spread;
  for (const Option& o : options) {
    best_equal = std::min(best_equal, o.equal);
    best_spread = std::min(best_spread, o.spread);
  }
  int64_t chunk = options[0].chunk;
  double best = std::numeric_limits<double>::infinity();
  for (const Option& o : options) {
    const double score =
        (1 - k.spread_weight) * o.equal / best_equal + k.spread_weight * o.spread / best_spread;
    if (score < best) {
      best = score;
      chunk = o.chunk;
    }
  }
  return chunk;
}

}  // namespace quadrant::kernels::plan
