// The planner judged by the real simulator (roofline cost models) on the DistServe-like
// scenario: the findings users expect hold in simulation, not only in the fluid double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "sim/io/scenario_io.h"
#include "sim/planner/planner.h"

namespace quadrant::planner {
namespace {

const PlanResult& distserve_plan() {
  static const PlanResult r = [] {
    const Scenario s = load_scenario("scenarios/examples/distserve-like.json");
    PlanOptions o;
    o.threads = 2;
    return plan(s, simulation_evaluator(roofline_cost_models(s)), o);
  }();
  return r;
}

TEST(PlanSimulatedTest, DisaggregationBeatsColocationUnderTheTightTpotSlo) {
  const PlanResult& r = distserve_plan();
  ASSERT_GE(r.best_disaggregated, 0);
  ASSERT_GE(r.best_colocated, 0);
  const PlanCandidate& d = r.candidates[r.best_disaggregated];
  const PlanCandidate& c = r.candidates[r.best_colocated];
  std::printf("disaggregated %s $%.2f/h; colocated %s $%.2f/h\n", d.label().c_str(), d.usd_per_hour,
              c.label().c_str(), c.usd_per_hour);
  EXPECT_TRUE(d.meets_slo);
  EXPECT_TRUE(c.meets_slo);
  EXPECT_LT(d.usd_per_hour, c.usd_per_hour);
  ASSERT_GE(r.recommended, 0);
  EXPECT_EQ(r.candidates[r.recommended].mode, ServingMode::kDisaggregated);
}

TEST(PlanSimulatedTest, BestPdRatioMovesTowardDecodeAsOutputsGrow) {
  const PlanResult& r = distserve_plan();
  ASSERT_EQ(r.pd_mix.size(), 5u);
  for (size_t i = 1; i < r.pd_mix.size(); ++i) {
    ASSERT_GT(r.pd_mix[i].decode_rate_per_s, 0);
    EXPECT_GT(r.pd_mix[i].decode_per_prefill, r.pd_mix[i - 1].decode_per_prefill)
        << "output scale " << r.pd_mix[i].output_scale;
    EXPECT_GE(r.pd_mix[i].decode_instances, r.pd_mix[i - 1].decode_instances);
  }
}

TEST(PlanSimulatedTest, TheRecommendedPlanMeetsItsSlosOnEverySeed) {
  const PlanResult& r = distserve_plan();
  ASSERT_GE(r.recommended, 0);
  const PlanCandidate& best = r.candidates[r.recommended];
  ASSERT_EQ(best.runs.size(), static_cast<size_t>(r.scenario.search.seeds));
  for (const RunSummary& run : best.runs) {
    EXPECT_GE(run.slo_attainment, r.scenario.slo.attainment);
    EXPECT_LE(run.tpot.at(r.scenario.slo.tpot_percentile), r.scenario.slo.tpot.to_seconds());
    EXPECT_EQ(run.cost_sources.count(best.decode.gpu), 1u);
  }
  // No cheaper sized plan was confirmed to meet the SLOs.
  for (int i = 0; i < r.recommended; ++i)
    EXPECT_FALSE(r.candidates[i].confirmed && r.candidates[i].meets_slo);
}

// The toy (scenarios/examples/toy.json): one GPU type and one layout, deterministic
// arrivals of fixed-length requests. The plan is only the pool sizes, and it must be
// minimal: one instance fewer in either pool misses the SLOs in simulation.
TEST(PlanSimulatedTest, ToyPlanIsMinimal) {
  const Scenario s = load_scenario("scenarios/examples/toy.json");
  const CostModels models = roofline_cost_models(s);
  PlanOptions o;
  o.threads = 2;
  o.analyses = false;
  const PlanResult r = plan(s, simulation_evaluator(models), o);
  ASSERT_GE(r.recommended, 0);
  const PlanCandidate& best = r.candidates[r.recommended];
  ASSERT_EQ(best.mode, ServingMode::kDisaggregated);
  EXPECT_TRUE(best.meets_slo);
  // Pools sized from the measured per-instance rates: n = ceil(rate / per-instance rate).
  ASSERT_EQ(r.prefill.size(), 1u);
  ASSERT_EQ(r.decode.size(), 1u);
  // Sized for the target plus the headroom (search.headroom, 10% by default).
  EXPECT_DOUBLE_EQ(r.required_rate_per_s, 30.0 * (1 + s.search.headroom));
  EXPECT_EQ(best.prefill_instances,
            static_cast<int>(std::ceil(r.required_rate_per_s / r.prefill[0].rate_per_s)) +
                (best.repairs > 0));
  auto meets = [&](int prefill, int decode) {
    Scenario x = with_disaggregated(s, best.prefill, prefill, best.decode, decode);
    x.workload.arrival.rate_per_s = r.required_rate_per_s;
    SimulationOptions so;
    so.seed = s.seed;
    const SimulationSummary m = simulate(x, models, so).summary;
    return m.slo_attainment >= s.slo.attainment &&
           m.ttft.at(s.slo.ttft_percentile) <= s.slo.ttft.to_seconds() &&
           m.tpot.at(s.slo.tpot_percentile) <= s.slo.tpot.to_seconds();
  };
  EXPECT_TRUE(meets(best.prefill_instances, best.decode_instances));
  if (best.prefill_instances > 1) {
    EXPECT_FALSE(meets(best.prefill_instances - 1, best.decode_instances));
  }
  if (best.decode_instances > 1) {
    EXPECT_FALSE(meets(best.prefill_instances, best.decode_instances - 1));
  }
}

}  // namespace
}  // namespace quadrant::planner
