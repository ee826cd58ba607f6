#include "sim/model/model_spec.h"

namespace quadrant {

double bytes_per_element(NumberFormat f) {
  switch (f) {
    case NumberFormat::kBf16:
      return 2.0;
    case NumberFormat::kFp8:
      return 1.0;
    case NumberFormat::kInt8:
      return 1.0;
    case NumberFormat::kW4A8:
      return 0.5;
  }
  return 2.0;
}

const char* to_string(NumberFormat f) {
  switch (f) {
    case NumberFormat::kBf16:
      return "bf16";
    case NumberFormat::kFp8:
      return "fp8";
    case NumberFormat::kInt8:
      return "int8";
    case NumberFormat::kW4A8:
      return "w4a8";
  }
  return "?";
}

const char* to_string(AttentionKind k) {
  switch (k) {
    case AttentionKind::kMha:
      return "mha";
    case AttentionKind::kGqa:
      return "gqa";
    case AttentionKind::kMla:
      return "mla";
  }
  return "?";
}

const char* to_string(FfnKind k) {
  switch (k) {
    case FfnKind::kDense:
      return "dense";
    case FfnKind::kMoe:
      return "moe";
    case FfnKind::kUltraMem:
      return "ultramem";
  }
  return "?";
}

}  // namespace quadrant
