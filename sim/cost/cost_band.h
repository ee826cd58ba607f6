// "How sure": a cost model's estimates moved to the edges of their error bands, and what
// a cost model says about the shapes a layout of a model gives it (extrapolations named,
// the band, disagreement with a reference model beyond the band).
//
//   BandEdgeCostModel slow(model, +kBandZ);   // every estimate at its pessimistic edge
//   for (const QuadrantCheck& c : check_quadrants(*model, roofline.get(), spec, layout))
//     if (c.estimate.extrapolated) ... c.estimate.extrapolation ...
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/cost/cost_model.h"
#include "sim/model/layout.h"
#include "sim/model/model_spec.h"

namespace quadrant {

// The band's edges: 1.645 standard deviations, a one-sided 95% for a normal error.
inline constexpr double kBandZ = 1.645;

// Every estimate of `base` at an edge of its band: mean x (1 + z x stddev / mean); z < 0
// is the optimistic edge, never below half the mean. A model without a band (the
// roofline: stddev 0) answers as it is.
class BandEdgeCostModel : public CostModel {
 public:
  BandEdgeCostModel(std::shared_ptr<const CostModel> base, double z);
  Estimate predict(const QuadrantShape& shape) const override;
  Core predict_core(const QuadrantShape& shape) const override;
  Provenance provenance() const override { return base_->provenance(); }
  std::string describe() const override;

 private:
  Duration edge(Duration mean, Duration stddev) const;
  std::shared_ptr<const CostModel> base_;
  double z_;
};

// One quadrant's estimate for a typical step of a layout (decode: 64 sequences at 4096
// tokens of context; prefill: one 4096-token chunk; the FFN of each), beside a reference
// model's (the roofline) where one is given.
struct QuadrantCheck {
  Quadrant quadrant = Quadrant::kDecodeAttention;
  std::string shape;  // the step, in words
  Estimate estimate;
  Duration reference;   // the reference model's mean (zero: none)
  double band() const;  // stddev / mean
  // The estimates differ by more than kBandZ of the band (and by more than 5%).
  bool disagrees() const;
};
std::vector<QuadrantCheck> check_quadrants(const CostModel& model, const CostModel* reference,
                                           const ModelSpec& spec, const Layout& layout);

}  // namespace quadrant
