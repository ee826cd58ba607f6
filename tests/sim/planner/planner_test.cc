#include "sim/planner/planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>

#include "sim/core/error.h"
#include "sim/io/scenario_io.h"
#include "sim/serving/prefix_cache.h"
#include "sim/workload/trace_reader.h"

#include "tests/sim/planner/toy_scenario.h"

namespace quadrant::planner {
namespace {

using testing::toy_bound;
using testing::toy_scenario;
using testing::toy_times;

PlanOptions toy_options(int threads) {
  PlanOptions o;
  o.threads = threads;
  o.bound = toy_bound;
  return o;
}

// The toy's optimum, by hand (rate 18 req/s, input 1000, output 100, TTFT 1 s, TPOT 30 ms):
// - prefill tp1 serves 1/0.2 = 5 req/s per $1/h -> 4 instances, $4; tp2 serves 8.3 req/s
//   per $2/h -> 3 instances, $6.
// - decode tp1 batch64: step 12 + 12.8 = 24.8 ms <= 30 ms, 64 / (100 * 24.8 ms) = 25.8
//   req/s -> 1 instance, $1; batch32 reaches only 17.4 req/s -> 2 instances; tp2 -> $2.
// - colocated: prefill steals rho = 0.2 * lambda of each GPU, TPOT = step / (1 - rho);
//   tp1 sustains under 3 req/s (>= 7 instances, $7), tp2 about 5.5 (4 x $2 = $8).
// So: 4 prefill tp1 + 1 decode tp1 batch64, $5/h, P:D 4:1.
TEST(PlannerTest, ToyScenarioIsPlannedToItsHandWorkedOptimum) {
  const Scenario s = toy_scenario();
  const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), toy_options(1));
  ASSERT_GE(r.recommended, 0);
  const PlanCandidate& best = r.candidates[r.recommended];
  EXPECT_EQ(best.mode, ServingMode::kDisaggregated);
  EXPECT_EQ(best.prefill.layout.tp, 1);
  EXPECT_EQ(best.prefill_instances, 4);
  EXPECT_EQ(best.decode.layout.tp, 1);
  EXPECT_EQ(best.decode.max_batch_size, 64);
  EXPECT_EQ(best.decode_instances, 1);
  EXPECT_DOUBLE_EQ(best.usd_per_hour, 5.0);
  EXPECT_TRUE(best.confirmed);
  EXPECT_TRUE(best.meets_slo);
  EXPECT_EQ(best.runs.size(), 2u);  // search.seeds
  ASSERT_GE(r.best_colocated, 0);
  EXPECT_GE(r.candidates[r.best_colocated].usd_per_hour, 7.0);
}

TEST(PlannerTest, MeasuredRatesNeverExceedTheBoundAndApproachIt) {
  const Scenario s = toy_scenario();
  const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), toy_options(1));
  for (const auto* pool : {&r.prefill, &r.decode, &r.colocated}) {
    for (const RoleCapacity& c : *pool) {
      if (c.status != ConfigStatus::kMeasured) continue;
      EXPECT_LE(c.rate_per_s, c.bound.max_rate_per_s * (1 + 1e-12)) << c.config.label();
      EXPECT_TRUE(c.at_capacity.meets_slo) << c.config.label();
      EXPECT_GT(c.simulations, 0);
    }
  }
  // Prefill tp1: the bound (5 req/s) is the exact capacity, which the double's strict
  // overload test excludes; bisection lands within its resolution (64^(1/128)) below.
  for (const RoleCapacity& c : r.prefill) {
    if (c.config.layout.tp != 1) continue;
    EXPECT_LT(c.rate_per_s, 5.0);
    EXPECT_GT(c.rate_per_s, 5.0 / 1.034);
  }
}

TEST(PlannerTest, EveryCandidateIsPricedFromItsPools) {
  const Scenario s = toy_scenario();
  const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), toy_options(1));
  ASSERT_FALSE(r.candidates.empty());
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    const PlanCandidate& c = r.candidates[i];
    const double expect =
        c.mode == ServingMode::kColocated
            ? c.colocated_instances * c.colocated.gpus() * 1.0
            : (c.prefill_instances * c.prefill.gpus() + c.decode_instances * c.decode.gpus()) * 1.0;
    EXPECT_DOUBLE_EQ(c.usd_per_hour, expect) << c.label();
    if (i > 0) {
      EXPECT_LE(r.candidates[i - 1].usd_per_hour, c.usd_per_hour);  // ranked
    }
  }
}

TEST(PlannerTest, FewestGpusObjectiveRanksByGpuCount) {
  Scenario s = toy_scenario();
  s.search.objective = Objective::kMinGpus;
  const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), toy_options(1));
  for (size_t i = 1; i < r.candidates.size(); ++i)
    EXPECT_LE(r.candidates[i - 1].gpus, r.candidates[i].gpus);
}

TEST(PlannerTest, BudgetObjectiveStaysWithinTheBudget) {
  Scenario s = toy_scenario();
  s.search.objective = Objective::kMaxGoodputPerDollar;
  s.search.budget_usd_per_hour = 6;
  const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), toy_options(1));
  ASSERT_FALSE(r.candidates.empty());
  for (const PlanCandidate& c : r.candidates) {
    if (c.repairs == 0) {
      EXPECT_LE(c.usd_per_hour, 6.0 + 1e-9) << c.label();
    }
  }
  for (size_t i = 1; i < r.candidates.size(); ++i)
    EXPECT_GE(r.candidates[i - 1].goodput_per_dollar, r.candidates[i].goodput_per_dollar);
}

TEST(PlannerTest, ResultsDoNotDependOnTheThreadCount) {
  const Scenario s = toy_scenario();
  const auto eval = testing::fluid_evaluator(toy_times());
  const PlanResult a = plan(s, eval, toy_options(1));
  const PlanResult b = plan(s, eval, toy_options(3));
  ASSERT_EQ(a.candidates.size(), b.candidates.size());
  EXPECT_EQ(a.simulations, b.simulations);
  for (size_t i = 0; i < a.candidates.size(); ++i) {
    EXPECT_EQ(a.candidates[i].label(), b.candidates[i].label());
    EXPECT_EQ(a.candidates[i].runs.size(), b.candidates[i].runs.size());
  }
  for (size_t i = 0; i < a.decode.size(); ++i)
    EXPECT_EQ(a.decode[i].rate_per_s, b.decode[i].rate_per_s);
}

TEST(PlannerTest, AConfigurationThatCannotBeatTheBestMeasuredOneIsNotSimulated) {
  Scenario s = toy_scenario();
  s.search.tp = {1, 2};
  std::atomic<int> calls{0};
  const auto inner = testing::fluid_evaluator(toy_times());
  Evaluator counting = [&](const Scenario& x, uint64_t seed) {
    ++calls;
    return inner(x, seed);
  };
  PlanOptions o = toy_options(1);
  o.round_size = 1;  // decide after every measurement
  o.analyses = false;
  const PlanResult r = plan(s, counting, o);
  int pruned = 0;
  for (const RoleCapacity& c : r.decode) {
    if (c.status == ConfigStatus::kPrunedByBound) {
      ++pruned;
      EXPECT_EQ(c.simulations, 0);
    }
  }
  // decode tp2 (bound $2) cannot beat the measured tp1 batch64 ($1); tp1 batch32 is
  // measured first or not at all depending on its bound ($2): pruned as well.
  EXPECT_GE(pruned, 1);
  EXPECT_EQ(calls.load(), r.simulations);
}

TEST(PlannerTest, TheMixAnalysisMovesTowardDecodeAsOutputsGrow) {
  const Scenario s = toy_scenario();
  const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), toy_options(2));
  ASSERT_EQ(r.pd_mix.size(), 5u);
  for (size_t i = 1; i < r.pd_mix.size(); ++i) {
    if (r.pd_mix[i].decode_rate_per_s <= 0) continue;
    EXPECT_GT(r.pd_mix[i].decode_per_prefill, r.pd_mix[i - 1].decode_per_prefill);
  }
}

TEST(PlannerTest, ParetoCostNeverFallsAsSlosTighten) {
  const Scenario s = toy_scenario();
  const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), toy_options(2));
  ASSERT_EQ(r.pareto.size(), 5u);
  for (size_t i = 1; i < r.pareto.size(); ++i) {
    if (!r.pareto[i - 1].feasible || !r.pareto[i].feasible) continue;
    EXPECT_GE(r.pareto[i - 1].usd_per_hour, r.pareto[i].usd_per_hour);  // tighter first
  }
  ASSERT_EQ(r.sensitivity.size(), 3u);
  EXPECT_LE(r.sensitivity[0].resized_usd_per_hour, r.sensitivity[2].resized_usd_per_hour);
}

// Fixed lengths: every request lives L = TTFT + output * TPOT at the SLOs, the requests in
// flight grow linearly to rate * L over one lifetime, so warm-up and tail are L exactly.
TEST(ProbeWindow, FixedLengthsWarmUpForOneLifetime) {
  WorkloadSpec w;
  w.output_length.value = 100;
  SloSpec slo;
  slo.ttft = Duration::seconds(1);
  slo.tpot = Duration::millis(30);  // L = 4 s
  const ProbeWindow pw = probe_window(w, slo, 10, 400);
  EXPECT_NEAR(pw.mean_lifetime_s, 4.0, 1e-9);
  EXPECT_NEAR(pw.warmup_s, 4.0, 1e-9);
  EXPECT_NEAR(pw.tail_s, 4.0, 1e-9);
  EXPECT_NEAR(pw.window_s, 40.0, 1e-9);  // 400 arrivals at 10/s
  const WorkloadSpec p = probe_workload(w, slo, 10, 400);
  EXPECT_EQ(p.max_requests, 0);
  EXPECT_EQ(p.warmup, Duration::seconds(4.0));
  EXPECT_EQ(p.scored_until, Duration::seconds(44.0));
  EXPECT_EQ(p.duration, Duration::seconds(48.0));
  // A fast rate still scores at least one lifetime of arrivals, and the time line runs
  // 20 TTFT SLOs (kOverloadTtfts): 4 s of warm-up and 16 s of window.
  EXPECT_NEAR(probe_window(w, slo, 1000, 400).window_s, 16.0, 1e-9);
  slo.ttft = Duration::millis(100);  // L = 3.1 s, 20 TTFTs = 2 s: one lifetime decides
  EXPECT_NEAR(probe_window(w, slo, 1000, 400).window_s, 3.1, 1e-9);
}

// Uniform outputs on [a, b] tokens: lifetimes X uniform on [A, B] (A = TTFT + a TPOT),
// E[min(X, t)] = t - (t - A)^2 / (2 (B - A)) for t in [A, B]; warm-up solves
// E[min(X, t)] = 0.95 E[X] (a sample of 4096 lengths: within 1%).
TEST(ProbeWindow, UniformLengthsWarmUpUntilTheClosedFormFill) {
  WorkloadSpec w;
  w.output_length.distribution = LengthDistribution::kUniform;
  w.output_length.min = 100;
  w.output_length.max = 2100;
  SloSpec slo;
  slo.ttft = Duration::seconds(2);
  slo.tpot = Duration::millis(50);
  const double A = 2 + 100 * 0.05, B = 2 + 2100 * 0.05, mean = 0.5 * (A + B);
  // t - (t - A)^2 / (2 (B - A)) = 0.95 mean  ->  quadratic in u = t - A.
  const double c = 0.95 * mean - A, span = B - A;
  const double u = span - std::sqrt(span * span - 2 * span * c);
  const double t = A + u;
  const ProbeWindow pw = probe_window(w, slo, 50, 400);
  EXPECT_NEAR(pw.mean_lifetime_s, mean, 0.01 * mean);
  EXPECT_NEAR(pw.warmup_s, t, 0.01 * t);
  EXPECT_GT(pw.warmup_s, mean);  // longer than one mean lifetime: the long ones fill last
  EXPECT_NEAR(pw.tail_s, pw.warmup_s, 1e-12);
}

// The old probe stopped at 20,000 requests: at 1,000 req/s and 50 s lifetimes it scored
// only requests decoding while the batch drained. Now the probe runs as long as its
// steady state needs, whatever the request count.
TEST(ProbeWindow, NoRequestCapAtFleetRates) {
  WorkloadSpec w;
  w.output_length.value = 960;
  SloSpec slo;
  slo.ttft = Duration::seconds(2);
  slo.tpot = Duration::millis(50);  // L = 50 s
  const WorkloadSpec p = probe_workload(w, slo, 1000, 400);
  EXPECT_EQ(p.max_requests, 0);
  EXPECT_EQ(p.warmup, Duration::seconds(50.0));
  EXPECT_EQ(p.scored_until, Duration::seconds(100.0));
  EXPECT_EQ(p.duration, Duration::seconds(150.0));  // 150,000 arrivals
}

// A prefill probe's requests live about one TTFT: its time line still runs 20 TTFT SLOs,
// so that a queue 6% past capacity, whose wait grows by (1 - 1/1.06) per second, has
// passed the SLO by the last tenth of the window (closed form: (1 - 1/1.06) x 0.9 x 100 s
// = 5.09 s > 5 s).
TEST(ProbeWindow, LongEnoughForAnOverloadedQueueToPassTheTtftSlo) {
  WorkloadSpec w;
  w.output_length.value = 1;
  SloSpec slo;
  slo.ttft = Duration::seconds(5);
  slo.tpot = Duration::millis(50);  // lifetime 5.05 s
  const ProbeWindow pw = probe_window(w, slo, 130, 400);
  EXPECT_DOUBLE_EQ(pw.warmup_s, 5.05);
  EXPECT_DOUBLE_EQ(pw.warmup_s + pw.window_s, 100.0);
  EXPECT_GT((1 - 1 / 1.06) * 0.9 * (pw.warmup_s + pw.window_s), slo.ttft.to_seconds());
  // Long-lived requests already give a longer window: the rule changes nothing there.
  w.output_length.value = 960;
  slo.ttft = Duration::seconds(2);  // lifetime 50 s
  EXPECT_DOUBLE_EQ(probe_window(w, slo, 1000, 400).window_s, 50.0);
}

// A plan's seeds read conservatively, at the SLO's own percentiles: the worst of each,
// the lowest attainment, the mean cost; headroom below the targets from those.
TEST(PlannerTest, WorstOfSeedsReadsTheSlosOwnPercentiles) {
  SloSpec slo;
  slo.ttft = Duration::seconds(1);
  slo.tpot = Duration::millis(40);
  slo.ttft_percentile = 95;
  slo.tpot_percentile = 90;
  auto run = [](double ttft95, double tpot90, double attainment, double usd) {
    RunSummary r;
    r.ttft = {0.1, 0.2, 0.5, 2.0, 3.0, 95, ttft95};  // P99 2 s, over the SLO
    r.tpot = {0.01, 0.01, tpot90, 0.05, 0.06};
    r.slo_attainment = attainment;
    r.usd_per_million_tokens = usd;
    return r;
  };
  const SeedsSummary w =
      worst_of_seeds({run(0.8, 0.030, 0.97, 1.0), run(0.6, 0.032, 0.95, 3.0)}, slo);
  EXPECT_DOUBLE_EQ(w.ttft_at_slo, 0.8);  // P95, not P99's 2 s
  EXPECT_DOUBLE_EQ(w.tpot_at_slo, 0.032);
  EXPECT_NEAR(w.ttft_headroom, 0.2, 1e-12);
  EXPECT_NEAR(w.tpot_headroom, 0.2, 1e-12);
  EXPECT_DOUBLE_EQ(w.attainment, 0.95);
  EXPECT_DOUBLE_EQ(w.usd_per_million_tokens, 2.0);
  EXPECT_DOUBLE_EQ(w.ttft.p99, 2.0);
  EXPECT_EQ(worst_of_seeds({}, slo).attainment, 1);
}

TEST(PlannerTest, NonPositiveTargetRateIsAnInputError) {
  Scenario s = toy_scenario();
  s.workload.arrival.rate_per_s = 0;
  EXPECT_THROW(plan(s, testing::fluid_evaluator(toy_times()), toy_options(1)), InputError);
}

}  // namespace
}  // namespace quadrant::planner

namespace quadrant::planner {
namespace {

// The shared KV tier in the plan (serving.shared_kv_tier on a Mooncake trace): each
// prefilling configuration's estimate replays the trace through its own cache and the
// tier. A tier that holds every block sees every earlier prompt, so own hits + tier share
// is what one unbounded cache finds (the reference below, whole 16-token KV blocks, one
// token computed), and the own share alone is less (the example's cache is small).
TEST(PlannerTest, SharedTierEstimateIsWhatAnUnboundedCacheFindsBeyondTheInstancesOwn) {
  Scenario s = load_scenario("scenarios/examples/deepseek-v3-mooncake-tier.json");
  s.serving.shared_kv_tier.capacity = Bytes::giga(1e6);  // every block of the trace
  s.search.seeds = 1;
  s.search.finalists = 1;
  PlanOptions o;
  o.analyses = false;
  o.threads = 2;
  const PlanResult r = plan(s, simulation_evaluator(roofline_cost_models(s)), o);
  ASSERT_EQ(r.prefix_cache_hit_estimates.size(), 1u);
  ASSERT_EQ(r.shared_tier_hit_estimates.size(), 1u);
  const double own = r.prefix_cache_hit_estimates.begin()->second;
  const double tier = r.shared_tier_hit_estimates.begin()->second;
  TraceReader trace(s.workload.arrival.trace_file, TraceFormat::kMooncake,
                    s.workload.arrival.trace_time_scale);
  BlockPrefixCache unbounded(int64_t{1} << 40);
  double prompt = 0, hit = 0;
  while (std::optional<TraceRecord> x = trace.next()) {
    const size_t m = unbounded.match(x->hash_ids);
    const int64_t tokens = std::min<int64_t>(static_cast<int64_t>(m) * 512, x->input_tokens - 1);
    const int64_t reused = tokens / 16 * 16;
    hit += static_cast<double>(reused);
    prompt += x->input_tokens;
    unbounded.insert(x->hash_ids);
  }
  EXPECT_NEAR(own + tier, hit / prompt, 1e-12);
  EXPECT_LT(own, hit / prompt - 0.1);
}

}  // namespace
}  // namespace quadrant::planner
