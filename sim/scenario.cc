#include "sim/scenario.h"

#include <cmath>

namespace quadrant {

const char* to_string(ArrivalProcess p) {
  switch (p) {
    case ArrivalProcess::kPoisson:
      return "poisson";
    case ArrivalProcess::kGamma:
      return "gamma";
    case ArrivalProcess::kDeterministic:
      return "deterministic";
    case ArrivalProcess::kDiurnal:
      return "diurnal";
    case ArrivalProcess::kTrace:
      return "trace";
  }
  return "?";
}

const char* to_string(TraceFormat f) {
  switch (f) {
    case TraceFormat::kAzure:
      return "azure";
    case TraceFormat::kBurstGpt:
      return "burstgpt";
    case TraceFormat::kMooncake:
      return "mooncake";
  }
  return "?";
}

const char* to_string(LengthDistribution d) {
  switch (d) {
    case LengthDistribution::kFixed:
      return "fixed";
    case LengthDistribution::kUniform:
      return "uniform";
    case LengthDistribution::kLognormal:
      return "lognormal";
    case LengthDistribution::kHistogram:
      return "histogram";
  }
  return "?";
}

const char* to_string(Role r) {
  switch (r) {
    case Role::kPrefill:
      return "prefill";
    case Role::kDecode:
      return "decode";
    case Role::kColocated:
      return "colocated";
  }
  return "?";
}

const char* to_string(ServingMode m) {
  return m == ServingMode::kDisaggregated ? "disaggregated" : "colocated";
}

const char* to_string(PrefillRouting r) {
  return r == PrefillRouting::kRoundRobin   ? "round_robin"
         : r == PrefillRouting::kCacheAware ? "cache_aware"
                                            : "least_tokens";
}

const char* to_string(DecodeRouting r) {
  return r == DecodeRouting::kRoundRobin ? "round_robin" : "least_kv";
}

const char* to_string(Objective o) {
  switch (o) {
    case Objective::kMinCost:
      return "min_cost";
    case Objective::kMinGpus:
      return "min_gpus";
    case Objective::kMaxGoodputPerDollar:
      return "max_goodput_per_dollar";
  }
  return "?";
}

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
