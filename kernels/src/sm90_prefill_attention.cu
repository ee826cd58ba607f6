// Prefill attention on Hopper's own path (FlashAttention-3 structure): warp-specialised
// CTAs. A producer warpgroup loads the Q tile once and K/V tiles of 128 keys with the
// bulk tensor copy engine (TMA, 128-byte swizzle) into a ring of 3 stages (2 for MLA)
// guarded by full/empty mbarriers; consumer warpgroups each own 64 query rows and run
// S = Q K^T with wgmma (both operands from shared memory), the online softmax in
// registers, and O += P V with wgmma (P from registers as the A operand). The producer
// gives up its registers (setmaxnreg).
//
// Consumer loop variants (Sm90PrefillProblem::variant; PERF.md run 4 times them all):
// 0 serial; 1 S of tile j+1 issued with P.V of tile j (FA3's intra-warpgroup overlap);
// 2 = 1 with the two consumer warpgroups in ping-pong (named barriers; BF16 default);
// 3 = 2 with a quarter of ex2 on the FMA pipes; 7 serial without the wait for P.V; 4, 5, 6
// = 0, 1, 7 with three consumer warpgroups (192 query rows per CTA, 128 registers; FP8
// only; 4 is the FP8 default); 8, 9 = 4 with a quarter / half of ex2 by a cubic on the FMA
// pipes (FP8 only: its MUFU time per tile equals its tensor time, issue 15); 10 = 4 with the
// three warpgroups' softmax in turns.
//
// BF16: head dims (64, 64), (128, 128) and (192, 128) (MLA); V is read as the
// transposed (MN-major) B operand. FP8 (E4M3 Q/K/V, one scale per 64 tokens of a
// sequence and head): head dim (128, 128). FP8 wgmma takes only K-major operands, so V
// is first written transposed ([kv head][d][token], each sequence padded to 128 tokens)
// by a small kernel of the same step; within each 32 tokens its columns are permuted so
// that the FP8 P fragment can be taken from the S accumulators without shuffles.
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/plan/dispatch.h"
#include "kernels/src/common.cuh"
#include "kernels/src/sm90_prefill_attention.h"
#include "kernels/src/sm90_primitives.cuh"

namespace quadrant::kernels {
namespace {

using namespace sm90;

constexpr int kBN = 128;         // keys per K/V tile
constexpr int kBox = 128 * 128;  // one TMA box: 128 rows of 128 bytes (a swizzle span)

__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ uint32_t pack_e4m3x4(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}
// 2^x for x <= 0 on the FMA pipes (no MUFU, no conversion unit): x = j + f with j the
// nearest integer (magic-number rounding), f in [-1/2, 1/2]; 2^f by a quartic (relative
// error < 5e-5, under the rounding of P to BF16 or E4M3), 2^j added into the exponent.
__device__ __forceinline__ float ex2_poly(float x) {
  x = fmaxf(x, -125.0f);
  const float t = x + 12582912.0f;  // 1.5 * 2^23: the low bits hold round(x)
  const float f = x - (t - 12582912.0f);
  const float p =
      fmaf(fmaf(fmaf(fmaf(0.0096181291f, f, 0.0555041087f), f, 0.2402265070f), f, 0.6931471806f), f,
           1.0f);
  return __int_as_float(__float_as_int(p) + ((__float_as_int(t) - 0x4B400000) << 23));
}
// The same with a cubic (relative error < 7.5e-5, Remez on [-1/2, 1/2]): for FP8, whose P is
// rounded to E4M3 (3 mantissa bits). t's bits are 0x4B400000 + round(x), so t << 23 is the
// exponent's increment.
__device__ __forceinline__ float ex2_poly3(float x) {
  x = fmaxf(x, -125.0f);
  const float t = x + 12582912.0f;
  const float f = x - (t - 12582912.0f);
  const float p =
      fmaf(fmaf(fmaf(0.0551716691f, f, 0.242611122f), f, 0.693260985f), f, 0.999928074f);
  return __int_as_float(__float_as_int(p) + (__float_as_int(t) << 23));
}

// kCons consumer warpgroups of 64 query rows each, one producer warpgroup.
template <bool kFp8, int DQK, int DV, int kCons>
struct Sm90Layout {
  static constexpr int kThreads = 128 * (1 + kCons);
  static constexpr int kQRows = 64 * kCons;                   // query rows per CTA
  static constexpr int kQBoxes = DQK * (kFp8 ? 1 : 2) / 128;  // 128-byte column boxes
  static constexpr int kQBox = kQRows * 128;
  static constexpr int kVBoxes = kFp8 ? 1 : DV / 64;
  static constexpr int kQBytes = kQBoxes * kQBox;
  static constexpr int kKBytes = kQBoxes * kBox;
  // bf16: V as loaded, [key][d] in 64-column boxes; fp8: V^T, DV rows of 128 keys.
  static constexpr int kVBytes = kFp8 ? DV * 128 : kVBoxes * kBox;
  // Three K/V stages where shared memory allows (all but MLA), else two.
  static constexpr int kStages =
      kQBytes + 3 * (kKBytes + kVBytes) + 128 + 1024 <= 227 * 1024 ? 3 : 2;
  static constexpr int kK0 = kQBytes;
  static constexpr int kV0 = kK0 + kStages * kKBytes;
  static constexpr int kBar = kV0 + kStages * kVBytes;
  static constexpr int kSmem = kBar + 128 + 1024;  // 13 mbarriers, alignment slack
  static_assert(kSmem <= 227 * 1024, "shared memory");
  static_assert(kSmem == plan::prefill_wgmma_smem_bytes(kFp8, DQK, DV, kCons),
                "the launch plans' layout (kernels/plan/dispatch.h)");
};

// fp8 P.V: the P fragment of a 32-key step takes keys {2t, 2t+1, 8+2t, 9+2t} (+16) of
// thread t's S accumulators as its logical keys 4t..4t+3 (+16); V^T stores logical key l
// in the column of token perm32(l).
__host__ __device__ constexpr int perm32(int l) {
  return (l / 16) * 16 + 2 * ((l % 16) / 4) + (l % 2) + ((l % 4) / 2) * 8;
}

template <bool kFp8, int DQK, int DV, int kMode, int kCons>
__global__ void __launch_bounds__(128 * (1 + kCons), 1)
    sm90_prefill_attention_kernel(const __grid_constant__ CUtensorMap tm_q,
                                  const __grid_constant__ CUtensorMap tm_k,
                                  const __grid_constant__ CUtensorMap tm_v,
                                  const Sm90PrefillArgs p) {
  using L = Sm90Layout<kFp8, DQK, DV, kCons>;
  static_assert(kCons == 2 || (kCons == 3 && kFp8 && (kMode <= 1 || kMode >= 4)),
                "3 consumers: fp8, no ping-pong");
  // Modes 5 and 6: the serial loop with a quarter / half of ex2 by ex2_poly3; 8: with the
  // softmax in turns.
  static_assert(kMode <= 4 || (kFp8 && kCons == 3), "modes 5, 6, 8: fp8 with 3 consumers");
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  uint8_t* sq = smem;
  uint64_t* bar = reinterpret_cast<uint64_t*>(smem + L::kBar);
  uint64_t* q_full = bar;
  uint64_t* k_full = bar + 1;                    // [L::kStages]
  uint64_t* v_full = bar + 1 + L::kStages;       // [L::kStages]
  uint64_t* k_empty = bar + 1 + 2 * L::kStages;  // [L::kStages]
  uint64_t* v_empty = bar + 1 + 3 * L::kStages;  // [L::kStages]

  const int h = blockIdx.x, tile = blockIdx.y;
  const int s = p.tile_seq[tile], q0 = p.tile_q0[tile];
  const int q_len = p.cu_q[s + 1] - p.cu_q[s], pre = p.prefix[s], k_len = pre + q_len;
  const int kv_end = min(k_len, pre + q0 + L::kQRows);
  const int n_tiles = (kv_end + kBN - 1) / kBN;
  const int kvh = h / (p.heads / p.kv_heads);
  const int wg = threadIdx.x / 128;

  if (threadIdx.x == 0) {
    mbar_init(q_full, 1);
    for (int i = 0; i < L::kStages; ++i) {
      mbar_init(k_full + i, 1);
      mbar_init(v_full + i, 1);
      mbar_init(k_empty + i, 4 * kCons);  // one arrival per consumer warp
      mbar_init(v_empty + i, 4 * kCons);
    }
    mbar_fence_init();
  }
  __syncthreads();

  if (wg == 0) {
    // Producer: one thread issues every copy; the tiles go from the diagonal down.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n");
    if (threadIdx.x == 0) {
      mbar_expect_tx(q_full, L::kQBytes);
      for (int b = 0; b < L::kQBoxes; ++b)
        tma_load_2d(sq + b * L::kQBox, &tm_q, q_full, h * DQK + b * (kFp8 ? 128 : 64),
                    p.cu_q[s] + q0);
      for (int it = 0; it < n_tiles; ++it) {
        const int j = n_tiles - 1 - it, st = it % L::kStages;
        uint8_t* sk = smem + L::kK0 + st * L::kKBytes;
        uint8_t* sv = smem + L::kV0 + st * L::kVBytes;
        if (it >= L::kStages) mbar_wait(k_empty + st, ((it / L::kStages) - 1) & 1);
        mbar_expect_tx(k_full + st, L::kKBytes);
        for (int b = 0; b < L::kQBoxes; ++b)
          tma_load_2d(sk + b * kBox, &tm_k, k_full + st, kvh * DQK + b * (kFp8 ? 128 : 64),
                      p.cu_k[s] + j * kBN);
        if (it >= L::kStages) mbar_wait(v_empty + st, ((it / L::kStages) - 1) & 1);
        mbar_expect_tx(v_full + st, L::kVBytes);
        if constexpr (kFp8) {
          tma_load_2d(sv, &tm_v, v_full + st, p.cu_kt[s] + j * kBN, kvh * DV);
        } else {
          for (int b = 0; b < L::kVBoxes; ++b)
            tma_load_2d(sv + b * kBox, &tm_v, v_full + st, kvh * DV + b * 64, p.cu_k[s] + j * kBN);
        }
      }
    }
    return;
  }
  // The producer keeps 24 registers; the consumers share the rest (a multiple of 8).
  if constexpr (kCons == 2)
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n");
  else
    asm volatile("setmaxnreg.inc.sync.aligned.u32 160;\n");

  const int cw = wg - 1;  // consumer warpgroup: query rows 64 cw .. 64 cw + 63 of the tile
  const int tid = threadIdx.x % 128, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;
  const int row0 = cw * 64 + warp * 16 + g;  // tile row of accumulators c = 0, 1 (+8: c = 2, 3)
  const int qpos0 = pre + q0 + row0;         // its absolute position in the sequence
  const int wg_qmin = pre + q0 + cw * 64;

  float o[DV / 2];
#pragma unroll
  for (int i = 0; i < DV / 2; ++i) o[i] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  // fp8 scales: this warpgroup's 64 query rows are one Q scale block.
  float qk_scale = p.scale_log2, v_norm = 1.0f, v_inv = 1.0f;
  int nk_blocks = 1;
  const float* ks = nullptr;
  const float* vs = nullptr;
  if constexpr (kFp8) {
    const int nq_blocks = p.cu_sq[s + 1] - p.cu_sq[s];
    nk_blocks = p.cu_sk[s + 1] - p.cu_sk[s];
    const int qb = min((q0 + cw * 64) / 64, nq_blocks - 1);
    qk_scale *= p.q_scale[size_t(p.cu_sq[s] + qb) * p.heads + h];
    ks = p.k_scale + size_t(p.cu_sk[s]) * p.kv_heads + kvh;
    vs = p.v_scale + size_t(p.cu_sk[s]) * p.kv_heads + kvh;
    // P is stored as E4M3 of p * 256 * v_scale(block) / v_max: in [0, 256], no underflow
    // for the largest terms, and one accumulator for every V scale block.
    float vmax = 0.0f;
    for (int b = lane; b < nk_blocks; b += 32) vmax = fmaxf(vmax, vs[size_t(b) * p.kv_heads]);
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
      vmax = fmaxf(vmax, __shfl_xor_sync(0xffffffffu, vmax, off));
    v_norm = fmaxf(vmax, 1e-30f);
    v_inv = 256.0f / v_norm;
  }

  const uint32_t sq_addr = smem_u32(sq) + cw * 64 * 128;

  constexpr int kSteps = DQK * (kFp8 ? 1 : 2) / 32;  // 32 bytes of the K dim per wgmma
  constexpr int kPSteps = kFp8 ? 4 : 8;              // wgmma K steps over the 128 keys of P
  // S = Q K_j^T into sc (asynchronous: the caller commits and waits).
  // Descriptors are built once; a step adds its byte offset / 16 to the address field
  // (the tiles lie below 256 KB, so the 14-bit field never carries).
  const uint64_t dq0 = smem_desc(sq_addr, 16, 1024);
  const uint64_t dk0 = smem_desc(smem_u32(smem + L::kK0), 16, 1024);
  const uint64_t dv0 = smem_desc(smem_u32(smem + L::kV0), kFp8 ? 16 : kBox, 1024);
  auto issue_qk = [&](float* sc, int st) {
    const uint64_t dk = dk0 + uint32_t(st * (L::kKBytes >> 4));
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk) {
      const uint64_t da = dq0 + uint32_t(((kk / 4) * L::kQBox + (kk % 4) * 32) >> 4);
      const uint64_t db = dk + uint32_t(((kk / 4) * kBox + (kk % 4) * 32) >> 4);
      if constexpr (kFp8)
        wgmma_ss<128, E4m3>(sc, da, db, kk > 0);
      else
        wgmma_ss<128, Bf16>(sc, da, db, kk > 0);
    }
    wgmma_commit();
  };
  // O += P V_j (asynchronous).
  auto issue_pv = [&](const uint32_t(*pa)[4], int st) {
    const uint64_t dv = dv0 + uint32_t(st * (L::kVBytes >> 4));
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kPSteps; ++kk) {
      if constexpr (kFp8) {
        static_assert(DV == 128, "fp8: v_head_dim 128 only");
        wgmma_rs<128, E4m3>(o, pa[kk], dv + uint32_t(kk * 32 / 16));
      } else if constexpr (DV == 128) {
        wgmma_rs<128, Bf16>(o, pa[kk], dv + uint32_t(kk * 16 * 128 / 16));
      } else {
        wgmma_rs<64, Bf16>(o, pa[kk], dv + uint32_t(kk * 16 * 128 / 16));
      }
    }
    wgmma_commit();
  };
  // Online softmax over the tile: sc (raw Q K^T) becomes P, corr the factor the running
  // O must take. One FFMA and one ex2 per score: the softmax scale (fp8: times the K
  // block's scale) multiplies inside the exponent, and fp8's P scale (lp = log2 of
  // 256 v_scale / v_norm per 64 keys) adds to it, so that P comes out ready to pack.
  auto softmax = [&](float* sc, int j, float* corr) {
    const int key0 = j * kBN;
    float cs[2] = {qk_scale, qk_scale}, lp[2] = {0.0f, 0.0f};
    if constexpr (kFp8) {
#pragma unroll
      for (int b = 0; b < 2; ++b) {
        const size_t blk = size_t(min(2 * j + b, nk_blocks - 1)) * p.kv_heads;
        cs[b] = qk_scale * ks[blk];
        lp[b] = __log2f(vs[blk] * v_inv);
      }
    }
    if (key0 + kBN - 1 > wg_qmin || key0 + kBN > k_len) {
#pragma unroll
      for (int i = 0; i < 64; ++i) {
        const int key = key0 + (i / 4) * 8 + 2 * t + (i % 2);
        const int qpos = qpos0 + ((i / 2) % 2) * 8;
        if (key > qpos || key >= k_len) sc[i] = -INFINITY;
      }
    }
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      float mb[2] = {-INFINITY, -INFINITY};  // raw maxima of the two 64-key halves
#pragma unroll
      for (int i = 0; i < 16; ++i)
        mb[i / 8] = fmaxf(mb[i / 8], fmaxf(sc[4 * i + 2 * hh], sc[4 * i + 2 * hh + 1]));
      float mx =
          fmaxf(m[hh], kFp8 ? fmaxf(mb[0] * cs[0], mb[1] * cs[1]) : fmaxf(mb[0], mb[1]) * cs[0]);
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float base = mx == -INFINITY ? 0.0f : mx;  // a row with no key yet
      corr[hh] = ex2(m[hh] - base);
      m[hh] = mx;
      float sum[2] = {0.0f, 0.0f};
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        const int b = kFp8 ? i / 8 : 0;
        const float add = lp[b] - base;
        const float x0 = fmaf(sc[4 * i + 2 * hh], cs[b], add);
        const float x1 = fmaf(sc[4 * i + 2 * hh + 1], cs[b], add);
        // kMode 3 and 5: every other pair's second on the FMA pipes, to relieve the MUFU
        // unit; 6: every pair's second.
        sc[4 * i + 2 * hh] = ex2(x0);
        sc[4 * i + 2 * hh + 1] = (kMode == 3 && i % 2 == 1)                   ? ex2_poly(x1)
                                 : ((kMode == 5 && i % 2 == 1) || kMode == 6) ? ex2_poly3(x1)
                                                                              : ex2(x1);
        sum[i / 8] += sc[4 * i + 2 * hh] + sc[4 * i + 2 * hh + 1];
      }
      // l counts P unscaled: fp8's P carries 2^lp per half.
      l[hh] =
          l[hh] * corr[hh] + (kFp8 ? sum[0] * ex2(-lp[0]) + sum[1] * ex2(-lp[1]) : sum[0] + sum[1]);
    }
  };
  // Skipped when no row of the warp has a new maximum (most tiles after the first few).
  auto rescale_o = [&](const float* corr) {
    if (!__any_sync(0xffffffffu, corr[0] != 1.0f || corr[1] != 1.0f)) return;
#pragma unroll
    for (int i = 0; i < DV / 8; ++i) {
      o[4 * i] *= corr[0];
      o[4 * i + 1] *= corr[0];
      o[4 * i + 2] *= corr[1];
      o[4 * i + 3] *= corr[1];
    }
  };
  // P as the A fragments of P.V: bf16 pairs, or fp8 quadruples (see perm32).
  auto to_p = [&](const float* sc, uint32_t(*pa)[4]) {
    if constexpr (kFp8) {
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const float* c = sc + 16 * kk;  // n8 chunks 4kk .. 4kk + 3
        pa[kk][0] = pack_e4m3x4(c[0], c[1], c[4], c[5]);
        pa[kk][1] = pack_e4m3x4(c[2], c[3], c[6], c[7]);
        pa[kk][2] = pack_e4m3x4(c[8], c[9], c[12], c[13]);
        pa[kk][3] = pack_e4m3x4(c[10], c[11], c[14], c[15]);
      }
    } else {
#pragma unroll
      for (int kk = 0; kk < 8; ++kk) {
        const float* c = sc + 8 * kk;  // n8 chunks 2kk, 2kk + 1
        pa[kk][0] = pack_bf16x2(c[0], c[1]);
        pa[kk][1] = pack_bf16x2(c[2], c[3]);
        pa[kk][2] = pack_bf16x2(c[4], c[5]);
        pa[kk][3] = pack_bf16x2(c[6], c[7]);
      }
    }
  };
  auto release = [&](uint64_t* b) {
    __syncwarp();
    if (lane == 0) mbar_arrive(b);
  };

  mbar_wait(q_full, 0);
  float sc[64], corr[2];
  uint32_t pa[kPSteps][4];
  if constexpr (kMode == 0 || kMode == 5 || kMode == 6 || kMode == 8) {
    // kMode 8: the three warpgroups take the softmax in turns (named barriers 1-3: warpgroup
    // cw waits on 1 + cw, then hands the turn to the next), so that one's exponentials run
    // while the other two's GEMMs do, where the plain serial loop lets the three fall into
    // step and the tensor cores idle through their common softmax (ncu: tensor 45%, issue
    // 50%). Every warpgroup has the CTA's n_tiles tiles; the first turn is warpgroup 0's, and
    // the last warpgroup's last hand-over is not made (no turn is left to take).
    for (int it = 0; it < n_tiles; ++it) {
      const int j = n_tiles - 1 - it, st = it % L::kStages;
      const uint32_t parity = (it / L::kStages) & 1;
      mbar_wait(k_full + st, parity);
      issue_qk(sc, st);
      wgmma_wait<0>();
      fence_regs<64>(sc);
      release(k_empty + st);
      if constexpr (kMode == 8)
        if (it > 0 || cw > 0) asm volatile("bar.sync %0, 256;\n" ::"r"(1 + cw) : "memory");
      softmax(sc, j, corr);
      if constexpr (kMode == 8)
        if (!(cw == kCons - 1 && it == n_tiles - 1))
          asm volatile("bar.arrive %0, 256;\n" ::"r"(1 + (cw + 1) % kCons) : "memory");
      rescale_o(corr);
      to_p(sc, pa);
      mbar_wait(v_full + st, parity);
      issue_pv(pa, st);
      wgmma_wait<0>();
      fence_regs<DV / 2>(o);
      release(v_empty + st);
    }
  } else if constexpr (kMode == 4) {
    // Serial, but P.V is not waited for: the next tile's S queues behind it on the tensor
    // cores and one wait covers both (P and O are free again after it, so no register is
    // live longer than in the serial loop).
    int prev = 0;
    for (int it = 0; it < n_tiles; ++it) {
      const int j = n_tiles - 1 - it, st = it % L::kStages;
      const uint32_t parity = (it / L::kStages) & 1;
      mbar_wait(k_full + st, parity);
      issue_qk(sc, st);
      wgmma_wait<0>();
      fence_regs<64>(sc);
      fence_regs<DV / 2>(o);
      release(k_empty + st);
      if (it > 0) release(v_empty + prev);
      softmax(sc, j, corr);
      rescale_o(corr);
      to_p(sc, pa);
      mbar_wait(v_full + st, parity);
      issue_pv(pa, st);
      prev = st;
    }
    wgmma_wait<0>();
    fence_regs<DV / 2>(o);
    release(v_empty + prev);
  } else {
    // FlashAttention-3's intra-warpgroup overlap: S of tile it and P.V of tile it - 1 are
    // issued together, and the softmax of tile it runs while P.V is on the tensor cores.
    // kMode 2, FA3's ping-pong: the two consumer warpgroups take turns to issue their
    // tensor-core work (named barriers 1 and 2), so that one's softmax runs while the
    // other's products do.
    constexpr bool kPingPong = kMode >= 2 && kCons == 2;
    const int sections = n_tiles + 1;  // issue sections of each warpgroup
    int section = 0;
    auto turn_begin = [&] {
      if constexpr (kPingPong) asm volatile("bar.sync %0, 256;\n" ::"r"(1 + cw) : "memory");
    };
    auto turn_end = [&] {
      // The second warpgroup's last turn hands nothing on (no turn is left to take).
      if constexpr (kPingPong)
        if (!(cw == 1 && section == sections - 1))
          asm volatile("bar.arrive %0, 256;\n" ::"r"(2 - cw) : "memory");
      ++section;
    };
    if constexpr (kPingPong)
      if (cw == 1) asm volatile("bar.arrive 1, 256;\n" ::: "memory");  // the first turn
    mbar_wait(k_full, 0);
    turn_begin();
    issue_qk(sc, 0);
    turn_end();
    wgmma_wait<0>();
    fence_regs<64>(sc);
    release(k_empty);
    softmax(sc, n_tiles - 1, corr);
    to_p(sc, pa);
    for (int it = 1; it < n_tiles; ++it) {
      const int j = n_tiles - 1 - it, st = it % L::kStages, prev = (it - 1) % L::kStages;
      mbar_wait(k_full + st, (it / L::kStages) & 1);
      mbar_wait(v_full + prev, ((it - 1) / L::kStages) & 1);
      turn_begin();
      issue_qk(sc, st);
      issue_pv(pa, prev);
      turn_end();
      wgmma_wait<1>();  // S done; P.V may still run
      fence_regs<64>(sc);
      release(k_empty + st);
      softmax(sc, j, corr);
      wgmma_wait<0>();
      fence_regs<DV / 2>(o);
      release(v_empty + prev);
      rescale_o(corr);
      to_p(sc, pa);
    }
    const int last = (n_tiles - 1) % L::kStages;
    mbar_wait(v_full + last, ((n_tiles - 1) / L::kStages) & 1);
    turn_begin();
    issue_pv(pa, last);
    turn_end();
    wgmma_wait<0>();
    fence_regs<DV / 2>(o);
    release(v_empty + last);
  }

  const float out_scale = kFp8 ? v_norm / 256.0f : 1.0f;
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    float sum = l[hh];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int r = row0 + hh * 8;
    if (q0 + r >= q_len) continue;
    const float inv = out_scale / sum;
    bf16* dst = p.out + (size_t(p.cu_q[s] + q0 + r) * p.heads + h) * DV + 2 * t;
#pragma unroll
    for (int i = 0; i < DV / 8; ++i)
      *reinterpret_cast<uint32_t*>(dst + 8 * i) =
          pack_bf16x2(o[4 * i + 2 * hh] * inv, o[4 * i + 2 * hh + 1] * inv);
  }
}

// V [token][kv head][DV] (E4M3) -> V^T [kv head][DV][padded token], tokens permuted within
// each 32 (perm32) and each sequence padded to a multiple of 128 with zeros.
template <int DV>
__global__ void __launch_bounds__(256)
    transpose_v_kernel(const uint8_t* v, uint8_t* vt, const int32_t* kt_seq, const int32_t* kt_tile,
                       const int32_t* cu_k, const int32_t* cu_kt, int kv_heads, int64_t kt_stride) {
  __shared__ uint8_t tile[kBN][DV + 16];
  const int s = kt_seq[blockIdx.x], j = kt_tile[blockIdx.x], kvh = blockIdx.y;
  const int k_len = cu_k[s + 1] - cu_k[s];
  const int rows = min(kBN, k_len - j * kBN);
  constexpr int kChunks = DV / 16;
  for (int c = threadIdx.x; c < kBN * kChunks; c += blockDim.x) {
    const int r = c / kChunks, ch = c % kChunks;
    uint4 x = make_uint4(0, 0, 0, 0);
    if (r < rows)
      x = *reinterpret_cast<const uint4*>(
          v + (size_t(cu_k[s] + j * kBN + r) * kv_heads + kvh) * DV + ch * 16);
    *reinterpret_cast<uint4*>(&tile[r][ch * 16]) = x;
  }
  __syncthreads();
  // Each thread writes 4 consecutive (logical) tokens of one d row.
  for (int c = threadIdx.x; c < DV * (kBN / 4); c += blockDim.x) {
    const int d = c / (kBN / 4), l0 = (c % (kBN / 4)) * 4;
    uint32_t w = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int l = l0 + i;
      w |= uint32_t(tile[(l / 32) * 32 + perm32(l % 32)][d]) << (8 * i);
    }
    *reinterpret_cast<uint32_t*>(vt + (size_t(kvh) * DV + d) * kt_stride + cu_kt[s] + j * kBN +
                                 l0) = w;
  }
}

template <bool kFp8, int DQK, int DV, int kCons>
void launch_kernel(const Sm90PrefillProblem& pr, cudaStream_t stream) {
  using L = Sm90Layout<kFp8, DQK, DV, kCons>;
  const int e = kFp8 ? 1 : 2, box_cols = 128 / e;
  const CUtensorMap tq = sm90::tensor_map_2d(pr.q, kFp8, uint64_t(pr.heads) * DQK, pr.total_q,
                                             uint64_t(pr.heads) * DQK * e, box_cols, L::kQRows);
  const CUtensorMap tk = sm90::tensor_map_2d(pr.k, kFp8, uint64_t(pr.kv_heads) * DQK, pr.total_k,
                                             uint64_t(pr.kv_heads) * DQK * e, box_cols, kBN);
  CUtensorMap tv;
  if constexpr (kFp8) {
    transpose_v_kernel<DV><<<dim3(pr.kt_tiles, pr.kv_heads), 256, 0, stream>>>(
        static_cast<const uint8_t*>(pr.v), static_cast<uint8_t*>(pr.vt), pr.args.kt_seq,
        pr.args.kt_tile, pr.args.cu_k, pr.args.cu_kt, pr.kv_heads, pr.kt_stride);
    QK_LAUNCH_CHECK("transpose_v_kernel");
    tv = sm90::tensor_map_2d(pr.vt, true, pr.kt_stride, uint64_t(pr.kv_heads) * DV, pr.kt_stride,
                             kBN, DV);
  } else {
    tv = sm90::tensor_map_2d(pr.v, false, uint64_t(pr.kv_heads) * DV, pr.total_k,
                             uint64_t(pr.kv_heads) * DV * 2, 64, kBN);
  }
  using Kernel = void (*)(CUtensorMap, CUtensorMap, CUtensorMap, Sm90PrefillArgs);
  Kernel kernel = nullptr;
  // The variant's loop mode (plan::prefill_mode, which the launch plans name too).
  if constexpr (kCons == 3) {
    const Kernel kernels[9] = {sm90_prefill_attention_kernel<kFp8, DQK, DV, 0, 3>,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 1, 3>,
                               nullptr,
                               nullptr,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 4, 3>,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 5, 3>,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 6, 3>,
                               nullptr,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 8, 3>};
    kernel = kernels[plan::prefill_mode(pr.variant)];
  } else {
    const Kernel kernels[5] = {sm90_prefill_attention_kernel<kFp8, DQK, DV, 0, 2>,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 1, 2>,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 2, 2>,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 3, 2>,
                               sm90_prefill_attention_kernel<kFp8, DQK, DV, 4, 2>};
    kernel = kernels[plan::prefill_mode(pr.variant)];
  }
  opt_in_dynamic_smem(kernel, L::kSmem);  // once per (variant's kernel, device)
  kernel<<<dim3(pr.heads, pr.q_tiles), L::kThreads, L::kSmem, stream>>>(tq, tk, tv, pr.args);
  QK_LAUNCH_CHECK("sm90_prefill_attention_kernel");
}

}  // namespace

void sm90_prefill_launch(const Sm90PrefillProblem& pr, cudaStream_t stream) {
  const int v = pr.variant;
  if (v < 0 || v > plan::kPrefillMaxVariant || (plan::prefill_consumers(true, v) == 3 && !pr.fp8))
    throw std::invalid_argument(
        "sm90_prefill_launch: variant must be 0 .. 10 (4 .. 6, 8 .. 10: fp8 only)");
  if (pr.fp8) {
    if (pr.head_dim == 128 && pr.v_head_dim == 128)
      return plan::prefill_consumers(true, v) == 3 ? launch_kernel<true, 128, 128, 3>(pr, stream)
                                                   : launch_kernel<true, 128, 128, 2>(pr, stream);
  } else {
    if (pr.head_dim == 64 && pr.v_head_dim == 64)
      return launch_kernel<false, 64, 64, 2>(pr, stream);
    if (pr.head_dim == 128 && pr.v_head_dim == 128)
      return launch_kernel<false, 128, 128, 2>(pr, stream);
    if (pr.head_dim == 192 && pr.v_head_dim == 128)
      return launch_kernel<false, 192, 128, 2>(pr, stream);
  }
  throw std::invalid_argument("sm90_prefill_launch: unsupported (format, head_dim, v_head_dim)");
}

int sm90_prefill_perm32(int l) {
  return perm32(l);
}

}  // namespace quadrant::kernels
