#include "kernels/reference/reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace quadrant::kernels::ref {
namespace {

std::vector<double> random_vector(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(Attend, OneKeyReturnsItsValue) {
  const std::vector<double> q = {0.3, -2.0}, k = {1.0, 5.0}, v = {7.0, -1.0, 2.0};
  std::vector<double> out(3);
  attend(
      q.data(), 1, 2, 3, 0.7, [&](int64_t) { return k.data(); }, [&](int64_t) { return v.data(); },
      out.data());
  EXPECT_DOUBLE_EQ(out[0], 7.0);
  EXPECT_DOUBLE_EQ(out[2], 2.0);
}

TEST(Attend, EqualKeysAverageTheValues) {
  const std::vector<double> q = {1.0, 2.0}, k = {0.5, 0.5};
  const auto v = random_vector(5 * 4, 1);
  std::vector<double> out(4);
  attend(
      q.data(), 5, 2, 4, 1.0, [&](int64_t) { return k.data(); },
      [&](int64_t i) { return v.data() + i * 4; }, out.data());
  for (int d = 0; d < 4; ++d) {
    double mean = 0;
    for (int i = 0; i < 5; ++i) mean += v[i * 4 + d] / 5;
    EXPECT_NEAR(out[d], mean, 1e-12);
  }
}

TEST(Attend, MatchesTheSoftmaxFormula) {
  const int keys = 6, dim = 3;
  const auto q = random_vector(dim, 2), k = random_vector(keys * dim, 3),
             v = random_vector(keys * dim, 4);
  std::vector<double> out(dim), w(keys);
  attend(
      q.data(), keys, dim, dim, 0.5, [&](int64_t i) { return k.data() + i * dim; },
      [&](int64_t i) { return v.data() + i * dim; }, out.data());
  double sum = 0;
  for (int i = 0; i < keys; ++i) {
    double dot = 0;
    for (int d = 0; d < dim; ++d) dot += q[d] * k[i * dim + d];
    sum += (w[i] = std::exp(0.5 * dot));
  }
  for (int d = 0; d < dim; ++d) {
    double expected = 0;
    for (int i = 0; i < keys; ++i) expected += w[i] / sum * v[i * dim + d];
    EXPECT_NEAR(out[d], expected, 1e-12);
  }
}

// A chunk after a cached prefix sees exactly what the same rows of one long causal
// prefill see.
TEST(PrefillAttention, ChunkAfterPrefixEqualsTheTailOfAFullPrefill) {
  const int heads = 4, kv_heads = 2, dim = 8, prefix = 5, chunk = 7, total = prefix + chunk;
  const auto q = random_vector(total * heads * dim, 5),
             k = random_vector(total * kv_heads * dim, 6),
             v = random_vector(total * kv_heads * dim, 7);
  PrefillAttentionProblem full;
  full.q_lens = {total};
  full.prefix_lens = {0};
  full.heads = heads;
  full.kv_heads = kv_heads;
  full.head_dim = full.v_head_dim = dim;
  full.scale = 0.3;
  full.q = q.data();
  full.k = k.data();
  full.v = v.data();
  PrefillAttentionProblem part = full;
  part.q_lens = {chunk};
  part.prefix_lens = {prefix};
  part.q = q.data() + prefix * heads * dim;
  std::vector<int64_t> full_rows(chunk), part_rows(chunk);
  std::iota(full_rows.begin(), full_rows.end(), prefix);
  std::iota(part_rows.begin(), part_rows.end(), 0);
  const auto a = prefill_attention(full, full_rows), b = prefill_attention(part, part_rows);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12);
  // Row 0 of the full prefill sees only key 0: its output is value 0 of its kv head.
  const auto first = prefill_attention(full, {0});
  for (int d = 0; d < dim; ++d)
    EXPECT_NEAR(first[3 * dim + d], v[1 * dim + d], 1e-12);  // head 3 -> kv head 1
}

// Decode over a shuffled paged cache equals the last row of a contiguous prefill.
TEST(DecodeAttention, PagedEqualsContiguous) {
  const int heads = 4, kv_heads = 1, dim = 4, block = 3;
  const std::vector<int64_t> lens = {7, 2};
  const int64_t max_blocks = 3, pages = 4;
  const std::vector<int32_t> table = {2, 0, 3, 1, 0, 0};  // seq 0: pages 2,0,3; seq 1: page 1
  const auto q = random_vector(2 * heads * dim, 8);
  const auto kc = random_vector(pages * block * kv_heads * dim, 9),
             vc = random_vector(pages * block * kv_heads * dim, 10);
  DecodeAttentionProblem p;
  p.kv_lens = lens;
  p.heads = heads;
  p.kv_heads = kv_heads;
  p.head_dim = dim;
  p.block_size = block;
  p.max_blocks_per_seq = max_blocks;
  p.scale = 0.5;
  p.block_table = table.data();
  p.q = q.data();
  p.k_cache = kc.data();
  p.v_cache = vc.data();
  const auto got = decode_attention(p, {0, 1});
  for (int64_t b = 0; b < 2; ++b) {
    std::vector<double> k, v;
    for (int64_t j = 0; j < lens[b]; ++j) {
      const int64_t off = (table[b * max_blocks + j / block] * block + j % block) * dim;
      k.insert(k.end(), kc.begin() + off, kc.begin() + off + dim);
      v.insert(v.end(), vc.begin() + off, vc.begin() + off + dim);
    }
    PrefillAttentionProblem pf;
    pf.q_lens = {1};
    pf.prefix_lens = {lens[b] - 1};
    pf.heads = heads;
    pf.kv_heads = kv_heads;
    pf.head_dim = pf.v_head_dim = dim;
    pf.scale = 0.5;
    pf.q = q.data() + b * heads * dim;
    pf.k = k.data();
    pf.v = v.data();
    const auto expected = prefill_attention(pf, {0});
    for (int i = 0; i < heads * dim; ++i) EXPECT_NEAR(got[b * heads * dim + i], expected[i], 1e-12);
  }
}

TEST(Routing, PicksTheLargestScoresAndWeightsSumToOne) {
  const int tokens = 50, experts = 16, top_k = 4;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> scores(tokens * experts);
  for (auto& s : scores) s = dist(rng);
  scores[3] = scores[5];  // a tie: the lower index goes first
  const auto r = route_top_k(scores.data(), tokens, experts, top_k);
  for (int t = 0; t < tokens; ++t) {
    double sum = 0;
    std::vector<float> sorted(scores.begin() + t * experts, scores.begin() + (t + 1) * experts);
    std::sort(sorted.rbegin(), sorted.rend());
    for (int j = 0; j < top_k; ++j) {
      sum += r.weight[t * top_k + j];
      EXPECT_EQ(scores[t * experts + r.expert[t * top_k + j]], sorted[j]);
      if (j > 0) {
        EXPECT_LE(r.weight[t * top_k + j], r.weight[t * top_k + j - 1]);
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
  EXPECT_THROW(route_top_k(scores.data(), tokens, experts, experts + 1), std::invalid_argument);
}

TEST(Permutation, GroupsByExpertAndCombineInvertsGather) {
  const int tokens = 40, experts = 8, top_k = 3, hidden = 5;
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> scores(tokens * experts);
  for (auto& s : scores) s = dist(rng);
  const auto r = route_top_k(scores.data(), tokens, experts, top_k);
  const auto p = permute(r, experts);
  ASSERT_EQ(p.expert_offsets.back(), tokens * top_k);
  for (int64_t slot = 0; slot < tokens * top_k; ++slot) {
    const int64_t row = p.slot_row[slot];
    EXPECT_EQ(p.row_token[row], slot / top_k);
    const int e = r.expert[slot];
    EXPECT_GE(row, p.expert_offsets[e]);
    EXPECT_LT(row, p.expert_offsets[e + 1]);
  }
  const auto x = random_vector(tokens * hidden, 13);
  const auto rows = gather_rows(x.data(), p, hidden);
  const auto back = combine_rows(rows.data(), p, r, hidden);  // weights sum to 1
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back[i], x[i], 1e-12);
}

TEST(ExpertFfn, MatchesTheClosedFormOnOneUnit) {
  const double x = 0.7, gate = 1.3, up = -0.4, down = 2.0;
  const double w1[2] = {gate, up}, w2[1] = {down};
  double out = 0;
  expert_ffn(&x, w1, w2, 1, 1, &out);
  const double g = x * gate;
  EXPECT_NEAR(out, g / (1 + std::exp(-g)) * (x * up) * down, 1e-15);
}

TEST(Gemm, RowsMatchTheDotProducts) {
  const int m = 4, n = 3, k = 5;
  const auto a = random_vector(m * k, 14), b = random_vector(n * k, 15);
  const auto c = gemm_rows(a.data(), b.data(), n, k, {1, 3});
  for (int r = 0; r < 2; ++r)
    for (int j = 0; j < n; ++j) {
      double dot = 0;
      for (int i = 0; i < k; ++i) dot += a[(2 * r + 1) * k + i] * b[j * k + i];
      EXPECT_NEAR(c[r * n + j], dot, 1e-12);
    }
}

TEST(RelFroError, IsZeroForEqualAndInfiniteForNan) {
  const std::vector<double> a = {1, 2, 3}, b = {1, 2, std::nan("")};
  EXPECT_EQ(rel_fro_error(a.data(), a.data(), 3), 0.0);
  EXPECT_TRUE(std::isinf(rel_fro_error(b.data(), a.data(), 3)));
  const std::vector<double> c = {1, 2, 4};
  EXPECT_NEAR(rel_fro_error(c.data(), a.data(), 3), 1.0 / std::sqrt(14.0), 1e-15);
}

}  // namespace
}  // namespace quadrant::kernels::ref
