// The GPU executor on a GPU: the end-to-end consistency checks (chunked prefill, paging,
// decode by graph and in mixed steps, all against re-prefill) on the first layers of
// Qwen3-30B-A3B in each FFN format, and the refusals (model too large, bad plans).
#include "calibration/engine/gpu/gpu_step_executor.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "calibration/engine/gpu/consistency.h"

namespace quadrant::engine::gpu {
namespace {

bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

ModelSpec qwen3_30b() {
  ModelSpec m;
  m.name = "Qwen3-30B-A3B";
  m.num_layers = 48;
  m.hidden_size = 2048;
  m.vocab_size = 151936;
  m.attention = {AttentionKind::kGqa, 32, 4, 128};
  m.ffn.kind = FfnKind::kMoe;
  m.ffn.num_experts = 128;
  m.ffn.top_k = 8;
  m.ffn.expert_intermediate_size = 768;
  return m;
}

GpuEngineOptions small_options(FfnFormat f) {
  GpuEngineOptions o;
  o.ffn_format = f;
  o.num_layers = 3;
  o.max_model_len = 2048;
  o.max_step_tokens = 1024;
  o.max_decode_seqs = 32;
  o.kv_blocks_limit = 512;
  o.pinned_routing = true;
  return o;
}

class ExecutorFormats : public ::testing::TestWithParam<FfnFormat> {};

TEST_P(ExecutorFormats, PathsAgreeWithinTheFormatsTolerance) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  GpuStepExecutor ex(qwen3_30b(), small_options(GetParam()));
  EXPECT_GT(ex.graphs_captured(), 0);
  const auto results = run_consistency_checks(ex, GetParam(), 300, 7);
  ASSERT_EQ(results.size(), 4u);
  for (const auto& r : results) {
    EXPECT_TRUE(r.passed()) << r.name << ": rel " << r.rel_error << " tol " << r.tolerance;
    EXPECT_GT(r.rel_error, -1.0);  // finite (NaN fails passed())
  }
  EXPECT_GT(ex.graph_steps(), 0);  // the decode-only steps replayed graphs
}

INSTANTIATE_TEST_SUITE_P(Formats, ExecutorFormats,
                         ::testing::Values(FfnFormat::kBf16, FfnFormat::kFp8, FfnFormat::kW4a8),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

TEST(GpuStepExecutor, RefusesAModelThatDoesNotFitWithTheNumbers) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  ModelSpec m = qwen3_30b();
  m.num_layers = 400;  // ~500 GB of BF16 experts
  try {
    GpuStepExecutor ex(m, GpuEngineOptions{});
    FAIL() << "a 400-layer model was accepted";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("does not fit"), std::string::npos) << what;
    EXPECT_NE(what.find("weights"), std::string::npos) << what;
    EXPECT_NE(what.find("KV cache"), std::string::npos) << what;
  }
}

TEST(GpuStepExecutor, RefusesBadPlans) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  GpuStepExecutor ex(qwen3_30b(), small_options(FfnFormat::kBf16));
  StepPlan missing_blocks;
  missing_blocks.prefill.push_back({1, 0, 40, true, {0, 1}});  // 40 tokens need 3 blocks
  EXPECT_THROW(ex.execute(missing_blocks), std::invalid_argument);
  StepPlan outside;
  outside.prefill.push_back({1, 0, 8, true, {ex.capacity().kv_blocks}});
  EXPECT_THROW(ex.execute(outside), std::invalid_argument);
  StepPlan early_decode;  // no prompt ended for sequence 9
  early_decode.decode.push_back({9, 10, {0}});
  EXPECT_THROW(ex.execute(early_decode), std::invalid_argument);
  StepPlan too_many;
  too_many.prefill.push_back({2, 0, 1025, true, std::vector<int32_t>(65, 0)});
  EXPECT_THROW(ex.execute(too_many), std::invalid_argument);
}

// Prefill/decode disaggregation on one GPU: a sequence prefilled by one executor, its KV
// copied into another executor's (differently numbered) blocks, decodes there exactly as
// it decodes where it was prefilled.
TEST(GpuStepExecutor, KvTransferThenDecodeMatchesDecodingInPlace) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const GpuEngineOptions o = small_options(FfnFormat::kBf16);
  GpuStepExecutor prefill(qwen3_30b(), o), decode(qwen3_30b(), o);  // same seed: same weights
  const int32_t prompt_len = 200;
  std::vector<int32_t> prompt(prompt_len);
  for (int32_t i = 0; i < prompt_len; ++i) prompt[size_t(i)] = (i * 7919 + 13) % 32000;
  prefill.set_prompt(1, prompt);
  std::vector<int32_t> a_blocks(13), b_blocks(13);  // 201 tokens: 13 blocks of 16
  for (int i = 0; i < 13; ++i) {
    a_blocks[size_t(i)] = 3 * i + 1;
    b_blocks[size_t(i)] = 400 - 5 * i;
  }
  StepPlan p;
  p.prefill.push_back({1, 0, prompt_len, true, a_blocks});
  prefill.execute(p);
  const int32_t first = prefill.sampled_tokens().at(0);

  const StepTiming t = prefill.transfer_kv(decode, a_blocks, b_blocks, prompt_len);
  EXPECT_GT(t.gpu_ns, 0);
  decode.assume_prefilled(1, first);
  StepPlan on_b, on_a;
  on_b.decode.push_back({1, prompt_len, b_blocks});
  on_a.decode.push_back({1, prompt_len, a_blocks});
  decode.execute(on_b);
  prefill.execute(on_a);
  EXPECT_EQ(decode.sampled_tokens(), prefill.sampled_tokens());
  const auto lb = decode.sampled_logits(), la = prefill.sampled_logits();
  ASSERT_EQ(lb.size(), la.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < la.size(); ++i) {
    num += (double(lb[i]) - la[i]) * (double(lb[i]) - la[i]);
    den += double(la[i]) * la[i];
  }
  EXPECT_LE(std::sqrt(num / den), 1e-6);  // the same kernels on the same KV: equal
  // Blocks outside the destination's cache are refused.
  EXPECT_THROW(prefill.transfer_kv(decode, a_blocks, std::vector<int32_t>(13, 100000), prompt_len),
               std::invalid_argument);
}

// The checks' tolerance: 3 x the per-layer bound measured with one layer, x sqrt(layers)
// (consistency.h). No GPU needed.
TEST(ConsistencyTolerance, GrowsAsTheSquareRootOfTheLayers) {
  EXPECT_DOUBLE_EQ(consistency_tolerance(FfnFormat::kBf16, 1), 3 * 5.5e-3);
  EXPECT_DOUBLE_EQ(consistency_tolerance(FfnFormat::kBf16, 4),
                   2 * consistency_tolerance(FfnFormat::kBf16, 1));
  EXPECT_NEAR(consistency_tolerance(FfnFormat::kFp8, 48), 3 * 2.2e-2 * std::sqrt(48.0), 1e-12);
  EXPECT_DOUBLE_EQ(consistency_tolerance(FfnFormat::kW4a8, 0),
                   consistency_tolerance(FfnFormat::kW4a8, 1));
  // FP8 activations re-quantise: an ulp upstream can move a value by a whole FP8 step.
  EXPECT_GT(consistency_tolerance(FfnFormat::kFp8, 3), consistency_tolerance(FfnFormat::kBf16, 3));
}

TEST(GpuStepExecutor, UnknownFormatIsNamed) {
  try {
    parse_ffn_format("int3");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("int3"), std::string::npos);
  }
}

}  // namespace
}  // namespace quadrant::engine::gpu
