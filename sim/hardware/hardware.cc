#include "sim/hardware/hardware.h"

namespace quadrant {
namespace {

FlopsPerSec datasheet_peak(const GpuSpec& g, NumberFormat f) {
  switch (f) {
    case NumberFormat::kBf16:
      return g.bf16;
    case NumberFormat::kFp8:
      return g.fp8.value() > 0 ? g.fp8 : g.bf16;
    // W4A8 multiplies 8-bit activations by weights dequantised to 8 bits.
    case NumberFormat::kW4A8:
      return g.fp8.value() > 0 ? g.fp8 : (g.int8.value() > 0 ? g.int8 : g.bf16);
    case NumberFormat::kInt8:
      return g.int8.value() > 0 ? g.int8 : g.bf16;
  }
  return g.bf16;
}

}  // namespace

FlopsPerSec GpuSpec::peak(NumberFormat f) const {
  const FlopsPerSec p = datasheet_peak(*this, f);
  return clock_factor == 1 ? p : p * clock_factor;
}

}  // namespace quadrant
