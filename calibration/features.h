// The features a fitted cost model sees, computed the same way from a profiled kernel
// shape (its make_op parameters) and from the simulator's QuadrantShape, so that the
// model is queried with exactly what it was fitted on.
//
// A quadrant's kernels cover its core: the attention kernel (scores and values over the
// KV cache) and the routed experts' grouped GEMMs. The rest of a QuadrantShape's work
// (attention projections, shared experts, router; dense FFNs) is GEMM work, costed by the
// dense_gemm component on the residual FLOPs and bytes.
#pragma once

#include <string>

#include "calibration/profile.h"
#include "kernels/plan/launch_plan.h"

namespace quadrant::calibration {
class LtPlanTable;
}
#include "sim/cost/cost_model.h"

namespace quadrant::calibration {

struct Features {
  double flops = 0;
  double padded_flops = 0;  // FLOPs with each expert's rows rounded up to a 128-row tile
  double bytes = 0;
  // Independent work units the kernels spread over the SMs (decode attention: sequences x
  // KV heads; prefill attention: 128-row query tiles x query heads; grouped GEMM: 128-row tiles
  // over the active experts; GEMM: 128x128 output tiles); 0 when unknown (the residual GEMM work of
  // a QuadrantShape). Small values leave SMs idle, which FLOPs and bytes alone do not show.
  double parallelism = 0;
  // The dense GEMM's weight matrix: output columns n and reduction depth k; 0 for other ops and
  // for a QuadrantShape's residual GEMM work (not itemised). cuBLASLt's heuristic picks the
  // kernel (tile, split-K, cluster) per shape, erratically in m but alike for one weight
  // matrix, so the shapes of one (n, k) share residuals that FLOPs, bytes and work units do not
  // show (calibration/README.md: "Dense GEMM neighbours by their weight matrix").
  double gemm_n = 0;
  double gemm_k = 0;
  // FLOPs of the largest work unit (prefill attention: the last 128-row query tile of a
  // sequence, which attends to its whole prefix and chunk), 0 when units are alike or
  // unknown. With few units, one SM working through the largest sets the time: the
  // critical path the totals do not show.
  double unit_flops = 0;
  // The launch plan (kernel_plan.h): slots x FLOPs and bytes of the busiest SM slot under
  // the kernel's schedule, rounds of CTAs over the slots, bytes of the helper kernels. 0
  // when unknown (the residual GEMM work of a QuadrantShape).
  double sched_flops = 0;
  double crit_bytes = 0;
  double waves = 0;
  double aux_bytes = 0;
  // Bytes one warp of a helper kernel reads one after another: the split-KV combine merges
  // each (sequence, head) row's partials in one warp, so the row of the most splits is a
  // serial path that the helper's total bytes (spread over the GPU) do not show. 0 when
  // no helper has one.
  double serial_bytes = 0;
  // Operand bytes read again by later tiles, counted once in `bytes`; the L2 serves only
  // part of the repeats. MoE FFN: expert weights read again by an expert's m-tiles beyond
  // its first (each m-tile's CTAs stream their expert's whole weight slice): (m-tiles -
  // active experts) x one expert's gate/up and down weight bytes. Prefill attention: K/V
  // read again by a sequence's query tiles beyond its first (each tile reads every key up
  // to its diagonal): (sum over tiles of their keys - keys of the sequences) x KV heads x
  // (head_dim + v_head_dim) x element bytes; without GQA sharing (MLA: a KV head per query
  // head) these re-reads outgrow the L2 and the compulsory bytes miss the kernel's HBM
  // traffic. 0 for other ops.
  double reread_bytes = 0;
  // Decode attention: rounds of the split kernel's CTAs over its slots times the query heads
  // each CTA takes (its GQA group, at most 8). A CTA's work that does not grow with its KV
  // tokens grows with its heads: loading and scaling their queries, the warps' merge of GB x
  // head_dim partial outputs in shared memory, the write of its output or partial. Same
  // launch grid and KV, 4 heads per CTA instead of 1 (H200 FP8, 32 x 256-1024 tokens): 1.5-2.3
  // us slower in one round, 3.9-4.6 us in two, whatever the KV length. 0 for other ops.
  double head_rounds = 0;
  // Decode attention (GQA and MLA): CTAs of the split kernel's grid that find no work, over
  // its slots. The grid is max splits x head groups x sequences; with mixed lengths a shorter
  // sequence's later splits exit at once, but each still takes a slot in launch order (split
  // fastest) for its launch, a length read and its exit, delaying the working CTAs queued
  // behind it. 0 for other ops and for sequences alike.
  double empty_waves = 0;
};

// "prefill_attention", "prefill_ffn", "decode_attention", "decode_ffn".
const char* component_name(Quadrant q);
// "bf16", "fp8", "w4a8" (int8 is profiled as w4a8's activations: the caller decides).
const char* format_name(NumberFormat f);

// The kernel variant a shape runs on, where one op dispatches to kernels of different
// speed by a shape parameter the features do not see: attention by head dims ("d128",
// "d192v128": MLA), the MoE FFN by its GEMM path ("wgmma" at 48+ rows per expert,
// "mma16" below; W4A8 "wgmma-int4" where the plan rules dequantise in the producer:
// moe_ffn_variant), "" for dense GEMMs. A model is fitted per variant.
std::string kernel_variant(const QuadrantShape& s, const kernels::plan::PlanRules& rules);

// The core work of a shape (attention kernel, or the routed experts; zero for dense FFNs),
// its sequences taken as alike (a QuadrantShape holds only sums). rules: the plan rules of
// the launch plans the features come from (a model's own: ModelFile::plan_rules).
Features core_features(const QuadrantShape& s, const kernels::plan::PlanRules& rules = {});
// core_features' FLOPs and bytes alone (no launch plan): cheap.
Features core_work(const QuadrantShape& s);
// The same two numbers without the rest of Features: the simulator's hot loop snaps every
// shape it costs on them (calibrated_cost_model.cc).
struct CoreWork {
  double flops = 0, bytes = 0;
};
CoreWork core_flops_bytes(const QuadrantShape& s);
// Everything of the shape that is not its core, as GEMM work (never negative). lt: the GPU's
// recorded cuBLASLt plans (lt_plan.h), else the assumed 128 x 128 tiling.
Features residual_gemm_features(const QuadrantShape& s, const Features& core,
                                const LtPlanTable* lt = nullptr);

// The experts a profiled MoE FFN shape's routing reaches: the collector's seeded router
// logits (kernels/src/moe_ffn.cu, seed 1) replayed on the CPU, top_k per token.
int profiled_active_experts(int64_t tokens, int64_t experts, int64_t top_k);
// Rows each expert receives under that routing (tokens x top_k in all).
std::vector<int64_t> profiled_expert_rows(int64_t tokens, int64_t experts, int64_t top_k);

// The QuadrantShape a profiled op stands for (quadrants only, not dense_gemm). Unknown or
// missing parameters are InputErrors naming `where` (file) and `path`.
QuadrantShape shape_from_params(const std::string& quadrant, const ProfileShape& p,
                                const std::string& where, const std::string& path);
// Features of a profiled shape, any component (dense_gemm: 2mnk and its operands' bytes);
// the launch plan sees each sequence's own length, as the kernels do. lt: the dense GEMM's
// plan is cuBLASLt's recorded choice (lt_plan.h), else the assumed 128 x 128 tiling.
Features profile_features(const std::string& quadrant, const ProfileShape& p,
                          const std::string& where, const std::string& path,
                          const LtPlanTable* lt = nullptr,
                          const kernels::plan::PlanRules& rules = {});
// Features of a dense GEMM of m x n x k (element_bytes 2: BF16, 1: FP8), on lt's plan or
// the assumed one.
Features dense_gemm_features(double m, double n, double k, const std::string& format,
                             const LtPlanTable* lt = nullptr);
// The kernel variant of a profiled shape ("" for dense_gemm) under the plan rules.
std::string profile_variant(const std::string& quadrant, const ProfileShape& p,
                            const std::string& where, const std::string& path,
                            const kernels::plan::PlanRules& rules);

}  // namespace quadrant::calibration
