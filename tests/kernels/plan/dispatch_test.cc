// The kernels' path choices, pinned (issue 14: "path choices in one dispatch file with a
// table test"). The .cu launchers call these same functions, so a change of a choice shows
// here first, with the numbers worked out by hand in the comments.
#include "kernels/plan/dispatch.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace quadrant::kernels::plan {
namespace {

struct DecodeRow {
  int64_t batch;
  int heads, kv_heads, head_dim;
  bool fp8;
  int64_t max_kv_len;
  int sms;
  DecodeSplit want;
};

TEST(DecodeAttentionSplit, Table) {
  const std::vector<DecodeRow> rows = {
      // 64 x 8 CTAs on 132 SMs: want ceil(1056 / 512) = 3 splits, 4096 / 3 -> 1408 tokens.
      {64, 32, 8, 128, false, 4096, 132, {4, 1408, 3, false}},
      // One sequence, 8 CTAs: 132 splits wanted, chunks floor at 256 tokens -> 128 splits.
      {1, 32, 8, 128, true, 32768, 132, {4, 256, 128, true}},
      // GQA 16: 8 heads per CTA, 64 CTAs, 17 splits wanted of 1000 tokens -> 256, 4 splits.
      {8, 64, 4, 128, false, 1000, 132, {8, 256, 4, false}},
      // MHA, fp8 at head dim 64: CUDA cores; 1 head per CTA, 1024 CTAs: 2 splits of 4096.
      {64, 16, 16, 64, true, 8192, 132, {1, 4096, 2, false}},
      // 78 SMs (H20): 32 CTAs want 20 splits, 16384 / 20 -> 832 tokens, 20 splits.
      {4, 32, 8, 128, true, 16384, 78, {4, 832, 20, true}},
  };
  for (const DecodeRow& r : rows) {
    const DecodeSplit s = decode_attention_split(r.batch, r.heads, r.kv_heads, r.head_dim, r.fp8,
                                                 r.max_kv_len, r.sms);
    EXPECT_EQ(s.heads_per_cta, r.want.heads_per_cta) << r.batch << " " << r.max_kv_len;
    EXPECT_EQ(s.chunk, r.want.chunk) << r.batch << " " << r.max_kv_len;
    EXPECT_EQ(s.max_splits, r.want.max_splits) << r.batch << " " << r.max_kv_len;
    EXPECT_EQ(s.tensor_cores, r.want.tensor_cores) << r.batch << " " << r.max_kv_len;
  }
  EXPECT_FALSE(decode_attention_split(1, 8, 1, 128, true, 100, 132, false).tensor_cores);
}

TEST(DecodeAttentionSplit, RejectsShapesNoKernelTakes) {
  EXPECT_THROW(decode_attention_split(1, 12, 4, 128, false, 10, 132), std::invalid_argument);
  EXPECT_THROW(decode_attention_split(1, 8, 8, 96, false, 10, 132), std::invalid_argument);
  EXPECT_THROW(decode_attention_split(1, 8, 8, 128, false, 0, 132), std::invalid_argument);
}

TEST(PrefillAttentionPath, Table) {
  struct Row {
    bool fp8;
    int dqk, dv, requested, variant, tile_rows, threads;
  };
  const std::vector<Row> rows = {
      {false, 128, 128, kDefaultVariant, 2, 128, 384},  // BF16 ping-pong
      {false, 64, 64, kDefaultVariant, 2, 128, 384},
      {false, 192, 128, kDefaultVariant, 2, 128, 384},  // MLA on wgmma
      {true, 128, 128, kDefaultVariant, 4, 192, 512},   // FP8: three consumer warpgroups
      {true, 64, 64, kDefaultVariant, -1, 64, 128},     // FP8 d64: mma.sync
      {true, 192, 128, kDefaultVariant, -1, 64, 128},   // FP8 MLA: mma.sync
      {false, 128, 128, -1, -1, 64, 128},
      {true, 128, 128, 5, 5, 192, 512},
      {true, 128, 128, 7, 7, 128, 384},
  };
  for (const Row& r : rows) {
    const int v = prefill_variant(r.fp8, r.dqk, r.dv, r.requested);
    EXPECT_EQ(v, r.variant) << r.fp8 << " " << r.dqk << " " << r.requested;
    EXPECT_EQ(prefill_tile_rows(r.fp8, v), r.tile_rows) << r.fp8 << " " << r.dqk;
    EXPECT_EQ(prefill_threads(r.fp8, v), r.threads) << r.fp8 << " " << r.dqk;
  }
  EXPECT_THROW(prefill_variant(false, 128, 128, 4), std::invalid_argument);
  EXPECT_THROW(prefill_variant(true, 128, 128, 8), std::invalid_argument);
}

TEST(PrefillSchedule, HeaviestTilesFirstAndOffsets) {
  // Sequence 0: 300 new tokens, no prefix; sequence 1: one token after 77 cached.
  const PrefillSchedule s = prefill_schedule({300, 1}, {0, 77}, 128);
  // Tiles by their last key bound: (0, 256) 384, (0, 128) 256, (1, 0) 205, (0, 0) 128.
  EXPECT_EQ(s.tile_seq, (std::vector<int32_t>{0, 0, 1, 0}));
  EXPECT_EQ(s.tile_q0, (std::vector<int32_t>{256, 128, 0, 0}));
  EXPECT_EQ(s.tile_keys, (std::vector<int64_t>{300, 256, 78, 128}));
  EXPECT_EQ(s.cu_q, (std::vector<int32_t>{0, 300, 301}));
  EXPECT_EQ(s.cu_k, (std::vector<int32_t>{0, 300, 378}));
  EXPECT_EQ(s.prefix, (std::vector<int32_t>{0, 77}));
  EXPECT_EQ(s.cu_sq, (std::vector<int32_t>{0, 5, 6}));  // ceil(300 / 64), ceil(1 / 64)
  EXPECT_EQ(s.cu_sk, (std::vector<int32_t>{0, 5, 7}));  // ceil(78 / 64) = 2
  EXPECT_EQ(s.cu_kt, (std::vector<int32_t>{0, 384, 512}));
  EXPECT_EQ(s.kt_seq, (std::vector<int32_t>{0, 0, 0, 1}));
  EXPECT_EQ(s.causal_pairs, 300 * 301 / 2 + 78);
  EXPECT_THROW(prefill_schedule({0}, {0}, 128), std::invalid_argument);
  EXPECT_THROW(prefill_schedule({4, 4}, {0}, 128), std::invalid_argument);
}

TEST(MoeGemmPath, CrossoverAt48RowsPerExpert) {
  EXPECT_EQ(moe_gemm_path(192, 2, 8), MoeGemmPath::kWgmma);  // 384 rows = 48 x 8
  EXPECT_EQ(moe_gemm_path(191, 2, 8), MoeGemmPath::kMmaSync);
  EXPECT_EQ(moe_gemm_path(64, 8, 128), MoeGemmPath::kMmaSync);  // Qwen3-30B-A3B decode
  EXPECT_EQ(moe_gemm_path(8192, 8, 128), MoeGemmPath::kWgmma);  // and prefill
  EXPECT_EQ(moe_gemm_path(8192, 8, 128, true), MoeGemmPath::kCublasLt);
  EXPECT_EQ(moe_block_m(MoeGemmPath::kWgmma, 8192, 8, 128), 128);
  EXPECT_EQ(moe_block_m(MoeGemmPath::kMmaSync, 64, 8, 128), 16);
  EXPECT_EQ(moe_max_tiles(384, 128, 8), 3 + 8);
}

}  // namespace
}  // namespace quadrant::kernels::plan
