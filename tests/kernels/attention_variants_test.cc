// Every variant of the attention kernels on a GPU against the float64 reference (label
// gpu; skipped without a device): the op picks one variant per format by default, the
// others stay selectable for benchmarks (QUADRANT_PREFILL_ATTN_VARIANT,
// QUADRANT_DECODE_ATTN_MMA, QUADRANT_MLA_DECODE_FORM), so each must stay correct.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdlib>
#include <string>

#include "kernels/include/quadrant_op.h"
#include "kernels/plan/dispatch.h"

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
    // -1: the mma.sync kernel; 0..3, 7 the wgmma kernel; 4..6, 8..10 its three-warpgroup fp8
    // forms.
    for (int variant = -1; variant <= plan::kPrefillMaxVariant; ++variant) {
      if (format == "bf16" && plan::prefill_consumers(true, variant) == 3) continue;
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

// MLA decode's wgmma form (QUADRANT_MLA_DECODE_FORM=wgmma): 16, 32 and 64 heads a CTA (48: three
// CTAs of 16; 96: three of 32; 64 and 128: two warpgroups of 32 a CTA), pages of 7 to 64
// tokens, lengths from 0 (zeros)
// that end inside a 64-token tile, the heuristic's split count, one split (the BF16 output
// written by the split kernel) and 5 (partials and the combine).
TEST(AttentionVariants, MlaDecodeWgmmaFormMatchesTheReference) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  struct Case {
    int64_t batch, kv, kv_min, heads, block;
  };
  for (const Case& c :
       {Case{7, 1000, 0, 16, 64}, Case{5, 2100, 1, 32, 16}, Case{3, 777, 5, 64, 7},
        Case{2, 3000, 100, 128, 64}, Case{3, 500, 500, 48, 32}, Case{4, 1300, 0, 96, 32}})
    for (const std::string splits : {"0", "1", "5"}) {
      ScopedEnv env("QUADRANT_MLA_DECODE_FORM", "wgmma");
      ScopedEnv env_splits("QUADRANT_MLA_DECODE_SPLITS", splits);
      auto op = make_op("mla_decode", "bf16",
                        {{"batch", c.batch},
                         {"kv_len", c.kv},
                         {"kv_len_min", c.kv_min},
                         {"heads", c.heads},
                         {"block_size", c.block}});
      ASSERT_EQ(op->name(), "sm90_bf16_wgmma_mla_decode");
      for (uint64_t seed : {3, 4}) {
        const CheckResult r = op->check(seed);
        EXPECT_TRUE(r.all_written) << c.heads << " heads, splits " << splits;
        EXPECT_LE(r.rel_fro_error, r.tolerance) << c.heads << " heads, splits " << splits;
      }
    }
}

}  // namespace
}  // namespace quadrant::kernels
