#include "sim/metrics/metrics.h"

#include <algorithm>
#include <cmath>

namespace quadrant {

Percentiles percentiles(std::vector<float> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (float x : v) sum += x;
  auto rank = [&](double q) {
    size_t k = static_cast<size_t>(std::ceil(q / 100.0 * static_cast<double>(v.size())));
    return static_cast<double>(v[std::clamp<size_t>(k, 1, v.size()) - 1]);
  };
  p.mean = sum / static_cast<double>(v.size());
  p.p50 = rank(50);
  p.p90 = rank(90);
  p.p99 = rank(99);
  p.max = v.back();
  return p;
}

RequestMetrics::RequestMetrics(const SloSpec& slo, Duration warmup, bool keep_requests)
    : slo_(slo), warmup_(warmup), keep_(keep_requests) {}

void RequestMetrics::finish(uint64_t id, SimTime arrival, SimTime first_launch, SimTime first_token,
                            SimTime done, int32_t input_tokens, int32_t output_tokens) {
  ++finished_;
  input_tokens_ += input_tokens;
  output_tokens_ += output_tokens;
  const double ttft = (first_token - arrival).to_seconds();
  // TPOT: the mean gap between output tokens after the first (none for one token).
  const double tpot =
      output_tokens > 1 ? (done - first_token).to_seconds() / (output_tokens - 1) : 0.0;
  const double e2e = (done - arrival).to_seconds();
  const double queue = (first_launch - arrival).to_seconds();
  if (keep_)
    records_.push_back({id, arrival.to_seconds(), input_tokens, output_tokens,
                        static_cast<float>(ttft), static_cast<float>(tpot), static_cast<float>(e2e),
                        static_cast<float>(queue), false});
  if (arrival - SimTime::start() < warmup_) return;
  ttft_.push_back(static_cast<float>(ttft));
  if (output_tokens > 1) tpot_.push_back(static_cast<float>(tpot));
  e2e_.push_back(static_cast<float>(e2e));
  queue_.push_back(static_cast<float>(queue));
  if (ttft <= slo_.ttft.to_seconds() && tpot <= slo_.tpot.to_seconds()) ++met_;
}

void RequestMetrics::reject(uint64_t id, SimTime arrival, int32_t input_tokens,
                            int32_t output_tokens, const std::string& reason) {
  ++rejected_;
  ++reasons_[reason];
  if (keep_)
    records_.push_back({id, arrival.to_seconds(), input_tokens, output_tokens, 0, 0, 0, 0, true});
}

void RequestMetrics::fill(SimulationSummary& s, double window_s) const {
  s.requests_arrived = arrived_;
  s.requests_finished = finished_;
  s.requests_rejected = rejected_;
  s.requests_scored = static_cast<int64_t>(ttft_.size());
  s.input_tokens = input_tokens_;
  s.output_tokens = output_tokens_;
  s.ttft = percentiles(ttft_);
  s.tpot = percentiles(tpot_);
  s.e2e = percentiles(e2e_);
  s.queueing = percentiles(queue_);
  // Rejected requests after warm-up count against attainment: they missed their SLOs.
  const double judged = static_cast<double>(s.requests_scored) + static_cast<double>(rejected_);
  s.slo_attainment = judged > 0 ? static_cast<double>(met_) / judged : 0.0;
  s.goodput_rps = window_s > 0 ? static_cast<double>(met_) / window_s : 0.0;
  s.rejections = reasons_;
}

}  // namespace quadrant
