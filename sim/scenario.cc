#include "sim/scenario.h"

#include <cmath>

namespace quadrant {

double LengthSpec::mean() const {
  switch (distribution) {
    case LengthDistribution::kFixed:
      return static_cast<double>(value);
    case LengthDistribution::kUniform:
      return 0.5 * static_cast<double>(min + max);
    case LengthDistribution::kLognormal:
      return median * std::exp(0.5 * sigma * sigma);
    case LengthDistribution::kHistogram: {
      double w = 0, s = 0;
      for (const auto& [len, weight] : bins) {
        s += static_cast<double>(len) * weight;
        w += weight;
      }
      return w > 0 ? s / w : 0;
    }
  }
  return 0;
}

double SpeculativeSpec::expected_tokens_per_step() const {
  if (!enabled || draft_length <= 0) return 1;
  const double a = acceptance_rate;
  return a >= 1 ? draft_length + 1.0 : (1 - std::pow(a, draft_length + 1)) / (1 - a);
}

double Scenario::price_per_hour(const std::string& gpu) const {
  if (auto it = costs.usd_per_hour.find(gpu); it != costs.usd_per_hour.end()) return it->second;
  const GpuSpec* g = catalog.find(gpu);
  return g ? g->usd_per_hour : 0.0;
}

}  // namespace quadrant
