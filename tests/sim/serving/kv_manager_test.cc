// The KV manager's accounting and preemption choice (sim/serving/kv_manager.h).
#include "sim/serving/kv_manager.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace quadrant {
namespace {

TEST(KvManager, BlocksRoundUp) {
  EXPECT_EQ(kv_blocks_for(0, 16), 0);
  EXPECT_EQ(kv_blocks_for(1, 16), 1);
  EXPECT_EQ(kv_blocks_for(16, 16), 1);
  EXPECT_EQ(kv_blocks_for(17, 16), 2);
}

TEST(KvManager, AdmitsWhatFitsAndCountsBlockSeconds) {
  KvManager kv(10, SimTime::start());
  EXPECT_TRUE(kv.fits(10));
  EXPECT_FALSE(kv.fits(11));
  kv.change(SimTime::start() + Duration::seconds(1), 6);  // 0 blocks for 1 s
  kv.promise(2);
  EXPECT_DOUBLE_EQ(kv.occupancy(), 0.8);                   // promised blocks count for routing
  EXPECT_TRUE(kv.fits(4));                                 // not for admission
  kv.change(SimTime::start() + Duration::seconds(3), -4);  // 6 blocks for 2 s
  EXPECT_EQ(kv.used(), 2);
  EXPECT_EQ(kv.peak(), 6);
  EXPECT_DOUBLE_EQ(kv.block_seconds(), 12.0);
  EXPECT_TRUE(kv.in_range());
  kv.change(SimTime::start() + Duration::seconds(3), -3);
  EXPECT_FALSE(kv.in_range());
}

TEST(KvManager, PreemptsTheMostRecentlyAdmitted) {
  constexpr uint32_t kGone = UINT32_MAX;
  std::vector<uint32_t> running = {4, 9, 2, kGone, kGone};
  EXPECT_EQ(preemption_victim(running, kGone), 2u);
  EXPECT_EQ(running.size(), 3u);  // removed entries dropped from the end
}

}  // namespace
}  // namespace quadrant
