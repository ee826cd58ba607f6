// Hopper (sm_90a) grouped GEMM of the prefill MoE FFN: out[r][n] = sum_k A[r][k] * W[e(r)][n][k]
// over rows grouped by expert. wgmma (HGMMA for BF16, QGMMA for FP8 E4M3) from shared memory
// that TMA fills (128-byte swizzle), an mbarrier pipeline of kStages, one producer warp and
// two consumer warpgroups of 64 rows each (128x256 tiles), persistent CTAs over the
// (expert, m-tile, n-tile) list that the device-side schedule writes.
//
//   Sm90GroupedGemm g({.fp8 = false, .silu_mul = true, .a = xp, .rows = rows, .k = hidden,
//                      .w = w1, .experts = 16, .n = 2 * inter, ..., .out = act});
//   g.run(stream);  // graph-capturable: the tile count is read on the device
//
// FP8: A has a scale per row and 128 k (stored k-block-major, [k/128][rows]), W a scale per
// 128x128 block ([experts][n/128][k/128]); each 128-deep k block is accumulated apart and
// promoted into the float accumulators with its two scales (DeepSeek-V3 / DeepGEMM).
// silu_mul: W holds gate rows [0, n/2) then up rows [n/2, n) per expert; a tile takes 128
// gate and the matching 128 up rows and writes SiLU(gate) * up, n/2 columns in all (BF16, or
// E4M3 with a scale per row and 128 columns, [n/256][rows], for the next FP8 GEMM).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace quadrant::kernels {

struct Sm90GroupedGemmArgs {
  bool fp8 = false;       // E4M3 A and W (else BF16)
  bool silu_mul = false;  // fused SiLU(gate) * up epilogue (else plain BF16 store)
  const void* a = nullptr;
  int64_t rows = 0;  // rows of A, out and the row-indexed scales (the permuted token slots)
  int64_t k = 0;     // multiple of 128
  const float* a_scale = nullptr;  // fp8: [k / 128][rows]
  const void* w = nullptr;
  int experts = 0;
  int64_t n = 0;                   // weight rows per expert (silu_mul: 2 * intermediate)
  const float* w_scale = nullptr;  // fp8: [experts][n / 128][k / 128]
  // W4A8 dequantised to E4M3: a scale per weight row and 128 k instead, stored
  // [experts][k / 128][n] (a stage's 256 row scales are contiguous: one bulk copy).
  bool w_scale_per_row = false;
  // W4A8 as stored (needs w_scale_per_row): w holds offset-binary INT4, [experts * n][k / 2]
  // bytes, which the producer warpgroup dequantises to E4M3 in shared memory stage by stage,
  // so that the GEMM reads half a byte per weight and no E4M3 copy is written.
  bool w_int4 = false;
  // Device-side schedule (moe_ffn.cu): row offsets per expert [experts + 1]; per 128-row
  // m-tile its expert, first row, and the first m-tile and m-tile count of its expert.
  const int32_t* offsets = nullptr;
  const int32_t* tile_expert = nullptr;
  const int32_t* tile_row = nullptr;
  const int32_t* tile_first = nullptr;
  const int32_t* tile_count = nullptr;
  const int32_t* num_tiles = nullptr;
  void* out = nullptr;         // bf16 [rows][n], or silu_mul: bf16 / E4M3 [rows][n / 2]
  float* out_scale = nullptr;  // silu_mul && fp8: [n / 256][rows]
};

class Sm90GroupedGemm {
 public:
  static constexpr int kBlockM = 128, kBlockN = 256;
  Sm90GroupedGemm() = default;
  // Encodes the TMA descriptors (the buffers' addresses are baked in: rebuild after a
  // reallocation). Throws std::invalid_argument for shapes it does not support.
  explicit Sm90GroupedGemm(const Sm90GroupedGemmArgs& args);
  void run(cudaStream_t stream) const;

 private:
  Sm90GroupedGemmArgs args_;
  CUtensorMap a_map_{}, w_map_{}, out_map_{};
};

}  // namespace quadrant::kernels
