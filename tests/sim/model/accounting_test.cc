// Accounting against published facts and hand-worked figures.
#include "sim/model/accounting.h"

#include <gtest/gtest.h>

#include <fstream>

#include "sim/io/json_reader.h"
#include "sim/io/scenario_io.h"

namespace quadrant {
namespace {

// Reads one shipped model file through the scenario reader (the model section alone).
ModelSpec model(const std::string& file) {
  const std::string path = "scenarios/models/" + file;
  io::Json doc = io::load_json_file(path);
  // Wrap the model in the smallest scenario the reader accepts.
  io::Json wrapped = {{"model", doc},
                      {"hardware",
                       {{"gpus",
                         {{"G",
                           {{"memory", "80GB"},
                            {"memory_bandwidth", "3TB/s"},
                            {"bf16", "900TFLOP/s"},
                            {"usd_per_hour", 1.0}}}}}}},
                      {"workload",
                       {{"arrival", {{"process", "poisson"}, {"rate", 1.0}}},
                        {"input_length", {{"distribution", "fixed"}, {"value", 100}}},
                        {"output_length", {{"distribution", "fixed"}, {"value", 10}}}}},
                      {"slo", {{"ttft", "1s"}, {"tpot", "50ms"}}},
                      {"serving", {{"prefill", {{"gpu", "G"}}}, {"decode", {{"gpu", "G"}}}}}};
  // ctest runs each test as its own process, in parallel: one file per test, or two
  // tests reading the same model race on it.
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string tmp = ::testing::TempDir() + "/accounting_" + test->test_suite_name() + "_" +
                          test->name() + "_" + file;
  {
    std::ofstream out(tmp);
    out << wrapped.dump();
  }
  return load_scenario(tmp).model;
}

TEST(ParameterCount, DeepSeekV3Is671BTotal37BActivated) {
  ParameterCount p = parameter_count(model("deepseek-v3.json"));
  EXPECT_NEAR(p.total / 1e9, 671, 671 * 0.01);
  EXPECT_NEAR(p.activated / 1e9, 37, 37 * 0.03);
}

TEST(ParameterCount, Mixtral8x7BIs46_7BTotal12_9BActivated) {
  ParameterCount p = parameter_count(model("mixtral-8x7b.json"));
  EXPECT_NEAR(p.total / 1e9, 46.7, 46.7 * 0.01);
  EXPECT_NEAR(p.activated / 1e9, 12.9, 12.9 * 0.02);
}

TEST(ParameterCount, Qwen3_235B_A22B) {
  ParameterCount p = parameter_count(model("qwen3-235b-a22b.json"));
  EXPECT_NEAR(p.total / 1e9, 235, 235 * 0.01);
  EXPECT_NEAR(p.activated / 1e9, 22, 22 * 0.03);
}

TEST(ParameterCount, Qwen3_30B_A3B) {
  ParameterCount p = parameter_count(model("qwen3-30b-a3b.json"));
  EXPECT_NEAR(p.total / 1e9, 30.5, 30.5 * 0.01);
  EXPECT_NEAR(p.activated / 1e9, 3.3, 3.3 * 0.03);
}

TEST(ParameterCount, PartsAddUpToTotal) {
  for (const char* f : {"deepseek-v3.json", "mixtral-8x7b.json", "qwen3-235b-a22b.json",
                        "doubao-1.5-pro-like.json", "ultramem-like.json", "qwen3-30b-a3b.json"}) {
    ParameterCount p = parameter_count(model(f));
    EXPECT_DOUBLE_EQ(p.total, p.attention + p.dense_ffn + p.routed_experts + p.shared_experts +
                                  p.router + p.memory_values + p.embeddings)
        << f;
    EXPECT_LT(p.activated, p.total) << f;
  }
}

// GQA by hand: Mixtral has 8 KV heads of dim 128 in 32 layers, bf16:
// K and V: 2 x 8 x 128 = 2048 elements per layer, x 32 layers x 2 bytes = 131072 bytes.
TEST(KvBytes, GqaByHand) {
  ModelSpec m = model("mixtral-8x7b.json");
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m).value(), 131072.0);
  // TP4 splits the 8 KV heads two per GPU; TP16 cannot split further than one head.
  EXPECT_DOUBLE_EQ(kv_bytes_per_token_per_gpu(m, Layout{.tp = 4}).value(), 131072.0 / 4);
  m.attention.num_heads = 32;
  Layout tp16{.tp = 16};
  EXPECT_DOUBLE_EQ(kv_bytes_per_token_per_gpu(m, tp16).value(), 131072.0 / 8);
}

// MLA by hand: DeepSeek-V3 caches the 512-wide latent plus the 64-wide RoPE key, in
// 61 layers, bf16: (512 + 64) x 61 x 2 = 70272 bytes; TP does not split the latent.
TEST(KvBytes, MlaByHand) {
  ModelSpec m = model("deepseek-v3.json");
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m).value(), 70272.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token_per_gpu(m, Layout{.tp = 8}).value(), 70272.0);
  // PP halves the layers each GPU holds (61 -> 31 on the fuller stage).
  EXPECT_DOUBLE_EQ(kv_bytes_per_token_per_gpu(m, Layout{.pp = 2}).value(), 576.0 * 31 * 2);
}

TEST(WeightBytes, FormatsScaleBytesPerParameter) {
  ModelSpec m = model("mixtral-8x7b.json");
  const double emb = parameter_count(m).embeddings * 2;
  const double bf16 = weight_bytes(m).value() - emb;
  m.precision.weights = NumberFormat::kFp8;
  EXPECT_NEAR((weight_bytes(m).value() - emb) / bf16, 0.5, 1e-12);
  m.precision.weights = NumberFormat::kW4A8;
  // 4 bits per weight plus one bf16 scale per group of 128.
  EXPECT_NEAR((weight_bytes(m).value() - emb) / bf16, (0.5 + 2.0 / 128) / 2, 1e-12);
}

TEST(WeightBytes, PerGpuSumsToWholeModelWithoutReplication) {
  ModelSpec m = model("qwen3-235b-a22b.json");
  for (int tp : {1, 2, 4, 8}) {
    Layout l{.tp = tp, .ep = tp};
    EXPECT_NEAR(weight_bytes_per_gpu(m, l).value() * tp / weight_bytes(m).value(), 1.0, 1e-9);
  }
}

TEST(QuadrantShape, DecodeAttentionReadsEveryCachedToken) {
  ModelSpec m = model("qwen3-235b-a22b.json");
  Layout l{.tp = 4, .ep = 4};
  BatchShape b{64, 64, 64 * 4096};
  QuadrantShape s = attention_shape(m, l, Phase::kDecode, b);
  const double kv_layer_gpu = 2.0 * 1 * 128 * 1;  // one KV head per GPU, fp8
  const double weights = attention_parameters_per_layer(m) / 4 * 1.0;
  const double acts = 2.0 * 64 * 4096 * 1.0;
  EXPECT_DOUBLE_EQ(s.bytes.value(), weights + (64 * 4096 + 64) * kv_layer_gpu + acts);
  // Scores and values: 2 FLOPs per multiply-add, 16 query heads per GPU.
  const double core = 2.0 * 64 * 4096 * 16 * (128 + 128);
  EXPECT_DOUBLE_EQ(s.flops.value(), 2.0 * 64 * attention_parameters_per_layer(m) / 4 + core);
}

TEST(QuadrantShape, PrefillAttentionIsCausal) {
  ModelSpec m = model("mixtral-8x7b.json");
  // One sequence of n tokens scores n(n+1)/2 pairs.
  const int64_t n = 1000;
  QuadrantShape s = attention_shape(m, Layout{}, Phase::kPrefill, {1, n, n});
  const double core = 2.0 * (n * (n + 1) / 2) * 32 * 256;
  EXPECT_DOUBLE_EQ(s.flops.value(), 2.0 * n * attention_parameters_per_layer(m) + core);
}

TEST(QuadrantShape, MoeFfnFlopsFollowTopK) {
  ModelSpec m = model("mixtral-8x7b.json");
  QuadrantShape s = ffn_shape(m, Layout{}, Phase::kPrefill, 4096, true);
  const double expert = 3.0 * 4096 * 14336;
  const double router = 2.0 * 4096 * 4096 * 8;
  EXPECT_DOUBLE_EQ(s.flops.value(), 2.0 * 4096 * 2 * expert + router);
  // 4096 tokens pick every one of 8 experts: all expert weights are read.
  EXPECT_NEAR(s.bytes.value(), 8 * expert * 2 + 4096 * 8 * 2.0 + 2.0 * (4096 * 2 + 4096) * 4096 * 2,
              1.0);
  // One decode token reads only its top-2 experts (expected 8 x (1 - (6/8)^1) = 2).
  QuadrantShape d = ffn_shape(m, Layout{}, Phase::kDecode, 1, true);
  EXPECT_EQ(d.active_experts, 2);
}

TEST(Communication, RingAllReduceAndAllToAll) {
  ModelSpec m = model("mixtral-8x7b.json");
  CommVolume none = layer_communication(m, Layout{}, 1000);
  EXPECT_EQ(none.tp_allreduce.value(), 0);
  EXPECT_EQ(none.ep_dispatch.value(), 0);
  CommVolume c = layer_communication(m, Layout{.tp = 4, .ep = 4, .pp = 2}, 1000);
  // Two all-reduces of 1000 x 4096 bf16 values; each GPU sends 2 (t-1)/t of the buffer.
  EXPECT_DOUBLE_EQ(c.tp_allreduce.value(), 2 * 2.0 * 3 / 4 * 1000 * 4096 * 2);
  // 250 tokens per GPU, 2 experts each, 3/4 of them remote, 4096 x bf16.
  EXPECT_DOUBLE_EQ(c.ep_dispatch.value(), 250.0 * 2 * 4096 * 2 * 0.75);
  EXPECT_DOUBLE_EQ(c.pp_send.value(), 1000.0 * 4096 * 2);
}

TEST(ForwardAccounting, DecodeFlopsAreTwicePerActivatedParameter) {
  // At one token and a tiny context, forward FLOPs are ~2 x activated parameters
  // (embeddings excluded: the lookup is not a matmul and the LM head is outside the layers).
  ModelSpec m = model("qwen3-235b-a22b.json");
  ForwardAccounting f = forward_accounting(m, Layout{}, Phase::kDecode, {1, 1, 1});
  ParameterCount p = parameter_count(m);
  const double flops = f.flops[2].value() + f.flops[3].value();
  EXPECT_NEAR(flops / (2 * (p.activated - p.embeddings)), 1.0, 0.01);
}

// Per-node deduplication of the M:N exchange (issue 16): a token crosses the network once
// per FFN node holding one of its top-k experts. The closed form against enumeration of
// every k-subset of 8 experts over 4 nodes of 2 (52 nodes hit over 28 pairs), and its ends:
// one node is hit once, k experts on k nodes of one expert each are k nodes.
TEST(AttentionFfnExchange, DistinctNodesOfATokensExperts) {
  int pairs = 0, nodes = 0;
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b) {
      ++pairs;
      nodes += (a / 2 == b / 2) ? 1 : 2;
    }
  EXPECT_EQ(pairs, 28);
  EXPECT_EQ(nodes, 52);
  EXPECT_NEAR(expected_distinct_groups(8, 2, 4), double(nodes) / pairs, 1e-12);
  EXPECT_DOUBLE_EQ(expected_distinct_groups(256, 8, 1), 1);
  EXPECT_NEAR(expected_distinct_groups(8, 3, 8), 3, 1e-12);
  // DeepSeek-V3 over 2 FFN nodes: 2 x (1 - C(128, 8) / C(256, 8)), under the 8 experts.
  double none = 1;
  for (int i = 0; i < 8; ++i) none *= (128.0 - i) / (256.0 - i);
  EXPECT_NEAR(expected_distinct_groups(256, 8, 2), 2 * (1 - none), 1e-12);
  EXPECT_LT(expected_distinct_groups(256, 8, 2), 2);
}

}  // namespace
}  // namespace quadrant
