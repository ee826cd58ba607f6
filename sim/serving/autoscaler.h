// The autoscaler's decision for one pool at one tick: grow, shrink or hold, from the
// pool's own signal (prefill: queued prefill tokens per instance; decode: mean KV
// occupancy; colocated: queued prefill tokens). Pools decide independently; the
// simulation applies the decision with the provisioning delay.
//
//   ScaleDecision d = decide_scale(spec, signal, spec.decode_utilization_high, active, pending);
#pragma once

#include "sim/scenario.h"

namespace quadrant {

enum class ScaleDecision { kHold, kGrow, kShrink };

// `signal` against `high`: above it the pool grows (unless instances already coming up
// or at max_instances); below low_watermark * high it shrinks to no fewer than
// min_instances. `provisioning` instances count toward the maximum and block growth, so
// that one burst does not order a new instance at every tick of the delay.
inline ScaleDecision decide_scale(const AutoscalerSpec& spec, double signal, double high,
                                  int active, int provisioning) {
  if (signal > high && provisioning == 0 && active + provisioning < spec.max_instances)
    return ScaleDecision::kGrow;
  if (signal < spec.low_watermark * high && provisioning == 0 && active > spec.min_instances)
    return ScaleDecision::kShrink;
  return ScaleDecision::kHold;
}

}  // namespace quadrant
