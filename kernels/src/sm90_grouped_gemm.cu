// Hopper grouped GEMM for the prefill MoE FFN (see sm90_grouped_gemm.h for the contract).
//
// CTA: 384 threads. Warpgroup 0 is the producer (one thread issues the TMA loads, the
// warpgroup gives its registers away with setmaxnreg); warpgroups 1 and 2 consume, each
// 64 rows x 256 columns of the 128x256 tile. A stage holds 128 rows x 128 bytes of A and
// 256 rows x 128 bytes of W (64 BF16 or 128 E4M3 of k), 48 KB; kStages of them.
// Barriers: full[s] (producer's expect_tx + TMA bytes), empty[s] (one arrive per consumer
// warp once its wgmmas that read stage s have completed).
//
// W4A8 as stored (kInt4): TMA brings the stage's 256 weight rows as INT4 (64 bytes each) next
// to the stage, raw[s] counts their bytes, and warps 1-3 of the producer warpgroup write them
// as E4M3 into the W region in the layout the 128-byte swizzle would have given; full[s] then
// also waits for those 96 threads (each fences its writes to the async proxy, which wgmma
// reads through, and arrives). Three stages fit with the INT4 buffers.
#include <stdexcept>
#include <string>

#include "kernels/plan/dispatch.h"
#include "kernels/src/common.cuh"
#include "kernels/src/int4_e4m3.h"
#include "kernels/src/sm90_grouped_gemm.h"
#include "kernels/src/sm90_primitives.cuh"

namespace quadrant::kernels {
namespace {

using namespace sm90;

constexpr int kBlockM = Sm90GroupedGemm::kBlockM;
constexpr int kRowBytes = 128;  // k bytes per stage: one 128-byte swizzle atom per row
constexpr int kATileBytes = kBlockM * kRowBytes, kBHalfBytes = 128 * kRowBytes;
// Column-scale mode (W4A8): the 256 weight-row scales of the stage's k block, 1 KB.
constexpr int kScaleOffset = kATileBytes + 2 * kBHalfBytes;
// kInt4: the stage's 256 weight rows x 128 k as INT4, unswizzled rows of 64 bytes.
constexpr int kRawOffset = kScaleOffset + 1024, kRawRowBytes = 64;
constexpr int kRawBytes = 2 * kBlockM * kRawRowBytes;
constexpr int kConverters = kInt4Converters;  // producer warps 1-3
constexpr int stages(bool int4) {
  return plan::moe_wgmma_stages(int4);
}
// Stage sizes stay multiples of 1024 (the swizzle atom's alignment).
constexpr int stage_bytes(bool col_scale, bool int4 = false) {
  return kScaleOffset + (col_scale ? 1024 : 0) + (int4 ? kRawBytes : 0);
}
// Plain BF16 output goes out through TMA stores from a 32 KB buffer (16 KB per consumer
// warpgroup), so that the next tile's mainloop starts while the copy engine writes.
constexpr bool tma_store(bool silu, bool col_scale) {
  return !silu && !col_scale;
}
constexpr int kEpiBytes = 32768;
constexpr int smem_bytes(bool silu, bool col_scale, bool int4 = false) {
  return stages(int4) * stage_bytes(col_scale, int4) +
         (tma_store(silu, col_scale) ? kEpiBytes : 0) + 1024 /* alignment */ + 256 /* barriers */;
}
constexpr int kThreads = 384;

struct Params {
  const float* a_scale;
  const float* w_scale;  // block scales, or column mode: [experts][k / 128][n]
  const int32_t* offsets;
  const int32_t* tile_expert;
  const int32_t* tile_row;
  const int32_t* tile_first;
  const int32_t* tile_count;
  const int32_t* num_tiles;
  void* out;
  float* out_scale;
  int rows, n, k, n_tiles;
};

struct Tile {
  int row0, expert, n_tile;
};
// Linear tile L -> (m-tile, n-tile), m-tiles fastest within an expert: the CTAs running at
// once share the expert's A rows and a band of its weight rows, so that each weight byte
// comes from HBM about once.
__device__ __forceinline__ Tile decode_tile(int L, const Params& p) {
  const int mt = L / p.n_tiles;
  const int g0 = __ldg(p.tile_first + mt), gc = __ldg(p.tile_count + mt);
  const int l = L - g0 * p.n_tiles;
  const int m = g0 + l % gc;
  return {__ldg(p.tile_row + m), __ldg(p.tile_expert + m), l / gc};
}

// Epilogue store pattern: 1 (default) transposes 4x4 words inside each lane quad so that a
// lane writes 16 contiguous bytes of one row (a quad 64); 0 writes the accumulator pairs
// as they lie (4 bytes a lane, 16 a quad); 2 writes nothing (a timing experiment only:
// the checks fail).
#ifndef QK_SM90_EPILOGUE
#define QK_SM90_EPILOGUE 1
#endif

// Lane q of each quad holds words w[t] = word q of 16-byte group t; afterwards it holds
// the four words of group q. Two exchange steps (partners q ^ 2, then q ^ 1).
__device__ __forceinline__ void quad_transpose(uint32_t (&w)[4], int lane) {
  {
    const bool b = lane & 2;
    const uint32_t s0 = b ? w[0] : w[2], s1 = b ? w[1] : w[3];
    const uint32_t r0 = __shfl_xor_sync(0xffffffffu, s0, 2);
    const uint32_t r1 = __shfl_xor_sync(0xffffffffu, s1, 2);
    if (b) {
      w[0] = r0;
      w[1] = r1;
    } else {
      w[2] = r0;
      w[3] = r1;
    }
  }
  {
    const bool b = lane & 1;
    const uint32_t s0 = b ? w[0] : w[1], s1 = b ? w[2] : w[3];
    const uint32_t r0 = __shfl_xor_sync(0xffffffffu, s0, 1);
    const uint32_t r1 = __shfl_xor_sync(0xffffffffu, s1, 1);
    if (b) {
      w[0] = r0;
      w[2] = r1;
    } else {
      w[1] = r0;
      w[3] = r1;
    }
  }
}

__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.0f + __expf(-g)) * u;
}

// kInt4 (needs kColScale): the producer's warps 1-3 write one stage's INT4 as E4M3 into its W
// region: 1024 items (a weight row's 32 k: 16 bytes in, two 16-byte swizzle chunks out), a warp
// taking 8 whole rows at a time, so that each quarter-warp's stores hit 8 distinct chunks.
__device__ __forceinline__ void convert_int4_stage(uint8_t* stage, int ct) {
  static_assert(kInt4StageRows == 2 * kBlockM && kBHalfBytes == 128 * 128 && kRawRowBytes == 64,
                "int4_stage_item's layout (int4_e4m3.h)");
  const uint8_t* raw = stage + kRawOffset;
  uint8_t* w = stage + kATileBytes;
#pragma unroll 2
  for (int i = ct; i < kInt4StageItems; i += kConverters) {
    const Int4StageItem it = int4_stage_item(i);
    const uint4 v = *reinterpret_cast<const uint4*>(raw + it.raw);
    const E4m3x8 q0 = int4x8_to_e4m3x8_prmt(v.x), q1 = int4x8_to_e4m3x8_prmt(v.y);
    const E4m3x8 q2 = int4x8_to_e4m3x8_prmt(v.z), q3 = int4x8_to_e4m3x8_prmt(v.w);
    *reinterpret_cast<uint4*>(w + it.dst0) = make_uint4(q0.x, q0.y, q1.x, q1.y);
    *reinterpret_cast<uint4*>(w + it.dst1) = make_uint4(q2.x, q2.y, q3.x, q3.y);
  }
}

// kColScale (needs kFp8): W has a scale per row and 128 k (W4A8 dequantised to E4M3)
// instead of per 128x128 block; the producer copies the stage's 256 row scales next to it.
template <bool kFp8, bool kSilu, bool kColScale, bool kInt4>
__global__ void __launch_bounds__(kThreads, 1)
    sm90_grouped_gemm_kernel(const __grid_constant__ CUtensorMap a_map,
                             const __grid_constant__ CUtensorMap w_map,
                             const __grid_constant__ CUtensorMap out_map, const Params p) {
  static_assert(!kInt4 || kColScale, "INT4 weights carry per-row scales");
  constexpr int kStages = stages(kInt4);
  constexpr int kStageBytes = stage_bytes(kColScale, kInt4);
  constexpr bool kTmaStore = tma_store(kSilu, kColScale);
  extern __shared__ uint8_t smem_raw[];
  // 1024-byte alignment: the 128-byte swizzle pattern repeats every 8 rows of 128 bytes.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  uint8_t* epi = smem + kStages * kStageBytes;  // kTmaStore: the output staging buffer
  uint64_t* full = reinterpret_cast<uint64_t*>(epi + (kTmaStore ? kEpiBytes : 0));
  uint64_t* empty = full + kStages;
  uint64_t* raw = empty + kStages;  // kInt4: the INT4 bytes of stage s have landed
  const int wg = threadIdx.x / 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full + s, kInt4 ? 1 + kConverters : 1);
      mbar_init(empty + s, 8);  // the 8 consumer warps
      if constexpr (kInt4) mbar_init(raw + s, 1);
    }
    mbar_fence_init();
  }
  __syncthreads();
  const int total = *p.num_tiles * p.n_tiles;
  const int k_tiles = p.k * (kFp8 ? 1 : 2) / kRowBytes;
  constexpr int kBk = kFp8 ? 128 : 64;  // k elements per stage

  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (threadIdx.x == 0) {
      int it = 0;
      for (int L = blockIdx.x; L < total; L += gridDim.x) {
        const Tile t = decode_tile(L, p);
        const int b0 = kSilu ? t.expert * p.n + t.n_tile * 128 : t.expert * p.n + t.n_tile * 256;
        const int b1 = kSilu ? b0 + p.n / 2 : b0 + 128;
        // Plain mode's last n-tile may hold one 128-row half only (n % 256 == 128).
        const bool half1 = kSilu || t.n_tile * 256 + 128 < p.n;
        for (int kt = 0; kt < k_tiles; ++kt, ++it) {
          const int s = it % kStages;
          mbar_wait(empty + s, ((it / kStages) & 1) ^ 1);
          uint8_t* sa = smem + s * kStageBytes;
          if constexpr (kColScale) {
            mbar_expect_tx(full + s, (kInt4 ? kATileBytes : kScaleOffset) + (half1 ? 1024 : 512));
            const float* row = p.w_scale + (size_t(t.expert) * (p.k / 128) + kt) * p.n;
            bulk_load(sa + kScaleOffset, row + (b0 - t.expert * p.n), 512, full + s);
            if (half1)
              bulk_load(sa + kScaleOffset + 512, row + (b1 - t.expert * p.n), 512, full + s);
          } else {
            mbar_expect_tx(full + s, kScaleOffset);
          }
          tma_load_2d(sa, &a_map, full + s, kt * kBk, t.row0);
          if constexpr (kInt4) {
            // Both halves always, as the E4M3 path loads them (a missing half's columns are
            // never stored): the converters wait for the whole stage.
            mbar_expect_tx(raw + s, kRawBytes);
            tma_load_2d(sa + kRawOffset, &w_map, raw + s, kt * (kBk / 2), b0);
            tma_load_2d(sa + kRawOffset + kRawBytes / 2, &w_map, raw + s, kt * (kBk / 2), b1);
          } else {
            tma_load_2d(sa + kATileBytes, &w_map, full + s, kt * kBk, b0);
            tma_load_2d(sa + kATileBytes + kBHalfBytes, &w_map, full + s, kt * kBk, b1);
          }
        }
      }
    } else if (kInt4 && threadIdx.x >= 32) {
      const int ct = threadIdx.x - 32;
      int it = 0;
      for (int L = blockIdx.x; L < total; L += gridDim.x)
        for (int kt = 0; kt < k_tiles; ++kt, ++it) {
          const int s = it % kStages;
          mbar_wait(raw + s, (it / kStages) & 1);
          convert_int4_stage(smem + s * kStageBytes, ct);
          fence_proxy_async();  // wgmma reads the E4M3 through the async proxy
          mbar_arrive(full + s);
        }
    }
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
  const int cw = wg - 1;  // this warpgroup's 64 rows of the tile
  const int warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
  const int r_in = cw * 64 + warp * 16 + lane / 4;  // and r_in + 8
  const int k_blocks = p.k / 128;
  int it = 0;
  for (int L = blockIdx.x; L < total; L += gridDim.x) {
    const Tile t = decode_tile(L, p);
    float acc[128];
    if constexpr (!kFp8) {
      for (int kt = 0; kt < k_tiles; ++kt, ++it) {
        const int s = it % kStages;
        mbar_wait(full + s, (it / kStages) & 1);
        const uint8_t* sa = smem + s * kStageBytes;
        const uint64_t da = smem_desc(smem_addr(sa + cw * 64 * kRowBytes)),
                       db = smem_desc(smem_addr(sa + kATileBytes));
        fence_regs<128>(acc);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < 4; ++kk)  // k16 steps: 32 bytes along the swizzled row
          wgmma_ss<256, Bf16>(acc, da + 2 * kk, db + 2 * kk, (kt | kk) != 0);
        wgmma_commit();
        // Keep this stage's wgmmas in flight; the previous stage's are done: release it.
        wgmma_wait<1>();
        fence_regs<128>(acc);
        if (kt > 0 && lane == 0) mbar_arrive(empty + (it - 1) % kStages);
      }
      wgmma_wait<0>();
      fence_regs<128>(acc);
      if (lane == 0) mbar_arrive(empty + (it - 1) % kStages);
    } else {
#pragma unroll
      for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
      float part[64];
      const int nb_total = p.n / 128;
      const int bn0 = kSilu ? t.n_tile : min(2 * t.n_tile, nb_total - 1);
      const int bn1 = kSilu ? nb_total / 2 + t.n_tile : min(2 * t.n_tile + 1, nb_total - 1);
      const float* ws0 = p.w_scale + (size_t(t.expert) * nb_total + bn0) * k_blocks;
      const float* ws1 = p.w_scale + (size_t(t.expert) * nb_total + bn1) * k_blocks;
      (void)ws0;
      (void)ws1;
      const int ra = min(t.row0 + r_in, p.rows - 1), rb = min(t.row0 + r_in + 8, p.rows - 1);
      // The scales of k block kt + 1 are loaded while block kt computes: an L2 round trip
      // is longer than one half's wgmmas (ncu, run 3: scoreboard stalls on these loads).
      auto load_scales = [&](int kt, float(&v)[4]) {
        v[0] = __ldg(p.a_scale + size_t(kt) * p.rows + ra);
        v[1] = __ldg(p.a_scale + size_t(kt) * p.rows + rb);
        v[2] = kColScale ? 1.0f : __ldg(ws0 + kt);
        v[3] = kColScale ? 1.0f : __ldg(ws1 + kt);
      };
      float next[4];
      load_scales(0, next);
      for (int kt = 0; kt < k_tiles; ++kt, ++it) {
        const int s = it % kStages;
        const float sa0 = next[0], sa1 = next[1];
        const float sw[2] = {next[2], next[3]};
        if (kt + 1 < k_tiles) load_scales(kt + 1, next);
        mbar_wait(full + s, (it / kStages) & 1);
        const uint8_t* sa = smem + s * kStageBytes;
        const uint64_t da = smem_desc(smem_addr(sa + cw * 64 * kRowBytes));
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const uint64_t db = smem_desc(smem_addr(sa + kATileBytes + h * kBHalfBytes));
          fence_regs<64>(part);
          wgmma_fence();
#pragma unroll
          for (int kk = 0; kk < 4; ++kk)  // k32 steps
            wgmma_ss<128, E4m3>(part, da + 2 * kk, db + 2 * kk, kk != 0);
          wgmma_commit();
          wgmma_wait<0>();
          fence_regs<64>(part);
          // Promote this 128-deep block into the float accumulators with its scales.
          if constexpr (kColScale) {
            const float* cs = reinterpret_cast<const float*>(sa + kScaleOffset) + h * 128;
#pragma unroll
            for (int j = 0; j < 16; ++j) {
              const float2 w = *reinterpret_cast<const float2*>(cs + 8 * j + 2 * (lane % 4));
              acc[h * 64 + 4 * j + 0] = fmaf(part[4 * j + 0], sa0 * w.x, acc[h * 64 + 4 * j + 0]);
              acc[h * 64 + 4 * j + 1] = fmaf(part[4 * j + 1], sa0 * w.y, acc[h * 64 + 4 * j + 1]);
              acc[h * 64 + 4 * j + 2] = fmaf(part[4 * j + 2], sa1 * w.x, acc[h * 64 + 4 * j + 2]);
              acc[h * 64 + 4 * j + 3] = fmaf(part[4 * j + 3], sa1 * w.y, acc[h * 64 + 4 * j + 3]);
            }
          } else {
            const float s0 = sa0 * sw[h], s1 = sa1 * sw[h];
#pragma unroll
            for (int i = 0; i < 64; ++i)
              acc[h * 64 + i] = fmaf(part[i], (i % 4) < 2 ? s0 : s1, acc[h * 64 + i]);
          }
        }
        if (lane == 0) mbar_arrive(empty + s);
      }
    }

    // ---- epilogue: straight from the accumulator registers ----
    // Register 4j + c of this thread: row r_in + 8 * (c / 2), column 8j + 2 * (lane % 4) + c % 2.
    const int row_end = __ldg(p.offsets + t.expert + 1);
    bool stored = false;
    if constexpr (kTmaStore) {
      // Full tiles only: a TMA box cannot skip the rows of the next expert.
      if (row_end >= t.row0 + kBlockM) {
        stored = true;
        uint8_t* buf = epi + cw * (kEpiBytes / 2);
        const bool leader = threadIdx.x % 128 == 0;
#pragma unroll
        for (int r = 0; r < 2; ++r) {    // 128 of the 256 columns per round
          if (leader) bulk_wait_read();  // the previous store has read the buffer
          wg_barrier(1 + cw);
#pragma unroll
          for (int jj = 0; jj < 16; ++jj) {
            const int j = 16 * r + jj;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              // 64x64 boxes with the 128-byte swizzle: 16-byte chunk c of row rr at c ^ (rr % 8).
              const int rr = warp * 16 + lane / 4 + 8 * h;
              *reinterpret_cast<uint32_t*>(buf + (jj / 8) * 8192 + rr * 128 +
                                           (((jj % 8) ^ (rr & 7)) << 4) + (lane % 4) * 4) =
                  pack_bf16x2(acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1]);
            }
          }
          fence_proxy_async();  // the copy engine reads what these threads wrote
          wg_barrier(1 + cw);
          if (leader) {
            tma_store_2d(&out_map, t.n_tile * 256 + 128 * r, t.row0 + cw * 64, buf);
            tma_store_2d(&out_map, t.n_tile * 256 + 128 * r + 64, t.row0 + cw * 64, buf + 8192);
            bulk_commit();
          }
        }
      }
    }
    if constexpr (!kSilu) {
      bf16* out = static_cast<bf16*>(p.out);
#pragma unroll
      for (int h = 0; h < 2 && !stored; ++h) {
        const int row = t.row0 + r_in + 8 * h;
#if QK_SM90_EPILOGUE == 1
#pragma unroll
        for (int g = 0; g < 8; ++g) {
          uint32_t w[4];
#pragma unroll
          for (int i = 0; i < 4; ++i)
            w[i] = pack_bf16x2(acc[4 * (4 * g + i) + 2 * h], acc[4 * (4 * g + i) + 2 * h + 1]);
          quad_transpose(w, lane);
          const int col = t.n_tile * 256 + 8 * (4 * g + lane % 4);
          if (row < row_end && col < p.n)
            *reinterpret_cast<uint4*>(out + size_t(row) * p.n + col) =
                make_uint4(w[0], w[1], w[2], w[3]);
        }
#elif QK_SM90_EPILOGUE == 0
        if (row >= row_end) continue;
#pragma unroll
        for (int j = 0; j < 32; ++j) {
          const int col = t.n_tile * 256 + 8 * j + 2 * (lane % 4);
          if (col < p.n)
            *reinterpret_cast<uint32_t*>(out + size_t(row) * p.n + col) =
                pack_bf16x2(acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1]);
        }
#else
        if (row < 0) out[0] = __float2bfloat16(acc[2 * h]);  // keeps the mainloop alive
#endif
      }
    } else {
      // Columns j < 16 are gate, 16 + j the matching up: SiLU(gate) * up in registers.
      const int n_out = p.n / 2;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = t.row0 + r_in + 8 * h;
        float v[32];
#pragma unroll
        for (int j = 0; j < 16; ++j)
#pragma unroll
          for (int c = 0; c < 2; ++c)
            v[2 * j + c] = silu_mul(acc[4 * j + 2 * h + c], acc[64 + 4 * j + 2 * h + c]);
        if constexpr (!kFp8) {
          bf16* out = static_cast<bf16*>(p.out) + size_t(row) * n_out + t.n_tile * 128;
#if QK_SM90_EPILOGUE == 1
#pragma unroll
          for (int g = 0; g < 4; ++g) {
            uint32_t w[4];
#pragma unroll
            for (int i = 0; i < 4; ++i)
              w[i] = pack_bf16x2(v[2 * (4 * g + i)], v[2 * (4 * g + i) + 1]);
            quad_transpose(w, lane);
            if (row < row_end)
              *reinterpret_cast<uint4*>(out + 8 * (4 * g + lane % 4)) =
                  make_uint4(w[0], w[1], w[2], w[3]);
          }
#elif QK_SM90_EPILOGUE == 0
          if (row < row_end) {
#pragma unroll
            for (int j = 0; j < 16; ++j)
              *reinterpret_cast<uint32_t*>(out + 8 * j + 2 * (lane % 4)) =
                  pack_bf16x2(v[2 * j], v[2 * j + 1]);
          }
#else
          if (row < 0) out[0] = __float2bfloat16(v[0]);
#endif
        } else {
          // The row's 128 columns (one scale block of the next GEMM) sit in 4 lanes.
          float amax = 0.0f;
#pragma unroll
          for (int i = 0; i < 32; ++i) amax = fmaxf(amax, fabsf(v[i]));
          amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
          amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
          const float scale = fmaxf(amax, 1e-20f) / 448.0f, inv = 1.0f / scale;
          if (row < row_end) {
            uint8_t* out = static_cast<uint8_t*>(p.out) + size_t(row) * n_out + t.n_tile * 128;
#pragma unroll
            for (int j = 0; j < 16; ++j) {
              const __nv_fp8x2_storage_t q = __nv_cvt_float2_to_fp8x2(
                  make_float2(v[2 * j] * inv, v[2 * j + 1] * inv), __NV_SATFINITE, __NV_E4M3);
              *reinterpret_cast<__nv_fp8x2_storage_t*>(out + 8 * j + 2 * (lane % 4)) = q;
            }
            if (lane % 4 == 0) p.out_scale[size_t(t.n_tile) * p.rows + row] = scale;
          }
        }
      }
    }
  }
  if constexpr (kTmaStore) {
    if (threadIdx.x % 128 == 0) bulk_wait_all();  // shared memory lives until they are done
  }
}

// Row-major [rows][k] matrix, boxes of box_rows rows x 128 bytes, 128-byte swizzle.
CUtensorMap make_map(const void* base, int64_t rows, int64_t k, bool fp8, int box_rows = 128) {
  return tensor_map_2d(base, fp8, uint64_t(k), uint64_t(rows), uint64_t(k) * (fp8 ? 1 : 2),
                       fp8 ? 128 : 64, uint32_t(box_rows));
}

template <bool kFp8, bool kSilu, bool kColScale = false, bool kInt4 = false>
void launch_kernel(const CUtensorMap& a_map, const CUtensorMap& w_map, const CUtensorMap& out_map,
                   const Params& p, cudaStream_t stream) {
  constexpr int kSmemBytes = smem_bytes(kSilu, kColScale, kInt4);
  static_assert(kSmemBytes == plan::moe_wgmma_smem_bytes(kSilu, kColScale, kInt4),
                "the launch plans' layout (kernels/plan/dispatch.h)");
  static_assert(kSmemBytes <= 227 * 1024, "the opt-in shared memory of an sm_90 CTA");
  static_assert(kThreads == plan::kMoeWgmmaThreads && kBlockM == plan::kMoeWgmmaBlockM &&
                    Sm90GroupedGemm::kBlockN == plan::kMoeWgmmaBlockN,
                "the launch plans' geometry");
  opt_in_dynamic_smem(sm90_grouped_gemm_kernel<kFp8, kSilu, kColScale, kInt4>, kSmemBytes);
  sm90_grouped_gemm_kernel<kFp8, kSilu, kColScale, kInt4>
      <<<sm_count(), kThreads, kSmemBytes, stream>>>(a_map, w_map, out_map, p);
  QK_LAUNCH_CHECK("sm90_grouped_gemm_kernel");
}

}  // namespace

Sm90GroupedGemm::Sm90GroupedGemm(const Sm90GroupedGemmArgs& args) : args_(args) {
  const auto& a = args;
  auto require = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("sm90 grouped GEMM: ") + what);
  };
  require(a.k >= 128 && a.k % 128 == 0, "k must be a positive multiple of 128");
  require(a.n >= 128 && a.n % (a.silu_mul ? 256 : 128) == 0,
          "n must be a multiple of 128 (256 with silu_mul)");
  require(a.rows >= 1 && a.experts >= 1, "rows and experts must be positive");
  require(int64_t(a.experts) * a.n < (int64_t(1) << 31) && a.rows < (int64_t(1) << 31),
          "coordinates must fit in int32");
  require(!a.fp8 || (a.a_scale && a.w_scale), "fp8 needs both scales");
  require(!a.w_scale_per_row || a.fp8, "per-row weight scales need fp8");
  require(!a.w_int4 || a.w_scale_per_row, "INT4 weights need per-row weight scales");
  require(!(a.fp8 && a.silu_mul) || a.out_scale, "fp8 silu_mul needs out_scale");
  a_map_ = make_map(a.a, a.rows, a.k, a.fp8);
  // INT4: bytes, 64 (128 k) x 128 rows a box, unswizzled (the converters read whole rows).
  w_map_ = a.w_int4
               ? tensor_map_2d(a.w, true, uint64_t(a.k / 2), uint64_t(a.experts) * a.n,
                               uint64_t(a.k / 2), kRawRowBytes, kBlockM, CU_TENSOR_MAP_SWIZZLE_NONE)
               : make_map(a.w, int64_t(a.experts) * a.n, a.k, a.fp8);
  // Plain output [rows][n] BF16 in 64x64 boxes for the TMA-store epilogue (unused otherwise).
  out_map_ = a.silu_mul ? w_map_ : make_map(a.out, a.rows, a.n, false, 64);
}

void Sm90GroupedGemm::run(cudaStream_t stream) const {
  const auto& a = args_;
  Params p{a.a_scale,    a.w_scale,
           a.offsets,    a.tile_expert,
           a.tile_row,   a.tile_first,
           a.tile_count, a.num_tiles,
           a.out,        a.out_scale,
           int(a.rows),  int(a.n),
           int(a.k),     int(a.silu_mul ? a.n / 256 : (a.n + kBlockN - 1) / kBlockN)};
  if (a.w_int4) {
    if (a.silu_mul)
      launch_kernel<true, true, true, true>(a_map_, w_map_, out_map_, p, stream);
    else
      launch_kernel<true, false, true, true>(a_map_, w_map_, out_map_, p, stream);
  } else if (a.w_scale_per_row) {
    if (a.silu_mul)
      launch_kernel<true, true, true>(a_map_, w_map_, out_map_, p, stream);
    else
      launch_kernel<true, false, true>(a_map_, w_map_, out_map_, p, stream);
  } else if (a.fp8) {
    if (a.silu_mul)
      launch_kernel<true, true>(a_map_, w_map_, out_map_, p, stream);
    else
      launch_kernel<true, false>(a_map_, w_map_, out_map_, p, stream);
  } else {
    if (a.silu_mul)
      launch_kernel<false, true>(a_map_, w_map_, out_map_, p, stream);
    else
      launch_kernel<false, false>(a_map_, w_map_, out_map_, p, stream);
  }
}

}  // namespace quadrant::kernels
