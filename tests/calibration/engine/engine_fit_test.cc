// The engine-term fit against known answers: steps timed by a known overhead on top of
// the kernel models are fitted back to it, and the StepCostModel applies what the model
// file carries, for its model only; without it a step is exactly its kernels.
#include "calibration/engine/engine_fit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "calibration/calibrated_cost_model.h"
#include "calibration/engine/cost_executor.h"
#include "calibration/engine/driver.h"
#include "calibration/fit.h"
#include "sim/core/error.h"
#include "sim/io/scenario_io.h"

namespace quadrant::engine {
namespace {

constexpr kernels::plan::DecodeSplitModel kBytes = kernels::plan::DecodeSplitModel::kBytes;

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
    o.per_prefill_pair_ns = 0.02;  // 40 us at a 2048-token chunk without prefix
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
  EXPECT_NEAR(o.per_prefill_pair_ns, 0.02, 1e-4);
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
  // Its own: the factors and the per-step, per-sequence, per-token and per-pair time.
  EXPECT_EQ(z.overhead.ns(), std::llround(1.2e6 + 40e3 * 42 + 1.5e3 * 740 + 0.02 * 700 * 600));
  // Pairs left out by the caller: alike chunks of 350 tokens after 600 of prefix each.
  StepBatch unpaired = batch;
  unpaired.prefill.attention_pairs = 0;
  EXPECT_EQ(c.cost(unpaired).overhead.ns(), std::llround(1.2e6 + 40e3 * 42 + 1.5e3 * 740 +
                                                         0.02 * 2 * (350 * 600 + 350 * 351 / 2.0)));
  StepBatch decode_only;
  decode_only.decode = batch.decode;  // a decode-only step: a graph replay at 48 rows
  EXPECT_EQ(graph_rows(f.truth(), 40), 48);
  // Qwen3-30B-A3B: top 8 of 128; 40 sequences and 8 padding rows that route alike.
  const double experts = 128 * (1 - std::pow(1 - 8.0 / 128, 41));
  EXPECT_NEAR(expected_active_experts(f.sc.model, 41), experts, 1e-9);
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
  EXPECT_EQ(expected_expert_reads(o, f.sc.model, 48, 48), expected_active_experts(f.sc.model, 48));
  o.expert_tile_rows = 16;
  EXPECT_EQ(expected_expert_reads(o, f.sc.model, 48, 48),
            expected_expert_tiles(f.sc.model, 48, 16));
}

// A graph replay's padding rows are one token repeated: for the active experts, one more
// sequence; for tiles, all of them on that token's top_k experts.
TEST(EngineFit, PaddingRowsRouteAlike) {
  Fixture f;  // Qwen3-30B-A3B: top 8 of 128
  EngineOverhead o = f.truth();
  EXPECT_EQ(expected_expert_reads(o, f.sc.model, 40, 48), expected_active_experts(f.sc.model, 41));
  EXPECT_LT(expected_expert_reads(o, f.sc.model, 40, 48), expected_active_experts(f.sc.model, 48));
  // Tiles: a two-expert top-1 model, one sequence and one padding row, tiles of 16: the
  // padding's expert gets one tile whatever the sequence picks (1), the other expert one
  // when the sequence picks it (1/2).
  ModelSpec two = f.sc.model;
  two.ffn.num_experts = 2;
  two.ffn.top_k = 1;
  o.expert_tile_rows = 16;
  EXPECT_DOUBLE_EQ(expected_expert_reads(o, two, 1, 2), 1.5);
  // Unpadded, the plain binomial sum; tiles of one row count every row's pick.
  EXPECT_EQ(expected_expert_reads(o, f.sc.model, 48, 48),
            expected_expert_tiles(f.sc.model, 48, 16));
  o.expert_tile_rows = 1;
  EXPECT_NEAR(expected_expert_reads(o, f.sc.model, 40, 48), 48 * 8, 1e-9);
  // 17 padding rows on the padding's 8 experts: two 16-row tiles each at least.
  o.expert_tile_rows = 16;
  EXPECT_GE(expected_expert_reads(o, f.sc.model, 31, 48), 16.0);
}

// The down projection's waves against the tiles' distribution enumerated: every expert's
// count an independent binomial (the padding rows on the first top_k experts), the waves
// of the total's CTAs summed over every combination of counts.
TEST(EngineFit, ExpectedExpertWavesAreTheTilesDistribution) {
  Fixture f;
  ModelSpec m = f.sc.model;
  m.ffn.num_experts = 3;
  m.ffn.top_k = 1;
  EngineOverhead o;
  o.expert_tile_rows = 2;
  o.expert_wave_ctas = 3;
  o.expert_wave_slots = 5;
  auto reference = [&](int seqs, int rows) {
    const double p = 1.0 / 3;
    auto pmf = [&](int c) {
      return std::tgamma(seqs + 1.0) / (std::tgamma(c + 1.0) * std::tgamma(seqs - c + 1.0)) *
             std::pow(p, c) * std::pow(1 - p, seqs - c);
    };
    auto tiles = [](int n) { return (n + 1) / 2; };
    double sum = 0;
    for (int a = 0; a <= seqs; ++a)
      for (int b = 0; b <= seqs; ++b)
        for (int c = 0; c <= seqs; ++c) {
          const int total = tiles(a + rows - seqs) + tiles(b) + tiles(c);
          sum += pmf(a) * pmf(b) * pmf(c) * std::ceil(3.0 * total / 5);
        }
    return sum;
  };
  for (auto [seqs, rows] : {std::pair{1, 1}, {4, 4}, {5, 8}, {3, 8}, {7, 7}})
    EXPECT_NEAR(expected_expert_waves(o, m, seqs, rows), reference(seqs, rows), 1e-12)
        << seqs << " sequences in " << rows << " rows";
  // Every expert picked (top_k = E): the tiles are certain, E ceil(rows / t), and so are
  // the waves: 3 experts x 4 tiles x 3 CTAs on 5 slots, 8 waves.
  m.ffn.top_k = 3;
  EXPECT_DOUBLE_EQ(expected_expert_waves(o, m, 8, 8), 8);
  // No geometry, no tiles, or no MoE: no waves.
  EngineOverhead none = o;
  none.expert_wave_slots = 0;
  EXPECT_EQ(expected_expert_waves(none, m, 8, 8), 0);
  none = o;
  none.expert_tile_rows = 0;
  EXPECT_EQ(expected_expert_waves(none, m, 8, 8), 0);
  EXPECT_EQ(expected_expert_waves(o, m, 0, 0), 0);
}

// A decode-only step pays the waves' term; a step with prefill does not.
TEST(EngineFit, StepCostPaysTheDownProjectionsWaves) {
  Fixture f;
  calibration::ModelFile with = f.file;
  EngineOverhead o = f.truth();
  o.expert_tile_rows = 16;
  with.engine = {o};
  set_quadrant_engine_expert_waves(o, f.sc.model, 132, 2);
  o.per_expert_wave_ns = 1e6;
  calibration::ModelFile waved = f.file;
  waved.engine = {o};
  const auto plain_model = calibration::CalibratedCostModel::from(with);
  const auto waved_model = calibration::CalibratedCostModel::from(waved);
  const StepCostModel plain(f.sc.model, f.sc.serving.colocated.layout, f.gpu, f.sc.cluster,
                            *plain_model);
  const StepCostModel with_waves(f.sc.model, f.sc.serving.colocated.layout, f.gpu, f.sc.cluster,
                                 *waved_model);
  StepBatch decode;
  decode.decode = {40, 40, 40 * 1000, 0};
  const double waves = expected_expert_waves(o, f.sc.model, 40, graph_rows(o, 40));
  EXPECT_GT(waves, 0);
  EXPECT_NEAR(static_cast<double>((with_waves.cost(decode).total - plain.cost(decode).total).ns()),
              1e6 * waves, 1.0);
  StepBatch mixed = decode;
  mixed.prefill = {1, 512, 512, 512 * 513 / 2};
  EXPECT_EQ(with_waves.cost(mixed).total, plain.cost(mixed).total);
}

// The decode attention launch's makespan against schedules worked by hand.
TEST(EngineFit, DecodeAttentionMakespanIsTheLaunchSchedule) {
  EngineOverhead o;
  o.graph_buckets = {1, 4};
  EngineOverhead::AttentionLaunch& a = o.attention_launch;
  a.kv_bounds = {100, 200};
  a.chunk = {{50, 100}, {25, 50}};  // [bucket][bound]
  a.ctas_per_chunk = 2;
  a.slots = 4;
  a.cta_overhead_tokens = 10;
  const std::vector<int32_t> one = {100};
  // One row, bound 100 (chunk 50): 2 chunks x 2 CTAs of 60 on 4 slots, one wave.
  EXPECT_DOUBLE_EQ(decode_attention_makespan(o, 1, one), 60);
  // Longest 101: bound 200 (chunk 100): 2 CTAs of 110 and 2 of 11, one wave.
  EXPECT_DOUBLE_EQ(decode_attention_makespan(o, 1, std::vector<int32_t>{101}), 110);
  // Four rows at bound 100 (chunk 25): two sequences of 100 are 16 CTAs of 35, four waves.
  EXPECT_DOUBLE_EQ(decode_attention_makespan(o, 4, std::vector<int32_t>{100, 100}), 140);
  // Beyond the last bucket or bound: the last ones.
  EXPECT_DOUBLE_EQ(decode_attention_makespan(o, 9, std::vector<int32_t>{100, 100}), 140);
  // Bandwidth shared: one sequence of 150 at bound 200 (chunk 100) is CTAs of 110 and 60
  // per head group, all four started; with a cap of 2 each streams at min(2, 4 / active):
  // 1 until the 60s end at 60, then 2, so the 110s' last 50 take 25. Makespan 85.
  a.rate_cap = 2;
  EXPECT_DOUBLE_EQ(decode_attention_makespan(o, 1, std::vector<int32_t>{150}), 85);
  // No launch table, or no sequences: no term.
  EXPECT_EQ(decode_attention_makespan(o, 1, {}), 0);
  EXPECT_EQ(decode_attention_makespan(EngineOverhead(), 1, one), 0);
}

// The launch table is kernels/plan's split-KV choice for the bucket and the bound.
// mixed_attention_launch: a step with prefill's decodes pay the launch's makespan at their
// count (and decode_only_attention on the kernel model), as a decode-only step's do; off
// (files fitted before it), neither.
TEST(EngineFit, MixedStepsDecodesPayTheLaunchWhenAsked) {
  Fixture f;
  EngineOverhead o = f.truth();
  o.graph_buckets = {1, 4};
  EngineOverhead::AttentionLaunch& a = o.attention_launch;
  a.kv_bounds = {1000, 2000};
  a.chunk = {{500, 1000}, {250, 500}};
  a.ctas_per_chunk = 2;
  a.slots = 4;
  a.cta_overhead_tokens = 10;
  o.per_attention_token_ns = 1000;
  o.decode_only_attention = 0.25;
  calibration::ModelFile off = f.file, on = f.file;
  off.engine = {o};
  o.mixed_attention_launch = true;
  on.engine = {o};
  const auto plain = calibration::CalibratedCostModel::from(f.file);
  const auto m_off = calibration::CalibratedCostModel::from(off);
  const auto m_on = calibration::CalibratedCostModel::from(on);
  const StepCostModel k(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *plain);
  const StepCostModel c_off(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *m_off);
  const StepCostModel c_on(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *m_on);
  StepBatch batch;
  batch.prefill = {1, 500, 500, 500 * 501 / 2};
  batch.decode = {2, 2, 1800, 1800};
  const std::vector<int32_t> lengths = {900, 900};
  batch.decode_lengths = lengths;
  const StepCost x = k.cost(batch), y = c_off.cost(batch), z = c_on.cost(batch);
  // Two sequences of 900 at bound 1000, bucket 4 (chunk 250): each head group's chunks
  // 250, 250, 250, 150 (+10 a CTA), 12 CTAs of 260 and 4 of 160 on 4 slots that never idle:
  // (12 x 260 + 4 x 160) / 4.
  const double span = decode_attention_makespan(o, 2, lengths);
  EXPECT_DOUBLE_EQ(span, 940);
  EXPECT_EQ(z.overhead.ns() - y.overhead.ns(), std::llround(1000 * span));
  EXPECT_EQ(y.decode_attention, x.decode_attention.scaled(o.decode_attention));
  EXPECT_EQ(z.decode_attention, x.decode_attention.scaled(0.25));
  // A decode-only step is priced the same either way.
  StepBatch decode_only = batch;
  decode_only.prefill = {};
  EXPECT_EQ(c_on.cost(decode_only).total, c_off.cost(decode_only).total);
}

TEST(EngineFit, QuadrantEngineLaunchIsTheKernelsSplit) {
  Fixture f;
  const std::vector<int> buckets = quadrant_engine_graph_buckets(256);
  const EngineOverhead::AttentionLaunch a =
      quadrant_engine_attention_launch(f.sc.model, buckets, 132, kBytes);
  ASSERT_EQ(a.chunk.size(), buckets.size());
  EXPECT_EQ(a.kv_bounds.front(), 1024);
  EXPECT_EQ(a.ctas_per_chunk, 4);  // 32 query heads, 8 a CTA (GQA group of 8)
  EXPECT_EQ(a.slots, 264);         // 132 SMs x 2 resident mma CTAs
  EXPECT_EQ(a.cta_overhead_tokens, 384);
  for (size_t r = 0; r < buckets.size(); ++r)
    for (size_t b = 0; b < a.kv_bounds.size(); ++b) {
      EXPECT_GE(a.chunk[r][b], 64);
      EXPECT_LE(a.chunk[r][b], a.kv_bounds[b]);
    }
  // The 64-row graph at the 4096 bound takes 2048-token chunks, the 48- and 80-row ones
  // 1024 (the split's one-wave preference at 256 of 264 slots).
  auto chunk = [&](int rows, int bound) {
    const size_t r = std::find(buckets.begin(), buckets.end(), rows) - buckets.begin();
    const size_t b = std::find(a.kv_bounds.begin(), a.kv_bounds.end(), bound) - a.kv_bounds.begin();
    return a.chunk.at(r).at(b);
  };
  EXPECT_EQ(chunk(48, 4096), 1024);
  EXPECT_EQ(chunk(64, 4096), 2048);
  EXPECT_EQ(chunk(80, 4096), 1024);
  ModelSpec mla = f.sc.model;
  mla.attention.kind = AttentionKind::kMla;
  EXPECT_THROW(quadrant_engine_attention_launch(mla, buckets, 132, kBytes), InputError);
}

// The launch follows the chooser it is given (the kernel model's plan_rules.decode_split),
// not QUADRANT_DECODE_ATTN_SPLIT_MODEL: with the variable saying fluid, the byte chooser's
// table is the one above (64 rows at 4096: 2048-token chunks), and the fluid chooser's,
// asked for, differs from it.
TEST(EngineFit, QuadrantEngineLaunchFollowsTheModelsSplitChooser) {
  Fixture f;
  const std::vector<int> buckets = quadrant_engine_graph_buckets(256);
  const EngineOverhead::AttentionLaunch bytes =
      quadrant_engine_attention_launch(f.sc.model, buckets, 132, kBytes);
  setenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL", "fluid", 1);
  const EngineOverhead::AttentionLaunch under_env =
      quadrant_engine_attention_launch(f.sc.model, buckets, 132, kBytes);
  unsetenv("QUADRANT_DECODE_ATTN_SPLIT_MODEL");
  EXPECT_EQ(under_env.chunk, bytes.chunk);
  const EngineOverhead::AttentionLaunch fluid = quadrant_engine_attention_launch(
      f.sc.model, buckets, 132, kernels::plan::DecodeSplitModel::kFluid);
  EXPECT_NE(fluid.chunk, bytes.chunk);
  EXPECT_EQ(f.file.plan_rules.decode_split, kBytes);  // H200.json's rule
}

// The step's lengths: rebuilt from the requests' token steps where they agree with the
// step's logged count, sum and longest; the cost reads them, or the mean without them.
TEST(EngineFit, DecodeLengthsFromTheLogAndTheirCost) {
  Fixture f;
  EngineRun run;
  run.steps.resize(3);
  RequestLog a, b;
  a.input_tokens = 100;
  a.token_steps = {{0, 3}};  // tokens 1, 2, 3 at steps 0, 1, 2: 101 and 102 attended
  b.input_tokens = 50;
  b.token_steps = {{1, 2}};  // its second token at step 2: 51
  run.requests = {a, b};
  run.steps[1].decode_seqs = 1;
  run.steps[1].decode_context = 101;
  run.steps[1].decode_kv_max = 101;
  run.steps[2].decode_seqs = 2;
  run.steps[2].decode_context = 153;
  run.steps[2].decode_kv_max = 102;
  std::vector<std::vector<int32_t>> l = step_decode_lengths(run);
  EXPECT_TRUE(l[0].empty());
  EXPECT_EQ(l[1], std::vector<int32_t>({101}));
  EXPECT_EQ(l[2], std::vector<int32_t>({102, 51}));
  run.steps[2].decode_context = 154;  // disagrees: none
  EXPECT_TRUE(step_decode_lengths(run)[2].empty());

  calibration::ModelFile with = f.file;
  EngineOverhead o = f.truth();
  o.attention_launch = quadrant_engine_attention_launch(f.sc.model, o.graph_buckets, 132,
                                                        f.file.plan_rules.decode_split);
  o.per_attention_token_ns = 1000;
  o.decode_only_attention = 0.5;
  with.engine = {o};
  const auto model = calibration::CalibratedCostModel::from(with);
  const auto plain = calibration::CalibratedCostModel::from(f.file);
  const StepCostModel c(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *model);
  const StepCostModel k(f.sc.model, Layout{}, f.gpu, f.sc.cluster, *plain);
  EXPECT_TRUE(c.reads_decode_lengths());
  EXPECT_FALSE(k.reads_decode_lengths());
  const std::vector<int32_t> spread = {3000, 200, 200, 200};
  const std::vector<int32_t> alike = {900, 900, 900, 900};
  StepBatch s;
  s.decode = {4, 4, 3600, 3600};
  const StepCost mean = c.cost(s);
  s.decode_lengths = spread;
  const StepCost spread_cost = c.cost(s);
  s.decode_lengths = alike;
  EXPECT_EQ(c.cost(s).total, mean.total);  // no lengths: alike, of the mean
  const double rows_experts = 0.7e6 + 30e3 * 4 + 20e3 * expected_active_experts(f.sc.model, 4);
  EXPECT_EQ(spread_cost.overhead.ns(),
            std::llround(rows_experts + 1000 * decode_attention_makespan(o, 4, spread)));
  EXPECT_GT(spread_cost.overhead, mean.overhead);  // the long sequence's chunks bind
  // Decode-only steps scale the kernel model's decode attention by decode_only_attention.
  s.decode_lengths = {};
  EXPECT_EQ(mean.decode_attention, k.cost(s).decode_attention.scaled(0.5));
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
  EXPECT_DOUBLE_EQ(back.engine[0].per_prefill_pair_ns, 0.02);
  EXPECT_DOUBLE_EQ(back.engine[0].per_active_expert_ns, 20e3);
  EXPECT_EQ(back.engine[0].graph_buckets, f.truth().graph_buckets);
  EXPECT_EQ(back.engine[0].expert_tile_rows, 0);
  EXPECT_TRUE(back.engine[0].attention_launch.kv_bounds.empty());
  {
    calibration::ModelFile launched = with;
    EngineOverhead& o = launched.engine[0];
    o.attention_launch = quadrant_engine_attention_launch(f.sc.model, o.graph_buckets, 132,
                                                          f.file.plan_rules.decode_split);
    o.attention_launch.rate_cap = 2;
    o.per_attention_token_ns = 900;
    o.decode_only_attention = 0.25;
    const std::string launched_text = calibration::model_to_json(launched);
    calibration::save_text(path, launched_text);
    const EngineOverhead r = calibration::read_model(path).engine.at(0);
    EXPECT_EQ(r.attention_launch.chunk, o.attention_launch.chunk);
    EXPECT_EQ(r.attention_launch.kv_bounds, o.attention_launch.kv_bounds);
    EXPECT_EQ(r.attention_launch.slots, 264);
    EXPECT_DOUBLE_EQ(r.attention_launch.rate_cap, 2);
    EXPECT_DOUBLE_EQ(r.per_attention_token_ns, 900);
    EXPECT_DOUBLE_EQ(r.decode_only_attention, 0.25);
    // A chunk row short of the bounds is named.
    std::string bad = launched_text;
    const size_t at = bad.find("\"chunk\":[[");
    ASSERT_NE(at, std::string::npos);
    bad.insert(at + 10, "64,");
    calibration::save_text(path, bad);
    try {
      calibration::read_model(path);
      ADD_FAILURE() << "a chunk row of the wrong length was read";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("chunk per KV bound"), std::string::npos) << e.what();
    }
  }
  {
    calibration::ModelFile tiled = with;
    tiled.engine[0].expert_tile_rows = 16;
    calibration::save_text(path, calibration::model_to_json(tiled));
    EXPECT_EQ(calibration::read_model(path).engine.at(0).expert_tile_rows, 16);
    // The down projection's waves: the time per wave and the geometry; none when absent.
    EXPECT_EQ(calibration::read_model(path).engine.at(0).expert_wave_slots, 0);
    set_quadrant_engine_expert_waves(tiled.engine[0], f.sc.model, 132, 2);
    tiled.engine[0].per_expert_wave_ns = 2.6e6;
    calibration::save_text(path, calibration::model_to_json(tiled));
    const EngineOverhead r = calibration::read_model(path).engine.at(0);
    EXPECT_DOUBLE_EQ(r.per_expert_wave_ns, 2.6e6);
    EXPECT_EQ(r.expert_wave_ctas, f.sc.model.hidden_size / 128);
    EXPECT_EQ(r.expert_wave_slots, 264);
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
