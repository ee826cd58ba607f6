#include "sim/cost/roofline_cost_model.h"

#include <algorithm>

#include "sim/core/error.h"

namespace quadrant {

RooflineCostModel::RooflineCostModel(GpuSpec gpu)
    : gpu_(std::move(gpu)), source_("roofline:" + gpu_.name) {
  QUADRANT_CHECK(gpu_.memory_bandwidth.value() > 0);
}

Duration RooflineCostModel::time(const QuadrantShape& shape) const {
  const FlopsPerSec compute = gpu_.peak(shape.compute_format) * gpu_.compute_efficiency;
  const BytesPerSec memory = gpu_.memory_bandwidth * gpu_.memory_efficiency;
  Duration t = Duration::zero();
  if (shape.flops.value() > 0) t = max(t, shape.flops / compute);
  if (shape.bytes.value() > 0) t = max(t, shape.bytes / memory);
  return t + gpu_.kernel_overhead;
}

Estimate RooflineCostModel::predict(const QuadrantShape& shape) const {
  Estimate e;
  e.mean = time(shape);
  e.stddev = Duration::zero();
  e.provenance = Provenance::kRoofline;
  e.source = source_;
  return e;
}

}  // namespace quadrant
