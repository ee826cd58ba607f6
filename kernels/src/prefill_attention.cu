// Prefill attention: causal, GQA, variable-length batch (cumulative offsets), each
// sequence a chunk appended after a prefix already in the KV cache (chunked prefill).
// The op runs the Hopper wgmma kernel (sm90_prefill_attention.cu) wherever it covers
// the shape, and this file's kernel elsewhere (fp8 at head dims 64 and 192/128):
// FlashAttention-2 structure on mma.sync: a CTA of four warps takes 64 query rows of one
// head and walks the KV sequence in 64-key tiles, double-buffered with cp.async, with
// an online softmax in registers. FP8 inputs (E4M3, one scale per 64 tokens of a
// sequence and head, as the source design quantises Q, K and V) are staged as bytes
// and widened to BF16 in shared memory: FP8 there halves the bytes, not the math.
//
// Shape: batch, seq_len (new tokens of the longest sequence), seq_len_min (shortest,
// default seq_len; lengths spread evenly between), prefix_len (tokens already cached
// per sequence, default 0), heads, kv_heads, head_dim (64, 128 or 192), v_head_dim
// (head_dim, or 128 with head_dim 192: MLA). Formats: bf16, fp8.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "kernels/include/quadrant_kernels.h"
#include "kernels/plan/dispatch.h"
#include "kernels/reference/reference.h"
#include "kernels/src/common.cuh"
#include "kernels/src/op_util.h"
#include "kernels/src/sm90_prefill_attention.h"
#include "kernels/src/workspace.h"

namespace quadrant::kernels {
namespace {

constexpr int kTile = 64;  // query rows per CTA and keys per KV tile
constexpr int kThreads = 128;
constexpr int kScaleBlock = plan::kPrefillScaleBlock;  // tokens per FP8 scale

struct PrefillArgs {
  const void* q;
  const void* k;
  const void* v;
  const float* q_scale;  // [scale rows][heads]   (fp8 only)
  const float* k_scale;  // [scale rows][kv_heads]
  const float* v_scale;
  const int32_t* tile_seq;
  const int32_t* tile_q0;
  const int32_t* cu_q;   // [batch + 1]
  const int32_t* cu_k;   // [batch + 1]
  const int32_t* cu_sq;  // [batch + 1] first scale row of each sequence's queries
  const int32_t* cu_sk;  // [batch + 1] and of its keys
  const int32_t* prefix;
  int heads, kv_heads;
  float scale_log2;
  bf16* out;
};

template <class In, int DQK, int DV>
struct PrefillSmem {
  static constexpr int kQBytes = kTile * DQK * 2, kKBytes = kTile * DQK * 2,
                       kVBytes = kTile * DV * 2;
  static constexpr bool kFp8 = std::is_same_v<In, fp8>;
  // fp8 staging: Q, then two stages of K and V bytes.
  static constexpr int kStage8 = kFp8 ? kTile * (DQK + DV) : 0;
  static constexpr int kBytes =
      kQBytes + 2 * (kKBytes + kVBytes) + (kFp8 ? kTile * DQK + 2 * kStage8 : 0);
  static_assert(kBytes == plan::prefill_mma_smem_bytes(kFp8, DQK, DV),
                "the launch plans' layout (kernels/plan/dispatch.h)");
};

// Copy `rows` x `row_elems` elements (row stride `stride` elements) into a tile: bf16
// straight into the swizzled compute tile, fp8 into a plain staging tile.
template <class In>
__device__ __forceinline__ void load_tile(uint8_t* dst, const In* src, int row_elems, size_t stride,
                                          int valid_rows) {
  const int row_bytes = row_elems * int(sizeof(In));
  const int chunks = row_bytes / 16;
  for (int c = threadIdx.x; c < kTile * chunks; c += kThreads) {
    const int r = c / chunks, ch = c % chunks;
    const bool valid = r < valid_rows;
    const uint8_t* g = reinterpret_cast<const uint8_t*>(src + (valid ? r : 0) * stride) + ch * 16;
    uint8_t* s =
        std::is_same_v<In, bf16> ? dst + swz(r, ch, row_bytes) : dst + r * row_bytes + ch * 16;
    cp_async_16(s, g, valid);
  }
}

// Widen a staged fp8 tile into the swizzled bf16 tile, each row times its scale.
__device__ __forceinline__ void widen_tile(uint8_t* dst, const uint8_t* src, int row_elems,
                                           const float* scale, int scale_stride, int first_pos,
                                           int valid_rows) {
  const int chunks = row_elems / 16;  // 16 fp8 in, two 16-byte bf16 chunks out
  for (int c = threadIdx.x; c < kTile * chunks; c += kThreads) {
    const int r = c / chunks, ch = c % chunks;
    const float s = r < valid_rows ? scale[((first_pos + r) / kScaleBlock) * scale_stride] : 0.0f;
    const uint4 raw = *reinterpret_cast<const uint4*>(src + r * row_elems + ch * 16);
    const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
    uint32_t o[8];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(
            static_cast<__nv_fp8x2_storage_t>((w[i] >> (16 * j)) & 0xFFFF), __NV_E4M3);
        const float2 f = __half22float2(*reinterpret_cast<__half2*>(&h));
        o[2 * i + j] = pack_bf16x2(f.x * s, f.y * s);
      }
    *reinterpret_cast<uint4*>(dst + swz(r, 2 * ch, row_elems * 2)) =
        make_uint4(o[0], o[1], o[2], o[3]);
    *reinterpret_cast<uint4*>(dst + swz(r, 2 * ch + 1, row_elems * 2)) =
        make_uint4(o[4], o[5], o[6], o[7]);
  }
}

template <class In, int DQK, int DV>
__global__ void __launch_bounds__(kThreads) prefill_attention_kernel(PrefillArgs p) {
  using S = PrefillSmem<In, DQK, DV>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* sq = smem;
  uint8_t* sk[2] = {sq + S::kQBytes, sq + S::kQBytes + S::kKBytes};
  uint8_t* sv[2] = {sq + S::kQBytes + 2 * S::kKBytes,
                    sq + S::kQBytes + 2 * S::kKBytes + S::kVBytes};
  uint8_t* stage8 = sq + S::kQBytes + 2 * (S::kKBytes + S::kVBytes);  // fp8: Q, then stages

  const int tile = blockIdx.x, h = blockIdx.y;
  const int s = p.tile_seq[tile], q0 = p.tile_q0[tile];
  const int q_len = p.cu_q[s + 1] - p.cu_q[s], pre = p.prefix[s], k_len = pre + q_len;
  const int q_rows = min(kTile, q_len - q0);
  const int kv_end = min(k_len, pre + q0 + kTile);
  const int n_tiles = (kv_end + kTile - 1) / kTile;
  const int kvh = h / (p.heads / p.kv_heads);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const In* qg = static_cast<const In*>(p.q) + (size_t(p.cu_q[s] + q0) * p.heads + h) * DQK;
  const In* kg = static_cast<const In*>(p.k) + (size_t(p.cu_k[s]) * p.kv_heads + kvh) * DQK;
  const In* vg = static_cast<const In*>(p.v) + (size_t(p.cu_k[s]) * p.kv_heads + kvh) * DV;
  const size_t k_stride = size_t(p.kv_heads) * DQK, v_stride = size_t(p.kv_heads) * DV;

  auto load_kv = [&](int j) {
    const int valid = min(kTile, k_len - j * kTile);
    if constexpr (S::kFp8) {
      uint8_t* st = stage8 + kTile * DQK + (j & 1) * S::kStage8;
      load_tile(st, kg + size_t(j) * kTile * k_stride, DQK, k_stride, valid);
      load_tile(st + kTile * DQK, vg + size_t(j) * kTile * v_stride, DV, v_stride, valid);
    } else {
      load_tile(sk[j & 1], kg + size_t(j) * kTile * k_stride, DQK, k_stride, valid);
      load_tile(sv[j & 1], vg + size_t(j) * kTile * v_stride, DV, v_stride, valid);
    }
  };
  load_tile(S::kFp8 ? stage8 : sq, qg, DQK, size_t(p.heads) * DQK, q_rows);
  load_kv(0);
  cp_async_commit();

  uint32_t qf[DQK / 16][4];
  float o[DV / 8][4];
#pragma unroll
  for (int i = 0; i < DV / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0, 0};
  const int row_in_warp = lane / 4, tig = lane % 4;

  for (int j = 0; j < n_tiles; ++j) {
    if (j + 1 < n_tiles) {
      load_kv(j + 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if constexpr (S::kFp8) {
      const uint8_t* st = stage8 + kTile * DQK + (j & 1) * S::kStage8;
      const int valid = min(kTile, k_len - j * kTile);
      if (j == 0)
        widen_tile(sq, stage8, DQK, p.q_scale + size_t(p.cu_sq[s]) * p.heads + h, p.heads, q0,
                   q_rows);
      widen_tile(sk[j & 1], st, DQK, p.k_scale + size_t(p.cu_sk[s]) * p.kv_heads + kvh, p.kv_heads,
                 j * kTile, valid);
      widen_tile(sv[j & 1], st + kTile * DQK, DV, p.v_scale + size_t(p.cu_sk[s]) * p.kv_heads + kvh,
                 p.kv_heads, j * kTile, valid);
      __syncthreads();
    }
    if (j == 0) {
#pragma unroll
      for (int ks = 0; ks < DQK / 16; ++ks) {
        const int r = warp * 16 + (lane % 8) + ((lane / 8) & 1) * 8;
        ldmatrix_x4(qf[ks], sq + swz(r, ks * 2 + lane / 16, DQK * 2));
      }
    }
    // S = Q K^T for this warp's 16 rows and the tile's 64 keys.
    float sc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i) sc[i][0] = sc[i][1] = sc[i][2] = sc[i][3] = 0;
    const uint8_t* kt = sk[j & 1];
#pragma unroll
    for (int ks = 0; ks < DQK / 16; ++ks)
#pragma unroll
      for (int nj = 0; nj < 4; ++nj) {
        uint32_t b[4];
        const int n = nj * 16 + (lane % 8) + (lane / 16) * 8;
        ldmatrix_x4(b, kt + swz(n, ks * 2 + ((lane / 8) & 1), DQK * 2));
        mma_bf16_16816(sc[2 * nj], qf[ks], b[0], b[1]);
        mma_bf16_16816(sc[2 * nj + 1], qf[ks], b[2], b[3]);
      }
    // Causal mask (and keys past the end) only where the tile reaches the diagonal.
    const int q_pos0 = pre + q0 + warp * 16 + row_in_warp;  // absolute position of row g
    const bool needs_mask = (j + 1) * kTile > pre + q0 || (j + 1) * kTile > k_len;
#pragma unroll
    for (int nf = 0; nf < 8; ++nf)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        float x = sc[nf][c] * p.scale_log2;
        if (needs_mask) {
          const int key = j * kTile + nf * 8 + tig * 2 + (c & 1);
          const int qpos = q_pos0 + (c / 2) * 8;
          if (key > qpos || key >= k_len) x = -INFINITY;
        }
        sc[nf][c] = x;
      }
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      float mx = m[hh];
#pragma unroll
      for (int nf = 0; nf < 8; ++nf) mx = fmaxf(mx, fmaxf(sc[nf][2 * hh], sc[nf][2 * hh + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float corr = exp2f(m[hh] - mx);
      m[hh] = mx;
      l[hh] *= corr;
#pragma unroll
      for (int i = 0; i < DV / 8; ++i) {
        o[i][2 * hh] *= corr;
        o[i][2 * hh + 1] *= corr;
      }
#pragma unroll
      for (int nf = 0; nf < 8; ++nf) {
        sc[nf][2 * hh] = exp2f(sc[nf][2 * hh] - mx);
        sc[nf][2 * hh + 1] = exp2f(sc[nf][2 * hh + 1] - mx);
        l[hh] += sc[nf][2 * hh] + sc[nf][2 * hh + 1];
      }
    }
    // O += P V, P taken from the S accumulators as bf16 A fragments.
    const uint8_t* vt = sv[j & 1];
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      const uint32_t a[4] = {pack_bf16x2(sc[2 * ks][0], sc[2 * ks][1]),
                             pack_bf16x2(sc[2 * ks][2], sc[2 * ks][3]),
                             pack_bf16x2(sc[2 * ks + 1][0], sc[2 * ks + 1][1]),
                             pack_bf16x2(sc[2 * ks + 1][2], sc[2 * ks + 1][3])};
#pragma unroll
      for (int nd = 0; nd < DV / 16; ++nd) {
        uint32_t b[4];
        const int key = ks * 16 + (lane % 8) + ((lane / 8) & 1) * 8;
        ldmatrix_x4_trans(b, vt + swz(key, nd * 2 + lane / 16, DV * 2));
        mma_bf16_16816(o[2 * nd], a, b[0], b[1]);
        mma_bf16_16816(o[2 * nd + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    l[hh] += __shfl_xor_sync(0xffffffffu, l[hh], 1);
    l[hh] += __shfl_xor_sync(0xffffffffu, l[hh], 2);
    const int r = warp * 16 + row_in_warp + hh * 8;
    if (r >= q_rows) continue;
    const float inv = 1.0f / l[hh];
    bf16* dst = p.out + (size_t(p.cu_q[s] + q0 + r) * p.heads + h) * DV + tig * 2;
#pragma unroll
    for (int i = 0; i < DV / 8; ++i)
      *reinterpret_cast<uint32_t*>(dst + i * 8) =
          pack_bf16x2(o[i][2 * hh] * inv, o[i][2 * hh + 1] * inv);
  }
}

// ---- the launcher on caller buffers (quadrant_kernels.h) ----
struct PrefillLayout {
  int variant = 0;
  bool fp8 = false, wgmma = false;
  plan::PrefillSchedule schedule;
  // Workspace arrays (nullptr when sizing).
  int32_t *tile_seq = nullptr, *tile_q0 = nullptr, *cu_q = nullptr, *cu_k = nullptr,
          *prefix = nullptr, *cu_sq = nullptr, *cu_sk = nullptr, *cu_kt = nullptr,
          *kt_seq = nullptr, *kt_tile = nullptr;
  uint8_t* vt = nullptr;
  size_t bytes = 0;
};

PrefillLayout prefill_layout(const PrefillAttentionProblem& p, const PrefillAttentionBuffers* b) {
  PrefillLayout l;
  l.fp8 = p.dtype == DType::kE4m3;
  const bool dims_ok = (p.head_dim == 64 && p.v_head_dim == 64) ||
                       (p.head_dim == 128 && p.v_head_dim == 128) ||
                       (p.head_dim == 192 && p.v_head_dim == 128);
  if (!dims_ok)
    throw std::invalid_argument(
        "prefill_attention: (head_dim, v_head_dim) must be (64, 64), (128, 128) or (192, 128)");
  if (p.kv_heads < 1 || p.heads % p.kv_heads != 0)
    throw std::invalid_argument("prefill_attention: heads must be a multiple of kv_heads");
  l.variant = plan::prefill_variant(l.fp8, p.head_dim, p.v_head_dim, p.variant);
  l.wgmma = l.variant != plan::kPrefillMmaVariant;
  l.schedule =
      plan::prefill_schedule(p.q_lens, p.prefix_lens, plan::prefill_tile_rows(l.fp8, l.variant));
  const plan::PrefillSchedule& s = l.schedule;
  Workspace w(b ? b->workspace : nullptr);
  const size_t batch = p.q_lens.size();
  l.tile_seq = w.take<int32_t>(s.tile_seq.size());
  l.tile_q0 = w.take<int32_t>(s.tile_q0.size());
  if (!b || !b->cu_q) l.cu_q = w.take<int32_t>(batch + 1);
  if (!b || !b->cu_k) l.cu_k = w.take<int32_t>(batch + 1);
  if (!b || !b->prefix) l.prefix = w.take<int32_t>(batch);
  if (l.fp8) {
    l.cu_sq = w.take<int32_t>(batch + 1);
    l.cu_sk = w.take<int32_t>(batch + 1);
    if (l.wgmma) {
      l.cu_kt = w.take<int32_t>(batch + 1);
      l.kt_seq = w.take<int32_t>(s.kt_seq.size());
      l.kt_tile = w.take<int32_t>(s.kt_tile.size());
      l.vt = w.take<uint8_t>(size_t(p.kv_heads) * p.v_head_dim * s.cu_kt.back());
    }
  }
  l.bytes = w.bytes();
  return l;
}

void check_prefill_buffers(const PrefillAttentionProblem& p, const PrefillAttentionBuffers& b) {
  const bool fp8 = p.dtype == DType::kE4m3;
  if (!b.q || !b.k || !b.v || !b.out || !b.workspace ||
      (fp8 && (!b.q_scale || !b.k_scale || !b.v_scale)))
    throw std::invalid_argument(
        "prefill_attention: a buffer is missing (E4M3 needs the three scales)");
}

template <class T>
void upload_async(T* dst, const std::vector<T>& src, cudaStream_t stream) {
  if (dst && !src.empty())
    QK_CUDA_CHECK(
        cudaMemcpyAsync(dst, src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice, stream));
}

template <class In, int DQK, int DV>
void launch_prefill_mma(const PrefillLayout& l, const PrefillAttentionProblem& p,
                        const PrefillAttentionBuffers& b, const int32_t* cu_q, const int32_t* cu_k,
                        const int32_t* prefix, float scale_log2, cudaStream_t stream) {
  using S = PrefillSmem<In, DQK, DV>;
  auto kernel = prefill_attention_kernel<In, DQK, DV>;
  opt_in_dynamic_smem(kernel, S::kBytes);
  PrefillArgs a{b.q,
                b.k,
                b.v,
                b.q_scale,
                b.k_scale,
                b.v_scale,
                l.tile_seq,
                l.tile_q0,
                cu_q,
                cu_k,
                l.cu_sq,
                l.cu_sk,
                prefix,
                p.heads,
                p.kv_heads,
                scale_log2,
                static_cast<bf16*>(b.out)};
  kernel<<<dim3(static_cast<unsigned>(l.schedule.tile_seq.size()), p.heads), kThreads, S::kBytes,
           stream>>>(a);
  QK_LAUNCH_CHECK("prefill_attention_kernel");
}

}  // namespace

size_t prefill_attention_workspace_bytes(const PrefillAttentionProblem& problem) {
  return prefill_layout(problem, nullptr).bytes;
}

size_t prefill_attention_workspace_bound(const PrefillAttentionProblem& problem, int64_t max_seqs,
                                         int64_t max_q_tokens, int64_t max_k_tokens) {
  if (max_seqs < 1 || max_q_tokens < max_seqs || max_k_tokens < max_q_tokens)
    throw std::invalid_argument(
        "prefill_attention_workspace_bound: need 1 <= max_seqs <= max_q_tokens <= max_k_tokens");
  // The layout of a worst case: every sequence but one of a single token with no prefix
  // gives the most tiles per token; each count below is bounded the same way.
  PrefillAttentionProblem worst = problem;
  worst.q_lens.assign(max_seqs, 1);
  worst.prefix_lens.assign(max_seqs, 0);
  worst.q_lens[0] = max_q_tokens - (max_seqs - 1);
  worst.prefix_lens[0] = max_k_tokens - max_q_tokens;
  // Tiles: at most max_q_tokens / rows + max_seqs; V^T: at most max_k_tokens + 128 max_seqs
  // columns. The worst case above reaches both bounds up to one tile, so add one of each.
  const size_t slack = 4 * 256 + size_t(problem.kv_heads) * problem.v_head_dim * 128;
  return prefill_layout(worst, nullptr).bytes + slack;
}

void prefill_attention_upload(const PrefillAttentionProblem& problem,
                              const PrefillAttentionBuffers& buffers, cudaStream_t stream) {
  check_prefill_buffers(problem, buffers);
  const PrefillLayout l = prefill_layout(problem, &buffers);
  const plan::PrefillSchedule& s = l.schedule;
  upload_async(l.tile_seq, s.tile_seq, stream);
  upload_async(l.tile_q0, s.tile_q0, stream);
  upload_async(l.cu_q, s.cu_q, stream);
  upload_async(l.cu_k, s.cu_k, stream);
  upload_async(l.prefix, s.prefix, stream);
  upload_async(l.cu_sq, s.cu_sq, stream);
  upload_async(l.cu_sk, s.cu_sk, stream);
  upload_async(l.cu_kt, s.cu_kt, stream);
  upload_async(l.kt_seq, s.kt_seq, stream);
  upload_async(l.kt_tile, s.kt_tile, stream);
}

void prefill_attention_launch(const PrefillAttentionProblem& problem,
                              const PrefillAttentionBuffers& b, cudaStream_t stream) {
  check_prefill_buffers(problem, b);
  const PrefillLayout l = prefill_layout(problem, &b);
  const PrefillAttentionProblem& p = problem;
  const int32_t* cu_q = b.cu_q ? b.cu_q : l.cu_q;
  const int32_t* cu_k = b.cu_k ? b.cu_k : l.cu_k;
  const int32_t* prefix = b.prefix ? b.prefix : l.prefix;
  const double scale =
      p.softmax_scale > 0 ? double(p.softmax_scale) : 1.0 / std::sqrt(double(p.head_dim));
  const float scale_log2 = static_cast<float>(scale * 1.4426950408889634);
  if (l.wgmma) {
    Sm90PrefillProblem pr;
    pr.fp8 = l.fp8;
    pr.head_dim = p.head_dim;
    pr.v_head_dim = p.v_head_dim;
    pr.heads = p.heads;
    pr.kv_heads = p.kv_heads;
    pr.total_q = l.schedule.cu_q.back();
    pr.total_k = l.schedule.cu_k.back();
    pr.q_tiles = static_cast<int>(l.schedule.tile_seq.size());
    pr.q = b.q;
    pr.k = b.k;
    pr.v = b.v;
    pr.vt = l.vt;
    pr.kt_stride = l.schedule.cu_kt.back();
    pr.kt_tiles = static_cast<int>(l.schedule.kt_seq.size());
    pr.variant = l.variant;
    Sm90PrefillArgs& a = pr.args;
    a.tile_seq = l.tile_seq;
    a.tile_q0 = l.tile_q0;
    a.cu_q = cu_q;
    a.cu_k = cu_k;
    a.prefix = prefix;
    a.q_scale = b.q_scale;
    a.k_scale = b.k_scale;
    a.v_scale = b.v_scale;
    a.cu_sq = l.cu_sq;
    a.cu_sk = l.cu_sk;
    a.cu_kt = l.cu_kt;
    a.kt_seq = l.kt_seq;
    a.kt_tile = l.kt_tile;
    a.heads = p.heads;
    a.kv_heads = p.kv_heads;
    a.scale_log2 = scale_log2;
    a.out = static_cast<bf16*>(b.out);
    return sm90_prefill_launch(pr, stream);
  }
  if (l.fp8) {
    if (p.head_dim == 64)
      return launch_prefill_mma<fp8, 64, 64>(l, p, b, cu_q, cu_k, prefix, scale_log2, stream);
    if (p.head_dim == 128)
      return launch_prefill_mma<fp8, 128, 128>(l, p, b, cu_q, cu_k, prefix, scale_log2, stream);
    return launch_prefill_mma<fp8, 192, 128>(l, p, b, cu_q, cu_k, prefix, scale_log2, stream);
  }
  if (p.head_dim == 64)
    return launch_prefill_mma<bf16, 64, 64>(l, p, b, cu_q, cu_k, prefix, scale_log2, stream);
  if (p.head_dim == 128)
    return launch_prefill_mma<bf16, 128, 128>(l, p, b, cu_q, cu_k, prefix, scale_log2, stream);
  return launch_prefill_mma<bf16, 192, 128>(l, p, b, cu_q, cu_k, prefix, scale_log2, stream);
}

void prefill_attention(const PrefillAttentionProblem& problem,
                       const PrefillAttentionBuffers& buffers, cudaStream_t stream) {
  prefill_attention_upload(problem, buffers, stream);
  prefill_attention_launch(problem, buffers, stream);
}

namespace {

template <class In>
class PrefillAttentionOp final : public QuadrantOp {
  static constexpr bool kFp8 = std::is_same_v<In, fp8>;

 public:
  PrefillAttentionOp(std::string format, const ShapeParams& shape) : format_(std::move(format)) {
    const PrefillAttentionShape sh = parse_prefill_attention(shape);
    batch_ = sh.batch;
    heads_ = sh.heads;
    kv_heads_ = sh.kv_heads;
    dqk_ = sh.head_dim;
    dv_ = sh.v_head_dim;
    problem_.dtype = kFp8 ? DType::kE4m3 : DType::kBf16;
    problem_.heads = heads_;
    problem_.kv_heads = kv_heads_;
    problem_.head_dim = dqk_;
    problem_.v_head_dim = dv_;
    // QUADRANT_PREFILL_ATTN_VARIANT (benchmarks only): -1 the mma.sync kernel, 0..10 the
    // wgmma kernel's variants (sm90_prefill_attention.h); unset: the default.
    const char* variant = std::getenv("QUADRANT_PREFILL_ATTN_VARIANT");
    problem_.variant = variant ? std::atoi(variant) : plan::kDefaultVariant;
    problem_.q_lens = sh.q_lens;
    problem_.prefix_lens = sh.prefix_lens;
    variant_ = plan::prefill_variant(kFp8, dqk_, dv_, problem_.variant);
    const plan::PrefillSchedule s = plan::prefill_schedule(problem_.q_lens, problem_.prefix_lens,
                                                           plan::prefill_tile_rows(kFp8, variant_));
    cu_q_ = s.cu_q;
    cu_k_ = s.cu_k;
    cu_sq_ = s.cu_sq;
    cu_sk_ = s.cu_sk;
    causal_pairs_ = s.causal_pairs;
  }

  std::string name() const override {
    return "sm90_" + format_ + plan::prefill_variant_suffix(variant_) + "_prefill_attention";
  }

  void prepare(uint64_t seed) override {
    const size_t tq = cu_q_.back(), tk = cu_k_.back();
    q_.resize(tq * heads_ * dqk_);
    k_.resize(tk * kv_heads_ * dqk_);
    v_.resize(tk * kv_heads_ * dv_);
    out_.resize(tq * heads_ * dv_);
    if constexpr (kFp8) {
      fill_uniform(q_.get(), q_.size(), seed * 16 + 1, 240.0f);
      fill_uniform(k_.get(), k_.size(), seed * 16 + 2, 240.0f);
      fill_uniform(v_.get(), v_.size(), seed * 16 + 3, 240.0f);
      q_scale_.resize(size_t(cu_sq_.back()) * heads_);
      k_scale_.resize(size_t(cu_sk_.back()) * kv_heads_);
      v_scale_.resize(size_t(cu_sk_.back()) * kv_heads_);
      // Real values about [-3, 3) for Q and [-1, 1) for K and V, as in the bf16 op.
      fill_uniform(q_scale_.get(), q_scale_.size(), seed * 16 + 4, 2.0f / 240, 4.0f / 240);
      fill_uniform(k_scale_.get(), k_scale_.size(), seed * 16 + 5, 0.5f / 240, 1.5f / 240);
      fill_uniform(v_scale_.get(), v_scale_.size(), seed * 16 + 6, 0.5f / 240, 1.5f / 240);
    } else {
      fill_uniform(q_.get(), q_.size(), seed * 16 + 1, -3.0f, 3.0f);
      fill_uniform(k_.get(), k_.size(), seed * 16 + 2, -1.0f, 1.0f);
      fill_uniform(v_.get(), v_.size(), seed * 16 + 3, -1.0f, 1.0f);
    }
    workspace_.resize(prefill_attention_workspace_bytes(problem_));
    prefill_attention_upload(problem_, buffers(), nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void launch(cudaStream_t stream) override {
    prefill_attention_launch(problem_, buffers(), stream);
  }

  CheckResult check(uint64_t seed) override {
    prepare(seed);
    poison(out_.get(), out_.bytes());
    launch(nullptr);
    QK_CUDA_CHECK(cudaDeviceSynchronize());
    const auto out = bf16_to_double(as_raw<uint16_t>(out_.download()));
    std::vector<double> q, k, v;
    if constexpr (kFp8) {
      q = e4m3_to_double(as_raw<uint8_t>(q_.download()));
      k = e4m3_to_double(as_raw<uint8_t>(k_.download()));
      v = e4m3_to_double(as_raw<uint8_t>(v_.download()));
      apply_scales(q, q_scale_.download(), cu_q_, cu_sq_, heads_, dqk_);
      apply_scales(k, k_scale_.download(), cu_k_, cu_sk_, kv_heads_, dqk_);
      apply_scales(v, v_scale_.download(), cu_k_, cu_sk_, kv_heads_, dv_);
    } else {
      q = bf16_to_double(as_raw<uint16_t>(q_.download()));
      k = bf16_to_double(as_raw<uint16_t>(k_.download()));
      v = bf16_to_double(as_raw<uint16_t>(v_.download()));
    }
    ref::PrefillAttentionProblem pr;
    pr.q_lens = problem_.q_lens;
    pr.prefix_lens = problem_.prefix_lens;
    pr.heads = heads_;
    pr.kv_heads = kv_heads_;
    pr.head_dim = dqk_;
    pr.v_head_dim = dv_;
    pr.scale = 1.0 / std::sqrt(double(dqk_));
    pr.q = q.data();
    pr.k = k.data();
    pr.v = v.data();
    // Sample rows: the first and last tokens of every sequence and an even spread.
    std::vector<int64_t> tokens = sample_rows(cu_q_.back(), 48);
    for (int64_t b = 0; b < batch_ && b < 16; ++b) {
      tokens.push_back(cu_q_[b]);
      tokens.push_back(cu_q_[b + 1] - 1);
    }
    const auto expected = ref::prefill_attention(pr, tokens);
    std::vector<double> got;
    const size_t row = size_t(heads_) * dv_;
    for (int64_t t : tokens)
      got.insert(got.end(), out.begin() + t * row, out.begin() + (t + 1) * row);
    CheckResult c;
    c.tolerance = tolerance_for(format_);
    c.all_written = std::none_of(out.begin(), out.end(), [](double x) { return std::isnan(x); });
    c.rel_fro_error = ref::rel_fro_error(got.data(), expected.data(), got.size());
    return c;
  }

  double flops() const override { return 2.0 * double(causal_pairs_) * heads_ * (dqk_ + dv_); }
  double bytes() const override {
    const double e = sizeof(In);
    return double(cu_q_.back()) * heads_ * dqk_ * e +
           double(cu_k_.back()) * kv_heads_ * (dqk_ + dv_) * e +
           double(cu_q_.back()) * heads_ * dv_ * 2.0;
  }
  size_t device_bytes() const override {
    return q_.bytes() + k_.bytes() + v_.bytes() + out_.bytes() + workspace_.bytes();
  }

 private:
  static void apply_scales(std::vector<double>& x, const std::vector<float>& scale,
                           const std::vector<int32_t>& cu, const std::vector<int32_t>& cu_s,
                           int heads, int dim) {
    for (size_t b = 0; b + 1 < cu.size(); ++b)
      for (int32_t t = cu[b]; t < cu[b + 1]; ++t)
        for (int h = 0; h < heads; ++h) {
          const double s = scale[size_t(cu_s[b] + (t - cu[b]) / kScaleBlock) * heads + h];
          for (int d = 0; d < dim; ++d) x[(size_t(t) * heads + h) * dim + d] *= s;
        }
  }

  PrefillAttentionBuffers buffers() const {
    PrefillAttentionBuffers b;
    b.q = q_.get();
    b.k = k_.get();
    b.v = v_.get();
    b.q_scale = q_scale_.get();
    b.k_scale = k_scale_.get();
    b.v_scale = v_scale_.get();
    b.out = out_.get();
    b.workspace = workspace_.get();
    return b;
  }

  std::string format_;
  int64_t batch_ = 0, causal_pairs_ = 0;
  int heads_ = 0, kv_heads_ = 0, dqk_ = 0, dv_ = 0, variant_ = 0;
  PrefillAttentionProblem problem_;
  std::vector<int32_t> cu_q_, cu_k_, cu_sq_, cu_sk_;
  DeviceArray<In> q_, k_, v_;
  DeviceArray<bf16> out_;
  DeviceArray<float> q_scale_, k_scale_, v_scale_;
  DeviceArray<uint8_t> workspace_;
};

}  // namespace

std::unique_ptr<QuadrantOp> make_prefill_attention(const std::string& format,
                                                   const ShapeParams& shape) {
  if (format == "bf16") return std::make_unique<PrefillAttentionOp<bf16>>(format, shape);
  if (format == "fp8") return std::make_unique<PrefillAttentionOp<fp8>>(format, shape);
  throw std::invalid_argument("prefill_attention: format must be bf16 or fp8, got '" + format +
                              "'");
}

}  // namespace quadrant::kernels
