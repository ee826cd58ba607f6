#include "sim/core/units.h"

#include <gtest/gtest.h>

namespace quadrant {
namespace {

TEST(Units, BytesOverBandwidthIsDuration) {
  Duration t = Bytes::giga(80) / BytesPerSec::tera(3.35);
  EXPECT_NEAR(t.to_millis(), 23.88, 0.01);
}

TEST(Units, NonZeroWorkNeverTakesZeroTime) {
  EXPECT_EQ((Bytes(1) / BytesPerSec::tera(1000)).ns(), 1);
  EXPECT_EQ((Flops(0) / FlopsPerSec::tera(1)).ns(), 0);
}

TEST(Units, TimeArithmetic) {
  SimTime t = SimTime::start() + Duration::millis(2);
  EXPECT_EQ(t.ns(), 2'000'000);
  EXPECT_EQ((t - SimTime::start()), Duration::micros(2000));
  EXPECT_LT(Duration::micros(1), Duration::millis(1));
}

}  // namespace
}  // namespace quadrant
