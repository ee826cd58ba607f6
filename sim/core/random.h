// The simulation's random streams. Each stream is a std::mt19937_64, whose output
// sequence the C++ standard specifies exactly; the distributions are our own code,
// because libstdc++/libc++ std::*_distribution algorithms are unspecified and differ
// between library versions, which would break "same seed => byte-identical output".
//
// Streams are derived from the scenario seed and a stream name (splitmix64 of both), so
// adding a stream for a new purpose does not shift the draws of the others.
//
//   RandomStream arrivals(seed, "arrivals");
//   double gap = arrivals.exponential(rate);
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>

namespace quadrant {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class RandomStream {
 public:
  RandomStream(uint64_t seed, std::string_view name) : engine_(derive(seed, name)) {}

  // Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform on (0, 1]: safe under log().
  double uniform_open0() { return 1.0 - uniform(); }
  // Uniform integer on [lo, hi].
  int64_t uniform_int(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    if (span == 0) return lo + static_cast<int64_t>(engine_());  // full range
    // Rejection keeps it exactly uniform.
    const uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t x;
    do x = engine_();
    while (x >= limit);
    return lo + static_cast<int64_t>(x % span);
  }
  double exponential(double rate) { return -std::log(uniform_open0()) / rate; }
  // Standard normal by Box-Muller, one of the pair kept for the next call.
  double normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform_open0()));
    const double theta = 2.0 * M_PI * uniform();
    spare_ = r * std::sin(theta);
    have_spare_ = true;
    return r * std::cos(theta);
  }
  // Gamma(shape, scale=1) by Marsaglia and Tsang (2000); shape < 1 by boosting.
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(uniform_open0(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform_open0();
      if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
  }
  bool bernoulli(double p) { return uniform() < p; }

 private:
  static uint64_t derive(uint64_t seed, std::string_view name) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the name
    for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ULL;
    return splitmix64(seed ^ splitmix64(h));
  }
  std::mt19937_64 engine_;
  double spare_ = 0;
  bool have_spare_ = false;
};

}  // namespace quadrant
