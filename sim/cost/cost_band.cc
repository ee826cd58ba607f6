#include "sim/cost/cost_band.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sim/core/error.h"
#include "sim/model/accounting.h"

namespace quadrant {

BandEdgeCostModel::BandEdgeCostModel(std::shared_ptr<const CostModel> base, double z)
    : base_(std::move(base)), z_(z) {
  QUADRANT_CHECK(base_ != nullptr);
}

Duration BandEdgeCostModel::edge(Duration mean, Duration stddev) const {
  const double t = static_cast<double>(mean.ns()) + z_ * static_cast<double>(stddev.ns());
  return Duration::nanos(std::llround(std::max(t, 0.5 * static_cast<double>(mean.ns()))));
}

Estimate BandEdgeCostModel::predict(const QuadrantShape& shape) const {
  Estimate e = base_->predict(shape);
  e.mean = edge(e.mean, e.stddev);
  char buf[48];
  std::snprintf(buf, sizeof buf, " at %+.3g sigma", z_);
  e.source += buf;
  return e;
}

CostModel::Core BandEdgeCostModel::predict_core(const QuadrantShape& shape) const {
  Core c = base_->predict_core(shape);
  c.mean = edge(c.mean, c.stddev);
  return c;
}

std::string BandEdgeCostModel::describe() const {
  char buf[48];
  std::snprintf(buf, sizeof buf, " at %+.3g sigma of its band", z_);
  return base_->describe() + buf;
}

double QuadrantCheck::band() const {
  return estimate.mean.ns() > 0
             ? static_cast<double>(estimate.stddev.ns()) / static_cast<double>(estimate.mean.ns())
             : 0;
}

bool QuadrantCheck::disagrees() const {
  if (reference.ns() <= 0 || estimate.mean.ns() <= 0) return false;
  const double gap =
      std::abs(static_cast<double>(estimate.mean.ns()) / static_cast<double>(reference.ns()) - 1);
  return gap > std::max(0.05, kBandZ * band());
}

std::vector<QuadrantCheck> check_quadrants(const CostModel& model, const CostModel* reference,
                                           const ModelSpec& spec, const Layout& layout) {
  std::vector<QuadrantCheck> out;
  auto add = [&](Quadrant q, const std::string& what, const QuadrantShape& s) {
    QuadrantCheck c;
    c.quadrant = q;
    c.shape = what;
    c.estimate = model.predict(s);
    if (reference) c.reference = reference->predict(s).mean;
    out.push_back(std::move(c));
  };
  const int64_t seqs = 64, context = 4096, chunk = 4096;
  add(Quadrant::kPrefillAttention, "a 4096-token prefill chunk",
      attention_shape(spec, layout, Phase::kPrefill, {1, chunk, chunk, chunk * (chunk + 1) / 2}));
  add(Quadrant::kPrefillFfn, "the FFN of a 4096-token prefill chunk",
      ffn_shape(spec, layout, Phase::kPrefill, chunk, spec.ffn.kind == FfnKind::kMoe));
  add(Quadrant::kDecodeAttention, "a decode step of 64 sequences at 4096 tokens",
      attention_shape(spec, layout, Phase::kDecode,
                      {static_cast<int>(seqs), seqs, seqs * context, 0}));
  add(Quadrant::kDecodeFfn, "the FFN of a decode step of 64 tokens",
      ffn_shape(spec, layout, Phase::kDecode, seqs, spec.ffn.kind == FfnKind::kMoe));
  return out;
}

}  // namespace quadrant
