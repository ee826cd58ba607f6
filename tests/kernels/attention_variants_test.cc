// Every variant of the attention kernels on a GPU against the float64 reference (label
// gpu; skipped without a device): the op picks one variant per format by default, the
// others stay selectable for benchmarks (QUADRANT_PREFILL_ATTN_VARIANT,
// QUADRANT_DECODE_ATTN_MMA), so each must stay correct.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdlib>
#include <string>

#include "kernels/include/quadrant_op.h"

namespace quadrant::kernels {
namespace {

bool have_gpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

// Sets an environment variable for one scope, then restores the op's default.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

TEST(AttentionVariants, PrefillEveryVariantMatchesTheReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  // Varlen (lengths 1..260, not multiples of the tiles), a prefix, GQA 4.
  const ShapeParams shape = {{"batch", 3}, {"seq_len", 260}, {"seq_len_min", 1}, {"prefix_len", 77},
                             {"heads", 8}, {"kv_heads", 2},  {"head_dim", 128}};
  for (const std::string format : {"bf16", "fp8"}) {
    // -1: the mma.sync kernel; 0..3, 7 the wgmma kernel; 4..6 its three-warpgroup fp8 forms.
    for (int variant = -1; variant <= 7; ++variant) {
      if (format == "bf16" && variant >= 4 && variant <= 6) continue;
      ScopedEnv env("QUADRANT_PREFILL_ATTN_VARIANT", std::to_string(variant));
      auto op = make_op("prefill_attention", format, shape);
      const CheckResult c = op->check(7);
      EXPECT_TRUE(c.all_written) << op->name();
      EXPECT_LE(c.rel_fro_error, c.tolerance) << op->name();
    }
  }
}

TEST(AttentionVariants, DecodeOnTensorAndCudaCoresAnySplitCount) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  // Block size 7: pages that split a 16-token step; lengths 1 .. 900.
  const ShapeParams shape = {{"batch", 6},    {"kv_len", 900},   {"kv_len_min", 1}, {"heads", 16},
                             {"kv_heads", 4}, {"head_dim", 128}, {"block_size", 7}};
  for (const std::string format : {"bf16", "fp8"})
    for (const std::string mma : {"1", "0"})
      // 0: the heuristic's; 1: every sequence in one CTA (no combine); 7: uneven splits.
      for (const std::string splits : {"0", "1", "7"}) {
        ScopedEnv env("QUADRANT_DECODE_ATTN_MMA", mma);
        ScopedEnv env_splits("QUADRANT_DECODE_ATTN_SPLITS", splits);
        auto op = make_op("decode_attention", format, shape);
        const CheckResult c = op->check(9);
        EXPECT_TRUE(c.all_written) << op->name() << " mma " << mma << " splits " << splits;
        EXPECT_LE(c.rel_fro_error, c.tolerance)
            << op->name() << " mma " << mma << " splits " << splits;
      }
}

}  // namespace
}  // namespace quadrant::kernels
