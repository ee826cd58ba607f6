// MLA decode attention (DeepSeek-V2/V3 absorbed form), its shape, path choices and launch
// plan in plain C++ (no CUDA): kernels/src/mla_decode.cu launches what mla_decode_split()
// chooses, and plan_mla_decode() says what would run, without a GPU (issue 12's white-box
// cost models). tests/kernels/plan/mla_decode_plan_test.cc pins the choices.
//
// The op ("mla_decode" in make_op and plan_launches): one query token per sequence, `heads`
// query heads of 576 (absorbed q_latent 512 | q_rope 64) against ONE latent cache row of 576
// per token (c_kv 512 | k_rope 64) shared by all heads; scores = q . row (the latent and the
// RoPE parts at once), output = softmax(scores x scale) . c_kv (512 wide).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/plan/launch_plan.h"
#include "kernels/plan/shape.h"

namespace quadrant::kernels::plan {

inline constexpr int kMlaLatent = 512;                 // kv_lora_rank: c_kv, and the output
inline constexpr int kMlaRope = 64;                    // qk_rope_head_dim
inline constexpr int kMlaDim = kMlaLatent + kMlaRope;  // a cache row, a query head
inline constexpr int kMlaRowBytes = kMlaDim * 2;       // BF16 cache row: 1152 bytes
inline constexpr int kMlaThreads = 256;                // 8 warps per CTA
inline constexpr int kMlaTileTokens = 32;              // KV tokens per pipeline stage
inline constexpr int kMlaStageBytes = kMlaTileTokens * kMlaRowBytes;  // 36 KB
inline constexpr int kMlaMaxHeadsPerCta = 64;  // heads are the mma M dimension
inline constexpr int kMlaMaxSplits = 256;
inline constexpr int kMlaSmemLimit = 227 * 1024;  // opt-in shared memory per CTA (sm_90)
inline constexpr int kMlaCombineRows = 4;         // (sequence, head) rows per combine CTA
// The split count's cost model (mla_decode_split), in bytes streamed by one CTA (one per SM):
// a CTA's fixed cost besides its KV tokens (its queries, the pipeline's fill: about one
// loaded memory latency), the combine's, and the hedge between lengths all equal to the
// bound and lengths spread below it (as plan/dispatch.h's decode_attention_split).
// Not fitted yet: set from the GQA kernel's (kDecodeCtaOverheadBytes per CTA slot).
inline constexpr double kMlaCtaOverheadBytes = 64 * 1024;
inline constexpr double kMlaCombineOverheadBytes = 32 * 1024;
inline constexpr double kMlaTailFraction = 0.5;
inline constexpr double kMlaSpreadWeight = 0.3;
// The wgmma form's (MlaDecodeForm::kWgmma): fitted to the H100's fixed split counts 1-32 at five
// shapes (kernels/results/twentieth_h100_mla_sweep.log): a CTA's fixed cost of 128 KB and tail
// 1.0 take 0.982 of the best count's time per shape on the mean (worst 0.947) where the mma
// form's constants take 0.938 (worst 0.781: 16 splits, two waves, at b16 kv4096 h16 where 8 in
// one wave are best). The mma form's would move alike (0.924 -> 0.974), but they are the
// default's: moving them moves the calibrated launches, so they wait for its re-collection.
inline constexpr double kMlaWgCtaOverheadBytes = 128 * 1024;
inline constexpr double kMlaWgTailFraction = 1.0;

// The split model's constants: kMla* above (the wgmma form's own CTA cost and tail), or
// (benchmarks and calibration sweeps only) QUADRANT_MLA_SPLIT_MODEL="CTA_KIB,COMBINE_KIB,TAIL"
// (e.g. "192,128,1.5") for either form; a malformed value throws std::invalid_argument naming
// the variable.
struct MlaSplitModel {
  double cta_overhead_bytes = kMlaCtaOverheadBytes;
  double combine_overhead_bytes = kMlaCombineOverheadBytes;
  double tail_fraction = kMlaTailFraction;
};
MlaSplitModel mla_split_model(MlaDecodeForm form);

// Heads per CTA: 64, 32 or 16 (the largest that divides heads; heads a multiple of 16).
constexpr int mla_heads_per_cta(int heads) {
  return heads % 64 == 0 ? 64 : heads % 32 == 0 ? 32 : 16;
}
// Shared memory of the split kernel: the CTA's queries, the ring of KV stages, P (BF16, rows
// padded to 80 bytes), the softmax exchange (row maxima and sums per warp, the running max
// twice, the running sum).
constexpr int mla_misc_smem_bytes() {
  return 2 * 8 * 16 * 4 + 3 * kMlaMaxHeadsPerCta * 4;
}
constexpr int mla_stages(int heads_per_cta) {
  const int fixed = heads_per_cta * kMlaRowBytes + heads_per_cta * 80 + mla_misc_smem_bytes();
  const int n = (kMlaSmemLimit - fixed) / kMlaStageBytes;
  return n > 5 ? 5 : n;
}
constexpr int mla_smem_bytes(int heads_per_cta) {
  return heads_per_cta * kMlaRowBytes + mla_stages(heads_per_cta) * kMlaStageBytes +
         heads_per_cta * 80 + mla_misc_smem_bytes();
}
static_assert(mla_stages(64) >= 3 && mla_smem_bytes(64) <= kMlaSmemLimit);

// The split kernel's form (launch_plan.h, MlaDecodeForm). kMma (the plans of models fitted before
// the twenty-first session): heads as the M of mma.sync tiles, 32-token stages, 8 warps. kWgmma
// (the default): tokens as the M of wgmma tiles (64 tokens a tile) and heads as N (16 or 32 a
// warpgroup; 16, 32 or 64 a CTA), both GEMMs reading the latent tile where it landed, two 72 KB
// stages.
// The form the kernels launch: kMlaDecodeForm, or QUADRANT_MLA_DECODE_FORM (mma | wgmma);
// another value throws std::invalid_argument naming the variable. The cost models' plans take
// theirs from PlanRules::mla_decode_form instead (plan_launches), never from the environment.
MlaDecodeForm mla_decode_form();

inline constexpr int kMlaWgThreads = 128;    // a warpgroup: it copies and computes
inline constexpr int kMlaWgTileTokens = 64;  // the wgmma M
inline constexpr int kMlaWgStageBytes = kMlaWgTileTokens * kMlaRowBytes;  // 72 KB
inline constexpr int kMlaWgStages = 2;
// Heads per CTA of the wgmma form: 64 (two warpgroups of 32 sharing the tiles), 32 or 16 (one
// warpgroup; its N: 64 would need 256 accumulators a thread).
constexpr int mla_wg_heads_per_cta(int heads) {
  return heads % 64 == 0 ? 64 : heads % 32 == 0 ? 32 : 16;
}
constexpr int mla_wg_threads(int heads_per_cta) {
  return heads_per_cta == 64 ? 2 * kMlaWgThreads : kMlaWgThreads;
}
// Its shared memory: the queries (heads x 1152), the stages, P^T (heads x 64 BF16), the
// column maxima of each warpgroup's 4 warps twice (tile parity), and 1 KB to align the
// swizzled tiles (at 64 heads: 227 KB, all there is).
constexpr int mla_wg_smem_bytes(int heads_per_cta) {
  return heads_per_cta * kMlaRowBytes + kMlaWgStages * kMlaWgStageBytes +
         heads_per_cta * kMlaWgTileTokens * 2 + 2 * 4 * heads_per_cta * 4 + 1024;
}
static_assert(mla_wg_smem_bytes(64) <= kMlaSmemLimit);

struct MlaDecodeSplit {
  MlaDecodeForm form = MlaDecodeForm::kMma;
  int heads_per_cta = 0;  // query heads of a CTA (16, 32 or 64)
  int chunk = 0;          // KV tokens per split (a multiple of the form's tile tokens)
  int max_splits = 0;     // splits of the longest sequence (grid y)
  int stages = 0;         // KV pipeline stages
};
// max_kv_len: the longest length (or a host upper bound: the lengths are read on the
// device). splits > 0 forces that many splits of the longest sequence (benchmarks). Throws
// std::invalid_argument on a bad shape. The split count n (chunks a multiple of
// kMlaTileTokens) minimises 0.7 T_equal(n) / min T_equal + 0.3 T_spread(n) / min T_spread
// over S = SMs slots (one CTA per SM), R = batch x heads / heads_per_cta CTAs per split,
// CTA cost C = chunk x 1152 + kMlaCtaOverheadBytes:
//   T_equal  = ceil(R n / S) C                      (every length = the bound)
//   T_spread = max(W / S, C) + kMlaTailFraction C,  W = R (L/2 x 1152 + A x overhead),
//              A = n - chunk n (n - 1) / (2 L) active splits per row
// each plus, when n > 1, the combine: kMlaCombineOverheadBytes + R n x partials / S.
MlaDecodeSplit mla_decode_split(int64_t batch, int heads, int64_t max_kv_len, int sm_count,
                                int splits = 0, MlaDecodeForm form = mla_decode_form());

struct MlaDecodeShape {
  int64_t batch = 0;
  int heads = 0, block_size = 0;
  std::vector<int64_t> kv_lens;  // [batch]
  int64_t max_kv_len() const;
  int64_t kv_tokens() const;
};
// batch, kv_len, kv_len_min [kv_len] (lengths spread evenly between), heads (a multiple of
// 16: 128 / TP), block_size [64] (tokens per cache page).
MlaDecodeShape parse_mla_decode(const ShapeParams& shape);

// The launch plan of "mla_decode" (format bf16) under `form`: the split kernel and the combine.
LaunchPlan plan_mla_decode(const std::string& format, const ShapeParams& shape, int sm_count,
                           int splits = 0, MlaDecodeForm form = kMlaDecodeForm);

}  // namespace quadrant::kernels::plan
