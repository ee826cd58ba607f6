#include "sim/planner/search_space.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "sim/cost/roofline_cost_model.h"
#include "sim/io/scenario_io.h"
#include "sim/planner/analytic_bounds.h"
#include "sim/serving/pool.h"
#include "tests/sim/planner/toy_scenario.h"

namespace quadrant::planner {
namespace {

TEST(SearchSpaceTest, LayoutsKeepEpDividingTpAndHeadsDivisible) {
  Scenario s = testing::toy_scenario();
  s.model.ffn.kind = FfnKind::kMoe;
  s.model.ffn.num_experts = 8;
  s.model.ffn.top_k = 2;
  s.model.ffn.expert_intermediate_size = 512;
  s.model.attention.num_heads = 12;  // tp 8 does not divide 12 heads
  s.search.tp = {1, 2, 4, 8};
  s.search.ep = {1, 2, 4, 8, 16};
  for (const Layout& l : candidate_layouts(s)) {
    EXPECT_EQ(l.tp % l.ep, 0);
    EXPECT_EQ(12 % l.tp, 0);
    EXPECT_LE(l.ep, 8);
  }
  EXPECT_EQ(candidate_layouts(s).size(), 1u + 2u + 3u);  // tp1:ep1, tp2:ep1,2, tp4:ep1,2,4
}

TEST(SearchSpaceTest, WeightsThatLeaveTooLittleKvAreInfeasible) {
  Scenario s = testing::toy_scenario();
  s.catalog.gpus["T1"].memory = Bytes::giga(4.05);  // reserved 4 GB leaves 50 MB
  s.serving.min_kv_fraction = 0.1;
  const MemoryFit fit = memory_fit(s, "T1", Layout{});
  EXPECT_FALSE(fit.fits);
  EXPECT_NE(fit.reason.find("KV"), std::string::npos);
  s.catalog.gpus["T1"].memory = Bytes::giga(80);
  EXPECT_TRUE(memory_fit(s, "T1", Layout{}).fits);
  // Splitting by TP halves the weights each GPU holds.
  const MemoryFit one = memory_fit(s, "T1", Layout{.tp = 1});
  const MemoryFit two = memory_fit(s, "T1", Layout{.tp = 2});
  EXPECT_LT(two.weights_per_gpu.value(), one.weights_per_gpu.value());
}

TEST(SearchSpaceTest, EnumerationCoversTheSearchListsInAFixedOrder) {
  const Scenario s = testing::toy_scenario();
  const auto decode = enumerate_role_configs(s, Role::kDecode);
  EXPECT_EQ(decode.size(), 2u * 2u);  // tp {1,2} x batch {32,64}
  const auto prefill = enumerate_role_configs(s, Role::kPrefill);
  EXPECT_EQ(prefill.size(), 2u);  // tp {1,2} x chunk {2048}
  EXPECT_EQ(enumerate_role_configs(s, Role::kDecode)[1].config.label(), decode[1].config.label());
}

// search.draft_lengths: each decoding configuration is tried at every draft length (0:
// no speculation), prefill configurations are not; the scenario a configuration builds
// runs that draft length at the serving section's acceptance.
TEST(SearchSpaceTest, DraftLengthsMultiplyDecodingConfigurations) {
  Scenario s = testing::toy_scenario();
  s.serving.speculative.acceptance_rate = 0.8;
  s.search.draft_lengths = {0, 1, 3};
  const auto decode = enumerate_role_configs(s, Role::kDecode);
  ASSERT_EQ(decode.size(), 2u * 2u * 3u);
  EXPECT_EQ(decode[0].config.draft_length, 0);
  EXPECT_EQ(decode[2].config.draft_length, 3);
  EXPECT_NE(decode[2].config.label().find(" draft3"), std::string::npos);
  EXPECT_EQ(enumerate_role_configs(s, Role::kColocated).size(), 2u * 2u * 1u * 3u);
  const auto prefill = enumerate_role_configs(s, Role::kPrefill);
  ASSERT_EQ(prefill.size(), 2u);
  EXPECT_EQ(prefill[0].config.draft_length, -1);
  const Scenario three = with_disaggregated(s, prefill[0].config, 1, decode[2].config, 1);
  EXPECT_TRUE(three.serving.speculative.enabled);
  EXPECT_EQ(three.serving.speculative.draft_length, 3);
  EXPECT_EQ(three.serving.speculative.acceptance_rate, 0.8);
  s.serving.speculative.enabled = true;
  const Scenario none = with_disaggregated(s, prefill[0].config, 1, decode[0].config, 1);
  EXPECT_FALSE(none.serving.speculative.enabled);
  // Without the list, the serving section's setting as it is.
  s.search.draft_lengths.clear();
  const auto plain = enumerate_role_configs(s, Role::kDecode);
  ASSERT_EQ(plain.size(), 2u * 2u);
  EXPECT_EQ(plain[0].config.label().find("draft"), std::string::npos);
  EXPECT_EQ(with_colocated(s, plain[0].config, 1).serving.speculative, s.serving.speculative);
}

// The tokens one verify step yields, closed form: (1 - a^(k+1)) / (1 - a).
TEST(SpeculativeSpecTest, ExpectedTokensPerStepIsTheGeometricSum) {
  SpeculativeSpec sp;
  sp.enabled = true;
  for (double a : {0.0, 0.3, 0.7, 0.85}) {
    for (int k : {1, 2, 4}) {
      sp.acceptance_rate = a;
      sp.draft_length = k;
      double sum = 0;  // 1 + a + ... + a^k
      for (int i = 0; i <= k; ++i) sum += std::pow(a, i);
      EXPECT_NEAR(sp.expected_tokens_per_step(), sum, 1e-12) << a << " " << k;
    }
  }
  sp.enabled = false;
  EXPECT_EQ(sp.expected_tokens_per_step(), 1);
}

// With speculation a decode step verifies k + 1 tokens per sequence and yields E of them:
// where the step is bound by weight and KV reads (batch 1 of the toy), the bound's rate
// grows by E over the draft steps' share, ((1 - a^(k+1)) / (1 - a)) / (1 + k r).
TEST(AnalyticBoundsTest, SpeculationRaisesABandwidthBoundDecodeByItsYield) {
  Scenario s = testing::toy_scenario();
  s.slo.tpot = Duration::micros(2500);  // admits small batches only: bandwidth-bound steps
  RoleConfig c;
  c.role = Role::kDecode;
  c.gpu = "T1";
  c.max_batch_size = 1;
  c.draft_length = 0;
  const RoleBound plain = roofline_role_bound(s, c);
  ASSERT_TRUE(plain.feasible) << plain.reason;
  s.serving.speculative.acceptance_rate = 0.7;
  s.serving.speculative.draft_cost_ratio = 0.05;
  c.draft_length = 2;
  const RoleBound spec = roofline_role_bound(s, c);
  ASSERT_TRUE(spec.feasible) << spec.reason;
  const double yield = (1 - std::pow(0.7, 3)) / (1 - 0.7);
  // Verifying 3 tokens reads the same weights and KV: within 1% of one token's step.
  EXPECT_NEAR(spec.max_rate_per_s / plain.max_rate_per_s, yield / (1 + 2 * 0.05), 0.01 * yield);
}

TEST(AnalyticBoundsTest, DecodeBoundRespectsTpotAndBatchLimit) {
  Scenario s = testing::toy_scenario();
  RoleConfig c;
  c.role = Role::kDecode;
  c.gpu = "T1";
  c.max_batch_size = 64;
  const RoleBound b = roofline_role_bound(s, c);
  ASSERT_TRUE(b.feasible) << b.reason;
  EXPECT_GE(b.max_batch, 1);
  EXPECT_LE(b.max_batch, 64);
  const GpuSpec& g = s.catalog.gpus.at("T1");
  const int64_t context = 1000 + 50;
  EXPECT_LE(
      roofline_step_time(s.model, g, c.layout, Phase::kDecode, decode_batch(b.max_batch, context))
          .to_seconds(),
      s.slo.tpot.to_seconds());
  // A TPOT no step can meet makes the configuration infeasible, with a reason.
  s.slo.tpot = Duration::nanos(1);
  const RoleBound none = roofline_role_bound(s, c);
  EXPECT_FALSE(none.feasible);
  EXPECT_NE(none.reason.find("TPOT"), std::string::npos);
}

TEST(AnalyticBoundsTest, StepTimeGrowsWithWork) {
  const Scenario s = testing::toy_scenario();
  const GpuSpec& g = s.catalog.gpus.at("T1");
  Duration last = Duration::zero();
  for (int seqs : {1, 4, 16, 64, 256}) {
    const Duration t =
        roofline_step_time(s.model, g, Layout{}, Phase::kPrefill, prefill_batch(seqs, 512));
    EXPECT_GE(t, last);
    last = t;
  }
}

// search.af_disaggregated: decode configurations for every attention GPU x tp x replicas
// x FFN GPU x FFN size x micro-batches x batch, beside the usual ones; each instance's
// GPUs and price count both pools; its memory check is the attention GPUs' KV room and
// the experts' fit on the FFN GPUs; a probe's scenario runs the FFN pool.
TEST(SearchSpaceTest, AttentionFfnDisaggregationAddsDecodeConfigurations) {
  Scenario s = load_scenario("scenarios/examples/deepseek-v3-af-disaggregated.json");
  s.search.af.attention_gpus = {"H20"};
  s.search.af.ffn_gpus = {"H800", "H200"};
  s.search.af.attention_replicas = {8};
  s.search.af.ffn_sizes = {4, 16};
  s.search.af.micro_batches = {2, 3};
  s.search.max_batch_size = {1024};
  const auto plain = [&] {
    Scenario x = s;
    x.search.af = {};
    return enumerate_role_configs(x, Role::kDecode).size();
  }();
  const auto all = enumerate_role_configs(s, Role::kDecode);
  ASSERT_EQ(all.size(), plain + 2u * 2u * 2u);  // FFN GPU x size x micro-batches
  int fit = 0;
  for (const EnumeratedConfig& e : all) {
    const RoleConfig& c = e.config;
    if (!c.af.enabled()) continue;
    SCOPED_TRACE(c.label());
    EXPECT_EQ(c.gpu, "H20");
    EXPECT_EQ(c.layout, (Layout{.tp = 1, .ep = 1, .pp = 1, .dp_attention = 8}));
    EXPECT_EQ(c.gpus(), 8 + c.af.ffn_gpus);
    EXPECT_DOUBLE_EQ(c.usd_per_hour(s),
                     8 * s.price_per_hour("H20") + c.af.ffn_gpus * s.price_per_hour(c.af.ffn_gpu));
    EXPECT_NE(c.label().find(" | ffn " + c.af.ffn_gpu + " x" + std::to_string(c.af.ffn_gpus)),
              std::string::npos);
    // 671B parameters' experts (~656 GB in FP8) do not fit 4 GPUs of 80 or 141 GB.
    EXPECT_EQ(e.memory.fits, c.af.ffn_gpus == 16) << e.memory.reason;
    if (!e.memory.fits) {
      EXPECT_NE(e.memory.reason.find("experts"), std::string::npos);
    }
    fit += e.memory.fits;
    // The KV room is the attention GPUs' alone: no expert on them.
    EXPECT_LT(e.memory.weights_per_gpu,
              memory_fit(s, "H20", c.layout, Role::kDecode).weights_per_gpu);
    const Scenario x = with_disaggregated(s, c, 1, c, 2);
    EXPECT_EQ(x.serving.decode.af, c.af);
    EXPECT_EQ(x.serving.decode.gpus_per_instance(), c.gpus());
  }
  EXPECT_EQ(fit, 4);
  // A configuration without AF clears the serving section's own.
  for (const EnumeratedConfig& e : all)
    if (!e.config.af.enabled()) {
      EXPECT_FALSE(with_disaggregated(s, e.config, 1, e.config, 1).serving.decode.af.enabled());
      break;
    }
}

// search.af_disaggregated.roles: prefill configurations too when it names prefill (every
// attention GPU x tp x replicas x FFN GPU x FFN size x micro-batches x chunk, each with
// the chunk's token budget), none by default (MegaScale-Infer's decode only); naming
// prefill alone leaves decode without them. A probe's scenario runs the prefill FFN pool.
TEST(SearchSpaceTest, AttentionFfnDisaggregationOfPrefillFollowsItsRoles) {
  Scenario s = load_scenario("scenarios/examples/deepseek-v3-af-disaggregated.json");
  s.search.af.attention_gpus = {"H800"};
  s.search.af.ffn_gpus = {"H800", "H200"};
  s.search.af.attention_replicas = {8, 16};
  s.search.af.ffn_sizes = {16};
  s.search.af.micro_batches = {2, 3};
  s.search.chunk_size = {2048, 8192};
  auto count_af = [](const std::vector<EnumeratedConfig>& v) {
    return std::count_if(v.begin(), v.end(),
                         [](const EnumeratedConfig& e) { return e.config.af.enabled(); });
  };
  Scenario none = s;
  none.search.af = {};
  const size_t plain_prefill = enumerate_role_configs(none, Role::kPrefill).size();
  const size_t plain_decode = enumerate_role_configs(none, Role::kDecode).size();
  ASSERT_EQ(count_af(enumerate_role_configs(s, Role::kPrefill)), 0);  // default: decode only
  ASSERT_GT(count_af(enumerate_role_configs(s, Role::kDecode)), 0);
  s.search.af.roles = {Role::kPrefill};
  EXPECT_EQ(enumerate_role_configs(s, Role::kDecode).size(), plain_decode);
  const auto prefill = enumerate_role_configs(s, Role::kPrefill);
  ASSERT_EQ(prefill.size(), plain_prefill + 2u * 2u * 2u * 2u);  // dp x FFN GPU x mb x chunk
  EXPECT_EQ(count_af(prefill), 16);
  for (const EnumeratedConfig& e : prefill) {
    const RoleConfig& c = e.config;
    if (!c.af.enabled()) continue;
    SCOPED_TRACE(c.label());
    EXPECT_EQ(c.role, Role::kPrefill);
    EXPECT_EQ(c.max_batch_tokens,
              std::max<int64_t>(s.serving.prefill.max_batch_tokens, c.chunk_size));
    EXPECT_NE(c.label().find(" chunk" + std::to_string(c.chunk_size) + " | ffn "),
              std::string::npos);
    EXPECT_TRUE(e.memory.fits) << e.memory.reason;  // 16 GPUs of 80 GB hold the experts
    EXPECT_EQ(c.gpus(), c.layout.dp_attention + 16);
    const Scenario x =
        with_disaggregated(s, c, 2, enumerate_role_configs(s, Role::kDecode)[0].config, 1);
    EXPECT_EQ(x.serving.prefill.af, c.af);
    EXPECT_EQ(x.serving.prefill.gpus_per_instance(), c.gpus());
  }
}

// The AF roofline bound never exceeds what the pipeline's own roofline allows: the step
// of the simulator's cost model (micro-batches, exchange) is at least the bound's step,
// which is the busier pool's work on the whole batch.
TEST(AnalyticBoundsTest, AttentionFfnBoundStepIsNeverLongerThanThePipelines) {
  const Scenario s = load_scenario("scenarios/examples/deepseek-v3-af-disaggregated.json");
  const GpuSpec& h20 = *s.catalog.find("H20");
  const GpuSpec& h800 = *s.catalog.find("H800");
  const Layout l{.tp = 1, .ep = 1, .pp = 1, .dp_attention = 8};
  RooflineCostModel attention(h20), ffn(h800);
  for (int m : {1, 2, 4}) {
    const AfExecution af = af_execution(s, l, {"H800", 16, m}, h800, ffn);
    const StepCostModel costs(s.model, l, h20, s.cluster, attention, {}, &af);
    for (int batch : {1, 64, 1024, 4096}) {
      SCOPED_TRACE(::testing::Message() << "m " << m << ", batch " << batch);
      const BatchShape b = decode_batch(batch, 3000);
      const Duration bound = af_roofline_step_time(s.model, h20, l, h800, 16, Phase::kDecode, b);
      EXPECT_LE(bound, costs.cost({{}, b}).total);
      EXPECT_GT(bound, Duration::zero());
    }
  }
}

// search.redundant_experts (issue 16 item 3): an EPLB pool's configurations are tried with
// each count; the count is the configuration's (label, memory, the pool it runs), a count
// that does not divide experts + redundant over the expert GPUs is infeasible, and the
// extra weights per GPU are (slots per GPU - experts / GPUs) expert copies: k / GPUs of
// them per MoE layer when k divides evenly. A pool without EPLB ignores the list.
TEST(SearchSpaceTest, RedundantExpertCountsAreSearchedForEplbPools) {
  Scenario s = load_scenario("scenarios/examples/deepseek-v3-ep-realism.json");
  s.search.max_batch_size = {256};
  s.search.redundant_experts = {0, 32, 48};
  const Layout ep32{.tp = 4, .ep = 32, .pp = 1, .dp_attention = 8};
  const double expert_bytes = 3.0 * s.model.hidden_size * s.model.ffn.expert_intermediate_size *
                              bytes_per_element(s.model.precision.weights) *
                              s.model.num_moe_layers();
  for (Role role : {Role::kPrefill, Role::kDecode}) {
    const auto all = enumerate_role_configs(s, role);
    std::vector<int> seen;
    for (const EnumeratedConfig& e : all) {
      if (!(e.config.layout == ep32)) continue;
      const int k = e.config.redundant_experts;
      seen.push_back(k);
      SCOPED_TRACE(e.config.label());
      EXPECT_NE(e.config.label().find(" red" + std::to_string(k)), std::string::npos);
      // 256 + 48 = 304 does not divide over 32 GPUs.
      EXPECT_EQ(e.memory.fits, k != 48) << e.memory.reason;
      if (k == 48) {
        EXPECT_NE(e.memory.reason.find("eplb"), std::string::npos);
        continue;
      }
      EXPECT_EQ(e.memory.weights_per_gpu,
                memory_fit(s, e.config.gpu, ep32, role, k).weights_per_gpu);
      const Bytes extra =
          e.memory.weights_per_gpu - memory_fit(s, e.config.gpu, ep32, role, 0).weights_per_gpu;
      EXPECT_NEAR(extra.value(), expert_bytes * k / 32.0, 1e-6 * expert_bytes);
      const Scenario x = with_disaggregated(s, e.config, 1, e.config, 1);
      const PoolSpec& pool = role == Role::kPrefill ? x.serving.prefill : x.serving.decode;
      EXPECT_EQ(pool.experts.redundant, k);
      EXPECT_EQ(pool.experts.rebalancer, Rebalancer::kEplb);
    }
    EXPECT_EQ(seen, (std::vector<int>{0, 32, 48}));
  }
  // Without EPLB the counts are not searched: the pool's own, as is.
  s.serving.decode.experts.rebalancer = Rebalancer::kNone;
  for (const EnumeratedConfig& e : enumerate_role_configs(s, Role::kDecode))
    EXPECT_EQ(e.config.redundant_experts, -1);
}

}  // namespace
}  // namespace quadrant::planner