#include "sim/serving/pool.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sim/core/error.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/model/accounting.h"
#include "sim/topology/topology.h"

namespace quadrant {

const char* pool_key(PoolKind kind) {
  return kind == PoolKind::kPrefill  ? "prefill"
         : kind == PoolKind::kDecode ? "decode"
                                     : "colocated";
}

AfExecution af_execution(const Scenario& sc, const Layout& attention, const AfSpec& spec,
                         const GpuSpec& ffn_gpu, const CostModel& ffn_model,
                         const ExpertPlacementSpec& placement) {
  AfExecution af;
  af.ffn_gpu = &ffn_gpu;
  af.ffn_model = &ffn_model;
  af.ffn_gpus = spec.ffn_gpus;
  af.micro_batches = spec.micro_batches;
  af.dispatch = mn_node_exchange(sc.cluster, attention.gpus(), spec.ffn_gpus, true);
  af.combine = mn_node_exchange(sc.cluster, attention.gpus(), spec.ffn_gpus, false);
  const int per_node = std::max(1, sc.cluster.gpus_per_node);
  af.ffn_nodes = (spec.ffn_gpus + per_node - 1) / per_node;
  af.distinct_nodes =
      expected_distinct_groups(sc.model.ffn.num_experts, sc.model.ffn.top_k, af.ffn_nodes);
  af.forwards = std::min(per_node, spec.ffn_gpus) > 1;
  af.forward = sc.cluster.intra_node;
  const MoeExecution moe = moe_execution(sc.model, af_ffn_layout(spec.ffn_gpus), placement,
                                         sc.workload.expert_popularity, false);
  af.imbalance = moe.imbalance;
  af.slots_per_gpu = moe.slots_per_gpu;
  return af;
}

Pool make_pool(const Scenario& sc, PoolKind kind, const PoolSpec& spec, const CostModels& models,
               int64_t block_tokens) {
  Pool pool;
  const std::string path = std::string("serving.") + pool_key(kind);
  pool.spec = &spec;
  pool.role = kind == PoolKind::kPrefill  ? Role::kPrefill
              : kind == PoolKind::kDecode ? Role::kDecode
                                          : Role::kColocated;
  pool.gpu = sc.catalog.find(spec.gpu);
  if (!pool.gpu)
    throw InputError(sc.file, path + ".gpu",
                     "expected a GPU of the catalog, got \"" + spec.gpu + "\"");
  if (spec.instances < 1)
    throw InputError(sc.file, path + ".instances",
                     "expected at least one instance, got " + std::to_string(spec.instances));
  if (auto it = models.find(spec.gpu); it != models.end() && it->second) {
    pool.model = it->second;
  } else {
    pool.model = std::make_shared<RooflineCostModel>(*pool.gpu);
  }
  // "roofline:H100-SXM", "fitted:calibration/models/h100.json", ...
  pool.cost_source = pool.model->describe();
  const std::string prefix = to_string(pool.model->provenance());
  if (pool.cost_source.rfind(prefix + ":", 0) != 0)
    pool.cost_source = prefix + ":" + pool.cost_source;
  // With attention/FFN disaggregation the experts (and their placement) are the FFN pool's.
  const MoeExecution moe =
      spec.af.enabled() ? MoeExecution{}
                        : moe_execution(sc.model, spec.layout, spec.experts,
                                        sc.workload.expert_popularity, spec.dual_micro_batch);
  Bytes weights = weight_bytes_per_gpu(sc.model, spec.layout) +
                  redundant_expert_bytes_per_gpu(sc.model, spec.layout, moe.slots_per_gpu);
  if (spec.af.enabled()) {
    const std::string af_path = path + ".af_disaggregated";
    pool.ffn_gpu = sc.catalog.find(spec.af.ffn_gpu);
    if (!pool.ffn_gpu)
      throw InputError(sc.file, af_path + ".ffn_gpu",
                       "expected a GPU of the catalog, got \"" + spec.af.ffn_gpu + "\"");
    if (auto it = models.find(spec.af.ffn_gpu); it != models.end() && it->second) {
      pool.ffn_model = it->second;
    } else {
      pool.ffn_model = std::make_shared<RooflineCostModel>(*pool.ffn_gpu);
    }
    pool.ffn_cost_source = pool.ffn_model->describe();
    const std::string ffn_prefix = to_string(pool.ffn_model->provenance());
    if (pool.ffn_cost_source.rfind(ffn_prefix + ":", 0) != 0)
      pool.ffn_cost_source = ffn_prefix + ":" + pool.ffn_cost_source;
    const AfExecution af =
        af_execution(sc, spec.layout, spec.af, *pool.ffn_gpu, *pool.ffn_model, spec.experts);
    const AfWeights w =
        af_weight_bytes_per_gpu(sc.model, spec.layout, spec.af.ffn_gpus, af.slots_per_gpu);
    weights = w.attention_per_gpu;
    const Bytes ffn_free = pool.ffn_gpu->memory - pool.ffn_gpu->reserved_memory;
    if (w.ffn_per_gpu > ffn_free) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "expected the experts to fit: %.1f GB per FFN GPU over %d GPUs exceed %s's "
                    "%.1f GB less %.1f GB reserved (use more ffn_gpus)",
                    w.ffn_per_gpu.to_gb(), spec.af.ffn_gpus, spec.af.ffn_gpu.c_str(),
                    pool.ffn_gpu->memory.to_gb(), pool.ffn_gpu->reserved_memory.to_gb());
      throw InputError(sc.file, af_path + ".ffn_gpus", buf);
    }
    pool.costs = std::make_unique<StepCostModel>(sc.model, spec.layout, *pool.gpu, sc.cluster,
                                                 *pool.model, MoeExecution{}, &af);
  } else {
    pool.costs = std::make_unique<StepCostModel>(sc.model, spec.layout, *pool.gpu, sc.cluster,
                                                 *pool.model, moe);
  }
  const Bytes free = pool.gpu->memory - weights - pool.gpu->reserved_memory;
  const Bytes per_token = kv_bytes_per_token_per_gpu(sc.model, spec.layout);
  const double tokens =
      free.value() > 0 ? std::floor(free / per_token) * spec.layout.dp_attention : 0;
  pool.kv_capacity_blocks = static_cast<int64_t>(tokens) / block_tokens;
  // A measured engine's own KV cache (calibration/engine) instead of the memory model's.
  if (spec.kv_capacity_tokens > 0) pool.kv_capacity_blocks = spec.kv_capacity_tokens / block_tokens;
  if (spec.prefix_cache.memory_fraction > 0) {
    const double f = spec.prefix_cache.memory_fraction;
    const double kv_tokens = static_cast<double>(pool.kv_capacity_blocks * block_tokens);
    pool.prefix_cache_blocks =
        static_cast<int64_t>(std::floor(f * kv_tokens / spec.prefix_cache.block_tokens));
    pool.kv_capacity_blocks =
        static_cast<int64_t>(std::floor((1 - f) * static_cast<double>(pool.kv_capacity_blocks)));
  }
  if (pool.kv_capacity_blocks < 1) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "expected the model to fit: weights %.1f GB per GPU + %.1f GB reserved leave no "
                  "KV cache room in %s's %.1f GB (use more GPUs per instance)",
                  weights.to_gb(), pool.gpu->reserved_memory.to_gb(), spec.gpu.c_str(),
                  pool.gpu->memory.to_gb());
    throw InputError(sc.file, path + ".layout", buf);
  }
  pool.slots = spec.instances;
  if (sc.serving.autoscaler.enabled)
    pool.slots = std::max(pool.slots, sc.serving.autoscaler.max_instances);
  pool.slot_instance.assign(static_cast<size_t>(pool.slots), -1);
  return pool;
}

}  // namespace quadrant
