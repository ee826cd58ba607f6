#include "sim/metrics/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

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

// An SLO's own percentile is computed beside P50/P90/P99 by the same nearest rank, and
// read back exactly: nothing rounds P95 to P99 or P75 to P90.
TEST(Percentiles, TheSlosOwnPercentileIsExact) {
  std::vector<float> v;
  for (int i = 1000; i >= 1; --i) v.push_back(static_cast<float>(i));
  for (double q : {95.0, 75.0, 99.9, 12.5}) {
    const Percentiles p = percentiles(v, q);
    EXPECT_EQ(p.slo_percentile, q);
    EXPECT_DOUBLE_EQ(p.at(q), std::ceil(q / 100.0 * 1000)) << q;  // value k at rank k
    EXPECT_DOUBLE_EQ(p.at(90), 900);
    EXPECT_DOUBLE_EQ(p.at(99), 990);
    EXPECT_DOUBLE_EQ(p.at(50), 500);
  }
  // 50, 90 and 99 are held anyway: nothing beside them.
  EXPECT_EQ(percentiles(v, 90).slo_percentile, 0);
  EXPECT_EQ(percentiles(v, 90), percentiles(v));
  EXPECT_EQ(percentile_name(95), "P95");
  EXPECT_EQ(percentile_name(99.9), "P99.9");
  EXPECT_EQ(percentile_name(90), "P90");
  // A summary never filled reads 0 anywhere, as its P50..P99.
  EXPECT_EQ(Percentiles{}.at(95), 0);
}

TEST(PercentilesDeathTest, APercentileNotComputedIsAnInternalError) {
  std::vector<float> v = {1, 2, 3};
  EXPECT_DEATH(percentiles(v, 95).at(80), "P80 was not computed \\(held: P50, P90, P99, P95\\)");
  EXPECT_DEATH(percentiles(v).at(95), "P95 was not computed");
}

// Large inputs take the radix sort: the same order, hence bit-identical figures (the
// mean is summed in sorted order), as a comparison sort, negatives and zeros included.
TEST(Percentiles, RadixSortAgreesWithAComparisonSort) {
  std::mt19937_64 rng(5);
  for (size_t n : {1023u, 1024u, 5000u, 100000u}) {
    std::vector<float> v(n);
    std::lognormal_distribution<float> lengths(0.0f, 2.0f);
    for (size_t i = 0; i < n; ++i) {
      v[i] = lengths(rng);
      if (i % 7 == 0) v[i] = -v[i];
      if (i % 101 == 0) v[i] = 0.0f;
    }
    std::vector<float> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    double sum = 0;
    for (float x : sorted) sum += x;
    const Percentiles p = percentiles(v);
    EXPECT_EQ(p.mean, sum / static_cast<double>(n)) << n;
    EXPECT_EQ(p.p50, sorted[(n + 1) / 2 - 1]) << n;
    EXPECT_EQ(p.p99, sorted[static_cast<size_t>(std::ceil(0.99 * static_cast<double>(n))) - 1]);
    EXPECT_EQ(p.max, sorted.back()) << n;
  }
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

// A run shorter than one request's latency: nothing has finished by the last arrival,
// so the window runs to the last finish and the rates are what was served over that
// time (they were 0 with 100% attainment).
TEST(RequestMetrics, WhenNothingFinishesByTheLastArrivalTheWindowRunsToTheLastFinish) {
  SloSpec slo;
  slo.ttft = Duration::seconds(1);
  slo.tpot = Duration::seconds(1);
  RequestMetrics m(slo, Duration::zero(), false);
  const SimTime t0 = SimTime::start();
  for (int i = 0; i < 4; ++i) m.arrive();
  m.close_window();  // the last arrival, at 0.3 s
  for (int i = 0; i < 4; ++i)
    m.finish(i, t0 + Duration::millis(100 * i), t0 + Duration::millis(100 * i),
             t0 + Duration::millis(100 * i + 50), t0 + Duration::seconds(5 + i), 8, 10);
  SimulationSummary s;
  m.fill(s, 0.3);
  EXPECT_DOUBLE_EQ(s.throughput_rps, 4 / 8.0);  // four requests by the last finish, 8 s
  EXPECT_DOUBLE_EQ(s.goodput_rps, 4 / 8.0);
  EXPECT_DOUBLE_EQ(s.output_tokens_per_s, 40 / 8.0);
  // Once a request has finished inside the window, the window ends at the last arrival.
  RequestMetrics n(slo, Duration::zero(), false);
  n.finish(0, t0, t0, t0 + Duration::millis(10), t0 + Duration::millis(200), 8, 2);
  n.close_window();
  n.finish(1, t0, t0, t0 + Duration::millis(10), t0 + Duration::seconds(9), 8, 2);
  SimulationSummary u;
  n.fill(u, 0.5);
  EXPECT_DOUBLE_EQ(u.throughput_rps, 1 / 0.5);
}

// The scored requests' TTFT and TPOT carry the SLO's own percentiles.
TEST(RequestMetrics, ScoresEachSloOnItsOwnPercentile) {
  SloSpec slo;
  slo.ttft_percentile = 95;
  slo.tpot_percentile = 75;
  RequestMetrics m(slo, Duration::zero(), false);
  const SimTime t0 = SimTime::start();
  for (int i = 1; i <= 20; ++i)  // TTFT i ms, TPOT i ms
    m.finish(i, t0, t0, t0 + Duration::millis(i), t0 + Duration::millis(i + i * 10), 8, 11);
  SimulationSummary s;
  m.fill(s, 1);
  EXPECT_NEAR(s.ttft.at(95), 0.019, 1e-6);  // rank 19 of 20
  EXPECT_NEAR(s.tpot.at(75), 0.015, 1e-6);  // rank 15 of 20
  EXPECT_NEAR(s.ttft.at(99), 0.020, 1e-6);
  EXPECT_NEAR(s.tpot.at(90), 0.018, 1e-6);
}

TEST(RequestMetrics, RequestsArrivingAfterTheScoredWindowAreNotScored) {
  SloSpec slo;
  slo.ttft = Duration::seconds(1);
  slo.tpot = Duration::millis(100);
  RequestMetrics m(slo, Duration::seconds(10), false, Duration::seconds(20));
  auto t = [](double s) { return SimTime::from_ns(static_cast<int64_t>(s * 1e9)); };
  m.finish(0, t(15), t(15), t(15.5), t(16.4), 100, 11);  // scored, meets both
  m.finish(1, t(19.9), t(20), t(21.5), t(22), 100, 11);  // scored, misses TTFT
  m.finish(2, t(20), t(20), t(20.5), t(21.4), 100, 11);  // arrives at the end: not scored
  m.finish(3, t(25), t(25), t(29), t(40), 100, 11);      // after it: not scored
  SimulationSummary s;
  m.fill(s, 10.0);
  EXPECT_EQ(s.requests_finished, 4);
  EXPECT_EQ(s.requests_scored, 2);
  EXPECT_DOUBLE_EQ(s.slo_attainment, 0.5);
}

}  // namespace
}  // namespace quadrant
