// The DistServe-like scenario (scenarios/examples/distserve-like.json): the qualitative
// findings users expect of a PD planner. Judged here with the fluid test double (see
// fluid_evaluator.h) over roofline step times, so these tests check the planner's
// search and analyses, not the simulator's figures.
#include <gtest/gtest.h>

#include <cstdio>

#include "sim/io/scenario_io.h"
#include "sim/planner/planner.h"
#include "tests/sim/planner/toy_scenario.h"

namespace quadrant::planner {
namespace {

testing::FluidTimes roofline_times() {
  testing::FluidTimes t;
  t.prefill = [](const Scenario& s, const PoolSpec& p, double input) {
    const auto n = static_cast<int64_t>(input);
    return roofline_step_time(s.model, *s.catalog.find(p.gpu), p.layout, Phase::kPrefill,
                              prefill_batch(1, n))
        .to_seconds();
  };
  t.decode_step = [](const Scenario& s, const PoolSpec& p, double batch) {
    const auto context =
        static_cast<int64_t>(s.workload.input_length.mean() + s.workload.output_length.mean() / 2);
    return roofline_step_time(s.model, *s.catalog.find(p.gpu), p.layout, Phase::kDecode,
                              decode_batch(static_cast<int>(std::ceil(batch)), context))
        .to_seconds();
  };
  return t;
}

PlanResult plan_distserve(int threads) {
  const Scenario s = load_scenario("scenarios/examples/distserve-like.json");
  PlanOptions o;
  o.threads = threads;
  return plan(s, testing::fluid_evaluator(roofline_times()), o);
}

TEST(DistServeLikeTest, DisaggregationBeatsColocationUnderATightTpotSlo) {
  const PlanResult r = plan_distserve(2);
  ASSERT_GE(r.best_disaggregated, 0);
  ASSERT_GE(r.best_colocated, 0);
  const PlanCandidate& d = r.candidates[r.best_disaggregated];
  const PlanCandidate& c = r.candidates[r.best_colocated];
  std::printf("disaggregated: %s  $%.2f/h\ncolocated:     %s  $%.2f/h\n", d.label().c_str(),
              d.usd_per_hour, c.label().c_str(), c.usd_per_hour);
  EXPECT_LT(d.usd_per_hour, c.usd_per_hour);
  EXPECT_EQ(r.candidates[r.recommended].mode, ServingMode::kDisaggregated);
}

TEST(DistServeLikeTest, BestPdRatioMovesTowardDecodeAsOutputsGrow) {
  const PlanResult r = plan_distserve(2);
  ASSERT_EQ(r.pd_mix.size(), 5u);
  double last = 0;
  int compared = 0;
  for (const MixPoint& m : r.pd_mix) {
    std::printf(
        "output x%.2f (in %.0f, out %.0f): prefill %.2f req/s, decode %.2f req/s, "
        "decode per prefill %.2f, P:D %d:%d\n",
        m.output_scale, m.mean_input, m.mean_output, m.prefill_rate_per_s, m.decode_rate_per_s,
        m.decode_per_prefill, m.prefill_instances, m.decode_instances);
    if (m.decode_rate_per_s <= 0) continue;
    EXPECT_GT(m.decode_per_prefill, last) << "output scale " << m.output_scale;
    last = m.decode_per_prefill;
    ++compared;
  }
  EXPECT_GE(compared, 4);
}

}  // namespace
}  // namespace quadrant::planner
