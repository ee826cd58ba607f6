// The JSON of values that several outputs write (metrics.json, results.json, the resolved
// scenario): one writer each, so that the outputs cannot drift apart. Key order as
// written (ordered_json); a writer that sorts its keys (nlohmann::json) converts.
//
//   j["ttft_s"] = io::percentiles_json(summary.ttft);   // {"mean", "p50", ..., "max"}
#pragma once

#include <nlohmann/json.hpp>

#include "sim/metrics/result.h"
#include "sim/scenario.h"

namespace quadrant::io {

// {"mean", "p50", "p90", "p99", "max"}, and the SLO's own percentile in its place
// ("p95" between "p90" and "p99") when it is none of those.
nlohmann::ordered_json percentiles_json(const Percentiles& p);

// {"tp", "ep", "pp", "dp_attention"}
nlohmann::ordered_json layout_json(const Layout& l);

// A pool's shape: gpu, instances, layout, [gpus_per_instance,] max_batch_size,
// max_batch_tokens, chunk_size. The resolved scenario appends the pool's other inputs.
nlohmann::ordered_json pool_json(const PoolSpec& p, bool gpus_per_instance = false);

}  // namespace quadrant::io
