// MLA decode attention (DeepSeek-V2/V3, weight-absorbed) over a paged latent cache: split-KV
// flash decoding with heads as the M dimension of mma.sync tiles, then a log-sum-exp combine.
//
// Every head of a sequence reads the same 576-wide latent rows (c_kv 512 | k_rope 64), so a
// CTA takes a group of 16, 32 or 64 heads (MT = 1, 2, 4 m-tiles of 16) and one chunk of the
// sequence, and streams the chunk's rows once, 32 tokens per stage, through a ring of cp.async
// stages in shared memory (plan/mla_decode_plan.h: 4-5 stages, 144-180 KB in flight per SM,
// one CTA per SM). Per 32-token tile, 8 warps:
//  1. S = Q K^T (heads x 32 tokens, k = 576): the S warps (4 for MT = 1, else 8) each take one
//     m-tile and 8 or 16 tokens; Q (the CTA's heads) sits in shared memory, both operands
//     come by ldmatrix from rows XOR-swizzled in 16-byte chunks (chunk ^ (row & 7)).
//  2. Row maxima of the tile exchanged through shared memory; P = exp2(S - m) written as
//     BF16 into shared memory, row sums exchanged likewise.
//  3. O = P V: warp w owns output dims 64w .. 64w + 63 for every head of the CTA (MT x 8
//     n-tiles of FP32 accumulators), V = the first 512 columns of the same stage, read by
//     ldmatrix.trans; each warp rescales its accumulators by exp2(m_old - m_new).
// The running maxima live in shared memory, double-buffered by tile parity (one barrier
// fewer); the running sums are kept by warp 0. A sequence of one split writes its BF16 output
// directly; longer ones write FP32 partials and their log-sum-exp (base 2) for the combine.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "kernels/include/quadrant_mla.h"
#include "kernels/plan/mla_decode_plan.h"
#include "kernels/reference/mla_reference.h"
#include "kernels/reference/reference.h"
#include "kernels/src/common.cuh"
#include "kernels/src/mla_wg_layout.h"
#include "kernels/src/op_util.h"
#include "kernels/src/sm90_primitives.cuh"
#include "kernels/src/workspace.h"

namespace quadrant::kernels {
namespace {

constexpr int kD = plan::kMlaDim, kDv = plan::kMlaLatent, kRowBytes = plan::kMlaRowBytes;
constexpr int kChunks = kRowBytes / 16;  // 72 16-byte chunks per row
constexpr int kBN = plan::kMlaTileTokens;
constexpr int kThreads = plan::kMlaThreads, kWarps = kThreads / 32;
constexpr int kPRow = 80;  // bytes per row of P: 32 BF16 and 16 of padding (no bank conflicts)
constexpr int kMaxHeads = plan::kMlaMaxHeadsPerCta;
static_assert(kDv == kWarps * 64, "each warp owns 64 output dims");
static_assert(kChunks % 8 == 0, "8 copying threads per row");
static_assert(kThreads == kBN * 8, "one 32-token tile: 8 threads per row");

__device__ __forceinline__ int swz_off(int row, int chunk) {
  return row * kRowBytes + ((chunk ^ (row & 7)) << 4);
}

template <int MT>
__global__ void __launch_bounds__(kThreads, 1)
    mla_decode_split_kernel(const bf16* __restrict__ q, const uint8_t* __restrict__ cache,
                            const int32_t* __restrict__ block_table,
                            const int32_t* __restrict__ kv_lens, int max_blocks, int block_size,
                            int heads, int chunk, int max_splits, float scale_log2,
                            float* __restrict__ part_o, float* __restrict__ part_lse,
                            bf16* __restrict__ out) {
  constexpr int kHeads = 16 * MT;
  constexpr int kStages = plan::mla_stages(kHeads);
  constexpr int kSWarps = 4 * MT < kWarps ? 4 * MT : kWarps;  // warps computing S
  constexpr int kNpw = 4 * MT / kSWarps;                      // 8-token n-tiles per S warp
  static_assert(kNpw == 1 || kNpw == 2, "S tiles per warp");
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* const sq = smem;
  uint8_t* const skv = sq + kHeads * kRowBytes;
  uint8_t* const sp = skv + kStages * plan::kMlaStageBytes;
  float* const red_max = reinterpret_cast<float*>(sp + kHeads * kPRow);  // [warps][16]
  float* const red_sum = red_max + kWarps * 16;                          // [warps][16]
  float* const m_buf = red_sum + kWarps * 16;                            // [2][kMaxHeads]
  float* const l_run = m_buf + 2 * kMaxHeads;                            // [kMaxHeads]

  const int b = blockIdx.z, split = blockIdx.y, head0 = blockIdx.x * kHeads;
  const int len = kv_lens[b];
  const int start = split * chunk;
  if (start >= len) return;
  const int end = min(len, start + chunk);
  const bool alone = len <= chunk;  // one split: this CTA writes the output itself
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int g = lane / 4, t = lane % 4;
  const int32_t* table = block_table + size_t(b) * max_blocks;
  const int tiles = (end - start + kBN - 1) / kBN;

  // The CTA's queries (committed with the first tile).
  const uint8_t* qsrc =
      reinterpret_cast<const uint8_t*>(q + (size_t(b) * heads + head0) * size_t(kD));
  for (int i = tid; i < kHeads * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    cp_async_16(sq + swz_off(r, c), qsrc + size_t(r) * kRowBytes + c * 16);
  }
  // Tile j into stage j % kStages: thread tid copies chunks 8k + tid % 8 of row tid / 8, zeros
  // past the end. One commit group per tile, an empty one past the last.
  const int crow = tid / 8, csub = tid % 8;
  auto issue = [&](int j) {
    if (j < tiles) {
      const int tok = start + j * kBN + crow;
      const bool valid = tok < end;
      const uint8_t* src = cache;
      if (valid) {
        const int page = __ldg(table + tok / block_size);
        src = cache + (size_t(page) * block_size + tok % block_size) * kRowBytes;
      }
      uint8_t* dst = skv + (j % kStages) * plan::kMlaStageBytes;
#pragma unroll
      for (int k = 0; k < kChunks / 8; ++k) {
        const int c = 8 * k + csub;
        cp_async_16(dst + swz_off(crow, c), src + c * 16, valid);
      }
    }
    cp_async_commit();
  };
  if (tid < kMaxHeads) {
    m_buf[tid] = -INFINITY;
    m_buf[kMaxHeads + tid] = -INFINITY;
    l_run[tid] = 0.0f;
  }
#pragma unroll
  for (int j = 0; j < kStages - 1; ++j) issue(j);

  float o[MT][8][4];
#pragma unroll
  for (int mi = 0; mi < MT; ++mi)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) o[mi][nt][0] = o[mi][nt][1] = o[mi][nt][2] = o[mi][nt][3] = 0;
  const int dim0 = warp * 64;                         // this warp's output dims
  const int mt = warp % MT, n0 = (warp / MT) * kNpw;  // its S tile (warp < kSWarps)

  for (int j = 0; j < tiles; ++j) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // tile j landed for all threads; tile j - 1 fully consumed
    issue(j + kStages - 1);
    const uint8_t* kv = skv + (j % kStages) * plan::kMlaStageBytes;
    const int valid = min(kBN, end - start - j * kBN);
    float* const m_new = m_buf + (j & 1) * kMaxHeads;
    const float* const m_old = m_buf + ((j + 1) & 1) * kMaxHeads;

    // 1. S = Q K^T for this warp's m-tile and tokens, scaled to log2 units and masked.
    float s[kNpw][4];
    if (warp < kSWarps) {
#pragma unroll
      for (int i = 0; i < kNpw; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0;
      const uint8_t* qrow = sq + (mt * 16 + (lane & 15)) * kRowBytes;
      const int qswz = (mt * 16 + (lane & 15)) & 7;
      if constexpr (kNpw == 2) {
        const int krow = n0 * 8 + (lane & 7) + (lane >> 4) * 8;
#pragma unroll 6
        for (int kk = 0; kk < kD / 16; ++kk) {
          uint32_t a[4], bk[4];
          ldmatrix_x4(a, qrow + (((2 * kk + (lane >> 4)) ^ qswz) << 4));
          ldmatrix_x4(bk, kv + swz_off(krow, 2 * kk + ((lane >> 3) & 1)));
          mma_bf16_16816(s[0], a, bk[0], bk[1]);
          mma_bf16_16816(s[1], a, bk[2], bk[3]);
        }
      } else {
        const int krow = n0 * 8 + (lane & 7);
#pragma unroll 6
        for (int kk = 0; kk < kD / 16; kk += 2) {
          uint32_t a0[4], a1[4], bk[4];
          ldmatrix_x4(a0, qrow + (((2 * kk + (lane >> 4)) ^ qswz) << 4));
          ldmatrix_x4(a1, qrow + (((2 * kk + 2 + (lane >> 4)) ^ qswz) << 4));
          ldmatrix_x4(bk, kv + swz_off(krow, 2 * kk + (lane >> 3)));
          mma_bf16_16816(s[0], a0, bk[0], bk[1]);
          mma_bf16_16816(s[0], a1, bk[2], bk[3]);
        }
      }
      float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
      for (int i = 0; i < kNpw; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int tok = (n0 + i) * 8 + 2 * t + (e & 1);
          const float v = tok < valid ? s[i][e] * scale_log2 : -INFINITY;
          s[i][e] = v;
          if (e < 2)
            mx0 = fmaxf(mx0, v);
          else
            mx1 = fmaxf(mx1, v);
        }
#pragma unroll
      for (int off = 1; off <= 2; off *= 2) {
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
      }
      if (t == 0) {
        red_max[warp * 16 + g] = mx0;
        red_max[warp * 16 + g + 8] = mx1;
      }
    }
    __syncthreads();

    // 2. The new running maxima of this m-tile's rows, P in BF16, the rows' partial sums.
    if (warp < kSWarps) {
      float mn0 = m_old[mt * 16 + g], mn1 = m_old[mt * 16 + g + 8];
      for (int w2 = mt; w2 < kSWarps; w2 += MT) {
        mn0 = fmaxf(mn0, red_max[w2 * 16 + g]);
        mn1 = fmaxf(mn1, red_max[w2 * 16 + g + 8]);
      }
      float sum0 = 0, sum1 = 0;
#pragma unroll
      for (int i = 0; i < kNpw; ++i) {
        const float p0 = exp2f(s[i][0] - mn0), p1 = exp2f(s[i][1] - mn0);
        const float p2 = exp2f(s[i][2] - mn1), p3 = exp2f(s[i][3] - mn1);
        sum0 += p0 + p1;
        sum1 += p2 + p3;
        const int col = (n0 + i) * 8 + 2 * t;
        *reinterpret_cast<uint32_t*>(sp + (mt * 16 + g) * kPRow + col * 2) = pack_bf16x2(p0, p1);
        *reinterpret_cast<uint32_t*>(sp + (mt * 16 + g + 8) * kPRow + col * 2) =
            pack_bf16x2(p2, p3);
      }
#pragma unroll
      for (int off = 1; off <= 2; off *= 2) {
        sum0 += __shfl_xor_sync(0xffffffffu, sum0, off);
        sum1 += __shfl_xor_sync(0xffffffffu, sum1, off);
      }
      if (t == 0) {
        red_sum[warp * 16 + g] = sum0;
        red_sum[warp * 16 + g + 8] = sum1;
        if (warp < MT) {  // the first S warp of each m-tile publishes the maxima
          m_new[mt * 16 + g] = mn0;
          m_new[mt * 16 + g + 8] = mn1;
        }
      }
    }
    __syncthreads();

    // 3. Rescale, then O += P V over this warp's 64 dims for every head of the CTA.
    if (warp == 0) {
      for (int h = lane; h < kHeads; h += 32) {
        const float corr = exp2f(m_old[h] - m_new[h]);  // m_old = -inf on the first tile: 0
        float add = 0;
        for (int w2 = h / 16; w2 < kSWarps; w2 += MT) add += red_sum[w2 * 16 + h % 16];
        l_run[h] = l_run[h] * corr + add;
      }
    }
#pragma unroll
    for (int mi = 0; mi < MT; ++mi) {
      const float c0 = exp2f(m_old[mi * 16 + g] - m_new[mi * 16 + g]);
      const float c1 = exp2f(m_old[mi * 16 + g + 8] - m_new[mi * 16 + g + 8]);
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        o[mi][nt][0] *= c0;
        o[mi][nt][1] *= c0;
        o[mi][nt][2] *= c1;
        o[mi][nt][3] *= c1;
      }
    }
#pragma unroll
    for (int k2 = 0; k2 < kBN / 16; ++k2) {
      uint32_t bv[4][4];
#pragma unroll
      for (int c = 0; c < 4; ++c)
        ldmatrix_x4_trans(bv[c], kv + swz_off(k2 * 16 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                              (dim0 + 16 * c) / 8 + (lane >> 4)));
#pragma unroll
      for (int mi = 0; mi < MT; ++mi) {
        uint32_t a[4];
        ldmatrix_x4(a, sp + (mi * 16 + (lane & 15)) * kPRow + (2 * k2 + (lane >> 4)) * 16);
#pragma unroll
        for (int nt = 0; nt < 8; ++nt)
          mma_bf16_16816(o[mi][nt], a, bv[nt / 2][2 * (nt % 2)], bv[nt / 2][2 * (nt % 2) + 1]);
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the last tile's sums

  const float* const m_fin = m_buf + ((tiles - 1) & 1) * kMaxHeads;
#pragma unroll
  for (int mi = 0; mi < MT; ++mi)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = mi * 16 + g + 8 * half;
      const float inv = 1.0f / l_run[r];
      const size_t head = size_t(b) * heads + head0 + r;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const int d = dim0 + nt * 8 + 2 * t;
        const float x = o[mi][nt][2 * half] * inv, y = o[mi][nt][2 * half + 1] * inv;
        if (alone)
          *reinterpret_cast<uint32_t*>(out + head * kDv + d) = pack_bf16x2(x, y);
        else
          *reinterpret_cast<float2*>(part_o + (head * max_splits + split) * kDv + d) =
              make_float2(x, y);
      }
    }
  if (!alone && warp == 0)
    for (int h = lane; h < kHeads; h += 32)
      part_lse[(size_t(b) * heads + head0 + h) * max_splits + split] = m_fin[h] + log2f(l_run[h]);
}

// The wgmma form (plan::MlaDecodeForm::kWgmma): tokens as M, heads as N. A 64-token tile of
// latent rows lands, by cp.async, in the 128-byte-swizzled layout wgmma reads (nine 64-column
// boxes of 64 rows x 128 bytes), and both GEMMs of each warpgroup read it from there:
//  1. S^T (64 tokens x HN heads) = K Q^T: A = the tile, K-major; B = Q, K-major (36 wgmma).
//  2. Column (head) maxima: 16 rows a warp by shuffles, the 4 warps through shared memory;
//     each thread keeps the running maxima and partial sums of its own columns (the sums are
//     reduced once, after the last tile). P^T goes to shared memory by stmatrix.trans: heads
//     as rows of 64 tokens, the K-major B of step 3.
//  3. O^T (512 dims x HN) += V^T P^T: A = the same tile read MN-major (dims as M, eight m64
//     boxes), so V is never copied or transposed (32 wgmma). 4 HN accumulators a thread.
// Two stages: tile j + 2 is issued once tile j's P V has read its stage. The epilogue stages
// O (FP32, rows padded to 516 floats: no bank conflicts) in the freed ring for coalesced
// stores: BF16 output when the sequence has one split, else FP32 partials and the
// log-sum-exp (base 2) for mla_decode_combine_kernel, as the mma form.
// WGS warpgroups (1, or 2 at 64 heads a CTA) of HN heads each share the tile: each computes
// its own heads' S^T, softmax and O^T as above (its own queries, P^T box and maxima, its own
// barrier for them), and the CTA's copies and the stage's release are common.
template <int HN, int WGS>
struct MlaWgLayout {
  static constexpr int kHeads = HN * WGS;  // the CTA's
  static constexpr int kThreads = 128 * WGS;
  static constexpr int kQ = 0;
  static constexpr int kKv = kQ + kHeads * kRowBytes;
  static constexpr int kP = kKv + plan::kMlaWgStages * plan::kMlaWgStageBytes;  // [WGS][HN][64]
  static constexpr int kRed = kP + kHeads * plan::kMlaWgTileTokens * 2;  // [WGS][2][4][HN] floats
  static constexpr int kEnd = kRed + 2 * 4 * kHeads * 4;
  static constexpr int kOutStride = kDv + 4;  // floats per staged output row
  static_assert(kThreads == plan::mla_wg_threads(kHeads), "plan/mla_decode_plan.h's threads");
  static_assert(kEnd + 1024 == plan::mla_wg_smem_bytes(kHeads), "plan/mla_decode_plan.h's layout");
  static_assert(kKv % 1024 == 0 && kP % 1024 == 0, "swizzled tiles start on 1024 bytes");
  static_assert(plan::kMlaWgTileTokens == mla_wg::kTileRows, "mla_wg_layout.h's tiles");
  static_assert(kHeads * kOutStride * 4 <= plan::kMlaWgStages * plan::kMlaWgStageBytes,
                "the staged output fits the ring");
};

// The wgmma form's per-column values of one warp (columns 8 i + 2 t + c, the same in its 8 row
// lanes g) to row `warp` of dst [4 warps][HN], by the lanes of g = 0.
template <int HN>
__device__ __forceinline__ void publish_columns(float* dst, int warp, int lane,
                                                const float (&v)[HN / 8][2]) {
  if (lane >= 4) return;
#pragma unroll
  for (int i = 0; i < HN / 8; ++i)
#pragma unroll
    for (int c = 0; c < 2; ++c) dst[warp * HN + 8 * i + 2 * lane + c] = v[i][c];
}

template <int HN, int WGS>
__global__ void __launch_bounds__(128 * WGS, 1)
    mla_decode_wgmma_kernel(const bf16* __restrict__ q, const uint8_t* __restrict__ cache,
                            const int32_t* __restrict__ block_table,
                            const int32_t* __restrict__ kv_lens, int max_blocks, int block_size,
                            int heads, int chunk, int max_splits, float scale_log2,
                            float* __restrict__ part_o, float* __restrict__ part_lse,
                            bf16* __restrict__ out) {
  using L = MlaWgLayout<HN, WGS>;
  constexpr int kBN = plan::kMlaWgTileTokens, kStageBytes = plan::kMlaWgStageBytes;
  constexpr int kNb = HN / 8;  // n8 column blocks of S^T and O^T
  extern __shared__ uint8_t smem_raw[];
  uint8_t* const smem =
      reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  uint8_t* const sq = smem + L::kQ;
  uint8_t* const skv = smem + L::kKv;
  uint8_t* const sp = smem + L::kP;
  float* const red = reinterpret_cast<float*>(smem + L::kRed);

  const int b = blockIdx.z, split = blockIdx.y, head0 = blockIdx.x * L::kHeads;
  const int len = kv_lens[b];
  const int start = split * chunk;
  if (start >= len) return;
  const int end = min(len, start + chunk);
  const bool alone = len <= chunk;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32 % 4, wg = WGS == 1 ? 0 : tid / 128;
  const int wg_tid = tid % 128, wg_head0 = wg * HN;  // the warpgroup's heads in the CTA's
  const int g = lane / 4, t = lane % 4;
  const int32_t* table = block_table + size_t(b) * max_blocks;
  const int tiles = (end - start + kBN - 1) / kBN;

  // Copies: 8 threads a row (16 WGS rows at a time); thread sub takes 16-byte chunk sub of each
  // 64-column box (mla_wg_layout.h: where wgmma reads it).
  constexpr int kRowsAtOnce = L::kThreads / 8;
  const int crow = tid / 8, sub = tid % 8;
  const uint8_t* qsrc =
      reinterpret_cast<const uint8_t*>(q + (size_t(b) * heads + head0) * size_t(kD));
  for (int r = crow; r < L::kHeads; r += kRowsAtOnce)
#pragma unroll
    for (int k = 0; k < kChunks / 8; ++k)
      cp_async_16(sq + mla_wg::tile_offset(k, r, sub, L::kHeads),
                  qsrc + size_t(r) * kRowBytes + (8 * k + sub) * 16);
  auto issue = [&](int j) {
    if (j < tiles) {
      uint8_t* dst = skv + (j % plan::kMlaWgStages) * kStageBytes;
#pragma unroll
      for (int pass = 0; pass < kBN / kRowsAtOnce; ++pass) {
        const int r = crow + kRowsAtOnce * pass;
        const int tok = start + j * kBN + r;
        const bool valid = tok < end;  // rows past the end are zeros: P . V must see no NaN
        const uint8_t* src = cache;
        if (valid) {
          const int page = __ldg(table + tok / block_size);
          src = cache + (size_t(page) * block_size + tok % block_size) * kRowBytes;
        }
#pragma unroll
        for (int k = 0; k < kChunks / 8; ++k)
          cp_async_16(dst + mla_wg::tile_offset(k, r, sub, kBN), src + (8 * k + sub) * 16, valid);
      }
    }
    cp_async_commit();
  };
  issue(0);  // with the queries
  issue(1);

  float o[8][HN / 2];  // O^T: dim box mb, rows 64 mb + 16 warp + g (+ 8), columns = heads
#pragma unroll
  for (int mb = 0; mb < 8; ++mb)
#pragma unroll
    for (int e = 0; e < HN / 2; ++e) o[mb][e] = 0.0f;
  float m_run[kNb][2], l_run[kNb][2];  // columns 8 i + 2 t + c
#pragma unroll
  for (int i = 0; i < kNb; ++i)
    m_run[i][0] = m_run[i][1] = -INFINITY, l_run[i][0] = l_run[i][1] = 0.0f;

  const uint32_t kv_addr = smem_u32(skv), q_addr = smem_u32(sq);
  uint8_t* const sp_wg = sp + wg_head0 * plan::kMlaWgTileTokens * 2;  // this warpgroup's P^T
  const uint32_t p_addr = smem_u32(sp_wg);
  float* const red_wg = red + wg * 2 * 4 * HN;
  for (int j = 0; j < tiles; ++j) {
    cp_async_wait<1>();
    sm90::fence_proxy_async();  // cp.async wrote in the generic proxy; wgmma reads the async one
    __syncthreads();            // tile j (and the queries) landed for every thread's copies
    const uint32_t stage = kv_addr + (j % plan::kMlaWgStages) * kStageBytes;
    const int valid = min(kBN, end - start - j * kBN);

    // 1. S^T = K Q^T.
    float s[HN / 2] = {};
    sm90::wgmma_fence();
#pragma unroll
    for (int kb = 0; kb < kChunks / 8; ++kb)
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        sm90::wgmma_ss_bf16<HN, 0>(
            s, sm90::smem_desc(stage + mla_wg::qk_a_offset(kb, kk)),
            sm90::smem_desc(q_addr + mla_wg::qk_b_offset(kb, kk, L::kHeads, wg_head0)),
            kb + kk > 0);
    sm90::wgmma_commit();
    sm90::wgmma_wait<0>();
    sm90::fence_regs<HN / 2>(s);

    // 2. Scaled, masked scores; the column maxima of the tile.
    const int r0 = 16 * warp + g;
    float* const red_j = red_wg + (j & 1) * 4 * HN;
    float mx[kNb][2];
#pragma unroll
    for (int i = 0; i < kNb; ++i)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const float lo = r0 < valid ? s[4 * i + c] * scale_log2 : -INFINITY;
        const float hi = r0 + 8 < valid ? s[4 * i + 2 + c] * scale_log2 : -INFINITY;
        s[4 * i + c] = lo;
        s[4 * i + 2 + c] = hi;
        float m = fmaxf(lo, hi);
#pragma unroll
        for (int off = 4; off < 32; off *= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
        mx[i][c] = m;
      }
    publish_columns<HN>(red_j, warp, lane, mx);
    sm90::wg_barrier(1 + wg);
    float corr[kNb][2];
    uint32_t pk[kNb][2];  // P as BF16 pairs: rows r0 / r0 + 8, columns 8 i + 2 t, + 1
#pragma unroll
    for (int i = 0; i < kNb; ++i) {
      float p[4];
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int col = 8 * i + 2 * t + c;
        const float m_new = fmaxf(fmaxf(m_run[i][c], fmaxf(red_j[col], red_j[HN + col])),
                                  fmaxf(red_j[2 * HN + col], red_j[3 * HN + col]));
        corr[i][c] = exp2f(m_run[i][c] - m_new);  // m_run = -inf on the first tile: 0
        m_run[i][c] = m_new;
        p[c] = exp2f(s[4 * i + c] - m_new);
        p[2 + c] = exp2f(s[4 * i + 2 + c] - m_new);
        l_run[i][c] = l_run[i][c] * corr[i][c] + p[c] + p[2 + c];
      }
      pk[i][0] = pack_bf16x2(p[0], p[1]);
      pk[i][1] = pack_bf16x2(p[2], p[3]);
    }
    // P^T: head rows of 64 tokens (128 bytes, swizzled), four 8 x 8 blocks a stmatrix.
#pragma unroll
    for (int x4 = 0; x4 < kNb / 2; ++x4) {
      const uint32_t r[4] = {pk[2 * x4][0], pk[2 * x4][1], pk[2 * x4 + 1][0], pk[2 * x4 + 1][1]};
      stmatrix_x4_trans(sp_wg + mla_wg::p_store_offset(x4, warp, lane), r);
    }
    sm90::fence_proxy_async();  // P^T, written by the threads, is read by wgmma
#pragma unroll
    for (int mb = 0; mb < 8; ++mb)
#pragma unroll
      for (int i = 0; i < kNb; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[mb][4 * i + e] *= corr[i][e % 2];
    sm90::wg_barrier(1 + wg);  // every warp's P^T rows

    // 3. O^T += V^T P^T: dim box mb of the tile as an MN-major A.
    sm90::wgmma_fence();
#pragma unroll
    for (int mb = 0; mb < 8; ++mb)
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk)
        sm90::wgmma_ss_bf16<HN, 1>(
            o[mb], sm90::smem_desc(stage + mla_wg::pv_a_offset(mb, kk), mla_wg::kPvLbo),
            sm90::smem_desc(p_addr + mla_wg::pv_b_offset(kk)), 1);
    sm90::wgmma_commit();
    sm90::wgmma_wait<0>();
#pragma unroll
    for (int mb = 0; mb < 8; ++mb) sm90::fence_regs<HN / 2>(o[mb]);
    __syncthreads();  // the stage and P^T read by every warpgroup's wgmma
    issue(j + 2);
  }
  cp_async_wait<0>();
  __syncthreads();

  // The sums of each column over the 64 rows: lanes of one t, then the 4 warps.
#pragma unroll
  for (int i = 0; i < kNb; ++i)
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      float l = l_run[i][c];
#pragma unroll
      for (int off = 4; off < 32; off *= 2) l += __shfl_xor_sync(0xffffffffu, l, off);
      l_run[i][c] = l;
    }
  publish_columns<HN>(red_wg, warp, lane, l_run);
  __syncthreads();
  float* const staged = reinterpret_cast<float*>(skv);
#pragma unroll
  for (int i = 0; i < kNb; ++i)
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int col = 8 * i + 2 * t + c, row = wg_head0 + col;
      const float l = red_wg[col] + red_wg[HN + col] + red_wg[2 * HN + col] + red_wg[3 * HN + col];
      const float inv = 1.0f / l;
#pragma unroll
      for (int mb = 0; mb < 8; ++mb) {
        const int d = 64 * mb + 16 * warp + g;
        staged[row * L::kOutStride + d] = o[mb][4 * i + c] * inv;
        staged[row * L::kOutStride + d + 8] = o[mb][4 * i + 2 + c] * inv;
      }
      if (!alone && warp == 0 && g == 0)
        part_lse[(size_t(b) * heads + head0 + row) * max_splits + split] = m_run[i][c] + log2f(l);
    }
  __syncthreads();
  // Coalesced stores: a row of 512 is 128 float4; a warpgroup takes every WGS-th row, thread
  // wg_tid its float4 wg_tid.
  for (int h = wg; h < L::kHeads; h += WGS) {
    const float4 v = *reinterpret_cast<const float4*>(staged + h * L::kOutStride + 4 * wg_tid);
    const size_t head = size_t(b) * heads + head0 + h;
    if (alone)
      *reinterpret_cast<uint2*>(out + head * kDv + 4 * wg_tid) =
          make_uint2(pack_bf16x2(v.x, v.y), pack_bf16x2(v.z, v.w));
    else
      *reinterpret_cast<float4*>(part_o + (head * max_splits + split) * kDv + 4 * wg_tid) = v;
  }
}

// Merges the splits of each (sequence, head) by their log-sum-exp; a warp per row, 16 dims
// per lane as 4 float4. Rows of one split were written by the split kernel; rows of length 0
// get zeros.
__global__ void __launch_bounds__(32 * plan::kMlaCombineRows)
    mla_decode_combine_kernel(const float* __restrict__ part_o, const float* __restrict__ part_lse,
                              const int32_t* __restrict__ kv_lens, int batch, int heads, int chunk,
                              int max_splits, bf16* __restrict__ out) {
  const int lane = threadIdx.x % 32;
  const int64_t head = int64_t(blockIdx.x) * plan::kMlaCombineRows + threadIdx.x / 32;
  if (head >= int64_t(batch) * heads) return;
  const int b = static_cast<int>(head / heads);
  const int splits = (kv_lens[b] + chunk - 1) / chunk;
  bf16* dst = out + head * kDv;
  if (splits == 1) return;
  if (splits == 0) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int d = 4 * lane + 128 * i;
      *reinterpret_cast<uint2*>(dst + d) = make_uint2(0, 0);
    }
    return;
  }
  const size_t row = size_t(head) * max_splits;
  float big = -INFINITY;
  for (int s = lane; s < splits; s += 32) big = fmaxf(big, part_lse[row + s]);
#pragma unroll
  for (int off = 16; off > 0; off /= 2) big = fmaxf(big, __shfl_xor_sync(0xffffffffu, big, off));
  float acc[4][4] = {}, sum_w = 0;
  for (int s = 0; s < splits; ++s) {
    const float w = exp2f(part_lse[row + s] - big);
    sum_w += w;
    const float* src = part_o + (row + s) * kDv;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float4 v = *reinterpret_cast<const float4*>(src + 4 * lane + 128 * i);
      acc[i][0] = fmaf(w, v.x, acc[i][0]);
      acc[i][1] = fmaf(w, v.y, acc[i][1]);
      acc[i][2] = fmaf(w, v.z, acc[i][2]);
      acc[i][3] = fmaf(w, v.w, acc[i][3]);
    }
  }
  const float inv = 1.0f / sum_w;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int d = 4 * lane + 128 * i;
    *reinterpret_cast<uint2*>(dst + d) = make_uint2(pack_bf16x2(acc[i][0] * inv, acc[i][1] * inv),
                                                    pack_bf16x2(acc[i][2] * inv, acc[i][3] * inv));
  }
}

plan::MlaDecodeSplit mla_split(const MlaDecodeProblem& p) {
  if (p.batch < 1 || p.max_kv_len < 1)
    throw std::invalid_argument("mla_decode: need batch >= 1 and max_kv_len >= 1");
  if (p.block_tokens < 1 || p.max_blocks < 1 ||
      int64_t(p.max_blocks) * p.block_tokens < p.max_kv_len)
    throw std::invalid_argument(
        "mla_decode: need block_tokens >= 1 and max_blocks * block_tokens >= max_kv_len");
  return plan::mla_decode_split(p.batch, p.heads, p.max_kv_len, sm_count(), p.splits);
}

Workspace mla_workspace(const MlaDecodeProblem& p, const plan::MlaDecodeSplit& s, void* base,
                        float** part_o, float** part_lse) {
  Workspace w(base);
  const size_t rows = size_t(p.batch) * p.heads * s.max_splits;
  *part_o = w.take<float>(rows * kDv);
  *part_lse = w.take<float>(rows);
  return w;
}

template <int MT>
void launch_split(const MlaDecodeProblem& p, const MlaDecodeBuffers& b,
                  const plan::MlaDecodeSplit& s, float scale_log2, float* part_o, float* part_lse,
                  cudaStream_t stream) {
  constexpr int smem = plan::mla_smem_bytes(16 * MT);
  opt_in_dynamic_smem(mla_decode_split_kernel<MT>, smem);
  const dim3 grid(static_cast<unsigned>(p.heads / (16 * MT)), static_cast<unsigned>(s.max_splits),
                  static_cast<unsigned>(p.batch));
  mla_decode_split_kernel<MT><<<grid, kThreads, smem, stream>>>(
      static_cast<const bf16*>(b.q), static_cast<const uint8_t*>(b.kv_cache), b.block_table,
      b.kv_lens, p.max_blocks, p.block_tokens, p.heads, s.chunk, s.max_splits, scale_log2, part_o,
      part_lse, static_cast<bf16*>(b.out));
  QK_LAUNCH_CHECK("mla_decode_split_kernel");
}

template <int HN, int WGS>
void launch_wgmma(const MlaDecodeProblem& p, const MlaDecodeBuffers& b,
                  const plan::MlaDecodeSplit& s, float scale_log2, float* part_o, float* part_lse,
                  cudaStream_t stream) {
  using L = MlaWgLayout<HN, WGS>;
  constexpr int smem = plan::mla_wg_smem_bytes(L::kHeads);
  opt_in_dynamic_smem(mla_decode_wgmma_kernel<HN, WGS>, smem);
  const dim3 grid(static_cast<unsigned>(p.heads / L::kHeads), static_cast<unsigned>(s.max_splits),
                  static_cast<unsigned>(p.batch));
  mla_decode_wgmma_kernel<HN, WGS><<<grid, L::kThreads, smem, stream>>>(
      static_cast<const bf16*>(b.q), static_cast<const uint8_t*>(b.kv_cache), b.block_table,
      b.kv_lens, p.max_blocks, p.block_tokens, p.heads, s.chunk, s.max_splits, scale_log2, part_o,
      part_lse, static_cast<bf16*>(b.out));
  QK_LAUNCH_CHECK("mla_decode_wgmma_kernel");
}

}  // namespace

size_t mla_decode_workspace_bytes(const MlaDecodeProblem& problem) {
  float *o = nullptr, *lse = nullptr;
  return mla_workspace(problem, mla_split(problem), nullptr, &o, &lse).bytes();
}

void mla_decode(const MlaDecodeProblem& problem, const MlaDecodeBuffers& buffers,
                cudaStream_t stream) {
  const plan::MlaDecodeSplit s = mla_split(problem);
  if (!buffers.q || !buffers.kv_cache || !buffers.block_table || !buffers.kv_lens || !buffers.out ||
      !buffers.workspace)
    throw std::invalid_argument("mla_decode: a buffer is missing");
  float *part_o = nullptr, *part_lse = nullptr;
  mla_workspace(problem, s, buffers.workspace, &part_o, &part_lse);
  const double scale =
      problem.softmax_scale > 0 ? double(problem.softmax_scale) : 1.0 / std::sqrt(192.0);
  const float scale_log2 = static_cast<float>(scale * 1.4426950408889634);
  if (s.form == plan::MlaDecodeForm::kWgmma) {
    if (s.heads_per_cta == 64)
      launch_wgmma<32, 2>(problem, buffers, s, scale_log2, part_o, part_lse, stream);
    else if (s.heads_per_cta == 32)
      launch_wgmma<32, 1>(problem, buffers, s, scale_log2, part_o, part_lse, stream);
    else
      launch_wgmma<16, 1>(problem, buffers, s, scale_log2, part_o, part_lse, stream);
  } else {
    switch (s.heads_per_cta) {
      case 16:
        launch_split<1>(problem, buffers, s, scale_log2, part_o, part_lse, stream);
        break;
      case 32:
        launch_split<2>(problem, buffers, s, scale_log2, part_o, part_lse, stream);
        break;
      default:
        launch_split<4>(problem, buffers, s, scale_log2, part_o, part_lse, stream);
        break;
    }
  }
  const int64_t rows = int64_t(problem.batch) * problem.heads;
  mla_decode_combine_kernel<<<static_cast<unsigned>((rows + plan::kMlaCombineRows - 1) /
                                                    plan::kMlaCombineRows),
                              32 * plan::kMlaCombineRows, 0, stream>>>(
      part_o, part_lse, buffers.kv_lens, problem.batch, problem.heads, s.chunk, s.max_splits,
      static_cast<bf16*>(buffers.out));
  QK_LAUNCH_CHECK("mla_decode_combine_kernel");
}

namespace {

class MlaDecodeOp final : public QuadrantOp {
 public:
  explicit MlaDecodeOp(const ShapeParams& shape) {
    const plan::MlaDecodeShape sh = plan::parse_mla_decode(shape);
    batch_ = sh.batch;
    heads_ = sh.heads;
    block_size_ = sh.block_size;
    kv_lens_.assign(sh.kv_lens.begin(), sh.kv_lens.end());
    // QUADRANT_MLA_DECODE_SPLITS=n (benchmarks only): n splits instead of the heuristic's.
    const char* splits = std::getenv("QUADRANT_MLA_DECODE_SPLITS");
    problem_.splits = splits ? std::atoi(splits) : 0;
    max_len_ = sh.max_kv_len();
    max_blocks_ = std::max<int64_t>(1, (max_len_ + block_size_ - 1) / block_size_);
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
    pages_ = std::max<int64_t>(1, pages);
    kv_tokens_ = std::accumulate(kv_lens_.begin(), kv_lens_.end(), int64_t{0});
    problem_.batch = static_cast<int>(batch_);
    problem_.heads = heads_;
    problem_.block_tokens = block_size_;
    problem_.max_blocks = static_cast<int>(max_blocks_);
    problem_.max_kv_len = static_cast<int>(std::max<int64_t>(1, max_len_));
  }

  std::string name() const override {
    return plan::mla_decode_form() == plan::MlaDecodeForm::kWgmma ? "sm90_bf16_wgmma_mla_decode"
                                                                  : "sm90_bf16_mma_mla_decode";
  }

  void prepare(uint64_t seed) override {
    q_.resize(size_t(batch_) * heads_ * kD);
    cache_.resize(size_t(pages_) * block_size_ * kD);
    out_.resize(size_t(batch_) * heads_ * kDv);
    workspace_.resize(mla_decode_workspace_bytes(problem_));
    fill_uniform(q_.get(), q_.size(), seed * 16 + 1, -3.0f, 3.0f);
    fill_uniform(cache_.get(), cache_.size(), seed * 16 + 2, -1.0f, 1.0f);
    lens_dev_.upload(kv_lens_);
    table_dev_.upload(block_table_);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void launch(cudaStream_t stream) override {
    MlaDecodeBuffers b;
    b.q = q_.get();
    b.kv_cache = cache_.get();
    b.block_table = table_dev_.get();
    b.kv_lens = lens_dev_.get();
    b.out = out_.get();
    b.workspace = workspace_.get();
    mla_decode(problem_, b, stream);
  }

  // The reference gathers each sampled sequence's rows through the block table on the host
  // (independently of the kernel's paging) and computes in float64.
  CheckResult check(uint64_t seed) override {
    prepare(seed);
    poison(out_.get(), out_.bytes());
    launch(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    const auto out = bf16_to_double(as_raw<uint16_t>(out_.download()));
    const auto q = bf16_to_double(as_raw<uint16_t>(q_.download()));
    const std::vector<uint16_t> cache = as_raw<uint16_t>(cache_.download());
    const double scale = 1.0 / std::sqrt(192.0);
    std::vector<double> got, expected;
    // Sequences sampled so that the float64 reference stays near 2 GFLOP (2 to 6 of them).
    const double per_seq = double(heads_) * double(std::max<int64_t>(1, max_len_)) * 2 * (kD + kDv);
    const int64_t seqs = std::clamp<int64_t>(static_cast<int64_t>(2e9 / per_seq), 2, 6);
    for (int64_t b : sample_rows(batch_, seqs)) {
      const int64_t len = kv_lens_[b];
      std::vector<double> rows(size_t(len) * kD);
      for (int64_t tok = 0; tok < len; ++tok) {
        const size_t page = block_table_[b * max_blocks_ + tok / block_size_];
        const size_t at = (page * block_size_ + tok % block_size_) * kD;
        for (int e = 0; e < kD; ++e) rows[tok * kD + e] = ref::bf16_to_float(cache[at + e]);
      }
      const auto ref_out = ref::mla_decode_sequence(q.data() + b * heads_ * kD, heads_, rows.data(),
                                                    len, kDv, kD - kDv, scale);
      expected.insert(expected.end(), ref_out.begin(), ref_out.end());
      got.insert(got.end(), out.begin() + b * heads_ * kDv, out.begin() + (b + 1) * heads_ * kDv);
    }
    CheckResult c;
    c.tolerance = tolerance_for("bf16");
    c.all_written = std::none_of(out.begin(), out.end(), [](double x) { return std::isnan(x); });
    c.rel_fro_error = ref::rel_fro_error(got.data(), expected.data(), got.size());
    return c;
  }

  double flops() const override { return 2.0 * double(kv_tokens_) * heads_ * (kD + kDv); }
  // The latent cache read once (however many CTAs share it), the queries and the output.
  double bytes() const override {
    return double(kv_tokens_) * kRowBytes + double(batch_) * heads_ * (kD + kDv) * 2.0;
  }
  size_t device_bytes() const override {
    return q_.bytes() + cache_.bytes() + out_.bytes() + workspace_.bytes() + table_dev_.bytes() +
           lens_dev_.bytes();
  }

 private:
  int64_t batch_ = 0, max_len_ = 0, max_blocks_ = 0, pages_ = 0, kv_tokens_ = 0;
  int heads_ = 0, block_size_ = 0;
  MlaDecodeProblem problem_;
  std::vector<int32_t> kv_lens_, block_table_;
  DeviceArray<bf16> q_, cache_, out_;
  DeviceArray<uint8_t> workspace_;
  DeviceArray<int32_t> table_dev_, lens_dev_;
};

}  // namespace

std::unique_ptr<QuadrantOp> make_mla_decode(const std::string& format, const ShapeParams& shape) {
  if (format == "bf16") return std::make_unique<MlaDecodeOp>(shape);
  throw std::invalid_argument("mla_decode: format must be bf16, got '" + format + "'");
}

}  // namespace quadrant::kernels
