#include "kernels/include/quadrant_op.h"

#include <stdexcept>

#include "kernels/src/op_util.h"

namespace quadrant::kernels {

// kernels/src/mla_decode.cu
std::unique_ptr<QuadrantOp> make_mla_decode(const std::string& format, const ShapeParams& shape);

std::unique_ptr<QuadrantOp> make_op(const std::string& quadrant, const std::string& format,
                                    const ShapeParams& shape) {
  if (quadrant == "prefill_attention") return make_prefill_attention(format, shape);
  if (quadrant == "decode_attention") return make_decode_attention(format, shape);
  if (quadrant == "prefill_ffn" || quadrant == "decode_ffn")
    return make_moe_ffn(quadrant, format, shape);
  if (quadrant == "dense_gemm") return make_dense_gemm(format, shape);
  if (quadrant == "mla_decode") return make_mla_decode(format, shape);
  throw std::invalid_argument("unknown quadrant '" + quadrant +
                              "' (expected prefill_attention, decode_attention, prefill_ffn, "
                              "decode_ffn, dense_gemm, mla_decode)");
}

std::vector<std::pair<std::string, std::string>> supported_ops() {
  return {{"prefill_attention", "bf16"}, {"prefill_attention", "fp8"},
          {"decode_attention", "bf16"},  {"decode_attention", "fp8"},
          {"prefill_ffn", "bf16"},       {"prefill_ffn", "fp8"},
          {"prefill_ffn", "w4a8"},       {"prefill_ffn", "bf16_cublaslt"},
          {"decode_ffn", "bf16"},        {"decode_ffn", "fp8"},
          {"decode_ffn", "w4a8"},        {"dense_gemm", "bf16"},
          {"dense_gemm", "fp8"},         {"mla_decode", "bf16"}};
}

}  // namespace quadrant::kernels
