#include "sim/metrics/metrics.h"

#include "sim/core/error.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace quadrant {

namespace {

// Sorts floats (no NaN) ascending by an LSD radix sort on their bits, 3 passes of 11
// bits: O(n), several times faster than std::sort on the million-value vectors of large
// runs. The key maps IEEE order onto unsigned order (negatives: all bits flipped;
// positives: the sign bit set).
void sort_floats(std::vector<float>& v) {
  if (v.size() < 1024) {
    std::sort(v.begin(), v.end());
    return;
  }
  const size_t n = v.size();
  std::vector<uint32_t> keys(n), tmp(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, &v[i], sizeof b);
    keys[i] = (b & 0x80000000u) ? ~b : b | 0x80000000u;
  }
  constexpr int kBits = 11;
  constexpr uint32_t kMask = (1u << kBits) - 1;
  for (int shift = 0; shift < 32; shift += kBits) {
    std::vector<size_t> start(size_t{kMask} + 2, 0);
    for (uint32_t k : keys) ++start[((k >> shift) & kMask) + 1];
    for (size_t d = 1; d < start.size(); ++d) start[d] += start[d - 1];
    for (uint32_t k : keys) tmp[start[(k >> shift) & kMask]++] = k;
    keys.swap(tmp);
  }
  for (size_t i = 0; i < n; ++i) {
    const uint32_t k = keys[i];
    const uint32_t b = (k & 0x80000000u) ? k & 0x7fffffffu : ~k;
    std::memcpy(&v[i], &b, sizeof b);
  }
}

}  // namespace

double Percentiles::at(double percentile) const {
  if (percentile == 50) return p50;
  if (percentile == 90) return p90;
  if (percentile == 99) return p99;
  if (*this == Percentiles{}) return 0;  // no run (a summary never filled): 0, as p50..p99
  QUADRANT_CHECK_MSG(percentile == slo_percentile && slo_percentile > 0,
                     percentile_name(percentile) + " was not computed (held: P50, P90, P99" +
                         (slo_percentile > 0 ? ", " + percentile_name(slo_percentile) : "") + ")");
  return at_slo_percentile;
}

std::string percentile_name(double percentile) {
  char b[32];
  const auto r = std::to_chars(b, b + sizeof b, percentile);  // shortest: 95, 99.9
  std::string name = "P";
  name.append(b, r.ptr);
  return name;
}

Percentiles percentiles(std::vector<float> v, double slo_percentile) {
  Percentiles p;
  const bool own =
      slo_percentile > 0 && slo_percentile != 50 && slo_percentile != 90 && slo_percentile != 99;
  if (own) p.slo_percentile = slo_percentile;
  if (v.empty()) return p;
  sort_floats(v);
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
  if (own) p.at_slo_percentile = rank(slo_percentile);
  p.max = v.back();
  return p;
}

RequestMetrics::RequestMetrics(const SloSpec& slo, Duration warmup, bool keep_requests,
                               Duration scored_until)
    : slo_(slo), warmup_(warmup), keep_(keep_requests), scored_until_(scored_until) {}

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
  const bool met = ttft <= slo_.ttft.to_seconds() && tpot <= slo_.tpot.to_seconds();
  if (window_open_ && done - SimTime::start() >= warmup_) {
    last_finish_ = std::max(last_finish_, done);
    ++window_finished_;
    window_met_ += met ? 1 : 0;
    window_output_tokens_ += output_tokens;
  }
  if (arrival - SimTime::start() < warmup_) return;
  if (scored_until_ > Duration::zero() && arrival - SimTime::start() >= scored_until_) return;
  ttft_.push_back(static_cast<float>(ttft));
  if (output_tokens > 1) tpot_.push_back(static_cast<float>(tpot));
  e2e_.push_back(static_cast<float>(e2e));
  queue_.push_back(static_cast<float>(queue));
  if (met) ++met_;
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
  s.ttft = percentiles(ttft_, slo_.ttft_percentile);
  s.tpot = percentiles(tpot_, slo_.tpot_percentile);
  s.e2e = percentiles(e2e_);
  s.queueing = percentiles(queue_);
  // Rejected requests after warm-up count against attainment: they missed their SLOs.
  const double judged = static_cast<double>(s.requests_scored) + static_cast<double>(rejected_);
  s.slo_attainment = judged > 0 ? static_cast<double>(met_) / judged : 0.0;
  // Goodput, throughput and output tokens/s: one window, one population (see metrics.h).
  if (window_to_last_finish_ && window_finished_ > 0)
    window_s = last_finish_.to_seconds() - warmup_.to_seconds();
  if (window_s > 0) {
    s.goodput_rps = static_cast<double>(window_met_) / window_s;
    s.throughput_rps = static_cast<double>(window_finished_) / window_s;
    s.output_tokens_per_s = static_cast<double>(window_output_tokens_) / window_s;
  }
  s.rejections = reasons_;
}

}  // namespace quadrant
