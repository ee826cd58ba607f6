#include "kernels/reference/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace quadrant::kernels::ref {

double rel_fro_error(const double* out, const double* ref, size_t count) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < count; ++i) {
    if (std::isnan(out[i])) return std::numeric_limits<double>::infinity();
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

std::vector<double> prefill_attention(const PrefillAttentionProblem& p,
                                      const std::vector<int64_t>& tokens) {
  const int group = p.heads / p.kv_heads;
  std::vector<int64_t> q_start(p.q_lens.size() + 1, 0), k_start(p.q_lens.size() + 1, 0);
  for (size_t s = 0; s < p.q_lens.size(); ++s) {
    q_start[s + 1] = q_start[s] + p.q_lens[s];
    k_start[s + 1] = k_start[s] + p.prefix_lens[s] + p.q_lens[s];
  }
  std::vector<double> out(tokens.size() * p.heads * p.v_head_dim);
  for (size_t r = 0; r < tokens.size(); ++r) {
    const int64_t t = tokens[r];
    const size_t s = std::upper_bound(q_start.begin(), q_start.end(), t) - q_start.begin() - 1;
    const int64_t i = t - q_start[s];
    const int64_t keys = p.prefix_lens[s] + i + 1;
    for (int h = 0; h < p.heads; ++h) {
      const int kvh = h / group;
      auto k_row = [&](int64_t j) {
        return p.k + ((k_start[s] + j) * p.kv_heads + kvh) * p.head_dim;
      };
      auto v_row = [&](int64_t j) {
        return p.v + ((k_start[s] + j) * p.kv_heads + kvh) * p.v_head_dim;
      };
      attend(p.q + (t * p.heads + h) * p.head_dim, keys, p.head_dim, p.v_head_dim, p.scale, k_row,
             v_row, out.data() + (r * p.heads + h) * p.v_head_dim);
    }
  }
  return out;
}

std::vector<double> decode_attention(const DecodeAttentionProblem& p,
                                     const std::vector<int64_t>& seqs) {
  const int group = p.heads / p.kv_heads;
  std::vector<double> out(seqs.size() * p.heads * p.head_dim);
  for (size_t r = 0; r < seqs.size(); ++r) {
    const int64_t b = seqs[r];
    for (int h = 0; h < p.heads; ++h) {
      const int kvh = h / group;
      auto offset = [&](int64_t j) {
        const int64_t block = p.block_table[b * p.max_blocks_per_seq + j / p.block_size];
        return ((block * p.block_size + j % p.block_size) * p.kv_heads + kvh) * p.head_dim;
      };
      attend(
          p.q + (b * p.heads + h) * p.head_dim, p.kv_lens[b], p.head_dim, p.head_dim, p.scale,
          [&](int64_t j) { return p.k_cache + offset(j); },
          [&](int64_t j) { return p.v_cache + offset(j); },
          out.data() + (r * p.heads + h) * p.head_dim);
    }
  }
  return out;
}

Routing route_top_k(const float* scores, int64_t tokens, int experts, int top_k) {
  if (top_k < 1 || top_k > experts) throw std::invalid_argument("route_top_k: bad top_k");
  Routing r;
  r.top_k = top_k;
  r.expert.resize(tokens * top_k);
  r.weight.resize(tokens * top_k);
  std::vector<int> order(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    const float* s = scores + t * experts;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return s[a] > s[b]; });
    double max_score = s[order[0]], sum = 0;
    for (int j = 0; j < top_k; ++j) {
      r.expert[t * top_k + j] = order[j];
      sum += (r.weight[t * top_k + j] = std::exp(double(s[order[j]]) - max_score));
    }
    for (int j = 0; j < top_k; ++j) r.weight[t * top_k + j] /= sum;
  }
  return r;
}

Permutation permute(const Routing& routing, int experts) {
  const int64_t slots = static_cast<int64_t>(routing.expert.size());
  Permutation p;
  p.expert_offsets.assign(experts + 1, 0);
  for (int32_t e : routing.expert) ++p.expert_offsets[e + 1];
  for (int e = 0; e < experts; ++e) p.expert_offsets[e + 1] += p.expert_offsets[e];
  std::vector<int64_t> fill(p.expert_offsets.begin(), p.expert_offsets.end() - 1);
  p.row_token.resize(slots);
  p.slot_row.resize(slots);
  for (int64_t slot = 0; slot < slots; ++slot) {
    const int64_t row = fill[routing.expert[slot]]++;
    p.row_token[row] = slot / routing.top_k;
    p.slot_row[slot] = row;
  }
  return p;
}

std::vector<double> gather_rows(const double* x, const Permutation& perm, int64_t hidden) {
  std::vector<double> rows(perm.row_token.size() * hidden);
  for (size_t r = 0; r < perm.row_token.size(); ++r)
    std::copy_n(x + perm.row_token[r] * hidden, hidden, rows.data() + r * hidden);
  return rows;
}

std::vector<double> combine_rows(const double* rows, const Permutation& perm,
                                 const Routing& routing, int64_t hidden) {
  const int64_t tokens = static_cast<int64_t>(perm.slot_row.size()) / routing.top_k;
  std::vector<double> out(tokens * hidden, 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int j = 0; j < routing.top_k; ++j) {
      const double w = routing.weight[t * routing.top_k + j];
      const double* row = rows + perm.slot_row[t * routing.top_k + j] * hidden;
      for (int64_t h = 0; h < hidden; ++h) out[t * hidden + h] += w * row[h];
    }
  return out;
}

void expert_ffn(const double* x, const double* w1, const double* w2, int64_t hidden, int64_t inter,
                double* out) {
  std::vector<double> act(inter);
  for (int64_t i = 0; i < inter; ++i) {
    double gate = 0, up = 0;
    for (int64_t h = 0; h < hidden; ++h) {
      gate += x[h] * w1[i * hidden + h];
      up += x[h] * w1[(inter + i) * hidden + h];
    }
    act[i] = gate / (1.0 + std::exp(-gate)) * up;
  }
  for (int64_t h = 0; h < hidden; ++h) {
    double sum = 0;
    for (int64_t i = 0; i < inter; ++i) sum += act[i] * w2[h * inter + i];
    out[h] = sum;
  }
}

std::vector<double> gemm_rows(const double* a, const double* b, int64_t n, int64_t k,
                              const std::vector<int64_t>& rows) {
  std::vector<double> c(rows.size() * n);
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += a[rows[r] * k + i] * b[j * k + i];
      c[r * n + j] = sum;
    }
  return c;
}

}  // namespace quadrant::kernels::ref
