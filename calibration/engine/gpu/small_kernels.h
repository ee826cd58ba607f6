// The small kernels of the serving engine's forward step that the quadrant kernels do
// not cover: embedding/row gather, RMSNorm (with the residual add fused), QK-norm + RoPE,
// the paged KV-cache write and gather, greedy sampling (and the checks' pinned routing). Plain and
// correct rather than fast: together they are a few percent of a step. Every one is checked against
// a CPU reference in tests/calibration/engine/gpu/small_kernels_test.cc.
//
// Layouts (row-major, BF16 unless said otherwise):
//   activations [tokens][hidden]; qkv [tokens][(heads + 2 kv_heads) * head_dim] (q heads,
//   then k heads, then v heads); KV cache of one layer: K and V each
//   [blocks][block_tokens][kv_heads][head_dim]; a token's KV slot = block * block_tokens +
//   offset in the block (negative: no slot, the row is padding).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace quadrant::engine::gpu {

using bf16 = __nv_bfloat16;

// out[i] = table[rows[i]] for i < count (embedding lookup, and picking the rows the LM head
// samples).
void gather_rows(const bf16* table, const int32_t* rows, int count, int width, bf16* out,
                 cudaStream_t stream);

// out = x / rms(x) * weight, per row.
void rmsnorm(const bf16* x, const bf16* weight, int rows, int width, float eps, bf16* out,
             cudaStream_t stream);

// residual += delta (rounded to BF16, as the residual stream is kept); out = rmsnorm(residual).
void add_rmsnorm(bf16* residual, const bf16* delta, const bf16* weight, int rows, int width,
                 float eps, bf16* out, cudaStream_t stream);

// Per token: optional RMSNorm of every q and k head over head_dim (Qwen3's QK-norm; null
// weights skip it), then rotary embedding (rotate-half / NeoX layout, inv_freq =
// theta^(-2i/d)) at the token's position. Q goes to q_out [tokens][heads][head_dim]; K is
// rotated in place in qkv. head_dim must be 128.
void qk_norm_rope(bf16* qkv, const int32_t* positions, int tokens, int heads, int kv_heads,
                  int head_dim, const bf16* q_norm, const bf16* k_norm, float eps, float theta,
                  bf16* q_out, cudaStream_t stream);

// K and V heads of each token of qkv into the paged cache at its slot (slot < 0: skipped).
void kv_cache_write(const bf16* qkv, const int32_t* slots, int tokens, int heads, int kv_heads,
                    int head_dim, bf16* k_cache, bf16* v_cache, cudaStream_t stream);

// Contiguous K and V [count][kv_heads][head_dim] of the cache slots given (a prefill
// chunk's prefix and its own tokens, for the varlen prefill attention).
void kv_cache_gather(const bf16* k_cache, const bf16* v_cache, const int32_t* slots, int count,
                     int kv_heads, int head_dim, bf16* k_out, bf16* v_out, cudaStream_t stream);

// Copies KV blocks between two caches of `layers` layers (prefill/decode disaggregation):
// for every layer and pair i, block pairs[2i] of src (K and V) into block pairs[2i + 1]
// of dst. block_elems = block_tokens * kv_heads * head_dim; layer strides in elements.
// src may live on a peer GPU (read over NVLink with peer access enabled).
void kv_copy_blocks(const bf16* src_k, const bf16* src_v, int64_t src_layer_stride, bf16* dst_k,
                    bf16* dst_v, int64_t dst_layer_stride, const int32_t* pairs, int count,
                    int layers, int64_t block_elems, cudaStream_t stream);

// out[r] = the first index of the largest value of logits row r (greedy sampling).
void argmax_rows(const bf16* logits, int rows, int width, int32_t* out, cudaStream_t stream);

// Consistency checks only: overwrites router logits [tokens][experts] so that the top-k
// routing picks top_k distinct experts and weights that depend on (salt, position, token)
// alone: 8 + u for the chosen (u a hash in [0, 1)), 0 for the others. Routing by real
// logits is not batch-invariant (a 1-ulp change of a logit can swap an expert); pinned,
// two paths that compute the same token agree up to rounding.
void pin_router_logits(bf16* logits, const int32_t* tokens, const int32_t* positions, int count,
                       int experts, int top_k, uint64_t salt, cudaStream_t stream);

}  // namespace quadrant::engine::gpu
