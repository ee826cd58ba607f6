#include "sim/cost/cost_model.h"

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

const char* to_string(Provenance p) {
  switch (p) {
    case Provenance::kMeasured:
      return "measured";
    case Provenance::kFitted:
      return "fitted";
    case Provenance::kDerived:
      return "derived";
    case Provenance::kRoofline:
      return "roofline";
  }
  return "?";
}

}  // namespace quadrant
