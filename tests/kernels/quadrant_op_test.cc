// The ops on a GPU, at small shapes, against the float64 references (label gpu: skipped
// where no device is present; CI has none, the bench runs the same checks on the H100).
#include "kernels/include/quadrant_op.h"

#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include "kernels/plan/launch_plan.h"

namespace quadrant::kernels {
namespace {

bool have_gpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

ShapeParams small_shape(const std::string& quadrant) {
  if (quadrant == "prefill_attention")
    return {{"batch", 2}, {"seq_len", 150}, {"seq_len_min", 40}, {"prefix_len", 30},
            {"heads", 4}, {"kv_heads", 2},  {"head_dim", 128}};
  if (quadrant == "decode_attention")
    return {{"batch", 5}, {"kv_len", 600}, {"kv_len_min", 1},
            {"heads", 8}, {"kv_heads", 2}, {"head_dim", 128}};
  if (quadrant == "dense_gemm") return {{"m", 70}, {"n", 128}, {"k", 256}};
  if (quadrant == "mla_decode")
    return {{"batch", 5}, {"kv_len", 300}, {"kv_len_min", 0}, {"heads", 32}, {"block_size", 16}};
  return {{"tokens", 33}, {"experts", 8}, {"top_k", 2}, {"hidden", 256}, {"intermediate", 128}};
}

TEST(QuadrantOp, EverySupportedOpMatchesItsReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  for (const auto& [quadrant, format] : supported_ops()) {
    auto op = make_op(quadrant, format, small_shape(quadrant));
    for (uint64_t seed : {1, 2}) {
      const CheckResult c = op->check(seed);
      EXPECT_TRUE(c.all_written) << quadrant << " " << format;
      EXPECT_LE(c.rel_fro_error, c.tolerance) << quadrant << " " << format;
    }
  }
}

// 50 rows per expert: the prefill FFN takes the sm_90a wgmma grouped GEMM (BF16, FP8, and
// W4A8 dequantised to E4M3), not the mma.sync kernels of the small shape above.
TEST(QuadrantOp, PrefillFfnWgmmaPathMatchesItsReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  const ShapeParams shape = {
      {"tokens", 200}, {"experts", 8}, {"top_k", 2}, {"hidden", 512}, {"intermediate", 256}};
  for (const char* format : {"bf16", "fp8", "w4a8", "bf16_cublaslt"}) {
    auto op = make_op("prefill_ffn", format, shape);
    for (uint64_t seed : {1, 2}) {
      const CheckResult c = op->check(seed);
      EXPECT_TRUE(c.all_written) << format;
      EXPECT_LE(c.rel_fro_error, c.tolerance) << format;
    }
  }
}

// The launch plans (kernels/plan, no GPU) name the same kernel variant as the op runs.
TEST(QuadrantOp, LaunchPlanNamesTheOpsVariant) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  int sms = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  for (const auto& [quadrant, format] : supported_ops()) {
    auto op = make_op(quadrant, format, small_shape(quadrant));
    const auto plan = plan::plan_launches(quadrant, format, small_shape(quadrant), sms);
    EXPECT_EQ(plan.variant, op->name()) << quadrant << " " << format;
  }
}

TEST(QuadrantOp, RejectsUnknownAndMissingShapeNames) {
  EXPECT_THROW(make_op("decode_attention", "bf16", {{"batch", 1}}), std::invalid_argument);
  auto shape = small_shape("dense_gemm");
  shape["typo"] = 1;
  EXPECT_THROW(make_op("dense_gemm", "bf16", shape), std::invalid_argument);
  EXPECT_THROW(make_op("decode_ffn", "int3", small_shape("decode_ffn")), std::invalid_argument);
  EXPECT_THROW(make_op("nonsense", "bf16", {}), std::invalid_argument);
}

}  // namespace
}  // namespace quadrant::kernels
