// Stand-ins for the attention factories, linked only by device_gemm.sh: the FFN/GEMM device
// job builds without the attention sources (rewritten in parallel), and any call of these
// says so instead of running.
#include <stdexcept>

#include "kernels/src/op_util.h"

namespace quadrant::kernels {

std::unique_ptr<QuadrantOp> make_decode_attention(const std::string&, const ShapeParams&) {
  throw std::runtime_error("decode_attention is not built by device_gemm.sh");
}
std::unique_ptr<QuadrantOp> make_prefill_attention(const std::string&, const ShapeParams&) {
  throw std::runtime_error("prefill_attention is not built by device_gemm.sh");
}

}  // namespace quadrant::kernels
