// GpuStepExecutor: runs the scheduler's steps (calibration/engine/step.h) as the real
// forward pass of a model at full size, with seeded random weights (timing, not text, is
// the point), on one GPU: embedding, per layer RMSNorm, QKV projection, QK-norm (Qwen3),
// RoPE, paged KV-cache write, prefill attention (varlen, chunked after a prefix) and paged
// decode attention, output projection, router + MoE FFN; final norm, LM head over the
// sampled rows, greedy sampling.
//
//   GpuStepExecutor ex(model, {.ffn_format = FfnFormat::kW4a8});  // refuses what does not fit
//   ExecutorCapacity cap = ex.capacity();   // KV blocks left after weights and workspace
//   StepTiming t = ex.execute(plan);        // CUDA-event GPU time, host wall time
//
// Decode-only steps replay a CUDA graph captured per (batch bucket, KV-length bound) with
// static buffers and the batch padded to the bucket (padded rows have no KV and write
// none); steps with prefill run eagerly (their shapes vary). Every `breakdown_every`-th
// step runs eagerly with CUDA events between parts (attention, ffn, gemm, other).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calibration/engine/step.h"
#include "sim/model/model_spec.h"

namespace quadrant::engine::gpu {

enum class FfnFormat { kBf16, kFp8, kW4a8 };
// "bf16", "fp8", "w4a8"; anything else throws std::invalid_argument naming it.
FfnFormat parse_ffn_format(const std::string& name);
const char* to_string(FfnFormat f);

struct GpuEngineOptions {
  FfnFormat ffn_format = FfnFormat::kBf16;
  uint64_t seed = 1;               // weights, and prompt tokens derived from (seed, seq, position)
  int32_t block_tokens = 16;       // tokens per KV block
  int32_t max_step_tokens = 2304;  // prefill tokens + decode sequences of one step
  int32_t max_decode_seqs = 256;
  int32_t max_model_len = 32768;     // longest sequence, prompt + output
  double kv_memory_fraction = 0.90;  // of the memory left after weights and workspace
  int64_t kv_blocks_limit = 0;       // > 0: at most this many KV blocks (tests, small runs)
  int breakdown_every = 0;           // per-part events every Nth step (0: never)
  bool use_graphs = true;
  int num_layers = 0;  // > 0: only the first layers (tests); 0: the model's
  float rope_theta = 1e6f;
  float norm_eps = 1e-6f;
  bool qk_norm = true;  // Qwen3's per-head RMSNorm of q and k (false for Mixtral)
  // Consistency checks: experts chosen by a hash of (layer, position, token) instead of
  // the router logits (the router GEMM still runs). Routing by logits is not
  // batch-invariant; see consistency.h.
  bool pinned_routing = false;
  int device = -1;  // CUDA device of this executor (-1: the current one)
};

// Device memory, bytes: the refusal message and the run log quote it.
struct MemoryPlan {
  int64_t gpu_total = 0, gpu_free = 0;
  int64_t weights = 0, workspace = 0, kv_cache = 0;
  int64_t kv_block_bytes = 0;  // one block of block_tokens tokens, every layer, K and V
  int32_t kv_blocks = 0;
  std::string describe() const;
};

// Bytes of the weights of `model` with its FFN in `format` (the engine's own layout).
int64_t weight_bytes(const ModelSpec& model, FfnFormat format, int num_layers = 0);

class GpuStepExecutor final : public StepExecutor {
 public:
  // Allocates and fills the weights, the workspace and the KV cache; captures the decode
  // graphs. Throws std::runtime_error with the numbers when the model does not fit, and
  // std::invalid_argument for a model the engine cannot run (head_dim other than 128,
  // no MoE FFN).
  GpuStepExecutor(const ModelSpec& model, const GpuEngineOptions& options);
  ~GpuStepExecutor() override;
  GpuStepExecutor(const GpuStepExecutor&) = delete;
  GpuStepExecutor& operator=(const GpuStepExecutor&) = delete;

  ExecutorCapacity capacity() const override;
  StepTiming execute(const StepPlan& plan) override;
  void release(uint64_t seq) override;
  std::string describe() const override;

  // Checks: a sequence's prompt token ids (otherwise derived from (seed, seq, position)).
  void set_prompt(uint64_t seq, std::vector<int32_t> tokens);
  // Take a sequence as prefilled with `last_token` as the input of its next decode step:
  // its KV came from a prefill instance (transfer_kv), or, in benchmarks, the blocks hold
  // whatever they hold.
  void assume_prefilled(uint64_t seq, int32_t last_token);
  // Prefill/decode disaggregation: copies the KV cache of `tokens` tokens (every layer, K
  // and V) from this executor's `src_blocks` into `dst`'s `dst_blocks`, one kernel on dst's
  // GPU that reads this GPU's memory over NVLink (peer access) when the two differ.
  // Returns the copy's CUDA-event time on dst. The executors must run the same model.
  StepTiming transfer_kv(GpuStepExecutor& dst, const std::vector<int32_t>& src_blocks,
                         const std::vector<int32_t>& dst_blocks, int32_t tokens);
  int device() const;
  // Per-part events on every nth step from now on (0: never).
  void set_breakdown_every(int n);
  // Tokens the last step sampled, one per sampled row: prefill chunks that end their
  // prompt, then decode sequences, in plan order.
  const std::vector<int32_t>& sampled_tokens() const;
  // The last step's logits of those rows, [rows][vocab], as float.
  std::vector<float> sampled_logits() const;
  const MemoryPlan& memory() const;
  int graphs_captured() const;
  int layers() const;  // the layers it runs (GpuEngineOptions::num_layers or the model's)
  int64_t steps() const;
  int64_t graph_steps() const;  // steps that replayed a graph

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quadrant::engine::gpu
