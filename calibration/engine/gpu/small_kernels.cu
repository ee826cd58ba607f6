#include "calibration/engine/gpu/small_kernels.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/include/cuda_check.h"

namespace quadrant::engine::gpu {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float block_sum(float v, float* scratch) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0;
  for (int w = 0; w < int(blockDim.x / 32); ++w) total += scratch[w];
  __syncthreads();
  return total;
}

// One CTA per row, 16-byte copies (width a multiple of 8).
__global__ void gather_rows_kernel(const bf16* __restrict__ table, const int32_t* __restrict__ rows,
                                   int width, bf16* __restrict__ out) {
  const int i = blockIdx.x;
  const uint4* src = reinterpret_cast<const uint4*>(table + size_t(rows[i]) * width);
  uint4* dst = reinterpret_cast<uint4*>(out + size_t(i) * width);
  for (int c = threadIdx.x; c < width / 8; c += blockDim.x) dst[c] = src[c];
}

// One CTA per row; the row is read into registers once (width <= 8 * kThreads * 4).
template <bool kAdd>
__global__ void rmsnorm_kernel(bf16* __restrict__ residual, const bf16* __restrict__ delta,
                               const bf16* __restrict__ weight, int width, float eps,
                               bf16* __restrict__ out) {
  __shared__ float scratch[kThreads / 32];
  constexpr int kMaxPerThread = 32;
  float v[kMaxPerThread];
  const size_t row = blockIdx.x;
  bf16* x = residual + row * width;
  float sum = 0;
#pragma unroll
  for (int n = 0; n < kMaxPerThread; ++n) {
    const int c = threadIdx.x + n * kThreads;
    if (c >= width) break;
    float a = __bfloat162float(x[c]);
    if constexpr (kAdd) {
      const bf16 s = __float2bfloat16(a + __bfloat162float(delta[row * width + c]));
      x[c] = s;
      a = __bfloat162float(s);
    }
    v[n] = a;
    sum += a * a;
  }
  const float inv = rsqrtf(block_sum(sum, scratch) / float(width) + eps);
#pragma unroll
  for (int n = 0; n < kMaxPerThread; ++n) {
    const int c = threadIdx.x + n * kThreads;
    if (c >= width) break;
    out[row * width + c] = __float2bfloat16(v[n] * inv * __bfloat162float(weight[c]));
  }
}

// One warp per (token, head); head_dim 128: lane l holds dims [4l, 4l + 4). Rotate-half
// pairs dim i with i + 64, i.e. lane l with lane l ^ 16.
__global__ void qk_norm_rope_kernel(bf16* __restrict__ qkv, const int32_t* __restrict__ positions,
                                    int tokens, int heads, int kv_heads, const bf16* q_norm,
                                    const bf16* k_norm, float eps, float log2_theta,
                                    bf16* __restrict__ q_out) {
  constexpr int D = 128;
  const int warp = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int per_token = heads + kv_heads;
  if (warp >= tokens * per_token) return;
  const int t = warp / per_token, h = warp % per_token;
  const bool is_q = h < heads;
  bf16* src = qkv + size_t(t) * (heads + 2 * kv_heads) * D + size_t(h) * D + lane * 4;
  float x[4];
  for (int i = 0; i < 4; ++i) x[i] = __bfloat162float(src[i]);
  const bf16* norm = is_q ? q_norm : k_norm;
  if (norm) {
    float ss = x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3];
    for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    const float inv = rsqrtf(ss / D + eps);
    // Rounded to BF16 as a separate norm layer's output would be.
    for (int i = 0; i < 4; ++i)
      x[i] = __bfloat162float(__float2bfloat16(x[i] * inv * __bfloat162float(norm[lane * 4 + i])));
  }
  const float pos = float(positions[t]);
  const bool first_half = lane < 16;
  float y[4];
  for (int i = 0; i < 4; ++i) {
    const float partner = __shfl_xor_sync(0xffffffffu, x[i], 16);
    const int pair = (lane % 16) * 4 + i;  // rotation index in [0, 64)
    const float inv_freq = exp2f(-log2_theta * float(2 * pair) / float(D));
    float s, c;
    sincosf(pos * inv_freq, &s, &c);
    y[i] = first_half ? x[i] * c - partner * s : x[i] * c + partner * s;
  }
  bf16* dst = is_q ? q_out + (size_t(t) * heads + h) * D + lane * 4 : src;
  for (int i = 0; i < 4; ++i) dst[i] = __float2bfloat16(y[i]);
}

// One thread per 16 bytes of a token's K or V head.
__global__ void kv_write_kernel(const bf16* __restrict__ qkv, const int32_t* __restrict__ slots,
                                int tokens, int heads, int kv_heads, int head_dim,
                                bf16* __restrict__ k_cache, bf16* __restrict__ v_cache) {
  const int chunks = head_dim / 8;
  const int64_t per_token = int64_t(2) * kv_heads * chunks;
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= tokens * per_token) return;
  const int t = int(i / per_token);
  const int slot = slots[t];
  if (slot < 0) return;
  const int rest = int(i % per_token);
  const int which = rest / (kv_heads * chunks);  // 0: K, 1: V
  const int h = (rest / chunks) % kv_heads, c = rest % chunks;
  const bf16* src = qkv + size_t(t) * (heads + 2 * kv_heads) * head_dim +
                    size_t(heads + which * kv_heads + h) * head_dim + c * 8;
  bf16* dst = (which ? v_cache : k_cache) + (size_t(slot) * kv_heads + h) * head_dim + c * 8;
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
}

__global__ void kv_gather_kernel(const bf16* __restrict__ k_cache, const bf16* __restrict__ v_cache,
                                 const int32_t* __restrict__ slots, int count, int row_chunks,
                                 bf16* __restrict__ k_out, bf16* __restrict__ v_out) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= int64_t(count) * row_chunks) return;
  const int t = int(i / row_chunks), c = int(i % row_chunks);
  const size_t src = size_t(slots[t]) * row_chunks + c, dst = size_t(t) * row_chunks + c;
  reinterpret_cast<uint4*>(k_out)[dst] = reinterpret_cast<const uint4*>(k_cache)[src];
  reinterpret_cast<uint4*>(v_out)[dst] = reinterpret_cast<const uint4*>(v_cache)[src];
}

// One thread per 16 bytes of one block of one layer, K and V.
__global__ void kv_copy_blocks_kernel(const bf16* __restrict__ src_k,
                                      const bf16* __restrict__ src_v, int64_t src_layer_stride,
                                      bf16* __restrict__ dst_k, bf16* __restrict__ dst_v,
                                      int64_t dst_layer_stride, const int32_t* __restrict__ pairs,
                                      int count, int layers, int64_t block_chunks) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t per_layer = int64_t(count) * block_chunks;
  if (i >= per_layer * layers) return;
  const int layer = int(i / per_layer);
  const int64_t rest = i % per_layer;
  const int pair = int(rest / block_chunks);
  const int64_t c = rest % block_chunks;
  const int64_t src = layer * src_layer_stride / 8 + pairs[2 * pair] * block_chunks + c;
  const int64_t dst = layer * dst_layer_stride / 8 + pairs[2 * pair + 1] * block_chunks + c;
  reinterpret_cast<uint4*>(dst_k)[dst] = reinterpret_cast<const uint4*>(src_k)[src];
  reinterpret_cast<uint4*>(dst_v)[dst] = reinterpret_cast<const uint4*>(src_v)[src];
}

__global__ void argmax_kernel(const bf16* __restrict__ logits, int width,
                              int32_t* __restrict__ out) {
  __shared__ float best_v[kThreads / 32];
  __shared__ int best_i[kThreads / 32];
  const bf16* row = logits + size_t(blockIdx.x) * width;
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  for (int c = threadIdx.x; c < width; c += blockDim.x) {
    const float v = __bfloat162float(row[c]);
    if (v > bv) {  // ascending c per thread: the first of equals stays
      bv = v;
      bi = c;
    }
  }
  for (int off = 16; off > 0; off /= 2) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, off);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, off);
    if (ov > bv || (ov == bv && oi < bi)) {
      bv = ov;
      bi = oi;
    }
  }
  if (threadIdx.x % 32 == 0) {
    best_v[threadIdx.x / 32] = bv;
    best_i[threadIdx.x / 32] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / 32; ++w)
      if (best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)) {
        bv = best_v[w];
        bi = best_i[w];
      }
    out[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;  // an all-NaN row samples token 0
  }
}

__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One thread per token: draw top_k distinct experts (rejection on repeats).
__global__ void pin_router_logits_kernel(bf16* __restrict__ logits,
                                         const int32_t* __restrict__ tokens,
                                         const int32_t* __restrict__ positions, int count,
                                         int experts, int top_k, uint64_t salt) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= count) return;
  bf16* row = logits + size_t(t) * experts;
  for (int e = 0; e < experts; ++e) row[e] = __float2bfloat16(0.0f);
  uint64_t state =
      mix(salt * 0x9E3779B97F4A7C15ull + uint64_t(uint32_t(positions[t])) * 0x100000001B3ull +
          uint64_t(uint32_t(tokens[t])));
  for (int j = 0; j < top_k;) {
    state = mix(state + 0x632BE59BD9B4E019ull);
    const int e = int(state % uint64_t(experts));
    if (__bfloat162float(row[e]) != 0.0f) continue;  // already chosen
    row[e] = __float2bfloat16(8.0f + float(state >> 40) * (1.0f / 16777216.0f));
    ++j;
  }
}

unsigned blocks_for(int64_t threads) {
  return static_cast<unsigned>((threads + kThreads - 1) / kThreads);
}

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("engine small kernels: ") + what);
}

}  // namespace

void gather_rows(const bf16* table, const int32_t* rows, int count, int width, bf16* out,
                 cudaStream_t stream) {
  require(width % 8 == 0, "gather_rows: width must be a multiple of 8");
  if (count <= 0) return;
  gather_rows_kernel<<<count, 128, 0, stream>>>(table, rows, width, out);
  QK_LAUNCH_CHECK("gather_rows_kernel");
}

void rmsnorm(const bf16* x, const bf16* weight, int rows, int width, float eps, bf16* out,
             cudaStream_t stream) {
  require(width <= 32 * kThreads, "rmsnorm: width above 8192");
  if (rows <= 0) return;
  rmsnorm_kernel<false>
      <<<rows, kThreads, 0, stream>>>(const_cast<bf16*>(x), nullptr, weight, width, eps, out);
  QK_LAUNCH_CHECK("rmsnorm_kernel");
}

void add_rmsnorm(bf16* residual, const bf16* delta, const bf16* weight, int rows, int width,
                 float eps, bf16* out, cudaStream_t stream) {
  require(width <= 32 * kThreads, "add_rmsnorm: width above 8192");
  if (rows <= 0) return;
  rmsnorm_kernel<true><<<rows, kThreads, 0, stream>>>(residual, delta, weight, width, eps, out);
  QK_LAUNCH_CHECK("add_rmsnorm_kernel");
}

void qk_norm_rope(bf16* qkv, const int32_t* positions, int tokens, int heads, int kv_heads,
                  int head_dim, const bf16* q_norm, const bf16* k_norm, float eps, float theta,
                  bf16* q_out, cudaStream_t stream) {
  require(head_dim == 128, "qk_norm_rope: head_dim must be 128");
  if (tokens <= 0) return;
  const int64_t warps = int64_t(tokens) * (heads + kv_heads);
  qk_norm_rope_kernel<<<blocks_for(warps * 32), kThreads, 0, stream>>>(
      qkv, positions, tokens, heads, kv_heads, q_norm, k_norm, eps, std::log2(theta), q_out);
  QK_LAUNCH_CHECK("qk_norm_rope_kernel");
}

void kv_cache_write(const bf16* qkv, const int32_t* slots, int tokens, int heads, int kv_heads,
                    int head_dim, bf16* k_cache, bf16* v_cache, cudaStream_t stream) {
  require(head_dim % 8 == 0, "kv_cache_write: head_dim must be a multiple of 8");
  if (tokens <= 0) return;
  const int64_t threads = int64_t(tokens) * 2 * kv_heads * (head_dim / 8);
  kv_write_kernel<<<blocks_for(threads), kThreads, 0, stream>>>(qkv, slots, tokens, heads, kv_heads,
                                                                head_dim, k_cache, v_cache);
  QK_LAUNCH_CHECK("kv_write_kernel");
}

void kv_cache_gather(const bf16* k_cache, const bf16* v_cache, const int32_t* slots, int count,
                     int kv_heads, int head_dim, bf16* k_out, bf16* v_out, cudaStream_t stream) {
  require(head_dim % 8 == 0, "kv_cache_gather: head_dim must be a multiple of 8");
  if (count <= 0) return;
  const int row_chunks = kv_heads * head_dim / 8;
  kv_gather_kernel<<<blocks_for(int64_t(count) * row_chunks), kThreads, 0, stream>>>(
      k_cache, v_cache, slots, count, row_chunks, k_out, v_out);
  QK_LAUNCH_CHECK("kv_gather_kernel");
}

void kv_copy_blocks(const bf16* src_k, const bf16* src_v, int64_t src_layer_stride, bf16* dst_k,
                    bf16* dst_v, int64_t dst_layer_stride, const int32_t* pairs, int count,
                    int layers, int64_t block_elems, cudaStream_t stream) {
  require(block_elems % 8 == 0 && src_layer_stride % 8 == 0 && dst_layer_stride % 8 == 0,
          "kv_copy_blocks: blocks and layer strides must be multiples of 8 elements");
  if (count <= 0 || layers <= 0) return;
  const int64_t threads = int64_t(count) * layers * (block_elems / 8);
  kv_copy_blocks_kernel<<<blocks_for(threads), kThreads, 0, stream>>>(
      src_k, src_v, src_layer_stride, dst_k, dst_v, dst_layer_stride, pairs, count, layers,
      block_elems / 8);
  QK_LAUNCH_CHECK("kv_copy_blocks_kernel");
}

void argmax_rows(const bf16* logits, int rows, int width, int32_t* out, cudaStream_t stream) {
  if (rows <= 0) return;
  argmax_kernel<<<rows, kThreads, 0, stream>>>(logits, width, out);
  QK_LAUNCH_CHECK("argmax_kernel");
}

void pin_router_logits(bf16* logits, const int32_t* tokens, const int32_t* positions, int count,
                       int experts, int top_k, uint64_t salt, cudaStream_t stream) {
  require(top_k >= 1 && top_k <= experts, "pin_router_logits: need 1 <= top_k <= experts");
  if (count <= 0) return;
  pin_router_logits_kernel<<<blocks_for(count), kThreads, 0, stream>>>(logits, tokens, positions,
                                                                       count, experts, top_k, salt);
  QK_LAUNCH_CHECK("pin_router_logits_kernel");
}

}  // namespace quadrant::engine::gpu
