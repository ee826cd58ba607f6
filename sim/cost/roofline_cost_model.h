// The datasheet roofline: what a quadrant's kernels would take if they ran at the
// catalog's achievable fractions of peak compute and memory bandwidth, plus a fixed
// cost per kernel launch. Always available; every estimate is marked kRoofline so that
// reports never pass it off as a measurement.
//
//   RooflineCostModel h100(catalog.gpus.at("H100-SXM"));
//   h100.predict(shape).mean;   // max(flops / (peak * eff_c), bytes / (bw * eff_m)) + overhead
#pragma once

#include <string>

#include "sim/cost/cost_model.h"
#include "sim/hardware/hardware.h"

namespace quadrant {

class RooflineCostModel final : public CostModel {
 public:
  explicit RooflineCostModel(GpuSpec gpu);
  Estimate predict(const QuadrantShape& shape) const override;
  Core predict_core(const QuadrantShape& shape) const override {
    return {time(shape), Provenance::kRoofline, false, Duration::zero()};
  }
  Provenance provenance() const override { return Provenance::kRoofline; }
  std::string describe() const override { return source_; }

 private:
  Duration time(const QuadrantShape& shape) const;
  GpuSpec gpu_;
  std::string source_;
};

}  // namespace quadrant
