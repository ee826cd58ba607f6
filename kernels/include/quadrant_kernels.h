// The quadrant kernels as launch functions on CALLER-owned device buffers: what a serving
// engine (issue 11) builds a model step from. QuadrantOp (quadrant_op.h) is a front end
// over these same functions that owns random buffers; there is one implementation.
//
// Conventions, for every function below:
//  - Row-major, the last index fastest; every pointer 16-byte aligned (cudaMalloc gives 256),
//    every workspace 256-byte aligned and at least the *_workspace_bytes() of its problem.
//  - BF16 is __nv_bfloat16, E4M3 is __nv_fp8_e4m3 (one byte); a real value of an E4M3
//    tensor is code x its scale.
//  - Launch functions only enqueue work on `stream`: no host synchronisation, no
//    allocation. Those marked graph-capturable may be captured in a CUDA graph and replayed
//    with new buffer CONTENTS (lengths, block tables, routing), never new addresses or
//    problem fields (those are baked into the launch).
//  - A bad problem throws std::invalid_argument before anything is enqueued; a CUDA error
//    throws std::runtime_error naming the call or kernel.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace quadrant::kernels {

enum class DType { kBf16, kE4m3 };

// ---------------------------------------------------------------------------------------
// 1. Decode attention over a paged KV cache (split-KV flash decoding, then a log-sum-exp
//    combine). One query token per sequence; GQA.
struct DecodeAttentionProblem {
  int batch = 0;                // sequences (a graph bucket's size: padded ones have length 0)
  int heads = 0, kv_heads = 0;  // heads / kv_heads divides 8 or is a multiple of 8
  int head_dim = 0;             // 64, 128 or 256
  int block_tokens = 16;        // tokens per KV-cache block
  int max_blocks = 0;           // row stride of the block table
  // Host upper bound of every kv_lens[b] (e.g. the bucket's longest context): sets the
  // split count. The lengths themselves are read on the device.
  int max_kv_len = 0;
  DType kv_dtype = DType::kBf16;  // BF16 or E4M3 KV cache
  float softmax_scale = 0;        // 0: 1 / sqrt(head_dim)
  // -1: the default; 0: CUDA-core kernel; 1: tensor cores (head_dim 128 only; the default there).
  int variant = -1;
  // 0: the split count of plan/dispatch.h's heuristic; n > 0: n splits of the longest
  // sequence (benchmark comparison).
  int splits = 0;
};
struct DecodeAttentionBuffers {
  const void* q = nullptr;         // BF16 [batch][heads][head_dim]
  const void* k_cache = nullptr;   // kv_dtype [blocks][block_tokens][kv_heads][head_dim]
  const void* v_cache = nullptr;   // same layout
  const float* k_scale = nullptr;  // E4M3 KV: [kv_heads]; BF16: unused
  const float* v_scale = nullptr;
  const int32_t* block_table =
      nullptr;  // [batch][max_blocks]: block of token t is entry t / block_tokens
  const int32_t* kv_lens = nullptr;  // [batch], each in [0, max_kv_len]; 0 writes zeros
  void* out = nullptr;               // BF16 [batch][heads][head_dim]
  void* workspace = nullptr;         // decode_attention_workspace_bytes()
};
size_t decode_attention_workspace_bytes(const DecodeAttentionProblem& problem);
// Graph-capturable.
void decode_attention(const DecodeAttentionProblem& problem, const DecodeAttentionBuffers& buffers,
                      cudaStream_t stream);

// ---------------------------------------------------------------------------------------
// 2. Prefill attention: causal, GQA, a variable-length batch in which sequence s brings
//    q_lens[s] new tokens after prefix_lens[s] tokens already cached (chunked prefill).
//    Query i of sequence s sees keys 0 .. prefix_lens[s] + i.
struct PrefillAttentionProblem {
  DType dtype = DType::kBf16;  // of Q, K and V (E4M3: head_dim 128 on wgmma, 64 / MLA on mma.sync)
  int heads = 0, kv_heads = 0;
  int head_dim = 0, v_head_dim = 0;          // (64, 64), (128, 128), (192, 128) = MLA
  std::vector<int64_t> q_lens, prefix_lens;  // host copies, [batch]
  float softmax_scale = 0;                   // 0: 1 / sqrt(head_dim)
  int variant = -2;  // -2: the default; -1: mma.sync kernel; 0 .. 7 wgmma variants
};
struct PrefillAttentionBuffers {
  const void* q = nullptr;  // [total_q][heads][head_dim], sequence s at rows cu_q[s] ..
  // [total_k][kv_heads][head_dim] and [total_k][kv_heads][v_head_dim]: sequence s at rows
  // cu_k[s] .. cu_k[s + 1], its prefix first, then its new tokens.
  const void* k = nullptr;
  const void* v = nullptr;
  // E4M3 only: a scale per 64 tokens of a sequence and head. Sequence s's query block j
  // (tokens 64j .. 64j + 63 of its new tokens) at row cu_sq[s] + j of q_scale
  // [rows][heads], with cu_sq[s] = sum over earlier sequences of ceil(q_len / 64); the same
  // for keys (k_scale, v_scale [rows][kv_heads], ceil((prefix + q_len) / 64) rows each).
  const float* q_scale = nullptr;
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
  // Device copies of the offsets ([batch + 1], [batch + 1], [batch]), or nullptr: then
  // prefill_attention_upload() puts them in the workspace from the host lengths.
  const int32_t* cu_q = nullptr;
  const int32_t* cu_k = nullptr;
  const int32_t* prefix = nullptr;
  void* out = nullptr;        // BF16 [total_q][heads][v_head_dim]
  void* workspace = nullptr;  // prefill_attention_workspace_bytes()
};
size_t prefill_attention_workspace_bytes(const PrefillAttentionProblem& problem);
// A bound for every problem of these heads and dims (q_lens, prefix_lens ignored) with at
// most max_seqs sequences, max_q_tokens new tokens and max_k_tokens keys in all: one
// workspace an engine allocates once.
size_t prefill_attention_workspace_bound(const PrefillAttentionProblem& problem, int64_t max_seqs,
                                         int64_t max_q_tokens, int64_t max_k_tokens);
// Copies the host-built tile list (and the offsets the caller did not give) into the
// workspace (cudaMemcpyAsync from pageable memory: not capturable).
void prefill_attention_upload(const PrefillAttentionProblem& problem,
                              const PrefillAttentionBuffers& buffers, cudaStream_t stream);
// The kernels only (after an upload of the same problem into the same workspace):
// graph-capturable.
void prefill_attention_launch(const PrefillAttentionProblem& problem,
                              const PrefillAttentionBuffers& buffers, cudaStream_t stream);
// Upload, then launch.
void prefill_attention(const PrefillAttentionProblem& problem,
                       const PrefillAttentionBuffers& buffers, cudaStream_t stream);

// ---------------------------------------------------------------------------------------
// 3. MoE FFN step: top-k routing, permutation of (token, slot) pairs into rows grouped by
//    expert, gate/up grouped GEMM with SiLU(gate) * up, down grouped GEMM, weighted
//    combine: out[t] = sum_j weight[t][j] * FFN_{expert[t][j]}(x[t]).
enum class MoeFormat {
  kBf16,  // BF16 weights and activations
  kFp8,   // E4M3 weights (a scale per 128x128 block), E4M3 activations (per row and 128 k)
  kW4a8,  // INT4 weights (a scale per weight row and 128 k), E4M3 activations
};
struct MoeFfnProblem {
  MoeFormat format = MoeFormat::kBf16;
  int64_t tokens = 0;  // sets the GEMM path: 48+ rows per expert (tokens * top_k / experts) wgmma
  int experts = 0;     // <= 256
  int top_k = 0;       // <= min(experts, 32)
  int64_t hidden = 0, intermediate = 0;  // multiples of 128
};
// Expert weights in the kernels' layouts (moe_ffn_fill_weights writes them). n x k per
// matrix: w1 is [experts][2 * intermediate][hidden] (gate rows, then up rows), w2
// [experts][hidden][intermediate].
//  - kBf16: w1, w2 BF16; no scales.
//  - kFp8: w1, w2 E4M3; w1_scale [experts][2 * intermediate / 128][hidden / 128], w2_scale
//    [experts][hidden / 128][intermediate / 128].
//  - kW4a8: w1, w2 packed INT4, [experts][n][k / 2] bytes, element i in the low nibble of
//    byte i / 2 when i is even, the high one when odd, value = nibble - 8 (numeric.h);
//    scales transposed to [experts][k / 128][n]. The mma.sync path (decode sizes) reads the
//    same INT4 repacked in mma fragment order (w1_frag, w2_frag, same sizes); the wgmma
//    path (prefill sizes) reads w1 and w2. A caller running both paths keeps both.
struct MoeFfnWeights {
  const void* w1 = nullptr;
  const void* w2 = nullptr;
  const float* w1_scale = nullptr;
  const float* w2_scale = nullptr;
  const void* w1_frag = nullptr;  // kW4a8, mma.sync path only
  const void* w2_frag = nullptr;
};
struct MoeWeightBytes {
  size_t w1 = 0, w2 = 0, w1_scale = 0, w2_scale = 0, w1_frag = 0, w2_frag = 0;
  size_t total() const { return w1 + w2 + w1_scale + w2_scale + w1_frag + w2_frag; }
};
// Bytes of each weight buffer of one layer; mma_path / wgmma_path: the paths the caller
// will run (only kW4a8 stores a second copy for the mma.sync path).
MoeWeightBytes moe_ffn_weight_bytes(const MoeFfnProblem& problem, bool mma_path = true,
                                    bool wgmma_path = true);
// Seeded random weights in the kernels' layouts, at amplitudes that keep activations near
// unit variance (timing-true, not a model's). Fills the non-null buffers of `weights`
// (const_cast: the caller owns them); w*_frag is repacked from w* when both are given.
void moe_ffn_fill_weights(const MoeFfnProblem& problem, const MoeFfnWeights& weights, uint64_t seed,
                          cudaStream_t stream);
struct MoeFfnBuffers {
  const void* x = nullptr;  // BF16 [tokens][hidden]
  // Routing, one of: router logits [tokens][experts] (FP32, or BF16 with logits_bf16), top-k
  // taken on the device with a softmax over the chosen (Mixtral; equals Qwen3's softmax-all,
  // top-k, renormalise); or given ids and weights [tokens][top_k] (then logits is nullptr).
  const void* router_logits = nullptr;
  bool logits_bf16 = false;
  const int32_t* topk_ids = nullptr;
  const float* topk_weights = nullptr;
  void* out = nullptr;        // BF16 [tokens][hidden]
  void* workspace = nullptr;  // moe_ffn_workspace_bytes()
};
// Enough for every step of this problem with at most problem.tokens tokens, whichever GEMM
// path a smaller step takes: one workspace serves every layer and every step.
size_t moe_ffn_workspace_bytes(const MoeFfnProblem& problem);
// Graph-capturable (the tile schedule is built on the device).
void moe_ffn(const MoeFfnProblem& problem, const MoeFfnWeights& weights,
             const MoeFfnBuffers& buffers, cudaStream_t stream);

// ---------------------------------------------------------------------------------------
// 4. Dense GEMM through cuBLASLt: C[m][n] (BF16) = alpha * A[m][k] . B[n][k]^T, A and B
//    both BF16 or both E4M3 (alpha then carries their per-tensor scales). B is stored as
//    weights are, one row per output feature. n and k multiples of 16.
struct DenseGemmProblem {
  int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::kBf16;
  float alpha = 1.0f;
};
// cuBLASLt's workspace the GEMM may use (shared by GEMMs that run one after another).
inline constexpr size_t kDenseGemmWorkspaceBytes = size_t(32) << 20;
// The plan (heuristic query) of each (m, n, k, dtype) is made once and cached; the first
// call of a shape should happen outside graph capture. Graph-capturable afterwards.
void dense_gemm(const DenseGemmProblem& problem, const void* a, const void* b, void* c,
                void* workspace, cudaStream_t stream);

// Seeded uniform random fills for a caller's buffers (the engine's random model weights
// and inputs): BF16 in [lo, hi); E4M3 codes of uniform values in [-amplitude, amplitude).
void fill_random_bf16(void* data, size_t count, uint64_t seed, float lo, float hi,
                      cudaStream_t stream);
void fill_random_e4m3(void* data, size_t count, uint64_t seed, float amplitude,
                      cudaStream_t stream);
void fill_random_f32(float* data, size_t count, uint64_t seed, float lo, float hi,
                     cudaStream_t stream);

}  // namespace quadrant::kernels
