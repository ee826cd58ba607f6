#include "sim/planner/search_space.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sim/cost/step_cost.h"
#include "sim/model/accounting.h"

namespace quadrant::planner {

std::string RoleConfig::label() const {
  std::string out = gpu + " tp" + std::to_string(layout.tp) + " ep" + std::to_string(layout.ep) +
                    " pp" + std::to_string(layout.pp);
  if (layout.dp_attention > 1) out += " dp" + std::to_string(layout.dp_attention);
  if (role != Role::kPrefill) out += " batch" + std::to_string(max_batch_size);
  if (role != Role::kDecode) out += " chunk" + std::to_string(chunk_size);
  if (draft_length >= 0) out += " draft" + std::to_string(draft_length);
  if (redundant_experts >= 0) out += " red" + std::to_string(redundant_experts);
  if (af.enabled())
    out += " | ffn " + af.ffn_gpu + " x" + std::to_string(af.ffn_gpus) + " mb" +
           std::to_string(af.micro_batches);
  return out;
}

double RoleConfig::usd_per_hour(const Scenario& s) const {
  double usd = s.price_per_hour(gpu) * layout.gpus();
  if (af.enabled()) usd += s.price_per_hour(af.ffn_gpu) * af.ffn_gpus;
  return usd;
}

MemoryFit af_memory_fit(const Scenario& s, const RoleConfig& c) {
  MemoryFit fit;
  const GpuSpec* g = s.catalog.find(c.gpu);
  const GpuSpec* f = s.catalog.find(c.af.ffn_gpu);
  if (g == nullptr || f == nullptr) {
    fit.reason = "GPU type '" + (g == nullptr ? c.gpu : c.af.ffn_gpu) + "' is not in the catalog";
    return fit;
  }
  // The role's expert placement (redundant experts, EPLB) over the FFN GPUs.
  const ExpertPlacementSpec experts = expert_placement(s, c.role, c.redundant_experts);
  if (experts.rebalancer == Rebalancer::kEplb &&
      (s.model.ffn.num_experts + experts.redundant) % c.af.ffn_gpus != 0) {
    fit.reason = "eplb: experts + redundant (" + std::to_string(s.model.ffn.num_experts) + " + " +
                 std::to_string(experts.redundant) + ") do not divide over " +
                 std::to_string(c.af.ffn_gpus) + " FFN GPUs";
    return fit;
  }
  const MoeExecution moe = moe_execution(s.model, af_ffn_layout(c.af.ffn_gpus), experts,
                                         s.workload.expert_popularity, false);
  const AfWeights w = af_weight_bytes_per_gpu(s.model, c.layout, c.af.ffn_gpus, moe.slots_per_gpu);
  fit.weights_per_gpu = w.attention_per_gpu;
  fit.kv_budget_per_gpu = g->memory - g->reserved_memory - w.attention_per_gpu;
  const Bytes per_token = kv_bytes_per_token_per_gpu(s.model, c.layout);
  fit.kv_tokens = per_token.value() > 0 && fit.kv_budget_per_gpu.value() > 0
                      ? std::floor(fit.kv_budget_per_gpu / per_token) * c.layout.dp_attention
                      : 0;
  const Bytes min_kv = g->memory * s.serving.min_kv_fraction;
  const Bytes ffn_room = f->memory - f->reserved_memory;
  char buf[200];
  if (w.ffn_per_gpu > ffn_room) {
    std::snprintf(buf, sizeof buf, "experts %.1f GB per FFN GPU exceed %s's %.1f GB less reserved",
                  w.ffn_per_gpu.to_gb(), c.af.ffn_gpu.c_str(), f->memory.to_gb());
    fit.reason = buf;
  } else if (fit.kv_budget_per_gpu < min_kv) {
    std::snprintf(buf, sizeof buf,
                  "attention weights %.1f GB per GPU leave %.1f GB for KV, below the minimum "
                  "%.1f GB",
                  w.attention_per_gpu.to_gb(), fit.kv_budget_per_gpu.to_gb(), min_kv.to_gb());
    fit.reason = buf;
  } else {
    fit.fits = true;
  }
  return fit;
}

ExpertPlacementSpec expert_placement(const Scenario& s, Role role, int redundant) {
  ExpertPlacementSpec experts = (role == Role::kPrefill  ? s.serving.prefill
                                 : role == Role::kDecode ? s.serving.decode
                                                         : s.serving.colocated)
                                    .experts;
  if (redundant >= 0) experts.redundant = redundant;
  return experts;
}

MemoryFit memory_fit(const Scenario& s, const std::string& gpu, const Layout& layout, Role role,
                     int redundant) {
  MemoryFit fit;
  const GpuSpec* g = s.catalog.find(gpu);
  if (g == nullptr) {
    fit.reason = "GPU type '" + gpu + "' is not in the catalog";
    return fit;
  }
  const ExpertPlacementSpec experts = expert_placement(s, role, redundant);
  const int stage_gpus = layout.tp * layout.dp_attention;
  if (s.model.ffn.kind == FfnKind::kMoe && experts.rebalancer == Rebalancer::kEplb &&
      (s.model.ffn.num_experts + experts.redundant) % stage_gpus != 0) {
    fit.reason = "eplb: experts + redundant (" + std::to_string(s.model.ffn.num_experts) + " + " +
                 std::to_string(experts.redundant) + ") do not divide over " +
                 std::to_string(stage_gpus) + " GPUs";
    return fit;
  }
  const MoeExecution moe =
      moe_execution(s.model, layout, experts, s.workload.expert_popularity, false);
  fit.weights_per_gpu = weight_bytes_per_gpu(s.model, layout) +
                        redundant_expert_bytes_per_gpu(s.model, layout, moe.slots_per_gpu);
  fit.kv_budget_per_gpu = g->memory - g->reserved_memory - fit.weights_per_gpu;
  const Bytes min_kv = g->memory * s.serving.min_kv_fraction;
  const Bytes per_token = kv_bytes_per_token_per_gpu(s.model, layout);
  fit.kv_tokens = per_token.value() > 0 && fit.kv_budget_per_gpu.value() > 0
                      ? std::floor(fit.kv_budget_per_gpu / per_token)
                      : 0;
  // DP-attention replicas each hold their own sequences' KV.
  fit.kv_tokens *= layout.dp_attention;
  fit.fits = fit.kv_budget_per_gpu >= min_kv;
  if (!fit.fits) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "weights %.1f GB per GPU leave %.1f GB for KV, below the minimum %.1f GB "
                  "(min_kv_fraction %.2f of %.0f GB)",
                  fit.weights_per_gpu.to_gb(), fit.kv_budget_per_gpu.to_gb(), min_kv.to_gb(),
                  s.serving.min_kv_fraction, g->memory.to_gb());
    fit.reason = buf;
  }
  return fit;
}

std::vector<Layout> candidate_layouts(const Scenario& s) {
  std::vector<Layout> out;
  const bool moe = s.model.ffn.kind == FfnKind::kMoe;
  const int heads = s.model.attention.num_heads;
  // The search lists hold no data-parallel attention degree; take the ones the serving
  // section uses (DeepSeek-style TP4 x DP8 with EP32), and 1.
  std::vector<int> dps{1};
  for (const PoolSpec* p : {&s.serving.prefill, &s.serving.decode, &s.serving.colocated})
    if (std::find(dps.begin(), dps.end(), p->layout.dp_attention) == dps.end())
      dps.push_back(p->layout.dp_attention);
  for (int dp : dps) {
    for (int tp : s.search.tp) {
      if (tp <= 0 || (heads > 0 && heads % tp != 0)) continue;
      for (int ep : s.search.ep) {
        if (ep <= 0 || (tp * dp) % ep != 0) continue;
        if (!moe && ep != 1) continue;
        if (moe && ep > s.model.ffn.num_experts) continue;
        for (int pp : s.search.pp) {
          if (pp <= 0 || s.model.num_layers % pp != 0) continue;
          out.push_back(Layout{.tp = tp, .ep = ep, .pp = pp, .dp_attention = dp});
        }
      }
    }
  }
  return out;
}

std::vector<std::string> role_gpus(const Scenario& s, Role role) {
  std::vector<std::string> out;
  auto add = [&out](const std::vector<std::string>& v) {
    for (const auto& g : v)
      if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  };
  switch (role) {
    case Role::kPrefill:
      add(s.search.prefill_gpus.empty() ? std::vector<std::string>{s.serving.prefill.gpu}
                                        : s.search.prefill_gpus);
      break;
    case Role::kDecode:
      add(s.search.decode_gpus.empty() ? std::vector<std::string>{s.serving.decode.gpu}
                                       : s.search.decode_gpus);
      break;
    case Role::kColocated:
      add(role_gpus(s, Role::kPrefill));
      add(role_gpus(s, Role::kDecode));
      if (!s.serving.colocated.gpu.empty() && s.serving.mode == ServingMode::kColocated)
        add({s.serving.colocated.gpu});
      break;
  }
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
  return out;
}

std::vector<EnumeratedConfig> enumerate_role_configs(const Scenario& s, Role role) {
  std::vector<EnumeratedConfig> out;
  const PoolSpec& base = role == Role::kPrefill  ? s.serving.prefill
                         : role == Role::kDecode ? s.serving.decode
                                                 : s.serving.colocated;
  const std::vector<int> batches =
      role == Role::kPrefill ? std::vector<int>{base.max_batch_size} : s.search.max_batch_size;
  const std::vector<int64_t> chunks =
      role == Role::kDecode ? std::vector<int64_t>{base.chunk_size} : s.search.chunk_size;
  const std::vector<int> drafts = role == Role::kPrefill || s.search.draft_lengths.empty()
                                      ? std::vector<int>{-1}
                                      : s.search.draft_lengths;
  // Redundant-expert counts: searched for an MoE pool that EPLB places (redundant copies
  // are what EPLB balances with; without it they would be placed in id order, unused).
  const std::vector<int> redundants = s.model.ffn.kind == FfnKind::kMoe &&
                                              base.experts.rebalancer == Rebalancer::kEplb &&
                                              !s.search.redundant_experts.empty()
                                          ? s.search.redundant_experts
                                          : std::vector<int>{-1};
  // Attention/FFN-disaggregated instances of this role (search.af_disaggregated), first.
  const AfSearchSpec& a = s.search.af;
  if (role != Role::kColocated && a.enabled() && s.model.ffn.kind == FfnKind::kMoe &&
      std::find(a.roles.begin(), a.roles.end(), role) != a.roles.end()) {
    const std::vector<std::string> attention =
        a.attention_gpus.empty() ? role_gpus(s, role) : a.attention_gpus;
    const int heads = s.model.attention.num_heads;
    for (const std::string& gpu : attention)
      for (int tp : a.attention_tp) {
        if (tp <= 0 || (heads > 0 && heads % tp != 0)) continue;
        for (int dp : a.attention_replicas)
          for (const std::string& ffn : a.ffn_gpus)
            for (int n : a.ffn_sizes)
              for (int mb : a.micro_batches)
                for (int batch : batches)
                  for (int64_t chunk : chunks)
                    for (int draft : drafts)
                      for (int redundant : redundants) {
                        RoleConfig c;
                        c.role = role;
                        c.gpu = gpu;
                        c.layout = Layout{.tp = tp, .ep = 1, .pp = 1, .dp_attention = dp};
                        c.af = AfSpec{.ffn_gpu = ffn, .ffn_gpus = n, .micro_batches = mb};
                        c.max_batch_size = batch;
                        c.chunk_size = chunk;
                        c.max_batch_tokens = role == Role::kDecode
                                                 ? base.max_batch_tokens
                                                 : std::max<int64_t>(base.max_batch_tokens, chunk);
                        c.draft_length = draft;
                        c.redundant_experts = redundant;
                        out.push_back({c, af_memory_fit(s, c)});
                      }
      }
  }
  for (const std::string& gpu : role_gpus(s, role)) {
    for (const Layout& layout : candidate_layouts(s)) {
      for (int redundant : redundants) {
        const MemoryFit fit = memory_fit(s, gpu, layout, role, redundant);
        for (int batch : batches) {
          for (int64_t chunk : chunks) {
            for (int draft : drafts) {
              RoleConfig c;
              c.role = role;
              c.gpu = gpu;
              c.layout = layout;
              c.max_batch_size = batch;
              c.chunk_size = chunk;
              c.max_batch_tokens = std::max<int64_t>(base.max_batch_tokens, chunk);
              c.draft_length = draft;
              c.redundant_experts = redundant;
              out.push_back({c, fit});
            }
          }
        }
      }
    }
  }
  return out;
}

namespace {
PoolSpec pool_of(const PoolSpec& base, const RoleConfig& c, int instances) {
  PoolSpec p = base;
  p.gpu = c.gpu;
  p.instances = instances;
  p.layout = c.layout;
  p.max_batch_size = c.max_batch_size;
  p.chunk_size = c.chunk_size;
  p.max_batch_tokens = c.max_batch_tokens;
  p.af = c.af;  // the serving section's own AF (if any) is one configuration among others
  if (c.redundant_experts >= 0) p.experts.redundant = c.redundant_experts;
  // An AF unit's micro-batches are its overlap: the pool's dual micro-batch is for the others.
  if (c.af.enabled()) p.dual_micro_batch = false;
  return p;
}
}  // namespace

Scenario with_disaggregated(const Scenario& s, const RoleConfig& prefill, int prefill_instances,
                            const RoleConfig& decode, int decode_instances) {
  Scenario out = s;
  out.serving.mode = ServingMode::kDisaggregated;
  out.serving.prefill = pool_of(s.serving.prefill, prefill, prefill_instances);
  out.serving.decode = pool_of(s.serving.decode, decode, decode_instances);
  out.serving.speculative = speculative_of(s, decode);
  out.serving.autoscaler.enabled = false;  // the plan sizes the pools, not an autoscaler
  return out;
}

Scenario with_colocated(const Scenario& s, const RoleConfig& colocated, int instances) {
  Scenario out = s;
  out.serving.mode = ServingMode::kColocated;
  out.serving.colocated = pool_of(s.serving.colocated, colocated, instances);
  out.serving.speculative = speculative_of(s, colocated);
  out.serving.autoscaler.enabled = false;
  return out;
}

SpeculativeSpec speculative_of(const Scenario& s, const RoleConfig& c) {
  SpeculativeSpec sp = s.serving.speculative;
  if (c.draft_length < 0 || c.role == Role::kPrefill) return sp;
  sp.enabled = c.draft_length > 0;
  if (sp.enabled) sp.draft_length = c.draft_length;
  return sp;
}

}  // namespace quadrant::planner
