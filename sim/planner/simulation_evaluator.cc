// The planner's evaluator over the real simulator, in a file of its own so that code
// which injects another evaluator (the planner's tests) does not need simulate().
#include "sim/planner/planner.h"

namespace quadrant::planner {

Evaluator simulation_evaluator(CostModels models) {
  return [models = std::move(models)](const Scenario& s, uint64_t seed) {
    SimulationOptions o;
    o.seed = seed;
    o.keep_requests = true;  // the report's latency CDFs (RunSummary quantiles)
    return simulate(s, models, o);
  };
}

}  // namespace quadrant::planner
