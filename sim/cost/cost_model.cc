#include "sim/cost/cost_model.h"

namespace quadrant {

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
