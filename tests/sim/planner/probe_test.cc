// The planner's single-instance probes and pruning bounds judged by the real simulator:
// a decode probe's rate is a property of the configuration (issue 16: prefilled arrivals,
// no helper prefill pool), and bounds priced by the cost models the simulation runs on
// (issue 12 item 5) prune only configurations that the simulation rejects.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>

#include "sim/cost/roofline_cost_model.h"
#include "sim/engine/simulation.h"
#include "sim/io/scenario_io.h"
#include "sim/model/accounting.h"
#include "sim/planner/planner.h"
#include "tests/sim/planner/toy_scenario.h"

namespace quadrant::planner {
namespace {

using testing::toy_scenario;

// A stand-in for a calibrated model: every roofline estimate `k` times as long (slower
// kernels than the datasheet's), marked fitted, so that the bound must follow it.
class ScaledRoofline final : public CostModel {
 public:
  ScaledRoofline(const GpuSpec& g, int64_t k) : base_(g), k_(k) {}
  Estimate predict(const QuadrantShape& q) const override {
    Estimate e = base_.predict(q);
    e.mean = e.mean * k_;
    e.provenance = Provenance::kFitted;
    e.source = "test:scaled-roofline";
    return e;
  }
  Provenance provenance() const override { return Provenance::kFitted; }
  std::string describe() const override { return "test:scaled-roofline"; }

 private:
  RooflineCostModel base_;
  int64_t k_;
};

CostModels scaled_models(const Scenario& s, int64_t k) {
  CostModels m;
  for (const auto& [name, g] : s.catalog.gpus) m[name] = std::make_shared<ScaledRoofline>(g, k);
  return m;
}

// A second, faster and dearer GPU type that only prefill may use.
Scenario with_fast_prefill(Scenario s) {
  GpuSpec g = s.catalog.gpus.at("T1");
  g.name = "T2";
  g.bf16 = g.bf16 * 2.0;
  g.usd_per_hour = 1.5;
  s.catalog.gpus["T2"] = g;
  s.search.prefill_gpus = {"T1", "T2"};
  s.search.decode_gpus = {"T1"};
  return s;
}

// Prefilled arrivals: every request's first token at its arrival, the prefill instance
// idle, nothing rejected.
TEST(DecodeProbe, ArrivalsEnterTheDecodeInstancePrefilled) {
  const Scenario s = toy_scenario();
  RoleConfig d;
  d.role = Role::kDecode;
  d.gpu = "T1";
  d.max_batch_size = 64;
  const Scenario p = decode_probe_scenario(s, d, 10, 200);
  EXPECT_TRUE(p.serving.prefilled_arrivals);
  SimulationOptions o;
  o.seed = 3;
  o.keep_requests = true;
  const SimulationResult r = simulate(p, roofline_cost_models(p), o);
  EXPECT_EQ(r.summary.requests_rejected, 0);
  EXPECT_GT(r.summary.requests_scored, 0);
  EXPECT_EQ(r.summary.requests_finished, r.summary.requests_arrived);
  EXPECT_EQ(r.summary.ttft.max, 0.0);
  EXPECT_GT(r.summary.tpot.p50, 0.0);
  for (const InstanceSummary& i : r.instances) {
    if (i.role == Role::kPrefill) {
      EXPECT_EQ(i.steps, 0) << i.name;
    } else {
      EXPECT_GT(i.steps, 0) << i.name;
    }
  }
  // The judge: a decode probe is judged on TPOT alone.
  const RunSummary j = judge_probe(r, p, 10, 3, Role::kDecode);
  EXPECT_TRUE(j.meets_slo);
}

// The same decode configuration measures the same rate whichever prefill configurations
// the plan searches (with a helper prefill pool it depended on the fastest of them).
TEST(DecodeProbe, ARateIsAPropertyOfTheConfiguration) {
  PlanOptions o;
  o.threads = 2;
  o.analyses = false;
  const Scenario a = toy_scenario();
  const Scenario b = with_fast_prefill(a);
  const PlanResult ra = plan(a, simulation_evaluator(roofline_cost_models(a)), o);
  const PlanResult rb = plan(b, simulation_evaluator(roofline_cost_models(b)), o);
  std::map<std::string, const RoleCapacity*> in_a;
  for (const RoleCapacity& c : ra.decode)
    if (c.status == ConfigStatus::kMeasured) in_a[c.config.label()] = &c;
  int compared = 0;
  for (const RoleCapacity& c : rb.decode) {
    if (c.status != ConfigStatus::kMeasured || !in_a.count(c.config.label())) continue;
    EXPECT_EQ(c.rate_per_s, in_a[c.config.label()]->rate_per_s) << c.config.label();
    EXPECT_EQ(c.at_capacity, in_a[c.config.label()]->at_capacity) << c.config.label();
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

// Roofline models give the roofline bound exactly, for every configuration searched.
TEST(CostModelBound, RooflineModelsGiveTheRooflineBound) {
  for (const char* path :
       {"scenarios/examples/distserve-like.json", "scenarios/examples/deepseek-v3-h800.json"}) {
    const Scenario s = load_scenario(path);
    const CostModels models = roofline_cost_models(s);
    for (Role role : {Role::kPrefill, Role::kDecode, Role::kColocated})
      for (const EnumeratedConfig& e : enumerate_role_configs(s, role)) {
        const RoleBound a = roofline_role_bound(s, e.config);
        const RoleBound b = cost_model_role_bound(s, e.config, models);
        EXPECT_EQ(a.feasible, b.feasible) << e.config.label();
        EXPECT_EQ(a.max_rate_per_s, b.max_rate_per_s) << e.config.label();
        EXPECT_EQ(a.max_batch, b.max_batch) << e.config.label();
        EXPECT_EQ(a.latency, b.latency) << e.config.label();
      }
  }
}

// Kernels 3x the roofline: every step of the bound is 3x the roofline's (each quadrant's
// term scaled), so one prefill alone takes 3x as long, a prefill rate bound falls to a
// third, and no rate bound rises.
TEST(CostModelBound, FollowsASlowerModelByItsFactor) {
  const Scenario s = load_scenario("scenarios/examples/distserve-like.json");
  const CostModels slow = scaled_models(s, 3);
  int tighter = 0;
  for (Role role : {Role::kPrefill, Role::kDecode, Role::kColocated})
    for (const EnumeratedConfig& e : enumerate_role_configs(s, role)) {
      const RoleBound a = roofline_role_bound(s, e.config);
      const RoleBound b = cost_model_role_bound(s, e.config, slow);
      if (role == Role::kPrefill && a.feasible) {
        // The roofline model rounds each kernel's time to the nanosecond otherwise than the
        // bound's own roofline: up to 2 ns per kernel apart, times 3, two kernels a layer.
        const double ns = 1e-9 * 2 * 3 * 2 * s.model.num_layers;
        EXPECT_NEAR(b.latency.to_seconds(), 3 * a.latency.to_seconds(), ns) << e.config.label();
        EXPECT_NEAR(b.max_rate_per_s, a.max_rate_per_s / 3, 1e-5 * a.max_rate_per_s)
            << e.config.label();
      }
      if (!b.feasible) continue;
      EXPECT_LE(b.max_rate_per_s, a.max_rate_per_s) << e.config.label();
      tighter += b.max_rate_per_s < a.max_rate_per_s;
    }
  EXPECT_GT(tighter, 0);
}

// The property that makes pruning safe: a configuration pruned by its bound could not
// have beaten the role's best measured one: probed at the rate it would need to (the
// target over the instances the incumbent's cost buys), the simulation rejects it. And
// the bound on the model's own costs prunes more than the roofline bound does.
TEST(CostModelBound, PrunedConfigurationsFailInSimulation) {
  Scenario s = toy_scenario();
  s.search.tp = {1, 2, 4};
  s.search.max_batch_size = {16, 32, 64, 128};
  const CostModels slow = scaled_models(s, 3);
  PlanOptions o;
  o.threads = 2;
  o.analyses = false;
  o.round_size = 1;  // a pruning decision after every measurement
  const PlanResult rooflined = plan(s, simulation_evaluator(slow), o);
  o.bound = cost_model_bound(slow);
  const PlanResult r = plan(s, simulation_evaluator(slow), o);
  ASSERT_GE(r.recommended, 0);
  EXPECT_EQ(r.candidates[static_cast<size_t>(r.recommended)].label(),
            rooflined.candidates[static_cast<size_t>(rooflined.recommended)].label());
  EXPECT_LT(r.simulations, rooflined.simulations);
  const Evaluator evaluate = simulation_evaluator(slow);
  const double target = target_rate(s);
  int pruned = 0;
  for (Role role : {Role::kDecode, Role::kColocated}) {
    const std::vector<RoleCapacity>& pool = role == Role::kDecode ? r.decode : r.colocated;
    double incumbent = INFINITY;
    for (const RoleCapacity& c : pool)
      if (c.status == ConfigStatus::kMeasured)
        incumbent =
            std::min(incumbent, std::ceil(target / c.rate_per_s - 1e-9) * c.config.usd_per_hour(s));
    for (const RoleCapacity& c : pool) {
      if (c.status != ConfigStatus::kPrunedByBound) continue;
      ++pruned;
      const double n = std::floor(incumbent / c.config.usd_per_hour(s) + 1e-9);
      if (n < 1) continue;  // even one instance costs more than the incumbent
      const double need = target / n;
      Scenario p = role == Role::kDecode ? decode_probe_scenario(s, c.config, need, 400)
                                         : with_colocated(s, c.config, 1);
      if (role == Role::kColocated) p.workload = probe_workload(s.workload, s.slo, need, 400);
      const RunSummary j = judge_probe(evaluate(p, s.seed), p, need, s.seed, role);
      EXPECT_FALSE(j.meets_slo) << c.config.label() << " at " << need << " req/s";
    }
  }
  EXPECT_GT(pruned, 0);
}

// Issue 16: a decode probe's KV crosses the network as in the whole cluster. With requests
// far apart, a 2-token request's TPOT (second token - first) is its KV transfer plus one
// decode step in both: the probe (prefilled arrivals, KV from the stand-in prefill
// instance) and the same scenario run whole (a real prefill instance of the same layout,
// its transfer starting when its prefill ends). The transfer alone takes at least the KV
// bytes over the inter-node bandwidth (the pools sit on separate nodes).
TEST(DecodeProbe, KvCrossesTheNetworkAsInTheWholeCluster) {
  Scenario s = toy_scenario();
  s.workload.output_length.value = 2;
  s.workload.input_length.value = 8000;
  s.cluster.inter_node.bandwidth = BytesPerSec::giga(1);  // a slow network: the transfer shows
  RoleConfig d;
  d.role = Role::kDecode;
  d.gpu = "T1";
  d.max_batch_size = 64;
  const Scenario probe = decode_probe_scenario(s, d, 0.2, 20);
  Scenario whole = probe;
  whole.serving.prefilled_arrivals = false;
  SimulationOptions o;
  o.seed = 3;
  o.keep_requests = true;
  const SimulationResult rp = simulate(probe, roofline_cost_models(probe), o);
  const SimulationResult rw = simulate(whole, roofline_cost_models(whole), o);
  ASSERT_EQ(rp.requests.size(), rw.requests.size());
  ASSERT_GT(rp.requests.size(), 10u);
  const double transfer_floor =
      kv_bytes_per_token(s.model).value() * 8000 / s.cluster.inter_node.bandwidth.value();
  EXPECT_GT(transfer_floor, 0.01);  // 10+ ms: far above a decode step of the toy
  for (size_t i = 0; i < rp.requests.size(); ++i) {
    const RequestRecord& a = rp.requests[i];
    const RequestRecord& b = rw.requests[i];
    ASSERT_EQ(a.output_tokens, 2);
    EXPECT_EQ(a.ttft_s, 0.0f);
    EXPECT_GT(a.tpot_s, transfer_floor);
    EXPECT_NEAR(a.tpot_s, b.tpot_s, 1e-6 + 1e-4 * b.tpot_s) << "request " << a.id;
  }
}

// Issue 16: a whole cluster's block caches each see the requests routed to them, the
// shared tier every request. Four 1024-token prompts of the same two 512-token blocks
// (1008 tokens reusable: whole 16-token KV blocks before the last token): one cache hits
// on the last three; two caches under least-tokens routing (alternating) on the last two,
// the tier holding the second's prefix; cache-aware routing sends all to the cache that
// holds it (three hits). Own-cache hits plus the tier's share are the tier's view alone.
TEST(ClusterCacheReplay, EachCacheSeesOnlyItsRequests) {
  const std::string path = ::testing::TempDir() + "/cluster_cache_trace.jsonl";
  {
    std::ofstream f(path);
    for (int i = 0; i < 4; ++i)
      f << "{\"timestamp\": " << 1000 * i
        << ", \"input_length\": 1024, \"output_length\": 8, \"hash_ids\": [1, 2]}\n";
  }
  ArrivalSpec a;
  a.process = ArrivalProcess::kTrace;
  a.trace_file = path;
  a.trace_format = TraceFormat::kMooncake;
  const double hit = 1008.0 / 4096;  // one prompt's reusable tokens over all prompt tokens
  const ReplayedHits one = replayed_hit_rate(a, 100, 512, 16, 100, 1, false);
  EXPECT_DOUBLE_EQ(one.local, 3 * hit);
  EXPECT_DOUBLE_EQ(one.tier, 0);
  const ReplayedHits two = replayed_hit_rate(a, 100, 512, 16, 100, 2, false);
  EXPECT_DOUBLE_EQ(two.local, 2 * hit);
  EXPECT_DOUBLE_EQ(two.tier, 1 * hit);
  EXPECT_DOUBLE_EQ(two.local + two.tier, one.local + one.tier);
  const ReplayedHits aware = replayed_hit_rate(a, 100, 512, 16, 100, 2, true);
  EXPECT_DOUBLE_EQ(aware.local, 3 * hit);
  EXPECT_DOUBLE_EQ(aware.tier, 0);
  // Four caches, least tokens: each prompt on its own cache, every reuse from the tier.
  const ReplayedHits four = replayed_hit_rate(a, 100, 512, 16, 100, 4, false);
  EXPECT_DOUBLE_EQ(four.local, 0);
  EXPECT_DOUBLE_EQ(four.tier, 3 * hit);
  // Without a tier, nothing is loaded.
  EXPECT_DOUBLE_EQ(replayed_hit_rate(a, 100, 512, 16, 0, 2, false).tier, 0);
}

}  // namespace
}  // namespace quadrant::planner
