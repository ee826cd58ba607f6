#include "sim/cost/step_cost.h"

#include <gtest/gtest.h>

#include "sim/cost/roofline_cost_model.h"
#include "sim/io/scenario_io.h"

namespace quadrant {
namespace {

GpuSpec toy_gpu() {
  GpuSpec g;
  g.name = "toy";
  g.memory = Bytes::giga(80);
  g.memory_bandwidth = BytesPerSec::tera(2);
  g.bf16 = FlopsPerSec::tera(1000);
  g.compute_efficiency = 0.5;
  g.memory_efficiency = 0.5;
  g.kernel_overhead = Duration::micros(5);
  return g;
}

TEST(RooflineCostModel, IsTheLargerOfComputeAndMemoryTimePlusOverhead) {
  RooflineCostModel m(toy_gpu());
  QuadrantShape s;
  s.compute_format = NumberFormat::kBf16;
  s.flops = Flops(1e12);  // 1e12 / (1000e12 * 0.5) = 2 ms
  s.bytes = Bytes(1e9);   // 1e9 / (2e12 * 0.5) = 1 ms
  Estimate e = m.predict(s);
  EXPECT_EQ(e.mean, Duration::millis(2) + Duration::micros(5));
  EXPECT_EQ(e.provenance, Provenance::kRoofline);
  EXPECT_EQ(e.source, "roofline:toy");
  s.bytes = Bytes(4e9);  // memory-bound now: 4 ms
  EXPECT_EQ(m.predict(s).mean, Duration::millis(4) + Duration::micros(5));
}

class StepCostTest : public ::testing::Test {
 protected:
  void SetUp() override { scenario_ = load_scenario("scenarios/default.json"); }
  Scenario scenario_;
};

// The step is its parts: attention of each phase x layers, FFN of every layer, and the
// communication; with PP the pipeline accepts a new step every total / pp.
TEST_F(StepCostTest, BreakdownAddsUpAndScalesWithLayers) {
  const GpuSpec& gpu = *scenario_.catalog.find("H100-SXM");
  RooflineCostModel roofline(gpu);
  Layout l;
  l.tp = 4;
  l.ep = 4;
  StepCostModel costs(scenario_.model, l, gpu, scenario_.cluster, roofline);
  StepBatch b;
  b.prefill = {2, 4096, 6144, 2048 * 2049};
  b.decode = {32, 32, 32 * 1500, 0};
  StepCost c = costs.cost(b);
  EXPECT_EQ(c.total, c.prefill_attention + c.decode_attention + c.ffn + c.tp_communication +
                         c.ep_communication + c.pp_communication);
  EXPECT_EQ(c.stage, c.total);
  EXPECT_EQ(c.provenance, Provenance::kRoofline);
  const Estimate att =
      roofline.predict(attention_shape(scenario_.model, l, Phase::kDecode, b.decode));
  EXPECT_EQ(c.decode_attention, att.mean * scenario_.model.num_layers);
  EXPECT_GT(c.tp_communication, Duration::zero());
  EXPECT_GT(c.ep_communication, Duration::zero());
  // Memoised FFN costs give the same answer as the first computation.
  EXPECT_EQ(costs.cost(b).total, c.total);

  l.pp = 2;
  l.tp = 2;
  l.ep = 2;
  StepCostModel piped(scenario_.model, l, gpu, scenario_.cluster, roofline);
  StepCost p = piped.cost(b);
  EXPECT_GT(p.pp_communication, Duration::zero());
  EXPECT_NEAR(static_cast<double>(p.stage.ns()), p.total.ns() / 2.0, 1.0);
}

// Decode at small batch is memory-bound: its roofline is at least the time to read the
// attention weights and the KV cache once per layer at the achievable bandwidth.
TEST_F(StepCostTest, DecodeStepIsAtLeastTheTimeToReadWhatItMust) {
  const GpuSpec& gpu = *scenario_.catalog.find("H20");
  RooflineCostModel roofline(gpu);
  Layout l;
  l.tp = 4;
  l.ep = 4;
  StepCostModel costs(scenario_.model, l, gpu, scenario_.cluster, roofline);
  StepBatch b;
  b.decode = {64, 64, 64 * 2000, 0};
  StepCost c = costs.cost(b);
  ForwardAccounting f = forward_accounting(scenario_.model, l, Phase::kDecode, b.decode);
  const Bytes per_gpu = (f.bytes[2] + f.bytes[3]) / static_cast<double>(l.gpus());
  const Duration floor = per_gpu / (gpu.memory_bandwidth * gpu.memory_efficiency);
  EXPECT_GE(c.decode_attention + c.ffn, floor);
  // ... and not far above it: compute is far from the bottleneck at this batch.
  EXPECT_LT((c.decode_attention + c.ffn).to_seconds(), floor.to_seconds() * 1.5);
}

}  // namespace
}  // namespace quadrant
