// The step of an attention/FFN-disaggregated instance (MegaScale-Infer's ping-pong
// pipeline): the batch is cut into m micro-batches; in each layer every micro-batch
// passes the attention pool (A), the dispatch to the experts (D), the FFN pool (E) and
// the combine back (C), and the next layer's attention of that micro-batch waits for its
// combine. Each of the four is one resource that serves the micro-batches in order
// (layer by layer, micro-batch by micro-batch), so while one micro-batch is on the
// experts the others are in attention or in flight. The step is the last combine of the
// last layer: the recurrence
//   A(l,j) = max(A(prev), C(l-1,j)) + a_j,  D(l,j) = max(D(prev), A(l,j)) + d_j,
//   E(l,j) = max(E(prev), D(l,j)) + e_j,    C(l,j) = max(C(prev), E(l,j)) + c_j,
// where prev is the resource's previous micro-batch. With equal micro-batches it has a
// closed form in two regimes (tests/sim/cost/af_pipeline_test.cc):
//   - enough micro-batches to keep the busiest stage busy, m * t_max >= a + d + e + c:
//       step = (a + d + e + c) + (m L - 1) t_max        (MegaScale-Infer's formula);
//   - one micro-batch: step = L (a + d + e + c); equal stages t and m <= 4:
//       step = 4 L t + (m - 1) t (the round trip of a layer bounds it, not a pool).
// Dense layers (DeepSeek's first three) run attention and their FFN on the attention pool:
// their D, E and C are zero and take no resource.
//
//   AfPipelineInput in{.moe = {{a, d, e, c}, {a, d, e, c}}, .moe_layers = 58};
//   Duration step = af_pipeline_time(in);
#pragma once

#include <vector>

#include "sim/core/units.h"

namespace quadrant {

// One micro-batch's time in each of the four stages of one layer.
struct AfStageTimes {
  Duration attention, dispatch, ffn, combine;
  bool operator==(const AfStageTimes&) const = default;
};

struct AfPipelineInput {
  std::vector<AfStageTimes> moe;  // per micro-batch, one MoE layer
  std::vector<Duration> dense;    // per micro-batch, one dense layer (attention pool only)
  int dense_layers = 0;           // run first, as the model lists them
  int moe_layers = 0;
};

// The step's critical path (the recurrence above). moe and dense (when dense_layers > 0)
// hold the same number of micro-batches, at least one.
Duration af_pipeline_time(const AfPipelineInput& in);

}  // namespace quadrant
