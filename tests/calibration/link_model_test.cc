#include "calibration/link_model.h"

#include <gtest/gtest.h>

#include <random>

#include "sim/core/error.h"

namespace quadrant::calibration {
namespace {

TEST(LinkModel, RecoversLatencyAndBandwidth) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 0.01);
  std::vector<LinkPoint> pts;
  for (double b = 4096; b <= 1 << 30; b *= 4)
    pts.push_back({b, (3000 + b / 400e9 * 1e9) * (1 + noise(rng))});  // 3 us + 400 GB/s
  FittedLink l = fit_link("nvlink_peer", pts);
  EXPECT_NEAR(l.latency.to_micros(), 3.0, 0.15);
  EXPECT_NEAR(l.bandwidth.value() / 400e9, 1.0, 0.03);
  EXPECT_LT(l.heldout.median, 0.03);
  EXPECT_NEAR(l.predict(Bytes(1e9)).to_micros(), 3 + 2500, 80);
}

TEST(LinkModel, TooFewSizesIsAnInputError) {
  EXPECT_THROW(fit_link("p", {{1, 1}, {2, 2}}), InputError);
}

}  // namespace
}  // namespace quadrant::calibration
