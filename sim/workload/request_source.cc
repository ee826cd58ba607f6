#include "sim/workload/request_source.h"

#include <algorithm>
#include <cmath>

#include "sim/core/error.h"
#include "sim/core/limits.h"

namespace quadrant {

LengthSampler::LengthSampler(const LengthSpec& spec) : spec_(spec) {
  if (spec_.distribution == LengthDistribution::kHistogram) {
    double total = 0;
    for (const auto& [length, weight] : spec_.bins) {
      total += weight;
      cumulative_.push_back(total);
    }
    if (cumulative_.empty() || !(total > 0))
      throw InputError("", "length.bins", "expected bins with a positive total weight");
  }
}

int32_t LengthSampler::sample(RandomStream& rng) const {
  int64_t n = 1;
  switch (spec_.distribution) {
    case LengthDistribution::kFixed:
      n = spec_.value;
      break;
    case LengthDistribution::kUniform:
      n = rng.uniform_int(spec_.min, spec_.max);
      break;
    case LengthDistribution::kLognormal: {
      const double x = std::exp(std::log(spec_.median) + spec_.sigma * rng.normal());
      // Clamped as a double first: exp() can reach inf, which llround cannot take.
      n = std::llround(
          std::clamp(x, static_cast<double>(spec_.min), static_cast<double>(spec_.max)));
      break;
    }
    case LengthDistribution::kHistogram: {
      const double u = rng.uniform() * cumulative_.back();
      size_t i = static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) -
                                     cumulative_.begin());
      n = spec_.bins[std::min(i, spec_.bins.size() - 1)].first;
      break;
    }
  }
  return static_cast<int32_t>(std::clamp<int64_t>(n, 1, INT32_MAX));
}

ArrivalClock::ArrivalClock(const ArrivalSpec& spec, RandomStream& rng) : spec_(spec), rng_(rng) {
  for (const RatePoint& p : spec_.curve) max_rate_ = std::max(max_rate_, p.rate_per_s);
}

double ArrivalClock::rate_at(SimTime t) const {
  if (spec_.process != ArrivalProcess::kDiurnal || spec_.curve.empty()) return spec_.rate_per_s;
  const int64_t offset = t.ns() % spec_.curve_period.ns();
  double rate = spec_.curve.front().rate_per_s;
  for (const RatePoint& p : spec_.curve) {
    if (p.at.ns() > offset) break;
    rate = p.rate_per_s;
  }
  return rate;
}

namespace {
// now + gap seconds, or never() past the longest run (a gap of 1e300 s must not wrap).
SimTime after(SimTime now, double gap_s) {
  constexpr double kHorizon = static_cast<double>(limits::kMaxDurationNs) * 1e-9;
  if (!(now.to_seconds() + gap_s < kHorizon)) return SimTime::never();
  return now + Duration::seconds(gap_s);
}
}  // namespace

SimTime ArrivalClock::next(SimTime now) {
  switch (spec_.process) {
    case ArrivalProcess::kPoisson:
      return after(now, rng_.exponential(spec_.rate_per_s));
    case ArrivalProcess::kGamma: {
      // Inter-arrival ~ Gamma(k, theta) with CV = 1/sqrt(k) and mean k*theta = 1/rate.
      const double k = 1.0 / (spec_.cv * spec_.cv);
      return after(now, rng_.gamma(k) / (k * spec_.rate_per_s));
    }
    case ArrivalProcess::kDeterministic:
      return after(now, 1.0 / spec_.rate_per_s);
    case ArrivalProcess::kDiurnal: {
      // Thinning (Lewis and Shedler): candidates at the peak rate, each kept with
      // probability rate(t) / peak.
      SimTime t = now;
      for (;;) {
        t = after(t, rng_.exponential(max_rate_));
        if (t == SimTime::never()) return t;
        if (rng_.uniform() * max_rate_ < rate_at(t)) return t;
      }
    }
    case ArrivalProcess::kTrace:
      break;
  }
  QUADRANT_CHECK_MSG(false, "ArrivalClock does not replay traces");
}

RequestSource::RequestSource(const WorkloadSpec& spec, uint64_t seed)
    : RequestSource(spec, seed, std::vector<TraceRecord>{}) {
  if (spec.arrival.process == ArrivalProcess::kTrace)
    reader_.emplace(spec.arrival.trace_file, spec.arrival.trace_format,
                    spec.arrival.trace_time_scale);
}

RequestSource::RequestSource(const WorkloadSpec& spec, uint64_t seed,
                             std::vector<TraceRecord> trace)
    : spec_(spec),
      arrival_rng_(seed, "arrivals"),
      length_rng_(seed, "lengths"),
      input_(spec.input_length),
      output_(spec.output_length),
      trace_(std::move(trace)) {
  if (spec_.arrival.process != ArrivalProcess::kTrace) clock_.emplace(spec_.arrival, arrival_rng_);
}

std::optional<GeneratedRequest> RequestSource::next() {
  if (spec_.max_requests > 0 && emitted_ >= spec_.max_requests) return std::nullopt;
  GeneratedRequest r;
  if (spec_.arrival.process == ArrivalProcess::kTrace) {
    std::optional<TraceRecord> t;
    if (reader_) {
      t = reader_->next();
    } else if (trace_pos_ < trace_.size()) {
      t = trace_[trace_pos_++];
    }
    if (!t) return std::nullopt;
    r = {t->arrival, t->input_tokens, t->output_tokens, std::move(t->hash_ids)};
  } else {
    // The first request arrives one gap after t=0, like every later one.
    r.arrival = clock_->next(last_);
    if (r.arrival == SimTime::never()) return std::nullopt;
    r.input_tokens = input_.sample(length_rng_);
    r.output_tokens = output_.sample(length_rng_);
  }
  // A trace is replayed whole: its own span is the workload's duration (sim/io sets it).
  if (spec_.arrival.process != ArrivalProcess::kTrace &&
      r.arrival - SimTime::start() >= spec_.duration)
    return std::nullopt;
  if (emitted_ >= limits::kMaxRequests)
    throw InputError("", "workload",
                     "expected at most " + std::to_string(limits::kMaxRequests) +
                         " requests in one run (sim/core/limits.h), got more; shorten "
                         "workload.duration or set workload.max_requests");
  last_ = r.arrival;
  ++emitted_;
  return r;
}

}  // namespace quadrant
