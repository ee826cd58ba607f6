// Decode attention over a paged KV cache: split-KV (flash-decoding). Each CTA takes one
// sequence, a group of query heads sharing a KV head (GQA), and one chunk of the KV
// sequence, so that every KV byte is read once per step; a second kernel merges the
// chunks by their log-sum-exp. Memory-bound: the work is the KV bytes read. At head dim 128
// (BF16 and E4M3 KV) the dot products run on tensor cores and the KV bytes come through a
// cp.async ring (decode_attention_mma_kernel): on CUDA cores the conversions and shuffles,
// and without the ring the bytes in flight, set the speed. The split count: plan/dispatch.h.
//
// Shape: batch, kv_len (longest context), kv_len_min (shortest; lengths spread evenly
// between, default kv_len), heads, kv_heads, head_dim (64, 128 or 256), block_size
// (tokens per KV-cache page, default 16). Formats: bf16 (BF16 KV), fp8 (E4M3 KV with a
// scale per KV head; queries stay BF16).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/include/quadrant_kernels.h"
#include "kernels/plan/dispatch.h"
#include "kernels/reference/reference.h"
#include "kernels/src/common.cuh"
#include "kernels/src/op_util.h"
#include "kernels/src/workspace.h"

namespace quadrant::kernels {
namespace {

constexpr int kThreads = plan::kDecodeThreads;
constexpr int kElemsPerLane = 8;

template <class KV>
struct KvVec;
template <>
struct KvVec<bf16> {
  using Type = uint4;
};  // 8 x bf16 = 16 bytes
template <>
struct KvVec<fp8> {
  using Type = uint2;
};  // 8 x e4m3 = 8 bytes

__device__ __forceinline__ void to_float8(const uint4& v, float (&f)[8]) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 x = __bfloat1622float2(h[i]);
    f[2 * i] = x.x;
    f[2 * i + 1] = x.y;
  }
}
__device__ __forceinline__ void to_float8(const uint2& v, float (&f)[8]) {
  const uint32_t w[2] = {v.x, v.y};
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(
          static_cast<__nv_fp8x2_storage_t>((w[i] >> (16 * j)) & 0xFFFF), __NV_E4M3);
      float2 x = __half22float2(*reinterpret_cast<__half2*>(&h));
      f[4 * i + 2 * j] = x.x;
      f[4 * i + 2 * j + 1] = x.y;
    }
  }
}

// GB query heads per CTA (all of a GQA group, or 8 of it), U tokens per lane group in
// flight: their K and V loads are issued before any is used.
// At most 170 registers where the state allows (3 CTAs, 12 warps per SM): the loads in
// flight, not the arithmetic, set this kernel's speed.
template <class KV, int D, int GB>
__global__ void __launch_bounds__(kThreads, GB >= 8 ? 2 : 3)
    decode_attention_split_kernel(const bf16* __restrict__ q, const KV* __restrict__ k_cache,
                                  const KV* __restrict__ v_cache, const float* __restrict__ k_scale,
                                  const float* __restrict__ v_scale,
                                  const int32_t* __restrict__ block_table,
                                  const int32_t* __restrict__ kv_lens, int max_blocks,
                                  int block_size, int heads, int kv_heads, int min_chunk,
                                  int max_splits, float scale_log2, float* __restrict__ part_o,
                                  float* __restrict__ part_lse, bf16* __restrict__ out) {
  constexpr int kLanesPerToken = D / kElemsPerLane;
  constexpr int kTokensPerWarp = 32 / kLanesPerToken;
  constexpr int kGroups = (kThreads / 32) * kTokensPerWarp;
  // FP8 lanes load 8 bytes, BF16 lanes 16: FP8 keeps twice the tokens in flight.
  constexpr int U = (std::is_same_v<KV, fp8> ? 2 : 1) * (GB >= 8 ? 2 : 4);
  using Vec = typename KvVec<KV>::Type;

  const int b = blockIdx.z, head0 = blockIdx.y * GB, split = blockIdx.x;
  const int len = kv_lens[b];
  const int chunk = plan::decode_seq_chunk(len, min_chunk, max_splits);  // this sequence's
  const int start = split * chunk;
  if (start >= len) return;
  const int end = min(len, start + chunk);
  const bool alone = len <= chunk;  // one split: this CTA writes the output itself
  const int kvh = head0 / (heads / kv_heads);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int sub = lane % kLanesPerToken;
  const int grp = warp * kTokensPerWarp + lane / kLanesPerToken;
  const float ks = k_scale ? k_scale[kvh] : 1.0f;
  const float vs = v_scale ? v_scale[kvh] : 1.0f;

  float qf[GB][8];
#pragma unroll
  for (int g = 0; g < GB; ++g) {
    const uint4 raw =
        *reinterpret_cast<const uint4*>(q + (size_t(b) * heads + head0 + g) * D + sub * 8);
    to_float8(raw, qf[g]);
#pragma unroll
    for (int i = 0; i < 8; ++i) qf[g][i] *= scale_log2 * ks;
  }
  float m[GB], l[GB], acc[GB][8];
#pragma unroll
  for (int g = 0; g < GB; ++g) {
    m[g] = -INFINITY;
    l[g] = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[g][i] = 0;
  }
  const int32_t* table = block_table + size_t(b) * max_blocks;

  // The loop bound is warp-uniform (lane groups of a warp differ in t0 only by their
  // index), so that every lane reaches the shuffles below.
  const int lane_group = lane / kLanesPerToken;
  for (int base = start + warp * kTokensPerWarp; base < end; base += kGroups * U) {
    const int t0 = base + lane_group;
    Vec kr[U], vr[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int t = t0 + u * kGroups;
      // Past the end the value must still be a number: p = 0 times NaN is NaN.
      kr[u] = Vec{};
      vr[u] = Vec{};
      if (t < end) {
        const size_t page = table[t / block_size];
        const size_t off = ((page * block_size + t % block_size) * kv_heads + kvh) * D + sub * 8;
        kr[u] = *reinterpret_cast<const Vec*>(k_cache + off);
        vr[u] = *reinterpret_cast<const Vec*>(v_cache + off);
      }
    }
    float s[U][GB];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float kf[8];
      to_float8(kr[u], kf);
#pragma unroll
      for (int g = 0; g < GB; ++g) {
        float dot = 0;
#pragma unroll
        for (int i = 0; i < 8; ++i) dot = fmaf(qf[g][i], kf[i], dot);
#pragma unroll
        for (int off = kLanesPerToken / 2; off > 0; off /= 2)
          dot += __shfl_xor_sync(0xffffffffu, dot, off);
        s[u][g] = (t0 + u * kGroups < end) ? dot : -INFINITY;
      }
    }
#pragma unroll
    for (int g = 0; g < GB; ++g) {
      float m_new = m[g];
#pragma unroll
      for (int u = 0; u < U; ++u) m_new = fmaxf(m_new, s[u][g]);
      const float corr = exp2f(m[g] - m_new);  // m = -inf on the first tokens: 0
      l[g] *= corr;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[g][i] *= corr;
      m[g] = m_new;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float vf[8];
      to_float8(vr[u], vf);
#pragma unroll
      for (int g = 0; g < GB; ++g) {
        const float p = exp2f(s[u][g] - m[g]);  // s = -inf past the end: 0
        l[g] += p;
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] = fmaf(p, vf[i], acc[g][i]);
      }
    }
  }

  // Merge the lane groups of this CTA, then write this split's normalised output and
  // its log-sum-exp (base 2) for the combine kernel.
  __shared__ float sm_m[kGroups][GB], sm_l[kGroups][GB];
  __shared__ float sm_acc[kGroups][GB][D];
#pragma unroll
  for (int g = 0; g < GB; ++g) {
    if (sub == 0) {
      sm_m[grp][g] = m[g];
      sm_l[grp][g] = l[g];
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) sm_acc[grp][g][sub * 8 + i] = acc[g][i];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < GB * D; idx += kThreads) {
    const int g = idx / D, d = idx % D;
    float big = -INFINITY;
    for (int i = 0; i < kGroups; ++i) big = fmaxf(big, sm_m[i][g]);
    float sum_l = 0, sum_o = 0;
    for (int i = 0; i < kGroups; ++i) {
      if (sm_m[i][g] == -INFINITY) continue;  // this lane group saw no token
      const float w = exp2f(sm_m[i][g] - big);
      sum_l += sm_l[i][g] * w;
      sum_o += sm_acc[i][g][d] * w;
    }
    const size_t head = size_t(b) * heads + head0 + g;
    if (alone) {
      out[head * D + d] = __float2bfloat16(sum_o / sum_l * vs);
      continue;
    }
    const size_t row = head * max_splits + split;
    part_o[row * D + d] = sum_o / sum_l * vs;
    if (d == 0) part_lse[row] = big + log2f(sum_l);
  }
}

// ---- head dim 128, BF16 or E4M3 KV: the dot products and P.V on tensor cores ----
// mma.m16n8k16 (BF16 in for BF16 KV; FP16 in for E4M3 KV, which converts to FP16 exactly),
// FP32 accumulators. Rows of the A operands are the CTA's query heads (GB <= 8 of the 16
// rows used); 16 tokens per warp step, the steps dealt round-robin to the 4 warps. The head
// dimension is taken in a permuted order so that every lane reads whole 16-byte vectors
// with no exchange between lanes:
//  - S = Q K^T: lane quad t reads vectors 4c + t (c < 4 BF16, < 2 E4M3) of its token's K
//    row, E = 8 (BF16) or 16 (E4M3) dims each; k-step kk takes dims E (4 (kk / (E/4)) + t) +
//    4 (kk % (E/4)) + {0,1 | 2,3} (b0 | b1), and Q the same.
//  - O = P V: lane group g reads vectors 8c + g of the V rows of tokens 2t, 2t+1, 2t+8,
//    2t+9 and pairs them with one PRMT each; column g of n-tile nt is dim 16g + nt (E4M3)
//    or 64 (nt / 8) + 8g + nt % 8 (BF16).
// P comes straight from the S accumulators as the A operand (the FA2 register reuse).
// The KV bytes travel through a ring of decode_mma_stages() cp.async stages in shared
// memory, one per warp (a __syncwarp, no CTA barrier), the copies taking whole K and V rows
// per instruction, so that a warp keeps stages - 1 steps (BF16: 16 KB, E4M3: 12 KB) in
// flight while it computes one: on the H200 the bytes in flight set a decode kernel's
// speed. (Each lane copying only the vectors it reads, 64 bytes of a row per instruction,
// ran at 3.07 TB/s against 4.15 for whole rows: PERF.md.)
__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint32_t two_bytes) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(two_bytes & 0xFFFF), __NV_E4M3);
  return uint32_t(h.x) | (uint32_t(h.y) << 16);
}
__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
  uint32_t r;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(r) : "r"(a), "r"(b), "r"(sel));
  return r;
}
__device__ __forceinline__ uint32_t pack_f16x2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}
// The transpose of an 8x8 matrix of 16-bit elements held as one m8n8 fragment (lane: row
// lane / 4, columns 2 (lane % 4), +1).
__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t x) {
  uint32_t r;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(r) : "r"(x));
  return r;
}
__device__ __forceinline__ uint32_t word_of(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// The log-sum-exp merge of `splits` partials of GB heads (head0 .. head0 + GB - 1, rows of
// max_splits partials each) into their output, by one CTA of kThreads: warp w finds the weights
// of heads w, w + 4 (into sm_w, GB x splits floats), then each thread sums its 4-dim vectors
// of (head, dims) over the splits in split order (the same sums whichever CTA merges), 8
// splits' loads of all its vectors in flight at once. The partials were written by other CTAs
// of this launch: read through L2 (ld.cg), not L1.
template <int D, int GB>
__device__ __forceinline__ void merge_splits(const float* part_o, const float* part_lse, int splits,
                                             int max_splits, size_t head0, float* sm_w, bf16* out) {
  constexpr int kWarps = kThreads / 32, kVecs = GB * D / 4;
  constexpr int kPer = (kVecs + kThreads - 1) / kThreads;  // 4-dim vectors per thread
  constexpr int kU = 8;                                    // splits loaded together
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  float* sm_sum = sm_w + GB * splits;
  for (int hg = warp; hg < GB; hg += kWarps) {
    const size_t row = (head0 + hg) * max_splits;
    float big = -INFINITY;
    for (int s = lane; s < splits; s += 32) big = fmaxf(big, __ldcg(part_lse + row + s));
#pragma unroll
    for (int off = 16; off > 0; off /= 2) big = fmaxf(big, __shfl_xor_sync(0xffffffffu, big, off));
    float sum = 0;
    for (int s = lane; s < splits; s += 32) {
      const float w = exp2f(__ldcg(part_lse + row + s) - big);
      sm_w[hg * splits + s] = w;
      sum += w;
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0) sm_sum[hg] = sum;
  }
  __syncthreads();
  float4 acc[kPer];
#pragma unroll
  for (int e = 0; e < kPer; ++e) acc[e] = make_float4(0, 0, 0, 0);
  for (int s0 = 0; s0 < splits; s0 += kU) {
    float4 v[kPer][kU];
#pragma unroll
    for (int e = 0; e < kPer; ++e) {
      const int vec = threadIdx.x + e * kThreads, hg = vec * 4 / D;
      const float4* src =
          reinterpret_cast<const float4*>(part_o + (head0 + hg) * max_splits * D + vec * 4 % D);
#pragma unroll
      for (int u = 0; u < kU; ++u)
        v[e][u] = vec < kVecs && s0 + u < splits ? __ldcg(src + size_t(s0 + u) * (D / 4))
                                                 : make_float4(0, 0, 0, 0);
    }
#pragma unroll
    for (int e = 0; e < kPer; ++e) {
      const int hg = min((threadIdx.x + e * kThreads) * 4 / D, GB - 1);
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        if (s0 + u >= splits) break;
        const float w = sm_w[hg * splits + s0 + u];
        acc[e].x = fmaf(w, v[e][u].x, acc[e].x);
        acc[e].y = fmaf(w, v[e][u].y, acc[e].y);
        acc[e].z = fmaf(w, v[e][u].z, acc[e].z);
        acc[e].w = fmaf(w, v[e][u].w, acc[e].w);
      }
    }
  }
#pragma unroll
  for (int e = 0; e < kPer; ++e) {
    const int vec = threadIdx.x + e * kThreads;
    if (vec >= kVecs) continue;
    const int hg = vec * 4 / D;
    const float inv = 1.0f / sm_sum[hg];
    __nv_bfloat162* dst = reinterpret_cast<__nv_bfloat162*>(out + (head0 + hg) * D + vec * 4 % D);
    dst[0] = __floats2bfloat162_rn(acc[e].x * inv, acc[e].y * inv);
    dst[1] = __floats2bfloat162_rn(acc[e].z * inv, acc[e].w * inv);
  }
}

// kForm: plan::kDecodeAttnForm's bits 2 (the page entry a step ahead), 4 (O^T = V^T P^T), 8
// (S^T = K Q^T, with 4), 16 (E4M3: 3 stages, 4 CTAs per SM), 128 (with 14: the running
// maxima moved, and the accumulators rescaled, only when a step's maximum passes them by more
// than 8 in log2 units), 256 (with 14: the copy path chosen once per CTA, outside the step
// loop), 512 (BF16, with 256: 2 stages, 3 CTAs per SM), 1024 (with 256: the page entries of 32
// steps loaded at once, one a lane, a step's taken by shuffle), 2048 (with 256: the warps'
// merge weights computed once per (head, warp)), 4096 (with 2048: the warps' accumulators
// into the merge scratch as 16-byte vectors, their chunks permuted per head so that no bank
// is hit twice in a quarter warp), 8192 (with 1024 and 4096: with fixed chunks the page
// entries, Q and the scales loaded together with the length) and 16384 (with 2048: one output
// factor per head instead of a division per output).
template <class KV, int GB, int kForm>
__global__ void __launch_bounds__(kThreads, plan::decode_ctas_per_sm(true, std::is_same_v<KV, fp8>,
                                                                     GB, kForm))
    decode_attention_mma_kernel(const bf16* __restrict__ q, const uint8_t* __restrict__ k_cache,
                                const uint8_t* __restrict__ v_cache,
                                const float* __restrict__ k_scale,
                                const float* __restrict__ v_scale,
                                const int32_t* __restrict__ block_table,
                                const int32_t* __restrict__ kv_lens, int max_blocks, int block_size,
                                int bs_shift, int heads, int kv_heads, int min_chunk,
                                int max_splits, float scale_log2, float* __restrict__ part_o,
                                float* __restrict__ part_lse, int* __restrict__ arrivals,
                                bf16* __restrict__ out) {
  constexpr bool kFp8 = std::is_same_v<KV, fp8>;
  constexpr bool kPagePrefetch = (kForm & 2) != 0, kVt = (kForm & 4) != 0, kSt = (kForm & 8) != 0;
  constexpr bool kFused = (kForm & 32) != 0, kLazy = (kForm & 128) != 0;
  constexpr bool kSplitPaths = (kForm & 256) != 0;
  constexpr bool kPageLanes = (kForm & 1024) != 0, kMergeOnce = (kForm & 2048) != 0;
  constexpr bool kAccChunks = (kForm & 4096) != 0;
  constexpr bool kEarly = (kForm & 8192) != 0, kHeadScale = (kForm & 16384) != 0;
  static_assert(!kEarly || (kPageLanes && kAccChunks), "8192 comes with 1024 and 4096");
  static_assert(!kHeadScale || kMergeOnce, "16384 comes with 2048");
  static_assert(kSplitPaths || !(kPageLanes || kMergeOnce), "1024 and 2048 come with 256");
  static_assert(kMergeOnce || !kAccChunks, "4096 comes with 2048");
  static_assert(kPagePrefetch || !kSplitPaths, "the specialised copy paths (256) come with 2");
  static_assert(kVt || !kSt, "S^T (8) comes with O^T (4)");
  static_assert(kSt || !kLazy, "the lazy rescale (128) comes with 14");
  constexpr float kLazyRescaleLog2 = 8.0f;
  constexpr int D = 128, kWarps = kThreads / 32, kElem = kFp8 ? 1 : 2;
  constexpr int kK = kFp8 ? 2 : 4;  // 16-byte vectors of one K token a lane copies
  constexpr int kV = kFp8 ? 1 : 2;  // ... of one V token
  constexpr int kVecs = plan::decode_mma_vecs(kFp8), kStages = plan::decode_mma_stages(kFp8, kForm);
  static_assert(kVecs == 2 * kK + 4 * kV, "the plan's vector count");
  extern __shared__ uint4 stage_smem[];

  const int b = blockIdx.z, head0 = blockIdx.y * GB, split = blockIdx.x;
  const int kvh = head0 / (heads / kv_heads);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t = lane % 4;
  const int32_t* table = block_table + size_t(b) * max_blocks;

  // Q as A fragments (row g = head head0 + g), in the permuted d order of S: its BF16 pairs
  // loaded (load_q), then (E4M3) converted to FP16 pairs (make_qa), so that under kEarly no
  // use of Q stands between its loads and the ones after them.
  uint32_t qa[8][2];
  constexpr int kDimsPerVec = 16 / kElem, kStepsPerVec = kDimsPerVec / 4;
  auto load_q = [&] {
#pragma unroll
    for (int kk = 0; kk < 8; ++kk) qa[kk][0] = qa[kk][1] = 0;
    if (g < GB) {
      const bf16* qrow = q + (size_t(b) * heads + head0 + g) * D;
#pragma unroll
      for (int kk = 0; kk < 8; ++kk) {
        const bf16* qd =
            qrow + kDimsPerVec * (4 * (kk / kStepsPerVec) + t) + 4 * (kk % kStepsPerVec);
        qa[kk][0] = *reinterpret_cast<const uint32_t*>(qd);
        qa[kk][1] = *reinterpret_cast<const uint32_t*>(qd + 2);
      }
    }
  };
  auto make_qa = [&] {
    if constexpr (kFp8) {
#pragma unroll
      for (int kk = 0; kk < 8; ++kk)
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&qa[kk][i]));
          qa[kk][i] = pack_f16x2(x.x, x.y);
        }
    }
  };
  // kPageLanes: lane i holds the entry of step 32 n + i in page_now (batch n, the steps being
  // issued) and of step 32 (n + 1) + i in page_ahead (loaded a batch ahead, so that no step
  // waits on a global load for its entry: the previous engineer's ncu, PERF.md twelfth session).
  [[maybe_unused]] int page_now = 0, page_ahead = 0;
  // kEarly: with fixed chunks a CTA's start, so its steps' table rows, do not depend on the
  // length: the entries of the whole chunk's first 64 steps a warp (those inside the table), Q
  // and the scales are loaded before the length, not a round trip after it (the thirteenth
  // session's ncu: the length, then the entries and Q, then the first copies). Entries of
  // steps past the length are loaded, never used: the same bits.
  const bool early_pages = kEarly && min_chunk < 0 && bs_shift >= 4;
  [[maybe_unused]] float early_ks = 1.0f, early_vs = 1.0f;
  if constexpr (kEarly) {
    load_q();
    if (k_scale) early_ks = k_scale[kvh];
    if (v_scale) early_vs = v_scale[kvh];
    if (early_pages) {
      const int first = split * -min_chunk, steps = (-min_chunk + 15) / 16;
      const int most = warp < steps ? (steps - warp + kWarps - 1) / kWarps : 0;
      auto entry = [&](int j) {
        const int i = (first + 16 * (warp + j * kWarps)) >> bs_shift;
        return i < max_blocks ? __ldg(table + i) : 0;
      };
      if (lane < most) page_now = entry(lane);
      if (32 + lane < most) page_ahead = entry(32 + lane);
    }
  }

  const int len = kv_lens[b];
  const int chunk = plan::decode_seq_chunk(len, min_chunk, max_splits);  // this sequence's
  const int start = split * chunk;
  if (start >= len) {
    // kFused (no combine kernel): split 0 of a padded sequence (length 0) writes its zeros.
    if (kFused && len <= 0 && split == 0)
      for (int i = threadIdx.x; i < GB * D; i += kThreads)
        out[(size_t(b) * heads + head0) * D + i] = __float2bfloat16(0.0f);
    return;
  }
  const int end = min(len, start + chunk);
  const bool alone = len <= chunk;  // one split: this CTA writes the output itself
  const float s_scale = scale_log2 * (kEarly ? early_ks : k_scale ? k_scale[kvh] : 1.0f);
  const size_t row_bytes = size_t(kv_heads) * D * kElem;
  const size_t head_bytes = size_t(kvh) * D * kElem;
  auto row_of = [&](int tok) -> size_t {
    const int page =
        bs_shift >= 0 ? __ldg(table + (tok >> bs_shift)) : __ldg(table + tok / block_size);
    const int in_page = bs_shift >= 0 ? (tok & (block_size - 1)) : tok % block_size;
    return (size_t(page) * block_size + in_page) * row_bytes + head_bytes;
  };
  if constexpr (!kEarly) load_q();
  make_qa();
  // O as 16 n-tiles of (heads x 8 dims), or (kVt) 8 m-tiles of (16 dims x heads).
  constexpr int kOTiles = kVt ? 8 : 16;
  float o[kOTiles][4];
#pragma unroll
  for (int i = 0; i < kOTiles; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  // kSt: m, l are head 2t's, these head 2t + 1's (and corr_hi its last correction).
  [[maybe_unused]] float m_hi = -INFINITY, l_hi = 0.0f, corr_hi = 1.0f;

  const int steps = (end - start + 15) / 16;
  const int mine = warp < steps ? (steps - warp + kWarps - 1) / kWarps : 0;
  uint4* const slots = stage_smem + warp * kVecs * 32;
  constexpr int kStageStride = kWarps * kVecs * 32;
  // A stage holds the step's K rows then its V rows, 16 tokens
  // x kChunks 16-byte chunks each, chunk k of token r at k ^ (4 (r & 1)) (K) or
  // k ^ (2 ((r >> 1) & 3)) (V), so that the 8 lanes of each LDS.128 phase below hit 8
  // different bank groups. A copy instruction takes whole rows (2 BF16 / 4 E4M3 tokens).
  constexpr int kChunks = D * kElem / 16, kRowsPerCopy = 32 / kChunks;
  auto k_at = [](int r, int k) { return r * kChunks + (k ^ (4 * (r & 1))); };
  auto v_at = [](int r, int k) { return 16 * kChunks + r * kChunks + (k ^ (2 * ((r >> 1) & 3))); };
  // kPagePrefetch: a step's 16 tokens lie in one page when pages are a power of two of at
  // least 16 tokens (a split starts at a multiple of 64), so one entry a step, loaded a step
  // ahead into next_page.
  const bool page_steps = kPagePrefetch && bs_shift >= 4;
  int next_page = 0;
  auto page_entry = [&](int j) {  // step j's entry (j < mine)
    return __ldg(table + ((start + 16 * (warp + j * kWarps)) >> bs_shift));
  };
  if constexpr (kPageLanes) {
    if (page_steps && !early_pages) {
      if (lane < mine) page_now = page_entry(lane);
      if (32 + lane < mine) page_ahead = page_entry(32 + lane);
    }
  } else {
    if (page_steps && mine > 0) next_page = __ldg(table + ((start + 16 * warp) >> bs_shift));
  }
  // Step j of this warp into stage j % kStages; zeros past the end. One commit group a step,
  // an empty one past the last, so that the wait below counts alike. kPaged: -1 the path
  // chosen per row at run time (forms without 256), 1 the page steps' straight-line path, 0
  // the per-row table path (256: chosen once, outside the step loop).
  // 256's page path: this lane's first row offset within a step and the stride between its
  // rows, computed once; a row past the end reads a row of the step's (valid) page, zero-filled.
  const size_t lane_off = size_t(lane / kChunks) * row_bytes + head_bytes + 16 * (lane % kChunks);
  const size_t copy_stride = size_t(kRowsPerCopy) * row_bytes;
  const size_t page_bytes = size_t(block_size) * row_bytes;
  auto issue = [&](int j, auto paged) {
    constexpr int kPaged = decltype(paged)::value;
    if (j < mine) {
      uint4* dst = stage_smem + warp * kVecs * 32 + (j % kStages) * kStageStride;
      const int base = start + 16 * (warp + j * kWarps);
      const int k = lane % kChunks;
      if constexpr (kPaged == 1) {
        int page = next_page;
        if constexpr (kPageLanes) {
          // Steps are issued in order, each once: at the first of a batch the entries loaded a
          // batch ahead become the current ones and the next batch's loads go out.
          if (j % 32 == 0 && j > 0) {
            page_now = page_ahead;
            if (j + 32 + lane < mine) page_ahead = page_entry(j + 32 + lane);
          }
          page = __shfl_sync(0xffffffffu, page_now, j % 32);
        }
        const size_t step_off =
            size_t(page) * page_bytes + size_t(base & (block_size - 1)) * row_bytes + lane_off;
        if (!kPageLanes && j + 1 < mine)
          next_page = __ldg(table + ((base + 16 * kWarps) >> bs_shift));
        const uint8_t* kp = k_cache + step_off;
        const uint8_t* vp = v_cache + step_off;
        const int left = end - base - lane / kChunks;  // rows i * kRowsPerCopy < left are in
#pragma unroll
        for (int i = 0; i < 16 / kRowsPerCopy; ++i) {
          const int r = i * kRowsPerCopy + lane / kChunks;
          const bool ok = i * kRowsPerCopy < left;
          cp_async_16(dst + k_at(r, k), kp + i * copy_stride, ok);
          cp_async_16(dst + v_at(r, k), vp + i * copy_stride, ok);
        }
      } else {
        const bool steps_paged = kPaged < 0 && page_steps;
        size_t step_off = 0;
        if (steps_paged) {
          step_off =
              (size_t(next_page) * block_size + (base & (block_size - 1))) * row_bytes + head_bytes;
          if (j + 1 < mine) next_page = __ldg(table + ((base + 16 * kWarps) >> bs_shift));
        }
#pragma unroll
        for (int i = 0; i < 16 / kRowsPerCopy; ++i) {
          const int r = i * kRowsPerCopy + lane / kChunks;
          const bool ok = base + r < end;
          const size_t off =
              ok ? (steps_paged ? step_off + size_t(r) * row_bytes : row_of(base + r)) + 16 * k : 0;
          cp_async_16(dst + k_at(r, k), k_cache + off, ok);
          cp_async_16(dst + v_at(r, k), v_cache + off, ok);
        }
      }
    }
    cp_async_commit();
  };

  auto compute = [&](int base, const uint4(&r)[kVecs]) {
    uint32_t pa0, pa2;  // P's A fragment: row g (head g), tokens 2t, 2t+1 | 2t+8, 2t+9
    float corr;         // head g's correction, or (kSt) head 2t's
    [[maybe_unused]] bool moved = true;  // kLazy: a running maximum moved (else every
                                         // correction is 1)
    if constexpr (kSt) {
      // S^T (16 tokens x 8 heads) = K (16 tokens x 128) Q^T (128 x 8 heads): the lane's K
      // rows (tokens g, g + 8) as the A rows, its Q fragment as B; two chains of 4 k-steps.
      float st[2][4] = {};
#pragma unroll
      for (int kk = 0; kk < 8; ++kk) {
        uint32_t a[4];
        if constexpr (kFp8) {
          const uint32_t w0 = word_of(r[kk / 4], kk % 4), w1 = word_of(r[kK + kk / 4], kk % 4);
          a[0] = e4m3x2_to_f16x2(w0);
          a[1] = e4m3x2_to_f16x2(w1);
          a[2] = e4m3x2_to_f16x2(w0 >> 16);
          a[3] = e4m3x2_to_f16x2(w1 >> 16);
        } else {
          const uint4& v0 = r[kk / 2];
          const uint4& v1 = r[kK + kk / 2];
          a[0] = word_of(v0, 2 * (kk % 2));
          a[1] = word_of(v1, 2 * (kk % 2));
          a[2] = word_of(v0, 2 * (kk % 2) + 1);
          a[3] = word_of(v1, 2 * (kk % 2) + 1);
        }
        mma_16816<kFp8>(st[kk / 4], a, qa[kk][0], qa[kk][1]);
      }
      // x[i]: token base + g + 8 (i / 2), head 2t + i % 2 (log2 units).
      float x[4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        x[i] = base + g + 8 * (i / 2) < end ? (st[0][i] + st[1][i]) * s_scale : -INFINITY;
      float mx_lo = fmaxf(x[0], x[2]), mx_hi = fmaxf(x[1], x[3]);
#pragma unroll
      for (int off = 4; off < 32; off *= 2) {
        mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, off));
        mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, off));
      }
      float new_lo = fmaxf(m, mx_lo), new_hi = fmaxf(m_hi, mx_hi);
      if constexpr (kLazy) {
        // The running maxima stay where they are unless a head's step maximum passed its own
        // by more than kLazyRescaleLog2 (a warp-uniform vote): the scores' exponentials are
        // then at most 2^8 and every correction exactly 1 (o and l keep one reference, so the
        // softmax is as exact; the bits differ from form 15's by rounding).
        moved = __any_sync(0xffffffffu,
                           mx_lo > m + kLazyRescaleLog2 || mx_hi > m_hi + kLazyRescaleLog2);
        if (!moved) {
          new_lo = m;
          new_hi = m_hi;
        }
      }
      const float base_lo = new_lo == -INFINITY ? 0.0f : new_lo;
      const float base_hi = new_hi == -INFINITY ? 0.0f : new_hi;
      corr = exp2f(m - base_lo);
      corr_hi = exp2f(m_hi - base_hi);
      m = new_lo;
      m_hi = new_hi;
      const float p0 = exp2f(x[0] - base_lo), p1 = exp2f(x[1] - base_hi);
      const float p2 = exp2f(x[2] - base_lo), p3 = exp2f(x[3] - base_hi);
      l = l * corr + (p0 + p2);
      l_hi = l_hi * corr_hi + (p1 + p3);
      // (token g, heads 2t, 2t+1) -> (head g, tokens 2t, 2t+1): one 8x8 transpose per half.
      pa0 = movmatrix_trans(kFp8 ? pack_f16x2(p0, p1) : pack_bf16x2(p0, p1));
      pa2 = movmatrix_trans(kFp8 ? pack_f16x2(p2, p3) : pack_bf16x2(p2, p3));
    } else {
      float s[2][4];
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < 8; ++kk) {
          const uint32_t a[4] = {qa[kk][0], 0u, qa[kk][1], 0u};  // rows 8..15 unused
          if constexpr (kFp8) {
            const uint32_t w = word_of(r[nt * kK + kk / 4], kk % 4);
            mma_16816<true>(s[nt], a, e4m3x2_to_f16x2(w), e4m3x2_to_f16x2(w >> 16));
          } else {
            const uint4& v = r[nt * kK + kk / 2];
            mma_16816<false>(s[nt], a, word_of(v, 2 * (kk % 2)), word_of(v, 2 * (kk % 2) + 1));
          }
        }
      }
      // Row g's scores (log2 units) for tokens base + 8nt + 2t + {0, 1}.
      float x[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int tok = base + (i / 2) * 8 + 2 * t + (i % 2);
        x[i] = tok < end ? s[i / 2][i % 2] * s_scale : -INFINITY;
      }
      float mx = fmaxf(fmaxf(x[0], x[1]), fmaxf(x[2], x[3]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m, mx);
      const float base_m = m_new == -INFINITY ? 0.0f : m_new;
      corr = exp2f(m - base_m);
      m = m_new;
      float p[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) p[i] = exp2f(x[i] - base_m);
      l = l * corr + (p[0] + p[1] + p[2] + p[3]);
      pa0 = kFp8 ? pack_f16x2(p[0], p[1]) : pack_bf16x2(p[0], p[1]);
      pa2 = kFp8 ? pack_f16x2(p[2], p[3]) : pack_bf16x2(p[2], p[3]);
    }
    // The V pair of column g of n-tile nt: tokens (2t, 2t+1) (hi = 0) or (2t+8, 2t+9) (hi = 1).
    auto v_pair = [&](int nt, int hi) -> uint32_t {
      if constexpr (kFp8) {
        // Byte nt of the two tokens, as an FP16 pair.
        const int wi = nt / 4, sel = nt % 4;
        const uint32_t sl = sel | ((4 + sel) << 4);
        return e4m3x2_to_f16x2(
            prmt(word_of(r[2 * kK + 2 * hi], wi), word_of(r[2 * kK + 2 * hi + 1], wi), sl));
      } else {
        // Element nt of the two tokens, as a BF16 pair.
        const int vi = nt / 8, wi = (nt % 8) / 2;
        const uint32_t sl = nt % 2 ? 0x7632u : 0x5410u;
        return prmt(word_of(r[2 * kK + 2 * hi * kV + vi], wi),
                    word_of(r[2 * kK + (2 * hi + 1) * kV + vi], wi), sl);
      }
    };
    if constexpr (kVt) {
      // O^T (16 dims x 8 heads) += V^T (16 dims x 16 tokens) P^T (16 tokens x 8 heads): row g
      // of m-tile mt is n-tile 2 mt's column g, row g + 8 n-tile 2 mt + 1's; P^T's fragment is
      // P's A fragment as it is; columns 2t, 2t+1 are heads 2t, 2t+1 (their corrections from
      // lanes 8t, 8t + 4).
      float corr_lo = corr, corr_b = corr_hi;
      if constexpr (!kSt) {
        corr_lo = __shfl_sync(0xffffffffu, corr, 8 * t);
        corr_b = __shfl_sync(0xffffffffu, corr, 8 * t + 4);
      }
      auto rescale = [&](int mt) {
        o[mt][0] *= corr_lo;
        o[mt][1] *= corr_b;
        o[mt][2] *= corr_lo;
        o[mt][3] *= corr_b;
      };
      // kLazy: a step that moved no running maximum skips the 32 multiplies by 1.
      if constexpr (kLazy) {
        if (moved)
#pragma unroll
          for (int mt = 0; mt < 8; ++mt) rescale(mt);
      }
#pragma unroll
      for (int mt = 0; mt < 8; ++mt) {
        if constexpr (!kLazy) rescale(mt);
        const uint32_t a[4] = {v_pair(2 * mt, 0), v_pair(2 * mt + 1, 0), v_pair(2 * mt, 1),
                               v_pair(2 * mt + 1, 1)};
        mma_16816<kFp8>(o[mt], a, pa0, pa2);
      }
    } else {
      const uint32_t pa[4] = {pa0, 0u, pa2, 0u};
#pragma unroll
      for (int nt = 0; nt < 16; ++nt) {
        o[nt][0] *= corr;
        o[nt][1] *= corr;
        mma_16816<kFp8>(o[nt], pa, v_pair(nt, 0), v_pair(nt, 1));
      }
    }
  };

  // The step loop, with the copy path kPaged (issue above).
  auto steps_loop = [&](auto paged) {
#pragma unroll
    for (int j = 0; j < kStages - 1; ++j) issue(j, paged);
    for (int j = 0; j < mine; ++j) {
      cp_async_wait<kStages - 2>();  // this lane's copies of step j have landed
      __syncwarp();                  // ... and every lane's; all have read step j - 1
      uint4 r[kVecs];
      const uint4* src = slots + (j % kStages) * kStageStride;
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int c = 0; c < kK; ++c) r[nt * kK + c] = src[k_at(8 * nt + g, 4 * c + t)];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int c = 0; c < kV; ++c)
          r[2 * kK + i * kV + c] = src[v_at(2 * t + (i & 1) + (i >> 1) * 8, 8 * c + g)];
      issue(j + kStages - 1, paged);  // into the stage read one step ago
      compute(start + 16 * (warp + j * kWarps), r);
    }
  };
  if constexpr (kSplitPaths) {
    if (page_steps)
      steps_loop(std::integral_constant<int, 1>{});
    else
      steps_loop(std::integral_constant<int, 0>{});
  } else {
    steps_loop(std::integral_constant<int, -1>{});
  }
  cp_async_wait<0>();
  // The combine (launched with programmatic dependent launch in form 1) may start once
  // every CTA got here; it waits for this grid's end before it reads the partials.
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
  if constexpr (kSt) {
#pragma unroll
    for (int off = 4; off < 32; off *= 2) {
      l += __shfl_xor_sync(0xffffffffu, l, off);
      l_hi += __shfl_xor_sync(0xffffffffu, l_hi, off);
    }
  } else {
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
  }

  // Merge the warps (in the stage ring, now idle), then write this split's normalised
  // output and log-sum-exp, or the output itself when the sequence has one split.
  __syncthreads();
  float* sm_m = reinterpret_cast<float*>(stage_smem);  // [kWarps][GB]
  float* sm_l = sm_m + kWarps * GB;                    // [kWarps][GB]
  float* sm_acc = sm_l + kWarps * GB;                  // [kWarps][GB][D]
  // The warps' merge scratch, then (kFused) the last-arrival flag; the split merge's weights
  // (GB x (kDecodeMaxSplits + 1) floats) fit below the flag.
  // kMergeOnce: then each (warp, head)'s weight, each head's maximum and weighted l sum.
  constexpr int kMergeWords =
      2 * kWarps * GB + kWarps * GB * D + (kMergeOnce ? kWarps * GB + 2 * GB : 0);
  static_assert((kMergeWords + 1) * 4 <= plan::decode_mma_smem_bytes(kFp8, kForm),
                "the merge fits the stage ring");
  static_assert(GB * (plan::kDecodeMaxSplits + 1) <= kMergeWords,
                "the weights stay below the flag");
  // Column c of n-tile nt is dim 16c + nt (E4M3) or 64 (nt / 8) + 8c + nt % 8 (BF16).
  auto dim = [](int c, int nt) { return kFp8 ? 16 * c + nt : 64 * (nt / 8) + 8 * c + nt % 8; };
  // kAccChunks: 16-byte chunk c of head hg's row (dims 4c .. 4c + 3) lies at chunk c ^ swz(hg).
  // A quarter warp's 8 lanes (g = 2p, 2p + 1; t = 0..3, heads 2t or 2t + 1) write chunks 4g + k
  // (E4M3) or 16 (k / 2) + 2g + k % 2 (BF16) of their rows, which lie 128 floats (a multiple
  // of the 32 banks) apart: swz spreads t over the chunk bits that g leaves equal (E4M3: bits
  // 0-1; BF16: bits 0 and 2), so the 8 lanes take 8 different groups of 4 banks. The merge
  // reads 32 dims of one head, 8 whole chunks under one XOR: no conflict either.
  [[maybe_unused]] auto swz = [](int hg) {
    const int u = (hg >> 1) & 3;
    return kFp8 ? u : (u & 1) | ((u & 2) << 1);
  };
  [[maybe_unused]] auto acc_at = [&](int hg, int d) {
    return (((d >> 2) ^ swz(hg)) << 2) | (d & 3);
  };
  if constexpr (kSt) {
    if (g == 0 && 2 * t < GB) {
      sm_m[warp * GB + 2 * t] = m;
      sm_l[warp * GB + 2 * t] = l;
    }
    if (g == 0 && 2 * t + 1 < GB) {
      sm_m[warp * GB + 2 * t + 1] = m_hi;
      sm_l[warp * GB + 2 * t + 1] = l_hi;
    }
  }
  if (g < GB) {
    if (!kSt && t == 0) {
      sm_m[warp * GB + g] = m;
      sm_l[warp * GB + g] = l;
    }
    if constexpr (!kVt) {
#pragma unroll
      for (int nt = 0; nt < kOTiles; ++nt) {
        sm_acc[(warp * GB + g) * D + dim(2 * t, nt)] = o[nt][0];
        sm_acc[(warp * GB + g) * D + dim(2 * t + 1, nt)] = o[nt][1];
      }
    }
  }
  if constexpr (kAccChunks) {
    // Dims dim(g, 4k) .. + 3 of head 2t + par are n-tiles 4k .. 4k + 3: m-tiles 2k, 2k + 1,
    // each its rows g (i = par) and g + 8 (i = par + 2).
#pragma unroll
    for (int par = 0; par < 2; ++par) {
      const int hg = 2 * t + par;
      if (hg >= GB) continue;
      float4* row = reinterpret_cast<float4*>(sm_acc + (warp * GB + hg) * D);
#pragma unroll
      for (int k = 0; k < 4; ++k)
        row[(dim(g, 4 * k) >> 2) ^ swz(hg)] =
            make_float4(o[2 * k][par], o[2 * k][par + 2], o[2 * k + 1][par], o[2 * k + 1][par + 2]);
    }
  } else if constexpr (kVt) {
    // Rows g, g + 8 of m-tile mt: dims dim(g, 2 mt), dim(g, 2 mt + 1); columns heads 2t, 2t+1.
#pragma unroll
    for (int mt = 0; mt < kOTiles; ++mt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int hg = 2 * t + (i & 1);
        if (hg < GB) sm_acc[(warp * GB + hg) * D + dim(g, 2 * mt + (i >> 1))] = o[mt][i];
      }
  }
  __syncthreads();
  const float vs = kEarly ? early_vs : v_scale ? v_scale[kvh] : 1.0f;
  // Head hg's merged value v at dim d: the output itself (one split) or this split's partial
  // and (at d = 0) its log-sum-exp lse().
  auto store = [&](int hg, int d, float v, auto lse) {
    const size_t head = size_t(b) * heads + head0 + hg;
    if (alone) {
      out[head * D + d] = __float2bfloat16(v);
      return;
    }
    const size_t row = head * max_splits + split;
    part_o[row * D + d] = v;
    if (d == 0) part_lse[row] = lse();
  };
  if constexpr (kMergeOnce) {
    // The weights once per (head, warp) (a warp that saw no token weighs 0: its l and
    // accumulators are 0, so each sum below is the per-output loop's, in the same order).
    float* sm_w = sm_acc + kWarps * GB * D;  // [kWarps][GB]
    float* sm_big = sm_w + kWarps * GB;      // [GB]
    float* sm_sum_l = sm_big + GB;           // [GB]
    if (threadIdx.x < GB) {
      const int hg = threadIdx.x;
      float big = -INFINITY;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) big = fmaxf(big, sm_m[w * GB + hg]);
      float sum_l = 0;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        float wt = 0.0f;
        if (sm_m[w * GB + hg] != -INFINITY) {
          wt = exp2f(sm_m[w * GB + hg] - big);
          sum_l += sm_l[w * GB + hg] * wt;
        }
        sm_w[w * GB + hg] = wt;
      }
      // kHeadScale: the head's log-sum-exp and output factor instead (other rounding).
      sm_big[hg] = kHeadScale ? big + log2f(sum_l) : big;
      sm_sum_l[hg] = kHeadScale ? vs / sum_l : sum_l;
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < GB * D; idx += kThreads) {
      const int hg = idx / D, d = idx % D;
      const int at = kAccChunks ? acc_at(hg, d) : d;
      float sum_o = 0;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float wt = sm_w[w * GB + hg];
        if (wt == 0.0f) continue;  // skipped, as the per-output loop skips an empty warp
        sum_o += sm_acc[(w * GB + hg) * D + at] * wt;
      }
      const float sum_l = sm_sum_l[hg];
      if constexpr (kHeadScale)
        store(hg, d, sum_o * sum_l, [&] { return sm_big[hg]; });
      else
        store(hg, d, sum_o / sum_l * vs, [&] { return sm_big[hg] + log2f(sum_l); });
    }
  } else {
    for (int idx = threadIdx.x; idx < GB * D; idx += kThreads) {
      const int hg = idx / D, d = idx % D;
      float big = -INFINITY;
      for (int w = 0; w < kWarps; ++w) big = fmaxf(big, sm_m[w * GB + hg]);
      float sum_l = 0, sum_o = 0;
      for (int w = 0; w < kWarps; ++w) {
        if (sm_m[w * GB + hg] == -INFINITY) continue;  // this warp saw no token
        const float wt = exp2f(sm_m[w * GB + hg] - big);
        sum_l += sm_l[w * GB + hg] * wt;
        sum_o += sm_acc[(w * GB + hg) * D + d] * wt;
      }
      store(hg, d, sum_o / sum_l * vs, [&] { return big + log2f(sum_l); });
    }
  }
  if constexpr (kFused) {
    if (alone) return;
    // The last of the sequence's split CTAs for these heads to arrive merges them (no combine
    // launch). The barrier orders every thread's partials before thread 0's fence, which
    // (cumulative) makes them visible device-wide before its count; the last CTA's fence
    // orders the counts before its reads. The flag lives past the merge scratch in the
    // dynamic ring (static shared memory would move the carveout: PERF.md, sixth session).
    int* is_last = reinterpret_cast<int*>(stage_smem) + kMergeWords;
    __syncthreads();
    if (threadIdx.x == 0) {
      int* arrived = arrivals + size_t(b) * gridDim.y + blockIdx.y;
      const int splits = plan::decode_seq_splits(len, min_chunk, max_splits);
      __threadfence();
      const bool last = atomicAdd(arrived, 1) == splits - 1;
      if (last) {
        atomicExch(arrived, 0);  // left at zero (the launcher zeroes it as well)
        __threadfence();
      }
      *is_last = last;
    }
    __syncthreads();
    if (!*is_last) return;
    merge_splits<D, GB>(part_o, part_lse, plan::decode_seq_splits(len, min_chunk, max_splits),
                        max_splits, size_t(b) * heads + head0, reinterpret_cast<float*>(stage_smem),
                        out);
  }
}

// The log-sum-exp merge of a (sequence, head)'s splits, one warp per row; a sequence of one
// split was written by its split CTA, one of none (a padded one) gets zeros. kU splits' loads
// are issued together, then merged in split order (the same sums as one at a time). kAtOnce
// (form 64): the length is read before the wait (an input of the step, not the split kernel's
// output) and the log-sum-exps of 32 splits and the partials of the first kU = 8 are loaded
// before the split count is known, so that a merge of <= 8 splits waits for one memory round
// trip after the split kernel, not four (length, log-sum-exps, partials 1-4, 5-8); rows past
// the count (whatever an earlier launch left there) are loaded, never used: the same sums.
template <int D, bool kAtOnce>
__device__ __forceinline__ void combine_row(const float* __restrict__ part_o,
                                            const float* __restrict__ part_lse,
                                            const int32_t* __restrict__ kv_lens, int batch,
                                            int heads, int min_chunk, int max_splits,
                                            bf16* __restrict__ out) {
  auto row_head = [&] { return int64_t(blockIdx.x) * plan::kDecodeCombineRows + threadIdx.x / 32; };
  int len = 0;
  if constexpr (kAtOnce)
    if (row_head() < int64_t(batch) * heads) len = kv_lens[row_head() / heads];
  // Launched with programmatic dependent launch (form 1): the split kernel's partials are
  // complete and visible past this (without it, it returns at once).
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  const int lane = threadIdx.x % 32;
  const int64_t head = row_head();
  if (head >= int64_t(batch) * heads) return;
  const int b = static_cast<int>(head / heads);
  if constexpr (!kAtOnce) len = kv_lens[b];
  constexpr int kU = kAtOnce ? 8 : 4;
  float lse[kU], v[kU][D / 32];
  auto load = [&](size_t row, int s0, int n) {
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const bool ok = s0 + u < n;
      lse[u] = ok ? part_lse[row + s0 + u] : -INFINITY;
      const float* src = part_o + (row + s0 + u) * D + lane;
#pragma unroll
      for (int i = 0; i < D / 32; ++i) v[u][i] = ok ? src[32 * i] : 0.0f;
    }
  };
  float lse_lane = -INFINITY;  // kAtOnce: split lane's
  if constexpr (kAtOnce) {
    const size_t row = size_t(head) * max_splits;
    if (lane < max_splits) lse_lane = part_lse[row + lane];
    load(row, 0, max_splits);
  }
  const int splits = plan::decode_seq_splits(len, min_chunk, max_splits);
  bf16* dst = out + head * D;
  if (splits == 1) return;
  if (splits == 0) {
#pragma unroll
    for (int i = 0; i < D / 32; ++i) dst[lane + 32 * i] = __float2bfloat16(0.0f);
    return;
  }
  const size_t row = size_t(head) * max_splits;
  float big = -INFINITY;
  for (int s = lane; s < splits; s += 32)
    big = fmaxf(big, kAtOnce && s < 32 ? lse_lane : part_lse[row + s]);
#pragma unroll
  for (int off = 16; off > 0; off /= 2) big = fmaxf(big, __shfl_xor_sync(0xffffffffu, big, off));
  float acc[D / 32] = {}, sum_w = 0;
  for (int s0 = 0; s0 < splits; s0 += kU) {
    if (!kAtOnce || s0 > 0) load(row, s0, splits);
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      if (s0 + u >= splits) break;
      const float w = exp2f(lse[u] - big);
      sum_w += w;
#pragma unroll
      for (int i = 0; i < D / 32; ++i) acc[i] = fmaf(w, v[u][i], acc[i]);
    }
  }
#pragma unroll
  for (int i = 0; i < D / 32; ++i) dst[lane + 32 * i] = __float2bfloat16(acc[i] / sum_w);
}
template <int D>
__global__ void __launch_bounds__(32 * plan::kDecodeCombineRows)
    decode_attention_combine_kernel(const float* __restrict__ part_o,
                                    const float* __restrict__ part_lse,
                                    const int32_t* __restrict__ kv_lens, int batch, int heads,
                                    int min_chunk, int max_splits, bf16* __restrict__ out) {
  combine_row<D, false>(part_o, part_lse, kv_lens, batch, heads, min_chunk, max_splits, out);
}
template <int D>
__global__ void __launch_bounds__(32 * plan::kDecodeCombineRows)
    decode_attention_combine_at_once_kernel(const float* __restrict__ part_o,
                                            const float* __restrict__ part_lse,
                                            const int32_t* __restrict__ kv_lens, int batch,
                                            int heads, int min_chunk, int max_splits,
                                            bf16* __restrict__ out) {
  combine_row<D, true>(part_o, part_lse, kv_lens, batch, heads, min_chunk, max_splits, out);
}

// ---- the launcher on caller buffers (quadrant_kernels.h) ----
struct DecodeLaunch {
  const DecodeAttentionProblem& p;
  const DecodeAttentionBuffers& b;
  plan::DecodeSplit split;
  int form;  // plan::decode_attention_form()
  float* part_o;
  float* part_lse;
  int* arrivals;  // [batch][heads / heads_per_cta] split CTAs arrived (form 32)
};

template <class KV, int GB, int kForm>
void launch_decode_mma(const DecodeLaunch& l, dim3 grid, int shift, float scale_log2,
                       cudaStream_t stream) {
  const DecodeAttentionProblem& p = l.p;
  const DecodeAttentionBuffers& b = l.b;
  constexpr int smem = plan::decode_mma_smem_bytes(std::is_same_v<KV, fp8>, kForm);
  opt_in_dynamic_smem(decode_attention_mma_kernel<KV, GB, kForm>, smem);
  decode_attention_mma_kernel<KV, GB, kForm><<<grid, kThreads, smem, stream>>>(
      static_cast<const bf16*>(b.q), static_cast<const uint8_t*>(b.k_cache),
      static_cast<const uint8_t*>(b.v_cache), b.k_scale, b.v_scale, b.block_table, b.kv_lens,
      p.max_blocks, p.block_tokens, shift, p.heads, p.kv_heads, l.split.min_chunk,
      l.split.max_splits, scale_log2, l.part_o, l.part_lse, l.arrivals, static_cast<bf16*>(b.out));
  QK_LAUNCH_CHECK("decode_attention_mma_kernel");
}

// The mma kernel of the form's bits 2..32 (plan::decode_attention_form_valid): one
// instantiation per form in kForms, the first whose bits match (the last where none does).
template <class KV, int GB, int... kForms>
void launch_decode_mma_form(const DecodeLaunch& l, dim3 grid, int shift, float scale_log2,
                            cudaStream_t stream, std::integer_sequence<int, kForms...>) {
  constexpr int kAll[] = {kForms...};
  constexpr int kLast = kAll[sizeof...(kForms) - 1];
  // BF16 has no form 16, E4M3 no form 512.
  const int bits = l.form & (std::is_same_v<KV, fp8> ? 32190 : 32686);
  const bool launched =
      ((bits == kForms &&
        (launch_decode_mma<KV, GB, kForms>(l, grid, shift, scale_log2, stream), true)) ||
       ...);
  if (!launched) launch_decode_mma<KV, GB, kLast>(l, grid, shift, scale_log2, stream);
}

template <class KV, int D, int GB>
void launch_decode_kernels(const DecodeLaunch& l, cudaStream_t stream) {
  const DecodeAttentionProblem& p = l.p;
  const DecodeAttentionBuffers& b = l.b;
  const double scale = p.softmax_scale > 0 ? double(p.softmax_scale) : 1.0 / std::sqrt(double(D));
  const float scale_log2 = static_cast<float>(scale * 1.4426950408889634);
  const int chunk = l.split.min_chunk, max_splits = l.split.max_splits;
  dim3 grid(max_splits, p.heads / GB, static_cast<unsigned>(p.batch));
  const auto* table = b.block_table;
  const auto* lens = b.kv_lens;
  bf16* out = static_cast<bf16*>(b.out);
  bool done = false, fused = false;
  if constexpr (D == 128) {
    if (l.split.tensor_cores) {
      fused = plan::decode_fused_combine(true, l.form);
      if (fused)
        QK_CUDA_CHECK(
            cudaMemsetAsync(l.arrivals, 0, sizeof(int) * size_t(p.batch) * (p.heads / GB), stream));
      int shift = -1;
      for (int i = 0; i < 31; ++i)
        if ((1 << i) == p.block_tokens) shift = i;
      // E4M3 takes forms 30 and 62 (16: 3 stages, 4 CTAs per SM); BF16 has no form 16; 142:
      // the lazy rescale; 398 (142 + 256): the copy paths chosen once per CTA; 414 (E4M3,
      // 398 + 16); 910 (BF16, 398 + 512: 2 stages, 3 CTAs per SM); 1422 / 2446 / 3470 (398 +
      // 1024 / 2048 / both: the page entries by shuffle, the merge weights once); 7566 (3470 +
      // 4096: the accumulators to the merge as permuted 16-byte chunks); 15758 (7566 + 8192: the
      // prologue's loads with the length's); 23950 / 32142 (7566 / 15758 + 16384: one output
      // factor a head).
      if constexpr (std::is_same_v<KV, fp8>)
        launch_decode_mma_form<KV, GB>(
            l, grid, shift, scale_log2, stream,
            std::integer_sequence<int, 0, 2, 4, 6, 12, 14, 46, 62, 142, 398, 414, 1422, 2446, 3470,
                                  7566, 15758, 23950, 32142, 30>{});
      else
        launch_decode_mma_form<KV, GB>(
            l, grid, shift, scale_log2, stream,
            std::integer_sequence<int, 0, 2, 4, 6, 12, 46, 142, 398, 910, 1422, 2446, 3470, 7566,
                                  15758, 23950, 32142, 14>{});
      done = true;
    }
  }
  if (!done) {
    decode_attention_split_kernel<KV, D, GB><<<grid, kThreads, 0, stream>>>(
        static_cast<const bf16*>(b.q), static_cast<const KV*>(b.k_cache),
        static_cast<const KV*>(b.v_cache), b.k_scale, b.v_scale, table, lens, p.max_blocks,
        p.block_tokens, p.heads, p.kv_heads, chunk, max_splits, scale_log2, l.part_o, l.part_lse,
        out);
    QK_LAUNCH_CHECK("decode_attention_split_kernel");
  }
  if (fused) return;  // the split kernel's last CTA of each row merged it
  const int64_t rows = int64_t(p.batch) * p.heads;
  const dim3 combine_grid(
      static_cast<unsigned>((rows + plan::kDecodeCombineRows - 1) / plan::kDecodeCombineRows));
  // Form 1: programmatic dependent launch: the combine's CTAs may start once every split CTA
  // has passed its main loop (griddepcontrol.launch_dependents) and wait for the split
  // kernel's end (griddepcontrol.wait). Stream capture keeps the edge in a graph. Form 64:
  // the merge's loads issued at once (combine_row).
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = combine_grid;
  cfg.blockDim = dim3(32 * plan::kDecodeCombineRows);
  cfg.dynamicSmemBytes = 0;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = l.form & 1 ? 1 : 0;
  QK_CUDA_CHECK(cudaLaunchKernelEx(
      &cfg,
      l.form & 64 ? decode_attention_combine_at_once_kernel<D> : decode_attention_combine_kernel<D>,
      static_cast<const float*>(l.part_o), static_cast<const float*>(l.part_lse), lens, p.batch,
      p.heads, chunk, max_splits, out));
  QK_LAUNCH_CHECK("decode_attention_combine_kernel");
}

template <class KV, int D>
void launch_decode_dim(const DecodeLaunch& l, cudaStream_t stream) {
  switch (l.split.heads_per_cta) {
    case 1:
      return launch_decode_kernels<KV, D, 1>(l, stream);
    case 2:
      return launch_decode_kernels<KV, D, 2>(l, stream);
    case 4:
      return launch_decode_kernels<KV, D, 4>(l, stream);
    default:
      return launch_decode_kernels<KV, D, 8>(l, stream);
  }
}

template <class KV>
void launch_decode(const DecodeLaunch& l, cudaStream_t stream) {
  switch (l.p.head_dim) {
    case 64:
      return launch_decode_dim<KV, 64>(l, stream);
    case 128:
      return launch_decode_dim<KV, 128>(l, stream);
    default:
      return launch_decode_dim<KV, 256>(l, stream);
  }
}

plan::DecodeSplit decode_split(const DecodeAttentionProblem& p) {
  if (p.variant < -1 || p.variant > 1)
    throw std::invalid_argument("decode_attention: variant must be -1, 0 or 1");
  const bool e4m3 = p.kv_dtype == DType::kE4m3;
  if (p.variant == 1 && p.head_dim != 128)
    throw std::invalid_argument("decode_attention: tensor cores (variant 1) need head_dim 128");
  if (p.block_tokens < 1 || p.max_blocks < 1 ||
      int64_t(p.max_blocks) * p.block_tokens < p.max_kv_len)
    throw std::invalid_argument(
        "decode_attention: need block_tokens >= 1 and max_blocks * block_tokens >= max_kv_len");
  // QUADRANT_DECODE_ATTN_MIN_CHUNK=m (benchmarks only): the shortest per-sequence chunk.
  const char* min_chunk = std::getenv("QUADRANT_DECODE_ATTN_MIN_CHUNK");
  return plan::decode_attention_split(p.batch, p.heads, p.kv_heads, p.head_dim, e4m3, p.max_kv_len,
                                      sm_count(), p.variant != 0, p.splits,
                                      min_chunk ? std::atoi(min_chunk) : 0);
}

Workspace decode_workspace(const DecodeAttentionProblem& p, const plan::DecodeSplit& s, void* base,
                           float** part_o, float** part_lse, int** arrivals) {
  Workspace w(base);
  const size_t rows = size_t(p.batch) * p.heads * s.max_splits;
  *part_o = w.take<float>(rows * p.head_dim);
  *part_lse = w.take<float>(rows);
  *arrivals = w.take<int>(size_t(p.batch) * p.heads / s.heads_per_cta);
  return w;
}

}  // namespace

size_t decode_attention_workspace_bytes(const DecodeAttentionProblem& problem) {
  float *o = nullptr, *lse = nullptr;
  int* arrivals = nullptr;
  return decode_workspace(problem, decode_split(problem), nullptr, &o, &lse, &arrivals).bytes();
}

void decode_attention(const DecodeAttentionProblem& problem, const DecodeAttentionBuffers& buffers,
                      cudaStream_t stream) {
  const plan::DecodeSplit split = decode_split(problem);
  const bool e4m3 = problem.kv_dtype == DType::kE4m3;
  if (!buffers.q || !buffers.k_cache || !buffers.v_cache || !buffers.block_table ||
      !buffers.kv_lens || !buffers.out || !buffers.workspace ||
      (e4m3 && (!buffers.k_scale || !buffers.v_scale)))
    throw std::invalid_argument(
        "decode_attention: a buffer is missing (E4M3 KV needs both scales)");
  DecodeLaunch l{problem, buffers, split, plan::decode_attention_form(), nullptr, nullptr, nullptr};
  decode_workspace(problem, split, buffers.workspace, &l.part_o, &l.part_lse, &l.arrivals);
  if (e4m3)
    launch_decode<fp8>(l, stream);
  else
    launch_decode<bf16>(l, stream);
}

namespace {

template <class KV>
class DecodeAttentionOp final : public QuadrantOp {
 public:
  DecodeAttentionOp(std::string format, const ShapeParams& shape) : format_(std::move(format)) {
    const DecodeAttentionShape sh = parse_decode_attention(shape);
    batch_ = sh.batch;
    heads_ = sh.heads;
    kv_heads_ = sh.kv_heads;
    head_dim_ = sh.head_dim;
    block_size_ = sh.block_size;
    kv_lens_.assign(sh.kv_lens.begin(), sh.kv_lens.end());
    // Head dim 128 runs on tensor cores; QUADRANT_DECODE_ATTN_MMA=0 (benchmarks only) keeps
    // it on the CUDA-core kernel for comparison.
    const char* mma = std::getenv("QUADRANT_DECODE_ATTN_MMA");
    use_mma_ = !(mma && std::string(mma) == "0");
    // QUADRANT_DECODE_ATTN_SPLITS=n (benchmarks only): n splits instead of the heuristic's.
    const char* splits = std::getenv("QUADRANT_DECODE_ATTN_SPLITS");
    problem_.splits = splits ? std::atoi(splits) : 0;
    max_len_ = sh.kv_bound;  // the host's bound (the longest length unless kv_len_bound)
    max_blocks_ = (max_len_ + block_size_ - 1) / block_size_;
    // Pages handed out in a shuffled order, as a cache allocator that has run a while.
    int64_t pages = 0;
    for (int32_t len : kv_lens_) pages += (len + block_size_ - 1) / block_size_;
    std::vector<int32_t> order(pages);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(12345));
    block_table_.assign(batch_ * max_blocks_, 0);
    int64_t next = 0;
    for (int64_t b = 0; b < batch_; ++b)
      for (int64_t j = 0; j < (kv_lens_[b] + block_size_ - 1) / block_size_; ++j)
        block_table_[b * max_blocks_ + j] = order[next++];
    pages_ = pages;
    kv_tokens_ = std::accumulate(kv_lens_.begin(), kv_lens_.end(), int64_t{0});

    problem_.batch = static_cast<int>(batch_);
    problem_.heads = heads_;
    problem_.kv_heads = kv_heads_;
    problem_.head_dim = head_dim_;
    problem_.block_tokens = block_size_;
    problem_.max_blocks = static_cast<int>(max_blocks_);
    problem_.max_kv_len = static_cast<int>(max_len_);
    problem_.kv_dtype = std::is_same_v<KV, fp8> ? DType::kE4m3 : DType::kBf16;
    problem_.variant = use_mma_ ? -1 : 0;
  }

  std::string name() const override {
    return "sm90_" + format_ + (mma_path() ? "_mma" : "") + "_decode_attention";
  }

  void prepare(uint64_t seed) override {
    const size_t cache = size_t(pages_) * block_size_ * kv_heads_ * head_dim_;
    q_.resize(size_t(batch_) * heads_ * head_dim_);
    k_.resize(cache);
    v_.resize(cache);
    out_.resize(q_.size());
    workspace_.resize(decode_attention_workspace_bytes(problem_));
    fill_uniform(q_.get(), q_.size(), seed * 16 + 1, -3.0f, 3.0f);
    if constexpr (std::is_same_v<KV, bf16>) {
      fill_uniform(k_.get(), k_.size(), seed * 16 + 2, -1.0f, 1.0f);
      fill_uniform(v_.get(), v_.size(), seed * 16 + 3, -1.0f, 1.0f);
    } else {
      // Codes over the E4M3 range, scaled back to about [-1, 1) per KV head.
      fill_uniform(k_.get(), k_.size(), seed * 16 + 2, 224.0f);
      fill_uniform(v_.get(), v_.size(), seed * 16 + 3, 224.0f);
      std::vector<float> ks(kv_heads_), vs(kv_heads_);
      for (int h = 0; h < kv_heads_; ++h) {
        ks[h] = (1.0f + 0.1f * h) / 224.0f;
        vs[h] = (1.0f + 0.05f * h) / 224.0f;
      }
      k_scale_.upload(ks);
      v_scale_.upload(vs);
    }
    lens_dev_.upload(kv_lens_);
    table_dev_.upload(block_table_);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void launch(cudaStream_t stream) override {
    DecodeAttentionBuffers b;
    b.q = q_.get();
    b.k_cache = k_.get();
    b.v_cache = v_.get();
    b.k_scale = k_scale_.get();
    b.v_scale = v_scale_.get();
    b.block_table = table_dev_.get();
    b.kv_lens = lens_dev_.get();
    b.out = out_.get();
    b.workspace = workspace_.get();
    decode_attention(problem_, b, stream);
  }

  CheckResult check(uint64_t seed) override {
    prepare(seed);
    poison(out_.get(), out_.bytes());
    launch(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    const auto out = bf16_to_double(as_raw<uint16_t>(out_.download()));
    const auto seqs = sample_rows(batch_, 8);
    // Rebuild a compact cache of the sampled sequences only, decoded to float64.
    ref::DecodeAttentionProblem p;
    p.heads = heads_;
    p.kv_heads = kv_heads_;
    p.head_dim = head_dim_;
    p.block_size = block_size_;
    p.max_blocks_per_seq = max_blocks_;
    p.scale = 1.0 / std::sqrt(double(head_dim_));
    const auto q = bf16_to_double(as_raw<uint16_t>(q_.download()));
    std::vector<double> kc, vc, qc;
    std::vector<int32_t> table;
    const size_t page_elems = size_t(block_size_) * kv_heads_ * head_dim_;
    // Decoded page by page: the whole cache in float64 would not fit a host at the
    // timed shapes.
    std::vector<uint8_t> k_raw = as_raw<uint8_t>(k_.download()),
                         v_raw = as_raw<uint8_t>(v_.download());
    std::vector<float> ks(kv_heads_, 1.0f), vs(kv_heads_, 1.0f);
    if constexpr (!std::is_same_v<KV, bf16>) {
      ks = k_scale_.download();
      vs = v_scale_.download();
    }
    auto decode = [](const std::vector<uint8_t>& raw, size_t i) -> double {
      if constexpr (std::is_same_v<KV, bf16>) {
        uint16_t bits;
        std::memcpy(&bits, raw.data() + 2 * i, 2);
        return ref::bf16_to_float(bits);
      } else {
        return ref::e4m3_to_double(raw[i]);
      }
    };
    int32_t next = 0;
    for (int64_t b : seqs) {
      p.kv_lens.push_back(kv_lens_[b]);
      qc.insert(qc.end(), q.begin() + b * heads_ * head_dim_,
                q.begin() + (b + 1) * heads_ * head_dim_);
      for (int64_t j = 0; j < max_blocks_; ++j) {
        if (j * block_size_ >= kv_lens_[b]) {
          table.push_back(0);
          continue;
        }
        const size_t page = block_table_[b * max_blocks_ + j];
        for (size_t e = 0; e < page_elems; ++e) {
          const int h = static_cast<int>((e / head_dim_) % kv_heads_);
          kc.push_back(decode(k_raw, page * page_elems + e) * ks[h]);
          vc.push_back(decode(v_raw, page * page_elems + e) * vs[h]);
        }
        table.push_back(next++);
      }
    }
    p.block_table = table.data();
    p.q = qc.data();
    p.k_cache = kc.data();
    p.v_cache = vc.data();
    std::vector<int64_t> all(seqs.size());
    std::iota(all.begin(), all.end(), 0);
    const auto expected = ref::decode_attention(p, all);
    std::vector<double> got;
    for (int64_t b : seqs)
      got.insert(got.end(), out.begin() + b * heads_ * head_dim_,
                 out.begin() + (b + 1) * heads_ * head_dim_);
    CheckResult c;
    c.tolerance = tolerance_for(format_);
    c.all_written = std::none_of(out.begin(), out.end(), [](double x) { return std::isnan(x); });
    c.rel_fro_error = ref::rel_fro_error(got.data(), expected.data(), got.size());
    return c;
  }

  double flops() const override { return 4.0 * double(kv_tokens_) * heads_ * head_dim_; }
  double bytes() const override {
    return 2.0 * double(kv_tokens_) * kv_heads_ * head_dim_ * sizeof(KV) +
           2.0 * double(batch_) * heads_ * head_dim_ * sizeof(bf16);
  }
  size_t device_bytes() const override {
    return q_.bytes() + k_.bytes() + v_.bytes() + out_.bytes() + workspace_.bytes() +
           table_dev_.bytes() + lens_dev_.bytes();
  }

 private:
  // The family name keeps "_mma" for E4M3 only (BF16 on tensor cores kept its name, which
  // the calibration profiles carry).
  bool mma_path() const { return use_mma_ && std::is_same_v<KV, fp8> && head_dim_ == 128; }

  std::string format_;
  bool use_mma_ = true;
  int64_t batch_ = 0, max_len_ = 0, max_blocks_ = 0, pages_ = 0, kv_tokens_ = 0;
  int heads_ = 0, kv_heads_ = 0, head_dim_ = 0, block_size_ = 0;
  DecodeAttentionProblem problem_;
  std::vector<int32_t> kv_lens_, block_table_;
  DeviceArray<bf16> q_, out_;
  DeviceArray<KV> k_, v_;
  DeviceArray<float> k_scale_, v_scale_;
  DeviceArray<uint8_t> workspace_;
  DeviceArray<int32_t> table_dev_, lens_dev_;
};

}  // namespace

std::unique_ptr<QuadrantOp> make_decode_attention(const std::string& format,
                                                  const ShapeParams& shape) {
  if (format == "bf16") return std::make_unique<DecodeAttentionOp<bf16>>(format, shape);
  if (format == "fp8") return std::make_unique<DecodeAttentionOp<fp8>>(format, shape);
  throw std::invalid_argument("decode_attention: format must be bf16 or fp8, got '" + format + "'");
}

}  // namespace quadrant::kernels
