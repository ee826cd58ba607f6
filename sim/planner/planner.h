// The capacity planner: which GPUs, how many, split how between prefill and decode,
// serve the scenario's traffic within its SLOs at the lowest cost.
//
// The search, as DistServe does it: enumerate one instance's configurations per role
// (search_space.h), drop the ones that cannot fit or cannot meet the SLOs even on the
// roofline (analytic_bounds.h), then measure by simulation the highest arrival rate one
// instance sustains within the SLOs (bisection), most promising first and stopping once
// a configuration's bound cannot beat the best measured one. Pools are sized from those
// rates (which fixes the P:D ratio), and the best few plans are confirmed by whole-cluster
// simulations over several seeds, adding instances to a pool that misses its SLO.
//
//   PlanResult r = plan(scenario, simulation_evaluator(models), {.threads = 4});
//   r.candidates[r.recommended].usd_per_hour;
//
// Determinism: every simulation is a task with a typed result (TaskResult), tasks run in
// rounds whose contents do not depend on the thread count, and results are merged in
// task order; the same scenario gives byte-identical results for any --threads (and for
// any number of MPI ranks, see TaskRunner).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/engine/simulation.h"
#include "sim/planner/analytic_bounds.h"
#include "sim/planner/search_space.h"
#include "sim/scenario.h"

namespace quadrant::planner {

// Judges one cluster: simulate(scenario, models, {.seed}) in the CLI; tests may inject a
// stand-in. Must be safe to call from several threads at once.
using Evaluator = std::function<SimulationResult(const Scenario&, uint64_t seed)>;
Evaluator simulation_evaluator(CostModels models);

using BoundFn = std::function<RoleBound(const Scenario&, const RoleConfig&)>;
// The bound priced by the cost models the evaluator simulates with (cost_model_role_bound).
BoundFn cost_model_bound(CostModels models);

class TaskRunner;  // below

struct PlanOptions {
  // "How sure" (issue 12): the recommended cluster simulated again with each of these
  // evaluators (the scenario's cost models with every estimate at an edge of its error
  // band: z band sigmas added), over the seeds of its confirmation. Empty: not checked.
  std::vector<std::pair<double, Evaluator>> band_edges;
  int threads = 1;
  std::ostream* progress = nullptr;  // progress bar (stderr in the CLI); null: silent
  TaskRunner* runner = nullptr;      // null: thread_runner(threads)
  BoundFn bound = roofline_role_bound;
  std::string bound_description = "roofline (datasheet peaks x catalog efficiencies)";
  int bisection_steps = 7;       // probes per configuration after the bound
  int64_t probe_requests = 400;  // scored arrivals per single-instance probe (at least)
  int round_size = 8;            // configurations measured between pruning decisions
  int max_repairs = 3;           // instances added to a finalist that misses its SLO
  bool analyses = true;          // P:D mix, SLO Pareto, load sensitivity
};

// What the report keeps of one simulation.
struct RunSummary {
  double rate_per_s = 0;
  uint64_t seed = 0;
  bool meets_slo = false;
  Percentiles ttft, tpot;
  double slo_attainment = 0;
  double goodput_rps = 0;
  double throughput_rps = 0;
  double usd_per_hour = 0;
  double usd_per_million_tokens = 0;
  int64_t requests_scored = 0;
  std::map<std::string, std::string> cost_sources;
  // TTFT and TPOT at every 2.5th percentile of the scored requests (41 values, the CDF
  // the report draws); empty when the evaluator kept no per-request records.
  std::vector<double> ttft_quantiles, tpot_quantiles;
  bool operator==(const RunSummary&) const = default;
};

// One instance of a detailed run, for the report's time series.
struct InstanceTrace {
  std::string name;  // "prefill[0]"
  Role role = Role::kPrefill;
  std::string gpu;
  double utilization = 0;                               // busy time / lifetime
  std::vector<std::pair<double, double>> kv_occupancy;  // (time s, fraction), at most 200
  std::vector<std::pair<double, double>> batch_size;    // (time s, sequences), at most 200
  bool operator==(const InstanceTrace&) const = default;
};

// What one planner task returns: a simulation's summary, or a bisection's outcome (the
// highest rate that met the SLOs, its simulations, and the summary at that rate), and a
// run's time series when the report asks for them. Plain values: the planner passes
// them as they are; only a runner that crosses processes serialises them (the MPI
// runner, sim/cli/task_codec.h).
struct TaskResult {
  RunSummary run;
  double rate = 0;
  int simulations = 0;
  bool above_bound = false;  // the bisection met the SLOs above the roofline bound
  std::vector<InstanceTrace> detail;
  bool operator==(const TaskResult&) const = default;
};

// Runs a round of independent tasks and returns their results in task order.
class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  virtual std::vector<TaskResult> run(size_t count,
                                      const std::function<TaskResult(size_t)>& task) = 0;
};
// Threads of this process (parallel_map).
std::unique_ptr<TaskRunner> thread_runner(int threads);

enum class ConfigStatus { kInfeasible, kPrunedByBound, kMeasured, kNoRateMeetsSlo };
const char* to_string(ConfigStatus s);

// One instance configuration of one role, and what the search learnt about it.
struct RoleCapacity {
  RoleConfig config;
  MemoryFit memory;
  RoleBound bound;
  ConfigStatus status = ConfigStatus::kInfeasible;
  std::string note;               // why infeasible or pruned
  double bound_usd_per_hour = 0;  // pool at the target rate if the bound were reached
  double rate_per_s = 0;          // measured: highest rate one instance sustains in SLO
  int simulations = 0;
  bool above_bound = false;  // met the SLOs above its bound: the bound did not hold
  RunSummary at_capacity;    // the probe at rate_per_s
  int instances = 0;         // pool at the target rate
  double usd_per_hour = 0;
};

// A whole cluster: pools, their sizes and cost, the estimate behind them, and its
// confirmation by simulation.
struct PlanCandidate {
  ServingMode mode = ServingMode::kDisaggregated;
  RoleConfig prefill, decode;  // disaggregated
  RoleConfig colocated;        // colocated
  int prefill_instances = 0, decode_instances = 0, colocated_instances = 0;
  double capacity_rps = 0;  // estimated rate the cluster sustains (slowest pool)
  double usd_per_hour = 0;
  int gpus = 0;
  double goodput_per_dollar = 0;  // requests per USD at capacity (kMaxGoodputPerDollar)
  bool confirmed = false;         // simulated as a whole cluster
  bool meets_slo = false;         // every seed reached the required attainment
  int repairs = 0;                // instances added after a failed confirmation
  std::vector<RunSummary> runs;   // one per seed, at the target rate plus the headroom
  // search.n_plus_one: the target rate with one instance of each pool down (a pool of one
  // instance fails it without a run).
  bool n_minus_one_checked = false;
  RunSummary n_minus_one;
  // search.recommend robust: the plan again with every estimate at the pessimistic edge of
  // its band (PlanOptions::band_edges), one run per seed; and the instances added because
  // it missed there (a copy of a plan that held at nominal costs only).
  bool edge_checked = false;
  bool holds_at_edge = false;  // every seed met the SLOs at the pessimistic edge
  std::vector<RunSummary> edge_runs;
  int edge_repairs = 0;
  std::string label() const;
  bool homogeneous() const {
    if (mode == ServingMode::kColocated) return true;
    for (const RoleConfig* c : {&prefill, &decode})
      if (c->gpu != prefill.gpu || (c->af.enabled() && c->af.ffn_gpu != prefill.gpu)) return false;
    return true;
  }
  // Either pool runs attention and experts on pools of their own (RoleConfig::af).
  bool attention_ffn_disaggregated() const {
    return mode == ServingMode::kDisaggregated && (prefill.af.enabled() || decode.af.enabled());
  }
  double decode_per_prefill() const {
    return prefill_instances > 0 ? double(decode_instances) / prefill_instances : 0;
  }
};

struct SensitivityPoint {
  double load_factor = 1;    // of the target rate
  RunSummary fixed_cluster;  // the recommended plan as is (first seed)
  int prefill_instances = 0, decode_instances = 0, colocated_instances = 0;  // re-sized
  double resized_usd_per_hour = 0;
};

struct MixPoint {
  double output_scale = 1;  // output lengths multiplied by this
  double mean_input = 0, mean_output = 0;
  double prefill_rate_per_s = 0, decode_rate_per_s = 0;  // per instance, measured
  int prefill_instances = 0, decode_instances = 0;
  double decode_per_prefill = 0;  // instances, unrounded: prefill rate / decode rate
};

struct ParetoPoint {
  double slo_scale = 1;  // TTFT and TPOT targets multiplied by this
  Duration ttft, tpot;
  bool feasible = false;
  // The cheapest plan confirmed by whole-cluster runs at these SLOs: the best confirmed
  // of this scale's ranked plans, or a tighter scale's plan when that is cheaper (it
  // meets these looser SLOs too), so cost never rises as the SLOs loosen.
  double usd_per_hour = 0;
  std::string plan;                  // its label
  double from_slo_scale = 1;         // the scale whose search found it
  double estimate_usd_per_hour = 0;  // this scale's cheapest sized plan before confirmation
  double disaggregated_usd_per_hour = 0, colocated_usd_per_hour = 0;  // 0: none fits
  bool on_frontier = false;
};

// The recommended cluster at an edge of the cost models' error band (PlanOptions).
struct BandCheck {
  double z = 0;                  // band sigmas added to every estimate (> 0: pessimistic)
  std::vector<RunSummary> runs;  // one per seed, at the confirmation's rate
  bool meets_slo = false;        // on every seed
};

struct PlanResult {
  Scenario scenario;  // as planned (resolved)
  double target_rate_per_s = 0;
  std::vector<RoleCapacity> prefill, decode, colocated;
  std::vector<PlanCandidate> candidates;  // ranked by the objective, best first
  int recommended = -1;                   // index into candidates; -1: nothing meets the SLOs
  // The cheapest plan confirmed at nominal costs: the recommended one unless the robust
  // rule (search.recommend) passed it over because it misses at the pessimistic edge.
  int nominal_best = -1;
  // Which rule chose the recommended plan, in words (the rule, and why this plan).
  std::string recommendation_rule;
  std::string bound_description;  // what priced the pruning bounds (PlanOptions)
  int best_disaggregated = -1, best_colocated = -1;
  int best_homogeneous = -1, best_heterogeneous = -1;
  // search.af_disaggregated: the best confirmed plan with an attention/FFN-disaggregated
  // pool, and the best disaggregated one without (-1: none).
  int best_af = -1, best_without_af = -1;
  double required_rate_per_s = 0;  // target * (1 + search.headroom): what plans are sized for
  std::vector<SensitivityPoint> sensitivity;
  // The recommended cluster as is, from half the target rate up: rates in increasing
  // order (one seed), and the knee, the highest rate found within the SLOs below the
  // first that breaks them (0 when even the lowest breaks them; knee_found false when
  // none broke up to the last rate swept).
  std::vector<RunSummary> load_sweep;
  double knee_rate_per_s = 0;
  bool knee_found = false;
  std::vector<InstanceTrace> detail;  // the run at the target rate, per instance
  std::vector<MixPoint> pd_mix;
  std::vector<ParetoPoint> pareto;
  int64_t simulations = 0;
  std::map<std::string, std::string> cost_sources;  // GPU -> provenance, over all runs
  std::vector<BandCheck> band_checks;               // the recommended cluster at its band's edges
  // Block prefix cache (serving.<pool>.prefix_cache on a Mooncake trace): the hit rate each
  // prefilling configuration's own cache finds replaying the trace alone, by config label,
  // which its probes and bound use (probes have no block hashes). Empty otherwise.
  std::map<std::string, double> prefix_cache_hit_estimates;
  // With serving.shared_kv_tier: the share of prompt tokens the tier holds past each
  // configuration's own hits in the same replay (a cluster-wide tier seeing every request),
  // which its runs load over the tier (PoolSpec::shared_tier_hit_rate). Empty otherwise.
  std::map<std::string, double> shared_tier_hit_estimates;
  // With a block prefix cache: the recommended plan's prefilling instances and the shares
  // the trace's replay through that many caches finds (each cache seeing the requests
  // routed to it, the tier every request), at which its confirmation ran; instances 0:
  // none. The estimates above are one cache's alone (the probes').
  struct ClusterCacheHits {
    int instances = 0;
    double local = 0, tier = 0;
  };
  ClusterCacheHits cluster_cache;
  // What the cost models say about the recommended cluster's shapes: extrapolations by
  // name, and where the roofline and the calibrated model disagree beyond the band
  // (filled by the caller, which holds the models).
  std::vector<std::string> cost_notes;
};

// The rate the plan must serve: search.target_rate_per_s, else the workload's mean rate
// (the peak of a diurnal curve).
double target_rate(const Scenario& s);

// The time line of a single-instance probe at `rate` (seconds): a warm-up long enough
// for the instance's own steady state, a window whose arrivals are scored, and a tail
// of arrivals after it, so that the scored requests are served at steady state and not
// while the batch drains. A request's lifetime is TTFT + output * TPOT at the SLOs;
// warm-up and tail are the time in which arrivals from zero fill kSteadyFill of the
// steady-state requests in flight (rate * E[min(lifetime, t)] of rate * E[lifetime]),
// at least one mean lifetime; the window holds `requests` arrivals, at least one mean
// lifetime, and ends no earlier than kOverloadTtfts TTFT SLOs after the first arrival:
// past capacity a queue's wait grows by (1 - capacity / rate) per second, so a rate 6%
// over capacity leaves the window's last tenth waiting beyond the TTFT SLO (a prefill
// probe, whose requests live about one TTFT, would otherwise pass an overload of 1.6x:
// an EP32 DeepSeek-V3 prefill unit at 130 req/s against 83 served). No request cap: the
// rate and the lengths decide the probe's size.
inline constexpr double kSteadyFill = 0.95;
inline constexpr double kOverloadTtfts = 20;
struct ProbeWindow {
  double mean_lifetime_s = 0, fill_s = 0;
  double warmup_s = 0, window_s = 0, tail_s = 0;
};
ProbeWindow probe_window(const WorkloadSpec& w, const SloSpec& slo, double rate, int64_t requests);

// The workload one probe runs: `rate` requests/s of the scenario's lengths over
// probe_window()'s time line, arrivals of a stationary process (diurnal and traces
// become Poisson at that rate).
WorkloadSpec probe_workload(const WorkloadSpec& w, const SloSpec& slo, double rate,
                            int64_t requests);

// The scenario of a decode probe: one instance of `c` at `rate` over probe_workload()'s
// time line, every arrival entering it prefilled (ServingSpec::prefilled_arrivals), so
// that no prefill instance shapes its arrivals and its measured rate is a property of the
// configuration, the same whichever plan asks (issue 16: helper prefill instances made
// one EP32 decode unit measure 65.7 and 117.4 req/s in two plans). The prefill pool is
// `c` itself, one instance that takes no request.
Scenario decode_probe_scenario(const Scenario& base, const RoleConfig& c, double rate,
                               int64_t requests);

// A probe's simulation judged for its role: nothing rejected, something scored, and the
// TTFT SLO (prefill), the TPOT SLO (decode), or both and the attainment (colocated) met.
RunSummary judge_probe(const SimulationResult& result, const Scenario& probe, double rate,
                       uint64_t seed, Role role);

// The shares of prompt tokens the block prefix caches of `instances` instances of
// `capacity_blocks` each find cached replaying a Mooncake trace, and a shared KV tier of
// `tier_blocks` (0: none), which sees every request, holds past that (each prompt cached
// in its instance and in the tier as it arrives; whole KV blocks of `kv_block` tokens, at
// least one token computed, as the simulator counts them). Routing as the cluster's:
// cache aware, the instance with the longest cached prefix; else, and on ties, the one
// with the fewest prompt tokens routed so far (a deterministic stand-in for the fewest
// queued). What the planner's runs, which carry no block hashes, use as hit rates.
struct ReplayedHits {
  double local = 0, tier = 0;
};
ReplayedHits replayed_hit_rate(const ArrivalSpec& a, int64_t capacity_blocks, int block_tokens,
                               int kv_block, int64_t tier_blocks, int instances = 1,
                               bool cache_aware = false);

// Scales a length distribution (the mix analysis): every length times k, at least 1.
LengthSpec scaled_lengths(const LengthSpec& l, double k);

// A plan's runs over its seeds read conservatively, as the report and the terminal show
// them: each latency percentile at its worst, attainment at its lowest, cost per token
// and goodput their means; TTFT and TPOT at the SLO's own percentiles (exact:
// Percentiles::at) and the headroom below each target (1 - value / target).
struct SeedsSummary {
  Percentiles ttft, tpot;
  double ttft_at_slo = 0, tpot_at_slo = 0;  // seconds
  double ttft_headroom = 0, tpot_headroom = 0;
  double attainment = 1, usd_per_million_tokens = 0, goodput_rps = 0;
};
SeedsSummary worst_of_seeds(const std::vector<RunSummary>& runs, const SloSpec& slo);

PlanResult plan(const Scenario& scenario, const Evaluator& evaluate, const PlanOptions& options);

}  // namespace quadrant::planner
