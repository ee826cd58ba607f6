#include "sim/core/random.h"

#include <gtest/gtest.h>

#include <cmath>

namespace quadrant {
namespace {

// mt19937_64 is specified by the standard and the transforms are our own code, so a
// stream is a pure function of (seed, name) on every platform.
TEST(RandomStream, SameSeedAndNameGiveTheSameSequence) {
  RandomStream a(42, "arrivals"), b(42, "arrivals"), c(42, "lengths"), d(43, "arrivals");
  bool differs_by_name = false, differs_by_seed = false;
  for (int i = 0; i < 100; ++i) {
    const double x = a.uniform();
    EXPECT_EQ(x, b.uniform());
    differs_by_name |= x != c.uniform();
    differs_by_seed |= x != d.uniform();
  }
  EXPECT_TRUE(differs_by_name);
  EXPECT_TRUE(differs_by_seed);
}

struct Moments {
  double mean = 0, var = 0;
};
template <typename F>
Moments moments(F draw, int n) {
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = draw();
    s += x;
    s2 += x * x;
  }
  const double m = s / n;
  return {m, s2 / n - m * m};
}

TEST(RandomStream, DistributionsHaveTheirMoments) {
  RandomStream r(7, "moments");
  const int n = 400000;
  Moments u = moments([&] { return r.uniform(); }, n);
  EXPECT_NEAR(u.mean, 0.5, 0.005);
  EXPECT_NEAR(u.var, 1.0 / 12, 0.002);
  Moments e = moments([&] { return r.exponential(4.0); }, n);
  EXPECT_NEAR(e.mean, 0.25, 0.0025);
  EXPECT_NEAR(e.var, 0.0625, 0.002);
  Moments z = moments([&] { return r.normal(); }, n);
  EXPECT_NEAR(z.mean, 0.0, 0.01);
  EXPECT_NEAR(z.var, 1.0, 0.01);
  for (double shape : {0.25, 1.0, 4.0}) {
    Moments g = moments([&] { return r.gamma(shape); }, n);
    EXPECT_NEAR(g.mean, shape, 0.02 * shape) << shape;
    EXPECT_NEAR(g.var, shape, 0.04 * shape) << shape;
  }
  Moments k = moments([&] { return static_cast<double>(r.uniform_int(3, 8)); }, n);
  EXPECT_NEAR(k.mean, 5.5, 0.02);
}

}  // namespace
}  // namespace quadrant
