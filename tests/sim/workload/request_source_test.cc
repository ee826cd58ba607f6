#include "sim/workload/request_source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace quadrant {
namespace {

WorkloadSpec base() {
  WorkloadSpec w;
  w.duration = Duration::seconds(1e6);
  w.input_length.distribution = LengthDistribution::kFixed;
  w.input_length.value = 100;
  w.output_length = w.input_length;
  return w;
}

// Inter-arrival mean and CV over n requests.
std::pair<double, double> gaps(RequestSource& src, int n) {
  double prev = 0, s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    auto r = src.next();
    EXPECT_TRUE(r.has_value());
    const double t = r->arrival.to_seconds();
    s += t - prev;
    s2 += (t - prev) * (t - prev);
    prev = t;
  }
  const double mean = s / n;
  return {mean, std::sqrt(std::max(0.0, s2 / n - mean * mean)) / mean};
}

TEST(RequestSource, PoissonGammaAndDeterministicArrivals) {
  WorkloadSpec w = base();
  w.arrival.rate_per_s = 5;
  RequestSource p(w, 1);
  auto [pm, pcv] = gaps(p, 200000);
  EXPECT_NEAR(pm, 0.2, 0.002);
  EXPECT_NEAR(pcv, 1.0, 0.01);
  for (double cv : {0.5, 2.0, 4.0}) {
    w.arrival.process = ArrivalProcess::kGamma;
    w.arrival.cv = cv;
    RequestSource g(w, 2);
    auto [gm, gcv] = gaps(g, 400000);
    EXPECT_NEAR(gm, 0.2, 0.2 * 0.02) << cv;
    EXPECT_NEAR(gcv, cv, cv * 0.04) << cv;
  }
  w.arrival.process = ArrivalProcess::kDeterministic;
  RequestSource d(w, 3);
  auto [dm, dcv] = gaps(d, 1000);
  EXPECT_NEAR(dm, 0.2, 1e-9);
  EXPECT_NEAR(dcv, 0.0, 1e-6);
}

TEST(RequestSource, DiurnalThinningFollowsTheRateCurve) {
  WorkloadSpec w = base();
  w.arrival.process = ArrivalProcess::kDiurnal;
  w.arrival.curve_period = Duration::seconds(100);
  w.arrival.curve = {{Duration::zero(), 10.0}, {Duration::seconds(50), 40.0}};
  w.duration = Duration::seconds(100 * 200);
  RequestSource src(w, 9);
  int64_t low = 0, high = 0;
  while (auto r = src.next()) {
    const int64_t offset = r->arrival.ns() % Duration::seconds(100).ns();
    (offset < Duration::seconds(50).ns() ? low : high) += 1;
  }
  // 200 periods x 50 s x rate: 100,000 and 400,000 expected.
  EXPECT_NEAR(static_cast<double>(low), 100000, 1500);
  EXPECT_NEAR(static_cast<double>(high), 400000, 3000);
}

TEST(RequestSource, StopsAtDurationAndAtTheRequestCap) {
  WorkloadSpec w = base();
  w.arrival.process = ArrivalProcess::kDeterministic;
  w.arrival.rate_per_s = 10;
  w.duration = Duration::seconds(2);
  RequestSource a(w, 1);
  int n = 0;
  while (a.next()) ++n;
  EXPECT_EQ(n, 19);  // 0.1, 0.2, ... 1.9 s (2.0 s is not before the end)
  w.max_requests = 5;
  RequestSource b(w, 1);
  n = 0;
  while (b.next()) ++n;
  EXPECT_EQ(n, 5);
}

// A rate so small that its first gap is past any run gives no requests, not a wrapped
// clock (rate 1e-300 once ended in "internal error ... e.time >= now").
TEST(RequestSource, ATinyRateGivesNoRequests) {
  for (ArrivalProcess p :
       {ArrivalProcess::kPoisson, ArrivalProcess::kGamma, ArrivalProcess::kDeterministic}) {
    WorkloadSpec w;
    w.arrival.process = p;
    w.arrival.rate_per_s = 1e-300;
    w.duration = Duration::seconds(60);
    RequestSource src(w, 1);
    EXPECT_FALSE(src.next().has_value()) << to_string(p);
  }
}

TEST(LengthSampler, DistributionsRespectTheirShapes) {
  RandomStream rng(5, "lengths");
  LengthSpec u;
  u.distribution = LengthDistribution::kUniform;
  u.min = 10;
  u.max = 20;
  LengthSampler us(u);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const int32_t x = us.sample(rng);
    ASSERT_GE(x, 10);
    ASSERT_LE(x, 20);
    sum += x;
  }
  EXPECT_NEAR(sum / 100000, 15.0, 0.05);

  LengthSpec l;
  l.distribution = LengthDistribution::kLognormal;
  l.median = 1000;
  l.sigma = 0.5;
  l.min = 1;
  l.max = 1 << 30;
  LengthSampler ls(l);
  int below = 0;
  double log_sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const int32_t x = ls.sample(rng);
    below += x < 1000;
    log_sum += std::log(x);
  }
  EXPECT_NEAR(static_cast<double>(below) / n, 0.5, 0.01);
  EXPECT_NEAR(log_sum / n, std::log(1000.0), 0.01);

  LengthSpec h;
  h.distribution = LengthDistribution::kHistogram;
  h.bins = {{100, 1.0}, {1000, 3.0}};
  LengthSampler hs(h);
  int big = 0;
  for (int i = 0; i < 100000; ++i) big += hs.sample(rng) == 1000;
  EXPECT_NEAR(big / 100000.0, 0.75, 0.01);
}

}  // namespace
}  // namespace quadrant
