// The cost models a run uses: each GPU type's calibrated model (fitted, or derived from a
// calibrated type) where the catalog names one, the roofline elsewhere. Shared by
// `simulate` and `plan`, so both say the same thing about where their numbers come from.
#pragma once

#include <string>
#include <vector>

#include "sim/engine/simulation.h"

namespace quadrant::cli {

CostModels cost_models_for(const Scenario& s);

// No silent fallback (issue 12): what the cost models say about the typical shapes of the
// scenario's pools (sim/cost/cost_band.h), one line per quadrant answered by
// extrapolation ("decode pool H200 tp8: decode_attention (...): extrapolated: ..."). Empty
// when every estimate comes from a fitted component inside its profiled range.
std::vector<std::string> extrapolation_notes(const Scenario& s, const CostModels& models);

}  // namespace quadrant::cli
