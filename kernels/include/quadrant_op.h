// The host API of the quadrant kernels: one object per (quadrant, format, shape) that
// owns its device buffers, fills them with random data, launches the kernels of one
// forward step of that quadrant, and checks the result against a CPU reference. The
// CUPTI collector (calibration/) and the timing drivers use only this header.
//
//   auto op = quadrant::kernels::make_op("decode_attention", "bf16",
//                                        {{"batch", 64}, {"kv_len", 4096}, {"heads", 32},
//                                         {"kv_heads", 8}, {"head_dim", 128}});
//   op->prepare(/*seed=*/1);
//   op->launch(stream);                 // the timed region
//   CheckResult c = op->check(1);       // relative Frobenius error vs float64 reference
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/plan/shape.h"  // ShapeParams

namespace quadrant::kernels {

struct CheckResult {
  double rel_fro_error = 0;  // ||out - ref||_F / ||ref||_F
  double tolerance = 0;      // what the format must meet (1e-2 bf16, 5e-2 fp8/w4a8)
  bool all_written = false;  // no poisoned output element left
  bool passed() const { return all_written && rel_fro_error <= tolerance; }
};

class QuadrantOp {
 public:
  virtual ~QuadrantOp() = default;
  // Kernel family name, by architecture and format: "sm90_bf16_decode_attention".
  virtual std::string name() const = 0;
  // Allocate device buffers and fill inputs with fresh random data (never zeros).
  virtual void prepare(uint64_t seed) = 0;
  // Enqueue every kernel of one step on the stream; no host synchronisation inside, so
  // that it can be captured in a CUDA graph.
  virtual void launch(cudaStream_t stream) = 0;
  // Poison the output, run once, compare with the CPU reference on fresh inputs.
  virtual CheckResult check(uint64_t seed) = 0;
  // Work of one launch: useful FLOPs and the fewest bytes it must move through HBM.
  virtual double flops() const = 0;
  virtual double bytes() const = 0;
  // Bytes of device memory the op holds (so a driver can rotate several copies).
  virtual size_t device_bytes() const = 0;
};

// quadrant: "prefill_attention", "decode_attention", "prefill_ffn", "decode_ffn",
// "dense_gemm"; format: "bf16", "fp8", "w4a8".
//
// Shape names each quadrant reads (defaults in brackets; anything else is rejected):
//   prefill_attention  batch, seq_len, seq_len_min [seq_len] (lengths spread evenly between),
//                      prefix_len [0] (tokens already in the KV cache: chunked prefill),
//                      heads, kv_heads, head_dim (64|128|192), v_head_dim [head_dim]
//                      ((192, 128) is MLA); formats bf16, fp8 (E4M3 Q/K/V, a scale per 64
//                      tokens of a sequence and head). Kernels: wgmma (HGMMA) for bf16,
//                      QGMMA for fp8 at head_dim 128; fp8 at 64 and MLA on mma.sync.
//   decode_attention   batch, kv_len, kv_len_min [kv_len], heads, kv_heads,
//                      head_dim (64|128|256), block_size [16] (paged KV cache);
//                      formats bf16, fp8 (E4M3 KV, a scale per KV head; on tensor cores at
//                      head_dim 128).
//   prefill_ffn,       tokens, experts (<= 256), top_k, hidden, intermediate (multiples of
//   decode_ffn         128); formats bf16, fp8 (1x128 activation, 128x128 weight block
//                      scales), w4a8 (INT4 weights, a scale per row and 128 inputs), and
//                      bf16_cublaslt (the same step with cuBLASLt called once per expert for
//                      the two GEMMs; row counts read on the host at prepare()).
//                      At 48+ rows per expert (prefill sizes) bf16/fp8/w4a8 run the sm_90a
//                      wgmma grouped GEMM (w4a8: INT4 -> E4M3 each step, then QGMMA); below,
//                      the mma.sync kernels. The cost model should calibrate prefill FFN on
//                      "bf16"/"fp8"/"w4a8" (PERF.md run 4: our grouped GEMM matches or beats
//                      cuBLASLt per expert for BF16 and FP8); "bf16_cublaslt" is the library
//                      reference. bytes() counts the experts the routing activates: valid after
//                      prepare().
//   dense_gemm         m, n, k (cuBLASLt); formats bf16, fp8 (per-tensor scales).
// make_op throws std::invalid_argument for an unknown quadrant, format or shape name.
std::unique_ptr<QuadrantOp> make_op(const std::string& quadrant, const std::string& format,
                                    const ShapeParams& shape);

// The (quadrant, format) pairs make_op supports.
std::vector<std::pair<std::string, std::string>> supported_ops();

}  // namespace quadrant::kernels
