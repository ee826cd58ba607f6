// A pool: the instances of one role (prefill, decode or colocated), sized from its
// PoolSpec: the cost model its steps use, the KV capacity of one instance (what the
// weights and reserved memory leave of its GPUs), its place in the topology, and what
// the routers see of its instances.
//
//   Pool p = make_pool(scenario, PoolKind::kDecode, scenario.serving.decode, models, 16);
//   p.kv_capacity_blocks;  p.cost_source;   // "roofline:H20", "fitted:..."
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/cost/cost_model.h"
#include "sim/cost/step_cost.h"
#include "sim/scenario.h"
#include "sim/serving/router.h"

namespace quadrant {

enum class PoolKind : uint8_t { kPrefill = 0, kDecode = 1, kColocated = 2 };
inline constexpr int kPoolKinds = 3;
const char* pool_key(PoolKind kind);  // "prefill", "decode", "colocated"

struct Pool {
  const PoolSpec* spec = nullptr;  // null: the scenario has no such pool
  Role role = Role::kPrefill;
  const GpuSpec* gpu = nullptr;
  std::shared_ptr<const CostModel> model;
  std::string cost_source;  // "roofline:H100-SXM", "fitted:calibration/models/h100.json", ...
  std::unique_ptr<StepCostModel> costs;
  // Attention/FFN disaggregation (spec->af): the FFN pool's GPU and cost model (gpu and
  // model above are the attention pool's).
  const GpuSpec* ffn_gpu = nullptr;
  std::shared_ptr<const CostModel> ffn_model;
  std::string ffn_cost_source;
  int64_t kv_capacity_blocks = 0;
  // Block prefix cache of one instance (PrefixCacheSpec), in the trace's blocks: its share
  // of the instance's KV memory, which kv_capacity_blocks no longer counts. 0: none.
  int64_t prefix_cache_blocks = 0;
  int first_gpu = 0;
  int slots = 0;                   // instances the pool may ever hold (autoscaler max)
  std::vector<int> slot_instance;  // instance occupying each slot, -1 if free
  std::vector<int> instances;      // every instance ever created, in creation order
  // What the routers see of each of `instances`, kept up to date as loads change (so
  // that routing a request reads one small array instead of every instance), and how
  // many of them are not active (then the routers get the active ones only).
  std::vector<InstanceLoad> loads;
  int inactive = 0;
};

// The attention/FFN disaggregation of an instance whose attention GPUs run `attention`
// and whose experts live on af.ffn_gpus GPUs of `ffn_gpu` priced by `ffn_model`: the M:N
// dispatch and combine on the topology (mn_exchange) and the busiest FFN GPU's share
// under the scenario's routing popularity, the experts placed over the FFN GPUs by
// `placement` (the pool's redundant experts and rebalancer: EPLB over ffn_gpus).
AfExecution af_execution(const Scenario& scenario, const Layout& attention, const AfSpec& af,
                         const GpuSpec& ffn_gpu, const CostModel& ffn_model,
                         const ExpertPlacementSpec& placement = {});

// Sizes a pool. Throws InputError naming `serving.<pool>` when the GPU is not in the
// catalog, the instance count is below one or the weights leave no KV room. A GPU type
// without a model in `models` gets a roofline.
Pool make_pool(const Scenario& scenario, PoolKind kind, const PoolSpec& spec,
               const CostModels& models, int64_t block_tokens);

}  // namespace quadrant
