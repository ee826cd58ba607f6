// The kernels' path choices and launch geometry, in plain C++ (no CUDA): the .cu launchers
// call these functions to decide what to run, and the launch plans (launch_plan.h) call the
// same ones to say what would run, so that a plan without a GPU is the plan the kernels use.
// tests/kernels/plan/dispatch_test.cc pins the choices in a table.
#pragma once

#include <cstdint>
#include <vector>

namespace quadrant::kernels::plan {

// ---- decode attention (split-KV flash decoding over a paged cache) ----
inline constexpr int kDecodeThreads = 128;  // threads per split CTA (4 warps)
inline constexpr int kDecodeGranule = 64;  // a split's tokens are a multiple of this (4 warps x 16)
inline constexpr int kDecodeMaxSplits = 256;
// The split count's cost model (decode_attention_split), in bytes streamed by one CTA slot,
// fitted to the H200 sweeps of fixed split counts (PERF.md; kernels/results/decode_run1_sweep.*
// at tight bounds, engine_run1_* at quadrant-engine's loose ones): a CTA's fixed cost (launch,
// Q, the cp.async ring's fill, the merge: mostly one loaded memory latency that a short CTA
// cannot hide), the combine launch's, and the tail left when lengths differ (a fraction of a
// chunk: 0.5; 1.5 fits both sweeps better, 0.953 of the best fixed count on average against
// 0.934, and takes 4 splits for quadrant-engine's batches 24..112 at its bound of 8192 where
// 0.5 takes 2 at 64 and 96, 13-16% slower: off until calibration re-collects
// decode_attention). The host knows only a bound of the
// longest length (a serving engine passes its graph's power of two), so the choice hedges
// between all lengths equal to it and lengths spread evenly below it, weighted 0.7 / 0.3.
inline constexpr double kDecodeCtaOverheadBytes = 192 * 1024;
inline constexpr double kDecodeCombineOverheadBytes = 32 * 1024;
inline constexpr double kDecodeTailFraction = 0.5;
inline constexpr double kDecodeSpreadWeight = 0.3;
// The "fluid" split chooser (split_kv.h, split_kv_chunk_fluid; selectable, not the default:
// QUADRANT_DECODE_ATTN_SPLIT_MODEL=fluid, benchmarks only; a model file records the chooser
// its features were computed under, "plan_rules" (launch_plan.h, PlanRules), and a file
// without it was fitted under the byte model): a simulation of the launch's CTAs
// sharing HBM, its constants fitted (least squares in log time) to the H200 sweep of split
// counts 1-24 at the 10 standard rows under form 15 (kernels/results/decode_run5_*, PERF.md
// sixth session): a CTA's fixed time, one CTA's streaming rate (BF16, E4M3), HBM bandwidth,
// the combine's fixed and per-split time, the spread case's weight.
inline constexpr double kDecodeFluidCtaUs = 1.971;
inline constexpr double kDecodeFluidRateBf16 = 31152;  // bytes/us
inline constexpr double kDecodeFluidRateE4m3 = 17538;
inline constexpr double kDecodeFluidBandwidth = 4.2154e6;  // bytes/us
inline constexpr double kDecodeFluidCombineUs = 8.757;
inline constexpr double kDecodeFluidCombineUsPerSplit = 0.979;
inline constexpr double kDecodeFluidSpreadWeight = 0.5;
// QUADRANT_DECODE_ATTN_SPLIT_MODEL: "" or "bytes" the default (the byte model above), "fluid".
bool decode_split_model_fluid();
// The split chooser as a value: the kernels take the run-time one (kRunTime: the variable
// above); a launch plan that must follow a fitted cost model names the chooser the model was
// fitted under (launch_plan.h, PlanRules), whatever the environment says.
enum class DecodeSplitModel { kRunTime, kBytes, kFluid };
// QUADRANT_DECODE_ATTN_SPLIT_SLOTS: the CTA slots the CUDA-core split kernel's split count is
// sized for (the byte model's S below): "" or "bound" the default, SMs x decode_ctas_per_sm
// (its __launch_bounds__ minimum, 3); "resident", SMs x decode_split_ctas_per_sm
// (launch_plan.h: at head dim 256 with 1 / 2 heads per CTA the registers fit 6 / 4 BF16, 5 / 4
// E4M3 CTAs per SM; elsewhere the bound). The tensor-core kernel (head dim 128) is unaffected.
bool decode_split_slots_resident();

// The head-dim-128 tensor-core kernel's form (decode_attention.cu), a sum of: 1 the combine
// launched with programmatic dependent launch (its CTAs start while the split kernel's last
// CTAs finish, then wait for them: one launch gap less); 2 the block-table entry of a warp's
// next 16-token step loaded one step ahead (pages of a power of two >= 16 tokens; else per
// row as before), so that no table load stands between a step and its copies; 4 P V taken as
// O^T = V^T P^T, the CTA's heads as the N of 8 instead of the M of 16 (rows 8..15 and those
// past the GQA group were zeros): 8 instead of 16 mma per 16-token step, 32 accumulator
// registers instead of 64; 8 (with 4) S = Q K^T taken as S^T = K Q^T likewise, P brought
// back to head rows by two movmatrix transposes: 8 instead of 16 mma. Launch geometry, split
// counts and results (up to the summation order) are the same in forms 0..15; 16 (E4M3 KV,
// with 14) 3 cp.async stages instead of 4 and 4 CTAs per SM instead of 3 (128 registers):
// more slots, so other split counts; 32 (with 14) no combine launch: the last split CTA of a
// (sequence, head group) to arrive, counted by an atomic in the workspace (zeroed by a memset
// node before the split kernel), merges the group's partials itself (issue 15, sixth session:
// at batch 16 the combine launch was 10-14% of the step); 64 (without 32) the combine's loads
// issued at once: the length before its wait, the log-sum-exps and the first 8 splits'
// partials before the split count is known (one memory round trip after the split kernel
// instead of four: the same bits); 128 (with 14, without 16 and 32) a lazy rescale: a warp's
// running maxima (and its accumulators, by the corrections) move only when a step's maximum
// passes them by more than 8 in log2 units, so that most steps skip the 32 multiplies and the
// corrections (the exponentials stay <= 2^8; as exact a softmax, other rounding). 64 and 128
// keep the plan (tests DecodeAttentionForms.*); 256 (with 14) the copy issue specialised once
// per CTA: where pages are a power of two of >= 16 tokens the step loop runs a path whose
// copies are straight-line address arithmetic (a lane's row offset and the row stride computed
// once, one table entry a step), else one with the per-row table lookups; no per-row branch
// between the two inside the loop (the same bytes copied to the same slots: the same bits).
// With 256, 16 may come with 128 (E4M3: the lazy rescale at 4 CTAs per SM); 512 (with 256,
// BF16 KV; E4M3 ignores it) 2 cp.async stages instead of 3 (64 KB) and 3 CTAs per SM instead of
// 2 (at most 168 registers): 12 warps per SM instead of 8, so other split counts. 1024 (with
// 256, not with 16 or 512) each lane loads one of 32 steps' page entries at once (the next 32
// a batch ahead) and a step takes its entry by __shfl_sync: no step waits on a global load for
// its entry; 2048 (with 256, not with 16 or 512) the warps' merge weights (max, exp2f, the l
// sum) computed once per (head, warp), not per output; both keep the arithmetic: 207's bits.
// 4096 (with 2048) the warps' accumulators written to the merge scratch as 16-byte vectors, the
// 16-byte chunks of a head's row permuted by the head (an XOR), so that no two lanes of a
// quarter warp hit one bank (3535 writes them one float at a time, 16 lanes on one bank at
// E4M3, 8 at BF16); the merge reads them through the same permutation: the same sums, 3535's
// bits, the same launches. QUADRANT_DECODE_ATTN_FORM=0..8191 (8 only with 4, 16 and 32 only
// with 14, 64 not with 32, 128 only with 14 and not with 32, nor with 16 unless with 256, 256
// only with 14, 512 only with 256, 1024 and 2048 only with 256 and not with 16 or 512, 4096
// only with 2048) overrides it (benchmarks only).
// Default 15 from the fifth session to the tenth: against form 0 in one H200 run
// (kernels/results/decode_run3_*, copy 4.260 TB/s) 1-18% faster on every standard row (E4M3 b64
// kv4096 171.5 -> 156.6 us, mixed 191.4 -> 165.2; BF16 mixed 313.8 -> 285.5), where 16 lost the
// mixed row to its other split counts (179.0 us). Default 207 (15 + 64 + 128) since the eleventh
// session: against 15 in one H200 call (kernels/results/eleventh_run1_*, two passes alternated)
// every batch-16 standard row faster in both passes (E4M3 kv4096 32/4 34.5 -> 33.1 us, -4.1 /
// -4.9%; kv2048 -2.7 / -3.7%; kv128..8192 44.3 -> 41.8, -5.6 / -6.1%; BF16 -1.6..-2.9%), batch 64
// E4M3 -1.5.. -5.7%, BF16 within the passes' spread (+0.3% at most, main's binary against this
// one's form 15 0.8%). Default 3535 (207 + 256 + 1024 + 2048, the same launch plan and bits)
// since the thirteenth session: against 207 in one H200 call of the twelfth
// (kernels/results/twelfth_b_run1.txt, two passes alternated) every batch-16 standard row faster
// in both passes (BF16 -2.9..-6.1% at fixed lengths, -10..-13% mixed; E4M3 kv4096 -5.7 / -6.3%,
// kv2048 -2.1 / -2.4%, mixed -12 / -16%), batch 64 within 207's spread (kernels/PERF.md).
// Default 7631 (3535 + 4096, the same launch plan and bits) later that session: against 3535 in
// one H200 call (kernels/results/thirteenth_run1.txt, four passes alternated) E4M3 b16 kv4096
// 0.904 / 0.892, kv2048 0.950 / 0.950, mixed 0.918 / 0.915, BF16 b16 0.960-0.985, batch 64
// 0.979-1.001, no row slower beyond 0.1% in any pass.
inline constexpr int kDecodeAttnForm = 7631;
// 8192 (with 1024 and 4096; issue 15, fourteenth session) with fixed chunks (min_chunk < 0)
// a CTA's page entries, Q and KV scales loaded together with the length, not after it (a
// CTA's start does not depend on the length): one dependent memory round trip less before the
// first copy; the entries of steps past the length are loaded, never used: 7631's bits, the
// same launches. 16384 (with 2048) the split's output scaled by one factor per head (the V
// scale over the softmax sum, and its log-sum-exp, computed once) instead of a division per
// output: other rounding (within the reference's tolerance), the same launches.
// QUADRANT_DECODE_ATTN_FORM may also name 8192 and 16384 so (benchmarks only). One H200 call
// (kernels/PERF.md, fourteenth session): 32207 (7631 + both) 3-5% faster than 7631 on the
// batch-16 fixed-length rows, but 8192 (15823) 3-4% slower on BF16 b16 mixed; 24015 (7631 +
// 16384) not yet run.
inline constexpr int kDecodeAttnForms = 32768;
constexpr bool decode_attention_form_valid(int form) {
  return form >= 0 && form < kDecodeAttnForms && (form & 12) != 8 &&
         (!(form & 16) || (form & 14) == 14) && (!(form & 32) || (form & 14) == 14) &&
         (form & 96) != 96 &&
         (!(form & 128) || ((form & 46) == 14 && (!(form & 16) || (form & 256)))) &&
         (!(form & 256) || (form & 14) == 14) && (!(form & 512) || (form & 256)) &&
         (!(form & 3072) || ((form & 256) && !(form & 528))) && (!(form & 4096) || (form & 2048)) &&
         (!(form & 8192) || (form & 5120) == 5120) && (!(form & 16384) || (form & 2048));
}
// Form 32 on the tensor-core kernel: the split CTAs merge, no combine kernel runs.
constexpr bool decode_fused_combine(bool tensor_cores, int form = kDecodeAttnForm) {
  return tensor_cores && (form & 32) != 0;
}
int decode_attention_form();
// Head dim 128 on tensor cores (decode_attention_mma_kernel): each lane copies, per 16-token
// step, the 16-byte vectors it will itself read (K: 2 tokens x 64 B BF16 / 32 B E4M3; V: 4
// tokens x 32 B / 16 B) into its own shared-memory slots through a cp.async ring of stages.
constexpr int decode_mma_vecs(bool fp8) {
  return fp8 ? 8 : 16;
}
constexpr int decode_mma_stages(bool fp8, int form = kDecodeAttnForm) {
  return fp8 ? (form & 16 ? 3 : 4) : (form & 512 ? 2 : 3);
}
constexpr int decode_mma_smem_bytes(bool fp8, int form = kDecodeAttnForm) {
  return decode_mma_stages(fp8, form) * (kDecodeThreads / 32) * decode_mma_vecs(fp8) * 32 * 16;
}
// Resident split CTAs per SM: the mma kernel's stages (BF16 96 KB: 2, form 512 64 KB: 3; E4M3
// 64 KB: 3, form 16 48 KB: 4), the CUDA-core kernel's launch bounds (3, or 2 with 8 heads per
// CTA).
constexpr int decode_ctas_per_sm(bool tensor_cores, bool fp8, int heads_per_cta,
                                 int form = kDecodeAttnForm) {
  if (tensor_cores) return fp8 ? (form & 16 ? 4 : 3) : (form & 512 ? 3 : 2);
  return heads_per_cta >= 8 ? 2 : 3;
}
inline constexpr int kDecodeCombineRows = 4;  // (sequence, head) rows per combine CTA, a warp each

struct DecodeSplit {
  int heads_per_cta = 0;      // query heads a CTA takes (a GQA group, at most 8)
  int chunk = 0;              // KV tokens per split of a sequence as long as the bound
  int max_splits = 0;         // splits of the longest sequence (grid x)
  bool tensor_cores = false;  // head dim 128: the mma.sync kernel (BF16 and E4M3 KV)
  int min_chunk = 0;          // decode_seq_chunk: > 0 the shortest balanced chunk, < 0 fixed
};
// The chunk of one sequence of `len` tokens (the split kernels and the combine on the device,
// the launch plans on the host). min_chunk > 0: its tokens cut into n = min(max_splits,
// ceil(len / min_chunk)) near-equal pieces, each a multiple of kDecodeGranule, so that a
// sequence below the host's bound is split as evenly as one at it (the longest CTA is len / n,
// not the bound's chunk); min_chunk <= chunk and chunk x max_splits >= the bound keep n <=
// max_splits. min_chunk < 0: every sequence in chunks of -min_chunk (the bound's chunk: the
// kernels' behaviour before the balance, kept while kDecodeBalancedChunks is off). len 0: no
// split runs (the combine writes zeros).
constexpr int decode_seq_chunk(int len, int min_chunk, int max_splits) {
  if (min_chunk < 0) return -min_chunk;
  if (len <= 0) return min_chunk;
  const int want = (len + min_chunk - 1) / min_chunk;
  const int n = want < max_splits ? want : max_splits;
  return ((len + n - 1) / n + kDecodeGranule - 1) / kDecodeGranule * kDecodeGranule;
}
constexpr int decode_seq_splits(int len, int min_chunk, int max_splits) {
  return len <= 0 ? 0
                  : (len + decode_seq_chunk(len, min_chunk, max_splits) - 1) /
                        decode_seq_chunk(len, min_chunk, max_splits);
}
// Balanced per-sequence chunks by default (min_chunk = chunk), or the bound's fixed chunk.
// Off until calibration re-collects decode_attention on them (the launch plans' work items
// change; the calibration profiles of H200 were taken on fixed chunks).
inline constexpr bool kDecodeBalancedChunks = false;
// max_kv_len: the longest KV length (or a host upper bound of it: the lengths themselves
// are read on the device). fp8: E4M3 KV. tensor_cores_allowed: false keeps head dim 128 on
// the CUDA-core kernel (benchmark comparison). splits > 0 forces that many splits of the
// longest sequence (benchmark comparison with the heuristic). min_chunk > 0 forces the
// shortest per-sequence chunk (benchmark comparison; 0: the heuristic's). Throws
// std::invalid_argument on a bad shape.
//
// The split count n (1 .. kDecodeMaxSplits, chunks a multiple of kDecodeGranule) minimises
// 0.7 T_equal(n) / min T_equal + 0.3 T_spread(n) / min T_spread over S = SMs x
// decode_ctas_per_sm slots, R CTAs per split, chunk bytes B = chunk x 2 x head_dim x element
// size and CTA cost C = B + kDecodeCtaOverheadBytes:
//   T_equal  = ceil(R n / S) C                     (every length = the bound: wave quantisation)
//   T_spread = max(W / S, C) + kDecodeTailFraction C,  W = R (L/2 x token bytes + A x overhead),
//              A = n - chunk n (n - 1) / (2 L) active splits per row (lengths uniform below L)
// each plus, when n > 1, the combine: kDecodeCombineOverheadBytes + R n x partial bytes / S.
// Ties go to fewer splits.
DecodeSplit decode_attention_split(int64_t batch, int heads, int kv_heads, int head_dim, bool fp8,
                                   int64_t max_kv_len, int sm_count,
                                   bool tensor_cores_allowed = true, int splits = 0,
                                   int min_chunk = 0,
                                   DecodeSplitModel model = DecodeSplitModel::kRunTime);

// ---- prefill attention ----
// Kernel variants: -1 the mma.sync kernel (FA2 structure); 0..10 the sm_90a wgmma kernel
// (sm90_prefill_attention.h: 2 = BF16 ping-pong, 4 = FP8 three consumer warpgroups; 8, 9 =
// 4 with a quarter / half of the softmax's ex2 on the FMA pipes; 10 = 4 with the softmax
// in turns).
inline constexpr int kPrefillMmaVariant = -1;
inline constexpr int kPrefillMaxVariant = 10;
// Consumer warpgroups of a wgmma variant: 3 for FP8's variants 4 .. 6, 8 .. 10 (FP8 only), else 2.
constexpr int prefill_consumers(bool fp8, int variant) {
  return fp8 && ((variant >= 4 && variant <= 6) || (variant >= 8 && variant <= 10)) ? 3 : 2;
}
// The consumer loop mode of a wgmma variant (sm90_prefill_attention.cu's kMode) and the
// kernel-name suffix it reports ("_wgmma_3wg_serial"; "_mma" for kPrefillMmaVariant).
int prefill_mode(int variant);
const char* prefill_variant_suffix(int variant);
int prefill_default_variant(bool fp8);
bool prefill_wgmma_supported(bool fp8, int head_dim, int v_head_dim);
// The variant that runs: `requested` (kDefaultVariant: the default) where the wgmma kernel
// covers the shape, else the mma.sync kernel.
inline constexpr int kDefaultVariant = -2;
int prefill_variant(bool fp8, int head_dim, int v_head_dim, int requested = kDefaultVariant);
// Query rows per CTA: 64 (mma.sync), 128 (wgmma, two consumer warpgroups) or 192 (fp8
// with three consumer warpgroups, prefill_consumers).
int prefill_tile_rows(bool fp8, int variant);
// Threads per CTA of the attention kernel.
int prefill_threads(bool fp8, int variant);
inline constexpr int kPrefillScaleBlock = 64;  // fp8: tokens per Q/K/V scale
inline constexpr int kPrefillVtTile = 128;     // fp8 wgmma: tokens per V^T tile

// Shared memory per CTA (bytes), as the kernels lay it out (each .cu static_asserts its own
// layout against these).
// mma.sync kernel: Q tile, two stages of K and V (64 rows each), fp8 its byte staging.
constexpr int prefill_mma_smem_bytes(bool fp8, int head_dim, int v_head_dim) {
  const int q = 64 * head_dim * 2, k = 64 * head_dim * 2, v = 64 * v_head_dim * 2;
  const int stage8 = fp8 ? 64 * (head_dim + v_head_dim) : 0;
  return q + 2 * (k + v) + (fp8 ? 64 * head_dim + 2 * stage8 : 0);
}
// wgmma kernel with `consumers` warpgroups of 64 query rows: Q, a ring of K/V stages (three
// where they fit, else two), 13 mbarriers and the 1024-byte alignment slack.
constexpr int prefill_wgmma_stages(bool fp8, int head_dim, int v_head_dim, int consumers) {
  const int boxes = head_dim * (fp8 ? 1 : 2) / 128;
  const int q = boxes * 64 * consumers * 128, k = boxes * 128 * 128;
  const int v = fp8 ? v_head_dim * 128 : (v_head_dim / 64) * 128 * 128;
  return q + 3 * (k + v) + 128 + 1024 <= 227 * 1024 ? 3 : 2;
}
constexpr int prefill_wgmma_smem_bytes(bool fp8, int head_dim, int v_head_dim, int consumers) {
  const int boxes = head_dim * (fp8 ? 1 : 2) / 128;
  const int q = boxes * 64 * consumers * 128, k = boxes * 128 * 128;
  const int v = fp8 ? v_head_dim * 128 : (v_head_dim / 64) * 128 * 128;
  return q + prefill_wgmma_stages(fp8, head_dim, v_head_dim, consumers) * (k + v) + 128 + 1024;
}

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
// Rows per m-tile of the device-side schedule for a path (mma.sync: moe_mma_block_m of the
// format: bf16, or w4_form the W4A8 decode form, 0 for BF16 / FP8).
int moe_block_m(MoeGemmPath path, int64_t tokens, int top_k, int experts, bool bf16 = false,
                int w4_form = 0);
// Rows per m-tile of the BF16 / FP8 mma.sync decode GEMMs (issue 15, ninth session): 16, or 32
// (a CTA computes an expert's two 16-row subtiles from one pass over its weight slice: each
// weight byte crosses L2 once per 32 rows instead of once per 16; the subtile past the tile's
// rows is skipped). QUADRANT_MOE_BLOCK_M: "" the defaults (kMoeMmaBlockMBf16 / Fp8), "16", "32",
// or "auto" (32 from kMoeMmaBlockM32RowsPerExpert rows per expert on average) for both formats,
// or "B,F" (BF16's, FP8's: "auto,16"). Same arithmetic per row
// either way (bitwise, tests/kernels). W4A8 (w4_form != 0) keeps 16: its 32-row form (two
// subtiles from one dequantisation, 125 registers, 2 CTAs per SM) was slower on the H200 at 64
// tokens (0.4225 against 0.3732 ms; PERF.md, ninth session; branch kernels-w4mt2-wip); form 14
// (kMoeW4WgTilesForm) takes "auto" whatever the setting.
// Defaults 16 (H200, results/tiles_run2_*): at 32 experts top-8, 7168/2048, BF16 "auto" with 5
// stages was 2.2-8.1% faster at 1-64 tokens (both passes), but in the re-collection under it the
// BF16 grid shapes on 32-row tiles were slower (geomean 1.014 decode, 1.033 prefill; up to 1.52x)
// wherever halving the CTAs leaves the SMs short (one to four experts: 1.10-1.19x), faster only
// with 528+ CTAs at 16 rows (0.86-0.96x); FP8 32 rows +3.2% at 64 tokens (ncu: L2 77% busy
// instead of 92%, DRAM 64% instead of 74%: half the CTAs streaming the same bytes).
inline constexpr int kMoeMmaBlockMAuto = 0;
inline constexpr int kMoeMmaBlockMBf16 = 16, kMoeMmaBlockMFp8 = 16;
inline constexpr int64_t kMoeMmaBlockM32RowsPerExpert = 12;
int moe_mma_block_m_setting(bool bf16);  // 16, 32 or kMoeMmaBlockMAuto
int moe_mma_block_m(int64_t rows, int experts, int w4_form, int setting);
inline int moe_mma_block_m(int64_t rows, int experts, bool bf16, int w4_form) {
  return moe_mma_block_m(rows, experts, w4_form, moe_mma_block_m_setting(bf16));
}
// m-tiles the schedule can produce at most: every expert may end in a partial tile.
int64_t moe_max_tiles(int64_t rows, int block_m, int experts);
inline constexpr int kMoeMaxExperts = 256;
inline constexpr int kMoeMmaBlockN = 128;  // mma.sync grouped GEMM: weight rows per CTA
inline constexpr int kMoeW4BlockN = 128;   // W4A8 register-dequant GEMM: 8 warps x 16 rows
// W4A8 decode form 11 (wgmma, weights as A; below): its number, ring stages, threads (a consumer
// warpgroup and a producer warp) and CTAs per SM (its launch bounds).
inline constexpr int kMoeW4WgForm = 11, kMoeW4WgStages = 4, kMoeW4WgThreads = 160,
                     kMoeW4WgCtasPerSm = 2;
// Form 12: form 11's kernel with the INT4 made E4M3 by a mask and a shift (the offsets taken off
// per row after the block's wgmmas, int4_e4m3.h int4x8_to_e4m3x8_offset).
inline constexpr int kMoeW4WgOffsetForm = 12;
// Form 13: form 12 with a consumer warpgroup per m64 half of the CTA's 128 weight rows (two
// warpgroups and the producer warp: twice the warps to hide each one's loads and conversions,
// half the A registers and sums a thread).
inline constexpr int kMoeW4WgHalvesForm = 13, kMoeW4WgHalvesThreads = 2 * 128 + 32;
// Form 14: form 13 on 32-row tiles (N up to 32) from kMoeMmaBlockM32RowsPerExpert rows per
// expert on average (moe_mma_block_m), 16-row ones below: each weight tile crosses L2 once per 32
// rows (FP8 on wgmma at 64 tokens, seventeenth session: 91.6% of copy on 32-row tiles, 77.4% on
// 16).
inline constexpr int kMoeW4WgTilesForm = 14;
// Forms 15 and 16: form 12 with a deeper ring, 6 and 8 stages (issue 15, twenty-sixth session).
// Form 12's four stages keep at most 2 x 4 x 8 KB of INT4 in flight an SM, half what the FP8
// wgmma kernel (98% of copy at 8 tokens on the H100) keeps with four 16 KB stages; ncu of form 12
// (twentieth session, H100) read DRAM 68-74% busy in the down GEMM, whose CTAs stream 16 k blocks
// each (a four-stage prologue is a quarter of them) and run 1.7 waves at one token. Eight stages
// (88 KB a CTA) still fit two CTAs an SM. Same wgmmas and folds in the same order: form 12's bits.
inline constexpr int kMoeW4WgDeep6Form = 15, kMoeW4WgDeep8Form = 16;
// Form 17: form 12 with each CTA's k blocks in a rotated order (twenty-sixth session, after two
// other forms numbered 17 were timed and removed: PERF.md). Form 12's CTAs stream their INT4
// tiles in lockstep from places kb_stride x 8 KB apart (448 KB at hidden 7168, 128 KB at 2048),
// all at one offset modulo that stride, where FP8's TMA boxes spread each request over 128 rows;
// ncu reads W4A8's GEMMs pulling less DRAM bandwidth while their SMs are busy (down at one token
// 71.5% against FP8's 80.3%). The rotation changes the order of the block sums, not the sums.
inline constexpr int kMoeW4WgRotateForm = 17;
// Form 18: form 12 with the INT4 tiles stored k block major, [e][k / 128][n / 128][8 KB] (the
// weight scales' order) where 12 stores [e][n / 128][k / 128]: the rotation (17) was slower, so
// the CTAs of an expert streaming one k block in step are made to read one contiguous run of
// tiles. Same wgmmas and folds in the same order: form 12's bits.
inline constexpr int kMoeW4WgKbMajorForm = 18;
// The forms on the wgmma decode GEMM (moe_decode_gemm_wg_kernel<int4>), their threads and stages.
constexpr bool moe_w4_wg_form(int form) {
  return form >= kMoeW4WgForm && form <= kMoeW4WgKbMajorForm;
}
constexpr int moe_w4_wg_threads(int form) {
  return form == kMoeW4WgHalvesForm || form == kMoeW4WgTilesForm ? kMoeW4WgHalvesThreads
                                                                 : kMoeW4WgThreads;
}
constexpr int moe_w4_wg_stages(int form) {
  return form == kMoeW4WgDeep6Form ? 6 : form == kMoeW4WgDeep8Form ? 8 : kMoeW4WgStages;
}
inline constexpr int kMoeWgmmaBlockN = 256;  // wgmma grouped GEMM
inline constexpr int kMoeWgmmaBlockM = 128;
inline constexpr int kMoeWgmmaThreads = 384;  // producer + two consumer warpgroups
inline constexpr int kMoeGemmThreads = 256;   // mma.sync grouped GEMMs (both)
// The weighted combine: a thread per 8 output columns of a token, CTAs of 128 threads.
inline constexpr int kMoeCombineThreads = 128;
constexpr int64_t moe_combine_ctas_per_token(int64_t hidden) {
  return (hidden / 8 + kMoeCombineThreads - 1) / kMoeCombineThreads;
}
inline constexpr int kMoeScheduleThreads = 32;  // the device-side tile schedule: one warp
// Routing (top-k, counts, schedule, scatter) as one CTA up to this many (token, expert) slots,
// else as a memset and four launches over the slots. H200 (results/engine_run1_ffn*.*, same
// run, checked): the one CTA is 0.6-4.4% faster up to 256 slots (1-32 tokens at top-8) and
// 1.3-7.6% slower from 384 (its top-k over one CTA's 32 warps, serial in the tokens). 256
// on since issue 15's eighth session, with calibration re-collected on it.
inline constexpr int kMoeFusedRouteThreads = 1024;
// QUADRANT_MOE_FUSED_ROUTE_SLOTS=N overrides the limit (benchmarks).
inline constexpr int64_t kMoeFusedRouteMaxSlots = 256;
bool moe_fused_route(int64_t tokens, int top_k);
// The mma.sync (decode-size) step's launches as one chain of programmatic dependent launches
// (route -> gather -> gate/up GEMM -> SiLU * up -> down GEMM -> combine; issue 15, seventh
// session): each kernel's CTAs start while the one before finishes and wait for its end with
// griddepcontrol.wait, and each GEMM, before that wait, loads its first weight stages (and asks
// L2 for a few more). Same arithmetic either way (bitwise, tests/kernels). H200
// (results/chain_run1_*; with the one-CTA routing): FP8 1 token 0.1159-0.1165 -> 0.1083 ms,
// BF16 0.2013-0.2117 -> 0.1928-0.1933, 8-64 tokens 0.1-3.6% faster, but W4A8 1 token 8% slower
// (0.1153-0.1159 -> 0.1248-0.1268; the one-CTA routing alone: 0.1113). With split-K
// (moe_split_k, W4A8's default since the eighth session) the chain is faster for W4A8 too
// (results/splitk_run1_*: 1 token 0.0874 ms against 0.0890 without it, 8 / 16 / 64 tokens
// 0.2653-0.2671 / 0.2682-0.2692 / 0.3583-0.3594 against 0.2692-0.2703 / 0.2704-0.2729 /
// 0.3629-0.3660): the chain is the default for every format. QUADRANT_MOE_PDL=0/1 overrides it
// for every format.
inline constexpr bool kMoePdlBf16Fp8 = true, kMoePdlW4a8 = true;
bool moe_pdl(bool w4a8);
// The weight tiles (k steps) past the first shared-memory stages that each decode GEMM CTA
// asks L2 for before its wait (QUADRANT_MOE_PREFETCH overrides, 0 .. 16; benchmarks). 0: the
// shared-memory stages alone (H200, chain_run1: 2 tiles within 1% of 0, 6 tiles 1-3% slower).
inline constexpr int kMoePrefetchTiles = 0;
int moe_prefetch_tiles();
// Split-K of the mma.sync (decode-size) grouped GEMMs (issue 15, eighth session): a GEMM's k
// range cut into `splits` near-equal runs of 128-deep k blocks, one CTA per (n block, m-tile,
// split) (grid z), each writing its FP32 sums to a partial buffer [rows][splits][n] instead of
// BF16 out; the kernel after it sums the splits in split order (SiLU * up for gate/up, the
// combine for down: no launch added, no atomics, deterministic) and rounds the sum to BF16
// where the GEMM's epilogue did, so only the FP32 summation order changes (one split: the
// plain launches' bits). Why: at one token a GEMM has few CTAs (gate/up 8 m-tiles x 32 n
// blocks = 256 on 132 SMs) and each streams its k range with a fixed depth of loads in flight
// (W4A8 form 8: one 8 KB k block of weights per CTA), so the bytes in flight per SM, not HBM,
// set the rate; more CTAs of shorter k ranges fill the slots the kernel's registers and shared
// memory allow. QUADRANT_MOE_SPLIT_K: "" the default (kMoeSplitKW4a8 for W4A8, kMoeSplitK for
// BF16 / FP8), "0" off, "auto" the rule of moe_split_k, "N" (1 .. kMoeSplitKMax) N splits of
// every mma.sync GEMM (at most one per k block; benchmarks and tests).
inline constexpr int kMoeSplitKMax = 8;
// The rule's shortest split: 4 k blocks (the three-stage ring's fill is one k block's latency).
inline constexpr int kMoeSplitKMinBlocks = 4;
inline constexpr int kMoeSplitKAuto = -1;
// Defaults: W4A8 the rule, BF16 / FP8 off. H200 (results/splitk_run1_*, 32 experts top-8,
// 7168/2048): the rule splits W4A8's gate/up at one token, 0.1248-0.1263 -> 0.0874 ms with
// the chain (0.1092-0.1097 -> 0.0890 without), and leaves 8-64 tokens and BF16 / FP8 unsplit
// there; BF16 / FP8 stay off where it would split them (fewer rows or columns), unmeasured.
inline constexpr int kMoeSplitKW4a8 = kMoeSplitKAuto;
inline constexpr int kMoeSplitK = 0;
int moe_split_k_setting(bool w4a8);  // 0 off, kMoeSplitKAuto, or N
// Resident CTAs per SM of the mma.sync decode GEMMs, by registers and shared memory (ptxas -v,
// sm_90a, nvcc 13.0, the build's log): moe_grouped_gemm_kernel<F, 16> 75 (BF16) / 122 (FP8)
// registers, allocated by 8 (80 / 128: 3 / 2 CTAs of 256 threads in 64 K), `stages` x 18 KB of
// stages (3: 55 KB, 4 CTAs; 5: 92 KB, 2); W4A8 forms 8 / 7 4 / 3 by their launch bounds (64 / 80
// registers), the others 2 (120-126).
inline constexpr int kMoeMmaGemmRegsBf16 = 75, kMoeMmaGemmRegsFp8 = 122;
constexpr int moe_mma_ctas_per_sm(bool bf16, int w4_form, int stages = 3) {
  if (w4_form == 8 || w4_form == 9 || w4_form == 10) return 4;
  if (moe_w4_wg_form(w4_form)) return kMoeW4WgCtasPerSm;
  if (w4_form == 7) return 3;
  if (w4_form != 0) return 2;
  const int regs = ((bf16 ? kMoeMmaGemmRegsBf16 : kMoeMmaGemmRegsFp8) + 7) / 8 * 8;
  const int by_regs = 65536 / (kMoeGemmThreads * regs);
  const int by_smem = (228 * 1024) / (stages * (16 * 128 + 128 * 128) + 1024);
  return by_regs < by_smem ? by_regs : by_smem;
}
// Forms with split-K: BF16 / FP8 (0) and the W4A8 register forms 2, 3, 6-8 (w4_v2_gemm).
constexpr bool moe_split_k_form(int w4_form) {
  return w4_form == 0 || w4_form == 2 || w4_form == 3 || w4_form >= 6;
}
// The splits of one mma.sync GEMM (n output columns, k deep) at `rows` = tokens x top_k rows
// over `experts`, on `sm_count` SMs: 0 = no split (BF16 out). Rule ("auto"): the working CTAs
// are at most C = n / 128 x min(rows, m-tiles) (a tile holds at least one row); the slots are
// S = sm_count x moe_mma_ctas_per_sm; take the most splits s <= kMoeSplitKMax with C s <= S
// (one wave: every CTA resident from the start, none waits for a slot) and k / 128 / s >=
// kMoeSplitKMinBlocks; s = 1 is no split. 32 experts top-8, hidden 7168, intermediate 2048 at
// one token on 132 SMs: gate/up C = 256, W4A8 form 8 S = 528 -> 2 splits of 28 k blocks, BF16
// (396) and FP8 (264) none; down C = 448 -> none.
int moe_split_k(int64_t rows, int experts, int64_t n, int64_t k, bool bf16, int w4_form,
                int sm_count, int setting);
// 32-row tiles (moe_mma_block_m) run unsplit.
inline int moe_split_k(int64_t rows, int experts, int64_t n, int64_t k, bool bf16, int w4_form,
                       int sm_count) {
  if (moe_mma_block_m(rows, experts, bf16, w4_form) != 16) return 0;
  return moe_split_k(rows, experts, n, k, bf16, w4_form, sm_count,
                     moe_split_k_setting(w4_form != 0));
}
// mma.sync grouped GEMM (16- or 32-row tiles): `stages` stages of A (bm x 128 bytes) and W (128
// x 128).
constexpr int moe_mma_smem_bytes(int block_m = 16, int stages = 3) {
  return stages * (block_m * 128 + 128 * 128);
}
// Shared-memory stages of the BF16 / FP8 mma.sync GEMMs (issue 15, ninth session): each CTA keeps
// stages - 1 k tiles (16 KB of weights each) of loads in flight. QUADRANT_MOE_STAGES: "N" (3 .. 6)
// for both formats or "B,F" (BF16's, FP8's); the defaults kMoeMmaStagesBf16 / Fp8. The CTAs per
// SM follow the shared memory (16 rows: FP8 2 up to 6 stages, BF16 3 up to 4, 2 at 5-6).
// Defaults 3 (H200, results/tiles_run2_*, 32 experts top-8, 7168/2048, both passes): BF16 5
// stages on 16 rows -8.1 / -2.8 / -2.0% at 1 / 8 / 16 tokens but +5.4% at 64, 4 stages +0.1..
// +2.5%; FP8 4 stages -0.6..-2.6% at every count, 5 -1.5..-2.7% but +0.9% at 64: none >= 3%
// on a row with no row slower (the landing rule).
inline constexpr int kMoeMmaStagesBf16 = 3, kMoeMmaStagesFp8 = 3, kMoeMmaStagesMax = 6;
int moe_mma_stages(bool bf16);
// W4A8 register-dequant GEMM: four stages of A (16 x 128 bytes), static.
constexpr int moe_w4_smem_bytes() {
  return 4 * 16 * 128;
}
// The W4A8 decode GEMM's form (moe_ffn.cu): 1 E4M3 activations converted to FP16 by each
// warp, INT4 -> FP16 by LOP3 + HSUB2 / HFMA2; 2 FP16 activations (the quantising kernels
// write the E4M3 values as FP16), LOP3 + HSUB2 per pair; 3 the same without the HSUB2, the
// offsets taken off per row after the MMA; 4, 5: 2, 3 with the weights streamed through a
// ring of cp.async stages in shared memory; 6: 3 with the k block's scales in the activation
// stages (cp.async, three k blocks ahead); 7, 8: 6 at 3 / 4 CTAs per SM (80 / 64 registers,
// 2 / 1 k blocks of weights prefetched). QUADRANT_W4A8_DECODE_FORM=1..14 overrides it
// (benchmarks only). Default 8 from the fifth session to the tenth: the fastest at 8-64 tokens
// and faster than 1 at every count measured (H200, decode_run3_ffn: 32 experts top-8,
// 7168/2048, 1 / 8 / 16 / 64 tokens form 1 116.5 / 360.9 / 363.0 / 485.4 us, form 8 113.8 /
// 275.0 / 276.3 / 365.2; form 6 is faster at one token, 103.1).
// 9: 8 with each warp's L2 requests for the weights kMoeW4Form9Ahead k blocks ahead (ninth
// session; not measured on its own: the run-time form of it gained 2.7% at 8 tokens in a binary
// whose loop the run-time test had slowed by 5%, results/tiles_run1_*).
// 10: 8 with a tile of at most 8 rows on the weights-as-A MMA (m16 = 16 weight columns, n8 = 8
// rows): half the MMAs and activation ldmatrix per k block (tenth session), form 8's bits and
// launch geometry. Default 10 since the eleventh session: against form 8 in one H200 call
// (kernels/results/tenth_run2_*, both passes) -4.9..-6.1% at 1 / 8 / 16 tokens (79.1 / 246.2 /
// 250.9 us against 83.6 / 262.2 / 264.9), 64 tokens -0.3 / +0.8% (form 8's path). The plans a
// model was fitted on name their form (launch_plan.h, PlanRules::w4a8_decode_form).
// 11: wgmma with A and B swapped (issue 15, seventeenth session; H200: 55-69% of copy at 1-16
// tokens, PERF.md): the CTA's 128 weight rows are two m64 A operands, the tile's tokens (8 or
// 16) the N; a producer warp streams each k block's 8 KB of INT4 (repacked in the A-register
// order, int4_e4m3.h) and its weight scales by bulk copies and the activation rows (E4M3) by TMA
// into a ring of stages; the consumer warpgroup turns the INT4 into E4M3 registers by byte
// permutes. E4M3 activations (no offset sums), form 10's tiles and split-K, the stages and CTAs
// below.
// 12: 11 with the INT4 nibbles stored so that a mask and a shift make them E4M3 operands (the
// nibble u = v + 8 as the E4M3 byte u, worth u x 2^-9: 3 instructions per 8 weights where the
// byte permutes take 11), and per token row and 128-deep block the activations' sum X (beside
// the scale, as forms 3 and 5-10 keep theirs) taken off each block's sums before they are scaled
// (issue 15, nineteenth session; no GPU lent, not yet run: the offset's arithmetic is checked on
// the host, int4_e4m3_test).
// 13: 12 with two consumer warpgroups, one per m64 half of the weight rows (288 threads, two CTAs
// an SM: 18 warps where 11 and 12 have 10; nineteenth session, not yet run).
// 14: 13 on 32-row tiles from kMoeMmaBlockM32RowsPerExpert rows per expert (nineteenth session,
// not yet run).
// 15, 16: 12 with 6 and 8 ring stages; 17: 12 with the k blocks rotated by CTA; 18: 12 with the
// tiles stored k block major (twenty-sixth session; kMoeW4WgDeep6Form, kMoeW4WgRotateForm,
// kMoeW4WgKbMajorForm above).
// Default 12 since the twenty-second session: the fastest at 1-16 tokens on both GPUs (H200,
// twenty-first session, kernels/results/twentyfirst_h200_*: 63.2 / 196.8 / 203.6 / 272.6 us at 1 /
// 8 / 16 / 64 tokens against form 10's 79.2 / 246.5 / 251.8 / 357.1; H100, twentieth session:
// 0.60 / 0.56 / 0.57 of FP8 against 0.68 / 0.64 / 0.63), chosen over 14 by the twenty-first
// session's rule fixed before its run. The W4A8 shapes of every calibration set were collected
// again under it (calibration/README.md "The twenty-second session").
inline constexpr int kMoeW4DecodeForm = 12;
inline constexpr int kMoeW4Forms = 18;
inline constexpr int kMoeW4Form9Ahead = 2;
int moe_w4_decode_form();
// W4A8 on the wgmma (prefill) path: kScratch dequantises every expert's INT4 to an E4M3 copy
// before the GEMMs (moe_dequant_int4_kernel); kProducer has the GEMM's producer warpgroup
// dequantise each stage in shared memory (issue 15, sixteenth session); kByRows takes the producer
// up to kMoeW4ProducerRowsPerExpert rows per expert on average and the copy above. Why by rows:
// the producer converts each m-tile's weights (its conversion, 96 threads a CTA, caps the GEMM near
// 450 TFLOP/s once the step is compute-bound), the copy every expert's once (a memory-bound pass
// over all experts, routed to or not). H200 (seventeenth session, results/seventeenth_run2/,
// sweep by rows per expert, ms copy / producer): 128 experts 2048/768 at 64 / 128 / 256 / 384 /
// 512 rows 0.636 / 0.758 / 1.025 / 1.301 / 1.579 against 0.382 / 0.577 / 0.967 / 1.357 / 1.750; 16
// experts 7168/2048 0.683 / 0.766 / 0.985 / 1.206 / 1.451 against 0.417 / 0.574 / 0.974 / 1.336 /
// 1.727: the crossing between 256 and 384 rows (two and three 128-row m-tiles) in both, so the
// default is kByRows (eighteenth session, with the FFN profiles collected again, settled, under
// it: calibration/README.md "The eighteenth session: the defaults moved");
// QUADRANT_W4A8_PREFILL_DEQUANT=scratch | producer | by_rows (a benchmark switch). The plans a
// model was fitted on name the path (launch_plan.h, PlanRules::w4a8_prefill_dequant).
// kByRows also keeps the copy for steps of fewer than kMoeW4ProducerMinExperts experts: their
// GEMMs have a few n-tiles of CTAs each, so the producer's per-CTA conversion sets the time where
// the copy spreads it over every SM. H200 (eighteenth session, the decode FFN profiles of every
// set collected under kByRows against the copy,
// `calibration/results/recollect18-H200-2026-12-05/`): every 1-expert step 0.98-1.40x the copy's
// time, 2 experts 1.13-1.33x but for 4096/14336 and 6144/16384 (0.77-0.90x), 4 experts and more
// 0.57-1.02x but for 2048/768 (1.16x).
enum class W4a8PrefillDequant { kScratch, kProducer, kByRows };
inline constexpr W4a8PrefillDequant kMoeW4PrefillDequant = W4a8PrefillDequant::kByRows;
inline constexpr int64_t kMoeW4ProducerRowsPerExpert = 256;
inline constexpr int kMoeW4ProducerMinExperts = 4;
W4a8PrefillDequant moe_w4_prefill_dequant();
// Whether a step of `rows` rows over `experts` dequantises in the producer under the path d.
constexpr bool moe_w4_int4_in_producer(W4a8PrefillDequant d, double rows, int experts) {
  return d == W4a8PrefillDequant::kProducer ||
         (d == W4a8PrefillDequant::kByRows && experts >= kMoeW4ProducerMinExperts &&
          rows <= double(kMoeW4ProducerRowsPerExpert) * double(experts));
}
// FP8 at decode sizes on wgmma (issue 15, seventeenth session; faster than mma.sync on every
// mma.sync shape of the fitting grid, H200 median 0.895x, kernels/PERF.md; the default since the
// eighteenth session, with the FFN profiles collected again, settled: calibration/README.md): the
// W4A8 form 11 kernel with E4M3 weight tiles by TMA as the A operand in shared memory (no
// conversion), the tokens as N (8, 16, or 32 with 32-row tiles), one block scale per k block; the
// mma.sync kernel's tiles, split-K and partials. QUADRANT_FP8_DECODE_GEMM=mma | wgmma (a benchmark
// switch; plans follow the default, kMoeFp8DecodeWgmma). kMoeFp8WgStages stages of the activation
// box (16 or 32 rows x 128 B), the weight tile (128 x 128 B) and the scales (1 KB), two CTAs an SM.
inline constexpr bool kMoeFp8DecodeWgmma = true;
inline constexpr int kMoeFp8WgStages = 4, kMoeFp8WgCtasPerSm = 2;
bool moe_fp8_decode_wgmma();
// QUADRANT_FP8_DECODE_GEMM=wgmma2 (a benchmark switch; nineteenth session, not yet run): the wgmma
// decode GEMM with a consumer warpgroup per m64 half of the weight rows, as W4A8 forms 13 and 14
// (288 threads, 18 warps an SM at two CTAs), the same sums in the same order: 2, else 1.
int moe_fp8_decode_warpgroups();
constexpr int moe_fp8_wg_stage_bytes(int block_m) {
  return block_m * 128 + 128 * 128 + 1024;  // and the scales, in 1 KB
}
constexpr int moe_fp8_wg_smem_bytes(int block_m) {
  return kMoeFp8WgStages * moe_fp8_wg_stage_bytes(block_m) + kMoeFp8WgStages * 16 + 1024;
}
// Forms 3, 5-10 and 12-18 take the INT4 offsets off after the MMA (a per-row sum beside the
// scale: forms 3 and 5-10 the FP16 constants' sums, 12-18 the E4M3 values' sum / 64).
constexpr bool moe_w4_offset_form(int form) {
  return form == 3 || (form >= 5 && form <= 10) ||
         (form >= kMoeW4WgOffsetForm && form <= kMoeW4WgKbMajorForm);
}
// Forms 2-10 read the activations as FP16 (the E4M3 values, exact); 1 and 11-18 as E4M3.
constexpr bool moe_w4_fp16_activations(int form) {
  return form >= 2 && form <= 10;
}
// Forms 11-18 (wgmma, weights as A): a ring of moe_w4_wg_stages stages, each the activation box
// (block_m rows x 128 E4M3, 1024-byte aligned for the 128-byte swizzle), the weight tile (128
// rows x 128 INT4) and its 128 weight scales, the rows' scales and offset sums (forms 12-18),
// padded to 1 KB multiples; two mbarriers a stage and the alignment slack. 128 consumer threads
// (forms 13, 14: 256) and a producer warp; kMoeW4WgCtasPerSm by the launch bounds (the
// registers: ptxas -v).
constexpr int moe_w4_wg_stage_bytes(int block_m = 16) {
  return (block_m * 128 + 8192 + 512 + 2 * block_m * 4 + 1023) / 1024 * 1024;
}
constexpr int moe_w4_wg_smem_bytes(int block_m = 16, int stages = kMoeW4WgStages) {
  return stages * moe_w4_wg_stage_bytes(block_m) + stages * 16 + 1024;
}
// Forms 2 and 3: four stages of A (16 rows x 128 FP16), static.
constexpr int moe_w4_v2_smem_bytes() {
  return 4 * 16 * 256;
}
// Forms 6-8: form 3's stages plus, per stage, 128 weight scales and 16 + 16 row scales / sums.
constexpr int moe_w4_staged_smem_bytes() {
  return 4 * (16 * 256 + (128 + 32) * 4);
}
// Forms 4 and 5 (2 and 3 with the weights through shared memory): a ring of stages of A (16
// rows x 128 FP16) and the CTA's 128 weight rows x 128 INT4 (8 KB), dynamic.
inline constexpr int kMoeW4RingStages = 8;
constexpr int moe_w4_ring_smem_bytes() {
  return kMoeW4RingStages * (16 * 256 + 16 * 512);
}
// wgmma grouped GEMM: four stages of A (128 x 128 B) and W (256 x 128 B) (+ 1 KB of W4A8 row
// scales), a 32 KB TMA-store buffer for the plain BF16 output, alignment slack and barriers.
// W4A8 dequantised in the producer (int4): three stages, each also holding the W rows' INT4
// as loaded (256 x 64 B).
constexpr int moe_wgmma_stages(bool int4) {
  return int4 ? 3 : 4;
}
constexpr int moe_wgmma_smem_bytes(bool silu_mul, bool row_scales, bool int4 = false) {
  const int stage = 128 * 128 + 2 * 128 * 128 + (row_scales ? 1024 : 0) + (int4 ? 256 * 64 : 0);
  return moe_wgmma_stages(int4) * stage + (!silu_mul && !row_scales ? 32768 : 0) + 1024 + 256;
}

}  // namespace quadrant::kernels::plan
