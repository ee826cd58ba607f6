#include "reports/plan_sections.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "reports/svg.h"
#include "sim/core/version.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/cost/step_cost.h"
#include "sim/serving/pool.h"

namespace quadrant::reports {

using planner::BandCheck;
using planner::ConfigStatus;
using planner::PlanCandidate;
using planner::PlanResult;
using planner::RoleCapacity;
using planner::RunSummary;

namespace {

std::string usd(double v) {
  char b[48];
  std::snprintf(b, sizeof b, "$%.2f", v);
  return b;
}
std::string ms(double seconds) {
  if (seconds >= 1e8) return "overload";
  char b[48];
  std::snprintf(b, sizeof b, "%.1f ms", seconds * 1e3);
  return b;
}
std::string fixed(double v, int digits) {
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}
std::string pct(double fraction) {
  return fixed(fraction * 100, 1) + "%";
}

std::string sources_of(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [gpu, src] : m) out += (out.empty() ? "" : "; ") + gpu + ": " + src;
  return out.empty() ? "n/a" : out;
}

std::string pools(const PlanCandidate& c) {
  if (c.mode == ServingMode::kColocated)
    return std::to_string(c.colocated_instances) + " x colocated [" + c.colocated.label() + "]";
  return std::to_string(c.prefill_instances) + " x prefill [" + c.prefill.label() + "], " +
         std::to_string(c.decode_instances) + " x decode [" + c.decode.label() + "]";
}

std::string ratio(const PlanCandidate& c) {
  if (c.mode == ServingMode::kColocated) return "colocated";
  return std::to_string(c.prefill_instances) + ":" + std::to_string(c.decode_instances) + " (" +
         std::to_string(c.prefill_instances * c.prefill.gpus()) + ":" +
         std::to_string(c.decode_instances * c.decode.gpus()) + " GPUs)";
}

std::vector<std::string> plan_row(const PlanResult& r, const std::string& what, int index) {
  if (index < 0) return {what, "no plan of this kind met the SLOs", "", "", "", "", "", "", ""};
  const PlanCandidate& c = r.candidates[index];
  const SloSpec& slo = r.scenario.slo;
  const planner::SeedsSummary w = planner::worst_of_seeds(c.runs, slo);
  return {what,
          pools(c),
          ratio(c),
          std::to_string(c.gpus),
          usd(c.usd_per_hour),
          c.runs.empty() ? "" : usd(w.usd_per_million_tokens),
          c.runs.empty() ? "" : ms(w.ttft_at_slo),
          c.runs.empty() ? "" : ms(w.tpot_at_slo),
          c.runs.empty() ? "" : pct(w.attainment)};
}

std::vector<std::string> plan_header(const PlanResult& r) {
  const SloSpec& slo = r.scenario.slo;
  return {
      "plan",
      "pools",
      "P:D",
      "GPUs",
      "USD/hour",
      "USD per 1M tokens",
      "TTFT " + percentile_name(slo.ttft_percentile) + " (SLO " + ms(slo.ttft.to_seconds()) + ")",
      "TPOT " + percentile_name(slo.tpot_percentile) + " (SLO " + ms(slo.tpot.to_seconds()) + ")",
      "SLO attainment (need " + pct(slo.attainment) + ")"};
}

Bar plan_bar(const PlanResult& r, const std::string& label, int index, bool highlight) {
  Bar b;
  b.label = label;
  b.highlight = highlight;
  if (index >= 0) {
    b.value = r.candidates[index].usd_per_hour;
    b.note = usd(b.value) + "/h";
  } else {
    b.note = "none";
  }
  return b;
}

// Issue 12: the recommended plan at the edges of its cost models' error bands, and what
// the models say about its shapes. Shown first.
Section how_sure(const PlanResult& r) {
  Section sec;
  sec.title = "How sure";
  const PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
  const double required = r.scenario.slo.attainment;
  auto lowest = [](const std::vector<RunSummary>& runs) {
    double a = 1;
    for (const RunSummary& x : runs) a = std::min(a, x.slo_attainment);
    return a;
  };
  auto all_meet = [](const std::vector<RunSummary>& runs) {
    bool ok = !runs.empty();
    for (const RunSummary& x : runs) ok = ok && x.meets_slo;
    return ok;
  };
  const BandCheck* pessimistic = nullptr;
  const BandCheck* optimistic = nullptr;
  for (const BandCheck& b : r.band_checks) (b.z > 0 ? pessimistic : optimistic) = &b;
  sec.paragraphs.push_back(
      "Every cost estimate carries a band: the largest error its model showed on shapes never "
      "fitted on (the validation set, the test set, and the validation shapes timed on other "
      "machines of the GPU kind; calibration/README.md), doubled for an extrapolation, with "
      "the measured derivation error added for a GPU derived from another, scaled up where "
      "that derivation scales a shape's FLOP and byte parts more unevenly than the measured "
      "one did (an H20 from an H100); roofline estimates carry none. The recommended cluster was "
      "simulated again over the same " +
      std::to_string(c.runs.size()) +
      " seeds with every estimate at the pessimistic and at the optimistic edge of its band "
      "(+-1.645 sigma).");
  Table t;
  t.header = {"costs", "SLO attainment (lowest seed)", "margin over the required " + pct(required),
              "meets the SLOs on every seed"};
  auto row = [&](const std::string& name, const std::vector<RunSummary>& runs) {
    const double a = lowest(runs);
    char m[32];
    std::snprintf(m, sizeof m, "%+.1f points", 100 * (a - required));
    t.rows.push_back({name, pct(a), m, all_meet(runs) ? "yes" : "NO"});
  };
  row("nominal", c.runs);
  if (pessimistic) row("pessimistic edge (+1.645 sigma)", pessimistic->runs);
  if (optimistic) row("optimistic edge (-1.645 sigma)", optimistic->runs);
  sec.tables.push_back(t);
  const bool nominal_ok = all_meet(c.runs);
  if (pessimistic && pessimistic->meets_slo) {
    sec.paragraphs.push_back("Verdict: the plan holds at the pessimistic edge of the band.");
  } else if (pessimistic && nominal_ok) {
    sec.paragraphs.push_back(
        "Verdict: FRAGILE. The plan meets the SLOs at the nominal costs but not at the "
        "pessimistic edge of the band: within the cost models' error it may miss them. Add "
        "headroom (an instance more in the pool that misses) or measure the kernels it runs.");
  } else if (optimistic && optimistic->meets_slo && !nominal_ok) {
    sec.paragraphs.push_back("Verdict: the plan holds only at the optimistic edge of the band.");
  }
  sec.paragraphs.push_back("Recommendation rule: " + r.recommendation_rule + ".");
  if (r.nominal_best >= 0 && r.nominal_best != r.recommended) {
    // The cheaper plan that holds at nominal costs only, beside the recommended one.
    const PlanCandidate& f = r.candidates[static_cast<size_t>(r.nominal_best)];
    const SloSpec& slo = r.scenario.slo;
    Table a;
    a.header = {"plan",
                "pools",
                "USD/hour",
                "TTFT " + percentile_name(slo.ttft_percentile) + ", nominal (headroom)",
                "TPOT " + percentile_name(slo.tpot_percentile) + ", nominal (headroom)",
                "at the pessimistic edge: TPOT " + percentile_name(slo.tpot_percentile) +
                    ", attainment (worst seed)",
                "meets the SLOs at the edge"};
    auto line = [&](const std::string& what, const PlanCandidate& x) {
      const planner::SeedsSummary n = planner::worst_of_seeds(x.runs, slo);
      const planner::SeedsSummary e = planner::worst_of_seeds(x.edge_runs, slo);
      a.rows.push_back(
          {what, pools(x), usd(x.usd_per_hour),
           ms(n.ttft_at_slo) + " (" + pct(n.ttft_headroom) + ")",
           ms(n.tpot_at_slo) + " (" + pct(n.tpot_headroom) + ")",
           x.edge_runs.empty() ? "not run" : ms(e.tpot_at_slo) + ", " + pct(e.attainment),
           !x.edge_checked   ? "not run"
           : x.holds_at_edge ? "yes"
                             : "NO"});
    };
    // Ranked first at nominal costs, it may cost the same as the recommended plan (plans of
    // one price rank by their other figures): then it is not "cheaper".
    const bool cheaper = f.usd_per_hour < c.usd_per_hour;
    line("recommended", c);
    line(cheaper ? "cheaper, fragile" : "same price, fragile", f);
    sec.tables.push_back(a);
    const planner::SeedsSummary n = planner::worst_of_seeds(f.runs, slo);
    const std::string holds = " and meets the SLOs at nominal costs with " + pct(n.ttft_headroom) +
                              " TTFT and " + pct(n.tpot_headroom) +
                              " TPOT headroom, but not at the pessimistic edge.";
    sec.paragraphs.push_back(
        cheaper
            ? "The cheaper plan (" + pools(f) + ") costs " + usd(c.usd_per_hour - f.usd_per_hour) +
                  "/h less (" + pct(1 - f.usd_per_hour / c.usd_per_hour) +
                  " of the recommended plan's cost)" + holds +
                  " Choose it with search.recommend \"nominal\" if that risk is acceptable."
            : "The plan ranked first at nominal costs (" + pools(f) + ") costs the same, " +
                  usd(f.usd_per_hour) + "/h," + holds +
                  " The recommended plan costs no more and holds there.");
  }
  if (r.cost_notes.empty()) {
    sec.paragraphs.push_back(
        "Cost models: no extrapolation on the recommended pools' typical shapes, and the "
        "roofline agrees with the calibrated models within their bands (or the pools are "
        "costed on the roofline).");
  } else {
    sec.paragraphs.push_back(
        "Cost models on the recommended pools' typical shapes (extrapolations, and the "
        "roofline against the calibrated model where they differ by more than the band):");
    for (const std::string& n : r.cost_notes) sec.paragraphs.push_back("- " + n);
  }
  return sec;
}

// Power-capped GPU types and speculative draft lengths (issue 16, deliverable 5): only
// when the search had a capped type or draft lengths to try.
Section power_and_speculation(const PlanResult& r) {
  const Scenario& s = r.scenario;
  auto best = [](const std::vector<RoleCapacity>& pool, auto&& pick) {
    const RoleCapacity* b = nullptr;
    for (const RoleCapacity& c : pool)
      if (c.status == ConfigStatus::kMeasured && pick(c.config) &&
          (b == nullptr || c.rate_per_s > b->rate_per_s))
        b = &c;
    return b;
  };
  // "—" when the search had no such configuration, "pruned" when it had but its bound
  // could not beat a measured one.
  auto rate = [](const std::vector<RoleCapacity>& pool, const RoleCapacity* c, auto&& pick) {
    if (c) return format_number(c->rate_per_s) + " (" + c->config.label() + ")";
    for (const RoleCapacity& x : pool)
      if (pick(x.config)) return std::string("not measured (") + to_string(x.status) + ")";
    return std::string("—");
  };
  // One representative step of the serving section's pools on the roofline: prefill a
  // full token budget of mean-length prompts, decode a full batch at the mean context.
  const int64_t input = std::max<int64_t>(1, std::llround(s.workload.input_length.mean()));
  const int64_t output = std::max<int64_t>(1, std::llround(s.workload.output_length.mean()));
  auto step_ms = [&](const GpuSpec& g, const PoolSpec& pool, bool decode) {
    RooflineCostModel roofline(g);
    const StepCostModel costs(s.model, pool.layout, g, s.cluster, roofline);
    StepBatch b;
    if (decode) {
      const int n = pool.max_batch_size;
      b.decode = {n, n, int64_t{n} * (input + output / 2), 0};
    } else {
      const int n = static_cast<int>(std::max<int64_t>(1, pool.max_batch_tokens / input));
      b.prefill = {n, n * input, n * input, n * (input * (input + 1) / 2)};
    }
    return ms(costs.cost(b).total.to_seconds());
  };
  std::vector<std::string> gpus;
  for (Role role : {Role::kPrefill, Role::kDecode, Role::kColocated})
    for (const std::string& g : planner::role_gpus(s, role))
      if (std::find(gpus.begin(), gpus.end(), g) == gpus.end()) gpus.push_back(g);
  bool capped = false;
  for (const std::string& g : gpus)
    if (const GpuSpec* spec = s.catalog.find(g); spec && !spec->capped_from.empty()) capped = true;
  Section sec;
  if (!capped && s.search.draft_lengths.empty()) return sec;
  sec.title = "Power caps and speculative decoding";
  if (capped) {
    sec.paragraphs.push_back(
        "A power-capped GPU type is a catalog type held to a power cap at which its SM clock "
        "runs the stated clock factor of the uncapped one. Model: the tensor peaks scale by "
        "that factor, HBM bandwidth, links and memory do not, so a compute-bound kernel (prefill) "
        "takes 1 / factor as long and a bandwidth-bound one (decode at small batches) the same "
        "(Splitwise's observation: token generation barely slows under a cap, prompt "
        "computation does). Calibrated types are derived to the cap's clock the same way. The "
        "table gives each searched GPU type's power and price, one step of the serving "
        "section's prefill (a full token budget of mean-length prompts) and decode (a full "
        "batch at the mean context) layouts on the roofline, and the best measured rate of "
        "one instance per role.");
    Table t;
    t.header = {"GPU type",
                "power per GPU (W)",
                "clock factor",
                "USD/GPU-hour",
                "prefill step (roofline)",
                "decode step (roofline)",
                "prefill req/s per instance",
                "decode req/s per instance"};
    for (const std::string& g : gpus) {
      const GpuSpec* spec = s.catalog.find(g);
      if (spec == nullptr) continue;
      const double w = spec->max_power_watts();
      const std::string power =
          w <= 0 ? "not known"
                 : format_number(w) + (spec->power_cap_watts > 0
                                           ? " (cap; " + spec->capped_from + " " +
                                                 format_number(spec->power_watts) + ")"
                                           : "");
      auto on = [&g](const planner::RoleConfig& c) { return c.gpu == g; };
      t.rows.push_back(
          {g, power, format_number(spec->clock_factor), usd(s.price_per_hour(g)),
           step_ms(*spec, s.serving.prefill, false), step_ms(*spec, s.serving.decode, true),
           rate(r.prefill, best(r.prefill, on), on), rate(r.decode, best(r.decode, on), on)});
    }
    sec.tables.push_back(t);
  }
  if (!s.search.draft_lengths.empty()) {
    const SpeculativeSpec& sp = s.serving.speculative;
    sec.paragraphs.push_back(
        "Speculative (MTP) draft lengths tried on decoding instances at acceptance " +
        format_number(sp.acceptance_rate) + " per drafted token and a draft step of " +
        format_number(sp.draft_cost_ratio) +
        " of a one-token step: a verify step checks k + 1 tokens per sequence and yields "
        "(1 - a^(k+1)) / (1 - a) of them on average. The second table gives the best measured "
        "rate of one instance per draft length.");
    Table t;
    t.header = {"draft length k", "expected tokens per step", "decode req/s per instance",
                "colocated req/s per instance"};
    for (int k : s.search.draft_lengths) {
      SpeculativeSpec x = sp;
      x.enabled = k > 0;
      x.draft_length = k;
      auto on = [k](const planner::RoleConfig& c) { return c.draft_length == k; };
      t.rows.push_back({std::to_string(k), format_number(x.expected_tokens_per_step()),
                        rate(r.decode, best(r.decode, on), on),
                        rate(r.colocated, best(r.colocated, on), on)});
    }
    sec.tables.push_back(t);
  }
  if (r.recommended >= 0) {
    const PlanCandidate& c = r.candidates[r.recommended];
    double watts = 0;
    bool known = true;
    auto add = [&](const planner::RoleConfig& cfg, int n) {
      const GpuSpec* g = s.catalog.find(cfg.gpu);
      if (n <= 0) return;
      if (g == nullptr || g->max_power_watts() <= 0)
        known = false;
      else
        watts += g->max_power_watts() * cfg.layout.gpus() * n;
      if (cfg.af.enabled()) {
        const GpuSpec* f = s.catalog.find(cfg.af.ffn_gpu);
        if (f == nullptr || f->max_power_watts() <= 0)
          known = false;
        else
          watts += f->max_power_watts() * cfg.af.ffn_gpus * n;
      }
    };
    if (c.mode == ServingMode::kColocated) {
      add(c.colocated, c.colocated_instances);
    } else {
      add(c.prefill, c.prefill_instances);
      add(c.decode, c.decode_instances);
    }
    const planner::RoleConfig& d = c.mode == ServingMode::kColocated ? c.colocated : c.decode;
    sec.paragraphs.push_back(
        "Recommended plan: " + c.label() + ", " + usd(c.usd_per_hour) + "/h, " +
        (known ? format_number(watts / 1000) + " kW of GPU power at the caps or board power"
               : std::string("GPU power not known (a type without power_watts)")) +
        (d.draft_length >= 0 ? "; draft length " + std::to_string(d.draft_length) : "") + ".");
  }
  return sec;
}

// A scenario-given prefix hit rate (issue 16, deliverable 2; DeepSeek's published 56%):
// what the hits take off the recommended prefill configuration's work, on the roofline.
Section prefix_hit_model(const PlanResult& r) {
  Section sec;
  if (!r.prefix_cache_hit_estimates.empty() || r.recommended < 0) return sec;
  const Scenario& s = r.scenario;
  const PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
  const bool colocated = c.mode == ServingMode::kColocated;
  const PoolSpec& pool = colocated ? s.serving.colocated : s.serving.prefill;
  const double h = pool.prefix_hit_rate;
  if (h <= 0) return sec;
  const planner::RoleConfig& cfg = colocated ? c.colocated : c.prefill;
  const GpuSpec* g = s.catalog.find(cfg.gpu);
  if (g == nullptr || cfg.af.enabled()) return sec;
  sec.title = "Prefix cache: hit-rate model";
  sec.paragraphs.push_back(
      "The scenario gives the prefix cache as a hit rate: " + pct(h) +
      " of each prompt (whole KV blocks, at least one token computed) is found in the cache of "
      "the pool that prefills. Prefill computes only the misses, which attend to the whole "
      "prompt; the whole prompt's KV still takes room and moves to decode; loading the hits "
      "costs nothing (an assumption: they are in the instance's own memory). The table gives "
      "the recommended prefill configuration's roofline step of a full token budget of "
      "mean-length prompts with and without the hits, per prompt; the plan without the cache "
      "is the same scenario with prefix_hit_rate 0 (scripts/feature_variants.py).");
  const int64_t input = std::max<int64_t>(1, std::llround(s.workload.input_length.mean()));
  const int64_t cached = std::min<int64_t>(
      input - 1, static_cast<int64_t>(h * static_cast<double>(input)) /
                     std::max(1, s.serving.kv_block_size) * std::max(1, s.serving.kv_block_size));
  RooflineCostModel roofline(*g);
  const StepCostModel costs(
      s.model, cfg.layout, *g, s.cluster, roofline,
      moe_execution(s.model, cfg.layout,
                    planner::expert_placement(s, cfg.role, cfg.redundant_experts),
                    s.workload.expert_popularity, pool.dual_micro_batch));
  auto per_prompt = [&](int64_t done) {
    const int64_t computed = input - done;
    const int n = static_cast<int>(std::max<int64_t>(1, cfg.max_batch_tokens / computed));
    StepBatch b;
    b.prefill = {n, n * computed, n * input, n * (computed * done + computed * (computed + 1) / 2)};
    return costs.cost(b).total.to_seconds() / n;
  };
  const double with = per_prompt(cached), without = per_prompt(0);
  Table t;
  t.header = {"prefill configuration", "mean prompt tokens",
              "computed (misses)",     "roofline prefill time per prompt: with hits",
              "without hits",          "ratio"};
  t.rows.push_back({cfg.label(), std::to_string(input), std::to_string(input - cached), ms(with),
                    ms(without), fixed(without / with, 2) + "x"});
  sec.tables.push_back(t);
  return sec;
}

// Block prefix cache (issue 16, deliverable 2): only when the plan estimated hit rates.
Section prefix_cache(const PlanResult& r) {
  Section sec;
  if (r.prefix_cache_hit_estimates.empty()) return sec;
  const Scenario& s = r.scenario;
  const bool colocated = s.serving.mode == ServingMode::kColocated;
  const PrefixCacheSpec& pc = (colocated ? s.serving.colocated : s.serving.prefill).prefix_cache;
  sec.title = "Prefix cache: block-hash reuse";
  sec.paragraphs.push_back(
      "Each instance of the pool that prefills keeps " + pct(pc.memory_fraction) +
      " of its KV memory as an LRU cache of whole " + std::to_string(pc.block_tokens) +
      "-token blocks named by the trace's hash_ids (the rest holds the KV of requests in "
      "flight); a prompt reuses its longest cached prefix (whole KV blocks, at least one token "
      "computed) and computes the rest, and routing is " +
      to_string(s.serving.prefill_routing) +
      ". The planner's runs (probes and whole-cluster confirmations) draw Poisson arrivals at "
      "the trace's lengths, without block hashes: each configuration's runs and bound use "
      "instead the share of prompt tokens its own cache (capacity from its memory) finds "
      "replaying the trace alone, in the table; `quadrant simulate` replays the trace through "
      "the caches themselves. Assumption: hits cost nothing to bring in.");
  const bool tier = !r.shared_tier_hit_estimates.empty();
  if (tier) {
    const SharedKvTierSpec& k = s.serving.shared_kv_tier;
    sec.paragraphs.push_back(
        "A shared KV tier (Mooncake's store: " + format_number(k.capacity.to_gb()) + " GB, " +
        format_number(k.bandwidth.value() / 1e9) + " GB/s for the whole cluster, " +
        format_number(k.latency.to_seconds() * 1e6) + " us" +
        " latency) takes every computed prompt's blocks. The same replay runs it beside each "
        "configuration's own cache (the tier seeing every request of the cluster): the share "
        "of prompt tokens it holds past the instance's own hit is, in the planner's runs, "
        "loaded over the tier (bytes / its bandwidth, queued behind the other loads, plus its "
        "latency) before the prompt prefills, instead of computed.");
  }
  Table t;
  t.header = {"configuration", "cache blocks per instance", "estimated hit rate (probes)"};
  if (tier) t.header.push_back("shared tier: loaded share of prompt tokens");
  for (const auto* pool : {&r.prefill, &r.colocated})
    for (const RoleCapacity& c : *pool) {
      const auto it = r.prefix_cache_hit_estimates.find(c.config.label());
      if (it == r.prefix_cache_hit_estimates.end()) continue;
      const double blocks = std::floor(pc.memory_fraction * c.memory.kv_tokens / pc.block_tokens);
      t.rows.push_back({c.config.label(), format_number(blocks), pct(it->second)});
      if (tier) {
        const auto k = r.shared_tier_hit_estimates.find(c.config.label());
        t.rows.back().push_back(k == r.shared_tier_hit_estimates.end() ? "" : pct(k->second));
      }
    }
  sec.tables.push_back(t);
  if (r.cluster_cache.instances > 0 && r.recommended >= 0) {
    const PlanCandidate& c = r.candidates[static_cast<size_t>(r.recommended)];
    const std::string label = (colocated ? c.colocated : c.prefill).label();
    const auto one = r.prefix_cache_hit_estimates.find(label);
    const auto one_tier = r.shared_tier_hit_estimates.find(label);
    std::string line =
        "The recommended plan's whole-cluster confirmation replays the trace through its " +
        std::to_string(r.cluster_cache.instances) +
        (r.cluster_cache.instances == 1 ? " instance's cache, seeing the "
                                        : " instances' caches, each seeing the ") +
        "requests routed to it (" + to_string(s.serving.prefill_routing) + "): own-cache hits " +
        pct(r.cluster_cache.local) +
        (one != r.prefix_cache_hit_estimates.end() ? " (one cache alone: " + pct(one->second) + ")"
                                                   : "");
    if (tier)
      line += ", shared tier " + pct(r.cluster_cache.tier) +
              (one_tier != r.shared_tier_hit_estimates.end()
                   ? " (beside one cache alone: " + pct(one_tier->second) + ")"
                   : "");
    sec.paragraphs.push_back(line + ".");
  }
  return sec;
}

// Chunk-PP prefill (issue 16, deliverable 4): only when the search tried pipeline stages.
Section chunk_pp(const PlanResult& r) {
  Section sec;
  const std::vector<int>& pps = r.scenario.search.pp;
  if (std::none_of(pps.begin(), pps.end(), [](int pp) { return pp > 1; })) return sec;
  sec.title = "Chunk-PP prefill";
  sec.paragraphs.push_back(
      "A prefill instance of pp pipeline stages splits prompts into chunks (chunk_size) and "
      "issues a step every stage-time (its total / pp), keeping up to pp steps in flight; a "
      "step batches the chunks of several prompts within the token budget. A prompt of n "
      "chunks gets its first token after about (n + pp - 1) stage-times instead of n whole "
      "steps: more GPUs per instance buy lower TTFT for long prompts. Measured per prefill "
      "configuration (single-instance probes at capacity):");
  Table t;
  t.header = {"prefill configuration", "pp", "GPUs", "measured req/s per instance", "req/s per GPU",
              "TTFT P90 at that rate"};
  for (const RoleCapacity& c : r.prefill) {
    if (c.status != ConfigStatus::kMeasured) continue;
    t.rows.push_back({c.config.label(), std::to_string(c.config.layout.pp),
                      std::to_string(c.config.gpus()), format_number(c.rate_per_s),
                      format_number(c.rate_per_s / c.config.gpus()), ms(c.at_capacity.ttft.p90)});
  }
  sec.tables.push_back(t);
  return sec;
}

// Attention/FFN disaggregation (issue 16, deliverable 1): when the search tried it.
// "decode", "prefill and decode": the roles of search.af_disaggregated.roles.
std::string roles_text(const std::vector<Role>& roles) {
  std::string out;
  for (size_t i = 0; i < roles.size(); ++i)
    out += std::string(i == 0 ? "" : i + 1 == roles.size() ? " and " : ", ") + to_string(roles[i]);
  return out;
}

// One representative step per pool on the roofline, at the load the plan's confirmation
// saw: a decode instance carries rate / instances x mean output x TPOT P50 sequences
// (Little's law) at the mean context; a prefill instance's step is a full token budget of
// mean-length prompts, busy rate / instances x that step / prompts per step of the time.
Section af_disaggregation(const PlanResult& r) {
  Section sec;
  const Scenario& s = r.scenario;
  if (!s.search.af.enabled() || s.model.ffn.kind != FfnKind::kMoe) return sec;
  sec.title = "Attention/FFN disaggregation: the four quadrants on their own hardware";
  sec.paragraphs.push_back(
      "MegaScale-Infer's design as searched here: an instance (of the pools "
      "search.af_disaggregated.roles names: " +
      roles_text(s.search.af.roles) +
      ") keeps attention and its KV "
      "cache on one pool (tp x dp_attention data-parallel replicas) and the experts on another "
      "(ffn_gpus GPUs, expert parallel, shared experts on each), the dense layers with "
      "attention; each step's batch is cut into m micro-batches that ping-pong between the "
      "pools layer by layer, the M:N token dispatch (activations' format) and combine (bf16) "
      "crossing the network on the topology, deduplicated per node as DeepEP sends them: "
      "each attention GPU sends a token once to each FFN node that one of its top-k experts "
      "is on (on average FFN nodes x (1 - C(E - E/nodes, k) / C(E, k)) of them: bytes = "
      "tokens x hidden x distinct nodes, not x k), to the GPU of its own NIC rail there, "
      "which forwards the copies to the expert GPUs over NVLink (the two legs pipeline; the "
      "combine comes back the same way, reduced per node). The step is the pipeline's "
      "critical path (sim/cost/af_pipeline.h): with equal micro-batches of stage times a, d, "
      "e, c (sum P, largest T) over L layers, max(P + (m L - 1) T, L P + (m - 1) T); "
      "micro-batches hide the exchange and let both pools work at once, but each re-reads "
      "the expert weights it touches. The exchange shares the attention GPUs' NICs with the "
      "KV transfers in flight when a step starts: with f KV flows on the busiest NIC its "
      "network leg takes (1 + f) times as long (a fair share of the link; the KV flows are "
      "not slowed in return, an approximation). Assumptions: the FFN pool's experts are "
      "placed by the pool's experts section (redundant replicas and EPLB over the FFN GPUs, "
      "under the workload's expert popularity; spread evenly when none is given); a token's "
      "experts fall on the FFN nodes as if drawn at random (no node-limited routing).");
  const int64_t input = std::max<int64_t>(1, std::llround(s.workload.input_length.mean()));
  const int64_t output = std::max<int64_t>(1, std::llround(s.workload.output_length.mean()));
  // One instance of a decode or prefill configuration: its roofline step at `load`, and
  // what of it each quadrant works.
  struct Quadrants {
    bool ok = false;
    Duration step, attention, ffn;  // ffn: the experts' pool (or the same GPUs' FFN time)
  };
  auto step_of = [&](const planner::RoleConfig& cfg, bool decode, int batch) {
    Quadrants q;
    const GpuSpec* g = s.catalog.find(cfg.gpu);
    const GpuSpec* f = cfg.af.enabled() ? s.catalog.find(cfg.af.ffn_gpu) : nullptr;
    if (g == nullptr || (cfg.af.enabled() && f == nullptr)) return q;
    RooflineCostModel roofline(*g);
    const RooflineCostModel ffn_roofline(f != nullptr ? *f : *g);
    const AfExecution af =
        cfg.af.enabled()
            ? af_execution(
                  s, cfg.layout, cfg.af, *f, ffn_roofline,
                  (cfg.role == Role::kPrefill ? s.serving.prefill : s.serving.decode).experts)
            : AfExecution{};
    const StepCostModel costs(s.model, cfg.layout, *g, s.cluster, roofline, {},
                              cfg.af.enabled() ? &af : nullptr);
    StepBatch b;
    if (decode) {
      const int n = std::max(1, batch);
      b.decode = {n, n, int64_t{n} * (input + output / 2), 0};
    } else {
      const int n = static_cast<int>(std::max<int64_t>(1, cfg.max_batch_tokens / input));
      b.prefill = {n, n * input, n * input, n * (input * (input + 1) / 2)};
    }
    const StepCost c = costs.cost(b);
    q.ok = true;
    q.step = c.total;
    if (cfg.af.enabled()) {
      q.attention = c.af_attention_busy;
      q.ffn = c.af_ffn_busy;
    } else {
      q.attention = c.prefill_attention + c.decode_attention;
      q.ffn = c.ffn;
    }
    return q;
  };
  // The four quadrants of one plan.
  Table t;
  t.header = {"plan",
              "quadrant",
              "hardware",
              "busy (roofline step at the plan's load)",
              "USD/hour (shared GPUs: by busy time)",
              "step (roofline)"};
  auto add_quadrants = [&](int index, const std::string& what) {
    const PlanCandidate& c = r.candidates[static_cast<size_t>(index)];
    if (c.mode != ServingMode::kDisaggregated) return;
    const double rate = r.target_rate_per_s;
    const planner::SeedsSummary w = planner::worst_of_seeds(c.runs, s.slo);
    for (const auto& [cfg, n, decode] : {std::tuple{&c.prefill, c.prefill_instances, false},
                                         std::tuple{&c.decode, c.decode_instances, true}}) {
      const double per_instance = rate / std::max(1, n);
      const int batch =
          decode ? static_cast<int>(std::min<double>(
                       cfg->max_batch_size,
                       std::ceil(per_instance * static_cast<double>(output) * w.tpot.p50)))
                 : 0;
      const Quadrants q = step_of(*cfg, decode, batch);
      if (!q.ok || q.step <= Duration::zero()) continue;
      // Share of time the instance steps: decode is always stepping under load; prefill
      // steps per_instance x step / prompts per step of the time.
      const int64_t whole_prompts = cfg->max_batch_tokens / input;  // the step's prompts
      const double prompts = std::max<double>(1, static_cast<double>(whole_prompts));
      const double active =
          decode ? 1.0 : std::min(1.0, per_instance * q.step.to_seconds() / prompts);
      const double a = active * q.attention.to_seconds() / q.step.to_seconds();
      const double e = active * q.ffn.to_seconds() / q.step.to_seconds();
      const std::string phase = decode ? "decode" : "prefill";
      const std::string step =
          ms(q.step.to_seconds()) + (decode ? " at batch " + std::to_string(batch) : "");
      if (cfg->af.enabled()) {
        const double pa = s.price_per_hour(cfg->gpu) * cfg->layout.gpus() * n;
        const double pf = s.price_per_hour(cfg->af.ffn_gpu) * cfg->af.ffn_gpus * n;
        t.rows.push_back({what, phase + " attention",
                          std::to_string(n * cfg->layout.gpus()) + " x " + cfg->gpu + " (DP" +
                              std::to_string(cfg->layout.dp_attention) + " TP" +
                              std::to_string(cfg->layout.tp) + " per instance)",
                          pct(a), usd(pa), step});
        t.rows.push_back({what, phase + " FFN (experts)",
                          std::to_string(n * cfg->af.ffn_gpus) + " x " + cfg->af.ffn_gpu + " (EP" +
                              std::to_string(cfg->af.ffn_gpus) + ", " +
                              std::to_string(cfg->af.micro_batches) + " micro-batches)",
                          pct(e), usd(pf), step});
      } else {
        const double p = s.price_per_hour(cfg->gpu) * cfg->gpus() * n;
        const double busy = (q.attention + q.ffn).to_seconds();
        const std::string hw = std::to_string(n * cfg->gpus()) + " x " + cfg->gpu + " (" +
                               cfg->label() + ", shared by attention and FFN)";
        t.rows.push_back({what, phase + " attention", hw, pct(a),
                          usd(busy > 0 ? p * q.attention.to_seconds() / busy : 0), step});
        t.rows.push_back({what, phase + " FFN (experts)", hw, pct(e),
                          usd(busy > 0 ? p * q.ffn.to_seconds() / busy : 0), step});
      }
    }
  };
  for (const auto& [index, what] : {std::pair{r.best_af, "attention/FFN disaggregated"},
                                    std::pair{r.best_without_af, "not disaggregated"}}) {
    if (index < 0) {
      sec.paragraphs.push_back(std::string("Best confirmed plan, ") + what +
                               ": none met the SLOs.");
      continue;
    }
    const PlanCandidate& c = r.candidates[static_cast<size_t>(index)];
    sec.paragraphs.push_back(std::string("Best confirmed plan, ") + what + ": " + pools(c) + ", " +
                             std::to_string(c.gpus) + " GPUs, " + usd(c.usd_per_hour) + "/h" +
                             (index == r.recommended ? " (recommended)" : "") + ".");
    add_quadrants(index, what);
  }
  sec.paragraphs.push_back(
      "The four quadrants of each (first table): each pool's hardware, the share of the time "
      "its GPUs work (one roofline step at the plan's load; GPUs that attention and FFN share "
      "split their time and cost between the two) and its cost. Then every configuration "
      "measured of each role searched with attention/FFN disaggregation, attention/FFN-"
      "disaggregated ones carrying '| ffn <GPU> x<FFN GPUs> mb<micro-batches>' (single-instance "
      "probes at capacity; a prefill probe's rate is judged on TTFT alone).");
  sec.tables.push_back(t);
  // Every configuration measured of each AF role, attention/FFN-disaggregated or not.
  for (Role role : {Role::kPrefill, Role::kDecode}) {
    const std::vector<Role>& roles = s.search.af.roles;
    if (std::find(roles.begin(), roles.end(), role) == roles.end()) continue;
    const bool decode = role == Role::kDecode;
    Table d;
    d.header = {
        std::string(to_string(role)) + " configuration",
        "GPUs per instance",
        "measured req/s per instance",
        "USD/hour per req/s",
        decode ? "TPOT P90 at that rate" : "TTFT P90 at that rate",
        decode ? "step at the bound's batch (roofline)" : "step of a full token budget (roofline)"};
    for (const RoleCapacity& c : decode ? r.decode : r.prefill) {
      if (c.status != ConfigStatus::kMeasured) continue;
      const Quadrants q = step_of(c.config, decode, std::max(1, c.bound.max_batch));
      const double per_rate = c.rate_per_s > 0 ? c.config.usd_per_hour(s) / c.rate_per_s : 0;
      std::string step;
      if (q.ok)
        step = ms(q.step.to_seconds()) +
               (decode ? " at batch " + std::to_string(std::max(1, c.bound.max_batch))
                       : " for " + std::to_string(c.config.max_batch_tokens) + " tokens");
      d.rows.push_back({c.config.label(), std::to_string(c.config.gpus()),
                        format_number(c.rate_per_s), usd(per_rate),
                        ms(decode ? c.at_capacity.tpot.p90 : c.at_capacity.ttft.p90), step});
    }
    sec.tables.push_back(d);
  }
  return sec;
}

// scenario.reference: the recommended plan's nodes against a published deployment's,
// per pool where the source splits them (nodes = instances x GPUs per instance / GPUs per
// node; a pool need not fill whole nodes).
Section published_comparison(const PlanResult& r) {
  Section sec;
  const Scenario& s = r.scenario;
  const ReferenceSpec& ref = s.reference;
  if (!ref.enabled() || r.recommended < 0) return sec;
  const PlanCandidate& c = r.candidates[r.recommended];
  const double per_node = std::max(1, s.cluster.gpus_per_node);
  auto nodes = [per_node](int instances, const planner::RoleConfig& cfg) {
    return instances * cfg.gpus() / per_node;
  };
  const bool colocated = c.mode == ServingMode::kColocated;
  const double prefill = colocated ? 0 : nodes(c.prefill_instances, c.prefill);
  const double decode = colocated ? 0 : nodes(c.decode_instances, c.decode);
  const double all = colocated ? nodes(c.colocated_instances, c.colocated) : prefill + decode;
  sec.title = "Against the published deployment";
  sec.paragraphs.push_back(
      "The recommended plan's nodes (" + std::to_string(s.cluster.gpus_per_node) +
      " GPUs each) against the deployment the scenario reproduces (scenario.reference; "
      "compared, not planned from). Source: " +
      ref.source + ".");
  Table t;
  t.header = {"", "plan (simulated)", "published", "plan / published"};
  auto count = [](double v) {  // up to two decimals, no trailing zeros: 210, 226.75, 95.5
    std::string out = fixed(v, 2);
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
    return out;
  };
  auto row = [&t, &count](const std::string& what, double plan, double published) {
    t.rows.push_back({what, count(plan), published > 0 ? count(published) : "n/a",
                      published > 0 ? fixed(plan / published, 2) + "x" : "n/a"});
  };
  row("nodes", all, ref.nodes);
  if (!colocated) {
    row("prefill nodes", prefill, ref.prefill_nodes);
    row("decode nodes", decode, ref.decode_nodes);
  }
  sec.tables.push_back(t);
  return sec;
}

// search.redundant_experts: per role and redundant-expert count, the best measured
// configuration (highest rate per USD/hour), so the report shows what the count changed.
Table redundant_search(const PlanResult& r) {
  const Scenario& s = r.scenario;
  Table t;
  t.header = {"role",
              "redundant experts",
              "best measured configuration",
              "req/s per instance",
              "USD/hour per req/s",
              "configurations measured / infeasible"};
  for (const auto* caps : {&r.prefill, &r.decode, &r.colocated}) {
    for (int k : s.search.redundant_experts) {
      const RoleCapacity* best = nullptr;
      int measured = 0, infeasible = 0;
      Role role = Role::kPrefill;
      for (const RoleCapacity& c : *caps) {
        if (c.config.redundant_experts != k) continue;
        role = c.config.role;
        if (c.status == ConfigStatus::kInfeasible) ++infeasible;
        if (c.status != ConfigStatus::kMeasured || c.rate_per_s <= 0) continue;
        ++measured;
        const double per = c.config.usd_per_hour(s) / c.rate_per_s;
        if (best == nullptr || per < best->config.usd_per_hour(s) / best->rate_per_s) best = &c;
      }
      if (measured == 0 && infeasible == 0) continue;
      t.rows.push_back({to_string(role), std::to_string(k),
                        best != nullptr ? best->config.label() : "none",
                        best != nullptr ? format_number(best->rate_per_s) : "",
                        best != nullptr ? usd(best->config.usd_per_hour(s) / best->rate_per_s) : "",
                        std::to_string(measured) + " / " + std::to_string(infeasible)});
    }
  }
  return t;
}

}  // namespace

std::vector<Section> plan_sections(const PlanResult& r) {
  std::vector<Section> out;
  const Scenario& s = r.scenario;
  const SloSpec& slo = s.slo;
  const std::string provenance = "Cost models of the simulations: " + sources_of(r.cost_sources) +
                                 ". Pruning bounds: " + r.bound_description + ".";

  if (r.recommended >= 0) out.push_back(how_sure(r));
  {  // recommended plan
    Section sec;
    sec.title = "Recommended plan";
    if (r.recommended < 0) {
      sec.paragraphs.push_back(
          "No candidate met the SLOs in whole-cluster simulation. The tables below show how "
          "close each came; widen the search (GPU types, layouts, max_instances_per_role) or "
          "relax the SLOs.");
    } else {
      const PlanCandidate& c = r.candidates[r.recommended];
      const planner::SeedsSummary w = planner::worst_of_seeds(c.runs, slo);
      sec.paragraphs.push_back(
          "Objective: " + std::string(to_string(s.search.objective)) + " at " +
          format_number(r.target_rate_per_s) + " requests/s. Figures are the worst over " +
          std::to_string(c.runs.size()) + " seeds of whole-cluster simulation.");
      Table t;
      t.header = {"", "value"};
      t.rows = {
          {"serving mode", to_string(c.mode)},
          {"pools", pools(c)},
          {"P:D ratio (instances, GPUs)", ratio(c)},
          {"GPUs", std::to_string(c.gpus)},
          {"cost per hour", usd(c.usd_per_hour)},
          {"cost per million tokens (input + output)", usd(w.usd_per_million_tokens)},
          {"TTFT P50 / P90 / P99",
           ms(w.ttft.p50) + " / " + ms(w.ttft.p90) + " / " + ms(w.ttft.p99)},
          {"TPOT P50 / P90 / P99",
           ms(w.tpot.p50) + " / " + ms(w.tpot.p90) + " / " + ms(w.tpot.p99)},
          {"SLOs", "TTFT " + percentile_name(slo.ttft_percentile) +
                       " <= " + ms(slo.ttft.to_seconds()) + ", TPOT " +
                       percentile_name(slo.tpot_percentile) + " <= " + ms(slo.tpot.to_seconds()) +
                       ", attainment >= " + pct(slo.attainment)},
          {"SLO attainment (lowest seed)", pct(w.attainment)},
          {"headroom: TTFT, TPOT below their SLOs",
           pct(w.ttft_headroom) + ", " + pct(w.tpot_headroom)},
          {"headroom: estimated capacity over target rate",
           pct(c.capacity_rps / r.target_rate_per_s - 1)},
          {"load margin required (search.headroom)", pct(s.search.headroom) + ": confirmed at " +
                                                         format_number(r.required_rate_per_s) +
                                                         " requests/s"},
          {"knee: the load at which the plan breaks",
           r.load_sweep.empty() ? "not analysed"
           : r.knee_found
               ? format_number(r.knee_rate_per_s) + " requests/s (" +
                     pct(r.knee_rate_per_s / r.target_rate_per_s - 1) + " above the target)"
               : "beyond " + format_number(r.load_sweep.back().rate_per_s) +
                     " requests/s (the highest rate swept)"},
          {"N+1 (one instance of each pool down, at the target rate)",
           !c.n_minus_one_checked    ? "not required (search.n_plus_one false)"
           : c.n_minus_one.meets_slo ? "SLOs held: TTFT " + percentile_name(slo.ttft_percentile) +
                                           " " + ms(c.n_minus_one.ttft.at(slo.ttft_percentile)) +
                                           ", TPOT " + percentile_name(slo.tpot_percentile) + " " +
                                           ms(c.n_minus_one.tpot.at(slo.tpot_percentile))
                                     : "SLOs missed"},
          {"instances added after confirmation", std::to_string(c.repairs)},
          {"instances added at the pessimistic edge (search.recommend)",
           std::to_string(c.edge_repairs)},
          {"cost models",
           sources_of(c.runs.empty() ? r.cost_sources : c.runs.front().cost_sources)}};
      sec.tables.push_back(t);
    }
    out.push_back(sec);
  }
  if (Section sec = published_comparison(r); !sec.title.empty()) out.push_back(sec);
  {  // disaggregated vs colocated
    Section sec;
    sec.title = "Disaggregated against colocated";
    Table t;
    t.header = plan_header(r);
    t.rows.push_back(plan_row(r, "best disaggregated", r.best_disaggregated));
    t.rows.push_back(plan_row(r, "best colocated", r.best_colocated));
    sec.tables.push_back(t);
    if (r.best_disaggregated >= 0 && r.best_colocated >= 0) {
      const double d = r.candidates[r.best_disaggregated].usd_per_hour;
      const double c = r.candidates[r.best_colocated].usd_per_hour;
      sec.paragraphs.push_back(d < c ? "Disaggregation saves " + pct(1 - d / c) +
                                           " of the colocated cost."
                                     : "Colocation is " + pct(1 - c / d) +
                                           " cheaper than the best disaggregated plan here.");
    }
    BarChart b{.title = "Cost per hour at the target rate", .y_label = "USD/hour"};
    b.bars = {plan_bar(r, "disaggregated", r.best_disaggregated, true),
              plan_bar(r, "colocated", r.best_colocated, false)};
    sec.svgs.push_back(render(b));
    sec.paragraphs.push_back(provenance);
    out.push_back(sec);
  }
  {  // heterogeneous vs homogeneous
    Section sec;
    sec.title = "Heterogeneous against homogeneous GPUs";
    sec.paragraphs.push_back(
        "Heterogeneous: prefill and decode pools on different GPU types (compute-rich for "
        "prefill, bandwidth-rich for decode); homogeneous: one type for both.");
    Table t;
    t.header = plan_header(r);
    t.rows.push_back(plan_row(r, "best homogeneous", r.best_homogeneous));
    t.rows.push_back(plan_row(r, "best heterogeneous", r.best_heterogeneous));
    sec.tables.push_back(t);
    BarChart b{.title = "Cost per hour: one GPU type or two", .y_label = "USD/hour"};
    b.bars = {plan_bar(r, "homogeneous", r.best_homogeneous, false),
              plan_bar(r, "heterogeneous", r.best_heterogeneous, true)};
    sec.svgs.push_back(render(b));
    out.push_back(sec);
  }
  if (!r.pd_mix.empty()) {  // P:D ratio vs mix
    Section sec;
    sec.title = "Best P:D ratio as the input/output mix changes";
    sec.paragraphs.push_back(
        "Output lengths scaled against the scenario's (inputs unchanged); the best "
        "disaggregated plan's prefill and decode configurations re-measured by simulation. "
        "Decode instances per prefill instance = prefill rate / decode rate per instance.");
    Table t;
    t.header = {"output scale",
                "mean input",
                "mean output",
                "prefill req/s per instance",
                "decode req/s per instance",
                "P:D instances at target",
                "decode per prefill"};
    Series series{.name = "decode instances per prefill instance"};
    for (const auto& m : r.pd_mix) {
      t.rows.push_back({fixed(m.output_scale, 2), fixed(m.mean_input, 0), fixed(m.mean_output, 0),
                        format_number(m.prefill_rate_per_s), format_number(m.decode_rate_per_s),
                        m.decode_rate_per_s > 0 ? std::to_string(m.prefill_instances) + ":" +
                                                      std::to_string(m.decode_instances)
                                                : "decode infeasible",
                        m.decode_rate_per_s > 0 ? format_number(m.decode_per_prefill) : "n/a"});
      if (m.decode_rate_per_s > 0 && m.mean_input > 0)
        series.points.emplace_back(m.mean_output / m.mean_input, m.decode_per_prefill);
    }
    sec.tables.push_back(t);
    LineChart c{.title = "P:D balance against output/input length",
                .x_label = "mean output / mean input (log scale)",
                .y_label = "decode per prefill instance"};
    c.log_x = true;
    c.series.push_back(series);
    sec.svgs.push_back(render(c));
    out.push_back(sec);
  }
  if (!r.pareto.empty()) {  // Pareto
    Section sec;
    sec.title = "Cost against SLO tightness (Pareto frontier)";
    sec.paragraphs.push_back(
        "Both SLO targets scaled together and the search rerun at each scale (bounds, "
        "per-instance capacities by simulation, pool sizing), its best plans confirmed by "
        "whole-cluster runs over every seed at those SLOs. A plan that meets tighter SLOs "
        "meets looser ones, so each scale takes the cheapest confirmed plan of its own or "
        "any tighter scale: cost never rises as the SLOs loosen. The disaggregated and "
        "colocated columns are the sized estimates before confirmation. On the frontier: "
        "cheaper than every tighter SLO.");
    Table t;
    t.header = {"SLO scale",
                "TTFT SLO",
                "TPOT SLO",
                "cheapest confirmed USD/hour",
                "plan",
                "found at scale",
                "best disaggregated (estimate)",
                "best colocated (estimate)",
                "on frontier"};
    Series cheapest{.name = "cheapest plan"};
    Series disaggregated{.name = "disaggregated"};
    Series colocated{.name = "colocated"};
    auto cost = [](double v) { return v > 0 ? usd(v) : std::string("infeasible"); };
    for (const auto& p : r.pareto) {
      t.rows.push_back({fixed(p.slo_scale, 2), ms(p.ttft.to_seconds()), ms(p.tpot.to_seconds()),
                        p.feasible ? usd(p.usd_per_hour) : "infeasible", p.plan,
                        p.feasible ? fixed(p.from_slo_scale, 2) : "",
                        cost(p.disaggregated_usd_per_hour), cost(p.colocated_usd_per_hour),
                        p.on_frontier ? "yes" : "no"});
      if (p.feasible) cheapest.points.emplace_back(p.tpot.to_millis(), p.usd_per_hour);
      if (p.disaggregated_usd_per_hour > 0)
        disaggregated.points.emplace_back(p.tpot.to_millis(), p.disaggregated_usd_per_hour);
      if (p.colocated_usd_per_hour > 0)
        colocated.points.emplace_back(p.tpot.to_millis(), p.colocated_usd_per_hour);
    }
    sec.tables.push_back(t);
    LineChart c{.title = "Cheapest plan against the TPOT target",
                .x_label = "TPOT SLO (ms; TTFT scaled alike)",
                .y_label = "USD/hour"};
    c.series = {cheapest, disaggregated, colocated};
    sec.svgs.push_back(render(c));
    out.push_back(sec);
  }
  if (!r.sensitivity.empty()) {  // sensitivity
    Section sec;
    sec.title = "Sensitivity to load (+-20%)";
    sec.paragraphs.push_back(
        "The recommended cluster as is, simulated at 80%, 100% and 120% of the target rate "
        "(first seed), and the cluster the measured capacities would size for that load.");
    Table t;
    t.header = {"load",
                "req/s",
                "TTFT " + percentile_name(slo.ttft_percentile),
                "TPOT " + percentile_name(slo.tpot_percentile),
                "SLO attainment",
                "meets SLOs",
                "re-sized pools",
                "re-sized USD/hour"};
    Series att{.name = "SLO attainment (fixed cluster)"};
    for (const auto& p : r.sensitivity) {
      const std::string resized = p.colocated_instances > 0
                                      ? std::to_string(p.colocated_instances) + " colocated"
                                      : std::to_string(p.prefill_instances) + " prefill + " +
                                            std::to_string(p.decode_instances) + " decode";
      t.rows.push_back(
          {pct(p.load_factor), format_number(p.fixed_cluster.rate_per_s),
           ms(p.fixed_cluster.ttft.at(slo.ttft_percentile)),
           ms(p.fixed_cluster.tpot.at(slo.tpot_percentile)), pct(p.fixed_cluster.slo_attainment),
           p.fixed_cluster.meets_slo ? "yes" : "no", resized, usd(p.resized_usd_per_hour)});
      att.points.emplace_back(p.load_factor * 100, p.fixed_cluster.slo_attainment * 100);
    }
    sec.tables.push_back(t);
    LineChart c{.title = "SLO attainment of the recommended cluster against load",
                .x_label = "load (% of target rate)",
                .y_label = "attainment (%)"};
    c.series.push_back(att);
    c.guides.push_back({slo.attainment * 100, "required"});
    sec.svgs.push_back(render(c));
    out.push_back(sec);
  }
  {  // finalists
    Section sec;
    sec.title = "Finalists confirmed by whole-cluster simulation";
    sec.paragraphs.push_back(
        "Plans sized from per-instance capacities, then simulated as whole clusters (KV "
        "transfer and routing included) over " +
        std::to_string(std::max(1, s.search.seeds)) +
        " seeds; a plan that missed its SLOs got one more instance in the pool that missed "
        "and was simulated again. All " +
        std::to_string(r.candidates.size()) +
        " sized plans are in candidates.csv and results.json.");
    Table t;
    t.header = plan_header(r);
    t.header[0] = "rank";
    t.header.push_back("meets SLOs");
    t.header.push_back("instances added");
    for (size_t i = 0; i < r.candidates.size(); ++i) {
      const PlanCandidate& c = r.candidates[i];
      if (!c.confirmed) continue;
      auto row = plan_row(r, std::to_string(i + 1), static_cast<int>(i));
      row.push_back(c.meets_slo ? "yes" : "no");
      row.push_back(std::to_string(c.repairs));
      t.rows.push_back(row);
    }
    sec.tables.push_back(t);
    out.push_back(sec);
  }
  {  // role configurations
    Section sec;
    sec.title = "Instance configurations per role";
    sec.paragraphs.push_back(
        "Per configuration: the roofline bound on the rate one instance sustains within the "
        "SLOs, and the rate measured by bisection over single-instance simulations (" +
        std::to_string(r.simulations) +
        " simulations in all). Configurations whose bound "
        "could not beat a measured one were not simulated.");
    for (const auto& [name, pool] :
         {std::pair{"prefill", &r.prefill}, std::pair{"decode", &r.decode},
          std::pair{"colocated", &r.colocated}}) {
      if (pool->empty()) continue;
      Table t;
      t.header = {std::string(name) + " configuration",
                  "status",
                  "bound req/s (roofline)",
                  "measured req/s",
                  "instances at target",
                  "USD/hour",
                  "simulations",
                  "cost model / note"};
      for (const RoleCapacity& c : *pool) {
        const bool m = c.status == ConfigStatus::kMeasured;
        std::string note = c.note;
        if (m) {
          auto it = c.at_capacity.cost_sources.find(c.config.gpu);
          note = it != c.at_capacity.cost_sources.end() ? it->second : "";
          if (c.above_bound) note += " (met the SLOs above its roofline bound)";
        }
        t.rows.push_back({c.config.label(), to_string(c.status),
                          c.bound.feasible ? format_number(c.bound.max_rate_per_s) : "",
                          m ? format_number(c.rate_per_s) : "",
                          m ? std::to_string(c.instances) : "", m ? usd(c.usd_per_hour) : "",
                          std::to_string(c.simulations), note});
      }
      sec.tables.push_back(t);
    }
    out.push_back(sec);
  }
  {  // expert parallelism: only when the scenario sets routing skew, placement or overlap
    const ExpertPopularity& pop = s.workload.expert_popularity;
    auto set = [](const PoolSpec& p) {
      return !(p.experts == ExpertPlacementSpec{}) || p.dual_micro_batch;
    };
    const bool moe = s.model.ffn.kind == FfnKind::kMoe;
    if (moe && r.recommended >= 0 &&
        (!pop.uniform() || set(s.serving.prefill) || set(s.serving.decode) ||
         set(s.serving.colocated))) {
      const PlanCandidate& c = r.candidates[r.recommended];
      Section sec;
      sec.title = "Expert parallelism: routing skew, placement and overlap";
      sec.paragraphs.push_back(
          "Routing: " +
          (pop.counts.empty()
               ? "Zipf exponent " + format_number(pop.zipf_exponent) + " over popularity ranks"
               : std::to_string(pop.counts.size()) + " measured expert counts") +
          ". A MoE layer waits for its busiest GPU: the table gives that GPU's share of the "
          "routed pairs over the mean with the experts placed statically (in id order) and "
          "with the pool's placement, and one representative step of the recommended "
          "configuration on the roofline (decode: a full batch at the mean context; prefill: "
          "a full token budget), with the communication the dual micro-batch hides.");
      Table t;
      t.header = {"pool",
                  "EP GPUs",
                  "redundant experts, rebalancer",
                  "busiest GPU / mean: static",
                  "busiest GPU / mean: this placement",
                  "expert slots per GPU",
                  "dual micro-batch",
                  "step (roofline): compute, expert communication, hidden"};
      auto row = [&](const char* name, const planner::RoleConfig& cfg, const PoolSpec& spec,
                     bool decode) {
        const GpuSpec* g = s.catalog.find(cfg.gpu);
        if (g == nullptr || cfg.af.enabled()) return;  // AF: its own section
        const Layout& l = cfg.layout;
        const MoeExecution fixed = moe_execution(s.model, l, {}, pop, false);
        const ExpertPlacementSpec experts =
            planner::expert_placement(s, cfg.role, cfg.redundant_experts);
        const MoeExecution mine = moe_execution(s.model, l, experts, pop, spec.dual_micro_batch);
        RooflineCostModel roofline(*g);
        const StepCostModel costs(s.model, l, *g, s.cluster, roofline, mine);
        StepBatch b;
        const int64_t input = std::max<int64_t>(1, std::llround(s.workload.input_length.mean()));
        const int64_t output = std::max<int64_t>(1, std::llround(s.workload.output_length.mean()));
        if (decode) {
          const int n = cfg.max_batch_size;
          b.decode = {n, n, int64_t{n} * (input + output / 2), 0};
        } else {
          const int n = static_cast<int>(std::max<int64_t>(1, cfg.max_batch_tokens / input));
          b.prefill = {n, n * input, n * input, n * (input * (input + 1) / 2)};
        }
        const StepCost sc = costs.cost(b);
        const Duration compute = sc.prefill_attention + sc.decode_attention + sc.ffn;
        t.rows.push_back({name, std::to_string(l.tp * l.dp_attention),
                          std::to_string(experts.redundant) + ", " + to_string(experts.rebalancer),
                          format_number(fixed.imbalance), format_number(mine.imbalance),
                          format_number(mine.slots_per_gpu > 0 ? mine.slots_per_gpu
                                                               : double(s.model.ffn.num_experts) /
                                                                     (l.tp * l.dp_attention)),
                          spec.dual_micro_batch ? "yes" : "no",
                          ms(compute.to_seconds()) + ", " + ms(sc.ep_communication.to_seconds()) +
                              ", " + ms(sc.hidden_communication.to_seconds())});
      };
      if (c.mode == ServingMode::kColocated) {
        row("colocated", c.colocated, s.serving.colocated, true);
      } else {
        row("prefill", c.prefill, s.serving.prefill, false);
        row("decode", c.decode, s.serving.decode, true);
      }
      sec.tables.push_back(t);
      if (!s.search.redundant_experts.empty()) sec.tables.push_back(redundant_search(r));
      out.push_back(sec);
    }
  }
  if (Section sec = power_and_speculation(r); !sec.title.empty()) out.push_back(sec);
  if (Section sec = prefix_cache(r); !sec.title.empty()) out.push_back(sec);
  if (Section sec = prefix_hit_model(r); !sec.title.empty()) out.push_back(sec);
  if (Section sec = chunk_pp(r); !sec.title.empty()) out.push_back(sec);
  if (Section sec = af_disaggregation(r); !sec.title.empty()) out.push_back(sec);
  {  // provenance
    Section sec;
    sec.title = "Where the numbers come from";
    Table t;
    t.header = {"GPU type", "cost model of the simulations", "catalog source"};
    for (const auto& [gpu, g] : s.catalog.gpus) {
      auto it = r.cost_sources.find(gpu);
      if (it == r.cost_sources.end()) continue;
      t.rows.push_back({gpu, it->second, g.source});
    }
    sec.tables.push_back(t);
    sec.paragraphs.push_back(
        "measured: a CUPTI profile; fitted: a model fitted to profiles (with its held-out "
        "error); derived: a calibrated GPU scaled to another; roofline: datasheet peaks times "
        "the catalog's efficiencies. The search's pruning bounds are always roofline.");
    out.push_back(sec);
  }
  return out;
}

std::string plan_header_line(const PlanResult& r) {
  return "Scenario: " + r.scenario.name + " | target " + format_number(r.target_rate_per_s) +
         " req/s | objective " + to_string(r.scenario.search.objective) + " | seed " +
         std::to_string(r.scenario.seed) + " | " + std::to_string(r.simulations) +
         " simulations | " + std::to_string(r.candidates.size()) + " sized plans | quadrant " +
         git_revision();
}

}  // namespace quadrant::reports
