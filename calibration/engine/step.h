// The seam of the serving engine (quadrant-engine, issue 11): what one step of a
// continuous-batching scheduler asks the executor to compute, and what the executor
// measured. The scheduler (calibration/engine/, no CUDA) forms StepPlans with the
// simulator's own serving policies; an executor runs them: the GPU executor
// (calibration/engine/gpu/, the model's real layers on the quadrant kernels) or a
// cost-model executor (a simulated step time, for CPU tests and for re-simulation).
//
//   StepPlan plan;                         // formed by the scheduler
//   plan.prefill.push_back({.seq = 7, .start = 0, .tokens = 512, .last = true,
//                           .blocks = {0, 1, ..., 31}});
//   plan.decode.push_back({.seq = 3, .kv_len = 1200, .blocks = {...}});
//   StepTiming t = executor.execute(plan);  // synchronous: returns when the step is done
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace quadrant::engine {

// A piece of one sequence's prompt computed in this step (chunked prefill). Tokens
// [start, start + tokens) of the prompt; [0, start) are already in the KV cache.
struct PrefillChunk {
  uint64_t seq = 0;
  int32_t start = 0;
  int32_t tokens = 0;
  bool last = false;  // the chunk ends the prompt: the step samples the first output token
  // Physical KV blocks of the sequence in position order, covering [0, start + tokens).
  std::vector<int32_t> blocks;
};

// One decoding sequence: one new token at position kv_len (the KV cache holds kv_len
// tokens before the step; the step appends the new token's K/V, then attends kv_len + 1).
struct DecodeSeq {
  uint64_t seq = 0;
  int32_t kv_len = 0;
  std::vector<int32_t> blocks;  // covering [0, kv_len + 1)
};

struct StepPlan {
  std::vector<PrefillChunk> prefill;
  std::vector<DecodeSeq> decode;
  bool empty() const { return prefill.empty() && decode.empty(); }
};

// What the executor can hold: the scheduler's KV manager and batch limits follow it.
struct ExecutorCapacity {
  int32_t kv_blocks = 0;  // physical KV blocks (block_tokens tokens each, every layer)
  int32_t block_tokens = 16;
  int32_t max_step_tokens = 0;  // prefill tokens + decode sequences of one step, at most
  int32_t max_decode_seqs = 0;  // decode sequences of one step, at most
};

// One step's measured (or, for a cost-model executor, predicted) times, nanoseconds.
struct StepTiming {
  // Device time of the step: CUDA events before its first kernel and after its last.
  int64_t gpu_ns = 0;
  int64_t wall_ns = 0;  // host wall time inside execute(): launch + wait + bookkeeping
  // Optional breakdown of gpu_ns by part ("attention", "ffn", "gemm", "other"), filled
  // on the steps where the executor records per-part events; empty otherwise.
  std::vector<std::pair<std::string, int64_t>> parts_ns;
};

class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  virtual ExecutorCapacity capacity() const = 0;
  // Runs the step to completion. A sequence's first chunk (start == 0) begins its life;
  // its prompt token ids are derived from (seed, seq) by the executor.
  virtual StepTiming execute(const StepPlan& plan) = 0;
  // The sequence finished or was preempted: its per-sequence state (last token) is dropped.
  // Its KV blocks belong to the scheduler, which frees them.
  virtual void release(uint64_t seq) = 0;
  virtual std::string describe() const = 0;  // model, format, GPU: for the logs
};

// The decode batch sizes quadrant-engine captures a CUDA graph for, up to max_batch_size
// (itself the largest): a decode-only step replays the next one up, padded. The GPU
// executor captures them; the engine-term fit pads decode steps to them.
inline std::vector<int> quadrant_engine_graph_buckets(int max_batch_size) {
  std::vector<int> b;
  for (int x :
       {1, 2, 4, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512})
    if (x < max_batch_size) b.push_back(x);
  b.push_back(max_batch_size);
  return b;
}

// Rows per tile of quadrant-engine's decode MoE GEMM (the mma.sync grouped GEMM,
// kernels/plan/dispatch.h): each CTA reads its expert's weights for one tile of this many
// rows, so a decode step reads an expert's weights once per tile it gets. (The wgmma path,
// 128-row tiles, takes over at 48 rows per expert on average: not at decode sizes for
// Qwen3-30B-A3B; for Mixtral-8x7B from 192 rows.)
inline constexpr int kQuadrantEngineExpertTileRows = 16;

}  // namespace quadrant::engine
