// The cost models a run uses: each GPU type's calibrated model (fitted, or derived from a
// calibrated type) where the catalog names one, the roofline elsewhere. Shared by
// `simulate` and `plan`, so both say the same thing about where their numbers come from.
#pragma once

#include "sim/engine/simulation.h"

namespace quadrant::cli {

CostModels cost_models_for(const Scenario& s);

}  // namespace quadrant::cli
