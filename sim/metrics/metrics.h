// What a run measures of its requests: per request TTFT, TPOT, E2E and queueing, kept
// as floats (16 bytes per scored request) so that a million-request run stays small,
// and reduced to percentiles, SLO attainment, goodput and throughput at the end.
//
// Two populations, each with its own purpose:
// - Scored requests (percentiles, SLO attainment): those that arrived after warm-up,
//   wherever they finish; attainment = scored requests meeting both SLOs / (scored +
//   rejected).
// - The measurement window (goodput, throughput, output tokens/s): from the end of
//   warm-up to the last arrival (close_window()). Throughput counts the requests that
//   finish inside the window, goodput those of them that met both SLOs, output tokens/s
//   their output tokens, each divided by the window's length. One window for all three,
//   so goodput <= throughput; past saturation throughput is what the cluster served,
//   not what arrived. When no request has finished by the last arrival (a run shorter
//   than one request's latency), the window runs on to the last finish instead: the
//   rates are then what was served over the time it took, not 0.
//
//   RequestMetrics m(slo, warmup, false);
//   m.finish(id, arrival, first_launch, first_token, finish, input, output);
//   m.close_window();   // at the last arrival
//   m.fill(summary, window_s);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/core/units.h"
#include "sim/metrics/result.h"
#include "sim/scenario.h"

namespace quadrant {

// Percentiles by the nearest-rank method on a sorted copy (exact, deterministic), with
// `slo_percentile` beside P50/P90/P99 when it is none of them (0: none).
Percentiles percentiles(std::vector<float> values, double slo_percentile = 0);

class RequestMetrics {
 public:
  // Scored: requests arriving in [warmup, scored_until) (scored_until zero: no end).
  RequestMetrics(const SloSpec& slo, Duration warmup, bool keep_requests,
                 Duration scored_until = Duration::zero());

  void arrive() { ++arrived_; }
  void finish(uint64_t id, SimTime arrival, SimTime first_launch, SimTime first_token, SimTime done,
              int32_t input_tokens, int32_t output_tokens);
  void reject(uint64_t id, SimTime arrival, int32_t input_tokens, int32_t output_tokens,
              const std::string& reason);

  // Requests finishing from now on no longer count towards goodput and throughput
  // (unless none has finished yet: then the window runs to the last finish).
  void close_window() {
    if (window_finished_ > 0) {
      window_open_ = false;
    } else {
      window_to_last_finish_ = true;
    }
  }

  int64_t finished() const { return finished_; }
  int64_t rejected() const { return rejected_; }
  const std::map<std::string, int64_t>& rejections() const { return reasons_; }
  // Fills the request part of the summary; `window_s` is the measurement window's length
  // (warm-up to the last arrival), replaced by warm-up to the last finish when the window
  // ran on (close_window()).
  void fill(SimulationSummary& s, double window_s) const;
  std::vector<RequestRecord> take_records() { return std::move(records_); }
  // Bytes of the per-request results kept for the percentiles (4 floats per scored
  // request, fewer for one-token outputs), not counting keep_requests records.
  int64_t result_bytes() const {
    return static_cast<int64_t>((ttft_.size() + tpot_.size() + e2e_.size() + queue_.size()) *
                                sizeof(float));
  }

 private:
  SloSpec slo_;
  Duration warmup_;
  bool keep_;
  Duration scored_until_;
  int64_t arrived_ = 0, finished_ = 0, rejected_ = 0, met_ = 0;
  int64_t input_tokens_ = 0, output_tokens_ = 0;
  bool window_open_ = true, window_to_last_finish_ = false;
  SimTime last_finish_;
  int64_t window_finished_ = 0, window_met_ = 0, window_output_tokens_ = 0;
  std::vector<float> ttft_, tpot_, e2e_, queue_;
  std::map<std::string, int64_t> reasons_;
  std::vector<RequestRecord> records_;
};

}  // namespace quadrant
