#include "sim/metrics/metrics.h"

#include <gtest/gtest.h>

namespace quadrant {
namespace {

TEST(Percentiles, NearestRankOnSortedValues) {
  std::vector<float> v;
  for (int i = 100; i >= 1; --i) v.push_back(static_cast<float>(i));
  Percentiles p = percentiles(v);
  EXPECT_DOUBLE_EQ(p.p50, 50);
  EXPECT_DOUBLE_EQ(p.p90, 90);
  EXPECT_DOUBLE_EQ(p.p99, 99);
  EXPECT_DOUBLE_EQ(p.max, 100);
  EXPECT_DOUBLE_EQ(p.mean, 50.5);
  EXPECT_DOUBLE_EQ(percentiles({3.0f}).p99, 3.0);
  EXPECT_DOUBLE_EQ(percentiles({}).p50, 0.0);
}

TEST(RequestMetrics, WarmupRequestsAreNotScoredAndSloCountsBothTargets) {
  SloSpec slo;
  slo.ttft = Duration::seconds(1);
  slo.tpot = Duration::millis(100);
  RequestMetrics m(slo, Duration::seconds(10), true);
  auto t = [](double s) { return SimTime::from_ns(static_cast<int64_t>(s * 1e9)); };
  // Before warm-up: finished but not scored.
  m.finish(0, t(1), t(1), t(1.5), t(2.5), 100, 11);
  // Meets both: TTFT 0.5 s, TPOT 0.9 s / 10 = 90 ms.
  m.finish(1, t(20), t(20), t(20.5), t(21.4), 100, 11);
  // Misses TPOT.
  m.finish(2, t(30), t(30), t(30.5), t(32.5), 100, 11);
  SimulationSummary s;
  m.fill(s, 10.0);
  EXPECT_EQ(s.requests_finished, 3);
  EXPECT_EQ(s.requests_scored, 2);
  EXPECT_DOUBLE_EQ(s.slo_attainment, 0.5);
  EXPECT_DOUBLE_EQ(s.goodput_rps, 0.1);
  EXPECT_EQ(s.output_tokens, 33);
  EXPECT_EQ(m.take_records().size(), 3u);
}

}  // namespace
}  // namespace quadrant
