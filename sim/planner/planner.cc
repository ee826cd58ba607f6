#include "sim/planner/planner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <tuple>

#include "sim/core/error.h"
#include "sim/model/accounting.h"
#include "sim/planner/progress.h"
#include "sim/planner/work_queue.h"
#include "sim/serving/prefix_cache.h"
#include "sim/workload/request_source.h"
#include "sim/workload/trace_reader.h"

namespace quadrant::planner {

const char* to_string(ConfigStatus s) {
  switch (s) {
    case ConfigStatus::kInfeasible:
      return "infeasible";
    case ConfigStatus::kPrunedByBound:
      return "pruned_by_bound";
    case ConfigStatus::kMeasured:
      return "measured";
    case ConfigStatus::kNoRateMeetsSlo:
      return "no_rate_meets_slo";
  }
  return "?";
}

std::string PlanCandidate::label() const {
  if (mode == ServingMode::kColocated)
    return "colocated " + std::to_string(colocated_instances) + "x[" + colocated.label() + "]";
  return "prefill " + std::to_string(prefill_instances) + "x[" + prefill.label() + "] + decode " +
         std::to_string(decode_instances) + "x[" + decode.label() + "]";
}

namespace {

class ThreadRunner : public TaskRunner {
 public:
  explicit ThreadRunner(int threads) : threads_(threads) {}
  std::vector<TaskResult> run(size_t count,
                              const std::function<TaskResult(size_t)>& task) override {
    return parallel_map<TaskResult>(count, threads_, task);
  }

 private:
  int threads_;
};

}  // namespace

BoundFn cost_model_bound(CostModels models) {
  return [models = std::move(models)](const Scenario& s, const RoleConfig& c) {
    return cost_model_role_bound(s, c, models);
  };
}

std::unique_ptr<TaskRunner> thread_runner(int threads) {
  return std::make_unique<ThreadRunner>(threads);
}

double target_rate(const Scenario& s) {
  if (s.search.target_rate_per_s > 0) return s.search.target_rate_per_s;
  const ArrivalSpec& a = s.workload.arrival;
  if (a.process == ArrivalProcess::kDiurnal && !a.curve.empty()) {
    double peak = 0;
    for (const RatePoint& p : a.curve) peak = std::max(peak, p.rate_per_s);
    return peak;
  }
  return a.rate_per_s;
}

ProbeWindow probe_window(const WorkloadSpec& w, const SloSpec& slo, double rate, int64_t requests) {
  // Lifetimes at the SLOs, over a fixed sample of the scenario's output lengths (the
  // same for every probe of a scenario: a deterministic stream, not the run's seed).
  constexpr int kSample = 4096;
  LengthSampler lengths(w.output_length);
  RandomStream rng(0, "probe-lifetimes");
  std::vector<double> life(kSample);
  double total = 0;
  for (double& x : life) {
    x = slo.ttft.to_seconds() + lengths.sample(rng) * slo.tpot.to_seconds();
    total += x;
  }
  std::sort(life.begin(), life.end());
  ProbeWindow pw;
  pw.mean_lifetime_s = total / kSample;
  // Arrivals at a steady rate from zero hold rate * E[min(X, t)] requests in flight at
  // t (X the lifetime), rate * E[X] at steady state: warm up until E[min(X, t)] reaches
  // kSteadyFill of E[X], and at least one mean lifetime.
  double below = 0;  // sum of the lifetimes shorter than life[i]
  pw.fill_s = life.back();
  for (int i = 0; i < kSample; ++i) {
    const double e_min = (below + life[i] * (kSample - i)) / kSample;
    if (e_min >= kSteadyFill * pw.mean_lifetime_s) {
      pw.fill_s = life[i];
      break;
    }
    below += life[i];
  }
  pw.fill_s = std::max(pw.fill_s, pw.mean_lifetime_s);
  pw.warmup_s = pw.fill_s;
  // Scored: the arrivals of a window holding `requests` requests (at least one mean
  // lifetime), then arrivals go on for another fill time, so that the scored requests
  // decode beside a full batch and not while it drains.
  pw.window_s = std::max({static_cast<double>(requests) / rate, pw.mean_lifetime_s,
                          kOverloadTtfts * slo.ttft.to_seconds() - pw.warmup_s});
  pw.tail_s = pw.fill_s;
  return pw;
}

WorkloadSpec probe_workload(const WorkloadSpec& w, const SloSpec& slo, double rate,
                            int64_t requests) {
  WorkloadSpec p = w;
  if (p.arrival.process == ArrivalProcess::kDiurnal || p.arrival.process == ArrivalProcess::kTrace)
    p.arrival.process = ArrivalProcess::kPoisson;
  p.arrival.rate_per_s = rate;
  p.arrival.curve.clear();
  const ProbeWindow pw = probe_window(w, slo, rate, requests);
  p.max_requests = 0;  // no cap: the window decides
  p.warmup = Duration::seconds(pw.warmup_s);
  p.scored_until = Duration::seconds(pw.warmup_s + pw.window_s);
  p.duration = Duration::seconds(pw.warmup_s + pw.window_s + pw.tail_s);
  return p;
}

Scenario decode_probe_scenario(const Scenario& base, const RoleConfig& c, double rate,
                               int64_t requests) {
  RoleConfig idle = c;
  idle.role = Role::kPrefill;
  Scenario out = with_disaggregated(base, idle, 1, c, 1);
  out.serving.prefilled_arrivals = true;
  out.workload = probe_workload(base.workload, base.slo, rate, requests);
  return out;
}

LengthSpec scaled_lengths(const LengthSpec& l, double k) {
  LengthSpec out = l;
  auto scale = [k](int64_t v) { return std::max<int64_t>(1, std::llround(double(v) * k)); };
  out.value = scale(l.value);
  out.min = scale(l.min);
  out.max = scale(l.max);
  out.median = std::max(1.0, l.median * k);
  for (auto& [len, weight] : out.bins) len = scale(len);
  return out;
}

SeedsSummary worst_of_seeds(const std::vector<RunSummary>& runs, const SloSpec& slo) {
  SeedsSummary w;
  if (runs.empty()) return w;
  w.ttft.slo_percentile = runs.front().ttft.slo_percentile;
  w.tpot.slo_percentile = runs.front().tpot.slo_percentile;
  for (const RunSummary& r : runs) {
    for (auto [a, b] : {std::pair{&w.ttft, &r.ttft}, std::pair{&w.tpot, &r.tpot}}) {
      a->mean = std::max(a->mean, b->mean);
      a->p50 = std::max(a->p50, b->p50);
      a->p90 = std::max(a->p90, b->p90);
      a->p99 = std::max(a->p99, b->p99);
      a->max = std::max(a->max, b->max);
      a->at_slo_percentile = std::max(a->at_slo_percentile, b->at_slo_percentile);
    }
    w.attainment = std::min(w.attainment, r.slo_attainment);
    w.usd_per_million_tokens += r.usd_per_million_tokens / double(runs.size());
    w.goodput_rps += r.goodput_rps / double(runs.size());
  }
  w.ttft_at_slo = w.ttft.at(slo.ttft_percentile);
  w.tpot_at_slo = w.tpot.at(slo.tpot_percentile);
  w.ttft_headroom = 1 - w.ttft_at_slo / slo.ttft.to_seconds();
  w.tpot_headroom = 1 - w.tpot_at_slo / slo.tpot.to_seconds();
  return w;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Every 2.5th percentile (0, 2.5, ..., 100) by nearest rank, as the metrics' percentiles.
std::vector<double> quantiles(std::vector<float> v) {
  std::vector<double> q;
  if (v.empty()) return q;
  std::sort(v.begin(), v.end());
  const double n = static_cast<double>(v.size());
  for (int i = 0; i <= 40; ++i) {
    const double rank = std::ceil(i * 2.5 / 100 * n);
    const size_t k = static_cast<size_t>(std::clamp(rank - 1, 0.0, n - 1));
    q.push_back(v[k]);
  }
  return q;
}

// At most 200 points of a series: every k-th sample, and the last.
std::vector<std::pair<double, double>> thinned(
    const std::vector<std::pair<double, double>>& series) {
  std::vector<std::pair<double, double>> a;
  const size_t step = std::max<size_t>(1, (series.size() + 199) / 200);
  for (size_t i = 0; i < series.size(); i += step) a.push_back(series[i]);
  if (!series.empty() && (series.size() - 1) % step != 0) a.push_back(series.back());
  return a;
}

// The report's time series of a run: each instance's utilisation, KV and batch samples.
std::vector<InstanceTrace> detail_of(const SimulationResult& result) {
  std::vector<InstanceTrace> out;
  for (const InstanceSummary& i : result.instances)
    out.push_back({i.name, i.role, i.gpu, i.utilization, thinned(i.kv_occupancy_series),
                   thinned(i.batch_size_series)});
  return out;
}

// One simulation's task result.
TaskResult simulated(RunSummary r) {
  TaskResult t;
  t.run = std::move(r);
  return t;
}

}  // namespace

// planner.h; the cluster's routing, as its prefill router picks (sim/serving/router.h).
ReplayedHits replayed_hit_rate(const ArrivalSpec& a, int64_t capacity_blocks, int block_tokens,
                               int kv_block, int64_t tier_blocks, int instances, bool cache_aware) {
  TraceReader trace(a.trace_file, a.trace_format, a.trace_time_scale);
  std::vector<BlockPrefixCache> caches;
  for (int i = 0; i < std::max(1, instances); ++i) caches.emplace_back(capacity_blocks);
  std::vector<int64_t> routed(caches.size(), 0);
  BlockPrefixCache tier(tier_blocks);
  double prompt = 0, hit = 0, loaded = 0;
  while (std::optional<TraceRecord> r = trace.next()) {
    auto whole_blocks = [&](size_t blocks) {
      // Reuse stops at the last whole KV block before the prompt's final token.
      const int64_t tokens =
          std::min<int64_t>(static_cast<int64_t>(blocks) * block_tokens, r->input_tokens - 1);
      const int64_t reused = tokens / kv_block * kv_block;
      return static_cast<double>(reused);
    };
    size_t pick = 0, m = caches[0].match(r->hash_ids);
    for (size_t i = 1; i < caches.size(); ++i) {
      const size_t mi = cache_aware ? caches[i].match(r->hash_ids) : 0;
      const bool better = cache_aware && mi != m ? mi > m : routed[i] < routed[pick];
      if (better) {
        pick = i;
        m = mi;
      }
    }
    if (!cache_aware) m = caches[pick].match(r->hash_ids);
    routed[pick] += r->input_tokens;
    BlockPrefixCache& cache = caches[pick];
    cache.touch(r->hash_ids, m);
    hit += whole_blocks(m);
    if (tier_blocks > 0) {
      const size_t t = tier.match(r->hash_ids);
      tier.touch(r->hash_ids, t);
      if (t > m) loaded += whole_blocks(t) - whole_blocks(m);
      tier.insert(r->hash_ids);
    }
    prompt += r->input_tokens;
    cache.insert(r->hash_ids);
  }
  return prompt > 0 ? ReplayedHits{hit / prompt, loaded / prompt} : ReplayedHits{};
}

namespace {

// What a probe or a confirmation is judged on.
enum class Judge { kPrefill, kDecode, kColocated, kCluster };

RunSummary summarise(const SimulationResult& result, const Scenario& s, double rate, uint64_t seed,
                     Judge judge) {
  const SimulationSummary& m = result.summary;
  RunSummary r;
  r.rate_per_s = rate;
  r.seed = seed;
  r.ttft = m.ttft;
  r.tpot = m.tpot;
  r.slo_attainment = m.slo_attainment;
  r.goodput_rps = m.goodput_rps;
  r.throughput_rps = m.throughput_rps;
  r.usd_per_hour = m.usd_per_hour;
  r.usd_per_million_tokens = m.usd_per_million_tokens;
  r.requests_scored = m.requests_scored;
  r.cost_sources = m.cost_sources;
  if (!result.requests.empty()) {
    // The scored population of the percentiles: arrived after warm-up, not rejected;
    // TPOT of those with more than one output token.
    std::vector<float> ttft, tpot;
    for (const RequestRecord& q : result.requests) {
      if (q.rejected || q.arrival_s < s.workload.warmup.to_seconds()) continue;
      ttft.push_back(q.ttft_s);
      if (q.output_tokens > 1) tpot.push_back(q.tpot_s);
    }
    r.ttft_quantiles = quantiles(std::move(ttft));
    r.tpot_quantiles = quantiles(std::move(tpot));
  }
  const bool ttft_ok = m.ttft.at(s.slo.ttft_percentile) <= s.slo.ttft.to_seconds();
  const bool tpot_ok = m.tpot.at(s.slo.tpot_percentile) <= s.slo.tpot.to_seconds();
  const bool served = m.requests_rejected == 0 && m.requests_scored > 0;
  switch (judge) {
    case Judge::kPrefill:
      r.meets_slo = served && ttft_ok;
      break;
    case Judge::kDecode:
      r.meets_slo = served && tpot_ok;
      break;
    case Judge::kColocated:
    case Judge::kCluster:
      r.meets_slo = served && ttft_ok && tpot_ok && m.slo_attainment >= s.slo.attainment;
      break;
  }
  return r;
}

}  // namespace

RunSummary judge_probe(const SimulationResult& result, const Scenario& probe, double rate,
                       uint64_t seed, Role role) {
  return summarise(result, probe, rate, seed,
                   role == Role::kPrefill  ? Judge::kPrefill
                   : role == Role::kDecode ? Judge::kDecode
                                           : Judge::kColocated);
}

namespace {

// Instances of a pool needed for `rate`, given what one sustains.
int instances_for(double rate, double per_instance) {
  if (per_instance <= 0) return std::numeric_limits<int>::max();
  return std::max(1, static_cast<int>(std::ceil(rate / per_instance - 1e-9)));
}

PlanOptions with_runner(PlanOptions o, TaskRunner* runner) {
  o.runner = runner;
  return o;
}

class Planner {
 public:
  Planner(const Scenario& s, const Evaluator& evaluate, const PlanOptions& o)
      : s_(s), evaluate_(evaluate), o_(o) {
    if (o_.runner == nullptr) {
      owned_runner_ = thread_runner(o_.threads);
      runner_ = owned_runner_.get();
    } else {
      runner_ = o_.runner;
    }
    r_.scenario = s;
    r_.bound_description = o_.bound_description;
    r_.target_rate_per_s = target_rate(s);
    r_.required_rate_per_s = r_.target_rate_per_s * (1 + s.search.headroom);
    if (!(r_.target_rate_per_s > 0))
      throw InputError(s.file, "search.target_rate_per_s",
                       "expected a positive target rate (or a workload with a positive rate)");
  }

  // A planner for a variant of the scenario that shares its parent's runner and bar.
  Planner(const Scenario& s, const Evaluator& evaluate, const PlanOptions& o, TaskRunner* runner,
          Progress* progress)
      : Planner(s, evaluate, with_runner(o, runner)) {
    shared_progress_ = progress;
  }

  // Bounds, per-instance capacities and sized plans (ranked), without confirmation.
  PlanResult estimate() {
    enumerate();
    measure_roles();
    build_candidates();
    return std::move(r_);
  }

  PlanResult run() {
    progress_ = std::make_unique<Progress>("plan", 0, o_.progress);
    shared_progress_ = progress_.get();
    enumerate();
    measure_roles();
    build_candidates();
    confirm();
    if (o_.analyses) {
      analyse_load();
      analyse_sensitivity();
      analyse_mix();
      analyse_pareto();
    }
    progress_->finish();
    record_cluster_cache_hits();
    return std::move(r_);
  }

 private:
  // ---- scoring: lower is better, per the objective --------------------------------

  double price(const RoleConfig& c) const { return c.usd_per_hour(s_); }

  double role_score(const RoleConfig& c, double rate_per_instance, double target) const {
    if (rate_per_instance <= 0) return kInf;
    const double n = instances_for(target, rate_per_instance);
    switch (s_.search.objective) {
      case Objective::kMinCost:
        return n * price(c);
      case Objective::kMinGpus:
        return n * c.gpus();
      case Objective::kMaxGoodputPerDollar:
        return price(c) / rate_per_instance;
    }
    return kInf;
  }

  // ---- stage 1: enumerate and bound ----------------------------------------------

  // ---- block prefix cache under the planner's runs -----------------------------------
  // Probes and confirmations draw Poisson arrivals, without the trace's block hashes: a
  // prefilling configuration's runs (and its bound) carry instead the hit rate its own
  // cache, sized from its memory, finds on the trace taking every request alone (one
  // instance's view; with several instances and cache-aware routing each sees its own
  // sessions). `quadrant simulate` replays the trace through the real caches.
  bool block_cache(Role role) const {
    const PoolSpec& p = role == Role::kColocated ? s_.serving.colocated : s_.serving.prefill;
    return role != Role::kDecode && p.prefix_cache.memory_fraction > 0 &&
           s_.workload.arrival.process == ArrivalProcess::kTrace &&
           s_.workload.arrival.trace_format == TraceFormat::kMooncake;
  }
  double cache_hit_rate(const RoleConfig& c) const {
    const auto it = cache_hits_.find(c.label());
    return it == cache_hits_.end() ? 0 : it->second;
  }
  double tier_hit_rate(const RoleConfig& c) const {
    const auto it = tier_hits_.find(c.label());
    return it == tier_hits_.end() ? 0 : it->second;
  }
  // The replay of the trace through `instances` caches of configuration `c` (memory `fit`).
  ReplayedHits replay(const RoleConfig& c, const MemoryFit& fit, int instances) const {
    const PrefixCacheSpec& pc =
        (c.role == Role::kColocated ? s_.serving.colocated : s_.serving.prefill).prefix_cache;
    const int64_t blocks =
        static_cast<int64_t>(std::floor(pc.memory_fraction * fit.kv_tokens / pc.block_tokens));
    // The shared tier (serving.shared_kv_tier), in the same blocks, as the simulator sizes it.
    const SharedKvTierSpec& t = s_.serving.shared_kv_tier;
    const int64_t tier_blocks =
        t.enabled() ? static_cast<int64_t>(std::floor(
                          t.capacity / (kv_bytes_per_token(s_.model) * double(pc.block_tokens))))
                    : 0;
    return replayed_hit_rate(s_.workload.arrival, blocks, pc.block_tokens,
                             std::max(1, s_.serving.kv_block_size), tier_blocks, instances,
                             s_.serving.prefill_routing == PrefillRouting::kCacheAware);
  }
  void estimate_cache_hits(const RoleConfig& c, const MemoryFit& fit) {
    if (!block_cache(c.role) || !fit.fits) return;
    const ReplayedHits h = replay(c, fit, 1);
    cache_hits_[c.label()] = h.local;
    if (s_.serving.shared_kv_tier.enabled()) tier_hits_[c.label()] = h.tier;
    fits_.emplace(c.label(), fit);
  }
  // The scenario a probe or bound of `c` sees: its estimated hits as a hit rate, and the
  // shared tier's as the share its runs load over the tier.
  void with_cache_hits(Scenario& s, const RoleConfig& c) const {
    if (!block_cache(c.role)) return;
    PoolSpec& p = c.role == Role::kColocated ? s.serving.colocated : s.serving.prefill;
    p.prefix_hit_rate = cache_hit_rate(c);
    p.shared_tier_hit_rate = tier_hit_rate(c);
  }
  // A whole cluster of `instances` instances of `c` (issue 16): each instance's cache sees
  // only the requests routed to it, the tier every request; replayed once per (c,
  // instances), under a lock (confirmations of one round run on several threads; the
  // value does not depend on which computes it first).
  ReplayedHits cluster_cache_hits(const RoleConfig& c, int instances) const {
    const std::pair<std::string, int> key{c.label(), instances};
    std::lock_guard<std::mutex> lock(cluster_hits_mutex_);
    auto it = cluster_hits_.find(key);
    if (it == cluster_hits_.end()) {
      const auto fit = fits_.find(c.label());
      QUADRANT_CHECK(fit != fits_.end());
      it = cluster_hits_.emplace(key, replay(c, fit->second, instances)).first;
    }
    return it->second;
  }
  // The report's figures: the recommended plan's prefilling pool as its confirmation ran.
  void record_cluster_cache_hits() {
    if (r_.recommended < 0) return;
    const PlanCandidate& c = r_.candidates[static_cast<size_t>(r_.recommended)];
    const bool colocated = c.mode == ServingMode::kColocated;
    const RoleConfig& cfg = colocated ? c.colocated : c.prefill;
    if (!block_cache(cfg.role)) return;
    const int n = colocated ? c.colocated_instances : c.prefill_instances;
    const ReplayedHits h = cluster_cache_hits(cfg, n);
    r_.cluster_cache = {.instances = n, .local = h.local, .tier = h.tier};
  }
  void with_cluster_cache_hits(Scenario& s, const RoleConfig& c, int instances) const {
    if (!block_cache(c.role)) return;
    const ReplayedHits h = cluster_cache_hits(c, instances);
    PoolSpec& p = c.role == Role::kColocated ? s.serving.colocated : s.serving.prefill;
    p.prefix_hit_rate = h.local;
    p.shared_tier_hit_rate = s_.serving.shared_kv_tier.enabled() ? h.tier : 0;
  }

  void enumerate() {
    Scenario bound_scenario = s_;
    for (Role role : {Role::kPrefill, Role::kDecode, Role::kColocated}) {
      if (role == Role::kColocated && !s_.search.include_colocated) continue;
      for (const EnumeratedConfig& e : enumerate_role_configs(s_, role)) {
        RoleCapacity c;
        c.config = e.config;
        c.memory = e.memory;
        estimate_cache_hits(e.config, e.memory);
        with_cache_hits(bound_scenario, e.config);
        if (!e.memory.fits) {
          c.note = e.memory.reason;
        } else {
          c.bound = o_.bound(bound_scenario, e.config);
          if (!c.bound.feasible) {
            c.note = "bound: " + c.bound.reason;
          } else {
            c.bound_usd_per_hour =
                instances_for(r_.target_rate_per_s, c.bound.max_rate_per_s) * price(c.config);
          }
        }
        pool(role).push_back(std::move(c));
      }
    }
    r_.prefix_cache_hit_estimates = cache_hits_;
    r_.shared_tier_hit_estimates = tier_hits_;
  }

  std::vector<RoleCapacity>& pool(Role role) {
    return role == Role::kPrefill ? r_.prefill : role == Role::kDecode ? r_.decode : r_.colocated;
  }

  // ---- stage 2: per-instance capacity by bisection --------------------------------

  // The helper pools a probe needs besides the instance under test: the configuration
  // with the highest bound rate of the other role.
  const RoleCapacity* fastest(const std::vector<RoleCapacity>& v) const {
    const RoleCapacity* best = nullptr;
    for (const RoleCapacity& c : v)
      if (c.bound.feasible &&
          (best == nullptr || c.bound.max_rate_per_s > best->bound.max_rate_per_s))
        best = &c;
    return best;
  }

  // The scenario of one probe: one instance of `c` at `rate`; nullopt-like empty name
  // when the probe cannot be built (no helper pool).
  bool probe_scenario(const Scenario& base, const RoleConfig& c, double rate, Scenario* out,
                      Judge* judge) const {
    switch (c.role) {
      case Role::kPrefill: {
        const RoleCapacity* d = fastest(r_.decode);
        if (d == nullptr) return false;
        *out = with_disaggregated(base, c, 1, d->config, 1);
        with_cache_hits(*out, c);
        // One output token: the decode pool idles and TTFT is the prefill pool's alone
        // (and a request lives about one TTFT, which sets the probe's time line).
        WorkloadSpec w = base.workload;
        w.output_length = LengthSpec{};
        w.output_length.distribution = LengthDistribution::kFixed;
        w.output_length.value = 1;
        out->workload = probe_workload(w, base.slo, rate, o_.probe_requests);
        *judge = Judge::kPrefill;
        return true;
      }
      case Role::kDecode:
        *out = decode_probe_scenario(base, c, rate, o_.probe_requests);
        *judge = Judge::kDecode;
        return true;
      case Role::kColocated:
        *out = with_colocated(base, c, 1);
        with_cache_hits(*out, c);
        out->workload = probe_workload(base.workload, base.slo, rate, o_.probe_requests);
        *judge = Judge::kColocated;
        return true;
    }
    return false;
  }

  // Highest rate one instance sustains within the SLOs: the bound first (often it is
  // met), then bisection in log space down to a 64th of it.
  TaskResult bisect(const Scenario& base, const RoleConfig& c, double upper) const {
    int sims = 0;
    RunSummary best;
    double passed = 0;
    auto probe = [&](double rate) {
      Scenario p;
      Judge judge;
      if (!probe_scenario(base, c, rate, &p, &judge)) return false;
      ++sims;
      RunSummary r = summarise(evaluate_(p, base.seed), p, rate, base.seed, judge);
      if (r.meets_slo && rate > passed) {
        passed = rate;
        best = r;
      }
      return r.meets_slo;
    };
    if (upper > 0 && probe(upper)) {
      // The simulation met the SLOs at the bound: it is not an upper bound for this
      // configuration (e.g. a calibrated model beats the roofline). Look above it, and
      // say so, since pruning with the bound is then unsafe.
      for (double f : {1.25, 1.5, 2.0})
        if (!probe(upper * f)) break;
    } else if (upper > 0) {
      double lo = upper / 64, hi = upper;
      bool lo_known = false;
      for (int i = 0; i < o_.bisection_steps; ++i) {
        const double mid = std::sqrt(lo * hi);
        if (probe(mid)) {
          lo = mid;
          lo_known = true;
        } else {
          hi = mid;
        }
      }
      if (!lo_known) probe(lo);
    }
    TaskResult t = simulated(best);
    t.rate = passed;
    t.simulations = sims;
    t.above_bound = passed > upper;
    return t;
  }

  // One round of tasks through the runner, with progress.
  std::vector<TaskResult> run_round(const std::vector<std::function<TaskResult()>>& tasks) {
    if (shared_progress_ != nullptr)
      shared_progress_->add_total(static_cast<int64_t>(tasks.size()));
    return runner_->run(tasks.size(), [&](size_t i) {
      TaskResult r = tasks[i]();
      if (shared_progress_ != nullptr) shared_progress_->advance(1);
      return r;
    });
  }

  void record_capacity(RoleCapacity& c, const TaskResult& j) {
    c.simulations = j.simulations;
    r_.simulations += c.simulations;
    c.rate_per_s = j.rate;
    c.above_bound = j.above_bound;
    if (c.rate_per_s > 0) {
      c.status = ConfigStatus::kMeasured;
      c.at_capacity = j.run;
      c.instances = instances_for(r_.required_rate_per_s, c.rate_per_s);
      c.usd_per_hour = c.instances * price(c.config);
      for (const auto& [gpu, src] : c.at_capacity.cost_sources) r_.cost_sources[gpu] = src;
    } else {
      c.status = ConfigStatus::kNoRateMeetsSlo;
      c.note = "no probed rate met the SLOs";
    }
  }

  void measure_roles() {
    struct Pending {
      Role role;
      size_t index;
      double score;
    };
    std::vector<Pending> pending;
    for (Role role : {Role::kPrefill, Role::kDecode, Role::kColocated}) {
      std::vector<Pending> v;
      for (size_t i = 0; i < pool(role).size(); ++i) {
        const RoleCapacity& c = pool(role)[i];
        if (!c.bound.feasible) continue;
        v.push_back({role, i, role_score(c.config, c.bound.max_rate_per_s, r_.target_rate_per_s)});
      }
      std::stable_sort(v.begin(), v.end(), [&](const Pending& a, const Pending& b) {
        return std::make_tuple(a.score, pool(role)[a.index].config.label()) <
               std::make_tuple(b.score, pool(role)[b.index].config.label());
      });
      pending.insert(pending.end(), v.begin(), v.end());
    }
    // Every GPU type's most promising configuration is measured whatever the bounds say,
    // so that comparisons between types rest on measurements.
    std::map<std::pair<Role, std::string>, bool> seen_gpu;
    std::vector<bool> forced(pending.size(), false);
    for (size_t k = 0; k < pending.size(); ++k) {
      // An attention/FFN-disaggregated form of a type counts as a type of its own.
      const RoleConfig& cfg = pool(pending[k].role)[pending[k].index].config;
      const auto key = std::make_pair(
          pending[k].role, cfg.af.enabled() ? cfg.gpu + " | ffn " + cfg.af.ffn_gpu : cfg.gpu);
      if (!seen_gpu[key]) forced[k] = seen_gpu[key] = true;
    }
    std::map<Role, double> incumbent{
        {Role::kPrefill, kInf}, {Role::kDecode, kInf}, {Role::kColocated, kInf}};
    // Once a configuration of a role beats its bound, the bounds of that role prune no more.
    std::map<Role, bool> bound_failed;
    size_t next = 0;
    while (next < pending.size()) {
      std::vector<size_t> round;
      while (next < pending.size() && static_cast<int>(round.size()) < o_.round_size) {
        const Pending& p = pending[next];
        RoleCapacity& c = pool(p.role)[p.index];
        if (!forced[next] && !bound_failed[p.role] && p.score > incumbent[p.role]) {
          c.status = ConfigStatus::kPrunedByBound;
          c.note = "bound cannot beat a measured configuration";
        } else {
          round.push_back(next);
        }
        ++next;
      }
      std::vector<std::function<TaskResult()>> tasks;
      for (size_t k : round) {
        const RoleCapacity& c = pool(pending[k].role)[pending[k].index];
        tasks.push_back([this, &c] { return bisect(s_, c.config, c.bound.max_rate_per_s); });
      }
      std::vector<TaskResult> results = run_round(tasks);
      for (size_t t = 0; t < round.size(); ++t) {
        const Pending& p = pending[round[t]];
        RoleCapacity& c = pool(p.role)[p.index];
        record_capacity(c, results[t]);
        if (c.above_bound) bound_failed[p.role] = true;
        if (c.status == ConfigStatus::kMeasured)
          incumbent[p.role] =
              std::min(incumbent[p.role], role_score(c.config, c.rate_per_s, r_.target_rate_per_s));
      }
    }
  }

  // ---- stage 3: size the pools of every measured combination ------------------------

  bool within_gpu_limits(const PlanCandidate& c) const {
    std::map<std::string, int> use;
    if (c.mode == ServingMode::kColocated) {
      use[c.colocated.gpu] += c.colocated_instances * c.colocated.gpus();
    } else {
      for (const auto& [cfg, n] :
           {std::pair{&c.prefill, c.prefill_instances}, std::pair{&c.decode, c.decode_instances}}) {
        use[cfg->gpu] += n * cfg->layout.gpus();
        if (cfg->af.enabled()) use[cfg->af.ffn_gpu] += n * cfg->af.ffn_gpus;
      }
    }
    for (const auto& [gpu, n] : use) {
      auto it = s_.cluster.max_gpus.find(gpu);
      if (it != s_.cluster.max_gpus.end() && n > it->second) return false;
    }
    return true;
  }

  void price_candidate(PlanCandidate& c) const {
    if (c.mode == ServingMode::kColocated) {
      c.usd_per_hour = c.colocated_instances * price(c.colocated);
      c.gpus = c.colocated_instances * c.colocated.gpus();
    } else {
      c.usd_per_hour =
          c.prefill_instances * price(c.prefill) + c.decode_instances * price(c.decode);
      c.gpus = c.prefill_instances * c.prefill.gpus() + c.decode_instances * c.decode.gpus();
    }
  }

  // Sizes for the budget objective: the most requests/s the budget buys.
  void size_for_budget(PlanCandidate& c, double mu_p, double mu_d) const {
    const double budget = s_.search.budget_usd_per_hour;
    const int cap = s_.search.max_instances_per_role;
    double best_rate = -1;
    for (int np = 1; np <= cap && np * price(c.prefill) <= budget; ++np) {
      const int nd =
          std::min(cap, static_cast<int>((budget - np * price(c.prefill)) / price(c.decode)));
      if (nd < 1) break;
      const double rate = std::min(np * mu_p, nd * mu_d);
      if (rate > best_rate + 1e-12) {
        best_rate = rate;
        c.prefill_instances = np;
        c.decode_instances = nd;
      }
    }
  }

  void build_candidates() {
    const double target = r_.required_rate_per_s;  // the headroom is a requirement
    const int cap = s_.search.max_instances_per_role;
    const bool budget = s_.search.objective == Objective::kMaxGoodputPerDollar;
    for (const RoleCapacity& p : r_.prefill) {
      if (p.status != ConfigStatus::kMeasured) continue;
      for (const RoleCapacity& d : r_.decode) {
        if (d.status != ConfigStatus::kMeasured) continue;
        PlanCandidate c;
        c.mode = ServingMode::kDisaggregated;
        c.prefill = p.config;
        c.decode = d.config;
        if (budget) {
          size_for_budget(c, p.rate_per_s, d.rate_per_s);
          if (c.prefill_instances == 0) continue;
        } else {
          c.prefill_instances = instances_for(target, p.rate_per_s);
          c.decode_instances = instances_for(target, d.rate_per_s);
        }
        if (c.prefill_instances > cap || c.decode_instances > cap) continue;
        c.capacity_rps =
            std::min(c.prefill_instances * p.rate_per_s, c.decode_instances * d.rate_per_s);
        price_candidate(c);
        if (!within_gpu_limits(c)) continue;
        r_.candidates.push_back(c);
      }
    }
    for (const RoleCapacity& k : r_.colocated) {
      if (k.status != ConfigStatus::kMeasured) continue;
      PlanCandidate c;
      c.mode = ServingMode::kColocated;
      c.colocated = k.config;
      c.colocated_instances =
          budget ? std::min(cap, static_cast<int>(s_.search.budget_usd_per_hour / price(k.config)))
                 : instances_for(target, k.rate_per_s);
      if (c.colocated_instances < 1 || c.colocated_instances > cap) continue;
      c.capacity_rps = c.colocated_instances * k.rate_per_s;
      price_candidate(c);
      if (!within_gpu_limits(c)) continue;
      r_.candidates.push_back(c);
    }
    for (PlanCandidate& c : r_.candidates)
      c.goodput_per_dollar = c.usd_per_hour > 0 ? c.capacity_rps * 3600 / c.usd_per_hour : 0;
    rank();
  }

  void rank() {
    auto key = [this](const PlanCandidate& c) {
      switch (s_.search.objective) {
        case Objective::kMinGpus:
          return std::make_tuple(double(c.gpus), c.usd_per_hour, c.label());
        case Objective::kMaxGoodputPerDollar:
          return std::make_tuple(-c.goodput_per_dollar, c.usd_per_hour, c.label());
        case Objective::kMinCost:
          break;
      }
      return std::make_tuple(c.usd_per_hour, double(c.gpus), c.label());
    };
    std::stable_sort(
        r_.candidates.begin(), r_.candidates.end(),
        [&](const PlanCandidate& a, const PlanCandidate& b) { return key(a) < key(b); });
  }

  // ---- stage 4: whole-cluster confirmation over seeds -------------------------------

  // A trace becomes Poisson arrivals (below), without its block hashes: a block prefix
  // cache runs at the hit rate the trace's replay through the plan's instances finds
  // (cluster_cache_hits), the shared tier at the share it holds past them.
  Scenario cluster_scenario(const PlanCandidate& c, double rate) const {
    Scenario x = cluster_scenario(s_, c, rate);
    const bool colocated = c.mode == ServingMode::kColocated;
    with_cluster_cache_hits(x, colocated ? c.colocated : c.prefill,
                            colocated ? c.colocated_instances : c.prefill_instances);
    return x;
  }
  static Scenario cluster_scenario(const Scenario& base, const PlanCandidate& c, double rate) {
    Scenario x = c.mode == ServingMode::kColocated
                     ? with_colocated(base, c.colocated, c.colocated_instances)
                     : with_disaggregated(base, c.prefill, c.prefill_instances, c.decode,
                                          c.decode_instances);
    x.workload.arrival.rate_per_s = rate;
    if (x.workload.arrival.process == ArrivalProcess::kDiurnal ||
        x.workload.arrival.process == ArrivalProcess::kTrace) {
      // Confirm at the peak as a steady rate: the plan has no autoscaler.
      x.workload.arrival.process = ArrivalProcess::kPoisson;
      x.workload.arrival.curve.clear();
    }
    return x;
  }

  // The rate a plan must hold: the target plus the headroom (a budget plan: its capacity).
  double confirm_rate(const PlanCandidate& c) const {
    return s_.search.objective == Objective::kMaxGoodputPerDollar ? c.capacity_rps
                                                                  : r_.required_rate_per_s;
  }
  // The rate the load analyses scale: the target (a budget plan: its capacity).
  double base_rate(const PlanCandidate& c) const {
    return s_.search.objective == Objective::kMaxGoodputPerDollar ? c.capacity_rps
                                                                  : r_.target_rate_per_s;
  }

  // The candidate with one instance of each pool down (search.n_plus_one); false when a
  // pool would be left empty.
  static bool minus_one(PlanCandidate c, PlanCandidate* out) {
    if (c.mode == ServingMode::kColocated) {
      if (--c.colocated_instances < 1) return false;
    } else {
      if (--c.prefill_instances < 1 || --c.decode_instances < 1) return false;
    }
    *out = c;
    return true;
  }

  void confirm_set(const std::vector<size_t>& which) {
    const int seeds = std::max(1, s_.search.seeds);
    std::vector<std::function<TaskResult()>> tasks;
    for (size_t i : which) {
      for (int k = 0; k < seeds; ++k) {
        const uint64_t seed = s_.seed + static_cast<uint64_t>(k);
        const PlanCandidate& c = r_.candidates[i];
        tasks.push_back([this, &c, seed] {
          const double rate = confirm_rate(c);
          Scenario x = cluster_scenario(c, rate);
          return simulated(summarise(evaluate_(x, seed), x, rate, seed, Judge::kCluster));
        });
      }
    }
    // N+1: at the target rate with one instance of each pool down, on the first seed.
    std::vector<size_t> down;
    if (s_.search.n_plus_one) {
      for (size_t i : which) {
        PlanCandidate less;
        if (!minus_one(r_.candidates[i], &less)) continue;
        down.push_back(i);
        tasks.push_back([this, less] {
          const double rate = base_rate(less);
          Scenario x = cluster_scenario(less, rate);
          return simulated(summarise(evaluate_(x, s_.seed), x, rate, s_.seed, Judge::kCluster));
        });
      }
    }
    std::vector<TaskResult> out = run_round(tasks);
    r_.simulations += static_cast<int64_t>(out.size());
    size_t t = 0;
    for (size_t i : which) {
      PlanCandidate& c = r_.candidates[i];
      c.runs.clear();
      c.confirmed = true;
      c.meets_slo = true;
      for (int k = 0; k < seeds; ++k) {
        c.runs.push_back(out[t++].run);
        c.meets_slo = c.meets_slo && c.runs.back().meets_slo;
        for (const auto& [gpu, src] : c.runs.back().cost_sources) r_.cost_sources[gpu] = src;
      }
    }
    if (s_.search.n_plus_one) {
      for (size_t i : which) {
        PlanCandidate& c = r_.candidates[i];
        c.n_minus_one_checked = true;
        c.n_minus_one = RunSummary{};  // a pool of one instance: no run, not met
        if (std::find(down.begin(), down.end(), i) != down.end()) c.n_minus_one = out[t++].run;
        c.meets_slo = c.meets_slo && c.n_minus_one.meets_slo;
      }
    }
  }

  // A finalist that misses its SLO gets an instance more in the pool that misses.
  void repair(PlanCandidate& c) const {
    bool ttft_bad = false, tpot_bad = false;
    std::vector<RunSummary> runs = c.runs;
    if (c.n_minus_one_checked) runs.push_back(c.n_minus_one);
    for (const RunSummary& r : runs) {
      ttft_bad |= r.ttft.at(s_.slo.ttft_percentile) > s_.slo.ttft.to_seconds();
      tpot_bad |= r.tpot.at(s_.slo.tpot_percentile) > s_.slo.tpot.to_seconds();
    }
    if (c.n_minus_one_checked && c.mode == ServingMode::kDisaggregated) {
      // A pool of one instance cannot lose one: it needs a second.
      ttft_bad |= c.prefill_instances < 2;
      tpot_bad |= c.decode_instances < 2;
    }
    if (c.mode == ServingMode::kColocated) {
      ++c.colocated_instances;
    } else {
      if (ttft_bad || !tpot_bad) ++c.prefill_instances;
      if (tpot_bad || !ttft_bad) ++c.decode_instances;
    }
    ++c.repairs;
    price_candidate(c);
    c.goodput_per_dollar = c.usd_per_hour > 0 ? c.capacity_rps * 3600 / c.usd_per_hour : 0;
  }

  void confirm() {
    if (r_.candidates.empty()) return;
    // Finalists: the best few, and the best of each kind the report compares.
    auto first = [this](auto pred) {
      for (size_t i = 0; i < r_.candidates.size(); ++i)
        if (pred(r_.candidates[i])) return static_cast<int>(i);
      return -1;
    };
    std::vector<size_t> set;
    auto add = [&set](int i) {
      if (i >= 0 && std::find(set.begin(), set.end(), size_t(i)) == set.end()) set.push_back(i);
    };
    const int finalists = std::max(1, s_.search.finalists);
    for (int i = 0; i < finalists && i < static_cast<int>(r_.candidates.size()); ++i) add(i);
    add(first([](const PlanCandidate& c) { return c.mode == ServingMode::kColocated; }));
    add(first([](const PlanCandidate& c) { return c.mode == ServingMode::kDisaggregated; }));
    add(first([](const PlanCandidate& c) {
      return c.mode == ServingMode::kDisaggregated && c.homogeneous();
    }));
    add(first([](const PlanCandidate& c) {
      return c.mode == ServingMode::kDisaggregated && !c.homogeneous();
    }));
    if (s_.search.af.enabled()) {  // the report compares attention/FFN disaggregation too
      add(first([](const PlanCandidate& c) { return c.attention_ffn_disaggregated(); }));
      add(first([](const PlanCandidate& c) {
        return c.mode == ServingMode::kDisaggregated && !c.attention_ffn_disaggregated();
      }));
    }
    std::sort(set.begin(), set.end());
    std::vector<size_t> todo = set;
    for (int round = 0; round <= o_.max_repairs && !todo.empty(); ++round) {
      confirm_set(todo);
      std::vector<size_t> failed;
      for (size_t i : todo) {
        if (!r_.candidates[i].meets_slo && round < o_.max_repairs) {
          repair(r_.candidates[i]);
          failed.push_back(i);
        }
      }
      todo = failed;
    }
    rank();
    auto best = [&](auto pred) {
      return first([&](const PlanCandidate& c) { return c.confirmed && c.meets_slo && pred(c); });
    };
    choose_robust();
    r_.nominal_best = best([](const PlanCandidate&) { return true; });
    r_.recommended = r_.nominal_best;
    const bool robust = s_.search.recommend == RecommendRule::kRobust;
    const int held = first([](const PlanCandidate& c) {
      return c.confirmed && c.meets_slo && c.edge_checked && c.holds_at_edge;
    });
    if (r_.nominal_best < 0) {
      r_.recommendation_rule = "no plan met the SLOs";
    } else if (!robust) {
      r_.recommendation_rule =
          "nominal (search.recommend): the cheapest plan that meets the SLOs at nominal costs";
    } else if (pessimistic_edge() == nullptr) {
      r_.recommendation_rule =
          "robust (search.recommend), without an error band to check: the cheapest plan that "
          "meets the SLOs at nominal costs";
    } else if (held == r_.nominal_best) {
      r_.recommendation_rule =
          "robust (search.recommend): the cheapest plan that meets the SLOs at nominal costs "
          "also meets them at the pessimistic edge of the band";
    } else if (held >= 0) {
      r_.recommended = held;
      // Ranked first at nominal costs is not always cheaper: plans of one price rank by
      // their other figures.
      const bool same_price = r_.candidates[static_cast<size_t>(held)].usd_per_hour <=
                              r_.candidates[static_cast<size_t>(r_.nominal_best)].usd_per_hour;
      r_.recommendation_rule =
          std::string(
              "robust (search.recommend): the cheapest plan that meets the SLOs at the "
              "pessimistic edge of the band; ") +
          (same_price
               ? "the plan of the same price ranked first at nominal costs, which meets "
                 "them there only, is shown beside it"
               : "the cheaper plan that meets them at nominal costs only is shown beside it");
    } else {
      r_.recommendation_rule =
          "robust (search.recommend), but no plan examined met the SLOs at the pessimistic edge "
          "of the band (repairs included): the cheapest at nominal costs, FRAGILE";
    }
    r_.best_colocated =
        best([](const PlanCandidate& c) { return c.mode == ServingMode::kColocated; });
    r_.best_disaggregated =
        best([](const PlanCandidate& c) { return c.mode == ServingMode::kDisaggregated; });
    r_.best_homogeneous = best([](const PlanCandidate& c) {
      return c.mode == ServingMode::kDisaggregated && c.homogeneous();
    });
    r_.best_heterogeneous = best([](const PlanCandidate& c) {
      return c.mode == ServingMode::kDisaggregated && !c.homogeneous();
    });
    r_.best_af = best([](const PlanCandidate& c) { return c.attention_ffn_disaggregated(); });
    r_.best_without_af = best([](const PlanCandidate& c) {
      return c.mode == ServingMode::kDisaggregated && !c.attention_ffn_disaggregated();
    });
    check_band();
  }

  // The pessimistic edge's evaluator (the band edge of the largest positive z); null: none.
  const Evaluator* pessimistic_edge() const {
    const Evaluator* e = nullptr;
    double best = 0;
    for (const auto& [z, evaluate] : o_.band_edges)
      if (z > best) {
        best = z;
        e = &evaluate;
      }
    return e;
  }

  // Each of `which` at the pessimistic edge over the confirmation's seeds.
  void check_edge(const std::vector<size_t>& which) {
    const Evaluator* e = pessimistic_edge();
    if (e == nullptr || which.empty()) return;
    const int seeds = std::max(1, s_.search.seeds);
    std::vector<std::function<TaskResult()>> tasks;
    for (size_t i : which)
      for (int k = 0; k < seeds; ++k) {
        const uint64_t seed = s_.seed + static_cast<uint64_t>(k);
        const PlanCandidate& c = r_.candidates[i];
        tasks.push_back([this, &c, seed, e] {
          const double rate = confirm_rate(c);
          Scenario x = cluster_scenario(c, rate);
          return simulated(summarise((*e)(x, seed), x, rate, seed, Judge::kCluster));
        });
      }
    const std::vector<TaskResult> out = run_round(tasks);
    r_.simulations += static_cast<int64_t>(out.size());
    size_t t = 0;
    for (size_t i : which) {
      PlanCandidate& c = r_.candidates[i];
      c.edge_checked = true;
      c.holds_at_edge = true;
      c.edge_runs.clear();
      for (int k = 0; k < seeds; ++k) {
        c.edge_runs.push_back(out[t++].run);
        c.holds_at_edge = c.holds_at_edge && c.edge_runs.back().meets_slo;
      }
    }
  }

  // search.recommend robust: the cheapest confirmed plan is checked at the pessimistic
  // edge; when it misses there, so are the other confirmed plans, and each that misses is
  // copied with an instance more in the pool that misses at the edge (as a failed
  // confirmation is repaired), confirmed at nominal costs and checked at the edge again,
  // up to max_repairs times; sized plans not yet confirmed that rank before the cheapest
  // that holds are confirmed and checked too. The recommendation is then the cheapest that
  // holds (confirm()).
  void choose_robust() {
    if (s_.search.recommend != RecommendRule::kRobust || pessimistic_edge() == nullptr) return;
    auto ok = [](const PlanCandidate& c) { return c.confirmed && c.meets_slo; };
    int nominal = -1;
    for (size_t i = 0; i < r_.candidates.size() && nominal < 0; ++i)
      if (ok(r_.candidates[i])) nominal = static_cast<int>(i);
    if (nominal < 0) return;
    check_edge({static_cast<size_t>(nominal)});
    if (r_.candidates[static_cast<size_t>(nominal)].holds_at_edge) return;
    std::vector<size_t> others;
    for (size_t i = 0; i < r_.candidates.size(); ++i)
      if (ok(r_.candidates[i]) && !r_.candidates[i].edge_checked) others.push_back(i);
    check_edge(others);
    std::vector<size_t> fragile;
    for (size_t i = 0; i < r_.candidates.size(); ++i)
      if (ok(r_.candidates[i]) && !r_.candidates[i].holds_at_edge) fragile.push_back(i);
    for (int round = 0; round < o_.max_repairs && !fragile.empty(); ++round) {
      std::vector<size_t> fresh;
      for (size_t i : fragile) {
        PlanCandidate v = r_.candidates[i];
        v.runs = v.edge_runs;  // repair() adds to the pool that misses at the edge
        v.n_minus_one_checked = false;
        repair(v);
        --v.repairs;  // counted as an edge repair instead
        ++v.edge_repairs;
        v.confirmed = v.meets_slo = v.edge_checked = v.holds_at_edge = false;
        v.runs.clear();
        v.edge_runs.clear();
        bool known = false;
        for (const PlanCandidate& c : r_.candidates) known = known || c.label() == v.label();
        if (known) continue;
        r_.candidates.push_back(std::move(v));
        fresh.push_back(r_.candidates.size() - 1);
      }
      confirm_set(fresh);
      std::vector<size_t> met;
      for (size_t i : fresh)
        if (r_.candidates[i].meets_slo) met.push_back(i);
      check_edge(met);
      fragile.clear();
      for (size_t i : met)
        if (!r_.candidates[i].holds_at_edge) fragile.push_back(i);
    }
    rank();
    // Sized plans never confirmed that rank before the cheapest plan found to hold (up to
    // search.finalists of them): confirmed now, and checked at the edge where they meet.
    std::vector<size_t> unconfirmed;
    for (size_t i = 0; i < r_.candidates.size(); ++i) {
      const PlanCandidate& c = r_.candidates[i];
      if (ok(c) && c.holds_at_edge) break;
      if (!c.confirmed && static_cast<int>(unconfirmed.size()) < std::max(1, s_.search.finalists))
        unconfirmed.push_back(i);
    }
    confirm_set(unconfirmed);
    std::vector<size_t> met;
    for (size_t i : unconfirmed)
      if (r_.candidates[i].meets_slo) met.push_back(i);
    check_edge(met);
    rank();
  }

  // The recommended cluster at each band edge, over the confirmation's seeds (the
  // pessimistic edge's runs reused when the robust rule made them).
  void check_band() {
    if (r_.recommended < 0 || o_.band_edges.empty()) return;
    const PlanCandidate& c = r_.candidates[static_cast<size_t>(r_.recommended)];
    const int seeds = std::max(1, s_.search.seeds);
    const Evaluator* reuse = c.edge_checked ? pessimistic_edge() : nullptr;
    std::vector<std::function<TaskResult()>> tasks;
    for (const auto& [z, evaluate] : o_.band_edges)
      for (int k = 0; k < seeds; ++k) {
        if (&evaluate == reuse) continue;
        const uint64_t seed = s_.seed + static_cast<uint64_t>(k);
        const Evaluator* e = &evaluate;
        tasks.push_back([this, &c, seed, e] {
          const double rate = confirm_rate(c);
          Scenario x = cluster_scenario(c, rate);
          return simulated(summarise((*e)(x, seed), x, rate, seed, Judge::kCluster));
        });
      }
    std::vector<TaskResult> out = run_round(tasks);
    r_.simulations += static_cast<int64_t>(out.size());
    size_t t = 0;
    for (const auto& [z, evaluate] : o_.band_edges) {
      BandCheck b;
      b.z = z;
      b.meets_slo = true;
      for (int k = 0; k < seeds; ++k) {
        b.runs.push_back(&evaluate == reuse ? c.edge_runs[static_cast<size_t>(k)] : out[t++].run);
        b.meets_slo = b.meets_slo && b.runs.back().meets_slo;
      }
      r_.band_checks.push_back(std::move(b));
    }
  }

  // ---- stage 5: analyses for the report -------------------------------------------

  const RoleCapacity* find(const std::vector<RoleCapacity>& v, const RoleConfig& c) const {
    for (const RoleCapacity& x : v)
      if (x.config.label() == c.label()) return &x;
    return nullptr;
  }

  void analyse_sensitivity() {
    if (r_.recommended < 0) return;
    const PlanCandidate rec = r_.candidates[r_.recommended];
    const std::vector<double> factors{0.8, 1.0, 1.2};
    std::vector<std::function<TaskResult()>> tasks;
    for (double f : factors) {
      tasks.push_back([this, rec, f] {
        const double rate = base_rate(rec) * f;
        Scenario x = cluster_scenario(rec, rate);
        return simulated(summarise(evaluate_(x, s_.seed), x, rate, s_.seed, Judge::kCluster));
      });
    }
    std::vector<TaskResult> out = run_round(tasks);
    r_.simulations += static_cast<int64_t>(out.size());
    for (size_t i = 0; i < factors.size(); ++i) {
      SensitivityPoint p;
      p.load_factor = factors[i];
      p.fixed_cluster = out[i].run;
      const double rate = r_.target_rate_per_s * factors[i];
      if (rec.mode == ServingMode::kColocated) {
        const RoleCapacity* k = find(r_.colocated, rec.colocated);
        p.colocated_instances = k ? instances_for(rate, k->rate_per_s) : 0;
        p.resized_usd_per_hour = p.colocated_instances * price(rec.colocated);
      } else {
        const RoleCapacity* pc = find(r_.prefill, rec.prefill);
        const RoleCapacity* dc = find(r_.decode, rec.decode);
        p.prefill_instances = pc ? instances_for(rate, pc->rate_per_s) : 0;
        p.decode_instances = dc ? instances_for(rate, dc->rate_per_s) : 0;
        p.resized_usd_per_hour =
            p.prefill_instances * price(rec.prefill) + p.decode_instances * price(rec.decode);
      }
      r_.sensitivity.push_back(p);
    }
  }

  // The best P:D ratio as outputs grow against inputs: the chosen prefill and decode
  // configurations re-measured with output lengths scaled (inputs unchanged, so the
  // prefill rate, probed with one output token, stays).
  void analyse_mix() {
    if (r_.best_disaggregated < 0) return;
    const PlanCandidate& c = r_.candidates[r_.best_disaggregated];
    const RoleCapacity* pc = find(r_.prefill, c.prefill);
    const RoleCapacity* dc = find(r_.decode, c.decode);
    if (pc == nullptr || dc == nullptr) return;
    const std::vector<double> scales{0.25, 0.5, 1.0, 2.0, 4.0};
    std::vector<Scenario> variants;
    std::vector<std::function<TaskResult()>> tasks;
    for (double k : scales) {
      Scenario x = s_;
      x.workload.output_length = scaled_lengths(s_.workload.output_length, k);
      variants.push_back(x);
    }
    for (size_t i = 0; i < scales.size(); ++i) {
      if (scales[i] == 1.0) continue;
      tasks.push_back([this, &variants, i, dc] {
        const RoleBound b = o_.bound(variants[i], dc->config);
        if (!b.feasible) return TaskResult{};
        return bisect(variants[i], dc->config, b.max_rate_per_s);
      });
    }
    std::vector<TaskResult> out = run_round(tasks);
    size_t t = 0;
    for (size_t i = 0; i < scales.size(); ++i) {
      MixPoint m;
      m.output_scale = scales[i];
      m.mean_input = variants[i].workload.input_length.mean();
      m.mean_output = variants[i].workload.output_length.mean();
      m.prefill_rate_per_s = pc->rate_per_s;
      if (scales[i] == 1.0) {
        m.decode_rate_per_s = dc->rate_per_s;
      } else {
        r_.simulations += out[t].simulations;
        m.decode_rate_per_s = out[t++].rate;
      }
      if (m.decode_rate_per_s > 0) {
        m.prefill_instances = instances_for(r_.target_rate_per_s, m.prefill_rate_per_s);
        m.decode_instances = instances_for(r_.target_rate_per_s, m.decode_rate_per_s);
        m.decode_per_prefill = m.prefill_rate_per_s / m.decode_rate_per_s;
      }
      r_.pd_mix.push_back(m);
    }
  }

  // Where the recommended cluster breaks: its SLOs judged at rates from half the target
  // up (one seed), then the gap between the last rate that holds and the first that
  // breaks halved a few times. The run at the target rate keeps its per-instance series.
  void analyse_load() {
    if (r_.recommended < 0) return;
    const PlanCandidate rec = r_.candidates[static_cast<size_t>(r_.recommended)];
    const double base = base_rate(rec);
    auto run_at = [this, rec](double rate, bool detail) {
      return [this, rec, rate, detail] {
        Scenario x = cluster_scenario(rec, rate);
        const SimulationResult result = evaluate_(x, s_.seed);
        TaskResult j = simulated(summarise(result, x, rate, s_.seed, Judge::kCluster));
        if (detail) j.detail = detail_of(result);
        return j;
      };
    };
    const std::vector<double> factors{0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0};
    std::vector<std::function<TaskResult()>> tasks;
    for (double f : factors) tasks.push_back(run_at(base * f, f == 1.0));
    std::vector<TaskResult> out = run_round(tasks);
    r_.simulations += static_cast<int64_t>(out.size());
    double held = 0, broke = 0;
    for (size_t i = 0; i < factors.size(); ++i) {
      r_.load_sweep.push_back(out[i].run);
      if (!out[i].detail.empty()) r_.detail = out[i].detail;
      const bool ok = r_.load_sweep.back().meets_slo;
      if (!ok && broke == 0) broke = base * factors[i];
      if (ok && broke == 0) held = base * factors[i];
    }
    if (broke > 0 && held > 0) {
      for (int step = 0; step < 4; ++step) {
        const double mid = 0.5 * (held + broke);
        const TaskResult j = run_round({run_at(mid, false)}).at(0);
        ++r_.simulations;
        const RunSummary r = j.run;
        (r.meets_slo ? held : broke) = mid;
        r_.load_sweep.push_back(r);
      }
    }
    std::stable_sort(
        r_.load_sweep.begin(), r_.load_sweep.end(),
        [](const RunSummary& a, const RunSummary& b) { return a.rate_per_s < b.rate_per_s; });
    r_.knee_found = broke > 0;
    r_.knee_rate_per_s = held;
  }

  // Cost against SLO tightness: at each scale of both SLO targets, the search's first
  // stages (bounds, per-instance capacities, pool sizing) rerun, and its best few plans
  // confirmed by whole-cluster runs at those SLOs; then each point takes the cheapest
  // confirmed plan of its scale or of any tighter one (a plan that meets tighter SLOs
  // meets looser ones), so the curve never rises as the SLOs loosen.
  void analyse_pareto() {
    const std::vector<double> scales{0.5, 0.75, 1.0, 1.5, 2.0};
    for (double k : scales) {
      ParetoPoint p;
      p.slo_scale = k;
      p.from_slo_scale = k;
      p.ttft = s_.slo.ttft.scaled(k);
      p.tpot = s_.slo.tpot.scaled(k);
      if (k == 1.0) {
        // The search itself: its cheapest plan confirmed over every seed at nominal costs,
        // as at the other scales (the robust rule may recommend a dearer one).
        for (const PlanCandidate& c : r_.candidates) {
          if (p.estimate_usd_per_hour == 0) p.estimate_usd_per_hour = c.usd_per_hour;
          double& kind = c.mode == ServingMode::kColocated ? p.colocated_usd_per_hour
                                                           : p.disaggregated_usd_per_hour;
          if (kind == 0) kind = c.usd_per_hour;
        }
        if (r_.nominal_best >= 0) {
          p.feasible = true;
          p.usd_per_hour = r_.candidates[static_cast<size_t>(r_.nominal_best)].usd_per_hour;
          p.plan = r_.candidates[static_cast<size_t>(r_.nominal_best)].label();
        }
        r_.pareto.push_back(p);
        continue;
      }
      Scenario variant = s_;
      variant.slo.ttft = p.ttft;
      variant.slo.tpot = p.tpot;
      PlanOptions o = o_;
      o.analyses = false;
      Planner sub(variant, evaluate_, o, runner_, progress_.get());
      const PlanResult scaled = sub.estimate();
      r_.simulations += scaled.simulations;
      for (const PlanCandidate& c : scaled.candidates) {
        if (p.estimate_usd_per_hour == 0) p.estimate_usd_per_hour = c.usd_per_hour;
        double& kind = c.mode == ServingMode::kColocated ? p.colocated_usd_per_hour
                                                         : p.disaggregated_usd_per_hour;
        if (kind == 0) kind = c.usd_per_hour;
      }
      // Confirm the best few at these SLOs, every seed; the first (in rank order) met wins.
      const size_t few =
          std::min(scaled.candidates.size(), static_cast<size_t>(std::max(1, s_.search.finalists)));
      const int seeds = std::max(1, s_.search.seeds);
      std::vector<std::function<TaskResult()>> tasks;
      for (size_t i = 0; i < few; ++i) {
        for (int sd = 0; sd < seeds; ++sd) {
          const PlanCandidate c = scaled.candidates[i];
          const uint64_t seed = s_.seed + static_cast<uint64_t>(sd);
          tasks.push_back([this, c, seed, variant] {
            const double rate = confirm_rate(c);
            Scenario x = cluster_scenario(variant, c, rate);
            return simulated(summarise(evaluate_(x, seed), x, rate, seed, Judge::kCluster));
          });
        }
      }
      const std::vector<TaskResult> out = run_round(tasks);
      r_.simulations += static_cast<int64_t>(out.size());
      for (size_t i = 0; i < few && !p.feasible; ++i) {
        bool met = true;
        for (int sd = 0; sd < seeds; ++sd)
          met = met && out[i * static_cast<size_t>(seeds) + static_cast<size_t>(sd)].run.meets_slo;
        if (met) {
          p.feasible = true;
          p.usd_per_hour = scaled.candidates[i].usd_per_hour;
          p.plan = scaled.candidates[i].label();
        }
      }
      r_.pareto.push_back(p);
    }
    // Monotone: a tighter scale's confirmed plan serves this one too.
    for (size_t i = 1; i < r_.pareto.size(); ++i) {
      ParetoPoint& p = r_.pareto[i];
      const ParetoPoint& prev = r_.pareto[i - 1];
      if (prev.feasible && (!p.feasible || prev.usd_per_hour < p.usd_per_hour)) {
        p.feasible = true;
        p.usd_per_hour = prev.usd_per_hour;
        p.plan = prev.plan;
        p.from_slo_scale = prev.from_slo_scale;
      }
    }
    // On the frontier: cheaper than every tighter point.
    for (size_t i = 0; i < r_.pareto.size(); ++i) {
      ParetoPoint& p = r_.pareto[i];
      if (!p.feasible) continue;
      p.on_frontier = true;
      for (size_t j = 0; j < i; ++j)
        if (r_.pareto[j].feasible && r_.pareto[j].usd_per_hour <= p.usd_per_hour)
          p.on_frontier = false;
    }
  }

  const Scenario& s_;
  std::map<std::string, double> cache_hits_;  // block cache: estimated hit rate by config label
  std::map<std::string, double> tier_hits_;   // shared KV tier: estimated load share, same keys
  std::map<std::string, MemoryFit> fits_;     // block cache: memory of each config, same keys
  // Block cache replayed through a whole cluster's instances: by (config label, instances).
  mutable std::map<std::pair<std::string, int>, ReplayedHits> cluster_hits_;
  mutable std::mutex cluster_hits_mutex_;
  const Evaluator& evaluate_;
  PlanOptions o_;
  std::unique_ptr<TaskRunner> owned_runner_;
  TaskRunner* runner_ = nullptr;
  std::unique_ptr<Progress> progress_;
  Progress* shared_progress_ = nullptr;
  PlanResult r_;
};

}  // namespace

PlanResult plan(const Scenario& scenario, const Evaluator& evaluate, const PlanOptions& options) {
  Planner p(scenario, evaluate, options);
  return p.run();
}

}  // namespace quadrant::planner
