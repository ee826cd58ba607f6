// The simulator held against a logged engine run (issue 11, deliverable 4): the same
// arrivals, lengths, model, GPU, limits and KV capacity replayed through `simulate`, and
// every executed step composition priced by the simulator's step cost.
//
//   EngineRun run = read_run_log("calibration/engine/cases/x");
//   Scenario sc = replay_scenario(load_scenario(".../scenario.json"), run);
//   CaseComparison c = compare_case("x", run, sc, {{"calibrated", cal}, {"roofline", roof}});
//   std::puts(comparison_markdown({c}).c_str());
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "calibration/engine/run_log.h"
#include "sim/engine/simulation.h"
#include "sim/scenario.h"

namespace quadrant::engine {

// The scenario that reproduces a run: one colocated TP1 instance on the run's GPU with
// its limits and KV capacity (serving.colocated.kv_capacity), the workload a trace
// replayed from the run's requests (replay_requests). InputError when the scenario and
// the run disagree on what cannot be replayed (mode, layout, block size).
// A PD pair's run (run.meta.pd_pair): a disaggregated scenario with one TP1 prefill and
// one TP1 decode instance, each with the run's limits and KV capacity, the KV sent after
// the prompt (not layer-wise) over the scenario's cluster links.
Scenario replay_scenario(Scenario scenario, const EngineRun& run);
// The pool whose instance ran a step ("prefill", "decode"; colocated: "").
const PoolSpec& engine_pool(const Scenario& scenario, const std::string& instance);
std::vector<TraceRecord> replay_requests(const EngineRun& run);

// The run's own request metrics, defined as the simulator defines them (RequestMetrics:
// scored after warm-up; one measurement window from warm-up to the last arrival).
// With `records`: every finished or refused request's own figures too (RequestRecord).
SimulationSummary measured_summary(const EngineRun& run, const Scenario& scenario,
                                   std::vector<RequestRecord>* records = nullptr);

struct RelativeError {
  double median = 0;  // of |predicted / measured - 1|
  double p95 = 0;
  double bias = 0;  // median of predicted / measured - 1 (signed: < 0 predicts too fast)
  int count = 0;
};

// A simulated latency percentile against the measured one, and how far sampling alone moves
// that error: its 5th and 95th percentiles over bootstrap resamples of the requests scored in
// both (after warm-up, finished in both; paired by request, its arrival and lengths, so that a
// request slow in both moves both), nearest-rank percentiles as the summaries take them. An
// interval that holds 0: the case's requests cannot tell the error from none.
struct PercentileError {
  double error = 0;          // simulated / measured - 1 over the paired requests
  double low = 0, high = 0;  // its 90% bootstrap interval
  int requests = 0;          // paired requests (TPOT: those of two or more output tokens)
};
struct LatencyErrors {
  PercentileError ttft_p50, ttft_p90, ttft_p99, tpot_p50, tpot_p90, tpot_p99;
};
// The paired errors and intervals of TTFT and TPOT P50 / P90 / P99 (`resamples` draws of a
// stream seeded by `seed`): deterministic.
LatencyErrors paired_latency_errors(const std::vector<RequestRecord>& measured,
                                    const std::vector<RequestRecord>& simulated, double warmup_s,
                                    int resamples = 1000, uint64_t seed = 1);

// Mean milliseconds per step of each term, measured (steps with a breakdown) and
// predicted (the same steps), and the host-side terms the simulator does not model.
struct TermRow {
  std::string term;  // "attention", "ffn", "gemm", "other", "launch", "host gap"
  double measured_ms = 0;
  double predicted_ms = 0;
};

// A term of the decode-only steps that carry a breakdown, predicted / measured, in a band of
// decode counts: a kernel model that fits the profiles but not the engine (or an engine that
// runs otherwise than the profiles: W4A8's uneven routing, README.md) shows as a ratio that
// moves with the batch.
struct DecodeBand {
  int64_t lo = 0, hi = 0;  // decode sequences, inclusive (hi 0: no upper end)
  int steps = 0;
  double median = 0, low = 0, high = 0;  // of predicted / measured over its steps
};

struct ModelComparison {
  std::string model;          // "calibrated", "roofline"
  std::string source;         // the cost model's describe()
  RelativeError step_gpu;     // predicted step vs measured GPU time (CUDA events)
  RelativeError step_period;  // predicted step vs launch-to-launch time (GPU + host)
  RelativeError step_served;  // the same without the eager breakdown steps
  // A PD pair: step_period over each instance's steps, and over the steps that ran alone
  // (no step of the other instance overlapped them) and those that shared the time with one
  // (on one GPU both instances' kernels then share it; on two GPUs nothing is shared).
  RelativeError step_prefill, step_decode, step_alone, step_shared;
  std::vector<double> predicted_ns;  // per step, in the run's order
  // Per step: the predicted attention (prefill + decode, with their projections) and FFN.
  std::vector<double> attention_ns, ffn_ns;
  std::vector<TermRow> terms;
  std::string carrier;  // the term that carries most of the difference
  SimulationSummary simulated;
  LatencyErrors latency;               // paired with the measured requests, with sampling intervals
  std::vector<DecodeBand> decode_ffn;  // FFN, by decode count (bands with steps only)
};

struct CaseComparison {
  std::string name;
  std::string engine;  // run.json's engine
  int64_t steps = 0, breakdown_steps = 0;
  int64_t preemptions = 0, rejected = 0, unfinished = 0;
  SimulationSummary measured;
  std::vector<ModelComparison> models;
  std::vector<double> measured_ns;  // launch to launch, per step
  // A PD pair: how the engine's KV copies went (means over the requests copied, ms).
  bool pd = false;
  std::string placement;
  std::string simulated_placement;  // where the replay puts the pair (one node: NVLink)
  int64_t transfers = 0;
  double kv_wait_ms = 0;      // prefill done -> copy started (decode KV room)
  double kv_copy_ms = 0;      // copy started -> landed (host time on the decode instance)
  double kv_copy_gpu_ms = 0;  // the copy's CUDA-event time
  double ready_ms = 0;        // landed -> first decode token
  int64_t shared_steps = 0;   // steps overlapped by a step of the other instance
};

using NamedCostModel = std::pair<std::string, std::shared_ptr<const CostModel>>;
CaseComparison compare_case(const std::string& name, const EngineRun& run, const Scenario& replay,
                            const std::vector<NamedCostModel>& models);

// Signed relative error of a simulated figure against the measured one.
double relative(double simulated, double measured);

// The comparison tables (Markdown): per case, step-time error, TTFT/TPOT P50/P90/P99
// and throughput real vs simulated with relative errors, and the terms.
std::string comparison_markdown(const std::vector<CaseComparison>& cases);
std::string comparison_json(const std::vector<CaseComparison>& cases);
// Every step's composition, measured and predicted times (one column per model), the
// measured parts of the steps with a breakdown (attention, gemm, ffn, other; empty
// elsewhere) and each model's attention and FFN terms: for finding which compositions,
// and which term, a model gets wrong.
std::string step_errors_csv(const CaseComparison& c, const EngineRun& run);

}  // namespace quadrant::engine
