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

}  // namespace quadrant
