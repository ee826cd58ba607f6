// The batch former's rules (sim/serving/batch_former.h) on small queues whose choices
// can be worked out by hand, and against a direct transcription of the rules on random
// queues.
#include "sim/serving/batch_former.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace quadrant {
namespace {

std::vector<ChunkChoice> choose(const BatchFormer& f, const std::vector<PrefillProgress>& queue,
                                int64_t budget, int64_t kv_free, int seats) {
  std::vector<ChunkChoice> out;
  f.choose_chunks(
      queue.size(), [&](size_t i) { return queue[i]; }, budget, kv_free, seats, out);
  return out;
}

TEST(BatchFormer, ChunkSizeLetsTheNextSequenceUseTheBudget) {
  const BatchFormer f({.max_batch_size = 8, .max_batch_tokens = 1000, .chunk_size = 300}, 16,
                      false);
  const auto c = choose(f, {{500, 0, true}, {100, 0, true}, {900, 0, true}, {50, 0, true}},
                        f.prefill_budget(0, 1), 1 << 20, f.seats(0, 0));
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].tokens, 300);  // held back by chunk_size
  EXPECT_FALSE(c[0].completes);
  EXPECT_EQ(c[1].tokens, 100);
  EXPECT_TRUE(c[1].completes);
  EXPECT_EQ(c[2].tokens, 300);
  EXPECT_EQ(c[3].tokens, 50);  // 1000 - 300 - 100 - 300 = 300 left, it needs 50
  EXPECT_TRUE(c[3].completes);
}

TEST(BatchFormer, TheBudgetEndsTheStep) {
  const BatchFormer f({.max_batch_size = 8, .max_batch_tokens = 512, .chunk_size = 4096}, 16,
                      false);
  const auto c =
      choose(f, {{400, 0, true}, {400, 100, true}, {10, 0, true}}, 512, 1 << 20, INT_MAX);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1].tokens, 112);
  EXPECT_EQ(c[1].start, 100);
  EXPECT_FALSE(c[1].completes);
}

TEST(BatchFormer, DecodeTokensComeOutOfTheBudget) {
  const BatchFormer f({.max_batch_size = 64, .max_batch_tokens = 1000, .chunk_size = 4096}, 16,
                      true);
  EXPECT_EQ(f.prefill_budget(10, 1), 990);
  EXPECT_EQ(f.prefill_budget(250, 4), 0);  // speculative: k + 1 tokens each
  EXPECT_EQ(f.prefill_budget(300, 4), 0);
}

TEST(BatchFormer, AdmissionIsFirstComeFirstServedWithoutOvertaking) {
  // Decoding role: a prompt of 100 tokens needs blocks for 101 (its first output token).
  const BatchFormer f({.max_batch_size = 64, .max_batch_tokens = 8192, .chunk_size = 4096}, 16,
                      true);
  EXPECT_EQ(f.admission_blocks(100), 7);
  EXPECT_EQ(f.admission_blocks(95), 6);
  // 10 free blocks: the first (7) fits, the second (7) does not, and the third (1), which
  // would fit, is not admitted ahead of it.
  const auto c = choose(f, {{100, 0, false}, {100, 0, false}, {10, 0, false}}, 8192, 10, 64);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].admit_blocks, 7);
  // An admitted sequence (holding its blocks) needs no room.
  const auto d = choose(f, {{100, 40, true}, {100, 0, false}}, 8192, 0, 64);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].admit_blocks, 0);
  EXPECT_EQ(d[0].tokens, 60);
}

TEST(BatchFormer, SeatsLimitDecodingRolesOnly) {
  const BatchLimits limits{.max_batch_size = 4, .max_batch_tokens = 8192, .chunk_size = 4096};
  const BatchFormer decoding(limits, 16, true), prefill(limits, 16, false);
  EXPECT_EQ(decoding.seats(3, 0), 1);
  EXPECT_EQ(decoding.ready_admissions(1, 1, 5), 2);
  EXPECT_EQ(decoding.ready_admissions(4, 1, 5), 0);
  EXPECT_EQ(prefill.ready_admissions(0, 0, 5), 0);  // a prefill instance has no ready queue
  const std::vector<PrefillProgress> q(3, PrefillProgress{10, 0, false});
  EXPECT_EQ(choose(decoding, q, 8192, 1000, decoding.seats(3, 0)).size(), 1u);
  EXPECT_EQ(choose(prefill, q, 8192, 1000, prefill.seats(3, 0)).size(), 3u);
}

// The rules transcribed as the simulator applied them before the former existed
// (erasing completed sequences from the queue as it walks), on random queues.
TEST(BatchFormer, MatchesTheRulesOnRandomQueues) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 2000; ++trial) {
    const bool decodes = rng() % 2;
    const BatchLimits limits{static_cast<int>(1 + rng() % 8), static_cast<int64_t>(rng() % 3000),
                             static_cast<int64_t>(1 + rng() % 1200)};
    const BatchFormer f(limits, 16, decodes);
    std::vector<PrefillProgress> q(rng() % 8);
    for (auto& p : q) {
      p.target = static_cast<int64_t>(1 + rng() % 2000);
      p.admitted = rng() % 3 == 0;
      p.scheduled = p.admitted ? static_cast<int64_t>(rng() % static_cast<uint64_t>(p.target)) : 0;
    }
    const int running = static_cast<int>(rng() % 6);
    int64_t kv_free = static_cast<int64_t>(rng() % 300);
    const auto got = choose(f, q, f.prefill_budget(running, 1), kv_free, f.seats(running, 0));

    // Reference.
    std::vector<std::pair<size_t, int64_t>> want;  // (original index, tokens)
    std::vector<size_t> idx(q.size());
    for (size_t i = 0; i < q.size(); ++i) idx[i] = i;
    auto work = q;
    int64_t budget = std::max<int64_t>(0, limits.max_batch_tokens - running);
    int prefilling = 0;
    for (size_t i = 0; i < work.size() && budget > 0;) {
      PrefillProgress& p = work[i];
      if (!p.admitted) {
        if (decodes && running + prefilling >= limits.max_batch_size) break;
        const int64_t need = (p.target + (decodes ? 1 : 0) + 15) / 16;
        if (need > kv_free) break;
        kv_free -= need;
        ++prefilling;
      }
      const int64_t chunk = std::min({p.target - p.scheduled, limits.chunk_size, budget});
      want.push_back({idx[i], chunk});
      p.scheduled += chunk;
      budget -= chunk;
      if (p.scheduled == p.target) {
        work.erase(work.begin() + static_cast<std::ptrdiff_t>(i));
        idx.erase(idx.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    ASSERT_EQ(got.size(), want.size()) << "trial " << trial;
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].queue_index, want[k].first) << "trial " << trial;
      EXPECT_EQ(got[k].tokens, want[k].second) << "trial " << trial;
    }
  }
}

}  // namespace
}  // namespace quadrant
