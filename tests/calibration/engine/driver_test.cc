// The serving engine's scheduler on the CPU: with a cost-model executor and a virtual
// clock it must serve a workload exactly as the simulator's colocated instance does, and
// every plan it hands an executor must be one a real engine can run (blocks owned, cache
// and batch limits kept, every request its exact output length).
#include "calibration/engine/driver.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <stdexcept>

#include "calibration/calibrated_cost_model.h"
#include "calibration/engine/cost_executor.h"
#include "calibration/engine/engine_fit.h"
#include "calibration/fit.h"
#include "sim/core/error.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/engine/simulation.h"
#include "sim/io/scenario_io.h"

namespace quadrant::engine {
namespace {

Scenario scenario() {
  return load_scenario("tests/calibration/engine/colocated_h200.json");
}

// Checks every plan against what the scheduler may ask of an executor, then delegates.
class CheckingExecutor : public StepExecutor {
 public:
  CheckingExecutor(StepExecutor& inner, const EngineLimits& limits)
      : inner_(inner), limits_(limits) {}
  ExecutorCapacity capacity() const override { return inner_.capacity(); }
  StepTiming execute(const StepPlan& plan) override {
    const ExecutorCapacity cap = capacity();
    const int64_t bt = cap.block_tokens;
    std::map<int32_t, uint64_t> owner;
    auto own = [&](uint64_t seq, const std::vector<int32_t>& blocks, int64_t tokens) {
      EXPECT_EQ(static_cast<int64_t>(blocks.size()), (tokens + bt - 1) / bt) << "seq " << seq;
      for (int32_t b : blocks) {
        EXPECT_GE(b, 0);
        EXPECT_LT(b, cap.kv_blocks);
        auto [it, fresh] = owner.emplace(b, seq);
        EXPECT_TRUE(fresh || it->second == seq) << "block " << b << " of two sequences";
      }
      // A sequence's blocks stay the same from step to step (its KV lives there).
      auto& held = blocks_[seq];
      for (size_t i = 0; i < std::min(held.size(), blocks.size()); ++i)
        EXPECT_EQ(held[i], blocks[i]) << "seq " << seq << " block " << i << " moved";
      if (blocks.size() > held.size()) held = blocks;
    };
    std::set<uint64_t> seqs;
    int64_t prefill_tokens = 0;
    for (const PrefillChunk& c : plan.prefill) {
      EXPECT_TRUE(seqs.insert(c.seq).second);
      EXPECT_GT(c.tokens, 0);
      EXPECT_LE(c.tokens, limits_.chunk_size);
      // Chunks of a sequence come in order: each starts where the last one ended.
      EXPECT_EQ(c.start, prefilled_[c.seq]) << "seq " << c.seq;
      prefilled_[c.seq] = c.last ? 0 : c.start + c.tokens;
      own(c.seq, c.blocks, int64_t{c.start} + c.tokens);
      prefill_tokens += c.tokens;
    }
    for (const DecodeSeq& d : plan.decode) {
      EXPECT_TRUE(seqs.insert(d.seq).second);
      own(d.seq, d.blocks, int64_t{d.kv_len} + 1);
    }
    EXPECT_LE(
        prefill_tokens + static_cast<int64_t>(plan.decode.size()),
        std::max<int64_t>(limits_.max_batch_tokens, static_cast<int64_t>(plan.decode.size())));
    EXPECT_LE(static_cast<int>(plan.decode.size()), limits_.max_batch_size);
    ++steps;
    return inner_.execute(plan);
  }
  void release(uint64_t seq) override {
    blocks_.erase(seq);
    prefilled_.erase(seq);
    ++released;
    inner_.release(seq);
  }
  std::string describe() const override { return inner_.describe(); }
  int64_t steps = 0, released = 0;

 private:
  StepExecutor& inner_;
  EngineLimits limits_;
  std::map<uint64_t, std::vector<int32_t>> blocks_;
  std::map<uint64_t, int32_t> prefilled_;
};

struct Fixture {
  Scenario sc = scenario();
  RooflineCostModel roofline{*sc.catalog.find("H200")};
  EngineLimits limits{sc.serving.colocated.max_batch_size, sc.serving.colocated.max_batch_tokens,
                      sc.serving.colocated.chunk_size};
  CostModelExecutor executor(int32_t kv_blocks) {
    return CostModelExecutor(sc.model, *sc.catalog.find("H200"), sc.cluster, roofline,
                             {.kv_blocks = kv_blocks, .block_tokens = 16});
  }
};

void expect_complete(const EngineRun& run, const std::vector<TraceRecord>& reqs) {
  ASSERT_EQ(run.requests.size(), reqs.size());
  EXPECT_TRUE(run.meta.error.empty()) << run.meta.error;
  for (const RequestLog& r : run.requests) {
    if (r.status == RequestStatus::kRejected) continue;
    ASSERT_EQ(r.status, RequestStatus::kFinished) << "request " << r.id;
    // Exactly its output length, the first token at its prefill's last step.
    EXPECT_EQ(r.tokens_logged(), r.output_tokens) << "request " << r.id;
    ASSERT_FALSE(r.token_steps.empty());
    EXPECT_EQ(run.steps[static_cast<size_t>(r.token_steps.front().first)].end, r.first_token);
    const auto& last = r.token_steps.back();
    EXPECT_EQ(run.steps[static_cast<size_t>(last.first + last.second - 1)].end, r.finish);
    EXPECT_LE(r.arrival, r.first_launch);
    EXPECT_LT(r.first_launch, r.first_token);
  }
  for (size_t i = 1; i < run.steps.size(); ++i) EXPECT_LE(run.steps[i - 1].end, run.steps[i].start);
}

TEST(Driver, ServesEveryRequestItsExactOutputLength) {
  Fixture f;
  const std::vector<TraceRecord> reqs = engine_requests(f.sc.workload, f.sc.seed);
  ASSERT_EQ(reqs.size(), 200u);
  CostModelExecutor inner = f.executor(20000);
  CheckingExecutor ex(inner, f.limits);
  VirtualClock clock;
  const EngineRun run = run_engine(f.sc, reqs, ex, clock, {});
  expect_complete(run, reqs);
  EXPECT_EQ(run.count(RequestStatus::kFinished), 200);
  EXPECT_EQ(run.meta.preemptions, 0);
  EXPECT_EQ(ex.steps, static_cast<int64_t>(run.steps.size()));
  EXPECT_EQ(ex.released, 200);
  // The virtual clock advances by the executor's step times only.
  for (const StepRecord& s : run.steps) {
    EXPECT_EQ((s.end - s.start).ns(), s.gpu_ns);
    EXPECT_EQ(s.host_ns, 0);
  }
}

// The heart of "one policy, two executors": the driver with the simulator's step costs
// on a virtual clock is the simulator's colocated instance, request for request.
TEST(Driver, WithTheCostModelIsTheSimulatorRequestForRequest) {
  Fixture f;
  // (rate, KV blocks): light to heavy load.
  for (auto [rate, blocks] : {std::pair{2.0, 20000}, {8.0, 20000}, {30.0, 20000}}) {
    Scenario sc = f.sc;
    sc.workload.arrival.rate_per_s = rate;
    const std::vector<TraceRecord> reqs = engine_requests(sc.workload, sc.seed);
    CostModelExecutor ex = f.executor(blocks);
    VirtualClock clock;
    const EngineRun run = run_engine(sc, reqs, ex, clock, {});
    expect_complete(run, reqs);

    Scenario replay = sc;
    replay.workload.arrival.process = ArrivalProcess::kTrace;
    replay.workload.max_requests = 0;
    replay.serving.colocated.kv_capacity_tokens = int64_t{blocks} * 16;
    SimulationOptions o;
    o.keep_requests = true;
    o.replay = &reqs;
    const SimulationResult sim = simulate(replay, {}, o);
    ASSERT_EQ(sim.requests.size(), reqs.size()) << "rate " << rate;
    ASSERT_EQ(sim.instances.size(), 1u);
    EXPECT_EQ(sim.instances[0].steps, static_cast<int64_t>(run.steps.size())) << "rate " << rate;
    EXPECT_EQ(sim.summary.preemptions, run.meta.preemptions);
    for (size_t i = 0; i < reqs.size(); ++i) {
      const RequestLog& e = run.requests[i];
      const RequestRecord& s = sim.requests[i];
      ASSERT_EQ(s.id, e.id);
      EXPECT_FLOAT_EQ(s.ttft_s, static_cast<float>((e.first_token - e.arrival).to_seconds()))
          << "rate " << rate << " request " << i;
      EXPECT_FLOAT_EQ(s.e2e_s, static_cast<float>((e.finish - e.arrival).to_seconds()))
          << "rate " << rate << " request " << i;
    }
  }
}

// With an engine's decode attention launch term the step cost reads every decoding
// sequence's KV length: the simulator gathers them from its running set, the driver from
// its plan. Still the same instance, request for request.
TEST(Driver, WithTheDecodeLengthsTermIsTheSimulatorRequestForRequest) {
  Fixture f;
  calibration::ModelFile file = calibration::read_model("calibration/models/H200.json");
  file.engine.clear();
  EngineOverhead o;
  o.model = f.sc.model.name;
  o.weights = to_string(f.sc.model.precision.weights);
  o.decode_step_ns = 2e6;
  o.graph_buckets = quadrant_engine_graph_buckets(f.sc.serving.colocated.max_batch_size);
  o.attention_launch = quadrant_engine_attention_launch(f.sc.model, o.graph_buckets, 132,
                                                        file.plan_rules.decode_split);
  o.per_attention_token_ns = 5000;  // large, so that the lengths move every decode step
  file.engine = {o};
  const std::shared_ptr<const CostModel> model = calibration::CalibratedCostModel::from(file);
  Scenario sc = f.sc;
  sc.workload.arrival.rate_per_s = 8;
  const std::vector<TraceRecord> reqs = engine_requests(sc.workload, sc.seed);
  CostModelExecutor ex(sc.model, *sc.catalog.find("H200"), sc.cluster, *model,
                       {.kv_blocks = 20000, .block_tokens = 16});
  ASSERT_TRUE(ex.costs().reads_decode_lengths());
  VirtualClock clock;
  const EngineRun run = run_engine(sc, reqs, ex, clock, {});
  expect_complete(run, reqs);
  Scenario replay = sc;
  replay.workload.arrival.process = ArrivalProcess::kTrace;
  replay.workload.max_requests = 0;
  replay.serving.colocated.kv_capacity_tokens = int64_t{20000} * 16;
  SimulationOptions opt;
  opt.keep_requests = true;
  opt.replay = &reqs;
  const SimulationResult sim = simulate(replay, {{"H200", model}}, opt);
  ASSERT_EQ(sim.requests.size(), reqs.size());
  EXPECT_EQ(sim.instances.at(0).steps, static_cast<int64_t>(run.steps.size()));
  // The same step times: with the mean length instead (no lengths) they would differ.
  int differ = 0;
  for (const StepRecord& s : run.steps) {
    const StepBatch mean = step_batch(s);
    differ += s.prefill.empty() && ex.costs().cost(mean).total.ns() != s.gpu_ns;
  }
  EXPECT_GT(differ, 10);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const RequestLog& e = run.requests[i];
    const RequestRecord& r = sim.requests[i];
    ASSERT_EQ(r.id, e.id);
    EXPECT_FLOAT_EQ(r.ttft_s, static_cast<float>((e.first_token - e.arrival).to_seconds()))
        << "request " << i;
    EXPECT_FLOAT_EQ(r.e2e_s, static_cast<float>((e.finish - e.arrival).to_seconds()))
        << "request " << i;
  }
}

// Under preemption the two pick the same victims (the most recently admitted) but
// order a step's block allocations differently: the simulator takes the step's finishing
// and block-crossing sequences in slot order, the driver frees the finishing ones first
// and then serves the crossings in admission order (vLLM's order). Close, not equal.
TEST(Driver, UnderPreemptionStaysCloseToTheSimulator) {
  Fixture f;
  Scenario sc = f.sc;
  sc.workload.arrival.rate_per_s = 40;
  const std::vector<TraceRecord> reqs = engine_requests(sc.workload, sc.seed);
  CostModelExecutor ex = f.executor(700);
  VirtualClock clock;
  const EngineRun run = run_engine(sc, reqs, ex, clock, {});
  Scenario replay = sc;
  replay.workload.arrival.process = ArrivalProcess::kTrace;
  replay.workload.max_requests = 0;
  replay.serving.colocated.kv_capacity_tokens = 700 * 16;
  SimulationOptions o;
  o.keep_requests = true;
  o.replay = &reqs;
  const SimulationResult sim = simulate(replay, {}, o);
  ASSERT_GT(run.meta.preemptions, 0);
  ASSERT_GT(sim.summary.preemptions, 0);
  double e2e_engine = 0, e2e_sim = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    if (run.requests[i].status != RequestStatus::kFinished) continue;
    e2e_engine += (run.requests[i].finish - run.requests[i].arrival).to_seconds();
    e2e_sim += sim.requests[i].e2e_s;
  }
  std::printf("preemptions engine %lld sim %lld; steps %zu / %lld; mean e2e ratio %.5f\n",
              static_cast<long long>(run.meta.preemptions),
              static_cast<long long>(sim.summary.preemptions), run.steps.size(),
              static_cast<long long>(sim.instances[0].steps), e2e_engine / e2e_sim);
  EXPECT_NEAR(e2e_engine / e2e_sim, 1.0, 0.01);
}

// A KV cache too small for the load: sequences are preempted and recomputed, and still
// every one gets exactly its output length from blocks nobody else holds.
TEST(Driver, PreemptsByRecomputeWhenTheCacheRunsOut) {
  Fixture f;
  Scenario sc = f.sc;
  sc.workload.arrival.rate_per_s = 40;
  const std::vector<TraceRecord> reqs = engine_requests(sc.workload, sc.seed);
  CostModelExecutor inner = f.executor(700);  // 11,200 tokens
  CheckingExecutor ex(inner, f.limits);
  VirtualClock clock;
  const EngineRun run = run_engine(sc, reqs, ex, clock, {});
  expect_complete(run, reqs);
  EXPECT_GT(run.meta.preemptions, 0);
  int64_t preempted = 0, rejected = 0;
  for (const RequestLog& r : run.requests) {
    preempted += r.preemptions;
    rejected += r.status == RequestStatus::kRejected;
    // Never admitted: it could not fit the cache even alone.
    if (r.status == RequestStatus::kRejected) {
      EXPECT_EQ(r.reason, "kv_capacity");
      EXPECT_GT((r.input_tokens + r.output_tokens + 15) / 16, 700);
    }
  }
  EXPECT_EQ(preempted, run.meta.preemptions);
  EXPECT_EQ(ex.released, 200 - rejected + preempted);
}

TEST(Driver, RejectsARequestLargerThanTheCache) {
  Fixture f;
  std::vector<TraceRecord> reqs = {{SimTime::from_ns(0), 100, 10},
                                   {SimTime::from_ns(1000), 5000, 10},
                                   {SimTime::from_ns(2000), 100, 1}};
  CostModelExecutor ex = f.executor(100);  // 1600 tokens
  VirtualClock clock;
  const EngineRun run = run_engine(reqs, f.limits, ex, clock, {});
  expect_complete(run, reqs);
  EXPECT_EQ(run.requests[1].status, RequestStatus::kRejected);
  EXPECT_EQ(run.requests[1].reason, "kv_capacity");
  // A one-token request finishes at its prefill.
  EXPECT_EQ(run.requests[2].first_token, run.requests[2].finish);
}

TEST(Driver, IdlesUntilTheNextArrival) {
  Fixture f;
  std::vector<TraceRecord> reqs = {{SimTime::from_ns(0), 64, 4},
                                   {SimTime::start() + Duration::seconds(10), 64, 4}};
  CostModelExecutor ex = f.executor(100);
  VirtualClock clock;
  const EngineRun run = run_engine(reqs, f.limits, ex, clock, {});
  expect_complete(run, reqs);
  ASSERT_EQ(run.steps.size(), 8u);  // a prefill step and three decode steps each
  EXPECT_EQ(run.steps[4].start, SimTime::start() + Duration::seconds(10));
  EXPECT_EQ(run.requests[1].first_launch, run.requests[1].arrival);
}

class FailingExecutor : public CostModelExecutor {
 public:
  using CostModelExecutor::CostModelExecutor;
  StepTiming execute(const StepPlan& plan) override {
    if (++calls_ == 5) throw std::runtime_error("CUDA error: an illegal memory access");
    return CostModelExecutor::execute(plan);
  }

 private:
  int calls_ = 0;
};

TEST(Driver, AnExecutorErrorStopsTheRunWithWhatItHas) {
  Fixture f;
  std::vector<TraceRecord> reqs = {{SimTime::from_ns(0), 64, 3}, {SimTime::from_ns(0), 64, 30}};
  FailingExecutor ex(f.sc.model, *f.sc.catalog.find("H200"), f.sc.cluster, f.roofline,
                     {.kv_blocks = 100, .block_tokens = 16});
  VirtualClock clock;
  const EngineRun run = run_engine(reqs, f.limits, ex, clock, {});
  EXPECT_NE(run.meta.error.find("step 4: CUDA error"), std::string::npos) << run.meta.error;
  EXPECT_EQ(run.steps.size(), 4u);
  EXPECT_EQ(run.requests[0].status, RequestStatus::kFinished);
  EXPECT_EQ(run.requests[1].status, RequestStatus::kUnfinished);
}

TEST(Driver, RefusesLimitsBeyondTheExecutor) {
  Fixture f;
  CostModelExecutor ex(f.sc.model, *f.sc.catalog.find("H200"), f.sc.cluster, f.roofline,
                       {.kv_blocks = 100, .block_tokens = 16, .max_step_tokens = 1024});
  VirtualClock clock;
  try {
    run_engine(f.sc, {}, ex, clock, {});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "serving.colocated.max_batch_tokens");
    EXPECT_NE(std::string(e.what()).find("1024"), std::string::npos) << e.what();
  }
  Scenario sc = f.sc;
  sc.serving.kv_block_size = 32;
  CostModelExecutor ok = f.executor(100);
  EXPECT_THROW(run_engine(sc, {}, ok, clock, {}), InputError);
}

TEST(Driver, DrainLimitLeavesTheRestUnfinished) {
  Fixture f;
  std::vector<TraceRecord> reqs = {{SimTime::from_ns(0), 64, 5000}};
  CostModelExecutor ex = f.executor(1000);
  VirtualClock clock;
  EngineOptions o;
  o.drain_limit = Duration::millis(50);
  const EngineRun run = run_engine(reqs, f.limits, ex, clock, o);
  EXPECT_EQ(run.requests[0].status, RequestStatus::kUnfinished);
  EXPECT_FALSE(run.meta.error.empty());
  EXPECT_LE(run.steps.back().start, SimTime::start() + Duration::millis(50));
}

}  // namespace
}  // namespace quadrant::engine
