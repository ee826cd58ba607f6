// MoE FFN (prefill and decode quadrants): top-k routing over gate scores, permutation
// of (token, slot) pairs into rows grouped by expert, two grouped GEMMs over the experts
// (gate/up, then down) with SiLU-and-multiply between, and the weighted un-permuting
// combine. Prefill runs it at hundreds of rows per expert (matrix-bound), decode at a
// few (bound by reading the expert weights).
//
// GEMM paths: at 48+ rows per expert the sm_90a wgmma grouped GEMM (sm90_grouped_gemm.h:
// TMA, HGMMA/QGMMA, SiLU * up fused into the gate/up epilogue; W4A8 dequantised to an E4M3
// copy each step, or, with QUADRANT_W4A8_PREFILL_DEQUANT=producer, in the GEMM's producer
// warpgroup stage by stage); below, the mma.sync kernels here (16-row tiles; W4A8 with the INT4
// weights repacked at prepare and dequantised in registers into the B fragments).
// "bf16_cublaslt" runs the two GEMMs through cuBLASLt once per expert instead.
//
// Shape: tokens, experts (<= 256), top_k, hidden, intermediate (both multiples of 128).
// Formats: bf16; fp8 (E4M3 activations with a scale per row and 128 columns, E4M3
// weights with a scale per 128x128 block, DeepSeek-V3's recipe); w4a8 (INT4 weights with
// a scale per output row and 128 inputs, E4M3 activations). The W4A8 GEMM dequantises
// INT4 to E4M3, not INT8: every value in [-8, 7] is exact in E4M3, the activations are
// already E4M3, and the group scale is applied where the FP8 path applies its block
// scale, so W4A8 reuses the FP8 tensor-core path and adds no error of its own.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <type_traits>

#include "kernels/include/quadrant_kernels.h"
#include "kernels/plan/dispatch.h"
#include "kernels/reference/reference.h"
#include "kernels/src/common.cuh"
#include "kernels/src/int4_e4m3.h"
#include "kernels/src/lt_gemm.h"
#include "kernels/src/op_util.h"
#include "kernels/src/sm90_grouped_gemm.h"
#include "kernels/src/sm90_primitives.cuh"
#include "kernels/src/workspace.h"

namespace quadrant::kernels {
namespace {

enum class Fmt { kBf16, kFp8, kW4a8 };
constexpr int kMaxExperts = plan::kMoeMaxExperts;
// Row tiles: 64 rows at prefill sizes, 16 at decode sizes (a few rows per expert), so
// that the tensor-core work per weight byte read stays small when reading weights is the
// bound.
constexpr int kBn = plan::kMoeMmaBlockN, kBkBytes = 128, kStages = 3,
              kGemmThreads = plan::kMoeGemmThreads;

// ---- routing and permutation ----

// One warp: token's top-k experts and their softmax weights (over the top k).
template <class Score>
__device__ __forceinline__ void topk_one_token(const Score* __restrict__ scores, int token,
                                               int experts, int top_k, int lane,
                                               int32_t* __restrict__ ids,
                                               float* __restrict__ weights) {
  constexpr int kPerLane = kMaxExperts / 32;
  float s[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int e = lane + 32 * i;
    s[i] = e < experts ? static_cast<float>(scores[size_t(token) * experts + e]) : -INFINITY;
  }
  float top_score = 0, sum = 0;
  for (int j = 0; j < top_k; ++j) {
    float best = -INFINITY;
    int best_e = 0x7fffffff;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int e = lane + 32 * i;
      if (e < experts && (s[i] > best || (s[i] == best && e < best_e))) {
        best = s[i];
        best_e = e;
      }
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
      const float ob = __shfl_xor_sync(0xffffffffu, best, off);
      const int oe = __shfl_xor_sync(0xffffffffu, best_e, off);
      if (ob > best || (ob == best && oe < best_e)) {
        best = ob;
        best_e = oe;
      }
    }
#pragma unroll
    for (int i = 0; i < kPerLane; ++i)
      if (lane + 32 * i == best_e) s[i] = -INFINITY;
    if (j == 0) top_score = best;
    const float w = __expf(best - top_score);
    sum += w;
    if (lane == 0) {
      ids[size_t(token) * top_k + j] = best_e;
      weights[size_t(token) * top_k + j] = w;
    }
  }
  __syncwarp();
  if (lane < top_k) weights[size_t(token) * top_k + lane] /= sum;
}

template <class Score>
__global__ void moe_topk_kernel(const Score* __restrict__ scores, int tokens, int experts,
                                int top_k, int32_t* __restrict__ ids, float* __restrict__ weights) {
  grid_dep_wait_then_launch();
  const int token = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (token < tokens) topk_one_token(scores, token, experts, top_k, threadIdx.x % 32, ids, weights);
}

__global__ void moe_count_kernel(const int32_t* __restrict__ ids, int slots,
                                 int32_t* __restrict__ counts) {
  grid_dep_wait_then_launch();
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < slots) atomicAdd(&counts[ids[i]], 1);
}

// One warp: experts are few (<= 256) and this keeps the schedule on the device, so that a
// step is one stream of launches without a host round trip (graph-capturable). Lane l takes
// a run of consecutive experts; a warp scan gives each run its first row and m-tile (one
// thread walking the experts took 5.7-8.7 us on the H200, ncu: a dependent load per expert).
// Per m-tile of bm rows: its expert, first row, and the first m-tile and m-tile count of
// that expert (the wgmma path orders its tiles by them).
__device__ __forceinline__ void schedule_warp(const int32_t* counts, int experts, int bm,
                                              int32_t* offsets, int32_t* fill, int32_t* tile_expert,
                                              int32_t* tile_row, int32_t* tile_first,
                                              int32_t* tile_count, int32_t* num_tiles, int lane) {
  constexpr int kPerLane = kMaxExperts / 32;
  const int per = (experts + 31) / 32;
  const int e0 = min(lane * per, experts), e1 = min(e0 + per, experts);
  int c[kPerLane], my_rows = 0, my_tiles = 0;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    c[i] = e0 + i < e1 ? counts[e0 + i] : 0;
    my_rows += c[i];
    my_tiles += (c[i] + bm - 1) / bm;
  }
  int row = my_rows, tiles = my_tiles;  // inclusive scan over the lanes
#pragma unroll
  for (int off = 1; off < 32; off *= 2) {
    const int r = __shfl_up_sync(0xffffffffu, row, off),
              t = __shfl_up_sync(0xffffffffu, tiles, off);
    if (lane >= off) {
      row += r;
      tiles += t;
    }
  }
  const int total_rows = __shfl_sync(0xffffffffu, row, 31);
  const int total_tiles = __shfl_sync(0xffffffffu, tiles, 31);
  row -= my_rows;
  tiles -= my_tiles;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int e = e0 + i;
    if (e >= e1) break;
    offsets[e] = row;
    fill[e] = row;
    const int first = tiles, count = (c[i] + bm - 1) / bm;
    for (int r = 0; r < c[i]; r += bm) {
      tile_expert[tiles] = e;
      tile_row[tiles] = row + r;
      tile_first[tiles] = first;
      tile_count[tiles] = count;
      ++tiles;
    }
    row += c[i];
  }
  if (lane == 0) {
    offsets[experts] = total_rows;
    *num_tiles = total_tiles;
  }
}

__global__ void __launch_bounds__(plan::kMoeScheduleThreads)
    moe_schedule_kernel(const int32_t* __restrict__ counts, int experts, int bm, int32_t* offsets,
                        int32_t* fill, int32_t* tile_expert, int32_t* tile_row, int32_t* tile_first,
                        int32_t* tile_count, int32_t* num_tiles) {
  grid_dep_wait_then_launch();
  schedule_warp(counts, experts, bm, offsets, fill, tile_expert, tile_row, tile_first, tile_count,
                num_tiles, threadIdx.x);
}

__global__ void moe_scatter_kernel(const int32_t* __restrict__ ids, int slots, int top_k,
                                   int32_t* fill, int32_t* __restrict__ row_token,
                                   int32_t* __restrict__ slot_row) {
  grid_dep_wait_then_launch();
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= slots) return;
  const int row = atomicAdd(&fill[ids[i]], 1);
  row_token[row] = i / top_k;
  slot_row[i] = row;
}

// Decode sizes (plan::moe_fused_route): top-k, counts, schedule and scatter in one CTA, one
// launch instead of a memset and four (each 2-5 us at one token on the H200, ncu). Counts
// and the fill cursors live in shared memory; __syncthreads orders the global writes of one
// stage before the next reads them. scores == nullptr: the ids are given.
template <class Score>
__global__ void __launch_bounds__(plan::kMoeFusedRouteThreads)
    moe_route_fused_kernel(const Score* __restrict__ scores, const int32_t* given_ids, int tokens,
                           int experts, int top_k, int bm, int32_t* ids_out,
                           float* __restrict__ weights, int32_t* counts, int32_t* offsets,
                           int32_t* tile_expert, int32_t* tile_row, int32_t* tile_first,
                           int32_t* tile_count, int32_t* num_tiles, int32_t* __restrict__ row_token,
                           int32_t* __restrict__ slot_row) {
  grid_dep_wait_then_launch();
  __shared__ int32_t s_count[kMaxExperts], s_fill[kMaxExperts];
  constexpr int kWarps = plan::kMoeFusedRouteThreads / 32;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int slots = tokens * top_k;
  for (int e = tid; e < experts; e += blockDim.x) s_count[e] = 0;
  if (scores)
    for (int t = warp; t < tokens; t += kWarps)
      topk_one_token(scores, t, experts, top_k, lane, ids_out, weights);
  __syncthreads();
  const int32_t* ids = scores ? ids_out : given_ids;
  for (int i = tid; i < slots; i += blockDim.x) atomicAdd(&s_count[ids[i]], 1);
  __syncthreads();
  if (warp == 0)
    schedule_warp(s_count, experts, bm, offsets, s_fill, tile_expert, tile_row, tile_first,
                  tile_count, num_tiles, lane);
  for (int e = tid; e < experts; e += blockDim.x) counts[e] = s_count[e];
  __syncthreads();
  for (int i = tid; i < slots; i += blockDim.x) {
    const int row = atomicAdd(&s_fill[ids[i]], 1);
    row_token[row] = i / top_k;
    slot_row[i] = row;
  }
}

// ---- split-K of the decode GEMMs (plan::moe_split_k) ----

// Split `split` of `splits`: its first k block and count, near-equal runs in k order.
struct SplitRange {
  int first, count;
};
__device__ __forceinline__ SplitRange split_range(int k_blocks, int split, int splits) {
  const int first = k_blocks * split / splits;
  return {first, k_blocks * (split + 1) / splits - first};
}
// A GEMM epilogue's two adjacent columns of one row: BF16 to out, or (split-K) the FP32 sums
// to this split's slice of the partial buffer [rows][splits][n].
__device__ __forceinline__ void store_pair(float v0, float v1, int row, int col, int n_total,
                                           bf16* out, float* part) {
  if (part)
    *reinterpret_cast<float2*>(part + (size_t(row) * gridDim.z + blockIdx.z) * n_total + col) =
        make_float2(v0, v1);
  else
    *reinterpret_cast<uint32_t*>(out + size_t(row) * n_total + col) = pack_bf16x2(v0, v1);
}
// The reader's side (split-K): four consecutive columns of a GEMM output row as the GEMM's
// BF16 would give them, the sum of the row's `splits` partials in split order rounded to BF16
// where the GEMM's epilogue rounds.
__device__ __forceinline__ void load4_split_sum(const float* src, int splits, int64_t row,
                                                int64_t n, int64_t col, float (&v)[4]) {
  const float* p = src + row * splits * n + col;
  float4 sum = *reinterpret_cast<const float4*>(p);
  for (int z = 1; z < splits; ++z) {
    const float4 q = *reinterpret_cast<const float4*>(p + z * n);
    sum.x += q.x, sum.y += q.y, sum.z += q.z, sum.w += q.w;
  }
  v[0] = __bfloat162float(__float2bfloat16_rn(sum.x));
  v[1] = __bfloat162float(__float2bfloat16_rn(sum.y));
  v[2] = __bfloat162float(__float2bfloat16_rn(sum.z));
  v[3] = __bfloat162float(__float2bfloat16_rn(sum.w));
}
// Four BF16 of a row as floats.
__device__ __forceinline__ void bf16x4_to_float(uint2 raw, float (&v)[4]) {
  const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
  const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
  v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
}

// One warp per (row, 128 columns): copy, or quantise to E4M3 with the block's amax.
template <class OutT>
__device__ __forceinline__ void store_block(const float (&v)[4], OutT* out, float* scale_out,
                                            float* corr_out, int lane) {
  if constexpr (std::is_same_v<OutT, bf16>) {
    uint2 packed{pack_bf16x2(v[0], v[1]), pack_bf16x2(v[2], v[3])};
    *reinterpret_cast<uint2*>(out + lane * 4) = packed;
  } else {
    float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
    const float scale = fmaxf(amax, 1e-20f) / 448.0f;
    const float inv = 1.0f / scale;
    __nv_fp8x4_e4m3 q(make_float4(v[0] * inv, v[1] * inv, v[2] * inv, v[3] * inv));
    if constexpr (std::is_same_v<OutT, fp8>) {
      *reinterpret_cast<__nv_fp8x4_e4m3*>(out + lane * 4) = q;
      if (corr_out) {
        // W4A8 forms 12-18: the block's sum of E4M3 values / 64, the offset its GEMM takes off
        // (int4_e4m3.h, int4x8_to_e4m3x8_offset).
        const float4 f = static_cast<float4>(q);
        float c = (f.x + f.y) + (f.z + f.w);
#pragma unroll
        for (int off = 16; off > 0; off /= 2) c += __shfl_xor_sync(0xffffffffu, c, off);
        if (lane == 0) *corr_out = c * (1.0f / kW4OffsetCorrDivisor);
      }
    } else {
      // The E4M3 values as FP16 (exact), for the W4A8 decode GEMM's second form, and the
      // per-row constant its offset variant takes off: 1032 x the sum over the first k16 of
      // each k32 step (lanes 0-3 of each 8: columns 4l .. 4l + 3) + 72 x the rest.
      const float4 f = static_cast<float4>(q);
      const __half2 h0 = __floats2half2_rn(f.x, f.y), h1 = __floats2half2_rn(f.z, f.w);
      uint2 packed;
      packed.x = *reinterpret_cast<const uint32_t*>(&h0);
      packed.y = *reinterpret_cast<const uint32_t*>(&h1);
      *reinterpret_cast<uint2*>(out + lane * 4) = packed;
      float c = (f.x + f.y + f.z + f.w) * ((lane % 8) < 4 ? 1032.0f : 72.0f);
#pragma unroll
      for (int off = 16; off > 0; off /= 2) c += __shfl_xor_sync(0xffffffffu, c, off);
      if (lane == 0 && corr_out) *corr_out = c;
    }
    if (lane == 0) *scale_out = scale;
  }
}

template <class OutT>
__global__ void moe_gather_kernel(const bf16* __restrict__ x, const int32_t* __restrict__ row_token,
                                  const int32_t* __restrict__ offsets, int experts, int hidden,
                                  OutT* __restrict__ xp, float* __restrict__ xp_scale,
                                  float* __restrict__ xp_corr, int64_t scale_row_stride,
                                  int64_t scale_blk_stride) {
  // The gate/up GEMM reads the route's outputs before its own wait (moe_grouped_gemm_kernel):
  // this kernel lets it start only once every CTA here has passed its wait (the route ended).
  grid_dep_wait_then_launch();
  const int blocks = hidden / 128;
  const int item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int row = item / blocks, blk = item % blocks;
  if (row >= offsets[experts]) return;
  const bf16* src = x + size_t(row_token[row]) * hidden + blk * 128 + lane * 4;
  const uint2 raw = *reinterpret_cast<const uint2*>(src);
  const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
  const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
  const float v[4] = {a.x, a.y, b.x, b.y};
  const int64_t si = row * scale_row_stride + blk * scale_blk_stride;
  store_block(v, xp + size_t(row) * hidden + blk * 128, xp_scale + si,
              xp_corr ? xp_corr + si : nullptr, lane);
}

// SiLU(gate) * up, from h [rows][2 * inter] (gate columns first; BF16, or with kSplit the
// gate/up GEMM's FP32 split partials [rows][h_splits][2 * inter], summed here) to
// a [rows][inter].
template <class OutT, bool kSplit = false>
__global__ void moe_act_kernel(const void* __restrict__ h, int h_splits,
                               const int32_t* __restrict__ offsets, int experts, int inter,
                               OutT* __restrict__ a, float* __restrict__ a_scale,
                               float* __restrict__ a_corr, int64_t scale_row_stride,
                               int64_t scale_blk_stride) {
  // The down GEMM may start at once (to load its first weight stages while the gate/up GEMM
  // ends): it reads only the route's outputs before its wait, and those are complete once the
  // gate/up GEMM, which let this kernel start, has passed its own wait.
  grid_dep_launch_dependents();
  grid_dep_wait();
  const int blocks = inter / 128;
  const int item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int row = item / blocks, blk = item % blocks;
  if (row >= offsets[experts]) return;
  float gs[4], us[4], v[4];
  if constexpr (kSplit) {
    const auto* hp = static_cast<const float*>(h);
    load4_split_sum(hp, h_splits, row, 2 * inter, blk * 128 + lane * 4, gs);
    load4_split_sum(hp, h_splits, row, 2 * inter, inter + blk * 128 + lane * 4, us);
  } else {
    const bf16* gate = static_cast<const bf16*>(h) + size_t(row) * 2 * inter + blk * 128 + lane * 4;
    const uint2 g = *reinterpret_cast<const uint2*>(gate);
    const uint2 u = *reinterpret_cast<const uint2*>(gate + inter);
    bf16x4_to_float(g, gs);
    bf16x4_to_float(u, us);
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) v[i] = gs[i] / (1.0f + __expf(-gs[i])) * us[i];
  const int64_t si = row * scale_row_stride + blk * scale_blk_stride;
  store_block(v, a + size_t(row) * inter + blk * 128, a_scale + si, a_corr ? a_corr + si : nullptr,
              lane);
}

// out[t] = sum_j weight[t][j] y[slot_row[t][j]]: a thread per 8 columns of a token, the
// top-k rows' loads issued together, 8 at a time. (One CTA per token looping over the
// columns waited an L2 round trip per column step and expert: 46 us at 1 to 64 tokens on
// the H200, ncu, about a third of the FP8 step at 1 token.) y: BF16, or with kSplit the down
// GEMM's FP32 split partials [rows][y_splits][hidden], summed here. (One body for both, the
// BF16 loads behind a call with a loop, issued them one row at a time: the combine took 2.2x
// its time, H200 re-collection of the eighth session.)
template <bool kSplit = false>
__global__ void __launch_bounds__(plan::kMoeCombineThreads)
    moe_combine_kernel(const void* __restrict__ y, int y_splits,
                       const int32_t* __restrict__ slot_row, const float* __restrict__ weights,
                       int top_k, int hidden, bf16* __restrict__ out) {
  grid_dep_wait();  // the down GEMM's rows
  constexpr int kBatch = 8;
  const int t = blockIdx.x;
  const int c = (blockIdx.y * blockDim.x + threadIdx.x) * 8;
  if (c >= hidden) return;
  const int32_t* rows = slot_row + size_t(t) * top_k;
  const float* w = weights + size_t(t) * top_k;
  float sum[8] = {};
  for (int j0 = 0; j0 < top_k; j0 += kBatch) {
    float v[kBatch][2][4];
    float wj[kBatch];
    if constexpr (kSplit) {
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        const bool on = j0 + u < top_k;
        wj[u] = on ? w[j0 + u] : 0.0f;
#pragma unroll
        for (int q = 0; q < 2; ++q) {
          if (on)
            load4_split_sum(static_cast<const float*>(y), y_splits, rows[j0 + u], hidden, c + 4 * q,
                            v[u][q]);
          else
            v[u][q][0] = v[u][q][1] = v[u][q][2] = v[u][q][3] = 0.0f;
        }
      }
    } else {
      uint4 raw[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        const bool on = j0 + u < top_k;
        wj[u] = on ? w[j0 + u] : 0.0f;
        raw[u] = on ? *reinterpret_cast<const uint4*>(static_cast<const bf16*>(y) +
                                                      size_t(rows[j0 + u]) * hidden + c)
                    : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        bf16x4_to_float(make_uint2(raw[u].x, raw[u].y), v[u][0]);
        bf16x4_to_float(make_uint2(raw[u].z, raw[u].w), v[u][1]);
      }
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u)
#pragma unroll
      for (int i = 0; i < 8; ++i) sum[i] = fmaf(wj[u], v[u][i / 4][i % 4], sum[i]);
  }
  *reinterpret_cast<uint4*>(out + size_t(t) * hidden + c) =
      make_uint4(pack_bf16x2(sum[0], sum[1]), pack_bf16x2(sum[2], sum[3]),
                 pack_bf16x2(sum[4], sum[5]), pack_bf16x2(sum[6], sum[7]));
}

// ---- grouped GEMM: out[r][n] = sum_k A[r][k] * W[expert(r)][n][k] ----

// Eight INT4 (offset-binary, numeric.h order) to eight E4M3 bytes: nibble -> fp16 by the
// 0x6400 magic exponent, minus 1032 (1024 + the offset 8), then a paired fp16 -> e4m3
// conversion, exact for integers in [-8, 7].
__device__ __forceinline__ uint2 int4x8_to_e4m3x8(uint32_t w) {
  uint32_t r[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    uint32_t bits = ((w >> (4 * i)) & 0x000F000Fu) | 0x64006400u;
    __half2 h = *reinterpret_cast<__half2*>(&bits);
    h = __hsub2(h, __halves2half2(__ushort_as_half(0x6408), __ushort_as_half(0x6408)));
    r[i] =
        __nv_cvt_halfraw2_to_fp8x2(*reinterpret_cast<__half2_raw*>(&h), __NV_SATFINITE, __NV_E4M3);
  }
  // r[i] holds elements (i, i + 4) in its two low bytes.
  const uint32_t a = r[0] | (r[1] << 16), b = r[2] | (r[3] << 16);  // e0 e4 e1 e5 | e2 e6 e3 e7
  return make_uint2(__byte_perm(a, b, 0x6420), __byte_perm(a, b, 0x7531));
}

// Eight INT4 of a prepacked word (moe_w4_prepack_kernel's nibble order) to four FP16 pairs:
// h[0], h[1] the B operand (b0, b1) of the first k16 MMA of the k32 step, h[2], h[3] of the
// second. (v + 8) | 0x6400 is 1024 + v + 8 in FP16; in the high nibble 1024 + 16 (v + 8).
__device__ __forceinline__ void int4x8_to_f16x8(uint32_t w, uint32_t (&h)[4]) {
  const __half2 k1032 = __halves2half2(__ushort_as_half(0x6408), __ushort_as_half(0x6408));
  const __half2 k16th = __halves2half2(__ushort_as_half(0x2C00), __ushort_as_half(0x2C00));
  const __half2 k72 = __halves2half2(__ushort_as_half(0x5480), __ushort_as_half(0x5480));
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const uint32_t x = w >> (8 * i);
    uint32_t lo = (x & 0x000F000Fu) | 0x64006400u, hi = (x & 0x00F000F0u) | 0x64006400u;
    const __half2 l = __hsub2(*reinterpret_cast<__half2*>(&lo), k1032);
    const __half2 u = __hfma2(*reinterpret_cast<__half2*>(&hi), k16th, __hneg2(k72));
    h[2 * i] = *reinterpret_cast<const uint32_t*>(&l);
    h[2 * i + 1] = *reinterpret_cast<const uint32_t*>(&u);
  }
}
__device__ __forceinline__ uint32_t hsub2_u32(uint32_t x, uint32_t y) {
  const __half2 r =
      __hsub2(*reinterpret_cast<const __half2*>(&x), *reinterpret_cast<const __half2*>(&y));
  return *reinterpret_cast<const uint32_t*>(&r);
}
__device__ __forceinline__ uint32_t e4m3x2_lo_to_f16x2(uint32_t v) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(v & 0xFFFF), __NV_E4M3);
  return uint32_t(h.x) | (uint32_t(h.y) << 16);
}

// W4A8 on the wgmma path: INT4 weights to E4M3 (exact) in a scratch buffer each step, so
// that the QGMMA kernel reads them; 32 weights (16 bytes in, 32 out) per thread and turn.
__global__ void moe_dequant_int4_kernel(const uint4* __restrict__ in, size_t count,
                                        uint4* __restrict__ out) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    const uint4 v = in[i];
    const uint2 q0 = int4x8_to_e4m3x8(v.x), q1 = int4x8_to_e4m3x8(v.y);
    const uint2 q2 = int4x8_to_e4m3x8(v.z), q3 = int4x8_to_e4m3x8(v.w);
    out[2 * i] = make_uint4(q0.x, q0.y, q1.x, q1.y);
    out[2 * i + 1] = make_uint4(q2.x, q2.y, q3.x, q3.y);
  }
}

// ---- W4A8 at decode sizes: INT4 dequantised in registers into the mma B fragments ----
//
// The weights are repacked once at prepare (a storage layout, like Marlin's): for each
// expert, group of 8 weight rows, 128-deep k block and lane, 16 contiguous bytes holding,
// per k32 step, the lane's B operands of two m16n8k16 FP16 MMAs as 8 INT4. A warp reads 512
// contiguous bytes per k block straight into registers (no shared-memory round trip, no
// extra barrier); only the activations (16 rows x 128 bytes per k block) go through shared
// memory, as ldmatrix fragments converted E4M3 -> FP16 (exact). The MMAs run in FP16 (INT4
// and E4M3 values are exact in it, products exact in the FP32 accumulators): on sm_90 the
// E4M3 mma.sync is emulated through FP16 anyway, and an INT4 pair becomes an FP16 pair in
// two instructions (a LOP3 with the 0x6400 exponent, then HSUB2 or HFMA2), so that the
// weight bytes, not the instructions, set the speed.
__global__ void moe_w4_prepack_kernel(const uint8_t* __restrict__ w, int experts, int n, int k,
                                      uint4* __restrict__ out) {
  const int kb_count = k / 128;
  const size_t total = size_t(experts) * (n / 8) * kb_count * 32;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total;
       i += size_t(gridDim.x) * blockDim.x) {
    const int lane = static_cast<int>(i % 32);
    const size_t blk = i / 32;  // (expert * n / 8 + group) * kb_count + kb
    const int kb = static_cast<int>(blk % kb_count);
    const size_t group = blk / kb_count;  // expert * n / 8 + g: rows 8 * group ..
    const size_t row = group * 8 + lane / 4;
    const int q = lane % 4;
    const uint8_t* src = w + row * (k / 2) + kb * 64;
    uint32_t words[4];
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      // Elements 4q..4q+3 and 16+4q..16+4q+3 of this k32 step, nibble positions 0..7 holding
      // elements 4q, 16+4q, 4q+2, 16+4q+2, 4q+1, 16+4q+1, 4q+3, 16+4q+3: positions (i, i+4)
      // are the pair one FP16 B register takes (int4x8_to_f16x8).
      const uint8_t* chunk = src + c * 16;
      auto nib = [&](int e) { return uint32_t(chunk[e / 2] >> (4 * (e % 2))) & 0xF; };
      const int order[8] = {4 * q,     16 + 4 * q,     4 * q + 2, 16 + 4 * q + 2,
                            4 * q + 1, 16 + 4 * q + 1, 4 * q + 3, 16 + 4 * q + 3};
      uint32_t w = 0;
#pragma unroll
      for (int pos = 0; pos < 8; ++pos) w |= nib(order[pos]) << (4 * pos);
      words[c] = w;
    }
    out[i] = make_uint4(words[0], words[1], words[2], words[3]);
  }
}

// The W4A8 decode GEMMs' epilogue: a warp's 16 weight rows (n0 ..) of the tile's `rows` rows
// as BF16 (the m16n8 accumulator layout, two n8 groups).
__device__ __forceinline__ void w4_store_tile(const float (&acc)[2][4], int lane, int rows,
                                              int row0, int n0, int n_total, bf16* out,
                                              float* part = nullptr) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = lane / 4 + 8 * h;
    if (r >= rows) continue;
#pragma unroll
    for (int ng = 0; ng < 2; ++ng)
      store_pair(acc[ng][2 * h], acc[ng][2 * h + 1], row0 + r, n0 + 8 * ng + 2 * (lane % 4),
                 n_total, out, part);
  }
}

// out[r][n] = sum_k A[r][k] * W[e(r)][n][k], A E4M3 (scale per row and 128 k, [row][k/128]),
// W the prepacked INT4 (scale per weight row and 128 k, transposed: [e][k/128][n]). 8 warps,
// each 16 weight rows (two n8 groups) x the tile's 16 rows; kDepth k blocks of weights in
// flight per lane.
constexpr int kW4Warps = 8, kW4Depth = 4, kW4Stages = 4;
static_assert(kW4Warps * 16 == plan::kMoeW4BlockN && kW4Warps * 32 == plan::kMoeGemmThreads &&
                  kW4Stages * 16 * 128 == plan::moe_w4_smem_bytes(),
              "the launch plans' geometry (kernels/plan/dispatch.h)");
__global__ void __launch_bounds__(kW4Warps * 32) moe_w4a8_decode_gemm_kernel(
    const uint8_t* __restrict__ a, const float* __restrict__ a_scale, const uint4* __restrict__ wp,
    const float* __restrict__ ws_t, const int32_t* __restrict__ offsets,
    const int32_t* __restrict__ tile_expert, const int32_t* __restrict__ tile_row,
    const int32_t* __restrict__ num_tiles, int n_total, int k_total, bf16* __restrict__ out) {
  if (static_cast<int>(blockIdx.y) >= *num_tiles) return;
  grid_dep_wait_then_launch();
  __shared__ __align__(128) uint8_t sa_tiles[kW4Stages][16 * 128];
  const int e = tile_expert[blockIdx.y], row0 = tile_row[blockIdx.y];
  const int rows = min(16, offsets[e + 1] - row0);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int kb_count = k_total / 128;
  const int n0 = blockIdx.x * (kW4Warps * 16) + warp * 16;  // this warp's 16 weight rows
  // Lane's 16 bytes of group g (8 rows) at k block kb.
  const uint4* wg[2];
#pragma unroll
  for (int ng = 0; ng < 2; ++ng)
    wg[ng] = wp + ((size_t(e) * (n_total / 8) + (n0 + 8 * ng) / 8) * kb_count) * 32 + lane;
  auto load_a = [&](int stage, int kb) {
    if (tid < 128) {  // 16 rows x 8 chunks of 16 bytes
      const int r = tid / 8, ch = tid % 8;
      const bool valid = r < rows;
      cp_async_16(sa_tiles[stage] + swz(r, ch, 128),
                  a + size_t(row0 + (valid ? r : 0)) * k_total + kb * 128 + ch * 16, valid);
    }
  };
#pragma unroll
  for (int st = 0; st < kW4Stages - 1; ++st) {
    if (st < kb_count) load_a(st, st);
    cp_async_commit();
  }
  uint4 wreg[kW4Depth][2];
#pragma unroll
  for (int d = 0; d < kW4Depth; ++d)
#pragma unroll
    for (int ng = 0; ng < 2; ++ng)
      wreg[d][ng] = d < kb_count ? __ldg(wg[ng] + size_t(d) * 32) : make_uint4(0, 0, 0, 0);
  float acc[2][4] = {}, part[2][4];
  const int ra = min(lane / 4, rows - 1), rb = min(lane / 4 + 8, rows - 1);
  for (int kb0 = 0; kb0 < kb_count; kb0 += kW4Depth) {
#pragma unroll
    for (int d = 0; d < kW4Depth; ++d) {
      const int kb = kb0 + d;
      if (kb >= kb_count) break;
      cp_async_wait<kW4Stages - 2>();
      __syncthreads();
      if (kb + kW4Stages - 1 < kb_count)
        load_a((kb + kW4Stages - 1) % kW4Stages, kb + kW4Stages - 1);
      cp_async_commit();
      const uint4 wv[2] = {wreg[d][0], wreg[d][1]};
      // Refill this slot kDepth blocks ahead before the math: the loads overlap it.
#pragma unroll
      for (int ng = 0; ng < 2; ++ng)
        if (kb + kW4Depth < kb_count) wreg[d][ng] = __ldg(wg[ng] + size_t(kb + kW4Depth) * 32);
      const float sa0 = a_scale[size_t(row0 + ra) * kb_count + kb];
      const float sa1 = a_scale[size_t(row0 + rb) * kb_count + kb];
      float2 sw[2];
#pragma unroll
      for (int ng = 0; ng < 2; ++ng)
        sw[ng] = *reinterpret_cast<const float2*>(ws_t + (size_t(e) * kb_count + kb) * n_total +
                                                  n0 + 8 * ng + 2 * (lane % 4));
      const uint8_t* st = sa_tiles[kb % kW4Stages];
#pragma unroll
      for (int ng = 0; ng < 2; ++ng)
#pragma unroll
        for (int c = 0; c < 4; ++c) part[ng][c] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
        uint32_t af[4];
        const int r = (lane % 8) + ((lane / 8) & 1) * 8;
        ldmatrix_x4(af, st + swz(r, ks * 2 + lane / 16, 128));
        // The k32 step as two k16 FP16 steps: bytes 0-1 of each E4M3 register (k = 4t,
        // 4t+1 and 16+4t, 16+4t+1), then bytes 2-3 (4t+2, 4t+3, ...); B in the same order.
        uint32_t ax[4], ay[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          ax[i] = e4m3x2_lo_to_f16x2(af[i]);
          ay[i] = e4m3x2_lo_to_f16x2(af[i] >> 16);
        }
#pragma unroll
        for (int ng = 0; ng < 2; ++ng) {
          const uint32_t word = ks == 0   ? wv[ng].x
                                : ks == 1 ? wv[ng].y
                                : ks == 2 ? wv[ng].z
                                          : wv[ng].w;
          uint32_t b[4];
          int4x8_to_f16x8(word, b);
          mma_16816<true>(part[ng], ax, b[0], b[1]);
          mma_16816<true>(part[ng], ay, b[2], b[3]);
        }
      }
#pragma unroll
      for (int ng = 0; ng < 2; ++ng) {
        acc[ng][0] = fmaf(part[ng][0], sa0 * sw[ng].x, acc[ng][0]);
        acc[ng][1] = fmaf(part[ng][1], sa0 * sw[ng].y, acc[ng][1]);
        acc[ng][2] = fmaf(part[ng][2], sa1 * sw[ng].x, acc[ng][2]);
        acc[ng][3] = fmaf(part[ng][3], sa1 * sw[ng].y, acc[ng][3]);
      }
    }
  }
  cp_async_wait<0>();
  w4_store_tile(acc, lane, rows, row0, n0, n_total, out);
}

// The decode GEMMs' prologue after their weights are on the way: wait for the kernel before
// (the activations' writer), let the next one start, then the first kCount stages'
// activations, a commit group each.
template <int kCount, class LoadA>
__device__ __forceinline__ void wait_then_load_a(int k_steps, const LoadA& load_a) {
  grid_dep_wait();
  grid_dep_launch_dependents();
#pragma unroll
  for (int s = 0; s < kCount; ++s) {
    if (s < k_steps) load_a(s, s);
    cp_async_commit();
  }
}

// ---- W4A8 at decode sizes, second form: FP16 activations, four LOP3 per eight weights ----
//
// The first form (above) is issue-bound (ncu at 8 tokens: DRAM 42%, SM 54%; SASS per k block
// and warp: 16 HMMA against 32 F2FP for the activations, redone by each of the 8 warps, and
// ~9 instructions per 8 weights). Here the quantising kernels (gather, SiLU * up) write the
// E4M3-quantised activations as FP16 (the same values, exact), so that the A fragments are
// plain ldmatrix loads, and the weights are repacked so that each MMA's B pair comes from one
// mask: nibbles 0-3 / 16-19 (k 2q, 2q + 1 of the k32 step's first k16) and 8-11 / 24-27
// (2q + 8, 2q + 9) with the 0x6400 exponent are 1024 + u in FP16, nibbles 4-7 / 20-23 and
// 12-15 / 28-31 (the second k16) with 0x5400 are 64 + u (u = v + 8, the offset-binary code).
// kOffset false: 1032 / 72 subtracted in FP16 before the MMA (exact, HSUB2 per pair).
// kOffset true: no subtraction; the MMA sums A (v + 1032) and A (v + 72), and the per-row
// constant 1032 sum_lo(A) + 72 sum_hi(A) over the k block (written by the quantising kernel
// beside the scale) is taken off the FP32 partial sum.
//
// Forms 2-5 share one k block's work (w4_scales, w4_v2_kblock); they differ in where the
// weights wait (registers or a shared-memory ring) and in kOffset.
struct W4Scales {
  float sa0, sa1;  // the activation scales of the lane's two rows
  float c0, c1;    // their offset sums (kOffset; else 0)
  float2 sw[2];    // the weight scales of the lane's two columns, per n8 group
};
template <bool kOffset>
__device__ __forceinline__ W4Scales w4_scales(const float* __restrict__ a_scale,
                                              const float* __restrict__ a_corr,
                                              const float* __restrict__ ws_t, int e, int row_a,
                                              int row_b, int kb, int kb_count, int n0, int n_total,
                                              int lane) {
  W4Scales sc;
  const size_t ia = size_t(row_a) * kb_count + kb, ib = size_t(row_b) * kb_count + kb;
  sc.sa0 = a_scale[ia];
  sc.sa1 = a_scale[ib];
  sc.c0 = kOffset ? a_corr[ia] : 0.0f;
  sc.c1 = kOffset ? a_corr[ib] : 0.0f;
#pragma unroll
  for (int ng = 0; ng < 2; ++ng)
    sc.sw[ng] = *reinterpret_cast<const float2*>(ws_t + (size_t(e) * kb_count + kb) * n_total + n0 +
                                                 8 * ng + 2 * (lane % 4));
  return sc;
}
// One 128-deep k block: the 16 FP16 activation rows of stage `st` (ldmatrix, swizzled rows of
// 256 bytes) against the warp's 16 weight rows (the lane's prepacked word per k32 step in wv,
// two n8 groups), the INT4 unpacked with one mask per MMA B pair, the partial sums scaled into
// acc (less the offset sums when kOffset).
template <bool kOffset>
__device__ __forceinline__ void w4_v2_kblock(const uint8_t* st, const uint4 (&wv)[2], int lane,
                                             const W4Scales& sc, float (&acc)[2][4]) {
  const int ld_row = lane % 16, ld_half = lane / 16;
  constexpr uint32_t k1032 = 0x64086408u, k72 = 0x54805480u;
  float part[2][4] = {};
#pragma unroll
  for (int ks = 0; ks < 4; ++ks) {
    uint32_t a0[4], a1[4];
    ldmatrix_x4(a0, st + swz(ld_row, 4 * ks + ld_half, 256));
    ldmatrix_x4(a1, st + swz(ld_row, 4 * ks + 2 + ld_half, 256));
#pragma unroll
    for (int ng = 0; ng < 2; ++ng) {
      const uint32_t w = ks == 0 ? wv[ng].x : ks == 1 ? wv[ng].y : ks == 2 ? wv[ng].z : wv[ng].w;
      const uint32_t w8 = w >> 8;
      uint32_t b10 = (w & 0x000F000Fu) | 0x64006400u, b11 = (w8 & 0x000F000Fu) | 0x64006400u;
      uint32_t b20 = (w & 0x00F000F0u) | 0x54005400u, b21 = (w8 & 0x00F000F0u) | 0x54005400u;
      if constexpr (!kOffset) {
        b10 = hsub2_u32(b10, k1032);
        b11 = hsub2_u32(b11, k1032);
        b20 = hsub2_u32(b20, k72);
        b21 = hsub2_u32(b21, k72);
      }
      mma_16816<true>(part[ng], a0, b10, b11);
      mma_16816<true>(part[ng], a1, b20, b21);
    }
  }
#pragma unroll
  for (int ng = 0; ng < 2; ++ng) {
    acc[ng][0] = fmaf(part[ng][0] - sc.c0, sc.sa0 * sc.sw[ng].x, acc[ng][0]);
    acc[ng][1] = fmaf(part[ng][1] - sc.c0, sc.sa0 * sc.sw[ng].y, acc[ng][1]);
    acc[ng][2] = fmaf(part[ng][2] - sc.c1, sc.sa1 * sc.sw[ng].x, acc[ng][2]);
    acc[ng][3] = fmaf(part[ng][3] - sc.c1, sc.sa1 * sc.sw[ng].y, acc[ng][3]);
  }
}
// The same k block for a tile of at most 8 rows (form 10): the weights as the MMA's A operand
// (the warp's 16 columns; a lane's B fragments of the two n8 groups are exactly its A fragment
// of the 16), the tile's first 8 activation rows as its B (one ldmatrix_x4 per k32 step): half
// the MMAs and ldmatrix of w4_v2_kblock. acc[j]: column g + 8 (j / 2), row 2 t + j % 2 (g =
// lane / 4, t = lane % 4); sc: sa0 / sa1, c0 / c1 of rows 2 t, 2 t + 1, sw[0] the scales of
// columns g, g + 8.
__device__ __forceinline__ void w4_v2_kblock_n8(const uint8_t* st, const uint4 (&wv)[2], int lane,
                                                const W4Scales& sc, float (&acc)[4]) {
  float part[4] = {};
#pragma unroll
  for (int ks = 0; ks < 4; ++ks) {
    uint32_t b[4];
    ldmatrix_x4(b, st + swz(lane % 8, 4 * ks + lane / 8, 256));
    uint32_t lo[4], hi[4];  // {k 2t, col g}, {k 2t, col g + 8}, {k 2t + 8, g}, {k 2t + 8, g + 8}
#pragma unroll
    for (int ng = 0; ng < 2; ++ng) {
      const uint32_t w = ks == 0 ? wv[ng].x : ks == 1 ? wv[ng].y : ks == 2 ? wv[ng].z : wv[ng].w;
      const uint32_t w8 = w >> 8;
      lo[ng] = (w & 0x000F000Fu) | 0x64006400u;
      lo[2 + ng] = (w8 & 0x000F000Fu) | 0x64006400u;
      hi[ng] = (w & 0x00F000F0u) | 0x54005400u;
      hi[2 + ng] = (w8 & 0x00F000F0u) | 0x54005400u;
    }
    mma_16816<true>(part, lo, b[0], b[1]);
    mma_16816<true>(part, hi, b[2], b[3]);
  }
  acc[0] = fmaf(part[0] - sc.c0, sc.sa0 * sc.sw[0].x, acc[0]);
  acc[1] = fmaf(part[1] - sc.c1, sc.sa1 * sc.sw[0].x, acc[1]);
  acc[2] = fmaf(part[2] - sc.c0, sc.sa0 * sc.sw[0].y, acc[2]);
  acc[3] = fmaf(part[3] - sc.c1, sc.sa1 * sc.sw[0].y, acc[3]);
}
// kStaged (form 6 = form 3 staged): the k block's scales (the CTA's 128 weight scales, the 16
// rows' activation scales and offset sums) ride in the activation stage's cp.async group, three
// k blocks ahead, instead of global loads issued in the k block that uses them (the weight
// scales come from HBM: about a microsecond per k block that the MMAs do not cover).
constexpr int kW4V2Stages = 4;
static_assert(kW4V2Stages * 16 * 256 == plan::moe_w4_v2_smem_bytes(), "the plans' geometry");
static_assert(kW4V2Stages * (16 * 256 + (kW4Warps * 16 + 32) * 4) ==
                  plan::moe_w4_staged_smem_bytes(),
              "the plans' geometry");
// kMinCtas, kDepth (forms 7, 8 = form 6 with 3 / 4 CTAs per SM): the register budget for more
// warps per SM (80 / 64 registers), paid with fewer k blocks of weights prefetched (2 / 1).
// kAhead (form 9 = form 8 with 2): each warp asks L2 for its weights kAhead k blocks past the one
// its registers hold, in the k loop (no register; a compile-time distance: the run-time one of the
// ninth session's first call cost its loop more than the requests gained, results/tiles_run1_*).
// The activation stages of forms 2, 3, 6-10: one array per stage size, so that form 10's two
// instantiations of w4_v2_gemm (16- and 8-row tiles) share it.
template <int kStageBytes>
__device__ __forceinline__ uint8_t (*w4_v2_stages())[kStageBytes] {
  __shared__ __align__(128) uint8_t tiles[kW4V2Stages][kStageBytes];
  return tiles;
}
// kNarrow: the tile (at most 8 rows) on w4_v2_kblock_n8 (form 10's kernel picks it per tile).
// The body of forms 2, 3, 6-10 (the kernels below differ in their launch bounds only).
template <bool kOffset, bool kStaged, int kDepth, int kAhead = 0, bool kNarrow = false>
__device__ __forceinline__ void w4_v2_gemm(
    const __half* __restrict__ a, const float* __restrict__ a_scale,
    const float* __restrict__ a_corr, const uint4* __restrict__ wp, const float* __restrict__ ws_t,
    const int32_t* __restrict__ offsets, const int32_t* __restrict__ tile_expert,
    const int32_t* __restrict__ tile_row, const int32_t* __restrict__ num_tiles, int n_total,
    int k_total, int prefetch_tiles, bf16* __restrict__ out, float* __restrict__ part) {
  static_assert(!kNarrow || (kOffset && kStaged), "the narrow k block reads staged offset scales");
  // Before grid_dep_wait: the tile schedule and the weights only (moe_grouped_gemm_kernel
  // says why that is safe under a programmatic dependent launch).
  if (static_cast<int>(blockIdx.y) >= *num_tiles) return;
  // A stage: 16 rows x 128 FP16 (swizzled), then (form 6) the CTA's 128 weight scales, the
  // rows' 16 activation scales and 16 offset sums.
  constexpr int kStageBytes = 16 * 256 + (kStaged ? (kW4Warps * 16 + 32) * 4 : 0);
  uint8_t(*sa_tiles)[kStageBytes] = w4_v2_stages<kStageBytes>();
  const int e = tile_expert[blockIdx.y], row0 = tile_row[blockIdx.y];
  const int rows = min(16, offsets[e + 1] - row0);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  // Split-K (part != nullptr): this CTA's k blocks [first, first + kb_count) of kb_stride, the
  // bases of the activations, weights and scales moved to the first.
  const int kb_stride = k_total / 128;
  const SplitRange ks = split_range(kb_stride, blockIdx.z, gridDim.z);
  const int kb_count = ks.count;
  a += size_t(ks.first) * 128;
  a_scale += ks.first;
  if (a_corr) a_corr += ks.first;
  ws_t += size_t(ks.first) * n_total;
  const int n0 = blockIdx.x * (kW4Warps * 16) + warp * 16;
  const uint4* wg[2];
#pragma unroll
  for (int ng = 0; ng < 2; ++ng)
    wg[ng] =
        wp + ((size_t(e) * (n_total / 8) + (n0 + 8 * ng) / 8) * kb_stride + ks.first) * 32 + lane;
  // 16 rows x 16 chunks of 16 bytes (128 FP16) per k block: one chunk per thread.
  auto load_a = [&](int stage, int kb) {
    const int r = tid / 16, ch = tid % 16;
    const bool valid = r < rows;
    cp_async_16(sa_tiles[stage] + swz(r, ch, 256),
                a + size_t(row0 + (valid ? r : 0)) * k_total + kb * 128 + ch * 8, valid);
    if constexpr (kStaged) {
      float* sc = reinterpret_cast<float*>(sa_tiles[stage] + 16 * 256);
      if (tid < kW4Warps * 4)  // 128 weight scales, 16 bytes each thread
        cp_async_16(sc + 4 * tid, ws_t + (size_t(e) * kb_stride + kb) * n_total +
                                      blockIdx.x * (kW4Warps * 16) + 4 * tid);
      else if (tid < kW4Warps * 4 + 32) {  // rows past the end repeat the last row
        const int i = tid - kW4Warps * 4, row = row0 + min(i % 16, rows - 1);
        if (i < 16 || kOffset)
          cp_async_4(sc + kW4Warps * 16 + i,
                     (i < 16 ? a_scale : a_corr) + size_t(row) * kb_stride + kb);
      }
    }
  };
  uint4 wreg[kDepth][2];
#pragma unroll
  for (int d = 0; d < kDepth; ++d)
#pragma unroll
    for (int ng = 0; ng < 2; ++ng)
      wreg[d][ng] = d < kb_count ? __ldg(wg[ng] + size_t(d) * 32) : make_uint4(0, 0, 0, 0);
  // The next prefetch_tiles k blocks' weight lines (a warp's 512 bytes per group and k block)
  // to L2, then the wait for the activations' writer.
  if (lane % 8 == 0)
    for (int kb = kDepth; kb < min(kDepth + prefetch_tiles, kb_count); ++kb)
#pragma unroll
      for (int ng = 0; ng < 2; ++ng) prefetch_l2(wg[ng] + size_t(kb) * 32);
  wait_then_load_a<kW4V2Stages - 1>(kb_count, load_a);
  float acc[2][4] = {};  // kNarrow: acc[0] in w4_v2_kblock_n8's layout
  const int ra = min(kNarrow ? 2 * (lane % 4) : lane / 4, rows - 1),
            rb = min(kNarrow ? 2 * (lane % 4) + 1 : lane / 4 + 8, rows - 1);
  for (int kb0 = 0; kb0 < kb_count; kb0 += kDepth) {
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      const int kb = kb0 + d;
      if (kb >= kb_count) break;
      cp_async_wait<kW4V2Stages - 2>();
      __syncthreads();
      if (kb + kW4V2Stages - 1 < kb_count)
        load_a((kb + kW4V2Stages - 1) % kW4V2Stages, kb + kW4V2Stages - 1);
      cp_async_commit();
      const uint4 wv[2] = {wreg[d][0], wreg[d][1]};
#pragma unroll
      for (int ng = 0; ng < 2; ++ng)
        if (kb + kDepth < kb_count) wreg[d][ng] = __ldg(wg[ng] + size_t(kb + kDepth) * 32);
      if constexpr (kAhead > 0) {
        if (lane % 8 == 0 && kb + kAhead < kb_count)
#pragma unroll
          for (int ng = 0; ng < 2; ++ng) prefetch_l2(wg[ng] + size_t(kb + kAhead) * 32);
      }
      W4Scales sc;
      if constexpr (kStaged) {
        const float* ss = reinterpret_cast<const float*>(sa_tiles[kb % kW4V2Stages] + 16 * 256);
        sc.sa0 = ss[kW4Warps * 16 + ra];
        sc.sa1 = ss[kW4Warps * 16 + rb];
        sc.c0 = kOffset ? ss[kW4Warps * 16 + 16 + ra] : 0.0f;
        sc.c1 = kOffset ? ss[kW4Warps * 16 + 16 + rb] : 0.0f;
        if constexpr (kNarrow) {
          sc.sw[0] = make_float2(ss[warp * 16 + lane / 4], ss[warp * 16 + 8 + lane / 4]);
        } else {
#pragma unroll
          for (int ng = 0; ng < 2; ++ng)
            sc.sw[ng] = *reinterpret_cast<const float2*>(ss + warp * 16 + 8 * ng + 2 * (lane % 4));
        }
      } else {
        sc = w4_scales<kOffset>(a_scale, a_corr, ws_t, e, row0 + ra, row0 + rb, kb, kb_stride, n0,
                                n_total, lane);
      }
      if constexpr (kNarrow)
        w4_v2_kblock_n8(sa_tiles[kb % kW4V2Stages], wv, lane, sc, acc[0]);
      else
        w4_v2_kblock<kOffset>(sa_tiles[kb % kW4V2Stages], wv, lane, sc, acc);
    }
  }
  cp_async_wait<0>();
  if constexpr (!kNarrow) {
    w4_store_tile(acc, lane, rows, row0, n0, n_total, out, part);
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int r = 2 * (lane % 4) + j % 2, col = n0 + lane / 4 + 8 * (j / 2);
      if (r >= rows) continue;
      if (part)
        part[(size_t(row0 + r) * gridDim.z + blockIdx.z) * n_total + col] = acc[0][j];
      else
        out[size_t(row0 + r) * n_total + col] = __float2bfloat16_rn(acc[0][j]);
    }
  }
}
#define QK_W4_V2_PARAMS                                                                    \
  const __half *__restrict__ a, const float *__restrict__ a_scale,                         \
      const float *__restrict__ a_corr, const uint4 *__restrict__ wp,                      \
      const float *__restrict__ ws_t, const int32_t *__restrict__ offsets,                 \
      const int32_t *__restrict__ tile_expert, const int32_t *__restrict__ tile_row,       \
      const int32_t *__restrict__ num_tiles, int n_total, int k_total, int prefetch_tiles, \
      bf16 *__restrict__ out, float *__restrict__ part
// Forms 2, 3, 6: the compiler's register budget (120-124 registers: 2 CTAs per SM).
template <bool kOffset, bool kStaged = false>
__global__ void __launch_bounds__(kW4Warps * 32) moe_w4a8_decode_gemm_v2_kernel(QK_W4_V2_PARAMS) {
  w4_v2_gemm<kOffset, kStaged, kW4Depth>(a, a_scale, a_corr, wp, ws_t, offsets, tile_expert,
                                         tile_row, num_tiles, n_total, k_total, prefetch_tiles, out,
                                         part);
}
// Forms 7, 8: kMinCtas CTAs per SM; form 9: 8 with the L2 requests kAhead k blocks ahead;
// form 10: 8 with tiles of at most 8 rows on w4_v2_kblock_n8.
template <int kMinCtas, int kDepth, int kAhead = 0, bool kNarrow = false>
__global__ void __launch_bounds__(kW4Warps * 32, kMinCtas)
    moe_w4a8_decode_gemm_v2_occ_kernel(QK_W4_V2_PARAMS) {
  if constexpr (kNarrow) {
    if (static_cast<int>(blockIdx.y) >= *num_tiles) return;  // as w4_v2_gemm
    if (offsets[tile_expert[blockIdx.y] + 1] - tile_row[blockIdx.y] <= 8) {
      w4_v2_gemm<true, true, kDepth, kAhead, true>(a, a_scale, a_corr, wp, ws_t, offsets,
                                                   tile_expert, tile_row, num_tiles, n_total,
                                                   k_total, prefetch_tiles, out, part);
      return;
    }
  }
  w4_v2_gemm<true, true, kDepth, kAhead>(a, a_scale, a_corr, wp, ws_t, offsets, tile_expert,
                                         tile_row, num_tiles, n_total, k_total, prefetch_tiles, out,
                                         part);
}
#undef QK_W4_V2_PARAMS

// Forms 4 and 5: forms 2 and 3 with the weights streamed through a ring of cp.async stages in
// shared memory (kW4RingStages x 8 KB of weights + 4 KB of activations per CTA, two CTAs per
// SM), as the FP8 kernel streams its, instead of kW4Depth k blocks prefetched into registers:
// form 2 ran at 48% of DRAM and 48% of SM throughput (ncu, 8 tokens), neither saturated.
constexpr int kW4RingStages = plan::kMoeW4RingStages;
static_assert(kW4RingStages * (16 * 256 + 16 * 512) == plan::moe_w4_ring_smem_bytes(),
              "the plans' geometry");
template <bool kOffset>
__global__ void __launch_bounds__(kW4Warps * 32, 2) moe_w4a8_decode_gemm_ring_kernel(
    const __half* __restrict__ a, const float* __restrict__ a_scale,
    const float* __restrict__ a_corr, const uint4* __restrict__ wp, const float* __restrict__ ws_t,
    const int32_t* __restrict__ offsets, const int32_t* __restrict__ tile_expert,
    const int32_t* __restrict__ tile_row, const int32_t* __restrict__ num_tiles, int n_total,
    int k_total, bf16* __restrict__ out) {
  if (static_cast<int>(blockIdx.y) >= *num_tiles) return;
  grid_dep_wait_then_launch();
  extern __shared__ __align__(128) uint8_t ring[];
  constexpr int kStageBytes = 16 * 256 + 16 * 512;  // A (16 rows x 128 FP16), W (16 groups)
  const int e = tile_expert[blockIdx.y], row0 = tile_row[blockIdx.y];
  const int rows = min(16, offsets[e + 1] - row0);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int kb_count = k_total / 128;
  const int n0 = blockIdx.x * (kW4Warps * 16) + warp * 16;
  // The CTA's 16 groups of 8 weight rows: group g's k block kb is 512 contiguous bytes.
  const uint4* w_cta =
      wp + (size_t(e) * (n_total / 8) + blockIdx.x * (kW4Warps * 2)) * kb_count * 32;
  auto load_stage = [&](int stage, int kb) {
    uint8_t* s = ring + stage * kStageBytes;
    {
      const int r = tid / 16, ch = tid % 16;
      const bool valid = r < rows;
      cp_async_16(s + swz(r, ch, 256),
                  a + size_t(row0 + (valid ? r : 0)) * k_total + kb * 128 + ch * 8, valid);
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int c = tid + i * kW4Warps * 32, g = c / 32, l = c % 32;
      cp_async_16(s + 16 * 256 + g * 512 + l * 16, w_cta + (size_t(g) * kb_count + kb) * 32 + l);
    }
  };
#pragma unroll
  for (int st = 0; st < kW4RingStages - 1; ++st) {
    if (st < kb_count) load_stage(st, st);
    cp_async_commit();
  }
  float acc[2][4] = {};
  const int ra = min(lane / 4, rows - 1), rb = min(lane / 4 + 8, rows - 1);
  for (int kb = 0; kb < kb_count; ++kb) {
    // The scales first: their latency hides behind the wait and the MMAs.
    const W4Scales sc = w4_scales<kOffset>(a_scale, a_corr, ws_t, e, row0 + ra, row0 + rb, kb,
                                           kb_count, n0, n_total, lane);
    cp_async_wait<kW4RingStages - 2>();
    __syncthreads();
    if (kb + kW4RingStages - 1 < kb_count)
      load_stage((kb + kW4RingStages - 1) % kW4RingStages, kb + kW4RingStages - 1);
    cp_async_commit();
    const uint8_t* st = ring + (kb % kW4RingStages) * kStageBytes;
    uint4 wv[2];
#pragma unroll
    for (int ng = 0; ng < 2; ++ng)
      wv[ng] = *reinterpret_cast<const uint4*>(st + 16 * 256 + (2 * warp + ng) * 512 + lane * 16);
    w4_v2_kblock<kOffset>(st, wv, lane, sc, acc);
  }
  cp_async_wait<0>();
  w4_store_tile(acc, lane, rows, row0, n0, n_total, out);
}

// The second form's repack: per expert, group of 8 weight rows, k block and lane (row g =
// lane / 4, q = lane % 4), one word per k32 step holding, at nibble positions 0..7, the
// elements 2q, 16 + 2q, 2q + 8, 24 + 2q, 2q + 1, 17 + 2q, 2q + 9, 25 + 2q of that step.
__global__ void moe_w4_prepack_v2_kernel(const uint8_t* __restrict__ w, int experts, int n, int k,
                                         uint4* __restrict__ out) {
  const int kb_count = k / 128;
  const size_t total = size_t(experts) * (n / 8) * kb_count * 32;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total;
       i += size_t(gridDim.x) * blockDim.x) {
    const int lane = static_cast<int>(i % 32);
    const size_t blk = i / 32;
    const int kb = static_cast<int>(blk % kb_count);
    const size_t group = blk / kb_count;
    const size_t row = group * 8 + lane / 4;
    const int q = lane % 4;
    const uint8_t* src = w + row * (k / 2) + kb * 64;
    uint32_t words[4];
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const uint8_t* chunk = src + c * 16;
      auto nib = [&](int e) { return uint32_t(chunk[e / 2] >> (4 * (e % 2))) & 0xF; };
      const int order[8] = {2 * q,     16 + 2 * q, 2 * q + 8, 24 + 2 * q,
                            2 * q + 1, 17 + 2 * q, 2 * q + 9, 25 + 2 * q};
      uint32_t v = 0;
#pragma unroll
      for (int pos = 0; pos < 8; ++pos) v |= nib(order[pos]) << (4 * pos);
      words[c] = v;
    }
    out[i] = make_uint4(words[0], words[1], words[2], words[3]);
  }
}

// ---- W4A8 at decode sizes, form 11: wgmma with the INT4 weights as A in registers ----
//
// Forms 1-10 run mma.sync with each warp's weights loaded straight into its registers; the best,
// form 10, reads 52-66% of copy on the H200 with no single limit (barriers, fixed latencies, loads
// and the MMA pipe about equally; tenth session's ncu). Here A and B are swapped for wgmma, as
// vLLM's Machete and CUTLASS's mixed-input GEMMs do for few tokens: the CTA's 128 weight rows are
// two m64 A operands and the tile's tokens the N (8 or 16). A producer warp streams each k block's
// weight tile (8 KB, repacked in the A-register order: int4_e4m3.h), its 128 weight scales (both
// by bulk copies) and the activation box (TMA, 128-byte swizzle) into a ring of stages, its loads
// never waiting on the consumers' arithmetic; the consumer warpgroup reads its INT4 (four 16-byte
// loads a thread), makes the E4M3 A registers by byte permutes (int4x8_to_e4m3x8_prmt) and issues
// a k block's eight wgmmas into one of two sets of block sums, folding the other set (the k block
// before) into the accumulators with the weight and activation scales while they run. Sums per
// 128-deep block scaled as forms 1-10 scale them; the block sums are the tensor cores' FP32 sums
// of exact products (another order than mma.sync's: not form 8's bits).
// Forms 12-18 (kOffset) store the nibbles so that a mask and a shift make them the E4M3 bytes of
// (v + 8) x 2^-9 (int4x8_to_e4m3x8_offset: 3 instructions per 8 weights, the permutes 11), and
// take the offset off each k block's sums with the activation rows' sums, which come with the
// stage as their scales do.
// A stage, by weight format: kInt4 (W4A8 forms 11-18) the activation box (16 or 32 rows x 128
// E4M3), the INT4 tile (8 KB) and its 128 weight scales; E4M3 (FP8 on wgmma,
// plan::moe_fp8_decode_wgmma) the activation box (kRows rows) and the weight tile as TMA writes it
// (128 rows x 128 B, 128-byte swizzle: two m64 halves of 8 KB) and its one block scale; then the
// kRows rows' activation scales (kOffset: and their offset sums). The boxes 1024-byte aligned (the
// swizzle atom), the stage a multiple of 1 KB.
// kDepth: the ring's stages, 0 for the format's default (W4A8 forms 15, 16: 6, 8).
template <bool kInt4, int kRows, bool kOffset = false, int kDepth = 0>
struct WgLayout {
  static_assert(kInt4 || !kOffset, "the offset is the INT4 form's");
  static constexpr int kStages = kDepth > 0 ? kDepth
                                 : kInt4    ? plan::kMoeW4WgStages
                                            : plan::kMoeFp8WgStages;
  static constexpr int kAct = 0, kW = kRows * 128, kWBytes = kInt4 ? kW4WgTileBytes : 128 * 128;
  static constexpr int kWScale = kW + kWBytes, kAScale = kWScale + (kInt4 ? 128 * 4 : 16);
  static constexpr int kACorr = kAScale + kRows * 4;
  static constexpr int kStageBytes = (kACorr + (kOffset ? kRows * 4 : 0) + 1023) / 1024 * 1024;
  // The copy engine's bytes (the scales the producer warp's cp.async brings count as arrivals).
  static constexpr int kTx = kRows * 128 + kWBytes + (kInt4 ? 128 * 4 : 0);
  static constexpr int kSmem = kStages * kStageBytes + kStages * 16 + 1024;
};
static_assert(WgLayout<true, 16>::kSmem == plan::moe_w4_wg_smem_bytes() &&
                  WgLayout<true, 16>::kStageBytes == plan::moe_w4_wg_stage_bytes() &&
                  WgLayout<true, 16, true>::kSmem == plan::moe_w4_wg_smem_bytes() &&
                  WgLayout<true, 32, true>::kSmem == plan::moe_w4_wg_smem_bytes(32) &&
                  WgLayout<true, 16, true, 6>::kSmem ==
                      plan::moe_w4_wg_smem_bytes(16, plan::moe_w4_wg_stages(15)) &&
                  WgLayout<true, 16, true, 8>::kSmem ==
                      plan::moe_w4_wg_smem_bytes(16, plan::moe_w4_wg_stages(16)) &&
                  2 * (WgLayout<true, 16, true, 8>::kSmem + 1024) <= 228 * 1024 &&
                  WgLayout<false, 16>::kSmem == plan::moe_fp8_wg_smem_bytes(16) &&
                  WgLayout<false, 32>::kSmem == plan::moe_fp8_wg_smem_bytes(32) &&
                  WgLayout<false, 32>::kStageBytes == plan::moe_fp8_wg_stage_bytes(32) &&
                  kW4WgTileRows == plan::kMoeW4BlockN && kW4WgTileRows == plan::kMoeMmaBlockN &&
                  plan::kMoeW4WgThreads == 128 + 32 && plan::kMoeW4WgHalvesThreads == 2 * 128 + 32,
              "the launch plans' geometry (kernels/plan/dispatch.h)");

// A consumer warpgroup's k loop and epilogue for a tile of at most N tokens: its kH m64 halves of
// the CTA's 128 weight rows from half0 on (both, or form 13's one of two warpgroups).
template <bool kInt4, int kRows, int N, bool kOffset, int kH, int kDepth>
__device__ __forceinline__ void wg_consume(const uint8_t* ring, uint64_t* full, uint64_t* empty,
                                           int kb_count, int rows, int row0, int n_cta, int n_total,
                                           int half0, bf16* __restrict__ out,
                                           float* __restrict__ part) {
  using L = WgLayout<kInt4, kRows, kOffset, kDepth>;
  constexpr int kAcc = N / 2;  // floats a thread per m64 half
  // (With one warpgroup its threads are 0 .. 127: no remainder.)
  const int tid = kH == 2 ? static_cast<int>(threadIdx.x) : static_cast<int>(threadIdx.x % 128);
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  float acc[kH][kAcc] = {};
  // Two sets of block sums (and A registers), so that a block's wgmmas run while the block
  // before is folded; one where they would not fit the registers of two CTAs of two consumer
  // warpgroups an SM (form 14's N = 32: 96 a thread; ptxas spilled 136 bytes with two), the
  // other warpgroups on the SM hiding each one's wait.
  constexpr int kSets = kH == 1 && N == 32 ? 1 : 2;
  float blk[kSets][kH][kAcc] = {};           // [set][half]: one k block's sums
  uint32_t af[kInt4 ? kSets : 1][kH][4][4];  // [set][half][k32 step]: the A registers
  // The stage's scales: the weight rows' (kInt4) or the block's (E4M3), and the tile's rows'
  // (token columns 8 c + 2 t and 8 c + 2 t + 1 of each n8 chunk c; past the tile's rows they
  // repeat its last, their sums never stored).
  // kOffset: each sum less its row's offset sum, the 2^9 of the operands' encoding in w0, w1.
  auto fold = [&](int p, int kb) {
    const uint8_t* st = ring + (kb % L::kStages) * L::kStageBytes;
    const float* wsc = reinterpret_cast<const float*>(st + L::kWScale);
    const float* asc = reinterpret_cast<const float*>(st + L::kAScale);
    const float* acr = reinterpret_cast<const float*>(st + L::kACorr);
    constexpr float kEnc = kOffset ? kW4OffsetScale : 1.0f;
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) {
      const int h = half0 + hh;
      const float w0 = (kInt4 ? wsc[h * 64 + warp * 16 + g] : wsc[0]) * kEnc;
      const float w1 = (kInt4 ? wsc[h * 64 + warp * 16 + g + 8] : wsc[0]) * kEnc;
#pragma unroll
      for (int c = 0; c < N / 8; ++c) {
        const float s0 = asc[8 * c + 2 * t], s1 = asc[8 * c + 2 * t + 1];
        const float c0 = kOffset ? acr[8 * c + 2 * t] : 0.0f;
        const float c1 = kOffset ? acr[8 * c + 2 * t + 1] : 0.0f;
        const float* b = blk[p][hh] + 4 * c;
        float* a = acc[hh] + 4 * c;
        a[0] = fmaf(b[0] - c0, s0 * w0, a[0]);
        a[1] = fmaf(b[1] - c1, s1 * w0, a[1]);
        a[2] = fmaf(b[2] - c0, s0 * w1, a[2]);
        a[3] = fmaf(b[3] - c1, s1 * w1, a[3]);
      }
    }
    // The stage's generic reads (weights, scales) ordered before the copy engine's next writes.
    sm90::fence_proxy_async();
    __syncwarp();
    if (lane == 0) sm90::mbar_arrive(&empty[kb % L::kStages]);
  };
  // One k block into set p: wait for its stage, (kInt4) make the A registers, issue the wgmmas.
  auto issue = [&](int p, int kb) {
    const int s = kb % L::kStages;
    sm90::mbar_wait(&full[s], (kb / L::kStages) & 1);
    const uint8_t* st = ring + s * L::kStageBytes;
    const uint64_t desc_b = sm90::smem_desc(sm90::smem_addr(st + L::kAct));
    if constexpr (kInt4) {
      // The halves' chunks (chunk j of the tile holds half j / 2).
      uint4 chunk[2 * kH];
#pragma unroll
      for (int j = 0; j < 2 * kH; ++j)
        chunk[j] = *reinterpret_cast<const uint4*>(st + L::kW + (2 * half0 + j) * 2048 + tid * 16);
#pragma unroll
      for (int hh = 0; hh < kH; ++hh)
#pragma unroll
        for (int ks = 0; ks < 4; ++ks) {
          const uint4& c = chunk[w4wg_chunk(hh, ks)];
          auto word = [&](int q) {
            const int i = w4wg_word_in_chunk(ks, q);
            return i == 0 ? c.x : i == 1 ? c.y : i == 2 ? c.z : c.w;
          };
          auto convert = [](uint32_t w) {
            if constexpr (kOffset)
              return int4x8_to_e4m3x8_offset(w);
            else
              return int4x8_to_e4m3x8_prmt(w);
          };
          const E4m3x8 lo = convert(word(0)), hi = convert(word(1));
          uint32_t* a = af[p][hh][ks];
          a[0] = lo.x;
          a[1] = lo.y;
          a[2] = hi.x;
          a[3] = hi.y;
        }
      sm90::wgmma_fence();
#pragma unroll
      for (int hh = 0; hh < kH; ++hh)
#pragma unroll
        for (int ks = 0; ks < 4; ++ks)
          sm90::wgmma_rs_e4m3<N>(blk[p][hh], af[p][hh][ks], desc_b + uint64_t(ks * 32 / 16),
                                 ks > 0);
    } else {
      const uint64_t desc_a = sm90::smem_desc(sm90::smem_addr(st + L::kW));
      sm90::wgmma_fence();
#pragma unroll
      for (int hh = 0; hh < kH; ++hh)
#pragma unroll
        for (int ks = 0; ks < 4; ++ks)
          sm90::wgmma_ss<N, sm90::E4m3>(blk[p][hh],
                                        desc_a + uint64_t(((half0 + hh) * 64 * 128 + ks * 32) / 16),
                                        desc_b + uint64_t(ks * 32 / 16), ks > 0);
    }
    sm90::wgmma_commit();
  };
  // After a set's wgmmas are waited for: its A registers stay live (and unwritten) until then,
  // and its sums are read only after.
  auto settle = [&](int p) {
    if constexpr (kInt4) {
#pragma unroll
      for (int hh = 0; hh < kH; ++hh)
#pragma unroll
        for (int ks = 0; ks < 4; ++ks)
#pragma unroll
          for (int i = 0; i < 4; ++i) asm volatile("" : "+r"(af[p][hh][ks][i])::"memory");
    }
#pragma unroll
    for (int hh = 0; hh < kH; ++hh) sm90::fence_regs<kAcc>(blk[p][hh]);
  };
  if constexpr (kSets == 1) {
    for (int kb = 0; kb < kb_count; ++kb) {
      issue(0, kb);
      sm90::wgmma_wait<0>();
      settle(0);
      fold(0, kb);
    }
  } else {
    for (int kb0 = 0; kb0 < kb_count; kb0 += 2) {
      // Set 0: k block kb0; then set 1 (kb0 - 1) is folded while kb0's wgmmas run.
      issue(0, kb0);
      if (kb0 > 0) {
        sm90::wgmma_wait<1>();
        settle(1);
        fold(1, kb0 - 1);
      }
      if (kb0 + 1 < kb_count) {
        issue(1, kb0 + 1);
        sm90::wgmma_wait<1>();
      } else {
        sm90::wgmma_wait<0>();
      }
      settle(0);
      fold(0, kb0);
    }
    if (kb_count > 0 && kb_count % 2 == 0) {  // the last k block (set 1)
      sm90::wgmma_wait<0>();
      settle(1);
      fold(1, kb_count - 1);
    }
  }
  // acc[hh][4 c + i]: weight row h 64 + 16 warp + g + 8 (i / 2), h = half0 + hh, token 8 c + 2 t
  // + i % 2.
#pragma unroll
  for (int hh = 0; hh < kH; ++hh)
#pragma unroll
    for (int i = 0; i < kAcc; ++i) {
      const int h = half0 + hh;
      const int col = 8 * (i / 4) + 2 * t + i % 2;
      if (col >= rows) continue;
      const int n = n_cta + h * 64 + warp * 16 + g + 8 * ((i % 4) / 2);
      const size_t r = size_t(row0 + col);
      if (part)
        part[(r * gridDim.z + blockIdx.z) * n_total + n] = acc[hh][i];
      else
        out[r * n_total + n] = __float2bfloat16_rn(acc[hh][i]);
    }
}

// out[r][n] = sum_k A[r][k] W[e(r)][n][k], A E4M3 (a scale per row and 128 k, [row][k / 128]),
// by TMA (tm_a: boxes of 128 k x kRows rows). kInt4 (W4A8 form 11): W the tiles of
// moe_w4_prepack_wg_kernel ([e][n / 128][k / 128][8 KB], w) with a scale per weight row and 128 k
// (w_scale [e][k / 128][n]); else (FP8) W E4M3 [e][n][k] by TMA (tm_w: boxes of 128 x 128) with a
// scale per 128 x 128 block (w_scale [e][n / 128][k / 128]). kOffset (W4A8 forms 12-18): the
// tiles in the interleaved nibble order, a_corr the rows' offset sums beside a_scale.
// kWarpgroups: one consumer warpgroup for both m64 halves, or (forms 13, 14) one per half. Grid (n
// / 128, m-tiles, splits); warps 0 .. 4 kWarpgroups - 1 the consumers, the last warp the producer.
// kRotate (W4A8 form 17): each CTA's producer takes its k blocks from a CTA-dependent place on
// (kb + rotation) mod count, so that the CTAs' concurrent requests do not fall at one offset
// modulo the stride of the INT4 tiles (kb_stride x 8 KB: 448 KB at hidden 7168, 128 KB at 2048).
// kKbMajor (W4A8 form 18): the INT4 tiles stored [e][k / 128][n / 128][8 KB] (the scales' order),
// so that the CTAs of an expert streaming one k block read one contiguous run of tiles.
template <bool kInt4, int kRows, bool kOffset = false, int kWarpgroups = 1, int kDepth = 0,
          bool kRotate = false, bool kKbMajor = false>
__global__ void __launch_bounds__(128 * kWarpgroups + 32,
                                  kInt4 ? plan::kMoeW4WgCtasPerSm : plan::kMoeFp8WgCtasPerSm)
    moe_decode_gemm_wg_kernel(const __grid_constant__ CUtensorMap tm_a,
                              const __grid_constant__ CUtensorMap tm_w,
                              const float* __restrict__ a_scale, const float* __restrict__ a_corr,
                              const uint8_t* __restrict__ w, const float* __restrict__ w_scale,
                              const int32_t* __restrict__ offsets,
                              const int32_t* __restrict__ tile_expert,
                              const int32_t* __restrict__ tile_row,
                              const int32_t* __restrict__ num_tiles, int n_total, int k_total,
                              bf16* __restrict__ out, float* __restrict__ part) {
  using L = WgLayout<kInt4, kRows, kOffset, kDepth>;
  // Before grid_dep_wait: the tile schedule and the weights only (as w4_v2_gemm).
  if (static_cast<int>(blockIdx.y) >= *num_tiles) return;
  extern __shared__ uint8_t wg_smem_raw[];
  uint8_t* ring = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(wg_smem_raw) + 1023) &
                                             ~uintptr_t(1023));
  auto* full = reinterpret_cast<uint64_t*>(ring + L::kStages * L::kStageBytes);
  uint64_t* empty = full + L::kStages;
  // The role and the tile's rows as warp-uniform values (a shuffle from lane 0), so that ptxas
  // sees the consumers' wgmmas on a uniform path (else it serialises them, C7518).
  const int e = tile_expert[blockIdx.y], row0 = tile_row[blockIdx.y];
  const int rows = __shfl_sync(0xffffffffu, min(kRows, offsets[e + 1] - row0), 0);
  const int kb_stride = k_total / 128;
  const SplitRange ks = split_range(kb_stride, blockIdx.z, gridDim.z);
  const int n_cta = blockIdx.x * kW4WgTileRows;
  const int warp = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) / 32, 0),
            lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int s = 0; s < L::kStages; ++s) {
      // The producer's lane 0 with the copy engine's bytes, and its 32 lanes' cp.async scales.
      sm90::mbar_init(&full[s], 1 + 32);
      sm90::mbar_init(&empty[s], 4 * kWarpgroups);  // one arrive per consumer warp
    }
    sm90::mbar_fence_init();
  }
  __syncthreads();
  if (warp == 4 * kWarpgroups) {
    // Lane 0: the weight tile (and kInt4: its scales) by the copy engine, before the wait for the
    // kernel before where it can; the activation box after it. Lanes 0 .. kRows - 1: the rows'
    // activation scales (kOffset: and offset sums; past the tile's rows its last row's), the
    // last lane (E4M3) the block's
    // weight scale, by cp.async into the stage, each lane's arrival on the stage's barrier
    // triggered when its copies land: the consumers never wait on a global load.
    // The k block of the split's kb-th stage: rotated (kRotate) or in order.
    const int rot = kRotate && ks.count > 0
                        ? static_cast<int>((blockIdx.x * 7u + blockIdx.y * 3u) % unsigned(ks.count))
                        : 0;
    auto kblock = [&](int kb) {
      return kRotate ? ks.first + (kb + rot) % ks.count : ks.first + kb;
    };
    auto load_w = [&](int kb) {
      if (lane != 0) return;
      uint8_t* st = ring + (kb % L::kStages) * L::kStageBytes;
      uint64_t* bar = &full[kb % L::kStages];
      sm90::mbar_expect_tx(bar, L::kTx);
      if constexpr (kInt4) {
        const size_t tile =
            kKbMajor
                ? (size_t(e) * kb_stride + kblock(kb)) * (n_total / kW4WgTileRows) + blockIdx.x
                : (size_t(e) * (n_total / kW4WgTileRows) + blockIdx.x) * kb_stride + kblock(kb);
        sm90::bulk_load(st + L::kW, w + tile * kW4WgTileBytes, kW4WgTileBytes, bar);
        sm90::bulk_load(st + L::kWScale,
                        w_scale + (size_t(e) * kb_stride + kblock(kb)) * n_total + n_cta, 128 * 4,
                        bar);
      } else {
        sm90::tma_load_2d(st + L::kW, &tm_w, bar, kblock(kb) * 128, e * n_total + n_cta);
      }
    };
    auto load_a = [&](int kb) {
      uint8_t* st = ring + (kb % L::kStages) * L::kStageBytes;
      uint64_t* bar = &full[kb % L::kStages];
      if (lane == 0) sm90::tma_load_2d(st + L::kAct, &tm_a, bar, kblock(kb) * 128, row0);
      if (lane < kRows) {
        const size_t i = size_t(row0 + min(lane, rows - 1)) * kb_stride + kblock(kb);
        cp_async_4(st + L::kAScale + 4 * lane, a_scale + i);
        if constexpr (kOffset) cp_async_4(st + L::kACorr + 4 * lane, a_corr + i);
      }
      if (!kInt4 && lane == 31)
        cp_async_4(st + L::kWScale,
                   w_scale + (size_t(e) * (n_total / 128) + blockIdx.x) * kb_stride + kblock(kb));
      cp_async_mbar_arrive_noinc(bar);
    };
    const int ahead = min(L::kStages, ks.count);
    for (int kb = 0; kb < ahead; ++kb) load_w(kb);
    grid_dep_wait_then_launch();
    for (int kb = 0; kb < ahead; ++kb) load_a(kb);
    for (int kb = L::kStages; kb < ks.count; ++kb) {
      sm90::mbar_wait(&empty[kb % L::kStages], ((kb / L::kStages) - 1) & 1);
      load_w(kb);
      load_a(kb);
    }
    cp_async_commit();  // the lanes' last copies land before they exit
    cp_async_wait<0>();
    return;
  }
  // The consumers read only what the stages hold; their stores wait for the kernel before.
  grid_dep_wait_then_launch();
  static_assert(kWarpgroups == 1 || kWarpgroups == 2, "both halves, or a warpgroup each");
  constexpr int kH = 2 / kWarpgroups;
  const int half0 = kWarpgroups == 1 ? 0 : warp / 4;  // warp-uniform (the shuffled warp)
  if (rows <= 8)
    wg_consume<kInt4, kRows, 8, kOffset, kH, kDepth>(ring, full, empty, ks.count, rows, row0, n_cta,
                                                     n_total, half0, out, part);
  else if (kRows == 16 || rows <= 16)
    wg_consume<kInt4, kRows, 16, kOffset, kH, kDepth>(ring, full, empty, ks.count, rows, row0,
                                                      n_cta, n_total, half0, out, part);
  else if constexpr (kRows == 32)
    wg_consume<kInt4, kRows, 32, kOffset, kH, kDepth>(ring, full, empty, ks.count, rows, row0,
                                                      n_cta, n_total, half0, out, part);
}

// Forms 11-18's repack: per expert, 128-row tile and k block, the 2048 words of int4_e4m3.h's
// order, the nibbles of each word in `order` (form 11 kRowsApart, 12-18 kInterleaved), the tiles
// n-tile major or (kb_major, form 18) k block major.
__global__ void moe_w4_prepack_wg_kernel(const uint8_t* __restrict__ w, int experts, int n, int k,
                                         W4WgNibbles order, bool kb_major,
                                         uint32_t* __restrict__ out) {
  const int kb_count = k / 128, n_tiles = n / kW4WgTileRows;
  const size_t total = size_t(experts) * n_tiles * kb_count * kW4WgTileWords;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total;
       i += size_t(gridDim.x) * blockDim.x) {
    // (expert * n / 128 + row tile) * kb_count + kb, or (form 18) (expert * kb_count + kb) *
    // n / 128 + row tile.
    const size_t tile = i / kW4WgTileWords;
    const int kb = static_cast<int>(kb_major ? tile / n_tiles % kb_count : tile % kb_count);
    const size_t row_tile =
        kb_major ? tile / n_tiles / kb_count * n_tiles + tile % n_tiles : tile / kb_count;
    out[i] = w4wg_pack_word(w, size_t(k) / 2, row_tile * kW4WgTileRows, kb * 128,
                            static_cast<int>(i % kW4WgTileWords), order);
  }
}

template <Fmt F, int BM, int S = kStages>
struct GemmTraits {
  static constexpr int kAElem = F == Fmt::kBf16 ? 2 : 1;  // bytes per A element
  static constexpr int kBStageBytes = F == Fmt::kW4a8 ? kBn * 64 : kBn * kBkBytes;
  static constexpr int kStageBytes = BM * kBkBytes + kBStageBytes;
  static constexpr int kSmemBytes = S * kStageBytes + (F == Fmt::kW4a8 ? kBn * kBkBytes : 0);
  static_assert(F == Fmt::kW4a8 || kSmemBytes == plan::moe_mma_smem_bytes(BM, S),
                "the launch plans' layout (kernels/plan/dispatch.h)");
};

// BM 16 or 32 rows (plan::moe_mma_block_m): 8 warps side by side along n, each 16 weight rows
// x the tile's BM / 16 subtiles of 16 rows; a subtile past the tile's rows is skipped. Each
// row's arithmetic is the same at either BM (same MMAs in the same k order): bitwise equal.
// BM 32 asks for the CTAs per SM of BM 16 (BF16 3, FP8 2: 80 / 128 registers). S stages of A
// and W in shared memory (plan::moe_mma_stages): S - 1 k tiles of loads in flight per CTA.
template <Fmt F, int BM, int S>
__global__ void __launch_bounds__(kGemmThreads, BM == 16          ? 0
                                                : F == Fmt::kBf16 ? 3
                                                                  : 2)
    moe_grouped_gemm_kernel(const uint8_t* __restrict__ a, const float* __restrict__ a_scale,
                            const uint8_t* __restrict__ w, const float* __restrict__ w_scale,
                            const int32_t* __restrict__ offsets,
                            const int32_t* __restrict__ tile_expert,
                            const int32_t* __restrict__ tile_row,
                            const int32_t* __restrict__ num_tiles, int n_total, int k_total,
                            int prefetch_tiles, bf16* __restrict__ out,
                            float* __restrict__ split_out) {
  using T = GemmTraits<F, BM, S>;
  constexpr int kWarpsM = 1, kWarpsN = 8;
  constexpr int MI = BM / (16 * kWarpsM), kWarpCols = kBn / kWarpsN, NI = kWarpCols / 8;
  // Before grid_dep_wait (launched as a programmatic dependent launch, plan::moe_pdl) this
  // CTA reads only the tile schedule and offsets, which the route wrote two or more kernels
  // back, never what the kernel just before writes. Safe: the gate/up GEMM starts once every
  // gather CTA has passed its grid_dep_wait (the gather lets it start after its wait), so the
  // route has ended; the down GEMM starts once SiLU * up has started, i.e. once every working
  // gate/up CTA has passed its wait (it lets its successor start after it), so the gather and
  // the route have ended. The next step's route waits for this step's combine.
  if (static_cast<int>(blockIdx.y) >= *num_tiles) return;
  extern __shared__ __align__(128) uint8_t smem[];
  const int e = tile_expert[blockIdx.y];
  const int row0 = tile_row[blockIdx.y];
  const int rows = min(BM, offsets[e + 1] - row0);
  const int m_used = (rows + 15) / 16;  // subtiles with rows (BM 32: 1 or 2)
  const int n0 = blockIdx.x * kBn;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / kWarpsN, wn = warp % kWarpsN;
  const size_t a_row_bytes = size_t(k_total) * T::kAElem;
  const size_t w_row_bytes = F == Fmt::kW4a8 ? size_t(k_total) / 2 : a_row_bytes;
  const int k_blocks = k_total / 128;  // scale blocks along k (8-bit formats: one per k tile)
  // Split-K (split_out != nullptr, plan::moe_split_k): this CTA's run of k blocks, the operands'
  // and scales' bases moved to its first; the strides stay those of the whole k.
  const SplitRange ks = split_range(k_blocks, blockIdx.z, gridDim.z);
  constexpr int kTilesPerBlock = 128 * T::kAElem / kBkBytes;
  const int k_tiles = ks.count * kTilesPerBlock;
  a += size_t(ks.first) * 128 * T::kAElem;
  if constexpr (F != Fmt::kBf16) {
    a_scale += ks.first;
    w_scale += ks.first;
  }
  const uint8_t* w_expert = w + size_t(e) * n_total * w_row_bytes +
                            size_t(ks.first) * (F == Fmt::kW4a8 ? 64 : 128 * T::kAElem);

  auto load_a = [&](int stage, int kt) {
    uint8_t* sa = smem + stage * T::kStageBytes;
    for (int c = tid; c < BM * 8; c += kGemmThreads) {
      const int r = c / 8, ch = c % 8;
      const bool valid = r < rows;
      cp_async_16(sa + swz(r, ch, kBkBytes),
                  a + size_t(row0 + (valid ? r : 0)) * a_row_bytes + kt * kBkBytes + ch * 16,
                  valid);
    }
  };
  auto load_w = [&](int stage, int kt) {
    uint8_t* sb = smem + stage * T::kStageBytes + BM * kBkBytes;
    if constexpr (F == Fmt::kW4a8) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int c = tid + i * kGemmThreads, r = c / 4, ch = c % 4;
        cp_async_16(sb + r * 64 + ch * 16,
                    w_expert + size_t(n0 + r) * w_row_bytes + kt * 64 + ch * 16);
      }
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int c = tid + i * kGemmThreads, r = c / 8, ch = c % 8;
        cp_async_16(sb + swz(r, ch, kBkBytes),
                    w_expert + size_t(n0 + r) * w_row_bytes + kt * kBkBytes + ch * 16);
      }
    }
  };
  auto load_stage = [&](int stage, int kt) {
    load_a(stage, kt);
    load_w(stage, kt);
  };

  float acc[MI][NI][4], part[MI][NI][4];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[mi][ni][c] = part[mi][ni][c] = 0;

  // The weights do not depend on the kernel before: the first stages' weight tiles go to
  // shared memory and the next prefetch_tiles tiles' lines to L2 before the wait, the
  // activations after it. Each stage's A is its own commit group after the W groups, so that
  // the loop's wait (all but the newest S - 2 groups) still covers stage kt's W and A.
  constexpr int kWTileBytes = F == Fmt::kW4a8 ? 64 : kBkBytes;
#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    if (s < k_tiles) load_w(s, s);
    cp_async_commit();
  }
  for (int i = tid; i < prefetch_tiles * kBn; i += kGemmThreads) {
    const int kt = S - 1 + i / kBn, r = i % kBn;
    if (kt < k_tiles) prefetch_l2(w_expert + size_t(n0 + r) * w_row_bytes + kt * kWTileBytes);
  }
  wait_then_load_a<S - 1>(k_tiles, load_a);
  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<S - 2>();
    __syncthreads();
    if (kt + S - 1 < k_tiles) load_stage((kt + S - 1) % S, kt + S - 1);
    cp_async_commit();
    const uint8_t* sa = smem + (kt % S) * T::kStageBytes;
    const uint8_t* sb = sa + BM * kBkBytes;
    // This block's scales, loaded before the tensor-core work so that their latency hides
    // behind it (run 2 loaded them after, one dependent round trip per 128-deep block).
    float sa_row[MI][2], sw[NI][2];
    if constexpr (F != Fmt::kBf16) {
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int r = min(wm * MI * 16 + mi * 16 + lane / 4 + h * 8, rows - 1);
          sa_row[mi][h] = a_scale[size_t(row0 + r) * k_blocks + kt];
        }
#pragma unroll
      for (int ni = 0; ni < NI; ++ni) {
        if constexpr (F == Fmt::kFp8) {
          sw[ni][0] = sw[ni][1] = w_scale[(size_t(e) * (n_total / 128) + n0 / 128) * k_blocks + kt];
        } else {
          const int col = n0 + wn * kWarpCols + ni * 8 + (lane % 4) * 2;
          sw[ni][0] = w_scale[(size_t(e) * n_total + col) * k_blocks + kt];
          sw[ni][1] = w_scale[(size_t(e) * n_total + col + 1) * k_blocks + kt];
        }
      }
    }
    if constexpr (F == Fmt::kW4a8) {
      uint8_t* sq = smem + S * T::kStageBytes;
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int c = tid + i * kGemmThreads, r = c / 4, ch = c % 4;
        const uint4 packed = *reinterpret_cast<const uint4*>(sb + r * 64 + ch * 16);
        const uint2 q0 = int4x8_to_e4m3x8(packed.x), q1 = int4x8_to_e4m3x8(packed.y);
        const uint2 q2 = int4x8_to_e4m3x8(packed.z), q3 = int4x8_to_e4m3x8(packed.w);
        *reinterpret_cast<uint4*>(sq + swz(r, 2 * ch, kBkBytes)) =
            make_uint4(q0.x, q0.y, q1.x, q1.y);
        *reinterpret_cast<uint4*>(sq + swz(r, 2 * ch + 1, kBkBytes)) =
            make_uint4(q2.x, q2.y, q3.x, q3.y);
      }
      __syncthreads();
      sb = sq;
    }
#pragma unroll
    for (int ks = 0; ks < kBkBytes / 32; ++ks) {
      uint32_t af[MI][4], bfr[NI / 2][4];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        if (MI > 1 && mi >= m_used) break;
        const int r = wm * MI * 16 + mi * 16 + (lane % 8) + ((lane / 8) & 1) * 8;
        ldmatrix_x4(af[mi], sa + swz(r, ks * 2 + lane / 16, kBkBytes));
      }
#pragma unroll
      for (int nj = 0; nj < NI / 2; ++nj) {
        const int n = wn * kWarpCols + nj * 16 + (lane % 8) + (lane / 16) * 8;
        ldmatrix_x4(bfr[nj], sb + swz(n, ks * 2 + ((lane / 8) & 1), kBkBytes));
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        if (MI > 1 && mi >= m_used) break;
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) {
          if constexpr (F == Fmt::kBf16)
            mma_bf16_16816(acc[mi][ni], af[mi], bfr[ni / 2][(ni % 2) * 2],
                           bfr[ni / 2][(ni % 2) * 2 + 1]);
          else
            mma_e4m3_16832(part[mi][ni], af[mi], bfr[ni / 2][(ni % 2) * 2],
                           bfr[ni / 2][(ni % 2) * 2 + 1]);
        }
      }
    }
    if constexpr (F != Fmt::kBf16) {
      // Promote this 128-deep block to the fp32 accumulators with its scales.
#pragma unroll
      for (int ni = 0; ni < NI; ++ni)
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            acc[mi][ni][c] =
                fmaf(part[mi][ni][c], sa_row[mi][c / 2] * sw[ni][c % 2], acc[mi][ni][c]);
            part[mi][ni][c] = 0;
          }
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = wm * MI * 16 + mi * 16 + lane / 4 + h * 8;
      if (r >= rows) continue;
#pragma unroll
      for (int ni = 0; ni < NI; ++ni)
        store_pair(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1], row0 + r,
                   n0 + wn * kWarpCols + ni * 8 + (lane % 4) * 2, n_total, out, split_out);
    }
}

// ---- the launcher on caller buffers (quadrant_kernels.h) ----

Fmt fmt_of(MoeFormat f) {
  return f == MoeFormat::kBf16 ? Fmt::kBf16 : f == MoeFormat::kFp8 ? Fmt::kFp8 : Fmt::kW4a8;
}

void check_moe_problem(const MoeFfnProblem& p) {
  auto require = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("moe_ffn: ") + what);
  };
  require(p.tokens >= 1, "tokens must be >= 1");
  require(p.experts >= 1 && p.experts <= plan::kMoeMaxExperts, "experts must be in [1, 256]");
  require(p.top_k >= 1 && p.top_k <= p.experts && p.top_k <= 32,
          "top_k must be in [1, min(experts, 32)]");
  require(
      p.hidden >= 128 && p.intermediate >= 128 && p.hidden % 128 == 0 && p.intermediate % 128 == 0,
      "hidden and intermediate must be positive multiples of 128");
  require(p.tokens * p.top_k < (int64_t(1) << 31) &&
              int64_t(p.experts) * 2 * p.intermediate * p.hidden < (int64_t(1) << 40),
          "shape too large");
}

// The workspace of one step, carved in one order for sizing and for use.
struct MoeLayout {
  plan::MoeGemmPath path = plan::MoeGemmPath::kMmaSync;
  int bm = 16;
  int64_t rows = 0, max_tiles = 0;
  int32_t *ids = nullptr, *counts = nullptr, *offsets = nullptr, *fill = nullptr,
          *tile_expert = nullptr, *tile_row = nullptr, *tile_first = nullptr, *tile_count = nullptr,
          *num_tiles = nullptr, *row_token = nullptr, *slot_row = nullptr;
  float *weights = nullptr, *xp_scale = nullptr, *act_scale = nullptr, *xp_corr = nullptr,
        *act_corr = nullptr;
  int w4_form = 0;         // W4A8 on the mma.sync path: plan::moe_w4_decode_form (1 .. 14)
  bool fp8_wgmma = false;  // FP8 on the mma.sync path's tiles: plan::moe_fp8_decode_wgmma
  int fp8_warpgroups = 1;  // its consumer warpgroups: plan::moe_fp8_decode_warpgroups
  int experts = 0;
  // The mma.sync path's chain of programmatic dependent launches (plan::moe_pdl) and the
  // weight tiles its GEMMs ask L2 for before their wait.
  bool pdl = false;
  int prefetch_tiles = 0;
  int stages = 3;  // BF16 / FP8 GEMMs: shared-memory stages (plan::moe_mma_stages)
  // Split-K of the mma.sync GEMMs (plan::moe_split_k; 0: none): gate/up's splits write
  // h_part [rows][splits1][2 * inter], down's y_part [rows][splits2][hidden], in FP32.
  int splits1 = 0, splits2 = 0;
  uint8_t *xp = nullptr, *act = nullptr, *w1q = nullptr, *w2q = nullptr;
  bf16 *h = nullptr, *y = nullptr;
  float *h_part = nullptr, *y_part = nullptr;
  size_t bytes = 0;
};

MoeLayout moe_layout(const MoeFfnProblem& p, plan::MoeGemmPath path, void* base) {
  MoeLayout l;
  l.path = path;
  if (p.format == MoeFormat::kW4a8 && path == plan::MoeGemmPath::kMmaSync)
    l.w4_form = plan::moe_w4_decode_form();
  l.fp8_wgmma = p.format == MoeFormat::kFp8 && path == plan::MoeGemmPath::kMmaSync &&
                plan::moe_fp8_decode_wgmma();
  if (l.fp8_wgmma) l.fp8_warpgroups = plan::moe_fp8_decode_warpgroups();
  l.experts = p.experts;
  l.bm = plan::moe_block_m(path, p.tokens, p.top_k, p.experts, p.format == MoeFormat::kBf16,
                           l.w4_form);
  l.rows = p.tokens * p.top_k;
  l.max_tiles = plan::moe_max_tiles(l.rows, l.bm, p.experts);
  const bool scaled = p.format != MoeFormat::kBf16;
  if (path == plan::MoeGemmPath::kMmaSync) {
    l.pdl = plan::moe_pdl(p.format == MoeFormat::kW4a8);
    l.prefetch_tiles = plan::moe_prefetch_tiles();
    l.stages = plan::moe_mma_stages(p.format == MoeFormat::kBf16);
    const int sms = sm_count();
    const bool bf16 = p.format == MoeFormat::kBf16;
    l.splits1 =
        plan::moe_split_k(l.rows, p.experts, 2 * p.intermediate, p.hidden, bf16, l.w4_form, sms);
    l.splits2 =
        plan::moe_split_k(l.rows, p.experts, p.hidden, p.intermediate, bf16, l.w4_form, sms);
  }
  // Activations: BF16, E4M3, or (the W4A8 GEMM's second form) E4M3 values as FP16.
  const size_t rows = size_t(l.rows),
               a_elem =
                   p.format == MoeFormat::kBf16 || plan::moe_w4_fp16_activations(l.w4_form) ? 2 : 1;
  Workspace w(base);
  l.ids = w.take<int32_t>(rows);
  l.weights = w.take<float>(rows);
  l.counts = w.take<int32_t>(p.experts);
  l.offsets = w.take<int32_t>(p.experts + 1);
  l.fill = w.take<int32_t>(p.experts);
  l.tile_expert = w.take<int32_t>(l.max_tiles);
  l.tile_row = w.take<int32_t>(l.max_tiles);
  l.tile_first = w.take<int32_t>(l.max_tiles);
  l.tile_count = w.take<int32_t>(l.max_tiles);
  l.num_tiles = w.take<int32_t>(1);
  l.row_token = w.take<int32_t>(rows);
  l.slot_row = w.take<int32_t>(rows);
  l.xp = w.take<uint8_t>(rows * p.hidden * a_elem);
  if (scaled) l.xp_scale = w.take<float>(rows * p.hidden / 128);
  if (plan::moe_w4_offset_form(l.w4_form)) l.xp_corr = w.take<float>(rows * p.hidden / 128);
  // The wgmma path fuses SiLU * up into the gate/up GEMM: no h.
  if (path != plan::MoeGemmPath::kWgmma) l.h = w.take<bf16>(rows * 2 * p.intermediate);
  l.act = w.take<uint8_t>(rows * p.intermediate * a_elem);
  if (scaled) l.act_scale = w.take<float>(rows * p.intermediate / 128);
  if (plan::moe_w4_offset_form(l.w4_form)) l.act_corr = w.take<float>(rows * p.intermediate / 128);
  l.y = w.take<bf16>(rows * p.hidden);
  if (l.splits1) l.h_part = w.take<float>(rows * l.splits1 * 2 * p.intermediate);
  if (l.splits2) l.y_part = w.take<float>(rows * l.splits2 * p.hidden);
  if (path == plan::MoeGemmPath::kWgmma && p.format == MoeFormat::kW4a8) {
    // INT4 -> E4M3 copies, rewritten each step.
    l.w1q = w.take<uint8_t>(size_t(p.experts) * 2 * p.intermediate * p.hidden);
    l.w2q = w.take<uint8_t>(size_t(p.experts) * p.hidden * p.intermediate);
  }
  l.bytes = w.bytes();
  return l;
}

// Activation scale layout: [rows][k / 128] for the mma.sync kernels, [k / 128][rows] for
// the wgmma one.
int64_t scale_row_stride(const MoeLayout& l, int64_t k) {
  return l.path == plan::MoeGemmPath::kWgmma ? 1 : k / 128;
}
int64_t scale_blk_stride(const MoeLayout& l) {
  return l.path == plan::MoeGemmPath::kWgmma ? l.rows : 1;
}

// Routing as separate launches over the slots (prefill sizes): top-k, counts, the schedule
// (one warp), the scatter.
void moe_route_launches(const MoeFfnProblem& p, const MoeLayout& l, const MoeFfnBuffers& b,
                        cudaStream_t stream) {
  const int slots = static_cast<int>(l.rows);
  const int32_t* ids = b.topk_ids;
  // Chained (l.pdl): the counts' memset first, so that the kernels after it form one chain
  // whose head waits for everything before it in the stream, the previous step included.
  if (l.pdl) QK_CUDA_CHECK(cudaMemsetAsync(l.counts, 0, sizeof(int32_t) * p.experts, stream));
  const dim3 slot_grid((slots + 255) / 256);
  if (b.router_logits) {
    const dim3 grid(static_cast<unsigned>((p.tokens + 7) / 8));
    if (b.logits_bf16)
      launch_kernel(false, moe_topk_kernel<bf16>, grid, 256, 0, stream,
                    static_cast<const bf16*>(b.router_logits), static_cast<int>(p.tokens),
                    p.experts, p.top_k, l.ids, l.weights);
    else
      launch_kernel(false, moe_topk_kernel<float>, grid, 256, 0, stream,
                    static_cast<const float*>(b.router_logits), static_cast<int>(p.tokens),
                    p.experts, p.top_k, l.ids, l.weights);
    QK_LAUNCH_CHECK("moe_topk_kernel");
    ids = l.ids;
  }
  if (!l.pdl) QK_CUDA_CHECK(cudaMemsetAsync(l.counts, 0, sizeof(int32_t) * p.experts, stream));
  launch_kernel(l.pdl && b.router_logits, moe_count_kernel, slot_grid, 256, 0, stream, ids, slots,
                l.counts);
  QK_LAUNCH_CHECK("moe_count_kernel");
  launch_kernel(l.pdl, moe_schedule_kernel, 1, plan::kMoeScheduleThreads, 0, stream,
                static_cast<const int32_t*>(l.counts), p.experts, l.bm, l.offsets, l.fill,
                l.tile_expert, l.tile_row, l.tile_first, l.tile_count, l.num_tiles);
  QK_LAUNCH_CHECK("moe_schedule_kernel");
  launch_kernel(l.pdl, moe_scatter_kernel, slot_grid, 256, 0, stream, ids, slots, p.top_k, l.fill,
                l.row_token, l.slot_row);
  QK_LAUNCH_CHECK("moe_scatter_kernel");
}

// Routing, the device-side schedule, the permutation and the gather (with quantisation).
// ids / weights: the given top-k, or nullptr to take it from the logits.
template <Fmt F>
void moe_route(const MoeFfnProblem& p, const MoeLayout& l, const MoeFfnBuffers& b,
               cudaStream_t stream) {
  using AType = std::conditional_t<F == Fmt::kBf16, bf16, fp8>;
  if (plan::moe_fused_route(p.tokens, p.top_k)) {
    const int t = static_cast<int>(p.tokens);
    if (b.router_logits && b.logits_bf16)
      moe_route_fused_kernel<bf16><<<1, plan::kMoeFusedRouteThreads, 0, stream>>>(
          static_cast<const bf16*>(b.router_logits), nullptr, t, p.experts, p.top_k, l.bm, l.ids,
          l.weights, l.counts, l.offsets, l.tile_expert, l.tile_row, l.tile_first, l.tile_count,
          l.num_tiles, l.row_token, l.slot_row);
    else
      moe_route_fused_kernel<float><<<1, plan::kMoeFusedRouteThreads, 0, stream>>>(
          static_cast<const float*>(b.router_logits), b.topk_ids, t, p.experts, p.top_k, l.bm,
          l.ids, l.weights, l.counts, l.offsets, l.tile_expert, l.tile_row, l.tile_first,
          l.tile_count, l.num_tiles, l.row_token, l.slot_row);
    QK_LAUNCH_CHECK("moe_route_fused_kernel");
  } else {
    moe_route_launches(p, l, b, stream);
  }
  const int64_t gather_warps = l.rows * p.hidden / 128;
  const dim3 grid(static_cast<unsigned>((gather_warps + 7) / 8));
  const auto* x = static_cast<const bf16*>(b.x);
  const int hidden = static_cast<int>(p.hidden);
  if (plan::moe_w4_fp16_activations(l.w4_form))
    launch_kernel(l.pdl, moe_gather_kernel<__half>, grid, 256, 0, stream, x,
                  static_cast<const int32_t*>(l.row_token), static_cast<const int32_t*>(l.offsets),
                  p.experts, hidden, reinterpret_cast<__half*>(l.xp), l.xp_scale, l.xp_corr,
                  scale_row_stride(l, p.hidden), scale_blk_stride(l));
  else
    launch_kernel(l.pdl, moe_gather_kernel<AType>, grid, 256, 0, stream, x,
                  static_cast<const int32_t*>(l.row_token), static_cast<const int32_t*>(l.offsets),
                  p.experts, hidden, reinterpret_cast<AType*>(l.xp), l.xp_scale, l.xp_corr,
                  scale_row_stride(l, p.hidden), scale_blk_stride(l));
  QK_LAUNCH_CHECK("moe_gather_kernel");
}

template <Fmt F>
void moe_act(const MoeFfnProblem& p, const MoeLayout& l, cudaStream_t stream) {
  using AType = std::conditional_t<F == Fmt::kBf16, bf16, fp8>;
  const int64_t act_warps = l.rows * p.intermediate / 128;
  const dim3 grid(static_cast<unsigned>((act_warps + 7) / 8));
  const void* h = l.splits1 ? static_cast<const void*>(l.h_part) : l.h;
  const auto* offsets = static_cast<const int32_t*>(l.offsets);
  const int inter = static_cast<int>(p.intermediate);
  // The kernel for the output type and split-K (the gate/up GEMM's FP32 partials or its BF16).
  auto launch = [&](auto kernel, auto* act, float* corr) {
    launch_kernel(l.pdl, kernel, grid, 256, 0, stream, h, l.splits1, offsets, p.experts, inter, act,
                  l.act_scale, corr, scale_row_stride(l, p.intermediate), scale_blk_stride(l));
  };
  if (plan::moe_w4_fp16_activations(l.w4_form))
    launch(l.splits1 ? moe_act_kernel<__half, true> : moe_act_kernel<__half, false>,
           reinterpret_cast<__half*>(l.act), l.act_corr);
  else
    launch(l.splits1 ? moe_act_kernel<AType, true> : moe_act_kernel<AType, false>,
           reinterpret_cast<AType*>(l.act), l.act_corr);  // forms 12-18 offset sums, else none
  QK_LAUNCH_CHECK("moe_act_kernel");
}

// The wgmma decode GEMM (moe_decode_gemm_wg_kernel): W4A8 forms 11-18 (kInt4: w the repacked
// tiles, w_scale [e][k / 128][n]; kOffset forms 12-18 with a_corr; kWarpgroups 2 forms 13, 14) or
// FP8 (w E4M3 [e][n][k], w_scale [e][n / 128][k / 128]); the tile's activation rows by TMA, boxes
// of 128 k x kRows rows (rows past the last read as zeros).
template <bool kInt4, int kRows, bool kOffset = false, int kWarpgroups = 1, int kDepth = 0,
          bool kRotate = false, bool kKbMajor = false>
void launch_decode_gemm_wg(const MoeLayout& l, const uint8_t* a, const float* a_scale,
                           const float* a_corr, const uint8_t* w, const float* w_scale, int64_t n,
                           int64_t k, bf16* out, int splits, float* part, cudaStream_t stream) {
  const CUtensorMap tm_a =
      sm90::tensor_map_2d(a, true, uint64_t(k), uint64_t(l.rows), uint64_t(k), 128, kRows);
  // FP8: the weights of every expert as one [experts x n][k] map, boxes of 128 k x 128 rows.
  const CUtensorMap tm_w =
      kInt4 ? tm_a
            : sm90::tensor_map_2d(w, true, uint64_t(k), uint64_t(l.experts) * uint64_t(n),
                                  uint64_t(k), 128, 128);
  constexpr int smem = WgLayout<kInt4, kRows, kOffset, kDepth>::kSmem;
  const auto kernel =
      moe_decode_gemm_wg_kernel<kInt4, kRows, kOffset, kWarpgroups, kDepth, kRotate, kKbMajor>;
  opt_in_dynamic_smem(kernel, smem);
  const dim3 grid(static_cast<unsigned>(n / plan::kMoeMmaBlockN),
                  static_cast<unsigned>(l.max_tiles), static_cast<unsigned>(std::max(splits, 1)));
  launch_kernel(l.pdl, kernel, grid, dim3(128 * kWarpgroups + 32), smem, stream, tm_a, tm_w,
                a_scale, a_corr, w, w_scale, static_cast<const int32_t*>(l.offsets),
                static_cast<const int32_t*>(l.tile_expert), static_cast<const int32_t*>(l.tile_row),
                static_cast<const int32_t*>(l.num_tiles), static_cast<int>(n), static_cast<int>(k),
                out, splits ? part : nullptr);
}

template <Fmt F>
void moe_mma_gemm(const MoeLayout& l, const uint8_t* a, const float* a_scale, const void* w,
                  const float* w_scale, int64_t n, int64_t k, bf16* out, int splits, float* part,
                  cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(n / plan::kMoeMmaBlockN),
                  static_cast<unsigned>(l.max_tiles), static_cast<unsigned>(std::max(splits, 1)));
  auto run = [&](auto kernel, int smem) {
    opt_in_dynamic_smem(kernel, smem);
    launch_kernel(
        l.pdl, kernel, grid, kGemmThreads, smem, stream, a, a_scale, static_cast<const uint8_t*>(w),
        w_scale, static_cast<const int32_t*>(l.offsets), static_cast<const int32_t*>(l.tile_expert),
        static_cast<const int32_t*>(l.tile_row), static_cast<const int32_t*>(l.num_tiles),
        static_cast<int>(n), static_cast<int>(k), l.prefetch_tiles, out, splits ? part : nullptr);
  };
  // FP8 on wgmma (plan::moe_fp8_decode_wgmma, a benchmark switch): 16- or 32-row tiles as here.
  if constexpr (F == Fmt::kFp8) {
    if (l.fp8_wgmma) {
      const auto* w8 = static_cast<const uint8_t*>(w);
      // One consumer warpgroup, or (wgmma2) one per m64 half.
      auto run_wg = [&](auto rows, auto warpgroups) {
        launch_decode_gemm_wg<false, decltype(rows)::value, false, decltype(warpgroups)::value>(
            l, a, a_scale, nullptr, w8, w_scale, n, k, out, splits, part, stream);
      };
      using One = std::integral_constant<int, 1>;
      using Two = std::integral_constant<int, 2>;
      using R16 = std::integral_constant<int, 16>;
      using R32 = std::integral_constant<int, 32>;
      if (l.bm == 32)
        l.fp8_warpgroups == 2 ? run_wg(R32(), Two()) : run_wg(R32(), One());
      else
        l.fp8_warpgroups == 2 ? run_wg(R16(), Two()) : run_wg(R16(), One());
      QK_LAUNCH_CHECK("moe_decode_gemm_wg_kernel");
      return;
    }
  }
  // The kernel for the tile's rows and the stages (plan::moe_mma_block_m, moe_mma_stages).
  auto by_stages = [&](auto rows) {
    constexpr int BM = decltype(rows)::value;
    switch (l.stages) {
      case 4:
        return run(moe_grouped_gemm_kernel<F, BM, 4>, GemmTraits<F, BM, 4>::kSmemBytes);
      case 5:
        return run(moe_grouped_gemm_kernel<F, BM, 5>, GemmTraits<F, BM, 5>::kSmemBytes);
      case 6:
        return run(moe_grouped_gemm_kernel<F, BM, 6>, GemmTraits<F, BM, 6>::kSmemBytes);
      default:
        return run(moe_grouped_gemm_kernel<F, BM, 3>, GemmTraits<F, BM, 3>::kSmemBytes);
    }
  };
  if (l.bm == 32)
    by_stages(std::integral_constant<int, 32>());
  else
    by_stages(std::integral_constant<int, 16>());
  QK_LAUNCH_CHECK("moe_grouped_gemm_kernel");
}

void moe_w4_gemm(const MoeLayout& l, const uint8_t* a, const float* a_scale, const float* a_corr,
                 const void* wp, const float* ws_t, int64_t n, int64_t k, bf16* out, int splits,
                 float* part, cudaStream_t stream) {
  // Split-K (splits > 0) only on forms 2, 3, 6-11 (plan::moe_split_k_form).
  const dim3 grid(static_cast<unsigned>(n / plan::kMoeW4BlockN), static_cast<unsigned>(l.max_tiles),
                  static_cast<unsigned>(std::max(splits, 1)));
  const dim3 block(kW4Warps * 32);
  const auto* w4 = static_cast<const uint4*>(wp);
  const auto* a16 = reinterpret_cast<const __half*>(a);
  const auto* offsets = static_cast<const int32_t*>(l.offsets);
  const auto* tile_expert = static_cast<const int32_t*>(l.tile_expert);
  const auto* tile_row = static_cast<const int32_t*>(l.tile_row);
  const auto* num_tiles = static_cast<const int32_t*>(l.num_tiles);
  const int ni = static_cast<int>(n), ki = static_cast<int>(k);
  // Forms 2, 3, 6-8 (one body, w4_v2_gemm) differ in their kernel only.
  auto launch_v2 = [&](auto kernel) {
    launch_kernel(l.pdl, kernel, grid, block, 0, stream, a16, a_scale, a_corr, w4, ws_t, offsets,
                  tile_expert, tile_row, num_tiles, ni, ki, l.prefetch_tiles, out,
                  splits ? part : nullptr);
  };
  if (l.w4_form == plan::kMoeW4WgForm) {
    launch_decode_gemm_wg<true, 16>(l, a, a_scale, nullptr, static_cast<const uint8_t*>(wp), ws_t,
                                    n, k, out, splits, part, stream);
  } else if (l.w4_form == plan::kMoeW4WgOffsetForm) {
    launch_decode_gemm_wg<true, 16, true>(l, a, a_scale, a_corr, static_cast<const uint8_t*>(wp),
                                          ws_t, n, k, out, splits, part, stream);
  } else if (l.w4_form == plan::kMoeW4WgKbMajorForm) {
    launch_decode_gemm_wg<true, 16, true, 1, 0, false, true>(l, a, a_scale, a_corr,
                                                             static_cast<const uint8_t*>(wp), ws_t,
                                                             n, k, out, splits, part, stream);
  } else if (l.w4_form == plan::kMoeW4WgRotateForm) {
    launch_decode_gemm_wg<true, 16, true, 1, 0, true>(l, a, a_scale, a_corr,
                                                      static_cast<const uint8_t*>(wp), ws_t, n, k,
                                                      out, splits, part, stream);
  } else if (l.w4_form == plan::kMoeW4WgDeep6Form) {
    launch_decode_gemm_wg<true, 16, true, 1, plan::moe_w4_wg_stages(plan::kMoeW4WgDeep6Form)>(
        l, a, a_scale, a_corr, static_cast<const uint8_t*>(wp), ws_t, n, k, out, splits, part,
        stream);
  } else if (l.w4_form == plan::kMoeW4WgDeep8Form) {
    launch_decode_gemm_wg<true, 16, true, 1, plan::moe_w4_wg_stages(plan::kMoeW4WgDeep8Form)>(
        l, a, a_scale, a_corr, static_cast<const uint8_t*>(wp), ws_t, n, k, out, splits, part,
        stream);
  } else if (plan::moe_w4_wg_form(l.w4_form) && l.bm == 32) {  // form 14's 32-row tiles
    launch_decode_gemm_wg<true, 32, true, 2>(l, a, a_scale, a_corr, static_cast<const uint8_t*>(wp),
                                             ws_t, n, k, out, splits, part, stream);
  } else if (l.w4_form == plan::kMoeW4WgHalvesForm || l.w4_form == plan::kMoeW4WgTilesForm) {
    launch_decode_gemm_wg<true, 16, true, 2>(l, a, a_scale, a_corr, static_cast<const uint8_t*>(wp),
                                             ws_t, n, k, out, splits, part, stream);
  } else if (l.w4_form == 4 || l.w4_form == 5) {
    constexpr int smem = plan::moe_w4_ring_smem_bytes();
    const auto kernel = l.w4_form == 5 ? moe_w4a8_decode_gemm_ring_kernel<true>
                                       : moe_w4a8_decode_gemm_ring_kernel<false>;
    opt_in_dynamic_smem(kernel, smem);
    launch_kernel(l.pdl, kernel, grid, block, smem, stream, a16, a_scale, a_corr, w4, ws_t, offsets,
                  tile_expert, tile_row, num_tiles, ni, ki, out);
  } else if (l.w4_form == 10) {
    launch_v2(moe_w4a8_decode_gemm_v2_occ_kernel<4, 1, 0, true>);
  } else if (l.w4_form == 9) {
    launch_v2(moe_w4a8_decode_gemm_v2_occ_kernel<4, 1, plan::kMoeW4Form9Ahead>);
  } else if (l.w4_form == 8) {
    launch_v2(moe_w4a8_decode_gemm_v2_occ_kernel<4, 1>);
  } else if (l.w4_form == 7) {
    launch_v2(moe_w4a8_decode_gemm_v2_occ_kernel<3, 2>);
  } else if (l.w4_form == 6) {
    launch_v2(moe_w4a8_decode_gemm_v2_kernel<true, true>);
  } else if (l.w4_form == 3) {
    launch_v2(moe_w4a8_decode_gemm_v2_kernel<true>);
  } else if (l.w4_form == 2) {
    launch_v2(moe_w4a8_decode_gemm_v2_kernel<false>);
  } else {
    launch_kernel(l.pdl, moe_w4a8_decode_gemm_kernel, grid, block, 0, stream, a, a_scale, w4, ws_t,
                  offsets, tile_expert, tile_row, num_tiles, ni, ki, out);
  }
  QK_LAUNCH_CHECK("moe_w4a8_decode_gemm_kernel");
}

// The two grouped GEMMs (and SiLU * up between them on the mma.sync path).
template <Fmt F>
void moe_gemms(const MoeFfnProblem& p, const MoeLayout& l, const MoeFfnWeights& w,
               cudaStream_t stream) {
  const int64_t h = p.hidden, inter = p.intermediate;
  if (l.path == plan::MoeGemmPath::kMmaSync) {
    if constexpr (F == Fmt::kW4a8) {
      moe_w4_gemm(l, l.xp, l.xp_scale, l.xp_corr, w.w1_frag, w.w1_scale, 2 * inter, h, l.h,
                  l.splits1, l.h_part, stream);
      moe_act<F>(p, l, stream);
      moe_w4_gemm(l, l.act, l.act_scale, l.act_corr, w.w2_frag, w.w2_scale, h, inter, l.y,
                  l.splits2, l.y_part, stream);
    } else {
      moe_mma_gemm<F>(l, l.xp, l.xp_scale, w.w1, w.w1_scale, 2 * inter, h, l.h, l.splits1, l.h_part,
                      stream);
      moe_act<F>(p, l, stream);
      moe_mma_gemm<F>(l, l.act, l.act_scale, w.w2, w.w2_scale, h, inter, l.y, l.splits2, l.y_part,
                      stream);
    }
    return;
  }
  const void *w1 = w.w1, *w2 = w.w2;
  const bool int4_in_producer =
      F == Fmt::kW4a8 &&
      plan::moe_w4_int4_in_producer(plan::moe_w4_prefill_dequant(), double(l.rows), p.experts);
  if (F == Fmt::kW4a8 && !int4_in_producer) {
    const size_t w1_bytes = size_t(p.experts) * 2 * inter * h / 2,
                 w2_bytes = size_t(p.experts) * h * inter / 2;
    moe_dequant_int4_kernel<<<8 * sm_count(), 256, 0, stream>>>(
        static_cast<const uint4*>(w.w1), w1_bytes / 16, reinterpret_cast<uint4*>(l.w1q));
    QK_LAUNCH_CHECK("moe_dequant_int4_kernel");
    moe_dequant_int4_kernel<<<8 * sm_count(), 256, 0, stream>>>(
        static_cast<const uint4*>(w.w2), w2_bytes / 16, reinterpret_cast<uint4*>(l.w2q));
    QK_LAUNCH_CHECK("moe_dequant_int4_kernel");
    w1 = l.w1q;
    w2 = l.w2q;
  }
  // Scales k-block-major ([k / 128][rows]): a tile's rows of one k block are contiguous.
  Sm90GroupedGemmArgs g;
  g.fp8 = F != Fmt::kBf16;
  g.w_scale_per_row = F == Fmt::kW4a8;
  g.w_int4 = int4_in_producer;
  g.rows = l.rows;
  g.experts = p.experts;
  g.offsets = l.offsets;
  g.tile_expert = l.tile_expert;
  g.tile_row = l.tile_row;
  g.tile_first = l.tile_first;
  g.tile_count = l.tile_count;
  g.num_tiles = l.num_tiles;
  Sm90GroupedGemmArgs g1 = g, g2 = g;
  g1.silu_mul = true;  // gate/up with SiLU * up (and the FP8 quantisation) fused
  g1.a = l.xp;
  g1.k = h;
  g1.a_scale = l.xp_scale;
  g1.w = w1;
  g1.n = 2 * inter;
  g1.w_scale = w.w1_scale;
  g1.out = l.act;
  g1.out_scale = l.act_scale;
  g2.a = l.act;
  g2.k = inter;
  g2.a_scale = l.act_scale;
  g2.w = w2;
  g2.n = h;
  g2.w_scale = w.w2_scale;
  g2.out = l.y;
  Sm90GroupedGemm(g1).run(stream);
  Sm90GroupedGemm(g2).run(stream);
}

void moe_combine(const MoeFfnProblem& p, const MoeLayout& l, const float* weights,
                 const MoeFfnBuffers& b, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(p.tokens),
                  static_cast<unsigned>(plan::moe_combine_ctas_per_token(p.hidden)));
  const void* y = l.splits2 ? static_cast<const void*>(l.y_part) : l.y;
  launch_kernel(l.pdl, l.splits2 ? moe_combine_kernel<true> : moe_combine_kernel<false>, grid,
                plan::kMoeCombineThreads, 0, stream, y, l.splits2,
                static_cast<const int32_t*>(l.slot_row), weights, p.top_k,
                static_cast<int>(p.hidden), static_cast<bf16*>(b.out));
  QK_LAUNCH_CHECK("moe_combine_kernel");
}

void check_moe_buffers(const MoeFfnProblem& p, const MoeFfnWeights& w, const MoeFfnBuffers& b,
                       plan::MoeGemmPath path) {
  auto require = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("moe_ffn: ") + what);
  };
  require(b.x && b.out && b.workspace, "x, out and workspace are required");
  require((b.router_logits != nullptr) != (b.topk_ids != nullptr),
          "give router_logits or topk_ids, not both");
  require(b.router_logits || b.topk_weights, "topk_ids need topk_weights");
  const bool w4_mma = p.format == MoeFormat::kW4a8 && path == plan::MoeGemmPath::kMmaSync;
  require(w4_mma ? (w.w1_frag && w.w2_frag) : (w.w1 && w.w2),
          "the weights of this path are missing (W4A8 at decode sizes reads w1_frag, w2_frag)");
  require(p.format == MoeFormat::kBf16 || (w.w1_scale && w.w2_scale), "weight scales are missing");
}

template <Fmt F>
void moe_ffn_impl(const MoeFfnProblem& p, const MoeFfnWeights& w, const MoeFfnBuffers& b,
                  cudaStream_t stream) {
  const plan::MoeGemmPath path = plan::moe_gemm_path(p.tokens, p.top_k, p.experts);
  check_moe_buffers(p, w, b, path);
  const MoeLayout l = moe_layout(p, path, b.workspace);
  moe_route<F>(p, l, b, stream);
  moe_gemms<F>(p, l, w, stream);
  moe_combine(p, l, b.router_logits ? l.weights : b.topk_weights, b, stream);
}

}  // namespace

size_t moe_ffn_workspace_bytes(const MoeFfnProblem& problem) {
  check_moe_problem(problem);
  // Each path's layout grows with the tokens: the larger of the two at the most tokens.
  return std::max(moe_layout(problem, plan::MoeGemmPath::kMmaSync, nullptr).bytes,
                  moe_layout(problem, plan::MoeGemmPath::kWgmma, nullptr).bytes);
}

void moe_ffn(const MoeFfnProblem& problem, const MoeFfnWeights& weights,
             const MoeFfnBuffers& buffers, cudaStream_t stream) {
  check_moe_problem(problem);
  switch (fmt_of(problem.format)) {
    case Fmt::kBf16:
      return moe_ffn_impl<Fmt::kBf16>(problem, weights, buffers, stream);
    case Fmt::kFp8:
      return moe_ffn_impl<Fmt::kFp8>(problem, weights, buffers, stream);
    case Fmt::kW4a8:
      return moe_ffn_impl<Fmt::kW4a8>(problem, weights, buffers, stream);
  }
}

MoeWeightBytes moe_ffn_weight_bytes(const MoeFfnProblem& p, bool mma_path, bool wgmma_path) {
  check_moe_problem(p);
  const size_t n1k = size_t(p.experts) * 2 * p.intermediate * p.hidden;
  const size_t n2k = size_t(p.experts) * p.hidden * p.intermediate;
  MoeWeightBytes b;
  switch (p.format) {
    case MoeFormat::kBf16:
      b.w1 = 2 * n1k;
      b.w2 = 2 * n2k;
      break;
    case MoeFormat::kFp8:
      b.w1 = n1k;
      b.w2 = n2k;
      b.w1_scale = n1k / (128 * 128) * sizeof(float);
      b.w2_scale = n2k / (128 * 128) * sizeof(float);
      break;
    case MoeFormat::kW4a8:
      b.w1 = wgmma_path ? n1k / 2 : 0;
      b.w2 = wgmma_path ? n2k / 2 : 0;
      b.w1_frag = mma_path ? n1k / 2 : 0;
      b.w2_frag = mma_path ? n2k / 2 : 0;
      b.w1_scale = n1k / 128 * sizeof(float);
      b.w2_scale = n2k / 128 * sizeof(float);
      break;
  }
  return b;
}

void moe_ffn_fill_weights(const MoeFfnProblem& p, const MoeFfnWeights& w, uint64_t seed,
                          cudaStream_t stream) {
  check_moe_problem(p);
  const size_t n1k = size_t(p.experts) * 2 * p.intermediate * p.hidden;
  const size_t n2k = size_t(p.experts) * p.hidden * p.intermediate;
  auto mut = [](const void* ptr) { return static_cast<uint8_t*>(const_cast<void*>(ptr)); };
  auto mutf = [](const float* ptr) { return const_cast<float*>(ptr); };
  // Amplitudes that keep the gate and the output near unit variance.
  const float a1 = 3.0f / std::sqrt(float(p.hidden)), a2 = 3.0f / std::sqrt(float(p.intermediate));
  switch (p.format) {
    case MoeFormat::kBf16:
      if (w.w1)
        fill_uniform(reinterpret_cast<bf16*>(mut(w.w1)), n1k, seed * 16 + 3, -a1, a1, stream);
      if (w.w2)
        fill_uniform(reinterpret_cast<bf16*>(mut(w.w2)), n2k, seed * 16 + 4, -a2, a2, stream);
      return;
    case MoeFormat::kFp8:
      if (w.w1) fill_uniform(reinterpret_cast<fp8*>(mut(w.w1)), n1k, seed * 16 + 3, 240.0f, stream);
      if (w.w2) fill_uniform(reinterpret_cast<fp8*>(mut(w.w2)), n2k, seed * 16 + 4, 240.0f, stream);
      if (w.w1_scale)
        fill_uniform(mutf(w.w1_scale), n1k / (128 * 128), seed * 16 + 5, 0.5f * a1 / 240,
                     1.5f * a1 / 240, stream);
      if (w.w2_scale)
        fill_uniform(mutf(w.w2_scale), n2k / (128 * 128), seed * 16 + 6, 0.5f * a2 / 240,
                     1.5f * a2 / 240, stream);
      return;
    case MoeFormat::kW4a8: {
      // INT4 of mean zero (fill_int4_zero_mean); the fragment-order copies
      // are the same weights repacked (or, without the plain copy, values of their own: the
      // repacking moves whole nibbles, so any nibble string is a valid fragment copy).
      struct Mat {
        const void* plain;
        const void* frag;
        int64_t n, k;
        uint64_t seed;
      };
      for (const Mat& m : {Mat{w.w1, w.w1_frag, 2 * p.intermediate, p.hidden, seed * 16 + 3},
                           Mat{w.w2, w.w2_frag, p.hidden, p.intermediate, seed * 16 + 4}}) {
        const size_t bytes = size_t(p.experts) * m.n * m.k / 2;
        if (m.plain) fill_int4_zero_mean(mut(m.plain), bytes, m.seed, stream);
        if (m.frag && m.plain) {
          // The fragment order of the decode GEMM's form that will read them.
          const int form = plan::moe_w4_decode_form();
          if (plan::moe_w4_wg_form(form))
            moe_w4_prepack_wg_kernel<<<8 * sm_count(), 256, 0, stream>>>(
                static_cast<const uint8_t*>(m.plain), p.experts, static_cast<int>(m.n),
                static_cast<int>(m.k),
                form == plan::kMoeW4WgForm ? W4WgNibbles::kRowsApart : W4WgNibbles::kInterleaved,
                form == plan::kMoeW4WgKbMajorForm, reinterpret_cast<uint32_t*>(mut(m.frag)));
          else if (form >= 2)
            moe_w4_prepack_v2_kernel<<<8 * sm_count(), 256, 0, stream>>>(
                static_cast<const uint8_t*>(m.plain), p.experts, static_cast<int>(m.n),
                static_cast<int>(m.k), reinterpret_cast<uint4*>(mut(m.frag)));
          else
            moe_w4_prepack_kernel<<<8 * sm_count(), 256, 0, stream>>>(
                static_cast<const uint8_t*>(m.plain), p.experts, static_cast<int>(m.n),
                static_cast<int>(m.k), reinterpret_cast<uint4*>(mut(m.frag)));
          QK_LAUNCH_CHECK("moe_w4_prepack_kernel");
        } else if (m.frag) {
          fill_int4_zero_mean(mut(m.frag), bytes, m.seed, stream);
        }
      }
      // Group scales in the kernels' order, [experts][k / 128][n].
      if (w.w1_scale)
        fill_uniform(mutf(w.w1_scale), n1k / 128, seed * 16 + 5, 0.5f * a1 / 8, 1.5f * a1 / 8,
                     stream);
      if (w.w2_scale)
        fill_uniform(mutf(w.w2_scale), n2k / 128, seed * 16 + 6, 0.5f * a2 / 8, 1.5f * a2 / 8,
                     stream);
      return;
    }
  }
}

namespace {

// The QuadrantOp front end: random buffers of its own, the launcher above; bytes() counts
// the experts the routing activates (the op routes once at prepare()).
template <Fmt F>
class MoeFfnOp final : public QuadrantOp {
 public:
  // lt: the GEMMs through cuBLASLt once per expert (BF16 only), the rest as ours.
  MoeFfnOp(std::string quadrant, std::string format, const ShapeParams& shape, bool lt)
      : quadrant_(std::move(quadrant)), format_(std::move(format)), lt_(lt) {
    const MoeFfnShape sh = parse_moe_ffn(quadrant_, shape);
    problem_.format = F == Fmt::kBf16  ? MoeFormat::kBf16
                      : F == Fmt::kFp8 ? MoeFormat::kFp8
                                       : MoeFormat::kW4a8;
    problem_.tokens = sh.tokens;
    problem_.experts = sh.experts;
    problem_.top_k = sh.top_k;
    problem_.hidden = sh.hidden;
    problem_.intermediate = sh.intermediate;
    path_ = plan::moe_gemm_path(problem_.tokens, problem_.top_k, problem_.experts, lt_);
  }

  std::string name() const override { return "sm90_" + format_ + "_" + quadrant_; }

  void prepare(uint64_t seed) override {
    const MoeFfnProblem& p = problem_;
    x_.resize(p.tokens * p.hidden);
    scores_.resize(p.tokens * p.experts);
    fill_uniform(x_.get(), x_.size(), seed * 16 + 1, -1.0f, 1.0f);
    fill_uniform(scores_.get(), scores_.size(), seed * 16 + 2, -4.0f, 4.0f);
    const bool mma = path_ == plan::MoeGemmPath::kMmaSync;
    const MoeWeightBytes wb = moe_ffn_weight_bytes(p, mma, !mma);
    w1_.resize(wb.w1);
    w2_.resize(wb.w2);
    w1_scale_.resize(wb.w1_scale / sizeof(float));
    w2_scale_.resize(wb.w2_scale / sizeof(float));
    w1_frag_.resize(wb.w1_frag);
    w2_frag_.resize(wb.w2_frag);
    if (F == Fmt::kW4a8 && mma) {
      // The plain INT4 copy only to repack from and for the check.
      w1_.resize(wb.w1_frag);
      w2_.resize(wb.w2_frag);
    }
    moe_ffn_fill_weights(p, weights(), seed, nullptr);
    out_.resize(p.tokens * p.hidden);
    workspace_.resize(moe_layout(p, path_, nullptr).bytes);
    layout_ = moe_layout(p, path_, workspace_.get());
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    if (lt_) plan_lt();
    count_active_experts();
  }

  void launch(cudaStream_t stream) override {
    if (!lt_) return moe_ffn(problem_, weights(), buffers(), stream);
    moe_route<F>(problem_, layout_, buffers(), stream);
    lt_gemms_and_act(stream);
    moe_combine(problem_, layout_, layout_.weights, buffers(), stream);
  }

  CheckResult check(uint64_t seed) override {
    prepare(seed);
    const MoeFfnProblem& p = problem_;
    poison(out_.get(), out_.bytes());
    launch(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    const auto out = bf16_to_double(as_raw<uint16_t>(out_.download()));
    const auto x = bf16_to_double(as_raw<uint16_t>(x_.download()));
    const auto scores = scores_.download();
    const auto routing = ref::route_top_k(scores.data(), p.tokens, p.experts, p.top_k);
    const auto w1_raw = w1_.download(), w2_raw = w2_.download();
    const auto w1_scale = w1_scale_.download(), w2_scale = w2_scale_.download();
    // Sampled tokens, about 5e8 multiply-adds of float64 reference at most.
    const double per_token = double(p.top_k) * 3.0 * double(p.hidden) * double(p.intermediate);
    const auto tokens = sample_rows(p.tokens, std::clamp<int64_t>(int64_t(5e8 / per_token), 2, 64));
    std::map<int, std::pair<std::vector<double>, std::vector<double>>> experts;
    std::vector<double> expected, got, row(p.hidden);
    for (int64_t t : tokens) {
      std::vector<double> sum(p.hidden, 0.0);
      for (int j = 0; j < p.top_k; ++j) {
        const int e = routing.expert[t * p.top_k + j];
        auto it = experts.find(e);
        if (it == experts.end())
          it =
              experts
                  .emplace(e, std::make_pair(
                                  decode_weights(w1_raw, w1_scale, e, 2 * p.intermediate, p.hidden),
                                  decode_weights(w2_raw, w2_scale, e, p.hidden, p.intermediate)))
                  .first;
        ref::expert_ffn(x.data() + t * p.hidden, it->second.first.data(), it->second.second.data(),
                        p.hidden, p.intermediate, row.data());
        for (int64_t h = 0; h < p.hidden; ++h) sum[h] += routing.weight[t * p.top_k + j] * row[h];
      }
      expected.insert(expected.end(), sum.begin(), sum.end());
      got.insert(got.end(), out.begin() + t * p.hidden, out.begin() + (t + 1) * p.hidden);
    }
    CheckResult c;
    c.tolerance = F == Fmt::kBf16 ? 1e-2 : 5e-2;  // "bf16_cublaslt" is BF16 too
    c.all_written = std::none_of(out.begin(), out.end(), [](double v) { return std::isnan(v); });
    c.rel_fro_error = ref::rel_fro_error(got.data(), expected.data(), got.size());
    count_active_experts();
    return c;
  }

  double flops() const override {
    return 2.0 * double(layout_.rows) * 3.0 * double(problem_.hidden) *
           double(problem_.intermediate);
  }
  // The fewest bytes: the weights of the experts this routing activates, read once, and
  // the token activations in and out.
  double bytes() const override {
    const double per_elem = F == Fmt::kBf16 ? 2.0 : F == Fmt::kFp8 ? 1.0 : 0.5;
    return double(active_experts_) * 3.0 * double(problem_.hidden) * double(problem_.intermediate) *
               per_elem +
           2.0 * double(problem_.tokens) * double(problem_.hidden) * 2.0;
  }
  size_t device_bytes() const override {
    return x_.bytes() + scores_.bytes() + w1_.bytes() + w2_.bytes() + w1_scale_.bytes() +
           w2_scale_.bytes() + w1_frag_.bytes() + w2_frag_.bytes() + out_.bytes() +
           workspace_.bytes();
  }

 private:
  MoeFfnWeights weights() const {
    MoeFfnWeights w;
    w.w1 = w1_.size() ? w1_.get() : nullptr;
    w.w2 = w2_.size() ? w2_.get() : nullptr;
    w.w1_scale = w1_scale_.size() ? w1_scale_.get() : nullptr;
    w.w2_scale = w2_scale_.size() ? w2_scale_.get() : nullptr;
    w.w1_frag = w1_frag_.size() ? w1_frag_.get() : nullptr;
    w.w2_frag = w2_frag_.size() ? w2_frag_.get() : nullptr;
    return w;
  }
  MoeFfnBuffers buffers() const {
    MoeFfnBuffers b;
    b.x = x_.get();
    b.router_logits = scores_.get();
    b.out = out_.get();
    b.workspace = workspace_.get();
    return b;
  }

  // Experts with at least one token under the current inputs (after prepare()).
  void count_active_experts() {
    launch(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<int32_t> counts(problem_.experts);
    QK_CUDA_CHECK(cudaMemcpy(counts.data(), layout_.counts, counts.size() * sizeof(int32_t),
                             cudaMemcpyDeviceToHost));
    active_experts_ = std::count_if(counts.begin(), counts.end(), [](int32_t c) { return c > 0; });
  }

  // cuBLASLt per expert: the row counts of this routing come to the host once here (a
  // serving framework knows them after its routing step); one plan per distinct count,
  // all sharing one workspace. launch() stays free of host synchronisation.
  void plan_lt() {
    moe_route<F>(problem_, layout_, buffers(), nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    lt_counts_.assign(problem_.experts, 0);
    QK_CUDA_CHECK(cudaMemcpy(lt_counts_.data(), layout_.counts, lt_counts_.size() * sizeof(int32_t),
                             cudaMemcpyDeviceToHost));
    lt_workspace_.resize(kDenseGemmWorkspaceBytes);
    const int64_t h = problem_.hidden, inter = problem_.intermediate;
    for (int32_t m : lt_counts_)
      if (m > 0 && !lt_plans_.count(m))
        lt_plans_.emplace(m, std::make_pair(std::make_unique<LtGemm>(m, 2 * inter, h, false),
                                            std::make_unique<LtGemm>(m, h, inter, false)));
  }
  void lt_gemms_and_act(cudaStream_t stream) {
    const int64_t h = problem_.hidden, inter = problem_.intermediate;
    const bf16* xp = reinterpret_cast<const bf16*>(layout_.xp);
    const bf16* act = reinterpret_cast<const bf16*>(layout_.act);
    const bf16* w1 = reinterpret_cast<const bf16*>(w1_.get());
    const bf16* w2 = reinterpret_cast<const bf16*>(w2_.get());
    int64_t row = 0;
    for (int e = 0; e < problem_.experts; ++e) {
      const int64_t m = lt_counts_[e];
      if (m)
        lt_plans_.at(m).first->run(xp + row * h, w1 + size_t(e) * 2 * inter * h,
                                   layout_.h + row * 2 * inter, 1.0f, lt_workspace_.get(), stream);
      row += m;
    }
    moe_act<F>(problem_, layout_, stream);
    row = 0;
    for (int e = 0; e < problem_.experts; ++e) {
      const int64_t m = lt_counts_[e];
      if (m)
        lt_plans_.at(m).second->run(act + row * inter, w2 + size_t(e) * h * inter,
                                    layout_.y + row * h, 1.0f, lt_workspace_.get(), stream);
      row += m;
    }
  }

  // Expert e's [n][k] weight matrix in float64, scales applied.
  std::vector<double> decode_weights(const std::vector<uint8_t>& raw,
                                     const std::vector<float>& scale, int e, int64_t n,
                                     int64_t k) const {
    std::vector<double> w(n * k);
    const size_t base = size_t(e) * n * k;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) {
        if constexpr (F == Fmt::kBf16) {
          uint16_t bits;
          std::memcpy(&bits, raw.data() + 2 * (base + i * k + j), 2);
          w[i * k + j] = ref::bf16_to_float(bits);
        } else if constexpr (F == Fmt::kFp8) {
          const double s = scale[(size_t(e) * (n / 128) + i / 128) * (k / 128) + j / 128];
          w[i * k + j] = ref::e4m3_to_double(raw[base + i * k + j]) * s;
        } else {
          const double s = scale[(size_t(e) * (k / 128) + j / 128) * n + i];  // [e][k/128][n]
          w[i * k + j] = ref::unpack_int4(raw.data() + base / 2, i * k + j) * s;
        }
      }
    return w;
  }

  std::string quadrant_, format_;
  bool lt_ = false;
  MoeFfnProblem problem_;
  plan::MoeGemmPath path_ = plan::MoeGemmPath::kMmaSync;
  MoeLayout layout_;
  int64_t active_experts_ = 0;
  std::vector<int32_t> lt_counts_;
  std::map<int64_t, std::pair<std::unique_ptr<LtGemm>, std::unique_ptr<LtGemm>>> lt_plans_;
  DeviceArray<uint8_t> lt_workspace_;
  DeviceArray<bf16> x_, out_;
  DeviceArray<float> scores_, w1_scale_, w2_scale_;
  DeviceArray<uint8_t> w1_, w2_, w1_frag_, w2_frag_, workspace_;
};

}  // namespace

std::unique_ptr<QuadrantOp> make_moe_ffn(const std::string& quadrant, const std::string& format,
                                         const ShapeParams& shape) {
  if (format == "bf16")
    return std::make_unique<MoeFfnOp<Fmt::kBf16>>(quadrant, format, shape, false);
  if (format == "fp8") return std::make_unique<MoeFfnOp<Fmt::kFp8>>(quadrant, format, shape, false);
  if (format == "w4a8")
    return std::make_unique<MoeFfnOp<Fmt::kW4a8>>(quadrant, format, shape, false);
  // Our kernels around cuBLASLt called once per expert (BF16): the library baseline,
  // profiled like any op. No FP8 twin: cuBLASLt has no 1x128 / 128x128 block scales on
  // sm_90, so it cannot compute the fp8 format's numbers.
  if (format == "bf16_cublaslt")
    return std::make_unique<MoeFfnOp<Fmt::kBf16>>(quadrant, format, shape, /*lt=*/true);
  throw std::invalid_argument(
      quadrant + ": format must be bf16, fp8, w4a8 or bf16_cublaslt, got '" + format + "'");
}

}  // namespace quadrant::kernels
