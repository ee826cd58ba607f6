// The executor's step benchmark: fixed batch compositions (prefill chunks after a
// prefix, decode batches at several KV lengths, mixed steps), each run a few times after
// a warm-up, median GPU time by CUDA events; and a capacity estimate from those times.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "calibration/engine/gpu/gpu_step_executor.h"

namespace quadrant::engine::gpu {

struct Composition {
  int prefill_seqs = 0;  // chunks of prefill_chunk tokens, each after prefill_prefix
  int prefill_chunk = 0;
  int prefill_prefix = 0;
  int decode = 0;  // decode sequences, each with kv_len tokens cached
  int kv_len = 0;
  std::string name() const;
  int64_t kv_tokens() const;  // KV-cache tokens the composition holds
};

struct CompositionTiming {
  Composition c;
  int reps = 0;
  double gpu_us_median = 0, gpu_us_min = 0, gpu_us_max = 0, wall_us_median = 0;
  bool graph = false;                                     // decode-only: replayed a graph
  std::vector<std::pair<std::string, int64_t>> parts_ns;  // one extra eager run with events
};

// Prefill chunks 128..2048 (within max_step_tokens), 512 after 4k and 16k prefixes, four
// 512-token chunks; decode batches 1..max_decode_seqs at KV lengths 512, 2048, 8192;
// two mixed steps. Compositions whose KV does not fit (or exceed max_model_len) are left out.
std::vector<Composition> default_compositions(const ExecutorCapacity& cap, int max_model_len);

std::vector<CompositionTiming> run_step_bench(GpuStepExecutor& executor,
                                              const std::vector<Composition>& compositions,
                                              int reps, uint64_t seed);

std::string bench_csv(const std::vector<CompositionTiming>& timings);

// Requests per second one instance sustains for mean input / output lengths: one
// request costs input x (prefill time per token) + output x (decode step time / batch)
// of GPU time at the largest decode batch the KV cache and limits allow (the nearest
// measured composition). An estimate that places the load points; the capacity search
// measures the real one.
struct CapacityEstimate {
  double requests_per_s = 0;
  double prefill_us_per_token = 0;
  int decode_batch = 0, decode_kv_len = 0;
  double decode_step_us = 0;
  std::string describe() const;
};
CapacityEstimate estimate_capacity(const std::vector<CompositionTiming>& timings,
                                   const ExecutorCapacity& cap, double mean_input,
                                   double mean_output);

}  // namespace quadrant::engine::gpu
