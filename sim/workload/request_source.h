// Where requests come from: the scenario's arrival process and length distributions,
// or a replayed trace. Pulled one request at a time, so memory does not grow with the
// number of requests a run generates (traces are streamed too). A run never generates
// more than limits::kMaxRequests (an InputError past it).
//
//   RequestSource src(scenario.workload, seed);
//   while (auto r = src.next()) schedule_arrival(r->arrival, r->input_tokens, ...);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/random.h"
#include "sim/scenario.h"
#include "sim/workload/trace_reader.h"

namespace quadrant {

// Draws lengths from a LengthSpec (fixed, uniform, lognormal clamped to [min, max],
// histogram of (length, weight) bins). Always at least one token.
class LengthSampler {
 public:
  explicit LengthSampler(const LengthSpec& spec);
  int32_t sample(RandomStream& rng) const;

 private:
  LengthSpec spec_;
  std::vector<double> cumulative_;  // histogram
};

// Inter-arrival times of a rate process (not traces).
class ArrivalClock {
 public:
  ArrivalClock(const ArrivalSpec& spec, RandomStream& rng);
  // The arrival after `now` (the previous arrival); SimTime::never() when it would fall
  // past one year (limits::kMaxDurationNs), e.g. at a rate of 1e-300 req/s.
  SimTime next(SimTime now);
  // Diurnal: the curve's rate at t (the others: their mean rate).
  double rate_at(SimTime t) const;

 private:
  ArrivalSpec spec_;
  RandomStream& rng_;
  double max_rate_ = 0;  // diurnal thinning envelope
};

struct GeneratedRequest {
  SimTime arrival;
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
  std::vector<uint64_t> hash_ids = {};  // a Mooncake trace's block hashes (else empty)
};

class RequestSource {
 public:
  // Streams the trace file for ArrivalProcess::kTrace (InputError on a bad line).
  RequestSource(const WorkloadSpec& spec, uint64_t seed);
  // A trace already read (tests, and callers that cache the trace).
  RequestSource(const WorkloadSpec& spec, uint64_t seed, std::vector<TraceRecord> trace);

  // The next request, or nothing once the workload's duration or request cap is reached.
  std::optional<GeneratedRequest> next();

 private:
  WorkloadSpec spec_;
  RandomStream arrival_rng_, length_rng_;
  LengthSampler input_, output_;
  std::optional<ArrivalClock> clock_;
  std::optional<TraceReader> reader_;  // a trace file, streamed
  std::vector<TraceRecord> trace_;     // or a trace already read
  size_t trace_pos_ = 0;
  SimTime last_ = SimTime::start();
  int64_t emitted_ = 0;
};

}  // namespace quadrant
