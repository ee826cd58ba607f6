// MoE FFN (prefill and decode quadrants): top-k routing over gate scores, permutation
// of (token, slot) pairs into rows grouped by expert, two grouped GEMMs over the experts
// (gate/up, then down) with SiLU-and-multiply between, and the weighted un-permuting
// combine. Prefill runs it at hundreds of rows per expert (matrix-bound), decode at a
// few (bound by reading the expert weights).
//
// GEMM paths: at 48+ rows per expert the sm_90a wgmma grouped GEMM (sm90_grouped_gemm.h:
// TMA, HGMMA/QGMMA, SiLU * up fused into the gate/up epilogue; W4A8 dequantised to an E4M3
// copy each step); below, the mma.sync kernels here (16-row tiles; W4A8 with the INT4
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

#include "kernels/reference/reference.h"
#include "kernels/src/common.cuh"
#include "kernels/src/lt_gemm.h"
#include "kernels/src/op_util.h"
#include "kernels/src/sm90_grouped_gemm.h"

namespace quadrant::kernels {
namespace {

enum class Fmt { kBf16, kFp8, kW4a8 };
constexpr int kMaxExperts = 256;
// Row tiles: 64 rows at prefill sizes, 16 at decode sizes (a few rows per expert), so
// that the tensor-core work per weight byte read stays small when reading weights is the
// bound.
constexpr int kBn = 128, kBkBytes = 128, kStages = 3, kGemmThreads = 256;

// ---- routing and permutation ----

__global__ void moe_topk_kernel(const float* __restrict__ scores, int tokens, int experts,
                                int top_k, int32_t* __restrict__ ids, float* __restrict__ weights) {
  constexpr int kPerLane = kMaxExperts / 32;
  const int token = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (token >= tokens) return;
  float s[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int e = lane + 32 * i;
    s[i] = e < experts ? scores[size_t(token) * experts + e] : -INFINITY;
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

__global__ void moe_count_kernel(const int32_t* __restrict__ ids, int slots,
                                 int32_t* __restrict__ counts) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < slots) atomicAdd(&counts[ids[i]], 1);
}

// One thread: experts are few (<= 256) and this keeps the schedule on the device, so
// that a step is one stream of launches without a host round trip (graph-capturable).
// Per m-tile of bm rows: its expert, first row, and the first m-tile and m-tile count of
// that expert (the wgmma path orders its tiles by them).
__global__ void moe_schedule_kernel(const int32_t* __restrict__ counts, int experts, int bm,
                                    int32_t* offsets, int32_t* fill, int32_t* tile_expert,
                                    int32_t* tile_row, int32_t* tile_first, int32_t* tile_count,
                                    int32_t* num_tiles) {
  int row = 0, tiles = 0;
  for (int e = 0; e < experts; ++e) {
    offsets[e] = row;
    fill[e] = row;
    const int first = tiles, count = (counts[e] + bm - 1) / bm;
    for (int r = 0; r < counts[e]; r += bm) {
      tile_expert[tiles] = e;
      tile_row[tiles] = row + r;
      tile_first[tiles] = first;
      tile_count[tiles] = count;
      ++tiles;
    }
    row += counts[e];
  }
  offsets[experts] = row;
  *num_tiles = tiles;
}

__global__ void moe_scatter_kernel(const int32_t* __restrict__ ids, int slots, int top_k,
                                   int32_t* fill, int32_t* __restrict__ row_token,
                                   int32_t* __restrict__ slot_row) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= slots) return;
  const int row = atomicAdd(&fill[ids[i]], 1);
  row_token[row] = i / top_k;
  slot_row[i] = row;
}

// One warp per (row, 128 columns): copy, or quantise to E4M3 with the block's amax.
template <class OutT>
__device__ __forceinline__ void store_block(const float (&v)[4], OutT* out, float* scale_out,
                                            int lane) {
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
    *reinterpret_cast<__nv_fp8x4_e4m3*>(out + lane * 4) = q;
    if (lane == 0) *scale_out = scale;
  }
}

template <class OutT>
__global__ void moe_gather_kernel(const bf16* __restrict__ x, const int32_t* __restrict__ row_token,
                                  const int32_t* __restrict__ offsets, int experts, int hidden,
                                  OutT* __restrict__ xp, float* __restrict__ xp_scale,
                                  int64_t scale_row_stride, int64_t scale_blk_stride) {
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
  store_block(v, xp + size_t(row) * hidden + blk * 128,
              xp_scale + row * scale_row_stride + blk * scale_blk_stride, lane);
}

// SiLU(gate) * up, from h [rows][2 * inter] (gate columns first) to a [rows][inter].
template <class OutT>
__global__ void moe_act_kernel(const bf16* __restrict__ h, const int32_t* __restrict__ offsets,
                               int experts, int inter, OutT* __restrict__ a,
                               float* __restrict__ a_scale, int64_t scale_row_stride,
                               int64_t scale_blk_stride) {
  const int blocks = inter / 128;
  const int item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int row = item / blocks, blk = item % blocks;
  if (row >= offsets[experts]) return;
  const bf16* gate = h + size_t(row) * 2 * inter + blk * 128 + lane * 4;
  const uint2 g = *reinterpret_cast<const uint2*>(gate);
  const uint2 u = *reinterpret_cast<const uint2*>(gate + inter);
  const float2 g0 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&g.x));
  const float2 g1 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&g.y));
  const float2 u0 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
  const float2 u1 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
  const float gs[4] = {g0.x, g0.y, g1.x, g1.y}, us[4] = {u0.x, u0.y, u1.x, u1.y};
  float v[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) v[i] = gs[i] / (1.0f + __expf(-gs[i])) * us[i];
  store_block(v, a + size_t(row) * inter + blk * 128,
              a_scale + row * scale_row_stride + blk * scale_blk_stride, lane);
}

__global__ void moe_combine_kernel(const bf16* __restrict__ y, const int32_t* __restrict__ slot_row,
                                   const float* __restrict__ weights, int top_k, int hidden,
                                   bf16* __restrict__ out) {
  const int t = blockIdx.x;
  for (int c = threadIdx.x * 2; c < hidden; c += blockDim.x * 2) {
    float2 sum = {0, 0};
    for (int j = 0; j < top_k; ++j) {
      const float w = weights[size_t(t) * top_k + j];
      const float2 v = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(
          y + size_t(slot_row[t * top_k + j]) * hidden + c));
      sum.x += w * v.x;
      sum.y += w * v.y;
    }
    *reinterpret_cast<__nv_bfloat162*>(out + size_t(t) * hidden + c) =
        __floats2bfloat162_rn(sum.x, sum.y);
  }
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

// [experts][n][k / 128] -> [experts][k / 128][n]: the W4A8 group scales in the order the
// wgmma kernel copies them (once per prepare: a storage layout, not per-step work).
__global__ void moe_transpose_scales_kernel(const float* __restrict__ in, int experts, int n,
                                            int kb, float* __restrict__ out) {
  const size_t total = size_t(experts) * n * kb;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total;
       i += size_t(gridDim.x) * blockDim.x) {
    const size_t e = i / (size_t(n) * kb), rem = i % (size_t(n) * kb);
    const int row = static_cast<int>(rem / kb), b = static_cast<int>(rem % kb);
    out[(e * kb + b) * n + row] = in[i];
  }
}

// ---- W4A8 at decode sizes: INT4 dequantised in registers into the mma B fragments ----
//
// The weights are repacked once at prepare (a storage layout, like Marlin's): for each
// expert, group of 8 weight rows, 128-deep k block and lane, 16 contiguous bytes holding
// the lane's four m16n8k32 B fragments (k32 steps) as 8 INT4 each. A warp reads 512
// contiguous bytes per k block straight into registers (no shared-memory round trip, no
// extra barrier); only the activations (16 rows x 128 bytes per k block) go through shared
// memory, as ldmatrix A fragments.
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
      // Elements 4q..4q+3 and 16+4q..16+4q+3 of this k32 step: bytes 2q, 2q+1, 8+2q, 9+2q.
      const uint8_t* chunk = src + c * 16;
      words[c] = uint32_t(chunk[2 * q]) | uint32_t(chunk[2 * q + 1]) << 8 |
                 uint32_t(chunk[8 + 2 * q]) << 16 | uint32_t(chunk[9 + 2 * q]) << 24;
    }
    out[i] = make_uint4(words[0], words[1], words[2], words[3]);
  }
}

// out[r][n] = sum_k A[r][k] * W[e(r)][n][k], A E4M3 (scale per row and 128 k, [row][k/128]),
// W the prepacked INT4 (scale per weight row and 128 k, transposed: [e][k/128][n]). 8 warps,
// each 16 weight rows (two n8 groups) x the tile's 16 rows; kDepth k blocks of weights in
// flight per lane.
constexpr int kW4Warps = 8, kW4Depth = 4, kW4Stages = 4;
__global__ void __launch_bounds__(kW4Warps * 32) moe_w4a8_decode_gemm_kernel(
    const uint8_t* __restrict__ a, const float* __restrict__ a_scale, const uint4* __restrict__ wp,
    const float* __restrict__ ws_t, const int32_t* __restrict__ offsets,
    const int32_t* __restrict__ tile_expert, const int32_t* __restrict__ tile_row,
    const int32_t* __restrict__ num_tiles, int n_total, int k_total, bf16* __restrict__ out) {
  if (static_cast<int>(blockIdx.y) >= *num_tiles) return;
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
#pragma unroll
        for (int ng = 0; ng < 2; ++ng) {
          const uint32_t word = ks == 0   ? wv[ng].x
                                : ks == 1 ? wv[ng].y
                                : ks == 2 ? wv[ng].z
                                          : wv[ng].w;
          const uint2 b = int4x8_to_e4m3x8(word);
          mma_e4m3_16832(part[ng], af, b.x, b.y);
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
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = lane / 4 + 8 * h;
    if (r >= rows) continue;
#pragma unroll
    for (int ng = 0; ng < 2; ++ng) {
      const int col = n0 + 8 * ng + 2 * (lane % 4);
      *reinterpret_cast<uint32_t*>(out + size_t(row0 + r) * n_total + col) =
          pack_bf16x2(acc[ng][2 * h], acc[ng][2 * h + 1]);
    }
  }
}

template <Fmt F, int BM>
struct GemmTraits {
  static constexpr int kAElem = F == Fmt::kBf16 ? 2 : 1;  // bytes per A element
  static constexpr int kBStageBytes = F == Fmt::kW4a8 ? kBn * 64 : kBn * kBkBytes;
  static constexpr int kStageBytes = BM * kBkBytes + kBStageBytes;
  static constexpr int kSmemBytes = kStages * kStageBytes + (F == Fmt::kW4a8 ? kBn * kBkBytes : 0);
};

template <Fmt F, int BM>
__global__ void __launch_bounds__(kGemmThreads)
    moe_grouped_gemm_kernel(const uint8_t* __restrict__ a, const float* __restrict__ a_scale,
                            const uint8_t* __restrict__ w, const float* __restrict__ w_scale,
                            const int32_t* __restrict__ offsets,
                            const int32_t* __restrict__ tile_expert,
                            const int32_t* __restrict__ tile_row,
                            const int32_t* __restrict__ num_tiles, int n_total, int k_total,
                            bf16* __restrict__ out) {
  using T = GemmTraits<F, BM>;
  constexpr int kWarpsM = BM >= 32 ? 2 : 1, kWarpsN = 8 / kWarpsM;
  constexpr int MI = BM / (16 * kWarpsM), kWarpCols = kBn / kWarpsN, NI = kWarpCols / 8;
  if (static_cast<int>(blockIdx.y) >= *num_tiles) return;
  extern __shared__ __align__(128) uint8_t smem[];
  const int e = tile_expert[blockIdx.y];
  const int row0 = tile_row[blockIdx.y];
  const int rows = min(BM, offsets[e + 1] - row0);
  const int n0 = blockIdx.x * kBn;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / kWarpsN, wn = warp % kWarpsN;
  const size_t a_row_bytes = size_t(k_total) * T::kAElem;
  const size_t w_row_bytes = F == Fmt::kW4a8 ? size_t(k_total) / 2 : a_row_bytes;
  const int k_tiles = static_cast<int>(a_row_bytes / kBkBytes);
  const int k_blocks = k_total / 128;  // scale blocks along k (8-bit formats: one per k tile)
  const uint8_t* w_expert = w + size_t(e) * n_total * w_row_bytes;

  auto load_stage = [&](int stage, int kt) {
    uint8_t* sa = smem + stage * T::kStageBytes;
    uint8_t* sb = sa + BM * kBkBytes;
    for (int c = tid; c < BM * 8; c += kGemmThreads) {
      const int r = c / 8, ch = c % 8;
      const bool valid = r < rows;
      cp_async_16(sa + swz(r, ch, kBkBytes),
                  a + size_t(row0 + (valid ? r : 0)) * a_row_bytes + kt * kBkBytes + ch * 16,
                  valid);
    }
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

  float acc[MI][NI][4], part[MI][NI][4];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int ni = 0; ni < NI; ++ni)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[mi][ni][c] = part[mi][ni][c] = 0;

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < k_tiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();
    if (kt + kStages - 1 < k_tiles) load_stage((kt + kStages - 1) % kStages, kt + kStages - 1);
    cp_async_commit();
    const uint8_t* sa = smem + (kt % kStages) * T::kStageBytes;
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
      uint8_t* sq = smem + kStages * T::kStageBytes;
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
        const int r = wm * MI * 16 + mi * 16 + (lane % 8) + ((lane / 8) & 1) * 8;
        ldmatrix_x4(af[mi], sa + swz(r, ks * 2 + lane / 16, kBkBytes));
      }
#pragma unroll
      for (int nj = 0; nj < NI / 2; ++nj) {
        const int n = wn * kWarpCols + nj * 16 + (lane % 8) + (lane / 16) * 8;
        ldmatrix_x4(bfr[nj], sb + swz(n, ks * 2 + ((lane / 8) & 1), kBkBytes));
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
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
      for (int ni = 0; ni < NI; ++ni) {
        const int col = n0 + wn * kWarpCols + ni * 8 + (lane % 4) * 2;
        *reinterpret_cast<uint32_t*>(out + size_t(row0 + r) * n_total + col) =
            pack_bf16x2(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
      }
    }
}

template <Fmt F>
class MoeFfnOp final : public QuadrantOp {
  using AType = std::conditional_t<F == Fmt::kBf16, bf16, fp8>;

 public:
  // lt: the GEMMs through cuBLASLt once per expert (BF16 only), the rest as ours.
  MoeFfnOp(std::string quadrant, std::string format, const ShapeParams& shape, bool lt = false)
      : quadrant_(std::move(quadrant)), format_(std::move(format)), lt_(lt) {
    ShapeReader r(shape, quadrant_);
    tokens_ = r.get("tokens");
    experts_ = static_cast<int>(r.get("experts"));
    top_k_ = static_cast<int>(r.get("top_k"));
    hidden_ = r.get("hidden");
    inter_ = r.get("intermediate");
    r.finish();
    r.require(tokens_ >= 1, "tokens must be >= 1");
    r.require(experts_ >= 1 && experts_ <= kMaxExperts, "experts must be in [1, 256]");
    r.require(top_k_ >= 1 && top_k_ <= experts_ && top_k_ <= 32,
              "top_k must be in [1, min(experts, 32)]");
    r.require(hidden_ % 128 == 0 && inter_ % 128 == 0,
              "hidden and intermediate must be multiples of 128");
    rows_ = tokens_ * top_k_;
    // Prefill sizes (48 or more rows per expert on average) take the wgmma grouped GEMM
    // with 128-row tiles (BF16, FP8); decode sizes the mma.sync kernel with 16-row tiles.
    const bool prefill_sized = rows_ >= 48 * int64_t(experts_);
    use_wgmma_ = prefill_sized && !lt_;
    bm_ = use_wgmma_ ? Sm90GroupedGemm::kBlockM : prefill_sized ? 64 : 16;
    max_tiles_ = (rows_ + bm_ - 1) / bm_ + experts_;
  }

  std::string name() const override { return "sm90_" + format_ + "_" + quadrant_; }

  void prepare(uint64_t seed) override {
    const size_t w1 = size_t(experts_) * 2 * inter_ * hidden_,
                 w2 = size_t(experts_) * hidden_ * inter_;
    x_.resize(tokens_ * hidden_);
    scores_.resize(tokens_ * experts_);
    fill_uniform(x_.get(), x_.size(), seed * 16 + 1, -1.0f, 1.0f);
    fill_uniform(scores_.get(), scores_.size(), seed * 16 + 2, -4.0f, 4.0f);
    // Weight amplitudes keep the gate and the output near unit variance.
    const float a1 = 3.0f / std::sqrt(float(hidden_)), a2 = 3.0f / std::sqrt(float(inter_));
    if constexpr (F == Fmt::kBf16) {
      w1_.resize(w1 * 2);
      w2_.resize(w2 * 2);
      fill_uniform(reinterpret_cast<bf16*>(w1_.get()), w1, seed * 16 + 3, -a1, a1);
      fill_uniform(reinterpret_cast<bf16*>(w2_.get()), w2, seed * 16 + 4, -a2, a2);
    } else if constexpr (F == Fmt::kFp8) {
      w1_.resize(w1);
      w2_.resize(w2);
      fill_uniform(reinterpret_cast<fp8*>(w1_.get()), w1, seed * 16 + 3, 240.0f);
      fill_uniform(reinterpret_cast<fp8*>(w2_.get()), w2, seed * 16 + 4, 240.0f);
      w1_scale_.resize(w1 / (128 * 128));
      w2_scale_.resize(w2 / (128 * 128));
      fill_uniform(w1_scale_.get(), w1_scale_.size(), seed * 16 + 5, 0.5f * a1 / 240,
                   1.5f * a1 / 240);
      fill_uniform(w2_scale_.get(), w2_scale_.size(), seed * 16 + 6, 0.5f * a2 / 240,
                   1.5f * a2 / 240);
    } else {
      w1_.resize(w1 / 2);
      w2_.resize(w2 / 2);
      fill_bytes(w1_.get(), w1_.size(), seed * 16 + 3);
      fill_bytes(w2_.get(), w2_.size(), seed * 16 + 4);
      w1_scale_.resize(w1 / 128);
      w2_scale_.resize(w2 / 128);
      fill_uniform(w1_scale_.get(), w1_scale_.size(), seed * 16 + 5, 0.5f * a1 / 8, 1.5f * a1 / 8);
      fill_uniform(w2_scale_.get(), w2_scale_.size(), seed * 16 + 6, 0.5f * a2 / 8, 1.5f * a2 / 8);
    }
    ids_.resize(rows_);
    weights_.resize(rows_);
    counts_.resize(experts_);
    offsets_.resize(experts_ + 1);
    fill_.resize(experts_);
    tile_expert_.resize(max_tiles_);
    tile_row_.resize(max_tiles_);
    tile_first_.resize(max_tiles_);
    tile_count_.resize(max_tiles_);
    num_tiles_.resize(1);
    row_token_.resize(rows_);
    slot_row_.resize(rows_);
    xp_.resize(rows_ * hidden_);
    xp_scale_.resize(rows_ * hidden_ / 128);
    h_.resize(use_wgmma_ ? 0 : rows_ * 2 * inter_);  // the wgmma path fuses SiLU * up
    act_.resize(rows_ * inter_);
    act_scale_.resize(rows_ * inter_ / 128);
    y_.resize(rows_ * hidden_);
    out_.resize(tokens_ * hidden_);
    if (F != Fmt::kBf16) {  // unused by bf16, but never left uninitialised
      QK_CUDA_CHECK(cudaMemset(xp_scale_.get(), 0, xp_scale_.bytes()));
    }
    QK_CUDA_CHECK(cudaFuncSetAttribute(moe_grouped_gemm_kernel<F, 16>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       GemmTraits<F, 16>::kSmemBytes));
    QK_CUDA_CHECK(cudaFuncSetAttribute(moe_grouped_gemm_kernel<F, 64>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       GemmTraits<F, 64>::kSmemBytes));
    if constexpr (F == Fmt::kW4a8) {
      w4_decode_ = !use_wgmma_ && bm_ == 16 && !lt_;
      if (w4_decode_) {
        w1p_.resize(w1_.size());
        w2p_.resize(w2_.size());
        w1_scale_t_.resize(w1_scale_.size());
        w2_scale_t_.resize(w2_scale_.size());
        moe_w4_prepack_kernel<<<8 * sm_count(), 256>>>(
            w1_.get(), experts_, static_cast<int>(2 * inter_), static_cast<int>(hidden_),
            reinterpret_cast<uint4*>(w1p_.get()));
        QK_LAUNCH_CHECK("moe_w4_prepack_kernel");
        moe_w4_prepack_kernel<<<8 * sm_count(), 256>>>(
            w2_.get(), experts_, static_cast<int>(hidden_), static_cast<int>(inter_),
            reinterpret_cast<uint4*>(w2p_.get()));
        QK_LAUNCH_CHECK("moe_w4_prepack_kernel");
        moe_transpose_scales_kernel<<<4 * sm_count(), 256>>>(
            w1_scale_.get(), experts_, static_cast<int>(2 * inter_),
            static_cast<int>(hidden_ / 128), w1_scale_t_.get());
        QK_LAUNCH_CHECK("moe_transpose_scales_kernel");
        moe_transpose_scales_kernel<<<4 * sm_count(), 256>>>(
            w2_scale_.get(), experts_, static_cast<int>(hidden_), static_cast<int>(inter_ / 128),
            w2_scale_t_.get());
        QK_LAUNCH_CHECK("moe_transpose_scales_kernel");
      }
    }
    if (use_wgmma_) {
      // Scales k-block-major ([k / 128][rows]): a tile's rows of one k block are contiguous.
      Sm90GroupedGemmArgs g;
      g.fp8 = F != Fmt::kBf16;
      g.w_scale_per_row = F == Fmt::kW4a8;
      const uint8_t *w1 = w1_.get(), *w2 = w2_.get();
      const float *w1s = w1_scale_.get(), *w2s = w2_scale_.get();
      if constexpr (F == Fmt::kW4a8) {
        w1q_.resize(w1_.size() * 2);
        w2q_.resize(w2_.size() * 2);
        w1_scale_t_.resize(w1_scale_.size());
        w2_scale_t_.resize(w2_scale_.size());
        moe_transpose_scales_kernel<<<4 * sm_count(), 256>>>(
            w1_scale_.get(), experts_, static_cast<int>(2 * inter_),
            static_cast<int>(hidden_ / 128), w1_scale_t_.get());
        QK_LAUNCH_CHECK("moe_transpose_scales_kernel");
        moe_transpose_scales_kernel<<<4 * sm_count(), 256>>>(
            w2_scale_.get(), experts_, static_cast<int>(hidden_), static_cast<int>(inter_ / 128),
            w2_scale_t_.get());
        QK_LAUNCH_CHECK("moe_transpose_scales_kernel");
        w1 = w1q_.get();
        w2 = w2q_.get();
        w1s = w1_scale_t_.get();
        w2s = w2_scale_t_.get();
      }
      g.rows = rows_;
      g.experts = experts_;
      g.offsets = offsets_.get();
      g.tile_expert = tile_expert_.get();
      g.tile_row = tile_row_.get();
      g.tile_first = tile_first_.get();
      g.tile_count = tile_count_.get();
      g.num_tiles = num_tiles_.get();
      Sm90GroupedGemmArgs g1 = g, g2 = g;
      g1.silu_mul = true;
      g1.a = xp_.get();
      g1.k = hidden_;
      g1.a_scale = g.fp8 ? xp_scale_.get() : nullptr;
      g1.w = w1;
      g1.n = 2 * inter_;
      g1.w_scale = g.fp8 ? w1s : nullptr;
      g1.out = act_.get();
      g1.out_scale = g.fp8 ? act_scale_.get() : nullptr;
      g2.a = act_.get();
      g2.k = inter_;
      g2.a_scale = g.fp8 ? act_scale_.get() : nullptr;
      g2.w = w2;
      g2.n = hidden_;
      g2.w_scale = g.fp8 ? w2s : nullptr;
      g2.out = y_.get();
      gemm_up_ = Sm90GroupedGemm(g1);
      gemm_down_ = Sm90GroupedGemm(g2);
    }
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    if (lt_) plan_lt();
  }

  void launch(cudaStream_t stream) override {
    route(stream);
    if (lt_) {
      lt_gemms_and_act(stream);
    } else if (use_wgmma_) {
      if constexpr (F == Fmt::kW4a8) {
        moe_dequant_int4_kernel<<<8 * sm_count(), 256, 0, stream>>>(
            reinterpret_cast<const uint4*>(w1_.get()), w1_.size() / 16,
            reinterpret_cast<uint4*>(w1q_.get()));
        QK_LAUNCH_CHECK("moe_dequant_int4_kernel");
        moe_dequant_int4_kernel<<<8 * sm_count(), 256, 0, stream>>>(
            reinterpret_cast<const uint4*>(w2_.get()), w2_.size() / 16,
            reinterpret_cast<uint4*>(w2q_.get()));
        QK_LAUNCH_CHECK("moe_dequant_int4_kernel");
      }
      gemm_up_.run(stream);  // gate/up with SiLU * up (and the FP8 quantisation) fused
      gemm_down_.run(stream);
    } else {
      gemm_and_act(stream);
    }
    moe_combine_kernel<<<static_cast<unsigned>(tokens_), 256, 0, stream>>>(
        y_.get(), slot_row_.get(), weights_.get(), top_k_, static_cast<int>(hidden_), out_.get());
    QK_LAUNCH_CHECK("moe_combine_kernel");
  }

  // Routing, the device-side schedule, the permutation and the gather (with quantisation).
  void route(cudaStream_t stream) {
    const int slots = static_cast<int>(rows_);
    moe_topk_kernel<<<(tokens_ + 7) / 8, 256, 0, stream>>>(
        scores_.get(), static_cast<int>(tokens_), experts_, top_k_, ids_.get(), weights_.get());
    QK_LAUNCH_CHECK("moe_topk_kernel");
    QK_CUDA_CHECK(cudaMemsetAsync(counts_.get(), 0, counts_.bytes(), stream));
    moe_count_kernel<<<(slots + 255) / 256, 256, 0, stream>>>(ids_.get(), slots, counts_.get());
    QK_LAUNCH_CHECK("moe_count_kernel");
    moe_schedule_kernel<<<1, 1, 0, stream>>>(counts_.get(), experts_, static_cast<int>(bm_),
                                             offsets_.get(), fill_.get(), tile_expert_.get(),
                                             tile_row_.get(), tile_first_.get(), tile_count_.get(),
                                             num_tiles_.get());
    QK_LAUNCH_CHECK("moe_schedule_kernel");
    moe_scatter_kernel<<<(slots + 255) / 256, 256, 0, stream>>>(
        ids_.get(), slots, top_k_, fill_.get(), row_token_.get(), slot_row_.get());
    QK_LAUNCH_CHECK("moe_scatter_kernel");
    const int64_t gather_warps = rows_ * hidden_ / 128;
    moe_gather_kernel<AType><<<static_cast<unsigned>((gather_warps + 7) / 8), 256, 0, stream>>>(
        x_.get(), row_token_.get(), offsets_.get(), experts_, static_cast<int>(hidden_), xp_.get(),
        xp_scale_.get(), scale_row_stride(hidden_), scale_blk_stride(hidden_));
    QK_LAUNCH_CHECK("moe_gather_kernel");
  }

  // The mma.sync path: gate/up GEMM, SiLU * up kernel, down GEMM.
  void gemm_and_act(cudaStream_t stream) {
    if constexpr (F == Fmt::kW4a8) {
      if (w4_decode_) {
        gemm_w4(stream, reinterpret_cast<const uint8_t*>(xp_.get()), xp_scale_.get(), w1p_,
                w1_scale_t_.get(), 2 * inter_, hidden_, h_.get());
        act(stream);
        gemm_w4(stream, reinterpret_cast<const uint8_t*>(act_.get()), act_scale_.get(), w2p_,
                w2_scale_t_.get(), hidden_, inter_, y_.get());
        return;
      }
    }
    gemm(stream, reinterpret_cast<const uint8_t*>(xp_.get()), xp_scale_.get(), w1_.get(),
         w1_scale_.get(), 2 * inter_, hidden_, h_.get());
    act(stream);
    gemm(stream, reinterpret_cast<const uint8_t*>(act_.get()), act_scale_.get(), w2_.get(),
         w2_scale_.get(), hidden_, inter_, y_.get());
  }
  void act(cudaStream_t stream) {
    const int64_t act_warps = rows_ * inter_ / 128;
    moe_act_kernel<AType><<<static_cast<unsigned>((act_warps + 7) / 8), 256, 0, stream>>>(
        h_.get(), offsets_.get(), experts_, static_cast<int>(inter_), act_.get(), act_scale_.get(),
        scale_row_stride(inter_), scale_blk_stride(inter_));
    QK_LAUNCH_CHECK("moe_act_kernel");
  }
  void gemm_w4(cudaStream_t stream, const uint8_t* a, const float* a_scale,
               const DeviceArray<uint8_t>& wp, const float* ws_t, int64_t n, int64_t k, bf16* out) {
    dim3 grid(static_cast<unsigned>(n / (kW4Warps * 16)), static_cast<unsigned>(max_tiles_));
    moe_w4a8_decode_gemm_kernel<<<grid, kW4Warps * 32, 0, stream>>>(
        a, a_scale, reinterpret_cast<const uint4*>(wp.get()), ws_t, offsets_.get(),
        tile_expert_.get(), tile_row_.get(), num_tiles_.get(), static_cast<int>(n),
        static_cast<int>(k), out);
    QK_LAUNCH_CHECK("moe_w4a8_decode_gemm_kernel");
  }

  // cuBLASLt per expert: the row counts of this routing come to the host once here (a
  // serving framework knows them after its routing step); one plan per distinct count,
  // all sharing one workspace. launch() stays free of host synchronisation.
  void plan_lt() {
    route(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    lt_counts_ = counts_.download();
    lt_workspace_.resize(32u << 20);
    for (int32_t m : lt_counts_)
      if (m > 0 && !lt_plans_.count(m))
        lt_plans_.emplace(
            m,
            std::make_pair(std::make_unique<LtGemm>(m, 2 * inter_, hidden_, false, 1.0f,
                                                    lt_workspace_.get(), lt_workspace_.bytes()),
                           std::make_unique<LtGemm>(m, hidden_, inter_, false, 1.0f,
                                                    lt_workspace_.get(), lt_workspace_.bytes())));
  }
  void lt_gemms_and_act(cudaStream_t stream) {
    int64_t row = 0;
    for (int e = 0; e < experts_; ++e) {
      const int64_t m = lt_counts_[e];
      if (m) {
        lt_plans_.at(m).first->run(xp_.get() + row * hidden_,
                                   w1_.get() + size_t(e) * 2 * inter_ * hidden_ * 2,
                                   h_.get() + row * 2 * inter_, stream);
      }
      row += m;
    }
    const int64_t act_warps = rows_ * inter_ / 128;
    moe_act_kernel<AType><<<static_cast<unsigned>((act_warps + 7) / 8), 256, 0, stream>>>(
        h_.get(), offsets_.get(), experts_, static_cast<int>(inter_), act_.get(), act_scale_.get(),
        scale_row_stride(inter_), scale_blk_stride(inter_));
    QK_LAUNCH_CHECK("moe_act_kernel");
    row = 0;
    for (int e = 0; e < experts_; ++e) {
      const int64_t m = lt_counts_[e];
      if (m) {
        lt_plans_.at(m).second->run(act_.get() + row * inter_,
                                    w2_.get() + size_t(e) * hidden_ * inter_ * 2,
                                    y_.get() + row * hidden_, stream);
      }
      row += m;
    }
  }

  CheckResult check(uint64_t seed) override {
    prepare(seed);
    poison(out_.get(), out_.bytes());
    launch(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    const auto out = bf16_to_double(as_raw<uint16_t>(out_.download()));
    const auto x = bf16_to_double(as_raw<uint16_t>(x_.download()));
    const auto scores = scores_.download();
    const auto routing = ref::route_top_k(scores.data(), tokens_, experts_, top_k_);
    const auto w1_raw = w1_.download(), w2_raw = w2_.download();
    const auto w1_scale = w1_scale_.download(), w2_scale = w2_scale_.download();
    // Sampled tokens, about 5e8 multiply-adds of float64 reference at most.
    const double per_token = double(top_k_) * 3.0 * double(hidden_) * double(inter_);
    const auto tokens = sample_rows(tokens_, std::clamp<int64_t>(int64_t(5e8 / per_token), 2, 64));
    std::map<int, std::pair<std::vector<double>, std::vector<double>>> experts;
    std::vector<double> expected, got, row(hidden_);
    for (int64_t t : tokens) {
      std::vector<double> sum(hidden_, 0.0);
      for (int j = 0; j < top_k_; ++j) {
        const int e = routing.expert[t * top_k_ + j];
        auto it = experts.find(e);
        if (it == experts.end())
          it = experts
                   .emplace(e,
                            std::make_pair(decode_weights(w1_raw, w1_scale, e, 2 * inter_, hidden_),
                                           decode_weights(w2_raw, w2_scale, e, hidden_, inter_)))
                   .first;
        ref::expert_ffn(x.data() + t * hidden_, it->second.first.data(), it->second.second.data(),
                        hidden_, inter_, row.data());
        for (int64_t h = 0; h < hidden_; ++h) sum[h] += routing.weight[t * top_k_ + j] * row[h];
      }
      expected.insert(expected.end(), sum.begin(), sum.end());
      got.insert(got.end(), out.begin() + t * hidden_, out.begin() + (t + 1) * hidden_);
    }
    CheckResult c;
    c.tolerance = F == Fmt::kBf16 ? 1e-2 : 5e-2;  // "bf16_cublaslt" is BF16 too
    c.all_written = std::none_of(out.begin(), out.end(), [](double v) { return std::isnan(v); });
    c.rel_fro_error = ref::rel_fro_error(got.data(), expected.data(), got.size());
    return c;
  }

  double flops() const override {
    return 2.0 * double(rows_) * 3.0 * double(hidden_) * double(inter_);
  }
  // The fewest bytes: the weights of the experts this routing activates, read once, and
  // the token activations in and out.
  double bytes() const override {
    return double(active_experts_) * 3.0 * double(hidden_) * double(inter_) *
               weight_bytes_per_elem() +
           2.0 * double(tokens_) * double(hidden_) * 2.0;
  }
  size_t device_bytes() const override {
    return x_.bytes() + w1_.bytes() + w2_.bytes() + w1_scale_.bytes() + w2_scale_.bytes() +
           w1q_.bytes() + w2q_.bytes() + w1p_.bytes() + w2p_.bytes() + w1_scale_t_.bytes() +
           w2_scale_t_.bytes() + xp_.bytes() + h_.bytes() + act_.bytes() + y_.bytes() +
           out_.bytes();
  }
  // Experts with at least one token under the current inputs (after prepare()).
  void count_active_experts() {
    launch(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    const auto counts = counts_.download();
    active_experts_ = std::count_if(counts.begin(), counts.end(), [](int32_t c) { return c > 0; });
  }

 private:
  // Activation scale layout: [rows][k / 128] for the mma.sync kernel, [k / 128][rows] for
  // the wgmma one.
  int64_t scale_row_stride(int64_t k) const { return use_wgmma_ ? 1 : k / 128; }
  int64_t scale_blk_stride(int64_t) const { return use_wgmma_ ? rows_ : 1; }

  static double weight_bytes_per_elem() {
    return F == Fmt::kBf16 ? 2.0 : F == Fmt::kFp8 ? 1.0 : 0.5;
  }

  void gemm(cudaStream_t stream, const uint8_t* a, const float* a_scale, const uint8_t* w,
            const float* w_scale, int64_t n, int64_t k, bf16* out) {
    dim3 grid(static_cast<unsigned>(n / kBn), static_cast<unsigned>(max_tiles_));
    if (bm_ == 16)
      moe_grouped_gemm_kernel<F, 16><<<grid, kGemmThreads, GemmTraits<F, 16>::kSmemBytes, stream>>>(
          a, a_scale, w, w_scale, offsets_.get(), tile_expert_.get(), tile_row_.get(),
          num_tiles_.get(), static_cast<int>(n), static_cast<int>(k), out);
    else
      moe_grouped_gemm_kernel<F, 64><<<grid, kGemmThreads, GemmTraits<F, 64>::kSmemBytes, stream>>>(
          a, a_scale, w, w_scale, offsets_.get(), tile_expert_.get(), tile_row_.get(),
          num_tiles_.get(), static_cast<int>(n), static_cast<int>(k), out);
    QK_LAUNCH_CHECK("moe_grouped_gemm_kernel");
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
          const double s = scale[(size_t(e) * n + i) * (k / 128) + j / 128];
          w[i * k + j] = ref::unpack_int4(raw.data() + base / 2, i * k + j) * s;
        }
      }
    return w;
  }

  std::string quadrant_, format_;
  int64_t tokens_ = 0, hidden_ = 0, inter_ = 0, rows_ = 0, bm_ = 64, max_tiles_ = 0,
          active_experts_ = 0;
  bool lt_ = false, use_wgmma_ = false;
  std::vector<int32_t> lt_counts_;
  std::map<int64_t, std::pair<std::unique_ptr<LtGemm>, std::unique_ptr<LtGemm>>> lt_plans_;
  DeviceArray<uint8_t> lt_workspace_;
  Sm90GroupedGemm gemm_up_, gemm_down_;
  int experts_ = 0, top_k_ = 0;
  DeviceArray<bf16> x_, h_, y_, out_;
  DeviceArray<float> scores_, weights_, w1_scale_, w2_scale_, xp_scale_, act_scale_;
  DeviceArray<uint8_t> w1_, w2_;
  DeviceArray<uint8_t> w1q_, w2q_;  // W4A8 wgmma path: E4M3 copies, per step
  DeviceArray<uint8_t> w1p_, w2p_;  // W4A8 decode path: INT4 repacked in fragment order
  bool w4_decode_ = false;
  DeviceArray<float> w1_scale_t_, w2_scale_t_;  // W4A8 wgmma path: [e][k / 128][n]
  DeviceArray<AType> xp_, act_;
  DeviceArray<int32_t> ids_, counts_, offsets_, fill_, tile_expert_, tile_row_, tile_first_,
      tile_count_, num_tiles_, row_token_, slot_row_;

 public:
  // bytes() needs the active experts; prepare() alone does not route.
  void prepare_and_route(uint64_t seed) {
    prepare(seed);
    count_active_experts();
  }
};

// Routes once at prepare so that bytes() knows which experts are read.
template <Fmt F>
class RoutedMoeFfnOp final : public QuadrantOp {
 public:
  RoutedMoeFfnOp(std::string quadrant, std::string format, const ShapeParams& shape,
                 bool lt = false)
      : op_(std::move(quadrant), std::move(format), shape, lt) {}
  std::string name() const override { return op_.name(); }
  void prepare(uint64_t seed) override { op_.prepare_and_route(seed); }
  void launch(cudaStream_t stream) override { op_.launch(stream); }
  CheckResult check(uint64_t seed) override {
    CheckResult c = op_.check(seed);
    op_.count_active_experts();
    return c;
  }
  double flops() const override { return op_.flops(); }
  double bytes() const override { return op_.bytes(); }
  size_t device_bytes() const override { return op_.device_bytes(); }

 private:
  MoeFfnOp<F> op_;
};

}  // namespace

std::unique_ptr<QuadrantOp> make_moe_ffn(const std::string& quadrant, const std::string& format,
                                         const ShapeParams& shape) {
  if (format == "bf16")
    return std::make_unique<RoutedMoeFfnOp<Fmt::kBf16>>(quadrant, format, shape);
  if (format == "fp8") return std::make_unique<RoutedMoeFfnOp<Fmt::kFp8>>(quadrant, format, shape);
  if (format == "w4a8")
    return std::make_unique<RoutedMoeFfnOp<Fmt::kW4a8>>(quadrant, format, shape);
  // Our kernels around cuBLASLt called once per expert (BF16): the library baseline,
  // profiled like any op. No FP8 twin: cuBLASLt has no 1x128 / 128x128 block scales on
  // sm_90, so it cannot compute the fp8 format's numbers.
  if (format == "bf16_cublaslt")
    return std::make_unique<RoutedMoeFfnOp<Fmt::kBf16>>(quadrant, format, shape, /*lt=*/true);
  throw std::invalid_argument(
      quadrant + ": format must be bf16, fp8, w4a8 or bf16_cublaslt, got '" + format + "'");
}

}  // namespace quadrant::kernels
