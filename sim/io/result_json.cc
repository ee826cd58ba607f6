#include "sim/io/result_json.h"

namespace quadrant::io {

using nlohmann::ordered_json;

ordered_json percentiles_json(const Percentiles& p) {
  return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"max", p.max}};
}

ordered_json layout_json(const Layout& l) {
  return {{"tp", l.tp}, {"ep", l.ep}, {"pp", l.pp}, {"dp_attention", l.dp_attention}};
}

ordered_json pool_json(const PoolSpec& p, bool gpus_per_instance) {
  ordered_json j = {{"gpu", p.gpu}, {"instances", p.instances}, {"layout", layout_json(p.layout)}};
  if (gpus_per_instance) j["gpus_per_instance"] = p.layout.gpus();
  j["max_batch_size"] = p.max_batch_size;
  j["max_batch_tokens"] = p.max_batch_tokens;
  j["chunk_size"] = p.chunk_size;
  return j;
}

}  // namespace quadrant::io
