// The attention/FFN ping-pong pipeline (cost/af_pipeline.h) against its closed forms.
#include "sim/cost/af_pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace quadrant {
namespace {

Duration ns(int64_t v) {
  return Duration::nanos(v);
}

AfPipelineInput equal(const AfStageTimes& s, int m, int layers) {
  AfPipelineInput in;
  in.moe.assign(static_cast<size_t>(m), s);
  in.moe_layers = layers;
  return in;
}

// With m equal micro-batches of stage times a, d, e, c (P their sum, T the largest) over
// L layers, the recurrence is
//   max(P + (m L - 1) T, L P + (m - 1) T):
// the first when m T >= P (the busiest stage never waits: MegaScale-Infer's
// (T_a + T_e + 2 T_c) + T_f (m L - 1)), the second below (a layer's round trip bounds
// it). Swept over random stage times, zero stages included, m 1..8 and L 1..12.
TEST(AfPipeline, EqualMicroBatchesFollowTheClosedForm) {
  std::mt19937_64 rng(16);
  std::uniform_int_distribution<int64_t> stage(0, 40);
  int throughput_bound = 0, latency_bound = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const AfStageTimes s{ns(stage(rng)), ns(stage(rng)), ns(stage(rng)), ns(stage(rng))};
    const int64_t p = (s.attention + s.dispatch + s.ffn + s.combine).ns();
    const int64_t t = std::max({s.attention, s.dispatch, s.ffn, s.combine}).ns();
    if (p == 0) continue;
    const int m = 1 + static_cast<int>(rng() % 8), layers = 1 + static_cast<int>(rng() % 12);
    const int64_t expected = std::max(p + (int64_t{m} * layers - 1) * t, layers * p + (m - 1) * t);
    SCOPED_TRACE(testing::Message()
                 << "a d e c = " << s.attention.ns() << " " << s.dispatch.ns() << " " << s.ffn.ns()
                 << " " << s.combine.ns() << ", m " << m << ", L " << layers);
    EXPECT_EQ(af_pipeline_time(equal(s, m, layers)).ns(), expected);
    (m * t >= p ? throughput_bound : latency_bound) += 1;
  }
  EXPECT_GT(throughput_bound, 100);  // both regimes were swept
  EXPECT_GT(latency_bound, 100);
}

// One micro-batch: nothing overlaps, every layer is a full round trip.
TEST(AfPipeline, OneMicroBatchIsSerial) {
  const AfStageTimes s{ns(700), ns(90), ns(500), ns(120)};
  EXPECT_EQ(af_pipeline_time(equal(s, 1, 58)), ns(58 * 1410));
}

// MegaScale-Infer's balanced case: attention and experts equal (T_f), communication
// under them (T_c < T_f), and m >= 2 (1 + T_c / T_f) micro-batches: the pools alternate
// without idling after the first micro-batch's trip.
TEST(AfPipeline, BalancedPoolsMatchMegaScaleInfersFormula) {
  const int64_t tf = 1000, tc = 300, layers = 61;
  for (int m : {3, 4, 6}) {
    const AfPipelineInput in = equal({ns(tf), ns(tc), ns(tf), ns(tc)}, m, layers);
    EXPECT_EQ(af_pipeline_time(in).ns(), (tf + tf + 2 * tc) + tf * (m * layers - 1)) << m;
  }
  // Two micro-batches are too few here: 2 T_f < T_a + T_e + 2 T_c, the pools idle.
  EXPECT_EQ(af_pipeline_time(equal({ns(tf), ns(tc), ns(tf), ns(tc)}, 2, layers)).ns(),
            layers * (2 * tf + 2 * tc) + tf);
}

// Dense layers run on the attention pool alone, one micro-batch after the other.
TEST(AfPipeline, DenseLayersSerialiseOnTheAttentionPool) {
  AfPipelineInput in;
  in.moe = {{ns(1), ns(0), ns(0), ns(0)}, {ns(1), ns(0), ns(0), ns(0)}};
  in.dense = {ns(300), ns(200)};
  in.dense_layers = 3;
  in.moe_layers = 0;
  EXPECT_EQ(af_pipeline_time(in), ns(3 * 500));
}

// Any micro-batches (unequal, dense layers first): the step is at least each resource's
// total work and the longest micro-batch's own path, and at most everything in series.
TEST(AfPipeline, LiesBetweenTheBusiestResourceAndTheSerialSum) {
  std::mt19937_64 rng(61);
  std::uniform_int_distribution<int64_t> stage(0, 50);
  for (int trial = 0; trial < 2000; ++trial) {
    AfPipelineInput in;
    const int m = 1 + static_cast<int>(rng() % 6);
    in.dense_layers = static_cast<int>(rng() % 4);
    in.moe_layers = 1 + static_cast<int>(rng() % 10);
    int64_t work[4] = {}, serial = 0, longest = 0;
    for (int j = 0; j < m; ++j) {
      in.moe.push_back({ns(stage(rng)), ns(stage(rng)), ns(stage(rng)), ns(stage(rng))});
      in.dense.push_back(ns(stage(rng)));
      const AfStageTimes& s = in.moe.back();
      const int64_t path = in.dense_layers * in.dense.back().ns() +
                           in.moe_layers * (s.attention + s.dispatch + s.ffn + s.combine).ns();
      work[0] += in.dense_layers * in.dense.back().ns() + in.moe_layers * s.attention.ns();
      work[1] += in.moe_layers * s.dispatch.ns();
      work[2] += in.moe_layers * s.ffn.ns();
      work[3] += in.moe_layers * s.combine.ns();
      serial += path;
      longest = std::max(longest, path);
    }
    const int64_t step = af_pipeline_time(in).ns();
    EXPECT_GE(step, std::max({work[0], work[1], work[2], work[3], longest}));
    EXPECT_LE(step, serial);
  }
}

}  // namespace
}  // namespace quadrant
