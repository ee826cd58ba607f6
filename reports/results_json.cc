// results.json: every candidate with its metrics, the resolved scenario, seed, schema
// version and git revision (report.h).
#include <nlohmann/json.hpp>

#include "reports/report.h"
#include "sim/core/version.h"
#include "sim/io/result_json.h"

namespace quadrant::reports {

using nlohmann::json;
using planner::BandCheck;
using planner::ConfigStatus;
using planner::PlanCandidate;
using planner::PlanResult;
using planner::RoleCapacity;
using planner::RunSummary;

namespace {

json length_json(const LengthSpec& l) {
  json j{{"distribution", to_string(l.distribution)}, {"mean", l.mean()}};
  switch (l.distribution) {
    case LengthDistribution::kFixed:
      j["value"] = l.value;
      break;
    case LengthDistribution::kUniform:
      j["min"] = l.min;
      j["max"] = l.max;
      break;
    case LengthDistribution::kLognormal:
      j["median"] = l.median;
      j["sigma"] = l.sigma;
      j["min"] = l.min;
      j["max"] = l.max;
      break;
    case LengthDistribution::kHistogram:
      j["bins"] = l.bins;
      break;
  }
  return j;
}

json config_json(const planner::RoleConfig& c) {
  json j{{"role", to_string(c.role)},
         {"label", c.label()},
         {"gpu", c.gpu},
         {"gpus", c.gpus()},
         {"layout", io::layout_json(c.layout)},
         {"max_batch_size", c.max_batch_size},
         {"max_batch_tokens", c.max_batch_tokens},
         {"chunk_size", c.chunk_size}};
  if (c.draft_length >= 0) j["draft_length"] = c.draft_length;
  if (c.redundant_experts >= 0) j["redundant_experts"] = c.redundant_experts;
  if (c.af.enabled())
    j["af_disaggregated"] = {{"attention_gpus", c.layout.gpus()},
                             {"ffn_gpu", c.af.ffn_gpu},
                             {"ffn_gpus", c.af.ffn_gpus},
                             {"micro_batches", c.af.micro_batches}};
  return j;
}

json run_json(const RunSummary& r) {
  return json{{"rate_per_s", r.rate_per_s},
              {"seed", r.seed},
              {"meets_slo", r.meets_slo},
              {"ttft_s", io::percentiles_json(r.ttft)},
              {"tpot_s", io::percentiles_json(r.tpot)},
              {"slo_attainment", r.slo_attainment},
              {"goodput_rps", r.goodput_rps},
              {"throughput_rps", r.throughput_rps},
              {"usd_per_hour", r.usd_per_hour},
              {"usd_per_million_tokens", r.usd_per_million_tokens},
              {"requests_scored", r.requests_scored},
              {"cost_sources", r.cost_sources}};
}

json capacity_json(const RoleCapacity& c) {
  json j{{"config", config_json(c.config)},
         {"status", to_string(c.status)},
         {"note", c.note},
         {"weights_per_gpu_gb", c.memory.weights_per_gpu.to_gb()},
         {"kv_tokens", c.memory.kv_tokens},
         {"bound",
          {{"feasible", c.bound.feasible},
           {"max_rate_per_s", c.bound.max_rate_per_s},
           {"latency_s", c.bound.latency.to_seconds()},
           {"max_batch", c.bound.max_batch},
           {"reason", c.bound.reason},
           {"source", "roofline bound (datasheet peaks x catalog efficiencies)"}}},
         {"bound_usd_per_hour", c.bound_usd_per_hour},
         {"simulations", c.simulations},
         {"above_bound", c.above_bound}};
  if (c.status == ConfigStatus::kMeasured) {
    j["rate_per_s"] = c.rate_per_s;
    j["instances"] = c.instances;
    j["usd_per_hour"] = c.usd_per_hour;
    j["at_capacity"] = run_json(c.at_capacity);
  }
  return j;
}

json candidate_json(const PlanCandidate& c) {
  json j{{"label", c.label()},
         {"mode", to_string(c.mode)},
         {"capacity_rps", c.capacity_rps},
         {"usd_per_hour", c.usd_per_hour},
         {"gpus", c.gpus},
         {"goodput_per_dollar", c.goodput_per_dollar},
         {"confirmed", c.confirmed},
         {"meets_slo", c.meets_slo},
         {"repairs", c.repairs}};
  if (c.edge_checked) {
    json edge = json::array();
    for (const RunSummary& r : c.edge_runs) edge.push_back(run_json(r));
    j["pessimistic_edge"] = {
        {"meets_slo", c.holds_at_edge}, {"instances_added", c.edge_repairs}, {"runs", edge}};
  }
  if (c.mode == ServingMode::kColocated) {
    j["colocated"] = config_json(c.colocated);
    j["colocated_instances"] = c.colocated_instances;
  } else {
    j["prefill"] = config_json(c.prefill);
    j["prefill_instances"] = c.prefill_instances;
    j["decode"] = config_json(c.decode);
    j["decode_instances"] = c.decode_instances;
  }
  json runs = json::array();
  for (const RunSummary& r : c.runs) runs.push_back(run_json(r));
  j["runs"] = runs;
  return j;
}

}  // namespace

json scenario_json(const Scenario& s) {
  json gpus = json::object();
  for (const auto& [name, g] : s.catalog.gpus) {
    gpus[name] = json{{"memory_gb", g.memory.to_gb()},
                      {"memory_bandwidth_gb_per_s", g.memory_bandwidth.value() * 1e-9},
                      {"bf16_tflop_per_s", g.bf16.value() * 1e-12},
                      {"fp8_tflop_per_s", g.fp8.value() * 1e-12},
                      {"int8_top_per_s", g.int8.value() * 1e-12},
                      {"usd_per_hour", s.price_per_hour(name)},
                      {"compute_efficiency", g.compute_efficiency},
                      {"memory_efficiency", g.memory_efficiency},
                      {"calibrated", g.calibrated},
                      {"source", g.source}};
    if (!g.capped_from.empty()) {  // bf16 etc. above are the uncapped datasheet peaks
      gpus[name]["capped_from"] = g.capped_from;
      gpus[name]["power_cap_watts"] = g.power_cap_watts;
      gpus[name]["clock_factor"] = g.clock_factor;
    }
  }
  const ModelSpec& m = s.model;
  json curve = json::array();
  for (const RatePoint& p : s.workload.arrival.curve)
    curve.push_back({{"at_s", p.at.to_seconds()}, {"rate_per_s", p.rate_per_s}});
  return json{
      {"name", s.name},
      {"file", s.file},
      {"seed", s.seed},
      {"model",
       {{"name", m.name},
        {"num_layers", m.num_layers},
        {"hidden_size", m.hidden_size},
        {"attention", to_string(m.attention.kind)},
        {"ffn", to_string(m.ffn.kind)},
        {"num_experts", m.ffn.num_experts},
        {"top_k", m.ffn.top_k},
        {"weights", to_string(m.precision.weights)},
        {"kv_cache", to_string(m.precision.kv_cache)}}},
      {"hardware", gpus},
      {"cluster", {{"gpus_per_node", s.cluster.gpus_per_node}, {"max_gpus", s.cluster.max_gpus}}},
      {"workload",
       {{"arrival",
         {{"process", to_string(s.workload.arrival.process)},
          {"rate_per_s", s.workload.arrival.rate_per_s},
          {"cv", s.workload.arrival.cv},
          {"curve", curve}}},
        {"input_length", length_json(s.workload.input_length)},
        {"output_length", length_json(s.workload.output_length)},
        {"duration_s", s.workload.duration.to_seconds()},
        {"warmup_s", s.workload.warmup.to_seconds()},
        {"max_requests", s.workload.max_requests}}},
      {"slo",
       {{"ttft_s", s.slo.ttft.to_seconds()},
        {"tpot_s", s.slo.tpot.to_seconds()},
        {"ttft_percentile", s.slo.ttft_percentile},
        {"tpot_percentile", s.slo.tpot_percentile},
        {"attainment", s.slo.attainment}}},
      {"serving",
       {{"mode", to_string(s.serving.mode)},
        {"prefill", io::pool_json(s.serving.prefill)},
        {"decode", io::pool_json(s.serving.decode)},
        {"colocated", io::pool_json(s.serving.colocated)},
        {"kv_block_size", s.serving.kv_block_size},
        {"min_kv_fraction", s.serving.min_kv_fraction}}},
      {"search",
       {{"prefill_gpus", s.search.prefill_gpus},
        {"decode_gpus", s.search.decode_gpus},
        {"tp", s.search.tp},
        {"ep", s.search.ep},
        {"pp", s.search.pp},
        {"max_batch_size", s.search.max_batch_size},
        {"chunk_size", s.search.chunk_size},
        {"max_instances_per_role", s.search.max_instances_per_role},
        {"include_colocated", s.search.include_colocated},
        {"objective", to_string(s.search.objective)},
        {"budget_usd_per_hour", s.search.budget_usd_per_hour},
        {"target_rate_per_s", s.search.target_rate_per_s},
        {"seeds", s.search.seeds},
        {"finalists", s.search.finalists},
        {"recommend", to_string(s.search.recommend)}}}};
}

json results_json(const PlanResult& r) {
  json j;
  j["schema_version"] = kResultsSchemaVersion;
  j["tool"] = "quadrant plan";
  j["git_revision"] = git_revision();
  j["seed"] = r.scenario.seed;
  j["scenario"] = scenario_json(r.scenario);
  j["target_rate_per_s"] = r.target_rate_per_s;
  j["objective"] = to_string(r.scenario.search.objective);
  j["simulations"] = r.simulations;
  j["cost_sources"] = r.cost_sources;
  j["recommended"] = r.recommended;
  // Which rule chose it (search.recommend), and the cheapest plan at nominal costs.
  j["recommendation"] = {{"rule", to_string(r.scenario.search.recommend)},
                         {"why", r.recommendation_rule},
                         {"nominal_best", r.nominal_best},
                         {"pruning_bounds", r.bound_description}};
  json bands = json::array();
  for (const BandCheck& b : r.band_checks) {
    json runs = json::array();
    for (const RunSummary& x : b.runs) runs.push_back(run_json(x));
    bands.push_back({{"z", b.z}, {"meets_slo", b.meets_slo}, {"runs", runs}});
  }
  j["band_checks"] = bands;
  j["cost_notes"] = r.cost_notes;
  j["best_disaggregated"] = r.best_disaggregated;
  j["best_colocated"] = r.best_colocated;
  j["best_homogeneous"] = r.best_homogeneous;
  j["best_heterogeneous"] = r.best_heterogeneous;
  if (r.scenario.search.af.enabled()) {
    j["best_af_disaggregated"] = r.best_af;
    j["best_without_af_disaggregated"] = r.best_without_af;
  }
  for (const auto& [key, pool] : {std::pair{"prefill", &r.prefill}, std::pair{"decode", &r.decode},
                                  std::pair{"colocated", &r.colocated}}) {
    json a = json::array();
    for (const RoleCapacity& c : *pool) a.push_back(capacity_json(c));
    j["configurations"][key] = a;
  }
  json cands = json::array();
  for (const PlanCandidate& c : r.candidates) cands.push_back(candidate_json(c));
  j["candidates"] = cands;
  json sens = json::array();
  for (const auto& p : r.sensitivity)
    sens.push_back({{"load_factor", p.load_factor},
                    {"fixed_cluster", run_json(p.fixed_cluster)},
                    {"resized",
                     {{"prefill_instances", p.prefill_instances},
                      {"decode_instances", p.decode_instances},
                      {"colocated_instances", p.colocated_instances},
                      {"usd_per_hour", p.resized_usd_per_hour}}}});
  j["sensitivity"] = sens;
  json mix = json::array();
  for (const auto& m : r.pd_mix)
    mix.push_back({{"output_scale", m.output_scale},
                   {"mean_input", m.mean_input},
                   {"mean_output", m.mean_output},
                   {"prefill_rate_per_s", m.prefill_rate_per_s},
                   {"decode_rate_per_s", m.decode_rate_per_s},
                   {"prefill_instances", m.prefill_instances},
                   {"decode_instances", m.decode_instances},
                   {"decode_per_prefill", m.decode_per_prefill}});
  j["pd_mix"] = mix;
  json pareto = json::array();
  for (const auto& p : r.pareto)
    pareto.push_back({{"slo_scale", p.slo_scale},
                      {"ttft_s", p.ttft.to_seconds()},
                      {"tpot_s", p.tpot.to_seconds()},
                      {"feasible", p.feasible},
                      {"usd_per_hour", p.usd_per_hour},
                      {"plan", p.plan},
                      {"from_slo_scale", p.from_slo_scale},
                      {"estimate_usd_per_hour", p.estimate_usd_per_hour},
                      {"disaggregated_usd_per_hour", p.disaggregated_usd_per_hour},
                      {"colocated_usd_per_hour", p.colocated_usd_per_hour},
                      {"on_frontier", p.on_frontier}});
  j["pareto"] = pareto;
  j["required_rate_per_s"] = r.required_rate_per_s;
  json sweep = json::array();
  for (const RunSummary& run : r.load_sweep) sweep.push_back(run_json(run));
  j["load_sweep"] = sweep;
  j["knee"] = {{"found", r.knee_found}, {"rate_per_s", r.knee_rate_per_s}};
  return j;
}

std::string results_text(const PlanResult& r) {
  return results_json(r).dump(2) + "\n";
}

}  // namespace quadrant::reports
