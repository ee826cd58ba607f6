// The comparison against closed forms: a run whose steps took exactly the simulator's
// predicted times must compare with zero step error and the simulator's own request
// metrics; a host gap the simulator does not model must show as the carrying term.
#include "calibration/engine/compare.h"

#include <gtest/gtest.h>

#include "calibration/engine/cost_executor.h"
#include "calibration/engine/driver.h"
#include "sim/core/error.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/io/scenario_io.h"

namespace quadrant::engine {
namespace {

struct Case {
  Scenario sc = load_scenario("tests/calibration/engine/colocated_h200.json");
  std::shared_ptr<const CostModel> roofline =
      std::make_shared<RooflineCostModel>(*sc.catalog.find("H200"));
  EngineRun run(int64_t host_ns) {
    CostModelExecutor ex(sc.model, *sc.catalog.find("H200"), sc.cluster, *roofline,
                         {.kv_blocks = 20000, .block_tokens = 16}, host_ns);
    VirtualClock clock;
    return run_engine(sc, engine_requests(sc.workload, sc.seed), ex, clock, {});
  }
};

TEST(Compare, ARunAtThePredictedStepTimesHasNoError) {
  Case k;
  const EngineRun run = k.run(0);
  const Scenario replay = replay_scenario(k.sc, run);
  EXPECT_EQ(replay.serving.colocated.kv_capacity_tokens, 20000 * 16);
  EXPECT_EQ(replay.workload.arrival.process, ArrivalProcess::kTrace);
  const CaseComparison c = compare_case("exact", run, replay, {{"roofline", k.roofline}});
  ASSERT_EQ(c.models.size(), 1u);
  const ModelComparison& m = c.models[0];
  EXPECT_EQ(m.step_gpu.count, static_cast<int>(run.steps.size()));
  EXPECT_DOUBLE_EQ(m.step_gpu.median, 0);
  EXPECT_DOUBLE_EQ(m.step_gpu.p95, 0);
  EXPECT_DOUBLE_EQ(m.step_period.p95, 0);
  // The same serving rules on the same step times: the same requests, to float precision.
  EXPECT_EQ(m.simulated.requests_finished, c.measured.requests_finished);
  EXPECT_FLOAT_EQ(static_cast<float>(m.simulated.ttft.p50),
                  static_cast<float>(c.measured.ttft.p50));
  EXPECT_FLOAT_EQ(static_cast<float>(m.simulated.ttft.p99),
                  static_cast<float>(c.measured.ttft.p99));
  EXPECT_FLOAT_EQ(static_cast<float>(m.simulated.tpot.p90),
                  static_cast<float>(c.measured.tpot.p90));
  EXPECT_DOUBLE_EQ(m.simulated.throughput_rps, c.measured.throughput_rps);
  EXPECT_DOUBLE_EQ(m.simulated.output_tokens_per_s, c.measured.output_tokens_per_s);
  // Every step carries the cost executor's breakdown; its parts are the prediction's.
  EXPECT_EQ(c.breakdown_steps, c.steps);
  EXPECT_NEAR(m.terms[0].measured_ms, m.terms[0].predicted_ms, 1e-9);
  EXPECT_NEAR(m.terms[1].measured_ms, m.terms[1].predicted_ms, 1e-9);
  const std::string md = comparison_markdown({c});
  EXPECT_NE(md.find("| TTFT P90 (ms) |"), std::string::npos);
  EXPECT_NE(comparison_json({c}).find("\"quadrant-engine-comparison\""), std::string::npos);
}

TEST(Compare, AHostGapTheSimulatorDoesNotSeeCarriesTheDifference) {
  Case k;
  const int64_t host = 2'000'000;  // 2 ms of launch and sync per step
  const EngineRun run = k.run(host);
  const CaseComparison c =
      compare_case("gap", run, replay_scenario(k.sc, run), {{"roofline", k.roofline}});
  const ModelComparison& m = c.models[0];
  EXPECT_DOUBLE_EQ(m.step_gpu.median, 0);  // the GPU time is still the prediction
  EXPECT_LT(m.step_period.bias, -0.05);    // launch to launch, the simulator is too fast
  EXPECT_EQ(m.carrier, "launch + sync (wall - GPU)");
  EXPECT_NEAR(m.terms[3].measured_ms, 2.0, 1e-9);
  EXPECT_LT(m.simulated.tpot.p50, c.measured.tpot.p50);
}

TEST(Compare, RefusesAScenarioThatCannotReplayTheRun) {
  Case k;
  const EngineRun run = k.run(0);
  Scenario other = k.sc;
  other.serving.kv_block_size = 32;
  EXPECT_THROW(replay_scenario(other, run), InputError);
  other = k.sc;
  other.serving.colocated.gpu = "H100-SXM";
  EXPECT_THROW(replay_scenario(other, run), InputError);
  other = k.sc;
  other.serving.mode = ServingMode::kDisaggregated;
  EXPECT_THROW(replay_scenario(other, run), InputError);
}

}  // namespace
}  // namespace quadrant::engine
