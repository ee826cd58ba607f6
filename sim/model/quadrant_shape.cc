#include "sim/model/quadrant_shape.h"

namespace quadrant {

const char* to_string(Quadrant q) {
  switch (q) {
    case Quadrant::kPrefillAttention:
      return "prefill_attention";
    case Quadrant::kPrefillFfn:
      return "prefill_ffn";
    case Quadrant::kDecodeAttention:
      return "decode_attention";
    case Quadrant::kDecodeFfn:
      return "decode_ffn";
  }
  return "?";
}

}  // namespace quadrant
