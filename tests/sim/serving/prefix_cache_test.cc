// The block prefix cache (LRU over block hashes) and cache-aware routing, against closed
// forms: the hit count of a repeated trace, LRU's thrashing on a cyclic working set one
// block too large, and the router's choice.
#include "sim/serving/prefix_cache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "sim/core/random.h"
#include "sim/serving/router.h"

namespace quadrant {
namespace {

std::vector<uint64_t> blocks(uint64_t first, size_t n) {
  std::vector<uint64_t> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(BlockPrefixCache, MatchIsTheLeadingRunOfCachedBlocks) {
  BlockPrefixCache c(100);
  c.insert({1, 2, 3});
  EXPECT_EQ(c.match({1, 2, 3, 4}), 3u);
  EXPECT_EQ(c.match({1, 2, 9, 3}), 2u);  // the first miss ends the prefix
  EXPECT_EQ(c.match({2, 3}), 2u);        // a block is a block: hashes carry the prefix
  EXPECT_EQ(c.match({9, 1}), 0u);
  EXPECT_EQ(c.match({}), 0u);
  EXPECT_EQ(c.size(), 3);
  c.insert({1, 2, 3, 4});  // a longer prompt: only the new block is added
  EXPECT_EQ(c.size(), 4);
}

TEST(BlockPrefixCache, EvictsTheLeastRecentlyUsedBlock) {
  BlockPrefixCache c(3);
  c.insert({1, 2, 3});
  c.touch({1}, 1);  // 1 is now the most recent: 2 is the oldest
  c.insert({4});
  EXPECT_EQ(c.match({1}), 1u);
  EXPECT_EQ(c.match({2}), 0u);
  EXPECT_EQ(c.match({3, 4}), 2u);
  EXPECT_EQ(c.size(), 3);
  EXPECT_EQ(c.evictions(), 1);
  BlockPrefixCache none(0);  // no capacity: nothing is kept
  none.insert({1});
  EXPECT_EQ(none.match({1}), 0u);
}

// N prompts of B blocks each, no block shared, replayed R times in the same order: with
// room for all N x B blocks every pass after the first hits everything, (R - 1) / R of
// the blocks; with one block less LRU evicts each block just before its reuse: no hit.
TEST(BlockPrefixCache, RepeatedTraceHitsClosedForm) {
  const size_t n = 7, b = 5;
  const int passes = 4;
  for (int64_t capacity : {int64_t{n * b}, int64_t{n * b} + 10, int64_t{n * b} - 1}) {
    BlockPrefixCache c(capacity);
    size_t hits = 0, total = 0;
    for (int pass = 0; pass < passes; ++pass) {
      for (size_t p = 0; p < n; ++p) {
        const std::vector<uint64_t> h = blocks(p * 100, b);
        const size_t m = c.match(h);
        c.touch(h, m);
        hits += m;
        total += b;
        c.insert(h);
      }
    }
    EXPECT_EQ(total, passes * n * b);
    if (capacity >= static_cast<int64_t>(n * b)) {
      EXPECT_EQ(hits, (passes - 1) * n * b) << capacity;
    } else {
      EXPECT_EQ(hits, 0u) << capacity;
    }
  }
}

// Cache-aware routing: the longest cached prefix wins whatever the load; equal prefixes
// (none cached anywhere, above all) are decided exactly as least-tokens routing decides.
TEST(CacheAwareRouter, LongestCachedPrefixThenLeastLoad) {
  CacheAwareRouter router;
  std::vector<InstanceLoad> c = {{0, 100, 0.1, 512}, {1, 90000, 0.9, 2048}, {2, 0, 0.0, 1024}};
  EXPECT_EQ(router.pick(c), 1u);
  c[2].cached_tokens = 2048;  // tie on the prefix: the less loaded one
  EXPECT_EQ(router.pick(c), 2u);
  c[1].outstanding_prefill_tokens = 0;  // tie on both: the lower KV occupancy
  EXPECT_EQ(router.pick(c), 2u);
  c[1].kv_occupancy = 0.0;  // tie on everything: the first
  EXPECT_EQ(router.pick(c), 1u);

  RandomStream rng(3, "router");
  LeastPrefillTokensRouter least;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<InstanceLoad> loads;
    const int n = 1 + static_cast<int>(rng.uniform() * 8);
    for (int i = 0; i < n; ++i)
      loads.push_back({i, static_cast<int64_t>(rng.uniform() * 4) * 1000,
                       static_cast<int>(rng.uniform() * 3) / 2.0, 0});
    EXPECT_EQ(router.pick(loads), least.pick(loads)) << trial;
  }
}

}  // namespace
}  // namespace quadrant
