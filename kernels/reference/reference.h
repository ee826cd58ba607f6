// CPU references (float64, no CUDA) of the quadrant kernels. They are written as the
// textbook formulas, loop by loop, so that they can be read against the papers; the GPU
// checks decode device buffers (numeric.h) and compare against these.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace quadrant::kernels::ref {

// ||out - ref||_F / ||ref||_F; NaN in out gives +infinity.
double rel_fro_error(const double* out, const double* ref, size_t count);

// softmax(scale * q.K^T) V for one query against `keys` rows; k_row(i) / v_row(i) give
// the i-th key and value vectors.
template <class KeyRow, class ValueRow>
void attend(const double* q, int64_t keys, int head_dim, int v_head_dim, double scale, KeyRow k_row,
            ValueRow v_row, double* out);

// Causal prefill over a variable-length batch, each sequence a new chunk of q_len tokens
// appended after prefix_len tokens already in the KV cache (chunked prefill). Query i of
// sequence s sees keys 0 .. prefix_len[s] + i. GQA: head h reads kv head h / (heads /
// kv_heads).
struct PrefillAttentionProblem {
  std::vector<int64_t> q_lens, prefix_lens;
  int heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0;
  double scale = 0;
  const double* q = nullptr;  // [sum q_len][heads][head_dim]
  const double* k = nullptr;  // [sum (prefix_len + q_len)][kv_heads][head_dim]
  const double* v = nullptr;  // [sum (prefix_len + q_len)][kv_heads][v_head_dim]
};
// Output rows for the given packed query tokens: [tokens.size()][heads][v_head_dim].
std::vector<double> prefill_attention(const PrefillAttentionProblem& p,
                                      const std::vector<int64_t>& tokens);

// Decode: one query token per sequence against a paged KV cache.
struct DecodeAttentionProblem {
  std::vector<int64_t> kv_lens;
  int heads = 0, kv_heads = 0, head_dim = 0, block_size = 0;
  int64_t max_blocks_per_seq = 0;
  double scale = 0;
  const int32_t* block_table = nullptr;  // [batch][max_blocks_per_seq] -> cache block
  const double* q = nullptr;             // [batch][heads][head_dim]
  const double* k_cache = nullptr;       // [blocks][block_size][kv_heads][head_dim]
  const double* v_cache = nullptr;       // same layout
};
// Output for the given sequences: [seqs.size()][heads][head_dim].
std::vector<double> decode_attention(const DecodeAttentionProblem& p,
                                     const std::vector<int64_t>& seqs);

// MoE routing: the top_k largest gate scores of each token (ties to the lower expert
// index), weighted by a softmax over the chosen scores (Mixtral's rule).
struct Routing {
  int top_k = 0;
  std::vector<int32_t> expert;  // [tokens][top_k]
  std::vector<double> weight;   // [tokens][top_k], each row sums to 1
};
Routing route_top_k(const float* scores, int64_t tokens, int experts, int top_k);

// Permutation of (token, slot) pairs to rows grouped by expert, in (token, slot) order
// inside each expert.
struct Permutation {
  std::vector<int64_t> expert_offsets;  // [experts + 1]
  std::vector<int64_t> row_token;       // [tokens * top_k] token of each permuted row
  std::vector<int64_t> slot_row;        // [tokens * top_k] row of (token, slot)
};
Permutation permute(const Routing& routing, int experts);
// x [tokens][hidden] -> rows [tokens * top_k][hidden] in permuted order.
std::vector<double> gather_rows(const double* x, const Permutation& perm, int64_t hidden);
// rows [tokens * top_k][hidden] -> out[t] = sum_j weight[t][j] * rows[slot_row[t][j]].
std::vector<double> combine_rows(const double* rows, const Permutation& perm,
                                 const Routing& routing, int64_t hidden);

// One expert on one row: (SiLU(x W1g^T) * (x W1u^T)) W2^T, with w1 [2 * inter][hidden]
// (gate rows first, then up rows) and w2 [hidden][inter].
void expert_ffn(const double* x, const double* w1, const double* w2, int64_t hidden, int64_t inter,
                double* out);

// C[m][n] = sum_k A[m][k] B[n][k] for the given rows of A: [rows.size()][n].
std::vector<double> gemm_rows(const double* a, const double* b, int64_t n, int64_t k,
                              const std::vector<int64_t>& rows);

// ---- template definitions ----
template <class KeyRow, class ValueRow>
void attend(const double* q, int64_t keys, int head_dim, int v_head_dim, double scale, KeyRow k_row,
            ValueRow v_row, double* out) {
  std::vector<double> logits(static_cast<size_t>(keys));
  double max_logit = -1e300;
  for (int64_t i = 0; i < keys; ++i) {
    const double* k = k_row(i);
    double dot = 0;
    for (int d = 0; d < head_dim; ++d) dot += q[d] * k[d];
    logits[i] = dot * scale;
    if (logits[i] > max_logit) max_logit = logits[i];
  }
  double sum = 0;
  for (auto& l : logits) sum += (l = std::exp(l - max_logit));
  for (int d = 0; d < v_head_dim; ++d) out[d] = 0;
  for (int64_t i = 0; i < keys; ++i) {
    const double* v = v_row(i);
    const double p = logits[i] / sum;
    for (int d = 0; d < v_head_dim; ++d) out[d] += p * v[d];
  }
}

}  // namespace quadrant::kernels::ref
