#include "sim/hardware/hardware.h"

namespace quadrant {

FlopsPerSec GpuSpec::peak(NumberFormat f) const {
  switch (f) {
    case NumberFormat::kBf16:
      return bf16;
    case NumberFormat::kFp8:
      return fp8.value() > 0 ? fp8 : bf16;
    // W4A8 multiplies 8-bit activations by weights dequantised to 8 bits.
    case NumberFormat::kW4A8:
      return fp8.value() > 0 ? fp8 : (int8.value() > 0 ? int8 : bf16);
    case NumberFormat::kInt8:
      return int8.value() > 0 ? int8 : bf16;
  }
  return bf16;
}

}  // namespace quadrant
