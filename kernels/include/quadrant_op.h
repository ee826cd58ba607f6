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

namespace quadrant::kernels {

// Named integer shape parameters, e.g. {"batch": 64, "kv_len": 4096}. Each op documents
// the names it reads; make_op rejects unknown or missing names with std::invalid_argument.
using ShapeParams = std::map<std::string, int64_t>;

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
std::unique_ptr<QuadrantOp> make_op(const std::string& quadrant, const std::string& format,
                                    const ShapeParams& shape);

// The (quadrant, format) pairs make_op supports.
std::vector<std::pair<std::string, std::string>> supported_ops();

}  // namespace quadrant::kernels
