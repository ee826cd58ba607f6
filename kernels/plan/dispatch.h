// The kernels' path choices and launch geometry, in plain C++ (no CUDA): the .cu launchers
// call these functions to decide what to run, and the launch plans (launch_plan.h) call the
// same ones to say what would run, so that a plan without a GPU is the plan the kernels use.
// tests/kernels/plan/dispatch_test.cc pins the choices in a table.
#pragma once

#include <cstdint>
#include <vector>

namespace quadrant::kernels::plan {

// ---- decode attention (split-KV flash decoding over a paged cache) ----
inline constexpr int kDecodeThreads = 128;   // threads per split CTA
inline constexpr int kDecodeMinChunk = 256;  // fewest KV tokens per split
inline constexpr int kDecodeCtasPerSm = 8;   // the split count aims at this many CTAs per SM

struct DecodeSplit {
  int heads_per_cta = 0;      // query heads a CTA takes (a GQA group, at most 8)
  int chunk = 0;              // KV tokens per split
  int max_splits = 0;         // splits of the longest sequence (grid x)
  bool tensor_cores = false;  // fp8 KV at head dim 128: the mma.sync kernel
};
// max_kv_len: the longest KV length (or a host upper bound of it: the lengths themselves
// are read on the device). fp8: E4M3 KV. tensor_cores_allowed: false keeps fp8 on the
// CUDA-core kernel (benchmark comparison). Throws std::invalid_argument on a bad shape.
DecodeSplit decode_attention_split(int64_t batch, int heads, int kv_heads, int head_dim, bool fp8,
                                   int64_t max_kv_len, int sm_count,
                                   bool tensor_cores_allowed = true);

// ---- prefill attention ----
// Kernel variants: -1 the mma.sync kernel (FA2 structure); 0..7 the sm_90a wgmma kernel
// (sm90_prefill_attention.h: 2 = BF16 ping-pong, 4 = FP8 three consumer warpgroups).
inline constexpr int kPrefillMmaVariant = -1;
int prefill_default_variant(bool fp8);
bool prefill_wgmma_supported(bool fp8, int head_dim, int v_head_dim);
// The variant that runs: `requested` (kDefaultVariant: the default) where the wgmma kernel
// covers the shape, else the mma.sync kernel.
inline constexpr int kDefaultVariant = -2;
int prefill_variant(bool fp8, int head_dim, int v_head_dim, int requested = kDefaultVariant);
// Query rows per CTA: 64 (mma.sync), 128 (wgmma, two consumer warpgroups) or 192 (fp8
// with three consumer warpgroups, variants 4 .. 6).
int prefill_tile_rows(bool fp8, int variant);
// Threads per CTA of the attention kernel.
int prefill_threads(bool fp8, int variant);
inline constexpr int kPrefillScaleBlock = 64;  // fp8: tokens per Q/K/V scale
inline constexpr int kPrefillVtTile = 128;     // fp8 wgmma: tokens per V^T tile

// The host-built schedule of one prefill step: query tiles heaviest first (most keys), and
// the per-sequence offsets the kernels read. Each sequence s has q_lens[s] new tokens after
// prefix_lens[s] cached ones; its keys are the prefix and the new tokens.
struct PrefillSchedule {
  int tile_rows = 0;
  std::vector<int32_t> tile_seq, tile_q0;   // [tiles]
  std::vector<int64_t> tile_keys;           // [tiles] keys the tile attends to at most
  std::vector<int32_t> cu_q, cu_k, prefix;  // [batch + 1], [batch + 1], [batch]
  // fp8: first scale row of each sequence's queries and keys ([batch + 1] each).
  std::vector<int32_t> cu_sq, cu_sk;
  // fp8 wgmma: V^T column offsets ([batch + 1], each sequence padded to 128 tokens) and
  // the 128-token V^T tiles (sequence, tile index).
  std::vector<int32_t> cu_kt, kt_seq, kt_tile;
  int64_t causal_pairs = 0;  // (query, key) pairs the causal mask keeps
};
PrefillSchedule prefill_schedule(const std::vector<int64_t>& q_lens,
                                 const std::vector<int64_t>& prefix_lens, int tile_rows);

// ---- MoE FFN grouped GEMMs ----
enum class MoeGemmPath {
  kMmaSync,   // 16-row tiles on mma.sync (W4A8: INT4 dequantised in registers)
  kWgmma,     // sm_90a persistent grouped GEMM, 128x256 tiles (W4A8: INT4 -> E4M3 per step)
  kCublasLt,  // cuBLASLt once per expert (the "bf16_cublaslt" comparison format)
};
// Rows per expert at which the wgmma grouped GEMM takes over (on average: rows = tokens *
// top_k over all experts).
inline constexpr int64_t kMoeWgmmaRowsPerExpert = 48;
MoeGemmPath moe_gemm_path(int64_t tokens, int top_k, int experts, bool cublaslt = false);
// Rows per m-tile of the device-side schedule for a path.
int moe_block_m(MoeGemmPath path, int64_t tokens, int top_k, int experts);
// m-tiles the schedule can produce at most: every expert may end in a partial tile.
int64_t moe_max_tiles(int64_t rows, int block_m, int experts);
inline constexpr int kMoeMaxExperts = 256;
inline constexpr int kMoeMmaBlockN = 128;    // mma.sync grouped GEMM: weight rows per CTA
inline constexpr int kMoeW4BlockN = 128;     // W4A8 register-dequant GEMM: 8 warps x 16 rows
inline constexpr int kMoeWgmmaBlockN = 256;  // wgmma grouped GEMM
inline constexpr int kMoeWgmmaBlockM = 128;

}  // namespace quadrant::kernels::plan
