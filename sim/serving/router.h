// Router policies: which prefill (or colocated) instance takes a new request, and which
// decode instance receives its KV cache. Small interfaces picked by name from the
// scenario (serving.prefill_routing, serving.decode_routing).
//
//   auto r = make_prefill_router(PrefillRouting::kLeastTokens);
//   int i = r->pick(candidates);   // candidates: instances open to new work, with loads
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sim/scenario.h"

namespace quadrant {

// What a router sees of one instance.
struct InstanceLoad {
  int instance = 0;
  int64_t outstanding_prefill_tokens = 0;  // queued and in-flight prefill work
  double kv_occupancy = 0;                 // reserved KV blocks / capacity, pending included
  // Cache-aware routing: prompt tokens of this request the instance's prefix cache holds
  // (filled per request by the driver; 0 otherwise).
  int64_t cached_tokens = 0;
};

class Router {
 public:
  virtual ~Router() = default;
  // Index into `candidates` (non-empty); ties go to the first, so results are stable.
  virtual size_t pick(const std::vector<InstanceLoad>& candidates) = 0;
};

class LeastPrefillTokensRouter final : public Router {
 public:
  // Fewer queued prompt tokens; ties (common: most instances have no prompt work queued
  // between arrivals) to the least KV occupancy, so that a colocated pool spreads its
  // decode load too.
  static bool less_loaded(const InstanceLoad& a, const InstanceLoad& b) {
    return a.outstanding_prefill_tokens < b.outstanding_prefill_tokens ||
           (a.outstanding_prefill_tokens == b.outstanding_prefill_tokens &&
            a.kv_occupancy < b.kv_occupancy);
  }
  size_t pick(const std::vector<InstanceLoad>& c) override {
    size_t best = 0;
    for (size_t i = 1; i < c.size(); ++i)
      if (less_loaded(c[i], c[best])) best = i;
    return best;
  }
};

// The longest cached prefix (Mooncake's cache-aware scheduling, without its TTFT
// estimate): the instance holding most of the prompt's leading blocks; ties as
// LeastPrefillTokensRouter (least queued prompt tokens, then least KV occupancy), so that
// requests without a cached prefix anywhere spread by load exactly as it would.
class CacheAwareRouter final : public Router {
 public:
  size_t pick(const std::vector<InstanceLoad>& c) override {
    size_t best = 0;
    for (size_t i = 1; i < c.size(); ++i) {
      const InstanceLoad& a = c[i];
      const InstanceLoad& b = c[best];
      if (a.cached_tokens != b.cached_tokens ? a.cached_tokens > b.cached_tokens
                                             : LeastPrefillTokensRouter::less_loaded(a, b))
        best = i;
    }
    return best;
  }
};

class LeastKvRouter final : public Router {
 public:
  size_t pick(const std::vector<InstanceLoad>& c) override {
    size_t best = 0;
    for (size_t i = 1; i < c.size(); ++i)
      if (c[i].kv_occupancy < c[best].kv_occupancy) best = i;
    return best;
  }
};

class RoundRobinRouter final : public Router {
 public:
  size_t pick(const std::vector<InstanceLoad>& c) override {
    // Round-robin over instance ids, so that a pool that grows or shrinks keeps rotating.
    for (size_t i = 0; i < c.size(); ++i)
      if (c[i].instance > last_) {
        last_ = c[i].instance;
        return i;
      }
    last_ = c.front().instance;
    return 0;
  }

 private:
  int last_ = -1;
};

inline std::unique_ptr<Router> make_prefill_router(PrefillRouting r) {
  if (r == PrefillRouting::kRoundRobin) return std::make_unique<RoundRobinRouter>();
  if (r == PrefillRouting::kCacheAware) return std::make_unique<CacheAwareRouter>();
  return std::make_unique<LeastPrefillTokensRouter>();
}
inline std::unique_ptr<Router> make_decode_router(DecodeRouting r) {
  if (r == DecodeRouting::kRoundRobin) return std::make_unique<RoundRobinRouter>();
  return std::make_unique<LeastKvRouter>();
}

}  // namespace quadrant
