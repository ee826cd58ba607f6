#include "sim/cli/cost_models.h"

#include <memory>

#include "calibration/calibrated_cost_model.h"
#include "sim/cost/cost_band.h"

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

std::vector<std::string> extrapolation_notes(const Scenario& s, const CostModels& models) {
  std::vector<std::string> notes;
  std::vector<std::pair<const char*, const PoolSpec*>> pools;
  if (s.serving.mode == ServingMode::kColocated)
    pools = {{"colocated", &s.serving.colocated}};
  else
    pools = {{"prefill", &s.serving.prefill}, {"decode", &s.serving.decode}};
  for (const auto& [name, pool] : pools) {
    const auto m = models.find(pool->gpu);
    if (m == models.end() || !m->second) continue;
    const std::string role = name;
    for (const QuadrantCheck& q : check_quadrants(*m->second, nullptr, s.model, pool->layout)) {
      const bool prefill =
          q.quadrant == Quadrant::kPrefillAttention || q.quadrant == Quadrant::kPrefillFfn;
      if ((role == "prefill" && !prefill) || (role == "decode" && prefill)) continue;
      if (q.estimate.extrapolated)
        notes.push_back(std::string(name) + " pool " + pool->gpu + ": " + to_string(q.quadrant) +
                        " (" + q.shape + "): extrapolated: " +
                        (q.estimate.extrapolation.empty() ? "outside the calibrated range"
                                                          : q.estimate.extrapolation));
    }
  }
  return notes;
}

}  // namespace quadrant::cli
