// The launch structure of the quadrant kernels for a shape, computed on the host without
// CUDA: how many CTAs each kernel launches, how many run at once, how the work is dealt
// to the SMs (the busiest SM's share sets a kernel's time when the work does not divide
// evenly), and the bytes of the helper kernels around the main one. The fitted cost
// models are functions of these quantities (white-box: a per-wave and per-tile cost, a
// fixed overhead, the bytes of helper kernels), so that a shape never profiled is
// predicted from the structure that sets its time, not from its neighbours.
//
// Each plan mirrors the launcher named beside it (kernels/src/*.cu at the profiled
// revision); tests/calibration/kernel_plan_test.cc checks the CTA counts against the
// grids CUPTI recorded in the committed profiles.
//
//   KernelPlan p = decode_attention_plan({4096, 4096}, 32, 8, 128, 2);
//   p.ctas;          // split-KV CTAs: splits x head groups x sequences
//   p.sched_flops;   // slots x FLOPs of the busiest slot (>= the op's FLOPs)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/plan/dispatch.h"
#include "kernels/plan/launch_plan.h"

namespace quadrant::calibration {

// H100 SXM and H200: 132 SMs. A model derived for another GPU keeps the calibrated one's.
inline constexpr int kPlanSms = 132;

struct KernelPlan {
  std::string path;         // the code path the launcher picks ("wgmma", "mma16", ...)
  double ctas = 0;          // CTAs (or work items of a persistent kernel) of the main kernels
  double slots = 0;         // CTAs resident at once: SMs x CTAs per SM
  double waves = 0;         // rounds of CTAs over the slots (the last one partial)
  double sched_flops = 0;   // slots x FLOPs (scheduled, padding included) of the busiest slot
  double crit_bytes = 0;    // slots x bytes the busiest slot reads
  double aux_bytes = 0;     // bytes of helper kernels (split-KV combine, V transpose, routing)
  double serial_bytes = 0;  // bytes one helper warp reads in sequence (features.h)
  double head_rounds = 0;   // decode attention: rounds x query heads per CTA (features.h)
};

// decode_attention.cu: split-KV over a paged cache. kv_lens: one per sequence.
// kv_bytes: bytes per cached element (2 BF16, 1 FP8). v_dim: cached value elements per
// token and KV head besides the keys (head_dim for GQA; 0 for MLA's latent, which serves
// as both: a shape the kernels do not run, planned as if they did). split_model: the split-KV
// chooser of the plan rules (kernels/plan/launch_plan.h, PlanRules).
KernelPlan decode_attention_plan(
    const std::vector<int64_t>& kv_lens, int heads, int kv_heads, int head_dim, double kv_bytes,
    int v_dim = -1,
    kernels::plan::DecodeSplitModel split_model = kernels::plan::DecodeSplitModel::kBytes);

// prefill_attention.cu / sm90_prefill_attention.cu: query tiles (heaviest first) x heads,
// one CTA each. q_lens: new tokens per sequence; fp8 picks the FP8 kernels.
KernelPlan prefill_attention_plan(const std::vector<int64_t>& q_lens, int64_t prefix, int heads,
                                  int kv_heads, int qk_dim, int v_dim, bool fp8);

// moe_ffn.cu: routing, gather, two grouped GEMMs (the persistent wgmma kernel at 48+ rows
// per expert, else 16-row mma.sync tiles), combine. rows: token-expert pairs, experts:
// experts that receive them (rows spread over them at random), tokens: tokens routed.
// format: "bf16", "fp8", "w4a8". rules: the model's plan rules (launch_plan.h, PlanRules): the
// mma.sync GEMMs' CTAs per SM, 4 under the legacy residency, moe_mma_ctas_per_sm under the
// register one (BF16 3, FP8 2, W4A8 form 8 4).
KernelPlan moe_ffn_plan(double rows, int experts, double tokens, int hidden, int intermediate,
                        const std::string& format, const kernels::plan::PlanRules& rules);
// The path moe_ffn.cu takes: "wgmma" at 48 or more rows per expert, else "mma16".
const char* moe_ffn_path(double rows, int experts);
// The kernels a MoE FFN step runs, as the model tells them apart: moe_ffn_path, and W4A8 on
// wgmma with the INT4 dequantised in the GEMM's producer (the rule w4a8_prefill_dequant)
// "wgmma-int4": no copy pass, and the conversion in every CTA, which sets the time of a step
// of few CTAs (calibration/README.md "The eighteenth session: the defaults moved").
const char* moe_ffn_variant(double rows, int experts, const std::string& format,
                            const kernels::plan::PlanRules& rules);

// dense_gemm.cu runs cuBLASLt, whose tile choice is not ours: 128 x 128 output tiles
// over the SMs is the assumption (the fit judges it against plain FLOPs).
KernelPlan dense_gemm_plan(double m, double n, double k, double element_bytes);

// E[ceil(X / tile)] for X ~ Binomial(n, 1 / bins): the expected tiles of one bin (expert)
// when n rows fall uniformly at random into `bins` bins.
double expected_tiles_per_bin(double n, double bins, double tile);

}  // namespace quadrant::calibration
