#include "sim/cost/step_cost.h"

#include <gtest/gtest.h>

#include "sim/cost/af_pipeline.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/io/scenario_io.h"
#include "sim/model/accounting.h"
#include "sim/serving/pool.h"

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

// A power cap (GpuSpec::clock_factor): tensor peaks scale by the clock factor, HBM
// bandwidth does not. A compute-bound kernel takes 1 / factor as long, a bandwidth-bound
// one the same; the launch overhead is kept.
TEST(RooflineCostModel, PowerCapScalesComputeBoundTimeOnly) {
  GpuSpec capped = toy_gpu();
  capped.clock_factor = 0.8;
  capped.power_cap_watts = 400;
  RooflineCostModel full(toy_gpu()), cap(capped);
  QuadrantShape s;
  s.compute_format = NumberFormat::kBf16;
  s.flops = Flops(1e12);  // 2 ms uncapped, 2.5 ms capped
  s.bytes = Bytes(1e8);   // 0.1 ms
  EXPECT_EQ(full.predict(s).mean, Duration::millis(2) + Duration::micros(5));
  EXPECT_EQ(cap.predict(s).mean, Duration::micros(2500) + Duration::micros(5));
  s.flops = Flops(1e10);  // 0.02 ms (0.025 capped): bandwidth-bound
  s.bytes = Bytes(4e9);   // 4 ms either way
  EXPECT_EQ(cap.predict(s).mean, full.predict(s).mean);
  EXPECT_EQ(cap.predict(s).mean, Duration::millis(4) + Duration::micros(5));
  for (NumberFormat f : {NumberFormat::kBf16, NumberFormat::kFp8, NumberFormat::kInt8})
    EXPECT_DOUBLE_EQ(capped.peak(f).value(), 0.8 * toy_gpu().peak(f).value());
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

// A stand-in whose every quadrant takes 1 us per new token: half a batch costs exactly
// half, so the dual micro-batch's closed form can be checked to the nanosecond.
class PerTokenCostModel : public CostModel {
 public:
  Estimate predict(const QuadrantShape& s) const override {
    Estimate e;
    e.mean = Duration::micros(s.new_tokens);
    e.source = "per-token";
    return e;
  }
  Provenance provenance() const override { return Provenance::kRoofline; }
  std::string describe() const override { return "per-token"; }
};

// Two micro-batches A, B; per MoE layer the compute stream runs A then B and the
// communication stream A's dispatch/combine then B's. With C and M one half batch's
// compute and communication over all layers (L MoE layers, no dense ones, TP1): the step
// takes max(2C, 2M) + min(C, M) / L (one layer's fill), and what it saves against the
// serial 2C + 2M is the hidden communication.
TEST_F(StepCostTest, DualMicroBatchIsTheOverlappedCriticalPath) {
  const GpuSpec& gpu = *scenario_.catalog.find("H100-SXM");
  PerTokenCostModel per_token;
  const ModelSpec& m = scenario_.model;
  ASSERT_EQ(m.num_moe_layers(), m.num_layers);
  const Layout l{.tp = 1, .ep = 8, .pp = 1, .dp_attention = 8};
  StepBatch full, half;
  full.decode = {512, 512, 512 * 1000, 0};
  half.decode = {256, 256, 256 * 1000, 0};
  for (const char* bandwidth : {"slow links", "fast links"}) {
    ClusterSpec cluster = scenario_.cluster;
    cluster.intra_node.bandwidth =
        std::string(bandwidth) == "slow links" ? BytesPerSec::giga(1) : BytesPerSec::tera(100);
    const StepCostModel serial(m, l, gpu, cluster, per_token);
    const StepCostModel dual(m, l, gpu, cluster, per_token, MoeExecution{.dual_micro_batch = true});
    const StepCost h = serial.cost(half);
    const Duration C = h.decode_attention + h.ffn, M = h.ep_communication;
    ASSERT_GT(M, Duration::zero());
    const StepCost d = dual.cost(full);
    const Duration fill = min(C.scaled(1.0 / m.num_layers), M.scaled(1.0 / m.num_layers));
    EXPECT_NEAR(d.total.ns(), (max(C * 2, M * 2) + fill).ns(), 2) << bandwidth;
    EXPECT_EQ(d.ep_communication, M * 2) << bandwidth;
    EXPECT_EQ(d.total, d.decode_attention + d.ffn + d.ep_communication - d.hidden_communication);
    EXPECT_LE(d.hidden_communication, d.ep_communication);
    EXPECT_GT(d.hidden_communication, Duration::zero());
    // Serially the same work is 2C + 2M: the overlap never makes a step longer.
    EXPECT_LT(d.total, C * 2 + M * 2);
  }
}

// A measured engine's efficiency on its kernels (EngineOverhead) enters the overlap: the
// critical path is of the engine's compute (3 x the kernels' here), and its fixed time
// comes on top once: max(2 x 3C, 2M) + min(3C, M) / L + fixed.
class SlowEngineCostModel : public PerTokenCostModel {
 public:
  SlowEngineCostModel() {
    engine_.step_ns = engine_.decode_step_ns = 1e5;
    engine_.prefill_attention = engine_.decode_attention = 3;
    engine_.prefill_ffn = engine_.decode_ffn = 3;
  }
  const EngineOverhead* engine_overhead(const ModelSpec&) const override { return &engine_; }

 private:
  EngineOverhead engine_;
};

TEST_F(StepCostTest, DualMicroBatchOverlapsTheEnginesComputeTimes) {
  const GpuSpec& gpu = *scenario_.catalog.find("H100-SXM");
  PerTokenCostModel per_token;
  SlowEngineCostModel slow;
  const ModelSpec& m = scenario_.model;
  const Layout l{.tp = 1, .ep = 8, .pp = 1, .dp_attention = 8};
  StepBatch full, half;
  full.decode = {512, 512, 512 * 1000, 0};
  half.decode = {256, 256, 256 * 1000, 0};
  const StepCost h = StepCostModel(m, l, gpu, scenario_.cluster, per_token).cost(half);
  const Duration C = (h.decode_attention + h.ffn) * 3, M = h.ep_communication;
  const StepCost d =
      StepCostModel(m, l, gpu, scenario_.cluster, slow, MoeExecution{.dual_micro_batch = true})
          .cost(full);
  const Duration fill = min(C.scaled(1.0 / m.num_layers), M.scaled(1.0 / m.num_layers));
  EXPECT_NEAR(d.total.ns(), (max(C * 2, M * 2) + fill + Duration::micros(100)).ns(), 4);
  EXPECT_EQ(d.total,
            d.decode_attention + d.ffn + d.ep_communication + d.overhead - d.hidden_communication);
}

// Without MoE communication to hide (one GPU), dual micro-batch changes nothing.
TEST_F(StepCostTest, DualMicroBatchWithoutExpertCommunicationChangesNothing) {
  const GpuSpec& gpu = *scenario_.catalog.find("H100-SXM");
  RooflineCostModel roofline(gpu);
  const StepCostModel plain(scenario_.model, Layout{}, gpu, scenario_.cluster, roofline);
  const StepCostModel dual(scenario_.model, Layout{}, gpu, scenario_.cluster, roofline,
                           MoeExecution{.dual_micro_batch = true});
  StepBatch b;
  b.decode = {64, 64, 64 * 2000, 0};
  EXPECT_EQ(dual.cost(b).total, plain.cost(b).total);
  EXPECT_EQ(dual.cost(b).hidden_communication, Duration::zero());
}

// Uniform routing reproduces the step of the even spread (what accounting assumed before
// placements existed), with the static placement or with EPLB and no redundant experts;
// a skewed routing makes the MoE step longer, and EPLB with redundant experts shortens
// it again.
TEST_F(StepCostTest, UniformRoutingReproducesTheEvenSpreadsStep) {
  const GpuSpec& gpu = *scenario_.catalog.find("H100-SXM");
  RooflineCostModel roofline(gpu);
  const ModelSpec& m = scenario_.model;
  ASSERT_EQ(m.ffn.kind, FfnKind::kMoe);
  const Layout l{.tp = 1, .ep = 8, .pp = 1, .dp_attention = 8};
  StepBatch prefill, decode;
  prefill.prefill = {4, 8192, 8192, 4 * 2048LL * 2049 / 2};
  decode.decode = {256, 256, 256 * 3000, 0};
  const StepCostModel even(m, l, gpu, scenario_.cluster, roofline);
  const ExpertPopularity uniform;
  const ExpertPopularity skewed{.zipf_exponent = 1.0, .counts = {}};
  for (const ExpertPlacementSpec& placement :
       {ExpertPlacementSpec{},
        ExpertPlacementSpec{.redundant = 0, .rebalancer = Rebalancer::kEplb}}) {
    const MoeExecution e = moe_execution(m, l, placement, uniform, false);
    EXPECT_DOUBLE_EQ(e.imbalance, 1.0);
    const StepCostModel same(m, l, gpu, scenario_.cluster, roofline, e);
    for (const StepBatch& b : {prefill, decode}) {
      EXPECT_EQ(same.cost(b).total, even.cost(b).total);
      EXPECT_EQ(same.cost(b).ep_communication, even.cost(b).ep_communication);
    }
  }
  const MoeExecution hot = moe_execution(m, l, {}, skewed, false);
  const MoeExecution fixed =
      moe_execution(m, l, {.redundant = 8, .rebalancer = Rebalancer::kEplb}, skewed, false);
  ASSERT_GT(hot.imbalance, fixed.imbalance);
  const StepCostModel slow(m, l, gpu, scenario_.cluster, roofline, hot);
  const StepCostModel balanced(m, l, gpu, scenario_.cluster, roofline, fixed);
  EXPECT_GT(slow.cost(prefill).total, balanced.cost(prefill).total);
  EXPECT_GT(balanced.cost(prefill).total, even.cost(prefill).total);
}

// The busiest GPU of a skewed routing gets imbalance x the even share of routed pairs:
// its dispatch and combine bytes scale by it exactly, and so (less the fixed link
// latency) do their times.
TEST_F(StepCostTest, ExpertImbalanceScalesTheBusiestGpusCommunication) {
  const GpuSpec& gpu = *scenario_.catalog.find("H100-SXM");
  PerTokenCostModel per_token;
  const ModelSpec& m = scenario_.model;
  const Layout l{.tp = 1, .ep = 8, .pp = 1, .dp_attention = 8};
  const CommVolume even = layer_communication(m, l, 4096);
  const CommVolume skew = layer_communication(m, l, 4096, ExpertSpread{.imbalance = 1.5});
  EXPECT_DOUBLE_EQ(skew.ep_dispatch.value(), 1.5 * even.ep_dispatch.value());
  EXPECT_DOUBLE_EQ(skew.ep_combine.value(), 1.5 * even.ep_combine.value());
  const QuadrantShape f1 = ffn_shape(m, l, Phase::kPrefill, 4096, true);
  const QuadrantShape f2 = ffn_shape(m, l, Phase::kPrefill, 4096, true, {.imbalance = 2});
  EXPECT_EQ(f2.routed_tokens, 2 * f1.routed_tokens);
  const StepCostModel a(m, l, gpu, scenario_.cluster, per_token);
  const StepCostModel b(m, l, gpu, scenario_.cluster, per_token, MoeExecution{.imbalance = 2});
  StepBatch batch;
  batch.prefill = {1, 4096, 4096, 4096LL * 4097 / 2};
  const Duration latency = scenario_.cluster.intra_node.latency * (2 * m.num_moe_layers());
  EXPECT_NEAR((b.cost(batch).ep_communication - latency).ns(),
              2.0 * (a.cost(batch).ep_communication - latency).ns(), 2.0 * m.num_moe_layers());
}

// ---- attention/FFN disaggregation --------------------------------------------------

class AfStepCostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scenario_ = load_scenario("scenarios/examples/deepseek-v3-af-disaggregated.json");
  }
  // The example's decode unit (8 H20 attention replicas, 16 H800 expert GPUs) with `m`
  // micro-batches, over `dense` dense layers first.
  Pool decode_pool(int m, int dense) {
    scenario_.model.ffn.first_dense_layers = dense;
    scenario_.serving.decode.af.micro_batches = m;
    return make_pool(scenario_, PoolKind::kDecode, scenario_.serving.decode, {}, 16);
  }
  static BatchShape decode(int seqs, int64_t context) {
    return {seqs, seqs, int64_t{seqs} * context, int64_t{seqs} * context};
  }
  // One micro-batch's dispatch (FP8 out) and combine (BF16 back) legs in ns: the slower of the
  // per-node NIC messages of the 8 -> 16 exchange and the NVLink copies to every expert copy.
  std::pair<int64_t, int64_t> exchange_legs(double per_message, double per_gpu) const {
    const MnExchange x = mn_node_exchange(scenario_.cluster, 8, 16, true);
    const LinkSpec& nv = scenario_.cluster.intra_node;
    const auto leg = [&](double scale) {
      return std::max(x.time(Bytes(scale * per_message)),
                      Bytes(scale * per_gpu) / nv.bandwidth + nv.latency)
          .ns();
    };
    return {leg(1), leg(2)};
  }
  Scenario scenario_;
};

// A batch that splits into m equal micro-batches, no dense layers: the step is the
// pipeline's closed form (cost/af_pipeline.h) of its per-micro-batch stages, read back
// from the breakdown (each part is m x layers x its stage), and the dispatch and combine
// are the M:N exchange deduplicated per node: each of the 8 attention GPUs sends its
// 96 / m / 8 tokens once to each FFN node that one of their top-8 experts is on (D of the
// 2 nodes on average: bytes = tokens x hidden x D, not x 8 experts), FP8 out and BF16
// back, 2 messages through a 50 GB/s NIC; the NVLink leg (each FFN GPU's 8 / 16 of the
// tokens at 200 GB/s) pipelines with it.
TEST_F(AfStepCostTest, AStepIsThePipelinesClosedFormOfItsStages) {
  for (int m : {1, 2, 3, 4}) {
    SCOPED_TRACE(m);
    const Pool pool = decode_pool(m, 0);
    const StepCost c = pool.costs->cost({.prefill = {}, .decode = decode(96, 4096)});
    const int layers = scenario_.model.num_layers;
    const int64_t ml = int64_t{m} * layers;
    const int64_t a = (c.decode_attention + c.tp_communication).ns() / ml;
    const int64_t e = c.ffn.ns() / ml;
    EXPECT_EQ((c.decode_attention + c.tp_communication).ns() % ml, 0);
    EXPECT_EQ(c.ffn.ns() % ml, 0);
    const double tokens = 96.0 / m;
    const double nodes = expected_distinct_groups(256, 8, 2);
    const double per_message = tokens / 8 * nodes / 2 * 7168;  // FP8: one byte per value
    const double per_gpu = tokens * 8 / 16 * 7168;             // NVLink: every expert copy
    const MnExchange x = mn_node_exchange(scenario_.cluster, 8, 16, true);
    const auto [d, cb] = exchange_legs(per_message, per_gpu);
    EXPECT_EQ(x.messages_on_busiest, 2);
    // Every attention GPU's NIC carries tokens x hidden x D bytes out: not x top-8.
    EXPECT_NEAR(per_message * x.messages_on_busiest * 8, tokens * 7168 * nodes, 1e-6);
    EXPECT_EQ(c.ep_communication.ns(), (d + cb) * ml);
    const int64_t p = a + d + e + cb, t = std::max({a, d, e, cb});
    const int64_t critical = std::max(p + (ml - 1) * t, layers * p + (m - 1) * t);
    EXPECT_EQ(c.total.ns(), critical);
    EXPECT_EQ(c.total, c.decode_attention + c.ffn + c.tp_communication + c.ep_communication -
                           c.hidden_communication);
    EXPECT_EQ(c.af_attention_busy, c.decode_attention + c.tp_communication);
    EXPECT_EQ(c.af_ffn_busy, c.ffn);
  }
}

// Prefill through the same pipeline (search.af_disaggregated.roles may name prefill):
// 2m prompts of 1024 tokens cut into m equal micro-batches of two prompts, no dense
// layers: the step is the closed form of its stages, the exchange that of 2048 tokens
// per micro-batch, and the pools' busy times are the breakdown's parts.
TEST_F(AfStepCostTest, APrefillStepIsThePipelinesClosedFormOfItsStages) {
  for (int m : {1, 2, 3}) {
    SCOPED_TRACE(m);
    const Pool pool = decode_pool(m, 0);
    const int64_t n = 1024, seqs = 2 * m;
    const StepCost c = pool.costs->cost(
        {.prefill = {static_cast<int>(seqs), seqs * n, seqs * n, seqs * (n * (n + 1) / 2)},
         .decode = {}});
    const int layers = scenario_.model.num_layers;
    const int64_t ml = int64_t{m} * layers;
    EXPECT_EQ((c.prefill_attention + c.tp_communication).ns() % ml, 0);
    EXPECT_EQ(c.ffn.ns() % ml, 0);
    const int64_t a = (c.prefill_attention + c.tp_communication).ns() / ml;
    const int64_t e = c.ffn.ns() / ml;
    const double nodes = expected_distinct_groups(256, 8, 2);
    const double per_message = 2.0 * n / 8 * nodes / 2 * 7168;  // FP8 out, BF16 back
    const double per_gpu = 2.0 * n * 8 / 16 * 7168;
    const auto [d, cb] = exchange_legs(per_message, per_gpu);
    EXPECT_EQ(c.ep_communication.ns(), (d + cb) * ml);
    const int64_t p = a + d + e + cb, t = std::max({a, d, e, cb});
    EXPECT_EQ(c.total.ns(), std::max(p + (ml - 1) * t, layers * p + (m - 1) * t));
    EXPECT_EQ(c.af_attention_busy, c.prefill_attention + c.tp_communication);
    EXPECT_EQ(c.af_ffn_busy, c.ffn);
  }
}

// The token exchange shares the attention GPUs' NICs with KV transfers (issue 16): with f
// KV flows on the busiest NIC the exchange's network leg gets 1 / (1 + f) of the link, so
// the link carries each flow's bytes beside the exchange's: (1 + f) x its transmission,
// plus the latency, still pipelined with the NVLink leg. Dispatch leaves by the NIC
// (flows out), combine arrives (flows in); the step is the pipeline's closed form of the
// stretched stages, and no flow leaves it as it was.
TEST_F(AfStepCostTest, KvFlowsOnTheNicsStretchTheExchange) {
  const int m = 2;
  const Pool pool = decode_pool(m, 0);
  const StepBatch alone{.prefill = {}, .decode = decode(2048, 4096)};
  StepBatch shared = alone;
  shared.kv_flows_out = 2;
  shared.kv_flows_in = 1;
  const StepCost a = pool.costs->cost(alone), c = pool.costs->cost(shared);
  const int layers = scenario_.model.num_layers;
  const int64_t ml = int64_t{m} * layers;
  const double tokens = 2048.0 / m;
  const double per_message = tokens / 8 * expected_distinct_groups(256, 8, 2) / 2 * 7168;
  const MnExchange x = mn_node_exchange(scenario_.cluster, 8, 16, true);
  const LinkSpec& nv = scenario_.cluster.intra_node;
  const Duration fwd = Bytes(tokens * 8 / 16 * 7168) / nv.bandwidth + nv.latency;
  const Duration net = Duration::seconds(per_message * x.seconds_per_message_byte);
  const Duration net_back = Duration::seconds(2 * per_message * x.seconds_per_message_byte);
  ASSERT_GT(net * 3, fwd);  // the network leg is the longer one here
  const int64_t d = std::max(net * 3 + x.latency, fwd).ns();
  const int64_t cb = std::max(net_back * 2 + x.latency,
                              Bytes(2 * tokens * 8 / 16 * 7168) / nv.bandwidth + nv.latency)
                         .ns();
  EXPECT_EQ(c.ep_communication.ns(), (d + cb) * ml);
  const int64_t at = (c.decode_attention + c.tp_communication).ns() / ml, e = c.ffn.ns() / ml;
  const int64_t p = at + d + e + cb, t = std::max({at, d, e, cb});
  EXPECT_EQ(c.total.ns(), std::max(p + (ml - 1) * t, layers * p + (m - 1) * t));
  EXPECT_GT(c.ep_communication, a.ep_communication);
  EXPECT_EQ(c.ffn, a.ffn);
  EXPECT_EQ(c.decode_attention, a.decode_attention);
}

// EPLB on the FFN pool (serving.<pool>.experts beside af_disaggregated): one expert of
// 256 gets 17 times the others' traffic. Placed in id order over 16 FFN GPUs, the first
// GPU holds it and 15 others: max/mean = (17 + 15) / 272 x 16 = 1.882; EPLB's 16
// redundant slots all go to it (17 replicas of load 1, 272 slots of equal load, 17 per
// GPU): max/mean = 1, each FFN GPU holding one expert more than the even 16 (its weights:
// a 256th of the routed experts). The unit's step prices exactly that.
TEST_F(AfStepCostTest, EplbOnTheFfnPoolEvensASkewedRoutingToItsClosedForm) {
  std::vector<double> counts(256, 1.0);
  counts[0] = 17;
  scenario_.workload.expert_popularity.counts = counts;
  const GpuSpec& h800 = *scenario_.catalog.find("H800");
  const RooflineCostModel ffn(h800);
  const Layout l = scenario_.serving.decode.layout;
  const AfSpec spec{"H800", 16, 2};
  const AfExecution fixed = af_execution(scenario_, l, spec, h800, ffn);
  const AfExecution eplb = af_execution(scenario_, l, spec, h800, ffn,
                                        {.redundant = 16, .rebalancer = Rebalancer::kEplb});
  EXPECT_DOUBLE_EQ(fixed.imbalance, 32.0 / 272 * 16);
  EXPECT_NEAR(eplb.imbalance, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(eplb.slots_per_gpu, 17);
  const ModelSpec& m = scenario_.model;
  const Bytes extra = af_weight_bytes_per_gpu(m, l, 16, eplb.slots_per_gpu).ffn_per_gpu -
                      af_weight_bytes_per_gpu(m, l, 16).ffn_per_gpu;
  const Bytes sixteenth = af_weight_bytes_per_gpu(m, l, 16).ffn_per_gpu -
                          af_weight_bytes_per_gpu(m, l, 32).ffn_per_gpu;  // routed / 32
  EXPECT_NEAR(extra.value(), sixteenth.value() / 8, 1.0);                 // routed / 256
  // The pool built from the scenario prices the placement it was given.
  scenario_.serving.decode.af = spec;
  scenario_.serving.decode.experts = {.redundant = 16, .rebalancer = Rebalancer::kEplb};
  const Pool pool = make_pool(scenario_, PoolKind::kDecode, scenario_.serving.decode, {}, 16);
  const GpuSpec& h20 = *scenario_.catalog.find("H20");
  const RooflineCostModel attention(h20);
  AfExecution even = eplb;
  even.imbalance = 1;
  const StepCostModel by_hand(m, l, h20, scenario_.cluster, attention, {}, &even);
  const StepCostModel skewed(m, l, h20, scenario_.cluster, attention, {}, &fixed);
  const StepBatch d{{}, decode(512, 4096)};
  EXPECT_EQ(pool.costs->cost(d).af_ffn_busy, by_hand.cost(d).af_ffn_busy);
  EXPECT_EQ(pool.costs->cost(d).total, by_hand.cost(d).total);
  // Compute-bound experts gain from the even load: a prefill of 16 x 4096 tokens, 16,384
  // routed pairs per FFN GPU per micro-batch, beyond the H800's ridge (about 590 per
  // expert); below it (decode, and prefills of a few thousand tokens) the experts are bound
  // by their weight reads, which the 17th slot adds to and the skew does not change.
  const StepBatch p{{16, 65536, 65536, 16 * (4096 * 4097 / 2)}, {}};
  EXPECT_EQ(pool.costs->cost(p).af_ffn_busy, by_hand.cost(p).af_ffn_busy);
  EXPECT_LT(pool.costs->cost(p).af_ffn_busy, skewed.cost(p).af_ffn_busy);
}

// With DeepSeek-V3's three dense layers, a batch of 7 (micro-batches of 3, 2, 2), and
// prefill: the step is never shorter than either pool's work and never longer than all
// of it in series; one micro-batch is the serial sum exactly.
TEST_F(AfStepCostTest, AStepLiesBetweenTheBusierPoolAndTheSerialSum) {
  for (int m : {1, 2, 3, 5}) {
    const Pool pool = decode_pool(m, 3);
    for (const StepBatch& b : {StepBatch{{}, decode(7, 1000)}, StepBatch{{}, decode(200, 6000)},
                               StepBatch{{1, 4096, 4096, 4096 * 4097 / 2}, {}}}) {
      SCOPED_TRACE(testing::Message() << "m " << m << ", " << b.decode.num_seqs << " decodes");
      const StepCost c = pool.costs->cost(b);
      const Duration serial = c.prefill_attention + c.decode_attention + c.ffn +
                              c.tp_communication + c.ep_communication;
      EXPECT_GE(c.total, max(c.af_attention_busy, c.af_ffn_busy));
      EXPECT_LE(c.total, serial);
      if (m == 1) {
        EXPECT_EQ(c.total, serial);
      }
      EXPECT_EQ(c.af_attention_busy + c.af_ffn_busy + c.ep_communication, serial);
    }
  }
}

// The attention GPUs hold no expert: their KV room is what the attention, dense FFN and
// embedding weights leave, per replica; experts that do not fit the FFN pool are an
// input error naming the field.
TEST_F(AfStepCostTest, KvRoomIsTheAttentionPoolsAndTheExpertsMustFit) {
  const Pool pool = decode_pool(3, 3);
  const GpuSpec& h20 = *scenario_.catalog.find("H20");
  const Layout l = scenario_.serving.decode.layout;
  const AfWeights w = af_weight_bytes_per_gpu(scenario_.model, l, 16);
  const double tokens = std::floor((h20.memory - h20.reserved_memory - w.attention_per_gpu) /
                                   kv_bytes_per_token_per_gpu(scenario_.model, l)) *
                        l.dp_attention;
  EXPECT_EQ(pool.kv_capacity_blocks, static_cast<int64_t>(tokens) / 16);
  EXPECT_LT(w.attention_per_gpu, weight_bytes_per_gpu(scenario_.model, l));
  scenario_.serving.decode.af.ffn_gpus = 4;  // ~165 GB of experts per 80 GB H800
  try {
    make_pool(scenario_, PoolKind::kDecode, scenario_.serving.decode, {}, 16);
    ADD_FAILURE() << "4 H800s took DeepSeek-V3's experts";
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "serving.decode.af_disaggregated.ffn_gpus");
    EXPECT_NE(e.message().find("expected the experts to fit"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace quadrant
