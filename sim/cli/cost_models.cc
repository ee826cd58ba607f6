#include "sim/cli/cost_models.h"

#include <memory>

#include "calibration/calibrated_cost_model.h"

namespace quadrant::cli {

CostModels cost_models_for(const Scenario& s) {
  CostModels models = roofline_cost_models(s);
  for (const auto& [gpu, spec] : s.catalog.gpus) {
    if (std::unique_ptr<CostModel> m = calibration::calibrated_cost_model_for(s.catalog, gpu)) {
      models[gpu] = std::shared_ptr<const CostModel>(std::move(m));
    }
  }
  return models;
}

}  // namespace quadrant::cli
