// End-to-end checks of the GPU executor: the same sequence computed along different
// paths must give the same last-position logits within the format's tolerance. They
// prove that the KV cache write, the paging (scattered blocks), chunked prefill (prefix
// gathered from the cache) and decode (graph replay and eager mixed steps) agree:
//  - one prefill chunk vs the same prompt in several chunks;
//  - decode (graph) vs re-prefill of the prompt plus the sampled token;
//  - decode in a mixed step (eager, beside another prefill) vs re-prefill;
//  - several decode steps vs re-prefill of everything generated.
// Run them on an executor with pinned routing (GpuEngineOptions::pinned_routing). With
// routing by the router's logits an MoE model is not batch-invariant: the paths round
// differently (GEMM tilings per row count, attention split order), a logit moves by an
// ulp, the k-th and (k+1)-th experts swap for one token in one layer, and from there the
// logits differ by O(1) (seen on the H200 at 48 layers: rel errors 0.8-1.3 for BF16 and
// FP8 with routing by logits; README.md has the pinned and free figures).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "calibration/engine/gpu/gpu_step_executor.h"

namespace quadrant::engine::gpu {

struct ConsistencyResult {
  std::string name;
  double rel_error = 0;  // ||a - b||_F / ||b||_F over the vocabulary
  double max_abs = 0;    // largest |a - b|
  double tolerance = 0;
  bool same_token = false;  // the argmax agrees
  bool passed() const { return rel_error <= tolerance; }
};

// Relative tolerance of the logits by FFN format after `layers` layers: 3 x the format's
// per-layer bound x sqrt(layers). The paths differ by rounding only (GEMM tiling and
// attention split order; FP8 / W4A8 re-quantise the activations, so an ulp upstream can
// move a value by a whole FP8 step); each layer adds such a difference independently, so
// it grows as sqrt(layers). Per-layer bounds measured on the H200 with ONE layer (the
// largest of the four checks, Qwen3-30B-A3B and Mixtral-8x7B; README.md "Checks"): BF16
// 5.5e-3, FP8 2.2e-2, W4A8 1.9e-2; at 4, 16 and 48 layers (32 for Mixtral) every check
// stayed within 2.2 x bound x sqrt(layers). A bug in the shared code (paging, KV write,
// prefix gather, graphs) shows at one layer already: there the chunked prefill of
// Qwen3-30B-A3B is bit-identical in every format.
double consistency_tolerance(FfnFormat format, int layers);

// Runs the checks on a fresh executor (its KV blocks must hold a few prompts of
// prompt_len tokens). Leaves no sequence behind.
std::vector<ConsistencyResult> run_consistency_checks(GpuStepExecutor& executor, FfnFormat format,
                                                      int prompt_len, uint64_t seed);

}  // namespace quadrant::engine::gpu
