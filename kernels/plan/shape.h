// The named shape parameters of the quadrant ops, read in one place: the ops (make_op) and
// the launch plans (launch_plan.h) parse a shape with the same functions, so that both see
// the same lengths, defaults and errors. Plain C++ (no CUDA).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace quadrant::kernels {

// Named integer shape parameters, e.g. {"batch": 64, "kv_len": 4096}. Each op documents
// the names it reads; unknown or missing names are std::invalid_argument.
using ShapeParams = std::map<std::string, int64_t>;

class ShapeReader {
 public:
  ShapeReader(const ShapeParams& shape, std::string op);
  int64_t get(const std::string& name);
  int64_t get(const std::string& name, int64_t fallback);
  // Call after the last get(): a parameter nobody read is a typo, not a default.
  void finish() const;
  void require(bool condition, const std::string& what) const;

 private:
  const ShapeParams& shape_;
  std::string op_;
  std::set<std::string> used_;
};

// `count` lengths spread evenly between lo and hi (both included when count > 1), in a
// scrambled order (index b takes rank 7919 b mod count): the ops' varlen batches.
std::vector<int64_t> spread_lengths(int64_t count, int64_t lo, int64_t hi);

struct DecodeAttentionShape {
  int64_t batch = 0;
  int heads = 0, kv_heads = 0, head_dim = 0, block_size = 0;
  std::vector<int64_t> kv_lens;  // [batch]
  int64_t kv_bound = 0;          // the host's bound of the lengths (>= every length)
  int64_t max_kv_len() const;
  int64_t kv_tokens() const;
};
// batch, kv_len, kv_len_min [kv_len], kv_len_bound [kv_len] (the host's bound of the lengths,
// as a serving engine that captures one CUDA graph per power-of-two bound passes it), heads,
// kv_heads, head_dim (64|128|256), block_size [16].
DecodeAttentionShape parse_decode_attention(const ShapeParams& shape);

struct PrefillAttentionShape {
  int64_t batch = 0;
  int heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0;
  std::vector<int64_t> q_lens, prefix_lens;  // [batch]
};
// batch, seq_len, seq_len_min [seq_len], prefix_len [0], heads, kv_heads,
// head_dim (64|128|192), v_head_dim [head_dim] ((192, 128): MLA).
PrefillAttentionShape parse_prefill_attention(const ShapeParams& shape);

struct MoeFfnShape {
  int64_t tokens = 0;
  int experts = 0, top_k = 0;
  int64_t hidden = 0, intermediate = 0;
};
// tokens, experts (<= 256), top_k (<= min(experts, 32)), hidden, intermediate (multiples of
// 128). quadrant: "prefill_ffn" or "decode_ffn" (names the errors).
MoeFfnShape parse_moe_ffn(const std::string& quadrant, const ShapeParams& shape);

struct DenseGemmShape {
  int64_t m = 0, n = 0, k = 0;
};
// m, n, k (n and k multiples of 16).
DenseGemmShape parse_dense_gemm(const ShapeParams& shape);

}  // namespace quadrant::kernels
