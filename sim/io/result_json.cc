#include "sim/io/result_json.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace quadrant::io {

using nlohmann::ordered_json;

ordered_json percentiles_json(const Percentiles& p) {
  // P50, P90, P99 and the SLO's own percentile (if any) in ascending order: "p95".
  std::vector<std::pair<double, double>> at = {{50, p.p50}, {90, p.p90}, {99, p.p99}};
  if (p.slo_percentile > 0)
    at.insert(std::upper_bound(at.begin(), at.end(), std::pair{p.slo_percentile, 0.0}),
              {p.slo_percentile, p.at_slo_percentile});
  ordered_json j = {{"mean", p.mean}};
  for (const auto& [percentile, value] : at) {
    std::string key = percentile_name(percentile);
    key[0] = 'p';
    j[key] = value;
  }
  j["max"] = p.max;
  return j;
}

ordered_json layout_json(const Layout& l) {
  return {{"tp", l.tp}, {"ep", l.ep}, {"pp", l.pp}, {"dp_attention", l.dp_attention}};
}

ordered_json pool_json(const PoolSpec& p, bool gpus_per_instance) {
  ordered_json j = {{"gpu", p.gpu}, {"instances", p.instances}, {"layout", layout_json(p.layout)}};
  if (gpus_per_instance) j["gpus_per_instance"] = p.gpus_per_instance();
  j["max_batch_size"] = p.max_batch_size;
  j["max_batch_tokens"] = p.max_batch_tokens;
  j["chunk_size"] = p.chunk_size;
  if (p.af.enabled())  // only then: outputs without it keep their bytes
    j["af_disaggregated"] = {{"attention_gpus", p.layout.gpus()},
                             {"ffn_gpu", p.af.ffn_gpu},
                             {"ffn_gpus", p.af.ffn_gpus},
                             {"micro_batches", p.af.micro_batches}};
  return j;
}

}  // namespace quadrant::io
