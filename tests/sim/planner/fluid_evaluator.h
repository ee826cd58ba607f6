// TEST DOUBLE. A fluid (steady-state, closed-form) stand-in for simulate(), so that the
// planner's search logic can be tested against outcomes worked out by hand. It is not
// the simulator and proves nothing about it; the planner's end-to-end tests use the
// real simulate() where it links.
//
// The model, per instance, at arrival rate lambda = rate / instances:
// - prefill: one request at a time, service time S; deterministic arrivals never queue,
//   Poisson ones wait as in M/D/1 (mean rho*S / (2(1-rho)), its p90 taken as 2.3x the
//   mean); rho >= 1 is overload.
// - decode: continuous batching at the batch B that Little's law gives,
//   B = lambda * output * T(B), solved by fixed point; TPOT = T(B); a batch above the
//   pool's max_batch_size is overload.
// - colocated: prefill takes the fraction rho = lambda*S of the GPU time, so each decode
//   step stretches to T(B) / (1 - rho) (the interference DistServe measures); TTFT is
//   S plus one step.
#pragma once

#include <cmath>
#include <functional>
#include <string>

#include "sim/engine/simulation.h"
#include "sim/scenario.h"

namespace quadrant::testing {

struct FluidTimes {
  // Seconds to prefill one request of `input` tokens on one instance of the pool.
  std::function<double(const Scenario&, const PoolSpec&, double input)> prefill;
  // Seconds of one decode step at `batch` sequences of mean context.
  std::function<double(const Scenario&, const PoolSpec&, double batch)> decode_step;
};

inline constexpr double kOverload = 1e9;  // seconds: the SLO is missed by far

// Every percentile `v`, the SLO's own (`slo_percentile`, if not 50/90/99) included.
inline Percentiles flat(double v, double slo_percentile = 0) {
  Percentiles p{v, v, v, v, v};
  if (slo_percentile != 50 && slo_percentile != 90 && slo_percentile != 99 && slo_percentile > 0)
    p.slo_percentile = slo_percentile, p.at_slo_percentile = v;
  return p;
}

inline SimulationResult fluid_evaluate(const FluidTimes& t, const Scenario& s) {
  const double rate = s.workload.arrival.rate_per_s;
  const double input = s.workload.input_length.mean();
  const double output = s.workload.output_length.mean();
  const bool poisson = s.workload.arrival.process != ArrivalProcess::kDeterministic;
  auto prefill_ttft = [&](const PoolSpec& p, double lambda) {
    const double S = t.prefill(s, p, input);
    const double rho = lambda * S;
    if (rho >= 1) return kOverload;
    return S + (poisson ? 2.3 * rho * S / (2 * (1 - rho)) : 0.0);
  };
  // Fixed point of B = lambda * output * step(B) / (1 - rho); kOverload when it diverges.
  auto decode_tpot = [&](const PoolSpec& p, double lambda, double rho) {
    if (rho >= 1) return kOverload;
    double b = 1, step = 0;
    for (int i = 0; i < 200; ++i) {
      step = t.decode_step(s, p, b) / (1 - rho);
      const double next = std::max(1.0, lambda * output * step);
      if (next > p.max_batch_size) return kOverload;
      if (std::abs(next - b) < 1e-9) break;
      b = next;
    }
    return step;
  };
  SimulationResult r;
  SimulationSummary& m = r.summary;
  double ttft = 0, tpot = 0;
  if (s.serving.mode == ServingMode::kDisaggregated) {
    // Prefilled arrivals (a decode probe): no prefill, first token at arrival.
    ttft = s.serving.prefilled_arrivals
               ? 0.0
               : prefill_ttft(s.serving.prefill, rate / s.serving.prefill.instances);
    tpot = output <= 1 ? 0.0 : decode_tpot(s.serving.decode, rate / s.serving.decode.instances, 0);
    m.prefill_gpus = s.serving.prefill.instances * s.serving.prefill.layout.gpus();
    m.decode_gpus = s.serving.decode.instances * s.serving.decode.layout.gpus();
    m.usd_per_hour = s.serving.prefill.instances * s.serving.prefill.layout.gpus() *
                         s.price_per_hour(s.serving.prefill.gpu) +
                     s.serving.decode.instances * s.serving.decode.layout.gpus() *
                         s.price_per_hour(s.serving.decode.gpu);
    m.cost_sources[s.serving.prefill.gpu] = "test-double:fluid";
    m.cost_sources[s.serving.decode.gpu] = "test-double:fluid";
  } else {
    const PoolSpec& p = s.serving.colocated;
    const double lambda = rate / p.instances;
    const double rho = lambda * t.prefill(s, p, input);
    tpot = decode_tpot(p, lambda, rho);
    ttft = rho >= 1 ? kOverload : t.prefill(s, p, input) + tpot;
    m.colocated_gpus = p.instances * p.layout.gpus();
    m.usd_per_hour = m.colocated_gpus * s.price_per_hour(p.gpu);
    m.cost_sources[p.gpu] = "test-double:fluid";
  }
  m.ttft = flat(ttft, s.slo.ttft_percentile);
  m.tpot = flat(tpot, s.slo.tpot_percentile);
  const bool ok = ttft <= s.slo.ttft.to_seconds() && tpot <= s.slo.tpot.to_seconds();
  const double n = s.workload.max_requests > 0 ? double(s.workload.max_requests)
                                               : rate * s.workload.duration.to_seconds();
  m.requests_arrived = m.requests_finished = m.requests_scored = static_cast<int64_t>(n);
  m.slo_attainment = ok ? 1.0 : 0.0;
  m.throughput_rps = rate;
  m.goodput_rps = ok ? rate : 0.0;
  const double tokens_per_hour = rate * (input + output) * 3600;
  m.usd_per_million_tokens = m.usd_per_hour / tokens_per_hour * 1e6;
  m.e2e = flat(ttft + tpot * (output - 1));
  return r;
}

}  // namespace quadrant::testing
