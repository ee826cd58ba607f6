// Launch plans without a GPU (issue 12's white-box cost models): for an op, format, shape
// (the ShapeParams names of make_op) and SM count, every kernel launch of one step as the
// kernels make it (the launchers call the same dispatch.h functions): grid, block, shared
// memory, the work items and their waves over the SMs, the path choices, and the bytes and
// FLOPs of each launch. Plain C++ (no CUDA headers), built in CI.
//
//   auto plan = quadrant::kernels::plan::plan_launches("decode_attention", "bf16",
//       {{"batch", 64}, {"kv_len", 4096}, {"heads", 32}, {"kv_heads", 8}, {"head_dim", 128}}, 132);
//   for (const auto& l : plan.launches) ... l.kernel, l.grid, l.waves, l.bytes ...
//
// Data-dependent plans: the MoE tile counts depend on the routing. Their launches carry
// expected = true and give the expectation under uniform random top-k routing (each expert
// takes each token with probability top_k / experts, independently across tokens: active
// experts E (1 - (1 - k/E)^T), m-tiles E x E[ceil(Binomial(T, k/E) / block_m)]).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/plan/dispatch.h"
#include "kernels/plan/shape.h"

namespace quadrant::kernels::plan {

struct KernelLaunch {
  std::string kernel;  // the kernel (or library call), template arguments in words
  int64_t grid = 0;    // CTAs launched (0: a library call or a memset: not ours to plan)
  int block = 0;       // threads per CTA
  int smem_bytes = 0;  // shared memory per CTA (dynamic + static)
  // Resident CTAs per SM the kernel is built for: its __launch_bounds__ minimum, or what
  // its shared memory allows (the compiled register count may allow more; ptxas -v says);
  // the d256 split-KV kernel's from its recorded registers (decode_split_ctas_per_sm).
  int ctas_per_sm = 1;
  bool persistent = false;    // grid = SMs, each CTA loops over tiles (the wgmma grouped GEMM)
  double work_items = 0;      // CTAs that do work (the rest exit at once), or persistent tiles
  double waves = 0;           // work_items / (SMs x ctas_per_sm)
  int64_t full_waves = 0;     // whole waves
  double last_wave_fill = 0;  // busy fraction of the last, partial wave (0: none)
  double flops = 0;           // useful FLOPs
  // Slots (SMs x ctas_per_sm) x the FLOPs of the busiest slot when the work items are dealt
  // in launch order to the slot that frees first, the FLOPs a CTA computes counted (padding
  // and masked tiles included): the critical path, >= flops. 0 where not planned (library
  // calls, helper kernels).
  double sched_flops = 0;
  double sched_bytes = 0;  // the same for the bytes the busiest slot's CTAs read and write
  double bytes = 0;        // the fewest bytes it must move through HBM (reads + writes)
  bool expected = false;   // counts from the expected routing, not exact
  // Per work item, where items differ: prefill attention, keys each query tile attends to
  // (heaviest first, the order the grid takes them; one entry per tile, for every head).
  std::vector<int64_t> item_keys;
};

struct LaunchPlan {
  std::string quadrant, format;
  std::string variant;  // the kernel variant the op reports as its name()
  int sm_count = 0;
  // Path choices and their parameters, in order: ("split_kv", 3), ("gemm_path_wgmma", 1), ...
  std::vector<std::pair<std::string, int64_t>> choices;
  std::vector<KernelLaunch> launches;
  std::vector<std::string> notes;  // what the plan cannot see
  double flops() const;
  double bytes() const;
  int64_t choice(const std::string& name) const;  // throws std::out_of_range if absent
};

// The rules of a plan that changed while cost models fitted on the plans stayed in use (issue
// 12): a model's features are computed under the rules it was fitted under (its file says
// which: calibration/fit.h, ModelFile::plan_rules), so that correcting a plan, or a kernel
// default moving, leaves a pinned model's predictions where they were. The kernels' own
// launch decisions do not read these (dispatch.h decides at run time); they only say which
// plan a model describes. A default PlanRules is the rules of today's plans.
//
//   PlanOptions o;
//   o.rules = PlanRules::legacy();  // the plans of kernels f7d6472, as the engine's pin was fitted
//   plan_launches("decode_ffn", "bf16", shape, 132, o);
enum class MoeMmaResidency {
  // The mma.sync MoE GEMMs' CTAs per SM: 16-row tiles (BF16 / FP8) and W4A8 by their shared
  // memory alone (4 / 4 / 8 per SM), 32-row tiles by moe_mma_ctas_per_sm: the plans of every
  // model fitted before session 10.
  kSharedMemory,
  // moe_mma_ctas_per_sm on every mma.sync path, what the registers CUPTI recorded allow:
  // 16-row BF16 3, FP8 2, W4A8 form 8 4 CTAs per SM.
  kRegisters,
};
// FP8 at decode sizes: the mma.sync grouped GEMM, or the wgmma decode GEMM with the weight rows as
// M (dispatch.h, moe_fp8_decode_wgmma).
enum class Fp8DecodeGemm { kMma, kWgmma };
// MLA decode's split kernel (mla_decode_plan.h): heads as the M of mma.sync tiles (kMma), or
// tokens as the M of wgmma tiles and heads as N (kWgmma: other head groups, chunks and grid).
// Default kWgmma since the twenty-first session: faster on all 12 timed rows of the H100
// (1.02-1.67x, kernels/PERF.md "twentieth session") and of the H200 (PERF.md "twenty-first
// session"), with the mla_decode profiles of every H200 set collected again under it.
enum class MlaDecodeForm { kMma, kWgmma };
inline constexpr MlaDecodeForm kMlaDecodeForm = MlaDecodeForm::kWgmma;
struct PlanRules {
  MoeMmaResidency moe_mma_residency = MoeMmaResidency::kRegisters;  // since session 10
  // Decode attention's split-KV chooser (dispatch.h): kBytes or kFluid, never kRunTime (a
  // model is fitted on one chooser, not on an environment variable).
  DecodeSplitModel decode_split = DecodeSplitModel::kBytes;
  // The W4A8 decode GEMM's form on the mma.sync path (dispatch.h, 1 .. kMoeW4Forms): the one
  // the kernels launch by default (kMoeW4DecodeForm) when the model's profiles were collected,
  // not QUADRANT_W4A8_DECODE_FORM (a benchmark switch). A model file names 8, 9, 10 or 11.
  int w4a8_decode_form = kMoeW4DecodeForm;
  // The W4A8 prefill path the kernels take by default (dispatch.h, kMoeW4PrefillDequant: the E4M3
  // copy, the producer, or the producer up to a number of rows per expert), not
  // QUADRANT_W4A8_PREFILL_DEQUANT (a benchmark switch).
  W4a8PrefillDequant w4a8_prefill_dequant = kMoeW4PrefillDequant;
  // The FP8 decode GEMM the kernels take by default (kMoeFp8DecodeWgmma), not
  // QUADRANT_FP8_DECODE_GEMM (a benchmark switch).
  Fp8DecodeGemm fp8_decode_gemm = kMoeFp8DecodeWgmma ? Fp8DecodeGemm::kWgmma : Fp8DecodeGemm::kMma;
  // MLA decode's form the kernels take by default (kMlaDecodeForm), not QUADRANT_MLA_DECODE_FORM
  // (a benchmark switch).
  MlaDecodeForm mla_decode_form = kMlaDecodeForm;
  // The rules of every model file written before files recorded them (kernels f7d6472 and
  // the plans until session 10): what a file without "plan_rules" was fitted under.
  static constexpr PlanRules legacy() {
    return {MoeMmaResidency::kSharedMemory, DecodeSplitModel::kBytes, 8,
            W4a8PrefillDequant::kScratch,   Fp8DecodeGemm::kMma,      MlaDecodeForm::kMma};
  }
  // (C++17: the .cu launchers include this header.)
  bool operator==(const PlanRules& o) const {
    return moe_mma_residency == o.moe_mma_residency && decode_split == o.decode_split &&
           w4a8_decode_form == o.w4a8_decode_form &&
           w4a8_prefill_dequant == o.w4a8_prefill_dequant && fp8_decode_gemm == o.fp8_decode_gemm &&
           mla_decode_form == o.mla_decode_form;
  }
};
// Every value a model file may name, and the names it uses: "shared_memory" / "registers",
// "bytes" / "fluid" (and the W4A8 decode form's number); rule_from_name returns false for an
// unknown name (the caller says where and lists these).
inline constexpr std::array<MoeMmaResidency, 2> kMoeMmaResidencyRules{
    MoeMmaResidency::kSharedMemory, MoeMmaResidency::kRegisters};
inline constexpr std::array<DecodeSplitModel, 2> kDecodeSplitRules{DecodeSplitModel::kBytes,
                                                                   DecodeSplitModel::kFluid};
// The W4A8 decode forms a model file may name: the default of session 10 (8), the forms
// measured beside it (9, 10) and the wgmma forms (11; 12-14, nineteenth session, so that a model
// refitted under one of them reads back).
inline constexpr std::array<int, 7> kW4a8DecodeFormRules{8, 9, 10, 11, 12, 13, 14};
inline constexpr std::array<W4a8PrefillDequant, 3> kW4a8PrefillDequantRules{
    W4a8PrefillDequant::kScratch, W4a8PrefillDequant::kProducer, W4a8PrefillDequant::kByRows};
inline constexpr std::array<Fp8DecodeGemm, 2> kFp8DecodeGemmRules{Fp8DecodeGemm::kMma,
                                                                  Fp8DecodeGemm::kWgmma};
inline constexpr std::array<MlaDecodeForm, 2> kMlaDecodeFormRules{MlaDecodeForm::kMma,
                                                                  MlaDecodeForm::kWgmma};
const char* rule_name(MoeMmaResidency r);
const char* rule_name(DecodeSplitModel m);
const char* rule_name(W4a8PrefillDequant d);  // "scratch" / "producer" / "by_rows"
const char* rule_name(Fp8DecodeGemm g);       // "mma" / "wgmma"
const char* rule_name(MlaDecodeForm f);       // "mma" / "wgmma"
bool rule_from_name(const std::string& name, MoeMmaResidency& out);
bool rule_from_name(const std::string& name, DecodeSplitModel& out);
bool rule_from_name(const std::string& name, W4a8PrefillDequant& out);
bool rule_from_name(const std::string& name, Fp8DecodeGemm& out);
bool rule_from_name(const std::string& name, MlaDecodeForm& out);
// "moe_mma_residency registers, decode_split bytes, w4a8_decode_form 8, w4a8_prefill_dequant
// scratch, fp8_decode_gemm mma": the rules as the model files name them, for tables and notes.
std::string rules_description(const PlanRules& r);
// The rules in which `fitted` differs from `kernels`, as "w4a8_decode_form 10 (kernels: 12)",
// comma-separated; "" when they agree.
std::string rules_difference(const PlanRules& fitted, const PlanRules& kernels);

// Benchmark-only switches the ops read from the environment (QUADRANT_PREFILL_ATTN_VARIANT,
// QUADRANT_DECODE_ATTN_MMA); the defaults are the ops' defaults. rules: the plan rules above.
struct PlanOptions {
  int prefill_variant = -2;  // kDefaultVariant
  bool decode_tensor_cores = true;
  PlanRules rules;
};

// quadrant: prefill_attention, decode_attention, prefill_ffn, decode_ffn, dense_gemm;
// format: bf16, fp8, w4a8 (FFN), bf16_cublaslt (FFN). Throws std::invalid_argument for what
// make_op would reject.
LaunchPlan plan_launches(const std::string& quadrant, const std::string& format,
                         const ShapeParams& shape, int sm_count, const PlanOptions& options = {});

// Resident CTAs per SM of the CUDA-core split-KV kernel (decode_attention.cu,
// decode_attention_split_kernel<kv, head_dim, heads_per_cta>, 128 threads). Its
// __launch_bounds__ asks for at least 3 (2 at 8 heads per CTA), and at head dim 64 (155-240
// registers per thread) that is what fits; at head dim 256 the compiled kernels use fewer
// registers (CUPTI's record in every committed H200 profile, sm_90: 77 / 111 BF16, 95 / 116
// E4M3 at 1 / 2 heads per CTA), so 6 / 4 and 5 / 4 CTAs fit in an SM's 64K registers, and
// their 4-8 KB of shared memory does not bind. Kernels without a record keep the bound.
int decode_split_ctas_per_sm(int head_dim, bool fp8, int heads_per_cta);

// Expected routing of `tokens` tokens, top_k of `experts` each, uniform at random.
struct ExpectedRouting {
  double active_experts = 0;  // experts with at least one row
  double m_tiles = 0;         // sum over experts of ceil(rows / block_m)
};
ExpectedRouting expected_routing(int64_t tokens, int top_k, int experts, int block_m);

}  // namespace quadrant::kernels::plan
