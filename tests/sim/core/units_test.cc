#include "sim/core/units.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "sim/core/error.h"

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

// Every double -> nanoseconds conversion and every clock sum is checked: a value past
// the int64 clock is an InputError naming it, never a wrapped time (1e300 s once became
// -292 years; a 1e-300 memory efficiency a 0.6 ms TPOT).
TEST(Units, TimesPastTheClockAreErrorsNotWrappedValues) {
  EXPECT_THROW(Duration::seconds(1e300), InputError);
  EXPECT_THROW(Duration::seconds(-1e300), InputError);
  EXPECT_THROW(Duration::seconds(std::nan("")), InputError);
  EXPECT_THROW(Duration::millis(std::numeric_limits<double>::infinity()), InputError);
  EXPECT_THROW(Bytes::giga(80) / BytesPerSec(1e-300), InputError);
  EXPECT_THROW(Flops(1e30) / FlopsPerSec(1), InputError);
  EXPECT_THROW(Bytes(0) / BytesPerSec(0), InputError);  // NaN
  EXPECT_THROW(Duration::seconds(1).scaled(1e300), InputError);
  EXPECT_THROW(SimTime::never() + Duration::nanos(1), InputError);
  EXPECT_THROW(SimTime::start() - SimTime::never() - Duration::nanos(2), InputError);
  EXPECT_THROW(Duration::seconds(1e9) * 1'000'000'000, InputError);
  // The largest in-range values still convert exactly.
  EXPECT_EQ(Duration::seconds(9.1e9).ns(), 9'100'000'000'000'000'000);
  EXPECT_EQ((SimTime::never() - SimTime::start()).ns(), std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace quadrant
