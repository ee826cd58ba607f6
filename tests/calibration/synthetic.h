// Synthetic profiles for the calibration tests: times from a known closed form plus
// seeded noise, so that a fitter must recover the form and a check must see (or not see)
// a planted change. Never written to calibration/profiles: they are not measurements.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>

#include "calibration/features.h"
#include "calibration/profile.h"

namespace quadrant::calibration::testing {

// A closed form of the features: the "true" kernel time in ns.
using TrueTime = std::function<double(const Features&)>;

inline double roofline_sum(const Features& f) {
  return 5000 + f.flops / 600e3 + f.bytes / 2.8e3;  // 5 us + 600 TFLOP/s + 2.8 TB/s
}
inline double roofline_max(const Features& f) {
  return 4000 + std::max(f.flops / 650e3, f.bytes / 3.0e3);
}

inline void set_stats(ProfileShape& s, double t, double noise, std::mt19937_64& rng) {
  std::normal_distribution<double> n(0, noise);
  s.median_ns = t * (1 + n(rng));
  s.mad_ns = s.median_ns * noise / 1.4826;
  s.min_ns = s.median_ns * (1 - 2 * noise);
  s.max_ns = s.median_ns * (1 + 3 * noise);
  s.count = 20;
  s.sm_clock_mhz = 1980;
}

// Decode attention over a grid of batch sizes, KV lengths and head counts.
inline Profile decode_attention_profile(const TrueTime& truth, double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Profile p;
  p.quadrant = "decode_attention";
  p.device = {"Synthetic GPU", "H100-SXM", 132, 1980, 2619, "test", "13.0", "test"};
  for (int batch : {1, 4, 16, 64, 128})
    for (int kv : {512, 2048, 8192, 32768})
      for (int heads : {8, 32}) {
        ProfileShape s;
        s.format = "bf16";
        s.params = {
            {"batch", batch}, {"kv_len", kv}, {"heads", heads}, {"kv_heads", 8}, {"head_dim", 128}};
        Features f = profile_features(p.quadrant, s, "synthetic", "s");
        s.flops = f.flops;
        s.bytes = f.bytes;
        set_stats(s, truth(f), noise, rng);
        p.shapes.push_back(s);
      }
  return p;
}

// Prefill MoE FFN whose time follows tile-padded FLOPs (grouped GEMM tiles of 128 rows).
inline Profile prefill_ffn_profile(double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Profile p;
  p.quadrant = "prefill_ffn";
  p.device = {"Synthetic GPU", "H100-SXM", 132, 1980, 2619, "test", "13.0", "test"};
  for (int tokens : {64, 100, 256, 300, 512, 700, 1024, 1500, 2048, 4096})
    for (int experts : {8, 32})
      for (int inter : {1024, 2048}) {
        ProfileShape s;
        s.format = "bf16";
        s.params = {{"tokens", tokens},
                    {"experts", experts},
                    {"top_k", 2},
                    {"hidden", 4096},
                    {"intermediate", inter}};
        Features f = profile_features(p.quadrant, s, "synthetic", "s");
        s.flops = f.flops;
        s.bytes = f.bytes;
        set_stats(s, 6000 + std::max(f.padded_flops / 600e3, f.bytes / 2.9e3), noise, rng);
        p.shapes.push_back(s);
      }
  return p;
}

inline Profile dense_gemm_profile(double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Profile p;
  p.quadrant = "dense_gemm";
  p.device = {"Synthetic GPU", "H100-SXM", 132, 1980, 2619, "test", "13.0", "test"};
  for (int m : {16, 128, 1024, 4096})
    for (int n : {1024, 4096, 7168})
      for (int k : {1024, 7168}) {
        ProfileShape s;
        s.format = "bf16";
        s.params = {{"m", m}, {"n", n}, {"k", k}};
        Features f = profile_features(p.quadrant, s, "synthetic", "s");
        s.flops = f.flops;
        s.bytes = f.bytes;
        set_stats(s, roofline_max(f), noise, rng);
        p.shapes.push_back(s);
      }
  return p;
}

// Every shape's median (and min/max) times `factor`.
inline Profile scaled(Profile p, double factor) {
  for (ProfileShape& s : p.shapes) {
    s.median_ns *= factor;
    s.min_ns *= factor;
    s.max_ns *= factor;
    s.mad_ns *= factor;
  }
  return p;
}

// Each shape's median times (1 + u), u uniform in [-spread, spread].
inline Profile jittered(Profile p, double spread, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-spread, spread);
  for (ProfileShape& s : p.shapes) {
    const double f = 1 + u(rng);
    s.median_ns *= f;
    s.min_ns = std::min(s.min_ns * f, s.median_ns);
    s.max_ns = std::max(s.max_ns * f, s.median_ns);
  }
  return p;
}

}  // namespace quadrant::calibration::testing
