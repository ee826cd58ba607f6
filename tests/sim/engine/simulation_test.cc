// The simulator against its invariants (sim/INVARIANTS.md) and closed forms.
#include "sim/engine/simulation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "sim/core/error.h"
#include "sim/cost/roofline_cost_model.h"
#include "sim/cost/step_cost.h"
#include "sim/io/scenario_io.h"
#include "sim/model/accounting.h"
#include "sim/serving/request.h"
#include "sim/workload/trace_reader.h"

namespace quadrant {
namespace {

// The shipped default (Qwen3-235B-A22B, H100 prefill TP4, H20 decode TP4), shortened.
Scenario base(double rate = 6, double seconds = 60) {
  Scenario s = load_scenario("scenarios/default.json");
  s.workload.arrival.process = ArrivalProcess::kPoisson;
  s.workload.arrival.rate_per_s = rate;
  s.workload.duration = Duration::seconds(seconds);
  s.workload.warmup = Duration::zero();
  return s;
}

SimulationResult run(const Scenario& s, uint64_t seed = 1, bool keep = false) {
  SimulationOptions o;
  o.seed = seed;
  o.keep_requests = keep;
  return simulate(s, roofline_cost_models(s), o);
}

// Every result a run reports, with floats as exact hex: equal strings = identical runs.
std::string fingerprint(const SimulationResult& r) {
  std::string out;
  char b[512];
  const SimulationSummary& m = r.summary;
  std::snprintf(
      b, sizeof b,
      "%" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %a %a %a %a %a %a %a %" PRId64 "\n",
      m.requests_arrived, m.requests_finished, m.input_tokens, m.output_tokens, m.ttft.mean,
      m.ttft.p99, m.tpot.mean, m.e2e.p90, m.slo_attainment, m.usd, m.duration_s, m.events);
  out += b;
  for (const InstanceSummary& i : r.instances) {
    std::snprintf(b, sizeof b, "%s %a %a %a %" PRId64 "\n", i.name.c_str(), i.utilization,
                  i.mean_kv_occupancy, i.mean_batch_size, i.steps);
    out += b;
  }
  for (const RequestRecord& q : r.requests) {
    std::snprintf(b, sizeof b, "%" PRIu64 " %a %d %d %a %a %a\n", q.id, q.arrival_s, q.input_tokens,
                  q.output_tokens, static_cast<double>(q.ttft_s), static_cast<double>(q.tpot_s),
                  static_cast<double>(q.e2e_s));
    out += b;
  }
  return out;
}

void expect_conserved(const SimulationResult& r, const std::string& what) {
  const SimulationSummary& m = r.summary;
  EXPECT_GT(m.requests_arrived, 0) << what;
  EXPECT_EQ(m.requests_finished + m.requests_rejected, m.requests_arrived) << what;
  int64_t by_reason = 0;
  for (const auto& [reason, n] : m.rejections) by_reason += n;
  EXPECT_EQ(by_reason, m.requests_rejected) << what;
  for (const InstanceSummary& i : r.instances) {
    EXPECT_LE(i.peak_kv_occupancy, 1.0) << what << " " << i.name;
    EXPECT_GE(i.mean_kv_occupancy, 0.0) << what << " " << i.name;
    EXPECT_LE(i.utilization, 1.0) << what << " " << i.name;
    for (const auto& [t, v] : i.kv_occupancy_series) EXPECT_LE(v, 1.0) << what;
  }
}

// A sweep over the serving features: every request finishes or is rejected with a
// reason, and no instance ever holds more KV than it has (change_kv also aborts on it).
TEST(Simulation, EveryRequestFinishesOrIsRejectedWithAReason) {
  std::vector<std::pair<std::string, Scenario>> cases;
  cases.push_back({"default", base()});
  {
    Scenario s = base();
    s.serving.mode = ServingMode::kColocated;
    s.serving.colocated = s.serving.decode;
    s.serving.colocated.gpu = "H100-SXM";
    s.serving.colocated.instances = 2;
    cases.push_back({"colocated", s});
  }
  {
    Scenario s = base();
    s.serving.kv_transfer_layerwise = true;
    s.serving.prefill_routing = PrefillRouting::kRoundRobin;
    s.serving.decode_routing = DecodeRouting::kRoundRobin;
    s.serving.prefill.instances = 2;
    cases.push_back({"layerwise round-robin", s});
  }
  {
    Scenario s = base();
    s.serving.speculative.enabled = true;
    s.serving.prefill.layout = {2, 2, 2, 1};  // TP2 EP2 PP2: Chunk-PP
    cases.push_back({"speculative chunk-pp", s});
  }
  {
    // Little KV room: long outputs force preemptions; huge ones cannot fit at all.
    Scenario s = base(8, 60);
    s.serving.decode.layout = {2, 2, 1, 1};
    s.serving.decode.gpu = "H200";
    s.catalog.gpus["H200"].reserved_memory = Bytes::giga(21);  // ~3 GB of KV per GPU
    s.workload.output_length.distribution = LengthDistribution::kUniform;
    s.workload.output_length.min = 1;
    s.workload.output_length.max = 60000;
    cases.push_back({"tiny kv", s});
  }
  {
    Scenario s = base(120, 60);  // far past saturation, with a short drain limit
    cases.push_back({"saturated", s});
  }
  {
    Scenario s = base(6, 600);
    s.workload.arrival.process = ArrivalProcess::kDiurnal;
    s.workload.arrival.curve_period = Duration::seconds(300);
    s.workload.arrival.curve = {{Duration::zero(), 2.0}, {Duration::seconds(150), 20.0}};
    s.serving.autoscaler.enabled = true;
    s.serving.autoscaler.interval = Duration::seconds(5);
    s.serving.autoscaler.provisioning_delay = Duration::seconds(30);
    s.serving.autoscaler.max_instances = 6;
    s.serving.autoscaler.prefill_queue_tokens_high = 8000;
    s.serving.autoscaler.decode_utilization_high = 0.5;
    cases.push_back({"autoscaled diurnal", s});
  }
  for (auto& [name, s] : cases) {
    SimulationOptions o;
    o.seed = 3;
    if (name == "saturated") o.drain_limit = Duration::seconds(20);
    SimulationResult r = simulate(s, roofline_cost_models(s), o);
    expect_conserved(r, name);
    if (name == "tiny kv") {
      EXPECT_GT(r.summary.preemptions, 0);
      EXPECT_GT(r.summary.rejections.count("kv_capacity"), 0u);
    }
    if (name == "saturated") {
      EXPECT_GT(r.summary.rejections.count("unfinished"), 0u);
    }
    if (name == "autoscaled diurnal") {
      EXPECT_GT(r.instances.size(), 3u);  // it grew
      EXPECT_EQ(r.summary.requests_rejected, 0);
    }
  }
}

// One prefill instance, Poisson arrivals, fixed prompts, one output token and a token
// budget of one prompt per step: an M/D/1 queue, whose mean wait is
// rho / (2 mu (1 - rho)) = D rho / (2 (1 - rho)).
TEST(Simulation, SinglePrefillInstanceMatchesMD1MeanWait) {
  for (double rho : {0.3, 0.5, 0.7}) {
    Scenario s = base();
    const int64_t prompt = 2048;
    s.workload.input_length.distribution = LengthDistribution::kFixed;
    s.workload.input_length.value = prompt;
    s.workload.output_length.distribution = LengthDistribution::kFixed;
    s.workload.output_length.value = 1;
    s.serving.prefill.max_batch_tokens = prompt;
    s.serving.prefill.chunk_size = prompt;
    const GpuSpec& gpu = *s.catalog.find(s.serving.prefill.gpu);
    RooflineCostModel roofline(gpu);
    StepCostModel costs(s.model, s.serving.prefill.layout, gpu, s.cluster, roofline);
    const double service = costs.prefill_time(prompt).to_seconds();
    s.workload.arrival.rate_per_s = rho / service;
    s.workload.duration = Duration::seconds(200000 * service / rho);
    SimulationResult r = run(s, 11);
    const double expected = service * rho / (2 * (1 - rho));
    EXPECT_NEAR(r.summary.queueing.mean, expected, 0.04 * expected) << "rho " << rho;
    // Service is deterministic: TTFT = wait + D for every request.
    EXPECT_NEAR(r.summary.ttft.mean - r.summary.queueing.mean, service, 1e-6);
  }
}

TEST(Simulation, TtftGrowsWithoutBoundPastSaturation) {
  Scenario s = base();
  s.workload.output_length.distribution = LengthDistribution::kFixed;
  s.workload.output_length.value = 1;
  // Twice what the prefill instance can serve.
  const GpuSpec& gpu = *s.catalog.find(s.serving.prefill.gpu);
  RooflineCostModel roofline(gpu);
  StepCostModel costs(s.model, s.serving.prefill.layout, gpu, s.cluster, roofline);
  s.workload.input_length.distribution = LengthDistribution::kFixed;
  s.workload.input_length.value = 8192;
  s.workload.arrival.rate_per_s = 2.0 / costs.prefill_time(8192).to_seconds();
  double previous = 0;
  for (double seconds : {20.0, 40.0, 80.0}) {
    s.workload.duration = Duration::seconds(seconds);
    SimulationResult r = run(s, 5);
    ASSERT_EQ(r.summary.requests_rejected, 0);
    // Backlog grows linearly: the mean wait doubles with the duration.
    EXPECT_GT(r.summary.ttft.mean, 1.8 * previous) << seconds;
    EXPECT_GT(r.summary.ttft.mean, seconds * 0.2) << seconds;
    previous = r.summary.ttft.mean;
  }
}

TEST(Simulation, MoreDecodeInstancesNeverLowerGoodput) {
  Scenario s = base(10, 120);
  s.serving.decode.max_batch_size = 16;  // so that one decode instance is the bottleneck
  s.serving.prefill.instances = 2;
  s.slo.tpot = Duration::millis(40);
  double previous = -1;
  for (int n = 1; n <= 5; ++n) {
    s.serving.decode.instances = n;
    SimulationResult r = run(s, 4);
    EXPECT_GE(r.summary.goodput_rps, previous) << n << " decode instances";
    previous = r.summary.goodput_rps;
  }
  EXPECT_GT(previous, 0);
}

TEST(Simulation, SameSeedGivesIdenticalResultsAndAnotherSeedDoesNot) {
  Scenario s = base(8, 60);
  s.serving.speculative.enabled = true;
  s.serving.kv_transfer_layerwise = true;
  const std::string a = fingerprint(run(s, 21, true));
  EXPECT_EQ(a, fingerprint(run(s, 21, true)));
  EXPECT_NE(a, fingerprint(run(s, 22, true)));
}

TEST(Simulation, ColocatedAndDisaggregatedServeTheSameTokens) {
  Scenario d = base(5, 60);
  Scenario c = d;
  c.serving.mode = ServingMode::kColocated;
  c.serving.colocated = c.serving.prefill;
  c.serving.colocated.instances = 3;
  c.serving.colocated.max_batch_size = 128;
  SimulationResult rd = run(d, 8), rc = run(c, 8);
  EXPECT_EQ(rd.summary.requests_finished, rc.summary.requests_finished);
  EXPECT_EQ(rd.summary.input_tokens, rc.summary.input_tokens);
  EXPECT_EQ(rd.summary.output_tokens, rc.summary.output_tokens);
  EXPECT_EQ(rd.summary.requests_rejected, 0);
  EXPECT_GT(rd.summary.kv_transfers, 0);
  EXPECT_EQ(rc.summary.kv_transfers, 0);
}

TEST(Simulation, TraceReplayReproducesTheTraceArrivalsExactly) {
  for (auto [file, format] :
       {std::pair{"scenarios/traces/azure_llm_sample.csv", TraceFormat::kAzure},
        std::pair{"scenarios/traces/burstgpt_sample.csv", TraceFormat::kBurstGpt},
        std::pair{"scenarios/traces/mooncake_sample.jsonl", TraceFormat::kMooncake}}) {
    Scenario s = base();
    s.workload.arrival.process = ArrivalProcess::kTrace;
    s.workload.arrival.trace_file = file;
    s.workload.arrival.trace_format = format;
    s.workload.arrival.trace_time_scale = 1.5;
    const std::vector<TraceRecord> trace = read_trace(file, format, 1.5);
    SimulationResult r = run(s, 1, true);
    ASSERT_EQ(r.requests.size(), trace.size()) << file;
    for (size_t i = 0; i < trace.size(); ++i) {
      EXPECT_EQ(r.requests[i].arrival_s, trace[i].arrival.to_seconds()) << file << " " << i;
      EXPECT_EQ(r.requests[i].input_tokens, trace[i].input_tokens);
      EXPECT_EQ(r.requests[i].output_tokens, trace[i].output_tokens);
    }
    expect_conserved(r, file);
  }
}

// Speculative decoding: one sequence at a time, each verify step yields on average
// (1 - a^(k+1)) / (1 - a) tokens, so a request of O output tokens takes about
// (O - 1) / E decode steps after its first token.
TEST(Simulation, SpeculativeDecodingYieldsTheExpectedTokensPerStep) {
  Scenario s = base();
  s.workload.arrival.process = ArrivalProcess::kDeterministic;
  s.workload.arrival.rate_per_s = 0.1;  // requests never overlap (each takes ~3 s)
  s.workload.duration = Duration::seconds(6000);
  s.workload.input_length.distribution = LengthDistribution::kFixed;
  s.workload.input_length.value = 256;
  s.workload.output_length.distribution = LengthDistribution::kFixed;
  s.workload.output_length.value = 401;
  s.serving.decode.instances = 1;
  s.serving.speculative.enabled = true;
  s.serving.speculative.draft_length = 4;
  s.serving.speculative.acceptance_rate = 0.6;
  SimulationResult r = run(s, 2);
  const double a = 0.6;
  const double expected_tokens = (1 - std::pow(a, 5)) / (1 - a);
  int64_t decode_steps = 0;
  for (const InstanceSummary& i : r.instances)
    if (i.role == Role::kDecode) decode_steps += i.steps;
  const double per_step =
      400.0 * static_cast<double>(r.summary.requests_finished) / static_cast<double>(decode_steps);
  // The last step of a request is cut short at its output length: a small bias down.
  EXPECT_NEAR(per_step, expected_tokens, 0.03 * expected_tokens);
}

// Deterministic arrivals of fixed prompts leave most colocated instances with no prompt
// work queued between arrivals; the router must still spread requests over all of them.
TEST(Simulation, ColocatedPoolSpreadsLoadOverEveryInstance) {
  Scenario s = base(24, 30);
  s.workload.arrival.process = ArrivalProcess::kDeterministic;
  s.workload.input_length.distribution = LengthDistribution::kFixed;
  s.workload.input_length.value = 1024;
  s.workload.output_length.distribution = LengthDistribution::kFixed;
  s.workload.output_length.value = 128;
  s.serving.mode = ServingMode::kColocated;
  s.serving.colocated = s.serving.decode;
  s.serving.colocated.gpu = "H100-SXM";
  s.serving.colocated.instances = 6;
  SimulationResult r = run(s);
  ASSERT_EQ(r.instances.size(), 6u);
  int64_t least = r.instances.front().steps, most = least;
  for (const InstanceSummary& i : r.instances) {
    least = std::min(least, i.steps);
    most = std::max(most, i.steps);
  }
  EXPECT_GT(least, 0);
  EXPECT_LT(static_cast<double>(most - least), 0.25 * static_cast<double>(most));
}

// Goodput and throughput are measured over one window (warm-up to the last arrival) on
// one population (the requests finishing inside it): goodput <= throughput, equal when
// every request meets its SLOs; below capacity both are the arrival rate, past it the
// throughput is the service rate.
TEST(Simulation, GoodputAndThroughputShareOneWindow) {
  const int64_t prompt = 2048;
  Scenario s = base(5, 60);
  s.workload.arrival.process = ArrivalProcess::kDeterministic;
  s.workload.warmup = Duration::seconds(10);
  s.workload.input_length.distribution = LengthDistribution::kFixed;
  s.workload.input_length.value = prompt;
  s.workload.output_length.distribution = LengthDistribution::kFixed;
  s.workload.output_length.value = 1;
  s.serving.prefill.instances = 1;
  s.serving.prefill.max_batch_tokens = prompt;
  s.serving.prefill.chunk_size = prompt;
  s.slo.ttft = Duration::seconds(1000);
  s.slo.tpot = Duration::seconds(1000);
  const GpuSpec& gpu = *s.catalog.find(s.serving.prefill.gpu);
  RooflineCostModel roofline(gpu);
  StepCostModel costs(s.model, s.serving.prefill.layout, gpu, s.cluster, roofline);
  const double service = costs.prefill_time(prompt).to_seconds();  // one request per step
  // Below capacity: every request meets its SLOs.
  s.workload.arrival.rate_per_s = 0.5 / service;
  SimulationSummary light = run(s).summary;
  const double window = 50;  // arrivals run to (almost) 60 s, warm-up 10 s
  EXPECT_EQ(light.goodput_rps, light.throughput_rps);
  EXPECT_NEAR(light.throughput_rps, 0.5 / service, 2.0 / window);
  EXPECT_NEAR(light.output_tokens_per_s, light.throughput_rps, 1e-9);
  // Twice the capacity: the instance serves one request per step, and a request arriving
  // at a finishes at about 2a, having waited a: of those finishing in the window (arrived
  // from 5 s to 30 s) only those that waited less than 15 s meet the TTFT SLO.
  s.workload.arrival.rate_per_s = 2.0 / service;
  s.slo.ttft = Duration::seconds(15);
  SimulationOptions o;
  o.drain_limit = Duration::seconds(30);
  SimulationSummary saturated = simulate(s, roofline_cost_models(s), o).summary;
  EXPECT_NEAR(saturated.throughput_rps, 1.0 / service, 2.0 / window);
  EXPECT_NEAR(saturated.goodput_rps, 0.4 * saturated.throughput_rps,
              0.05 * saturated.throughput_rps);
}

// A KV transfer between a TP4 prefill instance and a TP4 decode instance on other nodes:
// four shards, each a quarter of the KV from one prefill GPU to one decode GPU over their
// own NICs (50 GB/s), so an isolated transfer takes bytes / (4 x 50 GB/s) plus the path
// latency (NIC to switch to NIC: 2 x 10 us).
TEST(Simulation, AnIsolatedKvTransferMovesEveryShardOverItsOwnNics) {
  Scenario s = base(0.05, 200);
  s.workload.arrival.process = ArrivalProcess::kDeterministic;
  s.workload.input_length.distribution = LengthDistribution::kFixed;
  s.workload.input_length.value = 2048;
  s.workload.output_length.distribution = LengthDistribution::kFixed;
  s.workload.output_length.value = 2;
  ASSERT_EQ(s.serving.prefill.layout.gpus(), 4);
  ASSERT_EQ(s.serving.decode.layout.gpus(), 4);
  const SimulationSummary m = run(s).summary;
  ASSERT_GT(m.kv_transfers, 5);
  const double bytes = kv_bytes_per_token(s.model).value() * 2048;
  const double expected = bytes / (4 * s.cluster.inter_node.bandwidth.value()) +
                          2 * s.cluster.inter_node.latency.to_seconds();
  EXPECT_NEAR(m.kv_transfer_mean_s, expected, 2e-9);
}

// With data-parallel attention a request's KV sits on one replica: a TP1 x DP4 instance
// sends it as one flow from one GPU to one GPU, over one NIC pair (a quarter of the
// bandwidth the TP4 instances above get), whichever replicas hold it.
TEST(Simulation, DataParallelAttentionKvMovesFromOneReplicaToOne) {
  Scenario s = base(0.05, 200);
  s.workload.arrival.process = ArrivalProcess::kDeterministic;
  s.workload.input_length.distribution = LengthDistribution::kFixed;
  s.workload.input_length.value = 2048;
  s.workload.output_length.distribution = LengthDistribution::kFixed;
  s.workload.output_length.value = 2;
  for (PoolSpec* p : {&s.serving.prefill, &s.serving.decode}) {
    p->layout = Layout{.tp = 1, .ep = 4, .pp = 1, .dp_attention = 4};
    ASSERT_EQ(p->layout.gpus(), 4);
  }
  const SimulationSummary m = run(s).summary;
  ASSERT_GT(m.kv_transfers, 5);
  const double bytes = kv_bytes_per_token(s.model).value() * 2048;
  const double expected = bytes / s.cluster.inter_node.bandwidth.value() +
                          2 * s.cluster.inter_node.latency.to_seconds();
  EXPECT_NEAR(m.kv_transfer_mean_s, expected, 2e-9);
}

// Prefix cache hits are not computed: an isolated 2048-token prompt with half of it
// cached (1024 tokens, whole 16-token blocks) takes one prefill step of the 1024 misses
// attending to the whole prompt, {1 seq, 1024 new, 2048 context, 1024 x 1024 + 1024 x
// 1025 / 2 pairs}, and its KV transfer still moves all 2048 tokens.
TEST(Simulation, PrefixCacheHitsAreNotComputedButTheirKvMoves) {
  Scenario s = base(0.05, 200);
  s.workload.arrival.process = ArrivalProcess::kDeterministic;
  s.workload.input_length.distribution = LengthDistribution::kFixed;
  s.workload.input_length.value = 2048;
  s.workload.output_length.distribution = LengthDistribution::kFixed;
  s.workload.output_length.value = 2;
  ASSERT_EQ(s.serving.kv_block_size, 16);
  const GpuSpec& gpu = *s.catalog.find(s.serving.prefill.gpu);
  RooflineCostModel roofline(gpu);
  const StepCostModel costs(s.model, s.serving.prefill.layout, gpu, s.cluster, roofline);
  const SimulationSummary cold = run(s).summary;
  EXPECT_NEAR(cold.ttft.mean, costs.prefill_time(2048).to_seconds(), 1e-9);
  s.serving.prefill.prefix_hit_rate = 0.5;
  const SimulationSummary warm = run(s).summary;
  StepBatch misses;
  misses.prefill = {1, 1024, 2048, 1024LL * 1024 + 1024LL * 1025 / 2};
  EXPECT_NEAR(warm.ttft.mean, costs.cost(misses).total.to_seconds(), 1e-9);
  EXPECT_LT(warm.ttft.mean, 0.75 * cold.ttft.mean);
  ASSERT_GT(warm.kv_transfers, 5);
  EXPECT_NEAR(warm.kv_transfer_mean_s, cold.kv_transfer_mean_s, 1e-12);
  EXPECT_EQ(warm.input_tokens, cold.input_tokens);
}

// A trace with Mooncake block hashes replayed on pools with a block prefix cache
// (serving.<pool>.prefix_cache, 512-token blocks).
SimulationResult replay(Scenario s, const std::vector<TraceRecord>& trace) {
  s.workload.arrival.process = ArrivalProcess::kTrace;
  s.workload.arrival.trace_format = TraceFormat::kMooncake;
  s.serving.prefill.prefix_cache.memory_fraction = 0.5;
  s.serving.prefill.prefix_cache.block_tokens = 512;
  SimulationOptions o;
  o.seed = 1;
  o.keep_requests = true;
  o.replay = &trace;
  return simulate(s, roofline_cost_models(s), o);
}

std::vector<uint64_t> ids(uint64_t first, size_t n) {
  std::vector<uint64_t> v;
  for (size_t i = 0; i < n; ++i) v.push_back(first + i);
  return v;
}

// The same 6,955-token prompt (14 blocks of 512, the last partial) twice, 100 s apart:
// the second finds all 14 blocks cached, so it computes only what the "at least one token
// computed" rule and whole 16-token KV blocks leave: 6,955 - 6,944 = 11 tokens, attending
// to the 6,944 cached; its TTFT is that step alone. The prefill instance computes
// 6,955 + 11 tokens in all.
TEST(Simulation, AFullyCachedPrefixComputesOnlyItsSuffix) {
  Scenario s = base();
  s.serving.prefill.instances = 1;
  s.serving.prefill.chunk_size = s.serving.prefill.max_batch_tokens = 8192;  // one step each
  const std::vector<TraceRecord> trace = {
      {SimTime::start(), 6955, 4, ids(0, 14)},
      {SimTime::start() + Duration::seconds(100), 6955, 4, ids(0, 14)}};
  const SimulationResult r = replay(s, trace);
  ASSERT_EQ(r.summary.requests_finished, 2);
  EXPECT_EQ(r.summary.prefix_cache_prompt_tokens, 2 * 6955);
  EXPECT_EQ(r.summary.prefix_cache_hit_tokens, 6944);
  const GpuSpec& gpu = *s.catalog.find(s.serving.prefill.gpu);
  RooflineCostModel roofline(gpu);
  const StepCostModel costs(s.model, s.serving.prefill.layout, gpu, s.cluster, roofline);
  ASSERT_EQ(r.requests.size(), 2u);
  EXPECT_NEAR(r.requests[0].ttft_s, costs.prefill_time(6955).to_seconds(), 1e-6);
  StepBatch suffix;
  suffix.prefill = {1, 11, 6955, 11LL * 6944 + 11LL * 12 / 2};
  EXPECT_NEAR(r.requests[1].ttft_s, costs.cost(suffix).total.to_seconds(), 1e-6);
  double computed = 0;
  for (const InstanceSummary& i : r.instances)
    if (i.role == Role::kPrefill) computed += i.mean_batch_tokens * static_cast<double>(i.steps);
  EXPECT_NEAR(computed, 6955 + 11, 1e-6);
  // A prompt sharing only its first 3 blocks (then new ones) reuses exactly 3 x 512.
  const std::vector<TraceRecord> partial = {
      {SimTime::start(), 6955, 4, ids(0, 14)},
      {SimTime::start() + Duration::seconds(100), 3000, 4, {0, 1, 2, 50, 51, 52}}};
  EXPECT_EQ(replay(s, partial).summary.prefix_cache_hit_tokens, 3 * 512);
}

// Two prefill instances; prompts A and B (prefixes of 8 blocks each) arrive together and
// are spread one per instance. 100 s later B' (B's prefix) and then A' (A's) arrive while
// both instances are idle. Cache-aware routing sends each where its prefix is: both hit
// 8 blocks. Least-tokens routing sends B' to the first instance (a tie), which holds A's
// prefix, then A' to the second (the first is busy): no hit at all.
TEST(Simulation, CacheAwareRoutingFindsThePrefixWhereLeastTokensMissesIt) {
  Scenario s = base();
  s.serving.prefill.instances = 2;
  const SimTime later = SimTime::start() + Duration::seconds(100);
  const std::vector<TraceRecord> trace = {
      {SimTime::start(), 4200, 4, ids(0, 9)},
      {SimTime::start(), 4200, 4, ids(100, 9)},
      {later, 4300, 4, ids(100, 8)},
      {later, 4300, 4, ids(0, 8)},
  };
  s.serving.prefill_routing = PrefillRouting::kLeastTokens;
  const SimulationSummary least = replay(s, trace).summary;
  s.serving.prefill_routing = PrefillRouting::kCacheAware;
  const SimulationSummary aware = replay(s, trace).summary;
  ASSERT_EQ(aware.requests_finished, 4);
  EXPECT_EQ(least.prefix_cache_hit_tokens, 0);
  EXPECT_EQ(aware.prefix_cache_hit_tokens, 2 * 8 * 512);
  EXPECT_LT(aware.ttft.mean, least.ttft.mean);
}

// The shared KV tier (serving.shared_kv_tier): prompt A on the first of two prefill
// instances (round robin) is computed and written to the tier; the same prompt 100 s later
// goes to the second instance, whose own cache misses: it loads the 6,944 tokens the tier
// holds (14 blocks of 512, capped at whole 16-token KV blocks with one token computed)
// over the tier's bandwidth plus its latency, then computes the 11-token suffix:
// TTFT = 6,944 x KV bytes per token / bandwidth + latency + the suffix's step. Without the
// tier it computes the whole prompt again; a tier too small for one prompt's blocks holds
// only its last blocks, never a leading prefix: no hit.
TEST(Simulation, ASharedTierHitPaysItsTransferInsteadOfTheCompute) {
  Scenario s = base();
  s.serving.prefill.instances = 2;
  s.serving.prefill.chunk_size = s.serving.prefill.max_batch_tokens = 8192;  // one step each
  s.serving.prefill_routing = PrefillRouting::kRoundRobin;
  const std::vector<TraceRecord> trace = {
      {SimTime::start(), 6955, 4, ids(0, 14)},
      {SimTime::start() + Duration::seconds(100), 6955, 4, ids(0, 14)}};
  const GpuSpec& gpu = *s.catalog.find(s.serving.prefill.gpu);
  RooflineCostModel roofline(gpu);
  const StepCostModel costs(s.model, s.serving.prefill.layout, gpu, s.cluster, roofline);
  const SimulationResult none = replay(s, trace);
  ASSERT_EQ(none.requests.size(), 2u);
  EXPECT_EQ(none.summary.prefix_cache_hit_tokens, 0);
  EXPECT_NEAR(none.requests[1].ttft_s, costs.prefill_time(6955).to_seconds(), 1e-6);
  s.serving.shared_kv_tier = {Bytes::giga(100), BytesPerSec::giga(25), Duration::micros(30)};
  const SimulationResult tier = replay(s, trace);
  ASSERT_EQ(tier.requests.size(), 2u);
  EXPECT_EQ(tier.summary.prefix_cache_hit_tokens, 6944);
  EXPECT_EQ(tier.summary.shared_tier_hit_tokens, 6944);
  EXPECT_EQ(tier.summary.shared_tier_loads, 1);
  const Duration load =
      kv_bytes_per_token(s.model) * 6944.0 / BytesPerSec::giga(25) + Duration::micros(30);
  EXPECT_NEAR(tier.summary.shared_tier_load_mean_s, load.to_seconds(), 1e-9);
  StepBatch suffix;
  suffix.prefill = {1, 11, 6955, 11LL * 6944 + 11LL * 12 / 2};
  EXPECT_NEAR(tier.requests[1].ttft_s, (load + costs.cost(suffix).total).to_seconds(), 1e-6);
  EXPECT_NEAR(tier.requests[0].ttft_s, none.requests[0].ttft_s, 1e-12);
  // 13 blocks of room: LRU keeps the prompt's last 13, the leading block is gone.
  s.serving.shared_kv_tier.capacity = kv_bytes_per_token(s.model) * (13.0 * 512);
  EXPECT_EQ(replay(s, trace).summary.shared_tier_hit_tokens, 0);
}

// The shared tier under the planner's runs (requests without block hashes): a prompt
// of 6,955 tokens with prefix_hit_rate 0.25 and shared_tier_hit_rate 0.5 finds 1,728
// tokens in its own cache (0.25 x 6,955 in whole 16-token blocks) and loads 3,472 more
// (0.5 x 6,955, whole blocks) over the tier; two such prompts arriving together queue on
// the tier's one pipe: TTFT_1 = b + latency + the suffix step, TTFT_2 = 2 b + latency +
// the suffix step (b: 3,472 tokens of KV / bandwidth; the suffix: 1,755 tokens after
// 5,200, each prompt on its own instance).
TEST(Simulation, WithoutBlockHashesTheTiersShareIsLoadedBehindEarlierLoads) {
  Scenario s = base();
  s.serving.prefill.instances = 2;
  s.serving.prefill.chunk_size = s.serving.prefill.max_batch_tokens = 8192;  // one step each
  s.serving.prefill_routing = PrefillRouting::kRoundRobin;
  s.serving.prefill.prefix_hit_rate = 0.25;
  s.serving.prefill.shared_tier_hit_rate = 0.5;
  s.serving.shared_kv_tier = {Bytes::giga(100), BytesPerSec::giga(25), Duration::micros(30)};
  const std::vector<TraceRecord> trace = {{SimTime::start(), 6955, 4, {}},
                                          {SimTime::start(), 6955, 4, {}}};
  const SimulationResult r = replay(s, trace);
  ASSERT_EQ(r.requests.size(), 2u);
  EXPECT_EQ(r.summary.shared_tier_hit_tokens, 2 * 3472);
  EXPECT_EQ(r.summary.shared_tier_loads, 2);
  const Duration b = kv_bytes_per_token(s.model) * 3472.0 / BytesPerSec::giga(25);
  const Duration latency = Duration::micros(30);
  EXPECT_NEAR(r.summary.shared_tier_load_mean_s,
              ((b + latency) + (b * 2 + latency)).to_seconds() / 2, 1e-9);
  const GpuSpec& gpu = *s.catalog.find(s.serving.prefill.gpu);
  RooflineCostModel roofline(gpu);
  const StepCostModel costs(s.model, s.serving.prefill.layout, gpu, s.cluster, roofline);
  StepBatch suffix;
  suffix.prefill = {1, 1755, 6955, 1755LL * 5200 + 1755LL * 1756 / 2};
  const Duration step = costs.cost(suffix).total;
  std::vector<double> ttft = {r.requests[0].ttft_s, r.requests[1].ttft_s};
  std::sort(ttft.begin(), ttft.end());
  EXPECT_NEAR(ttft[0], (b + latency + step).to_seconds(), 1e-6);
  EXPECT_NEAR(ttft[1], (b * 2 + latency + step).to_seconds(), 1e-6);
  // Without the tier the same share is computed: no load, a longer step.
  s.serving.shared_kv_tier = {};
  const SimulationResult none = replay(s, trace);
  EXPECT_EQ(none.summary.shared_tier_loads, 0);
  EXPECT_GT(none.requests[0].ttft_s, step.to_seconds());
}

// Chunk-PP prefill (issue 16, deliverable 4): a prompt of n chunks on an instance of pp
// stages issues chunk i one stage-time after chunk i - 1 (a stage is total / pp of its
// step) and chunk i leaves the last stage at d_i = max(l_i + total_i, d_{i-1} + stage_i):
// the first token comes at d_n, about (n + pp - 1) stage-times instead of n totals. With
// two prompts and a budget of two chunks, each step carries a chunk of both (cross-request
// batching) and the same recursion holds over the batched steps.
TEST(Simulation, ChunkPpPipelinesAPromptsChunksOverTheStages) {
  for (int prompts : {1, 2}) {
    for (int pp : {1, 2}) {
      Scenario s = base();
      s.serving.prefill.layout = {4, 4, pp, 1};
      s.serving.prefill.chunk_size = 2048;
      s.serving.prefill.max_batch_tokens = 2048 * prompts;
      s.workload.arrival.process = ArrivalProcess::kTrace;
      std::vector<TraceRecord> trace;
      for (int i = 0; i < prompts; ++i) trace.push_back({SimTime::start(), 16384, 2});
      SimulationOptions o;
      o.keep_requests = true;
      o.replay = &trace;
      const SimulationResult r = simulate(s, roofline_cost_models(s), o);
      ASSERT_EQ(r.requests.size(), static_cast<size_t>(prompts));
      const GpuSpec& gpu = *s.catalog.find(s.serving.prefill.gpu);
      RooflineCostModel roofline(gpu);
      const StepCostModel costs(s.model, s.serving.prefill.layout, gpu, s.cluster, roofline);
      Duration launch = Duration::zero(), done = Duration::zero();
      for (int64_t prior = 0; prior < 16384; prior += 2048) {
        StepBatch b;
        b.prefill = {prompts, 2048LL * prompts, (prior + 2048) * prompts,
                     (2048 * prior + 2048LL * 2049 / 2) * prompts};
        const StepCost c = costs.cost(b);
        EXPECT_EQ(c.stage, Duration::nanos((c.total.ns() + pp - 1) / pp));
        done = max(launch + c.total, done + c.stage);
        launch += c.stage;
      }
      for (const RequestRecord& q : r.requests)
        EXPECT_NEAR(q.ttft_s, done.to_seconds(), 1e-6) << prompts << " prompts, pp " << pp;
    }
  }
}

// The engine's accounting of per-request memory: live state (the request slab) is sized
// by the requests in flight at once, the compact results by the requests scored. With
// deterministic arrivals and fixed lengths, 4x the requests at the same rate leave the
// peak in flight unchanged (Little's law: about rate x E2E), while the results grow by
// exactly 4 x 16 bytes per request.
TEST(Simulation, MemoryGrowsWithRequestsInFlightNotWithRequestsServed) {
  Scenario s = base(20, 1000);
  s.workload.max_requests = 500;
  s.workload.arrival.process = ArrivalProcess::kDeterministic;
  s.workload.input_length.distribution = LengthDistribution::kFixed;
  s.workload.input_length.value = 1024;
  s.workload.output_length.distribution = LengthDistribution::kFixed;
  s.workload.output_length.value = 200;
  SimulationSummary small = run(s).summary;
  s.workload.max_requests = 2000;
  SimulationSummary large = run(s).summary;
  ASSERT_EQ(small.requests_finished, 500);
  ASSERT_EQ(large.requests_finished, 2000);
  for (const SimulationSummary* m : {&small, &large}) {
    // In flight: at most the arrivals within one (longest) E2E, plus the one arriving.
    EXPECT_GT(m->peak_live_requests, 1);
    EXPECT_LE(m->peak_live_requests, static_cast<int64_t>(20 * m->e2e.max) + 1);
    // One slab entry per request in flight at the peak: slots are recycled.
    EXPECT_EQ(m->live_request_bytes, m->peak_live_requests * static_cast<int64_t>(sizeof(Request)));
    // Four floats (TTFT, TPOT, E2E, queueing) per scored request.
    EXPECT_EQ(m->result_bytes, 16 * m->requests_scored);
  }
  EXPECT_EQ(large.peak_live_requests, small.peak_live_requests);
  EXPECT_EQ(large.live_request_bytes, small.live_request_bytes);
  EXPECT_EQ(large.result_bytes, 4 * small.result_bytes);
}

// Overload is a state, not an abort: a decode pool on small-memory GPUs (L40S, TP4)
// runs out of KV under 200 req/s of long outputs and preempts sequences, some on the very
// step that produced their last token. Such a sequence is finished, not recomputed (it
// was readmitted with nothing left to decode and aborted at RunningSet::admit's check).
// Preemptions and rejections are counted; every request is conserved.
TEST(Simulation, ADecodePoolOutOfKvPreemptsAndFinishesWithoutAborting) {
  Scenario s = load_scenario("tests/fuzz/corpus/decode-kv-exhausted.json");
  for (DecodeRouting routing : {DecodeRouting::kLeastKv, DecodeRouting::kRoundRobin}) {
    s.serving.decode_routing = routing;
    const SimulationResult r = run(s, 3);
    expect_conserved(r, "decode-kv-exhausted");
    EXPECT_GT(r.summary.preemptions, 0);
    EXPECT_GT(r.summary.requests_finished, 0);
  }
}

TEST(Simulation, WeightsThatDoNotFitAreAnInputError) {
  Scenario s = base();
  s.serving.decode.layout = {1, 1, 1, 1};  // 235B parameters on one H20
  try {
    run(s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "serving.decode.layout");
  }
}

}  // namespace
}  // namespace quadrant
