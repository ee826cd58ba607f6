// `quadrant calibrate engine`: what the kernel models cannot see, fitted from measured
// step times (issue 11, deliverable 7). A serving engine's step is more than its quadrant
// kernels: norms, RoPE, embedding, LM head and sampling kernels, launches and syncs, the
// scheduler's time between steps; and each quadrant runs at an efficiency that depends
// on the batch. The fit, by kind of step:
//
//   with prefill:  step + seq * S + token * N + pair * P
//                  + pa * prefill_attention + da * decode_attention + pf * ffn
//   decode only:   decode_step + row * R + expert * X(R) + wave * W(R) + token * A(R, lengths)
//                  + dg * decode_attention + df * ffn    (dg: da without a launch table)
//
// (ns; kernel model terms in ns). S: sequences in the step, N: tokens in it, P: the
// query-key pairs its prefill chunks score (prefill attention beyond its kernel model, which
// misses more the longer the prefix: EngineOverhead::per_prefill_pair_ns). A decode-only
// step is a CUDA-graph replay: R is its decode count padded up to the engine's next graph
// bucket (padded rows cost compute), X(R) the expert weight reads R rows are expected to
// cause in a MoE layer: the experts they touch (expected_active_experts), or with
// expert_tile_rows the row tiles the experts get (expected_expert_tiles: quadrant-engine's
// decode GEMM reads an expert's weights once per 16-row tile), the graph's padding rows
// routed alike (expected_expert_reads); W(R) the waves of the MoE down projection's CTAs
// (each streams an expert's intermediate dimension for one tile) on the resident CTAs
// (expected_expert_waves: 0 without a wave geometry); A the makespan in token times of the decode
// attention as the engine launches it for R rows and the sequences' KV lengths (its
// split-KV chunk per graph bucket and KV bound: EngineOverhead::AttentionLaunch, given in
// the shape; none: A = 0). Every coefficient >= 0 (non-negative
// least squares on relative residuals, so every step weighs the same whatever its length;
// a weak prior at 1 on the factors pa, da, pf that short prompts may not pin). The
// measured time is launch to launch (the step plus the host gap after it) where the log
// has start/end times, else the GPU time. Steps with a per-part breakdown are left out
// (they run eagerly, without CUDA graphs). The held-out error is k-fold over the steps.
//
//   std::vector<EngineStep> steps = engine_steps(run, costs, shape);  // costs: kernels only
//   EngineFit f = fit_engine_overhead(steps, 5);
//   f.overhead;  f.heldout.median;  f.heldout.p95;
#pragma once

#include <string>
#include <vector>

#include "calibration/engine/compare.h"
#include "calibration/engine/run_log.h"
#include "calibration/engine/step.h"
#include "kernels/plan/dispatch.h"
#include "sim/cost/step_cost.h"

namespace quadrant::engine {

struct EngineStep {
  double measured_ns = 0;
  bool prefill = false;  // it carries prefill chunks (else decode only)
  double seqs = 0, tokens = 0;
  double prefill_pairs = 0;           // with prefill: query-key pairs its chunks score
  double rows = 0, expert_reads = 0;  // decode only: graph rows R and X(R)
  double expert_waves = 0;            // decode only: W(R), the MoE down projection's waves
  double attention_tokens = 0;        // decode only: decode_attention_makespan, token times
  bool attention_launch = false;      // priced by the launch (its own decode attention factor)
  int run = 0;                        // which run (log) it came from: the by-run error
  double prefill_attention_ns = 0, decode_attention_ns = 0;
  double prefill_ffn_ns = 0, decode_ffn_ns = 0;  // the step's FFN, by its phase
  double rest_ns = 0;                            // communication: not fitted, added as is
};

// The steps of a run as the fit sees them, priced by `kernels` (a StepCostModel whose
// cost model has no engine section); decode-only steps padded to `shape.graph_buckets`
// (the engine's CUDA-graph batch sizes, ascending; empty: none), their expert reads by
// `shape.expert_tile_rows` (0: active experts), their decode attention launch by
// `shape.attention_launch` (the lengths rebuilt from the requests: step_decode_lengths).
// `target` says which time was measured.
std::vector<EngineStep> engine_steps(const EngineRun& run, const StepCostModel& kernels,
                                     const EngineOverhead& shape, std::string* target = nullptr);

// quadrant-engine's decode attention launch for a decode-only step of each of `buckets`
// rows (its graphs): kernels/plan's split-KV chunk (decode_attention_split, BF16 KV, as the
// executor calls it with the bucket and the KV bound), at the bounds the engine captures
// graphs for (1024 tokens doubled; the engine's last bound is its max_model_len, here the
// doubling goes on to 256k), the CTAs of a chunk (query-head groups), the resident CTAs
// of `sm_count` SMs and a CTA's fixed cost in token times (kDecodeCtaOverheadBytes over a
// token's K and V bytes). `split`: the split-KV chooser of the kernel model the steps are
// priced with (its plan_rules.decode_split), not the environment's. Throws InputError for a
// model without GQA attention.
EngineOverhead::AttentionLaunch quadrant_engine_attention_launch(
    const ModelSpec& model, const std::vector<int>& buckets, int sm_count,
    kernels::plan::DecodeSplitModel split);

// quadrant-engine's decode MoE down projection (EngineOverhead::expert_wave_slots): the
// mma.sync grouped GEMM's CTAs per row tile (the hidden size over kMoeMmaBlockN weight rows)
// on `ctas_per_sm` resident CTAs per SM of `sm_count`; ctas_per_sm 0: no wave term.
void set_quadrant_engine_expert_waves(EngineOverhead& o, const ModelSpec& model, int sm_count,
                                      int ctas_per_sm);

struct EngineFit {
  EngineOverhead overhead;  // graph_buckets, expert_tile_rows left to the caller (engine_steps')
  RelativeError heldout;    // k-fold: each step predicted by a fit without its fold
  RelativeError training;   // the final fit on every step
  RelativeError kernels;    // the kernel models alone (before the fit), for reference
  // With steps of two or more runs: each run predicted by a fit on the others (an
  // out-of-run error, harder than the k-fold one), in run order; empty for one run.
  std::vector<RelativeError> by_run;
  int folds = 0;
};

// Throws InputError with fewer steps than 4 x the coefficients. `prior_weight`: a prior
// holding pa, da and pf at 1 weighs as much as this fraction of the steps would if every
// one of them disagreed by a factor 2 (0: plain least squares). It keeps factors the
// steps cannot pin (prefill attention when every prompt is short) at their kernel model:
// fitted on 2 of the 4 cases of Qwen3-30B-A3B W4A8, it kept the long-context case's
// TTFT P90 error at -6% where plain least squares gave -31% (README.md; measured with an
// earlier form with one fixed time for every step).
EngineFit fit_engine_overhead(const std::vector<EngineStep>& steps, int folds = 5,
                              double prior_weight = 0.01);

// The overhead's prediction of one step (what StepCostModel adds and scales).
double predict_step_ns(const EngineOverhead& o, const EngineStep& s);

}  // namespace quadrant::engine
