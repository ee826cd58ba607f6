// save_scenario: the resolved Scenario back in the input format (scenario_io.h). Written
// in the reader's order (scenario_io.cc), each section with the fields its case reads,
// so that load_scenario reads the text back to an equal Scenario.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "sim/io/output_dir.h"
#include "sim/io/result_json.h"
#include "sim/io/scenario_io.h"
#include "sim/io/unit_parse.h"

namespace quadrant {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

// A resolved file path, written relative to the folder the scenario is saved in (the
// reader resolves it against that folder).
std::string relative_to(const std::string& file, const std::string& folder) {
  const fs::path base = fs::absolute(folder.empty() ? "." : folder).lexically_normal();
  return fs::absolute(file).lexically_normal().lexically_relative(base).generic_string();
}

ordered_json model_json(const ModelSpec& m) {
  ordered_json j = {{"name", m.name},
                    {"num_layers", m.num_layers},
                    {"hidden_size", m.hidden_size},
                    {"vocab_size", m.vocab_size},
                    {"tie_embeddings", m.tie_embeddings}};
  const AttentionSpec& a = m.attention;
  ordered_json at = {{"kind", to_string(a.kind)}, {"num_heads", a.num_heads}};
  if (a.kind == AttentionKind::kMla) {
    at["q_lora_rank"] = a.q_lora_rank;
    at["kv_lora_rank"] = a.kv_lora_rank;
    at["qk_nope_head_dim"] = a.qk_nope_head_dim;
    at["qk_rope_head_dim"] = a.qk_rope_head_dim;
    at["v_head_dim"] = a.v_head_dim;
  } else {
    at["num_kv_heads"] = a.num_kv_heads;
    at["head_dim"] = a.head_dim;
  }
  j["attention"] = at;
  const FfnSpec& f = m.ffn;
  ordered_json ffn = {{"kind", to_string(f.kind)}};
  if (f.kind == FfnKind::kMoe) {
    ffn["num_experts"] = f.num_experts;
    ffn["top_k"] = f.top_k;
    ffn["num_shared_experts"] = f.num_shared_experts;
    ffn["expert_intermediate_size"] = f.expert_intermediate_size;
    ffn["shared_expert_intermediate_size"] = f.shared_expert_intermediate_size;
    ffn["first_dense_layers"] = f.first_dense_layers;
    if (f.first_dense_layers > 0) ffn["intermediate_size"] = f.intermediate_size;
  } else {
    ffn["intermediate_size"] = f.intermediate_size;
    if (f.kind == FfnKind::kUltraMem) {
      ffn["memory_layer_interval"] = f.memory_layer_interval;
      ffn["num_values"] = f.num_values;
      ffn["value_dim"] = f.value_dim;
      ffn["top_k_values"] = f.top_k_values;
      ffn["num_memory_heads"] = f.num_memory_heads;
    }
  }
  j["ffn"] = ffn;
  const PrecisionSpec& p = m.precision;
  j["precision"] = {{"weights", to_string(p.weights)},
                    {"activations", to_string(p.activations)},
                    {"kv_cache", to_string(p.kv_cache)},
                    {"weight_group_size", p.weight_group_size}};
  return j;
}

ordered_json gpu_json(const GpuSpec& g, const std::string& folder) {
  ordered_json j = {{"memory", io::format_bytes(g.memory)},
                    {"memory_bandwidth", io::format_bandwidth(g.memory_bandwidth)},
                    {"bf16", io::format_flop_rate(g.bf16)},
                    {"fp8", io::format_flop_rate(g.fp8)},
                    {"int8", io::format_flop_rate(g.int8)},
                    {"nvlink_bandwidth", io::format_bandwidth(g.nvlink_bandwidth)},
                    {"nic_bandwidth", io::format_bandwidth(g.nic_bandwidth)},
                    {"usd_per_hour", g.usd_per_hour},
                    {"compute_efficiency", g.compute_efficiency},
                    {"memory_efficiency", g.memory_efficiency},
                    {"kernel_overhead", io::format_duration(g.kernel_overhead)},
                    {"reserved_memory", io::format_bytes(g.reserved_memory)}};
  if (!g.source.empty()) j["source"] = g.source;
  if (g.power_watts > 0) j["power_watts"] = g.power_watts;
  if (!g.calibrated.empty()) j["calibrated"] = relative_to(g.calibrated, folder);
  return j;
}

ordered_json link_json(const LinkSpec& l) {
  return {{"bandwidth", io::format_bandwidth(l.bandwidth)},
          {"latency", io::format_duration(l.latency)}};
}

ordered_json length_json(const LengthSpec& l) {
  ordered_json j = {{"distribution", to_string(l.distribution)}};
  switch (l.distribution) {
    case LengthDistribution::kFixed:
      j["value"] = l.value;
      break;
    case LengthDistribution::kUniform:
      break;
    case LengthDistribution::kLognormal:
      j["median"] = l.median;
      j["sigma"] = l.sigma;
      break;
    case LengthDistribution::kHistogram: {
      ordered_json bins = ordered_json::array();
      for (const auto& [length, weight] : l.bins) bins.push_back({length, weight});
      j["bins"] = bins;
      break;
    }
  }
  j["min"] = l.min;
  j["max"] = l.max;
  return j;
}

ordered_json workload_json(const WorkloadSpec& w, const std::string& folder) {
  const ArrivalSpec& a = w.arrival;
  ordered_json arrival = {{"process", to_string(a.process)}};
  switch (a.process) {
    case ArrivalProcess::kPoisson:
    case ArrivalProcess::kGamma:
    case ArrivalProcess::kDeterministic:
      arrival["rate"] = a.rate_per_s;
      arrival["cv"] = a.cv;
      break;
    case ArrivalProcess::kDiurnal: {
      arrival["period"] = io::format_duration(a.curve_period);
      ordered_json curve = ordered_json::array();
      for (const RatePoint& p : a.curve)
        curve.push_back({{"at", io::format_duration(p.at)}, {"rate", p.rate_per_s}});
      arrival["curve"] = curve;
      break;
    }
    case ArrivalProcess::kTrace:
      arrival["trace"] = {{"file", relative_to(a.trace_file, folder)},
                          {"format", to_string(a.trace_format)},
                          {"time_scale", a.trace_time_scale}};
      break;
  }
  ordered_json popularity = {{"zipf", w.expert_popularity.zipf_exponent}};
  if (!w.expert_popularity.counts.empty()) {  // whole numbers, read as integers
    ordered_json counts = ordered_json::array();
    for (double c : w.expert_popularity.counts) counts.push_back(std::llround(c));
    popularity["counts"] = counts;
  }
  // A trace's lengths are its own histograms (the reader replaces what is written);
  // scored_until is the planner's, not an input.
  return {{"arrival", arrival},
          {"input_length", length_json(w.input_length)},
          {"output_length", length_json(w.output_length)},
          {"duration", io::format_duration(w.duration)},
          {"max_requests", w.max_requests},
          {"warmup", io::format_duration(w.warmup)},
          {"expert_popularity", popularity}};
}

// The pool's shape (result_json.h), then its other inputs.
ordered_json pool_json(const PoolSpec& p) {
  ordered_json j = io::pool_json(p);
  j["kv_capacity"] = p.kv_capacity_tokens;
  j["experts"] = {{"redundant", p.experts.redundant},
                  {"rebalancer", to_string(p.experts.rebalancer)}};
  j["dual_micro_batch"] = p.dual_micro_batch;
  j["prefix_hit_rate"] = p.prefix_hit_rate;
  j["prefix_cache"] = {{"memory_fraction", p.prefix_cache.memory_fraction},
                       {"block_tokens", p.prefix_cache.block_tokens}};
  if (p.af.enabled())
    j["af_disaggregated"] = {{"ffn_gpu", p.af.ffn_gpu},
                             {"ffn_gpus", p.af.ffn_gpus},
                             {"micro_batches", p.af.micro_batches}};
  return j;
}

ordered_json serving_json(const ServingSpec& s) {
  ordered_json j = {{"mode", to_string(s.mode)}};
  // A pool the file named has a GPU (required); the others were never read.
  if (!s.prefill.gpu.empty()) j["prefill"] = pool_json(s.prefill);
  if (!s.decode.gpu.empty()) j["decode"] = pool_json(s.decode);
  if (!s.colocated.gpu.empty()) j["colocated"] = pool_json(s.colocated);
  j["kv_block_size"] = s.kv_block_size;
  j["kv_transfer_layerwise"] = s.kv_transfer_layerwise;
  if (s.shared_kv_tier.enabled())
    j["shared_kv_tier"] = {{"capacity", io::format_bytes(s.shared_kv_tier.capacity)},
                           {"bandwidth", io::format_bandwidth(s.shared_kv_tier.bandwidth)},
                           {"latency", io::format_duration(s.shared_kv_tier.latency)}};
  j["min_kv_fraction"] = s.min_kv_fraction;
  j["prefill_routing"] = to_string(s.prefill_routing);
  j["decode_routing"] = to_string(s.decode_routing);
  const SpeculativeSpec& sp = s.speculative;
  j["speculative"] = {{"enabled", sp.enabled},
                      {"draft_length", sp.draft_length},
                      {"acceptance_rate", sp.acceptance_rate},
                      {"draft_cost_ratio", sp.draft_cost_ratio}};
  const AutoscalerSpec& a = s.autoscaler;
  j["autoscaler"] = {{"enabled", a.enabled},
                     {"interval", io::format_duration(a.interval)},
                     {"provisioning_delay", io::format_duration(a.provisioning_delay)},
                     {"prefill_queue_tokens_high", a.prefill_queue_tokens_high},
                     {"decode_utilization_high", a.decode_utilization_high},
                     {"low_watermark", a.low_watermark},
                     {"min_instances", a.min_instances},
                     {"max_instances", a.max_instances}};
  return j;
}

ordered_json search_json(const SearchSpec& s) {
  ordered_json j = {{"prefill_gpus", s.prefill_gpus},
                    {"decode_gpus", s.decode_gpus},
                    {"tp", s.tp},
                    {"ep", s.ep},
                    {"pp", s.pp},
                    {"max_batch_size", s.max_batch_size},
                    {"chunk_size", s.chunk_size},
                    {"max_instances_per_role", s.max_instances_per_role},
                    {"include_colocated", s.include_colocated},
                    {"objective", to_string(s.objective)},
                    {"budget_usd_per_hour", s.budget_usd_per_hour},
                    {"target_rate", s.target_rate_per_s},
                    {"seeds", s.seeds},
                    {"finalists", s.finalists},
                    {"headroom", s.headroom},
                    {"n_plus_one", s.n_plus_one},
                    {"recommend", to_string(s.recommend)}};
  if (!s.draft_lengths.empty()) j["draft_lengths"] = s.draft_lengths;
  if (!s.redundant_experts.empty()) j["redundant_experts"] = s.redundant_experts;
  if (s.af.enabled()) {
    ordered_json af = ordered_json::object();
    ordered_json roles = ordered_json::array();
    for (Role role : s.af.roles) roles.push_back(to_string(role));
    af["roles"] = roles;
    if (!s.af.attention_gpus.empty()) af["attention_gpus"] = s.af.attention_gpus;
    af["ffn_gpus"] = s.af.ffn_gpus;
    af["attention_tp"] = s.af.attention_tp;
    af["attention_replicas"] = s.af.attention_replicas;
    af["ffn_sizes"] = s.af.ffn_sizes;
    af["micro_batches"] = s.af.micro_batches;
    j["af_disaggregated"] = af;
  }
  return j;
}

}  // namespace

std::string serving_section_json(const ServingSpec& s) {
  return serving_json(s).dump(2) + "\n";
}

std::string scenario_json(const Scenario& s, const std::string& folder) {
  ordered_json gpus = ordered_json::object();
  ordered_json power_caps = ordered_json::object();
  for (const auto& [name, g] : s.catalog.gpus) {
    if (g.capped_from.empty()) {
      gpus[name] = gpu_json(g, folder);
      continue;
    }
    ordered_json cap = {{"gpu", g.capped_from},
                        {"watts", g.power_cap_watts},
                        {"clock_factor", g.clock_factor},
                        {"usd_per_hour", g.usd_per_hour}};
    if (!g.source.empty()) cap["source"] = g.source;
    power_caps[name] = cap;
  }
  ordered_json hardware = {{"gpus", gpus}};
  if (!power_caps.empty()) hardware["power_caps"] = power_caps;
  ordered_json max_gpus = ordered_json::object();
  for (const auto& [gpu, n] : s.cluster.max_gpus) max_gpus[gpu] = n;
  ordered_json prices = ordered_json::object();
  for (const auto& [gpu, usd] : s.costs.usd_per_hour) prices[gpu] = usd;
  ordered_json j = {{"name", s.name},
                    {"seed", s.seed},
                    {"model", model_json(s.model)},
                    {"hardware", hardware},
                    {"cluster",
                     {{"gpus_per_node", s.cluster.gpus_per_node},
                      {"intra_node", link_json(s.cluster.intra_node)},
                      {"inter_node", link_json(s.cluster.inter_node)},
                      {"max_gpus", max_gpus}}},
                    {"workload", workload_json(s.workload, folder)},
                    {"slo",
                     {{"ttft", io::format_duration(s.slo.ttft)},
                      {"tpot", io::format_duration(s.slo.tpot)},
                      {"ttft_percentile", s.slo.ttft_percentile},
                      {"tpot_percentile", s.slo.tpot_percentile},
                      {"attainment", s.slo.attainment}}},
                    {"serving", serving_json(s.serving)},
                    {"search", search_json(s.search)},
                    {"costs", {{"usd_per_hour", prices}}}};
  if (s.reference.enabled())
    j["reference"] = {{"source", s.reference.source},
                      {"nodes", s.reference.nodes},
                      {"prefill_nodes", s.reference.prefill_nodes},
                      {"decode_nodes", s.reference.decode_nodes}};
  return j.dump(2) + "\n";
}

void save_scenario(const Scenario& s, const std::string& path) {
  // Never over one of the scenario's own inputs; over an earlier saved scenario, yes.
  io::OutputFile out(path, "scenario", s.input_files, "{\n  \"name\": ");
  out.out() << scenario_json(s, fs::path(path).parent_path().string());
  out.commit();
}

}  // namespace quadrant
