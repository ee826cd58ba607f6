// The engine-term fit against known answers: steps timed by a known overhead on top of
// the kernel models are fitted back to it, and the StepCostModel applies what the model
// file carries, for its model only; without it a step is exactly its kernels.
#include "calibration/engine/engine_fit.h"

#include <gtest/gtest.h>

#include <cmath>

#include "calibration/calibrated_cost_model.h"
#include "calibration/engine/cost_executor.h"
#include "calibration/engine/driver.h"
#include "calibration/fit.h"
#include "sim/core/error.h"
#include "sim/io/scenario_io.h"

namespace quadrant::engine {
namespace {

struct Fixture {
  Scenario sc = load_scenario("tests/calibration/engine/colocated_h200.json");
  calibration::ModelFile file = calibration::read_model("calibration/models/H200.json");
  const GpuSpec& gpu = *sc.catalog.find("H200");
  // The kernels alone: the committed file's own engine terms left out.
  Fixture() { file.engine.clear(); }
  EngineOverhead truth() const {
    EngineOverhead o;
    o.model = sc.model.name;
    o.weights = "bf16";
    o.step_ns = 1.2e6;
    o.decode_step_ns = 0.7e6;
    o.per_seq_ns = 40e3;
    o.per_token_ns = 1.5e3;
    o.decode_per_row_ns = 30e3;
    o.per_active_expert_ns = 20e3;
    o.graph_buckets = quadrant_engine_graph_buckets(sc.serving.colocated.max_batch_size);
    o.prefill_attention = 1.1;
    o.decode_attention = 1.3;
    o.prefill_ffn = 0.9;
    o.decode_ffn = 0.8;
    return o;
  }
};

// A run served on the "engine" a model with the truth's terms describes.
EngineRun served_by(const Fixture& f, const CostModel& engine_model) {
  CostModelExecutor ex(f.sc.model, f.gpu, f.sc.cluster, engine_model,
                       {.kv_blocks = 20000, .block_tokens = 16});
  VirtualClock clock;
  Scenario sc = f.sc;
  sc.workload.arrival.rate_per_s = 12;
  return run_engine(sc, engine_requests(sc.workload, sc.seed), ex, clock, {});
}

TEST(EngineFit, RecoversTheTermsThatTimedTheSteps) {
  Fixture f;
  calibration::ModelFile with = f.file;
  with.engine = {f.truth()};
  const auto engine_model = calibration::CalibratedCostModel::from(with);
  ASSERT_NE(engine_model->engine_overhead(f.sc.model), nullptr);
  EngineRun run = served_by(f, *engine_model);
  // Steps with a breakdown are left out (a real engine runs them eagerly); keep a few.
  for (size_t i = 0; i < run.steps.size(); ++i)
    if (i % 25 != 0) run.steps[i].parts_ns.clear();
  // Priced by the kernels alone, as `quadrant calibrate engine` does.
  const auto kernels = calibration::CalibratedCostModel::from(f.file);
  const StepCostModel costs(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *kernels);
  std::string target;
  const std::vector<EngineStep> steps = engine_steps(run, costs, f.truth(), &target);
  EXPECT_EQ(target, "launch to launch (step wall time + host gap after it)");
  ASSERT_GT(steps.size(), 500u);
  // Without the prior: the step times carry rounding to whole nanoseconds only, an
  // exact fit.
  const EngineFit exact = fit_engine_overhead(steps, 5, 0);
  EXPECT_LT(exact.heldout.p95, 1e-4);
  EXPECT_GT(exact.kernels.median, 0.02);  // the kernels alone were visibly off
  const EngineOverhead& o = exact.overhead;
  EXPECT_NEAR(o.step_ns, 1.2e6, 1e3);
  EXPECT_NEAR(o.decode_step_ns, 0.7e6, 1e3);
  EXPECT_NEAR(o.per_seq_ns, 40e3, 100);
  EXPECT_NEAR(o.per_token_ns, 1.5e3, 5);
  EXPECT_NEAR(o.decode_per_row_ns, 30e3, 100);
  EXPECT_NEAR(o.per_active_expert_ns, 20e3, 100);
  EXPECT_NEAR(o.prefill_attention, 1.1, 1e-3);
  EXPECT_NEAR(o.decode_attention, 1.3, 1e-3);
  EXPECT_NEAR(o.prefill_ffn, 0.9, 1e-3);
  EXPECT_NEAR(o.decode_ffn, 0.8, 1e-3);
  EXPECT_EQ(o.steps, static_cast<int>(steps.size()));
  EXPECT_TRUE(exact.by_run.empty());  // one run: no out-of-run error
  // Two runs: each predicted by a fit on the other, exactly here.
  std::vector<EngineStep> two = steps;
  for (size_t i = 0; i < two.size(); ++i) two[i].run = static_cast<int>(i % 2);
  const EngineFit by_run = fit_engine_overhead(two, 5, 0);
  ASSERT_EQ(by_run.by_run.size(), 2u);
  EXPECT_LT(by_run.by_run[0].p95, 1e-4);
  EXPECT_LT(by_run.by_run[1].p95, 1e-4);
  EXPECT_EQ(by_run.by_run[0].count + by_run.by_run[1].count, static_cast<int>(steps.size()));
  // With the default prior, factors the steps barely pin (short contexts: decode
  // attention is a few % of a step) stay nearer 1, and the steps are still well fitted.
  const EngineFit fit = fit_engine_overhead(steps, 5);
  EXPECT_LT(fit.heldout.median, 0.02);
  EXPECT_LT(fit.heldout.p95, 0.05);
}

TEST(EngineFit, StepCostAppliesTheSectionOfItsModelOnly) {
  Fixture f;
  const auto plain = calibration::CalibratedCostModel::from(f.file);
  calibration::ModelFile with = f.file;
  EngineOverhead other = f.truth();
  other.model = "some other model";
  with.engine = {other};
  const auto foreign = calibration::CalibratedCostModel::from(with);
  with.engine.push_back(f.truth());
  const auto own = calibration::CalibratedCostModel::from(with);
  const StepCostModel a(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *plain);
  const StepCostModel b(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *foreign);
  const StepCostModel c(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *own);
  StepBatch batch;
  batch.prefill = {2, 700, 1900, 700 * 600};
  batch.decode = {40, 40, 40 * 900, 40 * 900};
  const StepCost x = a.cost(batch), y = b.cost(batch), z = c.cost(batch);
  // Another model's section changes nothing, to the nanosecond.
  EXPECT_EQ(x.total.ns(), y.total.ns());
  EXPECT_EQ(x.ffn.ns(), y.ffn.ns());
  EXPECT_EQ(x.overhead.ns(), 0);
  EXPECT_EQ(x.total, x.prefill_attention + x.decode_attention + x.ffn + x.tp_communication +
                         x.ep_communication + x.pp_communication);
  // Its own: the factors and the per-step, per-sequence and per-token time.
  EXPECT_EQ(z.overhead.ns(), std::llround(1.2e6 + 40e3 * 42 + 1.5e3 * 740));
  StepBatch decode_only;
  decode_only.decode = batch.decode;  // a decode-only step: a graph replay at 48 rows
  EXPECT_EQ(graph_rows(f.truth(), 40), 48);
  const double experts = 128 * (1 - std::pow(1 - 8.0 / 128, 48));  // Qwen3-30B-A3B: top 8 of 128
  EXPECT_NEAR(expected_active_experts(f.sc.model, 48), experts, 1e-9);
  EXPECT_EQ(c.cost(decode_only).overhead.ns(), std::llround(0.7e6 + 30e3 * 48 + 20e3 * experts));
  // Beyond the last bucket, or without buckets, the rows are the sequences.
  EngineOverhead eager = f.truth();
  eager.graph_buckets.clear();
  EXPECT_EQ(graph_rows(eager, 40), 40);
  EXPECT_EQ(graph_rows(f.truth(), 100000), 100000);
  EXPECT_EQ(z.prefill_attention, x.prefill_attention.scaled(1.1));
  EXPECT_EQ(z.decode_attention, x.decode_attention.scaled(1.3));
  EXPECT_EQ(z.ffn, x.ffn.scaled(0.9));  // a step with prefill: the prefill FFN's factor
  EXPECT_EQ(z.total, z.prefill_attention + z.decode_attention + z.ffn + z.overhead);
}

// Expected row tiles per MoE layer against the binomial sum written out, and its limits:
// one tile whatever the count is the active experts; tiles of one row are the tokens'
// top_k picks.
TEST(EngineFit, ExpectedExpertTilesAreTheBinomialSum) {
  Fixture f;  // Qwen3-30B-A3B: top 8 of 128
  auto reference = [](double experts, double k, int tokens, int tile) {
    const double p = k / experts;
    double sum = 0;
    for (int n = 0; n <= tokens; ++n) {
      const double log_pmf = std::lgamma(tokens + 1.0) - std::lgamma(n + 1.0) -
                             std::lgamma(tokens - n + 1.0) + n * std::log(p) +
                             (tokens - n) * std::log1p(-p);
      sum += std::exp(log_pmf) * std::ceil(static_cast<double>(n) / tile);
    }
    return experts * sum;
  };
  for (int tokens : {1, 7, 48, 200, 256})
    for (int tile : {1, 4, 16, 64})
      EXPECT_NEAR(expected_expert_tiles(f.sc.model, tokens, tile), reference(128, 8, tokens, tile),
                  1e-9 * tokens * 8)
          << tokens << " tokens, tiles of " << tile;
  EXPECT_NEAR(expected_expert_tiles(f.sc.model, 48, 48), expected_active_experts(f.sc.model, 48),
              1e-9);
  EXPECT_NEAR(expected_expert_tiles(f.sc.model, 48, 1), 48 * 8, 1e-9);
  // 256 rows: 16 per expert on average, so about 1.5 tiles per expert where only 128 can be
  // active.
  EXPECT_GT(expected_expert_tiles(f.sc.model, 256, 16), 1.4 * 128);
  EXPECT_EQ(expected_expert_tiles(f.sc.model, 0, 16), 0);
  // The engine term pays per tile when the section names a tile, else per active expert.
  EngineOverhead o = f.truth();
  EXPECT_EQ(expected_expert_reads(o, f.sc.model, 48), expected_active_experts(f.sc.model, 48));
  o.expert_tile_rows = 16;
  EXPECT_EQ(expected_expert_reads(o, f.sc.model, 48), expected_expert_tiles(f.sc.model, 48, 16));
}

TEST(EngineFit, TheSectionRoundTripsThroughTheModelFile) {
  Fixture f;
  calibration::ModelFile with = f.file;
  with.engine = {f.truth()};
  const std::string text = calibration::model_to_json(with);
  const std::string path = testing::TempDir() + "engine_section_model.json";
  calibration::save_text(path, text);
  const calibration::ModelFile back = calibration::read_model(path);
  ASSERT_EQ(back.engine.size(), 1u);
  EXPECT_EQ(back.engine[0].model, f.sc.model.name);
  EXPECT_DOUBLE_EQ(back.engine[0].per_token_ns, 1.5e3);
  EXPECT_DOUBLE_EQ(back.engine[0].decode_ffn, 0.8);
  EXPECT_DOUBLE_EQ(back.engine[0].decode_per_row_ns, 30e3);
  EXPECT_DOUBLE_EQ(back.engine[0].per_active_expert_ns, 20e3);
  EXPECT_EQ(back.engine[0].graph_buckets, f.truth().graph_buckets);
  EXPECT_EQ(back.engine[0].expert_tile_rows, 0);
  {
    calibration::ModelFile tiled = with;
    tiled.engine[0].expert_tile_rows = 16;
    calibration::save_text(path, calibration::model_to_json(tiled));
    EXPECT_EQ(calibration::read_model(path).engine.at(0).expert_tile_rows, 16);
  }
  // A file fitted before the decode-only terms reads as the same step time: a row costs
  // a sequence plus a token, no expert term, no buckets.
  std::string old = text;
  for (const char* field : {"decode_per_row_ns", "per_active_expert_ns", "graph_buckets"}) {
    const size_t at = old.find(std::string("\"") + field + "\"");
    ASSERT_NE(at, std::string::npos) << field;
    old.erase(at, old.find_first_of(",}", old.find(field[0] == 'g' ? ']' : ':', at)) - at + 1);
  }
  calibration::save_text(path, old);
  const EngineOverhead legacy = calibration::read_model(path).engine.at(0);
  EXPECT_DOUBLE_EQ(legacy.decode_per_row_ns, 40e3 + 1.5e3);
  EXPECT_DOUBLE_EQ(legacy.per_active_expert_ns, 0);
  EXPECT_TRUE(legacy.graph_buckets.empty());
  // Buckets must ascend from 1.
  std::string bad = text;
  const size_t b = bad.find("\"graph_buckets\":[1,");
  ASSERT_NE(b, std::string::npos);
  bad.replace(b, std::string("\"graph_buckets\":[1,").size(), "\"graph_buckets\":[3,");
  calibration::save_text(path, bad);
  EXPECT_THROW(calibration::read_model(path), InputError);
  // Without the section the file is what it was.
  EXPECT_EQ(calibration::model_to_json(f.file).find("\"engine\""), std::string::npos);
  // A derived model (another GPU) carries no engine terms: they were measured here.
  const auto h200 = calibration::CalibratedCostModel::from(with);
  const auto h100 =
      calibration::CalibratedCostModel::derive(*h200, f.gpu, *f.sc.catalog.find("H100-SXM"));
  EXPECT_EQ(h100->engine_overhead(f.sc.model), nullptr);
}

TEST(EngineFit, TooFewStepsIsAnInputError) {
  EXPECT_THROW(fit_engine_overhead(std::vector<EngineStep>(10), 5), InputError);
}

}  // namespace
}  // namespace quadrant::engine
