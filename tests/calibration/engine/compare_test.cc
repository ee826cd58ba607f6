// The comparison against closed forms: a run whose steps took exactly the simulator's
// predicted times must compare with zero step error and the simulator's own request
// metrics; a host gap the simulator does not model must show as the carrying term.
#include "calibration/engine/compare.h"

#include <gtest/gtest.h>

#include <algorithm>

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
  // Every scored request paired with its replay (arrival and lengths), every error and its
  // interval 0.
  for (const PercentileError* e : {&m.latency.ttft_p50, &m.latency.ttft_p99, &m.latency.tpot_p90}) {
    EXPECT_GT(e->requests, 0);
    EXPECT_NEAR(e->error, 0, 1e-6);
    EXPECT_NEAR(e->low, 0, 1e-6);
    EXPECT_NEAR(e->high, 0, 1e-6);
  }
  EXPECT_EQ(m.latency.ttft_p90.requests, c.measured.requests_scored);
  // The decode-only steps' FFN, by decode count: the executor's own parts, ratio 1.
  ASSERT_FALSE(m.decode_ffn.empty());
  int banded = 0;
  for (const DecodeBand& b : m.decode_ffn) {
    EXPECT_NEAR(b.low, 1, 1e-9);
    EXPECT_NEAR(b.high, 1, 1e-9);
    banded += b.steps;
  }
  int decode_only = 0;
  for (const StepRecord& s : run.steps) decode_only += s.prefill.empty() && s.decode_seqs > 0;
  EXPECT_EQ(banded, decode_only);
  const std::string md = comparison_markdown({c});
  EXPECT_NE(md.find("| TTFT P90 (ms) |"), std::string::npos);
  EXPECT_NE(comparison_json({c}).find("\"quadrant-engine-comparison\""), std::string::npos);
}

// Synthetic requests: 40 after a 1 s warm-up (TTFT and TPOT i ms, i = 1..40) and 5 inside it.
std::vector<RequestRecord> requests(double scale, float slowest_tpot_s = 0) {
  std::vector<RequestRecord> out;
  for (int i = 1; i <= 45; ++i) {
    RequestRecord r;
    r.id = 100 + static_cast<uint64_t>(i);  // the replay's ids are not the run's
    r.arrival_s = i <= 5 ? 0.1 * i : 1.0 + 0.01 * i;
    r.input_tokens = 100 + i;
    r.output_tokens = i == 45 ? 1 : 10;  // one request of one token: no TPOT
    r.ttft_s = static_cast<float>(scale * 1e-3 * (i - 5));
    r.tpot_s = static_cast<float>(scale * 1e-3 * (i - 5));
    out.push_back(r);
  }
  if (slowest_tpot_s > 0) out[43].tpot_s = slowest_tpot_s;  // the slowest of TPOT
  return out;
}

TEST(Compare, PairedLatencyErrorsHaveTheirSamplingInterval) {
  const std::vector<RequestRecord> measured = requests(1);
  // Every request 10% slower in the simulation, listed in another order: +10%, and no
  // resample can move it.
  std::vector<RequestRecord> slower = requests(1.1);
  std::reverse(slower.begin(), slower.end());
  const LatencyErrors all = paired_latency_errors(measured, slower, 1.0);
  EXPECT_EQ(all.ttft_p50.requests, 40);  // the 5 in the warm-up left out
  EXPECT_EQ(all.tpot_p50.requests, 39);  // and the one-token request
  for (const PercentileError* e : {&all.ttft_p50, &all.ttft_p99, &all.tpot_p90}) {
    EXPECT_NEAR(e->error, 0.1, 1e-6);
    EXPECT_NEAR(e->low, 0.1, 1e-6);
    EXPECT_NEAR(e->high, 0.1, 1e-6);
  }
  // One request's TPOT doubled: P99 (the slowest of 39) +100% when it is drawn, 0 when not;
  // the interval spans both, P50 does not move.
  const LatencyErrors one = paired_latency_errors(measured, requests(1, 2 * 39e-3f), 1.0);
  EXPECT_NEAR(one.tpot_p99.error, 1.0, 1e-6);
  EXPECT_NEAR(one.tpot_p99.low, 0, 1e-6);
  EXPECT_NEAR(one.tpot_p99.high, 1.0, 1e-6);
  EXPECT_NEAR(one.tpot_p50.error, 0, 1e-6);
  EXPECT_NEAR(one.tpot_p50.high, 0, 1e-6);
  // Deterministic: the same inputs, the same interval.
  const LatencyErrors again = paired_latency_errors(measured, requests(1, 2 * 39e-3f), 1.0);
  EXPECT_EQ(again.tpot_p99.low, one.tpot_p99.low);
  EXPECT_EQ(again.tpot_p90.high, one.tpot_p90.high);
  // A request the simulator refused is left out of the pairs.
  std::vector<RequestRecord> refused = requests(1);
  refused[10].rejected = true;
  EXPECT_EQ(paired_latency_errors(measured, refused, 1.0).ttft_p50.requests, 39);
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
