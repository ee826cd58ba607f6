#include "sim/cost/af_pipeline.h"

#include <algorithm>

#include "sim/core/error.h"

namespace quadrant {

Duration af_pipeline_time(const AfPipelineInput& in) {
  const size_t m = in.moe.size();
  QUADRANT_CHECK(m >= 1 && (in.dense_layers == 0 || in.dense.size() == m));
  // ready[j]: when micro-batch j left its previous layer; free[r]: when resource r (A, D,
  // E, C) finished its previous micro-batch. A stage of zero time takes no resource.
  std::vector<Duration> ready(m, Duration::zero());
  Duration free[4] = {};
  auto pass = [&free](int r, Duration t, Duration work) {
    if (work <= Duration::zero()) return t;
    free[r] = max(free[r], t) + work;
    return free[r];
  };
  for (int l = 0; l < in.dense_layers; ++l)
    for (size_t j = 0; j < m; ++j) ready[j] = pass(0, ready[j], in.dense[j]);
  for (int l = 0; l < in.moe_layers; ++l) {
    for (size_t j = 0; j < m; ++j) {
      const AfStageTimes& s = in.moe[j];
      Duration t = pass(0, ready[j], s.attention);
      t = pass(1, t, s.dispatch);
      t = pass(2, t, s.ffn);
      ready[j] = pass(3, t, s.combine);
    }
  }
  return *std::max_element(ready.begin(), ready.end());
}

}  // namespace quadrant
