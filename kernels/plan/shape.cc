#include "kernels/plan/shape.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace quadrant::kernels {

ShapeReader::ShapeReader(const ShapeParams& shape, std::string op)
    : shape_(shape), op_(std::move(op)) {}

int64_t ShapeReader::get(const std::string& name) {
  auto it = shape_.find(name);
  if (it == shape_.end())
    throw std::invalid_argument(op_ + ": missing shape parameter '" + name + "'");
  used_.insert(name);
  return it->second;
}

int64_t ShapeReader::get(const std::string& name, int64_t fallback) {
  used_.insert(name);
  auto it = shape_.find(name);
  return it == shape_.end() ? fallback : it->second;
}

void ShapeReader::finish() const {
  for (const auto& [name, value] : shape_)
    if (!used_.count(name))
      throw std::invalid_argument(op_ + ": unknown shape parameter '" + name + "'");
}

void ShapeReader::require(bool condition, const std::string& what) const {
  if (!condition) throw std::invalid_argument(op_ + ": " + what);
}

std::vector<int64_t> spread_lengths(int64_t count, int64_t lo, int64_t hi) {
  std::vector<int64_t> lens(count);
  for (int64_t b = 0; b < count; ++b) {
    const int64_t rank = (b * 7919) % count;
    lens[b] = lo + (hi - lo) * rank / std::max<int64_t>(1, count - 1);
  }
  return lens;
}

int64_t DecodeAttentionShape::max_kv_len() const {
  return *std::max_element(kv_lens.begin(), kv_lens.end());
}
int64_t DecodeAttentionShape::kv_tokens() const {
  return std::accumulate(kv_lens.begin(), kv_lens.end(), int64_t{0});
}

DecodeAttentionShape parse_decode_attention(const ShapeParams& shape) {
  ShapeReader r(shape, "decode_attention");
  DecodeAttentionShape s;
  s.batch = r.get("batch");
  const int64_t kv_len = r.get("kv_len");
  const int64_t kv_len_min = r.get("kv_len_min", kv_len);
  s.kv_bound = r.get("kv_len_bound", kv_len);
  s.heads = static_cast<int>(r.get("heads"));
  s.kv_heads = static_cast<int>(r.get("kv_heads"));
  s.head_dim = static_cast<int>(r.get("head_dim"));
  s.block_size = static_cast<int>(r.get("block_size", 16));
  r.finish();
  r.require(s.batch >= 1 && kv_len_min >= 1 && kv_len >= kv_len_min,
            "need batch >= 1 and 1 <= kv_len_min <= kv_len");
  r.require(s.kv_bound >= kv_len, "need kv_len_bound >= kv_len");
  r.require(s.kv_heads >= 1 && s.heads % s.kv_heads == 0, "heads must be a multiple of kv_heads");
  const int group = s.heads / s.kv_heads;
  r.require(group <= 8 ? (8 % group == 0) : (group % 8 == 0),
            "heads / kv_heads must divide 8 or be a multiple of 8");
  r.require(s.head_dim == 64 || s.head_dim == 128 || s.head_dim == 256,
            "head_dim must be 64, 128 or 256");
  r.require(s.block_size >= 1, "block_size must be >= 1");
  s.kv_lens = spread_lengths(s.batch, kv_len_min, kv_len);
  return s;
}

PrefillAttentionShape parse_prefill_attention(const ShapeParams& shape) {
  ShapeReader r(shape, "prefill_attention");
  PrefillAttentionShape s;
  s.batch = r.get("batch");
  const int64_t seq_len = r.get("seq_len");
  const int64_t seq_len_min = r.get("seq_len_min", seq_len);
  const int64_t prefix = r.get("prefix_len", 0);
  s.heads = static_cast<int>(r.get("heads"));
  s.kv_heads = static_cast<int>(r.get("kv_heads"));
  s.head_dim = static_cast<int>(r.get("head_dim"));
  s.v_head_dim = static_cast<int>(r.get("v_head_dim", s.head_dim));
  r.finish();
  r.require(s.batch >= 1 && seq_len_min >= 1 && seq_len >= seq_len_min && prefix >= 0,
            "need batch >= 1, 1 <= seq_len_min <= seq_len, prefix_len >= 0");
  r.require(s.kv_heads >= 1 && s.heads % s.kv_heads == 0, "heads must be a multiple of kv_heads");
  const int dqk = s.head_dim, dv = s.v_head_dim;
  r.require((dqk == 64 && dv == 64) || (dqk == 128 && dv == 128) || (dqk == 192 && dv == 128),
            "(head_dim, v_head_dim) must be (64, 64), (128, 128) or (192, 128)");
  s.q_lens = spread_lengths(s.batch, seq_len_min, seq_len);
  s.prefix_lens.assign(s.batch, prefix);
  return s;
}

MoeFfnShape parse_moe_ffn(const std::string& quadrant, const ShapeParams& shape) {
  ShapeReader r(shape, quadrant);
  MoeFfnShape s;
  s.tokens = r.get("tokens");
  s.experts = static_cast<int>(r.get("experts"));
  s.top_k = static_cast<int>(r.get("top_k"));
  s.hidden = r.get("hidden");
  s.intermediate = r.get("intermediate");
  r.finish();
  r.require(s.tokens >= 1, "tokens must be >= 1");
  r.require(s.experts >= 1 && s.experts <= 256, "experts must be in [1, 256]");
  r.require(s.top_k >= 1 && s.top_k <= s.experts && s.top_k <= 32,
            "top_k must be in [1, min(experts, 32)]");
  r.require(
      s.hidden >= 128 && s.intermediate >= 128 && s.hidden % 128 == 0 && s.intermediate % 128 == 0,
      "hidden and intermediate must be positive multiples of 128");
  return s;
}

DenseGemmShape parse_dense_gemm(const ShapeParams& shape) {
  ShapeReader r(shape, "dense_gemm");
  DenseGemmShape s;
  s.m = r.get("m");
  s.n = r.get("n");
  s.k = r.get("k");
  r.finish();
  r.require(s.m >= 1 && s.n >= 1 && s.k >= 16 && s.k % 16 == 0 && s.n % 16 == 0,
            "need m >= 1, n and k multiples of 16");
  return s;
}

}  // namespace quadrant::kernels
