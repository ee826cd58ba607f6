// Headroom as a requirement (search.headroom), the knee, N+1 (search.n_plus_one) and the
// SLO-Pareto's monotonicity: with the fluid double on the hand-worked toy, and with the
// simulator on the shipped default scenario (whose Pareto was not monotone before its
// points were confirmed by whole-cluster runs).
#include <gtest/gtest.h>

#include <cmath>

#include "sim/engine/simulation.h"
#include "sim/io/scenario_io.h"
#include "sim/planner/planner.h"
#include "tests/sim/planner/toy_scenario.h"

namespace quadrant::planner {
namespace {

using testing::toy_bound;
using testing::toy_scenario;
using testing::toy_times;

PlanOptions options() {
  PlanOptions o;
  o.threads = 2;
  o.bound = toy_bound;
  return o;
}

double pool_capacity(const PlanResult& r, const std::vector<RoleCapacity>& pool,
                     const RoleConfig& c, int instances) {
  for (const RoleCapacity& k : pool)
    if (k.config.label() == c.label()) return instances * k.rate_per_s;
  ADD_FAILURE() << "no capacity for " << c.label() << " in " << r.scenario.name;
  return 0;
}

TEST(HeadroomTest, PlansAreSizedAndConfirmedForTheTargetPlusTheHeadroom) {
  for (double headroom : {0.0, 0.25, 0.5}) {
    SCOPED_TRACE(headroom);
    Scenario s = toy_scenario();
    s.search.headroom = headroom;
    const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), options());
    ASSERT_GE(r.recommended, 0);
    EXPECT_DOUBLE_EQ(r.required_rate_per_s, 18 * (1 + headroom));
    const PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
    for (const RunSummary& run : c.runs) EXPECT_DOUBLE_EQ(run.rate_per_s, r.required_rate_per_s);
    ASSERT_EQ(c.mode, ServingMode::kDisaggregated);
    EXPECT_GE(pool_capacity(r, r.prefill, c.prefill, c.prefill_instances),
              r.required_rate_per_s * (1 - 1e-9));
    EXPECT_GE(pool_capacity(r, r.decode, c.decode, c.decode_instances),
              r.required_rate_per_s * (1 - 1e-9));
    // The knee: every swept rate up to it holds, the first above it breaks.
    ASSERT_FALSE(r.load_sweep.empty());
    ASSERT_TRUE(r.knee_found);
    EXPECT_GE(r.knee_rate_per_s, r.required_rate_per_s * (1 - 1e-9));
    bool broke = false;
    double previous = 0;
    for (const RunSummary& run : r.load_sweep) {
      EXPECT_GT(run.rate_per_s, previous);  // increasing
      previous = run.rate_per_s;
      if (run.rate_per_s <= r.knee_rate_per_s) {
        EXPECT_TRUE(run.meets_slo) << run.rate_per_s;
      }
      if (!run.meets_slo) broke = true;
      if (broke) {
        EXPECT_FALSE(run.meets_slo) << "holds again at " << run.rate_per_s;
      }
    }
    EXPECT_TRUE(broke);
  }
  // More headroom never costs less.
  double last = 0;
  for (double headroom : {0.0, 0.25, 0.5, 1.0}) {
    Scenario s = toy_scenario();
    s.search.headroom = headroom;
    const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), options());
    ASSERT_GE(r.recommended, 0);
    const double cost = r.candidates[static_cast<size_t>(r.recommended)].usd_per_hour;
    EXPECT_GE(cost, last) << headroom;
    last = cost;
  }
}

TEST(HeadroomTest, NPlusOneHoldsWithOneInstanceOfEachPoolDown) {
  Scenario s = toy_scenario();
  s.search.n_plus_one = true;
  const PlanResult r = plan(s, testing::fluid_evaluator(toy_times()), options());
  ASSERT_GE(r.recommended, 0);
  const PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
  EXPECT_TRUE(c.n_minus_one_checked);
  EXPECT_TRUE(c.n_minus_one.meets_slo);
  EXPECT_DOUBLE_EQ(c.n_minus_one.rate_per_s, r.target_rate_per_s);
  // Each pool keeps the target rate without one of its instances.
  ASSERT_EQ(c.mode, ServingMode::kDisaggregated);
  EXPECT_GE(pool_capacity(r, r.prefill, c.prefill, c.prefill_instances - 1),
            r.target_rate_per_s * (1 - 1e-9));
  EXPECT_GE(pool_capacity(r, r.decode, c.decode, c.decode_instances - 1),
            r.target_rate_per_s * (1 - 1e-9));
  Scenario plain = toy_scenario();
  const PlanResult p = plan(plain, testing::fluid_evaluator(toy_times()), options());
  EXPECT_GT(c.usd_per_hour, p.candidates[static_cast<size_t>(p.recommended)].usd_per_hour);
  EXPECT_FALSE(p.candidates[static_cast<size_t>(p.recommended)].n_minus_one_checked);
}

void expect_monotone_pareto(const PlanResult& r) {
  ASSERT_FALSE(r.pareto.empty());
  double cheapest = INFINITY;
  bool any = false;
  for (const ParetoPoint& p : r.pareto) {
    SCOPED_TRACE(p.slo_scale);
    if (!p.feasible) {
      EXPECT_FALSE(any) << "a looser SLO is infeasible after a tighter one was served";
      continue;
    }
    any = true;
    EXPECT_LE(p.usd_per_hour, cheapest);  // never rises as the SLOs loosen
    EXPECT_LE(p.from_slo_scale, p.slo_scale);
    cheapest = p.usd_per_hour;
  }
  EXPECT_TRUE(any);
  // Scale 1 is the search's own recommendation.
  for (const ParetoPoint& p : r.pareto)
    if (p.slo_scale == 1.0 && r.recommended >= 0) {
      EXPECT_LE(p.usd_per_hour, r.candidates[static_cast<size_t>(r.recommended)].usd_per_hour);
    }
}

TEST(HeadroomTest, ParetoIsMonotoneWithTheFluidDouble) {
  expect_monotone_pareto(plan(toy_scenario(), testing::fluid_evaluator(toy_times()), options()));
}

// The finding: SLO scale 0.5 cost $24.40 and 0.75 cost $33.60 on the default
// scenario. Confirmed points make it monotone.
TEST(HeadroomTest, ParetoOfTheDefaultScenarioIsMonotoneInSimulation) {
  const Scenario s = load_scenario("scenarios/default.json");
  PlanOptions o;
  o.threads = 2;
  const PlanResult r = plan(s, simulation_evaluator(roofline_cost_models(s)), o);
  expect_monotone_pareto(r);
  // The knee of the recommended plan lies beyond the required rate.
  ASSERT_GE(r.recommended, 0);
  EXPECT_GE(r.knee_rate_per_s, r.required_rate_per_s * (1 - 1e-9));
  // The report's CDFs: 41 quantiles per confirmation run, increasing.
  const PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
  for (const RunSummary& run : c.runs) {
    ASSERT_EQ(run.ttft_quantiles.size(), 41u);
    for (size_t i = 1; i < run.ttft_quantiles.size(); ++i)
      EXPECT_LE(run.ttft_quantiles[i - 1], run.ttft_quantiles[i]);
    EXPECT_NEAR(run.ttft_quantiles[36], run.ttft.p90, 1e-6);  // 90 = 36 x 2.5
  }
}

}  // namespace
}  // namespace quadrant::planner
