// Shape parsing shared by the ops and the launch plans: names, defaults, errors.
#include "kernels/plan/shape.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace quadrant::kernels {
namespace {

TEST(SpreadLengths, EvenlyBetweenTheBoundsInAScrambledOrder) {
  // Ranks 7919 b mod 5: 0, 4, 3, 2, 1.
  EXPECT_EQ(spread_lengths(5, 10, 50), (std::vector<int64_t>{10, 50, 40, 30, 20}));
  EXPECT_EQ(spread_lengths(1, 7, 7), (std::vector<int64_t>{7}));
}

TEST(ParseDecodeAttention, DefaultsAndLengths) {
  const auto s = parse_decode_attention({{"batch", 3},
                                         {"kv_len", 300},
                                         {"kv_len_min", 100},
                                         {"heads", 32},
                                         {"kv_heads", 8},
                                         {"head_dim", 128}});
  EXPECT_EQ(s.block_size, 16);
  EXPECT_EQ(s.max_kv_len(), 300);
  EXPECT_EQ(s.kv_tokens(), 100 + 200 + 300);
  EXPECT_EQ(s.kv_bound, 300);  // no kv_len_bound: the longest length
  // A loose host bound (a serving engine's graph): the lengths are unchanged.
  const auto b = parse_decode_attention({{"batch", 3},
                                         {"kv_len", 300},
                                         {"kv_len_min", 100},
                                         {"kv_len_bound", 512},
                                         {"heads", 32},
                                         {"kv_heads", 8},
                                         {"head_dim", 128}});
  EXPECT_EQ(b.kv_bound, 512);
  EXPECT_EQ(b.max_kv_len(), 300);
  EXPECT_THROW(parse_decode_attention({{"batch", 3},
                                       {"kv_len", 300},
                                       {"kv_len_bound", 299},
                                       {"heads", 32},
                                       {"kv_heads", 8},
                                       {"head_dim", 128}}),
               std::invalid_argument);
}

TEST(ParseShapes, RejectUnknownMissingAndUnsupported) {
  EXPECT_THROW(parse_decode_attention({{"batch", 1}}), std::invalid_argument);
  EXPECT_THROW(parse_dense_gemm({{"m", 1}, {"n", 16}, {"k", 16}, {"typo", 1}}),
               std::invalid_argument);
  EXPECT_THROW(parse_prefill_attention(
                   {{"batch", 1}, {"seq_len", 8}, {"heads", 4}, {"kv_heads", 4}, {"head_dim", 96}}),
               std::invalid_argument);
  EXPECT_THROW(
      parse_moe_ffn(
          "decode_ffn",
          {{"tokens", 4}, {"experts", 8}, {"top_k", 9}, {"hidden", 128}, {"intermediate", 128}}),
      std::invalid_argument);
  const auto p = parse_prefill_attention({{"batch", 2},
                                          {"seq_len", 64},
                                          {"heads", 4},
                                          {"kv_heads", 1},
                                          {"head_dim", 192},
                                          {"v_head_dim", 128},
                                          {"prefix_len", 5}});
  EXPECT_EQ(p.q_lens, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(p.prefix_lens, (std::vector<int64_t>{5, 5}));
}

}  // namespace
}  // namespace quadrant::kernels
