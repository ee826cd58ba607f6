// The toy scenario whose optimum is worked out by hand (planner_test.cc), with the fluid
// test double's timings for it. One GPU type "T1" at $1/h, a small dense model,
// deterministic arrivals of fixed-length requests.
#pragma once

#include "sim/planner/planner.h"
#include "tests/sim/planner/fluid_evaluator.h"

namespace quadrant::testing {

inline Scenario toy_scenario() {
  Scenario s;
  s.name = "toy";
  s.seed = 5;
  ModelSpec& m = s.model;
  m.name = "toy-dense";
  m.num_layers = 2;
  m.hidden_size = 1024;
  m.vocab_size = 1000;
  m.attention.kind = AttentionKind::kGqa;
  m.attention.num_heads = 8;
  m.attention.num_kv_heads = 8;
  m.attention.head_dim = 128;
  m.ffn.kind = FfnKind::kDense;
  m.ffn.intermediate_size = 4096;
  GpuSpec g;
  g.name = "T1";
  g.memory = Bytes::giga(80);
  g.memory_bandwidth = BytesPerSec::tera(2);
  g.bf16 = FlopsPerSec::tera(300);
  g.usd_per_hour = 1.0;
  s.catalog.gpus["T1"] = g;
  s.workload.arrival.process = ArrivalProcess::kDeterministic;
  s.workload.arrival.rate_per_s = 18;
  s.workload.input_length.value = 1000;
  s.workload.output_length.value = 100;
  s.workload.duration = Duration::seconds(60);
  s.slo.ttft = Duration::seconds(1);
  s.slo.tpot = Duration::millis(30);
  s.serving.prefill.gpu = s.serving.decode.gpu = s.serving.colocated.gpu = "T1";
  s.search.tp = {1, 2};
  s.search.ep = {1};
  s.search.pp = {1};
  s.search.max_batch_size = {32, 64};
  s.search.chunk_size = {2048};
  s.search.seeds = 2;
  s.search.headroom = 0;  // the hand-worked optimum serves the target rate exactly
  s.search.finalists = 2;
  return s;
}

// Prefill takes 0.2 s on tp1 and 0.12 s on tp2 (tensor parallelism does not scale
// perfectly); a decode step takes 12 ms / tp + 0.2 ms per sequence.
inline FluidTimes toy_times() {
  FluidTimes t;
  t.prefill = [](const Scenario&, const PoolSpec& p, double) {
    return p.layout.tp == 1 ? 0.2 : 0.12;
  };
  t.decode_step = [](const Scenario&, const PoolSpec& p, double batch) {
    return 0.012 / p.layout.tp + 0.0002 * batch;
  };
  return t;
}

// The exact per-instance capacities of the toy (the tightest bounds there are).
inline planner::RoleBound toy_bound(const Scenario& s, const planner::RoleConfig& c) {
  const FluidTimes t = toy_times();
  PoolSpec p;
  p.layout = c.layout;
  p.max_batch_size = c.max_batch_size;
  const double output = s.workload.output_length.mean();
  const double mu_p = 1.0 / t.prefill(s, p, s.workload.input_length.mean());
  int b = c.max_batch_size;
  while (b > 0 && t.decode_step(s, p, b) > s.slo.tpot.to_seconds()) --b;
  const double mu_d = b > 0 ? b / (output * t.decode_step(s, p, b)) : 0;
  planner::RoleBound out;
  out.max_batch = b;
  out.max_rate_per_s = c.role == Role::kPrefill  ? mu_p
                       : c.role == Role::kDecode ? mu_d
                                                 : 1.0 / (1.0 / mu_p + 1.0 / mu_d);
  out.feasible = out.max_rate_per_s > 0;
  return out;
}

inline planner::Evaluator fluid_evaluator(FluidTimes t) {
  return [t = std::move(t)](const Scenario& s, uint64_t) { return fluid_evaluate(t, s); };
}

}  // namespace quadrant::testing
